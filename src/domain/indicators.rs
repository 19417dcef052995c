//! The figures reports show: the national maternal-care indicators as the
//! national maternal and child health reporting system defines them
//! (全国妇幼卫生调查制度; `shared/domain.md` "How the figures are
//! defined"), and careminder's own operational figures, labelled as its
//! own. Each with its words and definition in both languages, whether
//! more is better, and its built-in target. Counting them is the store's;
//! judging each birth and summing is `services::reports`'.

/// An indicator: key, words in both languages, what it counts, and
/// whether more is better.
pub struct Indicator {
    pub key: &'static str,
    pub zh: &'static str,
    pub en: &'static str,
    /// A national indicator (over live births in the period), or one of
    /// careminder's own.
    pub national: bool,
    /// Numerator, denominator and window, in words.
    pub definition_zh: &'static str,
    pub definition_en: &'static str,
    /// A share to reach (true) or to stay under (false).
    pub higher_is_better: bool,
    /// The target when the configuration names none.
    pub default_target: f64,
    /// What a birth adds to the denominator (national figures).
    pub per: Per,
}

/// A national figure's denominator, as its definition has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Per {
    /// Live births in the period (活产数): twins two, a stillbirth none.
    LiveBirths,
    /// Women who gave birth in the period (产妇数).
    Women,
    /// Women who gave birth in the period graded high risk.
    HighRiskWomen,
    /// careminder's own figures count their own units.
    Own,
}

/// Days after discharge (the birth, when no discharge is recorded) within
/// which the postpartum home visit counts (the basic public health service
/// standard: within 7 days of discharge).
pub const POSTPARTUM_VISIT_DAYS: i64 = 7;

/// Gestational days before which registration and the first check-up
/// count as early (before 13+0 weeks).
pub const EARLY_DAYS: i64 = 13 * 7;

/// Check-ups that make "five or more".
pub const FIVE_CHECKUPS: i64 = 5;

/// Days after the birth by which the 42-day check is judged when her plan
/// has no such check (it runs 42 to 49 days in the national plan).
pub const CHECK_42D_DEFAULT_WINDOW_END: i64 = 49;

