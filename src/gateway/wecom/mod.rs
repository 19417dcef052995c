//! WeCom (企业微信) application messages, for staff.
//!
//! `GET /cgi-bin/gettoken?corpid&corpsecret` gives a token, cached like the
//! Official Account's; `POST /cgi-bin/message/send?access_token=` sends a
//! text to one user id with `enable_duplicate_check`, so WeCom drops a
//! repeat of the same text to the same person. A user id WeCom does not
//! know comes back in `invaliduser`: a permanent failure for that person,
//! and the dispatcher sends the message by SMS instead. WeCom's limits per
//! person (30 a minute, 1000 an hour) are kept here: a message over them
//! waits, without a request.

use super::http::client;
use super::token::{Fetched, TokenCache};
use super::GatewayConfig;
use super::{required, Gateway, GatewayConfigError, OutgoingMessage, SendOutcome};
use crate::clock::Clock;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// WeCom (企业微信): application messages to staff who have a WeCom user id.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// API base: `https://qyapi.weixin.qq.com` (a local fake in tests).
    pub base_url: String,
    pub corpid: String,
    pub corpsecret: String,
    /// The application's agent id.
    pub agentid: i64,
    /// Messages to one person at most per minute and per hour (WeCom's limits).
    pub per_member_per_minute: u32,
    pub per_member_per_hour: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            base_url: "https://qyapi.weixin.qq.com".into(),
            corpid: String::new(),
            corpsecret: String::new(),
            agentid: 0,
            per_member_per_minute: 30,
            per_member_per_hour: 1000,
        }
    }
}

/// Errcodes that mean the access token is bad.
const TOKEN_ERRORS: [i64; 3] = [40014, 42001, 40001];

/// Seconds within which WeCom drops a repeated message.
const DUPLICATE_CHECK_SECONDS: i64 = 1800;

#[derive(Deserialize, Default)]
struct Answer {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
    access_token: Option<String>,
    expires_in: Option<i64>,
    #[serde(default)]
    invaliduser: String,
    msgid: Option<String>,
}

pub struct Wecom {
    name: String,
    cfg: Settings,
    client: reqwest::Client,
    tokens: TokenCache,
    clock: Clock,
    /// Send times per user id within the last hour.
    recent: Mutex<HashMap<String, VecDeque<DateTime<Utc>>>>,
}

impl Wecom {
    pub fn new(
        name: String,
        key: &str,
        g: &GatewayConfig,
        s: &Settings,
        clock: Clock,
    ) -> Result<Self, GatewayConfigError> {
        let key = key.to_string();
        required(&key, "base_url", &s.base_url)?;
        required(&key, "corpid", &s.corpid)?;
        required(&key, "corpsecret", &s.corpsecret)?;
        for (field, v) in [
            ("per_member_per_minute", s.per_member_per_minute),
            ("per_member_per_hour", s.per_member_per_hour),
        ] {
            if v == 0 {
                return Err(GatewayConfigError::Invalid {
                    key: format!("{key}.{field}"),
                    reason: "must be at least 1".into(),
                });
            }
        }
        if s.agentid <= 0 {
            return Err(GatewayConfigError::Invalid {
                key: format!("{key}.agentid"),
                reason: "must be the application's agent id".into(),
            });
        }
        Ok(Self {
            name,
            cfg: s.clone(),
            client: client(g.timeout_seconds),
            tokens: TokenCache::new(clock.clone()),
            clock,
            recent: Mutex::new(HashMap::new()),
        })
    }

    pub fn token_fetches(&self) -> u64 {
        self.tokens.fetches()
    }

