//! The console's pages. Each handler takes the signed-in person and asks
//! the store for what her area holds; administrators' pages refuse others.

use super::{error_page, page, Signed};
use crate::store::{MessageLogFilter, WechatVariant};
use crate::web::form::{Form, Query};
use crate::web::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{Duration, NaiveDate, TimeZone, Utc};
use serde::Deserialize;
use tera::Context;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard))
        .route("/women", get(women))
        .route("/women.csv", get(women_csv))
        .route("/women/{id}", get(woman))
        .route("/worklist", get(worklist))
        .route("/worklist/print", get(worklist_print))
        .route("/inbox/{id}/answer", post(answer))
        .route("/messages", get(messages))
        .route("/messages.csv", get(messages_list_csv))
        .route("/messages/{id}", get(message))
        .route("/campaigns", get(campaigns))
        .route("/campaigns/{key}", get(campaign))
        .route("/campaigns/{key}/status", post(campaign_status))
        .route("/campaigns/{key}/steps/{step}/text", post(save_text))
        .route("/campaigns/{key}/steps/{step}/versions", get(versions))
        .route("/preview", post(preview))
        .route("/audit", get(audit))
        .route("/audit.csv", get(audit_csv))
        .route("/charts/messages.svg", get(messages_svg))
        .route("/charts/messages.csv", get(messages_csv))
        .route("/charts/visits.svg", get(visits_svg))
        .route("/charts/visits.csv", get(visits_csv))
        .route("/charts/opt-outs.svg", get(opt_outs_svg))
        .route("/charts/opt-outs.csv", get(opt_outs_csv))
}

pub(super) type Page = Result<Response, Response>;

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "console page failed");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
}

pub(super) fn admin_only(s: &Signed) -> Result<(), Response> {
    if s.is_admin() {
        Ok(())
    } else {
        Err(error_page(s, StatusCode::FORBIDDEN, "administrators only"))
    }
}

pub(super) fn not_found(s: &Signed) -> Response {
    error_page(s, StatusCode::NOT_FOUND, "not found")
}

fn local_day_offset(app: &AppState) -> i64 {
    let now = app.clock.now();
    now.with_timezone(&app.config.timezone)
        .offset()
        .fix()
        .local_minus_utc() as i64
}

use chrono::Offset;

/// The last 14 local days, each with its counts (zero when none).
async fn fourteen_days(
    app: &AppState,
    s: &Signed,
) -> Result<Vec<crate::store::DayCounts>, Response> {
    let tz = app.config.timezone;
    let today = app.clock.now().with_timezone(&tz).date_naive();
    let first = today - Duration::days(13);
    let from = crate::domain::schedule::start_of_day(tz, first);
    let counts = app
        .store
        .daily_counts(&s.area, from, local_day_offset(app))
        .await
        .map_err(internal)?;
    Ok((0..14)
        .map(|i| {
            let day = first + Duration::days(i);
            counts
                .iter()
                .find(|c| c.day == day)
                .cloned()
                .unwrap_or(crate::store::DayCounts {
                    day,
                    sent: 0,
                    delivered: 0,
                    failed: 0,
                })
        })
        .collect())
}

fn overdue_cutoff(app: &AppState) -> NaiveDate {
    let tz = app.config.timezone;
    app.clock.now().with_timezone(&tz).date_naive()
        - Duration::days(app.config.jobs.overdue_grace_days)
}

async fn dashboard(State(app): State<AppState>, s: Signed) -> Page {
    let counts = app.store.status_counts(None).await.map_err(internal)?;
    let mut ctx = Context::new();
    if s.is_admin() {
        ctx.insert("counts", &counts);
    }
    ctx.insert("days", &fourteen_days(&app, &s).await?);
    Ok(page(&s, "dashboard.html", ctx))
}

fn svg_response(svg: String) -> Response {
    ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response()
}

/// A CSV download: UTF-8 with a byte-order mark, so that Excel on a
/// Chinese Windows reads village names instead of mojibake.
/// A CSV download from a finished writer.
fn csv_download(name: &str, w: csv::Writer<Vec<u8>>) -> Page {
    let bytes = w.into_inner().map_err(|e| internal(e.to_string()))?;
    let body = String::from_utf8(bytes).map_err(|e| internal(e.to_string()))?;
    Ok(csv_response(name, body))
}

