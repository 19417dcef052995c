//! `/api/v1`: registrations, corrections, opt-outs and the outbox, as JSON.

mod elsewhere;
mod risk;

use super::form::Query;
use super::{ApiError, AppState};
use crate::services::enrollment::EnrollmentInput;
use crate::store::{OutboxFilter, OutboxListRow, StatusCount};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::middleware;
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
        .route("/women/{id}/export", get(export_woman))
        .route("/women/{id}/erase", post(erase_woman))
        .route("/broadcasts", post(create_broadcast).get(list_broadcasts))
        .route("/broadcasts/preview", post(preview_broadcast))
        .route("/broadcasts/{id}", get(show_broadcast))
        .route("/broadcasts/{id}/publish", post(publish_broadcast))
        .route("/broadcasts/{id}/stop", post(stop_broadcast))
        .route("/outbox", get(outbox))
        .route("/outbox/summary", get(summary))
        .route("/inbox", get(inbox))
        .route("/inbox/{id}/answer", post(answer))
        .route("/women/{id}/conversation", get(conversation))
        .route("/women/{id}/visits", post(visit_done))
        .route("/women/{id}/consent", post(consent))
        .route("/women/{id}/birth", post(birth))
        .route("/women/{id}/risk", post(risk::grade).get(risk::risk_of))
        .route("/women/{id}/case-manager", post(risk::case_manager))
        .route(
            "/women/{id}/delivery-hospital",
            post(risk::delivery_hospital),
        )
        .route("/women/{id}/referrals", post(risk::refer))
        .route("/referrals/{id}/follow-up", post(risk::follow_up))
        .route("/women/{id}/visits/missed", post(visit_missed))
        .route("/women/{id}/move", post(elsewhere::move_woman))
        .route(
            "/women/{id}/transfer-summary",
            get(elsewhere::transfer_summary),
        )
        .route("/transfers", post(elsewhere::import_transfer))
        .route("/exports", get(elsewhere::share_export))
        .route("/registers/{kind}", post(elsewhere::import_register))
        .route("/registers/waiting", get(elsewhere::waiting_rows))
        .route("/registers/waiting/{id}", post(elsewhere::decide_row))
        .route("/digests", get(digests))
        .route("/worklist", get(worklist))
        .route("/reports/indicators", get(indicators))
        .route("/reports/quarterly", get(quarterly))
        .route("/reports/coverage", get(coverage))
        .route("/women", get(list_women))
        .route("/women/{id}", get(get_woman))
        .route("/campaigns", get(list_campaigns))
        .route(
            "/campaigns/{campaign}/steps/{step}/wechat",
            axum::routing::put(set_wechat_variant).delete(remove_wechat_variant),
        )
        .route(
            "/campaigns/{campaign}/steps/{step}/sms-templates/{provider}",
            axum::routing::put(set_sms_template).delete(remove_sms_template),
        )
        .layer(middleware::from_fn_with_state(app, super::require_token))
        .layer(middleware::map_response(json_errors))
}

