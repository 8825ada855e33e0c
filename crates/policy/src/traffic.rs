//! Traffic of one device, as seen in captures: flows keyed by remote end and ports, DNS answers
//! that name the remote addresses, and non-IP frames. Shared by [`crate::learn`] and [`crate::check`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;

use palisade_packet::{Network, Transport, tcpflags};
use palisade_proto::dns;

use crate::PolicyError;
use crate::model::{Ace, Acl, Direction, IpMatch, MudFile};
use crate::validate::{ethertype, parse_prefix};

pub(crate) type Mac = [u8; 6];

/// A device-centric flow key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlowKey {
    pub proto: u8,
    pub device_ip: IpAddr,
    pub device_port: u16,
    pub remote_ip: IpAddr,
    pub remote_port: u16,
}

#[derive(Debug, Clone, Default)]
pub struct FlowStats {
    /// Who opened the flow: `Some(true)` = the device (TCP SYN, or first UDP/ICMP packet).
    pub device_initiated: Option<bool>,
    /// Whether the initiator is known from a SYN (rather than from the first packet or ports).
    pub syn_seen: bool,
    pub pkts_from_device: u64,
    pub pkts_to_device: u64,
    pub bytes: u64,
    pub first_ts_ns: i64,
    pub last_ts_ns: i64,
    pub remote_mac: Option<Mac>,
    pub dst_mac_from_device: Option<Mac>,
    pub icmp: Option<(u8, u8)>,
}

/// What the captures show about one device.
#[derive(Debug, Default)]
pub struct Observation {
    pub device_mac: Mac,
    pub device_ips: BTreeSet<IpAddr>,
    /// Remote address → names it was returned for in DNS answers to the device.
    pub dns: BTreeMap<IpAddr, BTreeSet<String>>,
    pub flows: BTreeMap<FlowKey, FlowStats>,
    /// Non-IP, non-ARP frames: (from_device, ethertype, destination MAC) → count.
    pub eth: BTreeMap<(bool, u16, Mac), u64>,
    pub packets_seen: u64,
    pub packets_device: u64,
    /// When set, every A/AAAA answer to the device is also queued in [`Observation::answers`]
    /// (live sensing drains it to fill the nftables DNS-name sets).
    pub record_answers: bool,
    /// Queued answers (bounded by [`MAX_QUEUED_ANSWERS`]; the oldest are kept).
    pub answers: Vec<DnsAnswer>,
    /// What is known of the device's and its peers' manufacturers and models (RFC 8520
    /// `same-manufacturer`, `manufacturer`, `model`); learning and checking both decide by it.
    pub ids: Identities,
}

/// What is known of a local peer (from the inventory or the operator).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerIdentity {
    /// Manufacturer name (OUI registry organisation or identified vendor).
    pub vendor: Option<String>,
    /// The peer's own MUD URL: such peers become RFC 8520 `model` matches.
    pub mud_url: Option<String>,
    /// The authority of the peer's manufacturer's MUD URLs (e.g. `example.com`): `manufacturer`.
    pub manufacturer: Option<String>,
}

/// Identities of the device and its peers.
#[derive(Debug, Clone, Default)]
pub struct Identities {
    /// The device's manufacturer (OUI organisation or the inventory's identity).
    pub device_vendor: Option<String>,
    /// Local peers by MAC.
    pub peers: BTreeMap<Mac, PeerIdentity>,
    /// Manufacturer of a MAC when neither of the above names it (e.g. the OUI registry).
    pub vendor_lookup: Option<fn([u8; 6]) -> Option<String>>,
}

impl Identities {
    fn vendor(&self, m: Mac) -> Option<String> {
        self.peers
            .get(&m)
            .and_then(|p| p.vendor.clone())
            .or_else(|| self.vendor_lookup.and_then(|f| f(m)))
    }

