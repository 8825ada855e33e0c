//! `palisade serve` (the hub), `palisade push` (send NDJSON to a hub) and `demo --serve`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use palisade_hub::client::{self, Trust};
use palisade_hub::{Hub, HubConfig};
use palisade_sensor::Report;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// TOML file with hub settings (keys of HubConfig: listen, data_dir, tls, tls_cert, tls_key,
    /// kek_file, session_ttl_s, retention_events_days, retention_alerts_days, database_url =
    /// "postgres://..." for PostgreSQL instead of SQLite; device trust: gateway_listen,
    /// gateway_manufacturer_ca, gateway_ingest_ids, broker_dir, broker_pid_file); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8443).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Database, key-encryption key and certificate directory (default ./palisade-data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Serve plain HTTP instead of HTTPS (loopback testing only).
    #[arg(long)]
    no_tls: bool,
    /// In-process sensor: analyse every capture (pcap, pcapng, .gz) that appears in this folder
    /// and ingest its devices and alerts (a file is taken once unmodified for 5 s).
    #[arg(long)]
    watch: Option<PathBuf>,
    /// Re-seal all stored secrets under a new key-encryption key, then exit.
    #[arg(long)]
    rotate_kek: bool,
    /// Also start the mTLS device gateway on this address (needs `palisade ca init` first).
    #[arg(long)]
    gateway: Option<SocketAddr>,
}

#[derive(clap::Args)]
pub struct PushArgs {
    /// NDJSON from `palisade analyze --format ndjson` ("-" for stdin).
    file: PathBuf,
    /// Hub base URL, e.g. https://127.0.0.1:8443 (or publish to NATS with --nats).
    #[arg(long, required_unless_present = "nats")]
    hub: Option<String>,
    /// API token (role analyst or admin); not needed with --cert (mTLS device gateway).
    #[arg(
        long,
        env = "PALISADE_TOKEN",
        hide_env_values = true,
        required_unless_present_any = ["cert", "nats"]
    )]
    token: Option<String>,
    /// Trust exactly this server certificate (PEM; the hub writes DATA_DIR/tls-cert.pem).
    #[arg(long)]
    cacert: Option<PathBuf>,
    /// Client certificate (PEM, from `palisade agent enroll`): push to the hub's mTLS device
    /// gateway (`--hub https://HOST:GATEWAY_PORT`, POST /v1/ingest) instead of the API.
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// CA certificates (PEM) that authenticate the gateway (the agent's ca.pem).
    #[arg(long, conflicts_with = "cacert")]
    ca_chain: Option<PathBuf>,
    /// Accept any server certificate (encrypted but unauthenticated).
    #[arg(long)]
    insecure: bool,
    /// Events per request.
    #[arg(long, default_value_t = 5000)]
    batch: usize,
    /// Publish to NATS JetStream instead (issue 13: `--nats URL --site S --sensor N`).
    #[command(flatten)]
    publish: crate::bus_cmd::PublishArgs,
}

fn config(args: &ServeArgs) -> Result<HubConfig> {
    let mut cfg = match &args.config {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            toml::from_str::<HubConfig>(&text).with_context(|| format!("in {}", p.display()))?
        }
        None => HubConfig::default(),
    };
    if let Some(l) = args.listen {
        cfg.listen = l;
    }
    if let Some(d) = &args.data_dir {
        cfg.data_dir = d.clone();
    }
    if args.no_tls {
        cfg.tls = false;
    }
    if let Some(w) = &args.watch {
        cfg.watch_dir = Some(w.clone());
    }
    if let Some(g) = args.gateway {
        cfg.gateway_listen = Some(g);
    }
    Ok(cfg)
}

