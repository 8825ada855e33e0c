//! Decompression helpers with output limits (gzip via flate2, xz/lzma via lzma-rs; both pure Rust).

use std::io::{BufRead, Read, Write};

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

/// A writer that refuses to grow past `limit` bytes.
struct Limited {
    out: Vec<u8>,
    limit: usize,
    hit: bool,
}

impl Write for Limited {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.out.len() + buf.len() > self.limit {
            self.hit = true;
            return Err(std::io::Error::other("limit"));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
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

fn run_lzma(
    format: &'static str,
    data: &[u8],
    limit: u64,
    f: impl FnOnce(&mut &[u8], &mut Limited) -> lzma_rs::error::Result<()>,
) -> Result<Vec<u8>, DecompressError> {
    let mut w = Limited {
        out: Vec::new(),
        limit: usize::try_from(limit).unwrap_or(usize::MAX),
        hit: false,
    };
    let mut input = data;
    // lzma-rs 0.3 panics on some hostile inputs (an xz footer whose backward size is
    // 0xFFFFFFFF overflows `(backward_size + 1) << 2` in decode/xz.rs); a panic there must
    // become a "corrupt stream" error, not take the caller down.
    let r = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut input, &mut w))) {
        Ok(r) => r,
        Err(_) => {
            return Err(DecompressError::Corrupt {
                format,
                message: "the decoder panicked on this stream (malformed header or index)"
                    .to_owned(),
            });
        }
    };
    if w.hit {
        return Err(DecompressError::TooLarge { limit });
    }
    r.map_err(|e| DecompressError::Corrupt {
        format,
        message: e.to_string(),
    })?;
    Ok(w.out)
}

/// Decompresses an xz stream, at most `limit` bytes of output.
pub fn unxz(data: &[u8], limit: u64) -> Result<Vec<u8>, DecompressError> {
    run_lzma("xz", data, limit, |i, o| lzma_rs::xz_decompress(i, o))
}

/// Decompresses a legacy `.lzma` (LZMA-alone) stream, at most `limit` bytes of output.
pub fn unlzma(data: &[u8], limit: u64) -> Result<Vec<u8>, DecompressError> {
    run_lzma("lzma", data, limit, |i, o| lzma_rs::lzma_decompress(i, o))
}

/// A streaming xz decoder: lzma-rs decodes on a helper thread; chunks come back over a
/// bounded channel (so at most a few chunks are in flight).
pub fn xz_reader(mut input: impl BufRead + Send + 'static) -> Box<dyn Read> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<std::io::Result<Vec<u8>>>(4);
    std::thread::spawn(move || {
        let mut w = ChanWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        let r = lzma_rs::xz_decompress(&mut input, &mut w);
        let flushed = w.flush();
        if let Err(e) = r {
            let _ = tx.send(Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("xz: {e}"),
            )));
        } else if let Err(e) = flushed {
            let _ = tx.send(Err(e));
        }
    });
    Box::new(ChanReader {
        rx,
        cur: Vec::new(),
        pos: 0,
    })
}

const CHUNK: usize = 1 << 16;

struct ChanWriter {
    tx: std::sync::mpsc::SyncSender<std::io::Result<Vec<u8>>>,
    buf: Vec<u8>,
}

impl Write for ChanWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .send(Ok(chunk))
            .map_err(|_| std::io::Error::other("reader gone"))
    }
}

struct ChanReader {
    rx: std::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for ChanReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.cur.len() {
            match self.rx.recv() {
                Ok(Ok(c)) => {
                    self.cur = c;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.cur.len() - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xz_footer_overflow_is_an_error_not_a_panic() {
        // Found by the fwscan_squashfs fuzz target: backward size 0xFFFFFFFF in the footer.
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut &b"hello firmware"[..], &mut xz).unwrap();
        let n = xz.len();
        xz[n - 8..n - 4].copy_from_slice(&[0xff; 4]);
        assert!(matches!(
            unxz(&xz, 1 << 20),
            Err(DecompressError::Corrupt { format: "xz", .. })
        ));
        xz[n - 8..n - 4].copy_from_slice(&[0; 4]);
        assert!(unxz(&xz, 1 << 20).is_err());
    }
}
