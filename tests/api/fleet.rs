//! Three `careminder serve` on one database, each doing its share: 20,000
//! reminders due, receipts and replies arriving at all three, and one
//! instance killed with SIGKILL mid-run and started again. Every reminder
//! reaches the gateway; none is handed over by two instances, except once
//! under the same id for what the killed one held; every acknowledged
//! receipt and reply is recorded; nothing is left claimed.
//!
//! The instances run on the real clock, as a fleet does (leases are
//! compared across processes), in a zone where it is afternoon now, so the
//! send window is open whenever the test runs. The lease is short, so the
//! killed instance's claims come back to another within seconds.

use crate::crash::{
    free_port, load, nothing_acked_lost, plan_a_day, recorded, wait_ready, Acked, TOKEN,
};
use crate::helpers::RawDb;
use careminder::domain::schedule::local_to_utc;
use careminder::Config;
use chrono::{NaiveTime, Timelike, Utc};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

const WOMEN: usize = 20_000;
const LEASE: i64 = 10;

/// A zone where the local hour is 14 now (Etc/GMT-3 is UTC+3).
fn afternoon_zone() -> String {
    let offset = 14 - Utc::now().hour() as i32;
    let offset = if offset > 12 { offset - 24 } else { offset };
    match offset {
        0 => "Etc/GMT".to_string(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    }
}

/// One instance's configuration: the shared database, its own port and
/// its own record of hand-overs (the fake phone's log of message ids).
fn instance_config(dir: &Path, name: &str, db: &str, port: u16, zone: &str) -> PathBuf {
    let cfg = dir.join(format!("{name}.toml"));
    let record = dir.join(format!("{name}.jsonl"));
    std::fs::write(
        &cfg,
        format!(
            "database = {db:?}\nlisten = \"127.0.0.1:{port}\"\napi_token = \"{TOKEN}\"\n\
             timezone = \"{zone}\"\n\
             [dispatcher]\nbatch_size = 200\nlease_seconds = {LEASE}\n\
             [gateway]\nkind = \"mock\"\n\
             [gateway.mock]\nrecord_file = {record:?}\n"
        ),
    )
    .unwrap();
    cfg
}

fn start(cfg: &Path, log: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_careminder"))
        .arg("--config")
        .arg(cfg)
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("careminder starts")
}

/// The instances running: killed if the test fails, so none outlives it.
struct Running(Vec<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Asks an instance to stop (SIGTERM) and waits for its clean exit.
async fn stop(mut child: Child) {
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    for _ in 0..300 {
        if let Some(s) = child.try_wait().unwrap() {
            assert!(s.success(), "clean exit after SIGTERM: {s}");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("SIGTERM: careminder did not exit within 30 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_three_instances_share_20000_reminders_and_one_killed_loses_and_repeats_nothing()
{
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fleet.db").display().to_string();
    fleet(dir, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_three_instances_share_20000_reminders_and_one_killed_loses_and_repeats_nothing(
) {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::postgres::fresh_pg_database("fleet").await;
    fleet(dir, &db).await;
}

/// The run, on the database `db` names (a SQLite file or a PostgreSQL URL).
async fn fleet(dir: tempfile::TempDir, db: &str) {
    let log = dir.path().join("serve.log");
    let zone = afternoon_zone();
    let ports = [free_port(), free_port(), free_port()];
    // The killed instance comes back on its port with a record of its own:
    // what each life handed over is told apart.
    let lives = ["a", "b", "c", "c-again"];
    let cfgs: Vec<PathBuf> = lives
        .iter()
        .zip([ports[0], ports[1], ports[2], ports[2]])
        .map(|(name, port)| instance_config(dir.path(), name, db, port, &zone))
        .collect();
    let records: Vec<PathBuf> = lives
        .iter()
        .map(|name| dir.path().join(format!("{name}.jsonl")))
        .collect();

    // Women whose reminders fell due earlier today, planned in process as
    // of just before the day began.
    let config = Config::load(Some(&cfgs[0])).unwrap();
    let tz = config.timezone;
    let now = Utc::now();
    let today = now.with_timezone(&tz).date_naive();
    let from = local_to_utc(tz, today.and_time(NaiveTime::MIN));
    let database = config.database.clone();
    let planned = plan_a_day(config, from - chrono::Duration::hours(1), WOMEN, from, now).await;
    let pool = RawDb::connect(&database).await;
    // Those reminders: a retry may move one's send time, not its id.
    let last_planned = pool.ints("SELECT MAX(id) FROM outbox", &[]).await[0];
    let phones: Arc<Vec<String>> = Arc::new((0..500).map(|i| format!("+86139{i:08}")).collect());

    let client = reqwest::Client::new();
    let base = |i: usize| format!("http://127.0.0.1:{}", ports[i]);
    let acked = Arc::new(Mutex::new(Acked::default()));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut children = Running(Vec::new());
    let mut loaders = Vec::new();
    for i in 0..3 {
        children.0.push(start(&cfgs[i], &log));
        wait_ready(&client, &base(i), &mut children.0[i]).await;
        loaders.push(tokio::spawn(load(
            client.clone(),
            base(i),
            records[i].clone(),
            phones.clone(),
            acked.clone(),
            i,
            stop_rx.clone(),
        )));
    }

    // Mid-run, once it has handed over a few hundred: SIGKILL the third.
    // (The deadline guards against a hang; it is no speed target.)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while recorded(&records[2]).len() < 300 {
        assert!(
            std::time::Instant::now() < deadline,
            "the third instance never sent"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut killed = children.0.pop().unwrap();
    killed.kill().unwrap();
    killed.wait().unwrap();
    let handed_before_kill: usize = records.iter().map(|r| recorded(r).len()).sum();
    children.0.push(start(&cfgs[3], &log));
    wait_ready(&client, &base(2), &mut children.0[2]).await;
    loaders.push(tokio::spawn(load(
        client.clone(),
        base(2),
        records[3].clone(),
        phones.clone(),
        acked.clone(),
        3,
        stop_rx.clone(),
    )));

    // Until every planned reminder is handed over: the killed instance's
    // claims come back after their lease, and a claim that lapsed before
    // its hand-over (a busy machine) is given back due at once, so its
    // send time moves past the test's `now`.
    let mut left = i64::MAX;
    while std::time::Instant::now() < deadline {
        left = pool
            .ints(
                "SELECT COUNT(*) FROM outbox
                  WHERE kind = 'reminder' AND id <= $1 AND status IN ('scheduled', 'claimed')",
                &[last_planned],
            )
            .await[0];
        if left == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    if left != 0 {
        let rows = pool
            .texts(
                "SELECT CAST(id AS TEXT) || ' ' || status || ' ' || COALESCE(status_cause, '-') || ' at '
                        || CAST(send_at AS TEXT) || ', attempt ' || CAST(attempts AS TEXT)
                        || ', lease ' || COALESCE(CAST(lease_until AS TEXT), '-')
                 FROM outbox WHERE kind = 'reminder' AND id <= $1 AND status IN ('scheduled', 'claimed')
                 LIMIT 10",
                &[last_planned],
            )
            .await;
        let logs = std::fs::read_to_string(&log).unwrap();
        let tail: Vec<&str> = logs.lines().rev().take(30).collect();
        panic!(
            "{left} due messages never handled (now {}, real {}): {rows:?}\n{tail:#?}",
            now.timestamp(),
            Utc::now().timestamp()
        );
    }
    let _ = stop_tx.send(true);
    for l in loaders {
        l.await.unwrap();
    }
    for child in std::mem::take(&mut children.0) {
        stop(child).await;
    }

    // Each life's hand-overs: none twice, but for what the killed one held.
    let mut times: HashMap<i64, usize> = HashMap::new();
    let by_life: Vec<HashSet<i64>> = records
        .iter()
        .map(|r| {
            let ids = recorded(r);
            for id in &ids {
                *times.entry(*id).or_default() += 1;
            }
            ids.into_iter().collect()
        })
        .collect();
    let reminders = pool
        .pairs(
            "SELECT id, status FROM outbox WHERE kind = 'reminder' AND id <= $1",
            &[last_planned],
        )
        .await;
    assert_eq!(reminders.len() as u64, planned, "no message lost or added");
    for (id, status) in &reminders {
        assert!(
            ["accepted", "sent", "delivered"].contains(&status.as_str()),
            "message {id} ended {status}"
        );
        assert!(
            times.contains_key(id),
            "message {id} never reached the gateway"
        );
    }
    let mut repeated = 0;
    for (id, n) in &times {
        assert!(*n <= 2, "message {id} handed over {n} times with one kill");
        if *n == 2 {
            repeated += 1;
            let in_lives: Vec<&str> = (0..4)
                .filter(|l| by_life[*l].contains(id))
                .map(|l| lives[l])
                .collect();
            let history = pool
                .pairs(
                    "SELECT at, status FROM outbox_events WHERE outbox_id = $1 ORDER BY id",
                    &[*id],
                )
                .await;
            assert!(
                by_life[2].contains(id),
                "message {id} handed over twice, not by the killed instance: by {in_lives:?}; \
                 history {history:?}; killed at {handed_before_kill} hand-overs"
            );
        }
    }
    for (i, life) in by_life.iter().enumerate().take(3) {
        assert!(!life.is_empty(), "instance {} did its share", lives[i]);
    }
    let claimed = pool
        .ints("SELECT COUNT(*) FROM outbox WHERE status = 'claimed'", &[])
        .await[0];
    assert_eq!(claimed, 0, "messages left claimed");

    let (replies, receipts) = nothing_acked_lost(&pool, &acked).await;
    println!(
        "fleet on {}: {planned} reminders by three instances ({} / {} / {} + {} after the restart); \
         {handed_before_kill} handed over when the third was killed, {repeated} handed over again \
         under the same id; {} replies and {} receipts acknowledged, none lost",
        if db.starts_with("postgres") { "PostgreSQL" } else { "SQLite" },
        by_life[0].len(),
        by_life[1].len(),
        by_life[2].len(),
        by_life[3].len(),
        replies,
        receipts
    );
}
