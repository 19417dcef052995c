//! A WeChat Official Account (公众号).
//!
//! Reminders go out as template messages (`/cgi-bin/message/template/send`)
//! with `client_msg_id` = our outbox id, so WeChat drops a repeat; answers to
//! a woman who wrote to the account go out as customer-service text
//! messages (`/cgi-bin/message/custom/send`). The final status of a template
//! message arrives later as a `TEMPLATESENDJOBFINISH` event (see
//! `web::wechat`). A woman who does not follow the account, or whose openid
//! is wrong, fails at once: the dispatcher then sends her reminder by SMS.

pub mod callback;
pub mod crypto;
pub mod webhook;

use self::crypto::Cipher;
use super::http::client;
use super::token::{Fetched, TokenCache};
use super::GatewayConfig;
use super::{required, Gateway, GatewayConfigError, OutgoingMessage, SendOutcome};
use crate::clock::Clock;
use async_trait::async_trait;
use chrono::Duration;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub use crate::domain::delivery::{TemplateMessage, FIELD_MAX_CHARS};

/// How the account's server sends its callbacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallbackMode {
    Plain,
    Compatible,
    Safe,
}

/// A WeChat Official Account (公众号): women who follow it get their
/// reminders as template messages, and reply in WeChat.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// API base: `https://api.weixin.qq.com` (a local fake in tests).
    pub base_url: String,
    pub appid: String,
    pub secret: String,
    /// Fetch tokens from `/cgi-bin/stable_token` (true) or `/cgi-bin/token`.
    pub stable_token: bool,
    /// The token set in the account's server configuration: signs callbacks
    /// and the QR codes' binding scenes.
    pub token: String,
    /// 43 characters, for compatible and safe (AES) mode callbacks.
    pub encoding_aes_key: String,
    /// The account's message encryption mode (消息加解密方式), as set in
    /// its server configuration: `plain` (明文), `compatible` (兼容: both
    /// forms accepted) or `safe` (安全: only encrypted callbacks). Unset:
    /// `safe` when an EncodingAESKey is given, `plain` otherwise.
    pub mode: Option<CallbackMode>,
    /// Days a woman's binding QR code stays valid (WeChat allows up to 30).
    pub qr_expire_days: u32,
    /// Printed under the QR code for her.
    pub qr_instructions: String,
    /// A font with Chinese glyphs for the printed QR card; empty: the
    /// usual system paths are searched.
    pub qr_font: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            base_url: "https://api.weixin.qq.com".into(),
            appid: String::new(),
            secret: String::new(),
            stable_token: true,
            token: String::new(),
            encoding_aes_key: String::new(),
            mode: None,
            qr_expire_days: 30,
            qr_instructions: "请用微信扫一扫，关注本公众号，即可免费接收产检和产后随访提醒。"
                .into(),
            qr_font: String::new(),
        }
    }
}

/// Errcodes that mean the access token is bad: refresh once, try again.
const TOKEN_ERRORS: [i64; 3] = [40001, 40014, 42001];

/// What WeChat's errcode means for a send.
pub fn classify(name: &str, errcode: i64, errmsg: &str) -> SendOutcome {
    let reason = format!("{name}: errcode {errcode} {errmsg}");
    match errcode {
        // Not following, blocked us, or an openid that is not this account's.
        43004 | 43101 | 40003 | 45015 | 45047 => SendOutcome::Permanent { reason },
        // Quotas and "system busy": later.
        45009 => SendOutcome::Transient {
            reason,
            retry_after: Some(Duration::hours(1)),
        },
        // Still refused after a fresh token (for example another server
        // fetched a new one meanwhile): try again later.
        -1 | 45011 | 45010 | 40001 | 40014 | 42001 => SendOutcome::Transient {
            reason,
            retry_after: Some(Duration::minutes(1)),
        },
        // Our configuration: a template id or field the account refuses,
        // or credentials that do not work.
        40037 | 47003 | 40013 | 40125 | 40164 | 41001 | 48001 => {
            SendOutcome::Misconfigured { reason }
        }
        _ => SendOutcome::Permanent { reason },
    }
}

#[derive(Deserialize, Default)]
struct Answer {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
    msgid: Option<serde_json::Value>,
    access_token: Option<String>,
    expires_in: Option<i64>,
    url: Option<String>,
}

#[derive(Serialize)]
struct TemplateBody<'a> {
    touser: &'a str,
    template_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
    client_msg_id: String,
    data: serde_json::Map<String, serde_json::Value>,
}

pub struct Wechat {
    name: String,
    cfg: Settings,
    client: reqwest::Client,
    tokens: TokenCache,
    cipher: Option<Cipher>,
    /// Which callbacks are taken: plain, encrypted, or either.
    mode: CallbackMode,
}

