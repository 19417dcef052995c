//! `print-default-config`, `check-config`, `version`: they need no database.

use crate::config::{Problem, Sources};
use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct CheckConfigArgs {
    /// The file to check (and the secrets' file beside it). Default: the
    /// configuration in use (--config, CAREMINDER_CONFIG, or
    /// /etc/careminder/careminder.toml).
    file: Option<PathBuf>,
}

pub fn print_default_config() -> Result<()> {
    print!("{}", crate::config::EXAMPLE);
    Ok(())
}

/// Every mistake at once, each with its key, as `serve` would find them at
/// start: keys that are no setting, values that cannot be read, rules
/// broken, the gateways as they would be built, and the database named.
pub fn check_config(a: &CheckConfigArgs, mut sources: Sources, db: Option<&str>) -> Result<()> {
    if let Some(file) = &a.file {
        if sources.file.as_ref() != Some(file) {
            sources = super::sources(Some(file));
        }
    }
    let Some(file) = sources.file.clone() else {
        bail!(
            "no configuration file to check: name one (careminder check-config FILE), \
             or install one at {}",
            crate::config::DEFAULT_FILE
        );
    };
    if !file.exists() {
        bail!("{}: no such file", file.display());
    }
    let (mut config, mut problems) = sources.check();
    if let Some(db) = db {
        match crate::config::DatabaseUrl::parse(db) {
            Ok(d) => {
                config.database = d;
                config.database_from = Some("--db".into());
            }
            Err(e) => problems.push(Problem::new("--db", e.to_string())),
        }
    }
    if let Err(e) = crate::gateway::Gateways::build(
        &config.gateway,
        &config.gateways,
        &config.routing,
        &config.public_url,
        crate::Clock::System,
    ) {
        let text = e.to_string();
        let (key, reason) = text.split_once(": ").unwrap_or(("gateways", &text));
        problems.push(Problem::new(key, reason.to_string()));
    }
    if config.database_from.is_none() {
        problems.push(Problem::new(
            "database",
            "not set, so `serve` would refuse to start: set database = \"...\" (a SQLite \
             file's whole path or a postgres:// URL), or CAREMINDER_DATABASE in the secrets' file"
                .into(),
        ));
    }
    if !problems.is_empty() {
        return Err(crate::config::ConfigError::Problems {
            place: sources.place(),
            problems,
        }
        .into());
    }
    println!(
        "{}: ok (database {}, named by {})",
        sources.place(),
        config.database,
        config.database_from.as_deref().unwrap_or("?")
    );
    Ok(())
}

pub fn version() -> Result<()> {
    println!(
        "careminder {} (database schema {})",
        env!("CARGO_PKG_VERSION"),
        crate::store::schema_version()
    );
    Ok(())
}
