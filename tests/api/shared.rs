//! What processes on one database share to coordinate, on both backends:
//! a recurring job's occurrence is taken by one process, a gateway's
//! sending budget is one budget, failed sign-ins are counted together, and
//! state one writes another reads. Each test runs the same steps against a
//! SQLite file and a PostgreSQL database, with several `Store`s open on it
//! as several processes would have.

use crate::postgres::fresh_pg_database;
use careminder::config::DatabaseUrl;
use careminder::store::{Store, StoreError};
use chrono::{DateTime, Duration, TimeZone, Utc};
use futures::future::join_all;

/// `n` stores on one fresh database of each backend: (backend, stores).
async fn on_each_backend(
    label: &str,
    n: usize,
) -> (tempfile::TempDir, Vec<(&'static str, Vec<Store>)>) {
    let dir = tempfile::tempdir().unwrap();
    let file = DatabaseUrl::Sqlite(dir.path().join("shared.db"));
    let pg = DatabaseUrl::Postgres(fresh_pg_database(label).await);
    let mut out = Vec::new();
    for (name, url) in [("sqlite", file), ("postgres", pg)] {
        let mut stores = Vec::new();
        for _ in 0..n {
            stores.push(Store::open(&url).await.expect("store opens"));
        }
        out.push((name, stores));
    }
    (dir, out)
}

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap() + Duration::minutes(minute)
}

