//! Settings: built-in defaults, then a TOML file, then `CAREMINDER_*`
//! environment variables (nested keys with `__`, for example
//! `CAREMINDER_DISPATCHER__BATCH_SIZE=200`). Nothing needs configuring for the demo.

use chrono_tz::Tz;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::domain::schedule::SendWindow;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The SQLite database file; created with its schema on first start.
    pub database: PathBuf,
    /// Address the HTTP server listens on.
    pub listen: String,
    /// IANA zone in which send times and dates are read.
    #[serde(with = "tz_serde")]
    pub timezone: Tz,
    /// Local hours during which messages may go out.
    pub send_window: SendWindow,
    /// Region used to read national phone numbers.
    pub default_region: String,
    /// Language of women registered without one.
    pub default_language: String,
    /// Care plan of pregnancies registered without one.
    pub care_plan: String,
    /// Prefixed to every SMS, as Chinese providers require (for example "【某县妇幼】").
    pub sms_signature: String,
    /// The clinic named in reminders when a woman's village has none below.
    pub default_clinic: String,
    /// Clinic per village code.
    pub clinics: BTreeMap<String, String>,
    /// IANA zone per village code, where a deployment spans zones: send
    /// times, send windows, dates and officers' digests there are read in
    /// it. Villages not listed use `timezone`.
    #[serde(with = "zones_serde")]
    pub zones: BTreeMap<String, Tz>,
    /// Bearer token for `/api/v1`; the API answers 401 to everyone while unset.
    pub api_token: Option<String>,
    /// Seconds an HTTP request may take, reading its body included, before
    /// it is answered 408 (a slow or stalled client holds nothing for long).
    pub request_timeout_seconds: f64,
    /// Largest request body accepted, in bytes; larger ones are answered 413.
    pub max_body_bytes: usize,
    pub planner: PlannerConfig,
    pub dispatcher: DispatcherConfig,
    pub outreach: OutreachConfig,
    pub console: ConsoleConfig,
    /// The default gateway.
    pub gateway: GatewayConfig,
    /// Further gateways by name, used through `routing`.
    pub gateways: BTreeMap<String, GatewayConfig>,
    pub routing: RoutingConfig,
    /// Public base URL of this service (as gateways reach it), used for
    /// Twilio's status callbacks and signatures, e.g. `https://sms.example.org`.
    pub public_url: String,
    pub inbound: InboundConfig,
    pub jobs: JobsConfig,
    /// Reply keywords per language; every language's are recognised in every message.
    pub keywords: BTreeMap<String, crate::domain::keywords::KeywordSet>,
}

/// Recurring jobs. Cron expressions have six fields (seconds first) and are
/// read in the configured time zone.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct JobsConfig {
    /// When each officer gets her list of overdue visits.
    pub digest_cron: String,
    /// When administrators get the weekly summary.
    pub summary_cron: String,
    /// Days after a window closes before a visit counts as overdue.
    pub overdue_grace_days: i64,
    /// Days a visit stays overdue before it also reaches the supervisor.
    pub escalate_after_days: i64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            digest_cron: "0 0 8 * * *".into(),
            summary_cron: "0 0 8 * * Mon".into(),
            overdue_grace_days: 3,
            escalate_after_days: 7,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct InboundConfig {
    /// Forward a question to her officer's phone as a short alert.
    pub forward_to_officer: bool,
    /// Answer a number we do not know, once, with a polite note.
    pub reply_to_unknown: bool,
}

