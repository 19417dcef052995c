//! What became of a hand-over, as the result the outbox records: pure
//! decisions (status, cause, retry time, SMS stand-in), tested here
//! without a gateway or a database.

use crate::config::DispatcherConfig;
use crate::domain::{Channel, MessageStatus as S};
use crate::gateway::{OutgoingMessage, SendOutcome};
use crate::store::{ClaimedMessage, SendResult};
use chrono::{DateTime, Duration, Utc};
use rand::Rng;

/// The result of handing `out` to `gateway` on `channel`.
pub(super) fn result_of(
    cfg: &DispatcherConfig,
    m: &ClaimedMessage,
    gateway: &str,
    channel: Channel,
    out: OutgoingMessage,
    outcome: SendOutcome,
    now: DateTime<Utc>,
) -> SendResult {
    let parts = match channel {
        Channel::Sms => crate::domain::sms::measure(&out.body).parts as i64,
        _ => 1,
    };
    let mut r = SendResult {
        id: m.id,
        attempt: m.attempts,
        status: S::Failed,
        cause: None,
        retry_at: None,
        gateway: Some(gateway.to_string()),
        provider_id: None,
        to_addr: Some(out.to.clone()),
        parts: Some(parts),
        body: Some(out.body),
        undo_attempt: false,
        channel: Some(channel),
        fallback: false,
    };
    match outcome {
        SendOutcome::Accepted { provider_id } => {
            r.status = S::Accepted;
            r.provider_id = provider_id;
        }
        SendOutcome::Sent { provider_id } => {
            r.status = S::Sent;
            r.provider_id = provider_id;
        }
        SendOutcome::Queued => {
            r.status = S::Accepted;
            r.cause = Some("queued for the phone to collect".into());
        }
        SendOutcome::Permanent { reason }
        | SendOutcome::OptedOut { reason }
        | SendOutcome::Misconfigured { reason } => {
            tracing::warn!(message_id = m.id, %reason, "permanent failure");
            // On WeChat or WeCom: one SMS stands in for it.
            r.fallback = channel != Channel::Sms && (m.woman_id.is_some() || m.to_staff);
            r.cause = Some(if r.fallback {
                format!("{reason}; sending by SMS instead")
            } else {
                reason
            });
        }
        SendOutcome::Transient {
            reason,
            retry_after,
        } => {
            let delay = backoff(cfg, m.attempts).max(retry_after.unwrap_or_else(Duration::zero));
            let retry_at = now + delay;
            // Out of time or tries on WeChat or WeCom: SMS may still make it.
            let fallback = channel != Channel::Sms && (m.woman_id.is_some() || m.to_staff);
            if m.attempts >= cfg.max_attempts {
                tracing::warn!(message_id = m.id, attempts = m.attempts, %reason, "giving up");
                r.cause = Some(format!("gave up after {} attempts: {reason}", m.attempts));
                r.fallback = fallback;
            } else if retry_at >= m.expires_at {
                r.status = S::Expired;
                r.cause = Some(format!(
                    "gateway unavailable until past its grace: {reason}"
                ));
                r.fallback = fallback;
            } else {
                tracing::info!(message_id = m.id, attempt = m.attempts, delay_s = delay.num_seconds(), %reason, "will retry");
                r.status = S::Scheduled;
                r.cause = Some(format!(
                    "retry in {}s after attempt {}: {reason}",
                    delay.num_seconds(),
                    m.attempts
                ));
                r.retry_at = Some(crate::store::ts(retry_at));
            }
        }
    }
    r
}

/// A claimed message that is not handed over. As it stands, one that waits
/// without having been tried (its claim lapsed, or a frequency cap holds
/// it): its attempt is given back.
pub(super) fn not_sent(
    m: &ClaimedMessage,
    status: S,
    cause: String,
    retry_at: Option<i64>,
) -> SendResult {
    SendResult {
        id: m.id,
        attempt: m.attempts,
        status,
        cause: Some(cause),
        retry_at,
        gateway: None,
        provider_id: None,
        to_addr: None,
        body: None,
        parts: None,
        undo_attempt: true,
        channel: None,
        fallback: false,
    }
}

