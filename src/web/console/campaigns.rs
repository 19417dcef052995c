//! Campaigns from the console (administrators): the list, each step's
//! texts per language with their versions and live preview, publish and
//! pause; new campaigns and steps, a step's WeChat template message and
//! its cloud SMS providers' templates. New campaigns start paused: the
//! administrator previews their texts, then resumes (publishes) them.

use super::kit::*;
use super::{error_page, page, said_no, Signed};
use crate::domain::schedule::{parse_hhmm, TriggerAnchor};
use crate::store::{StepSeed, WechatVariant};
use crate::web::form::{Form, Query};
use crate::web::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tera::Context;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/campaigns", get(campaigns))
        .route("/campaigns/{key}", get(campaign))
        .route("/campaigns/{key}/status", post(campaign_status))
        .route("/campaigns/{key}/steps/{step}/text", post(save_text))
        .route("/campaigns/{key}/steps/{step}/versions", get(versions))
        .route("/preview", post(preview))
        .route("/campaigns/new", post(create))
        .route("/campaigns/{key}/steps", post(add_step))
        .route("/campaigns/{key}/steps/{step}/wechat", post(wechat))
        .route("/campaigns/{key}/steps/{step}/sms/{provider}", post(sms))
}

async fn campaigns(State(app): State<AppState>, Admin(s): Admin) -> Page {
    campaigns_page(&app, &s, None).await
}

