//! LZO1X block decompression (the format of squashfs `-comp lzo` blocks and of the Linux
//! kernel's `lzo1x_decompress_safe`), written from the format description: every input
//! read, output write and back-reference is bounds-checked, and the output is capped.
//!
//! Instruction summary (state = literals copied by the previous instruction, 0..=4):
//! * first byte > 17: copy `byte - 17` literals;
//! * 0..=15 with state 0: a literal run of `3 + len` (`len` 0 = long form);
//!   with state 1..=3: 2-byte match at distance `1 + (t >> 2) + (next << 2)`;
//!   with state 4: 3-byte match at distance `2049 + (t >> 2) + (next << 2)`;
//! * 16..=31 (M4): match of `2 + len` at distance `16384 + ((t & 8) << 11) + (le16 >> 2)`;
//!   distance 16384 exactly ends the stream;
//! * 32..=63 (M3): match of `2 + len` at distance `1 + (le16 >> 2)`;
//! * 64..=255 (M2): match of `(t >> 5) + 1` at distance `1 + ((t >> 2) & 7) + (next << 3)`.
//!
//! Each match's low two bits (`S`) give 0..=3 literals that follow it.

use crate::decompress::DecompressError;

struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

fn corrupt(what: &str, offset: usize) -> DecompressError {
    DecompressError::Corrupt {
        format: "lzo",
        message: format!("{what} at input byte {offset}"),
    }
}

impl Input<'_> {
    fn byte(&mut self) -> Result<u8, DecompressError> {
        let b = *self
            .data
            .get(self.pos)
            .ok_or_else(|| corrupt("truncated stream", self.pos))?;
        self.pos += 1;
        Ok(b)
    }

    fn le16(&mut self) -> Result<usize, DecompressError> {
        let lo = self.byte()?;
        let hi = self.byte()?;
        Ok(usize::from(u16::from_le_bytes([lo, hi])))
    }

    /// `base` plus a run-length extension: each zero byte adds 255, the final byte adds
    /// itself.
    fn long_length(&mut self, base: usize) -> Result<usize, DecompressError> {
        let mut n = base;
        loop {
            let b = self.byte()?;
            if b != 0 {
                return Ok(n + usize::from(b));
            }
            n = n
                .checked_add(255)
                .ok_or_else(|| corrupt("length overflow", self.pos))?;
        }
    }

    fn literals(
        &mut self,
        out: &mut Vec<u8>,
        n: usize,
        limit: usize,
    ) -> Result<(), DecompressError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.data.len())
            .ok_or_else(|| corrupt("literal run past the end", self.pos))?;
        if out.len() + n > limit {
            return Err(DecompressError::TooLarge {
                limit: limit as u64,
            });
        }
        out.extend_from_slice(&self.data[self.pos..end]);
        self.pos = end;
        Ok(())
    }
}

/// Copies `len` bytes from `dist` back (overlapping copies repeat the pattern).
fn copy_match(
    out: &mut Vec<u8>,
    dist: usize,
    len: usize,
    limit: usize,
    at: usize,
) -> Result<(), DecompressError> {
    if dist == 0 || dist > out.len() {
        return Err(corrupt("match before the start of the output", at));
    }
    if out.len() + len > limit {
        return Err(DecompressError::TooLarge {
            limit: limit as u64,
        });
    }
    let start = out.len() - dist;
    for i in 0..len {
        let b = out[start + i];
        out.push(b);
    }
    Ok(())
}

/// Decompresses one LZO1X block, at most `limit` bytes of output.
pub fn decompress(data: &[u8], limit: usize) -> Result<Vec<u8>, DecompressError> {
    let mut out = Vec::with_capacity(limit.min(data.len().saturating_mul(4)).min(1 << 20));
    let mut inp = Input { data, pos: 0 };
    let mut state = 0usize;
    if let Some(&first) = data.first()
        && first > 17
    {
        inp.pos = 1;
        let n = usize::from(first - 17);
        inp.literals(&mut out, n, limit)?;
        state = if n < 4 { n } else { 4 };
    }
    loop {
        let at = inp.pos;
        let t = usize::from(inp.byte()?);
        let (dist, len, next);
        if t < 16 {
            match state {
                0 => {
                    let n = if t == 0 { inp.long_length(15)? } else { t };
                    inp.literals(&mut out, n + 3, limit)?;
                    state = 4;
                    continue;
                }
                1..=3 => {
                    let h = usize::from(inp.byte()?);
                    dist = 1 + (t >> 2) + (h << 2);
                    len = 2;
                }
                _ => {
                    let h = usize::from(inp.byte()?);
                    dist = 2049 + (t >> 2) + (h << 2);
                    len = 3;
                }
            }
            next = t & 3;
        } else if t >= 64 {
            let h = usize::from(inp.byte()?);
            dist = 1 + ((t >> 2) & 7) + (h << 3);
            len = (t >> 5) + 1;
            next = t & 3;
        } else if t >= 32 {
            let l = t & 31;
            len = 2 + if l == 0 { inp.long_length(31)? } else { l };
            let d = inp.le16()?;
            dist = 1 + (d >> 2);
            next = d & 3;
        } else {
            let l = t & 7;
            len = 2 + if l == 0 { inp.long_length(7)? } else { l };
            let d = inp.le16()?;
            let far = ((t & 8) << 11) + (d >> 2);
            if far == 0 {
                // End of stream (the encoder writes 0x11 0x00 0x00).
                return Ok(out);
            }
            dist = far + 0x4000;
            next = d & 3;
        }
        copy_match(&mut out, dist, len, limit, at)?;
        inp.literals(&mut out, next, limit)?;
        state = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_made_streams() {
        // 5 literals "hello", then an M2 match of 3 at distance 5 ("hel"), then the end.
        // M2: t = ((len - 1) << 5) | ((dist - 1) & 7) << 2 | S, next byte (dist - 1) >> 3.
        let m2 = (2u8 << 5) | ((4 & 7) << 2);
        let stream = [17 + 5, b'h', b'e', b'l', b'l', b'o', m2, 0, 0x11, 0, 0];
        assert_eq!(decompress(&stream, 1024).unwrap(), b"hellohel");
        // The same with a cap below the output size.
        assert!(matches!(
            decompress(&stream, 6),
            Err(DecompressError::TooLarge { limit: 6 })
        ));
        // A match reaching before the output start.
        let bad = [17 + 1, b'x', (2u8 << 5) | (7 << 2), 9, 0x11, 0, 0];
        assert!(matches!(
            decompress(&bad, 1024),
            Err(DecompressError::Corrupt { format: "lzo", .. })
        ));
        // Truncated inputs and an endless zero run are errors.
        assert!(decompress(&[], 10).is_err());
        assert!(decompress(&[0, 0, 0, 0], 10).is_err());
        assert!(decompress(&[17 + 10, b'a'], 10).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_respects_the_limit(data in proptest::collection::vec(0u8..=255, 0..512), limit in 0usize..4096) {
            if let Ok(out) = decompress(&data, limit) {
                proptest::prop_assert!(out.len() <= limit);
            }
        }
    }
}
