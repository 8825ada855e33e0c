//! `palisade agent enroll`: the device side of EST (RFC 7030, issue 10). The agent makes its own
//! key and PKCS#10 request and obtains its Palisade device certificate (LDevID) one of three
//! ways:
//!
//! - a one-time enrollment token (`--token`, from `palisade ca token`) over the hub's HTTPS
//!   listener (`simpleenroll`, Bearer);
//! - a manufacturer certificate (`--idevid-cert/--idevid-key`, IDevID → LDevID) presented as TLS
//!   client certificate to the mTLS device gateway (`simpleenroll`, no token);
//! - renewal: with a certificate already in `--dir` and neither of the above, `simplereenroll`
//!   on the gateway authenticated by the current certificate, once it is within
//!   `--renew-within-days` of expiry.
//!
//! The identity directory holds `key.pem` (0600), `cert.pem` and `ca.pem` (the CA chain from
//! `cacerts`, used to authenticate the gateway afterwards).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};

use palisade_hub::client::{self, Identity};
use palisade_pki::{KeyKind, pkcs7, to_pem};

#[derive(clap::Args)]
pub(crate) struct EnrollArgs {
    /// Identity directory (key.pem, cert.pem, ca.pem).
    #[arg(long)]
    dir: PathBuf,
    /// EST server base URL: the hub (https://HOST:8443) for token enrollment, the device
    /// gateway for IDevID enrollment and renewal.
    #[arg(long)]
    est: String,
    /// One-time enrollment token (`palisade ca token`).
    #[arg(long, env = "PALISADE_ENROLL_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Device id (the token's id; default: the IDevID's CN or the current certificate's CN).
    #[arg(long)]
    device_id: Option<String>,
    /// Manufacturer certificate (IDevID, PEM; may include its chain).
    #[arg(long, requires = "idevid_key", conflicts_with = "token")]
    idevid_cert: Option<PathBuf>,
    /// The IDevID's private key (PEM).
    #[arg(long, requires = "idevid_cert")]
    idevid_key: Option<PathBuf>,
    /// Key type of the new key: p256, p384 or ed25519.
    #[arg(long, default_value = "p256")]
    key_type: String,
    /// Trust exactly this server certificate (PEM), e.g. the hub's tls-cert.pem.
    #[arg(long, conflicts_with = "cacert")]
    pin: Option<PathBuf>,
    /// Trust these CA certificates (PEM) for the server (default for renewal: DIR/ca.pem).
    #[arg(long)]
    cacert: Option<PathBuf>,
    /// Renew once the current certificate expires within this many days.
    #[arg(long, default_value_t = 30)]
    renew_within_days: u32,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn read(p: &Path) -> Result<Vec<u8>> {
    std::fs::read(p).with_context(|| format!("reading {}", p.display()))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))
}

fn write_public(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))
}

/// The certificates of an EST response (base64 PKCS#7 certs-only).
fn est_certs(r: &client::Response, what: &str) -> Result<Vec<Vec<u8>>> {
    if r.status != 200 {
        bail!(
            "EST {what}: server answered {}: {}",
            r.status,
            r.text().trim()
        );
    }
    let der = pkcs7::base64_decode(&r.body).with_context(|| format!("EST {what} response"))?;
    let certs = pkcs7::parse_certs(&der).with_context(|| format!("EST {what} response"))?;
    if certs.is_empty() {
        bail!("EST {what}: the response holds no certificate");
    }
    Ok(certs)
}

fn url(base: &str, op: &str) -> String {
    format!("{}/.well-known/est/{op}", base.trim_end_matches('/'))
}

