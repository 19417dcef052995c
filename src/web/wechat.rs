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

use super::{ApiError, AppState};
use crate::gateway::wechat_crypto::signature_matches;
use crate::wechat::{stale, CallbackXml};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new().route("/wechat", get(verify_url).post(callback))
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

fn refuse(app: &AppState, status: StatusCode, reason: &str) -> Response {
    tracing::warn!(gateway = "wechat", reason, "webhook refused");
    app.metrics.rejected("wechat", reason);
    (status, reason.to_string()).into_response()
}

/// The signature over token, timestamp and nonce, and freshness.
#[allow(clippy::result_large_err)]
fn check(app: &AppState, p: &Params) -> Result<String, Response> {
    let Some((name, w)) = &app.gateways.wechat else {
        return Err((StatusCode::NOT_FOUND, "no WeChat account configured").into_response());
    };
    if p.signature.is_empty() || p.timestamp.is_empty() || p.nonce.is_empty() {
        return Err(refuse(
            app,
            StatusCode::FORBIDDEN,
            "missing signature, timestamp or nonce",
        ));
    }
    if !signature_matches(&p.signature, &[&w.config().token, &p.timestamp, &p.nonce]) {
        return Err(refuse(
            app,
            StatusCode::FORBIDDEN,
            "signature does not match",
        ));
    }
    if stale(&p.timestamp, app.clock.now()) {
        return Err(refuse(
            app,
            StatusCode::FORBIDDEN,
            "timestamp too old or in the future",
        ));
    }
    Ok(name.clone())
}

/// Keeps an unreadable callback and answers 400 with the reason.
async fn malformed(app: &AppState, body: &[u8], reason: String) -> Response {
    let kept = app
        .store
        .keep_rejected_webhook("wechat", &reason, body, app.clock.now())
        .await
        .ok();
    tracing::warn!(gateway = "wechat", reject_id = ?kept, reason = %reason, "unreadable callback kept for inspection");
    app.metrics.rejected("wechat", "unreadable");
    (
        StatusCode::BAD_REQUEST,
        format!("{reason} (kept as reject {})", kept.unwrap_or_default()),
    )
        .into_response()
}

async fn verify_url(State(app): State<AppState>, Query(p): Query<Params>) -> Response {
    match check(&app, &p) {
        Ok(_) => {
            // This signed URL is spent: it cannot carry a POST later.
            let w = &app.gateways.wechat.as_ref().expect("checked").1;
            w.use_nonce(&p.timestamp, &p.nonce, app.clock.now().timestamp());
            (StatusCode::OK, p.echostr).into_response()
        }
        Err(r) => r,
    }
}

async fn callback(State(app): State<AppState>, Query(p): Query<Params>, body: Bytes) -> Response {
    let gateway = match check(&app, &p) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let w = &app.gateways.wechat.as_ref().expect("checked above").1;
    if w.nonce_used(&p.timestamp, &p.nonce) {
        // The plain signature does not cover the body: a signed URL seen
        // before acts on nothing, whatever it carries.
        tracing::info!(
            gateway = "wechat",
            "callback with a spent nonce: nothing done"
        );
        return (StatusCode::OK, "success").into_response();
    }
    let malformed = |reason: String| malformed(&app, &body, reason);
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
                return refuse(&app, StatusCode::FORBIDDEN, "msg_signature does not match");
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
        // With an EncodingAESKey set, only encrypted callbacks are taken:
        // the plain signature does not cover the body.
        (None, Some(_)) => {
            return refuse(
                &app,
                StatusCode::FORBIDDEN,
                "safe mode: the callback must be encrypted",
            )
        }
        (None, _) if p.encrypt_type == "aes" => {
            return malformed("encrypt_type=aes but no Encrypt element".into()).await
        }
        (None, _) => outer,
    };
    match app.wechat_callback(&gateway, x).await {
        Ok(done) => {
            tracing::debug!(gateway = %gateway, done, "wechat callback");
            w.use_nonce(&p.timestamp, &p.nonce, app.clock.now().timestamp());
            (StatusCode::OK, "success").into_response()
        }
        // Not answered "success": WeChat delivers it again.
        Err(e) => ApiError(e).into_response(),
    }
}
