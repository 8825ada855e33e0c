#![no_main]

// PKCS#7 certs-only parsing, as an EST client reads cacerts/simpleenroll (palisade-pki).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(certs) = palisade_pki::pkcs7::parse_certs(data) {
        for c in certs {
            let _ = palisade_pki::csr::certificate_cn(&c);
        }
    }
});
