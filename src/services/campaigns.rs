//! Campaigns: their state (active, paused, archived) and their steps'
//! timing. Pausing keeps what is planned; the planner plans nothing more
//! for a paused campaign until it is resumed. Every change is audited and
//! wakes the scheduler, whether it came from the console, the API or the
//! command line.

use super::planner::Planner;
use super::{AppError, Waker};
use crate::clock::Clock;
use crate::store::{Store, StoreError};
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
    pub(crate) wake: Waker,
}

impl Campaigns {
    /// Pauses, resumes or archives a campaign, as `actor`.
    pub async fn set_state(
        &self,
        key: &str,
        state: CampaignState,
        actor: &str,
    ) -> Result<(), AppError> {
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
