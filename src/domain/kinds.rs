//! The closed sets careminder's records take their values from: a
//! message's status and kind, a member of staff's role, a gateway's
//! channel and a text's language. Each is a type with one spelling, the
//! one the database stores; `store` maps columns to and from these types
//! (and nowhere else spells them), so a typo is a compile error, not a
//! silent mismatch.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A value that is not one of a closed set's spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a {what} (one of {allowed})")]
pub struct UnknownValue {
    pub what: &'static str,
    pub value: String,
    pub allowed: String,
}

macro_rules! closed_set {
    ($(#[$m:meta])* $name:ident, $what:literal { $($(#[$vm:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The one spelling: in the database, the API and configuration.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownValue {
                        what: $what,
                        value: s.to_string(),
                        allowed: [$($text),+].join(", "),
                    }),
                }
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

closed_set! {
    /// Where one outbox message stands. It moves forward only:
    /// scheduled -> claimed -> accepted -> sent -> delivered, or ends
    /// failed, cancelled or expired.
    MessageStatus, "message status" {
        Scheduled => "scheduled",
        Claimed => "claimed",
        Accepted => "accepted",
        Sent => "sent",
        Delivered => "delivered",
        Failed => "failed",
        Cancelled => "cancelled",
        Expired => "expired",
    }
}

impl MessageStatus {
    /// The gateway has it (or has passed it on).
    pub fn handed_over(self) -> bool {
        matches!(self, Self::Accepted | Self::Sent | Self::Delivered)
    }

    /// Nothing more will happen to it.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Delivered | Self::Failed | Self::Cancelled | Self::Expired
        )
    }
}

closed_set! {
    /// Where a pregnancy stands.
    PregnancyStatus, "pregnancy status" {
        /// Pregnant: her prenatal schedule runs.
        Active => "active",
        /// A birth is recorded: the postpartum schedule runs.
        Delivered => "delivered",
        /// Ended without a birth: nothing more is sent about it.
        Ended => "ended",
        /// Long past its due date with no birth recorded.
        Stale => "stale",
    }
}

closed_set! {
    /// Why a message exists.
    MessageKind, "message kind" {
        /// A campaign step's reminder (or outreach) to a woman.
        Reminder => "reminder",
        /// An answer to a text that arrived.
        Reply => "reply",
        /// A message to staff: digests, overdue visits, questions.
        Alert => "alert",
    }
}

closed_set! {
    /// What a member of staff may see and do.
    Role, "role" {
        /// A village or township health officer: her own women.
        Officer => "officer",
        /// A township supervisor: the officers of her township.
        Supervisor => "supervisor",
        /// A county administrator: everything.
        Admin => "admin",
    }
}

closed_set! {
    /// How a message reaches someone.
    Channel, "channel" {
        /// A text message, through whichever SMS gateway routes it.
        Sms => "sms",
        /// The WeChat Official Account, to a woman who follows it.
        Wechat => "wechat",
        /// WeCom, to a member of staff who uses it.
        Wecom => "wecom",
    }
}

closed_set! {
    /// A gateway's kind: how its messages travel.
    GatewayKind, "gateway kind" {
        /// Records what it is given; for tests and the demo.
        Mock => "mock",
        /// SMS Gateway for Android (capcom6): we call the phone.
        Android => "android",
        /// cht-gateway (Medic): the phone polls us.
        Cht => "cht",
        /// A Twilio-style SMS provider.
        Twilio => "twilio",
        /// A WeChat Official Account, for women who follow it.
        Wechat => "wechat",
        /// WeCom (企业微信) application messages, for staff.
        Wecom => "wecom",
        /// Aliyun SMS (阿里云短信, dysmsapi): approved signature and templates.
        Aliyun => "aliyun",
        /// Tencent Cloud SMS (腾讯云短信): approved signature and templates.
        Tencent => "tencent",
    }
}

impl GatewayKind {
    /// The channel its messages travel by.
    pub fn channel(self) -> Channel {
        match self {
            Self::Wechat => Channel::Wechat,
            Self::Wecom => Channel::Wecom,
            Self::Mock
            | Self::Android
            | Self::Cht
            | Self::Twilio
            | Self::Aliyun
            | Self::Tencent => Channel::Sms,
        }
    }

    /// Sends only approved templates with named variables, never free
    /// text: every text it may carry needs a template mapped for it.
    pub fn needs_template(self) -> bool {
        matches!(self, Self::Aliyun | Self::Tencent)
    }

    /// Carries SMS: may be a route or a failover for text messages.
    pub fn is_sms(self) -> bool {
        self.channel() == Channel::Sms
    }
}

closed_set! {
    /// A language careminder writes its texts in.
    Language, "language" {
        ZhCn => "zh-CN",
        En => "en",
    }
}

impl Language {
    /// The language of a text that has none of its own.
    pub const FALLBACK: Language = Language::ZhCn;

    /// Every spelling, for messages and forms.
    pub const CODES: &'static [&'static str] = &["zh-CN", "en"];

    /// A language as a roster or a form writes it: its code (any case),
    /// `zh`, or its name as a county office types it (中文, 汉语, 普通话,
    /// 英文, 英语, Chinese, English).
    pub fn from_written(s: &str) -> Option<Language> {
        let s = s.trim();
        let named = |names: &[&str]| names.iter().any(|n| n.eq_ignore_ascii_case(s));
        if named(&[
            "zh-CN",
            "zh",
            "zh_CN",
            "zh-Hans",
            "中文",
            "汉语",
            "普通话",
            "简体中文",
            "Chinese",
        ]) {
            Some(Language::ZhCn)
        } else if named(&["en", "英文", "英语", "English"]) {
            Some(Language::En)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 34: a roster's 语言 column reading 中文 was refused.
    #[test]
    fn a_language_is_read_as_a_county_office_writes_it() {
        for zh in ["zh-CN", "ZH-cn", "zh", "中文", " 汉语 ", "普通话"] {
            assert_eq!(Language::from_written(zh), Some(Language::ZhCn), "{zh}");
        }
        for en in ["en", "EN", "英文", "英语", "English"] {
            assert_eq!(Language::from_written(en), Some(Language::En), "{en}");
        }
        assert_eq!(Language::from_written("藏语"), None);
    }

    #[test]
    fn every_value_round_trips_through_its_spelling() {
        for s in MessageStatus::ALL {
            assert_eq!(s.as_str().parse::<MessageStatus>(), Ok(*s));
        }
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(*r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        for c in GatewayKind::ALL {
            assert_eq!(c.as_str().parse::<GatewayKind>(), Ok(*c));
        }
        for c in Channel::ALL {
            assert_eq!(c.as_str().parse::<Channel>(), Ok(*c));
        }
        assert_eq!(
            Language::CODES,
            Language::ALL.iter().map(|l| l.as_str()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn an_unknown_spelling_is_refused_with_the_allowed_ones() {
        let e = "supervsior".parse::<Role>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"supervsior\" is not a role (one of officer, supervisor, admin)"
        );
    }
}
