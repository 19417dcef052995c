//! When a message goes out: campaign triggers, the daily send window, and
//! local times in a named IANA zone turned into UTC instants.

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The hours of the day during which messages may go out (local time),
/// `start` inclusive, `end` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendWindow {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl Default for SendWindow {
    fn default() -> Self {
        Self {
            start: NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(20, 0, 0).unwrap(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("send window must look like 08:00-20:00 with start before end: {0}")]
pub struct SendWindowError(String);

impl FromStr for SendWindow {
    type Err = SendWindowError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || SendWindowError(s.to_string());
        let (a, b) = s.split_once('-').ok_or_else(err)?;
        let start = parse_hhmm(a).ok_or_else(err)?;
        let end = parse_hhmm(b).ok_or_else(err)?;
        if start >= end {
            return Err(err());
        }
        Ok(Self { start, end })
    }
}

impl fmt::Display for SendWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}",
            self.start.format("%H:%M"),
            self.end.format("%H:%M")
        )
    }
}

impl Serialize for SendWindow {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SendWindow {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

pub fn parse_hhmm(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M").ok()
}

impl SendWindow {
    pub fn contains(&self, t: NaiveTime) -> bool {
        self.start <= t && t < self.end
    }

    /// Moves a local moment into the window: before it opens -> when it
    /// opens that day; at or after it closes -> when it opens the next day.
    pub fn adjust(&self, local: NaiveDateTime) -> NaiveDateTime {
        let t = local.time();
        if t < self.start {
            local.date().and_time(self.start)
        } else if t >= self.end {
            (local.date() + Duration::days(1)).and_time(self.start)
        } else {
            local
        }
    }

    /// Whether `now` is inside the window in zone `tz`.
    pub fn is_open(&self, tz: Tz, now: DateTime<Utc>) -> bool {
        self.contains(now.with_timezone(&tz).time())
    }

    /// The first instant at or after `now` when the window is open.
    pub fn next_open(&self, tz: Tz, now: DateTime<Utc>) -> DateTime<Utc> {
        let local = now.with_timezone(&tz).naive_local();
        let adjusted = self.adjust(local);
        if adjusted == local {
            now
        } else {
            local_to_utc(tz, adjusted)
        }
    }
}

/// A local wall-clock time in zone `tz` as a UTC instant. In a DST gap the
/// time moves forward by the gap; when ambiguous the earlier instant is used.
pub fn local_to_utc(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
        // Skipped by a daylight-saving change: the first valid minute after.
        LocalResult::None => local_to_utc(tz, local + Duration::minutes(1)),
    }
}

/// Midnight at the start of `date` in `tz`.
pub fn start_of_day(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    local_to_utc(tz, date.and_time(NaiveTime::MIN))
}

pub fn local_date(tz: Tz, t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&tz).date_naive()
}

/// What a campaign step is counted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerAnchor {
    /// A visit's due date.
    VisitDue,
    /// The first day of a visit's window.
    VisitWindowStart,
    /// The last day of a visit's window: steps after it are follow-ups of a
    /// missed visit, planned only while the visit is still not done.
    VisitWindowEnd,
    /// The pregnancy's last menstrual period.
    Lmp,
    /// The delivery date.
    Delivery,
}

impl TriggerAnchor {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::VisitDue => "visit_due",
            Self::VisitWindowStart => "visit_window_start",
            Self::VisitWindowEnd => "visit_window_end",
            Self::Lmp => "lmp",
            Self::Delivery => "delivery",
        }
    }

    pub fn is_visit(&self) -> bool {
        matches!(
            self,
            Self::VisitDue | Self::VisitWindowStart | Self::VisitWindowEnd
        )
    }
}

impl FromStr for TriggerAnchor {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "visit_due" => Self::VisitDue,
            "visit_window_start" => Self::VisitWindowStart,
            "visit_window_end" => Self::VisitWindowEnd,
            "lmp" => Self::Lmp,
            "delivery" => Self::Delivery,
            other => return Err(format!("unknown trigger anchor {other:?}")),
        })
    }
}

/// A campaign step's timing: `offset_days` after (negative: before) its
/// anchor date, at local time `at`, going stale `grace` after it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trigger {
    pub anchor: TriggerAnchor,
    pub offset_days: i64,
    pub at: NaiveTime,
    pub grace: Duration,
    /// Series: the first such day of the week on or after anchor + offset.
    pub weekday: Option<chrono::Weekday>,
}

