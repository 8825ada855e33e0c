#![forbid(unsafe_code)]
//! Palisade traffic simulator: a deterministic, well-formed smart-home/office capture
//! (classic pcap, Ethernet) with benign IoT traffic and, optionally, a Mirai infection.
//!
//! Everything is generated in memory from a seed; nothing is ever sent on a network.
//!
//! ```
//! let cfg = palisade_sim::SimConfig { duration_s: 60, ..Default::default() };
//! let pcap = palisade_sim::generate(&cfg);
//! assert_eq!(&pcap[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
//! assert!(palisade_sim::ground_truth(&cfg).len() >= 10);
//! ```

mod app;
mod attack;
pub mod build;
mod net;
pub mod payload;
pub mod pcap;
mod rng;
mod scenario;
mod tcp;

use std::io::{self, BufWriter};
use std::path::Path;

pub use attack::{
    BRUTE_PAIRS, C2_DOMAIN, C2_IP, FLOOD_TARGET, IRC_IP, IRC_PORT, LOADER_IP, SCANNER_IP,
};
pub use pcap::PcapWriter;

/// Simulation parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// PRNG seed: same seed, same bytes.
    pub seed: u64,
    /// Capture length in seconds.
    pub duration_s: u32,
    /// Unix time of the first second of the capture.
    pub start_unix: u64,
    /// Include the Mirai infection of the camera.
    pub include_attack: bool,
}

/// 2026-11-01T10:00:00Z.
pub const DEFAULT_START_UNIX: u64 = 1_793_527_200;

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 7,
            duration_s: 600,
            start_unix: DEFAULT_START_UNIX,
            include_attack: true,
        }
    }
}

/// The truth about one simulated local device, to compare an analysis against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimDevice {
    /// MAC address.
    pub mac: [u8; 6],
    /// IPv4 address (DHCP-assigned, fixed lease).
    pub ip: [u8; 4],
    /// DHCP host name the device sends (the router's is its local name).
    pub hostname: &'static str,
    /// DESIGN.md §5 category.
    pub category: &'static str,
    /// Manufacturer.
    pub vendor: &'static str,
    /// Model.
    pub model: &'static str,
    /// Compromised by Mirai in this capture.
    pub infected: bool,
}

