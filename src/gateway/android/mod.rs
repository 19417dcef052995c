//! SMS Gateway for Android (capcom6/android-sms-gateway), push mode: we
//! POST each message to the phone's (or its private server's) `/message`
//! with our outbox id, which the app de-duplicates on (a 409 means it has
//! that id already: handed over, not a failure). The phone reports back
//! through signed webhooks (see `web::webhooks`).

pub mod webhook;

use super::http::{client, error_status, transport_error};
use super::GatewayConfig;
use super::{required, Gateway, GatewayConfigError, OutgoingMessage, ReportedStatus, SendOutcome};
use async_trait::async_trait;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// SMS Gateway for Android (capcom6), push mode: we call the phone's API.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The phone's (or its private server's) API, e.g. `http://192.168.1.20:8080`.
    pub base_url: String,
    pub username: String,
    pub password: String,
    /// Key the phone signs its webhooks with (X-Signature).
    pub signing_key: String,
}

/// How long the phone keeps trying to send a message, in seconds.
const TTL_SECONDS: u64 = 24 * 3600;

pub struct Android {
    name: String,
    cfg: Settings,
    client: reqwest::Client,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SendBody<'a> {
    id: String,
    phone_numbers: [&'a str; 1],
    text_message: TextMessage<'a>,
    with_delivery_report: bool,
    ttl: u64,
}

#[derive(Serialize)]
struct TextMessage<'a> {
    text: &'a str,
}

#[derive(Deserialize)]
struct SendAnswer {
    id: Option<String>,
}

#[derive(Deserialize, Default)]
struct ErrorAnswer {
    #[serde(default)]
    message: String,
}

/// The events careminder subscribes to.
pub const EVENTS: [&str; 4] = ["sms:received", "sms:sent", "sms:delivered", "sms:failed"];

impl Android {
    pub fn new(
        name: String,
        key: &str,
        g: &GatewayConfig,
        s: &Settings,
    ) -> Result<Self, GatewayConfigError> {
        let key = key.to_string();
        required(&key, "base_url", &s.base_url)?;
        required(&key, "signing_key", &s.signing_key)?;
        Ok(Self {
            name,
            cfg: s.clone(),
            client: client(g.timeout_seconds),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.cfg.base_url.trim_end_matches('/'), path)
    }

    /// The phone's webhook registrations.
    pub async fn list_webhooks(&self) -> Result<Vec<Webhook>, String> {
        let r = self
            .client
            .get(self.url("/webhooks"))
            .basic_auth(&self.cfg.username, Some(&self.cfg.password))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status();
        if !status.is_success() {
            return Err(refusal(status, r).await);
        }
        r.json().await.map_err(|e| format!("the phone's list: {e}"))
    }

    /// Registers careminder's webhook for every event on the phone, each
    /// under a fixed id: registering again (a new `public_url`) replaces
    /// them rather than adding more. Registrations of ours from before
    /// ids were given (our path, no id of ours) are removed. Returns what
    /// was registered.
    pub async fn register_webhooks(&self, public_url: &str) -> Result<Vec<String>, String> {
        let target = format!("{}/webhooks/android", public_url.trim_end_matches('/'));
        for old in self.list_webhooks().await? {
            let ours_unnamed = old.url.ends_with("/webhooks/android")
                && !old
                    .id
                    .as_deref()
                    .is_some_and(|i| i.starts_with(WEBHOOK_ID_PREFIX));
            if let (true, Some(id)) = (ours_unnamed, &old.id) {
                self.delete_webhook(id).await?;
            }
        }
        let mut done = vec![];
        for event in EVENTS {
            let r = self
                .client
                .post(self.url("/webhooks"))
                .basic_auth(&self.cfg.username, Some(&self.cfg.password))
                .json(
                    &serde_json::json!({ "id": webhook_id(event), "url": target, "event": event }),
                )
                .send()
                .await
                .map_err(|e| format!("{event}: {e}"))?;
            let status = r.status();
            if !status.is_success() {
                return Err(format!("{event}: {}", refusal(status, r).await));
            }
            done.push(event.to_string());
        }
        Ok(done)
    }

    /// Removes careminder's registrations from the phone; returns their ids.
    pub async fn unregister_webhooks(&self) -> Result<Vec<String>, String> {
        let mut gone = vec![];
        for w in self.list_webhooks().await? {
            if let Some(id) = w.id.filter(|i| i.starts_with(WEBHOOK_ID_PREFIX)) {
                self.delete_webhook(&id).await?;
                gone.push(id);
            }
        }
        Ok(gone)
    }

    async fn delete_webhook(&self, id: &str) -> Result<(), String> {
        let r = self
            .client
            .delete(self.url(&format!("/webhooks/{id}")))
            .basic_auth(&self.cfg.username, Some(&self.cfg.password))
            .send()
            .await
            .map_err(|e| format!("deleting {id}: {e}"))?;
        let status = r.status();
        if !status.is_success() {
            return Err(format!("deleting {id}: {}", refusal(status, r).await));
        }
        Ok(())
    }
}

/// A webhook registration as the phone lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Webhook {
    #[serde(default)]
    pub id: Option<String>,
    pub url: String,
    pub event: String,
}

/// Our registrations' ids: fixed per event, so registering again replaces.
const WEBHOOK_ID_PREFIX: &str = "careminder-";

