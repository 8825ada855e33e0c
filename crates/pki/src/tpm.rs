//! TPM 2.0 quote verification: parse TPMS_ATTEST (TPM 2.0 Library Part 2, §10.12), check the
//! attestation key's signature over it, the nonce (extraData) and the PCR digest against golden
//! PCR values. Signatures as `tpm2_quote -f plain` writes them: DER ECDSA (P-256/SHA-256) or
//! RSASSA-PKCS1-v1_5/SHA-256; the AK as a DER/PEM SubjectPublicKeyInfo (`tpm2_createak -f pem`).

use ring::{digest, signature};
use x509_parser::prelude::FromDer;

use crate::PkiError;

pub const TPM_GENERATED_VALUE: u32 = 0xff54_4347;
pub const TPM_ST_ATTEST_QUOTE: u16 = 0x8018;
pub const TPM_ALG_SHA1: u16 = 0x0004;
pub const TPM_ALG_SHA256: u16 = 0x000b;
pub const TPM_ALG_SHA384: u16 = 0x000c;

/// One PCR bank selection of a quote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcrSelection {
    pub hash_alg: u16,
    /// Selected PCR indices, ascending.
    pub pcrs: Vec<u32>,
}

/// A parsed TPMS_ATTEST of type quote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    pub qualified_signer: Vec<u8>,
    /// The verifier's nonce (extraData).
    pub extra_data: Vec<u8>,
    pub clock: u64,
    pub reset_count: u32,
    pub restart_count: u32,
    pub safe: bool,
    pub firmware_version: u64,
    pub selections: Vec<PcrSelection>,
    pub pcr_digest: Vec<u8>,
}

struct Cur<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cur<'a> {
    fn err(&self, msg: &str) -> PkiError {
        PkiError::Der {
            what: "TPMS_ATTEST",
            offset: self.pos,
            msg: msg.to_owned(),
        }
    }
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], PkiError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or_else(|| self.err("length overflow"))?;
        let s = self
            .b
            .get(self.pos..end)
            .ok_or_else(|| self.err(&format!("truncated {what} ({n} bytes needed)")))?;
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self, what: &str) -> Result<u8, PkiError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16, PkiError> {
        let s = self.take(2, what)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self, what: &str) -> Result<u32, PkiError> {
        let s = self.take(4, what)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self, what: &str) -> Result<u64, PkiError> {
        let hi = u64::from(self.u32(what)?);
        let lo = u64::from(self.u32(what)?);
        Ok(hi << 32 | lo)
    }
    /// TPM2B: u16 size + bytes, at most `max`.
    fn tpm2b(&mut self, what: &str, max: usize) -> Result<&'a [u8], PkiError> {
        let n = self.u16(what)? as usize;
        if n > max {
            return Err(self.err(&format!("{what} of {n} bytes exceeds {max}")));
        }
        self.take(n, what)
    }
}

/// Parses a quote's TPMS_ATTEST (the `-m` message of `tpm2_quote`).
pub fn parse_quote(bytes: &[u8]) -> Result<Quote, PkiError> {
    let mut c = Cur { b: bytes, pos: 0 };
    let magic = c.u32("magic")?;
    if magic != TPM_GENERATED_VALUE {
        c.pos = 0;
        return Err(c.err(&format!(
            "magic 0x{magic:08x} is not TPM_GENERATED_VALUE (not produced by a TPM)"
        )));
    }
    let ty = c.u16("type")?;
    if ty != TPM_ST_ATTEST_QUOTE {
        c.pos = 4;
        return Err(c.err(&format!(
            "attestation type 0x{ty:04x} is not a quote (0x8018)"
        )));
    }
    let qualified_signer = c.tpm2b("qualifiedSigner", 68)?.to_vec();
    let extra_data = c.tpm2b("extraData", 64)?.to_vec();
    let clock = c.u64("clockInfo.clock")?;
    let reset_count = c.u32("clockInfo.resetCount")?;
    let restart_count = c.u32("clockInfo.restartCount")?;
    let safe = c.u8("clockInfo.safe")? != 0;
    let firmware_version = c.u64("firmwareVersion")?;
    let count = c.u32("pcrSelect.count")?;
    if count > 16 {
        return Err(c.err(&format!("{count} PCR banks (at most 16)")));
    }
    let mut selections = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let hash_alg = c.u16("pcrSelection.hash")?;
        let size = c.u8("pcrSelection.sizeofSelect")? as usize;
        if size > 8 {
            return Err(c.err(&format!("sizeofSelect {size} (at most 8)")));
        }
        let bits = c.take(size, "pcrSelect")?;
        let pcrs = bits
            .iter()
            .enumerate()
            .flat_map(|(i, b)| {
                (0..8)
                    .filter(move |k| b & (1 << k) != 0)
                    .map(move |k| (i * 8 + k) as u32)
            })
            .collect();
        selections.push(PcrSelection { hash_alg, pcrs });
    }
    let pcr_digest = c.tpm2b("pcrDigest", 64)?.to_vec();
    if c.pos != bytes.len() {
        return Err(c.err("trailing bytes after TPMS_QUOTE_INFO"));
    }
    Ok(Quote {
        qualified_signer,
        extra_data,
        clock,
        reset_count,
        restart_count,
        safe,
        firmware_version,
        selections,
        pcr_digest,
    })
}

