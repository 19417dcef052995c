//! The officers' side: overdue visits, stale pregnancies, births, visits
//! marked missed, and coverage figures.

use super::{on_db, on_read, ts, BeginWrite, Result, Store};
use crate::domain::PlannedVisit;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// A birth as recorded: the day, where, how many babies were born alive
/// (a stillbirth: 0; twins: 2) and, when known, the day she left hospital.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BirthRecord {
    pub on: NaiveDate,
    pub place: Option<String>,
    pub live_born: i64,
    pub discharged_on: Option<NaiveDate>,
}

/// A visit whose window closed without a record.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct OverdueVisit {
    #[sqlx(rename = "id")]
    pub visit_id: i64,
    pub woman_id: i64,
    pub name: String,
    pub village: Option<String>,
    pub officer_code: Option<String>,
    pub label_zh: String,
    pub label_en: String,
    /// When its window (a home visit: its period) opened.
    pub window_start: NaiveDate,
    /// The day it is due (the printed round lists what is due soon by it).
    pub due_on: NaiveDate,
    pub window_end: NaiveDate,
    /// When the pregnancy's next contact window opens, if one does.
    pub next_window_start: Option<NaiveDate>,
    /// The officer's own home visit (a task), not one of her check-ups.
    pub task: bool,
    /// Its contact key (`anc2`, `home-3`), for recording it.
    pub contact_key: String,
    /// Her current risk colour (none: not yet assessed) and whether purple:
    /// for her care team's lists only.
    pub risk_colour: Option<String>,
    pub risk_purple: bool,
    /// Her case manager (orange, red, purple), who hears of her too.
    pub case_manager: Option<String>,
}

impl OverdueVisit {
    /// Her grade, read back.
    pub fn grade(&self) -> crate::domain::risk::Grade {
        crate::domain::risk::Grade::from_stored(self.risk_colour.as_deref(), self.risk_purple, None)
    }
}

impl OverdueVisit {
    /// The next contact's window has opened: this one is missed, not just
    /// late, and the officer's task is to record what happened.
    pub fn superseded(&self, today: NaiveDate) -> bool {
        self.next_window_start.is_some_and(|d| d <= today)
    }
}

/// A pregnancy 44 weeks past LMP with no delivery recorded.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct StalePregnancy {
    #[sqlx(rename = "id")]
    pub pregnancy_id: i64,
    pub woman_id: i64,
    pub name: String,
    pub village: Option<String>,
    pub officer_code: Option<String>,
    pub lmp: NaiveDate,
}

/// Figures for one village over a period.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Coverage {
    pub township: String,
    pub village: String,
    /// Reminders handed to a gateway (sent or delivered included).
    pub sent: i64,
    pub delivered: i64,
    pub failed: i64,
    /// Visits whose window closed in the period: done within it.
    pub on_time: i64,
    /// Done after the window closed.
    pub late: i64,
    /// Still not done, window closed more than the grace ago.
    pub overdue: i64,
    /// Marked missed.
    pub missed: i64,
    /// Pregnancies registered in the period.
    pub registrations: i64,
}

impl Store {
    /// Pending check-ups of current pregnancies whose window closed before
    /// `cutoff` (the officer's own home visits are [`Store::missed_home_visits`]).
    /// (Women without an officer or village sort first, as SQLite orders
    /// NULLs; PostgreSQL is told so. Ties go by id, the same on both.)
    pub async fn overdue_visits(&self, cutoff: NaiveDate) -> Result<Vec<OverdueVisit>> {
        Ok(on_read!(self, db, {
            sqlx::query_as::<_, OverdueVisit>(
                "SELECT v.id, w.id AS woman_id, w.name, w.village, w.officer_code,
                        COALESCE(v.staff_label_zh, v.label_zh) AS label_zh,
                        COALESCE(v.staff_label_en, v.label_en) AS label_en,
                        v.window_start, v.due_on, v.window_end,
                        (SELECT MIN(n.window_start) FROM visits n
                          WHERE n.pregnancy_id = v.pregnancy_id AND n.window_start > v.window_start
                            AND n.task = FALSE AND n.status <> 'cancelled') AS next_window_start,
                        v.task, v.contact_key, p.risk_colour, p.risk_purple, p.case_manager
                 FROM visits v JOIN pregnancies p ON p.id = v.pregnancy_id JOIN women w ON w.id = p.woman_id
                 WHERE v.status = 'pending' AND v.task = FALSE AND v.window_end < $1
                   AND p.status IN ('active', 'delivered', 'stale')
                 ORDER BY w.officer_code NULLS FIRST, v.window_end, w.id, v.id",
            )
            .bind(cutoff)
            .fetch_all(db)
            .await?
        }))
    }

