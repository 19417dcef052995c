//! What a new database starts with: the built-in care plans and the
//! default "checkup reminders" campaign, whose texts live in
//! `message-templates/` and are compiled into the binary.

use crate::domain::schedule::TriggerAnchor;
use crate::store::campaigns::StepSeed;
use crate::store::{Result, Store};
use chrono::{DateTime, Utc};

pub const CHECKUP_CAMPAIGN: &str = "checkup-reminders";
/// The default week-by-week series: seeded paused, so that a deployment
/// chooses to spend SMS on it (`careminder campaign resume weekly-series`).
pub const SERIES_CAMPAIGN: &str = "weekly-series";

/// A series text in both languages, compiled into the binary.
macro_rules! series_texts {
    ($name:literal) => {
        vec![
            (
                "zh-CN",
                include_str!(concat!(
                    "../../message-templates/zh-CN/series/",
                    $name,
                    ".txt"
                )),
            ),
            (
                "en",
                include_str!(concat!("../../message-templates/en/series/", $name, ".txt")),
            ),
        ]
    };
}

/// One message for each of these weeks of pregnancy, on Tuesdays at
/// 10:00 (about two a month: MomConnect's studies saw opt-outs climb past
/// two or three a week); and in the weeks after birth, on their day.
pub fn series_steps() -> Vec<StepSeed<'static>> {
    let pregnancy = |week: i64, key: &'static str, texts| StepSeed {
        key,
        anchor: TriggerAnchor::Lmp,
        offset_days: week * 7,
        send_time: "10:00",
        grace_hours: 48,
        weekday: Some(1),
        texts,
    };
    let postpartum = |day: i64, key: &'static str, texts| StepSeed {
        key,
        anchor: TriggerAnchor::Delivery,
        offset_days: day,
        send_time: "10:00",
        grace_hours: 48,
        weekday: None,
        texts,
    };
    vec![
        pregnancy(8, "week-08", series_texts!("week-08")),
        pregnancy(12, "week-12", series_texts!("week-12")),
        pregnancy(16, "week-16", series_texts!("week-16")),
        pregnancy(20, "week-20", series_texts!("week-20")),
        pregnancy(24, "week-24", series_texts!("week-24")),
        pregnancy(28, "week-28", series_texts!("week-28")),
        pregnancy(32, "week-32", series_texts!("week-32")),
        pregnancy(36, "week-36", series_texts!("week-36")),
        pregnancy(38, "week-38", series_texts!("week-38")),
        pregnancy(40, "week-40", series_texts!("week-40")),
        postpartum(3, "postpartum-week-01", series_texts!("postpartum-week-01")),
        postpartum(
            10,
            "postpartum-week-02",
            series_texts!("postpartum-week-02"),
        ),
        postpartum(
            24,
            "postpartum-week-04",
            series_texts!("postpartum-week-04"),
        ),
        postpartum(
            38,
            "postpartum-week-06",
            series_texts!("postpartum-week-06"),
        ),
    ]
}

pub fn checkup_steps() -> Vec<StepSeed<'static>> {
    vec![
        StepSeed {
            key: "before-3d",
            anchor: TriggerAnchor::VisitDue,
            offset_days: -3,
            send_time: "09:00",
            grace_hours: 24,
            weekday: None,
            texts: vec![
                (
                    "zh-CN",
                    include_str!("../../message-templates/zh-CN/checkup-3-days-before.txt"),
                ),
                (
                    "en",
                    include_str!("../../message-templates/en/checkup-3-days-before.txt"),
                ),
            ],
        },
        StepSeed {
            key: "on-the-day",
            anchor: TriggerAnchor::VisitDue,
            offset_days: 0,
            send_time: "08:00",
            grace_hours: 12,
            weekday: None,
            texts: vec![
                (
                    "zh-CN",
                    include_str!("../../message-templates/zh-CN/checkup-on-the-day.txt"),
                ),
                (
                    "en",
                    include_str!("../../message-templates/en/checkup-on-the-day.txt"),
                ),
            ],
        },
        StepSeed {
            key: "missed-2d",
            anchor: TriggerAnchor::VisitWindowEnd,
            offset_days: 2,
            send_time: "10:00",
            grace_hours: 48,
            weekday: None,
            texts: vec![
                (
                    "zh-CN",
                    include_str!("../../message-templates/zh-CN/checkup-missed.txt"),
                ),
                (
                    "en",
                    include_str!("../../message-templates/en/checkup-missed.txt"),
                ),
            ],
        },
    ]
}

/// The built-in campaigns' names as seeded, and the catalogue key a page
/// shows instead while an administrator has not renamed them.
pub const BUILTIN_NAMES: [(&str, &str, &str); 2] = [
    (
        CHECKUP_CAMPAIGN,
        "Check-up reminders",
        "campaign_checkup_reminders",
    ),
    (SERIES_CAMPAIGN, "Week by week", "campaign_weekly_series"),
];

/// Seeds plans and the default campaign; never overwrites an administrator's edits.
pub async fn seed(store: &Store, now: DateTime<Utc>) -> Result<()> {
    store.seed_builtin_plans(now).await?;
    store
        .ensure_campaign(
            CHECKUP_CAMPAIGN,
            BUILTIN_NAMES[0].1,
            false,
            &checkup_steps(),
            now,
        )
        .await?;
    upgrade_default_texts(store, now).await?;
    if store
        .ensure_campaign(
            SERIES_CAMPAIGN,
            BUILTIN_NAMES[1].1,
            true,
            &series_steps(),
            now,
        )
        .await?
    {
        store
            .set_campaign_status(SERIES_CAMPAIGN, "paused", now)
            .await?;
    }
    Ok(())
}

/// Default texts of earlier releases, per step and language: a step whose
/// text is still exactly one of these was never edited, and gets today's
/// default (as a new version by "careminder"). An edited text is kept.
const PREVIOUS_TEXTS: &[(&str, &str, &str)] = &[
    (
        "before-3d",
        "zh-CN",
        include_str!("../../message-templates/previous/zh-CN/checkup-3-days-before.txt"),
    ),
    (
        "before-3d",
        "en",
        include_str!("../../message-templates/previous/en/checkup-3-days-before.txt"),
    ),
    (
        "on-the-day",
        "zh-CN",
        include_str!("../../message-templates/previous/zh-CN/checkup-on-the-day.txt"),
    ),
    (
        "on-the-day",
        "en",
        include_str!("../../message-templates/previous/en/checkup-on-the-day.txt"),
    ),
    (
        "missed-2d",
        "zh-CN",
        include_str!("../../message-templates/previous/zh-CN/checkup-missed.txt"),
    ),
    (
        "missed-2d",
        "en",
        include_str!("../../message-templates/previous/en/checkup-missed.txt"),
    ),
];

async fn upgrade_default_texts(store: &Store, now: DateTime<Utc>) -> Result<()> {
    let current = store.step_texts().await?;
    for step in checkup_steps() {
        let Ok(step_id) = store.step_id(CHECKUP_CAMPAIGN, step.key).await else {
            continue;
        };
        for (lang, body) in &step.texts {
            let stored = current
                .iter()
                .find(|t| t.step_id == step_id && t.language == *lang);
            let unedited = stored.is_some_and(|t| {
                PREVIOUS_TEXTS
                    .iter()
                    .any(|(k, l, old)| *k == step.key && l == lang && t.body == *old)
            });
            if unedited {
                store
                    .save_step_text(step_id, lang, body, "careminder", now)
                    .await?;
                tracing::info!(step = step.key, language = lang, "default text upgraded");
            }
        }
    }
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
