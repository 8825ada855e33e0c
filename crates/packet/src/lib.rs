//! Zero-copy, panic-free L2–L4 decoding.
//!
//! [`decode`] turns one captured frame into a [`Decoded`] view that borrows from the frame.
//! Anything odd about the packet (bad lengths, truncation, unknown headers) becomes an
//! [`Anomaly`] flag on the result: malformed traffic is data for the analyzers, not an error.
#![forbid(unsafe_code)]

use std::net::IpAddr;

mod frag;
pub use frag::{FragmentKey, Reassembler, ReassemblyStats};

/// Link types understood by [`decode`] (numbers from the LINKTYPE_* registry).
pub mod link {
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    pub const RAW_BSD12: u32 = 12;
    pub const RAW_BSD14: u32 = 14;
    pub const RAW: u32 = 101;
    pub const LOOP: u32 = 108;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const LINUX_SLL2: u32 = 276;
}

pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88a8;
    pub const QINQ_OLD: u16 = 0x9100;
    pub const IPV6: u16 = 0x86dd;
    pub const LLDP: u16 = 0x88cc;
    pub const EAPOL: u16 = 0x888e;
}

pub mod ipproto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const GRE: u8 = 47;
    pub const ICMPV6: u8 = 58;
}

/// Bit flags describing what was odd about a packet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Anomaly(pub u32);

impl Anomaly {
    pub const TRUNCATED_L2: u32 = 1 << 0;
    pub const TRUNCATED_L3: u32 = 1 << 1;
    pub const TRUNCATED_L4: u32 = 1 << 2;
    pub const BAD_IP_VERSION: u32 = 1 << 3;
    pub const BAD_IP_HEADER_LEN: u32 = 1 << 4;
    pub const IP_TOTAL_LEN_MISMATCH: u32 = 1 << 5;
    pub const BAD_TCP_HEADER_LEN: u32 = 1 << 6;
    pub const BAD_UDP_LEN: u32 = 1 << 7;
    pub const TOO_MANY_VLANS: u32 = 1 << 8;
    pub const TOO_MANY_EXT_HEADERS: u32 = 1 << 9;
    pub const FRAGMENT: u32 = 1 << 10;
    pub const UNKNOWN_LINK: u32 = 1 << 11;
    pub const TCP_BAD_FLAGS: u32 = 1 << 12;
    pub const SRC_IS_MULTICAST: u32 = 1 << 13;
    pub const LAND: u32 = 1 << 14;
    pub const TTL_ZERO: u32 = 1 << 15;

    pub fn set(&mut self, f: u32) {
        self.0 |= f;
    }
    pub fn has(self, f: u32) -> bool {
        self.0 & f != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// Names of the flags set, for evidence and reports.
    pub fn names(self) -> Vec<&'static str> {
        const NAMES: [&str; 16] = [
            "truncated_l2",
            "truncated_l3",
            "truncated_l4",
            "bad_ip_version",
            "bad_ip_header_len",
            "ip_total_len_mismatch",
            "bad_tcp_header_len",
            "bad_udp_len",
            "too_many_vlans",
            "too_many_ext_headers",
            "fragment",
            "unknown_link",
            "tcp_bad_flags",
            "src_is_multicast",
            "land",
            "ttl_zero",
        ];
        NAMES
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, n)| *n)
            .collect()
    }
}

pub type Mac = [u8; 6];

/// ARP (Ethernet/IPv4 only; other hardware types are left as `Other`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arp {
    pub op: u16,
    pub sender_mac: Mac,
    pub sender_ip: [u8; 4],
    pub target_mac: Mac,
    pub target_ip: [u8; 4],
}

