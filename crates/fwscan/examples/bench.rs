//! Unpack and scan throughput on real images:
//! `cargo run --release -p palisade-fwscan --example bench -- IMAGE...`
//! Prints, per image, the median of 3 runs of `unpack` and of the full `scan`.

use std::time::Instant;

use palisade_fwscan::{Limits, ScanOptions, scan, unpack};
use palisade_risk::assess::Knowledge;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: bench IMAGE...");
        std::process::exit(2);
    }
    println!(
        "| image | size | files | unpacked | unpack (median of 3) | unpacked MB/s | full scan | components | creds |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for p in paths {
        let data = std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"));
        let limits = Limits {
            max_total_bytes: 4 << 30,
            ..Limits::default()
        };
        let mut t_unpack = Vec::new();
        let mut files = 0;
        let mut bytes = 0;
        for _ in 0..3 {
            let t = Instant::now();
            let vfs = unpack(&data, &limits).unwrap_or_else(|e| panic!("{p}: {e}"));
            t_unpack.push(t.elapsed().as_secs_f64());
            files = vfs.files().count();
            bytes = vfs.file_bytes();
        }
        let opts = ScanOptions {
            limits,
            ..ScanOptions::default()
        };
        let mut t_scan = Vec::new();
        let mut last = None;
        for _ in 0..3 {
            let t = Instant::now();
            let r = scan(&data, &p, &opts, &Knowledge::embedded(), None).unwrap();
            t_scan.push(t.elapsed().as_secs_f64());
            last = Some(r);
        }
        let r = last.unwrap();
        let u = median(t_unpack);
        println!(
            "| {} | {:.1} MB | {files} | {:.1} MB | {:.3} s | {:.0} | {:.3} s | {} | {} |",
            p.rsplit('/').next().unwrap_or(&p),
            data.len() as f64 / 1e6,
            bytes as f64 / 1e6,
            u,
            bytes as f64 / 1e6 / u,
            median(t_scan),
            r.components.len(),
            r.default_credentials.len()
        );
    }
}
