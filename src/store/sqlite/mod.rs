//! SQLite, the embedded default: how the file is opened (WAL, pragmas, one
//! writer connection and a pool of readers), backups and restores with
//! `VACUUM INTO`, and the benchmark's floors on scratch tables.

pub mod backup;
pub mod files;

use super::{refuse_newer, Result, Store, MIGRATOR};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Set when a write failed at the disk: the writer's connection may hold a
/// transaction it can no longer finish (sqlx then refuses every later
/// BEGIN on it), so it is checked before its next use and replaced if so.
static WRITER_SUSPECT: AtomicBool = AtomicBool::new(false);

pub(crate) fn suspect_writer() {
    WRITER_SUSPECT.store(true, Ordering::SeqCst);
}

/// Whether a writer connection can still begin and end a transaction.
async fn writer_sound(conn: &mut sqlx::SqliteConnection) -> bool {
    use sqlx::Connection;
    // As the store begins (a nested begin would be taken as a savepoint).
    match conn.begin_with("BEGIN IMMEDIATE").await {
        Ok(tx) => tx.rollback().await.is_ok(),
        Err(_) => false,
    }
}

/// Opens (creating if needed) the SQLite file at `path` and applies migrations.
pub(super) async fn open(path: &Path) -> Result<Store> {
    let base = SqliteConnectOptions::from_str("sqlite://")?
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10))
        .pragma("cache_size", "-32000")
        .pragma("temp_store", "memory");
    // No ping before each acquire: a local file, and one round trip
    // saved on every statement.
    let unflushed = Arc::new(AtomicBool::new(false));
    let left_unflushed = unflushed.clone();
    let write = SqlitePoolOptions::new()
        .max_connections(1)
        .test_before_acquire(false)
        // After a failed write at the disk (a full disk, an I/O error), a
        // connection that cannot finish its transaction is closed and a
        // fresh one opened: the service recovers once space returns,
        // without a restart.
        .before_acquire(move |conn, _| {
            let left_unflushed = left_unflushed.clone();
            Box::pin(async move {
                if WRITER_SUSPECT.swap(false, Ordering::SeqCst) && !writer_sound(conn).await {
                    tracing::warn!("database connection broken by a failed write: replaced");
                    return Ok(false);
                }
                // A write that need not wait for the disk (`Flush::No`)
                // left it so: every other write waits.
                if left_unflushed.swap(false, Ordering::SeqCst) {
                    use sqlx::Executor;
                    conn.execute("PRAGMA synchronous = FULL").await?;
                }
                Ok(true)
            })
        })
        // Checkpoints every 1,000 pages (SQLite's default: 4 MB of log),
        // and the log is cut back to 4 MB when it starts over. Until a
        // checkpoint copies them into the database file, the pages a
        // transaction wrote take space twice; on a disk that filled up,
        // freeing that much lets the checkpoint finish and the log give
        // its space back. At 10,000 pages (40 MB), which made imports
        // 15% faster, an import that filled the disk left a log that
        // freed space could never fold back: the service stayed
        // unwritable and would not restart (tests/api/disk.rs).
        //
        // synchronous=FULL on the writer: a commit returns only once the
        // write-ahead log is on disk, so what a webhook acknowledged (a
        // receipt, a reply, an opt-out) survives a power cut; NORMAL lost
        // the last commits. Receipts share one commit per group, so the
        // cost is one flush per group, not per receipt. A write safe to
        // redo after a crash turns it down to NORMAL for its own
        // transaction (`Flush::No`, in store/mod.rs).
        .connect_with(
            base.clone()
                .create_if_missing(true)
                .synchronous(SqliteSynchronous::Full)
                .pragma("wal_autocheckpoint", "1000")
                // After a checkpoint, the log file is cut back to 4 MB.
                .pragma("journal_size_limit", "4194304"),
        )
        .await?;
    refuse_newer(&write).await?;
    MIGRATOR.run(&write).await?;
    let read = SqlitePoolOptions::new()
        .max_connections(4)
        .test_before_acquire(false)
        .connect_with(base.read_only(true))
        .await?;
    Ok(Store {
        db: super::Db::Sqlite {
            write,
            read,
            unflushed,
        },
    })
}

impl Store {
    /// Copies what the write-ahead log holds into the database file where
    /// no reader needs it, without waiting: run after each busy scheduler
    /// pass, so the log stays small between SQLite's own checkpoints.
    /// On PostgreSQL, which has no such log, it does nothing.
    pub async fn checkpoint_passive(&self) -> Result<()> {
        if self.is_postgres() {
            return Ok(());
        }
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(self.write()?)
            .await?;
        Ok(())
    }

