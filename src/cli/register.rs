//! `enroll` and `import`: registering women, one or a roster.

use super::{whoami, Ctx};
use crate::services::enrollment::EnrollmentInput;
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct EnrollArgs {
    #[arg(long)]
    name: String,
    #[arg(long)]
    phone: String,
    /// Last menstrual period (YYYY-MM-DD).
    #[arg(long)]
    lmp: Option<String>,
    /// Expected delivery date (YYYY-MM-DD).
    #[arg(long)]
    edd: Option<String>,
    #[arg(long)]
    village: Option<String>,
    /// Code of the officer who looks after her.
    #[arg(long)]
    officer: Option<String>,
    /// zh-CN or en.
    #[arg(long)]
    language: Option<String>,
    #[arg(long)]
    wechat_openid: Option<String>,
    /// Care plan key (see `plans`).
    #[arg(long)]
    plan: Option<String>,
    /// How consent was given ("paper form", "verbal, witnessed"); without
    /// it she is registered but sent nothing.
    #[arg(long)]
    consent: Option<String>,
    /// Her resident ID card number (18 characters), checked by its check digit.
    #[arg(long)]
    id_card: Option<String>,
}

#[derive(Args)]
pub struct ImportArgs {
    file: PathBuf,
    /// Who is importing, for the audit log.
    #[arg(long, default_value = "cli")]
    actor: String,
}

pub async fn enroll(ctx: Ctx, a: EnrollArgs) -> Result<()> {
    let app = ctx.open().await?;
    let input = EnrollmentInput {
        name: a.name,
        phone: a.phone,
        lmp: a.lmp,
        edd: a.edd,
        village: a.village,
        officer: a.officer,
        language: a.language,
        wechat_openid: a.wechat_openid,
        consent: Some(if a.consent.is_some() { "yes" } else { "no" }.into()),
        care_plan: a.plan,
        id_card: a.id_card,
        delivered_on: None,
    };
    let source = a
        .consent
        .map(|c| format!("cli: {c}"))
        .unwrap_or_else(|| "cli".into());
    let out = app.care.enroll(&input, &source, &whoami()).await?;
    println!("{}", serde_json::to_string(&out)?);
    let visits = app.store.visits_of(out.pregnancy_id()).await?;
    for (key, due, end, status) in visits {
        println!("  {key:<14} due {due}  window ends {end}  {status}");
    }
    Ok(())
}

pub async fn import(ctx: Ctx, a: ImportArgs) -> Result<()> {
    let app = ctx.open().await?;
    let file = a.file;
    let f = std::fs::File::open(&file).with_context(|| format!("opening {}", file.display()))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{bar:40}] {bytes}/{total_bytes} {per_sec} eta {eta}",
        )
        .expect("template")
        .progress_chars("=> "),
    );
    let source = format!(
        "roster:{}",
        file.file_name()
            .map(|f| f.to_string_lossy().to_string())
            .unwrap_or_default()
    );
    let started = std::time::Instant::now();
    let report = crate::services::importer::import(
        &app.care,
        std::io::BufReader::new(f),
        &source,
        &a.actor,
        |b| bar.set_position(b),
    )
    .await?;
    bar.finish_and_clear();
    // Refused rows first: each must be fixed and imported again.
    for r in &report.refused {
        println!("line {}: refused: {}", r.line, r.reason);
    }
    // Then one line per officer code the staff list lacks (a roster of
    // 10,000 rows may name 66 such codes, not 10,000 lines' worth).
    let mut unknown: std::collections::BTreeMap<&str, Vec<u64>> = Default::default();
    for u in &report.unknown_officer {
        unknown.entry(&u.officer).or_default().push(u.line);
    }
    for (officer, lines) in &unknown {
        println!(
            "officer {officer} is not on the staff list: {} imported ({}); their overdue visits \
             reach no one until {officer} is added (careminder staff add --code {officer} ...)",
            rows(lines.len()),
            some_lines(lines)
        );
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} accepted ({} new, {} unchanged, {} dates corrected; {} without consent: nothing will be sent to them; {} risk grades recorded), {} refused, in {:.1}s",
        report.accepted(),
        report.created,
        report.unchanged,
        report.corrected,
        report.without_consent,
        report.graded,
        report.refused.len(),
        secs
    );
    Ok(())
}

fn rows(n: usize) -> String {
    if n == 1 {
        "1 row".into()
    } else {
        format!("{n} rows")
    }
}

/// "line 4", "lines 4, 9 and 12", "lines 4, 9, 12, 15, 20 and 61 more".
fn some_lines(lines: &[u64]) -> String {
    const SHOWN: usize = 5;
    let shown: Vec<String> = lines.iter().take(SHOWN).map(u64::to_string).collect();
    match lines.len() {
        1 => format!("line {}", shown[0]),
        n if n <= SHOWN => format!("lines {} and {}", shown[..n - 1].join(", "), shown[n - 1]),
        n => format!("lines {} and {} more", shown.join(", "), n - SHOWN),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_few_lines_are_listed_and_the_rest_counted() {
        assert_eq!(super::some_lines(&[4]), "line 4");
        assert_eq!(super::some_lines(&[4, 9, 12]), "lines 4, 9 and 12");
        assert_eq!(
            super::some_lines(&[1, 2, 3, 4, 5, 6, 7]),
            "lines 1, 2, 3, 4, 5 and 2 more"
        );
    }
}
