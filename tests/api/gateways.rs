//! Each gateway against a local fake peer, case by case (in the manner of
//! courier's handler tests): outgoing message -> exact request -> mocked
//! answer -> resulting status; incoming request -> answer -> what was stored.

use crate::helpers::*;
use base64::Engine;
use careminder::config::{ChannelSettings, Config};
use careminder::gateway::{android, twilio};
use chrono::Duration;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const HER: &str = "+8613812345678";

fn android_config(c: &mut Config, server: &MockServer) {
    c.gateway.timeout_seconds = 1;
    c.gateway.channel = ChannelSettings::Android(android::Settings {
        base_url: server.uri(),
        username: "u".into(),
        password: "p".into(),
        signing_key: "k3y".into(),
    });
}

fn twilio_config(c: &mut Config, server: &MockServer) {
    c.gateway.channel = ChannelSettings::Twilio(twilio::Settings {
        base_url: server.uri(),
        account_sid: "AC123".into(),
        auth_token: "t0ken".into(),
        from: "+15005550006".into(),
        messaging_service_sid: String::new(),
    });
    c.public_url = "https://sms.example.org".into();
}

/// One woman; her first reminder is due 2026-12-12 09:00. Returns her id.
async fn due_reminder(t: &TestApp) -> i64 {
    let w = t
        .enroll("王秀英", "13812345678", "2026-09-22")
        .await
        .woman_id();
    t.at("2026-12-12 09:00");
    w
}

async fn first_message(t: &TestApp, w: i64) -> careminder::store::OutboxListRow {
    t.outbox_of(w)
        .await
        .into_iter()
        .find(|m| m.step.as_deref() == Some("checkup-reminders/before-3d"))
        .expect("the 3-day reminder")
}

#[tokio::test]
async fn android_outgoing_cases() {
    // (answer status, answer body, delay in seconds, resulting status, cause contains)
    let cases: &[(u16, Value, u64, &str, &str)] = &[
        (
            202,
            json!({"id": "x", "state": "Pending", "recipients": []}),
            0,
            "accepted",
            "",
        ),
        (409, json!({"message": "duplicate id"}), 0, "accepted", ""),
        (
            400,
            json!({"message": "invalid phone number"}),
            0,
            "failed",
            "invalid phone number",
        ),
        (
            401,
            json!({"message": "unauthorized"}),
            0,
            "failed",
            "HTTP 401",
        ),
        (500, json!({"message": "boom"}), 0, "scheduled", "HTTP 500"),
        (202, json!({}), 3, "scheduled", "timed out"),
    ];
    for (status, body, delay, want, cause) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/message"))
            .respond_with(
                ResponseTemplate::new(*status)
                    .set_body_json(body.clone())
                    .set_delay(std::time::Duration::from_secs(*delay)),
            )
            .mount(&server)
            .await;
        let t = spawn_app_with(|c| android_config(c, &server), "2026-12-01 10:00").await;
        let w = due_reminder(&t).await;
        t.tick().await;
        let m = first_message(&t, w).await;
        assert_eq!(m.status, *want, "HTTP {status} (delay {delay})");
        assert!(
            m.status_cause.as_deref().unwrap_or("").contains(cause),
            "HTTP {status}: {:?}",
            m.status_cause
        );
        let reqs = server.received_requests().await.unwrap();
        assert_eq!(reqs.len(), 1, "HTTP {status}");
        let r = &reqs[0];
        assert_eq!(r.headers.get("authorization").unwrap(), "Basic dTpw");
        let sent: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            sent,
            json!({"id": format!("cm-{}", m.id), "phoneNumbers": [HER], "textMessage": {"text": m.body.clone().unwrap()},
                   "withDeliveryReport": true, "ttl": 86400})
        );
    }
}

