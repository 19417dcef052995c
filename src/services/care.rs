//! A woman's care: registration (one at a time or a roster's batch),
//! date corrections, visits done or missed, births, a pregnancy's end,
//! and the data-protection requests (export, erase). Each change plans
//! what it makes due at once, wakes the scheduler, and leaves an audit entry.

use super::access::Access;
use super::enrollment::{validate, EnrollmentInput, InputError};
use super::planner::Planner;
use super::{AppError, Waker};
use crate::clock::Clock;
use crate::config::Config;
use crate::domain::dates::parse_date;
use crate::domain::Role;
use crate::domain::{CarePlan, MessageKind, PregnancyDates};
use crate::render::SystemTexts;
use crate::store::{Area, EnrollOutcome, NewEnrollment, StaffRow, Store, StoreError};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Clone)]
pub struct Care {
    pub(crate) store: Store,
    pub(crate) clock: Clock,
    pub(crate) config: Arc<Config>,
    pub(crate) planner: Planner,
    pub(crate) access: Access,
    pub(crate) texts: Arc<SystemTexts>,
    pub(crate) wake: Waker,
}

impl Care {
    /// The check-up a record or a "missed" mark is about: the one named by
    /// its contact key, or else the one whose window is open today.
    async fn pending_visit(
        &self,
        woman_id: i64,
        contact: Option<&str>,
        today: chrono::NaiveDate,
    ) -> Result<Option<i64>, AppError> {
        Ok(match contact {
            Some(key) => self.store.pending_visit_by_key(woman_id, key).await?,
            None => self
                .store
                .current_visit(woman_id, today, false)
                .await?
                .map(|v| v.0),
        })
    }

    pub async fn plans(&self) -> Result<HashMap<String, CarePlan>, AppError> {
        Ok(self
            .store
            .plans()
            .await?
            .into_iter()
            .map(|(p, _)| (p.key.clone(), p))
            .collect())
    }

    /// Registers one woman and her pregnancy from raw input.
    pub async fn enroll(
        &self,
        input: &EnrollmentInput,
        source: &str,
        actor: &str,
    ) -> Result<EnrollOutcome, AppError> {
        let plans = self.plans().await?;
        let e = validate(input, &self.config, &plans, self.clock.now(), source, actor)?;
        let out = self.enroll_many(&[e]).await?[0];
        let action = match out {
            EnrollOutcome::Created { .. } => "register",
            EnrollOutcome::DatesDiffer { .. } => "register_corrected",
            EnrollOutcome::Unchanged { .. } => "register_unchanged",
        };
        self.store
            .audit(
                self.clock.now(),
                actor,
                action,
                &format!("woman:{}", out.woman_id()),
                source,
            )
            .await?;
        Ok(out)
    }

    /// Registers a woman for a member of staff, by the care-team rules: an
    /// officer registers women for herself (her village when none is
    /// given); a supervisor, for an officer of her township; someone
    /// another care team registered is theirs to change.
    pub async fn register_by(
        &self,
        staff: &StaffRow,
        mut input: EnrollmentInput,
        source: &str,
    ) -> Result<EnrollOutcome, AppError> {
        let area = Area::of(staff);
        if matches!(area, Area::Nobody) {
            return Err(AppError::Forbidden("your account has no area".into()));
        }
        for v in [
            &mut input.lmp,
            &mut input.edd,
            &mut input.village,
            &mut input.officer,
            &mut input.wechat_openid,
            &mut input.language,
            &mut input.care_plan,
        ] {
            if v.as_deref().is_some_and(|x| x.trim().is_empty()) {
                *v = None;
            }
        }
        match staff.role {
            Role::Officer => {
                input.officer = Some(staff.code.clone());
                input.village = input.village.or(staff.village.clone());
            }
            Role::Supervisor => {
                let officer = match input.officer.as_deref().map(str::trim) {
                    Some(o) => self.store.staff_by_code(o).await?,
                    None => None,
                };
                let Some(officer) =
                    officer.filter(|o| o.role == Role::Officer && o.township == staff.township)
                else {
                    return Err(AppError::Refused(
                        "officer: give the code of an officer of your township".into(),
                    ));
                };
                input.village = input.village.or(officer.village);
            }
            // The county's: any officer, but one who exists (a woman with
            // an unknown officer would be on nobody's worklist).
            Role::Admin => {
                if let Some(code) = input.officer.as_deref().map(str::trim) {
                    let Some(officer) = self
                        .store
                        .staff_by_code(code)
                        .await?
                        .filter(|o| o.role == Role::Officer)
                    else {
                        return Err(AppError::Refused(format!(
                            "officer: no officer has the code {code:?}"
                        )));
                    };
                    input.village = input.village.or(officer.village);
                }
            }
        }
        if let Ok(phone) = crate::domain::Phone::parse(&input.phone, self.config.region()) {
            if let Some(existing) = self
                .store
                .woman_by_phone_and_name(phone.as_str(), input.name.trim())
                .await?
            {
                if !self.store.woman_in_area(&area, existing).await? {
                    return Err(AppError::Refused(
                        "she is registered with another care team: ask her officer".into(),
                    ));
                }
            }
        }
        self.enroll(&input, source, &staff.code).await
    }