/// When one message fires and when it stops being worth sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Firing {
    pub send_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Trigger {
    /// The firing for an anchor date, in zone `tz` and inside `window`.
    /// `None` when the message would already be stale when it fires (for
    /// example a same-day reminder pushed past the check-up by quiet hours).
    pub fn firing(&self, anchor_date: NaiveDate, tz: Tz, window: &SendWindow) -> Option<Firing> {
        let send_at = self.send_at(anchor_date, tz, window);
        let mut expires_at = send_at + self.grace;
        // A reminder for a visit (sent before or on its day) is pointless
        // once that day is over.
        if matches!(
            self.anchor,
            TriggerAnchor::VisitDue | TriggerAnchor::VisitWindowStart
        ) && self.offset_days <= 0
        {
            expires_at = expires_at.min(start_of_day(tz, anchor_date + Duration::days(1)));
        }
        (send_at < expires_at).then_some(Firing {
            send_at,
            expires_at,
        })
    }

    /// When the message for an anchor date is sent, inside the window.
    pub fn send_at(&self, anchor_date: NaiveDate, tz: Tz, window: &SendWindow) -> DateTime<Utc> {
        let mut day = anchor_date + Duration::days(self.offset_days);
        if let Some(w) = self.weekday {
            use chrono::Datelike;
            let ahead = (w.num_days_from_monday() + 7 - day.weekday().num_days_from_monday()) % 7;
            day += Duration::days(i64::from(ahead));
        }
        let local = day.and_time(self.at);
        local_to_utc(tz, window.adjust(local))
    }

    /// The anchor dates whose messages are sent in the instants `(from,
    /// to]`, exactly: the first and last such date (first > last when there
    /// are none). Send times never fall as the anchor date grows (a weekday
    /// holds up to seven anchor dates on one day), so a short walk from an
    /// estimate finds both ends.
    pub fn anchor_range(
        &self,
        tz: Tz,
        window: &SendWindow,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> (NaiveDate, NaiveDate) {
        let offset = Duration::days(self.offset_days);
        let mut lo = local_date(tz, from) - offset - Duration::days(2 + 6);
        while self.send_at(lo, tz, window) <= from {
            lo += Duration::days(1);
        }
        let mut hi = local_date(tz, to) - offset + Duration::days(1);
        while self.send_at(hi, tz, window) > to {
            hi -= Duration::days(1);
        }
        (lo, hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }
    fn t(s: &str) -> NaiveTime {
        parse_hhmm(s).unwrap()
    }
    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn window_parses_and_refuses_nonsense() {
        let w: SendWindow = "08:00-20:00".parse().unwrap();
        assert_eq!(w, SendWindow::default());
        assert!("20:00-08:00".parse::<SendWindow>().is_err());
        assert!("8-20".parse::<SendWindow>().is_err());
    }

    #[test]
    fn quiet_hours_move_to_next_morning() {
        let w = SendWindow::default();
        let late = d("2026-03-01").and_time(t("22:00"));
        assert_eq!(w.adjust(late), d("2026-03-02").and_time(t("08:00")));
        let early = d("2026-03-01").and_time(t("06:30"));
        assert_eq!(w.adjust(early), d("2026-03-01").and_time(t("08:00")));
        let fine = d("2026-03-01").and_time(t("09:00"));
        assert_eq!(w.adjust(fine), fine);
    }

    #[test]
    fn local_times_use_the_named_zone() {
        let sh: Tz = "Asia/Shanghai".parse().unwrap();
        assert_eq!(
            local_to_utc(sh, d("2026-03-01").and_time(t("09:00"))),
            utc("2026-03-01T01:00:00Z")
        );
        // A zone with DST: 02:30 on the spring-forward day does not exist;
        // the next valid time is 03:00 EDT.
        let ny: Tz = "America/New_York".parse().unwrap();
        assert_eq!(
            local_to_utc(ny, d("2026-03-08").and_time(t("02:30"))),
            utc("2026-03-08T07:00:00Z")
        );
        // 01:30 on the fall-back night happens twice: the first one.
        assert_eq!(
            local_to_utc(ny, d("2026-11-01").and_time(t("01:30"))),
            utc("2026-11-01T05:30:00Z")
        );
        assert_eq!(
            local_to_utc(ny, d("2026-07-01").and_time(t("09:00"))),
            utc("2026-07-01T13:00:00Z")
        );
    }

    #[test]
    fn same_day_reminder_pushed_past_its_day_is_never_planned() {
        let sh: Tz = "Asia/Shanghai".parse().unwrap();
        let trig = Trigger {
            anchor: TriggerAnchor::VisitDue,
            offset_days: 0,
            at: t("22:00"),
            grace: Duration::hours(12),
            weekday: None,
        };
        assert_eq!(
            trig.firing(d("2026-03-01"), sh, &SendWindow::default()),
            None
        );
        let before = Trigger {
            offset_days: -1,
            ..trig
        };
        let f = before
            .firing(d("2026-03-01"), sh, &SendWindow::default())
            .unwrap();
        assert_eq!(f.send_at, utc("2026-03-01T00:00:00Z")); // 08:00 local on the day
        assert_eq!(f.expires_at, utc("2026-03-01T12:00:00Z")); // 12 h grace
    }

    #[test]
    fn anchor_range_is_exact() {
        let sh: Tz = "Asia/Shanghai".parse().unwrap();
        let w = SendWindow::default();
        let at = |h| Trigger {
            anchor: TriggerAnchor::VisitDue,
            offset_days: -3,
            at: t(h),
            grace: Duration::hours(24),
            weekday: None,
        };
        // One local day, 2026-03-10.
        let (from, to) = (utc("2026-03-09T16:00:00Z"), utc("2026-03-10T16:00:00Z"));
        assert_eq!(
            at("09:00").anchor_range(sh, &w, from, to),
            (d("2026-03-13"), d("2026-03-13"))
        );
        // 22:00 is pushed to 08:00 the next day: the anchor one day earlier.
        assert_eq!(
            at("22:00").anchor_range(sh, &w, from, to),
            (d("2026-03-12"), d("2026-03-12"))
        );
        // Half an hour without a firing: an empty range.
        let (a, b) = at("09:00").anchor_range(
            sh,
            &w,
            utc("2026-03-10T02:00:00Z"),
            utc("2026-03-10T02:30:00Z"),
        );
        assert!(a > b);
    }

    #[test]
    fn window_open_and_next_open() {
        let sh: Tz = "Asia/Shanghai".parse().unwrap();
        let w = SendWindow::default();
        assert!(w.is_open(sh, utc("2026-03-01T01:00:00Z")));
        assert!(!w.is_open(sh, utc("2026-03-01T13:00:00Z"))); // 21:00 local
        assert_eq!(
            w.next_open(sh, utc("2026-03-01T13:00:00Z")),
            utc("2026-03-02T00:00:00Z")
        );
    }
}
