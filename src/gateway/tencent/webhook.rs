//! Tencent Cloud SMS pushes: `/webhooks/tencent/status` (状态回调: a JSON
//! array of delivery reports, each naming the `sid` = SerialNo the send
//! returned) and `/webhooks/tencent/reply` (上行回调: one reply), both
//! answered `{"result":0,"errmsg":"OK"}`. They carry no signature: the
//! URL set in the console carries `?secret=`, refused without it.
//!
//! One status push holds up to 100 reports and a failed push is retried
//! only twice (cloud.tencent.com/document/api/382/59178, 常见问题 1 and
//! 2), so a push is never refused for one report: each report whose send
//! is recorded is applied, and one whose `sid` no message carries yet (a
//! send whose result is still being written, or another application's)
//! is kept and applied once a send's result names it.

use crate::domain::delivery::parse_wire_id;
use crate::domain::{GatewayKind, NewInbound, ReportedStatus, StatusReport};
use crate::gateway::backend::{BackendError, SharedBackend};
use crate::gateway::cloud::{beijing_time, from_push};
use crate::gateway::hooks::secret_push;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde::Deserialize;
use sha2::{Digest, Sha256};

pub fn routes() -> Router<SharedBackend> {
    Router::new()
        .route("/webhooks/tencent/status", post(status))
        .route("/webhooks/tencent/reply", post(reply))
}

fn received() -> Response {
    axum::Json(serde_json::json!({"result": 0, "errmsg": "OK"})).into_response()
}

#[derive(Deserialize)]
struct Report {
    sid: String,
    #[serde(default)]
    report_status: String,
    #[serde(default)]
    errmsg: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    user_receive_time: Option<String>,
    /// The send's `SessionContext`, where Tencent support turned the echo
    /// on ("如需开通请联系腾讯云短信小助手"); absent by default.
    #[serde(default)]
    ext: Option<String>,
}

#[derive(Deserialize)]
struct Reply {
    mobile: String,
    #[serde(default)]
    nationcode: Option<String>,
    #[serde(default)]
    text: String,
    #[serde(default)]
    time: Option<i64>,
}

async fn status(State(b): State<SharedBackend>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let (gateway, reports) = match secret_push::<Vec<Report>>(
        &b,
        GatewayKind::Tencent,
        q.as_deref(),
        &body,
        "an array of status reports",
    ) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let now = b.now();
    let result: Result<(), BackendError> = async {
        for r in reports {
            let ok = r.report_status.eq_ignore_ascii_case("SUCCESS");
            let status = if ok {
                ReportedStatus::Delivered
            } else {
                ReportedStatus::Failed
            };
            let reason = (!ok).then(|| format!("{gateway}: {} {}", r.errmsg, r.description));
            let at = r
                .user_receive_time
                .as_deref()
                .and_then(beijing_time)
                .unwrap_or(now)
                .min(now);
            let id = match r.ext.as_deref().and_then(parse_wire_id) {
                Some(id) => Some(id),
                None if r.sid.is_empty() => continue,
                None => b
                    .message_by_provider_id(&gateway, &r.sid)
                    .await?
                    .map(|(id, _)| id),
            };
            let Some(id) = id else {
                b.early_report(&gateway, &r.sid, status, reason, at).await?;
                continue;
            };
            let report = StatusReport {
                message_id: id,
                status,
                reason,
                at,
                gateway: Some(gateway.clone()),
            };
            let event = format!("status:{}", r.sid);
            b.status(Some((gateway.clone(), event)), report).await?;
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => received(),
        Err(e) => e.into_response(),
    }
}

async fn reply(State(b): State<SharedBackend>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let (gateway, r) =
        match secret_push::<Reply>(&b, GatewayKind::Tencent, q.as_deref(), &body, "a reply") {
            Ok(v) => v,
            Err(r) => return r,
        };
    let now = b.now();
    let at = r
        .time
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .unwrap_or(now)
        .min(now);
    let sender = from_push(r.nationcode.as_deref(), &r.mobile);
    let sender = b.phone(&sender).unwrap_or(sender);
    // A reply has no id of its own: its number, time and text make one,
    // so a push repeated is recognised.
    let digest = Sha256::digest(format!("{}|{:?}|{}", r.mobile, r.time, r.text).as_bytes());
    let provider_id = format!("up:{}", crate::gateway::cloud::hex(&digest[..12]));
    match b
        .receive(NewInbound {
            gateway,
            provider_id,
            sender,
            text: r.text,
            received_at: at,
        })
        .await
    {
        Ok(_) => received(),
        Err(e) => e.into_response(),
    }
}
