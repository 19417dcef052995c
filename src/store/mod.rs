//! The storage seam: every SQL statement lives here, one module per group
//! of tables, behind [`Store`]'s methods; services never see SQL. What is
//! SQLite's own (opening the file and its pragmas, `VACUUM INTO` backups,
//! the benchmark's scratch tables) is in [`sqlite`]; PostgreSQL's (its
//! schema's migrations, and moving a county's SQLite file into it) is in
//! [`postgres`].
//!
//! SQLite is opened in WAL mode with `synchronous=NORMAL`, foreign keys on
//! and a busy timeout. Writes go through a pool of one connection and start
//! with `BEGIN IMMEDIATE` (one writer, no upgrade deadlocks); reads use a
//! separate pool of read-only connections. Bulk writes bind many rows into
//! one multi-row `VALUES` statement: one round trip per few thousand rows
//! instead of one per row.

mod broadcasts;
pub(crate) mod campaigns;
mod care;
mod cloud;
mod console;
mod dialect;
mod enroll;
mod inbound;
mod indicators;
mod instances;
mod moves;
mod outbox;
mod plans;
pub mod postgres;
mod privacy;
mod registers;
pub(crate) mod risk;
pub mod sqlite;
mod staff;
mod types;
mod wechat;

pub use broadcasts::{Audience, AudienceMember, BroadcastRow, Stage};
pub use campaigns::{SmsVariant, StepRow, StepSeed, StepText, WechatVariant};
pub use care::{BirthRecord, Coverage, OverdueVisit, StalePregnancy};
pub use console::{
    Area, AuditRow, DayCounts, MessageLogFilter, MessageLogRow, PregnancyListRow, StepEditRow,
    TextVersion, VillageVisits, WomanListRow, WomenFilter,
};
pub use dialect::Dialect;
pub use enroll::{Consent, EnrollOutcome, NewEnrollment, PregnancyRow, VisitRecord, WomanRow};
pub use inbound::{ConversationItem, DirectMessage, InboundResult, InboundRow, NewInbound};
pub use indicators::{AreaKind, BirthFacts, OwnCount};
pub use instances::InstanceRow;
pub use moves::{
    DoneVisit, MoveRow, MoveWithin, SharedBirth, SharedRegistration, TransferFacts, TransferIn,
};
pub use outbox::{
    ClaimedMessage, NewOutboxRow, OutboxFilter, OutboxListRow, PlanningCandidate, SendResult,
    StatusCount, SPENT_URL,
};
pub use privacy::Erasure;
pub use registers::{Candidate, RegisterRow};
pub use risk::{AssessmentRow, NewAssessment, ReferralRow, RiskState, RiskTask};
pub use staff::{NewStaff, StaffRow};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use sqlx::sqlite::SqlitePool;
use sqlx::{Sqlite, Transaction};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlx(sqlx::Error),
    /// SQLite could not write: the disk is full.
    #[error("the disk is full: free space where the database lives ({0})")]
    DiskFull(String),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0} not found")]
    NotFound(String),
    #[error("file: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Conflict(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error(
        "the database was written by a newer careminder (schema {found}; this binary knows up to {known}): \
         upgrade careminder, or restore a backup made by this version"
    )]
    Newer { found: i64, known: i64 },
    #[error("{0}")]
    Unsupported(String),
    #[error("cannot reach the database {0}")]
    Unreachable(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        // A write that failed at the disk may leave the connection with a
        // transaction it cannot finish: the writer checks it before reuse.
        let code = match &e {
            sqlx::Error::Database(d)
                if d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() =>
            {
                d.code().and_then(|c| c.parse::<i64>().ok())
            }
            // PostgreSQL's disk_full.
            sqlx::Error::Database(d) if d.code().as_deref() == Some("53100") => {
                return StoreError::DiskFull(e.to_string());
            }
            _ => None,
        };
        let primary = code.map(|c| c & 0xff);
        if matches!(primary, Some(SQLITE_FULL | SQLITE_IOERR))
            || e.to_string().contains("transaction depth")
        {
            sqlite::suspect_writer();
        }
        match primary {
            Some(SQLITE_FULL) => StoreError::DiskFull(e.to_string()),
            Some(SQLITE_IOERR) => {
                StoreError::DiskFull(format!("{e}: a disk I/O error, most often a full disk"))
            }
            _ => StoreError::Sqlx(e),
        }
    }
}