impl SimDevice {
    /// MAC in lower-case colon form, as the report writes it.
    pub fn mac_string(&self) -> String {
        self.mac
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

/// The simulated devices (all of them, including the router).
pub fn ground_truth(cfg: &SimConfig) -> Vec<SimDevice> {
    scenario::SPECS
        .iter()
        .map(|s| SimDevice {
            mac: s.mac,
            ip: s.ip,
            hostname: s.hostname,
            category: s.category,
            vendor: s.vendor,
            model: s.model,
            infected: cfg.include_attack && s.role == scenario::Role::Camera,
        })
        .collect()
}

/// Generates the capture and returns the pcap file bytes (records in timestamp order).
pub fn generate(cfg: &SimConfig) -> Vec<u8> {
    let start = cfg.start_unix * 1_000_000;
    let end = start + u64::from(cfg.duration_s) * 1_000_000;
    let mut rng = rng::Rng::new(cfg.seed);
    let router = scenario::host(scenario::Role::Router);
    let mut net = net::Net::new(start, end, cfg.start_unix, router, rng.fork());
    let attack_rng = rng.fork();
    scenario::run(&mut net);
    if cfg.include_attack {
        attack::run(&mut net, attack_rng);
    }
    net.tl.sort();
    let bytes: usize = net.tl.recs.iter().map(|r| r.2.len() + 16).sum();
    let mut w =
        PcapWriter::new(Vec::with_capacity(24 + bytes)).expect("writing to a Vec cannot fail");
    for (t, _, f) in &net.tl.recs {
        w.write_packet((t / 1_000_000) as u32, (t % 1_000_000) as u32, f)
            .expect("writing to a Vec cannot fail");
    }
    w.into_inner().expect("writing to a Vec cannot fail")
}

/// Generates the capture and writes it to `path`.
pub fn write_pcap(cfg: &SimConfig, path: impl AsRef<Path>) -> io::Result<()> {
    let bytes = generate(cfg);
    let mut f = BufWriter::new(std::fs::File::create(path)?);
    io::Write::write_all(&mut f, &bytes)?;
    io::Write::flush(&mut f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    /// A record of the tiny independent pcap parser below.
    struct Rec<'a> {
        ts_us: u64,
        frame: &'a [u8],
    }

    fn parse_pcap(b: &[u8]) -> Vec<Rec<'_>> {
        assert!(b.len() >= 24, "global header");
        assert_eq!(u32::from_le_bytes(b[0..4].try_into().unwrap()), 0xa1b2_c3d4);
        assert_eq!(u16::from_le_bytes([b[4], b[5]]), 2);
        assert_eq!(u16::from_le_bytes([b[6], b[7]]), 4);
        assert_eq!(u32::from_le_bytes(b[16..20].try_into().unwrap()), 65_535);
        assert_eq!(u32::from_le_bytes(b[20..24].try_into().unwrap()), 1);
        let mut off = 24;
        let mut out = Vec::new();
        while off < b.len() {
            assert!(off + 16 <= b.len(), "truncated record header at {off}");
            let h = &b[off..off + 16];
            let sec = u32::from_le_bytes(h[0..4].try_into().unwrap());
            let usec = u32::from_le_bytes(h[4..8].try_into().unwrap());
            let incl = u32::from_le_bytes(h[8..12].try_into().unwrap()) as usize;
            let orig = u32::from_le_bytes(h[12..16].try_into().unwrap()) as usize;
            assert!(usec < 1_000_000);
            assert_eq!(incl, orig);
            assert!((60..=1514).contains(&incl), "frame length {incl}");
            off += 16;
            assert!(off + incl <= b.len(), "truncated record at {off}");
            out.push(Rec {
                ts_us: u64::from(sec) * 1_000_000 + u64::from(usec),
                frame: &b[off..off + incl],
            });
            off += incl;
        }
        out
    }

    /// Independent one's-complement sum check: valid data (including its checksum) sums to 0xffff.
    fn ok_sum(parts: &[&[u8]]) -> bool {
        let mut s: u64 = 0;
        let mut i = 0usize;
        for p in parts {
            for &byte in p.iter() {
                s += if i.is_multiple_of(2) {
                    u64::from(byte) << 8
                } else {
                    u64::from(byte)
                };
                i += 1;
            }
        }
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        s == 0xffff
    }

    #[derive(Default)]
    struct Tcp4<'a> {
        src: [u8; 4],
        dst: [u8; 4],
        ttl: u8,
        sport: u16,
        dport: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        hlen: usize,
        payload: &'a [u8],
    }

    enum L4<'a> {
        Tcp(Tcp4<'a>),
        Udp([u8; 4], [u8; 4], u16, u16, &'a [u8]),
        Other,
    }

    /// Decodes and verifies one frame; panics on any malformed header or bad checksum.
    fn decode(f: &[u8]) -> L4<'_> {
        let et = u16::from_be_bytes([f[12], f[13]]);
        match et {
            0x0806 => {
                assert_eq!(&f[14..20], &[0, 1, 8, 0, 6, 4]);
                L4::Other
            }
            0x86dd => {
                let p = &f[14..];
                assert_eq!(p[0] >> 4, 6);
                let plen = u16::from_be_bytes([p[4], p[5]]) as usize;
                assert_eq!(p[6], 17);
                let u = &p[40..40 + plen];
                let mut ph = Vec::new();
                ph.extend_from_slice(&p[8..40]);
                ph.extend_from_slice(&(plen as u32).to_be_bytes());
                ph.extend_from_slice(&[0, 0, 0, 17]);
                assert!(ok_sum(&[&ph, u]), "IPv6 UDP checksum");
                L4::Other
            }
            0x0800 => {
                let p = &f[14..];
                assert_eq!(p[0] >> 4, 4);
                let ihl = usize::from(p[0] & 0xf) * 4;
                let total = u16::from_be_bytes([p[2], p[3]]) as usize;
                assert!(ihl >= 20 && total >= ihl && total <= p.len());
                assert!(ok_sum(&[&p[..ihl]]), "IPv4 header checksum");
                let src: [u8; 4] = p[12..16].try_into().unwrap();
                let dst: [u8; 4] = p[16..20].try_into().unwrap();
                let l4 = &p[ihl..total];
                let mut ph = Vec::new();
                ph.extend_from_slice(&src);
                ph.extend_from_slice(&dst);
                ph.extend_from_slice(&[0, p[9]]);
                ph.extend_from_slice(&(l4.len() as u16).to_be_bytes());
                match p[9] {
                    6 => {
                        assert!(ok_sum(&[&ph, l4]), "TCP checksum");
                        let hlen = usize::from(l4[12] >> 4) * 4;
                        assert!(hlen >= 20 && hlen <= l4.len());
                        L4::Tcp(Tcp4 {
                            src,
                            dst,
                            ttl: p[8],
                            sport: u16::from_be_bytes([l4[0], l4[1]]),
                            dport: u16::from_be_bytes([l4[2], l4[3]]),
                            seq: u32::from_be_bytes(l4[4..8].try_into().unwrap()),
                            ack: u32::from_be_bytes(l4[8..12].try_into().unwrap()),
                            flags: l4[13],
                            hlen,
                            payload: &l4[hlen..],
                        })
                    }
                    17 => {
                        assert_eq!(u16::from_be_bytes([l4[4], l4[5]]) as usize, l4.len());
                        assert!(ok_sum(&[&ph, l4]), "UDP checksum");
                        L4::Udp(
                            src,
                            dst,
                            u16::from_be_bytes([l4[0], l4[1]]),
                            u16::from_be_bytes([l4[2], l4[3]]),
                            &l4[8..],
                        )
                    }
                    2 => {
                        assert!(ok_sum(&[l4]), "IGMP checksum");
                        L4::Other
                    }
                    other => panic!("unexpected IP protocol {other}"),
                }
            }
            other => panic!("unexpected ethertype {other:#06x}"),
        }
    }

