//! Replies: received message -> who sent it -> what it means -> what to do.
//!
//! A message is stored before anything else (and before the gateway hears
//! back), de-duplicated on the gateway's id, then acted on once: opt-out
//! (confirmed once, holding before the next message), opt back in, a
//! confirmation of attendance, help, a visit report from staff, or a
//! question for her officer's inbox. Replies are outbox rows keyed on the
//! message they answer, so acting twice never sends twice. Messages stored
//! but not acted on (a crash in between) are picked up by the next tick.

use super::consent::Via;
use super::{AppError, Waker};
use crate::domain::keywords::Intent;
pub use crate::domain::Received;
use crate::store::{DirectMessage, InboundResult, NewInbound, StaffRow, WomanRow};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

/// The longest answer to a woman: five SMS parts of Chinese text (67
/// characters each), so it arrives whole on any gateway.
pub const MAX_ANSWER_CHARS: usize = 335;

/// How long a reply stays worth sending.
const REPLY_GRACE_HOURS: i64 = 24;

/// Replies: stores each text that arrives, reads its intent, acts on it.
#[derive(Clone)]
pub struct Inbound {
    pub(crate) store: crate::store::Store,
    pub(crate) clock: crate::clock::Clock,
    pub(crate) config: std::sync::Arc<crate::config::Config>,
    pub(crate) matcher: std::sync::Arc<crate::domain::keywords::Matcher>,
    pub(crate) texts: std::sync::Arc<crate::render::SystemTexts>,
    pub(crate) metrics: std::sync::Arc<crate::metrics::Metrics>,
    pub(crate) access: super::access::Access,
    pub(crate) consents: super::consent::Consents,
    pub(crate) risk: super::risk::Risk,
    pub(crate) wake: Waker,
    /// Stores what arrives together in one commit ([`Self::writer`]).
    pub(crate) writer: super::group_commit::GroupCommit<NewInbound, Option<i64>>,
    /// Records what was done with messages acted on together, and their
    /// answers, in one commit ([`Self::finisher`]).
    pub(crate) finisher: super::group_commit::GroupCommit<Finished, ()>,
}

/// A message acted on: its id, what was done, and when.
pub(crate) type Finished = (i64, InboundResult, DateTime<Utc>);

impl Inbound {
    /// The group-commit writer of received messages on `store`.
    pub(crate) fn writer(
        store: crate::store::Store,
        clock: crate::clock::Clock,
    ) -> super::group_commit::GroupCommit<NewInbound, Option<i64>> {
        super::group_commit::GroupCommit::start("message", move |items: Vec<NewInbound>| {
            let (store, now) = (store.clone(), clock.now());
            async move {
                store
                    .store_inbound(&items, now)
                    .await
                    .map_err(|e| e.to_string())
            }
        })
    }

    /// The group-commit writer of what was done with messages on `store`.
    pub(crate) fn finisher(
        store: crate::store::Store,
    ) -> super::group_commit::GroupCommit<Finished, ()> {
        super::group_commit::GroupCommit::start("reply result", move |done: Vec<Finished>| {
            let store = store.clone();
            async move {
                let n = done.len();
                store
                    .finish_inbound(&done)
                    .await
                    .map(|()| vec![(); n])
                    .map_err(|e| e.to_string())
            }
        })
    }

    /// Stores a received message (with whatever arrives with it: one
    /// commit) and acts on it.
    pub async fn receive(&self, mut m: NewInbound) -> Result<Received, AppError> {
        // A NUL carries nothing a person wrote, and PostgreSQL stores no
        // text with one: kept, it would be refused at every redelivery.
        for field in [&mut m.text, &mut m.sender, &mut m.provider_id] {
            if field.contains('\0') {
                *field = field.replace('\0', "");
            }
        }
        let (gateway, sender, text) = (m.gateway.clone(), m.sender.clone(), m.text.clone());
        match self.writer.submit(m).await? {
            None => {
                tracing::info!(gateway = %gateway, "duplicate inbound message ignored");
                Ok(Received {
                    inbound_id: None,
                    duplicate: true,
                })
            }
            Some(id) => {
                self.process_inbound(id, &sender, &text).await?;
                Ok(Received {
                    inbound_id: Some(id),
                    duplicate: false,
                })
            }
        }
    }

