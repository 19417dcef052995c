//! Tencent Cloud SMS (腾讯云短信, API 2021-01-11): `SendSms`, a JSON POST
//! signed with TC3-HMAC-SHA256 over `content-type` and `host`, as the
//! official SDK signs it. One call takes up to 200 numbers that share one
//! template and one set of values (`TemplateParamSet` is per call), so a
//! batch groups the women whose values are the same; `SessionContext`
//! carries our wire id, each number's `SerialNo` is kept as its provider
//! id. Not idempotent, and by default Tencent echoes `SessionContext`
//! only in the send's own answer: a send whose answer was lost is noted
//! (`SendLedger`) and not sent again until her number's records
//! (`PullSmsSendStatusByPhoneNumber`) settle it: a record whose `SerialNo`
//! no message of ours carries is it; no record is "not taken" only once
//! the operators' report window (`report_wait_hours`) has passed, and a
//! message is never sent past its grace. Receipts and replies arrive as
//! pushes (see `webhook`).

pub mod webhook;

use super::cloud::{hex, Account, SystemTemplate};
use super::http::client;
use super::{
    required, Gateway, GatewayConfig, GatewayConfigError, MemoryLedger, OutgoingMessage,
    SendLedger, SendOutcome,
};
use crate::clock::Clock;
use crate::domain::delivery::wire_id;
use crate::domain::GatewayKind;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

/// A Tencent Cloud SMS application.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// API endpoint: `https://sms.tencentcloudapi.com` (a local fake in tests).
    pub base_url: String,
    pub secret_id: String,
    pub secret_key: String,
    /// The SMS application's SdkAppId (`1400…`).
    pub sdk_app_id: String,
    /// The approved signature (签名), without 【】.
    pub sign_name: String,
    pub region: String,
    /// Carried in the callback URLs set in the console (`?secret=`).
    pub callback_secret: String,
    /// The longest value one variable may take (12 for most accounts).
    pub max_variable_chars: usize,
    /// Words a promotional template must carry.
    pub opt_out_notice: String,
    /// Templates for the texts careminder writes itself: `reply`, `alert`.
    pub templates: BTreeMap<String, SystemTemplate>,
    /// How long an operator may take to report a message (Tencent keeps a
    /// status record only once it has): a send whose answer was lost and
    /// that has no record after this long was never taken. Tencent
    /// documents no bound; operators give up on an undelivered message
    /// within 72 hours.
    pub report_wait_hours: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            base_url: "https://sms.tencentcloudapi.com".into(),
            secret_id: String::new(),
            secret_key: String::new(),
            sdk_app_id: String::new(),
            sign_name: String::new(),
            region: "ap-guangzhou".into(),
            callback_secret: String::new(),
            max_variable_chars: 12,
            opt_out_notice: "拒收请回复R".into(),
            templates: BTreeMap::new(),
            report_wait_hours: 72,
        }
    }
}

impl Settings {
    pub fn account(&self) -> Account<'_> {
        Account {
            kind: GatewayKind::Tencent,
            sign_name: &self.sign_name,
            max_variable_chars: self.max_variable_chars,
            opt_out_notice: &self.opt_out_notice,
            callback_secret: &self.callback_secret,
            templates: &self.templates,
        }
    }
}

/// Most numbers in one `SendSms`.
pub const BATCH_LIMIT: usize = 200;
/// How far back `PullSmsSendStatusByPhoneNumber` reaches ("最大可拉取当前时期前7天的数据").
const PULL_DAYS: i64 = 7;
/// Most records one `PullSmsSendStatusByPhoneNumber` returns ("最多 100";
/// `Offset` "目前固定设置为0": there is no next page).
const PULL_LIMIT: usize = 100;
const VERSION: &str = "2021-01-11";
const CONTENT_TYPE: &str = "application/json; charset=utf-8";

pub struct Tencent {
    name: String,
    pub cfg: Settings,
    host: String,
    client: reqwest::Client,
    clock: Clock,
    /// Where lost answers are noted: the database, once the app shares it.
    ledger: OnceLock<Arc<dyn SendLedger>>,
    fallback: Arc<MemoryLedger>,
}

