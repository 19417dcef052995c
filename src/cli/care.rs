//! `pregnancy`, `birth`, `visit`: a pregnancy's dates, its end, its visits.

use super::{whoami, Ctx};
use anyhow::Result;
use clap::{Args, Subcommand};

#[derive(Subcommand)]
pub enum PregnancyCmd {
    /// Replace LMP and/or EDD (a dating scan): re-plans what is not sent.
    Correct {
        id: i64,
        #[arg(long)]
        lmp: Option<String>,
        #[arg(long)]
        edd: Option<String>,
    },
    /// End a pregnancy without a birth: stops every pregnancy message at once.
    End { id: i64 },
}

#[derive(Args)]
pub struct BirthArgs {
    woman_id: i64,
    /// Date of birth (YYYY-MM-DD).
    #[arg(long)]
    on: String,
    #[arg(long)]
    place: Option<String>,
    /// The baby was not born alive: no newborn visits are planned.
    #[arg(long)]
    not_live: bool,
    /// Babies born alive (twins: 2); default 1 (0 with --not-live).
    #[arg(long)]
    live_born: Option<i64>,
    /// The day she left hospital (YYYY-MM-DD); the home visit is due
    /// within a week of it. Default: the day of the birth.
    #[arg(long)]
    discharged: Option<String>,
}

#[derive(Subcommand)]
pub enum VisitCmd {
    /// Record a visit done: silences its reminders and follow-ups.
    Done {
        woman_id: i64,
        /// Contact key (anc2, pnc-42d...); default: her current check-up.
        #[arg(long)]
        contact: Option<String>,
        /// Date of the visit (default: today).
        #[arg(long)]
        on: Option<String>,
        /// Staff code of who records it, or "admin".
        #[arg(long, default_value = crate::services::access::CLI_ADMIN)]
        by: String,
        #[arg(long)]
        place: Option<String>,
        /// A note kept with the record (a home visit: how she is, what was discussed).
        #[arg(long)]
        note: Option<String>,
    },
    /// Mark a visit missed: it leaves the overdue lists.
    Missed {
        woman_id: i64,
        #[arg(long)]
        contact: Option<String>,
        #[arg(long, default_value = crate::services::access::CLI_ADMIN)]
        by: String,
    },
}

pub async fn pregnancy(ctx: Ctx, cmd: PregnancyCmd) -> Result<()> {
    let app = ctx.open().await?;
    match cmd {
        PregnancyCmd::Correct { id, lmp, edd } => {
            let d = app
                .care
                .correct_dates(id, lmp.as_deref(), edd.as_deref(), &whoami())
                .await?;
            println!(
                "pregnancy {id}: LMP {} EDD {}; unsent reminders re-planned",
                d.lmp, d.edd
            );
        }
        PregnancyCmd::End { id } => {
            let n = app.care.end_pregnancy(id, &whoami()).await?;
            println!("pregnancy {id} ended; {n} pending messages cancelled");
        }
    }
    Ok(())
}

pub async fn birth(ctx: Ctx, a: BirthArgs) -> Result<()> {
    let app = ctx.open().await?;
    let n = app
        .care
        .record_birth(
            a.woman_id,
            &crate::services::care::BirthInput {
                on: a.on.clone(),
                place: a.place.clone(),
                live_birth: !a.not_live,
                live_born: a.live_born,
                discharged_on: a.discharged.clone(),
            },
            &whoami(),
        )
        .await?;
    let woman_id = a.woman_id;
    println!(
        "birth recorded for woman {woman_id}; {n} prenatal messages cancelled; postpartum visits:"
    );
    let pid = app
        .store
        .current_pregnancy(woman_id)
        .await?
        .unwrap_or_default();
    for (key, due, end, status) in app.store.visits_of(pid).await? {
        if status == "pending" {
            println!("  {key:<14} due {due}  window ends {end}");
        }
    }
    Ok(())
}

pub async fn visit(ctx: Ctx, cmd: VisitCmd) -> Result<()> {
    let app = ctx.open().await?;
    match cmd {
        VisitCmd::Done {
            woman_id,
            contact,
            on,
            by,
            place,
            note,
        } => {
            let n = app
                .care
                .record_visit(
                    woman_id,
                    contact.as_deref(),
                    on.as_deref(),
                    &by,
                    place.as_deref(),
                    note.as_deref(),
                )
                .await?;
            println!("visit recorded for woman {woman_id}; {n} reminders silenced");
        }
        VisitCmd::Missed {
            woman_id,
            contact,
            by,
        } => {
            let n = app
                .care
                .mark_missed(woman_id, contact.as_deref(), &by)
                .await?;
            println!("visit marked missed for woman {woman_id}; {n} follow-ups cancelled");
        }
    }
    Ok(())
}
