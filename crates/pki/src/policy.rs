//! Issuance policy: which device keys are accepted, how long certificates live, and how devices
//! are named.

use crate::{KeyKind, PkiError};

/// The URI form of a device identity placed in the certificate's subjectAltName.
pub fn device_uri(device_id: &str) -> String {
    format!("urn:palisade:device:{device_id}")
}

/// Naming policy: a device id is 1–63 characters of `[a-z0-9-.]`, starts and ends with a letter
/// or digit and has no empty labels, so it is also a valid DNS name for the SAN.
pub fn validate_device_id(id: &str) -> Result<(), PkiError> {
    let bad = |why: &str| Err(PkiError::Policy(format!("device id {id:?}: {why}")));
    if id.is_empty() || id.len() > 63 {
        return bad("must be 1 to 63 characters");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        return bad("only lower-case letters, digits, '-' and '.' are allowed");
    }
    for label in id.split('.') {
        let (Some(f), Some(l)) = (label.bytes().next(), label.bytes().last()) else {
            return bad("empty label");
        };
        if f == b'-' || l == b'-' {
            return bad("a label must start and end with a letter or digit");
        }
    }
    Ok(())
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Device key algorithms accepted.
    pub allowed_keys: Vec<KeyKind>,
    /// RSA device keys are refused unless this is set; then their modulus must be at least this.
    pub min_rsa_bits: Option<u32>,
    /// Validity given when the request names none.
    pub default_validity_days: u32,
    /// Longest validity the CA will sign.
    pub max_validity_days: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allowed_keys: vec![KeyKind::P256, KeyKind::P384, KeyKind::Ed25519],
            min_rsa_bits: None,
            default_validity_days: 365,
            max_validity_days: 825,
        }
    }
}

impl Policy {
    /// Checks a device key against the key policy.
    pub fn check_key(&self, kind: KeyKind) -> Result<(), PkiError> {
        match kind {
            KeyKind::Rsa(bits) => match self.min_rsa_bits {
                Some(min) if bits >= min => Ok(()),
                Some(min) => Err(PkiError::Policy(format!(
                    "RSA key of {bits} bits is below the minimum of {min}"
                ))),
                None => Err(PkiError::Policy(format!(
                    "RSA-{bits} device keys are not accepted (use P-256 or Ed25519)"
                ))),
            },
            k if self.allowed_keys.contains(&k) => Ok(()),
            k => Err(PkiError::Policy(format!(
                "device key type {} is not allowed (allowed: {})",
                k.name(),
                self.allowed_keys
                    .iter()
                    .map(|k| k.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// The validity to sign: the request's (capped) or the default.
    pub fn validity_days(&self, requested: Option<u32>) -> Result<u32, PkiError> {
        match requested {
            None => Ok(self.default_validity_days.min(self.max_validity_days)),
            Some(0) => Err(PkiError::Policy("validity must be at least one day".into())),
            Some(d) if d > self.max_validity_days => Err(PkiError::Policy(format!(
                "validity of {d} days exceeds the maximum of {}",
                self.max_validity_days
            ))),
            Some(d) => Ok(d),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_ids() {
        for ok in ["cam-01", "a", "dev.site-3", "0123456789"] {
            validate_device_id(ok).unwrap();
        }
        for bad in [
            "",
            "Cam",
            "-a",
            "a-",
            "a..b",
            "a b",
            "a/b",
            &"x".repeat(64),
            "é",
        ] {
            assert!(validate_device_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn key_policy() {
        let p = Policy::default();
        p.check_key(KeyKind::P256).unwrap();
        p.check_key(KeyKind::Ed25519).unwrap();
        assert!(p.check_key(KeyKind::Rsa(4096)).is_err());
        let rsa = Policy {
            min_rsa_bits: Some(2048),
            ..Policy::default()
        };
        rsa.check_key(KeyKind::Rsa(2048)).unwrap();
        assert!(rsa.check_key(KeyKind::Rsa(1024)).is_err());
        let only_ed = Policy {
            allowed_keys: vec![KeyKind::Ed25519],
            ..Policy::default()
        };
        assert!(only_ed.check_key(KeyKind::P256).is_err());
    }

    #[test]
    fn validity_policy() {
        let p = Policy::default();
        assert_eq!(p.validity_days(None).unwrap(), 365);
        assert_eq!(p.validity_days(Some(30)).unwrap(), 30);
        assert!(p.validity_days(Some(0)).is_err());
        assert!(p.validity_days(Some(5000)).is_err());
    }
}