impl Default for InboundConfig {
    fn default() -> Self {
        Self {
            forward_to_officer: true,
            reply_to_unknown: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PlannerConfig {
    /// How far ahead messages are written to the outbox.
    pub horizon_hours: i64,
    /// How often the scheduler plans even when nothing woke it.
    pub interval_seconds: i64,
}

/// Outreach (broadcasts and series) is capped per woman.
/// The web console.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsoleConfig {
    /// Hours a sign-in lasts (by the service's clock).
    pub session_hours: i64,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self { session_hours: 12 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct OutreachConfig {
    /// Messages a woman gets in seven days at most; her own visit reminders
    /// count towards it but are never held back.
    pub max_per_week: i64,
    /// Outreach messages a woman gets in one day at most.
    pub max_per_day: i64,
}

impl Default for OutreachConfig {
    fn default() -> Self {
        Self {
            max_per_week: 3,
            max_per_day: 1,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DispatcherConfig {
    /// Messages claimed and their results written per transaction.
    pub batch_size: i64,
    /// Sends in flight at once.
    pub concurrency: usize,
    /// How long a claim holds before another worker may take the message back.
    pub lease_seconds: i64,
    /// Attempts before a transiently failing message is failed.
    pub max_attempts: i64,
    /// First retry delay; doubles each attempt, with jitter.
    pub backoff_base_seconds: i64,
    /// Longest retry delay.
    pub backoff_max_seconds: i64,
    /// On SIGTERM: seconds the batch in flight may take to finish before
    /// the process exits anyway (its messages then return when their lease ends).
    pub shutdown_grace_seconds: u64,
}

/// One gateway: its kind, the settings of that kind, and limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewayConfig {
    /// mock, android (SMS Gateway for Android, push), cht (cht-gateway, the
    /// phone polls us), twilio (Twilio-style HTTP API), wechat (an Official
    /// Account, for women who follow it) or wecom (WeCom, for staff).
    pub kind: String,
    /// SMS parts per second at most (0: no limit), so a phone is not flooded.
    pub rate_per_second: f64,
    /// Longest message this gateway takes, in SMS parts; longer ones fail.
    pub max_parts: usize,
    /// Seconds a request to the gateway may take.
    pub timeout_seconds: u64,
    /// Another gateway (by name, under [gateways]) for messages this one
    /// has kept failing for `failover_after_minutes`; unset: they keep
    /// retrying until past their grace, then expire.
    pub failover: Option<String>,
    pub failover_after_minutes: i64,
    pub mock: MockConfig,
    pub android: AndroidConfig,
    pub twilio: TwilioConfig,
    pub cht: ChtConfig,
    pub wechat: WechatConfig,
    pub wecom: WecomConfig,
}

/// A WeChat Official Account (公众号): women who follow it get their
/// reminders as template messages, and reply in WeChat.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct WechatConfig {
    /// API base: `https://api.weixin.qq.com` (a local fake in tests).
    pub base_url: String,
    pub appid: String,
    pub secret: String,
    /// Fetch tokens from `/cgi-bin/stable_token` (true) or `/cgi-bin/token`.
    pub stable_token: bool,
    /// The token set in the account's server configuration: signs callbacks
    /// and the QR codes' binding scenes.
    pub token: String,
    /// 43 characters, for safe (AES) mode callbacks; empty: plain mode only.
    pub encoding_aes_key: String,
    /// Days a woman's binding QR code stays valid (WeChat allows up to 30).
    pub qr_expire_days: u32,
    /// Printed under the QR code for her.
    pub qr_instructions: String,
    /// A font with Chinese glyphs for the printed QR card; empty: the
    /// usual system paths are searched.
    pub qr_font: String,
}

impl Default for WechatConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.weixin.qq.com".into(),
            appid: String::new(),
            secret: String::new(),
            stable_token: true,
            token: String::new(),
            encoding_aes_key: String::new(),
            qr_expire_days: 30,
            qr_instructions: "请用微信扫一扫，关注本公众号，即可免费接收产检和产后随访提醒。"
                .into(),
            qr_font: String::new(),
        }
    }
}

/// WeCom (企业微信): application messages to staff who have a WeCom user id.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct WecomConfig {
    /// API base: `https://qyapi.weixin.qq.com` (a local fake in tests).
    pub base_url: String,
    pub corpid: String,
    pub corpsecret: String,
    /// The application's agent id.
    pub agentid: i64,
    /// Messages to one person at most per minute and per hour (WeCom's limits).
    pub per_member_per_minute: u32,
    pub per_member_per_hour: u32,
}

impl Default for WecomConfig {
    fn default() -> Self {
        Self {
            base_url: "https://qyapi.weixin.qq.com".into(),
            corpid: String::new(),
            corpsecret: String::new(),
            agentid: 0,
            per_member_per_minute: 30,
            per_member_per_hour: 1000,
        }
    }
}

/// SMS Gateway for Android (capcom6), push mode: we call the phone's API.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AndroidConfig {
    /// The phone's (or its private server's) API, e.g. `http://192.168.1.20:8080`.
    pub base_url: String,
    pub username: String,
    pub password: String,
    /// Key the phone signs its webhooks with (X-Signature).
    pub signing_key: String,
}

/// A Twilio-style provider.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TwilioConfig {
    /// API base, `https://api.twilio.com` or a compatible provider's.
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: String,
    /// Sender number, or leave empty and set `messaging_service_sid`.
    pub from: String,
    pub messaging_service_sid: String,
}

