//! Issue 13: the event bus from the command line.
//! - `palisade worker`: hub workers (durable pull consumer on NATS JetStream → the store).
//! - `palisade worker --bench`: a bounded loopback load generator (sensors × rate × duration →
//!   NATS → workers → store) printing throughput, end-to-end latency and consumer lag.
//! - `palisade analyze CAPTURES --nats URL --site S`: publish the devices and alerts.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use palisade_bus::publisher::{PublishStats, Publisher, PublisherConfig};
use palisade_bus::spool::{FullPolicy, SpoolConfig};
use palisade_bus::worker::{WorkerConfig, WorkerStats, run_worker};
use palisade_bus::{ConnectConfig, StreamSettings};
use palisade_sensor::{AnalyzeOptions, NullSink};
use palisade_store::Store;

/// How to reach NATS (shared by publishers and workers).
#[derive(clap::Args, Debug, Clone)]
pub struct NatsOpts {
    /// NATS server URL(s), e.g. nats://127.0.0.1:4222 or tls://bus.example:4222 (comma-separated).
    // No environment fallback: a stray variable must not turn `analyze` into publishing.
    #[arg(long = "nats")]
    pub nats: Option<String>,
    /// CA certificate (PEM) that signed the NATS server certificate (turns TLS on).
    #[arg(long, env = "PALISADE_NATS_CA")]
    pub nats_ca: Option<PathBuf>,
    /// Client certificate and key (PEM) for mutual TLS.
    #[arg(long, requires = "nats_key")]
    pub nats_cert: Option<PathBuf>,
    /// Private key (PEM) of --nats-cert.
    #[arg(long, requires = "nats_cert")]
    pub nats_key: Option<PathBuf>,
    /// This sensor's (or worker's) NATS user; the password comes from the environment.
    #[arg(long, env = "PALISADE_NATS_USER")]
    pub nats_user: Option<String>,
    /// Password of --nats-user (prefer the environment variable to the flag).
    #[arg(long, env = "PALISADE_NATS_PASSWORD", hide_env_values = true)]
    pub nats_password: Option<String>,
    /// NATS credentials file (JWT + nkey seed).
    #[arg(long)]
    pub nats_creds: Option<PathBuf>,
    /// File holding an nkey seed (SU...).
    #[arg(long)]
    pub nats_nkey: Option<PathBuf>,
}