    /// Registers validated enrollments; re-registration with other dates
    /// corrects them. Plans the part of the horizon already swept.
    pub async fn enroll_many(
        &self,
        rows: &[NewEnrollment],
    ) -> Result<Vec<EnrollOutcome>, AppError> {
        let now = self.clock.now();
        let outcomes = self.store.enroll_batch(rows, now).await?;
        let mut replan = vec![];
        for (row, o) in rows.iter().zip(&outcomes) {
            match o {
                EnrollOutcome::Created { pregnancy_id, .. } => replan.push(*pregnancy_id),
                EnrollOutcome::DatesDiffer { pregnancy_id, .. } => {
                    self.apply_correction(*pregnancy_id, row.dates, now).await?;
                    replan.push(*pregnancy_id);
                }
                EnrollOutcome::Unchanged { .. } => {}
            }
        }
        self.planner.plan_pregnancies(&replan, now).await?;
        self.wake.wake();
        Ok(outcomes)
    }

    async fn apply_correction(
        &self,
        pregnancy_id: i64,
        dates: PregnancyDates,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let p = self.store.pregnancy(pregnancy_id).await?;
        let plan = self.store.plan(&p.care_plan).await?;
        let visits = crate::domain::careplan::merged(
            plan.prenatal_visits(&dates, p.registered_on),
            self.config.home_visits.prenatal(p.registered_on, dates.edd),
        );
        self.store
            .correct_dates(pregnancy_id, &dates, &visits, now)
            .await?;
        Ok(())
    }

