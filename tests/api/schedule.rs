//! When reminders go out: the whole schedule of one pregnancy, quiet hours,
//! and local times in a named zone.

use crate::helpers::*;
use chrono::Duration;

#[tokio::test]
async fn woman_registered_at_10_weeks_gets_every_reminder_at_its_hand_computed_local_time() {
    let t = spawn_app().await; // 2026-12-01 10:00 Asia/Shanghai
                               // LMP 2026-09-22: 10+0 weeks on 2026-12-01.
    let out = t.enroll("王秀英", "13812345678", "2026-09-22").await;
    let visits = t.app.store.visits_of(out.pregnancy_id()).await.unwrap();
    // Her check-ups (the officer's monthly home visits are tasks, not hers).
    let got: Vec<String> = visits
        .iter()
        .filter(|(k, ..)| !k.starts_with("home-"))
        .map(|(k, due, end, _)| format!("{k} {due} {end}"))
        .collect();
    assert_eq!(
        got,
        [
            "anc1 2026-12-15 2026-12-21",
            "anc2 2027-01-12 2027-02-15",
            "anc3 2027-02-16 2027-03-15",
            "anc4 2027-04-06 2027-06-07",
            "anc5 2027-06-08 2027-07-05",
        ]
    );

    // Nobody records a visit, so every visit also gets its missed follow-up.
    t.run_until("2027-07-10 00:00", Duration::hours(1)).await;
    let sent: Vec<String> = t
        .sent_to("+8613812345678")
        .iter()
        .map(|m| t.fmt(m.at))
        .collect();
    assert_eq!(
        sent,
        [
            "2026-12-12 09:00",
            "2026-12-15 08:00",
            "2026-12-23 10:00", // anc1: 3 days before, on the day, missed
            "2027-01-09 09:00",
            "2027-01-12 08:00", // anc2
            "2027-02-13 09:00",
            "2027-02-16 08:00", // anc3
            "2027-02-17 10:00", // anc2 missed (window closed 02-15)
            "2027-03-17 10:00", // anc3 missed
            "2027-04-03 09:00",
            "2027-04-06 08:00", // anc4
            "2027-06-05 09:00",
            "2027-06-08 08:00", // anc5
            "2027-06-09 10:00", // anc4 missed
            "2027-07-07 10:00", // anc5 missed
        ]
    );
    let first = &t.sent_to("+8613812345678")[0].message.body;
    assert!(
        first.contains("第1次产前检查") && first.contains("12月15日") && first.contains("12月21日"),
        "{first}"
    );
}

#[tokio::test]
async fn a_step_at_22_00_goes_out_at_08_00_the_next_morning() {
    let t = spawn_app().await;
    let step = t.step_id("checkup-reminders", "before-3d").await;
    t.app
        .campaigns
        .retime_step(step, -3, "22:00", 24, "test")
        .await
        .unwrap();
    t.enroll("李桂兰", "13812345679", "2026-09-22").await; // anc1 due 2026-12-15
    t.run_until("2026-12-13 12:00", Duration::minutes(30)).await;
    let sent: Vec<String> = t
        .sent_to("+8613812345679")
        .iter()
        .map(|m| t.fmt(m.at))
        .collect();
    // 3 days before at 22:00 (12-12 22:00) is quiet time: 12-13 08:00 instead.
    assert_eq!(sent, ["2026-12-13 08:00"]);
}

#[tokio::test]
async fn send_times_follow_the_named_zone_across_a_dst_change() {
    let t = spawn_app_with(
        |c| c.timezone = chrono_tz::America::New_York,
        "2027-02-20 10:00",
    )
    .await;
    // LMP 2026-12-08: anc1 due 2027-03-02, anc2 due 2027-03-30; New York
    // moves its clocks on 2027-03-14.
    t.enroll("Amina", "+12025550143", "2026-12-08").await;
    t.run_until("2027-03-31 00:00", Duration::hours(1)).await;
    let sent = t.sent_to("+12025550143");
    let utc: Vec<String> = sent
        .iter()
        .map(|m| m.at.format("%m-%d %H:%M").to_string())
        .collect();
    let local: Vec<String> = sent.iter().map(|m| t.fmt(m.at)).collect();
    assert_eq!(
        local,
        [
            "2027-02-27 09:00",
            "2027-03-02 08:00",
            "2027-03-10 10:00",
            "2027-03-27 09:00",
            "2027-03-30 08:00"
        ]
    );
    // Same local hours, one hour earlier in UTC once summer time starts.
    assert_eq!(
        utc,
        [
            "02-27 14:00",
            "03-02 13:00",
            "03-10 15:00",
            "03-27 13:00",
            "03-30 12:00"
        ]
    );
}

#[tokio::test]
async fn nothing_goes_out_while_the_send_window_is_closed() {
    let t = spawn_app_with(
        |c| c.send_window = "09:30-17:00".parse().unwrap(),
        "2026-12-01 10:00",
    )
    .await;
    t.enroll("张玉梅", "13812345680", "2026-09-22").await;
    t.run_until("2026-12-15 23:00", Duration::minutes(30)).await;
    let sent: Vec<String> = t
        .sent_to("+8613812345680")
        .iter()
        .map(|m| t.fmt(m.at))
        .collect();
    // 09:00 and 08:00 steps both move to the window's opening.
    assert_eq!(sent, ["2026-12-12 09:30", "2026-12-15 09:30"]);
}
