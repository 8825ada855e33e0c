//! `palisade agent provision|run|status`: the device agent on a simulated device (A/B slot
//! files). `run` polls a TUF repository (https://, http:// or a directory), verifies and installs
//! the device's firmware target through the MCUboot boot core, and reports to the hub, which
//! also decides whether the device is in the current rollout wave.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;
use serde_json::json;

use palisade_firmware::boot::UpgradeMode;
use palisade_firmware::{Key, PublicKey};
use palisade_update::agent::{Device, Policy, Report, run_cycle};
use palisade_update::time::now;
use palisade_update::{ClientTls, DirFetcher, HttpFetcher, tls_config_trusting};

#[derive(Subcommand)]
pub(crate) enum AgentCommand {
    /// Create a simulated device: factory image in the primary slot, trusted TUF root.
    Provision {
        /// Device directory (slot files, counter, TUF state).
        #[arg(long)]
        device: PathBuf,
        /// Signed factory image (MCUboot format).
        #[arg(long)]
        image: PathBuf,
        /// The repository's trusted root.json (shipped with the device).
        #[arg(long)]
        root: PathBuf,
        /// Slot size in bytes (decimal or 0x hex), as imgtool's -S.
        #[arg(short = 'S', long, value_parser = parse_size)]
        slot_size: usize,
    },
    /// Poll the repository and install the firmware target (once, or every --interval).
    Run(RunArgs),
    /// Obtain or renew the device certificate over EST (token, IDevID or current certificate).
    Enroll(crate::enroll_cmd::EnrollArgs),
    /// Print the last status report of a device.
    Status {
        #[arg(long)]
        device: PathBuf,
    },
}

#[derive(clap::Args)]
pub(crate) struct RunArgs {
    #[arg(long)]
    device: PathBuf,
    /// Repository base: https://HOST:PORT[/path], http://... or a directory. Default with
    /// --hub: the hub's own repository, HUB/updates (fetched with the hub token).
    #[arg(long, required_unless_present = "hub")]
    url: Option<String>,
    /// CA certificate(s) trusted for an https:// repository (default for the hub's own
    /// repository: --hub-cert).
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Firmware signing key(s) the bootloader trusts (public or private PEM); repeatable.
    #[arg(short = 'k', long = "key", required = true)]
    keys: Vec<PathBuf>,
    /// The TUF target name of this device's firmware.
    #[arg(long)]
    target: String,
    /// Bootloader upgrade mode.
    #[arg(long, value_parser = ["swap", "overwrite"], default_value = "swap")]
    mode: String,
    /// Simulate a failed post-boot health check (the new image is not confirmed, so the
    /// bootloader reverts it).
    #[arg(long)]
    unhealthy: bool,
    /// Hub base URL (https://HOST:PORT) for rollout assignment and status reports.
    #[arg(long, requires = "hub_token")]
    hub: Option<String>,
    /// API token for the hub (role analyst or above).
    #[arg(long, env = "PALISADE_HUB_TOKEN")]
    hub_token: Option<String>,
    /// The hub's certificate to pin (its tls-cert.pem); without it the hub is not authenticated.
    #[arg(long)]
    hub_cert: Option<PathBuf>,
    /// Device id reported to the hub (default: the device directory's name).
    #[arg(long)]
    device_id: Option<String>,
    /// Poll every this many seconds instead of once.
    #[arg(long)]
    interval: Option<u64>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_size(s: &str) -> Result<usize, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => usize::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|e| format!("{s}: {e}"))
}