/// One error shape for every refusal: axum's own rejections (a body that
/// is not JSON, a missing field, a bad query, the wrong content type, too
/// large) come as plain text; they leave as `{"error": "...", "code": "..."}`
/// like ours.
async fn json_errors(res: Response) -> Response {
    let is_json = res
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(res.status().is_client_error() || res.status().is_server_error()) || is_json {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        parts
            .status
            .canonical_reason()
            .unwrap_or("refused")
            .to_lowercase()
    } else {
        text
    };
    let code = match parts.status.as_u16() {
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        409 => "conflict",
        503 => "not_yet",
        500..=599 => "internal",
        _ => "input",
    };
    let mut out = (
        parts.status,
        Json(serde_json::json!({ "error": message, "code": code })),
    )
        .into_response();
    for (k, v) in parts.headers.iter() {
        if k != axum::http::header::CONTENT_TYPE && k != axum::http::header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}

async fn enroll(
    State(app): State<AppState>,
    Json(input): Json<EnrollmentInput>,
) -> Result<Response, ApiError> {
    let out = app.care.enroll(&input, "api", "api").await?;
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
        .care
        .correct_dates(id, b.lmp.as_deref(), b.edd.as_deref(), "api")
        .await?;
    Ok(Json(d).into_response())
}

async fn end(State(app): State<AppState>, Path(id): Path<i64>) -> Result<Response, ApiError> {
    let n = app.care.end_pregnancy(id, "api").await?;
    Ok(Json(serde_json::json!({ "cancelled": n })).into_response())
}

async fn opt_out(State(app): State<AppState>, Path(id): Path<i64>) -> Result<Response, ApiError> {
    let n = app
        .consents
        .opt_out(id, crate::services::consent::Via::Api, "api")
        .await?
        .unwrap_or(0);
    Ok(Json(serde_json::json!({ "cancelled": n })).into_response())
}

async fn export_woman(
    State(app): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    Ok(Json(app.care.export_woman(id, "api").await?).into_response())
}

async fn erase_woman(
    State(app): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    Ok(Json(app.care.erase_woman(id, "api").await?).into_response())
}

async fn preview_broadcast(
    State(app): State<AppState>,
    Json(b): Json<crate::services::broadcasts::NewBroadcast>,
) -> Result<Response, ApiError> {
    Ok(Json(app.broadcasts.preview(&b).await?).into_response())
}

async fn create_broadcast(
    State(app): State<AppState>,
    Json(b): Json<crate::services::broadcasts::NewBroadcast>,
) -> Result<Response, ApiError> {
    let (id, preview) = app.broadcasts.create(&b, "api").await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "id": id, "status": "draft", "preview": preview })),
    )
        .into_response())
}

async fn list_broadcasts(State(app): State<AppState>) -> Result<Response, ApiError> {
    Ok(Json(
        app.store
            .broadcasts()
            .await
            .map_err(crate::services::AppError::from)?,
    )
    .into_response())
}

async fn show_broadcast(
    State(app): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    Ok(Json(app.broadcasts.view(id).await?).into_response())
}

async fn publish_broadcast(
    State(app): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let n = app.broadcasts.publish(id, "api").await?;
    Ok(Json(serde_json::json!({ "planned": n })).into_response())
}

async fn stop_broadcast(
    State(app): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let n = app.broadcasts.stop(id, "api").await?;
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
    Ok(Json(app.store.status_counts(None).await?))
}

#[derive(Deserialize)]
struct InboxQuery {
    officer: Option<String>,
    #[serde(default)]
    unknown: bool,
}

async fn inbox(
    State(app): State<AppState>,
    Query(q): Query<InboxQuery>,
) -> Result<Json<Vec<crate::store::InboundRow>>, ApiError> {
    Ok(Json(
        app.store.inbox(q.officer.as_deref(), q.unknown).await?,
    ))
}

#[derive(Deserialize)]
struct AnswerBody {
    text: String,
    /// Staff code of who answers, or "admin".
    by: String,
}

async fn answer(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    Json(b): Json<AnswerBody>,
) -> Result<Response, ApiError> {
    app.inbound.answer(id, &b.text, &b.by).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "answered": id })),
    )
        .into_response())
}