/// cht-gateway: one phone polls `/gateways/cht` with these credentials.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ChtConfig {
    pub username: String,
    pub password: String,
}

/// Which gateway a message goes through.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RoutingConfig {
    /// Gateway for messages to staff (digests, alerts); default gateway if unset.
    pub staff: Option<String>,
    /// Gateway per village, for messages to the women of that village.
    pub villages: BTreeMap<String, String>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            kind: "mock".into(),
            rate_per_second: 0.0,
            max_parts: 10,
            timeout_seconds: 15,
            failover: None,
            failover_after_minutes: 60,
            mock: MockConfig::default(),
            android: AndroidConfig::default(),
            twilio: TwilioConfig::default(),
            cht: ChtConfig::default(),
            wechat: WechatConfig::default(),
            wecom: WecomConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MockConfig {
    /// Share of sends answered with a transient error (0.0-1.0).
    pub transient_failure_rate: f64,
    /// Share of sends answered with a permanent error (0.0-1.0).
    pub permanent_failure_rate: f64,
    /// Print each message "sent" to standard output (the demo turns this on).
    pub print: bool,
    /// Append each message "sent" as a JSON line to this file.
    pub record_file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database: PathBuf::from("careminder.db"),
            listen: "127.0.0.1:8080".into(),
            timezone: chrono_tz::Asia::Shanghai,
            send_window: SendWindow::default(),
            default_region: "CN".into(),
            default_language: "zh-CN".into(),
            care_plan: crate::domain::careplan::DEFAULT_PLAN.into(),
            sms_signature: String::new(),
            default_clinic: "乡镇卫生院".into(),
            clinics: BTreeMap::new(),
            zones: BTreeMap::new(),
            api_token: None,
            request_timeout_seconds: 30.0,
            max_body_bytes: 1 << 20,
            planner: PlannerConfig::default(),
            dispatcher: DispatcherConfig::default(),
            outreach: OutreachConfig::default(),
            console: ConsoleConfig::default(),
            gateway: GatewayConfig::default(),
            gateways: BTreeMap::new(),
            routing: RoutingConfig::default(),
            public_url: "http://127.0.0.1:8080".into(),
            inbound: InboundConfig::default(),
            jobs: JobsConfig::default(),
            keywords: BTreeMap::from([
                ("zh-CN".to_string(), crate::domain::keywords::default_zh()),
                ("en".to_string(), crate::domain::keywords::default_en()),
            ]),
        }
    }
}

impl Default for PlannerConfig {
    fn default() -> Self {
        Self {
            horizon_hours: 36,
            interval_seconds: 60,
        }
    }
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        Self {
            batch_size: 500,
            concurrency: 32,
            lease_seconds: 300,
            max_attempts: 12,
            backoff_base_seconds: 30,
            backoff_max_seconds: 3600,
            shutdown_grace_seconds: 20,
        }
    }
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            transient_failure_rate: 0.0,
            permanent_failure_rate: 0.0,
            print: false,
            record_file: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Figment(#[from] Box<figment::Error>),
    #[error("configuration: {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
}

/// Every setting with its default and a comment: `careminder print-default-config`.
pub const EXAMPLE: &str = include_str!("../config.example.toml");

