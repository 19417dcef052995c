//! Risk-based care (孕产妇妊娠风险评估与管理工作规范, 2017): grading a
//! pregnancy (and re-grading it whenever her condition changes, up to 42
//! days after the birth), naming the case manager of a woman graded
//! orange, red or purple, the delivery hospital of the level her grade
//! asks, referrals to a higher level and their follow-up. Every change
//! is her care team's, checked like any other, and audited; reading a
//! high-risk woman's grade history is audited like her full number.
//!
//! The grade never reaches a text to her: the message context has no such
//! variable, and a template that tries one is refused when saved
//! (`render::Renderer::validate`).

use super::access::Access;
use super::AppError;
use crate::clock::Clock;
use crate::config::Config;
use crate::domain::dates::parse_date;
use crate::domain::risk::Grade;
use crate::domain::{PregnancyStatus, Role};
use crate::store::{AssessmentRow, NewAssessment, PregnancyRow, ReferralRow, RiskState, Store};
use chrono::{Duration, NaiveDate};
use std::sync::Arc;

/// Days after the birth a woman is still graded (the standard follows her
/// to the 42-day check).
pub const POSTPARTUM_DAYS: i64 = 42;

/// A grade as given (a form, the API, a register's column, a staff text).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct GradeInput {
    /// Colour words: `red`, `红`, `黄色 紫`, `purple`...
    pub grade: String,
    /// Infections that make her purple: `hepatitis_b`, `梅毒`...
    #[serde(default)]
    pub infections: Vec<String>,
    /// The day of the assessment (default today).
    #[serde(default)]
    pub on: Option<String>,
    /// Why, for her care team only.
    #[serde(default)]
    pub reasons: Option<String>,
}

#[derive(Clone)]
pub struct Risk {
    pub(crate) store: Store,
    pub(crate) clock: Clock,
    pub(crate) config: Arc<Config>,
    pub(crate) access: Access,
}

impl Risk {
    fn today(&self) -> NaiveDate {
        crate::domain::schedule::local_date(self.config.timezone, self.clock.now())
    }

    /// Her current pregnancy (delivered ones count up to 42 days after the
    /// birth), if `by` looks after her.
    async fn her_pregnancy(&self, woman_id: i64, by: &str) -> Result<PregnancyRow, AppError> {
        let w = self.store.woman(woman_id).await?;
        self.access.check_care_team(by, &w).await?;
        let pid = self
            .store
            .current_pregnancy(woman_id)
            .await?
            .ok_or_else(|| {
                AppError::Refused(format!("woman {woman_id} has no current pregnancy"))
            })?;
        Ok(self.store.pregnancy(pid).await?)
    }

