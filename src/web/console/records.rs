//! Keeping records from the console: register a woman, correct her dates,
//! record visits, births, moves and risk grades. Every
//! change goes through the same `App` calls as the API and the command
//! line (validation, re-planning, audit), acting as the signed-in person,
//! and only for women in her area.

use super::kit::*;
use super::women::woman_page;
use super::{error_page, page, refused, said_no, Signed};
use crate::services::enrollment::EnrollmentInput;
use crate::services::AppError;
use crate::web::form::Form;
use crate::web::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use tera::Context;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/women/new", get(new_woman).post(register))
        .route("/women/{id}/visit", post(visit))
        .route("/women/{id}/birth", post(birth))
        .route("/women/{id}/dates", post(dates))
        .route("/women/{id}/move", post(move_woman))
        .route("/women/{id}/risk", post(grade))
        .route("/women/{id}/transfer", get(transfer_page))
}

async fn in_area(app: &AppState, s: &Signed, woman: i64) -> Result<(), Response> {
    match app.store.woman_in_area(&s.area, woman).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(error_page(s, StatusCode::NOT_FOUND, "not found")),
        Err(e) => Err(refused(s, e.into())),
    }
}

async fn new_woman(s: Signed) -> Page {
    let mut ctx = Context::new();
    ctx.insert("form", &EnrollmentInput::default());
    ctx.insert("error", &None::<String>);
    Ok(page(&s, "register.html", ctx))
}

#[derive(Deserialize)]
struct RegisterForm {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    input: EnrollmentInput,
}

async fn register(State(app): State<AppState>, s: Signed, Form(f): Form<RegisterForm>) -> Page {
    s.check_csrf(&f.csrf)?;
    let input = f.input;
    match app
        .care
        .register_by(&s.staff, input.clone(), "console")
        .await
    {
        Ok(out) => Ok(Redirect::to(&format!("/women/{}", out.woman_id())).into_response()),
        // Refused: the form again, with what was typed and why.
        Err(e @ (AppError::Input(_) | AppError::Refused(_))) => {
            let mut ctx = Context::new();
            ctx.insert("form", &input);
            ctx.insert("error", &Some(e.to_string()));
            let mut r = page(&s, "register.html", ctx);
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Err(r)
        }
        Err(e) => Err(refused(&s, e)),
    }
}

#[derive(Deserialize)]
struct VisitForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    contact: String,
    #[serde(default)]
    on: String,
    #[serde(default)]
    place: String,
    /// done or missed.
    outcome: String,
    #[serde(default)]
    note: String,
}

