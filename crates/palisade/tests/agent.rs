//! End to end: a TUF repository made by `palisade update`, served over HTTPS by
//! `palisade update serve`, and `palisade agent` updating a simulated device's slot files —
//! then a wrong CA, a tampered target, a security-counter rollback, a wrong signing key, a failed
//! health check (revert), a replayed old timestamp and an expired one (freeze), all refused with
//! the device still running its verified image.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_palisade"))
}

struct Dir(PathBuf);
impl Dir {
    fn new(tag: &str) -> Self {
        let d = std::env::temp_dir().join(format!("palisade-agent-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Self(d)
    }
    fn p(&self, n: &str) -> PathBuf {
        self.0.join(n)
    }
}
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Kills the server when the test ends, pass or fail.
struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ok(o: Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "panic: {err}");
    assert!(o.status.success(), "failed: {err}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn run(args: &[&str]) -> String {
    ok(bin().args(args).output().unwrap())
}

fn sign(d: &Dir, key: &Path, version: &str, counter: u32, fill: u8, out: &str) -> Vec<u8> {
    let app = d.p(&format!("{out}.app"));
    let payload: Vec<u8> = (0..20_000u32).map(|i| fill ^ (i % 251) as u8).collect();
    std::fs::write(&app, payload).unwrap();
    run(&[
        "firmware",
        "sign",
        "-k",
        key.to_str().unwrap(),
        "-v",
        version,
        "-H",
        "0x200",
        "--pad-header",
        "-S",
        "0x20000",
        "--security-counter",
        &counter.to_string(),
        app.to_str().unwrap(),
        d.p(out).to_str().unwrap(),
    ]);
    std::fs::read(d.p(out)).unwrap()
}

fn publish(d: &Dir, image: &str) {
    let repo = d.p("repo");
    let kek = d.p("kek");
    let (repo, kek) = (repo.to_str().unwrap(), kek.to_str().unwrap());
    run(&[
        "update",
        "add-target",
        "--repo",
        repo,
        "--kek",
        kek,
        "--name",
        "fw.bin",
        d.p(image).to_str().unwrap(),
    ]);
    run(&["update", "publish", "--repo", repo, "--kek", kek]);
}

struct Agent<'a> {
    d: &'a Dir,
    url: String,
}

impl Agent<'_> {
    /// Runs one agent cycle; returns (exit code, report).
    fn cycle(&self, extra: &[&str]) -> (i32, serde_json::Value) {
        self.cycle_with_ca(&self.d.p("tls/ca.pem"), extra)
    }
    fn cycle_with_ca(&self, ca: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
        let o = bin()
            .args(["agent", "run", "--device"])
            .arg(self.d.p("device"))
            .args(["--url", &self.url, "--ca"])
            .arg(ca)
            .arg("-k")
            .arg(self.d.p("fw.pem"))
            .args(["--target", "fw.bin", "--json"])
            .args(extra)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "panic: {err}");
        let out = String::from_utf8_lossy(&o.stdout);
        let rep = serde_json::from_str(out.trim())
            .unwrap_or_else(|e| panic!("report is not JSON ({e}): {out} / {err}"));
        (o.status.code().unwrap_or(-1), rep)
    }
    fn primary(&self) -> Vec<u8> {
        std::fs::read(self.d.p("device/primary.bin")).unwrap()
    }
}

