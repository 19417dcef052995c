//! What the reports count, straight from the records: for the national
//! maternal-care figures, one row of facts per birth in a period (the
//! service judges each against its definition as of a day); for
//! careminder's own figures, counts per township, village and officer.
//! Grouping, shares and targets are `services::reports`'.

use super::{on_read, ts, Result, Store};
use chrono::{DateTime, NaiveDate, Utc};

/// One birth in the period, with what the national figures ask of it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BirthFacts {
    pub pregnancy_id: i64,
    /// Her officer's township ("-" when none is known).
    pub township: String,
    /// Her village ("-" when none is known).
    pub village: String,
    /// Her officer's code ("-" when none).
    pub officer: String,
    pub lmp: NaiveDate,
    pub registered_on: NaiveDate,
    pub delivered_on: NaiveDate,
    /// The day she left hospital, when recorded.
    pub discharged_on: Option<NaiveDate>,
    /// Babies born alive (a stillbirth: 0; twins: 2).
    pub live_born: i64,
    /// Prenatal check-ups done (planned or extra).
    pub checkups: i64,
    /// The day of her first prenatal check-up done.
    pub first_checkup_on: Option<NaiveDate>,
    /// The first postpartum home visit to her (not the baby's) done.
    pub postpartum_visit_on: Option<NaiveDate>,
    /// Her 42-day check done (a postpartum check of hers, not at home,
    /// due five weeks or more after the birth).
    pub check_42d_on: Option<NaiveDate>,
    /// The last day of that check's window in her plan, if she has one.
    pub check_42d_window_end: Option<NaiveDate>,
    /// Graded orange, red or purple at some time in this pregnancy.
    pub ever_high_risk: bool,
    /// A case manager was named for her.
    pub case_managed: bool,
    /// The day of her first risk assessment.
    pub first_assessed_on: Option<NaiveDate>,
    /// Her grade now (what her delivery hospital's level is judged by).
    pub risk_colour: Option<String>,
    pub risk_purple: bool,
    /// Where she gave birth (erased with her personal data).
    pub birth_place: Option<String>,
}

/// One of careminder's own figures in one village for one officer's women.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnCount {
    pub indicator: &'static str,
    pub township: String,
    pub village: String,
    pub officer: String,
    pub numerator: i64,
    pub denominator: i64,
    /// Counted in the denominator, but whose time has not come yet.
    pub not_yet_due: i64,
}

/// Which bounds a query of careminder's own figures takes as `$1`/`$2`:
/// the period's first and next-after-last local day, or the same as
/// instants. Counting by days, `$3` is today.
#[derive(Clone, Copy)]
enum Bounds {
    Days,
    Instants,
}

/// Each of careminder's own figures: its key, the SQL that counts it per
/// township, village and officer, the bounds it takes, and which of her
/// moves came after what it counts (see [`area_then`]).
const OWN_QUERIES: &[(&str, Bounds, &str, [&str; 2])] = &[
    // The officers' home visits whose period ended in the period; those
    // done within it; those whose period has not ended yet today.
    (
        "home_visits_on_time",
        Bounds::Days,
        "SELECT {area}, COUNT(*) FILTER (WHERE x.status = 'done' AND x.done_on <= x.window_end) AS num,
                COUNT(*) AS den,
                COUNT(*) FILTER (WHERE x.status = 'pending' AND x.window_end >= $3) AS nyd
         FROM visits x JOIN pregnancies p ON p.id = x.pregnancy_id JOIN women w ON w.id = p.woman_id {staff}
         WHERE x.task = TRUE AND x.contact_key LIKE 'home-%' AND x.status <> 'cancelled'
           AND x.window_end >= $1 AND x.window_end < $2
         GROUP BY t, v, o",
        ["m.moved_on > x.window_end", "m.moved_on"],
    ),
    // Reminders that were due in the period and went to a gateway; those delivered.
    (
        "reminders_delivered",
        Bounds::Instants,
        "SELECT {area}, COUNT(*) FILTER (WHERE o.status = 'delivered') AS num, COUNT(*) AS den,
                CAST(0 AS BIGINT) AS nyd
         FROM outbox o JOIN women w ON w.id = o.woman_id {staff}
         WHERE o.kind = 'reminder' AND o.send_at >= $1 AND o.send_at < $2
           AND o.status IN ('accepted', 'sent', 'delivered', 'failed') GROUP BY t, v, o",
        ["m.recorded_at > o.send_at", "m.recorded_at"],
    ),
    // Women with consent by the period's end who had not opted out (nor
    // had their data erased) before it began; those who opted out in it.
    // An erasure stops her messages but is not an opt-out, and erasing her
    // later changes no figure of a period before it.
    (
        "opt_outs",
        Bounds::Instants,
        "SELECT {area},
                COUNT(*) FILTER (WHERE w.opted_out_at >= $1 AND w.opted_out_at < $2
                                   AND COALESCE(w.opted_out_via, '') <> 'erased') AS num,
                COUNT(*) AS den,
                CAST(0 AS BIGINT) AS nyd
         FROM women w {staff}
         WHERE w.consent_at IS NOT NULL AND w.consent_at < $2
           AND (w.erased_at IS NULL OR w.erased_at >= $1)
           AND (w.opted_out_at IS NULL OR w.opted_out_at >= $1 OR COALESCE(w.opted_out_via, '') = 'erased')
         GROUP BY t, v, o",
        // Where she was when she opted out, or at the period's end.
        [
            "m.recorded_at > CASE WHEN w.opted_out_at < $2 THEN w.opted_out_at ELSE $2 END",
            "m.recorded_at",
        ],
    ),
];

