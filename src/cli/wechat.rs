//! `wechat qr | template | unbind | rejects`.

use super::Ctx;
use anyhow::{Context, Result};
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum WechatCmd {
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

pub async fn run(ctx: Ctx, cmd: WechatCmd) -> Result<()> {
    let app = ctx.open().await?;
    match cmd {
        WechatCmd::Qr { woman_id, out } => {
            let (url, name) = app.wechat.qr(woman_id).await?;
            let cfg = &app.gateways.wechat.as_ref().expect("checked by qr").1;
            let png = crate::qr::card_png(
                &url,
                &name,
                &cfg.config().qr_instructions,
                &cfg.config().qr_font,
            )?;
            std::fs::write(&out, png).with_context(|| format!("writing {}", out.display()))?;
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
                            .with_context(|| format!("--field {f:?}: write KEYWORD=TEMPLATE"))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                Some(crate::store::WechatVariant {
                    step_id: 0,
                    template_id: template_id.unwrap_or_default(),
                    url,
                    fields,
                })
            };
            app.wechat
                .set_variant(&campaign, &step, variant, "cli")
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
            for (id, gateway, reason, body, at) in app.store.rejected_webhooks(limit).await? {
                println!(
                    "#{id} {} {gateway}: {reason}\n  {}",
                    crate::store::from_ts(at).format("%Y-%m-%d %H:%M:%S UTC"),
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
