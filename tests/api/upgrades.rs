//! Upgrades: a database written by a newer careminder is refused before
//! it is touched, with a message that says what to do.

use careminder::store::{Store, StoreError};

#[tokio::test]
async fn a_database_newer_than_the_binary_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    Store::open(&db.clone().into()).await.unwrap();
    // A later careminder applied a migration this binary does not know.
    let conn = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time)
         VALUES (99990101000000, 'future', CURRENT_TIMESTAMP, 1, x'00', 0)",
    )
    .execute(&conn)
    .await
    .unwrap();
    conn.close().await;
    let err = Store::open(&db.clone().into()).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Newer {
                found: 99990101000000,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade careminder"), "{err}");
}

#[tokio::test]
async fn reopening_a_database_keeps_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let s = Store::open(&db.clone().into()).await.unwrap();
    s.set_state("probe", "kept").await.unwrap();
    drop(s);
    let s = Store::open(&db.clone().into()).await.unwrap();
    assert_eq!(s.get_state("probe").await.unwrap().as_deref(), Some("kept"));
    s.integrity_check().await.unwrap();
}

/// Every row of every table, by the columns `columns` names for it, in
/// key order: what an upgrade must keep.
async fn snapshot(
    pool: &sqlx::SqlitePool,
    columns: &std::collections::BTreeMap<String, Vec<String>>,
) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut out = std::collections::BTreeMap::new();
    for (table, cols) in columns {
        let expr = cols
            .iter()
            .map(|c| format!("quote(\"{c}\")"))
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        let rows: Vec<String> =
            sqlx::query_scalar(&format!("SELECT {expr} FROM \"{table}\" ORDER BY 1"))
                .fetch_all(pool)
                .await
                .unwrap();
        out.insert(table.clone(), rows);
    }
    out
}

async fn columns(pool: &sqlx::SqlitePool) -> std::collections::BTreeMap<String, Vec<String>> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut out = std::collections::BTreeMap::new();
    for t in tables {
        let cols: Vec<String> =
            sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{t}')"))
                .fetch_all(pool)
                .await
                .unwrap();
        out.insert(t, cols);
    }
    out
}

