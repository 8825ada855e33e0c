//! The device agent's update cycle (a simulated device with A/B slot files):
//! TUF refresh → target download (length and hashes checked) → MCUboot image verification
//! against the trusted keys and the device's security counter → write to the secondary slot,
//! marked pending → "reboot" through [`palisade_firmware::boot`] → confirm when healthy, or let
//! the bootloader revert → persist slots and the anti-rollback counter.
//!
//! Device directory: `primary.bin`, `secondary.bin` (the slots), `nv-counter` (the hardware
//! security counter, decimal), `tuf/` (the TUF client's trusted metadata), `status.json`
//! (the last [`Report`]).

use std::path::{Path, PathBuf};

use palisade_firmware::boot::{Action, BootConfig, BootOutcome, SimDevice, UpgradeMode};
use palisade_firmware::image::Image;
use palisade_firmware::verify::{TrustedKey, Verified, VerifyPolicy, verify_parsed};

use crate::client::Client;
use crate::fetch::{DirFetcher, Fetcher};
use crate::{TufError, hex};

/// Local failures of the agent (not verification outcomes, which are [`Report`]s).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// Reading or writing the device directory.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The device directory is inconsistent.
    #[error("{0}")]
    Device(String),
    /// TUF bootstrap failure.
    #[error(transparent)]
    Tuf(#[from] TufError),
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> AgentError + '_ {
    move |source| AgentError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A simulated device: slots and security counter persisted in a directory.
pub struct Device {
    dir: PathBuf,
    /// The slots and the counter.
    pub sim: SimDevice,
}

impl Device {
    /// Creates a device directory: the factory image in the primary slot (slot size
    /// `slot_size`), an erased secondary slot, counter 0, and the TUF client bootstrapped with
    /// `root_json` (the trusted root shipped with the device).
    pub fn provision(
        dir: impl Into<PathBuf>,
        slot_size: usize,
        factory_image: &[u8],
        root_json: &[u8],
    ) -> Result<Self, AgentError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let mut sim = SimDevice::new(slot_size);
        if !sim.flash_primary(factory_image) {
            return Err(AgentError::Device(format!(
                "factory image ({} bytes) does not fit a {slot_size}-byte slot with its trailer",
                factory_image.len()
            )));
        }
        Client::<DirFetcher>::bootstrap(dir.join("tuf"), root_json)?;
        let d = Self { dir, sim };
        d.save()?;
        Ok(d)
    }

    /// Opens a provisioned device directory.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, AgentError> {
        let dir = dir.into();
        let read = |n: &str| {
            let p = dir.join(n);
            std::fs::read(&p).map_err(io(&p))
        };
        let primary = read("primary.bin")?;
        let secondary = read("secondary.bin")?;
        if primary.len() != secondary.len() {
            return Err(AgentError::Device(format!(
                "{}: primary ({} bytes) and secondary ({} bytes) slots differ in size",
                dir.display(),
                primary.len(),
                secondary.len()
            )));
        }
        let nv = read("nv-counter")?;
        let nv_counter = std::str::from_utf8(&nv)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| {
                AgentError::Device(format!(
                    "{}: not a decimal counter",
                    dir.join("nv-counter").display()
                ))
            })?;
        Ok(Self {
            dir,
            sim: SimDevice {
                primary,
                secondary,
                nv_counter,
            },
        })
    }

    /// The device directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes slots and counter (each file replaced atomically).
    pub fn save(&self) -> Result<(), AgentError> {
        write_atomic(&self.dir, "primary.bin", &self.sim.primary)?;
        write_atomic(&self.dir, "secondary.bin", &self.sim.secondary)?;
        write_atomic(
            &self.dir,
            "nv-counter",
            format!("{}\n", self.sim.nv_counter).as_bytes(),
        )
    }

    /// The verified image in the primary slot, if it verifies.
    pub fn running(&self, keys: &[TrustedKey<'_>]) -> Option<Verified> {
        let img = Image::parse(&self.sim.primary).ok()?;
        verify_parsed(
            &img,
            keys,
            &VerifyPolicy {
                min_security_counter: Some(self.sim.nv_counter),
                payload_is_plaintext: false,
            },
        )
        .ok()
    }
}

