//! `staff add | list | password`.

use super::Ctx;
use crate::domain::{Language, Role};
use anyhow::{bail, Result};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum StaffCmd {
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
        role: Role,
        /// zh-CN or en.
        #[arg(long, default_value = "zh-CN")]
        language: Language,
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

pub async fn run(ctx: Ctx, cmd: StaffCmd) -> Result<()> {
    let app = ctx.open().await?;
    match cmd {
        StaffCmd::Add {
            code,
            name,
            phone,
            role,
            language,
            village,
            township,
            wecom_userid,
        } => {
            let phone = phone
                .map(|p| crate::domain::Phone::parse(&p, app.config.region()))
                .transpose()?;
            let id = app
                .store
                .add_staff(
                    &crate::store::NewStaff {
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
        }
        StaffCmd::Password { code, stdin } => {
            let s = app.access.staff(&code).await?;
            let password = if stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                let p = line.trim_end_matches(['\r', '\n']).to_string();
                if p.chars().count() < 10 {
                    bail!("the password must have at least 10 characters");
                }
                p
            } else {
                crate::services::access::new_password()
            };
            let hash =
                crate::services::access::hash_password(&password).map_err(anyhow::Error::msg)?;
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
        }
        StaffCmd::List => {
            for s in app.store.staff_list().await? {
                println!(
                    "{:<12} {:<10} {:<12} {:<8} {:<8} {}",
                    s.code,
                    s.role,
                    s.name,
                    s.village.unwrap_or_default(),
                    s.township.unwrap_or_default(),
                    s.phone
                        .map(|p| crate::domain::phone::mask(&p))
                        .unwrap_or_default()
                );
            }
        }
    }
    Ok(())
}
