//! Registers kept elsewhere (issue 33): a hospital's delivery register and
//! a clinic's check-up register, matched to registered pregnancies and
//! recorded as recording by hand does; the rest waits in the "to match"
//! list; bad rows refused with their line.

use crate::helpers::*;
use careminder::services::registers::{self, Kind};

#[test]
fn id_card_check_digits_agree_with_gb_11643_1999() {
    // The standard's own example, and numbers computed independently above.
    assert_eq!(id_card("11010519491231002"), "11010519491231002X");
    assert!(careminder::domain::IdCard::parse("11010519491231002X").is_ok());
    for i in 0..50 {
        let n = id_card(&format!("44010619900101{:03}", i));
        assert!(careminder::domain::IdCard::parse(&n).is_ok(), "{n}");
        let last = n.chars().last().unwrap();
        let wrong = if last == '0' { '1' } else { '0' };
        let bad = format!("{}{wrong}", &n[..17]);
        assert!(careminder::domain::IdCard::parse(&bad).is_err(), "{bad}");
    }
}

fn card_of(i: usize) -> String {
    id_card(&format!(
        "4401061995{:02}{:02}{:03}",
        1 + i % 12,
        1 + i % 28,
        i
    ))
}

/// 60 women near term: even ones registered with their ID card number;
/// women 58 and 59 share one phone (a family's).
async fn sixty_women(t: &TestApp) -> Vec<i64> {
    let mut ids = vec![];
    for i in 0..60 {
        let phone = if i >= 58 {
            "13900000058".to_string()
        } else {
            format!("1380000{i:04}")
        };
        let mut w = woman(&format!("产妇{i}"), &phone, "2026-03-20");
        if i % 2 == 0 {
            w.id_card = Some(card_of(i));
        }
        ids.push(
            t.app
                .care
                .enroll(&w, "test", "test")
                .await
                .unwrap()
                .woman_id(),
        );
    }
    ids
}

/// The delivery register: 45 women found (even by ID card, odd by phone),
/// 3 no one registered, 2 naming the shared phone with another name.
fn delivery_rows() -> Vec<[String; 7]> {
    let mut rows = vec![];
    for i in 0..45 {
        let (card, phone) = if i % 2 == 0 {
            (card_of(i), String::new())
        } else {
            (String::new(), format!("1380000{i:04}"))
        };
        rows.push([
            format!("产妇{i}"),
            card,
            phone,
            "2026-12-05".into(),
            "活产".into(),
            "县人民医院".into(),
            "2026-12-07".into(),
        ]);
    }
    for k in 0..3 {
        rows.push([
            format!("外来{k}"),
            String::new(),
            format!("1370000{k:04}"),
            "2026-12-05".into(),
            "活产".into(),
            "县人民医院".into(),
            "2026-12-07".into(),
        ]);
    }
    for k in 0..2 {
        rows.push([
            format!("亲属{k}"),
            String::new(),
            "13900000058".into(),
            "2026-12-05".into(),
            "活产".into(),
            "县人民医院".into(),
            "2026-12-07".into(),
        ]);
    }
    rows
}

const HEADER: [&str; 7] = [
    "姓名",
    "身份证号",
    "联系电话",
    "分娩日期",
    "妊娠结局",
    "分娩地点",
    "出院日期",
];

fn gbk_csv(rows: &[[String; 7]]) -> Vec<u8> {
    let mut s = HEADER.join(",");
    s.push('\n');
    for r in rows {
        s.push_str(&r.join(","));
        s.push('\n');
    }
    encoding_rs::GBK.encode(&s).0.into_owned()
}

fn xlsx(rows: &[[String; 7]]) -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let sheet = wb.add_worksheet();
    for (c, h) in HEADER.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            sheet.write_string(r as u32 + 1, c as u16, v).unwrap();
        }
    }
    wb.save_to_buffer().unwrap()
}

async fn import(t: &TestApp, kind: Kind, file: Vec<u8>, name: &str) -> registers::RegisterReport {
    registers::import(&t.app.care, kind, std::io::Cursor::new(file), name, "admin")
        .await
        .expect("imports")
}

