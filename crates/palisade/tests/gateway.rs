//! The mTLS device gateway started by `palisade serve --gateway`, end to end with the real
//! binary (issue 10): `palisade agent enroll` (token, then renewal over the gateway; IDevID →
//! LDevID with a manufacturer CA made by openssl), devices judged by `curl` and
//! `openssl s_client` with their client certificates, telemetry, sensor ingest with
//! `palisade push --cert`, and refusal after `palisade ca revoke`. The broker test runs a real
//! Mosquitto beside the hub and checks that `ca revoke` alone locks the device out.
//! Skips without openssl/curl/mosquitto unless PALISADE_REQUIRE_ORACLES=1.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_palisade"))
}

fn have(tool: &str, arg: &str) -> bool {
    // Present when it runs at all (`mosquitto -h` exits non-zero after printing its usage).
    let ok = Command::new(tool).arg(arg).output().is_ok();
    if !ok {
        assert!(
            std::env::var("PALISADE_REQUIRE_ORACLES").as_deref() != Ok("1"),
            "{tool} is required (PALISADE_REQUIRE_ORACLES=1) but not installed"
        );
        eprintln!("skipping: {tool} not installed");
    }
    ok
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("palisade-gw-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs a command; (success, stdout, stderr).
fn run(cmd: &mut Command) -> (bool, String, String) {
    let o = cmd.output().expect("spawn");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn must(cmd: &mut Command) -> String {
    let (ok, out, err) = run(cmd);
    assert!(ok, "{cmd:?}: {out}{err}");
    out
}

fn palisade(data: &Path, args: &[&str]) -> String {
    must(bin().args(args).arg("--data-dir").arg(data))
}

struct Hub {
    child: Child,
    base: String,
    gateway: String,
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `palisade serve` with the gateway on an ephemeral port; reads both addresses from stdout.
fn serve(data: &Path, config: Option<&Path>) -> Hub {
    let mut cmd = bin();
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--gateway",
        "127.0.0.1:0",
        "--data-dir",
    ])
    .arg(data);
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let (mut base, mut gateway) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(60);
    while base.is_none() || gateway.is_none() {
        let left = deadline
            .checked_duration_since(Instant::now())
            .expect("serve printed its addresses");
        let line = rx.recv_timeout(left).expect("serve printed its addresses");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("https://"))
            .map(|u| u.trim_end_matches('/').to_owned());
        if line.contains("hub listening") {
            base = url;
        } else if line.contains("device gateway") {
            gateway = url;
        }
    }
    Hub {
        child,
        base: base.unwrap(),
        gateway: gateway.unwrap(),
    }
}

fn token(data: &Path, device: &str) -> String {
    let out = palisade(data, &["ca", "token", "--device", device]);
    out.split_whitespace().nth(1).unwrap().to_owned()
}

/// curl against the gateway as the identity in `id_dir`; (success, body+errors).
fn curl_as(id_dir: &Path, url: &str, extra: &[&str]) -> (bool, String) {
    let (ok, out, err) = run(Command::new("curl")
        .args(["-sS", "--fail", "--max-time", "10", "--cacert"])
        .arg(id_dir.join("ca.pem"))
        .arg("--cert")
        .arg(id_dir.join("cert.pem"))
        .arg("--key")
        .arg(id_dir.join("key.pem"))
        .args(extra)
        .arg(url));
    (ok, format!("{out}{err}"))
}

fn serial_of(id_dir: &Path) -> String {
    must(
        Command::new("openssl")
            .args(["x509", "-noout", "-serial", "-in"])
            .arg(id_dir.join("cert.pem")),
    )
}

#[test]
fn serve_gateway_enroll_telemetry_push_and_revoke() {
    if !have("openssl", "version") || !have("curl", "--version") {
        return;
    }
    let dir = tmpdir("e2e");
    let data = dir.join("data");
    palisade(&data, &["ca", "init"]);
    let hub = serve(&data, None);
    let pin = data.join("tls-cert.pem");

    // Token enrollment over the hub's HTTPS listener (server pinned).
    let dev = dir.join("dev-1");
    let t = token(&data, "dev-1");
    let out = must(
        bin()
            .args(["agent", "enroll", "--dir"])
            .arg(&dev)
            .args([
                "--est",
                &hub.base,
                "--token",
                &t,
                "--device-id",
                "dev-1",
                "--pin",
            ])
            .arg(&pin),
    );
    assert!(out.contains("enrolled device dev-1"), "{out}");
    // The token was one-time.
    let (ok, _, err) = run(bin()
        .args(["agent", "enroll", "--dir"])
        .arg(dir.join("again"))
        .args([
            "--est",
            &hub.base,
            "--token",
            &t,
            "--device-id",
            "dev-1",
            "--pin",
        ])
        .arg(&pin));
    assert!(!ok && err.contains("already used"), "{err}");

    // The device on the gateway: curl and openssl s_client with its client certificate.
    let (ok, out) = curl_as(&dev, &format!("{}/v1/whoami", hub.gateway), &[]);
    assert!(ok, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["device_id"], "dev-1");
    let hostport = hub.gateway.trim_start_matches("https://").to_owned();
    let s_client = |id: &Path| {
        let mut c = Command::new("openssl");
        c.args(["s_client", "-ign_eof", "-connect", &hostport, "-CAfile"])
            .arg(id.join("ca.pem"))
            .arg("-cert")
            .arg(id.join("cert.pem"))
            .arg("-key")
            .arg(id.join("key.pem"))
            .stdin(Stdio::piped());
        let mut child = c
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        let _ =
            child.stdin.take().unwrap().write_all(
                b"GET /v1/whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            );
        let o = child.wait_with_output().unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let text = s_client(&dev);
    assert!(text.contains("TLSv1.3"), "{text}");
    assert!(text.contains("Verify return code: 0 (ok)"), "{text}");
    assert!(text.contains("\"device_id\":\"dev-1\""), "{text}");

    // Telemetry is logged under the certificate's id, not one claimed in the body.
    let (ok, out) = curl_as(
        &dev,
        &format!("{}/v1/telemetry", hub.gateway),
        &[
            "-H",
            "Content-Type: application/json",
            "--data",
            r#"{"device":"cam-9","temp_c":21.5}"#,
        ],
    );
    assert!(ok, "{out}");
    let log = std::fs::read_to_string(data.join("telemetry.jsonl")).unwrap();
    let line: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(line["device"], "dev-1");
    assert_eq!(line["data"]["temp_c"], 21.5);
    let (ok, out) = curl_as(
        &dev,
        &format!("{}/v1/telemetry", hub.gateway),
        &["--data", "[1,2"],
    );
    assert!(!ok && out.contains("400"), "{out}");

    // Renewal (simplereenroll over the gateway, authenticated by the current certificate).
    let before = serial_of(&dev);
    let out = must(bin().args(["agent", "enroll", "--dir"]).arg(&dev).args([
        "--est",
        &hub.gateway,
        "--renew-within-days",
        "30",
    ]));
    assert!(
        out.contains("not renewing") || out.contains("more days"),
        "{out}"
    );
    assert_eq!(serial_of(&dev), before, "renewed too early");
    let out = must(bin().args(["agent", "enroll", "--dir"]).arg(&dev).args([
        "--est",
        &hub.gateway,
        "--renew-within-days",
        "1000",
        "--key-type",
        "ed25519",
    ]));
    assert!(out.contains("renewed device dev-1"), "{out}");
    assert_ne!(serial_of(&dev), before);
    let (ok, out) = curl_as(&dev, &format!("{}/v1/whoami", hub.gateway), &[]);
    assert!(ok && out.contains("dev-1"), "{out}");

    // A sensor pushes NDJSON over mTLS; a device certificate may not.
    let sensor = dir.join("sensor-1");
    let t = token(&data, "sensor-1");
    must(
        bin()
            .args(["agent", "enroll", "--dir"])
            .arg(&sensor)
            .args([
                "--est",
                &hub.base,
                "--token",
                &t,
                "--device-id",
                "sensor-1",
                "--pin",
            ])
            .arg(&pin),
    );
    let pcap = dir.join("home.pcap");
    std::fs::write(
        &pcap,
        palisade_sim::generate(&palisade_sim::SimConfig::default()),
    )
    .unwrap();
    let nd = dir.join("home.ndjson");
    must(
        bin()
            .args(["analyze", "--format", "ndjson", "-o"])
            .arg(&nd)
            .arg(&pcap),
    );
    let push = |id: &Path| {
        run(bin()
            .arg("push")
            .arg(&nd)
            .args(["--hub", &hub.gateway, "--cert"])
            .arg(id.join("cert.pem"))
            .arg("--key")
            .arg(id.join("key.pem"))
            .arg("--ca-chain")
            .arg(id.join("ca.pem")))
    };
    let (ok, out, err) = push(&sensor);
    assert!(ok, "{out}{err}");
    let accepted: u64 = out
        .split(": ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(accepted > 10, "{out}");
    let (ok, out, err) = push(&dev);
    assert!(!ok && err.contains("403"), "{out}{err}");
    let store = palisade_hub::store::SqliteStore::open(&data.join("hub.db")).unwrap();
    use palisade_hub::store::Store;
    assert!(
        store.device("c0:56:e3:a1:7d:42").unwrap().is_some(),
        "the pushed camera is in the hub's store"
    );

    // Revocation with the CLI alone: the gateway refuses the device within about a second.
    let out = palisade(
        &data,
        &["ca", "revoke", "dev-1", "--reason", "keyCompromise"],
    );
    assert!(out.contains("revoked"), "{out}");
    std::thread::sleep(Duration::from_millis(1300));
    let (ok, out) = curl_as(&dev, &format!("{}/v1/whoami", hub.gateway), &[]);
    assert!(!ok, "revoked device still accepted: {out}");
    let text = s_client(&dev);
    assert!(!text.contains("\"device_id\""), "{text}");
    // The sensor is unaffected.
    let (ok, out) = curl_as(&sensor, &format!("{}/v1/whoami", hub.gateway), &[]);
    assert!(ok && out.contains("sensor-1"), "{out}");
    drop(hub);
    let _ = std::fs::remove_dir_all(&dir);
}

/// IDevID → LDevID: a manufacturer CA and a device certificate made by openssl; the agent
/// enrolls on the gateway with it, without a token. A device certificate from an unconfigured
/// manufacturer is refused, and the IDevID itself is no identity on the gateway.
#[test]
fn idevid_enrolls_for_an_ldevid() {
    if !have("openssl", "version") || !have("curl", "--version") {
        return;
    }
    let dir = tmpdir("idevid");
    let data = dir.join("data");
    palisade(&data, &["ca", "init"]);
    let openssl = |args: &[&str]| {
        must(Command::new("openssl").current_dir(&dir).args(args));
    };
    std::fs::write(
        dir.join("ext.cnf"),
        "[dev]\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    for (name, device) in [("mfr", "idev-7"), ("rogue", "idev-8")] {
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}-ca.key"),
            "-out",
            &format!("{name}-ca.pem"),
            "-subj",
            &format!("/O={name}/CN={name} Device CA"),
            "-days",
            "30",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{device}.key"),
            "-out",
            &format!("{device}.csr"),
            "-subj",
            &format!("/O={name}/CN={device}"),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{device}.csr"),
            "-CA",
            &format!("{name}-ca.pem"),
            "-CAkey",
            &format!("{name}-ca.key"),
            "-CAcreateserial",
            "-days",
            "10",
            "-extfile",
            "ext.cnf",
            "-extensions",
            "dev",
            "-out",
            &format!("{device}.pem"),
        ]);
    }
    let cfg = dir.join("hub.toml");
    std::fs::write(
        &cfg,
        format!(
            "gateway_manufacturer_ca = {:?}\n",
            dir.join("mfr-ca.pem").display().to_string()
        ),
    )
    .unwrap();
    let hub = serve(&data, Some(&cfg));
    let enroll = |device: &str, out: &Path| {
        run(bin()
            .args(["agent", "enroll", "--dir"])
            .arg(out)
            .args(["--est", &hub.gateway, "--idevid-cert"])
            .arg(dir.join(format!("{device}.pem")))
            .arg("--idevid-key")
            .arg(dir.join(format!("{device}.key")))
            .arg("--cacert")
            .arg(data.join("ca/chain.pem")))
    };
    let ldev = dir.join("ldev-7");
    let (ok, out, err) = enroll("idev-7", &ldev);
    assert!(ok && out.contains("enrolled device idev-7"), "{out}{err}");
    let text = must(
        Command::new("openssl")
            .args(["verify", "-purpose", "sslclient", "-CAfile"])
            .arg(data.join("ca/chain.pem"))
            .arg(ldev.join("cert.pem")),
    );
    assert!(text.contains("OK"), "{text}");
    let (ok, out) = curl_as(&ldev, &format!("{}/v1/whoami", hub.gateway), &[]);
    assert!(ok && out.contains("\"idev-7\""), "{out}");
    let list = palisade(&data, &["ca", "list", "--json"]);
    assert!(
        list.lines()
            .any(|l| l.contains("\"idev-7\"") && l.contains("est-idevid")),
        "{list}"
    );
    // The IDevID gets through TLS (for EST) but is not an identity for anything else.
    let (ok, out, err) = run(Command::new("curl")
        .args(["-sS", "--fail", "--cacert"])
        .arg(data.join("ca/chain.pem"))
        .arg("--cert")
        .arg(dir.join("idev-7.pem"))
        .arg("--key")
        .arg(dir.join("idev-7.key"))
        .arg(format!("{}/v1/whoami", hub.gateway)));
    assert!(!ok && err.contains("403"), "{out}{err}");
    // A manufacturer the hub does not trust: refused.
    let (ok, out, err) = enroll("idev-8", &dir.join("ldev-8"));
    assert!(!ok, "{out}{err}");
    assert!(!dir.join("ldev-8/cert.pem").exists());
    drop(hub);
    let _ = std::fs::remove_dir_all(&dir);
}

struct Broker(Child);
impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The hub keeps Mosquitto's CRL and ACL current and reloads it: a device enrolled after the
/// broker started can publish without a manual step, and after `palisade ca revoke` it cannot
/// connect, again without a manual step.
#[test]
fn hub_reloads_mosquitto_on_enrollment_and_revocation() {
    if !have("openssl", "version") || !have("mosquitto", "-h") || !have("mosquitto_pub", "--help") {
        return;
    }
    let dir = tmpdir("mqtt");
    let data = dir.join("data");
    palisade(&data, &["ca", "init"]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let broker_dir = dir.join("broker");
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let mut args = vec![
        "ca",
        "broker",
        "--out",
        broker_dir.to_str().unwrap(),
        "--port",
        &port,
    ];
    if is_root {
        args.extend(["--run-as", "root"]);
    }
    palisade(&data, &args);
    let log = std::fs::File::create(dir.join("mosquitto.log")).unwrap();
    let child = Command::new("mosquitto")
        .arg("-c")
        .arg(broker_dir.join("mosquitto.conf"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start mosquitto");
    let pid_file = dir.join("mosquitto.pid");
    std::fs::write(&pid_file, child.id().to_string()).unwrap();
    let _broker = Broker(child);
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())).is_err() {
        assert!(t0.elapsed().as_secs() < 10, "mosquitto did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let cfg = dir.join("hub.toml");
    std::fs::write(
        &cfg,
        format!(
            "broker_dir = {:?}\nbroker_pid_file = {:?}\n",
            broker_dir.display().to_string(),
            pid_file.display().to_string()
        ),
    )
    .unwrap();
    let hub = serve(&data, Some(&cfg));

    // Enrolled after the broker started: the hub adds it to the ACL and reloads.
    let dev = dir.join("dev-1");
    let t = token(&data, "dev-1");
    must(
        bin()
            .args(["agent", "enroll", "--dir"])
            .arg(&dev)
            .args([
                "--est",
                &hub.base,
                "--token",
                &t,
                "--device-id",
                "dev-1",
                "--pin",
            ])
            .arg(data.join("tls-cert.pem")),
    );
    let publish = |topic: &str| {
        run(Command::new("mosquitto_pub")
            .args([
                "-V",
                "mqttv5",
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-q",
                "1",
                "--cafile",
            ])
            .arg(broker_dir.join("ca.pem"))
            .arg("--cert")
            .arg(dev.join("cert.pem"))
            .arg("--key")
            .arg(dev.join("key.pem"))
            .args(["-t", topic, "-m", "21.5"]))
    };
    let wait_until = |what: &str, f: &dyn Fn() -> bool| {
        let t0 = Instant::now();
        while !f() {
            assert!(t0.elapsed() < Duration::from_secs(10), "timed out: {what}");
            std::thread::sleep(Duration::from_millis(200));
        }
        t0.elapsed()
    };
    wait_until("the ACL names dev-1", &|| {
        std::fs::read_to_string(broker_dir.join("acl")).is_ok_and(|a| a.contains("user dev-1"))
    });
    wait_until("dev-1 may publish", &|| {
        let (ok, out, err) = publish("devices/dev-1/temp");
        ok && !format!("{out}{err}").contains("Not authorized")
    });
    let (_, out, err) = publish("devices/dev-2/temp");
    assert!(
        format!("{out}{err}").contains("Not authorized"),
        "{out}{err}"
    );

    palisade(
        &data,
        &["ca", "revoke", "dev-1", "--reason", "keyCompromise"],
    );
    let took = wait_until("the revoked device is refused", &|| {
        !publish("devices/dev-1/temp").0
    });
    eprintln!("revoked device locked out of mosquitto after {took:?}");
    let crl = must(
        Command::new("openssl")
            .args(["crl", "-noout", "-text", "-in"])
            .arg(broker_dir.join("crl.pem")),
    );
    let serial = serial_of(&dev);
    let serial = serial.trim().trim_start_matches("serial=");
    assert!(crl.to_uppercase().contains(&serial.to_uppercase()), "{crl}");
    drop(hub);
    drop(_broker);
    let _ = std::fs::remove_dir_all(&dir);
}

struct Swtpm(Child);
impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Remote attestation end to end: golden PCR 16 from a signed firmware image
/// (`palisade attest golden`), a real TPM (swtpm) that measured that image, quotes made by
/// `tpm2_quote` over the gateway's nonce. A fresh quote passes; a replayed one and one from a
/// device that booted another image fail, and the failure raises an alert in the hub's store.
#[test]
fn tpm_attestation_over_the_gateway() {
    if !have("openssl", "version")
        || !have("curl", "--version")
        || !have("swtpm", "--version")
        || !have("tpm2_quote", "--version")
    {
        return;
    }
    let dir = tmpdir("attest");
    let data = dir.join("data");
    palisade(&data, &["ca", "init"]);
    let fw = dir.join("fw.pem");
    must(
        bin()
            .args(["firmware", "keygen", "-t", "ed25519", "-k"])
            .arg(&fw),
    );
    let sign = |fill: u8, out: &str| -> PathBuf {
        let app = dir.join(format!("{out}.app"));
        let payload: Vec<u8> = (0..20_000u32).map(|i| fill ^ (i % 251) as u8).collect();
        std::fs::write(&app, payload).unwrap();
        let img = dir.join(out);
        must(
            bin()
                .args(["firmware", "sign", "-k"])
                .arg(&fw)
                .args([
                    "-v",
                    "1.0.0",
                    "-H",
                    "0x200",
                    "--pad-header",
                    "-S",
                    "0x20000",
                ])
                .arg(&app)
                .arg(&img),
        );
        img
    };
    let good = sign(0x11, "good.bin");
    let evil = sign(0x66, "evil.bin");
    let out = must(
        bin()
            .args(["attest", "golden", "--pcr", "16", "--image"])
            .arg(&good)
            .arg("-k")
            .arg(&fw)
            .arg("--data-dir")
            .arg(&data),
    );
    assert!(out.contains("PCR 16 = "), "{out}");
    // The measurement, computed independently of Palisade: SHA-256 (openssl) over the MCUboot
    // hashed region, header + payload + protected TLVs, sizes from the header.
    let measure = |img: &Path| -> String {
        let b = std::fs::read(img).unwrap();
        let hdr = u16::from_le_bytes([b[8], b[9]]) as usize;
        let prot = u16::from_le_bytes([b[10], b[11]]) as usize;
        let size = u32::from_le_bytes([b[12], b[13], b[14], b[15]]) as usize;
        let region = dir.join("region.bin");
        std::fs::write(&region, &b[..hdr + size + prot]).unwrap();
        let out = must(
            Command::new("openssl")
                .args(["dgst", "-sha256", "-r"])
                .arg(&region),
        );
        out.split_whitespace().next().unwrap().to_owned()
    };

    let hub = serve(&data, None);
    let dev = dir.join("dev-1");
    let t = token(&data, "dev-1");
    must(
        bin()
            .args(["agent", "enroll", "--dir"])
            .arg(&dev)
            .args([
                "--est",
                &hub.base,
                "--token",
                &t,
                "--device-id",
                "dev-1",
                "--pin",
            ])
            .arg(data.join("tls-cert.pem")),
    );

    // A TPM for the device.
    std::fs::create_dir_all(dir.join("tpm")).unwrap();
    let port = (0..50)
        .map(|_| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        })
        .find(|p| *p < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok())
        .expect("two adjacent free ports");
    let child = Command::new("swtpm")
        .current_dir(&dir)
        .args([
            "socket",
            "--tpm2",
            "--tpmstate",
            "dir=tpm",
            "--flags",
            "not-need-init,startup-clear",
        ])
        .arg("--server")
        .arg(format!("type=tcp,port={port},bindaddr=127.0.0.1"))
        .arg("--ctrl")
        .arg(format!("type=tcp,port={},bindaddr=127.0.0.1", port + 1))
        .spawn()
        .expect("start swtpm");
    let _tpm = Swtpm(child);
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t0.elapsed().as_secs() < 10, "swtpm did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let tcti = format!("swtpm:host=127.0.0.1,port={port}");
    let tpm2 = |args: &[&str]| {
        must(
            Command::new(args[0])
                .args(&args[1..])
                .current_dir(&dir)
                .env("TPM2TOOLS_TCTI", &tcti),
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
        "ak.pem",
        "-n",
        "ak.name",
        "-f",
        "pem",
    ]);
    tpm2(&[
        "tpm2_readpublic",
        "-c",
        "ak.ctx",
        "-f",
        "tss",
        "-o",
        "ak.pub",
    ]);
    // A second AK in the same TPM that never gets bound.
    tpm2(&[
        "tpm2_createak",
        "-C",
        "ek.ctx",
        "-c",
        "ak2.ctx",
        "-G",
        "ecc",
        "-g",
        "sha256",
        "-s",
        "ecdsa",
        "-u",
        "ak2.pem",
        "-f",
        "pem",
    ]);
    // Measured boot of the good image.
    tpm2(&["tpm2_pcrextend", &format!("16:sha256={}", measure(&good))]);

    let gw = |path: &str, extra: &[&str]| curl_as(&dev, &format!("{}{path}", hub.gateway), extra);
    let b64 = |f: &str| {
        must(
            Command::new("openssl")
                .current_dir(&dir)
                .args(["base64", "-A", "-in", f]),
        )
    };
    let post_json = |path: &str, body: serde_json::Value| {
        let f = dir.join("body.json");
        std::fs::write(&f, body.to_string()).unwrap();
        gw(
            path,
            &[
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                &format!("@{}", f.display()),
            ],
        )
    };

    // EK/AK binding by credential activation: the hub seals a secret to the EK for the AK's
    // name; tpm2_activatecredential on the device's TPM recovers it.
    let challenge = || -> serde_json::Value {
        let (ok, out) = post_json(
            "/v1/attest/enroll",
            serde_json::json!({"ek_pub": b64("ek.pub"), "ak_pub": b64("ak.pub")}),
        );
        assert!(ok, "{out}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let cred = palisade_pki::pkcs7::base64_decode(v["credential"].as_str().unwrap().as_bytes())
            .unwrap();
        std::fs::write(dir.join("cred.bin"), cred).unwrap();
        v
    };
    // The device side: tpm2_activatecredential under the EK's policy (PolicySecret(endorsement)).
    let activate_on_tpm = |cred: &str| -> Vec<u8> {
        must(
            Command::new("sh")
                .current_dir(&dir)
                .env("TPM2TOOLS_TCTI", &tcti)
                .arg("-c")
                .arg(format!(
                    "set -e; tpm2_startauthsession --policy-session -S session.ctx; \
                     tpm2_policysecret -S session.ctx -c e >/dev/null; \
                     tpm2_activatecredential -c ak.ctx -C ek.ctx -i {cred} -o secret.bin \
                       -P session:session.ctx; tpm2_flushcontext session.ctx; \
                     tpm2_flushcontext -t"
                )),
        );
        std::fs::read(dir.join("secret.bin")).unwrap()
    };
    let v = challenge();
    let ak_name = palisade_pki::hex(&std::fs::read(dir.join("ak.name")).unwrap());
    assert_eq!(v["ak_name"].as_str(), Some(ak_name.as_str()));
    let secret = palisade_pki::hex(&activate_on_tpm("cred.bin"));
    // A device that cannot open the credential (guesses) is refused and an alert raised ...
    challenge();
    let (ok, out) = post_json(
        "/v1/attest/activate",
        serde_json::json!({"secret": "00".repeat(32), "mac": "c0:56:e3:a1:7d:42"}),
    );
    assert!(!ok, "a guessed secret bound the AK: {out}");
    let results = std::fs::read_to_string(data.join("attest/results.jsonl")).unwrap();
    assert!(
        results
            .lines()
            .last()
            .unwrap()
            .contains("credential activation failed"),
        "{results}"
    );
    // ... and a challenge allows one answer: the stale secret of the first one does not count.
    let (ok, _) = post_json("/v1/attest/activate", serde_json::json!({"secret": secret}));
    assert!(
        !ok,
        "an answer without an outstanding challenge was accepted"
    );
    challenge();
    let secret = palisade_pki::hex(&activate_on_tpm("cred.bin"));
    let (ok, out) = post_json("/v1/attest/activate", serde_json::json!({"secret": secret}));
    assert!(ok && out.contains(&ak_name), "{out}");
    let aks = std::fs::read_to_string(data.join("attest/aks.jsonl")).unwrap();
    assert!(aks.contains(&ak_name) && aks.contains("dev-1"), "{aks}");
    // The EK is pinned: the same device identity presenting another EK (another TPM) is refused.
    tpm2(&[
        "tpm2_createek",
        "-c",
        "ek_rsa.ctx",
        "-G",
        "rsa",
        "-u",
        "ek_rsa.pub",
    ]);
    let (ok, out) = post_json(
        "/v1/attest/enroll",
        serde_json::json!({"ek_pub": b64("ek_rsa.pub"), "ak_pub": b64("ak.pub")}),
    );
    assert!(!ok, "a second EK was accepted for dev-1: {out}");
    // The same sealing offline, from the CLI (like `tpm2_makecredential --tcti none`).
    std::fs::write(dir.join("cli-secret.bin"), b"sealed by the CLI").unwrap();
    let out = must(bin().current_dir(&dir).args([
        "attest",
        "make-credential",
        "--ek",
        "ek.pub",
        "--ak",
        "ak.pub",
        "-s",
        "cli-secret.bin",
        "-o",
        "cli.cred",
    ]));
    assert!(out.contains(&ak_name), "{out}");
    assert_eq!(activate_on_tpm("cli.cred"), b"sealed by the CLI");
    let (ok, _, err) = run(bin().current_dir(&dir).args([
        "attest",
        "make-credential",
        "--ek",
        "ek.pub",
        "--ak",
        "ek.pub",
        "-s",
        "cli-secret.bin",
        "-o",
        "bad.cred",
    ]));
    assert!(
        !ok && err.contains("attestation key attributes"),
        "an EK accepted as an attestation key: {err}"
    );

    let quote_with = |tag: &str, ak_ctx: &str, ak_pem: &str| -> String {
        let (ok, out) = gw("/v1/attest/nonce", &[]);
        assert!(ok, "{out}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let nonce = v["nonce"].as_str().unwrap().to_owned();
        tpm2(&[
            "tpm2_quote",
            "-c",
            ak_ctx,
            "-l",
            "sha256:16",
            "-q",
            &nonce,
            "-m",
            &format!("{tag}.msg"),
            "-s",
            &format!("{tag}.sig"),
            "-g",
            "sha256",
            "-f",
            "plain",
        ]);
        let body = serde_json::json!({
            "quote": b64(&format!("{tag}.msg")),
            "signature": b64(&format!("{tag}.sig")),
            "ak_pub": std::fs::read_to_string(dir.join(ak_pem)).unwrap(),
            "mac": "c0:56:e3:a1:7d:42",
        });
        let f = dir.join(format!("{tag}.json"));
        std::fs::write(&f, body.to_string()).unwrap();
        f.display().to_string()
    };
    let post = |evidence: &str| {
        gw(
            "/v1/attest",
            &[
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                &format!("@{evidence}"),
            ],
        )
    };
    let quote = |tag: &str| quote_with(tag, "ak.ctx", "ak.pem");
    let first = quote("q1");
    let (ok, out) = post(&first);
    assert!(ok && out.contains("\"ok\":true"), "{out}");
    assert!(out.contains("bound AK"), "{out}");
    // A valid quote from the same TPM, but by an AK that is not the bound one: refused.
    let (ok, out) = post(&quote_with("q0", "ak2.ctx", "ak2.pem"));
    assert!(!ok, "quote by an unbound AK accepted: {out}");
    let results = std::fs::read_to_string(data.join("attest/results.jsonl")).unwrap();
    assert!(
        results
            .lines()
            .last()
            .unwrap()
            .contains("other than the attestation key"),
        "{results}"
    );
    // The same evidence again: its nonce is spent.
    let (ok, out) = post(&first);
    assert!(!ok, "replayed quote accepted: {out}");

    // The device boots another (validly signed, but not the golden) image.
    tpm2(&["tpm2_pcrreset", "16"]);
    tpm2(&["tpm2_pcrextend", &format!("16:sha256={}", measure(&evil))]);
    let (ok, out) = post(&quote("q2"));
    assert!(!ok, "quote of the wrong firmware accepted: {out}");
    let results = std::fs::read_to_string(data.join("attest/results.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(results.lines().last().unwrap()).unwrap();
    assert_eq!(last["ok"], false);
    assert!(
        last["reason"].as_str().unwrap().contains("PCR digest"),
        "{last}"
    );
    let store = palisade_hub::store::SqliteStore::open(&data.join("hub.db")).unwrap();
    use palisade_hub::store::Store;
    let alerts = store
        .list_alerts(&palisade_hub::store::AlertQuery {
            kind: Some("policy.violation".into()),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert!(
        alerts
            .items
            .iter()
            .any(|a| a.summary.contains("attestation failed for dev-1")
                && a.device.as_deref() == Some("c0:56:e3:a1:7d:42")),
        "{:?}",
        alerts.items
    );
    // Each failure has its own alert: the failed activation, the unbound AK and the bad PCRs.
    for what in [
        "credential activation failed",
        "other than the attestation key",
        "PCR digest",
    ] {
        assert!(
            alerts
                .items
                .iter()
                .any(|a| a.summary.contains(what)
                    && a.device.as_deref() == Some("c0:56:e3:a1:7d:42")),
            "no alert for {what}: {:?}",
            alerts.items
        );
    }
    drop(hub);
    let _ = std::fs::remove_dir_all(&dir);
}
