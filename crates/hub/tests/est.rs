//! EST (RFC 7030) against a running hub over real HTTPS: a client built from `openssl req`,
//! `openssl base64` and `curl` enrolls with a one-time token; openssl checks the PKCS#7 and the
//! issued certificate. Skips without openssl/curl unless PALISADE_REQUIRE_ORACLES=1.
//! `est_enrollment_rate` is the bench for the bar "10,000 devices in ≤ 60 s"
//! (PALISADE_EST_BENCH_N=10000 for the full run).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use palisade_hub::client::{Trust, request};
use palisade_hub::{Hub, HubConfig};
use palisade_pki::{CaRepo, Kek, KeyKind, Policy};

static N: AtomicU32 = AtomicU32::new(0);

struct Running {
    base: String,
    trust: Trust,
    dir: PathBuf,
    cert_path: PathBuf,
    rt: tokio::runtime::Runtime,
}

/// A hub with TLS and a CA in DATA_DIR/ca sharing the hub's KEK; returns tokens for `devices`.
fn start(devices: &[&str]) -> (Running, Vec<String>) {
    start_with(devices, true)
}

fn start_with(devices: &[&str], tls: bool) -> (Running, Vec<String>) {
    let dir = std::env::temp_dir().join(format!(
        "palisade-est-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let kek = Kek::load_or_create(&dir.join("kek")).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut repo = CaRepo::init(
        &dir.join("ca"),
        kek,
        "EST Test",
        KeyKind::P256,
        Policy::default(),
        now,
    )
    .unwrap();
    let tokens = repo.create_tokens(devices, 3600, now).unwrap();
    drop(repo);
    let cfg = HubConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.clone(),
        tls,
        ..HubConfig::default()
    };
    let hub = Hub::prepare(&cfg).unwrap();
    let cert_path = hub.cert_path.clone().unwrap_or_default();
    let trust = match &hub.cert_path {
        Some(p) => palisade_hub::client::pinned_from_pem(&std::fs::read(p).unwrap()).unwrap(),
        None => Trust::Any,
    };
    let scheme = hub.scheme();
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
    (
        Running {
            base: format!("{scheme}://{addr}"),
            trust,
            dir,
            cert_path,
            rt,
        },
        tokens,
    )
}

fn have(tool: &str, arg: &str) -> bool {
    let ok = Command::new(tool)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("PALISADE_REQUIRE_ORACLES").as_deref() != Ok("1"),
            "{tool} is required (PALISADE_REQUIRE_ORACLES=1) but not installed"
        );
        eprintln!("skipping: {tool} not installed");
    }
    ok
}

