//! `palisade sense --bpf`: the `tcpdump -ddd` program parser never panics; what it accepts
//! has the declared instruction count.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(prog) = palisade_sensor::live::parse_bpf(text)
    {
        assert!((1..=4096).contains(&prog.len()));
    }
});
