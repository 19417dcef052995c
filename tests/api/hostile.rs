//! Hostile input at every door: bodies too large, cut short, in the wrong
//! encoding, or never finished get a 4xx, never a panic or a partial write.

use crate::helpers::*;
use careminder::config::{ChannelSettings, GatewayConfig};
use careminder::gateway::{android, cht, twilio};
use careminder::Config;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Every gateway kind configured, so every webhook is live.
fn all_gateways(c: &mut Config) {
    let android = GatewayConfig::new(ChannelSettings::Android(android::Settings {
        base_url: "http://127.0.0.1:9".into(),
        signing_key: "k3y".into(),
        ..Default::default()
    }));
    let twilio = GatewayConfig::new(ChannelSettings::Twilio(twilio::Settings {
        base_url: "http://127.0.0.1:9".into(),
        account_sid: "AC1".into(),
        auth_token: "t0ken".into(),
        from: "+15005550006".into(),
        ..Default::default()
    }));
    let cht = GatewayConfig::new(ChannelSettings::Cht(cht::Settings {
        username: "phone1".into(),
        password: "s3cret".into(),
    }));
    c.gateways.insert("phone".into(), android);
    c.gateways.insert("tw".into(), twilio);
    c.gateways.insert("cht".into(), cht);
    c.max_body_bytes = 64 * 1024;
    c.request_timeout_seconds = 0.5;
}

/// Each door, with the credentials it asks for (the bodies are what is hostile).
fn doors(t: &TestApp) -> Vec<(&'static str, reqwest::RequestBuilder)> {
    let c = &t.client;
    vec![
        (
            "mock inbound",
            c.post(t.url("/webhooks/mock")).bearer_auth(TOKEN),
        ),
        (
            "mock status",
            c.post(t.url("/webhooks/mock/status")).bearer_auth(TOKEN),
        ),
        (
            "enrollments",
            c.post(t.url("/api/v1/enrollments")).bearer_auth(TOKEN),
        ),
        ("android", c.post(t.url("/webhooks/android"))),
        ("twilio inbound", c.post(t.url("/webhooks/twilio/inbound"))),
        ("twilio status", c.post(t.url("/webhooks/twilio/status"))),
        (
            "cht poll",
            c.post(t.url("/gateways/cht"))
                .basic_auth("phone1", Some("s3cret")),
        ),
    ]
}

async fn counts(t: &TestApp) -> (i64, i64, i64) {
    let s = &t.app.store;
    (
        s.inbound_count().await.unwrap(),
        t.app
            .store
            .list_outbox(&Default::default())
            .await
            .unwrap()
            .len() as i64,
        s.women_count().await.unwrap(),
    )
}

#[tokio::test]
async fn oversized_truncated_and_badly_encoded_bodies_get_4xx_and_write_nothing() {
    let t = spawn_app_with(all_gateways, "2026-12-01 10:00").await;
    let before = counts(&t).await;
    let huge = format!("{{\"id\":\"{}\"}}", "x".repeat(200 * 1024));
    let bodies: [(&str, Vec<u8>, &str); 4] = [
        ("oversized", huge.into_bytes(), "application/json"),
        (
            "truncated",
            br#"{"id": "p1", "from": "+86138"#.to_vec(),
            "application/json",
        ),
        (
            "not UTF-8",
            b"\xff\xfe{\"id\":\"\xc3\x28\"}".to_vec(),
            "application/json",
        ),
        (
            "form, not UTF-8",
            b"From=%2B8613&Body=\xff\xfe&MessageSid=SM1".to_vec(),
            "application/x-www-form-urlencoded",
        ),
    ];
    for (what, body, ctype) in bodies {
        for (door, req) in doors(&t) {
            let r = req
                .header("content-type", ctype)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let s = r.status().as_u16();
            assert!((400..500).contains(&s), "{what} body at {door}: {s}");
            if what == "oversized" && !door.starts_with("mock") && door != "enrollments" {
                // Signed webhooks read the whole body before checking it: the limit answers first.
                assert_eq!(s, 413, "{what} body at {door}");
            }
        }
    }
    assert_eq!(counts(&t).await, before, "a refused body wrote something");
    let r = t.client.get(t.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200, "still serving");
}

#[tokio::test]
async fn a_body_that_never_finishes_is_cut_off_with_408() {
    let t = spawn_app_with(all_gateways, "2026-12-01 10:00").await;
    let mut s = tokio::net::TcpStream::connect(t.addr).await.unwrap();
    // Promises 100 bytes, sends 10, then stalls.
    s.write_all(
        format!(
            "POST /webhooks/mock HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\n\
             content-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"id\": \"p"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = vec![0u8; 512];
    // Bounded: the server's own timeout (0.5 s here) answers long before this.
    let n = tokio::time::timeout(Duration::from_secs(20), s.read(&mut answer))
        .await
        .expect("the server answers a stalled body")
        .unwrap();
    let head = String::from_utf8_lossy(&answer[..n]);
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    assert_eq!(t.app.store.inbound_count().await.unwrap(), 0);
}
