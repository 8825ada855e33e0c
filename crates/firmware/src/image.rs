//! The MCUboot image format: header, protected and unprotected TLV areas, trailer.
//!
//! Layout (all integers little-endian, see `boot/bootutil/include/bootutil/image.h`):
//!
//! ```text
//! 0                   image_header (32 bytes, padded to ih_hdr_size)
//! hdr_size            payload (ih_img_size bytes)
//! hdr_size+img_size   [0x6908 info + protected TLVs]   <- hashed and signed
//!                     0x6907 info + unprotected TLVs   <- not hashed
//! end of slot         [trailer; last 16 bytes = boot magic]
//! ```
//!
//! Parsing is zero-copy, allocation-free and panic-free: every length is checked and every
//! failure carries the byte offset it was found at.

use core::fmt;

/// Magic of the current image header format.
pub const IMAGE_MAGIC: u32 = 0x96f3_b83d;
/// Magic of the legacy (V1) header format, which is not supported.
pub const IMAGE_MAGIC_V1: u32 = 0x96f3_b83c;
/// Size of the fixed image header.
pub const IMAGE_HEADER_SIZE: usize = 32;
/// Magic of the unprotected TLV info header.
pub const TLV_INFO_MAGIC: u16 = 0x6907;
/// Magic of the protected TLV info header.
pub const TLV_PROT_INFO_MAGIC: u16 = 0x6908;
/// Size of a TLV info header (magic + total length).
pub const TLV_INFO_SIZE: usize = 4;
/// Size of a TLV entry header (type + length).
pub const TLV_SIZE: usize = 4;
/// The 16-byte boot magic that ends a trailer written with the default `max_align` of 8.
pub const BOOT_MAGIC: [u8; 16] = [
    0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f, 0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80,
];
/// The last 14 bytes of the boot magic used with a `max_align` other than 8 (preceded by the
/// little-endian `max_align`).
pub const BOOT_MAGIC_ALIGNED_TAIL: [u8; 14] = [
    0x2d, 0xe1, 0x5d, 0x29, 0x41, 0x0b, 0x8d, 0x77, 0x67, 0x9c, 0x11, 0x0f, 0x1f, 0x8a,
];

/// TLV type numbers (`IMAGE_TLV_*` in image.h).
pub mod tlv {
    /// SHA-256 (or SHA-384) of the signing public key.
    pub const KEYHASH: u16 = 0x01;
    /// The full public key (DER).
    pub const PUBKEY: u16 = 0x02;
    /// SHA-256 image digest.
    pub const SHA256: u16 = 0x10;
    /// SHA-384 image digest.
    pub const SHA384: u16 = 0x11;
    /// SHA-512 image digest.
    pub const SHA512: u16 = 0x12;
    /// RSA-2048 PSS signature.
    pub const RSA2048_PSS: u16 = 0x20;
    /// ECDSA-P224 signature (unsupported by MCUboot).
    pub const ECDSA224: u16 = 0x21;
    /// DER ECDSA signature (P-256 or P-384).
    pub const ECDSA_SIG: u16 = 0x22;
    /// RSA-3072 PSS signature.
    pub const RSA3072_PSS: u16 = 0x23;
    /// Ed25519 signature.
    pub const ED25519: u16 = 0x24;
    /// The signature is over the image itself, not its digest.
    pub const SIG_PURE: u16 = 0x25;
    /// AES key wrapped with RSA-OAEP.
    pub const ENC_RSA2048: u16 = 0x30;
    /// AES key wrapped with AES-KW.
    pub const ENC_KW: u16 = 0x31;
    /// AES key wrapped with ECIES-P256.
    pub const ENC_EC256: u16 = 0x32;
    /// AES key wrapped with ECIES-X25519 (HKDF/HMAC-SHA256).
    pub const ENC_X25519: u16 = 0x33;
    /// AES key wrapped with ECIES-X25519 (HKDF/HMAC-SHA512).
    pub const ENC_X25519_SHA512: u16 = 0x34;
    /// Dependency on another image (protected).
    pub const DEPENDENCY: u16 = 0x40;
    /// Security counter (protected).
    pub const SEC_CNT: u16 = 0x50;
    /// CBOR boot record for measured boot (protected).
    pub const BOOT_RECORD: u16 = 0x60;
    /// Decompressed size.
    pub const DECOMP_SIZE: u16 = 0x70;
    /// Decompressed digest.
    pub const DECOMP_SHA: u16 = 0x71;
    /// Decompressed signature.
    pub const DECOMP_SIGNATURE: u16 = 0x72;
    /// Compressed-and-decrypted size.
    pub const COMP_DEC_SIZE: u16 = 0x73;
    /// Vendor UUID (protected).
    pub const UUID_VID: u16 = 0x74;
    /// Class UUID (protected).
    pub const UUID_CID: u16 = 0x75;

