//! The scheduler: owns the tick, one pass of every stage as of the clock's
//! now, and the loop that runs it: sleep until the next message or job is
//! due or a service wakes it (a registration, an edit, a reply), then tick.
//!
//! Each stage fails on its own: a poisoned inbound row or a broken
//! broadcast is logged with its cause and counted in
//! `careminder_scheduler_stage_failures`, and the stages after it (sending
//! above all) still run.

use crate::clock::Clock;
use crate::config::Config;
use crate::gateway::Gateways;
use crate::metrics::Metrics;
use crate::services::broadcasts::Broadcasts;
use crate::services::dispatcher::{DispatchReport, Dispatcher};
use crate::services::inbound::Inbound;
use crate::services::jobs::Jobs;
use crate::services::planner::{PlanReport, Planner};
use crate::services::Waker;
use crate::store::Store;
use chrono::{DateTime, Duration, Utc};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::watch;

/// One pass's stages, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Replies stored but not acted on (after a crash).
    Inbound,
    /// Campaign steps that came into the horizon.
    Planning,
    /// Occurrences of recurring broadcasts.
    Broadcasts,
    /// Digests, summaries and other cron jobs.
    Jobs,
    /// Sending what is due.
    Dispatch,
    /// Status reports the gateways produced themselves.
    Statuses,
    /// Folding the write-ahead log back into the database file.
    Checkpoint,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Inbound => "inbound",
            Stage::Planning => "planning",
            Stage::Broadcasts => "broadcasts",
            Stage::Jobs => "jobs",
            Stage::Dispatch => "dispatch",
            Stage::Statuses => "statuses",
            Stage::Checkpoint => "checkpoint",
        }
    }
}

/// What one scheduler pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickReport {
    pub plan: PlanReport,
    pub dispatch: DispatchReport,
    /// Status reports applied (the mock's receipts).
    pub statuses: u64,
    /// Stages that failed in this pass (logged and counted; the rest ran).
    pub failed_stages: u32,
}

/// A message a tick would hand to its gateway, as `tick --dry-run` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueMessage {
    /// Its outbox id; `None` for a firing the tick's planning would write first.
    pub id: Option<i64>,
    pub woman_id: Option<i64>,
    /// `campaign/step`, or the kind of a message without a step.
    pub step: String,
    pub send_at: DateTime<Utc>,
}

pub struct Scheduler {
    pub(crate) clock: Clock,
    pub(crate) config: Arc<Config>,
    pub(crate) store: Store,
    pub(crate) planner: Planner,
    pub(crate) dispatcher: Arc<Dispatcher>,
    pub(crate) gateways: Arc<Gateways>,
    pub(crate) inbound: Inbound,
    pub(crate) broadcasts: Broadcasts,
    pub(crate) jobs: Jobs,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) wake: Waker,
}

impl Scheduler {
    /// Runs one stage: its failure is logged with its cause, counted, and
    /// goes no further.
    async fn stage<T, E: std::fmt::Display>(
        &self,
        stage: Stage,
        failed: &mut u32,
        work: impl Future<Output = Result<T, E>>,
    ) -> Option<T> {
        match work.await {
            Ok(v) => Some(v),
            Err(e) => {
                *failed += 1;
                self.metrics.stage_failed(stage.as_str());
                tracing::error!(stage = stage.as_str(), error = %e, "scheduler stage failed; the other stages go on");
                None
            }
        }
    }

    /// Acts on leftover replies, plans what came into the horizon, plans
    /// recurring broadcasts, runs due jobs, sends everything due, and
    /// applies the gateways' own status reports: one pass as of now.
    pub async fn tick(&self) -> TickReport {
        let now = self.clock.now();
        let mut failed = 0;
        self.stage(
            Stage::Inbound,
            &mut failed,
            self.inbound.process_pending_inbound(),
        )
        .await;
        let plan = self
            .stage(Stage::Planning, &mut failed, self.planner.run(now))
            .await
            .unwrap_or_default();
        self.metrics.planned.inc_by(plan.planned);
        self.stage(
            Stage::Broadcasts,
            &mut failed,
            self.broadcasts.plan_recurring(now),
        )
        .await;
        self.stage(Stage::Jobs, &mut failed, self.jobs.run_due_jobs(now))
            .await;
        let dispatch = self
            .stage(Stage::Dispatch, &mut failed, self.dispatcher.drain(now))
            .await
            .unwrap_or_default();
        let reports = self.gateways.take_reports();
        let statuses = if reports.is_empty() {
            0
        } else {
            self.stage(
                Stage::Statuses,
                &mut failed,
                self.store.apply_status_reports(&reports),
            )
            .await
            .unwrap_or(0)
        };
        if dispatch.claimed > 0 || plan.planned > 0 || statuses > 0 {
            // Keeps the write-ahead log small between SQLite's own checkpoints.
            self.stage(
                Stage::Checkpoint,
                &mut failed,
                self.store.checkpoint_passive(),
            )
            .await;
        }
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
        TickReport {
            plan,
            dispatch,
            statuses,
            failed_stages: failed,
        }
    }

