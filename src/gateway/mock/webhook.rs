//! `/webhooks/mock`: a text "arriving" as JSON, and `/webhooks/mock/status`
//! a receipt, for the demo, tests and scripts. Bearer token (the API's).

use crate::domain::{NewInbound, Received, ReportedStatus, StatusReport};
use crate::gateway::backend::{BackendError, SharedBackend};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
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
    crate::gateway::hooks::bearer_gate(b.api_token(), req, next).await
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