    /// A short name for a TLV type, for `inspect` output.
    pub fn name(kind: u16) -> &'static str {
        match kind {
            KEYHASH => "KEYHASH",
            PUBKEY => "PUBKEY",
            SHA256 => "SHA256",
            SHA384 => "SHA384",
            SHA512 => "SHA512",
            RSA2048_PSS => "RSA2048_PSS",
            ECDSA224 => "ECDSA224",
            ECDSA_SIG => "ECDSA_SIG",
            RSA3072_PSS => "RSA3072_PSS",
            ED25519 => "ED25519",
            SIG_PURE => "SIG_PURE",
            ENC_RSA2048 => "ENC_RSA2048",
            ENC_KW => "ENC_KW",
            ENC_EC256 => "ENC_EC256",
            ENC_X25519 => "ENC_X25519",
            ENC_X25519_SHA512 => "ENC_X25519_SHA512",
            DEPENDENCY => "DEPENDENCY",
            SEC_CNT => "SEC_CNT",
            BOOT_RECORD => "BOOT_RECORD",
            DECOMP_SIZE => "DECOMP_SIZE",
            DECOMP_SHA => "DECOMP_SHA",
            DECOMP_SIGNATURE => "DECOMP_SIGNATURE",
            COMP_DEC_SIZE => "COMP_DEC_SIZE",
            UUID_VID => "UUID_VID",
            UUID_CID => "UUID_CID",
            _ => "UNKNOWN",
        }
    }

    /// TLVs that are only trusted inside the protected area.
    pub fn must_be_protected(kind: u16) -> bool {
        matches!(
            kind,
            DEPENDENCY | SEC_CNT | BOOT_RECORD | UUID_VID | UUID_CID | DECOMP_SIZE | DECOMP_SHA
        )
    }
}

/// Header flag bits (`IMAGE_F_*`).
pub mod flags {
    /// Payload is AES-128-CTR encrypted.
    pub const ENCRYPTED_AES128: u32 = 0x04;
    /// Payload is AES-256-CTR encrypted.
    pub const ENCRYPTED_AES256: u32 = 0x08;
    /// Not bootable (e.g. a data image).
    pub const NON_BOOTABLE: u32 = 0x10;
    /// Load into RAM before running.
    pub const RAM_LOAD: u32 = 0x20;
    /// Runs from a fixed ROM address.
    pub const ROM_FIXED: u32 = 0x100;
    /// LZMA1-compressed payload.
    pub const COMPRESSED_LZMA1: u32 = 0x200;
    /// LZMA2-compressed payload.
    pub const COMPRESSED_LZMA2: u32 = 0x400;
    /// ARM thumb filter applied before compression.
    pub const COMPRESSED_ARM_THUMB: u32 = 0x800;
}

/// An image version `major.minor.revision+build`.
///
/// Ordering compares major, minor, revision, then build, as MCUboot's
/// `boot_version_cmp` does when `MCUBOOT_VERSION_CMP_USE_BUILD_NUMBER` is set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageVersion {
    /// Major version.
    pub major: u8,
    /// Minor version.
    pub minor: u8,
    /// Revision.
    pub revision: u16,
    /// Build number.
    pub build: u32,
}

