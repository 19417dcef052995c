//! `/webhooks/android`: SMS Gateway for Android's events (`sms:received`,
//! `sms:sent`, `sms:delivered`, `sms:failed`), signed with `X-Signature`
//! (HMAC-SHA256 of body and `X-Timestamp`) by one of our phones.

use super::{verify, Envelope, SignatureError};
use crate::domain::{GatewayKind, NewInbound, ReportedStatus, StatusReport};
use crate::gateway::backend::SharedBackend;
use crate::gateway::hooks::{header_str, millis, refuse};
use crate::gateway::ChannelSettings;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

pub fn routes() -> Router<SharedBackend> {
    Router::new().route("/webhooks/android", post(event))
}

async fn event(State(b): State<SharedBackend>, headers: HeaderMap, body: Bytes) -> Response {
    let now = b.now();
    let (ts, sig) = (
        header_str(&headers, "x-timestamp"),
        header_str(&headers, "x-signature"),
    );
    let mut last = SignatureError::Missing;
    let mut gateway = None;
    for (name, entry) in b.gateways().of_kind(GatewayKind::Android) {
        let ChannelSettings::Android(s) = &entry.config.channel else {
            continue;
        };
        match verify(&s.signing_key, &body, ts, sig, now.timestamp()) {
            Ok(()) => {
                gateway = Some(name.to_string());
                break;
            }
            Err(e) => last = e,
        }
    }
    let Some(gateway) = gateway else {
        return refuse(&b, StatusCode::UNAUTHORIZED, "android", &last.to_string());
    };
    let env: Envelope = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(_) => {
            return refuse(
                &b,
                StatusCode::BAD_REQUEST,
                &gateway,
                "not a webhook envelope",
            )
        }
    };
    let p = &env.payload;
    let text_field = |k: &str| p.get(k).and_then(|v| v.as_str()).map(str::to_string);
    if let Some(status) = match env.event.as_str() {
        "sms:sent" => Some(ReportedStatus::Sent),
        "sms:delivered" => Some(ReportedStatus::Delivered),
        "sms:failed" => Some(ReportedStatus::Failed),
        _ => None,
    } {
        // Our outbox id, which we gave the phone when sending.
        let Some(id) =
            text_field("messageId").and_then(|s| crate::domain::delivery::parse_wire_id(&s))
        else {
            tracing::info!(gateway = %gateway, "receipt for a message that is not ours");
            return (StatusCode::OK, "ok").into_response();
        };
        let at_key = match status {
            ReportedStatus::Sent => "sentAt",
            ReportedStatus::Delivered => "deliveredAt",
            _ => "failedAt",
        };
        let report = StatusReport {
            message_id: id,
            status,
            reason: text_field("reason"),
            at: p.get(at_key).and_then(millis).unwrap_or(now).min(now),
            gateway: Some(gateway.clone()),
        };
        return match b.status(Some((gateway, env.id.clone())), report).await {
            Ok(true) => (StatusCode::OK, "ok").into_response(),
            Ok(false) => (StatusCode::OK, "duplicate").into_response(),
            Err(e) => e.into_response(),
        };
    }
    if env.event != "sms:received" {
        tracing::info!(gateway = %gateway, event = %env.event, "android webhook event ignored");
        return (StatusCode::OK, "ok").into_response();
    }
    // The inbound store is keyed on the phone's message id, so a
    // redelivered text is recognised there: no separate record of the
    // webhook event (two statements and a commit per reply) is needed.
    let from = text_field("sender")
        .or_else(|| text_field("phoneNumber"))
        .unwrap_or_default();
    let sender = b.phone(&from).unwrap_or(from);
    match b
        .receive(NewInbound {
            gateway: gateway.clone(),
            provider_id: text_field("messageId").unwrap_or_else(|| env.id.clone()),
            sender,
            text: text_field("message").unwrap_or_default(),
            received_at: p.get("receivedAt").and_then(millis).unwrap_or(now),
        })
        .await
    {
        Ok(r) if r.duplicate => (StatusCode::OK, "duplicate").into_response(),
        Ok(_) => (StatusCode::OK, "ok").into_response(),
        // Stored but not acted on, or not stored: the phone redelivers;
        // what was stored is acted on by the recovery sweep.
        Err(e) => e.into_response(),
    }
}
