//! Several processes on one database (`serve` and a `tick` beside it, or
//! several instances): each recurring job's occurrence runs once, and an
//! occurrence whose process died is taken over after its lease; sign-in
//! limits and a gateway's rate limit hold for all of them together.

use crate::helpers::{spawn_app_with, staff};
use careminder::domain::MessageKind;
use careminder::store::DirectMessage;
use careminder::App;
use chrono::Duration;
use std::sync::Arc;

/// A second process's app on the first one's database and clock.
async fn beside(first: &App) -> Arc<App> {
    App::open((*first.config).clone(), first.clock.clone())
        .await
        .expect("second app opens")
}

#[tokio::test]
async fn over_a_week_two_processes_run_each_digest_and_summary_once() {
    let a = spawn_app_with(|_| {}, "2026-12-01 06:00").await;
    staff(
        &a,
        "V001-O1",
        "+8613800000001",
        "officer",
        Some("V001"),
        "T01",
    )
    .await;
    let b = beside(&a.app).await;
    // Both count from their first tick.
    a.app.jobs.run_due_jobs(a.clock.now()).await.unwrap();
    b.jobs.run_due_jobs(a.clock.now()).await.unwrap();

    let (mut ran_a, mut ran_b) = (Vec::new(), Vec::new());
    let end = a.local("2026-12-08 06:00");
    while a.clock.now() < end {
        a.clock.advance(Duration::minutes(30));
        let now = a.clock.now();
        // Both tick at once, as two processes would.
        let (x, y) = tokio::join!(a.app.jobs.run_due_jobs(now), b.jobs.run_due_jobs(now));
        ran_a.extend(x.unwrap());
        ran_b.extend(y.unwrap());
    }
    let all: Vec<_> = ran_a.iter().chain(&ran_b).collect();
    let digests = all.iter().filter(|n| ***n == "digest").count();
    let summaries = all.iter().filter(|n| ***n == "summary").count();
    assert_eq!(digests, 7, "one digest a day: {ran_a:?} / {ran_b:?}");
    assert_eq!(summaries, 1, "one summary a week: {ran_a:?} / {ran_b:?}");
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
    let wait = b.sign_in_limits.wait("V001-O1", "10.0.0.9", now).await;
    assert_eq!(wait.unwrap(), Some(Duration::seconds(30)));
    // Signing in on one process clears the code's failures for all.
    b.sign_in_limits.succeeded("V001-O1").await.unwrap();
    let wait = a.app.sign_in_limits.wait("V001-O1", "10.0.0.9", now).await;
    assert_eq!(wait.unwrap(), None);
    // An hour without failures forgets them: the next failure counts as
    // the first (remembered, it would be the seventh and wait 2 minutes).
    fail("V002-O1", 6, now).await;
    let later = now + Duration::minutes(61);
    fail("V002-O1", 1, later).await;
    let wait = b.sign_in_limits.wait("V002-O1", "10.0.0.9", later).await;
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