    /// What a tick as of `now` would hand to the gateways, in the order it
    /// would, without sending or writing anything: the messages due and
    /// waiting, then the firings its planning would write first. Whether
    /// the send window is open anywhere then (if not, only replies go).
    /// Each is still checked when sent (consent, her area's window, the
    /// frequency cap), so a tick may send fewer.
    pub async fn preview(
        &self,
        now: DateTime<Utc>,
    ) -> crate::store::Result<(Vec<DueMessage>, bool)> {
        let open = self
            .config
            .all_zones()
            .into_iter()
            .any(|tz| self.config.send_window.is_open(tz, now));
        let mut due: Vec<DueMessage> = self
            .store
            .due_unclaimed(now, open)
            .await?
            .into_iter()
            .map(|m| DueMessage {
                id: Some(m.id),
                woman_id: m.woman_id,
                step: m.step.unwrap_or_default(),
                send_at: m.send_at,
            })
            .collect();
        if open {
            let steps: std::collections::HashMap<i64, String> = self
                .store
                .active_steps()
                .await?
                .into_iter()
                .map(|s| (s.id, format!("{}/{}", s.campaign_key, s.key)))
                .collect();
            let mut new: Vec<_> = self
                .planner
                .unplanned_until(now)
                .await?
                .into_iter()
                .filter(|r| r.expires_at > now)
                .map(|r| {
                    let m = DueMessage {
                        id: None,
                        woman_id: Some(r.woman_id),
                        step: steps.get(&r.step_id).cloned().unwrap_or_default(),
                        send_at: r.send_at,
                    };
                    (r.outreach, m)
                })
                .collect();
            new.sort_by_key(|(outreach, m)| (*outreach, m.send_at, m.woman_id));
            due.extend(new.into_iter().map(|(_, m)| m));
        }
        Ok((due, open))
    }

    /// Ticks, then sleeps until the next message is due, the next planning
    /// interval, or a wake-up, whichever comes first. A pass with a failed
    /// stage tries again shortly.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let relay = tokio::spawn(relay_wakeups(
            self.store.clone(),
            self.wake.clone(),
            shutdown.clone(),
        ));
        let interval = Duration::seconds(self.config.planner.interval_seconds.max(1));
        loop {
            if *shutdown.borrow() {
                break;
            }
            let report = self.tick().await;
            let wait = self.time_to_next_work(interval).await;
            let wait = if report.failed_stages > 0 {
                wait.min(std::time::Duration::from_secs(5))
            } else {
                wait
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.woken() => {}
                _ = shutdown.changed() => {}
            }
        }
        relay.abort();
        // Results the database refused in the last passes: one more try.
        if let Err(e) = self.dispatcher.write_unrecorded(self.clock.now()).await {
            let (unwritten, handed_over) = self.dispatcher.unrecorded();
            tracing::error!(unwritten, handed_over, error = %e, "results not written at shutdown: their messages return when their lease ends");
        }
        tracing::info!("scheduler stopped");
    }

    async fn time_to_next_work(&self, interval: Duration) -> std::time::Duration {
        let now = self.clock.now();
        let mut next = now + interval;
        if let Some(job) = self.jobs.next_job_at().await {
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

/// On PostgreSQL, passes this instance's wake-ups to the others and theirs
/// to this one (`LISTEN`/`NOTIFY`): a reply or a registration taken by one
/// instance is acted on at once by whichever is free. On SQLite there is
/// one process per file and nothing to relay. When the channel fails, it
/// is opened again after a pause, and this instance takes a pass in case
/// it missed one.
pub async fn relay_wakeups(store: Store, wake: Waker, mut shutdown: watch::Receiver<bool>) {
    let pause = std::time::Duration::from_secs(2);
    loop {
        let mut channel = match store.wake_channel().await {
            Ok(Some(c)) => c,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for other instances' wake-ups");
                tokio::select! {
                    _ = tokio::time::sleep(pause) => continue,
                    _ = shutdown.changed() => return,
                }
            }
        };
        loop {
            let failed = tokio::select! {
                _ = wake.to_pass_on() => channel.announce().await.err(),
                heard = channel.heard() => {
                    wake.wake_here();
                    heard.err()
                }
                _ = shutdown.changed() => return,
            };
            if let Some(e) = failed {
                tracing::warn!(error = %e, "wake-up channel failed; listening again");
                break;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.changed() => return,
        }
    }
}
