//! `/api/v1`: registrations, corrections, opt-outs and the outbox, as JSON.

use super::{ApiError, AppState};
use crate::enrollment::EnrollmentInput;
use crate::store::{OutboxFilter, OutboxListRow, StatusCount};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

pub fn router(app: AppState) -> Router<AppState> {
    Router::new()
        .route("/enrollments", post(enroll))
        .route("/pregnancies/{id}/dates", post(correct))
        .route("/pregnancies/{id}/end", post(end))
        .route("/women/{id}/opt-out", post(opt_out))
        .route("/outbox", get(outbox))
        .route("/outbox/summary", get(summary))
        .layer(middleware::from_fn_with_state(app, require_token))
}

/// Refuses every call without the configured bearer token (all calls, when none is configured).
async fn require_token(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match (&app.config.api_token, given) {
        (Some(want), Some(got)) if constant_time_eq(want.as_bytes(), got.as_bytes()) => {
            next.run(req).await
        }
        _ => (
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({"error": "missing or wrong API token"})),
        )
            .into_response(),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn enroll(
    State(app): State<AppState>,
    Json(input): Json<EnrollmentInput>,
) -> Result<Response, ApiError> {
    let out = app.enroll(&input, "api", "api").await?;
    let status = match out {
        crate::store::EnrollOutcome::Created { .. } => StatusCode::CREATED,
        _ => StatusCode::OK,
    };
    Ok((status, Json(out)).into_response())
}

#[derive(Deserialize)]
struct DatesBody {
    lmp: Option<String>,
    edd: Option<String>,
}

async fn correct(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    Json(b): Json<DatesBody>,
) -> Result<Response, ApiError> {
    let d = app
        .correct_dates(id, b.lmp.as_deref(), b.edd.as_deref(), "api")
        .await?;
    Ok(Json(d).into_response())
}

async fn end(State(app): State<AppState>, Path(id): Path<i64>) -> Result<Response, ApiError> {
    let n = app.end_pregnancy(id, "api").await?;
    Ok(Json(serde_json::json!({ "cancelled": n })).into_response())
}

async fn opt_out(State(app): State<AppState>, Path(id): Path<i64>) -> Result<Response, ApiError> {
    let n = app.opt_out(id, "api").await?;
    Ok(Json(serde_json::json!({ "cancelled": n })).into_response())
}

#[derive(Deserialize)]
struct OutboxQuery {
    status: Option<String>,
    woman_id: Option<i64>,
    limit: Option<i64>,
}

async fn outbox(
    State(app): State<AppState>,
    Query(q): Query<OutboxQuery>,
) -> Result<Json<Vec<OutboxListRow>>, ApiError> {
    let rows = app
        .store
        .list_outbox(&OutboxFilter {
            status: q.status,
            woman_id: q.woman_id,
            from: None,
            limit: q.limit.unwrap_or(100).clamp(1, 1000),
        })
        .await?;
    Ok(Json(rows))
}

async fn summary(State(app): State<AppState>) -> Result<Json<Vec<StatusCount>>, ApiError> {
    Ok(Json(app.store.status_counts().await?))
}
