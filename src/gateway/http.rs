//! What HTTP answers mean for a send, shared by the HTTP gateways:
//! timeouts, connection errors, 5xx and 429 are transient (429 and 503
//! honour Retry-After); other 4xx are permanent.

use super::SendOutcome;
use chrono::Duration;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;

/// A client for one gateway, with its timeout.
pub fn client(timeout_seconds: u64) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(timeout_seconds.max(1)))
        .connect_timeout(std::time::Duration::from_secs(timeout_seconds.clamp(1, 10)))
        .user_agent(concat!("careminder/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("HTTP client builds")
}

/// A request that got no answer.
pub fn transport_error(gateway: &str, e: &reqwest::Error) -> SendOutcome {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    SendOutcome::Transient {
        reason: format!("{gateway}: {what}"),
        retry_after: None,
    }
}

/// An error answer: transient or permanent, with the provider's words.
pub fn error_status(
    gateway: &str,
    status: StatusCode,
    headers: &HeaderMap,
    detail: &str,
) -> SendOutcome {
    let detail: String = detail.chars().take(200).collect();
    let reason = format!(
        "{gateway}: HTTP {}{}",
        status.as_u16(),
        if detail.is_empty() {
            String::new()
        } else {
            format!(": {detail}")
        }
    );
    if status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
    {
        SendOutcome::Transient {
            reason,
            retry_after: retry_after(headers),
        }
    } else {
        SendOutcome::Permanent { reason }
    }
}

/// Sends a request whose answer is JSON (WeChat's and WeCom's APIs): a
/// transport failure or an error status is an outcome, a 2xx is parsed.
pub async fn json_call<T: serde::de::DeserializeOwned>(
    gateway: &str,
    req: reqwest::RequestBuilder,
) -> Result<T, SendOutcome> {
    let res = req.send().await.map_err(|e| transport_error(gateway, &e))?;
    let (status, headers) = (res.status(), res.headers().clone());
    let text = res.text().await.unwrap_or_default();
    if !status.is_success() {
        return Err(error_status(gateway, status, &headers, &text));
    }
    serde_json::from_str(&text).map_err(|_| SendOutcome::Transient {
        reason: format!("{gateway}: answer is not JSON"),
        retry_after: None,
    })
}

/// `Retry-After` in seconds (the HTTP-date form is read as one minute).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    match v.parse::<i64>() {
        Ok(s) if s >= 0 => Some(Duration::seconds(s.min(24 * 3600))),
        _ => Some(Duration::minutes(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        let h = HeaderMap::new();
        for s in [429u16, 500, 502, 503, 408] {
            assert!(
                matches!(
                    error_status("g", StatusCode::from_u16(s).unwrap(), &h, ""),
                    SendOutcome::Transient { .. }
                ),
                "{s}"
            );
        }
        for s in [400u16, 401, 403, 404, 422] {
            assert!(
                matches!(
                    error_status("g", StatusCode::from_u16(s).unwrap(), &h, ""),
                    SendOutcome::Permanent { .. }
                ),
                "{s}"
            );
        }
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "120".parse().unwrap());
        assert_eq!(
            error_status("g", StatusCode::TOO_MANY_REQUESTS, &h, ""),
            SendOutcome::Transient {
                reason: "g: HTTP 429".into(),
                retry_after: Some(Duration::seconds(120))
            }
        );
    }
}
