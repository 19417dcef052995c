//! The composition root: opens the store, builds the gateways from the
//! configuration, and wires every service with exactly what it needs. The
//! HTTP layer and the command line hold an `App` and call its services;
//! nothing below this module knows it exists.

use crate::clock::Clock;
use crate::config::Config;
use crate::gateway::token::TokenShelf;
use crate::gateway::{Gateways, MockGateway, SendLedger, SharedBudget};
use crate::metrics::Metrics;
use crate::render::SystemTexts;
use crate::scheduler::{Scheduler, TickReport};
use crate::services::access::{Access, SignInLimits};
use crate::services::broadcasts::Broadcasts;
use crate::services::campaigns::Campaigns;
use crate::services::care::Care;
use crate::services::consent::Consents;
use crate::services::dispatcher::Dispatcher;
use crate::services::inbound::Inbound;
use crate::services::jobs::Jobs;
use crate::services::planner::Planner;
use crate::services::receipts::ReceiptWriter;
use crate::services::reports::Reports;
use crate::services::sms_templates::SmsTemplates;
use crate::services::wechat::WechatBinding;
use crate::services::Waker;
use crate::store::{InstanceRow, Store};
use chrono::Duration;
use std::collections::BTreeMap;
use std::sync::Arc;

pub use crate::services::AppError;

pub struct App {
    pub config: Arc<Config>,
    pub clock: Clock,
    pub store: Store,
    /// Every configured gateway and the routes to them.
    pub gateways: Arc<Gateways>,
    /// The mock gateway, when it is the one in use: tests and the demo look inside.
    pub mock: Option<Arc<MockGateway>>,
    /// What `/metrics` reports.
    pub metrics: Arc<Metrics>,
    /// Wakes the scheduler early: new registrations, edits, replies.
    pub wake: Waker,
    /// The console's sign-in limits.
    pub sign_in_limits: SignInLimits,

    /// Who may act for whom.
    pub access: Access,
    /// Consent and opt-out.
    pub consents: Consents,
    /// Registration, dates, visits, births; export and erase.
    pub care: Care,
    /// Risk grades, case managers, delivery hospitals, referrals.
    pub risk: crate::services::risk::Risk,
    /// Campaign state and step timing.
    pub campaigns: Campaigns,
    /// Replies and the officers' inbox.
    pub inbound: Inbound,
    /// Broadcasts to an audience.
    pub broadcasts: Broadcasts,
    /// Digests, summaries, coverage.
    pub jobs: Jobs,
    /// The township assessment's indicators.
    pub reports: Reports,
    /// Women who move: within the county, away, and referral summaries.
    pub moves: crate::services::moves::Moves,
    /// WeChat binding, callbacks and template variants.
    pub wechat: WechatBinding,
    /// Approved templates for the cloud SMS providers.
    pub sms_templates: SmsTemplates,
    /// Due campaign steps -> outbox rows.
    pub planner: Planner,
    /// Outbox -> gateways.
    pub dispatcher: Arc<Dispatcher>,
    /// Writes gateways' delivery receipts in batches (group commit).
    pub receipts: ReceiptWriter,
    /// The tick and its loop.
    pub scheduler: Arc<Scheduler>,
}

