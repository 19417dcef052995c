//! Several processes on one database (`serve` and a `tick` beside it, or
//! several instances): each occurrence of a recurring job or broadcast
//! runs once, and an occurrence whose process died is taken over after its lease; sign-in
//! limits and a gateway's rate limit hold for all of them together.

use crate::helpers::{spawn_app_on_postgres, spawn_app_with, staff, woman};
use careminder::domain::MessageKind;
use careminder::services::broadcasts::NewBroadcast;
use careminder::store::Audience;
use careminder::store::DirectMessage;
use careminder::App;
use chrono::Duration;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The daily broadcast's mark.
const MARK: &str = "今天免费量血压";

/// A second process's app on the first one's database and clock.
async fn beside(first: &App) -> Arc<App> {
    App::open((*first.config).clone(), first.clock.clone())
        .await
        .expect("second app opens")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_a_week_three_processes_run_each_job_and_broadcast_occurrence_once() {
    let a = spawn_app_with(|c| c.outreach.max_per_week = 20, "2026-12-01 06:00").await;
    staff(
        &a,
        "V001-O1",
        "+8613800000001",
        "officer",
        Some("V001"),
        "T01",
    )
    .await;
    let mut her = woman("甲", "13800000011", "2026-07-18");
    her.village = Some("V001".into());
    a.app.care.enroll(&her, "test", "test").await.unwrap();
    // Every day at 09:00, from tomorrow.
    let (id, _) = a
        .app
        .broadcasts
        .create(
            &NewBroadcast {
                name: "daily".into(),
                audience: Audience {
                    villages: vec!["V001".into()],
                    ..Default::default()
                },
                texts: BTreeMap::from([("zh-CN".to_string(), format!("{MARK}，回复TD退订"))]),
                send_at: a.local("2026-12-02 08:00"),
                cron: Some("0 0 9 * * *".into()),
                grace_hours: None,
                sms_templates: vec![],
            },
            "admin",
        )
        .await
        .unwrap();
    a.app.broadcasts.publish(id, "admin").await.unwrap();
    let b = beside(&a.app).await;
    let c = beside(&a.app).await;
    let apps = [a.app.clone(), b, c];
    // All count from their first tick.
    for app in &apps {
        app.jobs.run_due_jobs(a.clock.now()).await.unwrap();
    }

    let mut ran: Vec<Vec<&str>> = vec![Vec::new(); 3];
    let end = a.local("2026-12-08 06:00");
    while a.clock.now() < end {
        a.clock.advance(Duration::minutes(30));
        let now = a.clock.now();
        // All three tick at once, as three processes would: jobs, then
        // planning and sending.
        let (x, y, z) = tokio::join!(
            apps[0].jobs.run_due_jobs(now),
            apps[1].jobs.run_due_jobs(now),
            apps[2].jobs.run_due_jobs(now)
        );
        for (i, r) in [x, y, z].into_iter().enumerate() {
            ran[i].extend(r.unwrap());
        }
        let (x, y, z) = tokio::join!(apps[0].tick(), apps[1].tick(), apps[2].tick());
        assert_eq!(x.failed_stages + y.failed_stages + z.failed_stages, 0);
    }
    let all: Vec<&str> = ran.concat();
    let count = |job| all.iter().filter(|n| **n == job).count();
    assert_eq!(count("digest"), 7, "one digest a day: {ran:?}");
    assert_eq!(count("summary"), 1, "one summary a week: {ran:?}");
    // Each day's broadcast reached her once, whichever process sent it.
    let mut days: Vec<String> = apps
        .iter()
        .flat_map(|app| app.mock.as_ref().expect("mock").sent())
        .filter(|m| m.message.to == "+8613800000011" && m.message.body.contains(MARK))
        .map(|m| a.fmt(m.at))
        .collect();
    days.sort();
    assert_eq!(
        days,
        [
            "2026-12-02 09:00",
            "2026-12-03 09:00",
            "2026-12-04 09:00",
            "2026-12-05 09:00",
            "2026-12-06 09:00",
            "2026-12-07 09:00"
        ],
        "each occurrence once"
    );
}

#[tokio::test]
async fn an_occurrence_claimed_by_a_process_that_died_is_run_after_its_lease() {
    let a = spawn_app_with(|_| {}, "2026-12-01 06:00").await;
    a.app.jobs.run_due_jobs(a.clock.now()).await.unwrap();
    let due = a.local("2026-12-01 08:00");
    a.at("2026-12-01 08:05");
    // A process claimed today's digest, then was killed.
    let now = a.clock.now();
    assert!(a
        .app
        .store
        .claim_job("job:digest:last_run", due, now, now + Duration::minutes(15))
        .await
        .unwrap());
    let b = beside(&a.app).await;
    assert!(
        b.jobs.run_due_jobs(now).await.unwrap().is_empty(),
        "its lease still holds"
    );
    a.at("2026-12-01 08:25");
    assert_eq!(
        b.jobs.run_due_jobs(a.clock.now()).await.unwrap(),
        ["digest"],
        "taken over once the lease passed"
    );
    assert!(a
        .app
        .jobs
        .run_due_jobs(a.clock.now())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn sign_in_failures_counted_by_one_process_slow_the_next_try_on_another() {
    let a = spawn_app_with(|_| {}, "2026-12-01 09:00").await;
    let b = beside(&a.app).await;
    let now = a.clock.now();
    let fail = |code: &'static str, times: usize, at| {
        let limits = a.app.sign_in_limits.clone();
        async move {
            for _ in 0..times {
                limits.failed(code, "10.0.0.7", at).await.unwrap();
            }
        }
    };
    fail("V001-O1", 5, now).await;
    // The sixth try on that code waits, whichever process it reaches.
    let wait = b.sign_in_limits.wait("V001-O1", now).await;
    assert_eq!(wait.unwrap(), Some(Duration::seconds(30)));
    // Signing in on one process clears the code's failures for all.
    b.sign_in_limits.succeeded("V001-O1").await.unwrap();
    let wait = a.app.sign_in_limits.wait("V001-O1", now).await;
    assert_eq!(wait.unwrap(), None);
    // An hour without failures forgets them: the next failure counts as
    // the first (remembered, it would be the seventh and wait 2 minutes).
    fail("V002-O1", 6, now).await;
    let later = now + Duration::minutes(61);
    fail("V002-O1", 1, later).await;
    let wait = b.sign_in_limits.wait("V002-O1", later).await;
    assert_eq!(wait.unwrap(), None);
}

/// Parts per second the rate-limit test's gateway takes.
const RATE: f64 = 20.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_keep_together_to_one_gateways_rate_limit() {
    let a = spawn_app_with(
        |c| {
            c.gateway.rate_per_second = RATE;
            c.gateway.max_parts = 1;
            c.dispatcher.batch_size = 20;
        },
        "2026-12-01 10:00",
    )
    .await;
    let (b, c) = (beside(&a.app).await, beside(&a.app).await);
    let now = a.clock.now();
    let messages = 60;
    for n in 0..messages {
        a.app
            .store
            .enqueue_direct(
                &DirectMessage {
                    dedupe_key: format!("rate-test:{n}"),
                    kind: MessageKind::Reply,
                    woman_id: None,
                    staff_id: None,
                    to_addr: Some(format!("+86139000{n:05}")),
                    body: "OK".into(),
                    in_reply_to: None,
                    send_at: now,
                    expires_at: now + Duration::hours(1),
                },
                now,
            )
            .await
            .unwrap();
    }
    let mocks = [
        a.mock.clone(),
        b.mock.clone().unwrap(),
        c.mock.clone().unwrap(),
    ];
    let sent = || mocks.iter().map(|m| m.sent().len()).sum::<usize>();
    // The real clock: a provider's limit is in real seconds. Each process
    // alone would send its 20 in about a second; together they must take
    // about three.
    let started = std::time::Instant::now();
    while sent() < messages {
        let (x, y, z) = tokio::join!(a.app.tick(), b.tick(), c.tick());
        assert_eq!(x.failed_stages + y.failed_stages + z.failed_stages, 0);
    }
    let took = started.elapsed().as_secs_f64();
    let floor = (messages as f64 - 1.0) / RATE;
    assert!(
        took >= floor * 0.9,
        "{messages} parts in {took:.2} s: faster than {RATE}/s across the processes"
    );
    assert!(
        mocks.iter().filter(|m| !m.sent().is_empty()).count() >= 2,
        "the processes shared the sending"
    );
}

/// Whether `app`'s scheduler is woken within `within` (a real wait for an
/// event, not for time to pass).
async fn woken_within(app: &App, within: std::time::Duration) -> bool {
    tokio::time::timeout(within, app.wake.woken()).await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_a_registration_on_one_instance_wakes_the_others_at_once() {
    let a = spawn_app_on_postgres("wake").await;
    let b = beside(&a.app).await;
    let c = beside(&a.app).await;
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    for app in [&a.app, &b, &c] {
        tokio::spawn(careminder::scheduler::relay_wakeups(
            app.store.clone(),
            app.wake.clone(),
            stopped.clone(),
        ));
    }
    // Until the others listen, an announcement reaches no one: wake the
    // first until both have heard one, then let stray ones drain.
    for app in [&b, &c] {
        let mut heard = false;
        for _ in 0..100 {
            a.app.wake.wake();
            if woken_within(app, std::time::Duration::from_millis(100)).await {
                heard = true;
                break;
            }
        }
        assert!(heard, "an instance never heard the first's wake-ups");
    }
    for app in [&b, &c] {
        while woken_within(app, std::time::Duration::from_millis(300)).await {}
    }

    // A registration taken by the first wakes the other two.
    a.enroll("甲", "13800000011", "2026-07-18").await;
    for app in [&b, &c] {
        assert!(
            woken_within(app, std::time::Duration::from_secs(10)).await,
            "a registration on one instance did not wake another"
        );
    }
    // And a wake-up on another reaches the first.
    while woken_within(&a.app, std::time::Duration::from_millis(300)).await {}
    c.wake.wake();
    assert!(woken_within(&a.app, std::time::Duration::from_secs(10)).await);
}

/// A second instance joining a database whose live instance sends in
/// another zone and window would send at hours the county forbade: it is
/// refused, told each setting that differs with both values. The same
/// settings join; once the first has left, the new settings may.
#[tokio::test]
async fn an_instance_with_another_zone_and_window_is_refused_naming_each_setting() {
    let t = crate::helpers::spawn_app().await;
    let first = t.app.join_instances().await.unwrap();
    let mut other = (*t.app.config).clone();
    other.timezone = chrono_tz::Asia::Urumqi;
    other.send_window = "09:00-21:00".parse().unwrap();
    let second = App::open(other, t.clock.clone()).await.unwrap();
    let err = second
        .join_instances()
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("timezone is \"Asia/Shanghai\" there and \"Asia/Urumqi\" here"),
        "{err}"
    );
    assert!(
        err.contains("send_window is \"08:00-20:00\" there and \"09:00-21:00\" here"),
        "{err}"
    );
    // A `tick` with those settings is refused as well.
    assert!(second.agrees_with_instances().await.is_err());

    let same = beside(&t.app).await.join_instances().await.unwrap();
    first.leave().await;
    same.leave().await;
    second.join_instances().await.unwrap().leave().await;
}