fn write_atomic(dir: &Path, name: &str, data: &[u8]) -> Result<(), AgentError> {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, data).map_err(io(&tmp))?;
    let dst = dir.join(name);
    std::fs::rename(&tmp, &dst).map_err(io(&dst))
}

/// What the agent enforces.
#[derive(Clone, Copy, Debug)]
pub struct Policy<'a> {
    /// Keys trusted to sign firmware (MCUboot KEYHASH/PUBKEY check).
    pub keys: &'a [TrustedKey<'a>],
    /// The TUF target name of this device's firmware.
    pub target: &'a str,
    /// The bootloader's upgrade mode.
    pub mode: UpgradeMode,
    /// Result of the post-boot health check of the new image (a simulated device cannot run
    /// it): `false` leaves it unconfirmed so the bootloader reverts on the next boot.
    pub healthy: bool,
    /// Current time (Unix seconds) for metadata expiry.
    pub now: i64,
}

/// The result of one update cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The device already runs the published target.
    UpToDate,
    /// The new image was installed, booted and confirmed.
    Updated,
    /// The new image booted as a test image, was not confirmed, and the bootloader reverted.
    Reverted,
    /// TUF metadata refused (rollback, freeze, mix-and-match, threshold, transport...).
    RefusedMetadata,
    /// The target download failed its signed length/hashes, or the transport failed.
    RefusedDownload,
    /// The image failed MCUboot verification (signature, key, security counter, downgrade).
    RefusedImage,
    /// The bootloader refused the staged image.
    RefusedBoot,
}

impl Outcome {
    /// The kebab-case name reported to the hub.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UpToDate => "up-to-date",
            Self::Updated => "updated",
            Self::Reverted => "reverted",
            Self::RefusedMetadata => "refused-metadata",
            Self::RefusedDownload => "refused-download",
            Self::RefusedImage => "refused-image",
            Self::RefusedBoot => "refused-boot",
        }
    }

    /// Whether the cycle ended in a failure worth counting in a rollout.
    pub fn is_failure(self) -> bool {
        !matches!(self, Self::UpToDate | Self::Updated)
    }
}

/// What one cycle did, as written to `status.json` and sent to the hub.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    /// Result.
    pub result: Outcome,
    /// Target name.
    pub target: String,
    /// Version running after the cycle (`null` if the primary slot does not verify).
    pub running_version: Option<String>,
    /// Security counter of the device after the cycle.
    pub security_counter: u32,
    /// Version of the candidate image, when it was parsed.
    pub candidate_version: Option<String>,
    /// SHA-256 of the candidate target, when known from the signed targets metadata.
    pub candidate_sha256: Option<String>,
    /// Human-readable reason or summary.
    pub detail: String,
    /// Unix seconds.
    pub at: i64,
}

/// Runs one update cycle: refresh, download, verify, stage, reboot, confirm or revert. The
/// device directory is saved after every slot change; `status.json` gets the report.
pub fn run_cycle<F: Fetcher>(
    dev: &mut Device,
    fetcher: F,
    p: &Policy<'_>,
) -> Result<Report, AgentError> {
    let report = cycle(dev, fetcher, p)?;
    if let Ok(j) = serde_json::to_vec_pretty(&report) {
        write_atomic(&dev.dir, "status.json", &j)?;
    }
    Ok(report)
}