pub(crate) fn run(cmd: AgentCommand) -> Result<ExitCode> {
    match cmd {
        AgentCommand::Provision {
            device,
            image,
            root,
            slot_size,
        } => {
            let img =
                std::fs::read(&image).with_context(|| format!("reading {}", image.display()))?;
            let root_json =
                std::fs::read(&root).with_context(|| format!("reading {}", root.display()))?;
            Device::provision(&device, slot_size, &img, &root_json)
                .with_context(|| format!("provisioning {}", device.display()))?;
            println!("provisioned {} ({slot_size}-byte slots)", device.display());
            Ok(ExitCode::SUCCESS)
        }
        AgentCommand::Status { device } => {
            let p = device.join("status.json");
            let s = std::fs::read_to_string(&p)
                .with_context(|| format!("reading {} (has the agent run?)", p.display()))?;
            print!("{s}");
            Ok(ExitCode::SUCCESS)
        }
        AgentCommand::Run(a) => run_agent(a),
        AgentCommand::Enroll(a) => crate::enroll_cmd::run(a),
    }
}

fn load_keys(paths: &[PathBuf]) -> Result<Vec<PublicKey>> {
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading key {}", p.display()))?;
            Key::from_pem(&text)
                .with_context(|| format!("loading key {}", p.display()))?
                .public_key()
                .ok_or_else(|| anyhow!("{}: not a signing key", p.display()))
        })
        .collect()
}

/// Where the TUF repository is and how to reach it.
struct Repo {
    url: String,
    tls: Option<ClientTls>,
    /// Bearer token for the hub's own repository.
    token: Option<String>,
}

struct Hub {
    base: String,
    token: String,
    trust: palisade_hub::client::Trust,
    device_id: String,
}

impl Hub {
    fn call(&self, method: &str, path: &str, body: &[u8]) -> Result<serde_json::Value> {
        let url = format!("{}/api/v1{path}", self.base.trim_end_matches('/'));
        let auth = format!("Bearer {}", self.token);
        let r = palisade_hub::client::request(
            method,
            &url,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            body,
            &self.trust,
        )
        .map_err(|e| anyhow!("hub {url}: {e}"))?;
        if r.status != 200 {
            bail!("hub {url}: HTTP {}: {}", r.status, r.text());
        }
        serde_json::from_slice(&r.body).with_context(|| format!("hub {url}: not JSON"))
    }

    /// Whether this device is in the current rollout wave for `target`.
    fn assignment(&self, target: &str) -> Result<serde_json::Value> {
        let body = json!({ "device": self.device_id, "target": target });
        self.call("POST", "/rollout/assignment", body.to_string().as_bytes())
    }

    fn report(&self, r: &serde_json::Value) -> Result<()> {
        let mut body = r.clone();
        body["device"] = json!(self.device_id);
        self.call("POST", "/rollout/reports", body.to_string().as_bytes())
            .map(|_| ())
    }
}

fn run_agent(a: RunArgs) -> Result<ExitCode> {
    let keys = load_keys(&a.keys)?;
    let trusted: Vec<_> = keys.iter().map(|k| k.as_trusted()).collect();
    let mode = if a.mode == "overwrite" {
        UpgradeMode::Overwrite {
            downgrade_prevention: true,
        }
    } else {
        UpgradeMode::Swap
    };
    // The hub's own repository: same host, same credentials, same pinned certificate.
    let url = match (&a.url, &a.hub) {
        (Some(u), _) => u.clone(),
        (None, Some(h)) => format!("{}/updates", h.trim_end_matches('/')),
        (None, None) => bail!("give --url or --hub"),
    };
    let from_hub = a
        .hub
        .as_ref()
        .is_some_and(|h| url.starts_with(&format!("{}/", h.trim_end_matches('/'))));
    let repo_token = if from_hub { a.hub_token.clone() } else { None };
    let ca =
        a.ca.clone()
            .or_else(|| from_hub.then(|| a.hub_cert.clone()).flatten());
    let tls = match &ca {
        Some(p) => Some(
            tls_config_trusting(
                &std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
            )
            .map_err(|e| anyhow!("{}: {e}", p.display()))?,
        ),
        None => None,
    };
    if url.starts_with("https://") && tls.is_none() {
        bail!("an https:// repository needs --ca (the CA certificate to trust)");
    }
    let repo = Repo {
        url,
        tls,
        token: repo_token,
    };
    let hub = match (&a.hub, &a.hub_token) {
        (Some(base), Some(token)) => Some(Hub {
            base: base.clone(),
            token: token.clone(),
            trust: match &a.hub_cert {
                Some(p) => palisade_hub::client::pinned_from_pem(&std::fs::read(p)?)
                    .map_err(|e| anyhow!("{}: {e}", p.display()))?,
                None => palisade_hub::client::Trust::Any,
            },
            device_id: a.device_id.clone().unwrap_or_else(|| {
                a.device
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "device".into())
            }),
        }),
        _ => None,
    };
    loop {
        let code = one_cycle(&a, &trusted, mode, &repo, hub.as_ref())?;
        match a.interval {
            None => return Ok(code),
            Some(s) => std::thread::sleep(Duration::from_secs(s.max(1))),
        }
    }
}

