//! `palisade kb import nvd|kev|osv` and the vulnerability-index plumbing for `analyze`.
//!
//! Run-time knowledge lives in a data directory: `--data-dir`, else `$PALISADE_DATA_DIR`,
//! else `$XDG_DATA_HOME/palisade`, else `~/.local/share/palisade`. It holds `nvd.idx`
//! (the NVD index), `kev.tsv` (a newer KEV catalog than the embedded one) and `osv.tsv`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Subcommand;

use palisade_risk::{IndexBuilder, VulnIndex};

/// `palisade kb import <source>`.
#[derive(Subcommand)]
pub(crate) enum ImportSource {
    /// NVD CVE JSON 2.0 feeds (API responses, yearly feeds, CVE-all.json; .gz/.xz accepted) into DIR/nvd.idx.
    Nvd {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Data directory (default: $PALISADE_DATA_DIR or ~/.local/share/palisade).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// A CISA KEV catalog (known_exploited_vulnerabilities.json) into DIR/kev.tsv.
    Kev {
        file: PathBuf,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// OSV JSON records (one per file or arrays) into DIR/osv.tsv.
    Osv {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

/// The run-time data directory.
pub(crate) fn data_dir(arg: Option<&Path>) -> PathBuf {
    if let Some(d) = arg {
        return d.to_owned();
    }
    if let Some(d) = std::env::var_os("PALISADE_DATA_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(d).join("palisade");
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".local/share/palisade"))
        .unwrap_or_else(|| PathBuf::from(".palisade"))
}

/// Index and KEV catalog from the data directory (each `None` when absent).
pub(crate) type LoadedKnowledge = (Option<Arc<VulnIndex>>, Option<Arc<palisade_kb::KevCatalog>>);

/// Loads `nvd.idx` and `kev.tsv` from the data directory when present.
pub(crate) fn load_knowledge(dir: Option<&Path>) -> Result<LoadedKnowledge> {
    let kev_path = data_dir(dir).join("kev.tsv");
    let kev = if kev_path.exists() {
        let text = std::fs::read_to_string(&kev_path)
            .with_context(|| format!("reading {}", kev_path.display()))?;
        Some(Arc::new(palisade_kb::parse_kev_pack(
            &text,
            &kev_path.display().to_string(),
        )?))
    } else {
        None
    };
    Ok((load_index(dir)?, kev))
}

/// Loads `nvd.idx` from the data directory when present (`None` when absent).
pub(crate) fn load_index(dir: Option<&Path>) -> Result<Option<Arc<VulnIndex>>> {
    let path = data_dir(dir).join(palisade_risk::index::FILE);
    if !path.exists() {
        tracing::info!(
            "no NVD index at {}; CVE matching is off (palisade kb import nvd FILE...)",
            path.display()
        );
        return Ok(None);
    }
    let t = Instant::now();
    let ix = VulnIndex::load(&path).with_context(|| format!("loading {}", path.display()))?;
    tracing::info!(
        "NVD index {}: {} CVEs, {} bytes, loaded in {:?}",
        path.display(),
        ix.len(),
        ix.bytes(),
        t.elapsed()
    );
    Ok(Some(Arc::new(ix)))
}

fn bar(total: u64) -> Option<indicatif::ProgressBar> {
    std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {bytes}/{total_bytes} {wide_bar} {binary_bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    })
}

/// Runs `palisade kb import nvd|kev|osv`.
pub(crate) fn import(src: ImportSource) -> Result<ExitCode> {
    match src {
        ImportSource::Nvd { files, data_dir: d } => {
            let dir = data_dir(d.as_deref());
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let total: u64 = files
                .iter()
                .filter_map(|p| std::fs::metadata(p).ok())
                .map(|m| m.len())
                .sum();
            let pb = bar(total);
            let t = Instant::now();
            let mut b = IndexBuilder::new();
            let stats = palisade_risk::import_nvd_files(&files, &mut b, &mut |n| {
                if let Some(pb) = &pb {
                    pb.set_position(n.min(total));
                }
            });
            if let Some(pb) = &pb {
                pb.finish_and_clear();
            }
            let stats = stats?;
            let path = dir.join(palisade_risk::index::FILE);
            b.write_file(&path)
                .with_context(|| format!("writing {}", path.display()))?;
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            println!(
                "nvd: {} records from {} file(s) -> {} CVEs ({} duplicates replaced, {} invalid CPE criteria dropped) in {:.1} s; {} ({} bytes)",
                stats.records,
                stats.files,
                b.len(),
                b.replaced,
                stats.bad_cpes,
                t.elapsed().as_secs_f64(),
                path.display(),
                size
            );
            Ok(ExitCode::SUCCESS)
        }
        ImportSource::Kev { file, data_dir: d } => {
            let dir = data_dir(d.as_deref());
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let (pack, version, n) =
                palisade_kb::kev_pack_from_json(&text, &file.display().to_string())?;
            let path = dir.join("kev.tsv");
            std::fs::write(&path, pack).with_context(|| format!("writing {}", path.display()))?;
            println!("kev: catalog {version}, {n} entries -> {}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        ImportSource::Osv { files, data_dir: d } => {
            let dir = data_dir(d.as_deref());
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let mut all = Vec::new();
            for f in &files {
                let text = std::fs::read_to_string(f)
                    .with_context(|| format!("reading {}", f.display()))?;
                let e = palisade_risk::osv::parse_osv_json(&text).map_err(|e| {
                    anyhow::anyhow!("{}:{}:{}: {e}", f.display(), e.line(), e.column())
                })?;
                all.extend(e);
            }
            if all.is_empty() {
                bail!("no affected packages found in the OSV input");
            }
            let path = dir.join(palisade_risk::osv::FILE);
            std::fs::write(&path, palisade_risk::osv::render_pack(&all, "imported"))
                .with_context(|| format!("writing {}", path.display()))?;
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "osv: {} affected-package entries from {} file(s) -> {}",
                all.len(),
                files.len(),
                path.display()
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
