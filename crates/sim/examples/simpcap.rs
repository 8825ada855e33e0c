//! Writes the default simulated capture: `cargo run -p palisade-sim --example simpcap -- out.pcap [seed] [--benign]`.

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .map(String::as_str)
        .unwrap_or("palisade-demo.pcap");
    let mut cfg = palisade_sim::SimConfig::default();
    if let Some(seed) = args.get(2).and_then(|s| s.parse().ok()) {
        cfg.seed = seed;
    }
    if args.iter().any(|a| a == "--benign") {
        cfg.include_attack = false;
    }
    let t = std::time::Instant::now();
    palisade_sim::write_pcap(&cfg, path)?;
    eprintln!("wrote {path} in {:?}", t.elapsed());
    Ok(())
}
