//! The figures a county signs, for any period: the national maternal-care
//! indicators as the national reporting system defines them (each birth
//! in the period judged as of today; divided by live births), careminder's
//! own operational figures, each per village, township and the county (or
//! per officer, for supervisors), and the township's quarterly table: the
//! counts the national form asks for.
//!
//! A period that has not ended yet is counted as of today: what is not yet
//! due (a postpartum visit whose week is still running) is counted apart,
//! never as a failure, and a share is taken over what could be judged.

use super::AppError;
use crate::clock::Clock;
use crate::config::Config;
use crate::domain::indicators::{BirthRecordFacts, Per, Standing, INDICATORS};
use crate::domain::schedule::{local_date, start_of_day};
use crate::domain::Period;
use crate::store::{AreaKind, BirthFacts, OwnCount, Store};
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One indicator for one area.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IndicatorRow {
    /// county, township, village or officer.
    pub level: &'static str,
    pub township: String,
    /// The village ("" for a township's or the county's row).
    pub village: String,
    /// The officer, on rows per officer ("" on the others).
    pub officer: String,
    pub indicator: &'static str,
    pub label_zh: &'static str,
    pub label_en: &'static str,
    /// A national indicator, or one of careminder's own.
    pub national: bool,
    pub numerator: i64,
    pub denominator: i64,
    /// Counted in the denominator, but not yet due as of today: not a
    /// failure, and left out of the share.
    pub not_yet_due: i64,
    /// numerator / (denominator - not_yet_due); none when nothing could be
    /// judged.
    pub share: Option<f64>,
    pub target: f64,
    pub higher_is_better: bool,
    /// Whether the share meets the target; none when nothing was counted.
    pub met: Option<bool>,
}

/// The indicators for one period, as of a day.
#[derive(Debug, Clone, Serialize)]
pub struct IndicatorReport {
    pub period: Period,
    pub from: NaiveDate,
    /// The day after the last.
    pub to: NaiveDate,
    /// The day the report was counted: what is due after it is not yet due.
    pub as_of: NaiveDate,
    /// The period is over: its figures are final once nothing is not yet due.
    pub ended: bool,
    pub rows: Vec<IndicatorRow>,
}

/// One area's line of the quarterly table: the counts the national form
/// asks for (women who gave birth in the period).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct TableRow {
    /// county, township, village or officer.
    pub level: &'static str,
    pub township: String,
    pub village: String,
    pub officer: String,
    /// 产妇数: women who gave birth (a stillbirth included).
    pub women_delivered: i64,
    /// 活产数: babies born alive.
    pub live_births: i64,
    /// 早孕建册人数: registered, with a first check-up, before 13 weeks.
    pub early_registered: i64,
    /// 产前检查人数: at least one antenatal check-up.
    pub antenatal_any: i64,
    /// 产前检查≥5次人数.
    pub five_checkups: i64,
    /// 产后访视人数: visited within 7 days of discharge.
    pub postpartum_visited: i64,
    /// 产后42天健康检查人数.
    pub check_42d: i64,
    /// 系统管理人数: all four.
    pub systematically_managed: i64,
    /// Women whose postpartum visit is not yet due as of the day counted.
    pub postpartum_not_yet_due: i64,
    /// Women whose 42-day check is not yet due.
    pub check_42d_not_yet_due: i64,
    /// 高危产妇人数: graded orange, red or purple in the pregnancy.
    pub high_risk: i64,
    /// 高危产妇管理人数: of those, with a named case manager.
    pub high_risk_managed: i64,
}

/// The quarterly (or yearly) table of a township or the county.
#[derive(Debug, Clone, Serialize)]
pub struct QuarterlyTable {
    pub period: Period,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub as_of: NaiveDate,
    pub ended: bool,
    pub rows: Vec<TableRow>,
}

/// Which part of the county a report covers: all of it, or one
/// township, village or officer. Codes are checked: an area nobody is in
/// is refused, not shown as a table of zeros.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub township: Option<String>,
    pub village: Option<String>,
    pub officer: Option<String>,
}

