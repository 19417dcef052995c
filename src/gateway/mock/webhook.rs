//! `/webhooks/mock`: a text "arriving" as JSON, and `/webhooks/mock/status`
//! a receipt, for the demo, tests and scripts. Bearer token (the API's).

use crate::domain::secret::constant_time_eq;
use crate::domain::{NewInbound, Received, ReportedStatus, StatusReport};
use crate::gateway::backend::{BackendError, SharedBackend};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{middleware, Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;

pub fn routes(b: SharedBackend) -> Router<SharedBackend> {
    Router::new()
        .route("/webhooks/mock", post(inbound))
        .route("/webhooks/mock/status", post(status))
        .layer(middleware::from_fn_with_state(b, require_token))
}

/// Refuses every call without the API's bearer token (all calls, when none is configured).
async fn require_token(
    State(b): State<SharedBackend>,
    req: axum::extract::Request,
    next: middleware::Next,
) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match (b.api_token(), given) {
        (Some(want), Some(got)) if constant_time_eq(want.as_bytes(), got.as_bytes()) => {
            next.run(req).await
        }
        _ => {
            tracing::warn!(path = %req.uri().path(), "refused: missing or wrong token");
            (
                StatusCode::UNAUTHORIZED,
                Json(serde_json::json!({"error": "missing or wrong API token"})),
            )
                .into_response()
        }
    }
}

#[derive(Deserialize)]
struct MockInbound {
    /// The gateway's id for the message: a redelivery carries the same.
    id: String,
    from: String,
    text: String,
    received_at: Option<DateTime<Utc>>,
}

async fn inbound(
    State(b): State<SharedBackend>,
    Json(m): Json<MockInbound>,
) -> Result<Json<Received>, BackendError> {
    let sender = b
        .phone(&m.from)
        .map_err(|e| BackendError::new(StatusCode::UNPROCESSABLE_ENTITY, e))?;
    let r = b
        .receive(NewInbound {
            gateway: "mock".into(),
            provider_id: m.id,
            sender,
            text: m.text,
            received_at: m.received_at.unwrap_or_else(|| b.now()),
        })
        .await?;
    Ok(Json(r))
}

#[derive(Deserialize)]
struct MockStatus {
    message_id: i64,
    status: ReportedStatus,
    reason: Option<String>,
}

async fn status(
    State(b): State<SharedBackend>,
    Json(s): Json<MockStatus>,
) -> Result<Json<serde_json::Value>, BackendError> {
    b.status(
        None,
        StatusReport {
            message_id: s.message_id,
            status: s.status,
            reason: s.reason,
            at: b.now(),
            gateway: None,
        },
    )
    .await?;
    Ok(Json(serde_json::json!({ "stored": true })))
}
