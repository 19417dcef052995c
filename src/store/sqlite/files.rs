//! The SQLite database as files on a server: who else has it open, who
//! owns it, whether this process may write it. What `restore` and
//! `migrate-to` check before they touch it, and what start-up checks so
//! that a file the service cannot write is named, with its owner, rather
//! than failing later as "attempt to write a readonly database".

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// `path` with `suffix` appended to its file name (`-wal`, `-shm`).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Another process that has the database open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: i32,
    /// Its program's name (`careminder`), as the kernel has it.
    pub name: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "process {} ({})", self.pid, self.name)
    }
}

/// Another process that has the database at `db` open, if one has.
///
/// Every SQLite connection in WAL mode holds a shared lock on one byte of
/// the `-shm` file, the "dead-man switch" (byte 128: SQLite's unix VFS,
/// `UNIX_SHM_DMS`), for as long as it is open; `F_GETLK` asks the kernel
/// who holds it without taking it. Call it before this process opens the
/// database: closing any descriptor of a file drops the process's own
/// POSIX locks on it, SQLite's included.
pub fn holder(db: &Path) -> Option<Holder> {
    use rustix::process::{fcntl_getlk, Flock, FlockOffsetType, FlockType};
    let shm = std::fs::File::open(with_suffix(db, "-shm")).ok()?;
    let probe = Flock {
        start: 128,
        length: 1,
        pid: None,
        typ: FlockType::WriteLock,
        offset_type: FlockOffsetType::Set,
    };
    let held = fcntl_getlk(&shm, &probe).ok()??;
    let pid = held.pid.map(|p| p.as_raw_nonzero().get()).unwrap_or(0);
    let name = std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|n| n.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    Some(Holder { pid, name })
}

/// Whether this process runs as root (a command run with `sudo`).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A user or group id by its name in `/etc/passwd` or `/etc/group`, for messages.
fn name_of(file: &str, id: u32) -> String {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                (f.nth(1)?.parse::<u32>().ok()? == id).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| id.to_string())
}

/// "root:root, mode 0644" for a file.
pub fn describe_owner(meta: &std::fs::Metadata) -> String {
    format!(
        "{}:{}, mode {:04o}",
        name_of("/etc/passwd", meta.uid()),
        name_of("/etc/group", meta.gid()),
        meta.permissions().mode() & 0o7777
    )
}

/// Refuses, naming the file, its owner and who this process is, a
/// database this process could not write: the file itself, its
/// write-ahead log and shared memory beside it, or (for those not yet
/// made) its directory. Root may write anything.
pub fn check_writable(db: &Path) -> Result<(), String> {
    use rustix::fs::{accessat, Access, AtFlags, CWD};
    let me = || {
        let uid = rustix::process::geteuid().as_raw();
        format!("user {}", name_of("/etc/passwd", uid))
    };
    let dir = match db.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut paths = vec![
        db.to_path_buf(),
        with_suffix(db, "-wal"),
        with_suffix(db, "-shm"),
    ];
    paths.retain(|p| p.exists());
    if paths.len() < 3 {
        paths.push(dir.clone());
    }
    for p in paths {
        if accessat(CWD, &p, Access::WRITE_OK, AtFlags::EACCESS).is_err() {
            let owner = std::fs::metadata(&p)
                .map(|m| describe_owner(&m))
                .unwrap_or_else(|e| e.to_string());
            let what = if p == dir {
                format!("its directory {}", p.display())
            } else {
                p.display().to_string()
            };
            return Err(format!(
                "the database {} cannot be written by {}: {what} is {owner}; give it to the \
                 service's user (chown careminder:careminder {}*), or run as that user",
                db.display(),
                me(),
                db.display()
            ));
        }
    }
    Ok(())
}

/// Gives a database file that root has just made to the owner of its
/// directory (the service's user, in /var/lib/careminder), so that the
/// service can write what `sudo careminder ...` created. SQLite gives the
/// write-ahead log and shared memory the database's owner by itself.
pub fn adopt(db: &Path) -> std::io::Result<()> {
    if !is_root() {
        return Ok(());
    }
    let dir = match db.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let owner = std::fs::metadata(&dir)?;
    for p in [
        db.to_path_buf(),
        with_suffix(db, "-wal"),
        with_suffix(db, "-shm"),
    ] {
        if let Ok(m) = std::fs::metadata(&p) {
            if m.uid() != owner.uid() || m.gid() != owner.gid() {
                std::os::unix::fs::chown(&p, Some(owner.uid()), Some(owner.gid()))?;
            }
        }
    }
    Ok(())
}

/// Gives `path` the owner and mode of `like` (a restored database takes
/// those of the one it replaces). Only root can give a file away; others
/// keep the mode alone.
pub fn copy_owner_and_mode(like: &std::fs::Metadata, path: &Path) -> std::io::Result<()> {
    std::fs::set_permissions(
        path,
        std::fs::Permissions::from_mode(like.permissions().mode() & 0o7777),
    )?;
    if is_root() {
        std::os::unix::fs::chown(path, Some(like.uid()), Some(like.gid()))?;
    }
    Ok(())
}