impl ImageVersion {
    /// Parses `maj[.min[.rev[+build]]]` the way imgtool's `decode_version` does.
    pub fn parse(s: &str) -> Option<Self> {
        let (core, build) = match s.split_once('+') {
            Some((c, b)) => (c, Some(b)),
            None => (s, None),
        };
        let mut it = core.split('.');
        let major = it.next()?.parse::<u8>().ok()?;
        let minor = match it.next() {
            Some(v) => v.parse::<u8>().ok()?,
            None => 0,
        };
        let revision = match it.next() {
            Some(v) => v.parse::<u16>().ok()?,
            None => 0,
        };
        if it.next().is_some() {
            return None;
        }
        let build = match build {
            Some(b) => b.parse::<u32>().ok()?,
            None => 0,
        };
        Some(Self {
            major,
            minor,
            revision,
            build,
        })
    }

    /// The security counter imgtool derives from a version with `--security-counter auto`.
    pub fn auto_security_counter(&self) -> u32 {
        (u32::from(self.major) << 24) | (u32::from(self.minor) << 16) | u32::from(self.revision)
    }
}

impl fmt::Display for ImageVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}.{}+{}",
            self.major, self.minor, self.revision, self.build
        )
    }
}

/// The fixed 32-byte image header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageHeader {
    /// `ih_magic`.
    pub magic: u32,
    /// `ih_load_addr`.
    pub load_addr: u32,
    /// `ih_hdr_size`: header size including padding.
    pub hdr_size: u16,
    /// `ih_protect_tlv_size`: size of the protected TLV area including its info header.
    pub protect_tlv_size: u16,
    /// `ih_img_size`: payload size.
    pub img_size: u32,
    /// `ih_flags`.
    pub flags: u32,
    /// `ih_ver`.
    pub version: ImageVersion,
}

impl ImageHeader {
    /// Serialises the header to its 32-byte little-endian form.
    pub fn to_bytes(&self) -> [u8; IMAGE_HEADER_SIZE] {
        let mut b = [0u8; IMAGE_HEADER_SIZE];
        b[0..4].copy_from_slice(&self.magic.to_le_bytes());
        b[4..8].copy_from_slice(&self.load_addr.to_le_bytes());
        b[8..10].copy_from_slice(&self.hdr_size.to_le_bytes());
        b[10..12].copy_from_slice(&self.protect_tlv_size.to_le_bytes());
        b[12..16].copy_from_slice(&self.img_size.to_le_bytes());
        b[16..20].copy_from_slice(&self.flags.to_le_bytes());
        b[20] = self.version.major;
        b[21] = self.version.minor;
        b[22..24].copy_from_slice(&self.version.revision.to_le_bytes());
        b[24..28].copy_from_slice(&self.version.build.to_le_bytes());
        b
    }

    /// True when the payload is encrypted (AES-128 or AES-256).
    pub fn is_encrypted(&self) -> bool {
        self.flags & (flags::ENCRYPTED_AES128 | flags::ENCRYPTED_AES256) != 0
    }
}

/// Why an image could not be parsed. Every variant names the byte offset it refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The input ends before a structure it declares.
    #[error(
        "truncated image: {what} at offset {offset} needs {needed} bytes, only {available} present"
    )]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Where it starts.
        offset: usize,
        /// How many bytes it needs.
        needed: usize,
        /// How many bytes remain from `offset`.
        available: usize,
    },
    /// The header magic is not 0x96f3b83d.
    #[error("bad image magic 0x{found:08x} at offset 0 (expected 0x96f3b83d)")]
    BadMagic {
        /// The magic found.
        found: u32,
    },
    /// `ih_hdr_size` is smaller than the header itself.
    #[error("header size {hdr_size} at offset 8 is smaller than the 32-byte header")]
    HeaderTooSmall {
        /// The declared header size.
        hdr_size: u16,
    },
    /// A TLV info header has the wrong magic.
    #[error("bad TLV info magic 0x{found:04x} at offset {offset} (expected 0x{expected:04x})")]
    BadTlvInfoMagic {
        /// Offset of the info header.
        offset: usize,
        /// Magic found.
        found: u16,
        /// Magic expected.
        expected: u16,
    },
    /// The protected TLV info header disagrees with `ih_protect_tlv_size`.
    #[error(
        "protected TLV area at offset {offset} declares {info} bytes but the header (offset 10) says {header}"
    )]
    ProtectedSizeMismatch {
        /// Offset of the protected info header.
        offset: usize,
        /// Size from the image header.
        header: u16,
        /// Size from the TLV info header.
        info: u16,
    },
    /// A TLV info header declares less than its own size.
    #[error("TLV info at offset {offset} declares {total} bytes, less than its own 4-byte header")]
    TlvInfoTooSmall {
        /// Offset of the info header.
        offset: usize,
        /// Declared total.
        total: u16,
    },
    /// A TLV entry runs past the end of its area.
    #[error(
        "TLV at offset {offset} (type 0x{kind:04x}, length {len}) runs past the end of its area at offset {area_end}"
    )]
    TlvOverrun {
        /// Offset of the TLV entry header.
        offset: usize,
        /// TLV type.
        kind: u16,
        /// Declared value length.
        len: u16,
        /// End of the area.
        area_end: usize,
    },
}

