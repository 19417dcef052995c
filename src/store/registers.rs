//! Records that arrive from elsewhere: women found by what a hospital's or
//! a clinic's register holds (ID card number, phone, name), their ID card
//! numbers, and the register rows waiting for a person to match them.

use super::{on_db, on_read, ts, Result, Store};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::Row;

/// A registered woman a register row may be about, with her current (or
/// delivered) pregnancy's expected date.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub woman_id: i64,
    pub name: String,
    pub phone: String,
    pub id_card: Option<String>,
    pub edd: NaiveDate,
}

/// A register row waiting (or once waiting) in the "to match" list.
#[derive(Debug, Clone, Serialize)]
pub struct RegisterRow {
    pub id: i64,
    pub kind: String,
    pub source: String,
    pub line: i64,
    /// The row's fields as read (JSON object of field -> text).
    pub fields: String,
    pub reason: String,
    pub status: String,
    pub woman_id: Option<i64>,
    pub resolved_by: Option<String>,
    pub note: Option<String>,
    pub created_at: i64,
}

const CANDIDATES: &str = "SELECT w.id AS woman_id, w.name, w.phone, w.id_card, p.edd
    FROM women w JOIN pregnancies p ON p.id = (
        SELECT q.id FROM pregnancies q WHERE q.woman_id = w.id AND q.status IN ('active', 'stale', 'delivered')
        ORDER BY (q.status <> 'delivered') DESC, q.id DESC LIMIT 1)
    WHERE w.erased_at IS NULL AND ";

const ROW_COLUMNS: &str =
    "id, kind, source, line, fingerprint, fields, reason, status, woman_id, resolved_by, note, created_at";

/// A `register_rows` row read into a [`RegisterRow`] (a macro: the row
/// types of the two backends differ).
macro_rules! register_row {
    ($r:expr) => {{
        let r = $r;
        Ok::<_, super::StoreError>(RegisterRow {
            id: r.try_get("id")?,
            kind: r.try_get("kind")?,
            source: r.try_get("source")?,
            line: r.try_get("line")?,
            fields: r.try_get("fields")?,
            reason: r.try_get("reason")?,
            status: r.try_get("status")?,
            woman_id: r.try_get("woman_id")?,
            resolved_by: r.try_get("resolved_by")?,
            note: r.try_get("note")?,
            created_at: r.try_get("created_at")?,
        })
    }};
}

impl Store {
    /// Women with a pregnancy whose `column` (`id_card`, `phone` or `name`)
    /// is `value`.
    pub async fn register_candidates(&self, column: &str, value: &str) -> Result<Vec<Candidate>> {
        let column = match column {
            "id_card" => "w.id_card",
            "phone" => "w.phone",
            _ => "w.name",
        };
        let sql = format!("{CANDIDATES}{column} = $1 ORDER BY w.id");
        on_read!(self, db, {
            sqlx::query(&sql)
                .bind(value)
                .fetch_all(db)
                .await?
                .into_iter()
                .map(|r| {
                    Ok(Candidate {
                        woman_id: r.try_get("woman_id")?,
                        name: r.try_get("name")?,
                        phone: r.try_get("phone")?,
                        id_card: r.try_get("id_card")?,
                        edd: r.try_get("edd")?,
                    })
                })
                .collect()
        })
    }

    /// The woman holding this ID card number, if any.
    pub async fn woman_by_id_card(&self, id_card: &str) -> Result<Option<i64>> {
        Ok(on_db!(self, db, {
            sqlx::query_scalar("SELECT id FROM women WHERE id_card = $1")
                .bind(id_card)
                .fetch_optional(db)
                .await?
        }))
    }

    /// Her ID card number, stored where none was: false when she has
    /// another already.
    pub async fn set_id_card(
        &self,
        woman_id: i64,
        id_card: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        Ok(on_db!(self, db, {
            sqlx::query(
                "UPDATE women SET id_card = $2, updated_at = $3
                 WHERE id = $1 AND (id_card IS NULL OR id_card = $2)",
            )
            .bind(woman_id)
            .bind(id_card)
            .bind(ts(now))
            .execute(db)
            .await?
            .rows_affected()
        }) > 0)
    }

    /// Her stored ID card number.
    pub async fn id_card_of(&self, woman_id: i64) -> Result<Option<String>> {
        Ok(on_read!(self, db, {
            sqlx::query_scalar::<_, Option<String>>("SELECT id_card FROM women WHERE id = $1")
                .bind(woman_id)
                .fetch_optional(db)
                .await?
        })
        .flatten())
    }

    /// The day of the birth recorded for her current pregnancy, if one is.
    pub async fn birth_recorded_on(&self, woman_id: i64) -> Result<Option<NaiveDate>> {
        Ok(on_db!(self, db, {
            sqlx::query_scalar::<_, Option<NaiveDate>>(
                "SELECT delivered_on FROM pregnancies WHERE woman_id = $1 AND status = 'delivered'
                 ORDER BY id DESC LIMIT 1",
            )
            .bind(woman_id)
            .fetch_optional(db)
            .await?
        })
        .flatten())
    }

