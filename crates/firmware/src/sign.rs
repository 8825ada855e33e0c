//! Building signed images byte-for-byte the way imgtool 2.5 `sign` does.

use alloc::vec::Vec;

use crate::image::{
    Dependency, IMAGE_HEADER_SIZE, IMAGE_MAGIC, ImageHeader, ImageVersion, TLV_INFO_MAGIC,
    TLV_PROT_INFO_MAGIC, flags, tlv,
};
use crate::key::{KeyError, KeyType, PrivateKey, PublicKey};
use crate::verify::{Digest, HashAlg};

/// How the signing key is identified in the image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PublicKeyFormat {
    /// KEYHASH TLV (default).
    #[default]
    Hash,
    /// PUBKEY TLV with the full DER key.
    Full,
}

/// Options of `sign`, named after imgtool's.
#[derive(Clone, Debug)]
pub struct SignOptions {
    /// `-v/--version`.
    pub version: ImageVersion,
    /// `-H/--header-size`.
    pub header_size: u16,
    /// `--pad-header`: prepend `header_size` erased bytes to the input.
    pub pad_header: bool,
    /// `-S/--slot-size` (0 = no size check).
    pub slot_size: u32,
    /// `-s/--security-counter` (already resolved from `auto`).
    pub security_counter: Option<u32>,
    /// `--align` (flash write size: 1, 2, 4, 8, 16 or 32).
    pub align: u32,
    /// `--max-align` (defaults to max(8, align)).
    pub max_align: Option<u32>,
    /// `--pad`: pad to the slot size and write the trailer.
    pub pad: bool,
    /// `--confirm`: set image_ok in the trailer (implies `pad`).
    pub confirm: bool,
    /// `--test`: write the trailer magic, leave image_ok erased (implies `pad`).
    pub test: bool,
    /// `--overwrite-only`.
    pub overwrite_only: bool,
    /// `-M/--max-sectors` (default 128).
    pub max_sectors: u32,
    /// `-L/--load-addr` (sets RAM_LOAD).
    pub load_addr: Option<u32>,
    /// `-R/--erased-val` (0xff or 0).
    pub erased_val: u8,
    /// `--public-key-format`.
    pub public_key_format: PublicKeyFormat,
    /// `-d/--dependencies`.
    pub dependencies: Vec<Dependency>,
    /// `--non-bootable`.
    pub non_bootable: bool,
    /// `--sha` (None = auto: SHA-384 for P-384 keys, SHA-256 otherwise).
    pub sha: Option<HashAlg>,
    /// `--custom-tlv`: extra protected TLVs (type, value), in order.
    pub custom_tlvs: Vec<(u16, Vec<u8>)>,
}

impl Default for SignOptions {
    fn default() -> Self {
        Self {
            version: ImageVersion::default(),
            header_size: IMAGE_HEADER_SIZE as u16,
            pad_header: false,
            slot_size: 0,
            security_counter: None,
            align: 1,
            max_align: None,
            pad: false,
            confirm: false,
            test: false,
            overwrite_only: false,
            max_sectors: 128,
            load_addr: None,
            erased_val: 0xff,
            public_key_format: PublicKeyFormat::Hash,
            dependencies: Vec::new(),
            non_bootable: false,
            sha: None,
            custom_tlvs: Vec::new(),
        }
    }
}

/// Why an image could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// `--pad-header` not given but the input does not start with `header_size` zero bytes.
    #[error(
        "header padding was not requested and the input does not start with {0} zero bytes (use --pad-header)"
    )]
    HeaderNotZero(u16),
    /// Header size below 32 bytes.
    #[error("header size {0} is smaller than the 32-byte image header")]
    HeaderTooSmall(u16),
    /// Image plus trailer do not fit the slot.
    #[error("image size (0x{image:x}) + trailer (0x{trailer:x}) exceeds requested size 0x{slot:x}")]
    TooLarge {
        /// Image size.
        image: usize,
        /// Trailer size.
        trailer: usize,
        /// Slot size.
        slot: u32,
    },
    /// A payload or TLV area too big for the format's fields.
    #[error("{0} is too large for the image format")]
    Overflow(&'static str),
    /// Bad alignment option.
    #[error("invalid alignment {0} (1, 2, 4, 8, 16 or 32)")]
    BadAlign(u32),
    /// Padding requested without a slot size.
    #[error("--pad/--confirm/--test need --slot-size")]
    PadWithoutSlot,
    /// The key cannot sign.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Encryption failed.
    #[error("image encryption failed: {0}")]
    Encrypt(&'static str),
}

/// Encryption parameters for [`sign_encrypted`].
#[derive(Clone, Debug)]
pub struct EncryptTo<'a> {
    /// The device's X25519 or EC P-256 public key (ECIES-X25519 or ECIES-P256).
    pub recipient: &'a PublicKey,
    /// AES key length in bytes: 16 (default) or 32.
    pub aes_key_len: usize,
}

