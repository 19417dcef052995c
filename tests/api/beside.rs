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

/// Local fakes of the peers a county sends through side by side, each
/// answering as its provider documents a successful send:
/// - SMS Gateway for Android (capcom6), `POST /message` -> `202` with the
///   message's `id` and `state: "Pending"` (docs.sms-gate.app, Integration
///   > API, "Send a message"; /work/shared/design.md "SMS Gateway for Android").
/// - Twilio, `POST /2010-04-01/Accounts/{Sid}/Messages.json` -> `201` with
///   the message's `sid` and `status: "queued"` (twilio.com/docs/messaging/api/message-resource,
///   "Create a Message resource").
/// - WeChat Official Account, `POST /cgi-bin/stable_token` -> `access_token`,
///   `expires_in: 7200` (developers.weixin.qq.com/doc/offiaccount/Basic_Information/getStableAccessToken.html);
///   `POST /cgi-bin/message/template/send` -> `{"errcode":0,"errmsg":"ok","msgid":…}`
///   (…/Message_Management/Template_Message_Interface.html, "发送模板消息").
///
/// cht-gateway needs no fake: its phone polls careminder, so a send only queues.
pub(crate) struct Peers {
    pub(crate) android: wiremock::MockServer,
    pub(crate) twilio: wiremock::MockServer,
    pub(crate) oa: wiremock::MockServer,
}

impl Peers {
    pub(crate) async fn start() -> Peers {
        use wiremock::matchers::{method, path};
        use wiremock::{Mock, MockServer, Request, ResponseTemplate};
        let android = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/message"))
            .respond_with(|req: &Request| {
                let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
                ResponseTemplate::new(202).set_body_json(serde_json::json!({
                    "id": body["id"], "state": "Pending",
                    "recipients": [{"phoneNumber": body["phoneNumbers"][0], "state": "Pending"}],
                }))
            })
            .mount(&android)
            .await;
        let twilio = MockServer::start().await;
        let sids = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        Mock::given(method("POST"))
            .and(path("/2010-04-01/Accounts/AC1/Messages.json"))
            .respond_with(move |_: &Request| {
                let n = sids.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                ResponseTemplate::new(201).set_body_json(
                    serde_json::json!({"sid": format!("SM{n:032}"), "status": "queued"}),
                )
            })
            .mount(&twilio)
            .await;
        let oa = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/cgi-bin/stable_token"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"access_token": "T1", "expires_in": 7200})),
            )
            .mount(&oa)
            .await;
        let msgids = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(1));
        Mock::given(method("POST"))
            .and(path("/cgi-bin/message/template/send"))
            .respond_with(move |_: &Request| {
                let n = msgids.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"errcode": 0, "errmsg": "ok", "msgid": n}))
            })
            .mount(&oa)
            .await;
        Peers {
            android,
            twilio,
            oa,
        }
    }

    /// The gateways of the county's configuration: an Android phone as the
    /// default, Twilio for village V002, a cht phone for V003, and WeChat
    /// for every woman who follows the account.
    pub(crate) fn config(&self) -> String {
        format!(
            "[gateway]\nkind = \"android\"\n\
             [gateway.android]\nbase_url = \"{}\"\nusername = \"u\"\npassword = \"p\"\nsigning_key = \"k\"\n\
             [gateways.tw]\nkind = \"twilio\"\n\
             [gateways.tw.twilio]\nbase_url = \"{}\"\naccount_sid = \"AC1\"\nauth_token = \"t\"\nfrom = \"+15005550006\"\n\
             [gateways.cht]\nkind = \"cht\"\n\
             [gateways.cht.cht]\nusername = \"phone1\"\npassword = \"s3cret\"\n\
             [gateways.wx]\nkind = \"wechat\"\n\
             [gateways.wx.wechat]\nbase_url = \"{}\"\nappid = \"wx5823bf96d3bd56c7\"\nsecret = \"s\"\ntoken = \"t\"\n\
             [routing.villages]\nV002 = \"tw\"\nV003 = \"cht\"\n",
            self.android.uri(),
            self.twilio.uri(),
            self.oa.uri()
        )
    }

    /// Every hand-over the peers saw, by what names the message there: our
    /// id at the phone and WeChat, the number at Twilio.
    pub(crate) async fn handed_over(&self) -> Vec<String> {
        let mut seen = vec![];
        for r in self.android.received_requests().await.unwrap() {
            let b: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            seen.push(format!("android {}", b["id"]));
        }
        for r in self.twilio.received_requests().await.unwrap() {
            let form: HashMap<String, String> = serde_urlencoded::from_bytes(&r.body).unwrap();
            let to = form.get("To").cloned().unwrap_or_default();
            seen.push(format!("twilio {to}"));
        }
        for r in self.oa.received_requests().await.unwrap() {
            if r.url.path() == "/cgi-bin/message/template/send" {
                let b: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                seen.push(format!("wechat {}", b["client_msg_id"]));
            }
        }
        seen
    }
}

