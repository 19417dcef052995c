//! Broadcasts: a short message to an audience on a chosen day ("free
//! check-ups are at the township health centre every Tuesday"). Created as
//! a draft with a preview (how many women, how many SMS parts, sample
//! texts), published into the outbox, followed, and stopped at any moment.
//! They are outreach: sent after reminders and under each woman's
//! frequency cap, through the same send window, consent and opt-out.

use super::{AppError, Waker};
use crate::domain::schedule::local_date;
use crate::render::{render_one, validate, MessageContext, LANGUAGES};
use crate::store::{Audience, BroadcastRow, Stage, StatusCount};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What an administrator asks for.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewBroadcast {
    pub name: String,
    #[serde(default)]
    pub audience: Audience,
    /// Text per language (Tera, the same variables as reminders).
    pub texts: BTreeMap<String, String>,
    /// When it goes out (inside the send window); when it starts, if recurring.
    pub send_at: DateTime<Utc>,
    /// Recurring: a cron expression in local time, seconds first
    /// ("0 0 10 * * Tue": Tuesdays at 10:00).
    #[serde(default)]
    pub cron: Option<String>,
    /// Hours after `send_at` it stops being worth sending (default 72).
    #[serde(default)]
    pub grace_hours: Option<i64>,
    /// The approved promotional template for each cloud SMS provider
    /// configured (Aliyun, Tencent), which send no free text.
    #[serde(default)]
    pub sms_templates: Vec<crate::render::SmsVariant>,
}

/// What it would do: checked before anything is published.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub recipients: i64,
    pub by_language: BTreeMap<String, i64>,
    /// SMS parts it costs (the longest sample of each language, times its women).
    pub sms_parts: i64,
    pub samples: Vec<Sample>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub woman_id: i64,
    pub language: String,
    pub text: String,
    pub parts: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct BroadcastView {
    #[serde(flatten)]
    pub broadcast: BroadcastRow,
    pub preview: Option<Preview>,
    pub progress: Vec<StatusCount>,
}

const DEFAULT_GRACE_HOURS: i64 = 72;
const SAMPLES_PER_LANGUAGE: i64 = 3;

fn refused(reason: impl Into<String>) -> AppError {
    AppError::Refused(reason.into())
}

/// Checks a request: every text compiles and renders, the audience makes sense.
fn check(b: &NewBroadcast, now: DateTime<Utc>) -> Result<(), AppError> {
    if b.name.trim().is_empty() {
        return Err(refused("name: give the broadcast a name"));
    }
    if b.texts.is_empty() {
        return Err(refused(
            "texts: give a text in at least one language (zh-CN, en)",
        ));
    }
    for (lang, body) in &b.texts {
        validate(body, lang).map_err(|e| refused(format!("texts.{lang}: {e}")))?;
    }
    let a = &b.audience;
    for l in &a.languages {
        if !LANGUAGES.contains(&l.as_str()) {
            return Err(refused(format!(
                "audience.languages: unknown language {l:?}"
            )));
        }
    }
    if let Some(c) = &a.channel {
        if c != "sms" && c != "wechat" {
            return Err(refused(format!(
                "audience.channel: {c:?} is not sms or wechat"
            )));
        }
    }
    if let Stage::Pregnant {
        weeks_from,
        weeks_to,
    }
    | Stage::Postpartum {
        weeks_from,
        weeks_to,
    } = a.stage
    {
        if weeks_from < 0 || weeks_to < weeks_from || weeks_to > 52 {
            return Err(refused(format!(
                "audience.stage: weeks {weeks_from}-{weeks_to} must run forwards within 0-52"
            )));
        }
    }
    if b.send_at < now - chrono::Duration::minutes(1) {
        return Err(refused("send_at: in the past"));
    }
    if let Some(c) = &b.cron {
        use std::str::FromStr;
        cron::Schedule::from_str(c).map_err(|e| {
            refused(format!(
                "cron: {e} (six fields, seconds first: \"0 0 10 * * Tue\")"
            ))
        })?;
    }
    if b.grace_hours.is_some_and(|g| g < 1) {
        return Err(refused("grace_hours: at least 1"));
    }
    Ok(())
}

/// Broadcasts: preview, create, publish, stop, and recurring occurrences.
#[derive(Clone)]
pub struct Broadcasts {
    pub(crate) store: crate::store::Store,
    pub(crate) clock: crate::clock::Clock,
    pub(crate) config: std::sync::Arc<crate::config::Config>,
    pub(crate) templates: super::sms_templates::SmsTemplates,
    pub(crate) wake: Waker,
}

