//! `/gateways/cht`: the cht-gateway (Medic) poll. The phone sends what it
//! received and the statuses of what it was given, and gets back the
//! messages waiting for it, each offered on every poll until the phone
//! reports a status for it. Basic auth with the phone's own credentials.

use super::map_status;
use crate::domain::secret::constant_time_eq;
use crate::domain::{GatewayKind, NewInbound, StatusReport};
use crate::gateway::backend::{BackendError, SharedBackend};
use crate::gateway::ChannelSettings;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use chrono::{TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// Messages handed over per poll.
const BATCH: i64 = 20;

pub fn routes() -> Router<SharedBackend> {
    Router::new().route("/gateways/cht", get(hello).post(poll))
}

/// The cht gateway whose credentials the request carries; the error is the answer to give.
#[allow(clippy::result_large_err)]
fn authenticate(b: &SharedBackend, headers: &HeaderMap) -> Result<String, Response> {
    let unauthorized = || {
        tracing::warn!(
            gateway = "cht",
            "poll refused: missing or wrong credentials"
        );
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"careminder\"")],
            "unauthorized",
        )
            .into_response()
    };
    let creds = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(unauthorized)?;
    let (user, pass) = creds.split_once(':').ok_or_else(unauthorized)?;
    // The app takes its credentials from the URL it is given
    // (https://user:pass@host/...) and sends them as they stand there:
    // form-encoded ("p%40ss+w%2Brd"). Either form is accepted.
    let decoded = (form_decoded(user), form_decoded(pass));
    for (name, entry) in b.gateways().of_kind(GatewayKind::Cht) {
        let ChannelSettings::Cht(c) = &entry.config.channel else {
            continue;
        };
        let matches = |u: &str, p: &str| {
            constant_time_eq(c.username.as_bytes(), u.as_bytes())
                & constant_time_eq(c.password.as_bytes(), p.as_bytes())
        };
        let ok_decoded = match &decoded {
            (Some(u), Some(p)) => matches(u, p),
            _ => false,
        };
        if matches(user, pass) | ok_decoded {
            return Ok(name.to_string());
        }
    }
    Err(unauthorized())
}

async fn hello(State(b): State<SharedBackend>, headers: HeaderMap) -> Response {
    match authenticate(&b, &headers) {
        Ok(_) => Json(serde_json::json!({ "medic-gateway": true })).into_response(),
        Err(r) => r,
    }
}

#[derive(Deserialize, Default)]
struct PollBody {
    #[serde(default)]
    messages: Option<Vec<Incoming>>,
    #[serde(default)]
    updates: Option<Vec<Update>>,
}

#[derive(Deserialize)]
struct Incoming {
    id: String,
    from: String,
    content: String,
    #[serde(default)]
    sms_received: Option<i64>,
}

#[derive(Deserialize)]
struct Update {
    id: String,
    status: String,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Serialize)]
struct Outgoing {
    id: String,
    to: String,
    content: String,
}

#[derive(Serialize)]
struct PollAnswer {
    messages: Vec<Outgoing>,
}

async fn poll(State(b): State<SharedBackend>, headers: HeaderMap, body: Bytes) -> Response {
    let gateway = match authenticate(&b, &headers) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let req: PollBody = if body.iter().all(|b| b.is_ascii_whitespace()) {
        PollBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(_) => {
                return (StatusCode::BAD_REQUEST, "not a cht-gateway request").into_response()
            }
        }
    };
    match handle(&b, &gateway, req).await {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn handle(
    b: &SharedBackend,
    gateway: &str,
    req: PollBody,
) -> Result<PollAnswer, BackendError> {
    let now = b.now();
    for m in req.messages.unwrap_or_default() {
        let sender = b.phone(&m.from).unwrap_or(m.from);
        b.receive(NewInbound {
            gateway: gateway.to_string(),
            provider_id: m.id,
            sender,
            text: m.content,
            received_at: m
                .sms_received
                .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
                .unwrap_or(now)
                .min(now),
        })
        .await?;
    }
    let mut acked = vec![];
    let mut reports = vec![];
    for u in req.updates.unwrap_or_default() {
        let Some(id) = crate::domain::delivery::parse_wire_id(&u.id) else {
            tracing::info!(gateway, "status for an id that is not ours");
            continue;
        };
        match map_status(&u.status) {
            None => tracing::info!(gateway, message_id = id, "unknown cht status ignored"),
            Some(s) => {
                acked.push(id);
                if let Some(status) = s {
                    reports.push(StatusReport {
                        message_id: id,
                        status,
                        reason: u.reason,
                        at: now,
                        gateway: Some(gateway.to_string()),
                    });
                }
            }
        }
    }
    let messages = b
        .pull(gateway, &acked, &reports, BATCH)
        .await?
        .into_iter()
        .map(|(id, to, content)| Outgoing {
            id: crate::domain::delivery::wire_id(id),
            to,
            content,
        })
        .collect();
    Ok(PollAnswer { messages })
}

/// `s` read as a form-encoded value (`%40` is `@`, `+` a space).
fn form_decoded(s: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
        .ok()?
        .pop()
        .map(|(_, v)| v)
}
