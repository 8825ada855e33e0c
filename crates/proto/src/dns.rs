//! DNS and mDNS messages (RFC 1035, RFC 6762).
//!
//! mDNS answers are how most IoT devices announce what they are (service
//! types, instance names, TXT model keys), so records are fully decoded.
//! Hostile packets are contained: names are bounded to 255 bytes and a few
//! compression jumps, and each section is capped at [`MAX_RECORDS`] entries.

use crate::ProtoError;
use crate::reader::Reader;

/// Records kept per section; further records are skipped and flagged so a
/// forged count cannot make the sensor allocate much.
pub const MAX_RECORDS: usize = 256;
/// Longest name on the wire (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 255;
/// Compression pointers followed while decoding one name.
pub const MAX_JUMPS: usize = 16;

/// A decoded DNS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsMessage<'a> {
    pub id: u16,
    pub flags: u16,
    pub is_response: bool,
    pub opcode: u8,
    pub rcode: u8,
    pub questions: Vec<Question>,
    pub answers: Vec<Record<'a>>,
    pub authorities: Vec<Record<'a>>,
    pub additionals: Vec<Record<'a>>,
    /// A header count exceeded [`MAX_RECORDS`]; the remainder was not parsed.
    pub records_capped: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub name: String,
    pub qtype: u16,
    /// Class with the mDNS unicast-response bit stripped.
    pub qclass: u16,
    /// mDNS "QU" bit (top bit of the class).
    pub unicast_response: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub name: String,
    pub rtype: u16,
    /// Class with the mDNS cache-flush bit stripped.
    pub class: u16,
    pub cache_flush: bool,
    pub ttl: u32,
    pub data: RData<'a>,
}

/// Record data for the types the inventory uses; everything else is raw.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RData<'a> {
    A([u8; 4]),
    Aaaa([u8; 16]),
    Ptr(String),
    Cname(String),
    Txt(Vec<&'a [u8]>),
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: String,
    },
    Hinfo {
        cpu: &'a [u8],
        os: &'a [u8],
    },
    Other(&'a [u8]),
}

pub const TYPE_A: u16 = 1;
pub const TYPE_CNAME: u16 = 5;
pub const TYPE_HINFO: u16 = 13;
pub const TYPE_PTR: u16 = 12;
pub const TYPE_TXT: u16 = 16;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_SRV: u16 = 33;

/// Parses a DNS message. For DNS over TCP, strip the 2-byte length first.
pub fn parse(udp_payload: &[u8]) -> Result<DnsMessage<'_>, ProtoError> {
    let msg = udp_payload;
    let mut r = Reader::new(msg);
    let id = r.u16()?;
    let flags = r.u16()?;
    let qd = r.u16()?;
    let an = r.u16()?;
    let ns = r.u16()?;
    let ar = r.u16()?;

    let mut capped = false;
    let qn = cap(qd, &mut capped);
    let mut questions = Vec::with_capacity(qn.min(r.remaining() / 5));
    for _ in 0..qn {
        let name = read_name(msg, &mut r)?;
        let qtype = r.u16()?;
        let qclass = r.u16()?;
        questions.push(Question {
            name,
            qtype,
            qclass: qclass & 0x7fff,
            unicast_response: qclass & 0x8000 != 0,
        });
    }
    // Remaining questions would shift every later record, so stop here.
    let (answers, authorities, additionals) = if usize::from(qd) > qn {
        (Vec::new(), Vec::new(), Vec::new())
    } else {
        let a = section(msg, &mut r, an, &mut capped)?;
        let (b, c) = if usize::from(an) > a.len() {
            (Vec::new(), Vec::new())
        } else {
            let b = section(msg, &mut r, ns, &mut capped)?;
            let c = if usize::from(ns) > b.len() {
                Vec::new()
            } else {
                section(msg, &mut r, ar, &mut capped)?
            };
            (b, c)
        };
        (a, b, c)
    };

    Ok(DnsMessage {
        id,
        flags,
        is_response: flags & 0x8000 != 0,
        opcode: ((flags >> 11) & 0x0f) as u8,
        rcode: (flags & 0x0f) as u8,
        questions,
        answers,
        authorities,
        additionals,
        records_capped: capped,
    })
}

