//! WeChat (Official Account) and WeCom against local fakes of their APIs:
//! the token cache, the exact template message, the callbacks in plain and
//! safe mode (test vectors made by openssl and Python, not by our code),
//! binding by QR scene, unfollowing, final statuses, and the SMS fallback.

use crate::helpers::*;
use careminder::config::{ChannelSettings, Config, GatewayConfig};
use careminder::gateway::wechat::{TemplateMessage, Wechat};
use careminder::gateway::{Gateway, OutgoingMessage, SendOutcome};
use careminder::store::{DirectMessage, NewStaff};
use careminder::Clock;
use chrono::Duration;
use serde_json::{json, Value};
use sha1::{Digest, Sha1};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const APPID: &str = "wx5823bf96d3bd56c7";
const WX_TOKEN: &str = "QDG6eK";
const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
const OPENID: &str = "oWXuser000000000000000001";

/// A fake Official Account API: stable tokens T1, T2, ...; template and
/// custom sends answered per openid (`oNotFollowing` gets 43004); tokens in
/// `revoked` get 40001.
struct FakeOa {
    server: MockServer,
    fetches: Arc<AtomicUsize>,
    revoked: Arc<Mutex<HashSet<String>>>,
    sends: Arc<Mutex<Vec<Value>>>,
}

async fn fake_oa() -> FakeOa {
    let server = MockServer::start().await;
    let fetches = Arc::new(AtomicUsize::new(0));
    let revoked: Arc<Mutex<HashSet<String>>> = Default::default();
    let sends: Arc<Mutex<Vec<Value>>> = Default::default();
    let f = fetches.clone();
    Mock::given(method("POST"))
        .and(path("/cgi-bin/stable_token"))
        .respond_with(move |_: &Request| {
            let n = f.fetch_add(1, Ordering::SeqCst) + 1;
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": format!("T{n}"), "expires_in": 7200}))
        })
        .mount(&server)
        .await;
    for p in [
        "/cgi-bin/message/template/send",
        "/cgi-bin/message/custom/send",
    ] {
        let (revoked, sends) = (revoked.clone(), sends.clone());
        Mock::given(method("POST"))
            .and(path(p))
            .respond_with(move |req: &Request| {
                let token = req
                    .url
                    .query_pairs()
                    .find(|(k, _)| k == "access_token")
                    .map(|(_, v)| v.to_string())
                    .unwrap_or_default();
                if revoked.lock().unwrap().contains(&token) {
                    return ResponseTemplate::new(200)
                        .set_body_json(json!({"errcode": 40001, "errmsg": "invalid credential"}));
                }
                let body: Value = serde_json::from_slice(&req.body).unwrap();
                let mut sends = sends.lock().unwrap();
                sends.push(body.clone());
                if body["template_id"] == "TPL-revoked" {
                    return ResponseTemplate::new(200)
                        .set_body_json(json!({"errcode": 40037, "errmsg": "invalid template_id"}));
                }
                if body["touser"] == "oBusyQuota000001"
                    && !revoked.lock().unwrap().contains("busy-done")
                {
                    revoked.lock().unwrap().insert("busy-done".into());
                    return ResponseTemplate::new(200).set_body_json(
                        json!({"errcode": 45009, "errmsg": "reach max api daily quota limit"}),
                    );
                }
                if body["touser"] == "oNotFollowing" {
                    return ResponseTemplate::new(200).set_body_json(
                        json!({"errcode": 43004, "errmsg": "require subscribe hint"}),
                    );
                }
                ResponseTemplate::new(200).set_body_json(
                    json!({"errcode": 0, "errmsg": "ok", "msgid": 200_000 + sends.len()}),
                )
            })
            .mount(&server)
            .await;
    }
    FakeOa {
        server,
        fetches,
        revoked,
        sends,
    }
}

fn wechat_gateway(server: &MockServer, aes: bool) -> GatewayConfig {
    let mut w = careminder::gateway::wechat::Settings {
        base_url: server.uri(),
        appid: APPID.into(),
        secret: "appsecret".into(),
        token: WX_TOKEN.into(),
        ..Default::default()
    };
    if aes {
        w.encoding_aes_key = AES_KEY.into();
    }
    GatewayConfig {
        timeout_seconds: 2,
        ..GatewayConfig::new(ChannelSettings::Wechat(w))
    }
}

fn wechat_settings(g: &GatewayConfig) -> &careminder::gateway::wechat::Settings {
    match &g.channel {
        ChannelSettings::Wechat(w) => w,
        _ => panic!("not a WeChat gateway"),
    }
}

/// The account in plain mode (no EncodingAESKey): callbacks are plain XML.
fn with_wechat(c: &mut Config, server: &MockServer) {
    c.gateways
        .insert("wechat".into(), wechat_gateway(server, false));
}

/// The account in safe mode: callbacks must be encrypted.
fn with_safe_wechat(c: &mut Config, server: &MockServer) {
    c.gateways
        .insert("wechat".into(), wechat_gateway(server, true));
}

/// sha1 of the sorted parts, computed here (not with careminder's code).
fn sign(parts: &[&str]) -> String {
    let mut p = parts.to_vec();
    p.sort();
    Sha1::digest(p.concat().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// POSTs a plain-mode callback signed as WeChat signs it (a fresh nonce
/// each time, as WeChat's redeliveries have).
async fn callback(t: &TestApp, xml: &str) -> reqwest::Response {
    let nonce = format!("{}", rand::random::<u32>());
    callback_with_nonce(t, xml, &nonce).await
}

async fn callback_with_nonce(t: &TestApp, xml: &str, nonce: &str) -> reqwest::Response {
    let ts = t.clock.now().timestamp().to_string();
    let sig = sign(&[WX_TOKEN, &ts, nonce]);
    t.client
        .post(t.url(&format!(
            "/webhooks/wechat?signature={sig}&timestamp={ts}&nonce={nonce}&openid=x"
        )))
        .body(xml.to_string())
        .send()
        .await
        .unwrap()
}

fn event_xml(from: &str, at: i64, event: &str, extra: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_county]]></ToUserName><FromUserName><![CDATA[{from}]]></FromUserName>\
         <CreateTime>{at}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event>{extra}</xml>"
    )
}