/// Every indicator, in the order reports show them: the national ones
/// first.
pub const INDICATORS: &[Indicator] = &[
    Indicator {
        key: "early_registration",
        zh: "早孕建册率",
        en: "Registered before 13 weeks",
        national: true,
        definition_zh: "统计期内分娩的产妇中，孕13周前建册并进行第一次产前检查的人数 ÷ 同期活产数",
        definition_en: "Women who gave birth in the period and were registered and had their first antenatal check-up before 13 weeks of pregnancy, over live births in the period",
        higher_is_better: true,
        default_target: 0.85,
        per: Per::LiveBirths,
    },
    Indicator {
        key: "antenatal_care",
        zh: "产前检查率",
        en: "Antenatal check-up rate",
        national: true,
        definition_zh: "统计期内分娩的产妇中，孕期接受过1次及以上产前检查的人数 ÷ 同期活产数",
        definition_en: "Women who gave birth in the period and had at least one antenatal check-up, over live births in the period",
        higher_is_better: true,
        default_target: 0.95,
        per: Per::LiveBirths,
    },
    Indicator {
        key: "five_checkups",
        zh: "产前检查5次及以上率",
        en: "Five or more antenatal check-ups",
        national: true,
        definition_zh: "统计期内分娩的产妇中，孕期接受过5次及以上产前检查的人数 ÷ 同期活产数",
        definition_en: "Women who gave birth in the period and had five or more antenatal check-ups, over live births in the period",
        higher_is_better: true,
        default_target: 0.85,
        per: Per::LiveBirths,
    },
    Indicator {
        key: "postpartum_visit_7d",
        zh: "产后访视率",
        en: "Postpartum visit rate",
        national: true,
        definition_zh: "统计期内分娩的产妇中，出院后7天内（未登记出院日期时按分娩日计）接受产后访视的人数 ÷ 同期活产数",
        definition_en: "Women who gave birth in the period and had a postpartum home visit within 7 days of leaving hospital (of the birth, when no discharge is recorded), over live births in the period",
        higher_is_better: true,
        default_target: 0.85,
        per: Per::LiveBirths,
    },
    Indicator {
        key: "check_42d",
        zh: "产后42天健康检查率",
        en: "42-day postpartum check rate",
        national: true,
        definition_zh: "统计期内分娩的产妇中，接受产后42天健康检查的人数 ÷ 同期活产数",
        definition_en: "Women who gave birth in the period and had the 42-day postpartum check, over live births in the period",
        higher_is_better: true,
        default_target: 0.85,
        per: Per::LiveBirths,
    },
    Indicator {
        key: "systematic_management",
        zh: "孕产妇系统管理率",
        en: "Systematic management rate",
        national: true,
        definition_zh: "统计期内分娩的产妇中，孕13周前建册并首次产检、产前检查5次及以上、产后访视和产后42天健康检查均完成的人数 ÷ 同期活产数",
        definition_en: "Women who gave birth in the period and were registered with a first check-up before 13 weeks, had five or more check-ups, the postpartum visit and the 42-day check, over live births in the period",
        higher_is_better: true,
        default_target: 0.85,
        per: Per::LiveBirths,
    },
    Indicator {
        key: "high_risk_share",
        zh: "高危产妇比例",
        en: "Share of women graded high risk",
        national: true,
        definition_zh: "统计期内分娩的产妇中，孕期评为高风险（橙色、红色或紫色）的人数 ÷ 同期产妇数",
        definition_en: "Women who gave birth in the period and were graded high risk (orange, red or purple) during pregnancy, over women who gave birth in the period",
        higher_is_better: false,
        default_target: 1.0,
        per: Per::Women,
    },
    Indicator {
        key: "high_risk_managed",
        zh: "高危孕产妇管理率",
        en: "High-risk women under case management",
        national: true,
        definition_zh: "统计期内分娩的高危产妇中，纳入专案管理（有专案管理责任人）的人数 ÷ 同期分娩的高危产妇数",
        definition_en: "High-risk women who gave birth in the period and were under case management (a named case manager), over high-risk women who gave birth in the period",
        higher_is_better: true,
        default_target: 1.0,
        per: Per::HighRiskWomen,
    },
    Indicator {
        key: "graded_at_first_checkup",
        zh: "首次产检时完成风险评估率（本系统指标）",
        en: "Risk graded by the first check-up (careminder's own)",
        national: false,
        definition_zh: "统计期内分娩的产妇中，首次产前检查之日或之前完成妊娠风险评估的人数 ÷ 同期产妇数",
        definition_en: "Women who gave birth in the period whose risk was first graded on or before the day of their first check-up, over women who gave birth in the period",
        higher_is_better: true,
        default_target: 0.95,
        per: Per::Women,
    },
    Indicator {
        key: "high_risk_delivered_at_level",
        zh: "高危产妇在要求级别医院分娩率（本系统指标）",
        en: "High-risk women delivered at a hospital of the required level (careminder's own)",
        national: false,
        definition_zh: "统计期内分娩的高危产妇中，在其风险等级要求级别及以上医院分娩的人数 ÷ 同期分娩的高危产妇数",
        definition_en: "High-risk women who gave birth in the period at a hospital of the level their grade asks or higher, over high-risk women who gave birth in the period",
        higher_is_better: true,
        default_target: 0.95,
        per: Per::HighRiskWomen,
    },
    Indicator {
        key: "home_visits_on_time",
        zh: "每月入户随访按时率（本系统指标）",
        en: "Monthly home visits on time (careminder's own)",
        national: false,
        definition_zh: "随访期在统计期内结束的每月入户随访中，在随访期内完成的次数 ÷ 随访期已结束的次数",
        definition_en: "Of the officers' monthly home visits whose period ended in the period, those done within their period",
        higher_is_better: true,
        default_target: 0.9,
        per: Per::Own,
    },
    Indicator {
        key: "reminders_delivered",
        zh: "提醒送达率（本系统指标）",
        en: "Reminders delivered (careminder's own)",
        national: false,
        definition_zh: "统计期内应发并已交给网关的提醒中，确认送达的条数 ÷ 已交给网关的条数",
        definition_en: "Of the reminders due in the period and handed to a gateway, those delivered",
        higher_is_better: true,
        default_target: 0.95,
        per: Per::Own,
    },
    Indicator {
        key: "opt_outs",
        zh: "退订率（本系统指标）",
        en: "Opted out (careminder's own)",
        national: false,
        definition_zh: "统计期末前已同意接收、期初前未退订的妇女中，统计期内退订的人数（删除个人信息不算退订）",
        definition_en: "Of the women who had consented by the period's end and had not opted out before it, those who opted out in it (an erasure of her data is not an opt-out)",
        higher_is_better: false,
        default_target: 0.05,
        per: Per::Own,
    },
    Indicator {
        key: "referrals_followed_up",
        zh: "转诊结果两周内随访率（本系统指标）",
        en: "Referrals followed up within two weeks (careminder's own)",
        national: false,
        definition_zh: "统计期内的转诊中，在规定天数（默认14天）内随访到转诊结果的次数 ÷ 转诊次数",
        definition_en: "Of the referrals made in the period, those whose result was followed up within the set days (14 by default)",
        higher_is_better: true,
        default_target: 1.0,
        per: Per::Own,
    },
];

