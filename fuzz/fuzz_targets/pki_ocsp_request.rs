#![no_main]

// OCSP request parsing (palisade-pki's own DER reader).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = palisade_pki::ocsp::parse_request(data);
});
