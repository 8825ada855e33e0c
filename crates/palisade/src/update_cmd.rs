//! `palisade update init|add-target|publish|rotate-keys|expire|fetch`: a TUF repository with
//! keys encrypted at rest under a key-encryption key file, and a client.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;

use palisade_update::time::{now, parse_duration, parse_rfc3339};
use palisade_update::{
    Client, DirFetcher, Fetcher, HttpFetcher, InitOptions, KeyAlg, Repository, Role,
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
    /// Client: update trusted metadata from a repository and download a verified target.
    Fetch {
        /// Client state directory (holds the trusted metadata).
        #[arg(long)]
        state: PathBuf,
        /// Trusted root.json to bootstrap a new state directory.
        #[arg(long)]
        root: Option<PathBuf>,
        /// Repository base: http://127.0.0.1:PORT/path or a directory.
        #[arg(long)]
        url: String,
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
        UpdateCommand::Fetch {
            state,
            root,
            url,
            target,
            output,
        } => {
            if let Some(r) = root
                && !state.join("root.json").exists()
            {
                Client::<DirFetcher>::bootstrap(&state, &std::fs::read(&r)?)?;
            }
            let data = if url.starts_with("http://") {
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
