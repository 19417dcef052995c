//! Two-way messaging: keywords, opt-out and back in, visit reports by
//! staff, the officers' inbox, unknown numbers, redeliveries.

use crate::helpers::*;
use careminder::store::{NewInbound, NewStaff};
use chrono::Duration;
use serde_json::{json, Value};

const HER: &str = "+8613812345678";
const OFFICER: &str = "+8613900000001";

/// A woman (officer V001-O1, anc1 due 2026-12-15) and her officer.
async fn woman_and_officer() -> (TestApp, i64) {
    let t = spawn_app().await;
    let w = t
        .enroll("王秀英", "13812345678", "2026-09-22")
        .await
        .woman_id();
    add_staff(&t, "V001-O1", "李医生", "13900000001", "officer").await;
    (t, w)
}

async fn add_staff(t: &TestApp, code: &str, name: &str, phone: &str, role: &str) {
    t.app
        .store
        .add_staff(
            &NewStaff {
                code: code.into(),
                name: name.into(),
                phone: Some(
                    careminder::domain::Phone::parse(phone, t.app.config.region()).unwrap(),
                ),
                role: role.parse().expect("a role"),
                language: careminder::domain::Language::ZhCn,
                village: Some("V001".into()),
                township: None,
                wecom_userid: None,
            },
            t.clock.now(),
        )
        .await
        .unwrap();
}

async fn text_from(t: &TestApp, from: &str, text: &str) -> Option<i64> {
    let id = format!(
        "p-{}-{}",
        t.clock.now().timestamp(),
        t.mock.calls() + rand_id()
    );
    t.app
        .inbound
        .receive(NewInbound {
            gateway: "mock".into(),
            provider_id: id,
            sender: from.into(),
            text: text.into(),
            received_at: t.clock.now(),
        })
        .await
        .unwrap()
        .inbound_id
}

fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn bodies(t: &TestApp, to: &str) -> Vec<String> {
    t.sent_to(to).into_iter().map(|m| m.message.body).collect()
}

#[tokio::test]
async fn keywords_in_both_languages_lead_to_their_action() {
    let (t, w) = woman_and_officer().await;
    t.at("2026-12-12 11:00");
    for (text, intent) in [
        ("ＨＥＬＰ", "help"),
        ("帮助", "help"),
        ("１", "confirm"),
        ("Ok!", "confirm"),
    ] {
        let id = text_from(&t, HER, text).await.unwrap();
        assert_eq!(
            t.app.store.inbound(id).await.unwrap().intent.as_deref(),
            Some(intent),
            "{text}"
        );
    }
    t.tick().await;
    // The tick also sends her check-up reminder (due earlier, so first):
    // the answers, in the order she wrote, are what this test is about.
    let got: Vec<String> = bodies(&t, HER)
        .into_iter()
        .filter(|b| !b.contains("时间为"))
        .collect();
    assert!(
        got[0].contains("回复1确认") && got[1].contains("回复1确认"),
        "{got:?}"
    );
    assert!(
        got[2].contains("第1次产前检查"),
        "confirmation names the check-up: {got:?}"
    );
    // A confirmation is recorded on her next check-up, not as a visit.
    let visits = t
        .app
        .store
        .visits_of(t.app.store.pregnancy(1).await.unwrap().id)
        .await
        .unwrap();
    assert_eq!(visits[0].3, "pending");
    let conv = t.app.store.conversation(w).await.unwrap();
    assert!(conv.iter().any(|c| c.direction == "in"
        && c.detail
            .as_deref()
            .is_some_and(|d| d.starts_with("confirmed attendance: 第1次产前检查"))));

    for text in ["ｔｄ", "STOP"] {
        text_from(&t, HER, text).await;
    }
    t.tick().await;
    let optouts = bodies(&t, HER)
        .iter()
        .filter(|b| b.contains("您已退订"))
        .count();
    assert_eq!(optouts, 1, "an opt-out is confirmed once");
    assert!(t.app.store.woman(w).await.unwrap().opted_out_at.is_some());
}

#[tokio::test]
async fn near_misses_go_to_her_officers_inbox_and_the_officer_is_alerted() {
    let (t, w) = woman_and_officer().await;
    t.at("2026-12-05 11:00");
    let id = text_from(&t, HER, "1 but I cannot come on Monday")
        .await
        .unwrap();
    let m = t.app.store.inbound(id).await.unwrap();
    assert_eq!(
        (m.intent.as_deref(), m.needs_answer),
        (Some("question"), true)
    );
    let inbox = t.app.store.inbox(Some("V001-O1"), false).await.unwrap();
    assert_eq!(inbox.len(), 1);
    t.tick().await;
    let alert = bodies(&t, OFFICER);
    assert_eq!(alert.len(), 1);
    assert!(
        alert[0].contains("王秀英") && alert[0].contains(&format!("编号{w}")),
        "{alert:?}"
    );
    // Nothing was sent back to her automatically.
    assert!(bodies(&t, HER).is_empty());
}

