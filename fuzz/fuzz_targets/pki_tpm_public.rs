#![no_main]

// TPM2B_PUBLIC (EK/AK public areas) and tpm2-tools credential-blob file parsing, plus
// MakeCredential on whatever parses (palisade-pki credential activation).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use palisade_pki::credential::{CredentialBlob, make_credential, parse_tpm2b_public};
    if let Ok(p) = parse_tpm2b_public(data) {
        assert_eq!(p.to_tpm2b(), data);
        let name = p.name();
        let _ = p.check_attestation_key();
        let _ = p.matches_spki(data);
        let _ = make_credential(&p, &name, b"fuzz");
    }
    if let Ok(b) = CredentialBlob::from_tpm2_tools_file(data) {
        assert_eq!(b.to_tpm2_tools_file(), data);
    }
});
