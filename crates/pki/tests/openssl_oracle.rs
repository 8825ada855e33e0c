//! OpenSSL as the oracle: CSRs made by `openssl req`, certificates checked by `openssl x509` and
//! `openssl verify -crl_check_all`, CRLs read by `openssl crl`, OCSP responses checked by
//! `openssl ocsp -respin`, PKCS#7 read by `openssl pkcs7`.

use std::path::{Path, PathBuf};
use std::process::Command;

use palisade_pki::{CaRepo, Kek, KeyKind, Policy, Reason, pkcs7, to_pem};

fn require_oracles() -> bool {
    std::env::var("PALISADE_REQUIRE_ORACLES").is_ok_and(|v| v == "1")
}

fn have_openssl() -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !require_oracles(),
            "openssl is required (PALISADE_REQUIRE_ORACLES=1) but not installed"
        );
        eprintln!("skipping: openssl not installed");
    }
    ok
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("palisade-pki-oracle-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs openssl; returns (success, stdout + stderr).
fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn must(dir: &Path, args: &[&str]) -> String {
    let (ok, text) = openssl(dir, args);
    assert!(ok, "openssl {args:?} failed:\n{text}");
    text
}

fn device_csr(dir: &Path, kind: KeyKind, id: &str) -> Vec<u8> {
    let key = format!("{id}.key");
    match kind {
        KeyKind::Ed25519 => must(dir, &["genpkey", "-algorithm", "ED25519", "-out", &key]),
        _ => must(
            dir,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                &key,
            ],
        ),
    };
    let csr = format!("{id}.csr");
    must(
        dir,
        &[
            "req",
            "-new",
            "-key",
            &key,
            "-subj",
            &format!("/CN={id}"),
            "-out",
            &csr,
        ],
    );
    std::fs::read(dir.join(csr)).unwrap()
}