impl App {
    /// Opens the database (applying migrations), seeds the defaults, builds
    /// the gateways and wires the services.
    pub async fn open(config: Config, clock: Clock) -> Result<Arc<App>, AppError> {
        // A file this user may not write is named with its owner now,
        // not met later as "attempt to write a readonly database".
        let fresh_file = config.database.sqlite_path().filter(|p| !p.exists());
        if let Some(path) = config.database.sqlite_path() {
            crate::store::sqlite::files::check_writable(path).map_err(AppError::Config)?;
        }
        let store = Store::open(&config.database).await?;
        if let Some(path) = fresh_file {
            // Made by root (`sudo careminder staff add` before the service
            // first ran): the service's user, who owns the directory, must
            // be able to write it.
            crate::store::sqlite::files::adopt(path).map_err(crate::store::StoreError::from)?;
        }
        crate::services::defaults::seed(&store, clock.now()).await?;
        let gateways = Arc::new(
            Gateways::build(
                &config.gateway,
                &config.gateways,
                &config.routing,
                &config.public_url,
                clock.clone(),
            )
            .map_err(|e| AppError::Config(e.to_string()))?,
        );
        let shelf: Arc<dyn TokenShelf> = Arc::new(StoreTokens(store.clone()));
        if let Some((_, w)) = &gateways.wechat {
            w.share_tokens(shelf.clone());
        }
        if let Some((_, w)) = &gateways.wecom {
            w.share_tokens(shelf);
        }
        gateways.share_budgets(Arc::new(StoreBudget(store.clone())));
        gateways.share_ledger(Arc::new(StoreLedger(store.clone())));
        let mock = gateways.mock.clone();
        let config = Arc::new(config);
        let planner = Planner::new(
            store.clone(),
            config.timezone,
            config.send_window,
            Duration::hours(config.planner.horizon_hours),
        )
        .with_zones(config.zones.clone());
        let metrics = Arc::new(Metrics::default());
        let wake = Waker::default();
        let texts = Arc::new(SystemTexts::default());
        let matcher = Arc::new(crate::domain::keywords::Matcher::new(
            config.keywords.values(),
        ));
        let access = Access::new(store.clone());
        let consents = Consents::new(store.clone(), clock.clone(), planner.clone(), wake.clone());
        let dispatcher = Arc::new(Dispatcher::new(
            store.clone(),
            gateways.clone(),
            config.clone(),
            metrics.clone(),
            consents.clone(),
            clock.clone(),
            texts.clone(),
        ));
        let receipts = ReceiptWriter::start(store.clone(), clock.clone());
        let care = Care {
            store: store.clone(),
            clock: clock.clone(),
            config: config.clone(),
            planner: planner.clone(),
            access: access.clone(),
            texts: texts.clone(),
            wake: wake.clone(),
        };
        let moves = crate::services::moves::Moves {
            store: store.clone(),
            clock: clock.clone(),
            config: config.clone(),
            access: access.clone(),
            texts: texts.clone(),
            wake: wake.clone(),
            care: care.clone(),
        };
        let sms_templates = SmsTemplates {
            store: store.clone(),
            clock: clock.clone(),
            gateways: gateways.clone(),
        };
        let campaigns = Campaigns {
            store: store.clone(),
            clock: clock.clone(),
            planner: planner.clone(),
            templates: sms_templates.clone(),
            wake: wake.clone(),
        };
        let risk = crate::services::risk::Risk {
            store: store.clone(),
            clock: clock.clone(),
            config: config.clone(),
            access: access.clone(),
        };
        let inbound = Inbound {
            store: store.clone(),
            clock: clock.clone(),
            config: config.clone(),
            matcher,
            texts: texts.clone(),
            metrics: metrics.clone(),
            access: access.clone(),
            consents: consents.clone(),
            risk: risk.clone(),
            wake: wake.clone(),
            writer: Inbound::writer(store.clone(), clock.clone()),
            finisher: Inbound::finisher(store.clone()),
        };
        let broadcasts = Broadcasts {
            store: store.clone(),
            clock: clock.clone(),
            config: config.clone(),
            templates: sms_templates.clone(),
            wake: wake.clone(),
        };
        let jobs = Jobs {
            store: store.clone(),
            config: config.clone(),
            texts,
            metrics: metrics.clone(),
            wake: wake.clone(),
        };
        let reports = Reports {
            store: store.clone(),
            config: config.clone(),
            clock: clock.clone(),
        };
        let wechat = WechatBinding {
            store: store.clone(),
            clock: clock.clone(),
            gateways: gateways.clone(),
            receipts: receipts.clone(),
            inbound: inbound.clone(),
            wake: wake.clone(),
        };
        let scheduler = Arc::new(Scheduler {
            clock: clock.clone(),
            config: config.clone(),
            store: store.clone(),
            planner: planner.clone(),
            dispatcher: dispatcher.clone(),
            gateways: gateways.clone(),
            inbound: inbound.clone(),
            broadcasts: broadcasts.clone(),
            jobs: jobs.clone(),
            metrics: metrics.clone(),
            wake: wake.clone(),
        });
        let sign_in_limits = SignInLimits::new(store.clone());
        Ok(Arc::new(App {
            config,
            clock,
            store,
            gateways,
            mock,
            metrics,
            wake,
            sign_in_limits,
            access,
            consents,
            care,
            risk,
            campaigns,
            sms_templates,
            inbound,
            broadcasts,
            jobs,
            reports,
            moves,
            wechat,
            planner,
            dispatcher,
            receipts,
            scheduler,
        }))
    }

