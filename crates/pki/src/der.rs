//! A minimal, panic-free DER reader and writer for the few structures this crate handles
//! itself (OCSP requests and responses, PKCS#7 certs-only). Certificates, CSRs and CRLs are
//! parsed with x509-parser.

use crate::PkiError;

pub const SEQUENCE: u8 = 0x30;
pub const SET: u8 = 0x31;
pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;
pub const NULL: u8 = 0x05;
pub const OID: u8 = 0x06;
pub const ENUMERATED: u8 = 0x0a;
pub const GENERALIZED_TIME: u8 = 0x18;

/// Nesting limit: DER we accept is shallow; a deeper input is an attack, not data.
const MAX_DEPTH: u32 = 32;

/// One TLV: its tag, its value, and where the value starts in the outermost input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
    /// The whole encoding (tag, length and value).
    pub raw: &'a [u8],
    pub offset: usize,
}

/// Reads consecutive TLVs from a slice. `base` is the offset of `input` in the whole message,
/// so errors can name a byte offset.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
    base: usize,
    depth: u32,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(input: &'a [u8], what: &'static str) -> Reader<'a> {
        Reader {
            input,
            pos: 0,
            base: 0,
            depth: 0,
            what,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.input.len()
    }

    fn err(&self, at: usize, msg: &str) -> PkiError {
        PkiError::Der {
            what: self.what,
            offset: self.base + at,
            msg: msg.to_owned(),
        }
    }

    /// The tag of the next TLV without consuming it.
    pub fn peek_tag(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    /// Reads the next TLV of any tag.
    pub fn any(&mut self) -> Result<Tlv<'a>, PkiError> {
        let start = self.pos;
        let tag = *self
            .input
            .get(start)
            .ok_or_else(|| self.err(start, "unexpected end of data"))?;
        if tag & 0x1f == 0x1f {
            return Err(self.err(start, "multi-byte tags are not supported"));
        }
        let first = *self
            .input
            .get(start + 1)
            .ok_or_else(|| self.err(start + 1, "missing length"))?;
        let (len, hdr) = if first < 0x80 {
            (first as usize, 2)
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 {
                return Err(self.err(start + 1, "indefinite length is not DER"));
            }
            if n > 4 {
                return Err(self.err(start + 1, "length too large"));
            }
            let bytes = self
                .input
                .get(start + 2..start + 2 + n)
                .ok_or_else(|| self.err(start + 2, "truncated length"))?;
            if bytes.first() == Some(&0) {
                return Err(self.err(start + 2, "non-minimal length"));
            }
            let len = bytes.iter().fold(0usize, |a, b| (a << 8) | *b as usize);
            if len < 0x80 {
                return Err(self.err(start + 1, "non-minimal length"));
            }
            (len, 2 + n)
        };
        let end = (start + hdr)
            .checked_add(len)
            .ok_or_else(|| self.err(start, "length overflow"))?;
        let value = self.input.get(start + hdr..end).ok_or_else(|| {
            self.err(
                start + hdr,
                &format!("value of {len} bytes runs past the end of the data"),
            )
        })?;
        let raw = self.input.get(start..end).unwrap_or_default();
        self.pos = end;
        Ok(Tlv {
            tag,
            value,
            raw,
            offset: self.base + start + hdr,
        })
    }

    /// Reads the next TLV, which must carry `tag`.
    pub fn expect(&mut self, tag: u8, name: &str) -> Result<Tlv<'a>, PkiError> {
        let at = self.pos;
        let t = self.any()?;
        if t.tag != tag {
            return Err(self.err(
                at,
                &format!(
                    "expected {name} (tag 0x{tag:02x}), found tag 0x{:02x}",
                    t.tag
                ),
            ));
        }
        Ok(t)
    }

    /// Reads the next TLV only if it carries `tag`.
    pub fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, PkiError> {
        if self.peek_tag() == Some(tag) {
            self.any().map(Some)
        } else {
            Ok(None)
        }
    }

    /// A reader over the contents of a constructed TLV read from this reader.
    pub fn nested(&self, tlv: &Tlv<'a>) -> Result<Reader<'a>, PkiError> {
        if self.depth >= MAX_DEPTH {
            return Err(PkiError::Der {
                what: self.what,
                offset: tlv.offset,
                msg: "nesting too deep".into(),
            });
        }
        Ok(Reader {
            input: tlv.value,
            pos: 0,
            base: tlv.offset,
            depth: self.depth + 1,
            what: self.what,
        })
    }

    /// Fails when bytes remain.
    pub fn finish(&self, name: &str) -> Result<(), PkiError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.err(self.pos, &format!("trailing bytes after {name}")))
        }
    }
}

/// Appends a TLV with a DER length.
pub fn write_tlv(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag);
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
}

/// A TLV as a new vector.
pub fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(value.len() + 6);
    write_tlv(&mut v, tag, value);
    v
}

/// A SEQUENCE (or other constructed tag) of already-encoded parts.
pub fn cons(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let body: Vec<u8> = parts.concat();
    tlv(tag, &body)
}

/// Encodes a dotted OID such as "1.3.6.1.5.5.7.48.1.1" (the value bytes only).
pub fn oid_value(dotted: &str) -> Vec<u8> {
    let arcs: Vec<u64> = dotted.split('.').filter_map(|s| s.parse().ok()).collect();
    let mut out = Vec::new();
    if arcs.len() < 2 {
        return out;
    }
    push_base128(&mut out, arcs[0] * 40 + arcs[1]);
    for a in &arcs[2..] {
        push_base128(&mut out, *a);
    }
    out
}

fn push_base128(out: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 10];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            break;
        }
    }
    let n = tmp.len();
    for (k, b) in tmp[i..].iter().enumerate() {
        out.push(if i + k + 1 < n { b | 0x80 } else { *b });
    }
}

/// A full OID TLV.
pub fn oid(dotted: &str) -> Vec<u8> {
    tlv(OID, &oid_value(dotted))
}

/// GeneralizedTime "YYYYMMDDHHMMSSZ" for a Unix time.
pub fn generalized_time(unix: i64) -> Vec<u8> {
    let t =
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let s = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    tlv(GENERALIZED_TIME, s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lengths_round_trip() {
        for n in [0usize, 1, 127, 128, 255, 256, 65535, 70000] {
            let v = vec![7u8; n];
            let enc = tlv(OCTET_STRING, &v);
            let mut r = Reader::new(&enc, "test");
            let t = r.expect(OCTET_STRING, "octets").unwrap();
            assert_eq!(t.value.len(), n);
            assert!(r.is_empty());
        }
    }

    #[test]
    fn oid_encoding_matches_known_bytes() {
        // id-pkix-ocsp-basic
        assert_eq!(
            oid("1.3.6.1.5.5.7.48.1.1"),
            [
                0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01
            ]
        );
        // ecdsa-with-SHA256 1.2.840.10045.4.3.2
        assert_eq!(
            oid("1.2.840.10045.4.3.2"),
            [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]
        );
    }

    #[test]
    fn rejects_bad_lengths() {
        for bad in [
            &[0x30u8, 0x80][..],
            &[0x30, 0x81, 0x05],
            &[0x30, 0x05, 1],
            &[0x30, 0x82, 0x00, 0x80],
            &[0x30, 0x81],
            &[0x1f, 0x01],
        ] {
            assert!(Reader::new(bad, "test").any().is_err(), "{bad:?}");
        }
    }
}
