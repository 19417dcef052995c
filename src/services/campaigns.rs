//! Campaigns: their state (active, paused, archived) and their steps'
//! timing. Pausing keeps what is planned; the planner plans nothing more
//! for a paused campaign until it is resumed. Every change is audited and
//! wakes the scheduler, whether it came from the console, the API or the
//! command line.

use super::planner::Planner;
use super::{AppError, Waker};
use crate::clock::Clock;
use crate::store::{StepSeed, Store, StoreError};
use chrono::Duration;

/// A campaign's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CampaignState {
    Active,
    Paused,
    Archived,
}

impl CampaignState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Archived => "archived",
        }
    }
}

impl std::str::FromStr for CampaignState {
    type Err = AppError;
    fn from_str(s: &str) -> Result<Self, AppError> {
        match s {
            "active" => Ok(Self::Active),
            "paused" => Ok(Self::Paused),
            "archived" => Ok(Self::Archived),
            _ => Err(AppError::Refused(
                "status must be active, paused or archived".into(),
            )),
        }
    }
}

#[derive(Clone)]
pub struct Campaigns {
    pub(crate) store: Store,
    pub(crate) clock: Clock,
    pub(crate) planner: Planner,
    /// Approved templates a cloud SMS gateway needs before a campaign goes live.
    pub(crate) templates: super::sms_templates::SmsTemplates,
    pub(crate) wake: Waker,
}

impl Campaigns {
    /// Creates a campaign with its first step. New campaigns start paused:
    /// their administrator previews the texts, then resumes (publishes)
    /// them. Refused when the key is taken.
    pub async fn create(
        &self,
        key: &str,
        name: &str,
        outreach: bool,
        first: &StepSeed<'_>,
        actor: &str,
    ) -> Result<(), AppError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(AppError::Refused("name: required".into()));
        }
        check_texts(first)?;
        let now = self.clock.now();
        if !self
            .store
            .ensure_campaign(key, name, outreach, std::slice::from_ref(first), now)
            .await?
        {
            return Err(StoreError::Conflict("a campaign with this key exists".into()).into());
        }
        self.store
            .set_campaign_status(key, CampaignState::Paused.as_str(), now)
            .await?;
        self.store
            .audit(
                now,
                actor,
                "campaign_created",
                &format!("campaign:{key}"),
                first.key,
            )
            .await?;
        self.wake.wake();
        Ok(())
    }

    /// Adds a step to a campaign; its reminders are planned from now.
    pub async fn add_step(
        &self,
        key: &str,
        step: &StepSeed<'_>,
        actor: &str,
    ) -> Result<i64, AppError> {
        check_texts(step)?;
        if let Some((kind, rules)) = self.templates.needing_templates().first() {
            if super::sms_templates::is_active(&self.store, key).await? {
                return Err(AppError::Refused(format!(
                    "campaign {key} is active and gateway {} ({}) sends only approved templates: pause it, add the step and map its template, then resume it",
                    rules.gateway,
                    kind.as_str()
                )));
            }
        }
        let now = self.clock.now();
        let id = self.store.add_step(key, step, now).await?;
        self.store
            .audit(
                now,
                actor,
                "step_added",
                &format!("campaign:{key}"),
                step.key,
            )
            .await?;
        self.wake.wake();
        Ok(id)
    }

    /// Saves a new version of a step's text in one language, checked by
    /// rendering it against a sample first: a broken template is refused
    /// here, never discovered at send time. Returns the step's id.
    pub async fn save_text(
        &self,
        key: &str,
        step: &str,
        language: &str,
        body: &str,
        actor: &str,
    ) -> Result<i64, AppError> {
        let step_id = self.store.step_id(key, step).await?;
        // Browsers send CRLF from a textarea; messages use LF.
        let body = body.replace("\r\n", "\n");
        crate::render::validate(&body, language).map_err(|e| AppError::Refused(e.to_string()))?;
        let now = self.clock.now();
        self.store
            .save_step_text(step_id, language, &body, actor, now)
            .await?;
        self.store
            .audit(
                now,
                actor,
                "text_saved",
                &format!("step:{step_id}:{language}"),
                &body,
            )
            .await?;
        self.wake.wake();
        Ok(step_id)
    }

    /// Pauses, resumes or archives a campaign, as `actor`.
    pub async fn set_state(
        &self,
        key: &str,
        state: CampaignState,
        actor: &str,
    ) -> Result<(), AppError> {
        if state == CampaignState::Active {
            // Published only once every step can go out on every gateway.
            self.templates.require_for(Some(key)).await?;
        }
        let now = self.clock.now();
        self.store
            .set_campaign_status(key, state.as_str(), now)
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => StoreError::NotFound(format!("campaign {key}")),
                e => e,
            })?;
        self.store
            .audit(
                now,
                actor,
                "campaign_status",
                &format!("campaign:{key}"),
                state.as_str(),
            )
            .await?;
        self.wake.wake();
        Ok(())
    }

    /// Changes when a campaign step fires and re-plans what it had not sent.
    pub async fn retime_step(
        &self,
        step_id: i64,
        offset_days: i64,
        send_time: &str,
        grace_hours: i64,
        actor: &str,
    ) -> Result<u64, AppError> {
        let now = self.clock.now();
        let cancelled = self
            .store
            .set_step_timing(step_id, offset_days, send_time, grace_hours, now)
            .await?;
        if let Some(until) = self.store.planned_until().await? {
            if until > now {
                self.planner
                    .plan_range(now - Duration::seconds(1), until, None, now)
                    .await?;
            }
        }
        self.store
            .audit(
                now,
                actor,
                "retime_step",
                &format!("step:{step_id}"),
                &format!("{offset_days}d {send_time}"),
            )
            .await?;
        self.wake.wake();
        Ok(cancelled)
    }
}

/// A step's texts: each renders, and the fallback language is present.
fn check_texts(step: &StepSeed<'_>) -> Result<(), AppError> {
    for (lang, body) in &step.texts {
        crate::render::validate(body, lang)
            .map_err(|e| AppError::Refused(format!("{lang} text: {e}")))?;
    }
    let fallback = crate::domain::Language::FALLBACK.as_str();
    if !step.texts.iter().any(|(l, _)| *l == fallback) {
        return Err(AppError::Refused(format!(
            "{fallback} text: required (the fallback for every woman)"
        )));
    }
    Ok(())
}