    /// Whether `peer` is made by the device's manufacturer: same vendor name (known for both),
    /// the peer's manufacturer authority equal to that of `own_mud_url`, or else the same OUI.
    pub fn same_manufacturer(&self, device: Mac, peer: Mac, own_mud_url: Option<&str>) -> bool {
        let dv = self.device_vendor.clone().or_else(|| self.vendor(device));
        if let (Some(a), Some(b)) = (dv, self.vendor(peer)) {
            return same_vendor(&a, &b);
        }
        if let (Some(m), Some(own)) = (self.manufacturer(peer), own_mud_url.and_then(url_authority))
        {
            return m.eq_ignore_ascii_case(own);
        }
        peer[..3] == device[..3]
    }

    /// The peer's MUD URL (RFC 8520 `model`).
    pub fn model(&self, peer: Mac) -> Option<&str> {
        self.peers.get(&peer)?.mud_url.as_deref()
    }

    /// The peer's manufacturer authority (RFC 8520 `manufacturer`): given, or from its MUD URL.
    pub fn manufacturer(&self, peer: Mac) -> Option<String> {
        let p = self.peers.get(&peer)?;
        p.manufacturer.clone().or_else(|| {
            p.mud_url
                .as_deref()
                .and_then(url_authority)
                .map(str::to_string)
        })
    }
}

/// Vendor names compare without case, punctuation and legal-form suffixes
/// (`Signify Netherlands B.V.` = `SIGNIFY NETHERLANDS BV`).
pub fn same_vendor(a: &str, b: &str) -> bool {
    const LEGAL: [&str; 14] = [
        "inc",
        "ltd",
        "llc",
        "co",
        "corp",
        "corporation",
        "gmbh",
        "bv",
        "b",
        "v",
        "sa",
        "ag",
        "limited",
        "company",
    ];
    let norm = |s: &str| -> String {
        let words: Vec<String> = s
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_ascii_lowercase)
            .collect();
        let mut w: Vec<&str> = words.iter().map(String::as_str).collect();
        while w.len() > 1 && w.last().is_some_and(|x| LEGAL.contains(x)) {
            w.pop();
        }
        w.join(" ")
    };
    let (a, b) = (norm(a), norm(b));
    !a.is_empty() && a == b
}

/// The authority (host) of a URL: `https://example.com/x.json` → `example.com`.
pub fn url_authority(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    (!host.is_empty()).then_some(host)
}

/// One address a DNS answer gave, with the names it stands for and its TTL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsAnswer {
    pub ip: IpAddr,
    pub ttl: u32,
    /// Owner name, the question and every CNAME on the way (normalised).
    pub names: BTreeSet<String>,
}

/// Cap on queued answers between two drains.
pub const MAX_QUEUED_ANSWERS: usize = 4096;

pub(crate) fn norm_name(s: &str) -> String {
    s.trim_end_matches('.').to_ascii_lowercase()
}

impl Observation {
    /// Reads captures and collects the traffic of `device_mac`.
    pub fn from_captures<P: AsRef<Path>>(
        paths: &[P],
        device_mac: Mac,
    ) -> Result<Self, PolicyError> {
        let mut o = Observation {
            device_mac,
            ..Default::default()
        };
        for p in paths {
            let path = p.as_ref();
            let cap_err = |source| PolicyError::Capture {
                path: path.display().to_string(),
                source,
            };
            let mut r = palisade_capture::open(path).map_err(cap_err)?;
            loop {
                let pkt = match r.next_packet() {
                    Ok(Some(p)) => p,
                    Ok(None) => break,
                    // A truncated capture still gives what was read before the damage.
                    Err(_) => break,
                };
                o.packets_seen += 1;
                o.add_frame(pkt.ts_ns, pkt.link_type.0, pkt.data);
            }
        }
        Ok(o)
    }