async fn android_webhook(t: &TestApp, body: &Value, ts: i64, key: &str) -> (u16, String) {
    let raw = serde_json::to_vec(body).unwrap();
    let ts = ts.to_string();
    let r = t
        .client
        .post(t.url("/webhooks/android"))
        .header("X-Timestamp", &ts)
        .header("X-Signature", android::sign(key, &raw, &ts))
        .header("Content-Type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn android_webhooks_are_verified_applied_once_and_received_texts_are_acted_on() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/message"))
        .respond_with(ResponseTemplate::new(202))
        .mount(&server)
        .await;
    let t = spawn_app_with(|c| android_config(c, &server), "2026-12-01 10:00").await;
    let w = due_reminder(&t).await;
    t.tick().await;
    let id = first_message(&t, w).await.id;
    let now = t.clock.now().timestamp();
    let delivered = json!({"id": "ev-1", "webhookId": "wh", "event": "sms:delivered", "deviceId": "d1",
                           "payload": {"messageId": format!("cm-{id}"), "deliveredAt": "2026-12-12T01:00:05Z"}});
    // Forged key, tampered body, stale timestamp: refused, nothing applied.
    assert_eq!(android_webhook(&t, &delivered, now, "wrong").await.0, 401);
    assert_eq!(
        android_webhook(&t, &delivered, now - 301, "k3y").await.0,
        401
    );
    let raw = serde_json::to_vec(&delivered).unwrap();
    let sig = android::sign("k3y", &raw, &now.to_string());
    let mut tampered = raw.clone();
    tampered.extend_from_slice(b" ");
    let r = t
        .client
        .post(t.url("/webhooks/android"))
        .header("X-Timestamp", now.to_string())
        .header("X-Signature", sig)
        .body(tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(first_message(&t, w).await.status, "accepted");
    // Valid, then redelivered: applied once.
    assert_eq!(
        android_webhook(&t, &delivered, now, "k3y").await,
        (200, "ok".into())
    );
    assert_eq!(
        android_webhook(&t, &delivered, now, "k3y").await,
        (200, "duplicate".into())
    );
    assert_eq!(first_message(&t, w).await.status, "delivered");
    // A late "sent" changes nothing.
    let sent =
        json!({"id": "ev-2", "event": "sms:sent", "payload": {"messageId": format!("cm-{id}")}});
    android_webhook(&t, &sent, now, "k3y").await;
    assert_eq!(first_message(&t, w).await.status, "delivered");
    // A "failed" after delivery is kept as an event, delivery stands.
    let failed = json!({"id": "ev-3", "event": "sms:failed", "payload": {"messageId": format!("cm-{id}"), "reason": "late"}});
    android_webhook(&t, &failed, now, "k3y").await;
    assert_eq!(first_message(&t, w).await.status, "delivered");
    let events = t.app.store.events_of(id).await.unwrap();
    assert_eq!(events.last().unwrap().0, "failed");
    // A received SMS lands in the inbound store and its keyword acts.
    let received = json!({"id": "ev-4", "event": "sms:received",
                          "payload": {"messageId": "m-9", "message": "TD", "sender": HER, "receivedAt": "2026-12-12T01:02:00Z"}});
    assert_eq!(android_webhook(&t, &received, now, "k3y").await.0, 200);
    assert!(t.app.store.woman(w).await.unwrap().opted_out_at.is_some());
    android_webhook(&t, &json!({"id": "ev-5", "event": "sms:received", "payload": {"messageId": "m-9", "message": "TD", "sender": HER}}), now, "k3y").await;
    let conv = t.app.store.conversation(w).await.unwrap();
    assert_eq!(conv.iter().filter(|c| c.direction == "in").count(), 1);
}

#[tokio::test]
async fn android_gateway_down_for_an_hour_loses_nothing_and_sends_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/message"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let t = spawn_app_with(|c| android_config(c, &server), "2026-12-01 10:00").await;
    let w = due_reminder(&t).await;
    t.run_until("2026-12-12 10:00", Duration::minutes(1)).await;
    let down_calls = server.received_requests().await.unwrap().len();
    assert!(
        (3..=9).contains(&down_calls),
        "{down_calls} attempts in the hour"
    );
    assert_eq!(first_message(&t, w).await.status, "scheduled");
    server.reset().await;
    Mock::given(method("POST"))
        .and(path("/message"))
        .respond_with(ResponseTemplate::new(202))
        .mount(&server)
        .await;
    t.run_until("2026-12-12 12:00", Duration::minutes(1)).await;
    let after: Vec<Value> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["id"].clone())
        .collect();
    assert_eq!(
        after,
        [json!(format!("cm-{}", first_message(&t, w).await.id))],
        "sent once when back"
    );
    assert_eq!(first_message(&t, w).await.status, "accepted");
}

fn form(params: &[(&str, &str)]) -> (String, Vec<(String, String)>) {
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (serde_urlencoded::to_string(&owned).unwrap(), owned)
}

