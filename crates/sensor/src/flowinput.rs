//! Flow-level input: flow records (NetFlow/IPFIX, Zeek `conn.log`, Suricata flow events)
//! and Suricata app-layer events feed the same analyzers as packets, and produce the same
//! report.
//!
//! What works without packets, per analyzer:
//! * host detector (`scan.horizontal`, `scan.vertical`, telnet/SSH worm fan-out,
//!   `ddos.participation`, `ddos.target`): each flow becomes its first packet (flags from
//!   the flow's TCP flag union: SYN if any, else the flags seen; ICMP type from the
//!   NetFlow type/code port) at its start time, plus up to [`MAX_REPLAY`] packets per
//!   direction spread evenly to its end, with the flow's mean packet size. Scans count
//!   connection attempts, so they are exact; flood volumes are capped by the replay.
//!   `botnet.mirai.scan` needs the TCP sequence number and never fires from flows.
//! * flow-only rules (`palisade_flowdetect`, on the records themselves, not the replay):
//!   `ddos.participation`/`ddos.target` from one-way fat flows (packets, rate, reverse
//!   packets), bursts of small or unanswered flows to one target and fan-in of sources;
//!   `scan.horizontal`/`scan.vertical` from distinct hosts/ports per window with the answered
//!   share; `botnet.c2` from periodic connection starts (median interval, MAD jitter).
//! * payload detectors (brute force, credentials, IRC/Mirai C2, insecure protocols): need
//!   payload, so nothing from flows; Suricata `alert` events become `ids.signature`.
//! * inventory: only where a MAC is known (IPFIX/NetFlow MAC fields, Zeek `*_l2_addr`,
//!   EVE `ether`, EVE DHCP `client_mac`): addresses, services answered, packet/byte
//!   counts, and from EVE the DHCP, HTTP user agent/server, TLS (JA3/JA4, SNI) and DNS
//!   query facts. Flows without MACs are counted but create no device.
//! * anomaly and signature rules: packet-level only; not run.
//!
//! Bounded: synthetic packets pass through a reorder heap of at most [`REORDER_CAP`]
//! entries (the oldest is released when full), the inventory and host table keep their caps.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::IpAddr;
use std::time::Instant;

use palisade_collect::{EveEvent, EveRecord, FlowRecord};
use palisade_detect::{Aggregator, Finding, HostDetector, Kind, Severity};
use palisade_inventory::{Inventory, Observation};
use palisade_packet::{Anomaly, Decoded, Ipv4, Ipv6, Network, Tcp, Transport, Udp};

use crate::report::{InputReport, Report, Summary};
use crate::{AnalyzeOptions, rfc3339};

/// Packets replayed per flow direction, at most.
pub const MAX_REPLAY: u64 = 16;
/// Synthetic packets held for time ordering.
pub const REORDER_CAP: usize = 65_536;

/// One synthetic packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Synth {
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    proto: u8,
    flags: u8,
    wire: u32,
    src_mac: Option<[u8; 6]>,
    dst_mac: Option<[u8; 6]>,
}

/// Counts of what went in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FlowInputCounters {
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    pub eve_events: u64,
    pub synthetic_packets: u64,
}

/// The flow-level analyzer: feed records and events, then [`FlowInput::finish`].
pub struct FlowInput {
    opts: AnalyzeOptions,
    host: Option<Box<HostDetector>>,
    /// Flow-only DDoS/scan/beacon rules (palisade-flowdetect), beside the packet replay.
    flowdet: Option<Box<palisade_flowdetect::FlowDetector>>,
    inventory: Inventory,
    signatures: Aggregator,
    heap: BinaryHeap<Reverse<(i64, u64, Synth)>>,
    seq: u64,
    first_ts: Option<i64>,
    last_ts: Option<i64>,
    started: Instant,
    pub counters: FlowInputCounters,
}

fn is_local(ip: &IpAddr) -> bool {
    palisade_inventory::is_local_address(ip)
}

