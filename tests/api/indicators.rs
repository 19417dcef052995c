//! The figures a county signs, against counts made here by hand from what
//! the test itself recorded: a small county (two townships, four villages,
//! thirty women) lived through a year of simulated time, with early and
//! late registrations, check-ups kept and missed and extra, births live,
//! twin and still, losses, discharges, postpartum visits on time and late,
//! 42-day checks, the officers' home visits, opt-outs and erasures.
//!
//! The national definitions are `shared/domain.md` "How the figures are
//! defined" (全国妇幼卫生调查制度): each rate counts women who gave birth in
//! the period and divides by live births in the period (活产数); early
//! registration needs registration AND the first check-up before 13
//! weeks; the postpartum visit is the basic public health service
//! standard's home visit within 7 days of discharge.

use crate::helpers::*;
use careminder::domain::Period;
use careminder::services::care::BirthInput;
use careminder::services::reports::{IndicatorRow, Scope, TableRow};
use chrono::{Duration, NaiveDate};
use std::collections::BTreeMap;

fn d(s: &str) -> NaiveDate {
    careminder::domain::dates::parse_date(s).unwrap()
}

const VILLAGES: [(&str, &str); 4] = [("V11", "T1"), ("V12", "T1"), ("V21", "T2"), ("V22", "T2")];

/// How one woman's pregnancy ends.
#[derive(Clone, Copy, PartialEq)]
enum End {
    /// Babies born alive (0: a stillbirth), on this gestational day.
    Birth { live_born: i64, ga: i64 },
    /// A loss on this gestational day.
    Loss { ga: i64 },
}

