//! One pipeline worker: decode → flow table → application parsers → inventory.
//!
//! A worker owns all its state, so several can run side by side on packets sharded by
//! [`palisade_packet::shard_hash`] and be merged at the end.

use std::net::IpAddr;

use palisade_flow::{
    Direction, FlowConfig, FlowRecord, FlowTable, PacketMeta, TcpState, addr_from_v4,
};
use palisade_inventory::{Inventory, Mac, Observation, is_local_address};
use palisade_packet::{
    Anomaly, Decoded, Network, Reassembler, Transport, decode, decode_transport, ethertype,
};
use palisade_proto as proto;

/// Per-flow parser state.
#[derive(Debug, Default)]
pub struct FlowApp {
    /// MACs of initiator and responder as first seen.
    pub macs: [Option<Mac>; 2],
    /// Payload-carrying packets inspected per direction (bounded: parsers look at the start).
    pub inspected: [u8; 2],
    pub app: Option<&'static str>,
    pub service_noted: bool,
    /// Payload detector state (empty unless a detector follows this flow).
    pub det: palisade_detect::FlowDet,
    /// Signature-rule state (allocated only when `--rules` is given).
    pub rules: Option<Box<palisade_rules::FlowRules>>,
}

/// How many payload packets per direction the parsers look at.
const INSPECT_PER_DIRECTION: u8 = 8;

/// Receives flows as they end (NDJSON output); must be cheap.
pub trait FlowSink: Send {
    fn flow(&mut self, record: &FlowRecord, app: Option<&'static str>);
}

#[derive(Debug, Clone, Copy)]
pub struct EngineConfig {
    pub flow: FlowConfig,
    pub max_devices: usize,
    pub max_fragment_datagrams: usize,
    /// Threat detectors (thresholds, caps; `enabled: false` = sensor only).
    pub detect: palisade_detect::DetectConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            flow: FlowConfig::default(),
            max_devices: 16_384,
            max_fragment_datagrams: 1024,
            detect: palisade_detect::DetectConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct EngineCounters {
    pub packets: u64,
    pub bytes: u64,
    pub malformed: u64,
    pub first_ts: Option<i64>,
    pub last_ts: Option<i64>,
}

pub struct Engine {
    pub flows: FlowTable<FlowApp>,
    pub inventory: Inventory,
    pub reassembler: Reassembler,
    pub counters: EngineCounters,
    next_expiry: i64,
    last_src: Option<(Mac, IpAddr)>,
    /// Recently parsed discovery datagrams (mDNS/SSDP announcements repeat verbatim); a
    /// repeat only re-asserts facts already recorded, so it is not parsed again.
    seen_discovery: Box<[u64]>,
    /// Payload/flow-level detectors for the flows this worker owns.
    pub detector: Option<palisade_detect::FlowDetector>,
    /// Host-level detectors; only in single-threaded mode (with workers they run on the
    /// reading thread, see `Workers::push`).
    pub host: Option<Box<palisade_detect::HostDetector>>,
    /// Signature rules (opt-in: `analyze --rules DIR`); `None` costs one branch per packet.
    pub rules: Option<palisade_rules::RuleEngine>,
    /// Input position of the packet being processed, set by the reader (orders rule events
    /// with equal timestamps as the input does; 0 when unknown).
    pub ordinal: u64,
}

impl Engine {
    pub fn new(cfg: EngineConfig) -> Self {
        Engine {
            flows: FlowTable::new(cfg.flow),
            inventory: Inventory::new(cfg.max_devices),
            reassembler: Reassembler::new(cfg.max_fragment_datagrams, 16 << 20),
            counters: EngineCounters::default(),
            next_expiry: i64::MIN,
            last_src: None,
            seen_discovery: vec![0u64; DISCOVERY_CACHE].into_boxed_slice(),
            detector: cfg
                .detect
                .enabled
                .then(|| palisade_detect::FlowDetector::new(cfg.detect)),
            host: None,
            rules: None,
            ordinal: 0,
        }
    }

    /// An engine that also runs the host-level detectors (single-threaded analysis).
    pub fn with_host_detector(cfg: EngineConfig) -> Self {
        let mut e = Engine::new(cfg);
        if cfg.detect.enabled {
            e.host = Some(Box::new(palisade_detect::HostDetector::new(cfg.detect)));
        }
        e
    }

