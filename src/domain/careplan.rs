//! Care plans as data: which contacts a pregnancy (and the weeks after birth)
//! should have, each with an anchor, a due day and a window.
//!
//! Three plans are built in (see `shared/domain.md`); an administrator may
//! add others as TOML or JSON documents of the same shape.

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use super::dates::PregnancyDates;

/// The date a contact's days are counted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactAnchor {
    /// Last menstrual period: prenatal contacts.
    Lmp,
    /// Delivery date: postpartum and newborn contacts.
    Delivery,
    /// The day she left hospital (the delivery date when none is
    /// recorded): the home visits "within a week of discharge".
    Discharge,
}

/// One contact of a plan: due `due` days after its anchor, acceptable from
/// `window_start` to `window_end` (inclusive, in days after the anchor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactDef {
    pub key: String,
    /// Plain label shown in messages, per language (`zh-CN`, `en`).
    pub label_zh: String,
    pub label_en: String,
    pub anchor: ContactAnchor,
    pub window_start: i64,
    pub due: i64,
    pub window_end: i64,
    /// A contact for the baby: planned only after a live birth.
    #[serde(default)]
    pub newborn: bool,
    /// Done at her home by her officer (the postpartum and newborn home
    /// visits): her reminder says the officer will come.
    #[serde(default)]
    pub home: bool,
}

/// A contact repeated every `every_days` from the registration date while
/// the gestational age stays at or under `until_ga_days` (the county's
/// monthly free check-up).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepeatDef {
    pub key_prefix: String,
    pub label_zh: String,
    pub label_en: String,
    pub every_days: i64,
    pub until_ga_days: i64,
    /// Days after the due day the visit may still happen.
    pub window_days: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarePlan {
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub contacts: Vec<ContactDef>,
    #[serde(default)]
    pub repeat: Option<RepeatDef>,
}

/// A dated contact for one pregnancy, ready to be stored as a visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedVisit {
    pub key: String,
    pub seq: i64,
    pub label_zh: String,
    pub label_en: String,
    pub window_start: NaiveDate,
    pub due: NaiveDate,
    pub window_end: NaiveDate,
    /// For the baby.
    pub newborn: bool,
    /// Done at her home by her officer.
    pub home: bool,
    /// The officer's own recurring home visit: a task on her worklist; no
    /// reminder goes to the woman for it.
    pub task: bool,
    /// What her care team reads when it differs from the plain words sent
    /// to her (a newborn's step against mother-to-child transmission, whose
    /// name would tell her infection to whoever reads her phone).
    pub staff_label: Option<(String, String)>,
}

/// The officer's monthly home visit: one task every `every_days` from
/// `from` (exclusive) while the due day stays on or before `until`. Each
/// visit's period runs from its date until the day before the next one's,
/// so periods follow one another and never overlap: a visit done on a day
/// belongs to exactly one of them, and a period that ended without a
/// visit is missed for good. Keys `<prefix>1`, `<prefix>2`...
pub fn officer_home_visits(
    prefix: &str,
    from: NaiveDate,
    until: NaiveDate,
    every_days: i64,
) -> Vec<PlannedVisit> {
    let mut out = vec![];
    if every_days < 1 {
        return out;
    }
    let mut due = from + Duration::days(every_days);
    let mut n = 1;
    while due <= until {
        out.push(PlannedVisit {
            key: format!("{prefix}{n}"),
            seq: 0,
            label_zh: format!("第{n}次入户随访"),
            label_en: format!("home visit {n}"),
            window_start: due,
            due,
            window_end: due + Duration::days(every_days - 1),
            newborn: false,
            home: true,
            task: true,
            staff_label: None,
        });
        n += 1;
        due += Duration::days(every_days);
    }
    out
}

/// Two lists of dated contacts as one, in date order, numbered.
pub fn merged(a: Vec<PlannedVisit>, b: Vec<PlannedVisit>) -> Vec<PlannedVisit> {
    number(a.into_iter().chain(b).collect())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("contact {0}: window must satisfy window_start <= due <= window_end")]
    BadWindow(String),
    #[error("contact key {0} is used twice")]
    DuplicateKey(String),
    #[error("plan key must be 1-40 letters, digits or '-'")]
    BadKey,
    #[error("repeat every_days must be at least 7")]
    BadRepeat,
}

