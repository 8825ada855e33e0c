#![no_main]
//! Suricata rule parser (+ inspection of the rest of the input with the parsed rule).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    palisade_rules::fuzzing::parse_rule(data);
});
