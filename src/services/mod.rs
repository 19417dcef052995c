//! Services: careminder's business rules, each a small struct owning what
//! it needs (the store, the clock, the configuration, a wake-up handle),
//! called alike by the HTTP layer (API, webhooks, console) and the command
//! line. A rule lives in exactly one service: opt-out in [`consent`], who
//! may act for whom in [`access`], pausing a campaign in [`campaigns`], and
//! each writes its own audit entry.
//!
//! Nothing here knows HTTP, a terminal, or a gateway's protocol: services
//! sit on [`crate::store`], [`crate::render`], [`crate::domain`] and the
//! channel-neutral gateway registry ([`crate::gateway::Gateways`]).

pub mod access;
pub mod broadcasts;
pub mod campaigns;
pub mod care;
pub mod consent;
pub mod defaults;
pub mod dispatcher;
pub mod enrollment;
pub mod group_commit;
pub mod importer;
pub mod inbound;
pub mod jobs;
pub mod moves;
pub mod planner;
pub mod receipts;
pub mod registers;
pub mod reports;
pub mod risk;
pub mod sharing;
pub mod sms_templates;
pub mod wechat;

use crate::store::StoreError;
use std::sync::Arc;
use tokio::sync::Notify;

/// Why a service refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Input(#[from] enrollment::InputError),
    /// A report's period is not one.
    #[error(transparent)]
    Period(#[from] crate::domain::PeriodError),
    #[error("{0}")]
    Config(String),
    /// The request was understood and refused, with the reason.
    #[error("{0}")]
    Refused(String),
    /// The one asking may not do this at all (not merely this time).
    #[error("{0}")]
    Forbidden(String),
    /// Refers to something not yet written (a status for a message whose
    /// send is still being recorded): try again shortly.
    #[error("{0} is not known yet")]
    NotYet(String),
}

/// Wakes the scheduler early: a registration, an edit, a reply. Cloned
/// into every service that changes what is due. On PostgreSQL the
/// scheduler also passes each wake-up on to the other instances
/// (`LISTEN`/`NOTIFY`), and theirs to this one.
#[derive(Clone, Default)]
pub struct Waker {
    here: Arc<Notify>,
    /// Wake-ups to pass on to the other instances.
    outward: Arc<Notify>,
}

impl Waker {
    /// Asks the scheduler for a pass now, here and on every other instance.
    pub fn wake(&self) {
        self.here.notify_one();
        self.outward.notify_one();
    }

    /// Another instance asked: a pass here, not passed on again.
    pub fn wake_here(&self) {
        self.here.notify_one();
    }

    /// Resolves at the next wake-up.
    pub async fn woken(&self) {
        self.here.notified().await
    }

    /// Resolves at the next wake-up to pass on to the other instances.
    pub async fn to_pass_on(&self) {
        self.outward.notified().await
    }
}
