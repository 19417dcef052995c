//! The port a channel's webhook handlers speak to: what they may ask of
//! the rest of careminder (store a text that arrived, record a status,
//! hand a polling phone its messages, act on a WeChat event). The
//! application implements it; channels never reach up to services, so a
//! new channel is one folder that needs nothing but this trait.

use super::Gateways;
use crate::domain::{NewInbound, Received, ReportedStatus, StatusReport};
use async_trait::async_trait;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// The state every channel's router carries.
pub type SharedBackend = Arc<dyn Backend>;

/// A refusal or failure, as the answer a webhook gives: the caller sees
/// the reason for its own mistakes and nothing of our internals.
#[derive(Debug)]
pub struct BackendError {
    pub status: StatusCode,
    pub message: String,
}

impl BackendError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for BackendError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}

/// A message waiting for a polling phone: our id, the number, the text.
pub type Pulled = (i64, String, String);

#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The one source of "now".
    fn now(&self) -> DateTime<Utc>;
    /// Every configured gateway, to find whose secret signed a request.
    fn gateways(&self) -> &Gateways;
    /// Our public base URL, as gateways reach it (signatures cover it).
    fn public_url(&self) -> &str;
    /// The API token that guards the mock gateway's webhooks.
    fn api_token(&self) -> Option<&str>;
    /// A sender's number in E.164 as the deployment's region reads it, or
    /// why it is not a number.
    fn phone(&self, raw: &str) -> Result<String, String>;
    /// Logs and counts a refused webhook (reason, never the body).
    fn rejected(&self, gateway: &str, reason: &str);

    /// Stores a text that arrived and acts on it (a redelivery is a duplicate).
    async fn receive(&self, m: NewInbound) -> Result<Received, BackendError>;
    /// Records a gateway's status report; `event` (gateway, event id)
    /// de-duplicates a redelivered one. False: seen before.
    async fn status(
        &self,
        event: Option<(String, String)>,
        report: StatusReport,
    ) -> Result<bool, BackendError>;
    /// A report for a provider id no message of `gateway` carries yet (a
    /// send whose result is still being written): kept, and applied as
    /// soon as a send's result names that id. A report pushed again is
    /// kept once.
    async fn early_report(
        &self,
        gateway: &str,
        provider_id: &str,
        status: ReportedStatus,
        reason: Option<String>,
        at: DateTime<Utc>,
    ) -> Result<(), BackendError>;
    /// Our message (and its woman) by the gateway's own id for it.
    async fn message_by_provider_id(
        &self,
        gateway: &str,
        provider_id: &str,
    ) -> Result<Option<(i64, Option<i64>)>, BackendError>;
    /// The provider says she opted out with it: so do we.
    async fn provider_opt_out(&self, gateway: &str, woman_id: i64) -> Result<(), BackendError>;
    /// A polling phone's turn: acknowledges what it reported on, applies
    /// its statuses, and returns what waits for it.
    async fn pull(
        &self,
        gateway: &str,
        acked: &[i64],
        reports: &[StatusReport],
        limit: i64,
    ) -> Result<Vec<Pulled>, BackendError>;
    /// Whether a signed callback URL (its `key`, such as WeChat's timestamp
    /// and nonce) was acted on already, by this process or another on the
    /// same database.
    async fn nonce_spent(&self, gateway: &str, key: &str) -> Result<bool, BackendError>;
    /// Marks a signed callback URL as acted on: a replay acts on nothing.
    async fn spend_nonce(&self, gateway: &str, key: &str) -> Result<(), BackendError>;
    /// Keeps a callback that could not be read, for inspection.
    async fn keep_rejected(&self, gateway: &str, reason: &str, body: &[u8]) -> Option<i64>;
    /// Acts on a WeChat callback; says what was done.
    async fn wechat_event(
        &self,
        gateway: &str,
        x: crate::domain::WechatEvent,
    ) -> Result<&'static str, BackendError>;
}
