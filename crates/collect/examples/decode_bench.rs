//! Collector decode throughput on one core: IPFIX datagrams as softflowd sends them (30
//! flow records of the NetFlow v9-style IPv4 template each) and NetFlow v5 datagrams.
//!
//! `cargo run --release -p palisade-collect --example decode_bench [RECORDS]`

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use palisade_collect::Decoder;

fn ipfix_datagrams(n: usize) -> Vec<Vec<u8>> {
    // Template 256: src, dst, ports, proto, tcp flags, octets (8), packets (8),
    // flowStart/EndMilliseconds, ingress/egress interface.
    let fields: [(u16, u16); 12] = [
        (8, 4),
        (12, 4),
        (7, 2),
        (11, 2),
        (4, 1),
        (6, 1),
        (1, 8),
        (2, 8),
        (152, 8),
        (153, 8),
        (10, 4),
        (14, 4),
    ];
    let rec_len: usize = fields.iter().map(|f| f.1 as usize).sum();
    let mut tmpl = vec![0u8, 2];
    let tlen = 4 + 4 + fields.len() * 4;
    tmpl.extend_from_slice(&(tlen as u16).to_be_bytes());
    tmpl.extend_from_slice(&256u16.to_be_bytes());
    tmpl.extend_from_slice(&(fields.len() as u16).to_be_bytes());
    for (id, len) in fields {
        tmpl.extend_from_slice(&id.to_be_bytes());
        tmpl.extend_from_slice(&len.to_be_bytes());
    }
    let mut out = Vec::new();
    let per = 30;
    for d in 0..n.div_ceil(per) {
        let mut set = vec![1u8, 0];
        set.extend_from_slice(&((4 + per * rec_len) as u16).to_be_bytes());
        for i in 0..per {
            let k = (d * per + i) as u32;
            set.extend_from_slice(&[10, 0, (k >> 8) as u8, k as u8]);
            set.extend_from_slice(&[192, 168, 1, 1]);
            set.extend_from_slice(&((k % 60000) as u16).to_be_bytes());
            set.extend_from_slice(&443u16.to_be_bytes());
            set.extend_from_slice(&[6, 0x1b]);
            set.extend_from_slice(&(1500u64 * u64::from(k % 7 + 1)).to_be_bytes());
            set.extend_from_slice(&(u64::from(k % 7) + 1).to_be_bytes());
            set.extend_from_slice(&(1_700_000_000_000u64 + u64::from(k)).to_be_bytes());
            set.extend_from_slice(&(1_700_000_000_500u64 + u64::from(k)).to_be_bytes());
            set.extend_from_slice(&1u32.to_be_bytes());
            set.extend_from_slice(&2u32.to_be_bytes());
        }
        let body: Vec<u8> = if d == 0 {
            [tmpl.clone(), set].concat()
        } else {
            set
        };
        let mut dg = vec![0u8, 10];
        dg.extend_from_slice(&((16 + body.len()) as u16).to_be_bytes());
        dg.extend_from_slice(&1_700_000_001u32.to_be_bytes());
        dg.extend_from_slice(&((d * per) as u32).to_be_bytes());
        dg.extend_from_slice(&1u32.to_be_bytes());
        dg.extend_from_slice(&body);
        out.push(dg);
    }
    out
}

fn v5_datagrams(n: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for d in 0..n.div_ceil(30) {
        let mut dg = vec![0u8, 5, 0, 30];
        dg.extend_from_slice(&100_000u32.to_be_bytes());
        dg.extend_from_slice(&1_700_000_000u32.to_be_bytes());
        dg.extend_from_slice(&0u32.to_be_bytes());
        dg.extend_from_slice(&((d * 30) as u32).to_be_bytes());
        dg.extend_from_slice(&[0, 0, 0, 0]);
        for i in 0..30u32 {
            let mut r = [0u8; 48];
            r[0..4].copy_from_slice(&[10, 0, (i >> 8) as u8, i as u8]);
            r[4..8].copy_from_slice(&[192, 168, 1, 1]);
            r[16..20].copy_from_slice(&3u32.to_be_bytes());
            r[20..24].copy_from_slice(&180u32.to_be_bytes());
            r[24..28].copy_from_slice(&90_000u32.to_be_bytes());
            r[28..32].copy_from_slice(&95_000u32.to_be_bytes());
            r[38] = 6;
            dg.extend_from_slice(&r);
        }
        out.push(dg);
    }
    out
}

fn run(name: &str, dgs: &[Vec<u8>]) {
    let mut d = Decoder::default();
    let exporter = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut bytes = 0u64;
    let t = Instant::now();
    let mut flows = 0u64;
    for dg in dgs {
        if d.decode(exporter, dg, &mut |f| bytes = bytes.wrapping_add(f.bytes))
            .is_ok()
        {
            flows += 1;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let records = d.stats.flows;
    println!(
        "{name}: {records} records in {secs:.3} s = {:.0} records/s ({} datagrams, checksum {bytes})",
        records as f64 / secs,
        flows
    );
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3_000_000);
    run("ipfix", &ipfix_datagrams(n));
    run("netflow-v5", &v5_datagrams(n));
}
