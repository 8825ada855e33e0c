//! `palisade sense --interface IF`: live capture into the sensor pipeline, NDJSON events as they
//! happen (same schema as `analyze --format ndjson`), optional hub push, and the responder
//! (`--respond`): high-severity alerts put their device into the nftables quarantine zone.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use palisade_hub::client::{self, Trust};
use palisade_policy::live::{DeviceViolations, LiveChecker};
use palisade_policy::respond::{Responder, ResponsePolicy, Target, apply};
use palisade_sensor::live::{CaptureOptions, LiveCapture, LiveSensor, parse_bpf, wall_clock_ns};
use palisade_sensor::{Alert, AnalyzeOptions, FlowEvent, FlowSink, InputReport, rfc3339};

#[derive(clap::Args)]
pub struct SenseArgs {
    /// Interface to capture on (in the current network namespace; needs CAP_NET_RAW).
    #[arg(short, long)]
    interface: String,
    /// Classic BPF program in `tcpdump -ddd EXPR` form (or @FILE holding it); packets it
    /// rejects never leave the kernel.
    #[arg(long)]
    bpf: Option<String>,
    /// NDJSON events go here (default stdout).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Stop after this many seconds (default: until SIGINT/SIGTERM).
    #[arg(long)]
    duration: Option<f64>,
    /// Stop after this many packets.
    #[arg(long)]
    count: Option<u64>,
    /// How often (ms) the detectors are consulted for new alerts while packets arrive.
    #[arg(long, default_value_t = 50)]
    alert_interval_ms: u64,
    /// How often (s) a `stats` event (capture counters, kernel drops) is written.
    #[arg(long, default_value_t = 10.0)]
    stats_interval: f64,
    /// Kernel receive buffer in MiB.
    #[arg(long, default_value_t = 64)]
    buffer_mib: usize,
    /// Signature rules (Suricata syntax): a directory of *.rules files or one file.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Do not write flow events (only alerts, responses, stats and the final devices).
    #[arg(long)]
    no_flows: bool,
    /// Quarantine the device of an alert that triggers (see --respond-severity/--respond-kind)
    /// in the nftables quarantine zone (loaded at start; needs CAP_NET_ADMIN and `nft`).
    #[arg(long)]
    respond: bool,
    /// Alerts at or above this severity trigger (victim-side kinds such as ddos.target only
    /// when named with --respond-kind). "none": kinds only.
    #[arg(long, default_value = "high")]
    respond_severity: String,
    /// Alert kinds that always trigger (repeatable), e.g. botnet.mirai.scan.
    #[arg(long = "respond-kind")]
    respond_kind: Vec<String>,
    /// Addresses that stay reachable from quarantine (the hub); never quarantined themselves.
    #[arg(long = "hub-ip")]
    hub_ip: Vec<IpAddr>,
    /// Quarantine auto-expiry in seconds (0: until released with `palisade mud release`).
    #[arg(long, default_value_t = 3600)]
    quarantine_ttl: u64,
    /// The nft program.
    #[arg(long, default_value = "nft")]
    nft: PathBuf,
    /// MUD profiles to check every flow against live (`policy.violation` alerts, which
    /// --respond-kind policy.violation acts on): a directory of profiles named by device MAC
    /// (`02-00-00-00-00-0a.json` or `02:00:00:00:00:0a.json`), or MAC=FILE. Repeatable.
    #[arg(long = "mud")]
    mud: Vec<String>,
    /// Also check the devices that have a MUD profile in the hub (zones of isolation `policy`;
    /// needs --hub).
    #[arg(long)]
    mud_from_hub: bool,
    /// Enforce the profiles too: load each device's compiled nftables table at start (one
    /// transaction) and fill its DNS-name sets from the DNS answers seen (element timeout = TTL).
    #[arg(long)]
    mud_enforce: bool,
    /// Apply the hub's zone ruleset (GET /api/v1/enforcement/nft, one `nft -f` transaction)
    /// every SECONDS when it changed; 0: never. Quarantines by --respond are reported to the hub
    /// (zone `quarantine`, with --quarantine-ttl as expiry) so that they survive the sync.
    #[arg(long, default_value_t = 0.0)]
    zones_sync: f64,
    /// Also push alert and device events to this hub (e.g. https://127.0.0.1:8443).
    #[arg(long)]
    hub: Option<String>,
    /// Hub API token (role analyst or admin).
    #[arg(long, env = "PALISADE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Trust exactly this hub certificate (PEM).
    #[arg(long)]
    cacert: Option<PathBuf>,
    /// Accept any hub certificate (encrypted but unauthenticated).
    #[arg(long)]
    insecure: bool,
    /// Serve Prometheus metrics (GET /metrics) on this TCP address (issue 12, metrics.rs).
    #[arg(long)]
    metrics: Option<std::net::SocketAddr>,
    /// Publish alert and device events to NATS JetStream instead of pushing them to --hub
    /// (acknowledged, spooled to disk while the bus is unreachable; see `palisade worker`).
    #[command(flatten)]
    bus: Box<crate::bus_cmd::PublishArgs>,
}

