//! `receive`, `inbox`, `answer`, `conversation`: texts that arrive, and
//! the officers' answers.

use super::Ctx;
use anyhow::Result;
use clap::Args;

#[derive(Args)]
pub struct ReceiveArgs {
    /// Sender's number.
    #[arg(long)]
    from: String,
    #[arg(long)]
    text: String,
}

#[derive(Args)]
pub struct InboxArgs {
    /// Only this officer's.
    #[arg(long)]
    officer: Option<String>,
    #[arg(long)]
    unknown: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct AnswerArgs {
    message_id: i64,
    #[arg(long)]
    text: String,
    /// Staff code of who answers (must look after her), or "admin".
    #[arg(long, default_value = crate::services::access::CLI_ADMIN)]
    by: String,
}

#[derive(Args)]
pub struct ConversationArgs {
    woman_id: i64,
    #[arg(long)]
    json: bool,
}

/// Fails when a pass of the scheduler had a failed stage.
async fn send_now(app: &crate::App) -> Result<()> {
    let r = app.tick().await;
    if r.failed_stages > 0 {
        anyhow::bail!("{} scheduler stage(s) failed: see the log", r.failed_stages);
    }
    Ok(())
}

pub async fn receive(ctx: Ctx, a: ReceiveArgs) -> Result<()> {
    let app = ctx.open().await?;
    let sender = crate::domain::Phone::parse(&a.from, app.config.region())?;
    let now = app.clock.now();
    let r = app
        .inbound
        .receive(crate::domain::NewInbound {
            gateway: "cli".into(),
            provider_id: format!("cli-{}-{:x}", now.timestamp_millis(), rand::random::<u32>()),
            sender: sender.as_str().to_string(),
            text: a.text,
            received_at: now,
        })
        .await?;
    if let Some(id) = r.inbound_id {
        let m = app.store.inbound(id).await?;
        println!(
            "message {id}: {} -> {}",
            m.intent.unwrap_or_default(),
            m.outcome.unwrap_or_default()
        );
    }
    // Send the replies at once, as the service would.
    send_now(&app).await
}

pub async fn inbox(ctx: Ctx, a: InboxArgs) -> Result<()> {
    let app = ctx.open().await?;
    let rows = app.store.inbox(a.officer.as_deref(), a.unknown).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let tz = app.config.timezone;
    for m in rows {
        println!(
            "#{:<6} {}  woman {:<6} officer {:<10} {}",
            m.id,
            crate::store::from_ts(m.received_at)
                .with_timezone(&tz)
                .format("%Y-%m-%d %H:%M"),
            m.woman_id
                .map(|w| w.to_string())
                .unwrap_or_else(|| "-".into()),
            m.assigned_to.unwrap_or_else(|| "-".into()),
            m.text
        );
    }
    Ok(())
}

pub async fn answer(ctx: Ctx, a: AnswerArgs) -> Result<()> {
    let app = ctx.open().await?;
    app.inbound.answer(a.message_id, &a.text, &a.by).await?;
    send_now(&app).await?;
    println!("answer to message {} sent", a.message_id);
    Ok(())
}

pub async fn conversation(ctx: Ctx, a: ConversationArgs) -> Result<()> {
    let app = ctx.open().await?;
    app.store.woman(a.woman_id).await?;
    let items = app.store.conversation(a.woman_id).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(());
    }
    let tz = app.config.timezone;
    for i in items {
        println!(
            "{} {} {:<10} {:<32} {}",
            i.at.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
            if i.direction == "in" { "<-" } else { "->" },
            i.status.unwrap_or_default(),
            i.detail.unwrap_or_default(),
            i.text.unwrap_or_default()
        );
    }
    Ok(())
}