impl FlowInput {
    pub fn new(opts: &AnalyzeOptions) -> Self {
        let cfg = opts.engine.detect;
        FlowInput {
            opts: opts.clone(),
            host: cfg.enabled.then(|| Box::new(HostDetector::new(cfg))),
            flowdet: cfg.enabled.then(|| {
                Box::new(palisade_flowdetect::FlowDetector::new(
                    palisade_flowdetect::FlowDetectConfig {
                        max_alerts: cfg.max_alerts,
                        evidence_list_max: cfg.evidence_list_max,
                        ..Default::default()
                    },
                ))
            }),
            inventory: Inventory::new(opts.engine.max_devices),
            signatures: Aggregator::new(cfg.max_alerts, cfg.evidence_list_max),
            heap: BinaryHeap::new(),
            seq: 0,
            first_ts: None,
            last_ts: None,
            started: Instant::now(),
            counters: FlowInputCounters::default(),
        }
    }

    fn see_ts(&mut self, a: i64, b: i64) {
        self.first_ts = Some(self.first_ts.map_or(a, |x| x.min(a)));
        self.last_ts = Some(self.last_ts.map_or(b, |x| x.max(b)));
    }

    fn push(&mut self, ts: i64, s: Synth) {
        self.seq += 1;
        self.heap.push(Reverse((ts, self.seq, s)));
        while self.heap.len() > REORDER_CAP {
            self.release_one();
        }
    }

    fn release_one(&mut self) {
        let Some(Reverse((ts, _, s))) = self.heap.pop() else {
            return;
        };
        self.counters.synthetic_packets += 1;
        let Some(h) = self.host.as_mut() else {
            return;
        };
        let transport = match s.proto {
            6 => Transport::Tcp(Tcp {
                src_port: s.sport,
                dst_port: s.dport,
                seq: 0,
                ack: 0,
                flags: s.flags,
                window: 0,
                header_len: 20,
                options_len: 0,
            }),
            17 => Transport::Udp(Udp {
                src_port: s.sport,
                dst_port: s.dport,
                len: 8,
            }),
            1 => Transport::Icmp {
                icmp_type: (s.dport >> 8) as u8,
                code: s.dport as u8,
            },
            58 => Transport::Icmpv6 {
                icmp_type: (s.dport >> 8) as u8,
                code: s.dport as u8,
                nd: Default::default(),
            },
            p => Transport::Other(p),
        };
        let network = match (s.src, s.dst) {
            (IpAddr::V4(a), IpAddr::V4(b)) => Network::Ipv4(Ipv4 {
                src: a.octets(),
                dst: b.octets(),
                proto: s.proto,
                ttl: 64,
                tos: 0,
                id: 0,
                total_len: s.wire.min(65_535) as u16,
                header_len: 20,
                dont_fragment: false,
                more_fragments: false,
                frag_offset: 0,
            }),
            (a, b) => Network::Ipv6(Ipv6 {
                src: v6(a),
                dst: v6(b),
                proto: s.proto,
                hop_limit: 64,
                flow_label: 0,
                ext_headers: 0,
                non_first_fragment: false,
            }),
        };
        let d = Decoded {
            src_mac: s.src_mac,
            dst_mac: s.dst_mac,
            vlan: [0, 0],
            ethertype: if matches!(network, Network::Ipv4(_)) {
                0x0800
            } else {
                0x86dd
            },
            network,
            transport,
            l3_payload: &[],
            payload: &[],
            anomalies: Anomaly::default(),
        };
        h.packet(ts, &d, s.wire);
    }

    /// One flow record.
    pub fn flow(&mut self, f: &FlowRecord) {
        let (start, end) = (f.start_ns, f.end_ns.max(f.start_ns));
        self.counters.flows += 1;
        self.counters.packets += f.packets + f.rev_packets;
        self.counters.bytes += f.bytes + f.rev_bytes;
        self.see_ts(start, end);
        if let Some(fd) = self.flowdet.as_mut() {
            fd.flow(f);
        }
        if self.host.is_some() {
            self.replay(f, start, end);
        }
        self.devices(f, start, end);
    }