type Out = Arc<Mutex<BufWriter<Box<dyn Write + Send>>>>;

/// Flow events as flows end.
struct NdjsonFlows(Out);

impl FlowSink for NdjsonFlows {
    fn flow(&mut self, r: &palisade_flow::FlowRecord, app: Option<&'static str>) {
        let ev = FlowEvent::from_record(r, app);
        if let (Ok(line), Ok(mut w)) = (serde_json::to_string(&ev), self.0.lock()) {
            let _ = writeln!(w, "{line}");
        }
    }
}

fn write_line(out: &Out, v: &serde_json::Value) -> Result<()> {
    let mut w = out
        .lock()
        .map_err(|_| anyhow::anyhow!("output writer poisoned"))?;
    writeln!(w, "{v}").context("writing events")?;
    Ok(())
}

fn flush(out: &Out) -> Result<()> {
    let mut w = out
        .lock()
        .map_err(|_| anyhow::anyhow!("output writer poisoned"))?;
    w.flush().context("writing events")
}

fn tagged(mut v: serde_json::Value, kind: &str) -> Result<serde_json::Value> {
    if let Some(o) = v.as_object_mut() {
        o.insert("type".into(), kind.into());
    }
    Ok(v)
}

/// CPU time of the calling thread in seconds (Linux schedstat), for the capacity figure.
fn thread_cpu_s() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 / 1e9)
}

/// Parses the sensor's RFC 3339 form (`YYYY-MM-DDTHH:MM:SS.ffffffZ`) back to ns.
fn parse_rfc3339_ns(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[10] != b'T' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let frac = s.get(19..)?.trim_end_matches('Z');
    let ns = match frac.strip_prefix('.') {
        Some(f) if !f.is_empty() && f.len() <= 9 => {
            f.parse::<i64>().ok()? * 10i64.pow(9 - f.len() as u32)
        }
        _ => 0,
    };
    // Days from the civil date (H. Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1_000_000_000 + ns)
}

/// The hub to talk to: (base URL, bearer token, trust), when --hub is given.
#[derive(Clone)]
struct HubConn {
    base: String,
    auth: String,
    trust: Trust,
}

impl HubConn {
    fn from_args(args: &SenseArgs) -> Result<Option<HubConn>> {
        let Some(hub) = &args.hub else {
            return Ok(None);
        };
        let Some(token) = args.token.clone() else {
            bail!("--hub needs --token (or PALISADE_TOKEN)");
        };
        let trust = match (&args.cacert, args.insecure) {
            (Some(p), _) => client::pinned_from_pem(
                &std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
            )
            .map_err(anyhow::Error::msg)?,
            (None, true) => Trust::Any,
            (None, false) if hub.starts_with("https://") => {
                bail!("an https hub needs --cacert FILE (its tls-cert.pem) or --insecure")
            }
            (None, false) => Trust::Any,
        };
        Ok(Some(HubConn {
            base: hub.trim_end_matches('/').to_string(),
            auth: format!("Bearer {token}"),
            trust,
        }))
    }

    /// One API call; the body of a 2xx answer, or an error naming the status and message.
    fn call(&self, method: &str, path: &str, body: &str) -> Result<Vec<u8>> {
        let url = format!("{}/api/v1{path}", self.base);
        let headers = [
            ("Authorization", self.auth.as_str()),
            ("Content-Type", "application/json"),
        ];
        let r = client::request(method, &url, &headers, body.as_bytes(), &self.trust)
            .map_err(|e| anyhow::anyhow!("{method} {url}: {e}"))?;
        if !(200..300).contains(&r.status) {
            bail!(
                "{method} {url}: hub answered {}: {}",
                r.status,
                r.text().trim()
            );
        }
        Ok(r.body)
    }
}

