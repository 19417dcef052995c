//! The township assessment's indicators, per village: each a numerator
//! and a denominator counted straight from the records for a period of
//! local days `[from, to)`. Grouping into townships and the county, shares
//! and targets are the service's.

use super::{date_str, ts, Result, Store};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;

/// One indicator's counts in one village.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorCount {
    pub indicator: &'static str,
    pub township: String,
    pub village: String,
    pub numerator: i64,
    pub denominator: i64,
}

/// Each indicator: its key and the SQL that counts it per township and
/// village (`?1`/`?2`: the period's first and next-after-last local day;
/// `?3`/`?4`: the same as instants).
const QUERIES: &[(&str, &str)] = &[
    // Pregnancies registered in the period; those registered before 13+0 weeks.
    (
        "early_registration",
        "SELECT {area}, SUM(julianday(p.registered_on) - julianday(p.lmp) < 91) AS num, COUNT(*) AS den
         FROM pregnancies p JOIN women w ON w.id = p.woman_id {staff}
         WHERE p.registered_on >= ?1 AND p.registered_on < ?2 GROUP BY t, v",
    ),
    // Births in the period; those with 5 or more prenatal check-ups done.
    (
        "five_checkups",
        "SELECT {area},
                SUM((SELECT COUNT(*) FROM visits x WHERE x.pregnancy_id = p.id AND x.seq < 100
                       AND x.task = 0 AND x.status = 'done') >= 5) AS num,
                COUNT(*) AS den
         FROM pregnancies p JOIN women w ON w.id = p.woman_id {staff}
         WHERE p.status = 'delivered' AND p.delivered_on >= ?1 AND p.delivered_on < ?2 GROUP BY t, v",
    ),
    // Births in the period; those visited at home within 7 days of the birth.
    (
        "postpartum_visit_7d",
        "SELECT {area},
                SUM(EXISTS (SELECT 1 FROM visits x WHERE x.pregnancy_id = p.id AND x.seq >= 100
                       AND x.home = 1 AND x.task = 0 AND x.newborn = 0 AND x.status = 'done'
                       AND julianday(x.done_on) - julianday(p.delivered_on) <= 7)) AS num,
                COUNT(*) AS den
         FROM pregnancies p JOIN women w ON w.id = p.woman_id {staff}
         WHERE p.status = 'delivered' AND p.delivered_on >= ?1 AND p.delivered_on < ?2 GROUP BY t, v",
    ),
    // Births in the period; those whose 42-day check is recorded.
    (
        "check_42d",
        "SELECT {area},
                SUM(EXISTS (SELECT 1 FROM visits x WHERE x.pregnancy_id = p.id AND x.seq >= 100
                       AND x.home = 0 AND x.task = 0 AND x.newborn = 0 AND x.status = 'done'
                       AND julianday(x.due_on) - julianday(p.delivered_on) >= 35)) AS num,
                COUNT(*) AS den
         FROM pregnancies p JOIN women w ON w.id = p.woman_id {staff}
         WHERE p.status = 'delivered' AND p.delivered_on >= ?1 AND p.delivered_on < ?2 GROUP BY t, v",
    ),
    // The officers' home visits whose period ended in the period; those done in it.
    (
        "home_visits_on_time",
        "SELECT {area}, SUM(x.status = 'done' AND x.done_on <= x.window_end) AS num, COUNT(*) AS den
         FROM visits x JOIN pregnancies p ON p.id = x.pregnancy_id JOIN women w ON w.id = p.woman_id {staff}
         WHERE x.task = 1 AND x.status <> 'cancelled' AND x.window_end >= ?1 AND x.window_end < ?2
         GROUP BY t, v",
    ),
    // Reminders that were due in the period and went to a gateway; those delivered.
    (
        "reminders_delivered",
        "SELECT {area}, SUM(o.status = 'delivered') AS num, COUNT(*) AS den
         FROM outbox o JOIN women w ON w.id = o.woman_id {staff}
         WHERE o.kind = 'reminder' AND o.send_at >= ?3 AND o.send_at < ?4
           AND o.status IN ('accepted', 'sent', 'delivered', 'failed') GROUP BY t, v",
    ),
    // Women with consent by the period's end; those who opted out in it.
    (
        "opt_outs",
        "SELECT {area}, SUM(w.opted_out_at >= ?3 AND w.opted_out_at < ?4) AS num, COUNT(*) AS den
         FROM women w {staff}
         WHERE w.consent_at IS NOT NULL AND w.consent_at < ?4 AND w.erased_at IS NULL
           AND (w.opted_out_at IS NULL OR w.opted_out_at >= ?3) GROUP BY t, v",
    ),
];

impl Store {
    /// Every indicator's counts per village for the local days `[from, to)`
    /// (`start`, `end`: the same bounds as instants).
    pub async fn indicator_counts(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<IndicatorCount>> {
        let mut out = vec![];
        for (indicator, sql) in QUERIES {
            let sql = sql
                .replace(
                    "{area}",
                    "COALESCE(st.township, '-') AS t, COALESCE(w.village, '-') AS v",
                )
                .replace("{staff}", "LEFT JOIN staff st ON st.code = w.officer_code");
            let rows = sqlx::query(&sql)
                .bind(date_str(from))
                .bind(date_str(to))
                .bind(ts(start))
                .bind(ts(end))
                .fetch_all(self.read()?)
                .await?;
            for r in rows {
                out.push(IndicatorCount {
                    indicator,
                    township: r.get("t"),
                    village: r.get("v"),
                    numerator: r.get::<Option<i64>, _>("num").unwrap_or(0),
                    denominator: r.get("den"),
                });
            }
        }
        Ok(out)
    }
}
