//! The referral summary a county sends with a woman who moves to another
//! county (流出地 to 流入地): what the receiving county needs to continue her
//! care: who she is and how to reach her, her consent, her dating (LMP,
//! EDD), the visits done with their dates, her birth if any, and her risk
//! grade only where the sending county permits it. Never a message text.
//!
//! `{"format": "careminder-transfer", "version": 1, ...}`: a summary of
//! another format or version is refused by name, before anything is read.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub const FORMAT: &str = "careminder-transfer";
pub const VERSION: i64 = 1;

/// A referral summary, version 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferSummary {
    pub format: String,
    pub version: i64,
    /// Unique per woman and move: a summary imported twice registers her once.
    pub transfer_id: String,
    /// The sending county.
    pub from_county: String,
    /// Where she went, as the sending county was told.
    pub destination: String,
    pub moved_on: NaiveDate,
    pub woman: TransferWoman,
    pub consent: TransferConsent,
    pub pregnancy: TransferPregnancy,
    /// Visits done, oldest first.
    pub visits_done: Vec<TransferVisit>,
    pub birth: Option<TransferBirth>,
    /// Her latest risk colour, only where permitted (`sharing.include_risk_grade`).
    #[serde(default)]
    pub risk_grade: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferWoman {
    pub name: String,
    /// E.164.
    pub phone: String,
    pub language: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferConsent {
    /// She agreed to receive reminders, and has not opted out since.
    pub given: bool,
    /// The day she agreed.
    pub on: Option<NaiveDate>,
    /// How she agreed: roster, api, cli, console.
    pub source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferPregnancy {
    pub care_plan: String,
    pub lmp: NaiveDate,
    pub edd: NaiveDate,
    pub registered_on: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferVisit {
    /// The contact's key in her care plan (anc1, anc2, pnc-42d...).
    pub contact: String,
    pub label_zh: String,
    pub label_en: String,
    pub on: NaiveDate,
    pub place: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferBirth {
    pub on: NaiveDate,
    pub live_birth: bool,
    pub live_born: i64,
    pub place: Option<String>,
    pub discharged_on: Option<NaiveDate>,
}

/// Why a summary is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    #[error("the summary is empty")]
    Empty,
    #[error("not a careminder referral summary (format {0:?}, expected \"careminder-transfer\")")]
    Format(String),
    #[error("summary version {0} is not one this careminder reads (it reads version 1)")]
    Version(String),
    #[error("the summary is not complete JSON (truncated or damaged): {0}")]
    Json(String),
    #[error("the summary does not hold what version 1 holds: {0}")]
    Shape(String),
    #[error("{0}")]
    Facts(String),
}

/// Reads a summary: the format and version first (a summary of another
/// version is refused by its number), then the whole of version 1, then
/// its facts (dates in order, visits not in the future of `today`).
pub fn parse(bytes: &[u8], today: NaiveDate) -> Result<TransferSummary, TransferError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| TransferError::Json(format!("not UTF-8: {e}")))?
        .trim_start_matches('\u{feff}')
        .trim();
    if text.is_empty() {
        return Err(TransferError::Empty);
    }
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| TransferError::Json(e.to_string()))?;
    let format = v.get("format").and_then(|f| f.as_str()).unwrap_or_default();
    if format != FORMAT {
        return Err(TransferError::Format(format.to_string()));
    }
    match v.get("version") {
        Some(n) if n.as_i64() == Some(VERSION) => {}
        Some(n) => return Err(TransferError::Version(n.to_string())),
        None => return Err(TransferError::Version("(none)".into())),
    }
    let s: TransferSummary =
        serde_json::from_value(v).map_err(|e| TransferError::Shape(e.to_string()))?;
    let facts = |m: String| Err(TransferError::Facts(m));
    if s.transfer_id.trim().is_empty() || s.transfer_id.len() > 200 {
        return facts("transfer_id: empty or longer than 200 characters".into());
    }
    if s.pregnancy.edd < s.pregnancy.lmp {
        return facts(format!(
            "pregnancy: EDD {} is before LMP {}",
            s.pregnancy.edd, s.pregnancy.lmp
        ));
    }
    for v in &s.visits_done {
        if v.on > today {
            return facts(format!("visit {}: {} is in the future", v.contact, v.on));
        }
        if v.on < s.pregnancy.lmp {
            return facts(format!("visit {}: {} is before her LMP", v.contact, v.on));
        }
    }
    if let Some(b) = &s.birth {
        if b.on > today {
            return facts(format!("birth: {} is in the future", b.on));
        }
        if b.on < s.pregnancy.lmp {
            return facts(format!("birth: {} is before her LMP", b.on));
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TransferSummary {
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        TransferSummary {
            format: FORMAT.into(),
            version: VERSION,
            transfer_id: "x-1".into(),
            from_county: "A县".into(),
            destination: "B县".into(),
            moved_on: d("2027-01-10"),
            woman: TransferWoman {
                name: "王秀英".into(),
                phone: "+8613812345601".into(),
                language: "zh-CN".into(),
            },
            consent: TransferConsent {
                given: true,
                on: Some(d("2026-12-01")),
                source: Some("api".into()),
            },
            pregnancy: TransferPregnancy {
                care_plan: "china-bphs-2017".into(),
                lmp: d("2026-09-22"),
                edd: d("2027-06-29"),
                registered_on: d("2026-12-01"),
            },
            visits_done: vec![],
            birth: None,
            risk_grade: None,
        }
    }

    #[test]
    fn a_summary_reads_back_as_written() {
        let today = NaiveDate::from_ymd_opt(2027, 1, 10).unwrap();
        let bytes = serde_json::to_vec(&sample()).unwrap();
        assert_eq!(parse(&bytes, today).unwrap(), sample());
    }

    #[test]
    fn unknown_versions_truncations_and_other_formats_are_refused_by_name() {
        let today = NaiveDate::from_ymd_opt(2027, 1, 10).unwrap();
        let mut v = serde_json::to_value(sample()).unwrap();
        v["version"] = 2.into();
        let e = parse(&serde_json::to_vec(&v).unwrap(), today).unwrap_err();
        assert_eq!(e, TransferError::Version("2".into()));
        let full = serde_json::to_vec(&sample()).unwrap();
        assert!(matches!(
            parse(&full[..full.len() / 2], today),
            Err(TransferError::Json(_))
        ));
        assert_eq!(parse(b"  ", today), Err(TransferError::Empty));
        assert!(matches!(
            parse(br#"{"format":"other","version":1}"#, today),
            Err(TransferError::Format(_))
        ));
    }
}