/// One woman of the county, as the test lives her story.
#[derive(Clone)]
struct Story {
    name: String,
    phone: String,
    village: &'static str,
    township: &'static str,
    lmp: NaiveDate,
    registered: NaiveDate,
    /// Check-ups attended: (contact, day).
    checkups: Vec<(&'static str, NaiveDate)>,
    end: End,
    /// Days from the birth to her discharge, when recorded.
    discharged_after: Option<i64>,
    /// Days from discharge (the birth when none) to her postpartum visit.
    visit_after: Option<i64>,
    /// Days from the birth to her 42-day check.
    check_after: Option<i64>,
    erased_on: Option<NaiveDate>,
    opted_out_on: Option<NaiveDate>,
}

impl Story {
    fn end_day(&self) -> NaiveDate {
        match self.end {
            End::Birth { ga, .. } | End::Loss { ga } => self.lmp + Duration::days(ga),
        }
    }
    fn born(&self) -> Option<(NaiveDate, i64)> {
        match self.end {
            End::Birth { ga, live_born } => Some((self.lmp + Duration::days(ga), live_born)),
            End::Loss { .. } => None,
        }
    }
    /// The day the birth or loss is recorded: a birth once she left hospital.
    fn recorded_on(&self) -> NaiveDate {
        self.discharged().unwrap_or(self.end_day())
    }
    fn discharged(&self) -> Option<NaiveDate> {
        let (b, _) = self.born()?;
        Some(b + Duration::days(self.discharged_after.unwrap_or(0)))
    }
    fn visit_on(&self) -> Option<NaiveDate> {
        Some(self.discharged()? + Duration::days(self.visit_after?))
    }
    fn check_on(&self) -> Option<NaiveDate> {
        Some(self.born()?.0 + Duration::days(self.check_after?))
    }
    /// The officer's monthly home visits: every 30 days from registration
    /// while due by the expected date, each period running 30 days from
    /// its date (config `[home_visits]`, the defaults); after a birth, one
    /// more from 30 days after it. (key, first day, last day).
    fn home_visits(&self) -> Vec<(String, NaiveDate, NaiveDate)> {
        let edd = self.lmp + Duration::days(280);
        let mut v = vec![];
        let mut k = 1;
        while self.registered + Duration::days(30 * k) <= edd {
            let due = self.registered + Duration::days(30 * k);
            v.push((format!("home-{k}"), due, due + Duration::days(29)));
            k += 1;
        }
        if let Some((b, _)) = self.born() {
            let due = b + Duration::days(30);
            v.push(("home-pp-1".into(), due, due + Duration::days(29)));
        }
        v
    }
    /// The home visits the officer records: the first on its fourth day,
    /// the second two days after its period (late) for every other woman,
    /// and the one after the birth on time for every third: (key, day).
    fn home_visits_done(&self, i: usize) -> Vec<(String, NaiveDate)> {
        let end = self.end_day();
        let mut out = vec![];
        for (key, from, to) in self.home_visits() {
            let day = match key.as_str() {
                "home-1" => from + Duration::days(3),
                "home-2" if i % 2 == 0 => to + Duration::days(2),
                "home-pp-1" if i % 3 == 1 => from + Duration::days(2),
                _ => continue,
            };
            if key.starts_with("home-pp") || day < end {
                out.push((key, day));
            }
        }
        out
    }
}

/// Thirty women, deterministic and varied: gestational age at
/// registration 60, 75, 88 (early), 95 (13+4) or 112 days (16+0); four
/// patterns of check-ups (all five; four; the first one late plus an extra
/// one; none); births between March and September 2027, three stillbirths,
/// one pair of twins, two losses; discharges recorded for a third;
/// postpartum visits on days 2, 7, 8 (late), never, 5 after discharge;
/// most 42-day checks; two opt-outs, two erasures.
fn county() -> Vec<Story> {
    let base = d("2026-07-01");
    (0..30usize)
        .map(|i| {
            let lmp = base + Duration::days(5 * i as i64);
            let reg_ga = [60, 75, 88, 95, 112][i % 5];
            let registered = lmp + Duration::days(reg_ga);
            let at = |ga: i64| lmp + Duration::days(ga);
            let first = reg_ga + 2;
            let checkups = match i % 4 {
                0 => vec![
                    ("anc1", at(first)),
                    ("anc2", at(first.max(112) + 4)),
                    ("anc3", at(150)),
                    ("anc4", at(200)),
                    ("anc5", at(262)),
                ],
                1 => vec![
                    ("anc1", at(first)),
                    ("anc2", at(first.max(112) + 6)),
                    ("anc3", at(152)),
                    ("anc4", at(205)),
                ],
                2 => vec![
                    // Her first check-up after 13 weeks, even if registered before.
                    ("anc1", at(first.max(95))),
                    ("anc2", at(first.max(112) + 8)),
                    ("anc3", at(155)),
                    ("anc4", at(210)),
                    ("extra", at(230)),
                    ("anc5", at(263)),
                ],
                _ => vec![],
            };
            let end = match i {
                7 | 17 | 27 => End::Birth {
                    live_born: 0,
                    ga: 266 + (i as i64 % 3) * 7,
                },
                11 => End::Birth {
                    live_born: 2,
                    ga: 259,
                },
                13 => End::Loss { ga: 150 },
                24 => End::Loss { ga: reg_ga + 20 },
                _ => End::Birth {
                    live_born: 1,
                    ga: 266 + (i as i64 % 3) * 7,
                },
            };
            // A check-up after the end never happened.
            let end_day = match end {
                End::Birth { ga, .. } | End::Loss { ga } => at(ga),
            };
            let checkups = checkups
                .into_iter()
                .filter(|(_, on)| *on < end_day)
                .collect();
            let (village, township) = VILLAGES[i % 4];
            Story {
                name: format!("妇女{i:02}"),
                phone: format!("1380000{i:04}"),
                village,
                township,
                lmp,
                registered,
                checkups,
                end,
                discharged_after: (i % 3 == 0).then_some(3),
                visit_after: [Some(2), Some(7), Some(8), None, Some(5)][i % 5],
                check_after: (i % 6 != 5).then_some(43),
                erased_on: match i {
                    4 => Some(d("2027-07-15")),
                    14 => Some(d("2027-09-10")),
                    _ => None,
                },
                opted_out_on: match i {
                    9 => Some(d("2027-05-10")),
                    14 => Some(d("2027-07-05")),
                    _ => None,
                },
            }
        })
        .collect()
}

/// What happens on one day.
enum Event {
    Enroll,
    Checkup(&'static str),
    HomeVisit(String),
    Birth,
    Loss,
    PostpartumVisit,
    Check42,
    OptOut,
    Erase,
}

fn events(stories: &[Story]) -> BTreeMap<NaiveDate, Vec<(usize, Event)>> {
    let mut by: BTreeMap<NaiveDate, Vec<(usize, Event)>> = BTreeMap::new();
    let mut at = |day: NaiveDate, i: usize, e: Event| by.entry(day).or_default().push((i, e));
    for (i, s) in stories.iter().enumerate() {
        at(s.registered, i, Event::Enroll);
        for (c, on) in &s.checkups {
            at(*on, i, Event::Checkup(c));
        }
        for (key, on) in s.home_visits_done(i) {
            at(on, i, Event::HomeVisit(key));
        }
        match s.end {
            // A birth is recorded once she has left hospital.
            End::Birth { .. } => at(s.discharged().unwrap(), i, Event::Birth),
            End::Loss { .. } => at(s.end_day(), i, Event::Loss),
        }
        if let Some(on) = s.visit_on() {
            at(on, i, Event::PostpartumVisit);
        }
        if let Some(on) = s.check_on() {
            at(on, i, Event::Check42);
        }
        if let Some(on) = s.opted_out_on {
            at(on, i, Event::OptOut);
        }
        if let Some(on) = s.erased_on {
            at(on, i, Event::Erase);
        }
    }
    by
}

/// The county as the app holds it, lived day by day.
struct County {
    t: TestApp,
    stories: Vec<Story>,
    ids: Vec<i64>,
    by_day: BTreeMap<NaiveDate, Vec<(usize, Event)>>,
    /// The last day lived.
    day: NaiveDate,
}

impl County {
    async fn new() -> County {
        let t = spawn_app_with(|_| {}, "2026-08-01 12:00").await;
        for (v, tw) in VILLAGES {
            let n = &v[1..];
            staff(
                &t,
                &format!("{v}-O1"),
                &format!("137000000{n}"),
                "officer",
                Some(v),
                tw,
            )
            .await;
        }
        staff(&t, "T1-S", "13600000001", "supervisor", None, "T1").await;
        staff(&t, "T2-S", "13600000002", "supervisor", None, "T2").await;
        let stories = county();
        let by_day = events(&stories);
        County {
            t,
            ids: vec![0; stories.len()],
            stories,
            by_day,
            day: d("2026-07-31"),
        }
    }

