//! Records that arrive from elsewhere and records that leave (issue 33):
//! a woman who moves (within the county, or away with her referral
//! summary), a summary imported from another county, hospitals' and
//! clinics' registers with their to-match list, and the sharing export.

use super::actor;
use crate::web::form::Query;
use crate::web::{ApiError, AppState};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

pub(super) async fn move_woman(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    Json(b): Json<crate::services::moves::MoveInput>,
) -> Result<Response, ApiError> {
    let by =
        b.by.clone()
            .unwrap_or_else(|| crate::services::moves::API.into());
    Ok(Json(app.moves.record(id, &b, &by).await?).into_response())
}

pub(super) async fn transfer_summary(
    State(app): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    Ok(Json(app.moves.summary(id, "api").await?).into_response())
}

#[derive(Deserialize)]
pub(super) struct TransferQuery {
    village: Option<String>,
    officer: Option<String>,
}

/// The body is read as bytes, so that a truncated or damaged summary is
/// refused with our reason, not the framework's.
pub(super) async fn import_transfer(
    State(app): State<AppState>,
    Query(q): Query<TransferQuery>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let out = app
        .moves
        .import(&body, q.village.as_deref(), q.officer.as_deref(), "api")
        .await?;
    let status = if out.unchanged {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(out)).into_response())
}

#[derive(Deserialize)]
pub(super) struct ExportQuery {
    from: String,
    to: String,
    kind: String,
    format: Option<String>,
}

/// One file of the sharing export for `[from, to]` (days inclusive):
/// births, registrations or moves, as CSV (default) or xlsx; audited.
pub(super) async fn share_export(
    State(app): State<AppState>,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    let day = |field: &'static str, v: &str| {
        crate::domain::dates::parse_date(v).ok_or(
            crate::services::enrollment::InputError::BadDate {
                field,
                value: v.to_string(),
            },
        )
    };
    let from = day("from", &q.from).map_err(crate::services::AppError::from)?;
    let to = day("to", &q.to).map_err(crate::services::AppError::from)?;
    let xlsx = match q.format.as_deref() {
        None | Some("csv") => false,
        Some("xlsx") => true,
        Some(f) => {
            return Err(crate::services::AppError::Refused(format!(
                "format: {f:?} is neither csv nor xlsx"
            ))
            .into())
        }
    };
    let files = crate::services::sharing::export(
        &app.store,
        &app.config,
        from,
        to.succ_opt().unwrap_or(to),
        Some(&q.kind),
        "api",
        app.clock.now(),
    )
    .await?;
    let ext = if xlsx { ".xlsx" } else { ".csv" };
    let f = files
        .into_iter()
        .find(|f| f.name.ends_with(ext))
        .ok_or_else(|| crate::services::AppError::Refused("nothing to export".into()))?;
    let ctype = if xlsx {
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    } else {
        "text/csv; charset=utf-8"
    };
    Ok((
        [
            (header::CONTENT_TYPE, ctype.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", f.name),
            ),
        ],
        f.bytes,
    )
        .into_response())
}

#[derive(Deserialize)]
pub(super) struct RegisterQuery {
    /// The file's name, for the list and the audit log.
    source: Option<String>,
    by: Option<String>,
}

/// A register file as the body (xlsx, xls or CSV bytes): `kind` is
/// `deliveries` or `checkups`.
pub(super) async fn import_register(
    State(app): State<AppState>,
    Path(kind): Path<String>,
    Query(q): Query<RegisterQuery>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    use crate::services::registers;
    let kind = registers::Kind::parse(&kind).ok_or_else(|| {
        crate::services::AppError::Refused(format!("{kind:?}: deliveries or checkups"))
    })?;
    let source = q.source.unwrap_or_else(|| "api".into());
    let report = registers::import(
        &app.care,
        kind,
        std::io::Cursor::new(body.to_vec()),
        &source,
        &actor(&q.by),
    )
    .await
    .map_err(|e| match e {
        crate::services::importer::ImportError::App(e) => ApiError::from(e),
        other => ApiError::from(crate::services::AppError::Refused(other.to_string())),
    })?;
    Ok(Json(report).into_response())
}

pub(super) async fn waiting_rows(
    State(app): State<AppState>,
) -> Result<Json<Vec<crate::store::RegisterRow>>, ApiError> {
    Ok(Json(crate::services::registers::waiting(&app.care).await?))
}

#[derive(Deserialize)]
pub(super) struct DecideBody {
    #[serde(flatten)]
    decision: crate::services::registers::Decision,
    reason: String,
    by: Option<String>,
}

pub(super) async fn decide_row(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    Json(b): Json<DecideBody>,
) -> Result<Response, ApiError> {
    let d =
        crate::services::registers::decide(&app.care, id, &b.decision, &b.reason, &actor(&b.by))
            .await?;
    Ok(Json(d).into_response())
}