    /// One scheduler pass as of the clock's now (tests and `careminder tick`).
    pub async fn tick(&self) -> TickReport {
        self.scheduler.tick().await
    }

    /// Joins the instances serving from this database (`serve`), or
    /// refuses, naming each setting that differs, when a live one runs
    /// with other [`shared_settings`]: two instances that disagree on the
    /// zone or the send window would send at hours the other forbids.
    pub async fn join_instances(&self) -> Result<Membership, AppError> {
        let now = chrono::Utc::now();
        let host = hostname();
        let me = InstanceRow {
            id: format!(
                "{host}:{}:{:08x}",
                std::process::id(),
                rand::random::<u32>()
            ),
            host,
            pid: i64::from(std::process::id()),
            started_at: crate::store::ts(now),
            seen_at: crate::store::ts(now),
            settings: serde_json::to_string(&shared_settings(&self.config))
                .expect("settings serialize"),
        };
        self.check_instances(&me, false).await?;
        self.store.register_instance(&me).await?;
        // Two started at once: the one that started later gives way.
        if let Err(e) = self.check_instances(&me, true).await {
            self.store.forget_instance(&me.id).await?;
            return Err(e);
        }
        Ok(Membership {
            me,
            store: self.store.clone(),
        })
    }

    /// Refuses, as [`App::join_instances`] would, while a live instance
    /// runs with other shared settings (`careminder tick` beside `serve`).
    pub async fn agrees_with_instances(&self) -> Result<(), AppError> {
        let me = InstanceRow {
            id: String::new(),
            host: hostname(),
            pid: i64::from(std::process::id()),
            started_at: i64::MAX,
            seen_at: 0,
            settings: serde_json::to_string(&shared_settings(&self.config))
                .expect("settings serialize"),
        };
        self.check_instances(&me, false).await
    }

    async fn check_instances(&self, me: &InstanceRow, joined: bool) -> Result<(), AppError> {
        let now = chrono::Utc::now();
        let mine: BTreeMap<String, String> =
            serde_json::from_str(&me.settings).expect("our own settings");
        for other in serving_instances(&self.store).await? {
            if other.id == me.id
                || (joined && (other.started_at, &other.id) > (me.started_at, &me.id))
            {
                continue;
            }
            let theirs: BTreeMap<String, String> =
                serde_json::from_str(&other.settings).unwrap_or_default();
            let differ: Vec<String> = mine
                .iter()
                .filter(|(k, v)| theirs.get(*k) != Some(*v))
                .map(|(k, v)| {
                    let there = theirs.get(k).map(String::as_str).unwrap_or("unset");
                    format!("{k} is {there:?} there and {v:?} here")
                })
                .collect();
            if !differ.is_empty() {
                return Err(AppError::Config(format!(
                    "another careminder serves from this database ({}) with other settings \
                     (on {}, pid {}, seen {} s ago): {}. Every instance on one database must \
                     share these, or one would send when the other's rules forbid: give this \
                     one the same settings, or stop that one first",
                    self.config.database,
                    other.host,
                    other.pid,
                    (crate::store::ts(now) - other.seen_at).max(0),
                    differ.join("; ")
                )));
            }
        }
        Ok(())
    }
}

