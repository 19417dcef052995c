//! The dispatcher: outbox -> gateway.
//!
//! One pass claims a batch of due messages under a lease (a worker that
//! dies leaves them to be taken back when the lease ends), renders them,
//! hands them to the gateway concurrently, and records every result in one
//! transaction. Transient failures come back later with exponential backoff
//! and jitter; permanent ones fail at once. Nothing goes out while the send
//! window is closed, and nothing goes out past its grace.

mod context;
mod lease;
mod outcome;
mod prepare;
mod send;

use crate::config::{Config, DispatcherConfig};
use crate::domain::schedule::local_date;
use crate::domain::{MessageKind, MessageStatus as S};
use crate::gateway::{Gateways, OutgoingMessage, SendOutcome};
use crate::render::Renderer;
use crate::store::{ClaimedMessage, Flush, SendResult, Store};
use chrono::{DateTime, Duration, Utc};
use futures::{FutureExt, StreamExt};
use lease::Lease;
use outcome::{backoff, not_sent};
use prepare::Preparer;
use send::{jobs, send_job, Sent, Via};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// How long finished sends may wait to be written with the next ones: a
/// crash then sends again only what was in flight or finished this
/// recently (real time, not the service's clock: it paces writes).
const WRITE_EVERY: std::time::Duration = std::time::Duration::from_millis(20);

pub struct Dispatcher {
    store: Store,
    gateways: Arc<Gateways>,
    config: Arc<Config>,
    /// Staff alerts' texts (message-templates/system/).
    texts: Arc<crate::render::SystemTexts>,
    /// Compiled templates and the texts version they were built from.
    renderer: Mutex<Option<(i64, Arc<Renderer>)>>,
    /// Set on shutdown: no new batch is claimed.
    stopping: AtomicBool,
    metrics: Arc<crate::metrics::Metrics>,
    /// Records opt-outs the provider reports.
    consents: super::consent::Consents,
    /// Renews the leases of a batch in flight.
    clock: crate::clock::Clock,
    /// Results a pass could not write (a full disk): written before the
    /// next batch is claimed. Their claims stand until then.
    unrecorded: Mutex<Vec<SendResult>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchReport {
    pub claimed: u64,
    /// Handed to the gateway (accepted, sent or queued).
    pub handed_over: u64,
    pub retried: u64,
    pub failed: u64,
    pub cancelled: u64,
    pub expired: u64,
}

impl DispatchReport {
    /// Counts one result.
    fn count(&mut self, status: S) {
        match status {
            S::Accepted | S::Sent => self.handed_over += 1,
            S::Scheduled => self.retried += 1,
            S::Failed => self.failed += 1,
            S::Cancelled => self.cancelled += 1,
            S::Expired => self.expired += 1,
            S::Claimed | S::Delivered => {}
        }
    }

    fn add(&mut self, o: &DispatchReport) {
        self.claimed += o.claimed;
        self.handed_over += o.handed_over;
        self.retried += o.retried;
        self.failed += o.failed;
        self.cancelled += o.cancelled;
        self.expired += o.expired;
    }
}

impl Dispatcher {
    pub fn new(
        store: Store,
        gateways: Arc<Gateways>,
        config: Arc<Config>,
        metrics: Arc<crate::metrics::Metrics>,
        consents: super::consent::Consents,
        clock: crate::clock::Clock,
        texts: Arc<crate::render::SystemTexts>,
    ) -> Self {
        Self {
            texts,
            consents,
            clock,
            store,
            gateways,
            config,
            renderer: Mutex::new(None),
            unrecorded: Mutex::new(vec![]),
            stopping: AtomicBool::new(false),
            metrics,
        }
    }

    /// Stops claiming: the batch in flight finishes and records its
    /// results; no new batch starts.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn cfg(&self) -> &DispatcherConfig {
        &self.config.dispatcher
    }