/// The campaigns; after a refused new campaign, with its form again (422).
async fn campaigns_page(app: &AppState, s: &Signed, refusal: Option<Refusal>) -> Page {
    let rows: Vec<serde_json::Value> = app
        .store
        .campaigns()
        .await
        .map_err(internal)?
        .into_iter()
        .filter(|(key, ..)| !key.starts_with("broadcast:"))
        .map(|(key, name, status, outreach, steps)| {
            let name = campaign_title(s, &key, &name);
            serde_json::json!({"key": key, "name": name, "status": status, "outreach": outreach, "steps": steps})
        })
        .collect();
    let mut ctx = Context::new();
    ctx.insert("campaigns", &rows);
    let refused = refusal.is_some();
    let refusal = refusal.unwrap_or_default();
    ctx.insert("step_values", &refusal.values);
    ctx.insert("step_error", &refusal.error);
    let mut r = page(s, "campaigns.html", ctx);
    if refused {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(r)
}

/// The editor: each step's texts per language, with live preview.
pub(super) async fn campaign_page(
    app: &AppState,
    s: &Signed,
    key: &str,
    error: Option<(i64, String, String, String)>,
    saved: bool,
    refusal: Option<Refusal>,
) -> Page {
    let all = app.store.campaigns().await.map_err(internal)?;
    let Some((_, name, status, ..)) = all.into_iter().find(|(k, ..)| k == key) else {
        return Err(not_found(s));
    };
    let variants = app.store.wechat_variants().await.map_err(internal)?;
    let sms_variants = app.store.sms_variants().await.map_err(internal)?;
    // The cloud SMS providers configured: each step needs their templates.
    let mut providers: Vec<&'static str> = app
        .sms_templates
        .needing_templates()
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    providers.dedup();
    let steps: Vec<serde_json::Value> = app
        .store
        .campaign_steps_for_edit(key)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|st| {
            let texts: Vec<serde_json::Value> = crate::render::LANGUAGES
                .iter()
                .map(|lang| {
                    let saved_body = st.texts.iter().find(|(l, _)| l == lang).map(|(_, b)| b.clone());
                    // A refused text stays in the field, with its error beside it.
                    let (body, err) = match &error {
                        Some((step_id, l, body, e)) if *step_id == st.id && l == lang => {
                            (Some(body.clone()), Some(e.clone()))
                        }
                        _ => (saved_body, None),
                    };
                    serde_json::json!({"language": lang, "body": body.unwrap_or_default(), "error": err})
                })
                .collect();
            let wechat: Option<WechatVariant> = variants.iter().find(|v| v.step_id == st.id).cloned();
            let sms: Vec<serde_json::Value> = providers
                .iter()
                .map(|p| {
                    let v = sms_variants.iter().find(|v| v.step_id == st.id && v.provider.as_str() == *p);
                    serde_json::json!({"provider": p, "template": v})
                })
                .collect();
            serde_json::json!({
                "id": st.id, "key": st.key, "anchor": st.anchor, "offset_days": st.offset_days,
                "send_time": st.send_time, "grace_hours": st.grace_hours, "texts": texts, "wechat": wechat,
                "sms": sms,
            })
        })
        .collect();
    let mut ctx = Context::new();
    ctx.insert("key", key);
    ctx.insert("name", &campaign_title(s, key, &name));
    ctx.insert("status", &status);
    ctx.insert("steps", &steps);
    ctx.insert("saved", &saved);
    ctx.insert("signature", &app.config.sms_signature);
    let refused = error.is_some() || refusal.is_some();
    let refusal = refusal.unwrap_or_default();
    // The add-a-step form, filled in again after a refusal.
    let (step_values, step_error) = if refusal.form == "step" {
        (refusal.values.clone(), refusal.error.clone())
    } else {
        (Default::default(), String::new())
    };
    ctx.insert("step_values", &step_values);
    ctx.insert("step_error", &step_error);
    ctx.insert("refusal", &refusal);
    let mut r = page(s, "campaign.html", ctx);
    if refused {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(r)
}

#[derive(Deserialize, Default)]
struct SavedQuery {
    #[serde(default)]
    saved: bool,
}

async fn campaign(
    State(app): State<AppState>,
    Admin(s): Admin,
    Path(key): Path<String>,
    Query(q): Query<SavedQuery>,
) -> Page {
    campaign_page(&app, &s, &key, None, q.saved, None).await
}

#[derive(Deserialize)]
struct TextForm {
    #[serde(default)]
    csrf: String,
    language: String,
    body: String,
}

async fn save_text(
    State(app): State<AppState>,
    Admin(s): Admin,
    Path((key, step)): Path<(String, String)>,
    Form(f): Form<TextForm>,
) -> Page {
    s.check_csrf(&f.csrf)?;
    let step_id = match app.store.step_id(&key, &step).await {
        Ok(id) => id,
        Err(_) => return Err(not_found(&s)),
    };
    match app
        .campaigns
        .save_text(&key, &step, &f.language, &f.body, &s.staff.code)
        .await
    {
        Ok(_) => {}
        // Refused: the page again, with what was typed and why.
        Err(crate::services::AppError::Refused(e)) => {
            let body = f.body.replace("\r\n", "\n");
            return campaign_page(
                &app,
                &s,
                &key,
                Some((step_id, f.language, body, e)),
                false,
                None,
            )
            .await;
        }
        Err(e) => return Err(super::refused(&s, e)),
    }
    Ok(Redirect::to(&format!("/campaigns/{key}?saved=true#step-{step_id}")).into_response())
}

#[derive(Deserialize)]
struct StatusForm {
    #[serde(default)]
    csrf: String,
    status: String,
}

async fn campaign_status(
    State(app): State<AppState>,
    Admin(s): Admin,
    Path(key): Path<String>,
    Form(f): Form<StatusForm>,
) -> Page {
    s.check_csrf(&f.csrf)?;
    let state: crate::services::campaigns::CampaignState =
        f.status.parse().map_err(|e| super::refused(&s, e))?;
    app.campaigns
        .set_state(&key, state, &s.staff.code)
        .await
        .map_err(|e| super::refused(&s, e))?;
    Ok(Redirect::to(&format!("/campaigns/{key}")).into_response())
}

#[derive(Deserialize)]
struct VersionsQuery {
    language: String,
}

async fn versions(
    State(app): State<AppState>,
    Admin(s): Admin,
    Path((key, step)): Path<(String, String)>,
    Query(q): Query<VersionsQuery>,
) -> Page {
    let Ok(step_id) = app.store.step_id(&key, &step).await else {
        return Err(not_found(&s));
    };
    let tz = app.config.timezone;
    let vs = app
        .store
        .text_versions(step_id, &q.language)
        .await
        .map_err(internal)?;
    let mut rows = vec![];
    for (i, v) in vs.iter().enumerate() {
        // The change from the version before (the oldest: from nothing).
        let before = vs.get(i + 1).map(|p| p.body.as_str()).unwrap_or("");
        let diff = similar::TextDiff::from_chars(before, &v.body);
        let parts: Vec<serde_json::Value> = diff
            .iter_all_changes()
            .map(|c| {
                let tag = match c.tag() {
                    similar::ChangeTag::Delete => "del",
                    similar::ChangeTag::Insert => "ins",
                    similar::ChangeTag::Equal => "eq",
                };
                serde_json::json!({"tag": tag, "text": c.value()})
            })
            .collect();
        rows.push(serde_json::json!({
            "id": v.id, "by": v.changed_by, "body": v.body, "diff": parts,
            "at": v.changed_at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
        }));
    }
    let mut ctx = Context::new();
    ctx.insert("key", &key);
    ctx.insert("step", &step);
    ctx.insert("language", &q.language);
    ctx.insert("versions", &rows);
    Ok(page(&s, "versions.html", ctx))
}

#[derive(Deserialize)]
struct PreviewBody {
    body: String,
    language: String,
}

/// The live preview: the text rendered for the sample woman, its length
/// and SMS parts (with the signature), or the error as it would be shown.
async fn preview(
    State(app): State<AppState>,
    Admin(s): Admin,
    headers: HeaderMap,
    Json(p): Json<PreviewBody>,
) -> Page {
    let token = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    s.check_csrf(token)?;
    let out = match crate::render::validate(&p.body.replace("\r\n", "\n"), &p.language) {
        Ok(text) => {
            let full = format!("{}{}", app.config.sms_signature, text);
            let m = crate::domain::sms::measure(&full);
            serde_json::json!({
                "ok": true, "text": full, "chars": full.chars().count(), "parts": m.parts,
                "encoding": super::word(s.lang(), match m.encoding {
                    crate::domain::sms::Encoding::Gsm7 => "encoding_gsm7",
                    crate::domain::sms::Encoding::Ucs2 => "encoding_ucs2",
                }),
            })
        }
        Err(e) => serde_json::json!({"ok": false, "error": e.to_string()}),
    };
    Ok(Json(out).into_response())
}

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

async fn create(State(app): State<AppState>, Admin(s): Admin, Form(f): Form<StepForm>) -> Page {
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
    Admin(s): Admin,
    Path(key): Path<String>,
    Form(f): Form<StepForm>,
) -> Page {
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
    Admin(s): Admin,
    Path((key, step, provider)): Path<(String, String, String)>,
    Form(f): Form<SmsForm>,
) -> Page {
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
    Admin(s): Admin,
    Path((key, step)): Path<(String, String)>,
    Form(f): Form<WechatForm>,
) -> Page {
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