/// The 3-day reminder's WeChat variant: three fields.
async fn save_variant(t: &TestApp) {
    let r = t
        .client
        .put(t.url("/api/v1/campaigns/checkup-reminders/steps/before-3d/wechat"))
        .bearer_auth(TOKEN)
        .json(&json!({
            "template_id": "TPL-checkup_1",
            "fields": [["thing1", "{{ name }}"], ["time2", "{{ date }} {{ weekday }}"], ["thing3", "{{ clinic }}"]],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

async fn enroll_bound(t: &TestApp, name: &str, phone: &str, openid: Option<&str>) -> i64 {
    let mut w = woman(name, phone, "2026-09-22");
    w.wechat_openid = openid.map(str::to_string);
    t.app
        .care
        .enroll(&w, "test", "test")
        .await
        .expect("enrolls")
        .woman_id()
}

fn send_of(oa: &FakeOa, openid: &str) -> Vec<Value> {
    oa.sends
        .lock()
        .unwrap()
        .iter()
        .filter(|b| b["touser"] == openid)
        .cloned()
        .collect()
}

/// Message `id`: a template message to the woman at `OPENID`.
fn template_to_her(id: i64) -> OutgoingMessage {
    OutgoingMessage {
        sms_template: None,
        id,
        to: OPENID.into(),
        body: String::new(),
        attempt: 1,
        template: Some(TemplateMessage {
            template_id: "TPL".into(),
            url: None,
            data: vec![("thing1".into(), "x".into())],
        }),
    }
}

#[tokio::test]
async fn processes_on_one_database_share_one_token_and_one_refresh() {
    let oa = fake_oa().await;
    let clock = Clock::manual("2026-12-01T01:00:00Z".parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let store = careminder::store::Store::open(&dir.path().join("shared.db").into())
        .await
        .unwrap();
    let g = wechat_gateway(&oa.server, false);
    let process = || {
        let gw = Wechat::new(
            "wechat".into(),
            "gateways.wechat",
            &g,
            wechat_settings(&g),
            clock.clone(),
        )
        .unwrap();
        gw.share_tokens(Arc::new(careminder::app::StoreTokens(store.clone())));
        gw
    };
    let (a, b) = (process(), process());
    assert!(a.send(&template_to_her(1)).await.handed_over());
    assert!(b.send(&template_to_her(2)).await.handed_over());
    assert_eq!(
        oa.fetches.load(Ordering::SeqCst),
        1,
        "the second process uses the token the first fetched"
    );
    // T1 is refused: the process that finds out refreshes it, once; the
    // other, still holding T1, is refused too and takes T2 from the
    // database instead of forcing a refresh of its own (which would
    // invalidate T2 under the first one's feet).
    oa.revoked.lock().unwrap().insert("T1".into());
    assert!(b.send(&template_to_her(3)).await.handed_over());
    assert_eq!(oa.fetches.load(Ordering::SeqCst), 2);
    assert!(a.send(&template_to_her(4)).await.handed_over());
    assert_eq!(oa.fetches.load(Ordering::SeqCst), 2, "one refresh for both");
}

#[tokio::test]
async fn token_is_fetched_once_for_concurrent_sends_and_refreshed_on_expiry_and_40001_once() {
    let oa = fake_oa().await;
    let clock = Clock::manual("2026-12-01T01:00:00Z".parse().unwrap());
    let g = wechat_gateway(&oa.server, false);
    let gw = Arc::new(
        Wechat::new(
            "wechat".into(),
            "gateways.wechat",
            &g,
            wechat_settings(&g),
            clock.clone(),
        )
        .unwrap(),
    );
    let msg = template_to_her;
    let outcomes = futures::future::join_all((1..=20).map(|id| {
        let gw = gw.clone();
        async move { gw.send(&msg(id)).await }
    }))
    .await;
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, SendOutcome::Accepted { .. })));
    assert_eq!(
        oa.fetches.load(Ordering::SeqCst),
        1,
        "20 concurrent senders, one token fetch"
    );
    gw.send(&msg(21)).await;
    assert_eq!(oa.fetches.load(Ordering::SeqCst), 1, "cached across sends");

    clock.advance(Duration::seconds(7200));
    assert!(gw.send(&msg(22)).await.handed_over());
    assert_eq!(
        oa.fetches.load(Ordering::SeqCst),
        2,
        "an expired token is renewed"
    );

    oa.revoked.lock().unwrap().insert("T2".into());
    assert!(gw.send(&msg(23)).await.handed_over(), "retried with T3");
    assert_eq!(
        oa.fetches.load(Ordering::SeqCst),
        3,
        "40001: one refresh, then the retry"
    );
    let forced: Vec<Value> = oa
        .server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/cgi-bin/stable_token")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(
        forced
            .iter()
            .map(|b| b["force_refresh"].as_bool().unwrap())
            .collect::<Vec<_>>(),
        [false, false, true],
        "the refresh after 40001 forces a new stable token"
    );
    assert_eq!(forced[0]["appid"], APPID);
    assert_eq!(forced[0]["grant_type"], "client_credential");

    // Refused again after the refresh: one refresh only, then later.
    oa.revoked.lock().unwrap().insert("T3".into());
    oa.revoked.lock().unwrap().insert("T4".into());
    assert!(matches!(
        gw.send(&msg(24)).await,
        SendOutcome::Transient { .. }
    ));
    assert_eq!(oa.fetches.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_bound_woman_gets_the_exact_template_message_and_no_sms() {
    let oa = fake_oa().await;
    let t = spawn_app_with(|c| with_wechat(c, &oa.server), "2026-12-01 10:00").await;
    save_variant(&t).await;
    let w = enroll_bound(&t, "王秀英", "13812345678", Some(OPENID)).await;
    t.at("2026-12-12 09:00");
    t.tick().await;

    let sent = send_of(&oa, OPENID);
    assert_eq!(sent.len(), 1);
    let m = t
        .outbox_of(w)
        .await
        .into_iter()
        .find(|m| m.step.as_deref() == Some("checkup-reminders/before-3d"))
        .unwrap();
    assert_eq!(
        sent[0],
        json!({
            "touser": OPENID,
            "template_id": "TPL-checkup_1",
            "client_msg_id": m.id.to_string(),
            "data": {
                "thing1": {"value": "王秀英"},
                "time2": {"value": "12月15日 星期二"},
                "thing3": {"value": "乡镇卫生院"},
            },
        })
    );
    assert_eq!(
        (m.status.as_str(), m.channel.as_str()),
        ("accepted", "wechat")
    );
    assert!(
        t.sent_to("+8613812345678").is_empty(),
        "WeChat took it: no SMS"
    );

    // WeChat's final word: delivered. Received twice, applied once.
    let finish = event_xml(
        OPENID,
        t.clock.now().timestamp(),
        "TEMPLATESENDJOBFINISH",
        "<MsgID>200001</MsgID><Status><![CDATA[success]]></Status>",
    );
    for _ in 0..2 {
        let r = callback(&t, &finish).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "success");
    }
    let m = t
        .outbox_of(w)
        .await
        .into_iter()
        .find(|x| x.id == m.id)
        .unwrap();
    assert_eq!(m.status, "delivered");
    t.clock.advance(Duration::hours(1));
    t.tick().await;
    assert!(t.sent_to("+8613812345678").is_empty());
}

#[tokio::test]
async fn not_following_43004_falls_back_to_exactly_one_sms() {
    let oa = fake_oa().await;
    let t = spawn_app_with(|c| with_wechat(c, &oa.server), "2026-12-01 10:00").await;
    save_variant(&t).await;
    let w = enroll_bound(&t, "李娜", "13812345679", Some("oNotFollowing")).await;
    t.at("2026-12-12 09:00");
    for _ in 0..3 {
        t.tick().await;
        t.clock.advance(Duration::minutes(10));
    }
    assert_eq!(
        send_of(&oa, "oNotFollowing").len(),
        1,
        "not tried again on WeChat"
    );
    let sms = t.sent_to("+8613812345679");
    assert_eq!(sms.len(), 1, "exactly one SMS fallback");
    assert!(
        sms[0].message.body.contains("李娜"),
        "the SMS text, rendered"
    );
    let rows = t.outbox_of(w).await;
    let original = rows
        .iter()
        .find(|m| m.step.as_deref() == Some("checkup-reminders/before-3d") && m.channel == "wechat")
        .unwrap();
    assert_eq!(original.status, "failed");
    assert!(original.status_cause.as_deref().unwrap().contains("43004"));
    let fallback = rows
        .iter()
        .find(|m| m.fallback_of == Some(original.id))
        .expect("linked to the WeChat message");
    assert_eq!(fallback.channel, "sms");
    assert_eq!(fallback.id, sms[0].message.id);
}

#[tokio::test]
async fn templatesendjobfinish_failures_fall_back_once_and_statuses_map() {
    let oa = fake_oa().await;
    let t = spawn_app_with(|c| with_wechat(c, &oa.server), "2026-12-01 10:00").await;
    save_variant(&t).await;
    let a = enroll_bound(&t, "王芳", "13812340001", Some("oBlockedUs000001")).await;
    let b = enroll_bound(&t, "张敏", "13812340002", Some("oSystemFail00002")).await;
    t.at("2026-12-12 09:00");
    t.tick().await;
    assert!(t.sent_to("+8613812340001").is_empty());
    let msgid = |openid: &str| {
        let sends = oa.sends.lock().unwrap();
        let i = sends.iter().position(|s| s["touser"] == openid).unwrap();
        200_001 + i
    };
    let now = t.clock.now().timestamp();
    for (openid, status) in [
        ("oBlockedUs000001", "failed:user block"),
        ("oSystemFail00002", "failed: system failed"),
    ] {
        let xml = event_xml(
            openid,
            now,
            "TEMPLATESENDJOBFINISH",
            &format!(
                "<MsgID>{}</MsgID><Status><![CDATA[{status}]]></Status>",
                msgid(openid)
            ),
        );
        // WeChat retries: the same event three times.
        for _ in 0..3 {
            assert_eq!(callback(&t, &xml).await.status(), 200);
        }
    }
    t.tick().await;
    t.clock.advance(Duration::minutes(5));
    t.tick().await;
    for (w, phone) in [(a, "+8613812340001"), (b, "+8613812340002")] {
        assert_eq!(t.sent_to(phone).len(), 1, "one SMS instead, for {phone}");
        let rows = t.outbox_of(w).await;
        let wx = rows.iter().find(|m| m.channel == "wechat").unwrap();
        assert_eq!(wx.status, "failed");
        assert!(rows.iter().any(|m| m.fallback_of == Some(wx.id)));
    }
}

#[tokio::test]
async fn a_qr_scene_binds_her_and_unfollowing_returns_her_to_sms() {
    let oa = fake_oa().await;
    let t = spawn_app_with(|c| with_wechat(c, &oa.server), "2026-12-01 10:00").await;
    save_variant(&t).await;
    let w = enroll_bound(&t, "赵丽", "13812340003", None).await;
    let scene = t.app.gateways.wechat.as_ref().unwrap().1.scene_for(w);
    let now = t.clock.now().timestamp();
    // A forged scene (another woman's id, no valid tag) binds nobody.
    let forged = event_xml(
        "oIntruder0000001",
        now,
        "subscribe",
        &format!("<EventKey><![CDATA[qrscene_w{w}.000000000000]]></EventKey>"),
    );
    assert_eq!(callback(&t, &forged).await.status(), 200);
    let r = callback(
        &t,
        &event_xml(
            "oZhaoLi000000001",
            now,
            "subscribe",
            &format!("<EventKey><![CDATA[qrscene_{scene}]]></EventKey>"),
        ),
    )
    .await;
    assert_eq!(r.status(), 200);
    let her = t.app.store.woman(w).await.unwrap();
    assert_eq!(her.wechat_openid.as_deref(), Some("oZhaoLi000000001"));
    // Someone else scanning her card while she follows takes nothing over.
    let r = callback(
        &t,
        &event_xml(
            "oRelative0000001",
            now + 5,
            "subscribe",
            &format!("<EventKey><![CDATA[qrscene_{scene}]]></EventKey>"),
        ),
    )
    .await;
    assert_eq!(r.status(), 200);
    let her = t.app.store.woman(w).await.unwrap();
    assert_eq!(her.wechat_openid.as_deref(), Some("oZhaoLi000000001"));

    t.at("2026-12-12 09:00");
    t.tick().await;
    assert_eq!(send_of(&oa, "oZhaoLi000000001").len(), 1, "bound: WeChat");
    assert!(send_of(&oa, "oIntruder0000001").is_empty());
    assert!(t.sent_to("+8613812340003").is_empty());

    // She unfollows: the next reminder (on the day, 08:00 on 12-15) is an SMS.
    let r = callback(
        &t,
        &event_xml(
            "oZhaoLi000000001",
            t.clock.now().timestamp(),
            "unsubscribe",
            "",
        ),
    )
    .await;
    assert_eq!(r.status(), 200);
    t.at("2026-12-15 08:00");
    t.tick().await;
    assert_eq!(send_of(&oa, "oZhaoLi000000001").len(), 1, "no more WeChat");
    assert_eq!(t.sent_to("+8613812340003").len(), 1, "SMS carries on");
}

#[tokio::test]
async fn her_wechat_text_is_stored_once_and_answered_in_wechat() {
    let oa = fake_oa().await;
    let t = spawn_app_with(|c| with_wechat(c, &oa.server), "2026-12-01 10:00").await;
    let w = enroll_bound(&t, "孙燕", "13812340004", Some("oSunYan000000001")).await;
    let xml = format!(
        "<xml><ToUserName><![CDATA[gh_county]]></ToUserName><FromUserName><![CDATA[oSunYan000000001]]></FromUserName>\
         <CreateTime>{}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[帮助]]></Content>\
         <MsgId>23750000000000001</MsgId></xml>",
        t.clock.now().timestamp()
    );
    for _ in 0..3 {
        let r = callback(&t, &xml).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "success");
    }
    assert_eq!(
        t.app.store.inbound_count().await.unwrap(),
        1,
        "MsgId de-duplicates"
    );
    let conv = t.app.store.conversation(w).await.unwrap();
    assert!(!conv.is_empty(), "the message is hers");
    t.tick().await;
    let answers = send_of(&oa, "oSunYan000000001");
    assert_eq!(answers.len(), 1, "the help text went back through WeChat");
    assert_eq!(answers[0]["msgtype"], "text");
    assert!(t.sent_to("+8613812340004").is_empty());
}

#[tokio::test]
async fn forged_stale_and_malformed_callbacks_are_refused_and_kept() {
    let oa = fake_oa().await;
    let t = spawn_app_with(|c| with_wechat(c, &oa.server), "2026-12-01 10:00").await;
    let ts = t.clock.now().timestamp().to_string();
    // URL verification echoes echostr only when signed.
    let ok = t
        .client
        .get(t.url(&format!(
            "/webhooks/wechat?signature={}&timestamp={ts}&nonce=abc&echostr=4711",
            sign(&[WX_TOKEN, &ts, "abc"])
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "4711");
    let bad = t
        .client
        .get(t.url(&format!(
            "/webhooks/wechat?signature={}&timestamp={ts}&nonce=abc&echostr=4711",
            sign(&["wrong", &ts, "abc"])
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 403);
    // Stale: signed right, but an hour old.
    let old = (t.clock.now().timestamp() - 3600).to_string();
    let stale = t
        .client
        .post(t.url(&format!(
            "/webhooks/wechat?signature={}&timestamp={old}&nonce=abc",
            sign(&[WX_TOKEN, &old, "abc"])
        )))
        .body("<xml></xml>")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 403);
    // Malformed XML: a clear 400, kept for inspection, nothing else stored.
    let r = callback(&t, "<xml><FromUserName>oX</FromUserName><MsgType>text").await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("malformed XML"));
    let kept = t.app.store.rejected_webhooks(10).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(
        kept[0].3,
        b"<xml><FromUserName>oX</FromUserName><MsgType>text"
    );
    assert_eq!(t.app.store.inbound_count().await.unwrap(), 0);
}

/// Runs a command with `input` on stdin; its stdout, trimmed.
fn run(cmd: &str, args: &[&str], input: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new(cmd)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{cmd} failed");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Encrypts as WeChat's published algorithm says, with openssl's AES and
/// Python's base64, not careminder's code.
fn wechat_encrypt(xml: &str) -> String {
    let key = run(
        "python3",
        &[
            "-c",
            "import base64,sys; print(base64.b64decode(sys.stdin.read()+'=').hex())",
        ],
        AES_KEY.as_bytes(),
    );
    let iv = &key[..32];
    let mut plain = b"0123456789abcdef".to_vec();
    plain.extend_from_slice(&(xml.len() as u32).to_be_bytes());
    plain.extend_from_slice(xml.as_bytes());
    plain.extend_from_slice(APPID.as_bytes());
    let pad = 32 - plain.len() % 32;
    plain.extend(std::iter::repeat_n(pad as u8, pad));
    run(
        "openssl",
        &[
            "enc",
            "-aes-256-cbc",
            "-K",
            &key,
            "-iv",
            iv,
            "-nopad",
            "-a",
            "-A",
        ],
        &plain,
    )
}

fn python_sha1(parts: &[&str]) -> String {
    let mut args = vec![
        "-c",
        "import hashlib,sys; print(hashlib.sha1(''.join(sorted(sys.argv[1:])).encode()).hexdigest())",
    ];
    args.extend_from_slice(parts);
    run("python3", &args, b"")
}

#[tokio::test]
async fn safe_mode_callbacks_decrypt_and_check_msg_signature_against_independent_vectors() {
    let oa = fake_oa().await;
    let t = spawn_app_with(|c| with_safe_wechat(c, &oa.server), "2026-12-01 10:00").await;
    enroll_bound(&t, "周婷", "13812340005", Some("oZhouTing0000001")).await;
    let inner = format!(
        "<xml><ToUserName><![CDATA[gh_county]]></ToUserName><FromUserName><![CDATA[oZhouTing0000001]]></FromUserName>\
         <CreateTime>{}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[好的，我会去]]></Content>\
         <MsgId>23750000000000777</MsgId></xml>",
        t.clock.now().timestamp()
    );
    let encrypted = wechat_encrypt(&inner);
    let ts = t.clock.now().timestamp().to_string();
    let nonce = "1320562132";
    let msg_sig = python_sha1(&[WX_TOKEN, &ts, nonce, &encrypted]);
    let sig = python_sha1(&[WX_TOKEN, &ts, nonce]);
    let body = format!(
        "<xml><ToUserName><![CDATA[gh_county]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    );
    let post = |msg_sig: String| {
        let url = t.url(&format!(
            "/webhooks/wechat?signature={sig}&timestamp={ts}&nonce={nonce}&openid=oZhouTing0000001&encrypt_type=aes&msg_signature={msg_sig}"
        ));
        t.client.post(url).body(body.clone()).send()
    };
    // In safe mode a plain body is refused: its signature does not cover it.
    let plain = callback(&t, &inner).await;
    assert_eq!(plain.status(), 403);
    // A msg_signature over other ciphertext: refused, nothing stored.
    let forged = post(python_sha1(&[WX_TOKEN, &ts, nonce, "other"]))
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(t.app.store.inbound_count().await.unwrap(), 0);
    let r = post(msg_sig.clone()).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(t.app.store.inbound_count().await.unwrap(), 1);
    let stored = t.app.store.inbound(1).await.unwrap();
    assert_eq!(stored.text, "好的，我会去");
    // Replayed: acted on once.
    assert_eq!(post(msg_sig).await.unwrap().status(), 200);
    assert_eq!(t.app.store.inbound_count().await.unwrap(), 1);

    // And the other way: what careminder encrypts, openssl decrypts.
    let cipher = t
        .app
        .gateways
        .wechat
        .as_ref()
        .unwrap()
        .1
        .cipher()
        .unwrap()
        .clone();
    let ours = cipher.encrypt("<xml>hi</xml>", [9; 16]);
    let key = run(
        "python3",
        &[
            "-c",
            "import base64,sys; print(base64.b64decode(sys.stdin.read()+'=').hex())",
        ],
        AES_KEY.as_bytes(),
    );
    let plain = run(
        "openssl",
        &[
            "enc",
            "-d",
            "-aes-256-cbc",
            "-K",
            &key,
            "-iv",
            &key[..32],
            "-nopad",
            "-a",
            "-A",
        ],
        ours.as_bytes(),
    );
    assert!(
        plain.contains("<xml>hi</xml>wx5823bf96d3bd56c7"),
        "{plain:?}"
    );
}

#[tokio::test]
async fn a_step_variant_over_20_characters_or_with_unknown_variables_is_refused_on_save() {
    let oa = fake_oa().await;
    let t = spawn_app_with(|c| with_wechat(c, &oa.server), "2026-12-01 10:00").await;
    let save = |fields: Value| {
        t.client
            .put(t.url("/api/v1/campaigns/checkup-reminders/steps/before-3d/wechat"))
            .bearer_auth(TOKEN)
            .json(&json!({"template_id": "TPL1", "fields": fields}))
            .send()
    };
    let cases = [
        (
            json!([["thing1", "请您于{{ date }}到{{ clinic }}参加免费产前检查"]]),
            "thing1: 23 characters",
        ),
        (json!([["thing1", "{{ nmae }}"]]), "thing1: template error"),
        (
            json!([["thing1", "第一行\n第二行"]]),
            "thing1: no line breaks",
        ),
        (json!([["thing-1", "x"]]), "thing-1: keyword"),
        (json!([]), "fields:"),
    ];
    for (fields, expected) in cases {
        let r = save(fields.clone()).await.unwrap();
        assert_eq!(r.status(), 422, "{fields}");
        let err = r.json::<Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(err.contains(expected), "{fields}: {err}");
    }
    assert!(t.app.store.wechat_variants().await.unwrap().is_empty());
    let ok = save(json!([["thing1", "{{ name }}"], ["time2", "{{ date }}"]]))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(t.app.store.wechat_variants().await.unwrap().len(), 1);
}

/// A fake WeCom: gettoken, and message/send that knows only `zhangsan`.
async fn fake_wecom() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/cgi-bin/gettoken"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"errcode": 0, "errmsg": "ok", "access_token": "WT1", "expires_in": 7200}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/message/send"))
        .respond_with(|req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            if body["touser"] == "zhangsan" {
                ResponseTemplate::new(200).set_body_json(
                    json!({"errcode": 0, "errmsg": "ok", "invaliduser": "", "msgid": "m1"}),
                )
            } else {
                ResponseTemplate::new(200).set_body_json(json!({
                    "errcode": 81013, "errmsg": "user & party & tag all invalid",
                    "invaliduser": body["touser"], "msgid": ""
                }))
            }
        })
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn wecom_sends_staff_messages_and_invaliduser_falls_back_to_sms_for_that_officer_only() {
    let wecom = fake_wecom().await;
    let uri = wecom.uri();
    let t = spawn_app_with(
        move |c| {
            let g = GatewayConfig::new(ChannelSettings::Wecom(
                careminder::gateway::wecom::Settings {
                    base_url: uri,
                    corpid: "ww1234".into(),
                    corpsecret: "corpsecret".into(),
                    agentid: 1000002,
                    ..Default::default()
                },
            ));
            c.gateways.insert("wecom".into(), g);
        },
        "2026-12-01 10:00",
    )
    .await;
    let mut ids = vec![];
    for (code, phone, userid) in [
        ("O-ZS", "13900000001", "zhangsan"),
        ("O-LS", "13900000002", "lisi-left"),
    ] {
        ids.push(
            t.app
                .store
                .add_staff(
                    &NewStaff {
                        code: code.into(),
                        name: code.into(),
                        phone: Some(
                            careminder::domain::Phone::parse(phone, t.app.config.region()).unwrap(),
                        ),
                        role: careminder::domain::Role::Officer,
                        language: careminder::domain::Language::ZhCn,
                        village: Some("V001".into()),
                        township: Some("T1".into()),
                        wecom_userid: Some(userid.into()),
                    },
                    t.clock.now(),
                )
                .await
                .unwrap(),
        );
    }
    let now = t.clock.now();
    for (i, staff) in ids.iter().enumerate() {
        for n in 0..2 {
            t.app
                .store
                .enqueue_direct(
                    &DirectMessage {
                        dedupe_key: format!("test:{i}:{n}"),
                        kind: careminder::domain::MessageKind::Alert,
                        woman_id: None,
                        staff_id: Some(*staff),
                        to_addr: None,
                        body: format!("逾期访视提醒 {n}"),
                        in_reply_to: None,
                        send_at: now,
                        expires_at: now + Duration::hours(24),
                    },
                    now,
                )
                .await
                .unwrap();
        }
    }
    t.tick().await;
    t.tick().await;
    let requests = wecom.received_requests().await.unwrap();
    let token_fetches = requests
        .iter()
        .filter(|r| r.url.path() == "/cgi-bin/gettoken")
        .count();
    assert_eq!(token_fetches, 1, "the token is cached");
    let sends: Vec<Value> = requests
        .iter()
        .filter(|r| r.url.path() == "/cgi-bin/message/send")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    let first = sends
        .iter()
        .find(|b| b["touser"] == "zhangsan" && b["text"]["content"] == "逾期访视提醒 0")
        .expect("sent to zhangsan");
    assert_eq!(
        first,
        &json!({
            "touser": "zhangsan",
            "msgtype": "text",
            "agentid": 1000002,
            "text": {"content": "逾期访视提醒 0"},
            "safe": 0,
            "enable_duplicate_check": 1,
            "duplicate_check_interval": 1800,
        })
    );
    assert!(t.sent_to("+8613900000001").is_empty(), "WeCom took hers");
    let lisi_sms = t.sent_to("+8613900000002");
    assert_eq!(lisi_sms.len(), 2, "one SMS per message WeCom refused");
    assert!(lisi_sms
        .iter()
        .all(|m| m.message.body.contains("逾期访视提醒")));
}

#[tokio::test]
async fn wecom_keeps_to_30_messages_a_minute_per_person() {
    let wecom = fake_wecom().await;
    let clock = Clock::manual("2026-12-01T01:00:00Z".parse().unwrap());
    let s = careminder::gateway::wecom::Settings {
        base_url: wecom.uri(),
        corpid: "ww1234".into(),
        corpsecret: "s".into(),
        agentid: 7,
        ..Default::default()
    };
    let g = GatewayConfig::new(ChannelSettings::Wecom(s.clone()));
    let gw = careminder::gateway::wecom::Wecom::new(
        "wecom".into(),
        "gateways.wecom",
        &g,
        &s,
        clock.clone(),
    )
    .unwrap();
    let msg = |to: &str| OutgoingMessage {
        sms_template: None,
        id: 1,
        to: to.into(),
        body: "x".into(),
        attempt: 1,
        template: None,
    };
    for _ in 0..30 {
        assert!(gw.send(&msg("zhangsan")).await.handed_over());
    }
    match gw.send(&msg("zhangsan")).await {
        SendOutcome::Transient {
            retry_after: Some(d),
            ..
        } => assert!(d <= Duration::minutes(1) && d > Duration::zero()),
        other => panic!("31st in a minute: {other:?}"),
    }
    assert!(
        !matches!(
            gw.send(&msg("lisi-left")).await,
            SendOutcome::Transient { .. }
        ),
        "another person is not held back"
    );
    clock.advance(Duration::seconds(61));
    assert!(gw.send(&msg("zhangsan")).await.handed_over());
    let sent = wecom
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/cgi-bin/message/send")
        .count();
    assert_eq!(sent, 32, "the held message made no request");
}

#[tokio::test]
async fn the_qr_card_carries_her_signed_scene_and_her_name() {
    let oa = fake_oa().await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/qrcode/create"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ticket": "gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2taZ2Z3TVRtNzJXV1Brb3ZhYmJJAAIEZ23sUwMEmm3sUw==",
            "expire_seconds": 2592000,
            "url": "http://weixin.qq.com/q/kZgfwMTm72WWPkovabbI"
        })))
        .mount(&oa.server)
        .await;
    let t = spawn_app_with(|c| with_wechat(c, &oa.server), "2026-12-01 10:00").await;
    let w = enroll_bound(&t, "钱秀兰", "13812340006", None).await;
    let (url, name) = t.app.wechat.qr(w).await.unwrap();
    assert_eq!(url, "http://weixin.qq.com/q/kZgfwMTm72WWPkovabbI");
    assert_eq!(name, "钱秀兰");
    let asked: Value = oa
        .server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .find(|r| r.url.path() == "/cgi-bin/qrcode/create")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .unwrap();
    let scene = t.app.gateways.wechat.as_ref().unwrap().1.scene_for(w);
    assert_eq!(
        asked,
        json!({
            "expire_seconds": 2592000,
            "action_name": "QR_STR_SCENE",
            "action_info": {"scene": {"scene_str": scene}},
        })
    );
    let wx = &t.app.gateways.wechat.as_ref().unwrap().1;
    let png = careminder::qr::card_png(&url, &name, &wx.config().qr_instructions, "")
        .expect("a font with Chinese glyphs (.ci/run installs fonts-wqy-microhei)");
    if let Ok(out) = std::env::var("CAREMINDER_CARD_OUT") {
        // How docs/wechat-qr-card.png was made.
        std::fs::write(out, &png).unwrap();
    }
    let img = image::load_from_memory(&png).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img.clone());
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1);
    let (_, content) = grids[0].decode().unwrap();
    assert_eq!(content, url, "the printed code opens her QR scene");
    let top = careminder::qr::caption_top(&url);
    let ink = img
        .enumerate_pixels()
        .filter(|(_, y, p)| *y >= top && p.0[0] < 128)
        .count();
    assert!(
        ink > 500,
        "her name and the instructions are printed under the code ({ink} dark pixels)"
    );
}