const SQLITE_IOERR: i64 = 10;
const SQLITE_FULL: i64 = 13;

pub type Result<T> = std::result::Result<T, StoreError>;

/// Parameters one multi-row statement may bind (SQLite allows 32766).
const MAX_BINDS: usize = 30_000;

/// Rows bound into one multi-row statement: enough that a round trip
/// carries hundreds of rows, few enough that each cached prepared statement
/// stays small.
pub(crate) const ROWS_PER_STATEMENT: usize = 256;

pub(crate) fn rows_per_statement(binds_per_row: usize) -> usize {
    ROWS_PER_STATEMENT.min(MAX_BINDS / binds_per_row)
}

/// Which statements keep their prepared form in the cache: full chunks,
/// and the short ones single requests make (one report, a few rows); the
/// lengths in between change from call to call.
pub(crate) fn full_chunk(len: usize) -> bool {
    len == ROWS_PER_STATEMENT || len <= 4
}

/// The database: SQLite's writer pool of one connection and its reader
/// pool, or one PostgreSQL pool.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
}

#[derive(Clone, Debug)]
pub(crate) enum Db {
    Sqlite {
        /// The only connection that writes: SQLite allows one writer at a
        /// time, so queueing here is cheaper than busy-waiting on the file
        /// lock.
        write: SqlitePool,
        /// Read-only connections for listings, reports and the planner's scans.
        read: SqlitePool,
        /// Set while the writer's connection may have been left not
        /// flushing its commits ([`Flush::No`]): the next use of it turns
        /// flushing back on first.
        unflushed: Arc<AtomicBool>,
    },
    Postgres(sqlx::PgPool),
}

/// Runs `$body` once per backend, with `$pool` bound to SQLite's writer or
/// to the PostgreSQL pool: the body is written once and type-checked for
/// both. Called as `on_db!(self, db, { … })`, which rustfmt formats like a
/// function call (the older `db => { … }` form it left alone).
/// Statements number their parameters `$1`, `$2`…, which both
/// databases read.
macro_rules! on_db {
    ($store:expr, $pool:ident, $body:expr) => {
        match &$store.db {
            $crate::store::Db::Sqlite { write: $pool, .. } => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_db;

/// Runs `$body` once per backend inside a write transaction `$tx` that
/// flushes or not (`$flush`, a [`Flush`]); the body commits it.
macro_rules! in_write {
    ($store:expr, $tx:ident, $flush:expr, $body:block) => {
        match &$store.db {
            $crate::store::Db::Sqlite {
                write, unflushed, ..
            } => {
                let mut $tx = $crate::store::Db::sqlite_write(write, unflushed, $flush).await?;
                $body
            }
            $crate::store::Db::Postgres(pool) => {
                let mut $tx = $crate::store::Db::pg_write(pool, $flush).await?;
                $body
            }
        }
    };
}
pub(crate) use in_write;

/// As [`on_db!`], with SQLite's read-only pool: for listings and reports.
/// One line of the audit log written inside the caller's transaction, so
/// that it is kept exactly when what it records is.
macro_rules! audit_in {
    ($tx:expr, $at:expr, $actor:expr, $action:expr, $subject:expr, $detail:expr) => {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind($at)
        .bind($actor)
        .bind($action)
        .bind($subject)
        .bind($detail)
        .execute(&mut *$tx)
        .await?
    };
}
pub(crate) use audit_in;

macro_rules! on_read {
    ($store:expr, $pool:ident, $body:expr) => {
        match &$store.db {
            $crate::store::Db::Sqlite { read: $pool, .. } => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_read;

/// A write transaction on either backend: SQLite's starts with `BEGIN
/// IMMEDIATE` (it takes the write lock at once, so two writers never
/// deadlock upgrading); PostgreSQL's is a plain `BEGIN`. Its commit
/// returns once it is on disk.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    async fn begin_write(&self) -> Result<Transaction<'static, Self::Db>>;
}

impl BeginWrite for SqlitePool {
    type Db = Sqlite;
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.begin_with("BEGIN IMMEDIATE").await?)
    }
}

impl BeginWrite for sqlx::PgPool {
    type Db = sqlx::Postgres;
    async fn begin_write(&self) -> Result<Transaction<'static, sqlx::Postgres>> {
        Ok(self.begin().await?)
    }
}

/// Whether a write's commit waits for the disk. Every write says which it
/// is where it happens.
///
/// - [`Flush::Yes`]: it records what a peer or a person was told or will
///   be told (an acknowledged webhook, a claim that comes before a
///   hand-over, a hand-over to a gateway that does not de-duplicate, an
///   opt-out); lost in a power cut, it would be told again or forgotten.
/// - [`Flush::No`]: it is safe to redo after a crash: lost, it is done
///   again from what is on disk, and a gateway that de-duplicates drops a
///   repeated hand-over.
///
/// Both backends keep commits in order on disk (SQLite's write-ahead log,
/// PostgreSQL's WAL), so a flushed commit also puts on disk every
/// unflushed one before it: what is flushed never depends on something lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    Yes,
    No,
}

impl Db {
    /// SQLite's writer, as a write transaction that flushes or not.
    /// Turning flushing off is `PRAGMA synchronous = NORMAL` on the one
    /// writer connection: `unflushed` is set before it, while this
    /// transaction holds the connection, and the pool's next hand-out of
    /// the connection turns it back to `FULL` (`sqlite::open`), whatever
    /// way this transaction ends.
    pub(crate) async fn sqlite_write(
        write: &SqlitePool,
        unflushed: &AtomicBool,
        flush: Flush,
    ) -> Result<Transaction<'static, Sqlite>> {
        if flush == Flush::Yes {
            return write.begin_write().await;
        }
        let conn = write.acquire().await?;
        unflushed.store(true, Ordering::SeqCst);
        // What `Pool::begin_with` does, with the connection in hand.
        Ok(Transaction::begin(
            conn,
            Some("PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE".into()),
        )
        .await?)
    }

    /// PostgreSQL's write transaction, flushed or not: unflushed is
    /// `synchronous_commit = off` for this transaction alone (its commit
    /// reaches the disk within the WAL writer's delay, a fraction of a second).
    pub(crate) async fn pg_write(
        pool: &sqlx::PgPool,
        flush: Flush,
    ) -> Result<Transaction<'static, sqlx::Postgres>> {
        Ok(match flush {
            Flush::Yes => pool.begin().await?,
            Flush::No => {
                pool.begin_with("BEGIN; SET LOCAL synchronous_commit = off")
                    .await?
            }
        })
    }
}

