//! Revocation: reason codes, a hash set of revoked serials for per-handshake checks, and
//! loading that set from a CRL whose signature, issuer and freshness are verified.

use rustc_hash::FxHashSet;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use crate::PkiError;

/// CRL reason codes (RFC 5280 §5.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Reason {
    Unspecified,
    KeyCompromise,
    CaCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    CertificateHold,
    PrivilegeWithdrawn,
}

impl Reason {
    pub const ALL: [Reason; 8] = [
        Reason::Unspecified,
        Reason::KeyCompromise,
        Reason::CaCompromise,
        Reason::AffiliationChanged,
        Reason::Superseded,
        Reason::CessationOfOperation,
        Reason::CertificateHold,
        Reason::PrivilegeWithdrawn,
    ];

    pub fn code(self) -> u8 {
        match self {
            Reason::Unspecified => 0,
            Reason::KeyCompromise => 1,
            Reason::CaCompromise => 2,
            Reason::AffiliationChanged => 3,
            Reason::Superseded => 4,
            Reason::CessationOfOperation => 5,
            Reason::CertificateHold => 6,
            Reason::PrivilegeWithdrawn => 9,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Reason::Unspecified => "unspecified",
            Reason::KeyCompromise => "keyCompromise",
            Reason::CaCompromise => "cACompromise",
            Reason::AffiliationChanged => "affiliationChanged",
            Reason::Superseded => "superseded",
            Reason::CessationOfOperation => "cessationOfOperation",
            Reason::CertificateHold => "certificateHold",
            Reason::PrivilegeWithdrawn => "privilegeWithdrawn",
        }
    }

    /// Parses a reason name (case-insensitive; "key-compromise" style accepted).
    pub fn parse(s: &str) -> Result<Reason, PkiError> {
        let norm: String = s
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .collect::<String>()
            .to_ascii_lowercase();
        Reason::ALL
            .into_iter()
            .find(|r| r.name().to_ascii_lowercase() == norm)
            .ok_or_else(|| {
                PkiError::Policy(format!(
                    "unknown revocation reason {s:?} (one of: {})",
                    Reason::ALL.map(|r| r.name()).join(", ")
                ))
            })
    }

    pub(crate) fn to_rcgen(self) -> Option<rcgen::RevocationReason> {
        use rcgen::RevocationReason as R;
        Some(match self {
            // RFC 5280: the reason code "unspecified" SHOULD be absent rather than present.
            Reason::Unspecified => return None,
            Reason::KeyCompromise => R::KeyCompromise,
            Reason::CaCompromise => R::CaCompromise,
            Reason::AffiliationChanged => R::AffiliationChanged,
            Reason::Superseded => R::Superseded,
            Reason::CessationOfOperation => R::CessationOfOperation,
            Reason::CertificateHold => R::CertificateHold,
            Reason::PrivilegeWithdrawn => R::PrivilegeWithdrawn,
        })
    }
}

/// Strips leading zero bytes so that `00 81 ..` and `81 ..` compare equal.
fn normalize(serial: &[u8]) -> &[u8] {
    let skip = serial
        .iter()
        .take_while(|b| **b == 0)
        .count()
        .min(serial.len().saturating_sub(1));
    &serial[skip..]
}

/// The set of revoked serial numbers of one issuer: O(1) lookups per handshake.
#[derive(Debug, Default, Clone)]
pub struct RevocationSet {
    serials: FxHashSet<Box<[u8]>>,
}

/// Facts about a verified CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlInfo {
    pub this_update: i64,
    pub next_update: Option<i64>,
    pub number: Option<Vec<u8>>,
    pub entries: usize,
}

impl RevocationSet {
    pub fn new() -> RevocationSet {
        RevocationSet::default()
    }

    pub fn insert(&mut self, serial: &[u8]) {
        self.serials.insert(normalize(serial).into());
    }

    pub fn is_revoked(&self, serial: &[u8]) -> bool {
        self.serials.contains(normalize(serial))
    }

    pub fn len(&self) -> usize {
        self.serials.len()
    }

    pub fn is_empty(&self) -> bool {
        self.serials.is_empty()
    }

    /// Loads a CRL (PEM or DER) after checking that `issuer_der` issued it (name and signature)
    /// and, with `now`, that it is current (thisUpdate ≤ now < nextUpdate).
    pub fn from_crl(
        crl_bytes: &[u8],
        issuer_der: &[u8],
        now: Option<i64>,
    ) -> Result<(RevocationSet, CrlInfo), PkiError> {
        let der = crate::pem_or_der(crl_bytes, "X509 CRL")?;
        let mut r = crate::der::Reader::new(&der, "CRL");
        let outer = r.expect(crate::der::SEQUENCE, "CertificateList SEQUENCE")?;
        r.finish("CertificateList")?;
        let mut inner = r.nested(&outer)?;
        inner.expect(crate::der::SEQUENCE, "tbsCertList")?;
        inner.expect(crate::der::SEQUENCE, "signatureAlgorithm")?;
        inner.expect(crate::der::BIT_STRING, "signatureValue")?;
        inner.finish("signatureValue")?;
        let (_, crl) = CertificateRevocationList::from_der(&der)
            .map_err(|e| PkiError::Crl(format!("malformed CRL: {e}")))?;
        let (_, issuer) = x509_parser::certificate::X509Certificate::from_der(issuer_der)
            .map_err(|e| PkiError::Cert(format!("malformed issuer certificate: {e}")))?;
        if crl.issuer() != issuer.subject() {
            return Err(PkiError::Crl(format!(
                "CRL issuer {} is not {}",
                crl.issuer(),
                issuer.subject()
            )));
        }
        crl.verify_signature(issuer.public_key())
            .map_err(|e| PkiError::Crl(format!("signature does not verify ({e})")))?;
        let info = CrlInfo {
            this_update: crl.last_update().timestamp(),
            next_update: crl.next_update().map(|t| t.timestamp()),
            number: crl.crl_number().map(|n| n.to_bytes_be()),
            entries: crl.iter_revoked_certificates().count(),
        };
        if let Some(now) = now {
            if info.this_update > now + 300 {
                return Err(PkiError::Crl(
                    "CRL is not yet valid (thisUpdate in the future)".into(),
                ));
            }
            if info.next_update.is_some_and(|n| n <= now) {
                return Err(PkiError::Crl("CRL has expired (nextUpdate passed)".into()));
            }
        }
        let mut set = RevocationSet::default();
        set.serials.reserve(info.entries);
        for rc in crl.iter_revoked_certificates() {
            set.insert(rc.raw_serial());
        }
        Ok((set, info))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_zeros_do_not_matter() {
        let mut s = RevocationSet::new();
        s.insert(&[0x00, 0x81, 0x02]);
        assert!(s.is_revoked(&[0x81, 0x02]));
        assert!(!s.is_revoked(&[0x81, 0x03]));
        s.insert(&[0]);
        assert!(s.is_revoked(&[0, 0]));
    }

    #[test]
    fn reasons_round_trip() {
        for r in Reason::ALL {
            assert_eq!(Reason::parse(r.name()).unwrap(), r);
        }
        assert_eq!(
            Reason::parse("key-compromise").unwrap(),
            Reason::KeyCompromise
        );
        assert!(Reason::parse("because").is_err());
    }
}
