//! The texts careminder writes itself (keyword replies, alerts and digests
//! to staff), from `message-templates/system/`, compiled into the binary.

use super::{engine, tera_error, tidy, FALLBACK_LANGUAGE, LANGUAGES};
use tera::{Context, Tera};

/// The texts careminder writes itself (keyword replies, alerts to staff),
/// from `message-templates/system/`, compiled into the binary.
pub(super) const SYSTEM_TEXTS: &[(&str, &str, &str)] = &[
    (
        "confirm",
        "zh-CN",
        include_str!("../../message-templates/system/zh-CN/confirm.txt"),
    ),
    (
        "confirm",
        "en",
        include_str!("../../message-templates/system/en/confirm.txt"),
    ),
    (
        "digest-header",
        "zh-CN",
        include_str!("../../message-templates/system/zh-CN/digest-header.txt"),
    ),
    (
        "digest-header",
        "en",
        include_str!("../../message-templates/system/en/digest-header.txt"),
    ),
    (
        "digest-more",
        "zh-CN",
        include_str!("../../message-templates/system/zh-CN/digest-more.txt"),
    ),
    (
        "digest-more",
        "en",
        include_str!("../../message-templates/system/en/digest-more.txt"),
    ),
    (
        "digest-item",
        "zh-CN",
        include_str!("../../message-templates/system/zh-CN/digest-item.txt"),
    ),
    (
        "digest-item",
        "en",
        include_str!("../../message-templates/system/en/digest-item.txt"),
    ),
    (
        "digest-stale",
        "zh-CN",
        include_str!("../../message-templates/system/zh-CN/digest-stale.txt"),
    ),
    (
        "digest-stale",
        "en",
        include_str!("../../message-templates/system/en/digest-stale.txt"),
    ),
    (
        "escalation-header",
        "zh-CN",
        include_str!("../../message-templates/system/zh-CN/escalation-header.txt"),
    ),
    (
        "escalation-header",
        "en",
        include_str!("../../message-templates/system/en/escalation-header.txt"),
    ),
    (
        "escalation-item",
        "zh-CN",
        include_str!("../../message-templates/system/zh-CN/escalation-item.txt"),
    ),
    (
        "escalation-item",
        "en",
        include_str!("../../message-templates/system/en/escalation-item.txt"),
    ),
    (
        "gateway-misconfigured",
        "zh-CN",
        include_str!("../../message-templates/system/zh-CN/gateway-misconfigured.txt"),
    ),
    (
        "gateway-misconfigured",
        "en",
        include_str!("../../message-templates/system/en/gateway-misconfigured.txt"),
    ),
    (
        "grade-recorded",
        "zh-CN",
        include_str!("../../message-templates/system/zh-CN/grade-recorded.txt"),
    ),
    (
        "grade-recorded",
        "en",
        include_str!("../../message-templates/system/en/grade-recorded.txt"),
    ),
    (
        "grade-refused",
        "zh-CN",
        include_str!("../../message-templates/system/zh-CN/grade-refused.txt"),
    ),
    (
        "grade-refused",
        "en",
        include_str!("../../message-templates/system/en/grade-refused.txt"),
    ),
    (
        "help",
        "zh-CN",
        include_str!("../../message-templates/system/zh-CN/help.txt"),
    ),
    (
        "help",
        "en",
        include_str!("../../message-templates/system/en/help.txt"),
    ),
    (
        "newborn-task-missed",
        "zh-CN",
        include_str!("../../message-templates/system/zh-CN/newborn-task-missed.txt"),
    ),
    (
        "newborn-task-missed",
        "en",
        include_str!("../../message-templates/system/en/newborn-task-missed.txt"),
    ),
    (
        "referral-overdue",
        "zh-CN",
        include_str!("../../message-templates/system/zh-CN/referral-overdue.txt"),
    ),
    (
        "referral-overdue",
        "en",
        include_str!("../../message-templates/system/en/referral-overdue.txt"),
    ),
    (
        "officer-question",
        "zh-CN",
        include_str!("../../message-templates/system/zh-CN/officer-question.txt"),
    ),
    (
        "officer-question",
        "en",
        include_str!("../../message-templates/system/en/officer-question.txt"),
    ),
    (
        "opt-in",
        "zh-CN",
        include_str!("../../message-templates/system/zh-CN/opt-in.txt"),
    ),
    (
        "opt-in",
        "en",
        include_str!("../../message-templates/system/en/opt-in.txt"),
    ),
    (
        "opt-out",
        "zh-CN",
        include_str!("../../message-templates/system/zh-CN/opt-out.txt"),
    ),
    (
        "opt-out",
        "en",
        include_str!("../../message-templates/system/en/opt-out.txt"),
    ),
    (
        "moved-in",
        "zh-CN",
        include_str!("../../message-templates/system/zh-CN/moved-in.txt"),
    ),
    (
        "moved-in",
        "en",
        include_str!("../../message-templates/system/en/moved-in.txt"),
    ),
    (
        "moved-out",
        "zh-CN",
        include_str!("../../message-templates/system/zh-CN/moved-out.txt"),
    ),
    (
        "moved-out",
        "en",
        include_str!("../../message-templates/system/en/moved-out.txt"),
    ),
    (
        "pregnancy-ended",
        "zh-CN",
        include_str!("../../message-templates/system/zh-CN/pregnancy-ended.txt"),
    ),
    (
        "pregnancy-ended",
        "en",
        include_str!("../../message-templates/system/en/pregnancy-ended.txt"),
    ),
    (
        "staff-help",
        "zh-CN",
        include_str!("../../message-templates/system/zh-CN/staff-help.txt"),
    ),
    (
        "staff-help",
        "en",
        include_str!("../../message-templates/system/en/staff-help.txt"),
    ),
    (
        "unknown-sender",
        "zh-CN",
        include_str!("../../message-templates/system/zh-CN/unknown-sender.txt"),
    ),
    (
        "unknown-sender",
        "en",
        include_str!("../../message-templates/system/en/unknown-sender.txt"),
    ),
    (
        "visit-recorded",
        "zh-CN",
        include_str!("../../message-templates/system/zh-CN/visit-recorded.txt"),
    ),
    (
        "visit-recorded",
        "en",
        include_str!("../../message-templates/system/en/visit-recorded.txt"),
    ),
    (
        "visit-refused",
        "zh-CN",
        include_str!("../../message-templates/system/zh-CN/visit-refused.txt"),
    ),
    (
        "visit-refused",
        "en",
        include_str!("../../message-templates/system/en/visit-refused.txt"),
    ),
    (
        "weekly-summary",
        "zh-CN",
        include_str!("../../message-templates/system/zh-CN/weekly-summary.txt"),
    ),
    (
        "weekly-summary",
        "en",
        include_str!("../../message-templates/system/en/weekly-summary.txt"),
    ),
];

