//! What crosses a channel, in either direction, as careminder sees it:
//! a text that arrived, a gateway's status report for a message it was
//! given, and a WeChat template message. Channels produce and consume these;
//! services and the store act on them; none of them knows a protocol.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// A message as a gateway handed it to us.
#[derive(Debug, Clone)]
pub struct NewInbound {
    pub gateway: String,
    /// The gateway's own id: redeliveries carry the same one.
    pub provider_id: String,
    /// E.164 number (or channel address).
    pub sender: String,
    pub text: String,
    pub received_at: DateTime<Utc>,
}

/// What became of a received message.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Received {
    pub inbound_id: Option<i64>,
    /// The gateway had delivered it before: stored and acted on then.
    pub duplicate: bool,
}

/// Statuses a gateway reports after accepting a message.
/// Declared in forward order: the store applies a message's reports in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportedStatus {
    Accepted,
    Sent,
    Delivered,
    Failed,
}

impl ReportedStatus {
    pub fn as_str(&self) -> &'static str {
        self.status().as_str()
    }

    /// The message status it moves a message to.
    pub fn status(&self) -> super::MessageStatus {
        use super::MessageStatus as S;
        match self {
            Self::Accepted => S::Accepted,
            Self::Sent => S::Sent,
            Self::Delivered => S::Delivered,
            Self::Failed => S::Failed,
        }
    }
}

/// A gateway's word on one of our messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    pub message_id: i64,
    pub status: ReportedStatus,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
    /// The gateway that reports it: applied only to a message that
    /// gateway carried (or whose hand-over is still being recorded).
    /// `None`: a report careminder trusts whoever made it (the API's mock).
    pub gateway: Option<String>,
}

/// A WeChat template message: the approved template's id, an optional
/// link, and each keyword's value. WeChat allows at most 20 characters per
/// value and no line breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemplateMessage {
    pub template_id: String,
    pub url: Option<String>,
    /// Keyword (e.g. `thing1`, `time2`) and value, in order.
    pub data: Vec<(String, String)>,
}

/// The longest value a template field may hold.
pub const FIELD_MAX_CHARS: usize = 20;

/// Our message id as we give it to a gateway that reports back by it (the
/// Android app, cht-gateway): namespaced, so another client of a shared
/// phone that numbers its messages 1, 2, 3 cannot be taken for us.
pub fn wire_id(id: i64) -> String {
    format!("cm-{id}")
}

/// One of our wire ids, or `None` for anyone else's.
pub fn parse_wire_id(s: &str) -> Option<i64> {
    s.strip_prefix("cm-")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_ids_are_ours_alone() {
        assert_eq!(parse_wire_id(&wire_id(18)), Some(18));
        assert_eq!(parse_wire_id("18"), None, "another client's 18");
        assert_eq!(parse_wire_id("cm-x"), None);
    }
}

/// What a WeChat Official Account callback says, read from its XML by the
/// channel (plain or decrypted): a follower's message, or an event
/// (following, scanning a binding QR code, a template message's final
/// status). The services act on it; they never read the XML.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WechatEvent {
    /// The account (its original id).
    pub to_user_name: String,
    /// The follower's openid.
    pub from_user_name: String,
    /// Unix seconds.
    pub create_time: Option<i64>,
    /// `text`, `image`, ... or `event`.
    pub msg_type: String,
    pub content: Option<String>,
    /// The message's id (`MsgId`), or a template message's (`MsgID`).
    pub msg_id: Option<String>,
    /// `subscribe`, `unsubscribe`, `SCAN`, `TEMPLATESENDJOBFINISH`.
    pub event: Option<String>,
    /// A QR scene (`qrscene_<key>`, or the key on `SCAN`).
    pub event_key: Option<String>,
    /// A template message's final status (`success`, `failed:user block`...).
    pub status: Option<String>,
}

impl WechatEvent {
    /// What a `TEMPLATESENDJOBFINISH` status means: delivered on
    /// `success`, else failed.
    pub fn template_status(&self) -> ReportedStatus {
        if self.status.as_deref().unwrap_or_default().trim() == "success" {
            ReportedStatus::Delivered
        } else {
            ReportedStatus::Failed
        }
    }
}
