#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    palisade_risk::fuzzing::decompress(data);
    palisade_risk::fuzzing::firmware_dates(data);
});
