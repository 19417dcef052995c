//! The township assessment's indicators, per village: each a numerator
//! and a denominator counted straight from the records for a period of
//! local days `[from, to)`. Grouping into townships and the county, shares
//! and targets are the service's.

use super::{on_read, ts, Result, Store};
use chrono::{DateTime, NaiveDate, Utc};

/// One indicator's counts in one village.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorCount {
    pub indicator: &'static str,
    pub township: String,
    pub village: String,
    pub numerator: i64,
    pub denominator: i64,
}

/// Which bounds an indicator's SQL takes as `$1`/`$2`: the period's first
/// and next-after-last local day, or the same as instants.
#[derive(Clone, Copy)]
enum Bounds {
    Days,
    Instants,
}

/// Each indicator: its key, the SQL that counts it per township and
/// village, and the bounds it takes. `{julianday}(d)` stands for a date's
/// day number: SQLite's `julianday(d)`; on PostgreSQL, whose dates
/// subtract to whole days, the date itself.
const QUERIES: &[(&str, Bounds, &str)] = &[
    // Pregnancies registered in the period; those registered before 13+0 weeks.
    (
        "early_registration",
        Bounds::Days,
        "SELECT {area}, COUNT(*) FILTER (WHERE {julianday}(p.registered_on) - {julianday}(p.lmp) < 91) AS num,
                COUNT(*) AS den
         FROM pregnancies p JOIN women w ON w.id = p.woman_id {staff}
         WHERE p.registered_on >= $1 AND p.registered_on < $2 GROUP BY t, v",
    ),
    // Births in the period; those with 5 or more prenatal check-ups done.
    (
        "five_checkups",
        Bounds::Days,
        "SELECT {area},
                COUNT(*) FILTER (WHERE (SELECT COUNT(*) FROM visits x WHERE x.pregnancy_id = p.id AND x.seq < 100
                       AND x.task = FALSE AND x.status = 'done') >= 5) AS num,
                COUNT(*) AS den
         FROM pregnancies p JOIN women w ON w.id = p.woman_id {staff}
         WHERE p.status = 'delivered' AND p.delivered_on >= $1 AND p.delivered_on < $2 GROUP BY t, v",
    ),
    // Births in the period; those visited at home within 7 days of the birth.
    (
        "postpartum_visit_7d",
        Bounds::Days,
        "SELECT {area},
                COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM visits x WHERE x.pregnancy_id = p.id AND x.seq >= 100
                       AND x.home = TRUE AND x.task = FALSE AND x.newborn = FALSE AND x.status = 'done'
                       AND {julianday}(x.done_on) - {julianday}(p.delivered_on) <= 7)) AS num,
                COUNT(*) AS den
         FROM pregnancies p JOIN women w ON w.id = p.woman_id {staff}
         WHERE p.status = 'delivered' AND p.delivered_on >= $1 AND p.delivered_on < $2 GROUP BY t, v",
    ),
    // Births in the period; those whose 42-day check is recorded.
    (
        "check_42d",
        Bounds::Days,
        "SELECT {area},
                COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM visits x WHERE x.pregnancy_id = p.id AND x.seq >= 100
                       AND x.home = FALSE AND x.task = FALSE AND x.newborn = FALSE AND x.status = 'done'
                       AND {julianday}(x.due_on) - {julianday}(p.delivered_on) >= 35)) AS num,
                COUNT(*) AS den
         FROM pregnancies p JOIN women w ON w.id = p.woman_id {staff}
         WHERE p.status = 'delivered' AND p.delivered_on >= $1 AND p.delivered_on < $2 GROUP BY t, v",
    ),
    // The officers' home visits whose period ended in the period; those done in it.
    (
        "home_visits_on_time",
        Bounds::Days,
        "SELECT {area}, COUNT(*) FILTER (WHERE x.status = 'done' AND x.done_on <= x.window_end) AS num,
                COUNT(*) AS den
         FROM visits x JOIN pregnancies p ON p.id = x.pregnancy_id JOIN women w ON w.id = p.woman_id {staff}
         WHERE x.task = TRUE AND x.status <> 'cancelled' AND x.window_end >= $1 AND x.window_end < $2
         GROUP BY t, v",
    ),
    // Reminders that were due in the period and went to a gateway; those delivered.
    (
        "reminders_delivered",
        Bounds::Instants,
        "SELECT {area}, COUNT(*) FILTER (WHERE o.status = 'delivered') AS num, COUNT(*) AS den
         FROM outbox o JOIN women w ON w.id = o.woman_id {staff}
         WHERE o.kind = 'reminder' AND o.send_at >= $1 AND o.send_at < $2
           AND o.status IN ('accepted', 'sent', 'delivered', 'failed') GROUP BY t, v",
    ),
    // Women with consent by the period's end; those who opted out in it.
    (
        "opt_outs",
        Bounds::Instants,
        "SELECT {area}, COUNT(*) FILTER (WHERE w.opted_out_at >= $1 AND w.opted_out_at < $2) AS num,
                COUNT(*) AS den
         FROM women w {staff}
         WHERE w.consent_at IS NOT NULL AND w.consent_at < $2 AND w.erased_at IS NULL
           AND (w.opted_out_at IS NULL OR w.opted_out_at >= $1) GROUP BY t, v",
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
        let julianday = if self.is_postgres() { "" } else { "julianday" };
        let mut out = vec![];
        for (indicator, bounds, sql) in QUERIES {
            let sql = sql
                .replace(
                    "{area}",
                    "COALESCE(st.township, '-') AS t, COALESCE(w.village, '-') AS v",
                )
                .replace("{staff}", "LEFT JOIN staff st ON st.code = w.officer_code")
                .replace("{julianday}", julianday);
            let rows: Vec<(String, String, i64, i64)> = on_read!(self, db => {
                let q = sqlx::query_as(&sql);
                let q = match bounds {
                    Bounds::Days => q.bind(from).bind(to),
                    Bounds::Instants => q.bind(ts(start)).bind(ts(end)),
                };
                q.fetch_all(db).await?
            });
            out.extend(
                rows.into_iter()
                    .map(
                        |(township, village, numerator, denominator)| IndicatorCount {
                            indicator,
                            township,
                            village,
                            numerator,
                            denominator,
                        },
                    ),
            );
        }
        Ok(out)
    }
}
