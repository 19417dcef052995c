//! The binary alone, copied to an empty directory with no source tree:
//! it starts the demo (migrating a new database), serves the console and
//! its script, answers `/metrics`, and its logs hold none of the demo's
//! names or phone numbers.

use std::process::{Command, Stdio};

#[tokio::test]
async fn the_binary_alone_runs_the_demo_and_serves_the_console_and_its_logs_name_no_one() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("careminder");
    std::fs::copy(env!("CARGO_BIN_EXE_careminder"), &bin).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let logs = dir.path().join("stderr.log");
    let mut child = Command::new(&bin)
        .current_dir(dir.path())
        .env_remove("CAREMINDER_CONFIG")
        .args(["demo", "--listen", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&logs).unwrap()))
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut up = false;
    // Up to a minute: a hang guard on a busy machine, not a start-up target.
    for _ in 0..3000 {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await {
            up = r.status().is_success();
            if up {
                break;
            }
        }
        assert!(child.try_wait().unwrap().is_none(), "the demo exited");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(up, "the demo answers /healthz");
    let login = client.get(format!("{base}/login")).send().await.unwrap();
    assert_eq!(login.status(), 200);
    assert!(login.text().await.unwrap().contains("careminder"));
    let js = client
        .get(format!("{base}/static/console.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), 200);
    // Let the demo clock (120x) run through the morning's first sends.
    let mut sent = 0.0;
    for _ in 0..300 {
        let text = client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let scrape =
            prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
        sent = scrape
            .samples
            .iter()
            .filter(|s| s.metric == "careminder_sends_total")
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum();
        if sent > 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(sent > 0.0, "the demo sent messages");
    assert!(
        dir.path().join("careminder-demo.db").exists(),
        "a new database, migrated"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert!(status.success(), "a clean stop on SIGTERM");
    let log = std::fs::read_to_string(&logs).unwrap();
    assert!(log.contains("careminder serving"), "{log}");
    // Demo names are Chinese, their numbers mainland mobiles: neither is logged.
    assert!(
        !log.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "a name (or a text) in the logs"
    );
    let digits: Vec<&str> = log
        .split(|c: char| !c.is_ascii_digit())
        .filter(|d| d.len() == 11 && d.starts_with('1'))
        .collect();
    assert!(digits.is_empty(), "phone numbers in the logs: {digits:?}");
}
