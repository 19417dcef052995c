//! `/metrics` in the Prometheus (OpenMetrics) text format, through
//! prometheus-client with one registry per `App` (no global state, so
//! tests running side by side each see their own).
//!
//! Two kinds: events counted as they happen (sends by gateway, channel and
//! outcome, with gateway latency; messages planned; replies by intent;
//! webhook refusals by reason; job runs), and the state of the database
//! read at each scrape (messages by status, gateway, channel and campaign; the
//! queue's depth and the age of its oldest due message; when each gateway
//! last took a message), so those always match the records.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::Mutex;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SendLabels {
    pub gateway: String,
    pub channel: String,
    /// handed_over, retry, failed, expired, cancelled.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GatewayLabel {
    pub gateway: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IntentLabel {
    pub intent: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectLabels {
    pub gateway: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabel {
    pub job: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabel {
    /// inbound, planning, broadcasts, jobs, dispatch, statuses.
    pub stage: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MessageLabels {
    pub status: String,
    /// The gateway that carried it ("-" before one did).
    pub gateway: String,
    pub channel: String,
    pub campaign: String,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    pub sends: Family<SendLabels, Counter>,
    pub send_seconds: Family<GatewayLabel, Histogram>,
    pub planned: Counter,
    pub inbound: Family<IntentLabel, Counter>,
    pub webhook_rejections: Family<RejectLabels, Counter>,
    pub job_runs: Family<JobLabel, Counter>,
    /// Scheduler stages that failed (each fails alone; the others go on).
    pub stage_failures: Family<StageLabel, Counter>,
    /// Console sign-ins answered after a pause (their address had failed
    /// too often).
    pub sign_ins_slowed: Counter,
    messages: Family<MessageLabels, Gauge>,
    queue_due: Gauge,
    oldest_due_seconds: Gauge,
    gateway_last_success: Family<GatewayLabel, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut r = Registry::default();
        let sends = Family::<SendLabels, Counter>::default();
        r.register(
            "careminder_sends",
            "Messages a dispatcher finished with, by gateway, channel and outcome",
            sends.clone(),
        );
        let send_seconds = Family::<GatewayLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 12))
        });
        r.register(
            "careminder_gateway_send_seconds",
            "How long a gateway took to answer one send",
            send_seconds.clone(),
        );
        let planned = Counter::default();
        r.register(
            "careminder_planned",
            "Messages the planner wrote to the outbox",
            planned.clone(),
        );
        let inbound = Family::<IntentLabel, Counter>::default();
        r.register(
            "careminder_inbound",
            "Messages received, by what they meant",
            inbound.clone(),
        );
        let webhook_rejections = Family::<RejectLabels, Counter>::default();
        r.register(
            "careminder_webhook_rejections",
            "Webhook calls refused, by gateway and reason",
            webhook_rejections.clone(),
        );
        let job_runs = Family::<JobLabel, Counter>::default();
        r.register(
            "careminder_job_runs",
            "Recurring jobs run (digest, summary)",
            job_runs.clone(),
        );
        let stage_failures = Family::<StageLabel, Counter>::default();
        r.register(
            "careminder_scheduler_stage_failures",
            "Scheduler stages that failed, by stage; the other stages of the pass still ran",
            stage_failures.clone(),
        );
        let sign_ins_slowed = Counter::default();
        r.register(
            "careminder_sign_ins_slowed",
            "Console sign-ins answered after a pause because their address had failed too often",
            sign_ins_slowed.clone(),
        );
        let messages = Family::<MessageLabels, Gauge>::default();
        r.register(
            "careminder_messages",
            "Messages in the outbox now, by status, gateway, channel and campaign",
            messages.clone(),
        );
        let queue_due = Gauge::default();
        r.register(
            "careminder_queue_due",
            "Messages due and waiting to be sent",
            queue_due.clone(),
        );
        let oldest_due_seconds = Gauge::default();
        r.register(
            "careminder_queue_oldest_due_seconds",
            "Age of the oldest message due and not yet sent",
            oldest_due_seconds.clone(),
        );
        let gateway_last_success = Family::<GatewayLabel, Gauge>::default();
        r.register(
            "careminder_gateway_last_success_timestamp_seconds",
            "When each gateway last took a message (Unix seconds)",
            gateway_last_success.clone(),
        );
        Self {
            registry: Mutex::new(r),
            sends,
            send_seconds,
            planned,
            inbound,
            webhook_rejections,
            job_runs,
            stage_failures,
            sign_ins_slowed,
            messages,
            queue_due,
            oldest_due_seconds,
            gateway_last_success,
        }
    }
}

impl Metrics {
    pub fn send(&self, gateway: &str, channel: &str, outcome: &str) {
        self.sends
            .get_or_create(&SendLabels {
                gateway: gateway.into(),
                channel: channel.into(),
                outcome: outcome.into(),
            })
            .inc();
    }

    pub fn rejected(&self, gateway: &str, reason: &str) {
        self.webhook_rejections
            .get_or_create(&RejectLabels {
                gateway: gateway.into(),
                reason: reason.into(),
            })
            .inc();
    }

    pub fn stage_failed(&self, stage: &str) {
        self.stage_failures
            .get_or_create(&StageLabel {
                stage: stage.into(),
            })
            .inc();
    }

    pub fn inbound(&self, intent: &str) {
        self.inbound
            .get_or_create(&IntentLabel {
                intent: intent.into(),
            })
            .inc();
    }

    pub fn job(&self, job: &str) {
        self.job_runs
            .get_or_create(&JobLabel { job: job.into() })
            .inc();
    }
}

/// What the database says at a scrape.
pub struct Snapshot {
    /// (status, gateway, channel, campaign or kind, count)
    pub messages: Vec<(String, String, String, String, i64)>,
    pub due: i64,
    pub oldest_due_seconds: i64,
    /// (gateway, Unix seconds)
    pub last_success: Vec<(String, i64)>,
}

impl Metrics {
    /// The text exposition, with the database's state set first.
    pub fn render(&self, s: &Snapshot) -> String {
        let registry = self.registry.lock().expect("metrics lock");
        self.messages.clear();
        for (status, gateway, channel, campaign, n) in &s.messages {
            self.messages
                .get_or_create(&MessageLabels {
                    status: status.clone(),
                    gateway: gateway.clone(),
                    channel: channel.clone(),
                    campaign: campaign.clone(),
                })
                .set(*n);
        }
        self.queue_due.set(s.due);
        self.oldest_due_seconds.set(s.oldest_due_seconds);
        for (g, t) in &s.last_success {
            self.gateway_last_success
                .get_or_create(&GatewayLabel { gateway: g.clone() })
                .set(*t);
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry)
            .expect("writing to a String");
        out
    }
}