    /// Processes one captured frame.
    pub fn process(
        &mut self,
        ts: i64,
        link_type: u32,
        frame: &[u8],
        wire_len: u32,
        sink: &mut dyn FlowSink,
    ) {
        let c = &mut self.counters;
        c.packets += 1;
        c.bytes += wire_len as u64;
        c.first_ts = Some(c.first_ts.map_or(ts, |f| f.min(ts)));
        c.last_ts = Some(c.last_ts.map_or(ts, |l| l.max(ts)));
        let mut d = decode(link_type, frame);
        if let Some(h) = self.host.as_mut() {
            h.packet(ts, &d, wire_len);
        }
        let reassembled;
        if let (Transport::Fragment, Network::Ipv4(ip)) = (d.transport, d.network) {
            match self.reassembler.push(ts, &ip, d.l3_payload) {
                Some(whole) => {
                    reassembled = whole;
                    d.payload = &[];
                    decode_transport(ip.proto, &reassembled, &mut d);
                }
                None => {
                    self.account_l2(ts, &d, wire_len);
                    return;
                }
            }
        }
        if !d.anomalies.is_empty() && d.anomalies.0 & !Anomaly::FRAGMENT != 0 {
            self.counters.malformed += 1;
        }
        self.account_l2(ts, &d, wire_len);
        match d.network {
            Network::Arp(arp) => {
                if arp.sender_ip != [0; 4]
                    && let Some(dev) = self.inventory.device(arp.sender_mac, ts)
                {
                    dev.saw_ip(IpAddr::from(arp.sender_ip), ts);
                    dev.protocols.insert("arp");
                }
            }
            Network::Other(et) => self.layer2_protocols(ts, et, &d),
            Network::Ipv4(_) | Network::Ipv6(_) => self.ip_packet(ts, &d, wire_len),
            Network::None => {}
        }
        if ts >= self.next_expiry {
            self.flows.expire(ts);
            self.next_expiry = ts.saturating_add(1_000_000_000);
        }
        if self.flows.has_finished() {
            self.finish_flows(sink);
        }
    }

    /// Ends every flow (end of input) and reports them.
    pub fn finish(&mut self, sink: &mut dyn FlowSink) {
        while self.flows.drain_some(4096) > 0 {
            self.finish_flows(sink);
        }
        self.finish_flows(sink);
    }

    fn finish_flows(&mut self, sink: &mut dyn FlowSink) {
        for (rec, app) in self.flows.take_finished() {
            sink.flow(&rec, app.as_ref().and_then(|a| a.app));
            if let (Some(det), Some(a)) = (self.detector.as_mut(), app) {
                det.flow_end(a.det, rec.stats.last_ts);
            }
        }
    }

    fn account_l2(&mut self, ts: i64, d: &Decoded<'_>, wire_len: u32) {
        if let Some(src) = d.src_mac
            && let Some(dev) = self.inventory.device(src, ts)
        {
            dev.sent_frames = true;
            dev.packets += 1;
            dev.bytes += wire_len as u64;
            if let Some(ttl) = d.ttl()
                && dev.ttls.len() < 16
            {
                dev.ttls.insert(ttl);
            }
            if let Transport::Tcp(t) = d.transport
                && t.flags & palisade_packet::tcpflags::SYN != 0
                && let Some(src_ip) = d.src_ip()
            {
                dev.saw_tcp_syn(&src_ip, ip_facts(&d.network), d.l3_payload);
            }
            dev.behaviour.frame(wire_len);
            if let (Some(proto), Some(dst)) = (d.ip_proto(), d.dst_ip()) {
                let port = d.ports().map(|(_, p)| p);
                dev.behaviour.ip(proto, &dst, port, d.ttl().unwrap_or(0));
            }
        }
        if let Some(dst) = d.dst_mac
            && let Some(dev) = self.inventory.device(dst, ts)
        {
            dev.packets += 1;
            dev.bytes += wire_len as u64;
        }
    }

    fn observe(&mut self, mac: Option<Mac>, ts: i64, obs: Observation) {
        if let Some(m) = mac
            && let Some(dev) = self.inventory.device(m, ts)
        {
            dev.observe(obs);
        }
    }