    /// Replaces a pregnancy's LMP/EDD (for example after a dating scan) and
    /// re-plans every visit not done and every message not sent.
    pub async fn correct_dates(
        &self,
        pregnancy_id: i64,
        lmp: Option<&str>,
        edd: Option<&str>,
        actor: &str,
    ) -> Result<PregnancyDates, AppError> {
        let parse =
            |field: &'static str, v: Option<&str>| -> Result<Option<NaiveDate>, InputError> {
                v.map(|s| {
                    parse_date(s).ok_or(InputError::BadDate {
                        field,
                        value: s.to_string(),
                    })
                })
                .transpose()
            };
        let dates = PregnancyDates::parse(parse("lmp", lmp)?, parse("edd", edd)?)
            .map_err(InputError::from)?;
        let now = self.clock.now();
        // A corrected date may make her younger or older, but must stay a pregnancy.
        let today = crate::domain::schedule::local_date(self.config.timezone, now);
        if dates.lmp > today {
            return Err(
                InputError::from(crate::domain::dates::DateError::LmpInFuture(dates.lmp)).into(),
            );
        }
        self.apply_correction(pregnancy_id, dates, now).await?;
        self.planner.plan_pregnancies(&[pregnancy_id], now).await?;
        self.store
            .audit(
                now,
                actor,
                "correct_dates",
                &format!("pregnancy:{pregnancy_id}"),
                &format!("lmp {}", dates.lmp),
            )
            .await?;
        self.wake.wake();
        Ok(dates)
    }

    /// Ends a pregnancy without a birth: every pending message is cancelled
    /// at once, and her officer is told privately.
    pub async fn end_pregnancy(&self, pregnancy_id: i64, actor: &str) -> Result<u64, AppError> {
        let now = self.clock.now();
        let today = crate::domain::schedule::local_date(self.config.timezone, now);
        let n = self.store.end_pregnancy(pregnancy_id, today, now).await?;
        let p = self.store.pregnancy(pregnancy_id).await?;
        let w = self.store.woman(p.woman_id).await?;
        if let Some(officer) = match &w.officer_code {
            Some(c) => self.store.staff_by_code(c).await?,
            None => None,
        } {
            let body = self.texts.render(
                "pregnancy-ended",
                officer.language,
                &serde_json::json!({"name": w.name, "code": w.id.to_string()}),
            );
            self.store
                .enqueue_direct(
                    &crate::store::DirectMessage {
                        dedupe_key: format!("ended:{pregnancy_id}"),
                        kind: MessageKind::Alert,
                        woman_id: None,
                        staff_id: Some(officer.id),
                        to_addr: None,
                        body,
                        in_reply_to: None,
                        send_at: now,
                        expires_at: now + Duration::hours(48),
                    },
                    now,
                )
                .await?;
        }
        self.store
            .audit(
                now,
                actor,
                "end_pregnancy",
                &format!("pregnancy:{pregnancy_id}"),
                &format!("{n} messages cancelled"),
            )
            .await?;
        Ok(n)
    }

    /// Records a visit done (from the command line or the API): it silences
    /// the visit's pending reminders. `by` must look after her.
    pub async fn record_visit(
        &self,
        woman_id: i64,
        contact: Option<&str>,
        on: Option<&str>,
        by: &str,
        place: Option<&str>,
        note: Option<&str>,
    ) -> Result<u64, AppError> {
        if note.is_some_and(|n| n.chars().count() > 500) {
            return Err(AppError::Refused("note: at most 500 characters".into()));
        }
        let now = self.clock.now();
        let today = crate::domain::schedule::local_date(self.config.timezone, now);
        let w = self.store.woman(woman_id).await?;
        self.access.check_care_team(by, &w).await?;
        let on = match on {
            Some(d) => parse_date(d).ok_or(InputError::BadDate {
                field: "on",
                value: d.to_string(),
            })?,
            None => today,
        };
        if on > today {
            return Err(AppError::Refused(format!("{on} is in the future")));
        }
        let visit_id = self
            .pending_visit(woman_id, contact, today)
            .await?
            .ok_or_else(|| AppError::Refused("no pending check-up to record".into()))?;
        self.check_visit_date(woman_id, visit_id, on).await?;
        let n = self
            .store
            .record_visit(visit_id, on, by, place, note, now)
            .await?
            .ok_or_else(|| AppError::Refused("that check-up is recorded already".into()))?;
        self.store
            .audit(
                now,
                by,
                "visit_done",
                &format!("visit:{visit_id}"),
                &format!("on {on}"),
            )
            .await?;
        Ok(n)
    }

    /// A visit is done within its pregnancy: not before her last period,
    /// and a visit after the birth (postpartum, newborn) not before it.
    async fn check_visit_date(
        &self,
        woman_id: i64,
        visit_id: i64,
        on: chrono::NaiveDate,
    ) -> Result<(), AppError> {
        for p in self.store.pregnancies_of(woman_id).await? {
            let records = self.store.visit_records(p.id).await?;
            let Some(v) = records.iter().find(|v| v.id == visit_id) else {
                continue;
            };
            if let Some(lmp) = parse_date(&p.lmp) {
                if on < lmp {
                    return Err(AppError::Refused(format!(
                        "on: {on} is before this pregnancy began ({lmp}, her last period)"
                    )));
                }
            }
            if let Some(birth) = p.delivered_on.as_deref().and_then(parse_date) {
                if v.window_start >= birth && on < birth {
                    return Err(AppError::Refused(format!(
                        "on: {on} is before the birth ({birth}), and this visit comes after it"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Records a birth: the prenatal schedule ends, its pending messages are
    /// cancelled, and the postpartum (and, after a live birth, newborn)
    /// contacts are planned with their reminders.
    pub async fn record_birth(
        &self,
        woman_id: i64,
        on: &str,
        place: Option<&str>,
        live_birth: bool,
        actor: &str,
    ) -> Result<u64, AppError> {
        let now = self.clock.now();
        let today = crate::domain::schedule::local_date(self.config.timezone, now);
        let on = parse_date(on).ok_or(InputError::BadDate {
            field: "on",
            value: on.to_string(),
        })?;
        if on > today {
            return Err(AppError::Refused(format!("{on} is in the future")));
        }
        let pid = self
            .store
            .current_pregnancy(woman_id)
            .await?
            .ok_or_else(|| {
                AppError::Refused(format!("woman {woman_id} has no current pregnancy"))
            })?;
        let p = self.store.pregnancy(pid).await?;
        if p.status == crate::domain::PregnancyStatus::Delivered {
            return Err(AppError::Refused(
                "a birth is recorded already for this pregnancy".into(),
            ));
        }
        if on < p.lmp + Duration::days(20 * 7) {
            return Err(AppError::Refused(format!(
                "{on} is before 20 weeks: end the pregnancy instead"
            )));
        }
        let plan = self.store.plan(&p.care_plan).await?;
        let visits = crate::domain::careplan::merged(
            plan.postpartum_visits(on, live_birth),
            self.config.home_visits.postpartum(on),
        );
        let n = self
            .store
            .record_birth(pid, on, place, live_birth, &visits, now)
            .await?;
        self.planner.plan_pregnancies(&[pid], now).await?;
        self.store
            .audit(
                now,
                actor,
                "birth",
                &format!("pregnancy:{pid}"),
                &format!("on {on}, live {live_birth}"),
            )
            .await?;
        self.wake.wake();
        Ok(n)
    }

    /// Marks her current (or named) visit missed: it leaves the overdue lists.
    pub async fn mark_missed(
        &self,
        woman_id: i64,
        contact: Option<&str>,
        by: &str,
    ) -> Result<u64, AppError> {
        let now = self.clock.now();
        let today = crate::domain::schedule::local_date(self.config.timezone, now);
        let w = self.store.woman(woman_id).await?;
        self.access.check_care_team(by, &w).await?;
        let visit_id = self
            .pending_visit(woman_id, contact, today)
            .await?
            .ok_or_else(|| AppError::Refused("no pending check-up".into()))?;
        let n = self
            .store
            .mark_missed(visit_id, by, now)
            .await?
            .unwrap_or(0);
        self.store
            .audit(now, by, "visit_missed", &format!("visit:{visit_id}"), "")
            .await?;
        Ok(n)
    }

    /// Everything held about one woman, as JSON (a data-protection request).
    pub async fn export_woman(
        &self,
        woman_id: i64,
        actor: &str,
    ) -> Result<serde_json::Value, AppError> {
        let out = self
            .store
            .export_woman(woman_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("woman {woman_id}")))?;
        self.store
            .audit(
                self.clock.now(),
                actor,
                "export",
                &format!("woman:{woman_id}"),
                "",
            )
            .await?;
        Ok(out)
    }

    /// Erases one woman's personal data; nothing more is sent to her.
    pub async fn erase_woman(
        &self,
        woman_id: i64,
        actor: &str,
    ) -> Result<crate::store::Erasure, AppError> {
        let e = self
            .store
            .erase_woman(woman_id, self.clock.now(), actor)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("woman {woman_id}")))?;
        tracing::info!(woman_id, cancelled = e.cancelled, "personal data erased");
        Ok(e)
    }
}
