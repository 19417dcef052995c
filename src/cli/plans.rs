//! `plans`: the care plans, and adding one from a file.

use super::Ctx;
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct PlansArgs {
    #[arg(long)]
    add: Option<PathBuf>,
}

pub async fn run(ctx: Ctx, a: PlansArgs) -> Result<()> {
    let app = ctx.open().await?;
    if let Some(f) = a.add {
        let text =
            std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?;
        let plan: crate::domain::CarePlan = if f.extension().is_some_and(|e| e == "json") {
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
