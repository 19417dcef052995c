//! The command line: one file per verb or verb group, each a thin adapter
//! that parses its arguments, calls a service and prints the answer. No
//! business rule lives here; `main.rs` only calls [`main`].

mod broadcast;
mod campaign;
mod care;
mod database;
mod gateway;
mod moves;
mod outbox;
mod plans;
mod privacy;
mod register;
mod registers;
mod replies;
mod reports;
mod risk;
mod serve;
mod setup;
mod staff;
mod wechat;

use crate::config::Sources;
use crate::domain::schedule::local_to_utc;
use crate::{App, Clock, Config};
use anyhow::{bail, Result};
use chrono::{DateTime, NaiveDateTime, Utc};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "careminder",
    version,
    about = "Maternal-health reminders: prenatal check-ups, follow-ups, campaigns"
)]
struct Cli {
    /// Configuration file (TOML). Default: /etc/careminder/careminder.toml
    /// when it exists. The secrets' file beside it (secrets.env) is read too.
    #[arg(long, global = true, env = "CAREMINDER_CONFIG")]
    config: Option<PathBuf>,
    /// Database: a SQLite file path or sqlite:// URL, or a postgres:// URL
    /// for PostgreSQL (overrides the configuration).
    #[arg(long, global = true, env = "CAREMINDER_DB")]
    db: Option<String>,
    /// Act as of this moment instead of now: "2026-12-01 09:00" (local time
    /// in the configured zone) or RFC 3339.
    #[arg(long, global = true)]
    now: Option<String>,
    /// Logs as JSON lines (for a log collector) instead of text. From the
    /// environment: 1, true, yes or on (0, false, no or off: text).
    #[arg(
        long,
        global = true,
        env = "CAREMINDER_LOG_JSON",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    log_json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once, at start
enum Cmd {
    /// Run the service: scheduler and HTTP server.
    Serve(serve::ServeArgs),
    /// Same as `serve --demo`.
    Demo(serve::DemoArgs),
    /// Register one pregnant woman.
    Enroll(register::EnrollArgs),
    /// Import a roster CSV (English or Chinese header).
    Import(register::ImportArgs),
    /// Registers kept elsewhere: a hospital's deliveries, a clinic's
    /// check-ups, imported; the rows waiting to be matched.
    #[command(subcommand)]
    Registers(registers::RegistersCmd),
    /// One scheduler pass as of now (or --now), as `serve` runs them: acts
    /// on stored replies, plans, runs due jobs, and sends every message due
    /// then through its gateway. `--dry-run` lists them and sends nothing.
    Tick(outbox::TickArgs),
    /// List messages with their statuses.
    Outbox(outbox::OutboxArgs),
    /// Correct a pregnancy's dates or end it.
    #[command(subcommand)]
    Pregnancy(care::PregnancyCmd),
    /// Broadcasts: a message to an audience on a chosen day (create with a
    /// preview, publish, follow, stop).
    #[command(subcommand)]
    Broadcast(broadcast::BroadcastCmd),
    /// Campaigns: list, pause, resume (the week-by-week series starts paused).
    #[command(subcommand)]
    Campaign(campaign::CampaignCmd),
    /// WeChat: a woman's binding QR card, steps' template messages, unreadable callbacks.
    #[command(subcommand)]
    Wechat(wechat::WechatCmd),
    /// Record that a woman asked for no more messages.
    OptOut(privacy::WomanArg),
    /// Print everything held about one woman, as JSON (a data-protection request).
    Export(privacy::WomanArg),
    /// Erase one woman's personal data: name, number and message texts go,
    /// counts for reports stay, and nothing more is sent to her.
    Erase(privacy::EraseArgs),
    /// Write a consistent copy of the database while the service runs.
    Backup(database::BackupArgs),
    /// Replace the database with a backup. Stop the service first.
    Restore(database::RestoreArgs),
    /// Copy this SQLite database into an empty PostgreSQL database, ids
    /// kept, then check every table's count and a sample of rows. Stop the
    /// service first.
    MigrateTo(database::MigrateToArgs),
    /// Record consent given after registration; her reminders start from now.
    Consent(privacy::ConsentArgs),
    /// Simulate a text arriving (as the mock gateway): replies, keywords, visit reports.
    Receive(replies::ReceiveArgs),
    /// Questions waiting for an answer, or messages from unknown numbers.
    Inbox(replies::InboxArgs),
    /// Answer a question in the inbox; sent through her channel.
    Answer(replies::AnswerArgs),
    /// Everything to and from one woman, in order, with statuses.
    Conversation(replies::ConversationArgs),
    /// Officers, supervisors and administrators.
    #[command(subcommand)]
    Staff(staff::StaffCmd),
    /// Record a birth: ends the prenatal schedule, plans postpartum and newborn visits.
    Birth(care::BirthArgs),
    /// What each officer and supervisor would receive right now (nothing is sent).
    Digest(reports::DigestArgs),
    /// Every overdue visit, until someone records it: the officers' tasks.
    Worklist(reports::WorklistArgs),
    /// Reports.
    #[command(subcommand)]
    Report(reports::ReportCmd),
    /// Gateways.
    #[command(subcommand)]
    Gateway(gateway::GatewayCmd),
    /// Record visits.
    #[command(subcommand)]
    Visit(care::VisitCmd),
    /// Record that a woman moved: within the county (--officer) or to
    /// another county (--destination: her care here ends, her referral
    /// summary is printed).
    Move(moves::MoveArgs),
    /// Referral summaries: print one, or import another county's.
    #[command(subcommand)]
    Transfer(moves::TransferCmd),
    /// Risk grades, case managers, delivery hospitals and referrals.
    #[command(subcommand)]
    Risk(risk::RiskCmd),
    /// List care plans, or add one from a TOML/JSON file.
    Plans(plans::PlansArgs),
    /// Measure import, planning and dispatch rates on a temporary database.
    Bench(crate::bench::BenchArgs),
    /// Print every setting with its default and a comment (a starting config file).
    PrintDefaultConfig,
    /// Check a configuration file: every error named with its key.
    CheckConfig(setup::CheckConfigArgs),
    /// Versions of this binary and of the database schema it writes.
    Version,
}

/// What every command starts from: the loaded configuration and the clock.
pub(crate) struct Ctx {
    pub config: Config,
    pub clock: Clock,
    /// The database was named on the command line (the demo keeps it).
    pub db_given: bool,
}

impl Ctx {
    /// Opens the database and wires the services.
    pub async fn open(self) -> Result<Arc<App>> {
        Ok(App::open(self.config, self.clock).await?)
    }
}

/// Who runs the command, for the audit log.
pub(crate) fn whoami() -> String {
    std::env::var("USER")
        .map(|u| format!("cli:{u}"))
        .unwrap_or_else(|_| "cli".into())
}

/// A moment: RFC 3339, or local time in `tz` ("2026-12-01 09:00", a date).
pub(crate) fn parse_now(s: &str, tz: chrono_tz::Tz) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Ok(local_to_utc(tz, t));
        }
    }
    if let Some(d) = crate::domain::dates::parse_date(s) {
        return Ok(local_to_utc(tz, d.and_hms_opt(0, 0, 0).expect("midnight")));
    }
    bail!("--now: cannot read {s:?}; use \"2026-12-01 09:00\" or RFC 3339")
}

fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CAREMINDER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("careminder=info,warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        logs.json().init();
    } else {
        logs.init();
    }
}

/// An error and its causes, each said once: a cause whose words the
/// message before it already holds is not repeated (`main` prints this,
/// rather than "Error: X / Caused by: X").
pub fn describe_error(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// The configuration a command reads: the file named (`--config`,
/// `CAREMINDER_CONFIG`), else /etc/careminder/careminder.toml when it
/// exists; and the secrets' file beside it when this user may read it.
pub(crate) fn sources(config: Option<&Path>) -> Sources {
    let file = config.map(Path::to_path_buf).or_else(|| {
        let default = Path::new(crate::config::DEFAULT_FILE);
        default.exists().then(|| default.to_path_buf())
    });
    let secrets = file.as_deref().and_then(|f| {
        let secrets = f
            .parent()
            .unwrap_or(Path::new("."))
            .join(crate::config::SECRETS_FILE_NAME);
        match std::fs::File::open(&secrets) {
            Ok(_) => Some(secrets),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                // The service gets them from systemd, which reads the file
                // as root; a person at a terminal is told.
                if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                    eprintln!(
                        "note: {} is readable by root only, so its settings (the database's \
                         password, the API token) are not used: run careminder commands \
                         as root (sudo careminder ...)",
                        secrets.display()
                    );
                }
                None
            }
            Err(_) => None,
        }
    });
    Sources::new(file, secrets)
}

/// Why a command that needs a database opens none: where it looked.
fn no_database(sources: &Sources, serve: bool) -> anyhow::Error {
    let file = match &sources.file {
        Some(f) => format!("{} (it names no `database`)", f.display()),
        None => format!(
            "a configuration file (none: --config and CAREMINDER_CONFIG are not set and {} does not exist)",
            crate::config::DEFAULT_FILE
        ),
    };
    anyhow::anyhow!(
        "no database is named, so none is opened (and none created). Looked at: --db and \
         CAREMINDER_DB (not given), CAREMINDER_DATABASE (not set), {file}. Name it: \
         --db /var/lib/careminder/careminder.db, or database = \"...\" in the configuration{}",
        if serve {
            "; to try careminder on invented data, run `careminder demo`"
        } else {
            ""
        }
    )
}

