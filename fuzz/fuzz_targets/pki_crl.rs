#![no_main]

// CRL loading into a revocation set, and PEM/base64 front ends (palisade-pki).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Any certificate works as the issuer: the parse must fail cleanly or reject the signature.
    let _ = palisade_pki::RevocationSet::from_crl(data, data, Some(0));
    let _ = palisade_pki::pkcs7::base64_decode(data);
    let _ = palisade_pki::pem_or_der(data, "CERTIFICATE REQUEST");
});