/// One TLV entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// TLV type.
    pub kind: u16,
    /// Offset of the entry header in the image.
    pub offset: usize,
    /// The value bytes.
    pub value: &'a [u8],
}

/// A validated TLV area (protected or unprotected).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlvArea<'a> {
    /// Offset of the info header in the image.
    pub offset: usize,
    /// Whether this is the protected (hashed) area.
    pub protected: bool,
    /// The whole area including its info header.
    pub bytes: &'a [u8],
}

impl<'a> TlvArea<'a> {
    fn parse(
        img: &'a [u8],
        offset: usize,
        magic: u16,
        protected: bool,
    ) -> Result<Self, ParseError> {
        let info = take(img, offset, TLV_INFO_SIZE, "TLV info header")?;
        let found = u16::from_le_bytes([info[0], info[1]]);
        if found != magic {
            return Err(ParseError::BadTlvInfoMagic {
                offset,
                found,
                expected: magic,
            });
        }
        let total = u16::from_le_bytes([info[2], info[3]]);
        if usize::from(total) < TLV_INFO_SIZE {
            return Err(ParseError::TlvInfoTooSmall { offset, total });
        }
        let bytes = take(img, offset, usize::from(total), "TLV area")?;
        let area = Self {
            offset,
            protected,
            bytes,
        };
        // Validate every entry once, so iteration cannot fail afterwards.
        let mut pos = TLV_INFO_SIZE;
        while pos < bytes.len() {
            let hdr = bytes
                .get(pos..pos + TLV_SIZE)
                .ok_or(ParseError::TlvOverrun {
                    offset: offset + pos,
                    kind: 0,
                    len: 0,
                    area_end: offset + bytes.len(),
                })?;
            let kind = u16::from_le_bytes([hdr[0], hdr[1]]);
            let len = u16::from_le_bytes([hdr[2], hdr[3]]);
            let end = pos + TLV_SIZE + usize::from(len);
            if end > bytes.len() {
                return Err(ParseError::TlvOverrun {
                    offset: offset + pos,
                    kind,
                    len,
                    area_end: offset + bytes.len(),
                });
            }
            pos = end;
        }
        Ok(area)
    }

    /// Iterates over the entries.
    pub fn iter(&self) -> TlvIter<'a> {
        TlvIter {
            bytes: self.bytes,
            base: self.offset,
            pos: TLV_INFO_SIZE,
        }
    }

    /// Total size including the info header.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True when the area holds no entries.
    pub fn is_empty(&self) -> bool {
        self.bytes.len() <= TLV_INFO_SIZE
    }
}

/// Iterator over a validated [`TlvArea`].
#[derive(Clone, Debug)]
pub struct TlvIter<'a> {
    bytes: &'a [u8],
    base: usize,
    pos: usize,
}

impl<'a> Iterator for TlvIter<'a> {
    type Item = Tlv<'a>;

    fn next(&mut self) -> Option<Tlv<'a>> {
        let hdr = self.bytes.get(self.pos..self.pos + TLV_SIZE)?;
        let kind = u16::from_le_bytes([hdr[0], hdr[1]]);
        let len = usize::from(u16::from_le_bytes([hdr[2], hdr[3]]));
        let start = self.pos + TLV_SIZE;
        let value = self.bytes.get(start..start + len)?;
        let tlv = Tlv {
            kind,
            offset: self.base + self.pos,
            value,
        };
        self.pos = start + len;
        Some(tlv)
    }
}

