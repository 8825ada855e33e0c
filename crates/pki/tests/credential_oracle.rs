//! EK/AK binding by credential activation against a real software TPM: palisade-pki's
//! MakeCredential output, written in `tpm2_makecredential`'s file format, is activated by
//! `tpm2_activatecredential` on swtpm, for RSA and ECC endorsement keys; a wrong AK name or a
//! different EK must fail. Skips without swtpm/tpm2-tools unless PALISADE_REQUIRE_ORACLES=1.

use std::path::{Path, PathBuf};
use std::process::Command;

use palisade_pki::credential::{
    CredentialBlob, challenge_for, make_credential, parse_tpm2b_public,
};

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

fn have_tools() -> bool {
    let ok = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let have = ok("swtpm") && ok("tpm2_activatecredential") && ok("tpm2_makecredential");
    if !have {
        assert!(
            std::env::var("PALISADE_REQUIRE_ORACLES").as_deref() != Ok("1"),
            "swtpm and tpm2-tools are required (PALISADE_REQUIRE_ORACLES=1)"
        );
        eprintln!("skipping: swtpm / tpm2-tools not installed");
    }
    have
}

struct Tpm {
    dir: PathBuf,
    tcti: String,
    _swtpm: Swtpm,
}

impl Tpm {
    fn start(tag: &str) -> Tpm {
        let dir = std::env::temp_dir().join(format!("palisade-cred-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("state")).unwrap();
        // The swtpm TCTI expects the control channel on port + 1.
        let port = (0..50)
            .map(|_| free_port())
            .find(|p| *p < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok())
            .expect("two adjacent free ports");
        let child = Command::new("swtpm")
            .current_dir(&dir)
            .args(["socket", "--tpm2", "--tpmstate", "dir=state"])
            .args(["--flags", "not-need-init,startup-clear"])
            .arg("--server")
            .arg(format!("type=tcp,port={port},bindaddr=127.0.0.1"))
            .arg("--ctrl")
            .arg(format!("type=tcp,port={},bindaddr=127.0.0.1", port + 1))
            .spawn()
            .expect("start swtpm");
        let swtpm = Swtpm(child);
        let t0 = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(t0.elapsed().as_secs() < 10, "swtpm did not start");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Tpm {
            dir,
            tcti: format!("swtpm:host=127.0.0.1,port={port}"),
            _swtpm: swtpm,
        }
    }

    /// Runs a tpm2-tools command; Err(stderr) when it fails. Transient objects and sessions are
    /// flushed after each, as a device would.
    fn try_run(&self, args: &[&str]) -> Result<(), String> {
        let o = Command::new(args[0])
            .args(&args[1..])
            .current_dir(&self.dir)
            .env("TPM2TOOLS_TCTI", &self.tcti)
            .output()
            .unwrap();
        for flag in ["-t", "-s"] {
            let _ = Command::new("tpm2_flushcontext")
                .arg(flag)
                .env("TPM2TOOLS_TCTI", &self.tcti)
                .output();
        }
        if o.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&o.stderr).into_owned())
        }
    }

    fn run(&self, args: &[&str]) {
        if let Err(e) = self.try_run(args) {
            panic!("{args:?}: {e}");
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }

    /// The device side: `tpm2_activatecredential` with the EK's policy (PolicySecret on the
    /// endorsement hierarchy). Returns the recovered secret.
    fn activate(&self, ak_ctx: &str, ek_ctx: &str, blob_file: &str) -> Result<Vec<u8>, String> {
        let script = format!(
            "set -e; rm -f recovered.bin; \
             tpm2_startauthsession --policy-session -S session.ctx; \
             tpm2_policysecret -S session.ctx -c e >/dev/null; \
             tpm2_activatecredential -c {ak_ctx} -C {ek_ctx} -i {blob_file} -o recovered.bin \
               -P session:session.ctx"
        );
        self.try_run(&["sh", "-c", &script])?;
        Ok(self.read("recovered.bin"))
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).unwrap();
}