/// Golden (expected) SHA-256 PCR values.
pub type Golden<'a> = &'a [(u32, [u8; 32])];

/// Verifies a quote: AK signature over `attest`, nonce, and that the quoted SHA-256 PCRs are
/// exactly the golden ones with the golden values. Returns the parsed quote.
pub fn verify_quote(
    attest: &[u8],
    signature_bytes: &[u8],
    ak_public: &[u8],
    nonce: &[u8],
    golden: Golden<'_>,
) -> Result<Quote, PkiError> {
    let spki_der = crate::pem_or_der(ak_public, "PUBLIC KEY")?;
    let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&spki_der)
        .map_err(|e| PkiError::Crypto(format!("attestation key: malformed public key: {e}")))?;
    let alg: &dyn signature::VerificationAlgorithm =
        match spki.algorithm.algorithm.to_id_string().as_str() {
            "1.2.840.10045.2.1" => &signature::ECDSA_P256_SHA256_ASN1,
            "1.2.840.113549.1.1.1" => &signature::RSA_PKCS1_2048_8192_SHA256,
            other => {
                return Err(PkiError::Crypto(format!(
                    "attestation key algorithm {other} is not supported (ECC P-256 or RSA)"
                )));
            }
        };
    signature::UnparsedPublicKey::new(alg, spki.subject_public_key.data.as_ref())
        .verify(attest, signature_bytes)
        .map_err(|_| {
            PkiError::Crypto("quote signature does not verify with the attestation key".into())
        })?;
    let q = parse_quote(attest)?;
    if q.extra_data != nonce {
        return Err(PkiError::Policy(
            "quote nonce does not match the challenge (stale or replayed quote)".into(),
        ));
    }
    let mut expected: Vec<(u32, [u8; 32])> = golden.to_vec();
    expected.sort_by_key(|(i, _)| *i);
    let mut quoted = Vec::new();
    for sel in &q.selections {
        if sel.pcrs.is_empty() {
            continue;
        }
        if sel.hash_alg != TPM_ALG_SHA256 {
            return Err(PkiError::Policy(format!(
                "quote covers PCR bank 0x{:04x}; only SHA-256 golden values are known",
                sel.hash_alg
            )));
        }
        quoted.extend(sel.pcrs.iter().copied());
    }
    let golden_idx: Vec<u32> = expected.iter().map(|(i, _)| *i).collect();
    if quoted != golden_idx {
        return Err(PkiError::Policy(format!(
            "quote covers PCRs {quoted:?}, the golden values cover {golden_idx:?}"
        )));
    }
    let mut ctx = digest::Context::new(&digest::SHA256);
    for (_, v) in &expected {
        ctx.update(v);
    }
    if ctx.finish().as_ref() != q.pcr_digest.as_slice() {
        return Err(PkiError::Policy(
            "PCR digest differs from the golden values (the device booted something else)".into(),
        ));
    }
    Ok(q)
}

/// PCR extend, for computing golden values: new = SHA-256(old || measurement).
pub fn extend(old: &[u8; 32], measurement: &[u8]) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(old);
    ctx.update(measurement);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quote `tpm2_quote` produced from swtpm (all-zero PCRs 0,1,2,7; nonce 0011223344556677).
    const QUOTE: &str = "ff54434780180022000bf3ab3fe7ec917b6ffed149af8744074f9995463801152771ae48292a26e6d19100080011223344556677000000000000024e000000010000000001201910230016363600000001000b03870000002038723a2e5e8a17aa7950dc008209944e898f69a7bd10a23c839d341e935fd5ca";

    #[test]
    fn parses_a_real_quote() {
        let q = parse_quote(&crate::unhex(QUOTE).unwrap()).unwrap();
        assert_eq!(q.extra_data, crate::unhex("0011223344556677").unwrap());
        assert_eq!(
            q.selections,
            vec![PcrSelection {
                hash_alg: TPM_ALG_SHA256,
                pcrs: vec![0, 1, 2, 7]
            }]
        );
        assert_eq!((q.clock, q.reset_count, q.restart_count), (0x24e, 1, 0));
        assert!(q.safe);
        // Digest of four zero PCRs.
        let mut ctx = digest::Context::new(&digest::SHA256);
        for _ in 0..4 {
            ctx.update(&[0u8; 32]);
        }
        assert_eq!(ctx.finish().as_ref(), q.pcr_digest.as_slice());
    }

    #[test]
    fn truncations_and_bad_magic_are_errors() {
        let b = crate::unhex(QUOTE).unwrap();
        for n in 0..b.len() {
            let e = parse_quote(&b[..n]).unwrap_err().to_string();
            assert!(e.contains("offset"), "{e}");
        }
        let mut bad = b.clone();
        bad[0] = 0;
        assert!(parse_quote(&bad).unwrap_err().to_string().contains("magic"));
        let mut extra = b;
        extra.push(0);
        assert!(parse_quote(&extra).is_err());
    }
}
