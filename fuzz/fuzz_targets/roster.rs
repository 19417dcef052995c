//! Roster CSVs: the reading stage of the import (CSV, headers in either
//! language, phone numbers, dates, consent, plans) refuses bad rows with a
//! line and a reason and never panics; no line is refused twice.
#![no_main]
use careminder::config::Config;
use careminder::domain::careplan::builtin_plans;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let config = Config::default();
    let plans = builtin_plans()
        .into_iter()
        .map(|p| (p.key.clone(), p))
        .collect();
    let now = chrono::DateTime::parse_from_rfc3339("2026-12-01T02:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let mut lines = std::collections::HashSet::new();
    // One known officer: rows naming another are flagged, never refused.
    let officers = ["V001-O1".to_string()].into_iter().collect();
    let checks = careminder::services::importer::Checks {
        config: &config,
        plans: &plans,
        officers: &officers,
        now,
        source: "fuzz",
        actor: "fuzz",
    };
    let _ = careminder::services::importer::read_batches(data, &checks, |b| {
        for u in &b.unknown_officer {
            assert!(u.officer != "V001-O1", "a known officer flagged");
        }
        for r in &b.refused {
            assert!(!r.reason.is_empty());
            assert!(
                lines.insert(r.line) || r.line == 0,
                "line {} refused twice",
                r.line
            );
        }
        true
    });
});
