//! Outreach: broadcasts to an audience, the week-by-week series, the
//! frequency cap, stopping, and reminders first.

use crate::helpers::*;
use careminder::services::broadcasts::NewBroadcast;
use careminder::store::{Audience, Stage};
use chrono::{Duration, NaiveDate};
use std::collections::{BTreeMap, HashMap, HashSet};

const MARK_ZH: &str = "每周二免费检查";
const MARK_EN: &str = "free check-ups every Tuesday";

fn texts() -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "zh-CN".to_string(),
            format!("{{{{ name }}}}您好，{{{{ clinic }}}}{MARK_ZH}。回复TD退订"),
        ),
        (
            "en".to_string(),
            format!("Hello {{{{ name }}}}, {{{{ clinic }}}} has {MARK_EN}. Reply STOP to opt out."),
        ),
    ])
}

fn broadcast(t: &TestApp, audience: Audience, at: &str) -> NewBroadcast {
    NewBroadcast {
        name: "Tuesday check-ups".into(),
        audience,
        texts: texts(),
        send_at: t.local(at),
        cron: None,
        grace_hours: None,
        sms_templates: vec![],
    }
}

/// Messages carrying the broadcast's text, by number.
fn broadcast_texts(t: &TestApp) -> HashMap<String, usize> {
    let mut by = HashMap::new();
    for m in t.mock.sent() {
        if m.message.body.contains(MARK_ZH) || m.message.body.contains(MARK_EN) {
            *by.entry(m.message.to.clone()).or_default() += 1;
        }
    }
    by
}

struct Woman {
    phone: String,
    village: &'static str,
    language: &'static str,
    lmp: NaiveDate,
    consent: bool,
}

#[tokio::test]
async fn a_broadcast_reaches_exactly_its_audience_once_each() {
    let t = spawn_app_with(|c| c.outreach.max_per_week = 20, "2026-12-01 10:00").await;
    let villages = ["V001", "V002", "V003"];
    let mut women = vec![];
    for i in 0..36i64 {
        let w = Woman {
            phone: format!("+86138000100{i:02}"),
            village: villages[i as usize % 3],
            language: if i % 4 == 0 { "en" } else { "zh-CN" },
            // From 6 to 40 weeks on 2026-12-08.
            lmp: NaiveDate::from_ymd_opt(2026, 12, 8).unwrap() - Duration::days(42 + i * 7),
            consent: i % 9 != 5,
        };
        let mut input = woman(&format!("女{i}"), &w.phone, &w.lmp.to_string());
        input.village = Some(w.village.into());
        input.language = Some(w.language.into());
        if !w.consent {
            input.consent = Some("no".into());
        }
        let out = t.app.care.enroll(&input, "test", "test").await;
        if out.is_ok() {
            women.push(w);
        }
    }
    // One opts out before the broadcast.
    let opted = &women[3];
    let her = t
        .app
        .store
        .woman_by_phone(&opted.phone)
        .await
        .unwrap()
        .unwrap();
    t.app
        .consents
        .opt_out(her, careminder::services::consent::Via::Sms, "sms")
        .await
        .unwrap();
    let audience = Audience {
        villages: vec!["V001".into(), "V002".into()],
        stage: Stage::Pregnant {
            weeks_from: 12,
            weeks_to: 30,
        },
        ..Default::default()
    };
    // Counted independently: village, completed weeks on the day, consent, opt-out.
    let day = NaiveDate::from_ymd_opt(2026, 12, 8).unwrap();
    let expected: HashSet<String> = women
        .iter()
        .filter(|w| ["V001", "V002"].contains(&w.village))
        .filter(|w| (12..=30).contains(&((day - w.lmp).num_days() / 7)))
        .filter(|w| w.consent && w.phone != opted.phone)
        .map(|w| w.phone.clone())
        .collect();
    assert!(
        expected.len() >= 8,
        "a meaningful audience: {}",
        expected.len()
    );

    let req = broadcast(&t, audience, "2026-12-08 10:00");
    let preview = t.app.broadcasts.preview(&req).await.unwrap();
    assert_eq!(preview.recipients as usize, expected.len());
    assert!(preview.sms_parts >= preview.recipients);
    assert!(!preview.samples.is_empty());
    assert!(
        preview.samples.iter().all(|s| !s.text.contains("{{")),
        "{:?}",
        preview.samples
    );
    let (id, _) = t.app.broadcasts.create(&req, "admin").await.unwrap();
    // A draft sends nothing.
    t.run_until("2026-12-08 11:00", Duration::hours(1)).await;
    assert!(broadcast_texts(&t).is_empty());
    let planned = t.app.broadcasts.publish(id, "admin").await.unwrap();
    assert_eq!(planned as usize, expected.len());
    // Publishing again is refused: nothing is planned twice.
    assert!(t.app.broadcasts.publish(id, "admin").await.is_err());
    t.run_until("2026-12-09 12:00", Duration::hours(1)).await;
    let got = broadcast_texts(&t);
    assert_eq!(got.keys().cloned().collect::<HashSet<_>>(), expected);
    assert!(got.values().all(|n| *n == 1), "once each: {got:?}");
    let progress = t.app.broadcasts.view(id).await.unwrap().progress;
    let handed: i64 = progress
        .iter()
        .filter(|s| ["accepted", "sent", "delivered"].contains(&s.status.as_str()))
        .map(|s| s.count)
        .sum();
    assert_eq!(handed as usize, expected.len(), "{progress:?}");
}