fn hmac256(key: &[u8], msg: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(msg.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The `Authorization` header of a POST to `host` with this body, at
/// `timestamp`: TC3-HMAC-SHA256 over `content-type;host`.
pub fn authorization(
    secret_id: &str,
    secret_key: &str,
    host: &str,
    content_type: &str,
    body: &str,
    timestamp: i64,
) -> String {
    let date = DateTime::from_timestamp(timestamp, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string();
    let canonical = format!(
        "POST\n/\n\ncontent-type:{content_type}\nhost:{host}\n\ncontent-type;host\n{}",
        hex(&Sha256::digest(body.as_bytes()))
    );
    let scope = format!("{date}/sms/tc3_request");
    let to_sign = format!(
        "TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let k_date = hmac256(format!("TC3{secret_key}").as_bytes(), &date);
    let k_service = hmac256(&k_date, "sms");
    let k_signing = hmac256(&k_service, "tc3_request");
    let signature = hex(&hmac256(&k_signing, &to_sign));
    format!(
        "TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders=content-type;host, Signature={signature}"
    )
}

#[derive(Deserialize, Default)]
struct Envelope {
    #[serde(rename = "Response", default)]
    response: Inner,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct Inner {
    #[serde(default)]
    error: Option<ApiError>,
    #[serde(default)]
    send_status_set: Vec<SendStatus>,
    #[serde(default)]
    pull_sms_send_status_set: Vec<Pulled>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "PascalCase")]
struct ApiError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "PascalCase")]
struct SendStatus {
    #[serde(default)]
    serial_no: String,
    #[serde(default)]
    phone_number: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct Pulled {
    #[serde(default)]
    user_receive_time: Option<i64>,
    #[serde(default)]
    serial_no: String,
    #[serde(default)]
    report_status: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    session_context: String,
}

const HELD: &str = "not sent again until Tencent's records (PullSmsSendStatusByPhoneNumber) show whether it took it";

/// What Tencent's code means for a send.
pub fn classify(name: &str, code: &str, message: &str, now: DateTime<Utc>) -> SendOutcome {
    let reason = format!("{name}: {code} {message}");
    let later = |d: Duration| SendOutcome::Transient {
        reason: reason.clone(),
        retry_after: Some(d),
    };
    match code {
        "LimitExceeded.PhoneNumberDailyLimit"
        | "LimitExceeded.PhoneNumberSameContentDailyLimit"
        | "LimitExceeded.AppDailyLimit"
        | "LimitExceeded.DailyLimit" => later(super::cloud::until_next_day(now)),
        "LimitExceeded.PhoneNumberThirtySecondLimit" => later(Duration::minutes(1)),
        "LimitExceeded.PhoneNumberOneHourLimit" | "LimitExceeded.DeliveryFrequencyLimit" => {
            later(Duration::hours(1))
        }
        // Promotional texts only 08:00-22:00 Beijing time.
        "FailedOperation.MarketingSendTimeConstraint" => later(Duration::hours(1)),
        c if c.starts_with("InternalError") || c == "RequestLimitExceeded" => {
            later(Duration::minutes(5))
        }
        "FailedOperation.InsufficientBalanceInSmsPackage"
        | "FailedOperation.SignatureIncorrectOrUnapproved"
        | "FailedOperation.TemplateIncorrectOrUnapproved"
        | "FailedOperation.TemplateParamSetNotMatchApprovedTemplate"
        | "InvalidParameterValue.SdkAppIdNotExist"
        | "InvalidParameterValue.TemplateParameterFormatError"
        | "InvalidParameterValue.TemplateParameterLengthLimit" => {
            SendOutcome::Misconfigured { reason }
        }
        c if c.starts_with("UnauthorizedOperation") || c.starts_with("AuthFailure") => {
            SendOutcome::Misconfigured { reason }
        }
        // An illegal number, a blacklisted one, content refused.
        _ => SendOutcome::Permanent { reason },
    }
}

impl Tencent {
    pub fn new(
        name: String,
        key: &str,
        g: &GatewayConfig,
        s: &Settings,
        clock: Clock,
    ) -> Result<Self, GatewayConfigError> {
        required(key, "base_url", &s.base_url)?;
        required(key, "secret_id", &s.secret_id)?;
        required(key, "secret_key", &s.secret_key)?;
        required(key, "sdk_app_id", &s.sdk_app_id)?;
        s.account().check(key)?;
        if s.report_wait_hours < 1 {
            return Err(GatewayConfigError::Invalid {
                key: format!("{key}.report_wait_hours"),
                reason: "must be at least 1".into(),
            });
        }
        let url = reqwest::Url::parse(&s.base_url).map_err(|e| GatewayConfigError::Invalid {
            key: format!("{key}.base_url"),
            reason: e.to_string(),
        })?;
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => {
                return Err(GatewayConfigError::Invalid {
                    key: format!("{key}.base_url"),
                    reason: "has no host".into(),
                })
            }
        };
        Ok(Self {
            name,
            cfg: s.clone(),
            host,
            client: client(g.timeout_seconds),
            clock,
            ledger: OnceLock::new(),
            fallback: Arc::new(MemoryLedger::default()),
        })
    }

    /// Calls one action; `Err` is the outcome of a failed call and
    /// whether it may have been taken.
    async fn call(
        &self,
        action: &str,
        body: &serde_json::Value,
    ) -> Result<Inner, (SendOutcome, bool)> {
        let body = body.to_string();
        let ts = self.clock.now().timestamp();
        let auth = authorization(
            &self.cfg.secret_id,
            &self.cfg.secret_key,
            &self.host,
            CONTENT_TYPE,
            &body,
            ts,
        );
        let res = self
            .client
            .post(format!("{}/", self.cfg.base_url.trim_end_matches('/')))
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .header(reqwest::header::HOST, &self.host)
            .header("X-TC-Action", action)
            .header("X-TC-Version", VERSION)
            .header("X-TC-Timestamp", ts.to_string())
            .header("X-TC-Region", &self.cfg.region)
            .header(reqwest::header::AUTHORIZATION, auth)
            .body(body)
            .send()
            .await;
        let res = match res {
            Ok(r) => r,
            Err(e) => {
                let lost = !e.is_connect();
                return Err((super::http::transport_error(&self.name, &e), lost));
            }
        };
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err((
                super::http::error_status(&self.name, status, &headers, &text),
                status.is_server_error(),
            ));
        }
        let Ok(env) = serde_json::from_str::<Envelope>(&text) else {
            return Err((
                SendOutcome::Transient {
                    reason: format!("{}: answer is not JSON", self.name),
                    retry_after: None,
                },
                true,
            ));
        };
        if let Some(e) = env.response.error {
            let lost = e.code.starts_with("InternalError");
            return Err((
                classify(&self.name, &e.code, &e.message, self.clock.now()),
                lost,
            ));
        }
        Ok(env.response)
    }

    fn ledger(&self) -> Arc<dyn SendLedger> {
        self.ledger
            .get()
            .cloned()
            .unwrap_or_else(|| self.fallback.clone())
    }

    /// What Tencent's records say of a message whose answer was lost in an
    /// attempt that began at `since`.
    ///
    /// `PullSmsSendStatusByPhoneNumber` lists her number's records from
    /// `BeginTime` (at most 7 days back), each with the `SerialNo` its send
    /// returned; `SessionContext` is empty there unless Tencent support
    /// turns the echo on, and a record exists only once the operator has
    /// reported (tencentcloud-sdk-python `sms/v20210111/models.py`,
    /// `PullSmsSendStatus`, `PullSmsSendStatusByPhoneNumberRequest`). So a
    /// record whose SerialNo no message of ours carries is the send whose
    /// answer was lost; no record means "not taken" only once the report
    /// window has passed.
    async fn settle_doubt(
        &self,
        msg: &OutgoingMessage,
        since: DateTime<Utc>,
    ) -> Result<Doubt, String> {
        let now = self.clock.now();
        let oldest = now - Duration::days(PULL_DAYS) + Duration::minutes(1);
        if since < oldest {
            return Ok(Doubt::Taken(SendOutcome::Permanent {
                reason: format!(
                    "{}: an attempt whose answer was lost is older than the {PULL_DAYS} days Tencent's records cover: it cannot be told whether it was taken, so it is not sent again",
                    self.name
                ),
            }));
        }
        let body = serde_json::json!({
            "BeginTime": (since - Duration::minutes(5)).max(oldest).timestamp(),
            "EndTime": now.timestamp(),
            "Offset": 0,
            "Limit": PULL_LIMIT,
            "PhoneNumber": msg.to,
            "SmsSdkAppId": self.cfg.sdk_app_id,
        });
        let records = self
            .call("PullSmsSendStatusByPhoneNumber", &body)
            .await
            .map_err(|(o, _)| format!("{o:?}"))?
            .pull_sms_send_status_set;
        let taken = |p: &Pulled| {
            Doubt::Taken(if p.report_status.eq_ignore_ascii_case("FAIL") {
                SendOutcome::Permanent {
                    reason: format!(
                        "{}: taken by an earlier attempt, which failed: {}",
                        self.name, p.description
                    ),
                }
            } else {
                SendOutcome::Sent {
                    provider_id: Some(p.serial_no.clone()),
                }
            })
        };
        // Where Tencent support turned the echo on: our own id.
        let ours = wire_id(msg.id);
        if let Some(p) = records.iter().find(|p| p.session_context == ours) {
            return Ok(taken(p));
        }
        // By default: a SerialNo no message of ours is recorded with.
        let mut anonymous: Vec<&Pulled> = records
            .iter()
            .filter(|p| p.session_context.is_empty() && !p.serial_no.is_empty())
            .collect();
        let serials: Vec<String> = anonymous.iter().map(|p| p.serial_no.clone()).collect();
        let known = self.ledger().recorded(&self.name, &serials).await?;
        anonymous.retain(|p| !known.contains(&p.serial_no));
        anonymous.sort_by_key(|p| p.user_receive_time);
        if let Some(p) = anonymous.first() {
            return Ok(taken(p));
        }
        let window = Duration::hours(self.cfg.report_wait_hours);
        if now >= since + window && records.len() < PULL_LIMIT {
            return Ok(Doubt::NotTaken);
        }
        Ok(Doubt::Wait(next_check(since, now, window)))
    }

    /// An attempt whose answer was lost: noted, so that no process sends
    /// it again before Tencent's records settle it.
    async fn doubt(
        &self,
        msgs: &[&OutgoingMessage],
        since: DateTime<Utc>,
        why: String,
    ) -> SendOutcome {
        for m in msgs {
            if let Err(e) = self.ledger().doubt(&self.name, m.id, since).await {
                tracing::error!(message_id = m.id, gateway = %self.name, error = %e, "a lost answer could not be noted");
                return SendOutcome::Permanent {
                    reason: format!(
                        "{why}: the answer was lost and could not be noted ({e}): not sent again, so never twice"
                    ),
                };
            }
        }
        SendOutcome::Transient {
            reason: format!("{why}: {HELD}"),
            retry_after: Some(next_check(
                since,
                self.clock.now(),
                Duration::hours(self.cfg.report_wait_hours),
            )),
        }
    }

    /// A message tried before whose answer was lost: what Tencent's records
    /// say decides whether it goes again. `None`: send it.
    async fn check_before_resending(&self, msg: &OutgoingMessage) -> Option<SendOutcome> {
        if msg.attempt <= 1 {
            return None;
        }
        let hold = |why: String| {
            Some(SendOutcome::Transient {
                reason: format!("{}: {HELD}; {why}", self.name),
                retry_after: Some(Duration::minutes(10)),
            })
        };
        let ledger = self.ledger();
        let since = match ledger.doubted_since(&self.name, msg.id).await {
            Ok(Some(since)) => since,
            // No earlier attempt may have been taken.
            Ok(None) => return None,
            Err(e) => return hold(format!("its notes could not be read: {e}")),
        };
        match self.settle_doubt(msg, since).await {
            Ok(Doubt::Taken(o)) => {
                tracing::info!(message_id = msg.id, gateway = %self.name, "an earlier attempt whose answer was lost was taken: not sent again");
                if let Err(e) = ledger.settle(&self.name, msg.id).await {
                    tracing::warn!(message_id = msg.id, error = %e, "a settled doubt could not be forgotten");
                }
                Some(o)
            }
            Ok(Doubt::Wait(d)) => Some(SendOutcome::Transient {
                reason: format!("{}: no record yet: {HELD}", self.name),
                retry_after: Some(d),
            }),
            Ok(Doubt::NotTaken) => match ledger.settle(&self.name, msg.id).await {
                Ok(()) => {
                    tracing::info!(message_id = msg.id, gateway = %self.name, "no record past the report window: not taken, sent again");
                    None
                }
                Err(e) => hold(format!("its notes could not be updated: {e}")),
            },
            Err(e) => hold(format!("the query failed: {e}")),
        }
    }

    /// One `SendSms` for messages sharing one template and its values.
    async fn send_group(&self, msgs: &[&OutgoingMessage]) -> Vec<SendOutcome> {
        let Some(t) = msgs.first().and_then(|m| m.sms_template.as_ref()) else {
            return vec![
                SendOutcome::Misconfigured {
                    reason: format!("{}: no approved template for this text", self.name),
                };
                msgs.len()
            ];
        };
        let body = serde_json::json!({
            "PhoneNumberSet": msgs.iter().map(|m| m.to.clone()).collect::<Vec<_>>(),
            "SmsSdkAppId": self.cfg.sdk_app_id,
            "SignName": self.cfg.sign_name,
            "TemplateId": t.code,
            "TemplateParamSet": template_param_set(&t.params),
            "SessionContext": if msgs.len() == 1 { wire_id(msgs[0].id) } else { String::new() },
        });
        let started = self.clock.now();
        match self.call("SendSms", &body).await {
            Ok(inner) => {
                // One status per number, in order: a number twice in the
                // call (a shared phone) takes its statuses in turn.
                let mut used = vec![false; inner.send_status_set.len()];
                let mut out = Vec::with_capacity(msgs.len());
                for m in msgs {
                    let found = inner
                        .send_status_set
                        .iter()
                        .enumerate()
                        .find(|(i, s)| !used[*i] && s.phone_number == m.to);
                    out.push(match found {
                        Some((i, s)) => {
                            used[i] = true;
                            if s.code == "Ok" {
                                SendOutcome::Accepted {
                                    provider_id: Some(s.serial_no.clone()),
                                }
                            } else {
                                classify(&self.name, &s.code, &s.message, self.clock.now())
                            }
                        }
                        None => {
                            self.doubt(
                                &[m],
                                started,
                                format!("{}: no status for this number", self.name),
                            )
                            .await
                        }
                    });
                }
                out
            }
            Err((SendOutcome::Transient { reason, .. }, true)) => {
                let o = self.doubt(msgs, started, reason).await;
                vec![o; msgs.len()]
            }
            Err((o, _)) => vec![o; msgs.len()],
        }
    }
}

/// Whether a send whose answer was lost was taken, as far as Tencent's
/// records tell now.
enum Doubt {
    Taken(SendOutcome),
    /// No record yet, and the report window is not over: look again then.
    Wait(Duration),
    /// No record past the report window: it was never taken.
    NotTaken,
}

/// When to look again at a send in doubt since `since`: soon (a message
/// delivered is reported within seconds), then less often, and last when
/// the report window ends.
fn next_check(since: DateTime<Utc>, now: DateTime<Utc>, window: Duration) -> Duration {
    let at = [
        Duration::minutes(10),
        Duration::hours(1),
        Duration::hours(6),
        Duration::hours(24),
        window,
    ]
    .into_iter()
    .filter(|d| *d <= window)
    .map(|d| since + d)
    .find(|t| *t > now)
    .unwrap_or(since + window);
    (at - now).max(Duration::minutes(1))
}

/// `TemplateParamSet` fills `{1}`, `{2}`, `{3}`… by position
/// (tencentcloud-sdk-python `sms/v20210111/models.py`, `SendSmsRequest`:
/// "模板参数的个数需要与 TemplateId 对应模板的变量个数保持一致"): the values in
/// the order of their numbers, whatever order they were mapped in, so the
/// text she gets is the one careminder filled and recorded.
pub fn template_param_set(params: &[(String, String)]) -> Vec<String> {
    let mut p: Vec<&(String, String)> = params.iter().collect();
    p.sort_by_key(|(k, _)| k.trim().parse::<u32>().unwrap_or(u32::MAX));
    p.into_iter().map(|(_, v)| v.clone()).collect()
}

#[async_trait]
impl Gateway for Tencent {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, msg: &OutgoingMessage) -> SendOutcome {
        if let Some(o) = self.check_before_resending(msg).await {
            return o;
        }
        self.send_group(&[msg]).await.remove(0)
    }

    fn batch_limit(&self) -> usize {
        BATCH_LIMIT
    }

    /// One call per template and set of values; a retry goes alone.
    fn batch_key(&self, msg: &OutgoingMessage) -> Option<String> {
        let t = msg.sms_template.as_ref()?;
        (msg.attempt <= 1)
            .then(|| serde_json::json!([t.code, template_param_set(&t.params)]).to_string())
    }

    async fn send_batch(&self, msgs: &[OutgoingMessage]) -> Vec<SendOutcome> {
        if msgs.len() == 1 {
            return vec![self.send(&msgs[0]).await];
        }
        self.send_group(&msgs.iter().collect::<Vec<_>>()).await
    }

    fn use_ledger(&self, ledger: Arc<dyn SendLedger>) {
        let _ = self.ledger.set(ledger);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_tencents_documented_example() {
        // The signing example of Tencent Cloud's API 3.0 documentation
        // (cvm, DescribeInstances), reproduced by the official SDK; only
        // the service name differs, so this checks the sms service's
        // vector computed by the SDK (tencentcloud-sdk-python-common).
        let body = r#"{"PhoneNumberSet":["+8613800000000"],"SmsSdkAppId":"1400000000","SignName":"测试","TemplateId":"123456","TemplateParamSet":["1234","5"],"SessionContext":"ctx-1"}"#;
        assert_eq!(
            authorization(
                "AKIDtest",
                "testkey",
                "sms.tencentcloudapi.com",
                "application/json",
                body,
                1796000000
            ),
            "TC3-HMAC-SHA256 Credential=AKIDtest/2026-11-30/sms/tc3_request, SignedHeaders=content-type;host, Signature=742babb4c0bb5897c6034102fe34506c5774e5199463933625e8ec8a5f9ea413"
        );
        assert!(authorization(
            "AKIDtest",
            "testkey",
            "sms.tencentcloudapi.com",
            "application/json; charset=utf-8",
            body,
            1796000000
        )
        .ends_with("Signature=5c005b2d9e75ab8a1dfd2c1e15e128fa0bed4835378d1dd68daf28361455e53a"));
    }

    #[test]
    fn values_go_by_their_number_and_doubts_are_looked_at_less_often() {
        let p = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(
            template_param_set(&[p("2", "b"), p("3", "c"), p("1", "a"), p("10", "j")]),
            vec!["a", "b", "c", "j"]
        );
        let since = DateTime::parse_from_rfc3339("2026-12-12T01:00:00Z")
            .unwrap()
            .to_utc();
        let window = Duration::hours(72);
        let at = |m: i64| since + Duration::minutes(m);
        assert_eq!(next_check(since, since, window), Duration::minutes(10));
        assert_eq!(next_check(since, at(10), window), Duration::minutes(50));
        assert_eq!(next_check(since, at(60), window), Duration::hours(5));
        assert_eq!(next_check(since, at(25 * 60), window), Duration::hours(47));
        assert_eq!(next_check(since, at(72 * 60), window), Duration::minutes(1));
        // A window shorter than a step ends the steps there.
        assert_eq!(
            next_check(since, at(70), Duration::hours(2)),
            Duration::minutes(50)
        );
    }

    #[test]
    fn codes_are_classified() {
        use SendOutcome::*;
        let now = DateTime::parse_from_rfc3339("2026-12-12T01:00:00Z")
            .unwrap()
            .to_utc();
        let c = |code: &str| classify("t", code, "", now);
        assert!(
            matches!(c("LimitExceeded.PhoneNumberDailyLimit"), Transient { retry_after: Some(d), .. } if d > Duration::minutes(1))
        );
        assert!(matches!(
            c("InvalidParameterValue.IncorrectPhoneNumber"),
            Permanent { .. }
        ));
        assert!(matches!(
            c("FailedOperation.PhoneNumberInBlacklist"),
            Permanent { .. }
        ));
        assert!(matches!(
            c("FailedOperation.InsufficientBalanceInSmsPackage"),
            Misconfigured { .. }
        ));
        assert!(matches!(
            c("FailedOperation.TemplateIncorrectOrUnapproved"),
            Misconfigured { .. }
        ));
        assert!(matches!(c("InternalError.Timeout"), Transient { .. }));
    }
}