    /// The officer's home visits (and her care team's other tasks, such as
    /// a newborn's step against mother-to-child transmission, `pmtct-`)
    /// whose period ended before `today` with nothing recorded: missed (a
    /// later visit is the next period's).
    pub async fn missed_home_visits(&self, today: NaiveDate) -> Result<Vec<OverdueVisit>> {
        Ok(on_read!(self, db, {
            sqlx::query_as::<_, OverdueVisit>(
                "SELECT v.id, w.id AS woman_id, w.name, w.village, w.officer_code,
                        COALESCE(v.staff_label_zh, v.label_zh) AS label_zh,
                        COALESCE(v.staff_label_en, v.label_en) AS label_en,
                        v.window_start, v.due_on, v.window_end, CAST(NULL AS DATE) AS next_window_start, v.task, v.contact_key,
                        p.risk_colour, p.risk_purple, p.case_manager
                 FROM visits v JOIN pregnancies p ON p.id = v.pregnancy_id JOIN women w ON w.id = p.woman_id
                 WHERE v.status = 'pending' AND v.task = TRUE AND v.window_end < $1
                   AND p.status IN ('active', 'delivered', 'stale') AND w.erased_at IS NULL
                 ORDER BY w.officer_code NULLS FIRST, v.window_end, w.id, v.id",
            )
            .bind(today)
            .fetch_all(db)
            .await?
        }))
    }

    /// The officer's home visits due now: from `lead_days` before the
    /// visit's date until its period ends.
    pub async fn due_home_visits(
        &self,
        today: NaiveDate,
        lead_days: i64,
    ) -> Result<Vec<OverdueVisit>> {
        self.open_visits(
            "AND v.task",
            "v.window_start",
            today + chrono::Duration::days(lead_days.max(0)),
            today,
            "w.officer_code NULLS FIRST, v.window_end, w.id, v.id",
        )
        .await
    }

    /// Pending visits of current pregnancies due by `until` and not yet
    /// overdue (the window ends on or after `overdue_cutoff`): what an
    /// officer reminds women of on her round.
    pub async fn coming_visits(
        &self,
        until: NaiveDate,
        overdue_cutoff: NaiveDate,
    ) -> Result<Vec<OverdueVisit>> {
        self.open_visits(
            "",
            "v.due_on",
            until,
            overdue_cutoff,
            "w.village NULLS FIRST, v.window_start, w.id, v.id",
        )
        .await
    }

    /// Pending visits of current pregnancies whose `by_col` (a date column
    /// of `visits v`) is on or before `by` and whose window ends on or after
    /// `ends_from`.
    async fn open_visits(
        &self,
        narrower: &'static str,
        by_col: &'static str,
        by: NaiveDate,
        ends_from: NaiveDate,
        order: &'static str,
    ) -> Result<Vec<OverdueVisit>> {
        let sql = format!(
            "SELECT v.id, w.id AS woman_id, w.name, w.village, w.officer_code,
                    COALESCE(v.staff_label_zh, v.label_zh) AS label_zh,
                    COALESCE(v.staff_label_en, v.label_en) AS label_en,
                    v.window_start, v.due_on, v.window_end, CAST(NULL AS DATE) AS next_window_start, v.task, v.contact_key,
                    p.risk_colour, p.risk_purple, p.case_manager
             FROM visits v JOIN pregnancies p ON p.id = v.pregnancy_id JOIN women w ON w.id = p.woman_id
             WHERE v.status = 'pending' {narrower} AND {by_col} <= $1 AND v.window_end >= $2
               AND p.status IN ('active', 'delivered') AND (p.status = 'active' OR v.seq >= 100)
               AND w.erased_at IS NULL
             ORDER BY {order}"
        );
        Ok(on_read!(self, db, {
            sqlx::query_as::<_, OverdueVisit>(&sql)
                .bind(by)
                .bind(ends_from)
                .fetch_all(db)
                .await?
        }))
    }

    /// Marks active pregnancies with LMP before `lmp_before` stale and stops
    /// their reminders. Returns how many.
    pub async fn mark_stale(&self, lmp_before: NaiveDate, now: DateTime<Utc>) -> Result<u64> {
        Ok(on_db!(self, db, {
            let mut tx = db.begin_write().await?;
            let ids: Vec<i64> = sqlx::query_scalar(
                "UPDATE pregnancies SET status = 'stale', updated_at = $1 WHERE status = 'active' AND lmp < $2 RETURNING id",
            )
            .bind(ts(now))
            .bind(lmp_before)
            .fetch_all(&mut *tx)
            .await?;
            for id in &ids {
                super::enroll::cancel_pending!(
                    tx,
                    "pregnancy_id = $3",
                    *id,
                    "44 weeks without a recorded birth",
                    ts(now)
                );
            }
            tx.commit().await?;
            ids.len() as u64
        }))
    }