fn start_server(d: &Dir, tls_dir: &str) -> (Server, String) {
    let mut child = bin()
        .args(["update", "serve", "--repo"])
        .arg(d.p("repo"))
        .args(["--listen", "127.0.0.1:0", "--tls-dir"])
        .arg(d.p(tls_dir))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("https://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .trim_end_matches('/')
        .to_owned();
    (Server(child), url)
}

#[test]
fn agent_updates_over_https_and_refuses_every_attack() {
    let d = Dir::new("e2e");
    run(&[
        "firmware",
        "keygen",
        "-k",
        d.p("fw.pem").to_str().unwrap(),
        "-t",
        "ed25519",
    ]);
    run(&[
        "firmware",
        "keygen",
        "-k",
        d.p("rogue.pem").to_str().unwrap(),
        "-t",
        "ed25519",
    ]);
    let fw = d.p("fw.pem");
    let factory = sign(&d, &fw, "1.0.0", 1, 0x11, "f1.bin");
    let v110 = sign(&d, &fw, "1.1.0", 2, 0x22, "f2.bin");
    let v120 = sign(&d, &fw, "1.2.0", 3, 0x33, "f3.bin");
    // Validly signed, but an old build: security counter 1 (and an older version).
    sign(&d, &fw, "1.0.5", 1, 0x44, "old.bin");
    sign(&d, &d.p("rogue.pem"), "9.0.0", 9, 0x55, "rogue.bin");
    sign(&d, &fw, "1.3.0", 4, 0x66, "f4.bin");

    let (repo, kek) = (d.p("repo"), d.p("kek"));
    run(&[
        "update",
        "init",
        "--repo",
        repo.to_str().unwrap(),
        "--kek",
        kek.to_str().unwrap(),
    ]);
    publish(&d, "f2.bin");
    run(&[
        "agent",
        "provision",
        "--device",
        d.p("device").to_str().unwrap(),
        "--image",
        d.p("f1.bin").to_str().unwrap(),
        "--root",
        repo.join("metadata/1.root.json").to_str().unwrap(),
        "-S",
        "0x20000",
    ]);
    let (_server, url) = start_server(&d, "tls");
    let agent = Agent { d: &d, url };
    assert_eq!(&agent.primary()[..factory.len()], &factory[..]);

    // The update: TUF over HTTPS, MCUboot verification, swap, confirm, counter raised.
    let (code, r) = agent.cycle(&[]);
    assert_eq!((code, r["result"].as_str()), (0, Some("updated")), "{r}");
    assert_eq!(r["running_version"], "1.1.0+0");
    assert_eq!(r["security_counter"], 2);
    assert_eq!(&agent.primary()[..v110.len()], &v110[..]);
    let nv = std::fs::read_to_string(d.p("device/nv-counter")).unwrap();
    assert_eq!(nv.trim(), "2");
    let (code, r) = agent.cycle(&[]);
    assert_eq!((code, r["result"].as_str()), (0, Some("up-to-date")), "{r}");
    let ts_v2 = std::fs::read(repo.join("metadata/timestamp.json")).unwrap();

    // A server whose certificate does not chain to the trusted CA.
    let (_other, _) = start_server(&d, "other-tls");
    let (code, r) = agent.cycle_with_ca(&d.p("other-tls/ca.pem"), &[]);
    assert_eq!(
        (code, r["result"].as_str()),
        (3, Some("refused-metadata")),
        "{r}"
    );
    assert!(r["detail"].as_str().unwrap().contains("TLS"), "{r}");

    // Tampered target on the server: TUF's signed hashes refuse it before any flash write.
    publish(&d, "f3.bin");
    let mut tampered = Vec::new();
    for e in std::fs::read_dir(repo.join("targets")).unwrap() {
        let p = e.unwrap().path();
        if std::fs::read(&p).unwrap() == v120 {
            let mut b = v120.clone();
            b[4000] ^= 0x55;
            std::fs::write(&p, b).unwrap();
            tampered.push(p);
        }
    }
    assert!(!tampered.is_empty());
    let before = agent.primary();
    let (code, r) = agent.cycle(&[]);
    assert_eq!(
        (code, r["result"].as_str()),
        (3, Some("refused-download")),
        "{r}"
    );
    assert!(r["detail"].as_str().unwrap().contains("hash"), "{r}");
    assert_eq!(agent.primary(), before);
    for p in &tampered {
        std::fs::write(p, &v120).unwrap();
    }
    let (code, r) = agent.cycle(&[]);
    assert_eq!((code, r["result"].as_str()), (0, Some("updated")), "{r}");
    assert_eq!(r["running_version"], "1.2.0+0");

    // Rollback: an old, validly signed build published through TUF. The security counter refuses it.
    publish(&d, "old.bin");
    let (code, r) = agent.cycle(&[]);
    assert_eq!(
        (code, r["result"].as_str()),
        (3, Some("refused-image")),
        "{r}"
    );
    let why = r["detail"].as_str().unwrap();
    assert!(
        why.contains("security counter 1") && why.contains("rollback"),
        "{r}"
    );
    assert_eq!(r["running_version"], "1.2.0+0");
    assert_eq!(r["security_counter"], 3);

    // Signed with a key the bootloader does not trust.
    publish(&d, "rogue.bin");
    let (code, r) = agent.cycle(&[]);
    assert_eq!(
        (code, r["result"].as_str()),
        (3, Some("refused-image")),
        "{r}"
    );
    assert_eq!(r["running_version"], "1.2.0+0");

    // A new image that fails its health check: booted as a test image, never confirmed, reverted.
    publish(&d, "f4.bin");
    let (code, r) = agent.cycle(&["--unhealthy"]);
    assert_eq!((code, r["result"].as_str()), (3, Some("reverted")), "{r}");
    assert_eq!(r["running_version"], "1.2.0+0");
    assert_eq!(
        r["security_counter"], 3,
        "a test image must not raise the counter"
    );
    assert_eq!(&agent.primary()[..v120.len()], &v120[..]);

    // Metadata rollback: the server replays an old timestamp.
    let current_ts = std::fs::read(repo.join("metadata/timestamp.json")).unwrap();
    std::fs::write(repo.join("metadata/timestamp.json"), &ts_v2).unwrap();
    let (code, r) = agent.cycle(&[]);
    assert_eq!(
        (code, r["result"].as_str()),
        (3, Some("refused-metadata")),
        "{r}"
    );
    assert!(r["detail"].as_str().unwrap().contains("rollback"), "{r}");
    std::fs::write(repo.join("metadata/timestamp.json"), &current_ts).unwrap();

    // Freeze: a correctly signed but expired timestamp.
    run(&[
        "update",
        "expire",
        "--repo",
        repo.to_str().unwrap(),
        "--kek",
        kek.to_str().unwrap(),
        "--role",
        "timestamp",
        "--at",
        "2020-01-01T00:00:00Z",
    ]);
    let (code, r) = agent.cycle(&[]);
    assert_eq!(
        (code, r["result"].as_str()),
        (3, Some("refused-metadata")),
        "{r}"
    );
    assert!(r["detail"].as_str().unwrap().contains("expired"), "{r}");
    assert_eq!(r["running_version"], "1.2.0+0");

    // The last report is kept on the device.
    let status = run(&[
        "agent",
        "status",
        "--device",
        d.p("device").to_str().unwrap(),
    ]);
    let s: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(s["result"], "refused-metadata");
}

/// A hub in this process (HTTPS, its own data directory) with an admin token.
struct TestHub {
    base: String,
    cert: PathBuf,
    token: String,
    trust: palisade_hub::client::Trust,
    _rt: tokio::runtime::Runtime,
}

impl TestHub {
    fn start(dir: &Path) -> Self {
        let cfg = palisade_hub::HubConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.to_owned(),
            tls: true,
            ..palisade_hub::HubConfig::default()
        };
        let hub = palisade_hub::Hub::prepare(&cfg).unwrap();
        let cert = hub.cert_path.clone().unwrap();
        let (token, hash) = palisade_hub::new_token();
        hub.store()
            .create_token("fleet", palisade_hub::store::Role::Admin, &hash, "test")
            .unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let addr = rt.block_on(async {
            let (addr, fut) = hub.bind(std::future::pending()).await.unwrap();
            tokio::spawn(fut);
            addr
        });
        let trust = palisade_hub::client::pinned_from_pem(&std::fs::read(&cert).unwrap()).unwrap();
        Self {
            base: format!("https://{addr}"),
            cert,
            token,
            trust,
            _rt: rt,
        }
    }

    fn api(&self, method: &str, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let auth = format!("Bearer {}", self.token);
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let r = palisade_hub::client::request(
            method,
            &format!("{}/api/v1{path}", self.base),
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
            &self.trust,
        )
        .unwrap();
        (
            r.status,
            serde_json::from_slice(&r.body).unwrap_or_default(),
        )
    }
}