/// Pushes event lines to the hub from a background thread (the capture never waits on it).
fn start_push(args: &SenseArgs) -> Result<Option<(Sender<String>, std::thread::JoinHandle<()>)>> {
    // With --nats the events go to the bus (the hub's workers read it); --hub then only
    // serves policies, zones and quarantine reports.
    if args.bus.enabled() {
        return crate::bus_cmd::start_publisher_thread(&args.bus).map(Some);
    }
    let Some(conn) = HubConn::from_args(args)? else {
        return Ok(None);
    };
    let (trust, token_auth) = (conn.trust.clone(), conn.auth.clone());
    let hub = conn.base.clone();
    let url = format!("{}/api/v1/ingest", hub.trim_end_matches('/'));
    let (tx, rx): (Sender<String>, Receiver<String>) = channel();
    let h = std::thread::spawn(move || {
        let auth = token_auth;
        let mut open = true;
        while open {
            let mut batch = Vec::new();
            match rx.recv_timeout(Duration::from_millis(500)) {
                Ok(l) => batch.push(l),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => open = false,
            }
            while let Ok(l) = rx.try_recv() {
                batch.push(l);
            }
            if batch.is_empty() {
                continue;
            }
            let body = batch.join("\n");
            let headers = [
                ("Authorization", auth.as_str()),
                ("Content-Type", "application/x-ndjson"),
            ];
            match client::request("POST", &url, &headers, body.as_bytes(), &trust) {
                Ok(r) if r.status == 200 => {}
                Ok(r) => eprintln!("palisade: hub answered {}: {}", r.status, r.text().trim()),
                Err(e) => eprintln!("palisade: pushing to the hub: {e}"),
            }
        }
    });
    Ok(Some((tx, h)))
}

/// Reads the MUD profiles named by --mud (and the hub's per-device policies with --mud-from-hub).
fn load_profiles(
    args: &SenseArgs,
    hub: Option<&HubConn>,
) -> Result<Vec<([u8; 6], palisade_policy::MudFile)>> {
    let load = |mac: [u8; 6], path: &Path| -> Result<([u8; 6], palisade_policy::MudFile)> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading MUD profile {}", path.display()))?;
        let m = palisade_policy::load(&text)
            .with_context(|| format!("MUD profile {}", path.display()))?;
        Ok((mac, m))
    };
    let mut out = Vec::new();
    for spec in &args.mud {
        if let Some((mac, file)) = spec.split_once('=') {
            let mac = palisade_policy::parse_mac(mac).with_context(|| format!("--mud {spec}"))?;
            out.push(load(mac, Path::new(file))?);
            continue;
        }
        let dir = Path::new(spec);
        let entries = std::fs::read_dir(dir)
            .with_context(|| format!("--mud {spec}: not MAC=FILE and not a readable directory"))?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        for path in paths {
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            match palisade_policy::parse_mac(stem) {
                Ok(mac) => out.push(load(mac, &path)?),
                Err(_) => eprintln!(
                    "palisade: skipping {}: the file name is not a device MAC",
                    path.display()
                ),
            }
        }
    }
    if args.mud_from_hub {
        let Some(hub) = hub else {
            bail!("--mud-from-hub needs --hub");
        };
        let body = hub.call("GET", "/zone-assignments", "")?;
        let list: Vec<serde_json::Value> =
            serde_json::from_slice(&body).context("the hub's zone assignments")?;
        for d in list {
            let (Some(mac), Some(profile)) = (d["mac"].as_str(), d["profile"].as_str()) else {
                continue;
            };
            if d["isolation"] != "policy" {
                continue;
            }
            let mac = palisade_policy::parse_mac(mac).context("the hub's zone assignments")?;
            let m = palisade_policy::load(profile)
                .with_context(|| format!("the hub's MUD profile of {}", d["mac"]))?;
            out.push((mac, m));
        }
    }
    Ok(out)
}

