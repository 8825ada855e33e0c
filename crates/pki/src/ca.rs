//! The certificate authority: a self-signed root, an issuing CA signed by it, device certificates
//! issued from verified CSRs, and v2 CRLs.

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SanType, SerialNumber, SubjectPublicKeyInfo,
};
use time::OffsetDateTime;
use x509_parser::prelude::FromDer;

use crate::csr::CsrInfo;
use crate::policy::device_uri;
use crate::revocation::Reason;
use crate::{KeyKind, PkiError, Policy, keys};

/// A certificate just issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub der: Vec<u8>,
    /// Serial number, big-endian, minimal (no leading zero).
    pub serial: Vec<u8>,
    pub device_id: String,
    pub key: KeyKind,
    pub not_before: i64,
    pub not_after: i64,
}

/// One CRL entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedEntry {
    pub serial: Vec<u8>,
    pub time: i64,
    pub reason: Reason,
}

/// The issuing side of the CA, ready to sign.
pub struct Ca {
    root_der: Vec<u8>,
    issuing_der: Vec<u8>,
    issuing_kind: KeyKind,
    issuing_ski: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("issuing_kind", &self.issuing_kind)
            .finish_non_exhaustive()
    }
}

pub(crate) fn datetime(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A fresh random 128-bit positive serial number (first byte 0x40..=0x7f, so always 16 bytes).
pub fn random_serial() -> Result<Vec<u8>, PkiError> {
    let mut b = keys::random::<16>()?;
    b[0] = (b[0] & 0x3f) | 0x40;
    Ok(b.to_vec())
}

fn key_kind_of(key: &KeyPair) -> Result<KeyKind, PkiError> {
    let alg = key.algorithm();
    if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
        Ok(KeyKind::P256)
    } else if alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
        Ok(KeyKind::P384)
    } else if alg == &rcgen::PKCS_ED25519 {
        Ok(KeyKind::Ed25519)
    } else {
        Err(PkiError::Crypto("unsupported CA key algorithm".into()))
    }
}

fn ca_params(
    cn: &str,
    org: &str,
    path_len: u8,
    not_before: i64,
    not_after: i64,
) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = DistinguishedName::new();
    p.distinguished_name.push(DnType::OrganizationName, org);
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(path_len));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = datetime(not_before);
    p.not_after = datetime(not_after);
    p.use_authority_key_identifier_extension = true;
    p
}

/// Subject key identifier of a certificate (from its extension).
fn ski_of(cert_der: &[u8]) -> Result<Vec<u8>, PkiError> {
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(cert_der)
        .map_err(|e| PkiError::Cert(format!("malformed CA certificate: {e}")))?;
    for ext in cert.extensions() {
        if let x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(k) =
            ext.parsed_extension()
        {
            return Ok(k.0.to_vec());
        }
    }
    Err(PkiError::Cert(
        "CA certificate has no subject key identifier".into(),
    ))
}

const YEAR: i64 = 365 * 86_400;

/// Output of [`Ca::generate`]: the CA plus the root key, which the caller seals and keeps offline.
pub struct NewCa {
    pub ca: Ca,
    pub root_key: KeyPair,
}

impl Ca {
    /// Creates a root (20 years, path length 1) and an issuing CA (10 years, path length 0),
    /// both with keys of `kind`.
    pub fn generate(name: &str, kind: KeyKind, now: i64) -> Result<NewCa, PkiError> {
        if name.trim().is_empty() || name.len() > 64 {
            return Err(PkiError::Policy(
                "CA name must be 1 to 64 characters".into(),
            ));
        }
        let root_key = keys::generate(kind)?;
        let root_params = ca_params(
            &format!("{name} Root CA"),
            name,
            1,
            now - 3600,
            now + 20 * YEAR,
        );
        let mut root_params = root_params;
        root_params.serial_number = Some(SerialNumber::from_slice(&random_serial()?));
        let root_cert = root_params.self_signed(&root_key)?;
        let root_issuer = Issuer::new(root_params, &root_key);

        let issuing_key = keys::generate(kind)?;
        let mut issuing_params = ca_params(
            &format!("{name} Issuing CA"),
            name,
            0,
            now - 3600,
            now + 10 * YEAR,
        );
        issuing_params.serial_number = Some(SerialNumber::from_slice(&random_serial()?));
        let issuing_cert = issuing_params.signed_by(&issuing_key, &root_issuer)?;
        let ca = Ca::load(root_cert.der(), issuing_cert.der(), issuing_key)?;
        Ok(NewCa { ca, root_key })
    }

