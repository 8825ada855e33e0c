//! The `palisade` command line (DESIGN.md §4). Thin: parsing, output and exit codes only.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use palisade_sensor::{AnalyzeOptions, FlowEvent, FlowSink, NullSink, Report};

mod table;

#[derive(Parser)]
#[command(
    name = "palisade",
    version,
    about = "IoT security platform: device inventory and threat detection from network traffic"
)]
struct Cli {
    /// Log level for diagnostics on stderr (error, warn, info, debug, trace).
    #[arg(long, global = true, default_value = "warn", env = "PALISADE_LOG")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a simulated smart-home/office capture (with a Mirai infection), analyse it and print the report.
    Demo {
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Also keep the simulated capture at this path.
        #[arg(long)]
        write_pcap: Option<PathBuf>,
        /// Simulator seed (the capture is deterministic for a seed).
        #[arg(long, default_value_t = 7)]
        seed: u64,
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Analyse pcap/pcapng captures (gzip accepted) offline.
    Analyze {
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// table (default on a terminal), json (the report) or ndjson (a stream of events).
        #[arg(long, value_enum)]
        format: Option<Format>,
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Worker threads; results are identical for any count.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Knowledge-pack directory (packs are embedded; an external directory is not read yet).
        #[arg(long)]
        kb: Option<PathBuf>,
        /// Maximum tracked flows (oldest idle evicted beyond it).
        #[arg(long, default_value_t = 131_072)]
        max_flows: usize,
        /// Flow idle timeout in seconds of packet time.
        #[arg(long, default_value_t = 120)]
        idle_timeout: u64,
    },
    /// Knowledge packs: import from sources, show what is embedded.
    Kb {
        #[command(subcommand)]
        command: KbCommand,
    },
}

#[derive(Subcommand)]
enum KbCommand {
    /// Re-import the embedded default packs (OUI, discovery matchers, service types, Mirai credentials).
    Import {
        /// Source folder (the shared kb/ tree with PROVENANCE.md files).
        #[arg(long, default_value = "../shared/kb")]
        from: PathBuf,
        /// Output folder for the compact packs.
        #[arg(long, default_value = "crates/kb/data")]
        out: PathBuf,
    },
    /// List the embedded packs with source, version, licence and record counts.
    Info,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
    Ndjson,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("palisade: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Analyze {
            inputs,
            format,
            output,
            threads,
            kb,
            max_flows,
            idle_timeout,
        } => {
            if let Some(dir) = kb {
                tracing::warn!(
                    "--kb {}: external knowledge packs are not read yet; using the embedded packs",
                    dir.display()
                );
            }
            let mut opts = AnalyzeOptions {
                threads: threads.clamp(1, 64),
                ..AnalyzeOptions::default()
            };
            opts.engine.flow.max_flows = max_flows.max(1);
            opts.engine.flow.idle_timeout_ns = (idle_timeout.max(1) as i64) * 1_000_000_000;
            analyze_and_print(&inputs, &opts, format, output.as_deref())
        }
        Command::Demo {
            format,
            write_pcap,
            seed,
            output,
        } => {
            let cfg = palisade_sim::SimConfig {
                seed,
                ..palisade_sim::SimConfig::default()
            };
            let bytes = palisade_sim::generate(&cfg);
            let path = match write_pcap {
                Some(p) => p,
                None => {
                    std::env::temp_dir().join(format!("palisade-demo-{}.pcap", std::process::id()))
                }
            };
            std::fs::write(&path, &bytes)
                .with_context(|| format!("writing the demo capture to {}", path.display()))?;
            eprintln!(
                "palisade demo: simulated capture of {} bytes written to {}",
                bytes.len(),
                path.display()
            );
            let code = analyze_and_print(
                std::slice::from_ref(&path),
                &AnalyzeOptions::default(),
                Some(format.unwrap_or(if output.is_some() {
                    Format::Json
                } else {
                    Format::Table
                })),
                output.as_deref(),
            );
            Ok(code?)
        }
        Command::Kb { command } => match command {
            KbCommand::Import { from, out } => {
                let rep = palisade_kb::import_default_packs(&from, &out).with_context(|| {
                    format!("importing knowledge packs from {}", from.display())
                })?;
                for p in &rep.packs {
                    println!(
                        "{:<22} {:>7} records  {}",
                        p.name,
                        p.records,
                        p.file.display()
                    );
                }
                for w in &rep.warnings {
                    eprintln!("warning: {w}");
                }
                Ok(ExitCode::SUCCESS)
            }
            KbCommand::Info => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&palisade_kb::pack_info())?
                );
                Ok(ExitCode::SUCCESS)
            }
        },
    }
}