impl CarePlan {
    pub fn validate(&self) -> Result<(), PlanError> {
        if self.key.is_empty()
            || self.key.len() > 40
            || !self
                .key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(PlanError::BadKey);
        }
        let mut seen = std::collections::HashSet::new();
        for c in &self.contacts {
            if !(c.window_start <= c.due && c.due <= c.window_end) {
                return Err(PlanError::BadWindow(c.key.clone()));
            }
            if !seen.insert(c.key.as_str()) {
                return Err(PlanError::DuplicateKey(c.key.clone()));
            }
        }
        if let Some(r) = &self.repeat {
            if r.every_days < 7 {
                return Err(PlanError::BadRepeat);
            }
        }
        Ok(())
    }

    /// Prenatal contacts for a pregnancy registered on `registered_on`.
    /// Contacts whose window closed before registration are left out: nobody
    /// is reminded of a visit she could no longer make. The first contact
    /// (the one that opens her handbook) is the exception: a woman first
    /// seen late still has a first check-up, open from registration for
    /// [`LATE_FIRST_CONTACT_DAYS`] and due half-way (a woman registered at
    /// her first check-up has it recorded the same day; one registered
    /// from a roster is reminded before it), so she can still reach every
    /// check-up the plan counts.
    pub fn prenatal_visits(
        &self,
        dates: &PregnancyDates,
        registered_on: NaiveDate,
    ) -> Vec<PlannedVisit> {
        let prenatal: Vec<PlannedVisit> = self
            .contacts
            .iter()
            .filter(|c| c.anchor == ContactAnchor::Lmp)
            .map(|c| dated(c, dates.lmp))
            .collect();
        let first = prenatal
            .iter()
            .min_by_key(|v| (v.window_start, v.due))
            .map(|v| v.key.clone());
        let mut out: Vec<PlannedVisit> = prenatal
            .into_iter()
            .filter_map(|mut v| {
                if v.window_end >= registered_on {
                    Some(v)
                } else if Some(&v.key) == first.as_ref() {
                    // Half-way, but never past the last week a pregnancy is followed.
                    let last = dates.lmp + Duration::days(super::dates::MAX_GA_DAYS);
                    v.window_start = registered_on;
                    v.due = (registered_on + Duration::days(LATE_FIRST_CONTACT_DAYS / 2))
                        .min(last)
                        .max(registered_on);
                    v.window_end = registered_on + Duration::days(LATE_FIRST_CONTACT_DAYS - 1);
                    Some(v)
                } else {
                    None
                }
            })
            .collect();
        if let Some(r) = &self.repeat {
            let last = dates.lmp + Duration::days(r.until_ga_days);
            let mut due = registered_on + Duration::days(r.every_days);
            let mut n = 1;
            while due <= last {
                out.push(PlannedVisit {
                    key: format!("{}{}", r.key_prefix, n),
                    seq: 0,
                    label_zh: r.label_zh.clone(),
                    label_en: r.label_en.clone(),
                    window_start: due,
                    due,
                    window_end: due + Duration::days(r.window_days),
                    newborn: false,
                    home: false,
                    task: false,
                    staff_label: None,
                });
                n += 1;
                due += Duration::days(r.every_days);
            }
        }
        number(out)
    }

    /// Postpartum contacts after a delivery on `delivered_on` (discharged
    /// from hospital on `discharged_on`, or the same day), and the
    /// newborn's after a live birth.
    pub fn postpartum_visits(
        &self,
        delivered_on: NaiveDate,
        discharged_on: Option<NaiveDate>,
        live_birth: bool,
    ) -> Vec<PlannedVisit> {
        number(
            self.contacts
                .iter()
                .filter(|c| c.anchor != ContactAnchor::Lmp && (live_birth || !c.newborn))
                .map(|c| match c.anchor {
                    ContactAnchor::Discharge => {
                        dated(c, discharged_on.unwrap_or(delivered_on).max(delivered_on))
                    }
                    _ => dated(c, delivered_on),
                })
                .collect(),
        )
    }
}

