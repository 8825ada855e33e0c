//! `palisade mud learn|check|compile|validate`: RFC 8520 MUD profiles (crates/policy).

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use clap::Subcommand;

use palisade_policy::check::{self, Violation};
use palisade_policy::learn::{self, LearnOptions};
use palisade_policy::nft::{self, CompileOptions};

/// What is known of the device's local peers (RFC 8520 `same-manufacturer`, `manufacturer`,
/// `model`). Manufacturers default to the IEEE OUI registry organisation of each MAC.
#[derive(clap::Args)]
pub(crate) struct IdentityArgs {
    /// A local peer's own MUD URL, MAC=URL (it becomes a `model` match). Repeatable.
    #[arg(long = "peer-mud-url")]
    peer_mud_url: Vec<String>,
    /// A local peer's manufacturer (MUD URL authority), MAC=DOMAIN (`manufacturer`). Repeatable.
    #[arg(long = "peer-manufacturer")]
    peer_manufacturer: Vec<String>,
    /// The device's manufacturer name (default: its OUI registry organisation).
    #[arg(long)]
    device_vendor: Option<String>,
    /// Do not look manufacturers up in the OUI registry (same OUI then means same manufacturer).
    #[arg(long)]
    no_oui_vendors: bool,
}

fn oui_vendor(mac: [u8; 6]) -> Option<String> {
    palisade_kb::OuiTable::embedded()
        .lookup(mac)
        .map(str::to_string)
}

impl IdentityArgs {
    fn identities(&self) -> Result<palisade_policy::Identities> {
        let mut ids = palisade_policy::Identities {
            device_vendor: self.device_vendor.clone(),
            vendor_lookup: (!self.no_oui_vendors)
                .then_some(oui_vendor as fn([u8; 6]) -> Option<String>),
            ..Default::default()
        };
        for (flag, list, is_url) in [
            ("--peer-mud-url", &self.peer_mud_url, true),
            ("--peer-manufacturer", &self.peer_manufacturer, false),
        ] {
            for spec in list {
                let (mac, value) = spec
                    .split_once('=')
                    .ok_or_else(|| anyhow!("{flag} wants MAC=VALUE: {spec}"))?;
                let mac =
                    palisade_policy::parse_mac(mac).with_context(|| format!("{flag} {spec}"))?;
                let p = ids.peers.entry(mac).or_default();
                if is_url {
                    p.mud_url = Some(value.to_string());
                } else {
                    p.manufacturer = Some(value.to_string());
                }
            }
        }
        Ok(ids)
    }
}

