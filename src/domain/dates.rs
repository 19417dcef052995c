//! Pregnancy dates: LMP <-> EDD by Naegele's rule, gestational age, plausibility.

use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Days from the last menstrual period to the expected delivery date (Naegele's rule).
pub const NAEGELE_DAYS: i64 = 280;
/// How far a given LMP and a given EDD may disagree before the pair is refused.
/// Within it the EDD wins: it is usually the one corrected by a dating scan.
pub const LMP_EDD_TOLERANCE_DAYS: i64 = 14;
/// Youngest gestational age accepted at registration (2 weeks).
pub const MIN_GA_DAYS_AT_REGISTRATION: i64 = 2 * 7;
/// Oldest gestational age accepted at registration, and the age after which a
/// pregnancy with no delivery recorded is stale (44 weeks).
pub const MAX_GA_DAYS: i64 = 44 * 7;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error("neither LMP nor EDD given")]
    Missing,
    #[error(
        "LMP {lmp} and EDD {edd} disagree by {days} days (more than {LMP_EDD_TOLERANCE_DAYS})"
    )]
    Inconsistent {
        lmp: NaiveDate,
        edd: NaiveDate,
        days: i64,
    },
    #[error("LMP {0} is in the future")]
    LmpInFuture(NaiveDate),
    #[error("gestational age {0} is outside the plausible 2-44 weeks")]
    Implausible(GestationalAge),
}

/// The two dates that anchor a pregnancy. Always consistent: `edd = lmp + 280 days`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PregnancyDates {
    pub lmp: NaiveDate,
    pub edd: NaiveDate,
}

impl PregnancyDates {
    pub fn from_lmp(lmp: NaiveDate) -> Self {
        Self {
            lmp,
            edd: lmp + Duration::days(NAEGELE_DAYS),
        }
    }

    pub fn from_edd(edd: NaiveDate) -> Self {
        Self {
            lmp: edd - Duration::days(NAEGELE_DAYS),
            edd,
        }
    }

    /// Either or both dates; when both are given they must agree within the
    /// tolerance, and the EDD wins.
    pub fn parse(lmp: Option<NaiveDate>, edd: Option<NaiveDate>) -> Result<Self, DateError> {
        match (lmp, edd) {
            (None, None) => Err(DateError::Missing),
            (Some(l), None) => Ok(Self::from_lmp(l)),
            (None, Some(e)) => Ok(Self::from_edd(e)),
            (Some(l), Some(e)) => {
                let derived = Self::from_edd(e);
                let days = (derived.lmp - l).num_days().abs();
                if days > LMP_EDD_TOLERANCE_DAYS {
                    Err(DateError::Inconsistent {
                        lmp: l,
                        edd: e,
                        days,
                    })
                } else {
                    Ok(derived)
                }
            }
        }
    }

    pub fn gestational_age(&self, on: NaiveDate) -> GestationalAge {
        GestationalAge((on - self.lmp).num_days())
    }

    /// Refuses dates that cannot describe a pregnancy being registered `today`.
    pub fn check_registration(&self, today: NaiveDate) -> Result<(), DateError> {
        if self.lmp > today {
            return Err(DateError::LmpInFuture(self.lmp));
        }
        let ga = self.gestational_age(today);
        if ga.0 < MIN_GA_DAYS_AT_REGISTRATION || ga.0 > MAX_GA_DAYS {
            return Err(DateError::Implausible(ga));
        }
        Ok(())
    }

    /// True once 44 weeks have passed since LMP without a delivery.
    pub fn is_stale(&self, today: NaiveDate) -> bool {
        self.gestational_age(today).0 > MAX_GA_DAYS
    }
}

/// Gestational age in days, shown the clinical way as weeks+days ("23+4").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GestationalAge(pub i64);

impl GestationalAge {
    pub fn weeks(&self) -> i64 {
        self.0.div_euclid(7)
    }
    pub fn days(&self) -> i64 {
        self.0.rem_euclid(7)
    }
}

impl fmt::Display for GestationalAge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}+{}", self.weeks(), self.days())
    }
}

/// Parses an ISO date, also accepting the `2026/03/01` and `2026.03.01` forms
/// county spreadsheets produce.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    // 2026年9月22日, as Chinese offices write dates.
    let s = s.strip_suffix('日').unwrap_or(s);
    ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d"]
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(s, f).ok())
        // Years far outside any pregnancy would overflow date arithmetic.
        .filter(|d| (1900..=2200).contains(&d.year()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn dates_as_county_offices_write_them() {
        for s in [
            "2026-09-22",
            "2026/9/22",
            "2026.9.22",
            "20260922",
            "2026年9月22日",
            " 2026年09月22日 ",
        ] {
            assert_eq!(parse_date(s), Some(d("2026-09-22")), "{s}");
        }
        assert_eq!(parse_date("2026年13月22日"), None);
    }

    #[test]
    fn naegele_rule_both_ways() {
        assert_eq!(
            PregnancyDates::from_lmp(d("2026-01-01")).edd,
            d("2026-10-08")
        );
        assert_eq!(
            PregnancyDates::from_edd(d("2026-10-08")).lmp,
            d("2026-01-01")
        );
    }

    #[test]
    fn both_dates_must_agree_and_edd_wins() {
        let p = PregnancyDates::parse(Some(d("2026-01-05")), Some(d("2026-10-08"))).unwrap();
        assert_eq!(p.lmp, d("2026-01-01"));
        let err = PregnancyDates::parse(Some(d("2026-03-01")), Some(d("2026-10-08"))).unwrap_err();
        assert!(matches!(err, DateError::Inconsistent { days: 59, .. }));
        assert_eq!(PregnancyDates::parse(None, None), Err(DateError::Missing));
    }

    #[test]
    fn gestational_age_is_weeks_plus_days() {
        let p = PregnancyDates::from_lmp(d("2026-01-01"));
        assert_eq!(p.gestational_age(d("2026-06-15")).to_string(), "23+4");
    }

    #[test]
    fn plausibility_bounds_at_registration() {
        let today = d("2026-12-01");
        let ok = PregnancyDates::from_lmp(today - Duration::days(14));
        assert!(ok.check_registration(today).is_ok());
        let young = PregnancyDates::from_lmp(today - Duration::days(13));
        assert!(matches!(
            young.check_registration(today),
            Err(DateError::Implausible(_))
        ));
        let old = PregnancyDates::from_lmp(today - Duration::days(400));
        assert!(matches!(
            old.check_registration(today),
            Err(DateError::Implausible(_))
        ));
        let future = PregnancyDates::from_lmp(today + Duration::days(30));
        assert!(matches!(
            future.check_registration(today),
            Err(DateError::LmpInFuture(_))
        ));
        assert!(old.is_stale(today));
    }

    #[test]
    fn spreadsheet_date_forms() {
        assert_eq!(parse_date("2026/03/01"), Some(d("2026-03-01")));
        assert_eq!(parse_date(" 2026-03-01 "), Some(d("2026-03-01")));
        assert_eq!(parse_date("2026-13-45"), None);
    }
}
