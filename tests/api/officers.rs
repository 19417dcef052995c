//! Officers: overdue digests, escalation, births, endings, stale
//! pregnancies, the weekly summary and the coverage report.

use crate::helpers::*;
use careminder::store::Coverage;
use chrono::Duration;
use std::collections::BTreeMap;

/// Local dates on which a number received messages, with the texts.
fn days(t: &TestApp, phone: &str) -> Vec<(String, String)> {
    t.sent_to(phone)
        .into_iter()
        .map(|m| (t.fmt(m.at), m.message.body))
        .collect()
}

const BANNED: &[&str] = &[
    "贫血", "高危", "风险", "异常", "阳性", "anaemia", "risk", "HIV",
];

#[tokio::test]
async fn officers_get_exactly_the_expected_digests_and_escalation_reaches_the_right_supervisor() {
    let t = spawn_app().await; // 2026-12-01 10:00
    staff(&t, "V001-O1", "13700000001", "officer", Some("V001"), "T1").await;
    staff(&t, "V002-O1", "13700000002", "officer", Some("V002"), "T1").await;
    staff(&t, "S1", "13700000011", "supervisor", None, "T1").await;
    staff(&t, "S2", "13700000012", "supervisor", None, "T2").await;
    staff(&t, "A1", "13700000021", "admin", None, "T1").await;
    // anc1 windows close 12-21 (A, C) and 12-28 (B); grace 3 days, escalation after 7.
    let a = woman_in(&t, "王秀英", "13812345601", "2026-09-22", "V001").await;
    let b = woman_in(&t, "李桂兰", "13812345602", "2026-09-29", "V002").await;
    let _c = woman_in(&t, "张玉梅", "13812345603", "2026-09-22", "V002").await;

    t.run_until("2026-12-27 10:00", Duration::hours(1)).await;
    t.app
        .care
        .record_visit(a, None, Some("2026-12-26"), "V001-O1", None, None)
        .await
        .unwrap();
    t.run_until("2026-12-29 10:00", Duration::hours(1)).await;
    // B's visit is recorded before her missed-visit follow-up (12-30 10:00).
    t.app
        .care
        .record_visit(b, None, None, "V002-O1", None, None)
        .await
        .unwrap();
    t.run_until("2027-01-03 00:00", Duration::hours(1)).await;

    let o1 = days(&t, "+8613700000001");
    assert_eq!(
        o1.iter().map(|d| d.0.as_str()).collect::<Vec<_>>(),
        ["2026-12-25 08:00"],
        "A is news the day after window end + grace; recorded before she is named again"
    );
    assert_eq!(
        o1[0].1,
        "逾期未做的检查：王秀英（V001）第1次产前检查（建母子健康手册）逾期4天"
    );
    let o2 = days(&t, "+8613700000002");
    assert_eq!(
        o2.iter().map(|d| d.0.as_str()).collect::<Vec<_>>(),
        ["2026-12-25 08:00", "2027-01-01 08:00"],
        "C when she became overdue and once more a week later; B never"
    );
    assert!(o2
        .iter()
        .all(|d| d.1.contains("张玉梅") && !d.1.contains("李桂兰")));
    let s1 = days(&t, "+8613700000011");
    assert_eq!(
        s1.iter().map(|d| d.0.as_str()).collect::<Vec<_>>(),
        ["2027-01-01 08:00"],
        "once, 7 days after she became overdue"
    );
    assert_eq!(
        s1[0].1,
        "请督促的逾期检查：V002-O1医生：张玉梅（V002）第1次产前检查（建母子健康手册）逾期11天"
    );
    assert!(
        days(&t, "+8613700000012").is_empty(),
        "another township's supervisor hears nothing"
    );

    // B's missed-visit follow-up was cancelled with her visit record.
    let b_sent = days(&t, "+8613812345602");
    assert!(
        b_sent.iter().all(|d| !d.0.starts_with("2026-12-30")),
        "{b_sent:?}"
    );
    // The weekly summary reached the administrator every Monday at 08:00.
    let admin = days(&t, "+8613700000021");
    assert_eq!(
        admin.iter().map(|d| d.0.as_str()).collect::<Vec<_>>(),
        [
            "2026-12-07 08:00",
            "2026-12-14 08:00",
            "2026-12-21 08:00",
            "2026-12-28 08:00"
        ]
    );
    for (_, body) in o1.iter().chain(&o2).chain(&s1).chain(&admin) {
        for w in BANNED {
            assert!(!body.contains(w), "{body}");
        }
    }

    // Coverage for December, against counts made here from what the gateway got.
    let village_of: BTreeMap<&str, &str> = [
        ("+8613812345601", "V001"),
        ("+8613812345602", "V002"),
        ("+8613812345603", "V002"),
    ]
    .into();
    let mut sent: BTreeMap<&str, i64> = BTreeMap::new();
    for m in t.mock.sent() {
        let in_december = t.fmt(m.at).as_str() < "2027-01-01";
        if let (Some(v), true) = (village_of.get(m.message.to.as_str()), in_december) {
            *sent.entry(v).or_default() += 1;
        }
    }
    let date = |s: &str| careminder::domain::dates::parse_date(s).unwrap();
    let rows = t
        .app
        .jobs
        .coverage(date("2026-12-01"), date("2027-01-01"), t.clock.now())
        .await
        .unwrap();
    let area = |village: &str, late, overdue, registrations| Coverage {
        township: "T1".into(),
        village: village.into(),
        sent: sent[village],
        delivered: sent[village],
        failed: 0,
        on_time: 0,
        late,
        overdue,
        missed: 0,
        registrations,
    };
    // A done late; B done late and C overdue.
    assert_eq!(rows, [area("V001", 1, 0, 1), area("V002", 1, 1, 2)]);
}

