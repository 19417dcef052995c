//! The application: the store, the clock, the planner, the dispatcher and
//! the gateway wired together, with the operations the command line and
//! the HTTP API share, and the scheduler loop.

use crate::clock::Clock;
use crate::config::Config;
use crate::dispatcher::{DispatchReport, Dispatcher};
use crate::domain::dates::parse_date;
use crate::domain::{CarePlan, PregnancyDates};
use crate::enrollment::{validate, EnrollmentInput, InputError};
use crate::gateway::{Gateways, MockGateway};
use crate::planner::{PlanReport, Planner};
use crate::store::{EnrollOutcome, NewEnrollment, Store, StoreError};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{watch, Notify};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{0}")]
    Config(String),
    /// The request was understood and refused, with the reason.
    #[error("{0}")]
    Refused(String),
    /// Refers to something not yet written (a status for a message whose
    /// send is still being recorded): try again shortly.
    #[error("{0} is not known yet")]
    NotYet(String),
}

pub struct App {
    pub config: Arc<Config>,
    pub clock: Clock,
    pub store: Store,
    pub planner: Planner,
    pub dispatcher: Dispatcher,
    /// Every configured gateway and the routes to them.
    pub gateways: Arc<Gateways>,
    /// The mock gateway, when it is the one in use: tests and the demo look inside.
    pub mock: Option<Arc<MockGateway>>,
    /// Wakes the scheduler early: new registrations, edits, replies.
    pub wake: Notify,
    /// Reads replies: keywords of every configured language.
    pub matcher: crate::domain::keywords::Matcher,
    /// The texts careminder writes itself (keyword replies, alerts).
    pub texts: crate::render::SystemTexts,
    /// Writes gateways' delivery receipts in batches (group commit).
    pub receipts: crate::receipts::ReceiptWriter,
    /// The console's sign-in limits.
    pub sign_in_limits: crate::console::SignInLimits,
    /// What `/metrics` reports.
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// What one scheduler pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickReport {
    pub plan: PlanReport,
    pub dispatch: DispatchReport,
    /// Status reports applied (the mock's receipts).
    pub statuses: u64,
}

impl App {
    /// Opens the database (applying migrations), seeds the defaults and builds the gateway.
    pub async fn open(config: Config, clock: Clock) -> Result<Arc<App>, AppError> {
        let store = Store::open(&config.database).await?;
        crate::defaults::seed(&store, clock.now()).await?;
        let gateways = Arc::new(
            Gateways::from_config(&config, clock.clone())
                .map_err(|e| AppError::Config(e.to_string()))?,
        );
        let mock = gateways.mock.clone();
        let config = Arc::new(config);
        let planner = Planner::new(
            store.clone(),
            config.timezone,
            config.send_window,
            Duration::hours(config.planner.horizon_hours),
        )
        .with_zones(config.zones.clone());
        let metrics = Arc::new(crate::metrics::Metrics::default());
        let dispatcher = Dispatcher::new(
            store.clone(),
            gateways.clone(),
            config.clone(),
            metrics.clone(),
        );
        let matcher = crate::domain::keywords::Matcher::new(config.keywords.values());
        let receipts = crate::receipts::ReceiptWriter::start(store.clone(), clock.clone());
        Ok(Arc::new(App {
            config,
            clock,
            store,
            planner,
            dispatcher,
            gateways,
            mock,
            wake: Notify::new(),
            matcher,
            texts: crate::render::SystemTexts::default(),
            receipts,
            sign_in_limits: crate::console::SignInLimits::default(),
            metrics,
        }))
    }

    /// Plans what came into the horizon, sends everything due, and applies
    /// the gateway's own status reports: one pass as of the clock's now.
    pub async fn tick(&self) -> Result<TickReport, AppError> {
        let now = self.clock.now();
        self.process_pending_inbound().await?;
        let plan = self.planner.run(now).await?;
        self.metrics.planned.inc_by(plan.planned);
        self.plan_recurring_broadcasts(now).await?;
        self.run_due_jobs(now).await?;
        let dispatch = self.dispatcher.drain(now).await?;
        let reports = self.gateways.take_reports();
        let statuses = if reports.is_empty() {
            0
        } else {
            self.store.apply_status_reports(&reports).await?
        };
        if dispatch.claimed > 0 || plan.planned > 0 {
            tracing::info!(
                planned = plan.planned,
                handed_over = dispatch.handed_over,
                retried = dispatch.retried,
                failed = dispatch.failed,
                expired = dispatch.expired,
                "tick"
            );
        }
        Ok(TickReport {
            plan,
            dispatch,
            statuses,
        })
    }