/// The keys a configuration may give targets for.
pub fn indicator_keys() -> impl Iterator<Item = &'static str> {
    INDICATORS.iter().map(|i| i.key)
}

/// One birth's standing on one national item, as of a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Met,
    /// Its time is over without it.
    Failed,
    /// Not done yet, and its time has not come or not ended: not a failure.
    NotYetDue,
}

impl Standing {
    /// All of several: met if all are, failed if one is, else not yet due.
    pub fn all(items: &[Standing]) -> Standing {
        if items.contains(&Standing::Failed) {
            Standing::Failed
        } else if items.iter().all(|s| *s == Standing::Met) {
            Standing::Met
        } else {
            Standing::NotYetDue
        }
    }
}

/// What the national items ask of one birth, and where she stands on
/// each as of a day. Dates are whole local days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BirthStanding {
    pub early_registration: Standing,
    pub antenatal_care: Standing,
    pub five_checkups: Standing,
    pub postpartum_visit: Standing,
    pub check_42d: Standing,
    pub systematic_management: Standing,
    pub high_risk_share: Standing,
    /// None: she was not graded high risk (not in the denominator).
    pub high_risk_managed: Option<Standing>,
    pub graded_at_first_checkup: Standing,
    pub high_risk_delivered_at_level: Option<Standing>,
}

/// The facts of one birth the national figures judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BirthRecordFacts {
    pub lmp: chrono::NaiveDate,
    pub registered_on: chrono::NaiveDate,
    pub delivered_on: chrono::NaiveDate,
    pub discharged_on: Option<chrono::NaiveDate>,
    pub checkups: i64,
    pub first_checkup_on: Option<chrono::NaiveDate>,
    pub postpartum_visit_on: Option<chrono::NaiveDate>,
    pub check_42d_on: Option<chrono::NaiveDate>,
    pub check_42d_window_end: Option<chrono::NaiveDate>,
    /// Graded orange, red or purple during the pregnancy.
    pub high_risk: bool,
    /// A case manager was named for her.
    pub case_managed: bool,
    /// The day of her first risk assessment.
    pub first_assessed_on: Option<chrono::NaiveDate>,
    /// Her delivery hospital's level was the one her grade asks, or higher
    /// (none: her grade asks for no level, or no hospital levels are known).
    pub delivered_at_level: Option<bool>,
}

impl BirthRecordFacts {
    /// Where she stands on each national item as of `today`. The prenatal
    /// items are judged at the birth; the postpartum visit by 7 days after
    /// discharge; the 42-day check by the end of its window.
    pub fn standing(&self, today: chrono::NaiveDate) -> BirthStanding {
        use chrono::Duration;
        let judged = |met: bool| if met { Standing::Met } else { Standing::Failed };
        let by = |met: bool, last_day: chrono::NaiveDate| {
            if met {
                Standing::Met
            } else if last_day >= today {
                Standing::NotYetDue
            } else {
                Standing::Failed
            }
        };
        let ga = |d: chrono::NaiveDate| (d - self.lmp).num_days();
        let early_registration = judged(
            ga(self.registered_on) < EARLY_DAYS
                && self.first_checkup_on.is_some_and(|d| ga(d) < EARLY_DAYS),
        );
        let discharged = self
            .discharged_on
            .unwrap_or(self.delivered_on)
            .max(self.delivered_on);
        let visit_by = discharged + Duration::days(POSTPARTUM_VISIT_DAYS);
        let postpartum_visit = by(
            self.postpartum_visit_on
                .is_some_and(|d| d >= self.delivered_on && d <= visit_by),
            visit_by,
        );
        let check_by = self
            .check_42d_window_end
            .unwrap_or(self.delivered_on + Duration::days(CHECK_42D_DEFAULT_WINDOW_END));
        let check_42d = by(self.check_42d_on.is_some(), check_by);
        let five_checkups = judged(self.checkups >= FIVE_CHECKUPS);
        BirthStanding {
            early_registration,
            antenatal_care: judged(self.checkups >= 1),
            five_checkups,
            postpartum_visit,
            check_42d,
            systematic_management: Standing::all(&[
                early_registration,
                five_checkups,
                postpartum_visit,
                check_42d,
            ]),
            high_risk_share: judged(self.high_risk),
            high_risk_managed: self.high_risk.then(|| judged(self.case_managed)),
            graded_at_first_checkup: judged(
                match (self.first_assessed_on, self.first_checkup_on) {
                    (Some(a), Some(c)) => a <= c,
                    _ => false,
                },
            ),
            high_risk_delivered_at_level: if self.high_risk {
                self.delivered_at_level.map(judged)
            } else {
                None
            },
        }
    }
}