fn dated(c: &ContactDef, anchor: NaiveDate) -> PlannedVisit {
    PlannedVisit {
        key: c.key.clone(),
        seq: 0,
        label_zh: c.label_zh.clone(),
        label_en: c.label_en.clone(),
        window_start: anchor + Duration::days(c.window_start),
        due: anchor + Duration::days(c.due),
        window_end: anchor + Duration::days(c.window_end),
        newborn: c.newborn,
        home: c.home,
        task: false,
        staff_label: None,
    }
}

fn number(mut v: Vec<PlannedVisit>) -> Vec<PlannedVisit> {
    v.sort_by_key(|p| (p.due, p.window_start));
    for (i, p) in v.iter_mut().enumerate() {
        p.seq = i as i64 + 1;
    }
    v
}

fn c(
    key: &str,
    zh: &str,
    en: &str,
    anchor: ContactAnchor,
    start: i64,
    due: i64,
    end: i64,
) -> ContactDef {
    ContactDef {
        key: key.into(),
        label_zh: zh.into(),
        label_en: en.into(),
        anchor,
        window_start: start,
        due,
        window_end: end,
        newborn: key.starts_with("newborn"),
        home: key.ends_with("-home"),
    }
}

const W: i64 = 7;
use ContactAnchor::{Delivery, Discharge, Lmp};

/// National Basic Public Health Service Standard (2017): 5 prenatal visits,
/// the postpartum home visit, the 42-day check and the newborn visits.
/// A range such as "16-20 weeks" runs from 16+0 to 20+6; the visit is due
/// when its window opens so that the reminder comes early in it.
pub fn china_bphs_2017() -> CarePlan {
    CarePlan {
        key: "china-bphs-2017".into(),
        name: "China BPHS 2017 maternal health management".into(),
        contacts: vec![
            c(
                "anc1",
                "第1次产前检查（建母子健康手册）",
                "first prenatal check-up (handbook)",
                Lmp,
                6 * W,
                12 * W,
                13 * W - 1,
            ),
            c(
                "anc2",
                "第2次产前检查",
                "second prenatal check-up",
                Lmp,
                16 * W,
                16 * W,
                21 * W - 1,
            ),
            c(
                "anc3",
                "第3次产前检查",
                "third prenatal check-up",
                Lmp,
                21 * W,
                21 * W,
                25 * W - 1,
            ),
            c(
                "anc4",
                "第4次产前检查",
                "fourth prenatal check-up",
                Lmp,
                28 * W,
                28 * W,
                37 * W - 1,
            ),
            c(
                "anc5",
                "第5次产前检查",
                "fifth prenatal check-up",
                Lmp,
                37 * W,
                37 * W,
                41 * W - 1,
            ),
            // "Within 1 week after discharge", for mother and baby together.
            c(
                "pnc-home",
                "产后访视",
                "home visit after the birth",
                Discharge,
                1,
                3,
                7,
            ),
            c(
                "newborn-home",
                "新生儿家庭访视",
                "newborn home visit",
                Discharge,
                1,
                3,
                7,
            ),
            c(
                "newborn-28d",
                "新生儿满月健康检查",
                "baby's one-month check",
                Delivery,
                28,
                28,
                30,
            ),
            c(
                "pnc-42d",
                "产后42天健康检查",
                "42-day check after the birth",
                Delivery,
                42,
                42,
                49,
            ),
        ],
        repeat: None,
    }
}

