//! Device inventory: one device per MAC, the facts observed about it, and identification
//! (vendor, category, model, OS) with a confidence and the evidence chain behind it.
//!
//! The sensor feeds [`Observation`]s; nothing here parses packets. Every per-device set is
//! capped so a hostile capture cannot grow a device without bound, and the device table
//! itself is capped with least-recently-seen eviction.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasherDefault;
use std::net::IpAddr;

use rustc_hash::FxHasher;

pub use palisade_kb::Category;
pub use palisade_kb::p0f::{IpFacts, SynSignature};

mod features;
mod identify;
pub use features::{feature_vector, summary};
pub use identify::{Identity, identify};

pub type Mac = [u8; 6];

/// One fact about a device, as extracted by the sensor's parsers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// DHCP client message (from the device).
    DhcpClient {
        hostname: Option<String>,
        vendor_class: Option<String>,
        /// Option 55 as "1,3,6,15".
        param_list: Option<String>,
        requested_ip: Option<IpAddr>,
        message_type: Option<u8>,
    },
    /// The device answered as a DHCP server.
    DhcpServer,
    /// The device advertises an mDNS/DNS-SD service instance.
    MdnsService {
        service_type: String,
        instance: Option<String>,
        txt: Vec<(String, String)>,
    },
    /// A host name the device claims for itself (mDNS A/AAAA owner, SRV target, NetBIOS...).
    Hostname {
        name: String,
        source: &'static str,
    },
    /// SSDP NOTIFY or M-SEARCH response sent by the device.
    SsdpAdvert {
        server: Option<String>,
        kind: Option<String>,
        usn: Option<String>,
        location: Option<String>,
        extra: Vec<(String, String)>,
    },
    /// SSDP M-SEARCH sent by the device (what it looks for, its user agent).
    SsdpSearch {
        search_target: Option<String>,
        user_agent: Option<String>,
    },
    HttpUserAgent(String),
    HttpServer(String),
    TlsClient {
        sni: Option<String>,
        ja3: String,
        ja4: String,
    },
    TlsCertificate {
        subject_cn: Option<String>,
        subject_o: Option<String>,
    },
    DnsQuery(String),
    MqttClient {
        client_id: String,
        protocol_level: u8,
        has_username: bool,
    },
    CoapResource(String),
    Lldp {
        system_name: Option<String>,
        system_description: Option<String>,
        router: bool,
    },
    Cdp {
        device_id: Option<String>,
        platform: Option<String>,
        software: Option<String>,
    },
    Banner {
        protocol: &'static str,
        text: String,
    },
    /// The device acts as a server on this transport port (it answered).
    Service {
        proto: &'static str,
        port: u16,
    },
    /// The device sent a router advertisement (ICMPv6 RA).
    RouterAdvert,
    /// Application protocol seen in the device's traffic.
    Protocol(&'static str),
}

/// Order-independent distinct counter (64-register HyperLogLog): merging shards gives the
/// same registers whatever the packet order, so features stay identical across thread counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Distinct([u8; 64]);

impl Default for Distinct {
    fn default() -> Self {
        Distinct([0; 64])
    }
}

impl Distinct {
    pub fn insert_hash(&mut self, h: u64) {
        // Finalise (SplitMix64) so weak input hashes still spread over registers and ranks.
        let mut h = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
        h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^= h >> 31;
        let idx = (h & 63) as usize;
        let rank = ((h >> 6).trailing_zeros() + 1).min(58) as u8;
        if self.0[idx] < rank {
            self.0[idx] = rank;
        }
    }
    pub fn merge(&mut self, o: &Distinct) {
        for (a, b) in self.0.iter_mut().zip(o.0.iter()) {
            *a = (*a).max(*b);
        }
    }
    /// HyperLogLog estimate with the small-range (linear counting) correction.
    pub fn estimate(&self) -> u64 {
        let m = 64.0f64;
        let zeros = self.0.iter().filter(|r| **r == 0).count();
        if zeros == 64 {
            return 0;
        }
        let sum: f64 = self.0.iter().map(|r| 2f64.powi(-(*r as i32))).sum();
        let e = 0.709 * m * m / sum;
        if e <= 2.5 * m && zeros > 0 {
            (m * (m / zeros as f64).ln()).round() as u64
        } else {
            e.round() as u64
        }
    }
}

