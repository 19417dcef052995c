//! Risk-based care, as the national work standard on pregnancy risk
//! assessment and management has it (孕产妇妊娠风险评估与管理工作规范, 2017;
//! `shared/domain.md` "Risk grading"): forty women, six of them graded
//! orange, red or purple at different weeks (one re-graded from green to
//! red at 30 weeks, one purple), followed for four months of simulated
//! time; then each refusal.

use crate::helpers::*;
use careminder::domain::risk::NEVER_IN_HER_TEXTS;
use careminder::domain::Period;
use careminder::services::reports::Scope;
use careminder::services::risk::GradeInput;
use chrono::{Duration, NaiveDate};
use std::process::Command;

fn d(s: &str) -> NaiveDate {
    careminder::domain::dates::parse_date(s).unwrap()
}

fn grade(words: &str) -> GradeInput {
    GradeInput {
        grade: words.into(),
        ..Default::default()
    }
}

/// The county: two townships, three villages, a supervisor for each
/// township, an administrator at the county (who manages the cases of
/// women graded orange and above, as `[risk]` has it by default), and two
/// hospitals with their levels.
async fn county() -> TestApp {
    let t = spawn_app_with(
        |c| {
            c.risk.hospitals.insert("县人民医院".into(), 2);
            c.risk.hospitals.insert("市妇幼保健院".into(), 3);
            c.risk.orange.place = "市妇幼保健院".into();
            c.risk.red.place = "市妇幼保健院".into();
        },
        "2026-12-01 10:00",
    )
    .await;
    staff(&t, "V11-O1", "13700000011", "officer", Some("V11"), "T1").await;
    staff(&t, "V12-O1", "13700000012", "officer", Some("V12"), "T1").await;
    staff(&t, "V21-O1", "13700000021", "officer", Some("V21"), "T2").await;
    staff(&t, "T1-S", "13600000001", "supervisor", None, "T1").await;
    staff(&t, "T2-S", "13600000002", "supervisor", None, "T2").await;
    staff(&t, "ADM", "13600000099", "admin", None, "T1").await;
    t
}

/// Runs the real binary on the test's database.
fn cli(t: &TestApp, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_careminder"))
        .env_remove("CAREMINDER_CONFIG")
        .arg("--db")
        .arg(db_arg(t))
        .arg("--now")
        .arg(t.fmt(t.clock.now()))
        .args(args)
        .output()
        .unwrap()
}

async fn text_from(t: &TestApp, from: &str, text: &str) {
    t.app
        .inbound
        .receive(careminder::domain::NewInbound {
            gateway: "mock".into(),
            provider_id: format!("r-{}-{}", t.clock.now().timestamp(), text.len()),
            sender: from.into(),
            text: text.into(),
            received_at: t.clock.now(),
        })
        .await
        .unwrap();
}

/// Every text a staff member's phone received, as (local time, text).
fn phone(t: &TestApp, number: &str) -> Vec<(String, String)> {
    t.sent_to(number)
        .into_iter()
        .map(|m| (t.fmt(m.at), m.message.body))
        .collect()
}

/// Ticks at 08:30 and 12:00 every day until `until` (inclusive).
async fn live_until(t: &TestApp, from: NaiveDate, until: NaiveDate) {
    let mut day = from;
    while day <= until {
        for at in ["08:30", "12:00"] {
            t.at(&format!("{day} {at}"));
            t.tick().await;
        }
        day += Duration::days(1);
    }
}

