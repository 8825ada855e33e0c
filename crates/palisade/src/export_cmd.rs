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

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    #[default]
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
    /// PEM CA certificate(s) trusted for an https:// webhook (default: the system store).
    #[arg(long)]
    webhook_ca: Option<PathBuf>,
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

/// SIEM/webhook delivery flags shared by `analyze`, `ingest` and `collect` (flattened into
/// their arguments): the findings of the run go out as `--export-format` records to
/// `--export` (a file or a syslog URL) and/or as signed JSON to `--webhook`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct OutputArgs {
    /// Also send the findings to a file, or as RFC 5424 syslog to syslog://HOST:PORT or
    /// udp://HOST:PORT (UDP), syslog+tcp:// or tcp:// (TCP), syslog+tls:// or tls:// (TLS).
    #[arg(long, value_name = "URL|FILE")]
    pub export: Option<String>,
    /// Record format for --export.
    #[arg(long, value_enum, default_value = "cef")]
    pub export_format: ExportFormat,
    /// PEM CA certificate(s) for a tls:// syslog server.
    #[arg(long)]
    pub export_ca: Option<PathBuf>,
    /// TLS server name of the syslog server (default: the URL's host).
    #[arg(long)]
    pub export_server_name: Option<String>,
    /// POST every alert (JSON, HMAC-signed with --webhook-secret-file) to this http:// or
    /// https:// URL; retried with backoff, undeliverable bodies go to --dead-letter.
    #[arg(long)]
    pub webhook: Option<String>,
    /// File holding the HMAC-SHA256 key for the X-Palisade-Signature header.
    #[arg(long)]
    pub webhook_secret_file: Option<PathBuf>,
    /// PEM CA certificate(s) trusted for an https:// webhook (default: the system store,
    /// /etc/ssl/certs/ca-certificates.crt).
    #[arg(long)]
    pub webhook_ca: Option<PathBuf>,
    /// Where webhook bodies that could not be delivered go (one JSON line each).
    #[arg(long, default_value = "palisade-webhook-dead-letter.ndjson")]
    pub dead_letter: PathBuf,
    /// Delivery attempts per webhook body.
    #[arg(long, default_value_t = 5)]
    pub webhook_attempts: u32,
    /// First webhook retry delay in milliseconds (doubles each retry, at most 30 s).
    #[arg(long, default_value_t = 500)]
    pub webhook_backoff_ms: u64,
}

/// Where and how findings go (from `palisade export` or an [`OutputArgs`]).
struct Delivery<'a> {
    format: ExportFormat,
    output: Option<&'a str>,
    ca: Option<&'a PathBuf>,
    server_name: Option<&'a str>,
    hostname: &'a str,
    webhook: Option<&'a str>,
    webhook_secret_file: Option<&'a PathBuf>,
    webhook_ca: Option<&'a PathBuf>,
    dead_letter: &'a PathBuf,
    webhook_attempts: u32,
    webhook_backoff_ms: u64,
}

impl OutputArgs {
    fn delivery(&self) -> Delivery<'_> {
        Delivery {
            format: self.export_format,
            output: self.export.as_deref(),
            ca: self.export_ca.as_ref(),
            server_name: self.export_server_name.as_deref(),
            hostname: "palisade",
            webhook: self.webhook.as_deref(),
            webhook_secret_file: self.webhook_secret_file.as_ref(),
            webhook_ca: self.webhook_ca.as_ref(),
            dead_letter: &self.dead_letter,
            webhook_attempts: self.webhook_attempts,
            webhook_backoff_ms: self.webhook_backoff_ms,
        }
    }
}

/// Sends a run's findings where [`OutputArgs`] say (nothing when no flag is given). A
/// webhook body that could not be delivered is an error (after it went to the dead-letter
/// file).
pub fn deliver(args: &OutputArgs, report: &palisade_sensor::Report) -> Result<()> {
    if args.export.is_none() && args.webhook.is_none() {
        return Ok(());
    }
    let findings = palisade_export::load(&serde_json::to_string(report)?)
        .map_err(|e| anyhow::anyhow!("report to findings: {e}"))?;
    let d = args.delivery();
    if d.output.is_some() {
        emit(&d, &findings)?;
    }
    if let Some(url) = d.webhook {
        let failed = post_webhooks(&d, url, &findings)?;
        if failed > 0 {
            bail!(
                "{failed} webhook bodies could not be delivered; see {}",
                d.dead_letter.display()
            );
        }
    }
    Ok(())
}