/// Traffic shape of what the device sends (behavioural classifier input). Sums and
/// order-independent sketches only, so shards merge exactly.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Behaviour {
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_size_sq_sum: f64,
    pub tcp: u64,
    pub udp: u64,
    pub icmp: u64,
    pub to_local: u64,
    pub to_remote: u64,
    pub dst_ips: Distinct,
    pub dst_ports: Distinct,
    pub port_classes: [u64; 3],
    pub max_ttl: u8,
}

impl Behaviour {
    /// One frame sent by the device.
    pub fn frame(&mut self, len: u32) {
        self.tx_packets += 1;
        self.tx_bytes += len as u64;
        self.tx_size_sq_sum += (len as f64) * (len as f64);
    }

    /// One IP packet sent by the device (`proto` 6/17/1/58, destination, destination port).
    pub fn ip(&mut self, proto: u8, dst: &IpAddr, dst_port: Option<u16>, ttl: u8) {
        match proto {
            6 => self.tcp += 1,
            17 => self.udp += 1,
            1 | 58 => self.icmp += 1,
            _ => {}
        }
        if is_local_ip(dst) || dst.is_multicast() {
            self.to_local += 1;
        } else {
            self.to_remote += 1;
        }
        self.dst_ips.insert_hash(hash_ip(dst));
        if let Some(p) = dst_port {
            self.dst_ports
                .insert_hash((p as u64 ^ 0x5bd1_e995).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            self.port_classes[match p {
                0..=1023 => 0,
                1024..=49151 => 1,
                _ => 2,
            }] += 1;
        }
        self.max_ttl = self.max_ttl.max(ttl);
    }

    fn merge(&mut self, o: &Behaviour) {
        self.tx_packets += o.tx_packets;
        self.tx_bytes += o.tx_bytes;
        self.tx_size_sq_sum += o.tx_size_sq_sum;
        self.tcp += o.tcp;
        self.udp += o.udp;
        self.icmp += o.icmp;
        self.to_local += o.to_local;
        self.to_remote += o.to_remote;
        self.dst_ips.merge(&o.dst_ips);
        self.dst_ports.merge(&o.dst_ports);
        for i in 0..3 {
            self.port_classes[i] += o.port_classes[i];
        }
        self.max_ttl = self.max_ttl.max(o.max_ttl);
    }
}

fn hash_ip(ip: &IpAddr) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let bytes: [u8; 16] = match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    };
    for b in bytes {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    h ^ (h >> 29)
}

/// Limits on per-device sets (bounded memory).
pub const MAX_IPS: usize = 32;
pub const MAX_HOSTNAMES: usize = 16;
pub const MAX_FACTS: usize = 96;
pub const MAX_DNS: usize = 64;
pub const MAX_SERVICES: usize = 64;
pub const MAX_PUBLIC_SEEN: usize = 8;
pub const MAX_SYN_SIGNATURES: usize = 4;