#[tokio::test]
async fn high_risk_women_get_a_case_manager_sooner_alerts_and_the_right_place_and_nothing_reaches_their_texts(
) {
    let t = county().await;
    let villages = ["V11", "V12", "V21"];
    // Forty women, LMPs four days apart from 2026-09-22 back (10 to 32
    // weeks at registration).
    let mut women = vec![];
    for i in 0..40 {
        let lmp = d("2026-09-22") - Duration::days(4 * i);
        let v = villages[i as usize % 3];
        women.push(
            woman_in(
                &t,
                &format!("孕妇{i:02}"),
                &format!("138000000{i:02}"),
                &lmp.to_string(),
                v,
            )
            .await,
        );
    }
    let risk = &t.app.risk;
    // w0 (V11, 10 weeks): orange at registration, through the API, with a
    // case manager at once.
    let w0 = women[0];
    let r = t
        .client
        .post(t.url(&format!("/api/v1/women/{w0}/risk")))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"grade": "橙色", "reasons": "瘢痕子宫，前置胎盘"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    risk.assign_case_manager(w0, "ADM", "T1-S").await.unwrap();
    // w3 (V11): purple, hepatitis B, by her officer's text; no manager yet.
    let w3 = women[3];
    text_from(&t, "+8613700000011", &format!("评估 {w3} 紫（乙肝）")).await;
    t.tick().await;
    let said = phone(&t, "+8613700000011");
    assert!(
        said.last()
            .is_some_and(|m| m.1.contains("紫色（传染病：乙肝）")),
        "{said:?}"
    );
    // The same day, "assign a case manager" is on the supervisor's worklist,
    // not on the officer's.
    let tasks = t.app.jobs.risk_worklist(t.clock.now(), None).await.unwrap();
    assert!(tasks
        .iter()
        .any(|x| x.task.woman_id == w3 && x.task.kind == "assign_case_manager"));
    let hers = t
        .app
        .jobs
        .risk_worklist(t.clock.now(), Some("V11-O1"))
        .await
        .unwrap();
    assert!(hers.iter().all(|x| x.task.kind != "assign_case_manager"));
    // w6 (V11, 11 weeks): yellow (not case-managed); w9 green.
    risk.grade(women[6], &grade("黄"), "console", "V11-O1")
        .await
        .unwrap();
    risk.grade(women[9], &grade("green"), "console", "V11-O1")
        .await
        .unwrap();
    // w12 (V11): red and purple (HIV), through the API; a manager named.
    let w12 = women[12];
    let r = t
        .client
        .post(t.url(&format!("/api/v1/women/{w12}/risk")))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"grade": "red purple", "infections": ["hiv"], "by": "V11-O1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    risk.assign_case_manager(w12, "ADM", "ADM").await.unwrap();
    // w15 (V11, green at registration): re-graded red at 30 weeks.
    let w15 = women[15];
    risk.grade(w15, &grade("绿"), "console", "V11-O1")
        .await
        .unwrap();
    let lmp15 = d("2026-09-22") - Duration::days(60);
    let thirty = lmp15 + Duration::days(30 * 7);
    // w18 (V11): orange at 25 weeks, from the command line.
    let w18 = women[18];
    let lmp18 = d("2026-09-22") - Duration::days(72);
    let twenty_five = lmp18 + Duration::days(25 * 7);

    // Four and a half months, ticking twice a day; grades on their days.
    let mut day = d("2026-12-01");
    while day <= d("2027-04-15") {
        if day == thirty {
            t.at(&format!("{day} 10:00"));
            let r = t
                .client
                .post(t.url(&format!("/api/v1/women/{w15}/risk")))
                .bearer_auth(TOKEN)
                .json(
                    &serde_json::json!({"grade": "红", "by": "V11-O1", "reasons": "重度子痫前期"}),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            risk.assign_case_manager(w15, "ADM", "ADM").await.unwrap();
        }
        if day == twenty_five {
            t.at(&format!("{day} 10:00"));
            let out = cli(
                &t,
                &[
                    "risk",
                    "grade",
                    &w18.to_string(),
                    "--grade",
                    "orange",
                    "--by",
                    "V11-O1",
                ],
            );
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(String::from_utf8_lossy(&out.stdout).contains("orange (higher risk)"));
        }
        live_until(&t, day, day).await;
        day += Duration::days(1);
    }
    // w15 (red from 30 weeks) had her fourth check-up's window end unrecorded
    // (28 to 36+6 weeks): her officer and case manager heard the day after,
    // her supervisor the day after that, once.
    let anc4_end = lmp15 + Duration::days(37 * 7 - 1);
    let overdue_day = anc4_end + Duration::days(1);
    // The days a phone was told of one woman's check-up (a digest's items
    // are separated by "；").
    let about = |number: &str, name: &str, contact: &str| -> Vec<String> {
        phone(&t, number)
            .into_iter()
            .filter(|(_, b)| {
                b.split('；')
                    .any(|item| item.contains(&format!("{name}（")) && item.contains(contact))
            })
            .map(|(at, _)| at[..10].to_string())
            .collect()
    };
    let anc4 = "第4次产前检查";
    assert_eq!(
        about("+8613700000011", "孕妇15", anc4)[..1],
        [overdue_day.to_string()]
    );
    assert_eq!(
        about("+8613600000099", "孕妇15", anc4),
        [overdue_day.to_string()],
        "her case manager"
    );
    assert_eq!(
        about("+8613600000001", "孕妇15", anc4),
        [(overdue_day + Duration::days(1)).to_string()],
        "her supervisor, once"
    );
    let officer_text = phone(&t, "+8613700000011")
        .into_iter()
        .flat_map(|(_, b)| b.split('；').map(str::to_string).collect::<Vec<_>>())
        .find(|item| item.contains("孕妇15（") && item.contains(anc4))
        .unwrap();
    assert!(officer_text.contains("【红色】"), "{officer_text}");
    // A green woman's missed check-up (w9, registered at 15+1 weeks: her
    // first check-up open for two weeks from registration): her officer
    // after the usual three days' grace, her supervisor a week later.
    let first_end = d("2026-12-01") + Duration::days(13);
    let anc1 = "第1次产前检查";
    assert_eq!(
        about("+8613700000011", "孕妇09", anc1)[..1],
        [(first_end + Duration::days(4)).to_string()]
    );
    assert_eq!(
        about("+8613600000001", "孕妇09", anc1),
        [(first_end + Duration::days(11)).to_string()]
    );
    assert!(
        about("+8613600000099", "孕妇09", anc1).is_empty(),
        "no case manager"
    );
    // No text to any woman names a grade, a colour of the scale or an
    // infection, in either language.
    let numbers: Vec<String> = (0..40).map(|i| format!("+86138000000{i:02}")).collect();
    let mut n = 0;
    for m in t.mock.sent() {
        if numbers.contains(&m.message.to) {
            n += 1;
            let body = m.message.body.to_lowercase();
            for w in NEVER_IN_HER_TEXTS {
                assert!(!body.contains(&w.to_lowercase()), "{w:?} in {body}");
            }
        }
    }
    assert!(n > 100, "{n} texts to the women");
    // Her reminders name her grade's place (config: red and orange check
    // up at 市妇幼保健院, the 2017 work standard's level-II+ care), the
    // place only: before her re-grade at 30 weeks, her village's clinic.
    let places = |number: &str| -> Vec<(String, bool)> {
        phone(&t, number)
            .into_iter()
            .filter(|(_, b)| b.contains("地点"))
            .map(|(at, b)| (at[..10].to_string(), b.contains("市妇幼保健院")))
            .collect()
    };
    let w15_places = places("+8613800000015");
    assert!(
        w15_places
            .iter()
            .any(|(at, city)| *at > thirty.to_string() && *city),
        "{w15_places:?}"
    );
    assert!(
        w15_places
            .iter()
            .all(|(at, city)| (*at > thirty.to_string()) == *city),
        "{w15_places:?}"
    );
    // A green woman's reminders keep her village's clinic.
    let w9_places = places("+8613800000009");
    assert!(
        !w9_places.is_empty() && w9_places.iter().all(|(_, city)| !city),
        "{w9_places:?}"
    );
    let _ = (w0, w12);
}

#[tokio::test]
async fn a_purple_birth_gives_the_baby_its_steps_seen_by_her_care_team_only() {
    let t = county().await;
    let w = woman_in(&t, "紫妈妈", "13800000001", "2026-04-01", "V11").await;
    let risk = &t.app.risk;
    risk.grade(w, &grade("黄 紫（乙肝）"), "console", "V11-O1")
        .await
        .unwrap();
    risk.assign_case_manager(w, "ADM", "T1-S").await.unwrap();
    t.at("2026-12-20 10:00");
    t.app
        .care
        .record_birth(w, &birth("2026-12-20", Some("县人民医院"), true), "V11-O1")
        .await
        .unwrap();
    let pid = t.app.store.current_pregnancy(w).await.unwrap().unwrap();
    let steps: Vec<_> = t
        .app
        .store
        .visit_records(pid)
        .await
        .unwrap()
        .into_iter()
        .filter(|v| v.key.starts_with("pmtct-"))
        .collect();
    let keys: Vec<(&str, String, String, bool)> = steps
        .iter()
        .map(|v| {
            (
                v.key.as_str(),
                v.window_start.to_string(),
                v.window_end.to_string(),
                v.task,
            )
        })
        .collect();
    // Hepatitis B immunoglobulin and the first dose within 12 hours (the
    // birth day or the next), and the infant's test at 7-12 months.
    assert_eq!(
        keys,
        [
            ("pmtct-hbig", "2026-12-20".into(), "2026-12-21".into(), true),
            (
                "pmtct-hbv-test",
                "2027-07-18".into(),
                "2027-12-20".into(),
                false
            ),
        ]
    );
    // Her texts say "your baby's follow-up visit"; her care team reads the step.
    let hbig = steps.iter().find(|v| v.key == "pmtct-hbig").unwrap();
    assert_eq!(hbig.label_zh, "宝宝的随访检查");
    let work = t.app.jobs.worklist(t.clock.now(), None).await.unwrap();
    let item = work
        .iter()
        .find(|i| i.visit.contact_key == "pmtct-hbig")
        .expect("on the worklist");
    assert!(
        item.visit.label_zh.contains("12小时内"),
        "{}",
        item.visit.label_zh
    );
    assert_eq!(item.state, "newborn task due");
    // Her grade and its history: her case manager sees them (and it is
    // audited); an officer of another area and a supervisor of another
    // township are told she does not exist.
    let seen = risk.history(w, "ADM").await.unwrap();
    assert_eq!(seen.len(), 1);
    let audit = t.app.store.audit_log(100).await.unwrap();
    assert!(audit
        .iter()
        .any(|a| a.action == "risk_viewed" && a.actor == "ADM"));
    for stranger in ["V21-O1", "T2-S"] {
        let e = risk.history(w, stranger).await.unwrap_err();
        assert!(e.to_string().contains("not found"), "{stranger}: {e}");
        let r = t
            .client
            .get(t.url(&format!("/api/v1/women/{w}/risk?by={stranger}")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{stranger}");
    }
    // Not recorded by the end of the next day: her officer and case manager
    // hear once, the day after.
    t.run_until("2026-12-23 12:00", Duration::hours(4)).await;
    for number in ["+8613700000011", "+8613600000099"] {
        let told: Vec<_> = t
            .sent_to(number)
            .into_iter()
            .filter(|m| m.message.body.contains("乙肝免疫球蛋白"))
            .collect();
        assert_eq!(told.len(), 1, "{number}");
        assert_eq!(t.fmt(told[0].at)[..10], *"2026-12-22");
    }
    // And never to her.
    for m in t.sent_to("+8613800000001") {
        for w in NEVER_IN_HER_TEXTS {
            assert!(!m.message.body.to_lowercase().contains(&w.to_lowercase()));
        }
    }
}

#[tokio::test]
async fn the_risk_figures_match_counts_made_here() {
    let t = county().await;
    let risk = &t.app.risk;
    // Six women who give birth in the first quarter of 2027.
    let mut w = vec![];
    for (i, lmp) in [
        "2026-05-01",
        "2026-05-20",
        "2026-06-10",
        "2026-06-01",
        "2026-06-05",
        "2026-06-08",
    ]
    .iter()
    .enumerate()
    {
        w.push(
            woman_in(
                &t,
                &format!("产妇{i}"),
                &format!("1380000010{i}"),
                lmp,
                "V11",
            )
            .await,
        );
    }
    // Graded at registration: purple, yellow, green (later red). Graded after
    // her first check-up: w[3]. Never graded: w[4], w[5].
    risk.grade(w[0], &grade("紫（乙肝）"), "console", "V11-O1")
        .await
        .unwrap();
    risk.grade(w[1], &grade("黄"), "console", "V11-O1")
        .await
        .unwrap();
    risk.grade(w[2], &grade("绿"), "console", "V11-O1")
        .await
        .unwrap();
    t.at("2026-12-10 10:00");
    for x in &w[..5] {
        t.app
            .care
            .record_visit(*x, None, Some("2026-12-10"), "V11-O1", None, None)
            .await
            .unwrap();
    }
    t.at("2026-12-20 10:00");
    risk.grade(w[3], &grade("绿"), "console", "V11-O1")
        .await
        .unwrap();
    risk.grade(w[2], &grade("红"), "console", "V11-O1")
        .await
        .unwrap();
    // Referrals: one followed up in time, one never.
    let r1 = risk
        .refer(w[1], "市妇幼保健院", Some("2026-12-05"), None, "V11-O1")
        .await
        .unwrap();
    risk.follow_up(r1, "已确诊，按黄色管理", Some("2026-12-12"), "V11-O1")
        .await
        .unwrap();
    risk.refer(
        w[2],
        "市妇幼保健院",
        Some("2026-12-18"),
        Some("血压高"),
        "V11-O1",
    )
    .await
    .unwrap();
    // Births: w0 (purple, at a level-2 hospital: what purple asks), w2 (red,
    // at a level-2 hospital: red asks level 3), the rest anywhere.
    t.at("2027-02-20 10:00");
    for (x, on, place) in [
        (w[0], "2027-02-01", "县人民医院"),
        (w[1], "2027-02-10", "县人民医院"),
        (w[2], "2027-02-15", "县人民医院"),
        (w[3], "2027-02-18", "乡卫生院"),
        (w[4], "2027-02-19", "乡卫生院"),
        (w[5], "2027-02-20", "乡卫生院"),
    ] {
        t.app
            .care
            .record_birth(x, &birth(on, Some(place), true), "V11-O1")
            .await
            .unwrap();
    }
    // w0 gets a case manager after the birth; w2 never.
    risk.assign_case_manager(w[0], "ADM", "ADM").await.unwrap();
    t.at("2027-05-01 10:00");
    let q1 = t
        .app
        .reports
        .indicators(Period::parse_quarter("2027Q1").unwrap(), &Scope::default())
        .await
        .unwrap();
    let county = |ind: &str| {
        let r = q1
            .rows
            .iter()
            .find(|r| r.indicator == ind && r.level == "county")
            .unwrap_or_else(|| panic!("{ind}"));
        (r.numerator, r.denominator)
    };
    // Counted here: high risk = w0 (purple) and w2 (red) of six women.
    assert_eq!(county("high_risk_share"), (2, 6));
    assert_eq!(county("high_risk_managed"), (1, 2));
    // Graded on or before their first check-up: w0, w1, w2 (w3 after, w4 never, w5 neither).
    assert_eq!(county("graded_at_first_checkup"), (3, 6));
    // w0 at level 2 (purple asks 2): yes; w2 at level 2 (red asks 3): no.
    assert_eq!(county("high_risk_delivered_at_level"), (1, 2));
    let q4 = t
        .app
        .reports
        .indicators(Period::parse_quarter("2026Q4").unwrap(), &Scope::default())
        .await
        .unwrap();
    let referrals = q4
        .rows
        .iter()
        .find(|r| r.indicator == "referrals_followed_up" && r.level == "county")
        .unwrap();
    assert_eq!((referrals.numerator, referrals.denominator), (1, 2));
    // The quarterly table's high-risk columns.
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
    assert_eq!(
        (table.rows[0].high_risk, table.rows[0].high_risk_managed),
        (2, 1)
    );
}

#[tokio::test]
async fn a_grade_that_is_not_one_is_refused_with_its_reason_and_nothing_written() {
    let t = county().await;
    let w = woman_in(&t, "甲", "13800000001", "2026-09-22", "V11").await;
    let risk = &t.app.risk;
    let pid = t.app.store.current_pregnancy(w).await.unwrap().unwrap();
    for (input, says) in [
        (grade("蓝色"), "蓝色"),
        (grade("red, orange"), "only one colour"),
        (
            GradeInput {
                on: Some("2026-12-02".into()),
                ..grade("red")
            },
            "in the future",
        ),
        (
            GradeInput {
                on: Some("2026-09-01".into()),
                ..grade("red")
            },
            "before this pregnancy began",
        ),
        (
            GradeInput {
                infections: vec!["流感".into()],
                ..grade("紫")
            },
            "流感",
        ),
    ] {
        let e = risk.grade(w, &input, "api", "V11-O1").await.unwrap_err();
        assert!(e.to_string().contains(says), "{says}: {e}");
    }
    assert!(t.app.store.risk_history(pid).await.unwrap().is_empty());
    // The API says the same as a JSON error.
    let r = t
        .client
        .post(t.url(&format!("/api/v1/women/{w}/risk")))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"grade": "blue"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("blue"));
    // With a code and its field for a program, and the same refusal in
    // Chinese for a client that shows it to staff.
    assert_eq!(body["code"], "refused");
    assert_eq!(body["field"], "grade");
    let zh = body["error_zh"].as_str().unwrap();
    assert!(zh.starts_with("风险等级") && zh.contains("blue"), "{zh}");
    // A case manager: one whose grade asks for none, an unknown code (from
    // another county), an officer, a supervisor of another township.
    let e = risk.assign_case_manager(w, "ADM", "ADM").await.unwrap_err();
    assert!(e.to_string().contains("asks for none"), "{e}");
    risk.grade(w, &grade("red"), "api", "V11-O1").await.unwrap();
    for (code, says) in [
        ("ZZ-ADM", "no staff member of this county"),
        ("V12-O1", "not a county administrator"),
        ("T2-S", "not a county administrator"),
    ] {
        let e = risk.assign_case_manager(w, code, "ADM").await.unwrap_err();
        assert!(e.to_string().contains(says), "{code}: {e}");
    }
    assert!(t
        .app
        .store
        .risk_state(pid)
        .await
        .unwrap()
        .case_manager
        .is_none());
    // A delivery hospital below her grade's level.
    let e = risk
        .choose_delivery_hospital(w, "县人民医院", "V11-O1")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("level-3"), "{e}");
    risk.choose_delivery_hospital(w, "市妇幼保健院", "V11-O1")
        .await
        .unwrap();
    // A grade after the 42-day check: refused.
    t.at("2027-06-01 10:00");
    t.app
        .care
        .record_birth(w, &birth("2027-04-01", None, true), "V11-O1")
        .await
        .unwrap();
    let e = risk
        .grade(w, &grade("green"), "api", "V11-O1")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("42"), "{e}");
}

