//! Women who move (流动人口, two-way management). Within the county her
//! care moves to the officer responsible where she went, her history kept,
//! and both officers are told once; to another county her care here ends
//! as "moved away" and a referral summary (`domain::transfer`) goes with
//! her; a receiving county imports such a summary so that her plan goes on
//! from the right week with what was done kept.

use super::access::Access;
use super::care::{BirthInput, Care};
use super::enrollment::{validate, EnrollmentInput, InputError};
use super::{AppError, Waker};
use crate::clock::Clock;
use crate::config::Config;
use crate::domain::dates::parse_date;
use crate::domain::transfer::{self, TransferSummary};
use crate::domain::{MessageKind, PregnancyDates, Role};
use crate::render::SystemTexts;
use crate::store::{DirectMessage, MoveRow, MoveWithin, StaffRow, Store};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use std::sync::Arc;

#[derive(Clone)]
pub struct Moves {
    pub(crate) store: Store,
    pub(crate) clock: Clock,
    pub(crate) config: Arc<Config>,
    pub(crate) access: Access,
    pub(crate) texts: Arc<SystemTexts>,
    pub(crate) wake: Waker,
    pub(crate) care: Care,
}

/// The API's client as an actor.
pub const API: &str = "api";

/// A move as given (the console's form, the API's body, the command line).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct MoveInput {
    /// The staff code recording it (default: the API's client).
    #[serde(default)]
    pub by: Option<String>,
    /// The day she moved (default: today).
    #[serde(default)]
    pub on: Option<String>,
    /// Within the county: the officer who looks after her from now on.
    #[serde(default)]
    pub officer: Option<String>,
    /// Within the county: her new village (default: the new officer's).
    #[serde(default)]
    pub village: Option<String>,
    /// Another county: where she went. Given, the move is out of the county.
    #[serde(default)]
    pub destination: Option<String>,
}

/// What an import of a referral summary did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TransferImport {
    pub woman_id: i64,
    pub pregnancy_id: i64,
    /// Visits the summary holds as done, kept as done here.
    pub visits_done: usize,
    /// The summary was imported before: nothing changed.
    pub unchanged: bool,
}

impl Moves {
    fn today(&self, now: DateTime<Utc>) -> NaiveDate {
        crate::domain::schedule::local_date(self.config.timezone, now)
    }

    fn day(&self, on: Option<&str>, now: DateTime<Utc>) -> Result<NaiveDate, AppError> {
        let today = self.today(now);
        let on = match on.map(str::trim) {
            None | Some("") => today,
            Some(d) => parse_date(d).ok_or(InputError::BadDate {
                field: "on",
                value: d.to_string(),
            })?,
        };
        if on > today {
            return Err(AppError::Refused(format!("on: {on} is in the future")));
        }
        Ok(on)
    }

