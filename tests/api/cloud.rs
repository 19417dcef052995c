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
use chrono::Duration;
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

#[derive(Default)]
struct Peer {
    /// Each call: its action and its parameters (Aliyun) or body (Tencent).
    calls: Mutex<Vec<(String, Value)>>,
    script: Mutex<VecDeque<Script>>,
    /// Messages it took: number, OutId/SessionContext, content, serial.
    taken: Mutex<Vec<(String, String, String, String)>>,
    refused: Mutex<Vec<String>>,
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

/// Aliyun's RPC endpoint as its documentation describes it: parameters
/// from the query and the form body together, signature version 1.
async fn aliyun_peer(State(p): State<Arc<Peer>>, uri: Uri, body: Bytes) -> Response {
    let mut params: BTreeMap<String, String> = pairs(uri.query().unwrap_or_default())
        .into_iter()
        .chain(pairs(std::str::from_utf8(&body).unwrap_or_default()))
        .collect();
    let given = params.remove("Signature").unwrap_or_default();
    let want = sdk(
        "aliyun_sign.py",
        json!({"method": "POST", "secret": ALIYUN_SECRET, "params": params}),
    )
    .await;
    if given != want {
        p.refused.lock().unwrap().push(given);
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"RequestId": "r", "HostId": "dysmsapi.aliyuncs.com", "Code": "SignatureDoesNotMatch", "Message": "Specified signature is not matched with our calculation."})),
        )
            .into_response();
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
    match action.as_str() {
        "SendSms" => {
            let number = params["PhoneNumbers"].clone();
            let content = fill_aliyun(&params["TemplateParam"]);
            let take = |p: &Peer| {
                p.taken.lock().unwrap().push((
                    number.clone(),
                    params.get("OutId").cloned().unwrap_or_default(),
                    content.clone(),
                    String::new(),
                ))
            };
            let next = p.script.lock().unwrap().pop_front();
            match next {
                Some(Script::HangTaken) => {
                    take(&p);
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
                    take(&p);
                    ok(&format!("{}^0", 900 + p.calls("SendSms").len()))
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
        "QuerySendDetails" => {
            let number = &params["PhoneNumber"];
            let list: Vec<Value> = p
                .taken
                .lock()
                .unwrap()
                .iter()
                .filter(|t| &t.0 == number)
                .map(|t| json!({"PhoneNum": t.0, "SendStatus": 1, "ErrCode": "", "OutId": t.1, "Content": t.2, "TemplateCode": "SMS_100"}))
                .collect();
            axum::Json(json!({"Code": "OK", "Message": "OK", "RequestId": "r", "TotalCount": list.len(), "SmsSendDetailDTOs": {"SmsSendDetailDTO": list}})).into_response()
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

/// Tencent Cloud's API 3.0 endpoint: JSON, TC3-HMAC-SHA256.
async fn tencent_peer(State(p): State<Arc<Peer>>, headers: HeaderMap, body: Bytes) -> Response {
    let h = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
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
        p.refused.lock().unwrap().push(h("authorization"));
        return axum::Json(json!({"Response": {"Error": {"Code": "AuthFailure.SignatureFailure", "Message": "The provided credentials could not be validated."}, "RequestId": "r"}})).into_response();
    }
    let req: Value = serde_json::from_str(&payload).unwrap();
    p.calls.lock().unwrap().push((action.clone(), req.clone()));
    match action.as_str() {
        "SendSms" => {
            let numbers: Vec<String> =
                serde_json::from_value(req["PhoneNumberSet"].clone()).unwrap();
            if numbers.len() > 200 {
                return axum::Json(json!({"Response": {"Error": {"Code": "LimitExceeded.PhoneNumberCountLimit", "Message": "over 200"}, "RequestId": "r"}})).into_response();
            }
            let next = p.script.lock().unwrap().pop_front();
            if let Some(Script::Code(code, message)) = next {
                return axum::Json(json!({"Response": {"SendStatusSet": numbers.iter().map(|n| json!({"SerialNo": "", "PhoneNumber": n, "Fee": 0, "SessionContext": req["SessionContext"], "Code": code, "Message": message, "IsoCode": "CN"})).collect::<Vec<_>>(), "RequestId": "r"}})).into_response();
            }
            let set: Vec<Value> = numbers
                .iter()
                .map(|n| {
                    let serial = format!("2019:{}", p.taken.lock().unwrap().len() + 1);
                    p.taken.lock().unwrap().push((
                        n.clone(),
                        req["SessionContext"].as_str().unwrap_or_default().to_string(),
                        String::new(),
                        serial.clone(),
                    ));
                    json!({"SerialNo": serial, "PhoneNumber": n, "Fee": 1, "SessionContext": req["SessionContext"], "Code": "Ok", "Message": "send success", "IsoCode": "CN"})
                })
                .collect();
            axum::Json(json!({"Response": {"SendStatusSet": set, "RequestId": "r"}})).into_response()
        }
        _ => axum::Json(json!({"Response": {"Error": {"Code": "InvalidAction", "Message": "no"}, "RequestId": "r"}})).into_response(),
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
