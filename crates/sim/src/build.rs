//! Packet builders: Ethernet II, ARP, IPv4 (with options), IPv6, UDP, TCP, IGMPv2.
//!
//! Every builder computes the IPv4 header checksum and the UDP/TCP checksum over the
//! pseudo-header, so the frames are valid on the wire. Frames shorter than the Ethernet
//! minimum (60 bytes without FCS) are zero-padded, as they appear on a mirror port.

/// EtherType IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// IP protocol numbers.
pub const IPPROTO_ICMP: u8 = 1;
/// IGMP.
pub const IPPROTO_IGMP: u8 = 2;
/// TCP.
pub const IPPROTO_TCP: u8 = 6;
/// UDP.
pub const IPPROTO_UDP: u8 = 17;
/// Ethernet broadcast address.
pub const BROADCAST_MAC: [u8; 6] = [0xff; 6];

/// TCP flag bits.
pub mod flags {
    /// FIN
    pub const FIN: u8 = 0x01;
    /// SYN
    pub const SYN: u8 = 0x02;
    /// RST
    pub const RST: u8 = 0x04;
    /// PSH
    pub const PSH: u8 = 0x08;
    /// ACK
    pub const ACK: u8 = 0x10;
    /// URG
    pub const URG: u8 = 0x20;
}

/// Minimum Ethernet frame length without the FCS.
pub const ETH_MIN_LEN: usize = 60;

/// RFC 1071 Internet checksum over the concatenation of `parts`.
pub fn internet_checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    let mut odd: Option<u8> = None;
    for p in parts {
        for &b in p.iter() {
            match odd.take() {
                Some(hi) => sum += u32::from(u16::from_be_bytes([hi, b])),
                None => odd = Some(b),
            }
        }
    }
    if let Some(hi) = odd {
        sum += u32::from(u16::from_be_bytes([hi, 0]));
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Ethernet II frame, zero-padded to 60 bytes.
pub fn ethernet(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity((14 + payload.len()).max(ETH_MIN_LEN));
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    if f.len() < ETH_MIN_LEN {
        f.resize(ETH_MIN_LEN, 0);
    }
    f
}

/// IPv4 header fields that vary per packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ip4 {
    /// Source address.
    pub src: [u8; 4],
    /// Destination address.
    pub dst: [u8; 4],
    /// Time to live.
    pub ttl: u8,
    /// Identification.
    pub id: u16,
    /// Don't-fragment flag.
    pub df: bool,
    /// Type of service / DSCP+ECN byte.
    pub tos: u8,
}

impl Ip4 {
    /// Header fields with ID 0, DF clear, TOS 0.
    pub fn new(src: [u8; 4], dst: [u8; 4], ttl: u8) -> Self {
        Ip4 {
            src,
            dst,
            ttl,
            id: 0,
            df: false,
            tos: 0,
        }
    }
}

