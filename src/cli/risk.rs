//! `risk`: her risk grade and its history, her case manager, her delivery
//! hospital, referrals and their follow-up (her care team's; never sent to her).

use super::Ctx;
use crate::services::access::CLI_ADMIN;
use anyhow::Result;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum RiskCmd {
    /// Grade (or re-grade) her pregnancy: green, yellow, orange, red, and
    /// purple beside any (绿 黄 橙 红 紫); up to 42 days after the birth.
    Grade {
        woman_id: i64,
        /// Colour words: "red", "红 紫", "yellow purple".
        #[arg(long)]
        grade: String,
        /// What makes her purple: hiv, syphilis, hepatitis_b, other.
        #[arg(long = "infection")]
        infections: Vec<String>,
        /// The day of the assessment (default today).
        #[arg(long)]
        on: Option<String>,
        /// Why (her care team only).
        #[arg(long)]
        reason: Option<String>,
        #[arg(long, default_value = CLI_ADMIN)]
        by: String,
    },
    /// Her grade now and every assessment (reading a high-risk woman's is audited).
    History {
        woman_id: i64,
        #[arg(long, default_value = CLI_ADMIN)]
        by: String,
    },
    /// Name her case manager (a county administrator or a supervisor of her
    /// township, as [risk] says for her colour).
    Manager {
        woman_id: i64,
        #[arg(long)]
        code: String,
        #[arg(long, default_value = CLI_ADMIN)]
        by: String,
    },
    /// The hospital she will deliver at.
    Hospital {
        woman_id: i64,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = CLI_ADMIN)]
        by: String,
    },
    /// Refer her to a higher-level facility: its result is followed up within 14 days.
    Refer {
        woman_id: i64,
        #[arg(long)]
        to: String,
        #[arg(long)]
        on: Option<String>,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long, default_value = CLI_ADMIN)]
        by: String,
    },
    /// Record what a referral came to.
    FollowUp {
        referral_id: i64,
        #[arg(long)]
        result: String,
        #[arg(long)]
        on: Option<String>,
        #[arg(long, default_value = CLI_ADMIN)]
        by: String,
    },
}

pub async fn run(ctx: Ctx, cmd: RiskCmd) -> Result<()> {
    let app = ctx.open().await?;
    let risk = &app.risk;
    match cmd {
        RiskCmd::Grade {
            woman_id,
            grade,
            infections,
            on,
            reason,
            by,
        } => {
            let input = crate::services::risk::GradeInput {
                grade,
                infections,
                on,
                reasons: reason,
            };
            let s = risk.grade(woman_id, &input, "cli", &by).await?;
            println!(
                "woman {woman_id}: {}{}",
                s.grade.describe("en"),
                match (s.grade.managed(), &s.case_manager) {
                    (true, None) => "; no case manager yet: name one with `risk manager`",
                    _ => "",
                }
            );
        }
        RiskCmd::History { woman_id, by } => {
            let s = risk.state(woman_id, &by).await?;
            println!(
                "woman {woman_id}: {} (case manager {}, delivery hospital {})",
                s.grade.describe("en"),
                s.case_manager.as_deref().unwrap_or("-"),
                s.delivery_hospital.as_deref().unwrap_or("-")
            );
            for a in risk.history(woman_id, &by).await? {
                println!(
                    "  {} {:<40} {}{} by {} via {}",
                    a.assessed_on,
                    a.grade.describe("en"),
                    if a.postpartum {
                        "(after the birth) "
                    } else {
                        ""
                    },
                    a.reasons.as_deref().unwrap_or(""),
                    a.recorded_by,
                    a.source
                );
            }
            for r in risk.referrals(woman_id, &by).await? {
                println!(
                    "  referral {} on {} to {}: {}",
                    r.id,
                    r.referred_on,
                    r.to_facility,
                    match (&r.followed_up_on, &r.result) {
                        (Some(d), Some(x)) => format!("followed up {d}: {x}"),
                        _ => "not followed up yet".into(),
                    }
                );
            }
        }
        RiskCmd::Manager { woman_id, code, by } => {
            risk.assign_case_manager(woman_id, &code, &by).await?;
            println!("woman {woman_id}: case manager {code}");
        }
        RiskCmd::Hospital { woman_id, name, by } => {
            risk.choose_delivery_hospital(woman_id, &name, &by).await?;
            println!("woman {woman_id}: delivers at {name}");
        }
        RiskCmd::Refer {
            woman_id,
            to,
            on,
            reason,
            by,
        } => {
            let id = risk
                .refer(woman_id, &to, on.as_deref(), reason.as_deref(), &by)
                .await?;
            println!(
                "referral {id} recorded: follow its result up within {} days",
                app.config.risk.referral_follow_up_days
            );
        }
        RiskCmd::FollowUp {
            referral_id,
            result,
            on,
            by,
        } => {
            let r = risk
                .follow_up(referral_id, &result, on.as_deref(), &by)
                .await?;
            println!(
                "referral {referral_id}: followed up {}",
                r.followed_up_on.map(|d| d.to_string()).unwrap_or_default()
            );
        }
    }
    Ok(())
}
