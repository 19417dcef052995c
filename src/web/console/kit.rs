//! What every console page shares: the answer type, the administrators-only
//! extractor, "not found", paging, CSV downloads and bar charts.

use super::{error_page, Signed};
use crate::web::AppState;
use axum::extract::FromRequestParts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, NaiveDate, Offset};
use tera::Context;

pub(super) type Page = Result<Response, Response>;

pub(super) fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "console page failed");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
}

/// A signed-in administrator. A handler that takes `Admin` is for
/// administrators only: anyone else signed in gets "administrators only"
/// (403), anyone not signed in the sign-in form.
pub(super) struct Admin(pub Signed);

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let s = Signed::from_request_parts(parts, app)
            .await
            .map_err(IntoResponse::into_response)?;
        if s.is_admin() {
            Ok(Admin(s))
        } else {
            Err(error_page(&s, StatusCode::FORBIDDEN, "administrators only"))
        }
    }
}

pub(super) fn not_found(s: &Signed) -> Response {
    error_page(s, StatusCode::NOT_FOUND, "not found")
}

pub(super) fn local_day_offset(app: &AppState) -> i64 {
    let now = app.clock.now();
    now.with_timezone(&app.config.timezone)
        .offset()
        .fix()
        .local_minus_utc() as i64
}

pub(super) fn overdue_cutoff(app: &AppState) -> NaiveDate {
    let tz = app.config.timezone;
    app.clock.now().with_timezone(&tz).date_naive()
        - Duration::days(app.config.jobs.overdue_grace_days)
}

pub(super) fn svg_response(svg: String) -> Response {
    ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response()
}

/// A CSV download from a finished writer (see [`csv_response`]).
pub(super) fn csv_download(name: &str, w: csv::Writer<Vec<u8>>) -> Page {
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

/// A chart with nothing to show yet: says so, in the reader's language.
pub(super) fn empty_chart(lang: &str) -> String {
    format!(
        r##"<svg width="480" height="120" viewBox="0 0 480 120" xmlns="http://www.w3.org/2000/svg"><rect x="0" y="0" width="480" height="120" fill="#FFFFFF"/><text x="240" y="66" font-size="24" text-anchor="middle" fill="#5d6b7a">{}</text></svg>"##,
        super::word(lang, "nothing_yet")
    )
}

/// A chart (bar or line) finished as the console draws its charts: a y
/// axis for counts from 0 to `top` in five whole steps (0 to 5 when there
/// is nothing yet), so no tick reads 0.4 of a message, and text large
/// enough to read when the chart is shrunk to a phone's width; answered
/// as SVG.
macro_rules! chart_svg {
    ($chart:expr, $top:expr) => {{
        let chart = &mut $chart;
        let step = (($top).max(1) + 4) / 5;
        let y = &mut chart.y_axis_configs[0];
        y.axis_min = Some(0.0);
        y.axis_max = Some((step.max(1) * 5) as f32);
        y.axis_split_number = 5;
        y.axis_formatter = Some("{t}".into());
        y.axis_font_size = 14.0;
        chart.x_axis_font_size = 14.0;
        chart.legend_font_size = 16.0;
        Ok(svg_response(
            chart.svg().map_err(|e| internal(format!("{e:?}")))?,
        ))
    }};
}
pub(super) use chart_svg;

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
    chart_svg!(chart, top)
}

/// A CSV cell: always quoted, never read as a formula by a spreadsheet.
pub(super) fn csv_cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A form of her page that was refused: which form, why, and what was
/// typed, to show the form again open, filled in, with the reason beside it.
#[derive(serde::Serialize, Default)]
pub(super) struct Refusal {
    pub form: String,
    pub error: String,
    pub values: std::collections::BTreeMap<&'static str, String>,
}

/// Rows per page of the message and audit lists.
pub(super) const ROWS_PER_PAGE: i64 = 100;

/// Where a list stands: its page (from 1), its count of pages and total,
/// for the page's header line and its pager.
pub(super) fn paging(ctx: &mut Context, page_no: i64, per_page: i64, total: i64) {
    ctx.insert("page_no", &page_no);
    ctx.insert("pages", &((total + per_page - 1) / per_page).max(1));
    ctx.insert("total", &total);
}

