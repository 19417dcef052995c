//! Risk grading and case management over the API (issue 32): grade her,
//! read her grade and history, name her case manager and delivery
//! hospital, refer her and record the referral's result. Each acts as
//! `by` (a staff code; the county's administrator when none) under the
//! care-team rules of `services::risk`.

use super::actor;
use crate::web::form::Query;
use crate::web::{ApiError, AppState};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

#[derive(Deserialize)]
pub(super) struct GradeBody {
    #[serde(flatten)]
    grade: crate::services::risk::GradeInput,
    by: Option<String>,
}

pub(super) async fn grade(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    Json(b): Json<GradeBody>,
) -> Result<Response, ApiError> {
    let s = app.risk.grade(id, &b.grade, "api", &actor(&b.by)).await?;
    Ok(Json(s).into_response())
}

#[derive(Deserialize)]
pub(super) struct ByQuery {
    by: Option<String>,
}

pub(super) async fn risk_of(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<ByQuery>,
) -> Result<Response, ApiError> {
    let by = actor(&q.by);
    let state = app.risk.state(id, &by).await?;
    let history = app.risk.history(id, &by).await?;
    let referrals = app.risk.referrals(id, &by).await?;
    Ok(Json(serde_json::json!({
        "state": state, "history": history, "referrals": referrals,
    }))
    .into_response())
}

#[derive(Deserialize)]
pub(super) struct ManagerBody {
    code: String,
    by: Option<String>,
}

pub(super) async fn case_manager(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    Json(b): Json<ManagerBody>,
) -> Result<Response, ApiError> {
    app.risk
        .assign_case_manager(id, &b.code, &actor(&b.by))
        .await?;
    Ok(Json(serde_json::json!({ "case_manager": b.code.trim() })).into_response())
}

#[derive(Deserialize)]
pub(super) struct HospitalBody {
    name: String,
    by: Option<String>,
}

pub(super) async fn delivery_hospital(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    Json(b): Json<HospitalBody>,
) -> Result<Response, ApiError> {
    app.risk
        .choose_delivery_hospital(id, &b.name, &actor(&b.by))
        .await?;
    Ok(Json(serde_json::json!({ "delivery_hospital": b.name.trim() })).into_response())
}

#[derive(Deserialize)]
pub(super) struct ReferBody {
    to: String,
    on: Option<String>,
    reason: Option<String>,
    by: Option<String>,
}

pub(super) async fn refer(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    Json(b): Json<ReferBody>,
) -> Result<Response, ApiError> {
    let referral = app
        .risk
        .refer(
            id,
            &b.to,
            b.on.as_deref(),
            b.reason.as_deref(),
            &actor(&b.by),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "referral_id": referral })),
    )
        .into_response())
}

#[derive(Deserialize)]
pub(super) struct FollowUpBody {
    result: String,
    on: Option<String>,
    by: Option<String>,
}

pub(super) async fn follow_up(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    Json(b): Json<FollowUpBody>,
) -> Result<Response, ApiError> {
    let r = app
        .risk
        .follow_up(id, &b.result, b.on.as_deref(), &actor(&b.by))
        .await?;
    Ok(Json(r).into_response())
}