async fn twilio_post(
    t: &TestApp,
    path: &str,
    params: &[(&str, &str)],
    token: &str,
) -> (u16, String) {
    let (body, owned) = form(params);
    let sig = twilio::signature(token, &format!("https://sms.example.org{path}"), &owned);
    let r = t
        .client
        .post(t.url(path))
        .header("X-Twilio-Signature", sig)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn twilio_sends_the_exact_form_and_applies_signed_callbacks() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/2010-04-01/Accounts/AC123/Messages.json"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"sid": "SM1", "status": "queued"})),
        )
        .mount(&server)
        .await;
    let t = spawn_app_with(|c| twilio_config(c, &server), "2026-12-01 10:00").await;
    let w = due_reminder(&t).await;
    t.tick().await;
    let m = first_message(&t, w).await;
    assert_eq!(m.status, "accepted");
    let reqs = server.received_requests().await.unwrap();
    let r = &reqs[0];
    let auth = base64::engine::general_purpose::STANDARD.encode("AC123:t0ken");
    assert_eq!(
        r.headers.get("authorization").unwrap().to_str().unwrap(),
        format!("Basic {auth}")
    );
    let (expected, _) = form(&[
        ("To", HER),
        ("From", "+15005550006"),
        ("Body", m.body.as_deref().unwrap()),
        (
            "StatusCallback",
            "https://sms.example.org/webhooks/twilio/status",
        ),
    ]);
    assert_eq!(String::from_utf8(r.body.clone()).unwrap(), expected);

    let forged = twilio_post(
        &t,
        "/webhooks/twilio/status",
        &[("MessageSid", "SM1"), ("MessageStatus", "delivered")],
        "nope",
    )
    .await;
    assert_eq!(forged.0, 403);
    assert_eq!(first_message(&t, w).await.status, "accepted");
    for (status, want) in [
        ("sending", "sent"),
        ("sent", "sent"),
        ("delivered", "delivered"),
        ("sent", "delivered"),
    ] {
        let r = twilio_post(
            &t,
            "/webhooks/twilio/status",
            &[("MessageSid", "SM1"), ("MessageStatus", status)],
            "t0ken",
        )
        .await;
        assert_eq!(r.0, 204);
        assert_eq!(first_message(&t, w).await.status, want, "after {status}");
    }
    let r = twilio_post(
        &t,
        "/webhooks/twilio/inbound",
        &[("MessageSid", "SMin1"), ("From", HER), ("Body", "帮助")],
        "t0ken",
    )
    .await;
    assert_eq!(r.0, 200);
    assert!(r.1.contains("<Response>"));
    let conv = t.app.store.conversation(w).await.unwrap();
    assert!(conv
        .iter()
        .any(|c| c.direction == "in" && c.text.as_deref() == Some("帮助")));
}

#[tokio::test]
async fn twilio_21610_records_an_opt_out_and_429_waits_as_told() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400})))
        .mount(&server)
        .await;
    let t = spawn_app_with(|c| twilio_config(c, &server), "2026-12-01 10:00").await;
    let w = due_reminder(&t).await;
    t.tick().await;
    let m = first_message(&t, w).await;
    assert_eq!(m.status, "failed");
    assert!(m.status_cause.unwrap().contains("21610"));
    assert!(t.app.store.woman(w).await.unwrap().opted_out_at.is_some());
    // Recorded like every other opt-out: audited, naming the provider.
    let audit = t.app.store.audit_log(100).await.unwrap();
    assert!(audit.iter().any(|r| r.action == "opt_out"
        && r.subject.as_deref() == Some(&format!("woman:{w}"))
        && r.detail
            .as_deref()
            .is_some_and(|d| d.starts_with("via provider"))));

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "600"))
        .mount(&server)
        .await;
    let t = spawn_app_with(|c| twilio_config(c, &server), "2026-12-01 10:00").await;
    let w = due_reminder(&t).await;
    t.tick().await;
    let m = first_message(&t, w).await;
    assert_eq!(m.status, "scheduled");
    assert_eq!(
        t.fmt(m.send_at),
        "2026-12-12 09:10",
        "retried after Retry-After, not before"
    );
    t.run_until("2026-12-12 09:09", Duration::minutes(1)).await;
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

fn cht_config(c: &mut Config) {
    c.gateway.channel = ChannelSettings::Cht(careminder::gateway::cht::Settings {
        username: "phone1".into(),
        password: "s3cret".into(),
    });
}