/// A CSV download, with one byte-order mark (so Excel on Chinese Windows
/// reads it as UTF-8) whether or not the body brought its own.
pub(super) fn csv_response(name: &str, body: String) -> Response {
    let body = if body.starts_with('\u{feff}') {
        body
    } else {
        format!("\u{feff}{body}")
    };
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

async fn messages_svg(State(app): State<AppState>, s: Signed) -> Page {
    let days = fourteen_days(&app, &s).await?;
    let labels = days
        .iter()
        .map(|d| d.day.format("%m-%d").to_string())
        .collect();
    let w = |k| super::word(s.lang(), k);
    bar_chart(
        s.lang(),
        &days,
        labels,
        &[
            (w("msg_sent"), |d| d.sent),
            (w("msg_delivered"), |d| d.delivered),
            (w("msg_failed"), |d| d.failed),
        ],
    )
}

/// A chart with nothing to show yet: says so, in the reader's language.
fn empty_chart(lang: &str) -> String {
    format!(
        r##"<svg width="480" height="120" viewBox="0 0 480 120" xmlns="http://www.w3.org/2000/svg"><rect x="0" y="0" width="480" height="120" fill="#FFFFFF"/><text x="240" y="66" font-size="24" text-anchor="middle" fill="#5d6b7a">{}</text></svg>"##,
        super::word(lang, "nothing_yet")
    )
}

/// A y axis for counts: from 0, five steps of a whole number each (0 to
/// 5 when there is nothing yet), so no tick reads 0.4 of a message.
fn count_axis(y: &mut charts_rs::YAxisConfig, max: i64) {
    let step = ((max.max(1) + 4) / 5).max(1);
    y.axis_min = Some(0.0);
    y.axis_max = Some((step * 5) as f32);
    y.axis_split_number = 5;
    y.axis_formatter = Some("{t}".into());
}

/// Text large enough to read when the chart is shrunk to a phone's width.
fn legible(x_axis: &mut f32, legend: &mut f32, y_axis: &mut f32) {
    *x_axis = 14.0;
    *legend = 16.0;
    *y_axis = 14.0;
}

/// A chart series: its name and how to read it from a row.
pub(super) type SeriesOf<T> = (&'static str, fn(&T) -> i64);

/// A bar chart (SVG) of `rows`, one bar per series and row.
pub(super) fn bar_chart<T>(
    lang: &str,
    rows: &[T],
    labels: Vec<String>,
    series: &[SeriesOf<T>],
) -> Page {
    let nothing = series.iter().all(|(_, f)| rows.iter().all(|r| f(r) == 0));
    if nothing {
        return Ok(svg_response(empty_chart(lang)));
    }
    let mut chart = charts_rs::BarChart::new(
        series
            .iter()
            .map(|(name, f)| {
                charts_rs::Series::new(name.to_string(), rows.iter().map(|r| f(r) as f32).collect())
            })
            .collect(),
        labels,
    );
    chart.width = 480.0;
    chart.height = 260.0;
    // The legend is the page's (the library measures Chinese text as
    // narrower than it draws it, so its legends overlap).
    chart.legend_show = Some(false);
    let top = series
        .iter()
        .flat_map(|(_, f)| rows.iter().map(f))
        .max()
        .unwrap_or(0);
    count_axis(&mut chart.y_axis_configs[0], top);
    legible(
        &mut chart.x_axis_font_size,
        &mut chart.legend_font_size,
        &mut chart.y_axis_configs[0].axis_font_size,
    );
    Ok(svg_response(
        chart.svg().map_err(|e| internal(format!("{e:?}")))?,
    ))
}

async fn messages_csv(State(app): State<AppState>, s: Signed) -> Page {
    let mut out = String::from("day,sent,delivered,failed\n");
    for d in fourteen_days(&app, &s).await? {
        out.push_str(&format!(
            "{},{},{},{}\n",
            d.day, d.sent, d.delivered, d.failed
        ));
    }
    Ok(csv_response("messages-per-day.csv", out))
}

async fn visits_svg(State(app): State<AppState>, s: Signed) -> Page {
    let rows = app
        .store
        .visits_by_village(&s.area, overdue_cutoff(&app))
        .await
        .map_err(internal)?;
    let labels = rows.iter().map(|r| r.village.clone()).collect();
    let w = |k| super::word(s.lang(), k);
    bar_chart(
        s.lang(),
        &rows,
        labels,
        &[
            (w("chart_on_time"), |r| r.on_time),
            (w("chart_late"), |r| r.late),
            (w("chart_overdue"), |r| r.overdue),
        ],
    )
}

async fn visits_csv(State(app): State<AppState>, s: Signed) -> Page {
    let rows = app
        .store
        .visits_by_village(&s.area, overdue_cutoff(&app))
        .await
        .map_err(internal)?;
    let mut out = String::from("village,on_time,late,overdue\n");
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{}\n",
            csv_cell(&r.village),
            r.on_time,
            r.late,
            r.overdue
        ));
    }
    Ok(csv_response("visits-per-village.csv", out))
}

/// A CSV cell: always quoted, never read as a formula by a spreadsheet.
fn csv_cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Opt-outs per week over the last twelve weeks (zero weeks included).
async fn opt_out_weeks(app: &AppState, s: &Signed) -> Result<Vec<(String, i64)>, Response> {
    let tz = app.config.timezone;
    let today = app.clock.now().with_timezone(&tz).date_naive();
    let first = today - Duration::weeks(11);
    let rows = app
        .store
        .opt_outs_per_week(
            &s.area,
            crate::domain::schedule::start_of_day(tz, first),
            local_day_offset(app),
        )
        .await
        .map_err(internal)?;
    Ok((0..12)
        .map(|i| {
            let week = (first + Duration::weeks(i)).format("%Y-W%W").to_string();
            let n = rows
                .iter()
                .find(|(w, _)| *w == week)
                .map(|(_, n)| *n)
                .unwrap_or(0);
            (week, n)
        })
        .collect())
}

async fn opt_outs_svg(State(app): State<AppState>, s: Signed) -> Page {
    let weeks = opt_out_weeks(&app, &s).await?;
    if weeks.iter().all(|(_, n)| *n == 0) {
        return Ok(svg_response(empty_chart(s.lang())));
    }
    let mut chart = charts_rs::LineChart::new(
        vec![charts_rs::Series::new(
            super::word(s.lang(), "chart_opt_outs").to_string(),
            weeks.iter().map(|(_, n)| *n as f32).collect(),
        )],
        weeks.iter().map(|(w, _)| w.clone()).collect(),
    );
    chart.width = 480.0;
    chart.height = 240.0;
    count_axis(
        &mut chart.y_axis_configs[0],
        weeks.iter().map(|(_, n)| *n).max().unwrap_or(0),
    );
    legible(
        &mut chart.x_axis_font_size,
        &mut chart.legend_font_size,
        &mut chart.y_axis_configs[0].axis_font_size,
    );
    Ok(svg_response(
        chart.svg().map_err(|e| internal(format!("{e:?}")))?,
    ))
}

