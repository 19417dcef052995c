//! Settings: built-in defaults, then a TOML file, then the secrets' file
//! beside it, then `CAREMINDER_*` environment variables (nested keys with
//! `__`, for example `CAREMINDER_DISPATCHER__BATCH_SIZE=200`). Nothing
//! needs configuring for the demo. A key that is no setting, a value that
//! cannot be read and a rule broken are all refused, all at once, each
//! named with its key (`load`).

mod load;
pub mod risk;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::domain::schedule::SendWindow;
pub use crate::gateway::settings::{ChannelSettings, GatewayConfig, RoutingConfig};
pub use load::{read_env_file, Problem, Sources, DEFAULT_FILE, SECRETS_FILE_NAME};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The database: a SQLite file path (or `sqlite://PATH`), created with
    /// its schema on first start, or a `postgres://` URL.
    pub database: DatabaseUrl,
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
    pub default_language: crate::domain::Language,
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
    /// The officer's monthly home visit to each woman she looks after.
    pub home_visits: HomeVisitsConfig,
    /// The township assessment's indicators.
    pub indicators: IndicatorsConfig,
    /// Care that follows a woman's risk grade.
    pub risk: risk::RiskConfig,
    /// What leaves for other offices: referral summaries of women who
    /// move away, and the scheduled export of births, registrations and moves.
    pub sharing: SharingConfig,
    /// Reply keywords per language; every language's are recognised in every message.
    pub keywords: BTreeMap<String, crate::domain::keywords::KeywordSet>,
    /// Who named `database` (the configuration file, a variable, `--db`);
    /// `None`: nobody did, and it holds the built-in default.
    #[serde(skip)]
    pub database_from: Option<String>,
}

/// Recurring jobs. Cron expressions have six fields (seconds first) and are
/// read in the configured time zone.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobsConfig {
    /// When each officer gets her list of overdue visits.
    pub digest_cron: String,
    /// When administrators get the weekly summary.
    pub summary_cron: String,
    /// Days after a window closes before a visit counts as overdue.
    pub overdue_grace_days: i64,
    /// Days a visit stays overdue before it also reaches the supervisor
    /// (once, with the officer named).
    pub escalate_after_days: i64,
    /// An overdue visit is named in the officer's text the day it becomes
    /// overdue, and again this many days after (each), unless the next
    /// check-up's window has opened by then; after that it stays on her
    /// worklist but leaves the text.
    pub mention_again_after_days: Vec<i64>,
    /// Longest digest, in SMS parts: what does not fit is counted ("and 12
    /// more: see the worklist"), not sent as more texts.
    pub digest_max_parts: usize,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            digest_cron: "0 0 8 * * *".into(),
            summary_cron: "0 0 8 * * Mon".into(),
            overdue_grace_days: 3,
            escalate_after_days: 7,
            mention_again_after_days: vec![7],
            digest_max_parts: 3,
        }
    }
}

/// What is shared with other offices (issue 33).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SharingConfig {
    /// This county's name, written into referral summaries and export files.
    pub county: String,
    /// When the export runs (cron, in `timezone`); empty: never on its own
    /// (the API and `share export` still export on request).
    pub export_cron: String,
    /// Folder the export's files are written into.
    pub export_dir: String,
    /// Days before the run each export covers (the period ends the day before).
    pub export_days: i64,
    /// What leaves: any of "births", "registrations", "moves".
    pub export: Vec<String>,
    /// Risk grades leave (in summaries and the births file) only when the
    /// county office permits it and this says so.
    pub include_risk_grade: bool,
}

impl Default for SharingConfig {
    fn default() -> Self {
        Self {
            county: String::new(),
            export_cron: String::new(),
            export_dir: "/var/lib/careminder/exports".into(),
            export_days: 7,
            export: vec!["births".into(), "registrations".into(), "moves".into()],
            include_risk_grade: false,
        }
    }
}

/// What the sharing export may hold.
pub const EXPORT_KINDS: [&str; 3] = ["births", "registrations", "moves"];

/// The officer's home visits: a recurring task per woman on her worklist
/// (no reminder goes to the woman), from registration to the birth and
/// for the weeks after it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HomeVisitsConfig {
    /// Days between two home visits; 0: none are planned.
    pub every_days: i64,
    /// Days after the birth the home visits go on.
    pub postpartum_days: i64,
    /// Days before its date a home visit shows on the worklist as due.
    /// (It is missed only once its period, up to the next one's date, ends.)
    pub lead_days: i64,
}

impl Default for HomeVisitsConfig {
    fn default() -> Self {
        Self {
            every_days: 30,
            postpartum_days: 42,
            lead_days: 5,
        }
    }
}

