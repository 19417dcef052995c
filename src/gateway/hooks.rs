//! What every channel's webhook handler shares, below the channels: a
//! refusal logged and counted with its reason, a push guarded by a secret
//! in its URL, a bearer token, header and instant parsing. Each handler
//! verifies its sender before anything is stored, refuses forged,
//! unsigned and stale requests (401/403, logged with the reason, never the
//! body), and is safe to receive twice. Channels import from here; nothing
//! here names a channel (their routes are listed in `channels.rs`).

use super::backend::SharedBackend;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeZone, Utc};

/// A provider's push guarded by a secret in its URL: the gateway whose
/// `callback_secret` the query carries and the body read as `T`, or the
/// refusal to give (403 without the secret, 400 for a body that is not
/// `what`).
#[allow(clippy::result_large_err)]
pub(crate) fn secret_push<T: serde::de::DeserializeOwned>(
    b: &SharedBackend,
    kind: crate::domain::GatewayKind,
    query: Option<&str>,
    body: &[u8],
    what: &str,
) -> Result<(String, T), Response> {
    let Some(gateway) = secret_gateway(b, kind, query) else {
        return Err(refuse(
            b,
            StatusCode::FORBIDDEN,
            kind.as_str(),
            "missing or wrong callback secret",
        ));
    };
    match serde_json::from_slice::<T>(body) {
        Ok(v) => Ok((gateway, v)),
        Err(_) => Err(refuse(
            b,
            StatusCode::BAD_REQUEST,
            &gateway,
            &format!("not {what}"),
        )),
    }
}

/// The gateway of `kind` whose callback secret the query's `secret`
/// carries (compared in constant time), for pushes signed by nothing else.
pub(crate) fn secret_gateway(
    b: &SharedBackend,
    kind: crate::domain::GatewayKind,
    query: Option<&str>,
) -> Option<String> {
    let given = serde_urlencoded::from_str::<Vec<(String, String)>>(query.unwrap_or_default())
        .ok()?
        .into_iter()
        .find(|(k, _)| k == "secret")
        .map(|(_, v)| v)?;
    b.gateways().of_kind(kind).find_map(|(name, entry)| {
        let want = entry.config.channel.account()?.callback_secret.to_string();
        (!want.is_empty()
            && crate::domain::secret::constant_time_eq(want.as_bytes(), given.as_bytes()))
        .then(|| name.to_string())
    })
}

/// Refuses a request: logged and counted with the reason.
pub(crate) fn refuse(
    b: &SharedBackend,
    status: StatusCode,
    gateway: &str,
    reason: &str,
) -> Response {
    tracing::warn!(gateway, reason, "webhook refused");
    b.rejected(gateway, reason);
    (status, reason.to_string()).into_response()
}

pub(crate) fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// An instant as RFC 3339 text or Unix milliseconds.
pub(crate) fn millis(v: &serde_json::Value) -> Option<DateTime<Utc>> {
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

/// Lets a request through only with `Authorization: Bearer <want>` (none
/// at all when no token is configured); otherwise 401 as JSON.
pub async fn bearer_gate(
    want: Option<&str>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let given = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match (want, given) {
        (Some(want), Some(got))
            if crate::domain::secret::constant_time_eq(want.as_bytes(), got.as_bytes()) =>
        {
            next.run(req).await
        }
        _ => {
            tracing::warn!(path = %req.uri().path(), "refused: missing or wrong token");
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(
                    serde_json::json!({"error": "missing or wrong API token", "code": "unauthorized"}),
                ),
            )
                .into_response()
        }
    }
}