async fn opt_outs_csv(State(app): State<AppState>, s: Signed) -> Page {
    let mut out = String::from("week,opt_outs\n");
    for (w, n) in opt_out_weeks(&app, &s).await? {
        out.push_str(&format!("{w},{n}\n"));
    }
    Ok(csv_response("opt-outs-per-week.csv", out))
}

/// Women per page of the list.
const WOMEN_PER_PAGE: i64 = 50;

#[derive(Deserialize, Default)]
struct WomenQuery {
    #[serde(flatten)]
    filter: crate::store::WomenFilter,
    #[serde(default)]
    page: Option<i64>,
}

/// The list's filters as a query string, for its page links and its CSV.
fn women_query(f: &crate::store::WomenFilter) -> String {
    serde_urlencoded::to_string([
        ("q", f.q.as_str()),
        ("village", f.village.as_str()),
        ("officer", f.officer.as_str()),
        ("status", f.status.as_str()),
        ("edd_from", f.edd_from.as_str()),
        ("edd_to", f.edd_to.as_str()),
        ("risk", f.risk.as_str()),
    ])
    .unwrap_or_default()
}

/// The women of her area, a page at a time, with their count and filters.
async fn women(State(app): State<AppState>, s: Signed, Query(q): Query<WomenQuery>) -> Page {
    let page_no = q.page.unwrap_or(1).max(1);
    let (rows, total) = app
        .store
        .search_women(
            &s.area,
            &q.filter,
            WOMEN_PER_PAGE,
            (page_no - 1) * WOMEN_PER_PAGE,
        )
        .await
        .map_err(internal)?;
    let mut ctx = Context::new();
    ctx.insert("q", &q.filter.q);
    ctx.insert("filter", &q.filter);
    ctx.insert("query", &women_query(&q.filter));
    ctx.insert("women", &rows);
    paging(&mut ctx, page_no, WOMEN_PER_PAGE, total);
    Ok(page(&s, "women.html", ctx))
}

/// The same list as CSV (UTF-8 with a BOM, so Excel reads Chinese): every
/// woman the filters match, in her area.
async fn women_csv(State(app): State<AppState>, s: Signed, Query(q): Query<WomenQuery>) -> Page {
    let (rows, _) = app
        .store
        .search_women(&s.area, &q.filter, 1_000_000, 0)
        .await
        .map_err(internal)?;
    let mut w = csv::Writer::from_writer(vec![]);
    let _ = w.write_record([
        "id",
        "name",
        "phone_last_digits",
        "village",
        "officer",
        "pregnancy",
        "edd",
        "opted_out",
    ]);
    for r in rows {
        let _ = w.write_record([
            r.id.to_string(),
            r.name,
            r.phone_tail,
            r.village.unwrap_or_default(),
            r.officer_code.unwrap_or_default(),
            r.pregnancy_status.unwrap_or_default(),
            r.edd.unwrap_or_default(),
            if r.opted_out { "yes" } else { "" }.to_string(),
        ]);
    }
    csv_download("women.csv", w)
}

async fn woman(State(app): State<AppState>, s: Signed, Path(id): Path<i64>) -> Page {
    woman_page(&app, &s, id, None).await
}

/// A form of her page that was refused: which form, why, and what was
/// typed, to show the form again open, filled in, with the reason beside it.
#[derive(serde::Serialize, Default)]
pub(super) struct Refusal {
    pub form: String,
    pub error: String,
    pub values: std::collections::BTreeMap<&'static str, String>,
}

