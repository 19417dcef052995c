//! cht-gateway (Medic), pull mode: the phone polls `/gateways/cht` (see
//! `web::cht`) from behind NAT. Sending only queues the message; the poll
//! hands it over and keeps offering it until the phone reports a status.

use super::{required, Gateway, GatewayConfigError, OutgoingMessage, ReportedStatus, SendOutcome};
use crate::config::{ChtConfig, GatewayConfig};
use async_trait::async_trait;

pub struct Cht {
    name: String,
    pub cfg: ChtConfig,
}

impl Cht {
    pub fn new(name: String, key: &str, g: &GatewayConfig) -> Result<Self, GatewayConfigError> {
        let key = format!("{key}.cht");
        required(&key, "username", &g.cht.username)?;
        required(&key, "password", &g.cht.password)?;
        Ok(Self {
            name,
            cfg: g.cht.clone(),
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