impl BirthStanding {
    /// Her standing on the national indicator `key`.
    pub fn on(&self, key: &str) -> Option<Standing> {
        Some(match key {
            "early_registration" => self.early_registration,
            "antenatal_care" => self.antenatal_care,
            "five_checkups" => self.five_checkups,
            "postpartum_visit_7d" => self.postpartum_visit,
            "check_42d" => self.check_42d,
            "systematic_management" => self.systematic_management,
            "high_risk_share" => self.high_risk_share,
            "high_risk_managed" => self.high_risk_managed?,
            "graded_at_first_checkup" => self.graded_at_first_checkup,
            "high_risk_delivered_at_level" => self.high_risk_delivered_at_level?,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn facts() -> BirthRecordFacts {
        BirthRecordFacts {
            lmp: d("2026-01-01"),
            registered_on: d("2026-03-01"), // 8+3
            delivered_on: d("2026-10-01"),
            discharged_on: Some(d("2026-10-04")),
            checkups: 5,
            first_checkup_on: Some(d("2026-03-20")), // 11+1
            postpartum_visit_on: Some(d("2026-10-11")),
            check_42d_on: Some(d("2026-11-12")),
            check_42d_window_end: Some(d("2026-11-19")),
            high_risk: false,
            case_managed: false,
            first_assessed_on: None,
            delivered_at_level: None,
        }
    }

    #[test]
    fn a_birth_with_everything_on_time_is_systematically_managed() {
        let s = facts().standing(d("2027-01-01"));
        assert_eq!(s.systematic_management, Standing::Met);
    }

    #[test]
    fn registered_early_but_first_check_up_at_13_weeks_is_not_early() {
        let mut f = facts();
        f.first_checkup_on = Some(f.lmp + chrono::Duration::days(91));
        let s = f.standing(d("2027-01-01"));
        assert_eq!(s.early_registration, Standing::Failed);
        assert_eq!(s.systematic_management, Standing::Failed);
        f.first_checkup_on = None;
        assert_eq!(
            f.standing(d("2027-01-01")).early_registration,
            Standing::Failed
        );
    }

    #[test]
    fn the_postpartum_visit_counts_seven_days_from_discharge() {
        let mut f = facts();
        // Discharged the 4th: the 11th is day 7, the 12th too late.
        f.postpartum_visit_on = Some(d("2026-10-12"));
        assert_eq!(
            f.standing(d("2027-01-01")).postpartum_visit,
            Standing::Failed
        );
        // No discharge recorded: counted from the birth.
        f.discharged_on = None;
        f.postpartum_visit_on = Some(d("2026-10-08"));
        assert_eq!(f.standing(d("2027-01-01")).postpartum_visit, Standing::Met);
    }

    #[test]
    fn what_is_not_yet_due_is_not_a_failure() {
        let mut f = facts();
        f.postpartum_visit_on = None;
        f.check_42d_on = None;
        let s = f.standing(d("2026-10-06"));
        assert_eq!(s.postpartum_visit, Standing::NotYetDue);
        assert_eq!(s.check_42d, Standing::NotYetDue);
        assert_eq!(s.systematic_management, Standing::NotYetDue);
        // The last day of its window still counts as not yet due.
        assert_eq!(
            f.standing(d("2026-10-11")).postpartum_visit,
            Standing::NotYetDue
        );
        let s = f.standing(d("2026-10-12"));
        assert_eq!(s.postpartum_visit, Standing::Failed);
        assert_eq!(s.check_42d, Standing::NotYetDue);
        assert_eq!(s.systematic_management, Standing::Failed);
    }
}