/// A form of her page refused by a rule (a date in the future, before the
/// pregnancy began): her page again with that form open, what was typed
/// in it, and the reason beside it. Any other failure as before.
async fn form_again(
    app: &AppState,
    s: &Signed,
    id: i64,
    form: &'static str,
    typed: &[(&'static str, &str)],
    e: AppError,
) -> Response {
    match said_no(e) {
        Ok(error) => {
            let refusal = Refusal {
                form: form.to_string(),
                error,
                values: typed.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            };
            match woman_page(app, s, id, Some(refusal)).await {
                Ok(r) | Err(r) => r,
            }
        }
        Err(e) => refused(s, e),
    }
}

#[derive(Deserialize)]
struct RiskForm {
    #[serde(default)]
    csrf: String,
    /// green, yellow, orange, red, or empty (purple alone).
    #[serde(default)]
    colour: String,
    /// The purple checkbox ("on" when ticked).
    #[serde(default)]
    purple: Option<String>,
    /// The infections ticked (one field per box).
    #[serde(default)]
    infections: Vec<String>,
    #[serde(default)]
    on: String,
    #[serde(default)]
    reasons: String,
}

/// Her care team grades (or re-grades) her pregnancy.
async fn grade(
    State(app): State<AppState>,
    s: Signed,
    Path(id): Path<i64>,
    Form(f): Form<RiskForm>,
) -> Page {
    s.check_csrf(&f.csrf)?;
    in_area(&app, &s, id).await?;
    let mut words = f.colour.trim().to_string();
    if f.purple.is_some() || !f.infections.is_empty() {
        words.push_str(" purple");
    }
    let input = crate::services::risk::GradeInput {
        grade: words,
        infections: f.infections.clone(),
        on: opt(&f.on).map(str::to_string),
        reasons: opt(&f.reasons).map(str::to_string),
    };
    if let Err(e) = app
        .risk
        .grade(id, &input, "console", s.staff.code.as_str())
        .await
    {
        let purple = if f.purple.is_some() { "on" } else { "" };
        let typed = [
            ("colour", f.colour.as_str()),
            ("purple", purple),
            ("on", &f.on),
            ("reasons", &f.reasons),
        ];
        return Err(form_again(&app, &s, id, "risk", &typed, e).await);
    }
    Ok(Redirect::to(&format!("/women/{id}")).into_response())
}

fn opt(s: &str) -> Option<&str> {
    Some(s.trim()).filter(|s| !s.is_empty())
}

async fn visit(
    State(app): State<AppState>,
    s: Signed,
    Path(id): Path<i64>,
    Form(f): Form<VisitForm>,
) -> Page {
    s.check_csrf(&f.csrf)?;
    in_area(&app, &s, id).await?;
    let by = s.staff.code.as_str();
    let r = if f.outcome == "missed" {
        app.care.mark_missed(id, opt(&f.contact), by).await
    } else {
        app.care
            .record_visit(
                id,
                opt(&f.contact),
                opt(&f.on),
                by,
                opt(&f.place),
                opt(&f.note),
            )
            .await
    };
    if let Err(e) = r {
        let typed = [
            ("contact", f.contact.as_str()),
            ("on", &f.on),
            ("place", &f.place),
            ("note", &f.note),
        ];
        return Err(form_again(&app, &s, id, "visit", &typed, e).await);
    }
    Ok(Redirect::to(&format!("/women/{id}")).into_response())
}

#[derive(Deserialize)]
struct BirthForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    on: String,
    #[serde(default)]
    place: String,
    #[serde(default)]
    live_birth: Option<String>,
    #[serde(default)]
    live_born: String,
    #[serde(default)]
    discharged_on: String,
}

async fn birth(
    State(app): State<AppState>,
    s: Signed,
    Path(id): Path<i64>,
    Form(f): Form<BirthForm>,
) -> Page {
    s.check_csrf(&f.csrf)?;
    in_area(&app, &s, id).await?;
    let live = f.live_birth.as_deref() != Some("no");
    // An empty number field means "not given"; anything else must be a number.
    let live_born = match f.live_born.trim() {
        "" => Ok(None),
        n => n.parse::<i64>().map(Some).map_err(|_| {
            crate::services::AppError::Refused(format!("live_born: {n:?} is not a number"))
        }),
    };
    let r = match live_born {
        Ok(live_born) => {
            let birth = crate::services::care::BirthInput {
                on: f.on.clone(),
                place: opt(&f.place).map(str::to_string),
                live_birth: live,
                // A stillbirth's form may still carry the default 1.
                live_born: if live { live_born } else { None },
                discharged_on: opt(&f.discharged_on).map(str::to_string),
            };
            app.care.record_birth(id, &birth, &s.staff.code).await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = r {
        let outcome = f.live_birth.as_deref().unwrap_or("yes");
        let typed = [
            ("on", f.on.as_str()),
            ("place", &f.place),
            ("live_birth", outcome),
            ("live_born", &f.live_born),
            ("discharged_on", &f.discharged_on),
        ];
        return Err(form_again(&app, &s, id, "birth", &typed, e).await);
    }
    Ok(Redirect::to(&format!("/women/{id}")).into_response())
}

#[derive(Deserialize)]
struct DatesForm {
    #[serde(default)]
    csrf: String,
    pregnancy_id: i64,
    #[serde(default)]
    lmp: String,
    #[serde(default)]
    edd: String,
}

async fn dates(
    State(app): State<AppState>,
    s: Signed,
    Path(id): Path<i64>,
    Form(f): Form<DatesForm>,
) -> Page {
    s.check_csrf(&f.csrf)?;
    in_area(&app, &s, id).await?;
    let owned = app
        .store
        .pregnancies_of(id)
        .await
        .map_err(|e| refused(&s, e.into()))?
        .iter()
        .any(|p| p.id == f.pregnancy_id);
    if !owned {
        return Err(error_page(&s, StatusCode::NOT_FOUND, "not found"));
    }
    if let Err(e) = app
        .care
        .correct_dates(f.pregnancy_id, opt(&f.lmp), opt(&f.edd), &s.staff.code)
        .await
    {
        let typed = [("lmp", f.lmp.as_str()), ("edd", &f.edd)];
        return Err(form_again(&app, &s, id, "dates", &typed, e).await);
    }
    Ok(Redirect::to(&format!("/women/{id}")).into_response())
}

#[derive(Deserialize)]
struct MoveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    on: String,
    #[serde(default)]
    officer: String,
    #[serde(default)]
    village: String,
    #[serde(default)]
    destination: String,
}

/// She moved: within the county (her page again, now the new officer's)
/// or to another county (her printable referral summary).
async fn move_woman(
    State(app): State<AppState>,
    s: Signed,
    Path(id): Path<i64>,
    Form(f): Form<MoveForm>,
) -> Page {
    s.check_csrf(&f.csrf)?;
    in_area(&app, &s, id).await?;
    let input = crate::services::moves::MoveInput {
        by: None,
        on: opt(&f.on).map(str::to_string),
        officer: opt(&f.officer).map(str::to_string),
        village: opt(&f.village).map(str::to_string),
        destination: opt(&f.destination).map(str::to_string),
    };
    if let Err(e) = app.moves.record(id, &input, &s.staff.code).await {
        let typed = [
            ("on", f.on.as_str()),
            ("officer", &f.officer),
            ("village", &f.village),
            ("destination", &f.destination),
        ];
        return Err(form_again(&app, &s, id, "move", &typed, e).await);
    }
    if input.destination.is_some() {
        return Ok(Redirect::to(&format!("/women/{id}/transfer")).into_response());
    }
    // She may now be outside this officer's area: the women's list then.
    match app.store.woman_in_area(&s.area, id).await {
        Ok(true) => Ok(Redirect::to(&format!("/women/{id}")).into_response()),
        _ => Ok(Redirect::to("/women").into_response()),
    }
}

/// The referral summary of a woman who moved away, to print (zh-CN/en).
async fn transfer_page(State(app): State<AppState>, s: Signed, Path(id): Path<i64>) -> Page {
    in_area(&app, &s, id).await?;
    let summary = app
        .moves
        .summary(id, &s.staff.code)
        .await
        .map_err(|e| refused(&s, e))?;
    let today = crate::domain::schedule::local_date(app.config.timezone, app.clock.now());
    let mut ctx = Context::new();
    ctx.insert("s", &summary);
    ctx.insert("woman_id", &id);
    ctx.insert("today", &today.to_string());
    Ok(page(&s, "transfer.html", ctx))
}
