//! Data protection and backups: everything held about a woman can be
//! exported and erased; a backup restored sends nothing twice.

use crate::helpers::*;
use careminder::store::NewInbound;
use careminder::{App, Clock, Config};
use serde_json::Value;

const HER: &str = "+8613812345678";
const OTHER: &str = "+8613911112222";

/// Two women; hers is the first reminder, sent at 09:00 on 2026-12-12, and
/// she has replied with a question.
async fn two_women_one_reply() -> (TestApp, i64) {
    let t = spawn_app().await;
    let w = t
        .enroll("王秀英", "13812345678", "2026-09-22")
        .await
        .woman_id();
    t.enroll("李桂兰", "13911112222", "2026-09-22").await;
    t.at("2026-12-12 09:00");
    t.tick().await;
    assert_eq!(t.sent_to(HER).len(), 1);
    t.app
        .inbound
        .receive(NewInbound {
            gateway: "mock".into(),
            provider_id: "reply-1".into(),
            sender: HER.into(),
            text: "我最近头晕, 要紧吗".into(),
            received_at: t.clock.now(),
        })
        .await
        .unwrap();
    t.tick().await;
    (t, w)
}

/// A message the gateway took (its status kept after an erasure).
fn handed_over(m: &Value) -> bool {
    ["accepted", "sent", "delivered"].contains(&m["status"].as_str().unwrap_or(""))
}

async fn export(t: &TestApp, w: i64) -> (reqwest::StatusCode, String) {
    let r = t
        .client
        .get(t.url(&format!("/api/v1/women/{w}/export")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

#[tokio::test]
async fn an_export_holds_everything_about_her_and_nothing_about_anyone_else() {
    let (t, w) = two_women_one_reply().await;
    let (status, body) = export(&t, w).await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["woman"]["phone"], HER);
    assert_eq!(v["woman"]["name"], "王秀英");
    assert_eq!(v["pregnancies"].as_array().unwrap().len(), 1);
    assert!(!v["visits"].as_array().unwrap().is_empty());
    let messages = v["messages"].as_array().unwrap();
    assert!(messages
        .iter()
        .any(|m| handed_over(m) && m["body"].is_string()));
    assert!(!v["message_events"].as_array().unwrap().is_empty());
    assert_eq!(v["replies"][0]["text"], "我最近头晕, 要紧吗");
    assert!(!body.contains(OTHER) && !body.contains("李桂兰"), "{body}");
    // Asked about nobody: 404, and without a token: refused.
    assert_eq!(export(&t, 9999).await.0, 404);
    let r = t
        .client
        .get(t.url(&format!("/api/v1/women/{w}/export")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn erasure_removes_what_names_her_keeps_the_counts_and_sends_her_nothing_more() {
    let (t, w) = two_women_one_reply().await;
    let before = t.outbox_of(w).await.len();
    let r = t
        .client
        .post(t.url(&format!("/api/v1/women/{w}/erase")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["replies_scrubbed"], 1);

    let (_, body) = export(&t, w).await;
    for gone in [HER, "13812345678", "王秀英", "头晕"] {
        assert!(!body.contains(gone), "{gone} is still held: {body}");
    }
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(v["woman"]["erased_at"].is_i64());
    // Counts for reports stay: her village, her messages and their statuses.
    assert_eq!(v["woman"]["village"], "V001");
    assert_eq!(t.outbox_of(w).await.len(), before);
    assert!(v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| handed_over(m) && m["body"].is_null()));
    // Recorded in the audit log.
    assert!(v["audit"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["action"] == "erase"));

    // The rest of her pregnancy passes: nothing more goes to her number,
    // while the other woman's reminders go on.
    let sent_before = t.sent_to(HER).len();
    t.run_until("2027-02-28 12:00", chrono::Duration::hours(6))
        .await;
    assert_eq!(t.sent_to(HER).len(), sent_before);
    assert!(t.sent_to(OTHER).len() > 1);
    // A text from her old number is no longer tied to her.
    let got = t
        .app
        .inbound
        .receive(NewInbound {
            gateway: "mock".into(),
            provider_id: "reply-2".into(),
            sender: HER.into(),
            text: "1".into(),
            received_at: t.clock.now(),
        })
        .await
        .unwrap();
    t.tick().await;
    let conv = t.app.store.conversation(w).await.unwrap();
    assert!(
        conv.iter().all(|c| c.text.as_deref().unwrap_or("") != "1"),
        "{got:?}"
    );
}

#[tokio::test]
async fn a_restored_backup_sends_nothing_already_sent_before_it() {
    let (t, w) = two_women_one_reply().await;
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("backup.db");
    careminder::store::sqlite::backup::backup(&t.app.store, &copy)
        .await
        .unwrap();
    // A second backup to the same file is refused: nothing is overwritten.
    assert!(
        careminder::store::sqlite::backup::backup(&t.app.store, &copy)
            .await
            .is_err()
    );

    // The server is lost; the county restores last night's copy.
    let db = dir.path().join("restored.db");
    std::fs::write(&db, b"the broken database").unwrap();
    let kept = careminder::store::sqlite::backup::restore(&copy, &db)
        .await
        .unwrap()
        .expect("a database was replaced");
    assert_eq!(std::fs::read(&kept).unwrap(), b"the broken database");
    let config = Config {
        database: db.into(),
        ..Config::default()
    };
    let restored = App::open(config, Clock::manual(t.clock.now()))
        .await
        .unwrap();
    let mock = restored.mock.clone().unwrap();
    let last_before = t.outbox_of(w).await.iter().map(|m| m.id).max().unwrap();
    assert_eq!(restored.tick().await.failed_stages, 0);
    assert!(mock.sent().is_empty(), "{:?}", mock.sent());
    // Her history is whole, and her next reminder (on the day, 08:00) goes once.
    assert_eq!(
        restored.store.conversation(w).await.unwrap().len(),
        t.app.store.conversation(w).await.unwrap().len()
    );
    let day = local(&restored, "2026-12-15 08:00");
    restored.clock.set(day);
    assert_eq!(restored.tick().await.failed_stages, 0);
    assert_eq!(restored.tick().await.failed_stages, 0);
    assert_eq!(
        mock.sent().iter().filter(|m| m.message.to == HER).count(),
        1
    );
    // New messages never reuse an id the lost database may have handed out.
    let new_id = mock.sent()[0].message.id;
    assert!(
        new_id >= last_before + careminder::store::sqlite::backup::ID_GAP,
        "{new_id}"
    );
}

#[tokio::test]
async fn restore_refuses_a_file_that_is_not_a_sound_careminder_database() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"not a database at all, just text").unwrap();
    let db = dir.path().join("live.db");
    let err = careminder::store::sqlite::backup::restore(&junk, &db)
        .await
        .unwrap_err();
    assert!(!db.exists(), "nothing was put in place: {err}");
    let empty = dir.path().join("empty.db");
    sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=rwc", empty.display()))
        .await
        .unwrap()
        .close()
        .await;
    let err = careminder::store::sqlite::backup::restore(&empty, &db)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("not a careminder database"),
        "{err}"
    );
}