    fn layer2_protocols(&mut self, ts: i64, et: u16, d: &Decoded<'_>) {
        let p = d.l3_payload;
        if et == ethertype::LLDP {
            if let Ok(l) = proto::lldp::parse(p) {
                let router = l
                    .capabilities
                    .is_some_and(|(_, en)| en & proto::lldp::CAP_ROUTER != 0);
                self.observe(
                    d.src_mac,
                    ts,
                    Observation::Lldp {
                        system_name: l.system_name.map(lossy),
                        system_description: l.system_description.map(lossy),
                        router,
                    },
                );
                self.observe(d.src_mac, ts, Observation::Protocol("lldp"));
            }
        } else if et == 0 {
            // 802.3 + LLC/SNAP with Cisco OUI and PID 0x2000 is CDP.
            if p.get(..8) == Some(&[0xaa, 0xaa, 0x03, 0x00, 0x00, 0x0c, 0x20, 0x00])
                && let Ok(c) = proto::cdp::parse(p.get(8..).unwrap_or(&[]))
            {
                self.observe(
                    d.src_mac,
                    ts,
                    Observation::Cdp {
                        device_id: c.device_id.map(lossy),
                        platform: c.platform.map(lossy),
                        // IOS puts its name and version on separate lines: keep three.
                        software: c.software_version.map(|s| {
                            let text = lossy(s);
                            let lines: Vec<&str> = text
                                .lines()
                                .map(str::trim)
                                .filter(|l| !l.is_empty())
                                .take(3)
                                .collect();
                            lines.join(", ").chars().take(240).collect()
                        }),
                    },
                );
                self.observe(d.src_mac, ts, Observation::Protocol("cdp"));
            }
        } else if et == ethertype::EAPOL {
            self.observe(d.src_mac, ts, Observation::Protocol("eapol"));
        }
    }

