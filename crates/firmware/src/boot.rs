//! The secure-boot decision core: given the contents of the primary and secondary slots, the
//! trusted keys and the device's security counter, decide what MCUboot would do — boot,
//! upgrade (swap or overwrite), revert an unconfirmed test image, or refuse.
//!
//! [`decide`] is pure and allocation-free (no `alloc` use; tested with a counting allocator).
//! [`SimDevice`] applies decisions to simulated A/B flash for tests and the device agent.

use alloc::vec::Vec;

use crate::image::{BOOT_MAGIC, Image};
use crate::verify::{TrustedKey, Verified, VerifyError, VerifyPolicy, verify_parsed};

/// How upgrades are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpgradeMode {
    /// Swap the slots; a test image that is not confirmed is swapped back on the next boot.
    Swap,
    /// Copy the secondary over the primary (no revert). With `downgrade_prevention`, an
    /// image whose version is lower than the running one is refused
    /// (`MCUBOOT_DOWNGRADE_PREVENTION`).
    Overwrite {
        /// Refuse version downgrades.
        downgrade_prevention: bool,
    },
}

/// Bootloader configuration.
#[derive(Clone, Copy, Debug)]
pub struct BootConfig<'a> {
    /// Trusted signing keys.
    pub keys: &'a [TrustedKey<'a>],
    /// Upgrade strategy.
    pub mode: UpgradeMode,
}

/// Trailer fields of a slot (default `max_align` of 8).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotTrailer {
    /// Boot magic present.
    pub magic: bool,
    /// `image_ok` == 0x01.
    pub image_ok: bool,
    /// `copy_done` == 0x01.
    pub copy_done: bool,
}

const ALIGN: usize = 8;

impl SlotTrailer {
    /// Reads a slot's trailer.
    pub fn read(slot: &[u8]) -> Self {
        let n = slot.len();
        let at = |back: usize| n.checked_sub(back).and_then(|i| slot.get(i)) == Some(&0x01);
        Self {
            magic: n
                .checked_sub(16)
                .and_then(|i| slot.get(i..))
                .is_some_and(|m| m == BOOT_MAGIC),
            image_ok: at(16 + ALIGN),
            copy_done: at(16 + 2 * ALIGN),
        }
    }

    /// Writes this trailer into a slot (erased value 0xff elsewhere in the trailer).
    pub fn write(&self, slot: &mut [u8]) {
        let n = slot.len();
        if n < 16 + 2 * ALIGN {
            return;
        }
        slot[n - 16..].copy_from_slice(if self.magic { &BOOT_MAGIC } else { &[0xff; 16] });
        slot[n - 16 - ALIGN] = if self.image_ok { 0x01 } else { 0xff };
        slot[n - 16 - 2 * ALIGN] = if self.copy_done { 0x01 } else { 0xff };
    }
}

/// What the bootloader does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Boot the primary slot as it is.
    BootPrimary,
    /// Swap the secondary into the primary and boot it; `permanent` if it was marked confirmed,
    /// otherwise it is a test image that reverts unless confirmed.
    Swap {
        /// The new image is already confirmed.
        permanent: bool,
    },
    /// Copy the secondary over the primary and boot it.
    Overwrite,
    /// The test image in the primary was not confirmed: swap the previous image back.
    Revert,
}

/// A decision to boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// What to do to the slots before booting.
    pub action: Action,
    /// The verified image that will run.
    pub image: Verified,
    /// Why an upgrade candidate in the secondary slot was refused (it gets erased).
    pub rejected_upgrade: Option<Rejection>,
    /// The security counter to store in NV once this decision is applied.
    pub new_security_counter: u32,
}

/// Why an upgrade candidate was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// It failed verification (signature, digest, security counter...).
    #[error("{0}")]
    Invalid(VerifyError),
    /// Overwrite mode with downgrade prevention: the version is lower than the running one.
    #[error("version {candidate} is lower than the running {running}: downgrade refused")]
    Downgrade {
        /// Candidate version.
        candidate: crate::image::ImageVersion,
        /// Running version.
        running: crate::image::ImageVersion,
    },
}

/// No image can be booted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Why the primary slot is not bootable.
    pub primary: VerifyError,
    /// Why the secondary candidate was refused, if there was one.
    pub upgrade: Option<Rejection>,
}

impl core::fmt::Display for Refusal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "no bootable image: primary slot: {}", self.primary)?;
        if let Some(r) = &self.upgrade {
            write!(f, "; upgrade candidate refused: {r}")?;
        }
        Ok(())
    }
}

impl core::error::Error for Refusal {}

fn check(slot: &[u8], cfg: &BootConfig<'_>, nv: u32) -> Result<Verified, VerifyError> {
    let img = Image::parse(slot)?;
    verify_parsed(
        &img,
        cfg.keys,
        &VerifyPolicy {
            min_security_counter: Some(nv),
            payload_is_plaintext: false,
        },
    )
}

