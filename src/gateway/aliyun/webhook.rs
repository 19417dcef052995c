//! Aliyun's HTTP batch pushes (HTTP批量推送): `/webhooks/aliyun/report`
//! (SmsReport: delivery receipts) and `/webhooks/aliyun/reply` (SmsUp:
//! replies). Each is a JSON array, answered `{"code":0,"msg":"接收成功"}`;
//! Aliyun pushes again after a failure (at 1, 5 and 10 minutes) and may
//! push a receipt twice, so each is recorded once. The pushes carry no
//! signature: the URL set in the console carries `?secret=`, refused
//! without it.

use super::batch_provider_id;
use crate::domain::delivery::parse_wire_id;
use crate::domain::{GatewayKind, NewInbound, ReportedStatus, StatusReport};
use crate::gateway::backend::{BackendError, SharedBackend};
use crate::gateway::cloud::{beijing_time, from_push};
use crate::gateway::webhooks::secret_push;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde::Deserialize;

pub fn routes() -> Router<SharedBackend> {
    Router::new()
        .route("/webhooks/aliyun/report", post(report))
        .route("/webhooks/aliyun/reply", post(reply))
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
            let Some(id) = id else {
                if r.out_id.is_none() && !biz.is_empty() {
                    // A batch whose hand-over is still being recorded:
                    // Aliyun pushes again in a minute.
                    return Err(BackendError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "a receipt for a message not recorded yet",
                    ));
                }
                tracing::info!(gateway = %gateway, "receipt for a message that is not ours");
                continue;
            };
            let report = StatusReport {
                message_id: id,
                status: if r.success {
                    ReportedStatus::Delivered
                } else {
                    ReportedStatus::Failed
                },
                reason: (!r.success).then(|| {
                    format!(
                        "{gateway}: {} {}",
                        r.err_code.unwrap_or_default(),
                        r.err_msg.unwrap_or_default()
                    )
                    .trim()
                    .to_string()
                }),
                at: r
                    .report_time
                    .as_deref()
                    .and_then(beijing_time)
                    .unwrap_or(now)
                    .min(now),
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