/// A county on one SQLite file, its gateways the `Peers`; women are
/// enrolled in process (a third user of the file, idle between enrolments).
struct County {
    _dir: tempfile::TempDir,
    cfg: std::path::PathBuf,
    db: std::path::PathBuf,
    port: u16,
    app: std::sync::Arc<careminder::App>,
    /// What the tick is run as of: eleven days ahead, at 09:00 local.
    tick_at: chrono::DateTime<Utc>,
    /// Her LMP: the 3-day reminder of her check-up falls at `tick_at`.
    lmp: chrono::NaiveDate,
    enrolled: usize,
}

impl County {
    /// A county whose gateways are `gateways` (TOML).
    async fn open(gateways: &str) -> County {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("county.db");
        let cfg = dir.path().join("careminder.toml");
        let port = free_port();
        std::fs::write(
            &cfg,
            format!(
                "database = {db:?}\nlisten = \"127.0.0.1:{port}\"\napi_token = \"beside-token\"\n{gateways}"
            ),
        )
        .unwrap();
        let config = Config::load(Some(&cfg)).unwrap();
        let tz = config.timezone;
        let app = careminder::App::open(config, careminder::Clock::System)
            .await
            .unwrap();
        let variant: careminder::store::WechatVariant = serde_json::from_value(serde_json::json!({
            "template_id": "TPL-checkup_1",
            "fields": [["thing1", "{{ name }}"], ["time2", "{{ date }} {{ weekday }}"], ["thing3", "{{ clinic }}"]],
        }))
        .unwrap();
        app.wechat
            .set_variant("checkup-reminders", "before-3d", Some(variant), "test")
            .await
            .unwrap();
        // A woman whose LMP was 2026-09-22 gets her 3-day reminder on
        // 2026-12-12 at 09:00 (tests/api/gateways.rs): 81 days on.
        let day = Utc::now().with_timezone(&tz).date_naive() + chrono::Duration::days(11);
        County {
            _dir: dir,
            cfg,
            db,
            port,
            app,
            tick_at: local_to_utc(tz, day.and_hms_opt(9, 0, 0).unwrap()),
            lmp: day - chrono::Duration::days(81),
            enrolled: 0,
        }
    }

    /// Six women whose reminders fall due at `tick_at`: two by the default
    /// phone, one by Twilio, one by the cht phone, two by WeChat.
    async fn six_women(&mut self) {
        self.women(6).await;
    }

    /// `n` women whose reminders fall due at `tick_at`, in the order of
    /// `six_women`.
    async fn women(&mut self, n: usize) {
        for k in 0..n {
            let n = self.enrolled;
            self.enrolled += 1;
            let village = match k {
                2 => "V002",
                3 => "V003",
                _ => "V001",
            };
            let input = careminder::services::enrollment::EnrollmentInput {
                name: format!("王{n}"),
                phone: format!("1381{n:07}"),
                lmp: Some(self.lmp.to_string()),
                village: Some(village.into()),
                officer: Some(format!("{village}-O1")),
                consent: Some("yes".into()),
                wechat_openid: (k >= 4).then(|| format!("oWXuser{n:018}")),
                ..Default::default()
            };
            self.app.care.enroll(&input, "test", "test").await.unwrap();
        }
    }

