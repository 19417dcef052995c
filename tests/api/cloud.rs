//! China's cloud SMS providers, Aliyun and Tencent Cloud, against local
//! fake peers written from their documentation. Each fake checks every
//! request's signature with the provider's own official SDK (installed
//! from PyPI by the test set-up; see tests/fakes/*.py), so a request our
//! code signs wrongly, or one tampered with on the way, is refused there.

use crate::helpers::*;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use careminder::config::{ChannelSettings, Config};
use careminder::domain::GatewayKind;
use careminder::gateway::cloud::SystemTemplate;
use careminder::gateway::{aliyun, tencent, GatewayConfig};
use careminder::render::SmsVariant;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

const SECRET: &str = "callback-secret-0123456789";
const ALIYUN_SECRET: &str = "testsecret";
const TENCENT_KEY: &str = "testkey";

/// What the fake does with the next send.
#[derive(Clone, Debug)]
enum Script {
    /// Answers after the client has given up; keeps the message (it went out).
    HangTaken,
    /// Answers after the client has given up; the message never went out.
    HangDropped,
    /// Refuses with this code and message.
    Code(&'static str, &'static str),
}

/// A message the fake took: her number, its OutId (Aliyun) or
/// SessionContext (Tencent), the text she gets, its BizId/SerialNo, when.
#[derive(Clone, Debug)]
struct Taken {
    number: String,
    ctx: String,
    text: String,
    serial: String,
    at: DateTime<Utc>,
}

/// How long an operator takes to report a message delivered. Tencent keeps
/// a status record only once it has ("仅当运营商有返回短信接收状态时回包中才会有
/// 状态数据": tencentcloud-sdk-python sms/v20210111/models.py,
/// PullSmsSendStatus.ReportStatus).
const REPORTED_AFTER_SECONDS: i64 = 5;

#[derive(Default)]
struct Peer {
    /// Each call: its action and its parameters (Aliyun) or body (Tencent).
    calls: Mutex<Vec<(String, Value)>>,
    script: Mutex<VecDeque<Script>>,
    taken: Mutex<Vec<Taken>>,
    refused: Mutex<Vec<String>>,
    /// The provider's "now": the test's clock (the app's).
    clock: std::sync::OnceLock<careminder::clock::Clock>,
    /// Aliyun: every SignatureNonce seen.
    nonces: Mutex<std::collections::HashSet<String>>,
}

impl Peer {
    fn calls(&self, action: &str) -> Vec<Value> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(a, _)| a == action)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The provider's clock is the app's: timestamps are checked against it.
    fn set_clock(&self, t: &TestApp) {
        let _ = self.clock.set(t.clock.clone());
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.get().expect("peer.set_clock(&t)").now()
    }

    fn take(&self, number: &str, ctx: &str, text: &str, serial: String) {
        let at = self.now();
        self.taken.lock().unwrap().push(Taken {
            number: number.into(),
            ctx: ctx.into(),
            text: text.into(),
            serial,
            at,
        });
    }
}

/// Runs one of the SDK scripts off the runtime's thread.
async fn sdk(script: &'static str, input: Value) -> String {
    tokio::task::spawn_blocking(move || python(script, &input))
        .await
        .unwrap()
}

fn python(script: &str, input: &Value) -> String {
    use std::io::Write;
    let path = format!("{}/tests/fakes/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut child = std::process::Command::new("python3")
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{script}: the provider's SDK is missing (scripts/test.sh installs it)"
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

fn pairs(s: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str(s).unwrap_or_default()
}

/// Beijing's calendar date of an instant, as Aliyun's SendDate writes it.
fn beijing_date(t: DateTime<Utc>) -> chrono::NaiveDate {
    (t + Duration::hours(8)).date_naive()
}

/// Aliyun's RPC endpoint as its documentation describes it: parameters
/// from the query and the form body together, signature version 1
/// (checked by the official SDK), `Timestamp` within 15 minutes of the
/// server's time and each `SignatureNonce` used once
/// (help.aliyun.com/document_detail/48054.html: InvalidTimeStamp.Expired
/// "大于15分钟", SignatureNonceUsed "每次请求的SignatureNonce参数不能重复").
async fn aliyun_peer(State(p): State<Arc<Peer>>, uri: Uri, body: Bytes) -> Response {
    let mut params: BTreeMap<String, String> = pairs(uri.query().unwrap_or_default())
        .into_iter()
        .chain(pairs(std::str::from_utf8(&body).unwrap_or_default()))
        .collect();
    let refuse = |p: &Peer, code: &str, message: &str| {
        p.refused.lock().unwrap().push(code.to_string());
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"RequestId": "r", "HostId": "dysmsapi.aliyuncs.com", "Code": code, "Message": message})),
        )
            .into_response()
    };
    let given = params.remove("Signature").unwrap_or_default();
    let want = sdk(
        "aliyun_sign.py",
        json!({"method": "POST", "secret": ALIYUN_SECRET, "params": params}),
    )
    .await;
    if given != want {
        return refuse(
            &p,
            "SignatureDoesNotMatch",
            "Specified signature is not matched with our calculation.",
        );
    }
    let stamp = params
        .get("Timestamp")
        .map(String::as_str)
        .unwrap_or_default();
    let Ok(stamp) = chrono::NaiveDateTime::parse_from_str(stamp, "%Y-%m-%dT%H:%M:%SZ") else {
        return refuse(
            &p,
            "InvalidTimeStamp.Format",
            "Specified time stamp or date value is not well formatted.",
        );
    };
    if (stamp.and_utc() - p.now()).num_seconds().abs() > 15 * 60 {
        return refuse(
            &p,
            "InvalidTimeStamp.Expired",
            "Specified time stamp or date value is expired.",
        );
    }
    let nonce = params.get("SignatureNonce").cloned().unwrap_or_default();
    if nonce.is_empty() || !p.nonces.lock().unwrap().insert(nonce) {
        return refuse(
            &p,
            "SignatureNonceUsed",
            "Specified signature nonce was used already.",
        );
    }
    let action = params.get("Action").cloned().unwrap_or_default();
    p.calls
        .lock()
        .unwrap()
        .push((action.clone(), serde_json::to_value(&params).unwrap()));
    let ok = |biz: &str| {
        axum::Json(json!({"Message": "OK", "RequestId": "r", "BizId": biz, "Code": "OK"}))
            .into_response()
    };
    let invalid = |what: &str| {
        axum::Json(json!({"Code": "isv.INVALID_PARAMETERS", "Message": what, "RequestId": "r"}))
            .into_response()
    };
    match action.as_str() {
        "SendSms" => {
            let number = params["PhoneNumbers"].clone();
            let content = fill_aliyun(&params["TemplateParam"]);
            let out_id = params.get("OutId").cloned().unwrap_or_default();
            let biz = format!("{}^0", 900 + p.calls("SendSms").len());
            let next = p.script.lock().unwrap().pop_front();
            match next {
                Some(Script::HangTaken) => {
                    p.take(&number, &out_id, &content, biz);
                    tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                    ok("LATE^0")
                }
                Some(Script::HangDropped) => {
                    tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                    ok("LATE^0")
                }
                Some(Script::Code(code, message)) => {
                    axum::Json(json!({"Message": message, "RequestId": "r", "Code": code}))
                        .into_response()
                }
                None => {
                    p.take(&number, &out_id, &content, biz.clone());
                    ok(&biz)
                }
            }
        }
        "SendBatchSms" => {
            let numbers: Vec<String> = serde_json::from_str(&params["PhoneNumberJson"]).unwrap();
            let signs: Vec<String> = serde_json::from_str(&params["SignNameJson"]).unwrap();
            let values: Vec<Value> = serde_json::from_str(&params["TemplateParamJson"]).unwrap();
            if numbers.len() > 100 {
                return axum::Json(
                    json!({"Code": "isv.MOBILE_COUNT_OVER_LIMIT", "Message": "over 100"}),
                )
                .into_response();
            }
            assert_eq!((numbers.len(), signs.len()), (values.len(), values.len()));
            ok(&format!("B{}^0", p.calls("SendBatchSms").len()))
        }
        // help.aliyun.com/document_detail/419277.html: one number's sends
        // of one day, SendDate yyyyMMdd within the last 30 days, PageSize
        // 1~50, CurrentPage from 1, TotalCount over all pages.
        "QuerySendDetails" => {
            let Some(number) = params.get("PhoneNumber").filter(|n| !n.is_empty()) else {
                return invalid("PhoneNumber is mandatory");
            };
            let today = beijing_date(p.now());
            let date = params
                .get("SendDate")
                .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y%m%d").ok());
            let Some(date) = date.filter(|d| *d <= today && (today - *d).num_days() < 30) else {
                return invalid("SendDate: yyyyMMdd, within the last 30 days");
            };
            let size: usize = match params.get("PageSize").and_then(|s| s.parse().ok()) {
                Some(s) if (1..=50).contains(&s) => s,
                _ => return invalid("PageSize: 1~50"),
            };
            let page: usize = match params.get("CurrentPage").map(|s| s.parse()) {
                None => 1,
                Some(Ok(c)) if c >= 1 => c,
                _ => return invalid("CurrentPage: from 1"),
            };
            let all: Vec<Value> = p
                .taken
                .lock()
                .unwrap()
                .iter()
                .filter(|t| &t.number == number && beijing_date(t.at) == date)
                .map(|t| json!({"PhoneNum": t.number, "SendStatus": 1, "ErrCode": "", "OutId": t.ctx,
                    "Content": t.text, "TemplateCode": "SMS_100",
                    "SendDate": (t.at + Duration::hours(8)).format("%Y-%m-%d %H:%M:%S").to_string()}))
                .collect();
            let list: Vec<Value> = all
                .iter()
                .skip((page - 1) * size)
                .take(size)
                .cloned()
                .collect();
            axum::Json(json!({"Code": "OK", "Message": "OK", "RequestId": "r", "TotalCount": all.len(), "SmsSendDetailDTOs": {"SmsSendDetailDTO": list}})).into_response()
        }
        _ => axum::Json(json!({"Code": "InvalidApi.NotFound"})).into_response(),
    }
}