pub fn serve(args: ServeArgs) -> Result<ExitCode> {
    let cfg = config(&args)?;
    if args.rotate_kek {
        let n = palisade_hub::rotate_kek(&cfg)?;
        println!("key-encryption key rotated; {n} secrets re-sealed");
        return Ok(ExitCode::SUCCESS);
    }
    let hub = Hub::prepare(&cfg)?;
    if let Some(dir) = cfg.watch_dir.clone() {
        if !dir.is_dir() {
            bail!("--watch {}: not a directory", dir.display());
        }
        let store = hub.store();
        let ledger = cfg.data_dir.join("watched-captures.tsv");
        std::thread::Builder::new()
            .name("palisade-watch".into())
            .spawn(move || watch_folder(&dir, store.as_ref(), &ledger))
            .context("starting the capture-folder sensor")?;
    }
    let gateway = hub.gateway(&cfg).context("starting the device gateway")?;
    if let Some(sync) = palisade_hub::broker_sync::BrokerSync::from_config(&cfg) {
        sync.spawn().context("starting the broker policy sync")?;
    }
    run_hub(hub, None, gateway)
}

/// How long a capture must go unmodified before the watcher reads it.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(5);

/// Identity of a finished capture file: name, size and modification time.
fn capture_key(p: &std::path::Path) -> Option<(String, u64)> {
    let m = std::fs::metadata(p).ok()?;
    let mtime = m
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some((format!("{}\t{}\t{mtime}", p.display(), m.len()), m.len()))
}

/// The in-process sensor of `serve --watch`: polls `dir`, analyses each capture once its size is
/// stable across two polls and unmodified for [`SETTLE`], and ingests the result. Files already ingested are listed in
/// `ledger` (path, size, mtime), so a restart does not analyse them again; a changed file is
/// analysed again, and ingest is idempotent by event id.
fn watch_folder(
    dir: &std::path::Path,
    store: &dyn palisade_hub::store::Store,
    ledger: &std::path::Path,
) {
    use std::collections::{HashMap, HashSet};
    let mut done: HashSet<String> = std::fs::read_to_string(ledger)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    let mut pending: HashMap<PathBuf, u64> = HashMap::new();
    let is_capture = |p: &std::path::Path| {
        let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        [".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz"]
            .iter()
            .any(|e| n.ends_with(e))
    };
    loop {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| is_capture(p))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        for f in files {
            let Some((key, len)) = capture_key(&f) else {
                continue;
            };
            if done.contains(&key) {
                continue;
            }
            // Still being written while its size changes between polls or it was modified in
            // the last few seconds (capture tools flush in bursts).
            let settled = std::fs::metadata(&f)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= SETTLE);
            if pending.insert(f.clone(), len) != Some(len) || !settled {
                continue;
            }
            pending.remove(&f);
            let o = palisade_sensor::analyze(
                std::slice::from_ref(&f),
                &palisade_sensor::AnalyzeOptions::default(),
                Box::new(palisade_sensor::NullSink),
                None,
            );
            let result = o
                .report
                .device_and_alert_ndjson()
                .map_err(|e| e.to_string())
                .and_then(|nd| store.ingest_ndjson(&nd).map_err(|e| e.to_string()));
            match result {
                Ok(out) => {
                    use std::io::Write as _;
                    if let Ok(mut l) = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(ledger)
                    {
                        let _ = writeln!(l, "{key}");
                    }
                    eprintln!(
                        "palisade: {}: {} packets, {} devices, {} alerts; {} events ingested",
                        f.display(),
                        o.report.summary.packets,
                        o.report.devices.len(),
                        o.report.alerts.len(),
                        out.accepted
                    );
                    done.insert(key);
                }
                Err(e) => eprintln!("palisade: {}: not ingested: {e}", f.display()),
            }
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
}