/// A woman's area in a report: her officer's township, her village and
/// her officer at the time of what is counted: where she was before the
/// first move after it (`woman_moves`), else where she is now. An event
/// counts where she was cared for when it happened, whoever looks after
/// her since. Goes with [`area_then`];
/// `names`: the three columns' names.
fn area_cols([t, v, o]: [&str; 3]) -> String {
    format!(
        "COALESCE(st.township, '-') AS {t},
         CASE WHEN mv.id IS NULL THEN COALESCE(w.village, '-') ELSE COALESCE(mv.from_village, '-') END AS {v},
         CASE WHEN mv.id IS NULL THEN COALESCE(w.officer_code, '-') ELSE COALESCE(mv.from_officer, '-') END AS {o}"
    )
}

/// The joins [`area_cols`] reads: the first of her moves that `after`
/// (a condition on the move `m`) places after the event, ordered by
/// `order`, and the staff row of her officer then. A day is judged by
/// the day she moved; an instant (a message sent, an opt-out) by when the
/// move was recorded, since until then she was her old officer's.
fn area_then(after: &str, order: &str) -> String {
    format!(
        "LEFT JOIN woman_moves mv ON mv.id = (
            SELECT m.id FROM woman_moves m WHERE m.woman_id = w.id AND {after}
            ORDER BY {order}, m.id LIMIT 1)
         LEFT JOIN staff st ON st.code = CASE WHEN mv.id IS NULL THEN w.officer_code ELSE mv.from_officer END"
    )
}