    fn replay(&mut self, f: &FlowRecord, start: i64, end: i64) {
        const SYN: u8 = 0x02;
        const ACK: u8 = 0x10;
        for reverse in [false, true] {
            let (pkts, bytes, flags) = if reverse {
                (f.rev_packets, f.rev_bytes, f.rev_tcp_flags)
            } else {
                (f.packets.max(1), f.bytes, f.tcp_flags)
            };
            if pkts == 0 {
                continue;
            }
            let n = pkts.min(MAX_REPLAY);
            let wire = (bytes / pkts).clamp(20, 65_535) as u32;
            let first_flags = if flags & SYN != 0 {
                flags & (SYN | ACK)
            } else if flags == 0 && f.proto == 6 {
                ACK
            } else {
                flags
            };
            let later_flags = if flags & ACK != 0 { ACK } else { first_flags };
            let (src, dst, sport, dport, smac, dmac) = if reverse {
                (f.dst, f.src, f.dst_port, f.src_port, f.dst_mac, f.src_mac)
            } else {
                (f.src, f.dst, f.src_port, f.dst_port, f.src_mac, f.dst_mac)
            };
            // ICMP keeps its type/code "port"; the echo reply of a request is type 0 / 129.
            let dport = match (reverse, f.proto) {
                (true, 1) => f.dst_port & 0x00ff,
                (true, 58) => (129 << 8) | (f.dst_port & 0x00ff),
                (true, _) => dport,
                (false, _) => dport,
            };
            for i in 0..n {
                let ts = if n > 1 {
                    start + ((end - start) as i128 * i as i128 / (n - 1) as i128) as i64
                } else {
                    start
                } + i64::from(reverse);
                self.push(
                    ts,
                    Synth {
                        src,
                        dst,
                        sport,
                        dport,
                        proto: f.proto,
                        flags: if i == 0 { first_flags } else { later_flags },
                        wire,
                        src_mac: smac,
                        dst_mac: dmac,
                    },
                );
            }
        }
    }

    fn devices(&mut self, f: &FlowRecord, start: i64, end: i64) {
        if let Some(mac) = f.src_mac
            && let Some(d) = self.inventory.device(mac, start)
        {
            d.sent_frames = true;
            d.packets += f.packets;
            d.bytes += f.bytes;
            d.last_seen = d.last_seen.max(end);
            d.saw_ip(f.src, start);
        }
        if f.rev_packets > 0
            && let Some(mac) = f.dst_mac
            && let Some(d) = self.inventory.device(mac, start)
        {
            d.sent_frames = true;
            d.packets += f.rev_packets;
            d.bytes += f.rev_bytes;
            d.last_seen = d.last_seen.max(end);
            d.saw_ip(f.dst, start);
            // It answered: a TCP SYN-ACK (or any reply when flags are unknown) / UDP reply.
            let answered_tcp =
                f.proto == 6 && (f.rev_tcp_flags & 0x12 == 0x12 || f.rev_tcp_flags == 0);
            let proto = if f.proto == 17 { "udp" } else { "tcp" };
            if is_local(&f.dst) && (answered_tcp || f.proto == 17) {
                d.observe(Observation::Service {
                    proto,
                    port: f.dst_port,
                });
                // The initiator is routable: reached from outside the local segment.
                if !is_local(&f.src) && !f.src.is_multicast() {
                    d.saw_external_service(proto, f.dst_port);
                }
            }
        }
    }

    fn observe(&mut self, mac: Option<[u8; 6]>, ip: Option<IpAddr>, ts: i64, obs: Observation) {
        let Some(mac) = mac else { return };
        if let Some(d) = self.inventory.device(mac, ts) {
            d.sent_frames = true;
            if let Some(ip) = ip {
                d.saw_ip(ip, ts);
            }
            d.observe(obs);
        }
    }