/// Everything observed about one MAC. Mergeable, so sharded workers can combine results
/// into the same answer whatever the thread count.
#[derive(Debug, Clone, Default)]
pub struct DeviceState {
    pub mac: Mac,
    pub sent_frames: bool,
    pub first_seen: i64,
    pub last_seen: i64,
    pub packets: u64,
    pub bytes: u64,
    /// Local (non-routable) addresses the device used as source, with first-seen time.
    pub local_ips: BTreeMap<IpAddr, i64>,
    /// Globally routable source addresses (a device with many is a router / gateway).
    pub public_ips: BTreeSet<IpAddr>,
    pub public_ip_overflow: bool,
    pub hostnames: BTreeSet<String>,
    pub dns_queries: BTreeSet<String>,
    pub services: BTreeSet<(&'static str, u16)>,
    /// Services that a peer outside the local segment (a globally routable initiator)
    /// reached: inbound from the WAN, e.g. through a port forward or UPnP mapping.
    pub external_services: BTreeSet<(&'static str, u16)>,
    pub protocols: BTreeSet<&'static str>,
    /// Observed TTLs of IP packets the device sent (initial TTL families).
    pub ttls: BTreeSet<u8>,
    /// TCP SYN / SYN+ACK fingerprints (p0f model) of segments the device sent from a local
    /// address; the smallest [`MAX_SYN_SIGNATURES`] are kept, so shards merge exactly.
    pub syn_signatures: BTreeSet<SynSignature>,
    pub facts: BTreeSet<FactKey>,
    pub dhcp_server: bool,
    pub router_advert: bool,
    pub lldp_router: bool,
    pub dropped_facts: u64,
    pub behaviour: Behaviour,
}

/// A fact in comparable form (for dedup and deterministic order).
pub type FactKey = ObservationKey;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObservationKey(pub String, pub Vec<String>);

impl Observation {
    fn key(&self) -> Option<ObservationKey> {
        let s = |x: &Option<String>| x.clone().unwrap_or_default();
        let k = |t: &str, v: Vec<String>| Some(ObservationKey(t.to_string(), v));
        match self {
            Observation::DhcpClient {
                hostname,
                vendor_class,
                param_list,
                ..
            } => k("dhcp", vec![s(hostname), s(vendor_class), s(param_list)]),
            Observation::MdnsService {
                service_type,
                instance,
                txt,
            } => {
                let mut v = vec![service_type.clone(), s(instance)];
                v.extend(txt.iter().map(|(a, b)| format!("{a}={b}")));
                k("mdns", v)
            }
            Observation::SsdpAdvert {
                server,
                kind,
                usn: _,
                location,
                extra,
            } => {
                let mut v = vec![s(server), s(kind), s(location)];
                v.extend(extra.iter().map(|(a, b)| format!("{a}={b}")));
                k("ssdp", v)
            }
            Observation::SsdpSearch {
                search_target,
                user_agent,
            } => k("ssdp-search", vec![s(search_target), s(user_agent)]),
            Observation::HttpUserAgent(u) => k("http-ua", vec![u.clone()]),
            Observation::HttpServer(u) => k("http-server", vec![u.clone()]),
            Observation::TlsClient { sni, ja3, ja4 } => {
                k("tls-client", vec![ja4.clone(), ja3.clone(), s(sni)])
            }
            Observation::TlsCertificate {
                subject_cn,
                subject_o,
            } => k("tls-cert", vec![s(subject_cn), s(subject_o)]),
            Observation::MqttClient {
                client_id,
                protocol_level,
                has_username,
            } => k(
                "mqtt",
                vec![
                    client_id.clone(),
                    protocol_level.to_string(),
                    has_username.to_string(),
                ],
            ),
            Observation::CoapResource(p) => k("coap", vec![p.clone()]),
            Observation::Lldp {
                system_name,
                system_description,
                router,
            } => k(
                "lldp",
                vec![s(system_name), s(system_description), router.to_string()],
            ),
            Observation::Cdp {
                device_id,
                platform,
                software,
            } => k("cdp", vec![s(device_id), s(platform), s(software)]),
            Observation::Banner { protocol, text } => {
                k("banner", vec![protocol.to_string(), text.clone()])
            }
            _ => None,
        }
    }

    /// Rebuilds the observation from its key (facts are stored as keys).
    fn from_key(k: &ObservationKey) -> Option<Observation> {
        let v = &k.1;
        let g = |i: usize| v.get(i).cloned().filter(|x| !x.is_empty());
        let pairs = |from: usize| -> Vec<(String, String)> {
            v.iter()
                .skip(from)
                .filter_map(|x| {
                    x.split_once('=')
                        .map(|(a, b)| (a.to_string(), b.to_string()))
                })
                .collect()
        };
        Some(match k.0.as_str() {
            "dhcp" => Observation::DhcpClient {
                hostname: g(0),
                vendor_class: g(1),
                param_list: g(2),
                requested_ip: None,
                message_type: None,
            },
            "mdns" => Observation::MdnsService {
                service_type: g(0)?,
                instance: g(1),
                txt: pairs(2),
            },
            "ssdp" => Observation::SsdpAdvert {
                server: g(0),
                kind: g(1),
                usn: None,
                location: g(2),
                extra: pairs(3),
            },
            "ssdp-search" => Observation::SsdpSearch {
                search_target: g(0),
                user_agent: g(1),
            },
            "http-ua" => Observation::HttpUserAgent(g(0)?),
            "http-server" => Observation::HttpServer(g(0)?),
            "tls-client" => Observation::TlsClient {
                ja4: g(0)?,
                ja3: g(1).unwrap_or_default(),
                sni: g(2),
            },
            "tls-cert" => Observation::TlsCertificate {
                subject_cn: g(0),
                subject_o: g(1),
            },
            "mqtt" => Observation::MqttClient {
                client_id: g(0).unwrap_or_default(),
                protocol_level: g(1)?.parse().ok()?,
                has_username: g(2)? == "true",
            },
            "coap" => Observation::CoapResource(g(0)?),
            "lldp" => Observation::Lldp {
                system_name: g(0),
                system_description: g(1),
                router: g(2).as_deref() == Some("true"),
            },
            "cdp" => Observation::Cdp {
                device_id: g(0),
                platform: g(1),
                software: g(2),
            },
            "banner" => Observation::Banner {
                protocol: match g(0)?.as_str() {
                    "telnet" => "telnet",
                    "ftp" => "ftp",
                    "ssh" => "ssh",
                    _ => "other",
                },
                text: g(1).unwrap_or_default(),
            },
            _ => return None,
        })
    }
}

fn is_local_ip(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_loopback()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfe80 || v6.is_unspecified()
        }
    }
}

