//! Interop with MCUboot's imgtool 2.5 (the acceptance oracle), both directions.

use palisade_firmware::enc::decrypt_image;
use palisade_firmware::image::{Image, tlv};
use palisade_firmware::{Key, PrivateKey, PublicKey, VerifyError, VerifyPolicy, verify};

use crate::common::{TempDir, imgtool, payload, run_imgtool, s};

const OPTION_SETS: &[&str] = &[
    "-v 1.2.3+4 -H 0x200 -S 0x20000 --pad-header -s 5",
    "-v 1.0.1 -H 0x200 --pad-header -S 0x20000 --align 4 --pad --confirm -d (1,2.0.0) --public-key-format full",
    "-v 2.0.0 -H 0x200 --pad-header -S 0x20000 -s auto --test",
    "-v 3.0.0 -H 0x400 --pad-header -S 0x20000 --max-align 16 --align 16 --confirm -d (1,2.0.0),(2,1.2.3+4)",
    "-v 1.0.0 -H 0x20 --pad-header -S 0x20000 --overwrite-only --pad -L 0x20000000",
    "-v 0.0.1 -H 0x100 --pad-header -S 0x40000 -s 0x7fffffff -R 0 --pad --sha 512",
];

fn load(path: &std::path::Path) -> Key {
    Key::from_pem(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn trusted_of(path: &std::path::Path) -> PublicKey {
    load(path).public_key().unwrap()
}

fn our_sign(key: &std::path::Path, opts: &str, input: &[u8]) -> Vec<u8> {
    use palisade_firmware::{Dependency, HashAlg, ImageVersion, PublicKeyFormat, SignOptions};
    let a: Vec<&str> = opts.split_whitespace().collect();
    let mut o = SignOptions::default();
    let int = |s: &str| {
        s.strip_prefix("0x")
            .map(|h| u32::from_str_radix(h, 16).unwrap())
            .unwrap_or_else(|| s.parse().unwrap())
    };
    let mut i = 0;
    while i < a.len() {
        let val = a.get(i + 1).copied().unwrap_or("");
        let mut took = true;
        match a[i] {
            "-v" => o.version = ImageVersion::parse(val).unwrap(),
            "-H" => o.header_size = int(val) as u16,
            "-S" => o.slot_size = int(val),
            "-s" => {
                o.security_counter = Some(if val == "auto" {
                    o.version.auto_security_counter()
                } else {
                    int(val)
                })
            }
            "--align" => o.align = int(val),
            "--max-align" => o.max_align = Some(int(val)),
            "-d" => {
                o.dependencies = val
                    .split(')')
                    .filter(|p| !p.trim_matches(',').is_empty())
                    .map(|p| Dependency::parse(&format!("{})", p.trim_start_matches(','))).unwrap())
                    .collect()
            }
            "--public-key-format" => o.public_key_format = PublicKeyFormat::Full,
            "-L" => o.load_addr = Some(int(val)),
            "-R" => o.erased_val = int(val) as u8,
            "--sha" => o.sha = Some(HashAlg::Sha512),
            _ => took = false,
        }
        if !took {
            match a[i] {
                "--pad-header" => o.pad_header = true,
                "--pad" => o.pad = true,
                "--confirm" => o.confirm = true,
                "--test" => o.test = true,
                "--overwrite-only" => o.overwrite_only = true,
                f => panic!("unhandled {f}"),
            }
            i += 1;
        } else {
            i += 2;
        }
    }
    let Key::Private(k) = load(key) else { panic!() };
    palisade_firmware::sign(input, Some(&k), &o).unwrap()
}

fn pol() -> VerifyPolicy {
    VerifyPolicy::default()
}

#[test]
fn ed25519_images_are_byte_identical_to_imgtool() {
    let Some(_) = imgtool() else { return };
    let d = TempDir::new("bytes");
    let key = d.path("k.pem");
    assert!(run_imgtool(&["keygen", "-k", s(&key), "-t", "ed25519"]).0);
    let app = d.path("app.bin");
    std::fs::write(&app, payload(70_001, 9)).unwrap();
    for opts in OPTION_SETS {
        let out = d.path("theirs.bin");
        let mut args = vec!["sign", "-k", s(&key)];
        args.extend(opts.split_whitespace());
        args.extend([s(&app), s(&out)]);
        let (ok, msg) = run_imgtool(&args);
        assert!(ok, "imgtool sign {opts}: {msg}");
        let theirs = std::fs::read(&out).unwrap();
        let ours = our_sign(&key, opts, &std::fs::read(&app).unwrap());
        assert!(ours == theirs, "bytes differ for `{opts}`");
    }
}

#[test]
fn matrix_all_key_types_both_directions_and_attacks() {
    let Some(_) = imgtool() else { return };
    let d = TempDir::new("matrix");
    let app = d.path("app.bin");
    let data = payload(70_000, 11);
    std::fs::write(&app, &data).unwrap();
    let opts = "-v 1.2.3 -H 0x200 -S 0x20000 --pad-header -s 5";
    for t in [
        "ed25519",
        "ecdsa-p256",
        "ecdsa-p384",
        "rsa-2048",
        "rsa-3072",
    ] {
        let key = d.path(&format!("{t}.pem"));
        let other = d.path(&format!("{t}.other.pem"));
        let pubk = d.path(&format!("{t}.pub.pem"));
        assert!(run_imgtool(&["keygen", "-k", s(&key), "-t", t]).0);
        assert!(run_imgtool(&["keygen", "-k", s(&other), "-t", t]).0);
        let (ok, pem) = run_imgtool(&["getpub", "-k", s(&key), "-e", "pem"]);
        assert!(ok);
        std::fs::write(&pubk, pem).unwrap();
        let pk = trusted_of(&key);
        assert_eq!(
            trusted_of(&pubk),
            pk,
            "{t}: public key from private and from getpub"
        );
        let trusted = [pk.as_trusted()];

        // imgtool signs -> we verify.
        let theirs = d.path(&format!("{t}.theirs.bin"));
        let mut args = vec!["sign", "-k", s(&key)];
        args.extend(opts.split_whitespace());
        args.extend([s(&app), s(&theirs)]);
        assert!(run_imgtool(&args).0, "imgtool sign {t}");
        let img = std::fs::read(&theirs).unwrap();
        let v = verify(&img, &trusted, &pol()).unwrap_or_else(|e| panic!("{t}: {e}"));
        assert_eq!(v.security_counter, Some(5));

        // We sign -> imgtool verifies (with the private and the public key file).
        let ours = our_sign(&key, opts, &data);
        let ours_p = d.path(&format!("{t}.ours.bin"));
        std::fs::write(&ours_p, &ours).unwrap();
        for k in [&key, &pubk] {
            let (ok, msg) = run_imgtool(&["verify", "-k", s(k), s(&ours_p)]);
            assert!(ok, "imgtool verify {t}: {msg}");
        }

        // Attacks, rejected by both.
        let parsed = Image::parse(&ours).unwrap();
        let sec = parsed
            .protected
            .unwrap()
            .iter()
            .find(|t| t.kind == tlv::SEC_CNT)
            .unwrap()
            .offset;
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("payload", {
                let mut x = ours.clone();
                x[4000] ^= 0x55;
                x
            }),
            ("protected-tlv", {
                let mut x = ours.clone();
                x[sec + 4] ^= 0x01;
                x
            }),
            ("truncated", ours[..ours.len() - 40].to_vec()),
        ];
        for (what, bad) in &cases {
            let p = d.path("bad.bin");
            std::fs::write(&p, bad).unwrap();
            let (ok, _) = run_imgtool(&["verify", "-k", s(&key), s(&p)]);
            assert!(!ok, "imgtool accepted {t} {what}");
            let e = verify(bad, &trusted, &pol()).unwrap_err();
            match *what {
                "truncated" => assert!(matches!(e, VerifyError::Parse(_)), "{t} {what}: {e}"),
                _ => assert!(
                    matches!(e, VerifyError::HashMismatch { .. }),
                    "{t} {what}: {e}"
                ),
            }
        }
        let (ok, _) = run_imgtool(&["verify", "-k", s(&other), s(&ours_p)]);
        assert!(!ok, "imgtool accepted the wrong {t} key");
        let opk = trusted_of(&other);
        assert!(matches!(
            verify(&ours, &[opk.as_trusted()], &pol()),
            Err(VerifyError::UnknownKey { .. })
        ));
        // Downgraded security counter: our anti-rollback policy (imgtool verify has none).
        let e = verify(
            &img,
            &trusted,
            &VerifyPolicy {
                min_security_counter: Some(6),
                payload_is_plaintext: false,
            },
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                VerifyError::Rollback {
                    image: 5,
                    minimum: 6,
                    ..
                }
            ),
            "{e}"
        );
    }
}

