//! What careminder holds about one woman, exported whole or erased, and
//! consistent copies of the whole database for backups.

use super::{on_db, on_read, ts, BeginWrite, Result, Store, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Map, Value};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Column, Row, TypeInfo, ValueRef};
use std::path::Path;

/// What an erasure changed, for the audit log and the operator.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Erasure {
    pub woman_id: i64,
    /// Messages not yet sent, cancelled.
    pub cancelled: u64,
    /// Messages whose text and address were scrubbed.
    pub messages_scrubbed: u64,
    /// Her replies whose text and sender were scrubbed.
    pub replies_scrubbed: u64,
}

/// A row of either backend, as JSON: every column, whatever the table,
/// each value as SQLite shows it (dates as text, flags as 0 or 1).
trait ExportRow {
    fn to_json(&self) -> Value;
}

impl ExportRow for SqliteRow {
    fn to_json(&self) -> Value {
        let mut o = Map::new();
        for (i, c) in self.columns().iter().enumerate() {
            let v = match self.try_get_raw(i) {
                Ok(raw) if raw.is_null() => Value::Null,
                Ok(raw) => match raw.type_info().name() {
                    "INTEGER" => json!(self.get::<i64, _>(i)),
                    "REAL" => json!(self.get::<f64, _>(i)),
                    "BLOB" => json!(format!("{} bytes", self.get::<Vec<u8>, _>(i).len())),
                    _ => json!(self.get::<String, _>(i)),
                },
                Err(_) => Value::Null,
            };
            o.insert(c.name().to_string(), v);
        }
        Value::Object(o)
    }
}

impl ExportRow for PgRow {
    fn to_json(&self) -> Value {
        let mut o = Map::new();
        for (i, c) in self.columns().iter().enumerate() {
            let v = match self.try_get_raw(i) {
                Ok(raw) if raw.is_null() => Value::Null,
                Ok(raw) => {
                    let ty = raw.type_info().name().to_string();
                    let v = match ty.as_str() {
                        "INT8" => self.try_get::<i64, _>(i).map(Value::from),
                        "INT4" => self.try_get::<i32, _>(i).map(Value::from),
                        "INT2" => self.try_get::<i16, _>(i).map(Value::from),
                        "FLOAT8" => self.try_get::<f64, _>(i).map(Value::from),
                        "FLOAT4" => self.try_get::<f32, _>(i).map(Value::from),
                        // As SQLite holds flags: 0 or 1, so an export
                        // reads the same from either backend.
                        "BOOL" => self
                            .try_get::<bool, _>(i)
                            .map(|b| Value::from(i64::from(b))),
                        "DATE" => self
                            .try_get::<NaiveDate, _>(i)
                            .map(|d| Value::from(d.to_string())),
                        "BYTEA" => self
                            .try_get::<Vec<u8>, _>(i)
                            .map(|b| Value::from(format!("{} bytes", b.len()))),
                        _ => self.try_get::<String, _>(i).map(Value::from),
                    };
                    // A type this export cannot read still shows its column.
                    v.unwrap_or_else(|_| Value::from(format!("({ty})")))
                }
                Err(_) => Value::Null,
            };
            o.insert(c.name().to_string(), v);
        }
        Value::Object(o)
    }
}

/// Every column of every row, as JSON, whatever the table: an export must
/// not silently leave out a column added later.
fn rows_json<R: ExportRow>(rows: &[R]) -> Vec<Value> {
    rows.iter().map(ExportRow::to_json).collect()
}

