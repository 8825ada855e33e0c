//! `palisade export --format cef|leef|ocsf|ecs|stix|csv|html INPUT`: a report (`--format
//! json`) or NDJSON events into SIEM formats, written to a file/stdout or sent as RFC 5424
//! syslog (`syslog://` UDP, `syslog+tcp://`, `syslog+tls://` with RFC 6587 octet counting),
//! and optionally POSTed to a webhook (HMAC-SHA256 signed, retried with backoff, failures
//! appended to a dead-letter file).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use palisade_export::{Findings, formats, ocsf, stix, syslog, webhook};
use serde_json::Value;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Cef,
    Leef,
    Ocsf,
    Ecs,
    Stix,
    Csv,
    Html,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    #[arg(long, value_enum)]
    format: ExportFormat,
    /// REPORT.json (`analyze --format json`) or EVENTS.ndjson; `-` reads stdin.
    input: PathBuf,
    /// A file, or syslog://HOST:PORT (UDP), syslog+tcp://HOST:PORT, syslog+tls://HOST:PORT
    /// (cef, leef, ocsf, ecs). Default: stdout.
    #[arg(short, long)]
    output: Option<String>,
    /// PEM CA certificate(s) that sign the syslog TLS server's certificate.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// TLS server name (default: the host of the syslog URL).
    #[arg(long)]
    server_name: Option<String>,
    /// HOSTNAME field of syslog messages.
    #[arg(long, default_value = "palisade")]
    hostname: String,
    /// Also POST every alert (JSON) to this http:// URL.
    #[arg(long)]
    webhook: Option<String>,
    /// File holding the HMAC-SHA256 key for the X-Palisade-Signature header.
    #[arg(long)]
    webhook_secret_file: Option<PathBuf>,
    /// Where bodies that could not be delivered go (one JSON line each).
    #[arg(long, default_value = "palisade-webhook-dead-letter.ndjson")]
    dead_letter: PathBuf,
    /// Delivery attempts per webhook body.
    #[arg(long, default_value_t = 5)]
    webhook_attempts: u32,
    /// First retry delay in milliseconds (doubles each retry, at most 30 s).
    #[arg(long, default_value_t = 500)]
    webhook_backoff_ms: u64,
}

fn now_rfc3339() -> String {
    let ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    palisade_sensor::rfc3339(ns)
}

/// One record per alert/device, for line-oriented formats; whole documents otherwise.
enum Rendered {
    Lines(Vec<(String, String, String)>),
    Document(String),
}

fn render(f: &Findings, format: ExportFormat) -> Result<Rendered> {
    let v = if f.palisade_version.is_empty() {
        env!("CARGO_PKG_VERSION")
    } else {
        f.palisade_version.as_str()
    };
    // (severity, msgid, payload)
    let mut lines = Vec::new();
    let mut add = |sev: &str, id: &str, s: String| lines.push((sev.to_string(), id.to_string(), s));
    let json = |x: Value| serde_json::to_string(&x).unwrap_or_default();
    match format {
        ExportFormat::Cef => {
            f.devices
                .iter()
                .for_each(|d| add("info", "device.inventory", formats::cef_device(d, v)));
            f.alerts
                .iter()
                .for_each(|a| add(&a.severity, &a.kind, formats::cef_alert(a, v)));
        }
        ExportFormat::Leef => {
            f.devices
                .iter()
                .for_each(|d| add("info", "device.inventory", formats::leef_device(d, v)));
            f.alerts
                .iter()
                .for_each(|a| add(&a.severity, &a.kind, formats::leef_alert(a, v)));
        }
        ExportFormat::Ocsf => {
            f.devices.iter().for_each(|d| {
                add(
                    "info",
                    "device.inventory",
                    json(ocsf::device_inventory(d, v)),
                )
            });
            f.alerts
                .iter()
                .for_each(|a| add(&a.severity, &a.kind, json(ocsf::detection_finding(a, v))));
        }
        ExportFormat::Ecs => {
            f.devices
                .iter()
                .for_each(|d| add("info", "device.inventory", json(formats::ecs_device(d))));
            f.alerts
                .iter()
                .for_each(|a| add(&a.severity, &a.kind, json(formats::ecs_alert(a))));
        }
        ExportFormat::Stix => {
            let b = stix::bundle(f, &now_rfc3339());
            return Ok(Rendered::Document(serde_json::to_string_pretty(&b)? + "\n"));
        }
        ExportFormat::Csv => {
            // Alerts, a blank line, then devices (two tables, each with its header).
            let mut s = formats::csv_alerts(&f.alerts);
            s.push_str("\r\n");
            s.push_str(&formats::csv_devices(&f.devices));
            return Ok(Rendered::Document(s));
        }
        ExportFormat::Html => {
            return Ok(Rendered::Document(palisade_export::html::report(
                f,
                "Palisade report",
            )));
        }
    }
    Ok(Rendered::Lines(lines))
}

