//! `campaign list | pause | resume | sms-template`.

use super::{whoami, Ctx};
use crate::services::campaigns::CampaignState;
use anyhow::{Context, Result};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum CampaignCmd {
    List,
    Pause {
        key: String,
    },
    Resume {
        key: String,
    },
    /// Map a step to the template a cloud SMS provider (aliyun, tencent)
    /// approved: checked against every gateway of that provider (each
    /// variable mapped, within its limit, the text within its SMS parts).
    SmsTemplate {
        campaign: String,
        step: String,
        #[arg(long)]
        provider: String,
        /// The approved template's code (SMS_123456789, 1234567).
        #[arg(long, required_unless_present = "remove")]
        code: Option<String>,
        /// The approved content, exactly: ${name} (aliyun) or {1} (tencent).
        #[arg(long, required_unless_present = "remove")]
        content: Option<String>,
        /// A variable as VARIABLE=TEMPLATE, e.g. name='{{ name }}' or 1='{{ date }}'.
        #[arg(long = "param")]
        params: Vec<String>,
        /// A promotional (推广) template, carrying the provider's opt-out words.
        #[arg(long)]
        promotional: bool,
        /// Remove the step's template for this provider.
        #[arg(long)]
        remove: bool,
    },
}

/// `KEY=TEMPLATE` pairs, in order.
pub fn key_values(list: &[String], flag: &str) -> Result<Vec<(String, String)>> {
    list.iter()
        .map(|f| {
            f.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .with_context(|| format!("{flag} {f:?}: write NAME=TEMPLATE"))
        })
        .collect()
}

pub async fn run(ctx: Ctx, cmd: CampaignCmd) -> Result<()> {
    let app = ctx.open().await?;
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
            app.campaigns
                .set_state(&key, CampaignState::Paused, &whoami())
                .await?;
            println!("campaign {key} paused: nothing more is planned for it");
        }
        CampaignCmd::Resume { key } => {
            app.campaigns
                .set_state(&key, CampaignState::Active, &whoami())
                .await?;
            println!("campaign {key} active");
        }
        CampaignCmd::SmsTemplate {
            campaign,
            step,
            provider,
            code,
            content,
            params,
            promotional,
            remove,
        } => {
            let provider: crate::domain::GatewayKind = provider.parse()?;
            let variant = if remove {
                None
            } else {
                Some(crate::render::SmsVariant {
                    step_id: 0,
                    provider,
                    code: code.unwrap_or_default(),
                    content: content.unwrap_or_default(),
                    params: key_values(&params, "--param")?,
                    promotional,
                })
            };
            let sample = app
                .sms_templates
                .set(&campaign, &step, provider, variant, &whoami())
                .await?;
            match sample {
                Some(s) => println!(
                    "{campaign}/{step}: {} template saved; the sample woman reads:\n  {s}",
                    provider.as_str()
                ),
                None => println!("{campaign}/{step}: {} template removed", provider.as_str()),
            }
        }
    }
    Ok(())
}