/// WHO 2016 ANC model: 8 contacts, and the WHO postnatal contacts.
pub fn who_anc_2016() -> CarePlan {
    let mut contacts = vec![c(
        "c1",
        "第1次产前检查",
        "first antenatal contact",
        Lmp,
        6 * W,
        12 * W,
        13 * W - 1,
    )];
    for (i, wk) in [20, 26, 30, 34, 36, 38, 40].iter().enumerate() {
        let n = i + 2;
        let before = if *wk >= 36 { 3 } else { W };
        contacts.push(c(
            &format!("c{n}"),
            &format!("第{n}次产前检查"),
            &format!("antenatal contact {n}"),
            Lmp,
            wk * W - before,
            wk * W,
            wk * W + 6,
        ));
    }
    contacts.extend([
        c(
            "pnc-24h",
            "产后24小时内检查",
            "check within 24 hours of the birth",
            Delivery,
            0,
            1,
            1,
        ),
        c(
            "pnc-d3",
            "产后第3天检查",
            "day-3 check after the birth",
            Delivery,
            2,
            3,
            4,
        ),
        c(
            "pnc-w2",
            "产后1-2周检查",
            "check 1-2 weeks after the birth",
            Delivery,
            7,
            7,
            14,
        ),
        c(
            "pnc-w6",
            "产后6周检查",
            "6-week check after the birth",
            Delivery,
            42,
            42,
            48,
        ),
    ]);
    CarePlan {
        key: "who-anc-2016".into(),
        name: "WHO 2016 antenatal care model".into(),
        contacts,
        repeat: None,
    }
}

/// The county's promise: one free check-up every 4 weeks from registration
/// until 40 weeks, and the same postpartum contacts as the national plan.
pub fn monthly_checkup() -> CarePlan {
    CarePlan {
        key: "monthly-checkup".into(),
        name: "Monthly free prenatal check-up".into(),
        contacts: china_bphs_2017()
            .contacts
            .into_iter()
            .filter(|c| c.anchor != Lmp)
            .collect(),
        repeat: Some(RepeatDef {
            key_prefix: "m".into(),
            label_zh: "每月免费产前检查".into(),
            label_en: "monthly free check-up".into(),
            every_days: 4 * W,
            until_ga_days: 40 * W,
            window_days: 6,
        }),
    }
}

/// Days a late registrant's first check-up stays open from registration.
pub const LATE_FIRST_CONTACT_DAYS: i64 = 14;

pub const DEFAULT_PLAN: &str = "china-bphs-2017";

