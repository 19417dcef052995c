//! WeChat, above the gateway: what the Official Account's callbacks mean
//! (a woman's words, binding by QR code, following and unfollowing, the
//! final status of a template message), the steps' template-message
//! variants, and the binding QR code printed for each woman.

use super::{AppError, Waker};
use crate::domain::WechatEvent;
use crate::gateway::{ReportedStatus, StatusReport};
use crate::store::{NewInbound, WechatVariant};
use chrono::{TimeZone, Utc};

/// WeChat: binding followers to women, their replies and statuses, template variants.
#[derive(Clone)]
pub struct WechatBinding {
    pub(crate) store: crate::store::Store,
    pub(crate) clock: crate::clock::Clock,
    pub(crate) gateways: std::sync::Arc<crate::gateway::Gateways>,
    pub(crate) receipts: super::receipts::ReceiptWriter,
    pub(crate) inbound: super::inbound::Inbound,
    pub(crate) wake: Waker,
}

impl WechatBinding {
    /// Acts on one callback from the Official Account `gateway`.
    /// Returns what was done, for the log.
    pub async fn callback(&self, gateway: &str, x: WechatEvent) -> Result<&'static str, AppError> {
        let now = self.clock.now();
        let at = x
            .create_time
            .and_then(|t| Utc.timestamp_opt(t, 0).single())
            .unwrap_or(now)
            .min(now);
        let openid = x.from_user_name.as_str();
        if x.msg_type != "event" {
            // Her words (or a picture, a voice note: a person looks at those).
            let text = match (x.msg_type.as_str(), &x.content) {
                ("text", Some(t)) => t.clone(),
                (other, _) => format!("[{other}]"),
            };
            let provider_id = x
                .msg_id
                .clone()
                .unwrap_or_else(|| format!("{openid}:{}", x.create_time.unwrap_or(0)));
            let r = self
                .inbound
                .receive(NewInbound {
                    gateway: gateway.to_string(),
                    provider_id,
                    sender: openid.to_string(),
                    text,
                    received_at: at,
                })
                .await?;
            return Ok(if r.duplicate {
                "duplicate message"
            } else {
                "message stored"
            });
        }
        let event = x.event.clone().unwrap_or_default();
        // Events have no id: WeChat's advice is sender + time; the event,
        // its key and a template message's id tell apart two in one second.
        let event_id = format!(
            "{openid}:{}:{event}:{}:{}",
            x.create_time.unwrap_or(0),
            x.event_key.as_deref().unwrap_or(""),
            x.msg_id.as_deref().unwrap_or("")
        );
        if self.store.webhook_event_seen(gateway, &event_id).await? {
            return Ok("duplicate event");
        }
        let done = match event.as_str() {
            "subscribe" | "SCAN" => {
                let bound = match (&self.gateways.wechat, &x.event_key) {
                    (Some((_, w)), Some(key)) if !key.is_empty() => w.woman_of_scene(key),
                    _ => None,
                };
                match bound {
                    Some(woman) if self.store.bind_wechat(woman, openid, now).await? => {
                        tracing::info!(woman_id = woman, "WeChat bound by QR code");
                        "bound"
                    }
                    Some(woman) => {
                        tracing::warn!(
                            woman_id = woman,
                            "QR binding refused: unknown, erased, or bound to another WeChat user"
                        );
                        "binding refused"
                    }
                    None => {
                        if event == "subscribe" {
                            self.store.set_wechat_following(openid, true, now).await?;
                            "followed"
                        } else {
                            "scan without a binding"
                        }
                    }
                }
            }
            "unsubscribe" => {
                let women = self.store.set_wechat_following(openid, false, now).await?;
                tracing::info!(women = women.len(), "WeChat unfollowed: SMS from now on");
                "unfollowed"
            }
            "TEMPLATESENDJOBFINISH" => {
                let msgid = x.msg_id.clone().unwrap_or_default();
                let status = x.status.clone().unwrap_or_default();
                match self.store.message_by_provider_id(gateway, &msgid).await? {
                    // Often WeChat's word arrives before the send's result is
                    // written: not recorded, so WeChat's retry is applied.
                    None => return Err(AppError::NotYet(format!("template message {msgid}"))),
                    Some((id, _)) => {
                        let s = x.template_status();
                        let report = StatusReport {
                            message_id: id,
                            status: s,
                            reason: (s == ReportedStatus::Failed)
                                .then(|| format!("{gateway}: {status}")),
                            at,
                            gateway: Some(gateway.to_string()),
                        };
                        self.receipts.submit(None, report).await?;
                        if s == ReportedStatus::Failed
                            && self.store.fall_back_to_sms(&[id], now).await? > 0
                        {
                            tracing::info!(
                                message_id = id,
                                "WeChat could not deliver: SMS instead"
                            );
                            self.wake.wake();
                        }
                        "status"
                    }
                }
            }
            _ => "event ignored",
        };
        self.store
            .record_webhook_event(gateway, &event_id, now)
            .await?;
        Ok(done)
    }

    /// Saves (or removes) a step's WeChat template message, after checking
    /// it against WeChat's rules; the error names the field.
    pub async fn set_variant(
        &self,
        campaign: &str,
        step: &str,
        variant: Option<WechatVariant>,
        actor: &str,
    ) -> Result<(), AppError> {
        let step_id = self.store.step_id(campaign, step).await?;
        let now = self.clock.now();
        if let Some(v) = &variant {
            crate::render::validate_wechat(v).map_err(|e| AppError::Refused(e.to_string()))?;
        }
        let v = variant.map(|v| WechatVariant { step_id, ..v });
        self.store
            .set_wechat_variant(step_id, v.as_ref(), actor, now)
            .await?;
        self.store
            .audit(
                now,
                actor,
                if v.is_some() {
                    "wechat_variant_saved"
                } else {
                    "wechat_variant_removed"
                },
                &format!("step:{step_id}"),
                &v.map(|v| serde_json::to_string(&v).expect("json"))
                    .unwrap_or_default(),
            )
            .await?;
        Ok(())
    }

    /// The URL of a woman's binding QR code, from WeChat, and her name.
    pub async fn qr(&self, woman_id: i64) -> Result<(String, String), AppError> {
        let Some((_, w)) = &self.gateways.wechat else {
            return Err(AppError::Config(
                "no WeChat Official Account is configured (a gateway of kind \"wechat\")".into(),
            ));
        };
        let woman = self.store.woman(woman_id).await?;
        let url = w
            .create_qr(&w.scene_for(woman_id))
            .await
            .map_err(AppError::Refused)?;
        Ok((url, woman.name))
    }
}