    fn contains(h: &[u8], n: &[u8]) -> bool {
        h.windows(n.len()).any(|w| w == n)
    }

    fn short() -> SimConfig {
        SimConfig {
            duration_s: 600,
            ..SimConfig::default()
        }
    }

    #[test]
    fn every_frame_is_well_formed_and_in_order() {
        let cfg = short();
        let b = generate(&cfg);
        let recs = parse_pcap(&b);
        assert!(
            recs.len() > 3_000 && recs.len() < 40_000,
            "{} packets",
            recs.len()
        );
        let start = cfg.start_unix * 1_000_000;
        let end = start + u64::from(cfg.duration_s) * 1_000_000;
        let mut last = 0;
        for r in &recs {
            assert!(r.ts_us >= last, "timestamps must not decrease");
            assert!(r.ts_us >= start && r.ts_us < end);
            last = r.ts_us;
            decode(r.frame);
        }
    }

    #[test]
    fn only_simulated_addresses() {
        let cfg = short();
        let truth = ground_truth(&cfg);
        let macs: BTreeSet<[u8; 6]> = truth.iter().map(|d| d.mac).collect();
        let router = truth.iter().find(|d| d.category == "router").unwrap().mac;
        let b = generate(&cfg);
        for r in parse_pcap(&b) {
            let f = r.frame;
            let dst: [u8; 6] = f[0..6].try_into().unwrap();
            let src: [u8; 6] = f[6..12].try_into().unwrap();
            assert!(macs.contains(&src), "unknown source MAC {src:02x?}");
            assert!(
                macs.contains(&dst) || dst[0] & 1 == 1,
                "unknown unicast MAC {dst:02x?}"
            );
            if u16::from_be_bytes([f[12], f[13]]) != 0x0800 {
                continue;
            }
            let s: [u8; 4] = f[26..30].try_into().unwrap();
            let d: [u8; 4] = f[30..34].try_into().unwrap();
            let local = |ip: [u8; 4]| ip[..3] == [192, 168, 1];
            assert!(
                local(s) || local(d) || s == [0; 4],
                "{s:?} -> {d:?} does not involve the LAN"
            );
            // anything off the LAN goes through the router
            if !local(d) && d[0] < 224 && d != [255; 4] {
                assert_eq!(dst, router);
            }
            if !local(s) && s != [0; 4] {
                assert_eq!(src, router);
            }
            if local(s) && s != [192, 168, 1, 1] {
                let dev = truth.iter().find(|t| t.ip == s).expect("known local IP");
                assert_eq!(dev.mac, src, "IP/MAC binding of {s:?}");
            }
        }
    }