#[tokio::test]
async fn a_broken_broadcast_text_or_audience_is_refused_with_the_field() {
    let t = spawn_app().await;
    let mut req = broadcast(&t, Audience::default(), "2026-12-08 10:00");
    req.texts.insert("zh-CN".into(), "{{ nmae }}您好".into());
    let err = t.app.broadcasts.create(&req, "admin").await.unwrap_err();
    assert!(err.to_string().contains("texts.zh-CN"), "{err}");
    let mut req = broadcast(&t, Audience::default(), "2026-12-08 10:00");
    req.audience.stage = Stage::Pregnant {
        weeks_from: 30,
        weeks_to: 12,
    };
    let err = t.app.broadcasts.create(&req, "admin").await.unwrap_err();
    assert!(err.to_string().contains("audience.stage"), "{err}");
    assert!(t.app.store.broadcasts().await.unwrap().is_empty());
}

/// The series texts a number received, as their markers, in order.
fn series_sent(t: &TestApp, phone: &str) -> Vec<&'static str> {
    const MARKS: &[(&str, &str)] = &[
        ("孕早期每天", "week-08"),
        ("孕12周左右", "week-12"),
        ("孕16周左右", "week-16"),
        ("孕20周左右", "week-20"),
        ("孕24周左右", "week-24"),
        ("孕28周起", "week-28"),
        ("孕32周左右", "week-32"),
        ("孕36周左右", "week-36"),
        ("临近预产期：待产包", "week-38"),
        ("已到预产期：超过", "week-40"),
        ("恭喜！产后一周内", "postpartum-01"),
        ("产后第2周：", "postpartum-02"),
        ("满月前后", "postpartum-04"),
        ("咨询避孕", "postpartum-06"),
    ];
    t.sent_to(phone)
        .iter()
        .filter_map(|m| {
            MARKS
                .iter()
                .find(|(k, _)| m.message.body.contains(k))
                .map(|(_, v)| *v)
        })
        .collect()
}

