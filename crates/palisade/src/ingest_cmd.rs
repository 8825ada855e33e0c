//! `palisade ingest zeek|eve FILE...`: Zeek conn.log (TSV or JSON, IoT-23 labelled logs
//! included) and Suricata eve.json into the flow-level analyzers; the same report / NDJSON
//! as `analyze`.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use palisade_collect::{EveEvent, ZeekReader};
use palisade_sensor::flowinput::FlowInput;
use palisade_sensor::{AnalyzeOptions, InputReport, Warning, rfc3339};

use crate::collect_cmd::flow_json;
use crate::{Format, open_output, write_report};

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Source {
    /// Zeek conn.log (TSV with #fields, or JSON lines).
    Zeek,
    /// Suricata eve.json (alert, flow, dns, tls, http, dhcp events).
    Eve,
}

#[derive(clap::Args)]
pub struct IngestArgs {
    #[arg(value_enum)]
    source: Source,
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// json (the report; default when not a terminal), ndjson (flows, devices, alerts, stats) or table.
    #[arg(long, value_enum)]
    format: Option<Format>,
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Run no threat detectors.
    #[arg(long)]
    no_detect: bool,
    /// Zeek logs with IoT-23 labels (`label`, `detailed-label` columns): score the
    /// flow-level detection against them (per-class TPR/FPR, confusion table) instead of
    /// printing the report.
    #[arg(long)]
    eval: bool,
    /// With --eval: also write the figures as JSON.
    #[arg(long)]
    eval_json: Option<PathBuf>,
    #[command(flatten)]
    export: crate::export_cmd::OutputArgs,
}

/// Labelled flows and their Palisade flow view, for `--eval`.
#[derive(Default)]
struct EvalInput {
    flows: Vec<palisade_detect::eval::EvalFlow>,
    labels: Vec<palisade_detect::eval::LabelledFlow>,
}

fn label_class(label: Option<&str>, detailed: Option<&str>) -> Option<String> {
    if let Some(d) = detailed.filter(|d| !d.is_empty() && *d != "-") {
        return Some(d.to_string());
    }
    match label?.to_ascii_lowercase().as_str() {
        "benign" => Some("Benign".into()),
        "malicious" => Some("Malicious".into()),
        _ => label.map(String::from),
    }
}

/// At most this many bad lines are reported per file.
const MAX_WARNINGS: usize = 100;