fn run_hub(
    hub: Hub,
    seed: Option<String>,
    gateway: Option<palisade_hub::gateway::Gateway>,
) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        if let Some(ndjson) = seed {
            let store = hub.store();
            let out = tokio::task::spawn_blocking(move || store.ingest_ndjson(&ndjson)).await??;
            eprintln!("palisade: loaded {} demo events", out.accepted);
        }
        let gateway = match gateway {
            Some(g) => {
                let (gaddr, gfut) = g
                    .bind(async {
                        let _ = tokio::signal::ctrl_c().await;
                    })
                    .await?;
                tokio::spawn(async move {
                    if let Err(e) = gfut.await {
                        eprintln!("palisade: device gateway stopped: {e}");
                    }
                });
                Some(gaddr)
            }
            None => None,
        };
        let scheme = hub.scheme();
        let pw = hub.initial_admin_password.clone();
        let cert = hub.cert_path.clone();
        let (addr, fut) = hub
            .bind(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "palisade: hub listening on {scheme}://{addr}/ (API under /api/v1)"
        )?;
        if let Some(c) = cert {
            writeln!(out, "palisade: TLS certificate {}", c.display())?;
        }
        if let Some(g) = gateway {
            writeln!(
                out,
                "palisade: device gateway (mTLS, TLS 1.3) listening on https://{g}/"
            )?;
        }
        if let Some(pw) = pw {
            writeln!(
                out,
                "palisade: first start: user \"admin\", one-time password {pw} (shown only now; the console asks for a new one at the first login)"
            )?;
        }
        out.flush()?;
        drop(out);
        fut.await.context("serving")?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `palisade demo --serve`: a fresh hub in a temporary data directory, loaded with the demo report.
pub fn demo_serve(report: &Report) -> Result<ExitCode> {
    let dir = std::env::temp_dir().join(format!("palisade-demo-hub-{}", std::process::id()));
    let listen = std::env::var("PALISADE_LISTEN")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8443)));
    let cfg = HubConfig {
        listen,
        data_dir: dir,
        ..HubConfig::default()
    };
    let hub = Hub::prepare(&cfg)?;
    run_hub(hub, Some(report.device_and_alert_ndjson()?), None)
}

pub fn push(args: PushArgs) -> Result<ExitCode> {
    let text = if args.file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading stdin")?
    } else {
        std::fs::read_to_string(&args.file)
            .with_context(|| format!("reading {}", args.file.display()))?
    };
    if args.publish.enabled() {
        return crate::bus_cmd::push_ndjson(&text, &args.publish);
    }
    let hub = args.hub.as_deref().context("--hub URL is required")?;
    let identity = match (&args.cert, &args.key) {
        (Some(c), Some(k)) => Some(
            client::Identity::from_pem(
                &std::fs::read(c).with_context(|| format!("reading {}", c.display()))?,
                &std::fs::read(k).with_context(|| format!("reading {}", k.display()))?,
            )
            .map_err(anyhow::Error::msg)?,
        ),
        _ => None,
    };
    let trust = match (&args.cacert, args.insecure) {
        _ if let Some(p) = &args.ca_chain => client::roots_from_pem(
            &std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
        )
        .map_err(anyhow::Error::msg)?,
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
    let path = if identity.is_some() {
        "/v1/ingest"
    } else {
        "/api/v1/ingest"
    };
    let url = format!("{}{path}", hub.trim_end_matches('/'));
    let auth = args
        .token
        .as_ref()
        .map(|t| format!("Bearer {t}"))
        .unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let (mut acc, mut dup, mut ign, mut rej) = (0u64, 0u64, 0u64, 0usize);
    for chunk in lines.chunks(args.batch.max(1)) {
        let body = chunk.join("\n");
        let mut headers = vec![("Content-Type", "application/x-ndjson")];
        if identity.is_none() {
            headers.push(("Authorization", &auth));
        }
        let r = client::request_as(
            "POST",
            &url,
            &headers,
            body.as_bytes(),
            &trust,
            identity.as_ref(),
        )
        .map_err(anyhow::Error::msg)?;
        if r.status != 200 {
            bail!("hub answered {}: {}", r.status, r.text().trim());
        }
        let v: serde_json::Value = serde_json::from_slice(&r.body).context("hub response")?;
        acc += v["accepted"].as_u64().unwrap_or(0);
        dup += v["duplicates"].as_u64().unwrap_or(0);
        ign += v["ignored"].as_u64().unwrap_or(0);
        rej += v["rejected"].as_array().map(Vec::len).unwrap_or(0);
    }
    println!(
        "pushed {} events: {acc} accepted, {dup} already stored, {ign} not stored (flow/stats), {rej} rejected",
        lines.len()
    );
    Ok(if rej > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
