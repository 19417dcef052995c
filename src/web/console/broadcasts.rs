//! Broadcasts from the console (administrators): an audience chosen by
//! village, township, stage and language, its count and SMS cost and
//! sample texts before anything is saved, then a draft, publish, its
//! progress, and stop. The same service as the CLI and the API.

use super::kit::*;
use super::{error_page, page, Signed};
use crate::services::broadcasts::NewBroadcast;
use crate::store::{Audience, Stage};
use crate::web::form::Form;
use crate::web::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tera::Context;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/broadcasts", get(list).post(submit))
        .route("/broadcasts/{id}", get(show))
        .route("/broadcasts/{id}/publish", post(publish))
        .route("/broadcasts/{id}/stop", post(stop))
}

/// The form, as typed: shown again as it was when refused or previewed.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
struct BroadcastForm {
    csrf: String,
    /// "preview" or "save".
    action: String,
    name: String,
    /// Local time, as a datetime-local field sends it.
    send_at: String,
    /// Village codes, separated by commas or spaces.
    villages: String,
    townships: String,
    /// any, pregnant or postpartum.
    stage: String,
    weeks_from: String,
    weeks_to: String,
    /// Empty: every language.
    language: String,
    text_zh: String,
    text_en: String,
    grace_hours: String,
    /// A cloud SMS provider's promotional template, when one is configured.
    sms_provider: String,
    sms_code: String,
    sms_content: String,
    /// One `variable = template` per line.
    sms_params: String,
}