/// Network layer summary; addresses are copied (cheap), payloads are borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    None,
    Arp(Arp),
    Ipv4(Ipv4),
    Ipv6(Ipv6),
    /// Another ethertype (LLDP, EAPOL, ...). The L3 payload is in `Decoded::l3_payload`.
    Other(u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4 {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub proto: u8,
    pub ttl: u8,
    pub tos: u8,
    pub id: u16,
    pub total_len: u16,
    pub header_len: u8,
    pub dont_fragment: bool,
    pub more_fragments: bool,
    /// In bytes.
    pub frag_offset: u16,
}

impl Ipv4 {
    pub fn is_fragment(&self) -> bool {
        self.more_fragments || self.frag_offset != 0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6 {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    /// The upper-layer protocol after extension headers.
    pub proto: u8,
    pub hop_limit: u8,
    pub flow_label: u32,
    pub ext_headers: u8,
    /// Fragment header present with a non-zero offset (the L4 header is not in this packet).
    pub non_first_fragment: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tcp {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub header_len: u8,
    pub options_len: u8,
}

pub mod tcpflags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Udp {
    pub src_port: u16,
    pub dst_port: u16,
    pub len: u16,
}

/// Neighbour-discovery facts from ICMPv6 (RFC 4861).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NeighborDiscovery {
    /// Source or target link-layer address option.
    pub link_addr: Option<Mac>,
    /// Target address of NS/NA.
    pub target: Option<[u8; 16]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    None,
    Tcp(Tcp),
    Udp(Udp),
    Icmp {
        icmp_type: u8,
        code: u8,
    },
    Icmpv6 {
        icmp_type: u8,
        code: u8,
        nd: NeighborDiscovery,
    },
    /// An IPv4 fragment awaiting reassembly (see [`Reassembler`]).
    Fragment,
    Other(u8),
}

/// A decoded frame. All slices borrow from the captured bytes.
#[derive(Debug, Clone, Copy)]
pub struct Decoded<'a> {
    pub src_mac: Option<Mac>,
    pub dst_mac: Option<Mac>,
    /// Up to two VLAN ids (outer first); 0 where absent.
    pub vlan: [u16; 2],
    pub ethertype: u16,
    pub network: Network,
    pub transport: Transport,
    /// Bytes after the L3 header (the IP payload) — for fragments and `Network::Other`.
    pub l3_payload: &'a [u8],
    /// Bytes after the L4 header.
    pub payload: &'a [u8],
    pub anomalies: Anomaly,
}

impl<'a> Decoded<'a> {
    fn empty() -> Self {
        Decoded {
            src_mac: None,
            dst_mac: None,
            vlan: [0, 0],
            ethertype: 0,
            network: Network::None,
            transport: Transport::None,
            l3_payload: &[],
            payload: &[],
            anomalies: Anomaly::default(),
        }
    }

    pub fn src_ip(&self) -> Option<IpAddr> {
        match self.network {
            Network::Ipv4(ip) => Some(IpAddr::from(ip.src)),
            Network::Ipv6(ip) => Some(IpAddr::from(ip.src)),
            _ => None,
        }
    }

    pub fn dst_ip(&self) -> Option<IpAddr> {
        match self.network {
            Network::Ipv4(ip) => Some(IpAddr::from(ip.dst)),
            Network::Ipv6(ip) => Some(IpAddr::from(ip.dst)),
            _ => None,
        }
    }

    /// (src port, dst port) for TCP and UDP.
    pub fn ports(&self) -> Option<(u16, u16)> {
        match self.transport {
            Transport::Tcp(t) => Some((t.src_port, t.dst_port)),
            Transport::Udp(u) => Some((u.src_port, u.dst_port)),
            _ => None,
        }
    }

    pub fn ip_proto(&self) -> Option<u8> {
        match self.network {
            Network::Ipv4(ip) => Some(ip.proto),
            Network::Ipv6(ip) => Some(ip.proto),
            _ => None,
        }
    }

    pub fn ttl(&self) -> Option<u8> {
        match self.network {
            Network::Ipv4(ip) => Some(ip.ttl),
            Network::Ipv6(ip) => Some(ip.hop_limit),
            _ => None,
        }
    }
}

#[inline]
fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at + 2)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

#[inline]
fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

#[inline]
fn mac_at(b: &[u8], at: usize) -> Option<Mac> {
    let s = b.get(at..at + 6)?;
    let mut m = [0u8; 6];
    m.copy_from_slice(s);
    Some(m)
}

/// Decodes one frame of the given link type. Never panics; problems become anomaly flags.
pub fn decode(link_type: u32, frame: &[u8]) -> Decoded<'_> {
    let mut d = Decoded::empty();
    match link_type {
        link::ETHERNET => decode_ethernet(frame, &mut d),
        link::LINUX_SLL => {
            // 16-byte cooked header: packet type, ARPHRD, addr len, 8 addr bytes, protocol.
            let (Some(addr_len), Some(proto)) = (be16(frame, 4), be16(frame, 14)) else {
                d.anomalies.set(Anomaly::TRUNCATED_L2);
                return d;
            };
            if addr_len == 6 {
                d.src_mac = mac_at(frame, 6);
            }
            decode_ethertype(proto, frame.get(16..).unwrap_or(&[]), &mut d, 0);
        }
        link::LINUX_SLL2 => {
            // 20-byte header: protocol first, then if index, ARPHRD, type, addr len, 8 addr bytes.
            let (Some(proto), Some(addr_len)) = (be16(frame, 0), frame.get(11)) else {
                d.anomalies.set(Anomaly::TRUNCATED_L2);
                return d;
            };
            if *addr_len == 6 {
                d.src_mac = mac_at(frame, 12);
            }
            if frame.len() < 20 {
                d.anomalies.set(Anomaly::TRUNCATED_L2);
                return d;
            }
            decode_ethertype(proto, frame.get(20..).unwrap_or(&[]), &mut d, 0);
        }
        link::RAW | link::RAW_BSD12 | link::RAW_BSD14 => decode_raw_ip(frame, &mut d),
        link::IPV4 => decode_ethertype(ethertype::IPV4, frame, &mut d, 0),
        link::IPV6 => decode_ethertype(ethertype::IPV6, frame, &mut d, 0),
        link::NULL | link::LOOP => {
            let Some(fam) = frame.get(0..4) else {
                d.anomalies.set(Anomaly::TRUNCATED_L2);
                return d;
            };
            // NULL uses host byte order, LOOP network order: accept either.
            let le = u32::from_le_bytes([fam[0], fam[1], fam[2], fam[3]]);
            let be = u32::from_be_bytes([fam[0], fam[1], fam[2], fam[3]]);
            let family = if le < 256 { le } else { be };
            let rest = frame.get(4..).unwrap_or(&[]);
            match family {
                2 => decode_ethertype(ethertype::IPV4, rest, &mut d, 0),
                10 | 24 | 28 | 30 => decode_ethertype(ethertype::IPV6, rest, &mut d, 0),
                _ => d.anomalies.set(Anomaly::UNKNOWN_LINK),
            }
        }
        _ => d.anomalies.set(Anomaly::UNKNOWN_LINK),
    }
    d
}

