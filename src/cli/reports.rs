//! `digest` and `report coverage`.

use super::Ctx;
use anyhow::{Context, Result};
use chrono::Datelike;
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

#[derive(Subcommand)]
pub enum ReportCmd {
    /// The township assessment: per indicator, the county's, each
    /// township's and each village's numerator, denominator and share,
    /// beside its target.
    Indicators {
        /// First day (default: the first of this month, last year).
        #[arg(long)]
        from: Option<String>,
        /// Day after the last (default: tomorrow, so today is counted).
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        json: bool,
        /// CSV with a byte-order mark (opens in Excel with its Chinese intact).
        #[arg(long)]
        csv: bool,
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
        println!("nothing overdue");
    }
    for i in items {
        let v = &i.visit;
        println!(
            "{:<10} {:<8} woman {:<6} {:<12} {} ({} days, window ended {})",
            v.officer_code.as_deref().unwrap_or("-"),
            v.village.as_deref().unwrap_or("-"),
            v.woman_id,
            v.name,
            v.label_en,
            i.days_overdue,
            v.window_end
        );
        if i.state != "overdue" {
            println!("{:>31}{}", "", i.state);
        }
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
            from,
            to,
            json,
            csv,
        } => return indicators(ctx, from, to, json, csv).await,
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
    from: Option<String>,
    to: Option<String>,
    json: bool,
    csv: bool,
) -> Result<()> {
    let app = ctx.open().await?;
    let today = crate::domain::schedule::local_date(app.config.timezone, app.clock.now());
    let year_ago = today - chrono::Duration::days(365);
    let from = day(from, year_ago.with_day(1).unwrap_or(year_ago))?;
    let to = day(to, today + chrono::Duration::days(1))?;
    let rows = app.reports.indicators(from, to).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if csv {
        print!("{}", crate::services::reports::to_csv(&rows));
        return Ok(());
    }
    println!("indicators {from} to {to} (exclusive)");
    let mut last = "";
    for r in &rows {
        if r.indicator != last {
            println!(
                "\n{} ({}): target {}{:.0}%",
                r.label_en,
                r.indicator,
                if r.higher_is_better { ">= " } else { "<= " },
                r.target * 100.0
            );
            last = r.indicator;
        }
        let area = match r.level {
            "county" => "county".to_string(),
            "township" => format!("  township {}", r.township),
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
        println!(
            "{area:<24} {:>6} / {:<6} {share} {mark}",
            r.numerator, r.denominator
        );
    }
    Ok(())
}
