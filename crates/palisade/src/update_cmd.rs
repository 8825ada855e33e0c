//! `palisade update init|add-target|publish|rotate-keys|expire|serve|fetch`: a TUF repository
//! with keys encrypted at rest under a key-encryption key file, an HTTPS server for it, and a
//! client.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;

use palisade_update::serve::{RepoServer, generate_tls, server_tls_config};
use palisade_update::time::{now, parse_duration, parse_rfc3339};
use palisade_update::{
    Client, DirFetcher, Fetcher, HttpFetcher, InitOptions, KeyAlg, Repository, Role,
    tls_config_trusting,
};

#[derive(clap::Args)]
pub(crate) struct RepoArgs {
    /// Repository directory.
    #[arg(long, default_value = "tuf-repo")]
    repo: PathBuf,
    /// Key-encryption key file (64 hex digits; created by `init` when missing).
    #[arg(long, env = "PALISADE_KEK_FILE")]
    kek: PathBuf,
}

#[derive(Subcommand)]
pub(crate) enum UpdateCommand {
    /// Create a repository: fresh keys, version-1 root/targets/snapshot/timestamp.
    Init {
        #[command(flatten)]
        r: RepoArgs,
        /// Keys per role, as root=N,targets=N,snapshot=N,timestamp=N (default 1 each).
        #[arg(long)]
        keys: Option<String>,
        /// Thresholds per role, same form (default 1 each).
        #[arg(long)]
        thresholds: Option<String>,
        /// Expiry periods per role, e.g. timestamp=1d,snapshot=7d.
        #[arg(long)]
        expiry: Option<String>,
        /// Use ECDSA P-256 keys instead of Ed25519.
        #[arg(long)]
        ecdsa: bool,
    },
    /// Stage a target file for the next publish.
    AddTarget {
        #[command(flatten)]
        r: RepoArgs,
        file: PathBuf,
        /// Target name (default: the file name).
        #[arg(long)]
        name: Option<String>,
        /// `custom` metadata as a JSON object (e.g. hardware id, security counter).
        #[arg(long)]
        custom: Option<String>,
    },
    /// Sign and publish the staged targets with new snapshot and timestamp versions.
    Publish {
        #[command(flatten)]
        r: RepoArgs,
    },
    /// Replace a role's keys; writes a new root signed by the old and new root keys.
    RotateKeys {
        #[command(flatten)]
        r: RepoArgs,
        #[arg(long)]
        role: String,
    },
    /// Re-sign a role with a new expiry (`--in 1d` or `--at 2030-01-01T00:00:00Z`).
    Expire {
        #[command(flatten)]
        r: RepoArgs,
        #[arg(long)]
        role: String,
        #[arg(long = "in", conflicts_with = "at")]
        within: Option<String>,
        #[arg(long)]
        at: Option<String>,
    },
    /// Serve the repository's metadata/ and targets/ over HTTPS (rustls, ring).
    Serve {
        /// Repository directory.
        #[arg(long, default_value = "tuf-repo")]
        repo: PathBuf,
        /// Address to listen on (port 0 picks a free port; the URL is printed).
        #[arg(long, default_value = "127.0.0.1:8444")]
        listen: std::net::SocketAddr,
        /// PEM certificate chain (with --tls-key); otherwise a CA and server certificate are
        /// generated into --tls-dir on first use.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Where generated TLS material lives (ca.pem is what clients trust).
        #[arg(long, default_value = "tuf-tls")]
        tls_dir: PathBuf,
        /// Host names/addresses for the generated certificate.
        #[arg(long, default_value = "localhost,127.0.0.1,::1")]
        names: String,
        /// Serve plain HTTP (only for a TLS-terminating proxy in front).
        #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
        plain_http: bool,
    },
    /// Client: update trusted metadata from a repository and download a verified target.
    Fetch {
        /// Client state directory (holds the trusted metadata).
        #[arg(long)]
        state: PathBuf,
        /// Trusted root.json to bootstrap a new state directory.
        #[arg(long)]
        root: Option<PathBuf>,
        /// Repository base: https://HOST:PORT/path (with --ca), http://... or a directory.
        #[arg(long)]
        url: String,
        /// CA certificate(s) trusted for an https:// repository.
        #[arg(long)]
        ca: Option<PathBuf>,
        target: String,
        #[arg(short, long)]
        output: PathBuf,
    },
}