    /// One Suricata EVE event.
    pub fn eve(&mut self, r: &EveRecord) {
        self.counters.eve_events += 1;
        self.see_ts(r.ts_ns, r.ts_ns);
        match &r.event {
            EveEvent::Flow { flow, .. } => self.flow(flow),
            EveEvent::Alert {
                signature_id,
                rev,
                signature,
                category,
                severity,
                action,
            } => {
                let src_local = r.src.as_ref().is_some_and(is_local);
                let device = if src_local { r.src_mac } else { r.dst_mac };
                let (src, dst) = (
                    r.src.map(|a| a.to_string()).unwrap_or_default(),
                    r.dst.map(|a| a.to_string()).unwrap_or_default(),
                );
                let mut f = Finding::new(
                    Kind::Signature,
                    format!("sid:{signature_id} {src}->{dst}"),
                    device,
                    r.ts_ns,
                );
                f.src = r.src;
                f.dst = r.dst;
                f.severity = Some(match severity {
                    1 => Severity::High,
                    2 => Severity::Medium,
                    3 => Severity::Low,
                    _ => Severity::Info,
                });
                f.summary = format!("[1:{signature_id}:{rev}] {signature}");
                f.evidence = serde_json::json!({
                    "sid": signature_id,
                    "rev": rev,
                    "msg": signature,
                    "classtype": category,
                    "action": action,
                    "source": "suricata eve.json",
                    "flow_id": r.flow_id,
                });
                f.lists.push((
                    "flows",
                    format!("{} {src}:{} -> {dst}:{}", r.proto, r.src_port, r.dst_port),
                ));
                self.signatures.add(f);
            }
            EveEvent::Dns {
                query: true,
                rrname: Some(name),
                ..
            } => self.observe(
                r.src_mac,
                r.src,
                r.ts_ns,
                Observation::DnsQuery(name.clone()),
            ),
            EveEvent::Http {
                user_agent, server, ..
            } => {
                if let Some(ua) = user_agent {
                    self.observe(
                        r.src_mac,
                        r.src,
                        r.ts_ns,
                        Observation::HttpUserAgent(ua.clone()),
                    );
                }
                if let Some(sv) = server {
                    self.observe(
                        r.dst_mac,
                        r.dst,
                        r.ts_ns,
                        Observation::HttpServer(sv.clone()),
                    );
                }
            }
            EveEvent::Tls { sni, ja3, ja4, .. } if ja3.is_some() || ja4.is_some() => {
                let obs = Observation::TlsClient {
                    sni: sni.clone(),
                    ja3: ja3.clone().unwrap_or_default(),
                    ja4: ja4.clone().unwrap_or_default(),
                };
                self.observe(r.src_mac, r.src, r.ts_ns, obs);
            }
            EveEvent::Dhcp {
                dhcp_type,
                client_mac,
                assigned_ip,
                client_ip,
                hostname,
                vendor_class,
                ..
            } => {
                let is_server_reply = matches!(dhcp_type.as_deref(), Some("offer" | "ack"));
                let obs = if is_server_reply {
                    Observation::Hostname {
                        name: hostname.clone().unwrap_or_default(),
                        source: "dhcp",
                    }
                } else {
                    Observation::DhcpClient {
                        hostname: hostname.clone(),
                        vendor_class: vendor_class.clone(),
                        param_list: None,
                        requested_ip: None,
                        message_type: None,
                    }
                };
                let ip = assigned_ip.or(*client_ip);
                self.observe(client_mac.or(r.src_mac), ip, r.ts_ns, obs);
            }
            _ => {}
        }
    }

    /// Alerts as they stand now (live metrics); synthetic packets still held for time
    /// ordering are counted only once released.
    pub fn alerts_now(&self) -> Vec<palisade_detect::Alert> {
        let mut parts = vec![self.signatures.clone()];
        if let Some(h) = &self.host {
            parts.push(h.snapshot());
        }
        if let Some(fd) = &self.flowdet {
            parts.push(fd.snapshot());
        }
        palisade_detect::finalize(&self.opts.engine.detect, parts, None, rfc3339)
    }

    /// Finishes detection and builds the report (same schema as `analyze`).
    pub fn finish(mut self, inputs: Vec<InputReport>) -> Report {
        while !self.heap.is_empty() {
            self.release_one();
        }
        let mut parts = vec![self.signatures];
        if let Some(h) = self.host.take() {
            parts.push(h.finish());
        }
        if let Some(fd) = self.flowdet.take() {
            parts.push(fd.finish());
        }
        let alerts = palisade_detect::finalize(&self.opts.engine.detect, parts, None, rfc3339);
        let devices_evicted = self.inventory.evicted;
        let devices = crate::build_devices(self.inventory.into_devices(), &alerts, &self.opts);
        let duration = match (self.first_ts, self.last_ts) {
            (Some(f), Some(l)) => (l - f) as f64 / 1e9,
            _ => 0.0,
        };
        let elapsed = self.started.elapsed().as_secs_f64();
        Report {
            palisade_version: env!("CARGO_PKG_VERSION").to_string(),
            inputs,
            summary: Summary {
                packets: self.counters.packets,
                bytes: self.counters.bytes,
                flows: self.counters.flows,
                devices: devices.len() as u64,
                alerts: alerts.len() as u64,
                capture_duration_s: (duration * 1e6).round() / 1e6,
                elapsed_s: (elapsed * 1e6).round() / 1e6,
                flows_evicted: 0,
                devices_evicted,
                malformed_packets: 0,
                fragments_reassembled: 0,
            },
            devices,
            alerts,
        }
    }
}

fn v6(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(x) => x.to_ipv6_mapped().octets(),
        IpAddr::V6(x) => x.octets(),
    }
}