#[tokio::test]
async fn a_birth_cancels_prenatal_messages_and_plans_postpartum_contacts() {
    let t = spawn_app().await;
    staff(&t, "V001-O1", "13700000001", "officer", Some("V001"), "T1").await;
    // 39+2 weeks at registration; anc5 window closes 12-12, its follow-up is 12-14 10:00.
    let d = woman_in(&t, "刘丽", "13812345604", "2026-03-01", "V001").await;
    t.at("2026-12-13 12:00");
    t.tick().await;
    let before = t.outbox_of(d).await;
    assert!(
        before.iter().any(|m| m.status == "scheduled"),
        "the follow-up is planned"
    );
    let n = t
        .app
        .care
        .record_birth(d, &birth("2026-12-12", Some("县医院"), true), "test")
        .await
        .unwrap();
    assert_eq!(n, 1);
    let pid = t.app.store.current_pregnancy(d).await.unwrap().unwrap();
    let visits: Vec<String> = t
        .app
        .store
        .visits_of(pid)
        .await
        .unwrap()
        .into_iter()
        .filter(|v| v.3 == "pending" && !v.0.starts_with("home-"))
        .map(|v| format!("{} {} {}", v.0, v.1, v.2))
        .collect();
    assert_eq!(
        visits,
        [
            "pnc-home 2026-12-15 2026-12-19",
            "newborn-home 2026-12-15 2026-12-19",
            "newborn-28d 2027-01-09 2027-01-11",
            "pnc-42d 2027-01-23 2027-01-30",
        ]
    );
    t.run_until("2027-01-10 00:00", Duration::hours(1)).await;
    let texts = days(&t, "+8613812345604");
    let sent: Vec<&str> = texts.iter().map(|d| d.0.as_str()).collect();
    assert_eq!(
        sent,
        [
            "2026-12-15 08:00", // her home visit and the baby's, one message
            "2026-12-21 10:00", // not recorded: one follow-up for both
            "2027-01-06 09:00", // newborn-28d, 3 days before
            "2027-01-09 08:00", // newborn-28d, on the day
        ]
    );
    // A home visit says the officer will come, and names both visits.
    assert_eq!(
        texts[0].1,
        "刘丽您好，这几天乡村医生会到您家做产后访视和新生儿家庭访视，免费。不方便请直接回复，TD退订"
    );
    assert!(texts[1].1.contains("如果医生还没来"), "{}", texts[1].1);
    // The clinic check-up after it still sends her to the clinic.
    assert!(texts[2].1.contains("乡镇卫生院"), "{}", texts[2].1);
    // Her officer is told when the postpartum visit slips.
    assert!(days(&t, "+8613700000001")
        .iter()
        .any(|d| d.1.contains("产后访视")));
}

#[tokio::test]
async fn without_a_live_birth_no_newborn_visits_are_planned() {
    let t = spawn_app().await;
    let d = woman_in(&t, "刘丽", "13812345604", "2026-03-01", "V001").await;
    t.app
        .care
        .record_birth(d, &birth("2026-12-01", None, false), "test")
        .await
        .unwrap();
    let pid = t.app.store.current_pregnancy(d).await.unwrap().unwrap();
    let keys: Vec<String> = t
        .app
        .store
        .visits_of(pid)
        .await
        .unwrap()
        .into_iter()
        .filter(|v| v.3 == "pending" && !v.0.starts_with("home-"))
        .map(|v| v.0)
        .collect();
    assert_eq!(keys, ["pnc-home", "pnc-42d"]);
}

