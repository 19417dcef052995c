//! `careminder bench` at a small scale: its own checks (every planned
//! message at the gateway exactly once, no receipt or reply lost, the
//! broadcast reaching everyone) pass, and it prints a row per scale with
//! every floor it compares against.

use std::process::Command;

#[test]
fn the_benchmark_checks_itself_and_prints_its_floors() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_careminder"))
        .args(["bench", "--sizes", "1500", "--due", "300", "--dir"])
        .arg(dir.path())
        .env("CAREMINDER_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let row = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("1500 |"))
        .unwrap_or_else(|| panic!("no row for N = 1500:\n{stdout}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    // N | import/s floor | plan day msgs | dispatch/s floor bare | callbacks/s floor bare | replies/s | broadcast | floor | bare | RSS
    assert_eq!(cells.len(), 10, "{row}");
    assert!(
        cells[1].ends_with('%'),
        "import shown against its floor: {row}"
    );
    assert!(
        cells[2].ends_with("300"),
        "300 messages planned for the day: {row}"
    );
    assert_eq!(cells[3].split_whitespace().count(), 3, "{row}");
    assert!(
        cells[6].starts_with("1500 in"),
        "broadcast to all 1500: {row}"
    );
    for floor in [cells[7], cells[8]] {
        let rates: Vec<f64> = floor
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        assert!(rates.len() == 2 && rates.iter().all(|r| *r > 0.0), "{row}");
    }
    // The bench's temporary database lives in the directory given, and is gone.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
