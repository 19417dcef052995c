//! `backup` and `restore` (SQLite: `VACUUM INTO` and one rename; on
//! PostgreSQL, pg_dump and pg_restore, run with the configured URL and
//! password), and `migrate-to`, which moves a SQLite database into
//! PostgreSQL.

use super::Ctx;
use crate::config::{redact_password, DatabaseUrl};
use crate::store::sqlite::{backup, files};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct BackupArgs {
    /// The copy to write; must not exist.
    dest: PathBuf,
}

#[derive(Args)]
pub struct RestoreArgs {
    /// A file written by `careminder backup`.
    src: PathBuf,
    /// Confirm: the current database is replaced (on SQLite it is kept
    /// beside it, as .before-restore).
    #[arg(long)]
    yes: bool,
}

#[derive(Args)]
pub struct MigrateToArgs {
    /// The empty PostgreSQL database to fill: postgres://USER@HOST/DB.
    /// Default: the one the configuration names (CAREMINDER_DATABASE in
    /// the secrets' file, say), when it is a PostgreSQL one.
    target: Option<String>,
    /// The SQLite file to copy. Default: the database named (--db, the
    /// configuration), when it is a SQLite file.
    #[arg(long)]
    from: Option<PathBuf>,
}

impl MigrateToArgs {
    /// Whether the SQLite file to copy is named here (`--from`).
    pub fn names_its_source(&self) -> bool {
        self.from.is_some()
    }
}

/// The SQLite file a command acts on, which must exist: a command that
/// reads it never creates an empty one in its place.
fn existing_sqlite<'a>(ctx: &'a Ctx, what: &str) -> Result<&'a Path> {
    let db = ctx.config.database.sqlite_path().context("a SQLite file")?;
    if !db.exists() {
        bail!(
            "{} does not exist, so there is nothing to {what} (the database is named by {})",
            db.display(),
            ctx.config
                .database_from
                .as_deref()
                .unwrap_or("the defaults")
        );
    }
    Ok(db)
}

/// A PostgreSQL URL without its password, and the password: PostgreSQL's
/// tools get it through `PGPASSWORD`, never on a command line others can
/// read in the process list.
fn without_password(url: &str) -> Result<(String, Option<String>)> {
    let mut u = reqwest::Url::parse(url).context("the database URL")?;
    let password = u.password().map(|p| {
        percent_encoding::percent_decode_str(p)
            .decode_utf8_lossy()
            .into_owned()
    });
    let _ = u.set_password(None);
    Ok((u.to_string(), password))
}

/// Runs one of PostgreSQL's tools on the configured database.
fn pg_tool(tool: &str, url: &str, args: &[&std::ffi::OsStr]) -> Result<()> {
    let (url, password) = without_password(url)?;
    let mut cmd = std::process::Command::new(tool);
    cmd.args(args).arg(format!("--dbname={url}"));
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    let status = cmd.status().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow::anyhow!("{tool} is not installed: apt install postgresql-client")
        } else {
            anyhow::anyhow!("running {tool}: {e}")
        }
    })?;
    if !status.success() {
        bail!("{tool} failed ({status}); its message is above");
    }
    Ok(())
}

pub async fn backup(ctx: Ctx, a: BackupArgs) -> Result<()> {
    if a.dest.exists() {
        bail!(
            "{} exists: choose a new file for the backup",
            a.dest.display()
        );
    }
    if let DatabaseUrl::Postgres(url) = &ctx.config.database {
        // pg_dump's own archive, which pg_restore reads: a consistent copy
        // of the live database while the service runs.
        // Made first, readable by its owner only; pg_dump writes into it.
        {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&a.dest)
                .with_context(|| format!("creating {}", a.dest.display()))?;
        }
        let dumped = pg_tool(
            "pg_dump",
            url,
            &[
                "--format=custom".as_ref(),
                "--file".as_ref(),
                a.dest.as_os_str(),
            ],
        );
        if let Err(e) = dumped {
            // No half-written file is left for a backup.
            let _ = std::fs::remove_file(&a.dest);
            return Err(e);
        }
        println!(
            "backup of {} written to {} (pg_dump --format=custom)",
            ctx.config.database,
            a.dest.display()
        );
        return Ok(());
    }
    let db = existing_sqlite(&ctx, "back up")?.to_path_buf();
    let store = crate::store::Store::open(&ctx.config.database).await?;
    backup::backup(&store, &a.dest).await?;
    store.close().await;
    println!("backup of {} written to {}", db.display(), a.dest.display());
    Ok(())
}