#[tokio::test]
async fn the_series_starts_at_her_week_never_repeats_switches_at_birth_and_stops_on_loss() {
    // The cap has its own test; here every series message may go.
    let t = spawn_app_with(|c| c.outreach.max_per_week = 20, "2026-12-01 10:00").await;
    t.app
        .store
        .set_campaign_status("weekly-series", "active", t.clock.now())
        .await
        .unwrap();
    // Registered at 19+3 weeks on Tuesday 2026-12-01.
    let a = t.enroll("甲", "13800000001", "2026-07-18").await;
    // 37+5 weeks: birth comes soon.
    let b = t.enroll("乙", "13800000002", "2026-03-12").await;
    // The same age as the first: the pregnancy ends.
    let c = t.enroll("丙", "13800000003", "2026-07-18").await;
    t.at("2026-12-02 09:00");
    t.app
        .care
        .end_pregnancy(c.pregnancy_id(), "test")
        .await
        .unwrap();

    t.run_until("2026-12-09 09:00", Duration::hours(2)).await;
    // Week 20 first (Tuesday 12-08), never the weeks before she registered.
    assert_eq!(series_sent(&t, "+8613800000001"), ["week-20"]);
    assert_eq!(series_sent(&t, "+8613800000002"), ["week-38"]);
    assert!(
        t.sent_to("+8613800000003").is_empty(),
        "after a loss: nothing at all"
    );

    // A dating scan: she is two weeks less advanced. Week 20 comes round
    // again on her new dates (Tuesday 12-22), and is not sent twice.
    t.app
        .care
        .correct_dates(a.pregnancy_id(), Some("2026-08-01"), None, "test")
        .await
        .unwrap();
    // Birth on 12-10: week 40 is never sent; the postpartum series starts.
    t.at("2026-12-10 15:00");
    t.app
        .care
        .record_birth(
            b.woman_id(),
            &birth("2026-12-10", Some("县医院"), true),
            "test",
        )
        .await
        .unwrap();
    t.run_until("2027-01-20 12:00", Duration::hours(4)).await;
    assert_eq!(series_sent(&t, "+8613800000001"), ["week-20", "week-24"]);
    assert_eq!(
        series_sent(&t, "+8613800000002"),
        [
            "week-38",
            "postpartum-01",
            "postpartum-02",
            "postpartum-04",
            "postpartum-06"
        ]
    );
    assert!(t.sent_to("+8613800000003").is_empty());
    // Series messages go out on Tuesdays at 10:00 (postpartum ones on their day).
    let tz = t.app.config.timezone;
    let series: Vec<String> = t
        .outbox_of(a.woman_id())
        .await
        .into_iter()
        .filter(|m| {
            m.step
                .as_deref()
                .unwrap_or("")
                .starts_with("weekly-series/week-")
        })
        .map(|m| m.send_at.with_timezone(&tz).format("%a %H:%M").to_string())
        .collect();
    assert!(
        !series.is_empty() && series.iter().all(|s| s == "Tue 10:00"),
        "{series:?}"
    );
}

#[tokio::test]
async fn the_frequency_cap_holds_over_a_month_in_several_campaigns() {
    let t = spawn_app_with(
        |c| {
            c.outreach.max_per_week = 2;
            c.outreach.max_per_day = 1;
        },
        "2026-12-01 10:00",
    )
    .await;
    t.app
        .store
        .set_campaign_status("weekly-series", "active", t.clock.now())
        .await
        .unwrap();
    let w = t
        .enroll("王秀英", "13812345678", "2026-07-18")
        .await
        .woman_id();
    // Three broadcasts land on her in the same week, two on one day.
    for at in [
        "2026-12-08 10:00",
        "2026-12-08 11:00",
        "2026-12-10 10:00",
        "2026-12-22 10:00",
    ] {
        let (id, _) = t
            .app
            .broadcasts
            .create(&broadcast(&t, Audience::default(), at), "admin")
            .await
            .unwrap();
        t.app.broadcasts.publish(id, "admin").await.unwrap();
    }
    t.run_until("2027-01-01 00:00", Duration::hours(1)).await;
    let rows = t.outbox_of(w).await;
    let outreach: HashSet<i64> = rows
        .iter()
        .filter(|m| {
            let s = m.step.as_deref().unwrap_or("");
            s.starts_with("weekly-series/") || s.starts_with("broadcast:")
        })
        .map(|m| m.id)
        .collect();
    let sent = t.sent_to("+8613812345678");
    assert!(sent.len() >= 4, "{} sent", sent.len());
    let tz = t.app.config.timezone;
    let mut days = HashSet::new();
    for m in &sent {
        if !outreach.contains(&m.message.id) {
            continue;
        }
        // Only sent while she had had fewer than two in the last seven days...
        let before = sent
            .iter()
            .filter(|o| o.at < m.at && o.at > m.at - Duration::days(7))
            .count();
        assert!(
            before < 2,
            "outreach {} at {} after {before} in a week",
            m.message.id,
            t.fmt(m.at)
        );
        // ...and at most one outreach message a day.
        assert!(
            days.insert(m.at.with_timezone(&tz).date_naive()),
            "two outreach on {}",
            t.fmt(m.at)
        );
    }
    // What was held back says why.
    let mut capped = 0;
    for m in &rows {
        let events = t.app.store.events_of(m.id).await.unwrap();
        if events
            .iter()
            .any(|e| e.2.as_deref().unwrap_or("").contains("frequency cap"))
        {
            capped += 1;
        }
    }
    assert!(capped > 0, "the cap held something back");
}

