//! `broadcast create | publish | stop | show | list`.

use super::{parse_now, whoami, Ctx};
use anyhow::{bail, Context, Result};
use clap::Subcommand;

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once, at start
pub enum BroadcastCmd {
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
        /// A cloud SMS provider's approved promotional template, as JSON:
        /// {"provider":"aliyun","code":"SMS_1","content":"…${name}…拒收请回复R",
        /// "params":[["name","{{ name }}"]],"promotional":true}. Repeat per provider.
        #[arg(long = "sms-template")]
        sms_templates: Vec<String>,
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

/// "any", "pregnant:20-30", "postpartum:0-6".
fn parse_stage(s: &str) -> Result<crate::store::Stage> {
    use crate::store::Stage;
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

fn print_preview(p: &crate::services::broadcasts::Preview) {
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

pub async fn run(ctx: Ctx, cmd: BroadcastCmd) -> Result<()> {
    let app = ctx.open().await?;
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
            sms_templates,
        } => {
            let sms_templates = sms_templates
                .iter()
                .map(|j| {
                    serde_json::from_str::<crate::render::SmsVariant>(j)
                        .with_context(|| format!("--sms-template {j:?}"))
                })
                .collect::<Result<Vec<_>>>()?;
            let texts = [("zh-CN", text_zh), ("en", text_en)]
                .into_iter()
                .filter_map(|(l, t)| t.map(|t| (l.to_string(), t)))
                .collect();
            let req = crate::services::broadcasts::NewBroadcast {
                name,
                audience: crate::store::Audience {
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
                sms_templates,
            };
            if dry_run {
                print_preview(&app.broadcasts.preview(&req).await?);
            } else {
                let (id, p) = app.broadcasts.create(&req, &whoami()).await?;
                println!("broadcast {id} saved as a draft; publish with: careminder broadcast publish {id}");
                print_preview(&p);
            }
        }
        BroadcastCmd::Publish { id } => {
            let n = app.broadcasts.publish(id, &whoami()).await?;
            println!("broadcast {id} published: {n} messages planned");
        }
        BroadcastCmd::Stop { id } => {
            let n = app.broadcasts.stop(id, &whoami()).await?;
            println!("broadcast {id} stopped: {n} unsent messages cancelled");
        }
        BroadcastCmd::Show { id } => {
            let v = app.broadcasts.view(id).await?;
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
