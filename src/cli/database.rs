//! `backup` and `restore` (SQLite: `VACUUM INTO` and one rename).

use super::Ctx;
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

pub async fn backup(ctx: Ctx, a: BackupArgs) -> Result<()> {
    let store = crate::store::Store::open(&ctx.config.database).await?;
    backup::backup(&store, &a.dest).await?;
    println!("backup written to {}", a.dest.display());
    Ok(())
}

pub async fn restore(ctx: Ctx, a: RestoreArgs) -> Result<()> {
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