fn list_of(s: &str) -> Vec<String> {
    s.split([',', ' ', '，', '\n'])
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

/// The request the form describes, or what is wrong with it.
fn request(app: &AppState, f: &BroadcastForm) -> Result<NewBroadcast, String> {
    let tz = app.config.timezone;
    let at = chrono::NaiveDateTime::parse_from_str(f.send_at.trim(), "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(f.send_at.trim(), "%Y-%m-%d %H:%M"))
        .map_err(|_| "send_at: a date and time, such as 2026-12-08 10:00".to_string())?;
    // Weeks left empty: from the first week, to the last (issue 34: 孕期
    // with no weeks meant "any week", and was refused).
    let weeks = |v: &str, what: &str, empty: i64| match v.trim() {
        "" => Ok(empty),
        v => v
            .parse::<i64>()
            .map_err(|_| format!("{what}: a number of weeks")),
    };
    let stage = match f.stage.as_str() {
        "" | "any" => Stage::Any,
        "pregnant" => Stage::Pregnant {
            weeks_from: weeks(&f.weeks_from, "weeks_from", 0)?,
            weeks_to: weeks(&f.weeks_to, "weeks_to", 52)?,
        },
        "postpartum" => Stage::Postpartum {
            weeks_from: weeks(&f.weeks_from, "weeks_from", 0)?,
            weeks_to: weeks(&f.weeks_to, "weeks_to", 52)?,
        },
        other => {
            return Err(format!(
                "stage: {other:?} is not any, pregnant or postpartum"
            ))
        }
    };
    let texts: BTreeMap<String, String> = [("zh-CN", &f.text_zh), ("en", &f.text_en)]
        .into_iter()
        .filter(|(_, t)| !t.trim().is_empty())
        .map(|(l, t)| (l.to_string(), t.replace("\r\n", "\n").trim().to_string()))
        .collect();
    let mut sms_templates = vec![];
    if !f.sms_provider.is_empty() && !f.sms_code.trim().is_empty() {
        let params = f
            .sms_params
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| {
                l.split_once('=')
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .ok_or_else(|| format!("{l:?}: write variable = template"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        sms_templates.push(crate::render::SmsVariant {
            step_id: 0,
            provider: f
                .sms_provider
                .parse()
                .map_err(|e: crate::domain::UnknownValue| e.to_string())?,
            code: f.sms_code.trim().to_string(),
            content: f.sms_content.trim().to_string(),
            params,
            promotional: true,
        });
    }
    Ok(NewBroadcast {
        name: f.name.trim().to_string(),
        audience: Audience {
            villages: list_of(&f.villages),
            townships: list_of(&f.townships),
            stage,
            languages: list_of(&f.language),
            ..Default::default()
        },
        texts,
        send_at: crate::domain::schedule::local_to_utc(tz, at),
        cron: None,
        grace_hours: match f.grace_hours.trim() {
            "" => None,
            g => Some(g.parse().map_err(|_| "grace_hours: a number of hours")?),
        },
        sms_templates,
    })
}

/// The list, the form (as typed), and a preview or an error beside it.
async fn list_page(
    app: &AppState,
    s: &Signed,
    form: &BroadcastForm,
    preview: Option<crate::services::broadcasts::Preview>,
    error: Option<String>,
) -> Page {
    let rows = app
        .store
        .broadcasts()
        .await
        .map_err(|e| super::refused(s, e.into()))?;
    let tz = app.config.timezone;
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|b| {
            serde_json::json!({
                "id": b.id, "name": b.name, "status": b.status,
                "send_at": b.send_at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
                "cron": b.cron,
            })
        })
        .collect();
    let providers: Vec<&str> = app
        .sms_templates
        .needing_templates()
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    let mut ctx = Context::new();
    ctx.insert("broadcasts", &rows);
    ctx.insert("form", form);
    ctx.insert("preview", &preview);
    ctx.insert("error", &error);
    ctx.insert("providers", &providers);
    let mut r = page(s, "broadcasts.html", ctx);
    if error.is_some() {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(r)
}

async fn list(State(app): State<AppState>, Admin(s): Admin) -> Page {
    let now = app.clock.now().with_timezone(&app.config.timezone) + chrono::Duration::days(1);
    let form = BroadcastForm {
        send_at: now.format("%Y-%m-%dT10:00").to_string(),
        grace_hours: "72".into(),
        ..Default::default()
    };
    list_page(&app, &s, &form, None, None).await
}

/// Previews the form (nothing saved) or saves it as a draft.
async fn submit(
    State(app): State<AppState>,
    Admin(s): Admin,
    Form(f): Form<BroadcastForm>,
) -> Page {
    s.check_csrf(&f.csrf)?;
    let req = match request(&app, &f) {
        Ok(r) => r,
        Err(e) => return list_page(&app, &s, &f, None, Some(e)).await,
    };
    let refusal = |e: crate::services::AppError| match e {
        crate::services::AppError::Refused(m) => Ok(m),
        crate::services::AppError::Input(e) => Ok(e.to_string()),
        e => Err(super::refused(&s, e)),
    };
    if f.action == "save" {
        match app.broadcasts.create(&req, &s.staff.code).await {
            Ok((id, _)) => Ok(Redirect::to(&format!("/broadcasts/{id}")).into_response()),
            Err(e) => list_page(&app, &s, &f, None, Some(refusal(e)?)).await,
        }
    } else {
        match app.broadcasts.preview(&req).await {
            Ok(p) => list_page(&app, &s, &f, Some(p), None).await,
            Err(e) => list_page(&app, &s, &f, None, Some(refusal(e)?)).await,
        }
    }
}

async fn show(State(app): State<AppState>, Admin(s): Admin, Path(id): Path<i64>) -> Page {
    let v = app
        .broadcasts
        .view(id)
        .await
        .map_err(|e| super::refused(&s, e))?;
    let tz = app.config.timezone;
    let mut ctx = Context::new();
    ctx.insert("b", &v.broadcast);
    ctx.insert(
        "send_at",
        &v.broadcast
            .send_at
            .with_timezone(&tz)
            .format("%Y-%m-%d %H:%M")
            .to_string(),
    );
    ctx.insert("preview", &v.preview);
    ctx.insert("progress", &v.progress);
    Ok(page(&s, "broadcast.html", ctx))
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn publish(
    State(app): State<AppState>,
    Admin(s): Admin,
    Path(id): Path<i64>,
    Form(f): Form<CsrfOnly>,
) -> Page {
    s.check_csrf(&f.csrf)?;
    match app.broadcasts.publish(id, &s.staff.code).await {
        Ok(_) => Ok(Redirect::to(&format!("/broadcasts/{id}")).into_response()),
        Err(crate::services::AppError::Refused(m)) => {
            Err(error_page(&s, StatusCode::UNPROCESSABLE_ENTITY, &m))
        }
        Err(e) => Err(super::refused(&s, e)),
    }
}

async fn stop(
    State(app): State<AppState>,
    Admin(s): Admin,
    Path(id): Path<i64>,
    Form(f): Form<CsrfOnly>,
) -> Page {
    s.check_csrf(&f.csrf)?;
    app.broadcasts
        .stop(id, &s.staff.code)
        .await
        .map_err(|e| super::refused(&s, e))?;
    Ok(Redirect::to(&format!("/broadcasts/{id}")).into_response())
}