/// The system texts, compiled once.
pub struct SystemTexts {
    tera: Tera,
}

impl Default for SystemTexts {
    fn default() -> Self {
        let mut tera = engine();
        for (name, lang, body) in SYSTEM_TEXTS {
            tera.add_raw_template(&format!("{name}/{lang}"), body)
                .unwrap_or_else(|e| panic!("system text {name}/{lang}: {e}"));
        }
        Self { tera }
    }
}

impl SystemTexts {
    /// Renders system text `name` in `language` (Chinese when that language has none).
    pub fn render(&self, name: &str, language: impl AsRef<str>, ctx: &serde_json::Value) -> String {
        let language = language.as_ref();
        let lang = if LANGUAGES.contains(&language) {
            language
        } else {
            FALLBACK_LANGUAGE
        };
        let ctx = Context::from_value(ctx.clone()).unwrap_or_default();
        match self.tera.render(&format!("{name}/{lang}"), &ctx) {
            Ok(s) => tidy(&s),
            Err(e) => {
                tracing::error!(text = name, lang, error = %tera_error(e), "system text failed to render");
                String::new()
            }
        }
    }

    pub fn names() -> impl Iterator<Item = &'static str> {
        SYSTEM_TEXTS.iter().map(|(n, _, _)| *n)
    }
}
