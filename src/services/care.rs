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

/// What her texts call a newborn's step against mother-to-child
/// transmission: nothing that tells the infection to whoever reads her phone.
pub const PMTCT_LABEL: (&str, &str) = ("宝宝的随访检查", "your baby's follow-up visit");

/// The contact that records a check-up beyond her plan.
pub const EXTRA_CHECKUP: &str = "extra";

/// The longest hospital stay after a birth taken as a discharge date.
const MAX_STAY_DAYS: i64 = 60;

/// The most babies of one birth.
const MAX_BABIES: i64 = 6;

/// A birth as given (the console's form, the API's body, the command
/// line), before any check.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct BirthInput {
    /// The day of the birth.
    pub on: String,
    #[serde(default)]
    pub place: Option<String>,
    /// A baby born alive; false: a stillbirth.
    #[serde(default = "yes")]
    pub live_birth: bool,
    /// Babies born alive (twins: 2); default 1 after a live birth.
    #[serde(default)]
    pub live_born: Option<i64>,
    /// The day she left hospital; default: the day of the birth.
    #[serde(default)]
    pub discharged_on: Option<String>,
}

/// A birth as given, checked on its own: its day and the day she left
/// hospital are days, neither in the future, her stay plausible, and the
/// babies born alive agree with a live birth or a stillbirth.
pub(crate) fn check_birth(
    birth: &BirthInput,
    today: NaiveDate,
) -> Result<crate::store::BirthRecord, AppError> {
    let day = |field: &'static str, v: &str| {
        parse_date(v).ok_or(InputError::BadDate {
            field,
            value: v.to_string(),
        })
    };
    let on = day("on", birth.on.trim())?;
    if on > today {
        return Err(AppError::Refused(format!("{on} is in the future")));
    }
    let discharged_on = match birth.discharged_on.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(d) => Some(day("discharged_on", d)?),
    };
    if let Some(d) = discharged_on {
        if d < on {
            return Err(AppError::Refused(format!(
                "discharged_on: {d} is before the birth ({on})"
            )));
        }
        if d > today {
            return Err(AppError::Refused(format!(
                "discharged_on: {d} is in the future"
            )));
        }
        if (d - on).num_days() > MAX_STAY_DAYS {
            return Err(AppError::Refused(format!(
                "discharged_on: {d} is more than {MAX_STAY_DAYS} days after the birth"
            )));
        }
    }
    let live_born = match (birth.live_birth, birth.live_born) {
        (false, None | Some(0)) => 0,
        (false, Some(_)) => {
            return Err(AppError::Refused(
                "live_born: a stillbirth has no baby born alive".into(),
            ))
        }
        (true, None) => 1,
        (true, Some(n)) if (1..=MAX_BABIES).contains(&n) => n,
        (true, Some(n)) => {
            return Err(AppError::Refused(format!(
                "live_born: {n} babies born alive? give 1 to {MAX_BABIES}"
            )))
        }
    };
    Ok(crate::store::BirthRecord {
        on,
        place: birth
            .place
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string),
        live_born,
        discharged_on,
    })
}

/// A birth before 20 weeks is no birth: the pregnancy ended.
pub(crate) fn check_term(on: NaiveDate, lmp: NaiveDate) -> Result<(), AppError> {
    if on < lmp + Duration::days(20 * 7) {
        return Err(AppError::Refused(format!(
            "{on} is before 20 weeks: end the pregnancy instead"
        )));
    }
    Ok(())
}

fn yes() -> bool {
    true
}