impl Config {
    /// Defaults, then `file` (if given and present), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(f) = file {
            fig = fig.merge(Toml::file_exact(f));
        }
        fig = fig.merge(
            Env::prefixed("CAREMINDER_")
                .split("__")
                .ignore(&["db", "config", "log"]),
        );
        let cfg: Config = fig.extract().map_err(Box::new)?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.request_timeout_seconds.is_finite() || self.request_timeout_seconds <= 0.0 {
            return Err(ConfigError::Invalid {
                key: "request_timeout_seconds",
                reason: "must be more than 0".into(),
            });
        }
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::Invalid {
                key: "max_body_bytes",
                reason: "must be at least 1024".into(),
            });
        }
        if crate::domain::phone::region(&self.default_region).is_none() {
            return Err(ConfigError::Invalid {
                key: "default_region",
                reason: format!("unknown region {:?}", self.default_region),
            });
        }
        if !crate::render::LANGUAGES.contains(&self.default_language.as_str()) {
            return Err(ConfigError::Invalid {
                key: "default_language",
                reason: format!("must be one of {:?}", crate::render::LANGUAGES),
            });
        }
        let d = &self.dispatcher;
        if d.batch_size < 1 || d.concurrency < 1 || d.max_attempts < 1 || d.lease_seconds < 10 {
            return Err(ConfigError::Invalid {
                key: "dispatcher",
                reason: "batch_size, concurrency and max_attempts must be at least 1, lease_seconds at least 10".into(),
            });
        }
        for (key, expr) in [
            ("jobs.digest_cron", &self.jobs.digest_cron),
            ("jobs.summary_cron", &self.jobs.summary_cron),
        ] {
            if let Err(e) = expr.parse::<cron::Schedule>() {
                return Err(ConfigError::Invalid {
                    key,
                    reason: format!(
                        "{expr:?} is not a cron expression (sec min hour day month weekday): {e}"
                    ),
                });
            }
        }
        if self.jobs.overdue_grace_days < 0 || self.jobs.escalate_after_days < 1 {
            return Err(ConfigError::Invalid {
                key: "jobs",
                reason: "overdue_grace_days must be at least 0 and escalate_after_days at least 1"
                    .into(),
            });
        }
        if self.planner.horizon_hours < 1 {
            return Err(ConfigError::Invalid {
                key: "planner.horizon_hours",
                reason: "must be at least 1".into(),
            });
        }
        for (k, r) in [
            (
                "gateway.mock.transient_failure_rate",
                self.gateway.mock.transient_failure_rate,
            ),
            (
                "gateway.mock.permanent_failure_rate",
                self.gateway.mock.permanent_failure_rate,
            ),
        ] {
            if !(0.0..=1.0).contains(&r) {
                return Err(ConfigError::Invalid {
                    key: k,
                    reason: "must be between 0 and 1".into(),
                });
            }
        }
        Ok(())
    }

    pub fn region(&self) -> phonenumber::country::Id {
        crate::domain::phone::region(&self.default_region).unwrap_or(phonenumber::country::Id::CN)
    }

    /// The zone of a village (or of the deployment).
    pub fn zone_for(&self, village: Option<&str>) -> Tz {
        village
            .and_then(|v| self.zones.get(v))
            .copied()
            .unwrap_or(self.timezone)
    }

    /// Every zone in use, the deployment's first.
    pub fn all_zones(&self) -> Vec<Tz> {
        let mut z = vec![self.timezone];
        for t in self.zones.values() {
            if !z.contains(t) {
                z.push(*t);
            }
        }
        z
    }

    pub fn clinic_for(&self, village: Option<&str>) -> &str {
        village
            .and_then(|v| self.clinics.get(v))
            .map(String::as_str)
            .unwrap_or(&self.default_clinic)
    }
}

mod zones_serde {
    use chrono_tz::Tz;
    use serde::{Deserialize, Deserializer, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(z: &BTreeMap<String, Tz>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(z.iter().map(|(k, v)| (k, v.name())))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Tz>, D::Error> {
        BTreeMap::<String, String>::deserialize(d)?
            .into_iter()
            .map(|(k, v)| {
                v.parse::<Tz>().map(|t| (k.clone(), t)).map_err(|_| {
                    serde::de::Error::custom(format!("zones.{k}: unknown IANA time zone {v:?}"))
                })
            })
            .collect()
    }
}

mod tz_serde {
    use chrono_tz::Tz;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(tz.name())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
        let s = String::deserialize(d)?;
        s.parse::<Tz>()
            .map_err(|_| serde::de::Error::custom(format!("unknown IANA time zone {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_file() {
        let c = Config::default();
        assert_eq!(c.timezone.name(), "Asia/Shanghai");
        assert_eq!(c.send_window.to_string(), "08:00-20:00");
        c.validate().unwrap();
    }

    #[test]
    fn the_commented_example_is_exactly_the_defaults() {
        let from_example: Config = Figment::from(Toml::string(EXAMPLE)).extract().unwrap();
        assert_eq!(toml_of(&from_example), toml_of(&Config::default()));
    }

    fn toml_of(c: &Config) -> serde_json::Value {
        serde_json::to_value(c).unwrap()
    }

    #[test]
    fn file_values_override_defaults_and_bad_zone_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "timezone = \"Africa/Nairobi\"\nsend_window = \"09:00-18:00\"\n[dispatcher]\nbatch_size = 7\n").unwrap();
        let c = Config::load(Some(&f)).unwrap();
        assert_eq!(c.timezone.name(), "Africa/Nairobi");
        assert_eq!(c.dispatcher.batch_size, 7);
        std::fs::write(&f, "timezone = \"Mars/Base\"\n").unwrap();
        let err = Config::load(Some(&f)).unwrap_err().to_string();
        assert!(err.contains("Mars/Base"), "{err}");
    }
}