/// True for addresses that stay on the local network (RFC 1918, link-local, CGNAT, ULA).
pub fn is_local_address(ip: &IpAddr) -> bool {
    is_local_ip(ip)
}

fn insert_capped<T: Ord>(set: &mut BTreeSet<T>, v: T, cap: usize) -> bool {
    if set.len() < cap || set.contains(&v) {
        set.insert(v);
        true
    } else {
        false
    }
}

impl DeviceState {
    fn new(mac: Mac, ts: i64) -> Self {
        DeviceState {
            mac,
            first_seen: ts,
            last_seen: ts,
            ..Default::default()
        }
    }

    pub fn observe(&mut self, obs: Observation) {
        match obs {
            Observation::Hostname { name, .. } => {
                let n = clean_hostname(&name);
                if !n.is_empty() {
                    insert_capped(&mut self.hostnames, n, MAX_HOSTNAMES);
                }
            }
            Observation::DnsQuery(q) => {
                insert_capped(&mut self.dns_queries, q.to_ascii_lowercase(), MAX_DNS);
            }
            Observation::Service { proto, port } => {
                insert_capped(&mut self.services, (proto, port), MAX_SERVICES);
            }
            Observation::Protocol(p) => {
                self.protocols.insert(p);
            }
            Observation::DhcpServer => self.dhcp_server = true,
            Observation::RouterAdvert => self.router_advert = true,
            other => {
                if let Observation::DhcpClient {
                    hostname: Some(h), ..
                } = &other
                {
                    let n = clean_hostname(h);
                    if !n.is_empty() {
                        insert_capped(&mut self.hostnames, n, MAX_HOSTNAMES);
                    }
                }
                if let Observation::Lldp { router: true, .. } = &other {
                    self.lldp_router = true;
                }
                if let Some(k) = other.key()
                    && !insert_capped(&mut self.facts, k, MAX_FACTS)
                {
                    self.dropped_facts += 1;
                }
            }
        }
    }

