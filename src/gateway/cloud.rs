//! What China's cloud SMS providers (Aliyun, Tencent Cloud) share: an
//! approved signature, approved templates only, the templates for the
//! texts careminder writes itself (answers to replies, alerts to staff),
//! batch sends, pushes guarded by a secret in their URL, and no
//! idempotency: a send whose answer was lost is not sent again until the
//! provider's own records say it never took it.

use crate::domain::sms_template::{bracketed, fill, fit_value, variables, FilledTemplate};
use crate::domain::{GatewayKind, MessageKind};
use crate::render::SmsRules;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An approved template for texts careminder writes itself: its code,
/// its approved content, and for each variable a Tera template over
/// `text` (the text careminder wrote, without signature).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SystemTemplate {
    pub code: String,
    pub content: String,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
}

/// The keys of `templates`: which texts each serves.
pub const SYSTEM_TEMPLATE_KEYS: [(&str, &str); 2] = [
    (
        "reply",
        "answers to a woman's reply (confirmation, help, opt-out)",
    ),
    (
        "alert",
        "messages to staff (digests, overdue visits, notices)",
    ),
];

/// The account-wide settings both providers have, as one view.
pub struct Account<'a> {
    pub kind: GatewayKind,
    pub sign_name: &'a str,
    pub max_variable_chars: usize,
    pub opt_out_notice: &'a str,
    pub callback_secret: &'a str,
    pub templates: &'a BTreeMap<String, SystemTemplate>,
}

impl Account<'_> {
    /// Rules for checking a step's template against this account.
    pub fn rules(&self, gateway: &str, max_parts: usize) -> SmsRules {
        SmsRules {
            gateway: gateway.to_string(),
            sign_name: self.sign_name.to_string(),
            max_variable_chars: self.max_variable_chars,
            max_parts,
            opt_out_notice: self.opt_out_notice.to_string(),
        }
    }

    /// The template for a text careminder wrote of this kind.
    pub fn system_template(&self, kind: MessageKind) -> Option<&SystemTemplate> {
        let key = match kind {
            MessageKind::Alert => "alert",
            MessageKind::Reply => "reply",
            MessageKind::Reminder => return None,
        };
        self.templates.get(key)
    }

    /// A text careminder wrote, as this account's approved template.
    pub fn fill_system(&self, t: &SystemTemplate, text: &str) -> Result<FilledTemplate, String> {
        let mut ctx = tera::Context::new();
        ctx.insert("text", text.trim());
        let mut params = vec![];
        // In the content's order.
        for var in variables(self.kind, &t.content) {
            let tpl = t
                .params
                .get(&var)
                .ok_or_else(|| format!("{var}: not mapped"))?;
            let out = tera::Tera::one_off(tpl, &ctx, false).map_err(|e| {
                let mut msg = e.to_string();
                if let Some(s) = std::error::Error::source(&e) {
                    msg = format!("{msg}: {s}");
                }
                format!("{var}: {msg}")
            })?;
            params.push((var, fit_value(&out, self.max_variable_chars)));
        }
        Ok(FilledTemplate {
            code: t.code.clone(),
            text: format!(
                "{}{}",
                bracketed(self.sign_name),
                fill(self.kind, &t.content, &params)
            ),
            params,
        })
    }

    /// Checks the account's settings at start: each system template's
    /// variables all mapped, each renders; a sign name; a callback secret
    /// long enough not to be guessed.
    pub fn check(&self, key: &str) -> Result<(), super::GatewayConfigError> {
        let invalid = |field: String, reason: String| super::GatewayConfigError::Invalid {
            key: format!("{key}.{field}"),
            reason,
        };
        super::required(key, "sign_name", self.sign_name)?;
        if self.callback_secret.len() < 16 {
            return Err(invalid(
                "callback_secret".into(),
                "must be set, 16 characters at least: the provider's pushes carry it in their URL and nothing else proves them".into(),
            ));
        }
        for (name, t) in self.templates {
            if !SYSTEM_TEMPLATE_KEYS.iter().any(|(k, _)| k == name) {
                return Err(invalid(
                    format!("templates.{name}"),
                    "unknown text: use reply or alert".into(),
                ));
            }
            super::required(&format!("{key}.templates.{name}"), "code", &t.code)?;
            let wanted = variables(self.kind, &t.content);
            if let Some(p) = t.params.keys().find(|p| !wanted.contains(p)) {
                return Err(invalid(
                    format!("templates.{name}.params.{p}"),
                    "not a variable of the approved content".into(),
                ));
            }
            self.fill_system(t, "您好")
                .map_err(|e| invalid(format!("templates.{name}"), e))?;
        }
        Ok(())
    }
}

/// A provider number for an E.164 one: mainland numbers without +86 (as
/// both providers' receipts and replies write them), others with their
/// country code and no `+`.
pub fn national(e164: &str) -> String {
    let n = e164.trim_start_matches('+');
    n.strip_prefix("86")
        .filter(|r| r.len() == 11)
        .unwrap_or(n)
        .to_string()
}

/// A number from a push (national, or with its country code) in E.164.
pub fn from_push(nationcode: Option<&str>, mobile: &str) -> String {
    let m = mobile.trim().trim_start_matches('+');
    match nationcode.map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => format!("+{c}{m}"),
        None if m.len() == 11 && m.starts_with('1') => format!("+86{m}"),
        None => format!("+{m}"),
    }
}

/// A provider time (`yyyy-MM-dd HH:mm:ss`, Beijing time) in UTC.
pub fn beijing_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let t = chrono::NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S").ok()?;
    Some((t - chrono::Duration::hours(8)).and_utc())
}

/// From `now` to a minute past the next midnight in Beijing, when daily
/// limits start again.
pub fn until_next_day(now: chrono::DateTime<chrono::Utc>) -> chrono::Duration {
    let local = (now + chrono::Duration::hours(8)).date_naive();
    let next = (local + chrono::Duration::days(1))
        .and_hms_opt(0, 1, 0)
        .expect("a time")
        .and_utc()
        - chrono::Duration::hours(8);
    next - now
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    ::hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_go_national_and_come_back_e164() {
        assert_eq!(national("+8613800000000"), "13800000000");
        assert_eq!(national("+85291234567"), "85291234567");
        assert_eq!(from_push(Some("86"), "13800000000"), "+8613800000000");
        assert_eq!(from_push(None, "13800000000"), "+8613800000000");
    }

    #[test]
    fn a_system_text_fills_its_template() {
        let templates = BTreeMap::from([(
            "reply".to_string(),
            SystemTemplate {
                code: "SMS_1".into(),
                content: "您好，${text}".into(),
                params: BTreeMap::from([("text".into(), "{{ text }}".into())]),
            },
        )]);
        let a = Account {
            kind: GatewayKind::Aliyun,
            sign_name: "县妇幼",
            max_variable_chars: 5,
            opt_out_notice: "拒收请回复R",
            callback_secret: "0123456789abcdef",
            templates: &templates,
        };
        a.check("gateway").unwrap();
        let t = a.system_template(MessageKind::Reply).unwrap();
        let f = a.fill_system(t, "已收到，谢谢您").unwrap();
        assert_eq!(f.params, vec![("text".into(), "已收到，…".into())]);
        assert_eq!(f.text, "【县妇幼】您好，已收到，…");
        assert!(a.system_template(MessageKind::Alert).is_none());
    }
}
