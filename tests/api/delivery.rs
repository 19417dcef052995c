//! Sending: once and only once, retries that back off, permanent failures,
//! expiry instead of lateness, and the status trail of each message.

use crate::helpers::*;
use careminder::gateway::{Gateway, MockFailure, OutgoingMessage};
use careminder::store::Flush;
use chrono::Duration;

const PHONE: &str = "+8613812345678";

/// One woman whose first reminder (anc1, 3 days before) is due 2026-12-12 09:00.
async fn one_woman() -> (TestApp, i64) {
    let t = spawn_app().await;
    let out = t.enroll("王秀英", "13812345678", "2026-09-22").await;
    (t, out.woman_id())
}

/// At 09:00 on the reminder's day, a worker plans and claims (lease 5
/// minutes), as the dispatcher would, and then does nothing more.
async fn claim_at_nine(t: &TestApp) -> Vec<careminder::store::ClaimedMessage> {
    t.at("2026-12-12 09:00");
    t.app.planner.run(t.clock.now()).await.unwrap();
    let now = t.clock.now();
    let (claimed, _) = t
        .app
        .store
        .claim_due(now, now + Duration::minutes(5), 10, true)
        .await
        .unwrap();
    claimed
}

/// Hands a claimed message to the mock gateway, as a worker would just before dying.
async fn hand_over(t: &TestApp, m: &careminder::store::ClaimedMessage) {
    let out = OutgoingMessage {
        sms_template: None,
        id: m.id,
        to: m.phone.clone().unwrap(),
        body: "x".into(),
        attempt: 1,
        template: None,
    };
    t.mock.send(&out).await;
}

#[tokio::test]
async fn planning_and_dispatching_twice_sends_each_message_once() {
    let (t, _) = one_woman().await;
    t.at("2026-12-12 09:00");
    let first = t.tick().await;
    assert_eq!(first.dispatch.handed_over, 1);
    let second = t.tick().await;
    assert_eq!((second.plan.planned, second.dispatch.claimed), (0, 0));
    // Planning everything already planned again writes nothing new.
    let now = t.clock.now();
    let until = t.app.store.planned_until().await.unwrap().unwrap();
    let again = t
        .app
        .planner
        .plan_range(now - Duration::days(30), until, None, now)
        .await
        .unwrap();
    assert_eq!(again.planned, 0);
    assert!(again.considered > 0);
    assert_eq!(t.sent_to(PHONE).len(), 1);
}