impl BirthInput {
    /// A live birth of one baby on `on`.
    pub fn live(on: &str) -> Self {
        Self {
            on: on.into(),
            live_birth: true,
            ..Default::default()
        }
    }
}

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
                .current_visit(woman_id, today)
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
        if let Some((_, reason)) = self.id_card_conflicts(rows).await?.into_iter().next() {
            return Err(AppError::Refused(reason));
        }
        let now = self.clock.now();
        let outcomes = self.store.enroll_batch(rows, now).await?;
        for (row, o) in rows.iter().zip(&outcomes) {
            if let Some(card) = &row.id_card {
                self.store.set_id_card(o.woman_id(), card, now).await?;
            }
        }
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

    /// The rows (by their place in `rows`) whose ID card number cannot be
    /// hers: another woman holds it, the woman she is (same phone and name)
    /// holds another, or an earlier row of the batch gives it to someone
    /// else. Each with its reason; the number itself is never in it.
    pub async fn id_card_conflicts(
        &self,
        rows: &[NewEnrollment],
    ) -> Result<Vec<(usize, String)>, AppError> {
        let mut out = vec![];
        let mut seen: HashMap<&str, (&str, &str)> = HashMap::new();
        for (i, row) in rows.iter().enumerate() {
            let Some(card) = row.id_card.as_deref() else {
                continue;
            };
            let me = (row.phone.as_str(), row.name.as_str());
            if seen.insert(card, me).is_some_and(|other| other != me) {
                out.push((
                    i,
                    "id_card: the same ID card number is given for another woman in this batch"
                        .to_string(),
                ));
                continue;
            }
            let existing = self.store.woman_by_phone_and_name(me.0, me.1).await?;
            if let Some(owner) = self.store.woman_by_id_card(card).await? {
                if Some(owner) != existing {
                    out.push((
                        i,
                        format!(
                            "id_card: this ID card number is registered already for woman {owner}"
                        ),
                    ));
                    continue;
                }
            }
            if let Some(w) = existing {
                if self.store.id_card_of(w).await?.is_some_and(|c| c != card) {
                    out.push((
                        i,
                        format!("id_card: woman {w} is registered with another ID card number"),
                    ));
                }
            }
        }
        Ok(out)
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
    /// the visit's pending reminders. `by` must look after her. The contact
    /// [`EXTRA_CHECKUP`] records a check-up beyond her plan (she went more
    /// often than it asks): it counts among her check-ups like any other.
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
        if contact == Some(EXTRA_CHECKUP) {
            return self
                .record_extra_checkup(&w, on, by, place, note, now)
                .await;
        }
        let visit_id = self
            .pending_visit(woman_id, contact, today)
            .await?
            .ok_or_else(|| {
                AppError::Refused(
                    "no pending check-up to record (a check-up beyond her plan: record it as an extra check-up)"
                        .into(),
                )
            })?;
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

    async fn record_extra_checkup(
        &self,
        w: &crate::store::WomanRow,
        on: NaiveDate,
        by: &str,
        place: Option<&str>,
        note: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<u64, AppError> {
        let Some(pid) = self.store.current_pregnancy(w.id).await? else {
            return Err(AppError::Refused(format!(
                "woman {} has no current pregnancy",
                w.id
            )));
        };
        let p = self.store.pregnancy(pid).await?;
        if on < p.lmp {
            return Err(AppError::Refused(format!(
                "on: {on} is before this pregnancy began ({}, her last period)",
                p.lmp
            )));
        }
        let id = self
            .store
            .record_extra_checkup(w.id, on, by, place, note)
            .await?
            .ok_or_else(|| {
                AppError::Refused(format!(
                    "an extra check-up is for a pregnancy before its birth, once a day: one is recorded on {on} already, or the birth is"
                ))
            })?;
        self.store
            .audit(
                now,
                by,
                "visit_done",
                &format!("visit:{id}"),
                &format!("extra check-up on {on}"),
            )
            .await?;
        Ok(0)
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
                let after_birth = v.seq >= 100;
                if after_birth && on < birth {
                    return Err(AppError::Refused(format!(
                        "on: {on} is before the birth ({birth}), and this visit comes after it"
                    )));
                }
                if !after_birth && on > birth {
                    return Err(AppError::Refused(format!(
                        "on: {on} is after the birth ({birth}), and this check-up comes before it"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Records a birth: the prenatal schedule ends, its pending messages are
    /// cancelled, and the postpartum (and, after a live birth, newborn)
    /// contacts are planned with their reminders, the home visits counted
    /// from the day she left hospital when it is known.
    pub async fn record_birth(
        &self,
        woman_id: i64,
        birth: &BirthInput,
        actor: &str,
    ) -> Result<u64, AppError> {
        let now = self.clock.now();
        let today = crate::domain::schedule::local_date(self.config.timezone, now);
        let record = check_birth(birth, today)?;
        let on = record.on;
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
        check_term(on, p.lmp)?;
        if on < p.registered_on {
            return Err(AppError::Refused(format!(
                "on: {on} is before she was registered ({})",
                p.registered_on
            )));
        }
        let plan = self.store.plan(&p.care_plan).await?;
        let grade = self.store.risk_state(pid).await?.grade;
        let visits = self.birth_visits(&plan, &grade, &record);
        let (live_born, discharged_on) = (record.live_born, record.discharged_on);
        let n = self.store.record_birth(pid, &record, &visits, now).await?;
        self.planner.plan_pregnancies(&[pid], now).await?;
        self.store
            .audit(
                now,
                actor,
                "birth",
                &format!("pregnancy:{pid}"),
                &format!(
                    "on {on}, live born {live_born}{}",
                    discharged_on
                        .map(|d| format!(", discharged {d}"))
                        .unwrap_or_default()
                ),
            )
            .await?;
        self.wake.wake();
        Ok(n)
    }

    /// What a birth plans: her postpartum contacts and home visits (from
    /// the day she left hospital when known) and, after a live birth, the
    /// newborn's, with the steps a purple grade adds.
    pub(crate) fn birth_visits(
        &self,
        plan: &crate::domain::careplan::CarePlan,
        grade: &crate::domain::risk::Grade,
        b: &crate::store::BirthRecord,
    ) -> Vec<crate::domain::PlannedVisit> {
        let visits = crate::domain::careplan::merged(
            plan.postpartum_visits(b.on, b.discharged_on, b.live_born > 0),
            self.config.home_visits.postpartum(b.on),
        );
        if b.live_born > 0 {
            crate::domain::careplan::merged(visits, self.pmtct_visits(grade, b.on))
        } else {
            visits
        }
    }

    /// The newborn's steps against mother-to-child transmission, for a
    /// mother graded purple: visits of the baby named for her care team,
    /// sent to her (when `remind`) only as "your follow-up visit".
    fn pmtct_visits(
        &self,
        grade: &crate::domain::risk::Grade,
        born: NaiveDate,
    ) -> Vec<crate::domain::PlannedVisit> {
        if !grade.purple {
            return vec![];
        }
        self.config
            .risk
            .pmtct
            .iter()
            .filter(|s| grade.infections.contains(&s.infection))
            .map(|s| {
                let (from, to) = s.days();
                crate::domain::PlannedVisit {
                    key: format!("pmtct-{}", s.key),
                    seq: 0,
                    label_zh: PMTCT_LABEL.0.into(),
                    label_en: PMTCT_LABEL.1.into(),
                    window_start: born + Duration::days(from),
                    due: born + Duration::days(from),
                    window_end: born + Duration::days(to),
                    newborn: true,
                    home: false,
                    task: !s.remind,
                    staff_label: Some((s.label_zh.clone(), s.label_en.clone())),
                }
            })
            .collect()
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