/// Renders and writes/sends the records (file, stdout or syslog).
fn emit(d: &Delivery<'_>, findings: &Findings) -> Result<()> {
    let rendered = render(findings, d.format)?;
    match (d.output, rendered) {
        (Some(url), Rendered::Lines(lines)) if is_syslog_url(url) => {
            send_syslog(d, url, &lines)?;
        }
        (Some(url), Rendered::Document(_)) if is_syslog_url(url) => {
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
    Ok(())
}

fn is_syslog_url(url: &str) -> bool {
    [
        "syslog://",
        "syslog+udp://",
        "syslog+tcp://",
        "syslog+tls://",
        "udp://",
        "tcp://",
        "tls://",
    ]
    .iter()
    .any(|p| url.starts_with(p))
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
    let d = Delivery {
        format: a.format,
        output: a.output.as_deref(),
        ca: a.ca.as_ref(),
        server_name: a.server_name.as_deref(),
        hostname: &a.hostname,
        webhook: a.webhook.as_deref(),
        webhook_secret_file: a.webhook_secret_file.as_ref(),
        webhook_ca: a.webhook_ca.as_ref(),
        dead_letter: &a.dead_letter,
        webhook_attempts: a.webhook_attempts,
        webhook_backoff_ms: a.webhook_backoff_ms,
    };
    emit(&d, &findings)?;
    if let Some(url) = d.webhook {
        let failed = post_webhooks(&d, url, &findings)?;
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

fn send_syslog(a: &Delivery<'_>, url: &str, lines: &[(String, String, String)]) -> Result<()> {
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
                hostname: a.hostname,
                app_name: "palisade",
                procid: &procid,
                msgid: id,
            },
            &[],
            payload,
        )
    });
    if url.starts_with("syslog://") || url.starts_with("syslog+udp://") || url.starts_with("udp://")
    {
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
    if url.starts_with("syslog+tcp://") || url.starts_with("tcp://") {
        let mut w = std::io::BufWriter::new(tcp);
        for m in msgs {
            w.write_all(&syslog::octet_counted(&m))?;
        }
        w.flush()?;
        return Ok(());
    }
    if url.starts_with("syslog+tls://") || url.starts_with("tls://") {
        let ca = a.ca.context(
            "syslog over TLS needs a CA file (--ca / --export-ca: the server's CA certificate)",
        )?;
        let name = a.server_name.map(str::to_string).unwrap_or(host);
        let conn = tls_client(ca, name)?;
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

/// A rustls (ring) client trusting the PEM certificates in `ca`.
fn tls_client(ca: &std::path::Path, server_name: String) -> Result<rustls::ClientConnection> {
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    // A system bundle may hold certificates rustls cannot parse; skip those.
    for c in rustls::pki_types::CertificateDer::pem_file_iter(ca)
        .with_context(|| format!("reading {}", ca.display()))?
        .flatten()
    {
        let _ = roots.add(c);
    }
    if roots.is_empty() {
        bail!("no usable CA certificate in {}", ca.display());
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let sn = rustls::pki_types::ServerName::try_from(server_name).context("bad TLS server name")?;
    Ok(rustls::ClientConnection::new(Arc::new(cfg), sn)?)
}

/// The system CA bundle (Debian's ca-certificates) for https:// webhooks without --webhook-ca.
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// One HTTP/1.1 POST over plain TCP (http://) or TLS (https://, rustls with ring, trusting
/// `ca` or the system bundle); returns the status code.
fn http_post(url: &str, body: &[u8], signature: Option<&str>, ca: Option<&PathBuf>) -> Result<u16> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        bail!("webhooks take http:// or https:// URLs");
    };
    let (hp, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    // host[:port], [v6]:port
    let (host, port) = match hp.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !p.contains(']') => (h, p.to_string()),
        _ => (hp, if tls { "443" } else { "80" }.to_string()),
    };
    let host = host.trim_matches(['[', ']']);
    let addr = (host, port.parse::<u16>().context("bad webhook port")?)
        .to_socket_addrs()?
        .next()
        .context("webhook host does not resolve")?;
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
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
    let mut stream: Box<dyn ReadWrite> = if tls {
        let ca_path = ca
            .map(|p| p.as_path())
            .unwrap_or(std::path::Path::new(SYSTEM_CA_BUNDLE));
        let conn = tls_client(ca_path, host.to_string())?;
        Box::new(rustls::StreamOwned::new(conn, s))
    } else {
        Box::new(s)
    };
    stream.write_all(req.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 8192 {
        let n = stream.read(&mut buf)?;
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

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn post_webhooks(a: &Delivery<'_>, url: &str, f: &Findings) -> Result<u64> {
    let secret = match a.webhook_secret_file {
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
            match http_post(url, &bytes, sig.as_deref(), a.webhook_ca) {
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
                .open(a.dead_letter)
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
