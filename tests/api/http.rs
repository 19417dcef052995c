//! The HTTP surface: health, and the API's token and error answers.

use crate::helpers::*;
use serde_json::{json, Value};

#[tokio::test]
async fn healthz_answers_ok() {
    let t = spawn_app().await;
    let r = t.client.get(t.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn api_refuses_missing_or_wrong_token() {
    let t = spawn_app().await;
    let r = t.client.get(t.url("/api/v1/outbox")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = t
        .client
        .get(t.url("/api/v1/outbox"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn enrolling_over_the_api_plans_her_reminders_and_bad_input_gets_a_reason() {
    let t = spawn_app().await;
    let body =
        json!({"name": "王秀英", "phone": "138 1234 5678", "lmp": "2026-09-22", "consent": "yes"});
    let r = t
        .client
        .post(t.url("/api/v1/enrollments"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["outcome"], "created");
    // Same again: nothing new.
    let r = t
        .client
        .post(t.url("/api/v1/enrollments"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let bad = json!({"name": "李桂兰", "phone": "12345", "lmp": "2026-09-22", "consent": "yes"});
    let r = t
        .client
        .post(t.url("/api/v1/enrollments"))
        .bearer_auth(TOKEN)
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"].as_str().unwrap().starts_with("phone"), "{v}");

    t.at("2026-12-12 09:00");
    t.tick().await;
    let r = t
        .client
        .get(t.url("/api/v1/outbox?status=delivered"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let rows: Vec<Value> = r.json().await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["step"], "checkup-reminders/before-3d");
}

#[tokio::test]
async fn status_page_shows_counts_without_names_or_numbers() {
    let t = spawn_app().await;
    t.enroll("王秀英", "13812345678", "2026-09-22").await;
    t.at("2026-12-12 09:00");
    t.tick().await;
    let html = t.get_text("/status").await;
    assert!(html.contains("delivered"));
    assert!(!html.contains("王秀英") && !html.contains("13812345678"));
}

#[tokio::test]
async fn readyz_reports_the_database_schema_and_each_gateways_last_success() {
    let t = spawn_app().await;
    let r = t.client.get(t.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["ready"].clone(), v["database"].clone()),
        (json!(true), json!("writable"))
    );
    assert_eq!(v["schema"], v["schema_expected"]);
    // Which database serves it; SQLite's write-ahead log size, only there.
    if crate::helpers::on_postgres() {
        assert_eq!(
            (&v["backend"], &v["wal_bytes"]),
            (&json!("postgres"), &Value::Null)
        );
    } else {
        assert_eq!(v["backend"], "sqlite");
        assert!(v["wal_bytes"].is_u64(), "{v}");
    }
    assert_eq!(v["gateways"]["default"]["last_success"], Value::Null);
    t.enroll("王秀英", "13812345678", "2026-09-22").await;
    t.at("2026-12-12 09:00");
    t.tick().await;
    let v: Value = t
        .client
        .get(t.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["gateways"]["default"]["last_success"],
        json!("2026-12-12T01:00:00Z")
    );
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let t = spawn_app().await;
    let r = t.client.get(t.url("/healthz")).send().await.unwrap();
    let id = r
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(id.len(), 16);
    let r = t
        .client
        .get(t.url("/healthz"))
        .header("X-Request-Id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers().get("x-request-id").unwrap(), "abc-123");
    let r = t
        .client
        .get(t.url("/healthz"))
        .header("X-Request-Id", "bad id!")
        .send()
        .await
        .unwrap();
    assert_ne!(r.headers().get("x-request-id").unwrap(), "bad id!");
}

#[tokio::test]
async fn every_api_refusal_is_json_with_the_reason() {
    let t = spawn_app().await;
    let cases: Vec<(reqwest::RequestBuilder, u16)> = vec![
        // Not JSON at all.
        (
            t.client
                .post(t.url("/api/v1/enrollments"))
                .header("content-type", "application/json")
                .body("{not json"),
            400,
        ),
        // JSON without a required field.
        (
            t.client
                .post(t.url("/api/v1/enrollments"))
                .json(&serde_json::json!({"name": "王秀英"})),
            422,
        ),
        // The wrong content type.
        (
            t.client
                .post(t.url("/api/v1/enrollments"))
                .header("content-type", "text/plain")
                .body("name=x"),
            415,
        ),
        // A query without its parameters.
        (t.client.get(t.url("/api/v1/reports/coverage")), 400),
        // A path that is not a number.
        (t.client.get(t.url("/api/v1/women/abc")), 400),
    ];
    for (req, status) in cases {
        let r = req.bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(r.status().as_u16(), status);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{status}"
        );
        let body: serde_json::Value = r.json().await.unwrap();
        let reason = body["error"].as_str().unwrap_or_default();
        assert!(!reason.is_empty(), "{status}: {body}");
    }
}