/// The aggregated live `policy.violation` of a device as an alert (DESIGN.md §6 shape).
fn violation_alert(v: &DeviceViolations) -> Alert {
    let ip = v
        .device_ips
        .iter()
        .find(|i| i.is_ipv4())
        .or(v.device_ips.first())
        .map(|i| i.to_string());
    let first = v.flows.first().map(|f| f.describe()).unwrap_or_default();
    Alert {
        id: format!("{}:{}", palisade_policy::check::KIND, v.device),
        kind: palisade_policy::check::KIND.to_string(),
        severity: "medium".to_string(),
        device: Some(v.device.clone()),
        src: ip,
        dst: v
            .flows
            .first()
            .and_then(|f| f.remote_ip)
            .map(|i| i.to_string()),
        first_seen: rfc3339(v.first_ts_ns),
        last_seen: rfc3339(v.last_ts_ns),
        count: v.directions,
        summary: format!(
            "{} flow direction(s) not permitted by the MUD profile {}, first: {first}",
            v.directions, v.mud_url
        ),
        evidence: serde_json::json!({
            "mud_url": v.mud_url,
            "directions": v.directions,
            "packets": v.packets,
            "flows": v.flows,
        }),
        mitre: vec!["T1071".to_string()],
    }
}

/// Applies the hub's zone ruleset whenever it changes (see --zones-sync), writing a
/// `zones_sync` event per applied change (or failure).
fn start_zones_sync(
    hub: HubConn,
    every: Duration,
    nft: PathBuf,
    hub_ips: Vec<IpAddr>,
    own_tables: Vec<String>,
    out: Out,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let ips: Vec<String> = hub_ips.iter().map(|i| i.to_string()).collect();
        let path = format!("/enforcement/nft?hub_ips={}", ips.join(","));
        let mut last: Option<String> = None;
        // Device tables from an earlier sync (or an earlier run) that the hub no longer lists.
        let mut applied: std::collections::BTreeSet<String> = existing_mud_tables(&nft);
        applied.retain(|t| !own_tables.contains(t));
        while !stop.load(Ordering::SeqCst) {
            match hub.call("GET", &path, "") {
                Err(e) => tracing::warn!("zones sync: {e:#}"),
                Ok(body) => {
                    let text = String::from_utf8_lossy(&body).into_owned();
                    if last.as_deref() != Some(text.as_str()) {
                        let tables: std::collections::BTreeSet<String> = text
                            .lines()
                            .filter_map(|l| l.strip_prefix("table inet "))
                            .map(|t| t.trim_end_matches(" {").trim().to_string())
                            .filter(|t| t.starts_with("palisade_mud_"))
                            .collect();
                        let mut script = String::new();
                        for stale in applied.difference(&tables) {
                            script.push_str(&format!("delete table inet {stale}\n"));
                        }
                        script.push_str(&text);
                        let r = apply(&nft, "hub zone ruleset", &script);
                        let mut ev = serde_json::json!({
                            "type": "zones_sync",
                            "at": rfc3339(wall_clock_ns()),
                            "tables": tables.iter().collect::<Vec<_>>(),
                            "removed": applied.difference(&tables).collect::<Vec<_>>(),
                            "quarantine_elements": text
                                .lines()
                                .filter(|l| {
                                    l.starts_with("add element ")
                                        && l.contains(" palisade_quarantine q_")
                                })
                                .count(),
                        });
                        match r {
                            Ok(d) => {
                                ev["nft_ms"] = ((d.as_secs_f64() * 1e6).round() / 1e3).into();
                                last = Some(text);
                                applied = tables;
                            }
                            Err(e) => {
                                tracing::error!("zones sync: {e}");
                                ev["error"] = e.to_string().into();
                            }
                        }
                        let _ = write_line(&out, &ev).and_then(|_| flush(&out));
                    }
                }
            }
            let until = Instant::now() + every;
            while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    })
}

/// `inet palisade_mud_*` tables present now (so a restarted sync removes those the hub dropped).
fn existing_mud_tables(nft: &Path) -> std::collections::BTreeSet<String> {
    std::process::Command::new(nft)
        .args(["list", "tables", "inet"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| l.strip_prefix("table inet "))
                .map(|t| t.trim().to_string())
                .filter(|t| t.starts_with("palisade_mud_"))
                .collect()
        })
        .unwrap_or_default()
}

/// SIGINT/SIGTERM set the flag (a small runtime on its own thread waits for them).
fn stop_on_signal(stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        });
        stop.store(true, Ordering::SeqCst);
    });
}

