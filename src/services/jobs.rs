//! Recurring jobs on cron expressions (read in the configured zone): each
//! officer's daily list of overdue visits, escalations to supervisors, stale
//! pregnancies, and the administrators' weekly summary.
//!
//! A job remembers when it last ran (`state`), and a tick runs it when its
//! next occurrence after that has come: once, even after days of downtime.
//! Its messages are outbox rows keyed by job, recipient and day, so running
//! a job twice for the same day sends nothing twice.

use super::{AppError, Waker};
use crate::domain::schedule::local_date;
use crate::store::{Coverage, DirectMessage, OverdueVisit, StaffRow};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::str::FromStr;

/// Messages one staff member would get from a digest.
#[derive(Debug, Clone, Serialize)]
pub struct Digest {
    pub staff_code: String,
    pub role: crate::domain::Role,
    pub messages: Vec<String>,
}

/// Longest digest message, in SMS parts: longer lists become more messages,
/// split between items, never inside one.
const DIGEST_MAX_PARTS: usize = 2;

/// The cron jobs: officers' digests, the weekly summary, coverage.
#[derive(Clone)]
pub struct Jobs {
    pub(crate) store: crate::store::Store,
    pub(crate) config: std::sync::Arc<crate::config::Config>,
    pub(crate) texts: std::sync::Arc<crate::render::SystemTexts>,
    pub(crate) metrics: std::sync::Arc<crate::metrics::Metrics>,
    pub(crate) wake: Waker,
}

impl Jobs {
    /// Each job's schedule: the digest once per zone in use (officers get
    /// theirs at 08:00 where they are), the summary in the deployment's.
    /// (name, cron, zone, state key)
    fn job_slots(&self) -> Vec<(&'static str, &str, chrono_tz::Tz, String)> {
        let mut slots = vec![];
        for (i, tz) in self.config.all_zones().into_iter().enumerate() {
            let key = if i == 0 {
                "job:digest:last_run".to_string()
            } else {
                format!("job:digest@{}:last_run", tz.name())
            };
            slots.push(("digest", self.config.jobs.digest_cron.as_str(), tz, key));
        }
        slots.push((
            "summary",
            self.config.jobs.summary_cron.as_str(),
            self.config.timezone,
            "job:summary:last_run".to_string(),
        ));
        slots
    }

