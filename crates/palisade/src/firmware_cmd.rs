//! `palisade firmware keygen|getpub|sign|verify|inspect|decrypt`: MCUboot images, with imgtool's
//! option names so build scripts can switch tools without edits.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;

use palisade_firmware::image::{Image, tlv};
use palisade_firmware::sign::EncryptTo;
use palisade_firmware::{
    Dependency, HashAlg, ImageVersion, Key, KeyType, PrivateKey, PublicKey, PublicKeyFormat,
    SignOptions, TrustedKey, VerifyPolicy,
};

#[derive(Subcommand)]
pub(crate) enum FirmwareCommand {
    /// Generate a signing (ed25519, ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072) or encryption
    /// (x25519; ecdsa-p256 and rsa-2048 keys also encrypt) key.
    Keygen {
        /// Output private key file (PKCS#8 PEM).
        #[arg(short, long)]
        key: PathBuf,
        /// Key type.
        #[arg(short = 't', long = "type")]
        kind: String,
        /// Encrypt the private key (PKCS#8 PBES2: PBKDF2-HMAC-SHA256, AES-256-CBC) with a
        /// password from PALISADE_KEY_PASSWORD or the first line of stdin.
        #[arg(short = 'p', long)]
        password: bool,
    },
    /// Print the public key of a key file as PEM.
    Getpub {
        #[arg(short, long)]
        key: PathBuf,
        /// Write to a file instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Sign an application binary into an MCUboot image (imgtool-compatible options).
    Sign(Box<SignArgs>),
    /// Verify a signed image; exits 0 only when it is valid for one of the keys.
    Verify {
        /// Trusted key (private or public PEM); repeatable.
        #[arg(short, long, required = true)]
        key: Vec<PathBuf>,
        /// Anti-rollback: minimum security counter the image must carry.
        #[arg(long)]
        min_security_counter: Option<u32>,
        /// X25519, EC P-256 or RSA-2048 private key to decrypt an encrypted image first.
        #[arg(short = 'E', long)]
        decrypt_key: Option<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        imgfile: PathBuf,
    },
    /// Describe an image: header, TLVs, trailer (no key needed).
    Inspect {
        #[arg(long)]
        json: bool,
        imgfile: PathBuf,
    },
    /// Analyse a firmware file system: components, CVEs, default credentials, keys, SBOM.
    Scan(crate::fwscan_cmd::ScanArgs),
    /// Decrypt an encrypted image (ECIES-X25519, ECIES-P256, RSA-OAEP) to a plaintext image.
    Decrypt {
        /// X25519, EC P-256 or RSA-2048 private key.
        #[arg(short, long)]
        key: PathBuf,
        infile: PathBuf,
        outfile: PathBuf,
    },
}

#[derive(clap::Args)]
pub(crate) struct SignArgs {
    /// Signing key (private PEM). Without it only the digest TLV is written.
    #[arg(short, long)]
    key: Option<PathBuf>,
    /// Image version: maj.min.rev+build.
    #[arg(short = 'v', long = "version")]
    version: String,
    /// Header size (e.g. 0x200).
    #[arg(short = 'H', long, value_parser = parse_int, default_value = "0x20")]
    header_size: u32,
    /// Prepend header_size bytes of padding to the input.
    #[arg(long)]
    pad_header: bool,
    /// Slot size (checks the image and trailer fit; needed by --pad).
    #[arg(short = 'S', long, value_parser = parse_int, default_value = "0")]
    slot_size: u32,
    /// Security counter value, or "auto" (derived from the version).
    #[arg(short = 's', long)]
    security_counter: Option<String>,
    /// Flash write alignment.
    #[arg(long, default_value_t = 1)]
    align: u32,
    /// Maximum flash alignment (trailer layout).
    #[arg(long)]
    max_align: Option<u32>,
    /// Pad to the slot size and add a trailer.
    #[arg(long)]
    pad: bool,
    /// Mark the image confirmed (image_ok) in the trailer; implies --pad.
    #[arg(long)]
    confirm: bool,
    /// Mark the image for a test upgrade; implies --pad.
    #[arg(long)]
    test: bool,
    /// Overwrite-only trailer layout.
    #[arg(long)]
    overwrite_only: bool,
    /// Maximum number of sectors (trailer size).
    #[arg(short = 'M', long, default_value_t = 128)]
    max_sectors: u32,
    /// Load address (sets RAM_LOAD).
    #[arg(short = 'L', long, value_parser = parse_int)]
    load_addr: Option<u32>,
    /// Erased flash value: 0 or 0xff.
    #[arg(short = 'R', long, value_parser = parse_int)]
    erased_val: Option<u32>,
    /// hash (KEYHASH TLV) or full (PUBKEY TLV).
    #[arg(long, default_value = "hash")]
    public_key_format: String,
    /// Dependencies, e.g. "(1,2.0.0)" or "(1,2.0.0),(2,1.0.0)".
    #[arg(short = 'd', long)]
    dependencies: Option<String>,
    /// Mark the image non-bootable.
    #[arg(long)]
    non_bootable: bool,
    /// Digest: auto, 256, 384 or 512.
    #[arg(long, default_value = "auto")]
    sha: String,
    /// Encrypt the payload for this X25519 (ECIES-X25519), EC P-256 (ECIES-P256) or RSA-2048
    /// (RSA-OAEP) key.
    #[arg(short = 'E', long)]
    encrypt: Option<PathBuf>,
    /// AES key length for --encrypt: 128 or 256.
    #[arg(long, default_value_t = 128)]
    encrypt_keylen: u32,
    /// Extra protected TLV: TAG VALUE (VALUE as 0xHEX or text); repeatable.
    #[arg(long, num_args = 2, value_names = ["TAG", "VALUE"])]
    custom_tlv: Vec<String>,
    infile: PathBuf,
    outfile: PathBuf,
}

fn parse_int(s: &str) -> Result<u32, String> {
    let r = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u32::from_str_radix(h, 16)
    } else {
        s.parse()
    };
    r.map_err(|e| format!("{s}: {e}"))
}