    /// Acts on messages stored but not yet acted on (after a crash).
    /// One message that cannot be acted on is logged and left for a person;
    /// the others are still acted on, and the stage reports the failure.
    pub async fn process_pending_inbound(&self) -> Result<u64, AppError> {
        let ids = self.store.unprocessed_inbound(500).await?;
        let mut failed = vec![];
        for id in &ids {
            let acted = match self.store.inbound(*id).await {
                Ok(m) => self.process_inbound(*id, &m.sender, &m.text).await,
                Err(e) => Err(e.into()),
            };
            if let Err(e) = acted {
                tracing::error!(inbound_id = id, error = %e, "stored message could not be acted on");
                failed.push(*id);
            }
        }
        if !failed.is_empty() {
            return Err(AppError::Refused(format!(
                "{} stored message(s) could not be acted on (ids {failed:?})",
                failed.len()
            )));
        }
        Ok(ids.len() as u64)
    }

    /// Acts on stored message `id`, which `sender` sent saying `text`.
    async fn process_inbound(&self, id: i64, sender: &str, text: &str) -> Result<(), AppError> {
        let now = self.clock.now();
        let staff = self.store.staff_by_phone(sender).await?;
        let woman = self.store.woman_row_by_phone(sender).await?;
        let intent = self.matcher.intent(text);
        let mut r = InboundResult {
            woman_id: woman.as_ref().map(|w| w.id),
            staff_id: staff.as_ref().map(|s| s.id),
            intent: intent.name().to_string(),
            ..Default::default()
        };
        match (&intent, &staff, &woman) {
            (Intent::VisitReport { code }, Some(s), _) => {
                r.outcome = self
                    .visit_report(&mut r, id, s, code, false, None, now)
                    .await?;
            }
            (Intent::GradeReport { code, grade }, Some(s), _) => {
                r.outcome = self.grade_report(&mut r, id, s, code, grade, now).await?;
            }
            (Intent::HomeVisitReport { code, note }, Some(s), _) => {
                r.outcome = self
                    .visit_report(&mut r, id, s, code, true, note.as_deref(), now)
                    .await?;
            }
            (_, Some(s), None) => {
                r.intent = "staff_message".into();
                r.outcome = "from staff, not a keyword: usage sent".into();
                let body = self.texts.render("staff-help", s.language, &json!({}));
                self.reply_to_staff(&mut r, id, s, body, now).await?;
            }
            (_, None, None) => {
                r.intent = "unknown_sender".into();
                r.outcome = if self.config.inbound.reply_to_unknown {
                    // One polite answer per number, ever: the key says so.
                    let body = self.texts.render(
                        "unknown-sender",
                        self.config.default_language,
                        &json!({}),
                    );
                    let sent = self
                        .store
                        .enqueue_direct(
                            &DirectMessage {
                                dedupe_key: format!("unknown:{sender}"),
                                kind: crate::domain::MessageKind::Reply,
                                woman_id: None,
                                staff_id: None,
                                to_addr: Some(sender.to_string()),
                                body,
                                in_reply_to: Some(id),
                                send_at: now,
                                expires_at: now + Duration::hours(REPLY_GRACE_HOURS),
                            },
                            now,
                        )
                        .await?;
                    if sent {
                        "unknown number: answered once"
                    } else {
                        "unknown number: answered before"
                    }
                    .into()
                } else {
                    "unknown number".into()
                };
            }
            (_, _, Some(w)) => {
                r.outcome = self.act_for_woman(id, w, &intent, &mut r, now).await?;
            }
        }
        tracing::debug!(inbound_id = id, woman_id = ?r.woman_id, intent = %r.intent, "inbound message processed");
        let intent = r.intent.clone();
        self.finisher.submit((id, r, now)).await?;
        self.metrics.inbound(&intent);
        self.wake.wake();
        Ok(())
    }