async fn conversation(
    State(app): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Vec<crate::store::ConversationItem>>, ApiError> {
    app.store.woman(id).await?;
    Ok(Json(app.store.conversation(id).await?))
}

#[derive(Deserialize)]
struct VisitBody {
    contact: Option<String>,
    on: Option<String>,
    by: String,
    place: Option<String>,
    note: Option<String>,
}

async fn visit_done(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    Json(b): Json<VisitBody>,
) -> Result<Response, ApiError> {
    let n = app
        .care
        .record_visit(
            id,
            b.contact.as_deref(),
            b.on.as_deref(),
            &b.by,
            b.place.as_deref(),
            b.note.as_deref(),
        )
        .await?;
    Ok(Json(serde_json::json!({ "silenced": n })).into_response())
}

#[derive(Deserialize)]
struct ConsentBody {
    how: String,
}

async fn consent(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    Json(b): Json<ConsentBody>,
) -> Result<Response, ApiError> {
    app.consents.give(id, &b.how, "api").await?;
    Ok(Json(serde_json::json!({ "consent": true })).into_response())
}

async fn birth(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    Json(b): Json<crate::services::care::BirthInput>,
) -> Result<Response, ApiError> {
    let n = app.care.record_birth(id, &b, "api").await?;
    Ok(Json(serde_json::json!({ "cancelled": n })).into_response())
}

#[derive(Deserialize)]
struct MissedBody {
    contact: Option<String>,
    by: String,
}

async fn visit_missed(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    Json(b): Json<MissedBody>,
) -> Result<Response, ApiError> {
    let n = app
        .care
        .mark_missed(id, b.contact.as_deref(), &b.by)
        .await?;
    Ok(Json(serde_json::json!({ "cancelled": n })).into_response())
}

/// A report's period and part of the county: a quarter, a reporting year
/// or days; a township, village or officer. Empty values are not given.
#[derive(Deserialize)]
struct ReportQuery {
    quarter: Option<String>,
    year: Option<String>,
    from: Option<String>,
    to: Option<String>,
    township: Option<String>,
    village: Option<String>,
    officer: Option<String>,
    /// "area" (default) or "officer".
    by: Option<String>,
    /// quarterly: "json" (default), "csv" or "xlsx".
    format: Option<String>,
    /// Headings of a CSV or workbook: "zh-CN" (default) or "en".
    lang: Option<String>,
}

impl ReportQuery {
    fn period(&self, app: &AppState) -> Result<crate::domain::Period, ApiError> {
        Ok(crate::domain::Period::parse(
            self.quarter.as_deref(),
            self.year.as_deref(),
            self.from.as_deref(),
            self.to.as_deref(),
            app.reports.today(),
            crate::domain::Period::quarter_of,
        )
        .map_err(crate::services::AppError::from)?)
    }

    fn scope(&self) -> crate::services::reports::Scope {
        crate::services::reports::Scope::new(
            self.township.as_deref(),
            self.village.as_deref(),
            self.officer.as_deref(),
        )
    }

    fn by_officer(&self) -> Result<bool, ApiError> {
        match self.by.as_deref().map(str::trim) {
            None | Some("") | Some("area") => Ok(false),
            Some("officer") => Ok(true),
            Some(other) => Err(bad_request(format!(
                "by: {other:?} is neither area nor officer"
            ))),
        }
    }

    fn lang(&self) -> Result<&'static str, ApiError> {
        match self.lang.as_deref().map(str::trim) {
            None | Some("") | Some("zh-CN") => Ok("zh-CN"),
            Some("en") => Ok("en"),
            Some(other) => Err(bad_request(format!(
                "lang: {other:?} is neither zh-CN nor en"
            ))),
        }
    }
}

fn bad_request(msg: String) -> ApiError {
    crate::services::AppError::Period(crate::domain::PeriodError::Other(msg)).into()
}

async fn indicators(
    State(app): State<AppState>,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let period = q.period(&app)?;
    let report = if q.by_officer()? {
        app.reports
            .indicators_by_officer(period, &q.scope())
            .await?
    } else {
        app.reports.indicators(period, &q.scope()).await?
    };
    Ok(Json(report.rows).into_response())
}

async fn quarterly(
    State(app): State<AppState>,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let period = q.period(&app)?;
    let lang = q.lang()?;
    let table = app
        .reports
        .quarterly(period, &q.scope(), q.by_officer()?)
        .await?;
    let name = format!("maternal-care-{}", table.period.code());
    Ok(match q.format.as_deref().map(str::trim) {
        None | Some("") | Some("json") => Json(table).into_response(),
        Some("csv") => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}.csv\""),
                ),
            ],
            table.to_csv(lang),
        )
            .into_response(),
        Some("xlsx") => (
            [
                (
                    header::CONTENT_TYPE,
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string(),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}.xlsx\""),
                ),
            ],
            table.to_xlsx(lang)?,
        )
            .into_response(),
        Some(other) => {
            return Err(bad_request(format!(
                "format: {other:?} is not json, csv or xlsx"
            )))
        }
    })
}

#[derive(Deserialize)]
struct WorklistQuery {
    officer: Option<String>,
}

async fn worklist(
    State(app): State<AppState>,
    Query(q): Query<WorklistQuery>,
) -> Result<Response, ApiError> {
    let items = app
        .jobs
        .worklist(app.clock.now(), q.officer.as_deref())
        .await?;
    Ok(Json(items).into_response())
}

async fn digests(
    State(app): State<AppState>,
) -> Result<Json<Vec<crate::services::jobs::Digest>>, ApiError> {
    Ok(Json(app.jobs.digests(app.clock.now()).await?))
}

