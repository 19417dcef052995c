//! `tick` and `outbox`: one scheduler pass, and what is in the outbox.

use super::Ctx;
use crate::store::OutboxFilter;
use anyhow::Result;
use clap::Args;

#[derive(Args)]
pub struct OutboxArgs {
    #[arg(long)]
    status: Option<String>,
    #[arg(long)]
    woman: Option<i64>,
    /// Only messages from now (or --now) on.
    #[arg(long)]
    upcoming: bool,
    #[arg(long, default_value_t = 50)]
    limit: i64,
    /// One JSON array, for scripts.
    #[arg(long)]
    json: bool,
    /// Also print each message's status history.
    #[arg(long)]
    events: bool,
}

pub async fn tick(ctx: Ctx) -> Result<()> {
    let app = ctx.open().await?;
    // Beside a `serve`, a tick plans and sends by the same rules, or not at all.
    app.agrees_with_instances().await?;
    let r = app.tick().await;
    println!(
        "as of {}: planned {}, handed over {}, retried {}, failed {}, cancelled {}, expired {}",
        app.clock
            .now()
            .with_timezone(&app.config.timezone)
            .format("%Y-%m-%d %H:%M %Z"),
        r.plan.planned,
        r.dispatch.handed_over,
        r.dispatch.retried,
        r.dispatch.failed,
        r.dispatch.cancelled,
        r.dispatch.expired
    );
    if r.failed_stages > 0 {
        anyhow::bail!(
            "{} scheduler stage(s) failed: see the log above",
            r.failed_stages
        );
    }
    Ok(())
}

pub async fn list(ctx: Ctx, a: OutboxArgs) -> Result<()> {
    let app = ctx.open().await?;
    let rows = app
        .store
        .list_outbox(&OutboxFilter {
            status: a.status,
            woman_id: a.woman,
            from: a.upcoming.then(|| app.clock.now()),
            limit: a.limit,
        })
        .await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let tz = app.config.timezone;
    println!(
        "{:>7} {:>6}  {:<16} {:<30} {:<10} {:>3} {:>5}  text",
        "id", "woman", "send at", "step", "status", "try", "parts"
    );
    for r in rows {
        println!(
            "{:>7} {:>6}  {:<16} {:<30} {:<10} {:>3} {:>5}  {}",
            r.id,
            r.woman_id.map(|w| w.to_string()).unwrap_or_default(),
            r.send_at.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
            r.step.unwrap_or_default(),
            r.status,
            r.attempts,
            r.parts.map(|p| p.to_string()).unwrap_or_default(),
            r.body.unwrap_or_default()
        );
        if a.events {
            for (s, at, cause) in app.store.events_of(r.id).await? {
                println!(
                    "          {} {:<10} {}",
                    at.with_timezone(&tz).format("%m-%d %H:%M:%S"),
                    s,
                    cause.unwrap_or_default()
                );
            }
        }
    }
    Ok(())
}