impl Broadcasts {
    /// A broadcast's templates: one for every cloud SMS gateway configured,
    /// promotional (it is outreach), checked like a campaign step's.
    fn check_templates(&self, b: &NewBroadcast) -> Result<(), AppError> {
        for (kind, rules) in self.templates.needing_templates() {
            if !b.sms_templates.iter().any(|v| v.provider == kind) {
                return Err(refused(format!(
                    "sms_templates: gateway {} ({}) sends only approved templates: give the broadcast's promotional template for it",
                    rules.gateway,
                    kind.as_str()
                )));
            }
        }
        for v in &b.sms_templates {
            self.templates.check(v, true)?;
        }
        Ok(())
    }

    /// How many women a broadcast would reach, what it costs, and how it reads.
    pub async fn preview(&self, b: &NewBroadcast) -> Result<Preview, AppError> {
        check(b, self.clock.now())?;
        let tz = self.config.timezone;
        let on = local_date(tz, b.send_at);
        let counts = self.store.audience_counts(&b.audience, on).await?;
        let mut preview = Preview {
            recipients: counts.iter().map(|(_, n)| n).sum(),
            by_language: counts.iter().cloned().collect(),
            sms_parts: 0,
            samples: vec![],
        };
        for (lang, n) in &counts {
            let (text_lang, body) = match b.texts.get(lang) {
                Some(body) => (lang.as_str(), body),
                None => b
                    .texts
                    .get_key_value(crate::render::FALLBACK_LANGUAGE)
                    .or_else(|| b.texts.iter().next())
                    .map(|(l, t)| (l.as_str(), t))
                    .expect("checked: one text at least"),
            };
            let only = Audience {
                languages: vec![lang.clone()],
                ..b.audience.clone()
            };
            let mut longest = 1;
            for w in self
                .store
                .audience_sample(&only, on, SAMPLES_PER_LANGUAGE)
                .await?
            {
                let ctx = MessageContext {
                    name: w.name.clone(),
                    clinic: self.config.clinic_for(w.village.as_deref()).to_string(),
                    weeks: w
                        .lmp
                        .map(|l| (on - l).num_days().div_euclid(7))
                        .unwrap_or_default(),
                    ..Default::default()
                };
                let text = render_one(body, &ctx)
                    .map_err(|e| refused(format!("texts.{text_lang}: {e}")))?;
                let full = format!("{}{}", self.config.sms_signature, text);
                let parts = crate::domain::sms::measure(&full).parts;
                longest = longest.max(parts);
                preview.samples.push(Sample {
                    woman_id: w.woman_id,
                    language: lang.clone(),
                    text: full,
                    parts,
                });
            }
            preview.sms_parts += n * longest as i64;
        }
        Ok(preview)
    }

    /// Saves a draft (nothing is sent until it is published) and previews it.
    pub async fn create(&self, b: &NewBroadcast, actor: &str) -> Result<(i64, Preview), AppError> {
        let preview = self.preview(b).await?;
        self.check_templates(b)?;
        let texts: Vec<(String, String)> = b
            .texts
            .iter()
            .map(|(l, t)| (l.clone(), t.clone()))
            .collect();
        let now = self.clock.now();
        let id = self
            .store
            .create_broadcast(
                b.name.trim(),
                &b.audience,
                &texts,
                b.send_at,
                b.cron.as_deref(),
                b.grace_hours.unwrap_or(DEFAULT_GRACE_HOURS),
                actor,
                now,
            )
            .await?;
        if !b.sms_templates.is_empty() {
            let step_id = self.store.broadcast(id).await?.step_id;
            for v in &b.sms_templates {
                let v = crate::render::SmsVariant {
                    step_id,
                    ..v.clone()
                };
                self.store
                    .set_sms_variant(step_id, v.provider, Some(&v), actor, now)
                    .await?;
            }
        }
        self.store
            .audit(
                now,
                actor,
                "broadcast_create",
                &format!("broadcast:{id}"),
                &format!("{} recipients", preview.recipients),
            )
            .await?;
        Ok((id, preview))
    }