/// Her page; after a refused form, with that form again (status 422).
pub(super) async fn woman_page(
    app: &AppState,
    s: &Signed,
    id: i64,
    refusal: Option<Refusal>,
) -> Page {
    if !app
        .store
        .woman_in_area(&s.area, id)
        .await
        .map_err(internal)?
    {
        return Err(not_found(s));
    }
    let w = app.store.woman(id).await.map_err(internal)?;
    let pregnancies = app.store.pregnancies_of(id).await.map_err(internal)?;
    let now = app.clock.now();
    let zone = app.config.zone_for(w.village.as_deref());
    let today = crate::domain::schedule::local_date(zone, now);
    let en = s.lang() == "en";
    let clinic = app.config.clinic_for(w.village.as_deref()).to_string();
    let mut visits = vec![];
    let mut next_visit = None;
    let mut coming = vec![];
    let mut weeks = None;
    if let Some(p) = pregnancies.first() {
        if let (true, Some(lmp)) = (
            p.status == "active",
            crate::domain::dates::parse_date(&p.lmp),
        ) {
            let days = (today - lmp).num_days();
            weeks =
                Some(serde_json::json!({"weeks": days.div_euclid(7), "days": days.rem_euclid(7)}));
        }
        let records = app.store.visit_records(p.id).await.map_err(internal)?;
        for v in &records {
            let state = match v.status.as_str() {
                "pending" if v.window_end < today => "window_closed",
                "pending" if v.window_start <= today => "open",
                other => other,
            };
            let name = if en { &v.label_en } else { &v.label_zh };
            let place = if v.home { None } else { Some(clinic.clone()) };
            if next_visit.is_none() && !v.task && v.status == "pending" && v.window_end >= today {
                next_visit = Some(
                    serde_json::json!({"name": name, "due": v.due, "window_end": v.window_end, "home": v.home, "place": place}),
                );
            }
            visits.push(serde_json::json!({
                "key": v.key, "name": name, "window_start": v.window_start, "due": v.due,
                "window_end": v.window_end, "state": state, "done_on": v.done_on,
                "done_by": v.done_by, "done_place": v.done_place, "home": v.home, "note": v.note,
            }));
        }
        // What she will be sent in the coming eight weeks, as the planner
        // will plan it (whatever its horizon).
        let labels: std::collections::HashMap<i64, String> = records
            .iter()
            .map(|v| {
                (
                    v.id,
                    if en {
                        v.label_en.clone()
                    } else {
                        v.label_zh.clone()
                    },
                )
            })
            .collect();
        for (step, visit, at) in app
            .planner
            .forecast(p.id, now, now + Duration::weeks(8))
            .await
            .map_err(internal)?
        {
            coming.push(serde_json::json!({
                "at": at.with_timezone(&zone).format("%Y-%m-%d %H:%M").to_string(),
                "step": format!("{}/{}", step.campaign_key, step.key),
                "visit": visit.and_then(|v| labels.get(&v).cloned()),
                "outreach": step.outreach,
                // A follow-up of a missed visit: only if it is not recorded.
                "if_missed": step.trigger.anchor == crate::domain::schedule::TriggerAnchor::VisitWindowEnd,
            }));
        }
    }
    // Her whole number, to call her, for her own care team only: her
    // officer and the supervisors of her township. Each look is audited.
    let care_team = match s.staff.role {
        crate::domain::Role::Officer => w.officer_code.as_deref() == Some(s.staff.code.as_str()),
        crate::domain::Role::Supervisor => true,
        crate::domain::Role::Admin => false,
    };
    if care_team {
        ctx_phone_viewed(app, s, id, now).await;
    }
    let tz = app.config.timezone;
    let conversation: Vec<serde_json::Value> = app
        .store
        .conversation(id)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|c| {
            serde_json::json!({
                "at": c.at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
                "direction": c.direction, "id": c.id, "text": c.text,
                "status": c.status, "detail": c.detail,
            })
        })
        .collect();
    // Her risk grade, for her care team only (the service checks; anyone
    // else sees no card). Reading a high-risk woman's history is audited.
    let (risk, risk_history) = risk_of(app, s, id).await?;
    let mut ctx = Context::new();
    ctx.insert("risk", &risk);
    ctx.insert("risk_history", &risk_history);
    ctx.insert(
        "colours",
        &crate::domain::risk::Colour::ALL
            .iter()
            .map(|c| serde_json::json!({"value": c.as_str(), "name": c.name(s.lang())}))
            .collect::<Vec<_>>(),
    );
    ctx.insert(
        "infections",
        &crate::domain::risk::Infection::ALL
            .iter()
            .map(|i| serde_json::json!({"value": i.as_str(), "name": i.name(s.lang())}))
            .collect::<Vec<_>>(),
    );
    ctx.insert("woman", &w);
    ctx.insert(
        "phone_tail",
        &w.phone
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<String>(),
    );
    ctx.insert("pregnancies", &pregnancies);
    ctx.insert("visits", &visits);
    ctx.insert("conversation", &conversation);
    ctx.insert("weeks", &weeks);
    ctx.insert("next_visit", &next_visit);
    ctx.insert("coming", &coming);
    // No visit, birth or LMP after today: the date pickers stop there.
    ctx.insert(
        "today",
        &crate::domain::schedule::local_date(zone, now).to_string(),
    );
    ctx.insert(
        "can_receive",
        &(w.consent_at.is_some() && w.opted_out_at.is_none()),
    );
    ctx.insert("full_phone", &care_team.then(|| w.phone.clone()));
    let refused = refusal.is_some();
    ctx.insert("refusal", &refusal.unwrap_or_default());
    let mut r = page(s, "woman.html", ctx);
    if refused {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(r)
}

/// Her grade as it stands and its history, in the reader's words; `None`
/// when the reader is not her care team or she has no pregnancy in care.
async fn risk_of(
    app: &AppState,
    s: &Signed,
    id: i64,
) -> Result<(Option<serde_json::Value>, Vec<serde_json::Value>), Response> {
    use crate::services::AppError;
    let by = s.staff.code.as_str();
    let lang = s.lang();
    let state = match app.risk.state(id, by).await {
        Ok(state) => state,
        Err(AppError::Refused(_) | AppError::Forbidden(_))
        | Err(AppError::Store(crate::store::StoreError::NotFound(_))) => return Ok((None, vec![])),
        Err(e) => return Err(internal(e)),
    };
    let history = app
        .risk
        .history(id, by)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|h| {
            serde_json::json!({
                "on": h.assessed_on, "grade": h.grade.describe(lang), "reasons": h.reasons,
                "by": h.recorded_by, "postpartum": h.postpartum,
            })
        })
        .collect();
    let risk = serde_json::json!({
        "describe": state.grade.describe(lang),
        "colour": state.grade.colour.map(|c| c.as_str()),
        "purple": state.grade.purple,
        "assessed_on": state.assessed_on,
        "case_manager": state.case_manager,
        "delivery_hospital": state.delivery_hospital,
    });
    Ok((Some(risk), history))
}

/// Notes in the audit log that a member of staff saw a woman's whole number.
async fn ctx_phone_viewed(app: &AppState, s: &Signed, woman_id: i64, now: chrono::DateTime<Utc>) {
    if let Err(e) = app
        .store
        .audit(
            now,
            &s.staff.code,
            "phone_viewed",
            &format!("woman:{woman_id}"),
            "",
        )
        .await
    {
        tracing::warn!(error = %e, "could not audit a phone number viewed");
    }
}

#[derive(Deserialize, Default)]
struct WorkQuery {
    #[serde(default)]
    village: String,
}