    /// Lives every day up to `until`: the day's events at 11:00, a tick at 12:00.
    async fn live_until(&mut self, until: &str) {
        let until = d(until);
        while self.day < until {
            self.day += Duration::days(1);
            let day = self.day;
            self.t.at(&format!("{day} 11:00"));
            for (i, e) in self.by_day.remove(&day).unwrap_or_default() {
                self.act(i, e, day).await;
            }
            self.t.at(&format!("{day} 12:00"));
            self.t.tick().await;
        }
    }

    async fn act(&mut self, i: usize, e: Event, day: NaiveDate) {
        let s = self.stories[i].clone();
        let care = &self.t.app.care;
        let on = day.to_string();
        let w = self.ids[i];
        let visit = |c: String| async move {
            care.record_visit(w, Some(&c), Some(&on), "admin", None, None)
                .await
                .unwrap_or_else(|e| panic!("woman {i} {c} on {day}: {e}"));
        };
        match e {
            Event::Enroll => {
                let mut input = woman(&s.name, &s.phone, &s.lmp.to_string());
                input.village = Some(s.village.into());
                input.officer = Some(format!("{}-O1", s.village));
                self.ids[i] = care
                    .enroll(&input, "test", "test")
                    .await
                    .unwrap()
                    .woman_id();
            }
            Event::Checkup(c) => visit(c.to_string()).await,
            Event::HomeVisit(key) => visit(key).await,
            Event::PostpartumVisit => visit("pnc-home".into()).await,
            Event::Check42 => visit("pnc-42d".into()).await,
            Event::Birth => {
                let (_, live_born) = s.born().unwrap();
                let b = BirthInput {
                    on: s.end_day().to_string(),
                    place: Some("县医院".into()),
                    live_birth: live_born > 0,
                    live_born: Some(live_born),
                    discharged_on: s
                        .discharged_after
                        .map(|_| s.discharged().unwrap().to_string()),
                };
                care.record_birth(w, &b, "admin").await.unwrap();
            }
            Event::Loss => {
                let pid = self
                    .t
                    .app
                    .store
                    .current_pregnancy(w)
                    .await
                    .unwrap()
                    .unwrap();
                care.end_pregnancy(pid, "admin").await.unwrap();
            }
            Event::OptOut => {
                self.t
                    .app
                    .consents
                    .opt_out(w, careminder::services::consent::Via::Cli, "test")
                    .await
                    .unwrap();
            }
            Event::Erase => {
                care.erase_woman(w, "admin").await.unwrap();
            }
        }
    }
}

/// (indicator, level, township, village, officer) -> (numerator, denominator, not yet due).
type Expected = BTreeMap<(String, String, String, String, String), (i64, i64, i64)>;

fn add(e: &mut Expected, ind: &str, s: &Story, by_officer: bool, n: (i64, i64, i64)) {
    let officer = format!("{}-O1", s.village);
    let keys: Vec<(&str, &str, &str, &str)> = if by_officer {
        vec![("officer", s.township, "", &officer)]
    } else {
        vec![
            ("county", "", "", ""),
            ("township", s.township, "", ""),
            ("village", s.township, s.village, ""),
        ]
    };
    for (l, t, v, o) in keys {
        let k = (ind.into(), l.into(), t.into(), v.into(), o.into());
        let x = e.entry(k).or_default();
        x.0 += n.0;
        x.1 += n.1;
        x.2 += n.2;
    }
}

/// Every figure counted by hand from the stories, for the days
/// `[from, to)` as of `today`.
fn by_hand(
    stories: &[Story],
    from: NaiveDate,
    to: NaiveDate,
    today: NaiveDate,
    reminders: &BTreeMap<usize, i64>,
    by_officer: bool,
) -> Expected {
    let mut e = Expected::new();
    let inside = |day: NaiveDate| day >= from && day < to;
    for (i, s) in stories.iter().enumerate() {
        let known = |day: Option<NaiveDate>| day.filter(|d| *d <= today);
        // National: women who gave birth in the period, over live births.
        let ended = s.recorded_on() <= today;
        if let Some((born, live)) = s.born().filter(|(b, _)| inside(*b) && ended) {
            let ga = |day: NaiveDate| (day - s.lmp).num_days();
            let done: Vec<NaiveDate> = s.checkups.iter().map(|(_, on)| *on).collect();
            let first = done.iter().min().copied();
            let early = ga(s.registered) < 91 && first.is_some_and(|f| ga(f) < 91);
            let discharged = s.discharged().unwrap();
            let visit_by = discharged + Duration::days(7);
            let visited = known(s.visit_on()).is_some_and(|v| v <= visit_by);
            // The national plan's 42-day check: days 42 to 49.
            let checked = known(s.check_on()).is_some();
            let judge = |met: bool, last: Option<NaiveDate>| match (met, last) {
                (true, _) => (1, 0),
                (false, Some(last)) if last >= today => (0, 1),
                _ => (0, 0),
            };
            let visit = judge(visited, Some(visit_by));
            let check = judge(checked, Some(born + Duration::days(49)));
            let system = if early && done.len() >= 5 && visit.0 == 1 && check.0 == 1 {
                (1, 0)
            } else if !early || done.len() < 5 || (visit == (0, 0)) || (check == (0, 0)) {
                (0, 0)
            } else {
                (0, 1)
            };
            for (ind, (met, nyd)) in [
                ("early_registration", judge(early, None)),
                ("antenatal_care", judge(!done.is_empty(), None)),
                ("five_checkups", judge(done.len() >= 5, None)),
                ("postpartum_visit_7d", visit),
                ("check_42d", check),
                ("systematic_management", system),
            ] {
                add(&mut e, ind, s, by_officer, (met, live, nyd * live));
            }
            // Nobody in this county was graded: no woman was high risk, and
            // none was graded by her first check-up (each woman counts once).
            for ind in ["high_risk_share", "graded_at_first_checkup"] {
                add(&mut e, ind, s, by_officer, (0, 1, 0));
            }
        }
        // careminder's own: the officer's home visits whose period ended
        // in the period (not cancelled by the birth or loss), on time, not
        // yet due.
        let done: BTreeMap<String, NaiveDate> = s.home_visits_done(i).into_iter().collect();
        for (key, start, last) in s.home_visits() {
            let done_on = known(done.get(&key).copied());
            let prenatal = !key.starts_with("home-pp");
            // At the birth or loss, an unrecorded visit whose period had not
            // ended is cancelled; one that had, stays missed.
            let recorded_before_end = done.get(&key).is_some_and(|d| *d < s.end_day());
            if prenatal && ended && last >= s.end_day() && !recorded_before_end {
                continue;
            }
            if !prenatal && !ended {
                continue;
            }
            let _ = start;
            if !inside(last) || (prenatal && s.registered > today) {
                continue;
            }
            let on_time = done_on.is_some_and(|d| d <= last);
            let nyd = done_on.is_none() && last >= today;
            add(
                &mut e,
                "home_visits_on_time",
                s,
                by_officer,
                (on_time as i64, 1, nyd as i64),
            );
        }
        // Reminders the gateway took in the period (the mock delivers each).
        if let Some(n) = reminders.get(&i) {
            add(&mut e, "reminders_delivered", s, by_officer, (*n, *n, 0));
        }
        // Opt-outs: women who consented (at registration) by the period's
        // end, not opted out or erased before it; those who opted out in it.
        let before = |day: Option<NaiveDate>| day.is_some_and(|d| d < from);
        if s.registered < to
            && s.registered <= today
            && !before(s.opted_out_on)
            && !before(s.erased_on)
        {
            let out = s.opted_out_on.is_some_and(|d| inside(d) && d <= today) as i64;
            add(&mut e, "opt_outs", s, by_officer, (out, 1, 0));
        }
    }
    e
}

/// The report's rows as the same map.
fn as_map(rows: &[IndicatorRow]) -> Expected {
    rows.iter()
        .map(|r| {
            (
                (
                    r.indicator.to_string(),
                    r.level.to_string(),
                    r.township.clone(),
                    r.village.clone(),
                    r.officer.clone(),
                ),
                (r.numerator, r.denominator, r.not_yet_due),
            )
        })
        .collect()
}

/// Reminders (messages of a campaign step) the mock took per woman, by
/// the local day it took them.
async fn reminders_taken(c: &County, from: NaiveDate, to: NaiveDate) -> BTreeMap<usize, i64> {
    let mut steps = std::collections::HashSet::new();
    for w in &c.ids {
        for m in c.t.outbox_of(*w).await {
            if m.step.is_some() {
                steps.insert(m.id);
            }
        }
    }
    let mut out = BTreeMap::new();
    for m in c.t.mock.sent() {
        let day = m.at.with_timezone(&c.t.app.config.timezone).date_naive();
        if day < from || day >= to || !steps.contains(&m.message.id) {
            continue;
        }
        if let Some(i) = c
            .stories
            .iter()
            .position(|s| m.message.to == format!("+86{}", s.phone))
        {
            *out.entry(i).or_default() += 1;
        }
    }
    out
}

/// A period as a report's query string.
fn query(p: Period) -> String {
    match p {
        Period::Quarter { .. } => format!("quarter={}", p.code()),
        Period::Year { year } => format!("year={year}"),
        Period::Days { from, to } => format!("from={from}&to={to}"),
    }
}

/// Checks the report, the API and the CSV for one period against the
/// counts by hand.
async fn check_period(c: &County, period: Period, label: &str) {
    let (from, to) = period.bounds();
    let today = c.day;
    let reminders = reminders_taken(c, from, to).await;
    let report =
        c.t.app
            .reports
            .indicators(period, &Scope::default())
            .await
            .unwrap();
    assert_eq!(report.as_of, today);

    assert_eq!(report.ended, to <= today, "{label}");
    let want = by_hand(&c.stories, from, to, today, &reminders, false);
    let got = as_map(&report.rows);
    for (k, v) in &want {
        assert_eq!(got.get(k), Some(v), "{label}: {k:?}");
    }
    for (k, v) in &got {
        if !want.contains_key(k) {
            assert_eq!(*v, (0, 0, 0), "{label}: {k:?} is not in the county's story");
        }
    }
    // The share leaves out what is not yet due.
    for r in &report.rows {
        let judged = r.denominator - r.not_yet_due;
        match r.share {
            Some(s) => assert!((s - r.numerator as f64 / judged as f64).abs() < 1e-9),
            None => assert_eq!(judged, 0, "{label}: {r:?}"),
        }
    }
    // Per officer, the same counts by her women.
    let officers =
        c.t.app
            .reports
            .indicators_by_officer(period, &Scope::default())
            .await
            .unwrap();
    let want = by_hand(&c.stories, from, to, today, &reminders, true);
    assert_eq!(as_map(&officers.rows), want, "{label}: per officer");
    // The API gives the same rows.
    let api: Vec<serde_json::Value> =
        c.t.client
            .get(c.t.url(&format!("/api/v1/reports/indicators?{}", query(period))))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(api.len(), report.rows.len(), "{label}");
    for (a, r) in api.iter().zip(&report.rows) {
        assert_eq!(a["indicator"], r.indicator);
        assert_eq!(a["numerator"], r.numerator);
        assert_eq!(a["denominator"], r.denominator);
        assert_eq!(a["not_yet_due"], r.not_yet_due);
    }
    // And the CSV: one byte-order mark, then a line per row.
    let csv = careminder::services::reports::to_csv(&report.rows, "zh-CN");
    assert!(csv.starts_with('\u{feff}') && !csv[3..].starts_with('\u{feff}'));
    let county_early = report
        .rows
        .iter()
        .find(|r| r.indicator == "early_registration" && r.level == "county")
        .unwrap();
    assert!(csv.contains(&format!(
        "early_registration,早孕建册率,国家指标,县,,,,{},{},{},",
        county_early.numerator, county_early.denominator, county_early.not_yet_due
    )));
    // The quarterly table: the same women, as counts.
    let table =
        c.t.app
            .reports
            .quarterly(period, &Scope::default(), false)
            .await
            .unwrap();
    let county_row = table.rows.iter().find(|r| r.level == "county").unwrap();
    let births: Vec<&Story> = c
        .stories
        .iter()
        .filter(|s| s.born().is_some_and(|(b, _)| b >= from && b < to) && s.recorded_on() <= today)
        .collect();
    assert_eq!(county_row.women_delivered, births.len() as i64, "{label}");
    assert_eq!(
        county_row.live_births,
        births.iter().map(|s| s.born().unwrap().1).sum::<i64>(),
        "{label}"
    );
    let national = |ind: &str| {
        report
            .rows
            .iter()
            .find(|r| r.indicator == ind && r.level == "county")
            .unwrap()
            .numerator
    };
    assert_eq!(county_row.early_registered, national("early_registration"));
    assert_eq!(county_row.five_checkups, national("five_checkups"));
    assert_eq!(
        county_row.postpartum_visited,
        national("postpartum_visit_7d")
    );
    assert_eq!(county_row.check_42d, national("check_42d"));
    assert_eq!(
        county_row.systematically_managed,
        national("systematic_management")
    );
    let townships: Vec<&TableRow> = table
        .rows
        .iter()
        .filter(|r| r.level == "township")
        .collect();
    assert_eq!(
        townships.iter().map(|r| r.women_delivered).sum::<i64>(),
        county_row.women_delivered
    );
}

#[tokio::test]
async fn a_small_countys_figures_match_counts_made_by_hand_for_closed_and_open_quarters() {
    let mut c = County::new().await;
    // Mid-August 2027: the second quarter is over (its births' 42-day
    // checks are all past), the third is running.
    c.live_until("2027-08-20").await;
    let q2 = Period::parse_quarter("2027Q2").unwrap();
    let q3 = Period::parse_quarter("2027Q3").unwrap();
    check_period(&c, q2, "2027Q2 closed").await;
    check_period(&c, q3, "2027Q3 open").await;
    // What is not yet due in the open quarter is counted apart, not as failed.
    let open =
        c.t.app
            .reports
            .indicators(q3, &Scope::default())
            .await
            .unwrap();
    let visit = open
        .rows
        .iter()
        .find(|r| r.indicator == "postpartum_visit_7d" && r.level == "county")
        .unwrap();
    assert!(visit.not_yet_due > 0, "{visit:?}");
    let closed_before =
        c.t.app
            .reports
            .indicators(q2, &Scope::default())
            .await
            .unwrap();
    // Into the winter: the third quarter closes; erasing a woman (14, in
    // September) changed no figure of a quarter before it.
    c.live_until("2027-11-20").await;
    check_period(&c, q3, "2027Q3 closed").await;
    check_period(&c, Period::Year { year: 2027 }, "reporting year 2027").await;
    let closed_after =
        c.t.app
            .reports
            .indicators(q2, &Scope::default())
            .await
            .unwrap();
    let national = |r: &IndicatorRow| r.national;
    assert_eq!(
        closed_before
            .rows
            .iter()
            .filter(|r| national(r))
            .collect::<Vec<_>>(),
        closed_after
            .rows
            .iter()
            .filter(|r| national(r))
            .collect::<Vec<_>>(),
        "a closed quarter's national figures do not move"
    );
    let opt_outs = |r: &careminder::services::reports::IndicatorReport| {
        r.rows
            .iter()
            .find(|x| x.indicator == "opt_outs" && x.level == "county")
            .map(|x| (x.numerator, x.denominator))
    };
    assert_eq!(opt_outs(&closed_before), opt_outs(&closed_after));
}
