//! Recurring jobs on cron expressions (read in the configured zone): each
//! officer's daily list of overdue visits, escalations to supervisors, stale
//! pregnancies, and the administrators' weekly summary.
//!
//! A job remembers when it last ran (`state`), and a tick runs it when its
//! next occurrence after that has come: once, even after days of downtime.
//! However many processes tick on one database, the one that claims the
//! occurrence runs it (`job_claims`: a claim whose process died is taken
//! over after its lease). Its messages are outbox rows keyed by job,
//! recipient and day, so even a job run twice sends nothing twice.

use super::{AppError, Waker};
use crate::domain::schedule::local_date;
use crate::store::{Coverage, DirectMessage, OverdueVisit, StaffRow};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::str::FromStr;

/// How long a claimed job occurrence is another process's to finish.
const JOB_LEASE_MINUTES: i64 = 15;

/// Messages one staff member would get from a digest.
#[derive(Debug, Clone, Serialize)]
pub struct Digest {
    pub staff_code: String,
    pub role: crate::domain::Role,
    pub messages: Vec<String>,
}

/// A worklist item's state: its window or period is over, unrecorded.
pub const MISSED: &str = "missed, not recorded";
/// A worklist item's state: the officer's home visit, due now.
pub const HOME_VISIT_DUE: &str = "home visit due";
/// A worklist item's state: a step for her baby against mother-to-child
/// transmission, due now (her care team's; her texts never name it).
pub const NEWBORN_TASK_DUE: &str = "newborn task due";

/// One task about a woman's risk on a worklist.
#[derive(Debug, Clone, Serialize)]
pub struct RiskWorkItem {
    #[serde(flatten)]
    pub task: crate::store::RiskTask,
    /// The day it is due by.
    pub due: NaiveDate,
    pub overdue: bool,
    /// Her grade (her care team's only).
    pub grade: crate::domain::risk::Grade,
}

