//! Roster import: refused rows named with line and reason, nothing partial,
//! re-import adds nothing.

use crate::helpers::*;
use chrono::{Duration, NaiveDate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SURNAMES: &str = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董";
const GIVEN: &str = "秀英桂兰玉梅丽静敏燕芳娟霞红艳丹萍琳雪婷慧佳欣怡晶倩颖";
/// Mainland mobile prefixes in service.
const PREFIXES: [&str; 12] = [
    "130", "135", "136", "137", "138", "139", "150", "158", "159", "186", "187", "188",
];

/// A roster of `n` invented women as a county office writes one (the
/// shape of `shared/fixtures/make_roster.py`, generated here so the suite
/// needs nothing outside the repository), then the first `bad` of eight
/// rows a careful importer must refuse, one reason each.
pub(crate) fn roster(n: usize, bad: usize, zh: bool, today: &str) -> Vec<u8> {
    let today = NaiveDate::parse_from_str(today, "%Y-%m-%d").unwrap();
    let mut rnd = StdRng::seed_from_u64(7);
    let pick = |rnd: &mut StdRng, s: &str| {
        let cs: Vec<char> = s.chars().collect();
        cs[rnd.gen_range(0..cs.len())]
    };
    let mut out = String::from(if zh {
        "姓名,手机号,末次月经,预产期,村,责任人,语言,微信openid,知情同意\n"
    } else {
        "name,phone,lmp,edd,village,officer,language,wechat_openid,consent\n"
    });
    let villages = (n / 300).max(1);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..n {
        let mut name = format!("{}{}", pick(&mut rnd, SURNAMES), pick(&mut rnd, GIVEN));
        if rnd.gen_bool(0.6) {
            name.push(pick(&mut rnd, GIVEN));
        }
        let phone = loop {
            let prefix = PREFIXES[rnd.gen_range(0..PREFIXES.len())];
            let p = format!("{prefix}{:08}", rnd.gen_range(0..100_000_000u64));
            if seen.insert(p.clone()) {
                break p;
            }
        };
        let phone = if rnd.gen_bool(0.3) {
            format!("+86{phone}")
        } else {
            phone
        };
        let lmp = today - Duration::days(rnd.gen_range(14..41 * 7));
        let edd = lmp + Duration::days(280);
        let (lmp, edd) = match rnd.gen_range(0..10) {
            0..=5 => (lmp.to_string(), String::new()),
            6..=8 => (String::new(), edd.to_string()),
            _ => (lmp.to_string(), edd.to_string()),
        };
        let v = rnd.gen_range(1..=villages);
        let officer = rnd.gen_range(1..=2);
        let lang = if rnd.gen_bool(0.95) { "zh-CN" } else { "en" };
        out += &format!("{name},{phone},{lmp},{edd},V{v:03},V{v:03}-O{officer},{lang},,yes\n");
    }
    let d = |days: i64| (today + Duration::days(days)).to_string();
    let bad_rows = [
        format!("缺号码,,{},,V001,V001-O1,zh-CN,,yes", d(0)),
        format!("坏号码,12345,{},,V001,V001-O1,zh-CN,,yes", d(0)),
        "无日期,13800000001,,,V001,V001-O1,zh-CN,,yes".to_string(),
        format!("将来,13800000002,{},,V001,V001-O1,zh-CN,,yes", d(30)),
        format!("太早,13800000003,{},,V001,V001-O1,zh-CN,,yes", d(-400)),
        "坏日期,13800000004,2026-13-45,,V001,V001-O1,zh-CN,,yes".to_string(),
        format!(
            "矛盾,13800000005,{},{},V001,V001-O1,zh-CN,,yes",
            d(-100),
            d(100)
        ),
        format!("未同意,13800000006,{},,V001,V001-O1,zh-CN,,no", d(0)),
    ];
    for row in bad_rows.iter().take(bad) {
        out += row;
        out.push('\n');
    }
    out.into_bytes()
}

#[tokio::test]
async fn roster_of_1000_with_8_bad_rows_refuses_each_with_line_and_reason_and_reimport_adds_nothing(
) {
    let t = spawn_app_with(|_| {}, "2026-12-01 10:00").await;
    let csv = roster(1000, 8, false, "2026-12-01");
    let r = t.import_csv(csv.clone(), "roster:test.csv").await.unwrap();
    let refused: Vec<(u64, String)> = r
        .refused
        .iter()
        .map(|r| (r.line, r.reason.clone()))
        .collect();
    // Header is line 1, the 1000 good rows are lines 2-1001, the bad ones follow.
    let lines: Vec<u64> = refused.iter().map(|r| r.0).collect();
    assert_eq!(lines, [1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009]);
    let reasons: Vec<&str> = refused.iter().map(|r| r.1.as_str()).collect();
    assert!(
        reasons[0].contains("phone") && reasons[0].contains("empty"),
        "{reasons:?}"
    );
    assert!(reasons[1].starts_with("phone"), "{reasons:?}");
    assert!(reasons[2].contains("neither LMP nor EDD"), "{reasons:?}");
    assert!(reasons[3].contains("in the future"), "{reasons:?}");
    assert!(reasons[4].contains("outside the plausible"), "{reasons:?}");
    assert!(
        reasons[5].contains("not a date") && reasons[5].contains("2026-13-45"),
        "{reasons:?}"
    );
    assert!(reasons[6].contains("disagree"), "{reasons:?}");
    // The eighth has no consent, and an LMP of today: not yet a plausible registration.
    assert!(reasons[7].contains("outside the plausible"), "{reasons:?}");
    assert_eq!((r.created, r.without_consent), (1000, 0));
    assert_eq!(t.app.store.count_women().await.unwrap(), 1000);

    let again = t.import_csv(csv.clone(), "roster:test.csv").await.unwrap();
    assert_eq!(
        (again.created, again.unchanged, again.corrected),
        (0, 1000, 0)
    );
    assert_eq!(again.refused.len(), 8);
    assert_eq!(t.app.store.count_women().await.unwrap(), 1000);
}

#[tokio::test]
async fn chinese_header_is_read_and_a_changed_date_is_a_correction() {
    let t = spawn_app_with(|_| {}, "2026-12-01 10:00").await;
    let csv = roster(20, 0, true, "2026-12-01");
    let r = t.import_csv(csv.clone(), "roster:zh.csv").await.unwrap();
    assert_eq!((r.created, r.refused.len()), (20, 0));
    let text = String::from_utf8(csv).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    // Move the first woman's dates by a week, whatever form they were given in.
    let mut cells: Vec<String> = lines[1].split(',').map(str::to_string).collect();
    for i in [2, 3] {
        if let Some(d) = careminder::domain::dates::parse_date(&cells[i]) {
            cells[i] = (d + chrono::Duration::days(7)).to_string();
        }
    }
    lines[1] = cells.join(",");
    let changed = lines.join("\n");
    let r = t
        .import_csv(changed.into_bytes(), "roster:zh.csv")
        .await
        .unwrap();
    assert_eq!((r.created, r.unchanged, r.corrected), (0, 19, 1));
}

#[tokio::test]
async fn a_file_without_a_phone_column_is_refused_whole() {
    let t = spawn_app().await;
    let err = t
        .import_csv("name,lmp\n王秀英,2026-09-22\n", "x")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("phone"), "{err}");
    assert_eq!(t.app.store.count_women().await.unwrap(), 0);
}

