//! PKCS#7 / CMS "certs-only" SignedData (RFC 7030 §4.1.3, RFC 5652): a degenerate SignedData
//! with no content and no signers that just carries certificates. EST returns it base64-encoded.

use crate::der::{self, cons, tlv};

const OID_SIGNED_DATA: &str = "1.2.840.113549.1.7.2";
const OID_DATA: &str = "1.2.840.113549.1.7.1";

/// Encodes `certs` (DER certificates) as a DER ContentInfo(SignedData) with no signers.
pub fn certs_only(certs: &[&[u8]]) -> Vec<u8> {
    let cert_set = cons(0xa0, certs);
    let signed_data = cons(
        der::SEQUENCE,
        &[
            &tlv(der::INTEGER, &[1]),
            &tlv(der::SET, &[]),
            &cons(der::SEQUENCE, &[&der::oid(OID_DATA)]),
            &cert_set,
            &tlv(der::SET, &[]),
        ],
    );
    cons(
        der::SEQUENCE,
        &[&der::oid(OID_SIGNED_DATA), &cons(0xa0, &[&signed_data])],
    )
}

/// Extracts the certificates (DER) of a ContentInfo(SignedData), as an EST client reads a
/// `cacerts` or `simpleenroll` response. Errors name the byte offset.
pub fn parse_certs(input: &[u8]) -> Result<Vec<Vec<u8>>, crate::PkiError> {
    let mut r = der::Reader::new(input, "PKCS#7");
    let ci = r.expect(der::SEQUENCE, "ContentInfo")?;
    r.finish("ContentInfo")?;
    let mut c = r.nested(&ci)?;
    let oid = c.expect(der::OID, "contentType")?;
    if oid.raw != der::oid(OID_SIGNED_DATA).as_slice() {
        return Err(crate::PkiError::Der {
            what: "PKCS#7",
            offset: oid.offset,
            msg: "contentType is not signedData".into(),
        });
    }
    let content = c.expect(0xa0, "content [0]")?;
    let mut body = c.nested(&content)?;
    let sd = body.expect(der::SEQUENCE, "SignedData")?;
    let mut sd = body.nested(&sd)?;
    sd.expect(der::INTEGER, "version")?;
    sd.expect(der::SET, "digestAlgorithms")?;
    sd.expect(der::SEQUENCE, "encapContentInfo")?;
    let mut out = Vec::new();
    if let Some(set) = sd.optional(0xa0)? {
        let mut certs = sd.nested(&set)?;
        while !certs.is_empty() {
            let cert = certs.expect(der::SEQUENCE, "certificate")?;
            out.push(cert.raw.to_vec());
        }
    }
    Ok(out)
}

/// Base64 with line breaks every 64 characters, as EST servers commonly send.
pub fn base64_lines(der: &[u8]) -> String {
    use base64::Engine;
    let b = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(b.len() + b.len() / 64 + 1);
    for chunk in b.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// Decodes base64 that may contain whitespace (an EST request body).
pub fn base64_decode(text: &[u8]) -> Result<Vec<u8>, crate::PkiError> {
    use base64::Engine;
    let clean: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(&clean)
        .map_err(|e| crate::PkiError::Der {
            what: "base64",
            offset: 0,
            msg: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structure_is_well_formed() {
        let a = tlv(der::SEQUENCE, &[1, 2, 3]);
        let b = tlv(der::SEQUENCE, &[4; 300]);
        let p7 = certs_only(&[&a, &b]);
        let mut r = der::Reader::new(&p7, "p7");
        let ci = r.expect(der::SEQUENCE, "ContentInfo").unwrap();
        r.finish("ContentInfo").unwrap();
        let mut c = r.nested(&ci).unwrap();
        c.expect(der::OID, "contentType").unwrap();
        let body = c.expect(0xa0, "content").unwrap();
        let mut sd = c.nested(&body).unwrap();
        let sd = sd.expect(der::SEQUENCE, "SignedData").unwrap();
        assert!(sd.value.windows(a.len()).any(|w| w == a.as_slice()));
        let round = base64_decode(base64_lines(&p7).as_bytes()).unwrap();
        assert_eq!(round, p7);
        assert_eq!(parse_certs(&p7).unwrap(), vec![a.clone(), b.clone()]);
        let err = parse_certs(&p7[..p7.len() - 3]).unwrap_err().to_string();
        assert!(err.contains("byte offset"), "{err}");
        assert!(parse_certs(&a).is_err());
    }
}