    async fn renderer(&self) -> crate::store::Result<Arc<Renderer>> {
        let version = self.store.texts_version().await?;
        if let Some((v, r)) = self.renderer.lock().expect("renderer lock").as_ref() {
            if *v == version {
                return Ok(r.clone());
            }
        }
        let (r, broken) = Renderer::new(
            &self.store.step_texts().await?,
            &self.store.wechat_variants().await?,
            &self.store.sms_variants().await?,
        );
        for (step, lang, e) in broken {
            tracing::error!(step, lang, error = %e, "step text does not compile; messages of this step will fail");
        }
        let r = Arc::new(r);
        *self.renderer.lock().expect("renderer lock") = Some((version, r.clone()));
        Ok(r)
    }

    /// Runs passes until no due message is left (retries wait in the future).
    pub async fn drain(&self, now: DateTime<Utc>) -> crate::store::Result<DispatchReport> {
        let mut total = DispatchReport::default();
        loop {
            if self.is_stopping() {
                return Ok(total);
            }
            let r = self.run_once(now).await?;
            total.add(&r);
            if r.claimed == 0 {
                return Ok(total);
            }
        }
    }

    /// One pass: claim a batch, send it, record the results.
    ///
    /// Every message claimed ends the pass recorded: handed over, retried,
    /// failed, or handed back (due again at once) when the pass fails
    /// before sending it. Results that cannot be written (a full disk) are
    /// kept and written first by the next pass, before anything new is
    /// claimed; their claims stand meanwhile, so nothing handed over is
    /// taken back and sent again.
    ///
    /// Each send runs as a task of its own. The pass awaits its own writes
    /// (results, lease renewals) while sends are in flight, and a send may
    /// itself reach the database (a shared access token, a shared rate
    /// budget): polled as part of this future, a send that took the
    /// database's single writer would not be polled while the pass waited
    /// for that writer, and neither would ever move again. A task is
    /// polled by the runtime whatever this pass awaits.
    pub async fn run_once(&self, now: DateTime<Utc>) -> crate::store::Result<DispatchReport> {
        self.write_unrecorded(now).await?;
        let cfg = self.cfg();
        // Open somewhere: each message is then held to its own area's window.
        let open = self
            .config
            .all_zones()
            .into_iter()
            .any(|tz| self.config.send_window.is_open(tz, now));
        let lease_until = now + Duration::seconds(cfg.lease_seconds);
        let (claimed, expired) = self
            .store
            .claim_due(now, lease_until, cfg.batch_size, open)
            .await?;
        let lease = Lease::new(lease_until, self.clock.clone(), cfg.lease_seconds);
        let mut report = DispatchReport {
            claimed: claimed.len() as u64,
            expired,
            ..Default::default()
        };
        if claimed.is_empty() {
            return Ok(report);
        }
        let mut results = Vec::with_capacity(claimed.len());
        let to_send = match self.ready_to_send(&claimed, &mut results, now).await {
            Ok(to_send) => to_send,
            Err(e) => {
                // Nothing went out: the whole batch is due again at once.
                tracing::error!(claimed = claimed.len(), error = %e, "dispatch failed before sending: the batch is handed back");
                let back: Vec<SendResult> = claimed
                    .iter()
                    .map(|m| not_sent(m, S::Scheduled, format!("handed back: {e}"), None))
                    .collect();
                self.write_or_keep(back, now).await?;
                return Err(e);
            }
        };
        let gateways = self.gateways.clone();
        let metrics = self.metrics.clone();
        // Outreach and staff alerts may share a provider's batch call; a
        // woman's own reminder or answer goes alone, under its own id.
        let jobs = jobs(&gateways, to_send, |i| {
            claimed[i].outreach || claimed[i].kind == MessageKind::Alert
        });
        let sends = futures::stream::iter(jobs)
            .map(|job| {
                let (gateways, metrics, lease) = (gateways.clone(), metrics.clone(), lease.clone());
                let which: Vec<usize> = job.iter().map(|(i, _, _)| *i).collect();
                let task =
                    tokio::spawn(
                        async move { send_job(&gateways, &metrics, &lease, job, now).await },
                    );
                async move { (which, task.await) }
            })
            .buffer_unordered(cfg.concurrency);
        let mut sends = std::pin::pin!(sends);
        let mut opted_out = vec![];
        let mut misconfigured = vec![];
        // While the batch is in flight (a slow or rate-limited gateway can
        // take longer than a lease), its leases are renewed every second,
        // so no other process on this database takes it back and sends it
        // again; a dead process stops renewing and its batch returns.
        let in_flight: Vec<(i64, i64)> = claimed.iter().map(|m| (m.id, m.attempts)).collect();
        let mut renew = tokio::time::interval(std::time::Duration::from_secs(1));
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        renew.tick().await;
        let mut failure = None;
        let mut last_write = std::time::Instant::now();
        // Results at the front of `results` already counted in the report.
        let mut counted = 0;
        loop {
            // The last pass (no sends left) writes what was refused before sending.
            let write_by = tokio::time::Instant::from_std(last_write + WRITE_EVERY);
            let first = tokio::select! {
                done = sends.next() => Some(done),
                // Results waiting for company are written by then.
                _ = tokio::time::sleep_until(write_by), if !results.is_empty() => None,
                _ = renew.tick() => {
                    let until = self.clock.now() + Duration::seconds(cfg.lease_seconds);
                    match self.store.renew_leases(&in_flight, until).await {
                        Ok(_) => lease.renewed(until),
                        // The claim then lapses in time; nothing is handed
                        // over once it has (`Lease::holds`).
                        Err(e) => tracing::warn!(error = %e, "the batch's leases could not be renewed"),
                    }
                    continue;
                }
            };
            let (finished, first) = match first {
                Some(done) => (done.is_none(), done),
                None => (false, None),
            };
            // Results are written as sends finish, not once per batch: a
            // crash then re-sends only what was in flight. What else has
            // finished by now goes in the same transaction: an instant
            // gateway's batch in one, a slow or rate-limited one's as it goes.
            let mut done: Vec<_> = first.into_iter().collect();
            while let Some(Some(more)) = sends.next().now_or_never() {
                done.push(more);
            }
            for (which, outcome) in done {
                let sent = match outcome {
                    Ok(sent) => sent,
                    Err(e) => {
                        // A send that panicked may have reached its gateway:
                        // an attempt, retried under the same id.
                        tracing::error!(error = %e, "a send task failed");
                        for i in which {
                            let m = &claimed[i];
                            let retry = now + backoff(cfg, m.attempts);
                            let cause = format!("the send failed inside careminder: {e}");
                            results.push(SendResult {
                                undo_attempt: false,
                                ..not_sent(m, S::Scheduled, cause, Some(crate::store::ts(retry)))
                            });
                        }
                        continue;
                    }
                };
                for sent in sent {
                    let Sent {
                        i,
                        gateway,
                        channel,
                        failover,
                        out,
                        outcome,
                        refused_by,
                        lapsed,
                    } = sent;
                    if lapsed {
                        // Not an attempt: due again at once, here or elsewhere.
                        results.push(not_sent(
                            &claimed[i],
                            S::Scheduled,
                            "not handed over (the claim lapsed, or its pass could not write): given back".into(),
                            Some(crate::store::ts(now)),
                        ));
                        continue;
                    }
                    if let (SendOutcome::OptedOut { .. }, Some(w)) = (&outcome, claimed[i].woman_id)
                    {
                        opted_out.push(w);
                    }
                    if let SendOutcome::Misconfigured { reason } = &outcome {
                        misconfigured.push((gateway.clone(), reason.clone()));
                    }
                    if let Some(refused) = refused_by {
                        misconfigured.push(refused);
                    }
                    let mut r = outcome::result_of(
                        self.cfg(),
                        &claimed[i],
                        &gateway,
                        channel,
                        out,
                        outcome,
                        now,
                    );
                    let label = match r.status {
                        S::Accepted | S::Sent => "handed_over",
                        S::Scheduled => "retry",
                        other => other.as_str(),
                    };
                    self.metrics.send(&gateway, channel.as_str(), label);
                    if let (Some(why), None) = (failover, &r.cause) {
                        // Why it went another way, in the message's history.
                        r.cause = Some(why);
                    }
                    results.push(r);
                }
            }
            for r in &results[counted..] {
                report.count(r.status);
            }
            counted = results.len();
            // A gateway that answers at once finishes the batch faster
            // than a write takes: what finished within `WRITE_EVERY` of the
            // last write waits for the next, so a batch is a write or two,
            // not one per handful of sends (each write rewrites the same
            // pages of the outbox and its indexes).
            let due = finished || last_write.elapsed() >= WRITE_EVERY;
            if !results.is_empty() && due {
                // A write that fails is tried again with the next results,
                // and once more when every send has finished.
                match self
                    .store
                    .record_results(&results, now, self.flush_for(&results))
                    .await
                {
                    Ok(()) => {
                        self.apply_early_reports(&results, now).await;
                        results.clear();
                        counted = 0;
                        last_write = std::time::Instant::now();
                    }
                    Err(e) => {
                        // Hand nothing more over: its result could not be
                        // written either, and a hand-over nobody recorded is
                        // sent again once its claim is taken back.
                        lease.give_up();
                        tracing::warn!(unwritten = results.len(), error = %e, "results not written yet: the rest of the batch is not sent");
                        failure = Some(e);
                    }
                }
            }
            if finished {
                break;
            }
        }
        if !results.is_empty() {
            self.write_or_keep(results, now).await?;
        } else if let Some(e) = failure {
            tracing::info!(error = %e, "results written after a failed try");
        }
        misconfigured.sort();
        misconfigured.dedup_by(|a, b| a.0 == b.0);
        for (gateway, reason) in misconfigured {
            self.tell_admins(&gateway, &reason, now).await?;
        }
        for w in opted_out {
            // The provider knows she opted out (she replied STOP to it): so do we.
            if let Err(e) = self
                .consents
                .opt_out(w, super::consent::Via::Provider, "provider")
                .await
            {
                tracing::warn!(woman_id = w, error = %e, "could not record the opt-out the gateway reported");
            }
        }
        Ok(report)
    }

