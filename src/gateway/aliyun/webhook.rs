//! Aliyun's HTTP batch pushes (HTTP批量推送): `/webhooks/aliyun/report`
//! (SmsReport: delivery receipts) and `/webhooks/aliyun/reply` (SmsUp:
//! replies). Each is a JSON array, answered `{"code":0,"msg":"接收成功"}`;
//! Aliyun pushes again after a failure (at 1, 5 and 10 minutes) and may
//! push a receipt twice, so each is recorded once. The pushes carry no
//! signature: the URL set in the console carries `?secret=`, refused
//! without it.
//!
//! Before saving a push URL, the console tests it and wants
//! `{"code": 0, "msg": "成功"}` back within 700 ms (help.aliyun.com/en/pnvs/
//! developer-reference/dypnssmsverifyreport-http: "Click Test … If the
//! response is {"code": 0, "msg": "Success"}"; help.aliyun.com/zh/pnvs/
//! developer-reference/message-receipts: "响应超时时间为700毫秒"): a GET on
//! either URL (with its secret) is answered so at once, reading nothing.
//!
//! A receipt of a batch (no `out_id`) whose send is not recorded yet is
//! kept and applied once the batch's results are written: the push is
//! acknowledged, never refused for it.

use super::batch_provider_id;
use crate::domain::delivery::parse_wire_id;
use crate::domain::{GatewayKind, NewInbound, ReportedStatus, StatusReport};
use crate::gateway::backend::{BackendError, SharedBackend};
use crate::gateway::cloud::{beijing_time, from_push};
use crate::gateway::hooks::{refuse, secret_gateway, secret_push};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde::Deserialize;

pub fn routes() -> Router<SharedBackend> {
    Router::new()
        .route("/webhooks/aliyun/report", post(report).get(check))
        .route("/webhooks/aliyun/reply", post(reply).get(check))
}

/// The console's test of a push URL: `{"code":0,"msg":"成功"}` when the URL
/// carries a configured secret.
async fn check(State(b): State<SharedBackend>, RawQuery(q): RawQuery) -> Response {
    match secret_gateway(&b, GatewayKind::Aliyun, q.as_deref()) {
        Some(_) => axum::Json(serde_json::json!({"code": 0, "msg": "成功"})).into_response(),
        None => refuse(
            &b,
            StatusCode::FORBIDDEN,
            GatewayKind::Aliyun.as_str(),
            "missing or wrong callback secret",
        ),
    }
}

/// What Aliyun wants back: `code` 0, any other answer is pushed again.
fn received() -> Response {
    axum::Json(serde_json::json!({"code": 0, "msg": "接收成功"})).into_response()
}

/// A string or a number, as Aliyun writes ids.
#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
enum Loose {
    S(String),
    N(serde_json::Number),
}

impl Loose {
    fn text(&self) -> String {
        match self {
            Loose::S(s) => s.clone(),
            Loose::N(n) => n.to_string(),
        }
    }
}

#[derive(Deserialize)]
struct Report {
    phone_number: String,
    #[serde(default)]
    success: bool,
    #[serde(default)]
    err_code: Option<String>,
    #[serde(default)]
    err_msg: Option<String>,
    #[serde(default)]
    report_time: Option<String>,
    #[serde(default)]
    biz_id: Option<Loose>,
    #[serde(default)]
    out_id: Option<Loose>,
}

#[derive(Deserialize)]
struct Up {
    phone_number: String,
    #[serde(default)]
    content: String,
    #[serde(default)]
    send_time: Option<String>,
    #[serde(default)]
    sequence_id: Option<Loose>,
}

async fn report(State(b): State<SharedBackend>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let (gateway, reports) = match secret_push::<Vec<Report>>(
        &b,
        GatewayKind::Aliyun,
        q.as_deref(),
        &body,
        "an SmsReport array",
    ) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let now = b.now();
    let result: Result<(), BackendError> = async {
        for r in reports {
            let number = r.phone_number.trim().to_string();
            let biz = r.biz_id.as_ref().map(Loose::text).unwrap_or_default();
            let id = match r.out_id.as_ref().and_then(|o| parse_wire_id(&o.text())) {
                Some(id) => Some(id),
                None => match b
                    .message_by_provider_id(&gateway, &batch_provider_id(&biz, &number))
                    .await?
                {
                    Some((id, _)) => Some(id),
                    None => b
                        .message_by_provider_id(&gateway, &biz)
                        .await?
                        .map(|(id, _)| id),
                },
            };
            let status = if r.success {
                ReportedStatus::Delivered
            } else {
                ReportedStatus::Failed
            };
            let reason = (!r.success).then(|| {
                format!(
                    "{gateway}: {} {}",
                    r.err_code.clone().unwrap_or_default(),
                    r.err_msg.clone().unwrap_or_default()
                )
                .trim()
                .to_string()
            });
            let at = r
                .report_time
                .as_deref()
                .and_then(beijing_time)
                .unwrap_or(now)
                .min(now);
            let Some(id) = id else {
                if r.out_id.is_none() && !biz.is_empty() {
                    // A batch whose results are still being written: kept
                    // under the id its messages will carry.
                    let provider_id = batch_provider_id(&biz, &number);
                    b.early_report(&gateway, &provider_id, status, reason, at)
                        .await?;
                    continue;
                }
                tracing::info!(gateway = %gateway, "receipt for a message that is not ours");
                continue;
            };
            let report = StatusReport {
                message_id: id,
                status,
                reason,
                at,
                gateway: Some(gateway.clone()),
            };
            // Pushed again after a lost answer: recorded once.
            let event = format!("report:{biz}:{number}");
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
    let (gateway, ups) = match secret_push::<Vec<Up>>(
        &b,
        GatewayKind::Aliyun,
        q.as_deref(),
        &body,
        "an SmsUp array",
    ) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let now = b.now();
    for up in ups {
        let sender = from_push(None, &up.phone_number);
        let sender = b.phone(&sender).unwrap_or(sender);
        let at = up
            .send_time
            .as_deref()
            .and_then(beijing_time)
            .unwrap_or(now)
            .min(now);
        // No BizId on a reply: she is found by her number, as for any text.
        let provider_id = match &up.sequence_id {
            Some(s) => format!("up:{}", s.text()),
            None => format!("up:{}:{}", up.phone_number, at.timestamp()),
        };
        if let Err(e) = b
            .receive(NewInbound {
                gateway: gateway.clone(),
                provider_id,
                sender,
                text: up.content,
                received_at: at,
            })
            .await
        {
            return e.into_response();
        }
    }
    received()
}
