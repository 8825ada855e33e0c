//! Entry points for the cargo-fuzz targets (`fuzz/fuzz_targets/policy_mud.rs`).

/// Parses arbitrary bytes as a MUD file; when that succeeds, validates, serialises, re-parses
/// and compiles it. Must never panic.
pub fn mud(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(m) = crate::parse(s) else { return };
    let _ = crate::validate(&m);
    let j = crate::to_json(&m);
    let again = crate::parse(&j);
    assert!(again.is_ok(), "serialised MUD does not re-parse");
    let _ = crate::nft::compile(&m, &crate::nft::CompileOptions::default());
}
