//! `[risk]`: care that follows a woman's risk grade. Per colour (and
//! purple): where her check-ups are, who manages her case, how soon a
//! missed check-up reaches her officer and case manager and then her
//! supervisor, and the least level of hospital she should deliver at; the
//! county's hospitals with their levels; how soon a referral's result is
//! followed up; and the newborn's steps against mother-to-child
//! transmission per infection, as data.

use crate::domain::risk::{Colour, Grade, Infection};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RiskConfig {
    pub green: ColourCare,
    pub yellow: ColourCare,
    pub orange: ColourCare,
    pub red: ColourCare,
    /// An infectious disease (beside her colour: the stricter of the two applies).
    pub purple: ColourCare,
    /// Hospitals a woman may deliver at, by name, with their level (1-3):
    /// a woman graded yellow or above must choose one of the level her
    /// colour asks.
    pub hospitals: BTreeMap<String, u8>,
    /// Days within which a referral's result is followed up (the basic
    /// public health service standard: 2 weeks).
    pub referral_follow_up_days: i64,
    /// The newborn's steps after the birth of a woman graded purple, per
    /// infection. Her texts about them say only "your follow-up visit".
    pub pmtct: Vec<PmtctStep>,
}

/// What one colour asks of her care.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ColourCare {
    /// Where her check-ups take place, named in her reminders; empty: her
    /// village's clinic.
    pub place: String,
    /// Who manages her case: "" (her officer, as for everyone), "township"
    /// (a supervisor of her township) or "county" (a county administrator).
    pub case_manager: String,
    /// Days after a check-up's window closed before her officer (and case
    /// manager) hear of it; none: `jobs.overdue_grace_days`.
    pub overdue_grace_days: Option<i64>,
    /// Days after it became overdue before her supervisor hears (once);
    /// none: `jobs.escalate_after_days`.
    pub escalate_after_days: Option<i64>,
    /// The least level of the hospital she delivers at (0: any).
    pub delivery_level: u8,
}

/// One newborn step against mother-to-child transmission.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PmtctStep {
    pub infection: Infection,
    /// Unique per infection: part of the visit's key (`pmtct-<key>`).
    pub key: String,
    /// What her care team reads.
    pub label_zh: String,
    pub label_en: String,
    /// Hours after the birth by which it is done (12: the day of the birth
    /// or the next).
    #[serde(default)]
    pub within_hours: Option<i64>,
    /// Or a window in days after the birth.
    #[serde(default)]
    pub from_day: i64,
    #[serde(default)]
    pub to_day: i64,
    /// She is reminded of it ("your follow-up visit", never the infection);
    /// otherwise a task for her care team only.
    #[serde(default)]
    pub remind: bool,
}

impl PmtctStep {
    /// Its window in days after the birth.
    pub fn days(&self) -> (i64, i64) {
        match self.within_hours {
            // Born late in the day, twelve hours run into the next.
            Some(h) => (0, (h + 23) / 24),
            None => (self.from_day, self.to_day.max(self.from_day)),
        }
    }
}

fn step(
    infection: Infection,
    key: &str,
    zh: &str,
    en: &str,
    within_hours: Option<i64>,
    (from_day, to_day): (i64, i64),
    remind: bool,
) -> PmtctStep {
    PmtctStep {
        infection,
        key: key.into(),
        label_zh: zh.into(),
        label_en: en.into(),
        within_hours,
        from_day,
        to_day,
        remind,
    }
}

impl Default for RiskConfig {
    fn default() -> Self {
        let managed = |place: &str, case_manager: &str, level: u8| ColourCare {
            place: place.into(),
            case_manager: case_manager.into(),
            overdue_grace_days: Some(0),
            escalate_after_days: Some(1),
            delivery_level: level,
        };
        use Infection::{HepatitisB, Hiv, Syphilis};
        RiskConfig {
            green: ColourCare::default(),
            yellow: ColourCare {
                place: "县人民医院".into(),
                overdue_grace_days: Some(1),
                escalate_after_days: Some(3),
                delivery_level: 2,
                ..ColourCare::default()
            },
            orange: managed("县人民医院", "county", 3),
            red: managed("县人民医院", "county", 3),
            purple: managed("县人民医院", "county", 2),
            hospitals: BTreeMap::new(),
            referral_follow_up_days: 14,
            // The national programme for preventing mother-to-child
            // transmission of HIV, syphilis and hepatitis B: a county
            // adjusts these to its own protocol.
            pmtct: vec![
                step(
                    HepatitisB,
                    "hbig",
                    "乙肝免疫球蛋白和第1剂乙肝疫苗（出生12小时内）",
                    "hepatitis B immunoglobulin and first vaccine dose (within 12 hours of birth)",
                    Some(12),
                    (0, 0),
                    false,
                ),
                step(
                    HepatitisB,
                    "hbv-test",
                    "乙肝表面抗原及抗体检测（7-12月龄）",
                    "hepatitis B surface antigen and antibody test (7-12 months)",
                    None,
                    (210, 365),
                    true,
                ),
                step(
                    Hiv,
                    "arv",
                    "新生儿抗病毒药物预防（出生6小时内）",
                    "antiretroviral prophylaxis for the newborn (within 6 hours of birth)",
                    Some(6),
                    (0, 0),
                    false,
                ),
                step(
                    Hiv,
                    "eid-6w",
                    "婴儿艾滋病感染早期诊断（6周）",
                    "early infant HIV diagnosis (6 weeks)",
                    None,
                    (42, 56),
                    true,
                ),
                step(
                    Hiv,
                    "eid-3m",
                    "婴儿艾滋病感染早期诊断（3个月）",
                    "early infant HIV diagnosis (3 months)",
                    None,
                    (90, 104),
                    true,
                ),
                step(
                    Syphilis,
                    "syphilis-pep",
                    "新生儿梅毒预防性治疗",
                    "preventive treatment of the newborn for syphilis",
                    None,
                    (0, 7),
                    false,
                ),
                step(
                    Syphilis,
                    "syphilis-3m",
                    "梅毒暴露儿童随访检测（3月龄）",
                    "follow-up test of the syphilis-exposed infant (3 months)",
                    None,
                    (90, 104),
                    true,
                ),
            ],
        }
    }
}

