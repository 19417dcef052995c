//! Women, pregnancies and their visits: registration (one or a batch),
//! date corrections, endings, consent and opt-out.

use super::{date_str, json_rows, on_db, on_read, ts, BeginWrite, Result, Store, StoreError};
use crate::domain::{PlannedVisit, PregnancyDates};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;

/// When, how and by whom consent to messages was given.
#[derive(Debug, Clone, Serialize)]
pub struct Consent {
    pub at: DateTime<Utc>,
    pub source: String,
    pub by: String,
}

/// A validated registration: a woman and her current pregnancy with its visits.
#[derive(Debug, Clone)]
pub struct NewEnrollment {
    pub name: String,
    pub phone: crate::domain::Phone,
    pub wechat_openid: Option<String>,
    pub language: crate::domain::Language,
    pub village: Option<String>,
    pub officer_code: Option<String>,
    pub consent: Option<Consent>,
    pub dates: PregnancyDates,
    pub care_plan: String,
    pub registered_on: NaiveDate,
    pub visits: Vec<PlannedVisit>,
    /// Her checked ID card number (18 characters), when given: stored by
    /// [`Store::set_id_card`] once she is registered.
    pub id_card: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum EnrollOutcome {
    /// A new pregnancy was registered.
    Created { woman_id: i64, pregnancy_id: i64 },
    /// She was registered already with the same dates: nothing changed.
    Unchanged { woman_id: i64, pregnancy_id: i64 },
    /// She was registered already with other dates: see `correct_dates`.
    DatesDiffer { woman_id: i64, pregnancy_id: i64 },
}

impl EnrollOutcome {
    pub fn pregnancy_id(&self) -> i64 {
        match *self {
            Self::Created { pregnancy_id, .. }
            | Self::Unchanged { pregnancy_id, .. }
            | Self::DatesDiffer { pregnancy_id, .. } => pregnancy_id,
        }
    }
    pub fn woman_id(&self) -> i64 {
        match *self {
            Self::Created { woman_id, .. }
            | Self::Unchanged { woman_id, .. }
            | Self::DatesDiffer { woman_id, .. } => woman_id,
        }
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct WomanRow {
    pub id: i64,
    pub name: String,
    pub phone: String,
    pub language: crate::domain::Language,
    pub village: Option<String>,
    pub officer_code: Option<String>,
    pub consent_at: Option<i64>,
    pub opted_out_at: Option<i64>,
    /// Bound to the WeChat Official Account (by QR code or roster).
    pub wechat_openid: Option<String>,
    /// She unfollowed the account: WeChat sends stopped.
    pub wechat_unfollowed_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PregnancyRow {
    pub id: i64,
    pub woman_id: i64,
    pub care_plan: String,
    pub lmp: NaiveDate,
    pub edd: NaiveDate,
    pub registered_on: NaiveDate,
    pub status: crate::domain::PregnancyStatus,
    pub version: i64,
}

impl Store {
    /// Registers a batch in one transaction. Rows must be distinct by
    /// (phone, name); the caller refuses duplicates inside one batch.
    /// A woman registered before keeps her record; her active pregnancy is
    /// compared with the new dates.
    pub async fn enroll_batch(
        &self,
        rows: &[NewEnrollment],
        now: DateTime<Utc>,
    ) -> Result<Vec<EnrollOutcome>> {
        if rows.is_empty() {
            return Ok(vec![]);
        }
        let now_s = ts(now);
        let (sql, women) = enroll_inputs(self.is_postgres(), rows);
        on_db!(self, db, {
            let mut tx = db.begin_write().await?;
            let outcomes = enroll_in!(tx, (sql, women), rows, now_s);
            tx.commit().await?;
            Ok(outcomes)
        })
    }

    /// Women registered (erased ones included: they still count).
    pub async fn women_count(&self) -> Result<i64> {
        Ok(on_read!(self, db, {
            sqlx::query_scalar("SELECT COUNT(*) FROM women")
                .fetch_one(db)
                .await?
        }))
    }

    /// Replaces a pregnancy's dates (an ultrasound correction): every visit
    /// not yet done is re-dated, every message not yet sent is cancelled,
    /// and the version moves so the planner writes fresh ones.
    pub async fn correct_dates(
        &self,
        pregnancy_id: i64,
        dates: &PregnancyDates,
        visits: &[PlannedVisit],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let now_s = ts(now);
        // The visits' keys as a JSON array of strings, and the visits as
        // JSON objects: read by `json_each` on SQLite,
        // `jsonb_array_elements` on PostgreSQL.
        let drop_sql = format!(
            "UPDATE visits SET status = 'cancelled' WHERE pregnancy_id = $1 AND status = 'pending'
             AND contact_key NOT IN {}",
            self.dialect().json_set_of("$2", "TEXT")
        );
        let upsert_sql = if self.is_postgres() {
            "INSERT INTO visits (pregnancy_id, contact_key, seq, label_zh, label_en, window_start, due_on, window_end,
                                     home, task, newborn)
                 SELECT (j.value->>'p')::bigint, j.value->>'key', (j.value->>'seq')::bigint, j.value->>'zh', j.value->>'en',
                        (j.value->>'ws')::date, (j.value->>'due')::date, (j.value->>'we')::date,
                        (j.value->>'home')::boolean, (j.value->>'task')::boolean, (j.value->>'newborn')::boolean
                 FROM jsonb_array_elements(CAST($1 AS jsonb)) AS j(value) WHERE true
                 ON CONFLICT (pregnancy_id, contact_key) DO UPDATE SET
                    window_start = excluded.window_start, due_on = excluded.due_on,
                    window_end = excluded.window_end, seq = excluded.seq, version = visits.version + 1
                 WHERE visits.status = 'pending'"
        } else {
            "INSERT INTO visits (pregnancy_id, contact_key, seq, label_zh, label_en, window_start, due_on, window_end,
                                     home, task, newborn)
                 SELECT j.value->>'p', j.value->>'key', j.value->>'seq', j.value->>'zh', j.value->>'en',
                        j.value->>'ws', j.value->>'due', j.value->>'we',
                        j.value->>'home', j.value->>'task', j.value->>'newborn'
                 FROM json_each($1) j WHERE true
                 ON CONFLICT (pregnancy_id, contact_key) DO UPDATE SET
                    window_start = excluded.window_start, due_on = excluded.due_on,
                    window_end = excluded.window_end, seq = excluded.seq, version = visits.version + 1
                 WHERE visits.status = 'pending'"
        };
        let keys: Vec<&str> = visits.iter().map(|v| v.key.as_str()).collect();
        let keys = serde_json::to_string(&keys).expect("json");
        let rows: Vec<_> = visits.iter().map(|v| visit_json(pregnancy_id, v)).collect();
        let rows = serde_json::Value::from(rows).to_string();
        on_db!(self, db, {
            let mut tx = db.begin_write().await?;
            let r = sqlx::query(
                "UPDATE pregnancies SET lmp = $1, edd = $2, version = version + 1, plan_from = $3, updated_at = $3
                 WHERE id = $4 AND status = 'active'",
            )
            .bind(dates.lmp)
            .bind(dates.edd)
            .bind(now_s)
            .bind(pregnancy_id)
            .execute(&mut *tx)
            .await?;
            if r.rows_affected() == 0 {
                return Err(StoreError::NotFound(format!(
                    "active pregnancy {pregnancy_id}"
                )));
            }
            // Pending visits that the new dates no longer have are cancelled;
            // those it has are re-dated; new ones are added.
            sqlx::query(&drop_sql)
                .bind(pregnancy_id)
                .bind(&keys)
                .execute(&mut *tx)
                .await?;
            sqlx::query(upsert_sql)
                .bind(&rows)
                .execute(&mut *tx)
                .await?;
            cancel_pending!(
                tx,
                "pregnancy_id = $3",
                pregnancy_id,
                "dates corrected",
                now_s
            );
            tx.commit().await?;
        });
        Ok(())
    }

    /// Ends a pregnancy without a birth: it stops every pregnancy message at once.
    pub async fn end_pregnancy(
        &self,
        pregnancy_id: i64,
        on: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let now_s = ts(now);
        Ok(on_db!(self, db, {
            let mut tx = db.begin_write().await?;
            let r = sqlx::query("UPDATE pregnancies SET status = 'ended', ended_on = $1, updated_at = $2 WHERE id = $3 AND status = 'active'")
                .bind(on)
                .bind(now_s)
                .bind(pregnancy_id)
                .execute(&mut *tx)
                .await?;
            if r.rows_affected() == 0 {
                return Err(StoreError::NotFound(format!(
                    "active pregnancy {pregnancy_id}"
                )));
            }
            let n = close_schedule!(tx, pregnancy_id, on, "pregnancy ended", now_s);
            tx.commit().await?;
            n
        }))
    }

    /// Records an opt-out and cancels every message not yet handed to a
    /// gateway. Returns `None` if she had opted out already, else how many
    /// messages were cancelled.
    pub async fn opt_out(
        &self,
        woman_id: i64,
        now: DateTime<Utc>,
        channel: &str,
    ) -> Result<Option<u64>> {
        let now_s = ts(now);
        Ok(on_db!(self, db, {
            let mut tx = db.begin_write().await?;
            let exists: Option<Option<i64>> =
                sqlx::query_scalar("SELECT opted_out_at FROM women WHERE id = $1")
                    .bind(woman_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            match exists {
                None => return Err(StoreError::NotFound(format!("woman {woman_id}"))),
                Some(Some(_)) => return Ok(None),
                Some(None) => {}
            }
            sqlx::query(
                "UPDATE women SET opted_out_at = $1, opted_out_via = $2, updated_at = $1 WHERE id = $3",
            )
            .bind(now_s)
            .bind(channel)
            .bind(woman_id)
            .execute(&mut *tx)
            .await?;
            let n = cancel_pending!(
                tx,
                "woman_id = $3 AND kind = 'reminder'",
                woman_id,
                format!("opted out via {channel}"),
                now_s
            );
            tx.commit().await?;
            Some(n)
        }))
    }

    /// Records that a visit took place: it silences the visit's pending
    /// reminders and follow-ups. A visit done early or late still counts.
    /// Returns the number of messages cancelled, or `None` if the visit was
    /// not pending.
    pub async fn record_visit(
        &self,
        visit_id: i64,
        on: NaiveDate,
        by: &str,
        place: Option<&str>,
        note: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<u64>> {
        Ok(on_db!(self, db, {
            let mut tx = db.begin_write().await?;
            let r = sqlx::query(
                "UPDATE visits SET status = 'done', done_on = $1, done_by = $2, done_place = $3, note = $4
                 WHERE id = $5 AND status = 'pending'",
            )
            .bind(on)
            .bind(by)
            .bind(place)
            .bind(note)
            .bind(visit_id)
            .execute(&mut *tx)
            .await?;
            if r.rows_affected() == 0 {
                return Ok(None);
            }
            let n = cancel_pending!(tx, "visit_id = $3", visit_id, "visit recorded", ts(now));
            tx.commit().await?;
            Some(n)
        }))
    }

    /// Her pending visit for one contact of her current pregnancy.
    pub async fn pending_visit_by_key(&self, woman_id: i64, key: &str) -> Result<Option<i64>> {
        Ok(on_db!(self, db, {
            sqlx::query_scalar(
                "SELECT v.id FROM visits v JOIN pregnancies p ON p.id = v.pregnancy_id
                 WHERE p.woman_id = $1 AND p.status IN ('active', 'delivered') AND v.status = 'pending' AND v.contact_key = $2",
            )
            .bind(woman_id)
            .bind(key)
            .fetch_optional(db)
            .await?
        }))
    }

    /// The check-up a report for this woman is about: the pending one whose
    /// window holds `today` (of two, the one opened last: a late
    /// registrant's first check-up, opened at registration, comes before a
    /// later one whose window was already open), else the earliest pending
    /// one whose window has opened (a late visit is still recorded), else
    /// the next one. With its labels. After the birth, only the visits that
    /// come after it, hers before the baby's: a prenatal check-up missed
    /// before the birth is recorded by naming it.
    pub async fn current_visit(
        &self,
        woman_id: i64,
        today: NaiveDate,
    ) -> Result<Option<(i64, String, String)>> {
        Ok(on_db!(self, db, {
            sqlx::query_as(
                "SELECT v.id, v.label_zh, v.label_en FROM visits v JOIN pregnancies p ON p.id = v.pregnancy_id
                 WHERE p.woman_id = $1 AND p.status IN ('active', 'delivered') AND v.status = 'pending'
                   AND v.task = FALSE AND (p.status = 'active' OR v.seq >= 100)
                 ORDER BY (v.window_start <= $2) DESC, v.newborn,
                          (v.window_start <= $2 AND v.window_end >= $2) DESC,
                          CASE WHEN v.window_start <= $2 AND v.window_end >= $2 THEN v.window_start END DESC,
                          v.due_on, v.id LIMIT 1",
            )
            .bind(woman_id)
            .bind(today)
            .fetch_optional(db)
            .await?
        }))
    }

    /// The newborn's home visits due the same day as her own home visit
    /// `visit_id` (the officer sees mother and baby at one visit): recorded
    /// with it.
    pub async fn companion_home_visits(&self, visit_id: i64) -> Result<Vec<(i64, String, String)>> {
        Ok(on_db!(self, db, {
            sqlx::query_as(
                "SELECT n.id, n.label_zh, n.label_en FROM visits m
                 JOIN visits n ON n.pregnancy_id = m.pregnancy_id AND n.due_on = m.due_on
                 WHERE m.id = $1 AND m.home = TRUE AND m.newborn = FALSE AND m.task = FALSE
                   AND n.home = TRUE AND n.newborn = TRUE AND n.task = FALSE AND n.status = 'pending'
                 ORDER BY n.id",
            )
            .bind(visit_id)
            .fetch_all(db)
            .await?
        }))
    }

    /// The officer's home visit that a visit on `today` belongs to: the
    /// pending one whose period holds the day, else the one due soonest.
    /// Never one whose period is over: that visit was missed, and a visit
    /// today is not it.
    pub async fn current_home_visit(
        &self,
        woman_id: i64,
        today: NaiveDate,
    ) -> Result<Option<(i64, String, String)>> {
        Ok(on_db!(self, db, {
            sqlx::query_as(
                "SELECT v.id, v.label_zh, v.label_en FROM visits v JOIN pregnancies p ON p.id = v.pregnancy_id
                 WHERE p.woman_id = $1 AND p.status IN ('active', 'delivered') AND v.status = 'pending'
                   AND v.task = TRUE AND v.contact_key LIKE 'home-%' AND v.window_end >= $2
                 ORDER BY v.window_start, v.id LIMIT 1",
            )
            .bind(woman_id)
            .bind(today)
            .fetch_optional(db)
            .await?
        }))
    }

    /// Records a check-up beyond her plan (she went more often than the
    /// plan asks), done on `on`, for her current pregnancy before its
    /// birth. `None` when she has no pregnancy before a birth, or one of
    /// her check-ups is recorded on that day already.
    pub async fn record_extra_checkup(
        &self,
        woman_id: i64,
        on: NaiveDate,
        by: &str,
        place: Option<&str>,
        note: Option<&str>,
    ) -> Result<Option<i64>> {
        Ok(on_db!(self, db, {
            let mut tx = db.begin_write().await?;
            let p: Option<(i64, i64)> = sqlx::query_as(
                "SELECT p.id, (SELECT COUNT(*) FROM visits x WHERE x.pregnancy_id = p.id AND x.contact_key LIKE 'extra-%')
                 FROM pregnancies p WHERE p.woman_id = $1 AND p.status IN ('active', 'stale')
                 ORDER BY p.id DESC LIMIT 1",
            )
            .bind(woman_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((pid, extras)) = p else {
                return Ok(None);
            };
            let same_day: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM visits WHERE pregnancy_id = $1 AND status = 'done' AND done_on = $2
                   AND task = FALSE AND seq < 100",
            )
            .bind(pid)
            .bind(on)
            .fetch_one(&mut *tx)
            .await?;
            if same_day > 0 {
                return Ok(None);
            }
            let n = extras + 1;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO visits (pregnancy_id, contact_key, seq, label_zh, label_en, window_start, due_on, window_end,
                                     status, done_on, done_by, done_place, note)
                 VALUES ($1, $2, $3, $4, $5, $6, $6, $6, 'done', $6, $7, $8, $9) RETURNING id",
            )
            .bind(pid)
            .bind(format!("extra-{n}"))
            .bind(EXTRA_CHECKUP_SEQ)
            .bind("计划外产前检查")
            .bind("extra prenatal check-up")
            .bind(on)
            .bind(by)
            .bind(place)
            .bind(note)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            Some(id)
        }))
    }

    /// Records consent given now (for a woman registered without it) and
    /// re-plans from now. Returns the pregnancies to plan.
    pub async fn give_consent(&self, woman_id: i64, consent: &Consent) -> Result<Vec<i64>> {
        Ok(on_db!(self, db, {
            let mut tx = db.begin_write().await?;
            let r = sqlx::query("UPDATE women SET consent_at = $1, consent_source = $2, consent_by = $3, updated_at = $1 WHERE id = $4")
                .bind(ts(consent.at))
                .bind(&consent.source)
                .bind(&consent.by)
                .bind(woman_id)
                .execute(&mut *tx)
                .await?;
            if r.rows_affected() == 0 {
                return Err(StoreError::NotFound(format!("woman {woman_id}")));
            }
            let ids = replan_from!(tx, woman_id, consent.at);
            tx.commit().await?;
            ids
        }))
    }

    pub async fn pregnancy(&self, id: i64) -> Result<PregnancyRow> {
        let r = on_db!(self, db, {
            sqlx::query(
                "SELECT id, woman_id, care_plan, lmp, edd, registered_on, status, version FROM pregnancies WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(db)
            .await?
            .map(|r| -> Result<PregnancyRow> {
                Ok(PregnancyRow {
                    id: r.try_get("id")?,
                    woman_id: r.try_get("woman_id")?,
                    care_plan: r.try_get("care_plan")?,
                    lmp: r.try_get("lmp")?,
                    edd: r.try_get("edd")?,
                    registered_on: r.try_get("registered_on")?,
                    status: r.try_get("status")?,
                    version: r.try_get("version")?,
                })
            })
        });
        r.ok_or_else(|| StoreError::NotFound(format!("pregnancy {id}")))?
    }

    pub async fn woman(&self, id: i64) -> Result<WomanRow> {
        on_read!(self, db, {
            sqlx::query_as::<_, WomanRow>(
                "SELECT id, name, phone, language, village, officer_code, consent_at, opted_out_at,
                        wechat_openid, wechat_unfollowed_at FROM women WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(db)
            .await?
        })
        .ok_or_else(|| StoreError::NotFound(format!("woman {id}")))
    }

    /// Visits of a pregnancy: (contact key, due date, window end, status).
    pub async fn visits_of(
        &self,
        pregnancy_id: i64,
    ) -> Result<Vec<(String, NaiveDate, NaiveDate, String)>> {
        Ok(on_db!(self, db, {
            sqlx::query_as(
                "SELECT contact_key, due_on, window_end, status FROM visits WHERE pregnancy_id = $1 ORDER BY seq",
            )
            .bind(pregnancy_id)
            .fetch_all(db)
            .await?
        }))
    }

    /// A pregnancy's visits as her page shows them: plain names, window,
    /// result, and when, where and by whom a visit was recorded.
    pub async fn visit_records(&self, pregnancy_id: i64) -> Result<Vec<VisitRecord>> {
        on_read!(self, db, {
            sqlx::query(
                "SELECT id, contact_key, seq, label_zh, label_en, window_start, due_on, window_end, status,
                        done_on, done_by, done_place, home, task, newborn, note
                 FROM visits WHERE pregnancy_id = $1 ORDER BY seq >= 100, due_on, seq, id",
            )
            .bind(pregnancy_id)
            .fetch_all(db)
            .await?
            .into_iter()
            .map(|r| {
                Ok(VisitRecord {
                    id: r.try_get("id")?,
                    key: r.try_get("contact_key")?,
                    seq: r.try_get("seq")?,
                    label_zh: r.try_get("label_zh")?,
                    label_en: r.try_get("label_en")?,
                    window_start: r.try_get("window_start")?,
                    due: r.try_get("due_on")?,
                    window_end: r.try_get("window_end")?,
                    status: r.try_get("status")?,
                    done_on: r
                        .try_get::<Option<NaiveDate>, _>("done_on")?
                        .map(|d| d.to_string()),
                    done_by: r.try_get("done_by")?,
                    done_place: r.try_get("done_place")?,
                    home: r.try_get("home")?,
                    task: r.try_get("task")?,
                    newborn: r.try_get("newborn")?,
                    note: r.try_get("note")?,
                })
            })
            .collect()
        })
    }

    pub async fn count_women(&self) -> Result<i64> {
        Ok(on_read!(self, db, {
            sqlx::query_scalar("SELECT COUNT(*) FROM women")
                .fetch_one(db)
                .await?
        }))
    }
}

/// The `seq` of a check-up beyond the plan: prenatal (under 100, where
/// postpartum contacts start), after every planned one.
pub const EXTRA_CHECKUP_SEQ: i64 = 99;

/// What `enroll_in!` binds: the backend's statements and the rows' women
/// as one JSON array. Each table's rows go in as one JSON array bound to
/// one statement (SQLite's `json_each`, PostgreSQL's
/// `jsonb_array_elements`): one prepared statement whatever the batch size.
pub(crate) fn enroll_inputs(
    postgres: bool,
    rows: &[NewEnrollment],
) -> (&'static EnrollSql, String) {
    let sql = if postgres {
        &ENROLL_SQL_PG
    } else {
        &ENROLL_SQL_SQLITE
    };
    let women = json_rows(rows.iter().map(|r| {
        json!([
            r.name,
            r.phone.as_str(),
            r.wechat_openid,
            r.language,
            r.village,
            r.officer_code,
            r.consent.as_ref().map(|c| ts(c.at)),
            r.consent.as_ref().map(|c| c.source.as_str()),
            r.consent.as_ref().map(|c| c.by.as_str()),
        ])
    }));
    (sql, women)
}

/// `enroll_batch`'s writes inside the caller's transaction `$tx`, with
/// what [`enroll_inputs`] gives. Evaluates to each row's outcome, in order.
macro_rules! enroll_in {
    ($tx:expr, ($sql:expr, $women:expr), $rows:expr, $now_s:expr) => {{
        use sqlx::Row;
        use $crate::store::{date_str, json_rows, EnrollOutcome, StoreError};
        let (sql, women, rows, now_s): (
            &$crate::store::enroll::EnrollSql,
            &String,
            &[$crate::store::NewEnrollment],
            i64,
        ) = ($sql, &$women, $rows, $now_s);
        let tx = &mut $tx;
        sqlx::query(sql.women)
            .bind(&women)
            .bind(now_s)
            .execute(&mut **tx)
            .await?;
        // Each row's woman, and her active pregnancy if any.
        let mut woman_of = vec![0i64; rows.len()];
        let mut outcomes: Vec<Option<EnrollOutcome>> = vec![None; rows.len()];
        for r in sqlx::query(sql.existing)
            .bind(&women)
            .fetch_all(&mut **tx)
            .await?
        {
            let idx = usize::try_from(r.get::<i64, _>("idx"))
                .map_err(|_| StoreError::Corrupt("negative batch index".into()))?;
            let woman_id: i64 = r.get("woman_id");
            woman_of[idx] = woman_id;
            if let Some(pid) = r.get::<Option<i64>, _>("pregnancy_id") {
                let lmp: chrono::NaiveDate = r.try_get("lmp")?;
                outcomes[idx] = Some(if lmp == rows[idx].dates.lmp {
                    EnrollOutcome::Unchanged {
                        woman_id,
                        pregnancy_id: pid,
                    }
                } else {
                    EnrollOutcome::DatesDiffer {
                        woman_id,
                        pregnancy_id: pid,
                    }
                });
            }
        }
        let new_idx: Vec<usize> = (0..rows.len()).filter(|i| outcomes[*i].is_none()).collect();
        let pregnancies = json_rows(new_idx.iter().map(|&i| {
            let r = &rows[i];
            serde_json::json!([
                woman_of[i],
                r.care_plan,
                date_str(r.dates.lmp),
                date_str(r.dates.edd),
                date_str(r.registered_on),
            ])
        }));
        let mut by_woman: std::collections::HashMap<i64, i64> =
            std::collections::HashMap::with_capacity(new_idx.len());
        for r in sqlx::query(sql.pregnancies)
            .bind(&pregnancies)
            .bind(now_s)
            .fetch_all(&mut **tx)
            .await?
        {
            by_woman.insert(r.get(0), r.get(1));
        }
        let mut visits = Vec::with_capacity(new_idx.len() * 6);
        for &i in &new_idx {
            let pid = *by_woman
                .get(&woman_of[i])
                .ok_or_else(|| StoreError::Corrupt("pregnancy insert lost a row".into()))?;
            outcomes[i] = Some(EnrollOutcome::Created {
                woman_id: woman_of[i],
                pregnancy_id: pid,
            });
            visits.extend(rows[i].visits.iter().map(|v| {
                serde_json::json!([
                    pid,
                    v.key,
                    v.seq,
                    v.label_zh,
                    v.label_en,
                    date_str(v.window_start),
                    date_str(v.due),
                    date_str(v.window_end),
                    v.home as i64,
                    v.task as i64,
                    v.newborn as i64,
                ])
            }));
        }
        sqlx::query(sql.visits)
            .bind(json_rows(visits))
            .execute(&mut **tx)
            .await?;
        outcomes
            .into_iter()
            .map(|o| o.ok_or_else(|| StoreError::Corrupt("enrollment lost a row".into())))
            .collect::<Result<Vec<EnrollOutcome>>>()?
    }};
}
pub(crate) use enroll_in;

/// `enroll_batch`'s statements: each reads one JSON array of row arrays
/// bound as `$1`.
pub(crate) struct EnrollSql {
    pub(crate) women: &'static str,
    /// Each row's woman and her active pregnancy: `idx` is the row's
    /// 0-based place in the batch.
    pub(crate) existing: &'static str,
    pub(crate) pregnancies: &'static str,
    pub(crate) visits: &'static str,
}

pub(crate) const ENROLL_SQL_SQLITE: EnrollSql = EnrollSql {
    women: "INSERT INTO women (name, phone, wechat_openid, language, village, officer_code,
                               consent_at, consent_source, consent_by, created_at, updated_at)
            SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5,
                   value->>6, value->>7, value->>8, $2, $2
            FROM json_each($1) WHERE true
            ON CONFLICT (phone, name) DO NOTHING",
    existing: "SELECT j.key AS idx, w.id AS woman_id, p.id AS pregnancy_id, p.lmp
               FROM json_each($1) j
               JOIN women w ON w.phone = j.value->>1 AND w.name = j.value->>0
               LEFT JOIN pregnancies p ON p.woman_id = w.id AND p.status = 'active'",
    pregnancies: "INSERT INTO pregnancies (woman_id, care_plan, lmp, edd, registered_on, plan_from, created_at, updated_at)
                  SELECT value->>0, value->>1, value->>2, value->>3, value->>4, $2, $2, $2
                  FROM json_each($1)
                  RETURNING woman_id, id",
    visits: "INSERT INTO visits (pregnancy_id, contact_key, seq, label_zh, label_en, window_start, due_on, window_end,
                                 home, task, newborn)
             SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, value->>7,
                    value->>8, value->>9, value->>10
             FROM json_each($1)",
};

/// PostgreSQL's twins: `->>` yields text there, so each column is cast,
/// and `WITH ORDINALITY` numbers the rows from 1.
pub(crate) const ENROLL_SQL_PG: EnrollSql = EnrollSql {
    women: "INSERT INTO women (name, phone, wechat_openid, language, village, officer_code,
                               consent_at, consent_source, consent_by, created_at, updated_at)
            SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5,
                   (value->>6)::bigint, value->>7, value->>8, $2, $2
            FROM jsonb_array_elements(CAST($1 AS jsonb)) AS j(value) WHERE true
            ON CONFLICT (phone, name) DO NOTHING",
    existing: "SELECT j.key - 1 AS idx, w.id AS woman_id, p.id AS pregnancy_id, p.lmp
               FROM jsonb_array_elements(CAST($1 AS jsonb)) WITH ORDINALITY AS j(value, key)
               JOIN women w ON w.phone = j.value->>1 AND w.name = j.value->>0
               LEFT JOIN pregnancies p ON p.woman_id = w.id AND p.status = 'active'",
    pregnancies: "INSERT INTO pregnancies (woman_id, care_plan, lmp, edd, registered_on, plan_from, created_at, updated_at)
                  SELECT (value->>0)::bigint, value->>1, (value->>2)::date, (value->>3)::date, (value->>4)::date,
                         $2, $2, $2
                  FROM jsonb_array_elements(CAST($1 AS jsonb)) AS j(value)
                  RETURNING woman_id, id",
    visits: "INSERT INTO visits (pregnancy_id, contact_key, seq, label_zh, label_en, window_start, due_on, window_end,
                                 home, task, newborn)
             SELECT (value->>0)::bigint, value->>1, (value->>2)::bigint, value->>3, value->>4,
                    (value->>5)::date, (value->>6)::date, (value->>7)::date,
                    (value->>8)::boolean, (value->>9)::boolean, (value->>10)::boolean
             FROM jsonb_array_elements(CAST($1 AS jsonb)) AS j(value)",
};

fn visit_json(pregnancy_id: i64, v: &PlannedVisit) -> serde_json::Value {
    json!({"p": pregnancy_id, "key": v.key, "seq": v.seq, "zh": v.label_zh, "en": v.label_en,
           "ws": date_str(v.window_start), "due": date_str(v.due), "we": date_str(v.window_end),
           "home": v.home as i64, "task": v.task as i64, "newborn": v.newborn as i64})
}

/// Ends a pregnancy's current schedule on the day `$on` (a birth, a
/// loss): its pending visits whose window is still open then, or not yet
/// open, are cancelled, and so is every message of it not yet handed to a
/// gateway. A visit whose window had already closed unrecorded stays as it
/// is: it was missed, and stays so in the figures and the worklist. Evaluates
/// to the number of messages cancelled. A macro, so that one body serves a
/// transaction on either backend.
macro_rules! close_schedule {
    ($tx:expr, $pregnancy_id:expr, $on:expr, $cause:expr, $now_s:expr) => {{
        sqlx::query(
            "UPDATE visits SET status = 'cancelled'
             WHERE pregnancy_id = $1 AND status = 'pending' AND window_end >= $2",
        )
        .bind($pregnancy_id)
        .bind($on)
        .execute(&mut *$tx)
        .await?;
        $crate::store::enroll::cancel_pending!(
            $tx,
            "pregnancy_id = $3",
            $pregnancy_id,
            $cause,
            $now_s
        )
    }};
}
pub(crate) use close_schedule;

/// Makes her pregnancies plan afresh from `now`: versions move (new
/// outbox keys), and nothing that fired before `now` is planned. Evaluates
/// to the pregnancies to plan.
macro_rules! replan_from {
    ($tx:expr, $woman_id:expr, $now:expr) => {{
        let ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE pregnancies SET version = version + 1, plan_from = $1, updated_at = $1
             WHERE woman_id = $2 AND status IN ('active', 'delivered') RETURNING id",
        )
        .bind($crate::store::ts($now))
        .bind($woman_id)
        .fetch_all(&mut *$tx)
        .await?;
        sqlx::query(
            "UPDATE visits SET version = version + 1 WHERE status = 'pending'
             AND pregnancy_id IN (SELECT id FROM pregnancies WHERE woman_id = $1 AND status IN ('active', 'delivered'))",
        )
        .bind($woman_id)
        .execute(&mut *$tx)
        .await?;
        ids
    }};
}
pub(crate) use replan_from;

