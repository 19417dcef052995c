//! Starts the real app (HTTP on port 0, a fresh SQLite file or, in the
//! suite's PostgreSQL pass, a fresh PostgreSQL database, a manual clock,
//! the mock gateway) and offers the steps tests are written in.

use careminder::domain::schedule::local_to_utc;
use careminder::gateway::{MockGateway, MockSent};
use careminder::scheduler::TickReport;
use careminder::services::enrollment::EnrollmentInput;
use careminder::store::{EnrollOutcome, NewStaff, OutboxFilter, OutboxListRow};
use careminder::{App, Clock, Config};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use std::net::SocketAddr;
use std::sync::Arc;
use tempfile::TempDir;

pub const TOKEN: &str = "test-token";

pub struct TestApp {
    pub app: Arc<App>,
    pub addr: SocketAddr,
    pub mock: Arc<MockGateway>,
    pub clock: Clock,
    pub client: reqwest::Client,
    /// Holds the database file; removed when the test ends.
    _dir: TempDir,
    shutdown: tokio::sync::watch::Sender<bool>,
}

/// A local time in the app's zone: "2026-12-01 09:00".
pub fn local(app: &App, s: &str) -> DateTime<Utc> {
    let t = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").expect("test time");
    local_to_utc(app.config.timezone, t)
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}, "2026-12-01 10:00").await
}

/// Starts the app with `tweak` applied to a default configuration and the
/// clock at `start` (local time in the configured zone). The scheduler loop
/// is not started: tests tick by hand after moving the clock.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config), start: &str) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config {
        database: dir.path().join("test.db").into(),
        listen: "127.0.0.1:0".into(),
        api_token: Some(TOKEN.into()),
        ..Config::default()
    };
    let sqlite_file = config.database.clone();
    tweak(&mut config);
    if config.database == sqlite_file && on_postgres() {
        config.database = careminder::config::DatabaseUrl::Postgres(fresh_app_database().await);
    }
    if config.gateway.kind() != careminder::domain::GatewayKind::Mock
        && !config.gateways.contains_key("mock")
    {
        // A mock beside the gateway under test, for the helpers below.
        config.gateways.insert("mock".into(), Default::default());
    }
    let t = NaiveDateTime::parse_from_str(start, "%Y-%m-%d %H:%M").expect("start time");
    let clock = Clock::manual(local_to_utc(config.timezone, t));
    let app = App::open(config, clock.clone()).await.expect("app opens");
    let mock = app.mock.clone().expect("mock gateway");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(careminder::web::serve(app.clone(), listener, rx, false));
    TestApp {
        app,
        addr,
        mock,
        clock,
        client: reqwest::Client::new(),
        _dir: dir,
        shutdown: tx,
    }
}

/// Whether this run of the suite serves its apps from PostgreSQL
/// (`CAREMINDER_TEST_BACKEND=postgres`, as scripts/test.sh's second pass
/// sets) rather than from a SQLite file.
pub fn on_postgres() -> bool {
    match std::env::var("CAREMINDER_TEST_BACKEND").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Err(_) => false,
        Ok(other) => panic!("CAREMINDER_TEST_BACKEND is sqlite or postgres, not {other:?}"),
    }
}

/// Starts the app on a fresh PostgreSQL database of its own (`label`
/// names it), whichever pass of the suite is running: for tests about
/// PostgreSQL itself.
pub async fn spawn_app_on_postgres(label: &str) -> TestApp {
    let url = crate::postgres::fresh_pg_database(label).await;
    spawn_app_with(
        |c| c.database = careminder::config::DatabaseUrl::Postgres(url),
        "2026-12-01 10:00",
    )
    .await
}

/// A fresh PostgreSQL database for one app of the suite's PostgreSQL pass.
async fn fresh_app_database() -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    crate::postgres::fresh_pg_database(&format!("app{}_{n}", std::process::id())).await
}

