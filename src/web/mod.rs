//! HTTP: `/healthz`, a small status page at `/`, and the JSON API under
//! `/api/v1` (bearer token). Each resource module exposes a `router()`.

mod api;
mod cht;
mod status;
mod webhooks;

use crate::app::{App, AppError};
use crate::store::StoreError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;

pub type AppState = Arc<App>;

pub fn router(app: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .merge(status::router())
        .merge(cht::router())
        .nest("/api/v1", api::router(app.clone()))
        .nest("/webhooks", webhooks::router(app.clone()))
        .layer(axum::extract::DefaultBodyLimit::max(1 << 20))
        .with_state(app)
}

async fn healthz(axum::extract::State(app): axum::extract::State<AppState>) -> Response {
    match app.store.ping().await {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}

/// Refuses every call without the configured bearer token (all calls, when none is configured).
pub(crate) async fn require_token(
    axum::extract::State(app): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let given = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match (&app.config.api_token, given) {
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

/// Compares secrets without leaking where they differ through timing.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The one place errors become HTTP answers: the client gets a clear reason
/// for its own mistakes and nothing of our internals.
pub struct ApiError(pub AppError);

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, msg) = match &self.0 {
            AppError::Input(e) => (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
            AppError::Refused(m) => (StatusCode::UNPROCESSABLE_ENTITY, m.clone()),
            AppError::Store(StoreError::NotFound(what)) => {
                (StatusCode::NOT_FOUND, format!("{what} not found"))
            }
            AppError::Store(StoreError::Conflict(m)) => (StatusCode::CONFLICT, m.clone()),
            other => {
                tracing::error!(error = %other, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error".to_string(),
                )
            }
        };
        (status, Json(serde_json::json!({ "error": msg }))).into_response()
    }
}