/// An IPv4 packet (header with `options`, padded to a multiple of 4, plus `payload`).
pub fn ipv4_packet(ip: &Ip4, proto: u8, options: &[u8], payload: &[u8]) -> Vec<u8> {
    let opt_len = options.len().div_ceil(4) * 4;
    let hl = 20 + opt_len;
    let total = hl + payload.len();
    let mut p = Vec::with_capacity(total);
    p.push(0x40 | (hl / 4) as u8);
    p.push(ip.tos);
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&ip.id.to_be_bytes());
    p.extend_from_slice(&(if ip.df { 0x4000u16 } else { 0 }).to_be_bytes());
    p.push(ip.ttl);
    p.push(proto);
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&ip.src);
    p.extend_from_slice(&ip.dst);
    p.extend_from_slice(options);
    p.resize(hl, 0);
    let c = internet_checksum(&[&p[..hl]]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn pseudo_v4(src: [u8; 4], dst: [u8; 4], proto: u8, len: usize) -> [u8; 12] {
    let mut ph = [0u8; 12];
    ph[0..4].copy_from_slice(&src);
    ph[4..8].copy_from_slice(&dst);
    ph[9] = proto;
    ph[10..12].copy_from_slice(&(len as u16).to_be_bytes());
    ph
}

fn pseudo_v6(src: [u8; 16], dst: [u8; 16], proto: u8, len: usize) -> [u8; 40] {
    let mut ph = [0u8; 40];
    ph[0..16].copy_from_slice(&src);
    ph[16..32].copy_from_slice(&dst);
    ph[32..36].copy_from_slice(&(len as u32).to_be_bytes());
    ph[39] = proto;
    ph
}

fn udp_raw(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = 8 + payload.len();
    let mut u = Vec::with_capacity(len);
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&(len as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

fn set_udp_checksum(u: &mut [u8], pseudo: &[u8]) {
    let mut c = internet_checksum(&[pseudo, u]);
    if c == 0 {
        c = 0xffff;
    }
    u[6..8].copy_from_slice(&c.to_be_bytes());
}

/// A UDP datagram (header + payload) with the checksum over the IPv4 pseudo-header.
pub fn udp_v4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = udp_raw(sport, dport, payload);
    let ph = pseudo_v4(src, dst, IPPROTO_UDP, u.len());
    set_udp_checksum(&mut u, &ph);
    u
}

/// TCP option, for [`tcp_options`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpOpt {
    /// End of option list.
    Eol,
    /// No-operation.
    Nop,
    /// Maximum segment size.
    Mss(u16),
    /// Window scale shift.
    Ws(u8),
    /// SACK permitted.
    SackPerm,
    /// Timestamps (TSval, TSecr).
    Ts(u32, u32),
}

/// Encodes TCP options in order, padded with EOL to a multiple of 4 bytes.
pub fn tcp_options(opts: &[TcpOpt]) -> Vec<u8> {
    let mut o = Vec::new();
    for opt in opts {
        match *opt {
            TcpOpt::Eol => o.push(0),
            TcpOpt::Nop => o.push(1),
            TcpOpt::Mss(m) => {
                o.extend_from_slice(&[2, 4]);
                o.extend_from_slice(&m.to_be_bytes());
            }
            TcpOpt::Ws(s) => o.extend_from_slice(&[3, 3, s]),
            TcpOpt::SackPerm => o.extend_from_slice(&[4, 2]),
            TcpOpt::Ts(v, e) => {
                o.extend_from_slice(&[8, 10]);
                o.extend_from_slice(&v.to_be_bytes());
                o.extend_from_slice(&e.to_be_bytes());
            }
        }
    }
    while o.len() % 4 != 0 {
        o.push(0);
    }
    o
}

/// A TCP segment description.
#[derive(Clone, Copy, Debug)]
pub struct Tcp<'a> {
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number (sent as is; meaningful when ACK is set).
    pub ack: u32,
    /// Flag bits, see [`flags`].
    pub flags: u8,
    /// Receive window (unscaled value on the wire).
    pub window: u16,
    /// Encoded options (a multiple of 4 bytes, at most 40), e.g. from [`tcp_options`].
    pub options: &'a [u8],
    /// Payload.
    pub payload: &'a [u8],
}