/// Seconds after its last renewal an instance still counts as serving.
pub const INSTANCE_LEASE_SECONDS: i64 = 60;

/// How often a serving instance renews its row.
pub const INSTANCE_RENEW_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

/// The settings every instance on one database must share, by key: when
/// and where messages may go out, through which gateways, and when the
/// jobs run.
pub fn shared_settings(config: &Config) -> BTreeMap<String, String> {
    let list = |items: Vec<String>| items.join(", ");
    let gateways = std::iter::once(("default", &config.gateway))
        .chain(config.gateways.iter().map(|(n, g)| (n.as_str(), g)))
        .map(|(n, g)| format!("{n}={}", g.kind()))
        .collect();
    BTreeMap::from([
        ("timezone".into(), config.timezone.name().to_string()),
        ("send_window".into(), config.send_window.to_string()),
        (
            "zones".into(),
            list(
                config
                    .zones
                    .iter()
                    .map(|(v, z)| format!("{v}={}", z.name()))
                    .collect(),
            ),
        ),
        ("gateways".into(), list(gateways)),
        (
            "routing.staff".into(),
            config.routing.staff.clone().unwrap_or_default(),
        ),
        (
            "routing.villages".into(),
            list(
                config
                    .routing
                    .villages
                    .iter()
                    .map(|(v, g)| format!("{v}={g}"))
                    .collect(),
            ),
        ),
        ("jobs.digest_cron".into(), config.jobs.digest_cron.clone()),
        ("jobs.summary_cron".into(), config.jobs.summary_cron.clone()),
        (
            "sharing.export_cron".into(),
            config.sharing.export_cron.clone(),
        ),
    ])
}

/// The instances serving from `store` now: renewed within the lease, and
/// not a process gone from this machine (killed, it left its row behind).
pub async fn serving_instances(
    store: &Store,
) -> Result<Vec<InstanceRow>, crate::store::StoreError> {
    let host = hostname();
    Ok(store
        .live_instances(chrono::Utc::now(), INSTANCE_LEASE_SECONDS)
        .await?
        .into_iter()
        .filter(|i| i.host != host || process_alive(i.pid))
        .collect())
}

/// This machine's name, as instances are told apart by.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

fn process_alive(pid: i64) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// This process's place among the instances serving from its database.
pub struct Membership {
    me: InstanceRow,
    store: Store,
}

impl Membership {
    /// Says this instance still runs (every [`INSTANCE_RENEW_EVERY`]).
    pub async fn renew(&self) {
        let now = chrono::Utc::now();
        let renewed = match self.store.renew_instance(&self.me.id, now).await {
            Ok(true) => Ok(()),
            // Forgotten after a long stall (a day): joined again.
            Ok(false) => {
                let me = InstanceRow {
                    seen_at: crate::store::ts(now),
                    ..self.me.clone()
                };
                self.store.register_instance(&me).await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = renewed {
            tracing::warn!(error = %e, "this instance's renewal could not be written");
        }
    }

    /// This instance stops.
    pub async fn leave(self) {
        if let Err(e) = self.store.forget_instance(&self.me.id).await {
            tracing::warn!(error = %e, "this instance's row could not be removed");
        }
    }
}

/// Runs a store call that a gateway makes on a task of its own, and waits
/// for it. A gateway's send is a future inside whatever drives it (a
/// stream of sends, a `select!`); if that driver stopped polling it while
/// the call held SQLite's single writer connection (or stood first in its
/// queue), and then waited for the writer itself, neither would move
/// again. A task is polled by the runtime, so the writer it takes is
/// always handed back.
async fn detached<T: Send + 'static>(
    call: impl std::future::Future<Output = crate::store::Result<T>> + Send + 'static,
) -> Result<T, String> {
    match tokio::spawn(call).await {
        Ok(done) => done.map_err(|e| e.to_string()),
        Err(e) => Err(format!("the store call failed: {e}")),
    }
}

/// Gateways' access tokens kept in the database (`state`), so every process
/// on it uses the same one and none refreshes it under another's feet.
pub struct StoreTokens(pub Store);

#[async_trait::async_trait]
impl TokenShelf for StoreTokens {
    async fn take(&self, key: &str) -> Option<(String, chrono::DateTime<chrono::Utc>)> {
        let (store, key) = (self.0.clone(), format!("token:{key}"));
        match detached(async move { store.get_state(&key).await }).await {
            Ok(v) => {
                let v = v?;
                let (until, token) = v.split_once(' ')?;
                Some((
                    token.to_string(),
                    crate::store::from_ts(until.parse().ok()?),
                ))
            }
            Err(e) => {
                tracing::warn!(error = %e, "the shared access token could not be read");
                None
            }
        }
    }

