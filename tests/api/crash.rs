//! Crash safety: the real binary, killed with SIGKILL thirty times while it
//! sends thousands of messages and takes receipts and replies, restarted
//! each time. Every planned message reaches the gateway; none more than once
//! after the gateway's de-duplication by our id; no acknowledged reply or
//! receipt is lost; nothing is left claimed; the file is sound. Then SIGTERM
//! stops it cleanly, with nothing claimed.

use careminder::domain::schedule::local_to_utc;
use careminder::{App, Clock, Config};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use rand::Rng;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

const WOMEN: usize = 12_000;
const KILLS: usize = 30;
pub(crate) const TOKEN: &str = "crash-token";
/// Secrets of gateways configured beside the mock: none may reach the logs.
const SECRETS: &[&str] = &[
    TOKEN,
    "android-signing-s3cret",
    "android-pass-s3cret",
    "twilio-auth-s3cret",
];

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A started process, killed when dropped: a failing test leaves none
/// running behind it.
pub(crate) struct KillOnDrop(pub(crate) Child);

impl std::ops::Deref for KillOnDrop {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the service; its logs are appended to `log`.
pub(crate) fn start(cfg: &Path, now: DateTime<Utc>, log: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_careminder"))
        .arg("--config")
        .arg(cfg)
        .arg("--now")
        .arg(now.to_rfc3339())
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("careminder starts")
}

pub(crate) async fn wait_ready(client: &reqwest::Client, base: &str, child: &mut Child) {
    // Up to a minute: a hang guard on a busy machine, not a start-up target.
    for _ in 0..3000 {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "careminder exited at start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("careminder did not answer /healthz");
}

/// What `count` (a count of work left, bound to `now`) finds, polled
/// until it finds none or a minute has passed (a hang guard, not a target).
pub(crate) async fn left_after_a_minute(
    pool: &sqlx::SqlitePool,
    count: &'static str,
    now: DateTime<Utc>,
) -> i64 {
    let mut left = i64::MAX;
    for _ in 0..600 {
        left = sqlx::query_scalar(count)
            .bind(now.timestamp())
            .fetch_one(pool)
            .await
            .unwrap();
        if left == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    left
}

/// Message ids in the mock's record, one per hand-over (duplicates included).
pub(crate) fn recorded(path: &Path) -> Vec<i64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        // A line cut by the kill is not a hand-over the gateway saw whole.
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["id"].as_i64())
        .collect()
}

/// Set-up, in process, before the binary starts: `women` invented women
/// whose reminders fall due between `from` and `to`, imported and planned
/// as of `now` (the planner plans nothing in its past), the database then
/// closed. Returns how many messages were planned.
pub(crate) async fn plan_a_day(
    config: Config,
    now: DateTime<Utc>,
    women: usize,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> u64 {
    let today = now.with_timezone(&config.timezone).date_naive();
    let app = App::open(config, Clock::manual(now)).await.unwrap();
    let roster = careminder::bench::roster_due_between(&app, women, today, from, to)
        .await
        .unwrap();
    let report = careminder::services::importer::import(
        &app.care,
        std::io::Cursor::new(roster),
        "set-up",
        "test",
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(report.created as usize, women);
    let planned = app
        .planner
        .plan_range(from, to, None, now)
        .await
        .unwrap()
        .planned;
    app.store.set_planned_until(to).await.unwrap();
    app.store.close().await;
    assert!(planned as usize >= women, "{planned} planned");
    planned
}

/// What the load clients got acknowledged (HTTP 200): nothing in here may be lost.
#[derive(Default)]
pub(crate) struct Acked {
    pub(crate) replies: HashSet<String>,
    pub(crate) receipts: HashSet<i64>,
}

/// Every reply and receipt in `acked` is in the database: none
/// acknowledged was lost. Returns how many of each there were.
pub(crate) async fn nothing_acked_lost(
    db: &crate::helpers::RawDb,
    acked: &Mutex<Acked>,
) -> (usize, usize) {
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    let stored: HashSet<String> = db
        .texts(
            "SELECT provider_id FROM inbound WHERE gateway = 'mock'",
            &[],
        )
        .await
        .into_iter()
        .collect();
    let lost = acked
        .replies
        .iter()
        .filter(|r| !stored.contains(*r))
        .count();
    assert_eq!(lost, 0, "acknowledged replies lost");
    let delivered: HashSet<i64> = db
        .ints("SELECT id FROM outbox WHERE status = 'delivered'", &[])
        .await
        .into_iter()
        .collect();
    let lost = acked
        .receipts
        .iter()
        .filter(|r| !delivered.contains(*r))
        .count();
    assert_eq!(lost, 0, "acknowledged receipts lost");
    (acked.replies.len(), acked.receipts.len())
}

/// Posts receipts for recorded messages and replies from the women, until stopped.
pub(crate) async fn load(
    client: reqwest::Client,
    base: String,
    record: std::path::PathBuf,
    phones: Arc<Vec<String>>,
    acked: Arc<Mutex<Acked>>,
    round: usize,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut k = 0usize;
    while !*stop.borrow() {
        let ids = recorded(&record);
        let pick = {
            let mut rng = rand::thread_rng();
            (!ids.is_empty()).then(|| ids[rng.gen_range(0..ids.len())])
        };
        if let Some(id) = pick {
            let r = client
                .post(format!("{base}/webhooks/mock/status"))
                .bearer_auth(TOKEN)
                .json(&json!({ "message_id": id, "status": "delivered" }))
                .send()
                .await;
            if matches!(&r, Ok(r) if r.status() == 200) {
                acked.lock().unwrap().receipts.insert(id);
            }
        }
        let reply_id = format!("r-{round}-{k}");
        let from = &phones[k % phones.len()];
        k += 1;
        let r = client
            .post(format!("{base}/webhooks/mock"))
            .bearer_auth(TOKEN)
            .json(&json!({ "id": reply_id, "from": from, "text": "1" }))
            .send()
            .await;
        if matches!(&r, Ok(r) if r.status() == 200) {
            acked.lock().unwrap().replies.insert(reply_id);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_thirty_times_it_sends_every_message_once_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let record = dir.path().join("sent.jsonl");
    let cfg = dir.path().join("careminder.toml");
    let log = dir.path().join("serve.log");
    let port = free_port();
    std::fs::write(
        &cfg,
        format!(
            "database = {db:?}\nlisten = \"127.0.0.1:{port}\"\napi_token = \"{TOKEN}\"\n\
             [dispatcher]\nbatch_size = 200\nlease_seconds = 300\n\
             [gateway]\nkind = \"mock\"\nrate_per_second = 1000.0\n\
             [gateway.mock]\nrecord_file = {record:?}\n\
             [gateways.phone]\nkind = \"android\"\n\
             [gateways.phone.android]\nbase_url = \"http://127.0.0.1:9\"\nusername = \"u\"\n\
             password = \"android-pass-s3cret\"\nsigning_key = \"android-signing-s3cret\"\n\
             [gateways.tw]\nkind = \"twilio\"\n\
             [gateways.tw.twilio]\nbase_url = \"http://127.0.0.1:9\"\naccount_sid = \"AC1\"\n\
             auth_token = \"twilio-auth-s3cret\"\nfrom = \"+15005550006\"\n"
        ),
    )
    .unwrap();

    // Set-up, in process: women who all have a reminder on `day`, planned.
    let config = Config::load(Some(&cfg)).unwrap();
    let tz = config.timezone;
    let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    let day = today + Duration::days(1);
    let at = |d: NaiveDate, h: u32, m: u32| {
        local_to_utc(tz, d.and_time(NaiveTime::from_hms_opt(h, m, 0).unwrap()))
    };
    let (from, to) = (at(day, 0, 0), at(day + Duration::days(1), 0, 0));
    let planned = plan_a_day(config, at(today, 7, 0), WOMEN, from, to).await;
    let phones: Arc<Vec<String>> = Arc::new((0..500).map(|i| format!("+86139{i:08}")).collect());

    // Chaos: start, load, SIGKILL at a random moment; thirty times. Each
    // restart is six minutes later on the service's clock, so claims left
    // by the dead process (leased for five) are taken back.
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let acked = Arc::new(Mutex::new(Acked::default()));
    let mut now = at(day, 12, 0);
    for round in 0..KILLS {
        let mut child = KillOnDrop(start(&cfg, now, &log));
        wait_ready(&client, &base, &mut child).await;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let loader = tokio::spawn(load(
            client.clone(),
            base.clone(),
            record.clone(),
            phones.clone(),
            acked.clone(),
            round,
            stop_rx,
        ));
        let ms = rand::thread_rng().gen_range(50..400);
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        child.kill().unwrap();
        child.wait().unwrap();
        let _ = stop_tx.send(true);
        loader.await.unwrap();
        now += Duration::minutes(6);
    }

    // The last start runs until every due message is handled; then SIGTERM.
    let mut child = KillOnDrop(start(&cfg, now, &log));
    wait_ready(&client, &base, &mut child).await;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display()))
        .await
        .unwrap();
    let left = left_after_a_minute(
        &pool,
        "SELECT COUNT(*) FROM outbox WHERE status IN ('scheduled', 'claimed') AND send_at <= ?",
        now,
    )
    .await;
    assert_eq!(left, 0, "due messages never handled");
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let mut exited = None;
    for _ in 0..300 {
        if let Some(s) = child.try_wait().unwrap() {
            exited = Some(s);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let exited = exited.expect("SIGTERM: careminder exits within 30 s");
    assert!(exited.success(), "clean exit after SIGTERM: {exited}");

    // The verdict, from the database and the gateway's record.
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
    let claimed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE status = 'claimed'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(claimed, 0, "messages left claimed");
    // The day planned at set-up (the service has planned the next day's since).
    let reminders: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, status FROM outbox WHERE kind = 'reminder' AND send_at > ? AND send_at <= ?",
    )
    .bind(from.timestamp())
    .bind(to.timestamp())
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(reminders.len() as u64, planned, "no message lost or added");
    let handed = recorded(&record);
    let mut times: HashMap<i64, usize> = HashMap::new();
    for id in &handed {
        *times.entry(*id).or_default() += 1;
    }
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
    let duplicates = handed.len() - times.len();
    let worst = times.values().copied().max().unwrap_or(0);
    assert!(worst <= 1 + KILLS, "a message went {worst} times");
    let (replies, receipts) =
        nothing_acked_lost(&crate::helpers::RawDb::Sqlite(pool.clone()), &acked).await;
    // Thirty-one runs of logs: ids, never a number, a name or a secret.
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.contains("careminder serving"), "the service logged");
    for l in logs.lines() {
        assert!(
            !l.contains("+86139") && !l.contains("139000"),
            "a phone number in the logs: {l}"
        );
        assert!(
            !l.contains("秀英") && !l.contains("桂兰"),
            "a name in the logs: {l}"
        );
        for s in SECRETS {
            assert!(!l.contains(s), "a secret in the logs: {l}");
        }
    }
    println!(
        "crash test: {KILLS} kills survived; {planned} reminders planned, {} distinct messages at the gateway, \
         {duplicates} repeated hand-overs (the gateway de-duplicates them by id; worst message {worst} times); \
         {} replies and {} receipts acknowledged, none lost; integrity ok",
        times.len(),
        replies,
        receipts
    );
}
