#![no_main]

// TPM 2.0 TPMS_ATTEST (quote) parsing and verification front end (palisade-pki).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = palisade_pki::tpm::parse_quote(data);
    let _ = palisade_pki::tpm::verify_quote(data, data, data, &[], &[]);
});