    /// `careminder tick --now <tick_at>`: its exit and its logs. A hang
    /// guard only (two minutes); the verdict is what it did.
    async fn tick(&self) -> (std::process::ExitStatus, String) {
        let mut tick = self.start_tick();
        for _ in 0..2400 {
            if let Some(s) = tick.try_wait().unwrap() {
                return (s, self.tick_log());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("`careminder tick` did not exit within two minutes");
    }

    /// `careminder --config … --now <tick_at> ARGS`: exit, stdout, stderr.
    async fn run(&self, args: &[&str]) -> (std::process::ExitStatus, String, String) {
        let (out, err) = (self._dir.path().join("out"), self._dir.path().join("err"));
        let mut child = KillOnDrop(
            Command::new(env!("CARGO_BIN_EXE_careminder"))
                .arg("--config")
                .arg(&self.cfg)
                .arg("--now")
                .arg(self.tick_at.to_rfc3339())
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::from(std::fs::File::create(&out).unwrap()))
                .stderr(Stdio::from(std::fs::File::create(&err).unwrap()))
                .spawn()
                .unwrap(),
        );
        for _ in 0..2400 {
            if let Some(s) = child.try_wait().unwrap() {
                let read = |p| std::fs::read_to_string(p).unwrap();
                return (s, read(&out), read(&err));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("`careminder {args:?}` did not exit within two minutes");
    }

    /// Every message: (id, status), by id.
    async fn messages(&self) -> Vec<(i64, String)> {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", self.db.display()))
            .await
            .unwrap();
        let rows = sqlx::query_as("SELECT id, status FROM outbox ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        rows
    }

    fn start_tick(&self) -> KillOnDrop {
        KillOnDrop(
            Command::new(env!("CARGO_BIN_EXE_careminder"))
                .arg("--config")
                .arg(&self.cfg)
                .arg("--now")
                .arg(self.tick_at.to_rfc3339())
                .arg("tick")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(
                    std::fs::File::create(self._dir.path().join("tick.log")).unwrap(),
                ))
                .spawn()
                .unwrap(),
        )
    }

    fn tick_log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("tick.log")).unwrap_or_default()
    }

    /// (status, how many) of every message due by `tick_at`.
    async fn due(&self) -> Vec<(String, i64)> {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", self.db.display()))
            .await
            .unwrap();
        let rows = sqlx::query_as(
            "SELECT status, COUNT(*) FROM outbox WHERE send_at <= ? GROUP BY status ORDER BY status",
        )
        .bind(self.tick_at.timestamp())
        .fetch_all(&pool)
        .await
        .unwrap();
        pool.close().await;
        rows
    }

    fn serve(&self, log: &std::path::Path) -> KillOnDrop {
        KillOnDrop(
            Command::new(env!("CARGO_BIN_EXE_careminder"))
                .arg("--config")
                .arg(&self.cfg)
                .arg("serve")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(std::fs::File::create(log).unwrap()))
                .spawn()
                .unwrap(),
        )
    }
}

/// `rounds` times: six women fall due, `tick` runs; each tick must finish
/// by itself, hand over all six (the phone, Twilio, the cht queue, WeChat)
/// and leave nothing claimed.
async fn ticks_hand_everything_over(county: &mut County, peers: &Peers, rounds: usize, what: &str) {
    for round in 0..rounds {
        county.six_women().await;
        let (exit, log) = county.tick().await;
        assert!(
            exit.success() && !log.contains("stage failed"),
            "{what}, round {round}: tick failed ({exit}):\n{log}"
        );
        let due = county.due().await;
        let handed: i64 = due
            .iter()
            .filter(|(s, _)| s == "accepted" || s == "sent")
            .map(|(_, n)| n)
            .sum();
        assert!(
            handed == county.enrolled as i64 && !due.iter().any(|(s, _)| s == "claimed"),
            "{what}, round {round}: {} women's reminders due; due messages by status: {due:?}",
            county.enrolled
        );
    }
    let seen = peers.handed_over().await;
    let mut times: HashMap<&str, usize> = HashMap::new();
    for s in &seen {
        *times.entry(s).or_default() += 1;
    }
    let twice: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "{what}: handed over twice: {twice:?}");
}

