//! `palisade rules check DIR`: which rules are supported, and why the others are not.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum RulesCommand {
    /// Parse every *.rules file of DIR and print the support report (counts and reasons).
    Check {
        dir: PathBuf,
        /// List every rejected rule (file:line sid reason).
        #[arg(long)]
        verbose: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: RulesCommand) -> Result<ExitCode> {
    match cmd {
        RulesCommand::Check { dir, verbose, json } => check(&dir, verbose, json),
    }
}

/// Loads `--rules DIR` for `analyze`, reporting unsupported rules on stderr.
pub fn load(dir: &Path) -> Result<std::sync::Arc<palisade_rules::RuleSet>> {
    let (set, rep) = palisade_rules::RuleSet::load_dir(dir)
        .with_context(|| format!("loading rules from {}", dir.display()))?;
    eprintln!(
        "palisade: {} of {} rules loaded from {} ({} unsupported, {} duplicate sids; see `palisade rules check`)",
        rep.supported,
        rep.rules,
        dir.display(),
        rep.rejected.len(),
        rep.duplicates
    );
    Ok(set)
}

fn check(dir: &Path, verbose: bool, json: bool) -> Result<ExitCode> {
    let (_, rep) = palisade_rules::RuleSet::load_dir(dir)
        .with_context(|| format!("loading rules from {}", dir.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
        return Ok(ExitCode::SUCCESS);
    }
    let distinct = rep.rules - rep.duplicates;
    let pct = if distinct == 0 {
        0.0
    } else {
        rep.supported as f64 * 100.0 / distinct as f64
    };
    println!("files:       {}", rep.files);
    println!(
        "rules:       {} active ({} commented out)",
        rep.rules, rep.disabled
    );
    println!(
        "duplicates:  {} (same sid loaded twice; the first is kept)",
        rep.duplicates
    );
    println!(
        "supported:   {} of {distinct} distinct ({pct:.1}%)",
        rep.supported
    );
    println!("unsupported: {}", rep.rejected.len());
    for (reason, n) in rep.reasons() {
        println!("  {n:>5}  {reason}");
    }
    if verbose {
        for r in &rep.rejected {
            println!(
                "{}:{} sid:{} {}: {}",
                r.file,
                r.line,
                r.sid.map(|s| s.to_string()).unwrap_or_else(|| "?".into()),
                r.key,
                r.detail
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