/// Whether a visit of the worklist is in her area and the village asked for.
async fn on_round(
    app: &AppState,
    s: &Signed,
    v: &crate::store::OverdueVisit,
    village: &str,
) -> Result<bool, Response> {
    if !village.is_empty() && v.village.as_deref() != Some(village) {
        return Ok(false);
    }
    app.store
        .woman_in_area(&s.area, v.woman_id)
        .await
        .map_err(internal)
}

/// Overdue visits and home visits due in her area (one village's, when asked).
async fn overdue_in(
    app: &AppState,
    s: &Signed,
    village: &str,
) -> Result<Vec<crate::services::jobs::WorkItem>, Response> {
    let mut overdue = vec![];
    for v in app
        .jobs
        .worklist(app.clock.now(), None)
        .await
        .map_err(|e| super::refused(s, e))?
    {
        if on_round(app, s, &v.visit, village).await? {
            overdue.push(v);
        }
    }
    Ok(overdue)
}

/// The village an officer works in, when none was asked for.
fn village_asked(s: &Signed, q: WorkQuery) -> String {
    let asked = q.village.trim().to_string();
    if asked.is_empty() && s.staff.role == crate::domain::Role::Officer {
        return s.staff.village.clone().unwrap_or_default();
    }
    asked
}

/// Days ahead the printed round lists the visits coming up.
const ROUND_DAYS: i64 = 14;

/// One village's round on paper: who is overdue, who is due in the next
/// two weeks, with space to write what was done.
async fn worklist_print(
    State(app): State<AppState>,
    s: Signed,
    Query(q): Query<WorkQuery>,
) -> Page {
    let village = village_asked(&s, q);
    let overdue = overdue_in(&app, &s, &village).await?;
    let today = crate::domain::schedule::local_date(app.config.timezone, app.clock.now());
    let mut coming = vec![];
    for v in app
        .store
        .coming_visits(today + Duration::days(ROUND_DAYS), overdue_cutoff(&app))
        .await
        .map_err(internal)?
    {
        let listed = overdue.iter().any(|o| o.visit.visit_id == v.visit_id);
        if !listed && on_round(&app, &s, &v, &village).await? {
            coming.push(v);
        }
    }
    let mut ctx = Context::new();
    ctx.insert("village", &village);
    ctx.insert("today", &today.to_string());
    ctx.insert("until", &(today + Duration::days(ROUND_DAYS)).to_string());
    ctx.insert("overdue", &overdue);
    ctx.insert("coming", &coming);
    Ok(page(&s, "worklist_print.html", ctx))
}

async fn worklist(State(app): State<AppState>, s: Signed, Query(q): Query<WorkQuery>) -> Page {
    worklist_page(&app, &s, q.village.trim(), None).await
}