#[tokio::test]
async fn a_pregnancy_ended_without_birth_sends_her_nothing_and_tells_her_officer_privately() {
    let t = spawn_app().await;
    staff(&t, "V001-O1", "13700000001", "officer", Some("V001"), "T1").await;
    let w = woman_in(&t, "王秀英", "13812345601", "2026-09-22", "V001").await;
    let pid = t.app.store.current_pregnancy(w).await.unwrap().unwrap();
    t.app.care.end_pregnancy(pid, "test").await.unwrap();
    t.run_until("2027-02-01 00:00", Duration::hours(3)).await;
    assert!(days(&t, "+8613812345601").is_empty());
    let officer = days(&t, "+8613700000001");
    assert_eq!(officer.len(), 1);
    assert!(
        officer[0].1.contains("王秀英") && officer[0].1.contains("停止"),
        "{officer:?}"
    );
}

#[tokio::test]
async fn a_pregnancy_44_weeks_past_lmp_without_a_birth_goes_stale_and_the_officer_is_asked_to_update(
) {
    let t = spawn_app().await;
    staff(&t, "V001-O1", "13700000001", "officer", Some("V001"), "T1").await;
    let w = woman_in(&t, "赵芳", "13812345605", "2026-02-01", "V001").await; // 43+2 weeks
    t.run_until("2026-12-08 09:00", Duration::hours(1)).await;
    let pid = t.app.store.current_pregnancy(w).await.unwrap().unwrap();
    assert_eq!(
        t.app.store.pregnancy(pid).await.unwrap().status,
        careminder::domain::PregnancyStatus::Stale
    );
    let officer = days(&t, "+8613700000001");
    assert_eq!(
        officer.first().map(|d| d.0.as_str()),
        Some("2026-12-07 08:00")
    );
    assert!(
        officer[0].1.contains("赵芳") && officer[0].1.contains("44周"),
        "{officer:?}"
    );
    // Recording the birth late still works.
    t.app
        .care
        .record_birth(w, &birth("2026-12-05", None, true), "test")
        .await
        .unwrap();
    assert_eq!(
        t.app.store.pregnancy(pid).await.unwrap().status,
        careminder::domain::PregnancyStatus::Delivered
    );
}

#[tokio::test]
async fn forty_women_fifteen_overdue_make_one_digest_within_the_part_limit_ending_with_a_count() {
    let t = spawn_app().await;
    staff(&t, "V001-O1", "13700000001", "officer", Some("V001"), "T1").await;
    // 15 whose first check-up closes 12-21 (overdue from 12-25), 25 months off.
    for i in 0..40 {
        let lmp = if i < 15 { "2026-09-22" } else { "2026-11-10" };
        woman_in(
            &t,
            &format!("孕妇{i:02}"),
            &format!("138123450{i:02}"),
            lmp,
            "V001",
        )
        .await;
    }
    t.at("2026-12-25 09:00");
    let d = t.app.jobs.digests(t.clock.now()).await.unwrap();
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].messages.len(), 1, "one text, never more");
    let m = &d[0].messages[0];
    let max = t.app.config.jobs.digest_max_parts;
    assert!(careminder::domain::sms::measure(m).parts <= max, "{m}");
    let named = m.matches("逾期4天").count();
    assert!(named > 0 && named < 15, "{m}");
    assert!(
        m.ends_with(&format!("另有{}项，请看工作清单", 15 - named)),
        "the rest counted: {m}"
    );
    // The worklist holds all fifteen.
    let work = t
        .app
        .jobs
        .worklist(t.clock.now(), Some("V001-O1"))
        .await
        .unwrap();
    assert_eq!(work.iter().filter(|i| !i.visit.task).count(), 15);
    // Nothing overdue, nothing sent: the next day has no news.
    t.at("2026-12-26 09:00");
    assert!(t.app.jobs.digests(t.clock.now()).await.unwrap().is_empty());
}

