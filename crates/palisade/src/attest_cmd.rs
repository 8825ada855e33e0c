//! `palisade attest golden`: golden PCR values for remote attestation (issue 10), derived from
//! the signed firmware: each image's signature is verified (MCUboot format, crates/firmware) and
//! its signed SHA-256 digest is the measurement a measured boot extends into the PCR, in boot
//! order, starting from the all-zero reset value. The hub's device gateway checks TPM quotes
//! against DATA_DIR/attest/golden.json.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;

use palisade_firmware::{Key, PublicKey, TrustedKey, VerifyPolicy};
use palisade_hub::attest::GoldenFile;

#[derive(Subcommand)]
pub(crate) enum AttestCommand {
    /// Compute golden PCR values from signed firmware images and write golden.json.
    Golden {
        /// Signed firmware images, in the order the bootloader measures them (repeatable).
        #[arg(long = "image", required = true)]
        images: Vec<PathBuf>,
        /// Firmware signing key(s) (public or private PEM) the images must verify with.
        #[arg(short = 'k', long = "key", required = true)]
        keys: Vec<PathBuf>,
        /// The PCR the measurements are extended into.
        #[arg(long, default_value_t = 16)]
        pcr: u32,
        /// Hub data directory (writes DATA_DIR/attest/golden.json).
        #[arg(long, default_value = "palisade-data", env = "PALISADE_DATA_DIR")]
        data_dir: PathBuf,
        /// Write here instead of DATA_DIR/attest/golden.json.
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
    /// TPM2_MakeCredential in software (EK/AK binding): seal a secret to an endorsement key for
    /// an attestation key, in `tpm2_makecredential`'s file format, for `tpm2_activatecredential`.
    MakeCredential {
        /// The endorsement key's TPM2B_PUBLIC (`tpm2_createek -u`).
        #[arg(long)]
        ek: PathBuf,
        /// The attestation key's TPM2B_PUBLIC (`tpm2_readpublic -f tss`); it must be a
        /// restricted signing key fixed to its TPM. Its name is computed from it.
        #[arg(long)]
        ak: PathBuf,
        /// The secret to seal (1 to 64 bytes).
        #[arg(short, long)]
        secret: PathBuf,
        /// Output file (the credential blob).
        #[arg(short, long)]
        out: PathBuf,
    },
}

pub(crate) fn run(cmd: AttestCommand) -> Result<ExitCode> {
    match cmd {
        AttestCommand::MakeCredential {
            ek,
            ak,
            secret,
            out,
        } => {
            let read =
                |p: &PathBuf| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
            let secret_bytes = read(&secret)?;
            let (blob, name) =
                palisade_pki::credential::challenge_for(&read(&ek)?, &read(&ak)?, &secret_bytes)
                    .with_context(|| {
                        format!("sealing to EK {} for AK {}", ek.display(), ak.display())
                    })?;
            std::fs::write(&out, blob.to_tpm2_tools_file())
                .with_context(|| format!("writing {}", out.display()))?;
            println!(
                "sealed {} bytes for AK name {}; wrote {}",
                secret_bytes.len(),
                palisade_pki::hex(&name),
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        AttestCommand::Golden {
            images,
            keys,
            pcr,
            data_dir,
            out,
        } => {
            if pcr > 23 {
                bail!("--pcr {pcr}: a TPM 2.0 PC client has PCRs 0 to 23");
            }
            let pubs: Vec<PublicKey> = keys
                .iter()
                .map(|p| {
                    let text = std::fs::read_to_string(p)
                        .with_context(|| format!("reading key {}", p.display()))?;
                    Key::from_pem(&text)
                        .with_context(|| format!("loading key {}", p.display()))?
                        .public_key()
                        .ok_or_else(|| anyhow!("{}: not a signing key", p.display()))
                })
                .collect::<Result<_>>()?;
            let trusted: Vec<TrustedKey<'_>> = pubs.iter().map(PublicKey::as_trusted).collect();
            let mut value = [0u8; 32];
            let mut source = Vec::new();
            for img in &images {
                let bytes =
                    std::fs::read(img).with_context(|| format!("reading {}", img.display()))?;
                let v = palisade_firmware::verify(&bytes, &trusted, &VerifyPolicy::default())
                    .with_context(|| format!("{}: not a correctly signed image", img.display()))?;
                let digest = v.digest.as_ref();
                if digest.len() != 32 {
                    bail!(
                        "{}: image digest is {} bytes; the SHA-256 PCR bank needs a SHA-256 image",
                        img.display(),
                        digest.len()
                    );
                }
                value = palisade_pki::tpm::extend(&value, digest);
                source.push(format!(
                    "{} sha256:{} v{}",
                    img.display(),
                    palisade_pki::hex(digest),
                    v.version
                ));
            }
            let golden = GoldenFile {
                pcrs: [(pcr, palisade_pki::hex(&value))].into_iter().collect(),
                source,
            };
            let path = out.unwrap_or_else(|| data_dir.join("attest").join("golden.json"));
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(&path, serde_json::to_vec_pretty(&golden)?)
                .with_context(|| format!("writing {}", path.display()))?;
            println!(
                "PCR {pcr} = {} ({} image(s)); wrote {}",
                palisade_pki::hex(&value),
                images.len(),
                path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
