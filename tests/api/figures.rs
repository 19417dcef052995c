//! Each way the figures and the home visits went wrong, one test each
//! (every one failed on the code before the national definitions), the
//! quarterly table as a workbook, and the periods and areas a report
//! refuses. The definitions are `shared/domain.md` "How the figures are
//! defined" (全国妇幼卫生调查制度) and the basic public health service
//! standard (3rd edition, 2017) for the visits.

use crate::console::{add_staff_in, Browser, PASSWORD};
use crate::helpers::*;
use careminder::domain::Period;
use careminder::services::care::BirthInput;
use careminder::services::reports::{IndicatorReport, IndicatorRow, Scope};
use reqwest::StatusCode;

fn county_row<'a>(r: &'a IndicatorReport, ind: &str) -> &'a IndicatorRow {
    r.rows
        .iter()
        .find(|x| x.indicator == ind && x.level == "county")
        .unwrap_or_else(|| panic!("no county row for {ind}"))
}

fn nums(r: &IndicatorRow) -> (i64, i64, i64) {
    (r.numerator, r.denominator, r.not_yet_due)
}

async fn report(t: &TestApp, quarter: &str) -> IndicatorReport {
    t.app
        .reports
        .indicators(Period::parse_quarter(quarter).unwrap(), &Scope::default())
        .await
        .unwrap()
}

async fn visit(t: &TestApp, w: i64, contact: &str, on: &str) {
    t.app
        .care
        .record_visit(w, Some(contact), Some(on), "admin", None, None)
        .await
        .unwrap_or_else(|e| panic!("{contact} on {on}: {e}"));
}

async fn text_from(t: &TestApp, from: &str, text: &str) {
    let id = format!("f-{}-{}", t.clock.now().timestamp(), text.len());
    t.app
        .inbound
        .receive(careminder::domain::NewInbound {
            gateway: "mock".into(),
            provider_id: id,
            sender: from.into(),
            text: text.into(),
            received_at: t.clock.now(),
        })
        .await
        .unwrap();
}

/// Her visits of one kind as "key status [done_on]".
async fn visits(t: &TestApp, w: i64, prefix: &str) -> Vec<String> {
    let pid = t.app.store.current_pregnancy(w).await.unwrap().unwrap();
    t.app
        .store
        .visit_records(pid)
        .await
        .unwrap()
        .into_iter()
        .filter(|v| v.key.starts_with(prefix))
        .map(|v| {
            format!(
                "{} {}{}",
                v.key,
                v.status,
                v.done_on.map(|d| format!(" {d}")).unwrap_or_default()
            )
        })
        .collect()
}

/// The national rates divide by live births (活产数): a stillbirth adds
/// its mother to "women who gave birth" but no live birth, and twins add
/// two. Before, every rate divided by births, a stillbirth included.
#[tokio::test]
async fn the_national_rates_divide_by_live_births() {
    let t = spawn_app_with(|_| {}, "2027-02-01 10:00").await;
    staff(&t, "V001-O1", "13700000001", "officer", Some("V001"), "T1").await;
    let a = woman_in(&t, "甲", "13800000001", "2026-06-01", "V001").await;
    let b = woman_in(&t, "乙", "13800000002", "2026-06-01", "V001").await;
    let c = woman_in(&t, "丙", "13800000003", "2026-06-01", "V001").await;
    let d = woman_in(&t, "丁", "13800000004", "2026-06-20", "V001").await;
    t.at("2027-03-10 10:00");
    let care = &t.app.care;
    care.record_birth(a, &birth("2027-03-01", None, true), "admin")
        .await
        .unwrap();
    care.record_birth(b, &birth("2027-03-02", None, false), "admin")
        .await
        .unwrap();
    let twins = BirthInput {
        live_born: Some(2),
        ..BirthInput::live("2027-03-03")
    };
    care.record_birth(c, &twins, "admin").await.unwrap();
    t.at("2027-05-01 10:00");
    let r = report(&t, "2027Q1").await;
    for ind in ["early_registration", "five_checkups", "check_42d"] {
        assert_eq!(county_row(&r, ind).denominator, 3, "{ind}: 1 + 0 + 2");
    }
    let table = t
        .app
        .reports
        .quarterly(
            Period::parse_quarter("2027Q1").unwrap(),
            &Scope::default(),
            false,
        )
        .await
        .unwrap();
    let county = &table.rows[0];
    assert_eq!(
        (county.level, county.women_delivered, county.live_births),
        ("county", 3, 3)
    );
    // Twins born alive are asked for as a number, and one that is not is refused.
    let six = BirthInput {
        live_born: Some(9),
        ..BirthInput::live("2027-04-20")
    };
    let e = care.record_birth(d, &six, "admin").await.unwrap_err();
    assert!(e.to_string().contains("live_born"), "{e}");
}