/// The first released schema (0001, landed 2026-11) with data in every
/// table, migrated to the current one: every record intact, and the
/// service runs on it.
#[tokio::test]
async fn a_database_of_the_first_released_schema_upgrades_with_every_record_intact() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("schema-0001");
    std::fs::create_dir(&first).unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/0001_core.sql"),
        first.join("0001_core.sql"),
    )
    .unwrap();
    let db = dir.path().join("old.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=rwc", db.display()))
        .await
        .unwrap();
    sqlx::migrate::Migrator::new(first.as_path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    let plan = serde_json::to_string(&careminder::domain::careplan::china_bphs_2017()).unwrap();
    sqlx::query("INSERT INTO care_plans (key, definition, builtin, updated_at) VALUES ('china-bphs-2017', ?, 1, 1764540000)")
        .bind(&plan)
        .execute(&pool)
        .await
        .unwrap();
    for sql in [
        "INSERT INTO staff (code, name, phone, role, village, township, created_at) VALUES ('V001-O1', '张医生', '+8613900000001', 'officer', 'V001', 'T01', 1764540000)",
        "INSERT INTO women (name, phone, language, village, officer_code, consent_at, consent_source, consent_by, created_at, updated_at)
         VALUES ('王秀英', '+8613812345678', 'zh-CN', 'V001', 'V001-O1', 1764540000, 'roster', 'admin', 1764540000, 1764540000)",
        "INSERT INTO women (name, phone, language, village, opted_out_at, opted_out_via, created_at, updated_at)
         VALUES ('Amina', '+254712345678', 'en', 'V002', 1764550000, 'sms', 1764540000, 1764550000)",
        "INSERT INTO pregnancies (woman_id, care_plan, lmp, edd, registered_on, plan_from, created_at, updated_at)
         VALUES (1, 'china-bphs-2017', '2026-09-22', '2027-06-29', '2026-12-01', 1764540000, 1764540000, 1764540000)",
        "INSERT INTO visits (pregnancy_id, contact_key, seq, label_zh, label_en, window_start, due_on, window_end)
         VALUES (1, 'anc1', 1, '第1次产前检查', 'first check-up', '2026-12-08', '2026-12-15', '2026-12-22')",
        "INSERT INTO campaigns (key, name, created_at, updated_at) VALUES ('checkup-reminders', 'Check-up reminders', 1764540000, 1764540000)",
        "INSERT INTO campaign_steps (campaign_id, key, anchor, offset_days, send_time, grace_hours) VALUES (1, 'before-3d', 'visit_due', -3, '09:00', 24)",
        "INSERT INTO step_texts (step_id, language, body, updated_at) VALUES (1, 'zh-CN', '{{ name }}您好，检查时间{{ date }}', 1764540000)",
        "INSERT INTO outbox (dedupe_key, woman_id, pregnancy_id, visit_id, step_id, status, send_at, expires_at, attempts,
                             gateway, provider_id, to_addr, body, parts, created_at, updated_at)
         VALUES ('s1.1/v1.1', 1, 1, 1, 1, 'delivered', 1765501200, 1765587600, 1, 'default', 'p-1', '+8613812345678', '王秀英您好', 1, 1764540000, 1765501300)",
        "INSERT INTO outbox (dedupe_key, woman_id, kind, status, send_at, expires_at, body, created_at, updated_at)
         VALUES ('reply:1', 1, 'reply', 'scheduled', 1765501400, 1765587600, '收到', 1765501300, 1765501300)",
        "INSERT INTO inbound (gateway, provider_id, sender, text, received_at, stored_at, woman_id, intent, outcome, processed_at)
         VALUES ('default', 'in-1', '+8613812345678', '1', 1765501350, 1765501350, 1, 'confirm', 'confirmed', 1765501351)",
        "INSERT INTO webhook_events (gateway, event_id, received_at) VALUES ('default', 'ev-1', 1765501350)",
        "INSERT INTO state (key, value) VALUES ('planned_until', '1765600000')",
        "INSERT INTO audit_log (at, actor, action, subject, detail) VALUES (1764540000, 'admin', 'import', 'roster:v.csv', 'created 2')",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    let old_columns = columns(&pool).await;
    let before = snapshot(&pool, &old_columns).await;
    assert!(
        before.values().all(|rows| !rows.is_empty()),
        "every table has data: {before:?}"
    );
    pool.close().await;

    // The current careminder opens it: migrations run, nothing is lost.
    let store = careminder::store::Store::open(&db.clone().into())
        .await
        .unwrap();
    assert_eq!(
        store.applied_schema_version().await.unwrap(),
        Some(careminder::store::schema_version())
    );
    drop(store);
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let after = snapshot(&pool, &old_columns).await;
    assert_eq!(before, after, "every record intact");
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    pool.close().await;

    // And the service runs on it: the unsent reply goes out, nothing twice.
    let config = careminder::Config {
        database: db.clone().into(),
        ..careminder::Config::default()
    };
    let now = careminder::store::from_ts(1765501500);
    let app = careminder::App::open(config, careminder::Clock::manual(now))
        .await
        .unwrap();
    assert_eq!(app.tick().await.failed_stages, 0);
    let sent = app.mock.clone().unwrap().sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].message.body.ends_with("收到"));
}

#[tokio::test]
async fn an_unedited_default_text_is_upgraded_and_an_edited_one_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let config = || careminder::Config {
        database: dir.path().join("c.db").into(),
        ..careminder::Config::default()
    };
    let now = careminder::store::from_ts(1765501500);
    let app = careminder::App::open(config(), careminder::Clock::manual(now))
        .await
        .unwrap();
    let step = |k: &str| {
        let app = app.clone();
        let k = k.to_string();
        async move { app.store.step_id("checkup-reminders", &k).await.unwrap() }
    };
    let (before, missed) = (step("before-3d").await, step("missed-2d").await);
    // As an earlier release left them: one untouched, one edited.
    let old = include_str!("../../message-templates/previous/zh-CN/checkup-3-days-before.txt");
    app.store
        .set_step_text(before, "zh-CN", old, now)
        .await
        .unwrap();
    app.store
        .set_step_text(missed, "zh-CN", "{{ name }}您好，请记得检查。", now)
        .await
        .unwrap();
    app.store.close().await;
    drop(app);

    let app = careminder::App::open(config(), careminder::Clock::manual(now))
        .await
        .unwrap();
    let texts = app.store.step_texts().await.unwrap();
    let text = |id: i64| {
        texts
            .iter()
            .find(|t| t.step_id == id && t.language == "zh-CN")
            .unwrap()
            .body
            .clone()
    };
    assert!(
        text(before).contains("home_visit"),
        "upgraded: {}",
        text(before)
    );
    assert_eq!(text(missed), "{{ name }}您好，请记得检查。", "edited: kept");
}
