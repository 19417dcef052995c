//! The township assessment's indicators, against counts made here from
//! what the test itself recorded: registrations early and late, check-ups
//! done and not, births with and without their home visit and 42-day
//! check, the officers' home visits on time, late and never, reminders,
//! an opt-out.

use crate::helpers::*;
use careminder::services::reports::IndicatorRow;
use chrono::{Duration, NaiveDate};

fn d(s: &str) -> NaiveDate {
    careminder::domain::dates::parse_date(s).unwrap()
}

async fn visit(t: &TestApp, w: i64, contact: &str, on: &str) {
    t.app
        .care
        .record_visit(w, Some(contact), Some(on), "admin", None, None)
        .await
        .unwrap_or_else(|e| panic!("{contact} on {on}: {e}"));
}

fn find<'a>(rows: &'a [IndicatorRow], ind: &str, level: &str, area: &str) -> &'a IndicatorRow {
    rows.iter()
        .find(|r| {
            r.indicator == ind
                && r.level == level
                && match level {
                    "village" => r.village == area,
                    "township" => r.township == area,
                    _ => true,
                }
        })
        .unwrap_or_else(|| panic!("no {ind} row for {level} {area}"))
}

#[tokio::test]
async fn indicators_match_counts_made_from_what_was_recorded() {
    let t = spawn_app().await; // 2026-12-01 10:00
    staff(&t, "V001-O1", "13700000001", "officer", Some("V001"), "T1").await;
    staff(&t, "V002-O1", "13700000002", "officer", Some("V002"), "T1").await;
    // Gestational age at registration today: 10w, 22w, 13w exactly, 8w.
    let w1 = woman_in(&t, "甲", "13800000001", "2026-09-22", "V001").await;
    let w2 = woman_in(&t, "乙", "13800000002", "2026-07-01", "V001").await;
    let w3 = woman_in(&t, "丙", "13800000003", "2026-09-01", "V002").await;
    let _w4 = woman_in(&t, "丁", "13800000004", "2026-10-06", "V002").await;
    let lmps = [
        ("V001", d("2026-09-22")),
        ("V001", d("2026-07-01")),
        ("V002", d("2026-09-01")),
        ("V002", d("2026-10-06")),
    ];
    let registered = d("2026-12-01");
    // Reminders go out for three weeks (the mock delivers each).
    t.run_until("2026-12-20 00:00", Duration::hours(1)).await;
    let women = [
        "+8613800000001",
        "+8613800000002",
        "+8613800000003",
        "+8613800000004",
    ];
    let reminders = t
        .mock
        .sent()
        .iter()
        .filter(|m| women.contains(&m.message.to.as_str()))
        .count() as i64;
    assert!(reminders > 0);
    // W1, her officer's first home visit on time and the second late.
    t.at("2027-01-10 10:00");
    visit(&t, w1, "home-1", "2026-12-31").await;
    t.app
        .consents
        .opt_out(w3, careminder::services::consent::Via::Cli, "test")
        .await
        .unwrap();
    t.at("2027-09-01 10:00");
    visit(&t, w1, "home-2", "2027-02-20").await; // its period ended 02-12
                                                 // W1: all five check-ups on their due days, a birth, her home visit
                                                 // three days after and the 42-day check.
    for (c, on) in [
        ("anc1", "2026-12-15"),
        ("anc2", "2027-01-12"),
        ("anc3", "2027-02-16"),
        ("anc4", "2027-04-06"),
        ("anc5", "2027-06-08"),
    ] {
        visit(&t, w1, c, on).await;
    }
    t.app
        .care
        .record_birth(w1, "2027-06-25", None, true, "admin")
        .await
        .unwrap();
    visit(&t, w1, "pnc-home", "2027-06-28").await;
    visit(&t, w1, "pnc-42d", "2027-08-06").await;
    // W2 (registered at 22 weeks): two check-ups, a birth, her home visit
    // eleven days after, no 42-day check.
    visit(&t, w2, "anc3", "2026-12-10").await;
    visit(&t, w2, "anc4", "2027-01-20").await;
    t.app
        .care
        .record_birth(w2, "2027-04-01", None, true, "admin")
        .await
        .unwrap();
    visit(&t, w2, "pnc-home", "2027-04-12").await;

    let rows = t
        .app
        .reports
        .indicators(registered, d("2027-09-01"))
        .await
        .unwrap();

    // Registered before 13+0 weeks (under 91 days since LMP).
    for village in ["V001", "V002"] {
        let early = lmps
            .iter()
            .filter(|(v, lmp)| *v == village && (registered - *lmp).num_days() < 91)
            .count() as i64;
        let all = lmps.iter().filter(|(v, _)| *v == village).count() as i64;
        let r = find(&rows, "early_registration", "village", village);
        assert_eq!((r.numerator, r.denominator), (early, all), "{village}");
    }
    let c = find(&rows, "early_registration", "county", "");
    assert_eq!((c.numerator, c.denominator), (2, 4));
    let tw = find(&rows, "early_registration", "township", "T1");
    assert_eq!((tw.numerator, tw.denominator), (2, 4));
    assert_eq!(c.share, Some(0.5));
    assert_eq!(c.met, Some(false), "target 85%");
    // Births in the period: W1 and W2, both in V001.
    for (ind, num) in [
        ("five_checkups", 1),       // W1 five, W2 two
        ("postpartum_visit_7d", 1), // W1 day 3, W2 day 11
        ("check_42d", 1),           // W1 only
    ] {
        let r = find(&rows, ind, "village", "V001");
        assert_eq!((r.numerator, r.denominator), (num, 2), "{ind}");
        let c = find(&rows, ind, "county", "");
        assert_eq!((c.numerator, c.denominator), (num, 2), "{ind} county");
    }
    // The officers' home visits whose period ended in it, not cancelled by a birth.
    let mut due = 0;
    for w in [w1, w2, w3, _w4] {
        let pid = t.app.store.current_pregnancy(w).await.unwrap().unwrap();
        for (key, _due, end, status) in t.app.store.visits_of(pid).await.unwrap() {
            if key.starts_with("home-")
                && status != "cancelled"
                && end >= registered
                && end < d("2027-09-01")
            {
                due += 1;
            }
        }
    }
    let c = find(&rows, "home_visits_on_time", "county", "");
    assert_eq!(
        (c.numerator, c.denominator),
        (1, due),
        "home-1 on time; home-2 late"
    );
    // Reminders: every one the gateway took was delivered.
    let c = find(&rows, "reminders_delivered", "county", "");
    assert_eq!((c.numerator, c.denominator), (reminders, reminders));
    assert_eq!(c.met, Some(true));
    // One opt-out among four women who consented.
    let c = find(&rows, "opt_outs", "county", "");
    assert_eq!((c.numerator, c.denominator), (1, 4));
    assert!(!c.higher_is_better);
    let r = find(&rows, "opt_outs", "village", "V002");
    assert_eq!((r.numerator, r.denominator), (1, 2));

    // The same figures from the command line, the API and as CSV.
    let api: serde_json::Value = t
        .client
        .get(t.url("/api/v1/reports/indicators?from=2026-12-01&to=2027-09-01"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(api.as_array().unwrap().len(), rows.len());
    let csv = careminder::services::reports::to_csv(&rows);
    assert!(csv.starts_with('\u{feff}'), "a BOM for Excel");
    assert!(csv.contains("early_registration,孕13周前建册率,county,,,2,4,0.500,0.85,no"));
}

#[tokio::test]
async fn a_target_for_an_unknown_indicator_is_refused_by_name() {
    let mut c = careminder::Config::default();
    c.indicators.targets.insert("early_registraton".into(), 0.9);
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("early_registraton"), "{e}");
}