    /// Shares the access token with the other processes on this database.
    pub fn share_tokens(&self, shelf: std::sync::Arc<dyn super::token::TokenShelf>) {
        self.tokens.share(
            shelf,
            format!("wecom:{}:{}", self.cfg.corpid, self.cfg.agentid),
        );
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.cfg.base_url.trim_end_matches('/'), path)
    }

    async fn call(&self, req: reqwest::RequestBuilder) -> Result<Answer, SendOutcome> {
        super::http::json_call(&self.name, req).await
    }

    async fn fetch_token(&self) -> Result<Fetched, SendOutcome> {
        let a = self
            .call(self.client.get(self.url("/cgi-bin/gettoken")).query(&[
                ("corpid", self.cfg.corpid.as_str()),
                ("corpsecret", self.cfg.corpsecret.as_str()),
            ]))
            .await?;
        match (a.errcode, a.access_token) {
            (0, Some(token)) => Ok(Fetched {
                token,
                expires_in: a.expires_in.unwrap_or(7200),
            }),
            (-1, _) => Err(SendOutcome::Transient {
                reason: format!("{}: gettoken: system busy", self.name),
                retry_after: Some(Duration::minutes(1)),
            }),
            (code, _) => Err(SendOutcome::Misconfigured {
                reason: format!("{}: gettoken: errcode {code} {}", self.name, a.errmsg),
            }),
        }
    }

    /// Takes a slot for `user` now, or says when one frees up.
    fn take_slot(&self, user: &str) -> Result<(), Duration> {
        let now = self.clock.now();
        let mut recent = self.recent.lock().expect("limits lock");
        let q = recent.entry(user.to_string()).or_default();
        while q.front().is_some_and(|t| now - *t >= Duration::hours(1)) {
            q.pop_front();
        }
        let minute_ago = now - Duration::minutes(1);
        let in_minute: Vec<_> = q.iter().filter(|t| **t > minute_ago).collect();
        if in_minute.len() >= self.cfg.per_member_per_minute as usize {
            return Err(*in_minute[0] + Duration::minutes(1) - now);
        }
        if q.len() >= self.cfg.per_member_per_hour as usize {
            return Err(q[0] + Duration::hours(1) - now);
        }
        q.push_back(now);
        Ok(())
    }

    /// The body of an application text message, exactly as sent.
    pub fn text_body(&self, to: &str, text: &str) -> serde_json::Value {
        serde_json::json!({
            "touser": to,
            "msgtype": "text",
            "agentid": self.cfg.agentid,
            "text": { "content": text },
            "safe": 0,
            "enable_duplicate_check": 1,
            "duplicate_check_interval": DUPLICATE_CHECK_SECONDS,
        })
    }
}

#[async_trait]
impl Gateway for Wecom {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, msg: &OutgoingMessage) -> SendOutcome {
        if let Err(wait) = self.take_slot(&msg.to) {
            return SendOutcome::Transient {
                reason: format!("{}: per-person limit reached", self.name),
                retry_after: Some(wait.max(Duration::seconds(1))),
            };
        }
        let body = self.text_body(&msg.to, &msg.body);
        for last in [false, true] {
            let token = match self.tokens.get(|_| self.fetch_token()).await {
                Ok(t) => t,
                Err(o) => return o,
            };
            let a = match self
                .call(
                    self.client
                        .post(self.url("/cgi-bin/message/send"))
                        .query(&[("access_token", &token)])
                        .json(&body),
                )
                .await
            {
                Ok(a) => a,
                Err(o) => return o,
            };
            if TOKEN_ERRORS.contains(&a.errcode) && !last {
                tracing::info!(gateway = %self.name, errcode = a.errcode, "access token refused: refreshing");
                self.tokens.invalidate(&token).await;
                continue;
            }
            let invalid = a.invaliduser.split('|').any(|u| u == msg.to);
            return match a.errcode {
                _ if invalid => SendOutcome::Permanent {
                    reason: format!("{}: invaliduser: not a member WeCom knows", self.name),
                },
                0 => SendOutcome::Sent {
                    provider_id: a.msgid,
                },
                -1 | 45009 | 45033 => SendOutcome::Transient {
                    reason: format!("{}: errcode {} {}", self.name, a.errcode, a.errmsg),
                    retry_after: Some(Duration::minutes(1)),
                },
                81013 | 60111 | 60011 => SendOutcome::Permanent {
                    reason: format!("{}: errcode {} {}", self.name, a.errcode, a.errmsg),
                },
                code => SendOutcome::Misconfigured {
                    reason: format!("{}: errcode {code} {}", self.name, a.errmsg),
                },
            };
        }
        unreachable!("the loop returns on its last pass")
    }
}
