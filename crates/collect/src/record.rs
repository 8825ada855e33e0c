//! The common flow record every input (NetFlow v5/v9, IPFIX, Zeek, Suricata) maps onto.

use std::net::{IpAddr, Ipv4Addr};

/// One unidirectional (or, with `rev_*`, bidirectional) flow as exported by a flow source.
///
/// Counters of the reverse direction are filled only where the source reports them (IPFIX
/// biflows per RFC 5103, Zeek `resp_*`, Suricata `*_toclient`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowRecord {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    /// IP protocol number (6 TCP, 17 UDP, 1 ICMP, ...).
    pub proto: u8,
    /// Union of the TCP flags seen from the source (0 where unknown). For ICMP, `dst_port`
    /// carries `type * 256 + code` (the NetFlow convention, applied to every input).
    pub tcp_flags: u8,
    /// Union of the TCP flags the destination sent back, where the source reports them.
    pub rev_tcp_flags: u8,
    pub packets: u64,
    pub bytes: u64,
    pub rev_packets: u64,
    pub rev_bytes: u64,
    /// Flow start and end, nanoseconds since the Unix epoch.
    pub start_ns: i64,
    pub end_ns: i64,
    pub src_mac: Option<[u8; 6]>,
    pub dst_mac: Option<[u8; 6]>,
    pub tos: u8,
    pub input_if: u32,
    pub output_if: u32,
}

impl Default for FlowRecord {
    fn default() -> Self {
        FlowRecord {
            src: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            src_port: 0,
            dst_port: 0,
            proto: 0,
            tcp_flags: 0,
            rev_tcp_flags: 0,
            packets: 0,
            bytes: 0,
            rev_packets: 0,
            rev_bytes: 0,
            start_ns: 0,
            end_ns: 0,
            src_mac: None,
            dst_mac: None,
            tos: 0,
            input_if: 0,
            output_if: 0,
        }
    }
}

/// IP protocol number from a protocol name as Zeek and Suricata write it.
pub fn proto_number(name: &str) -> u8 {
    match name.to_ascii_lowercase().as_str() {
        "tcp" => 6,
        "udp" => 17,
        "icmp" => 1,
        "ipv6-icmp" | "icmpv6" | "icmp6" => 58,
        "gre" => 47,
        "sctp" => 132,
        "esp" => 50,
        other => other.parse().unwrap_or(0),
    }
}

/// Parses `aa:bb:cc:dd:ee:ff` (or `-` separated) into a MAC.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut n = 0;
    for part in s.split([':', '-']) {
        if n == 6 || part.len() != 2 {
            return None;
        }
        out[n] = u8::from_str_radix(part, 16).ok()?;
        n += 1;
    }
    (n == 6).then_some(out)
}

/// Parses a decimal Unix timestamp with an optional fraction (`1545403816.962094`) into ns.
pub fn parse_epoch(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = int.parse().ok()?;
    let mut ns: i64 = 0;
    for (i, b) in frac.bytes().take(9).enumerate() {
        ns += i64::from(b - b'0') * 10i64.pow(8 - i as u32);
    }
    let v = secs.checked_mul(1_000_000_000)?.checked_add(ns)?;
    Some(if neg { -v } else { v })
}

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses an ISO 8601 / RFC 3339 timestamp as Suricata and Zeek write them:
/// `2018-12-21T15:50:14.123456+0000`, `...+00:00`, `...Z`.
pub fn parse_iso8601(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || (b[10] != b'T' && b[10] != b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if !t.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    let mut ns = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let mut digits = 0;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            if digits < 9 {
                ns += i64::from(c - b'0') * 10i64.pow(8 - digits);
            }
            digits += 1;
            i += 1;
        }
    }
    let offset_s = match b.get(i) {
        None | Some(b'Z') | Some(b'z') => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let rest = s.get(i + 1..)?.replace(':', "");
            if rest.len() != 4 || !rest.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let oh: i64 = rest.get(0..2)?.parse().ok()?;
            let om: i64 = rest.get(2..4)?.parse().ok()?;
            let o = oh * 3600 + om * 60;
            if sign == b'+' { o } else { -o }
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - offset_s;
    secs.checked_mul(1_000_000_000)?.checked_add(ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(
            parse_epoch("1545403816.962094"),
            Some(1_545_403_816_962_094_000)
        );
        assert_eq!(parse_epoch("12"), Some(12_000_000_000));
        assert_eq!(parse_epoch("1.x"), None);
        assert_eq!(parse_epoch(""), None);
        assert_eq!(
            parse_iso8601("2018-12-21T15:50:16.962094+0000"),
            Some(1_545_407_416_962_094_000)
        );
        assert_eq!(
            parse_iso8601("2018-12-21T16:50:16.962094+01:00"),
            parse_iso8601("2018-12-21T15:50:16.962094Z")
        );
        assert_eq!(parse_iso8601("2018-13-21T15:50:16Z"), None);
        assert_eq!(parse_iso8601("garbage"), None);
    }

    #[test]
    fn macs_and_protocols() {
        assert_eq!(
            parse_mac("00:1a:2B:3c:4d:5e"),
            Some([0, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e])
        );
        assert_eq!(parse_mac("00:1a:2b:3c:4d"), None);
        assert_eq!(parse_mac("00:1a:2b:3c:4d:5e:6f"), None);
        assert_eq!(proto_number("TCP"), 6);
        assert_eq!(proto_number("IPv6-ICMP"), 58);
        assert_eq!(proto_number("bogus"), 0);
    }
}
