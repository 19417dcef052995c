//! `staff add | list | password`.

use super::Ctx;
use crate::domain::{Language, Role};
use anyhow::Result;
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
                .map(|p| crate::domain::Phone::parse_mobile(&p, app.config.region()))
                .transpose()?;
            let id = app
                .access
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
                    &super::whoami(),
                    app.clock.now(),
                )
                .await?;
            println!("staff {code} added (id {id})");
        }
        StaffCmd::Password { code, stdin } => {
            let given = if stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                Some(line.trim_end_matches(['\r', '\n']).to_string())
            } else {
                None
            };
            let password = app
                .access
                .set_password(&code, given, &super::whoami(), app.clock.now())
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
