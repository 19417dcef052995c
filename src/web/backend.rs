//! The application as the channels' backend: each webhook handler in
//! `gateway/<channel>/webhook.rs` reaches services only through this.

use super::ApiError;
use crate::domain::{NewInbound, Received, ReportedStatus, StatusReport};
use crate::gateway::backend::{Backend, BackendError, Pulled};
use crate::gateway::Gateways;
use crate::services::consent::Via;
use crate::services::AppError;
use crate::App;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// A service's refusal or failure as a webhook's answer: the same status
/// and words as the API's (see [`ApiError`]).
fn answer(e: AppError) -> BackendError {
    let (status, message) = ApiError(e).parts();
    BackendError::new(status, message)
}

fn store_err(e: crate::store::StoreError) -> BackendError {
    answer(e.into())
}

#[async_trait]
impl Backend for App {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn gateways(&self) -> &Gateways {
        &self.gateways
    }

    fn public_url(&self) -> &str {
        &self.config.public_url
    }

    fn api_token(&self) -> Option<&str> {
        self.config.api_token.as_deref()
    }

    fn phone(&self, raw: &str) -> Result<String, String> {
        crate::domain::Phone::parse(raw, self.config.region())
            .map(|p| p.as_str().to_string())
            .map_err(|e| crate::services::enrollment::InputError::from(e).to_string())
    }

    fn rejected(&self, gateway: &str, reason: &str) {
        self.metrics.rejected(gateway, reason);
    }

    async fn receive(&self, m: NewInbound) -> Result<Received, BackendError> {
        self.inbound.receive(m).await.map_err(answer)
    }

    async fn status(
        &self,
        event: Option<(String, String)>,
        report: StatusReport,
    ) -> Result<bool, BackendError> {
        self.receipts.submit(event, report).await.map_err(answer)
    }

    async fn early_report(
        &self,
        gateway: &str,
        provider_id: &str,
        status: ReportedStatus,
        reason: Option<String>,
        at: DateTime<Utc>,
    ) -> Result<(), BackendError> {
        self.store
            .keep_early_report(
                gateway,
                provider_id,
                status,
                reason.as_deref(),
                at,
                self.clock.now(),
            )
            .await
            .map(|_| ())
            .map_err(store_err)
    }

    async fn message_by_provider_id(
        &self,
        gateway: &str,
        provider_id: &str,
    ) -> Result<Option<(i64, Option<i64>)>, BackendError> {
        self.store
            .message_by_provider_id(gateway, provider_id)
            .await
            .map_err(store_err)
    }

    async fn provider_opt_out(&self, gateway: &str, woman_id: i64) -> Result<(), BackendError> {
        self.consents
            .opt_out(woman_id, Via::Provider, gateway)
            .await
            .map(|_| ())
            .map_err(answer)
    }

    async fn pull(
        &self,
        gateway: &str,
        acked: &[i64],
        reports: &[StatusReport],
        limit: i64,
    ) -> Result<Vec<Pulled>, BackendError> {
        let now = self.clock.now();
        self.store
            .ack_pulled(gateway, acked, now)
            .await
            .map_err(store_err)?;
        self.store
            .apply_status_reports(reports)
            .await
            .map_err(store_err)?;
        self.store
            .pull_outbox(gateway, limit)
            .await
            .map_err(store_err)
    }

    async fn nonce_spent(&self, gateway: &str, key: &str) -> Result<bool, BackendError> {
        self.store
            .webhook_event_seen(gateway, &format!("{}{key}", crate::store::SPENT_URL))
            .await
            .map_err(store_err)
    }

    async fn spend_nonce(&self, gateway: &str, key: &str) -> Result<(), BackendError> {
        self.store
            .record_webhook_event(
                gateway,
                &format!("{}{key}", crate::store::SPENT_URL),
                self.clock.now(),
            )
            .await
            .map(|_| ())
            .map_err(store_err)
    }

    async fn keep_rejected(&self, gateway: &str, reason: &str, body: &[u8]) -> Option<i64> {
        self.store
            .keep_rejected_webhook(gateway, reason, body, self.clock.now())
            .await
            .ok()
    }

    async fn wechat_event(
        &self,
        gateway: &str,
        x: crate::domain::WechatEvent,
    ) -> Result<&'static str, BackendError> {
        self.wechat.callback(gateway, x).await.map_err(answer)
    }
}