#[derive(Subcommand)]
pub(crate) enum MudCommand {
    /// Learn a least-privilege MUD profile for one device from captures.
    Learn {
        #[arg(required = true)]
        pcaps: Vec<PathBuf>,
        /// Device MAC address.
        #[arg(long)]
        device: String,
        /// mud-url of the generated profile.
        #[arg(long)]
        mud_url: Option<String>,
        #[command(flatten)]
        ids: IdentityArgs,
        /// Write the profile here instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Check a device's captured traffic against a profile; exits 3 when there are violations.
    Check {
        #[arg(long)]
        profile: PathBuf,
        #[arg(required = true)]
        pcaps: Vec<PathBuf>,
        #[arg(long)]
        device: String,
        /// Print the report (alerts with offending flows) as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        ids: IdentityArgs,
    },
    /// Compile a profile to an nftables ruleset (nft -f).
    Compile {
        /// Emit nftables (the only backend).
        #[arg(long, required = true)]
        nft: bool,
        profile: PathBuf,
        #[arg(long = "device-mac")]
        device_mac: Vec<String>,
        #[arg(long = "device-ip")]
        device_ip: Vec<IpAddr>,
        /// Resolved DNS name: NAME=IP[,IP...] (elements time out after --ttl seconds).
        #[arg(long)]
        resolve: Vec<String>,
        #[arg(long, default_value_t = 3600)]
        ttl: u32,
        /// Hub addresses reachable from the quarantine zone.
        #[arg(long = "hub-ip")]
        hub_ip: Vec<IpAddr>,
        /// Leave out the quarantine-zone table.
        #[arg(long)]
        no_quarantine: bool,
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Parse and validate a profile; print warnings and errors with their JSON paths.
    Validate { profile: PathBuf },
    /// Put a device into the nftables quarantine zone now (loads the zone if needed).
    Quarantine {
        #[command(flatten)]
        target: TargetArgs,
        /// Hub addresses that stay reachable from quarantine.
        #[arg(long = "hub-ip")]
        hub_ip: Vec<IpAddr>,
        /// Auto-expiry in seconds (0: until released).
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
        #[arg(long, default_value = "nft")]
        nft: PathBuf,
    },
    /// Release a device from the quarantine zone.
    Release {
        #[command(flatten)]
        target: TargetArgs,
        #[arg(long, default_value = "nft")]
        nft: PathBuf,
    },
}

#[derive(clap::Args)]
pub(crate) struct TargetArgs {
    /// Device MAC address.
    #[arg(long)]
    mac: Option<String>,
    /// Device address (repeatable).
    #[arg(long)]
    ip: Vec<IpAddr>,
}

impl TargetArgs {
    fn target(&self) -> Result<palisade_policy::respond::Target> {
        Ok(palisade_policy::respond::Target {
            mac: self
                .mac
                .as_deref()
                .map(palisade_policy::parse_mac)
                .transpose()?,
            ips: self.ip.clone(),
        })
    }
}

/// The audit line printed for a manual action (the same fields as `sense` response events).
fn audit(action: &str, t: &palisade_policy::respond::Target, took: std::time::Duration) {
    let ev = serde_json::json!({
        "type": "response",
        "action": action,
        "manual": true,
        "device": t.mac.map(|m| palisade_policy::fmt_mac(&m)),
        "ips": t.ips.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
        "nft_ms": (took.as_secs_f64() * 1e6).round() / 1e3,
    });
    println!("{ev}");
}

fn read_profile(p: &Path) -> Result<palisade_policy::MudFile> {
    let text = fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    palisade_policy::load(&text).with_context(|| format!("{}", p.display()))
}

fn write_out(output: Option<&Path>, s: &str) -> Result<()> {
    match output {
        Some(o) => fs::write(o, s).with_context(|| format!("writing {}", o.display())),
        None => {
            print!("{s}");
            Ok(())
        }
    }
}

pub(crate) fn run(cmd: MudCommand) -> Result<ExitCode> {
    match cmd {
        MudCommand::Learn {
            pcaps,
            device,
            mud_url,
            ids,
            output,
        } => {
            let mac = palisade_policy::parse_mac(&device)?;
            let ids = ids.identities()?;
            let opts = LearnOptions {
                mud_url,
                device_vendor: ids.device_vendor,
                peers: ids.peers,
                vendor_lookup: ids.vendor_lookup,
                ..Default::default()
            };
            let l = learn::learn(&pcaps, mac, &opts)?;
            let o = &l.observation;
            eprintln!(
                "learned from {} packets of {device} ({} flows, {} DNS-named addresses, {} ACLs); {} public addresses had no DNS name",
                o.packets_device,
                o.flows.len(),
                o.dns.len(),
                l.mud.acls.acl.len(),
                l.unnamed_public.len()
            );
            write_out(
                output.as_deref(),
                &(palisade_policy::to_json(&l.mud) + "\n"),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        MudCommand::Check {
            profile,
            pcaps,
            device,
            json,
            ids,
        } => {
            let mud = read_profile(&profile)?;
            let mac = palisade_policy::parse_mac(&device)?;
            let r = check::check_with(&mud, &pcaps, mac, ids.identities()?)?;
            if json {
                let alerts: Vec<_> = r
                    .violations
                    .iter()
                    .map(|v| to_alert(&r.device, v))
                    .collect();
                let doc = serde_json::json!({ "report": &r, "alerts": alerts });
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                println!(
                    "{}: {} flows, {}/{} directions permitted by {}, {} violations",
                    r.device,
                    r.flows_checked,
                    r.directions_permitted,
                    r.directions_checked,
                    r.mud_url,
                    r.violations.len()
                );
                for v in &r.violations {
                    println!("  {} {}", check::KIND, v.describe());
                }
            }
            Ok(if r.violations.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            })
        }
        MudCommand::Compile {
            nft: _,
            profile,
            device_mac,
            device_ip,
            resolve,
            ttl,
            hub_ip,
            no_quarantine,
            output,
        } => {
            let mud = read_profile(&profile)?;
            let mut opts = CompileOptions {
                device_ips: device_ip,
                quarantine: !no_quarantine,
                hub_ips: hub_ip,
                ..Default::default()
            };
            for m in &device_mac {
                opts.device_macs.push(palisade_policy::parse_mac(m)?);
            }
            for r in &resolve {
                let (name, ips) = r
                    .split_once('=')
                    .ok_or_else(|| anyhow!("--resolve wants NAME=IP[,IP]: {r}"))?;
                let e = opts
                    .resolved
                    .entry(name.trim_end_matches('.').to_ascii_lowercase())
                    .or_default();
                for ip in ips.split(',') {
                    e.push((ip.parse().with_context(|| format!("--resolve {r}"))?, ttl));
                }
            }
            let (rs, _) = nft::compile(&mud, &opts);
            write_out(output.as_deref(), &rs)?;
            Ok(ExitCode::SUCCESS)
        }
        MudCommand::Quarantine {
            target,
            hub_ip,
            ttl,
            nft,
        } => {
            let t = target.target()?;
            let ttl = (ttl > 0).then(|| std::time::Duration::from_secs(ttl));
            let mut r = palisade_policy::respond::Responder::new(hub_ip, ttl);
            r.nft = nft;
            r.install()?;
            let took = r.quarantine(&t)?;
            audit("quarantine", &t, took);
            Ok(ExitCode::SUCCESS)
        }
        MudCommand::Release { target, nft } => {
            let t = target.target()?;
            let mut r = palisade_policy::respond::Responder::new(Vec::new(), None);
            r.nft = nft;
            let took = r.release(&t)?;
            audit("release", &t, took);
            Ok(ExitCode::SUCCESS)
        }
        MudCommand::Validate { profile } => {
            let text = fs::read_to_string(&profile)
                .with_context(|| format!("reading {}", profile.display()))?;
            let m =
                palisade_policy::parse(&text).with_context(|| format!("{}", profile.display()))?;
            let issues = palisade_policy::validate(&m);
            for i in &issues {
                eprintln!("{}: {i}", profile.display());
            }
            let errors = issues.iter().filter(|i| i.is_error()).count();
            println!(
                "{}: {} ACLs, {} errors, {} warnings",
                profile.display(),
                m.acls.acl.len(),
                errors,
                issues.len() - errors
            );
            Ok(if errors == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

/// A violation as a report alert (`policy.violation`, DESIGN.md §6 alert shape).
fn to_alert(device: &str, v: &Violation) -> palisade_detect::Alert {
    let ts = |ns: i64| {
        format!(
            "{}.{:09}",
            ns.div_euclid(1_000_000_000),
            ns.rem_euclid(1_000_000_000)
        )
    };
    let ep = |ip: Option<IpAddr>, port: u16| ip.map(|a| format!("{a}:{port}"));
    let (src, dst) = if v.direction == "from-device" {
        (
            ep(v.device_ip, v.device_port),
            ep(v.remote_ip, v.remote_port),
        )
    } else {
        (
            ep(v.remote_ip, v.remote_port),
            ep(v.device_ip, v.device_port),
        )
    };
    palisade_detect::Alert {
        id: format!("{}:{device}:{}", check::KIND, v.describe()),
        kind: check::KIND.to_string(),
        severity: "medium".to_string(),
        device: Some(device.to_string()),
        src,
        dst,
        first_seen: ts(v.first_ts_ns),
        last_seen: ts(v.last_ts_ns),
        count: v.packets,
        summary: format!("traffic not permitted by the MUD profile: {}", v.describe()),
        evidence: serde_json::to_value(v).unwrap_or_default(),
        mitre: vec!["T1071".to_string()],
    }
}
