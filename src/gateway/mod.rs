//! The `Gateway` trait, its implementations, and the set of configured
//! gateways with their routes and limits.
//!
//! A push gateway (a provider's HTTP API, an Android phone's REST API)
//! answers `send` with `Accepted` or `Sent`; a pull gateway (a phone that
//! polls careminder from behind NAT) answers `Queued` and hands the message
//! over when the phone next polls. Either way later statuses arrive as
//! [`StatusReport`]s, applied forward-only by the store.

pub mod aliyun;
pub mod android;
pub mod backend;
pub mod channels;
pub mod cht;
pub mod cloud;
pub mod hooks;
pub mod http;
pub mod mock;
pub mod settings;
pub mod tencent;
pub mod token;
pub mod twilio;
pub mod wechat;
pub mod wecom;

use crate::domain::GatewayKind;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
pub use settings::{ChannelSettings, GatewayConfig, RoutingConfig};
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;

pub use crate::domain::{ReportedStatus, StatusReport};
pub use mock::{MockFailure, MockGateway, MockSent};

/// Name of the gateway configured under `[gateway]`.
pub const DEFAULT: &str = "default";

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
    /// For WeChat: the template message to send instead of the text.
    pub template: Option<wechat::TemplateMessage>,
    /// For a cloud SMS provider: the approved template and its values
    /// (`body` is then what she reads: signature and filled template).
    pub sms_template: Option<crate::domain::sms_template::FilledTemplate>,
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
    /// The provider says the recipient opted out with it (Twilio 21610):
    /// failed, and recorded as her opt-out.
    OptedOut { reason: String },
    /// Our configuration is wrong (a template id or credentials the
    /// provider refuses): failed, and the administrators are told.
    Misconfigured { reason: String },
}

impl SendOutcome {
    /// The gateway took the message.
    pub fn handed_over(&self) -> bool {
        matches!(
            self,
            SendOutcome::Accepted { .. } | SendOutcome::Sent { .. } | SendOutcome::Queued
        )
    }
}

#[async_trait]
pub trait Gateway: Send + Sync {
    /// The configured name, stored with each message it carries.
    fn name(&self) -> &str;

    /// Hands one message over. Must not panic; every failure is an outcome.
    async fn send(&self, msg: &OutgoingMessage) -> SendOutcome;

    /// Whether the peer drops a second hand-over of a message it has (our
    /// outbox id), however late it comes. Then the record of a hand-over
    /// may be lost in a power cut (the message is sent again and dropped),
    /// so writing it need not wait for the disk. False unless the peer's
    /// own documentation says it keeps the ids it has seen: WeChat's
    /// `client_msg_id` holds for ten minutes (发送模板消息: "10分钟有效,
    /// 超过10分钟不保证效果") and WeCom's duplicate check for its interval
    /// (30 minutes here), while a lost record is redone after a restart,
    /// however late that is.
    fn drops_repeats(&self) -> bool {
        false
    }

    /// Status reports the gateway produced by itself since the last call
    /// (the mock's simulated delivery receipts). Real gateways report
    /// through webhooks or polls instead and return nothing here.
    fn take_reports(&self) -> Vec<StatusReport> {
        vec![]
    }

    /// What the gateway knows of one of our messages, for one whose worker
    /// stopped after a hand-over it never recorded: `Some(Some(status))` it
    /// has it, `Some(None)` it never got it, `None` it cannot say.
    async fn lookup(&self, _id: i64) -> Option<Option<ReportedStatus>> {
        None
    }

    /// Most messages one `send_batch` call carries (1: it has no batches).
    fn batch_limit(&self) -> usize {
        1
    }

    /// Messages that may go in one batch call share a key; `None`: alone.
    fn batch_key(&self, _msg: &OutgoingMessage) -> Option<String> {
        None
    }

    /// Hands several messages over in as few calls as the gateway allows;
    /// one outcome for each, in order.
    async fn send_batch(&self, msgs: &[OutgoingMessage]) -> Vec<SendOutcome> {
        let mut out = Vec::with_capacity(msgs.len());
        for m in msgs {
            out.push(self.send(m).await);
        }
        out
    }

    /// Where the gateway notes sends whose answer was lost (set once, at
    /// start); a gateway that needs no such notes ignores it.
    fn use_ledger(&self, _ledger: Arc<dyn SendLedger>) {}
}