pub fn run(a: IngestArgs) -> Result<ExitCode> {
    let format = a.format.unwrap_or(
        if a.output.is_none() && std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            Format::Table
        } else {
            Format::Json
        },
    );
    let mut opts = AnalyzeOptions::default();
    opts.engine.detect.enabled = !a.no_detect;
    let mut input = FlowInput::new(&opts);
    let mut out = open_output(a.output.as_deref())?;
    let mut reports = Vec::new();
    let mut unusable = 0;
    if a.eval && a.source != Source::Zeek {
        anyhow::bail!("--eval needs labelled Zeek logs (ingest zeek FILE --eval)");
    }
    let mut eval = a.eval.then(EvalInput::default);
    // With --eval the flows are not streamed.
    let stream_format = if a.eval { Format::Json } else { format };
    for path in &a.files {
        let rep = ingest_file(
            a.source,
            path,
            &mut input,
            stream_format,
            &mut out,
            eval.as_mut(),
        )?;
        if !rep.usable {
            unusable += 1;
        }
        for w in &rep.warnings {
            eprintln!(
                "palisade: {}: byte offset {}: {}",
                rep.path, w.offset, w.message
            );
        }
        reports.push(rep);
    }
    let report = input.finish(reports);
    if let Some(ev) = eval {
        let sc = score(&a.files[0].display().to_string(), &ev, &report, false);
        write!(out, "{}", sc.render())?;
        if let Some(p) = &a.eval_json {
            std::fs::write(p, serde_json::to_vec_pretty(&sc.json())?)
                .with_context(|| format!("writing {}", p.display()))?;
        }
        out.flush()?;
        return Ok(if unusable > 0 {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        });
    }
    write_report(&mut *out, &report, format)?;
    out.flush().context("writing the report")?;
    crate::export_cmd::deliver(&a.export, &report)?;
    if unusable > 0 {
        eprintln!(
            "palisade: {unusable} of {} inputs could not be read",
            a.files.len()
        );
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

fn ingest_file(
    source: Source,
    path: &PathBuf,
    input: &mut FlowInput,
    format: Format,
    out: &mut Box<dyn Write + Send>,
    mut eval: Option<&mut EvalInput>,
) -> Result<InputReport> {
    let mut rep = InputReport {
        path: path.display().to_string(),
        packets: 0,
        bytes: 0,
        first_ts: None,
        last_ts: None,
        warnings: Vec::new(),
        usable: false,
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            rep.warnings.push(Warning {
                offset: 0,
                message: format!("cannot open: {e}"),
            });
            return Ok(rep);
        }
    };
    let mut reader = BufReader::new(file);
    let mut zeek = ZeekReader::new();
    let mut buf = Vec::new();
    let (mut offset, mut line_no) = (0u64, 0usize);
    let (mut good, mut bad) = (0u64, 0u64);
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    loop {
        buf.clear();
        let n = match reader.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                rep.warnings.push(Warning {
                    offset,
                    message: format!("read error: {e}"),
                });
                break;
            }
        };
        line_no += 1;
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end_matches(['\n', '\r']);
        let flow = match source {
            Source::Zeek => match zeek.line(line, line_no) {
                Ok(Some(c)) => {
                    input.flow(&c.flow);
                    if let Some(ev) = eval.as_deref_mut()
                        && let Some(class) =
                            label_class(c.label.as_deref(), c.detailed_label.as_deref())
                    {
                        let f = &c.flow;
                        ev.flows.push(palisade_detect::eval::EvalFlow {
                            proto: f.proto,
                            orig: f.src,
                            orig_port: f.src_port,
                            resp: f.dst,
                            resp_port: f.dst_port,
                            first_ns: f.start_ns,
                            last_ns: f.end_ns,
                            unanswered: f.rev_packets == 0,
                        });
                        ev.labels.push(palisade_detect::eval::LabelledFlow {
                            ts_ns: f.start_ns,
                            duration_ns: f.end_ns - f.start_ns,
                            proto: f.proto,
                            orig: f.src,
                            orig_port: f.src_port,
                            resp: f.dst,
                            resp_port: f.dst_port,
                            class,
                        });
                    }
                    Some((c.flow, c.service.map(|s| s.into_owned())))
                }
                Ok(None) => None,
                Err(e) => {
                    bad += 1;
                    if rep.warnings.len() < MAX_WARNINGS {
                        rep.warnings.push(Warning {
                            offset,
                            message: e.to_string(),
                        });
                    }
                    offset += n as u64;
                    continue;
                }
            },
            Source::Eve => match palisade_collect::eve::parse_line(line, line_no) {
                Ok(Some(r)) => {
                    input.eve(&r);
                    first = first.min(r.ts_ns);
                    last = last.max(r.ts_ns);
                    good += 1;
                    match r.event {
                        EveEvent::Flow { flow, .. } => Some((flow, r.app_proto)),
                        _ => None,
                    }
                }
                Ok(None) => None,
                Err(e) => {
                    bad += 1;
                    if rep.warnings.len() < MAX_WARNINGS {
                        rep.warnings.push(Warning {
                            offset,
                            message: e.to_string(),
                        });
                    }
                    offset += n as u64;
                    continue;
                }
            },
        };
        offset += n as u64;
        if let Some((f, app)) = flow {
            if source == Source::Zeek {
                good += 1;
            }
            rep.packets += f.packets + f.rev_packets;
            rep.bytes += f.bytes + f.rev_bytes;
            first = first.min(f.start_ns);
            last = last.max(f.end_ns);
            if format == Format::Ndjson {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string(&flow_json(&f, app.as_deref()))?
                )?;
            }
        }
    }
    if bad > MAX_WARNINGS as u64 {
        rep.warnings.push(Warning {
            offset,
            message: format!("{bad} lines could not be read in all"),
        });
    }
    rep.usable = good > 0 || bad == 0;
    if first <= last {
        rep.first_ts = Some(rfc3339(first));
        rep.last_ts = Some(rfc3339(last));
    }
    Ok(rep)
}