    /// Renders a claimed batch and decides what goes out: what will not
    /// (no consent, outside its window, over the cap) goes into `results`.
    async fn ready_to_send(
        &self,
        claimed: &[ClaimedMessage],
        results: &mut Vec<SendResult>,
        now: DateTime<Utc>,
    ) -> crate::store::Result<Vec<(usize, (OutgoingMessage, Via))>> {
        let renderer = self.renderer().await?;
        let preparer = Preparer {
            config: &self.config,
            gateways: &self.gateways,
        };
        let mut to_send = Vec::with_capacity(claimed.len());
        for (i, m) in claimed.iter().enumerate() {
            match preparer.prepare(m, &renderer, now) {
                Ok(out) => to_send.push((i, out)),
                Err(r) => results.push(*r),
            }
        }
        self.ask_before_cancelling(claimed, results, now).await;
        if claimed.iter().any(|m| m.outreach) {
            to_send = self.cap_outreach(claimed, to_send, results, now).await?;
        }
        Ok(to_send)
    }

    /// Whether writing `results` must wait for the disk: yes when one of
    /// them hands a message to a gateway that would send it again if the
    /// record were lost in a power cut. The rest are safe to redo: a lost
    /// result leaves its message claimed, and it is tried again under the
    /// same id once its lease ends (a retry, a failure and a cancellation
    /// are decided again; a gateway that drops repeats drops it).
    fn flush_for(&self, results: &[SendResult]) -> Flush {
        let repeats = |r: &SendResult| {
            r.gateway
                .as_deref()
                .and_then(|g| self.gateways.get(g))
                .is_none_or(|e| !e.gateway.drops_repeats())
        };
        if results
            .iter()
            .any(|r| matches!(r.status, S::Accepted | S::Sent) && repeats(r))
        {
            Flush::Yes
        } else {
            Flush::No
        }
    }

