//! Aliyun SMS (阿里云短信服务, dysmsapi 2017-05-25), RPC style with
//! signature version 1 (HMAC-SHA1), as the official SDK sends it: common
//! parameters and `Signature` in the query, the action's parameters in a
//! form body, all of them signed together.
//!
//! `SendSms` carries one message with `OutId` = our wire id; `SendBatchSms`
//! up to 100 messages of one template, each with its own parameters (it
//! has no `OutId`: each message's provider id is `BizId/number`). Neither
//! is idempotent: a send whose answer was lost is not sent again until
//! `QuerySendDetails` shows the provider never took it. Receipts and
//! replies arrive as HTTP batch pushes (see `webhook`).

pub mod webhook;

use super::cloud::{national, Account, SystemTemplate};
use super::http::client;
use super::{required, Gateway, GatewayConfig, GatewayConfigError, OutgoingMessage, SendOutcome};
use crate::clock::Clock;
use crate::domain::delivery::wire_id;
use crate::domain::GatewayKind;
use async_trait::async_trait;
use base64::Engine;
use chrono::Duration;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use rand::Rng;
use serde::Deserialize;
use sha1::Sha1;
use std::collections::BTreeMap;

/// An Aliyun SMS account.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// API endpoint: `https://dysmsapi.aliyuncs.com` (a local fake in tests).
    pub base_url: String,
    pub access_key_id: String,
    pub access_key_secret: String,
    /// The approved signature (签名), without 【】.
    pub sign_name: String,
    pub region_id: String,
    /// Carried in the push URLs set in the console (`?secret=`): the
    /// pushes are signed by nothing else.
    pub callback_secret: String,
    /// The longest value one variable may take (35 for notifications).
    pub max_variable_chars: usize,
    /// Words a promotional template must carry.
    pub opt_out_notice: String,
    /// Templates for the texts careminder writes itself: `reply`, `alert`.
    pub templates: BTreeMap<String, SystemTemplate>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            base_url: "https://dysmsapi.aliyuncs.com".into(),
            access_key_id: String::new(),
            access_key_secret: String::new(),
            sign_name: String::new(),
            region_id: "cn-hangzhou".into(),
            callback_secret: String::new(),
            max_variable_chars: 35,
            opt_out_notice: "拒收请回复R".into(),
            templates: BTreeMap::new(),
        }
    }
}

impl Settings {
    pub fn account(&self) -> Account<'_> {
        Account {
            kind: GatewayKind::Aliyun,
            sign_name: &self.sign_name,
            max_variable_chars: self.max_variable_chars,
            opt_out_notice: &self.opt_out_notice,
            callback_secret: &self.callback_secret,
            templates: &self.templates,
        }
    }
}

/// Most numbers in one `SendBatchSms`.
pub const BATCH_LIMIT: usize = 100;

pub struct Aliyun {
    name: String,
    pub cfg: Settings,
    client: reqwest::Client,
    clock: Clock,
}

