//! What a new database starts with: the built-in care plans and the
//! default "checkup reminders" campaign, whose texts live in
//! `message-templates/` and are compiled into the binary.

use crate::domain::schedule::TriggerAnchor;
use crate::store::campaigns::StepSeed;
use crate::store::{Result, Store};
use chrono::{DateTime, Utc};

pub const CHECKUP_CAMPAIGN: &str = "checkup-reminders";

pub fn checkup_steps() -> Vec<StepSeed<'static>> {
    vec![
        StepSeed {
            key: "before-3d",
            anchor: TriggerAnchor::VisitDue,
            offset_days: -3,
            send_time: "09:00",
            grace_hours: 24,
            texts: vec![
                (
                    "zh-CN",
                    include_str!("../message-templates/zh-CN/checkup-3-days-before.txt"),
                ),
                (
                    "en",
                    include_str!("../message-templates/en/checkup-3-days-before.txt"),
                ),
            ],
        },
        StepSeed {
            key: "on-the-day",
            anchor: TriggerAnchor::VisitDue,
            offset_days: 0,
            send_time: "08:00",
            grace_hours: 12,
            texts: vec![
                (
                    "zh-CN",
                    include_str!("../message-templates/zh-CN/checkup-on-the-day.txt"),
                ),
                (
                    "en",
                    include_str!("../message-templates/en/checkup-on-the-day.txt"),
                ),
            ],
        },
        StepSeed {
            key: "missed-2d",
            anchor: TriggerAnchor::VisitWindowEnd,
            offset_days: 2,
            send_time: "10:00",
            grace_hours: 48,
            texts: vec![
                (
                    "zh-CN",
                    include_str!("../message-templates/zh-CN/checkup-missed.txt"),
                ),
                (
                    "en",
                    include_str!("../message-templates/en/checkup-missed.txt"),
                ),
            ],
        },
    ]
}

/// Seeds plans and the default campaign; never overwrites an administrator's edits.
pub async fn seed(store: &Store, now: DateTime<Utc>) -> Result<()> {
    store.seed_builtin_plans(now).await?;
    store
        .ensure_campaign(
            CHECKUP_CAMPAIGN,
            "Check-up reminders",
            &checkup_steps(),
            now,
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_texts_validate_and_stay_short() {
        for step in checkup_steps() {
            for (lang, body) in step.texts {
                let out = crate::render::validate(body, lang)
                    .unwrap_or_else(|e| panic!("{}/{lang}: {e}", step.key));
                let parts = crate::domain::sms::measure(&out).parts;
                assert!(parts <= 2, "{}/{lang} takes {parts} parts: {out}", step.key);
            }
        }
    }

    #[test]
    fn default_texts_name_no_diagnosis_or_risk() {
        let banned = [
            "贫血", "高危", "风险", "异常", "HIV", "梅毒", "anaemia", "anemia", "risk", "diabetes",
            "positive",
        ];
        for step in checkup_steps() {
            for (lang, body) in step.texts {
                for b in banned {
                    assert!(
                        !body.to_lowercase().contains(&b.to_lowercase()),
                        "{}/{lang} names {b}",
                        step.key
                    );
                }
            }
        }
    }
}
