//! Women who move: a move within the county (her village and officer
//! change, her history stays, each move kept in `woman_moves`), a move out
//! of it (her care here ends as "moved away"), what a referral summary
//! reads, the summaries a receiving county imported, and the moves of a
//! period for the sharing export.

use super::enroll::close_schedule;
use super::{on_db, on_read, ts, BeginWrite, Result, Store, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

/// A move within the county, as recorded.
#[derive(Debug, Clone)]
pub struct MoveWithin {
    pub woman_id: i64,
    pub on: NaiveDate,
    pub to_village: Option<String>,
    pub to_officer: String,
    pub recorded_by: String,
}

/// One move of a woman, as kept.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct MoveRow {
    pub id: i64,
    pub woman_id: i64,
    pub moved_on: NaiveDate,
    pub within_county: bool,
    pub from_village: Option<String>,
    pub from_officer: Option<String>,
    pub to_village: Option<String>,
    pub to_officer: Option<String>,
    pub destination: Option<String>,
    pub recorded_by: String,
}

/// What a referral summary reads of a pregnancy.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TransferFacts {
    pub woman_id: i64,
    pub pregnancy_id: i64,
    pub name: String,
    pub phone: String,
    pub language: String,
    pub village: Option<String>,
    pub consent_at: Option<i64>,
    pub consent_source: Option<String>,
    pub opted_out_at: Option<i64>,
    pub care_plan: String,
    pub lmp: NaiveDate,
    pub edd: NaiveDate,
    pub registered_on: NaiveDate,
    pub status: String,
    pub delivered_on: Option<NaiveDate>,
    pub live_birth: Option<bool>,
    pub live_born: Option<i64>,
    pub birth_place: Option<String>,
    pub discharged_on: Option<NaiveDate>,
    pub risk_colour: Option<String>,
    pub moved_away_on: Option<NaiveDate>,
    pub moved_to: Option<String>,
}

/// A visit done, as a summary carries it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DoneVisit {
    pub contact_key: String,
    pub seq: i64,
    pub label_zh: String,
    pub label_en: String,
    pub done_on: NaiveDate,
    pub done_place: Option<String>,
}

/// Marks visits done elsewhere (contact key, day, place) and cancels their
/// reminders, inside the caller's transaction.
macro_rules! mark_done {
    ($tx:expr, $pregnancy_id:expr, $from_county:expr, $done:expr, $now_s:expr) => {
        for (key, on, place) in $done {
            sqlx::query(
                "UPDATE visits SET status = 'done', done_on = $1, done_by = $2, done_place = $3
                 WHERE pregnancy_id = $4 AND contact_key = $5 AND status = 'pending'",
            )
            .bind(on)
            .bind(format!("transfer:{}", $from_county))
            .bind(place)
            .bind($pregnancy_id)
            .bind(key)
            .execute(&mut *$tx)
            .await?;
        }
        super::enroll::cancel_pending!(
            $tx,
            "visit_id IN (SELECT id FROM visits WHERE pregnancy_id = $3 AND status = 'done')",
            $pregnancy_id,
            "visit done elsewhere",
            $now_s
        );
    };
}