impl Store {
    /// Everything held about one woman: her record, pregnancies, visits,
    /// every message to her with its status history, every reply from her
    /// and the audit entries about her. `None` when there is no such woman.
    pub async fn export_woman(&self, woman_id: i64) -> Result<Option<Value>> {
        let queries: [(&str, &str); 9] = [
            ("pregnancies", "SELECT * FROM pregnancies WHERE woman_id = $1 ORDER BY id"),
            (
                "visits",
                "SELECT v.* FROM visits v JOIN pregnancies p ON p.id = v.pregnancy_id
                 WHERE p.woman_id = $1 ORDER BY v.pregnancy_id, v.seq",
            ),
            (
                "risk_assessments",
                "SELECT a.* FROM risk_assessments a JOIN pregnancies p ON p.id = a.pregnancy_id
                 WHERE p.woman_id = $1 ORDER BY a.pregnancy_id, a.assessed_on, a.id",
            ),
            (
                "referrals",
                "SELECT r.* FROM referrals r JOIN pregnancies p ON p.id = r.pregnancy_id
                 WHERE p.woman_id = $1 ORDER BY r.pregnancy_id, r.referred_on, r.id",
            ),
            ("moves", "SELECT * FROM woman_moves WHERE woman_id = $1 ORDER BY moved_on, id"),
            ("messages", "SELECT * FROM outbox WHERE woman_id = $1 ORDER BY id"),
            (
                "message_events",
                "SELECT e.* FROM outbox_events e JOIN outbox o ON o.id = e.outbox_id
                 WHERE o.woman_id = $1 ORDER BY e.id",
            ),
            ("replies", "SELECT * FROM inbound WHERE woman_id = $1 ORDER BY id"),
            (
                "audit",
                "SELECT * FROM audit_log WHERE subject = 'woman:' || CAST($1 AS TEXT)
                    OR subject IN (SELECT 'pregnancy:' || CAST(id AS TEXT) FROM pregnancies WHERE woman_id = $1)
                    OR subject IN (SELECT 'visit:' || CAST(v.id AS TEXT) FROM visits v JOIN pregnancies p ON p.id = v.pregnancy_id
                                   WHERE p.woman_id = $1)
                    OR subject IN (SELECT 'inbound:' || CAST(id AS TEXT) FROM inbound WHERE woman_id = $1)
                 ORDER BY id",
            ),
        ];
        // One read transaction, so the parts agree; on PostgreSQL one
        // snapshot for all its statements.
        let snapshot = self.dialect().begin_snapshot();
        Ok(on_read!(self, db, {
            let mut tx = db.begin_with(snapshot).await?;
            let woman = sqlx::query("SELECT * FROM women WHERE id = $1")
                .bind(woman_id)
                .fetch_optional(&mut *tx)
                .await?;
            match woman {
                None => None,
                Some(woman) => {
                    let mut out = Map::new();
                    out.insert("woman".into(), woman.to_json());
                    for (key, sql) in queries {
                        let rows = sqlx::query(sql).bind(woman_id).fetch_all(&mut *tx).await?;
                        out.insert(key.into(), Value::Array(rows_json(&rows)));
                    }
                    tx.commit().await?;
                    Some(Value::Object(out))
                }
            }
        }))
    }

