//! The township assessment's indicators: what each measures, in both
//! languages, whether more is better, and its built-in target. Counting
//! them is the store's; shares and targets are `services::reports`'.

/// An indicator: key, words in both languages, and whether more is better.
pub struct Indicator {
    pub key: &'static str,
    pub zh: &'static str,
    pub en: &'static str,
    /// A share to reach (true) or to stay under (false).
    pub higher_is_better: bool,
    /// The target when the configuration names none.
    pub default_target: f64,
}

/// Every indicator, in the order reports show them.
pub const INDICATORS: &[Indicator] = &[
    Indicator {
        key: "early_registration",
        zh: "孕13周前建册率",
        en: "Registered before 13 weeks",
        higher_is_better: true,
        default_target: 0.85,
    },
    Indicator {
        key: "five_checkups",
        zh: "产前检查5次及以上率",
        en: "Five or more prenatal check-ups",
        higher_is_better: true,
        default_target: 0.85,
    },
    Indicator {
        key: "postpartum_visit_7d",
        zh: "产后7天内访视率",
        en: "Home visit within 7 days of birth",
        higher_is_better: true,
        default_target: 0.85,
    },
    Indicator {
        key: "check_42d",
        zh: "产后42天健康检查率",
        en: "42-day check after birth",
        higher_is_better: true,
        default_target: 0.85,
    },
    Indicator {
        key: "home_visits_on_time",
        zh: "每月入户随访按时率",
        en: "Monthly home visits on time",
        higher_is_better: true,
        default_target: 0.9,
    },
    Indicator {
        key: "reminders_delivered",
        zh: "提醒送达率",
        en: "Reminders delivered",
        higher_is_better: true,
        default_target: 0.95,
    },
    Indicator {
        key: "opt_outs",
        zh: "退订率",
        en: "Opted out",
        higher_is_better: false,
        default_target: 0.05,
    },
];

/// The keys a configuration may give targets for.
pub fn indicator_keys() -> impl Iterator<Item = &'static str> {
    INDICATORS.iter().map(|i| i.key)
}