impl<'a> DnsMessage<'a> {
    /// All resource records, answers first.
    pub fn records(&self) -> impl Iterator<Item = &Record<'a>> {
        self.answers
            .iter()
            .chain(&self.authorities)
            .chain(&self.additionals)
    }
}

/// Splits TXT strings into `key=value` pairs (RFC 6763 §6.3). A string
/// without `=` is a boolean attribute and yields an empty value; empty
/// strings are skipped.
pub fn txt_pairs<'t, 'a>(txt: &'t [&'a [u8]]) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 't {
    txt.iter()
        .filter(|s| !s.is_empty())
        .map(|s| match s.iter().position(|&b| b == b'=') {
            Some(i) => {
                let (k, v) = s.split_at(i);
                (k, v.get(1..).unwrap_or(&[]))
            }
            None => (*s, &[][..]),
        })
}

fn cap(count: u16, capped: &mut bool) -> usize {
    let n = usize::from(count);
    if n > MAX_RECORDS {
        *capped = true;
        MAX_RECORDS
    } else {
        n
    }
}

fn section<'a>(
    msg: &'a [u8],
    r: &mut Reader<'a>,
    count: u16,
    capped: &mut bool,
) -> Result<Vec<Record<'a>>, ProtoError> {
    let n = cap(count, capped);
    // Each record needs at least 11 bytes, which bounds the allocation.
    let mut out = Vec::with_capacity(n.min(r.remaining() / 11));
    for _ in 0..n {
        out.push(record(msg, r)?);
    }
    Ok(out)
}

fn record<'a>(msg: &'a [u8], r: &mut Reader<'a>) -> Result<Record<'a>, ProtoError> {
    let name = read_name(msg, r)?;
    let rtype = r.u16()?;
    let class = r.u16()?;
    let ttl = r.u32()?;
    let rdlen = r.u16()?;
    let rd_at = r.offset();
    let mut rd = r.sub(usize::from(rdlen))?;
    let bad = |what| ProtoError::Malformed {
        offset: rd_at,
        what,
    };
    let data = match rtype {
        TYPE_A => RData::A(rd.array().map_err(|_| bad("A record length"))?),
        TYPE_AAAA => RData::Aaaa(rd.array().map_err(|_| bad("AAAA record length"))?),
        TYPE_PTR => RData::Ptr(read_name(msg, &mut rd)?),
        TYPE_CNAME => RData::Cname(read_name(msg, &mut rd)?),
        TYPE_TXT => {
            let mut parts = Vec::with_capacity(4);
            while !rd.is_empty() {
                parts.push(rd.vec_u8()?);
            }
            RData::Txt(parts)
        }
        TYPE_SRV => RData::Srv {
            priority: rd.u16()?,
            weight: rd.u16()?,
            port: rd.u16()?,
            target: read_name(msg, &mut rd)?,
        },
        TYPE_HINFO => RData::Hinfo {
            cpu: rd.vec_u8()?,
            os: rd.vec_u8()?,
        },
        _ => RData::Other(rd.rest()),
    };
    Ok(Record {
        name,
        rtype,
        class: class & 0x7fff,
        cache_flush: class & 0x8000 != 0,
        ttl,
        data,
    })
}

