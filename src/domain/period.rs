//! Reporting periods as the national maternal and child health reporting
//! system has them: townships report each calendar quarter, the annual
//! report runs from 1 October of the year before to 30 September
//! (全国妇幼卫生调查制度); or any span of days.

use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use std::fmt;

/// A period of whole local days, `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Period {
    /// A calendar quarter: 1 = January to March.
    Quarter { year: i32, quarter: u32 },
    /// The national reporting year `year`: 1 October of `year - 1` to 30
    /// September of `year`.
    Year { year: i32 },
    /// Any span of days, the first included, `to` not.
    Days { from: NaiveDate, to: NaiveDate },
}

/// Why a period was refused. Each names what was typed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("quarter: {0:?} is not a quarter (write it as 2027Q1: a year, Q, then 1 to 4)")]
    BadQuarter(String),
    #[error("year: {0:?} is not a reporting year (write it as 2027: 1 October 2026 to 30 September 2027)")]
    BadYear(String),
    #[error("{field}: {value:?} is not a date")]
    BadDate { field: &'static str, value: String },
    #[error("to: {to} is not after from ({from})")]
    EndBeforeStart { from: NaiveDate, to: NaiveDate },
    #[error("from: the period starts on {0}, after today: nothing can be counted yet")]
    InFuture(NaiveDate),
    #[error("a period of at most three years")]
    TooLong,
    #[error("give one period: a quarter, a reporting year, or from and to")]
    Conflicting,
    /// Another part of a report's request is not understood.
    #[error("{0}")]
    Other(String),
}

/// Years a reporting period may name.
const YEARS: std::ops::RangeInclusive<i32> = 1990..=2200;