    async fn act_for_woman(
        &self,
        id: i64,
        w: &WomanRow,
        intent: &Intent,
        r: &mut InboundResult,
        now: DateTime<Utc>,
    ) -> Result<String, AppError> {
        let ctx = json!({"name": w.name, "code": w.id.to_string()});
        Ok(match intent {
            Intent::OptOut => match self.consents.opt_out(w.id, Via::Sms, "sms").await? {
                Some(n) => {
                    self.reply_to_woman(
                        r,
                        id,
                        w,
                        self.texts.render("opt-out", w.language, &ctx),
                        now,
                    )
                    .await?;
                    format!("opted out; {n} messages cancelled")
                }
                None => "opted out already".into(),
            },
            Intent::OptIn => match self.consents.opt_in(w.id, Via::Sms, "sms").await? {
                Some(()) => {
                    self.reply_to_woman(
                        r,
                        id,
                        w,
                        self.texts.render("opt-in", w.language, &ctx),
                        now,
                    )
                    .await?;
                    "opted back in".into()
                }
                None => "was not opted out".into(),
            },
            Intent::Help => {
                self.reply_to_woman(r, id, w, self.texts.render("help", w.language, &ctx), now)
                    .await?;
                "help sent".into()
            }
            Intent::Confirm => {
                let today = crate::domain::schedule::local_date(self.config.timezone, now);
                match self.store.next_visit_to_confirm(w.id, today).await? {
                    Some((visit, zh, en)) => {
                        r.confirm_visit = Some(visit);
                        let contact = if w.language == crate::domain::Language::En {
                            en
                        } else {
                            zh
                        };
                        let body =
                            self.texts
                                .render("confirm", w.language, &json!({"contact": contact}));
                        self.reply_to_woman(r, id, w, body, now).await?;
                        format!("confirmed attendance: {contact}")
                    }
                    None => {
                        self.to_officer(id, w, r, now, "confirmation with no check-up coming")
                            .await?
                    }
                }
            }
            Intent::VisitReport { .. }
            | Intent::HomeVisitReport { .. }
            | Intent::GradeReport { .. }
            | Intent::Question => self.to_officer(id, w, r, now, "question").await?,
        })
    }

    /// Puts a message in her officer's inbox and, if configured, alerts the officer.
    async fn to_officer(
        &self,
        id: i64,
        w: &WomanRow,
        r: &mut InboundResult,
        now: DateTime<Utc>,
        what: &str,
    ) -> Result<String, AppError> {
        r.intent = "question".into();
        r.needs_answer = true;
        r.assigned_to = w.officer_code.clone();
        let officer = match &w.officer_code {
            Some(code) => self.store.staff_by_code(code).await?,
            None => None,
        };
        if let (true, Some(o)) = (self.config.inbound.forward_to_officer, &officer) {
            let m = self.store.inbound(id).await?;
            let mut excerpt: String = m.text.trim().chars().take(40).collect();
            if m.text.trim().chars().count() > 40 {
                excerpt.push('…');
            }
            let body = self.texts.render(
                "officer-question",
                o.language,
                &json!({"name": w.name, "code": w.id.to_string(), "text": excerpt, "message": id}),
            );
            self.store
                .enqueue_direct(
                    &DirectMessage {
                        dedupe_key: format!("alert:{id}"),
                        kind: crate::domain::MessageKind::Alert,
                        woman_id: None,
                        staff_id: Some(o.id),
                        to_addr: None,
                        body,
                        in_reply_to: Some(id),
                        send_at: now,
                        expires_at: now + Duration::hours(REPLY_GRACE_HOURS),
                    },
                    now,
                )
                .await?;
        }
        Ok(match (&w.officer_code, officer) {
            (Some(c), Some(_)) => format!("{what}: in the inbox of {c}, alerted"),
            (Some(c), None) => format!("{what}: in the inbox of {c}"),
            (None, _) => format!("{what}: no officer assigned, in the shared inbox"),
        })
    }