#[tokio::test]
async fn a_delivery_register_records_matched_births_once_and_lists_the_rest() {
    let t = spawn_app_with(|_| {}, "2026-12-01 10:00").await;
    let women = sixty_women(&t).await;
    t.at("2026-12-09 10:00");
    let rows = delivery_rows();

    let first = import(&t, Kind::Deliveries, xlsx(&rows), "分娩登记.xlsx").await;
    assert!(first.refused.is_empty(), "{:?}", first.refused);
    assert_eq!(first.recorded, 45);
    assert_eq!(first.waiting.len(), 5, "{:?}", first.waiting);
    let waiting = registers::waiting(&t.app.care).await.unwrap();
    assert_eq!(waiting.len(), 5);
    assert_eq!(
        waiting
            .iter()
            .filter(|w| w.reason.contains("no registered"))
            .count(),
        3
    );
    assert_eq!(
        waiting
            .iter()
            .filter(|w| w.reason.contains("2 registered"))
            .count(),
        2
    );
    // The list shows no whole number.
    assert!(waiting.iter().all(|w| !w.fields.contains("13900000058")));

    // A birth by hand for woman 50 (not in the register), the same facts.
    let mut by_hand = birth("2026-12-05", Some("县人民医院"), true);
    by_hand.discharged_on = Some("2026-12-07".into());
    t.app
        .care
        .record_birth(women[50], &by_hand, "test")
        .await
        .unwrap();
    let plan = |w: i64| {
        let t = &t;
        async move {
            let p = t.app.store.current_pregnancy(w).await.unwrap().unwrap();
            t.app
                .store
                .visits_of(p)
                .await
                .unwrap()
                .into_iter()
                .map(|(k, due, end, status)| format!("{k} {due} {end} {status}"))
                .collect::<Vec<_>>()
        }
    };
    let hand = plan(women[50]).await;
    for i in [0usize, 1, 44] {
        assert_eq!(plan(women[i]).await, hand, "woman {i}'s postpartum plan");
    }

    // The same register again, as xlsx or as a GBK CSV: nothing changes.
    let outbox_before = t.outbox_of(women[0]).await.len();
    for file in [gbk_csv(&rows), xlsx(&rows)] {
        let again = import(&t, Kind::Deliveries, file, "分娩登记.csv").await;
        assert_eq!(again.recorded, 0);
        assert_eq!(again.already_recorded, 45);
        assert_eq!(again.already_listed, 5);
        assert!(again.waiting.is_empty() && again.refused.is_empty());
    }
    assert_eq!(t.outbox_of(women[0]).await.len(), outbox_before);
    assert_eq!(registers::waiting(&t.app.care).await.unwrap().len(), 5);

    // A waiting row matched by a person: recorded, audited, off the list.
    let row = waiting
        .iter()
        .find(|w| w.reason.contains("2 registered"))
        .unwrap();
    let d = registers::decide(
        &t.app.care,
        row.id,
        &registers::Decision::Match {
            woman_id: women[58],
        },
        "her mother-in-law's name on the hospital's form",
        "admin",
    )
    .await
    .unwrap();
    assert_eq!(d.status, "matched");
    assert!(t
        .app
        .store
        .birth_recorded_on(women[58])
        .await
        .unwrap()
        .is_some());
    let dismissed = waiting
        .iter()
        .find(|w| w.reason.contains("no registered"))
        .unwrap();
    registers::decide(
        &t.app.care,
        dismissed.id,
        &registers::Decision::Dismiss,
        "",
        "admin",
    )
    .await
    .expect_err("a reason is required");
    registers::decide(
        &t.app.care,
        dismissed.id,
        &registers::Decision::Dismiss,
        "lives in another county",
        "admin",
    )
    .await
    .unwrap();
    assert_eq!(registers::waiting(&t.app.care).await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_clinic_register_records_check_ups_silencing_their_reminders_and_worklist() {
    let t = spawn_app_with(|_| {}, "2026-12-01 10:00").await;
    staff(&t, "V001-O1", "13900009999", "officer", Some("V001"), "T01").await;
    let w = t.enroll("李秀英", "13812340001", "2026-08-01").await;
    let pid = w.pregnancy_id();
    let (key, due, end, _) = t
        .app
        .store
        .visits_of(pid)
        .await
        .unwrap()
        .into_iter()
        .find(|v| v.3 == "pending" && v.1 >= chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap())
        .unwrap();
    let visit_id = t
        .app
        .store
        .pending_visit_by_key(w.woman_id(), &key)
        .await
        .unwrap()
        .unwrap();
    // Past her window and the officer's grace (jobs.overdue_grace_days,
    // 3): on the worklist. No tick has run, so nothing was sent yet.
    t.clock
        .set(t.local(&format!("{} 10:00", end + chrono::Duration::days(5))));
    let listed = || {
        let t = &t;
        async move {
            t.app
                .jobs
                .worklist(t.clock.now(), None)
                .await
                .unwrap()
                .into_iter()
                .any(|i| i.visit.visit_id == visit_id)
        }
    };
    assert!(listed().await, "{key} overdue");
    let csv = format!("name,phone,checkup_date,clinic\n李秀英,13812340001,{due},乡镇卫生院\n");
    let r = import(&t, Kind::Checkups, csv.clone().into_bytes(), "产检登记.csv").await;
    assert_eq!(r.recorded, 1, "{:?}", r.refused);
    assert!(!listed().await, "recorded: off the worklist");
    let again = import(&t, Kind::Checkups, csv.into_bytes(), "产检登记.csv").await;
    assert_eq!((again.recorded, again.already_recorded), (0, 1));

    // No reminder goes out for it (its "missed" reminder, two days after
    // the window, was still within its grace): days of ticks send her
    // nothing naming that check-up.
    let contact = format!("第{}次产前检查", key.trim_start_matches("anc"));
    t.run_until(
        &format!("{} 23:00", end + chrono::Duration::days(8)),
        chrono::Duration::hours(6),
    )
    .await;
    let about: Vec<String> = t
        .sent_to("+8613812340001")
        .into_iter()
        .map(|m| m.message.body)
        .filter(|b| b.contains(&contact))
        .collect();
    assert!(about.is_empty(), "{about:?}");
}

#[tokio::test]
async fn bad_register_rows_are_refused_with_their_line_and_record_nothing() {
    let t = spawn_app_with(|_| {}, "2026-12-01 10:00").await;
    let mut w = woman("王芳", "13812340002", "2026-03-20");
    let card = id_card("44010619950101123");
    w.id_card = Some(card.clone());
    let id = t
        .app
        .care
        .enroll(&w, "test", "test")
        .await
        .unwrap()
        .woman_id();
    let mut wrong = card.clone();
    let last = wrong.pop().unwrap();
    wrong.push(if last == '0' { '1' } else { '0' });
    t.at("2026-12-09 10:00");
    let csv = format!("姓名,身份证号,分娩日期\n王芳,{wrong},2026-12-05\n王芳,{card},2026-11-20\n");
    let r = import(&t, Kind::Deliveries, csv.into_bytes(), "bad.csv").await;
    assert_eq!(r.recorded, 0);
    assert_eq!(r.refused.len(), 2, "{:?}", r.refused);
    assert_eq!(r.refused[0].line, 2);
    assert!(
        r.refused[0].reason.contains("check digit"),
        "{}",
        r.refused[0].reason
    );
    assert_eq!(r.refused[1].line, 3);
    assert!(
        r.refused[1].reason.contains("before she was registered"),
        "{}",
        r.refused[1].reason
    );
    assert!(t.app.store.birth_recorded_on(id).await.unwrap().is_none());

    let future = "name,id_card,checked_on\n王芳,".to_string() + &card + ",2026-12-20\n";
    let r = import(&t, Kind::Checkups, future.into_bytes(), "future.csv").await;
    assert_eq!(r.refused.len(), 1);
    assert!(
        r.refused[0].reason.contains("future"),
        "{}",
        r.refused[0].reason
    );

    for empty in [&b""[..], &b"\n"[..], "姓名,身份证号,分娩日期\n".as_bytes()] {
        assert!(
            registers::import(&t.app.care, Kind::Deliveries, empty, "e.csv", "admin")
                .await
                .is_err()
        );
    }
    let mut truncated = xlsx(&delivery_rows());
    truncated.truncate(truncated.len() / 2);
    assert!(registers::import(
        &t.app.care,
        Kind::Deliveries,
        std::io::Cursor::new(truncated),
        "t.xlsx",
        "admin"
    )
    .await
    .is_err());
    assert!(registers::waiting(&t.app.care).await.unwrap().is_empty());
}