async fn cht_poll(t: &TestApp, body: &str, password: &str) -> (u16, Value) {
    let r = t
        .client
        .post(t.url("/gateways/cht"))
        .basic_auth("phone1", Some(password))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn cht_gateway_polls_offer_until_a_status_arrives_and_store_incoming_once() {
    let t = spawn_app_with(cht_config, "2026-12-01 10:00").await;
    let r = t
        .client
        .get(t.url("/gateways/cht"))
        .basic_auth("phone1", Some("s3cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"medic-gateway": true})
    );
    assert_eq!(cht_poll(&t, "", "wrong").await.0, 401);
    let w = due_reminder(&t).await;
    t.tick().await;
    let m = first_message(&t, w).await;
    assert_eq!(m.status, "accepted");
    let offered = json!({"messages": [{"id": format!("cm-{}", m.id), "to": HER, "content": m.body.clone().unwrap()}]});
    // Offered on every poll (empty body, null lists) until a status arrives.
    assert_eq!(cht_poll(&t, "", "s3cret").await, (200, offered.clone()));
    assert_eq!(
        cht_poll(&t, r#"{"messages": null, "updates": null}"#, "s3cret").await,
        (200, offered.clone())
    );
    assert_eq!(cht_poll(&t, "{}", "s3cret").await, (200, offered));
    // Unknown ids and statuses are accepted without error.
    let odd = json!({"updates": [{"id": "nope", "status": "SENT"}, {"id": format!("cm-{}", m.id), "status": "WEIRD"}]});
    assert_eq!(
        cht_poll(&t, &odd.to_string(), "s3cret").await.1["messages"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // UNSENT: the phone has it; never offered again.
    let ack = json!({"updates": [{"id": format!("cm-{}", m.id), "status": "UNSENT"}]});
    assert_eq!(
        cht_poll(&t, &ack.to_string(), "s3cret").await.1,
        json!({"messages": []})
    );
    assert_eq!(first_message(&t, w).await.status, "accepted");
    for (status, want) in [
        ("PENDING", "accepted"),
        ("SENT", "sent"),
        ("DELIVERED", "delivered"),
    ] {
        let u = json!({"updates": [{"id": format!("cm-{}", m.id), "status": status}]});
        assert_eq!(
            cht_poll(&t, &u.to_string(), "s3cret").await.1,
            json!({"messages": []})
        );
        assert_eq!(first_message(&t, w).await.status, want, "{status}");
    }
    // A full batch of 10 incoming and 20 updates; the same incoming ids again are stored once.
    let incoming: Vec<Value> = (0..10)
        .map(|i| json!({"id": format!("in-{i}"), "from": HER, "content": format!("问题{i}"), "sms_sent": 0, "sms_received": 1765501200000i64}))
        .collect();
    let updates: Vec<Value> = (0..20)
        .map(|i| json!({"id": (1000 + i).to_string(), "status": "FAILED", "reason": "x"}))
        .collect();
    let full = json!({"messages": incoming, "updates": updates}).to_string();
    assert_eq!(cht_poll(&t, &full, "s3cret").await.0, 200);
    assert_eq!(cht_poll(&t, &full, "s3cret").await.0, 200);
    let conv = t.app.store.conversation(w).await.unwrap();
    assert_eq!(conv.iter().filter(|c| c.direction == "in").count(), 10);
}

#[tokio::test]
async fn a_failed_status_from_the_phone_fails_the_message_with_its_reason() {
    let t = spawn_app_with(cht_config, "2026-12-01 10:00").await;
    let w = due_reminder(&t).await;
    t.tick().await;
    let m = first_message(&t, w).await;
    let u = json!({"updates": [{"id": format!("cm-{}", m.id), "status": "FAILED", "reason": "no signal"}]});
    cht_poll(&t, &u.to_string(), "s3cret").await;
    let m = first_message(&t, w).await;
    assert_eq!(
        (m.status.as_str(), m.status_cause.as_deref()),
        ("failed", Some("no signal"))
    );
}

#[tokio::test]
async fn messages_follow_their_routes_and_a_gateway_refuses_what_is_too_long_for_it() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/message"))
        .respond_with(ResponseTemplate::new(202))
        .mount(&server)
        .await;
    let t = spawn_app_with(
        |c| {
            let mut phone = Config::default();
            android_config(&mut phone, &server);
            c.gateways.insert("phone2".into(), phone.gateway);
            c.routing.villages.insert("V002".into(), "phone2".into());
        },
        "2026-12-01 10:00",
    )
    .await;
    t.enroll("王秀英", "13812345678", "2026-09-22").await; // village V001: default (mock)
    let mut other = woman("李桂兰", "13812345679", "2026-09-22");
    other.village = Some("V002".into());
    t.app.care.enroll(&other, "test", "test").await.unwrap();
    t.at("2026-12-12 09:00");
    t.tick().await;
    assert_eq!(t.sent_to(HER).len(), 1);
    let at_phone: Vec<Value> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["phoneNumbers"][0].clone())
        .collect();
    assert_eq!(at_phone, [json!("+8613812345679")]);

    let t = spawn_app_with(|c| c.gateway.max_parts = 1, "2026-12-01 10:00").await;
    let mut long = woman("王秀英", "13812345678", "2026-09-22");
    long.name = "王".repeat(30);
    let w = t
        .app
        .care
        .enroll(&long, "test", "test")
        .await
        .unwrap()
        .woman_id();
    t.at("2026-12-12 09:00");
    t.tick().await;
    let m = first_message(&t, w).await;
    assert_eq!(m.status, "failed");
    assert!(m.status_cause.unwrap().contains("SMS parts"));
    assert!(t.mock.sent().is_empty());
}

/// An Android phone whose answers the test switches: up, 5xx, 429 with
/// Retry-After, or too slow for the gateway timeout. Records what it took.
#[derive(Clone, Default)]
struct Flaky {
    mode: std::sync::Arc<std::sync::atomic::AtomicU8>,
    took: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

const UP: u8 = 0;
const DOWN: u8 = 1;
const BUSY: u8 = 2;
const SLOW: u8 = 3;

impl wiremock::Respond for Flaky {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        match self.mode.load(std::sync::atomic::Ordering::SeqCst) {
            UP => {
                let id = serde_json::from_slice::<Value>(&req.body).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_string();
                self.took.lock().unwrap().push(id.clone());
                ResponseTemplate::new(202).set_body_json(json!({ "id": id, "state": "Pending" }))
            }
            DOWN => ResponseTemplate::new(503),
            BUSY => ResponseTemplate::new(429).insert_header("Retry-After", "600"),
            // Longer than the gateway's 1 s timeout: the phone took it, or not?
            _ => ResponseTemplate::new(202).set_delay(std::time::Duration::from_millis(1500)),
        }
    }
}

impl Flaky {
    fn set(&self, mode: u8) {
        self.mode.store(mode, std::sync::atomic::Ordering::SeqCst);
    }
}

async fn enroll_in(t: &TestApp, name: &str, phone: &str, village: &str) -> i64 {
    let mut input = woman(name, phone, "2026-09-22");
    input.village = Some(village.into());
    t.app
        .care
        .enroll(&input, "test", "test")
        .await
        .unwrap()
        .woman_id()
}

#[tokio::test]
async fn a_flapping_gateway_delays_messages_never_loses_or_repeats_them_and_others_keep_flowing() {
    let server = MockServer::start().await;
    let phone = Flaky::default();
    Mock::given(method("POST"))
        .and(path("/message"))
        .respond_with(phone.clone())
        .mount(&server)
        .await;
    let t = spawn_app_with(
        |c| {
            android_config(c, &server);
            // Village V002's women go through another gateway.
            c.routing.villages.insert("V002".into(), "mock".into());
        },
        "2026-12-01 10:00",
    )
    .await;
    let mut flaky_women = vec![];
    for i in 0..6 {
        flaky_women.push(enroll_in(&t, &format!("甲{i}"), &format!("1381234560{i}"), "V001").await);
        enroll_in(&t, &format!("乙{i}"), &format!("1391234560{i}"), "V002").await;
    }
    // The reminders are due at 09:00. The phone flaps minute by minute:
    // down, busy (come back in ten minutes), slow, and up only now and then.
    let pattern = [
        DOWN, DOWN, SLOW, DOWN, BUSY, DOWN, UP, DOWN, DOWN, BUSY, DOWN, DOWN, UP,
    ];
    t.at("2026-12-12 09:00");
    let mut minute = 0;
    while t.clock.now() < t.local("2026-12-12 11:00") {
        phone.set(pattern[minute % pattern.len()]);
        if minute >= pattern.len() && pattern[minute % pattern.len()] == SLOW {
            phone.set(DOWN); // one slow spell is enough: each costs a real second
        }
        t.tick().await;
        t.clock.advance(Duration::minutes(1));
        minute += 1;
    }
    phone.set(UP);
    t.run_until("2026-12-12 14:00", Duration::minutes(1)).await;

    // The other gateway's women had theirs on time, whatever the phone did.
    for i in 0..6 {
        let got = t.sent_to(&format!("+86139123456{i:02}"));
        assert_eq!(got.len(), 1, "V002 woman {i}");
        assert_eq!(t.fmt(got[0].at), "2026-12-12 09:00");
    }
    // Every message through the phone arrived, once (a timed-out hand-over
    // may be offered again: the phone de-duplicates by our id).
    let took = phone.took.lock().unwrap().clone();
    let mut ids = std::collections::HashSet::new();
    for w in &flaky_women {
        let m = first_message(&t, *w).await;
        assert_eq!(m.status, "accepted", "{m:?}");
        assert!(
            took.contains(&format!("cm-{}", m.id)),
            "message {} never arrived",
            m.id
        );
        ids.insert(format!("cm-{}", m.id));
        // Backoff grows: each retry waits at least the floor for its attempt,
        // and the phone's Retry-After is honoured.
        let events = t.app.store.events_of(m.id).await.unwrap();
        for (_, _, cause) in events.iter().filter(|e| e.0 == "scheduled") {
            let Some(c) = cause.as_deref().filter(|c| c.starts_with("retry in ")) else {
                continue;
            };
            let secs: i64 = c["retry in ".len()..]
                .split('s')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            let attempt: u32 = c
                .split("after attempt ")
                .nth(1)
                .unwrap()
                .split(':')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            let floor = (30 * 2i64.pow(attempt - 1) * 3 / 4).min(3600 * 3 / 4);
            assert!(secs >= floor, "attempt {attempt} waited {secs}s: {c}");
            // (the status, not a delay that happens to be 429 seconds)
            if c.contains("HTTP 429") {
                assert!(secs >= 600, "Retry-After ignored: {c}");
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    let repeated: Vec<&String> = took.iter().filter(|id| !seen.insert(*id)).collect();
    assert!(
        took.iter().all(|id| ids.contains(id)),
        "the phone took only our messages"
    );
    // Only a hand-over that timed out (the phone may have taken it) is offered twice.
    assert!(
        repeated.len() <= flaky_women.len(),
        "repeated: {repeated:?}"
    );
}

#[tokio::test]
async fn a_gateway_down_past_its_failover_age_hands_its_messages_on_and_says_why() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/message"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let t = spawn_app_with(
        |c| {
            android_config(c, &server);
            c.gateway.failover = Some("mock".into());
            c.gateway.failover_after_minutes = 30;
        },
        "2026-12-01 10:00",
    )
    .await;
    let w = due_reminder(&t).await;
    t.run_until("2026-12-12 09:29", Duration::minutes(1)).await;
    assert!(t.sent_to(HER).is_empty(), "not before the failover age");
    t.run_until("2026-12-12 11:00", Duration::minutes(1)).await;
    let sent = t.sent_to(HER);
    assert_eq!(sent.len(), 1, "through the failover gateway, once");
    let m = first_message(&t, w).await;
    assert!(
        ["accepted", "delivered"].contains(&m.status.as_str()),
        "{m:?}"
    );
    // The history says why: each failed attempt's answer, then the failover.
    let causes: Vec<String> = t
        .app
        .store
        .events_of(m.id)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| e.2)
        .collect();
    assert!(causes.iter().any(|c| c.contains("503")), "{causes:?}");
    assert!(
        causes.iter().any(|c| c.starts_with("failover")),
        "{causes:?}"
    );
    // A failover to a gateway that does not exist is refused at start.
    let dir = tempfile::tempdir().unwrap();
    let mut c = Config {
        database: dir.path().join("x.db").into(),
        ..Config::default()
    };
    c.gateway.failover = Some("nowhere".into());
    let err = careminder::App::open(c, careminder::Clock::manual(t.clock.now()))
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("gateway.failover"), "{err}");
}

#[tokio::test]
async fn a_slow_batch_keeps_its_leases_so_no_other_process_takes_it_and_sends_it_again() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/message"))
        .respond_with(
            ResponseTemplate::new(202)
                .set_body_json(json!({"id": "x", "state": "Pending", "recipients": []}))
                .set_delay(std::time::Duration::from_millis(1500)),
        )
        .mount(&server)
        .await;
    let t = spawn_app_with(
        |c| {
            android_config(c, &server);
            c.gateway.timeout_seconds = 10;
            c.dispatcher.lease_seconds = 10;
            c.dispatcher.concurrency = 1;
        },
        "2026-12-01 10:00",
    )
    .await;
    for i in 0..3 {
        t.enroll(&format!("孕妇{i}"), &format!("1381234560{i}"), "2026-09-22")
            .await;
    }
    t.at("2026-12-12 09:00");
    // The service's batch of three takes about 4.5 seconds at this gateway.
    let app = t.app.clone();
    let serve = tokio::spawn(async move { app.tick().await });
    // The service's clock runs four times faster than real time, so its
    // claims' first leases run out while the batch is in flight...
    for _ in 0..6 {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        t.clock.advance(Duration::seconds(2));
    }
    // ...and another process on this database (a `careminder tick`) looks
    // for work: the batch in flight is not there to take.
    let now = t.clock.now();
    let (taken, _) = t
        .app
        .store
        .claim_due(now, now + Duration::seconds(10), 10, true)
        .await
        .unwrap();
    assert!(taken.is_empty(), "re-claimed in flight: {taken:?}");
    let report = serve.await.unwrap();
    assert_eq!(report.dispatch.handed_over, 3);
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        3,
        "each handed over once"
    );
}