    fn ip_packet(&mut self, ts: i64, d: &Decoded<'_>, wire_len: u32) {
        let (src_ip, dst_ip) = match (d.src_ip(), d.dst_ip()) {
            (Some(s), Some(t)) => (s, t),
            _ => return,
        };
        let src_local = is_local_address(&src_ip);
        if let Some(mac) = d.src_mac
            && self.last_src != Some((mac, src_ip))
        {
            if let Some(dev) = self.inventory.device(mac, ts) {
                dev.saw_ip(src_ip, ts);
            }
            self.last_src = Some((mac, src_ip));
        }
        // Evidence is only credited to the sending MAC when the source address is local:
        // packets from the internet arrive with the gateway's MAC.
        let ev_mac = if src_local { d.src_mac } else { None };
        let (src_port, dst_port, flags, proto_num) = match d.transport {
            Transport::Tcp(t) => (t.src_port, t.dst_port, t.flags, 6u8),
            Transport::Udp(u) => (u.src_port, u.dst_port, 0, 17u8),
            Transport::Icmp { icmp_type, .. } => (icmp_type as u16, 0, 0, 1u8),
            Transport::Icmpv6 { icmp_type, .. } => {
                if icmp_type == 134 {
                    self.observe(d.src_mac, ts, Observation::RouterAdvert);
                }
                (icmp_type as u16, 0, 0, 58u8)
            }
            Transport::Other(p) => (0, 0, 0, p),
            Transport::None | Transport::Fragment => return,
        };
        let meta = PacketMeta {
            ts_ns: ts,
            src: to_addr(src_ip),
            dst: to_addr(dst_ip),
            src_port,
            dst_port,
            proto: proto_num,
            vlan: d.vlan[0],
            tcp_flags: flags,
            wire_len,
            payload_len: d.payload.len() as u32,
        };
        let u = self.flows.update(&meta);
        let dir = u.direction;
        let di = dir.index();
        let app_state = u.state;
        if u.is_new {
            let (a, b) = if dir == Direction::ToResponder {
                (d.src_mac, d.dst_mac)
            } else {
                (d.dst_mac, d.src_mac)
            };
            app_state.macs = [a, b];
        }
        // A reply from the responder makes it a service (TCP: the SYN-ACK).
        let mut service = None;
        if !app_state.service_noted && dir == Direction::ToInitiator && src_local {
            let established =
                matches!(u.stats.state, TcpState::SynReceived | TcpState::Established);
            if (proto_num == 6 && established && flags & 0x12 == 0x12)
                || (proto_num == 17 && src_port < 49152 && src_port != 0)
            {
                app_state.service_noted = true;
                service = Some((if proto_num == 6 { "tcp" } else { "udp" }, src_port));
            }
        }
        // TCP parsers look at the start of a connection. UDP discovery protocols are
        // many-to-many (every DHCP DISCOVER shares 0.0.0.0:68 → 255.255.255.255:67), so
        // every datagram on their ports is parsed.
        let inspect = !d.payload.is_empty()
            && (proto_num == 17 || app_state.inspected[di] < INSPECT_PER_DIRECTION);
        if proto_num == 6
            && !d.payload.is_empty()
            && let Some(det) = self.detector.as_mut()
            && (app_state.inspected[di] < INSPECT_PER_DIRECTION
                || app_state.det.wants_more(dir == Direction::ToResponder))
        {
            let st = u.stats;
            det.tcp_payload(
                &mut app_state.det,
                &palisade_detect::TcpPayload {
                    ts,
                    to_server: dir == Direction::ToResponder,
                    client: st.initiator,
                    server: st.responder,
                    client_port: st.initiator_port,
                    server_port: st.responder_port,
                    client_mac: app_state.macs[0],
                    server_mac: app_state.macs[1],
                    payload: d.payload,
                },
            );
        }
        if let Some(re) = self.rules.as_mut() {
            let dev = if src_local { d.src_mac } else { None };
            let at = (ts, self.ordinal);
            crate::rules::packet(re, &mut app_state.rules, at, d, &meta, dir, u.stats, dev);
        }
        if inspect && proto_num == 6 {
            app_state.inspected[di] += 1;
        }
        let known_app = app_state.app;
        let responder_port = u.stats.responder_port;
        if let Some((p, port)) = service {
            self.observe(ev_mac, ts, Observation::Service { proto: p, port });
            // The reply goes to the initiator: a routable one reached the service from
            // outside the local segment (risk exposure).
            if !is_local_address(&dst_ip)
                && !dst_ip.is_multicast()
                && let Some(m) = ev_mac
                && let Some(dev) = self.inventory.device(m, ts)
            {
                dev.saw_external_service(p, port);
            }
        }
        if !inspect {
            return;
        }
        let p = d.payload;
        let app = match proto_num {
            17 => self.udp_app(ts, d, ev_mac, src_port, dst_port, p),
            6 => self.tcp_app(ts, ev_mac, dir, responder_port, known_app, p),
            _ => None,
        };
        if let Some(a) = app {
            self.observe(ev_mac, ts, Observation::Protocol(a));
            if known_app.is_none()
                && let Some(st) = self.flows.state_mut(&meta.key().0)
            {
                st.app = Some(a);
            }
        }
    }

    /// True when this exact discovery datagram from this sender was parsed recently.
    fn discovery_repeat(&mut self, mac: Option<Mac>, sp: u16, dp: u16, p: &[u8]) -> bool {
        let key = discovery_key(mac, sp, dp, p);
        let slot = &mut self.seen_discovery[(key as usize) % DISCOVERY_CACHE];
        let repeat = *slot == key;
        *slot = key;
        repeat
    }