impl HomeVisitsConfig {
    /// From registration until the expected delivery date.
    pub fn prenatal(
        &self,
        registered_on: chrono::NaiveDate,
        edd: chrono::NaiveDate,
    ) -> Vec<crate::domain::PlannedVisit> {
        crate::domain::careplan::officer_home_visits("home-", registered_on, edd, self.every_days)
    }

    /// After the birth, for `postpartum_days`.
    pub fn postpartum(&self, born: chrono::NaiveDate) -> Vec<crate::domain::PlannedVisit> {
        crate::domain::careplan::officer_home_visits(
            "home-pp-",
            born,
            born + chrono::Duration::days(self.postpartum_days),
            self.every_days,
        )
    }
}

/// Targets of the township assessment's indicators, as shares (0 to 1): a
/// share to reach, or for opt-outs one to stay under. An indicator not
/// named keeps its built-in target.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndicatorsConfig {
    pub targets: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
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
#[serde(default, deny_unknown_fields)]
pub struct PlannerConfig {
    /// How far ahead messages are written to the outbox.
    pub horizon_hours: i64,
    /// How often the scheduler plans even when nothing woke it.
    pub interval_seconds: i64,
}

/// Outreach (broadcasts and series) is capped per woman.
/// The web console.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Hours a sign-in lasts (by the service's clock).
    pub session_hours: i64,
    /// How long a sign-in from an address past its free failures waits
    /// before it is judged (milliseconds; see `services::access`).
    pub sign_in_slowdown_ms: u64,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            session_hours: 12,
            sign_in_slowdown_ms: 3000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
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
#[serde(default, deny_unknown_fields)]
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