/// Reads a possibly compressed name at the reader's position. Pointers may
/// target any earlier or later offset of `msg`, so loops are cut by the jump
/// and length limits rather than by direction.
fn read_name(msg: &[u8], r: &mut Reader<'_>) -> Result<String, ProtoError> {
    let mut name = String::new();
    let mut wire_len = 0usize;
    let mut jumps = 0usize;
    // Position within `msg` while following pointers; None = still in `r`.
    let mut jumped: Option<usize> = None;
    loop {
        let (at, len) = match jumped {
            None => (r.offset(), r.u8()?),
            Some(p) => (
                p,
                *msg.get(p).ok_or(ProtoError::Truncated {
                    offset: p,
                    needed: 1,
                })?,
            ),
        };
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    return Ok(name);
                }
                let n = usize::from(len);
                wire_len += n + 1;
                if wire_len > MAX_NAME_LEN {
                    return Err(ProtoError::Malformed {
                        offset: at,
                        what: "DNS name longer than 255 bytes",
                    });
                }
                let label = match jumped {
                    None => r.take(n)?,
                    Some(p) => {
                        let start = p + 1;
                        let l = msg.get(start..start + n).ok_or(ProtoError::Truncated {
                            offset: start,
                            needed: n,
                        })?;
                        jumped = Some(start + n);
                        l
                    }
                };
                if !name.is_empty() {
                    name.push('.');
                }
                push_label(&mut name, label);
            }
            0xc0 => {
                let lo = match jumped {
                    None => r.u8()?,
                    Some(p) => *msg.get(p + 1).ok_or(ProtoError::Truncated {
                        offset: p + 1,
                        needed: 1,
                    })?,
                };
                jumps += 1;
                if jumps > MAX_JUMPS {
                    return Err(ProtoError::Malformed {
                        offset: at,
                        what: "DNS compression pointer loop",
                    });
                }
                let target = usize::from(u16::from_be_bytes([len & 0x3f, lo]));
                jumped = Some(target);
            }
            _ => {
                return Err(ProtoError::Malformed {
                    offset: at,
                    what: "DNS extended label type",
                });
            }
        }
    }
}

