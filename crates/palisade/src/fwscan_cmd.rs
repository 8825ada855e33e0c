//! `palisade firmware scan IMAGE`: unpack a firmware image and report its components,
//! CVEs, default credentials, keys and boot services (crates/fwscan), with a CycloneDX SBOM.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};

use palisade_fwscan::{Limits, ScanOptions, ScanReport};
use palisade_risk::assess::Knowledge;
use palisade_risk::osv::OsvDb;

#[derive(clap::Args)]
pub(crate) struct ScanArgs {
    /// Firmware image: squashfs, cpio, tar, gzip/xz/lzma layers, or a raw flash blob.
    image: PathBuf,
    /// Output format.
    #[arg(long, value_parser = ["table", "json"], default_value = "table")]
    format: String,
    /// Write a CycloneDX 1.5 JSON SBOM to this file.
    #[arg(long)]
    sbom: Option<PathBuf>,
    /// Data directory with nvd.idx, kev.tsv and osv.tsv (default: $PALISADE_DATA_DIR or
    /// ~/.local/share/palisade).
    #[arg(long)]
    kb: Option<PathBuf>,
    /// Most bytes unpacked in total, in MiB.
    #[arg(long, default_value_t = 1024)]
    max_unpacked_mib: u64,
    /// Most nested layers.
    #[arg(long, default_value_t = 6)]
    max_depth: u32,
}

fn load_osv(dir: Option<&Path>) -> Result<Option<OsvDb>> {
    let path = crate::risk_cmd::data_dir(dir).join(palisade_risk::osv::FILE);
    if !path.exists() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let entries = palisade_risk::osv::parse_pack(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(Some(OsvDb::new(entries)))
}

pub(crate) fn run(a: ScanArgs) -> Result<ExitCode> {
    let image =
        std::fs::read(&a.image).with_context(|| format!("reading {}", a.image.display()))?;
    let (index, kev) = crate::risk_cmd::load_knowledge(a.kb.as_deref())?;
    let osv = load_osv(a.kb.as_deref())?;
    let kev_ref: &palisade_kb::KevCatalog = match &kev {
        Some(k) => k,
        None => palisade_kb::kev_catalog(),
    };
    let kb = Knowledge {
        index: index.as_deref(),
        kev: kev_ref,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .ok();
    let opts = ScanOptions {
        limits: Limits {
            max_total_bytes: a.max_unpacked_mib.saturating_mul(1 << 20),
            max_depth: a.max_depth,
            ..Limits::default()
        },
        now,
        ..ScanOptions::default()
    };
    let name = a
        .image
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| a.image.display().to_string());
    let report = palisade_fwscan::scan(&image, &name, &opts, &kb, osv.as_ref())
        .with_context(|| format!("scanning {}", a.image.display()))?;
    if index.is_none() {
        tracing::warn!("no NVD index: CVE matching is off (palisade kb import nvd FILE...)");
    }
    if let Some(p) = &a.sbom {
        let sbom = palisade_fwscan::sbom::cyclonedx(&report);
        std::fs::write(p, serde_json::to_vec_pretty(&sbom)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    let mut out = std::io::stdout().lock();
    if a.format == "json" {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        table(&mut out, &report)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn table(w: &mut dyn Write, r: &ScanReport) -> std::io::Result<()> {
    writeln!(
        w,
        "{}  {} bytes  sha256 {}",
        r.image.name, r.image.size, r.image.sha256
    )?;
    for m in &r.layers {
        writeln!(
            w,
            "  layer {:<40} {} (from {} @ {})",
            m.at,
            m.formats.join(" > "),
            m.source,
            m.offset
        )?;
    }
    writeln!(
        w,
        "  {} files, {} bytes unpacked in {} ms; inventory {} ms",
        r.files, r.unpacked_bytes, r.unpack_ms, r.inventory_ms
    )?;
    writeln!(w, "\nRISK {}/100", r.risk.score)?;
    for reason in &r.risk.reasons {
        writeln!(w, "  {reason}")?;
    }
    writeln!(w, "\nCOMPONENTS")?;
    for c in &r.components {
        writeln!(
            w,
            "  {:<12} {:<24} {}",
            c.component.name,
            c.component.version.as_deref().unwrap_or("?"),
            c.component.evidence
        )?;
    }
    if !r.vulnerabilities.is_empty() || !r.osv.is_empty() {
        writeln!(w, "\nVULNERABILITIES")?;
        for v in &r.vulnerabilities {
            writeln!(
                w,
                "  {:<16} cvss {:<4} {:<4} conf {:.2}  {}",
                v.finding.cve,
                v.finding
                    .cvss
                    .map(|s| format!("{s:.1}"))
                    .unwrap_or_else(|| "-".into()),
                if v.finding.kev { "KEV" } else { "" },
                v.finding.confidence,
                v.finding.cpe
            )?;
        }
        for o in &r.osv {
            writeln!(
                w,
                "  {:<16} {} {} ({})",
                o.id, o.package, o.version, o.ecosystem
            )?;
        }
    }
    if !r.default_credentials.is_empty() {
        writeln!(w, "\nDEFAULT CREDENTIALS")?;
        for c in &r.default_credentials {
            writeln!(
                w,
                "  {}:{:?}  {} in {}  lists: {}",
                c.user,
                c.password,
                c.scheme,
                c.file,
                c.lists.join(", ")
            )?;
        }
    }
    if !r.keys.is_empty() {
        writeln!(w, "\nKEYS AND CERTIFICATES")?;
        for k in &r.keys {
            writeln!(
                w,
                "  {:<28} {}{} @ {}",
                k.kind,
                k.path,
                if k.encrypted { " (encrypted)" } else { "" },
                k.offset
            )?;
        }
    }
    if !r.boot_services.is_empty() {
        writeln!(w, "\nSTARTED AT BOOT")?;
        for b in &r.boot_services {
            writeln!(w, "  {:<10} {}:{}  {}", b.service, b.file, b.line, b.text)?;
        }
    }
    if !r.warnings.is_empty() {
        writeln!(w, "\nWARNINGS")?;
        for x in &r.warnings {
            match x.offset {
                Some(o) => writeln!(w, "  {} @ {o}: {}", x.at, x.message)?,
                None => writeln!(w, "  {}: {}", x.at, x.message)?,
            }
        }
    }
    Ok(())
}