    #[test]
    fn tcp_sequence_numbers_are_consistent() {
        let b = generate(&short());
        // next expected seq per directed flow, reset on every SYN
        let mut next: BTreeMap<([u8; 4], u16, [u8; 4], u16), u32> = BTreeMap::new();
        let mut checked = 0u32;
        for r in parse_pcap(&b) {
            let L4::Tcp(t) = decode(r.frame) else {
                continue;
            };
            let key = (t.src, t.sport, t.dst, t.dport);
            let rev = (t.dst, t.dport, t.src, t.sport);
            if t.flags & 0x04 != 0 {
                continue;
            }
            if t.flags & 0x02 != 0 {
                if t.flags & 0x10 != 0
                    && let Some(&peer) = next.get(&rev)
                {
                    assert_eq!(t.ack, peer, "SYN/ACK acknowledges the SYN");
                }
                next.insert(key, t.seq.wrapping_add(1));
                continue;
            }
            if let Some(exp) = next.get_mut(&key) {
                assert_eq!(t.seq, *exp, "seq continuity on {key:?}");
                *exp = exp
                    .wrapping_add(t.payload.len() as u32)
                    .wrapping_add(u32::from(t.flags & 0x01));
                checked += 1;
                if t.flags & 0x10 != 0
                    && let Some(&peer) = next.get(&rev)
                {
                    // never acknowledges data that was not sent
                    assert!(
                        peer.wrapping_sub(t.ack) < 0x8000_0000,
                        "ack beyond peer data on {key:?}"
                    );
                }
            }
        }
        assert!(checked > 1_000);
    }

    #[test]
    fn deterministic_per_seed() {
        let a = generate(&short());
        let b = generate(&short());
        assert_eq!(a, b);
        let c = generate(&SimConfig { seed: 8, ..short() });
        assert_ne!(a, c);
    }

    #[test]
    fn ground_truth_is_diverse() {
        let cfg = SimConfig::default();
        let t = ground_truth(&cfg);
        assert!(t.len() >= 10);
        let cats: BTreeSet<&str> = t.iter().map(|d| d.category).collect();
        assert!(cats.len() >= 8, "{cats:?}");
        assert_eq!(t.iter().filter(|d| d.infected).count(), 1);
        assert_eq!(t.iter().find(|d| d.infected).unwrap().category, "camera");
        let macs: BTreeSet<[u8; 6]> = t.iter().map(|d| d.mac).collect();
        assert_eq!(macs.len(), t.len());
        let no_attack = SimConfig {
            include_attack: false,
            ..cfg
        };
        assert!(ground_truth(&no_attack).iter().all(|d| !d.infected));
    }

    #[derive(Default, Debug)]
    struct Counts {
        mirai_syn: usize,
        mirai_syn_2323: usize,
        cred_xc3511: usize,
        busybox_mirai: usize,
        applet_not_found: usize,
        c2_pkts: usize,
        irc_join: usize,
        flood_udp: usize,
        flood_syn: usize,
        dhcp_msft: usize,
        sni: BTreeSet<String>,
        mdns: usize,
        ssdp: usize,
        mqtt_connect: usize,
        attacker: usize,
        dns_queries: usize,
        ntp: usize,
    }

    fn count(b: &[u8]) -> Counts {
        let mut c = Counts::default();
        let attackers = [SCANNER_IP, LOADER_IP, C2_IP, IRC_IP, FLOOD_TARGET];
        for r in parse_pcap(b) {
            match decode(r.frame) {
                L4::Tcp(t) => {
                    if attackers.contains(&t.src) || attackers.contains(&t.dst) {
                        c.attacker += 1;
                    }
                    let seq_is_dst = t.seq == u32::from_be_bytes(t.dst);
                    if t.flags == 0x02 && seq_is_dst && t.hlen == 20 && t.ttl == 64 {
                        if t.dport == 23 {
                            c.mirai_syn += 1;
                        } else if t.dport == 2323 {
                            c.mirai_syn_2323 += 1;
                        }
                    }
                    if t.dport == 23 && t.src == SCANNER_IP && contains(t.payload, b"xc3511\r\n") {
                        c.cred_xc3511 += 1;
                    }
                    if t.dport == 23 && contains(t.payload, b"/bin/busybox MIRAI") {
                        c.busybox_mirai += 1;
                    }
                    if t.sport == 23 && contains(t.payload, b"MIRAI: applet not found") {
                        c.applet_not_found += 1;
                    }
                    if t.dst == C2_IP || t.src == C2_IP {
                        c.c2_pkts += 1;
                    }
                    if t.dport == IRC_PORT && contains(t.payload, b"JOIN #") {
                        c.irc_join += 1;
                    }
                    if t.dst == FLOOD_TARGET && t.flags == 0x02 {
                        c.flood_syn += 1;
                    }
                    if t.payload.len() > 5 && t.payload[0] == 22 && t.payload[5] == 1 {
                        // naive SNI extraction: host name after the server_name extension header
                        c.sni.insert(sni(t.payload).unwrap_or_default());
                    }
                    if t.dport == 1883 && t.payload.first() == Some(&0x10) {
                        c.mqtt_connect += 1;
                    }
                }
                L4::Udp(s, d, sp, dp, payload) => {
                    if attackers.contains(&s) || attackers.contains(&d) {
                        c.attacker += 1;
                    }
                    if d == FLOOD_TARGET {
                        c.flood_udp += 1;
                    }
                    if dp == 67 && contains(payload, b"MSFT 5.0") {
                        c.dhcp_msft += 1;
                    }
                    if dp == 5353 {
                        c.mdns += 1;
                    }
                    if dp == 1900 || sp == 1900 {
                        c.ssdp += 1;
                    }
                    if dp == 53 {
                        c.dns_queries += 1;
                    }
                    if dp == 123 {
                        c.ntp += 1;
                    }
                }
                L4::Other => {}
            }
        }
        c
    }

