//! # careminder
//!
//! Reminds pregnant women of their free prenatal check-ups and postpartum
//! follow-ups, over SMS (and later WeChat), from a schedule kept in SQLite.
//!
//! For every registered pregnancy careminder keeps the visits its care plan
//! calls for; turns campaign steps ("3 days before each check-up at 09:00")
//! into dated messages in an outbox; sends each one when it is due through a
//! pluggable gateway; and records every status.
//!
//! ```text
//! roster CSV / API / CLI
//!        |
//!        v
//!   enrollment ──> visits ──> planner ──> outbox ──> dispatcher ──> Gateway
//!   (women,        (care      (steps x    (one row    (claim, render,   (mock, ...)
//!    pregnancies)   plan)      dates)      per msg)    send, record)
//! ```
//!
//! # Layout
//!
//! - [`domain`]: pure types and rules, no I/O: pregnancy dates, care plans,
//!   phone numbers, SMS length, triggers and the send window.
//! - [`store`]: every SQL statement, over SQLite through sqlx.
//! - [`planner`]: due campaign steps -> outbox rows, idempotently.
//! - [`dispatcher`]: outbox -> gateway, with leases, retries and batched writes.
//! - [`render`]: Tera message templates, validated when saved.
//! - [`gateway`]: the `Gateway` trait and its implementations (mock).
//! - [`enrollment`], [`importer`]: registration from input and roster CSVs.
//! - [`inbound`]: replies: keywords, opt-out, visit reports, the officers' inbox.
//! - [`app`]: the parts wired together and the scheduler loop.
//! - [`web`]: the HTTP server.
//! - [`clock`]: the one source of "now"; [`config`]: settings.
//! - [`demo`]: invented women whose reminders fall due at once.

pub mod app;
pub mod backup;
pub mod bench;
pub mod broadcast;
pub mod clock;
pub mod config;
pub mod console;
pub mod defaults;
pub mod demo;
pub mod dispatcher;
pub mod domain;
pub mod enrollment;
pub mod gateway;
pub mod importer;
pub mod inbound;
pub mod jobs;
pub mod metrics;
pub mod planner;
pub mod qr;
pub mod receipts;
pub mod render;
pub mod store;
pub mod web;
pub mod wechat;

pub use app::App;
pub use clock::Clock;
pub use config::Config;

/// Starts the HTTP server and the scheduler; returns when `shutdown` fires
/// and the work in flight is done.
///
/// Shutting down: the dispatcher stops claiming at once; the HTTP server
/// stops accepting and finishes the requests it has (each webhook is
/// answered only once stored); the batch in flight finishes and records
/// its results, for at most `dispatcher.shutdown_grace_seconds`; then the
/// database is closed, its write-ahead log checkpointed.
pub async fn serve(
    app: std::sync::Arc<App>,
    listener: tokio::net::TcpListener,
    shutdown: tokio::sync::watch::Receiver<bool>,
    scheduler: bool,
) -> std::io::Result<()> {
    let sched = scheduler.then(|| tokio::spawn(app.clone().run_scheduler(shutdown.clone())));
    let stopper = {
        let (app, mut shutdown) = (app.clone(), shutdown.clone());
        tokio::spawn(async move {
            if shutdown.wait_for(|s| *s).await.is_ok() {
                app.dispatcher.stop();
            }
        })
    };
    let mut http_shutdown = shutdown.clone();
    axum::serve(listener, web::router(app.clone()))
        .with_graceful_shutdown(async move {
            let _ = http_shutdown.wait_for(|s| *s).await;
        })
        .await?;
    stopper.abort();
    if let Some(s) = sched {
        let grace = std::time::Duration::from_secs(app.config.dispatcher.shutdown_grace_seconds);
        let abort = s.abort_handle();
        if tokio::time::timeout(grace, s).await.is_err() {
            abort.abort();
            tracing::warn!(
                grace_seconds = grace.as_secs(),
                "sends still in flight at the end of the grace period; their messages return when their lease ends"
            );
        }
        // Only the scheduler claims: with it stopped, nothing should be
        // left claimed. Say so if something is.
        match app.store.claimed_count().await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(claimed = n, "messages left claimed at shutdown"),
            Err(e) => tracing::warn!(error = %e, "could not count claimed messages at shutdown"),
        }
        app.store.close().await;
    }
    Ok(())
}
