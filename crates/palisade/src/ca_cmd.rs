//! `palisade ca init|issue|revoke|crl|list|token|ocsp`: the hub's private CA for device identities
//! (crates/pki). The CA lives in DATA_DIR/ca with its keys sealed under the hub's
//! key-encryption key (DATA_DIR/kek), so `palisade serve` and this command share one CA.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;

use palisade_pki::{CaRepo, Kek, KeyKind, Policy, Reason, to_pem};

#[derive(clap::Args)]
pub(crate) struct CaArgs {
    /// Hub data directory: the CA lives in DATA_DIR/ca, the key-encryption key in DATA_DIR/kek.
    #[arg(long, default_value = "palisade-data", env = "PALISADE_DATA_DIR")]
    data_dir: PathBuf,
    /// CA directory (default DATA_DIR/ca).
    #[arg(long)]
    ca_dir: Option<PathBuf>,
    /// Key-encryption key file, 32 raw bytes (default DATA_DIR/kek; created by `init` if absent).
    #[arg(long)]
    kek: Option<PathBuf>,
}

impl CaArgs {
    fn ca_dir(&self) -> PathBuf {
        self.ca_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("ca"))
    }

    fn kek(&self) -> Result<Kek> {
        let path = self
            .kek
            .clone()
            .unwrap_or_else(|| self.data_dir.join("kek"));
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        Ok(Kek::load_or_create(&path)?)
    }

    fn open(&self) -> Result<CaRepo> {
        let dir = self.ca_dir();
        if !dir.join("ca.json").exists() {
            bail!(
                "no CA in {} (create one with `palisade ca init`)",
                dir.display()
            );
        }
        Ok(CaRepo::open(&dir, self.kek()?)?)
    }
}

#[derive(Subcommand)]
pub(crate) enum CaCommand {
    /// Create the root and issuing CA (keys sealed under the KEK).
    Init {
        #[command(flatten)]
        a: CaArgs,
        /// Organisation name used in the CA subjects.
        #[arg(long, default_value = "Palisade")]
        name: String,
        /// CA key type: p256, p384 or ed25519.
        #[arg(long, default_value = "p256")]
        key: String,
        /// Device key types accepted, comma-separated.
        #[arg(long, default_value = "p256,p384,ed25519")]
        allow_keys: String,
        /// Accept RSA device keys of at least this many bits (refused by default).
        #[arg(long)]
        min_rsa_bits: Option<u32>,
        /// Device certificate validity when a request names none.
        #[arg(long, default_value_t = 365)]
        validity_days: u32,
        /// Longest validity the CA will sign.
        #[arg(long, default_value_t = 825)]
        max_validity_days: u32,
    },
    /// Issue a device certificate from a PKCS#10 CSR (PEM or DER).
    Issue {
        #[command(flatten)]
        a: CaArgs,
        /// The CSR file.
        #[arg(long)]
        csr: PathBuf,
        /// Device id; the CSR's CN must match (default: taken from the CN).
        #[arg(long)]
        device: Option<String>,
        /// Validity in days (default: the CA's policy).
        #[arg(long)]
        days: Option<u32>,
        /// Write the certificate (PEM) here instead of stdout.
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
    /// Revoke a certificate by serial (hex) or all certificates of a device id.
    Revoke {
        #[command(flatten)]
        a: CaArgs,
        /// Serial number (hex) or device id.
        target: String,
        /// Reason: unspecified, keyCompromise, cACompromise, affiliationChanged, superseded,
        /// cessationOfOperation, certificateHold, privilegeWithdrawn.
        #[arg(long, default_value = "unspecified")]
        reason: String,
    },
    /// Issue the next CRL (v2) of the issuing CA, and the root's CRL.
    Crl {
        #[command(flatten)]
        a: CaArgs,
        /// Write the issuing CA's CRL here (default: DATA_DIR/ca/crl.pem).
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Write the root CA's CRL here (default: DATA_DIR/ca/root-crl.pem).
        #[arg(long)]
        root_out: Option<PathBuf>,
        /// DER instead of PEM.
        #[arg(long)]
        der: bool,
        /// Hours until nextUpdate.
        #[arg(long, default_value_t = 24)]
        hours: u32,
    },
    /// List issued certificates with their status.
    List {
        #[command(flatten)]
        a: CaArgs,
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Create one-time EST enrollment tokens bound to device ids (printed once: `ID TOKEN`).
    Token {
        #[command(flatten)]
        a: CaArgs,
        /// Device id (repeatable).
        #[arg(long = "device", required = true)]
        devices: Vec<String>,
        /// Hours the tokens stay valid.
        #[arg(long, default_value_t = 24)]
        ttl_hours: u32,
    },
    /// Write (or refresh) a Mosquitto policy: mosquitto.conf (mTLS listener,
    /// use_identity_as_username), per-device ACL `devices/<id>/#`, CA bundle, server certificate
    /// and the current CRL; then optionally SIGHUP the broker to reload.
    Broker {
        #[command(flatten)]
        a: CaArgs,
        /// Output directory for the broker's files.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 8883)]
        port: u16,
        #[arg(long, default_value = "127.0.0.1")]
        bind: String,
        /// Names for the broker's server certificate (repeatable).
        #[arg(long = "hostname", default_values_t = ["localhost".to_string(), "127.0.0.1".to_string()])]
        hostnames: Vec<String>,
        /// Hours until the CRL's nextUpdate.
        #[arg(long, default_value_t = 24)]
        crl_hours: u32,
        /// Send SIGHUP to this mosquitto process afterwards (reloads ACL and CRL).
        #[arg(long)]
        reload_pid: Option<u32>,
        /// Account mosquitto switches to when started as root (`user` setting); it must be able
        /// to read server.key (mode 0600, owned by whoever runs this command).
        #[arg(long)]
        run_as: Option<String>,
    },
    /// Answer an OCSP request (DER file) with a signed response (DER file).
    Ocsp {
        #[command(flatten)]
        a: CaArgs,
        #[arg(long)]
        request: PathBuf,
        #[arg(short, long)]
        out: PathBuf,
    },
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn write_out(path: Option<&Path>, bytes: &[u8]) -> Result<()> {
    match path {
        Some(p) => std::fs::write(p, bytes).with_context(|| format!("writing {}", p.display())),
        None => {
            let mut o = std::io::stdout().lock();
            o.write_all(bytes)?;
            o.flush()?;
            Ok(())
        }
    }
}

/// Writes a file atomically (temp file + rename), so a reloading broker never reads half of it.
fn replace_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))
}