#[tokio::test]
async fn three_hundred_days_of_a_woman_who_never_attends_keep_her_officers_texts_few() {
    // Registered at 10+0 weeks, never attends, no birth ever recorded; the
    // service ticks twice a day for 300 days.
    let t = spawn_app_with(|_| {}, "2026-12-01 07:00").await;
    staff(&t, "V001-O1", "13700000001", "officer", Some("V001"), "T1").await;
    staff(&t, "S1", "13700000011", "supervisor", None, "T1").await;
    let lmp = "2026-09-22"; // 10+0 weeks on 12-01
    let w = woman_in(&t, "王秀英", "13812345601", lmp, "V001").await;
    let pid = t.app.store.current_pregnancy(w).await.unwrap().unwrap();
    let contacts: Vec<String> = t
        .app
        .store
        .visits_of(pid)
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.0)
        .filter(|k| !k.starts_with("home-"))
        .collect();
    assert_eq!(contacts, ["anc1", "anc2", "anc3", "anc4", "anc5"]);
    t.run_until("2027-09-28 19:00", Duration::hours(12)).await;

    let texts = days(&t, "+8613700000001");
    // Each of the five check-ups is news once, and once more a week later
    // unless the next window had opened (anc2, anc3: they close as the
    // next one opens); the 44-week question is asked once.
    let bound = 5 * 2 + 1;
    assert!(
        texts.len() <= bound,
        "{} texts, more than {bound}: {texts:?}",
        texts.len()
    );
    let all: String = texts.iter().map(|t| t.1.as_str()).collect();
    for label in ["第1次", "第2次", "第3次", "第4次", "第5次"] {
        assert!(all.contains(label), "{label} never named: {texts:?}");
    }
    assert_eq!(all.matches("44周").count(), 1, "{texts:?}");
    // Her supervisor hears of each check-up once.
    let sup = days(&t, "+8613700000011");
    assert_eq!(sup.len(), 5, "{sup:?}");
    // The worklist still lists every one of them until someone records it.
    let work = t
        .app
        .jobs
        .worklist(t.clock.now(), Some("V001-O1"))
        .await
        .unwrap();
    let listed: Vec<(&str, &str)> = work
        .iter()
        .filter(|i| !i.visit.task)
        .map(|i| (i.visit.label_en.as_str(), i.state))
        .collect();
    assert_eq!(
        listed,
        [
            ("first prenatal check-up (handbook)", "missed, not recorded"),
            ("second prenatal check-up", "missed, not recorded"),
            ("third prenatal check-up", "missed, not recorded"),
            ("fourth prenatal check-up", "missed, not recorded"),
            ("fifth prenatal check-up", "overdue"),
        ]
    );
}