/// Found by the roster fuzz target: Excel for Mac ends lines with a bare
/// CR, and the csv reader counts no lines then; rows are what people see.
#[tokio::test]
async fn refused_rows_are_numbered_as_a_spreadsheet_shows_them_whatever_the_line_endings() {
    let t = spawn_app().await;
    for eol in ["\r", "\n", "\r\n"] {
        let csv = [
            "name,phone,lmp",
            "王秀英,13812345678,2026-09-22",
            "李桂兰,not-a-phone,2026-09-22",
            "张丽,13911112222,2026-09-22",
            "赵敏,139,2026-09-22",
        ]
        .join(eol);
        let r = t
            .import_csv(csv.into_bytes(), "roster:mac.csv")
            .await
            .unwrap();
        let lines: Vec<u64> = r.refused.iter().map(|x| x.line).collect();
        assert_eq!(lines, [3, 5], "line ending {eol:?}: {:?}", r.refused);
    }
}

#[tokio::test]
async fn a_roster_saved_by_excel_on_chinese_windows_gbk_is_read() {
    let t = spawn_app().await;
    let csv = "姓名,手机号,末次月经,知情同意\r\n王秀英,13812345678,2026-09-22,是\r\n李桂兰,13812345679,2026-10-01,是\r\n";
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(csv);
    assert!(!unmappable);
    assert!(std::str::from_utf8(&gbk).is_err(), "really not UTF-8");
    let r = t
        .import_csv(gbk.into_owned(), "roster:gbk.csv")
        .await
        .unwrap();
    assert_eq!((r.created, r.refused.len()), (2, 0), "{:?}", r.refused);
    // The names are read as written, not as mojibake.
    let id = t
        .app
        .store
        .woman_by_phone_and_name("+8613812345678", "王秀英")
        .await
        .unwrap();
    assert!(id.is_some(), "王秀英 by her name");
}