    /// Writes `results`, or keeps them for the next pass (which writes
    /// them before it claims anything) when the database refuses.
    /// A provider may have reported on a send before its id was written
    /// here (its webhook kept the report): applied now that it is.
    async fn apply_early_reports(&self, results: &[SendResult], now: DateTime<Utc>) {
        if results.iter().any(|r| r.provider_id.is_some()) {
            if let Err(e) = self.store.apply_early_reports(now).await {
                tracing::warn!(error = %e, "reports that came before their sends were not applied yet");
            }
        }
    }

    async fn write_or_keep(
        &self,
        results: Vec<SendResult>,
        now: DateTime<Utc>,
    ) -> crate::store::Result<()> {
        if let Err(e) = self
            .store
            .record_results(&results, now, self.flush_for(&results))
            .await
        {
            let handed_over = results
                .iter()
                .filter(|r| matches!(r.status, S::Accepted | S::Sent))
                .count();
            tracing::error!(
                unwritten = results.len(),
                handed_over,
                error = %e,
                "results not written: kept, and written before anything new is claimed"
            );
            self.unrecorded
                .lock()
                .expect("unrecorded lock")
                .extend(results);
            return Err(e);
        }
        self.apply_early_reports(&results, now).await;
        Ok(())
    }

    /// Writes the results an earlier pass could not, renewing their claims
    /// first (they stay this process's until written).
    pub async fn write_unrecorded(&self, now: DateTime<Utc>) -> crate::store::Result<()> {
        let results = std::mem::take(&mut *self.unrecorded.lock().expect("unrecorded lock"));
        if results.is_empty() {
            return Ok(());
        }
        let held: Vec<(i64, i64)> = results.iter().map(|r| (r.id, r.attempt)).collect();
        let until = self.clock.now() + Duration::seconds(self.cfg().lease_seconds);
        let written = match self.store.renew_leases(&held, until).await {
            Ok(_) => {
                self.store
                    .record_results(&results, now, self.flush_for(&results))
                    .await
            }
            Err(e) => Err(e),
        };
        match written {
            Ok(()) => {
                tracing::info!(
                    written = results.len(),
                    "results kept from an earlier pass written"
                );
                Ok(())
            }
            Err(e) => {
                self.unrecorded
                    .lock()
                    .expect("unrecorded lock")
                    .extend(results);
                Err(e)
            }
        }
    }

