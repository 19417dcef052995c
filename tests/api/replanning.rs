//! Changes that must reach messages not yet sent: date corrections,
//! endings, opt-out, missing consent.

use crate::helpers::*;
use chrono::Duration;

#[tokio::test]
async fn an_lmp_correction_moves_every_unsent_reminder() {
    let t = spawn_app().await;
    let out = t.enroll("王秀英", "13812345678", "2026-09-22").await;
    t.at("2026-12-12 09:00");
    t.tick().await; // anc1 3-day reminder goes out on the old dates
    assert_eq!(t.sent_to("+8613812345678").len(), 1);
    t.at("2026-12-14 10:00");
    t.tick().await; // plans the on-the-day reminder of 12-15 08:00
                    // A dating scan: she is 7 days less advanced than thought.
    t.at("2026-12-14 11:00");
    t.app
        .care
        .correct_dates(out.pregnancy_id(), Some("2026-09-29"), None, "test")
        .await
        .unwrap();
    let p = t.app.store.pregnancy(out.pregnancy_id()).await.unwrap();
    assert_eq!(p.edd.to_string(), "2027-07-06");
    let visits = t.app.store.visits_of(out.pregnancy_id()).await.unwrap();
    assert_eq!(
        (visits[0].1.to_string(), visits[0].2.to_string()),
        ("2026-12-22".into(), "2026-12-28".into())
    );
    let cancelled = t
        .outbox_of(out.woman_id())
        .await
        .into_iter()
        .filter(|m| m.status == "cancelled")
        .count();
    assert!(cancelled >= 1, "old on-the-day reminder cancelled");
    t.run_until("2026-12-23 00:00", Duration::hours(1)).await;
    let sent: Vec<String> = t
        .sent_to("+8613812345678")
        .iter()
        .map(|m| t.fmt(m.at))
        .collect();
    // Old 3-day reminder (already sent), then the new dates: 12-19 09:00 and 12-22 08:00;
    // nothing on the old due date 12-15.
    assert_eq!(
        sent,
        ["2026-12-12 09:00", "2026-12-19 09:00", "2026-12-22 08:00"]
    );
}

#[tokio::test]
async fn ending_a_pregnancy_cancels_every_pending_message_at_once() {
    let t = spawn_app().await;
    let out = t.enroll("王秀英", "13812345678", "2026-09-22").await;
    t.at("2026-12-11 10:00");
    t.tick().await;
    let scheduled = t
        .outbox_of(out.woman_id())
        .await
        .into_iter()
        .filter(|m| m.status == "scheduled")
        .count();
    assert!(scheduled >= 1);
    let n = t
        .app
        .care
        .end_pregnancy(out.pregnancy_id(), "test")
        .await
        .unwrap();
    assert_eq!(n as usize, scheduled);
    t.run_until("2027-08-01 00:00", Duration::hours(6)).await;
    assert!(t.sent_to("+8613812345678").is_empty());
    let visits = t.app.store.visits_of(out.pregnancy_id()).await.unwrap();
    assert!(visits.iter().all(|v| v.3 == "cancelled"));
}

#[tokio::test]
async fn opt_out_stops_the_next_reminder_and_every_later_one() {
    let t = spawn_app().await;
    let out = t.enroll("王秀英", "13812345678", "2026-09-22").await;
    t.at("2026-12-12 09:00");
    t.tick().await;
    assert_eq!(t.sent_to("+8613812345678").len(), 1);
    t.at("2026-12-12 10:00");
    t.app
        .consents
        .opt_out(
            out.woman_id(),
            careminder::services::consent::Via::Sms,
            "sms",
        )
        .await
        .unwrap();
    t.run_until("2027-08-01 00:00", Duration::hours(6)).await;
    assert_eq!(
        t.sent_to("+8613812345678").len(),
        1,
        "nothing after the opt-out"
    );
}

#[tokio::test]
async fn without_consent_nothing_is_planned_or_sent() {
    let t = spawn_app().await;
    let mut input = woman("李桂兰", "13812345679", "2026-09-22");
    input.consent = Some("no".into());
    let out = t.app.care.enroll(&input, "test", "test").await.unwrap();
    t.run_until("2027-01-31 00:00", Duration::hours(6)).await;
    assert!(t.outbox_of(out.woman_id()).await.is_empty());
    assert!(t.mock.sent().is_empty());
    // Visits are still kept for her care team: five check-ups and her
    // officer's seven monthly home visits.
    assert_eq!(
        t.app
            .store
            .visits_of(out.pregnancy_id())
            .await
            .unwrap()
            .len(),
        5 + 7
    );
}

#[tokio::test]
async fn a_fire_already_past_at_registration_is_never_sent() {
    // Registered on the morning her check-up is due, after the 08:00 reminder.
    let t = spawn_app_with(|_| {}, "2026-12-15 11:00").await;
    t.enroll("王秀英", "13812345678", "2026-09-22").await; // anc1 due 12-15
    t.run_until("2026-12-20 00:00", Duration::hours(1)).await;
    assert!(t.sent_to("+8613812345678").is_empty());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(12))]

    /// For any pregnancy age at registration and any correction, planning
    /// again what is planned writes nothing: re-planning is idempotent, and
    /// a corrected pregnancy never gets the same reminder twice.
    #[test]
    fn replanning_is_idempotent(age_days in 30i64..260, shift in -14i64..14, hours in 0i64..72) {
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let t = spawn_app().await;
            let lmp = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap() - Duration::days(age_days);
            let out = t.enroll("王秀英", "13812345678", &lmp.to_string()).await;
            t.clock.advance(Duration::hours(hours));
            t.tick().await;
            let now = t.clock.now();
            let until = t.app.store.planned_until().await.unwrap().unwrap();
            let again = t.app.planner.plan_range(now - Duration::days(60), until, None, now).await.unwrap();
            assert_eq!(again.planned, 0, "planned twice");
            if shift != 0 {
                let corrected = (lmp + Duration::days(shift)).to_string();
                t.app.care.correct_dates(out.pregnancy_id(), Some(&corrected), None, "test").await.unwrap();
                t.tick().await;
                let now = t.clock.now();
                let until = t.app.store.planned_until().await.unwrap().unwrap();
                let again = t.app.planner.plan_range(now - Duration::days(60), until, None, now).await.unwrap();
                assert_eq!(again.planned, 0, "planned twice after a correction");
            }
            // Over the weeks that follow, no reminder text reaches her twice on one day.
            t.run_until("2027-01-15 12:00", Duration::hours(8)).await;
            let mut days = std::collections::HashSet::new();
            for m in t.sent_to("+8613812345678") {
                assert!(days.insert((t.fmt(m.at), m.message.body.clone())), "sent twice: {}", m.message.body);
            }
        });
    }
}