#[tokio::test]
async fn semicolon_and_tab_separated_rosters_are_read() {
    let t = spawn_app().await;
    for (sep, phone) in [(";", "13812345678"), ("\t", "13812345679")] {
        let csv = format!("name{sep}phone{sep}lmp\n王秀英{sep}{phone}{sep}2026-09-22\n");
        let r = t
            .import_csv(csv.into_bytes(), "roster:sep.csv")
            .await
            .unwrap();
        assert_eq!(
            (r.created, r.refused.len()),
            (1, 0),
            "{sep:?}: {:?}",
            r.refused
        );
    }
}

#[tokio::test]
async fn an_empty_file_is_refused_as_empty() {
    let t = spawn_app().await;
    for empty in ["", "\n\n", "  "] {
        let err = t.import_csv(empty, "roster:empty.csv").await.unwrap_err();
        assert_eq!(err.to_string(), "the file is empty");
    }
}

#[tokio::test]
async fn a_stray_quote_names_the_rows_it_swallowed_and_the_rest_are_read() {
    let t = spawn_app().await;
    let csv = "name,phone,lmp\n\
               \"王秀英,13812345678,2026-09-22\n\
               李桂兰,13812345679,2026-09-22\n\
               张丽,13911112222,2026-09-22\"\n\
               赵敏,13911113333,2026-09-22\n";
    let r = t.import_csv(csv, "roster:quote.csv").await.unwrap();
    assert_eq!(r.created, 1, "赵敏, after the closing quote");
    assert_eq!(r.refused.len(), 1, "{:?}", r.refused);
    assert_eq!(r.refused[0].line, 2);
    assert!(
        r.refused[0].reason.contains("3 lines (2 to 4)") && r.refused[0].reason.contains("quote"),
        "{}",
        r.refused[0].reason
    );
}

#[tokio::test]
async fn a_huge_cell_and_a_name_with_a_line_break_are_refused_by_line() {
    let t = spawn_app().await;
    let huge = "王".repeat(100_000);
    let csv = format!(
        "name,phone,lmp\n{huge},13812345678,2026-09-22\n\"王\n秀英\",13812345679,2026-09-22\n{},13911112222,2026-09-22\n李桂兰,13911113333,2026-09-22\n",
        "张".repeat(51)
    );
    let r = t
        .import_csv(csv.into_bytes(), "roster:long.csv")
        .await
        .unwrap();
    assert_eq!(r.created, 1);
    let refused: Vec<(u64, String)> = r
        .refused
        .iter()
        .map(|x| (x.line, x.reason.clone()))
        .collect();
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert!(refused[0].1.contains("100000 characters"), "{refused:?}");
    assert!(refused[1].1.contains("line break"), "{refused:?}");
    assert!(refused[2].1.contains("longer than 50"), "{refused:?}");
    assert_eq!(refused.iter().map(|r| r.0).collect::<Vec<_>>(), [2, 3, 4]);
}