    /// Messages sent or tried whose results are not written yet: (how
    /// many, of which handed over).
    pub fn unrecorded(&self) -> (usize, usize) {
        let kept = self.unrecorded.lock().expect("unrecorded lock");
        let handed_over = kept
            .iter()
            .filter(|r| matches!(r.status, S::Accepted | S::Sent))
            .count();
        (kept.len(), handed_over)
    }

    /// The frequency cap: a woman gets at most `outreach.max_per_week`
    /// messages in seven days (her own reminders count but are never held)
    /// and at most `outreach.max_per_day` outreach messages a day. An
    /// outreach message over the cap waits a day (not counted as an
    /// attempt), or expires if that is past its grace. Reminders come first
    /// in every batch, so they take the room.
    async fn cap_outreach(
        &self,
        claimed: &[ClaimedMessage],
        to_send: Vec<(usize, (OutgoingMessage, Via))>,
        results: &mut Vec<SendResult>,
        now: DateTime<Utc>,
    ) -> crate::store::Result<Vec<(usize, (OutgoingMessage, Via))>> {
        let caps = &self.config.outreach;
        let tz = self.config.timezone;
        let women: Vec<i64> = to_send
            .iter()
            .filter_map(|(i, _)| claimed[*i].woman_id)
            .collect();
        let day_start = crate::domain::schedule::start_of_day(tz, local_date(tz, now));
        let mut counts = self
            .store
            .recent_counts(&women, now - Duration::days(7), day_start)
            .await?;
        let mut kept = Vec::with_capacity(to_send.len());
        for (i, out) in to_send {
            let m = &claimed[i];
            let Some(w) = m.woman_id else {
                kept.push((i, out));
                continue;
            };
            let (week, day) = counts.entry(w).or_default();
            if !m.outreach {
                *week += 1;
                kept.push((i, out));
                continue;
            }
            if *week < caps.max_per_week && *day < caps.max_per_day {
                *week += 1;
                *day += 1;
                kept.push((i, out));
                continue;
            }
            let retry_at = now + Duration::days(1);
            let cause = format!(
                "frequency cap: {week} messages in 7 days, {day} outreach today (at most {} and {})",
                caps.max_per_week, caps.max_per_day
            );
            let (status, retry_at) = if retry_at >= m.expires_at {
                (S::Expired, None)
            } else {
                (S::Scheduled, Some(crate::store::ts(retry_at)))
            };
            results.push(not_sent(m, status, cause, retry_at));
        }
        Ok(kept)
    }