    /// Runs the jobs whose time has come. Returns the names of those run.
    pub async fn run_due_jobs(&self, now: DateTime<Utc>) -> Result<Vec<&'static str>, AppError> {
        let mut ran = vec![];
        for (name, expr, tz, key) in self.job_slots() {
            let Some(last) = self
                .store
                .get_state(&key)
                .await?
                .and_then(|v| v.parse::<i64>().ok())
            else {
                // First start: count from now, nothing retroactive.
                self.store
                    .set_state(&key, &crate::store::ts(now).to_string())
                    .await?;
                continue;
            };
            let schedule =
                cron::Schedule::from_str(expr).map_err(|e| AppError::Config(e.to_string()))?;
            let last = crate::store::from_ts(last).with_timezone(&tz);
            let Some(next) = schedule.after(&last).next() else {
                continue;
            };
            let next = next.with_timezone(&Utc);
            if next > now {
                continue;
            }
            match name {
                "digest" => {
                    self.send_digests_in(now, tz).await?;
                    self.store.purge_rejected_webhooks(now).await?;
                }
                _ => {
                    self.send_weekly_summary(now).await?;
                }
            }
            self.store
                .set_state(&key, &crate::store::ts(now).to_string())
                .await?;
            tracing::info!(job = name, zone = tz.name(), "job ran");
            self.metrics.job(name);
            ran.push(name);
        }
        Ok(ran)
    }

    /// When the next job is due (for the scheduler's sleep).
    pub async fn next_job_at(&self) -> Option<DateTime<Utc>> {
        let mut best: Option<DateTime<Utc>> = None;
        for (_, expr, tz, key) in self.job_slots() {
            let last = self
                .store
                .get_state(&key)
                .await
                .ok()??
                .parse::<i64>()
                .ok()?;
            let schedule = cron::Schedule::from_str(expr).ok()?;
            let last = crate::store::from_ts(last).with_timezone(&tz);
            if let Some(n) = schedule.after(&last).next() {
                let n = n.with_timezone(&Utc);
                best = Some(best.map_or(n, |b| b.min(n)));
            }
        }
        best
    }

    /// What each officer (overdue visits, stale pregnancies) and supervisor
    /// (visits overdue past the escalation age) would receive as of `now`.
    /// Staff with nothing to act on get nothing.
    pub async fn digests(&self, now: DateTime<Utc>) -> Result<Vec<Digest>, AppError> {
        self.digests_in(now, self.config.timezone).await
    }

    /// The digests as of today in zone `tz` (what is overdue there).
    pub async fn digests_in(
        &self,
        now: DateTime<Utc>,
        tz: chrono_tz::Tz,
    ) -> Result<Vec<Digest>, AppError> {
        let today = local_date(tz, now);
        let grace = self.config.jobs.overdue_grace_days;
        let escalate = self.config.jobs.escalate_after_days;
        let overdue = self
            .store
            .overdue_visits(today - Duration::days(grace))
            .await?;
        let stale = self.store.stale_pregnancies().await?;
        let staff: BTreeMap<String, StaffRow> = self
            .store
            .staff_list()
            .await?
            .into_iter()
            .map(|s| (s.code.clone(), s))
            .collect();
        let village = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        // Officer -> items; supervisor code -> items.
        let mut officer_items: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        let mut supervisor_items: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for v in &overdue {
            let Some(officer) = v.officer_code.as_deref().and_then(|c| staff.get(c)) else {
                tracing::warn!(
                    woman_id = v.woman_id,
                    "overdue visit of a woman without a known officer"
                );
                continue;
            };
            let days = (today - v.window_end).num_days();
            let lang = officer.language.as_str();
            officer_items.entry(officer.code.as_str()).or_default().push(self.texts.render(
                "digest-item",
                lang,
                &json!({"name": v.name, "village": village(&v.village), "contact": label(v, lang), "days": days}),
            ));
            // First in a digest the day after window end + grace; escalated N days later.
            let first_listed = v.window_end + Duration::days(grace + 1);
            if (today - first_listed).num_days() >= escalate {
                for sup in staff.values().filter(|s| {
                    s.role == crate::domain::Role::Supervisor
                        && s.township.is_some()
                        && s.township == officer.township
                }) {
                    supervisor_items.entry(sup.code.clone()).or_default().push(self.texts.render(
                        "escalation-item",
                        sup.language,
                        &json!({"officer": officer.name, "name": v.name, "village": village(&v.village),
                                "contact": label(v, sup.language.as_str()), "days": days}),
                    ));
                }
            }
        }
        for p in &stale {
            if let Some(officer) = p.officer_code.as_deref().and_then(|c| staff.get(c)) {
                officer_items
                    .entry(officer.code.as_str())
                    .or_default()
                    .push(self.texts.render(
                        "digest-stale",
                        officer.language,
                        &json!({"name": p.name, "village": village(&p.village)}),
                    ));
            }
        }
        let mut out = vec![];
        for (code, items) in officer_items {
            let s = &staff[code];
            out.push(Digest {
                staff_code: code.to_string(),
                role: s.role,
                messages: self.pack("digest-header", s.language.as_str(), json!({}), &items),
            });
        }
        for (code, items) in supervisor_items {
            let s = &staff[&code];
            out.push(Digest {
                staff_code: code,
                role: s.role,
                messages: self.pack(
                    "escalation-header",
                    s.language.as_str(),
                    json!({"days": escalate}),
                    &items,
                ),
            });
        }
        Ok(out)
    }

    /// Packs items behind a numbered header into as few messages as fit
    /// `DIGEST_MAX_PARTS` SMS parts each, splitting only between items.
    fn pack(
        &self,
        header: &str,
        lang: &str,
        mut ctx: serde_json::Value,
        items: &[String],
    ) -> Vec<String> {
        let sep = if lang == "en" { "; " } else { "；" };
        let fits = |s: &str| crate::domain::sms::measure(s).parts <= DIGEST_MAX_PARTS;
        let head = |ctx: &mut serde_json::Value, part: usize, parts: usize| {
            ctx["part"] = json!(part);
            ctx["parts"] = json!(parts);
            self.texts.render(header, lang, ctx)
        };
        // Group with a provisional header (widest numbers), then number the groups.
        let mut groups: Vec<Vec<&str>> = vec![];
        let probe = head(&mut ctx, 99, 99);
        for item in items {
            let joined = groups
                .last()
                .map(|g| format!("{probe}{}{sep}{item}", g.join(sep)));
            match (groups.last_mut(), joined) {
                (Some(g), Some(j)) if fits(&j) => g.push(item),
                _ => groups.push(vec![item]),
            }
        }
        let n = groups.len();
        groups
            .iter()
            .enumerate()
            .map(|(i, g)| format!("{}{}", head(&mut ctx, i + 1, n), g.join(sep)))
            .collect()
    }

    /// Sends today's digests (kind alert: they wait for the send window).
    pub async fn send_digests(&self, now: DateTime<Utc>) -> Result<u64, AppError> {
        let mut n = 0;
        for tz in self.config.all_zones() {
            n += self.send_digests_in(now, tz).await?;
        }
        Ok(n)
    }

    /// The digests of the staff whose village lies in zone `tz`
    /// (supervisors and administrators: the deployment's zone).
    pub async fn send_digests_in(
        &self,
        now: DateTime<Utc>,
        tz: chrono_tz::Tz,
    ) -> Result<u64, AppError> {
        let today = local_date(tz, now);
        // Pregnancies 44 weeks past LMP with no birth: reminders stop, the
        // officer is asked to update the record.
        let stale = self
            .store
            .mark_stale(
                today - Duration::days(crate::domain::dates::MAX_GA_DAYS),
                now,
            )
            .await?;
        if stale > 0 {
            tracing::info!(stale, "pregnancies marked stale");
        }
        let mut n = 0;
        for d in self.digests_in(now, tz).await? {
            let Some(s) = self.store.staff_by_code(&d.staff_code).await? else {
                continue;
            };
            if self.config.zone_for(s.village.as_deref()) != tz {
                continue;
            }
            for (i, body) in d.messages.into_iter().enumerate() {
                n += self
                    .alert_staff(&s, format!("digest:{}:{today}:{i}", s.code), body, now)
                    .await? as u64;
            }
        }
        self.wake.wake();
        Ok(n)
    }

    async fn alert_staff(
        &self,
        s: &StaffRow,
        key: String,
        body: String,
        now: DateTime<Utc>,
    ) -> Result<bool, AppError> {
        Ok(self
            .store
            .enqueue_direct(
                &DirectMessage {
                    dedupe_key: key,
                    kind: crate::domain::MessageKind::Alert,
                    woman_id: None,
                    staff_id: Some(s.id),
                    to_addr: None,
                    body,
                    in_reply_to: None,
                    send_at: now,
                    expires_at: now + Duration::hours(24),
                },
                now,
            )
            .await?)
    }

    /// Coverage per township and village for the local days `[from, to)`.
    pub async fn coverage(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<Vec<Coverage>, AppError> {
        let tz = self.config.timezone;
        let today = local_date(tz, now);
        Ok(self
            .store
            .coverage(
                crate::domain::schedule::start_of_day(tz, from),
                crate::domain::schedule::start_of_day(tz, to),
                tz,
                today - Duration::days(self.config.jobs.overdue_grace_days),
            )
            .await?)
    }

    /// The week before `now`, summed, to every administrator.
    pub async fn send_weekly_summary(&self, now: DateTime<Utc>) -> Result<u64, AppError> {
        let today = local_date(self.config.timezone, now);
        let from = today - Duration::days(7);
        let rows = self.coverage(from, today, now).await?;
        let total = rows.iter().fold(Coverage::default(), |mut t, r| {
            t.sent += r.sent;
            t.delivered += r.delivered;
            t.failed += r.failed;
            t.on_time += r.on_time;
            t.late += r.late;
            t.overdue += r.overdue;
            t.missed += r.missed;
            t.registrations += r.registrations;
            t
        });
        let mut n = 0;
        for s in self
            .store
            .staff_list()
            .await?
            .into_iter()
            .filter(|s| s.role == crate::domain::Role::Admin)
        {
            let mut ctx = serde_json::to_value(&total).unwrap_or_default();
            ctx["from"] = json!(crate::render::format_date(from, s.language.as_str()));
            ctx["to"] = json!(crate::render::format_date(
                today - Duration::days(1),
                s.language.as_str()
            ));
            let body = self.texts.render("weekly-summary", s.language, &ctx);
            n += self
                .alert_staff(&s, format!("summary:{}:{today}", s.code), body, now)
                .await? as u64;
        }
        Ok(n)
    }
}

fn label<'a>(v: &'a OverdueVisit, lang: &str) -> &'a str {
    if lang == "en" {
        &v.label_en
    } else {
        &v.label_zh
    }
}
