//! Roster import: refused rows named with line and reason, nothing partial,
//! re-import adds nothing.

use crate::helpers::*;
use std::path::PathBuf;
use std::process::Command;

fn roster(args: &[&str]) -> Vec<u8> {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/make_roster.py");
    let out = Command::new("python3")
        .arg(&script)
        .args(args)
        .output()
        .expect("python3 runs make_roster.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[tokio::test]
async fn roster_of_1000_with_8_bad_rows_refuses_each_with_line_and_reason_and_reimport_adds_nothing(
) {
    let t = spawn_app_with(|_| {}, "2026-12-01 10:00").await;
    let csv = roster(&["1000", "--bad", "8", "--today", "2026-12-01"]);
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
    let csv = roster(&["20", "--zh", "--today", "2026-12-01"]);
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
