//! Creating campaigns and steps, a step's WeChat template message and its
//! cloud SMS providers' templates, from the console (administrators). New campaigns start paused: the
//! administrator previews their texts, then resumes (publishes) them.

use super::pages::{campaign_page, campaigns_page, Refusal};
use super::{error_page, said_no, Signed};
use crate::domain::schedule::{parse_hhmm, TriggerAnchor};
use crate::store::{StepSeed, WechatVariant};
use crate::web::form::Form;
use crate::web::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::Router;
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
    #[serde(default)]
    step_key: String,
    #[serde(default)]
    anchor: String,
    #[serde(default)]
    offset_days: String,
    #[serde(default)]
    send_time: String,
    #[serde(default)]
    grace_hours: String,
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

/// A step, checked: its anchor, days from it and hours of grace.
struct CheckedStep {
    anchor: TriggerAnchor,
    offset_days: i64,
    grace_hours: i64,
    texts: Texts,
}

/// The step the form describes, checked: keys, anchor, time, texts.
fn step_of(f: &StepForm) -> Result<CheckedStep, String> {
    if !plain_key(&f.step_key) {
        return Err("step key: lowercase letters, digits and -".into());
    }
    let anchor: TriggerAnchor = f.anchor.parse().map_err(|e| format!("anchor: {e}"))?;
    let offset_days: i64 = f
        .offset_days
        .trim()
        .parse()
        .map_err(|_| "days: a whole number, negative for before".to_string())?;
    if parse_hhmm(&f.send_time).is_none() {
        return Err("send time: HH:MM".into());
    }
    let grace_hours = f
        .grace_hours
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|h| (1..=24 * 14).contains(h))
        .ok_or_else(|| "grace: 1 to 336 hours".to_string())?;
    let mut texts = vec![];
    for (lang, body) in [("zh-CN", &f.text_zh), ("en", &f.text_en)] {
        let body = body.replace("\r\n", "\n");
        if body.trim().is_empty() {
            continue;
        }
        texts.push((lang, body));
    }
    // Whether each text renders is the campaigns service's to say.
    Ok(CheckedStep {
        anchor,
        offset_days,
        grace_hours,
        texts,
    })
}

/// What was typed in a step's form, to fill it in again.
fn typed_step(f: &StepForm) -> std::collections::BTreeMap<&'static str, String> {
    [
        ("campaign_key", &f.campaign_key),
        ("campaign_name", &f.campaign_name),
        ("step_key", &f.step_key),
        ("anchor", &f.anchor),
        ("offset_days", &f.offset_days),
        ("send_time", &f.send_time),
        ("grace_hours", &f.grace_hours),
        ("text_zh", &f.text_zh),
        ("text_en", &f.text_en),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.clone()))
    .chain(f.outreach.is_some().then(|| ("outreach", "1".to_string())))
    .collect()
}

/// A refused form of the campaign pages: the page again, the form filled
/// in with what was typed and the reason beside it (422).
async fn form_again(
    app: &AppState,
    s: &Signed,
    campaign: Option<&str>,
    form: String,
    values: std::collections::BTreeMap<&'static str, String>,
    error: String,
) -> Response {
    let refusal = Some(Refusal {
        form,
        error,
        values,
    });
    let page = match campaign {
        Some(key) => campaign_page(app, s, key, None, false, refusal).await,
        None => campaigns_page(app, s, refusal).await,
    };
    match page {
        Ok(r) | Err(r) => r,
    }
}

async fn save_step(app: &AppState, s: &Signed, campaign: &str, f: &StepForm, create: bool) -> Page {
    // A new campaign's form is on the list of campaigns; a new step's on
    // its campaign's page.
    let (page_of, form) = if create {
        (None, "new")
    } else {
        (Some(campaign), "step")
    };
    let again = |error: String| form_again(app, s, page_of, form.to_string(), typed_step(f), error);
    let step = match step_of(f) {
        Ok(step) => step,
        Err(e) => return Err(again(e).await),
    };
    let seed = StepSeed {
        key: &f.step_key,
        anchor: step.anchor,
        offset_days: step.offset_days,
        send_time: &f.send_time,
        grace_hours: step.grace_hours,
        weekday: None,
        texts: step.texts.iter().map(|(l, b)| (*l, b.as_str())).collect(),
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
    if let Err(e) = r {
        return Err(match said_no(e) {
            Ok(why) => again(why).await,
            Err(e) => super::refused(s, e),
        });
    }
    Ok(Redirect::to(&format!("/campaigns/{campaign}")).into_response())
}

async fn create(State(app): State<AppState>, s: Signed, Form(f): Form<StepForm>) -> Page {
    super::pages::admin_only(&s)?;
    s.check_csrf(&f.csrf)?;
    let key = f.campaign_key.trim().to_string();
    if !plain_key(&key) {
        let why = "campaign key: lowercase letters, digits and -".to_string();
        return Err(form_again(&app, &s, None, "new".into(), typed_step(&f), why).await);
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
    let provider: crate::domain::GatewayKind =
        provider.parse().map_err(|e: crate::domain::UnknownValue| {
            error_page(&s, StatusCode::NOT_FOUND, &e.to_string())
        })?;
    let typed: std::collections::BTreeMap<&'static str, String> = [
        ("code", f.code.clone()),
        ("content", f.content.clone()),
        ("params", f.params.clone()),
        ("promotional", f.promotional.clone().unwrap_or_default()),
    ]
    .into_iter()
    .collect();
    let form = format!("sms:{step}:{provider}");
    let again = |why: String| form_again(&app, &s, Some(&key), form.clone(), typed.clone(), why);
    let params = match pairs(&f.params) {
        Ok(p) => p,
        Err(why) => return Err(again(why).await),
    };
    let variant = crate::render::SmsVariant {
        step_id: 0,
        provider,
        code: f.code.trim().to_string(),
        content: f.content.replace("\r\n", "\n").trim().to_string(),
        params,
        promotional: f.promotional.is_some(),
    };
    match app
        .sms_templates
        .set(&key, &step, provider, Some(variant), &s.staff.code)
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/campaigns/{key}?saved=true")).into_response()),
        Err(e) => Err(match said_no(e) {
            Ok(why) => again(why).await,
            Err(e) => super::refused(&s, e),
        }),
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
    let typed: std::collections::BTreeMap<&'static str, String> = [
        ("template_id", f.template_id.clone()),
        ("url", f.url.clone()),
        ("fields", f.fields.clone()),
    ]
    .into_iter()
    .collect();
    let form = format!("wechat:{step}");
    let again = |why: String| form_again(&app, &s, Some(&key), form.clone(), typed.clone(), why);
    let variant = if f.template_id.trim().is_empty() {
        None
    } else {
        let fields = match pairs(&f.fields) {
            Ok(fields) => fields,
            Err(why) => return Err(again(why).await),
        };
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
        Err(e) => Err(match said_no(e) {
            Ok(why) => again(format!("WeChat {why}")).await,
            Err(e) => super::refused(&s, e),
        }),
    }
}
