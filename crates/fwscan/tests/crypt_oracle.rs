//! crypt(3) schemes against `openssl passwd` (MD5, SHA-256, SHA-512) and Python's `crypt`
//! module (glibc crypt: DES and SHA with rounds=).

use std::process::Command;

use palisade_fwscan::crypt::{PasswordField, parse_password_field};

use crate::common::{have, run};

const PASSWORDS: &[&str] = &[
    "",
    "xc3511",
    "vizxv",
    "admin",
    "a",
    "password with spaces",
    "0123456789abcdefghijklmnopqrstuvwxyz-long-password-over-64-bytes-0123456789abcdefghij",
];
const SALTS: &[&str] = &["ab", "saltsalt", "0123456789abcdef", "x./Y"];

fn check(hash: &str, pw: &str) {
    let PasswordField::Hash(h) = parse_password_field(hash) else {
        panic!("{hash:?} did not parse as a hash");
    };
    assert_eq!(h.compute(pw.as_bytes()), hash, "password {pw:?}");
    assert!(h.verify(pw.as_bytes()));
    // DES uses only the first 8 bytes, so a longer variant only differs below that.
    if h.scheme != palisade_fwscan::crypt::Scheme::Des || pw.len() < 8 {
        assert!(!h.verify(format!("{pw}x").as_bytes()));
    }
}

#[test]
fn md5_sha256_sha512_match_openssl_passwd() {
    if !have("openssl", &["version"]) {
        return;
    }
    let mut n = 0;
    for pw in PASSWORDS {
        for salt in SALTS {
            for flag in ["-1", "-5", "-6"] {
                // openssl 3.0 prints "<NULL>" for an empty SHA-crypt password; the glibc
                // test below covers that case.
                if pw.is_empty() && flag != "-1" {
                    continue;
                }
                let out = run(Command::new("openssl").args(["passwd", flag, "-salt", salt, pw]));
                let hash = String::from_utf8(out).unwrap().trim().to_owned();
                check(&hash, pw);
                n += 1;
            }
        }
    }
    assert_eq!(n, PASSWORDS.len() * SALTS.len() * 3 - 2 * SALTS.len());
}

#[test]
fn des_and_rounds_match_glibc_crypt() {
    if !have("python3", &["-W", "ignore", "-c", "import crypt"]) {
        return;
    }
    let script = r#"
import crypt, sys, json
pws = json.loads(sys.argv[1])
for pw in pws:
    for s in ["ab", "./", "Zz", "9x"]:
        print(json.dumps([pw, crypt.crypt(pw, s)]))
    for s in ["$5$rounds=1000$somesalt", "$6$rounds=12345$anothersalt", "$5$rounds=5000$explicitdefault"]:
        print(json.dumps([pw, crypt.crypt(pw, s)]))
"#;
    // DES uses the first 8 bytes; glibc refuses nothing in this list.
    let pws: Vec<&str> = PASSWORDS.to_vec();
    let out = run(Command::new("python3").args([
        "-W",
        "ignore",
        "-c",
        script,
        &serde_json::to_string(&pws).unwrap(),
    ]));
    let mut n = 0;
    for line in String::from_utf8(out).unwrap().lines() {
        let (pw, hash): (String, String) = serde_json::from_str(line).unwrap();
        check(&hash, &pw);
        n += 1;
    }
    assert_eq!(n, PASSWORDS.len() * 7);
}
