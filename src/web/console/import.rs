//! The roster import (administrators: rosters cover the county): a CSV or
//! spreadsheet upload, with a report per row and why a row was refused.

use super::kit::*;
use super::{page, Signed};
use crate::web::AppState;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use tera::Context;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/import", get(import_form).post(import))
}

async fn import_form(Admin(s): Admin) -> Page {
    Ok(import_page(&s, None, None))
}

/// The import page: the columns the importer reads (every name of each),
/// the last file's report, or why a file was refused as a whole (422).
fn import_page(s: &Signed, report: Option<serde_json::Value>, error: Option<String>) -> Response {
    let mut ctx = Context::new();
    ctx.insert("columns", &crate::services::importer::COLUMNS);
    ctx.insert("report", &report);
    let refused = error.is_some();
    ctx.insert("error", &error);
    let mut r = page(s, "import.html", ctx);
    if refused {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    r
}

/// A roster CSV upload (multipart: `csrf`, then `file`).
async fn import(State(app): State<AppState>, Admin(s): Admin, mut form: Multipart) -> Page {
    let (mut csrf, mut bytes, mut name) = (String::new(), None, String::from("roster.csv"));
    while let Ok(Some(field)) = form.next_field().await {
        match field.name() {
            Some("csrf") => csrf = field.text().await.unwrap_or_default(),
            Some("file") => {
                name = field.file_name().unwrap_or("roster.csv").to_string();
                bytes = field.bytes().await.ok();
            }
            _ => {}
        }
    }
    s.check_csrf(&csrf)?;
    let Some(bytes) = bytes.filter(|b| !b.is_empty()) else {
        let why = super::word(s.lang(), "import_choose_file").to_string();
        return Err(import_page(&s, None, Some(why)));
    };
    let source = format!("console:{name}");
    let report = crate::services::importer::import(
        &app.care,
        std::io::Cursor::new(bytes.to_vec()),
        &source,
        &s.staff.code,
        |_| {},
    )
    .await;
    match report {
        Ok(r) => Ok(import_page(
            &s,
            Some(serde_json::json!({
                "file": name, "created": r.created, "unchanged": r.unchanged, "corrected": r.corrected,
                "without_consent": r.without_consent, "graded": r.graded,
                "refused": r.refused.iter().map(|x| serde_json::json!({"line": x.line, "reason": x.reason})).collect::<Vec<_>>(),
                "unknown_officer": r.unknown_officer,
            })),
            None,
        )),
        Err(e) => Err(import_page(&s, None, Some(format!("{name}: {e}")))),
    }
}