impl Scope {
    /// Empty strings (a form's empty fields) are not given.
    pub fn new(township: Option<&str>, village: Option<&str>, officer: Option<&str>) -> Self {
        let given = |v: Option<&str>| {
            v.map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        Scope {
            township: given(township),
            village: given(village),
            officer: given(officer),
        }
    }

    fn holds(&self, township: &str, village: &str, officer: &str) -> bool {
        self.township.as_deref().is_none_or(|t| t == township)
            && self.village.as_deref().is_none_or(|v| v == village)
            && self.officer.as_deref().is_none_or(|o| o == officer)
    }

    /// Whether the report is of the whole county.
    fn whole(&self) -> bool {
        self.township.is_none() && self.village.is_none() && self.officer.is_none()
    }
}

#[derive(Clone)]
pub struct Reports {
    pub(crate) store: Store,
    pub(crate) config: Arc<Config>,
    pub(crate) clock: Clock,
}

/// Where a count goes: (level, township, village, officer).
type AreaKey = (&'static str, String, String, String);

#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    num: i64,
    den: i64,
    nyd: i64,
}

impl Reports {
    /// Today in the deployment's zone: the day reports are counted as of.
    pub fn today(&self) -> NaiveDate {
        local_date(self.config.timezone, self.clock.now())
    }