impl Store {
    /// Moves a woman within the county: one `woman_moves` row, her village
    /// and officer replaced, and her current pregnancy's case manager
    /// follows when it was her old officer. Returns the move as kept.
    pub async fn move_within(&self, m: &MoveWithin, now: DateTime<Utc>) -> Result<MoveRow> {
        let now_s = ts(now);
        let id: i64 = on_db!(self, db, {
            let mut tx = db.begin_write().await?;
            let old: Option<(Option<String>, Option<String>)> =
                sqlx::query_as("SELECT village, officer_code FROM women WHERE id = $1")
                    .bind(m.woman_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some((from_village, from_officer)) = old else {
                return Err(StoreError::NotFound(format!("woman {}", m.woman_id)));
            };
            let pregnancy: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM pregnancies WHERE woman_id = $1 AND status IN ('active', 'delivered', 'stale')
                 ORDER BY id DESC LIMIT 1",
            )
            .bind(m.woman_id)
            .fetch_optional(&mut *tx)
            .await?;
            let to_village = m.to_village.clone().or(from_village.clone());
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO woman_moves (woman_id, pregnancy_id, moved_on, within_county, from_village, from_officer,
                                          to_village, to_officer, destination, recorded_by, recorded_at)
                 VALUES ($1, $2, $3, TRUE, $4, $5, $6, $7, NULL, $8, $9) RETURNING id",
            )
            .bind(m.woman_id)
            .bind(pregnancy)
            .bind(m.on)
            .bind(&from_village)
            .bind(&from_officer)
            .bind(&to_village)
            .bind(&m.to_officer)
            .bind(&m.recorded_by)
            .bind(now_s)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE women SET village = $1, officer_code = $2, updated_at = $3 WHERE id = $4",
            )
            .bind(&to_village)
            .bind(&m.to_officer)
            .bind(now_s)
            .bind(m.woman_id)
            .execute(&mut *tx)
            .await?;
            if let Some(old) = &from_officer {
                sqlx::query(
                    "UPDATE pregnancies SET case_manager = $1, case_manager_since = $2, updated_at = $2
                     WHERE woman_id = $3 AND case_manager = $4 AND status IN ('active', 'delivered', 'stale')",
                )
                .bind(&m.to_officer)
                .bind(now_s)
                .bind(m.woman_id)
                .bind(old)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            id
        });
        self.move_row(id).await
    }

    /// Ends her care here: she moved to another county on `on`. The
    /// pregnancy (active, delivered or stale) is ended with where she
    /// went; every visit still to come is cancelled, and every message to
    /// her not yet handed to a gateway. Returns how many were cancelled.
    pub async fn move_away(
        &self,
        pregnancy_id: i64,
        on: NaiveDate,
        destination: &str,
        recorded_by: &str,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let now_s = ts(now);
        Ok(on_db!(self, db, {
            let mut tx = db.begin_write().await?;
            let w: Option<(i64, Option<String>, Option<String>)> = sqlx::query_as(
                "SELECT w.id, w.village, w.officer_code FROM pregnancies p JOIN women w ON w.id = p.woman_id
                 WHERE p.id = $1 AND p.status IN ('active', 'delivered', 'stale')",
            )
            .bind(pregnancy_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((woman_id, village, officer)) = w else {
                return Err(StoreError::NotFound(format!(
                    "pregnancy {pregnancy_id} in care"
                )));
            };
            sqlx::query(
                "UPDATE pregnancies SET status = 'ended', ended_on = $1, moved_away_on = $1, moved_to = $2, updated_at = $3
                 WHERE id = $4",
            )
            .bind(on)
            .bind(destination)
            .bind(now_s)
            .bind(pregnancy_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO woman_moves (woman_id, pregnancy_id, moved_on, within_county, from_village, from_officer,
                                          to_village, to_officer, destination, recorded_by, recorded_at)
                 VALUES ($1, $2, $3, FALSE, $4, $5, NULL, NULL, $6, $7, $8)",
            )
            .bind(woman_id)
            .bind(pregnancy_id)
            .bind(on)
            .bind(&village)
            .bind(&officer)
            .bind(destination)
            .bind(recorded_by)
            .bind(now_s)
            .execute(&mut *tx)
            .await?;
            let n = close_schedule!(tx, pregnancy_id, on, "moved away", now_s);
            // Nothing more to her from this database: outreach and broadcasts too.
            let m =
                super::enroll::cancel_pending!(tx, "woman_id = $3", woman_id, "moved away", now_s);
            tx.commit().await?;
            n + m
        }))
    }

    pub async fn move_row(&self, id: i64) -> Result<MoveRow> {
        on_db!(self, db, {
            sqlx::query_as::<_, MoveRow>(
                "SELECT id, woman_id, moved_on, within_county, from_village, from_officer, to_village, to_officer,
                        destination, recorded_by FROM woman_moves WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(db)
            .await?
        })
        .ok_or_else(|| StoreError::NotFound(format!("move {id}")))
    }

    /// Her moves, oldest first.
    pub async fn moves_of(&self, woman_id: i64) -> Result<Vec<MoveRow>> {
        Ok(on_read!(self, db, {
            sqlx::query_as::<_, MoveRow>(
                "SELECT id, woman_id, moved_on, within_county, from_village, from_officer, to_village, to_officer,
                        destination, recorded_by FROM woman_moves WHERE woman_id = $1 ORDER BY moved_on, id",
            )
            .bind(woman_id)
            .fetch_all(db)
            .await?
        }))
    }

    /// Every move with its day in `[from, to)`, oldest first.
    pub async fn moves_between(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<MoveRow>> {
        Ok(on_read!(self, db, {
            sqlx::query_as::<_, MoveRow>(
                "SELECT id, woman_id, moved_on, within_county, from_village, from_officer, to_village, to_officer,
                        destination, recorded_by FROM woman_moves WHERE moved_on >= $1 AND moved_on < $2
                 ORDER BY moved_on, id",
            )
            .bind(from)
            .bind(to)
            .fetch_all(db)
            .await?
        }))
    }

    /// Her latest pregnancy (in care or moved away) and what a referral
    /// summary reads of it.
    pub async fn transfer_facts(&self, woman_id: i64) -> Result<TransferFacts> {
        on_db!(self, db, {
            sqlx::query_as::<_, TransferFacts>(
                "SELECT w.id AS woman_id, p.id AS pregnancy_id, w.name, w.phone, w.language, w.village,
                        w.consent_at, w.consent_source, w.opted_out_at, p.care_plan, p.lmp, p.edd, p.registered_on,
                        p.status, p.delivered_on, p.live_birth, p.live_born, p.birth_place, p.discharged_on,
                        p.risk_colour, p.moved_away_on, p.moved_to
                 FROM women w JOIN pregnancies p ON p.woman_id = w.id
                 WHERE w.id = $1 AND w.erased_at IS NULL ORDER BY p.id DESC LIMIT 1",
            )
            .bind(woman_id)
            .fetch_optional(db)
            .await?
        })
        .ok_or_else(|| StoreError::NotFound(format!("woman {woman_id}")))
    }

    /// The visits of a pregnancy that were done (not her officer's own tasks).
    pub async fn done_visits(&self, pregnancy_id: i64) -> Result<Vec<DoneVisit>> {
        Ok(on_read!(self, db, {
            sqlx::query_as::<_, DoneVisit>(
                "SELECT contact_key, seq, label_zh, label_en, done_on, done_place FROM visits
                 WHERE pregnancy_id = $1 AND status = 'done' AND task = FALSE AND done_on IS NOT NULL
                 ORDER BY seq, due_on, id",
            )
            .bind(pregnancy_id)
            .fetch_all(db)
            .await?
        }))
    }

    /// The woman a summary was imported as, if it was.
    pub async fn transfer_imported(&self, transfer_id: &str) -> Result<Option<(i64, i64)>> {
        Ok(on_db!(self, db, {
            sqlx::query_as("SELECT woman_id, pregnancy_id FROM transfers_in WHERE transfer_id = $1")
                .bind(transfer_id)
                .fetch_optional(db)
                .await?
        }))
    }

    /// Registers the woman a referral summary brings, in one transaction
    /// with all the summary holds: the visits done before her birth, the
    /// summary remembered, her birth and the visits done after it, and the
    /// audit line. A crash anywhere leaves nothing of it, so importing the
    /// summary again starts afresh. When she is registered here already,
    /// nothing is written and her outcome says so.
    pub async fn import_transfer(
        &self,
        t: &TransferIn<'_>,
        now: DateTime<Utc>,
    ) -> Result<super::EnrollOutcome> {
        let now_s = ts(now);
        let rows = std::slice::from_ref(t.enrollment);
        let (sql, women) = super::enroll::enroll_inputs(self.is_postgres(), rows);
        on_db!(self, db, {
            let mut tx = db.begin_write().await?;
            let out = super::enroll::enroll_in!(tx, (sql, women), rows, now_s)[0];
            let super::EnrollOutcome::Created {
                woman_id,
                pregnancy_id,
            } = out
            else {
                return Ok(out);
            };
            mark_done!(tx, pregnancy_id, t.from_county, t.done_before_birth, now_s);
            sqlx::query(
                "INSERT INTO transfers_in (transfer_id, woman_id, pregnancy_id, from_county, imported_by, imported_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(t.transfer_id)
            .bind(woman_id)
            .bind(pregnancy_id)
            .bind(t.from_county)
            .bind(t.by)
            .bind(now_s)
            .execute(&mut *tx)
            .await?;
            if let Some((birth, visits)) = t.birth {
                super::care::birth_in!(tx, pregnancy_id, birth, visits, now_s);
                mark_done!(tx, pregnancy_id, t.from_county, t.done_after_birth, now_s);
            }
            super::audit_in!(
                tx,
                now_s,
                t.by,
                "transfer_import",
                &format!("woman:{woman_id}"),
                &t.audit_detail
            );
            tx.commit().await?;
            Ok(out)
        })
    }

    /// Births with their day in `[from, to)` for the sharing export: her
    /// number, name, village (then), the birth's facts, her risk colour.
    pub async fn shared_births(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<SharedBirth>> {
        Ok(on_read!(self, db, {
            sqlx::query_as::<_, SharedBirth>(
                "SELECT w.id AS woman_id, w.name, COALESCE(
                            (SELECT m.from_village FROM woman_moves m WHERE m.woman_id = w.id AND m.moved_on > p.delivered_on
                              ORDER BY m.moved_on, m.id LIMIT 1), w.village) AS village,
                        p.delivered_on, p.birth_place, p.live_born, p.discharged_on, p.risk_colour
                 FROM pregnancies p JOIN women w ON w.id = p.woman_id
                 WHERE p.delivered_on >= $1 AND p.delivered_on < $2 AND w.erased_at IS NULL
                 ORDER BY p.delivered_on, p.id",
            )
            .bind(from)
            .bind(to)
            .fetch_all(db)
            .await?
        }))
    }

    /// Registrations with their day in `[from, to)` for the sharing export.
    pub async fn shared_registrations(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<SharedRegistration>> {
        Ok(on_read!(self, db, {
            sqlx::query_as::<_, SharedRegistration>(
                "SELECT w.id AS woman_id, w.name, w.village, p.registered_on, p.lmp, p.edd
                 FROM pregnancies p JOIN women w ON w.id = p.woman_id
                 WHERE p.registered_on >= $1 AND p.registered_on < $2 AND w.erased_at IS NULL
                 ORDER BY p.registered_on, p.id",
            )
            .bind(from)
            .bind(to)
            .fetch_all(db)
            .await?
        }))
    }

    /// Moves with their day in `[from, to)` for the sharing export, with her name.
    pub async fn shared_moves(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(String, MoveRow)>> {
        let moves = self.moves_between(from, to).await?;
        let mut out = Vec::with_capacity(moves.len());
        for m in moves {
            let name: String = on_read!(self, db, {
                sqlx::query_scalar("SELECT name FROM women WHERE id = $1")
                    .bind(m.woman_id)
                    .fetch_one(db)
                    .await?
            });
            out.push((name, m));
        }
        Ok(out)
    }
}

/// A birth as the sharing export carries it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SharedBirth {
    pub woman_id: i64,
    pub name: String,
    pub village: Option<String>,
    pub delivered_on: NaiveDate,
    pub birth_place: Option<String>,
    pub live_born: Option<i64>,
    pub discharged_on: Option<NaiveDate>,
    pub risk_colour: Option<String>,
}

/// A registration as the sharing export carries it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SharedRegistration {
    pub woman_id: i64,
    pub name: String,
    pub village: Option<String>,
    pub registered_on: NaiveDate,
    pub lmp: NaiveDate,
    pub edd: NaiveDate,
}

/// A summary imported from another county: which, from where, the woman
/// to register, and what it holds of her care (visits done as contact
/// key, day and place; her birth with the visits it plans).
#[derive(Debug, Clone, Copy)]
pub struct TransferIn<'a> {
    pub transfer_id: &'a str,
    pub from_county: &'a str,
    pub enrollment: &'a super::NewEnrollment,
    pub done_before_birth: &'a [(String, NaiveDate, Option<String>)],
    pub birth: Option<(&'a super::BirthRecord, &'a [crate::domain::PlannedVisit])>,
    pub done_after_birth: &'a [(String, NaiveDate, Option<String>)],
    pub by: &'a str,
    pub audit_detail: &'a str,
}
