//! Every webhook, through the real router on a real database, with bodies
//! signed as each gateway signs them, so the fuzzer gets past the
//! signature checks into the parsers and what acts on them. The first byte
//! picks the door. Any answer but a 5xx is fine; a panic or a 5xx is a bug.
#![no_main]
use axum::body::Body;
use axum::http::{Request, StatusCode};
use careminder::config::{ChannelSettings, Config, GatewayConfig};
use careminder::gateway::{android, cht, twilio, wechat};
use careminder::{App, Clock};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use tower::ServiceExt;

const TOKEN: &str = "fuzz-token";
const ANDROID_KEY: &str = "k3y";
const TWILIO_TOKEN: &str = "t0ken";
const PUBLIC: &str = "https://sms.example.org";
const WX_TOKEN: &str = "wxt0ken";
const WX_APPID: &str = "wxfuzz0000000001";
const WX_AES: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";

struct World {
    rt: tokio::runtime::Runtime,
    router: axum::Router,
    now: i64,
    _dir: tempfile::TempDir,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Config {
            database: dir.path().join("fuzz.db").into(),
            api_token: Some(TOKEN.into()),
            public_url: PUBLIC.into(),
            ..Config::default()
        };
        c.gateways.insert(
            "phone".into(),
            GatewayConfig::new(ChannelSettings::Android(android::Settings {
                base_url: "http://127.0.0.1:9".into(),
                signing_key: ANDROID_KEY.into(),
                ..Default::default()
            })),
        );
        c.gateways.insert(
            "tw".into(),
            GatewayConfig::new(ChannelSettings::Twilio(twilio::Settings {
                base_url: "http://127.0.0.1:9".into(),
                account_sid: "AC1".into(),
                auth_token: TWILIO_TOKEN.into(),
                from: "+15005550006".into(),
                ..Default::default()
            })),
        );
        c.gateways.insert(
            "cht".into(),
            GatewayConfig::new(ChannelSettings::Cht(cht::Settings {
                username: "phone1".into(),
                password: "s3cret".into(),
            })),
        );
        let wx = GatewayConfig::new(ChannelSettings::Wechat(wechat::Settings {
            base_url: "http://127.0.0.1:9".into(),
            appid: WX_APPID.into(),
            secret: "s".into(),
            token: WX_TOKEN.into(),
            encoding_aes_key: WX_AES.into(),
            ..Default::default()
        }));
        c.gateways.insert("wechat".into(), wx);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let start = chrono::DateTime::parse_from_rfc3339("2026-12-01T02:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let app: Arc<App> = rt.block_on(App::open(c, Clock::manual(start))).unwrap();
        // A woman to reply and messages to report on.
        rt.block_on(async {
            let input = careminder::services::enrollment::EnrollmentInput {
                name: "王秀英".into(),
                phone: "13812345678".into(),
                lmp: Some("2026-09-22".into()),
                consent: Some("yes".into()),
                ..Default::default()
            };
            app.care.enroll(&input, "fuzz", "fuzz").await.unwrap();
        });
        World {
            router: careminder::web::router(app),
            rt,
            now: start.timestamp(),
            _dir: dir,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&door, body)) = data.split_first() else {
        return;
    };
    let w = world();
    let req = match door % 8 {
        0 => {
            let ts = w.now.to_string();
            Request::post("/webhooks/android")
                .header("x-timestamp", &ts)
                .header(
                    "x-signature",
                    careminder::gateway::android::sign(ANDROID_KEY, body, &ts),
                )
                .header("content-type", "application/json")
        }
        d @ (1 | 2) => {
            let path = if d == 1 {
                "/webhooks/twilio/inbound"
            } else {
                "/webhooks/twilio/status"
            };
            let params: Vec<(String, String)> =
                serde_urlencoded::from_bytes(body).unwrap_or_default();
            let sig = careminder::gateway::twilio::signature(
                TWILIO_TOKEN,
                &format!("{PUBLIC}{path}"),
                &params,
            );
            Request::post(path)
                .header("x-twilio-signature", sig)
                .header("content-type", "application/x-www-form-urlencoded")
        }
        3 => {
            use base64::Engine;
            let auth = base64::engine::general_purpose::STANDARD.encode("phone1:s3cret");
            Request::post("/gateways/cht")
                .header("authorization", format!("Basic {auth}"))
                .header("content-type", "application/json")
        }
        d @ (6 | 7) => {
            // WeChat: plain XML, or (safe mode) the body encrypted and
            // wrapped as WeChat wraps it.
            use careminder::gateway::wechat::crypto::{signature, Cipher};
            let ts = w.now.to_string();
            let sig = signature(&[WX_TOKEN, &ts, "n"]);
            let mut uri = format!("/webhooks/wechat?signature={sig}&timestamp={ts}&nonce=n");
            let body = if d == 7 {
                let xml = String::from_utf8_lossy(body);
                let enc = Cipher::new(WX_AES, WX_APPID).unwrap().encrypt(&xml, [1; 16]);
                let msg_sig = signature(&[WX_TOKEN, &ts, "n", &enc]);
                uri.push_str(&format!("&encrypt_type=aes&msg_signature={msg_sig}"));
                format!("<xml><ToUserName>gh</ToUserName><Encrypt>{enc}</Encrypt></xml>").into_bytes()
            } else {
                body.to_vec()
            };
            let req = Request::post(uri).header("content-type", "text/xml");
            let req = req.body(Body::from(body)).unwrap();
            let status = w.rt.block_on(w.router.clone().oneshot(req)).unwrap().status();
            assert!(!status.is_server_error(), "door {door}: {status}");
            return;
        }
        4 => Request::post("/webhooks/mock")
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", "application/json"),
        _ => Request::post("/webhooks/mock/status")
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", "application/json"),
    };
    let req = req.body(Body::from(body.to_vec())).unwrap();
    let status =
        w.rt.block_on(w.router.clone().oneshot(req))
            .unwrap()
            .status();
    assert!(
        !status.is_server_error() || status == StatusCode::SERVICE_UNAVAILABLE,
        "door {door}: {status}"
    );
});