    /// Refuses a scope naming a township, village or officer nobody is in.
    pub async fn check_scope(&self, scope: &Scope) -> Result<(), AppError> {
        for (kind, code, what) in [
            (AreaKind::Township, &scope.township, "township"),
            (AreaKind::Village, &scope.village, "village"),
            (AreaKind::Officer, &scope.officer, "officer"),
        ] {
            if let Some(code) = code {
                if !self.store.area_exists(kind, code).await? {
                    return Err(AppError::Refused(format!(
                        "{what}: no {what} has the code {code:?}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Every indicator for `period` as of today: the county's, each
    /// township's and each village's (within `scope`).
    pub async fn indicators(
        &self,
        period: Period,
        scope: &Scope,
    ) -> Result<IndicatorReport, AppError> {
        self.indicator_report(period, scope, false).await
    }

    /// Every indicator for `period` per officer (her women, wherever they
    /// live), within `scope`: for a supervisor to see who needs help.
    pub async fn indicators_by_officer(
        &self,
        period: Period,
        scope: &Scope,
    ) -> Result<IndicatorReport, AppError> {
        self.indicator_report(period, scope, true).await
    }

    async fn indicator_report(
        &self,
        period: Period,
        scope: &Scope,
        by_officer: bool,
    ) -> Result<IndicatorReport, AppError> {
        self.check_scope(scope).await?;
        let (from, to) = period.bounds();
        let today = self.today();
        let tz = self.config.timezone;
        let births = self.store.birth_facts(from, to).await?;
        let own = self
            .store
            .own_figure_counts(
                from,
                to,
                start_of_day(tz, from),
                start_of_day(tz, to),
                today,
                self.config.risk.referral_follow_up_days,
            )
            .await?;
        let mut tallies: BTreeMap<(&'static str, AreaKey), Tally> = BTreeMap::new();
        let keys = |t: &str, v: &str, o: &str| -> Vec<AreaKey> {
            if by_officer {
                vec![("officer", t.into(), String::new(), o.into())]
            } else {
                let mut k = vec![];
                if scope.whole() {
                    k.push(("county", String::new(), String::new(), String::new()));
                }
                if scope.village.is_none() && scope.officer.is_none() {
                    k.push(("township", t.into(), String::new(), String::new()));
                }
                k.push(("village", t.into(), v.into(), String::new()));
                k
            }
        };
        for b in births
            .iter()
            .filter(|b| scope.holds(&b.township, &b.village, &b.officer))
        {
            let standing = self.facts(b).standing(today);
            for ind in INDICATORS.iter().filter(|i| i.per != Per::Own) {
                let Some(s) = standing.on(ind.key) else {
                    continue;
                };
                // What she adds below the line, as the definition counts.
                let weight = match ind.per {
                    Per::LiveBirths => b.live_born,
                    _ => 1,
                };
                for key in keys(&b.township, &b.village, &b.officer) {
                    let t = tallies.entry((ind.key, key)).or_default();
                    t.num += (s == Standing::Met) as i64;
                    t.den += weight;
                    if s == Standing::NotYetDue {
                        t.nyd += weight;
                    }
                }
            }
        }
        for c in own
            .iter()
            .filter(|c| scope.holds(&c.township, &c.village, &c.officer))
        {
            let OwnCount {
                indicator,
                numerator,
                denominator,
                not_yet_due,
                ..
            } = c;
            for key in keys(&c.township, &c.village, &c.officer) {
                let t = tallies.entry((indicator, key)).or_default();
                t.num += numerator;
                t.den += denominator;
                t.nyd += not_yet_due;
            }
        }
        let mut rows = vec![];
        for ind in INDICATORS {
            let target = self
                .config
                .indicators
                .targets
                .get(ind.key)
                .copied()
                .unwrap_or(ind.default_target);
            let row = |(level, township, village, officer): &AreaKey, t: Tally| {
                let judged = t.den - t.nyd;
                let share = (judged > 0).then(|| t.num as f64 / judged as f64);
                IndicatorRow {
                    level,
                    township: township.clone(),
                    village: village.clone(),
                    officer: officer.clone(),
                    indicator: ind.key,
                    label_zh: ind.zh,
                    label_en: ind.en,
                    national: ind.national,
                    numerator: t.num,
                    denominator: t.den,
                    not_yet_due: t.nyd,
                    share,
                    target,
                    higher_is_better: ind.higher_is_better,
                    met: share.map(|s| {
                        if ind.higher_is_better {
                            s >= target
                        } else {
                            s <= target
                        }
                    }),
                }
            };
            // The county's row even when nothing was counted: "no births
            // yet" reads from it, not from a missing line.
            let county: AreaKey = ("county", String::new(), String::new(), String::new());
            if scope.whole() && !by_officer && !tallies.contains_key(&(ind.key, county.clone())) {
                rows.push(row(&county, Tally::default()));
            }
            // County, then each township followed by its villages.
            let mut mine: Vec<_> = tallies.iter().filter(|((k, _), _)| *k == ind.key).collect();
            mine.sort_by_key(|((_, k), _)| order(k));
            for ((_, key), t) in mine {
                rows.push(row(key, *t));
            }
        }
        Ok(IndicatorReport {
            period,
            from,
            to,
            as_of: today,
            ended: period.ended(today),
            rows,
        })
    }

    /// The table a township files for `period` (a quarter, or the
    /// reporting year): per township and village (and the county), the
    /// counts the national form asks for, as of today. `by_officer`: per
    /// officer instead.
    pub async fn quarterly(
        &self,
        period: Period,
        scope: &Scope,
        by_officer: bool,
    ) -> Result<QuarterlyTable, AppError> {
        self.check_scope(scope).await?;
        let (from, to) = period.bounds();
        let today = self.today();
        let births = self.store.birth_facts(from, to).await?;
        let mut by: BTreeMap<AreaKey, TableRow> = BTreeMap::new();
        for b in births
            .iter()
            .filter(|b| scope.holds(&b.township, &b.village, &b.officer))
        {
            let s = self.facts(b).standing(today);
            let mut keys: Vec<AreaKey> = vec![];
            if by_officer {
                keys.push((
                    "officer",
                    b.township.clone(),
                    String::new(),
                    b.officer.clone(),
                ));
            } else {
                if scope.whole() {
                    keys.push(("county", String::new(), String::new(), String::new()));
                }
                if scope.village.is_none() && scope.officer.is_none() {
                    keys.push(("township", b.township.clone(), String::new(), String::new()));
                }
                keys.push((
                    "village",
                    b.township.clone(),
                    b.village.clone(),
                    String::new(),
                ));
            }
            let met = |x: Standing| (x == Standing::Met) as i64;
            let nyd = |x: Standing| (x == Standing::NotYetDue) as i64;
            for key in keys {
                let r = by.entry(key.clone()).or_insert_with(|| TableRow {
                    level: key.0,
                    township: key.1.clone(),
                    village: key.2.clone(),
                    officer: key.3.clone(),
                    ..Default::default()
                });
                r.women_delivered += 1;
                r.live_births += b.live_born;
                r.early_registered += met(s.early_registration);
                r.antenatal_any += met(s.antenatal_care);
                r.five_checkups += met(s.five_checkups);
                r.postpartum_visited += met(s.postpartum_visit);
                r.check_42d += met(s.check_42d);
                r.systematically_managed += met(s.systematic_management);
                r.postpartum_not_yet_due += nyd(s.postpartum_visit);
                r.check_42d_not_yet_due += nyd(s.check_42d);
                r.high_risk += met(s.high_risk_share);
                r.high_risk_managed += s.high_risk_managed.map(met).unwrap_or(0);
            }
        }
        let county: AreaKey = ("county", String::new(), String::new(), String::new());
        if scope.whole() && !by_officer {
            by.entry(county).or_insert_with(|| TableRow {
                level: "county",
                ..Default::default()
            });
        }
        let mut rows: Vec<TableRow> = by.into_values().collect();
        rows.sort_by(|a, b| {
            let key = |r: &TableRow| {
                (
                    r.level,
                    r.township.clone(),
                    r.village.clone(),
                    r.officer.clone(),
                )
            };
            order(&key(a)).cmp(&order(&key(b)))
        });
        Ok(QuarterlyTable {
            period,
            from,
            to,
            as_of: today,
            ended: period.ended(today),
            rows,
        })
    }
}

/// The county first, then each township followed by its villages; officers
/// by township and code.
fn order(k: &AreaKey) -> (u8, String, u8, String, String) {
    let (level, t, v, o) = k;
    match *level {
        "county" => (0, String::new(), 0, String::new(), String::new()),
        "township" => (1, t.clone(), 0, String::new(), String::new()),
        "village" => (1, t.clone(), 1, v.clone(), String::new()),
        _ => (2, t.clone(), 0, String::new(), o.clone()),
    }
}

impl Reports {
    /// One birth's facts as the definitions judge them; her delivery
    /// hospital's level read from `[risk.hospitals]`.
    fn facts(&self, b: &BirthFacts) -> BirthRecordFacts {
        let risk = &self.config.risk;
        let grade =
            crate::domain::risk::Grade::from_stored(b.risk_colour.as_deref(), b.risk_purple, None);
        let need = risk.delivery_level(&grade);
        let delivered_at_level = (need > 0 && !risk.hospitals.is_empty()).then(|| {
            b.birth_place
                .as_deref()
                .and_then(|p| risk.hospitals.get(p.trim()))
                .is_some_and(|level| *level >= need)
        });
        BirthRecordFacts {
            lmp: b.lmp,
            registered_on: b.registered_on,
            delivered_on: b.delivered_on,
            discharged_on: b.discharged_on,
            checkups: b.checkups,
            first_checkup_on: b.first_checkup_on,
            postpartum_visit_on: b.postpartum_visit_on,
            check_42d_on: b.check_42d_on,
            check_42d_window_end: b.check_42d_window_end,
            high_risk: b.ever_high_risk,
            case_managed: b.case_managed,
            first_assessed_on: b.first_assessed_on,
            delivered_at_level,
        }
    }
}

/// The quarterly table's columns: key, Chinese heading (as the national
/// form words it), English heading.
pub const TABLE_COLUMNS: &[(&str, &str, &str)] = &[
    ("women_delivered", "产妇数", "Women who gave birth"),
    ("live_births", "活产数", "Live births"),
    (
        "early_registered",
        "孕13周前建册并首次产检人数",
        "Registered with first check-up before 13 weeks",
    ),
    (
        "antenatal_any",
        "产前检查人数",
        "At least one antenatal check-up",
    ),
    (
        "five_checkups",
        "产前检查≥5次人数",
        "Five or more check-ups",
    ),
    (
        "postpartum_visited",
        "产后访视人数",
        "Postpartum visit within 7 days of discharge",
    ),
    ("check_42d", "产后42天健康检查人数", "42-day check"),
    (
        "systematically_managed",
        "系统管理人数",
        "Systematically managed",
    ),
    (
        "postpartum_not_yet_due",
        "产后访视未到期人数",
        "Postpartum visit not yet due",
    ),
    (
        "check_42d_not_yet_due",
        "42天检查未到期人数",
        "42-day check not yet due",
    ),
];

impl TableRow {
    /// The counts in [`TABLE_COLUMNS`]' order.
    pub fn counts(&self) -> [i64; 12] {
        [
            self.women_delivered,
            self.live_births,
            self.early_registered,
            self.antenatal_any,
            self.five_checkups,
            self.postpartum_visited,
            self.check_42d,
            self.systematically_managed,
            self.postpartum_not_yet_due,
            self.check_42d_not_yet_due,
            self.high_risk,
            self.high_risk_managed,
        ]
    }

    /// Its area in words, in a language.
    pub fn area(&self, lang: &str) -> (String, String) {
        match self.level {
            "county" => (
                if lang == "en" { "County" } else { "全县" }.to_string(),
                String::new(),
            ),
            "officer" => (self.township.clone(), self.officer.clone()),
            _ => (self.township.clone(), self.village.clone()),
        }
    }
}

/// A table's headings in a language.
fn table_headings(lang: &str, by_officer: bool) -> Vec<&'static str> {
    let zh = lang != "en";
    let mut h = vec![
        if zh { "乡镇" } else { "Township" },
        match (zh, by_officer) {
            (true, true) => "责任人",
            (true, false) => "村",
            (false, true) => "Officer",
            (false, false) => "Village",
        },
    ];
    h.extend(
        TABLE_COLUMNS
            .iter()
            .map(|(_, z, e)| if zh { *z } else { *e }),
    );
    h
}

impl QuarterlyTable {
    fn by_officer(&self) -> bool {
        self.rows.iter().any(|r| r.level == "officer")
    }

    /// As CSV with a byte-order mark (so Excel on Chinese Windows reads
    /// it), headings in `lang`.
    pub fn to_csv(&self, lang: &str) -> String {
        let mut w = csv::Writer::from_writer(vec![]);
        let _ = w.write_record(table_headings(lang, self.by_officer()));
        for r in &self.rows {
            let (a, b) = r.area(lang);
            let mut rec = vec![a, b];
            rec.extend(r.counts().iter().map(|n| n.to_string()));
            let _ = w.write_record(rec);
        }
        let body = String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default();
        format!("\u{feff}{body}")
    }

    /// As an Excel workbook: one sheet, headings in `lang`, the period
    /// and the day counted above the table.
    pub fn to_xlsx(&self, lang: &str) -> Result<Vec<u8>, AppError> {
        use rust_xlsxwriter::{Format, Workbook};
        let fail = |e: rust_xlsxwriter::XlsxError| AppError::Config(format!("xlsx: {e}"));
        let mut book = Workbook::new();
        let sheet = book.add_worksheet();
        let bold = Format::new().set_bold();
        let zh = lang != "en";
        let title = if zh {
            format!(
                "孕产妇保健情况 {}，统计截至{}",
                self.period.label(lang),
                self.as_of
            )
        } else {
            format!(
                "Maternal care, {}, counted on {}",
                self.period.label(lang),
                self.as_of
            )
        };
        sheet
            .write_string_with_format(0, 0, &title, &bold)
            .map_err(fail)?;
        for (c, h) in table_headings(lang, self.by_officer()).iter().enumerate() {
            sheet
                .write_string_with_format(2, c as u16, *h, &bold)
                .map_err(fail)?;
        }
        for (i, r) in self.rows.iter().enumerate() {
            let row = 3 + i as u32;
            let (a, b) = r.area(lang);
            sheet.write_string(row, 0, &a).map_err(fail)?;
            sheet.write_string(row, 1, &b).map_err(fail)?;
            for (c, n) in r.counts().iter().enumerate() {
                sheet
                    .write_number(row, 2 + c as u16, *n as f64)
                    .map_err(fail)?;
            }
        }
        sheet.set_column_width(0, 14).map_err(fail)?;
        sheet.set_column_width(1, 14).map_err(fail)?;
        book.save_to_buffer().map_err(fail)
    }
}

/// The indicators as CSV (what the console's download gives too), with
/// a byte-order mark and headings in `lang`.
pub fn to_csv(rows: &[IndicatorRow], lang: &str) -> String {
    let zh = lang != "en";
    let head: &[&str] = if zh {
        &[
            "指标代码",
            "指标",
            "类别",
            "层级",
            "乡镇",
            "村",
            "责任人",
            "分子",
            "分母",
            "未到期",
            "比例",
            "目标",
            "达标",
        ]
    } else {
        &[
            "indicator",
            "label",
            "kind",
            "level",
            "township",
            "village",
            "officer",
            "numerator",
            "denominator",
            "not_yet_due",
            "share",
            "target",
            "met",
        ]
    };
    let mut w = csv::Writer::from_writer(vec![]);
    let _ = w.write_record(head);
    for r in rows {
        let kind = match (r.national, zh) {
            (true, true) => "国家指标",
            (false, true) => "本系统指标",
            (true, false) => "national",
            (false, false) => "careminder's own",
        };
        let level = match (r.level, zh) {
            ("county", true) => "县",
            ("township", true) => "乡镇",
            ("village", true) => "村",
            ("officer", true) => "责任人",
            (l, _) => l,
        };
        let met = match (r.met, zh) {
            (Some(true), true) => "是",
            (Some(false), true) => "否",
            (Some(true), false) => "yes",
            (Some(false), false) => "no",
            (None, _) => "",
        };
        let _ = w.write_record([
            r.indicator.to_string(),
            if zh { r.label_zh } else { r.label_en }.to_string(),
            kind.to_string(),
            level.to_string(),
            r.township.clone(),
            r.village.clone(),
            r.officer.clone(),
            r.numerator.to_string(),
            r.denominator.to_string(),
            r.not_yet_due.to_string(),
            r.share.map(|s| format!("{s:.3}")).unwrap_or_default(),
            r.target.to_string(),
            met.to_string(),
        ]);
    }
    let body = String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default();
    format!("\u{feff}{body}")
}
