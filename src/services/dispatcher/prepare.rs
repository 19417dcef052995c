//! Preparing a claimed message: whether it goes at all (consent, a
//! stopped broadcast, its grace, the send window), its text, and its
//! channel and gateway (WeChat, WeCom, SMS through its route, an approved
//! template, a failover that sends free text). Pure: no store, no network.

use super::context;
use super::outcome::not_sent;
use super::send::Via;
use crate::config::Config;
use crate::domain::{Channel, MessageKind, MessageStatus as S};
use crate::gateway::{Gateways, OutgoingMessage};
use crate::render::{MessageContext, Renderer};
use crate::store::{ClaimedMessage, SendResult};
use chrono::{DateTime, Utc};

/// What preparing a message reads: the configuration and the gateways.
pub(super) struct Preparer<'a> {
    pub config: &'a Config,
    pub gateways: &'a Gateways,
}

impl Preparer<'_> {
    /// The channel for a claimed message, when not SMS: WeChat for a
    /// reminder to a woman who follows the account (if the step has a
    /// template message), WeChat for an answer to a message she sent there,
    /// WeCom for staff who have a user id. An SMS stand-in is always SMS.
    fn choose_channel(
        &self,
        m: &ClaimedMessage,
        renderer: &Renderer,
        text: impl FnOnce() -> Result<String, Box<SendResult>>,
        now: DateTime<Utc>,
    ) -> Option<Result<(OutgoingMessage, Via), Box<SendResult>>> {
        if m.fallback_of.is_some() {
            return None;
        }
        let out = |to: &str, body: String, template| OutgoingMessage {
            id: m.id,
            to: to.to_string(),
            body,
            attempt: m.attempts,
            template,
            sms_template: None,
        };
        if let Some((name, _)) = &self.gateways.wechat {
            let via = || Via::Gateway {
                name: name.clone(),
                channel: Channel::Wechat,
            };
            if let (Some(openid), Some(step_id), None) = (&m.wechat_to, m.step_id, &m.preset_body) {
                let ctx = self.context_in(m, crate::render::FALLBACK_LANGUAGE, now);
                let t = renderer.render_wechat(step_id, &ctx)?;
                return Some(match t {
                    Ok(t) => {
                        let body = t
                            .data
                            .iter()
                            .map(|(k, v)| format!("{k}: {v}"))
                            .collect::<Vec<_>>()
                            .join("\n");
                        Ok((out(openid, body, Some(t)), via()))
                    }
                    Err(e) => {
                        tracing::error!(message_id = m.id, step_id, error = %e, "WeChat render failed: SMS instead");
                        return None;
                    }
                });
            }
            if let Some((g, sender)) = &m.reply_via {
                if g == name && m.kind == MessageKind::Reply {
                    return Some(text().map(|body| (out(sender, body, None), via())));
                }
            }
        }
        if let (Some((name, _)), Some(user), true) = (&self.gateways.wecom, &m.wecom_to, m.to_staff)
        {
            let via = Via::Gateway {
                name: name.clone(),
                channel: Channel::Wecom,
            };
            return Some(text().map(|body| (out(user, body, None), via)));
        }
        None
    }

    /// Renders a claimed message and picks its channel, or says why it
    /// will not be sent.
    pub(super) fn prepare(
        &self,
        m: &ClaimedMessage,
        renderer: &Renderer,
        now: DateTime<Utc>,
    ) -> Result<(OutgoingMessage, Via), Box<SendResult>> {
        let end = |status: S, cause: String| {
            Box::new(SendResult {
                undo_attempt: false,
                ..not_sent(m, status, cause, None)
            })
        };
        if !m.can_receive {
            return Err(end(S::Cancelled, "no consent or opted out".into()));
        }
        if m.stopped {
            return Err(end(S::Cancelled, "broadcast stopped".into()));
        }
        if m.expires_at <= now {
            return Err(end(S::Expired, "past its grace: not sent late".into()));
        }
        let tz = self.config.zone_for(m.village.as_deref());
        if m.kind != MessageKind::Reply && !self.config.send_window.is_open(tz, now) {
            // Claimed while the window was open elsewhere: it waits for its own.
            let at = self.config.send_window.next_open(tz, now);
            let mut r = end(
                if at >= m.expires_at {
                    S::Expired
                } else {
                    S::Scheduled
                },
                format!("outside the send window in {}", tz.name()),
            );
            if r.status == S::Scheduled {
                r.retry_at = Some(crate::store::ts(at));
            }
            r.undo_attempt = true;
            return Err(r);
        }
        let text = || match (&m.preset_body, m.step_id) {
            (Some(body), _) => Ok(body.clone()),
            (None, Some(step_id)) => renderer
                .render(step_id, &m.language, &self.context(m, now))
                .map_err(|e| {
                    tracing::error!(message_id = m.id, step_id, error = %e, "render failed");
                    end(S::Failed, e.to_string())
                }),
            (None, None) => Err(end(S::Failed, "message has neither text nor step".into())),
        };
        if let Some(chosen) = self.choose_channel(m, renderer, text, now) {
            return chosen;
        }
        let Some(to) = m.phone.clone() else {
            return Err(end(S::Failed, "recipient has no phone number".into()));
        };
        let (entry, failed_over) =
            self.gateways
                .route_at(m.to_staff, m.village.as_deref(), m.first_tried_at, now);
        let mut gateway = entry.gateway.name().to_string();
        let mut failover = failed_over.map(|_| {
            format!(
                "failover: its own gateway kept failing it since {}",
                m.first_tried_at.format("%Y-%m-%d %H:%M UTC")
            )
        });
        let mut out = OutgoingMessage {
            id: m.id,
            to,
            body: format!("{}{}", self.config.sms_signature, text()?),
            attempt: m.attempts,
            template: None,
            sms_template: None,
        };
        if let Some(account) = entry.config.channel.account() {
            // A provider that sends only its approved templates.
            let filled = match (&m.preset_body, m.step_id) {
                (None, Some(step_id)) => renderer.render_sms(
                    step_id,
                    account.kind,
                    account.sign_name,
                    account.max_variable_chars,
                    &self.context_in(m, crate::render::FALLBACK_LANGUAGE, now),
                ),
                (Some(body), _) => account.system_template(m.kind).map(|t| {
                    account
                        .fill_system(t, body)
                        .map_err(crate::render::RenderError::Template)
                }),
                (None, None) => None,
            };
            match filled {
                Some(Ok(f)) => {
                    out.body = f.text.clone();
                    out.sms_template = Some(f);
                }
                Some(Err(e)) => return Err(end(S::Failed, format!("{gateway}: {e}"))),
                None => {
                    let reason = match m.step_id {
                        Some(step) if m.preset_body.is_none() => format!(
                            "{gateway} sends only approved templates and step {step} has none for it"
                        ),
                        _ => format!(
                            "{gateway} sends only approved templates and has none for a {} (templates.{})",
                            m.kind.as_str(),
                            if m.kind == MessageKind::Alert { "alert" } else { "reply" }
                        ),
                    };
                    // Its failover, when that one sends free text.
                    match entry.config.failover.as_deref().filter(|f| {
                        self.gateways
                            .get(f)
                            .is_some_and(|e| !e.config.kind().needs_template())
                    }) {
                        Some(f) => {
                            gateway = f.to_string();
                            failover = Some(format!("failover: {reason}"));
                        }
                        None => return Err(end(S::Failed, reason)),
                    }
                }
            }
        }
        Ok((out, Via::Sms { gateway, failover }))
    }

    fn context(&self, m: &ClaimedMessage, now: DateTime<Utc>) -> MessageContext {
        context::of(self.config, m, &m.language, now)
    }

    /// The context written for `lang` (WeChat templates are Chinese).
    fn context_in(&self, m: &ClaimedMessage, lang: &str, now: DateTime<Utc>) -> MessageContext {
        context::of(self.config, m, lang, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::StepText;

    fn at(s: &str) -> DateTime<Utc> {
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
            .unwrap()
            .and_utc()
    }

    /// 09:00 in Shanghai: the default send window (08:00-20:00) is open.
    fn now() -> DateTime<Utc> {
        at("2027-04-20 01:00")
    }

    fn config() -> Config {
        Config {
            sms_signature: "【县妇幼】".into(),
            ..Config::default()
        }
    }

    /// Step 1's Chinese text; step 2's does not render (no such variable).
    fn renderer() -> Renderer {
        let text = |step_id, body: &str| StepText {
            step_id,
            language: "zh-CN".into(),
            body: body.into(),
        };
        let (r, broken) = Renderer::new(
            &[
                text(
                    1,
                    "{{ name }}您好，{{ date }}请到{{ clinic }}做{{ contact }}。",
                ),
                text(2, "{{ nobody_knows }}"),
            ],
            &[],
            &[],
        );
        assert!(broken.is_empty());
        r
    }

    fn prepared(
        m: &ClaimedMessage,
        at: DateTime<Utc>,
    ) -> Result<(OutgoingMessage, Via), Box<SendResult>> {
        let config = config();
        let gateways = Gateways::build(
            &config.gateway,
            &config.gateways,
            &config.routing,
            "",
            crate::clock::Clock::manual(at),
        )
        .unwrap();
        Preparer {
            config: &config,
            gateways: &gateways,
        }
        .prepare(m, &renderer(), at)
    }

    fn refused(m: &ClaimedMessage, at: DateTime<Utc>) -> SendResult {
        match prepared(m, at) {
            Err(r) => *r,
            Ok((out, _)) => panic!("sent: {}", out.body),
        }
    }

    #[test]
    fn a_reminder_is_rendered_signed_and_goes_by_sms_through_its_route() {
        let m = super::super::claimed_reminder();
        let (out, via) = prepared(&m, now()).unwrap();
        assert_eq!(
            out.body,
            "【县妇幼】王秀英您好，4月23日请到乡镇卫生院做第3次产前检查。"
        );
        assert_eq!(out.to, "+8613800000001");
        assert_eq!((out.id, out.attempt), (7, 1));
        assert_eq!(via.channel(), Channel::Sms);
        assert!(matches!(via, Via::Sms { failover: None, .. }));
    }

    #[test]
    fn a_preset_text_is_sent_as_written() {
        let mut m = super::super::claimed_reminder();
        m.preset_body = Some("收到，谢谢。".into());
        m.step_id = None;
        m.kind = MessageKind::Reply;
        let (out, _) = prepared(&m, now()).unwrap();
        assert_eq!(out.body, "【县妇幼】收到，谢谢。");
    }

    #[test]
    fn no_consent_or_an_opt_out_cancels_and_a_stopped_broadcast_too() {
        let mut m = super::super::claimed_reminder();
        m.can_receive = false;
        let r = refused(&m, now());
        assert_eq!(r.status, S::Cancelled);
        assert!(!r.undo_attempt);
        let mut m = super::super::claimed_reminder();
        m.stopped = true;
        assert_eq!(refused(&m, now()).status, S::Cancelled);
    }

    #[test]
    fn past_its_grace_it_expires_and_is_never_sent_late() {
        let m = super::super::claimed_reminder();
        let r = refused(&m, at("2027-04-21 12:00"));
        assert_eq!(r.status, S::Expired);
    }

    #[test]
    fn outside_the_send_window_it_waits_for_the_window_without_using_an_attempt() {
        let m = super::super::claimed_reminder();
        // 22:30 in Shanghai: the window opens at 08:00, before its grace ends.
        let r = refused(&m, at("2027-04-20 14:30"));
        assert_eq!(r.status, S::Scheduled);
        assert!(r.undo_attempt);
        assert_eq!(r.retry_at, Some(crate::store::ts(at("2027-04-21 00:00"))));
        // An answer to her question is not held by the window.
        let mut reply = super::super::claimed_reminder();
        reply.kind = MessageKind::Reply;
        reply.preset_body = Some("好的".into());
        assert!(prepared(&reply, at("2027-04-20 14:30")).is_ok());
    }

    #[test]
    fn a_window_that_opens_after_its_grace_expires_it() {
        let mut m = super::super::claimed_reminder();
        m.expires_at = at("2027-04-20 20:00");
        assert_eq!(refused(&m, at("2027-04-20 14:30")).status, S::Expired);
    }

    #[test]
    fn no_phone_number_or_a_text_that_does_not_render_fails_it() {
        let mut m = super::super::claimed_reminder();
        m.phone = None;
        assert_eq!(refused(&m, now()).status, S::Failed);
        let mut m = super::super::claimed_reminder();
        m.step_id = Some(2);
        assert_eq!(refused(&m, now()).status, S::Failed);
        let mut m = super::super::claimed_reminder();
        m.step_id = None;
        assert_eq!(refused(&m, now()).status, S::Failed);
    }
}
