//! What WeChat's server sends to the Official Account's URL: the callback
//! XML (plain, or decrypted from safe mode), read into the domain's
//! `WechatEvent`, and the freshness of a signed timestamp.

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// A callback's XML, plain or decrypted (WeChat's element names).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CallbackXml {
    pub to_user_name: String,
    pub from_user_name: String,
    pub create_time: Option<i64>,
    pub msg_type: String,
    pub content: Option<String>,
    pub msg_id: Option<String>,
    /// `TEMPLATESENDJOBFINISH` spells it MsgID.
    #[serde(rename = "MsgID")]
    pub msg_id_upper: Option<String>,
    pub event: Option<String>,
    pub event_key: Option<String>,
    pub status: Option<String>,
    /// Safe mode: the encrypted message.
    pub encrypt: Option<String>,
}

impl CallbackXml {
    pub fn parse(xml: &str) -> Result<Self, String> {
        let x: Self = quick_xml::de::from_str(xml).map_err(|e| e.to_string())?;
        if x.encrypt.is_none() && (x.from_user_name.is_empty() || x.msg_type.is_empty()) {
            return Err("FromUserName and MsgType are required".into());
        }
        Ok(x)
    }
}

impl From<CallbackXml> for crate::domain::WechatEvent {
    /// What the services act on (the encrypted envelope is the channel's).
    fn from(x: CallbackXml) -> Self {
        crate::domain::WechatEvent {
            to_user_name: x.to_user_name,
            from_user_name: x.from_user_name,
            create_time: x.create_time,
            msg_type: x.msg_type,
            content: x.content,
            msg_id: x.msg_id_upper.or(x.msg_id),
            event: x.event,
            event_key: x.event_key,
            status: x.status,
        }
    }
}

/// When a callback's timestamp is too far from our clock to be fresh.
pub fn stale(timestamp: &str, now: DateTime<Utc>) -> bool {
    match timestamp.parse::<i64>() {
        Ok(t) => (now.timestamp() - t).abs() > 600,
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::domain::ReportedStatus;

    #[test]
    fn callbacks_parse_text_events_and_encrypted_envelopes() {
        let x = CallbackXml::parse(
            "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[oAbc]]></FromUserName>\
             <CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>\
             <Content><![CDATA[好的 1]]></Content><MsgId>1234567890123456</MsgId></xml>",
        )
        .unwrap();
        assert_eq!(x.content.as_deref(), Some("好的 1"));
        assert_eq!(x.msg_id.as_deref(), Some("1234567890123456"));
        let e = CallbackXml::parse(
            "<xml><ToUserName>gh_1</ToUserName><FromUserName>oAbc</FromUserName><CreateTime>1</CreateTime>\
             <MsgType>event</MsgType><Event>TEMPLATESENDJOBFINISH</Event><MsgID>200163836</MsgID>\
             <Status><![CDATA[failed:user block]]></Status></xml>",
        )
        .unwrap();
        assert_eq!(e.msg_id_upper.as_deref(), Some("200163836"));
        let e = crate::domain::WechatEvent::from(e);
        assert_eq!(e.msg_id.as_deref(), Some("200163836"));
        assert_eq!(e.template_status(), ReportedStatus::Failed);
        let ok = crate::domain::WechatEvent {
            status: Some("success".into()),
            ..Default::default()
        };
        assert_eq!(ok.template_status(), ReportedStatus::Delivered);
        let enc =
            CallbackXml::parse("<xml><ToUserName>gh_1</ToUserName><Encrypt>abc=</Encrypt></xml>")
                .unwrap();
        assert_eq!(enc.encrypt.as_deref(), Some("abc="));
        assert!(CallbackXml::parse("<xml><Content>x</Content>").is_err());
        assert!(CallbackXml::parse("not xml").is_err());
        assert!(CallbackXml::parse("<xml></xml>").is_err());
    }
}