#[test]
fn our_keys_work_in_imgtool() {
    let Some(_) = imgtool() else { return };
    let d = TempDir::new("ourkeys");
    let app = d.path("app.bin");
    std::fs::write(&app, payload(3000, 5)).unwrap();
    for kind in [
        palisade_firmware::KeyType::Ed25519,
        palisade_firmware::KeyType::EcdsaP256,
        palisade_firmware::KeyType::EcdsaP384,
    ] {
        let (k, pem) = PrivateKey::generate(kind).unwrap();
        let key = d.path("k.pem");
        std::fs::write(&key, pem).unwrap();
        let out = d.path("i.bin");
        let (ok, msg) = run_imgtool(&[
            "sign",
            "-k",
            s(&key),
            "-v",
            "1.0.0",
            "-H",
            "0x200",
            "--pad-header",
            "-S",
            "0x20000",
            s(&app),
            s(&out),
        ]);
        assert!(ok, "imgtool sign with our {kind:?} key: {msg}");
        let pk = k.public_key().unwrap();
        verify(&std::fs::read(&out).unwrap(), &[pk.as_trusted()], &pol()).unwrap();
        let pubp = d.path("k.pub.pem");
        std::fs::write(&pubp, pk.to_pem()).unwrap();
        let (ok, msg) = run_imgtool(&["verify", "-k", s(&pubp), s(&out)]);
        assert!(ok, "imgtool verify with our {kind:?} public PEM: {msg}");
    }
}

