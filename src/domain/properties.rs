//! Property tests of the date and schedule rules: for any pregnancy, plan,
//! zone, window and trigger, the rules hold, not only for the examples the
//! unit tests pick.

use super::careplan::builtin_plans;
use super::dates::{PregnancyDates, MAX_GA_DAYS, MIN_GA_DAYS_AT_REGISTRATION, NAEGELE_DAYS};
use super::schedule::{local_date, SendWindow, Trigger, TriggerAnchor};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Timelike, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;

/// Zones with and without daylight saving, on both hemispheres.
const ZONES: &[Tz] = &[
    chrono_tz::Asia::Shanghai,
    chrono_tz::America::New_York,
    chrono_tz::Europe::London,
    chrono_tz::Australia::Sydney,
    chrono_tz::America::Sao_Paulo,
    chrono_tz::Africa::Nairobi,
];

fn date() -> impl Strategy<Value = NaiveDate> {
    // 2000-01-01 .. about 2080.
    (0i64..30_000).prop_map(|d| NaiveDate::from_ymd_opt(2000, 1, 1).unwrap() + Duration::days(d))
}

fn minute_of_day() -> impl Strategy<Value = NaiveTime> {
    (0u32..24 * 60).prop_map(|m| NaiveTime::from_hms_opt(m / 60, m % 60, 0).unwrap())
}

/// Send windows at least three hours wide (a DST gap moves a time by one).
fn window() -> impl Strategy<Value = SendWindow> {
    (0u32..18 * 60, 180u32..24 * 60).prop_filter_map("window ends before midnight", |(s, w)| {
        let e = s + w;
        (e < 24 * 60).then(|| SendWindow {
            start: NaiveTime::from_hms_opt(s / 60, s % 60, 0).unwrap(),
            end: NaiveTime::from_hms_opt(e / 60, e % 60, 0).unwrap(),
        })
    })
}

fn anchor() -> impl Strategy<Value = TriggerAnchor> {
    prop_oneof![
        Just(TriggerAnchor::VisitDue),
        Just(TriggerAnchor::VisitWindowStart),
        Just(TriggerAnchor::VisitWindowEnd),
        Just(TriggerAnchor::Lmp),
        Just(TriggerAnchor::Delivery),
    ]
}

fn trigger() -> impl Strategy<Value = Trigger> {
    (
        anchor(),
        -30i64..30,
        minute_of_day(),
        1i64..96,
        proptest::option::of(0u8..7),
    )
        .prop_map(|(anchor, offset_days, at, h, wd)| Trigger {
            anchor,
            offset_days,
            at,
            grace: Duration::hours(h),
            weekday: wd.map(|d| chrono::Weekday::try_from(d).unwrap()),
        })
}