    pub async fn stale_pregnancies(&self) -> Result<Vec<StalePregnancy>> {
        Ok(on_read!(self, db, {
            sqlx::query_as::<_, StalePregnancy>(
                "SELECT p.id, w.id AS woman_id, w.name, w.village, w.officer_code, p.lmp
                 FROM pregnancies p JOIN women w ON w.id = p.woman_id WHERE p.status = 'stale'
                 ORDER BY w.officer_code NULLS FIRST, p.lmp, p.id",
            )
            .fetch_all(db)
            .await?
        }))
    }

    /// Records a birth: the prenatal schedule ends (pending prenatal visits
    /// whose window was still open, and their messages, cancelled; those
    /// already missed stay missed) and the postpartum contacts are added.
    /// Returns the number of messages cancelled.
    pub async fn record_birth(
        &self,
        pregnancy_id: i64,
        birth: &BirthRecord,
        visits: &[PlannedVisit],
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let now_s = ts(now);
        Ok(on_db!(self, db, {
            let mut tx = db.begin_write().await?;
            let n = birth_in!(tx, pregnancy_id, birth, visits, now_s);
            tx.commit().await?;
            n
        }))
    }

    /// Marks a visit missed: it leaves the overdue list and its follow-ups stop.
    pub async fn mark_missed(
        &self,
        visit_id: i64,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<u64>> {
        Ok(on_db!(self, db, {
            let mut tx = db.begin_write().await?;
            let r = sqlx::query(
                "UPDATE visits SET status = 'missed', done_by = $1 WHERE id = $2 AND status = 'pending'",
            )
            .bind(by)
            .bind(visit_id)
            .execute(&mut *tx)
            .await?;
            if r.rows_affected() == 0 {
                return Ok(None);
            }
            let n = super::enroll::cancel_pending!(
                tx,
                "visit_id = $3",
                visit_id,
                "visit marked missed",
                ts(now)
            );
            tx.commit().await?;
            Some(n)
        }))
    }

    /// The current (active, delivered or stale) pregnancy of a woman.
    pub async fn current_pregnancy(&self, woman_id: i64) -> Result<Option<i64>> {
        Ok(on_db!(self, db, {
            sqlx::query_scalar(
                "SELECT id FROM pregnancies WHERE woman_id = $1 AND status IN ('active', 'stale', 'delivered')
                 ORDER BY (status <> 'delivered') DESC, id DESC LIMIT 1",
            )
            .bind(woman_id)
            .fetch_optional(db)
            .await?
        }))
    }

    /// Figures per township and village for `[from, to)` as of `today`:
    /// reminders by outcome, visits whose window closed in the period by
    /// outcome, and new registrations. A woman's township is her officer's.
    pub async fn coverage(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        tz: chrono_tz::Tz,
        overdue_cutoff: NaiveDate,
    ) -> Result<Vec<Coverage>> {
        let mut by: BTreeMap<(String, String), Coverage> = BTreeMap::new();
        let area = "COALESCE(st.township, '-') AS t, COALESCE(w.village, '-') AS v";
        let sql = format!(
            "SELECT {area},
                    COUNT(*) FILTER (WHERE o.status IN ('accepted', 'sent', 'delivered')) AS sent,
                    COUNT(*) FILTER (WHERE o.status = 'delivered') AS delivered,
                    COUNT(*) FILTER (WHERE o.status = 'failed') AS failed
             FROM outbox o JOIN women w ON w.id = o.woman_id LEFT JOIN staff st ON st.code = w.officer_code
             WHERE o.kind = 'reminder' AND o.send_at >= $1 AND o.send_at < $2 GROUP BY t, v"
        );
        let rows: Vec<(String, String, i64, i64, i64)> = on_read!(self, db, {
            sqlx::query_as(&sql)
                .bind(ts(from))
                .bind(ts(to))
                .fetch_all(db)
                .await?
        });
        for (t, v, sent, delivered, failed) in rows {
            let c = by.entry((t, v)).or_default();
            c.sent = sent;
            c.delivered = delivered;
            c.failed = failed;
        }
        let (d_from, d_to) = (
            crate::domain::schedule::local_date(tz, from),
            crate::domain::schedule::local_date(tz, to),
        );
        let sql = format!(
            "SELECT {area},
                    COUNT(*) FILTER (WHERE v.status = 'done' AND v.done_on <= v.window_end) AS on_time,
                    COUNT(*) FILTER (WHERE v.status = 'done' AND v.done_on > v.window_end) AS late,
                    COUNT(*) FILTER (WHERE v.status = 'pending' AND v.window_end < $3) AS overdue,
                    COUNT(*) FILTER (WHERE v.status = 'missed') AS missed
             FROM visits v JOIN pregnancies p ON p.id = v.pregnancy_id JOIN women w ON w.id = p.woman_id
             LEFT JOIN staff st ON st.code = w.officer_code
             WHERE v.window_end >= $1 AND v.window_end < $2 AND v.status <> 'cancelled' AND NOT v.task
             GROUP BY t, v"
        );
        let rows: Vec<(String, String, i64, i64, i64, i64)> = on_read!(self, db, {
            sqlx::query_as(&sql)
                .bind(d_from)
                .bind(d_to)
                .bind(overdue_cutoff)
                .fetch_all(db)
                .await?
        });
        for (t, v, on_time, late, overdue, missed) in rows {
            let c = by.entry((t, v)).or_default();
            c.on_time = on_time;
            c.late = late;
            c.overdue = overdue;
            c.missed = missed;
        }
        let sql = format!(
            "SELECT {area}, COUNT(*) AS n FROM pregnancies p JOIN women w ON w.id = p.woman_id
             LEFT JOIN staff st ON st.code = w.officer_code
             WHERE p.created_at >= $1 AND p.created_at < $2 GROUP BY t, v"
        );
        let rows: Vec<(String, String, i64)> = on_read!(self, db, {
            sqlx::query_as(&sql)
                .bind(ts(from))
                .bind(ts(to))
                .fetch_all(db)
                .await?
        });
        for (t, v, n) in rows {
            by.entry((t, v)).or_default().registrations = n;
        }
        Ok(by
            .into_iter()
            .map(|((t, v), mut c)| {
                c.township = t;
                c.village = v;
                c
            })
            .collect())
    }
}

/// `record_birth`'s writes inside the caller's transaction `$tx`: the
/// pregnancy delivered, what was planned before the birth closed, the
/// postpartum visits added. Evaluates to the messages cancelled.
macro_rules! birth_in {
    ($tx:expr, $pregnancy_id:expr, $birth:expr, $visits:expr, $now_s:expr) => {{
        use $crate::store::StoreError;
        let (pregnancy_id, birth, visits, now_s): (i64, &$crate::store::BirthRecord, &[$crate::domain::PlannedVisit], i64) =
            ($pregnancy_id, $birth, $visits, $now_s);
        let tx = &mut $tx;
        let r = sqlx::query(
            "UPDATE pregnancies SET status = 'delivered', delivered_on = $1, birth_place = $2, live_birth = $3,
                    live_born = $4, discharged_on = $5, version = version + 1, plan_from = $6, updated_at = $6
             WHERE id = $7 AND status IN ('active', 'stale')",
        )
        .bind(birth.on)
        .bind(birth.place.as_deref())
        .bind(birth.live_born > 0)
        .bind(birth.live_born)
        .bind(birth.discharged_on)
        .bind(now_s)
        .bind(pregnancy_id)
        .execute(&mut **tx)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "current pregnancy {pregnancy_id}"
            )));
        }
        let n =
            $crate::store::enroll::close_schedule!(*tx, pregnancy_id, birth.on, "birth recorded", now_s);
        if !visits.is_empty() {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO visits (pregnancy_id, contact_key, seq, label_zh, label_en, window_start, due_on, window_end,
                                     home, task, newborn, staff_label_zh, staff_label_en) ",
            );
            qb.push_values(visits, |mut b, v| {
                b.push_bind(pregnancy_id)
                    .push_bind(&v.key)
                    .push_bind(100 + v.seq)
                    .push_bind(&v.label_zh)
                    .push_bind(&v.label_en)
                    .push_bind(v.window_start)
                    .push_bind(v.due)
                    .push_bind(v.window_end)
                    .push_bind(v.home)
                    .push_bind(v.task)
                    .push_bind(v.newborn)
                    .push_bind(v.staff_label.as_ref().map(|l| l.0.clone()))
                    .push_bind(v.staff_label.as_ref().map(|l| l.1.clone()));
            });
            qb.push(" ON CONFLICT (pregnancy_id, contact_key) DO NOTHING");
            qb.build().persistent(false).execute(&mut **tx).await?;
        }
        n
    }};
}
pub(crate) use birth_in;