fn decode_raw_ip<'a>(frame: &'a [u8], d: &mut Decoded<'a>) {
    match frame.first().map(|b| b >> 4) {
        Some(4) => decode_ethertype(ethertype::IPV4, frame, d, 0),
        Some(6) => decode_ethertype(ethertype::IPV6, frame, d, 0),
        Some(_) => d.anomalies.set(Anomaly::BAD_IP_VERSION),
        None => d.anomalies.set(Anomaly::TRUNCATED_L3),
    }
}

fn decode_ethernet<'a>(frame: &'a [u8], d: &mut Decoded<'a>) {
    let (Some(dst), Some(src), Some(et)) = (mac_at(frame, 0), mac_at(frame, 6), be16(frame, 12))
    else {
        d.anomalies.set(Anomaly::TRUNCATED_L2);
        return;
    };
    d.dst_mac = Some(dst);
    d.src_mac = Some(src);
    if src[0] & 1 == 1 {
        d.anomalies.set(Anomaly::SRC_IS_MULTICAST);
    }
    let rest = frame.get(14..).unwrap_or(&[]);
    if et < 0x0600 {
        // 802.3 length field: LLC follows (CDP, STP ...). Leave the payload to the analyzers.
        d.ethertype = 0;
        d.network = Network::Other(0);
        d.l3_payload = rest;
        return;
    }
    decode_ethertype(et, rest, d, 0);
}