/// Delay before the retry that follows attempt `attempt` (1-based): base *
/// 2^(attempt-1), capped, scaled by a random 75-100% so that retries of a
/// burst spread out while each delay still exceeds the one before.
pub fn backoff(cfg: &DispatcherConfig, attempt: i64) -> Duration {
    let exp = (attempt - 1).clamp(0, 30) as u32;
    let raw = cfg
        .backoff_base_seconds
        .saturating_mul(1i64 << exp)
        .min(cfg.backoff_max_seconds);
    let jitter: f64 = rand::thread_rng().gen_range(0.75..=1.0);
    Duration::milliseconds((raw as f64 * 1000.0 * jitter) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        chrono::NaiveDateTime::parse_from_str("2027-04-20 01:00", "%Y-%m-%d %H:%M")
            .unwrap()
            .and_utc()
    }

    fn handed(channel: Channel, outcome: SendOutcome, attempts: i64) -> SendResult {
        let mut m = super::super::claimed_reminder();
        m.attempts = attempts;
        let out = OutgoingMessage {
            id: m.id,
            to: "+8613800000001".into(),
            body: "王秀英您好".into(),
            attempt: attempts,
            template: None,
            sms_template: None,
        };
        result_of(
            &DispatcherConfig::default(),
            &m,
            "phone",
            channel,
            out,
            outcome,
            now(),
        )
    }

    #[test]
    fn a_taken_message_records_its_gateway_id_text_and_parts() {
        let r = handed(
            Channel::Sms,
            SendOutcome::Accepted {
                provider_id: Some("p1".into()),
            },
            1,
        );
        assert_eq!(r.status, S::Accepted);
        assert_eq!(r.provider_id.as_deref(), Some("p1"));
        assert_eq!((r.parts, r.body.as_deref()), (Some(1), Some("王秀英您好")));
        assert!(!r.fallback && r.cause.is_none());
        let q = handed(Channel::Sms, SendOutcome::Queued, 1);
        assert_eq!(q.status, S::Accepted);
        assert!(q.cause.unwrap().contains("phone to collect"));
    }

    #[test]
    fn a_permanent_failure_on_wechat_falls_back_to_sms_and_on_sms_does_not() {
        let refused = || SendOutcome::Permanent {
            reason: "43004 not following".into(),
        };
        let w = handed(Channel::Wechat, refused(), 1);
        assert_eq!(w.status, S::Failed);
        assert!(w.fallback);
        assert!(w.cause.unwrap().ends_with("sending by SMS instead"));
        let s = handed(Channel::Sms, refused(), 1);
        assert!(!s.fallback);
        assert_eq!(s.cause.as_deref(), Some("43004 not following"));
    }

    #[test]
    fn a_transient_failure_retries_later_then_gives_up_or_expires() {
        let busy = |after: Option<i64>| SendOutcome::Transient {
            reason: "503".into(),
            retry_after: after.map(Duration::seconds),
        };
        let r = handed(Channel::Sms, busy(None), 1);
        assert_eq!(r.status, S::Scheduled);
        let at = r.retry_at.unwrap() - crate::store::ts(now());
        // The first retry: 75-100% of the 30 s base.
        assert!((22..=30).contains(&at), "{at}");
        // The provider's Retry-After wins when it is longer.
        let r = handed(Channel::Sms, busy(Some(3600)), 1);
        assert_eq!(r.retry_at.unwrap() - crate::store::ts(now()), 3600);
        // A retry past its grace (it expires 35 h after now): expired.
        let r = handed(Channel::Sms, busy(Some(36 * 3600)), 1);
        assert_eq!(r.status, S::Expired);
        // The last attempt: failed; on WeChat an SMS stands in.
        let max = DispatcherConfig::default().max_attempts;
        let r = handed(Channel::Sms, busy(None), max);
        assert_eq!(r.status, S::Failed);
        assert!(r
            .cause
            .unwrap()
            .starts_with(&format!("gave up after {max} attempts")));
        assert!(handed(Channel::Wechat, busy(None), max).fallback);
    }

    #[test]
    fn a_message_not_handed_over_gives_its_attempt_back() {
        let m = super::super::claimed_reminder();
        let r = not_sent(&m, S::Scheduled, "cap".into(), Some(5));
        assert!(r.undo_attempt);
        assert_eq!((r.attempt, r.retry_at), (1, Some(5)));
        assert!(r.gateway.is_none() && r.body.is_none());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let cfg = DispatcherConfig::default();
        let mut prev = Duration::zero();
        for attempt in 1..=5 {
            let d = backoff(&cfg, attempt);
            assert!(d > prev, "attempt {attempt}: {d} <= {prev}");
            prev = d;
        }
        assert!(backoff(&cfg, 40) <= Duration::seconds(cfg.backoff_max_seconds));
    }
}