fn one_cycle(
    a: &RunArgs,
    keys: &[palisade_firmware::TrustedKey<'_>],
    mode: UpgradeMode,
    repo: &Repo,
    hub: Option<&Hub>,
) -> Result<ExitCode> {
    let mut dev =
        Device::open(&a.device).with_context(|| format!("opening {}", a.device.display()))?;
    if let Some(h) = hub {
        let asg = h.assignment(&a.target)?;
        if asg["install"] != json!(true) {
            let running = dev.running(keys).map(|v| v.version.to_string());
            let r = json!({
                "result": "waiting", "target": a.target, "running_version": running,
                "security_counter": dev.sim.nv_counter,
                "detail": asg["reason"].as_str().unwrap_or("not in the current rollout wave"),
                "at": now(),
            });
            h.report(&r)?;
            print_report(&r, a.json);
            return Ok(ExitCode::SUCCESS);
        }
    }
    let policy = Policy {
        keys,
        target: &a.target,
        mode,
        healthy: !a.unhealthy,
        now: now(),
    };
    let bearer = |f: HttpFetcher| match &repo.token {
        Some(t) => f
            .with_bearer(t)
            .ok_or_else(|| anyhow!("the hub token is not a valid header value")),
        None => Ok(f),
    };
    let url = &repo.url;
    let report = if url.starts_with("https://") {
        let tls = repo
            .tls
            .clone()
            .ok_or_else(|| anyhow!("no TLS configuration"))?;
        let f = HttpFetcher::https(url, tls).ok_or_else(|| anyhow!("bad URL {url}"))?;
        run_cycle(&mut dev, bearer(f)?, &policy)?
    } else if url.starts_with("http://") {
        let f = HttpFetcher::new(url).ok_or_else(|| anyhow!("bad URL {url}"))?;
        run_cycle(&mut dev, bearer(f)?, &policy)?
    } else {
        let dir = url.strip_prefix("file://").unwrap_or(url);
        run_cycle(&mut dev, DirFetcher(Path::new(dir).to_owned()), &policy)?
    };
    let j = serde_json::to_value(&report)?;
    if let Some(h) = hub
        && let Err(e) = h.report(&j)
    {
        eprintln!("warning: status report to the hub failed: {e:#}");
    }
    print_report(&j, a.json);
    Ok(exit_for(&report))
}

fn print_report(r: &serde_json::Value, as_json: bool) {
    if as_json {
        println!("{r}");
    } else {
        println!(
            "{}: {} (running {}, security counter {})",
            r["result"].as_str().unwrap_or("?"),
            r["detail"].as_str().unwrap_or(""),
            r["running_version"].as_str().unwrap_or("none"),
            r["security_counter"]
        );
    }
}

/// 0: installed or already current; 3: refused or reverted (the device keeps running a
/// verified image either way).
fn exit_for(r: &Report) -> ExitCode {
    if r.result.is_failure() {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}
