//! `print-default-config`, `check-config`, `version`: they need no database.

use crate::Config;
use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct CheckConfigArgs {
    file: PathBuf,
}

pub fn print_default_config() -> Result<()> {
    print!("{}", crate::config::EXAMPLE);
    Ok(())
}

pub fn check_config(a: &CheckConfigArgs) -> Result<()> {
    if !a.file.exists() {
        bail!("{}: no such file", a.file.display());
    }
    Config::load(Some(&a.file))?;
    println!("{}: ok", a.file.display());
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