    fn udp_app(
        &mut self,
        ts: i64,
        d: &Decoded<'_>,
        ev_mac: Option<Mac>,
        sp: u16,
        dp: u16,
        p: &[u8],
    ) -> Option<&'static str> {
        let src_mac = d.src_mac;
        if (sp == 68 && dp == 67) || (sp == 67 && dp == 68) {
            let m = proto::dhcp::parse(p).ok()?;
            if m.op == 1 {
                // The client MAC from chaddr is authoritative (relayed requests).
                let mac = if m.htype == 1 && m.hlen == 6 {
                    Some(m.client_mac)
                } else {
                    src_mac
                };
                self.observe(
                    mac,
                    ts,
                    Observation::DhcpClient {
                        hostname: m.hostname.map(lossy),
                        vendor_class: m.vendor_class.map(lossy),
                        param_list: m.param_request_list.map(proto::dhcp::fingerprint_string),
                        requested_ip: m.requested_ip.map(IpAddr::from),
                        message_type: m.message_type,
                    },
                );
                if let (Some(mac), Some(ip)) = (mac, m.requested_ip)
                    && let Some(dev) = self.inventory.device(mac, ts)
                {
                    dev.saw_ip(IpAddr::from(ip), ts);
                }
                self.observe(mac, ts, Observation::Protocol("dhcp"));
            } else if m.op == 2 {
                self.observe(src_mac, ts, Observation::DhcpServer);
                // The server tells us which address the client got.
                if m.yiaddr != [0; 4]
                    && matches!(m.message_type, Some(5))
                    && let Some(dev) = self.inventory.get_mut(&m.client_mac)
                {
                    dev.saw_ip(IpAddr::from(m.yiaddr), ts);
                }
            }
            return Some("dhcp");
        }
        if sp == 5353 || dp == 5353 {
            if self.discovery_repeat(ev_mac, sp, dp, p) {
                return Some("mdns");
            }
            let m = proto::dns::parse(p).ok()?;
            if m.is_response {
                self.mdns_response(ts, ev_mac, &m);
            }
            return Some("mdns");
        }
        if dp == 53 || sp == 53 {
            let m = proto::dns::parse(p).ok()?;
            if let Some(det) = self.detector.as_mut() {
                det.dns_packet(ts, d, &m);
            }
            if !m.is_response && dp == 53 {
                for q in m.questions.iter().take(4) {
                    self.observe(ev_mac, ts, Observation::DnsQuery(q.name.clone()));
                }
            }
            return Some("dns");
        }
        if dp == 1900 || sp == 1900 {
            if self.discovery_repeat(ev_mac, sp, dp, p) {
                return Some("ssdp");
            }
            let s = proto::ssdp::parse(p).ok()?;
            match s.kind {
                proto::ssdp::SsdpKind::MSearch => self.observe(
                    ev_mac,
                    ts,
                    Observation::SsdpSearch {
                        search_target: s.st.map(lossy),
                        user_agent: s.user_agent.map(lossy),
                    },
                ),
                _ => {
                    let kind = s.nt.or(s.st).map(lossy);
                    // uuid:… and rootdevice announcements repeat per device; the server line
                    // and typed URNs carry the information.
                    let kind = kind.filter(|k| !k.starts_with("uuid:") && k != "upnp:rootdevice");
                    let extra: Vec<(String, String)> = s
                        .headers
                        .iter()
                        .filter(|(n, _)| {
                            let n = lossy(n).to_ascii_lowercase();
                            n == "hue-bridgeid" || n == "x-user-agent" || n == "x-model-name"
                        })
                        .take(4)
                        .map(|(n, v)| (lossy(n).to_ascii_lowercase(), lossy(v)))
                        .collect();
                    self.observe(
                        ev_mac,
                        ts,
                        Observation::SsdpAdvert {
                            server: s.server.map(lossy),
                            kind,
                            usn: None,
                            location: s.location.map(lossy),
                            extra,
                        },
                    );
                }
            }
            return Some("ssdp");
        }
        if sp == 123 || dp == 123 {
            proto::ntp::peek_version_mode(p)?;
            return Some("ntp");
        }
        if sp == 5683 || dp == 5683 {
            let c = proto::coap::parse(p).ok()?;
            if c.code_class() == 0
                && c.code != 0
                && let Some(path) = c.uri_path()
            {
                self.observe(ev_mac, ts, Observation::CoapResource(path));
            }
            return Some("coap");
        }
        None
    }

