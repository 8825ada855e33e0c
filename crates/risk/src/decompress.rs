//! Decompression helpers with output limits, all pure Rust: gzip/zlib (flate2), xz/lzma
//! (lzma-rust2), zstd (ruzstd), lz4 blocks (lz4_flex), lzo1x blocks (our own decoder).

use std::io::{BufRead, Read};

/// Why a decompression stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecompressError {
    #[error("output exceeds the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("corrupt {format} stream: {message}")]
    Corrupt {
        format: &'static str,
        message: String,
    },
}

/// Decompresses a gzip member stream, at most `limit` bytes of output.
pub fn gunzip(data: &[u8], limit: u64) -> Result<Vec<u8>, DecompressError> {
    let mut out = Vec::new();
    let mut d = flate2::read::MultiGzDecoder::new(data).take(limit + 1);
    d.read_to_end(&mut out)
        .map_err(|e| DecompressError::Corrupt {
            format: "gzip",
            message: e.to_string(),
        })?;
    if out.len() as u64 > limit {
        return Err(DecompressError::TooLarge { limit });
    }
    Ok(out)
}

/// Decompresses a zlib stream, at most `limit` bytes of output.
pub fn inflate_zlib(data: &[u8], limit: u64) -> Result<Vec<u8>, DecompressError> {
    let mut out = Vec::new();
    let mut d = flate2::read::ZlibDecoder::new(data).take(limit + 1);
    d.read_to_end(&mut out)
        .map_err(|e| DecompressError::Corrupt {
            format: "zlib",
            message: e.to_string(),
        })?;
    if out.len() as u64 > limit {
        return Err(DecompressError::TooLarge { limit });
    }
    Ok(out)
}

/// Most memory the LZMA decoders may take for their dictionary (a hostile header may ask
/// for 4 GiB).
pub const LZMA_MEM_LIMIT_KIB: u32 = 64 * 1024;

/// Reads `r` to the end, at most `limit` bytes; decoder errors become `Corrupt`.
fn read_limited(
    format: &'static str,
    r: impl Read,
    limit: u64,
) -> Result<Vec<u8>, DecompressError> {
    let mut out = Vec::new();
    r.take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| DecompressError::Corrupt {
            format,
            message: e.to_string(),
        })?;
    if out.len() as u64 > limit {
        return Err(DecompressError::TooLarge { limit });
    }
    Ok(out)
}

/// Decompresses an xz stream (concatenated streams allowed), at most `limit` bytes of
/// output (lzma-rust2, pure Rust; its dictionary bounded by [`LZMA_MEM_LIMIT_KIB`]).
pub fn unxz(data: &[u8], limit: u64) -> Result<Vec<u8>, DecompressError> {
    let r = lzma_rust2::XzReader::new_mem_limit(data, true, LZMA_MEM_LIMIT_KIB);
    read_limited("xz", r, limit)
}

/// Decompresses a legacy `.lzma` (LZMA-alone) stream, at most `limit` bytes of output.
pub fn unlzma(data: &[u8], limit: u64) -> Result<Vec<u8>, DecompressError> {
    let r = lzma_rust2::LzmaReader::new_mem_limit(data, LZMA_MEM_LIMIT_KIB, None).map_err(|e| {
        DecompressError::Corrupt {
            format: "lzma",
            message: e.to_string(),
        }
    })?;
    read_limited("lzma", r, limit)
}

/// Decompresses a zstd frame sequence, at most `limit` bytes of output (ruzstd, pure Rust).
pub fn unzstd(data: &[u8], limit: u64) -> Result<Vec<u8>, DecompressError> {
    let mut input = data;
    let d = ruzstd::decoding::StreamingDecoder::new(&mut input).map_err(|e| {
        DecompressError::Corrupt {
            format: "zstd",
            message: e.to_string(),
        }
    })?;
    read_limited("zstd", d, limit)
}

/// Decompresses one raw LZ4 block (no frame), at most `limit` bytes of output (lz4_flex
/// with its safe, bounds-checked decoder).
pub fn unlz4_block(data: &[u8], limit: u64) -> Result<Vec<u8>, DecompressError> {
    let mut out = vec![0u8; usize::try_from(limit).unwrap_or(usize::MAX).min(1 << 26)];
    match lz4_flex::block::decompress_into(data, &mut out) {
        Ok(n) => {
            out.truncate(n);
            Ok(out)
        }
        Err(lz4_flex::block::DecompressError::OutputTooSmall { .. }) => {
            Err(DecompressError::TooLarge { limit })
        }
        Err(e) => Err(DecompressError::Corrupt {
            format: "lz4",
            message: e.to_string(),
        }),
    }
}

/// Decompresses one raw LZO1X block (as squashfs and the Linux kernel store them), at most
/// `limit` bytes of output. Our own decoder: every read and back-reference is checked.
pub fn unlzo1x(data: &[u8], limit: u64) -> Result<Vec<u8>, DecompressError> {
    crate::lzo::decompress(data, usize::try_from(limit).unwrap_or(usize::MAX))
}

/// A streaming xz decoder (lzma-rust2 decodes as the caller reads).
pub fn xz_reader(input: impl BufRead + Send + 'static) -> Box<dyn Read> {
    Box::new(lzma_rust2::XzReader::new_mem_limit(
        input,
        true,
        LZMA_MEM_LIMIT_KIB,
    ))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn xz_of(data: &[u8]) -> Vec<u8> {
        let mut w = lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::default())
            .expect("xz writer");
        w.write_all(data).expect("xz write");
        w.finish().expect("xz finish")
    }

    #[test]
    fn xz_footer_overflow_is_an_error_not_a_panic() {
        // Found by the fwscan_squashfs fuzz target against lzma-rs 0.3: backward size
        // 0xFFFFFFFF in the footer overflowed `(backward_size + 1) << 2`.
        let mut xz = xz_of(b"hello firmware");
        assert_eq!(unxz(&xz, 1 << 20).unwrap(), b"hello firmware");
        let n = xz.len();
        xz[n - 8..n - 4].copy_from_slice(&[0xff; 4]);
        assert!(matches!(
            unxz(&xz, 1 << 20),
            Err(DecompressError::Corrupt { format: "xz", .. })
        ));
        xz[n - 8..n - 4].copy_from_slice(&[0; 4]);
        assert!(unxz(&xz, 1 << 20).is_err());
    }

    #[test]
    fn output_limits_hold() {
        let big = vec![b'a'; 100_000];
        let xz = xz_of(&big);
        assert!(matches!(
            unxz(&xz, 1000),
            Err(DecompressError::TooLarge { limit: 1000 })
        ));
        let lz4 = lz4_flex::block::compress(&big);
        assert_eq!(unlz4_block(&lz4, 100_000).unwrap(), big);
        assert!(matches!(
            unlz4_block(&lz4, 1000),
            Err(DecompressError::TooLarge { .. })
        ));
        assert!(unlz4_block(&[0xf0, 0xff, 0xff], 1000).is_err());
        assert!(unzstd(b"not zstd", 1000).is_err());
        // An LZMA-alone header asking for a 4 GiB dictionary is refused, not allocated.
        let mut hostile = vec![0x5d, 0xff, 0xff, 0xff, 0xff];
        hostile.extend_from_slice(&[0xff; 8]);
        hostile.extend_from_slice(&[0; 16]);
        assert!(unlzma(&hostile, 1000).is_err());
    }
}