/// How many of `stores` claim `job`'s `occurrence` when all ask at once.
async fn winners(stores: &[Store], occurrence: i64, now: i64) -> usize {
    let asks = stores
        .iter()
        .map(|s| s.claim_job("digest", at(occurrence), at(now), at(now + 15)));
    join_all(asks)
        .await
        .into_iter()
        .map(|r| r.expect("claim answers"))
        .filter(|won| *won)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_of_six_takes_each_job_occurrence_on_either_database() {
    let (_dir, backends) = on_each_backend("job_claims", 6).await;
    for (backend, stores) in &backends {
        assert_eq!(winners(stores, 60, 60).await, 1, "{backend}: first ask");
        assert_eq!(
            winners(stores, 60, 70).await,
            0,
            "{backend}: its lease still runs"
        );
        // The process that took it died: after the lease, one other takes it.
        assert_eq!(winners(stores, 60, 80).await, 1, "{backend}: lease passed");
        stores[0].finish_job("digest", at(60)).await.unwrap();
        assert_eq!(
            winners(stores, 60, 600).await,
            0,
            "{backend}: a finished occurrence is never run again"
        );
        assert_eq!(
            winners(stores, 1500, 1500).await,
            1,
            "{backend}: the next day's occurrence"
        );
        stores[1].release_job("digest", at(1500)).await.unwrap();
        assert_eq!(
            winners(stores, 1500, 1501).await,
            1,
            "{backend}: a failed run is claimed again at the next tick"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_share_one_sending_budget_on_either_database() {
    let (_dir, backends) = on_each_backend("budgets", 3).await;
    // 20 parts a second, 2 at once; three processes ask for one part each
    // every 10 ms of simulated time, for 3 s.
    let (period_us, burst) = (50_000, 2);
    for (backend, stores) in &backends {
        let mut sent = 0;
        for step in 0..300 {
            let now_us = 1_000_000_000 + step * 10_000;
            let asks = stores
                .iter()
                .map(|s| s.take_send_budget("sms", 1, period_us, burst, now_us));
            for wait in join_all(asks).await {
                let wait = wait.expect("budget answers");
                if wait == 0 {
                    sent += 1;
                } else {
                    assert!(wait <= period_us, "{backend}: waits {wait} µs");
                }
            }
        }
        // 3 s at 20/s, plus the burst taken at once.
        assert!(
            (60..=62).contains(&sent),
            "{backend}: {sent} parts in 3 s at 20/s across three processes"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_ins_and_state_are_shared_on_either_database() {
    let (_dir, backends) = on_each_backend("sign_ins", 2).await;
    for (backend, stores) in &backends {
        let (a, b) = (&stores[0], &stores[1]);
        a.sign_in_failed("V001-O1", at(0), at(-60)).await.unwrap();
        b.sign_in_failed("V001-O1", at(1), at(-59)).await.unwrap();
        a.sign_in_failed("V001-O1", at(2), at(-58)).await.unwrap();
        assert_eq!(
            b.sign_in_failures("V001-O1").await.unwrap(),
            Some((3, at(2))),
            "{backend}: three failures through two processes"
        );
        // An hour later the count starts again.
        b.sign_in_failed("V001-O1", at(70), at(10)).await.unwrap();
        assert_eq!(
            a.sign_in_failures("V001-O1").await.unwrap(),
            Some((1, at(70))),
            "{backend}: forgotten after an hour"
        );
        a.forget_sign_in_failures("V001-O1").await.unwrap();
        assert_eq!(b.sign_in_failures("V001-O1").await.unwrap(), None);

        a.set_state("token:wechat:wx1", "1764550000 t-1")
            .await
            .unwrap();
        assert_eq!(
            b.get_state("token:wechat:wx1").await.unwrap().as_deref(),
            Some("1764550000 t-1"),
            "{backend}: one process reads the token another stored"
        );
        a.audit(at(3), "admin", "sign_in", "staff:1", "{}")
            .await
            .unwrap();
        b.ping().await.unwrap();
        b.writable(at(4)).await.unwrap();
        assert_eq!(b.claimed_count().await.unwrap(), 0);
        assert_eq!(
            a.applied_schema_version().await.unwrap(),
            Some(careminder::store::schema_version()),
            "{backend}: migrated to this binary's schema"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_county_of_100000_moved_with_migrate_to_is_then_served_from_postgres() {
    // A county on SQLite: 100,000 women, 400 of them with a check-up
    // reminder tomorrow, planned this morning.
    let t = crate::helpers::spawn_app_with(|_| {}, "2026-12-01 07:00").await;
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    let day = (t.local("2026-12-02 00:00"), t.local("2026-12-03 00:00"));
    let csv = careminder::bench::roster_with_due(&t.app, 100_000, 400, today, day)
        .await
        .unwrap();
    let report = t.import_csv(csv, "roster.csv").await.unwrap();
    assert_eq!(report.created, 100_000);
    t.tick().await;
    let path = t.app.config.database.sqlite_path().unwrap().to_path_buf();
    let lite = Store::open(&DatabaseUrl::Sqlite(path.clone()))
        .await
        .unwrap();
    let planned = lite
        .list_outbox(&careminder::store::OutboxFilter {
            status: Some("scheduled".into()),
            woman_id: None,
            from: None,
            limit: 1_000_000,
        })
        .await
        .unwrap();
    lite.close().await;
    let noon = t.local("2026-12-02 12:00");
    let ids_until = |until: DateTime<Utc>| -> std::collections::BTreeSet<i64> {
        planned
            .iter()
            .filter(|m| m.send_at <= until)
            .map(|m| m.id)
            .collect()
    };
    // Tomorrow morning's reminders must go; nothing else may but what was
    // planned to go by noon (today's, if any, within their grace).
    let morning: std::collections::BTreeSet<i64> = planned
        .iter()
        .filter(|m| m.send_at > day.0 && m.send_at <= noon)
        .map(|m| m.id)
        .collect();
    let may_go = ids_until(noon);
    assert!(morning.len() >= 400, "{}", morning.len());
    let config = (*t.app.config).clone();
    // The service stops (its file stays until the test ends).
    t.app.store.close().await;

    let url = fresh_pg_database("county").await;
    let out = crate::postgres::migrate_to(&path, &url);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("every table's count is equal"), "{stdout}");
    assert!(stdout.contains("women"), "{stdout}");

    // The service, now on PostgreSQL, sends tomorrow what was planned on
    // SQLite, each message once under the id it was planned with.
    let clock = careminder::Clock::manual(day.0);
    let app = careminder::App::open(
        careminder::Config {
            database: DatabaseUrl::Postgres(url),
            ..config
        },
        clock.clone(),
    )
    .await
    .unwrap();
    assert_eq!(app.store.count_women().await.unwrap(), 100_000);
    clock.set(noon);
    let r = app.tick().await;
    assert_eq!(r.failed_stages, 0);
    let mock = app.mock.clone().unwrap();
    let sent: std::collections::BTreeSet<i64> = mock.sent().iter().map(|m| m.message.id).collect();
    assert_eq!(mock.sent().len(), sent.len(), "each sent once");
    assert!(
        sent.is_superset(&morning),
        "every reminder due this morning sent"
    );
    assert!(
        sent.is_subset(&may_go),
        "nothing sent that was not planned to go"
    );
    assert_eq!(mock.duplicates(), 0);
    app.store.close().await;
}

/// Claims and records batches until nothing is due: the ids it took, and
/// how many it found past their grace.
async fn claimer(store: Store, now: DateTime<Utc>) -> (Vec<i64>, u64) {
    let (mut took, mut expired) = (Vec::new(), 0);
    loop {
        let (batch, past) = store
            .claim_due(now, now + Duration::minutes(5), 25, true)
            .await
            .expect("claims");
        expired += past;
        if batch.is_empty() {
            return (took, expired);
        }
        let results: Vec<_> = batch
            .iter()
            .map(|m| crate::delivery::accepted(m, &format!("p-{}", m.id)))
            .collect();
        store
            .record_results(&results, now, careminder::store::Flush::Yes)
            .await
            .expect("records");
        took.extend(batch.iter().map(|m| m.id));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_claim_each_due_message_once_on_either_database() {
    // A day of reminders planned on SQLite, then moved to PostgreSQL: both
    // databases start from the same outbox.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("county.db");
    let config = careminder::Config {
        database: file.clone().into(),
        ..careminder::Config::default()
    };
    let tz = config.timezone;
    let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
    let local =
        |h| careminder::domain::schedule::local_to_utc(tz, day.and_hms_opt(h, 0, 0).unwrap());
    let planned = crate::crash::plan_a_day(config, local(0), 600, local(1), local(23)).await;
    let pg = fresh_pg_database("claims").await;
    let moved = crate::postgres::migrate_to(&file, &pg);
    assert!(moved.status.success(), "{moved:?}");

    let now = local(23);
    for (backend, url) in [
        ("sqlite", DatabaseUrl::Sqlite(file)),
        ("postgres", DatabaseUrl::Postgres(pg)),
    ] {
        let mut stores = Vec::new();
        for _ in 0..4 {
            stores.push(Store::open(&url).await.unwrap());
        }
        let runs = stores.iter().map(|s| tokio::spawn(claimer(s.clone(), now)));
        let (took, expired): (Vec<Vec<i64>>, Vec<u64>) =
            join_all(runs).await.into_iter().map(|r| r.unwrap()).unzip();
        let expired: u64 = expired.iter().sum();
        let all: Vec<i64> = took.concat();
        let once: std::collections::HashSet<i64> = all.iter().copied().collect();
        assert_eq!(once.len(), all.len(), "{backend}: a message claimed twice");
        // Each due message was claimed once, or found past its grace.
        assert!(
            once.len() as u64 + expired >= planned,
            "{backend}: {} of {planned} planned were claimed, {expired} expired",
            once.len()
        );
        assert!(once.len() > 100, "{backend}: {} claimed", once.len());
        println!(
            "{backend}: claimed by four processes {:?}, {expired} past their grace",
            took.iter().map(Vec::len).collect::<Vec<_>>()
        );
        let counts = stores[0].status_counts(None).await.unwrap();
        let accepted = counts
            .iter()
            .find(|c| c.status == careminder::domain::MessageStatus::Accepted)
            .map(|c| c.count);
        assert_eq!(accepted, Some(all.len() as i64), "{backend}: {counts:?}");
        assert_eq!(stores[1].claimed_count().await.unwrap(), 0, "{backend}");

        // Receipts, through another process: applied once, forward only.
        let report = |id: i64, status| careminder::domain::StatusReport {
            message_id: id,
            status,
            reason: None,
            at: now,
            gateway: Some("default".into()),
        };
        use careminder::domain::ReportedStatus::{Delivered, Sent};
        let items: Vec<_> = all[..10]
            .iter()
            .map(|id| {
                (
                    Some(("mock".to_string(), format!("e-{id}"))),
                    report(*id, Delivered),
                )
            })
            .collect();
        let fresh = stores[2].apply_receipts(&items, now).await.unwrap();
        assert!(fresh.iter().all(|f| *f), "{backend}");
        let again = stores[3].apply_receipts(&items, now).await.unwrap();
        assert!(
            again.iter().all(|f| !*f),
            "{backend}: envelope ids seen before"
        );
        // A late "sent" never undoes "delivered".
        let changed = stores[3]
            .apply_status_reports(&[report(all[0], Sent), report(all[10], Sent)])
            .await
            .unwrap();
        assert_eq!(changed, 1, "{backend}");
        let counts = stores[0].status_counts(None).await.unwrap();
        let of = |s| counts.iter().find(|c| c.status == s).map(|c| c.count);
        assert_eq!(
            of(careminder::domain::MessageStatus::Delivered),
            Some(10),
            "{backend}"
        );
        assert_eq!(
            of(careminder::domain::MessageStatus::Sent),
            Some(1),
            "{backend}"
        );
        // A claim long finished renews nothing.
        let stale = stores[0]
            .renew_leases(&[(all[0], 1)], now + Duration::minutes(5))
            .await
            .unwrap();
        assert_eq!(stale, 0, "{backend}");
    }
}

#[tokio::test]
async fn staff_and_rejected_callbacks_are_kept_alike_on_either_database() {
    let (_dir, backends) = on_each_backend("staff", 2).await;
    for (backend, stores) in &backends {
        let (a, b) = (&stores[0], &stores[1]);
        let officer = careminder::store::NewStaff {
            code: "V001-O1".into(),
            name: "王医生".into(),
            phone: Some(
                careminder::domain::Phone::parse(
                    "13700000001",
                    careminder::Config::default().region(),
                )
                .unwrap(),
            ),
            role: careminder::domain::Role::Officer,
            language: careminder::domain::Language::ZhCn,
            village: Some("V001".into()),
            township: Some("T01".into()),
            wecom_userid: None,
        };
        let id = a.add_staff(&officer, at(0)).await.unwrap();
        match b.add_staff(&officer, at(1)).await {
            Err(StoreError::Conflict(why)) => assert!(why.contains("V001-O1"), "{why}"),
            other => panic!("{backend}: a second V001-O1: {other:?}"),
        }
        b.set_staff_language(id, careminder::domain::Language::En)
            .await
            .unwrap();
        let by_code = a.staff_by_code("V001-O1").await.unwrap().unwrap();
        assert_eq!(
            (by_code.id, by_code.name.as_str(), by_code.language),
            (id, "王医生", careminder::domain::Language::En),
            "{backend}"
        );
        let by_phone = b.staff_by_phone("+8613700000001").await.unwrap().unwrap();
        assert_eq!(
            by_phone.role,
            careminder::domain::Role::Officer,
            "{backend}"
        );
        assert_eq!(a.staff_list().await.unwrap().len(), 1, "{backend}");

        // A callback that could not be read keeps its bytes, whatever they are.
        let body = b"<xml>\x00\xff\t\\</xml>";
        let kept = a
            .keep_rejected_webhook("wechat", "malformed XML", body, at(2))
            .await
            .unwrap();
        let rejects = b.rejected_webhooks(10).await.unwrap();
        assert_eq!(rejects.len(), 1, "{backend}");
        assert_eq!(
            (rejects[0].0, rejects[0].3.as_slice(), rejects[0].4),
            (kept, &body[..], at(2).timestamp()),
            "{backend}"
        );
        assert_eq!(
            a.purge_rejected_webhooks(at(2) + Duration::days(31))
                .await
                .unwrap(),
            1,
            "{backend}"
        );
    }
}

#[tokio::test]
async fn care_plans_are_seeded_and_kept_alike_on_either_database() {
    let (_dir, backends) = on_each_backend("plans", 2).await;
    for (backend, stores) in &backends {
        let (a, b) = (&stores[0], &stores[1]);
        // Seeding twice (two processes starting) keeps one of each.
        a.seed_builtin_plans(at(0)).await.unwrap();
        b.seed_builtin_plans(at(1)).await.unwrap();
        let builtin = careminder::domain::careplan::builtin_plans();
        let plans = b.plans().await.unwrap();
        assert_eq!(plans.len(), builtin.len(), "{backend}");
        assert!(plans.iter().all(|(_, is_builtin)| *is_builtin), "{backend}");
        // An administrator's plan is added and replaced; a built-in one is not.
        let mut mine = builtin[0].clone();
        mine.key = "county-monthly".into();
        a.save_plan(&mine, at(2)).await.unwrap();
        a.save_plan(&mine, at(3)).await.unwrap();
        assert_eq!(
            b.plan("county-monthly").await.unwrap().key,
            "county-monthly"
        );
        match b.save_plan(&builtin[0], at(4)).await {
            Err(StoreError::Conflict(why)) => assert!(why.contains("built-in"), "{why}"),
            other => panic!("{backend}: replacing a built-in plan: {other:?}"),
        }
        let plans = a.plans().await.unwrap();
        assert_eq!(plans.len(), builtin.len() + 1, "{backend}");
        assert_eq!(
            plans.last().map(|(p, b)| (p.key.as_str(), *b)),
            Some(("county-monthly", false)),
            "{backend}: built-in plans first"
        );
    }
}
