//! `backup` and `restore` (SQLite: `VACUUM INTO` and one rename; on
//! PostgreSQL, pg_dump and pg_restore), and `migrate-to`, which moves a
//! SQLite database into PostgreSQL.

use super::Ctx;
use crate::config::{redact_password, DatabaseUrl};
use crate::store::sqlite::backup;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct BackupArgs {
    /// The copy to write; must not exist.
    dest: PathBuf,
}

#[derive(Args)]
pub struct RestoreArgs {
    /// A file written by `careminder backup`.
    src: PathBuf,
    /// Confirm: the current database is replaced (it is kept beside as .before-restore).
    #[arg(long)]
    yes: bool,
}

#[derive(Args)]
pub struct MigrateToArgs {
    /// The empty PostgreSQL database to fill: postgres://USER@HOST/DB.
    target: String,
}

/// What to use instead on PostgreSQL: its own tools, which a data centre
/// already runs and which copy a live database consistently.
fn on_postgres(what: &str, url: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{what} copies a SQLite file; on PostgreSQL use its own tools: \
         `pg_dump --format=custom --file=careminder.dump '{url}'` to back up, \
         `pg_restore --clean --dbname='{url}' careminder.dump` to restore"
    )
}

pub async fn backup(ctx: Ctx, a: BackupArgs) -> Result<()> {
    if let DatabaseUrl::Postgres(url) = &ctx.config.database {
        return Err(on_postgres("backup", &redact_password(url)));
    }
    let store = crate::store::Store::open(&ctx.config.database).await?;
    backup::backup(&store, &a.dest).await?;
    println!("backup written to {}", a.dest.display());
    Ok(())
}

pub async fn restore(ctx: Ctx, a: RestoreArgs) -> Result<()> {
    if let DatabaseUrl::Postgres(url) = &ctx.config.database {
        return Err(on_postgres("restore", &redact_password(url)));
    }
    let db = ctx
        .config
        .database
        .sqlite_path()
        .context("restore replaces a SQLite file")?;
    if !a.yes {
        bail!(
            "restoring replaces {}: stop the service, then run again with --yes",
            db.display()
        );
    }
    let kept = backup::restore(&a.src, db).await?;
    println!(
        "{} restored from {}; the database it replaced is at {}",
        db.display(),
        a.src.display(),
        kept.display()
    );
    Ok(())
}

pub async fn migrate_to(ctx: Ctx, a: MigrateToArgs) -> Result<()> {
    let target = match DatabaseUrl::parse(&a.target)? {
        DatabaseUrl::Postgres(url) => url,
        DatabaseUrl::Sqlite(_) => {
            bail!("migrate-to fills a PostgreSQL database: give a postgres:// URL")
        }
    };
    let source = ctx
        .config
        .database
        .sqlite_path()
        .context("migrate-to copies from a SQLite database: give its file with --db")?
        .to_path_buf();
    if !source.exists() {
        bail!("{} does not exist", source.display());
    }
    let store = crate::store::Store::open(&ctx.config.database).await?;
    println!(
        "copying {} into {}",
        source.display(),
        redact_password(&target)
    );
    let moved = crate::store::postgres::migrate::migrate_to(&store, &target, |table, rows| {
        println!("  {table:<22} {rows:>10} rows");
    })
    .await?;
    store.close().await;
    println!(
        "done: {} rows in {} tables, schema {}; every table's count is equal on both sides \
         and {} sampled rows are equal column by column",
        moved.rows(),
        moved.tables.len(),
        moved.schema,
        moved.sampled
    );
    println!(
        "keep {} until the PostgreSQL database is backed up (pg_dump)",
        source.display()
    );
    Ok(())
}
