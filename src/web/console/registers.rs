//! Hospitals' delivery registers and clinics' check-up registers in the
//! console (issue 33): an administrator uploads one, reads what it
//! recorded and refused, and decides each row careminder could not match
//! to one woman: she is this woman, register her from the row, or the row
//! is for no one followed here, each with a reason that is kept.

use super::kit::*;
use super::{page, refused, word, Signed};
use crate::services::registers::{self, Decision, Kind};
use crate::web::form::Form;
use crate::web::AppState;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use tera::Context;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/registers", get(registers_page).post(upload))
        .route("/registers/{id}/decide", post(decide))
}

/// A refused decision, shown beside its row.
#[derive(Default, serde::Serialize)]
struct RowRefusal {
    row: i64,
    error: String,
}

async fn render(
    app: &AppState,
    s: &Signed,
    report: Option<serde_json::Value>,
    error: Option<String>,
    row_refusal: Option<RowRefusal>,
) -> Page {
    let rows = registers::waiting(&app.care)
        .await
        .map_err(|e| refused(s, e))?
        .into_iter()
        .map(|r| {
            let fields: std::collections::BTreeMap<String, String> =
                serde_json::from_str(&r.fields).unwrap_or_default();
            serde_json::json!({
                "id": r.id, "kind": r.kind, "source": r.source, "line": r.line,
                "fields": fields, "reason": r.reason,
            })
        })
        .collect::<Vec<_>>();
    let mut ctx = Context::new();
    ctx.insert("rows", &rows);
    ctx.insert("report", &report);
    let status = if error.is_some() || row_refusal.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    ctx.insert("error", &error);
    ctx.insert("row_refusal", &row_refusal.unwrap_or_default());
    let mut r = page(s, "registers.html", ctx);
    *r.status_mut() = status;
    Ok(r)
}

async fn registers_page(State(app): State<AppState>, Admin(s): Admin) -> Page {
    render(&app, &s, None, None, None).await
}

/// A register upload (multipart: `csrf`, `kind`, then `file`).
async fn upload(State(app): State<AppState>, Admin(s): Admin, mut form: Multipart) -> Page {
    let (mut csrf, mut kind, mut bytes) = (String::new(), String::new(), None);
    let mut name = String::from("register.csv");
    while let Ok(Some(field)) = form.next_field().await {
        match field.name() {
            Some("csrf") => csrf = field.text().await.unwrap_or_default(),
            Some("kind") => kind = field.text().await.unwrap_or_default(),
            Some("file") => {
                name = field.file_name().unwrap_or("register.csv").to_string();
                bytes = field.bytes().await.ok();
            }
            _ => {}
        }
    }
    s.check_csrf(&csrf)?;
    let Some(kind) = Kind::parse(kind.trim()) else {
        let why = word(s.lang(), "reg_choose_kind").to_string();
        return Err(render(&app, &s, None, Some(why), None).await?);
    };
    let Some(bytes) = bytes.filter(|b| !b.is_empty()) else {
        let why = word(s.lang(), "import_choose_file").to_string();
        return Err(render(&app, &s, None, Some(why), None).await?);
    };
    let report = registers::import(
        &app.care,
        kind,
        std::io::Cursor::new(bytes.to_vec()),
        &format!("console:{name}"),
        &s.staff.code,
    )
    .await;
    match report {
        Ok(r) => {
            let report = serde_json::json!({
                "file": name, "kind": kind.as_str(), "recorded": r.recorded,
                "already_recorded": r.already_recorded, "waiting": r.waiting.len(),
                "already_listed": r.already_listed,
                "refused": r.refused.iter().map(|x| serde_json::json!({"line": x.line, "reason": x.reason})).collect::<Vec<_>>(),
            });
            render(&app, &s, Some(report), None, None).await
        }
        Err(e) => Err(render(&app, &s, None, Some(format!("{name}: {e}")), None).await?),
    }
}

#[derive(Deserialize)]
struct DecideForm {
    #[serde(default)]
    csrf: String,
    /// match, register or dismiss (the button pressed).
    #[serde(default)]
    action: String,
    /// For `match`: the registered woman she is.
    #[serde(default)]
    woman_id: Option<i64>,
    #[serde(default)]
    reason: String,
}

async fn decide(
    State(app): State<AppState>,
    Admin(s): Admin,
    Path(id): Path<i64>,
    Form(f): Form<DecideForm>,
) -> Page {
    s.check_csrf(&f.csrf)?;
    let decision = match (f.action.as_str(), f.woman_id) {
        ("match", Some(woman_id)) => Decision::Match { woman_id },
        ("match", None) => {
            let e = RowRefusal {
                row: id,
                error: word(s.lang(), "reg_which_woman").to_string(),
            };
            return Err(render(&app, &s, None, None, Some(e)).await?);
        }
        ("register", _) => Decision::Register {
            input: Box::default(),
        },
        _ => Decision::Dismiss,
    };
    match registers::decide(&app.care, id, &decision, &f.reason, &s.staff.code).await {
        Ok(_) => Ok(Redirect::to("/registers").into_response()),
        Err(e) => match super::said_no(e) {
            Ok(error) => {
                let e = RowRefusal { row: id, error };
                Err(render(&app, &s, None, None, Some(e)).await?)
            }
            Err(e) => Err(refused(&s, e)),
        },
    }
}
