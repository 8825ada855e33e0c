//! Regenerates the embedded packs: `cargo run -p palisade-kb --example import [SHARED_KB [OUT_DIR]]`.
//! Defaults: `<crate>/../../../shared/kb` and `<crate>/data`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut args = std::env::args_os().skip(1);
    let shared = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_dir.join("../../../shared/kb"));
    let out = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_dir.join("data"));
    match palisade_kb::import_default_packs(&shared, &out) {
        Ok(report) => {
            for p in &report.packs {
                println!(
                    "{:<20} {:>6} records  {}",
                    p.name,
                    p.records,
                    p.file.display()
                );
            }
            for w in &report.warnings {
                println!("warning: {w}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("import failed: {e}");
            ExitCode::FAILURE
        }
    }
}
