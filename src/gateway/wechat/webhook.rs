//! `/webhooks/wechat`: the Official Account's server URL.
//!
//! `GET` is WeChat's check of the URL: `signature` = sha1 of the sorted
//! token, timestamp and nonce; we answer with `echostr`. `POST` carries a
//! message or event as XML, plain or (safe mode) encrypted, with the same
//! `signature` and, in safe mode, `msg_signature` over the ciphertext too.
//! A bad or stale signature is refused (403) and logged; XML that cannot be
//! read gets a 400 naming the problem and is kept for inspection. Anything
//! read is acted on before we answer "success", within WeChat's 5 seconds;
//! a redelivery is recognised (MsgId, or sender + time for events).

use super::callback::{stale, CallbackXml};
use super::crypto::signature_matches;
use crate::gateway::backend::SharedBackend;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

pub fn routes() -> Router<SharedBackend> {
    Router::new().route("/webhooks/wechat", get(verify_url).post(callback))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Params {
    signature: String,
    timestamp: String,
    nonce: String,
    echostr: String,
    encrypt_type: String,
    msg_signature: String,
}

fn refuse(b: &SharedBackend, status: StatusCode, reason: &str) -> Response {
    crate::gateway::hooks::refuse(b, status, "wechat", reason)
}

/// The signature over token, timestamp and nonce, and freshness.
#[allow(clippy::result_large_err)]
fn check(b: &SharedBackend, p: &Params) -> Result<String, Response> {
    let Some((name, w)) = &b.gateways().wechat else {
        return Err((StatusCode::NOT_FOUND, "no WeChat account configured").into_response());
    };
    if p.signature.is_empty() || p.timestamp.is_empty() || p.nonce.is_empty() {
        return Err(refuse(
            b,
            StatusCode::FORBIDDEN,
            "missing signature, timestamp or nonce",
        ));
    }
    if !signature_matches(&p.signature, &[&w.config().token, &p.timestamp, &p.nonce]) {
        return Err(refuse(b, StatusCode::FORBIDDEN, "signature does not match"));
    }
    if stale(&p.timestamp, b.now()) {
        return Err(refuse(
            b,
            StatusCode::FORBIDDEN,
            "timestamp too old or in the future",
        ));
    }
    Ok(name.clone())
}

/// What makes a signed callback URL one of a kind: its timestamp and nonce.
fn nonce_key(p: &Params) -> String {
    format!("{}:{}", p.timestamp, p.nonce)
}

/// Keeps an unreadable callback and answers 400 with the reason.
async fn malformed(b: &SharedBackend, body: &[u8], reason: String) -> Response {
    let kept = b.keep_rejected("wechat", &reason, body).await;
    tracing::warn!(gateway = "wechat", reject_id = ?kept, reason = %reason, "unreadable callback kept for inspection");
    b.rejected("wechat", "unreadable");
    (
        StatusCode::BAD_REQUEST,
        format!("{reason} (kept as reject {})", kept.unwrap_or_default()),
    )
        .into_response()
}

async fn verify_url(State(b): State<SharedBackend>, Query(p): Query<Params>) -> Response {
    match check(&b, &p) {
        Ok(gateway) => {
            // This signed URL is spent: it cannot carry a POST later.
            if let Err(e) = b.spend_nonce(&gateway, &nonce_key(&p)).await {
                return e.into_response();
            }
            (StatusCode::OK, p.echostr).into_response()
        }
        Err(r) => r,
    }
}

async fn callback(
    State(b): State<SharedBackend>,
    Query(p): Query<Params>,
    body: Bytes,
) -> Response {
    let gateway = match check(&b, &p) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let w = &b.gateways().wechat.as_ref().expect("checked above").1;
    let spent = match b.nonce_spent(&gateway, &nonce_key(&p)).await {
        Ok(spent) => spent,
        // Not answered "success": WeChat delivers it again.
        Err(e) => return e.into_response(),
    };
    if spent {
        // The plain signature does not cover the body: a signed URL seen
        // before acts on nothing, whatever it carries.
        tracing::info!(
            gateway = "wechat",
            "callback with a spent nonce: nothing done"
        );
        return (StatusCode::OK, "success").into_response();
    }
    let malformed = |reason: String| malformed(&b, &body, reason);
    let Ok(text) = std::str::from_utf8(&body) else {
        return malformed("body is not UTF-8".into()).await;
    };
    let outer = match CallbackXml::parse(text) {
        Ok(x) => x,
        Err(e) => return malformed(format!("malformed XML: {e}")).await,
    };
    let x = match (&outer.encrypt, w.cipher()) {
        (Some(enc), Some(cipher)) => {
            if !signature_matches(
                &p.msg_signature,
                &[&w.config().token, &p.timestamp, &p.nonce, enc],
            ) {
                return refuse(&b, StatusCode::FORBIDDEN, "msg_signature does not match");
            }
            let inner = match cipher.decrypt(enc) {
                Ok(s) => s,
                Err(e) => return malformed(format!("cannot decrypt: {e}")).await,
            };
            match CallbackXml::parse(&inner) {
                Ok(x) => x,
                Err(e) => return malformed(format!("malformed XML inside Encrypt: {e}")).await,
            }
        }
        (Some(_), None) => {
            return malformed("encrypted callback but no encoding_aes_key is configured".into())
                .await
        }
        // In safe mode only encrypted callbacks are taken: the plain
        // signature does not cover the body. Compatible mode takes plain
        // ones too, as the account sends them (a replayed URL still acts
        // on nothing: its nonce is spent).
        (None, Some(_)) if w.mode() == super::CallbackMode::Safe => {
            return refuse(
                &b,
                StatusCode::FORBIDDEN,
                "safe mode: the callback must be encrypted",
            )
        }
        (None, _) if p.encrypt_type == "aes" && w.mode() != super::CallbackMode::Compatible => {
            return malformed("encrypt_type=aes but no Encrypt element".into()).await
        }
        (None, _) => outer,
    };
    match b.wechat_event(&gateway, x.into()).await {
        Ok(done) => {
            tracing::debug!(gateway = %gateway, done, "wechat callback");
            if let Err(e) = b.spend_nonce(&gateway, &nonce_key(&p)).await {
                tracing::warn!(gateway = %gateway, error = %e.message, "a callback's nonce could not be marked spent");
            }
            (StatusCode::OK, "success").into_response()
        }
        // Not answered "success": WeChat delivers it again.
        Err(e) => e.into_response(),
    }
}