pub(crate) fn run(a: EnrollArgs) -> Result<ExitCode> {
    std::fs::create_dir_all(&a.dir).with_context(|| format!("creating {}", a.dir.display()))?;
    let kind = KeyKind::parse(&a.key_type)?;
    let cert_path = a.dir.join("cert.pem");
    let key_path = a.dir.join("key.pem");
    let ca_path = a.dir.join("ca.pem");
    let renewing = a.token.is_none() && a.idevid_cert.is_none();
    let trust = match (&a.pin, &a.cacert) {
        (Some(p), _) => client::pinned_from_pem(&read(p)?).map_err(anyhow::Error::msg)?,
        (None, Some(c)) => client::roots_from_pem(&read(c)?).map_err(anyhow::Error::msg)?,
        (None, None) if renewing && ca_path.exists() => {
            client::roots_from_pem(&read(&ca_path)?).map_err(anyhow::Error::msg)?
        }
        (None, None) => bail!(
            "the EST server is not authenticated: give --pin (the hub's tls-cert.pem) or --cacert"
        ),
    };

    // Who we are, how we authenticate, and which EST operation.
    let (device, identity, op) = if a.token.is_some() {
        let id = a
            .device_id
            .clone()
            .ok_or_else(|| anyhow!("--token needs --device-id (the id the token is bound to)"))?;
        (id, None, "simpleenroll")
    } else if let (Some(c), Some(k)) = (&a.idevid_cert, &a.idevid_key) {
        let cert = read(c)?;
        let cn =
            palisade_pki::csr::certificate_cn(&cert).with_context(|| format!("{}", c.display()))?;
        if let Some(id) = &a.device_id
            && *id != cn
        {
            bail!("--device-id {id:?} differs from the IDevID's CN {cn:?}");
        }
        let ident = Identity::from_pem(&cert, &read(k)?).map_err(anyhow::Error::msg)?;
        (cn, Some(ident), "simpleenroll")
    } else {
        if !cert_path.exists() {
            bail!(
                "{} holds no certificate: enroll first with --token or --idevid-cert",
                a.dir.display()
            );
        }
        let cert = read(&cert_path)?;
        let (_, not_after) = palisade_pki::csr::certificate_validity(&cert)
            .with_context(|| format!("{}", cert_path.display()))?;
        let left = not_after - now();
        if left > i64::from(a.renew_within_days) * 86_400 {
            println!(
                "certificate valid for {} more days; renewal starts {} days before expiry",
                left / 86_400,
                a.renew_within_days
            );
            return Ok(ExitCode::SUCCESS);
        }
        let cn = palisade_pki::csr::certificate_cn(&cert)
            .with_context(|| format!("{}", cert_path.display()))?;
        let ident = Identity::from_pem(&cert, &read(&key_path)?).map_err(anyhow::Error::msg)?;
        (cn, Some(ident), "simplereenroll")
    };

    // The CA chain first (RFC 7030 §4.1), over the channel just authenticated.
    let r = client::request_as(
        "GET",
        &url(&a.est, "cacerts"),
        &[],
        b"",
        &trust,
        identity.as_ref(),
    )
    .map_err(|e| anyhow!("EST cacerts at {}: {e}", a.est))?;
    let ca_certs = est_certs(&r, "cacerts")?;

    let (key_pem, csr) = palisade_pki::csr::build(kind, &device)?;
    let body = pkcs7::base64_lines(&csr);
    let auth = a.token.as_ref().map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/pkcs10")];
    if let Some(h) = &auth {
        headers.push(("Authorization", h));
    }
    let r = client::request_as(
        "POST",
        &url(&a.est, op),
        &headers,
        body.as_bytes(),
        &trust,
        identity.as_ref(),
    )
    .map_err(|e| anyhow!("EST {op} at {}: {e}", a.est))?;
    let issued = est_certs(&r, op)?;
    let leaf = &issued[0];
    let cn = palisade_pki::csr::certificate_cn(leaf).context("the issued certificate")?;
    if cn != device {
        bail!("the CA issued a certificate for {cn:?}, not {device:?}");
    }
    let (_, not_after) = palisade_pki::csr::certificate_validity(leaf)?;

    // Key first, then certificate: a crash in between leaves the old pair unusable rather than
    // a certificate without its key; the old pair is kept as *.old for a rollback.
    if renewing {
        let _ = std::fs::copy(&cert_path, a.dir.join("cert.pem.old"));
        let _ = std::fs::copy(&key_path, a.dir.join("key.pem.old"));
    }
    write_private(&key_path, key_pem.as_bytes())?;
    write_public(&cert_path, to_pem("CERTIFICATE", leaf).as_bytes())?;
    let chain: String = ca_certs.iter().map(|c| to_pem("CERTIFICATE", c)).collect();
    write_public(&ca_path, chain.as_bytes())?;
    println!(
        "{} device {device}: certificate {} ({}), valid {} more days",
        if renewing { "renewed" } else { "enrolled" },
        cert_path.display(),
        kind.name(),
        (not_after - now()) / 86_400
    );
    Ok(ExitCode::SUCCESS)
}
