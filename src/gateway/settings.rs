//! A gateway's settings: the limits every gateway has, and the settings of
//! its kind, which live in that channel's own folder. The kind is a tagged
//! enum: a gateway table holds its `kind` and that kind's keys only, so a
//! misspelt key is refused at start with its name, never silently ignored.
//!
//! ```toml
//! [gateways.phone]
//! kind = "android"
//! rate_per_second = 1.0
//! base_url = "http://192.168.1.20:8080"
//! signing_key = "..."
//! ```
//!
//! The older form, with the kind's keys in a sub-table
//! (`[gateways.phone.android]`), is read too.

use crate::domain::GatewayKind;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// The settings of one kind of gateway.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ChannelSettings {
    Mock(super::mock::Settings),
    Android(super::android::Settings),
    Cht(super::cht::Settings),
    Twilio(super::twilio::Settings),
    Wechat(super::wechat::Settings),
    Wecom(super::wecom::Settings),
    Aliyun(super::aliyun::Settings),
    Tencent(super::tencent::Settings),
}

impl ChannelSettings {
    pub fn kind(&self) -> GatewayKind {
        match self {
            Self::Mock(_) => GatewayKind::Mock,
            Self::Android(_) => GatewayKind::Android,
            Self::Cht(_) => GatewayKind::Cht,
            Self::Twilio(_) => GatewayKind::Twilio,
            Self::Wechat(_) => GatewayKind::Wechat,
            Self::Wecom(_) => GatewayKind::Wecom,
            Self::Aliyun(_) => GatewayKind::Aliyun,
            Self::Tencent(_) => GatewayKind::Tencent,
        }
    }

    /// A cloud SMS provider's account: signature, limits, templates.
    pub fn account(&self) -> Option<super::cloud::Account<'_>> {
        match self {
            Self::Aliyun(s) => Some(s.account()),
            Self::Tencent(s) => Some(s.account()),
            _ => None,
        }
    }
}

/// One gateway: its limits and its kind's settings.
#[derive(Debug, Clone, Serialize)]
pub struct GatewayConfig {
    /// SMS parts per second at most (0: no limit), so a phone is not flooded.
    pub rate_per_second: f64,
    /// Longest message this gateway takes, in SMS parts; longer ones fail.
    pub max_parts: usize,
    /// Seconds a request to the gateway may take.
    pub timeout_seconds: u64,
    /// Another gateway (by name, under [gateways]) for messages this one
    /// has kept failing for `failover_after_minutes`; unset: they keep
    /// retrying until past their grace, then expire.
    pub failover: Option<String>,
    pub failover_after_minutes: i64,
    /// The kind (`kind = "android"`) and its settings.
    #[serde(flatten)]
    pub channel: ChannelSettings,
}

/// The keys every gateway has, whatever its kind.
pub const LIMIT_KEYS: [&str; 5] = [
    "rate_per_second",
    "max_parts",
    "timeout_seconds",
    "failover",
    "failover_after_minutes",
];

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Limits {
    rate_per_second: f64,
    max_parts: usize,
    timeout_seconds: u64,
    failover: Option<String>,
    failover_after_minutes: i64,
}

impl Default for Limits {
    fn default() -> Self {
        let d = GatewayConfig::default();
        Self {
            rate_per_second: d.rate_per_second,
            max_parts: d.max_parts,
            timeout_seconds: d.timeout_seconds,
            failover: d.failover,
            failover_after_minutes: d.failover_after_minutes,
        }
    }
}

impl GatewayConfig {
    /// A gateway of this kind with the default limits.
    pub fn new(channel: ChannelSettings) -> Self {
        Self {
            channel,
            ..Self::default()
        }
    }

    /// The mock gateway, printing each message it "sends" (the demo's).
    pub fn mock_printing() -> Self {
        Self::new(ChannelSettings::Mock(super::mock::Settings {
            print: true,
            ..Default::default()
        }))
    }

    pub fn kind(&self) -> GatewayKind {
        self.channel.kind()
    }

