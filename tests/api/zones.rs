//! A deployment spanning zones: a village in New York beside villages in
//! China. Step times and send windows are read in each area's zone; on
//! the day the clocks skip an hour a 02:30 send goes at the next valid
//! time (03:00), and on the night an hour repeats a 01:30 send goes once.

use crate::helpers::*;
use careminder::domain::schedule::TriggerAnchor;
use careminder::store::StepSeed;
use chrono::{DateTime, Duration, NaiveDate, Utc};

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

async fn send_times(t: &TestApp, woman: i64, step: &str) -> Vec<DateTime<Utc>> {
    t.outbox_of(woman)
        .await
        .into_iter()
        .filter(|m| m.step.as_deref() == Some(step))
        .map(|m| m.send_at)
        .collect()
}

#[tokio::test]
async fn a_new_york_village_follows_its_own_clock_across_daylight_saving_changes() {
    let t = spawn_app_with(
        |c| {
            c.zones.insert("NYC1".into(), chrono_tz::America::New_York);
            c.send_window = "00:00-23:59".parse().unwrap();
        },
        "2026-10-01 10:00",
    )
    .await;
    let lmp = NaiveDate::from_ymd_opt(2026, 9, 1).unwrap();
    let days = |d: &str| (d.parse::<NaiveDate>().unwrap() - lmp).num_days();
    let (gap, fold) = (days("2027-03-14"), days("2026-11-01"));
    t.app
        .store
        .ensure_campaign(
            "dst",
            "Daylight saving",
            false,
            &[
                StepSeed {
                    key: "gap",
                    anchor: TriggerAnchor::Lmp,
                    offset_days: gap,
                    send_time: "02:30",
                    grace_hours: 24,
                    weekday: None,
                    texts: vec![("zh-CN", "{{ name }}：提醒")],
                },
                StepSeed {
                    key: "fold",
                    anchor: TriggerAnchor::Lmp,
                    offset_days: fold,
                    send_time: "01:30",
                    grace_hours: 24,
                    weekday: None,
                    texts: vec![("zh-CN", "{{ name }}：提醒")],
                },
            ],
            t.clock.now(),
        )
        .await
        .unwrap();
    let mut ny = woman("Ana", "+12125550123", "2026-09-01");
    ny.village = Some("NYC1".into());
    let ny = t
        .app
        .care
        .enroll(&ny, "test", "test")
        .await
        .unwrap()
        .woman_id();
    let cn = t
        .enroll("王秀英", "13812345678", "2026-09-01")
        .await
        .woman_id();

    // The night New York's clocks fall back (01:00-02:00 happens twice),
    // ticking every 10 minutes through it: one message, at the first 01:30.
    t.clock.set(utc("2026-11-01T03:00:00Z"));
    while t.clock.now() <= utc("2026-11-01T08:00:00Z") {
        t.tick().await;
        t.clock.advance(Duration::minutes(10));
    }
    assert_eq!(
        send_times(&t, ny, "dst/fold").await,
        [utc("2026-11-01T05:30:00Z")],
        "01:30 EDT, once"
    );
    assert_eq!(t.sent_to("+12125550123").len(), 1);
    // The same step in Shanghai: 01:30 there.
    assert_eq!(
        send_times(&t, cn, "dst/fold").await,
        [utc("2026-10-31T17:30:00Z")]
    );

    // The day New York skips 02:00-03:00: 02:30 does not exist, 03:00 EDT does.
    t.clock.set(utc("2027-03-13T20:00:00Z"));
    t.tick().await;
    assert_eq!(
        send_times(&t, ny, "dst/gap").await,
        [utc("2027-03-14T07:00:00Z")],
        "the next valid time"
    );
    assert_eq!(
        send_times(&t, cn, "dst/gap").await,
        [utc("2027-03-13T18:30:00Z")]
    );
}