fn webhook_id(event: &str) -> String {
    format!("{WEBHOOK_ID_PREFIX}{}", event.replace(':', "-"))
}

/// The phone's refusal, with its reason ("only https or 127.0.0.1").
async fn refusal(status: reqwest::StatusCode, r: reqwest::Response) -> String {
    let body = r.text().await.unwrap_or_default();
    let reason = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or(body);
    format!("HTTP {}: {}", status.as_u16(), reason.trim())
}

#[async_trait]
impl Gateway for Android {
    fn name(&self) -> &str {
        &self.name
    }

    /// The app stores each message under our id and answers a second
    /// `POST /message` with that id 409 (taken as handed over) for as long
    /// as it keeps the message.
    fn drops_repeats(&self) -> bool {
        true
    }

    /// `GET /message/{id}`: the phone's state for one of our messages.
    async fn lookup(&self, id: i64) -> Option<Option<ReportedStatus>> {
        let r = self
            .client
            .get(self.url(&format!(
                "/message/{}",
                crate::domain::delivery::wire_id(id)
            )))
            .basic_auth(&self.cfg.username, Some(&self.cfg.password))
            .send()
            .await
            .ok()?;
        if r.status() == reqwest::StatusCode::NOT_FOUND {
            return Some(None);
        }
        if !r.status().is_success() {
            return None;
        }
        let state: serde_json::Value = r.json().await.ok()?;
        Some(Some(match state["state"].as_str()? {
            "Pending" | "Processed" => ReportedStatus::Accepted,
            "Sent" => ReportedStatus::Sent,
            "Delivered" => ReportedStatus::Delivered,
            "Failed" => ReportedStatus::Failed,
            _ => return None,
        }))
    }

    async fn send(&self, msg: &OutgoingMessage) -> SendOutcome {
        let body = SendBody {
            id: crate::domain::delivery::wire_id(msg.id),
            phone_numbers: [&msg.to],
            text_message: TextMessage { text: &msg.body },
            with_delivery_report: true,
            ttl: TTL_SECONDS,
        };
        let r = match self
            .client
            .post(self.url("/message"))
            .basic_auth(&self.cfg.username, Some(&self.cfg.password))
            .json(&body)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => return transport_error(&self.name, &e),
        };
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        if status.is_success() {
            let id = serde_json::from_str::<SendAnswer>(&text)
                .ok()
                .and_then(|a| a.id);
            return SendOutcome::Accepted {
                provider_id: Some(id.unwrap_or_else(|| crate::domain::delivery::wire_id(msg.id))),
            };
        }
        if status == reqwest::StatusCode::CONFLICT {
            tracing::info!(message_id = msg.id, gateway = %self.name, "phone has this message already");
            return SendOutcome::Accepted {
                provider_id: Some(crate::domain::delivery::wire_id(msg.id)),
            };
        }
        let detail = serde_json::from_str::<ErrorAnswer>(&text)
            .unwrap_or_default()
            .message;
        error_status(&self.name, status, &headers, &detail)
    }
}

/// A webhook's envelope.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub id: String,
    #[serde(default)]
    pub webhook_id: Option<String>,
    pub event: String,
    #[serde(default)]
    pub device_id: Option<String>,
    #[serde(default)]
    pub payload: serde_json::Value,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing X-Signature or X-Timestamp")]
    Missing,
    #[error("timestamp outside the accepted 5 minutes")]
    Stale,
    #[error("signature does not match")]
    Forged,
}

/// Checks `X-Signature` = hex HMAC-SHA256(key, body + timestamp), with the
/// timestamp no more than 5 minutes from `now` (Unix seconds).
pub fn verify(
    key: &str,
    body: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    now: i64,
) -> Result<(), SignatureError> {
    let (Some(ts), Some(sig)) = (timestamp, signature) else {
        return Err(SignatureError::Missing);
    };
    let t: i64 = ts.trim().parse().map_err(|_| SignatureError::Missing)?;
    if (now - t).abs() > 300 {
        return Err(SignatureError::Stale);
    }
    let expected = hex_decode(sig.trim()).ok_or(SignatureError::Forged)?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).map_err(|_| SignatureError::Forged)?;
    mac.update(body);
    mac.update(ts.trim().as_bytes());
    // verify_slice compares in constant time.
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Forged)
}

/// Signs a body as the phone does (for tests and the fake phone).
pub fn sign(key: &str, body: &[u8], timestamp: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(body);
    mac.update(timestamp.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_forgeries_and_stale_ones_do_not() {
        let body = br#"{"id":"e1","event":"sms:sent","payload":{}}"#;
        let sig = sign("k3y", body, "1764400000");
        assert_eq!(
            verify("k3y", body, Some("1764400000"), Some(&sig), 1764400100),
            Ok(())
        );
        assert_eq!(
            verify("k3y", body, Some("1764400000"), Some(&sig), 1764400400),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify("other", body, Some("1764400000"), Some(&sig), 1764400000),
            Err(SignatureError::Forged)
        );
        let tampered = br#"{"id":"e1","event":"sms:delivered","payload":{}}"#;
        assert_eq!(
            verify("k3y", tampered, Some("1764400000"), Some(&sig), 1764400000),
            Err(SignatureError::Forged)
        );
        assert_eq!(
            verify("k3y", body, None, Some(&sig), 0),
            Err(SignatureError::Missing)
        );
    }
}
