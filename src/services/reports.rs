//! The township assessment as indicators, per village, township and the
//! county, for any period: each a numerator over a denominator counted
//! from the records, its share, and the configured target beside it.

use super::AppError;
use crate::config::Config;
use crate::domain::indicators::INDICATORS;
use crate::domain::schedule::start_of_day;
use crate::store::{IndicatorCount, Store};
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One indicator for one area.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IndicatorRow {
    /// village, township or county.
    pub level: &'static str,
    pub township: String,
    /// The village ("" for a township's or the county's row).
    pub village: String,
    pub indicator: &'static str,
    pub label_zh: &'static str,
    pub label_en: &'static str,
    pub numerator: i64,
    pub denominator: i64,
    /// numerator / denominator; none when nothing was counted.
    pub share: Option<f64>,
    pub target: f64,
    pub higher_is_better: bool,
    /// Whether the share meets the target; none when nothing was counted.
    pub met: Option<bool>,
}

#[derive(Clone)]
pub struct Reports {
    pub(crate) store: Store,
    pub(crate) config: Arc<Config>,
}

impl Reports {
    /// Every indicator for the local days `[from, to)`: each village's,
    /// each township's, and the county's.
    pub async fn indicators(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<IndicatorRow>, AppError> {
        if to <= from {
            return Err(AppError::Refused("to: must be after from".into()));
        }
        if (to - from).num_days() > 3 * 366 {
            return Err(AppError::Refused("a period of at most three years".into()));
        }
        let tz = self.config.timezone;
        let counts = self
            .store
            .indicator_counts(from, to, start_of_day(tz, from), start_of_day(tz, to))
            .await?;
        Ok(self.rows(&counts))
    }

    fn rows(&self, counts: &[IndicatorCount]) -> Vec<IndicatorRow> {
        let mut village: BTreeMap<(&str, &str, &str), (i64, i64)> = BTreeMap::new();
        let mut township: BTreeMap<(&str, &str), (i64, i64)> = BTreeMap::new();
        let mut county: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        for c in counts {
            let add = |e: &mut (i64, i64)| {
                e.0 += c.numerator;
                e.1 += c.denominator;
            };
            add(village
                .entry((c.indicator, c.township.as_str(), c.village.as_str()))
                .or_default());
            add(township
                .entry((c.indicator, c.township.as_str()))
                .or_default());
            add(county.entry(c.indicator).or_default());
        }
        let mut out = vec![];
        for ind in INDICATORS {
            let target = self
                .config
                .indicators
                .targets
                .get(ind.key)
                .copied()
                .unwrap_or(ind.default_target);
            let row = |level, t: &str, v: &str, (num, den): (i64, i64)| {
                let share = (den > 0).then(|| num as f64 / den as f64);
                IndicatorRow {
                    level,
                    township: t.to_string(),
                    village: v.to_string(),
                    indicator: ind.key,
                    label_zh: ind.zh,
                    label_en: ind.en,
                    numerator: num,
                    denominator: den,
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
            out.push(row(
                "county",
                "",
                "",
                county.get(ind.key).copied().unwrap_or_default(),
            ));
            for ((k, t), n) in &township {
                if *k == ind.key {
                    out.push(row("township", t, "", *n));
                }
            }
            for ((k, t, v), n) in &village {
                if *k == ind.key {
                    out.push(row("village", t, v, *n));
                }
            }
        }
        out
    }
}

/// The indicators as CSV (what the console's download gives too).
pub fn to_csv(rows: &[IndicatorRow]) -> String {
    let mut out = String::from(
        "\u{feff}indicator,label,level,township,village,numerator,denominator,share,target,met\n",
    );
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{}\n",
            r.indicator,
            r.label_zh,
            r.level,
            r.township,
            r.village,
            r.numerator,
            r.denominator,
            r.share.map(|s| format!("{s:.3}")).unwrap_or_default(),
            r.target,
            r.met.map(|m| if m { "yes" } else { "no" }).unwrap_or("")
        ));
    }
    out
}