/// A parsed image borrowing the bytes it was parsed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Image<'a> {
    /// The header.
    pub header: ImageHeader,
    /// The protected TLV area, if any.
    pub protected: Option<TlvArea<'a>>,
    /// The unprotected TLV area.
    pub unprotected: TlvArea<'a>,
    bytes: &'a [u8],
}

impl<'a> Image<'a> {
    /// Parses an image from the start of `bytes` (which may be a whole slot: anything after
    /// the unprotected TLV area is ignored).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ParseError> {
        let h = take(bytes, 0, IMAGE_HEADER_SIZE, "image header")?;
        let rd32 = |o: usize| u32::from_le_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]);
        let rd16 = |o: usize| u16::from_le_bytes([h[o], h[o + 1]]);
        let magic = rd32(0);
        if magic != IMAGE_MAGIC {
            return Err(ParseError::BadMagic { found: magic });
        }
        let header = ImageHeader {
            magic,
            load_addr: rd32(4),
            hdr_size: rd16(8),
            protect_tlv_size: rd16(10),
            img_size: rd32(12),
            flags: rd32(16),
            version: ImageVersion {
                major: h[20],
                minor: h[21],
                revision: rd16(22),
                build: rd32(24),
            },
        };
        if usize::from(header.hdr_size) < IMAGE_HEADER_SIZE {
            return Err(ParseError::HeaderTooSmall {
                hdr_size: header.hdr_size,
            });
        }
        let hdr_size = usize::from(header.hdr_size);
        // u32 fits in usize on every target we build for; checked_add guards 32-bit overflow.
        let img_size = usize::try_from(header.img_size).unwrap_or(usize::MAX);
        take(bytes, 0, hdr_size, "padded image header")?;
        take(bytes, hdr_size, img_size, "payload")?;
        let mut off = hdr_size + img_size;
        let protected = if header.protect_tlv_size != 0 {
            let area = TlvArea::parse(bytes, off, TLV_PROT_INFO_MAGIC, true)?;
            if area.len() != usize::from(header.protect_tlv_size) {
                return Err(ParseError::ProtectedSizeMismatch {
                    offset: off,
                    header: header.protect_tlv_size,
                    info: u16::try_from(area.len()).unwrap_or(u16::MAX),
                });
            }
            off += area.len();
            Some(area)
        } else {
            None
        };
        let unprotected = TlvArea::parse(bytes, off, TLV_INFO_MAGIC, false)?;
        Ok(Self {
            header,
            protected,
            unprotected,
            bytes,
        })
    }

    /// The bytes the image digest covers: header, payload and protected TLV area.
    pub fn hashed_region(&self) -> &'a [u8] {
        let end = self.unprotected.offset;
        self.bytes.get(..end).unwrap_or(self.bytes)
    }

    /// The payload (ciphertext for encrypted images).
    pub fn payload(&self) -> &'a [u8] {
        let start = usize::from(self.header.hdr_size);
        let end = start + self.header.img_size as usize;
        self.bytes.get(start..end).unwrap_or(&[])
    }

    /// Offset just past the unprotected TLV area: the size of the image proper.
    pub fn end(&self) -> usize {
        self.unprotected.offset + self.unprotected.len()
    }

    /// The whole input the image was parsed from.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Iterates over all TLVs, protected first.
    pub fn tlvs(&self) -> impl Iterator<Item = (bool, Tlv<'a>)> + 'a {
        let p = self.protected.map(|a| a.iter());
        p.into_iter()
            .flatten()
            .map(|t| (true, t))
            .chain(self.unprotected.iter().map(|t| (false, t)))
    }

    /// The security counter from the protected area, if present (first occurrence).
    pub fn security_counter(&self) -> Option<u32> {
        self.protected?
            .iter()
            .find(|t| t.kind == tlv::SEC_CNT)
            .and_then(|t| <[u8; 4]>::try_from(t.value).ok())
            .map(u32::from_le_bytes)
    }

    /// The dependencies declared in the protected area.
    pub fn dependencies(&self) -> impl Iterator<Item = Dependency> + 'a {
        self.protected
            .into_iter()
            .flat_map(|a| a.iter())
            .filter(|t| t.kind == tlv::DEPENDENCY)
            .filter_map(|t| Dependency::decode(t.value))
    }
}