impl Default for Config {
    fn default() -> Self {
        Self {
            database: PathBuf::from("careminder.db").into(),
            listen: "127.0.0.1:8080".into(),
            timezone: chrono_tz::Asia::Shanghai,
            send_window: SendWindow::default(),
            default_region: "CN".into(),
            default_language: crate::domain::Language::ZhCn,
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
            home_visits: HomeVisitsConfig::default(),
            indicators: IndicatorsConfig::default(),
            risk: risk::RiskConfig::default(),
            sharing: SharingConfig::default(),
            keywords: BTreeMap::from([
                ("zh-CN".to_string(), crate::domain::keywords::default_zh()),
                ("en".to_string(), crate::domain::keywords::default_en()),
            ]),
            database_from: None,
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

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Figment(#[source] Box<figment::Error>),
    #[error("configuration: {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
    /// Every mistake found, each with its key.
    #[error("{}", load::describe(.place, .problems))]
    Problems {
        /// What was read: the file, and the secrets' file if any.
        place: String,
        problems: Vec<Problem>,
    },
}

impl From<Box<figment::Error>> for ConfigError {
    fn from(e: Box<figment::Error>) -> Self {
        Self::Figment(e)
    }
}

/// Every setting with its default and a comment: `careminder print-default-config`.
pub const EXAMPLE: &str = include_str!("../../config.example.toml");

impl Config {
    /// Defaults, then `file` (if given), then `CAREMINDER_*` variables.
    /// Every unknown key, unreadable value and broken rule is refused,
    /// all of them together (see [`load`]).
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Sources::new(file.map(Path::to_path_buf), None).load()
    }

    /// The first broken rule, if any (see [`Config::problems`] for all).
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.problems() {
            p if p.is_empty() => Ok(()),
            problems => Err(ConfigError::Problems {
                place: "the settings".into(),
                problems,
            }),
        }
    }

    /// Every rule a setting breaks, each with its key, as start-up reads them.
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = vec![];
        let mut bad = |key: &str, reason: String| out.push(Problem::new(key, reason));
        if !self.request_timeout_seconds.is_finite() || self.request_timeout_seconds <= 0.0 {
            bad("request_timeout_seconds", "must be more than 0".into());
        }
        if self.max_body_bytes < 1024 {
            bad("max_body_bytes", "must be at least 1024".into());
        }
        if crate::domain::phone::region(&self.default_region).is_none() {
            bad(
                "default_region",
                format!(
                    "unknown region {:?} (a two-letter country code, e.g. \"CN\")",
                    self.default_region
                ),
            );
        }
        if let Err(reason) = check_listen(&self.listen) {
            bad("listen", reason);
        }
        if let Err(reason) = check_http_url(&self.public_url) {
            bad("public_url", reason);
        }
        // Each gateway's API address, whatever its kind (an empty one is
        // named by the gateway, which needs it).
        let gateways = std::iter::once(("gateway".to_string(), &self.gateway)).chain(
            self.gateways
                .iter()
                .map(|(n, g)| (format!("gateways.{n}"), g)),
        );
        for (key, g) in gateways {
            let url = serde_json::to_value(&g.channel).ok().and_then(|v| {
                v.get("base_url")
                    .and_then(|u| u.as_str())
                    .filter(|u| !u.is_empty())
                    .map(str::to_string)
            });
            if let Some(Err(reason)) = url.as_deref().map(check_http_url) {
                bad(&format!("{key}.base_url"), reason);
            }
        }
        let d = &self.dispatcher;
        for (key, value, least) in [
            ("dispatcher.batch_size", d.batch_size, 1),
            ("dispatcher.concurrency", d.concurrency as i64, 1),
            ("dispatcher.max_attempts", d.max_attempts, 1),
            ("dispatcher.lease_seconds", d.lease_seconds, 10),
            ("jobs.overdue_grace_days", self.jobs.overdue_grace_days, 0),
            ("jobs.escalate_after_days", self.jobs.escalate_after_days, 1),
            ("planner.horizon_hours", self.planner.horizon_hours, 1),
        ] {
            if value < least {
                bad(key, format!("must be at least {least}"));
            }
        }
        for (key, expr) in [
            ("jobs.digest_cron", &self.jobs.digest_cron),
            ("jobs.summary_cron", &self.jobs.summary_cron),
        ] {
            if let Err(e) = expr.parse::<cron::Schedule>() {
                bad(
                    key,
                    format!(
                        "{expr:?} is not a cron expression (sec min hour day month weekday): {e}"
                    ),
                );
            }
        }
        if !self.sharing.export_cron.is_empty() {
            if let Err(e) = self.sharing.export_cron.parse::<cron::Schedule>() {
                bad(
                    "sharing.export_cron",
                    format!(
                        "{:?} is not a cron expression (sec min hour day month weekday): {e}",
                        self.sharing.export_cron
                    ),
                );
            }
        }
        if self.sharing.export_days < 1 {
            bad("sharing.export_days", "must be at least 1".into());
        }
        for k in &self.sharing.export {
            if !EXPORT_KINDS.contains(&k.as_str()) {
                bad(
                    "sharing.export",
                    format!("{k:?} is not one of {}", EXPORT_KINDS.join(", ")),
                );
            }
        }
        for (k, v) in &self.indicators.targets {
            if !crate::domain::indicators::indicator_keys().any(|i| i == k) {
                let known: Vec<&str> = crate::domain::indicators::indicator_keys().collect();
                bad(
                    &format!("indicators.targets.{k}"),
                    format!(
                        "{k:?} is not an indicator{} (one of {})",
                        load::did_you_mean(k, known.iter().copied())
                            .map(|s| format!("; did you mean {s}?"))
                            .unwrap_or_default(),
                        known.join(", ")
                    ),
                );
            } else if !(0.0..=1.0).contains(v) {
                bad(
                    &format!("indicators.targets.{k}"),
                    format!("{k}: a share between 0 and 1"),
                );
            }
        }
        for (key, reason) in self.risk.problems() {
            bad(&key, reason);
        }
        if let ChannelSettings::Mock(m) = &self.gateway.channel {
            for (k, r) in [
                ("gateway.transient_failure_rate", m.transient_failure_rate),
                ("gateway.permanent_failure_rate", m.permanent_failure_rate),
            ] {
                if !(0.0..=1.0).contains(&r) {
                    bad(k, "must be between 0 and 1".into());
                }
            }
        }
        out
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

/// An address `serve` can listen on, read as start-up reads it (a host
/// and a port: `127.0.0.1:8080`, `[::1]:8080`, `localhost:8080`).
fn check_listen(listen: &str) -> Result<(), String> {
    use std::net::ToSocketAddrs;
    match listen.to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(format!("{listen:?} names no address")),
        Err(e) => Err(format!(
            "{listen:?} is not an address to listen on ({e}): give a host and a port, e.g. \"127.0.0.1:8080\""
        )),
    }
}

/// An `http://` or `https://` URL with a host.
fn check_http_url(url: &str) -> Result<(), String> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        Ok(u) => Err(format!(
            "{url:?} is a {}: URL; give an http:// or https:// address with a host",
            u.scheme()
        )),
        Err(e) => Err(format!(
            "{url:?} is not a URL ({e}); e.g. \"https://reminders.example.gov.cn\""
        )),
    }
}