    pub async fn plans(&self) -> Result<HashMap<String, CarePlan>, AppError> {
        Ok(self
            .store
            .plans()
            .await?
            .into_iter()
            .map(|(p, _)| (p.key.clone(), p))
            .collect())
    }

    /// Registers one woman and her pregnancy from raw input.
    pub async fn enroll(
        &self,
        input: &EnrollmentInput,
        source: &str,
        actor: &str,
    ) -> Result<EnrollOutcome, AppError> {
        let plans = self.plans().await?;
        let e = validate(input, &self.config, &plans, self.clock.now(), source, actor)?;
        let out = self.enroll_many(&[e]).await?;
        Ok(out[0])
    }

    /// Registers validated enrollments; re-registration with other dates
    /// corrects them. Plans the part of the horizon already swept.
    pub async fn enroll_many(
        &self,
        rows: &[NewEnrollment],
    ) -> Result<Vec<EnrollOutcome>, AppError> {
        let now = self.clock.now();
        let outcomes = self.store.enroll_batch(rows, now).await?;
        let mut replan = vec![];
        for (row, o) in rows.iter().zip(&outcomes) {
            match o {
                EnrollOutcome::Created { pregnancy_id, .. } => replan.push(*pregnancy_id),
                EnrollOutcome::DatesDiffer { pregnancy_id, .. } => {
                    self.apply_correction(*pregnancy_id, row.dates, now).await?;
                    replan.push(*pregnancy_id);
                }
                EnrollOutcome::Unchanged { .. } => {}
            }
        }
        self.planner.plan_pregnancies(&replan, now).await?;
        self.wake.notify_one();
        Ok(outcomes)
    }

    async fn apply_correction(
        &self,
        pregnancy_id: i64,
        dates: PregnancyDates,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let p = self.store.pregnancy(pregnancy_id).await?;
        let plan = self.store.plan(&p.care_plan).await?;
        let visits = plan.prenatal_visits(&dates, p.registered_on);
        self.store
            .correct_dates(pregnancy_id, &dates, &visits, now)
            .await?;
        Ok(())
    }