    /// Records that a peer outside the local segment reached one of the device's services.
    pub fn saw_external_service(&mut self, proto: &'static str, port: u16) {
        insert_capped(&mut self.external_services, (proto, port), MAX_SERVICES);
    }

    /// Records the TCP fingerprint of a SYN or SYN+ACK the device sent (`segment` = the TCP
    /// header and payload). Only local sources count: a router forwards others' SYNs.
    pub fn saw_tcp_syn(&mut self, src: &IpAddr, ip: IpFacts, segment: &[u8]) {
        if !is_local_ip(src) {
            return;
        }
        if let Some(sig) = SynSignature::from_segment(ip, segment)
            && !self.syn_signatures.contains(&sig)
        {
            self.syn_signatures.insert(sig);
            trim_set(&mut self.syn_signatures, MAX_SYN_SIGNATURES);
        }
    }

    pub fn facts(&self) -> impl Iterator<Item = Observation> + '_ {
        self.facts.iter().filter_map(Observation::from_key)
    }

    /// Records a source IP address used by the device.
    pub fn saw_ip(&mut self, ip: IpAddr, ts: i64) {
        if is_local_ip(&ip) {
            if ip.is_unspecified() {
                return;
            }
            if let Some(t) = self.local_ips.get_mut(&ip) {
                *t = (*t).min(ts);
            } else if self.local_ips.len() < MAX_IPS {
                self.local_ips.insert(ip, ts);
            }
        } else if !insert_capped(&mut self.public_ips, ip, MAX_PUBLIC_SEEN) {
            self.public_ip_overflow = true;
        }
    }

    /// Combines another worker's view of the same MAC (commutative and associative).
    pub fn merge(&mut self, o: DeviceState) {
        self.sent_frames |= o.sent_frames;
        self.first_seen = self.first_seen.min(o.first_seen);
        self.last_seen = self.last_seen.max(o.last_seen);
        self.packets += o.packets;
        self.bytes += o.bytes;
        for (ip, t) in o.local_ips {
            let e = self.local_ips.entry(ip).or_insert(t);
            *e = (*e).min(t);
        }
        // Keep the smallest addresses when over the cap so the result is order-independent.
        trim(&mut self.local_ips, MAX_IPS);
        self.public_ip_overflow |= o.public_ip_overflow;
        self.public_ips.extend(o.public_ips);
        if self.public_ips.len() > MAX_PUBLIC_SEEN {
            self.public_ip_overflow = true;
            trim_set(&mut self.public_ips, MAX_PUBLIC_SEEN);
        }
        self.hostnames.extend(o.hostnames);
        trim_set(&mut self.hostnames, MAX_HOSTNAMES);
        self.dns_queries.extend(o.dns_queries);
        trim_set(&mut self.dns_queries, MAX_DNS);
        self.services.extend(o.services);
        trim_set(&mut self.services, MAX_SERVICES);
        self.external_services.extend(o.external_services);
        trim_set(&mut self.external_services, MAX_SERVICES);
        self.protocols.extend(o.protocols);
        self.ttls.extend(o.ttls);
        self.syn_signatures.extend(o.syn_signatures);
        trim_set(&mut self.syn_signatures, MAX_SYN_SIGNATURES);
        self.facts.extend(o.facts);
        let over = self.facts.len().saturating_sub(MAX_FACTS) as u64;
        trim_set(&mut self.facts, MAX_FACTS);
        self.dropped_facts += o.dropped_facts + over;
        self.dhcp_server |= o.dhcp_server;
        self.router_advert |= o.router_advert;
        self.lldp_router |= o.lldp_router;
        self.behaviour.merge(&o.behaviour);
    }

    /// Whether this MAC forwards traffic for others (a router or gateway).
    pub fn is_router(&self) -> bool {
        self.dhcp_server
            || self.router_advert
            || self.lldp_router
            || self.public_ip_overflow
            || self.public_ips.len() >= 3
    }

    /// Addresses to report: a router's public (forwarded) sources are not its own.
    pub fn reported_ips(&self) -> Vec<IpAddr> {
        let mut v: Vec<(i64, IpAddr)> = self.local_ips.iter().map(|(ip, t)| (*t, *ip)).collect();
        v.sort();
        let mut out: Vec<IpAddr> = v.into_iter().map(|(_, ip)| ip).collect();
        if !self.is_router() {
            out.extend(self.public_ips.iter().copied());
        }
        out
    }
}

