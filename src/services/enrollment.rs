//! Registration: raw input (a CSV row, an API body, command-line flags)
//! checked into a [`NewEnrollment`], with a clear reason when it is refused.

use crate::config::Config;
use crate::domain::dates::{parse_date, DateError};
use crate::domain::phone::PhoneError;
use crate::domain::{CarePlan, Phone, PregnancyDates};
use crate::store::{Consent, NewEnrollment};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use std::collections::HashMap;

/// A registration as given, before any check.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
pub struct EnrollmentInput {
    pub name: String,
    pub phone: String,
    #[serde(default)]
    pub lmp: Option<String>,
    #[serde(default)]
    pub edd: Option<String>,
    #[serde(default)]
    pub village: Option<String>,
    #[serde(default)]
    pub officer: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub wechat_openid: Option<String>,
    /// "yes"/"no" and their Chinese forms; absent means no consent.
    #[serde(default)]
    pub consent: Option<String>,
    #[serde(default)]
    pub care_plan: Option<String>,
    /// Her resident ID card number (居民身份证号), optional; checked by its
    /// check digit (GB 11643-1999).
    #[serde(default)]
    pub id_card: Option<String>,
    /// The day this pregnancy ended in a birth, for a registration that
    /// comes with it (a referral summary): her dates must describe a
    /// pregnancy on that day, not today. A woman late in her 42 days
    /// after the birth is well past 44 weeks since her last period. Never
    /// read from a request.
    #[serde(skip)]
    pub delivered_on: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("name is empty")]
    NoName,
    #[error("name: {0}")]
    BadName(&'static str),
    #[error("phone: {0}")]
    Phone(#[from] PhoneError),
    #[error("{field}: not a date: {value:?}")]
    BadDate { field: &'static str, value: String },
    #[error("dates: {0}")]
    Dates(#[from] DateError),
    #[error("language: {0:?} is not one of zh-CN, en")]
    Language(String),
    #[error("care plan: unknown plan {0:?}")]
    Plan(String),
    #[error("consent: {0:?} is neither yes nor no")]
    Consent(String),
    #[error("wechat_openid: {0:?} does not look like an openid")]
    OpenId(String),
    #[error("id_card: {0}")]
    IdCard(#[from] crate::domain::id_card::IdCardError),
}

/// Reads a consent cell: `Some(true)` yes, `Some(false)` no.
pub fn parse_consent(s: &str) -> Option<bool> {
    match s.trim().to_lowercase().as_str() {
        "yes" | "y" | "true" | "1" | "是" | "同意" | "已同意" => Some(true),
        "no" | "n" | "false" | "0" | "否" | "不同意" | "未同意" | "" => Some(false),
        _ => None,
    }
}

/// The longest name taken: a person's name, not a paragraph.
pub const MAX_NAME_CHARS: usize = 50;

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn date_field(field: &'static str, s: &Option<String>) -> Result<Option<NaiveDate>, InputError> {
    match non_empty(s) {
        None => Ok(None),
        Some(v) => parse_date(v).map(Some).ok_or(InputError::BadDate {
            field,
            value: v.to_string(),
        }),
    }
}

/// Checks one registration as of `now`. `source` and `actor` are recorded
/// with the consent.
pub fn validate(
    input: &EnrollmentInput,
    config: &Config,
    plans: &HashMap<String, CarePlan>,
    now: DateTime<Utc>,
    source: &str,
    actor: &str,
) -> Result<NewEnrollment, InputError> {
    let name = input.name.trim();
    if name.is_empty() {
        return Err(InputError::NoName);
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(InputError::BadName("longer than 50 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(InputError::BadName(
            "holds a line break or another control character",
        ));
    }
    let phone = Phone::parse_mobile(&input.phone, config.region())?;
    let dates = PregnancyDates::parse(
        date_field("lmp", &input.lmp)?,
        date_field("edd", &input.edd)?,
    )?;
    let today = crate::domain::schedule::local_date(config.timezone, now);
    dates.check_registration(input.delivered_on.map_or(today, |d| d.min(today)))?;
    let language = match non_empty(&input.language) {
        None => config.default_language,
        Some(l) => crate::domain::Language::from_written(l)
            .ok_or_else(|| InputError::Language(l.to_string()))?,
    };
    let plan_key = non_empty(&input.care_plan).unwrap_or(&config.care_plan);
    let plan = plans
        .get(plan_key)
        .ok_or_else(|| InputError::Plan(plan_key.to_string()))?;
    let consent_raw = input.consent.as_deref().unwrap_or("");
    let consent =
        parse_consent(consent_raw).ok_or_else(|| InputError::Consent(consent_raw.to_string()))?;
    let openid = non_empty(&input.wechat_openid).map(str::to_string);
    if let Some(o) = &openid {
        if o.len() < 6
            || o.len() > 64
            || !o
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(InputError::OpenId(o.clone()));
        }
    }
    let id_card = non_empty(&input.id_card)
        .map(crate::domain::IdCard::parse)
        .transpose()?
        .map(|c| c.as_str().to_string());
    Ok(NewEnrollment {
        id_card,
        name: name.to_string(),
        phone,
        wechat_openid: openid,
        language,
        village: non_empty(&input.village).map(str::to_string),
        officer_code: non_empty(&input.officer).map(str::to_string),
        consent: consent.then(|| Consent {
            at: now,
            source: source.to_string(),
            by: actor.to_string(),
        }),
        visits: crate::domain::careplan::merged(
            plan.prenatal_visits(&dates, today),
            config.home_visits.prenatal(today, dates.edd),
        ),
        dates,
        care_plan: plan.key.clone(),
        registered_on: today,
    })
}
