//! HTTP: `/healthz`, a small status page at `/`, and the JSON API under
//! `/api/v1` (bearer token). Each resource module exposes a `router()`.

mod api;
mod status;

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
        .nest("/api/v1", api::router(app.clone()))
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
