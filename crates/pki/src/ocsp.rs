//! OCSP (RFC 6960) responder core: parse an OCSPRequest, answer each CertID with good / revoked /
//! unknown in a BasicOCSPResponse signed by the issuing CA, echoing the request nonce.

use ring::digest;
use x509_parser::prelude::FromDer;

use crate::der::{self, Reader, cons, tlv};
use crate::revocation::Reason;
use crate::{Ca, KeyKind, PkiError};

const OID_SHA1: &str = "1.3.14.3.2.26";
const OID_SHA256: &str = "2.16.840.1.101.3.4.2.1";
const OID_NONCE: &str = "1.3.6.1.5.5.7.48.1.2";
const OID_BASIC: &str = "1.3.6.1.5.5.7.48.1.1";

/// Hash algorithm of a CertID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertIdHash {
    Sha1,
    Sha256,
}

/// One certificate asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertId {
    pub hash: CertIdHash,
    pub issuer_name_hash: Vec<u8>,
    pub issuer_key_hash: Vec<u8>,
    pub serial: Vec<u8>,
    /// The CertID exactly as received (echoed in the response).
    pub raw: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspRequest {
    pub cert_ids: Vec<CertId>,
    /// The nonce extension's extnValue (echoed verbatim).
    pub nonce: Option<Vec<u8>>,
}

/// Status of one certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertStatus {
    Good,
    Revoked { time: i64, reason: Reason },
    Unknown,
}

/// Most CertIDs one request may carry.
pub const MAX_CERT_IDS: usize = 64;

/// Parses a DER OCSPRequest.
pub fn parse_request(input: &[u8]) -> Result<OcspRequest, PkiError> {
    let mut top = Reader::new(input, "OCSP request");
    let req = top.expect(der::SEQUENCE, "OCSPRequest")?;
    top.finish("OCSPRequest")?;
    let mut r = top.nested(&req)?;
    let tbs = r.expect(der::SEQUENCE, "tbsRequest")?;
    // optionalSignature [0] is accepted and ignored: requests are not required to be signed.
    if let Some(sig) = r.optional(0xa0)? {
        let _ = sig;
    }
    r.finish("OCSPRequest")?;
    let mut t = r.nested(&tbs)?;
    if let Some(v) = t.optional(0xa0)? {
        let mut vr = t.nested(&v)?;
        let ver = vr.expect(der::INTEGER, "version")?;
        if ver.value != [0] {
            return Err(PkiError::Der {
                what: "OCSP request",
                offset: ver.offset,
                msg: "unsupported version (only v1)".into(),
            });
        }
    }
    let _requestor = t.optional(0xa1)?;
    let list = t.expect(der::SEQUENCE, "requestList")?;
    let mut nonce = None;
    if let Some(exts) = t.optional(0xa2)? {
        let mut er = t.nested(&exts)?;
        let seq = er.expect(der::SEQUENCE, "requestExtensions")?;
        let mut items = er.nested(&seq)?;
        while !items.is_empty() {
            let ext = items.expect(der::SEQUENCE, "Extension")?;
            let mut e = items.nested(&ext)?;
            let oid = e.expect(der::OID, "extnID")?;
            let _critical = e.optional(0x01)?;
            let value = e.expect(der::OCTET_STRING, "extnValue")?;
            e.finish("Extension")?;
            if oid.value == der::oid_value(OID_NONCE).as_slice() {
                nonce = Some(value.value.to_vec());
            }
        }
    }
    t.finish("tbsRequest")?;
    let mut lr = t.nested(&list)?;
    let mut cert_ids = Vec::new();
    while !lr.is_empty() {
        if cert_ids.len() >= MAX_CERT_IDS {
            return Err(PkiError::Der {
                what: "OCSP request",
                offset: list.offset,
                msg: format!("more than {MAX_CERT_IDS} certificates in one request"),
            });
        }
        let one = lr.expect(der::SEQUENCE, "Request")?;
        let mut rr = lr.nested(&one)?;
        let cid = rr.expect(der::SEQUENCE, "CertID")?;
        let _single_exts = rr.optional(0xa0)?;
        rr.finish("Request")?;
        let mut c = rr.nested(&cid)?;
        let alg = c.expect(der::SEQUENCE, "hashAlgorithm")?;
        let mut ar = c.nested(&alg)?;
        let alg_oid = ar.expect(der::OID, "hashAlgorithm OID")?;
        let _params = ar.optional(der::NULL)?;
        ar.finish("hashAlgorithm")?;
        let hash = if alg_oid.value == der::oid_value(OID_SHA1).as_slice() {
            CertIdHash::Sha1
        } else if alg_oid.value == der::oid_value(OID_SHA256).as_slice() {
            CertIdHash::Sha256
        } else {
            return Err(PkiError::Der {
                what: "OCSP request",
                offset: alg_oid.offset,
                msg: "CertID hash must be SHA-1 or SHA-256".into(),
            });
        };
        let name_hash = c.expect(der::OCTET_STRING, "issuerNameHash")?;
        let key_hash = c.expect(der::OCTET_STRING, "issuerKeyHash")?;
        let serial = c.expect(der::INTEGER, "serialNumber")?;
        c.finish("CertID")?;
        if serial.value.is_empty() {
            return Err(PkiError::Der {
                what: "OCSP request",
                offset: serial.offset,
                msg: "empty serial number".into(),
            });
        }
        cert_ids.push(CertId {
            hash,
            issuer_name_hash: name_hash.value.to_vec(),
            issuer_key_hash: key_hash.value.to_vec(),
            serial: serial.value.to_vec(),
            raw: cid.raw.to_vec(),
        });
    }
    if cert_ids.is_empty() {
        return Err(PkiError::Der {
            what: "OCSP request",
            offset: list.offset,
            msg: "requestList is empty".into(),
        });
    }
    Ok(OcspRequest { cert_ids, nonce })
}

