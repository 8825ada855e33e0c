//! PKCS#10 certificate signing requests: parse, verify the self-signature, classify the key, and
//! check the request against the naming policy.

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;

use crate::policy::{device_uri, validate_device_id};
use crate::{KeyKind, PkiError, der};

/// What the CA needs from a verified CSR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrInfo {
    /// Subject common name, when present.
    pub common_name: Option<String>,
    /// Requested subjectAltName DNS names.
    pub dns_names: Vec<String>,
    /// Requested subjectAltName URIs.
    pub uris: Vec<String>,
    /// Other requested subjectAltName entries, described (they are refused by the naming check).
    pub other_names: Vec<String>,
    pub key: KeyKind,
    /// DER SubjectPublicKeyInfo.
    pub spki_der: Vec<u8>,
}

const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_ED25519: &str = "1.3.101.112";
const OID_RSA: &str = "1.2.840.113549.1.1.1";

/// A new key of `kind` and a PKCS#10 request for `device_id` (CN = the id), as a device makes
/// for EST. Returns (PKCS#8 key PEM, CSR DER).
pub fn build(kind: KeyKind, device_id: &str) -> Result<(String, Vec<u8>), PkiError> {
    validate_device_id(device_id)?;
    let key = crate::keys::generate(kind)?;
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name
        .push(rcgen::DnType::CommonName, device_id);
    let csr = p.serialize_request(&key)?;
    let pkcs8 = key.serialize_der();
    let pkcs8 = match kind {
        KeyKind::Ed25519 => ed25519_pkcs8_v1(&pkcs8)?,
        _ => pkcs8,
    };
    Ok((crate::to_pem("PRIVATE KEY", &pkcs8), csr.der().to_vec()))
}

/// ring writes Ed25519 keys as PKCS#8 v2 (RFC 5958, with the public key), which OpenSSL 3.0
/// cannot load; RFC 8410's v1 form (the seed only) is read by OpenSSL, curl and rustls alike.
fn ed25519_pkcs8_v1(v2: &[u8]) -> Result<Vec<u8>, PkiError> {
    let mut r = der::Reader::new(v2, "Ed25519 PKCS#8");
    let outer = r.expect(der::SEQUENCE, "OneAsymmetricKey")?;
    let mut inner = r.nested(&outer)?;
    inner.expect(der::INTEGER, "version")?;
    let alg = inner.expect(der::SEQUENCE, "privateKeyAlgorithm")?;
    let private_key = inner.expect(der::OCTET_STRING, "privateKey")?;
    Ok(der::cons(
        der::SEQUENCE,
        &[&der::tlv(der::INTEGER, &[0]), alg.raw, private_key.raw],
    ))
}

/// The subject CN of a certificate (PEM or DER), e.g. the device id of an IDevID.
pub fn certificate_cn(input: &[u8]) -> Result<String, PkiError> {
    let der_bytes = crate::pem_or_der(input, "CERTIFICATE")?;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&der_bytes)
        .map_err(|e| PkiError::Cert(format!("malformed certificate: {e}")))?;
    cert.subject()
        .iter_common_name()
        .next()
        .and_then(|c| c.as_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| PkiError::Cert("certificate has no subject CN".into()))
}

/// (notBefore, notAfter) of a certificate (PEM or DER), Unix seconds.
pub fn certificate_validity(input: &[u8]) -> Result<(i64, i64), PkiError> {
    let der_bytes = crate::pem_or_der(input, "CERTIFICATE")?;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&der_bytes)
        .map_err(|e| PkiError::Cert(format!("malformed certificate: {e}")))?;
    Ok((
        cert.validity().not_before.timestamp(),
        cert.validity().not_after.timestamp(),
    ))
}

/// Parses a CSR (PEM or DER) and verifies its signature with the key it contains.
pub fn parse(input: &[u8]) -> Result<CsrInfo, PkiError> {
    let der_bytes = crate::pem_or_der(input, "CERTIFICATE REQUEST")?;
    // Our own DER walk first: it pins structural errors to a byte offset.
    let mut r = der::Reader::new(&der_bytes, "CSR");
    let outer = r.expect(der::SEQUENCE, "CertificationRequest SEQUENCE")?;
    r.finish("CertificationRequest")?;
    let mut inner = r.nested(&outer)?;
    inner.expect(der::SEQUENCE, "certificationRequestInfo")?;
    inner.expect(der::SEQUENCE, "signatureAlgorithm")?;
    inner.expect(der::BIT_STRING, "signature")?;
    inner.finish("signature")?;

    let (_, csr) = X509CertificationRequest::from_der(&der_bytes)
        .map_err(|e| PkiError::Csr(format!("malformed request: {e}")))?;
    let info = &csr.certification_request_info;
    let spki = &info.subject_pki;
    let alg = spki.algorithm.algorithm.to_id_string();
    let key = match alg.as_str() {
        OID_EC_PUBLIC_KEY => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .unwrap_or_default();
            match curve.as_str() {
                OID_P256 => KeyKind::P256,
                OID_P384 => KeyKind::P384,
                other => {
                    return Err(PkiError::Csr(format!(
                        "unsupported elliptic curve {other:?} (P-256 or P-384)"
                    )));
                }
            }
        }
        OID_ED25519 => KeyKind::Ed25519,
        OID_RSA => match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) => KeyKind::Rsa(rsa.key_size() as u32),
            _ => return Err(PkiError::Csr("malformed RSA public key".into())),
        },
        other => {
            return Err(PkiError::Csr(format!(
                "unsupported public key algorithm {other}"
            )));
        }
    };
    if let KeyKind::Rsa(bits) = key {
        // Below 2048 bits the signature cannot even be checked safely (ring refuses such keys).
        if bits < 2048 {
            return Err(PkiError::Csr(format!(
                "RSA-{bits} key is too weak (RSA needs at least 2048 bits; P-256 or Ed25519 preferred)"
            )));
        }
    }
    if key == KeyKind::Ed25519 && spki.subject_public_key.data.len() != 32 {
        return Err(PkiError::Csr("Ed25519 public key must be 32 bytes".into()));
    }
    csr.verify_signature().map_err(|e| {
        PkiError::Csr(format!(
            "signature does not verify with the request's own key ({e})"
        ))
    })?;

    let mut common_name = None;
    for cn in info.subject.iter_common_name() {
        let s = cn
            .as_str()
            .map_err(|_| PkiError::Csr("subject CN is not a string".into()))?;
        if common_name.is_some() {
            return Err(PkiError::Csr("subject has more than one CN".into()));
        }
        common_name = Some(s.to_owned());
    }
    let mut out = CsrInfo {
        common_name,
        dns_names: Vec::new(),
        uris: Vec::new(),
        other_names: Vec::new(),
        key,
        spki_der: spki.raw.to_vec(),
    };
    if let Some(exts) = csr.requested_extensions() {
        for ext in exts {
            if let ParsedExtension::SubjectAlternativeName(san) = ext {
                for n in &san.general_names {
                    match n {
                        GeneralName::DNSName(d) => out.dns_names.push((*d).to_owned()),
                        GeneralName::URI(u) => out.uris.push((*u).to_owned()),
                        other => out.other_names.push(format!("{other:?}")),
                    }
                }
            }
        }
    }
    Ok(out)
}