/// IoT-23 label classes folded onto the classes a verdict can name: every `C&C-*` variant
/// (`C&C-FileDownload`, `C&C-Torii`, `C&C-HeartBeat`, ...) is C&C, every
/// `PartOfAHorizontalPortScan-*` a horizontal scan, `DDoS-*` DDoS. Others stay as labelled
/// (`FileDownload`, `Okiru`, ...: no detector names them, so they count as missed).
fn fold_class(class: &str) -> &str {
    for family in ["C&C", "PartOfAHorizontalPortScan", "DDoS", "Attack"] {
        if class.starts_with(family) {
            return family;
        }
    }
    class
}

/// The figures of one labelled flow log.
pub struct Scenario {
    pub scenario: String,
    pub labelled_flows: u64,
    pub alerts: std::collections::BTreeMap<String, u64>,
    /// Label classes folded onto a family (`C&C-Torii` -> `C&C`): class -> count.
    pub folded: std::collections::BTreeMap<String, u64>,
    /// Binary view: a malicious-labelled flow counts as detected when any verdict other
    /// than Benign is given; a benign-labelled flow with such a verdict is a false positive.
    pub malicious: u64,
    pub malicious_detected: u64,
    pub benign: u64,
    pub benign_flagged: u64,
    pub tpr_malicious: Option<f64>,
    pub fpr_benign: Option<f64>,
    pub result: palisade_detect::eval::EvalResult,
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| ((a as f64 / b as f64) * 10_000.0).round() / 10_000.0)
}

fn score(
    name: &str,
    ev: &EvalInput,
    report: &palisade_sensor::Report,
    raw_labels: bool,
) -> Scenario {
    let mut folded = std::collections::BTreeMap::new();
    let labels: Vec<_> = ev
        .labels
        .iter()
        .map(|l| {
            let mut l = l.clone();
            let f = fold_class(&l.class);
            if !raw_labels && f != l.class {
                *folded.entry(l.class.clone()).or_insert(0) += 1;
                l.class = f.to_string();
            }
            l
        })
        .collect();
    let result = palisade_detect::eval::evaluate(&ev.flows, &report.alerts, &labels, 0);
    let mut alerts = std::collections::BTreeMap::new();
    for a in &report.alerts {
        *alerts.entry(a.kind.clone()).or_insert(0) += 1;
    }
    let (mut malicious, mut detected, mut benign, mut flagged) = (0, 0, 0, 0);
    for (label, row) in &result.confusion {
        let total: u64 = row.values().sum();
        let positive: u64 = row
            .iter()
            .filter(|(p, _)| p.as_str() != "Benign")
            .map(|(_, n)| n)
            .sum();
        if label == "Benign" {
            benign += total;
            flagged += positive;
        } else {
            malicious += total;
            detected += positive;
        }
    }
    Scenario {
        scenario: name.to_string(),
        labelled_flows: labels.len() as u64,
        alerts,
        folded,
        malicious,
        malicious_detected: detected,
        benign,
        benign_flagged: flagged,
        tpr_malicious: ratio(detected, malicious),
        fpr_benign: ratio(flagged, benign),
        result,
    }
}