fn read_key(path: &Path) -> Result<Key> {
    let text =
        fs::read_to_string(path).with_context(|| format!("reading key {}", path.display()))?;
    let password = if Key::is_encrypted_pem(&text) {
        Some(read_password(&format!(
            "passphrase for {}",
            path.display()
        ))?)
    } else {
        None
    };
    Key::from_pem_with_password(&text, password.as_deref())
        .with_context(|| format!("loading key {}", path.display()))
}

/// A key password: PALISADE_KEY_PASSWORD, else one line of stdin (what imgtool's prompt
/// falls back to without a terminal, so scripts that pipe a password keep working).
fn read_password(what: &str) -> Result<Vec<u8>> {
    if let Some(p) = std::env::var_os("PALISADE_KEY_PASSWORD") {
        return Ok(p.into_encoded_bytes());
    }
    eprint!("Enter {what}: ");
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the key password from stdin")?;
    let pw = line.trim_end_matches(['\r', '\n']);
    if pw.is_empty() {
        bail!("empty password (set PALISADE_KEY_PASSWORD or pipe it on stdin)");
    }
    Ok(pw.as_bytes().to_vec())
}

/// An image-decryption key file: X25519, EC P-256 or RSA-2048; PKCS#8 (password-protected or
/// not), SEC 1 `EC PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`.
fn decryption_key(path: &Path) -> Result<palisade_firmware::enc::DecryptionKey> {
    use palisade_firmware::enc::DecryptionKey;
    let text =
        fs::read_to_string(path).with_context(|| format!("reading key {}", path.display()))?;
    let key = if Key::is_encrypted_pem(&text) {
        let pw = read_password(&format!("passphrase for {}", path.display()))?;
        let (_, der) =
            palisade_firmware::pem_decode(&text).ok_or_else(|| anyhow!("malformed PEM"))?;
        let p8 = palisade_firmware::pkcs8enc::decrypt(&der, &pw)
            .with_context(|| format!("loading key {}", path.display()))?;
        DecryptionKey::from_pkcs8(&p8)
    } else {
        DecryptionKey::from_pem(&text)
    };
    key.with_context(|| format!("{}: not a decryption key", path.display()))
}

