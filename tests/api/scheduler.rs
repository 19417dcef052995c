//! The scheduler's stages fail one at a time: a poisoned reply or a
//! broken broadcast is logged and counted, and reminders still go out.

use crate::helpers::*;
use careminder::services::broadcasts::NewBroadcast;
use careminder::store::Audience;
use sqlx::Connection;

/// A connection of our own to the app's file, without foreign keys, to
/// damage what the app would never write itself.
async fn raw(t: &TestApp) -> sqlx::SqliteConnection {
    let db = t.app.config.database.sqlite_path().unwrap().to_path_buf();
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("PRAGMA foreign_keys = OFF")
        .execute(&mut c)
        .await
        .unwrap();
    c
}

#[tokio::test]
async fn a_poisoned_reply_and_a_broken_broadcast_do_not_stop_reminders() {
    let t = spawn_app().await;
    // Her first reminder (anc1, 3 days before) is due 2026-12-12 09:00.
    let her = t.enroll("王秀英", "13812345678", "2026-09-22").await;
    // A recurring broadcast, then its texts' campaign deleted under it.
    let (id, _) = t
        .app
        .broadcasts
        .create(
            &NewBroadcast {
                name: "周二健康小贴士".into(),
                audience: Audience::default(),
                texts: [("zh-CN".to_string(), "孕期请按时产检。".to_string())].into(),
                send_at: t.local("2026-12-02 10:00"),
                cron: Some("0 0 10 * * *".into()),
                grace_hours: None,
                sms_templates: vec![],
            },
            "admin",
        )
        .await
        .unwrap();
    t.app.broadcasts.publish(id, "admin").await.unwrap();
    let mut c = raw(&t).await;
    sqlx::query(
        "DELETE FROM campaign_steps WHERE id = (SELECT step_id FROM broadcasts WHERE id = ?)",
    )
    .bind(id)
    .execute(&mut c)
    .await
    .unwrap();
    // A stored reply that can no longer be read (a number where a time should be).
    sqlx::query(
        "INSERT INTO inbound (gateway, provider_id, sender, text, received_at, stored_at)
         VALUES ('mock', 'poison-1', '+8613800000009', '1', 'not a time', 0)",
    )
    .execute(&mut c)
    .await
    .unwrap();
    drop(c);

    t.at("2026-12-12 09:00");
    let r = t.app.tick().await;
    assert_eq!(
        r.failed_stages, 2,
        "the inbound and broadcast stages failed"
    );
    assert_eq!(r.dispatch.handed_over, 1, "her reminder still went out");
    let sent = t.sent_to("+8613812345678");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].message.id, t.outbox_of(her.woman_id()).await[0].id);

    // Each failure is counted by stage in /metrics.
    let metrics = t.get_text("/metrics").await;
    for stage in ["inbound", "broadcasts"] {
        assert!(
            metrics.contains(&format!(
                "careminder_scheduler_stage_failures_total{{stage=\"{stage}\"}} 1"
            )),
            "{stage} failure counted:\n{metrics}"
        );
    }
    // A healthy reply is still acted on beside the poisoned one.
    t.app
        .inbound
        .receive(careminder::domain::NewInbound {
            gateway: "mock".into(),
            provider_id: "fine-1".into(),
            sender: "+8613812345678".into(),
            text: "TD".into(),
            received_at: t.clock.now(),
        })
        .await
        .unwrap();
    let w = t.app.store.woman(her.woman_id()).await.unwrap();
    assert!(w.opted_out_at.is_some(), "her opt-out held");
}
