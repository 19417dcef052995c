//! The `Gateway` trait and its implementations.
//!
//! A push gateway (a provider's HTTP API, an Android phone's REST API)
//! answers `send` with `Accepted` or `Sent`; a pull gateway (a phone that
//! polls careminder from behind NAT) answers `Queued` and hands the message
//! over when the phone next polls. Either way later statuses arrive as
//! [`StatusReport`]s, applied forward-only by the store.

pub mod mock;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;

pub use mock::{MockFailure, MockGateway, MockSent};

/// A rendered message ready for a gateway.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutgoingMessage {
    /// Our outbox id: sent to gateways that de-duplicate on it.
    pub id: i64,
    /// E.164 number or channel address.
    pub to: String,
    pub body: String,
    /// 1 on the first try.
    pub attempt: i64,
}

/// What a gateway said to one send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Handed over; the gateway will report sent/delivered later.
    Accepted { provider_id: Option<String> },
    /// The gateway says it has already gone out.
    Sent { provider_id: Option<String> },
    /// Held for a pull gateway to collect.
    Queued,
    /// Worth retrying: timeout, 5xx, 429, quota.
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Retrying will not help: invalid number, recipient blocked us.
    Permanent { reason: String },
}

/// Statuses a gateway reports after accepting a message.
/// Declared in forward order: the store applies a message's reports in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportedStatus {
    Accepted,
    Sent,
    Delivered,
    Failed,
}

impl ReportedStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    pub message_id: i64,
    pub status: ReportedStatus,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

#[async_trait]
pub trait Gateway: Send + Sync {
    /// Short name stored with each message ("mock", "android", ...).
    fn name(&self) -> &'static str;

    /// Hands one message over. Must not panic; every failure is an outcome.
    async fn send(&self, msg: &OutgoingMessage) -> SendOutcome;

    /// Status reports the gateway produced by itself since the last call
    /// (the mock's simulated delivery receipts). Real gateways report
    /// through webhooks instead and return nothing here.
    fn take_reports(&self) -> Vec<StatusReport> {
        vec![]
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayConfigError {
    #[error("gateway.kind: unknown gateway {0:?} (available: mock)")]
    Unknown(String),
    #[error("gateway.mock.record_file: {0}")]
    RecordFile(std::io::Error),
}

/// The gateway in use, and the mock again by its own type when it is the one.
pub type Gateways = (Arc<dyn Gateway>, Option<Arc<MockGateway>>);

/// Builds the configured gateway. The mock is also returned by its own
/// type so tests and the demo can look inside it.
pub fn from_config(
    cfg: &crate::config::GatewayConfig,
    clock: crate::clock::Clock,
) -> Result<Gateways, GatewayConfigError> {
    match cfg.kind.as_str() {
        "mock" => {
            let m = Arc::new(
                MockGateway::new(cfg.mock.clone(), clock)
                    .map_err(GatewayConfigError::RecordFile)?,
            );
            Ok((m.clone(), Some(m)))
        }
        other => Err(GatewayConfigError::Unknown(other.to_string())),
    }
}