impl NatsOpts {
    fn connect_config(&self, name: &str) -> Result<ConnectConfig> {
        let url = self.nats.clone().context("--nats URL is required")?;
        Ok(ConnectConfig {
            url,
            ca: self.nats_ca.clone(),
            client_cert: self.nats_cert.clone(),
            client_key: self.nats_key.clone(),
            require_tls: self.nats_ca.is_some(),
            user: self.nats_user.clone(),
            password: self.nats_password.clone(),
            creds: self.nats_creds.clone(),
            nkey_seed: self.nats_nkey.clone(),
            name: name.to_owned(),
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SpoolFull {
    /// Keep the queued events, refuse new ones (counted as dropped).
    Reject,
    /// Delete the oldest queued events to make room.
    DropOldest,
}

/// Publishing options of `analyze`.
#[derive(clap::Args, Debug, Clone)]
pub struct PublishArgs {
    #[command(flatten)]
    pub conn: NatsOpts,
    /// Site name (subject palisade.events.<site>.<sensor>).
    #[arg(long, default_value = "default", requires = "nats")]
    pub site: String,
    /// Sensor name (default: the host name).
    #[arg(long, requires = "nats")]
    pub sensor: Option<String>,
    /// Spool directory for events the bus has not acknowledged (default ./palisade-spool).
    #[arg(long, requires = "nats")]
    pub spool: Option<PathBuf>,
    /// Spool size cap in MiB.
    #[arg(long, default_value_t = 256, requires = "nats")]
    pub spool_max_mb: u64,
    /// What to do when the spool is full.
    #[arg(long, value_enum, default_value = "reject", requires = "nats")]
    pub spool_full: SpoolFull,
    /// Seconds to keep trying to deliver before leaving the rest in the spool.
    #[arg(long, default_value_t = 30, requires = "nats")]
    pub publish_timeout: u64,
}

impl PublishArgs {
    pub fn enabled(&self) -> bool {
        self.conn.nats.is_some()
    }

    fn publisher_config(&self, default_spool: &Path) -> PublisherConfig {
        let mut spool = SpoolConfig::new(self.spool.clone().unwrap_or(default_spool.into()));
        spool.max_bytes = self.spool_max_mb.max(1) << 20;
        spool.policy = match self.spool_full {
            SpoolFull::Reject => FullPolicy::Reject,
            SpoolFull::DropOldest => FullPolicy::DropOldest,
        };
        PublisherConfig::new(spool)
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn host_name() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let clean: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if clean.is_empty() {
        "sensor".into()
    } else {
        clean
    }
}

/// `analyze --nats`: analyse, then publish every device and alert event.
pub fn analyze_and_publish(
    inputs: &[PathBuf],
    opts: &AnalyzeOptions,
    args: &PublishArgs,
) -> Result<ExitCode> {
    let sensor = args.sensor.clone().unwrap_or_else(host_name);
    let subject = palisade_bus::subject(&args.site, &sensor)?;
    let outcome = palisade_sensor::analyze(inputs, opts, Box::new(NullSink), None);
    for inp in &outcome.report.inputs {
        for w in &inp.warnings {
            eprintln!(
                "palisade: {}: byte offset {}: {}",
                inp.path, w.offset, w.message
            );
        }
    }
    if outcome.unusable_inputs == inputs.len() {
        bail!("none of the {} inputs could be read", inputs.len());
    }
    let text = outcome.report.device_and_alert_ndjson()?;
    let cfg = args.publisher_config(Path::new("palisade-spool"));
    let conn = args
        .conn
        .connect_config(&format!("palisade-sensor-{sensor}"))?;
    let stats = runtime()?.block_on(publish_lines(
        conn,
        cfg,
        &subject,
        text.lines(),
        Duration::from_secs(args.publish_timeout),
    ))?;
    report_publish(&subject, &stats, text.lines().count());
    Ok(if stats.dropped > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// `palisade push FILE --nats URL --site S --sensor N`: publishes already-written NDJSON (e.g.
/// `analyze --format ndjson` output) to the bus instead of a hub's HTTP API, with the same acks
/// and spool as `analyze --nats`. Blank lines are skipped; the workers terminate invalid ones.
pub fn push_ndjson(text: &str, args: &PublishArgs) -> Result<ExitCode> {
    let sensor = args.sensor.clone().unwrap_or_else(host_name);
    let subject = palisade_bus::subject(&args.site, &sensor)?;
    let cfg = args.publisher_config(Path::new("palisade-spool"));
    let conn = args
        .conn
        .connect_config(&format!("palisade-sensor-{sensor}"))?;
    let lines = || text.lines().filter(|l| !l.trim().is_empty());
    let stats = runtime()?.block_on(publish_lines(
        conn,
        cfg,
        &subject,
        lines(),
        Duration::from_secs(args.publish_timeout),
    ))?;
    report_publish(&subject, &stats, lines().count());
    Ok(if stats.dropped > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn report_publish(subject: &str, s: &PublishStats, n: usize) {
    eprintln!(
        "palisade: {n} events for {subject}: {} acknowledged ({} already on the bus), {} spooled, {} replayed from the spool, {} still spooled, {} dropped (spool full)",
        s.acked, s.duplicates, s.spooled, s.replayed, s.spool_pending, s.dropped
    );
    println!("{}", serde_json::to_string(s).unwrap_or_default());
}

async fn publish_lines(
    conn: ConnectConfig,
    cfg: PublisherConfig,
    subject: &str,
    lines: impl Iterator<Item = &str>,
    timeout: Duration,
) -> Result<PublishStats> {
    let client = palisade_bus::connect(&conn).await?;
    let mut p = Publisher::new(client, cfg)?;
    for l in lines {
        p.send(subject, l).await?;
    }
    Ok(p.flush(timeout).await?)
}

#[derive(clap::Args, Debug)]
pub struct WorkerArgs {
    #[command(flatten)]
    conn: NatsOpts,
    /// JetStream stream (created with file storage if missing).
    #[arg(long, default_value = palisade_bus::DEFAULT_STREAM)]
    stream: String,
    /// Durable consumer name: workers with the same name share the work.
    #[arg(long, default_value = "palisade-hub")]
    durable: String,
    /// PostgreSQL URL (postgres://...); without it the SQLite store in --data-dir.
    #[arg(long, env = "PALISADE_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Hub data directory (SQLite hub.db), default ./palisade-data.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Serve Prometheus metrics (events, store retries, publish-to-commit latency, consumer
    /// lag) on this address, e.g. 127.0.0.1:9102.
    #[arg(long)]
    metrics: Option<std::net::SocketAddr>,
    /// Most events per store transaction.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Milliseconds a batch may wait to fill once its first event arrived.
    #[arg(long, default_value_t = 25)]
    linger_ms: u64,
    /// Worker tasks in this process (each with its own connection).
    #[arg(long, default_value_t = 1)]
    tasks: usize,
    /// Seconds before an unacknowledged message is redelivered (to another worker).
    #[arg(long, default_value_t = 30)]
    ack_wait: u64,
    /// Stream de-duplication window in seconds (used when the stream is created).
    #[arg(long, default_value_t = 120)]
    duplicate_window: u64,
    /// Stream size cap in MiB (used when the stream is created; full = publishers spool).
    #[arg(long, default_value_t = 1024)]
    stream_max_mb: i64,
    /// Stream replicas (used when the stream is created; 3 on a 3-node NATS cluster).
    #[arg(long, default_value_t = 1)]
    stream_replicas: usize,
    /// Print counters as a JSON line on stderr this often (seconds; 0 = never).
    #[arg(long, default_value_t = 5)]
    stats_every: u64,
    /// Exit once this many messages were written (tests and one-shot drains).
    #[arg(long)]
    exit_after: Option<u64>,
    /// Run the load benchmark instead (loopback NATS only).
    #[arg(long)]
    bench: bool,
    /// Bench: simulated sensors.
    #[arg(long, default_value_t = 4)]
    sensors: usize,
    /// Bench: events per second per sensor.
    #[arg(long, default_value_t = 5000)]
    rate: u64,
    /// Bench: seconds of load.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Bench: percentage of flow events (stored as event ids only, like a live sensor's
    /// flow records); the rest alternate device and alert events.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=100))]
    flows: u64,
    /// Bench: worker counts to run one after the other, e.g. 1,2.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    workers: Vec<usize>,
}

impl WorkerArgs {
    fn worker_config(&self) -> WorkerConfig {
        WorkerConfig {
            stream: StreamSettings {
                name: self.stream.clone(),
                duplicate_window: Duration::from_secs(self.duplicate_window.max(1)),
                max_bytes: self.stream_max_mb.max(1) << 20,
                replicas: self.stream_replicas.clamp(1, 5),
                ..StreamSettings::default()
            },
            durable: self.durable.clone(),
            batch: self.batch.max(1),
            ack_wait: Duration::from_secs(self.ack_wait.max(1)),
            linger: Duration::from_millis(self.linger_ms),
            ..WorkerConfig::default()
        }
    }

    fn open_store(&self, data_dir: &Path) -> Result<Arc<dyn Store>> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        palisade_store::open_store(self.database_url.as_deref(), &data_dir.join("hub.db"))
            .context("opening the store")
    }
}

pub fn run(args: WorkerArgs) -> Result<ExitCode> {
    if args.bench {
        return bench(&args);
    }
    let conn = args.conn.connect_config("palisade-worker")?;
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| "palisade-data".into());
    let store = args.open_store(&data_dir)?;
    let cfg = args.worker_config();
    let rt = runtime()?;
    rt.block_on(async {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stats = Arc::new(WorkerStats::default());
        let mut tasks = Vec::new();
        for _ in 0..args.tasks.max(1) {
            let client = palisade_bus::connect(&conn).await?;
            tasks.push(tokio::spawn(run_worker(
                client,
                store.clone(),
                cfg.clone(),
                stats.clone(),
                stop_rx.clone(),
            )));
        }
        let every = Duration::from_secs(args.stats_every.max(1));
        let mut last_print = Instant::now();
        let metrics = match args.metrics {
            Some(addr) => {
                let m = crate::metrics::Metrics::new();
                let bound = m.serve(addr)?;
                eprintln!("palisade: worker metrics on http://{bound}/metrics");
                Some((m, jetstream_context(&conn).await?))
            }
            None => None,
        };
        let mut last_metrics = Instant::now() - Duration::from_secs(10);
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
            if let Some((m, js)) = &metrics
                && last_metrics.elapsed() >= Duration::from_secs(1)
            {
                last_metrics = Instant::now();
                let lag = palisade_bus::worker::lag(js, &cfg).await.ok();
                worker_metrics(m, &stats, lag);
            }
            let done = stats.messages.load(Ordering::Relaxed);
            if args.stats_every > 0 && last_print.elapsed() >= every {
                eprintln!("{}", stats.snapshot());
                last_print = Instant::now();
            }
            if args.exit_after.is_some_and(|n| done >= n) {
                break;
            }
        }
        let _ = stop_tx.send(true);
        for t in tasks {
            let _ = t.await;
        }
        println!("{}", stats.snapshot());
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// One synthetic event with a unique event id: `flows`% flow records, the rest alternately a
/// device (1,000 MACs per sensor) and an alert (10,000 ids per sensor, re-reported with a
/// growing count).
fn synthetic_event(run: u64, sensor: usize, n: u64, flows: u64) -> String {
    if n % 100 < flows {
        return format!(
            r#"{{"type":"flow","event_id":"b{run}-{sensor}-{n}","src":"10.{sensor}.0.{}","dst":"10.0.0.2","sport":{},"dport":443,"proto":"tcp","packets":12,"bytes":4096,"app":"tls"}}"#,
            n % 250,
            1024 + n % 60000
        );
    }
    let mac = format!(
        "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        sensor & 0xff,
        ((n % 1000) >> 8) & 0xff,
        (n % 1000) & 0xff,
        (run >> 8) & 0xff,
        run & 0xff
    );
    let ts = "2026-11-25T00:00:00Z";
    if n.is_multiple_of(2) {
        format!(
            r#"{{"type":"device","event_id":"b{run}-{sensor}-{n}","mac":"{mac}","ips":["10.{sensor}.{}.{}"],"vendor":"Bench","category":"camera","first_seen":"{ts}","last_seen":"{ts}","risk":{{"score":{}}}}}"#,
            (n % 1000) / 250,
            n % 250,
            n % 100
        )
    } else {
        format!(
            r#"{{"type":"alert","event_id":"b{run}-{sensor}-{n}","id":"bench:{run}:{sensor}:{}","kind":"scan.port","severity":"medium","device":"{mac}","src":"10.{sensor}.0.1","dst":"10.0.0.2","first_seen":"{ts}","last_seen":"{ts}","count":{},"summary":"bench alert","mitre":["T1046"],"evidence":{{"n":{n}}}}}"#,
            n % 10_000,
            n / 10_000 + 1
        )
    }
}

fn bench(args: &WorkerArgs) -> Result<ExitCode> {
    let conn = args.conn.connect_config("palisade-bench")?;
    if !is_loopback_url(&conn.url) {
        bail!("the load generator only targets loopback NATS (127.0.0.0/8, ::1, localhost)");
    }
    let rt = runtime()?;
    let scratch = std::env::temp_dir().join(format!("palisade-bus-bench-{}", std::process::id()));
    let mut results = Vec::new();
    for &workers in &args.workers {
        let run = palisade_bus::now_ns() / 1_000_000 % 1_000_000_000;
        let data_dir = args
            .data_dir
            .clone()
            .unwrap_or_else(|| scratch.join(format!("store-{workers}w")));
        let store = args.open_store(&data_dir)?;
        let r = rt.block_on(bench_round(
            args,
            &conn,
            store,
            workers.max(1),
            run,
            &scratch,
        ))?;
        println!("{}", r);
        results.push(r);
    }
    let _ = std::fs::remove_dir_all(&scratch);
    eprintln!(
        "{:>7} {:>10} {:>10} {:>12} {:>8} {:>8} {:>10}",
        "workers", "published", "stored", "events/s", "p50 ms", "p99 ms", "max lag"
    );
    for r in &results {
        let f = |k: &str| r[k].to_string();
        eprintln!(
            "{:>7} {:>10} {:>10} {:>12.0} {:>8} {:>8} {:>10}",
            f("workers"),
            f("published"),
            f("stored"),
            r["end_to_end_events_per_s"].as_f64().unwrap_or(0.0),
            f("latency_p50_ms"),
            f("latency_p99_ms"),
            f("max_lag")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn is_loopback_url(url: &str) -> bool {
    url.split(',').all(|u| {
        let hostport = u.trim().split("://").last().unwrap_or("");
        let hostport = hostport.rsplit('@').next().unwrap_or("");
        let host = if let Some(rest) = hostport.strip_prefix('[') {
            rest.split(']').next().unwrap_or("")
        } else {
            hostport.split(':').next().unwrap_or("")
        };
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    })
}

async fn bench_round(
    args: &WorkerArgs,
    conn: &ConnectConfig,
    store: Arc<dyn Store>,
    workers: usize,
    run: u64,
    scratch: &Path,
) -> Result<serde_json::Value> {
    let mut cfg = args.worker_config();
    cfg.stream.name = format!("{}_BENCH_{run}", args.stream);
    cfg.durable = format!("bench-{run}");
    cfg.filter = format!("{}.bench{run}.>", palisade_bus::SUBJECT_PREFIX);
    let admin = palisade_bus::connect(conn).await?;
    let js = async_nats_context(admin.clone());
    palisade_bus::worker::bind_consumer(&js, &cfg).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stats = Arc::new(WorkerStats::default());
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let client = palisade_bus::connect(conn).await?;
        tasks.push(tokio::spawn(run_worker(
            client,
            store.clone(),
            cfg.clone(),
            stats.clone(),
            stop_rx.clone(),
        )));
    }
    let started = Instant::now();
    let mut sensors = Vec::new();
    for s in 0..args.sensors.max(1) {
        let client = palisade_bus::connect(conn).await?;
        let subject = palisade_bus::subject(&format!("bench{run}"), &format!("s{s}"))?;
        let pcfg = PublisherConfig::new(SpoolConfig::new(scratch.join(format!("spool-{run}-{s}"))));
        let (rate, secs, flows) = (args.rate.max(1), args.duration.max(1), args.flows);
        sensors.push(tokio::spawn(async move {
            let mut p = Publisher::new(client, pcfg)?;
            let t0 = Instant::now();
            let mut n = 0u64;
            let total = rate * secs;
            // 100 ticks a second, each sending the events due by then.
            while n < total {
                let due =
                    ((t0.elapsed().as_secs_f64() * rate as f64) as u64 + rate / 100).min(total);
                while n < due {
                    p.send(&subject, &synthetic_event(run, s, n, flows)).await?;
                    n += 1;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let st = p.flush(Duration::from_secs(60)).await?;
            anyhow::Ok((n, st, t0.elapsed()))
        }));
    }
    let mut max_lag = 0u64;
    let mut publish_done = None;
    let mut published = 0u64;
    let mut spool_left = 0u64;
    let mut sensor_handles = sensors;
    let deadline = Instant::now() + Duration::from_secs(args.duration + 120);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Ok((p, a)) = palisade_bus::worker::lag(&js, &cfg).await {
            max_lag = max_lag.max(p + a);
        }
        if publish_done.is_none() && sensor_handles.iter().all(|h| h.is_finished()) {
            for h in sensor_handles.drain(..) {
                let (n, st, _) = h.await??;
                published += n;
                spool_left += st.spool_pending + st.dropped;
            }
            publish_done = Some(started.elapsed());
        }
        let stored = stats.messages.load(Ordering::Relaxed);
        if publish_done.is_some() && stored >= published {
            break;
        }
        if Instant::now() > deadline {
            tracing::warn!("bench: gave up waiting for the workers");
            break;
        }
    }
    let elapsed = started.elapsed();
    let (lag_pending, lag_unacked) = palisade_bus::worker::lag(&js, &cfg).await.unwrap_or((0, 0));
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    let _ = js.delete_stream(&cfg.stream.name).await;
    let h = stats.latency.lock().map(|h| h.clone()).unwrap_or_default();
    let stored = stats.messages.load(Ordering::Relaxed);
    Ok(serde_json::json!({
        "workers": workers,
        "sensors": args.sensors,
        "rate_per_sensor": args.rate,
        "flow_percent": args.flows,
        "offered_events_per_s": args.rate * args.sensors as u64,
        "duration_s": args.duration,
        "published": published,
        "stored": stored,
        "accepted": stats.accepted.load(Ordering::Relaxed),
        "duplicates": stats.duplicates.load(Ordering::Relaxed),
        "batches": stats.batches.load(Ordering::Relaxed),
        "store_s": stats.store_ns.load(Ordering::Relaxed) as f64 / 1e9,
        "not_delivered": spool_left,
        "publish_s": publish_done.map(|d| d.as_secs_f64()),
        "elapsed_s": elapsed.as_secs_f64(),
        "end_to_end_events_per_s": stored as f64 / elapsed.as_secs_f64(),
        "latency_p50_ms": h.quantile_ms(0.5),
        "latency_p99_ms": h.quantile_ms(0.99),
        "latency_max_ms": h.max_ms(),
        "max_lag": max_lag,
        "final_lag": lag_pending + lag_unacked,
        "store": if args.database_url.is_some() { "postgres" } else { "sqlite" },
    }))
}

fn async_nats_context(
    c: palisade_bus::async_nats::Client,
) -> palisade_bus::async_nats::jetstream::Context {
    palisade_bus::async_nats::jetstream::new(c)
}

/// `sense --nats`: a background thread that publishes the event lines it is sent (acks, spool
/// and in-order replay as for `analyze --nats`), so the capture loop never waits on the bus.
/// Dropping the sender flushes what is left (up to --publish-timeout) and ends the thread.
pub fn start_publisher_thread(
    args: &PublishArgs,
) -> Result<(std::sync::mpsc::Sender<String>, std::thread::JoinHandle<()>)> {
    let sensor = args.sensor.clone().unwrap_or_else(host_name);
    let subject = palisade_bus::subject(&args.site, &sensor)?;
    let cfg = args.publisher_config(Path::new("palisade-spool"));
    let conn = args
        .conn
        .connect_config(&format!("palisade-sensor-{sensor}"))?;
    let timeout = Duration::from_secs(args.publish_timeout);
    let rt = runtime()?;
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let h = std::thread::spawn(move || {
        let run = async {
            let client = palisade_bus::connect(&conn).await?;
            let mut p = Publisher::new(client, cfg)?;
            let mut sent = 0usize;
            loop {
                // Short blocking waits keep this future simple; the publisher's acks are
                // handled by the runtime's worker threads meanwhile.
                match rx.recv_timeout(Duration::from_millis(200)) {
                    Ok(line) => {
                        p.send(&subject, &line).await?;
                        sent += 1;
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
            let stats = p.flush(timeout).await?;
            report_publish(&subject, &stats, sent);
            anyhow::Ok(())
        };
        if let Err(e) = rt.block_on(run) {
            eprintln!("palisade: publishing to NATS: {e:#}");
        }
    });
    Ok((tx, h))
}

async fn jetstream_context(conn: &ConnectConfig) -> Result<async_nats::jetstream::Context> {
    Ok(async_nats::jetstream::new(
        palisade_bus::connect(conn).await?,
    ))
}

/// The worker's counters as Prometheus samples; `lag` is (not yet delivered, unacknowledged).
fn worker_metrics(m: &crate::metrics::Metrics, s: &WorkerStats, lag: Option<(u64, u64)>) {
    use crate::metrics::MetricType::{Counter, Gauge};
    let c = |name: &str, help: &str, v: &std::sync::atomic::AtomicU64| {
        m.set(name, Counter, help, &[], v.load(Ordering::Relaxed) as f64)
    };
    c(
        "palisade_worker_messages_total",
        "Bus messages handled.",
        &s.messages,
    );
    c(
        "palisade_worker_events_accepted_total",
        "Events newly stored.",
        &s.accepted,
    );
    c(
        "palisade_worker_events_duplicate_total",
        "Events already stored (re-deliveries).",
        &s.duplicates,
    );
    c(
        "palisade_worker_events_rejected_total",
        "Invalid events terminated.",
        &s.rejected,
    );
    c(
        "palisade_worker_batches_total",
        "Store transactions committed.",
        &s.batches,
    );
    c(
        "palisade_worker_store_retries_total",
        "Store writes retried (store unavailable).",
        &s.store_retries,
    );
    m.set(
        "palisade_worker_store_seconds_total",
        Counter,
        "Time spent in store writes.",
        &[],
        s.store_ns.load(Ordering::Relaxed) as f64 / 1e9,
    );
    if let Ok(h) = s.latency.lock() {
        for (q, label) in [(0.5, "0.5"), (0.99, "0.99")] {
            if let Some(ms) = h.quantile_ms(q) {
                m.set(
                    "palisade_worker_ingest_lag_seconds",
                    Gauge,
                    "Publish-to-commit latency of stored events (since start).",
                    &[("quantile", label)],
                    ms as f64 / 1e3,
                );
            }
        }
    }
    if let Some((pending, unacked)) = lag {
        m.set(
            "palisade_worker_consumer_pending",
            Gauge,
            "Bus messages not yet delivered to any worker (consumer lag).",
            &[],
            pending as f64,
        );
        m.set(
            "palisade_worker_consumer_ack_pending",
            Gauge,
            "Bus messages delivered but not yet acknowledged.",
            &[],
            unacked as f64,
        );
    }
}