#[tokio::test]
async fn stopping_a_broadcast_mid_way_cancels_every_unsent_message() {
    let t = spawn_app_with(|c| c.dispatcher.batch_size = 10, "2026-12-01 10:00").await;
    for i in 0..40 {
        t.enroll(&format!("女{i}"), &format!("138000020{i:02}"), "2026-07-18")
            .await;
    }
    let (id, p) = t
        .app
        .broadcasts
        .create(
            &broadcast(&t, Audience::default(), "2026-12-03 10:00"),
            "admin",
        )
        .await
        .unwrap();
    assert_eq!(p.recipients, 40);
    assert_eq!(t.app.broadcasts.publish(id, "admin").await.unwrap(), 40);
    t.at("2026-12-03 10:00");
    t.app.dispatcher.run_once(t.clock.now()).await.unwrap();
    let first: usize = broadcast_texts(&t).values().sum();
    assert_eq!(first, 10, "one batch went out");
    // A worker has claimed five more and dies before sending them.
    let now = t.clock.now();
    let (held, _) = t
        .app
        .store
        .claim_due(now, now + Duration::minutes(5), 5, true)
        .await
        .unwrap();
    assert_eq!(held.len(), 5);
    assert_eq!(t.app.broadcasts.stop(id, "admin").await.unwrap(), 25);
    t.run_until("2026-12-06 12:00", Duration::hours(1)).await;
    let total: usize = broadcast_texts(&t).values().sum();
    assert_eq!(total, 10, "nothing more after the stop");
    let progress = t.app.broadcasts.view(id).await.unwrap().progress;
    assert!(
        progress
            .iter()
            .any(|s| s.status == careminder::domain::MessageStatus::Cancelled && s.count == 30),
        "{progress:?}"
    );
    // The claimed ones, taken back, were not sent either, and say why.
    let events = t.app.store.events_of(held[0].id).await.unwrap();
    assert_eq!(
        events.last().unwrap().2.as_deref(),
        Some("broadcast stopped")
    );
}

#[tokio::test]
async fn reminders_due_in_the_same_minute_as_a_large_broadcast_go_first() {
    let t = spawn_app_with(|c| c.dispatcher.batch_size = 50, "2026-12-01 10:00").await;
    let roster: String = std::iter::once("name,phone,lmp,village,consent".to_string())
        .chain((0..2000).map(|i| format!("女{i},1390000{i:04},2026-06-01,V001,yes")))
        .collect::<Vec<_>>()
        .join("\n");
    let r = t.import_csv(roster.into_bytes(), "roster").await.unwrap();
    assert_eq!(r.created, 2000);
    // Three women whose check-up reminders are due 2026-12-12 09:00.
    for i in 0..3 {
        t.enroll(&format!("甲{i}"), &format!("1381234567{i}"), "2026-09-22")
            .await;
    }
    let (id, p) = t
        .app
        .broadcasts
        .create(
            &broadcast(&t, Audience::default(), "2026-12-12 09:00"),
            "admin",
        )
        .await
        .unwrap();
    assert!(p.recipients >= 2000);
    t.app.broadcasts.publish(id, "admin").await.unwrap();
    t.at("2026-12-12 09:00");
    t.app.planner.run(t.clock.now()).await.unwrap();
    // The first batch of the minute carries the reminders.
    t.app.dispatcher.run_once(t.clock.now()).await.unwrap();
    for i in 0..3 {
        let got = t.sent_to(&format!("+861381234567{i}"));
        assert!(
            got.iter().any(|m| !m.message.body.contains(MARK_ZH)),
            "reminder {i} not in the first batch"
        );
    }
}

