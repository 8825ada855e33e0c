//! TPM 2.0 quotes from a real software TPM (swtpm + tpm2-tools) verified by palisade-pki.
//! Skips without swtpm/tpm2-tools unless PALISADE_REQUIRE_ORACLES=1.

use std::process::Command;

use palisade_pki::tpm::{extend, verify_quote};

struct Swtpm(std::process::Child);
impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn swtpm_quotes_verify() {
    let have = Command::new("swtpm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
        && Command::new("tpm2_quote")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    if !have {
        assert!(
            std::env::var("PALISADE_REQUIRE_ORACLES").as_deref() != Ok("1"),
            "swtpm and tpm2-tools are required (PALISADE_REQUIRE_ORACLES=1)"
        );
        eprintln!("skipping: swtpm / tpm2-tools not installed");
        return;
    }
    let dir = std::env::temp_dir().join(format!("palisade-tpm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("state")).unwrap();
    // The swtpm TCTI expects the control channel on port + 1.
    let port = (0..50)
        .map(|_| free_port())
        .find(|p| *p < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok())
        .expect("two adjacent free ports");
    let ctrl = port + 1;
    let child = Command::new("swtpm")
        .current_dir(&dir)
        .args([
            "socket",
            "--tpm2",
            "--tpmstate",
            "dir=state",
            "--flags",
            "not-need-init,startup-clear",
        ])
        .arg("--server")
        .arg(format!("type=tcp,port={port},bindaddr=127.0.0.1"))
        .arg("--ctrl")
        .arg(format!("type=tcp,port={ctrl},bindaddr=127.0.0.1"))
        .spawn()
        .expect("start swtpm");
    let _tpm = Swtpm(child);
    let t0 = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t0.elapsed().as_secs() < 10, "swtpm did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let tcti = format!("swtpm:host=127.0.0.1,port={port}");
    let tpm2 = |args: &[&str]| {
        let o = Command::new(args[0])
            .args(&args[1..])
            .current_dir(&dir)
            .env("TPM2TOOLS_TCTI", &tcti)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let _ = Command::new("tpm2_flushcontext")
            .arg("-t")
            .env("TPM2TOOLS_TCTI", &tcti)
            .output();
    };
    tpm2(&["tpm2_createek", "-c", "ek.ctx", "-G", "ecc", "-u", "ek.pub"]);
    tpm2(&[
        "tpm2_createak",
        "-C",
        "ek.ctx",
        "-c",
        "ak.ctx",
        "-G",
        "ecc",
        "-g",
        "sha256",
        "-s",
        "ecdsa",
        "-u",
        "ak.pub",
        "-n",
        "ak.name",
        "-f",
        "pem",
    ]);
    // A "firmware measurement" extended into PCR 7; the golden value is computed independently.
    let measurement = [0x5au8; 32];
    let m_hex: String = measurement.iter().map(|b| format!("{b:02x}")).collect();
    tpm2(&["tpm2_pcrextend", &format!("7:sha256={m_hex}")]);
    let golden = [(0u32, [0u8; 32]), (7u32, extend(&[0u8; 32], &measurement))];
    let nonce = "a1b2c3d4e5f60718";
    tpm2(&[
        "tpm2_quote",
        "-c",
        "ak.ctx",
        "-l",
        "sha256:0,7",
        "-q",
        nonce,
        "-m",
        "quote.msg",
        "-s",
        "quote.sig",
        "-g",
        "sha256",
        "-f",
        "plain",
    ]);
    let msg = std::fs::read(dir.join("quote.msg")).unwrap();
    let sig = std::fs::read(dir.join("quote.sig")).unwrap();
    let ak = std::fs::read(dir.join("ak.pub")).unwrap();
    let nonce_b = palisade_pki::unhex(nonce).unwrap();
    let q = verify_quote(&msg, &sig, &ak, &nonce_b, &golden).unwrap();
    assert_eq!(q.extra_data, nonce_b);

    // Wrong nonce (replay), wrong golden value, tampered message, flipped signature: refused.
    let e = verify_quote(&msg, &sig, &ak, b"other", &golden)
        .unwrap_err()
        .to_string();
    assert!(e.contains("nonce"), "{e}");
    let bad_golden = [
        (0u32, [0u8; 32]),
        (7u32, extend(&[0u8; 32], b"evil firmware")),
    ];
    let e = verify_quote(&msg, &sig, &ak, &nonce_b, &bad_golden)
        .unwrap_err()
        .to_string();
    assert!(e.contains("PCR digest"), "{e}");
    let e = verify_quote(&msg, &sig, &ak, &nonce_b, &golden[..1])
        .unwrap_err()
        .to_string();
    assert!(e.contains("covers PCRs"), "{e}");
    let mut m2 = msg.clone();
    let n = m2.len();
    m2[n - 1] ^= 1;
    assert!(
        verify_quote(&m2, &sig, &ak, &nonce_b, &golden)
            .unwrap_err()
            .to_string()
            .contains("signature")
    );
    let mut s2 = sig.clone();
    let n = s2.len();
    s2[n - 3] ^= 1;
    assert!(verify_quote(&msg, &s2, &ak, &nonce_b, &golden).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