fn sh(dir: &Path, prog: &str, args: &[&str]) -> (bool, String) {
    let o = Command::new(prog)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("spawn");
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

fn must(dir: &Path, prog: &str, args: &[&str]) -> String {
    let (ok, t) = sh(dir, prog, args);
    assert!(ok, "{prog} {args:?}: {t}");
    t
}

#[test]
fn est_with_openssl_and_curl() {
    if !have("openssl", "version") || !have("curl", "--version") {
        return;
    }
    let (hub, tokens) = start(&["dev-1", "dev-2"]);
    let d = hub.dir.clone();
    let cacert = hub.cert_path.to_str().unwrap().to_owned();
    let url = |p: &str| format!("{}/.well-known/est/{p}", hub.base);

    // cacerts: base64 PKCS#7 with the issuing CA and the root.
    must(
        &d,
        "curl",
        &[
            "-sS",
            "--fail",
            "--cacert",
            &cacert,
            &url("cacerts"),
            "-o",
            "cacerts.b64",
        ],
    );
    must(
        &d,
        "openssl",
        &["base64", "-d", "-in", "cacerts.b64", "-out", "cacerts.p7"],
    );
    let text = must(
        &d,
        "openssl",
        &[
            "pkcs7",
            "-inform",
            "DER",
            "-in",
            "cacerts.p7",
            "-print_certs",
            "-out",
            "ca-chain.pem",
        ],
    );
    let chain = std::fs::read_to_string(d.join("ca-chain.pem")).unwrap();
    assert_eq!(
        chain.matches("BEGIN CERTIFICATE").count(),
        2,
        "{text}{chain}"
    );
    assert!(
        chain.contains("EST Test Root CA") && chain.contains("EST Test Issuing CA"),
        "{chain}"
    );

    // The device: key + CSR with openssl, base64 DER body, HTTP Basic with the token as password.
    must(
        &d,
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "dev1.key",
        ],
    );
    must(
        &d,
        "openssl",
        &[
            "req",
            "-new",
            "-key",
            "dev1.key",
            "-subj",
            "/CN=dev-1",
            "-outform",
            "DER",
            "-out",
            "dev1.csr",
        ],
    );
    must(
        &d,
        "openssl",
        &["base64", "-in", "dev1.csr", "-out", "dev1.csr.b64"],
    );
    let enroll = |body: &str, auth: &[&str], out: &str| -> String {
        let mut args = vec![
            "-sS",
            "--cacert",
            &cacert,
            "-o",
            out,
            "-w",
            "%{http_code}",
            "-H",
            "Content-Type: application/pkcs10",
            "--data-binary",
            body,
        ];
        args.extend_from_slice(auth);
        let u = url("simpleenroll");
        args.push(&u);
        must(&d, "curl", &args).trim().to_owned()
    };
    let basic = format!("dev-1:{}", tokens[0]);
    let code = enroll("@dev1.csr.b64", &["-u", &basic], "dev1.p7.b64");
    assert_eq!(
        code,
        "200",
        "{}",
        std::fs::read_to_string(d.join("dev1.p7.b64")).unwrap_or_default()
    );
    must(
        &d,
        "openssl",
        &["base64", "-d", "-in", "dev1.p7.b64", "-out", "dev1.p7"],
    );
    must(
        &d,
        "openssl",
        &[
            "pkcs7",
            "-inform",
            "DER",
            "-in",
            "dev1.p7",
            "-print_certs",
            "-out",
            "dev1.pem",
        ],
    );
    let verify = must(
        &d,
        "openssl",
        &[
            "verify",
            "-purpose",
            "sslclient",
            "-CAfile",
            "ca-chain.pem",
            "dev1.pem",
        ],
    );
    assert!(verify.contains("dev1.pem: OK"), "{verify}");
    let text = must(
        &d,
        "openssl",
        &["x509", "-in", "dev1.pem", "-noout", "-text"],
    );
    assert!(text.contains("URI:urn:palisade:device:dev-1"), "{text}");
    // The certificate carries the device's own key.
    let k1 = must(&d, "openssl", &["pkey", "-in", "dev1.key", "-pubout"]);
    let k2 = must(
        &d,
        "openssl",
        &["x509", "-in", "dev1.pem", "-noout", "-pubkey"],
    );
    assert_eq!(k1, k2);

    // The token is one-time.
    let code = enroll("@dev1.csr.b64", &["-u", &basic], "replay.txt");
    assert_eq!(code, "401");
    assert!(
        std::fs::read_to_string(d.join("replay.txt"))
            .unwrap()
            .contains("already used")
    );
    // Bearer works, but the naming policy binds the token to dev-2.
    let bearer = format!("Authorization: Bearer {}", tokens[1]);
    let code = enroll("@dev1.csr.b64", &["-H", &bearer], "mismatch.txt");
    assert_eq!(code, "400");
    assert!(
        std::fs::read_to_string(d.join("mismatch.txt"))
            .unwrap()
            .contains("does not match")
    );
    // No credentials: 401 with a Basic challenge.
    let r = request("POST", &url("simpleenroll"), &[], b"MIIB", &hub.trust).unwrap();
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate")
            .is_some_and(|h| h.starts_with("Basic"))
    );
    // Garbage CSR: 400 with a clear message; the token is not spent.
    let r = request(
        "POST",
        &url("simpleenroll"),
        &[("Authorization", &format!("Bearer {}", tokens[1]))],
        b"bm90IGEgY3Ny",
        &hub.trust,
    )
    .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("CSR"), "{}", r.text());
    must(
        &d,
        "openssl",
        &["genpkey", "-algorithm", "ED25519", "-out", "dev2.key"],
    );
    must(
        &d,
        "openssl",
        &[
            "req",
            "-new",
            "-key",
            "dev2.key",
            "-subj",
            "/CN=dev-2",
            "-outform",
            "DER",
            "-out",
            "dev2.csr",
        ],
    );
    must(
        &d,
        "openssl",
        &["base64", "-in", "dev2.csr", "-out", "dev2.csr.b64"],
    );
    let code = enroll("@dev2.csr.b64", &["-H", &bearer], "dev2.p7.b64");
    assert_eq!(code, "200");
    // simplereenroll needs the current certificate as TLS client certificate.
    let r = request("POST", &url("simplereenroll"), &[], b"MIIB", &hub.trust).unwrap();
    assert_eq!(r.status, 401);
    let _ = std::fs::remove_dir_all(&hub.dir);
}

