//! `registers`: a hospital's delivery register or a clinic's check-up
//! register imported, and the rows waiting to be matched.

use crate::services::access::CLI_ADMIN;
use crate::services::registers::{self, Decision, Kind};
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use std::path::PathBuf;

use super::Ctx;

#[derive(Subcommand)]
pub enum RegistersCmd {
    /// Import a register: `deliveries` (分娩登记) or `checkups` (产前检查登记).
    Import {
        /// deliveries or checkups.
        kind: String,
        file: PathBuf,
        /// Who imports (a staff code; the administrator by default).
        #[arg(long, default_value = CLI_ADMIN)]
        by: String,
    },
    /// The rows waiting to be matched.
    Waiting,
    /// Match a waiting row to a registered woman: it is recorded for her.
    Match {
        row: i64,
        woman: i64,
        #[arg(long)]
        reason: String,
        #[arg(long, default_value = CLI_ADMIN)]
        by: String,
    },
    /// Dismiss a waiting row: it is for no one careminder follows.
    Dismiss {
        row: i64,
        #[arg(long)]
        reason: String,
        #[arg(long, default_value = CLI_ADMIN)]
        by: String,
    },
}

pub async fn run(ctx: Ctx, cmd: RegistersCmd) -> Result<()> {
    let app = ctx.open().await?;
    match cmd {
        RegistersCmd::Import { kind, file, by } => {
            let Some(kind) = Kind::parse(&kind) else {
                bail!("{kind:?}: give deliveries or checkups");
            };
            let f = std::fs::File::open(&file)
                .with_context(|| format!("opening {}", file.display()))?;
            let source = file
                .file_name()
                .map(|f| f.to_string_lossy().to_string())
                .unwrap_or_default();
            let report =
                registers::import(&app.care, kind, std::io::BufReader::new(f), &source, &by)
                    .await?;
            for r in &report.refused {
                println!("line {}: refused: {}", r.line, r.reason);
            }
            for w in &report.waiting {
                println!(
                    "line {}: waiting to be matched (row {}): {}",
                    w.line, w.id, w.reason
                );
            }
            println!(
                "{} recorded, {} recorded before, {} waiting to be matched, {} listed before, {} refused",
                report.recorded,
                report.already_recorded,
                report.waiting.len(),
                report.already_listed,
                report.refused.len()
            );
        }
        RegistersCmd::Waiting => {
            for r in registers::waiting(&app.care).await? {
                println!(
                    "row {}  {} {} line {}  {}  {}",
                    r.id, r.kind, r.source, r.line, r.reason, r.fields
                );
            }
        }
        RegistersCmd::Match {
            row,
            woman,
            reason,
            by,
        } => {
            let d = registers::decide(
                &app.care,
                row,
                &Decision::Match { woman_id: woman },
                &reason,
                &by,
            )
            .await?;
            println!("{}", serde_json::to_string(&d)?);
        }
        RegistersCmd::Dismiss { row, reason, by } => {
            let d = registers::decide(&app.care, row, &Decision::Dismiss, &reason, &by).await?;
            println!("{}", serde_json::to_string(&d)?);
        }
    }
    Ok(())
}