#[test]
fn staged_rollout_gates_devices_reports_status_and_pauses_on_failures() {
    let d = Dir::new("rollout");
    run(&[
        "firmware",
        "keygen",
        "-k",
        d.p("fw.pem").to_str().unwrap(),
        "-t",
        "ed25519",
    ]);
    run(&[
        "firmware",
        "keygen",
        "-k",
        d.p("rogue.pem").to_str().unwrap(),
        "-t",
        "ed25519",
    ]);
    let fw = d.p("fw.pem");
    sign(&d, &fw, "1.0.0", 1, 0x11, "f1.bin");
    sign(&d, &fw, "1.1.0", 2, 0x22, "f2.bin");
    sign(&d, &d.p("rogue.pem"), "2.0.0", 5, 0x55, "rogue.bin");
    let (repo, kek) = (d.p("repo"), d.p("kek"));
    run(&[
        "update",
        "init",
        "--repo",
        repo.to_str().unwrap(),
        "--kek",
        kek.to_str().unwrap(),
    ]);
    publish(&d, "f2.bin");
    for dev in ["cam-1", "cam-2", "cam-3"] {
        run(&[
            "agent",
            "provision",
            "--device",
            d.p(dev).to_str().unwrap(),
            "--image",
            d.p("f1.bin").to_str().unwrap(),
            "--root",
            repo.join("metadata/1.root.json").to_str().unwrap(),
            "-S",
            "0x20000",
        ]);
    }
    let (_server, url) = start_server(&d, "tls");
    let hub = TestHub::start(&d.p("hub"));
    let agent = |dev: &str| -> (i32, serde_json::Value) {
        let o = bin()
            .args(["agent", "run", "--device"])
            .arg(d.p(dev))
            .args(["--url", &url, "--ca"])
            .arg(d.p("tls/ca.pem"))
            .arg("-k")
            .arg(&fw)
            .args([
                "--target",
                "fw.bin",
                "--json",
                "--hub",
                &hub.base,
                "--hub-token",
                &hub.token,
            ])
            .arg("--hub-cert")
            .arg(&hub.cert)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !err.contains("panicked") && !err.contains("warning"),
            "{err}"
        );
        let out = String::from_utf8_lossy(&o.stdout);
        let rep = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
        (o.status.code().unwrap_or(-1), rep)
    };

    // No rollout yet: the device waits and says what it runs.
    let (code, r) = agent("cam-1");
    assert_eq!((code, r["result"].as_str()), (0, Some("waiting")), "{r}");
    let (st, r) = hub.api(
        "POST",
        "/rollouts",
        serde_json::json!({"target": "fw.bin", "percent": 0, "max_failure_rate": 0.3, "min_reports": 2}),
    );
    assert_eq!(st, 201, "{r}");
    let id = r["id"].as_i64().unwrap();
    let (code, r) = agent("cam-1");
    assert_eq!((code, r["result"].as_str()), (0, Some("waiting")), "{r}");
    assert!(r["detail"].as_str().unwrap().contains("0% wave"), "{r}");
    assert_eq!(r["running_version"], "1.0.0+0");

    // Widen the wave to everyone: the update goes in and the hub records it.
    let (st, _) = hub.api(
        "POST",
        &format!("/rollouts/{id}"),
        serde_json::json!({"percent": 100}),
    );
    assert_eq!(st, 200);
    let (code, r) = agent("cam-1");
    assert_eq!((code, r["result"].as_str()), (0, Some("updated")), "{r}");
    let (st, page) = hub.api("GET", "/device-updates", serde_json::Value::Null);
    assert_eq!(st, 200);
    let cam1 = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["device"] == "cam-1")
        .unwrap()
        .clone();
    assert_eq!(cam1["result"], "updated");
    assert_eq!(cam1["running_version"], "1.1.0+0");
    assert_eq!(cam1["security_counter"], 2);
    assert_eq!(cam1["rollout_id"], id);

    // A bad release (signed with an untrusted key): devices refuse it, the rollout pauses itself
    // once failures pass 30 % of at least 2 reports, and the next device is held back.
    publish(&d, "rogue.bin");
    let (code, r) = agent("cam-2");
    assert_eq!(
        (code, r["result"].as_str()),
        (3, Some("refused-image")),
        "{r}"
    );
    let (_, list) = hub.api("GET", "/rollouts", serde_json::Value::Null);
    let ro = &list[0];
    assert_eq!(ro["state"], "paused", "{list}");
    assert!(ro["note"].as_str().unwrap().contains("1 of 2"), "{ro}");
    assert_eq!(ro["stats"]["failed"], 1);
    let (code, r) = agent("cam-3");
    assert_eq!((code, r["result"].as_str()), (0, Some("waiting")), "{r}");
    assert!(r["detail"].as_str().unwrap().contains("paused"), "{r}");
    assert_eq!(
        std::fs::read_to_string(d.p("cam-3/nv-counter"))
            .unwrap()
            .trim(),
        "0",
        "a held-back device is untouched"
    );
    // Only admins steer rollouts; device reports go through the same authentication.
    let (st, page) = hub.api(
        "GET",
        &format!("/device-updates?rollout={id}"),
        serde_json::Value::Null,
    );
    assert_eq!((st, page["total"].as_u64()), (200, Some(2)), "{page}");
    let (st, _) = hub.api(
        "POST",
        &format!("/rollouts/{id}"),
        serde_json::json!({"state": "aborted"}),
    );
    assert_eq!(st, 200);
    let (st, _) = hub.api(
        "POST",
        &format!("/rollouts/{id}"),
        serde_json::json!({"state": "active"}),
    );
    assert_eq!(st, 409, "an aborted rollout is final");
}