pub(super) fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A campaign's name for the page: a built-in campaign not renamed by an
/// administrator is named in the reader's language.
pub(super) fn campaign_title(s: &Signed, key: &str, name: &str) -> String {
    crate::services::defaults::BUILTIN_NAMES
        .iter()
        .find(|(k, seeded, _)| *k == key && *seeded == name)
        .map(|(_, _, word)| super::word(s.lang(), word).to_string())
        .unwrap_or_else(|| name.to_string())
}

/// When a step fires, in words: "产检日前3天", "3 days before the check-up".
pub(super) fn trigger_words(lang: &str, anchor: &str, offset: i64) -> String {
    let en = lang == "en";
    let n = offset.abs();
    match (anchor, offset.signum(), en) {
        ("visit_due", 0, false) => "产检当天".into(),
        ("visit_due", 0, true) => "on the check-up day".into(),
        ("visit_due", -1, false) => format!("产检日前{n}天"),
        ("visit_due", -1, true) => format!("{n} days before the check-up"),
        ("visit_due", _, false) => format!("产检日后{n}天"),
        ("visit_due", _, true) => format!("{n} days after the check-up day"),
        ("visit_window_start", 0, false) => "产检时段开始当天".into(),
        ("visit_window_start", 0, true) => "when the check-up's window opens".into(),
        ("visit_window_start", -1, false) => format!("产检时段开始前{n}天"),
        ("visit_window_start", -1, true) => format!("{n} days before the check-up's window opens"),
        ("visit_window_start", _, false) => format!("产检时段开始后{n}天"),
        ("visit_window_start", _, true) => format!("{n} days after the check-up's window opened"),
        ("visit_window_end", _, false) => format!("未按时产检：时段结束后{n}天"),
        ("visit_window_end", _, true) => format!("missed: {n} days after the window closed"),
        ("lmp", _, false) => format!("孕{}周", offset.div_euclid(7)),
        ("lmp", _, true) => format!("week {} of pregnancy", offset.div_euclid(7)),
        ("delivery", _, false) => format!("产后第{offset}天"),
        ("delivery", _, true) => format!("day {offset} after the birth"),
        (other, _, _) => format!("{other} {offset:+}"),
    }
}

/// Each campaign step (`campaign/step`, as the message log and her page
/// name it) and each kind of message without a step, in the reader's
/// words: "产检提醒 · 产检日前3天", "回复".
pub(super) async fn step_names(
    app: &AppState,
    s: &Signed,
) -> Result<std::collections::HashMap<String, String>, Response> {
    let lang = s.lang();
    let mut names: std::collections::HashMap<String, String> = app
        .store
        .step_list()
        .await
        .map_err(internal)?
        .into_iter()
        .map(|(ck, cname, sk, anchor, offset)| {
            let campaign = campaign_title(s, &ck, &cname);
            let when = if ck.starts_with("broadcast:") {
                String::new()
            } else {
                format!(" · {}", trigger_words(lang, &anchor, offset))
            };
            (format!("{ck}/{sk}"), format!("{campaign}{when}"))
        })
        .collect();
    for k in crate::domain::MessageKind::ALL {
        names.insert(k.as_str().to_string(), words_for(lang, "kind_", k.as_str()));
    }
    Ok(names)
}

/// A CSV download's header in the reader's language: each column's
/// `csv_<name>` word (the name itself when the catalogue has none). An
/// English reader gets the column names as they were, which scripts read.
pub(super) fn csv_header(lang: &str, columns: &[&str]) -> Vec<String> {
    if lang == "en" {
        return columns.iter().map(|c| c.to_string()).collect();
    }
    columns
        .iter()
        .map(|c| {
            super::word_of(lang, &format!("csv_{c}"))
                .unwrap_or(c)
                .to_string()
        })
        .collect()
}

/// A closed set's value (a status, an audit action) in the reader's words:
/// `<prefix><value>` from the catalogue, else the value as stored.
pub(super) fn value_words(lang: &str, prefix: &str, value: &str) -> String {
    if lang == "en" {
        return value.to_string();
    }
    words_for(lang, prefix, value)
}

/// A value's words in `lang`: `<prefix><value>` from the catalogue, else
/// the value as stored.
pub(super) fn words_for(lang: &str, prefix: &str, value: &str) -> String {
    super::word_of(lang, &format!("{prefix}{value}"))
        .unwrap_or(value)
        .to_string()
}