impl CsrInfo {
    /// Naming policy: decides the device id. With `expected` (from an enrollment token or an
    /// operator), the CSR's CN must equal it; otherwise the CN is the id. Requested SANs may only
    /// repeat the device's own names.
    pub fn device_id(&self, expected: Option<&str>) -> Result<String, PkiError> {
        let id = match (expected, self.common_name.as_deref()) {
            (Some(e), Some(cn)) if e != cn => {
                return Err(PkiError::Policy(format!(
                    "CSR subject CN {cn:?} does not match the device id {e:?}"
                )));
            }
            (Some(e), _) => e.to_owned(),
            (None, Some(cn)) => cn.to_owned(),
            (None, None) => {
                return Err(PkiError::Policy(
                    "CSR has no subject CN and no device id was given".into(),
                ));
            }
        };
        validate_device_id(&id)?;
        if let Some(d) = self.dns_names.iter().find(|d| **d != id) {
            return Err(PkiError::Policy(format!(
                "CSR requests DNS name {d:?}, which is not the device id {id:?}"
            )));
        }
        let uri = device_uri(&id);
        if let Some(u) = self.uris.iter().find(|u| **u != uri) {
            return Err(PkiError::Policy(format!(
                "CSR requests URI {u:?}; only {uri:?} is allowed"
            )));
        }
        if let Some(o) = self.other_names.first() {
            return Err(PkiError::Policy(format!(
                "CSR requests subjectAltName {o}, which the naming policy does not allow"
            )));
        }
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make_csr(kind: KeyKind, cn: &str, sans: &[&str]) -> Vec<u8> {
        let key = crate::keys::generate(kind).unwrap();
        let mut p =
            rcgen::CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(rcgen::DnType::CommonName, cn);
        p.serialize_request(&key).unwrap().der().to_vec()
    }

    #[test]
    fn parses_p256_and_ed25519() {
        let c = parse(&make_csr(KeyKind::P256, "cam-1", &["cam-1"])).unwrap();
        assert_eq!(c.key, KeyKind::P256);
        assert_eq!(c.common_name.as_deref(), Some("cam-1"));
        assert_eq!(c.dns_names, vec!["cam-1"]);
        assert_eq!(c.device_id(None).unwrap(), "cam-1");
        let e = parse(&make_csr(KeyKind::Ed25519, "plug-2", &[])).unwrap();
        assert_eq!(e.key, KeyKind::Ed25519);
        assert_eq!(e.device_id(Some("plug-2")).unwrap(), "plug-2");
        assert!(e.device_id(Some("plug-3")).is_err());
    }

    #[test]
    fn rejects_foreign_names() {
        let c = parse(&make_csr(KeyKind::P256, "cam-1", &["evil.example.com"])).unwrap();
        let err = c.device_id(None).unwrap_err().to_string();
        assert!(err.contains("evil.example.com"), "{err}");
        let c = parse(&make_csr(KeyKind::P256, "Bad Name", &[])).unwrap();
        assert!(c.device_id(None).is_err());
    }

    #[test]
    fn rejects_tampered_signature() {
        let mut der = make_csr(KeyKind::P256, "cam-1", &[]);
        // Flip a byte inside the subject CN: the structure stays valid, the signature does not.
        let pos = der.windows(5).position(|w| w == b"cam-1").unwrap();
        der[pos] = b'x';
        let err = parse(&der).unwrap_err().to_string();
        assert!(err.contains("signature"), "{err}");
    }

    #[test]
    fn truncation_names_an_offset() {
        let der = make_csr(KeyKind::P256, "cam-1", &[]);
        let err = parse(&der[..der.len() - 10]).unwrap_err().to_string();
        assert!(err.contains("byte offset"), "{err}");
        assert!(parse(b"").is_err());
        assert!(
            parse(
                b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
            )
            .is_err()
        );
    }
}
