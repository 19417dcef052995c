//! `campaign list | pause | resume`.

use super::{whoami, Ctx};
use crate::services::campaigns::CampaignState;
use anyhow::Result;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum CampaignCmd {
    List,
    Pause { key: String },
    Resume { key: String },
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
    }
    Ok(())
}
