#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    palisade_fwscan::fuzzing::unpack(data);
});