struct Respond {
    responder: Responder,
    policy: ResponsePolicy,
    /// Devices already quarantined (MAC or IP text), so an alert updated later does not
    /// re-run nft.
    done: std::collections::HashSet<String>,
    /// Quarantines are reported here (zone `quarantine`, audit trail in the hub).
    hub: Option<HubConn>,
}

impl Respond {
    fn target(&self, a: &Alert) -> Option<Target> {
        let mac = a
            .device
            .as_deref()
            .and_then(|m| palisade_policy::parse_mac(m).ok());
        let ips: Vec<IpAddr> = a
            .src
            .as_deref()
            .and_then(|s| s.parse().ok())
            .filter(|ip| !self.responder.hub_ips.contains(ip))
            .into_iter()
            .collect();
        let t = Target { mac, ips };
        (t.mac.is_some() || !t.ips.is_empty()).then_some(t)
    }

    /// Quarantines the alert's device if the policy says so; returns the response event.
    fn handle(&mut self, a: &Alert) -> Option<serde_json::Value> {
        if !self.policy.triggers(&a.kind, &a.severity) {
            return None;
        }
        let t = self.target(a)?;
        let key = format!("{:?}", (t.mac, &t.ips));
        if !self.done.insert(key) {
            return None;
        }
        let detected_ns = wall_clock_ns();
        let result = self.responder.quarantine(&t);
        let enforced_ns = wall_clock_ns();
        let first_ns = parse_rfc3339_ns(&a.first_seen);
        let ms = |from: Option<i64>, to: i64| {
            from.map(|f| ((to - f) as f64 / 1e6 * 1000.0).round() / 1000.0)
        };
        let mut ev = serde_json::json!({
            "type": "response",
            "action": "quarantine",
            "alert_id": a.id,
            "kind": a.kind,
            "severity": a.severity,
            "device": t.mac.map(|m| palisade_policy::fmt_mac(&m)),
            "ips": t.ips.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
            "first_attack_packet": a.first_seen,
            "detected_at": rfc3339(detected_ns),
            "enforced_at": rfc3339(enforced_ns),
            "detect_latency_ms": ms(first_ns, detected_ns),
            "enforce_latency_ms": ms(first_ns, enforced_ns),
            "nft_ms": ms(Some(detected_ns), enforced_ns),
            "ttl_s": self.responder.ttl.map(|d| d.as_secs()),
        });
        if let Err(e) = result {
            tracing::error!("quarantine failed: {e}");
            ev["error"] = e.to_string().into();
        } else {
            tracing::warn!(
                "quarantined {:?} {:?} for {} ({})",
                t.mac.map(|m| palisade_policy::fmt_mac(&m)),
                t.ips,
                a.kind,
                a.id
            );
            if let (Some(hub), Some(mac)) = (self.hub.clone(), t.mac) {
                // Off the capture thread: the hub records the zone change and audits it.
                let mac = palisade_policy::fmt_mac(&mac);
                let mut body = serde_json::json!({
                    "zone": "quarantine",
                    "reason": format!("sense --respond: {} ({})", a.kind, a.id),
                });
                if let Some(ttl) = self.responder.ttl {
                    body["expires_in_s"] = ttl.as_secs().max(1).into();
                }
                std::thread::spawn(move || {
                    if let Err(e) =
                        hub.call("PUT", &format!("/devices/{mac}/zone"), &body.to_string())
                    {
                        tracing::warn!("reporting the quarantine of {mac} to the hub: {e:#}");
                    }
                });
            }
        }
        Some(ev)
    }
}

