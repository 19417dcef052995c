//! A full disk: the service refuses loudly (5xx, so a gateway retries and
//! loses nothing), names the cause, and resumes by itself once space
//! returns, without a restart. Runs on a small tmpfs the test mounts (it
//! needs root, as CI has; elsewhere it says so and does nothing).

use crate::helpers::*;
use std::process::Command;

struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn small_disk(dir: &std::path::Path, size: &str) -> Option<Mount> {
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CI").is_err(),
            "CI must be able to mount a small tmpfs (run as root)"
        );
        eprintln!("disk-full test not run: mounting a tmpfs needs root");
        return None;
    }
    Some(Mount(dir.to_path_buf()))
}

/// Fills the disk with a file of zeros until the filesystem says no.
fn fill(dir: &std::path::Path) -> std::path::PathBuf {
    use std::io::Write;
    let junk = dir.join("junk");
    let mut f = std::fs::File::create(&junk).unwrap();
    let block = vec![0u8; 64 * 1024];
    while f.write_all(&block).is_ok() {}
    let _ = f.sync_all();
    junk
}

async fn text_arrives(t: &TestApp, id: &str) -> reqwest::StatusCode {
    t.client
        .post(t.url("/webhooks/mock"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"id": id, "from": "+8613812345678", "text": "我想问一下"}))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_full_disk_refuses_with_5xx_and_the_service_resumes_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let Some(_mount) = small_disk(dir.path(), "6m") else {
        return;
    };
    let db = dir.path().join("county.db");
    let t = spawn_app_with(|c| c.database = db.clone().into(), "2026-12-01 10:00").await;
    t.enroll("王秀英", "13812345678", "2026-09-22").await;
    assert!(text_arrives(&t, "before").await.is_success());

    let junk = fill(dir.path());
    let mut refused = vec![];
    for i in 0..5 {
        let s = text_arrives(&t, &format!("full-{i}")).await;
        assert!(
            s.is_server_error(),
            "a webhook is not acknowledged while nothing can be stored: {s}"
        );
        refused.push(s);
    }
    let ready = t.client.get(t.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503, "not ready while the disk is full");
    let body: serde_json::Value = ready.json().await.unwrap();
    assert!(
        body["database"].as_str().unwrap().contains("disk is full"),
        "{body}"
    );

    std::fs::remove_file(&junk).unwrap();

    // Space is back: the same redelivered texts are stored, no restart.
    for i in 0..5 {
        let s = text_arrives(&t, &format!("full-{i}")).await;
        assert!(s.is_success(), "after the disk was freed: {s}");
    }
    assert_eq!(t.app.store.inbound_count().await.unwrap(), 6);
    let ready = t.client.get(t.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
}