#[test]
fn imgtool_encrypted_x25519_images_decrypt_and_verify() {
    let Some(_) = imgtool() else { return };
    let d = TempDir::new("enc");
    let app = d.path("app.bin");
    let data = payload(10_000, 6);
    std::fs::write(&app, &data).unwrap();
    let sk = d.path("sign.pem");
    let xk = d.path("x25519.pem");
    let xpub = d.path("x25519.pub.pem");
    assert!(run_imgtool(&["keygen", "-k", s(&sk), "-t", "ed25519"]).0);
    assert!(run_imgtool(&["keygen", "-k", s(&xk), "-t", "x25519"]).0);
    let (ok, pem) = run_imgtool(&["getpub", "-k", s(&xk), "-e", "pem"]);
    assert!(ok);
    std::fs::write(&xpub, &pem).unwrap();
    let Key::Private(PrivateKey::X25519(xs)) = load(&xk) else {
        panic!("x25519 key")
    };
    // Our derivation of the public key matches imgtool's.
    assert_eq!(
        palisade_firmware::enc::x25519_public(&xs),
        load(&xpub).public_key().unwrap()
    );
    let pk = trusted_of(&sk);
    for keylen in ["128", "256"] {
        let out = d.path("enc.bin");
        let (ok, msg) = run_imgtool(&[
            "sign",
            "-k",
            s(&sk),
            "-E",
            s(&xpub),
            "--encrypt-keylen",
            keylen,
            "-v",
            "2.0.0",
            "-H",
            "0x200",
            "--pad-header",
            "-S",
            "0x20000",
            "-s",
            "9",
            s(&app),
            s(&out),
        ]);
        assert!(ok, "{msg}");
        let img = std::fs::read(&out).unwrap();
        assert!(matches!(
            verify(&img, &[pk.as_trusted()], &pol()),
            Err(VerifyError::Encrypted { .. })
        ));
        let plain = decrypt_image(&img, &xs).unwrap();
        assert_eq!(&plain[0x200..0x200 + data.len()], &data[..]);
        let v = verify(
            &plain,
            &[pk.as_trusted()],
            &VerifyPolicy {
                min_security_counter: Some(9),
                payload_is_plaintext: true,
            },
        )
        .unwrap();
        assert_eq!(v.security_counter, Some(9));
    }
}