fn trim<K: Ord + Clone, V>(m: &mut BTreeMap<K, V>, cap: usize) {
    while m.len() > cap {
        if let Some(k) = m.keys().next_back().cloned() {
            m.remove(&k);
        }
    }
}

fn trim_set<T: Ord + Clone>(s: &mut BTreeSet<T>, cap: usize) {
    while s.len() > cap {
        if let Some(k) = s.iter().next_back().cloned() {
            s.remove(&k);
        }
    }
}

/// Trims whitespace, a trailing dot and control characters from a claimed host name.
pub fn clean_hostname(s: &str) -> String {
    let t: String = s
        .trim()
        .trim_end_matches('.')
        .chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect();
    t.strip_suffix(".local").map(str::to_string).unwrap_or(t)
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// The device table (bounded).
pub struct Inventory {
    devices: FxMap<Mac, DeviceState>,
    max_devices: usize,
    pub evicted: u64,
}

impl Inventory {
    pub fn new(max_devices: usize) -> Self {
        Inventory {
            devices: FxMap::default(),
            max_devices: max_devices.max(16),
            evicted: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.devices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// The device for `mac`, created if needed. Returns None for group/broadcast/zero MACs.
    pub fn device(&mut self, mac: Mac, ts: i64) -> Option<&mut DeviceState> {
        if mac[0] & 1 == 1 || mac == [0; 6] {
            return None;
        }
        if !self.devices.contains_key(&mac) && self.devices.len() >= self.max_devices {
            self.evict_batch();
        }
        let d = self
            .devices
            .entry(mac)
            .or_insert_with(|| DeviceState::new(mac, ts));
        d.first_seen = d.first_seen.min(ts);
        d.last_seen = d.last_seen.max(ts);
        Some(d)
    }

    pub fn get_mut(&mut self, mac: &Mac) -> Option<&mut DeviceState> {
        self.devices.get_mut(mac)
    }

    /// Drops the 1/16 least recently seen devices (fewest packets first on ties).
    fn evict_batch(&mut self) {
        let mut v: Vec<(i64, u64, Mac)> = self
            .devices
            .values()
            .map(|d| (d.last_seen, d.packets, d.mac))
            .collect();
        v.sort();
        let n = (self.max_devices / 16).max(1);
        for (_, _, mac) in v.into_iter().take(n) {
            self.devices.remove(&mac);
            self.evicted += 1;
        }
    }

    /// Merges another shard's inventory.
    pub fn merge(&mut self, other: Inventory) {
        self.evicted += other.evicted;
        for (mac, d) in other.devices {
            match self.devices.get_mut(&mac) {
                Some(x) => x.merge(d),
                None => {
                    self.devices.insert(mac, d);
                }
            }
        }
    }

    /// Devices that sent at least one frame, sorted by MAC.
    pub fn into_devices(self) -> Vec<DeviceState> {
        let mut v: Vec<DeviceState> = self
            .devices
            .into_values()
            .filter(|d| d.sent_frames)
            .collect();
        v.sort_by_key(|d| d.mac);
        v
    }

    /// Approximate bytes used per device with empty sets (documentation figure).
    pub fn bytes_per_device() -> usize {
        std::mem::size_of::<DeviceState>() + std::mem::size_of::<Mac>() + 8
    }
}

pub fn format_mac(m: &Mac) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

#[cfg(test)]
mod tests;
