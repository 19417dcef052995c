//! The console's reports: the national maternal-care figures and
//! careminder's own (with their definitions), the same per officer for
//! supervisors, and the township's quarterly table (page, CSV, xlsx).
//!
//! What each person sees is her area: an administrator the county (or a
//! township or village she picks), a supervisor her township, an officer
//! her own women. A period or area that is not one is refused on the page,
//! in the reader's language, with what was typed kept.

use super::kit::*;
use super::{error_page, page, Signed};
use crate::domain::{Period, PeriodError, Role};
use crate::services::reports::{IndicatorReport, Scope, TABLE_COLUMNS};
use crate::services::AppError;
use crate::web::form::Query;
use crate::web::AppState;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use tera::Context;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/indicators", get(indicators))
        .route("/indicators/officers", get(officers))
        .route("/charts/indicators.csv", get(indicators_csv))
        .route("/charts/indicators/{key}", get(indicator_svg))
        .route("/reports/quarterly", get(quarterly))
        .route("/reports/quarterly.csv", get(quarterly_csv))
        .route("/reports/quarterly.xlsx", get(quarterly_xlsx))
}

/// What a report's form sends: every field, empty ones included.
#[derive(Deserialize, Default, Clone)]
pub(super) struct ReportQuery {
    #[serde(default)]
    quarter: String,
    #[serde(default)]
    year: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    township: String,
    #[serde(default)]
    village: String,
}

impl ReportQuery {
    /// The same request as a query string (for the page's links).
    fn query(&self) -> String {
        serde_urlencoded::to_string([
            ("quarter", &self.quarter),
            ("year", &self.year),
            ("from", &self.from),
            ("to", &self.to),
            ("township", &self.township),
            ("village", &self.village),
        ])
        .unwrap_or_default()
    }
}

/// The part of the county the signed-in person may see, narrowed by what
/// an administrator picked.
fn scope_of(s: &Signed, q: &ReportQuery) -> Result<Scope, Response> {
    match s.staff.role {
        Role::Admin => Ok(Scope::new(Some(&q.township), Some(&q.village), None)),
        Role::Supervisor => match &s.staff.township {
            Some(t) => Ok(Scope::new(Some(t), None, None)),
            None => Err(error_page(s, StatusCode::FORBIDDEN, "not found")),
        },
        Role::Officer => Ok(Scope::new(None, None, Some(&s.staff.code))),
    }
}

/// A refused period or area, in the reader's language.
fn refusal(s: &Signed, e: &AppError) -> Option<String> {
    let zh = s.lang() != "en";
    Some(match e {
        AppError::Period(p) if zh => period_zh(p),
        AppError::Period(p) => p.to_string(),
        AppError::Refused(m) if zh => match m.split_once(": no ") {
            Some((what, rest)) => {
                let code = rest.split('"').nth(1).unwrap_or(rest);
                let kind = match what {
                    "township" => "乡镇",
                    "village" => "村",
                    _ => "责任人",
                };
                format!("没有代码为“{code}”的{kind}")
            }
            None => m.clone(),
        },
        AppError::Refused(m) => m.clone(),
        _ => return None,
    })
}

fn period_zh(e: &PeriodError) -> String {
    match e {
        PeriodError::BadQuarter(q) => format!("“{q}”不是季度：请写成 2027Q1（年份、Q、再加1至4）"),
        PeriodError::BadYear(y) => {
            format!("“{y}”不是统计年度：请写成 2027（即2026年10月1日至2027年9月30日）")
        }
        PeriodError::BadDate { value, .. } => format!("“{value}”不是日期"),
        PeriodError::EndBeforeStart { from, to } => {
            format!("结束日期 {to} 不在开始日期 {from} 之后")
        }
        PeriodError::InFuture(d) => format!("统计期从 {d} 开始，晚于今天：还没有可统计的数据"),
        PeriodError::TooLong => "统计期最长三年".into(),
        PeriodError::Conflicting => "请只选一种统计期：季度、统计年度，或起止日期".into(),
        PeriodError::Other(m) => m.clone(),
    }
}

