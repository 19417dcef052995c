//! A power cut: the service's database lives on a filesystem that keeps
//! every write in memory until it is fsync'ed and drops what was not at the
//! cut (tests/fakes/powercut_fs.py, after LazyFS), as a disk behind a page
//! cache does when the power goes. The gateway's receipts and the women's
//! replies pour in; at a random moment the power goes and the service dies
//! with it. Every webhook that got a 2xx must be in the database found on
//! the "disk" afterwards. Needs root and /dev/fuse, as CI has; elsewhere it
//! says so and does nothing.

use crate::crash::{free_port, load, plan_a_day, start, wait_ready, Acked, TOKEN};
use careminder::domain::schedule::local_to_utc;
use careminder::Config;
use chrono::{Duration, NaiveDate, NaiveTime};
use rand::Rng;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};

const WOMEN: usize = 3_000;

/// The filesystem, mounted: its process and the lines it prints.
struct PowercutFs {
    child: Child,
    out: BufReader<ChildStdout>,
    mount: std::path::PathBuf,
}

impl PowercutFs {
    fn mount(backing: &Path, mount: &Path) -> Option<Self> {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fakes/powercut_fs.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(backing)
            .arg(mount)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .ok()?;
        let mut out = BufReader::new(child.stdout.take()?);
        let mut line = String::new();
        let _ = out.read_line(&mut line);
        if line.trim() != "ready" {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        Some(Self {
            child,
            out,
            mount: mount.to_path_buf(),
        })
    }

    /// The power goes: what was not fsync'ed is lost. Returns its report.
    fn cut(mut self) -> String {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-USR1", &pid])
            .status()
            .unwrap()
            .success());
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        assert!(self.child.wait().unwrap().success(), "the filesystem exits");
        line.trim().to_string()
    }
}

impl Drop for PowercutFs {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_power_cut_every_acknowledged_receipt_and_reply_is_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let backing = dir.path().join("disk");
    let mounted = dir.path().join("mnt");
    std::fs::create_dir_all(&backing).unwrap();
    std::fs::create_dir_all(&mounted).unwrap();
    let record = dir.path().join("sent.jsonl");
    let log = dir.path().join("serve.log");
    let port = free_port();
    let config_for = |db: &Path| {
        format!(
            "database = {db:?}\nlisten = \"127.0.0.1:{port}\"\napi_token = \"{TOKEN}\"\n\
             [dispatcher]\nbatch_size = 200\n\
             [gateway]\nkind = \"mock\"\nrate_per_second = 1000.0\n\
             [gateway.mock]\nrecord_file = {record:?}\n"
        )
    };

    // Set-up on the plain disk, before the power-cut filesystem is mounted
    // over a view of it: women with a reminder due, planned.
    let setup_cfg = dir.path().join("setup.toml");
    std::fs::write(&setup_cfg, config_for(&backing.join("cut.db"))).unwrap();
    let config = Config::load(Some(&setup_cfg)).unwrap();
    let tz = config.timezone;
    let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    let day = today + Duration::days(1);
    let at = |d: NaiveDate, h: u32| {
        local_to_utc(tz, d.and_time(NaiveTime::from_hms_opt(h, 0, 0).unwrap()))
    };
    let (from, to) = (at(day, 0), at(day + Duration::days(1), 0));
    plan_a_day(config, at(today, 7), WOMEN, from, to).await;