#[derive(Deserialize)]
struct CoverageQuery {
    from: String,
    to: String,
}

async fn coverage(
    State(app): State<AppState>,
    Query(q): Query<CoverageQuery>,
) -> Result<Json<Vec<crate::store::Coverage>>, ApiError> {
    let day = |field: &'static str, s: &str| {
        crate::domain::dates::parse_date(s).ok_or(
            crate::services::enrollment::InputError::BadDate {
                field,
                value: s.to_string(),
            },
        )
    };
    let (from, to) = (day("from", &q.from)?, day("to", &q.to)?);
    Ok(Json(app.jobs.coverage(from, to, app.clock.now()).await?))
}

async fn set_wechat_variant(
    State(app): State<AppState>,
    Path((campaign, step)): Path<(String, String)>,
    Json(v): Json<crate::store::WechatVariant>,
) -> Result<Json<serde_json::Value>, ApiError> {
    app.wechat
        .set_variant(&campaign, &step, Some(v), "api")
        .await?;
    Ok(Json(serde_json::json!({ "saved": true })))
}

async fn remove_wechat_variant(
    State(app): State<AppState>,
    Path((campaign, step)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    app.wechat
        .set_variant(&campaign, &step, None, "api")
        .await?;
    Ok(Json(serde_json::json!({ "removed": true })))
}

async fn set_sms_template(
    State(app): State<AppState>,
    Path((campaign, step, provider)): Path<(String, String, String)>,
    Json(v): Json<crate::render::SmsVariant>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let provider = parse_provider(&provider)?;
    let sample = app
        .sms_templates
        .set(&campaign, &step, provider, Some(v), "api")
        .await?;
    Ok(Json(serde_json::json!({ "saved": true, "sample": sample })))
}

async fn remove_sms_template(
    State(app): State<AppState>,
    Path((campaign, step, provider)): Path<(String, String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let provider = parse_provider(&provider)?;
    app.sms_templates
        .set(&campaign, &step, provider, None, "api")
        .await?;
    Ok(Json(serde_json::json!({ "removed": true })))
}

fn parse_provider(s: &str) -> Result<crate::domain::GatewayKind, ApiError> {
    s.parse().map_err(|e: crate::domain::UnknownValue| {
        crate::services::AppError::Refused(e.to_string()).into()
    })
}

#[derive(Deserialize)]
struct WomenQuery {
    #[serde(default)]
    q: String,
    limit: Option<i64>,
}

/// Women matching a name, the last digits of a phone or a village.
async fn list_women(
    State(app): State<AppState>,
    Query(q): Query<WomenQuery>,
) -> Result<Json<Vec<crate::store::WomanListRow>>, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let filter = crate::store::WomenFilter {
        q: q.q.clone(),
        ..Default::default()
    };
    Ok(Json(
        app.store
            .search_women(&crate::store::Area::All, &filter, limit, 0)
            .await?
            .0,
    ))
}

/// One woman with her pregnancies.
async fn get_woman(
    State(app): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let w = app.store.woman(id).await?;
    let pregnancies = app.store.pregnancies_of(id).await?;
    Ok(Json(serde_json::json!({
        "id": w.id, "name": w.name, "phone": w.phone, "language": w.language,
        "village": w.village, "officer_code": w.officer_code,
        "consent": w.consent_at.is_some(), "opted_out": w.opted_out_at.is_some(),
        "wechat_bound": w.wechat_openid.is_some() && w.wechat_unfollowed_at.is_none(),
        "pregnancies": pregnancies,
    })))
}

async fn list_campaigns(State(app): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let rows: Vec<serde_json::Value> = app
        .store
        .campaigns()
        .await?
        .into_iter()
        .map(|(key, name, status, outreach, steps)| {
            serde_json::json!({"key": key, "name": name, "status": status, "outreach": outreach, "steps": steps})
        })
        .collect();
    Ok(Json(serde_json::Value::Array(rows)))
}

/// Who acts, as the care-team rules read it: a staff code, or the
/// county's administrator (the API's default).
pub(super) fn actor(by: &Option<String>) -> String {
    by.as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .unwrap_or(crate::services::access::CLI_ADMIN)
        .to_string()
}