fn tcp_raw(seg: &Tcp<'_>) -> Vec<u8> {
    let opt_len = seg.options.len().div_ceil(4) * 4;
    let hl = 20 + opt_len;
    let mut t = Vec::with_capacity(hl + seg.payload.len());
    t.extend_from_slice(&seg.sport.to_be_bytes());
    t.extend_from_slice(&seg.dport.to_be_bytes());
    t.extend_from_slice(&seg.seq.to_be_bytes());
    t.extend_from_slice(&seg.ack.to_be_bytes());
    t.push(((hl / 4) as u8) << 4);
    t.push(seg.flags);
    t.extend_from_slice(&seg.window.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
    t.extend_from_slice(seg.options);
    t.resize(hl, 0);
    t.extend_from_slice(seg.payload);
    t
}

/// A TCP segment (header + payload) with the checksum over the IPv4 pseudo-header.
pub fn tcp_v4(src: [u8; 4], dst: [u8; 4], seg: &Tcp<'_>) -> Vec<u8> {
    let mut t = tcp_raw(seg);
    let ph = pseudo_v4(src, dst, IPPROTO_TCP, t.len());
    let c = internet_checksum(&[&ph, &t]);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    t
}

/// Ethernet + IPv4 + UDP.
pub fn eth_ipv4_udp(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    ip: &Ip4,
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let u = udp_v4(ip.src, ip.dst, sport, dport, payload);
    ethernet(
        dst_mac,
        src_mac,
        ETHERTYPE_IPV4,
        &ipv4_packet(ip, IPPROTO_UDP, &[], &u),
    )
}

/// Ethernet + IPv4 + TCP.
pub fn eth_ipv4_tcp(src_mac: [u8; 6], dst_mac: [u8; 6], ip: &Ip4, seg: &Tcp<'_>) -> Vec<u8> {
    let t = tcp_v4(ip.src, ip.dst, seg);
    ethernet(
        dst_mac,
        src_mac,
        ETHERTYPE_IPV4,
        &ipv4_packet(ip, IPPROTO_TCP, &[], &t),
    )
}

fn arp(
    op: u16,
    dst_mac: [u8; 6],
    sha: [u8; 6],
    spa: [u8; 4],
    tha: [u8; 6],
    tpa: [u8; 4],
) -> Vec<u8> {
    let mut a = Vec::with_capacity(28);
    a.extend_from_slice(&1u16.to_be_bytes());
    a.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    a.push(6);
    a.push(4);
    a.extend_from_slice(&op.to_be_bytes());
    a.extend_from_slice(&sha);
    a.extend_from_slice(&spa);
    a.extend_from_slice(&tha);
    a.extend_from_slice(&tpa);
    ethernet(dst_mac, sha, ETHERTYPE_ARP, &a)
}

/// Broadcast ARP request "who has `target_ip`? tell `src_ip`".
pub fn arp_request(src_mac: [u8; 6], src_ip: [u8; 4], target_ip: [u8; 4]) -> Vec<u8> {
    arp(1, BROADCAST_MAC, src_mac, src_ip, [0; 6], target_ip)
}

/// RFC 5227 ARP probe (sender IP 0.0.0.0).
pub fn arp_probe(src_mac: [u8; 6], target_ip: [u8; 4]) -> Vec<u8> {
    arp(1, BROADCAST_MAC, src_mac, [0; 4], [0; 6], target_ip)
}

/// Gratuitous ARP announcement (request with sender IP == target IP).
pub fn arp_announce(src_mac: [u8; 6], ip: [u8; 4]) -> Vec<u8> {
    arp(1, BROADCAST_MAC, src_mac, ip, [0; 6], ip)
}

/// Unicast ARP reply "`src_ip` is at `src_mac`" to the requester.
pub fn arp_reply(src_mac: [u8; 6], src_ip: [u8; 4], dst_mac: [u8; 6], dst_ip: [u8; 4]) -> Vec<u8> {
    arp(2, dst_mac, src_mac, src_ip, dst_mac, dst_ip)
}

/// Ethernet multicast address for an IPv4 group (01:00:5e + low 23 bits).
pub fn mcast_mac_v4(group: [u8; 4]) -> [u8; 6] {
    [0x01, 0x00, 0x5e, group[1] & 0x7f, group[2], group[3]]
}

/// Ethernet multicast address for an IPv6 group (33:33 + low 32 bits).
pub fn mcast_mac_v6(group: [u8; 16]) -> [u8; 6] {
    [0x33, 0x33, group[12], group[13], group[14], group[15]]
}

/// IPv6 link-local address from a MAC (modified EUI-64).
pub fn link_local_v6(mac: [u8; 6]) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[0] = 0xfe;
    a[1] = 0x80;
    a[8] = mac[0] ^ 0x02;
    a[9] = mac[1];
    a[10] = mac[2];
    a[11] = 0xff;
    a[12] = 0xfe;
    a[13] = mac[3];
    a[14] = mac[4];
    a[15] = mac[5];
    a
}