/// Early registration (早孕建册) is registered AND first check-up before 13
/// weeks. Before, a woman registered at 10 weeks who first came at 14 was
/// counted early.
#[tokio::test]
async fn registration_before_13_weeks_needs_the_first_check_up_before_13_weeks_too() {
    let t = spawn_app_with(|_| {}, "2026-08-10 10:00").await; // 10+0 for both
    staff(&t, "V001-O1", "13700000001", "officer", Some("V001"), "T1").await;
    let on_time = woman_in(&t, "甲", "13800000001", "2026-06-01", "V001").await;
    let late = woman_in(&t, "乙", "13800000002", "2026-06-01", "V001").await;
    t.at("2027-03-20 10:00");
    visit(&t, on_time, "anc1", "2026-08-20").await; // 11+3
    visit(&t, late, "anc1", "2026-09-07").await; // 14+0: after its window
    for w in [on_time, late] {
        t.app
            .care
            .record_birth(w, &birth("2027-03-01", None, true), "admin")
            .await
            .unwrap();
    }
    t.at("2027-05-01 10:00");
    let r = report(&t, "2027Q1").await;
    assert_eq!(nums(county_row(&r, "early_registration")), (1, 2, 0));
    assert_eq!(nums(county_row(&r, "antenatal_care")), (2, 2, 0));
}

/// A birth ends the prenatal plan, but a monthly home visit already missed
/// before it stays missed, in the worklist and in the home-visit figure.
/// Before, the birth cancelled it and it vanished from the record.
#[tokio::test]
async fn a_birth_keeps_the_home_visits_missed_before_it() {
    let t = spawn_app_with(|_| {}, "2026-12-01 10:00").await;
    staff(&t, "V001-O1", "13700000001", "officer", Some("V001"), "T1").await;
    // 30+ weeks: home-1 is due 12-31 (its period to 2027-01-29).
    let w = woman_in(&t, "甲", "13800000001", "2026-04-25", "V001").await;
    assert_eq!(
        visits(&t, w, "home-").await,
        ["home-1 pending", "home-2 pending"]
    );
    t.at("2027-02-05 10:00");
    t.app
        .care
        .record_birth(w, &birth("2027-02-03", None, true), "admin")
        .await
        .unwrap();
    // home-1's period ended before the birth: missed; home-2's was running: ended.
    assert_eq!(
        visits(&t, w, "home-").await,
        ["home-1 pending", "home-2 cancelled", "home-pp-1 pending"]
    );
    let work = t
        .app
        .jobs
        .worklist(t.clock.now(), Some("V001-O1"))
        .await
        .unwrap();
    assert!(
        work.iter()
            .any(|i| i.visit.contact_key == "home-1" && i.state == "missed, not recorded"),
        "{work:?}"
    );
    let r = report(&t, "2027Q1").await;
    assert_eq!(nums(county_row(&r, "home_visits_on_time")), (0, 1, 0));
}