    /// An officer or administrator records that a woman moved: within the
    /// county when `input.officer` is given, out of it when
    /// `input.destination` is.
    pub async fn record(
        &self,
        woman_id: i64,
        input: &MoveInput,
        actor: &str,
    ) -> Result<serde_json::Value, AppError> {
        let dest = input
            .destination
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty());
        let officer = input
            .officer
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty());
        match (dest, officer) {
            (Some(d), None) => {
                let s = self
                    .move_away(woman_id, input.on.as_deref(), d, actor)
                    .await?;
                Ok(serde_json::to_value(s).expect("a summary is JSON"))
            }
            (None, Some(o)) => {
                let m = self
                    .move_within(
                        woman_id,
                        input.on.as_deref(),
                        o,
                        input.village.as_deref(),
                        actor,
                    )
                    .await?;
                Ok(serde_json::to_value(m).expect("a move is JSON"))
            }
            _ => Err(AppError::Refused(
                "give either officer (a move within the county) or destination (another county)"
                    .into(),
            )),
        }
    }

    /// The member of staff acting, if not the command line's administrator:
    /// an officer (for her own women) or an administrator may record a move.
    async fn check_actor(&self, actor: &str, w: &crate::store::WomanRow) -> Result<(), AppError> {
        // The command line's administrator, and the API's client (the
        // county's own systems, holding its token), act for everyone.
        if actor == super::access::CLI_ADMIN || actor == API {
            return Ok(());
        }
        self.access.check_care_team(actor, w).await?;
        if self.access.staff(actor).await?.role == Role::Supervisor {
            return Err(AppError::Forbidden(
                "a move is recorded by her officer or an administrator".into(),
            ));
        }
        Ok(())
    }

    /// Moves her care to `officer` (and `village`, default the officer's):
    /// from now on her reminders' officer, her overdue alerts and her
    /// worklist are the new officer's; both officers are told once.
    pub async fn move_within(
        &self,
        woman_id: i64,
        on: Option<&str>,
        officer: &str,
        village: Option<&str>,
        actor: &str,
    ) -> Result<MoveRow, AppError> {
        let now = self.clock.now();
        let on = self.day(on, now)?;
        let w = self.store.woman(woman_id).await?;
        self.check_actor(actor, &w).await?;
        let to: StaffRow = self.access.staff(officer).await?;
        if to.role != Role::Officer {
            return Err(AppError::Refused(format!(
                "officer: {officer} is not an officer ({})",
                to.role.as_str()
            )));
        }
        if w.officer_code.as_deref() == Some(officer) {
            return Err(AppError::Refused(format!("she is already {officer}'s")));
        }
        if let Some(last) = self.store.moves_of(woman_id).await?.last() {
            if on < last.moved_on {
                return Err(AppError::Refused(format!(
                    "on: {on} is before her last move ({})",
                    last.moved_on
                )));
            }
        }
        let village = village
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .or(to.village.clone());
        let m = self
            .store
            .move_within(
                &MoveWithin {
                    woman_id,
                    on,
                    to_village: village,
                    to_officer: officer.to_string(),
                    recorded_by: actor.to_string(),
                },
                now,
            )
            .await?;
        let from = match &m.from_officer {
            Some(c) => self.store.staff_by_code(c).await?,
            None => None,
        };
        let village = m.to_village.clone().unwrap_or_default();
        // Told once: the keys name the move.
        if let Some(old) = &from {
            let body = self.texts.render(
                "moved-out",
                old.language,
                &serde_json::json!({"name": w.name, "code": w.id.to_string(), "village": village, "officer": to.name}),
            );
            self.tell(old, format!("move:{}:from", m.id), body, now)
                .await?;
        }
        let body = self.texts.render(
            "moved-in",
            to.language,
            &serde_json::json!({"name": w.name, "code": w.id.to_string(), "village": village,
                "officer": from.as_ref().map(|s| s.name.clone()).unwrap_or_else(|| "-".into())}),
        );
        self.tell(&to, format!("move:{}:to", m.id), body, now)
            .await?;
        self.store
            .audit(
                now,
                actor,
                "move_within",
                &format!("woman:{woman_id}"),
                &format!(
                    "on {on}: {} {} -> {} {}",
                    m.from_village.as_deref().unwrap_or("-"),
                    m.from_officer.as_deref().unwrap_or("-"),
                    m.to_village.as_deref().unwrap_or("-"),
                    officer
                ),
            )
            .await?;
        self.wake.wake();
        Ok(m)
    }

    async fn tell(
        &self,
        s: &StaffRow,
        key: String,
        body: String,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        self.store
            .enqueue_direct(
                &DirectMessage {
                    dedupe_key: key,
                    kind: MessageKind::Alert,
                    woman_id: None,
                    staff_id: Some(s.id),
                    to_addr: None,
                    body,
                    in_reply_to: None,
                    send_at: now,
                    expires_at: now + Duration::hours(72),
                },
                now,
            )
            .await?;
        Ok(())
    }

    /// Ends her care here: she moved to another county. Nothing more is
    /// sent to her from this database; the referral summary is returned.
    pub async fn move_away(
        &self,
        woman_id: i64,
        on: Option<&str>,
        destination: &str,
        actor: &str,
    ) -> Result<TransferSummary, AppError> {
        let now = self.clock.now();
        let on = self.day(on, now)?;
        if destination.chars().count() > 200 || destination.chars().any(char::is_control) {
            return Err(AppError::Refused(
                "destination: at most 200 characters on one line".into(),
            ));
        }
        let w = self.store.woman(woman_id).await?;
        self.check_actor(actor, &w).await?;
        let f = self.store.transfer_facts(woman_id).await?;
        if !matches!(f.status.as_str(), "active" | "delivered" | "stale") {
            return Err(AppError::Refused(format!(
                "woman {woman_id} has no pregnancy in care here ({})",
                f.moved_to
                    .as_deref()
                    .map(|d| format!("moved away to {d}"))
                    .unwrap_or(f.status.clone())
            )));
        }
        if on < f.registered_on {
            return Err(AppError::Refused(format!(
                "on: {on} is before her registration ({})",
                f.registered_on
            )));
        }
        let n = self
            .store
            .move_away(f.pregnancy_id, on, destination, actor, now)
            .await?;
        self.store
            .audit(
                now,
                actor,
                "move_away",
                &format!("woman:{woman_id}"),
                &format!("on {on} to {destination}; {n} messages cancelled"),
            )
            .await?;
        self.summary(woman_id, actor).await
    }

    /// The referral summary of a woman who moved away.
    pub async fn summary(&self, woman_id: i64, actor: &str) -> Result<TransferSummary, AppError> {
        let f = self.store.transfer_facts(woman_id).await?;
        let (Some(moved_on), Some(destination)) = (f.moved_away_on, f.moved_to.clone()) else {
            return Err(AppError::Refused(format!(
                "woman {woman_id} has not moved away: a summary is made when she moves to another county"
            )));
        };
        let visits = self.store.done_visits(f.pregnancy_id).await?;
        let county = if self.config.sharing.county.is_empty() {
            "careminder".to_string()
        } else {
            self.config.sharing.county.clone()
        };
        let tz = self.config.timezone;
        let s = TransferSummary {
            format: transfer::FORMAT.into(),
            version: transfer::VERSION,
            transfer_id: format!("{county}/w{}/p{}/{moved_on}", f.woman_id, f.pregnancy_id),
            from_county: county,
            destination,
            moved_on,
            woman: transfer::TransferWoman {
                name: f.name,
                phone: f.phone,
                language: f.language,
            },
            consent: transfer::TransferConsent {
                given: f.consent_at.is_some() && f.opted_out_at.is_none(),
                on: f
                    .consent_at
                    .and_then(|t| DateTime::from_timestamp(t, 0))
                    .map(|t| crate::domain::schedule::local_date(tz, t)),
                source: f.consent_source,
            },
            pregnancy: transfer::TransferPregnancy {
                care_plan: f.care_plan,
                lmp: f.lmp,
                edd: f.edd,
                registered_on: f.registered_on,
            },
            visits_done: visits
                .into_iter()
                .map(|v| transfer::TransferVisit {
                    contact: v.contact_key,
                    label_zh: v.label_zh,
                    label_en: v.label_en,
                    on: v.done_on,
                    place: v.done_place,
                })
                .collect(),
            birth: f.delivered_on.map(|on| transfer::TransferBirth {
                on,
                live_birth: f.live_birth.unwrap_or(true),
                live_born: f
                    .live_born
                    .unwrap_or(i64::from(f.live_birth.unwrap_or(true))),
                place: f.birth_place,
                discharged_on: f.discharged_on,
            }),
            risk_grade: f
                .risk_colour
                .filter(|_| self.config.sharing.include_risk_grade),
        };
        self.store
            .audit(
                self.clock.now(),
                actor,
                "transfer_summary",
                &format!("woman:{woman_id}"),
                &s.transfer_id,
            )
            .await?;
        Ok(s)
    }

    /// Imports a referral summary from another county: registers her (with
    /// `village` and `officer` here), keeps her done visits done (so no
    /// reminder goes for them), records her birth if any, and plans what is
    /// still to come from today. A summary imported before changes nothing.
    /// Everything is checked before anything is written.
    pub async fn import(
        &self,
        bytes: &[u8],
        village: Option<&str>,
        officer: Option<&str>,
        actor: &str,
    ) -> Result<TransferImport, AppError> {
        let now = self.clock.now();
        let today = self.today(now);
        let s = transfer::parse(bytes, today).map_err(|e| AppError::Refused(e.to_string()))?;
        if let Some((woman_id, pregnancy_id)) = self.store.transfer_imported(&s.transfer_id).await?
        {
            return Ok(TransferImport {
                woman_id,
                pregnancy_id,
                visits_done: s.visits_done.len(),
                unchanged: true,
            });
        }
        if let Some(o) = officer {
            self.access.staff(o).await?;
        }
        let plans = self.care.plans().await?;
        let input = EnrollmentInput {
            name: s.woman.name.clone(),
            phone: s.woman.phone.clone(),
            edd: Some(s.pregnancy.edd.to_string()),
            village: village.map(str::to_string),
            officer: officer.map(str::to_string),
            language: Some(s.woman.language.clone()),
            consent: Some(if s.consent.given { "yes" } else { "no" }.into()),
            care_plan: plans
                .contains_key(&s.pregnancy.care_plan)
                .then(|| s.pregnancy.care_plan.clone()),
            delivered_on: s.birth.as_ref().map(|b| b.on),
            ..Default::default()
        };
        let mut e = validate(&input, &self.config, &plans, now, "transfer", actor)?;
        let plan = &plans[&e.care_plan];
        // Her done visits stay in her record even when their windows closed
        // before she came; what is to come is planned from today.
        let dates: PregnancyDates = e.dates;
        let all = plan.prenatal_visits(&dates, s.pregnancy.registered_on.min(today));
        let mut visits: Vec<_> = plan.prenatal_visits(&dates, today);
        let prenatal_done: Vec<_> = s
            .visits_done
            .iter()
            .filter(|v| {
                s.birth.as_ref().is_none_or(|b| v.on <= b.on) && !v.contact.starts_with("pnc")
            })
            .collect();
        for v in &prenatal_done {
            if visits.iter().any(|p| p.key == v.contact) {
                continue;
            }
            match all.iter().find(|p| p.key == v.contact) {
                Some(p) => visits.push(p.clone()),
                None => visits.push(crate::domain::careplan::PlannedVisit {
                    key: v.contact.clone(),
                    seq: 0,
                    label_zh: v.label_zh.clone(),
                    label_en: v.label_en.clone(),
                    window_start: v.on,
                    due: v.on,
                    window_end: v.on,
                    newborn: false,
                    home: false,
                    task: false,
                    staff_label: None,
                }),
            }
        }
        e.visits = crate::domain::careplan::merged(
            visits,
            self.config.home_visits.prenatal(today, dates.edd),
        );
        let done: Vec<(String, NaiveDate, Option<String>)> = prenatal_done
            .iter()
            .map(|v| (v.contact.clone(), v.on, v.place.clone()))
            .collect();
        let after: Vec<(String, NaiveDate, Option<String>)> = s
            .visits_done
            .iter()
            .filter(|v| !prenatal_done.iter().any(|p| p.contact == v.contact))
            .map(|v| (v.contact.clone(), v.on, v.place.clone()))
            .collect();
        // Her birth, checked as recording it by hand checks it, except
        // that it may come before she was registered here: she gave
        // birth where she was then.
        let birth = match &s.birth {
            Some(b) => {
                let record = super::care::check_birth(
                    &BirthInput {
                        on: b.on.to_string(),
                        place: b.place.clone(),
                        live_birth: b.live_birth,
                        live_born: Some(b.live_born),
                        discharged_on: b.discharged_on.map(|d| d.to_string()),
                    },
                    today,
                )
                .map_err(|e| AppError::Refused(format!("birth: {e}")))?;
                super::care::check_term(record.on, dates.lmp)
                    .map_err(|e| AppError::Refused(format!("birth: {e}")))?;
                let visits =
                    self.care
                        .birth_visits(plan, &crate::domain::risk::Grade::default(), &record);
                Some((record, visits))
            }
            None => None,
        };
        let kept = done.len() + if birth.is_some() { after.len() } else { 0 };
        let detail = format!(
            "{} from {}: {kept} visits done kept",
            s.transfer_id, s.from_county
        );
        let out = self
            .store
            .import_transfer(
                &crate::store::TransferIn {
                    transfer_id: &s.transfer_id,
                    from_county: &s.from_county,
                    enrollment: &e,
                    done_before_birth: &done,
                    birth: birth.as_ref().map(|(r, v)| (r, v.as_slice())),
                    done_after_birth: &after,
                    by: actor,
                    audit_detail: &detail,
                },
                now,
            )
            .await?;
        let crate::store::EnrollOutcome::Created {
            woman_id,
            pregnancy_id,
        } = out
        else {
            return Err(AppError::Refused(format!(
                "{} on {} is registered here already (woman {}): record what the summary holds by hand",
                s.woman.name,
                s.woman.phone,
                out.woman_id()
            )));
        };
        self.care
            .planner
            .plan_pregnancies(&[pregnancy_id], now)
            .await?;
        self.wake.wake();
        Ok(TransferImport {
            woman_id,
            pregnancy_id,
            visits_done: kept,
            unchanged: false,
        })
    }
}