/// The test app's database as `--db` takes it: the SQLite file's path or
/// the PostgreSQL URL (with its password, unlike `Display`).
pub fn db_arg(t: &TestApp) -> String {
    match &t.app.config.database {
        careminder::config::DatabaseUrl::Sqlite(path) => path.display().to_string(),
        careminder::config::DatabaseUrl::Postgres(url) => url.clone(),
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn local(&self, s: &str) -> DateTime<Utc> {
        local(&self.app, s)
    }

    /// The body of a plain GET of `path`, whatever its status.
    pub async fn get_text(&self, path: &str) -> String {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Moves the clock to a local time.
    pub fn at(&self, s: &str) {
        self.clock.set(self.local(s));
    }

    pub async fn tick(&self) -> TickReport {
        let r = self.app.tick().await;
        assert_eq!(r.failed_stages, 0, "a scheduler stage failed: see the log");
        r
    }

    /// Ticks every `step` from now until `until` (local), inclusive.
    pub async fn run_until(&self, until: &str, step: Duration) {
        let end = self.local(until);
        while self.clock.now() <= end {
            self.tick().await;
            self.clock.advance(step);
        }
        self.clock.set(end);
    }

    /// A campaign step's id.
    pub async fn step_id(&self, campaign: &str, step: &str) -> i64 {
        self.app.store.step_id(campaign, step).await.unwrap()
    }

    /// Imports a roster CSV as the `import` command would.
    pub async fn import_csv(
        &self,
        csv: impl Into<Vec<u8>>,
        source: &str,
    ) -> Result<
        careminder::services::importer::ImportReport,
        careminder::services::importer::ImportError,
    > {
        careminder::services::importer::import(
            &self.app.care,
            std::io::Cursor::new(csv.into()),
            source,
            "test",
            |_| {},
        )
        .await
    }

    pub async fn enroll(&self, name: &str, phone: &str, lmp: &str) -> EnrollOutcome {
        self.app
            .care
            .enroll(&woman(name, phone, lmp), "test", "test")
            .await
            .expect("enrolls")
    }

    /// Messages the mock accepted for a number (E.164).
    pub fn sent_to(&self, phone: &str) -> Vec<MockSent> {
        self.mock
            .sent()
            .into_iter()
            .filter(|m| m.message.to == phone)
            .collect()
    }

    pub async fn outbox_of(&self, woman_id: i64) -> Vec<OutboxListRow> {
        self.app
            .store
            .list_outbox(&OutboxFilter {
                woman_id: Some(woman_id),
                ..Default::default()
            })
            .await
            .expect("outbox")
    }

    /// Local "YYYY-MM-DD HH:MM" of an instant.
    pub fn fmt(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.app.config.timezone)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    }
}

pub fn woman(name: &str, phone: &str, lmp: &str) -> EnrollmentInput {
    EnrollmentInput {
        name: name.into(),
        phone: phone.into(),
        lmp: Some(lmp.into()),
        village: Some("V001".into()),
        officer: Some("V001-O1".into()),
        consent: Some("yes".into()),
        ..Default::default()
    }
}

/// A member of staff of `township`, named "<code>医生".
pub async fn staff(
    t: &TestApp,
    code: &str,
    phone: &str,
    role: &str,
    village: Option<&str>,
    township: &str,
) {
    t.app
        .store
        .add_staff(
            &NewStaff {
                code: code.into(),
                name: format!("{code}医生"),
                phone: Some(
                    careminder::domain::Phone::parse(phone, t.app.config.region()).unwrap(),
                ),
                role: role.parse().expect("a role"),
                language: careminder::domain::Language::ZhCn,
                village: village.map(str::to_string),
                township: Some(township.into()),
                wecom_userid: None,
            },
            t.clock.now(),
        )
        .await
        .unwrap();
}

/// A woman of `village`, looked after by its officer "<village>-O1".
pub async fn woman_in(t: &TestApp, name: &str, phone: &str, lmp: &str, village: &str) -> i64 {
    let mut w = woman(name, phone, lmp);
    w.village = Some(village.into());
    w.officer = Some(format!("{village}-O1"));
    t.app
        .care
        .enroll(&w, "test", "test")
        .await
        .unwrap()
        .woman_id()
}

/// The women whose name holds `name`, as the console's list finds them.
pub async fn women_named(t: &TestApp, name: &str) -> Vec<careminder::store::WomanListRow> {
    t.app
        .store
        .search_women(
            &careminder::store::Area::All,
            &careminder::store::WomenFilter {
                q: name.into(),
                ..Default::default()
            },
            10,
            0,
        )
        .await
        .expect("search")
        .0
}

/// A test's own connection to an app's database, to check what it stored
/// behind its back, on either backend. Statements use `$1` parameters.
pub enum RawDb {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl RawDb {
    /// Connects read-only to a SQLite file, or to a PostgreSQL database.
    pub async fn connect(db: &careminder::config::DatabaseUrl) -> RawDb {
        match db {
            careminder::config::DatabaseUrl::Sqlite(path) => RawDb::Sqlite(
                sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", path.display()))
                    .await
                    .unwrap(),
            ),
            careminder::config::DatabaseUrl::Postgres(url) => {
                RawDb::Postgres(sqlx::PgPool::connect(url).await.unwrap())
            }
        }
    }

    /// Rows of `T` (a tuple), with BIGINT parameters.
    pub async fn rows<T>(&self, sql: &str, binds: &[i64]) -> Vec<T>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + Send
            + Unpin,
    {
        match self {
            RawDb::Sqlite(p) => {
                let mut q = sqlx::query_as(sql);
                for b in binds {
                    q = q.bind(*b);
                }
                q.fetch_all(p).await.unwrap()
            }
            RawDb::Postgres(p) => {
                let mut q = sqlx::query_as(sql);
                for b in binds {
                    q = q.bind(*b);
                }
                q.fetch_all(p).await.unwrap()
            }
        }
    }

    /// A column of BIGINTs.
    pub async fn ints(&self, sql: &str, binds: &[i64]) -> Vec<i64> {
        let rows: Vec<(i64,)> = self.rows(sql, binds).await;
        rows.into_iter().map(|r| r.0).collect()
    }

    /// A column of text.
    pub async fn texts(&self, sql: &str, binds: &[i64]) -> Vec<String> {
        let rows: Vec<(String,)> = self.rows(sql, binds).await;
        rows.into_iter().map(|r| r.0).collect()
    }

    /// Rows of (BIGINT, text).
    pub async fn pairs(&self, sql: &str, binds: &[i64]) -> Vec<(i64, String)> {
        self.rows(sql, binds).await
    }
}

/// Runs statements on an app's database behind its back, writing (a
/// fault a test injects): `sqlite` on a SQLite file, `postgres` on
/// PostgreSQL, each possibly several statements.
pub async fn raw_write(t: &TestApp, sqlite: &str, postgres: &str) {
    match &t.app.config.database {
        careminder::config::DatabaseUrl::Sqlite(path) => {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            sqlx::raw_sql(sqlite).execute(&pool).await.unwrap();
            pool.close().await;
        }
        careminder::config::DatabaseUrl::Postgres(url) => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            sqlx::raw_sql(postgres).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

/// A birth on `on` (YYYY-MM-DD) at `place`, of one baby born alive or a
/// stillbirth, discharged the same day.
pub fn birth(on: &str, place: Option<&str>, live: bool) -> careminder::services::care::BirthInput {
    careminder::services::care::BirthInput {
        on: on.into(),
        place: place.map(str::to_string),
        live_birth: live,
        live_born: None,
        discharged_on: None,
    }
}

/// An ID card number with its check character by GB 11643-1999 §8.1
/// (weights 7,9,10,5,8,4,2,1,6,3,7,9,10,5,8,4,2; remainders to
/// "10X98765432"), computed here, apart from the code under test.
pub fn id_card(first17: &str) -> String {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17
        .chars()
        .zip(W)
        .map(|(c, w)| c.to_digit(10).unwrap() * w)
        .sum();
    let check = "10X98765432".chars().nth((sum % 11) as usize).unwrap();
    format!("{first17}{check}")
}