fn tlv_area(magic: u16, entries: &[(u16, &[u8])]) -> Result<Vec<u8>, SignError> {
    let body: usize = entries.iter().map(|(_, v)| 4 + v.len()).sum();
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let total = u16::try_from(4 + body).map_err(|_| SignError::Overflow("TLV area"))?;
    let mut out = Vec::with_capacity(usize::from(total));
    out.extend_from_slice(&magic.to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
    for (k, v) in entries {
        let len = u16::try_from(v.len()).map_err(|_| SignError::Overflow("TLV value"))?;
        out.extend_from_slice(&k.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(v);
    }
    Ok(out)
}

/// The trailer size imgtool reserves (`Image._trailer_size`).
pub fn trailer_size(opts: &SignOptions, enc_key_len: Option<usize>) -> usize {
    let max_align = max_align(opts) as usize;
    let magic_align = 16usize.div_ceil(max_align) * max_align;
    if opts.overwrite_only {
        return max_align * 2 + magic_align;
    }
    let mut t = opts.max_sectors as usize * 3 * opts.align as usize;
    if let Some(k) = enc_key_len {
        let keylen = k.div_ceil(max_align) * max_align;
        t += keylen * 2;
    }
    t + max_align * 4 + magic_align
}

fn max_align(opts: &SignOptions) -> u32 {
    opts.max_align.unwrap_or(opts.align.max(8))
}

/// Signs `input` (the raw application binary) into an MCUboot image.
pub fn sign(
    input: &[u8],
    key: Option<&PrivateKey>,
    opts: &SignOptions,
) -> Result<Vec<u8>, SignError> {
    build(input, key, opts, None)
}

/// Signs and encrypts (ECIES-X25519, AES-CTR) `input`.
pub fn sign_encrypted(
    input: &[u8],
    key: Option<&PrivateKey>,
    opts: &SignOptions,
    enc: &EncryptTo<'_>,
) -> Result<Vec<u8>, SignError> {
    build(input, key, opts, Some(enc))
}

fn build(
    input: &[u8],
    key: Option<&PrivateKey>,
    opts: &SignOptions,
    enc: Option<&EncryptTo<'_>>,
) -> Result<Vec<u8>, SignError> {
    if ![1, 2, 4, 8, 16, 32].contains(&opts.align) {
        return Err(SignError::BadAlign(opts.align));
    }
    if opts.header_size < IMAGE_HEADER_SIZE as u16 {
        return Err(SignError::HeaderTooSmall(opts.header_size));
    }
    let hdr = usize::from(opts.header_size);
    let pad = opts.pad || opts.confirm || opts.test;
    if pad && opts.slot_size == 0 {
        return Err(SignError::PadWithoutSlot);
    }
    let mut payload = Vec::with_capacity(input.len() + hdr + 512);
    if opts.pad_header {
        payload.resize(hdr, opts.erased_val);
    } else if input.len() < hdr || input[..hdr].iter().any(|&b| b != 0) {
        return Err(SignError::HeaderNotZero(opts.header_size));
    }
    payload.extend_from_slice(input);

    let key_kind = key.map(PrivateKey::kind);
    let hash = opts.sha.unwrap_or(match key_kind {
        Some(KeyType::EcdsaP384) => HashAlg::Sha384,
        _ => HashAlg::Sha256,
    });
    let pubkey = key.and_then(PrivateKey::public_key);

    // Protected TLVs, in imgtool's order.
    let sec = opts.security_counter.map(u32::to_le_bytes);
    let deps: Vec<[u8; 12]> = opts.dependencies.iter().map(Dependency::encode).collect();
    let mut prot: Vec<(u16, &[u8])> = Vec::new();
    if let Some(s) = &sec {
        prot.push((tlv::SEC_CNT, s));
    }
    for d in &deps {
        prot.push((tlv::DEPENDENCY, d));
    }
    for (k, v) in &opts.custom_tlvs {
        prot.push((*k, v));
    }
    let prot_area = tlv_area(TLV_PROT_INFO_MAGIC, &prot)?;

    if enc.is_some() {
        let rem = payload.len() % 16;
        if rem > 0 {
            payload.resize(payload.len() + 16 - rem, 0);
        }
    }

    let mut fl = 0u32;
    if let Some(e) = enc {
        fl |= if e.aes_key_len == 32 {
            flags::ENCRYPTED_AES256
        } else {
            flags::ENCRYPTED_AES128
        };
    }
    let load_addr = opts.load_addr.unwrap_or(0);
    if load_addr != 0 {
        fl |= flags::RAM_LOAD;
    }
    if opts.non_bootable {
        fl |= flags::NON_BOOTABLE;
    }
    let header = ImageHeader {
        magic: IMAGE_MAGIC,
        load_addr,
        hdr_size: opts.header_size,
        protect_tlv_size: u16::try_from(prot_area.len())
            .map_err(|_| SignError::Overflow("protected TLV area"))?,
        img_size: u32::try_from(payload.len() - hdr).map_err(|_| SignError::Overflow("payload"))?,
        flags: fl,
        version: opts.version,
    };
    payload[..IMAGE_HEADER_SIZE].copy_from_slice(&header.to_bytes());
    let body_end = payload.len();
    payload.extend_from_slice(&prot_area);

    let digest = Digest::compute(hash, &payload);
    let mut unprot_vals: Vec<(u16, Vec<u8>)> = alloc::vec![(hash.tlv(), digest.as_ref().to_vec())];
    if let (Some(k), Some(pk)) = (key, &pubkey) {
        match opts.public_key_format {
            PublicKeyFormat::Hash => unprot_vals.push((
                tlv::KEYHASH,
                Digest::compute(hash, &pk.der).as_ref().to_vec(),
            )),
            PublicKeyFormat::Full => unprot_vals.push((tlv::PUBKEY, pk.der.clone())),
        }
        let sig = k.sign_image(&payload, digest.as_ref())?;
        if let Some(t) = k.kind().sig_tlv() {
            unprot_vals.push((t, sig));
        }
    }
    payload.truncate(body_end);
    let mut enc_tlv_len = None;
    if let Some(e) = enc {
        let (tlv_kind, tlv_val, aes_key) = crate::enc::wrap_key(e.recipient, e.aes_key_len)
            .map_err(|_| SignError::Encrypt("key wrap (X25519 or EC P-256 recipient)"))?;
        enc_tlv_len = Some(tlv_val.len());
        crate::enc::aes_ctr(&aes_key, &mut payload[hdr..]).map_err(SignError::Encrypt)?;
        unprot_vals.push((tlv_kind, tlv_val));
    }
    payload.extend_from_slice(&prot_area);
    let unprot: Vec<(u16, &[u8])> = unprot_vals.iter().map(|(k, v)| (*k, &v[..])).collect();
    payload.extend_from_slice(&tlv_area(TLV_INFO_MAGIC, &unprot)?);

    // The enc key in the trailer is only counted by imgtool with --save-enctlv; otherwise 16.
    let tsize = trailer_size(opts, enc.map(|_| 16).or(enc_tlv_len.map(|_| 16)));
    if opts.slot_size > 0 && payload.len() + tsize > opts.slot_size as usize {
        return Err(SignError::TooLarge {
            image: payload.len(),
            trailer: tsize,
            slot: opts.slot_size,
        });
    }
    if pad {
        pad_to(&mut payload, opts, tsize);
    }
    Ok(payload)
}

fn pad_to(payload: &mut Vec<u8>, opts: &SignOptions, tsize: usize) {
    let slot = opts.slot_size as usize;
    let max_align = max_align(opts);
    let magic: Vec<u8> = if max_align == 8 {
        crate::image::BOOT_MAGIC.to_vec()
    } else {
        let mut m = (max_align as u16).to_le_bytes().to_vec();
        m.extend_from_slice(&crate::image::BOOT_MAGIC_ALIGNED_TAIL);
        m
    };
    let start = payload.len();
    payload.resize(slot - magic.len(), opts.erased_val);
    payload.extend_from_slice(&magic);
    debug_assert!(slot - start >= tsize);
    if opts.confirm && !opts.overwrite_only {
        let ma = max_align as usize;
        let magic_align = 16usize.div_ceil(ma) * ma;
        let idx = slot - (magic_align + ma);
        payload[idx] = 0x01;
    }
}