#[tokio::test]
async fn cht_gateway_credentials_are_accepted_as_the_app_sends_them_form_encoded() {
    // The app's webapp URL is https://phone1:PASSWORD@host/..., and it
    // sends the user info as it stands in the URL: form-encoded.
    let password = "p@ss w+rd$&%=";
    let t = spawn_app_with(
        |c| {
            c.gateway.channel = ChannelSettings::Cht(careminder::gateway::cht::Settings {
                username: "phone1".into(),
                password: password.into(),
            })
        },
        "2026-12-01 10:00",
    )
    .await;
    let encoded: String = serde_urlencoded::to_string([("v", password)])
        .unwrap()
        .trim_start_matches("v=")
        .to_string();
    assert_eq!(encoded, "p%40ss+w%2Brd%24%26%25%3D");
    for sent in [password, encoded.as_str()] {
        let (status, _) = cht_poll(&t, "{}", sent).await;
        assert_eq!(status, 200, "password sent as {sent:?}");
    }
    let (status, _) = cht_poll(&t, "{}", "p@ss w+rd$&%").await;
    assert_eq!(status, 401, "a wrong password is still refused");
}

#[tokio::test]
async fn a_phone_reports_only_on_messages_it_carried_and_only_by_our_namespaced_ids() {
    let server = MockServer::start().await;
    let t = spawn_app_with(
        |c| {
            android_config(c, &server);
            // Village V009's women get theirs through the mock gateway.
            c.routing.villages.insert("V009".into(), "mock".into());
        },
        "2026-12-01 10:00",
    )
    .await;
    let mut input = woman("王秀英", HER, "2026-09-22");
    input.village = Some("V009".into());
    let w = t
        .app
        .care
        .enroll(&input, "test", "test")
        .await
        .unwrap()
        .woman_id();
    t.at("2026-12-12 09:00");
    t.tick().await;
    let m = first_message(&t, w).await;
    assert_eq!(m.status, "delivered", "through the mock");
    let now = t.clock.now().timestamp();
    // The Android phone reports a failure for it: not its message.
    let failed = json!({"id": "ev-x", "event": "sms:failed",
                        "payload": {"messageId": format!("cm-{}", m.id), "reason": "no signal"}});
    assert_eq!(android_webhook(&t, &failed, now, "k3y").await.0, 200);
    // Another app on a shared phone that numbers its own messages 1, 2, 3.
    let bare = json!({"id": "ev-y", "event": "sms:failed",
                      "payload": {"messageId": m.id.to_string(), "reason": "theirs"}});
    assert_eq!(android_webhook(&t, &bare, now, "k3y").await.0, 200);
    let events = t.app.store.events_of(m.id).await.unwrap();
    assert!(
        events.iter().all(|e| e.0 != "failed"),
        "no failure recorded: {events:?}"
    );
    assert_eq!(first_message(&t, w).await.status, "delivered");
}