/// Bench: N simulated devices (default 300; PALISADE_EST_BENCH_N=10000 for the bar), each with
/// its own P-256 key and CSR, enroll over HTTPS (new TLS connection per request) with 4 client
/// threads. Asserts the rate meets 10,000 devices in 60 s.
#[test]
fn est_enrollment_rate() {
    let n: usize = std::env::var("PALISADE_EST_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let ids: Vec<String> = (0..n).map(|i| format!("sim-{i:05}")).collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let (hub, tokens) = start(&id_refs);
    // Device side work (key generation + CSR) is done up front: the bar is about the hub.
    let csrs: Vec<Vec<u8>> = ids
        .iter()
        .map(|id| {
            let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
            let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            p.distinguished_name = rcgen::DistinguishedName::new();
            p.distinguished_name
                .push(rcgen::DnType::CommonName, id.as_str());
            let der = p.serialize_request(&key).unwrap().der().to_vec();
            palisade_pki::pkcs7::base64_lines(&der).into_bytes()
        })
        .collect();
    let url = format!("{}/.well-known/est/simpleenroll", hub.base);
    let threads = 4;
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (csrs, tokens, url, trust) = (&csrs, &tokens, &url, &hub.trust);
            s.spawn(move || {
                for i in (t..csrs.len()).step_by(threads) {
                    let auth = format!("Bearer {}", tokens[i]);
                    let r = request(
                        "POST",
                        url,
                        &[
                            ("Authorization", &auth),
                            ("Content-Type", "application/pkcs10"),
                        ],
                        &csrs[i],
                        trust,
                    )
                    .unwrap();
                    assert_eq!(r.status, 200, "{}", r.text());
                }
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let per_10k = secs * 10_000.0 / n as f64;
    eprintln!(
        "EST: {n} enrollments in {secs:.2} s ({:.0}/s; 10,000 would take {per_10k:.1} s)",
        n as f64 / secs
    );
    let kek = Kek::load_or_create(&hub.dir.join("kek")).unwrap();
    let repo = CaRepo::open(&hub.dir.join("ca"), kek).unwrap();
    assert_eq!(repo.list().len(), n);
    assert!(
        per_10k <= 60.0,
        "EST too slow: 10,000 enrollments would take {per_10k:.1} s"
    );
    let _ = std::fs::remove_dir_all(&hub.dir);
}

/// The mTLS gateway judged by curl: a device certificate from EST gets in (TLS 1.3 only), no
/// certificate / a foreign certificate / TLS 1.2 / a revoked certificate do not; the current
/// certificate authorizes EST simplereenroll.
#[test]
fn gateway_mtls_with_curl() {
    if !have("openssl", "version") || !have("curl", "--version") {
        return;
    }
    let (hub, tokens) = start(&["gw-1", "gw-2"]);
    let d = hub.dir.clone();
    let hub_ca = hub.cert_path.to_str().unwrap().to_owned();
    // Enroll both devices over EST (openssl + curl), as in the test above.
    for (id, token) in ["gw-1", "gw-2"].iter().zip(&tokens) {
        must(
            &d,
            "openssl",
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                &format!("{id}.key"),
            ],
        );
        must(
            &d,
            "openssl",
            &[
                "req",
                "-new",
                "-key",
                &format!("{id}.key"),
                "-subj",
                &format!("/CN={id}"),
                "-outform",
                "DER",
                "-out",
                &format!("{id}.csr"),
            ],
        );
        must(
            &d,
            "openssl",
            &[
                "base64",
                "-in",
                &format!("{id}.csr"),
                "-out",
                &format!("{id}.b64"),
            ],
        );
        must(
            &d,
            "curl",
            &[
                "-sS",
                "--fail",
                "--cacert",
                &hub_ca,
                "-H",
                &format!("Authorization: Bearer {token}"),
                "--data-binary",
                &format!("@{id}.b64"),
                "-o",
                &format!("{id}.p7.b64"),
                &format!("{}/.well-known/est/simpleenroll", hub.base),
            ],
        );
        must(
            &d,
            "openssl",
            &[
                "base64",
                "-d",
                "-in",
                &format!("{id}.p7.b64"),
                "-out",
                &format!("{id}.p7"),
            ],
        );
        must(
            &d,
            "openssl",
            &[
                "pkcs7",
                "-inform",
                "DER",
                "-in",
                &format!("{id}.p7"),
                "-print_certs",
                "-out",
                &format!("{id}.pem"),
            ],
        );
    }
    std::fs::copy(d.join("ca/chain.pem"), d.join("chain.pem")).unwrap();

    let gw = palisade_hub::gateway::Gateway::prepare(
        &palisade_hub::gateway::GatewayConfig::for_data_dir(&d, "127.0.0.1:0".parse().unwrap()),
    )
    .unwrap();
    let addr = hub.rt.block_on(async {
        let (addr, fut) = gw.bind(std::future::pending()).await.unwrap();
        tokio::spawn(fut);
        addr
    });
    let gw_url = |p: &str| format!("https://127.0.0.1:{}{p}", addr.port());
    let curl = |extra: &[&str], path: &str| -> (bool, String) {
        let mut args = vec!["-sS", "--fail", "--cacert", "chain.pem"];
        args.extend_from_slice(extra);
        let u = gw_url(path);
        args.push(&u);
        sh(&d, "curl", &args)
    };
    let (ok, out) = curl(&["--cert", "gw-1.pem", "--key", "gw-1.key"], "/v1/whoami");
    assert!(ok, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["device_id"], "gw-1");
    // No client certificate: the handshake is refused.
    let (ok, out) = curl(&[], "/v1/whoami");
    assert!(!ok, "{out}");
    // TLS 1.2 is refused even with a good certificate.
    let (ok, out) = curl(
        &[
            "--tls-max",
            "1.2",
            "--cert",
            "gw-1.pem",
            "--key",
            "gw-1.key",
        ],
        "/v1/whoami",
    );
    assert!(!ok, "{out}");
    // A self-signed certificate claiming the same device id is refused.
    must(
        &d,
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "fake.key",
            "-out",
            "fake.pem",
            "-subj",
            "/CN=gw-1",
            "-days",
            "2",
            "-addext",
            "extendedKeyUsage=clientAuth",
        ],
    );
    let (ok, out) = curl(&["--cert", "fake.pem", "--key", "fake.key"], "/v1/whoami");
    assert!(!ok, "{out}");

    // simplereenroll authorized by the current certificate: new key, same device id.
    must(
        &d,
        "openssl",
        &["genpkey", "-algorithm", "ED25519", "-out", "gw-1b.key"],
    );
    must(
        &d,
        "openssl",
        &[
            "req",
            "-new",
            "-key",
            "gw-1b.key",
            "-subj",
            "/CN=gw-1",
            "-outform",
            "DER",
            "-out",
            "gw-1b.csr",
        ],
    );
    must(
        &d,
        "openssl",
        &["base64", "-in", "gw-1b.csr", "-out", "gw-1b.b64"],
    );
    let (ok, out) = curl(
        &[
            "--cert",
            "gw-1.pem",
            "--key",
            "gw-1.key",
            "-H",
            "Content-Type: application/pkcs10",
            "--data-binary",
            "@gw-1b.b64",
            "-o",
            "gw-1b.p7.b64",
        ],
        "/.well-known/est/simplereenroll",
    );
    assert!(ok, "{out}");
    must(
        &d,
        "openssl",
        &["base64", "-d", "-in", "gw-1b.p7.b64", "-out", "gw-1b.p7"],
    );
    must(
        &d,
        "openssl",
        &[
            "pkcs7",
            "-inform",
            "DER",
            "-in",
            "gw-1b.p7",
            "-print_certs",
            "-out",
            "gw-1b.pem",
        ],
    );
    let text = must(
        &d,
        "openssl",
        &[
            "verify",
            "-purpose",
            "sslclient",
            "-CAfile",
            "chain.pem",
            "gw-1b.pem",
        ],
    );
    assert!(text.contains("OK"), "{text}");
    let (ok, out) = curl(&["--cert", "gw-1b.pem", "--key", "gw-1b.key"], "/v1/whoami");
    assert!(ok && out.contains("gw-1"), "{out}");

    // Revoke gw-1 (both certificates): refused within about a second, gw-2 unaffected.
    let kek = Kek::load_or_create(&d.join("kek")).unwrap();
    let mut repo = CaRepo::open(&d.join("ca"), kek).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert_eq!(
        repo.revoke("gw-1", palisade_pki::Reason::KeyCompromise, now)
            .unwrap()
            .len(),
        2
    );
    std::thread::sleep(std::time::Duration::from_millis(1200));
    for (cert, key) in [("gw-1.pem", "gw-1.key"), ("gw-1b.pem", "gw-1b.key")] {
        let (ok, out) = curl(&["--cert", cert, "--key", key], "/v1/whoami");
        assert!(!ok, "revoked {cert} still accepted: {out}");
    }
    let (ok, out) = curl(&["--cert", "gw-2.pem", "--key", "gw-2.key"], "/v1/whoami");
    assert!(ok && out.contains("gw-2"), "{out}");
    let _ = std::fs::remove_dir_all(&hub.dir);
}

/// CRL and OCSP published by the hub over plain HTTP, judged by `openssl crl`, `openssl verify
/// -crl_check` and `openssl ocsp -url` (a real OCSP client round trip).
#[test]
fn hub_publishes_crl_and_answers_ocsp() {
    if !have("openssl", "version") || !have("curl", "--version") {
        return;
    }
    let (hub, tokens) = start_with(&["ocsp-1"], false);
    let d = hub.dir.clone();
    must(
        &d,
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "o.key",
        ],
    );
    must(
        &d,
        "openssl",
        &[
            "req",
            "-new",
            "-key",
            "o.key",
            "-subj",
            "/CN=ocsp-1",
            "-outform",
            "DER",
            "-out",
            "o.csr",
        ],
    );
    must(&d, "openssl", &["base64", "-in", "o.csr", "-out", "o.b64"]);
    must(
        &d,
        "curl",
        &[
            "-sS",
            "--fail",
            "-H",
            &format!("Authorization: Bearer {}", tokens[0]),
            "--data-binary",
            "@o.b64",
            "-o",
            "o.p7.b64",
            &format!("{}/.well-known/est/simpleenroll", hub.base),
        ],
    );
    must(
        &d,
        "openssl",
        &["base64", "-d", "-in", "o.p7.b64", "-out", "o.p7"],
    );
    must(
        &d,
        "openssl",
        &[
            "pkcs7",
            "-inform",
            "DER",
            "-in",
            "o.p7",
            "-print_certs",
            "-out",
            "o.pem",
        ],
    );
    must(
        &d,
        "curl",
        &[
            "-sS",
            "--fail",
            "-o",
            "chain.pem",
            &format!("{}/pki/ca.pem", hub.base),
        ],
    );
    std::fs::copy(d.join("ca/issuing.pem"), d.join("issuing.pem")).unwrap();
    let ocsp = || {
        sh(
            &d,
            "openssl",
            &[
                "ocsp",
                "-issuer",
                "issuing.pem",
                "-cert",
                "o.pem",
                "-CAfile",
                "chain.pem",
                "-url",
                &format!("{}/pki/ocsp", hub.base),
            ],
        )
    };
    let (ok, text) = ocsp();
    assert!(
        ok && text.contains("Response verify OK") && text.contains("o.pem: good"),
        "{text}"
    );
    let crl_check = || {
        must(
            &d,
            "curl",
            &[
                "-sS",
                "--fail",
                "-o",
                "crl.der",
                &format!("{}/pki/crl", hub.base),
            ],
        );
        must(
            &d,
            "openssl",
            &["crl", "-inform", "DER", "-in", "crl.der", "-out", "crl.pem"],
        );
        let t = must(
            &d,
            "openssl",
            &["crl", "-in", "crl.pem", "-noout", "-CAfile", "chain.pem"],
        );
        assert!(t.contains("verify OK"), "{t}");
        sh(
            &d,
            "openssl",
            &[
                "verify",
                "-crl_check",
                "-CAfile",
                "chain.pem",
                "-CRLfile",
                "crl.pem",
                "o.pem",
            ],
        )
    };
    let (ok, text) = crl_check();
    assert!(ok, "{text}");
    // Unchanged state: the same CRL is served (not re-signed per request).
    let first = std::fs::read(d.join("crl.der")).unwrap();
    crl_check();
    assert_eq!(first, std::fs::read(d.join("crl.der")).unwrap());

    let kek = Kek::load_or_create(&d.join("kek")).unwrap();
    let mut repo = CaRepo::open(&d.join("ca"), kek).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    repo.revoke("ocsp-1", palisade_pki::Reason::CessationOfOperation, now)
        .unwrap();
    let (ok, text) = ocsp();
    assert!(
        ok && text.contains("o.pem: revoked") && text.contains("cessationOfOperation"),
        "{text}"
    );
    let (ok, text) = crl_check();
    assert!(!ok && text.contains("certificate revoked"), "{text}");
    // Garbage to the OCSP endpoint: a malformedRequest OCSP response, not an HTTP error.
    let r = request(
        "POST",
        &format!("{}/pki/ocsp", hub.base),
        &[],
        b"garbage",
        &hub.trust,
    )
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, vec![0x30, 0x03, 0x0a, 0x01, 0x01]);
    let _ = std::fs::remove_dir_all(&hub.dir);
}
