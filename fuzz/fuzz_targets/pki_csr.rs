#![no_main]

// PKCS#10 CSR parsing + signature check + naming policy (palisade-pki).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(info) = palisade_pki::csr::parse(data) {
        let _ = info.device_id(None);
    }
});