    /// A visit reported by SMS: her current check-up, or (`home`) the
    /// officer's current home visit to her, with its note.
    // The message's result and id, the officer, and what the text said.
    #[allow(clippy::too_many_arguments)]
    async fn visit_report(
        &self,
        r: &mut InboundResult,
        id: i64,
        s: &StaffRow,
        code: &str,
        home: bool,
        note: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<String, AppError> {
        let today = crate::domain::schedule::local_date(self.config.timezone, now);
        let woman = match code.parse::<i64>() {
            Ok(wid) => self.store.woman(wid).await.ok(),
            Err(_) => None,
        };
        let allowed = match &woman {
            Some(w) => self.access.may_act_for(s, w).await?,
            None => false,
        };
        let visit = match (&woman, allowed, home) {
            (Some(w), true, true) => self.store.current_home_visit(w.id, today).await?,
            (Some(w), true, false) => self.store.current_visit(w.id, today).await?,
            _ => None,
        };
        let (Some(w), Some((visit_id, zh, en))) = (woman, visit) else {
            let body = self
                .texts
                .render("visit-refused", s.language, &json!({"code": code}));
            self.reply_to_staff(r, id, s, body, now).await?;
            return Ok(format!(
                "visit report for {code} refused: not hers or nothing pending"
            ));
        };
        // Her home visit after the birth and the baby's of the same day are
        // one visit to the house: one text records both.
        let companions = if home {
            vec![]
        } else {
            self.store.companion_home_visits(visit_id).await?
        };
        let mut cancelled = 0;
        let mut labels = vec![];
        for (id, zh, en) in std::iter::once((visit_id, zh, en)).chain(companions) {
            cancelled += self
                .store
                .record_visit(id, today, &s.code, None, note, now)
                .await?
                .unwrap_or(0);
            self.store
                .audit(now, &s.code, "visit_done", &format!("visit:{id}"), "by SMS")
                .await?;
            labels.push(if s.language == crate::domain::Language::En {
                en
            } else {
                zh
            });
        }
        let contact = labels.join(if s.language == crate::domain::Language::En {
            " and "
        } else {
            "和"
        });
        let body = self.texts.render(
            "visit-recorded",
            s.language,
            &json!({"name": w.name, "code": w.id.to_string(), "contact": contact}),
        );
        self.reply_to_staff(r, id, s, body, now).await?;
        Ok(format!(
            "visit {visit_id} recorded; {cancelled} reminders silenced"
        ))
    }

    /// A risk grade texted by a member of her care team ("评估 123 红").
    /// The answer (with the grade in words) goes to the staff member only.
    async fn grade_report(
        &self,
        r: &mut InboundResult,
        id: i64,
        s: &StaffRow,
        code: &str,
        grade: &str,
        now: DateTime<Utc>,
    ) -> Result<String, AppError> {
        let input = super::risk::GradeInput {
            grade: grade.to_string(),
            ..Default::default()
        };
        let graded = match code.parse::<i64>() {
            Ok(wid) => self
                .risk
                .grade(wid, &input, "sms", &s.code)
                .await
                .map(|st| (wid, st)),
            Err(_) => Err(crate::store::StoreError::NotFound(format!("woman {code}")).into()),
        };
        match graded {
            Ok((wid, state)) => {
                let w = self.store.woman(wid).await?;
                let body = self.texts.render(
                    "grade-recorded",
                    s.language,
                    &json!({"name": w.name, "code": w.id.to_string(),
                            "grade": state.grade.describe(s.language.as_str())}),
                );
                self.reply_to_staff(r, id, s, body, now).await?;
                Ok(format!("risk grade recorded for woman {wid}"))
            }
            Err(
                e @ (AppError::Refused(_) | AppError::Store(crate::store::StoreError::NotFound(_))),
            ) => {
                let reason = match &e {
                    AppError::Refused(m) => m.clone(),
                    _ => "not one of your women".to_string(),
                };
                let body = self.texts.render(
                    "grade-refused",
                    s.language,
                    &json!({"code": code, "reason": reason}),
                );
                self.reply_to_staff(r, id, s, body, now).await?;
                Ok(format!("risk grade for {code} refused"))
            }
            Err(e) => Err(e),
        }
    }

    /// Answers message `id`, once: the key is derived from it.
    /// Her (or the staff member's) answer, written with the message's
    /// result by `finish_inbound`: one answer a message, the first.
    async fn reply(
        &self,
        r: &mut InboundResult,
        id: i64,
        woman_id: Option<i64>,
        staff_id: Option<i64>,
        body: String,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        r.reply.get_or_insert(DirectMessage {
            dedupe_key: format!("reply:{id}"),
            kind: crate::domain::MessageKind::Reply,
            woman_id,
            staff_id,
            to_addr: None,
            body,
            in_reply_to: Some(id),
            send_at: now,
            expires_at: now + Duration::hours(REPLY_GRACE_HOURS),
        });
        Ok(())
    }

    async fn reply_to_woman(
        &self,
        r: &mut InboundResult,
        id: i64,
        w: &WomanRow,
        body: String,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        self.reply(r, id, Some(w.id), None, body, now).await
    }

    async fn reply_to_staff(
        &self,
        r: &mut InboundResult,
        id: i64,
        s: &StaffRow,
        body: String,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        self.reply(r, id, None, Some(s.id), body, now).await
    }

    /// An officer's (or administrator's) answer to a question in the inbox,
    /// at most [`MAX_ANSWER_CHARS`] long,
    /// sent through the woman's channel and kept in the conversation.
    pub async fn answer(&self, inbound_id: i64, text: &str, by: &str) -> Result<i64, AppError> {
        let now = self.clock.now();
        let text = text.trim();
        if text.is_empty() {
            return Err(AppError::Refused("the answer is empty".into()));
        }
        let chars = text.chars().count();
        if chars > MAX_ANSWER_CHARS {
            return Err(AppError::Refused(format!(
                "the answer has {chars} characters: at most {MAX_ANSWER_CHARS} (about five SMS) reach her phone as one message"
            )));
        }
        let m = self.store.inbound(inbound_id).await?;
        let Some(wid) = m.woman_id else {
            return Err(AppError::Refused(format!(
                "message {inbound_id} is not from a registered woman"
            )));
        };
        let w = self.store.woman(wid).await?;
        match self.access.check_care_team(by, &w).await {
            // Not her care team: as if the message did not exist.
            Err(AppError::Store(crate::store::StoreError::NotFound(_))) => {
                return Err(
                    crate::store::StoreError::NotFound(format!("message {inbound_id}")).into(),
                )
            }
            other => other?,
        }
        if w.opted_out_at.is_some() {
            return Err(AppError::Refused("she has opted out of messages".into()));
        }
        let n = self.store.conversation(wid).await?.len();
        self.store
            .enqueue_direct(
                &DirectMessage {
                    dedupe_key: format!("answer:{inbound_id}:{n}"),
                    kind: crate::domain::MessageKind::Reply,
                    woman_id: Some(wid),
                    staff_id: None,
                    to_addr: None,
                    body: text.to_string(),
                    in_reply_to: Some(inbound_id),
                    send_at: now,
                    expires_at: now + Duration::hours(REPLY_GRACE_HOURS),
                },
                now,
            )
            .await?;
        self.store.mark_answered(inbound_id, by, now).await?;
        self.store
            .audit(now, by, "answer", &format!("inbound:{inbound_id}"), "")
            .await?;
        self.wake.wake();
        Ok(inbound_id)
    }
}
