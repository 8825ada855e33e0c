//! Throughput of feature extraction + ensemble execution on one core.
//!
//!     cargo run --release -p palisade-anomaly --example throughput -- STREAM.pcap TRAIN_PACKETS [REPEAT]
//!
//! The capture is decoded into memory first (decoding is the sensor's cost, not this crate's);
//! then the detector learns from the first TRAIN_PACKETS packets and the remaining packets are
//! timed (feature extraction + ensemble execution + calibration), REPEAT times over.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use palisade_anomaly::{Config, Detector, PacketView};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(n)) = (args.get(1), args.get(2)) else {
        return Err("usage: throughput STREAM.pcap TRAIN_PACKETS [REPEAT]".into());
    };
    let train: usize = n.parse()?;
    let repeat: usize = args.get(3).map(|r| r.parse()).transpose()?.unwrap_or(3);
    let mut r = palisade_capture::open(std::path::Path::new(path))?;
    let mut pkts = Vec::new();
    while let Some(p) = r.next_packet()? {
        let d = palisade_packet::decode(p.link_type.0, p.data);
        pkts.push(PacketView::from_decoded(p.ts_ns, &d, p.orig_len));
    }
    let train = train.min(pkts.len());
    let t0 = Instant::now();
    let mut det = Detector::new(Config::for_training_packets(train as u64));
    for p in &pkts[..train] {
        det.process(p);
    }
    let t_train = t0.elapsed().as_secs_f64();
    println!(
        "training: {train} packets in {t_train:.3} s ({:.0} packets/s, feature mapping + training)",
        train as f64 / t_train
    );
    let test = &pkts[train..];
    let model = det.model()?;
    let mut best = 0.0f64;
    for i in 0..repeat {
        // A fresh detector from the saved model each round, so every round sees the same state.
        let mut d = Detector::from_model(model.clone());
        let t = Instant::now();
        let mut acc = 0.0f64;
        for p in test {
            if let Some(s) = d.process(p) {
                acc += f64::from(s.score);
            }
        }
        let secs = t.elapsed().as_secs_f64();
        let rate = test.len() as f64 / secs;
        best = best.max(rate);
        println!(
            "execution round {i}: {} packets in {secs:.3} s = {rate:.0} packets/s (checksum {acc:.3}, {} table entries)",
            test.len(),
            d.table_entries()
        );
    }
    println!("best execution throughput: {best:.0} packets/s on one core");
    Ok(())
}
