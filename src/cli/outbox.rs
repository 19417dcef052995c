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

#[derive(Args)]
pub struct TickArgs {
    /// Send nothing: list the messages the pass would hand to the gateways
    /// (those due, and those its planning would write first), and change
    /// no message.
    #[arg(long)]
    dry_run: bool,
}

pub async fn tick(ctx: Ctx, a: TickArgs) -> Result<()> {
    let app = ctx.open().await?;
    if a.dry_run {
        return preview(&app).await;
    }
    // Beside a `serve`, a tick plans and sends by the same rules, or not at all.
    app.agrees_with_instances().await?;
    let r = app.tick().await;
    // Results the database refused (a full disk, a lock held too long by
    // another process) are tried again for a while: what this command
    // claimed must not stay claimed behind it.
    let give_up = std::time::Instant::now()
        + std::time::Duration::from_secs(app.config.dispatcher.lease_seconds.clamp(10, 60) as u64);
    while app.dispatcher.unrecorded().0 > 0 && std::time::Instant::now() < give_up {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        if let Err(e) = app.dispatcher.write_unrecorded(app.clock.now()).await {
            tracing::warn!(error = %e, "results still not written");
        }
    }
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
    let (unwritten, handed_over) = app.dispatcher.unrecorded();
    if unwritten > 0 {
        let lease =
            app.clock.now() + chrono::Duration::seconds(app.config.dispatcher.lease_seconds);
        anyhow::bail!(
            "the results of {unwritten} messages could not be written ({handed_over} of them were handed over): \
             they stay claimed until {} (as of --now), then go again under the same ids, which gateways drop as repeats",
            lease.with_timezone(&app.config.timezone).format("%Y-%m-%d %H:%M %Z")
        );
    }
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

/// `tick --dry-run`: what a pass as of now would hand over, nothing sent.
async fn preview(app: &crate::App) -> Result<()> {
    let now = app.clock.now();
    let tz = app.config.timezone;
    let (due, open) = app.scheduler.preview(now).await?;
    println!(
        "as of {}: {} message(s) due; nothing sent (--dry-run){}",
        now.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z"),
        due.len(),
        if open {
            ""
        } else {
            "; the send window is closed everywhere, so only replies would go"
        }
    );
    if due.is_empty() {
        return Ok(());
    }
    println!("{:>7} {:>6}  {:<16} step", "id", "woman", "send at");
    for m in due {
        println!(
            "{:>7} {:>6}  {:<16} {}",
            m.id.map(|i| i.to_string()).unwrap_or_else(|| "new".into()),
            m.woman_id.map(|w| w.to_string()).unwrap_or_default(),
            m.send_at.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
            m.step
        );
    }
    println!("(\"new\": planned by the pass before it sends; each is still checked for consent, her area's window and the frequency cap when sent)");
    Ok(())
}
