//! The worklist: overdue visits and tasks in her area, her women's
//! questions to answer, and a village's round on paper.

use super::kit::*;
use super::{page, Signed};
use crate::web::form::{Form, Query};
use crate::web::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{Duration, TimeZone, Utc};
use serde::Deserialize;
use tera::Context;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/worklist", get(worklist))
        .route("/worklist/print", get(worklist_print))
        .route("/inbox/{id}/answer", post(answer))
}

#[derive(Deserialize, Default)]
struct WorkQuery {
    #[serde(default)]
    village: String,
    /// A risk grade filter, as the women list's (`Grade::matches_filter`).
    #[serde(default)]
    risk: String,
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
    worklist_page(&app, &s, q.village.trim(), q.risk.trim(), None).await
}

/// Her women's risk tasks (a case manager to assign, a delivery hospital
/// to choose, a referral's result to learn), highest risk first: an
/// officer's own, a supervisor's township's, the county's for an
/// administrator; one village's and one grade's when asked.
async fn risk_tasks_in(
    app: &AppState,
    s: &Signed,
    village: &str,
    risk: &str,
) -> Result<Vec<crate::services::jobs::RiskWorkItem>, Response> {
    let officer = (s.staff.role == crate::domain::Role::Officer).then_some(s.staff.code.as_str());
    let mut tasks = vec![];
    for k in app
        .jobs
        .risk_worklist(app.clock.now(), officer)
        .await
        .map_err(|e| super::refused(s, e))?
    {
        let in_village = village.is_empty() || k.task.village.as_deref() == Some(village);
        if in_village
            && k.grade.matches_filter(risk)
            && app
                .store
                .woman_in_area(&s.area, k.task.woman_id)
                .await
                .map_err(internal)?
        {
            tasks.push(k);
        }
    }
    Ok(tasks)
}

/// The women whose case she manages (专案管理), for a supervisor or an
/// administrator named their case manager.
async fn own_cases(
    app: &AppState,
    s: &Signed,
) -> Result<Vec<crate::store::WomanListRow>, Response> {
    if s.staff.role == crate::domain::Role::Officer {
        return Ok(vec![]);
    }
    let filter = crate::store::WomenFilter {
        case_manager: s.staff.code.clone(),
        ..Default::default()
    };
    let (rows, _) = app
        .store
        .search_women(&s.area, &filter, 500, 0)
        .await
        .map_err(internal)?;
    Ok(rows)
}

/// The worklist; after a refused answer, with it again under its question (422).
async fn worklist_page(
    app: &AppState,
    s: &Signed,
    village: &str,
    risk: &str,
    refusal: Option<Refusal>,
) -> Page {
    let village = village.to_string();
    let overdue: Vec<_> = overdue_in(app, s, &village)
        .await?
        .into_iter()
        .filter(|w| w.visit.grade().matches_filter(risk))
        .collect();
    let risk_tasks = risk_tasks_in(app, s, &village, risk).await?;
    let cases = own_cases(app, s).await?;
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
        inbox.push(Question {
            id: m.id,
            woman_id: w,
            name,
            text: m.text,
            at: Utc
                .timestamp_opt(m.received_at, 0)
                .single()
                .map(|t| t.with_timezone(&tz).format("%m-%d %H:%M").to_string()),
        });
    }
    let mut ctx = Context::new();
    ctx.insert("overdue", &overdue);
    ctx.insert("risk_tasks", &risk_tasks);
    ctx.insert("cases", &cases);
    ctx.insert("inbox", &inbox);
    ctx.insert("village", &village);
    ctx.insert("risk", risk);
    ctx.insert(
        "cases_query",
        &serde_urlencoded::to_string([("case_manager", &s.staff.code)]).unwrap_or_default(),
    );
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
    Err(match worklist_page(&app, &s, "", "", Some(refusal)).await {
        Ok(r) | Err(r) => r,
    })
}

/// A question of one of her women, waiting for an answer.
#[derive(serde::Serialize)]
struct Question {
    id: i64,
    woman_id: i64,
    name: String,
    text: String,
    /// When it came, local.
    at: Option<String>,
}