/// A home-visit text (`家访 <code>`) closes the visit whose period holds the
/// day it is sent, never one whose period is over. Before, it closed the
/// oldest open one, so one missed month made every later visit "late".
#[tokio::test]
async fn a_home_visit_text_closes_the_visit_of_its_period_never_a_missed_one() {
    let t = spawn_app_with(|_| {}, "2026-12-01 10:00").await;
    staff(&t, "V001-O1", "13700000001", "officer", Some("V001"), "T1").await;
    let w = woman_in(&t, "甲", "13800000001", "2026-09-22", "V001").await;
    // home-1: 12-31 to 01-29 (missed); home-2: 01-30 to 02-28.
    t.at("2027-02-10 10:00");
    text_from(&t, "+8613700000001", &format!("家访 {w} 一切都好")).await;
    assert_eq!(
        visits(&t, w, "home-").await[..3],
        ["home-1 pending", "home-2 done 2027-02-10", "home-3 pending"]
    );
    // Before any period has begun, the text closes the one due soonest.
    let v = woman_in(&t, "乙", "13800000002", "2026-10-01", "V001").await;
    text_from(&t, "+8613700000001", &format!("家访 {v}")).await;
    assert_eq!(visits(&t, v, "home-1").await, ["home-1 done 2027-02-10"]);
    // And the figure: home-1 missed, home-2 on time.
    t.at("2027-04-05 10:00");
    let r = report(&t, "2027Q1").await;
    let row = county_row(&r, "home_visits_on_time");
    assert_eq!((row.numerator, row.denominator), (1, 3), "{row:?}");
}

/// After a birth, `V <code>` records her postpartum home visit, and the
/// baby's home visit of the same day with it (one visit to the house).
/// Before, it recorded the baby's and left hers open.
#[tokio::test]
async fn a_visit_code_after_a_birth_records_her_postpartum_visit_and_the_babys_with_it() {
    let t = spawn_app_with(|_| {}, "2027-03-01 10:00").await;
    staff(&t, "V001-O1", "13700000001", "officer", Some("V001"), "T1").await;
    let w = woman_in(&t, "甲", "13800000001", "2026-06-20", "V001").await;
    t.app
        .care
        .record_birth(w, &birth("2027-03-01", None, true), "admin")
        .await
        .unwrap();
    t.at("2027-03-03 10:00");
    text_from(&t, "+8613700000001", &format!("V {w}")).await;
    assert_eq!(
        visits(&t, w, "pnc-home").await,
        ["pnc-home done 2027-03-03"]
    );
    assert_eq!(
        visits(&t, w, "newborn-home").await,
        ["newborn-home done 2027-03-03"]
    );
    assert_eq!(visits(&t, w, "newborn-28d").await, ["newborn-28d pending"]);
    t.tick().await;
    let answer = t.sent_to("+8613700000001");
    let last = &answer.last().unwrap().message.body;
    assert!(
        last.contains("产后访视") && last.contains("新生儿家庭访视"),
        "{last}"
    );
}

/// Erasing a woman's data keeps her in every figure: a period closed before
/// the erasure reads the same after it. Before, erasure removed her from
/// the opt-out figure (and counted the erasure as an opt-out).
#[tokio::test]
async fn erasing_a_woman_changes_no_figure_of_a_period_before_it() {
    let t = spawn_app_with(|_| {}, "2027-01-05 10:00").await;
    staff(&t, "V001-O1", "13700000001", "officer", Some("V001"), "T1").await;
    let a = woman_in(&t, "甲", "13800000001", "2026-06-01", "V001").await;
    let b = woman_in(&t, "乙", "13800000002", "2026-06-01", "V001").await;
    let _c = woman_in(&t, "丙", "13800000003", "2026-06-01", "V001").await;
    t.at("2027-02-10 10:00");
    t.app
        .consents
        .opt_out(a, careminder::services::consent::Via::Cli, "test")
        .await
        .unwrap();
    t.at("2027-03-05 10:00");
    t.app
        .care
        .record_birth(b, &birth("2027-03-01", None, true), "admin")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    t.at("2027-04-10 10:00");
    let before = report(&t, "2027Q1").await;
    assert_eq!(nums(county_row(&before, "opt_outs")), (1, 3, 0));
    t.app.care.erase_woman(a, "admin").await.unwrap();
    t.app.care.erase_woman(b, "admin").await.unwrap();
    let after = report(&t, "2027Q1").await;
    assert_eq!(before.rows, after.rows);
    // The erasure of the next quarter is not an opt-out in it.
    t.at("2027-07-10 10:00");
    let q2 = report(&t, "2027Q2").await;
    assert_eq!(
        nums(county_row(&q2, "opt_outs")),
        (0, 2, 0),
        "b and c, none opted out"
    );
}