/// Cancels the scheduled messages matching `filter` (a literal whose one
/// parameter, `$3`, is bound to `id`). Evaluates to how many.
macro_rules! cancel_pending {
    ($tx:expr, $filter:literal, $id:expr, $cause:expr, $now_s:expr) => {
        sqlx::query(concat!(
            "UPDATE outbox SET status = 'cancelled', status_cause = $1, updated_at = $2
             WHERE status = 'scheduled' AND ",
            $filter
        ))
        .bind($cause)
        .bind($now_s)
        .bind($id)
        .execute(&mut *$tx)
        .await?
        .rows_affected()
    };
}
pub(crate) use cancel_pending;

/// One visit of a pregnancy, as recorded.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VisitRecord {
    pub id: i64,
    pub key: String,
    /// Its place in the plan: under 100 before the birth, from 100 after.
    pub seq: i64,
    pub label_zh: String,
    pub label_en: String,
    pub window_start: NaiveDate,
    pub due: NaiveDate,
    pub window_end: NaiveDate,
    /// pending, done, missed or cancelled.
    pub status: String,
    pub done_on: Option<String>,
    pub done_by: Option<String>,
    pub done_place: Option<String>,
    /// Her officer comes to her home for it.
    pub home: bool,
    /// The officer's own task (no reminder to her).
    pub task: bool,
    /// For the baby.
    pub newborn: bool,
    pub note: Option<String>,
}
