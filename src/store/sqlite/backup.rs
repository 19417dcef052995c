//! Backups and restores of the whole database.
//!
//! `careminder backup DEST` writes a consistent copy while the service runs
//! (SQLite's `VACUUM INTO`, one read transaction: sends and callbacks go on).
//! `careminder restore SRC` checks the copy (a careminder database, sound,
//! not from a newer careminder), keeps the database it replaces beside it,
//! and moves the copy into place in one rename. Messages sent before the
//! backup are recorded as sent in it and are never sent again. Messages
//! created after it are lost with the replaced database, but a gateway may
//! have seen their ids: after a restore new messages start `ID_GAP` above
//! the last id, so a gateway that de-duplicates by our id (the Android app,
//! the mock) never drops a new message as one it has seen.

use crate::store::{Result, Store, StoreError};
use std::path::{Path, PathBuf};

/// Writes a consistent copy of the live database to `dest`, then checks it.
pub async fn backup(store: &Store, dest: &Path) -> Result<()> {
    if dest.exists() {
        return Err(StoreError::Conflict(format!(
            "{} exists: choose a new file for the backup",
            dest.display()
        )));
    }
    store.backup_into(dest).await?;
    Store::verify_copy(dest).await
}

/// How far above the restored database's last message id new ones start:
/// more messages than a county sends between two nightly backups.
pub const ID_GAP: i64 = 1_000_000;

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Replaces the database at `db` with the backup at `src`; returns where the
/// replaced database was kept. The service must be stopped.
pub async fn restore(src: &Path, db: &Path) -> Result<PathBuf> {
    Store::verify_copy(src).await?;
    let staged = with_suffix(db, ".restoring");
    std::fs::copy(src, &staged)?;
    let kept = with_suffix(db, ".before-restore");
    if db.exists() {
        // The replaced database moves with its write-ahead log, so it stays
        // whole should it be needed again.
        std::fs::rename(db, &kept)?;
        for ext in ["-wal", "-shm"] {
            let side = with_suffix(db, ext);
            if side.exists() {
                std::fs::rename(&side, with_suffix(&kept, ext))?;
            }
        }
    }
    std::fs::rename(&staged, db)?;
    // Opening migrates a backup taken by an older careminder.
    let store = super::open(db).await?;
    // Messages created after the backup are lost with the replaced
    // database, but gateways may have seen their ids: new ones start far above.
    store.skip_message_ids(ID_GAP, chrono::Utc::now()).await?;
    store.close().await;
    Ok(kept)
}