    /// Replaces a pregnancy's LMP/EDD (for example after a dating scan) and
    /// re-plans every visit not done and every message not sent.
    pub async fn correct_dates(
        &self,
        pregnancy_id: i64,
        lmp: Option<&str>,
        edd: Option<&str>,
        actor: &str,
    ) -> Result<PregnancyDates, AppError> {
        let parse =
            |field: &'static str, v: Option<&str>| -> Result<Option<NaiveDate>, InputError> {
                v.map(|s| {
                    parse_date(s).ok_or(InputError::BadDate {
                        field,
                        value: s.to_string(),
                    })
                })
                .transpose()
            };
        let dates = PregnancyDates::parse(parse("lmp", lmp)?, parse("edd", edd)?)
            .map_err(InputError::from)?;
        let now = self.clock.now();
        // A corrected date may make her younger or older, but must stay a pregnancy.
        let today = crate::domain::schedule::local_date(self.config.timezone, now);
        if dates.lmp > today {
            return Err(
                InputError::from(crate::domain::dates::DateError::LmpInFuture(dates.lmp)).into(),
            );
        }
        self.apply_correction(pregnancy_id, dates, now).await?;
        self.planner.plan_pregnancies(&[pregnancy_id], now).await?;
        self.store
            .audit(
                now,
                actor,
                "correct_dates",
                &format!("pregnancy:{pregnancy_id}"),
                &format!("lmp {}", dates.lmp),
            )
            .await?;
        self.wake.notify_one();
        Ok(dates)
    }

    /// Ends a pregnancy without a birth: every pending message is cancelled
    /// at once, and her officer is told privately.
    pub async fn end_pregnancy(&self, pregnancy_id: i64, actor: &str) -> Result<u64, AppError> {
        let now = self.clock.now();
        let today = crate::domain::schedule::local_date(self.config.timezone, now);
        let n = self.store.end_pregnancy(pregnancy_id, today, now).await?;
        let p = self.store.pregnancy(pregnancy_id).await?;
        let w = self.store.woman(p.woman_id).await?;
        if let Some(officer) = match &w.officer_code {
            Some(c) => self.store.staff_by_code(c).await?,
            None => None,
        } {
            let body = self.texts.render(
                "pregnancy-ended",
                &officer.language,
                &serde_json::json!({"name": w.name, "code": w.id.to_string()}),
            );
            self.store
                .enqueue_direct(
                    &crate::store::DirectMessage {
                        dedupe_key: format!("ended:{pregnancy_id}"),
                        kind: "alert",
                        woman_id: None,
                        staff_id: Some(officer.id),
                        to_addr: None,
                        body,
                        in_reply_to: None,
                        send_at: now,
                        expires_at: now + Duration::hours(48),
                    },
                    now,
                )
                .await?;
        }
        self.store
            .audit(
                now,
                actor,
                "end_pregnancy",
                &format!("pregnancy:{pregnancy_id}"),
                &format!("{n} messages cancelled"),
            )
            .await?;
        Ok(n)
    }

    /// Records consent given after registration; her reminders start from now.
    pub async fn give_consent(
        &self,
        woman_id: i64,
        how: &str,
        actor: &str,
    ) -> Result<(), AppError> {
        let now = self.clock.now();
        let consent = crate::store::Consent {
            at: now,
            source: how.to_string(),
            by: actor.to_string(),
        };
        let pregnancies = self.store.give_consent(woman_id, &consent).await?;
        self.planner.plan_pregnancies(&pregnancies, now).await?;
        self.store
            .audit(now, actor, "consent", &format!("woman:{woman_id}"), how)
            .await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Records a visit done (from the command line or the API): it silences
    /// the visit's pending reminders. `by` must look after her.
    pub async fn record_visit(
        &self,
        woman_id: i64,
        contact: Option<&str>,
        on: Option<&str>,
        by: &str,
        place: Option<&str>,
    ) -> Result<u64, AppError> {
        let now = self.clock.now();
        let today = crate::domain::schedule::local_date(self.config.timezone, now);
        let w = self.store.woman(woman_id).await?;
        self.check_care_team(by, &w).await?;
        let on = match on {
            Some(d) => parse_date(d).ok_or(InputError::BadDate {
                field: "on",
                value: d.to_string(),
            })?,
            None => today,
        };
        if on > today {
            return Err(AppError::Refused(format!("{on} is in the future")));
        }
        let visit_id = match contact {
            Some(key) => self.store.pending_visit_by_key(woman_id, key).await?,
            None => self
                .store
                .current_visit(woman_id, today)
                .await?
                .map(|v| v.0),
        }
        .ok_or_else(|| AppError::Refused("no pending check-up to record".into()))?;
        let n = self
            .store
            .record_visit(visit_id, on, by, place, now)
            .await?
            .ok_or_else(|| AppError::Refused("that check-up is recorded already".into()))?;
        self.store
            .audit(
                now,
                by,
                "visit_done",
                &format!("visit:{visit_id}"),
                &format!("on {on}"),
            )
            .await?;
        Ok(n)
    }

    /// Records a birth: the prenatal schedule ends, its pending messages are
    /// cancelled, and the postpartum (and, after a live birth, newborn)
    /// contacts are planned with their reminders.
    pub async fn record_birth(
        &self,
        woman_id: i64,
        on: &str,
        place: Option<&str>,
        live_birth: bool,
        actor: &str,
    ) -> Result<u64, AppError> {
        let now = self.clock.now();
        let today = crate::domain::schedule::local_date(self.config.timezone, now);
        let on = parse_date(on).ok_or(InputError::BadDate {
            field: "on",
            value: on.to_string(),
        })?;
        if on > today {
            return Err(AppError::Refused(format!("{on} is in the future")));
        }
        let pid = self
            .store
            .current_pregnancy(woman_id)
            .await?
            .ok_or_else(|| {
                AppError::Refused(format!("woman {woman_id} has no current pregnancy"))
            })?;
        let p = self.store.pregnancy(pid).await?;
        if p.status == "delivered" {
            return Err(AppError::Refused(
                "a birth is recorded already for this pregnancy".into(),
            ));
        }
        if on < p.lmp + Duration::days(20 * 7) {
            return Err(AppError::Refused(format!(
                "{on} is before 20 weeks: end the pregnancy instead"
            )));
        }
        let plan = self.store.plan(&p.care_plan).await?;
        let visits = plan.postpartum_visits(on, live_birth);
        let n = self
            .store
            .record_birth(pid, on, place, live_birth, &visits, now)
            .await?;
        self.planner.plan_pregnancies(&[pid], now).await?;
        self.store
            .audit(
                now,
                actor,
                "birth",
                &format!("pregnancy:{pid}"),
                &format!("on {on}, live {live_birth}"),
            )
            .await?;
        self.wake.notify_one();
        Ok(n)
    }

    /// Marks her current (or named) visit missed: it leaves the overdue lists.
    pub async fn mark_missed(
        &self,
        woman_id: i64,
        contact: Option<&str>,
        by: &str,
    ) -> Result<u64, AppError> {
        let now = self.clock.now();
        let today = crate::domain::schedule::local_date(self.config.timezone, now);
        let w = self.store.woman(woman_id).await?;
        self.check_care_team(by, &w).await?;
        let visit_id = match contact {
            Some(key) => self.store.pending_visit_by_key(woman_id, key).await?,
            None => self
                .store
                .current_visit(woman_id, today)
                .await?
                .map(|v| v.0),
        }
        .ok_or_else(|| AppError::Refused("no pending check-up".into()))?;
        let n = self
            .store
            .mark_missed(visit_id, by, now)
            .await?
            .unwrap_or(0);
        self.store
            .audit(now, by, "visit_missed", &format!("visit:{visit_id}"), "")
            .await?;
        Ok(n)
    }

    /// `by` (a staff code, or "admin" from the command line) must look after her.
    pub async fn check_care_team(
        &self,
        by: &str,
        w: &crate::store::WomanRow,
    ) -> Result<(), AppError> {
        if by == "admin" {
            return Ok(());
        }
        let s = self
            .store
            .staff_by_code(by)
            .await?
            .ok_or_else(|| AppError::Refused(format!("no staff member {by}")))?;
        if self.may_act_for(&s, w).await? {
            Ok(())
        } else {
            // Not her care team: as if she did not exist.
            Err(StoreError::NotFound(format!("woman {}", w.id)).into())
        }
    }

    /// Changes when a campaign step fires and re-plans what it had not sent.
    pub async fn retime_step(
        &self,
        step_id: i64,
        offset_days: i64,
        send_time: &str,
        grace_hours: i64,
        actor: &str,
    ) -> Result<u64, AppError> {
        let now = self.clock.now();
        let cancelled = self
            .store
            .set_step_timing(step_id, offset_days, send_time, grace_hours, now)
            .await?;
        if let Some(until) = self.store.planned_until().await? {
            if until > now {
                self.planner
                    .plan_range(now - Duration::seconds(1), until, None, now)
                    .await?;
            }
        }
        self.store
            .audit(
                now,
                actor,
                "retime_step",
                &format!("step:{step_id}"),
                &format!("{offset_days}d {send_time}"),
            )
            .await?;
        self.wake.notify_one();
        Ok(cancelled)
    }

    /// Records an opt-out; it holds before the next message.
    pub async fn opt_out(&self, woman_id: i64, channel: &str) -> Result<u64, AppError> {
        let now = self.clock.now();
        let n = self
            .store
            .opt_out(woman_id, now, channel)
            .await?
            .unwrap_or(0);
        self.store
            .audit(
                now,
                channel,
                "opt_out",
                &format!("woman:{woman_id}"),
                &format!("{n} messages cancelled"),
            )
            .await?;
        Ok(n)
    }

    /// Everything held about one woman, as JSON (a data-protection request).
    pub async fn export_woman(
        &self,
        woman_id: i64,
        actor: &str,
    ) -> Result<serde_json::Value, AppError> {
        let out = self
            .store
            .export_woman(woman_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("woman {woman_id}")))?;
        self.store
            .audit(
                self.clock.now(),
                actor,
                "export",
                &format!("woman:{woman_id}"),
                "",
            )
            .await?;
        Ok(out)
    }

    /// Erases one woman's personal data; nothing more is sent to her.
    pub async fn erase_woman(
        &self,
        woman_id: i64,
        actor: &str,
    ) -> Result<crate::store::Erasure, AppError> {
        let e = self
            .store
            .erase_woman(woman_id, self.clock.now(), actor)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("woman {woman_id}")))?;
        tracing::info!(woman_id, cancelled = e.cancelled, "personal data erased");
        Ok(e)
    }

    /// The scheduler: ticks, then sleeps until the next message is due, the
    /// next planning interval, or a wake-up, whichever comes first.
    pub async fn run_scheduler(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let interval = Duration::seconds(self.config.planner.interval_seconds.max(1));
        loop {
            if *shutdown.borrow() {
                break;
            }
            let wait = match self.tick().await {
                Ok(_) => self.time_to_next_work(interval).await,
                Err(e) => {
                    tracing::error!(error = %e, "scheduler pass failed; retrying shortly");
                    std::time::Duration::from_secs(5)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!("scheduler stopped");
    }

    async fn time_to_next_work(&self, interval: Duration) -> std::time::Duration {
        let now = self.clock.now();
        let mut next = now + interval;
        if let Some(job) = self.next_job_at().await {
            next = next.min(job.max(now));
        }
        if let Ok(Some(due)) = self.store.next_send_at().await {
            let tz = self.config.timezone;
            let w = self.config.send_window;
            let due = if w.is_open(tz, now) {
                due
            } else {
                w.next_open(tz, now).max(due)
            };
            next = next.min(due);
        }
        self.clock
            .real_wait(next - now)
            .max(std::time::Duration::from_millis(200))
    }
}
