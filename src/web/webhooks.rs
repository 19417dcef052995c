//! Gateway webhooks. The mock gateway's: a text "arriving" as JSON, for the
//! demo, tests and scripts (bearer token, like the API). Real gateways'
//! signed webhooks join this module.

use super::{ApiError, AppState};
use crate::store::NewInbound;
use axum::extract::State;
use axum::routing::post;
use axum::{middleware, Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;

pub fn router(app: AppState) -> Router<AppState> {
    Router::new()
        .route("/mock", post(mock_inbound))
        .layer(middleware::from_fn_with_state(app, super::require_token))
}

#[derive(Deserialize)]
struct MockInbound {
    /// The gateway's id for the message: a redelivery carries the same.
    id: String,
    from: String,
    text: String,
    received_at: Option<DateTime<Utc>>,
}

async fn mock_inbound(
    State(app): State<AppState>,
    Json(m): Json<MockInbound>,
) -> Result<Json<crate::inbound::Received>, ApiError> {
    let sender = crate::domain::Phone::parse(&m.from, app.config.region())
        .map_err(crate::enrollment::InputError::from)?;
    let r = app
        .receive(NewInbound {
            gateway: "mock".into(),
            provider_id: m.id,
            sender: sender.as_str().to_string(),
            text: m.text,
            received_at: m.received_at.unwrap_or_else(|| app.clock.now()),
        })
        .await?;
    Ok(Json(r))
}