/// A phone's webhook list, as the app keeps it: POST with an existing id
/// replaces; DELETE removes; only https or a loopback URL is accepted.
#[derive(Clone, Default)]
struct Hooks(std::sync::Arc<std::sync::Mutex<Vec<Value>>>);

impl wiremock::Respond for Hooks {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        let mut list = self.0.lock().unwrap();
        match req.method.as_str() {
            "GET" => ResponseTemplate::new(200).set_body_json(Value::Array(list.clone())),
            "POST" => {
                let mut h: Value = serde_json::from_slice(&req.body).unwrap();
                let url = h["url"].as_str().unwrap_or_default();
                if !(url.starts_with("https://") || url.starts_with("http://127.0.0.1")) {
                    return ResponseTemplate::new(400).set_body_json(
                        json!({"message": "url must be https or point to 127.0.0.1"}),
                    );
                }
                if h["id"].is_null() {
                    h["id"] = json!(format!("auto-{}", list.len()));
                }
                list.retain(|o| o["id"] != h["id"]);
                list.push(h.clone());
                ResponseTemplate::new(201).set_body_json(h)
            }
            "DELETE" => {
                let id = req.url.path().rsplit('/').next().unwrap().to_string();
                list.retain(|o| o["id"] != json!(id));
                ResponseTemplate::new(204)
            }
            _ => ResponseTemplate::new(405),
        }
    }
}