#[tokio::test]
async fn opt_out_at_10_00_stops_the_10_05_reminder_and_opt_in_resumes_without_resending() {
    let (t, w) = woman_and_officer().await;
    let step = t.step_id("checkup-reminders", "before-3d").await;
    t.app
        .campaigns
        .retime_step(step, -3, "10:05", 24, "test")
        .await
        .unwrap();
    t.at("2026-12-12 09:00");
    t.tick().await; // the 10:05 reminder is in the outbox
    let planned = t.outbox_of(w).await;
    assert!(planned
        .iter()
        .any(|m| m.status == "scheduled" && t.fmt(m.send_at) == "2026-12-12 10:05"));
    t.at("2026-12-12 10:00");
    text_from(&t, HER, "退订").await;
    t.run_until("2026-12-20 00:00", Duration::minutes(5)).await;
    let got = bodies(&t, HER);
    assert_eq!(got.len(), 1, "only the opt-out confirmation: {got:?}");
    assert!(got[0].contains("您已退订"));

    // Back in on 12-20: anc2's reminders (01-09, 01-12) come; the missed
    // anc1 follow-up of 12-23 is after opting in, so it comes too; nothing
    // from before is resent.
    text_from(&t, HER, "订阅").await;
    t.run_until("2027-01-13 00:00", Duration::hours(1)).await;
    let sent: Vec<String> = t.sent_to(HER).iter().map(|m| t.fmt(m.at)).collect();
    assert_eq!(
        sent,
        // (hourly ticks from here: the 10:05 reminder goes at the 11:00 tick)
        [
            "2026-12-12 10:00",
            "2026-12-20 00:00",
            "2026-12-23 10:00",
            "2027-01-09 11:00",
            "2027-01-12 08:00"
        ]
    );
    assert!(t.app.store.woman(w).await.unwrap().opted_out_at.is_none());
}

/// Her answer is written with her message's result, in one transaction:
/// when acting on it fails at its last write, she is not answered and the
/// message is not done; acted on again, she is answered once. Before, the
/// answer was its own commit, written before the message was marked done.
#[tokio::test]
async fn she_is_answered_exactly_when_her_message_is_done() {
    let (t, w) = woman_and_officer().await;
    t.at("2026-12-12 11:00");
    raw_write(
        &t,
        "CREATE TRIGGER fail_finish BEFORE UPDATE OF processed_at ON inbound
         BEGIN SELECT RAISE(ABORT, 'disk failed'); END;",
        "CREATE FUNCTION fail_finish() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN RAISE EXCEPTION 'disk failed'; END $$;
         CREATE TRIGGER fail_finish BEFORE UPDATE OF processed_at ON inbound
           FOR EACH ROW EXECUTE FUNCTION fail_finish();",
    )
    .await;
    let failed = t
        .app
        .inbound
        .receive(NewInbound {
            gateway: "mock".into(),
            provider_id: "gw-help".into(),
            sender: HER.into(),
            text: "帮助".into(),
            received_at: t.clock.now(),
        })
        .await;
    assert!(failed.is_err());
    async fn replies(t: &TestApp, w: i64) -> usize {
        t.outbox_of(w)
            .await
            .into_iter()
            .filter(|m| m.step.as_deref() == Some("reply"))
            .count()
    }
    assert_eq!(replies(&t, w).await, 0, "not answered while not done");
    raw_write(
        &t,
        "DROP TRIGGER fail_finish;",
        "DROP TRIGGER fail_finish ON inbound; DROP FUNCTION fail_finish();",
    )
    .await;
    assert_eq!(t.app.inbound.process_pending_inbound().await.unwrap(), 1);
    assert_eq!(t.app.inbound.process_pending_inbound().await.unwrap(), 0);
    assert_eq!(replies(&t, w).await, 1, "answered once it is done");
}

