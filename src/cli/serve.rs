//! `serve` and `demo`: the HTTP server and the scheduler until SIGTERM.

use super::Ctx;
use crate::domain::schedule::{local_to_utc, parse_hhmm};
use crate::{App, Clock};
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Args)]
pub struct ServeArgs {
    /// Start on a fresh demo database with invented women, the mock
    /// gateway printing each message, and a clock running 120x.
    #[arg(long)]
    demo: bool,
    /// Listen address (overrides the configuration).
    #[arg(long)]
    listen: Option<String>,
}

impl ServeArgs {
    /// `serve --demo`: the demo, which needs no database named.
    pub fn demo(&self) -> bool {
        self.demo
    }
}

#[derive(Args)]
pub struct DemoArgs {
    #[arg(long)]
    pub listen: Option<String>,
}

pub async fn serve(mut ctx: Ctx, a: ServeArgs) -> Result<()> {
    if a.demo {
        return demo(ctx, a.listen).await;
    }
    if let Some(l) = a.listen {
        ctx.config.listen = l;
    }
    run(ctx.open().await?).await
}

async fn run(app: Arc<App>) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(&app.config.listen)
        .await
        .with_context(|| format!("listening on {}", app.config.listen))?;
    // Every instance on the database runs with the same zones, window,
    // gateways and routes, or this one does not start.
    let membership = app.join_instances().await?;
    tracing::info!(addr = %listener.local_addr()?, db = %app.config.database, "careminder serving");
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = tx.send(true);
    });
    // Renewed while it serves; forgotten as soon as it stops (before the
    // database closes).
    let (done, mut ended) = tokio::sync::watch::channel(false);
    let mut stopping = rx.clone();
    let renewals = tokio::spawn(async move {
        let mut every = tokio::time::interval(crate::app::INSTANCE_RENEW_EVERY);
        every.tick().await;
        loop {
            tokio::select! {
                _ = every.tick() => membership.renew().await,
                changed = stopping.changed() => {
                    if changed.is_err() || *stopping.borrow() {
                        break;
                    }
                }
                _ = ended.changed() => break,
            }
        }
        membership.leave().await;
    });
    let served = crate::web::serve(app, listener, rx, true).await;
    let _ = done.send(true);
    let _ = renewals.await;
    served?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// A fresh demo database, the mock gateway printing what it "sends", a
/// clock running 120x, and invented women who reply.
pub async fn demo(ctx: Ctx, listen: Option<String>) -> Result<()> {
    let mut config = ctx.config;
    if !ctx.db_given {
        config.database = PathBuf::from("careminder-demo.db").into();
    }
    // The demo always starts from nothing: its clock restarts every time.
    if let Some(db) = config.database.sqlite_path() {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = db.to_path_buf().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(p));
        }
    }
    if let Some(l) = listen {
        config.listen = l;
    }
    config.gateway = crate::config::GatewayConfig::mock_printing();
    config.planner.interval_seconds = 300;
    // The demo clock runs 120x: a sign-in lasts about twelve real hours.
    config.console.session_hours = 12 * crate::demo::DEMO_SPEED as i64;
    if config.api_token.is_none() {
        config.api_token = Some(format!("demo-{:016x}", rand::random::<u64>()));
    }
    let tz = config.timezone;
    let today = Clock::System.now().with_timezone(&tz).date_naive();
    let start = local_to_utc(
        tz,
        today.and_time(parse_hhmm(crate::demo::DEMO_START).expect("time")),
    );
    let clock = Clock::accelerated(start, crate::demo::DEMO_SPEED);
    let app = App::open(config, clock).await?;
    let n = crate::demo::seed(&app).await?;
    let accounts = crate::demo::accounts(&app).await?;
    println!(
        "careminder demo: {n} invented women registered in {}.\n\
         The demo clock starts at {} {} and runs {}x: a real minute is two hours.\n\
         Messages the mock gateway \"sends\" appear below (numbers masked).\n\
         Console: http://{}/   API token: {}\n\
         Some women reply after their first reminders (lines marked [mock sms in]).\n\
         Press Ctrl-C to stop.\n",
        app.config.database,
        today,
        crate::demo::DEMO_START,
        crate::demo::DEMO_SPEED,
        app.config.listen,
        app.config.api_token.as_deref().unwrap_or("")
    );
    for (code, role, password) in accounts {
        println!("  sign in as {code:<8} ({role}) with password {password}");
    }
    println!();
    let replies = app.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(8)).await;
        if let Err(e) = crate::demo::play_replies(&replies).await {
            tracing::error!(error = %e, "demo replies failed");
        }
    });
    run(app).await
}
