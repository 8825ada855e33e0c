//! The `palisade` command line (DESIGN.md §4). Thin: parsing, output and exit codes only.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use palisade_sensor::{AnalyzeOptions, FlowEvent, FlowSink, NullSink, Report};

mod agent_cmd;
mod anomaly_cmd;
mod attest_cmd;
mod bus_cmd;
mod ca_cmd;
mod collect_cmd;
mod detect_cmd;
mod enroll_cmd;
mod export_cmd;
mod firmware_cmd;
mod fwscan_cmd;
mod identify_cmd;
mod ingest_cmd;
mod metrics;
mod mud_cmd;
mod risk_cmd;
mod rules_cmd;
mod sense_cmd;
mod serve_cmd;
mod table;
mod update_cmd;

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
        /// Also start the hub and console on the demo data (PALISADE_LISTEN, default 127.0.0.1:8443).
        #[arg(long)]
        serve: bool,
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
        /// Data directory with imported packs (nvd.idx from `kb import nvd`, kev.tsv, the
        /// fingerprint packs from `kb import-runtime`); default $PALISADE_DATA_DIR, `kb/` next
        /// to the binary, or ~/.local/share/palisade. Other packs are embedded.
        #[arg(long)]
        kb: Option<PathBuf>,
        /// Maximum tracked flows (oldest idle evicted beyond it).
        #[arg(long, default_value_t = 131_072)]
        max_flows: usize,
        /// Flow idle timeout in seconds of packet time.
        #[arg(long, default_value_t = 120)]
        idle_timeout: u64,
        /// Sensor only: run no threat detectors (for benchmarking their cost).
        #[arg(long, hide = true)]
        no_detect: bool,
        /// Signature rules (Suricata syntax): a directory of *.rules files or one file.
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Behavioural anomaly model (`eval anomaly --save-model`): adds `anomaly.behaviour` alerts.
        #[arg(long)]
        anomaly: Option<PathBuf>,
        /// Detector thresholds: a JSON object with the `DetectConfig` fields to change
        /// (see crates/detect/src/config.rs for names and defaults).
        #[arg(long)]
        detect_config: Option<PathBuf>,
        /// Publish the devices and alerts to NATS JetStream instead of printing (issue 13).
        #[command(flatten)]
        bus: Box<bus_cmd::PublishArgs>,
        /// SIEM / webhook delivery of the findings (issue 12).
        #[command(flatten)]
        export: export_cmd::OutputArgs,
    },
    /// Signature rules: `check DIR` prints which rules are supported and why not.
    Rules {
        #[command(subcommand)]
        command: rules_cmd::RulesCommand,
    },
    /// RFC 8520 MUD profiles: learn from captures, check traffic, compile to nftables.
    Mud {
        #[command(subcommand)]
        command: mud_cmd::MudCommand,
    },
    /// MCUboot firmware images: keygen, getpub, sign, verify, inspect, decrypt (imgtool-compatible).
    Firmware {
        #[command(subcommand)]
        command: firmware_cmd::FirmwareCommand,
    },
    /// Private CA for device identities: init, issue, revoke, crl, list, token, ocsp.
    Ca {
        #[command(subcommand)]
        command: ca_cmd::CaCommand,
    },
    /// Remote attestation: golden PCR values from signed firmware (the hub's gateway checks quotes).
    Attest {
        #[command(subcommand)]
        command: attest_cmd::AttestCommand,
    },
    /// TUF update repository (init, add-target, publish, rotate-keys, expire, serve) and client (fetch).
    Update {
        #[command(subcommand)]
        command: update_cmd::UpdateCommand,
    },
    /// The device agent on a simulated A/B-slot device: provision, run (poll, verify, install), status.
    Agent {
        #[command(subcommand)]
        command: agent_cmd::AgentCommand,
    },
    /// Knowledge packs: import from sources, show what is embedded.
    Kb {
        #[command(subcommand)]
        command: KbCommand,
    },
    /// Accuracy on labelled data.
    /// The hub: REST API, web console, ingest (SQLite store, TLS, users and roles).
    Serve(serve_cmd::ServeArgs),
    /// Send `analyze --format ndjson` output to a hub.
    Push(serve_cmd::PushArgs),
    /// Hub worker: NATS JetStream events into the store (`--bench`: bus load generator).
    Worker(Box<bus_cmd::WorkerArgs>),
    /// Live capture on an interface: NDJSON events as they happen; `--respond` quarantines.
    Sense(sense_cmd::SenseArgs),
    /// Flow collector: NetFlow v5/v9 and IPFIX over UDP into the flow-level analyzers.
    Collect(collect_cmd::CollectArgs),
    /// Zeek conn.log or Suricata eve.json files into the flow-level analyzers (report as `analyze`).
    Ingest(ingest_cmd::IngestArgs),
    /// Findings (report or NDJSON) as CEF, LEEF, OCSF, ECS, STIX 2.1, CSV or HTML; to syslog or a webhook.
    Export(export_cmd::ExportArgs),
    Eval {
        #[command(subcommand)]
        command: EvalCommand,
    },
}