    /// Whether a check-up of hers is recorded as done on `on`.
    pub async fn checkup_done_on(&self, woman_id: i64, on: NaiveDate) -> Result<bool> {
        let n: i64 = on_db!(self, db, {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM visits v JOIN pregnancies p ON p.id = v.pregnancy_id
                 WHERE p.woman_id = $1 AND v.status = 'done' AND v.done_on = $2 AND v.seq < 100",
            )
            .bind(woman_id)
            .bind(on)
            .fetch_one(db)
            .await?
        });
        Ok(n > 0)
    }

    /// The pending prenatal check-up of hers that `on` falls in (its window
    /// holds the day; of two, the one opened last, as in
    /// [`Store::current_visit`]), else the earliest pending one: the one a register's
    /// check-up on `on` records when it names none.
    pub async fn pending_checkup_for(
        &self,
        woman_id: i64,
        on: NaiveDate,
    ) -> Result<Option<String>> {
        Ok(on_db!(self, db, {
            sqlx::query_scalar(
                "SELECT v.contact_key FROM visits v JOIN pregnancies p ON p.id = v.pregnancy_id
                 WHERE p.woman_id = $1 AND p.status = 'active' AND v.status = 'pending'
                   AND v.seq < 99 AND v.home = FALSE AND v.task = FALSE AND v.newborn = FALSE
                 ORDER BY (v.window_start <= $2 AND v.window_end >= $2) DESC,
                          CASE WHEN v.window_start <= $2 AND v.window_end >= $2 THEN v.window_start END DESC,
                          v.due_on, v.id LIMIT 1",
            )
            .bind(woman_id)
            .bind(on)
            .fetch_optional(db)
            .await?
        }))
    }

    /// The contact key of her plan's `n`th prenatal check-up (1-based, in
    /// order of due date), pending or not.
    pub async fn nth_checkup(&self, woman_id: i64, n: i64) -> Result<Option<(String, String)>> {
        Ok(on_db!(self, db, {
            sqlx::query_as(
                "SELECT v.contact_key, v.status FROM visits v JOIN pregnancies p ON p.id = v.pregnancy_id
                 WHERE p.woman_id = $1 AND p.status = 'active'
                   AND v.seq < 99 AND v.home = FALSE AND v.task = FALSE AND v.newborn = FALSE
                 ORDER BY v.due_on, v.id LIMIT 1 OFFSET $2",
            )
            .bind(woman_id)
            .bind(n - 1)
            .fetch_optional(db)
            .await?
        }))
    }

    /// A row put in the "to match" list; None when the same row (by
    /// `fingerprint`) is there already, whatever became of it.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_register_row(
        &self,
        kind: &str,
        source: &str,
        line: i64,
        fingerprint: &str,
        fields: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>> {
        Ok(on_db!(self, db, {
            sqlx::query_scalar(
                "INSERT INTO register_rows (kind, source, line, fingerprint, fields, reason, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (kind, fingerprint) DO NOTHING RETURNING id",
            )
            .bind(kind)
            .bind(source)
            .bind(line)
            .bind(fingerprint)
            .bind(fields)
            .bind(reason)
            .bind(ts(now))
            .fetch_optional(db)
            .await?
        }))
    }

    /// The row of the list with this fingerprint, if the same row was put there before.
    pub async fn register_row_by_fingerprint(
        &self,
        kind: &str,
        fingerprint: &str,
    ) -> Result<Option<RegisterRow>> {
        let sql =
            format!("SELECT {ROW_COLUMNS} FROM register_rows WHERE kind = $1 AND fingerprint = $2");
        on_db!(self, db, {
            sqlx::query(&sql)
                .bind(kind)
                .bind(fingerprint)
                .fetch_optional(db)
                .await?
                .map(|r| register_row!(r))
                .transpose()
        })
    }

    pub async fn register_row(&self, id: i64) -> Result<Option<RegisterRow>> {
        let sql = format!("SELECT {ROW_COLUMNS} FROM register_rows WHERE id = $1");
        on_db!(self, db, {
            sqlx::query(&sql)
                .bind(id)
                .fetch_optional(db)
                .await?
                .map(|r| register_row!(r))
                .transpose()
        })
    }

    /// The rows waiting, oldest first.
    pub async fn waiting_register_rows(&self) -> Result<Vec<RegisterRow>> {
        let sql = format!(
            "SELECT {ROW_COLUMNS} FROM register_rows WHERE status = 'waiting' ORDER BY created_at, id"
        );
        on_read!(self, db, {
            sqlx::query(&sql)
                .fetch_all(db)
                .await?
                .into_iter()
                .map(|r| register_row!(r))
                .collect()
        })
    }

    /// Closes a waiting row as `status` (matched, registered, dismissed):
    /// false when it was not waiting (someone else decided first).
    pub async fn resolve_register_row(
        &self,
        id: i64,
        status: &str,
        woman_id: Option<i64>,
        by: &str,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        Ok(on_db!(self, db, {
            sqlx::query(
                "UPDATE register_rows SET status = $2, woman_id = $3, resolved_by = $4, note = $5, resolved_at = $6
                 WHERE id = $1 AND status = 'waiting'",
            )
            .bind(id)
            .bind(status)
            .bind(woman_id)
            .bind(by)
            .bind(note)
            .bind(ts(now))
            .execute(db)
            .await?
            .rows_affected()
        }) > 0)
    }
}