/// Busy loops on every core, until dropped.
fn cpu_load() -> Vec<KillOnDrop> {
    (0..2)
        .map(|_| {
            KillOnDrop(
                Command::new("sh")
                    .args(["-c", "while :; do :; done"])
                    .spawn()
                    .unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tick_through_four_kinds_of_gateway_finishes_every_time_alone_and_beside_serve() {
    let peers = Peers::start().await;
    let mut county = County::open(&peers.config()).await;
    ticks_hand_everything_over(&mut county, &peers, 10, "alone, idle").await;

    let log = county._dir.path().join("serve.log");
    let mut serve = county.serve(&log);
    let client = reqwest::Client::new();
    wait_ready(
        &client,
        &format!("http://127.0.0.1:{}", county.port),
        &mut serve,
    )
    .await;
    ticks_hand_everything_over(&mut county, &peers, 10, "beside serve, idle").await;
    {
        let _load = cpu_load();
        ticks_hand_everything_over(&mut county, &peers, 10, "beside serve, under CPU load").await;
        let _ = serve.kill();
    }
    let _ = serve.wait();
    let serve_log = std::fs::read_to_string(&log).unwrap();
    assert!(
        !serve_log.contains("stage failed"),
        "serve failed beside the ticks:\n{serve_log}"
    );
}

/// A phone that takes each message only when the test says so, and tells
/// the test when one arrives (answers as `Peers` documents).
struct GatedPhone {
    arrived: std::sync::Mutex<std::sync::mpsc::Sender<()>>,
    go: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
}

impl wiremock::Respond for GatedPhone {
    fn respond(&self, req: &wiremock::Request) -> wiremock::ResponseTemplate {
        let _ = self.arrived.lock().unwrap().send(());
        // A hang guard: the test answers within seconds.
        let _ = self
            .go
            .lock()
            .unwrap()
            .recv_timeout(std::time::Duration::from_secs(120));
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        wiremock::ResponseTemplate::new(202)
            .set_body_json(serde_json::json!({"id": body["id"], "state": "Pending"}))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tick_whose_results_the_database_refuses_for_a_while_leaves_nothing_claimed() {
    use wiremock::matchers::{method, path};
    let (arrived_tx, arrived) = std::sync::mpsc::channel();
    let (go, go_rx) = std::sync::mpsc::channel();
    let phone = wiremock::MockServer::start().await;
    wiremock::Mock::given(method("POST"))
        .and(path("/message"))
        .respond_with(GatedPhone {
            arrived: std::sync::Mutex::new(arrived_tx),
            go: std::sync::Mutex::new(go_rx),
        })
        .mount(&phone)
        .await;
    let mut county = County::open(&format!(
        "[gateway]\nkind = \"android\"\n\
         [gateway.android]\nbase_url = \"{}\"\nusername = \"u\"\npassword = \"p\"\nsigning_key = \"k\"\n",
        phone.uri()
    ))
    .await;
    county.women(1).await;
    let mut tick = county.start_tick();
    // The message is claimed and at the phone: another process takes the
    // database's write lock (a long import, say) and keeps it while the
    // phone accepts and the tick tries to write that it did.
    let mut waited = 0;
    while arrived.try_recv().is_err() {
        assert!(
            tick.try_wait().unwrap().is_none(),
            "tick exited:\n{}",
            county.tick_log()
        );
        waited += 1;
        assert!(waited < 2400, "the message never reached the phone");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    use sqlx::Connection;
    let mut other = sqlx::SqliteConnection::connect(&format!("sqlite://{}", county.db.display()))
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    go.send(()).unwrap();
    // Until the tick says it could not write (after its busy timeout), or exits.
    let mut exited = None;
    for _ in 0..2400 {
        exited = tick.try_wait().unwrap();
        if exited.is_some() || county.tick_log().contains("not written") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    drop(other);
    for _ in 0..2400 {
        if exited.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        exited = tick.try_wait().unwrap();
    }
    let exit = exited.expect("`careminder tick` exits within two minutes");
    let log = county.tick_log();
    let due = county.due().await;
    assert_eq!(
        due,
        [("accepted".to_string(), 1)],
        "the phone took it: recorded so, not left claimed (tick {exit}):\n{log}"
    );
    assert!(exit.success(), "written in the end: tick succeeds:\n{log}");
    assert_eq!(phone.received_requests().await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tick_dry_run_lists_what_tick_then_sends_and_sends_nothing() {
    let peers = Peers::start().await;
    let mut county = County::open(&peers.config()).await;
    let (_, help, _) = county.run(&["tick", "--help"]).await;
    assert!(
        help.contains("sends every message due") && help.contains("--dry-run"),
        "tick says that it sends, and how to only look:\n{help}"
    );
    county.six_women().await;
    let before = county.messages().await;
    let (exit, listed, log) = county.run(&["tick", "--dry-run"]).await;
    assert!(exit.success(), "{exit}:\n{log}");
    assert!(
        peers.handed_over().await.is_empty(),
        "a dry run sent: {:?}",
        peers.handed_over().await
    );
    assert_eq!(
        county.messages().await,
        before,
        "a dry run changed messages:\n{listed}"
    );
    // Its rows: id (or "new"), woman, date, time, step.
    let rows: Vec<Vec<&str>> = listed
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.len() == 5 && w[4].contains('/') && w[1].parse::<i64>().is_ok())
        .collect();
    let mut women: Vec<i64> = rows.iter().map(|w| w[1].parse().unwrap()).collect();
    women.sort();
    assert_eq!(
        women.len(),
        6,
        "six due, the tick's planning writes them:\n{listed}"
    );

    let (exit, log) = county.tick().await;
    assert!(exit.success(), "{exit}:\n{log}");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", county.db.display()))
        .await
        .unwrap();
    let mut sent: Vec<i64> = sqlx::query_scalar(
        "SELECT woman_id FROM outbox WHERE status IN ('accepted', 'sent') ORDER BY woman_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    sent.sort();
    assert_eq!(sent, women, "the tick sent what the dry run listed");
    assert_eq!(
        peers.handed_over().await.len(),
        5,
        "two at the phone, one at Twilio, two at WeChat (the cht phone collects its own)"
    );
}

/// The preview behind `tick --dry-run`, on the suite's backend (SQLite, or
/// PostgreSQL in its pass): what is due and what the pass would plan first,
/// nothing written; then the tick sends exactly that.
#[tokio::test]
async fn the_preview_lists_what_the_next_pass_sends_and_writes_nothing() {
    let t = crate::helpers::spawn_app().await;
    let her = t
        .enroll("王秀英", "13812345678", "2026-09-22")
        .await
        .woman_id();
    let other = t
        .enroll("李桂兰", "13812345679", "2026-09-22")
        .await
        .woman_id();
    // Their 3-day reminders, 2026-12-12 09:00: beyond the horizon planned so far.
    t.at("2026-12-12 09:00");
    let before = t.app.store.list_outbox(&Default::default()).await.unwrap();
    let (due, open) = t.app.scheduler.preview(t.clock.now()).await.unwrap();
    assert!(open, "the send window is open at 09:00");
    let mut listed: Vec<_> = due.iter().map(|m| (m.woman_id, m.step.as_str())).collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            (Some(her), "checkup-reminders/before-3d"),
            (Some(other), "checkup-reminders/before-3d")
        ]
    );
    assert_eq!(
        t.app
            .store
            .list_outbox(&Default::default())
            .await
            .unwrap()
            .len(),
        before.len(),
        "a preview plans nothing"
    );
    t.tick().await;
    let mut sent: Vec<_> = t.mock.sent().iter().map(|s| s.message.to.clone()).collect();
    sent.sort();
    assert_eq!(sent, ["+8613812345678", "+8613812345679"]);
    let (due, _) = t.app.scheduler.preview(t.clock.now()).await.unwrap();
    assert!(due.is_empty(), "nothing left: {due:?}");
}
