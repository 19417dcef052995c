//! Women who move (issue 33; 流动人口 two-way management: the place she
//! leaves and the place she arrives in both serve her): within the county
//! her care moves to the officer there, both officers are told once, her
//! history stays; to another county her care here ends and a referral
//! summary, imported by the receiving county, carries her plan on.

use crate::helpers::*;
use chrono::Duration;
use serde_json::{json, Value};

fn bodies(t: &TestApp, phone: &str) -> Vec<(String, String)> {
    t.sent_to(phone)
        .into_iter()
        .map(|m| (t.fmt(m.at), m.message.body))
        .collect()
}

async fn post(t: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    let r = t
        .client
        .post(t.url(path))
        .bearer_auth(TOKEN)
        .json(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn post_raw(t: &TestApp, path: &str, body: Vec<u8>) -> (u16, Value) {
    let r = t
        .client
        .post(t.url(path))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn a_woman_moved_within_the_county_is_the_new_officers_and_both_officers_hear_once() {
    let t = spawn_app().await; // 2026-12-01 10:00
    staff(&t, "V001-O1", "13700000001", "officer", Some("V001"), "T1").await;
    staff(&t, "V002-O1", "13700000002", "officer", Some("V002"), "T2").await;
    // anc1's window closes 2026-12-21: overdue (grace 3 days) on 12-25.
    let a = woman_in(&t, "王秀英", "13812345601", "2026-09-22", "V001").await;
    let pregnancy = t.app.store.current_pregnancy(a).await.unwrap().unwrap();
    let visits_before = t.app.store.visits_of(pregnancy).await.unwrap();
    t.run_until("2026-12-10 10:00", Duration::hours(2)).await;

    let (status, m) = post(
        &t,
        &format!("/api/v1/women/{a}/move"),
        &json!({"officer": "V002-O1", "on": "2026-12-10"}),
    )
    .await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["from_officer"], "V001-O1");
    assert_eq!(
        m["to_village"], "V002",
        "the new officer's village by default"
    );
    // Recording it again is refused: she is V002-O1's already.
    let (status, _) = post(
        &t,
        &format!("/api/v1/women/{a}/move"),
        &json!({"officer": "V002-O1"}),
    )
    .await;
    assert_eq!(status, 422);

    t.run_until("2026-12-27 10:00", Duration::hours(2)).await;
    let old = bodies(&t, "+8613700000001");
    assert_eq!(old.len(), 1, "the old officer is told once: {old:?}");
    assert!(old[0].1.contains("王秀英") && old[0].1.contains("V002-O1医生"));
    let new = bodies(&t, "+8613700000002");
    assert!(new[0].1.contains("王秀英") && new[0].1.contains("V001-O1医生"));
    assert_eq!(
        new.iter().filter(|m| m.1.contains("迁入")).count(),
        1,
        "the new officer is told once: {new:?}"
    );
    // Her overdue check-up reaches the new officer, not the old one.
    assert!(
        new.iter()
            .any(|m| m.0 == "2026-12-25 08:00" && m.1.starts_with("逾期未做的检查：王秀英（V002）")),
        "{new:?}"
    );
    let worklist = t
        .app
        .jobs
        .worklist(t.clock.now(), Some("V002-O1"))
        .await
        .unwrap();
    assert!(!worklist.is_empty(), "on the new officer's worklist");
    assert!(t
        .app
        .jobs
        .worklist(t.clock.now(), Some("V001-O1"))
        .await
        .unwrap()
        .is_empty());
    // Her reminders went on to her after the move.
    assert!(bodies(&t, "+8613812345601")
        .iter()
        .any(|m| m.0.as_str() > "2026-12-10"));
    // Her history is kept: the same pregnancy and visits, and the move.
    assert_eq!(
        t.app.store.current_pregnancy(a).await.unwrap(),
        Some(pregnancy)
    );
    assert_eq!(
        t.app.store.visits_of(pregnancy).await.unwrap().len(),
        visits_before.len()
    );
    let moves = t.app.store.moves_of(a).await.unwrap();
    assert_eq!(moves.len(), 1);
    assert_eq!(
        (
            moves[0].from_village.as_deref(),
            moves[0].to_officer.as_deref()
        ),
        (Some("V001"), Some("V002-O1"))
    );
}

/// The national figures count a birth where she was cared for on its day
/// (国家基本公共卫生服务规范 第三版, 孕产妇健康管理: the township that
/// managed her), not where she lives now.
#[tokio::test]
async fn a_birth_counts_in_the_area_she_belonged_to_on_its_day() {
    let t = spawn_app().await; // 2026-12-01 10:00
    staff(&t, "V001-O1", "13700000001", "officer", Some("V001"), "T1").await;
    staff(&t, "V002-O1", "13700000002", "officer", Some("V002"), "T2").await;
    let b = woman_in(&t, "李桂兰", "13812345602", "2026-03-10", "V001").await;
    t.app
        .care
        .record_birth(b, &birth("2026-12-01", Some("县医院"), true), "V001-O1")
        .await
        .unwrap();
    t.at("2026-12-05 10:00");
    t.app
        .moves
        .move_within(b, Some("2026-12-05"), "V002-O1", None, "V001-O1")
        .await
        .unwrap();
    let date = |s: &str| careminder::domain::dates::parse_date(s).unwrap();
    let facts = t
        .app
        .store
        .birth_facts(date("2026-12-01"), date("2027-01-01"))
        .await
        .unwrap();
    assert_eq!(facts.len(), 1);
    assert_eq!(
        (
            facts[0].township.as_str(),
            facts[0].village.as_str(),
            facts[0].officer.as_str()
        ),
        ("T1", "V001", "V001-O1")
    );
}

/// careminder's own figures too count each thing where she was cared for
/// when it happened: a home visit by the day its period ended, a reminder
/// by the moment it went out. Before, every one counted in the village she
/// lives in now, so a move took her old officer's work with her.
#[tokio::test]
async fn her_own_figures_stay_with_the_village_that_cared_for_her_when_each_thing_happened() {
    let t = spawn_app().await; // 2026-12-01 10:00
    staff(&t, "V001-O1", "13700000001", "officer", Some("V001"), "T1").await;
    staff(&t, "V002-O1", "13700000002", "officer", Some("V002"), "T2").await;
    // 31 weeks: home-1's period ends 2027-01-29, home-2's 2027-02-28.
    let w = woman_in(&t, "甲", "13800000001", "2026-04-25", "V001").await;
    t.run_until("2027-02-05 09:00", Duration::hours(6)).await;
    let q1 = careminder::domain::Period::parse_quarter("2027Q1").unwrap();
    let scope = careminder::services::reports::Scope::default();
    let report = || t.app.reports.indicators(q1, &scope);
    let row =
        |r: &careminder::services::reports::IndicatorReport, indicator: &str, village: &str| {
            r.rows
                .iter()
                .find(|x| x.indicator == indicator && x.level == "village" && x.village == village)
                .map(|x| (x.township.clone(), x.denominator))
        };
    let before = report().await.unwrap();
    let reminders = row(&before, "reminders_delivered", "V001").expect("her reminders in V001");
    assert!(reminders.1 > 0);
    t.app
        .moves
        .move_within(w, Some("2027-02-05"), "V002-O1", None, "V001-O1")
        .await
        .unwrap();
    t.at("2027-04-05 10:00");
    let after = report().await.unwrap();
    let area = |t: &str, n: i64| Some((t.to_string(), n));
    assert_eq!(
        row(&after, "home_visits_on_time", "V001"),
        area("T1", 1),
        "{:#?}",
        after.rows
    );
    assert_eq!(row(&after, "home_visits_on_time", "V002"), area("T2", 1));
    assert_eq!(row(&after, "reminders_delivered", "V001"), Some(reminders));
}

#[tokio::test]
async fn a_woman_moved_to_another_county_continues_there_from_the_right_week_and_hears_nothing_more_from_here(
) {
    let here = spawn_app().await; // 2026-12-01 10:00
    staff(
        &here,
        "V001-O1",
        "13700000001",
        "officer",
        Some("V001"),
        "T1",
    )
    .await;
    let w = woman_in(&here, "王秀英", "13812345601", "2026-09-22", "V001").await;
    here.run_until("2026-12-05 12:00", Duration::hours(3)).await;
    here.app
        .care
        .record_visit(
            w,
            None,
            Some("2026-12-05"),
            "V001-O1",
            Some("乡卫生院"),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    here.run_until("2027-01-05 10:00", Duration::hours(3)).await;

    let (status, summary) = post(
        &here,
        &format!("/api/v1/women/{w}/move"),
        &json!({"destination": "外省某县", "on": "2027-01-05"}),
    )
    .await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["format"], "careminder-transfer");
    assert_eq!(summary["version"], 1);
    assert_eq!(summary["pregnancy"]["lmp"], "2026-09-22");
    assert_eq!(summary["consent"]["given"], true);
    assert_eq!(summary["visits_done"][0]["contact"], "anc1");
    assert_eq!(summary["visits_done"][0]["on"], "2026-12-05");
    assert_eq!(summary["risk_grade"], Value::Null, "not configured");
    let text = summary.to_string();
    assert!(!text.contains("回复1确认"), "no message text leaves");
    // The same summary again through its own route.
    let again: Value = here
        .client
        .get(here.url(&format!("/api/v1/women/{w}/transfer-summary")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again, summary);
    // Nothing is left to send her here.
    assert!(here
        .outbox_of(w)
        .await
        .iter()
        .all(|m| m.status != "scheduled"));
    let sent_here_before = here.sent_to("+8613812345601").len();

    // The receiving county imports it into its own database.
    let there = spawn_app_with(|_| {}, "2027-01-06 10:00").await;
    staff(
        &there,
        "X01-O1",
        "13700000091",
        "officer",
        Some("X01"),
        "TX",
    )
    .await;
    let bytes = serde_json::to_vec(&summary).unwrap();
    let (status, out) = post_raw(
        &there,
        "/api/v1/transfers?village=X01&officer=X01-O1",
        bytes.clone(),
    )
    .await;
    assert_eq!(status, 201, "{out}");
    assert_eq!(out["visits_done"], 1);
    let (status, again) = post_raw(&there, "/api/v1/transfers", bytes).await;
    assert_eq!(
        (status, &again["unchanged"], &again["woman_id"]),
        (200, &json!(true), &out["woman_id"]),
        "imported twice, registered once"
    );
    let pid = out["pregnancy_id"].as_i64().unwrap();
    let visits = there.app.store.visits_of(pid).await.unwrap();
    let anc1 = visits.iter().find(|v| v.0 == "anc1").expect("anc1 kept");
    assert_eq!(anc1.3, "done");
    assert!(
        visits.iter().any(|v| v.0 == "anc2" && v.3 == "pending"),
        "her plan goes on from week 15: {visits:?}"
    );

    // Both counties' clocks move on; only the receiving one reminds her.
    here.run_until("2027-02-20 10:00", Duration::hours(3)).await;
    there
        .run_until("2027-02-20 10:00", Duration::hours(3))
        .await;
    assert_eq!(
        here.sent_to("+8613812345601").len(),
        sent_here_before,
        "the county she left sends her nothing more"
    );
    let there_sent = bodies(&there, "+8613812345601");
    assert!(
        there_sent.iter().any(|m| m.1.contains("第2次产前检查")),
        "{there_sent:?}"
    );
    assert!(
        there_sent.iter().all(|m| !m.1.contains("第1次产前检查")),
        "no reminder for a visit already done: {there_sent:?}"
    );
}

/// A summary of a woman who gave birth before she moved: the receiving
/// county registers her, her birth and the visits done after it, in one
/// transaction. Before, her registration, her done visits and her birth
/// were three commits, and her birth, dated before she was registered
/// here, was refused after she was registered: a half-imported woman whom
/// the next import refused as "registered here already".
/// A county's service on 2026-12-01 10:00, and a woman of V001 there
/// (her last period on `lmp`) who gave birth that day at the county hospital.
async fn delivered_on_december_1st(name: &str, phone: &str, lmp: &str) -> (TestApp, i64) {
    let here = spawn_app().await; // 2026-12-01 10:00
    let w = woman_in(&here, name, phone, lmp, "V001").await;
    here.app
        .care
        .record_birth(w, &birth("2026-12-01", Some("县医院"), true), "admin")
        .await
        .unwrap();
    (here, w)
}

/// A woman who moves late in her 42 days after the birth is more than 44
/// weeks past her last period: her summary is checked as a pregnancy on
/// the day of her birth, not today (before, it was refused as an
/// implausible gestational age, and her postpartum care was lost).
#[tokio::test]
async fn a_summary_late_in_her_weeks_after_the_birth_is_imported() {
    // 40 weeks 4 days on the day of her birth.
    let (here, w) = delivered_on_december_1st("钱芳", "13812345612", "2026-02-20").await;
    here.at("2026-12-20 10:00");
    let summary = here
        .app
        .moves
        .move_away(w, Some("2026-12-20"), "B县", "admin")
        .await
        .unwrap();
    // 27 days after the birth, 44 weeks 3 days after her last period.
    let there = spawn_app_with(|_| {}, "2026-12-28 10:00").await;
    let (status, out) = post_raw(
        &there,
        "/api/v1/transfers",
        serde_json::to_vec(&summary).unwrap(),
    )
    .await;
    assert_eq!(status, 201, "her summary is taken: {out}");
    let pid = out["pregnancy_id"].as_i64().unwrap();
    let p = there.app.store.pregnancy(pid).await.unwrap();
    assert_eq!(p.status, careminder::domain::PregnancyStatus::Delivered);
    let visits = there.app.store.visits_of(pid).await.unwrap();
    assert!(
        visits.iter().any(|v| v.0 == "pnc-42d" && v.3 == "pending"),
        "her 42-day check is still to come: {visits:?}"
    );
}

#[tokio::test]
async fn a_summary_with_her_birth_is_imported_whole_or_not_at_all() {
    let (here, w) = delivered_on_december_1st("孙丽", "13812345611", "2026-03-10").await;
    here.at("2026-12-05 10:00");
    here.app
        .care
        .record_visit(w, Some("pnc-home"), Some("2026-12-04"), "admin", None, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let summary = here
        .app
        .moves
        .move_away(w, Some("2026-12-05"), "B县", "admin")
        .await
        .unwrap();
    let bytes = serde_json::to_vec(&summary).unwrap();

    let there = spawn_app_with(|_| {}, "2026-12-06 10:00").await;
    // The disk fails at the last write of the import (its audit line).
    raw_write(
        &there,
        "CREATE TRIGGER fail_import BEFORE INSERT ON audit_log WHEN NEW.action = 'transfer_import'
         BEGIN SELECT RAISE(ABORT, 'disk failed'); END;",
        "CREATE FUNCTION fail_import() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN IF NEW.action = 'transfer_import' THEN RAISE EXCEPTION 'disk failed'; END IF; RETURN NEW; END $$;
         CREATE TRIGGER fail_import BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION fail_import();",
    )
    .await;
    let (status, e) = post_raw(&there, "/api/v1/transfers", bytes.clone()).await;
    assert_eq!(status, 500, "{e}");
    assert!(
        women_named(&there, "孙丽").await.is_empty(),
        "nothing of her is kept when the import failed"
    );
    raw_write(
        &there,
        "DROP TRIGGER fail_import;",
        "DROP TRIGGER fail_import ON audit_log; DROP FUNCTION fail_import();",
    )
    .await;
    let (status, out) = post_raw(&there, "/api/v1/transfers", bytes).await;
    assert_eq!(status, 201, "the same summary again imports whole: {out}");
    let pid = out["pregnancy_id"].as_i64().unwrap();
    let p = there.app.store.pregnancy(pid).await.unwrap();
    assert_eq!(p.status, careminder::domain::PregnancyStatus::Delivered);
    let visits = there.app.store.visits_of(pid).await.unwrap();
    let status_of = |key: &str| {
        visits
            .iter()
            .find(|v| v.0 == key)
            .map(|v| v.3.clone())
            .unwrap_or_else(|| panic!("no {key}: {visits:?}"))
    };
    assert_eq!(
        status_of("pnc-home"),
        "done",
        "the visit done there is kept"
    );
    assert_eq!(
        status_of("pnc-42d"),
        "pending",
        "her postpartum care goes on"
    );
    assert!(
        visits
            .iter()
            .all(|v| !v.0.starts_with("anc") || v.3 != "pending"),
        "no check-up before a birth is left to do: {visits:?}"
    );
    // Her birth is the county she gave birth in's to count, not this one's.
    let date = |s: &str| careminder::domain::dates::parse_date(s).unwrap();
    let (from, to) = (date("2026-12-01"), date("2027-01-01"));
    assert_eq!(here.app.store.birth_facts(from, to).await.unwrap().len(), 1);
    assert!(there
        .app
        .store
        .birth_facts(from, to)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_summary_of_an_unknown_version_or_cut_short_is_refused_and_nothing_is_written() {
    let here = spawn_app().await;
    let w = woman_in(&here, "赵芳", "13812345609", "2026-09-22", "V001").await;
    let summary = here
        .app
        .moves
        .move_away(w, None, "B县", "admin")
        .await
        .unwrap();
    let there = spawn_app_with(|_| {}, "2026-12-02 10:00").await;
    let mut v = serde_json::to_value(&summary).unwrap();
    v["version"] = json!(2);
    let (status, e) = post(&there, "/api/v1/transfers", &v).await;
    assert_eq!(status, 422);
    assert!(e["error"].as_str().unwrap().contains("version 2"), "{e}");
    let full = serde_json::to_vec(&summary).unwrap();
    let (status, e) = post_raw(
        &there,
        "/api/v1/transfers",
        full[..full.len() - 20].to_vec(),
    )
    .await;
    assert_eq!(status, 422);
    assert!(e["error"].as_str().unwrap().contains("truncated"), "{e}");
    let (status, _) = post_raw(&there, "/api/v1/transfers", vec![]).await;
    assert_eq!(status, 422);
    assert!(
        women_named(&there, "赵芳").await.is_empty(),
        "nothing half-written"
    );
    // The county she left: her pregnancy says where she went.
    let (status, _) = post(
        &here,
        &format!("/api/v1/women/{w}/move"),
        &json!({"destination": "C县"}),
    )
    .await;
    assert_eq!(status, 422, "her care here has ended already");
}

/// Sharing out (信息共享 between the health, population and statistics
/// offices): the scheduled export writes the period's files, each CSV with
/// one byte-order mark and Chinese headings, each export audited.
#[tokio::test]
async fn the_scheduled_export_writes_files_with_one_bom_and_chinese_headings_and_is_audited() {
    use calamine::{Reader, Xlsx};
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("exports");
    let out_s = out.to_string_lossy().to_string();
    let t = spawn_app_with(
        move |c| {
            c.sharing.export_cron = "0 0 6 * * Mon".into();
            c.sharing.export_dir = out_s;
            c.sharing.county = "某县".into();
        },
        "2026-12-01 10:00", // a Tuesday
    )
    .await;
    staff(&t, "V001-O1", "13700000001", "officer", Some("V001"), "T1").await;
    staff(&t, "V002-O1", "13700000002", "officer", Some("V002"), "T1").await;
    t.tick().await; // the job's clock starts now: nothing retroactive
    let a = woman_in(&t, "王秀英", "13812345601", "2026-09-22", "V001").await;
    let b = woman_in(&t, "李桂兰", "13812345602", "2026-03-10", "V001").await;
    t.at("2026-12-03 10:00");
    t.app
        .care
        .record_birth(b, &birth("2026-12-02", Some("县医院"), true), "V001-O1")
        .await
        .unwrap();
    t.app
        .moves
        .move_within(a, None, "V002-O1", None, "admin")
        .await
        .unwrap();
    t.at("2026-12-07 05:59");
    t.tick().await;
    assert!(!out.exists(), "not before its time");
    t.at("2026-12-07 06:01");
    t.tick().await;
    for kind in ["births", "registrations", "moves"] {
        let csv = std::fs::read(out.join(format!("{kind}_2026-11-30_2026-12-06.csv")))
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert!(csv.starts_with("\u{feff}编号,姓名".as_bytes()), "{kind}");
        assert!(
            !csv[3..].starts_with("\u{feff}".as_bytes()),
            "{kind}: exactly one BOM"
        );
        let text = String::from_utf8(csv).unwrap();
        assert!(!text.contains("回复") && !text.contains("风险"), "{text}");
        let xlsx = std::fs::read(out.join(format!("{kind}_2026-11-30_2026-12-06.xlsx"))).unwrap();
        let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(xlsx)).unwrap();
        let sheet = book.worksheet_range_at(0).unwrap().unwrap();
        assert_eq!(sheet.get((0, 0)).unwrap().to_string(), "编号");
        assert_eq!(sheet.get((0, 1)).unwrap().to_string(), "姓名");
    }
    let births = std::fs::read_to_string(out.join("births_2026-11-30_2026-12-06.csv")).unwrap();
    assert!(
        births.contains("李桂兰,V001,2026-12-02,县医院,1"),
        "{births}"
    );
    let moves = std::fs::read_to_string(out.join("moves_2026-11-30_2026-12-06.csv")).unwrap();
    assert!(
        moves.contains("王秀英,2026-12-03,县内,V001,V001-O1,V002,V002-O1"),
        "{moves}"
    );
    let audit = t.app.store.audit_log(50).await.unwrap();
    let e = audit
        .iter()
        .find(|e| e.action == "share_export")
        .expect("audited");
    assert_eq!(e.actor, "job:share");
    let detail = e.detail.clone().unwrap_or_default();
    assert!(
        detail.contains("births 1 rows") && detail.contains("registrations 2 rows"),
        "{detail}"
    );
    // The same through the API, audited with who asked.
    let r = t
        .client
        .get(t.url("/api/v1/exports?from=2026-11-30&to=2026-12-06&kind=moves"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = r.bytes().await.unwrap();
    assert!(body.starts_with("\u{feff}编号".as_bytes()));
    assert!(t
        .app
        .store
        .audit_log(50)
        .await
        .unwrap()
        .iter()
        .any(|e| e.action == "share_export" && e.actor == "api"));
}

/// The console: the "迁出" form on her page moves her; to another county
/// it leads to her printable referral summary, in the reader's language.
#[tokio::test]
async fn the_console_moves_her_and_prints_her_referral_summary() {
    use crate::console::{add_staff_in, Browser, PASSWORD};
    let t = spawn_app().await;
    add_staff_in(
        &t,
        "ADM",
        "admin",
        None,
        None,
        careminder::domain::Language::ZhCn,
    )
    .await;
    staff(&t, "V002-O1", "13700000002", "officer", Some("V002"), "T1").await;
    let a = woman_in(&t, "王秀英", "13812345601", "2026-09-22", "V001").await;
    let b = woman_in(&t, "李桂兰", "13812345602", "2026-09-22", "V001").await;
    let mut br = Browser::new(&t);
    br.sign_in("ADM", PASSWORD).await;
    let (_, page) = br.get(&format!("/women/{a}")).await;
    assert!(page.contains("迁出"), "the form is on her page");
    let csrf = br.csrf().await;
    let (status, _) = br
        .post(
            &format!("/women/{a}/move"),
            &[("csrf", &csrf), ("officer", "V002-O1")],
        )
        .await;
    assert_eq!(status, 303);
    assert_eq!(
        t.app.store.woman(a).await.unwrap().officer_code.as_deref(),
        Some("V002-O1")
    );
    // Neither or both: refused beside the form, nothing changed.
    let (status, page) = br
        .post(&format!("/women/{b}/move"), &[("csrf", &csrf)])
        .await;
    assert_eq!(status, 422, "{page}");
    let (status, _) = br
        .post(
            &format!("/women/{b}/move"),
            &[("csrf", &csrf), ("destination", "外省某县")],
        )
        .await;
    assert_eq!(status, 303);
    let (status, page) = br.get(&format!("/women/{b}/transfer")).await;
    assert_eq!(status, 200);
    assert!(page.contains("转诊摘要") && page.contains("外省某县") && page.contains("李桂兰"));
}
