//! The dashboard: messages per day, visits per village and opt-outs per
//! week for her area, each as a chart (SVG) and as CSV.

use super::kit::*;
use super::{page, Signed};
use crate::web::AppState;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::Duration;
use tera::Context;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard))
        .route("/charts/messages.svg", get(messages_svg))
        .route("/charts/messages.csv", get(messages_csv))
        .route("/charts/visits.svg", get(visits_svg))
        .route("/charts/visits.csv", get(visits_csv))
        .route("/charts/opt-outs.svg", get(opt_outs_svg))
        .route("/charts/opt-outs.csv", get(opt_outs_csv))
}

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

async fn dashboard(State(app): State<AppState>, s: Signed) -> Page {
    let counts = app.store.status_counts(None).await.map_err(internal)?;
    let mut ctx = Context::new();
    if s.is_admin() {
        ctx.insert("counts", &counts);
    }
    ctx.insert("days", &fourteen_days(&app, &s).await?);
    Ok(page(&s, "dashboard.html", ctx))
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
    chart_svg!(chart, weeks.iter().map(|(_, n)| *n).max().unwrap_or(0))
}

async fn opt_outs_csv(State(app): State<AppState>, s: Signed) -> Page {
    let mut out = String::from("week,opt_outs\n");
    for (w, n) in opt_out_weeks(&app, &s).await? {
        out.push_str(&format!("{w},{n}\n"));
    }
    Ok(csv_response("opt-outs-per-week.csv", out))
}