    /// Rebuilds the CA from its certificates and the issuing key.
    pub fn load(root_der: &[u8], issuing_der: &[u8], issuing_key: KeyPair) -> Result<Ca, PkiError> {
        let issuing_kind = key_kind_of(&issuing_key)?;
        let issuing_ski = ski_of(issuing_der)?;
        let issuer = Issuer::from_ca_cert_der(&issuing_der.to_vec().into(), issuing_key)?;
        Ok(Ca {
            root_der: root_der.to_vec(),
            issuing_der: issuing_der.to_vec(),
            issuing_kind,
            issuing_ski,
            issuer,
        })
    }

    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    pub fn issuing_der(&self) -> &[u8] {
        &self.issuing_der
    }

    pub fn issuing_kind(&self) -> KeyKind {
        self.issuing_kind
    }

    pub(crate) fn issuing_key(&self) -> &KeyPair {
        self.issuer.key()
    }

    /// Checks a CSR against `policy` and signs a device certificate for it.
    ///
    /// `expected_id` pins the device id (enrollment token, operator); `validity_days` is the
    /// request's wish, capped by the policy.
    pub fn issue_csr(
        &self,
        csr_bytes: &[u8],
        expected_id: Option<&str>,
        validity_days: Option<u32>,
        policy: &Policy,
        now: i64,
    ) -> Result<Issued, PkiError> {
        let csr = crate::csr::parse(csr_bytes)?;
        self.issue(&csr, expected_id, validity_days, policy, now)
    }

    /// As [`Ca::issue_csr`] for a CSR already parsed and verified.
    pub fn issue(
        &self,
        csr: &CsrInfo,
        expected_id: Option<&str>,
        validity_days: Option<u32>,
        policy: &Policy,
        now: i64,
    ) -> Result<Issued, PkiError> {
        policy.check_key(csr.key)?;
        let device_id = csr.device_id(expected_id)?;
        let days = policy.validity_days(validity_days)?;
        let spki = SubjectPublicKeyInfo::from_der(&csr.spki_der)?;
        let serial = random_serial()?;
        let not_before = now - 300; // tolerate device clock skew
        let not_after = now + i64::from(days) * 86_400;
        let mut p = CertificateParams::default();
        p.distinguished_name = DistinguishedName::new();
        p.distinguished_name
            .push(DnType::CommonName, device_id.as_str());
        p.subject_alt_names = vec![
            SanType::DnsName(device_id.as_str().try_into()?),
            SanType::URI(device_uri(&device_id).try_into()?),
        ];
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        p.serial_number = Some(SerialNumber::from_slice(&serial));
        p.not_before = datetime(not_before);
        p.not_after = datetime(not_after);
        p.use_authority_key_identifier_extension = true;
        let cert = p.signed_by(&spki, &self.issuer)?;
        Ok(Issued {
            der: cert.der().to_vec(),
            serial,
            device_id,
            key: csr.key,
            not_before,
            not_after,
        })
    }

    /// A TLS server certificate (serverAuth) for `names` (DNS names or IP addresses), e.g. for
    /// the MQTT broker or the device gateway.
    pub fn issue_server(
        &self,
        names: &[String],
        key: &KeyPair,
        days: u32,
        now: i64,
    ) -> Result<Issued, PkiError> {
        let first = names
            .first()
            .ok_or_else(|| PkiError::Policy("a server certificate needs a name".into()))?;
        let serial = random_serial()?;
        let not_before = now - 300;
        let not_after = now + i64::from(days) * 86_400;
        let mut p = CertificateParams::new(names.to_vec())?;
        p.distinguished_name = DistinguishedName::new();
        p.distinguished_name
            .push(DnType::CommonName, first.as_str());
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.serial_number = Some(SerialNumber::from_slice(&serial));
        p.not_before = datetime(not_before);
        p.not_after = datetime(not_after);
        p.use_authority_key_identifier_extension = true;
        let cert = p.signed_by(key, &self.issuer)?;
        Ok(Issued {
            der: cert.der().to_vec(),
            serial,
            device_id: first.clone(),
            key: key_kind_of(key)?,
            not_before,
            not_after,
        })
    }

    /// A v2 CRL of the issuing CA listing `entries`, valid for `validity_s` seconds.
    pub fn crl(
        &self,
        entries: &[RevokedEntry],
        number: u64,
        now: i64,
        validity_s: i64,
    ) -> Result<Vec<u8>, PkiError> {
        build_crl(
            &self.issuer,
            &self.issuing_ski,
            entries,
            number,
            now,
            validity_s,
        )
    }