pub fn run(a: ExportArgs) -> Result<ExitCode> {
    let text = if a.input.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        s
    } else {
        std::fs::read_to_string(&a.input)
            .with_context(|| format!("reading {}", a.input.display()))?
    };
    let findings = match palisade_export::load(&text) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("palisade: {}: {e}", a.input.display());
            return Ok(ExitCode::from(2));
        }
    };
    let rendered = render(&findings, a.format)?;
    match (a.output.as_deref(), rendered) {
        (Some(url), Rendered::Lines(lines)) if url.starts_with("syslog") => {
            send_syslog(&a, url, &lines)?;
        }
        (Some(url), Rendered::Document(_)) if url.starts_with("syslog") => {
            bail!("syslog carries cef, leef, ocsf or ecs records, not whole documents");
        }
        (out, r) => {
            let mut w = crate::open_output(out.map(std::path::Path::new))?;
            match r {
                Rendered::Lines(lines) => {
                    for (_, _, l) in lines {
                        writeln!(w, "{l}")?;
                    }
                }
                Rendered::Document(d) => w.write_all(d.as_bytes())?,
            }
            w.flush()?;
        }
    }
    if let Some(url) = &a.webhook {
        let failed = post_webhooks(&a, url, &findings)?;
        if failed > 0 {
            eprintln!(
                "palisade: {failed} webhook bodies could not be delivered; see {}",
                a.dead_letter.display()
            );
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn host_port(url: &str) -> Result<(String, String)> {
    let rest = url
        .split_once("://")
        .map(|x| x.1)
        .context("URL without a scheme")?;
    let hp = rest.split('/').next().unwrap_or(rest);
    let (host, port) = hp.rsplit_once(':').context("URL without a port")?;
    Ok((host.trim_matches(['[', ']']).to_string(), port.to_string()))
}

fn send_syslog(a: &ExportArgs, url: &str, lines: &[(String, String, String)]) -> Result<()> {
    let (host, port) = host_port(url)?;
    let addr = format!("{host}:{port}")
        .to_socket_addrs()?
        .next()
        .context("syslog host does not resolve")?;
    let now = now_rfc3339();
    let procid = std::process::id().to_string();
    let msgs = lines.iter().map(|(sev, id, payload)| {
        syslog::message(
            &syslog::Header {
                facility: syslog::DEFAULT_FACILITY,
                severity: syslog::severity(sev),
                timestamp: &now,
                hostname: &a.hostname,
                app_name: "palisade",
                procid: &procid,
                msgid: id,
            },
            &[],
            payload,
        )
    });
    if url.starts_with("syslog://") || url.starts_with("syslog+udp://") {
        let sock = UdpSocket::bind(if addr.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        })?;
        for m in msgs {
            sock.send_to(m.as_bytes(), addr)
                .with_context(|| format!("sending syslog to {addr}"))?;
        }
        return Ok(());
    }
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .with_context(|| format!("connecting to syslog {addr}"))?;
    tcp.set_write_timeout(Some(Duration::from_secs(10)))?;
    if url.starts_with("syslog+tcp://") {
        let mut w = std::io::BufWriter::new(tcp);
        for m in msgs {
            w.write_all(&syslog::octet_counted(&m))?;
        }
        w.flush()?;
        return Ok(());
    }
    if url.starts_with("syslog+tls://") {
        let ca =
            a.ca.as_ref()
                .context("syslog+tls needs --ca FILE (the server's CA certificate)")?;
        let mut roots = rustls::RootCertStore::empty();
        use rustls::pki_types::pem::PemObject;
        for c in rustls::pki_types::CertificateDer::pem_file_iter(ca)
            .with_context(|| format!("reading {}", ca.display()))?
        {
            roots.add(c.context("bad certificate PEM")?)?;
        }
        let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let name = a.server_name.clone().unwrap_or(host);
        let sn = rustls::pki_types::ServerName::try_from(name).context("bad TLS server name")?;
        let conn = rustls::ClientConnection::new(Arc::new(cfg), sn)?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        for m in msgs {
            tls.write_all(&syslog::octet_counted(&m))
                .context("sending syslog over TLS")?;
        }
        tls.flush()?;
        tls.conn.send_close_notify();
        let _ = tls.flush();
        // Drain what the server still sends (TLS 1.3 session tickets, its close_notify):
        // closing with unread data makes the kernel send RST, and the server may then
        // drop records it has not read yet.
        let _ = tls.sock.shutdown(std::net::Shutdown::Write);
        let _ = tls.sock.set_read_timeout(Some(Duration::from_secs(5)));
        let mut sink = [0u8; 4096];
        while matches!(tls.read(&mut sink), Ok(n) if n > 0) {}
        return Ok(());
    }
    bail!("unknown syslog scheme in {url} (syslog://, syslog+tcp://, syslog+tls://)")
}

/// One HTTP/1.1 POST over plain TCP; returns the status code.
fn http_post(url: &str, body: &[u8], signature: Option<&str>) -> Result<u16> {
    let rest = url
        .strip_prefix("http://")
        .context("webhooks take http:// URLs")?;
    let (hp, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = if hp.contains(':') {
        hp.to_string()
    } else {
        format!("{hp}:80")
    }
    .to_socket_addrs()?
    .next()
    .context("webhook host does not resolve")?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {hp}\r\nUser-Agent: palisade/{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    if let Some(sig) = signature {
        req.push_str(&format!("{}: {sig}\r\n", webhook::SIGNATURE_HEADER));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 8192 {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("no HTTP status line in the response")
}

fn post_webhooks(a: &ExportArgs, url: &str, f: &Findings) -> Result<u64> {
    let secret = match &a.webhook_secret_file {
        Some(p) => Some(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?),
        None => None,
    };
    let backoff = webhook::Backoff {
        base_ms: a.webhook_backoff_ms,
        max_ms: 30_000,
        attempts: a.webhook_attempts.max(1),
    };
    let mut failed = 0;
    for alert in &f.alerts {
        let body = serde_json::json!({
            "type": "alert",
            "id": alert.id, "kind": alert.kind, "severity": alert.severity,
            "device": alert.device, "src": alert.src, "dst": alert.dst,
            "first_seen": alert.first_seen, "last_seen": alert.last_seen,
            "count": alert.count, "summary": alert.summary,
            "evidence": alert.evidence, "mitre": alert.mitre,
        });
        let bytes = serde_json::to_vec(&body)?;
        let sig = secret
            .as_ref()
            .map(|k| webhook::signature_header(k, &bytes));
        let mut last_error = String::new();
        let mut delivered = false;
        for attempt in 1..=backoff.attempts {
            if attempt > 1 {
                std::thread::sleep(Duration::from_millis(backoff.delay_ms(attempt - 1)));
            }
            match http_post(url, &bytes, sig.as_deref()) {
                Ok(code) if (200..300).contains(&code) => {
                    delivered = true;
                    break;
                }
                Ok(code) => last_error = format!("HTTP {code}"),
                Err(e) => last_error = format!("{e:#}"),
            }
            tracing::warn!("webhook attempt {attempt} failed: {last_error}");
        }
        if !delivered {
            failed += 1;
            let mut dl = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&a.dead_letter)
                .with_context(|| format!("opening {}", a.dead_letter.display()))?;
            writeln!(
                dl,
                "{}",
                webhook::dead_letter(url, backoff.attempts, &last_error, &body)
            )?;
        }
    }
    Ok(failed)
}