/// The text a template parameter set makes (for the fake's records).
fn fill_aliyun(params: &str) -> String {
    let v: BTreeMap<String, String> = serde_json::from_str(params).unwrap_or_default();
    format!(
        "【县妇幼】{}您好",
        v.get("name").cloned().unwrap_or_default()
    )
}

/// The templates the fake Tencent account has approved, by TemplateId.
fn tencent_templates() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        ("SMS_100", "{1}您好，请于{2}到{3}产检。"),
        ("SMS_200", "本周二{1}免费产检，欢迎前来。拒收请回复R"),
        ("SMS_REPLY", "您好，{1}"),
    ])
}

/// The text Tencent makes of a template and a TemplateParamSet: the n-th
/// value in place of `{n}` ("模板参数的个数需要与 TemplateId 对应模板的变量
/// 个数保持一致": models.py, SendSmsRequest.TemplateParamSet). `None`: the
/// count does not match.
fn fill_tencent(sign: &str, content: &str, values: &[String]) -> Option<String> {
    let count = careminder::domain::sms_template::variables(GatewayKind::Tencent, content).len();
    if count != values.len() {
        return None;
    }
    let mut text = content.to_string();
    for (i, v) in values.iter().enumerate() {
        text = text.replace(&format!("{{{}}}", i + 1), v);
    }
    Some(format!("【{sign}】{text}"))
}

/// The regions SMS 2021-01-11 serves (the 公共参数 page's 地域列表:
/// ap-beijing, ap-guangzhou, ap-nanjing); `X-TC-Region` is required
/// (tencentcloud.com/document/product/382/40466: "X-TC-Region String Yes").
const TENCENT_REGIONS: [&str; 3] = ["ap-beijing", "ap-guangzhou", "ap-nanjing"];

