//! PostgreSQL, for a province that outgrows one machine: its schema's
//! migrations (`migrations/postgres`, each the twin of a SQLite migration
//! with the same version) and moving a county's SQLite database into it
//! ([`migrate`]).

pub mod migrate;
pub mod wake;

use super::{Result, StoreError};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connects to the database `url` names, refuses one a newer careminder
/// migrated, and applies this binary's migrations.
pub async fn open(url: &str, connections: u32) -> Result<PgPool> {
    let options = PgConnectOptions::from_str(url)?.application_name("careminder");
    let pool = PgPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(|e| {
            StoreError::Unreachable(format!("{} ({e})", crate::config::redact_password(url)))
        })?;
    refuse_newer(&pool).await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// Refreshes the planner's statistics of careminder's own tables (those of
/// the schema it runs in). A bare `ANALYZE` also visits the cluster's
/// shared catalogs, which only a superuser may analyze: as the database's
/// owner it logged a warning for each of them after every large import.
pub async fn analyze(pool: &PgPool) -> Result<()> {
    let tables: Option<String> = sqlx::query_scalar(
        "SELECT string_agg(format('%I', tablename), ', ') FROM pg_tables WHERE schemaname = current_schema()",
    )
    .fetch_one(pool)
    .await?;
    if let Some(tables) = tables {
        sqlx::query(&format!("ANALYZE {tables}"))
            .persistent(false)
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// The newest migration applied to a PostgreSQL database.
pub async fn applied_schema_version(pool: &PgPool) -> Result<Option<i64>> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    if !exists {
        return Ok(None);
    }
    Ok(
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await?,
    )
}

async fn refuse_newer(pool: &PgPool) -> Result<()> {
    let known = super::schema_version();
    match applied_schema_version(pool).await? {
        Some(found) if found > known => Err(StoreError::Newer { found, known }),
        _ => Ok(()),
    }
}

/// Whether any of careminder's tables holds a row: the benchmark only
/// runs on a database with nothing to lose.
pub async fn holds_data(pool: &PgPool) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM women) OR EXISTS (SELECT 1 FROM staff)
             OR EXISTS (SELECT 1 FROM outbox) OR EXISTS (SELECT 1 FROM audit_log)",
    )
    .fetch_one(pool)
    .await?)
}

/// Drops everything in the `public` schema and migrates it afresh: for
/// `careminder bench`, between runs, on a database it found empty.
pub async fn reset_for_bench(pool: &PgPool) -> Result<()> {
    sqlx::query("DROP SCHEMA public CASCADE")
        .execute(pool)
        .await?;
    sqlx::query("CREATE SCHEMA public").execute(pool).await?;
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// The floor for `careminder bench` on PostgreSQL: the writes a dispatched
/// message and a status callback cause, as plain keyed statements on a
/// scratch table shaped like the outbox, `batch` messages per statement and
/// transaction. A send is two keyed updates of its row (claimed, then sent
/// with the gateway's id) and two event rows; a callback is one keyed
/// update and one event row. Returns the seconds each phase took.
pub async fn floor_benchmark(pool: &PgPool, rows: usize, batch: usize) -> Result<(f64, f64)> {
    for ddl in [
        "DROP TABLE IF EXISTS bench_events",
        "DROP TABLE IF EXISTS bench_outbox",
        "CREATE TABLE bench_outbox (id BIGINT PRIMARY KEY, status TEXT NOT NULL, send_at BIGINT NOT NULL,
                                    attempts BIGINT NOT NULL DEFAULT 0, lease_until BIGINT, provider_id TEXT,
                                    updated_at BIGINT NOT NULL)",
        "CREATE INDEX bench_outbox_due ON bench_outbox (send_at) WHERE status = 'scheduled'",
        "CREATE TABLE bench_events (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                                    outbox_id BIGINT NOT NULL, status TEXT NOT NULL, at BIGINT NOT NULL)",
    ] {
        sqlx::query(ddl).execute(pool).await?;
    }
    sqlx::query(
        "INSERT INTO bench_outbox (id, status, send_at, updated_at)
         SELECT g, 'scheduled', 0, 0 FROM generate_series(1, $1) g",
    )
    .bind(rows as i64)
    .execute(pool)
    .await?;
    let ids: Vec<i64> = (1..=rows as i64).collect();
    let step = |status: &'static str, chunk: Vec<i64>| async move {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "UPDATE bench_outbox SET status = $1, attempts = attempts + 1, provider_id = 'p' || id, updated_at = 1
             WHERE id = ANY($2)",
        )
        .bind(status)
        .bind(&chunk)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO bench_events (outbox_id, status, at) SELECT id, $1, 1 FROM unnest($2::bigint[]) id",
        )
        .bind(status)
        .bind(&chunk)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok::<_, StoreError>(())
    };
    let t = std::time::Instant::now();
    for chunk in ids.chunks(batch) {
        step("claimed", chunk.to_vec()).await?;
        step("sent", chunk.to_vec()).await?;
    }
    let send_s = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    for chunk in ids.chunks(batch) {
        step("delivered", chunk.to_vec()).await?;
    }
    let callback_s = t.elapsed().as_secs_f64();
    sqlx::query("DROP TABLE bench_events").execute(pool).await?;
    sqlx::query("DROP TABLE bench_outbox").execute(pool).await?;
    Ok((send_s, callback_s))
}

/// The import floor for `careminder bench` on PostgreSQL: the rows an
/// import wrote (women, their pregnancies and visits) written again as
/// plain `INSERT ... SELECT` of `batch` women per transaction into scratch
/// copies of the three tables (`LIKE … INCLUDING ALL`: columns, defaults,
/// checks and indexes). Returns the seconds it took.
pub async fn import_floor_benchmark(pool: &PgPool, batch: i64) -> Result<f64> {
    const TABLES: [&str; 3] = ["women", "pregnancies", "visits"];
    for t in TABLES {
        sqlx::query(&format!("DROP TABLE IF EXISTS bench_{t}"))
            .execute(pool)
            .await?;
        sqlx::query(&format!("CREATE TABLE bench_{t} (LIKE {t} INCLUDING ALL)"))
            .execute(pool)
            .await?;
    }
    let last: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM women")
        .fetch_one(pool)
        .await?;
    let t = std::time::Instant::now();
    for from in (1..=last).step_by(batch.max(1) as usize) {
        let to = from + batch - 1;
        let mut tx = pool.begin().await?;
        for sql in [
            "INSERT INTO bench_women SELECT * FROM women WHERE id BETWEEN $1 AND $2",
            "INSERT INTO bench_pregnancies SELECT * FROM pregnancies WHERE woman_id BETWEEN $1 AND $2",
            "INSERT INTO bench_visits SELECT v.* FROM pregnancies p JOIN visits v ON v.pregnancy_id = p.id
             WHERE p.woman_id BETWEEN $1 AND $2",
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
    for t in TABLES {
        sqlx::query(&format!("DROP TABLE bench_{t}"))
            .execute(pool)
            .await?;
    }
    Ok(secs)
}
