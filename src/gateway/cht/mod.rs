//! cht-gateway (Medic), pull mode: the phone polls `/gateways/cht` (see
//! `web::cht`) from behind NAT. Sending only queues the message; the poll
//! hands it over and keeps offering it until the phone reports a status.

pub mod webhook;

use super::GatewayConfig;
use super::{required, Gateway, GatewayConfigError, OutgoingMessage, ReportedStatus, SendOutcome};
use async_trait::async_trait;

/// cht-gateway: one phone polls `/gateways/cht` with these credentials.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub username: String,
    pub password: String,
}

pub struct Cht {
    name: String,
    pub cfg: Settings,
}

impl Cht {
    pub fn new(
        name: String,
        key: &str,
        _g: &GatewayConfig,
        s: &Settings,
    ) -> Result<Self, GatewayConfigError> {
        let key = key.to_string();
        required(&key, "username", &s.username)?;
        required(&key, "password", &s.password)?;
        Ok(Self {
            name,
            cfg: s.clone(),
        })
    }
}

#[async_trait]
impl Gateway for Cht {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, _msg: &OutgoingMessage) -> SendOutcome {
        SendOutcome::Queued
    }
}

/// cht-gateway's statuses: `Some(None)` acknowledges without a new status
/// (UNSENT: the phone has it, not yet sent); `None` for unknown values.
pub fn map_status(s: &str) -> Option<Option<ReportedStatus>> {
    Some(match s {
        "UNSENT" => None,
        "PENDING" => Some(ReportedStatus::Accepted),
        "SENT" => Some(ReportedStatus::Sent),
        "DELIVERED" => Some(ReportedStatus::Delivered),
        "FAILED" => Some(ReportedStatus::Failed),
        _ => return None,
    })
}