    fn mdns_response(&mut self, ts: i64, ev_mac: Option<Mac>, m: &proto::dns::DnsMessage<'_>) {
        use proto::dns::RData;
        let records: Vec<&proto::dns::Record<'_>> = m.records().take(64).collect();
        let mut obs = Vec::new();
        for r in &records {
            match &r.data {
                RData::Ptr(target) => {
                    let owner = r.name.trim_end_matches('.');
                    if owner.eq_ignore_ascii_case("_services._dns-sd._udp.local") {
                        obs.push(Observation::MdnsService {
                            service_type: service_type_of(target),
                            instance: None,
                            txt: Vec::new(),
                        });
                    } else if owner.starts_with('_') && !owner.ends_with(".arpa") {
                        let ty = service_type_of(owner);
                        let inst = instance_label(target, owner);
                        let txt = records
                            .iter()
                            .find_map(|t| match &t.data {
                                RData::Txt(parts) if t.name.eq_ignore_ascii_case(target) => {
                                    Some(txt_pairs(parts))
                                }
                                _ => None,
                            })
                            .unwrap_or_default();
                        obs.push(Observation::MdnsService {
                            service_type: ty,
                            instance: inst,
                            txt,
                        });
                    }
                }
                RData::Srv { target, .. } => obs.push(Observation::Hostname {
                    name: target.clone(),
                    source: "mdns",
                }),
                RData::A(_) | RData::Aaaa(_)
                    if !r.name.ends_with(".arpa") && !r.name.ends_with(".arpa.") =>
                {
                    obs.push(Observation::Hostname {
                        name: r.name.clone(),
                        source: "mdns",
                    })
                }
                RData::Txt(parts) => {
                    // A TXT record for an instance whose PTR was not in this packet.
                    let owner = r.name.trim_end_matches('.');
                    let has_ptr = records.iter().any(
                        |p| matches!(&p.data, RData::Ptr(t) if t.trim_end_matches('.').eq_ignore_ascii_case(owner)),
                    );
                    if !has_ptr && let Some((inst, ty)) = split_instance(owner) {
                        obs.push(Observation::MdnsService {
                            service_type: ty,
                            instance: Some(inst),
                            txt: txt_pairs(parts),
                        });
                    }
                }
                _ => {}
            }
        }
        for o in obs {
            self.observe(ev_mac, ts, o);
        }
    }

    fn tcp_app(
        &mut self,
        ts: i64,
        ev_mac: Option<Mac>,
        dir: Direction,
        responder_port: u16,
        known: Option<&'static str>,
        p: &[u8],
    ) -> Option<&'static str> {
        let to_server = dir == Direction::ToResponder;
        if p.len() >= 6 && p[0] == 0x16 && p[1] == 0x03 {
            if to_server {
                if let Ok(ch) = proto::tls::parse_client_hello(p) {
                    self.observe(
                        ev_mac,
                        ts,
                        Observation::TlsClient {
                            sni: ch.sni.map(str::to_string),
                            ja3: ch.ja3_hash(),
                            ja4: ch.ja4(proto::tls::Transport::Tcp),
                        },
                    );
                }
            } else {
                for c in proto::tls::certificate_subjects(p).into_iter().take(1) {
                    self.observe(
                        ev_mac,
                        ts,
                        Observation::TlsCertificate {
                            subject_cn: c.subject_cn,
                            subject_o: c.subject_o,
                        },
                    );
                }
            }
            return Some("tls");
        }
        if known == Some("tls") {
            return None;
        }
        if to_server && proto::http::looks_like_request(p) {
            if let Ok(r) = proto::http::parse_request(p)
                && let Some(ua) = r.user_agent()
            {
                self.observe(ev_mac, ts, Observation::HttpUserAgent(lossy(ua)));
            }
            return Some("http");
        }
        if !to_server && p.starts_with(b"HTTP/") {
            if let Ok(r) = proto::http::parse_response(p)
                && let Some(s) = r.server()
            {
                self.observe(ev_mac, ts, Observation::HttpServer(lossy(s)));
            }
            return Some("http");
        }
        if p.starts_with(b"SSH-") {
            if let Some(b) = proto::banner::ssh_banner(p) {
                self.observe(
                    ev_mac,
                    ts,
                    Observation::Banner {
                        protocol: "ssh",
                        text: b.chars().take(80).collect(),
                    },
                );
            }
            return Some("ssh");
        }
        if to_server && (responder_port == 1883 || p.first() == Some(&0x10)) {
            if let Ok(c) = proto::mqtt::parse_connect(p) {
                self.observe(
                    ev_mac,
                    ts,
                    Observation::MqttClient {
                        client_id: lossy(c.client_id),
                        protocol_level: c.protocol_level,
                        has_username: c.username.is_some(),
                    },
                );
                return Some("mqtt");
            }
            if responder_port == 1883 {
                return Some("mqtt");
            }
        }
        match responder_port {
            23 | 2323 => {
                if !to_server {
                    let t = proto::banner::telnet_text(p);
                    let line = t
                        .text
                        .lines()
                        .map(str::trim)
                        .find(|l| !l.is_empty())
                        .map(|l| l.chars().take(80).collect::<String>());
                    if let Some(text) = line {
                        self.observe(
                            ev_mac,
                            ts,
                            Observation::Banner {
                                protocol: "telnet",
                                text,
                            },
                        );
                    }
                }
                Some("telnet")
            }
            21 => {
                if !to_server && let Some((220, text)) = proto::banner::ftp_reply(p) {
                    self.observe(
                        ev_mac,
                        ts,
                        Observation::Banner {
                            protocol: "ftp",
                            text: text.chars().take(80).collect(),
                        },
                    );
                }
                Some("ftp")
            }
            _ => None,
        }
    }
}