#[test]
fn swtpm_activates_our_credentials_only_for_the_right_ak_and_ek() {
    if !have_tools() {
        return;
    }
    let tpm = Tpm::start("bind");
    tpm.run(&[
        "tpm2_createek",
        "-c",
        "ek_rsa.ctx",
        "-G",
        "rsa",
        "-u",
        "ek_rsa.pub",
    ]);
    tpm.run(&[
        "tpm2_createek",
        "-c",
        "ek_ecc.ctx",
        "-G",
        "ecc",
        "-u",
        "ek_ecc.pub",
    ]);
    tpm.run(&[
        "tpm2_createak",
        "-C",
        "ek_rsa.ctx",
        "-c",
        "ak.ctx",
        "-G",
        "ecc",
        "-g",
        "sha256",
        "-s",
        "ecdsa",
        "-u",
        "ak.pem",
        "-f",
        "pem",
        "-n",
        "ak.name",
    ]);
    tpm.run(&[
        "tpm2_readpublic",
        "-c",
        "ak.ctx",
        "-f",
        "tss",
        "-o",
        "ak.pub",
    ]);
    // A second, RSA AK: the "other key" for the wrong-name case.
    tpm.run(&[
        "tpm2_createak",
        "-C",
        "ek_rsa.ctx",
        "-c",
        "ak2.ctx",
        "-G",
        "rsa",
        "-g",
        "sha256",
        "-s",
        "rsassa",
        "-u",
        "ak2.pem",
        "-f",
        "pem",
        "-n",
        "ak2.name",
    ]);
    tpm.run(&[
        "tpm2_readpublic",
        "-c",
        "ak2.ctx",
        "-f",
        "tss",
        "-o",
        "ak2.pub",
    ]);

    let ak_pub = tpm.read("ak.pub");
    let ak = parse_tpm2b_public(&ak_pub).unwrap();
    // Our name computation agrees with the TPM's.
    assert_eq!(ak.name(), tpm.read("ak.name"));
    let ak2 = parse_tpm2b_public(&tpm.read("ak2.pub")).unwrap();
    assert_eq!(ak2.name(), tpm.read("ak2.name"));
    assert!(ak.matches_spki(&tpm.read("ak.pem")));
    assert!(ak2.matches_spki(&tpm.read("ak2.pem")));
    assert!(!ak.matches_spki(&tpm.read("ak2.pem")));

    for (ek_pub, ek_ctx, other_ek_ctx) in [
        ("ek_rsa.pub", "ek_rsa.ctx", "ek_ecc.ctx"),
        ("ek_ecc.pub", "ek_ecc.ctx", "ek_rsa.ctx"),
    ] {
        let secret: Vec<u8> = (0..32u8)
            .map(|i| i.wrapping_mul(37) ^ ek_ctx.len() as u8)
            .collect();
        let ek_bytes = tpm.read(ek_pub);
        let (blob, name) = challenge_for(&ek_bytes, &ak_pub, &secret).unwrap();
        assert_eq!(name, tpm.read("ak.name"));
        let file = blob.to_tpm2_tools_file();
        write(&tpm.dir, "ours.cred", &file);
        let got = tpm.activate("ak.ctx", ek_ctx, "ours.cred").unwrap();
        assert_eq!(
            got, secret,
            "{ek_pub}: the TPM recovered a different secret"
        );

        // Same shape as tpm2_makecredential's own (software) output for the same inputs.
        write(&tpm.dir, "secret.bin", &secret);
        tpm.run(&[
            "tpm2_makecredential",
            "--tcti",
            "none",
            "-u",
            ek_pub,
            "-s",
            "secret.bin",
            "-n",
            &palisade_pki::hex(&name),
            "-o",
            "theirs.cred",
        ]);
        let theirs = CredentialBlob::from_tpm2_tools_file(&tpm.read("theirs.cred")).unwrap();
        assert_eq!(theirs.id_object.len(), blob.id_object.len(), "{ek_pub}");
        assert_eq!(
            theirs.encrypted_secret.len(),
            blob.encrypted_secret.len(),
            "{ek_pub}"
        );
        assert_eq!(
            theirs.id_object[..2],
            blob.id_object[..2],
            "{ek_pub}: HMAC size"
        );
        assert_eq!(tpm.read("theirs.cred").len(), file.len());
        assert_eq!(tpm.read("theirs.cred")[..8], file[..8], "header");
        assert_eq!(
            tpm.activate("ak.ctx", ek_ctx, "theirs.cred").unwrap(),
            secret
        );

        // Sealed for another AK's name: the TPM refuses to release it to this AK.
        let ek = parse_tpm2b_public(&ek_bytes).unwrap();
        let wrong = make_credential(&ek, &ak2.name(), &secret).unwrap();
        write(&tpm.dir, "wrong_name.cred", &wrong.to_tpm2_tools_file());
        let e = tpm
            .activate("ak.ctx", ek_ctx, "wrong_name.cred")
            .unwrap_err();
        assert!(!e.is_empty());
        // ... while the AK that name belongs to does get it.
        assert_eq!(
            tpm.activate("ak2.ctx", ek_ctx, "wrong_name.cred").unwrap(),
            secret
        );

        // Sealed to this EK but activated with another: refused.
        assert!(tpm.activate("ak.ctx", other_ek_ctx, "ours.cred").is_err());

        // A flipped bit in encIdentity fails the outer HMAC.
        let mut tampered = blob.clone();
        let n = tampered.id_object.len();
        tampered.id_object[n - 1] ^= 1;
        write(&tpm.dir, "tampered.cred", &tampered.to_tpm2_tools_file());
        assert!(tpm.activate("ak.ctx", ek_ctx, "tampered.cred").is_err());
    }

    // A key that is not a restricted signing key is refused as an AK (here: the EK itself).
    let e = challenge_for(&tpm.read("ek_rsa.pub"), &tpm.read("ek_rsa.pub"), b"x")
        .unwrap_err()
        .to_string();
    assert!(e.contains("attestation key attributes"), "{e}");
    let _ = std::fs::remove_dir_all(&tpm.dir);
}