/// A clinic's roster often carries the grade it gave at the first visit
/// (妊娠风险筛查 at registration, as the 2017 work standard has it): the
/// importer records it as an assessment from the import, once, and
/// refuses the row whose grade or date is no grade or no possible day,
/// naming its line, without registering her half.
#[tokio::test]
async fn a_roster_s_risk_column_grades_each_woman_once_and_refuses_what_is_no_grade() {
    let t = county().await;
    let roster = "姓名,手机号,末次月经,村,责任人,知情同意,妊娠风险,评估日期\n\
        甲,13800000001,2026-09-22,V11,V11-O1,是,红,2026-11-20\n\
        乙,13800000002,2026-09-22,V11,V11-O1,是,绿色,\n\
        丙,13800000003,2026-09-22,V12,V12-O1,是,,\n\
        丁,13800000004,2026-09-22,V12,V12-O1,是,蓝色,\n\
        戊,13800000005,2026-09-22,V12,V12-O1,是,红,2026-12-05\n\
        己,13800000006,2026-09-22,V21,V21-O1,是,紫（乙肝）,2026-08-01\n\
        庚,13800000007,2026-09-22,V21,V21-O1,是,red+purple(hbv),2026-11-30\n";
    let report = t.import_csv(roster, "clinic.csv").await.unwrap();
    assert_eq!(report.created, 4, "{report:?}");
    assert_eq!(report.graded, 3, "{report:?}");
    let refused: Vec<(u64, &str)> = report
        .refused
        .iter()
        .map(|r| (r.line, r.reason.as_str()))
        .collect();
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert_eq!(refused[0].0, 5);
    assert!(refused[0].1.contains("蓝色"), "{refused:?}");
    assert_eq!(refused[1].0, 6);
    assert!(refused[1].1.contains("in the future"), "{refused:?}");
    assert_eq!(refused[2].0, 7);
    assert!(
        refused[2].1.contains("before this pregnancy began"),
        "{refused:?}"
    );
    // The refused rows registered no one.
    for name in ["丁", "戊", "己"] {
        assert!(women_named(&t, name).await.is_empty(), "{name}");
    }
    let state = |name: &'static str| {
        let t = &t;
        async move {
            let w = women_named(t, name).await[0].id;
            let pid = t.app.store.current_pregnancy(w).await.unwrap().unwrap();
            (
                t.app.store.risk_state(pid).await.unwrap(),
                t.app.store.risk_history(pid).await.unwrap(),
            )
        }
    };
    let (jia, history) = state("甲").await;
    assert_eq!(jia.grade.colour.map(|c| c.as_str()), Some("red"));
    assert_eq!(jia.assessed_on, Some(d("2026-11-20")));
    assert_eq!(history[0].source, "import:clinic.csv");
    assert_eq!(history[0].recorded_by, "test");
    let (yi, _) = state("乙").await;
    assert_eq!(
        yi.assessed_on,
        Some(d("2026-12-01")),
        "an empty date is today"
    );
    let (bing, _) = state("丙").await;
    assert!(
        !bing.grade.assessed(),
        "no grade is not yet assessed, never green"
    );
    let (geng, _) = state("庚").await;
    assert!(geng.grade.purple && geng.grade.colour.is_some());
    // Red without a case manager: the supervisor's task the same day.
    let tasks = t.app.store.risk_tasks(d("2026-12-01")).await.unwrap();
    assert!(
        tasks
            .iter()
            .any(|k| k.name == "甲" && k.kind == "assign_case_manager"),
        "{tasks:?}"
    );
    // The same roster again records nothing new.
    let again = t.import_csv(roster, "clinic.csv").await.unwrap();
    assert_eq!((again.unchanged, again.graded), (4, 0), "{again:?}");
    assert_eq!(state("甲").await.1.len(), 1);
    // A later roster with her grade changed re-grades her.
    let later = "姓名,手机号,末次月经,村,责任人,知情同意,妊娠风险\n\
        甲,13800000001,2026-09-22,V11,V11-O1,是,橙色\n";
    let report = t.import_csv(later, "clinic-2.csv").await.unwrap();
    assert_eq!(report.graded, 1);
    let (jia, history) = state("甲").await;
    assert_eq!(jia.grade.colour.map(|c| c.as_str()), Some("orange"));
    assert_eq!(history.len(), 2);
}
