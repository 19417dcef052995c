//! Two processes on one database: `careminder serve` sending through a slow,
//! rate-limited gateway, and operators running `careminder tick` beside it
//! again and again. A batch takes longer than a lease to send, so without
//! renewed leases each tick would take the serve's batch back and hand it
//! over a second time. Both processes run on the real clock (claims and
//! leases are compared across processes), in a zone where it is midday now,
//! so the send window is open whenever the test runs.

use crate::crash::{free_port, plan_a_day, recorded, wait_ready, KillOnDrop};
use careminder::domain::schedule::local_to_utc;
use careminder::Config;
use chrono::{NaiveTime, Timelike, Utc};
use std::collections::HashMap;
use std::process::{Command, Stdio};

const WOMEN: usize = 600;
/// Longer to send at `RATE` than `LEASE` seconds: the lease must be renewed.
const BATCH: usize = 300;
const RATE: f64 = 25.0;
const LEASE: i64 = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tick_beside_a_running_serve_never_hands_a_message_over_twice() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("beside.db");
    let record = dir.path().join("sent.jsonl");
    let cfg = dir.path().join("careminder.toml");
    let log = dir.path().join("serve.log");
    let port = free_port();
    // A fixed-offset zone where the local hour is 14 now (Etc/GMT-3 is UTC+3).
    let offset = 14 - Utc::now().hour() as i32;
    let offset = if offset > 12 { offset - 24 } else { offset };
    let zone = match offset {
        0 => "Etc/GMT".to_string(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    };
    std::fs::write(
        &cfg,
        format!(
            "database = {db:?}\nlisten = \"127.0.0.1:{port}\"\napi_token = \"beside-token\"\n\
             timezone = \"{zone}\"\n\
             [planner]\ninterval_seconds = 2\n\
             [dispatcher]\nbatch_size = {BATCH}\nlease_seconds = {LEASE}\n\
             [gateway]\nkind = \"mock\"\nrate_per_second = {RATE}\n\
             [gateway.mock]\nrecord_file = {record:?}\n"
        ),
    )
    .unwrap();

    // Women whose reminders fell due earlier today, planned in process.
    let config = Config::load(Some(&cfg)).unwrap();
    let tz = config.timezone;
    let now = Utc::now();
    let today = now.with_timezone(&tz).date_naive();
    let from = local_to_utc(tz, today.and_time(NaiveTime::MIN));
    // Planned as of just before the day began.
    let planned = plan_a_day(config, from - chrono::Duration::hours(1), WOMEN, from, now).await;

    let stderr = std::fs::File::create(&log).unwrap();
    let mut serve = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_careminder"))
            .arg("--config")
            .arg(&cfg)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr))
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::new();
    wait_ready(&client, &format!("http://127.0.0.1:{port}"), &mut serve).await;

    // Operators' ticks, one after another, until everything due was handed
    // over; each must exit by itself.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(150);
    let mut ticks = 0;
    loop {
        let handed: std::collections::HashSet<i64> = recorded(&record).into_iter().collect();
        if handed.len() as u64 >= planned {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {planned} handed over",
            handed.len()
        );
        let mut tick = Command::new(env!("CARGO_BIN_EXE_careminder"))
            .arg("--config")
            .arg(&cfg)
            .arg("tick")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut exited = None;
        for _ in 0..1200 {
            if let Some(s) = tick.try_wait().unwrap() {
                exited = Some(s);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        if exited.is_none() {
            let _ = tick.kill();
            panic!("`careminder tick` did not exit within a minute");
        }
        ticks += 1;
    }
    serve.kill().unwrap();
    serve.wait().unwrap();

    let mut times: HashMap<i64, usize> = HashMap::new();
    for id in recorded(&record) {
        *times.entry(id).or_default() += 1;
    }
    let twice: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "after {ticks} ticks beside serve, handed over more than once: {} messages, e.g. {:?}",
        twice.len(),
        twice.iter().take(5).collect::<Vec<_>>()
    );
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.contains("careminder serving"), "serve ran: {logs}");
}