fn cycle<F: Fetcher>(dev: &mut Device, fetcher: F, p: &Policy<'_>) -> Result<Report, AgentError> {
    let running = dev.running(p.keys);
    let mut rep = Report {
        result: Outcome::UpToDate,
        target: p.target.to_owned(),
        running_version: running.map(|v| v.version.to_string()),
        security_counter: dev.sim.nv_counter,
        candidate_version: None,
        candidate_sha256: None,
        detail: String::new(),
        at: p.now,
    };
    let refuse = |mut rep: Report, o: Outcome, why: String| {
        rep.result = o;
        rep.detail = why;
        Ok(rep)
    };

    let mut client = Client::open(dev.dir.join("tuf"), fetcher, p.now)?;
    if let Err(e) = client.refresh() {
        return refuse(rep, Outcome::RefusedMetadata, e.to_string());
    }
    let tf = match client.target(p.target) {
        Ok(t) => t,
        Err(e) => return refuse(rep, Outcome::RefusedMetadata, e.to_string()),
    };
    rep.candidate_sha256 = tf.hashes.get("sha256").map(|h| hex(h));
    if let Some(run) = running
        && let Some(installed) = dev.sim.primary.get(..run.image_len)
        && tf.check(installed, p.target).is_ok()
    {
        rep.candidate_version = rep.running_version.clone();
        rep.detail = "the running image is the published target".into();
        return Ok(rep);
    }
    let data = match client.download(p.target) {
        Ok(d) => d,
        Err(e) => return refuse(rep, Outcome::RefusedDownload, e.to_string()),
    };

    // MCUboot verification before anything touches flash.
    let img = match Image::parse(&data) {
        Ok(i) => i,
        Err(e) => return refuse(rep, Outcome::RefusedImage, e.to_string()),
    };
    rep.candidate_version = Some(img.header.version.to_string());
    let cand = match verify_parsed(
        &img,
        p.keys,
        &VerifyPolicy {
            min_security_counter: Some(dev.sim.nv_counter),
            payload_is_plaintext: false,
        },
    ) {
        Ok(v) => v,
        Err(e) => return refuse(rep, Outcome::RefusedImage, e.to_string()),
    };
    if let Some(run) = running
        && cand.version < run.version
    {
        return refuse(
            rep,
            Outcome::RefusedImage,
            format!(
                "version {} is lower than the running {}: downgrade refused",
                cand.version, run.version
            ),
        );
    }

    // Stage: secondary slot, pending (test) in swap mode, permanent in overwrite mode.
    let permanent = matches!(p.mode, UpgradeMode::Overwrite { .. });
    if !dev.sim.stage(&data, permanent) {
        return refuse(
            rep,
            Outcome::RefusedImage,
            format!(
                "image of {} bytes does not fit the {}-byte slot with its trailer",
                data.len(),
                dev.sim.secondary.len()
            ),
        );
    }
    dev.save()?;

    let cfg = BootConfig {
        keys: p.keys,
        mode: p.mode,
    };
    let first = dev.sim.boot(&cfg);
    dev.save()?;
    let booted_new = match &first {
        BootOutcome::Booted(d) => match d.rejected_upgrade {
            Some(r) => return refuse(rep, Outcome::RefusedBoot, r.to_string()),
            None => matches!(d.action, Action::Swap { .. } | Action::Overwrite),
        },
        BootOutcome::Refused(r) => return refuse(rep, Outcome::RefusedBoot, r.to_string()),
    };
    if !booted_new {
        return refuse(
            rep,
            Outcome::RefusedBoot,
            "the bootloader did not switch to the staged image".into(),
        );
    }

    let from = rep.running_version.clone().unwrap_or_else(|| "none".into());
    if p.mode == UpgradeMode::Swap && p.healthy {
        dev.sim.confirm();
    }
    // The second boot makes the confirmation (and the counter) permanent, or reverts.
    let second = dev.sim.boot(&cfg);
    dev.save()?;
    let after = dev.running(p.keys);
    rep.running_version = after.map(|v| v.version.to_string());
    rep.security_counter = dev.sim.nv_counter;
    match second {
        BootOutcome::Booted(d) if d.action == Action::Revert => {
            rep.result = Outcome::Reverted;
            rep.detail = format!(
                "{} failed its health check and was not confirmed; the bootloader reverted to {}",
                cand.version,
                rep.running_version.as_deref().unwrap_or("?")
            );
        }
        BootOutcome::Booted(_) => {
            rep.result = Outcome::Updated;
            rep.detail = format!(
                "{from} -> {} (security counter {})",
                cand.version, dev.sim.nv_counter
            );
        }
        BootOutcome::Refused(r) => return refuse(rep, Outcome::RefusedBoot, r.to_string()),
    }
    Ok(rep)
}
