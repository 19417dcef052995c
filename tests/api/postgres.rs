//! PostgreSQL: its schema is the twin of SQLite's, and `migrate-to` moves a
//! county's database into it with every row and id. Each test makes its own
//! database beside the run's throwaway one (scripts/test.sh starts
//! PostgreSQL, creates it and names it in CAREMINDER_TEST_PG); without it
//! these tests fail, they never skip.

use crate::helpers::spawn_app_with;
use careminder::config::DatabaseUrl;
use careminder::store::NewInbound;
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use sqlx::Row;
use std::collections::BTreeSet;
use std::process::Command;

/// A new, empty PostgreSQL database for one test; its URL.
pub(crate) async fn fresh_pg_database(label: &str) -> String {
    let base = std::env::var("CAREMINDER_TEST_PG").expect(
        "CAREMINDER_TEST_PG must name a PostgreSQL database for the tests: \
         run scripts/test.sh, which starts PostgreSQL and creates one",
    );
    let admin = PgPool::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at CAREMINDER_TEST_PG: {e}"));
    let (prefix, run_db) = base.rsplit_once('/').expect("a database URL");
    let run_db = run_db.split('?').next().unwrap_or(run_db);
    let name = format!("{run_db}_{label}");
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    format!("{prefix}/{name}")
}

async fn sqlite_pool(path: &std::path::Path) -> SqlitePool {
    SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap()
}

async fn sqlite_tables(db: &SqlitePool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(db)
    .await
    .unwrap()
}

#[tokio::test]
async fn postgres_schema_is_the_twin_of_sqlite_at_the_same_version() {
    let versions = |m: &sqlx::migrate::Migrator| m.iter().map(|m| m.version).collect::<Vec<_>>();
    assert_eq!(
        versions(&careminder::store::postgres::MIGRATOR),
        versions(&careminder::store::MIGRATOR),
        "every SQLite migration has a PostgreSQL twin with its version"
    );

    let url = fresh_pg_database("twin").await;
    let pg = careminder::store::postgres::open(&url, 1).await.unwrap();
    pg.close().await;
    // Applied from empty; opening again finds nothing left to apply.
    let pg = careminder::store::postgres::open(&url, 1).await.unwrap();
    assert_eq!(
        careminder::store::postgres::applied_schema_version(&pg)
            .await
            .unwrap(),
        Some(careminder::store::schema_version())
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("twin.db");
    let store = careminder::store::Store::open(&DatabaseUrl::Sqlite(path.clone()))
        .await
        .unwrap();
    store.close().await;
    let lite = sqlite_pool(&path).await;

    // Tables, columns and which columns may be empty.
    let mut sqlite_columns = BTreeSet::new();
    for table in sqlite_tables(&lite).await {
        for c in sqlx::query(&format!("PRAGMA table_info({table})"))
            .fetch_all(&lite)
            .await
            .unwrap()
        {
            let name: String = c.get("name");
            let required = c.get::<i64, _>("notnull") == 1 || c.get::<i64, _>("pk") > 0;
            sqlite_columns.insert((table.clone(), name, required));
        }
    }
    let pg_columns: BTreeSet<(String, String, bool)> = sqlx::query(
        "SELECT table_name::text, column_name::text, is_nullable = 'NO' AS required \
         FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(&pg)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect();
    assert_eq!(pg_columns, sqlite_columns);

    // The indexes a migration creates, and the triggers that write each
    // message's status history.
    let sqlite_named = |kind: &'static str| {
        let lite = lite.clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "SELECT name FROM sqlite_master WHERE type = ?1 AND sql IS NOT NULL",
            )
            .bind(kind)
            .fetch_all(&lite)
            .await
            .unwrap()
            .into_iter()
            .collect::<BTreeSet<_>>()
        }
    };
    let pg_indexes: BTreeSet<String> = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE schemaname = current_schema() \
         AND indexname NOT IN (SELECT conname FROM pg_constraint)",
    )
    .fetch_all(&pg)
    .await
    .unwrap()
    .into_iter()
    .collect();
    assert_eq!(pg_indexes, sqlite_named("index").await);
    let pg_triggers: BTreeSet<String> =
        sqlx::query_scalar("SELECT tgname::text FROM pg_trigger WHERE NOT tgisinternal")
            .fetch_all(&pg)
            .await
            .unwrap()
            .into_iter()
            .collect();
    assert_eq!(pg_triggers, sqlite_named("trigger").await);
}

/// `careminder --db SQLITE migrate-to URL`, as an operator runs it.
pub(crate) fn migrate_to(sqlite: &std::path::Path, url: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_careminder"))
        .arg("--db")
        .arg(sqlite)
        .args(["migrate-to", url])
        .output()
        .unwrap()
}