/// Decides what to boot. Allocation-free.
pub fn decide(
    primary: &[u8],
    secondary: &[u8],
    cfg: &BootConfig<'_>,
    nv_counter: u32,
) -> Result<Decision, Refusal> {
    let pt = SlotTrailer::read(primary);
    let st = SlotTrailer::read(secondary);
    let bump = |v: &Verified| v.security_counter.unwrap_or(0).max(nv_counter);

    // An unconfirmed test image from the previous swap: revert.
    if cfg.mode == UpgradeMode::Swap
        && pt.magic
        && pt.copy_done
        && !pt.image_ok
        && let Ok(old) = check(secondary, cfg, nv_counter)
    {
        return Ok(Decision {
            action: Action::Revert,
            image: old,
            rejected_upgrade: None,
            new_security_counter: bump(&old),
        });
    }

    let mut rejected = None;
    if st.magic {
        match check(secondary, cfg, nv_counter) {
            Ok(cand) => {
                let running = check(primary, cfg, nv_counter).ok();
                match (cfg.mode, running) {
                    (
                        UpgradeMode::Overwrite {
                            downgrade_prevention: true,
                        },
                        Some(run),
                    ) if cand.version < run.version => {
                        rejected = Some(Rejection::Downgrade {
                            candidate: cand.version,
                            running: run.version,
                        });
                    }
                    (UpgradeMode::Overwrite { .. }, _) => {
                        return Ok(Decision {
                            action: Action::Overwrite,
                            image: cand,
                            rejected_upgrade: None,
                            new_security_counter: bump(&cand),
                        });
                    }
                    (UpgradeMode::Swap, _) => {
                        return Ok(Decision {
                            action: Action::Swap {
                                permanent: st.image_ok,
                            },
                            image: cand,
                            rejected_upgrade: None,
                            // A test image raises the counter only once it is confirmed.
                            new_security_counter: if st.image_ok {
                                bump(&cand)
                            } else {
                                nv_counter
                            },
                        });
                    }
                }
            }
            Err(e) => rejected = Some(Rejection::Invalid(e)),
        }
    }

    match check(primary, cfg, nv_counter) {
        Ok(run) => Ok(Decision {
            action: Action::BootPrimary,
            image: run,
            rejected_upgrade: rejected,
            new_security_counter: if pt.magic && !pt.image_ok {
                nv_counter
            } else {
                bump(&run)
            },
        }),
        Err(primary) => Err(Refusal {
            primary,
            upgrade: rejected,
        }),
    }
}

/// A simulated device with two slots and a non-volatile security counter.
#[derive(Clone, Debug)]
pub struct SimDevice {
    /// Primary (running) slot.
    pub primary: Vec<u8>,
    /// Secondary (staging) slot.
    pub secondary: Vec<u8>,
    /// Hardware security counter (anti-rollback), only ever increases.
    pub nv_counter: u32,
}

/// The outcome of one simulated boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BootOutcome {
    /// Booted; the decision that was applied.
    Booted(Decision),
    /// Refused to boot.
    Refused(Refusal),
}

impl SimDevice {
    /// A device with erased slots of `slot_size` bytes.
    pub fn new(slot_size: usize) -> Self {
        Self {
            primary: alloc::vec![0xff; slot_size],
            secondary: alloc::vec![0xff; slot_size],
            nv_counter: 0,
        }
    }

    /// Flashes an image into the primary slot at the factory (confirmed).
    pub fn flash_primary(&mut self, image: &[u8]) -> bool {
        write_slot(&mut self.primary, image)
    }

    /// Writes an update into the secondary slot and requests the upgrade
    /// (`permanent` = confirmed already, otherwise a test upgrade).
    pub fn stage(&mut self, image: &[u8], permanent: bool) -> bool {
        if !write_slot(&mut self.secondary, image) {
            return false;
        }
        SlotTrailer {
            magic: true,
            image_ok: permanent,
            copy_done: false,
        }
        .write(&mut self.secondary);
        true
    }

    /// Confirms the running image (what the application does once healthy).
    pub fn confirm(&mut self) {
        let mut t = SlotTrailer::read(&self.primary);
        t.image_ok = true;
        t.write(&mut self.primary);
    }

    /// Reboots through the bootloader and applies its decision.
    pub fn boot(&mut self, cfg: &BootConfig<'_>) -> BootOutcome {
        match decide(&self.primary, &self.secondary, cfg, self.nv_counter) {
            Err(r) => BootOutcome::Refused(r),
            Ok(d) => {
                if d.rejected_upgrade.is_some() {
                    self.secondary.fill(0xff);
                }
                match d.action {
                    Action::BootPrimary => {}
                    Action::Swap { permanent } => {
                        core::mem::swap(&mut self.primary, &mut self.secondary);
                        SlotTrailer {
                            magic: true,
                            image_ok: permanent,
                            copy_done: true,
                        }
                        .write(&mut self.primary);
                        SlotTrailer::default().write(&mut self.secondary);
                    }
                    Action::Overwrite => {
                        self.primary.copy_from_slice(&self.secondary);
                        SlotTrailer::default().write(&mut self.primary);
                        self.secondary.fill(0xff);
                    }
                    Action::Revert => {
                        core::mem::swap(&mut self.primary, &mut self.secondary);
                        SlotTrailer {
                            magic: true,
                            image_ok: true,
                            copy_done: true,
                        }
                        .write(&mut self.primary);
                        SlotTrailer::default().write(&mut self.secondary);
                    }
                }
                self.nv_counter = self.nv_counter.max(d.new_security_counter);
                BootOutcome::Booted(d)
            }
        }
    }
}

fn write_slot(slot: &mut [u8], image: &[u8]) -> bool {
    if image.len() == slot.len() {
        slot.copy_from_slice(image);
        return true;
    }
    if image.len() + 16 + 2 * ALIGN > slot.len() {
        return false;
    }
    slot.fill(0xff);
    slot[..image.len()].copy_from_slice(image);
    true
}