impl Store {
    /// Every birth recorded with its day in `[from, to)`, with the facts
    /// the national figures judge.
    pub async fn birth_facts(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<BirthFacts>> {
        let check_42d = format!(
            "x.pregnancy_id = p.id AND x.seq >= 100 AND x.home = FALSE AND x.task = FALSE AND x.newborn = FALSE
             AND {} >= 35",
            self.dialect().days_between("x.due_on", "p.delivered_on")
        );
        let prenatal =
            "x.pregnancy_id = p.id AND x.seq < 100 AND x.task = FALSE AND x.status = 'done'";
        let sql = format!(
            "SELECT p.id AS pregnancy_id, {area},
                    p.lmp, p.registered_on, p.delivered_on, p.discharged_on,
                    COALESCE(p.live_born, CASE WHEN p.live_birth THEN 1 ELSE 0 END) AS live_born,
                    (SELECT COUNT(*) FROM visits x WHERE {prenatal}) AS checkups,
                    (SELECT MIN(x.done_on) FROM visits x WHERE {prenatal}) AS first_checkup_on,
                    (SELECT MIN(x.done_on) FROM visits x
                      WHERE x.pregnancy_id = p.id AND x.seq >= 100 AND x.home = TRUE AND x.task = FALSE
                        AND x.newborn = FALSE AND x.status = 'done') AS postpartum_visit_on,
                    (SELECT MIN(x.done_on) FROM visits x WHERE {check_42d} AND x.status = 'done') AS check_42d_on,
                    (SELECT MAX(x.window_end) FROM visits x WHERE {check_42d} AND x.status <> 'cancelled')
                        AS check_42d_window_end,
                    p.ever_high_risk, p.case_manager IS NOT NULL AS case_managed, p.first_assessed_on,
                    p.risk_colour, p.risk_purple, p.birth_place
             FROM pregnancies p JOIN women w ON w.id = p.woman_id {then}
             WHERE (p.status = 'delivered' OR (p.status = 'ended' AND p.moved_away_on IS NOT NULL))
               AND p.delivered_on >= $1 AND p.delivered_on < $2
               -- A birth before she was registered here came with her
               -- referral summary: the county she gave birth in counts it.
               AND NOT (p.delivered_on < p.registered_on
                        AND EXISTS (SELECT 1 FROM transfers_in ti WHERE ti.pregnancy_id = p.id))
             ORDER BY p.id",
            area = area_cols(["township", "village", "officer"]),
            then = area_then("m.moved_on > p.delivered_on", "m.moved_on"),
        );
        Ok(on_read!(self, db, {
            sqlx::query_as::<_, BirthFacts>(&sql)
                .bind(from)
                .bind(to)
                .fetch_all(db)
                .await?
        }))
    }

    /// careminder's own figures per township, village and officer for the
    /// local days `[from, to)` (`start`, `end`: the same bounds as
    /// instants), as of `today`; a referral's result counts when learnt
    /// within `follow_up_days`.
    pub async fn own_figure_counts(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        today: NaiveDate,
        follow_up_days: i64,
    ) -> Result<Vec<OwnCount>> {
        let by_day = self
            .dialect()
            .date_plus_days("r.referred_on", follow_up_days);
        let referrals = format!(
            "SELECT {{area}}, COUNT(*) FILTER (WHERE r.followed_up_on IS NOT NULL AND r.followed_up_on <= {by_day}) AS num,
                    COUNT(*) AS den,
                    COUNT(*) FILTER (WHERE r.followed_up_on IS NULL AND {by_day} >= $3) AS nyd
             FROM referrals r JOIN pregnancies p ON p.id = r.pregnancy_id JOIN women w ON w.id = p.woman_id {{staff}}
             WHERE r.referred_on >= $1 AND r.referred_on < $2 GROUP BY t, v, o"
        );
        let queries = OWN_QUERIES
            .iter()
            .map(|(i, b, s, m)| (*i, *b, s.to_string(), *m))
            .chain([(
                "referrals_followed_up",
                Bounds::Days,
                referrals,
                ["m.moved_on > r.referred_on", "m.moved_on"],
            )]);
        let area = area_cols(["t", "v", "o"]);
        let mut out = vec![];
        for (indicator, bounds, sql, [after, order]) in queries {
            let sql = sql
                .replace("{area}", &area)
                .replace("{staff}", &area_then(after, order));
            let rows: Vec<(String, String, String, i64, i64, i64)> = on_read!(self, db, {
                let q = sqlx::query_as(&sql);
                let q = match bounds {
                    Bounds::Days => q.bind(from).bind(to).bind(today),
                    Bounds::Instants => q.bind(ts(start)).bind(ts(end)),
                };
                q.fetch_all(db).await?
            });
            out.extend(rows.into_iter().map(
                |(township, village, officer, numerator, denominator, not_yet_due)| OwnCount {
                    indicator,
                    township,
                    village,
                    officer,
                    numerator,
                    denominator,
                    not_yet_due,
                },
            ));
        }
        Ok(out)
    }

    /// Whether a township, village or officer code names anyone: a report
    /// for an area nobody is in is refused, not shown as zeros.
    pub async fn area_exists(&self, kind: AreaKind, code: &str) -> Result<bool> {
        let sql = match kind {
            AreaKind::Township => "SELECT COUNT(*) FROM staff WHERE township = $1",
            AreaKind::Village => {
                "SELECT (SELECT COUNT(*) FROM staff WHERE village = $1) + (SELECT COUNT(*) FROM women WHERE village = $1)"
            }
            AreaKind::Officer => "SELECT COUNT(*) FROM staff WHERE code = $1 AND role = 'officer'",
        };
        let n: i64 = on_read!(self, db, {
            sqlx::query_scalar(sql).bind(code).fetch_one(db).await?
        });
        Ok(n > 0)
    }
}

/// What an area code in a report's filter names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AreaKind {
    Township,
    Village,
    Officer,
}