/// A DEPENDENCY TLV: image `image_id` must be at least `min_version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dependency {
    /// The image index the dependency names.
    pub image_id: u8,
    /// Minimum version of that image.
    pub min_version: ImageVersion,
}

impl Dependency {
    /// Encodes the 12-byte TLV value (`u8 id, 3 pad, u8 major, u8 minor, u16 rev, u32 build`).
    pub fn encode(&self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[0] = self.image_id;
        b[4] = self.min_version.major;
        b[5] = self.min_version.minor;
        b[6..8].copy_from_slice(&self.min_version.revision.to_le_bytes());
        b[8..12].copy_from_slice(&self.min_version.build.to_le_bytes());
        b
    }

    /// Decodes a 12-byte TLV value.
    pub fn decode(v: &[u8]) -> Option<Self> {
        let b: &[u8; 12] = v.try_into().ok()?;
        Some(Self {
            image_id: b[0],
            min_version: ImageVersion {
                major: b[4],
                minor: b[5],
                revision: u16::from_le_bytes([b[6], b[7]]),
                build: u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
            },
        })
    }

    /// Parses imgtool's `(id,maj.min.rev+build)` form.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().strip_prefix('(')?.strip_suffix(')')?;
        let (id, ver) = s.split_once(',')?;
        Some(Self {
            image_id: id.trim().parse().ok()?,
            min_version: ImageVersion::parse(ver.trim())?,
        })
    }
}

/// The state recorded in an image trailer at the end of a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrailerState {
    /// The boot magic is present (an upgrade is requested or the image was flashed padded).
    pub magic: bool,
    /// `image_ok` is set (0x01): the image is confirmed.
    pub image_ok: bool,
}

/// Reads the trailer of a slot written with the given `max_align` (8 unless `--max-align`).
///
/// Returns `None` when the slot is too small to hold a trailer.
pub fn read_trailer(slot: &[u8], max_align: usize) -> Option<TrailerState> {
    let n = slot.len();
    let magic = slot.get(n.checked_sub(16)?..)?;
    let is_magic = if max_align == 8 {
        magic == BOOT_MAGIC
    } else {
        magic.get(2..) == Some(&BOOT_MAGIC_ALIGNED_TAIL[..])
            && magic.get(..2) == Some(&(max_align as u16).to_le_bytes()[..])
    };
    let magic_align = 16usize.div_ceil(max_align) * max_align;
    let ok_idx = n.checked_sub(magic_align + max_align)?;
    Some(TrailerState {
        magic: is_magic,
        image_ok: slot.get(ok_idx) == Some(&0x01),
    })
}

fn take<'a>(
    b: &'a [u8],
    offset: usize,
    len: usize,
    what: &'static str,
) -> Result<&'a [u8], ParseError> {
    let available = b.len().saturating_sub(offset);
    offset
        .checked_add(len)
        .and_then(|end| b.get(offset..end))
        .ok_or(ParseError::Truncated {
            what,
            offset,
            needed: len,
            available,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_parse() {
        assert_eq!(
            ImageVersion::parse("1.2.3+4"),
            Some(ImageVersion {
                major: 1,
                minor: 2,
                revision: 3,
                build: 4
            })
        );
        assert_eq!(ImageVersion::parse("1").map(|v| v.minor), Some(0));
        assert_eq!(ImageVersion::parse("256.0.0"), None);
        assert_eq!(ImageVersion::parse("1.2.3.4"), None);
        assert_eq!(
            ImageVersion::parse("1.0.0").map(|v| v.auto_security_counter()),
            Some(0x0100_0000)
        );
    }

    #[test]
    fn dependency_round_trip() {
        let d = Dependency::parse("(1, 2.0.0+7)").unwrap();
        assert_eq!(d.image_id, 1);
        assert_eq!(Dependency::decode(&d.encode()), Some(d));
    }

    #[test]
    fn rejects_short_and_bad_magic() {
        assert!(matches!(
            Image::parse(&[0u8; 10]),
            Err(ParseError::Truncated { offset: 0, .. })
        ));
        assert!(matches!(
            Image::parse(&[0u8; 64]),
            Err(ParseError::BadMagic { found: 0 })
        ));
    }
}