#[tokio::test]
async fn migrate_to_moves_a_county_with_its_ids_and_refuses_a_database_with_data() {
    // A county with history: staff, the demo cohort, a morning of
    // reminders sent and delivered, replies (one with a tab, a backslash
    // and a line break), and a rejected callback's raw bytes.
    let t = spawn_app_with(|_| {}, "2026-12-01 07:30").await;
    careminder::demo::seed(&t.app).await.unwrap();
    careminder::demo::accounts(&t.app).await.unwrap();
    t.run_until("2026-12-01 12:00", chrono::Duration::minutes(30))
        .await;
    careminder::demo::play_replies(&t.app).await.unwrap();
    t.app
        .inbound
        .receive(NewInbound {
            gateway: "mock".into(),
            provider_id: "tricky-1".into(),
            sender: "+8613900001111".into(),
            text: "第一行\t制表\\反斜杠\n第二行".into(),
            received_at: t.app.clock.now(),
        })
        .await
        .unwrap();
    let raw: &[u8] = &[0, 255, b'\\', b'\t', b'\n', 0x80];
    t.app
        .store
        .keep_rejected_webhook("wechat", "not XML", raw, t.app.clock.now())
        .await
        .unwrap();
    let path = t.app.config.database.sqlite_path().unwrap().to_path_buf();
    let url = fresh_pg_database("migrate_to").await;
    // The service stops first: migrate-to refuses a file another process
    // still has open.
    t.app.store.close().await;
    until_closed(&path).await;

    let out = migrate_to(&path, &url);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("every table's count is equal"), "{stdout}");

    let lite = sqlite_pool(&path).await;
    let pg = PgPool::connect(&url).await.unwrap();
    for table in sqlite_tables(&lite).await {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let here: i64 = sqlx::query_scalar(&sql).fetch_one(&lite).await.unwrap();
        let there: i64 = sqlx::query_scalar(&sql).fetch_one(&pg).await.unwrap();
        assert_eq!(there, here, "{table}");
    }
    let outbox_sql = "SELECT id, dedupe_key, status FROM outbox ORDER BY id";
    let outbox_here: Vec<(i64, String, String)> =
        sqlx::query_as(outbox_sql).fetch_all(&lite).await.unwrap();
    let outbox_there: Vec<(i64, String, String)> =
        sqlx::query_as(outbox_sql).fetch_all(&pg).await.unwrap();
    assert!(outbox_here.iter().any(|(_, _, s)| s == "delivered"));
    assert_eq!(outbox_there, outbox_here, "every message keeps its id");

    let text: String =
        sqlx::query_scalar("SELECT text FROM inbound WHERE provider_id = 'tricky-1'")
            .fetch_one(&pg)
            .await
            .unwrap();
    assert_eq!(text, "第一行\t制表\\反斜杠\n第二行");
    let body: Vec<u8> = sqlx::query_scalar("SELECT body FROM webhook_rejects")
        .fetch_one(&pg)
        .await
        .unwrap();
    assert_eq!(body, raw);
    let builtin_here: Vec<String> =
        sqlx::query_scalar("SELECT key FROM care_plans WHERE builtin = 1 ORDER BY key")
            .fetch_all(&lite)
            .await
            .unwrap();
    let builtin_there: Vec<String> =
        sqlx::query_scalar("SELECT key FROM care_plans WHERE builtin ORDER BY key")
            .fetch_all(&pg)
            .await
            .unwrap();
    assert!(!builtin_here.is_empty());
    assert_eq!(builtin_there, builtin_here, "flags arrive as booleans");

    // The status history was copied, not written again by the triggers,
    // and the triggers write it again from here on.
    let (id, _, _) = outbox_there.last().unwrap();
    let events = |pg: PgPool, id: i64| async move {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM outbox_events WHERE outbox_id = $1")
            .bind(id)
            .fetch_one(&pg)
            .await
            .unwrap()
    };
    let before = events(pg.clone(), *id).await;
    sqlx::query("UPDATE outbox SET status = 'cancelled' WHERE id = $1 AND status <> 'cancelled'")
        .bind(id)
        .execute(&pg)
        .await
        .unwrap();
    let after = events(pg.clone(), *id).await;
    let changed = outbox_there.last().unwrap().2 != "cancelled";
    assert_eq!(after, before + i64::from(changed));
    // A new row gets the id after the last one copied.
    let last: i64 = sqlx::query_scalar("SELECT MAX(id) FROM audit_log")
        .fetch_one(&lite)
        .await
        .unwrap();
    let next: i64 = sqlx::query_scalar(
        "INSERT INTO audit_log (at, actor, action) VALUES (0, 'test', 'probe') RETURNING id",
    )
    .fetch_one(&pg)
    .await
    .unwrap();
    assert_eq!(next, last + 1);
    lite.close().await;
    // SQLite's connection threads close their files just after the pool
    // says it closed: migrate-to refuses a file a process holds open.
    until_closed(&path).await;

    // A database that holds data is never filled again.
    let again = migrate_to(&path, &url);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success());
    assert!(stderr.contains("already holds data"), "{stderr}");
    // Its password never reaches the terminal.
    assert!(!stdout.contains(":careminder_test@"), "{stdout}");
}

/// On PostgreSQL `backup` runs pg_dump with the configured URL; its
/// password goes through PGPASSWORD, never onto a command line or the
/// terminal.
#[test]
fn backup_on_postgres_runs_pg_dump_and_keeps_the_password_out_of_sight() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("never-written.backup");
    let out = Command::new(env!("CARGO_BIN_EXE_careminder"))
        .args([
            "--db",
            "postgres://care:s3cret@127.0.0.1:1/county",
            "backup",
        ])
        .arg(&dest)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("pg_dump"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
    assert!(!dest.exists(), "a failed backup leaves no file");
}

/// Waits until this process holds `path` open no longer (checked in
/// /proc/self/fd, as `migrate-to` checks every process), at most 5 s.
async fn until_closed(path: &std::path::Path) {
    let held = || {
        std::fs::read_dir("/proc/self/fd")
            .map(|fds| {
                fds.filter_map(|e| e.ok())
                    .filter_map(|e| std::fs::read_link(e.path()).ok())
                    .any(|target| target == path)
            })
            .unwrap_or(false)
    };
    for _ in 0..500 {
        if !held() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{} is still open in this process", path.display());
}
