//! Address helpers shared by the detectors.

use std::net::IpAddr;

pub use palisade_flow::{Addr, addr_from_v4, addr_to_ip};

/// The IPv4 address inside an IPv4-mapped [`Addr`].
#[inline]
pub fn v4_of(a: &Addr) -> Option<[u8; 4]> {
    if a[..10].iter().all(|&b| b == 0) && a[10] == 0xff && a[11] == 0xff {
        Some([a[12], a[13], a[14], a[15]])
    } else {
        None
    }
}

/// Addresses that stay on the local network (RFC 1918, link-local, CGNAT, loopback, ULA,
/// IPv6 link-local). The unspecified address is not a device.
#[inline]
pub fn is_local(a: &Addr) -> bool {
    match v4_of(a) {
        Some(o) => {
            o[0] == 10
                || (o[0] == 172 && (o[1] & 0xf0) == 16)
                || (o[0] == 192 && o[1] == 168)
                || (o[0] == 169 && o[1] == 254)
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || o[0] == 127
        }
        None => (a[0] & 0xfe) == 0xfc || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80),
    }
}

/// Multicast or broadcast destination (never a flood *target* of interest, never a device).
#[inline]
pub fn is_group(a: &Addr) -> bool {
    match v4_of(a) {
        Some(o) => o[0] >= 224 || o[3] == 255 && o[0] != 0 || o == [0, 0, 0, 0],
        None => a[0] == 0xff || a.iter().all(|&b| b == 0),
    }
}

/// `(is_local(a) && !is_group(a), is_group(a))` with one look at the address (the
/// host detector asks this twice per packet).
#[inline]
pub fn local_device_and_group(a: &Addr) -> (bool, bool) {
    if a[..10] == [0u8; 10] && a[10] == 0xff && a[11] == 0xff {
        let o = [a[12], a[13], a[14], a[15]];
        let group = o[0] >= 224 || o[3] == 255 && o[0] != 0 || o == [0, 0, 0, 0];
        let local = o[0] == 10
            || (o[0] == 172 && (o[1] & 0xf0) == 16)
            || (o[0] == 192 && o[1] == 168)
            || (o[0] == 169 && o[1] == 254)
            || (o[0] == 100 && (o[1] & 0xc0) == 64)
            || o[0] == 127;
        (local && !group, group)
    } else {
        let group = a[0] == 0xff || a.iter().all(|&b| b == 0);
        let local = (a[0] & 0xfe) == 0xfc || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80);
        (local && !group, group)
    }
}

pub fn ip(a: &Addr) -> IpAddr {
    addr_to_ip(a)
}

/// "ip:port" (IPv6 in brackets).
pub fn endpoint(a: &Addr, port: u16) -> String {
    match addr_to_ip(a) {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

/// Printable ASCII of a byte string for evidence (other bytes as '.'), at most `max` chars.
pub fn ascii(b: &[u8], max: usize) -> String {
    b.iter()
        .take(max)
        .map(|&c| {
            if (0x20..0x7f).contains(&c) {
                c as char
            } else {
                '.'
            }
        })
        .collect()
}

/// Lower-case hex of at most `max` bytes.
pub fn hex(b: &[u8], max: usize) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len().min(max) * 2);
    for &x in b.iter().take(max) {
        s.push(D[(x >> 4) as usize] as char);
        s.push(D[(x & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locality() {
        assert!(is_local(&addr_from_v4([192, 168, 1, 5])));
        assert!(is_local(&addr_from_v4([10, 10, 10, 10])));
        assert!(is_local(&addr_from_v4([172, 20, 0, 1])));
        assert!(!is_local(&addr_from_v4([172, 32, 0, 1])));
        assert!(!is_local(&addr_from_v4([8, 8, 8, 8])));
        assert!(!is_local(&addr_from_v4([0, 0, 0, 0])));
        let mut ll = [0u8; 16];
        ll[0] = 0xfe;
        ll[1] = 0x80;
        assert!(is_local(&ll));
        assert!(is_group(&addr_from_v4([239, 255, 255, 250])));
        assert!(is_group(&addr_from_v4([192, 168, 1, 255])));
        assert!(!is_group(&addr_from_v4([192, 168, 1, 7])));
        assert_eq!(v4_of(&addr_from_v4([1, 2, 3, 4])), Some([1, 2, 3, 4]));
        let mut v6 = [0u8; 16];
        v6[0] = 0x20;
        let mut ula = [0u8; 16];
        ula[0] = 0xfd;
        for a in [
            addr_from_v4([192, 168, 1, 5]),
            addr_from_v4([192, 168, 1, 255]),
            addr_from_v4([8, 8, 8, 8]),
            addr_from_v4([0, 0, 0, 0]),
            addr_from_v4([224, 0, 0, 251]),
            addr_from_v4([10, 0, 0, 255]),
            ll,
            v6,
            ula,
            [0u8; 16],
            [0xff; 16],
        ] {
            assert_eq!(
                local_device_and_group(&a),
                (is_local(&a) && !is_group(&a), is_group(&a)),
                "{a:?}"
            );
        }
        assert_eq!(ascii(b"ab\x00c", 10), "ab.c");
        assert_eq!(hex(&[0, 255, 16], 2), "00ff");
    }
}