#[tokio::test]
async fn registering_webhooks_twice_replaces_them_and_the_phones_refusal_is_shown() {
    let server = MockServer::start().await;
    let hooks = Hooks::default();
    // Left by an older careminder (no id of ours) and by another system.
    hooks.0.lock().unwrap().extend([
        json!({"id": "auto-a", "url": "https://old.example.org/webhooks/android", "event": "sms:received"}),
        json!({"id": "other", "url": "https://crm.example.org/hook", "event": "sms:received"}),
    ]);
    Mock::given(path("/webhooks"))
        .respond_with(hooks.clone())
        .mount(&server)
        .await;
    Mock::given(wiremock::matchers::path_regex("^/webhooks/.+$"))
        .respond_with(hooks.clone())
        .mount(&server)
        .await;
    let mut c = careminder::Config::default();
    android_config(&mut c, &server);
    let ChannelSettings::Android(s) = &c.gateway.channel else {
        unreachable!()
    };
    let phone = android::Android::new("default".into(), "gateway", &c.gateway, s).unwrap();
    for url in ["https://sms.example.org", "https://sms2.example.org"] {
        phone.register_webhooks(url).await.unwrap();
    }
    let mut now: Vec<(String, String)> = phone
        .list_webhooks()
        .await
        .unwrap()
        .into_iter()
        .map(|h| (h.id.unwrap(), h.url))
        .collect();
    now.sort();
    assert_eq!(
        now,
        [
            (
                "careminder-sms-delivered".into(),
                "https://sms2.example.org/webhooks/android".into()
            ),
            (
                "careminder-sms-failed".into(),
                "https://sms2.example.org/webhooks/android".into()
            ),
            (
                "careminder-sms-received".into(),
                "https://sms2.example.org/webhooks/android".into()
            ),
            (
                "careminder-sms-sent".into(),
                "https://sms2.example.org/webhooks/android".into()
            ),
            (
                "other".to_string(),
                "https://crm.example.org/hook".to_string()
            ),
        ],
        "one of ours per event, at the new address; the old one gone; others kept"
    );
    let err = phone
        .register_webhooks("http://192.0.2.10:8080")
        .await
        .unwrap_err();
    assert!(err.contains("https or point to 127.0.0.1"), "{err}");
    let gone = phone.unregister_webhooks().await.unwrap();
    assert_eq!(gone.len(), 4);
    assert_eq!(
        phone.list_webhooks().await.unwrap().len(),
        1,
        "only the other system's"
    );
}

#[tokio::test]
async fn the_phone_is_asked_what_it_has_of_a_message_by_our_id() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/message/cm-7"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"id": "cm-7", "state": "Delivered", "recipients": [{"phoneNumber": HER, "state": "Delivered"}]}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/message/cm-8"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "not found"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/message/cm-9"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let mut c = careminder::Config::default();
    android_config(&mut c, &server);
    let ChannelSettings::Android(s) = &c.gateway.channel else {
        unreachable!()
    };
    let phone = android::Android::new("default".into(), "gateway", &c.gateway, s).unwrap();
    use careminder::gateway::Gateway;
    assert_eq!(
        phone.lookup(7).await,
        Some(Some(careminder::domain::ReportedStatus::Delivered))
    );
    assert_eq!(phone.lookup(8).await, Some(None), "never had it");
    assert_eq!(phone.lookup(9).await, None, "cannot say (the phone failed)");
}