/// One overdue visit on an officer's worklist.
#[derive(Debug, Clone, Serialize)]
pub struct WorkItem {
    #[serde(flatten)]
    pub visit: OverdueVisit,
    /// "overdue", "missed, not recorded" once the next window has opened,
    /// or "home visit due" (the officer's own visit, this period).
    pub state: &'static str,
    pub days_overdue: i64,
}

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
        if !self.config.sharing.export_cron.is_empty() {
            slots.push((
                "share",
                self.config.sharing.export_cron.as_str(),
                self.config.timezone,
                "job:share:last_run".to_string(),
            ));
        }
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
            let lease = now + Duration::minutes(JOB_LEASE_MINUTES);
            if !self.store.claim_job(&key, next, now, lease).await? {
                // Another process on this database runs it, or ran it.
                continue;
            }
            if let Err(e) = self.run_job(name, tz, last, now).await {
                // Free for the next tick, here or in another process.
                self.store.release_job(&key, next).await?;
                return Err(e);
            }
            self.store
                .set_state(&key, &crate::store::ts(now).to_string())
                .await?;
            self.store.finish_job(&key, next).await?;
            tracing::info!(job = name, zone = tz.name(), "job ran");
            self.metrics.job(name);
            ran.push(name);
        }
        Ok(ran)
    }

    async fn run_job(
        &self,
        name: &str,
        tz: chrono_tz::Tz,
        last: DateTime<chrono_tz::Tz>,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        match name {
            "digest" => {
                // What became news since the last run's day (more than one
                // day when the service was down).
                let since = last
                    .date_naive()
                    .min(local_date(tz, now) - Duration::days(1));
                self.send_digests_in(now, tz, since).await?;
                self.store.purge_rejected_webhooks(now).await?;
                self.store.purge_webhook_events(now).await?;
            }
            "share" => {
                // The days before today: the period just ended.
                let to = local_date(tz, now);
                let from = to - Duration::days(self.config.sharing.export_days);
                let files = super::sharing::export(
                    &self.store,
                    &self.config,
                    from,
                    to,
                    None,
                    "job:share",
                    now,
                )
                .await?;
                super::sharing::write_files(&self.config, &files)?;
            }
            _ => {
                self.send_weekly_summary(now).await?;
            }
        }
        Ok(())
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
    /// (escalations) would receive as of `now`, were today's digest sent
    /// now. Staff with nothing new to hear get nothing.
    pub async fn digests(&self, now: DateTime<Utc>) -> Result<Vec<Digest>, AppError> {
        let today = local_date(self.config.timezone, now);
        self.digests_in(now, self.config.timezone, today - Duration::days(1))
            .await
    }

    /// The digests as of today in zone `tz`, naming what became news in
    /// the days `(since, today]` (one day, unless the job missed some).
    ///
    /// An overdue visit is news the day it becomes overdue (window end +
    /// grace + 1) and on each of `mention_again_after_days` after, unless
    /// the next check-up's window has opened by then: after that it is a
    /// task on the officer's worklist, not a text. A supervisor hears of
    /// it once, `escalate_after_days` after it became overdue. A pregnancy
    /// 44 weeks past LMP with no birth recorded is asked about once; the
    /// weekly summary carries the count after that.
    pub async fn digests_in(
        &self,
        now: DateTime<Utc>,
        tz: chrono_tz::Tz,
        since: NaiveDate,
    ) -> Result<Vec<Digest>, AppError> {
        let today = local_date(tz, now);
        let jobs = &self.config.jobs;
        let news = |day: NaiveDate| since < day && day <= today;
        // Every check-up past its window: which are news depends on her grade.
        let overdue = self.store.overdue_visits(today).await?;
        let stale = self.store.stale_pregnancies().await?;
        let staff: BTreeMap<String, StaffRow> = self
            .store
            .staff_list()
            .await?
            .into_iter()
            .map(|s| (s.code.clone(), s))
            .collect();
        let village = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        // Officer (or case manager) -> items; supervisor code -> items.
        let mut officer_items: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        let mut supervisor_items: BTreeMap<String, Vec<String>> = BTreeMap::new();
        // (The officer's own home visits are tasks on her worklist, never texts.)
        for v in &overdue {
            let grade = v.grade();
            // A woman graded high risk: her officer and case manager hear
            // of a missed check-up sooner, her supervisor the day after.
            let (grace, escalate) = self
                .config
                .risk
                .alert_days(&grade, (jobs.overdue_grace_days, jobs.escalate_after_days));
            if v.window_end >= today - Duration::days(grace) {
                continue;
            }
            let Some(officer) = v.officer_code.as_deref().and_then(|c| staff.get(c)) else {
                tracing::warn!(
                    woman_id = v.woman_id,
                    "overdue visit of a woman without a known officer"
                );
                continue;
            };
            let days = (today - v.window_end).num_days();
            let became_overdue = v.window_end + Duration::days(grace + 1);
            let again = !v.superseded(today)
                && jobs
                    .mention_again_after_days
                    .iter()
                    .any(|d| news(became_overdue + Duration::days(*d)));
            let tag = |lang: &str| {
                if grade.managed() {
                    grade.short(lang)
                } else {
                    String::new()
                }
            };
            if news(became_overdue) || again {
                let manager = v
                    .case_manager
                    .as_deref()
                    .and_then(|c| staff.get(c))
                    .filter(|m| m.code != officer.code);
                for to in std::iter::once(officer).chain(manager) {
                    let lang = to.language.as_str();
                    officer_items.entry(to.code.as_str()).or_default().push(self.texts.render(
                        "digest-item",
                        lang,
                        &json!({"name": v.name, "village": village(&v.village), "contact": label(v, lang),
                                "days": days, "grade": tag(lang)}),
                    ));
                }
            }
            if news(became_overdue + Duration::days(escalate)) {
                for sup in staff.values().filter(|s| {
                    s.role == crate::domain::Role::Supervisor
                        && s.township.is_some()
                        && s.township == officer.township
                }) {
                    supervisor_items.entry(sup.code.clone()).or_default().push(self.texts.render(
                        "escalation-item",
                        sup.language,
                        &json!({"officer": officer.name, "name": v.name, "village": village(&v.village),
                                "contact": label(v, sup.language.as_str()), "days": days,
                                "grade": tag(sup.language.as_str())}),
                    ));
                }
            }
        }
        // A referral whose result is not known in time, and a newborn's step
        // against mother-to-child transmission not recorded in its window:
        // her officer and case manager hear once, the day after it was due.
        let follow_up_days = self.config.risk.referral_follow_up_days;
        for r in self
            .store
            .risk_tasks(today)
            .await?
            .into_iter()
            .filter(|r| r.kind == "referral")
        {
            if !news(r.since + Duration::days(follow_up_days + 1)) {
                continue;
            }
            let grade = crate::domain::risk::Grade::from_stored(
                r.risk_colour.as_deref(),
                r.risk_purple,
                None,
            );
            let days = (today - r.since).num_days();
            for to in [r.officer_code.as_deref(), r.case_manager.as_deref()]
                .into_iter()
                .flatten()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .filter_map(|c| staff.get(c))
            {
                let lang = to.language.as_str();
                officer_items.entry(to.code.as_str()).or_default().push(self.texts.render(
                    "referral-overdue",
                    lang,
                    &json!({"name": r.name, "village": village(&r.village), "to": r.detail,
                            "days": days, "grade": if grade.managed() { grade.short(lang) } else { String::new() }}),
                ));
            }
        }
        for v in self
            .store
            .missed_home_visits(today)
            .await?
            .into_iter()
            .filter(|v| v.contact_key.starts_with("pmtct-"))
        {
            if !news(v.window_end + Duration::days(1)) {
                continue;
            }
            for to in [v.officer_code.as_deref(), v.case_manager.as_deref()]
                .into_iter()
                .flatten()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .filter_map(|c| staff.get(c))
            {
                let lang = to.language.as_str();
                officer_items.entry(to.code.as_str()).or_default().push(self.texts.render(
                    "newborn-task-missed",
                    lang,
                    &json!({"name": v.name, "village": village(&v.village), "task": label(&v, lang)}),
                ));
            }
        }
        for p in &stale {
            // Asked once: the day it went past 44 weeks.
            let went_stale = p.lmp + Duration::days(crate::domain::dates::MAX_GA_DAYS + 1);
            if !news(went_stale) {
                continue;
            }
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
                messages: vec![self.pack("digest-header", s.language.as_str(), json!({}), &items)],
            });
        }
        for (code, items) in supervisor_items {
            let s = &staff[&code];
            out.push(Digest {
                staff_code: code,
                role: s.role,
                messages: vec![self.pack(
                    "escalation-header",
                    s.language.as_str(),
                    json!({}),
                    &items,
                )],
            });
        }
        Ok(out)
    }

    /// One message: the header and as many items as fit
    /// `jobs.digest_max_parts` SMS parts, then a count of the rest ("and
    /// 12 more: see the worklist"). Items are never cut.
    fn pack(&self, header: &str, lang: &str, ctx: serde_json::Value, items: &[String]) -> String {
        let sep = if lang == "en" { "; " } else { "；" };
        let head = self.texts.render(header, lang, &ctx);
        let text = |k: usize| {
            let mut t = format!("{head}{}", items[..k].join(sep));
            if k < items.len() {
                let more =
                    self.texts
                        .render("digest-more", lang, &json!({ "count": items.len() - k }));
                if k > 0 {
                    t.push_str(sep);
                }
                t.push_str(&more);
            }
            t
        };
        let max = self.config.jobs.digest_max_parts.max(1);
        let fits = |s: &str| crate::domain::sms::measure(s).parts <= max;
        let mut k = 0;
        while k < items.len() && fits(&text(k + 1)) {
            k += 1;
        }
        text(k)
    }

    /// The officers' worklist: every overdue check-up in `officer`'s care
    /// (or everyone's), each marked missed when the next one's window has
    /// opened, listed until someone records it; the officer's home visits
    /// whose period ended unrecorded (missed); then the home visits due now
    /// (from `home_visits.lead_days` before their date to their period's end).
    pub async fn worklist(
        &self,
        now: DateTime<Utc>,
        officer: Option<&str>,
    ) -> Result<Vec<WorkItem>, AppError> {
        let today = local_date(self.config.timezone, now);
        let mine = |v: &OverdueVisit| officer.is_none_or(|o| v.officer_code.as_deref() == Some(o));
        let risk = &self.config.risk;
        let jobs = &self.config.jobs;
        let mut overdue_rows: Vec<OverdueVisit> = self
            .store
            .overdue_visits(today)
            .await?
            .into_iter()
            .filter(mine)
            // Overdue once past her grade's grace (high risk: at once).
            .filter(|v| {
                let (grace, _) = risk.alert_days(
                    &v.grade(),
                    (jobs.overdue_grace_days, jobs.escalate_after_days),
                );
                v.window_end < today - Duration::days(grace)
            })
            .collect();
        // Highest risk first, then as before (by officer, oldest first).
        overdue_rows.sort_by_key(|v| v.grade().rank());
        let overdue = overdue_rows.into_iter().map(|v| WorkItem {
            state: if v.superseded(today) {
                MISSED
            } else {
                "overdue"
            },
            days_overdue: (today - v.window_end).num_days(),
            visit: v,
        });
        let missed = self
            .store
            .missed_home_visits(today)
            .await?
            .into_iter()
            .filter(mine)
            .map(|v| WorkItem {
                state: MISSED,
                days_overdue: (today - v.window_end).num_days(),
                visit: v,
            });
        let due = self
            .store
            .due_home_visits(today, self.config.home_visits.lead_days)
            .await?
            .into_iter()
            .filter(mine)
            .map(|v| WorkItem {
                state: if v.contact_key.starts_with("pmtct-") {
                    NEWBORN_TASK_DUE
                } else {
                    HOME_VISIT_DUE
                },
                days_overdue: 0,
                visit: v,
            });
        Ok(overdue.chain(missed).chain(due).collect())
    }

    /// What care teams have to do about risk as of now, highest risk
    /// first: high-risk women with no case manager (for supervisors and
    /// administrators), women from 28 weeks with no delivery hospital
    /// chosen, referrals whose result is not known yet (`overdue` once past
    /// `[risk] referral_follow_up_days`; a delivery hospital once past 36
    /// weeks). `officer`: only her women, without the case-manager tasks.
    pub async fn risk_worklist(
        &self,
        now: DateTime<Utc>,
        officer: Option<&str>,
    ) -> Result<Vec<RiskWorkItem>, AppError> {
        let today = local_date(self.config.timezone, now);
        let days = self.config.risk.referral_follow_up_days;
        let mut out: Vec<RiskWorkItem> = self
            .store
            .risk_tasks(today)
            .await?
            .into_iter()
            .filter(|t| match officer {
                None => true,
                Some(o) => t.officer_code.as_deref() == Some(o) && t.kind != "assign_case_manager",
            })
            .map(|t| {
                let grade = crate::domain::risk::Grade::from_stored(
                    t.risk_colour.as_deref(),
                    t.risk_purple,
                    None,
                );
                let due = match t.kind.as_str() {
                    "referral" => t.since + Duration::days(days),
                    // 36 weeks: eight weeks after the task opened at 28.
                    "delivery_hospital" => t.since + Duration::days(8 * 7),
                    _ => t.since,
                };
                RiskWorkItem {
                    overdue: due < today,
                    due,
                    grade,
                    task: t,
                }
            })
            .collect();
        out.sort_by_key(|i| (i.grade.rank(), i.due));
        Ok(out)
    }

    /// Sends today's digests (kind alert: they wait for the send window).
    pub async fn send_digests(&self, now: DateTime<Utc>) -> Result<u64, AppError> {
        let mut n = 0;
        for tz in self.config.all_zones() {
            let since = local_date(tz, now) - Duration::days(1);
            n += self.send_digests_in(now, tz, since).await?;
        }
        Ok(n)
    }

    /// The digests of the staff whose village lies in zone `tz`
    /// (supervisors and administrators: the deployment's zone).
    pub async fn send_digests_in(
        &self,
        now: DateTime<Utc>,
        tz: chrono_tz::Tz,
        since: NaiveDate,
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
        for d in self.digests_in(now, tz, since).await? {
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
        // Pregnancies past 44 weeks with no birth recorded: asked about
        // once in a digest, then carried here until someone updates them.
        let stale = self.store.stale_pregnancies().await?.len();
        let mut n = 0;
        for s in self
            .store
            .staff_list()
            .await?
            .into_iter()
            .filter(|s| s.role == crate::domain::Role::Admin)
        {
            let mut ctx = serde_json::to_value(&total).unwrap_or_default();
            ctx["stale"] = json!(stale);
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
