//! `palisade export` with real receivers and real validators: syslog over UDP, TCP
//! (listeners in the test) and TLS (`openssl s_server`), STIX 2.1 bundles through OASIS'
//! stix2-validator, OCSF Detection Findings through py-ocsf-models, webhook signatures
//! checked with `openssl dgst -hmac`, retries and the dead-letter file.
//!
//! The validators come from $ORACLES_VENV (PyPI, installed by .ci/run); tests needing a
//! missing tool skip with a message unless PALISADE_REQUIRE_ORACLES=1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_palisade")
}

fn require(ok: bool, what: &str) -> bool {
    if !ok {
        assert!(
            std::env::var("PALISADE_REQUIRE_ORACLES").as_deref() != Ok("1"),
            "{what} is required (PALISADE_REQUIRE_ORACLES=1)"
        );
        eprintln!("skipping: {what} not available");
    }
    ok
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("palisade-export-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A real report: the demo's simulated Mirai infection (C2 with a resolved name, brute
/// force, floods, cleartext credentials) over 13 devices.
fn demo_report(dir: &Path) -> (PathBuf, serde_json::Value) {
    let out = Command::new(bin())
        .args(["demo", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let p = dir.join("report.json");
    std::fs::write(&p, &out.stdout).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["alerts"].as_array().unwrap().len() >= 5);
    (p, v)
}

fn venv_tool(name: &str) -> Option<PathBuf> {
    let venv = std::env::var("ORACLES_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/palisade-oracles")
        });
    let p = venv.join("bin").join(name);
    p.exists().then_some(p)
}

fn export(args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .arg("export")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn syslog_udp_and_tcp_deliver_every_record() {
    let dir = tmpdir("syslog");
    let (report, v) = demo_report(&dir);
    let n = v["alerts"].as_array().unwrap().len() + v["devices"].as_array().unwrap().len();
    // UDP: one datagram per record.
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let url = format!("syslog://{}", udp.local_addr().unwrap());
    let out = export(&["--format", "cef", report.to_str().unwrap(), "-o", &url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got = Vec::new();
    let mut buf = [0u8; 65_535];
    while got.len() < n {
        let (k, _) = udp.recv_from(&mut buf).expect("syslog datagram");
        got.push(String::from_utf8(buf[..k].to_vec()).unwrap());
    }
    for m in &got {
        assert!(m.starts_with('<') && m.contains(">1 "), "{m}");
        assert!(m.contains(" palisade palisade "), "{m}");
        assert!(m.contains(" - CEF:0|Palisade|Palisade|"), "{m}");
    }
    // A critical alert has PRI local0.crit = 130.
    assert!(
        got.iter()
            .any(|m| m.starts_with("<130>1 ") && m.contains("|botnet.c2|"))
    );
    // TCP: RFC 6587 octet counting.
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("syslog+tcp://{}", tcp.local_addr().unwrap());
    let h = std::thread::spawn(move || {
        let (mut s, _) = tcp.accept().unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
        all
    });
    let out = export(&["--format", "leef", report.to_str().unwrap(), "-o", &url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = h.join().unwrap();
    let mut frames = Vec::new();
    let mut rest = &all[..];
    while !rest.is_empty() {
        let sp = rest.iter().position(|&b| b == b' ').expect("length prefix");
        let len: usize = std::str::from_utf8(&rest[..sp]).unwrap().parse().unwrap();
        frames.push(String::from_utf8(rest[sp + 1..sp + 1 + len].to_vec()).unwrap());
        rest = &rest[sp + 1 + len..];
    }
    assert_eq!(frames.len(), n);
    assert!(
        frames
            .iter()
            .all(|f| f.contains("LEEF:2.0|Palisade|Palisade|"))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn openssl(args: &[&str], dir: &Path) {
    let st = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "openssl {args:?}");
}

#[test]
fn syslog_tls_to_openssl_s_server() {
    if !require(
        Command::new("openssl").arg("version").output().is_ok(),
        "openssl",
    ) {
        return;
    }
    let dir = tmpdir("tls");
    let (report, v) = demo_report(&dir);
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut a = vec![
        "req",
        "-x509",
        "-days",
        "1",
        "-subj",
        "/CN=palisade test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ];
    a.extend_from_slice(&ec);
    openssl(&a, &dir);
    let mut a = vec![
        "req",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "srv.key",
        "-out",
        "srv.csr",
    ];
    a.extend_from_slice(&ec);
    openssl(&a, &dir);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
            "-out",
            "srv.pem",
        ],
        &dir,
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new("openssl")
        .args([
            "s_server",
            "-quiet",
            "-accept",
            &format!("127.0.0.1:{port}"),
            "-cert",
            "srv.pem",
            "-key",
            "srv.key",
            "-naccept",
            "1",
        ])
        .current_dir(&dir)
        // s_server ends the session when its stdin closes: keep a pipe open.
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // s_server prints what the client sends and exits after the one session (-naccept 1).
    let mut stdout = server.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = stdout.read_to_end(&mut all);
        all
    });
    std::thread::sleep(Duration::from_millis(1000));
    let url = format!("syslog+tls://127.0.0.1:{port}");
    let ca = dir.join("ca.pem");
    let out = export(&[
        "--format",
        "cef",
        report.to_str().unwrap(),
        "-o",
        &url,
        "--ca",
        ca.to_str().unwrap(),
        "--server-name",
        "localhost",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // It exits by itself once the session ends (flushing what it printed).
    for _ in 0..100 {
        if let Ok(Some(_)) = server.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = server.kill();
    let _ = server.wait();
    let all = String::from_utf8_lossy(&reader.join().unwrap()).to_string();
    let n = v["alerts"].as_array().unwrap().len() + v["devices"].as_array().unwrap().len();
    assert_eq!(all.matches("CEF:0|Palisade|").count(), n, "{all}");
    // A wrong CA must fail the handshake.
    openssl(
        &[
            "req",
            "-x509",
            "-days",
            "1",
            "-subj",
            "/CN=other",
            "-keyout",
            "o.key",
            "-out",
            "o.pem",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ],
        &dir,
    );
    let mut server = Command::new("openssl")
        .args([
            "s_server",
            "-quiet",
            "-accept",
            &format!("127.0.0.1:{port}"),
            "-cert",
            "srv.pem",
            "-key",
            "srv.key",
        ])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let out = export(&[
        "--format",
        "cef",
        report.to_str().unwrap(),
        "-o",
        &url,
        "--ca",
        dir.join("o.pem").to_str().unwrap(),
        "--server-name",
        "localhost",
    ]);
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        !out.status.success(),
        "a server outside the given CA must be refused"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stix_bundle_passes_stix2_validator() {
    let dir = tmpdir("stix");
    let (report, v) = demo_report(&dir);
    let out_path = dir.join("bundle.json");
    let out = export(&[
        "--format",
        "stix",
        report.to_str().unwrap(),
        "-o",
        out_path.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let b: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out_path).unwrap()).unwrap();
    let patterns: Vec<&str> = b["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["pattern"].as_str())
        .collect();
    for a in v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "botnet.c2")
    {
        let dst = a["dst"].as_str().unwrap();
        assert!(
            patterns.iter().any(|p| p.contains(&format!("'{dst}'"))),
            "{dst} not in {patterns:?}"
        );
        if let Some(name) = a["evidence"]["resolved_from"].as_str() {
            assert!(patterns.contains(&format!("[domain-name:value = '{name}']").as_str()));
        }
    }
    let Some(validator) = venv_tool("stix2_validator") else {
        require(false, "stix2-validator (PyPI, in $ORACLES_VENV)");
        return;
    };
    let out = Command::new(validator)
        .arg("--strict")
        .arg(&out_path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("STIX JSON: Valid"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ocsf_findings_validate_against_py_ocsf_models() {
    let dir = tmpdir("ocsf");
    let (report, v) = demo_report(&dir);
    let out_path = dir.join("ocsf.ndjson");
    let out = export(&[
        "--format",
        "ocsf",
        report.to_str().unwrap(),
        "-o",
        out_path.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let text = std::fs::read_to_string(&out_path).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let findings = events.iter().filter(|e| e["class_uid"] == 2004).count();
    let inventory = events.iter().filter(|e| e["class_uid"] == 5001).count();
    assert_eq!(findings, v["alerts"].as_array().unwrap().len());
    assert_eq!(inventory, v["devices"].as_array().unwrap().len());
    for e in &events {
        let class = e["class_uid"].as_u64().unwrap();
        for k in palisade_required(class) {
            assert!(!e[*k].is_null(), "class {class} lacks {k}");
        }
        assert_eq!(
            e["type_uid"].as_u64().unwrap(),
            class * 100 + e["activity_id"].as_u64().unwrap()
        );
    }
    let Some(python) = venv_tool("python") else {
        require(false, "py-ocsf-models (PyPI, in $ORACLES_VENV)");
        return;
    };
    let script = "import json,sys\nfrom py_ocsf_models.events.findings.detection_finding import DetectionFinding\nn=0\nfor l in open(sys.argv[1]):\n    d=json.loads(l)\n    if d['class_uid']==2004:\n        DetectionFinding.model_validate(d); n+=1\nprint('validated', n)\n";
    let out = Command::new(python)
        .args(["-c", script])
        .arg(&out_path)
        .output()
        .unwrap();
    if !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("No module named") {
        require(false, "py-ocsf-models (PyPI, in $ORACLES_VENV)");
        return;
    }
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("validated {findings}")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn palisade_required(class: u64) -> &'static [&'static str] {
    match class {
        2004 => &[
            "activity_id",
            "category_uid",
            "class_uid",
            "finding_info",
            "metadata",
            "severity_id",
            "time",
            "type_uid",
        ],
        5001 => &[
            "activity_id",
            "category_uid",
            "class_uid",
            "device",
            "metadata",
            "severity_id",
            "time",
            "type_uid",
        ],
        _ => panic!("unexpected class {class}"),
    }
}

/// A tiny HTTP server: answers the first `fail_first` requests with 503, then 200, and
/// records (signature header, body) of each request.
/// (signature header, body) of each request received.
type Seen = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

fn webhook_server(fail_first: usize) -> (u16, Seen) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for (i, conn) in l.incoming().enumerate() {
            let Ok(mut c) = conn else { continue };
            let mut r = BufReader::new(c.try_clone().unwrap());
            let (mut len, mut sig) = (0usize, String::new());
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                if lower.starts_with("x-palisade-signature:") {
                    sig = line.split_once(':').unwrap().1.trim().to_string();
                }
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            s2.lock().unwrap().push((sig, body));
            let status = if i < fail_first {
                "503 Service Unavailable"
            } else {
                "200 OK"
            };
            let _ = c.write_all(
                format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
        }
    });
    (port, seen)
}

#[test]
fn webhook_signed_retried_and_dead_lettered() {
    let dir = tmpdir("webhook");
    let (report, v) = demo_report(&dir);
    let n = v["alerts"].as_array().unwrap().len();
    let secret = dir.join("secret");
    std::fs::write(&secret, b"s3cr3t-key").unwrap();
    let (port, seen) = webhook_server(2);
    let dl = dir.join("dead.ndjson");
    let out = export(&[
        "--format",
        "csv",
        report.to_str().unwrap(),
        "-o",
        dir.join("out.csv").to_str().unwrap(),
        "--webhook",
        &format!("http://127.0.0.1:{port}/hook"),
        "--webhook-secret-file",
        secret.to_str().unwrap(),
        "--dead-letter",
        dl.to_str().unwrap(),
        "--webhook-backoff-ms",
        "10",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = seen.lock().unwrap().clone();
    // Two 503s, retried: n + 2 requests, n distinct bodies delivered.
    assert_eq!(got.len(), n + 2);
    assert!(!dl.exists());
    let have_openssl = require(
        Command::new("openssl").arg("version").output().is_ok(),
        "openssl",
    );
    for (sig, body) in got.iter().take(3) {
        assert!(sig.starts_with("sha256="));
        if have_openssl {
            let bf = dir.join("body.json");
            std::fs::write(&bf, body).unwrap();
            let o = Command::new("openssl")
                .args(["dgst", "-sha256", "-hmac", "s3cr3t-key", "-r"])
                .arg(&bf)
                .output()
                .unwrap();
            let hex = String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .next()
                .unwrap()
                .to_string();
            assert_eq!(sig.trim_start_matches("sha256="), hex);
        }
    }
    // Nothing listening: every body goes to the dead-letter file, exit 1.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = export(&[
        "--format",
        "csv",
        report.to_str().unwrap(),
        "-o",
        dir.join("out2.csv").to_str().unwrap(),
        "--webhook",
        &format!("http://127.0.0.1:{closed}/"),
        "--dead-letter",
        dl.to_str().unwrap(),
        "--webhook-attempts",
        "2",
        "--webhook-backoff-ms",
        "5",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&dl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), n);
    assert_eq!(lines[0]["attempts"], 2);
    assert_eq!(lines[0]["body"]["type"], "alert");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn csv_html_ecs_from_ndjson_events() {
    let dir = tmpdir("docs");
    let out = Command::new(bin())
        .args(["demo", "--format", "ndjson"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let events = dir.join("events.ndjson");
    std::fs::write(&events, &out.stdout).unwrap();
    let alerts = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("\"type\":\"alert\""))
        .count();
    let o = export(&["--format", "html", events.to_str().unwrap()]);
    assert!(o.status.success());
    let html = String::from_utf8(o.stdout).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("<script") && !html.contains("src=\"http"));
    assert_eq!(html.matches("<tr class=").count(), alerts);
    let o = export(&["--format", "ecs", events.to_str().unwrap()]);
    assert!(o.status.success());
    let ecs: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        ecs.iter().filter(|e| e["event"]["kind"] == "alert").count(),
        alerts
    );
    let o = export(&["--format", "csv", events.to_str().unwrap()]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("id,kind,severity,"));
    // Unusable input: exit 2 with the line number.
    let bad = dir.join("bad.ndjson");
    std::fs::write(&bad, "{\"type\":\"alert\"}\n{oops\n").unwrap();
    let o = export(&["--format", "cef", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("line 2"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// An HTTPS webhook receiver: Python's http.server behind its ssl module (OpenSSL), with a
/// leaf certificate signed by a throw-away CA made by the openssl CLI. Prints its port,
/// then one line per POST: the signature header and the body.
const HTTPS_RECEIVER: &str = r#"
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        sys.stdout.write(self.headers.get("X-Palisade-Signature", "-") + " " + body.decode() + "\n")
        sys.stdout.flush()
        self.send_response(204); self.end_headers()
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[1], sys.argv[2])
s.socket = ctx.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

#[test]
fn https_webhook_with_custom_ca_and_analyze_export_flags() {
    if !require(
        Command::new("openssl").arg("version").output().is_ok(),
        "openssl",
    ) || !require(
        Command::new("python3").arg("-V").output().is_ok(),
        "python3",
    ) {
        return;
    }
    let dir = tmpdir("https-webhook");
    let sh = |args: &str| {
        let st = Command::new("sh")
            .arg("-c")
            .arg(args)
            .current_dir(&dir)
            .status()
            .unwrap();
        assert!(st.success(), "{args}");
    };
    sh(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=palisade test CA' 2>/dev/null",
    );
    sh(
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key -out leaf.csr -subj '/CN=localhost' 2>/dev/null",
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    sh(
        "openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out leaf.pem -days 2 -extfile ext.cnf 2>/dev/null",
    );
    std::fs::write(dir.join("secret"), b"s3cret").unwrap();
    let mut server = Command::new("python3")
        .args(["-c", HTTPS_RECEIVER])
        .arg(dir.join("leaf.pem"))
        .arg(dir.join("leaf.key"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let port: u16 = lines.next().unwrap().unwrap().trim().parse().unwrap();
    let url = format!("https://localhost:{port}/hook");
    // analyze with the delivery flags: CEF records to a file and every alert to the webhook.
    let pcap = dir.join("demo.pcap");
    let st = Command::new(bin())
        .args(["demo", "--write-pcap"])
        .arg(&pcap)
        .arg("-o")
        .arg(dir.join("demo.json"))
        .status()
        .unwrap();
    assert!(st.success());
    let cef = dir.join("alerts.cef");
    let out = Command::new(bin())
        .arg("analyze")
        .arg(&pcap)
        .args(["--format", "json", "-o"])
        .arg(dir.join("report.json"))
        .arg("--export")
        .arg(&cef)
        .args(["--export-format", "cef", "--webhook", &url, "--webhook-ca"])
        .arg(dir.join("ca.pem"))
        .arg("--webhook-secret-file")
        .arg(dir.join("secret"))
        .arg("--dead-letter")
        .arg(dir.join("dead.ndjson"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let alerts = report["alerts"].as_array().unwrap().len();
    assert!(alerts > 0);
    let cef_text = std::fs::read_to_string(&cef).unwrap();
    assert_eq!(
        cef_text.lines().filter(|l| l.starts_with("CEF:0|")).count(),
        alerts + report["devices"].as_array().unwrap().len()
    );
    for _ in 0..alerts {
        let line = lines.next().unwrap().unwrap();
        let (sig, body) = line.split_once(' ').unwrap();
        assert!(
            palisade_export::webhook::verify(b"s3cret", body.as_bytes(), sig),
            "bad signature {sig}"
        );
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["type"], "alert");
    }
    assert!(!dir.join("dead.ndjson").exists());
    // With the system store instead of the test CA the server is not trusted: every body
    // is dead-lettered.
    let out = Command::new(bin())
        .args(["export", "--format", "cef"])
        .arg(dir.join("report.json"))
        .arg("-o")
        .arg(dir.join("x.cef"))
        .args(["--webhook", &url, "--webhook-attempts", "1"])
        .arg("--dead-letter")
        .arg(dir.join("dead2.ndjson"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let dead = std::fs::read_to_string(dir.join("dead2.ndjson")).unwrap();
    assert_eq!(dead.lines().count(), alerts);
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