/// Slots of the discovery repeat cache (direct-mapped, 32 KiB).
const DISCOVERY_CACHE: usize = 4096;

/// 64-bit key of (sender, ports, payload); never 0 so an empty slot cannot match.
fn discovery_key(mac: Option<Mac>, sp: u16, dp: u16, p: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let m = mac.map_or(0u64, |m| {
        u64::from_le_bytes([m[0], m[1], m[2], m[3], m[4], m[5], 0, 0])
    });
    let mut h = (m ^ ((sp as u64) << 48) ^ ((dp as u64) << 32) ^ p.len() as u64).wrapping_mul(K);
    let mut chunks = p.chunks_exact(8);
    for c in &mut chunks {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(a)).wrapping_mul(K);
    }
    let mut a = [0u8; 8];
    a[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    h = (h.rotate_left(5) ^ u64::from_le_bytes(a)).wrapping_mul(K);
    h | 1
}

fn to_addr(ip: IpAddr) -> palisade_flow::Addr {
    match ip {
        IpAddr::V4(v4) => addr_from_v4(v4.octets()),
        IpAddr::V6(v6) => v6.octets(),
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .chars()
        .filter(|c| !c.is_control())
        .take(256)
        .collect()
}

fn txt_pairs(parts: &[&[u8]]) -> Vec<(String, String)> {
    proto::dns::txt_pairs(parts)
        .take(24)
        .map(|(k, v)| (lossy(k), lossy(v)))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

/// "_hue._tcp.local" → "_hue._tcp"; "x._sub._http._tcp.local" → "_http._tcp".
fn service_type_of(name: &str) -> String {
    let n = name.trim_end_matches('.');
    let n = n.strip_suffix(".local").unwrap_or(n);
    let labels: Vec<&str> = n.split('.').collect();
    if labels.len() >= 2 {
        let l = labels.len();
        format!("{}.{}", labels[l - 2], labels[l - 1])
    } else {
        n.to_string()
    }
}

/// Instance label of "Philips Hue - 2476FF._hue._tcp.local" given the owner "_hue._tcp.local".
fn instance_label(target: &str, owner: &str) -> Option<String> {
    let t = target.trim_end_matches('.');
    let o = owner.trim_end_matches('.');
    t.strip_suffix(o)
        .map(|x| x.trim_end_matches('.').to_string())
        .filter(|x| !x.is_empty())
}

/// "Name._ipp._tcp.local" → ("Name", "_ipp._tcp").
fn split_instance(owner: &str) -> Option<(String, String)> {
    let n = owner.strip_suffix(".local").unwrap_or(owner);
    let i = n.find("._")?;
    let inst = &n[..i];
    let ty = &n[i + 1..];
    if inst.is_empty() || !(ty.ends_with("._tcp") || ty.ends_with("._udp")) {
        return None;
    }
    Some((inst.to_string(), service_type_of(ty)))
}

/// IP header facts for TCP fingerprinting. The decoder does not keep the IPv4 reserved flag or
/// the IPv6 traffic class, so p0f's `0+` quirk and IPv6 ECN are never reported.
pub fn ip_facts(n: &Network) -> palisade_inventory::IpFacts {
    match *n {
        Network::Ipv4(ip) => palisade_inventory::IpFacts {
            version: 4,
            ttl: ip.ttl,
            options_len: ip.header_len.saturating_sub(20),
            dont_fragment: ip.dont_fragment,
            id: ip.id,
            tos: ip.tos,
            reserved_flag: false,
            flow_label: 0,
        },
        Network::Ipv6(ip) => palisade_inventory::IpFacts {
            version: 6,
            ttl: ip.hop_limit,
            flow_label: ip.flow_label,
            ..Default::default()
        },
        _ => palisade_inventory::IpFacts::default(),
    }
}