    /// Erases a woman's personal data in one transaction: her name, number,
    /// WeChat id and how and by whom she consented go; messages not yet sent
    /// are cancelled; the text and address of every message to or from her
    /// are scrubbed. What reports count stays: her village, officer, dates,
    /// visits, when she consented (and opted out), each message's status. An
    /// erasure stops her messages (marked opted out "erased") but is not
    /// counted as an opt-out. `None` when there is no such woman.
    pub async fn erase_woman(
        &self,
        woman_id: i64,
        now: DateTime<Utc>,
        actor: &str,
    ) -> Result<Option<Erasure>> {
        let now_s = ts(now);
        Ok(on_db!(self, db, {
            let mut tx = db.begin_write().await?;
            let found = sqlx::query(
                "UPDATE women SET name = '(erased)', phone = 'erased:' || CAST(id AS TEXT), wechat_openid = NULL, id_card = NULL,
                        consent_source = NULL, consent_by = NULL,
                        opted_out_at = COALESCE(opted_out_at, $2), opted_out_via = COALESCE(opted_out_via, 'erased'),
                        erased_at = COALESCE(erased_at, $2), updated_at = $2
                 WHERE id = $1",
            )
            .bind(woman_id)
            .bind(now_s)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if found == 0 {
                return Ok(None);
            }
            let cancelled = sqlx::query(
                "UPDATE outbox SET status = 'cancelled', status_cause = 'her data was erased', lease_until = NULL, updated_at = $2
                 WHERE woman_id = $1 AND status IN ('scheduled', 'claimed')",
            )
            .bind(woman_id)
            .bind(now_s)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let messages_scrubbed = sqlx::query(
                "UPDATE outbox SET body = NULL, to_addr = NULL, updated_at = $2
                 WHERE woman_id = $1 AND (body IS NOT NULL OR to_addr IS NOT NULL)",
            )
            .bind(woman_id)
            .bind(now_s)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let replies_scrubbed =
                sqlx::query("UPDATE inbound SET text = '', sender = 'erased' WHERE woman_id = $1")
                    .bind(woman_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            sqlx::query(
                "UPDATE pregnancies SET birth_place = NULL, moved_to = NULL WHERE woman_id = $1",
            )
            .bind(woman_id)
            .execute(&mut *tx)
            .await?;
            // Where she went may name her new home: it goes; that she moved stays.
            sqlx::query("UPDATE woman_moves SET destination = NULL WHERE woman_id = $1")
                .bind(woman_id)
                .execute(&mut *tx)
                .await?;
            // Free text about her health may name her: it goes; her grades
            // and referrals (what the figures count) stay.
            sqlx::query(
                "UPDATE risk_assessments SET reasons = NULL
                 WHERE pregnancy_id IN (SELECT id FROM pregnancies WHERE woman_id = $1)",
            )
            .bind(woman_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE referrals SET reason = NULL, result = NULL
                 WHERE pregnancy_id IN (SELECT id FROM pregnancies WHERE woman_id = $1)",
            )
            .bind(woman_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO audit_log (at, actor, action, subject, detail) VALUES ($1, $2, 'erase', $3, $4)",
            )
            .bind(now_s)
            .bind(actor)
            .bind(format!("woman:{woman_id}"))
            .bind(format!(
                "{cancelled} unsent messages cancelled, {messages_scrubbed} messages and {replies_scrubbed} replies scrubbed"
            ))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Some(Erasure {
                woman_id,
                cancelled,
                messages_scrubbed,
                replies_scrubbed,
            })
        }))
    }

    /// Writes a consistent copy of the live database to `dest` (which must
    /// not exist) with `VACUUM INTO`: one read transaction, so the service
    /// keeps sending and recording while it runs. SQLite only: a
    /// PostgreSQL database is backed up with PostgreSQL's own tools.
    pub async fn backup_into(&self, dest: &Path) -> Result<()> {
        match &self.db {
            super::Db::Sqlite { read, .. } => {
                sqlx::query("VACUUM INTO $1")
                    .bind(dest.to_string_lossy().into_owned())
                    .execute(read)
                    .await?;
                Ok(())
            }
            super::Db::Postgres(_) => Err(StoreError::Unsupported(
                "careminder backs up SQLite databases only: back up PostgreSQL with pg_dump or its \
                 continuous archiving"
                    .into(),
            )),
        }
    }

    /// Checks a database file that is not in use (a backup about to be
    /// restored): it is a sound SQLite file of a careminder this binary can
    /// run. Opens it read-only and leaves it untouched.
    pub async fn verify_copy(path: &Path) -> Result<()> {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(path)
                    .read_only(true),
            )
            .await?;
        super::refuse_newer(&pool).await?;
        let tables: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('women', 'outbox', '_sqlx_migrations')",
        )
        .fetch_one(&pool)
        .await?;
        if tables != 3 {
            return Err(super::StoreError::Corrupt(format!(
                "{} is not a careminder database",
                path.display()
            )));
        }
        let sound = super::integrity_check(&pool).await;
        pool.close().await;
        sound
    }

    /// After a restore: new messages get ids far above any the lost
    /// database may have handed to a gateway after the backup was taken,
    /// so a gateway that de-duplicates by our id never mistakes a new
    /// message for one it has seen. A cancelled marker row holds the gap.
    pub async fn skip_message_ids(&self, gap: i64, now: DateTime<Utc>) -> Result<i64> {
        let now_s = ts(now);
        let pg = self.is_postgres();
        Ok(on_db!(self, db, {
            let mut tx = db.begin_write().await?;
            let max: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM outbox")
                .fetch_one(&mut *tx)
                .await?;
            let marker = max + gap;
            sqlx::query(
                "INSERT INTO outbox (id, dedupe_key, kind, status, status_cause, send_at, expires_at, created_at, updated_at)
                 VALUES ($1, 'restore:' || CAST($1 AS TEXT), 'alert', 'cancelled', 'restored from a backup: ids below this one may have been used by the replaced database', $2, $2, $2, $2)",
            )
            .bind(marker)
            .bind(now_s)
            .execute(&mut *tx)
            .await?;
            if pg {
                // An id given explicitly does not move PostgreSQL's
                // sequence: new messages must start above the marker.
                sqlx::query("SELECT setval(pg_get_serial_sequence('outbox', 'id'), $1)")
                    .bind(marker)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            marker
        }))
    }
}
