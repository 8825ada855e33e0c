//! Flow-only detection throughput: `cargo run --release -p palisade-flowdetect --example
//! flowdetect_bench -- LOG [REPEAT]` reads a Zeek conn.log (TSV/JSON/CSV), then feeds its
//! flows REPEAT times (each pass shifted by the log's span) through one detector on one core.

use std::time::Instant;

use palisade_flowdetect::{FlowDetectConfig, FlowDetector};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: flowdetect_bench LOG [REPEAT]");
        std::process::exit(2);
    };
    let repeat: i64 = args.next().and_then(|r| r.parse().ok()).unwrap_or(20);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(2);
        }
    };
    let (conns, errors) = palisade_collect::parse_conn_log(&text);
    let flows: Vec<_> = conns.iter().map(|c| c.flow).collect();
    let (lo, hi) = flows.iter().fold((i64::MAX, i64::MIN), |(a, b), f| {
        (a.min(f.start_ns), b.max(f.end_ns))
    });
    let span = (hi - lo).max(1);
    let mut d = FlowDetector::new(FlowDetectConfig::default());
    let t = Instant::now();
    for r in 0..repeat {
        for f in &flows {
            let mut g = *f;
            g.start_ns += r * span;
            g.end_ns += r * span;
            d.flow(&g);
        }
    }
    let s = t.elapsed().as_secs_f64();
    let n = flows.len() as f64 * repeat as f64;
    let tracked = d.tracked();
    let alerts = d.finish().into_alerts(|x| x.to_string()).len();
    println!(
        "{path}: {} flows x {repeat} in {s:.3} s = {:.0} flows/s (one core); {} bad lines; tables {tracked} entries; {alerts} alerts",
        flows.len(),
        n / s,
        errors.len()
    );
}