/// Appends a label, keeping valid UTF-8 (mDNS instance names are UTF-8) and
/// replacing anything else.
fn push_label(name: &mut String, label: &[u8]) {
    match std::str::from_utf8(label) {
        Ok(s) => name.push_str(s),
        Err(_) => name.push_str(&String::from_utf8_lossy(label)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// mDNS response: PTR _hap._tcp.local -> "Lamp._hap._tcp.local" plus TXT,
    /// SRV and A records using compression.
    #[rustfmt::skip]
    const MDNS: &[u8] = &[
        0x00, 0x00, 0x84, 0x00, // id=0, flags: response, authoritative
        0x00, 0x00, 0x00, 0x04, // qd=0 an=4
        0x00, 0x00, 0x00, 0x00, // ns=0 ar=0
        // @12: answer 1 name "_hap._tcp.local"
        0x04, b'_', b'h', b'a', b'p',
        0x04, b'_', b't', b'c', b'p',
        0x05, b'l', b'o', b'c', b'a', b'l', 0x00,
        0x00, 0x0c, 0x00, 0x01, // PTR IN
        0x00, 0x00, 0x11, 0x94, // ttl 4500
        0x00, 0x07, // rdlen
        // @39: "Lamp" + ptr to @12
        0x04, b'L', b'a', b'm', b'p', 0xc0, 0x0c,
        // answer 2: name ptr @39, TXT, cache flush
        0xc0, 0x27, 0x00, 0x10, 0x80, 0x01, 0x00, 0x00, 0x11, 0x94,
        0x00, 0x0b,
        0x04, b'm', b'd', b'=', b'X', // "md=X"
        0x00,                          // empty string
        0x04, b's', b'f', b'=', b'1', // "sf=1"
        // answer 3: SRV
        0xc0, 0x27, 0x00, 0x21, 0x80, 0x01, 0x00, 0x00, 0x00, 0x78,
        0x00, 0x0d,
        0x00, 0x00, 0x00, 0x00, 0x1f, 0x90, // prio 0, weight 0, port 8080
        0x04, b'l', b'a', b'm', b'p', 0xc0, 0x16, // "lamp" + ptr to "local" @22
        // answer 4: A
        0xc0, 0x27, 0x00, 0x01, 0x80, 0x01, 0x00, 0x00, 0x00, 0x78,
        0x00, 0x04, 192, 168, 1, 9,
    ];

    #[test]
    fn parses_mdns_response() {
        let m = parse(MDNS).unwrap();
        assert!(m.is_response);
        assert_eq!(m.answers.len(), 4);
        let a = &m.answers;
        assert_eq!(a[0].name, "_hap._tcp.local");
        assert_eq!(a[0].data, RData::Ptr("Lamp._hap._tcp.local".into()));
        assert_eq!(a[1].name, "Lamp._hap._tcp.local");
        assert!(a[1].cache_flush);
        assert_eq!(a[1].class, 1);
        let RData::Txt(txt) = &a[1].data else {
            panic!()
        };
        let pairs: Vec<_> = txt_pairs(txt).collect();
        assert_eq!(
            pairs,
            vec![(&b"md"[..], &b"X"[..]), (&b"sf"[..], &b"1"[..])]
        );
        assert_eq!(
            a[2].data,
            RData::Srv {
                priority: 0,
                weight: 0,
                port: 8080,
                target: "lamp.local".into()
            }
        );
        assert_eq!(a[3].data, RData::A([192, 168, 1, 9]));
        assert_eq!(m.records().count(), 4);
    }

    #[test]
    fn parses_query_with_qu_bit() {
        #[rustfmt::skip]
        let q = [
            0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0,
            0x03, b'f', b'o', b'o', 0x00,
            0x00, 0x01, 0x80, 0x01, // A, QU + IN
        ];
        let m = parse(&q).unwrap();
        assert!(!m.is_response);
        assert_eq!(m.id, 0x1234);
        assert_eq!(m.questions[0].name, "foo");
        assert!(m.questions[0].unicast_response);
        assert_eq!(m.questions[0].qclass, 1);
    }

    #[test]
    fn truncation_at_every_length_is_an_error() {
        for n in 0..MDNS.len() {
            assert!(parse(&MDNS[..n]).is_err(), "len {n}");
        }
    }

    #[test]
    fn pointer_loops_are_rejected() {
        // Question name is a pointer to itself.
        let q = [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1];
        assert!(matches!(parse(&q), Err(ProtoError::Malformed { .. })));
        // Two pointers pointing at each other.
        let q = [
            0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0e, 0xc0, 0x0c, 0, 1, 0, 1,
        ];
        assert!(matches!(parse(&q), Err(ProtoError::Malformed { .. })));
        // Pointer beyond the message.
        let q = [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 1, 0, 1];
        assert!(parse(&q).is_err());
    }

    #[test]
    fn long_names_are_rejected() {
        // A label "a" repeated via a pointer chain grows past 255 bytes.
        let mut q = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for _ in 0..130 {
            q.extend_from_slice(&[1, b'a']);
        }
        q.extend_from_slice(&[0, 0, 1, 0, 1]);
        assert!(matches!(parse(&q), Err(ProtoError::Malformed { .. })));
    }

    #[test]
    fn huge_counts_do_not_allocate() {
        // Counts of 65535 with no data: truncated, with small allocations.
        let q = [
            0, 0, 0x80, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ];
        assert!(matches!(parse(&q), Err(ProtoError::Truncated { .. })));
        // 300 tiny questions: capped at 256 and flagged.
        let mut q = vec![0, 0, 0, 0, 0x01, 0x2c, 0, 0, 0, 0, 0, 0];
        for _ in 0..300 {
            q.extend_from_slice(&[0, 0, 1, 0, 1]);
        }
        let m = parse(&q).unwrap();
        assert_eq!(m.questions.len(), MAX_RECORDS);
        assert!(m.records_capped);
    }

    #[test]
    fn bad_rdata_lengths() {
        #[rustfmt::skip]
        let r = [
            0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0,
            0x00, 0x00, 0x01, 0x00, 0x01, 0, 0, 0, 0, 0x00, 0x03, 1, 2, 3, // A with 3 bytes
        ];
        assert!(matches!(parse(&r), Err(ProtoError::Malformed { .. })));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&data);
        }

        #[test]
        fn never_panics_after_valid_header(tail in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut m = vec![0, 0, 0x84, 0, 0, 2, 0, 3, 0, 1, 0, 2];
            m.extend_from_slice(&tail);
            let _ = parse(&m);
        }
    }
}