/// Tencent Cloud's API 3.0 endpoint: JSON, TC3-HMAC-SHA256 checked by the
/// official SDK, `X-TC-Timestamp` within five minutes of the server's time
/// (common error codes: "AuthFailure.SignatureExpire … cannot differ by
/// more than five minutes"), `X-TC-Region` required.
async fn tencent_peer(State(p): State<Arc<Peer>>, headers: HeaderMap, body: Bytes) -> Response {
    let h = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let error = |p: &Peer, code: &str, message: &str| {
        p.refused.lock().unwrap().push(code.to_string());
        axum::Json(
            json!({"Response": {"Error": {"Code": code, "Message": message}, "RequestId": "r"}}),
        )
        .into_response()
    };
    let payload = String::from_utf8(body.to_vec()).unwrap();
    let want = sdk(
        "tencent_sign.py",
        json!({"secret_id": "AKIDtest", "secret_key": TENCENT_KEY, "timestamp": h("x-tc-timestamp"),
                "host": h("host"), "content_type": h("content-type"), "payload": payload}),
    )
    .await;
    let action = h("x-tc-action");
    if h("authorization") != want || h("x-tc-version") != "2021-01-11" {
        return error(
            &p,
            "AuthFailure.SignatureFailure",
            "The provided credentials could not be validated.",
        );
    }
    let ts: i64 = h("x-tc-timestamp").parse().unwrap_or_default();
    if (ts - p.now().timestamp()).abs() > 300 {
        return error(
            &p,
            "AuthFailure.SignatureExpire",
            "Signature expired. Timestamp and server time cannot differ by more than five minutes.",
        );
    }
    match h("x-tc-region") {
        r if r.is_empty() => {
            return error(
                &p,
                "MissingParameter",
                "The request is missing X-TC-Region.",
            )
        }
        r if !TENCENT_REGIONS.contains(&r.as_str()) => {
            return error(
                &p,
                "UnsupportedRegion",
                "API does not support the requested region.",
            )
        }
        _ => {}
    }
    let req: Value = serde_json::from_str(&payload).unwrap();
    p.calls.lock().unwrap().push((action.clone(), req.clone()));
    let invalid = |p: &Peer, what: &str| error(p, "InvalidParameter.InvalidParameters", what);
    match action.as_str() {
        "SendSms" => {
            let numbers: Vec<String> =
                serde_json::from_value(req["PhoneNumberSet"].clone()).unwrap();
            if numbers.len() > 200 {
                return error(&p, "LimitExceeded.PhoneNumberCountLimit", "over 200");
            }
            let templates = tencent_templates();
            let Some(content) = templates.get(req["TemplateId"].as_str().unwrap_or_default())
            else {
                return error(
                    &p,
                    "FailedOperation.TemplateIncorrectOrUnapproved",
                    "模板未审批或内容不匹配",
                );
            };
            let values: Vec<String> =
                serde_json::from_value(req["TemplateParamSet"].clone()).unwrap_or_default();
            let sign = req["SignName"].as_str().unwrap_or_default();
            let Some(text) = fill_tencent(sign, content, &values) else {
                return error(
                    &p,
                    "FailedOperation.TemplateParamSetNotMatchApprovedTemplate",
                    "请求内容与审核通过的模板内容不匹配",
                );
            };
            // The send's answer echoes SessionContext ("server 会原样返回":
            // SendSmsRequest.SessionContext; SendStatus.SessionContext).
            let ctx = req["SessionContext"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let next = p.script.lock().unwrap().pop_front();
            if let Some(Script::Code(code, message)) = next {
                return axum::Json(json!({"Response": {"SendStatusSet": numbers.iter().map(|n| json!({"SerialNo": "", "PhoneNumber": n, "Fee": 0, "SessionContext": ctx, "Code": code, "Message": message, "IsoCode": "CN"})).collect::<Vec<_>>(), "RequestId": "r"}})).into_response();
            }
            if let Some(Script::HangDropped) = next {
                tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            }
            let set: Vec<Value> = numbers
                .iter()
                .map(|n| {
                    let serial = format!("2019:{}", p.taken.lock().unwrap().len() + 1);
                    p.take(n, &ctx, &text, serial.clone());
                    json!({"SerialNo": serial, "PhoneNumber": n, "Fee": 1, "SessionContext": ctx, "Code": "Ok", "Message": "send success", "IsoCode": "CN"})
                })
                .collect();
            if let Some(Script::HangTaken) = next {
                tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            }
            axum::Json(json!({"Response": {"SendStatusSet": set, "RequestId": "r"}}))
                .into_response()
        }
        // models.py, PullSmsSendStatusByPhoneNumberRequest: BeginTime (at
        // most 7 days back), Offset "目前固定设置为0", Limit "最多 100",
        // PhoneNumber in E.164; PullSmsSendStatus: a record once the
        // operator reported, SessionContext "默认为空" (no echo asked of
        // Tencent support here).
        "PullSmsSendStatusByPhoneNumber" => {
            let now = p.now().timestamp();
            let begin = req["BeginTime"].as_i64();
            if begin.is_none_or(|b| b < now - 7 * 86400) {
                return invalid(&p, "BeginTime: at most 7 days back");
            }
            if req["Offset"].as_i64() != Some(0) {
                return invalid(&p, "Offset: 0");
            }
            let limit = req["Limit"].as_u64().unwrap_or(0) as usize;
            if !(1..=100).contains(&limit) {
                return invalid(&p, "Limit: at most 100");
            }
            let number = req["PhoneNumber"].as_str().unwrap_or_default().to_string();
            if !number.starts_with('+') {
                return error(&p, "InvalidParameterValue.IncorrectPhoneNumber", "E.164");
            }
            let end = req["EndTime"].as_i64().unwrap_or(now);
            let set: Vec<Value> = p
                .taken
                .lock()
                .unwrap()
                .iter()
                .filter(|t| t.number == number)
                .filter(|t| (begin.unwrap()..=end).contains(&t.at.timestamp()))
                .filter(|t| t.at.timestamp() + REPORTED_AFTER_SECONDS <= now)
                .take(limit)
                .map(|t| {
                    json!({"UserReceiveTime": t.at.timestamp() + REPORTED_AFTER_SECONDS,
                    "CountryCode": "86", "SubscriberNumber": number.trim_start_matches("+86"),
                    "PhoneNumber": number, "SerialNo": t.serial, "ReportStatus": "SUCCESS",
                    "Description": "DELIVRD", "SessionContext": ""})
                })
                .collect();
            axum::Json(json!({"Response": {"PullSmsSendStatusSet": set, "RequestId": "r"}}))
                .into_response()
        }
        _ => error(&p, "InvalidAction", "no"),
    }
}

/// A fake peer of `provider` on a port of its own: its records and its URL.
async fn peer(provider: GatewayKind) -> (Arc<Peer>, String) {
    let peer = Arc::new(Peer::default());
    let handler = match provider {
        GatewayKind::Tencent => axum::routing::any(tencent_peer),
        _ => axum::routing::any(aliyun_peer),
    };
    let base = serve(
        axum::Router::new()
            .fallback(handler)
            .with_state(peer.clone()),
    )
    .await;
    (peer, base)
}

fn aliyun_settings(base_url: String) -> aliyun::Settings {
    aliyun::Settings {
        base_url,
        access_key_id: "testid".into(),
        access_key_secret: ALIYUN_SECRET.into(),
        sign_name: "县妇幼".into(),
        callback_secret: SECRET.into(),
        templates: BTreeMap::from([(
            "reply".to_string(),
            SystemTemplate {
                code: "SMS_REPLY".into(),
                content: "您好，${text}".into(),
                params: BTreeMap::from([("text".into(), "{{ text }}".into())]),
            },
        )]),
        ..Default::default()
    }
}

fn tencent_settings(base_url: String) -> tencent::Settings {
    tencent::Settings {
        base_url,
        secret_id: "AKIDtest".into(),
        secret_key: TENCENT_KEY.into(),
        sdk_app_id: "1400000000".into(),
        sign_name: "县妇幼".into(),
        callback_secret: SECRET.into(),
        ..Default::default()
    }
}

async fn cloud_app(channel: ChannelSettings, tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_with(
        |c| {
            c.gateway.channel = channel;
            // The fakes check each signature with the provider's SDK (a
            // Python process): room for that on a loaded machine.
            c.gateway.timeout_seconds = 20;
            c.public_url = "https://sms.example.org".into();
            tweak(c);
        },
        "2026-12-01 10:00",
    )
    .await
}

/// Maps every step of the active campaigns to an approved template of
/// `provider` (promotional for outreach).
async fn map_every_step(t: &TestApp, provider: GatewayKind) {
    let (name, date, clinic) = match provider {
        GatewayKind::Tencent => ("1", "2", "3"),
        _ => ("name", "date", "clinic"),
    };
    let var = |v: &str| match provider {
        GatewayKind::Tencent => format!("{{{v}}}"),
        _ => format!("${{{v}}}"),
    };
    for (c, _, status, outreach, _) in t.app.store.campaigns().await.unwrap() {
        if status != "active" {
            continue;
        }
        for s in t.app.store.active_steps().await.unwrap() {
            if s.campaign_key != c {
                continue;
            }
            let mut content = format!(
                "{}您好，请于{}到{}产检。",
                var(name),
                var(date),
                var(clinic)
            );
            if outreach {
                content.push_str("拒收请回复R");
            }
            let v = SmsVariant {
                step_id: 0,
                provider,
                code: "SMS_100".into(),
                content,
                params: vec![
                    (name.into(), "{{ name }}".into()),
                    (date.into(), "{{ date }}".into()),
                    (clinic.into(), "{{ clinic }}".into()),
                ],
                promotional: outreach,
            };
            t.app
                .sms_templates
                .set(&c, &s.key, provider, Some(v), "test")
                .await
                .unwrap();
        }
    }
}

async fn push(t: &TestApp, path: &str, secret: Option<&str>, body: Value) -> (u16, String) {
    let url = match secret {
        Some(s) => t.url(&format!("{path}?secret={s}")),
        None => t.url(path),
    };
    let r = t.client.post(url).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn reminder(t: &TestApp, w: i64) -> careminder::store::OutboxListRow {
    t.outbox_of(w)
        .await
        .into_iter()
        .find(|m| m.step.as_deref() == Some("checkup-reminders/before-3d"))
        .expect("the 3-day reminder")
}

/// An app on `provider` (its fake beside it), every step mapped, and her
/// first reminder sent: the peer, its URL, the app, her id, the message.
async fn first_reminder(
    provider: GatewayKind,
) -> (
    Arc<Peer>,
    String,
    TestApp,
    i64,
    careminder::store::OutboxListRow,
) {
    let (peer, base) = peer(provider).await;
    let channel = match provider {
        GatewayKind::Tencent => ChannelSettings::Tencent(tencent_settings(base.clone())),
        _ => ChannelSettings::Aliyun(aliyun_settings(base.clone())),
    };
    let t = cloud_app(channel, |_| {}).await;
    peer.set_clock(&t);
    map_every_step(&t, provider).await;
    let w = t
        .enroll("王秀英", "13812345678", "2026-09-22")
        .await
        .woman_id();
    t.at("2026-12-12 09:00");
    t.tick().await;
    let m = reminder(&t, w).await;
    assert_eq!(m.status, "accepted", "{:?}", m.status_cause);
    assert_eq!(
        peer.calls("SendSms").len(),
        1,
        "one SendSms, signed as the SDK signs"
    );
    (peer, base, t, w, m)
}

#[tokio::test]
async fn aliyun_sends_signed_templates_and_takes_pushed_receipts_and_replies() {
    let (peer, base, t, w, m) = first_reminder(GatewayKind::Aliyun).await;
    let sends = peer.calls("SendSms");
    let s = &sends[0];
    assert_eq!(s["PhoneNumbers"], "13812345678");
    assert_eq!(s["SignName"], "县妇幼");
    assert_eq!(s["TemplateCode"], "SMS_100");
    assert_eq!(s["OutId"], format!("cm-{}", m.id));
    assert_eq!(s["Version"], "2017-05-25");
    let values: Value = serde_json::from_str(s["TemplateParam"].as_str().unwrap()).unwrap();
    assert_eq!(values["name"], "王秀英");
    assert_eq!(values["clinic"], t.app.config.clinic_for(Some("V001")));
    // What she reads is what was recorded: the signature and the filled template.
    let body = m.body.unwrap();
    assert!(body.starts_with("【县妇幼】王秀英您好，请于"), "{body}");

    // A request tampered with on the way is refused by the fake (and so by Aliyun).
    let mut tampered: Vec<(String, String)> =
        serde_json::from_value::<BTreeMap<String, String>>(s.clone())
            .unwrap()
            .into_iter()
            .collect();
    let sig = careminder::gateway::aliyun::signature("POST", ALIYUN_SECRET, &tampered);
    for (k, v) in tampered.iter_mut() {
        if k == "PhoneNumbers" {
            *v = "13900000000".into();
        }
    }
    tampered.push(("Signature".into(), sig));
    let r = reqwest::Client::new()
        .post(format!("{base}/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(&tampered).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("SignatureDoesNotMatch"));

    // Receipts: refused without the URL's secret; recorded once, however often pushed.
    let report = json!([{"phone_number": "13812345678", "send_time": "2026-12-12 09:00:01",
        "report_time": "2026-12-12 09:00:05", "success": true, "err_code": "DELIVERED",
        "err_msg": "用户接收成功", "sms_size": "1", "biz_id": "901^0", "out_id": format!("cm-{}", m.id)}]);
    assert_eq!(
        push(&t, "/webhooks/aliyun/report", None, report.clone())
            .await
            .0,
        403
    );
    assert_eq!(
        push(&t, "/webhooks/aliyun/report", Some("guess"), report.clone())
            .await
            .0,
        403
    );
    assert_eq!(reminder(&t, w).await.status, "accepted");
    for _ in 0..2 {
        let (status, answer) =
            push(&t, "/webhooks/aliyun/report", Some(SECRET), report.clone()).await;
        assert_eq!(status, 200);
        assert_eq!(serde_json::from_str::<Value>(&answer).unwrap()["code"], 0);
    }
    assert_eq!(reminder(&t, w).await.status, "delivered");

    // Her reply "R" (the opt-out word of promotional texts) stops everything;
    // the answer goes out under the account's reply template.
    let up = json!([{"phone_number": "13812345678", "send_time": "2026-12-12 09:05:00",
        "content": "R", "sign_name": "县妇幼", "dest_code": "1234", "sequence_id": 1234567890u64}]);
    let (status, answer) = push(&t, "/webhooks/aliyun/reply", Some(SECRET), up.clone()).await;
    assert_eq!(
        (status, answer.contains("\"code\":0")),
        (200, true),
        "{answer}"
    );
    push(&t, "/webhooks/aliyun/reply", Some(SECRET), up).await;
    assert!(t.app.store.woman(w).await.unwrap().opted_out_at.is_some());
    t.tick().await;
    let replies: Vec<Value> = peer
        .calls("SendSms")
        .into_iter()
        .filter(|c| c["TemplateCode"] == "SMS_REPLY")
        .collect();
    assert_eq!(replies.len(), 1, "one answer to one reply pushed twice");
    assert!(
        peer.refused.lock().unwrap().len() == 1,
        "only the tampered request was refused"
    );
}

#[tokio::test]
async fn a_broadcast_to_250_women_goes_in_3_aliyun_batches_and_2_tencent_calls() {
    for provider in [GatewayKind::Aliyun, GatewayKind::Tencent] {
        let (peer, base) = peer(provider).await;
        let channel = match provider {
            GatewayKind::Aliyun => ChannelSettings::Aliyun(aliyun_settings(base)),
            _ => ChannelSettings::Tencent(tencent_settings(base)),
        };
        let t = cloud_app(channel, |c| c.dispatcher.batch_size = 500).await;
        peer.set_clock(&t);
        for (c, ..) in t.app.store.campaigns().await.unwrap() {
            t.app
                .store
                .set_campaign_status(&c, "paused", t.clock.now())
                .await
                .unwrap();
        }
        for i in 0..250 {
            t.enroll(
                &format!("女{i:03}"),
                &format!("1380000{i:04}"),
                "2026-09-22",
            )
            .await;
        }
        let (content, params) = match provider {
            // Aliyun: each woman's own name in place.
            GatewayKind::Aliyun => (
                "${name}您好，本周二免费产检，欢迎前来。拒收请回复R",
                vec![("name".to_string(), "{{ name }}".to_string())],
            ),
            // Tencent: one set of values per call.
            _ => (
                "本周二{1}免费产检，欢迎前来。拒收请回复R",
                vec![("1".to_string(), "{{ clinic }}".to_string())],
            ),
        };
        let mut b = careminder::services::broadcasts::NewBroadcast {
            name: "周二免费产检".into(),
            audience: Default::default(),
            texts: BTreeMap::from([("zh-CN".to_string(), "本周二免费产检".to_string())]),
            send_at: t.local("2026-12-01 10:30"),
            cron: None,
            grace_hours: None,
            sms_templates: vec![],
        };
        let refused = t
            .app
            .broadcasts
            .create(&b, "test")
            .await
            .unwrap_err()
            .to_string();
        assert!(refused.contains(provider.as_str()), "{refused}");
        b.sms_templates = vec![SmsVariant {
            step_id: 0,
            provider,
            code: "SMS_200".into(),
            content: content.into(),
            params,
            promotional: true,
        }];
        let (id, preview) = t.app.broadcasts.create(&b, "test").await.unwrap();
        assert_eq!(preview.recipients, 250);
        t.app.broadcasts.publish(id, "test").await.unwrap();
        t.at("2026-12-01 10:31");
        t.tick().await;
        let calls = match provider {
            GatewayKind::Aliyun => peer.calls("SendBatchSms"),
            _ => peer.calls("SendSms"),
        };
        let sizes: Vec<usize> = calls
            .iter()
            .map(|c| match provider {
                GatewayKind::Aliyun => {
                    serde_json::from_str::<Vec<String>>(c["PhoneNumberJson"].as_str().unwrap())
                        .unwrap()
                        .len()
                }
                _ => c["PhoneNumberSet"].as_array().unwrap().len(),
            })
            .collect();
        match provider {
            GatewayKind::Aliyun => {
                assert_eq!(sizes.iter().sum::<usize>(), 250);
                assert_eq!(calls.len(), 3, "{sizes:?}");
                for c in &calls {
                    let numbers: Vec<String> =
                        serde_json::from_str(c["PhoneNumberJson"].as_str().unwrap()).unwrap();
                    let values: Vec<Value> =
                        serde_json::from_str(c["TemplateParamJson"].as_str().unwrap()).unwrap();
                    for (n, v) in numbers.iter().zip(&values) {
                        // 1380000NNNN is 女NNN: her own name beside her own number.
                        let i: usize = n[7..].parse().unwrap();
                        assert_eq!(v["name"], format!("女{i:03}"));
                    }
                    assert_eq!(c["TemplateCode"], "SMS_200");
                }
            }
            _ => {
                let mut sizes = sizes;
                sizes.sort_unstable();
                assert_eq!(sizes, vec![50, 200], "two calls, whichever ends first");
                for c in &calls {
                    assert_eq!(c["TemplateId"], "SMS_200");
                    assert_eq!(
                        c["TemplateParamSet"],
                        json!([t.app.config.clinic_for(Some("V001"))])
                    );
                    assert_eq!(c["SignName"], "县妇幼");
                }
            }
        }
        let handed: usize = t
            .app
            .store
            .status_counts(None)
            .await
            .unwrap()
            .iter()
            .filter(|c| c.status.handed_over())
            .map(|c| c.count as usize)
            .sum();
        assert_eq!(
            handed,
            250,
            "{}: {:?}",
            provider.as_str(),
            t.app
                .store
                .list_outbox(&Default::default())
                .await
                .unwrap()
                .first()
        );
    }
}

#[tokio::test]
async fn a_lost_answer_is_not_sent_again_until_the_provider_says_it_never_took_it() {
    let (peer, base) = peer(GatewayKind::Aliyun).await;
    let t = cloud_app(ChannelSettings::Aliyun(aliyun_settings(base)), |c| {
        // The fake never answers the two lost sends: they time out.
        c.gateway.timeout_seconds = 4;
        c.dispatcher.concurrency = 1
    })
    .await;
    peer.set_clock(&t);
    map_every_step(&t, GatewayKind::Aliyun).await;
    // Two women due at once: Aliyun took the first's message and lost the
    // answer; it never took the second's.
    let a = t.enroll("甲", "13812340001", "2026-09-22").await.woman_id();
    let b = t.enroll("乙", "13812340002", "2026-09-22").await.woman_id();
    peer.script
        .lock()
        .unwrap()
        .extend([Script::HangTaken, Script::HangDropped]);
    t.at("2026-12-12 09:00");
    t.tick().await;
    for w in [a, b] {
        let m = reminder(&t, w).await;
        assert_eq!(m.status, "scheduled");
        assert!(
            m.status_cause
                .as_deref()
                .unwrap_or_default()
                .contains("not sent again until QuerySendDetails"),
            "{:?}",
            m.status_cause
        );
    }
    assert_eq!(peer.calls("SendSms").len(), 2);
    // Nothing is tried again before the wait is over.
    t.clock.advance(Duration::minutes(5));
    t.tick().await;
    assert_eq!(peer.calls("QuerySendDetails").len(), 0);
    t.clock.advance(Duration::minutes(10));
    t.tick().await;
    let queries = peer.calls("QuerySendDetails");
    for n in ["13812340001", "13812340002"] {
        assert!(
            queries
                .iter()
                .any(|q| q["PhoneNumber"] == n && q["SendDate"] == "20261212"),
            "asked about {n} first: {queries:?}"
        );
    }
    let sends: Vec<Value> = peer.calls("SendSms");
    let to = |n: &str| sends.iter().filter(|s| s["PhoneNumbers"] == n).count();
    assert_eq!(to("13812340001"), 1, "taken before: not sent twice");
    assert_eq!(to("13812340002"), 2, "never taken: sent again");
    assert_eq!(reminder(&t, a).await.status, "accepted");
    assert_eq!(reminder(&t, b).await.status, "accepted");
}

#[tokio::test]
async fn provider_error_classes_retry_fail_opt_out_or_fail_over() {
    let (peer, base) = peer(GatewayKind::Aliyun).await;
    let t = cloud_app(ChannelSettings::Aliyun(aliyun_settings(base)), |c| {
        c.gateway.failover = Some("mock".into());
        c.dispatcher.concurrency = 1;
    })
    .await;
    peer.set_clock(&t);
    staff(&t, "ADMIN1", "13900000009", "admin", None, "T01").await;
    map_every_step(&t, GatewayKind::Aliyun).await;
    let phones = ["13812340001", "13812340002", "13812340003", "13812340004"];
    let mut women = vec![];
    for (i, p) in phones.iter().enumerate() {
        women.push(
            t.enroll(&format!("女{i}"), p, "2026-09-22")
                .await
                .woman_id(),
        );
    }
    peer.script.lock().unwrap().extend([
        Script::Code("isv.BUSINESS_LIMIT_CONTROL", "触发号码天级流控Permits:40"),
        Script::Code("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号"),
        Script::Code("isv.CUSTOMER_REFUSED", "用户已退订推广短信"),
        Script::Code("isv.AMOUNT_NOT_ENOUGH", "账户余额不足"),
    ]);
    t.at("2026-12-12 09:00");
    t.tick().await;
    let msgs = futures::future::join_all(women.iter().map(|w| reminder(&t, *w))).await;
    let mut by_status: Vec<(String, String)> = msgs
        .iter()
        .map(|m| (m.status.clone(), m.status_cause.clone().unwrap_or_default()))
        .collect();
    by_status.sort();
    let has = |status: &str, cause: &str| {
        by_status
            .iter()
            .any(|(s, c)| s == status && c.contains(cause))
    };
    // Flow control for the day: tomorrow.
    assert!(has("scheduled", "BUSINESS_LIMIT_CONTROL"), "{by_status:?}");
    let later = msgs.iter().find(|m| m.status == "scheduled").unwrap();
    assert!(
        later.send_at >= t.local("2026-12-13 00:00"),
        "{}",
        t.fmt(later.send_at)
    );
    // An illegal number: failed for good.
    assert!(has("failed", "MOBILE_NUMBER_ILLEGAL"), "{by_status:?}");
    // She told the provider to stop: failed, and her opt-out recorded.
    assert!(has("failed", "CUSTOMER_REFUSED"), "{by_status:?}");
    assert!(t
        .app
        .store
        .woman(women[2])
        .await
        .unwrap()
        .opted_out_at
        .is_some());
    // No balance: through the failover at once, and the administrator told.
    let m = &msgs[3];
    assert!(
        ["accepted", "delivered"].contains(&m.status.as_str()),
        "{m:?}"
    );
    assert_eq!(m.gateway.as_deref(), Some("mock"));
    let history = t.app.store.events_of(m.id).await.unwrap();
    assert!(
        history.iter().any(|(_, _, c)| c
            .as_deref()
            .unwrap_or_default()
            .contains("AMOUNT_NOT_ENOUGH")),
        "{history:?}"
    );
    assert_eq!(t.sent_to("+8613812340004").len(), 1);
    t.tick().await;
    assert!(
        t.sent_to("+8613900000009")
            .iter()
            .any(|s| s.message.body.contains("AMOUNT_NOT_ENOUGH")),
        "the administrator hears of it"
    );
}

#[tokio::test]
async fn tencent_sends_signed_calls_and_takes_status_and_reply_callbacks() {
    let (peer, base, t, w, m) = first_reminder(GatewayKind::Tencent).await;
    let sends = peer.calls("SendSms");
    let s = &sends[0];
    assert_eq!(s["PhoneNumberSet"], json!(["+8613812345678"]));
    assert_eq!(s["SmsSdkAppId"], "1400000000");
    assert_eq!(s["TemplateId"], "SMS_100");
    assert_eq!(s["SessionContext"], format!("cm-{}", m.id));
    assert_eq!(s["TemplateParamSet"][0], "王秀英");
    assert!(peer.refused.lock().unwrap().is_empty());
    // A request tampered with on the way is refused by the fake.
    let host = base.trim_start_matches("http://");
    let ct = "application/json; charset=utf-8";
    let ts = t.clock.now().timestamp();
    let signed = s.to_string();
    let auth = tencent::authorization("AKIDtest", TENCENT_KEY, host, ct, &signed, ts);
    let r = reqwest::Client::new()
        .post(format!("{base}/"))
        .header("content-type", ct)
        .header("x-tc-action", "SendSms")
        .header("x-tc-version", "2021-01-11")
        .header("x-tc-timestamp", ts.to_string())
        .header("authorization", auth)
        .body(signed.replace("+8613812345678", "+8613900000000"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(r.contains("AuthFailure.SignatureFailure"), "{r}");

    let status = json!([{"user_receive_time": "2026-12-12 09:00:05", "nationcode": "86",
        "mobile": "13812345678", "report_status": "SUCCESS", "errmsg": "DELIVRD",
        "description": "用户短信送达成功", "sid": "2019:1"}]);
    assert_eq!(
        push(&t, "/webhooks/tencent/status", Some("nope"), status.clone())
            .await
            .0,
        403
    );
    let (code, answer) = push(&t, "/webhooks/tencent/status", Some(SECRET), status).await;
    assert_eq!(code, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&answer).unwrap(),
        json!({"result": 0, "errmsg": "OK"})
    );
    assert_eq!(reminder(&t, w).await.status, "delivered");

    let reply = json!({"extend": "", "mobile": "13812345678", "nationcode": "86",
        "sign": "县妇幼", "text": "帮助", "time": t.clock.now().timestamp()});
    assert_eq!(
        push(&t, "/webhooks/tencent/reply", Some(SECRET), reply.clone())
            .await
            .0,
        200
    );
    assert_eq!(
        push(&t, "/webhooks/tencent/reply", Some(SECRET), reply)
            .await
            .0,
        200
    );
    let conv = t.app.store.conversation(w).await.unwrap();
    assert_eq!(
        conv.iter()
            .filter(|c| c.direction == "in" && c.text.as_deref() == Some("帮助"))
            .count(),
        1,
        "a push repeated is one reply"
    );
}

#[tokio::test]
async fn templates_are_checked_when_saved_never_at_send_time() {
    let t = cloud_app(
        ChannelSettings::Aliyun(aliyun_settings("http://127.0.0.1:9".into())),
        |_| {},
    )
    .await;
    // A campaign is not published while a step has no template.
    let e = t
        .app
        .campaigns
        .set_state(
            "checkup-reminders",
            careminder::services::campaigns::CampaignState::Active,
            "test",
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("checkup-reminders/") && e.contains("gateway default (aliyun)"),
        "{e}"
    );
    let ok = SmsVariant {
        step_id: 0,
        provider: GatewayKind::Aliyun,
        code: "SMS_100".into(),
        content: "${name}您好，请于${date}到${clinic}产检。".into(),
        params: vec![
            ("name".into(), "{{ name }}".into()),
            ("date".into(), "{{ date }}".into()),
            ("clinic".into(), "{{ clinic }}".into()),
        ],
        promotional: false,
    };
    let set = |v: SmsVariant| {
        let t = &t;
        async move {
            t.app
                .sms_templates
                .set(
                    "checkup-reminders",
                    "before-3d",
                    GatewayKind::Aliyun,
                    Some(v),
                    "test",
                )
                .await
                .map_err(|e| e.to_string())
        }
    };
    let sample = set(ok.clone()).await.unwrap().unwrap();
    assert!(sample.starts_with("【县妇幼】王秀英您好"), "{sample}");
    let mut unmapped = ok.clone();
    unmapped.params.pop();
    assert!(set(unmapped).await.unwrap_err().contains("${clinic}"));
    let mut extra = ok.clone();
    extra.params.push(("weeks".into(), "{{ weeks }}".into()));
    assert!(set(extra).await.unwrap_err().contains("weeks"));
    let mut long = ok.clone();
    long.params[0].1 = "{{ name }}{{ name }}{{ name }}{{ name }}{{ name }}{{ name }}{{ name }}{{ name }}{{ name }}{{ name }}{{ name }}{{ name }}".into();
    assert!(set(long).await.unwrap_err().contains("at most 35"));
    let mut broken = ok.clone();
    broken.params[0].1 = "{{ nmae }}".into();
    assert!(set(broken).await.unwrap_err().contains("name"));
    let mut too_long = ok.clone();
    too_long.content = format!("{}{}", ok.content, "请按时来。".repeat(140));
    assert!(set(too_long).await.unwrap_err().contains("SMS parts"));
    let mut promo = ok.clone();
    promo.promotional = true;
    assert!(set(promo).await.unwrap_err().contains("拒收请回复R"));
    // Free-text kinds take no templates; a provider not configured neither.
    let e = t
        .app
        .sms_templates
        .set(
            "checkup-reminders",
            "before-3d",
            GatewayKind::Tencent,
            Some(SmsVariant {
                provider: GatewayKind::Tencent,
                ..ok.clone()
            }),
            "test",
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("tencent"), "{e}");

    // An unknown key, a missing secret: refused at start with their names.
    let mut g = GatewayConfig::new(ChannelSettings::Aliyun(aliyun::Settings {
        callback_secret: "short".into(),
        ..aliyun_settings("http://127.0.0.1:9".into())
    }));
    g.max_parts = 3;
    let e = careminder::gateway::Gateways::build(
        &g,
        &Default::default(),
        &Default::default(),
        "",
        t.clock.clone(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("callback_secret"), "{e}");
}

/// Tencent's settings with an answer template (`templates.reply`).
fn tencent_with_reply(base_url: String) -> tencent::Settings {
    tencent::Settings {
        templates: BTreeMap::from([(
            "reply".to_string(),
            SystemTemplate {
                code: "SMS_REPLY".into(),
                content: "您好，{1}".into(),
                params: BTreeMap::from([("1".into(), "{{ text }}".into())]),
            },
        )]),
        ..tencent_settings(base_url)
    }
}

/// An app on a fake Tencent whose lost answers time out in 4 seconds.
async fn tencent_app(settings: impl FnOnce(String) -> tencent::Settings) -> (Arc<Peer>, TestApp) {
    let (peer, base) = peer(GatewayKind::Tencent).await;
    let t = cloud_app(ChannelSettings::Tencent(settings(base)), |c| {
        c.gateway.timeout_seconds = 4;
        c.dispatcher.concurrency = 1;
    })
    .await;
    peer.set_clock(&t);
    (peer, t)
}

#[tokio::test]
async fn tencent_a_lost_answer_is_found_by_a_serial_no_message_carries_and_not_sent_twice() {
    // Tencent echoes SessionContext in the send's own answer only: in
    // PullSmsSendStatusByPhoneNumber it is "默认为空，如需开通请联系腾讯云短信小助手"
    // (tencentcloud-sdk-python sms/v20210111/models.py, PullSmsSendStatus
    // .SessionContext), and a record exists once the operator reported
    // (…ReportStatus: "仅当运营商有返回短信接收状态时回包中才会有状态数据"). What
    // is echoed per number is the SerialNo (SendStatus.SerialNo): the lost
    // send is the record whose SerialNo no message of ours carries.
    let (peer, t) = tencent_app(tencent_with_reply).await;
    map_every_step(&t, GatewayKind::Tencent).await;
    let w = t
        .enroll("王秀英", "13812345678", "2026-09-22")
        .await
        .woman_id();
    // She wrote first: the answer went out and is recorded (2019:1).
    t.at("2026-12-12 08:50");
    let reply = json!({"extend": "", "mobile": "13812345678", "nationcode": "86",
        "sign": "县妇幼", "text": "帮助", "time": t.clock.now().timestamp()});
    assert_eq!(
        push(&t, "/webhooks/tencent/reply", Some(SECRET), reply)
            .await
            .0,
        200
    );
    t.tick().await;
    assert_eq!(peer.calls("SendSms").len(), 1, "the answer to her text");
    // Tencent takes her reminder (2019:2) and the answer is lost.
    peer.script.lock().unwrap().push_back(Script::HangTaken);
    t.at("2026-12-12 09:00");
    t.tick().await;
    let m = reminder(&t, w).await;
    assert_eq!(m.status, "scheduled");
    assert!(
        m.status_cause
            .as_deref()
            .unwrap_or_default()
            .contains("PullSmsSendStatusByPhoneNumber"),
        "{:?}",
        m.status_cause
    );
    // The operator reports within seconds; careminder looks 10 minutes on.
    t.clock.advance(Duration::minutes(10));
    t.tick().await;
    assert_eq!(
        peer.calls("SendSms").len(),
        2,
        "taken before: not sent twice"
    );
    let pulls = peer.calls("PullSmsSendStatusByPhoneNumber");
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    assert_eq!(pulls[0]["PhoneNumber"], "+8613812345678");
    assert_eq!(pulls[0]["Offset"], 0);
    let m = reminder(&t, w).await;
    assert_eq!(m.status, "sent", "{:?}", m.status_cause);
    // Its SerialNo is the unrecorded one, not the answer's.
    assert_eq!(
        t.app
            .store
            .message_by_provider_id("default", "2019:2")
            .await
            .unwrap()
            .map(|(id, _)| id),
        Some(m.id)
    );
    assert!(peer.refused.lock().unwrap().is_empty());
}

#[tokio::test]
async fn tencent_no_record_means_not_taken_only_after_the_report_window_and_never_past_grace() {
    // No record may be an operator still to report: "not taken" only once
    // the report window (72 hours) has passed, and never past a message's grace.
    let (peer, t) = tencent_app(tencent_settings).await;
    map_every_step(&t, GatewayKind::Tencent).await;
    let w = t
        .enroll("王秀英", "13812345678", "2026-09-22")
        .await
        .woman_id();
    peer.script.lock().unwrap().push_back(Script::HangDropped);
    t.at("2026-12-12 09:00");
    t.tick().await;
    assert_eq!(reminder(&t, w).await.status, "scheduled");
    // Looked at 10 minutes, an hour and six hours on: nothing, not sent again.
    for at in ["2026-12-12 09:11", "2026-12-12 10:01", "2026-12-12 15:01"] {
        t.at(at);
        t.tick().await;
        assert_eq!(peer.calls("SendSms").len(), 1, "at {at}: not sent again");
    }
    assert_eq!(peer.calls("PullSmsSendStatusByPhoneNumber").len(), 3);
    // Its grace (24 hours) ends before the window: it expires unsent.
    let m = reminder(&t, w).await;
    assert_eq!(m.status, "expired", "{:?}", m.status_cause);
    let reminder_id = m.id;

    // A broadcast with four days' grace: sent again once the window is over.
    for (c, ..) in t.app.store.campaigns().await.unwrap() {
        t.app
            .store
            .set_campaign_status(&c, "paused", t.clock.now())
            .await
            .unwrap();
    }
    t.at("2026-12-13 10:00");
    let b = careminder::services::broadcasts::NewBroadcast {
        name: "周二免费产检".into(),
        audience: Default::default(),
        texts: BTreeMap::from([("zh-CN".to_string(), "本周二免费产检".to_string())]),
        send_at: t.local("2026-12-13 10:30"),
        cron: None,
        grace_hours: Some(96),
        sms_templates: vec![SmsVariant {
            step_id: 0,
            provider: GatewayKind::Tencent,
            code: "SMS_200".into(),
            content: "本周二{1}免费产检，欢迎前来。拒收请回复R".into(),
            params: vec![("1".to_string(), "{{ clinic }}".to_string())],
            promotional: true,
        }],
    };
    let (id, _) = t.app.broadcasts.create(&b, "test").await.unwrap();
    t.app.broadcasts.publish(id, "test").await.unwrap();
    peer.script.lock().unwrap().push_back(Script::HangDropped);
    t.at("2026-12-13 10:31");
    t.tick().await;
    assert_eq!(peer.calls("SendSms").len(), 2);
    for at in [
        "2026-12-13 10:42",
        "2026-12-13 11:32",
        "2026-12-13 16:32",
        "2026-12-14 10:32",
        "2026-12-16 10:30",
    ] {
        t.at(at);
        t.tick().await;
        assert_eq!(peer.calls("SendSms").len(), 2, "at {at}: not sent again");
    }
    t.at("2026-12-16 10:32");
    t.tick().await;
    assert_eq!(
        peer.calls("SendSms").len(),
        3,
        "no record in 72 hours: sent again"
    );
    let broadcast = t
        .outbox_of(w)
        .await
        .into_iter()
        .find(|m| m.id != reminder_id && m.body.as_deref().is_some_and(|b| b.contains("免费产检")))
        .expect("the broadcast's message");
    assert_eq!(broadcast.status, "accepted", "{:?}", broadcast.status_cause);
}

#[tokio::test]
async fn tencent_a_push_with_an_unknown_report_is_acknowledged_and_ours_recorded() {
    // One push holds up to 100 reports and a failed push is retried only
    // twice (cloud.tencent.com/document/api/382/59178, 常见问题 1, 2).
    let (peer, _base, t, w, _m) = first_reminder(GatewayKind::Tencent).await;
    let report = |sid: &str| {
        json!({"user_receive_time": "2026-12-12 09:00:05", "nationcode": "86",
            "mobile": "13812345678", "report_status": "SUCCESS", "errmsg": "DELIVRD",
            "description": "用户短信送达成功", "sid": sid})
    };
    let (code, answer) = push(
        &t,
        "/webhooks/tencent/status",
        Some(SECRET),
        json!([report("2019:999"), report("2019:1")]),
    )
    .await;
    assert_eq!(
        (code, answer.contains("\"result\":0")),
        (200, true),
        "{answer}"
    );
    assert_eq!(reminder(&t, w).await.status, "delivered");
    assert_eq!(
        t.app.store.early_reports("default").await.unwrap(),
        vec![("2019:999".to_string(), "delivered".to_string())],
        "the unknown one is kept for a send recorded later"
    );
    assert!(peer.refused.lock().unwrap().is_empty());
}

#[tokio::test]
async fn tencent_a_report_before_its_send_is_recorded_is_applied_when_it_is() {
    let (peer, t) = tencent_app(tencent_settings).await;
    map_every_step(&t, GatewayKind::Tencent).await;
    let w = t
        .enroll("王秀英", "13812345678", "2026-09-22")
        .await
        .woman_id();
    t.at("2026-12-12 09:00");
    // The report for the SerialNo the send will get (2019:1) comes first.
    let early = json!([{"user_receive_time": "2026-12-12 09:00:05", "nationcode": "86",
        "mobile": "13812345678", "report_status": "SUCCESS", "errmsg": "DELIVRD",
        "description": "用户短信送达成功", "sid": "2019:1"}]);
    assert_eq!(
        push(&t, "/webhooks/tencent/status", Some(SECRET), early)
            .await
            .0,
        200
    );
    t.tick().await;
    assert_eq!(peer.calls("SendSms").len(), 1);
    assert_eq!(reminder(&t, w).await.status, "delivered");
    assert!(t
        .app
        .store
        .early_reports("default")
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn tencent_values_go_in_the_templates_order_whatever_order_they_were_mapped_in() {
    // TemplateParamSet fills {1}, {2}, {3} by position (models.py,
    // SendSmsRequest.TemplateParamSet; the fake fills it so): mapped as
    // `--param 2=… --param 3=… --param 1=…`, she still gets the text
    // careminder previewed and recorded.
    let (peer, t) = tencent_app(tencent_settings).await;
    map_every_step(&t, GatewayKind::Tencent).await;
    t.app
        .sms_templates
        .set(
            "checkup-reminders",
            "before-3d",
            GatewayKind::Tencent,
            Some(SmsVariant {
                step_id: 0,
                provider: GatewayKind::Tencent,
                code: "SMS_100".into(),
                content: "{1}您好，请于{2}到{3}产检。".into(),
                params: vec![
                    ("2".into(), "{{ date }}".into()),
                    ("3".into(), "{{ clinic }}".into()),
                    ("1".into(), "{{ name }}".into()),
                ],
                promotional: false,
            }),
            "test",
        )
        .await
        .unwrap();
    let w = t
        .enroll("王秀英", "13812345678", "2026-09-22")
        .await
        .woman_id();
    t.at("2026-12-12 09:00");
    t.tick().await;
    let m = reminder(&t, w).await;
    assert_eq!(m.status, "accepted", "{:?}", m.status_cause);
    let got = peer.taken.lock().unwrap().last().unwrap().text.clone();
    assert!(got.starts_with("【县妇幼】王秀英您好，请于"), "{got}");
    assert_eq!(Some(got), m.body, "what she gets is what was recorded");
}

#[tokio::test]
async fn aliyun_push_urls_answer_the_consoles_get_check() {
    // The console tests a push URL before saving it and wants
    // {"code":0,"msg":"成功"} within 700 ms (help.aliyun.com/zh/pnvs/
    // developer-reference/message-receipts: "响应超时时间为700毫秒").
    let t = cloud_app(
        ChannelSettings::Aliyun(aliyun_settings("http://127.0.0.1:9".into())),
        |_| {},
    )
    .await;
    for path in ["/webhooks/aliyun/report", "/webhooks/aliyun/reply"] {
        let started = std::time::Instant::now();
        let r = t
            .client
            .get(t.url(&format!("{path}?secret={SECRET}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let body: Value = r.json().await.unwrap();
        assert!(started.elapsed() < std::time::Duration::from_millis(700));
        assert_eq!(body, json!({"code": 0, "msg": "成功"}), "{path}");
        let wrong = t
            .client
            .get(t.url(&format!("{path}?secret=guess")))
            .send()
            .await
            .unwrap();
        assert_eq!(
            wrong.status(),
            403,
            "{path}: a wrong secret fails the check"
        );
    }
}

#[tokio::test]
async fn aliyun_a_lost_answer_is_found_past_the_first_page_of_query_send_details() {
    // QuerySendDetails returns at most 50 records a page (PageSize 1~50;
    // help.aliyun.com/document_detail/419277.html): hers may be on page 2.
    let (peer, base) = peer(GatewayKind::Aliyun).await;
    let t = cloud_app(ChannelSettings::Aliyun(aliyun_settings(base)), |c| {
        c.gateway.timeout_seconds = 4;
        c.dispatcher.concurrency = 1
    })
    .await;
    peer.set_clock(&t);
    map_every_step(&t, GatewayKind::Aliyun).await;
    let w = t
        .enroll("王秀英", "13812345678", "2026-09-22")
        .await
        .woman_id();
    t.at("2026-12-12 09:00");
    // Sixty texts to her number today from elsewhere on the account.
    for i in 0..60 {
        peer.take(
            "13812345678",
            &format!("other-{i}"),
            "【县妇幼】通知",
            format!("{i}^0"),
        );
    }
    peer.script.lock().unwrap().push_back(Script::HangTaken);
    t.tick().await;
    assert_eq!(reminder(&t, w).await.status, "scheduled");
    t.clock.advance(Duration::minutes(15));
    t.tick().await;
    assert_eq!(
        peer.calls("SendSms").len(),
        1,
        "taken before: not sent twice"
    );
    let queries = peer.calls("QuerySendDetails");
    assert!(
        queries.iter().any(|q| q["CurrentPage"] == "2"),
        "{queries:?}"
    );
    assert_eq!(reminder(&t, w).await.status, "accepted");
    assert!(peer.refused.lock().unwrap().is_empty());
}

/// A request to the fake Aliyun signed as the SDK signs, with the given
/// common parameters changed.
async fn aliyun_call(base: &str, common: &[(&str, String)], action: &[(&str, &str)]) -> Value {
    let mut all: BTreeMap<String, String> = [
        ("AccessKeyId", "testid".to_string()),
        ("Format", "JSON".into()),
        ("RegionId", "cn-hangzhou".into()),
        ("SignatureMethod", "HMAC-SHA1".into()),
        ("SignatureVersion", "1.0".into()),
        ("Version", "2017-05-25".into()),
    ]
    .into_iter()
    .chain(common.iter().cloned())
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    all.extend(action.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let mut list: Vec<(String, String)> = all.into_iter().collect();
    let sig = aliyun::signature("POST", ALIYUN_SECRET, &list);
    list.push(("Signature".into(), sig));
    reqwest::Client::new()
        .post(format!("{base}/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(&list).unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A request to the fake Tencent signed as the SDK signs.
async fn tencent_call(
    base: &str,
    action: &str,
    body: &Value,
    ts: i64,
    region: Option<&str>,
) -> Value {
    let host = base.trim_start_matches("http://");
    let ct = "application/json; charset=utf-8";
    let payload = body.to_string();
    let auth = tencent::authorization("AKIDtest", TENCENT_KEY, host, ct, &payload, ts);
    let mut r = reqwest::Client::new()
        .post(format!("{base}/"))
        .header("content-type", ct)
        .header("x-tc-action", action)
        .header("x-tc-version", "2021-01-11")
        .header("x-tc-timestamp", ts.to_string())
        .header("authorization", auth);
    if let Some(region) = region {
        r = r.header("x-tc-region", region);
    }
    r.body(payload).send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn the_fakes_refuse_what_the_providers_refuse() {
    // The fakes check what the real services check, so that our requests
    // passing them means something.
    let t = spawn_app().await;
    let (ali, ali_base) = peer(GatewayKind::Aliyun).await;
    ali.set_clock(&t);
    let now = t.clock.now();
    let stamp = |d: Duration| (now + d).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let query = |size: &'static str, date: String| {
        vec![
            ("Action", "QuerySendDetails".to_string()),
            ("PhoneNumber", "13812345678".into()),
            ("SendDate", date),
            ("PageSize", size.to_string()),
            ("CurrentPage", "1".into()),
        ]
    };
    let today = (now + Duration::hours(8)).format("%Y%m%d").to_string();
    let code = |v: Value| v["Code"].as_str().unwrap_or_default().to_string();
    let call = |nonce: &str, d: Duration, q: Vec<(&'static str, String)>| {
        let common: Vec<(&str, String)> = [
            ("SignatureNonce", nonce.to_string()),
            ("Timestamp", stamp(d)),
        ]
        .into_iter()
        .collect();
        let base = ali_base.clone();
        async move {
            let action: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let mut common = common;
            common.extend(q.iter().filter(|(k, _)| *k == "Action").cloned());
            aliyun_call(&base, &common, &action).await
        }
    };
    assert_eq!(
        code(call("n1", Duration::zero(), query("50", today.clone())).await),
        "OK"
    );
    // A nonce used twice (a replayed request): help.aliyun.com/document_detail/48054.html.
    assert_eq!(
        code(call("n1", Duration::zero(), query("50", today.clone())).await),
        "SignatureNonceUsed"
    );
    // A Timestamp 20 minutes off.
    assert_eq!(
        code(call("n2", Duration::minutes(-20), query("50", today.clone())).await),
        "InvalidTimeStamp.Expired"
    );
    // PageSize over 50, a SendDate older than 30 days: 419277.html.
    assert_eq!(
        code(call("n3", Duration::zero(), query("100", today.clone())).await),
        "isv.INVALID_PARAMETERS"
    );
    let old = (now + Duration::hours(8) - Duration::days(40))
        .format("%Y%m%d")
        .to_string();
    assert_eq!(
        code(call("n4", Duration::zero(), query("50", old)).await),
        "isv.INVALID_PARAMETERS"
    );

    let (ten, ten_base) = peer(GatewayKind::Tencent).await;
    ten.set_clock(&t);
    let ts = now.timestamp();
    let err = |v: Value| {
        v["Response"]["Error"]["Code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let send = |params: Vec<&str>| {
        json!({"PhoneNumberSet": ["+8613812345678"], "SmsSdkAppId": "1400000000",
            "SignName": "县妇幼", "TemplateId": "SMS_100", "TemplateParamSet": params})
    };
    let region = Some("ap-guangzhou");
    assert_eq!(
        err(tencent_call(
            &ten_base,
            "SendSms",
            &send(vec!["王", "12月15日", "卫生院"]),
            ts,
            region
        )
        .await),
        ""
    );
    // X-TC-Timestamp six minutes off: AuthFailure.SignatureExpire.
    assert_eq!(
        err(tencent_call(
            &ten_base,
            "SendSms",
            &send(vec!["王", "12月15日", "卫生院"]),
            ts - 360,
            region
        )
        .await),
        "AuthFailure.SignatureExpire"
    );
    // No X-TC-Region (required for SMS 2021-01-11).
    assert_eq!(
        err(tencent_call(
            &ten_base,
            "SendSms",
            &send(vec!["王", "12月15日", "卫生院"]),
            ts,
            None
        )
        .await),
        "MissingParameter"
    );
    // Two values for a template of three variables.
    assert_eq!(
        err(tencent_call(
            &ten_base,
            "SendSms",
            &send(vec!["王", "12月15日"]),
            ts,
            region
        )
        .await),
        "FailedOperation.TemplateParamSetNotMatchApprovedTemplate"
    );
    // PullSmsSendStatusByPhoneNumber: Offset fixed at 0, Limit at most 100,
    // BeginTime at most 7 days back.
    let pull = |begin: i64, offset: i64, limit: i64| {
        json!({"BeginTime": begin, "Offset": offset, "Limit": limit,
            "PhoneNumber": "+8613812345678", "SmsSdkAppId": "1400000000"})
    };
    let day = 86400;
    for (body, what) in [
        (pull(ts - day, 1, 100), "Offset"),
        (pull(ts - day, 0, 101), "Limit"),
        (pull(ts - 8 * day, 0, 100), "BeginTime"),
    ] {
        assert_eq!(
            err(tencent_call(
                &ten_base,
                "PullSmsSendStatusByPhoneNumber",
                &body,
                ts,
                region
            )
            .await),
            "InvalidParameter.InvalidParameters",
            "{what}"
        );
    }
    // A record only once the operator reported, with no SessionContext.
    let fresh = tencent_call(
        &ten_base,
        "PullSmsSendStatusByPhoneNumber",
        &pull(ts - day, 0, 100),
        ts,
        region,
    )
    .await;
    assert_eq!(fresh["Response"]["PullSmsSendStatusSet"], json!([]));
    t.clock.advance(Duration::seconds(REPORTED_AFTER_SECONDS));
    let later = tencent_call(
        &ten_base,
        "PullSmsSendStatusByPhoneNumber",
        &pull(ts - day, 0, 100),
        t.clock.now().timestamp(),
        region,
    )
    .await;
    assert_eq!(
        later["Response"]["PullSmsSendStatusSet"][0]["SerialNo"],
        "2019:1"
    );
    assert_eq!(
        later["Response"]["PullSmsSendStatusSet"][0]["SessionContext"],
        ""
    );
}

#[tokio::test]
async fn aliyun_a_batch_receipt_before_its_send_is_recorded_is_applied_when_it_is() {
    // A SendBatchSms receipt names the batch's BizId and her number, no
    // OutId (help.aliyun.com/document_detail/101867.html, SmsReport): one
    // pushed before the batch's results are written is acknowledged and
    // applied when they are.
    let (peer, base) = peer(GatewayKind::Aliyun).await;
    let t = cloud_app(ChannelSettings::Aliyun(aliyun_settings(base)), |_| {}).await;
    peer.set_clock(&t);
    for (c, ..) in t.app.store.campaigns().await.unwrap() {
        t.app
            .store
            .set_campaign_status(&c, "paused", t.clock.now())
            .await
            .unwrap();
    }
    let a = t
        .enroll("女001", "13800000001", "2026-09-22")
        .await
        .woman_id();
    t.enroll("女002", "13800000002", "2026-09-22").await;
    let b = careminder::services::broadcasts::NewBroadcast {
        name: "周二免费产检".into(),
        audience: Default::default(),
        texts: BTreeMap::from([("zh-CN".to_string(), "本周二免费产检".to_string())]),
        send_at: t.local("2026-12-01 10:30"),
        cron: None,
        grace_hours: None,
        sms_templates: vec![SmsVariant {
            step_id: 0,
            provider: GatewayKind::Aliyun,
            code: "SMS_200".into(),
            content: "${name}您好，本周二免费产检，欢迎前来。拒收请回复R".into(),
            params: vec![("name".to_string(), "{{ name }}".to_string())],
            promotional: true,
        }],
    };
    let (id, _) = t.app.broadcasts.create(&b, "test").await.unwrap();
    t.app.broadcasts.publish(id, "test").await.unwrap();
    t.at("2026-12-01 10:31");
    // The fake's first batch is B1^0.
    let early = json!([{"phone_number": "13800000001", "send_time": "2026-12-01 10:31:00",
        "report_time": "2026-12-01 10:31:05", "success": true, "err_code": "DELIVERED",
        "err_msg": "用户接收成功", "sms_size": "1", "biz_id": "B1^0"}]);
    let (code, answer) = push(&t, "/webhooks/aliyun/report", Some(SECRET), early).await;
    assert_eq!(
        (code, answer.contains("\"code\":0")),
        (200, true),
        "{answer}"
    );
    t.tick().await;
    assert_eq!(peer.calls("SendBatchSms").len(), 1);
    let hers = t.outbox_of(a).await;
    assert!(hers.iter().any(|m| m.status == "delivered"), "{hers:?}");
    assert!(t
        .app
        .store
        .early_reports("default")
        .await
        .unwrap()
        .is_empty());
}