#[test]
fn openssl_accepts_chain_crl_ocsp_and_pkcs7() {
    if !have_openssl() {
        return;
    }
    for ca_kind in [KeyKind::P256, KeyKind::Ed25519] {
        let dir = tmpdir(&format!("chain-{}", ca_kind.name()));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let mut repo = CaRepo::init(
            &dir.join("ca"),
            Kek::from_bytes(&[7u8; 32]).unwrap(),
            "Oracle Test",
            ca_kind,
            Policy::default(),
            now,
        )
        .unwrap();
        repo.durable = false;
        std::fs::write(dir.join("chain.pem"), repo.chain_pem()).unwrap();
        std::fs::copy(dir.join("ca/root.pem"), dir.join("root.pem")).unwrap();
        std::fs::copy(dir.join("ca/issuing.pem"), dir.join("issuing.pem")).unwrap();

        let mut serials = Vec::new();
        for (kind, id) in [(KeyKind::P256, "cam-1"), (KeyKind::Ed25519, "plug-2")] {
            let csr = device_csr(&dir, kind, id);
            let issued = repo.issue(&csr, None, Some(90), "test", now).unwrap();
            std::fs::write(
                dir.join(format!("{id}.pem")),
                to_pem("CERTIFICATE", &issued.der),
            )
            .unwrap();
            let text = must(
                &dir,
                &["x509", "-in", &format!("{id}.pem"), "-noout", "-text"],
            );
            for want in [
                "TLS Web Client Authentication",
                &format!("URI:urn:palisade:device:{id}"),
                &format!("DNS:{id}"),
                "CA:FALSE",
                "Digital Signature",
                &format!("Subject: CN = {id}"),
            ] {
                assert!(text.contains(want), "{want:?} missing in:\n{text}");
            }
            serials.push(issued.serial);
        }

        let write_crls = |repo: &mut CaRepo| {
            let (crl, root_crl) = repo.crl(now, 7 * 86_400).unwrap();
            std::fs::write(
                dir.join("crls.pem"),
                format!(
                    "{}{}",
                    to_pem("X509 CRL", &crl),
                    to_pem("X509 CRL", &root_crl)
                ),
            )
            .unwrap();
            std::fs::write(dir.join("crl.pem"), to_pem("X509 CRL", &crl)).unwrap();
        };
        write_crls(&mut repo);
        let verify = |id: &str| {
            openssl(
                &dir,
                &[
                    "verify",
                    "-crl_check_all",
                    "-purpose",
                    "sslclient",
                    "-CAfile",
                    "root.pem",
                    "-untrusted",
                    "issuing.pem",
                    "-CRLfile",
                    "crls.pem",
                    &format!("{id}.pem"),
                ],
            )
        };
        for id in ["cam-1", "plug-2"] {
            let (ok, text) = verify(id);
            assert!(ok && text.contains(": OK"), "{id}: {text}");
        }

        // OCSP before revocation: good.
        must(
            &dir,
            &[
                "ocsp",
                "-issuer",
                "issuing.pem",
                "-cert",
                "cam-1.pem",
                "-reqout",
                "req.der",
            ],
        );
        let resp = repo
            .ocsp(&std::fs::read(dir.join("req.der")).unwrap(), now)
            .unwrap();
        std::fs::write(dir.join("resp.der"), resp).unwrap();
        // -reqin makes openssl check that the response echoes the request's nonce.
        let ocsp_check = |resp: &str, req: &str| {
            openssl(
                &dir,
                &[
                    "ocsp",
                    "-respin",
                    resp,
                    "-reqin",
                    req,
                    "-CAfile",
                    "chain.pem",
                    "-resp_text",
                ],
            )
        };
        let (ok, text) = ocsp_check("resp.der", "req.der");
        assert!(ok && text.contains("Response verify OK"), "{text}");
        assert!(text.contains("Cert Status: good"), "{text}");
        let cam_serial = palisade_pki::hex(&serials[0]).to_uppercase();
        assert!(
            text.contains(&format!("Serial Number: {cam_serial}")),
            "{text}"
        );
        // A response to another request (other nonce) is refused by openssl.
        must(
            &dir,
            &[
                "ocsp",
                "-issuer",
                "issuing.pem",
                "-cert",
                "cam-1.pem",
                "-reqout",
                "req2.der",
            ],
        );
        let (ok, text) = ocsp_check("resp.der", "req2.der");
        assert!(!ok && text.contains("Nonce Verify error"), "{text}");

        // Revoke cam-1: openssl's CRL check and OCSP both see it; plug-2 stays valid.
        let revoked = repo.revoke("cam-1", Reason::KeyCompromise, now).unwrap();
        assert_eq!(revoked.len(), 1);
        write_crls(&mut repo);
        let (ok, text) = verify("cam-1");
        assert!(!ok && text.contains("certificate revoked"), "{text}");
        let (ok, text) = verify("plug-2");
        assert!(ok, "{text}");
        let text = must(&dir, &["crl", "-in", "crl.pem", "-noout", "-text"]);
        let serial_hex = palisade_pki::hex(&serials[0]).to_uppercase();
        assert!(
            text.contains(&format!("Serial Number: {serial_hex}")),
            "{text}"
        );
        assert!(text.contains("Key Compromise"), "{text}");
        assert!(text.contains("Version 2"), "{text}");
        assert!(text.contains("X509v3 CRL Number"), "{text}");
        let text = must(
            &dir,
            &["crl", "-in", "crl.pem", "-noout", "-CAfile", "chain.pem"],
        );
        assert!(text.contains("verify OK"), "{text}");

        let resp = repo
            .ocsp(&std::fs::read(dir.join("req.der")).unwrap(), now)
            .unwrap();
        std::fs::write(dir.join("resp.der"), resp).unwrap();
        let (ok, text) = ocsp_check("resp.der", "req.der");
        assert!(ok && text.contains("Response verify OK"), "{text}");
        assert!(text.contains("Cert Status: revoked"), "{text}");
        assert!(text.contains("Revocation Reason: keyCompromise"), "{text}");

        // A tampered response must fail openssl's verification.
        let mut bad = std::fs::read(dir.join("resp.der")).unwrap();
        let n = bad.len();
        bad[n / 2] ^= 0x01;
        std::fs::write(dir.join("bad.der"), bad).unwrap();
        let (ok, text) = ocsp_check("bad.der", "req.der");
        assert!(!ok || !text.contains("Response verify OK"), "{text}");

        // PKCS#7 certs-only as EST sends it.
        let issuing = repo.ca().issuing_der().to_vec();
        let root = repo.ca().root_der().to_vec();
        std::fs::write(dir.join("p7.der"), pkcs7::certs_only(&[&issuing, &root])).unwrap();
        let text = must(
            &dir,
            &["pkcs7", "-inform", "DER", "-in", "p7.der", "-print_certs"],
        );
        assert!(text.contains("Oracle Test Issuing CA"), "{text}");
        assert!(text.contains("Oracle Test Root CA"), "{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn openssl_made_bad_csrs_get_clear_errors() {
    if !have_openssl() {
        return;
    }
    let dir = tmpdir("badcsr");
    let now = 1_790_000_000;
    let mut repo = CaRepo::init(
        &dir.join("ca"),
        Kek::from_bytes(&[7u8; 32]).unwrap(),
        "Oracle Test",
        KeyKind::P256,
        Policy::default(),
        now,
    )
    .unwrap();
    repo.durable = false;
    // RSA-1024 is refused by the key policy.
    must(
        &dir,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:1024",
            "-out",
            "rsa.key",
        ],
    );
    must(
        &dir,
        &[
            "req",
            "-new",
            "-key",
            "rsa.key",
            "-subj",
            "/CN=old-1",
            "-out",
            "rsa.csr",
        ],
    );
    let err = repo
        .issue(
            &std::fs::read(dir.join("rsa.csr")).unwrap(),
            None,
            None,
            "test",
            now,
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("RSA-1024"), "{err}");
    // A name outside the device's own is refused.
    must(
        &dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "ec.key",
        ],
    );
    must(
        &dir,
        &[
            "req",
            "-new",
            "-key",
            "ec.key",
            "-subj",
            "/CN=cam-9",
            "-addext",
            "subjectAltName=DNS:bank.example.com",
            "-out",
            "san.csr",
        ],
    );
    let err = repo
        .issue(
            &std::fs::read(dir.join("san.csr")).unwrap(),
            None,
            None,
            "test",
            now,
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("bank.example.com"), "{err}");
    // secp384r1 is allowed by default; secp256k1 is not a supported curve.
    must(
        &dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:secp256k1",
            "-out",
            "k1.key",
        ],
    );
    must(
        &dir,
        &[
            "req",
            "-new",
            "-key",
            "k1.key",
            "-subj",
            "/CN=cam-8",
            "-out",
            "k1.csr",
        ],
    );
    let err = repo
        .issue(
            &std::fs::read(dir.join("k1.csr")).unwrap(),
            None,
            None,
            "test",
            now,
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("curve"), "{err}");
    assert!(repo.list().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