pub(crate) fn run(cmd: FirmwareCommand) -> Result<ExitCode> {
    match cmd {
        FirmwareCommand::Keygen {
            key,
            kind,
            password,
        } => {
            let kt = KeyType::from_name(&kind).ok_or_else(|| {
                anyhow!(
                    "unknown key type {kind} (ed25519, ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, x25519)"
                )
            })?;
            let (_, pem) = PrivateKey::generate(kt)?;
            let pem = if password {
                let pw = read_password("new key passphrase")?;
                let (_, p8) = palisade_firmware::pem_decode(&pem)
                    .ok_or_else(|| anyhow!("internal: generated key is not PEM"))?;
                let enc = palisade_firmware::pkcs8enc::encrypt(
                    &p8,
                    &pw,
                    palisade_firmware::pkcs8enc::DEFAULT_ITERATIONS,
                )?;
                palisade_firmware::pem_encode("ENCRYPTED PRIVATE KEY", &enc)
            } else {
                pem
            };
            write_private(&key, pem.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        FirmwareCommand::Getpub { key, output } => {
            let pk = public_of(&read_key(&key)?)?;
            match output {
                Some(p) => fs::write(&p, pk.to_pem())?,
                None => print!("{}", pk.to_pem()),
            }
            Ok(ExitCode::SUCCESS)
        }
        FirmwareCommand::Sign(a) => sign(*a),
        FirmwareCommand::Scan(a) => crate::fwscan_cmd::run(a),
        FirmwareCommand::Verify {
            key,
            min_security_counter,
            decrypt_key,
            json,
            imgfile,
        } => verify(
            &key,
            min_security_counter,
            decrypt_key.as_deref(),
            json,
            &imgfile,
        ),
        FirmwareCommand::Inspect { json, imgfile } => inspect(&imgfile, json),
        FirmwareCommand::Decrypt {
            key,
            infile,
            outfile,
        } => {
            let k = decryption_key(&key)?;
            let bytes = fs::read(&infile)?;
            let out = palisade_firmware::enc::decrypt_image_with(&bytes, &k)
                .with_context(|| format!("decrypting {}", infile.display()))?;
            fs::write(&outfile, out)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = fs::OpenOptions::new()
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
        fs::write(path, data).with_context(|| format!("writing {}", path.display()))
    }
}

fn public_of(k: &Key) -> Result<PublicKey> {
    match k {
        Key::Private(PrivateKey::X25519(s)) => Ok(palisade_firmware::enc::x25519_public(s)),
        other => other
            .public_key()
            .ok_or_else(|| anyhow!("no public key for this key")),
    }
}

fn sign(a: SignArgs) -> Result<ExitCode> {
    let version =
        ImageVersion::parse(&a.version).ok_or_else(|| anyhow!("invalid version {}", a.version))?;
    let security_counter = match a.security_counter.as_deref() {
        None => None,
        Some("auto") => Some(version.auto_security_counter()),
        Some(s) => Some(parse_int(s).map_err(|e| anyhow!("security counter {e}"))?),
    };
    let dependencies = match &a.dependencies {
        None => Vec::new(),
        Some(s) => split_deps(s)
            .iter()
            .map(|d| Dependency::parse(d).ok_or_else(|| anyhow!("invalid dependency {d}")))
            .collect::<Result<_>>()?,
    };
    let sha = match a.sha.as_str() {
        "auto" => None,
        "256" => Some(HashAlg::Sha256),
        "384" => Some(HashAlg::Sha384),
        "512" => Some(HashAlg::Sha512),
        s => bail!("invalid --sha {s}"),
    };
    let mut custom_tlvs = Vec::new();
    for pair in a.custom_tlv.chunks(2) {
        let [tag, val] = pair else { continue };
        let tag = u16::try_from(parse_int(tag).map_err(|e| anyhow!("custom TLV tag {e}"))?)?;
        let value = match val.strip_prefix("0x") {
            Some(h) => hex_decode(h).ok_or_else(|| anyhow!("custom TLV value {val}: bad hex"))?,
            None => val.as_bytes().to_vec(),
        };
        custom_tlvs.push((tag, value));
    }
    let opts = SignOptions {
        version,
        header_size: u16::try_from(a.header_size).context("header size")?,
        pad_header: a.pad_header,
        slot_size: a.slot_size,
        security_counter,
        align: a.align,
        max_align: a.max_align,
        pad: a.pad,
        confirm: a.confirm,
        test: a.test,
        overwrite_only: a.overwrite_only,
        max_sectors: a.max_sectors,
        load_addr: a.load_addr,
        erased_val: match a.erased_val {
            None | Some(0xff) => 0xff,
            Some(0) => 0,
            Some(v) => bail!("erased value must be 0 or 0xff, not {v:#x}"),
        },
        public_key_format: match a.public_key_format.as_str() {
            "hash" => PublicKeyFormat::Hash,
            "full" => PublicKeyFormat::Full,
            s => bail!("invalid --public-key-format {s} (hash or full)"),
        },
        dependencies,
        non_bootable: a.non_bootable,
        sha,
        custom_tlvs,
    };
    let key = match &a.key {
        Some(p) => match read_key(p)? {
            Key::Private(k) => Some(k),
            Key::Public(_) => {
                bail!("cannot sign with a public-only PEM; signing requires the private key")
            }
        },
        None => None,
    };
    let input = fs::read(&a.infile).with_context(|| format!("reading {}", a.infile.display()))?;
    let out = match &a.encrypt {
        Some(p) => {
            let pk = public_of(&read_key(p)?)?;
            if !matches!(
                pk.kind,
                KeyType::X25519 | KeyType::EcdsaP256 | KeyType::Rsa2048
            ) {
                bail!(
                    "--encrypt takes an X25519 (ECIES-X25519), EC P-256 (ECIES-P256) or RSA-2048 (RSA-OAEP) key, not {}",
                    pk.kind.name()
                );
            }
            let enc = EncryptTo {
                recipient: &pk,
                aes_key_len: if a.encrypt_keylen == 256 { 32 } else { 16 },
            };
            palisade_firmware::sign::sign_encrypted(&input, key.as_ref(), &opts, &enc)?
        }
        None => palisade_firmware::sign(&input, key.as_ref(), &opts)?,
    };
    fs::write(&a.outfile, out).with_context(|| format!("writing {}", a.outfile.display()))?;
    Ok(ExitCode::SUCCESS)
}

fn split_deps(s: &str) -> Vec<String> {
    s.split(')')
        .map(|p| p.trim().trim_start_matches(',').trim())
        .filter(|p| !p.is_empty())
        .map(|p| format!("{p})"))
        .collect()
}

fn hex_decode(h: &str) -> Option<Vec<u8>> {
    if !h.len().is_multiple_of(2) {
        return None;
    }
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok())
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn verify(
    keys: &[PathBuf],
    min: Option<u32>,
    decrypt_key: Option<&Path>,
    json: bool,
    imgfile: &Path,
) -> Result<ExitCode> {
    let pubs: Vec<PublicKey> = keys
        .iter()
        .map(|p| public_of(&read_key(p)?))
        .collect::<Result<_>>()?;
    let trusted: Vec<TrustedKey<'_>> = pubs.iter().map(PublicKey::as_trusted).collect();
    let raw = fs::read(imgfile).with_context(|| format!("reading {}", imgfile.display()))?;
    let (bytes, plaintext) = match decrypt_key {
        Some(p) => {
            let k = decryption_key(p)?;
            match palisade_firmware::enc::decrypt_image_with(&raw, &k) {
                Ok(b) => (b, true),
                Err(e) => return Ok(invalid(json, imgfile, &e.to_string())),
            }
        }
        None => (raw, false),
    };
    let policy = VerifyPolicy {
        min_security_counter: min,
        payload_is_plaintext: plaintext,
    };
    match palisade_firmware::verify(&bytes, &trusted, &policy) {
        Ok(v) => {
            if json {
                let o = serde_json::json!({
                    "file": imgfile.display().to_string(), "valid": true,
                    "version": v.version.to_string(), "security_counter": v.security_counter,
                    "hash": v.hash.name(), "digest": hex(v.digest.as_ref()),
                    "key": keys[v.key_index].display().to_string(), "key_type": v.key_kind.name(),
                });
                println!("{o}");
            } else {
                // Ignore write errors (e.g. a closed pipe): the exit status is the answer.
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "Image was correctly validated");
                let _ = writeln!(out, "Image version: {}", v.version);
                let _ = writeln!(out, "Image digest: {}", hex(v.digest.as_ref()));
                if let Some(c) = v.security_counter {
                    let _ = writeln!(out, "Security counter: {c}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Ok(invalid(json, imgfile, &e.to_string())),
    }
}

fn invalid(json: bool, imgfile: &Path, reason: &str) -> ExitCode {
    if json {
        println!(
            "{}",
            serde_json::json!({"file": imgfile.display().to_string(), "valid": false, "reason": reason})
        );
    } else {
        eprintln!("{}: invalid image: {reason}", imgfile.display());
    }
    ExitCode::from(1)
}

fn inspect(imgfile: &Path, json: bool) -> Result<ExitCode> {
    let bytes = fs::read(imgfile).with_context(|| format!("reading {}", imgfile.display()))?;
    let img = match Image::parse(&bytes) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("{}: not a valid MCUboot image: {e}", imgfile.display());
            return Ok(ExitCode::from(2));
        }
    };
    let h = &img.header;
    let trailer = palisade_firmware::boot::SlotTrailer::read(&bytes);
    let tlvs: Vec<serde_json::Value> = img
        .tlvs()
        .map(|(p, t)| {
            let mut v = serde_json::json!({
                "offset": t.offset, "type": t.kind, "name": tlv::name(t.kind),
                "len": t.value.len(), "protected": p, "value": hex(t.value),
            });
            if t.kind == tlv::SEC_CNT
                && let Ok(b) = <[u8; 4]>::try_from(t.value)
            {
                v["security_counter"] = u32::from_le_bytes(b).into();
            }
            if t.kind == tlv::DEPENDENCY
                && let Some(d) = Dependency::decode(t.value)
            {
                v["dependency"] = serde_json::json!({"image_id": d.image_id, "min_version": d.min_version.to_string()});
            }
            v
        })
        .collect();
    if json {
        let o = serde_json::json!({
            "file": imgfile.display().to_string(), "size": bytes.len(),
            "header": {"magic": format!("{:#010x}", h.magic), "load_addr": h.load_addr, "hdr_size": h.hdr_size,
                "protect_tlv_size": h.protect_tlv_size, "img_size": h.img_size, "flags": h.flags,
                "version": h.version.to_string()},
            "encrypted": h.is_encrypted(), "security_counter": img.security_counter(),
            "tlvs": tlvs, "image_end": img.end(),
            "trailer": {"magic": trailer.magic, "image_ok": trailer.image_ok, "copy_done": trailer.copy_done},
        });
        println!("{}", serde_json::to_string_pretty(&o)?);
    } else {
        println!("{}: {} bytes", imgfile.display(), bytes.len());
        println!(
            "header: magic {:#010x} load_addr {:#x} hdr_size {:#x} protect_tlv_size {:#x} img_size {:#x} flags {:#x} version {}",
            h.magic, h.load_addr, h.hdr_size, h.protect_tlv_size, h.img_size, h.flags, h.version
        );
        for t in &tlvs {
            println!(
                "  {:#06x} {:>4} {:<16} {:>4} bytes  {}",
                t["offset"].as_u64().unwrap_or(0),
                if t["protected"] == true { "prot" } else { "" },
                t["name"].as_str().unwrap_or(""),
                t["len"],
                t["value"].as_str().unwrap_or("")
            );
        }
        println!(
            "image ends at {:#x}; trailer: magic {} image_ok {} copy_done {}",
            img.end(),
            trailer.magic,
            trailer.image_ok,
            trailer.copy_done
        );
    }
    Ok(ExitCode::SUCCESS)
}
