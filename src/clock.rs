//! The one source of "now". Production uses the system clock; tests and
//! `--now` use a manual clock they move by hand; the demo runs an
//! accelerated clock so a newcomer sees a morning's reminders in a minute.
//! Nothing else in careminder calls `Utc::now()`.

use chrono::{DateTime, Duration, Utc};
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Clone, Debug)]
pub enum Clock {
    System,
    /// Stands still until moved: deterministic tests.
    Manual(Arc<Mutex<DateTime<Utc>>>),
    /// Runs `factor` times faster than real time from `virtual_start`.
    Accelerated {
        real_start: Instant,
        virtual_start: DateTime<Utc>,
        factor: u32,
    },
}

impl Clock {
    pub fn manual(at: DateTime<Utc>) -> Self {
        Clock::Manual(Arc::new(Mutex::new(at)))
    }

    pub fn accelerated(virtual_start: DateTime<Utc>, factor: u32) -> Self {
        Clock::Accelerated {
            real_start: Instant::now(),
            virtual_start,
            factor: factor.max(1),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Manual(t) => *t.lock().expect("clock lock"),
            Clock::Accelerated {
                real_start,
                virtual_start,
                factor,
            } => {
                let real = real_start.elapsed();
                *virtual_start + Duration::from_std(real * *factor).unwrap_or(Duration::zero())
            }
        }
    }

    /// Moves a manual clock to `at`. No effect on other clocks.
    pub fn set(&self, at: DateTime<Utc>) {
        if let Clock::Manual(t) = self {
            *t.lock().expect("clock lock") = at;
        }
    }

    /// Moves a manual clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        if let Clock::Manual(t) = self {
            let mut g = t.lock().expect("clock lock");
            *g += by;
        }
    }

    /// How long to wait in real time for `d` to pass on this clock. A manual
    /// clock never moves by itself, so waiting on it is capped at a second.
    pub fn real_wait(&self, d: Duration) -> std::time::Duration {
        let d = d.to_std().unwrap_or_default();
        match self {
            Clock::System => d,
            Clock::Manual(_) => d.min(std::time::Duration::from_secs(1)),
            Clock::Accelerated { factor, .. } => d / *factor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let t0 = DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let c = Clock::manual(t0);
        assert_eq!(c.now(), t0);
        c.advance(Duration::hours(2));
        assert_eq!(c.now(), t0 + Duration::hours(2));
        let shared = c.clone();
        shared.set(t0);
        assert_eq!(c.now(), t0);
    }
}