    async fn put(&self, key: &str, token: &str, until: chrono::DateTime<chrono::Utc>) {
        let value = format!("{} {token}", crate::store::ts(until));
        let (store, key) = (self.0.clone(), format!("token:{key}"));
        if let Err(e) = detached(async move { store.set_state(&key, &value).await }).await {
            tracing::warn!(error = %e, "the access token could not be shared");
        }
    }
}

/// Rate-limited gateways' sending budgets kept in the database, so the
/// processes on it keep to each limit together. Read on the real clock: a
/// provider counts real seconds.
pub struct StoreBudget(pub Store);

#[async_trait::async_trait]
impl SharedBudget for StoreBudget {
    async fn take(
        &self,
        gateway: &str,
        parts: u32,
        period: std::time::Duration,
        burst: u32,
    ) -> Result<Option<std::time::Duration>, String> {
        let now_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_micros() as i64;
        let period_us = (period.as_micros() as i64).max(1);
        let (store, gateway) = (self.0.clone(), gateway.to_string());
        detached(async move {
            store
                .take_send_budget(
                    &gateway,
                    i64::from(parts),
                    period_us,
                    i64::from(burst),
                    now_us,
                )
                .await
        })
        .await
        .map(|wait_us| (wait_us > 0).then(|| std::time::Duration::from_micros(wait_us as u64)))
    }
}

/// Sends whose answer was lost, kept in the database (`sends_in_doubt`)
/// so every process on it knows not to send them again unasked.
pub struct StoreLedger(pub Store);

impl StoreLedger {
    /// Runs `f` on a task of its own, as `StoreBudget` does: a send that
    /// is not polled must never hold the database's writer.
    async fn spawned<T, F>(&self, f: impl FnOnce(Store) -> F) -> Result<T, String>
    where
        T: Send + 'static,
        F: std::future::Future<Output = crate::store::Result<T>> + Send + 'static,
    {
        tokio::spawn(f(self.0.clone()))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }
}

#[async_trait::async_trait]
impl SendLedger for StoreLedger {
    async fn doubt(
        &self,
        gateway: &str,
        id: i64,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), String> {
        let gateway = gateway.to_string();
        self.spawned(move |s| async move { s.doubt_send(&gateway, id, since).await })
            .await
    }

    async fn doubted_since(
        &self,
        gateway: &str,
        id: i64,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, String> {
        let gateway = gateway.to_string();
        self.spawned(move |s| async move { s.send_doubted_since(&gateway, id).await })
            .await
    }

    async fn settle(&self, gateway: &str, id: i64) -> Result<(), String> {
        let gateway = gateway.to_string();
        self.spawned(move |s| async move { s.settle_send(&gateway, id).await })
            .await
    }

    async fn recorded(
        &self,
        gateway: &str,
        provider_ids: &[String],
    ) -> Result<Vec<String>, String> {
        let (gateway, ids) = (gateway.to_string(), provider_ids.to_vec());
        self.spawned(move |s| async move { s.recorded_provider_ids(&gateway, &ids).await })
            .await
    }
}