#[tokio::test]
async fn a_worker_dying_between_claim_and_record_loses_nothing_and_sends_once() {
    let (t, _) = one_woman().await;
    // A worker claims the message, hands it to the gateway, and dies before recording.
    let claimed = claim_at_nine(&t).await;
    assert_eq!(claimed.len(), 1);
    let m = &claimed[0];
    hand_over(&t, m).await;
    // Its delivery receipts have not come back yet.
    let _ = t.mock.take_reports();
    // While the lease holds, nobody else takes it.
    t.at("2026-12-12 09:04");
    assert_eq!(t.tick().await.dispatch.claimed, 0);
    // After the lease, it comes back exactly once; the gateway de-duplicates on our id.
    t.at("2026-12-12 09:06");
    assert_eq!(t.tick().await.dispatch.claimed, 1);
    t.at("2026-12-12 09:30");
    assert_eq!(t.tick().await.dispatch.claimed, 0);
    assert_eq!(t.sent_to(PHONE).len(), 1);
    assert_eq!(t.mock.duplicates(), 1);
    let events: Vec<String> = t
        .app
        .store
        .events_of(m.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(
        events,
        ["scheduled", "claimed", "scheduled", "claimed", "accepted"]
    );
}

/// What a worker writes after handing `m` over.
pub(crate) fn accepted(
    m: &careminder::store::ClaimedMessage,
    provider_id: &str,
) -> careminder::store::SendResult {
    careminder::store::SendResult {
        id: m.id,
        attempt: m.attempts,
        status: careminder::domain::MessageStatus::Accepted,
        cause: None,
        retry_at: None,
        gateway: Some("default".into()),
        provider_id: Some(provider_id.into()),
        to_addr: m.phone.clone(),
        body: Some("x".into()),
        parts: Some(1),
        undo_attempt: false,
        channel: Some(careminder::domain::Channel::Sms),
        fallback: false,
    }
}

#[tokio::test]
async fn a_worker_whose_lease_lapsed_neither_renews_nor_overwrites_the_claim_that_took_it_back() {
    let (t, _) = one_woman().await;
    // A worker claims the message, then stalls past its lease.
    let first = claim_at_nine(&t).await.remove(0);
    t.at("2026-12-12 09:06");
    let now = t.clock.now();
    let (mut again, _) = t
        .app
        .store
        .claim_due(now, now + Duration::minutes(5), 10, true)
        .await
        .unwrap();
    let second = again.remove(0);
    assert_eq!((second.id, second.attempts), (first.id, 2), "taken back");
    // The stalled worker wakes: its renewal and its result touch nothing.
    let renewed = t
        .app
        .store
        .renew_leases(&[(first.id, first.attempts)], now + Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(renewed, 0, "a lapsed claim is not renewed");
    let store = &t.app.store;
    store
        .record_results(&[accepted(&first, "stale-1")], now, Flush::Yes)
        .await
        .unwrap();
    let status = |rows: Vec<careminder::store::OutboxListRow>| {
        (rows[0].status.clone(), rows[0].gateway.clone())
    };
    assert_eq!(
        status(t.outbox_of(first.woman_id.unwrap()).await),
        ("claimed".to_string(), None),
        "the second claim stands"
    );
    store
        .record_results(&[accepted(&second, "live-2")], now, Flush::Yes)
        .await
        .unwrap();
    assert_eq!(
        status(t.outbox_of(first.woman_id.unwrap()).await),
        ("accepted".to_string(), Some("default".to_string()))
    );
}

#[tokio::test]
async fn a_receipt_for_a_message_whose_worker_died_completes_it_without_a_resend() {
    let (t, _) = one_woman().await;
    let claimed = claim_at_nine(&t).await;
    let m = &claimed[0];
    hand_over(&t, m).await; // the worker dies here; the gateway's receipts still arrive
    t.at("2026-12-12 09:01");
    t.tick().await;
    t.at("2026-12-12 09:10");
    assert_eq!(
        t.tick().await.dispatch.claimed,
        0,
        "delivered: nothing to take back"
    );
    assert_eq!((t.sent_to(PHONE).len(), t.mock.duplicates()), (1, 0));
    let events: Vec<String> = t
        .app
        .store
        .events_of(m.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(events, ["scheduled", "claimed", "sent", "delivered"]);
}

#[tokio::test]
async fn a_worker_dying_before_the_gateway_call_sends_after_the_lease() {
    let (t, _) = one_woman().await;
    let claimed = claim_at_nine(&t).await;
    assert_eq!(claimed.len(), 1);
    t.at("2026-12-12 09:06");
    t.tick().await;
    assert_eq!(t.sent_to(PHONE).len(), 1);
    assert_eq!(t.mock.duplicates(), 0);
}

#[tokio::test]
async fn every_status_is_an_event_and_a_late_sent_never_overwrites_delivered() {
    let (t, w) = one_woman().await;
    t.at("2026-12-12 09:00");
    t.tick().await;
    let msg = t
        .outbox_of(w)
        .await
        .into_iter()
        .find(|m| m.status == "delivered")
        .expect("delivered");
    let late = careminder::gateway::StatusReport {
        message_id: msg.id,
        status: careminder::gateway::ReportedStatus::Sent,
        reason: None,
        at: t.clock.now(),
        gateway: None,
    };
    assert_eq!(t.app.store.apply_status_reports(&[late]).await.unwrap(), 0);
    let events: Vec<String> = t
        .app
        .store
        .events_of(msg.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(
        events,
        ["scheduled", "claimed", "accepted", "sent", "delivered"]
    );
    assert!(msg.body.unwrap().contains("王秀英"));
}

#[tokio::test]
async fn transient_failures_retry_with_growing_delays_then_succeed() {
    let (t, w) = one_woman().await;
    t.mock.fail_next(3, MockFailure::Transient);
    t.at("2026-12-12 09:00");
    let mut attempts_at = vec![];
    let mut calls = 0;
    for _ in 0..(6 * 60 * 2) {
        t.tick().await;
        if t.mock.calls() > calls {
            calls = t.mock.calls();
            attempts_at.push(t.clock.now());
        }
        if !t.sent_to(PHONE).is_empty() {
            break;
        }
        t.clock.advance(Duration::seconds(5));
    }
    assert_eq!(t.sent_to(PHONE).len(), 1, "sent in the end");
    assert_eq!(attempts_at.len(), 4, "three failures, then success");
    let gaps: Vec<i64> = attempts_at
        .windows(2)
        .map(|w| (w[1] - w[0]).num_seconds())
        .collect();
    assert!(
        gaps.windows(2).all(|g| g[1] > g[0]),
        "delays grow: {gaps:?}"
    );
    assert!(gaps[0] >= 20, "no immediate retry: {gaps:?}");
    let msg = &t.outbox_of(w).await[0];
    assert_eq!((msg.status.as_str(), msg.attempts), ("delivered", 4));
}

#[tokio::test]
async fn permanent_failure_fails_at_once_without_retry() {
    let (t, w) = one_woman().await;
    t.mock.fail_next(1, MockFailure::Permanent);
    t.at("2026-12-12 09:00");
    t.tick().await;
    t.run_until("2026-12-12 12:00", Duration::minutes(1)).await;
    assert_eq!(t.mock.calls(), 1);
    let msg = &t.outbox_of(w).await[0];
    assert_eq!(msg.status, "failed");
    assert!(msg
        .status_cause
        .as_deref()
        .unwrap()
        .contains("invalid number"));
}

#[tokio::test]
async fn a_gateway_that_stays_down_is_not_hammered() {
    let (t, w) = one_woman().await;
    t.mock.set_down(true);
    t.at("2026-12-12 09:00");
    // Tick every 5 seconds for 3 hours: 2160 passes.
    t.run_until("2026-12-12 12:00", Duration::seconds(5)).await;
    let calls = t.mock.calls();
    assert!(
        (5..=12).contains(&calls),
        "{calls} calls in 3 hours while down"
    );
    let msg = &t.outbox_of(w).await[0];
    assert_eq!(msg.status, "scheduled", "still waiting to retry: {msg:?}");
    // Back up: it goes out at its next retry.
    t.mock.set_down(false);
    t.run_until("2026-12-12 16:00", Duration::minutes(1)).await;
    assert_eq!(t.sent_to(PHONE).len(), 1);
}

#[tokio::test]
async fn a_reminder_whose_checkup_has_passed_expires_instead_of_going_late() {
    let (t, w) = one_woman().await;
    // The service is down from before the on-the-day reminder (12-15 08:00)
    // until the next morning.
    t.at("2026-12-14 12:00");
    t.tick().await;
    t.at("2026-12-16 09:00");
    t.tick().await;
    let rows = t.outbox_of(w).await;
    let on_day = rows
        .iter()
        .find(|m| m.step.as_deref() == Some("checkup-reminders/on-the-day"))
        .unwrap();
    assert_eq!(on_day.status, "expired");
    assert!(t.sent_to(PHONE).iter().all(|m| m.message.id != on_day.id));
}

#[tokio::test]
async fn a_receipt_before_the_hand_over_is_recorded_keeps_both_the_status_and_the_record() {
    let (t, _) = one_woman().await;
    let claimed = claim_at_nine(&t).await;
    let m = &claimed[0];
    // The phone reports delivery before the worker writes its batch.
    t.app
        .store
        .apply_status_reports(&[careminder::domain::StatusReport {
            message_id: m.id,
            status: careminder::domain::ReportedStatus::Delivered,
            reason: None,
            at: t.clock.now(),
            gateway: None,
        }])
        .await
        .unwrap();
    t.app
        .store
        .record_results(
            &[careminder::store::SendResult {
                id: m.id,
                attempt: m.attempts,
                status: careminder::domain::MessageStatus::Accepted,
                cause: None,
                retry_at: None,
                gateway: Some("default".into()),
                provider_id: Some("phone-7f3a".into()),
                to_addr: Some(PHONE.into()),
                body: Some("王秀英您好".into()),
                parts: Some(1),
                undo_attempt: false,
                channel: Some(careminder::domain::Channel::Sms),
                fallback: false,
            }],
            t.clock.now(),
            Flush::Yes,
        )
        .await
        .unwrap();
    type Row = (
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<String>,
        Option<i64>,
    );
    let sql = "SELECT status, gateway, provider_id, to_addr, parts, body, lease_until FROM outbox WHERE id = $1";
    let row: Row = match &t.app.config.database {
        careminder::config::DatabaseUrl::Sqlite(db) => {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
                .await
                .unwrap();
            sqlx::query_as(sql)
                .bind(m.id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
        careminder::config::DatabaseUrl::Postgres(url) => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            sqlx::query_as(sql)
                .bind(m.id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        row,
        (
            "delivered".to_string(),
            Some("default".to_string()),
            Some("phone-7f3a".to_string()),
            Some(PHONE.to_string()),
            Some(1),
            Some("王秀英您好".to_string()),
            None
        ),
        "delivered, and everything the hand-over knew"
    );
}

#[tokio::test]
async fn a_message_the_gateway_took_is_not_recorded_cancelled_when_she_opts_out_before_it_is_recorded(
) {
    for handed_over in [true, false] {
        let (t, w) = one_woman().await;
        let claimed = claim_at_nine(&t).await;
        let m = &claimed[0];
        if handed_over {
            hand_over(&t, m).await; // then the worker dies, before recording it
        }
        t.app
            .consents
            .opt_out(w, careminder::services::consent::Via::Sms, "sms")
            .await
            .unwrap();
        // Past the lease: the message is taken back, and she has opted out.
        t.at("2026-12-12 09:10");
        t.tick().await;
        let row = t
            .outbox_of(w)
            .await
            .into_iter()
            .find(|r| r.id == m.id)
            .unwrap();
        if handed_over {
            assert!(
                ["sent", "delivered"].contains(&row.status.as_str()),
                "the gateway had it: {row:?}"
            );
            let events = t.app.store.events_of(m.id).await.unwrap();
            assert!(
                events.iter().any(|e| e
                    .2
                    .as_deref()
                    .is_some_and(|c| c.contains("before she opted out"))),
                "{events:?}"
            );
        } else {
            assert_eq!(row.status, "cancelled", "never handed over: {row:?}");
        }
        assert_eq!(
            t.sent_to(PHONE).len(),
            usize::from(handed_over),
            "never twice"
        );
    }
}