impl RiskConfig {
    /// What a colour asks.
    pub fn colour(&self, c: Colour) -> &ColourCare {
        match c {
            Colour::Green => &self.green,
            Colour::Yellow => &self.yellow,
            Colour::Orange => &self.orange,
            Colour::Red => &self.red,
        }
    }

    /// What applies to her grade, rule by rule the stricter of her colour
    /// and purple; `None` while she is not yet assessed (the defaults of
    /// `[jobs]` and her village's clinic apply).
    fn cares(&self, g: &Grade) -> Vec<&ColourCare> {
        let mut v: Vec<&ColourCare> = g.colour.map(|c| self.colour(c)).into_iter().collect();
        if g.purple {
            v.push(&self.purple);
        }
        v
    }

    /// Where her check-ups are: the place of the strictest rule that names one.
    pub fn place(&self, g: &Grade) -> Option<&str> {
        let mut cares = self.cares(g);
        cares.sort_by_key(|c| std::cmp::Reverse(c.delivery_level));
        cares
            .into_iter()
            .map(|c| c.place.as_str())
            .find(|p| !p.is_empty())
    }

    /// Days of grace before a missed check-up is news, and before it is
    /// escalated: the shortest her grade asks, else `default`.
    pub fn alert_days(&self, g: &Grade, default: (i64, i64)) -> (i64, i64) {
        let cares = self.cares(g);
        let grace = cares.iter().filter_map(|c| c.overdue_grace_days).min();
        let escalate = cares.iter().filter_map(|c| c.escalate_after_days).min();
        (grace.unwrap_or(default.0), escalate.unwrap_or(default.1))
    }

    /// The level of her case manager, when her grade asks for one:
    /// "county" before "township".
    pub fn manager_level(&self, g: &Grade) -> Option<&str> {
        let levels: Vec<&str> = self
            .cares(g)
            .iter()
            .map(|c| c.case_manager.as_str())
            .filter(|l| !l.is_empty())
            .collect();
        ["county", "township"]
            .into_iter()
            .find(|l| levels.contains(l))
    }

    /// The least level of hospital she delivers at.
    pub fn delivery_level(&self, g: &Grade) -> u8 {
        self.cares(g)
            .iter()
            .map(|c| c.delivery_level)
            .max()
            .unwrap_or(0)
    }

    /// Every rule broken, with its key.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = vec![];
        let colours = [
            ("green", &self.green),
            ("yellow", &self.yellow),
            ("orange", &self.orange),
            ("red", &self.red),
            ("purple", &self.purple),
        ];
        for (name, c) in colours {
            if !["", "township", "county"].contains(&c.case_manager.as_str()) {
                out.push((
                    format!("risk.{name}.case_manager"),
                    format!(
                        "{:?} is not \"\", \"township\" or \"county\"",
                        c.case_manager
                    ),
                ));
            }
            for (k, v) in [
                ("overdue_grace_days", c.overdue_grace_days),
                ("escalate_after_days", c.escalate_after_days),
            ] {
                if v.is_some_and(|d| d < 0) {
                    out.push((format!("risk.{name}.{k}"), "must be at least 0".into()));
                }
            }
            if c.delivery_level > 3 {
                out.push((
                    format!("risk.{name}.delivery_level"),
                    "a hospital level is 0 (any) to 3".into(),
                ));
            }
        }
        for (h, level) in &self.hospitals {
            if !(1..=3).contains(level) {
                out.push((
                    format!("risk.hospitals.{h}"),
                    "a hospital level is 1 to 3".into(),
                ));
            }
        }
        if self.referral_follow_up_days < 1 {
            out.push((
                "risk.referral_follow_up_days".into(),
                "must be at least 1".into(),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, s) in self.pmtct.iter().enumerate() {
            if s.key.is_empty()
                || !s.key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                || !seen.insert(s.key.clone())
            {
                out.push((
                    format!("risk.pmtct[{i}].key"),
                    format!("{:?}: letters, digits and '-', once each", s.key),
                ));
            }
            if s.within_hours.is_none() && s.to_day < s.from_day {
                out.push((
                    format!("risk.pmtct[{i}].to_day"),
                    "must not be before from_day".into(),
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stricter_of_her_colour_and_purple_applies() {
        let r = RiskConfig::default();
        let g = Grade::parse("yellow 紫").unwrap();
        assert_eq!(r.alert_days(&g, (3, 7)), (0, 1));
        assert_eq!(r.manager_level(&g), Some("county"));
        assert_eq!(r.delivery_level(&g), 2);
        let green = Grade::parse("green").unwrap();
        assert_eq!(r.alert_days(&green, (3, 7)), (3, 7));
        assert_eq!(r.place(&green), None);
        assert_eq!(r.manager_level(&Grade::default()), None);
    }

    #[test]
    fn twelve_hours_run_into_the_next_day() {
        let r = RiskConfig::default();
        let hbig = r.pmtct.iter().find(|s| s.key == "hbig").unwrap();
        assert_eq!(hbig.days(), (0, 1));
        assert!(r.problems().is_empty(), "{:?}", r.problems());
    }
}