#[test]
fn firmware_cli_handles_password_protected_keys() {
    let d = Dir::new("pw");
    let key = d.p("k.pem");
    let o = bin()
        .args(["firmware", "keygen", "-t", "ecdsa-p256", "--password", "-k"])
        .arg(&key)
        .env("PALISADE_KEY_PASSWORD", "hunter2-long")
        .output()
        .unwrap();
    ok(o);
    assert!(
        std::fs::read_to_string(&key)
            .unwrap()
            .contains("ENCRYPTED PRIVATE KEY")
    );
    std::fs::write(d.p("app.bin"), vec![0x5a; 4096]).unwrap();
    let sign = |pw: &str| {
        bin()
            .args([
                "firmware",
                "sign",
                "-v",
                "1.0.0",
                "-H",
                "0x200",
                "--pad-header",
                "-k",
            ])
            .arg(&key)
            .arg(d.p("app.bin"))
            .arg(d.p("app.img"))
            .env("PALISADE_KEY_PASSWORD", pw)
            .output()
            .unwrap()
    };
    let bad = sign("wrong");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("wrong password"));
    ok(sign("hunter2-long"));
    // The password can also come on stdin, as with imgtool's prompt.
    let mut c = bin()
        .args(["firmware", "verify", "-k"])
        .arg(&key)
        .arg(d.p("app.img"))
        .env_remove("PALISADE_KEY_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    c.stdin
        .take()
        .unwrap()
        .write_all(b"hunter2-long\n")
        .unwrap();
    ok(c.wait_with_output().unwrap());
}