/// A period that has not ended counts what is not yet due apart, never as
/// a failure, and leaves it out of the share. Before, a birth two days ago
/// counted as a missed postpartum visit and a missed 42-day check.
#[tokio::test]
async fn an_open_period_counts_what_is_not_yet_due_apart() {
    let t = spawn_app_with(|_| {}, "2027-02-01 10:00").await;
    staff(&t, "V001-O1", "13700000001", "officer", Some("V001"), "T1").await;
    let a = woman_in(&t, "甲", "13800000001", "2026-06-01", "V001").await;
    let b = woman_in(&t, "乙", "13800000002", "2026-06-01", "V001").await;
    t.at("2027-03-10 10:00");
    t.app
        .care
        .record_birth(a, &birth("2027-03-08", None, true), "admin")
        .await
        .unwrap();
    let discharged = BirthInput {
        discharged_on: Some("2027-02-25".into()),
        ..BirthInput::live("2027-02-20")
    };
    t.app
        .care
        .record_birth(b, &discharged, "admin")
        .await
        .unwrap();
    // b: discharged 02-25, no visit by 03-04: failed. a: born 03-08: not yet due.
    let r = report(&t, "2027Q1").await;
    assert!(!r.ended);
    let visit = county_row(&r, "postpartum_visit_7d");
    assert_eq!(nums(visit), (0, 2, 1));
    assert_eq!(visit.share, Some(0.0), "over the one that could be judged");
    let check = county_row(&r, "check_42d");
    assert_eq!(nums(check), (0, 2, 2));
    assert_eq!(check.share, None, "nothing judged yet");
    assert_eq!(check.met, None);
    // Her visit on day 5 after discharge counts; the share moves.
    visit_on(&t, a, "pnc-home", "2027-03-10").await;
    let r = report(&t, "2027Q1").await;
    assert_eq!(nums(county_row(&r, "postpartum_visit_7d")), (1, 2, 0));
}

async fn visit_on(t: &TestApp, w: i64, contact: &str, on: &str) {
    visit(t, w, contact, on).await
}

/// A woman first seen at 16 weeks still has a first check-up (due at
/// registration) and can reach five; a check-up beyond her plan is recorded
/// as an extra one and counts. Before, her first check-up was dropped from
/// her plan and an extra one was refused ("no pending check-up to record").
#[tokio::test]
async fn a_woman_first_seen_at_16_weeks_can_still_have_five_check_ups() {
    let t = spawn_app_with(|_| {}, "2026-09-22 10:00").await;
    staff(&t, "V001-O1", "13700000001", "officer", Some("V001"), "T1").await;
    // LMP 06-02: 16+0 today.
    let w = woman_in(&t, "甲", "13800000001", "2026-06-02", "V001").await;
    let mut planned = visits(&t, w, "anc").await;
    planned.sort();
    assert_eq!(
        planned,
        [
            "anc1 pending",
            "anc2 pending",
            "anc3 pending",
            "anc4 pending",
            "anc5 pending"
        ]
    );
    t.at("2027-03-10 10:00");
    for (c, on) in [
        ("anc1", "2026-09-24"),
        ("anc2", "2026-10-20"),
        ("anc4", "2026-12-20"),
        ("anc5", "2027-02-20"),
    ] {
        visit(&t, w, c, on).await;
    }
    // anc3 missed; she went once more on her own: an extra check-up.
    visit(&t, w, "extra", "2027-01-15").await;
    // Once a day: the same day again is refused, and nothing is written.
    let e = t
        .app
        .care
        .record_visit(w, Some("extra"), Some("2027-01-15"), "admin", None, None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("2027-01-15"), "{e}");
    assert_eq!(visits(&t, w, "extra").await, ["extra-1 done 2027-01-15"]);
    // Without a contact and nothing pending open, the refusal says how.
    t.app
        .care
        .record_birth(w, &birth("2027-03-01", None, true), "admin")
        .await
        .unwrap();
    t.at("2027-04-20 10:00");
    let r = report(&t, "2027Q1").await;
    assert_eq!(nums(county_row(&r, "five_checkups")), (1, 1, 0));
    assert_eq!(nums(county_row(&r, "early_registration")), (0, 1, 0));
}