/// What a provider without idempotency (Tencent Cloud SMS) needs to keep
/// in the database, so that every process on it knows: which sends may
/// have been taken although their answer was lost, and which provider ids
/// are already recorded for a message.
#[async_trait]
pub trait SendLedger: Send + Sync {
    /// Message `id` may have been taken by `gateway` in an attempt that
    /// began at `since` (an earlier note stands).
    async fn doubt(&self, gateway: &str, id: i64, since: DateTime<Utc>) -> Result<(), String>;
    /// Since when message `id` may have been taken, if it may have.
    async fn doubted_since(&self, gateway: &str, id: i64) -> Result<Option<DateTime<Utc>>, String>;
    /// The provider's records settled message `id`: forget the doubt.
    async fn settle(&self, gateway: &str, id: i64) -> Result<(), String>;
    /// Which of `provider_ids` are recorded for a message of `gateway`.
    async fn recorded(&self, gateway: &str, provider_ids: &[String])
        -> Result<Vec<String>, String>;
}

/// A ledger in this process's memory, for a gateway used without the
/// database (a unit test): what it notes dies with the process.
#[derive(Default)]
pub struct MemoryLedger {
    doubts: std::sync::Mutex<BTreeMap<(String, i64), DateTime<Utc>>>,
}

#[async_trait]
impl SendLedger for MemoryLedger {
    async fn doubt(&self, gateway: &str, id: i64, since: DateTime<Utc>) -> Result<(), String> {
        let mut d = self.doubts.lock().unwrap_or_else(|e| e.into_inner());
        d.entry((gateway.to_string(), id)).or_insert(since);
        Ok(())
    }

    async fn doubted_since(&self, gateway: &str, id: i64) -> Result<Option<DateTime<Utc>>, String> {
        let d = self.doubts.lock().unwrap_or_else(|e| e.into_inner());
        Ok(d.get(&(gateway.to_string(), id)).copied())
    }

    async fn settle(&self, gateway: &str, id: i64) -> Result<(), String> {
        let mut d = self.doubts.lock().unwrap_or_else(|e| e.into_inner());
        d.remove(&(gateway.to_string(), id));
        Ok(())
    }

    async fn recorded(&self, _: &str, _: &[String]) -> Result<Vec<String>, String> {
        Ok(vec![])
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayConfigError {
    #[error(
        "{key}.kind: unknown gateway kind {kind:?} (mock, android, cht, twilio, wechat, wecom, aliyun, tencent)"
    )]
    Unknown { key: String, kind: String },
    #[error("{key}: {reason}")]
    Invalid { key: String, reason: String },
    #[error("mock gateway record_file: {0}")]
    RecordFile(std::io::Error),
}

/// A sending budget shared by every process on one database: rate limits
/// hold for all of them together.
#[async_trait]
pub trait SharedBudget: Send + Sync {
    /// Takes `parts` from `gateway`'s budget (one part per `period`, at
    /// most `burst` at once, on the real clock): `None` when taken, else
    /// how long to wait before asking again. An error means the budget
    /// cannot be reached; the caller then limits itself alone.
    async fn take(
        &self,
        gateway: &str,
        parts: u32,
        period: std::time::Duration,
        burst: u32,
    ) -> Result<Option<std::time::Duration>, String>;
}

/// A configured gateway with its limits.
pub struct Entry {
    pub gateway: Arc<dyn Gateway>,
    pub config: GatewayConfig,
    name: String,
    /// SMS parts per second, when limited: this process's own limit.
    limiter: Option<DefaultDirectRateLimiter>,
    /// The limit shared with other processes, when set.
    budget: std::sync::OnceLock<Arc<dyn SharedBudget>>,
    /// When it last took a message (Unix seconds, 0: never), for `/readyz`.
    last_success: std::sync::atomic::AtomicI64,
}

impl Entry {
    /// Notes that the gateway took a message at `at`.
    pub fn record_success(&self, at: DateTime<Utc>) {
        self.last_success
            .fetch_max(at.timestamp(), std::sync::atomic::Ordering::Relaxed);
    }

    pub fn last_success(&self) -> Option<DateTime<Utc>> {
        match self.last_success.load(std::sync::atomic::Ordering::Relaxed) {
            0 => None,
            t => chrono::TimeZone::timestamp_opt(&Utc, t, 0).single(),
        }
    }