impl Wechat {
    pub fn new(
        name: String,
        key: &str,
        g: &GatewayConfig,
        s: &Settings,
        clock: Clock,
    ) -> Result<Self, GatewayConfigError> {
        let key = key.to_string();
        let cfg = s;
        required(&key, "base_url", &cfg.base_url)?;
        required(&key, "appid", &cfg.appid)?;
        required(&key, "secret", &cfg.secret)?;
        required(&key, "token", &cfg.token)?;
        let mode = cfg.mode.unwrap_or(if cfg.encoding_aes_key.is_empty() {
            CallbackMode::Plain
        } else {
            CallbackMode::Safe
        });
        match (mode, cfg.encoding_aes_key.is_empty()) {
            (CallbackMode::Plain, false) => {
                return Err(GatewayConfigError::Invalid {
                    key: format!("{key}.encoding_aes_key"),
                    reason: "set, but mode is plain: set mode = \"compatible\" or \"safe\" as the account is, or remove the key".into(),
                })
            }
            (CallbackMode::Compatible | CallbackMode::Safe, true) => {
                return Err(GatewayConfigError::Invalid {
                    key: format!("{key}.encoding_aes_key"),
                    reason: "required in compatible and safe mode (43 characters, from the account's server configuration)".into(),
                })
            }
            _ => {}
        }
        let cipher = if cfg.encoding_aes_key.is_empty() {
            None
        } else {
            Some(Cipher::new(&cfg.encoding_aes_key, &cfg.appid).map_err(|e| {
                GatewayConfigError::Invalid {
                    key: format!("{key}.encoding_aes_key"),
                    reason: e.to_string(),
                }
            })?)
        };
        Ok(Self {
            name,
            cfg: cfg.clone(),
            client: client(g.timeout_seconds),
            tokens: TokenCache::new(clock),
            cipher,
            mode,
        })
    }

    pub fn config(&self) -> &Settings {
        &self.cfg
    }

    /// How callbacks come: plain, compatible or safe.
    pub fn mode(&self) -> CallbackMode {
        self.mode
    }

    /// Safe mode's cipher, when an EncodingAESKey is set.
    pub fn cipher(&self) -> Option<&Cipher> {
        self.cipher.as_ref()
    }

    pub fn token_fetches(&self) -> u64 {
        self.tokens.fetches()
    }

    /// Shares the access token with the other processes on this database.
    pub fn share_tokens(&self, shelf: std::sync::Arc<dyn super::token::TokenShelf>) {
        self.tokens
            .share(shelf, format!("wechat:{}", self.cfg.appid));
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.cfg.base_url.trim_end_matches('/'), path)
    }

    async fn fetch_token(&self, force: bool) -> Result<Fetched, SendOutcome> {
        let req = if self.cfg.stable_token {
            self.client
                .post(self.url("/cgi-bin/stable_token"))
                .json(&serde_json::json!({
                    "grant_type": "client_credential",
                    "appid": self.cfg.appid,
                    "secret": self.cfg.secret,
                    "force_refresh": force,
                }))
        } else {
            self.client.get(self.url("/cgi-bin/token")).query(&[
                ("grant_type", "client_credential"),
                ("appid", &self.cfg.appid),
                ("secret", &self.cfg.secret),
            ])
        };
        let a = self.call(req).await?;
        match (a.errcode, a.access_token) {
            (0, Some(token)) => Ok(Fetched {
                token,
                expires_in: a.expires_in.unwrap_or(7200),
            }),
            // Busy or over quota: later. Anything else (40001 here means a
            // wrong AppSecret, 40013 a wrong AppID, 40164 an IP not on the
            // allow list) is ours to fix.
            (code @ (-1 | 45009 | 45011), _) => Err(classify(&self.name, code, &a.errmsg)),
            (code, _) => Err(SendOutcome::Misconfigured {
                reason: format!("{}: access token: errcode {code} {}", self.name, a.errmsg),
            }),
        }
    }

    async fn call(&self, req: reqwest::RequestBuilder) -> Result<Answer, SendOutcome> {
        super::http::json_call(&self.name, req).await
    }

    /// POSTs `body` to `path?access_token=`, refreshing the token and
    /// trying once more if WeChat says it is invalid or expired.
    async fn post_with_token(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<Answer, SendOutcome> {
        for last in [false, true] {
            let token = self.tokens.get(|force| self.fetch_token(force)).await?;
            let a = self
                .call(
                    self.client
                        .post(self.url(path))
                        .query(&[("access_token", &token)])
                        .json(body),
                )
                .await?;
            if TOKEN_ERRORS.contains(&a.errcode) && !last {
                tracing::info!(gateway = %self.name, errcode = a.errcode, "access token refused: refreshing");
                self.tokens.invalidate(&token).await;
                continue;
            }
            return Ok(a);
        }
        unreachable!("the loop returns on its last pass")
    }

    /// The body of a template message, exactly as sent.
    pub fn template_body(id: i64, to: &str, t: &TemplateMessage) -> serde_json::Value {
        let data = t
            .data
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::json!({ "value": v })))
            .collect();
        serde_json::to_value(TemplateBody {
            touser: to,
            template_id: &t.template_id,
            url: t.url.as_deref(),
            client_msg_id: id.to_string(),
            data,
        })
        .expect("serializable")
    }

    /// Asks WeChat for a temporary QR code carrying `scene`; returns the
    /// URL the code encodes.
    pub async fn create_qr(&self, scene: &str) -> Result<String, String> {
        let body = serde_json::json!({
            "expire_seconds": u64::from(self.cfg.qr_expire_days.clamp(1, 30)) * 86400,
            "action_name": "QR_STR_SCENE",
            "action_info": { "scene": { "scene_str": scene } },
        });
        let reason = |o: SendOutcome| match o {
            SendOutcome::Transient { reason, .. }
            | SendOutcome::Permanent { reason }
            | SendOutcome::Misconfigured { reason }
            | SendOutcome::OptedOut { reason } => reason,
            other => format!("{other:?}"),
        };
        let a = self
            .post_with_token("/cgi-bin/qrcode/create", &body)
            .await
            .map_err(reason)?;
        match (a.errcode, a.url) {
            (0, Some(url)) => Ok(url),
            (code, _) => Err(reason(classify(&self.name, code, &a.errmsg))),
        }
    }

    /// The QR scene that binds a woman: her id and a tag only this
    /// deployment can make (HMAC with the account's token), so nobody can
    /// bind himself to another woman by guessing ids.
    pub fn scene_for(&self, woman_id: i64) -> String {
        scene_for(&self.cfg.token, woman_id)
    }

    /// The woman a scene (or `qrscene_` event key) names, if its tag holds.
    pub fn woman_of_scene(&self, key: &str) -> Option<i64> {
        let scene = key.strip_prefix("qrscene_").unwrap_or(key);
        let (id, _) = scene.strip_prefix('w')?.split_once('.')?;
        let id: i64 = id.parse().ok()?;
        let expected = scene_for(&self.cfg.token, id);
        use subtle::ConstantTimeEq;
        bool::from(expected.as_bytes().ct_eq(scene.as_bytes())).then_some(id)
    }
}

