//! Consent and opt-out: the one place either is written. However she says
//! it (a reply, the provider's STOP, a health officer at the console, the
//! command line, the API), an opt-out cancels every message not yet handed
//! over before the next one is claimed, and leaves an audit entry naming
//! how it came.

use super::planner::Planner;
use super::{AppError, Waker};
use crate::clock::Clock;
use crate::store::Store;

/// How an opt-out or opt-in reached us; stored with it and in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// She replied with an opt-out keyword.
    Sms,
    /// The SMS provider says she opted out with it (Twilio 21610, a STOP report).
    Provider,
    /// Through `/api/v1`.
    Api,
    /// From the command line.
    Cli,
    /// From the web console, by the member of staff named as the actor.
    Console,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Sms => "sms",
            Via::Provider => "provider",
            Via::Api => "api",
            Via::Cli => "cli",
            Via::Console => "console",
        }
    }
}

#[derive(Clone)]
pub struct Consents {
    store: Store,
    clock: Clock,
    planner: Planner,
    wake: Waker,
}

impl Consents {
    pub fn new(store: Store, clock: Clock, planner: Planner, wake: Waker) -> Self {
        Self {
            store,
            clock,
            planner,
            wake,
        }
    }

    /// Records her opt-out: nothing more is sent to her. Returns how many
    /// messages were cancelled, or `None` if she had opted out already
    /// (then nothing is written).
    pub async fn opt_out(
        &self,
        woman_id: i64,
        via: Via,
        actor: &str,
    ) -> Result<Option<u64>, AppError> {
        let now = self.clock.now();
        let Some(n) = self.store.opt_out(woman_id, now, via.as_str()).await? else {
            return Ok(None);
        };
        self.store
            .audit(
                now,
                actor,
                "opt_out",
                &format!("woman:{woman_id}"),
                &format!("via {}: {n} messages cancelled", via.as_str()),
            )
            .await?;
        tracing::info!(woman_id, via = via.as_str(), cancelled = n, "opted out");
        Ok(Some(n))
    }

    /// Takes back her opt-out; her reminders are planned again from now.
    /// `None` if she had not opted out.
    pub async fn opt_in(
        &self,
        woman_id: i64,
        via: Via,
        actor: &str,
    ) -> Result<Option<()>, AppError> {
        let now = self.clock.now();
        let Some(pregnancies) = self.store.opt_in(woman_id, now).await? else {
            return Ok(None);
        };
        self.store
            .audit(
                now,
                actor,
                "opt_in",
                &format!("woman:{woman_id}"),
                &format!("via {}", via.as_str()),
            )
            .await?;
        self.planner.plan_pregnancies(&pregnancies, now).await?;
        self.wake.wake();
        Ok(Some(()))
    }

    /// Records consent given after registration; her reminders start from now.
    pub async fn give(&self, woman_id: i64, how: &str, actor: &str) -> Result<(), AppError> {
        let now = self.clock.now();
        let consent = crate::store::Consent {
            at: now,
            source: how.to_string(),
            by: actor.to_string(),
        };
        let pregnancies = self.store.give_consent(woman_id, &consent).await?;
        self.planner.plan_pregnancies(&pregnancies, now).await?;
        self.store
            .audit(now, actor, "consent", &format!("woman:{woman_id}"), how)
            .await?;
        self.wake.wake();
        Ok(())
    }
}
