//! A gateway that sends nothing: it records what it was given, can be told
//! to fail, and in the demo prints each message it "sends". Like the
//! Android gateway it de-duplicates on our message id: a second hand-over
//! of the same id is acknowledged but counted as a duplicate, not sent.

pub mod webhook;

use super::{Gateway, OutgoingMessage, ReportedStatus, SendOutcome, StatusReport};
use crate::clock::Clock;

use async_trait::async_trait;
use rand::Rng;
use std::collections::{HashSet, VecDeque};
use std::io::Write;
use std::sync::Mutex;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Share of sends answered with a transient error (0.0-1.0).
    pub transient_failure_rate: f64,
    /// Share of sends answered with a permanent error (0.0-1.0).
    pub permanent_failure_rate: f64,
    /// Print each message "sent" to standard output (the demo turns this on).
    pub print: bool,
    /// Append each message "sent" as a JSON line to this file.
    pub record_file: Option<std::path::PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            transient_failure_rate: 0.0,
            permanent_failure_rate: 0.0,
            print: false,
            record_file: None,
        }
    }
}

/// A failure the mock will answer with on coming sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MockFailure {
    Transient,
    Permanent,
}

/// A message the mock accepted, with the moment it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockSent {
    pub message: OutgoingMessage,
    pub at: chrono::DateTime<chrono::Utc>,
}

#[derive(Default)]
struct State {
    /// Every message handed over for the first time, in order.
    sent: Vec<MockSent>,
    /// Ids seen, for de-duplication.
    seen: HashSet<i64>,
    /// Hand-overs of an id seen before.
    duplicates: u64,
    /// Every call to `send`, including failures and duplicates.
    calls: u64,
    /// Failures to answer with before anything else, in order.
    script: VecDeque<MockFailure>,
    /// While true every send fails transiently (an outage).
    down: bool,
    /// Receipts waiting to be collected by `take_reports`.
    reports: Vec<StatusReport>,
}

pub struct MockGateway {
    name: String,
    cfg: Settings,
    clock: Clock,
    state: Mutex<State>,
    /// Append-only record of first hand-overs, one JSON line with the id each (for crash tests).
    record: Option<Mutex<std::fs::File>>,
}

impl MockGateway {
    pub fn new(name: String, cfg: Settings, clock: Clock) -> std::io::Result<Self> {
        let record = match &cfg.record_file {
            Some(p) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)?,
            )),
            None => None,
        };
        Ok(Self {
            name,
            cfg,
            clock,
            state: Mutex::new(State::default()),
            record,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("mock state lock")
    }

    /// Messages handed over (each id once), in order.
    pub fn sent(&self) -> Vec<MockSent> {
        self.state().sent.clone()
    }

    pub fn duplicates(&self) -> u64 {
        self.state().duplicates
    }

    pub fn calls(&self) -> u64 {
        self.state().calls
    }

    /// Answers the next `n` sends with `kind`.
    pub fn fail_next(&self, n: usize, kind: MockFailure) {
        self.state().script.extend(std::iter::repeat_n(kind, n));
    }

    /// Takes the gateway down (every send fails transiently) or back up.
    pub fn set_down(&self, down: bool) {
        self.state().down = down;
    }
}

#[async_trait]
impl Gateway for MockGateway {
    fn name(&self) -> &str {
        &self.name
    }

    /// It keeps every id it was given (as the Android app does).
    fn drops_repeats(&self) -> bool {
        true
    }

    async fn send(&self, msg: &OutgoingMessage) -> SendOutcome {
        let mut st = self.state();
        st.calls += 1;
        if st.down {
            return SendOutcome::Transient {
                reason: "mock gateway is down".into(),
                retry_after: None,
            };
        }
        if let Some(f) = st.script.pop_front() {
            return match f {
                MockFailure::Transient => SendOutcome::Transient {
                    reason: "mock: simulated timeout".into(),
                    retry_after: None,
                },
                MockFailure::Permanent => SendOutcome::Permanent {
                    reason: "mock: simulated invalid number".into(),
                },
            };
        }
        let roll: f64 = rand::thread_rng().gen();
        if roll < self.cfg.permanent_failure_rate {
            return SendOutcome::Permanent {
                reason: "mock: random permanent failure".into(),
            };
        }
        if roll < self.cfg.permanent_failure_rate + self.cfg.transient_failure_rate {
            return SendOutcome::Transient {
                reason: "mock: random transient failure".into(),
                retry_after: None,
            };
        }
        let provider_id = Some(format!("mock-{}", msg.id));
        if !st.seen.insert(msg.id) {
            // Like the Android gateway's 409: already handed over, not sent again.
            st.duplicates += 1;
            return SendOutcome::Accepted { provider_id };
        }
        let now = self.clock.now();
        st.sent.push(MockSent {
            message: msg.clone(),
            at: now,
        });
        for status in [ReportedStatus::Sent, ReportedStatus::Delivered] {
            st.reports.push(StatusReport {
                message_id: msg.id,
                status,
                reason: None,
                at: now,
                gateway: Some(self.name.clone()),
            });
        }
        drop(st);
        if self.cfg.print {
            println!(
                "[mock sms] #{} to {} ({} parts): {}",
                msg.id,
                crate::domain::phone::mask(&msg.to),
                crate::domain::sms::measure(&msg.body).parts,
                msg.body
            );
        }
        if let Some(f) = &self.record {
            // Ids only: the record is for counting, not for reading messages.
            let line = format!("{{\"id\":{}}}\n", msg.id);
            let _ = f.lock().expect("record lock").write_all(line.as_bytes());
        }
        SendOutcome::Accepted { provider_id }
    }

    async fn lookup(&self, id: i64) -> Option<Option<ReportedStatus>> {
        Some(
            self.state()
                .seen
                .contains(&id)
                .then_some(ReportedStatus::Sent),
        )
    }

    fn take_reports(&self) -> Vec<StatusReport> {
        std::mem::take(&mut self.state().reports)
    }
}
