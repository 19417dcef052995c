//! Rules written once: however a change arrives (a reply, the provider,
//! the API, the command line, the console), the same service makes it and
//! leaves the same audit entry.

use crate::helpers::*;
use std::process::Command;

/// Runs the real binary on the test's database file.
fn cli(t: &TestApp, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_careminder"))
        .env_remove("CAREMINDER_CONFIG")
        .env("USER", "county-admin")
        .arg("--db")
        .arg(db_arg(t))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "careminder {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

async fn audit_of(t: &TestApp, action: &str) -> Vec<(String, String, String)> {
    let mut rows: Vec<_> = t
        .app
        .store
        .audit_log(1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action == action)
        .map(|r| {
            (
                r.actor,
                r.subject.unwrap_or_default(),
                r.detail.unwrap_or_default(),
            )
        })
        .collect();
    rows.sort();
    rows
}

#[tokio::test]
async fn every_opt_out_leaves_one_audit_entry_naming_how_it_came() {
    let t = spawn_app().await;
    let by_sms = t.enroll("甲", "13800000001", "2026-09-22").await.woman_id();
    let by_api = t.enroll("乙", "13800000002", "2026-09-22").await.woman_id();
    let by_cli = t.enroll("丙", "13800000003", "2026-09-22").await.woman_id();

    let r = t
        .client
        .post(t.url("/webhooks/mock"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"id": "in-1", "from": "+8613800000001", "text": "TD"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let r = t
        .client
        .post(t.url(&format!("/api/v1/women/{by_api}/opt-out")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let said = cli(&t, &["opt-out", &by_cli.to_string()]);
    assert!(said.contains("opted out"), "{said}");
    // Asking again changes nothing and writes nothing.
    cli(&t, &["opt-out", &by_cli.to_string()]);

    let entries = audit_of(&t, "opt_out").await;
    assert_eq!(entries.len(), 3, "{entries:?}");
    for (woman, via, actor) in [
        (by_sms, "via sms", "sms"),
        (by_api, "via api", "api"),
        (by_cli, "via cli", "cli:county-admin"),
    ] {
        assert!(
            entries.iter().any(|(a, s, d)| a == actor
                && *s == format!("woman:{woman}")
                && d.starts_with(via)),
            "{woman} {via}: {entries:?}"
        );
        let w = t.app.store.woman(woman).await.unwrap();
        assert!(w.opted_out_at.is_some());
    }
}

#[tokio::test]
async fn pausing_a_campaign_from_the_command_line_is_audited_like_the_console() {
    let t = spawn_app().await;
    cli(&t, &["campaign", "pause", "checkup-reminders"]);
    cli(&t, &["campaign", "resume", "checkup-reminders"]);
    let entries = audit_of(&t, "campaign_status").await;
    assert_eq!(
        entries,
        [
            (
                "cli:county-admin".to_string(),
                "campaign:checkup-reminders".to_string(),
                "active".to_string()
            ),
            (
                "cli:county-admin".to_string(),
                "campaign:checkup-reminders".to_string(),
                "paused".to_string()
            ),
        ]
    );
    // An unknown campaign is refused by name, and nothing is written.
    let out = Command::new(env!("CARGO_BIN_EXE_careminder"))
        .env_remove("CAREMINDER_CONFIG")
        .arg("--db")
        .arg(db_arg(&t))
        .args(["campaign", "pause", "nosuch"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("campaign nosuch"));
    assert_eq!(audit_of(&t, "campaign_status").await.len(), 2);
}

#[tokio::test]
async fn staff_and_passwords_from_the_command_line_go_through_the_service_and_are_audited() {
    let t = spawn_app().await;
    cli(
        &t,
        &[
            "staff",
            "add",
            "--code",
            "V009-O1",
            "--name",
            "刘医生",
            "--phone",
            "13700000009",
            "--village",
            "V009",
            "--township",
            "T1",
        ],
    );
    let said = cli(&t, &["staff", "password", "V009-O1"]);
    assert!(said.starts_with("password for V009-O1: "), "{said}");
    let id = t
        .app
        .store
        .staff_by_code("V009-O1")
        .await
        .unwrap()
        .unwrap()
        .id;
    assert_eq!(
        audit_of(&t, "staff_added").await,
        [(
            "cli:county-admin".to_string(),
            format!("staff:{id}"),
            "V009-O1".to_string()
        )]
    );
    assert_eq!(
        audit_of(&t, "password_set").await,
        [(
            "cli:county-admin".to_string(),
            format!("staff:{id}"),
            String::new()
        )]
    );
    // A password too short, from standard input: refused, nothing written.
    let mut child = Command::new(env!("CARGO_BIN_EXE_careminder"))
        .env_remove("CAREMINDER_CONFIG")
        .arg("--db")
        .arg(db_arg(&t))
        .args(["staff", "password", "V009-O1", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"short\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 10 characters"));
    assert_eq!(audit_of(&t, "password_set").await.len(), 1);
}
