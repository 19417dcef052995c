//! `consent`, `opt-out`, `export`, `erase`: her consent and her data.

use super::{whoami, Ctx};
use crate::services::consent::Via;
use anyhow::{bail, Result};
use clap::Args;

#[derive(Args)]
pub struct WomanArg {
    woman_id: i64,
}

#[derive(Args)]
pub struct EraseArgs {
    woman_id: i64,
    /// Confirm: erasure cannot be undone.
    #[arg(long)]
    yes: bool,
}

#[derive(Args)]
pub struct ConsentArgs {
    woman_id: i64,
    /// How it was given ("paper form", "verbal, witnessed by V001-O1").
    #[arg(long)]
    how: String,
}

pub async fn opt_out(ctx: Ctx, a: WomanArg) -> Result<()> {
    let app = ctx.open().await?;
    let woman_id = a.woman_id;
    app.store.woman(woman_id).await?;
    match app.consents.opt_out(woman_id, Via::Cli, &whoami()).await? {
        Some(n) => println!("woman {woman_id} opted out; {n} pending messages cancelled"),
        None => println!("woman {woman_id} had opted out already"),
    }
    Ok(())
}

pub async fn consent(ctx: Ctx, a: ConsentArgs) -> Result<()> {
    let app = ctx.open().await?;
    app.consents.give(a.woman_id, &a.how, &whoami()).await?;
    println!(
        "woman {}: consent recorded; reminders start from now",
        a.woman_id
    );
    Ok(())
}

pub async fn export(ctx: Ctx, a: WomanArg) -> Result<()> {
    let app = ctx.open().await?;
    let out = app.care.export_woman(a.woman_id, &whoami()).await?;
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

pub async fn erase(ctx: Ctx, a: EraseArgs) -> Result<()> {
    let woman_id = a.woman_id;
    if !a.yes {
        bail!("erasing woman {woman_id} cannot be undone: run again with --yes");
    }
    let app = ctx.open().await?;
    let e = app.care.erase_woman(woman_id, &whoami()).await?;
    println!(
        "woman {woman_id} erased: {} unsent messages cancelled, {} messages and {} replies scrubbed",
        e.cancelled, e.messages_scrubbed, e.replies_scrubbed
    );
    Ok(())
}
