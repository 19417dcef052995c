//! `/metrics` parses as Prometheus text and its numbers match the
//! database after a demo morning.

use crate::helpers::*;
use prometheus_parse::{Scrape, Value};

async fn scrape(t: &TestApp) -> Scrape {
    let text = t.get_text("/metrics").await;
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("Prometheus text format")
}

fn sum(s: &Scrape, metric: &str, label: Option<(&str, &str)>) -> f64 {
    s.samples
        .iter()
        .filter(|x| x.metric == metric)
        .filter(|x| label.is_none_or(|(k, v)| x.labels.get(k) == Some(v)))
        .map(|x| match &x.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            _ => 0.0,
        })
        .sum()
}

#[tokio::test]
async fn metrics_parse_and_match_the_database_after_a_demo_morning() {
    let t = spawn_app_with(|_| {}, "2026-12-01 07:50").await;
    careminder::demo::seed(&t.app).await.unwrap();
    t.run_until("2026-12-01 12:00", chrono::Duration::minutes(10))
        .await;
    // A forged webhook and a reply.
    let r = t
        .client
        .post(t.url("/webhooks/android"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let s = scrape(&t).await;

    // Messages by status: the outbox, exactly.
    let counts = t.app.store.status_counts(None).await.unwrap();
    assert!(!counts.is_empty());
    for c in &counts {
        assert_eq!(
            sum(
                &s,
                "careminder_messages",
                Some(("status", c.status.as_str()))
            ),
            c.count as f64,
            "{}",
            c.status
        );
    }
    // By gateway too: what the mock carried.
    let delivered = counts
        .iter()
        .find(|c| c.status == careminder::domain::MessageStatus::Delivered)
        .map(|c| c.count)
        .unwrap_or(0);
    assert!(delivered > 0);
    assert_eq!(
        s.samples
            .iter()
            .filter(|x| x.metric == "careminder_messages"
                && x.labels.get("status") == Some("delivered")
                && x.labels.get("gateway") == Some("default"))
            .map(|x| match &x.value {
                Value::Gauge(v) | Value::Untyped(v) => *v,
                _ => 0.0,
            })
            .sum::<f64>(),
        delivered as f64
    );
    // Every message handed over was counted once, with its latency.
    let handed: i64 = counts
        .iter()
        .filter(|c| ["accepted", "sent", "delivered"].contains(&c.status.as_str()))
        .map(|c| c.count)
        .sum();
    assert!(handed > 0);
    assert_eq!(
        sum(
            &s,
            "careminder_sends_total",
            Some(("outcome", "handed_over"))
        ),
        handed as f64
    );
    let latency_count: f64 = s
        .samples
        .iter()
        .filter(|x| x.metric == "careminder_gateway_send_seconds")
        .map(|x| match &x.value {
            Value::Histogram(h) => h.last().map(|b| b.count).unwrap_or(0.0),
            _ => 0.0,
        })
        .sum();
    assert_eq!(latency_count, handed as f64, "one latency per send");
    let planned: i64 = counts.iter().map(|c| c.count).sum();
    assert!(sum(&s, "careminder_planned_total", None) > 0.0);
    assert!(sum(&s, "careminder_planned_total", None) <= planned as f64);
    assert_eq!(
        sum(
            &s,
            "careminder_webhook_rejections_total",
            Some(("gateway", "android"))
        ),
        1.0
    );
    assert_eq!(
        sum(&s, "careminder_job_runs_total", Some(("job", "digest"))),
        1.0
    );
    assert!(s.docs.contains_key("careminder_queue_oldest_due_seconds"));
}
