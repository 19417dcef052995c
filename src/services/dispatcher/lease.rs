//! The lease on a claimed batch, as this process sees it.

use chrono::{DateTime, Duration, Utc};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// How long this process's claim on a batch holds, by its own clock. A
/// message is handed over only while the claim holds with a margin to
/// spare: once it lapses, another process on the database may take the
/// message back and send it. A renewal that commits after the claim lapsed
/// does not revive it, since another process may already hold its messages.
#[derive(Clone)]
pub(super) struct Lease {
    until_ms: Arc<AtomicI64>,
    clock: crate::clock::Clock,
    margin: Duration,
}

impl Lease {
    pub(super) fn new(
        until: DateTime<Utc>,
        clock: crate::clock::Clock,
        lease_seconds: i64,
    ) -> Self {
        Self {
            until_ms: Arc::new(AtomicI64::new(until.timestamp_millis())),
            clock,
            // For the hand-over's own time and the clocks of processes on
            // other machines.
            margin: Duration::seconds((lease_seconds / 3).clamp(1, 30)),
        }
    }

    pub(super) fn holds(&self) -> bool {
        (self.clock.now() + self.margin).timestamp_millis() < self.until_ms.load(Ordering::SeqCst)
    }

    /// The pass cannot write (a full disk): nothing more is handed over
    /// whose result could not be recorded. What is left of the batch is
    /// given back unsent.
    pub(super) fn give_up(&self) {
        self.until_ms.store(i64::MIN, Ordering::SeqCst);
    }

    /// A renewal to `until` committed: the claim holds until then, if it
    /// still held when the renewal was written.
    pub(super) fn renewed(&self, until: DateTime<Utc>) {
        if self.holds() {
            self.until_ms
                .fetch_max(until.timestamp_millis(), Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
            .unwrap()
            .and_utc()
    }

    #[test]
    fn a_lease_holds_until_its_margin_before_the_end() {
        let clock = crate::clock::Clock::manual(at("2027-01-01 08:00:00"));
        // 60 s lease: a 20 s margin.
        let lease = Lease::new(at("2027-01-01 08:01:00"), clock.clone(), 60);
        assert!(lease.holds());
        clock.set(at("2027-01-01 08:00:39"));
        assert!(lease.holds());
        clock.set(at("2027-01-01 08:00:40"));
        assert!(!lease.holds());
    }

    #[test]
    fn a_renewal_extends_a_lease_that_holds_but_never_revives_a_lapsed_one() {
        let clock = crate::clock::Clock::manual(at("2027-01-01 08:00:00"));
        let lease = Lease::new(at("2027-01-01 08:01:00"), clock.clone(), 60);
        lease.renewed(at("2027-01-01 08:02:00"));
        clock.set(at("2027-01-01 08:01:30"));
        assert!(lease.holds());
        clock.set(at("2027-01-01 08:05:00"));
        lease.renewed(at("2027-01-01 08:10:00"));
        assert!(!lease.holds(), "another process may hold its messages now");
    }

    #[test]
    fn giving_up_stops_every_hand_over_at_once() {
        let clock = crate::clock::Clock::manual(at("2027-01-01 08:00:00"));
        let lease = Lease::new(at("2027-01-01 09:00:00"), clock, 60);
        lease.give_up();
        assert!(!lease.holds());
        lease.renewed(at("2027-01-01 10:00:00"));
        assert!(!lease.holds());
    }
}