/// Writes a new file readable by its owner only (the broker's private key).
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(bytes)?;
    Ok(())
}

fn rfc3339(unix: i64) -> String {
    // civil-from-days (Howard Hinnant's algorithm), to avoid a date dependency here.
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

pub(crate) fn run(cmd: CaCommand) -> Result<ExitCode> {
    match cmd {
        CaCommand::Init {
            a,
            name,
            key,
            allow_keys,
            min_rsa_bits,
            validity_days,
            max_validity_days,
        } => {
            let kind = KeyKind::parse(&key)?;
            let allowed_keys = allow_keys
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| KeyKind::parse(s.trim()))
                .collect::<Result<Vec<_>, _>>()?;
            if validity_days == 0 || validity_days > max_validity_days {
                bail!(
                    "--validity-days must be between 1 and --max-validity-days ({max_validity_days})"
                );
            }
            let policy = Policy {
                allowed_keys,
                min_rsa_bits,
                default_validity_days: validity_days,
                max_validity_days,
            };
            let dir = a.ca_dir();
            let repo = CaRepo::init(&dir, a.kek()?, &name, kind, policy, now())?;
            eprintln!(
                "created CA {:?} ({}) in {}: root.pem, issuing.pem, chain.pem; keys sealed",
                repo.name(),
                kind.name(),
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        CaCommand::Issue {
            a,
            csr,
            device,
            days,
            out,
        } => {
            let mut repo = a.open()?;
            let bytes =
                std::fs::read(&csr).with_context(|| format!("reading {}", csr.display()))?;
            let issued = repo
                .issue(&bytes, device.as_deref(), days, "cli", now())
                .with_context(|| format!("{}", csr.display()))?;
            write_out(
                out.as_deref(),
                to_pem("CERTIFICATE", &issued.der).as_bytes(),
            )?;
            eprintln!(
                "issued {} for device {} ({}), serial {}, valid until {}",
                if out.is_some() {
                    "certificate"
                } else {
                    "the certificate above"
                },
                issued.device_id,
                issued.key.name(),
                palisade_pki::hex(&issued.serial),
                rfc3339(issued.not_after)
            );
            Ok(ExitCode::SUCCESS)
        }
        CaCommand::Revoke { a, target, reason } => {
            let mut repo = a.open()?;
            let reason = Reason::parse(&reason)?;
            let done = repo.revoke(&target, reason, now())?;
            if done.is_empty() {
                eprintln!("{target}: already revoked");
            }
            for s in &done {
                println!("revoked {s} ({})", reason.name());
            }
            eprintln!("publish the change with `palisade ca crl`");
            Ok(ExitCode::SUCCESS)
        }
        CaCommand::Crl {
            a,
            out,
            root_out,
            der,
            hours,
        } => {
            if hours == 0 {
                bail!("--hours must be at least 1");
            }
            let mut repo = a.open()?;
            let (crl, root_crl) = repo.crl(now(), i64::from(hours) * 3600)?;
            let dir = repo.dir().to_path_buf();
            let ext = if der { "der" } else { "pem" };
            let out = out.unwrap_or_else(|| dir.join(format!("crl.{ext}")));
            let root_out = root_out.unwrap_or_else(|| dir.join(format!("root-crl.{ext}")));
            let enc = |d: &[u8]| {
                if der {
                    d.to_vec()
                } else {
                    to_pem("X509 CRL", d).into_bytes()
                }
            };
            write_out(Some(&out), &enc(&crl))?;
            write_out(Some(&root_out), &enc(&root_crl))?;
            let n = repo.list().iter().filter(|r| r.revoked.is_some()).count();
            eprintln!(
                "wrote {} ({n} revoked) and {}",
                out.display(),
                root_out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        CaCommand::List { a, json } => {
            let repo = a.open()?;
            let now = now();
            let mut o = std::io::stdout().lock();
            if !json {
                writeln!(
                    o,
                    "{:<34} {:<24} {:<8} {:<21} {:<10} VIA",
                    "SERIAL", "DEVICE", "KEY", "NOT AFTER", "STATUS"
                )?;
            }
            for r in repo.list() {
                let status = match r.revoked {
                    Some((_, reason)) => format!("revoked:{}", reason.name()),
                    None if r.not_after <= now => "expired".into(),
                    None => "valid".into(),
                };
                if json {
                    let v = serde_json::json!({
                        "serial": r.serial,
                        "device_id": r.device_id,
                        "key": r.key.name(),
                        "not_before": rfc3339(r.not_before),
                        "not_after": rfc3339(r.not_after),
                        "status": status,
                        "revoked_at": r.revoked.map(|(t, _)| rfc3339(t)),
                        "via": r.via,
                    });
                    writeln!(o, "{v}")?;
                } else {
                    writeln!(
                        o,
                        "{:<34} {:<24} {:<8} {:<21} {:<10} {}",
                        r.serial,
                        r.device_id,
                        r.key.name(),
                        rfc3339(r.not_after),
                        status,
                        r.via
                    )?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        CaCommand::Token {
            a,
            devices,
            ttl_hours,
        } => {
            if ttl_hours == 0 {
                bail!("--ttl-hours must be at least 1");
            }
            let mut repo = a.open()?;
            let ids: Vec<&str> = devices.iter().map(String::as_str).collect();
            let tokens = repo.create_tokens(&ids, i64::from(ttl_hours) * 3600, now())?;
            let mut o = std::io::stdout().lock();
            for (d, t) in ids.iter().zip(&tokens) {
                writeln!(o, "{d} {t}")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        CaCommand::Broker {
            a,
            out,
            port,
            bind,
            hostnames,
            crl_hours,
            reload_pid,
            run_as,
        } => {
            if crl_hours == 0 {
                bail!("--crl-hours must be at least 1");
            }
            let mut repo = a.open()?;
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let out = out
                .canonicalize()
                .with_context(|| format!("resolving {}", out.display()))?;
            let now = now();
            let issuing_pem = to_pem("CERTIFICATE", repo.ca().issuing_der());
            if !out.join("server.pem").exists() || !out.join("server.key").exists() {
                let (issued, key_pem) = repo.issue_server(&hostnames, 397, now)?;
                write_private(&out.join("server.key"), key_pem.as_bytes())?;
                std::fs::write(
                    out.join("server.pem"),
                    format!("{}{issuing_pem}", to_pem("CERTIFICATE", &issued.der)),
                )?;
            }
            std::fs::write(out.join("ca.pem"), repo.chain_pem())?;
            let (crl, _) = repo.crl(now, i64::from(crl_hours) * 3600)?;
            replace_file(&out.join("crl.pem"), to_pem("X509 CRL", &crl).as_bytes())?;
            let devices = repo.active_devices(now);
            replace_file(
                &out.join("acl"),
                palisade_pki::broker::mosquitto_acl(&devices).as_bytes(),
            )?;
            let settings = palisade_pki::broker::BrokerSettings { bind, port, run_as };
            replace_file(
                &out.join("mosquitto.conf"),
                palisade_pki::broker::mosquitto_conf(&out, &settings).as_bytes(),
            )?;
            eprintln!(
                "wrote {}/mosquitto.conf ({} devices in the ACL)",
                out.display(),
                devices.len()
            );
            if let Some(pid) = reload_pid {
                let st = std::process::Command::new("kill")
                    .args(["-HUP", &pid.to_string()])
                    .status()
                    .context("running kill -HUP")?;
                if !st.success() {
                    bail!("could not signal mosquitto (pid {pid})");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        CaCommand::Ocsp { a, request, out } => {
            let mut repo = a.open()?;
            let req = std::fs::read(&request)
                .with_context(|| format!("reading {}", request.display()))?;
            if let Err(e) = palisade_pki::ocsp::parse_request(&req) {
                eprintln!("{}: {e} (answering malformedRequest)", request.display());
            }
            let resp = repo.ocsp(&req, now())?;
            write_out(Some(&out), &resp)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_matches_known_dates() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_790_000_000), "2026-09-21T14:13:20Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
