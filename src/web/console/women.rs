//! The women of her area: the list (filtered, paged, as CSV) and one
//! woman's page (her plan, what she will be sent, her conversation, her
//! risk grade for her care team).

use super::kit::*;
use super::{page, Signed};
use crate::web::form::Query;
use crate::web::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::{Duration, NaiveDate, Utc};
use serde::Deserialize;
use tera::Context;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/women", get(women))
        .route("/women.csv", get(women_csv))
        .route("/women/{id}", get(woman))
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
        ("case_manager", f.case_manager.as_str()),
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
    let lang = s.lang();
    let mut w = csv::Writer::from_writer(vec![]);
    let _ = w.write_record(csv_header(
        lang,
        &[
            "id",
            "name",
            "phone_last_digits",
            "village",
            "officer",
            "pregnancy",
            "edd",
            "opted_out",
        ],
    ));
    for r in rows {
        let _ = w.write_record([
            r.id.to_string(),
            r.name,
            r.phone_tail,
            r.village.unwrap_or_default(),
            r.officer_code.unwrap_or_default(),
            r.pregnancy_status
                .map(|p| value_words(lang, "status_", &p))
                .unwrap_or_default(),
            r.edd.unwrap_or_default(),
            if r.opted_out {
                value_words(lang, "csv_", "yes")
            } else {
                String::new()
            },
        ]);
    }
    csv_download("women.csv", w)
}

async fn woman(State(app): State<AppState>, s: Signed, Path(id): Path<i64>) -> Page {
    woman_page(&app, &s, id, None).await
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
    let names = step_names(app, s).await?;
    let mut visits = vec![];
    let mut next_visit = None;
    let mut coming = vec![];
    let mut weeks = None;
    let records = match pregnancies.first() {
        Some(p) => app.store.visit_records(p.id).await.map_err(internal)?,
        None => vec![],
    };
    if let Some(p) = pregnancies.first() {
        if let (true, Some(lmp)) = (
            p.status == "active",
            crate::domain::dates::parse_date(&p.lmp),
        ) {
            let days = (today - lmp).num_days();
            weeks = Some(Weeks {
                weeks: days.div_euclid(7),
                days: days.rem_euclid(7),
            });
        }
        for v in &records {
            let state = match v.status.as_str() {
                "pending" if v.window_end < today => "window_closed",
                "pending" if v.window_start <= today => "open",
                other => other,
            };
            let name = if en { &v.label_en } else { &v.label_zh };
            if next_visit.is_none() && !v.task && v.status == "pending" && v.window_end >= today {
                next_visit = Some(NextVisit {
                    name,
                    due: v.due,
                    window_end: v.window_end,
                    home: v.home,
                    place: (!v.home).then_some(clinic.as_str()),
                });
            }
            visits.push(VisitView {
                key: &v.key,
                name,
                window_start: v.window_start,
                due: v.due,
                window_end: v.window_end,
                state,
                done_on: v.done_on.as_deref(),
                done_by: v.done_by.as_deref(),
                done_place: v.done_place.as_deref(),
                home: v.home,
                note: v.note.as_deref(),
            });
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
            coming.push(ComingView {
                at: at.with_timezone(&zone).format("%Y-%m-%d %H:%M").to_string(),
                step: step_name(&names, &format!("{}/{}", step.campaign_key, step.key)),
                visit: visit.and_then(|v| labels.get(&v).cloned()),
                outreach: step.outreach,
                // A follow-up of a missed visit: only if it is not recorded.
                if_missed: step.trigger.anchor
                    == crate::domain::schedule::TriggerAnchor::VisitWindowEnd,
            });
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
    let conversation: Vec<ConversationView> = app
        .store
        .conversation(id)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|c| {
            // Out: the step or kind in words. In: what her text meant.
            let (meaning, detail) = match c.direction {
                "in" => (
                    c.status
                        .as_deref()
                        .map(|i| words_for(s.lang(), "intent_", i)),
                    c.detail
                        .map(|d| crate::web::refusal::outcome_in(s.lang(), &d)),
                ),
                _ => (None, c.detail.map(|d| step_name(&names, &d))),
            };
            ConversationView {
                at: c.at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
                direction: c.direction,
                id: c.id,
                text: c.text,
                status: c.status,
                meaning,
                detail,
            }
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
            .map(|c| Choice {
                value: c.as_str(),
                name: c.name(s.lang()),
            })
            .collect::<Vec<_>>(),
    );
    ctx.insert(
        "infections",
        &crate::domain::risk::Infection::ALL
            .iter()
            .map(|i| Choice {
                value: i.as_str(),
                name: i.name(s.lang()),
            })
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

/// A step's (or a kind's) name in words, else as stored.
fn step_name(names: &std::collections::HashMap<String, String>, key: &str) -> String {
    names.get(key).cloned().unwrap_or_else(|| key.to_string())
}

/// Her weeks of pregnancy today.
#[derive(serde::Serialize)]
struct Weeks {
    weeks: i64,
    days: i64,
}

/// Her next check-up, for the card at the top of her page.
#[derive(serde::Serialize)]
struct NextVisit<'a> {
    name: &'a str,
    due: NaiveDate,
    window_end: NaiveDate,
    home: bool,
    /// Her clinic; none for a home visit.
    place: Option<&'a str>,
}

/// One visit of her plan.
#[derive(serde::Serialize)]
struct VisitView<'a> {
    key: &'a str,
    name: &'a str,
    window_start: NaiveDate,
    due: NaiveDate,
    window_end: NaiveDate,
    /// pending, open, window_closed, done, missed or cancelled.
    state: &'a str,
    done_on: Option<&'a str>,
    done_by: Option<&'a str>,
    done_place: Option<&'a str>,
    home: bool,
    note: Option<&'a str>,
}

/// A message she will be sent in the coming weeks.
#[derive(serde::Serialize)]
struct ComingView {
    at: String,
    /// The step in words.
    step: String,
    visit: Option<String>,
    outreach: bool,
    /// Sent only if the visit is not recorded by then.
    if_missed: bool,
}

/// One message of her conversation, either way.
#[derive(serde::Serialize)]
struct ConversationView {
    at: String,
    /// `in` (from her) or `out` (to her).
    direction: &'static str,
    id: i64,
    text: Option<String>,
    status: Option<String>,
    /// In: what her text meant, in words.
    meaning: Option<String>,
    /// Out: the step or kind in words. In: what was done.
    detail: Option<String>,
}

/// A choice of a form's select or boxes: its value and its words.
#[derive(serde::Serialize)]
struct Choice {
    value: &'static str,
    name: &'static str,
}