    /// Waits until `parts` more SMS parts may go through this gateway:
    /// from the budget shared through the database when there is one, else
    /// (or when it cannot be reached) from this process's own.
    pub async fn wait_for_capacity(&self, parts: usize) {
        let Some(l) = &self.limiter else {
            return;
        };
        let n = NonZeroU32::new(parts.clamp(1, self.config.max_parts.max(1)) as u32)
            .unwrap_or(NonZeroU32::MIN);
        if let Some(budget) = self.budget.get() {
            let period = std::time::Duration::from_secs_f64(1.0 / self.config.rate_per_second);
            let burst = self.config.max_parts.max(1) as u32;
            loop {
                match budget.take(&self.name, n.get(), period, burst).await {
                    Ok(None) => return,
                    Ok(Some(wait)) => tokio::time::sleep(wait).await,
                    Err(e) => {
                        tracing::warn!(gateway = %self.name, error = %e, "the shared sending budget is unreachable: this process limits itself");
                        break;
                    }
                }
            }
        }
        let _ = l.until_n_ready(n).await;
    }
}

/// Every configured gateway, by name, and how messages are routed to them.
pub struct Gateways {
    entries: BTreeMap<String, Entry>,
    routing: RoutingConfig,
    /// The mock, when one is configured: tests and the demo look inside.
    pub mock: Option<Arc<MockGateway>>,
    /// The WeChat Official Account, when one is configured: women who
    /// follow it get their reminders there.
    pub wechat: Option<(String, Arc<wechat::Wechat>)>,
    /// WeCom, when configured: staff with a WeCom user id get theirs there.
    pub wecom: Option<(String, Arc<wecom::Wecom>)>,
}

impl Gateways {
    /// Builds every gateway: `default` (the `[gateway]` table), `named`
    /// (`[gateways.NAME]`), and checks the routes between them.
    pub fn build(
        default: &GatewayConfig,
        named: &BTreeMap<String, GatewayConfig>,
        routing: &RoutingConfig,
        public_url: &str,
        clock: crate::clock::Clock,
    ) -> Result<Self, GatewayConfigError> {
        let mut entries = BTreeMap::new();
        let mut mock = None;
        let (mut wechat, mut wecom) = (None, None);
        let all = std::iter::once((DEFAULT.to_string(), "gateway".to_string(), default)).chain(
            named
                .iter()
                .map(|(n, g)| (n.clone(), format!("gateways.{n}"), g)),
        );
        for (name, key, g) in all {
            let gateway = match channels::construct(&name, &key, g, public_url, &clock)? {
                channels::Built::Mock(m) => {
                    mock.get_or_insert(m.clone());
                    m as Arc<dyn Gateway>
                }
                channels::Built::Wechat(w) => {
                    if wechat.is_some() {
                        return Err(GatewayConfigError::Invalid {
                            key: format!("{key}.kind"),
                            reason: "only one WeChat Official Account can be configured".into(),
                        });
                    }
                    wechat = Some((name.clone(), w.clone()));
                    w as Arc<dyn Gateway>
                }
                channels::Built::Wecom(w) => {
                    if wecom.is_some() {
                        return Err(GatewayConfigError::Invalid {
                            key: format!("{key}.kind"),
                            reason: "only one WeCom application can be configured".into(),
                        });
                    }
                    wecom = Some((name.clone(), w.clone()));
                    w as Arc<dyn Gateway>
                }
                channels::Built::Sms(g) => g,
            };
            let limiter = (g.rate_per_second > 0.0).then(|| {
                let period = std::time::Duration::from_secs_f64(1.0 / g.rate_per_second);
                let burst = NonZeroU32::new(g.max_parts.max(1) as u32).unwrap_or(NonZeroU32::MIN);
                RateLimiter::direct(
                    Quota::with_period(period)
                        .expect("positive period")
                        .allow_burst(burst),
                )
            });
            entries.insert(
                name.clone(),
                Entry {
                    gateway,
                    config: g.clone(),
                    name,
                    limiter,
                    budget: std::sync::OnceLock::new(),
                    last_success: std::sync::atomic::AtomicI64::new(0),
                },
            );
        }
        // WeChat and WeCom carry their own messages; never the SMS routes.
        let not_sms = |n: &str| {
            entries
                .get(n)
                .is_some_and(|e: &Entry| !e.config.kind().is_sms())
        };
        let routes = std::iter::once(("gateway.kind".to_string(), DEFAULT))
            .chain(
                routing
                    .staff
                    .iter()
                    .map(|s| ("routing.staff".to_string(), s.as_str())),
            )
            .chain(
                routing
                    .villages
                    .iter()
                    .map(|(v, g)| (format!("routing.villages.{v}"), g.as_str())),
            )
            .chain(entries.iter().filter_map(|(n, e)| {
                e.config
                    .failover
                    .as_deref()
                    .map(|f| (format!("gateways.{n}.failover"), f))
            }));
        for (key, target) in routes {
            if not_sms(target) {
                return Err(GatewayConfigError::Invalid {
                    key,
                    reason: format!(
                        "{target:?} is a WeChat or WeCom gateway: configure it under [gateways.NAME]; it carries messages to those who follow or use it, never the SMS routes"
                    ),
                });
            }
        }
        for (name, e) in &entries {
            if let Some(to) = &e.config.failover {
                if !entries.contains_key(to) || to == name {
                    let key = if name == DEFAULT {
                        "gateway".to_string()
                    } else {
                        format!("gateways.{name}")
                    };
                    return Err(GatewayConfigError::Invalid {
                        key: format!("{key}.failover"),
                        reason: format!("{to:?} is not another configured gateway"),
                    });
                }
            }
        }
        Ok(Self {
            entries,
            routing: routing.clone(),
            mock,
            wechat,
            wecom,
        })
    }