    /// Publishes a draft: its messages enter the outbox at once, to the
    /// audience as it is on the day they go out. Returns how many.
    pub async fn publish(&self, id: i64, actor: &str) -> Result<u64, AppError> {
        let now = self.clock.now();
        let b = self.store.broadcast(id).await?;
        let on = local_date(self.config.timezone, b.send_at.max(now));
        let n = self.store.publish_broadcast(&b, on, now).await?;
        self.store
            .audit(
                now,
                actor,
                "broadcast_publish",
                &format!("broadcast:{id}"),
                &format!("{n} messages planned"),
            )
            .await?;
        tracing::info!(broadcast_id = id, messages = n, "broadcast published");
        self.wake.wake();
        Ok(n)
    }

    /// Plans the coming occurrences of recurring broadcasts, each to its
    /// audience as it is on that day, up to the planner's horizon. An
    /// occurrence is planned once, however often this runs.
    pub async fn plan_recurring(&self, now: DateTime<Utc>) -> Result<u64, AppError> {
        let tz = self.config.timezone;
        let until = now + chrono::Duration::hours(self.config.planner.horizon_hours);
        let mut planned = 0;
        let mut failed = vec![];
        for b in self.store.recurring_broadcasts().await? {
            // One broken broadcast is logged and skipped; the others are planned.
            match self.plan_occurrences_of(&b, now, until, tz).await {
                Ok(n) => planned += n,
                Err(e) => {
                    tracing::error!(broadcast_id = b.id, error = %e, "recurring broadcast could not be planned");
                    failed.push(b.id);
                }
            }
        }
        if !failed.is_empty() {
            return Err(AppError::Refused(format!(
                "recurring broadcast(s) {failed:?} could not be planned"
            )));
        }
        Ok(planned)
    }

    /// Plans one recurring broadcast's occurrences that came into the horizon.
    async fn plan_occurrences_of(
        &self,
        b: &BroadcastRow,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        tz: chrono_tz::Tz,
    ) -> Result<u64, AppError> {
        use std::str::FromStr;
        let Some(expr) = &b.cron else { return Ok(0) };
        let schedule = cron::Schedule::from_str(expr)
            .map_err(|e| AppError::Config(format!("broadcast {} cron: {e}", b.id)))?;
        // From the later of its start and what is planned; never backwards.
        let from = b
            .planned_until
            .unwrap_or_else(|| {
                b.published_at.unwrap_or(now).max(b.send_at) - chrono::Duration::seconds(1)
            })
            .max(now - chrono::Duration::seconds(1));
        let occurrences: Vec<_> = schedule
            .after(&from.with_timezone(&tz))
            .map(|t| t.with_timezone(&Utc))
            .take_while(|t| *t <= until)
            .filter(|t| *t >= b.send_at)
            .map(|t| (t, local_date(tz, t)))
            .collect();
        // Nothing new in the horizon: nothing to write (keys make any
        // later re-planning of the same occurrences a no-op anyway).
        if occurrences.is_empty() {
            return Ok(0);
        }
        Ok(self
            .store
            .plan_occurrences(b, &occurrences, until, now)
            .await?)
    }

    /// Stops a broadcast: what has not gone out never will.
    pub async fn stop(&self, id: i64, actor: &str) -> Result<u64, AppError> {
        let now = self.clock.now();
        let n = self.store.stop_broadcast(id, now).await?;
        self.store
            .audit(
                now,
                actor,
                "broadcast_stop",
                &format!("broadcast:{id}"),
                &format!("{n} messages cancelled"),
            )
            .await?;
        tracing::info!(broadcast_id = id, cancelled = n, "broadcast stopped");
        Ok(n)
    }

    /// A broadcast with its progress, and its preview while a draft.
    pub async fn view(&self, id: i64) -> Result<BroadcastView, AppError> {
        let b = self.store.broadcast(id).await?;
        let progress = self.store.status_counts(Some(id)).await?;
        let preview = if b.status == "draft" {
            let texts = self
                .store
                .step_texts()
                .await?
                .into_iter()
                .filter(|t| t.step_id == b.step_id)
                .map(|t| (t.language, t.body))
                .collect();
            let req = NewBroadcast {
                name: b.name.clone(),
                audience: b.audience.clone(),
                texts,
                send_at: b.send_at.max(self.clock.now()),
                cron: b.cron.clone(),
                grace_hours: Some(b.grace_hours),
                sms_templates: vec![],
            };
            Some(self.preview(&req).await?)
        } else {
            None
        };
        Ok(BroadcastView {
            broadcast: b,
            preview,
            progress,
        })
    }
}