    /// Walks a ClientHello record to the server_name extension.
    fn sni(p: &[u8]) -> Option<String> {
        let b = p.get(9..)?;
        let mut i = 34;
        i += 1 + usize::from(*b.get(i)?);
        i += 2 + usize::from(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]));
        i += 1 + usize::from(*b.get(i)?);
        let end = i + 2 + usize::from(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]));
        i += 2;
        while i + 4 <= end.min(b.len()) {
            let ty = u16::from_be_bytes([b[i], b[i + 1]]);
            let l = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
            if ty == 0 {
                let n = usize::from(u16::from_be_bytes([b[i + 7], b[i + 8]]));
                return String::from_utf8(b.get(i + 9..i + 9 + n)?.to_vec()).ok();
            }
            i += 4 + l;
        }
        None
    }

    #[test]
    fn mirai_infection_is_present() {
        let c = count(&generate(&short()));
        assert!(c.mirai_syn >= 300, "{c:?}");
        assert!(c.mirai_syn_2323 >= 20, "{c:?}");
        let ratio = c.mirai_syn_2323 as f64 / (c.mirai_syn + c.mirai_syn_2323) as f64;
        assert!((0.07..0.13).contains(&ratio), "2323 share {ratio}");
        assert!(c.cred_xc3511 >= 1);
        assert!(c.busybox_mirai >= 1);
        assert!(c.applet_not_found >= 1);
        assert!(c.c2_pkts >= 10);
        assert_eq!(c.irc_join, 1);
        assert!(c.flood_udp >= 1_000);
        assert!(c.flood_syn >= 500);
    }

    #[test]
    fn benign_capture_has_devices_and_no_attack() {
        let cfg = SimConfig {
            include_attack: false,
            ..short()
        };
        let c = count(&generate(&cfg));
        assert_eq!(c.attacker, 0);
        assert_eq!(c.mirai_syn + c.mirai_syn_2323, 0);
        assert!(c.dhcp_msft >= 2);
        assert!(c.mdns >= 10 && c.ssdp >= 50, "{c:?}");
        assert!(c.mqtt_connect >= 3);
        assert!(c.dns_queries >= 50 && c.ntp >= 8, "{c:?}");
        for name in [
            "ws.meethue.com",
            "avs-alexa-na.amazon.com",
            "devs.tplinkcloud.com",
            "api.ecobee.com",
            "login.live.com",
        ] {
            assert!(c.sni.contains(name), "missing SNI {name}: {:?}", c.sni);
        }
    }

    #[test]
    fn generation_is_fast_and_small() {
        let t = std::time::Instant::now();
        let b = generate(&SimConfig::default());
        assert!(b.len() < 16 * 1024 * 1024);
        assert!(t.elapsed().as_secs() < 10);
    }

    #[test]
    fn odd_configs_do_not_panic() {
        for (d, start, attack) in [
            (0, DEFAULT_START_UNIX, true),
            (1, 0, true),
            (30, 86_400, true),
            (45, 0, false),
        ] {
            let cfg = SimConfig {
                seed: 99,
                duration_s: d,
                start_unix: start,
                include_attack: attack,
            };
            let b = generate(&cfg);
            for r in parse_pcap(&b) {
                decode(r.frame);
            }
        }
    }

    #[test]
    fn write_pcap_writes_the_same_bytes() {
        let cfg = SimConfig {
            duration_s: 60,
            ..SimConfig::default()
        };
        let dir = std::env::temp_dir().join(format!("palisade-sim-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t.pcap");
        write_pcap(&cfg, &p).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), generate(&cfg));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(ground_truth(&cfg)[0].mac_string(), "9c:3d:cf:4a:12:01");
    }
}