    /// The gateway for a message: its route, or the route's failover once
    /// the route has kept failing the message for `failover_after_minutes`.
    /// Returns the gateway's name when it is a failover.
    pub fn route_at(
        &self,
        to_staff: bool,
        village: Option<&str>,
        first_tried_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> (&Entry, Option<&str>) {
        let primary = self.route(to_staff, village);
        match &primary.config.failover {
            Some(to)
                if now - first_tried_at
                    >= chrono::Duration::minutes(primary.config.failover_after_minutes) =>
            {
                match self.entries.get_key_value(to.as_str()) {
                    Some((name, e)) => (e, Some(name.as_str())),
                    None => (primary, None),
                }
            }
            _ => (primary, None),
        }
    }

    /// The gateway for a message: staff's route, her village's, or the default.
    pub fn route(&self, to_staff: bool, village: Option<&str>) -> &Entry {
        let name = if to_staff {
            self.routing.staff.as_deref()
        } else {
            village
                .and_then(|v| self.routing.villages.get(v))
                .map(String::as_str)
        };
        name.and_then(|n| self.entries.get(n))
            .unwrap_or_else(|| &self.entries[DEFAULT])
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Gateways that note lost answers note them in `ledger` (set once, at
    /// start), where every process on the database reads them.
    pub fn share_ledger(&self, ledger: Arc<dyn SendLedger>) {
        for e in self.entries.values() {
            e.gateway.use_ledger(ledger.clone());
        }
    }

    /// Rate-limited gateways take their budget from `budget` (set once, at
    /// start), shared with the other processes on the database.
    pub fn share_budgets(&self, budget: Arc<dyn SharedBudget>) {
        for e in self.entries.values() {
            let _ = e.budget.set(budget.clone());
        }
    }

    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.get(name)
    }

    /// The gateways of one kind, by name.
    pub fn of_kind(&self, kind: GatewayKind) -> impl Iterator<Item = (&str, &Entry)> + '_ {
        self.entries
            .iter()
            .filter(move |(_, e)| e.config.kind() == kind)
            .map(|(n, e)| (n.as_str(), e))
    }

    /// Reports produced by the gateways themselves (the mock's receipts).
    pub fn take_reports(&self) -> Vec<StatusReport> {
        self.entries
            .values()
            .flat_map(|e| e.gateway.take_reports())
            .collect()
    }
}

fn required(key: &str, field: &str, value: &str) -> Result<(), GatewayConfigError> {
    if value.trim().is_empty() {
        Err(GatewayConfigError::Invalid {
            key: format!("{key}.{field}"),
            reason: "must be set".into(),
        })
    } else {
        Ok(())
    }
}
