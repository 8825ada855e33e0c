//! Index load time and matching throughput on a synthetic index the size of the full NVD
//! (250,000 CVEs, ~1.5 million cpeMatch entries over 25,000 products), matching 100,000
//! devices with four candidate CPEs each.
//!
//! `cargo run --release -p palisade-risk --example bench [CVES] [DEVICES]`

use std::time::Instant;

use palisade_risk::nvd::{Bound, Config, CpeMatch, CveRecord, Cvss, Node, Op};
use palisade_risk::{Cpe, IndexBuilder, Part, VulnIndex};

/// A small deterministic PRNG (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn ver(r: &mut Rng) -> String {
    format!("{}.{}.{}", r.below(10), r.below(20), r.below(50))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n_cves: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(250_000);
    let n_dev: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let n_products = 25_000u64;
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let t = Instant::now();
    let mut b = IndexBuilder::new();
    let mut matches = 0usize;
    for i in 0..n_cves {
        let mut configs = Vec::new();
        for _ in 0..1 + r.below(2) {
            // Skewed product popularity: a few products (linux_kernel-like) get many CVEs.
            let p = if r.below(4) == 0 {
                r.below(50)
            } else {
                r.below(n_products)
            };
            let firmware = r.below(3) == 0;
            let mut vuln = Vec::new();
            for _ in 0..1 + r.below(8) {
                let start = ver(&mut r);
                let end = ver(&mut r);
                vuln.push(CpeMatch {
                    vulnerable: true,
                    criteria: Cpe::new(
                        if firmware {
                            Part::OperatingSystem
                        } else {
                            Part::Application
                        },
                        &format!("vendor{}", p % 5000),
                        &format!("product{p}{}", if firmware { "_firmware" } else { "" }),
                        None,
                    ),
                    start: Some(Bound {
                        version: start,
                        inclusive: true,
                    }),
                    end: Some(Bound {
                        version: end,
                        inclusive: false,
                    }),
                });
            }
            matches += vuln.len();
            let mut nodes = vec![Node {
                operator: Op::Or,
                negate: false,
                matches: vuln,
            }];
            if firmware {
                nodes.push(Node {
                    operator: Op::Or,
                    negate: false,
                    matches: vec![CpeMatch {
                        vulnerable: false,
                        criteria: Cpe::new(
                            Part::Hardware,
                            &format!("vendor{}", p % 5000),
                            &format!("product{p}"),
                            Some("-"),
                        ),
                        start: None,
                        end: None,
                    }],
                });
                matches += 1;
            }
            configs.push(Config {
                operator: if firmware { Op::And } else { Op::Or },
                negate: false,
                nodes,
            });
        }
        b.add(&CveRecord {
            id: format!("CVE-{}-{:05}", 1999 + i % 27, i),
            published: "2020-01-01T00:00:00".into(),
            last_modified: "2025-01-01T00:00:00".into(),
            cvss: Some(Cvss {
                version: 31,
                score: (r.below(100) as f32) / 10.0,
            }),
            kev_added: None,
            configurations: configs,
        });
    }
    let path = std::env::temp_dir().join(format!("palisade-bench-{}.idx", std::process::id()));
    b.write_file(&path).expect("write index");
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "built {n_cves} CVEs / {matches} cpeMatch entries in {:.2} s; index {:.1} MiB",
        t.elapsed().as_secs_f64(),
        size as f64 / 1048576.0
    );
    drop(b);

    let t = Instant::now();
    let ix = VulnIndex::load(&path).expect("load");
    let load = t.elapsed();
    println!(
        "load: {:.1} ms ({} CVEs)",
        load.as_secs_f64() * 1e3,
        ix.len()
    );

    // Devices: an application CPE with a version, firmware + hardware of a model.
    let devices: Vec<Vec<(Cpe, f32)>> = (0..n_dev)
        .map(|_| {
            let p = if r.below(4) == 0 {
                r.below(50)
            } else {
                r.below(n_products)
            };
            let q = r.below(n_products);
            vec![
                (
                    Cpe::new(
                        Part::Application,
                        &format!("vendor{}", p % 5000),
                        &format!("product{p}"),
                        Some(&ver(&mut r)),
                    ),
                    0.8,
                ),
                (
                    Cpe::new(Part::Application, "busybox", "busybox", Some("1.24.2")),
                    0.6,
                ),
                (
                    Cpe::new(
                        Part::OperatingSystem,
                        &format!("vendor{}", q % 5000),
                        &format!("product{q}_firmware"),
                        Some(&ver(&mut r)),
                    ),
                    0.5,
                ),
                (
                    Cpe::new(
                        Part::Hardware,
                        &format!("vendor{}", q % 5000),
                        &format!("product{q}"),
                        Some("-"),
                    ),
                    0.5,
                ),
            ]
        })
        .collect();
    let t = Instant::now();
    let mut found = 0usize;
    for d in &devices {
        found += ix.matches(d).len();
    }
    let el = t.elapsed().as_secs_f64();
    println!(
        "matched {n_dev} devices in {el:.2} s = {:.1} ms per 1,000 devices ({found} findings)",
        el * 1e3 / (n_dev as f64 / 1000.0)
    );
    std::fs::remove_file(&path).ok();
}
