//! Backups and restores of the whole database.
//!
//! `careminder backup DEST` writes a consistent copy while the service runs
//! (SQLite's `VACUUM INTO`, one read transaction: sends and callbacks go on).
//! `careminder restore SRC` checks the copy (a careminder database, sound,
//! not from a newer careminder), refuses while another process has the
//! database open, keeps the database it replaces beside it, and moves the
//! copy into place in one rename, with the replaced file's owner and mode
//! (a restore run by root leaves the service a file it can write). Messages sent before the
//! backup are recorded as sent in it and are never sent again. Messages
//! created after it are lost with the replaced database, but a gateway may
//! have seen their ids: after a restore new messages start `ID_GAP` above
//! the last id, so a gateway that de-duplicates by our id (the Android app,
//! the mock) never drops a new message as one it has seen.

use super::files::{self, with_suffix};
use crate::store::{Result, Store, StoreError};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Writes a consistent copy of the live database to `dest`, then checks
/// it. The copy holds women's names and numbers: only its owner may read it.
pub async fn backup(store: &Store, dest: &Path) -> Result<()> {
    if dest.exists() {
        return Err(StoreError::Conflict(format!(
            "{} exists: choose a new file for the backup",
            dest.display()
        )));
    }
    store.backup_into(dest).await?;
    std::fs::set_permissions(dest, std::fs::Permissions::from_mode(0o600))?;
    Store::verify_copy(dest).await
}

/// How far above the restored database's last message id new ones start:
/// more messages than a county sends between two nightly backups.
pub const ID_GAP: i64 = 1_000_000;

/// A name beside `db` for the database a restore replaces that no earlier
/// restore's copy holds: `.before-restore`, else `.before-restore.2`, ...
fn free_kept_name(db: &Path) -> PathBuf {
    std::iter::once(with_suffix(db, ".before-restore"))
        .chain((2..).map(|n| with_suffix(db, &format!(".before-restore.{n}"))))
        .find(|p| !p.exists() && !with_suffix(p, "-wal").exists())
        .expect("some number is free")
}

/// Replaces the database at `db` with the backup at `src`; returns where the
/// replaced database was kept (`None`: there was none). The service must be
/// stopped: a process that has the database open is named and nothing is
/// touched.
pub async fn restore(src: &Path, db: &Path) -> Result<Option<PathBuf>> {
    Store::verify_copy(src).await?;
    if let Some(h) = files::holder(db) {
        return Err(StoreError::Conflict(format!(
            "{h} has {} open: stop the service first (systemctl stop careminder), \
             then restore",
            db.display()
        )));
    }
    let replaced = std::fs::metadata(db).ok();
    let staged = with_suffix(db, ".restoring");
    std::fs::copy(src, &staged)?;
    match &replaced {
        // The replaced file's owner and mode: restored by root, it stays
        // the service's to write.
        Some(meta) => files::copy_owner_and_mode(meta, &staged)?,
        None => {
            std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o640))?;
            files::adopt(&staged)?;
        }
    }
    let kept = match replaced {
        Some(_) => {
            let kept = free_kept_name(db);
            // The replaced database moves with its write-ahead log, so it
            // stays whole should it be needed again.
            std::fs::rename(db, &kept)?;
            for ext in ["-wal", "-shm"] {
                let side = with_suffix(db, ext);
                if side.exists() {
                    std::fs::rename(&side, with_suffix(&kept, ext))?;
                }
            }
            Some(kept)
        }
        None => None,
    };
    std::fs::rename(&staged, db)?;
    // Opening migrates a backup taken by an older careminder.
    let store = super::open(db).await?;
    // Messages created after the backup are lost with the replaced
    // database, but gateways may have seen their ids: new ones start far above.
    store.skip_message_ids(ID_GAP, chrono::Utc::now()).await?;
    store.close().await;
    Ok(kept)
}