/// Everything but `A-Z a-z 0-9 - _ . ~` is encoded, in upper-case hex
/// (so a space is `%20`, never `+`).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// Signature version 1: base64(HMAC-SHA1(secret + "&", METHOD & %2F &
/// encode(sorted, encoded parameters))).
pub fn signature(method: &str, secret: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> =
        params.iter().filter(|(k, _)| k != "Signature").collect();
    sorted.sort();
    let canonical = sorted
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let to_sign = format!("{method}&%2F&{}", percent_encode(&canonical));
    let mut mac =
        Hmac::<Sha1>::new_from_slice(format!("{secret}&").as_bytes()).expect("any key length");
    mac.update(to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn encode_pairs(params: &[(String, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    biz_id: Option<String>,
    #[serde(default)]
    sms_send_detail_d_t_os: Option<Details>,
    /// QuerySendDetails: how many records the day holds, over all pages.
    #[serde(default)]
    total_count: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
struct Details {
    #[serde(rename = "SmsSendDetailDTO", default)]
    list: Vec<Detail>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct Detail {
    #[serde(default)]
    send_status: i64,
    #[serde(default)]
    err_code: Option<String>,
    #[serde(default)]
    out_id: Option<String>,
    #[serde(default)]
    content: Option<String>,
}

/// Most records one `QuerySendDetails` page holds ("取值范围为 1~50").
const PAGE_SIZE: i64 = 50;
/// Pages read of one day's records for one number: far more than she is sent.
const MAX_PAGES: i64 = 20;

/// Why a lost answer holds a message back.
const HELD: &str = "not sent again until QuerySendDetails shows Aliyun never took it";

/// What Aliyun's code means for a send.
pub fn classify(
    name: &str,
    code: &str,
    message: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> SendOutcome {
    let reason = format!("{name}: {code} {message}");
    let later = |d: Duration| SendOutcome::Transient {
        reason: reason.clone(),
        retry_after: Some(d),
    };
    match code {
        // Flow control: by the minute, the hour or the day (the message says which).
        "isv.BUSINESS_LIMIT_CONTROL" if message.contains('天') => {
            later(super::cloud::until_next_day(now))
        }
        "isv.BUSINESS_LIMIT_CONTROL" if message.contains("小时") => later(Duration::hours(1)),
        "isv.BUSINESS_LIMIT_CONTROL" | "Throttling.User" | "Throttling" => {
            later(Duration::minutes(1))
        }
        "isv.DAY_LIMIT_CONTROL" | "isv.MONTH_LIMIT_CONTROL" => {
            later(super::cloud::until_next_day(now))
        }
        "isp.SYSTEM_ERROR" | "isp.GATEWAY_ERROR" | "ServiceUnavailable" => {
            later(Duration::minutes(5))
        }
        // She told the provider to stop.
        "isv.CUSTOMER_REFUSED" => SendOutcome::OptedOut { reason },
        // Our account, signature or template: an administrator must act.
        "isv.AMOUNT_NOT_ENOUGH"
        | "isv.OUT_OF_SERVICE"
        | "isv.SMS_TEMPLATE_ILLEGAL"
        | "isv.SMS_SIGNATURE_ILLEGAL"
        | "isv.SMS_SIGNATURE_SCENE_ILLEGAL"
        | "isv.TEMPLATE_MISSING_PARAMETERS"
        | "isv.TEMPLATE_PARAMS_ILLEGAL"
        | "isv.PRODUCT_UN_SUBSCRIPT"
        | "isv.PRODUCT_UNSUBSCRIBE"
        | "isv.ACCOUNT_NOT_EXISTS"
        | "isv.ACCOUNT_ABNORMAL"
        | "isv.DENY_IP_RANGE"
        | "isp.RAM_PERMISSION_DENY"
        | "SignatureDoesNotMatch"
        | "InvalidAccessKeyId.NotFound"
        | "InvalidAccessKeyId.Inactive"
        | "Forbidden.RAM" => SendOutcome::Misconfigured { reason },
        // An illegal number, a blacklisted one, content refused: retrying will not help.
        _ => SendOutcome::Permanent { reason },
    }
}

impl Aliyun {
    pub fn new(
        name: String,
        key: &str,
        g: &GatewayConfig,
        s: &Settings,
        clock: Clock,
    ) -> Result<Self, GatewayConfigError> {
        required(key, "base_url", &s.base_url)?;
        required(key, "access_key_id", &s.access_key_id)?;
        required(key, "access_key_secret", &s.access_key_secret)?;
        s.account().check(key)?;
        Ok(Self {
            name,
            cfg: s.clone(),
            client: client(g.timeout_seconds),
            clock,
        })
    }

    /// Calls one action: signs it, sends it, reads the JSON answer. `Err`
    /// is the outcome for a failed call (`lost`: it may have been taken).
    async fn call(
        &self,
        action: &str,
        action_params: Vec<(String, String)>,
    ) -> Result<Answer, (SendOutcome, bool)> {
        let nonce: u128 = rand::thread_rng().gen();
        let common: Vec<(String, String)> = [
            ("AccessKeyId", self.cfg.access_key_id.clone()),
            ("Action", action.to_string()),
            ("Format", "JSON".to_string()),
            ("RegionId", self.cfg.region_id.clone()),
            ("SignatureMethod", "HMAC-SHA1".to_string()),
            ("SignatureNonce", format!("{nonce:032x}")),
            ("SignatureVersion", "1.0".to_string()),
            (
                "Timestamp",
                self.clock.now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            ),
            ("Version", "2017-05-25".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let all: Vec<(String, String)> = common.iter().chain(&action_params).cloned().collect();
        let sig = signature("POST", &self.cfg.access_key_secret, &all);
        let mut query = common;
        query.push(("Signature".into(), sig));
        let url = format!(
            "{}/?{}",
            self.cfg.base_url.trim_end_matches('/'),
            encode_pairs(&query)
        );
        let res = self
            .client
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(encode_pairs(&action_params))
            .send()
            .await;
        let res = match res {
            Ok(r) => r,
            Err(e) => {
                // A timeout may have reached Aliyun; a refused connection did not.
                let lost = !e.is_connect();
                let outcome = super::http::transport_error(&self.name, &e);
                return Err((outcome, lost));
            }
        };
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        let answer: Answer = serde_json::from_str(&text).unwrap_or_default();
        if status.is_success() && answer.code == "OK" {
            return Ok(answer);
        }
        if !answer.code.is_empty() {
            return Err((
                classify(&self.name, &answer.code, &answer.message, self.clock.now()),
                false,
            ));
        }
        Err((
            super::http::error_status(&self.name, status, &headers, &text),
            status.is_server_error(),
        ))
    }

    /// What Aliyun's records say of a message sent before: `Ok(Some)` it
    /// took it, `Ok(None)` it has no record of it. `QuerySendDetails` lists
    /// one number's sends of one day (`SendDate` yyyyMMdd, the last 30 days),
    /// `PageSize` at most 50 a page, `CurrentPage` from 1, `TotalCount`
    /// over all pages (help.aliyun.com/document_detail/419277.html): every
    /// page of today and yesterday (Beijing time) is read, since a record
    /// exists from the moment Aliyun takes a message (SendStatus 1, 等待回执).
    async fn sent_before(&self, msg: &OutgoingMessage) -> Result<Option<SendOutcome>, String> {
        let today = self.clock.now() + Duration::hours(8);
        let ours = wire_id(msg.id);
        for day in [today, today - Duration::days(1)] {
            for page in 1..=MAX_PAGES {
                let params = vec![
                    ("PhoneNumber".to_string(), national(&msg.to)),
                    ("SendDate".to_string(), day.format("%Y%m%d").to_string()),
                    ("PageSize".to_string(), PAGE_SIZE.to_string()),
                    ("CurrentPage".to_string(), page.to_string()),
                ];
                let answer = self
                    .call("QuerySendDetails", params)
                    .await
                    .map_err(|(o, _)| format!("{o:?}"))?;
                let total = answer
                    .total_count
                    .as_ref()
                    .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
                    .unwrap_or(0);
                let list = answer.sms_send_detail_d_t_os.unwrap_or_default().list;
                let read = list.len();
                let found = list.into_iter().find(|d| {
                    match d.out_id.as_deref().filter(|o| !o.is_empty()) {
                        Some(o) => o == ours,
                        None => d.content.as_deref() == Some(msg.body.as_str()),
                    }
                });
                if let Some(d) = found {
                    return Ok(Some(match d.send_status {
                        2 => SendOutcome::Permanent {
                            reason: format!(
                                "{}: taken by an earlier attempt, which failed: {}",
                                self.name,
                                d.err_code.unwrap_or_default()
                            ),
                        },
                        3 => SendOutcome::Sent { provider_id: None },
                        _ => SendOutcome::Accepted { provider_id: None },
                    }));
                }
                if read == 0 || page * PAGE_SIZE >= total {
                    break;
                }
            }
        }
        Ok(None)
    }

    /// A message tried before: its earlier attempt may have been taken.
    async fn check_before_resending(&self, msg: &OutgoingMessage) -> Option<SendOutcome> {
        if msg.attempt <= 1 {
            return None;
        }
        match self.sent_before(msg).await {
            Ok(Some(o)) => {
                tracing::info!(message_id = msg.id, gateway = %self.name, "QuerySendDetails: an earlier attempt was taken; not sent again");
                Some(o)
            }
            Ok(None) => None,
            Err(e) => Some(SendOutcome::Transient {
                reason: format!("{}: {HELD}; the query failed: {e}", self.name),
                retry_after: Some(Duration::minutes(10)),
            }),
        }
    }

    fn lost(&self, o: SendOutcome) -> SendOutcome {
        match o {
            SendOutcome::Transient { reason, .. } => SendOutcome::Transient {
                reason: format!("{reason}: {HELD}"),
                retry_after: Some(Duration::minutes(10)),
            },
            o => o,
        }
    }
}

fn template_of(name: &str, msg: &OutgoingMessage) -> Result<(String, String), SendOutcome> {
    let t = msg
        .sms_template
        .as_ref()
        .ok_or_else(|| SendOutcome::Misconfigured {
            reason: format!("{name}: no approved template for this text"),
        })?;
    let params: serde_json::Map<String, serde_json::Value> = t
        .params
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    Ok((
        t.code.clone(),
        serde_json::Value::Object(params).to_string(),
    ))
}

#[async_trait]
impl Gateway for Aliyun {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, msg: &OutgoingMessage) -> SendOutcome {
        let (code, params) = match template_of(&self.name, msg) {
            Ok(v) => v,
            Err(o) => return o,
        };
        if let Some(o) = self.check_before_resending(msg).await {
            return o;
        }
        let action_params = vec![
            ("PhoneNumbers".to_string(), national(&msg.to)),
            ("SignName".to_string(), self.cfg.sign_name.clone()),
            ("TemplateCode".to_string(), code),
            ("TemplateParam".to_string(), params),
            ("OutId".to_string(), wire_id(msg.id)),
        ];
        match self.call("SendSms", action_params).await {
            Ok(a) => SendOutcome::Accepted {
                provider_id: a.biz_id,
            },
            Err((o, true)) => self.lost(o),
            Err((o, false)) => o,
        }
    }

    fn batch_limit(&self) -> usize {
        BATCH_LIMIT
    }

    /// One template per `SendBatchSms`; a retry goes alone (it is checked first).
    fn batch_key(&self, msg: &OutgoingMessage) -> Option<String> {
        (msg.attempt <= 1)
            .then(|| msg.sms_template.as_ref().map(|t| t.code.clone()))
            .flatten()
    }

    async fn send_batch(&self, msgs: &[OutgoingMessage]) -> Vec<SendOutcome> {
        if msgs.len() <= 1 {
            let mut out = vec![];
            for m in msgs {
                out.push(self.send(m).await);
            }
            return out;
        }
        let mut numbers = vec![];
        let mut signs = vec![];
        let mut params = vec![];
        let mut code = String::new();
        for m in msgs {
            match template_of(&self.name, m) {
                Ok((c, p)) => {
                    code = c;
                    numbers.push(serde_json::Value::String(national(&m.to)));
                    signs.push(serde_json::Value::String(self.cfg.sign_name.clone()));
                    params.push(serde_json::from_str::<serde_json::Value>(&p).expect("json"));
                }
                Err(o) => return vec![o; msgs.len()],
            }
        }
        let action_params = vec![
            (
                "PhoneNumberJson".to_string(),
                serde_json::Value::Array(numbers).to_string(),
            ),
            (
                "SignNameJson".to_string(),
                serde_json::Value::Array(signs).to_string(),
            ),
            ("TemplateCode".to_string(), code),
            (
                "TemplateParamJson".to_string(),
                serde_json::Value::Array(params).to_string(),
            ),
        ];
        match self.call("SendBatchSms", action_params).await {
            Ok(a) => msgs
                .iter()
                .map(|m| SendOutcome::Accepted {
                    provider_id: a
                        .biz_id
                        .as_ref()
                        .map(|b| batch_provider_id(b, &national(&m.to))),
                })
                .collect(),
            Err((o, lost)) => {
                let o = if lost { self.lost(o) } else { o };
                vec![o; msgs.len()]
            }
        }
    }
}

/// A message's provider id when it went in a batch: the batch's BizId and
/// her number, as the receipt names them.
pub fn batch_provider_id(biz_id: &str, number: &str) -> String {
    format!("{biz_id}/{number}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn signature_matches_aliyuns_documented_example() {
        // help.aliyun.com/document_detail/56189, reproduced by the official SDK.
        let p = params(&[
            ("AccessKeyId", "testId"),
            ("Action", "SendSms"),
            ("Format", "XML"),
            ("OutId", "123"),
            ("PhoneNumbers", "15300000001"),
            ("RegionId", "cn-hangzhou"),
            ("SignName", "阿里云短信测试专用"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "45e25e9b-0a6f-4070-8c85-2956eda1b466"),
            ("SignatureVersion", "1.0"),
            ("TemplateCode", "SMS_71390007"),
            ("TemplateParam", "{\"customer\":\"test\"}"),
            ("Timestamp", "2017-07-12T02:42:19Z"),
            ("Version", "2017-05-25"),
        ]);
        assert_eq!(
            signature("GET", "testSecret", &p),
            "zJDF+Lrzhj/ThnlvIToysFRq6t4="
        );
    }

    #[test]
    fn encoding_is_rfc3986_upper_case() {
        assert_eq!(percent_encode("a b+c*~/"), "a%20b%2Bc%2A~%2F");
    }

    #[test]
    fn codes_are_classified() {
        use SendOutcome::*;
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-12T01:00:00Z")
            .unwrap()
            .to_utc();
        let c = |code: &str, m: &str| classify("a", code, m, now);
        assert!(
            matches!(c("isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1"), Transient { retry_after: Some(d), .. } if d == Duration::minutes(1))
        );
        assert!(
            matches!(c("isv.BUSINESS_LIMIT_CONTROL", "触发号码天级流控Permits:40"), Transient { retry_after: Some(d), .. } if d > Duration::hours(1))
        );
        assert!(matches!(
            c("isv.MOBILE_NUMBER_ILLEGAL", ""),
            Permanent { .. }
        ));
        assert!(matches!(
            c("isv.BLACK_KEY_CONTROL_LIMIT", ""),
            Permanent { .. }
        ));
        assert!(matches!(c("isv.CUSTOMER_REFUSED", ""), OptedOut { .. }));
        assert!(matches!(
            c("isv.AMOUNT_NOT_ENOUGH", ""),
            Misconfigured { .. }
        ));
        assert!(matches!(
            c("isv.SMS_TEMPLATE_ILLEGAL", ""),
            Misconfigured { .. }
        ));
    }
}