    /// Adds one frame (public for tests and live sensing).
    pub fn add_frame(&mut self, ts_ns: i64, link_type: u32, frame: &[u8]) {
        let d = palisade_packet::decode(link_type, frame);
        let from_dev = d.src_mac == Some(self.device_mac);
        let to_dev = d.dst_mac == Some(self.device_mac);
        if !from_dev && !to_dev {
            return;
        }
        self.packets_device += 1;
        let (src, dst, proto) = match d.network {
            Network::Ipv4(ip) => (IpAddr::from(ip.src), IpAddr::from(ip.dst), ip.proto),
            Network::Ipv6(ip) => (IpAddr::from(ip.src), IpAddr::from(ip.dst), ip.proto),
            Network::Arp(_) => return,
            Network::Other(et) => {
                let key = (from_dev, et, d.dst_mac.unwrap_or_default());
                *self.eth.entry(key).or_default() += 1;
                return;
            }
            Network::None => return,
        };
        let (sport, dport, syn, icmp) = match d.transport {
            Transport::Tcp(t) => (
                t.src_port,
                t.dst_port,
                (t.flags & (tcpflags::SYN | tcpflags::ACK) == tcpflags::SYN),
                None,
            ),
            Transport::Udp(u) => (u.src_port, u.dst_port, false, None),
            Transport::Icmp { icmp_type, code }
            | Transport::Icmpv6 {
                icmp_type, code, ..
            } => (0, 0, false, Some((icmp_type, code))),
            Transport::Fragment => return,
            _ => (0, 0, false, None),
        };
        if from_dev && !src.is_unspecified() {
            self.device_ips.insert(src);
        }
        // DNS answers to the device name the addresses it will talk to.
        if to_dev
            && proto == 17
            && sport == 53
            && let Ok(m) = dns::parse(d.payload)
        {
            self.add_dns(&m);
        }
        let key = if from_dev {
            FlowKey {
                proto,
                device_ip: src,
                device_port: sport,
                remote_ip: dst,
                remote_port: dport,
            }
        } else {
            FlowKey {
                proto,
                device_ip: dst,
                device_port: dport,
                remote_ip: src,
                remote_port: sport,
            }
        };
        let f = self.flows.entry(key).or_insert_with(|| FlowStats {
            first_ts_ns: ts_ns,
            last_ts_ns: ts_ns,
            ..Default::default()
        });
        if f.device_initiated.is_none() || (syn && !f.syn_seen) {
            f.device_initiated = Some(if proto == 6 && !syn {
                // Mid-stream TCP: the side on the lower (service) port is the server.
                key.remote_port <= key.device_port
            } else {
                from_dev
            });
            f.syn_seen = syn;
        }
        if from_dev {
            f.pkts_from_device += 1;
            f.dst_mac_from_device = d.dst_mac;
        } else {
            f.pkts_to_device += 1;
            f.remote_mac = d.src_mac;
        }
        if f.icmp.is_none() {
            f.icmp = icmp;
        }
        f.bytes += frame.len() as u64;
        f.first_ts_ns = f.first_ts_ns.min(ts_ns);
        f.last_ts_ns = f.last_ts_ns.max(ts_ns);
    }

    fn add_dns(&mut self, m: &dns::DnsMessage<'_>) {
        let mut names: BTreeSet<String> = m.questions.iter().map(|q| norm_name(&q.name)).collect();
        for a in &m.answers {
            if let dns::RData::Cname(t) = &a.data {
                names.insert(norm_name(&a.name));
                names.insert(norm_name(t));
            }
        }
        for a in &m.answers {
            let ip = match &a.data {
                dns::RData::A(b) => IpAddr::from(*b),
                dns::RData::Aaaa(b) => IpAddr::from(*b),
                _ => continue,
            };
            let e = self.dns.entry(ip).or_default();
            e.insert(norm_name(&a.name));
            e.extend(names.iter().cloned());
            if self.record_answers && self.answers.len() < MAX_QUEUED_ANSWERS {
                let mut n = names.clone();
                n.insert(norm_name(&a.name));
                self.answers.push(DnsAnswer {
                    ip,
                    ttl: a.ttl,
                    names: n,
                });
            }
        }
    }
}

