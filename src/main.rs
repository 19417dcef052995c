//! The careminder command line.

use anyhow::{bail, Context, Result};
use careminder::domain::schedule::{local_to_utc, parse_hhmm};
use careminder::enrollment::EnrollmentInput;
use careminder::store::OutboxFilter;
use careminder::{App, Clock, Config};
use chrono::{DateTime, NaiveDateTime, Utc};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "careminder",
    version,
    about = "Maternal-health reminders: prenatal check-ups, follow-ups, campaigns"
)]
struct Cli {
    /// Configuration file (TOML).
    #[arg(long, global = true, env = "CAREMINDER_CONFIG")]
    config: Option<PathBuf>,
    /// Database file (overrides the configuration).
    #[arg(long, global = true, env = "CAREMINDER_DB")]
    db: Option<PathBuf>,
    /// Act as of this moment instead of now: "2026-12-01 09:00" (local time
    /// in the configured zone) or RFC 3339.
    #[arg(long, global = true)]
    now: Option<String>,
    /// Logs as JSON lines (for a log collector) instead of text.
    #[arg(long, global = true, env = "CAREMINDER_LOG_JSON")]
    log_json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the service: scheduler and HTTP server.
    Serve {
        /// Start on a fresh demo database with invented women, the mock
        /// gateway printing each message, and a clock running 120x.
        #[arg(long)]
        demo: bool,
        /// Listen address (overrides the configuration).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Same as `serve --demo`.
    Demo {
        #[arg(long)]
        listen: Option<String>,
    },
    /// Register one pregnant woman.
    Enroll {
        #[arg(long)]
        name: String,
        #[arg(long)]
        phone: String,
        /// Last menstrual period (YYYY-MM-DD).
        #[arg(long)]
        lmp: Option<String>,
        /// Expected delivery date (YYYY-MM-DD).
        #[arg(long)]
        edd: Option<String>,
        #[arg(long)]
        village: Option<String>,
        /// Code of the officer who looks after her.
        #[arg(long)]
        officer: Option<String>,
        /// zh-CN or en.
        #[arg(long)]
        language: Option<String>,
        #[arg(long)]
        wechat_openid: Option<String>,
        /// Care plan key (see `plans`).
        #[arg(long)]
        plan: Option<String>,
        /// How consent was given ("paper form", "verbal, witnessed"); without
        /// it she is registered but sent nothing.
        #[arg(long)]
        consent: Option<String>,
    },
    /// Import a roster CSV (English or Chinese header).
    Import {
        file: PathBuf,
        /// Who is importing, for the audit log.
        #[arg(long, default_value = "cli")]
        actor: String,
    },
    /// Plan and send once, as of now (or --now): what would go out then.
    Tick,
    /// List messages with their statuses.
    Outbox {
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
    },
    /// Correct a pregnancy's dates or end it.
    #[command(subcommand)]
    Pregnancy(PregnancyCmd),
    /// Broadcasts: a message to an audience on a chosen day (create with a
    /// preview, publish, follow, stop).
    #[command(subcommand)]
    Broadcast(BroadcastCmd),
    /// Campaigns: list, pause, resume (the week-by-week series starts paused).
    #[command(subcommand)]
    Campaign(CampaignCmd),
    /// WeChat: a woman's binding QR card, steps' template messages, unreadable callbacks.
    #[command(subcommand)]
    Wechat(WechatCmd),
    /// Record that a woman asked for no more messages.
    OptOut { woman_id: i64 },
    /// Print everything held about one woman, as JSON (a data-protection request).
    Export { woman_id: i64 },
    /// Erase one woman's personal data: name, number and message texts go,
    /// counts for reports stay, and nothing more is sent to her.
    Erase {
        woman_id: i64,
        /// Confirm: erasure cannot be undone.
        #[arg(long)]
        yes: bool,
    },
    /// Write a consistent copy of the database while the service runs.
    Backup {
        /// The copy to write; must not exist.
        dest: PathBuf,
    },
    /// Replace the database with a backup. Stop the service first.
    Restore {
        /// A file written by `careminder backup`.
        src: PathBuf,
        /// Confirm: the current database is replaced (it is kept beside as .before-restore).
        #[arg(long)]
        yes: bool,
    },
    /// Record consent given after registration; her reminders start from now.
    Consent {
        woman_id: i64,
        /// How it was given ("paper form", "verbal, witnessed by V001-O1").
        #[arg(long)]
        how: String,
    },
    /// Simulate a text arriving (as the mock gateway): replies, keywords, visit reports.
    Receive {
        /// Sender's number.
        #[arg(long)]
        from: String,
        #[arg(long)]
        text: String,
    },
    /// Questions waiting for an answer, or messages from unknown numbers.
    Inbox {
        /// Only this officer's.
        #[arg(long)]
        officer: Option<String>,
        #[arg(long)]
        unknown: bool,
        #[arg(long)]
        json: bool,
    },
    /// Answer a question in the inbox; sent through her channel.
    Answer {
        message_id: i64,
        #[arg(long)]
        text: String,
        /// Staff code of who answers (must look after her), or "admin".
        #[arg(long, default_value = "admin")]
        by: String,
    },
    /// Everything to and from one woman, in order, with statuses.
    Conversation {
        woman_id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Officers, supervisors and administrators.
    #[command(subcommand)]
    Staff(StaffCmd),
    /// Record a birth: ends the prenatal schedule, plans postpartum and newborn visits.
    Birth {
        woman_id: i64,
        /// Date of birth (YYYY-MM-DD).
        #[arg(long)]
        on: String,
        #[arg(long)]
        place: Option<String>,
        /// The baby was not born alive: no newborn visits are planned.
        #[arg(long)]
        not_live: bool,
    },
    /// What each officer and supervisor would receive right now (nothing is sent).
    Digest {
        #[arg(long)]
        json: bool,
    },
    /// Reports.
    #[command(subcommand)]
    Report(ReportCmd),
    /// Gateways.
    #[command(subcommand)]
    Gateway(GatewayCmd),
    /// Record visits.
    #[command(subcommand)]
    Visit(VisitCmd),
    /// List care plans, or add one from a TOML/JSON file.
    Plans {
        #[arg(long)]
        add: Option<PathBuf>,
    },
    /// Measure import, planning and dispatch rates on a temporary database.
    Bench(careminder::bench::BenchArgs),
    /// Print every setting with its default and a comment (a starting config file).
    PrintDefaultConfig,
    /// Check a configuration file: every error named with its key.
    CheckConfig { file: PathBuf },
    /// Versions of this binary and of the database schema it writes.
    Version,
}

#[derive(Subcommand)]
enum StaffCmd {
    /// Add a staff member.
    Add {
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        phone: Option<String>,
        /// officer, supervisor or admin.
        #[arg(long, default_value = "officer")]
        role: String,
        #[arg(long, default_value = "zh-CN")]
        language: String,
        #[arg(long)]
        village: Option<String>,
        #[arg(long)]
        township: Option<String>,
        /// WeCom user id: her digests and alerts go to WeCom (SMS as fallback).
        #[arg(long)]
        wecom_userid: Option<String>,
    },
    /// List staff.
    List,
    /// Set a staff member's console password: a new random one, printed,
    /// or (with --stdin) the first line of standard input.
    Password {
        code: String,
        #[arg(long)]
        stdin: bool,
    },
}

#[derive(Subcommand)]
enum GatewayCmd {
    /// Register careminder's webhooks (sms:received, sent, delivered, failed)
    /// on an SMS Gateway for Android phone, pointing at `public_url`.
    RegisterWebhooks {
        /// The gateway's name ("default" for [gateway]).
        #[arg(long, default_value = careminder::gateway::DEFAULT)]
        name: String,
    },
    /// List the configured gateways and routes.
    List,
}

#[derive(Subcommand)]
enum ReportCmd {
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

#[derive(Subcommand)]
enum VisitCmd {
    /// Record a visit done: silences its reminders and follow-ups.
    Done {
        woman_id: i64,
        /// Contact key (anc2, pnc-42d...); default: her current check-up.
        #[arg(long)]
        contact: Option<String>,
        /// Date of the visit (default: today).
        #[arg(long)]
        on: Option<String>,
        /// Staff code of who records it, or "admin".
        #[arg(long, default_value = "admin")]
        by: String,
        #[arg(long)]
        place: Option<String>,
    },
    /// Mark a visit missed: it leaves the overdue lists.
    Missed {
        woman_id: i64,
        #[arg(long)]
        contact: Option<String>,
        #[arg(long, default_value = "admin")]
        by: String,
    },
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once, at start
enum BroadcastCmd {
    /// Create a draft and print its preview: recipients, SMS parts, samples.
    Create {
        #[arg(long)]
        name: String,
        /// When it goes out, local time: "2026-12-05 10:00".
        #[arg(long)]
        at: String,
        #[arg(long)]
        text_zh: Option<String>,
        #[arg(long)]
        text_en: Option<String>,
        /// Only these villages (repeat the flag for more).
        #[arg(long)]
        village: Vec<String>,
        /// Only these townships' villages.
        #[arg(long)]
        township: Vec<String>,
        /// any, pregnant:FROM-TO (weeks) or postpartum:FROM-TO (weeks after birth).
        #[arg(long, default_value = "any")]
        stage: String,
        /// Only women reading this language.
        #[arg(long)]
        language: Vec<String>,
        /// sms (not bound to WeChat) or wechat (bound).
        #[arg(long)]
        channel: Option<String>,
        /// Only women who attended this contact (e.g. anc1).
        #[arg(long)]
        attended: Option<String>,
        /// Only women who have not attended this contact.
        #[arg(long)]
        not_attended: Option<String>,
        #[arg(long)]
        grace_hours: Option<i64>,
        /// Recurring, from --at on: a cron expression in local time, seconds
        /// first ("0 0 10 * * Tue": Tuesdays at 10:00).
        #[arg(long)]
        cron: Option<String>,
        /// Only print the preview; save nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Publish a draft: its messages are planned at once.
    Publish {
        id: i64,
    },
    /// Stop: every message not yet sent is cancelled.
    Stop {
        id: i64,
    },
    /// A broadcast, its preview while a draft, and its progress.
    Show {
        id: i64,
    },
    List,
}

#[derive(Subcommand)]
enum WechatCmd {
    /// Ask WeChat for a woman's binding QR code and write a printable PNG
    /// card with her name and the office's instructions.
    Qr {
        woman_id: i64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Set a campaign step's WeChat template message (checked against
    /// WeChat's rules: each field at most 20 characters, one line).
    Template {
        campaign: String,
        step: String,
        /// The account's template id.
        #[arg(long, required_unless_present = "remove")]
        template_id: Option<String>,
        /// A field as KEYWORD=TEMPLATE, in order, e.g. thing1='{{ name }}'.
        #[arg(long = "field")]
        fields: Vec<String>,
        /// A link the message opens.
        #[arg(long)]
        url: Option<String>,
        /// Remove the step's template message: SMS only.
        #[arg(long)]
        remove: bool,
    },
    /// Unbind a woman's WeChat (a new phone, a wrong scan): SMS until she
    /// scans her card again.
    Unbind { woman_id: i64 },
    /// Callbacks that could not be read, newest first.
    Rejects {
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

#[derive(Subcommand)]
enum CampaignCmd {
    List,
    Pause { key: String },
    Resume { key: String },
}

/// "any", "pregnant:20-30", "postpartum:0-6".
fn parse_stage(s: &str) -> Result<careminder::store::Stage> {
    use careminder::store::Stage;
    if s == "any" {
        return Ok(Stage::Any);
    }
    let (kind, range) = s.split_once(':').with_context(|| {
        format!("--stage {s:?}: use any, pregnant:FROM-TO or postpartum:FROM-TO")
    })?;
    let (a, b) = range
        .split_once('-')
        .with_context(|| format!("--stage {s:?}: weeks as FROM-TO"))?;
    let (weeks_from, weeks_to) = (a.trim().parse()?, b.trim().parse()?);
    match kind {
        "pregnant" => Ok(Stage::Pregnant {
            weeks_from,
            weeks_to,
        }),
        "postpartum" => Ok(Stage::Postpartum {
            weeks_from,
            weeks_to,
        }),
        _ => bail!("--stage {s:?}: use any, pregnant:FROM-TO or postpartum:FROM-TO"),
    }
}

fn print_preview(p: &careminder::broadcast::Preview) {
    println!(
        "{} recipients ({}), about {} SMS parts",
        p.recipients,
        p.by_language
            .iter()
            .map(|(l, n)| format!("{l}: {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        p.sms_parts
    );
    for s in &p.samples {
        println!(
            "  woman {} ({}, {} parts): {}",
            s.woman_id, s.language, s.parts, s.text
        );
    }
}

#[derive(Subcommand)]
enum PregnancyCmd {
    /// Replace LMP and/or EDD (a dating scan): re-plans what is not sent.
    Correct {
        id: i64,
        #[arg(long)]
        lmp: Option<String>,
        #[arg(long)]
        edd: Option<String>,
    },
    /// End a pregnancy without a birth: stops every pregnancy message at once.
    End { id: i64 },
}

fn parse_now(s: &str, tz: chrono_tz::Tz) -> Result<DateTime<Utc>> {
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
    if let Some(d) = careminder::domain::dates::parse_date(s) {
        return Ok(local_to_utc(tz, d.and_hms_opt(0, 0, 0).expect("midnight")));
    }
    bail!("--now: cannot read {s:?}; use \"2026-12-01 09:00\" or RFC 3339")
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    // Commands that must work without (or before) a valid configuration.
    match &cli.cmd {
        Cmd::PrintDefaultConfig => {
            print!("{}", careminder::config::EXAMPLE);
            return Ok(());
        }
        Cmd::CheckConfig { file } => {
            if !file.exists() {
                bail!("{}: no such file", file.display());
            }
            Config::load(Some(file))?;
            println!("{}: ok", file.display());
            return Ok(());
        }
        Cmd::Version => {
            println!(
                "careminder {} (database schema {})",
                env!("CARGO_PKG_VERSION"),
                careminder::store::schema_version()
            );
            return Ok(());
        }
        _ => {}
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("CAREMINDER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("careminder=info,warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cli.log_json {
        logs.json().init();
    } else {
        logs.init();
    }
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(db) = &cli.db {
        config.database = db.clone();
    }
    let clock = match &cli.now {
        Some(s) => Clock::manual(parse_now(s, config.timezone)?),
        None => Clock::System,
    };
    match cli.cmd {
        Cmd::Serve { demo: true, listen } | Cmd::Demo { listen } => {
            run_demo(config, cli.db.is_some(), listen).await
        }
        Cmd::Serve {
            demo: false,
            listen,
        } => {
            if let Some(l) = listen {
                config.listen = l;
            }
            let app = App::open(config, clock).await?;
            serve(app).await
        }
        Cmd::Enroll {
            name,
            phone,
            lmp,
            edd,
            village,
            officer,
            language,
            wechat_openid,
            plan,
            consent,
        } => {
            let app = App::open(config, clock).await?;
            let input = EnrollmentInput {
                name,
                phone,
                lmp,
                edd,
                village,
                officer,
                language,
                wechat_openid,
                consent: Some(if consent.is_some() { "yes" } else { "no" }.into()),
                care_plan: plan,
            };
            let source = consent
                .map(|c| format!("cli: {c}"))
                .unwrap_or_else(|| "cli".into());
            let out = app.enroll(&input, &source, &whoami()).await?;
            println!("{}", serde_json::to_string(&out)?);
            let visits = app.store.visits_of(out.pregnancy_id()).await?;
            for (key, due, end, status) in visits {
                println!("  {key:<14} due {due}  window ends {end}  {status}");
            }
            Ok(())
        }
        Cmd::Import { file, actor } => import(config, clock, file, actor).await,
        Cmd::Tick => {
            let app = App::open(config, clock).await?;
            let r = app.tick().await?;
            println!(
                "as of {}: planned {}, handed over {}, retried {}, failed {}, cancelled {}, expired {}",
                app.clock.now().with_timezone(&app.config.timezone).format("%Y-%m-%d %H:%M %Z"),
                r.plan.planned,
                r.dispatch.handed_over,
                r.dispatch.retried,
                r.dispatch.failed,
                r.dispatch.cancelled,
                r.dispatch.expired
            );
            Ok(())
        }
        Cmd::Outbox {
            status,
            woman,
            upcoming,
            limit,
            json,
            events,
        } => {
            let app = App::open(config, clock).await?;
            let rows = app
                .store
                .list_outbox(&OutboxFilter {
                    status,
                    woman_id: woman,
                    from: upcoming.then(|| app.clock.now()),
                    limit,
                })
                .await?;
            if json {
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
                if events {
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
        Cmd::Pregnancy(PregnancyCmd::Correct { id, lmp, edd }) => {
            let app = App::open(config, clock).await?;
            let d = app
                .correct_dates(id, lmp.as_deref(), edd.as_deref(), &whoami())
                .await?;
            println!(
                "pregnancy {id}: LMP {} EDD {}; unsent reminders re-planned",
                d.lmp, d.edd
            );
            Ok(())
        }
        Cmd::Pregnancy(PregnancyCmd::End { id }) => {
            let app = App::open(config, clock).await?;
            let n = app.end_pregnancy(id, &whoami()).await?;
            println!("pregnancy {id} ended; {n} pending messages cancelled");
            Ok(())
        }
        Cmd::OptOut { woman_id } => {
            let app = App::open(config, clock).await?;
            let n = app.opt_out(woman_id, "cli").await?;
            println!("woman {woman_id} opted out; {n} pending messages cancelled");
            Ok(())
        }
        Cmd::Broadcast(cmd) => {
            let app = App::open(config, clock).await?;
            match cmd {
                BroadcastCmd::Create {
                    name,
                    at,
                    text_zh,
                    text_en,
                    village,
                    township,
                    stage,
                    language,
                    channel,
                    attended,
                    not_attended,
                    grace_hours,
                    cron,
                    dry_run,
                } => {
                    let texts = [("zh-CN", text_zh), ("en", text_en)]
                        .into_iter()
                        .filter_map(|(l, t)| t.map(|t| (l.to_string(), t)))
                        .collect();
                    let req = careminder::broadcast::NewBroadcast {
                        name,
                        audience: careminder::store::Audience {
                            villages: village,
                            townships: township,
                            stage: parse_stage(&stage)?,
                            languages: language,
                            channel,
                            attended,
                            not_attended,
                        },
                        texts,
                        send_at: parse_now(&at, app.config.timezone)?,
                        cron,
                        grace_hours,
                    };
                    if dry_run {
                        print_preview(&app.preview_broadcast(&req).await?);
                    } else {
                        let (id, p) = app.create_broadcast(&req, &whoami()).await?;
                        println!("broadcast {id} saved as a draft; publish with: careminder broadcast publish {id}");
                        print_preview(&p);
                    }
                }
                BroadcastCmd::Publish { id } => {
                    let n = app.publish_broadcast(id, &whoami()).await?;
                    println!("broadcast {id} published: {n} messages planned");
                }
                BroadcastCmd::Stop { id } => {
                    let n = app.stop_broadcast(id, &whoami()).await?;
                    println!("broadcast {id} stopped: {n} unsent messages cancelled");
                }
                BroadcastCmd::Show { id } => {
                    let v = app.broadcast_view(id).await?;
                    let b = &v.broadcast;
                    println!(
                        "broadcast {} {:?}: {}, goes out {}",
                        b.id,
                        b.name,
                        b.status,
                        b.send_at
                            .with_timezone(&app.config.timezone)
                            .format("%Y-%m-%d %H:%M")
                    );
                    if let Some(p) = &v.preview {
                        print_preview(p);
                    }
                    for s in &v.progress {
                        println!("  {:<10} {}", s.status, s.count);
                    }
                }
                BroadcastCmd::List => {
                    for b in app.store.broadcasts().await? {
                        println!(
                            "{:>4}  {:<10} {}  {}",
                            b.id,
                            b.status,
                            b.send_at
                                .with_timezone(&app.config.timezone)
                                .format("%Y-%m-%d %H:%M"),
                            b.name
                        );
                    }
                }
            }
            Ok(())
        }
        Cmd::Wechat(cmd) => {
            let app = App::open(config, clock).await?;
            match cmd {
                WechatCmd::Qr { woman_id, out } => {
                    let (url, name) = app.wechat_qr(woman_id).await?;
                    let cfg = &app
                        .gateways
                        .wechat
                        .as_ref()
                        .expect("checked by wechat_qr")
                        .1;
                    let png = careminder::qr::card_png(
                        &url,
                        &name,
                        &cfg.config().qr_instructions,
                        &cfg.config().qr_font,
                    )?;
                    std::fs::write(&out, png)
                        .with_context(|| format!("writing {}", out.display()))?;
                    println!(
                        "QR card for woman {woman_id} written to {} (valid {} days)",
                        out.display(),
                        cfg.config().qr_expire_days.clamp(1, 30)
                    );
                }
                WechatCmd::Template {
                    campaign,
                    step,
                    template_id,
                    fields,
                    url,
                    remove,
                } => {
                    let variant = if remove {
                        None
                    } else {
                        let fields = fields
                            .iter()
                            .map(|f| {
                                f.split_once('=')
                                    .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                                    .with_context(|| {
                                        format!("--field {f:?}: write KEYWORD=TEMPLATE")
                                    })
                            })
                            .collect::<anyhow::Result<Vec<_>>>()?;
                        Some(careminder::store::WechatVariant {
                            step_id: 0,
                            template_id: template_id.unwrap_or_default(),
                            url,
                            fields,
                        })
                    };
                    app.set_wechat_variant(&campaign, &step, variant, "cli")
                        .await?;
                    println!(
                        "{campaign}/{step}: WeChat template message {}",
                        if remove { "removed" } else { "saved" }
                    );
                }
                WechatCmd::Unbind { woman_id } => {
                    if app
                        .store
                        .unbind_wechat(woman_id, "cli", app.clock.now())
                        .await?
                    {
                        println!("woman {woman_id}: WeChat unbound, SMS from now on");
                    } else {
                        println!("woman {woman_id} was not bound to WeChat");
                    }
                }
                WechatCmd::Rejects { limit } => {
                    for (id, gateway, reason, body, at) in
                        app.store.rejected_webhooks(limit).await?
                    {
                        println!(
                            "#{id} {} {gateway}: {reason}\n  {}",
                            careminder::store::from_ts(at).format("%Y-%m-%d %H:%M:%S UTC"),
                            String::from_utf8_lossy(&body)
                                .chars()
                                .take(300)
                                .collect::<String>()
                        );
                    }
                }
            }
            Ok(())
        }
        Cmd::Campaign(cmd) => {
            let app = App::open(config, clock).await?;
            let now = app.clock.now();
            match cmd {
                CampaignCmd::List => {
                    for (key, name, status, outreach, steps) in app.store.campaigns().await? {
                        if key.starts_with("broadcast:") {
                            continue;
                        }
                        let kind = if outreach { "outreach" } else { "reminders" };
                        println!("{key:<20} {status:<8} {kind:<9} {steps:>3} steps  {name}");
                    }
                }
                CampaignCmd::Pause { key } => {
                    app.store.set_campaign_status(&key, "paused", now).await?;
                    println!("campaign {key} paused: nothing more is planned for it");
                }
                CampaignCmd::Resume { key } => {
                    app.store.set_campaign_status(&key, "active", now).await?;
                    println!("campaign {key} active");
                }
            }
            Ok(())
        }
        Cmd::Export { woman_id } => {
            let app = App::open(config, clock).await?;
            let out = app.export_woman(woman_id, &whoami()).await?;
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(())
        }
        Cmd::Erase { woman_id, yes } => {
            if !yes {
                bail!("erasing woman {woman_id} cannot be undone: run again with --yes");
            }
            let app = App::open(config, clock).await?;
            let e = app.erase_woman(woman_id, &whoami()).await?;
            println!(
                "woman {woman_id} erased: {} unsent messages cancelled, {} messages and {} replies scrubbed",
                e.cancelled, e.messages_scrubbed, e.replies_scrubbed
            );
            Ok(())
        }
        Cmd::Backup { dest } => {
            let store = careminder::store::Store::open(&config.database).await?;
            careminder::backup::backup(&store, &dest).await?;
            println!("backup written to {}", dest.display());
            Ok(())
        }
        Cmd::Restore { src, yes } => {
            if !yes {
                bail!(
                    "restoring replaces {}: stop the service, then run again with --yes",
                    config.database.display()
                );
            }
            let kept = careminder::backup::restore(&src, &config.database).await?;
            println!(
                "{} restored from {}; the database it replaced is at {}",
                config.database.display(),
                src.display(),
                kept.display()
            );
            Ok(())
        }
        Cmd::Consent { woman_id, how } => {
            let app = App::open(config, clock).await?;
            app.give_consent(woman_id, &how, &whoami()).await?;
            println!("woman {woman_id}: consent recorded; reminders start from now");
            Ok(())
        }
        Cmd::Receive { from, text } => {
            let app = App::open(config, clock).await?;
            let sender = careminder::domain::Phone::parse(&from, app.config.region())?;
            let now = app.clock.now();
            let r = app
                .receive(careminder::store::NewInbound {
                    gateway: "cli".into(),
                    provider_id: format!(
                        "cli-{}-{:x}",
                        now.timestamp_millis(),
                        rand::random::<u32>()
                    ),
                    sender: sender.as_str().to_string(),
                    text,
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
            app.tick().await?;
            Ok(())
        }
        Cmd::Inbox {
            officer,
            unknown,
            json,
        } => {
            let app = App::open(config, clock).await?;
            let rows = app.store.inbox(officer.as_deref(), unknown).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(());
            }
            let tz = app.config.timezone;
            for m in rows {
                println!(
                    "#{:<6} {}  woman {:<6} officer {:<10} {}",
                    m.id,
                    careminder::store::from_ts(m.received_at)
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
        Cmd::Answer {
            message_id,
            text,
            by,
        } => {
            let app = App::open(config, clock).await?;
            app.answer(message_id, &text, &by).await?;
            app.tick().await?;
            println!("answer to message {message_id} sent");
            Ok(())
        }
        Cmd::Conversation { woman_id, json } => {
            let app = App::open(config, clock).await?;
            app.store.woman(woman_id).await?;
            let items = app.store.conversation(woman_id).await?;
            if json {
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
        Cmd::Staff(StaffCmd::Add {
            code,
            name,
            phone,
            role,
            language,
            village,
            township,
            wecom_userid,
        }) => {
            let app = App::open(config, clock).await?;
            if !["officer", "supervisor", "admin"].contains(&role.as_str()) {
                bail!("--role must be officer, supervisor or admin");
            }
            if !careminder::render::LANGUAGES.contains(&language.as_str()) {
                bail!("--language must be zh-CN or en");
            }
            let phone = phone
                .map(|p| careminder::domain::Phone::parse(&p, app.config.region()))
                .transpose()?;
            let id = app
                .store
                .add_staff(
                    &careminder::store::NewStaff {
                        code: code.clone(),
                        name,
                        phone,
                        role,
                        language,
                        village,
                        township,
                        wecom_userid,
                    },
                    app.clock.now(),
                )
                .await?;
            println!("staff {code} added (id {id})");
            Ok(())
        }
        Cmd::Staff(StaffCmd::Password { code, stdin }) => {
            let app = App::open(config, clock).await?;
            let Some(s) = app.store.staff_by_code(&code).await? else {
                bail!("no staff member {code}");
            };
            let password = if stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                let p = line.trim_end_matches(['\r', '\n']).to_string();
                if p.chars().count() < 10 {
                    bail!("the password must have at least 10 characters");
                }
                p
            } else {
                careminder::console::new_password()
            };
            let hash = careminder::console::hash_password(&password).map_err(anyhow::Error::msg)?;
            app.store.set_password(s.id, &hash, app.clock.now()).await?;
            app.store
                .audit(
                    app.clock.now(),
                    "cli",
                    "password_set",
                    &format!("staff:{}", s.id),
                    "",
                )
                .await?;
            if stdin {
                println!("password set for {code}; their open sessions are signed out");
            } else {
                println!("password for {code}: {password}");
            }
            Ok(())
        }
        Cmd::Staff(StaffCmd::List) => {
            let app = App::open(config, clock).await?;
            for s in app.store.staff_list().await? {
                println!(
                    "{:<12} {:<10} {:<12} {:<8} {:<8} {}",
                    s.code,
                    s.role,
                    s.name,
                    s.village.unwrap_or_default(),
                    s.township.unwrap_or_default(),
                    s.phone
                        .map(|p| careminder::domain::phone::mask(&p))
                        .unwrap_or_default()
                );
            }
            Ok(())
        }
        Cmd::Visit(VisitCmd::Done {
            woman_id,
            contact,
            on,
            by,
            place,
        }) => {
            let app = App::open(config, clock).await?;
            let n = app
                .record_visit(
                    woman_id,
                    contact.as_deref(),
                    on.as_deref(),
                    &by,
                    place.as_deref(),
                )
                .await?;
            println!("visit recorded for woman {woman_id}; {n} reminders silenced");
            Ok(())
        }
        Cmd::Visit(VisitCmd::Missed {
            woman_id,
            contact,
            by,
        }) => {
            let app = App::open(config, clock).await?;
            let n = app.mark_missed(woman_id, contact.as_deref(), &by).await?;
            println!("visit marked missed for woman {woman_id}; {n} follow-ups cancelled");
            Ok(())
        }
        Cmd::Birth {
            woman_id,
            on,
            place,
            not_live,
        } => {
            let app = App::open(config, clock).await?;
            let n = app
                .record_birth(woman_id, &on, place.as_deref(), !not_live, &whoami())
                .await?;
            println!("birth recorded for woman {woman_id}; {n} prenatal messages cancelled; postpartum visits:");
            let pid = app
                .store
                .current_pregnancy(woman_id)
                .await?
                .unwrap_or_default();
            for (key, due, end, status) in app.store.visits_of(pid).await? {
                if status == "pending" {
                    println!("  {key:<14} due {due}  window ends {end}");
                }
            }
            Ok(())
        }
        Cmd::Digest { json } => {
            let app = App::open(config, clock).await?;
            let digests = app.digests(app.clock.now()).await?;
            if json {
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
        Cmd::Report(ReportCmd::Coverage { from, to, json }) => {
            let app = App::open(config, clock).await?;
            let now = app.clock.now();
            let today = careminder::domain::schedule::local_date(app.config.timezone, now);
            let day = |s: Option<String>, default| -> Result<chrono::NaiveDate> {
                match s {
                    Some(s) => careminder::domain::dates::parse_date(&s)
                        .with_context(|| format!("not a date: {s}")),
                    None => Ok(default),
                }
            };
            let from = day(from, today - chrono::Duration::days(28))?;
            let to = day(to, today)?;
            let rows = app.coverage(from, to, now).await?;
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
        Cmd::Gateway(GatewayCmd::RegisterWebhooks { name }) => {
            let entry_cfg = if name == careminder::gateway::DEFAULT {
                config.gateway.clone()
            } else {
                config
                    .gateways
                    .get(&name)
                    .cloned()
                    .with_context(|| format!("no gateway named {name}"))?
            };
            if entry_cfg.kind != "android" {
                bail!(
                    "gateway {name} is a {} gateway, not android",
                    entry_cfg.kind
                );
            }
            let g =
                careminder::gateway::android::Android::new(name.clone(), "gateway", &entry_cfg)?;
            let done = g
                .register_webhooks(&config.public_url)
                .await
                .map_err(anyhow::Error::msg)?;
            println!(
                "registered {} on {name} -> {}/webhooks/android",
                done.join(", "),
                config.public_url
            );
            Ok(())
        }
        Cmd::Gateway(GatewayCmd::List) => {
            println!(
                "{:<12} {}",
                careminder::gateway::DEFAULT,
                config.gateway.kind
            );
            for (n, g) in &config.gateways {
                println!("{n:<12} {}", g.kind);
            }
            if let Some(s) = &config.routing.staff {
                println!("staff messages -> {s}");
            }
            for (v, g) in &config.routing.villages {
                println!("village {v} -> {g}");
            }
            Ok(())
        }
        Cmd::Plans { add } => {
            let app = App::open(config, clock).await?;
            if let Some(f) = add {
                let text = std::fs::read_to_string(&f)
                    .with_context(|| format!("reading {}", f.display()))?;
                let plan: careminder::domain::CarePlan =
                    if f.extension().is_some_and(|e| e == "json") {
                        serde_json::from_str(&text)?
                    } else {
                        use figment::providers::{Format, Toml};
                        figment::Figment::from(Toml::string(&text)).extract()?
                    };
                plan.validate()?;
                app.store.save_plan(&plan, app.clock.now()).await?;
                println!("saved plan {}", plan.key);
            }
            for (p, builtin) in app.store.plans().await? {
                println!(
                    "{}{}  {}",
                    p.key,
                    if builtin { " (built in)" } else { "" },
                    p.name
                );
                for c in &p.contacts {
                    println!(
                        "    {:<14} {:?} day {}..{} due {}  {}",
                        c.key, c.anchor, c.window_start, c.window_end, c.due, c.label_en
                    );
                }
                if let Some(r) = &p.repeat {
                    println!(
                        "    every {} days from registration until {} days: {}",
                        r.every_days, r.until_ga_days, r.label_en
                    );
                }
            }
            Ok(())
        }
        Cmd::Bench(args) => careminder::bench::run(args).await,
        Cmd::PrintDefaultConfig | Cmd::CheckConfig { .. } | Cmd::Version => {
            unreachable!("handled above")
        }
    }
}

fn whoami() -> String {
    std::env::var("USER")
        .map(|u| format!("cli:{u}"))
        .unwrap_or_else(|_| "cli".into())
}

async fn import(config: Config, clock: Clock, file: PathBuf, actor: String) -> Result<()> {
    let app = App::open(config, clock).await?;
    let f = std::fs::File::open(&file).with_context(|| format!("opening {}", file.display()))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{bar:40}] {bytes}/{total_bytes} {per_sec} eta {eta}",
        )
        .expect("template")
        .progress_chars("=> "),
    );
    let source = format!(
        "roster:{}",
        file.file_name()
            .map(|f| f.to_string_lossy().to_string())
            .unwrap_or_default()
    );
    let started = std::time::Instant::now();
    let report =
        careminder::importer::import(&app, std::io::BufReader::new(f), &source, &actor, |b| {
            bar.set_position(b)
        })
        .await?;
    bar.finish_and_clear();
    for r in &report.refused {
        println!("line {}: refused: {}", r.line, r.reason);
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} accepted ({} new, {} unchanged, {} dates corrected; {} without consent: nothing will be sent to them), {} refused, in {:.1}s",
        report.accepted(),
        report.created,
        report.unchanged,
        report.corrected,
        report.without_consent,
        report.refused.len(),
        secs
    );
    Ok(())
}

async fn serve(app: Arc<App>) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(&app.config.listen)
        .await
        .with_context(|| format!("listening on {}", app.config.listen))?;
    tracing::info!(addr = %listener.local_addr()?, db = %app.config.database.display(), "careminder serving");
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = tx.send(true);
    });
    careminder::serve(app, listener, rx, true).await?;
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

async fn run_demo(mut config: Config, db_given: bool, listen: Option<String>) -> Result<()> {
    if !db_given {
        config.database = PathBuf::from("careminder-demo.db");
    }
    // The demo always starts from nothing: its clock restarts every time.
    for suffix in ["", "-wal", "-shm"] {
        let mut p = config.database.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
    if let Some(l) = listen {
        config.listen = l;
    }
    config.gateway.kind = "mock".into();
    config.gateway.mock.print = true;
    config.planner.interval_seconds = 300;
    // The demo clock runs 120x: a sign-in lasts about twelve real hours.
    config.console.session_hours = 12 * careminder::demo::DEMO_SPEED as i64;
    if config.api_token.is_none() {
        config.api_token = Some(format!("demo-{:016x}", rand::random::<u64>()));
    }
    let tz = config.timezone;
    let today = Clock::System.now().with_timezone(&tz).date_naive();
    let start = local_to_utc(
        tz,
        today.and_time(parse_hhmm(careminder::demo::DEMO_START).expect("time")),
    );
    let clock = Clock::accelerated(start, careminder::demo::DEMO_SPEED);
    let app = App::open(config, clock).await?;
    let n = careminder::demo::seed(&app).await?;
    let accounts = careminder::demo::accounts(&app).await?;
    println!(
        "careminder demo: {n} invented women registered in {}.\n\
         The demo clock starts at {} {} and runs {}x: a real minute is two hours.\n\
         Messages the mock gateway \"sends\" appear below (numbers masked).\n\
         Console: http://{}/   API token: {}\n\
         Some women reply after their first reminders (lines marked [mock sms in]).\n\
         Press Ctrl-C to stop.\n",
        app.config.database.display(),
        today,
        careminder::demo::DEMO_START,
        careminder::demo::DEMO_SPEED,
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
        if let Err(e) = careminder::demo::play_replies(&replies).await {
            tracing::error!(error = %e, "demo replies failed");
        }
    });
    serve(app).await
}