    /// Tells every administrator, once a day per gateway, that a gateway
    /// refuses our configuration (a WeChat template id, credentials).
    async fn tell_admins(
        &self,
        gateway: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> crate::store::Result<()> {
        tracing::error!(gateway, %reason, "gateway configuration refused: administrators told");
        let day = local_date(self.config.timezone, now);
        for admin in self.store.staff_list().await? {
            if admin.role != crate::domain::Role::Admin {
                continue;
            }
            let body = self.texts.render(
                "gateway-misconfigured",
                admin.language.as_str(),
                &serde_json::json!({"gateway": gateway, "reason": reason}),
            );
            self.store
                .enqueue_direct(
                    &crate::store::DirectMessage {
                        dedupe_key: format!("config:{gateway}:{day}:{}", admin.id),
                        kind: crate::domain::MessageKind::Alert,
                        woman_id: None,
                        staff_id: Some(admin.id),
                        to_addr: None,
                        body,
                        in_reply_to: None,
                        send_at: now,
                        expires_at: now + Duration::hours(24),
                    },
                    now,
                )
                .await?;
        }
        Ok(())
    }

    /// A message claimed before (its worker stopped, its lease ran out)
    /// may have reached the gateway though nothing recorded it: before it
    /// is recorded "cancelled" (she opted out meanwhile), the gateway is
    /// asked, and what it says is recorded instead. A message handed over
    /// is never recorded as cancelled.
    async fn ask_before_cancelling(
        &self,
        claimed: &[ClaimedMessage],
        results: &mut [SendResult],
        now: DateTime<Utc>,
    ) {
        for r in results.iter_mut().filter(|r| r.status == S::Cancelled) {
            let Some(m) = claimed.iter().find(|m| m.id == r.id) else {
                continue;
            };
            if m.attempts <= 1 || m.can_receive {
                continue;
            }
            let (entry, _) =
                self.gateways
                    .route_at(m.to_staff, m.village.as_deref(), m.first_tried_at, now);
            if let Some(Some(status)) = entry.gateway.lookup(m.id).await {
                tracing::info!(
                    message_id = m.id,
                    gateway = entry.gateway.name(),
                    "handed over before the opt-out: not cancelled"
                );
                r.status = status.status();
                r.gateway = Some(entry.gateway.name().to_string());
                r.cause = Some(format!(
                    "{} had it before she opted out (its worker stopped before recording the hand-over)",
                    entry.gateway.name()
                ));
            }
        }
    }
}

/// A claimed message for the pure parts' tests: a Chinese check-up
/// reminder to a woman in V001, first attempt, due 2027-04-23.
#[cfg(test)]
pub(super) fn claimed_reminder() -> ClaimedMessage {
    let at = |s: &str| {
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
            .unwrap()
            .and_utc()
    };
    let day = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    ClaimedMessage {
        id: 7,
        attempts: 1,
        step_id: Some(1),
        expires_at: at("2027-04-21 12:00"),
        kind: MessageKind::Reminder,
        preset_body: None,
        woman_id: Some(3),
        to_staff: false,
        name: "王秀英".into(),
        phone: Some("+8613800000001".into()),
        language: "zh-CN".into(),
        village: Some("V001".into()),
        can_receive: true,
        stopped: false,
        contact_label_zh: Some("第3次产前检查".into()),
        contact_label_en: Some("3rd prenatal check-up".into()),
        home_visit: false,
        due_on: Some(day("2027-04-23")),
        window_end: Some(day("2027-05-06")),
        lmp: Some(day("2026-10-01")),
        grade: Default::default(),
        first_tried_at: at("2027-04-20 01:00"),
        outreach: false,
        broadcast_id: None,
        wechat_to: None,
        wecom_to: None,
        reply_via: None,
        fallback_of: None,
    }
}
