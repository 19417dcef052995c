//! Gateway webhooks: each verifies its sender before anything is stored,
//! refuses forged, unsigned and stale requests (401/403, logged with the
//! reason, never the body), and is safe to receive twice.
//!
//! - `/webhooks/mock`: a text "arriving" as JSON (bearer token), for the
//!   demo, tests and scripts; `/webhooks/mock/status` a receipt.
//! - `/webhooks/android`: SMS Gateway for Android events, `X-Signature`.
//! - `/webhooks/twilio/status`, `/webhooks/twilio/inbound`: form posts
//!   signed with `X-Twilio-Signature`.

use super::{ApiError, AppState};
use crate::gateway::{android, twilio, ReportedStatus, StatusReport};
use crate::store::NewInbound;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{middleware, Json, Router};
use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;

pub fn router(app: AppState) -> Router<AppState> {
    let mock = Router::new()
        .route("/mock", post(mock_inbound))
        .route("/mock/status", post(mock_status))
        .layer(middleware::from_fn_with_state(app, super::require_token));
    Router::new()
        .merge(mock)
        .route("/android", post(android_event))
        .route("/twilio/status", post(twilio_status))
        .route("/twilio/inbound", post(twilio_inbound))
}

#[derive(Deserialize)]
struct MockInbound {
    /// The gateway's id for the message: a redelivery carries the same.
    id: String,
    from: String,
    text: String,
    received_at: Option<DateTime<Utc>>,
}

async fn mock_inbound(
    State(app): State<AppState>,
    Json(m): Json<MockInbound>,
) -> Result<Json<crate::inbound::Received>, ApiError> {
    let sender = crate::domain::Phone::parse(&m.from, app.config.region())
        .map_err(crate::enrollment::InputError::from)?;
    let r = app
        .receive(NewInbound {
            gateway: "mock".into(),
            provider_id: m.id,
            sender: sender.as_str().to_string(),
            text: m.text,
            received_at: m.received_at.unwrap_or_else(|| app.clock.now()),
        })
        .await?;
    Ok(Json(r))
}

#[derive(Deserialize)]
struct MockStatus {
    message_id: i64,
    status: ReportedStatus,
    reason: Option<String>,
}

async fn mock_status(
    State(app): State<AppState>,
    Json(s): Json<MockStatus>,
) -> Result<Json<serde_json::Value>, ApiError> {
    app.receipts
        .submit(
            None,
            StatusReport {
                message_id: s.message_id,
                status: s.status,
                reason: s.reason,
                at: app.clock.now(),
            },
        )
        .await?;
    Ok(Json(serde_json::json!({ "stored": true })))
}