fn zone() -> impl Strategy<Value = Tz> {
    (0..ZONES.len()).prop_map(|i| ZONES[i])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn lmp_and_edd_are_always_280_days_apart(d in date()) {
        let a = PregnancyDates::from_lmp(d);
        let b = PregnancyDates::from_edd(d);
        prop_assert_eq!(a.edd - a.lmp, Duration::days(NAEGELE_DAYS));
        prop_assert_eq!(b.edd - b.lmp, Duration::days(NAEGELE_DAYS));
        prop_assert_eq!(PregnancyDates::parse(Some(a.lmp), None).unwrap(), a);
        prop_assert_eq!(PregnancyDates::parse(None, Some(b.edd)).unwrap(), b);
    }

    #[test]
    fn gestational_age_is_weeks_and_days_since_lmp(lmp in date(), k in 0i64..400) {
        let ga = PregnancyDates::from_lmp(lmp).gestational_age(lmp + Duration::days(k));
        prop_assert_eq!(ga.weeks() * 7 + ga.days(), k);
        prop_assert!((0..7).contains(&ga.days()));
    }

    /// Any built-in plan, any pregnancy registered at a plausible age:
    /// visits come in order, inside their windows, inside the pregnancy,
    /// and none whose window closed before registration.
    #[test]
    fn visits_are_ordered_windowed_and_plausible(
        lmp in date(),
        ga in MIN_GA_DAYS_AT_REGISTRATION..MAX_GA_DAYS,
        plan in 0usize..3,
    ) {
        let plan = &builtin_plans()[plan];
        let dates = PregnancyDates::from_lmp(lmp);
        let registered = lmp + Duration::days(ga);
        prop_assert!(dates.check_registration(registered).is_ok());
        let visits = plan.prenatal_visits(&dates, registered);
        for v in &visits {
            prop_assert!(v.window_start <= v.due && v.due <= v.window_end, "{:?}", v);
            prop_assert!(v.window_end >= registered, "{:?} closed before {}", v, registered);
            prop_assert!(v.due >= lmp && v.due <= lmp + Duration::days(MAX_GA_DAYS), "{:?}", v);
        }
        for pair in visits.windows(2) {
            prop_assert!(pair[0].due <= pair[1].due, "{:?}", pair);
        }
        let keys: std::collections::HashSet<_> = visits.iter().map(|v| &v.key).collect();
        prop_assert_eq!(keys.len(), visits.len(), "contact keys repeat");
        let delivered = lmp + Duration::days(ga.max(28 * 7));
        for v in plan.postpartum_visits(delivered, None, true) {
            prop_assert!(v.window_start <= v.due && v.due <= v.window_end && v.due >= delivered, "{:?}", v);
        }
    }

    /// Whatever the zone (daylight saving included), window and trigger, a
    /// message is sent inside the window, and only while worth sending.
    #[test]
    fn send_times_fall_inside_the_window(
        tz in zone(),
        w in window(),
        t in trigger(),
        d in date(),
    ) {
        let at = t.send_at(d, tz, &w);
        let local = at.with_timezone(&tz).time();
        prop_assert!(w.contains(local), "{} local {} outside {:?}", at, local, w);
        prop_assert_eq!(at.second(), 0);
        if let Some(f) = t.firing(d, tz, &w) {
            prop_assert_eq!(f.send_at, at);
            prop_assert!(f.send_at < f.expires_at);
        }
        // Later anchor dates never fire earlier; a weekday series goes on its day.
        prop_assert!(t.send_at(d + Duration::days(1), tz, &w) >= at);
        if t.weekday.is_none() {
            prop_assert!(t.send_at(d + Duration::days(1), tz, &w) > at);
        }
        if let Some(wd) = t.weekday {
            use chrono::Datelike;
            let local_day = at.with_timezone(&tz).date_naive();
            // The window may push a late time to the next morning.
            prop_assert!(local_day.weekday() == wd || local_day.pred_opt().unwrap().weekday() == wd);
        }
    }

    /// The planner's scan bounds are exact: the anchor dates it reads for
    /// an interval are the ones whose messages fall in it, no more, no fewer.
    #[test]
    fn anchor_ranges_are_exact(
        tz in zone(),
        w in window(),
        t in trigger(),
        start in date(),
        from_min in 0i64..24 * 60,
        len_min in 1i64..4 * 24 * 60,
    ) {
        let from: DateTime<Utc> = start.and_hms_opt(0, 0, 0).unwrap().and_utc() + Duration::minutes(from_min);
        let to = from + Duration::minutes(len_min);
        let (lo, hi) = t.anchor_range(tz, &w, from, to);
        let first = local_date(tz, from) - Duration::days(t.offset_days + 12);
        for k in 0..(len_min / (24 * 60) + 20) {
            let d = first + Duration::days(k);
            let inside = {
                let s = t.send_at(d, tz, &w);
                from < s && s <= to
            };
            prop_assert_eq!(inside, lo <= d && d <= hi, "anchor {} for ({}, {}]: range {}..{}", d, from, to, lo, hi);
        }
    }
}