/// Why `name` is no zone, with the nearest one's name.
fn unknown_zone(name: &str) -> String {
    let hint = load::did_you_mean(name, chrono_tz::TZ_VARIANTS.iter().map(|z| z.name()))
        .map(|z| format!("; did you mean {z}?"))
        .unwrap_or_default();
    format!("unknown IANA time zone {name:?} (e.g. \"Asia/Shanghai\"){hint}")
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
                    serde::de::Error::custom(format!("zones.{k}: {}", super::unknown_zone(&v)))
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
            .map_err(|_| serde::de::Error::custom(super::unknown_zone(&s)))
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
        use figment::providers::{Format, Toml};
        let from_example: Config = figment::Figment::from(Toml::string(EXAMPLE))
            .extract()
            .unwrap();
        assert_eq!(toml_of(&from_example), toml_of(&Config::default()));
    }

    #[test]
    fn the_example_and_the_packaged_configuration_pass_every_check() {
        // What the Debian package installs: the example, naming the database.
        const PACKAGED: &str = include_str!("../../deploy/careminder.toml");
        assert_eq!(
            PACKAGED,
            EXAMPLE.replace(
                "# database = \"/var/lib/careminder/careminder.db\"",
                "database = \"/var/lib/careminder/careminder.db\""
            ),
            "deploy/careminder.toml is config.example.toml with `database` set"
        );
        let dir = tempfile::tempdir().unwrap();
        for text in [EXAMPLE, PACKAGED] {
            let f = dir.path().join("c.toml");
            std::fs::write(&f, text).unwrap();
            let (config, problems) = Sources {
                file: Some(f),
                secrets: None,
                env: vec![],
            }
            .check();
            assert!(problems.is_empty(), "{problems:?}");
            assert_eq!(
                config.database_from.is_some(),
                text == PACKAGED,
                "only the packaged one names the database"
            );
        }
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

    #[test]
    fn a_postgres_url_selects_postgres_and_its_password_stays_out_of_messages() {
        let url = "postgres://care:s3cret@db.example:5432/county";
        let d = DatabaseUrl::parse(url).unwrap();
        assert_eq!(d, DatabaseUrl::Postgres(url.into()));
        assert_eq!(d.to_string(), "postgres://care:***@db.example:5432/county");
        assert_eq!(
            String::from(d),
            url,
            "the configuration keeps the whole URL"
        );
        assert!(matches!(
            DatabaseUrl::parse("postgresql:///county").unwrap(),
            DatabaseUrl::Postgres(_)
        ));
        assert!(matches!(
            DatabaseUrl::parse("county.db").unwrap(),
            DatabaseUrl::Sqlite(_)
        ));
        let err = DatabaseUrl::parse("mysql://x/y").unwrap_err().to_string();
        assert!(err.contains("postgres://"), "{err}");
    }
}

/// Where careminder keeps its data: SQLite (a file path, or a
/// `sqlite://PATH` URL), the embedded default, or PostgreSQL (a
/// `postgres://` URL). The store opens whatever this names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://` or `postgresql://`).
    Postgres(String),
}

impl DatabaseUrl {
    /// A path or a URL: `careminder.db`, `/var/lib/careminder/county.db`,
    /// `sqlite:///var/lib/careminder/county.db`, `sqlite:county.db`.
    pub fn parse(s: &str) -> Result<Self, ConfigError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(ConfigError::Invalid {
                key: "database",
                reason: "must name a database".into(),
            });
        }
        if let Some(rest) = s
            .strip_prefix("sqlite://")
            .or_else(|| s.strip_prefix("sqlite:"))
        {
            let path = rest.split('?').next().unwrap_or(rest);
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(Self::Postgres(s.to_string()));
        }
        if let Some((scheme, _)) = s.split_once("://") {
            return Err(ConfigError::Invalid {
                key: "database",
                reason: format!(
                    "{scheme}:// databases are not supported; use a SQLite file path or a postgres:// URL"
                ),
            });
        }
        Ok(Self::Sqlite(PathBuf::from(s)))
    }

    /// The SQLite file, when it is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Self::Sqlite(p) => Some(p),
            Self::Postgres(_) => None,
        }
    }
}

/// A connection URL fit for logs and messages: its password, if any, is
/// replaced by `***`.
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

impl From<PathBuf> for DatabaseUrl {
    fn from(p: PathBuf) -> Self {
        Self::Sqlite(p)
    }
}

impl TryFrom<String> for DatabaseUrl {
    type Error = ConfigError;
    fn try_from(s: String) -> Result<Self, ConfigError> {
        Self::parse(&s)
    }
}

impl From<DatabaseUrl> for String {
    /// The URL in full (the configuration keeps its password); `Display`
    /// is the one for logs.
    fn from(d: DatabaseUrl) -> String {
        match d {
            DatabaseUrl::Sqlite(p) => p.display().to_string(),
            DatabaseUrl::Postgres(url) => url,
        }
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(p) => write!(f, "{}", p.display()),
            Self::Postgres(url) => f.write_str(&redact_password(url)),
        }
    }
}