/// The hub serves the TUF repository in DATA_DIR/updates itself: an agent given only `--hub`
/// fetches the metadata and the image from HUB/updates with its device token (the hub's pinned
/// certificate, no separate CA), and anonymous or path-escaping requests are refused.
#[test]
fn agent_updates_from_the_hubs_own_repository() {
    let d = Dir::new("hubrepo");
    run(&[
        "firmware",
        "keygen",
        "-k",
        d.p("fw.pem").to_str().unwrap(),
        "-t",
        "ecdsa-p256",
    ]);
    let fw = d.p("fw.pem");
    sign(&d, &fw, "1.0.0", 1, 0x11, "f1.bin");
    sign(&d, &fw, "1.1.0", 2, 0x22, "f2.bin");
    let hub = TestHub::start(&d.p("hub"));
    let repo = d.p("hub/updates");
    let kek = d.p("kek");
    let (repo_s, kek_s) = (repo.to_str().unwrap(), kek.to_str().unwrap());
    run(&["update", "init", "--repo", repo_s, "--kek", kek_s]);
    run(&[
        "update",
        "add-target",
        "--repo",
        repo_s,
        "--kek",
        kek_s,
        "--name",
        "fw.bin",
        d.p("f2.bin").to_str().unwrap(),
    ]);
    run(&["update", "publish", "--repo", repo_s, "--kek", kek_s]);
    run(&[
        "agent",
        "provision",
        "--device",
        d.p("cam-1").to_str().unwrap(),
        "--image",
        d.p("f1.bin").to_str().unwrap(),
        "--root",
        repo.join("metadata/1.root.json").to_str().unwrap(),
        "-S",
        "0x20000",
    ]);
    // A device token: analyst, so the agent can also report.
    let (st, t) = hub.api(
        "POST",
        "/tokens",
        serde_json::json!({"name": "cam-1", "role": "analyst"}),
    );
    assert_eq!(st, 201, "{t}");
    let token = t["token"].as_str().unwrap().to_owned();
    let get = |path: &str, token: Option<&str>| {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        palisade_hub::client::request(
            "GET",
            &format!("{}{path}", hub.base),
            &headers,
            b"",
            &hub.trust,
        )
        .unwrap()
    };
    let root = get("/updates/metadata/1.root.json", Some(&token));
    assert_eq!(root.status, 200, "{}", root.text());
    assert_eq!(
        root.body,
        std::fs::read(repo.join("metadata/1.root.json")).unwrap()
    );
    assert_eq!(root.header("cache-control"), Some("no-store"));
    assert_eq!(get("/updates/metadata/1.root.json", None).status, 401);
    for escape in [
        "/updates/../kek",
        "/updates/metadata/../../kek",
        "/updates/metadata/..%2f..%2fkek",
        "/updates/keys/root.pem",
        "/updates/hub.db",
    ] {
        let r = get(escape, Some(&token));
        assert!(
            r.status == 404 || r.status == 400,
            "{escape}: {} {}",
            r.status,
            r.text()
        );
        assert!(!r.text().contains("BEGIN"), "{escape} leaked a key");
    }

    let (st, r) = hub.api(
        "POST",
        "/rollouts",
        serde_json::json!({"target": "fw.bin", "percent": 100}),
    );
    assert_eq!(st, 201, "{r}");
    let agent = |token: &str| {
        bin()
            .args(["agent", "run", "--device"])
            .arg(d.p("cam-1"))
            .arg("-k")
            .arg(&fw)
            .args(["--target", "fw.bin", "--json", "--hub", &hub.base])
            .args(["--hub-token", token])
            .arg("--hub-cert")
            .arg(&hub.cert)
            .output()
            .unwrap()
    };
    // A revoked or unknown token fetches nothing (the hub answers 401 before any metadata).
    let o = agent("pal_00000000000000000000000000000000000000000000000000000000000000ff");
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = ok(agent(&token));
    let rep: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(rep["result"], "updated", "{rep}");
    assert_eq!(rep["running_version"], "1.1.0+0", "{rep}");
    let (st, page) = hub.api("GET", "/device-updates", serde_json::Value::Null);
    assert_eq!(st, 200);
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["device"] == "cam-1" && x["result"] == "updated"),
        "{page}"
    );
}