/// OCSPResponse for a request that could not be parsed (status malformedRequest).
pub fn malformed_response() -> Vec<u8> {
    cons(der::SEQUENCE, &[&tlv(der::ENUMERATED, &[1])])
}

/// OCSPResponse with status internalError.
pub fn internal_error_response() -> Vec<u8> {
    cons(der::SEQUENCE, &[&tlv(der::ENUMERATED, &[2])])
}

/// Answers OCSP requests for one issuing CA.
pub struct Responder<'a> {
    ca: &'a Ca,
    name_sha1: Vec<u8>,
    name_sha256: Vec<u8>,
    key_sha1: Vec<u8>,
    key_sha256: Vec<u8>,
}

impl<'a> Responder<'a> {
    pub fn new(ca: &'a Ca) -> Result<Responder<'a>, PkiError> {
        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(ca.issuing_der())
            .map_err(|e| PkiError::Cert(format!("malformed issuing certificate: {e}")))?;
        let name = cert.subject().as_raw();
        let key = cert.public_key().subject_public_key.data.as_ref();
        let h =
            |alg: &'static digest::Algorithm, d: &[u8]| digest::digest(alg, d).as_ref().to_vec();
        Ok(Responder {
            ca,
            name_sha1: h(&digest::SHA1_FOR_LEGACY_USE_ONLY, name),
            name_sha256: h(&digest::SHA256, name),
            key_sha1: h(&digest::SHA1_FOR_LEGACY_USE_ONLY, key),
            key_sha256: h(&digest::SHA256, key),
        })
    }

    /// Whether a CertID names this CA as the issuer.
    pub fn is_ours(&self, id: &CertId) -> bool {
        let (n, k) = match id.hash {
            CertIdHash::Sha1 => (&self.name_sha1, &self.key_sha1),
            CertIdHash::Sha256 => (&self.name_sha256, &self.key_sha256),
        };
        id.issuer_name_hash == *n && id.issuer_key_hash == *k
    }

    /// Answers a DER request. `status` is asked only about serials this CA issued (CertIDs for
    /// other issuers get "unknown"). Parse failures give a malformedRequest response, not an
    /// error, since that is what OCSP clients expect.
    pub fn respond(
        &self,
        request_der: &[u8],
        now: i64,
        next_update_s: i64,
        status: impl Fn(&[u8]) -> CertStatus,
    ) -> Result<Vec<u8>, PkiError> {
        let req = match parse_request(request_der) {
            Ok(r) => r,
            Err(_) => return Ok(malformed_response()),
        };
        let mut singles = Vec::new();
        for id in &req.cert_ids {
            let st = if self.is_ours(id) {
                status(&id.serial)
            } else {
                CertStatus::Unknown
            };
            let st_der = match st {
                CertStatus::Good => vec![0x80, 0x00],
                CertStatus::Unknown => vec![0x82, 0x00],
                CertStatus::Revoked { time, reason } => {
                    let reason_der = cons(0xa0, &[&tlv(der::ENUMERATED, &[reason.code()])]);
                    let mut parts = vec![der::generalized_time(time)];
                    if reason != Reason::Unspecified {
                        parts.push(reason_der);
                    }
                    let refs: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
                    cons(0xa1, &refs)
                }
            };
            singles.extend(cons(
                der::SEQUENCE,
                &[
                    &id.raw,
                    &st_der,
                    &der::generalized_time(now),
                    &cons(0xa0, &[&der::generalized_time(now + next_update_s)]),
                ],
            ));
        }
        let responder_id = cons(0xa2, &[&tlv(der::OCTET_STRING, &self.key_sha1)]);
        let mut tbs_parts: Vec<Vec<u8>> = vec![
            responder_id,
            der::generalized_time(now),
            tlv(der::SEQUENCE, &singles),
        ];
        if let Some(n) = &req.nonce {
            let ext = cons(
                der::SEQUENCE,
                &[&der::oid(OID_NONCE), &tlv(der::OCTET_STRING, n)],
            );
            tbs_parts.push(cons(0xa1, &[&cons(der::SEQUENCE, &[&ext])]));
        }
        let refs: Vec<&[u8]> = tbs_parts.iter().map(|p| p.as_slice()).collect();
        let tbs = cons(der::SEQUENCE, &refs);
        let sig = rcgen::SigningKey::sign(self.ca.issuing_key(), &tbs)?;
        let alg = match self.ca.issuing_kind() {
            KeyKind::P256 => cons(der::SEQUENCE, &[&der::oid("1.2.840.10045.4.3.2")]),
            KeyKind::P384 => cons(der::SEQUENCE, &[&der::oid("1.2.840.10045.4.3.3")]),
            KeyKind::Ed25519 => cons(der::SEQUENCE, &[&der::oid("1.3.101.112")]),
            KeyKind::Rsa(_) => {
                return Err(PkiError::Crypto("RSA CA keys are not supported".into()));
            }
        };
        let mut bits = vec![0u8];
        bits.extend_from_slice(&sig);
        let certs = cons(0xa0, &[&cons(der::SEQUENCE, &[self.ca.issuing_der()])]);
        let basic = cons(
            der::SEQUENCE,
            &[&tbs, &alg, &tlv(der::BIT_STRING, &bits), &certs],
        );
        let response_bytes = cons(
            der::SEQUENCE,
            &[&der::oid(OID_BASIC), &tlv(der::OCTET_STRING, &basic)],
        );
        Ok(cons(
            der::SEQUENCE,
            &[&tlv(der::ENUMERATED, &[0]), &cons(0xa0, &[&response_bytes])],
        ))
    }
}

/// Builds a DER OCSP request for one certificate (SHA-1 CertID, optional nonce) — the client
/// side, used by the agent and tests.
pub fn build_request(
    issuer_der: &[u8],
    serial: &[u8],
    nonce: Option<&[u8]>,
) -> Result<Vec<u8>, PkiError> {
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(issuer_der)
        .map_err(|e| PkiError::Cert(format!("malformed issuer certificate: {e}")))?;
    let name = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, cert.subject().as_raw());
    let key = digest::digest(
        &digest::SHA1_FOR_LEGACY_USE_ONLY,
        cert.public_key().subject_public_key.data.as_ref(),
    );
    let mut serial_v = serial.to_vec();
    if serial_v.first().is_some_and(|b| b & 0x80 != 0) {
        serial_v.insert(0, 0);
    }
    let cert_id = cons(
        der::SEQUENCE,
        &[
            &cons(der::SEQUENCE, &[&der::oid(OID_SHA1), &tlv(der::NULL, &[])]),
            &tlv(der::OCTET_STRING, name.as_ref()),
            &tlv(der::OCTET_STRING, key.as_ref()),
            &tlv(der::INTEGER, &serial_v),
        ],
    );
    let list = cons(der::SEQUENCE, &[&cons(der::SEQUENCE, &[&cert_id])]);
    let mut tbs = vec![list];
    if let Some(n) = nonce {
        let value = tlv(der::OCTET_STRING, n);
        let ext = cons(
            der::SEQUENCE,
            &[&der::oid(OID_NONCE), &tlv(der::OCTET_STRING, &value)],
        );
        tbs.push(cons(0xa2, &[&cons(der::SEQUENCE, &[&ext])]));
    }
    let refs: Vec<&[u8]> = tbs.iter().map(|p| p.as_slice()).collect();
    Ok(cons(der::SEQUENCE, &[&cons(der::SEQUENCE, &refs)]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::NewCa;

    #[test]
    fn request_round_trip_and_statuses() {
        let now = 1_790_000_000;
        let NewCa { ca, .. } = Ca::generate("Acme", KeyKind::P256, now).unwrap();
        let req = build_request(ca.issuing_der(), &[0x45, 0x01], Some(b"nonce-123")).unwrap();
        let parsed = parse_request(&req).unwrap();
        assert_eq!(parsed.cert_ids.len(), 1);
        assert_eq!(parsed.cert_ids[0].serial, vec![0x45, 0x01]);
        assert!(parsed.nonce.is_some());
        let resp = Responder::new(&ca).unwrap();
        assert!(resp.is_ours(&parsed.cert_ids[0]));
        let out = resp
            .respond(&req, now, 3600, |s| {
                if s == [0x45, 0x01] {
                    CertStatus::Revoked {
                        time: now - 10,
                        reason: Reason::KeyCompromise,
                    }
                } else {
                    CertStatus::Good
                }
            })
            .unwrap();
        // successful (0) with basic response bytes
        assert_eq!(out[0], 0x30);
        assert!(out.windows(3).any(|w| w == [0x0a, 0x01, 0x00]));
        // revoked [1] with reason keyCompromise (1)
        assert!(out.windows(5).any(|w| w == [0xa0, 0x03, 0x0a, 0x01, 0x01]));
        assert!(out.windows(9).any(|w| w == b"nonce-123"));
        assert_eq!(
            resp.respond(b"\x30\x00", now, 60, |_| CertStatus::Good)
                .unwrap(),
            malformed_response()
        );
    }

    #[test]
    fn rejects_malformed_requests() {
        for bad in [
            &b""[..],
            b"\x30\x03\x30\x01\x00",
            b"\x30\x02\x30\x00",
            b"\x04\x00",
        ] {
            assert!(parse_request(bad).is_err(), "{bad:?}");
        }
    }
}