/// The period asked for (the reporting year so far when none is).
fn period_of(
    app: &AppState,
    q: &ReportQuery,
    default: fn(chrono::NaiveDate) -> Period,
) -> Result<Period, AppError> {
    Ok(Period::parse(
        Some(&q.quarter),
        Some(&q.year),
        Some(&q.from),
        Some(&q.to),
        app.reports.today(),
        default,
    )?)
}

/// The period form's choices: the last eight quarters and three reporting
/// years, newest first.
fn choices(app: &AppState) -> (Vec<String>, Vec<String>) {
    let today = app.reports.today();
    let mut quarters = vec![];
    let mut day = today;
    for _ in 0..8 {
        let q = Period::quarter_of(day);
        quarters.push(q.code());
        day = q.bounds().0.pred_opt().unwrap_or(day);
    }
    let Period::Year { year } = Period::year_of(today) else {
        unreachable!("year_of gives a year")
    };
    let years = (0..3).map(|i| (year - i).to_string()).collect();
    (quarters, years)
}

/// The context every report page shares: the form as typed, its choices,
/// the period in words.
fn form_context(app: &AppState, s: &Signed, q: &ReportQuery, period: Option<Period>) -> Context {
    let mut ctx = Context::new();
    let (quarters, years) = choices(app);
    ctx.insert("quarters", &quarters);
    ctx.insert("years", &years);
    ctx.insert(
        "q",
        &serde_json::json!({
            "quarter": q.quarter, "year": q.year, "from": q.from, "to": q.to,
            "township": q.township, "village": q.village,
        }),
    );
    ctx.insert("query", &q.query());
    ctx.insert("may_pick_area", &s.is_admin());
    ctx.insert(
        "may_see_officers",
        &matches!(s.staff.role, Role::Admin | Role::Supervisor),
    );
    if let Some(p) = period {
        ctx.insert("period_label", &p.label(s.lang()));
        ctx.insert("period_code", &p.code());
        ctx.insert("ended", &p.ended(app.reports.today()));
    }
    ctx.insert("as_of", &app.reports.today().to_string());
    ctx
}

/// The page again with the refusal beside its form (400), or the error.
fn refused_page(app: &AppState, s: &Signed, q: &ReportQuery, name: &str, e: AppError) -> Response {
    match refusal(s, &e) {
        Some(why) => {
            let mut ctx = form_context(app, s, q, None);
            ctx.insert("error", &why);
            ctx.insert("sections", &Vec::<serde_json::Value>::new());
            let mut r = page(s, name, ctx);
            *r.status_mut() = StatusCode::BAD_REQUEST;
            r
        }
        None => super::refused(s, e),
    }
}

async fn report(
    app: &AppState,
    s: &Signed,
    q: &ReportQuery,
    by_officer: bool,
) -> Result<IndicatorReport, AppError> {
    let period = period_of(app, q, Period::year_of)?;
    let scope = scope_of(s, q).map_err(|_| AppError::Forbidden("not found".into()))?;
    if by_officer {
        app.reports.indicators_by_officer(period, &scope).await
    } else {
        app.reports.indicators(period, &scope).await
    }
}

/// Each indicator as a section of the page: its words, definition,
/// target and rows.
fn sections(report: &IndicatorReport) -> Vec<serde_json::Value> {
    let pct = |x: f64| format!("{:.1}", x * 100.0);
    crate::domain::indicators::INDICATORS
        .iter()
        .enumerate()
        .map(|(i, ind)| {
            let first_of_kind =
                i == 0 || crate::domain::indicators::INDICATORS[i - 1].national != ind.national;
            let heading = match (first_of_kind, ind.national) {
                (true, true) => Some("national"),
                (true, false) => Some("own"),
                _ => None,
            };
            let mine: Vec<_> = report
                .rows
                .iter()
                .filter(|r| r.indicator == ind.key)
                .collect();
            let target = mine.first().map(|r| r.target).unwrap_or(ind.default_target);
            let rows: Vec<serde_json::Value> = mine
                .iter()
                .map(|r| {
                    let mut v = serde_json::to_value(r).unwrap_or_default();
                    v["share_pct"] = serde_json::json!(r.share.map(pct));
                    v
                })
                .collect();
            serde_json::json!({
                "key": ind.key, "zh": ind.zh, "en": ind.en, "national": ind.national,
                "definition_zh": ind.definition_zh, "definition_en": ind.definition_en,
                "higher_is_better": ind.higher_is_better,
                "target_pct": pct(target), "rows": rows,
                "has_data": mine.iter().any(|r| r.share.is_some()),
                "heading": heading,
            })
        })
        .collect()
}