    /// For a gateway that sends only approved templates: what it allows.
    pub fn sms_rules(&self, name: &str) -> Option<crate::render::SmsRules> {
        self.channel
            .account()
            .map(|a| a.rules(name, self.max_parts))
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            rate_per_second: 0.0,
            max_parts: 10,
            timeout_seconds: 15,
            failover: None,
            failover_after_minutes: 60,
            channel: ChannelSettings::Mock(Default::default()),
        }
    }
}

impl<'de> Deserialize<'de> for GatewayConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        use serde_json::Value;
        let mut map = serde_json::Map::<String, Value>::deserialize(d)?;
        let kind = match map.get("kind") {
            None => GatewayKind::Mock.as_str().to_string(),
            Some(Value::String(k)) => k.clone(),
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "kind: {other} is not a gateway kind"
                )))
            }
        };
        let kind: GatewayKind = kind
            .parse()
            .map_err(|e| D::Error::custom(format!("kind: {e}")))?;
        // The older form: the kind's keys in a sub-table named after it.
        if let Some(Value::Object(inner)) = map.remove(kind.as_str()) {
            for (k, v) in inner {
                map.entry(k).or_insert(v);
            }
        }
        let mut limits = serde_json::Map::new();
        for k in LIMIT_KEYS {
            if let Some(v) = map.remove(k) {
                limits.insert(k.to_string(), v);
            }
        }
        let limits: Limits =
            serde_json::from_value(Value::Object(limits)).map_err(D::Error::custom)?;
        map.insert("kind".into(), Value::String(kind.as_str().into()));
        let channel: ChannelSettings = serde_json::from_value(Value::Object(map))
            .map_err(|e| D::Error::custom(format!("{} gateway: {e}", kind.as_str())))?;
        Ok(Self {
            rate_per_second: limits.rate_per_second,
            max_parts: limits.max_parts,
            timeout_seconds: limits.timeout_seconds,
            failover: limits.failover,
            failover_after_minutes: limits.failover_after_minutes,
            channel,
        })
    }
}

/// Which gateway a message goes through.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingConfig {
    /// Gateway for messages to staff (digests, alerts); default gateway if unset.
    pub staff: Option<String>,
    /// Gateway per village, for messages to the women of that village.
    pub villages: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml: &str) -> Result<GatewayConfig, String> {
        use figment::providers::{Format, Toml};
        figment::Figment::from(Toml::string(toml))
            .extract_inner::<GatewayConfig>("gateway")
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_gateway_holds_its_kind_and_that_kinds_keys() {
        let g = parse(
            "[gateway]\nkind = \"android\"\nrate_per_second = 1.5\nbase_url = \"http://127.0.0.1:1\"\nsigning_key = \"k\"\n",
        )
        .unwrap();
        assert_eq!(g.rate_per_second, 1.5);
        let ChannelSettings::Android(a) = g.channel else {
            panic!("not android")
        };
        assert_eq!(a.signing_key, "k");
    }

    #[test]
    fn a_misspelt_key_is_refused_by_name() {
        let e = parse("[gateway]\nkind = \"android\"\nsigining_key = \"k\"\n").unwrap_err();
        assert!(e.contains("sigining_key"), "{e}");
        let e = parse("[gateway]\nkind = \"andriod\"\n").unwrap_err();
        assert!(e.contains("andriod"), "{e}");
        // Another kind's keys do not belong to this one.
        let e = parse("[gateway]\nkind = \"cht\"\nauth_token = \"t\"\n").unwrap_err();
        assert!(e.contains("auth_token"), "{e}");
    }

    #[test]
    fn the_older_sub_table_form_is_read() {
        let g =
            parse("[gateway]\nkind = \"cht\"\n[gateway.cht]\nusername = \"u\"\npassword = \"p\"\n")
                .unwrap();
        assert!(matches!(g.channel, ChannelSettings::Cht(c) if c.username == "u"));
    }
}
