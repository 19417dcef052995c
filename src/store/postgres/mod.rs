//! PostgreSQL, for a province that outgrows one machine: its schema's
//! migrations (`migrations/postgres`, each the twin of a SQLite migration
//! with the same version) and moving a county's SQLite database into it
//! ([`migrate`]).

pub mod migrate;
pub(crate) mod outbox;

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