async fn indicators(State(app): State<AppState>, s: Signed, Query(q): Query<ReportQuery>) -> Page {
    let r = match report(&app, &s, &q, false).await {
        Ok(r) => r,
        Err(e) => return Err(refused_page(&app, &s, &q, "indicators.html", e)),
    };
    let mut ctx = form_context(&app, &s, &q, Some(r.period));
    ctx.insert("sections", &sections(&r));
    Ok(page(&s, "indicators.html", ctx))
}

/// The same figures per officer: for a supervisor (her township's
/// officers) or an administrator, to see who needs help. Officers do not
/// see one another's.
async fn officers(State(app): State<AppState>, s: Signed, Query(q): Query<ReportQuery>) -> Page {
    if s.staff.role == Role::Officer {
        return Err(error_page(
            &s,
            StatusCode::FORBIDDEN,
            super::word(s.lang(), "supervisors_only"),
        ));
    }
    let r = match report(&app, &s, &q, true).await {
        Ok(r) => r,
        Err(e) => return Err(refused_page(&app, &s, &q, "officers.html", e)),
    };
    let mut ctx = form_context(&app, &s, &q, Some(r.period));
    let names: std::collections::BTreeMap<String, String> = app
        .store
        .staff_list()
        .await
        .map_err(|e| super::refused(&s, e.into()))?
        .into_iter()
        .map(|m| (m.code, m.name))
        .collect();
    // One line per officer (by code, not by score), one column per indicator.
    let mut officers: Vec<String> = r.rows.iter().map(|x| x.officer.clone()).collect();
    officers.sort();
    officers.dedup();
    let lines: Vec<serde_json::Value> = officers
        .iter()
        .map(|o| {
            let cells: Vec<serde_json::Value> = crate::domain::indicators::INDICATORS
                .iter()
                .map(|ind| {
                    match r
                        .rows
                        .iter()
                        .find(|x| &x.officer == o && x.indicator == ind.key)
                    {
                        Some(x) => serde_json::json!({
                            "numerator": x.numerator, "denominator": x.denominator,
                            "not_yet_due": x.not_yet_due,
                            "share_pct": x.share.map(|v| format!("{:.1}", v * 100.0)),
                            "met": x.met,
                        }),
                        None => serde_json::json!({}),
                    }
                })
                .collect();
            serde_json::json!({
                "officer": o, "name": names.get(o).cloned().unwrap_or_default(),
                "township": r.rows.iter().find(|x| &x.officer == o).map(|x| x.township.clone()),
                "cells": cells,
            })
        })
        .collect();
    ctx.insert("lines", &lines);
    ctx.insert(
        "columns",
        &crate::domain::indicators::INDICATORS
            .iter()
            .map(|i| serde_json::json!({"key": i.key, "zh": i.zh, "en": i.en, "national": i.national}))
            .collect::<Vec<_>>(),
    );
    ctx.insert("sections", &Vec::<serde_json::Value>::new());
    Ok(page(&s, "officers.html", ctx))
}

async fn indicators_csv(
    State(app): State<AppState>,
    s: Signed,
    Query(q): Query<ReportQuery>,
) -> Page {
    let r = report(&app, &s, &q, false)
        .await
        .map_err(|e| refused_page(&app, &s, &q, "indicators.html", e))?;
    Ok(csv_response(
        &format!("indicators-{}.csv", r.period.code()),
        crate::services::reports::to_csv(&r.rows, s.lang()),
    ))
}