    /// The write-ahead log's size on disk, in bytes (for `/readyz`).
    pub async fn wal_bytes(&self, db: &Path) -> u64 {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        std::fs::metadata(std::path::PathBuf::from(wal))
            .map(|m| m.len())
            .unwrap_or(0)
    }

    /// For `careminder bench`: records `to` as the gateway that carried
    /// what `from` did (the mock stands in for a phone's API, and the
    /// phone's webhooks bring the receipts).
    pub async fn bench_reassign_gateway(&self, from: &str, to: &str) -> Result<u64> {
        Ok(super::on_db!(self, db, {
            sqlx::query("UPDATE outbox SET gateway = $2 WHERE gateway = $1")
                .bind(from)
                .bind(to)
                .execute(db)
                .await?
                .rows_affected()
        }))
    }

    /// Refreshes PostgreSQL's planner statistics (`ANALYZE`), as
    /// autovacuum would within a minute or so of a bulk change: after a
    /// large import, and in `careminder bench` so each timed phase runs on
    /// a database in its steady state. On SQLite it does nothing.
    pub async fn analyze(&self) -> Result<()> {
        if let super::Db::Postgres(pool) = &self.db {
            super::postgres::analyze(pool).await?;
        }
        Ok(())
    }

    /// For `careminder bench`: forgets every message, its events and the
    /// replies, so that a day can be planned and sent again.
    pub async fn bench_clear_outbox(&self) -> Result<()> {
        super::on_db!(self, db, {
            let mut tx = super::BeginWrite::begin_write(db).await?;
            for sql in [
                "DELETE FROM inbound",
                "DELETE FROM outbox_events",
                "UPDATE outbox SET fallback_of = NULL WHERE fallback_of IS NOT NULL",
                "DELETE FROM outbox",
                "DELETE FROM webhook_events",
            ] {
                sqlx::query(sql).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Copies the write-ahead log into the database file and empties it, so
    /// that a timed phase of `careminder bench` does not pay for the
    /// checkpoint the phase before it left due.
    /// On PostgreSQL, which has no such log to empty, it does nothing.
    pub async fn checkpoint(&self) -> Result<()> {
        if self.is_postgres() {
            return Ok(());
        }
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(self.write()?)
            .await?;
        Ok(())
    }

    /// The floor for `careminder bench`: the same writes a dispatched
    /// message and a status callback cause, as plain statements on a plain
    /// table with the same pragmas, `batch` messages per transaction.
    /// A send is two keyed updates of its row (claimed, then sent with the
    /// gateway's id) and two event rows; a callback is one keyed update and
    /// one event row. Returns the seconds each phase took for `rows` messages.
    pub async fn floor_benchmark(&self, rows: usize, batch: usize) -> Result<(f64, f64)> {
        for ddl in [
            "DROP TABLE IF EXISTS bench_floor",
            "DROP TABLE IF EXISTS bench_floor_events",
            "CREATE TABLE bench_floor (id INTEGER PRIMARY KEY, k TEXT NOT NULL UNIQUE, status TEXT NOT NULL,
                                       lease INTEGER, provider_id TEXT, body TEXT, at INTEGER NOT NULL)",
            "CREATE TABLE bench_floor_events (id INTEGER PRIMARY KEY, msg INTEGER NOT NULL, status TEXT NOT NULL, at INTEGER NOT NULL)",
            "CREATE INDEX bench_floor_events_msg ON bench_floor_events (msg)",
        ] {
            sqlx::query(ddl).execute(self.write()?).await?;
        }
        let batches = self
            .floor_rows(
                "INSERT INTO bench_floor (id, k, status, at)
                 SELECT value, 's1.1/v' || value || '.1', 'scheduled', value FROM json_each(?)",
                rows,
                batch,
            )
            .await?;
        // Each step: a keyed update of the batch's rows, then one event row each.
        let send = [
            (
                "UPDATE bench_floor SET status = 'claimed', lease = at + 60
                 WHERE id IN (SELECT value FROM json_each(?))",
                "claimed",
            ),
            (
                "UPDATE bench_floor SET status = 'accepted', lease = NULL, provider_id = 'p' || id,
                        body = 'a reminder of about this length, rendered for one woman'
                 WHERE id IN (SELECT value FROM json_each(?))",
                "accepted",
            ),
        ];
        let callback = [(
            "UPDATE bench_floor SET status = 'delivered', at = at + 1
             WHERE id IN (SELECT value FROM json_each(?))",
            "delivered",
        )];
        let send = self.floor_phase(&batches, &send).await?;
        let callback = self.floor_phase(&batches, &callback).await?;
        for ddl in ["DROP TABLE bench_floor", "DROP TABLE bench_floor_events"] {
            sqlx::query(ddl).execute(self.write()?).await?;
        }
        Ok((send, callback))
    }

    /// The import floor for `careminder bench`: the rows an import wrote
    /// (women, their pregnancies and visits) written again, as plain
    /// `INSERT ... SELECT` of `batch` women per transaction, into scratch
    /// copies of the three tables made from this file's schema (every
    /// index, key and check). No parsing, validation or binding: what the
    /// file itself costs for those rows. Returns the seconds it took.
    pub async fn import_floor_benchmark(&self, batch: i64) -> Result<f64> {
        const TABLES: [&str; 3] = ["women", "pregnancies", "visits"];
        let schema: Vec<String> = sqlx::query_scalar(
            "SELECT sql FROM sqlite_master WHERE tbl_name IN ('women', 'pregnancies', 'visits') AND sql IS NOT NULL
             ORDER BY CASE type WHEN 'table' THEN 0 ELSE 1 END,
                      CASE tbl_name WHEN 'women' THEN 0 WHEN 'pregnancies' THEN 1 ELSE 2 END",
        )
        .fetch_all(self.write()?)
        .await?;
        let scratch = |sql: &str| {
            TABLES
                .iter()
                .fold(sql.to_string(), |s, t| s.replace(t, &format!("bench_{t}")))
        };
        for t in TABLES.iter().rev() {
            sqlx::query(&format!("DROP TABLE IF EXISTS bench_{t}"))
                .execute(self.write()?)
                .await?;
        }
        for ddl in &schema {
            sqlx::query(&scratch(ddl)).execute(self.write()?).await?;
        }
        let last: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM women")
            .fetch_one(self.write()?)
            .await?;
        self.checkpoint().await?;
        let t = std::time::Instant::now();
        for from in (1..=last).step_by(batch.max(1) as usize) {
            let to = from + batch - 1;
            let mut tx = self.begin().await?;
            for sql in [
                "INSERT INTO bench_women SELECT * FROM women WHERE id BETWEEN ?1 AND ?2",
                "INSERT INTO bench_pregnancies SELECT * FROM pregnancies WHERE woman_id BETWEEN ?1 AND ?2",
                "INSERT INTO bench_visits SELECT v.* FROM pregnancies p JOIN visits v ON v.pregnancy_id = p.id
                 WHERE p.woman_id BETWEEN ?1 AND ?2",
            ] {
                sqlx::query(sql)
                    .bind(from)
                    .bind(to)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
        let secs = t.elapsed().as_secs_f64();
        for t in TABLES.iter().rev() {
            sqlx::query(&format!("DROP TABLE bench_{t}"))
                .execute(self.write()?)
                .await?;
        }
        Ok(secs)
    }

    /// The same floor on a scratch copy of the outbox itself: its columns,
    /// its nine indexes and its status-event trigger, copied from this
    /// file's schema (so it follows every migration). The timed writes are
    /// the transitions a message goes through (claimed, accepted with the
    /// gateway's id, its text and address; then delivered) as plain keyed
    /// UPDATEs, `batch` messages per transaction; the trigger writes the
    /// event rows as it does for real messages. Returns seconds per phase.
    pub async fn outbox_floor_benchmark(&self, rows: usize, batch: usize) -> Result<(f64, f64)> {
        let schema: Vec<String> = sqlx::query_scalar(
            "SELECT sql FROM sqlite_master WHERE tbl_name IN ('outbox', 'outbox_events') AND sql IS NOT NULL
             ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 ELSE 2 END, tbl_name DESC",
        )
        .fetch_all(self.write()?)
        .await?;
        for ddl in [
            "DROP TABLE IF EXISTS bench_outbox_events",
            "DROP TABLE IF EXISTS bench_outbox",
        ] {
            sqlx::query(ddl).execute(self.write()?).await?;
        }
        // Every name with "outbox" in it (tables, columns, indexes, trigger) gets the prefix.
        for ddl in &schema {
            sqlx::query(&ddl.replace("outbox", "bench_outbox"))
                .execute(self.write()?)
                .await?;
        }
        let batches = self
            .floor_rows(
                "INSERT INTO bench_outbox (id, dedupe_key, kind, status, send_at, expires_at, created_at, updated_at)
                 SELECT value, 's1.1/v' || value || '.1', 'reminder', 'scheduled', 1000, 90000, 1, 1 FROM json_each(?)",
                rows,
                batch,
            )
            .await?;
        let send = [
            "UPDATE bench_outbox SET status = 'claimed', lease_until = 1060, attempts = attempts + 1, updated_at = 2
             WHERE id IN (SELECT value FROM json_each(?))",
            "UPDATE bench_outbox SET status = 'accepted', lease_until = NULL, gateway = 'mock', provider_id = 'p' || id,
                    to_addr = '+8613900000000', parts = 1, channel = 'sms', updated_at = 3,
                    body = '【县妇幼】王秀英您好，您的第3次产前检查在12月2日（星期三），请带好母子健康手册到卫生院。回复1确认。'
             WHERE id IN (SELECT value FROM json_each(?))",
        ];
        let callback = [
            "UPDATE bench_outbox SET status = 'delivered', updated_at = 4
                         WHERE id IN (SELECT value FROM json_each(?))",
        ];
        let mut secs = [0.0; 2];
        for (phase, steps) in [&send[..], &callback[..]].into_iter().enumerate() {
            self.checkpoint().await?;
            let t = std::time::Instant::now();
            for b in &batches {
                let mut tx = self.begin().await?;
                for update in steps {
                    sqlx::query(update).bind(b).execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
            secs[phase] = t.elapsed().as_secs_f64();
        }
        for ddl in ["DROP TABLE bench_outbox_events", "DROP TABLE bench_outbox"] {
            sqlx::query(ddl).execute(self.write()?).await?;
        }
        Ok((secs[0], secs[1]))
    }

    /// Ids 1..=`rows` in JSON arrays of `batch`, each inserted (untimed,
    /// one transaction) by `insert`, which reads them from `json_each(?)`.
    async fn floor_rows(&self, insert: &str, rows: usize, batch: usize) -> Result<Vec<String>> {
        let batches: Vec<String> = (0..rows)
            .step_by(batch)
            .map(|i| {
                let ids: Vec<usize> = (i + 1..=(i + batch).min(rows)).collect();
                serde_json::to_string(&ids).expect("json")
            })
            .collect();
        let mut tx = self.begin().await?;
        for b in &batches {
            sqlx::query(insert).bind(b).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(batches)
    }

    /// Seconds to run `steps` over every batch, a transaction per batch.
    async fn floor_phase(&self, batches: &[String], steps: &[(&str, &str)]) -> Result<f64> {
        let event = "INSERT INTO bench_floor_events (msg, status, at) SELECT value, ?2, 1 FROM json_each(?1)";
        self.checkpoint().await?;
        let t = std::time::Instant::now();
        for b in batches {
            let mut tx = self.begin().await?;
            for (update, status) in steps {
                sqlx::query(update).bind(b).execute(&mut *tx).await?;
                sqlx::query(event)
                    .bind(b)
                    .bind(status)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
        Ok(t.elapsed().as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use crate::store::{in_write, Flush, Result, Store};

    /// `PRAGMA synchronous` as the writer's next user finds it: 2 is
    /// FULL (a commit waits for the disk), 1 is NORMAL.
    async fn synchronous(store: &Store) -> i64 {
        sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(store.write().unwrap())
            .await
            .unwrap()
    }

    async fn inside(store: &Store, flush: Flush, commit: bool) -> Result<i64> {
        in_write!(store, tx, flush, {
            let level: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&mut *tx)
                .await?;
            if commit {
                tx.commit().await?;
            }
            Ok(level)
        })
    }

    /// A write safe to redo does not wait for the disk, and every write
    /// after it does again, however it ended: committed, or dropped
    /// half-way (an error, a cancelled request).
    #[tokio::test]
    async fn only_a_write_marked_unflushed_skips_the_flush_and_the_next_one_waits_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::open(&dir.path().join("t.db")).await.unwrap();
        assert_eq!(synchronous(&store).await, 2, "FULL from the start");
        assert_eq!(inside(&store, Flush::Yes, true).await.unwrap(), 2);
        assert_eq!(inside(&store, Flush::No, true).await.unwrap(), 1);
        assert_eq!(synchronous(&store).await, 2, "FULL again after a commit");
        assert_eq!(inside(&store, Flush::No, false).await.unwrap(), 1);
        assert_eq!(synchronous(&store).await, 2, "FULL again after a drop");
        assert_eq!(inside(&store, Flush::No, true).await.unwrap(), 1);
        assert_eq!(inside(&store, Flush::Yes, true).await.unwrap(), 2);
    }
}