/// Runs imgtool with `stdin` piped in (its password prompt falls back to stdin without a tty).
fn imgtool_stdin(args: &[&str], stdin: &str) -> (bool, String) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut c = Command::new("imgtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let o = c.wait_with_output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

/// Password-protected keys (`keygen --password`): imgtool's open with ours, ours with imgtool's;
/// a wrong password is refused by both; an image signed with the decrypted key verifies.
#[test]
fn encrypted_private_keys_interoperate() {
    use palisade_firmware::key::KeyError;
    use palisade_firmware::{pem_decode, pem_encode, pkcs8enc};
    let Some(_) = imgtool() else { return };
    let t = TempDir::new("pwkeys");
    for kind in ["ed25519", "ecdsa-p256", "rsa-2048"] {
        // imgtool → ours.
        let theirs = t.path(&format!("{kind}.pem"));
        let (ok, _) = imgtool_stdin(
            &["keygen", "-k", s(&theirs), "-t", kind, "--password"],
            "s3cret-pw\ns3cret-pw\n",
        );
        assert!(ok, "imgtool keygen --password {kind}");
        let text = std::fs::read_to_string(&theirs).unwrap();
        assert!(text.contains("ENCRYPTED PRIVATE KEY"));
        assert_eq!(Key::from_pem(&text).unwrap_err(), KeyError::Encrypted);
        assert_eq!(
            Key::from_pem_with_password(&text, Some(b"nope")).unwrap_err(),
            KeyError::BadPassword
        );
        let k = Key::from_pem_with_password(&text, Some(b"s3cret-pw")).unwrap();
        let (ok, their_pub) =
            imgtool_stdin(&["getpub", "-k", s(&theirs), "-e", "pem"], "s3cret-pw\n");
        assert!(ok);
        let their_pub = their_pub[their_pub.find("-----BEGIN").unwrap()..].to_owned();
        assert_eq!(
            Key::from_pem(&their_pub).unwrap().public_key(),
            k.public_key(),
            "{kind}: same public key"
        );
        // A signature made with the decrypted key passes imgtool verify.
        let Key::Private(pk) = &k else { panic!() };
        let img = palisade_firmware::sign(
            &payload(3000, 7),
            Some(pk),
            &crate::common::opts("1.0.0", Some(1)),
        )
        .unwrap();
        let imgf = t.path(&format!("{kind}.img"));
        std::fs::write(&imgf, &img).unwrap();
        let pubf = t.path(&format!("{kind}.pub.pem"));
        std::fs::write(&pubf, &their_pub).unwrap();
        let (ok, out) = run_imgtool(&["verify", "-k", s(&pubf), s(&imgf)]);
        assert!(ok, "{kind}: {out}");
    }
    // Ours → imgtool.
    let (k, pem) = PrivateKey::generate(palisade_firmware::KeyType::EcdsaP256).unwrap();
    let (_, p8) = pem_decode(&pem).unwrap();
    let enc = pkcs8enc::encrypt(&p8, b"our-pw", 4096).unwrap();
    let ours = t.path("ours.pem");
    std::fs::write(&ours, pem_encode("ENCRYPTED PRIVATE KEY", &enc)).unwrap();
    let (ok, out) = imgtool_stdin(&["getpub", "-k", s(&ours), "-e", "pem"], "our-pw\n");
    assert!(ok, "imgtool opens our encrypted key: {out}");
    let got = &out[out.find("-----BEGIN").unwrap()..];
    assert_eq!(Key::from_pem(got).unwrap().public_key(), k.public_key());
    let (ok, _) = imgtool_stdin(&["getpub", "-k", s(&ours), "-e", "pem"], "wrong\n");
    assert!(!ok, "imgtool refuses the wrong password");
}

/// Encrypted images both ways for one key-wrapping scheme: images imgtool encrypts (to
/// `enc_type`, signing with `sign_type`; imgtool wants both of the same family) decrypt with ours
/// to the original payload; images we encrypt decrypt with ours and, once decrypted, pass
/// `imgtool verify` (the hash and signature cover the plaintext, as MCUboot checks them after
/// decrypting), while the still-encrypted image fails it.
fn encrypted_images_interoperate(
    sign_type: &str,
    enc_type: &str,
    tlv_kind: u16,
    tlv_lens: [usize; 2],
) {
    use palisade_firmware::enc::{DecryptionKey, decrypt_image_with};
    use palisade_firmware::sign::{EncryptTo, sign_encrypted};
    let Some(_) = imgtool() else { return };
    let d = TempDir::new(&format!("enc-{enc_type}"));
    let app = d.path("app.bin");
    let data = payload(12_345, 21);
    std::fs::write(&app, &data).unwrap();
    let sk = d.path("sign.pem");
    let ek = d.path("enc.pem");
    let epub = d.path("enc.pub.pem");
    assert!(run_imgtool(&["keygen", "-k", s(&sk), "-t", sign_type]).0);
    assert!(run_imgtool(&["keygen", "-k", s(&ek), "-t", enc_type]).0);
    let (ok, pem) = run_imgtool(&["getpub", "-k", s(&ek), "-e", "pem"]);
    assert!(ok, "{pem}");
    std::fs::write(&epub, &pem).unwrap();
    let dk = DecryptionKey::from_pem(&std::fs::read_to_string(&ek).unwrap()).unwrap();
    assert_eq!(dk.public_key().unwrap(), trusted_of(&epub));
    let (_, other_pem) = palisade_firmware::PrivateKey::generate(trusted_of(&epub).kind).unwrap();
    let other = DecryptionKey::from_pem(&other_pem).unwrap();
    let pk = trusted_of(&sk);
    let Key::Private(signer) = load(&sk) else {
        panic!("signing key")
    };
    for (keylen, tlv_len) in ["128", "256"].into_iter().zip(tlv_lens) {
        // imgtool encrypts, we decrypt.
        let out = d.path("theirs.bin");
        let (ok, msg) = run_imgtool(&[
            "sign",
            "-k",
            s(&sk),
            "-E",
            s(&epub),
            "--encrypt-keylen",
            keylen,
            "-v",
            "3.1.0",
            "-H",
            "0x200",
            "--pad-header",
            "-S",
            "0x20000",
            "-s",
            "4",
            s(&app),
            s(&out),
        ]);
        assert!(ok, "{msg}");
        let img = std::fs::read(&out).unwrap();
        let parsed = Image::parse(&img).unwrap();
        let t = parsed
            .unprotected
            .iter()
            .find(|t| t.kind == tlv_kind)
            .unwrap_or_else(|| panic!("imgtool wrote TLV {tlv_kind:#x}"));
        assert_eq!(t.value.len(), tlv_len);
        let plain = decrypt_image_with(&img, &dk).unwrap();
        assert_eq!(&plain[0x200..0x200 + data.len()], &data[..], "{keylen}");
        let v = verify(
            &plain,
            &[pk.as_trusted()],
            &VerifyPolicy {
                min_security_counter: Some(4),
                payload_is_plaintext: true,
            },
        )
        .unwrap();
        assert_eq!(v.security_counter, Some(4));
        assert!(
            decrypt_image_with(&img, &other).is_err(),
            "another device's key does not unwrap it"
        );

        // We encrypt, imgtool checks the decrypted image.
        let o = palisade_firmware::SignOptions {
            version: palisade_firmware::ImageVersion::parse("3.2.0").unwrap(),
            header_size: 0x200,
            pad_header: true,
            slot_size: 0x20000,
            security_counter: Some(5),
            ..Default::default()
        };
        let ours = sign_encrypted(
            &data,
            Some(&signer),
            &o,
            &EncryptTo {
                recipient: &trusted_of(&epub),
                aes_key_len: if keylen == "256" { 32 } else { 16 },
            },
        )
        .unwrap();
        let ours_path = d.path("ours.bin");
        std::fs::write(&ours_path, &ours).unwrap();
        let (ok, info) = run_imgtool(&["dumpinfo", s(&ours_path)]);
        assert!(ok, "imgtool dumpinfo reads our encrypted image: {info}");
        let (ok, msg) = run_imgtool(&["verify", "-k", s(&sk), s(&ours_path)]);
        assert!(!ok, "an encrypted image cannot pass imgtool verify: {msg}");
        let ours_t = Image::parse(&ours).unwrap();
        let ours_t = ours_t
            .unprotected
            .iter()
            .find(|t| t.kind == tlv_kind)
            .expect("our key TLV");
        assert_eq!(ours_t.value.len(), tlv_len);
        let plain = decrypt_image_with(&ours, &dk).unwrap();
        assert_eq!(&plain[0x200..0x200 + data.len()], &data[..]);
        let plain_path = d.path("ours.plain.bin");
        std::fs::write(&plain_path, &plain).unwrap();
        let (ok, msg) = run_imgtool(&["verify", "-k", s(&sk), s(&plain_path)]);
        assert!(ok, "imgtool verifies our decrypted image: {msg}");
    }
}

/// ECIES-P256 (ENC_EC256, TLV 0x32): 65-byte point, 32-byte tag, 16/32-byte wrapped key.
#[test]
fn ecies_p256_images_interoperate_with_imgtool() {
    encrypted_images_interoperate("ecdsa-p256", "ecdsa-p256", tlv::ENC_EC256, [113, 129]);
}

/// RSA-OAEP (ENC_RSA2048, TLV 0x30): one 256-byte OAEP ciphertext of the image key.
#[test]
fn rsa_oaep_images_interoperate_with_imgtool() {
    encrypted_images_interoperate("rsa-2048", "rsa-2048", tlv::ENC_RSA2048, [256, 256]);
}

/// RSA keys we generate (`firmware keygen -t rsa-2048|rsa-3072`) sign images imgtool verifies,
/// and imgtool signs with them images we verify.
#[test]
fn generated_rsa_keys_work_in_imgtool() {
    let Some(_) = imgtool() else { return };
    let d = TempDir::new("rsa-keygen");
    let app = d.path("app.bin");
    std::fs::write(&app, payload(3000, 2)).unwrap();
    for kind in [
        palisade_firmware::KeyType::Rsa2048,
        palisade_firmware::KeyType::Rsa3072,
    ] {
        let (k, pem) = palisade_firmware::PrivateKey::generate(kind).unwrap();
        let key = d.path("rsa.pem");
        std::fs::write(&key, &pem).unwrap();
        let ours = d.path("ours.bin");
        std::fs::write(
            &ours,
            our_sign(
                &key,
                "-v 1.0.0 -H 0x200 -S 0x20000 --pad-header",
                &payload(3000, 2),
            ),
        )
        .unwrap();
        let (ok, msg) = run_imgtool(&["verify", "-k", s(&key), s(&ours)]);
        assert!(
            ok,
            "{kind:?}: imgtool verifies our signature with our key: {msg}"
        );
        let theirs = d.path("theirs.bin");
        let (ok, msg) = run_imgtool(&[
            "sign",
            "-k",
            s(&key),
            "-v",
            "1.0.1",
            "-H",
            "0x200",
            "--pad-header",
            "-S",
            "0x20000",
            s(&app),
            s(&theirs),
        ]);
        assert!(ok, "{kind:?}: imgtool signs with our key: {msg}");
        let pk = k.public_key().unwrap();
        verify(&std::fs::read(&theirs).unwrap(), &[pk.as_trusted()], &pol()).unwrap();
    }
}