fn decode_ethertype<'a>(et: u16, data: &'a [u8], d: &mut Decoded<'a>, depth: usize) {
    match et {
        ethertype::VLAN | ethertype::QINQ | ethertype::QINQ_OLD => {
            if depth >= 2 {
                d.anomalies.set(Anomaly::TOO_MANY_VLANS);
                return;
            }
            let (Some(tci), Some(inner)) = (be16(data, 0), be16(data, 2)) else {
                d.anomalies.set(Anomaly::TRUNCATED_L2);
                return;
            };
            d.vlan[depth] = tci & 0x0fff;
            decode_ethertype(inner, data.get(4..).unwrap_or(&[]), d, depth + 1);
        }
        ethertype::IPV4 => {
            d.ethertype = et;
            decode_ipv4(data, d);
        }
        ethertype::IPV6 => {
            d.ethertype = et;
            decode_ipv6(data, d);
        }
        ethertype::ARP => {
            d.ethertype = et;
            decode_arp(data, d);
        }
        _ => {
            d.ethertype = et;
            d.network = Network::Other(et);
            d.l3_payload = data;
        }
    }
}

fn decode_arp(data: &[u8], d: &mut Decoded<'_>) {
    // Only Ethernet (1) / IPv4 (0x0800) with 6/4 address lengths is interesting here.
    if data.len() < 28 {
        d.anomalies.set(Anomaly::TRUNCATED_L3);
        d.network = Network::Other(ethertype::ARP);
        return;
    }
    if be16(data, 0) != Some(1)
        || be16(data, 2) != Some(ethertype::IPV4)
        || data[4] != 6
        || data[5] != 4
    {
        d.network = Network::Other(ethertype::ARP);
        return;
    }
    let ip = |at: usize| -> [u8; 4] { [data[at], data[at + 1], data[at + 2], data[at + 3]] };
    d.network = Network::Arp(Arp {
        op: be16(data, 6).unwrap_or(0),
        sender_mac: mac_at(data, 8).unwrap_or_default(),
        sender_ip: ip(14),
        target_mac: mac_at(data, 18).unwrap_or_default(),
        target_ip: ip(24),
    });
}

fn decode_ipv4<'a>(data: &'a [u8], d: &mut Decoded<'a>) {
    if data.len() < 20 {
        d.anomalies.set(Anomaly::TRUNCATED_L3);
        return;
    }
    if data[0] >> 4 != 4 {
        d.anomalies.set(Anomaly::BAD_IP_VERSION);
        return;
    }
    let ihl = ((data[0] & 0x0f) as usize) * 4;
    if ihl < 20 || ihl > data.len() {
        d.anomalies.set(Anomaly::BAD_IP_HEADER_LEN);
        return;
    }
    let total = be16(data, 2).unwrap_or(0) as usize;
    // Ethernet pads short frames; trust total length when it fits, otherwise flag and clip.
    let end = if total < ihl {
        d.anomalies.set(Anomaly::IP_TOTAL_LEN_MISMATCH);
        data.len()
    } else if total > data.len() {
        d.anomalies.set(Anomaly::TRUNCATED_L3);
        data.len()
    } else {
        total
    };
    let flags_frag = be16(data, 6).unwrap_or(0);
    let ip = Ipv4 {
        src: [data[12], data[13], data[14], data[15]],
        dst: [data[16], data[17], data[18], data[19]],
        proto: data[9],
        ttl: data[8],
        tos: data[1],
        id: be16(data, 4).unwrap_or(0),
        total_len: total as u16,
        header_len: ihl as u8,
        dont_fragment: flags_frag & 0x4000 != 0,
        more_fragments: flags_frag & 0x2000 != 0,
        frag_offset: (flags_frag & 0x1fff) * 8,
    };
    if ip.ttl == 0 {
        d.anomalies.set(Anomaly::TTL_ZERO);
    }
    if ip.src == ip.dst {
        d.anomalies.set(Anomaly::LAND);
    }
    let payload = data.get(ihl..end).unwrap_or(&[]);
    d.network = Network::Ipv4(ip);
    d.l3_payload = payload;
    if ip.is_fragment() {
        d.anomalies.set(Anomaly::FRAGMENT);
        d.transport = Transport::Fragment;
        return;
    }
    decode_transport(ip.proto, payload, d);
}