#[derive(Subcommand)]
enum EvalCommand {
    /// Device identification: grouped cross-validation on an IoT SENTINEL-style dataset.
    Identify {
        #[arg(long, default_value = "../shared/datasets/iot-sentinel")]
        dataset: PathBuf,
        #[arg(long, default_value_t = 5)]
        folds: usize,
        /// Abstain when the best class probability is below this.
        #[arg(long, default_value_t = 0.5)]
        threshold: f32,
        /// Also write the confusion matrix as CSV.
        #[arg(long)]
        csv: Option<PathBuf>,
        #[arg(long, default_value_t = 60)]
        trees: usize,
    },
    /// Threat detection: join per-flow verdicts with labelled flows (IoT-23 conn.log.labeled)
    /// and print per-class TPR/FPR/precision and the confusion table.
    Detect {
        /// Capture(s) to analyse.
        #[arg(long = "pcap", required_unless_present = "zeek", num_args = 1..)]
        pcaps: Vec<PathBuf>,
        /// Zeek conn.log.labeled (IoT-23 format).
        #[arg(long, required_unless_present = "zeek")]
        labels: Option<PathBuf>,
        /// Labelled flow logs (IoT-23 conn.log.labeled TSV/JSON or *-labeled.csv) scored
        /// from flows alone, one scenario per file (instead of --pcap/--labels).
        #[arg(long, num_args = 1.., conflicts_with_all = ["pcaps", "labels"])]
        zeek: Vec<PathBuf>,
        /// With --zeek: keep label classes as written (no C&C-* -> C&C folding).
        #[arg(long)]
        raw_labels: bool,
        /// Start-time slack for the join, in seconds.
        #[arg(long, default_value_t = 2.0)]
        tolerance: f64,
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Also write the figures as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Anomaly detection: per-packet scores on a stream, or AUC / TPR at FPR on labelled captures.
    Anomaly(anomaly_cmd::AnomalyArgs),
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
        /// Import a vulnerability source into the run-time data directory instead.
        #[command(subcommand)]
        source: Option<risk_cmd::ImportSource>,
    },
    /// List the embedded packs with source, version, licence and record counts.
    Info,
    /// Convert copyleft/share-alike fingerprint sources (satori DHCP and user agents, legacy
    /// Fingerbank, FoxIO JA4 mapping, p0f TCP signatures) into run-time packs; they are read
    /// with `analyze --kb DIR`, never embedded.
    ImportRuntime {
        #[arg(long, default_value = "../shared/kb")]
        from: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Train the behavioural identification model shipped in crates/classify/data.
    TrainIdentify {
        #[arg(long, default_value = "../shared/datasets/iot-sentinel")]
        dataset: PathBuf,
        #[arg(long, default_value = "crates/classify/data/identify-model.json")]
        out: PathBuf,
        #[arg(long, default_value_t = 60)]
        trees: usize,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
    Ndjson,
}

fn main() -> ExitCode {
    quiet_on_closed_stdout();
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

/// `palisade ... | head` closes stdout early; `println!` then panics with EPIPE. Like other
/// Unix tools, exit quietly instead (status 141 = 128 + SIGPIPE).
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let p = info.payload();
        let msg = p
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| p.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
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
            no_detect,
            rules,
            anomaly,
            detect_config,
            bus,
            export,
        } => {
            let mut opts = AnalyzeOptions {
                threads: threads.clamp(1, 64),
                ..AnalyzeOptions::default()
            };
            load_runtime_packs(kb.as_deref())?;
            (opts.vulns, opts.kev) = risk_cmd::load_knowledge(kb.as_deref())?;
            opts.engine.flow.max_flows = max_flows.max(1);
            opts.engine.flow.idle_timeout_ns = (idle_timeout.max(1) as i64) * 1_000_000_000;
            if let Some(path) = detect_config.as_deref() {
                opts.engine.detect =
                    palisade_detect::DetectConfig::load(path).context("loading --detect-config")?;
            }
            opts.engine.detect.enabled &= !no_detect;
            opts.rules = rules.as_deref().map(rules_cmd::load).transpose()?;
            opts.anomaly = anomaly
                .as_deref()
                .map(anomaly_cmd::load_model)
                .transpose()?;
            if bus.enabled() {
                return bus_cmd::analyze_and_publish(&inputs, &opts, &bus);
            }
            analyze_and_print(&inputs, &opts, format, output.as_deref(), Some(&export))
        }
        Command::Demo {
            format,
            write_pcap,
            seed,
            output,
            serve,
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
            if serve {
                let o = palisade_sensor::analyze(
                    std::slice::from_ref(&path),
                    &AnalyzeOptions::default(),
                    Box::new(NullSink),
                    None,
                );
                return serve_cmd::demo_serve(&o.report);
            }
            let code = analyze_and_print(
                std::slice::from_ref(&path),
                &AnalyzeOptions::default(),
                Some(format.unwrap_or(if output.is_some() {
                    Format::Json
                } else {
                    Format::Table
                })),
                output.as_deref(),
                None,
            );
            Ok(code?)
        }
        Command::Mud { command } => mud_cmd::run(command),
        Command::Rules { command } => rules_cmd::run(command),
        Command::Firmware { command } => firmware_cmd::run(command),
        Command::Ca { command } => ca_cmd::run(command),
        Command::Attest { command } => attest_cmd::run(command),
        Command::Update { command } => update_cmd::run(command),
        Command::Agent { command } => agent_cmd::run(command),
        Command::Kb { command } => match command {
            KbCommand::Import {
                source: Some(src), ..
            } => risk_cmd::import(src),
            KbCommand::Import {
                from,
                out,
                source: None,
            } => {
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
            KbCommand::ImportRuntime { from, out } => {
                let n = palisade_kb::import_fingerbank(
                    &from.join("fingerbank-legacy-dhcp/dhcp_fingerprints.conf"),
                    &out,
                )?;
                println!("dhcp-fingerbank.tsv  {n:>6} records");
                let n = palisade_kb::import_satori_dhcp(&from.join("satori/dhcp.xml"), &out)?;
                println!("dhcp-satori.tsv      {n:>6} records");
                let n = palisade_kb::import_ja4_mapping(
                    &from.join("ja4plus/ja4plus-mapping.csv"),
                    &out,
                )?;
                println!("ja4-clients.tsv      {n:>6} records");
                let n = palisade_kb::import_satori_useragents(
                    &from.join("satori/webuseragent.xml"),
                    &out,
                )?;
                println!("http-user-agents.tsv {n:>6} records");
                let n = palisade_kb::import_p0f(&from.join("p0f/p0f.fp"), &out)?;
                println!("tcp-p0f.tsv          {n:>6} records");
                println!("run-time packs written to {}", out.display());
                Ok(ExitCode::SUCCESS)
            }
            KbCommand::TrainIdentify {
                dataset,
                out,
                trees,
            } => {
                identify_cmd::train_model(&dataset, &out, trees)?;
                Ok(ExitCode::SUCCESS)
            }
        },
        Command::Serve(a) => serve_cmd::serve(a),
        Command::Push(a) => serve_cmd::push(a),
        Command::Worker(a) => bus_cmd::run(*a),
        Command::Sense(a) => sense_cmd::run(a),
        Command::Collect(a) => collect_cmd::run(a),
        Command::Ingest(a) => ingest_cmd::run(a),
        Command::Export(a) => export_cmd::run(a),
        Command::Eval { command } => match command {
            EvalCommand::Identify {
                dataset,
                folds,
                threshold,
                csv,
                trees,
            } => {
                identify_cmd::eval(&dataset, folds, threshold, csv.as_deref(), trees)?;
                Ok(ExitCode::SUCCESS)
            }
            EvalCommand::Detect {
                pcaps,
                labels,
                zeek,
                raw_labels,
                tolerance,
                threads,
                json,
            } => {
                if !zeek.is_empty() {
                    return ingest_cmd::eval_zeek(&zeek, json.as_deref(), raw_labels);
                }
                let labels = labels.context("--labels is required with --pcap")?;
                detect_cmd::eval(&pcaps, &labels, tolerance, threads, json.as_deref())?;
                Ok(ExitCode::SUCCESS)
            }
            EvalCommand::Anomaly(a) => anomaly_cmd::run(a).map(|()| ExitCode::SUCCESS),
        },
    }
}

/// Loads run-time fingerprint packs from `--kb DIR` (an error if unreadable) or, without it,
/// from the first default location that exists.
fn load_runtime_packs(dir: Option<&Path>) -> Result<()> {
    let dirs: Vec<PathBuf> = match dir {
        Some(d) => vec![d.to_path_buf()],
        None => palisade_kb::default_pack_dirs()
            .into_iter()
            .filter(|d| d.is_dir())
            .collect(),
    };
    if let Some(d) = dirs.first() {
        let packs = palisade_kb::RuntimePacks::load_dir(d)
            .with_context(|| format!("reading knowledge packs from {}", d.display()))?;
        for h in &packs.headers {
            tracing::info!(
                "knowledge pack {} ({} records, {})",
                h.pack,
                h.records,
                h.licence
            );
        }
        palisade_kb::install_runtime_packs(packs);
    }
    Ok(())
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
    export: Option<&export_cmd::OutputArgs>,
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
    if let Some(e) = export {
        export_cmd::deliver(e, &report)?;
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
            w.write_all(report.device_and_alert_ndjson()?.as_bytes())?;
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
