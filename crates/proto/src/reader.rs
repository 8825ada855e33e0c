//! A checked cursor over a byte slice, in the style of rustls's `codec::Reader`.
//!
//! Every read either returns borrowed data or a [`ProtoError::Truncated`] with
//! the absolute offset, so parsers never index directly.

use crate::ProtoError;

#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf[0]` within the caller's original input, for error reports.
    base: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            base: 0,
        }
    }

    /// A reader whose errors report offsets shifted by `base`.
    pub(crate) fn with_base(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }

    /// Absolute offset of the next unread byte.
    pub(crate) fn offset(&self) -> usize {
        self.base.saturating_add(self.pos)
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let r = self.buf.get(self.pos..).unwrap_or(&[]);
        self.pos = self.buf.len();
        r
    }

    pub(crate) fn peek_rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    pub(crate) fn truncated(&self, needed: usize) -> ProtoError {
        ProtoError::Truncated {
            offset: self.offset(),
            needed: needed.saturating_sub(self.remaining()).max(1),
        }
    }

    pub(crate) fn malformed(&self, what: &'static str) -> ProtoError {
        ProtoError::Malformed {
            offset: self.offset(),
            what,
        }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        let end = self.pos.checked_add(n).ok_or_else(|| self.truncated(n))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| self.truncated(n))?;
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<(), ProtoError> {
        self.take(n).map(|_| ())
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], ProtoError> {
        let s = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, ProtoError> {
        Ok(u8::from_be_bytes(self.array::<1>()?))
    }

    pub(crate) fn u16(&mut self) -> Result<u16, ProtoError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u24(&mut self) -> Result<u32, ProtoError> {
        let [a, b, c] = self.array::<3>()?;
        Ok(u32::from_be_bytes([0, a, b, c]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, ProtoError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, ProtoError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// A sub-reader over the next `n` bytes, keeping absolute offsets.
    pub(crate) fn sub(&mut self, n: usize) -> Result<Reader<'a>, ProtoError> {
        let base = self.offset();
        let s = self.take(n)?;
        Ok(Reader::with_base(s, base))
    }

    /// Length-prefixed (u8) sub-slice.
    pub(crate) fn vec_u8(&mut self) -> Result<&'a [u8], ProtoError> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }

    /// Length-prefixed (u16) sub-slice.
    pub(crate) fn vec_u16(&mut self) -> Result<&'a [u8], ProtoError> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_reports_offsets() {
        let mut r = Reader::new(&[1, 2, 3, 4, 5]);
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.u16(), Ok(0x0203));
        assert_eq!(
            r.u32(),
            Err(ProtoError::Truncated {
                offset: 3,
                needed: 2
            })
        );
        let mut s = r.sub(2).unwrap();
        assert_eq!(s.offset(), 3);
        assert_eq!(s.rest(), &[4, 5]);
        assert!(r.is_empty());
        assert!(r.take(usize::MAX).is_err());
    }
}