#[tokio::test]
async fn each_area_is_held_to_its_own_send_window() {
    let t = spawn_app_with(
        |c| {
            c.zones.insert("NYC1".into(), chrono_tz::America::New_York);
        },
        "2026-12-01 10:00",
    )
    .await;
    let mut ny = woman("Ana", "+12125550123", "2026-09-22");
    ny.village = Some("NYC1".into());
    ny.language = Some("en".into());
    t.app.care.enroll(&ny, "test", "test").await.unwrap();
    t.enroll("王秀英", "13812345678", "2026-09-22").await;
    // 09:00 in New York on 12-12 is 22:00 in Shanghai, outside its window
    // (08:00-20:00): her reminder goes; the Shanghai one waits for morning.
    t.clock.set(utc("2026-12-12T13:00:00Z"));
    t.tick().await;
    t.clock.set(utc("2026-12-12T14:00:00Z"));
    t.tick().await;
    let ny_sent = t.sent_to("+12125550123");
    assert_eq!(ny_sent.len(), 1, "09:00 in New York");
    assert!(ny_sent[0].message.body.contains("Ana"));
    assert!(
        t.sent_to("+8613812345678").is_empty(),
        "22:00 in Shanghai: held"
    );
    t.clock.set(utc("2026-12-13T00:00:00Z")); // 08:00 in Shanghai
    t.tick().await;
    assert_eq!(t.sent_to("+8613812345678").len(), 1);
}

#[tokio::test]
async fn officers_get_their_digest_at_eight_in_their_own_zone() {
    let t = spawn_app_with(
        |c| {
            c.zones.insert("NYC1".into(), chrono_tz::America::New_York);
        },
        "2026-12-01 10:00",
    )
    .await;
    for (code, village, phone) in [
        ("OFNY", "NYC1", "+12125550199"),
        ("OFCN", "V001", "13900000001"),
    ] {
        t.app
            .store
            .add_staff(
                &careminder::store::NewStaff {
                    code: code.into(),
                    name: code.into(),
                    phone: Some(
                        careminder::domain::Phone::parse(phone, t.app.config.region()).unwrap(),
                    ),
                    role: careminder::domain::Role::Officer,
                    language: careminder::domain::Language::En,
                    village: Some(village.into()),
                    township: None,
                    wecom_userid: None,
                },
                t.clock.now(),
            )
            .await
            .unwrap();
    }
    let mut ny = woman("Ana", "+12125550123", "2026-09-22");
    ny.village = Some("NYC1".into());
    ny.officer = Some("OFNY".into());
    let ny = t.app.care.enroll(&ny, "test", "test").await.unwrap();
    let mut cn = woman("王秀英", "13812345678", "2026-09-22");
    cn.officer = Some("OFCN".into());
    t.app.care.enroll(&cn, "test", "test").await.unwrap();
    // Hour by hour until both visits are well overdue: each officer's
    // first digest comes at 08:00 where she works.
    let visits = t.app.store.visits_of(ny.pregnancy_id()).await.unwrap();
    let end = careminder::domain::schedule::start_of_day(
        chrono_tz::Asia::Shanghai,
        visits[0].2 + Duration::days(t.app.config.jobs.overdue_grace_days + 3),
    );
    let mut first: std::collections::HashMap<&str, DateTime<Utc>> = Default::default();
    while t.clock.now() < end {
        t.tick().await;
        for phone in ["+8613900000001", "+12125550199"] {
            if !t.sent_to(phone).is_empty() {
                first.entry(phone).or_insert(t.clock.now());
            }
        }
        t.clock.advance(Duration::hours(1));
    }
    use chrono::Timelike;
    let sh = first["+8613900000001"].with_timezone(&chrono_tz::Asia::Shanghai);
    let ny = first["+12125550199"].with_timezone(&chrono_tz::America::New_York);
    assert_eq!(sh.hour(), 8, "Shanghai officer at {sh}");
    assert_eq!(ny.hour(), 8, "New York officer at {ny}");
    assert_eq!(
        t.sent_to("+8613900000001").len(),
        t.sent_to("+12125550199").len(),
        "one a day each"
    );
}