/// Private, link-local, broadcast or multicast: what `local-networks` covers here.
pub(crate) fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            a.is_private()
                || a.is_link_local()
                || a.is_broadcast()
                || a.is_multicast()
                || a.is_unspecified()
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xfe00) == 0xfc00
                || a.is_multicast()
                || a.is_unspecified()
        }
    }
}

pub(crate) fn is_group(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_broadcast() || a.is_multicast(),
        IpAddr::V6(a) => a.is_multicast(),
    }
}

/// One direction of a flow, as the ACL engine sees it.
pub(crate) struct View<'a> {
    pub from_device: bool,
    pub key: &'a FlowKey,
    pub stats: &'a FlowStats,
    pub remote_names: Option<&'a BTreeSet<String>>,
    pub device_mac: Mac,
    pub ids: &'a Identities,
    /// The profile's own MUD URL (for `same-manufacturer` by authority).
    pub mud_url: &'a str,
}

impl View<'_> {
    fn src(&self) -> (IpAddr, u16) {
        if self.from_device {
            (self.key.device_ip, self.key.device_port)
        } else {
            (self.key.remote_ip, self.key.remote_port)
        }
    }
    fn dst(&self) -> (IpAddr, u16) {
        if self.from_device {
            (self.key.remote_ip, self.key.remote_port)
        } else {
            (self.key.device_ip, self.key.device_port)
        }
    }
}

fn prefix_contains(net: &str, v6: bool, ip: IpAddr) -> bool {
    let Some((n, len)) = parse_prefix(net, v6) else {
        return false;
    };
    match (n, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len))
            };
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

fn ip_side_matches(
    net: Option<&String>,
    name: Option<&String>,
    v6: bool,
    ip: IpAddr,
    v: &View<'_>,
    remote_side: bool,
) -> bool {
    if let Some(net) = net
        && !prefix_contains(net, v6, ip)
    {
        return false;
    }
    if let Some(name) = name {
        // A DNS name can only describe the remote end (the device's own name is not resolved here).
        if !remote_side {
            return false;
        }
        let want = norm_name(name);
        if !v.remote_names.is_some_and(|s| s.contains(&want)) {
            return false;
        }
    }
    true
}

