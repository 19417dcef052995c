//! The message log: every message of her area, filtered, paged and as
//! CSV, and one message's events.

use super::kit::*;
use super::{page, Signed};
use crate::store::MessageLogFilter;
use crate::web::form::Query;
use crate::web::AppState;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::Router;
use chrono::{Duration, NaiveDate};
use serde::Deserialize;
use tera::Context;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/messages", get(messages))
        .route("/messages.csv", get(messages_list_csv))
        .route("/messages/{id}", get(message))
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
    let lang = s.lang();
    // An English reader's file keeps the codes scripts read; a Chinese
    // reader's says each step and status in words.
    let names = if lang == "en" {
        Default::default()
    } else {
        step_names(&app, &s).await?
    };
    let mut w = csv::Writer::from_writer(vec![]);
    let _ = w.write_record(csv_header(
        lang,
        &[
            "id", "woman_id", "send_at", "step", "channel", "gateway", "status", "text",
        ],
    ));
    for m in rows {
        let _ = w.write_record([
            m.id.to_string(),
            m.woman_id.map(|w| w.to_string()).unwrap_or_default(),
            m.send_at
                .with_timezone(&tz)
                .format("%Y-%m-%d %H:%M")
                .to_string(),
            m.step
                .map(|k| names.get(&k).cloned().unwrap_or(k))
                .unwrap_or_default(),
            m.channel,
            m.gateway.unwrap_or_default(),
            value_words(lang, "msg_", &m.status),
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
    let names = step_names(&app, &s).await?;
    let rows: Vec<MessageView> = rows
        .into_iter()
        .map(|m| MessageView {
            send_at: m
                .send_at
                .with_timezone(&tz)
                .format("%Y-%m-%d %H:%M")
                .to_string(),
            step: m.step.map(|k| names.get(&k).cloned().unwrap_or(k)),
            id: m.id,
            woman_id: m.woman_id,
            status: m.status,
            channel: m.channel,
            gateway: m.gateway,
            body: m.body,
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
    let events: Vec<EventView> = events
        .into_iter()
        .map(|(at, status, cause)| EventView {
            at: at
                .with_timezone(&tz)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string(),
            status,
            cause,
        })
        .collect();
    let mut ctx = Context::new();
    ctx.insert("id", &id);
    ctx.insert("woman_id", &woman);
    ctx.insert("events", &events);
    Ok(page(&s, "message.html", ctx))
}

/// One message of the log, as the page shows it.
#[derive(serde::Serialize)]
struct MessageView {
    id: i64,
    woman_id: Option<i64>,
    /// Its step (or kind) in words.
    step: Option<String>,
    status: String,
    channel: String,
    gateway: Option<String>,
    body: Option<String>,
    /// Local time.
    send_at: String,
}

/// One event of a message's trail.
#[derive(serde::Serialize)]
struct EventView {
    at: String,
    status: String,
    cause: Option<String>,
}
