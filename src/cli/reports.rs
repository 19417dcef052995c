//! `digest` and `report coverage`.

use super::Ctx;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};

#[derive(Args)]
pub struct DigestArgs {
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct WorklistArgs {
    /// Only this officer's women.
    #[arg(long)]
    officer: Option<String>,
    #[arg(long)]
    json: bool,
}

/// A reporting period: a quarter, the national reporting year, or days.
#[derive(Args)]
pub struct PeriodArgs {
    /// A calendar quarter, e.g. 2027Q1 (default: the quarter so far).
    #[arg(long)]
    quarter: Option<String>,
    /// The national reporting year, e.g. 2027: 1 October 2026 to 30 September 2027.
    #[arg(long)]
    year: Option<String>,
    /// First day.
    #[arg(long)]
    from: Option<String>,
    /// Day after the last (default: tomorrow, so today is counted).
    #[arg(long)]
    to: Option<String>,
}

/// Part of the county: one township, village or officer.
#[derive(Args)]
pub struct ScopeArgs {
    #[arg(long)]
    township: Option<String>,
    #[arg(long)]
    village: Option<String>,
    #[arg(long)]
    officer: Option<String>,
}

impl PeriodArgs {
    fn period(&self, today: chrono::NaiveDate) -> Result<crate::domain::Period> {
        Ok(crate::domain::Period::parse(
            self.quarter.as_deref(),
            self.year.as_deref(),
            self.from.as_deref(),
            self.to.as_deref(),
            today,
            crate::domain::Period::quarter_of,
        )?)
    }
}

impl ScopeArgs {
    fn scope(&self) -> crate::services::reports::Scope {
        crate::services::reports::Scope::new(
            self.township.as_deref(),
            self.village.as_deref(),
            self.officer.as_deref(),
        )
    }
}

#[derive(Subcommand)]
pub enum ReportCmd {
    /// The national maternal-care figures (over live births in the
    /// period, each birth judged as of today) and careminder's own: per
    /// indicator, the county's, each township's and each village's
    /// numerator, denominator, not-yet-due and share, beside its target.
    Indicators {
        #[command(flatten)]
        period: PeriodArgs,
        #[command(flatten)]
        scope: ScopeArgs,
        /// Per officer (her women, wherever they live) instead of per area.
        #[arg(long)]
        by_officer: bool,
        #[arg(long)]
        json: bool,
        /// CSV with a byte-order mark (opens in Excel with its Chinese intact).
        #[arg(long)]
        csv: bool,
    },
    /// The table a township files each quarter: per township and village,
    /// the counts the national form asks for (women who gave birth, live
    /// births, registered before 13 weeks, check-ups, postpartum visits,
    /// 42-day checks, systematically managed).
    Quarterly {
        #[command(flatten)]
        period: PeriodArgs,
        #[command(flatten)]
        scope: ScopeArgs,
        /// Per officer instead of per area.
        #[arg(long)]
        by_officer: bool,
        #[arg(long)]
        json: bool,
        /// CSV with a byte-order mark, Chinese headings.
        #[arg(long)]
        csv: bool,
        /// Write an Excel workbook (Chinese headings) to this file.
        #[arg(long, value_name = "FILE")]
        xlsx: Option<std::path::PathBuf>,
    },
    /// Per township and village: reminders sent/delivered/failed, visits on
    /// time/late/overdue/missed (whose window closed in the period), new registrations.
    Coverage {
        /// First day (default: 28 days ago).
        #[arg(long)]
        from: Option<String>,
        /// Day after the last (default: today).
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub async fn digest(ctx: Ctx, a: DigestArgs) -> Result<()> {
    let app = ctx.open().await?;
    let digests = app.jobs.digests(app.clock.now()).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&digests)?);
        return Ok(());
    }
    if digests.is_empty() {
        println!("nothing overdue: no digest today");
    }
    for d in digests {
        println!("{} ({}):", d.staff_code, d.role);
        for m in d.messages {
            println!("  {m}");
        }
    }
    Ok(())
}

/// Every overdue visit until someone records it: the officer's tasks.
pub async fn worklist(ctx: Ctx, a: WorklistArgs) -> Result<()> {
    let app = ctx.open().await?;
    let items = app
        .jobs
        .worklist(app.clock.now(), a.officer.as_deref())
        .await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(());
    }
    if items.is_empty() {
        println!("nothing overdue, nothing due");
    }
    for i in items {
        let v = &i.visit;
        let when = match (i.state, v.task) {
            (crate::services::jobs::HOME_VISIT_DUE, _) => {
                format!("due {} to {}", v.window_start, v.window_end)
            }
            (_, true) => format!("missed: its period ended {}", v.window_end),
            (crate::services::jobs::MISSED, false) => format!(
                "missed, not recorded: window ended {} ({} days ago)",
                v.window_end, i.days_overdue
            ),
            _ => format!(
                "overdue {} days: window ended {}",
                i.days_overdue, v.window_end
            ),
        };
        println!(
            "{:<10} {:<8} woman {:<6} {:<12} {} ({when})",
            v.officer_code.as_deref().unwrap_or("-"),
            v.village.as_deref().unwrap_or("-"),
            v.woman_id,
            v.name,
            v.label_en,
        );
    }
    Ok(())
}