    /// Grades her current pregnancy (or re-grades it): `source` says how
    /// it came (console, cli, api, import, sms).
    pub async fn grade(
        &self,
        woman_id: i64,
        input: &GradeInput,
        source: &str,
        by: &str,
    ) -> Result<RiskState, AppError> {
        let grade = Grade::parse(&input.grade)
            .and_then(|g| {
                let words: Vec<&str> = input.infections.iter().map(String::as_str).collect();
                g.with_infections(&words)
            })
            .map_err(|e| AppError::Refused(e.to_string()))?;
        if let Some(r) = &input.reasons {
            if r.chars().count() > 500 {
                return Err(AppError::Refused("reasons: at most 500 characters".into()));
            }
        }
        let today = self.today();
        let on = match input.on.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => today,
            Some(d) => parse_date(d)
                .ok_or_else(|| AppError::Refused(format!("on: {d:?} is not a date")))?,
        };
        if on > today {
            return Err(AppError::Refused(format!("on: {on} is in the future")));
        }
        let p = self.her_pregnancy(woman_id, by).await?;
        if on < p.lmp {
            return Err(AppError::Refused(format!(
                "on: {on} is before this pregnancy began ({}, her last period)",
                p.lmp
            )));
        }
        let delivered = self.store.delivered_on(p.id).await?;
        let postpartum = delivered.is_some_and(|d| on >= d);
        if let Some(d) = delivered {
            if on > d + Duration::days(POSTPARTUM_DAYS) {
                return Err(AppError::Refused(format!(
                    "on: {on} is more than {POSTPARTUM_DAYS} days after the birth ({d}): grading ends at the 42-day check"
                )));
            }
        } else if p.status != PregnancyStatus::Active && p.status != PregnancyStatus::Stale {
            return Err(AppError::Refused("this pregnancy has ended".into()));
        }
        let now = self.clock.now();
        let state = self
            .store
            .record_assessment(
                p.id,
                &NewAssessment {
                    assessed_on: on,
                    grade: grade.clone(),
                    reasons: input
                        .reasons
                        .as_deref()
                        .map(str::trim)
                        .filter(|r| !r.is_empty())
                        .map(str::to_string),
                    postpartum,
                    source: source.to_string(),
                    recorded_by: by.to_string(),
                },
                now,
            )
            .await?;
        self.store
            .audit(
                now,
                by,
                "risk_graded",
                &format!("pregnancy:{}", p.id),
                &format!("{} on {on} via {source}", describe_codes(&grade)),
            )
            .await?;
        tracing::info!(woman_id, pregnancy_id = p.id, "risk graded");
        Ok(state)
    }

    /// Her grade as it stands (for her care team).
    pub async fn state(&self, woman_id: i64, by: &str) -> Result<RiskState, AppError> {
        let p = self.her_pregnancy(woman_id, by).await?;
        Ok(self.store.risk_state(p.id).await?)
    }

    /// Every assessment of her current pregnancy. Reading a high-risk
    /// woman's is audited, like her full number.
    pub async fn history(&self, woman_id: i64, by: &str) -> Result<Vec<AssessmentRow>, AppError> {
        let p = self.her_pregnancy(woman_id, by).await?;
        let state = self.store.risk_state(p.id).await?;
        let rows = self.store.risk_history(p.id).await?;
        if state.ever_high_risk {
            self.store
                .audit(
                    self.clock.now(),
                    by,
                    "risk_viewed",
                    &format!("woman:{woman_id}"),
                    "",
                )
                .await?;
        }
        Ok(rows)
    }

    /// Names the case manager of a woman whose grade asks for one: a
    /// county administrator, or a supervisor of her township, as
    /// `[risk]` says for her colour.
    pub async fn assign_case_manager(
        &self,
        woman_id: i64,
        code: &str,
        by: &str,
    ) -> Result<(), AppError> {
        let p = self.her_pregnancy(woman_id, by).await?;
        let state = self.store.risk_state(p.id).await?;
        let Some(level) = self.config.risk.manager_level(&state.grade) else {
            return Err(AppError::Refused(format!(
                "case manager: her grade ({}) asks for none",
                state.grade.describe("en")
            )));
        };
        let code = code.trim();
        let manager = self.store.staff_by_code(code).await?.ok_or_else(|| {
            AppError::Refused(format!(
                "case manager: no staff member of this county has the code {code:?}"
            ))
        })?;
        let w = self.store.woman(woman_id).await?;
        let her_township = match &w.officer_code {
            Some(o) => self.store.staff_by_code(o).await?.and_then(|s| s.township),
            None => None,
        };
        let fits = match level {
            "county" => manager.role == Role::Admin,
            _ => {
                manager.role == Role::Admin
                    || (manager.role == Role::Supervisor
                        && manager.township.is_some()
                        && manager.township == her_township)
            }
        };
        if !fits {
            return Err(AppError::Refused(format!(
                "case manager: {code} is not {}",
                if level == "county" {
                    "a county administrator, as her grade asks".to_string()
                } else {
                    format!(
                        "a supervisor of her township ({})",
                        her_township.unwrap_or_else(|| "-".into())
                    )
                }
            )));
        }
        let now = self.clock.now();
        self.store.set_case_manager(p.id, code, now).await?;
        self.store
            .audit(
                now,
                by,
                "case_manager_assigned",
                &format!("pregnancy:{}", p.id),
                code,
            )
            .await?;
        Ok(())
    }

    /// Records the hospital she will deliver at; a woman graded yellow or
    /// above names one of the level her grade asks (from `[risk.hospitals]`).
    pub async fn choose_delivery_hospital(
        &self,
        woman_id: i64,
        hospital: &str,
        by: &str,
    ) -> Result<(), AppError> {
        let hospital = hospital.trim();
        if hospital.is_empty() || hospital.chars().count() > 60 {
            return Err(AppError::Refused(
                "hospital: give its name (at most 60 characters)".into(),
            ));
        }
        let p = self.her_pregnancy(woman_id, by).await?;
        let state = self.store.risk_state(p.id).await?;
        let need = self.config.risk.delivery_level(&state.grade);
        let hospitals = &self.config.risk.hospitals;
        if need > 0 && !hospitals.is_empty() {
            match hospitals.get(hospital) {
                Some(level) if *level >= need => {}
                _ => {
                    let fit: Vec<&str> = hospitals
                        .iter()
                        .filter(|(_, l)| **l >= need)
                        .map(|(h, _)| h.as_str())
                        .collect();
                    return Err(AppError::Refused(format!(
                        "hospital: her grade asks for a level-{need} hospital or higher: {}",
                        if fit.is_empty() {
                            "none is configured".to_string()
                        } else {
                            fit.join(", ")
                        }
                    )));
                }
            }
        }
        let now = self.clock.now();
        self.store
            .set_delivery_hospital(p.id, hospital, now)
            .await?;
        self.store
            .audit(
                now,
                by,
                "delivery_hospital",
                &format!("pregnancy:{}", p.id),
                hospital,
            )
            .await?;
        Ok(())
    }

    /// Records a referral to a higher-level facility: its result is to be
    /// followed up within `[risk] referral_follow_up_days`.
    pub async fn refer(
        &self,
        woman_id: i64,
        to: &str,
        on: Option<&str>,
        reason: Option<&str>,
        by: &str,
    ) -> Result<i64, AppError> {
        let to = to.trim();
        if to.is_empty() || to.chars().count() > 60 {
            return Err(AppError::Refused(
                "to: the facility's name (at most 60 characters)".into(),
            ));
        }
        let today = self.today();
        let on = match on.map(str::trim).filter(|s| !s.is_empty()) {
            None => today,
            Some(d) => parse_date(d)
                .ok_or_else(|| AppError::Refused(format!("on: {d:?} is not a date")))?,
        };
        if on > today {
            return Err(AppError::Refused(format!("on: {on} is in the future")));
        }
        let p = self.her_pregnancy(woman_id, by).await?;
        if on < p.lmp {
            return Err(AppError::Refused(format!(
                "on: {on} is before this pregnancy began ({})",
                p.lmp
            )));
        }
        let now = self.clock.now();
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        let id = self
            .store
            .add_referral(p.id, on, to, reason, by, now)
            .await?;
        self.store
            .audit(now, by, "referred", &format!("referral:{id}"), to)
            .await?;
        Ok(id)
    }

    /// Records what a referral came to.
    pub async fn follow_up(
        &self,
        referral_id: i64,
        result: &str,
        on: Option<&str>,
        by: &str,
    ) -> Result<ReferralRow, AppError> {
        let r = self.store.referral(referral_id).await?;
        let p = self.store.pregnancy(r.pregnancy_id).await?;
        let w = self.store.woman(p.woman_id).await?;
        match self.access.check_care_team(by, &w).await {
            Err(AppError::Store(crate::store::StoreError::NotFound(_))) => {
                return Err(
                    crate::store::StoreError::NotFound(format!("referral {referral_id}")).into(),
                )
            }
            other => other?,
        }
        let result = result.trim();
        if result.is_empty() || result.chars().count() > 500 {
            return Err(AppError::Refused(
                "result: what the referral came to (at most 500 characters)".into(),
            ));
        }
        let today = self.today();
        let on = match on.map(str::trim).filter(|s| !s.is_empty()) {
            None => today,
            Some(d) => parse_date(d)
                .ok_or_else(|| AppError::Refused(format!("on: {d:?} is not a date")))?,
        };
        if on > today || on < r.referred_on {
            return Err(AppError::Refused(format!(
                "on: {on} is not between the referral ({}) and today",
                r.referred_on
            )));
        }
        self.store
            .follow_up_referral(referral_id, on, result, by)
            .await?
            .ok_or_else(|| AppError::Refused("that referral is followed up already".into()))?;
        self.store
            .audit(
                self.clock.now(),
                by,
                "referral_followed_up",
                &format!("referral:{referral_id}"),
                &format!("on {on}"),
            )
            .await?;
        Ok(self.store.referral(referral_id).await?)
    }

    /// Her referrals (her care team only).
    pub async fn referrals(&self, woman_id: i64, by: &str) -> Result<Vec<ReferralRow>, AppError> {
        let p = self.her_pregnancy(woman_id, by).await?;
        Ok(self.store.referrals_of(p.id).await?)
    }
}

/// A grade in codes, for the audit log (`red+purple(hepatitis_b)`).
pub(crate) fn describe_codes(g: &Grade) -> String {
    let mut parts: Vec<String> = g
        .colour
        .map(|c| c.as_str().to_string())
        .into_iter()
        .collect();
    if g.purple {
        parts.push(match g.infections_str() {
            Some(i) => format!("purple({i})"),
            None => "purple".into(),
        });
    }
    parts.join("+")
}