fn scene_for(token: &str, woman_id: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(token.as_bytes()).expect("any key length");
    mac.update(format!("careminder-bind:{woman_id}").as_bytes());
    let tag: String = mac.finalize().into_bytes()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("w{woman_id}.{tag}")
}

#[async_trait]
impl Gateway for Wechat {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, msg: &OutgoingMessage) -> SendOutcome {
        let (path, body) = match &msg.template {
            Some(t) => (
                "/cgi-bin/message/template/send",
                Self::template_body(msg.id, &msg.to, t),
            ),
            None => (
                "/cgi-bin/message/custom/send",
                serde_json::json!({
                    "touser": msg.to,
                    "msgtype": "text",
                    "text": { "content": msg.body },
                }),
            ),
        };
        let a = match self.post_with_token(path, &body).await {
            Ok(a) => a,
            Err(o) => return o,
        };
        if a.errcode != 0 {
            return classify(&self.name, a.errcode, &a.errmsg);
        }
        let provider_id = a.msgid.map(|v| match v {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        });
        if msg.template.is_some() {
            // TEMPLATESENDJOBFINISH will say whether it reached her.
            SendOutcome::Accepted { provider_id }
        } else {
            SendOutcome::Sent { provider_id }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gw() -> Wechat {
        let s = Settings {
            appid: "wxappid".into(),
            secret: "s".into(),
            token: "tok".into(),
            ..Default::default()
        };
        let g = GatewayConfig::new(super::super::ChannelSettings::Wechat(s.clone()));
        Wechat::new(
            "wechat".into(),
            "gateways.wechat",
            &g,
            &s,
            Clock::manual(chrono::Utc::now()),
        )
        .unwrap()
    }

    #[test]
    fn scenes_bind_only_the_woman_they_were_made_for() {
        let w = gw();
        let s = w.scene_for(42);
        assert!(s.len() <= 64, "WeChat's scene_str limit");
        assert_eq!(w.woman_of_scene(&s), Some(42));
        assert_eq!(w.woman_of_scene(&format!("qrscene_{s}")), Some(42));
        let forged = s.replace("w42.", "w43.");
        assert_eq!(w.woman_of_scene(&forged), None);
        assert_eq!(w.woman_of_scene("qrscene_123"), None);
        assert_eq!(w.woman_of_scene(""), None);
    }

    #[test]
    fn errcodes_are_classified() {
        for c in [43004, 43101, 40003] {
            assert!(
                matches!(classify("w", c, ""), SendOutcome::Permanent { .. }),
                "{c}"
            );
        }
        for c in [45009, -1] {
            assert!(
                matches!(classify("w", c, ""), SendOutcome::Transient { .. }),
                "{c}"
            );
        }
        for c in [40037, 47003] {
            assert!(
                matches!(classify("w", c, ""), SendOutcome::Misconfigured { .. }),
                "{c}"
            );
        }
    }
}
