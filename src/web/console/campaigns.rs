//! Creating campaigns and steps, a step's WeChat template message and its
//! cloud SMS providers' templates, from the console (administrators). New campaigns start paused: the
//! administrator previews their texts, then resumes (publishes) them.

use super::{error_page, Signed};
use crate::domain::schedule::{parse_hhmm, TriggerAnchor};
use crate::store::{StepSeed, WechatVariant};
use crate::web::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Form, Router};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/campaigns/new", post(create))
        .route("/campaigns/{key}/steps", post(add_step))
        .route("/campaigns/{key}/steps/{step}/wechat", post(wechat))
        .route("/campaigns/{key}/steps/{step}/sms/{provider}", post(sms))
}

type Page = Result<Response, Response>;

#[derive(Deserialize)]
struct StepForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    campaign_key: String,
    #[serde(default)]
    campaign_name: String,
    #[serde(default)]
    outreach: Option<String>,
    step_key: String,
    anchor: String,
    offset_days: i64,
    send_time: String,
    grace_hours: i64,
    #[serde(default)]
    text_zh: String,
    #[serde(default)]
    text_en: String,
}

fn plain_key(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// (language, text) of a step.
type Texts = Vec<(&'static str, String)>;

/// The step the form describes, checked: keys, anchor, time, texts.
fn step_of(f: &StepForm) -> Result<(TriggerAnchor, Texts), String> {
    if !plain_key(&f.step_key) {
        return Err("step key: lowercase letters, digits and -".into());
    }
    let anchor: TriggerAnchor = f.anchor.parse().map_err(|e| format!("anchor: {e}"))?;
    if parse_hhmm(&f.send_time).is_none() {
        return Err("send time: HH:MM".into());
    }
    if !(1..=24 * 14).contains(&f.grace_hours) {
        return Err("grace: 1 to 336 hours".into());
    }
    let mut texts = vec![];
    for (lang, body) in [("zh-CN", &f.text_zh), ("en", &f.text_en)] {
        let body = body.replace("\r\n", "\n");
        if body.trim().is_empty() {
            continue;
        }
        texts.push((lang, body));
    }
    // Whether each text renders is the campaigns service's to say.
    Ok((anchor, texts))
}

async fn save_step(app: &AppState, s: &Signed, campaign: &str, f: &StepForm, create: bool) -> Page {
    let (anchor, texts) =
        step_of(f).map_err(|e| error_page(s, StatusCode::UNPROCESSABLE_ENTITY, &e))?;
    let seed = StepSeed {
        key: &f.step_key,
        anchor,
        offset_days: f.offset_days,
        send_time: &f.send_time,
        grace_hours: f.grace_hours,
        weekday: None,
        texts: texts.iter().map(|(l, b)| (*l, b.as_str())).collect(),
    };
    let r = if create {
        app.campaigns
            .create(
                campaign,
                &f.campaign_name,
                f.outreach.is_some(),
                &seed,
                &s.staff.code,
            )
            .await
    } else {
        app.campaigns
            .add_step(campaign, &seed, &s.staff.code)
            .await
            .map(|_| ())
    };
    r.map_err(|e| super::refused(s, e))?;
    Ok(Redirect::to(&format!("/campaigns/{campaign}")).into_response())
}

async fn create(State(app): State<AppState>, s: Signed, Form(f): Form<StepForm>) -> Page {
    super::pages::admin_only(&s)?;
    s.check_csrf(&f.csrf)?;
    let key = f.campaign_key.trim().to_string();
    if !plain_key(&key) {
        return Err(error_page(
            &s,
            StatusCode::UNPROCESSABLE_ENTITY,
            "campaign key: lowercase letters, digits and -",
        ));
    }
    save_step(&app, &s, &key, &f, true).await
}

async fn add_step(
    State(app): State<AppState>,
    s: Signed,
    Path(key): Path<String>,
    Form(f): Form<StepForm>,
) -> Page {
    super::pages::admin_only(&s)?;
    s.check_csrf(&f.csrf)?;
    save_step(&app, &s, &key, &f, false).await
}

#[derive(Deserialize)]
struct WechatForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    template_id: String,
    #[serde(default)]
    url: String,
    /// One field per line: `keyword = template`.
    #[serde(default)]
    fields: String,
}

/// One `name = template` per line.
fn pairs(text: &str) -> Result<Vec<(String, String)>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            line.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| format!("{line:?}: write name = template"))
        })
        .collect()
}

#[derive(Deserialize)]
struct SmsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    content: String,
    #[serde(default)]
    params: String,
    #[serde(default)]
    promotional: Option<String>,
}

/// Saves a step's template for a cloud SMS provider (checked against
/// every gateway of that provider); a refusal names the variable.
async fn sms(
    State(app): State<AppState>,
    s: Signed,
    Path((key, step, provider)): Path<(String, String, String)>,
    Form(f): Form<SmsForm>,
) -> Page {
    super::pages::admin_only(&s)?;
    s.check_csrf(&f.csrf)?;
    let refused = |m: String| error_page(&s, StatusCode::UNPROCESSABLE_ENTITY, &m);
    let provider: crate::domain::GatewayKind = provider
        .parse()
        .map_err(|e: crate::domain::UnknownValue| refused(e.to_string()))?;
    let variant = crate::render::SmsVariant {
        step_id: 0,
        provider,
        code: f.code.trim().to_string(),
        content: f.content.replace("\r\n", "\n").trim().to_string(),
        params: pairs(&f.params).map_err(&refused)?,
        promotional: f.promotional.is_some(),
    };
    match app
        .sms_templates
        .set(&key, &step, provider, Some(variant), &s.staff.code)
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/campaigns/{key}?saved=true")).into_response()),
        Err(crate::services::AppError::Refused(m)) => Err(refused(m)),
        Err(e) => Err(super::refused(&s, e)),
    }
}

/// Saves (or, with an empty template id, removes) a step's WeChat
/// template message; a refusal names the field.
async fn wechat(
    State(app): State<AppState>,
    s: Signed,
    Path((key, step)): Path<(String, String)>,
    Form(f): Form<WechatForm>,
) -> Page {
    super::pages::admin_only(&s)?;
    s.check_csrf(&f.csrf)?;
    let variant = if f.template_id.trim().is_empty() {
        None
    } else {
        let fields =
            pairs(&f.fields).map_err(|m| error_page(&s, StatusCode::UNPROCESSABLE_ENTITY, &m))?;
        Some(WechatVariant {
            step_id: 0,
            template_id: f.template_id.trim().to_string(),
            url: Some(f.url.trim().to_string()).filter(|u| !u.is_empty()),
            fields,
        })
    };
    match app
        .wechat
        .set_variant(&key, &step, variant, &s.staff.code)
        .await
    {
        Ok(()) => Ok(Redirect::to(&format!("/campaigns/{key}?saved=true")).into_response()),
        Err(crate::services::AppError::Refused(m)) => Err(error_page(
            &s,
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("WeChat {m}"),
        )),
        Err(e) => Err(super::refused(&s, e)),
    }
}