#[tokio::test]
async fn a_recurring_broadcast_goes_out_at_each_occurrence_once_until_stopped() {
    let t = spawn_app_with(|c| c.outreach.max_per_week = 20, "2026-12-01 10:00").await;
    let mut input = woman("甲", "13800000001", "2026-07-18");
    input.village = Some("V001".into());
    t.app.care.enroll(&input, "test", "test").await.unwrap();
    let mut input = woman("乙", "13800000002", "2026-07-18");
    input.village = Some("V009".into());
    t.app.care.enroll(&input, "test", "test").await.unwrap();
    let mut req = broadcast(
        &t,
        Audience {
            villages: vec!["V001".into()],
            ..Default::default()
        },
        "2026-12-01 12:00",
    );
    // Tuesdays at 10:00, from 2026-12-01 12:00 on: 12-08, 12-15, 12-22...
    req.cron = Some("0 0 10 * * Tue".into());
    let (id, _) = t.app.broadcasts.create(&req, "admin").await.unwrap();
    t.app.broadcasts.publish(id, "admin").await.unwrap();
    t.run_until("2026-12-16 00:00", Duration::hours(1)).await;
    let times: Vec<String> = t
        .sent_to("+8613800000001")
        .iter()
        .filter(|m| m.message.body.contains(MARK_ZH))
        .map(|m| t.fmt(m.at))
        .collect();
    assert_eq!(times, ["2026-12-08 10:00", "2026-12-15 10:00"]);
    assert!(
        !broadcast_texts(&t).contains_key("+8613800000002"),
        "not her village"
    );
    t.app.broadcasts.stop(id, "admin").await.unwrap();
    t.run_until("2027-01-10 00:00", Duration::hours(3)).await;
    assert_eq!(
        broadcast_texts(&t).get("+8613800000001"),
        Some(&2),
        "nothing after the stop"
    );
    // A bad cron expression is refused when saved.
    let mut bad = broadcast(&t, Audience::default(), "2027-01-12 10:00");
    bad.cron = Some("every tuesday".into());
    let err = t.app.broadcasts.create(&bad, "admin").await.unwrap_err();
    assert!(err.to_string().contains("cron"), "{err}");
}

#[tokio::test]
async fn broadcasts_over_the_api_preview_save_publish_follow_and_stop() {
    let t = spawn_app().await;
    for i in 0..5 {
        t.enroll(&format!("女{i}"), &format!("138000030{i:02}"), "2026-07-18")
            .await;
    }
    let body = serde_json::json!({
        "name": "Tuesday check-ups",
        "audience": { "villages": ["V001"], "stage": { "kind": "pregnant", "weeks_from": 12, "weeks_to": 30 } },
        "texts": { "zh-CN": format!("{{{{ name }}}}您好，{MARK_ZH}") },
        "send_at": t.local("2026-12-08 10:00"),
    });
    let post = |path: &str, body: &serde_json::Value| {
        t.client
            .post(t.url(path))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
    };
    let r = post("/api/v1/broadcasts/preview", &body).await.unwrap();
    assert_eq!(r.status(), 200);
    let p: serde_json::Value = r.json().await.unwrap();
    assert_eq!(p["recipients"], 5);
    assert!(p["samples"][0]["text"].as_str().unwrap().contains(MARK_ZH));
    assert!(
        t.app.store.broadcasts().await.unwrap().is_empty(),
        "a preview saves nothing"
    );

    let mut broken = body.clone();
    broken["texts"]["zh-CN"] = "{{ name 您好".into();
    let r = post("/api/v1/broadcasts", &broken).await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("texts.zh-CN"));

    let r = post("/api/v1/broadcasts", &body).await.unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let show = |id: i64| {
        t.client
            .get(t.url(&format!("/api/v1/broadcasts/{id}")))
            .bearer_auth(TOKEN)
            .send()
    };
    let v: serde_json::Value = show(id).await.unwrap().json().await.unwrap();
    assert_eq!(
        (v["status"].as_str(), v["preview"]["recipients"].as_i64()),
        (Some("draft"), Some(5))
    );

    let r = post(
        &format!("/api/v1/broadcasts/{id}/publish"),
        &serde_json::json!({}),
    )
    .await
    .unwrap();
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["planned"], 5);
    let r = post(
        &format!("/api/v1/broadcasts/{id}/publish"),
        &serde_json::json!({}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 409, "published once");
    let r = post(
        &format!("/api/v1/broadcasts/{id}/stop"),
        &serde_json::json!({}),
    )
    .await
    .unwrap();
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["cancelled"], 5);
    let v: serde_json::Value = show(id).await.unwrap().json().await.unwrap();
    assert_eq!(v["status"], "stopped");
    assert_eq!(v["progress"][0]["status"], "cancelled");
    assert_eq!(show(999).await.unwrap().status(), 404);
    let r = t
        .client
        .get(t.url("/api/v1/broadcasts"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