fn decode_ipv6<'a>(data: &'a [u8], d: &mut Decoded<'a>) {
    if data.len() < 40 {
        d.anomalies.set(Anomaly::TRUNCATED_L3);
        return;
    }
    if data[0] >> 4 != 6 {
        d.anomalies.set(Anomaly::BAD_IP_VERSION);
        return;
    }
    let plen = be16(data, 4).unwrap_or(0) as usize;
    let end = if 40 + plen > data.len() {
        d.anomalies.set(Anomaly::TRUNCATED_L3);
        data.len()
    } else {
        40 + plen
    };
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src.copy_from_slice(&data[8..24]);
    dst.copy_from_slice(&data[24..40]);
    let mut next = data[6];
    let mut off = 40usize;
    let mut ext = 0u8;
    let mut non_first_fragment = false;
    // Walk extension headers (bounded): hop-by-hop, routing, fragment, destination options, AH.
    loop {
        match next {
            0 | 43 | 60 | 135 | 139 | 140 => {
                let (Some(&nh), Some(&len)) = (data.get(off), data.get(off + 1)) else {
                    d.anomalies.set(Anomaly::TRUNCATED_L3);
                    break;
                };
                next = nh;
                off += (len as usize + 1) * 8;
            }
            44 => {
                let (Some(&nh), Some(fo)) = (data.get(off), be16(data, off + 2)) else {
                    d.anomalies.set(Anomaly::TRUNCATED_L3);
                    break;
                };
                d.anomalies.set(Anomaly::FRAGMENT);
                if fo & 0xfff8 != 0 {
                    non_first_fragment = true;
                }
                next = nh;
                off += 8;
            }
            51 => {
                let (Some(&nh), Some(&len)) = (data.get(off), data.get(off + 1)) else {
                    d.anomalies.set(Anomaly::TRUNCATED_L3);
                    break;
                };
                next = nh;
                off += (len as usize + 2) * 4;
            }
            _ => break,
        }
        ext += 1;
        if ext > 8 {
            d.anomalies.set(Anomaly::TOO_MANY_EXT_HEADERS);
            break;
        }
    }
    let ip = Ipv6 {
        src,
        dst,
        proto: next,
        hop_limit: data[7],
        flow_label: be32(data, 0).unwrap_or(0) & 0x000f_ffff,
        ext_headers: ext,
        non_first_fragment,
    };
    d.network = Network::Ipv6(ip);
    let payload = data.get(off.min(end)..end).unwrap_or(&[]);
    d.l3_payload = payload;
    if off > end {
        d.anomalies.set(Anomaly::TRUNCATED_L3);
        return;
    }
    if non_first_fragment {
        d.transport = Transport::Fragment;
        return;
    }
    decode_transport(next, payload, d);
}