impl Scenario {
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "scenario": self.scenario,
            "labelled_flows": self.labelled_flows,
            "alerts": self.alerts,
            "folded": self.folded,
            "malicious": self.malicious,
            "malicious_detected": self.malicious_detected,
            "benign": self.benign,
            "benign_flagged": self.benign_flagged,
            "tpr_malicious": self.tpr_malicious,
            "fpr_benign": self.fpr_benign,
            "result": self.result,
        })
    }

    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let f = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.4}"));
        let mut s = String::new();
        let _ = writeln!(s, "== scenario {}", self.scenario);
        let kinds: Vec<String> = self
            .alerts
            .iter()
            .map(|(k, n)| format!("{k}={n}"))
            .collect();
        let _ = writeln!(
            s,
            "{} labelled flows; alerts (flow-level detectors): {}",
            self.labelled_flows,
            if kinds.is_empty() {
                "none".to_string()
            } else {
                kinds.join(", ")
            }
        );
        if !self.folded.is_empty() {
            let parts: Vec<String> = self
                .folded
                .iter()
                .map(|(k, n)| format!("{k} ({n}) -> {}", fold_class(k)))
                .collect();
            let _ = writeln!(s, "label classes folded: {}", parts.join(", "));
        }
        let _ = writeln!(
            s,
            "malicious vs benign: TPR {} ({}/{} malicious flows flagged)   FPR {} ({}/{} benign flows flagged)",
            f(self.tpr_malicious),
            self.malicious_detected,
            self.malicious,
            f(self.fpr_benign),
            self.benign_flagged,
            self.benign
        );
        s.push_str(&self.result.render());
        s
    }
}

/// A scenario's name: the IoT-23 capture folder (`CTU-IoT-Malware-Capture-34-1`) or, for
/// the `*-labeled.csv` exports, the file name without that suffix.
fn scenario_name(path: &std::path::Path) -> String {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    if file.starts_with("conn.log")
        && let Some(dir) = path.parent().and_then(|d| d.file_name())
    {
        return dir.to_string_lossy().into_owned();
    }
    file.trim_end_matches(".csv")
        .trim_end_matches("-labeled")
        .to_string()
}

/// `palisade eval detect --zeek LOG...`: each labelled flow log (IoT-23 `conn.log.labeled`
/// TSV, JSON or the CSV export) is one scenario, run through the flow-level analyzers and
/// scored against its labels.
pub fn eval_zeek(
    files: &[PathBuf],
    json: Option<&std::path::Path>,
    raw_labels: bool,
) -> Result<ExitCode> {
    let mut scenarios = Vec::new();
    let mut unusable = 0;
    let stdout = std::io::stdout();
    for path in files {
        let opts = AnalyzeOptions::default();
        let mut input = FlowInput::new(&opts);
        let mut ev = EvalInput::default();
        let mut sink: Box<dyn Write + Send> = Box::new(std::io::sink());
        let rep = ingest_file(
            Source::Zeek,
            path,
            &mut input,
            Format::Json,
            &mut sink,
            Some(&mut ev),
        )?;
        for w in &rep.warnings {
            eprintln!(
                "palisade: {}: byte offset {}: {}",
                rep.path, w.offset, w.message
            );
        }
        if !rep.usable || ev.labels.is_empty() {
            eprintln!("palisade: {}: no labelled flows", path.display());
            unusable += 1;
            continue;
        }
        let report = input.finish(vec![rep]);
        let sc = score(&scenario_name(path), &ev, &report, raw_labels);
        let mut o = stdout.lock();
        writeln!(o, "{}", sc.render())?;
        scenarios.push(sc);
    }
    if scenarios.len() > 1 {
        let mut o = stdout.lock();
        writeln!(
            o,
            "{:<34} {:>8} {:>10} {:>10} {:>10} {:>10}",
            "scenario", "flows", "malicious", "TPR(mal)", "benign", "FPR(ben)"
        )?;
        for sc in &scenarios {
            let f = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.4}"));
            writeln!(
                o,
                "{:<34} {:>8} {:>10} {:>10} {:>10} {:>10}",
                sc.scenario,
                sc.labelled_flows,
                sc.malicious,
                f(sc.tpr_malicious),
                sc.benign,
                f(sc.fpr_benign)
            )?;
        }
    }
    if let Some(p) = json {
        std::fs::write(
            p,
            serde_json::to_vec_pretty(&scenarios.iter().map(Scenario::json).collect::<Vec<_>>())?,
        )
        .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(if unusable > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