#[test]
fn a_credential_for_another_tpms_ek_is_not_activated() {
    if !have_tools() {
        return;
    }
    let device = Tpm::start("device");
    let other = Tpm::start("other");
    for t in [&device, &other] {
        t.run(&["tpm2_createek", "-c", "ek.ctx", "-G", "rsa", "-u", "ek.pub"]);
    }
    device.run(&[
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
        "ak.pem",
        "-f",
        "pem",
        "-n",
        "ak.name",
    ]);
    device.run(&[
        "tpm2_readpublic",
        "-c",
        "ak.ctx",
        "-f",
        "tss",
        "-o",
        "ak.pub",
    ]);
    assert_ne!(
        device.read("ek.pub"),
        other.read("ek.pub"),
        "swtpm EKs differ"
    );
    let secret = b"bound-to-the-other-tpm".to_vec();
    // The device claims the other TPM's EK (e.g. a stolen EK certificate) with its own AK.
    let (blob, _) = challenge_for(&other.read("ek.pub"), &device.read("ak.pub"), &secret).unwrap();
    write(&device.dir, "c.cred", &blob.to_tpm2_tools_file());
    assert!(device.activate("ak.ctx", "ek.ctx", "c.cred").is_err());
    // With its real EK it succeeds.
    let (blob, _) = challenge_for(&device.read("ek.pub"), &device.read("ak.pub"), &secret).unwrap();
    write(&device.dir, "c.cred", &blob.to_tpm2_tools_file());
    assert_eq!(
        device.activate("ak.ctx", "ek.ctx", "c.cred").unwrap(),
        secret
    );
    let _ = std::fs::remove_dir_all(&device.dir);
    let _ = std::fs::remove_dir_all(&other.dir);
}
