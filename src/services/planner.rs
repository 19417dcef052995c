//! The planner: due campaign steps -> outbox rows.
//!
//! It keeps a watermark (`planned_until`): every firing up to it has been
//! written to the outbox. Each run plans the firings in `(watermark, now +
//! horizon]` and moves the watermark, so its cost is what newly came into
//! the horizon: for each step, one indexed range scan over visit (or
//! pregnancy) dates. A registration or correction plans its own pregnancy
//! over `(now, watermark]` at once, so nothing waits for the next sweep.
//! Every row has a unique key naming why it exists; planning twice, or
//! again after a crash, inserts nothing new.

use crate::domain::schedule::SendWindow;
use crate::store::{NewOutboxRow, Result, StepRow, Store};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

#[derive(Clone)]
pub struct Planner {
    store: Store,
    /// Zone in which step times of day are read.
    tz: Tz,
    /// Zones of villages elsewhere.
    zones: std::collections::BTreeMap<String, Tz>,
    window: SendWindow,
    /// How far ahead messages are written.
    horizon: Duration,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanReport {
    /// Rows newly written to the outbox.
    pub planned: u64,
    /// Candidates looked at (visits or pregnancies in the date ranges).
    pub considered: u64,
}

impl Planner {
    pub fn new(store: Store, tz: Tz, window: SendWindow, horizon: Duration) -> Self {
        Self {
            store,
            tz,
            zones: Default::default(),
            window,
            horizon,
        }
    }

    /// Reads the step times of these villages in their own zones.
    pub fn with_zones(mut self, zones: std::collections::BTreeMap<String, Tz>) -> Self {
        self.zones = zones;
        self
    }

    fn zone_for(&self, village: Option<&str>) -> Tz {
        village
            .and_then(|v| self.zones.get(v))
            .copied()
            .unwrap_or(self.tz)
    }

    /// Plans everything that came into the horizon since the last run.
    pub async fn run(&self, now: DateTime<Utc>) -> Result<PlanReport> {
        let to = now + self.horizon;
        let from = match self.store.planned_until().await? {
            Some(t) => t,
            None => now - Duration::seconds(1),
        };
        if to <= from {
            return Ok(PlanReport::default());
        }
        let report = self.plan_range(from, to, None, now).await?;
        self.store.set_planned_until(to).await?;
        Ok(report)
    }

    /// Plans some pregnancies (just registered or corrected) over the part
    /// of the horizon the sweep has already covered.
    pub async fn plan_pregnancies(&self, ids: &[i64], now: DateTime<Utc>) -> Result<PlanReport> {
        match self.store.planned_until().await? {
            Some(until) if until > now && !ids.is_empty() => {
                let mut total = PlanReport::default();
                for chunk in ids.chunks(5000) {
                    let r = self
                        .plan_range(now - Duration::seconds(1), until, Some(chunk), now)
                        .await?;
                    total.planned += r.planned;
                    total.considered += r.considered;
                }
                Ok(total)
            }
            Some(_) => Ok(PlanReport::default()),
            // Nothing was ever planned: start the watermark here so the first
            // sweep covers everything from this registration on.
            None => {
                self.store
                    .set_planned_until(now - Duration::seconds(1))
                    .await?;
                Ok(PlanReport::default())
            }
        }
    }

    /// Plans firings in `(from, to]`, for all pregnancies or only some.
    pub async fn plan_range(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        only: Option<&[i64]>,
        now: DateTime<Utc>,
    ) -> Result<PlanReport> {
        let (rows, considered) = self.rows_in(from, to, only).await?;
        let planned = self.store.insert_planned(&rows, now).await?;
        Ok(PlanReport {
            planned,
            considered,
        })
    }