/// The officer's worklist (the console's and the command line's) shows a
/// monthly home visit as due from a few days before its date, one at a
/// time, and "missed" only once its period has ended. Before, it listed
/// one 29 days early (two at once after a miss), and the text worklist
/// said "window ended" for visits still due.
#[tokio::test]
async fn the_text_worklist_says_when_a_home_visit_is_due_and_when_it_was_missed() {
    let t = spawn_app_with(|_| {}, "2026-12-01 10:00").await;
    staff(&t, "V001-O1", "13700000001", "officer", Some("V001"), "T1").await;
    let w = woman_in(&t, "甲", "13800000001", "2026-09-22", "V001").await;
    let worklist = |now: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_careminder"))
            .args([
                "--db",
                &db_arg(&t),
                "--now",
                now,
                "worklist",
                "--officer",
                "V001-O1",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    // home-1 is due 12-31: nothing yet on 12-20, due from 12-26.
    let early = worklist("2026-12-20 09:00");
    assert!(!early.contains("home visit"), "{early}");
    let due = worklist("2026-12-27 09:00");
    assert!(
        due.contains("home visit 1 (due 2026-12-31 to 2027-01-29)"),
        "{due}"
    );
    let home_line = due.lines().find(|l| l.contains("home visit")).unwrap();
    assert!(!home_line.contains("window ended"), "{due}");
    // Not recorded: missed once its period ended, while the next is due.
    let later = worklist("2027-02-02 09:00");
    assert!(
        later.contains("home visit 1 (missed: its period ended 2027-01-29)"),
        "{later}"
    );
    assert!(
        later.contains("home visit 2 (due 2027-01-30 to 2027-02-28)"),
        "{later}"
    );
    assert!(!later.contains("home visit 3"), "{later}");
    let _ = w;
}

/// The quarterly table downloads as a workbook that opens with the
/// national form's Chinese headings and the same counts as the page.
#[tokio::test]
async fn the_quarterly_table_downloads_as_xlsx_with_chinese_headings() {
    use calamine::{Reader, Xlsx};
    let t = spawn_app_with(|_| {}, "2027-02-01 10:00").await;
    staff(&t, "V001-O1", "13700000001", "officer", Some("V001"), "T1").await;
    staff(&t, "V002-O1", "13700000002", "officer", Some("V002"), "T1").await;
    let a = woman_in(&t, "甲", "13800000001", "2026-06-01", "V001").await;
    let b = woman_in(&t, "乙", "13800000002", "2026-06-01", "V002").await;
    t.at("2027-03-10 10:00");
    for (w, live) in [(a, true), (b, false)] {
        t.app
            .care
            .record_birth(w, &birth("2027-03-01", None, live), "admin")
            .await
            .unwrap();
    }
    t.at("2027-05-20 10:00");
    add_staff_in(
        &t,
        "ADM",
        "admin",
        None,
        None,
        careminder::domain::Language::ZhCn,
    )
    .await;
    let mut browser = Browser::new(&t);
    browser.sign_in("ADM", PASSWORD).await;
    let r = browser
        .with_session(
            browser
                .client
                .get(t.url("/reports/quarterly.xlsx?quarter=2027Q1")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let bytes = r.bytes().await.unwrap().to_vec();
    let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    let cell = |r: u32, c: u32| {
        sheet
            .get_value((r, c))
            .map(|v| v.to_string())
            .unwrap_or_default()
    };
    assert!(cell(0, 0).contains("2027年第1季度"), "{}", cell(0, 0));
    let heads: Vec<String> = (0..12).map(|c| cell(2, c)).collect();
    assert_eq!(
        heads[..8],
        [
            "乡镇",
            "村",
            "产妇数",
            "活产数",
            "孕13周前建册并首次产检人数",
            "产前检查人数",
            "产前检查≥5次人数",
            "产后访视人数"
        ]
    );
    // County, township T1, then its villages.
    assert_eq!(
        (cell(3, 0), cell(3, 2), cell(3, 3)),
        ("全县".into(), "2".into(), "1".into())
    );
    assert_eq!((cell(4, 0), cell(4, 2)), ("T1".into(), "2".into()));
    assert_eq!(
        (cell(5, 1), cell(5, 2), cell(5, 3)),
        ("V001".into(), "1".into(), "1".into())
    );
    assert_eq!((cell(6, 1), cell(6, 3)), ("V002".into(), "0".into()));
    // The CSV carries one byte-order mark and the same headings.
    let (_, csv) = browser.get("/reports/quarterly.csv?quarter=2027Q1").await;
    assert!(csv.starts_with('\u{feff}') && !csv[3..].starts_with('\u{feff}'));
    assert!(csv.contains("乡镇,村,产妇数,活产数"), "{csv}");
    // The API gives the workbook too.
    let api = t
        .client
        .get(t.url("/api/v1/reports/quarterly?quarter=2027Q1&format=xlsx"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::OK);
    assert!(api.bytes().await.unwrap().starts_with(b"PK"));
}

/// A period or area that is not one is refused with the reason, in the
/// reader's language on the console and as a JSON error from the API;
/// never a table of zeros that looks like figures.
#[tokio::test]
async fn a_period_or_area_that_is_not_one_is_refused_never_shown_as_zeros() {
    let t = spawn_app_with(|_| {}, "2027-05-20 10:00").await;
    staff(&t, "V001-O1", "13700000001", "officer", Some("V001"), "T1").await;
    let api = |q: &'static str| {
        let t = &t;
        async move {
            let r = t
                .client
                .get(t.url(&format!("/api/v1/reports/{q}")))
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body: serde_json::Value = r.json().await.unwrap();
            (
                status.as_u16(),
                body["error"].as_str().unwrap_or("").to_string(),
            )
        }
    };
    for (q, status, says) in [
        ("indicators?quarter=2027Q5", 400, "2027Q5"),
        ("indicators?year=20271", 400, "20271"),
        (
            "indicators?from=2027-05-01&to=2027-04-01",
            422,
            "is not after",
        ),
        ("indicators?quarter=2027Q3", 422, "after today"),
        ("indicators?quarter=2027Q1&year=2027", 422, "one period"),
        ("indicators?quarter=2027Q1&township=T9", 422, "township"),
        ("indicators?quarter=2027Q1&officer=NOBODY", 422, "officer"),
        ("quarterly?quarter=2027Q1&village=V999", 422, "village"),
        ("quarterly?quarter=2027Q1&format=pdf", 400, "format"),
    ] {
        let (got, error) = api(q).await;
        assert_eq!(got, status, "{q}: {error}");
        assert!(error.contains(says), "{q}: {error}");
    }
    // Empty fields, as a browser's form sends them, are not given.
    let (ok, _) = api("quarterly?quarter=2027Q1&year=&from=&to=&township=&village=").await;
    assert_eq!(ok, 200);
    add_staff_in(
        &t,
        "ADM",
        "admin",
        None,
        None,
        careminder::domain::Language::ZhCn,
    )
    .await;
    let mut b = Browser::new(&t);
    b.sign_in("ADM", PASSWORD).await;
    for (path, says) in [
        (
            "/indicators?quarter=2027Q5&year=&from=&to=&township=&village=",
            "不是季度",
        ),
        (
            "/reports/quarterly?quarter=&year=&from=2027-05-01&to=2027-04-01&township=&village=",
            "不在开始日期",
        ),
        (
            "/reports/quarterly?quarter=2027Q1&year=&from=&to=&township=T9&village=",
            "没有代码为“T9”的乡镇",
        ),
        (
            "/indicators/officers?quarter=2028Q1&year=&from=&to=&township=&village=",
            "晚于今天",
        ),
    ] {
        let (status, html) = b.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert!(html.contains(says), "{path}: {html}");
        assert!(!html.contains("<td>0</td>"), "{path}: no table of zeros");
    }
}