    let Some(fs) = PowercutFs::mount(&backing, &mounted) else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must be able to mount tests/fakes/powercut_fs.py (root, /dev/fuse, mfusepy)"
        );
        eprintln!("power-cut test not run: the FUSE filesystem could not be mounted");
        return;
    };
    // The filesystem really loses what is not flushed: a control file.
    let mut control = std::fs::File::create(mounted.join("control")).unwrap();
    control.write_all(b"never flushed").unwrap();
    drop(control);

    let cfg = dir.path().join("careminder.toml");
    std::fs::write(&cfg, config_for(&mounted.join("cut.db"))).unwrap();
    let mut child = start(&cfg, at(day, 12), &log);
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&client, &base, &mut child).await;
    let phones: Arc<Vec<String>> = Arc::new((0..300).map(|i| format!("+86139{i:08}")).collect());
    let acked = Arc::new(Mutex::new(Acked::default()));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let loaders: Vec<_> = (0..4)
        .map(|round| {
            tokio::spawn(load(
                client.clone(),
                base.clone(),
                record.clone(),
                phones.clone(),
                acked.clone(),
                round,
                stop_rx.clone(),
            ))
        })
        .collect();
    // Until some receipts and replies were acknowledged, then a while more.
    for _ in 0..600 {
        let enough = {
            let a = acked.lock().unwrap();
            a.receipts.len() >= 50 && a.replies.len() >= 50
        };
        if enough {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let ms = rand::thread_rng().gen_range(200..1200);
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;

    // The power goes: the disk keeps only what was flushed, and the
    // service dies with the machine.
    let report = tokio::task::spawn_blocking(move || fs.cut()).await.unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = stop_tx.send(true);
    for l in loaders {
        l.await.unwrap();
    }
    assert!(report.starts_with("cut: dropped"), "{report}");
    assert_eq!(
        std::fs::metadata(backing.join("control"))
            .map(|m| m.len())
            .unwrap_or(0),
        0,
        "the filesystem dropped an unflushed file ({report})"
    );

    // What the disk holds, opened as after a reboot (a copy, recovered).
    let after = dir.path().join("after");
    std::fs::create_dir_all(&after).unwrap();
    for name in ["cut.db", "cut.db-wal"] {
        if backing.join(name).exists() {
            std::fs::copy(backing.join(name), after.join(name)).unwrap();
        }
    }
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", after.join("cut.db").display()))
        .await
        .unwrap();
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(!acked.replies.is_empty() && !acked.receipts.is_empty());
    let replies: HashSet<String> = stored(
        &pool,
        "SELECT provider_id FROM inbound WHERE gateway = 'mock'",
    )
    .await;
    lost_none("replies", &acked.replies, &replies, &report);
    let delivered: HashSet<i64> =
        stored(&pool, "SELECT id FROM outbox WHERE status = 'delivered'").await;
    lost_none("receipts", &acked.receipts, &delivered, &report);

    // Rebooted on what the disk kept, six minutes on (the dead process's
    // leases have ended). What was written without waiting for the disk
    // (the results of hand-overs to a gateway that drops repeats, what was
    // done with each reply) may be lost; it is redone from what is on disk.
    let handed_before: HashSet<i64> = crate::crash::recorded(&record).into_iter().collect();
    let record_after = dir.path().join("sent-after.jsonl");
    let port_after = free_port();
    let cfg_after = dir.path().join("after.toml");
    std::fs::write(
        &cfg_after,
        format!(
            "database = {:?}\nlisten = \"127.0.0.1:{port_after}\"\napi_token = \"{TOKEN}\"\n\
             [dispatcher]\nbatch_size = 200\n\
             [gateway]\nkind = \"mock\"\nrate_per_second = 1000.0\n\
             [gateway.mock]\nrecord_file = {record_after:?}\n",
            after.join("cut.db")
        ),
    )
    .unwrap();
    let now = at(day, 12) + Duration::minutes(6);
    let mut child = crate::crash::KillOnDrop(start(&cfg_after, now, &log));
    wait_ready(
        &client,
        &format!("http://127.0.0.1:{port_after}"),
        &mut child,
    )
    .await;
    let left = crate::crash::left_after_a_minute(
        &pool,
        "SELECT (SELECT COUNT(*) FROM inbound WHERE processed_at IS NULL)
              + (SELECT COUNT(*) FROM outbox WHERE status IN ('scheduled', 'claimed') AND send_at <= ?)",
        now,
    )
    .await;
    drop(child);
    assert_eq!(
        left, 0,
        "after the reboot, replies or due messages never handled"
    );
    let acted: HashSet<String> = stored(
        &pool,
        "SELECT provider_id FROM inbound WHERE gateway = 'mock' AND processed_at IS NOT NULL",
    )
    .await;
    lost_none("replies acted on", &acked.replies, &acted, &report);
    // Every message the gateway took before the cut ends handed over: a
    // lost record of its hand-over was redone under the same id (the
    // gateway drops the repeat), never forgotten.
    let handed_over: HashSet<i64> = stored(
        &pool,
        "SELECT id FROM outbox WHERE status IN ('accepted', 'sent', 'delivered')",
    )
    .await;
    lost_none("hand-overs", &handed_before, &handed_over, &report);
    let again: HashSet<i64> = crate::crash::recorded(&record_after).into_iter().collect();
    eprintln!(
        "power cut: {} of {} hand-overs redone after the reboot ({report})",
        again.intersection(&handed_before).count(),
        handed_before.len()
    );
}

/// One column of what the disk holds after the cut.
async fn stored<T>(pool: &sqlx::SqlitePool, sql: &'static str) -> HashSet<T>
where
    T: Eq + std::hash::Hash + Send + Unpin,
    for<'r> (T,): sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>,
{
    sqlx::query_as::<_, (T,)>(sql)
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .map(|(v,)| v)
        .collect()
}

/// Every acknowledged webhook of one kind is on the disk.
fn lost_none<T: Eq + std::hash::Hash + std::fmt::Debug>(
    what: &str,
    acked: &HashSet<T>,
    on_disk: &HashSet<T>,
    report: &str,
) {
    let lost: Vec<_> = acked.iter().filter(|a| !on_disk.contains(*a)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged {what} lost at the cut ({report}), e.g. {:?}",
        lost.len(),
        acked.len(),
        lost.iter().take(3).collect::<Vec<_>>()
    );
}