    /// A CRL signed by the root (for the issuing CA certificate), from the root key.
    pub fn root_crl(
        &self,
        root_key: KeyPair,
        entries: &[RevokedEntry],
        number: u64,
        now: i64,
        validity_s: i64,
    ) -> Result<Vec<u8>, PkiError> {
        let ski = ski_of(&self.root_der)?;
        let issuer = Issuer::from_ca_cert_der(&self.root_der.clone().into(), root_key)?;
        build_crl(&issuer, &ski, entries, number, now, validity_s)
    }
}

fn build_crl(
    issuer: &Issuer<'_, KeyPair>,
    ski: &[u8],
    entries: &[RevokedEntry],
    number: u64,
    now: i64,
    validity_s: i64,
) -> Result<Vec<u8>, PkiError> {
    if validity_s <= 0 {
        return Err(PkiError::Crl("CRL validity must be positive".into()));
    }
    let revoked_certs = entries
        .iter()
        .map(|e| RevokedCertParams {
            serial_number: SerialNumber::from_slice(&e.serial),
            revocation_time: datetime(e.time),
            reason_code: e.reason.to_rcgen(),
            invalidity_date: None,
        })
        .collect();
    let params = CertificateRevocationListParams {
        this_update: datetime(now),
        next_update: datetime(now + validity_s),
        crl_number: SerialNumber::from_slice(&number.to_be_bytes()),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: KeyIdMethod::PreSpecified(ski.to_vec()),
    };
    Ok(params.signed_by(issuer)?.der().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn csr(kind: KeyKind, cn: &str) -> Vec<u8> {
        let key = keys::generate(kind).unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name = DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.serialize_request(&key).unwrap().der().to_vec()
    }

    #[test]
    fn issues_device_certificates_that_chain() {
        let now = 1_790_000_000;
        let NewCa { ca, .. } = Ca::generate("Acme", KeyKind::P256, now).unwrap();
        for kind in [KeyKind::P256, KeyKind::Ed25519] {
            let issued = ca
                .issue_csr(&csr(kind, "cam-7"), None, Some(30), &Policy::default(), now)
                .unwrap();
            assert_eq!(issued.device_id, "cam-7");
            assert_eq!(issued.key, kind);
            let (_, cert) =
                x509_parser::certificate::X509Certificate::from_der(&issued.der).unwrap();
            let (_, issuing) =
                x509_parser::certificate::X509Certificate::from_der(ca.issuing_der()).unwrap();
            let (_, root) =
                x509_parser::certificate::X509Certificate::from_der(ca.root_der()).unwrap();
            cert.verify_signature(Some(issuing.public_key())).unwrap();
            issuing.verify_signature(Some(root.public_key())).unwrap();
            assert_eq!(cert.issuer(), issuing.subject());
            assert_eq!(cert.raw_serial(), issued.serial.as_slice());
            let eku = cert.extended_key_usage().unwrap().unwrap();
            assert!(eku.value.client_auth && !eku.value.server_auth);
            let san = cert.subject_alternative_name().unwrap().unwrap();
            let names: Vec<String> = san
                .value
                .general_names
                .iter()
                .map(|g| format!("{g}"))
                .collect();
            assert!(
                names
                    .iter()
                    .any(|n| n.contains("urn:palisade:device:cam-7")),
                "{names:?}"
            );
            assert_eq!(cert.validity().not_after.timestamp() - now, 30 * 86_400);
        }
    }

    #[test]
    fn refuses_policy_violations() {
        let now = 1_790_000_000;
        let NewCa { ca, .. } = Ca::generate("Acme", KeyKind::P256, now).unwrap();
        let strict = Policy {
            allowed_keys: vec![KeyKind::Ed25519],
            ..Policy::default()
        };
        let e = ca
            .issue_csr(&csr(KeyKind::P256, "cam-1"), None, None, &strict, now)
            .unwrap_err();
        assert!(e.to_string().contains("not allowed"), "{e}");
        let e = ca
            .issue_csr(
                &csr(KeyKind::P256, "cam-1"),
                Some("cam-2"),
                None,
                &Policy::default(),
                now,
            )
            .unwrap_err();
        assert!(e.to_string().contains("does not match"), "{e}");
        let e = ca
            .issue_csr(
                &csr(KeyKind::P256, "cam-1"),
                None,
                Some(9999),
                &Policy::default(),
                now,
            )
            .unwrap_err();
        assert!(e.to_string().contains("exceeds"), "{e}");
    }
}