pub fn run(args: SenseArgs) -> Result<ExitCode> {
    let bpf = match &args.bpf {
        None => None,
        Some(text) => {
            let text = match text.strip_prefix('@') {
                Some(p) => std::fs::read_to_string(p).with_context(|| format!("reading {p}"))?,
                None => text.clone(),
            };
            Some(parse_bpf(&text)?)
        }
    };
    let copts = CaptureOptions {
        rcvbuf: args.buffer_mib.max(1) << 20,
        poll: Duration::from_millis(args.alert_interval_ms.clamp(1, 1000)),
        bpf,
    };
    let hub = HubConn::from_args(&args)?;
    let profiles = load_profiles(&args, hub.as_ref())?;
    let mut checker = (!profiles.is_empty()).then(|| LiveChecker::new(profiles));
    if args.mud_enforce {
        let Some(c) = &checker else {
            bail!("--mud-enforce needs profiles (--mud or --mud-from-hub)");
        };
        apply(&args.nft, "device MUD tables", &c.rulesets(&args.hub_ip))
            .context("loading the devices' MUD tables (--mud-enforce)")?;
    }
    let own_tables: Vec<String> = if args.mud_enforce {
        checker
            .as_ref()
            .map(LiveChecker::tables)
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let mut respond = if args.respond {
        let min = (args.respond_severity != "none").then_some(args.respond_severity.as_str());
        let policy = ResponsePolicy::new(min, args.respond_kind.clone())?;
        let ttl = (args.quarantine_ttl > 0).then(|| Duration::from_secs(args.quarantine_ttl));
        let mut responder = Responder::new(args.hub_ip.clone(), ttl);
        responder.nft = args.nft.clone();
        responder
            .install()
            .context("loading the quarantine zone (--respond)")?;
        Some(Respond {
            responder,
            policy,
            done: Default::default(),
            hub: hub.clone(),
        })
    } else {
        None
    };
    let mut cap = LiveCapture::open(&args.interface, &copts)?;
    let writer: Box<dyn Write + Send> = match &args.output {
        Some(p) => Box::new(File::create(p).with_context(|| format!("creating {}", p.display()))?),
        None => Box::new(io::stdout()),
    };
    let out: Out = Arc::new(Mutex::new(BufWriter::new(writer)));
    let mut opts = AnalyzeOptions::default();
    if let Some(dir) = &args.rules {
        opts.rules = Some(crate::rules_cmd::load(dir)?);
    }
    let sink: Box<dyn FlowSink> = if args.no_flows {
        Box::new(palisade_sensor::NullSink)
    } else {
        Box::new(NdjsonFlows(out.clone()))
    };
    let mut sensor = LiveSensor::new(&opts, sink);
    let push = start_push(&args)?;
    let stop = Arc::new(AtomicBool::new(false));
    stop_on_signal(stop.clone());
    let sync = match (&hub, args.zones_sync > 0.0) {
        (Some(h), true) => Some(start_zones_sync(
            h.clone(),
            Duration::from_secs_f64(args.zones_sync.max(0.05)),
            args.nft.clone(),
            args.hub_ip.clone(),
            own_tables,
            out.clone(),
            stop.clone(),
        )),
        (None, true) => bail!("--zones-sync needs --hub"),
        _ => None,
    };
    eprintln!("palisade: sensing on {}", cap.interface());
    write_line(
        &out,
        &serde_json::json!({"type": "start", "interface": cap.interface(), "at": rfc3339(wall_clock_ns()), "respond": args.respond,
            "mud_devices": checker.as_ref().map_or(0, LiveChecker::len)}),
    )?;
    flush(&out)?;

    let mut metrics = crate::metrics::SenseHook::start(args.metrics)?;
    let started = Instant::now();
    let alert_every = Duration::from_millis(args.alert_interval_ms.max(1));
    let stats_every = Duration::from_secs_f64(args.stats_interval.max(0.1));
    let (mut last_alerts, mut last_stats) = (Instant::now(), Instant::now());
    let (mut first_ts, mut last_ts) = (None::<i64>, None::<i64>);
    let stats_event = |cap: &LiveCapture, final_: bool| {
        serde_json::json!({
            "type": "stats",
            "interface": cap.interface(),
            "final": final_,
            "at": rfc3339(wall_clock_ns()),
            "elapsed_s": (started.elapsed().as_secs_f64() * 1e3).round() / 1e3,
            "capture": cap.stats,
        })
    };
    let emit_alerts = |sensor: &mut LiveSensor,
                       checker: &mut Option<LiveChecker>,
                       respond: &mut Option<Respond>,
                       push: &Option<(Sender<String>, std::thread::JoinHandle<()>)>|
     -> Result<()> {
        let mut alerts = sensor.new_alerts();
        if let Some(c) = checker.as_mut() {
            alerts.extend(c.poll().iter().map(violation_alert));
            let elements = c.dns_elements();
            if args.mud_enforce && !elements.is_empty() {
                let script: String = elements.iter().map(|e| e.nft_line() + "\n").collect();
                let r = apply(&args.nft, "DNS-name set elements", &script);
                let mut ev = serde_json::json!({
                    "type": "dns_sets",
                    "at": rfc3339(wall_clock_ns()),
                    "elements": elements.iter().map(|e| serde_json::json!({
                        "table": e.table, "set": e.set, "ip": e.ip.to_string(), "ttl_s": e.ttl_s,
                    })).collect::<Vec<_>>(),
                });
                if let Err(e) = r {
                    tracing::error!("filling DNS-name sets: {e}");
                    ev["error"] = e.to_string().into();
                }
                write_line(&out, &ev)?;
            }
        }
        for a in &alerts {
            let v = tagged(serde_json::to_value(a)?, "alert")?;
            write_line(&out, &v)?;
            if let Some((tx, _)) = push {
                let _ = tx.send(v.to_string());
            }
            if let Some(r) = respond.as_mut()
                && let Some(ev) = r.handle(a)
            {
                write_line(&out, &ev)?;
            }
        }
        if !alerts.is_empty() {
            flush(&out)?;
        }
        Ok(())
    };
    loop {
        if stop.load(Ordering::SeqCst)
            || args
                .duration
                .is_some_and(|d| started.elapsed().as_secs_f64() >= d)
            || args.count.is_some_and(|c| cap.stats.packets >= c)
        {
            break;
        }
        if let Some(p) = cap.next_packet()? {
            first_ts.get_or_insert(p.ts_ns);
            last_ts = Some(p.ts_ns);
            sensor.push(p.ts_ns, p.link_type, p.data, p.wire_len);
            if let Some(c) = checker.as_mut() {
                c.push(p.ts_ns, p.link_type, p.data);
            }
        }
        if last_alerts.elapsed() >= alert_every {
            last_alerts = Instant::now();
            emit_alerts(&mut sensor, &mut checker, &mut respond, &push)?;
            flush(&out)?;
        }
        if last_stats.elapsed() >= stats_every {
            last_stats = Instant::now();
            write_line(&out, &stats_event(&cap, false))?;
            flush(&out)?;
        }
        if let Some(m) = metrics.as_mut() {
            m.tick(&cap.stats, &sensor, false);
        }
    }
    emit_alerts(&mut sensor, &mut checker, &mut respond, &push)?;
    let input = InputReport {
        path: format!("live:{}", cap.interface()),
        packets: cap.stats.packets,
        bytes: cap.stats.bytes,
        first_ts: first_ts.map(rfc3339),
        last_ts: last_ts.map(rfc3339),
        warnings: Vec::new(),
        usable: true,
    };
    let report = sensor.finish(input);
    for d in &report.devices {
        let v = tagged(serde_json::to_value(d)?, "device")?;
        write_line(&out, &v)?;
        if let Some((tx, _)) = &push {
            let _ = tx.send(v.to_string());
        }
    }
    let mut stats = stats_event(&cap, true);
    // The capture thread's CPU time: packets / cpu_s is what one core sustains.
    if let Some(cpu) = thread_cpu_s() {
        stats["cpu_s"] = ((cpu * 1e6).round() / 1e6).into();
    }
    stats["palisade_version"] = report.palisade_version.clone().into();
    stats["inputs"] = serde_json::to_value(&report.inputs)?;
    stats["summary"] = serde_json::to_value(&report.summary)?;
    write_line(&out, &stats)?;
    flush(&out)?;
    if let Some((tx, h)) = push {
        drop(tx);
        let _ = h.join();
    }
    stop.store(true, Ordering::SeqCst);
    if let Some(h) = sync {
        let _ = h.join();
    }
    if cap.stats.kernel_drops > 0 {
        eprintln!(
            "palisade: the kernel dropped {} packets (receive buffer full; raise --buffer-mib)",
            cap.stats.kernel_drops
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::parse_rfc3339_ns;

    #[test]
    fn rfc3339_round_trips_the_sensor_format() {
        for ns in [0i64, 1_700_000_000_123_456_000, 951_782_400_000_001_000] {
            assert_eq!(parse_rfc3339_ns(&palisade_sensor::rfc3339(ns)), Some(ns));
        }
        assert_eq!(parse_rfc3339_ns("yesterday"), None);
    }
}