/// Decodes the L4 header of an IP payload (also used after IPv4 reassembly).
pub fn decode_transport<'a>(proto: u8, data: &'a [u8], d: &mut Decoded<'a>) {
    match proto {
        ipproto::TCP => {
            if data.len() < 20 {
                d.anomalies.set(Anomaly::TRUNCATED_L4);
                d.transport = Transport::Other(proto);
                return;
            }
            let hl = ((data[12] >> 4) as usize) * 4;
            let flags = data[13];
            let tcp = Tcp {
                src_port: be16(data, 0).unwrap_or(0),
                dst_port: be16(data, 2).unwrap_or(0),
                seq: be32(data, 4).unwrap_or(0),
                ack: be32(data, 8).unwrap_or(0),
                flags,
                window: be16(data, 14).unwrap_or(0),
                header_len: hl as u8,
                options_len: hl.saturating_sub(20) as u8,
            };
            if (flags & tcpflags::SYN != 0 && flags & (tcpflags::FIN | tcpflags::RST) != 0)
                || flags == 0
            {
                d.anomalies.set(Anomaly::TCP_BAD_FLAGS);
            }
            d.transport = Transport::Tcp(tcp);
            if hl < 20 || hl > data.len() {
                d.anomalies.set(Anomaly::BAD_TCP_HEADER_LEN);
                return;
            }
            d.payload = &data[hl..];
        }
        ipproto::UDP => {
            if data.len() < 8 {
                d.anomalies.set(Anomaly::TRUNCATED_L4);
                d.transport = Transport::Other(proto);
                return;
            }
            let len = be16(data, 4).unwrap_or(0);
            let end = if (len as usize) < 8 || len as usize > data.len() {
                d.anomalies.set(Anomaly::BAD_UDP_LEN);
                data.len()
            } else {
                len as usize
            };
            d.transport = Transport::Udp(Udp {
                src_port: be16(data, 0).unwrap_or(0),
                dst_port: be16(data, 2).unwrap_or(0),
                len,
            });
            d.payload = &data[8..end];
        }
        ipproto::ICMP => {
            let (Some(&t), Some(&c)) = (data.first(), data.get(1)) else {
                d.anomalies.set(Anomaly::TRUNCATED_L4);
                d.transport = Transport::Other(proto);
                return;
            };
            d.transport = Transport::Icmp {
                icmp_type: t,
                code: c,
            };
            d.payload = data.get(8..).unwrap_or(&[]);
        }
        ipproto::ICMPV6 => {
            let (Some(&t), Some(&c)) = (data.first(), data.get(1)) else {
                d.anomalies.set(Anomaly::TRUNCATED_L4);
                d.transport = Transport::Other(proto);
                return;
            };
            let nd = neighbor_discovery(t, data);
            d.transport = Transport::Icmpv6 {
                icmp_type: t,
                code: c,
                nd,
            };
            d.payload = data.get(4..).unwrap_or(&[]);
        }
        _ => {
            d.transport = Transport::Other(proto);
            d.payload = data;
        }
    }
}

/// Extracts link-layer address options and targets from router/neighbour ND messages.
fn neighbor_discovery(icmp_type: u8, data: &[u8]) -> NeighborDiscovery {
    let mut nd = NeighborDiscovery::default();
    let opts_at = match icmp_type {
        133 => 8,  // router solicitation
        134 => 16, // router advertisement
        135 | 136 => {
            if let Some(t) = data.get(8..24) {
                let mut a = [0u8; 16];
                a.copy_from_slice(t);
                nd.target = Some(a);
            }
            24
        }
        _ => return nd,
    };
    let mut off = opts_at;
    for _ in 0..16 {
        let (Some(&ot), Some(&ol)) = (data.get(off), data.get(off + 1)) else {
            break;
        };
        if ol == 0 {
            break;
        }
        if (ot == 1 || ot == 2) && ol == 1 {
            nd.link_addr = mac_at(data, off + 2);
        }
        off += ol as usize * 8;
    }
    nd
}

/// A cheap symmetric hash of the addresses and protocol of a frame, used to shard packets
/// across workers. Fragments hash like the rest of their flow because ports are not used.
pub fn shard_hash(d: &Decoded<'_>) -> u64 {
    let mix = |a: &[u8], b: &[u8], p: u64| -> u64 {
        let ha = fxhash(a);
        let hb = fxhash(b);
        (ha ^ hb).wrapping_add(ha.wrapping_mul(hb) | 1) ^ p.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    };
    match d.network {
        Network::Ipv4(ip) => mix(&ip.src, &ip.dst, ip.proto as u64),
        Network::Ipv6(ip) => mix(&ip.src, &ip.dst, ip.proto as u64),
        _ => mix(
            &d.src_mac.unwrap_or_default(),
            &d.dst_mac.unwrap_or_default(),
            d.ethertype as u64,
        ),
    }
}

fn fxhash(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in b {
        h = (h ^ x as u64).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[doc(hidden)]
pub mod fuzzing {
    /// Decodes `data` as each supported link type; used by the cargo-fuzz target.
    pub fn decode_all(data: &[u8]) {
        for lt in [0, 1, 101, 108, 113, 228, 229, 276] {
            let d = super::decode(lt, data);
            let _ = super::shard_hash(&d);
        }
        let mut r = super::Reassembler::new(64, 1 << 16);
        let d = super::decode(101, data);
        if let super::Network::Ipv4(ip) = d.network {
            let _ = r.push(0, &ip, d.l3_payload);
        }
    }
}

#[cfg(test)]
mod tests;
