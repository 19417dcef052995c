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

#[tokio::test]
async fn on_postgres_it_runs_every_phase_with_one_two_and_four_instances_and_leaves_the_database_empty(
) {
    let url = crate::postgres::fresh_pg_database("bench").await;
    let dir = tempfile::tempdir().unwrap();
    let bench = || {
        Command::new(env!("CARGO_BIN_EXE_careminder"))
            .args([
                "--db", &url, "bench", "--sizes", "800", "--due", "200", "--dir",
            ])
            .arg(dir.path())
            .env("CAREMINDER_LOG", "warn")
            .output()
            .unwrap()
    };
    let out = bench();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("800 |"))
        .map(|l| l.split('|').map(str::trim).collect())
        .collect();
    assert_eq!(
        rows.len(),
        2,
        "the phases' row and the instances' row:\n{stdout}"
    );
    // The same phases as on SQLite: N | import/s floor | plan day msgs |
    // dispatch/s floor bare | callbacks/s floor bare | replies/s |
    // broadcast | floor | bare | RSS (no bare floor on PostgreSQL).
    let phases = &rows[0];
    assert_eq!(phases.len(), 10, "{phases:?}");
    assert!(
        phases[1].ends_with('%'),
        "import against its floor: {phases:?}"
    );
    assert!(
        phases[2].ends_with("200"),
        "200 planned for the day: {phases:?}"
    );
    assert!(
        phases[6].starts_with("800 in"),
        "broadcast to all 800: {phases:?}"
    );
    assert!(phases[3].ends_with('-'), "{phases:?}");
    // N | msgs | 1, 2, 4 instances (rate, % of the send floor).
    let instances = &rows[1];
    assert_eq!(instances.len(), 3, "{instances:?}");
    assert_eq!(instances[1], "200", "{instances:?}");
    assert_eq!(
        instances[2].matches('%').count(),
        3,
        "three instance counts: {instances:?}"
    );
    assert!(stdout.contains("FOR UPDATE SKIP LOCKED"), "{stdout}");
    // It left nothing behind, so it runs again; on a database holding a
    // county it refuses.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    let store =
        careminder::store::Store::open(&careminder::config::DatabaseUrl::Postgres(url.clone()))
            .await
            .unwrap();
    store
        .audit(chrono::Utc::now(), "admin", "test", "-", "{}")
        .await
        .unwrap();
    store.close().await;
    let refused = bench();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("empty one"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

/// Issue 36: with `--postgres URL` beside the SQLite file, one run prints
/// both backends' rows, each measured against the floors of its own
/// backend in the same run, and leaves the PostgreSQL database empty.
#[tokio::test]
async fn both_backends_print_their_rows_in_one_run_each_against_its_own_floors() {
    let url = crate::postgres::fresh_pg_database("bench_both").await;
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_careminder"))
        .args(["bench", "--sizes", "600", "--due", "150", "--dir"])
        .arg(dir.path())
        .args(["--postgres", &url])
        .env("CAREMINDER_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sqlite_at = stdout.find("== SQLite ==").expect("a SQLite part");
    let pg_at = stdout.find("== PostgreSQL ==").expect("a PostgreSQL part");
    assert!(sqlite_at < pg_at, "{stdout}");
    let rows = |part: &str| -> Vec<Vec<String>> {
        part.lines()
            .filter(|l| l.trim_start().starts_with("600 |"))
            .map(|l| l.split('|').map(|c| c.trim().to_string()).collect())
            .collect()
    };
    let sqlite = rows(&stdout[sqlite_at..pg_at]);
    let pg = rows(&stdout[pg_at..]);
    assert_eq!(sqlite.len(), 1, "the phases' row: {stdout}");
    assert_eq!(
        pg.len(),
        2,
        "the phases' row and the instances' row: {stdout}"
    );
    for phases in [&sqlite[0], &pg[0]] {
        assert_eq!(phases.len(), 10, "{phases:?}");
        assert!(
            phases[1].ends_with('%'),
            "import against its floor: {phases:?}"
        );
        assert!(phases[2].ends_with("150"), "{phases:?}");
        assert!(phases[6].starts_with("600 in"), "{phases:?}");
        // Peak memory of each of the four phases, in MB.
        let peaks: Vec<f64> = phases[9].split('/').map(|x| x.parse().unwrap()).collect();
        assert!(
            peaks.len() == 4 && peaks.iter().all(|mb| *mb > 0.0),
            "{phases:?}"
        );
    }
    // Each against its own backend's floors: the floor columns differ.
    assert_ne!(sqlite[0][7], pg[0][7], "{stdout}");
    assert!(stdout.contains("FOR UPDATE SKIP LOCKED"), "{stdout}");
    let store =
        careminder::store::Store::open(&careminder::config::DatabaseUrl::Postgres(url.clone()))
            .await
            .unwrap();
    let left: i64 = store.audit_log(10).await.unwrap().len() as i64;
    assert_eq!(left, 0, "the PostgreSQL database is left empty");
    store.close().await;
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