/// Parses the command line and runs the command.
pub async fn main() -> Result<()> {
    let cli = Cli::parse();
    // Commands that must work without (or before) a valid configuration.
    match &cli.cmd {
        Cmd::PrintDefaultConfig => return setup::print_default_config(),
        Cmd::Version => return setup::version(),
        _ => {}
    }
    let sources = sources(cli.config.as_deref());
    if let Cmd::CheckConfig(a) = &cli.cmd {
        return setup::check_config(a, sources, cli.db.as_deref());
    }
    init_logs(cli.log_json);
    let mut config = sources.load()?;
    if let Some(db) = &cli.db {
        config.database = crate::config::DatabaseUrl::parse(db)?;
        config.database_from = Some("--db".into());
    }
    // Only the demo (its own file), the benchmark (a temporary one) and
    // `migrate-to --from FILE` may start without one.
    let own_database = matches!(&cli.cmd, Cmd::Demo(_) | Cmd::Bench(_))
        || matches!(&cli.cmd, Cmd::Serve(a) if a.demo())
        || matches!(&cli.cmd, Cmd::MigrateTo(a) if a.names_its_source());
    if config.database_from.is_none() && !own_database {
        return Err(no_database(&sources, matches!(cli.cmd, Cmd::Serve(_))));
    }
    let clock = match &cli.now {
        Some(s) => Clock::manual(parse_now(s, config.timezone)?),
        None => Clock::System,
    };
    let ctx = Ctx {
        config,
        clock,
        db_given: cli.db.is_some(),
    };
    match cli.cmd {
        Cmd::Serve(a) => serve::serve(ctx, a).await,
        Cmd::Demo(a) => serve::demo(ctx, a.listen).await,
        Cmd::Enroll(a) => register::enroll(ctx, a).await,
        Cmd::Import(a) => register::import(ctx, a).await,
        Cmd::Registers(c) => registers::run(ctx, c).await,
        Cmd::Tick(a) => outbox::tick(ctx, a).await,
        Cmd::Outbox(a) => outbox::list(ctx, a).await,
        Cmd::Pregnancy(c) => care::pregnancy(ctx, c).await,
        Cmd::Birth(a) => care::birth(ctx, a).await,
        Cmd::Visit(c) => care::visit(ctx, c).await,
        Cmd::Move(a) => moves::record(ctx, a).await,
        Cmd::Transfer(c) => moves::transfer(ctx, c).await,
        Cmd::Risk(c) => risk::run(ctx, c).await,
        Cmd::Broadcast(c) => broadcast::run(ctx, c).await,
        Cmd::Campaign(c) => campaign::run(ctx, c).await,
        Cmd::Wechat(c) => wechat::run(ctx, c).await,
        Cmd::OptOut(a) => privacy::opt_out(ctx, a).await,
        Cmd::Export(a) => privacy::export(ctx, a).await,
        Cmd::Erase(a) => privacy::erase(ctx, a).await,
        Cmd::Consent(a) => privacy::consent(ctx, a).await,
        Cmd::Backup(a) => database::backup(ctx, a).await,
        Cmd::Restore(a) => database::restore(ctx, a).await,
        Cmd::MigrateTo(a) => database::migrate_to(ctx, a).await,
        Cmd::Receive(a) => replies::receive(ctx, a).await,
        Cmd::Inbox(a) => replies::inbox(ctx, a).await,
        Cmd::Answer(a) => replies::answer(ctx, a).await,
        Cmd::Conversation(a) => replies::conversation(ctx, a).await,
        Cmd::Staff(c) => staff::run(ctx, c).await,
        Cmd::Digest(a) => reports::digest(ctx, a).await,
        Cmd::Worklist(a) => reports::worklist(ctx, a).await,
        Cmd::Report(c) => reports::run(ctx, c).await,
        Cmd::Gateway(c) => gateway::run(ctx, c).await,
        Cmd::Plans(a) => plans::run(ctx, a).await,
        Cmd::Bench(a) => {
            crate::bench::run(a, ctx.db_given.then(|| ctx.config.database.clone())).await
        }
        Cmd::PrintDefaultConfig | Cmd::CheckConfig(_) | Cmd::Version => {
            unreachable!("handled above")
        }
    }
}