pub async fn restore(ctx: Ctx, a: RestoreArgs) -> Result<()> {
    if !a.src.exists() {
        bail!("{}: no such file", a.src.display());
    }
    if !a.yes {
        bail!(
            "restoring replaces {}: stop the service, then run again with --yes",
            ctx.config.database
        );
    }
    if let DatabaseUrl::Postgres(url) = &ctx.config.database {
        return restore_postgres(&ctx, url, &a.src).await;
    }
    let db = ctx
        .config
        .database
        .sqlite_path()
        .context("restore replaces a SQLite file")?;
    match backup::restore(&a.src, db).await? {
        Some(kept) => println!(
            "{} restored from {}; the database it replaced is at {}",
            db.display(),
            a.src.display(),
            kept.display()
        ),
        None => println!(
            "{} restored from {} (there was no database there before)",
            db.display(),
            a.src.display()
        ),
    }
    Ok(())
}

/// pg_restore into the configured database, replacing what the archive
/// holds (`--clean --if-exists`), in one transaction; then new message ids
/// start far above the restored ones, as on SQLite.
async fn restore_postgres(ctx: &Ctx, url: &str, src: &Path) -> Result<()> {
    let store = crate::store::Store::open(&ctx.config.database).await?;
    let live = crate::app::serving_instances(&store).await?;
    store.close().await;
    if let Some(i) = live.first() {
        bail!(
            "{} instance(s) serve from {} (one on {}, pid {}): stop them all first \
             (systemctl stop careminder on each machine), then restore",
            live.len(),
            ctx.config.database,
            i.host,
            i.pid
        );
    }
    pg_tool(
        "pg_restore",
        url,
        &[
            "--clean".as_ref(),
            "--if-exists".as_ref(),
            "--no-owner".as_ref(),
            "--single-transaction".as_ref(),
            "--exit-on-error".as_ref(),
            src.as_os_str(),
        ],
    )?;
    let store = crate::store::Store::open(&ctx.config.database).await?;
    store
        .skip_message_ids(backup::ID_GAP, chrono::Utc::now())
        .await?;
    store.close().await;
    println!(
        "{} restored from {} (pg_restore --clean --if-exists)",
        ctx.config.database,
        src.display()
    );
    Ok(())
}

pub async fn migrate_to(mut ctx: Ctx, a: MigrateToArgs) -> Result<()> {
    let target = match (&a.target, &ctx.config.database) {
        (Some(t), _) => DatabaseUrl::parse(t)?,
        (None, configured) => configured.clone(),
    };
    let DatabaseUrl::Postgres(target) = target else {
        bail!(
            "migrate-to fills a PostgreSQL database: give its postgres:// URL, or name it \
             in the configuration (CAREMINDER_DATABASE in the secrets' file) and the SQLite \
             file with --from"
        );
    };
    if let Some(from) = &a.from {
        ctx.config.database = DatabaseUrl::Sqlite(from.clone());
        ctx.config.database_from = Some("--from".into());
    }
    if ctx.config.database.sqlite_path().is_none() {
        bail!("migrate-to copies from a SQLite database: give its file with --from");
    }
    let source = existing_sqlite(&ctx, "copy")?.to_path_buf();
    // What another process writes after the copy would be lost with it.
    if let Some(h) = files::holder(&source) {
        bail!(
            "{h} has {} open and may still write to it: stop the service first \
             (systemctl stop careminder), then migrate",
            source.display()
        );
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
        "keep {} until the PostgreSQL database is backed up (careminder backup, or pg_dump)",
        source.display()
    );
    Ok(())
}