#[tokio::test]
async fn a_template_id_wechat_refuses_falls_back_and_tells_the_administrators_once() {
    let oa = fake_oa().await;
    let t = spawn_app_with(|c| with_wechat(c, &oa.server), "2026-12-01 10:00").await;
    let r = t
        .client
        .put(t.url("/api/v1/campaigns/checkup-reminders/steps/before-3d/wechat"))
        .bearer_auth(TOKEN)
        .json(&json!({"template_id": "TPL-revoked", "fields": [["thing1", "{{ name }}"]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    t.app
        .store
        .add_staff(
            &NewStaff {
                code: "ADMIN".into(),
                name: "县管理员".into(),
                phone: Some(
                    careminder::domain::Phone::parse("13900000009", t.app.config.region()).unwrap(),
                ),
                role: careminder::domain::Role::Admin,
                language: careminder::domain::Language::ZhCn,
                village: None,
                township: None,
                wecom_userid: None,
            },
            t.clock.now(),
        )
        .await
        .unwrap();
    enroll_bound(&t, "吴静", "13812340007", Some("oWuJing000000001")).await;
    enroll_bound(&t, "郑洁", "13812340008", Some("oZhengJie0000001")).await;
    t.at("2026-12-12 09:00");
    t.tick().await;
    t.clock.advance(Duration::minutes(5));
    t.tick().await;
    for phone in ["+8613812340007", "+8613812340008"] {
        assert_eq!(t.sent_to(phone).len(), 1, "her reminder by SMS instead");
    }
    let alerts = t.sent_to("+8613900000009");
    assert_eq!(alerts.len(), 1, "one alert a day, not one per message");
    assert!(
        alerts[0].message.body.contains("wechat"),
        "{}",
        alerts[0].message.body
    );
    assert!(alerts[0].message.body.contains("40037"));
}

#[tokio::test]
async fn a_template_message_retried_after_45009_goes_to_wechat_again_not_by_sms() {
    let oa = fake_oa().await;
    let t = spawn_app_with(|c| with_wechat(c, &oa.server), "2026-12-01 10:00").await;
    save_variant(&t).await;
    let w = enroll_bound(&t, "冯梅", "13812340010", Some("oBusyQuota000001")).await;
    t.at("2026-12-12 09:00");
    t.tick().await;
    let m = t
        .outbox_of(w)
        .await
        .into_iter()
        .find(|m| m.step.as_deref() == Some("checkup-reminders/before-3d"))
        .unwrap();
    assert_eq!(m.status, "scheduled", "45009: later");
    t.clock.advance(Duration::minutes(61));
    t.tick().await;
    let sends = send_of(&oa, "oBusyQuota000001");
    assert_eq!(sends.len(), 2, "tried again on WeChat");
    assert_eq!(
        sends[0], sends[1],
        "the same template message, same client_msg_id"
    );
    assert!(t.sent_to("+8613812340010").is_empty(), "no SMS");
    let m = t
        .outbox_of(w)
        .await
        .into_iter()
        .find(|x| x.id == m.id)
        .unwrap();
    assert_eq!(
        (m.status.as_str(), m.channel.as_str()),
        ("accepted", "wechat")
    );
}

#[tokio::test]
async fn final_statuses_early_or_in_the_same_second_are_all_applied_and_spent_nonces_act_on_nothing(
) {
    let oa = fake_oa().await;
    let t = spawn_app_with(|c| with_wechat(c, &oa.server), "2026-12-01 10:00").await;
    save_variant(&t).await;
    let now = t.clock.now().timestamp();
    // Before the send is recorded WeChat's word is not taken (so it comes again).
    let early = event_xml(
        "oShared000000001",
        now,
        "TEMPLATESENDJOBFINISH",
        "<MsgID>200001</MsgID><Status><![CDATA[success]]></Status>",
    );
    assert_eq!(callback(&t, &early).await.status(), 503);
    // Two women on one WeChat (a family phone): two template messages.
    let a = enroll_bound(&t, "蒋红", "13812340011", Some("oShared000000001")).await;
    let b = enroll_bound(&t, "蒋丽", "13812340012", Some("oShared000000001")).await;
    t.at("2026-12-12 09:00");
    t.tick().await;
    let now = t.clock.now().timestamp();
    let ids: Vec<(i64, usize)> = {
        let sends = oa.sends.lock().unwrap();
        sends
            .iter()
            .enumerate()
            .map(|(i, s)| {
                (
                    s["client_msg_id"].as_str().unwrap().parse().unwrap(),
                    200_001 + i,
                )
            })
            .collect()
    };
    assert_eq!(ids.len(), 2);
    for (i, (_, msgid)) in ids.iter().enumerate() {
        let status = if i == 0 {
            "success"
        } else {
            "failed:user block"
        };
        let xml = event_xml(
            "oShared000000001",
            now,
            "TEMPLATESENDJOBFINISH",
            &format!("<MsgID>{msgid}</MsgID><Status><![CDATA[{status}]]></Status>"),
        );
        assert_eq!(callback(&t, &xml).await.status(), 200);
    }
    let status_of = |rows: Vec<careminder::store::OutboxListRow>, id: i64| {
        rows.into_iter().find(|m| m.id == id).unwrap().status
    };
    let all: Vec<_> = [t.outbox_of(a).await, t.outbox_of(b).await].concat();
    assert_eq!(status_of(all.clone(), ids[0].0), "delivered");
    assert_eq!(
        status_of(all, ids[1].0),
        "failed",
        "same second, another MsgID: applied too"
    );

    // A spent (timestamp, nonce) carries nothing, whatever the body says.
    let sub = event_xml("oShared000000001", now + 1, "subscribe", "");
    assert_eq!(callback_with_nonce(&t, &sub, "spent1").await.status(), 200);
    let unsub = event_xml("oShared000000001", now + 2, "unsubscribe", "");
    assert_eq!(
        callback_with_nonce(&t, &unsub, "spent1").await.status(),
        200
    );
    // Nor on another process serving the same database.
    let other = spawn_app_with(|c| *c = (*t.app.config).clone(), "2026-12-01 09:00").await;
    other.clock.set(t.clock.now());
    assert_eq!(
        callback_with_nonce(&other, &unsub, "spent1").await.status(),
        200
    );
    let her = t.app.store.woman(a).await.unwrap();
    assert!(
        her.wechat_unfollowed_at.is_none(),
        "the replayed URL did not unsubscribe her, on either process"
    );
}

#[tokio::test]
async fn compatible_mode_takes_plain_and_encrypted_callbacks_and_an_inconsistent_mode_is_refused() {
    let oa = fake_oa().await;
    let t = spawn_app_with(
        |c| {
            let mut g = wechat_gateway(&oa.server, true);
            if let ChannelSettings::Wechat(w) = &mut g.channel {
                w.mode = Some(careminder::gateway::wechat::CallbackMode::Compatible);
            }
            c.gateways.insert("wechat".into(), g);
        },
        "2026-12-01 10:00",
    )
    .await;
    enroll_bound(&t, "周婷", "13812340005", Some("oZhouTing0000001")).await;
    let inner = format!(
        "<xml><ToUserName><![CDATA[gh_county]]></ToUserName><FromUserName><![CDATA[oZhouTing0000001]]></FromUserName>\
         <CreateTime>{}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[好的]]></Content>\
         <MsgId>23750000000000888</MsgId></xml>",
        t.clock.now().timestamp()
    );
    // The account in compatible mode may send plain XML: taken.
    assert_eq!(callback(&t, &inner).await.status(), 200);
    assert_eq!(t.app.store.inbound_count().await.unwrap(), 1);

    // A key with plain mode, or compatible without a key: refused at start, by name.
    for (mode, key) in [("plain", AES_KEY), ("compatible", "")] {
        let mut g = wechat_gateway(&oa.server, !key.is_empty());
        if let ChannelSettings::Wechat(w) = &mut g.channel {
            w.mode = Some(if mode == "plain" {
                careminder::gateway::wechat::CallbackMode::Plain
            } else {
                careminder::gateway::wechat::CallbackMode::Compatible
            });
        }
        let dir = tempfile::tempdir().unwrap();
        let mut c = Config {
            database: dir.path().join("x.db").into(),
            ..Config::default()
        };
        c.gateways.insert("wechat".into(), g);
        let err = careminder::App::open(c, careminder::Clock::manual(t.clock.now()))
            .await
            .err()
            .expect("refused")
            .to_string();
        assert!(
            err.contains("gateways.wechat.encoding_aes_key"),
            "{mode}: {err}"
        );
    }
}
