//! `/webhooks/twilio/status` and `/webhooks/twilio/inbound`: form posts
//! signed with `X-Twilio-Signature` over the URL Twilio called and the
//! sorted parameters.

use super::{map_status, verify, OPTED_OUT};
use crate::domain::{GatewayKind, NewInbound, StatusReport};
use crate::gateway::backend::{BackendError, SharedBackend};
use crate::gateway::hooks::{header_str, refuse};
use crate::gateway::ChannelSettings;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

pub fn routes() -> Router<SharedBackend> {
    Router::new()
        .route("/webhooks/twilio/status", post(status))
        .route("/webhooks/twilio/inbound", post(inbound))
}

/// Verifies a signed form post; returns the gateway and the parameters,
/// or the answer to give.
#[allow(clippy::result_large_err)]
fn verified(
    b: &SharedBackend,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(String, Vec<(String, String)>), Response> {
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| refuse(b, StatusCode::BAD_REQUEST, "twilio", "not a form"))?;
    let Some(sig) = header_str(headers, "x-twilio-signature") else {
        return Err(refuse(
            b,
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
    let url = format!("{}{}", b.public_url().trim_end_matches('/'), path);
    for (name, entry) in b.gateways().of_kind(GatewayKind::Twilio) {
        let ChannelSettings::Twilio(s) = &entry.config.channel else {
            continue;
        };
        if verify(&s.auth_token, &url, &params, sig) {
            return Ok((name.to_string(), params));
        }
    }
    Err(refuse(
        b,
        StatusCode::FORBIDDEN,
        "twilio",
        "signature does not match",
    ))
}

fn param<'a>(params: &'a [(String, String)], k: &str) -> Option<&'a str> {
    params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

async fn status(
    State(b): State<SharedBackend>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (gateway, params) = match verified(&b, &uri, &headers, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (Some(sid), Some(status)) = (
        param(&params, "MessageSid"),
        param(&params, "MessageStatus"),
    ) else {
        return refuse(
            &b,
            StatusCode::BAD_REQUEST,
            &gateway,
            "MessageSid and MessageStatus are required",
        );
    };
    let now = b.now();
    let result: Result<(), BackendError> = async {
        let Some((id, woman)) = b.message_by_provider_id(&gateway, sid).await? else {
            tracing::info!(gateway = %gateway, "status for a message we do not know");
            return Ok(());
        };
        let code = param(&params, "ErrorCode").and_then(|c| c.parse::<i64>().ok());
        if let Some(s) = map_status(status) {
            let report = StatusReport {
                message_id: id,
                status: s,
                reason: code.map(|c| format!("{gateway} error {c}")),
                at: now,
                gateway: Some(gateway.clone()),
            };
            b.status(None, report).await?;
        }
        if let (Some(OPTED_OUT), Some(w)) = (code, woman) {
            b.provider_opt_out(&gateway, w).await?;
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => (StatusCode::NO_CONTENT, "").into_response(),
        Err(e) => e.into_response(),
    }
}

async fn inbound(
    State(b): State<SharedBackend>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (gateway, params) = match verified(&b, &uri, &headers, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (Some(sid), Some(from)) = (param(&params, "MessageSid"), param(&params, "From")) else {
        return refuse(
            &b,
            StatusCode::BAD_REQUEST,
            &gateway,
            "MessageSid and From are required",
        );
    };
    let sender = b.phone(from).unwrap_or_else(|_| from.to_string());
    let r = b
        .receive(NewInbound {
            gateway,
            provider_id: sid.to_string(),
            sender,
            text: param(&params, "Body").unwrap_or_default().to_string(),
            received_at: b.now(),
        })
        .await;
    match r {
        // An empty TwiML answer: replies go out through the outbox.
        Ok(_) => (
            [(header::CONTENT_TYPE, "text/xml")],
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>",
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}