/// One indicator's share per area (and its target), as bars.
async fn indicator_svg(
    State(app): State<AppState>,
    s: Signed,
    Path(file): Path<String>,
    Query(q): Query<ReportQuery>,
) -> Page {
    let Some(key) = file.strip_suffix(".svg") else {
        return Err(not_found(&s));
    };
    let Some(ind) = crate::domain::indicators::INDICATORS
        .iter()
        .find(|i| i.key == key)
    else {
        return Err(not_found(&s));
    };
    let r = report(&app, &s, &q, false)
        .await
        .map_err(|e| super::refused(&s, e))?;
    let rows: Vec<_> = r
        .rows
        .into_iter()
        .filter(|r| r.indicator == ind.key && r.share.is_some())
        .collect();
    let labels = rows
        .iter()
        .map(|r| match r.level {
            "county" => super::word(s.lang(), "county").to_string(),
            "township" => r.township.clone(),
            _ => r.village.clone(),
        })
        .collect();
    // The legend is the page's, in the same words.
    let (share, target) = (
        super::word(s.lang(), "share"),
        super::word(s.lang(), "target"),
    );
    bar_chart(
        s.lang(),
        &rows,
        labels,
        &[
            (share, |r| (r.share.unwrap_or(0.0) * 100.0).round() as i64),
            (target, |r| (r.target * 100.0).round() as i64),
        ],
    )
}

async fn table(
    app: &AppState,
    s: &Signed,
    q: &ReportQuery,
) -> Result<crate::services::reports::QuarterlyTable, AppError> {
    let period = period_of(app, q, Period::previous_quarter)?;
    let scope = scope_of(s, q).map_err(|_| AppError::Forbidden("not found".into()))?;
    app.reports.quarterly(period, &scope, false).await
}

/// The table a township files each quarter, on the page.
async fn quarterly(State(app): State<AppState>, s: Signed, Query(q): Query<ReportQuery>) -> Page {
    let t = match table(&app, &s, &q).await {
        Ok(t) => t,
        Err(e) => return Err(refused_page(&app, &s, &q, "quarterly.html", e)),
    };
    let mut ctx = form_context(&app, &s, &q, Some(t.period));
    let heads: Vec<&str> = TABLE_COLUMNS
        .iter()
        .map(|(_, zh, en)| if s.lang() == "en" { *en } else { *zh })
        .collect();
    ctx.insert("heads", &heads);
    let rows: Vec<serde_json::Value> = t
        .rows
        .iter()
        .map(|r| {
            let (a, b) = r.area(s.lang());
            serde_json::json!({"level": r.level, "township": a, "village": b, "counts": r.counts()})
        })
        .collect();
    ctx.insert("rows", &rows);
    ctx.insert("sections", &Vec::<serde_json::Value>::new());
    Ok(page(&s, "quarterly.html", ctx))
}

async fn quarterly_csv(
    State(app): State<AppState>,
    s: Signed,
    Query(q): Query<ReportQuery>,
) -> Page {
    let t = table(&app, &s, &q)
        .await
        .map_err(|e| refused_page(&app, &s, &q, "quarterly.html", e))?;
    Ok(csv_response(
        &format!("maternal-care-{}.csv", t.period.code()),
        t.to_csv(s.lang()),
    ))
}

async fn quarterly_xlsx(
    State(app): State<AppState>,
    s: Signed,
    Query(q): Query<ReportQuery>,
) -> Page {
    let t = table(&app, &s, &q)
        .await
        .map_err(|e| refused_page(&app, &s, &q, "quarterly.html", e))?;
    let bytes = t.to_xlsx(s.lang()).map_err(|e| super::refused(&s, e))?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"maternal-care-{}.xlsx\"",
                    t.period.code()
                ),
            ),
        ],
        bytes,
    )
        .into_response())
}