/// Whether one ACE matches one direction of a flow.
pub(crate) fn ace_matches(ace: &Ace, v: &View<'_>) -> bool {
    let m = &ace.matches;
    let (sip, sport) = v.src();
    let (dip, dport) = v.dst();
    let is_v6 = v.key.device_ip.is_ipv6();
    let ip: Option<(&IpMatch, bool)> = match (&m.ipv4, &m.ipv6) {
        (Some(i), _) => Some((i, false)),
        (None, Some(i)) => Some((i, true)),
        _ => None,
    };
    if let Some((i, v6)) = ip {
        if v6 != is_v6 {
            return false;
        }
        if i.protocol.is_some_and(|p| p != v.key.proto) {
            return false;
        }
        let (sn, dn) = if v6 {
            (
                i.source_ipv6_network.as_ref(),
                i.destination_ipv6_network.as_ref(),
            )
        } else {
            (
                i.source_ipv4_network.as_ref(),
                i.destination_ipv4_network.as_ref(),
            )
        };
        if !ip_side_matches(sn, i.src_dnsname.as_ref(), v6, sip, v, !v.from_device) {
            return false;
        }
        if !ip_side_matches(dn, i.dst_dnsname.as_ref(), v6, dip, v, v.from_device) {
            return false;
        }
    }
    if let Some(t) = &m.tcp {
        if v.key.proto != 6 {
            return false;
        }
        if t.source_port.is_some_and(|p| !p.matches(sport))
            || t.destination_port.is_some_and(|p| !p.matches(dport))
        {
            return false;
        }
        if let Some(dir) = t.direction_initiated {
            // Only enforceable when the capture saw the SYN; otherwise the flow gets the benefit of the doubt.
            if v.stats.syn_seen {
                let want = dir == Direction::FromDevice;
                if v.stats.device_initiated != Some(want) {
                    return false;
                }
            }
        }
    }
    if let Some(u) = &m.udp {
        if v.key.proto != 17 {
            return false;
        }
        if u.source_port.is_some_and(|p| !p.matches(sport))
            || u.destination_port.is_some_and(|p| !p.matches(dport))
        {
            return false;
        }
    }
    if let Some(ic) = &m.icmp {
        if v.key.proto != 1 && v.key.proto != 58 {
            return false;
        }
        let (t, c) = v.stats.icmp.unwrap_or((255, 255));
        if ic.icmp_type.is_some_and(|x| x != t) || ic.code.is_some_and(|x| x != c) {
            return false;
        }
    }
    if let Some(e) = &m.eth {
        if let Some(et) = e.ethertype.as_ref().and_then(ethertype) {
            let have = if is_v6 { 0x86dd } else { 0x0800 };
            if et != have {
                return false;
            }
        }
        if let Some(dm) = &e.destination_mac_address {
            let dst_mac = if v.from_device {
                v.stats.dst_mac_from_device
            } else {
                Some(v.device_mac)
            };
            if crate::parse_mac(dm).ok() != dst_mac {
                return false;
            }
        }
    }
    if let Some(mm) = &m.mud {
        let remote = v.key.remote_ip;
        if mm.local_networks.is_some() && !is_local(remote) {
            return false;
        }
        // Without a configured controller list, controllers are taken to be local hosts (the
        // gateway, its DNS/NTP/DHCP); the hub's zones replace this approximation when present.
        if (mm.controller.is_some() || mm.my_controller.is_some()) && !is_local(remote) {
            return false;
        }
        // The peer's MAC as learning sees it: its frames, or the device's frames to it.
        let peer = v
            .stats
            .remote_mac
            .or(v.stats.dst_mac_from_device)
            .filter(|m| m[0] & 1 == 0);
        if mm.same_manufacturer.is_some()
            && peer.is_none_or(|p| !v.ids.same_manufacturer(v.device_mac, p, Some(v.mud_url)))
        {
            return false;
        }
        if let Some(want) = &mm.model
            && peer.and_then(|p| v.ids.model(p)) != Some(want.as_str())
        {
            return false;
        }
        if let Some(want) = &mm.manufacturer
            && !peer
                .and_then(|p| v.ids.manufacturer(p))
                .is_some_and(|m| m.eq_ignore_ascii_case(want))
        {
            return false;
        }
    }
    true
}

/// The verdict of a list of ACLs (first matching ACE wins; no match = not permitted).
pub(crate) fn acls_permit<'a>(
    mud: &'a MudFile,
    names: &[&str],
    v: &View<'_>,
) -> Option<(&'a Acl, &'a Ace)> {
    for n in names {
        let Some(acl) = mud.acls.get(n) else { continue };
        for ace in &acl.aces.ace {
            if ace_matches(ace, v) {
                return if ace.actions.verdict() == "accept" {
                    Some((acl, ace))
                } else {
                    None
                };
            }
        }
    }
    None
}

/// Whether a non-IP frame of `ethertype` is permitted by eth-only ACEs of the named ACLs.
pub(crate) fn eth_permitted(mud: &MudFile, names: &[&str], et: u16, dst: Mac) -> bool {
    for n in names {
        let Some(acl) = mud.acls.get(n) else { continue };
        for ace in &acl.aces.ace {
            let m = &ace.matches;
            let Some(e) = &m.eth else { continue };
            if m.ipv4.is_some() || m.ipv6.is_some() || m.tcp.is_some() || m.udp.is_some() {
                continue;
            }
            if e.ethertype
                .as_ref()
                .and_then(ethertype)
                .is_some_and(|x| x != et)
            {
                continue;
            }
            if e.destination_mac_address
                .as_ref()
                .is_some_and(|d| crate::parse_mac(d).ok() != Some(dst))
            {
                continue;
            }
            return ace.actions.verdict() == "accept";
        }
    }
    false
}