impl Period {
    /// The period a request names: `quarter` ("2027Q1"), `year` ("2027",
    /// the reporting year) or `from`/`to` (days, `to` not included). Empty
    /// strings are not given (a browser sends empty fields). With nothing
    /// given, `default` is used. A period that starts after `today` is
    /// refused: it would show zeros that look like figures.
    pub fn parse(
        quarter: Option<&str>,
        year: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        today: NaiveDate,
        default: impl FnOnce(NaiveDate) -> Period,
    ) -> Result<Period, PeriodError> {
        fn given(v: Option<&str>) -> Option<&str> {
            v.map(str::trim).filter(|s| !s.is_empty())
        }
        let (quarter, year, from, to) = (given(quarter), given(year), given(from), given(to));
        let days = from.is_some() || to.is_some();
        let period = match (quarter, year, days) {
            (Some(q), None, false) => Self::parse_quarter(q)?,
            (None, Some(y), false) => Period::Year {
                year: y
                    .parse::<i32>()
                    .ok()
                    .filter(|y| YEARS.contains(y))
                    .ok_or_else(|| PeriodError::BadYear(y.to_string()))?,
            },
            (None, None, true) => {
                let day = |field: &'static str, v: &str| {
                    super::dates::parse_date(v).ok_or(PeriodError::BadDate {
                        field,
                        value: v.to_string(),
                    })
                };
                let to = match to {
                    Some(t) => day("to", t)?,
                    None => today + chrono::Duration::days(1),
                };
                let from = match from {
                    Some(f) => day("from", f)?,
                    None => to - chrono::Duration::days(365),
                };
                Period::Days { from, to }
            }
            (None, None, false) => default(today),
            _ => return Err(PeriodError::Conflicting),
        };
        let (from, to) = period.bounds();
        if to <= from {
            return Err(PeriodError::EndBeforeStart { from, to });
        }
        if (to - from).num_days() > 3 * 366 {
            return Err(PeriodError::TooLong);
        }
        if from > today {
            return Err(PeriodError::InFuture(from));
        }
        Ok(period)
    }

    /// "2027Q1", "2027-Q1", "2027q1".
    pub fn parse_quarter(s: &str) -> Result<Period, PeriodError> {
        let bad = || PeriodError::BadQuarter(s.to_string());
        let t = s.trim().to_ascii_uppercase();
        let (y, q) = t.split_once('Q').ok_or_else(bad)?;
        let year = y
            .trim_end_matches('-')
            .parse::<i32>()
            .ok()
            .filter(|y| YEARS.contains(y))
            .ok_or_else(bad)?;
        let quarter = q
            .parse::<u32>()
            .ok()
            .filter(|q| (1..=4).contains(q))
            .ok_or_else(bad)?;
        Ok(Period::Quarter { year, quarter })
    }

    /// The quarter holding `day`.
    pub fn quarter_of(day: NaiveDate) -> Period {
        Period::Quarter {
            year: day.year(),
            quarter: (day.month() - 1) / 3 + 1,
        }
    }

    /// The reporting year holding `day` (from 1 October).
    pub fn year_of(day: NaiveDate) -> Period {
        Period::Year {
            year: if day.month() >= 10 {
                day.year() + 1
            } else {
                day.year()
            },
        }
    }

    /// The quarter before this one's start.
    pub fn previous_quarter(day: NaiveDate) -> Period {
        let (from, _) = Self::quarter_of(day).bounds();
        Self::quarter_of(from.pred_opt().unwrap_or(from))
    }

    /// The first day and the day after the last.
    pub fn bounds(&self) -> (NaiveDate, NaiveDate) {
        let ymd = |y: i32, m: u32| NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(NaiveDate::MIN);
        match *self {
            Period::Quarter { year, quarter } => {
                let from = ymd(year, (quarter - 1) * 3 + 1);
                let to = if quarter == 4 {
                    ymd(year + 1, 1)
                } else {
                    ymd(year, quarter * 3 + 1)
                };
                (from, to)
            }
            Period::Year { year } => (ymd(year - 1, 10), ymd(year, 10)),
            Period::Days { from, to } => (from, to),
        }
    }

    /// Whether the period has ended by `today` (its last day is before it).
    pub fn ended(&self, today: NaiveDate) -> bool {
        self.bounds().1 <= today
    }

    /// As it is asked for: "2027Q1", "2027" or "2027-01-01..2027-04-01".
    pub fn code(&self) -> String {
        match *self {
            Period::Quarter { year, quarter } => format!("{year}Q{quarter}"),
            Period::Year { year } => year.to_string(),
            Period::Days { from, to } => format!("{from}..{to}"),
        }
    }

    /// In words, in a language ("zh-CN" or "en"), with its days.
    pub fn label(&self, lang: &str) -> String {
        let (from, to) = self.bounds();
        let last = to.pred_opt().unwrap_or(to);
        let zh = lang != "en";
        match (*self, zh) {
            (Period::Quarter { year, quarter }, true) => {
                format!("{year}年第{quarter}季度（{from}至{last}）")
            }
            (Period::Quarter { year, quarter }, false) => {
                format!("{year} Q{quarter} ({from} to {last})")
            }
            (Period::Year { year }, true) => format!("{year}年度（{from}至{last}）"),
            (Period::Year { year }, false) => {
                format!("reporting year {year} ({from} to {last})")
            }
            (Period::Days { .. }, true) => format!("{from}至{last}"),
            (Period::Days { .. }, false) => format!("{from} to {last}"),
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn today() -> NaiveDate {
        d("2027-11-15")
    }

    fn parse(q: &str, y: &str, f: &str, t: &str) -> Result<Period, PeriodError> {
        Period::parse(
            Some(q),
            Some(y),
            Some(f),
            Some(t),
            today(),
            Period::quarter_of,
        )
    }

    #[test]
    fn quarters_and_the_reporting_year_from_1_october() {
        assert_eq!(
            parse("2027Q1", "", "", "").unwrap().bounds(),
            (d("2027-01-01"), d("2027-04-01"))
        );
        assert_eq!(
            parse(" 2026-q4", "", "", "").unwrap().bounds(),
            (d("2026-10-01"), d("2027-01-01"))
        );
        assert_eq!(
            parse("", "2027", "", "").unwrap().bounds(),
            (d("2026-10-01"), d("2027-10-01"))
        );
        assert_eq!(
            Period::year_of(d("2026-10-01")),
            Period::Year { year: 2027 }
        );
        assert_eq!(
            Period::year_of(d("2027-09-30")),
            Period::Year { year: 2027 }
        );
        assert_eq!(
            Period::previous_quarter(d("2027-01-15")),
            Period::Quarter {
                year: 2026,
                quarter: 4
            }
        );
        assert_eq!(
            Period::Quarter {
                year: 2027,
                quarter: 3
            }
            .label("zh-CN"),
            "2027年第3季度（2027-07-01至2027-09-30）"
        );
    }

    #[test]
    fn empty_fields_are_not_given() {
        assert_eq!(
            Period::parse(
                Some(""),
                Some(""),
                Some(""),
                Some(""),
                today(),
                Period::quarter_of
            )
            .unwrap(),
            Period::Quarter {
                year: 2027,
                quarter: 4
            }
        );
    }

    #[test]
    fn bad_periods_are_refused_with_what_was_typed() {
        for (q, y, f, t, want) in [
            ("2027Q5", "", "", "", "2027Q5"),
            ("2027Q0", "", "", "", "2027Q0"),
            ("Q1", "", "", "", "Q1"),
            ("", "27", "", "", "27"),
            ("", "20271", "", "", "20271"),
            ("", "", "2027-02-30", "", "2027-02-30"),
            ("", "", "2027-05-01", "2027-04-01", "2027-04-01"),
            ("", "", "2027-05-01", "2027-05-01", "2027-05-01"),
        ] {
            let e = parse(q, y, f, t).unwrap_err().to_string();
            assert!(e.contains(want), "{q}|{y}|{f}|{t}: {e}");
        }
        assert_eq!(
            parse("2028Q1", "", "", ""),
            Err(PeriodError::InFuture(d("2028-01-01")))
        );
        assert_eq!(
            parse("2027Q1", "2027", "", ""),
            Err(PeriodError::Conflicting)
        );
        assert_eq!(
            parse("", "", "2020-01-01", "2027-01-01"),
            Err(PeriodError::TooLong)
        );
    }
}