/// Writes NDJSON flow events as flows end.
struct NdjsonSink(Arc<Mutex<Box<dyn Write + Send>>>);

impl FlowSink for NdjsonSink {
    fn flow(&mut self, r: &palisade_flow::FlowRecord, app: Option<&'static str>) {
        let ev = FlowEvent::from_record(r, app);
        if let (Ok(line), Ok(mut w)) = (serde_json::to_string(&ev), self.0.lock()) {
            let _ = writeln!(w, "{line}");
        }
    }
}

fn open_output(output: Option<&Path>) -> Result<Box<dyn Write + Send>> {
    Ok(match output {
        Some(p) => Box::new(BufWriter::new(
            File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(BufWriter::new(io::stdout())),
    })
}

fn analyze_and_print(
    inputs: &[PathBuf],
    opts: &AnalyzeOptions,
    format: Option<Format>,
    output: Option<&Path>,
) -> Result<ExitCode> {
    let format = format.unwrap_or(if output.is_none() && io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Json
    });
    let out: Arc<Mutex<Box<dyn Write + Send>>> = Arc::new(Mutex::new(open_output(output)?));
    let sink: Box<dyn FlowSink> = if format == Format::Ndjson {
        Box::new(NdjsonSink(out.clone()))
    } else {
        Box::new(NullSink)
    };
    let total: u64 = inputs
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let bar = (io::stderr().is_terminal() && total > 16 << 20).then(|| {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {bytes}/{total_bytes} {wide_bar} {binary_bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let cb = |pos: u64| {
        if let Some(b) = &bar {
            b.set_position(pos.min(total));
        }
    };
    let outcome = palisade_sensor::analyze(
        inputs,
        opts,
        sink,
        if bar.is_some() { Some(&cb) } else { None },
    );
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let report = outcome.report;
    for inp in &report.inputs {
        for w in &inp.warnings {
            eprintln!(
                "palisade: {}: byte offset {}: {}",
                inp.path, w.offset, w.message
            );
        }
    }
    let all_unusable = outcome.unusable_inputs == inputs.len();
    {
        let mut w = out
            .lock()
            .map_err(|_| anyhow::anyhow!("output writer poisoned"))?;
        write_report(&mut **w, &report, format)?;
        w.flush().context("writing the report")?;
    }
    if outcome.unusable_inputs > 0 {
        eprintln!(
            "palisade: {} of {} inputs could not be read{}",
            outcome.unusable_inputs,
            inputs.len(),
            if all_unusable {
                "; nothing to analyse"
            } else {
                ""
            }
        );
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

fn write_report(w: &mut dyn Write, report: &Report, format: Format) -> Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *w, report)?;
            writeln!(w)?;
        }
        Format::Ndjson => {
            for d in &report.devices {
                let mut v = serde_json::to_value(d)?;
                if let Some(o) = v.as_object_mut() {
                    o.insert("type".into(), "device".into());
                }
                writeln!(w, "{}", serde_json::to_string(&v)?)?;
            }
            for a in &report.alerts {
                let mut v = serde_json::to_value(a)?;
                if let Some(o) = v.as_object_mut() {
                    o.insert("type".into(), "alert".into());
                }
                writeln!(w, "{}", serde_json::to_string(&v)?)?;
            }
            let stats = serde_json::json!({
                "type": "stats",
                "palisade_version": report.palisade_version,
                "inputs": report.inputs,
                "summary": report.summary,
            });
            writeln!(w, "{}", serde_json::to_string(&stats)?)?;
        }
        Format::Table => table::write(w, report)?,
    }
    Ok(())
}
