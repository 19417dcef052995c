//! A claimed message's template variables: her name, the place, the
//! visit and its dates in her language. Pure; tested here.

use crate::config::Config;
use crate::domain::schedule::local_date;
use crate::render::{format_date, weekday_name, MessageContext};
use crate::store::ClaimedMessage;
use chrono::{DateTime, Utc};

/// The context of `m` written for `lang` (WeChat templates are Chinese).
pub(super) fn of(
    config: &Config,
    m: &ClaimedMessage,
    lang: &str,
    now: DateTime<Utc>,
) -> MessageContext {
    let today = local_date(config.zone_for(m.village.as_deref()), now);
    MessageContext {
        name: m.name.clone(),
        // Her grade's place (a level-II+ hospital for higher risk), else
        // her village's clinic: the place is named, never the reason.
        clinic: config
            .risk
            .place(&m.grade)
            .unwrap_or_else(|| config.clinic_for(m.village.as_deref()))
            .to_string(),
        contact: if lang == "en" {
            m.contact_label_en.clone()
        } else {
            m.contact_label_zh.clone()
        }
        .unwrap_or_default(),
        date: m.due_on.map(|d| format_date(d, lang)).unwrap_or_default(),
        weekday: m
            .due_on
            .map(|d| weekday_name(d, lang).to_string())
            .unwrap_or_default(),
        date_by: m
            .window_end
            .map(|d| format_date(d, lang))
            .unwrap_or_default(),
        days_until: m.due_on.map(|d| (d - today).num_days()).unwrap_or_default(),
        weeks: m
            .lmp
            .map(|l| (today - l).num_days().div_euclid(7))
            .unwrap_or_default(),
        home_visit: m.home_visit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::risk::Grade;

    fn config() -> Config {
        let mut c = Config {
            default_clinic: "乡镇卫生院".into(),
            ..Config::default()
        };
        c.clinics.insert("V001".into(), "一村卫生室".into());
        c.risk.red.place = "市妇幼保健院".into();
        c
    }

    fn now() -> DateTime<Utc> {
        // 2027-04-20 09:00 in Shanghai.
        chrono::NaiveDateTime::parse_from_str("2027-04-20 01:00", "%Y-%m-%d %H:%M")
            .unwrap()
            .and_utc()
    }

    #[test]
    fn a_reminder_names_her_visit_its_dates_and_her_village_clinic() {
        let m = super::super::claimed_reminder();
        let c = of(&config(), &m, "zh-CN", now());
        assert_eq!(c.clinic, "一村卫生室");
        assert_eq!(c.contact, "第3次产前检查");
        assert_eq!(c.date, "4月23日");
        assert_eq!(c.weekday, "星期五");
        assert_eq!(c.date_by, "5月6日");
        assert_eq!(c.days_until, 3);
        // 2026-10-01 to 2027-04-20: 201 days, 28 weeks.
        assert_eq!(c.weeks, 28);
        let en = of(&config(), &m, "en", now());
        assert_eq!(en.contact, "3rd prenatal check-up");
    }

    #[test]
    fn her_grade_chooses_the_place_and_no_grade_keeps_her_clinic() {
        let mut m = super::super::claimed_reminder();
        m.grade = Grade::parse("红").unwrap();
        assert_eq!(of(&config(), &m, "zh-CN", now()).clinic, "市妇幼保健院");
        // Green names no place of its own: her village's clinic.
        m.grade = Grade::parse("绿").unwrap();
        assert_eq!(of(&config(), &m, "zh-CN", now()).clinic, "一村卫生室");
        // A village without a clinic of its own: the default.
        m.village = Some("V999".into());
        m.grade = Grade::default();
        assert_eq!(of(&config(), &m, "zh-CN", now()).clinic, "乡镇卫生院");
    }
}