/// What a statement not yet written for PostgreSQL says there.
const SQLITE_ONLY: &str = "this part of careminder runs on SQLite only in this version";

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Store {
    /// Opens (creating if needed) the database `url` names and applies
    /// its migrations.
    ///
    /// On PostgreSQL, only the statements processes share to coordinate
    /// (state, job claims, sending budgets, sign-in limits, the audit log)
    /// run in this version; the rest answer [`StoreError::Unsupported`],
    /// and the service refuses to serve from it (see `App::open`).
    pub async fn open(url: &crate::config::DatabaseUrl) -> Result<Self> {
        match url {
            crate::config::DatabaseUrl::Sqlite(path) => sqlite::open(path).await,
            crate::config::DatabaseUrl::Postgres(url) => Ok(Store {
                db: Db::Postgres(postgres::open(url, 10).await?),
            }),
        }
    }

    /// Whether this is a PostgreSQL database.
    pub fn is_postgres(&self) -> bool {
        matches!(self.db, Db::Postgres(_))
    }

    /// Its SQL dialect: the fragments that differ between the backends.
    pub(crate) fn dialect(&self) -> Dialect {
        match self.db {
            Db::Sqlite { .. } => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    /// SQLite's writer, for statements written for SQLite only.
    pub(crate) fn write(&self) -> Result<&SqlitePool> {
        match &self.db {
            Db::Sqlite { write, .. } => Ok(write),
            Db::Postgres(_) => Err(StoreError::Unsupported(SQLITE_ONLY.into())),
        }
    }

    /// SQLite's readers, for statements written for SQLite only.
    pub(crate) fn read(&self) -> Result<&SqlitePool> {
        match &self.db {
            Db::Sqlite { read, .. } => Ok(read),
            Db::Postgres(_) => Err(StoreError::Unsupported(SQLITE_ONLY.into())),
        }
    }

    /// Closes the pools; on SQLite, the last connection to close
    /// checkpoints the write-ahead log into the database file.
    pub async fn close(&self) {
        match &self.db {
            Db::Sqlite { write, read, .. } => {
                read.close().await;
                write.close().await;
            }
            Db::Postgres(pool) => pool.close().await,
        }
    }

    /// Messages claimed by a dispatcher and not yet recorded.
    pub async fn claimed_count(&self) -> Result<i64> {
        Ok(on_db!(self, db, {
            sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE status = 'claimed'")
                .fetch_one(db)
                .await?
        }))
    }

    /// A write transaction, begun with `BEGIN IMMEDIATE` (SQLite only;
    /// code for both backends calls [`BeginWrite::begin_write`] on the
    /// pool `on_db!` gives it).
    pub(crate) async fn begin(&self) -> Result<Transaction<'static, Sqlite>> {
        self.write()?.begin_write().await
    }

    /// Cheap liveness check: the database answers and is writable.
    pub async fn ping(&self) -> Result<()> {
        if let Db::Postgres(pool) = &self.db {
            sqlx::query("SELECT 1").execute(pool).await?;
            return Ok(());
        }
        let mut tx = self.begin().await?;
        sqlx::query("SELECT 1").execute(&mut *tx).await?;
        tx.rollback().await?;
        Ok(())
    }

    /// Whether a write reaches the disk now (a full disk fails it): one
    /// small committed write, for readiness checks.
    pub async fn writable(&self, now: DateTime<Utc>) -> Result<()> {
        self.set_state("ready_check", &ts(now).to_string()).await
    }

    pub async fn get_state(&self, key: &str) -> Result<Option<String>> {
        Ok(on_db!(self, db, {
            sqlx::query_scalar("SELECT value FROM state WHERE key = $1")
                .bind(key)
                .fetch_optional(db)
                .await?
        }))
    }

    pub async fn set_state(&self, key: &str, value: &str) -> Result<()> {
        on_db!(self, db, {
            sqlx::query("INSERT INTO state (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
                .bind(key)
                .bind(value)
                .execute(db)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    /// Claims `job`'s `occurrence` for this process until `lease_until`:
    /// true when this process is to run it; false when another process
    /// holds it (its lease not yet passed), has done it, or has moved on to
    /// a later occurrence.
    pub async fn claim_job(
        &self,
        job: &str,
        occurrence: DateTime<Utc>,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool> {
        let won: Vec<String> = on_db!(self, db, {
            sqlx::query_scalar(
                "INSERT INTO job_claims (job, occurrence, lease_until) VALUES ($1, $2, $3)
                 ON CONFLICT (job) DO UPDATE
                    SET occurrence = excluded.occurrence, lease_until = excluded.lease_until
                    WHERE job_claims.occurrence < excluded.occurrence
                       OR (job_claims.occurrence = excluded.occurrence AND job_claims.lease_until < $4)
                 RETURNING job",
            )
            .bind(job)
            .bind(ts(occurrence))
            .bind(ts(lease_until))
            .bind(ts(now))
            .fetch_all(db)
            .await?
        });
        Ok(!won.is_empty())
    }

    /// Takes `parts` from `gateway`'s sending budget (GCRA: one part per
    /// `period_us`, at most `burst` parts at once), as of `now_us`: 0 when
    /// taken, else the microseconds to wait before asking again. One
    /// statement, so processes sharing the database never both take the
    /// same room.
    pub async fn take_send_budget(
        &self,
        gateway: &str,
        parts: i64,
        period_us: i64,
        burst: i64,
        now_us: i64,
    ) -> Result<i64> {
        // The later of the stored theoretical arrival time and now, in SQL
        // both databases read (SQLite's scalar MAX is PostgreSQL's GREATEST).
        let later = "CASE WHEN gateway_budgets.tat_us > $4 THEN gateway_budgets.tat_us ELSE $4 END";
        let sql = format!(
            "INSERT INTO gateway_budgets (gateway, tat_us) VALUES ($1, $4 + $2 * $3)
             ON CONFLICT (gateway) DO UPDATE
                SET tat_us = {later} + $2 * $3
                WHERE {later} + $2 * $3 - $5 * $3 <= $4
             RETURNING tat_us"
        );
        let taken: Vec<i64> = on_db!(self, db, {
            sqlx::query_scalar(&sql)
                .bind(gateway)
                .bind(parts)
                .bind(period_us)
                .bind(now_us)
                .bind(burst)
                .fetch_all(db)
                .await?
        });
        if !taken.is_empty() {
            return Ok(0);
        }
        let tat: i64 = on_db!(self, db, {
            sqlx::query_scalar("SELECT tat_us FROM gateway_budgets WHERE gateway = $1")
                .bind(gateway)
                .fetch_one(db)
                .await?
        });
        Ok((tat.max(now_us) + parts * period_us - burst * period_us - now_us).max(1))
    }

    /// The occurrence ran: it is never claimed again.
    pub async fn finish_job(&self, job: &str, occurrence: DateTime<Utc>) -> Result<()> {
        self.set_job_lease(job, occurrence, i64::MAX).await
    }

    /// The occurrence failed: the next tick, here or elsewhere, claims it again.
    pub async fn release_job(&self, job: &str, occurrence: DateTime<Utc>) -> Result<()> {
        self.set_job_lease(job, occurrence, 0).await
    }

    async fn set_job_lease(&self, job: &str, occurrence: DateTime<Utc>, until: i64) -> Result<()> {
        on_db!(self, db, {
            sqlx::query("UPDATE job_claims SET lease_until = $3 WHERE job = $1 AND occurrence = $2")
                .bind(job)
                .bind(ts(occurrence))
                .bind(until)
                .execute(db)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    /// One line of the audit log.
    pub async fn audit(
        &self,
        at: DateTime<Utc>,
        actor: &str,
        action: &str,
        subject: &str,
        detail: &str,
    ) -> Result<()> {
        on_db!(self, db, {
            sqlx::query(
                "INSERT INTO audit_log (at, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(ts(at))
            .bind(actor)
            .bind(action)
            .bind(subject)
            .bind(detail)
            .execute(db)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    /// The newest migration applied to this database.
    pub async fn applied_schema_version(&self) -> Result<Option<i64>> {
        if let Db::Postgres(pool) = &self.db {
            return postgres::applied_schema_version(pool).await;
        }
        Ok(
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = 1")
                .fetch_one(self.read()?)
                .await?,
        )
    }

    /// Runs `PRAGMA integrity_check`; `Ok(())` when the file is sound.
    pub async fn integrity_check(&self) -> Result<()> {
        integrity_check(self.read()?).await
    }
}

/// `PRAGMA integrity_check` on any pool: `Ok(())` when the file is sound.
pub(crate) async fn integrity_check(pool: &SqlitePool) -> Result<()> {
    let r: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(pool)
        .await?;
    if r == "ok" {
        Ok(())
    } else {
        Err(StoreError::Corrupt(r))
    }
}

/// The newest schema this binary knows (its last migration's version).
pub fn schema_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Refuses a database migrated by a newer binary, before touching it.
async fn refuse_newer(pool: &SqlitePool) -> Result<()> {
    let exists: Option<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_optional(pool)
    .await?;
    if exists.is_none() {
        return Ok(());
    }
    let found: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = 1")
            .fetch_one(pool)
            .await?;
    let known = schema_version();
    match found {
        Some(found) if found > known => Err(StoreError::Newer { found, known }),
        _ => Ok(()),
    }
}

/// An instant as stored: Unix seconds.
pub fn ts(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

pub fn from_ts(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(s, 0).single().unwrap_or_default()
}

pub(crate) fn date_str(d: NaiveDate) -> String {
    // `Display` is ISO 8601 (YYYY-MM-DD) for the years a pregnancy can have,
    // without parsing a format string on every call.
    d.to_string()
}

/// Rows for one `json_each(?)` statement: a JSON array of row arrays, read
/// back in SQL as `value->>0`, `value->>1`... One prepared statement and one
/// bound parameter carry a whole batch.
pub(crate) fn json_rows(rows: impl IntoIterator<Item = serde_json::Value>) -> String {
    serde_json::Value::Array(rows.into_iter().collect()).to_string()
}

pub(crate) fn parse_stored_date(s: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| StoreError::Corrupt(format!("bad date {s:?}")))
}