/// A text arriving from `from`, as the mock gateway's webhook would store it.
async fn text_from(t: &TestApp, from: &str, text: &str, id: &str) {
    t.app
        .inbound
        .receive(careminder::domain::NewInbound {
            gateway: "mock".into(),
            provider_id: id.into(),
            sender: from.into(),
            text: text.into(),
            received_at: t.clock.now(),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn the_officers_monthly_home_visit_is_a_task_until_birth_and_after_recorded_by_sms() {
    let t = spawn_app().await; // 2026-12-01 10:00
    staff(&t, "V001-O1", "13700000001", "officer", Some("V001"), "T1").await;
    // 10+0 weeks on 12-01: due 2027-06-29.
    let w = woman_in(&t, "王秀英", "13812345601", "2026-09-22", "V001").await;
    let pid = t.app.store.current_pregnancy(w).await.unwrap().unwrap();
    let homes = |visits: Vec<(String, chrono::NaiveDate, chrono::NaiveDate, String)>| {
        visits
            .into_iter()
            .filter(|v| v.0.starts_with("home-"))
            .map(|v| format!("{} {} {}", v.0, v.1, v.3))
            .collect::<Vec<_>>()
    };
    // Every 30 days from registration until the birth is due.
    assert_eq!(
        homes(t.app.store.visits_of(pid).await.unwrap()),
        [
            "home-1 2026-12-31 pending",
            "home-2 2027-01-30 pending",
            "home-3 2027-03-01 pending",
            "home-4 2027-03-31 pending",
            "home-5 2027-04-30 pending",
            "home-6 2027-05-30 pending",
            "home-7 2027-06-29 pending",
        ]
    );
    t.run_until("2027-01-02 10:00", Duration::hours(6)).await;
    // Her officer's task, not her reminder: nothing about it reaches her.
    assert!(t
        .sent_to("+8613812345601")
        .iter()
        .all(|m| !m.message.body.contains("入户随访")));
    async fn due(t: &TestApp) -> Vec<String> {
        t.app
            .jobs
            .worklist(t.clock.now(), Some("V001-O1"))
            .await
            .unwrap()
            .into_iter()
            .filter(|i| i.visit.task)
            .map(|i| format!("{} {}", i.visit.contact_key, i.state))
            .collect()
    }
    // One at a time: the next is not listed until a few days before its date.
    assert_eq!(due(&t).await, ["home-1 home visit due"]);
    // She records it by SMS, with a note.
    text_from(&t, "+8613700000001", &format!("家访 {w} 精神很好"), "hv-1").await;
    t.tick().await;
    let officer = days(&t, "+8613700000001");
    assert!(officer.last().unwrap().1.contains("已记录"), "{officer:?}");
    assert_eq!(due(&t).await, Vec::<String>::new());
    let visits = t.app.store.visits_of(pid).await.unwrap();
    assert!(homes(visits).contains(&"home-1 2026-12-31 done".to_string()));
    // The next shows five days before its date (home_visits.lead_days).
    t.run_until("2027-01-25 10:00", Duration::hours(12)).await;
    assert_eq!(due(&t).await, ["home-2 home visit due"]);
    // Its period runs to the day before the next one's date: still due on
    // 02-20, missed only once it ended (02-28), while the next is due.
    t.run_until("2027-02-20 10:00", Duration::hours(12)).await;
    assert_eq!(due(&t).await, ["home-2 home visit due"]);
    t.run_until("2027-03-02 10:00", Duration::hours(12)).await;
    let work = due(&t).await;
    assert_eq!(
        work,
        ["home-2 missed, not recorded", "home-3 home visit due"],
        "{work:?}"
    );
    let digests: Vec<String> = days(&t, "+8613700000001")
        .into_iter()
        .map(|d| d.1)
        .filter(|b| b.starts_with("逾期"))
        .collect();
    assert!(!digests.is_empty(), "anc1 was named");
    assert!(
        digests.iter().all(|b| !b.contains("入户随访")),
        "{digests:?}"
    );
    // After the birth: the prenatal ones end (the one missed before it
    // stays missed), the postpartum ones begin.
    t.app
        .care
        .record_birth(w, &birth("2027-03-02", None, true), "V001-O1")
        .await
        .unwrap();
    let after: Vec<String> = homes(t.app.store.visits_of(pid).await.unwrap())
        .into_iter()
        .filter(|v| v.ends_with("pending"))
        .collect();
    assert_eq!(
        after,
        ["home-2 2027-01-30 pending", "home-pp-1 2027-04-01 pending"]
    );
}

#[tokio::test]
async fn the_home_visits_after_a_birth_say_the_officer_will_come_in_english_too() {
    let t = spawn_app().await;
    staff(&t, "V001-O1", "13700000001", "officer", Some("V001"), "T1").await;
    let mut w = woman("Amina", "13812345604", "2026-03-01");
    w.village = Some("V001".into());
    w.officer = Some("V001-O1".into());
    w.language = Some("en".into());
    let id = t
        .app
        .care
        .enroll(&w, "test", "test")
        .await
        .unwrap()
        .woman_id();
    t.at("2026-12-13 12:00");
    t.app
        .care
        .record_birth(id, &birth("2026-12-12", None, true), "test")
        .await
        .unwrap();
    t.run_until("2026-12-16 00:00", Duration::hours(1)).await;
    let texts = days(&t, "+8613812345604");
    assert_eq!(
        texts.len(),
        1,
        "one message for her visit and the baby's: {texts:?}"
    );
    assert_eq!(
        texts[0].1,
        "Hello Amina, your health officer will come to your home in the next few days for the free \
         home visit after the birth and newborn home visit. Reply if that is not convenient. STOP to opt out."
    );
}

#[tokio::test]
async fn a_visit_dated_outside_its_pregnancy_or_before_its_birth_is_refused() {
    let t = spawn_app().await; // 2026-12-01 10:00
    staff(&t, "V001-O1", "13700000001", "officer", Some("V001"), "T1").await;
    let w = woman_in(&t, "王秀英", "13812345601", "2026-03-10", "V001").await;
    let e = t
        .app
        .care
        .record_visit(w, None, Some("2026-02-01"), "V001-O1", None, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("before this pregnancy began"), "{e}");
    let e = t
        .app
        .care
        .record_visit(w, None, Some("2026-12-02"), "V001-O1", None, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("in the future"), "{e}");
    t.app
        .care
        .record_birth(w, &birth("2026-12-01", None, true), "V001-O1")
        .await
        .unwrap();
    // The first postpartum visit, dated before the birth.
    let e = t
        .app
        .care
        .record_visit(w, None, Some("2026-11-30"), "V001-O1", None, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("before the birth"), "{e}");
    t.app
        .care
        .record_visit(w, None, Some("2026-12-01"), "V001-O1", None, None)
        .await
        .unwrap();
}