/// A text carrying a NUL character (which PostgreSQL cannot store) is
/// stored without it and acted on. Before, on PostgreSQL it was refused
/// with a 5xx at every redelivery.
#[tokio::test]
async fn a_text_with_a_nul_character_is_stored_without_it() {
    let (t, w) = woman_and_officer().await;
    t.at("2026-12-12 11:00");
    let r = t
        .client
        .post(t.url("/webhooks/mock"))
        .bearer_auth(TOKEN)
        .json(&json!({"id": "gw-\u{0}-1", "from": "138 1234 5678", "text": "TD\u{0}"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let conv = t.app.store.conversation(w).await.unwrap();
    let texts: Vec<&str> = conv
        .iter()
        .filter(|c| c.direction == "in")
        .filter_map(|c| c.text.as_deref())
        .collect();
    assert_eq!(texts, ["TD"]);
    assert!(t.app.store.woman(w).await.unwrap().opted_out_at.is_some());
}

#[tokio::test]
async fn a_redelivered_message_is_stored_once_and_acted_on_once() {
    let (t, w) = woman_and_officer().await;
    t.at("2026-12-12 11:00");
    let body = json!({"id": "gw-77", "from": "138 1234 5678", "text": "TD"});
    let mut answers = vec![];
    for _ in 0..3 {
        let r = t
            .client
            .post(t.url("/webhooks/mock"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        answers.push(
            r.json::<Value>().await.unwrap()["duplicate"]
                .as_bool()
                .unwrap(),
        );
    }
    assert_eq!(answers, [false, true, true]);
    t.tick().await;
    assert_eq!(bodies(&t, HER).len(), 1);
    let conv = t.app.store.conversation(w).await.unwrap();
    assert_eq!(conv.iter().filter(|c| c.direction == "in").count(), 1);
    // Without the token the webhook refuses.
    let r = t
        .client
        .post(t.url("/webhooks/mock"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn an_officers_visit_report_records_the_visit_and_silences_its_reminders() {
    let (t, w) = woman_and_officer().await;
    add_staff(&t, "V002-O1", "张医生", "13900000002", "officer").await;
    t.at("2026-12-12 11:00");
    t.tick().await;
    // Someone else's officer: refused, with a clear answer.
    text_from(&t, "+8613900000002", &format!("V {w}")).await;
    // Her officer, in the Chinese form.
    text_from(&t, OFFICER, &format!("访视 {w}")).await;
    t.run_until("2026-12-31 00:00", Duration::hours(1)).await;
    let other = bodies(&t, "+8613900000002");
    assert!(other[0].contains("不是您负责"), "{other:?}");
    let mine = bodies(&t, OFFICER);
    assert!(
        mine[0].contains("已记录") && mine[0].contains("第1次产前检查"),
        "{mine:?}"
    );
    let p = t.app.store.pregnancy(1).await.unwrap();
    let visits = t.app.store.visits_of(p.id).await.unwrap();
    assert_eq!(visits[0].3, "done");
    // The on-the-day reminder (12-15) and the missed follow-up (12-23) never went.
    let sent: Vec<String> = t.sent_to(HER).iter().map(|m| t.fmt(m.at)).collect();
    assert_eq!(
        sent,
        ["2026-12-12 11:00"],
        "only the 3-day reminder (sent late within grace)"
    );
}

#[tokio::test]
async fn unknown_numbers_are_kept_listed_and_answered_once() {
    let (t, _) = woman_and_officer().await;
    t.at("2026-12-12 11:00");
    text_from(&t, "+8613700000000", "你好").await;
    text_from(&t, "+8613700000000", "在吗").await;
    t.tick().await;
    assert_eq!(bodies(&t, "+8613700000000").len(), 1);
    assert_eq!(t.app.store.inbox(None, true).await.unwrap().len(), 2);
}

#[tokio::test]
async fn an_answer_goes_through_her_channel_and_only_her_care_team_may_give_it() {
    let (t, w) = woman_and_officer().await;
    add_staff(&t, "V002-O1", "张医生", "13900000002", "officer").await;
    t.at("2026-12-05 11:00");
    let id = text_from(&t, HER, "我周一去不了，可以周三吗")
        .await
        .unwrap();
    let r = t
        .client
        .post(t.url(&format!("/api/v1/inbox/{id}/answer")))
        .bearer_auth(TOKEN)
        .json(&json!({"text": "可以，周三上午来。", "by": "V002-O1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "not her officer: as if it did not exist");
    let r = t
        .client
        .post(t.url(&format!("/api/v1/inbox/{id}/answer")))
        .bearer_auth(TOKEN)
        .json(&json!({"text": "可以，周三上午来。", "by": "V001-O1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    t.tick().await;
    assert_eq!(bodies(&t, HER), ["可以，周三上午来。"]);
    assert!(t
        .app
        .store
        .inbox(Some("V001-O1"), false)
        .await
        .unwrap()
        .is_empty());
    let conv: Vec<Value> = t
        .client
        .get(t.url(&format!("/api/v1/women/{w}/conversation")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let lines: Vec<(String, String)> = conv
        .iter()
        .filter(|c| c["text"].is_string())
        .map(|c| {
            (
                c["direction"].as_str().unwrap().into(),
                c["text"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("in".to_string(), "我周一去不了，可以周三吗".to_string()),
            ("out".into(), "可以，周三上午来。".into())
        ]
    );
    assert_eq!(conv.last().unwrap()["status"], "delivered");
}

#[tokio::test]
async fn replies_go_out_at_night_but_reminders_wait_for_morning() {
    let (t, _) = woman_and_officer().await;
    t.at("2026-12-11 22:30");
    text_from(&t, HER, "帮助").await;
    t.tick().await;
    assert_eq!(bodies(&t, HER).len(), 1, "the help text answers at once");
}

#[tokio::test]
async fn an_answer_too_long_to_reach_her_as_one_message_is_refused_before_it_is_sent() {
    let (t, _) = woman_and_officer().await;
    let q = text_from(&t, "+8613812345678", "我想问一下产检的事")
        .await
        .expect("a question in the inbox");
    let long = "请".repeat(careminder::services::inbound::MAX_ANSWER_CHARS + 1);
    let refused = t.app.inbound.answer(q, &long, "V001-O1").await;
    assert!(
        matches!(&refused, Err(careminder::services::AppError::Refused(m)) if m.contains("at most 335")),
        "{refused:?}"
    );
    let fits = "请".repeat(careminder::services::inbound::MAX_ANSWER_CHARS);
    assert!(t.app.inbound.answer(q, &fits, "V001-O1").await.is_ok());
}
