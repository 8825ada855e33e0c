//! `palisade eval detect`: per-flow detection accuracy against IoT-23 labelled flows.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};

use palisade_detect::eval::{EvalFlow, evaluate, parse_conn_log};
use palisade_flow::{FlowRecord, addr_to_ip};
use palisade_sensor::{AnalyzeOptions, FlowSink};

/// Collects every ended flow for the join.
struct Collect(Arc<Mutex<Vec<EvalFlow>>>);

impl FlowSink for Collect {
    fn flow(&mut self, r: &FlowRecord, _app: Option<&'static str>) {
        let s = &r.stats;
        let f = EvalFlow {
            proto: s.key.proto,
            orig: addr_to_ip(&s.initiator),
            orig_port: s.initiator_port,
            resp: addr_to_ip(&s.responder),
            resp_port: s.responder_port,
            first_ns: s.first_ts,
            last_ns: s.last_ts,
            unanswered: s.packets[1] == 0,
        };
        if let Ok(mut v) = self.0.lock() {
            v.push(f);
        }
    }
}

pub fn eval(
    pcaps: &[PathBuf],
    labels: &Path,
    tolerance_s: f64,
    threads: usize,
    json: Option<&Path>,
) -> Result<()> {
    let text = std::fs::read_to_string(labels)
        .with_context(|| format!("reading labels {}", labels.display()))?;
    let labelled = parse_conn_log(&text, &labels.display().to_string())?;
    let flows = Arc::new(Mutex::new(Vec::new()));
    let opts = AnalyzeOptions {
        threads: threads.clamp(1, 64),
        ..AnalyzeOptions::default()
    };
    let out = palisade_sensor::analyze(pcaps, &opts, Box::new(Collect(flows.clone())), None);
    if out.unusable_inputs == pcaps.len() {
        anyhow::bail!("none of the captures could be read");
    }
    let flows = flows
        .lock()
        .map_err(|_| anyhow::anyhow!("flow collector poisoned"))?
        .clone();
    let alerts = &out.report.alerts;
    let res = evaluate(
        &flows,
        alerts,
        &labelled,
        (tolerance_s.max(0.0) * 1e9) as i64,
    );
    println!(
        "palisade eval detect: {} capture(s), {} packets, {} alerts",
        pcaps.len(),
        out.report.summary.packets,
        alerts.len()
    );
    let mut kinds: std::collections::BTreeMap<&str, usize> = Default::default();
    for a in alerts {
        *kinds.entry(a.kind.as_str()).or_default() += 1;
    }
    for (k, n) in kinds {
        println!("  {k}: {n}");
    }
    println!();
    print!("{}", res.render());
    if let Some(p) = json {
        std::fs::write(p, serde_json::to_string_pretty(&res)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}
