//! The README's first command shows messages flowing within a minute.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn demo_shows_messages_sent_by_the_mock_gateway_within_a_minute() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_careminder"))
        .args(["demo", "--listen", "127.0.0.1:0", "--db"])
        .arg(dir.path().join("demo.db"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("demo starts");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let logs = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = vec![];
    let mut found = None;
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
            if line.starts_with("[mock sms]") {
                found = Some(line);
                break;
            }
            seen.push(line);
        }
    }
    // Let the demo replies (after 8 s) and their handling reach the logs too.
    let until = Instant::now() + Duration::from_secs(12);
    while Instant::now() < until {
        let _ = rx.recv_timeout(Duration::from_millis(500));
    }
    let _ = child.kill();
    let _ = child.wait();
    let line = found.unwrap_or_else(|| panic!("no message within a minute; output: {seen:#?}"));
    // Numbers are masked even in the demo's output.
    assert!(line.contains("****"), "{line}");
    // Logs carry ids, never the women's numbers or names.
    let logs = logs.join().unwrap();
    assert!(!logs.is_empty());
    for l in &logs {
        assert!(!l.contains("1390000"), "a phone number in the logs: {l}");
        for name in careminder::demo::NAMES {
            assert!(!l.contains(name), "a name in the logs: {l}");
        }
    }
}