fn day(s: Option<String>, default: chrono::NaiveDate) -> Result<chrono::NaiveDate> {
    match s {
        Some(s) => crate::domain::dates::parse_date(&s).with_context(|| format!("not a date: {s}")),
        None => Ok(default),
    }
}

pub async fn run(ctx: Ctx, cmd: ReportCmd) -> Result<()> {
    let (from, to, json) = match cmd {
        ReportCmd::Coverage { from, to, json } => (from, to, json),
        ReportCmd::Indicators {
            period,
            scope,
            by_officer,
            json,
            csv,
        } => return indicators(ctx, period, scope, by_officer, json, csv).await,
        ReportCmd::Quarterly {
            period,
            scope,
            by_officer,
            json,
            csv,
            xlsx,
        } => return quarterly(ctx, period, scope, by_officer, json, csv, xlsx).await,
    };
    let app = ctx.open().await?;
    let now = app.clock.now();
    let today = crate::domain::schedule::local_date(app.config.timezone, now);
    let from = day(from, today - chrono::Duration::days(28))?;
    let to = day(to, today)?;
    let rows = app.jobs.coverage(from, to, now).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!("coverage {from} to {to} (exclusive)");
    println!(
        "{:<10} {:<10} {:>6} {:>9} {:>6} {:>7} {:>5} {:>7} {:>6} {:>6}",
        "township",
        "village",
        "sent",
        "delivered",
        "failed",
        "on time",
        "late",
        "overdue",
        "missed",
        "new"
    );
    for r in rows {
        println!(
            "{:<10} {:<10} {:>6} {:>9} {:>6} {:>7} {:>5} {:>7} {:>6} {:>6}",
            r.township,
            r.village,
            r.sent,
            r.delivered,
            r.failed,
            r.on_time,
            r.late,
            r.overdue,
            r.missed,
            r.registrations
        );
    }
    Ok(())
}

async fn indicators(
    ctx: Ctx,
    period: PeriodArgs,
    scope: ScopeArgs,
    by_officer: bool,
    json: bool,
    csv: bool,
) -> Result<()> {
    let app = ctx.open().await?;
    let period = period.period(app.reports.today())?;
    let report = if by_officer {
        app.reports
            .indicators_by_officer(period, &scope.scope())
            .await?
    } else {
        app.reports.indicators(period, &scope.scope()).await?
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report.rows)?);
        return Ok(());
    }
    if csv {
        print!(
            "{}",
            crate::services::reports::to_csv(&report.rows, app.config.default_language.as_str())
        );
        return Ok(());
    }
    println!(
        "indicators, {}, counted on {}{}",
        report.period.label("en"),
        report.as_of,
        if report.ended {
            ""
        } else {
            " (the period has not ended)"
        }
    );
    let mut last = "";
    for r in &report.rows {
        if r.indicator != last {
            println!(
                "\n{} ({}{}): target {}{:.0}%",
                r.label_en,
                r.indicator,
                if r.national { ", national" } else { "" },
                if r.higher_is_better { ">= " } else { "<= " },
                r.target * 100.0
            );
            last = r.indicator;
        }
        let area = match r.level {
            "county" => "county".to_string(),
            "township" => format!("  township {}", r.township),
            "officer" => format!("  officer {}", r.officer),
            _ => format!("    village {}", r.village),
        };
        let share = r
            .share
            .map(|s| format!("{:5.1}%", s * 100.0))
            .unwrap_or_else(|| "    -".into());
        let mark = match r.met {
            Some(true) => "met",
            Some(false) => "below",
            None => "",
        };
        let waiting = if r.not_yet_due > 0 {
            format!(" ({} not yet due)", r.not_yet_due)
        } else {
            String::new()
        };
        println!(
            "{area:<24} {:>6} / {:<6} {share} {mark}{waiting}",
            r.numerator, r.denominator
        );
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn quarterly(
    ctx: Ctx,
    period: PeriodArgs,
    scope: ScopeArgs,
    by_officer: bool,
    json: bool,
    csv: bool,
    xlsx: Option<std::path::PathBuf>,
) -> Result<()> {
    let app = ctx.open().await?;
    let period = period.period(app.reports.today())?;
    let table = app
        .reports
        .quarterly(period, &scope.scope(), by_officer)
        .await?;
    if let Some(path) = xlsx {
        std::fs::write(&path, table.to_xlsx("zh-CN")?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("{} written", path.display());
        return Ok(());
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&table)?);
        return Ok(());
    }
    if csv {
        print!("{}", table.to_csv("zh-CN"));
        return Ok(());
    }
    println!(
        "{}, counted on {}{}",
        table.period.label("en"),
        table.as_of,
        if table.ended {
            ""
        } else {
            " (the period has not ended)"
        }
    );
    let heads: Vec<&str> = crate::services::reports::TABLE_COLUMNS
        .iter()
        .map(|(k, _, _)| *k)
        .collect();
    println!("{:<12} {:<12} {}", "township", "village", heads.join(" "));
    for r in &table.rows {
        let (a, b) = r.area("en");
        let counts: Vec<String> = r
            .counts()
            .iter()
            .zip(&heads)
            .map(|(n, h)| format!("{n:>w$}", w = h.len()))
            .collect();
        println!("{a:<12} {b:<12} {}", counts.join(" "));
    }
    Ok(())
}
