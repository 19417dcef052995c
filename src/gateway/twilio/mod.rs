//! A Twilio-style HTTP SMS provider: a form POST to
//! `{base}/2010-04-01/Accounts/{sid}/Messages.json`; status callbacks and
//! inbound messages come back as form posts signed with
//! `X-Twilio-Signature` (see `web::webhooks`). The base URL is configurable
//! so compatible providers and local fakes work.

pub mod webhook;

use super::http::{client, error_status, transport_error};
use super::GatewayConfig;
use super::{required, Gateway, GatewayConfigError, OutgoingMessage, ReportedStatus, SendOutcome};
use async_trait::async_trait;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha1::Sha1;

/// A Twilio-style provider.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// API base, `https://api.twilio.com` or a compatible provider's.
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: String,
    /// Sender number, or leave empty and set `messaging_service_sid`.
    pub from: String,
    pub messaging_service_sid: String,
}

/// Twilio's error code for a recipient who replied STOP to the sender.
pub const OPTED_OUT: i64 = 21610;

pub struct Twilio {
    name: String,
    cfg: Settings,
    status_callback: String,
    client: reqwest::Client,
}

#[derive(Deserialize)]
struct Created {
    sid: String,
}

#[derive(Deserialize, Default)]
struct ErrorAnswer {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: String,
}

impl Twilio {
    pub fn new(
        name: String,
        key: &str,
        g: &GatewayConfig,
        s: &Settings,
        public_url: &str,
    ) -> Result<Self, GatewayConfigError> {
        let key = key.to_string();
        required(&key, "base_url", &s.base_url)?;
        required(&key, "account_sid", &s.account_sid)?;
        required(&key, "auth_token", &s.auth_token)?;
        if s.from.is_empty() && s.messaging_service_sid.is_empty() {
            return Err(GatewayConfigError::Invalid {
                key,
                reason: "set from or messaging_service_sid".into(),
            });
        }
        Ok(Self {
            name,
            cfg: s.clone(),
            status_callback: format!(
                "{}/webhooks/twilio/status",
                public_url.trim_end_matches('/')
            ),
            client: client(g.timeout_seconds),
        })
    }
}

#[async_trait]
impl Gateway for Twilio {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, msg: &OutgoingMessage) -> SendOutcome {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.cfg.base_url.trim_end_matches('/'),
            self.cfg.account_sid
        );
        let mut form: Vec<(&str, &str)> = vec![("To", &msg.to)];
        if self.cfg.messaging_service_sid.is_empty() {
            form.push(("From", &self.cfg.from));
        } else {
            form.push(("MessagingServiceSid", &self.cfg.messaging_service_sid));
        }
        form.push(("Body", &msg.body));
        form.push(("StatusCallback", &self.status_callback));
        let body = serde_urlencoded::to_string(&form).expect("form encodes");
        let r = match self
            .client
            .post(url)
            .basic_auth(&self.cfg.account_sid, Some(&self.cfg.auth_token))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
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
            return match serde_json::from_str::<Created>(&text) {
                Ok(c) => SendOutcome::Accepted {
                    provider_id: Some(c.sid),
                },
                Err(_) => SendOutcome::Accepted { provider_id: None },
            };
        }
        let err = serde_json::from_str::<ErrorAnswer>(&text).unwrap_or_default();
        if err.code == Some(OPTED_OUT) {
            return SendOutcome::OptedOut {
                reason: format!(
                    "{}: {OPTED_OUT} recipient opted out: {}",
                    self.name, err.message
                ),
            };
        }
        let detail = match err.code {
            Some(c) => format!("{c} {}", err.message),
            None => err.message,
        };
        error_status(&self.name, status, &headers, &detail)
    }
}

/// `X-Twilio-Signature`: base64(HMAC-SHA1(auth token, full URL + each
/// parameter name and value, sorted by name)).
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("any key length");
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Checks a signature in constant time.
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], given: &str) -> bool {
    let want = signature(auth_token, url, params);
    crate::domain::secret::constant_time_eq(want.as_bytes(), given.trim().as_bytes())
}

/// Twilio's message statuses in ours; `None` for statuses that change nothing.
pub fn map_status(s: &str) -> Option<ReportedStatus> {
    Some(match s {
        "queued" | "accepted" | "scheduled" => ReportedStatus::Accepted,
        "sending" | "sent" => ReportedStatus::Sent,
        "delivered" | "read" => ReportedStatus::Delivered,
        "undelivered" | "failed" | "canceled" => ReportedStatus::Failed,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_twilios_documented_example() {
        // The example from Twilio's security documentation.
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            signature("12345", url, &params),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
        assert!(verify(
            "12345",
            url,
            &params,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
        assert!(!verify(
            "12345",
            url,
            &params,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ"
        ));
    }

    #[test]
    fn every_status_maps() {
        use ReportedStatus::*;
        for (s, want) in [
            ("queued", Some(Accepted)),
            ("accepted", Some(Accepted)),
            ("sending", Some(Sent)),
            ("sent", Some(Sent)),
            ("delivered", Some(Delivered)),
            ("undelivered", Some(Failed)),
            ("failed", Some(Failed)),
            ("receiving", None),
        ] {
            assert_eq!(map_status(s), want, "{s}");
        }
    }
}
