//! `move`, `transfer`: a woman who moved (within the county or away), her
//! referral summary, and a summary from another county imported here.

use super::Ctx;
use anyhow::Result;
use clap::{Args, Subcommand};

#[derive(Args)]
pub struct MoveArgs {
    woman_id: i64,
    /// Within the county: the officer who looks after her from now on.
    #[arg(long, conflicts_with = "destination")]
    officer: Option<String>,
    /// Within the county: her new village (default: the officer's).
    #[arg(long)]
    village: Option<String>,
    /// Another county: where she went. Her care here ends; the referral
    /// summary is printed (JSON) to send with her.
    #[arg(long)]
    destination: Option<String>,
    /// The day she moved (default: today).
    #[arg(long)]
    on: Option<String>,
    /// Staff code of who records it, or "admin".
    #[arg(long, default_value = crate::services::access::CLI_ADMIN)]
    by: String,
}

#[derive(Subcommand)]
pub enum TransferCmd {
    /// Print the referral summary (JSON) of a woman who moved away.
    Summary { woman_id: i64 },
    /// Import another county's referral summary (a JSON file): she is
    /// registered here with her done visits kept.
    Import {
        file: std::path::PathBuf,
        #[arg(long)]
        village: Option<String>,
        #[arg(long)]
        officer: Option<String>,
    },
}

pub async fn record(ctx: Ctx, a: MoveArgs) -> Result<()> {
    let app = ctx.open().await?;
    let input = crate::services::moves::MoveInput {
        by: None,
        on: a.on,
        officer: a.officer,
        village: a.village,
        destination: a.destination,
    };
    let out = app.moves.record(a.woman_id, &input, &a.by).await?;
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

pub async fn transfer(ctx: Ctx, cmd: TransferCmd) -> Result<()> {
    let app = ctx.open().await?;
    match cmd {
        TransferCmd::Summary { woman_id } => {
            let s = app
                .moves
                .summary(woman_id, crate::services::access::CLI_ADMIN)
                .await?;
            println!("{}", serde_json::to_string_pretty(&s)?);
        }
        TransferCmd::Import {
            file,
            village,
            officer,
        } => {
            let bytes = std::fs::read(&file)?;
            let out = app
                .moves
                .import(
                    &bytes,
                    village.as_deref(),
                    officer.as_deref(),
                    crate::services::access::CLI_ADMIN,
                )
                .await?;
            if out.unchanged {
                println!(
                    "imported before: woman {} (pregnancy {}), nothing changed",
                    out.woman_id, out.pregnancy_id
                );
            } else {
                println!(
                    "woman {} registered (pregnancy {}), {} visits done kept; her plan goes on from today",
                    out.woman_id, out.pregnancy_id, out.visits_done
                );
            }
        }
    }
    Ok(())
}
