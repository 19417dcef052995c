//! `gateway list | register-webhooks`.

use super::Ctx;
use crate::config::ChannelSettings;
use anyhow::{bail, Context, Result};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum GatewayCmd {
    /// Register careminder's webhooks (sms:received, sent, delivered, failed)
    /// on an SMS Gateway for Android phone, pointing at `public_url`.
    RegisterWebhooks {
        /// The gateway's name ("default" for [gateway]).
        #[arg(long, default_value = crate::gateway::DEFAULT)]
        name: String,
    },
    /// The webhooks registered on an SMS Gateway for Android phone
    /// (careminder's and any others).
    Webhooks {
        #[arg(long, default_value = crate::gateway::DEFAULT)]
        name: String,
    },
    /// Remove careminder's webhooks from an SMS Gateway for Android phone.
    UnregisterWebhooks {
        #[arg(long, default_value = crate::gateway::DEFAULT)]
        name: String,
    },
    /// List the configured gateways and routes.
    List,
}

/// The Android gateway configured under `name`.
fn android(config: &crate::Config, name: &str) -> Result<crate::gateway::android::Android> {
    let entry_cfg = if name == crate::gateway::DEFAULT {
        config.gateway.clone()
    } else {
        config
            .gateways
            .get(name)
            .cloned()
            .with_context(|| format!("no gateway named {name}"))?
    };
    let ChannelSettings::Android(settings) = &entry_cfg.channel else {
        bail!(
            "gateway {name} is a {} gateway, not android",
            entry_cfg.channel.kind()
        );
    };
    Ok(crate::gateway::android::Android::new(
        name.to_string(),
        "gateway",
        &entry_cfg,
        settings,
    )?)
}

pub async fn run(ctx: Ctx, cmd: GatewayCmd) -> Result<()> {
    let config = ctx.config;
    match cmd {
        GatewayCmd::Webhooks { name } => {
            let hooks = android(&config, &name)?
                .list_webhooks()
                .await
                .map_err(anyhow::Error::msg)?;
            if hooks.is_empty() {
                println!("no webhooks registered on {name}");
            }
            for h in hooks {
                println!(
                    "{:<28} {:<14} {}",
                    h.id.unwrap_or_else(|| "-".into()),
                    h.event,
                    h.url
                );
            }
        }
        GatewayCmd::UnregisterWebhooks { name } => {
            let gone = android(&config, &name)?
                .unregister_webhooks()
                .await
                .map_err(anyhow::Error::msg)?;
            println!(
                "removed {} webhook(s) from {name}: {}",
                gone.len(),
                gone.join(", ")
            );
        }
        GatewayCmd::RegisterWebhooks { name } => {
            let g = android(&config, &name)?;
            let done = g
                .register_webhooks(&config.public_url)
                .await
                .map_err(anyhow::Error::msg)?;
            println!(
                "registered {} on {name} -> {}/webhooks/android",
                done.join(", "),
                config.public_url
            );
        }
        GatewayCmd::List => {
            println!(
                "{:<12} {}",
                crate::gateway::DEFAULT,
                config.gateway.channel.kind()
            );
            for (n, g) in &config.gateways {
                println!("{n:<12} {}", g.channel.kind());
            }
            if let Some(s) = &config.routing.staff {
                println!("staff messages -> {s}");
            }
            for (v, g) in &config.routing.villages {
                println!("village {v} -> {g}");
            }
        }
    }
    Ok(())
}