/// Ethernet + IPv6 + UDP (flow label 0, traffic class 0).
#[allow(clippy::too_many_arguments)]
pub fn eth_ipv6_udp(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: [u8; 16],
    dst: [u8; 16],
    hop_limit: u8,
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut u = udp_raw(sport, dport, payload);
    let ph = pseudo_v6(src, dst, IPPROTO_UDP, u.len());
    set_udp_checksum(&mut u, &ph);
    let mut p = Vec::with_capacity(40 + u.len());
    p.extend_from_slice(&[0x60, 0, 0, 0]);
    p.extend_from_slice(&(u.len() as u16).to_be_bytes());
    p.push(IPPROTO_UDP);
    p.push(hop_limit);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&u);
    ethernet(dst_mac, src_mac, ETHERTYPE_IPV6, &p)
}

/// IGMPv2 membership report for `group` (TTL 1, Router Alert option, as Linux sends it).
pub fn igmpv2_report(src_mac: [u8; 6], src_ip: [u8; 4], group: [u8; 4], id: u16) -> Vec<u8> {
    let mut g = vec![0x16, 0, 0, 0];
    g.extend_from_slice(&group);
    let c = internet_checksum(&[&g]);
    g[2..4].copy_from_slice(&c.to_be_bytes());
    let ip = Ip4 {
        src: src_ip,
        dst: group,
        ttl: 1,
        id,
        df: true,
        tos: 0xc0,
    };
    ethernet(
        mcast_mac_v4(group),
        src_mac,
        ETHERTYPE_IPV4,
        &ipv4_packet(&ip, IPPROTO_IGMP, &[0x94, 0x04, 0x00, 0x00], &g),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Independent verifier: sum 16-bit big-endian words with end-around carry; valid data sums to 0xffff.
    fn sums_to_ffff(data: &[u8]) -> bool {
        let mut s: u64 = 0;
        for (i, b) in data.iter().enumerate() {
            s += if i % 2 == 0 {
                u64::from(*b) << 8
            } else {
                u64::from(*b)
            };
        }
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        s == 0xffff
    }

    #[test]
    fn rfc1071_example() {
        // Example from RFC 1071 section 3: words 0001 f203 f4f5 f6f7 sum to ddf2, checksum 220d.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(internet_checksum(&[&d]), 0x220d);
        // Split across parts at an odd boundary gives the same result.
        assert_eq!(internet_checksum(&[&d[..3], &d[3..]]), 0x220d);
    }

    #[test]
    fn known_ipv4_header() {
        // Wikipedia's IPv4 header checksum example: 4500 0073 0000 4000 4011 [b861] c0a8 0001 c0a8 00c7.
        let ip = Ip4 {
            src: [192, 168, 0, 1],
            dst: [192, 168, 0, 199],
            ttl: 64,
            id: 0,
            df: true,
            tos: 0,
        };
        let p = ipv4_packet(&ip, IPPROTO_UDP, &[], &[0u8; 0x73 - 20]);
        assert_eq!(&p[10..12], &[0xb8, 0x61]);
    }

    #[test]
    fn udp_and_tcp_checksums_verify() {
        let ip = Ip4::new([192, 168, 1, 30], [8, 8, 8, 8], 64);
        let f = eth_ipv4_udp([2; 6], [4; 6], &ip, 5353, 53, b"hello odd");
        let ipb = &f[14..];
        assert_eq!(f.len(), 60, "padded to the Ethernet minimum");
        let total = u16::from_be_bytes([ipb[2], ipb[3]]) as usize;
        assert_eq!(total, 20 + 8 + 9);
        assert!(sums_to_ffff(&ipb[..20]));
        let udp = &ipb[20..total];
        let mut ph = Vec::new();
        ph.extend_from_slice(&ipb[12..20]);
        ph.extend_from_slice(&[0, 17]);
        ph.extend_from_slice(&(udp.len() as u16).to_be_bytes());
        ph.extend_from_slice(udp);
        assert!(sums_to_ffff(&ph));

        let opts = tcp_options(&[
            TcpOpt::Mss(1460),
            TcpOpt::SackPerm,
            TcpOpt::Ts(1, 0),
            TcpOpt::Nop,
            TcpOpt::Ws(7),
        ]);
        assert_eq!(opts.len(), 20);
        let seg = Tcp {
            sport: 40000,
            dport: 443,
            seq: 1,
            ack: 0,
            flags: flags::SYN,
            window: 64240,
            options: &opts,
            payload: &[],
        };
        let f = eth_ipv4_tcp([2; 6], [4; 6], &ip, &seg);
        assert_eq!(f.len(), 14 + 20 + 40);
        let ipb = &f[14..];
        let tcp = &ipb[20..];
        assert_eq!(tcp[12] >> 4, 10);
        let mut ph = Vec::new();
        ph.extend_from_slice(&ipb[12..20]);
        ph.extend_from_slice(&[0, 6]);
        ph.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
        ph.extend_from_slice(tcp);
        assert!(sums_to_ffff(&ph));
    }

    #[test]
    fn arp_is_padded_and_well_formed() {
        let f = arp_request(
            [0x00, 0x17, 0x88, 1, 2, 3],
            [192, 168, 1, 20],
            [192, 168, 1, 1],
        );
        assert_eq!(f.len(), 60);
        assert_eq!(&f[0..6], &BROADCAST_MAC);
        assert_eq!(&f[12..14], &[0x08, 0x06]);
        assert_eq!(&f[20..22], &[0, 1]);
        assert_eq!(&f[38..42], &[192, 168, 1, 1]);
        let r = arp_reply(
            [9; 6],
            [192, 168, 1, 1],
            [0x00, 0x17, 0x88, 1, 2, 3],
            [192, 168, 1, 20],
        );
        assert_eq!(&r[0..6], &[0x00, 0x17, 0x88, 1, 2, 3]);
        assert_eq!(&r[20..22], &[0, 2]);
    }

    #[test]
    fn ipv6_udp_checksum_and_igmp() {
        let src = link_local_v6([0xf4, 0xf5, 0xd8, 1, 2, 3]);
        assert_eq!(&src[8..16], &[0xf6, 0xf5, 0xd8, 0xff, 0xfe, 1, 2, 3]);
        let mut dst = [0u8; 16];
        dst[0] = 0xff;
        dst[1] = 0x02;
        dst[15] = 0xfb;
        let f = eth_ipv6_udp([2; 6], mcast_mac_v6(dst), src, dst, 255, 5353, 5353, b"abc");
        assert_eq!(&f[0..6], &[0x33, 0x33, 0, 0, 0, 0xfb]);
        let p = &f[14..];
        let udp = &p[40..];
        let mut ph = Vec::new();
        ph.extend_from_slice(&p[8..40]);
        ph.extend_from_slice(&(udp.len() as u32).to_be_bytes());
        ph.extend_from_slice(&[0, 0, 0, 17]);
        ph.extend_from_slice(udp);
        assert!(sums_to_ffff(&ph));

        let g = igmpv2_report([2; 6], [192, 168, 1, 5], [239, 255, 255, 250], 7);
        assert_eq!(&g[0..6], &[0x01, 0x00, 0x5e, 0x7f, 0xff, 0xfa]);
        let ipb = &g[14..14 + 32];
        assert_eq!(ipb[0], 0x46);
        assert!(sums_to_ffff(&ipb[..24]));
        assert!(sums_to_ffff(&ipb[24..32]));
    }
}