fn role(s: &str) -> Result<Role> {
    Role::from_name(s)
        .ok_or_else(|| anyhow!("unknown role {s} (root, targets, snapshot, timestamp)"))
}

fn per_role<T>(s: &str, parse: impl Fn(&str) -> Option<T>) -> Result<Vec<(Role, T)>> {
    s.split(',')
        .map(|kv| {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| anyhow!("expected role=value, got {kv}"))?;
            Ok((
                role(k.trim())?,
                parse(v.trim()).ok_or_else(|| anyhow!("bad value {v}"))?,
            ))
        })
        .collect()
}

pub(crate) fn run(cmd: UpdateCommand) -> Result<ExitCode> {
    let t = now();
    match cmd {
        UpdateCommand::Init {
            r,
            keys,
            thresholds,
            expiry,
            ecdsa,
        } => {
            let mut o = InitOptions::default();
            if let Some(k) = keys {
                o.keys.extend(per_role(&k, |v| v.parse().ok())?);
            }
            if let Some(k) = thresholds {
                o.thresholds.extend(per_role(&k, |v| v.parse().ok())?);
            }
            if let Some(k) = expiry {
                o.expiry.extend(per_role(&k, parse_duration)?);
            }
            if ecdsa {
                o.alg = KeyAlg::EcdsaP256;
            }
            for role in Role::ALL {
                if o.thresholds[&role] as usize > o.keys[&role] {
                    bail!("{} threshold exceeds its key count", role.name());
                }
            }
            Repository::init(&r.repo, &r.kek, &o, t)?;
            println!(
                "initialised {} (metadata in {}/metadata)",
                r.repo.display(),
                r.repo.display()
            );
        }
        UpdateCommand::AddTarget {
            r,
            file,
            name,
            custom,
        } => {
            let repo = Repository::open(&r.repo, &r.kek)?;
            let data =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let name = match name {
                Some(n) => n,
                None => file
                    .file_name()
                    .and_then(|n| n.to_str())
                    .ok_or_else(|| anyhow!("cannot derive a target name; pass --name"))?
                    .to_owned(),
            };
            let custom = match custom {
                Some(c) => serde_json::from_str(&c).context("--custom must be JSON")?,
                None => serde_json::Value::Null,
            };
            let tf = repo.add_target(&name, &data, custom)?;
            println!(
                "staged {name} ({} bytes); run `palisade update publish`",
                tf.length
            );
        }
        UpdateCommand::Publish { r } => {
            let (tv, sv, tsv) = Repository::open(&r.repo, &r.kek)?.publish(t)?;
            println!("published targets v{tv}, snapshot v{sv}, timestamp v{tsv}");
        }
        UpdateCommand::RotateKeys { r, role: ro } => {
            let repo = Repository::open(&r.repo, &r.kek)?;
            repo.rotate_keys(role(&ro)?, t)?;
            println!("rotated {ro} keys; root is now v{}", repo.versions()?.0);
        }
        UpdateCommand::Expire {
            r,
            role: ro,
            within,
            at,
        } => {
            let exp = match (within, at) {
                (Some(d), None) => {
                    t + parse_duration(&d).ok_or_else(|| anyhow!("bad duration {d}"))?
                }
                (None, Some(a)) => parse_rfc3339(&a).ok_or_else(|| anyhow!("bad time {a}"))?,
                _ => bail!("give --in DURATION or --at TIME"),
            };
            Repository::open(&r.repo, &r.kek)?.expire(role(&ro)?, exp, t)?;
            println!(
                "{ro} re-signed, expires {}",
                palisade_update::time::format_rfc3339(exp)
            );
        }
        UpdateCommand::Serve {
            repo,
            listen,
            tls_cert,
            tls_key,
            tls_dir,
            names,
            plain_http,
        } => return serve(repo, listen, tls_cert, tls_key, tls_dir, &names, plain_http),
        UpdateCommand::Fetch {
            state,
            root,
            url,
            ca,
            target,
            output,
        } => {
            if let Some(r) = root
                && !state.join("root.json").exists()
            {
                Client::<DirFetcher>::bootstrap(&state, &std::fs::read(&r)?)?;
            }
            let data = if url.starts_with("https://") {
                let ca = ca.ok_or_else(|| anyhow!("an https:// repository needs --ca"))?;
                let tls = tls_config_trusting(
                    &std::fs::read(&ca).with_context(|| format!("reading {}", ca.display()))?,
                )
                .map_err(|e| anyhow!("{}: {e}", ca.display()))?;
                fetch(
                    state,
                    HttpFetcher::https(&url, tls).ok_or_else(|| anyhow!("bad URL {url}"))?,
                    &target,
                    t,
                )
            } else if url.starts_with("http://") {
                fetch(
                    state,
                    HttpFetcher::new(&url).ok_or_else(|| anyhow!("bad URL {url}"))?,
                    &target,
                    t,
                )
            } else {
                fetch(state, DirFetcher(PathBuf::from(&url)), &target, t)
            };
            match data {
                Ok(d) => {
                    std::fs::write(&output, &d)?;
                    println!(
                        "{target}: {} bytes verified, written to {}",
                        d.len(),
                        output.display()
                    );
                }
                Err(e) => {
                    eprintln!("update refused: {e}");
                    return Ok(ExitCode::from(1));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn fetch<F: Fetcher>(
    state: PathBuf,
    f: F,
    target: &str,
    t: i64,
) -> Result<Vec<u8>, palisade_update::TufError> {
    let mut c = Client::open(state, f, t)?;
    c.refresh()?;
    c.download(target)
}

fn serve(
    repo: PathBuf,
    listen: std::net::SocketAddr,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_dir: PathBuf,
    names: &str,
    plain_http: bool,
) -> Result<ExitCode> {
    if !repo.join("metadata").is_dir() {
        bail!(
            "{} has no metadata/ directory (run `palisade update init` first)",
            repo.display()
        );
    }
    let (tls, ca) = if plain_http {
        (None, None)
    } else {
        let (cert, key, ca) = match (tls_cert, tls_key) {
            (Some(c), Some(k)) => (c, k, None),
            _ => {
                let (c, k, ca) = (
                    tls_dir.join("cert.pem"),
                    tls_dir.join("key.pem"),
                    tls_dir.join("ca.pem"),
                );
                if !c.exists() || !k.exists() {
                    let names: Vec<String> = names
                        .split(',')
                        .map(|n| n.trim().to_owned())
                        .filter(|n| !n.is_empty())
                        .collect();
                    let m = generate_tls(&names).map_err(|e| anyhow!(e))?;
                    std::fs::create_dir_all(&tls_dir)
                        .with_context(|| format!("creating {}", tls_dir.display()))?;
                    std::fs::write(&ca, &m.ca_pem)?;
                    std::fs::write(&c, &m.cert_pem)?;
                    write_secret(&k, m.key_pem.as_bytes())?;
                }
                (c, k, Some(ca))
            }
        };
        let cfg = server_tls_config(
            &std::fs::read(&cert).with_context(|| format!("reading {}", cert.display()))?,
            &std::fs::read(&key).with_context(|| format!("reading {}", key.display()))?,
        )
        .map_err(|e| anyhow!(e))?;
        (Some(cfg), ca)
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let server =
        RepoServer::bind(listen, &repo, tls).with_context(|| format!("binding {listen}"))?;
    let addr = server.local_addr()?;
    match &ca {
        Some(ca) => println!(
            "serving {} at {scheme}://{addr}/ (clients trust {})",
            repo.display(),
            ca.display()
        ),
        None => println!("serving {} at {scheme}://{addr}/", repo.display()),
    }
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    server.run();
    Ok(ExitCode::SUCCESS)
}

fn write_secret(path: &std::path::Path, data: &[u8]) -> Result<()> {
    #[cfg(unix)]
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("writing {}", path.display()))?;
        f.write_all(data)?;
        Ok(())
    }
    #[cfg(not(unix))]
    {
        std::fs::write(path, data).with_context(|| format!("writing {}", path.display()))
    }
}
