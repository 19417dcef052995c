//! The audit log: every change by a person, by who and what (administrators).

use super::kit::*;
use super::page;
use crate::web::form::Query;
use crate::web::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use tera::Context;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/audit", get(audit))
        .route("/audit.csv", get(audit_csv))
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
async fn audit(State(app): State<AppState>, Admin(s): Admin, Query(q): Query<AuditQuery>) -> Page {
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
    let rows: Vec<AuditView> = rows
        .into_iter()
        .map(|a| AuditView {
            at: a.at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
            actor: a.actor,
            action: a.action,
            subject: a.subject,
            detail: a.detail,
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
async fn audit_csv(
    State(app): State<AppState>,
    Admin(s): Admin,
    Query(q): Query<AuditQuery>,
) -> Page {
    let tz = app.config.timezone;
    let lang = s.lang();
    let (rows, _) = app
        .store
        .audit_page(&q.actor, &q.action, 1_000_000, 0)
        .await
        .map_err(internal)?;
    let mut w = csv::Writer::from_writer(vec![]);
    let _ = w.write_record(csv_header(
        lang,
        &["at", "actor", "action", "subject", "detail"],
    ));
    for a in rows {
        let _ = w.write_record([
            a.at.with_timezone(&tz)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string(),
            a.actor,
            value_words(lang, "audit_action_", &a.action),
            a.subject.unwrap_or_default(),
            a.detail.unwrap_or_default(),
        ]);
    }
    csv_download("audit.csv", w)
}

/// One entry of the audit log, its time local.
#[derive(serde::Serialize)]
struct AuditView {
    at: String,
    actor: String,
    action: String,
    subject: Option<String>,
    detail: Option<String>,
}
