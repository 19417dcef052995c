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

#[derive(Subcommand)]
pub enum ReportCmd {
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

pub async fn run(ctx: Ctx, cmd: ReportCmd) -> Result<()> {
    let ReportCmd::Coverage { from, to, json } = cmd;
    let app = ctx.open().await?;
    let now = app.clock.now();
    let today = crate::domain::schedule::local_date(app.config.timezone, now);
    let day = |s: Option<String>, default| -> Result<chrono::NaiveDate> {
        match s {
            Some(s) => {
                crate::domain::dates::parse_date(&s).with_context(|| format!("not a date: {s}"))
            }
            None => Ok(default),
        }
    };
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