/// A workbook as a county office keeps its roster: written by a
/// spreadsheet library (rust_xlsxwriter), with dates stored as Excel
/// dates and phone numbers typed as numbers.
#[tokio::test]
async fn an_xlsx_workbook_is_read_with_its_excel_dates_and_numbers() {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let t = spawn_app().await;
    let mut wb = Workbook::new();
    let sheet = wb.add_worksheet();
    let date = Format::new().set_num_format("yyyy\"年\"m\"月\"d\"日\"");
    for (c, h) in ["姓名", "手机号", "末次月经", "知情同意"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    let rows = [
        ("王秀英", 13812345678.0, (2026, 9, 22), "是"),
        ("李桂兰", 13812345679.0, (2026, 10, 1), "是"),
        ("张丽", 139.0, (2026, 10, 1), "是"),
    ];
    for (i, (name, phone, (y, m, d), consent)) in rows.iter().enumerate() {
        let r = i as u32 + 1;
        sheet.write_string(r, 0, *name).unwrap();
        sheet.write_number(r, 1, *phone).unwrap();
        let when = ExcelDateTime::from_ymd(*y, *m, *d).unwrap();
        sheet
            .write_datetime_with_format(r, 2, &when, &date)
            .unwrap();
        sheet.write_string(r, 3, *consent).unwrap();
    }
    let bytes = wb.save_to_buffer().unwrap();
    let r = t.import_csv(bytes, "roster:county.xlsx").await.unwrap();
    assert_eq!(r.created, 2, "{:?}", r.refused);
    // The bad number is named with its row, as the spreadsheet shows it.
    assert_eq!(r.refused.len(), 1);
    assert_eq!(r.refused[0].line, 4, "{:?}", r.refused);
    let women = women_named(&t, "王秀英").await;
    assert_eq!(women.len(), 1);
    assert_eq!(women[0].phone_tail, "5678");
    assert_eq!(
        women[0].edd.as_deref(),
        Some("2027-06-29"),
        "its Excel date read as 2026-09-22"
    );
}

/// On PostgreSQL a county's roster changes the tables' sizes many times
/// over: the planner's statistics are refreshed as a large import ends, so
/// the sending that follows is planned on today's tables, not on
/// yesterday's (autovacuum would look only a minute or more later).
#[tokio::test]
async fn a_large_import_on_postgres_refreshes_the_planners_statistics() {
    let t = spawn_app_on_postgres("import").await;
    let r = t
        .import_csv(roster(6000, 0, false, "2026-12-01"), "roster:big.csv")
        .await
        .unwrap();
    assert_eq!(r.created, 6000);
    let db = RawDb::connect(&t.app.config.database).await;
    let analyzed = db
        .ints(
            "SELECT COUNT(*) FROM pg_stat_user_tables
              WHERE relname IN ('women', 'pregnancies', 'visits', 'outbox') AND last_analyze IS NOT NULL",
            &[],
        )
        .await[0];
    assert_eq!(analyzed, 4, "tables analyzed after the import");
}

/// A row naming an officer the staff list does not hold is imported (she
/// still gets her reminders), but named by line: otherwise her overdue
/// visits would reach no officer, and no one would know. With no staff
/// entered yet, nothing is flagged.
#[tokio::test]
async fn a_row_naming_an_officer_not_on_the_staff_list_is_imported_and_named_by_line() {
    let t = spawn_app_with(|_| {}, "2026-12-01 10:00").await;
    let csv = roster(40, 0, false, "2026-12-01");
    let before_staff = t.import_csv(csv.clone(), "roster:a.csv").await.unwrap();
    assert_eq!(before_staff.created, 40);
    assert!(before_staff.unknown_officer.is_empty());

    staff(&t, "V001-O1", "13900000001", "officer", Some("V001"), "T1").await;
    let r = t.import_csv(csv.clone(), "roster:a.csv").await.unwrap();
    assert_eq!(r.unchanged, 40, "every row still imported");
    // Header is line 1: row i of the file is line i + 2.
    let text = String::from_utf8(csv).unwrap();
    let expected: Vec<u64> = text
        .lines()
        .skip(1)
        .enumerate()
        .filter(|(_, l)| l.split(',').nth(5) == Some("V001-O2"))
        .map(|(i, _)| i as u64 + 2)
        .collect();
    assert!(!expected.is_empty() && expected.len() < 40);
    let flagged: Vec<(u64, &str)> = r
        .unknown_officer
        .iter()
        .map(|u| (u.line, u.officer.as_str()))
        .collect();
    assert_eq!(
        flagged,
        expected.iter().map(|l| (*l, "V001-O2")).collect::<Vec<_>>()
    );
}

/// Issue 34, as a county office writes its roster: 语言 reads 中文 or 英文
/// (refused before), and a landline (a Beijing 010 number, which cannot
/// receive texts; China's numbering plan in libphonenumber's metadata) is
/// refused by its line instead of being taken as her mobile.
#[tokio::test]
async fn a_roster_may_name_languages_in_chinese_and_a_landline_is_refused_by_line() {
    let t = spawn_app_with(|_| {}, "2026-12-01 10:00").await;
    let csv = "姓名,手机号,末次月经,村,语言\n\
               王秀英,13812340001,2026-09-01,V001,中文\n\
               李桂兰,13812340002,2026-09-02,V001,英文\n\
               张丽,01012345678,2026-09-03,V001,中文\n";
    let r = t
        .import_csv(csv.as_bytes().to_vec(), "roster:office.csv")
        .await
        .unwrap();
    assert_eq!(r.created, 2, "{:?}", r.refused);
    assert_eq!(r.refused.len(), 1, "{:?}", r.refused);
    let line = format!("{:?}", r.refused[0]);
    assert!(line.contains('4') && line.contains("mobile"), "{line}");
    let mut langs = vec![];
    for p in ["+8613812340001", "+8613812340002"] {
        let id = t.app.store.woman_by_phone(p).await.unwrap().unwrap();
        langs.push(t.app.store.woman(id).await.unwrap().language);
    }
    use careminder::domain::Language;
    assert_eq!(langs, [Language::ZhCn, Language::En]);
}