pub fn builtin_plans() -> Vec<CarePlan> {
    vec![china_bphs_2017(), who_anc_2016(), monthly_checkup()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn builtin_plans_are_valid() {
        for p in builtin_plans() {
            p.validate().unwrap();
        }
    }

    #[test]
    fn bphs_prenatal_visits_from_lmp() {
        let dates = PregnancyDates::from_lmp(d("2026-01-01"));
        let v = china_bphs_2017().prenatal_visits(&dates, d("2026-03-12"));
        let got: Vec<_> = v
            .iter()
            .map(|v| (v.key.as_str(), v.due.to_string(), v.window_end.to_string()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("anc1", "2026-03-26".to_string(), "2026-04-01".to_string()),
                ("anc2", "2026-04-23".into(), "2026-05-27".into()),
                ("anc3", "2026-05-28".into(), "2026-06-24".into()),
                ("anc4", "2026-07-16".into(), "2026-09-16".into()),
                ("anc5", "2026-09-17".into(), "2026-10-14".into()),
            ]
        );
        assert_eq!(
            v.iter().map(|v| v.seq).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5]
        );
    }

    #[test]
    fn closed_windows_are_left_out_at_late_registration_but_the_first_check_up_is_kept() {
        let dates = PregnancyDates::from_lmp(d("2026-01-01"));
        let v = china_bphs_2017().prenatal_visits(&dates, d("2026-06-30"));
        assert_eq!(
            v.iter().map(|v| v.key.as_str()).collect::<Vec<_>>(),
            vec!["anc1", "anc4", "anc5"]
        );
        // Her first check-up (the handbook) is open from the day she registers.
        let first = &v[0];
        assert_eq!(
            (first.window_start, first.due, first.window_end),
            (d("2026-06-30"), d("2026-07-07"), d("2026-07-13"))
        );
    }

    #[test]
    fn a_woman_first_seen_at_16_weeks_can_still_have_five_check_ups() {
        let dates = PregnancyDates::from_lmp(d("2026-01-01"));
        let v = china_bphs_2017().prenatal_visits(&dates, dates.lmp + Duration::days(16 * 7));
        assert_eq!(v.len(), 5, "{v:?}");
    }

    #[test]
    fn monthly_home_visit_periods_follow_one_another_without_overlap() {
        let v = officer_home_visits("home-", d("2026-01-01"), d("2026-05-01"), 30);
        assert_eq!(v.len(), 4);
        assert_eq!(
            (v[0].window_start, v[0].due, v[0].window_end),
            (d("2026-01-31"), d("2026-01-31"), d("2026-03-01"))
        );
        for pair in v.windows(2) {
            assert_eq!(
                pair[0].window_end + Duration::days(1),
                pair[1].window_start,
                "each period ends the day before the next begins"
            );
        }
    }

    #[test]
    fn the_postpartum_home_visit_counts_from_discharge() {
        let plan = china_bphs_2017();
        let v = plan.postpartum_visits(d("2026-10-08"), Some(d("2026-10-12")), true);
        let home = v.iter().find(|v| v.key == "pnc-home").unwrap();
        assert_eq!(
            (home.window_start, home.window_end),
            (d("2026-10-13"), d("2026-10-19"))
        );
        let check = v.iter().find(|v| v.key == "pnc-42d").unwrap();
        assert_eq!(
            check.due,
            d("2026-11-19"),
            "the 42-day check counts from the birth"
        );
        // A discharge before the birth is a typing error: the birth counts.
        let v = plan.postpartum_visits(d("2026-10-08"), Some(d("2026-10-01")), true);
        let home = v.iter().find(|v| v.key == "pnc-home").unwrap();
        assert_eq!(home.window_start, d("2026-10-09"));
    }

    #[test]
    fn monthly_plan_every_four_weeks_until_40_weeks() {
        let dates = PregnancyDates::from_lmp(d("2026-01-01"));
        let reg = d("2026-03-12"); // 10 weeks
        let v = monthly_checkup().prenatal_visits(&dates, reg);
        assert_eq!(v.first().unwrap().due, d("2026-04-09"));
        assert!(v.iter().all(|v| v.due <= dates.lmp + Duration::days(280)));
        assert_eq!(v.len(), 7); // 14, 18, 22, 26, 30, 34, 38 weeks
    }

    #[test]
    fn who_plan_has_eight_antenatal_contacts() {
        let dates = PregnancyDates::from_lmp(d("2026-01-01"));
        assert_eq!(
            who_anc_2016()
                .prenatal_visits(&dates, d("2026-01-20"))
                .len(),
            8
        );
        assert_eq!(
            who_anc_2016()
                .postpartum_visits(d("2026-10-08"), None, true)
                .len(),
            4
        );
    }

    #[test]
    fn postpartum_contacts_and_newborn_ones_only_after_a_live_birth() {
        let plan = china_bphs_2017();
        let v = plan.postpartum_visits(d("2026-10-08"), None, true);
        let got: Vec<_> = v
            .iter()
            .map(|v| format!("{} {} {}", v.key, v.due, v.window_end))
            .collect();
        assert_eq!(
            got,
            [
                "pnc-home 2026-10-11 2026-10-15",
                "newborn-home 2026-10-11 2026-10-15",
                "newborn-28d 2026-11-05 2026-11-07",
                "pnc-42d 2026-11-19 2026-11-26",
            ]
        );
        let keys: Vec<_> = plan
            .postpartum_visits(d("2026-10-08"), None, false)
            .into_iter()
            .map(|v| v.key)
            .collect();
        assert_eq!(keys, ["pnc-home", "pnc-42d"]);
    }

    #[test]
    fn custom_plan_from_toml_is_validated() {
        let plan: CarePlan = toml_plan(
            r#"
key = "county-x"
name = "County X"
[[contacts]]
key = "a"
label_zh = "检查"
label_en = "check"
anchor = "lmp"
window_start = 80
due = 70
window_end = 90
"#,
        );
        assert_eq!(plan.validate(), Err(PlanError::BadWindow("a".into())));
    }

    fn toml_plan(s: &str) -> CarePlan {
        use figment::providers::{Format, Toml};
        figment::Figment::from(Toml::string(s)).extract().unwrap()
    }
}