/// The worklist; after a refused answer, with it again under its question (422).
async fn worklist_page(
    app: &AppState,
    s: &Signed,
    village: &str,
    refusal: Option<Refusal>,
) -> Page {
    let village = village.to_string();
    let overdue = overdue_in(app, s, &village).await?;
    let officer = (s.staff.role == crate::domain::Role::Officer).then_some(s.staff.code.as_str());
    let mut inbox = vec![];
    let tz = app.config.timezone;
    for m in app.store.inbox(officer, false).await.map_err(internal)? {
        let Some(w) = m.woman_id else { continue };
        if !app
            .store
            .woman_in_area(&s.area, w)
            .await
            .map_err(internal)?
        {
            continue;
        }
        let name = app.store.woman(w).await.map_err(internal)?.name;
        inbox.push(serde_json::json!({
            "id": m.id, "woman_id": w, "name": name, "text": m.text,
            "at": Utc.timestamp_opt(m.received_at, 0).single().map(|t| t.with_timezone(&tz).format("%m-%d %H:%M").to_string()),
        }));
    }
    let mut ctx = Context::new();
    ctx.insert("overdue", &overdue);
    ctx.insert("inbox", &inbox);
    ctx.insert("village", &village);
    ctx.insert(
        "print_query",
        &serde_urlencoded::to_string([("village", &village)]).unwrap_or_default(),
    );
    let refused = refusal.is_some();
    ctx.insert("refusal", &refusal.unwrap_or_default());
    let mut r = page(s, "worklist.html", ctx);
    if refused {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(r)
}

#[derive(Deserialize)]
struct AnswerForm {
    #[serde(default)]
    csrf: String,
    text: String,
}

async fn answer(
    State(app): State<AppState>,
    s: Signed,
    Path(id): Path<i64>,
    Form(f): Form<AnswerForm>,
) -> Page {
    s.check_csrf(&f.csrf)?;
    // Her care team only; anything else is as if it did not exist.
    let woman = match app.store.inbound(id).await {
        Ok(m) => m.woman_id,
        Err(_) => None,
    };
    let visible = match woman {
        Some(w) => app
            .store
            .woman_in_area(&s.area, w)
            .await
            .map_err(internal)?,
        None => false,
    };
    if !visible {
        return Err(not_found(&s));
    }
    let Err(e) = app.inbound.answer(id, &f.text, &s.staff.code).await else {
        return Ok(Redirect::to("/worklist").into_response());
    };
    // A rule said no (empty, too long, she opted out): the worklist again
    // with the answer as typed and why, under her question.
    let error = super::said_no(e).map_err(|e| super::refused(&s, e))?;
    let refusal = Refusal {
        form: format!("answer:{id}"),
        error,
        values: [("text", f.text.clone())].into_iter().collect(),
    };
    Err(match worklist_page(&app, &s, "", Some(refusal)).await {
        Ok(r) | Err(r) => r,
    })
}

#[derive(Deserialize, Default)]
struct MessageQuery {
    status: Option<String>,
    gateway: Option<String>,
    campaign: Option<String>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    page: Option<i64>,
}

/// Rows per page of the message and audit lists.
const ROWS_PER_PAGE: i64 = 100;

/// Where a list stands: its page (from 1), its count of pages and total,
/// for the page's header line and its pager.
fn paging(ctx: &mut Context, page_no: i64, per_page: i64, total: i64) {
    ctx.insert("page_no", &page_no);
    ctx.insert("pages", &((total + per_page - 1) / per_page).max(1));
    ctx.insert("total", &total);
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The log's filters from the query: days in local time, `to` included.
fn message_filter(app: &AppState, q: &MessageQuery) -> MessageLogFilter {
    let tz = app.config.timezone;
    MessageLogFilter {
        status: non_empty(&q.status),
        gateway: non_empty(&q.gateway),
        campaign: non_empty(&q.campaign),
        from: q.from.map(|d| crate::domain::schedule::start_of_day(tz, d)),
        to: q
            .to
            .and_then(|d| d.checked_add_signed(Duration::days(1)))
            .map(|d| crate::domain::schedule::start_of_day(tz, d)),
    }
}

/// The log as CSV (UTF-8 with a BOM): every message the filters match in
/// her area, newest first.
async fn messages_list_csv(
    State(app): State<AppState>,
    s: Signed,
    Query(q): Query<MessageQuery>,
) -> Page {
    let tz = app.config.timezone;
    let f = message_filter(&app, &q);
    let (rows, _) = app
        .store
        .message_log(&s.area, &f, 1_000_000, 0)
        .await
        .map_err(internal)?;
    let mut w = csv::Writer::from_writer(vec![]);
    let _ = w.write_record([
        "id", "woman_id", "send_at", "step", "channel", "gateway", "status", "text",
    ]);
    for m in rows {
        let _ = w.write_record([
            m.id.to_string(),
            m.woman_id.map(|w| w.to_string()).unwrap_or_default(),
            m.send_at
                .with_timezone(&tz)
                .format("%Y-%m-%d %H:%M")
                .to_string(),
            m.step.unwrap_or_default(),
            m.channel,
            m.gateway.unwrap_or_default(),
            m.status,
            m.body.unwrap_or_default(),
        ]);
    }
    csv_download("messages.csv", w)
}

async fn messages(State(app): State<AppState>, s: Signed, Query(q): Query<MessageQuery>) -> Page {
    let tz = app.config.timezone;
    let f = message_filter(&app, &q);
    let page_no = q.page.unwrap_or(1).max(1);
    let (rows, total) = app
        .store
        .message_log(&s.area, &f, ROWS_PER_PAGE, (page_no - 1) * ROWS_PER_PAGE)
        .await
        .map_err(internal)?;
    let rows: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|m| {
            serde_json::json!({
                "id": m.id, "woman_id": m.woman_id, "step": m.step, "status": m.status,
                "channel": m.channel, "gateway": m.gateway, "body": m.body,
                "send_at": m.send_at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
            })
        })
        .collect();
    let mut ctx = Context::new();
    ctx.insert("rows", &rows);
    ctx.insert("status", &f.status);
    ctx.insert("gateway", &f.gateway);
    ctx.insert("campaign", &f.campaign);
    ctx.insert("from", &q.from.map(|d| d.to_string()));
    ctx.insert("to", &q.to.map(|d| d.to_string()));
    ctx.insert("statuses", crate::domain::MessageStatus::ALL);
    let query = serde_urlencoded::to_string([
        ("status", f.status.clone().unwrap_or_default()),
        ("gateway", f.gateway.clone().unwrap_or_default()),
        ("campaign", f.campaign.clone().unwrap_or_default()),
        ("from", q.from.map(|d| d.to_string()).unwrap_or_default()),
        ("to", q.to.map(|d| d.to_string()).unwrap_or_default()),
    ])
    .unwrap_or_default();
    ctx.insert("query", &query);
    paging(&mut ctx, page_no, ROWS_PER_PAGE, total);
    Ok(page(&s, "messages.html", ctx))
}

async fn message(State(app): State<AppState>, s: Signed, Path(id): Path<i64>) -> Page {
    let Some((woman, events)) = app.store.message_events(id).await.map_err(internal)? else {
        return Err(not_found(&s));
    };
    let visible = match woman {
        Some(w) => app
            .store
            .woman_in_area(&s.area, w)
            .await
            .map_err(internal)?,
        None => s.is_admin(),
    };
    if !visible {
        return Err(not_found(&s));
    }
    let tz = app.config.timezone;
    let events: Vec<serde_json::Value> = events
        .into_iter()
        .map(|(at, status, cause)| {
            serde_json::json!({"at": at.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string(), "status": status, "cause": cause})
        })
        .collect();
    let mut ctx = Context::new();
    ctx.insert("id", &id);
    ctx.insert("woman_id", &woman);
    ctx.insert("events", &events);
    Ok(page(&s, "message.html", ctx))
}

/// A campaign's name for the page: a built-in campaign not renamed by an
/// administrator is named in the reader's language.
fn campaign_title(s: &Signed, key: &str, name: &str) -> String {
    crate::services::defaults::BUILTIN_NAMES
        .iter()
        .find(|(k, seeded, _)| *k == key && *seeded == name)
        .map(|(_, _, word)| super::word(s.lang(), word).to_string())
        .unwrap_or_else(|| name.to_string())
}

async fn campaigns(State(app): State<AppState>, s: Signed) -> Page {
    campaigns_page(&app, &s, None).await
}

/// The campaigns; after a refused new campaign, with its form again (422).
pub(super) async fn campaigns_page(app: &AppState, s: &Signed, refusal: Option<Refusal>) -> Page {
    admin_only(s)?;
    let rows: Vec<serde_json::Value> = app
        .store
        .campaigns()
        .await
        .map_err(internal)?
        .into_iter()
        .filter(|(key, ..)| !key.starts_with("broadcast:"))
        .map(|(key, name, status, outreach, steps)| {
            let name = campaign_title(s, &key, &name);
            serde_json::json!({"key": key, "name": name, "status": status, "outreach": outreach, "steps": steps})
        })
        .collect();
    let mut ctx = Context::new();
    ctx.insert("campaigns", &rows);
    let refused = refusal.is_some();
    let refusal = refusal.unwrap_or_default();
    ctx.insert("step_values", &refusal.values);
    ctx.insert("step_error", &refusal.error);
    let mut r = page(s, "campaigns.html", ctx);
    if refused {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(r)
}

/// The editor: each step's texts per language, with live preview.
pub(super) async fn campaign_page(
    app: &AppState,
    s: &Signed,
    key: &str,
    error: Option<(i64, String, String, String)>,
    saved: bool,
    refusal: Option<Refusal>,
) -> Page {
    let all = app.store.campaigns().await.map_err(internal)?;
    let Some((_, name, status, ..)) = all.into_iter().find(|(k, ..)| k == key) else {
        return Err(not_found(s));
    };
    let variants = app.store.wechat_variants().await.map_err(internal)?;
    let sms_variants = app.store.sms_variants().await.map_err(internal)?;
    // The cloud SMS providers configured: each step needs their templates.
    let mut providers: Vec<&'static str> = app
        .sms_templates
        .needing_templates()
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    providers.dedup();
    let steps: Vec<serde_json::Value> = app
        .store
        .campaign_steps_for_edit(key)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|st| {
            let texts: Vec<serde_json::Value> = crate::render::LANGUAGES
                .iter()
                .map(|lang| {
                    let saved_body = st.texts.iter().find(|(l, _)| l == lang).map(|(_, b)| b.clone());
                    // A refused text stays in the field, with its error beside it.
                    let (body, err) = match &error {
                        Some((step_id, l, body, e)) if *step_id == st.id && l == lang => {
                            (Some(body.clone()), Some(e.clone()))
                        }
                        _ => (saved_body, None),
                    };
                    serde_json::json!({"language": lang, "body": body.unwrap_or_default(), "error": err})
                })
                .collect();
            let wechat: Option<WechatVariant> = variants.iter().find(|v| v.step_id == st.id).cloned();
            let sms: Vec<serde_json::Value> = providers
                .iter()
                .map(|p| {
                    let v = sms_variants.iter().find(|v| v.step_id == st.id && v.provider.as_str() == *p);
                    serde_json::json!({"provider": p, "template": v})
                })
                .collect();
            serde_json::json!({
                "id": st.id, "key": st.key, "anchor": st.anchor, "offset_days": st.offset_days,
                "send_time": st.send_time, "grace_hours": st.grace_hours, "texts": texts, "wechat": wechat,
                "sms": sms,
            })
        })
        .collect();
    let mut ctx = Context::new();
    ctx.insert("key", key);
    ctx.insert("name", &campaign_title(s, key, &name));
    ctx.insert("status", &status);
    ctx.insert("steps", &steps);
    ctx.insert("saved", &saved);
    ctx.insert("signature", &app.config.sms_signature);
    let refused = error.is_some() || refusal.is_some();
    let refusal = refusal.unwrap_or_default();
    // The add-a-step form, filled in again after a refusal.
    let (step_values, step_error) = if refusal.form == "step" {
        (refusal.values.clone(), refusal.error.clone())
    } else {
        (Default::default(), String::new())
    };
    ctx.insert("step_values", &step_values);
    ctx.insert("step_error", &step_error);
    ctx.insert("refusal", &refusal);
    let mut r = page(s, "campaign.html", ctx);
    if refused {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(r)
}

#[derive(Deserialize, Default)]
struct SavedQuery {
    #[serde(default)]
    saved: bool,
}

async fn campaign(
    State(app): State<AppState>,
    s: Signed,
    Path(key): Path<String>,
    Query(q): Query<SavedQuery>,
) -> Page {
    admin_only(&s)?;
    campaign_page(&app, &s, &key, None, q.saved, None).await
}

#[derive(Deserialize)]
struct TextForm {
    #[serde(default)]
    csrf: String,
    language: String,
    body: String,
}

async fn save_text(
    State(app): State<AppState>,
    s: Signed,
    Path((key, step)): Path<(String, String)>,
    Form(f): Form<TextForm>,
) -> Page {
    admin_only(&s)?;
    s.check_csrf(&f.csrf)?;
    let step_id = match app.store.step_id(&key, &step).await {
        Ok(id) => id,
        Err(_) => return Err(not_found(&s)),
    };
    match app
        .campaigns
        .save_text(&key, &step, &f.language, &f.body, &s.staff.code)
        .await
    {
        Ok(_) => {}
        // Refused: the page again, with what was typed and why.
        Err(crate::services::AppError::Refused(e)) => {
            let body = f.body.replace("\r\n", "\n");
            return campaign_page(
                &app,
                &s,
                &key,
                Some((step_id, f.language, body, e)),
                false,
                None,
            )
            .await;
        }
        Err(e) => return Err(super::refused(&s, e)),
    }
    Ok(Redirect::to(&format!("/campaigns/{key}?saved=true#step-{step_id}")).into_response())
}

#[derive(Deserialize)]
struct StatusForm {
    #[serde(default)]
    csrf: String,
    status: String,
}

async fn campaign_status(
    State(app): State<AppState>,
    s: Signed,
    Path(key): Path<String>,
    Form(f): Form<StatusForm>,
) -> Page {
    admin_only(&s)?;
    s.check_csrf(&f.csrf)?;
    let state: crate::services::campaigns::CampaignState =
        f.status.parse().map_err(|e| super::refused(&s, e))?;
    app.campaigns
        .set_state(&key, state, &s.staff.code)
        .await
        .map_err(|e| super::refused(&s, e))?;
    Ok(Redirect::to(&format!("/campaigns/{key}")).into_response())
}

#[derive(Deserialize)]
struct VersionsQuery {
    language: String,
}

async fn versions(
    State(app): State<AppState>,
    s: Signed,
    Path((key, step)): Path<(String, String)>,
    Query(q): Query<VersionsQuery>,
) -> Page {
    admin_only(&s)?;
    let Ok(step_id) = app.store.step_id(&key, &step).await else {
        return Err(not_found(&s));
    };
    let tz = app.config.timezone;
    let vs = app
        .store
        .text_versions(step_id, &q.language)
        .await
        .map_err(internal)?;
    let mut rows = vec![];
    for (i, v) in vs.iter().enumerate() {
        // The change from the version before (the oldest: from nothing).
        let before = vs.get(i + 1).map(|p| p.body.as_str()).unwrap_or("");
        let diff = similar::TextDiff::from_chars(before, &v.body);
        let parts: Vec<serde_json::Value> = diff
            .iter_all_changes()
            .map(|c| {
                let tag = match c.tag() {
                    similar::ChangeTag::Delete => "del",
                    similar::ChangeTag::Insert => "ins",
                    similar::ChangeTag::Equal => "eq",
                };
                serde_json::json!({"tag": tag, "text": c.value()})
            })
            .collect();
        rows.push(serde_json::json!({
            "id": v.id, "by": v.changed_by, "body": v.body, "diff": parts,
            "at": v.changed_at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
        }));
    }
    let mut ctx = Context::new();
    ctx.insert("key", &key);
    ctx.insert("step", &step);
    ctx.insert("language", &q.language);
    ctx.insert("versions", &rows);
    Ok(page(&s, "versions.html", ctx))
}

#[derive(Deserialize)]
struct PreviewBody {
    body: String,
    language: String,
}

/// The live preview: the text rendered for the sample woman, its length
/// and SMS parts (with the signature), or the error as it would be shown.
async fn preview(
    State(app): State<AppState>,
    s: Signed,
    headers: HeaderMap,
    Json(p): Json<PreviewBody>,
) -> Page {
    let token = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    s.check_csrf(token)?;
    admin_only(&s)?;
    let out = match crate::render::validate(&p.body.replace("\r\n", "\n"), &p.language) {
        Ok(text) => {
            let full = format!("{}{}", app.config.sms_signature, text);
            let m = crate::domain::sms::measure(&full);
            serde_json::json!({
                "ok": true, "text": full, "chars": full.chars().count(), "parts": m.parts,
                "encoding": super::word(s.lang(), match m.encoding {
                    crate::domain::sms::Encoding::Gsm7 => "encoding_gsm7",
                    crate::domain::sms::Encoding::Ucs2 => "encoding_ucs2",
                }),
            })
        }
        Err(e) => serde_json::json!({"ok": false, "error": e.to_string()}),
    };
    Ok(Json(out).into_response())
}

#[derive(Deserialize, Default)]
struct AuditQuery {
    page: Option<i64>,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
}

/// Every change by a person, a page at a time, by who and what.
async fn audit(State(app): State<AppState>, s: Signed, Query(q): Query<AuditQuery>) -> Page {
    admin_only(&s)?;
    let tz = app.config.timezone;
    let page_no = q.page.unwrap_or(1).max(1);
    let (rows, total) = app
        .store
        .audit_page(
            &q.actor,
            &q.action,
            ROWS_PER_PAGE,
            (page_no - 1) * ROWS_PER_PAGE,
        )
        .await
        .map_err(internal)?;
    let rows: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|a| {
            serde_json::json!({
                "at": a.at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
                "actor": a.actor, "action": a.action, "subject": a.subject, "detail": a.detail,
            })
        })
        .collect();
    let mut ctx = Context::new();
    ctx.insert("rows", &rows);
    ctx.insert("actor", q.actor.trim());
    ctx.insert("action", q.action.trim());
    ctx.insert(
        "query",
        &serde_urlencoded::to_string([("actor", q.actor.trim()), ("action", q.action.trim())])
            .unwrap_or_default(),
    );
    paging(&mut ctx, page_no, ROWS_PER_PAGE, total);
    Ok(page(&s, "audit.html", ctx))
}

/// The audit log as CSV (UTF-8 with a BOM), with the page's filters.
async fn audit_csv(State(app): State<AppState>, s: Signed, Query(q): Query<AuditQuery>) -> Page {
    admin_only(&s)?;
    let tz = app.config.timezone;
    let (rows, _) = app
        .store
        .audit_page(&q.actor, &q.action, 1_000_000, 0)
        .await
        .map_err(internal)?;
    let mut w = csv::Writer::from_writer(vec![]);
    let _ = w.write_record(["at", "actor", "action", "subject", "detail"]);
    for a in rows {
        let _ = w.write_record([
            a.at.with_timezone(&tz)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string(),
            a.actor,
            a.action,
            a.subject.unwrap_or_default(),
            a.detail.unwrap_or_default(),
        ]);
    }
    csv_download("audit.csv", w)
}
