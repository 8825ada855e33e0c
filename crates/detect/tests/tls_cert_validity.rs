//! `tls.weak` certificate validity against a real TLS server: `openssl s_server` with a
//! certificate valid for one day answers a ClientHello; the server's real flight is then
//! judged at packet times before, inside and after that day. openssl's own reading of
//! the dates (`openssl x509 -dates`) is the oracle for the parsed validity.
//!
//! Skips when `openssl` is missing, unless PALISADE_REQUIRE_ORACLES=1.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use palisade_detect::{DetectConfig, FlowDet, FlowDetector, TcpPayload, finalize};

const SEC: i64 = 1_000_000_000;
const CAM: [u8; 4] = [192, 168, 1, 30];
const PHONE: [u8; 4] = [192, 168, 1, 40];

fn have_openssl() -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("PALISADE_REQUIRE_ORACLES").as_deref() != Ok("1"),
            "openssl is required (PALISADE_REQUIRE_ORACLES=1)"
        );
        eprintln!("skipping: openssl not installed");
    }
    ok
}

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `notBefore=2026-11-25 07:10:00Z` → seconds since the epoch, read by `date`.
fn openssl_date(line: &str) -> i64 {
    let v = line.split_once('=').map(|(_, v)| v).unwrap_or_default();
    let out = Command::new("date")
        .args(["-u", "-d", v, "+%s"])
        .output()
        .expect("date runs");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("date could not read {v:?}"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The bytes a TLS 1.2 `openssl s_server` sends after our ClientHello.
fn server_flight(dir: &std::path::Path) -> Vec<u8> {
    let port = free_port();
    let child = Command::new("openssl")
        .args(["s_server", "-quiet", "-tls1_2", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(dir.join("c.pem"))
        .arg("-key")
        .arg(dir.join("k.pem"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server starts");
    let _server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut s = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("s_server did not listen: {e}"),
        }
    };
    let hello = palisade_sim::payload::tls_client_hello(
        11,
        0x0303,
        &[0xc02f, 0xc030, 0x009c, 0x002f],
        &[],
        "ipcam.local",
    );
    s.write_all(&hello).expect("hello sent");
    s.set_read_timeout(Some(Duration::from_millis(700)))
        .expect("timeout set");
    let mut got = Vec::new();
    let mut buf = [0u8; 16384];
    let until = Instant::now() + Duration::from_secs(5);
    // Read until ServerHelloDone (handshake type 14, empty body) or the server goes quiet.
    while Instant::now() < until {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if got.ends_with(&[14, 0, 0, 0]) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    got
}

fn judge(flight: &[u8], ts: i64) -> Vec<palisade_detect::Alert> {
    let cfg = DetectConfig::default();
    let mut det = FlowDetector::new(cfg);
    let mut st = FlowDet::default();
    let addr = |a: [u8; 4]| palisade_detect::net::addr_from_v4(a);
    det.tcp_payload(
        &mut st,
        &TcpPayload {
            ts,
            to_server: false,
            client: addr(PHONE),
            server: addr(CAM),
            client_port: 50000,
            server_port: 443,
            client_mac: Some([0x02, 0, 0, 0, 0, 0x40]),
            server_mac: Some([0xc0, 0x56, 0xe3, 1, 2, 3]),
            payload: flight,
        },
    );
    det.flow_end(st, ts);
    let (agg, _) = det.into_parts();
    finalize(&cfg, vec![agg], None, |t| t.to_string())
        .into_iter()
        .filter(|a| a.kind == "tls.weak")
        .collect()
}

fn reasons(alerts: &[palisade_detect::Alert]) -> Vec<String> {
    let mut r: Vec<String> = alerts
        .iter()
        .filter_map(|a| a.evidence["reason"].as_str().map(str::to_string))
        .collect();
    r.sort();
    r
}

#[test]
fn openssl_server_certificate_validity_is_judged_at_packet_time() {
    if !have_openssl() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("palisade-tls-validity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=ipcam.local/O=Acme Cameras",
        ])
        .arg("-keyout")
        .arg(dir.join("k.pem"))
        .arg("-out")
        .arg(dir.join("c.pem"))
        .stderr(Stdio::null())
        .status()
        .expect("openssl req runs");
    assert!(ok.success());
    let dates = Command::new("openssl")
        .args(["x509", "-noout", "-startdate", "-enddate", "-in"])
        .arg(dir.join("c.pem"))
        .output()
        .expect("openssl x509 runs");
    let dates = String::from_utf8_lossy(&dates.stdout).to_string();
    let mut lines = dates.lines();
    let not_before = openssl_date(lines.next().unwrap_or_default());
    let not_after = openssl_date(lines.next().unwrap_or_default());
    assert_eq!(not_after - not_before, 86_400, "{dates}");

    let flight = server_flight(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        flight.len() > 500,
        "server flight of {} bytes",
        flight.len()
    );

    // The parser reads what openssl wrote.
    let certs = palisade_proto::tls::certificate_subjects(&flight);
    assert_eq!(certs.len(), 1, "one self-signed certificate");
    assert_eq!(certs[0].validity, Some((not_before, not_after)));
    assert_eq!(certs[0].subject_cn.as_deref(), Some("ipcam.local"));
    assert!(certs[0].self_signed);

    let self_signed = "device service presents a self-signed certificate";
    // Inside the validity period: only the self-signed finding.
    let inside = judge(&flight, (not_before + 3600) * SEC);
    assert_eq!(reasons(&inside), vec![self_signed.to_string()]);
    // Three days after notAfter: expired.
    let after = judge(&flight, (not_after + 3 * 86_400) * SEC);
    let r = reasons(&after);
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(
        r.contains(
            &"device service presents an expired certificate (expired 3 days before the handshake)"
                .to_string()
        ),
        "{r:?}"
    );
    let exp = after
        .iter()
        .find(|a| a.evidence["not_after"].is_string())
        .expect("expired alert with its dates");
    assert_eq!(exp.device.as_deref(), Some("c0:56:e3:01:02:03"));
    assert_eq!(exp.evidence["server"], "192.168.1.30:443");
    assert_eq!(exp.evidence["subject_o"], "Acme Cameras");
    // A second before notBefore: not yet valid.
    let before = judge(&flight, (not_before - 1) * SEC);
    let r = reasons(&before);
    assert!(
        r.iter().any(|x| x.starts_with(
            "device service presents a certificate that is not yet valid (valid 1 days"
        )),
        "{r:?}"
    );
    // Exactly at the bounds: valid.
    assert_eq!(
        reasons(&judge(&flight, not_after * SEC)),
        vec![self_signed.to_string()]
    );
    assert_eq!(
        reasons(&judge(&flight, not_before * SEC)),
        vec![self_signed.to_string()]
    );
}