    /// The firings up to `until` that no sweep has planned yet (those after
    /// the watermark, not already in the outbox), as the planner would
    /// plan them: a preview, nothing is written.
    pub async fn unplanned_until(&self, until: DateTime<Utc>) -> Result<Vec<NewOutboxRow>> {
        let from = match self.store.planned_until().await? {
            Some(t) => t,
            None => until - self.horizon,
        };
        if until <= from {
            return Ok(vec![]);
        }
        let (rows, _) = self.rows_in(from, until, None).await?;
        let keys: Vec<&str> = rows.iter().map(|r| r.dedupe_key.as_str()).collect();
        let planned = self.store.existing_keys(&keys).await?;
        Ok(rows
            .into_iter()
            .filter(|r| !planned.contains(&r.dedupe_key))
            .collect())
    }

    /// The messages of pregnancy `pregnancy_id` that fire in `(from, to]`,
    /// as the planner will plan them, computed whatever its horizon:
    /// (step, its campaign's key and step key, the visit, when).
    pub async fn forecast(
        &self,
        pregnancy_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(StepRow, Option<i64>, DateTime<Utc>)>> {
        let steps: std::collections::HashMap<i64, StepRow> = self
            .store
            .active_steps()
            .await?
            .into_iter()
            .map(|s| (s.id, s))
            .collect();
        let (rows, _) = self.rows_in(from, to, Some(&[pregnancy_id])).await?;
        let mut out: Vec<_> = rows
            .into_iter()
            .filter_map(|r| Some((steps.get(&r.step_id)?.clone(), r.visit_id, r.send_at)))
            .collect();
        out.sort_by_key(|(_, _, at)| *at);
        Ok(out)
    }

    /// The rows the planner plans for `(from, to]` and how many candidates
    /// it considered.
    async fn rows_in(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        only: Option<&[i64]>,
    ) -> Result<(Vec<NewOutboxRow>, u64)> {
        let mut rows = Vec::new();
        let mut considered = 0u64;
        for step in self.store.active_steps().await? {
            // The anchor dates whose firings fall in the range, in any zone in use.
            let (a, b) = std::iter::once(self.tz)
                .chain(self.zones.values().copied())
                .map(|tz| step.trigger.anchor_range(tz, &self.window, from, to))
                .reduce(|(a1, b1), (a2, b2)| (a1.min(a2), b1.max(b2)))
                .expect("at least the deployment's zone");
            if a > b {
                continue;
            }
            let candidates = self
                .store
                .planning_candidates(step.trigger.anchor, a, b, only)
                .await?;
            considered += candidates.len() as u64;
            // A series message goes once per pregnancy: a date correction
            // re-plans the series, but what she has read is not sent again.
            let had = if step.outreach && !candidates.is_empty() {
                let ids: Vec<i64> = candidates.iter().map(|c| c.pregnancy_id).collect();
                let women: Vec<i64> = candidates.iter().map(|c| c.woman_id).collect();
                self.store.step_handed_over(step.id, &women, &ids).await?
            } else {
                Default::default()
            };
            for c in candidates {
                if had.contains(&c.pregnancy_id) {
                    continue;
                }
                let tz = self.zone_for(c.village.as_deref());
                let Some(f) = step.trigger.firing(c.anchor_date, tz, &self.window) else {
                    continue;
                };
                if f.send_at <= from || f.send_at > to || f.send_at < c.plan_from {
                    continue;
                }
                rows.push(NewOutboxRow {
                    dedupe_key: dedupe_key(&step, &c),
                    woman_id: c.woman_id,
                    pregnancy_id: c.pregnancy_id,
                    visit_id: c.visit_id,
                    step_id: step.id,
                    send_at: f.send_at,
                    expires_at: f.expires_at,
                    outreach: step.outreach,
                });
            }
        }
        Ok((rows, considered))
    }
}

/// `s<step>.<step version>/v<visit>.<visit version>` or `/p<pregnancy>.<version>`.
fn dedupe_key(step: &StepRow, c: &crate::store::PlanningCandidate) -> String {
    match c.visit_id {
        Some(v) => format!("s{}.{}/v{}.{}", step.id, step.version, v, c.visit_version),
        None => format!(
            "s{}.{}/p{}.{}",
            step.id, step.version, c.pregnancy_id, c.pregnancy_version
        ),
    }
}