fn refuse(app: &AppState, status: StatusCode, gateway: &str, reason: &str) -> Response {
    tracing::warn!(gateway, reason, "webhook refused");
    app.metrics.rejected(gateway, reason);
    (status, reason.to_string()).into_response()
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn millis(v: &serde_json::Value) -> Option<DateTime<Utc>> {
    match v {
        serde_json::Value::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        serde_json::Value::Number(n) => n
            .as_i64()
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
        _ => None,
    }
}

async fn android_event(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let now = app.clock.now();
    let (ts, sig) = (
        header_str(&headers, "x-timestamp"),
        header_str(&headers, "x-signature"),
    );
    let mut last = android::SignatureError::Missing;
    let mut gateway = None;
    for (name, entry) in app.gateways.of_kind("android") {
        match android::verify(
            &entry.config.android.signing_key,
            &body,
            ts,
            sig,
            now.timestamp(),
        ) {
            Ok(()) => {
                gateway = Some(name.to_string());
                break;
            }
            Err(e) => last = e,
        }
    }
    let Some(gateway) = gateway else {
        return refuse(&app, StatusCode::UNAUTHORIZED, "android", &last.to_string());
    };
    let env: android::Envelope = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(_) => {
            return refuse(
                &app,
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
        let Some(id) = text_field("messageId").and_then(|s| s.parse::<i64>().ok()) else {
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
        };
        return match app
            .receipts
            .submit(Some((gateway, env.id.clone())), report)
            .await
        {
            Ok(true) => (StatusCode::OK, "ok").into_response(),
            Ok(false) => (StatusCode::OK, "duplicate").into_response(),
            Err(e) => ApiError(e).into_response(),
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
    let sender = crate::domain::Phone::parse(&from, app.config.region())
        .map(|p| p.as_str().to_string())
        .unwrap_or(from);
    match app
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
        Err(e) => ApiError(e).into_response(),
    }
}

/// Verifies a Twilio-style signed form post; returns the gateway and the
/// parameters, or the answer to give.
#[allow(clippy::result_large_err)]
fn twilio_verified(
    app: &AppState,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(String, Vec<(String, String)>), Response> {
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| refuse(app, StatusCode::BAD_REQUEST, "twilio", "not a form"))?;
    let Some(sig) = header_str(headers, "x-twilio-signature") else {
        return Err(refuse(
            app,
            StatusCode::FORBIDDEN,
            "twilio",
            "missing X-Twilio-Signature",
        ));
    };
    // Twilio signs the URL it called: ours as configured, not as the Host header says.
    let path = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or(uri.path());
    let url = format!("{}{}", app.config.public_url.trim_end_matches('/'), path);
    for (name, entry) in app.gateways.of_kind("twilio") {
        if twilio::verify(&entry.config.twilio.auth_token, &url, &params, sig) {
            return Ok((name.to_string(), params));
        }
    }
    Err(refuse(
        app,
        StatusCode::FORBIDDEN,
        "twilio",
        "signature does not match",
    ))
}

fn param<'a>(params: &'a [(String, String)], k: &str) -> Option<&'a str> {
    params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

async fn twilio_status(
    State(app): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (gateway, params) = match twilio_verified(&app, &uri, &headers, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (Some(sid), Some(status)) = (
        param(&params, "MessageSid"),
        param(&params, "MessageStatus"),
    ) else {
        return refuse(
            &app,
            StatusCode::BAD_REQUEST,
            &gateway,
            "MessageSid and MessageStatus are required",
        );
    };
    let now = app.clock.now();
    let result: Result<(), crate::app::AppError> = async {
        let Some((id, woman)) = app.store.message_by_provider_id(&gateway, sid).await? else {
            tracing::info!(gateway = %gateway, "status for a message we do not know");
            return Ok(());
        };
        let code = param(&params, "ErrorCode").and_then(|c| c.parse::<i64>().ok());
        if let Some(s) = twilio::map_status(status) {
            let report = StatusReport {
                message_id: id,
                status: s,
                reason: code.map(|c| format!("{gateway} error {c}")),
                at: now,
            };
            app.receipts.submit(None, report).await?;
        }
        if let (Some(twilio::OPTED_OUT), Some(w)) = (code, woman) {
            app.store.opt_out(w, now, "provider").await?;
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => (StatusCode::NO_CONTENT, "").into_response(),
        Err(e) => ApiError(e).into_response(),
    }
}

async fn twilio_inbound(
    State(app): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (gateway, params) = match twilio_verified(&app, &uri, &headers, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (Some(sid), Some(from)) = (param(&params, "MessageSid"), param(&params, "From")) else {
        return refuse(
            &app,
            StatusCode::BAD_REQUEST,
            &gateway,
            "MessageSid and From are required",
        );
    };
    let sender = crate::domain::Phone::parse(from, app.config.region())
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|_| from.to_string());
    let r = app
        .receive(NewInbound {
            gateway,
            provider_id: sid.to_string(),
            sender,
            text: param(&params, "Body").unwrap_or_default().to_string(),
            received_at: app.clock.now(),
        })
        .await;
    match r {
        // An empty TwiML answer: replies go out through the outbox.
        Ok(_) => (
            [(header::CONTENT_TYPE, "text/xml")],
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>",
        )
            .into_response(),
        Err(e) => ApiError(e).into_response(),
    }
}