/// `firmware keygen -t rsa-2048`, and `firmware sign -E` / `decrypt` / `verify -E` with EC P-256
/// (ECIES-P256) and RSA-2048 (RSA-OAEP) encryption keys through the CLI.
#[test]
fn firmware_cli_encrypts_for_p256_and_rsa_keys() {
    let d = Dir::new("enc-cli");
    let payload: Vec<u8> = (0..9000u32).map(|i| (i * 7 % 253) as u8).collect();
    std::fs::write(d.p("app.bin"), &payload).unwrap();
    for (sign_t, enc_t) in [("ecdsa-p256", "ecdsa-p256"), ("rsa-2048", "rsa-2048")] {
        let (sk, ek) = (
            d.p(&format!("s-{sign_t}.pem")),
            d.p(&format!("e-{enc_t}.pem")),
        );
        for (k, t) in [(&sk, sign_t), (&ek, enc_t)] {
            run(&["firmware", "keygen", "-k", k.to_str().unwrap(), "-t", t]);
        }
        let img = d.p("enc.img");
        run(&[
            "firmware",
            "sign",
            "-k",
            sk.to_str().unwrap(),
            "-E",
            ek.to_str().unwrap(),
            "-v",
            "2.0.0",
            "-H",
            "0x200",
            "--pad-header",
            "-S",
            "0x20000",
            "--security-counter",
            "3",
            d.p("app.bin").to_str().unwrap(),
            img.to_str().unwrap(),
        ]);
        let info = run(&["firmware", "inspect", "--json", img.to_str().unwrap()]);
        let want = if enc_t == "rsa-2048" {
            "ENC_RSA2048"
        } else {
            "ENC_EC256"
        };
        assert!(info.contains(want), "{enc_t}: {info}");
        // Without the decryption key the image cannot be verified; with it, it is valid.
        let o = bin()
            .args(["firmware", "verify", "-k"])
            .arg(&sk)
            .arg(&img)
            .output()
            .unwrap();
        assert!(
            !o.status.success(),
            "{enc_t}: encrypted image verified blind"
        );
        run(&[
            "firmware",
            "verify",
            "-k",
            sk.to_str().unwrap(),
            "-E",
            ek.to_str().unwrap(),
            "--min-security-counter",
            "3",
            img.to_str().unwrap(),
        ]);
        let plain = d.p("plain.img");
        run(&[
            "firmware",
            "decrypt",
            "-k",
            ek.to_str().unwrap(),
            img.to_str().unwrap(),
            plain.to_str().unwrap(),
        ]);
        let p = std::fs::read(&plain).unwrap();
        assert_eq!(&p[0x200..0x200 + payload.len()], &payload[..], "{enc_t}");
        // The signing key is not the device's decryption key.
        let o = bin()
            .args(["firmware", "decrypt", "-k"])
            .arg(d.p("s-ecdsa-p256.pem"))
            .arg(&img)
            .arg(d.p("x.img"))
            .output()
            .unwrap();
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("HMAC") || err.contains("no ENC_EC256"),
            "{enc_t}: {err}"
        );
    }
}
