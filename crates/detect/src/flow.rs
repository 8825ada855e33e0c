//! Flow-level (payload) detectors, run inside each sensor worker where whole flows live:
//! telnet / FTP / HTTP Basic / MQTT logins (brute force, default and cleartext
//! credentials), IRC and Mirai binary C2, insecure services (telnet, FTP, plain MQTT,
//! SMBv1).
//!
//! Per-flow state ([`FlowDet`]) is allocated only for flows that look like one of these
//! protocols, at most [`DetectConfig::max_tracked_flows`] at a time, and every buffer in
//! it is capped. Passwords are held only until the login's outcome is known and never
//! appear in `Debug` output, alerts or logs (only masked).

use std::fmt;

use serde_json::json;

use crate::alert::{Aggregator, Finding, Kind, Mac};
use crate::config::DetectConfig;
use crate::creds::{base64_decode, default_list, mask};
use crate::net::{Addr, ascii, endpoint, hex, ip, is_local};

/// One TCP payload packet with the flow's orientation resolved.
#[derive(Debug, Clone, Copy)]
pub struct TcpPayload<'a> {
    pub ts: i64,
    /// From the initiator (client) to the responder (server).
    pub to_server: bool,
    pub client: Addr,
    pub server: Addr,
    pub client_port: u16,
    pub server_port: u16,
    pub client_mac: Option<Mac>,
    pub server_mac: Option<Mac>,
    pub payload: &'a [u8],
}

/// Per-flow detector state, kept in the sensor's flow table. Empty (one pointer) for
/// flows no detector follows.
#[derive(Default)]
pub struct FlowDet(Option<Box<State>>);

impl fmt::Debug for FlowDet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("FlowDet(none)"),
            Some(s) => write!(f, "FlowDet({:?}, verdict={:?})", s.proto, s.verdict),
        }
    }
}

impl FlowDet {
    /// Whether the detector wants payload packets beyond the sensor's usual first few.
    #[inline]
    pub fn wants_more(&self, to_server: bool) -> bool {
        match &self.0 {
            Some(s) => s.follow[usize::from(!to_server)] > 0,
            None => false,
        }
    }

    /// The flow-level verdict so far (a [`Kind`] id), for per-flow evaluation.
    pub fn verdict(&self) -> Option<&'static str> {
        self.0.as_ref().and_then(|s| s.verdict).map(Kind::as_str)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    Telnet,
    Ftp,
    Http,
    Mqtt,
    Irc,
    MiraiC2,
    Smb,
}

impl Proto {
    fn name(self) -> &'static str {
        match self {
            Proto::Telnet => "telnet",
            Proto::Ftp => "ftp",
            Proto::Http => "http-basic",
            Proto::Mqtt => "mqtt",
            Proto::Irc => "irc",
            Proto::MiraiC2 => "mirai-c2",
            Proto::Smb => "smb",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Login {
    Idle,
    /// A login/user prompt was seen (or FTP ready): the next client line is a username.
    WantUser,
    /// Username given: the next client line is a password.
    WantPass,
    /// Both given: waiting for the server's verdict.
    AwaitResult,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Success,
    Failure,
    Unknown,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Unknown => "unknown",
        }
    }
}

/// A credential waiting for its outcome. The password is masked in `Debug`.
struct Pending {
    user: String,
    pass: String,
    ts: i64,
}

impl fmt::Debug for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pending({:?}/{})", self.user, mask(&self.pass))
    }
}

#[derive(Debug)]
struct State {
    proto: Proto,
    t: TcpPayloadMeta,
    login: Login,
    line: Vec<u8>,
    user: Option<String>,
    pending: Option<Pending>,
    /// Server sent telnet negotiation or a login prompt (a real telnet service).
    telnet_confirmed: bool,
    insecure_reported: bool,
    /// Remaining extra payload packets per direction (0: to server, 1: to client).
    follow: [u16; 2],
    verdict: Option<Kind>,
    irc: Irc,
    mirai: Mirai,
    attempts: u16,
    failures: u16,
}

/// The flow's endpoints (copied from the first payload packet).
#[derive(Debug, Clone, Copy)]
struct TcpPayloadMeta {
    client: Addr,
    server: Addr,
    client_port: u16,
    server_port: u16,
    client_mac: Option<Mac>,
    server_mac: Option<Mac>,
    first_ts: i64,
}

#[derive(Debug, Default)]
struct Irc {
    nick: Option<String>,
    user: bool,
    channel: Option<String>,
    commands: Vec<String>,
    pings: u32,
    server_name: Option<String>,
    reported: bool,
}

#[derive(Debug, Default)]
struct Mirai {
    hello: Vec<u8>,
    keepalives: u32,
    commands: Vec<serde_json::Value>,
    reported: bool,
    broken: bool,
}

/// Handshakes repeating a reported `tls.weak` finding, not yet added to the aggregator.
#[derive(Debug, Clone)]
struct TlsRepeat {
    key: String,
    device: Option<Mac>,
    count: u64,
    last_ns: i64,
}

impl TlsRepeat {
    /// A count-only finding for the same aggregated alert.
    fn add_to(&self, agg: &mut Aggregator) {
        if self.count == 0 {
            return;
        }
        let mut f = Finding::new(Kind::TlsWeak, self.key.clone(), self.device, i64::MAX);
        f.count = self.count;
        f.last_ns = self.last_ns;
        f.evidence = serde_json::Value::Object(serde_json::Map::new());
        agg.add(f);
    }
}

/// Counters for documentation and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FlowCounters {
    pub followed: u64,
    pub not_followed_cap: u64,
    pub logins: u64,
}

/// The flow-level detector of one worker.
pub struct FlowDetector {
    cfg: DetectConfig,
    agg: Aggregator,
    dns: crate::dnsmemo::DnsMemo,
    dns_det: crate::dns::DnsDetector,
    /// `tls.weak` findings already reported, counted here on repeats so a device's every
    /// handshake does not build a finding (bounded: flushed into the aggregator when full).
    tls_seen: rustc_hash::FxHashMap<u64, TlsRepeat>,
    /// Verdicts on recent ClientHellos (devices repeat the same hello all day).
    hello_memo: crate::tls::HelloMemo,
    tracked: usize,
    pub counters: FlowCounters,
}

/// Non-standard ports are a C2 hint; these are IRC's usual ones.
fn irc_standard_port(p: u16) -> bool {
    (6660..=6669).contains(&p) || p == 6697 || p == 7000
}

/// Mirai attack vector ids (attack.h in the leaked source).
pub fn mirai_vector(v: u8) -> &'static str {
    match v {
        0 => "udp (generic)",
        1 => "vse",
        2 => "dns water torture",
        3 => "syn",
        4 => "ack",
        5 => "tcp stomp",
        6 => "gre ip",
        7 => "gre eth",
        9 => "udp plain",
        10 => "http",
        _ => "unknown",
    }
}

/// Parses a Mirai C2 attack command (length-prefixed: duration, vector, targets, options).
pub fn parse_mirai_attack(p: &[u8]) -> Option<serde_json::Value> {
    let len = u16::from_be_bytes([*p.first()?, *p.get(1)?]) as usize;
    if len != p.len() || len < 2 + 4 + 1 + 1 + 1 {
        return None;
    }
    let b = p.get(2..)?;
    let duration = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let vector = *b.get(4)?;
    let ntargets = *b.get(5)? as usize;
    if ntargets == 0 || duration == 0 || duration > 86_400 {
        return None;
    }
    let mut i = 6;
    let mut targets = Vec::new();
    for _ in 0..ntargets {
        let t = b.get(i..i + 5)?;
        if t[4] > 32 {
            return None;
        }
        targets.push(format!("{}.{}.{}.{}/{}", t[0], t[1], t[2], t[3], t[4]));
        i += 5;
    }
    let nopts = *b.get(i)? as usize;
    i += 1;
    let mut opts = serde_json::Map::new();
    for _ in 0..nopts {
        let k = *b.get(i)?;
        let l = *b.get(i + 1)? as usize;
        let v = b.get(i + 2..i + 2 + l)?;
        opts.insert(k.to_string(), ascii(v, 64).into());
        i += 2 + l;
    }
    if i != b.len() {
        return None;
    }
    targets.truncate(8);
    Some(json!({
        "vector_id": vector,
        "vector": mirai_vector(vector),
        "duration_s": duration,
        "targets": targets,
        "options": opts,
    }))
}

fn lower_ascii(b: &[u8], max: usize) -> String {
    b.iter()
        .take(max)
        .map(|c| c.to_ascii_lowercase() as char)
        .collect()
}

fn starts_with_ci(b: &[u8], p: &[u8]) -> bool {
    b.len() >= p.len() && b[..p.len()].eq_ignore_ascii_case(p)
}

/// Whether `needle` (lower-case ASCII, starting with a letter) occurs in `hay`, ignoring
/// ASCII case. Screens on the first byte so most positions cost one compare (every
/// HTTP request head is scanned for credentials).
fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    let Some(&first) = needle.first() else {
        return true;
    };
    if hay.len() < needle.len() {
        return false;
    }
    let last_start = hay.len() - needle.len();
    hay[..=last_start]
        .iter()
        .enumerate()
        .any(|(i, &c)| c | 0x20 == first && hay[i..i + needle.len()].eq_ignore_ascii_case(needle))
}

impl FlowDetector {
    pub fn new(cfg: DetectConfig) -> Self {
        FlowDetector {
            agg: Aggregator::new(cfg.max_alerts, cfg.evidence_list_max),
            dns: crate::dnsmemo::DnsMemo::new(4096),
            dns_det: crate::dns::DnsDetector::default(),
            tls_seen: rustc_hash::FxHashMap::default(),
            hello_memo: crate::tls::HelloMemo::default(),
            tracked: 0,
            counters: FlowCounters::default(),
            cfg,
        }
    }

    /// Flows with detector state right now.
    pub fn tracked(&self) -> usize {
        self.tracked
    }

    /// Decides whether to follow a new flow, from its first payload packet.
    fn classify(&self, p: &TcpPayload<'_>) -> Option<Proto> {
        let b = p.payload;
        let sp = p.server_port;
        if p.to_server {
            if b == [0, 0, 0, 1] || (b.len() <= 5 + 32 && b.starts_with(&[0, 0, 0, 1])) {
                return Some(Proto::MiraiC2);
            }
            if [&b"NICK "[..], b"USER ", b"PASS ", b"CAP LS"]
                .iter()
                .any(|k| starts_with_ci(b, k))
                && !matches!(sp, 21 | 25 | 110 | 143 | 587)
            {
                return Some(Proto::Irc);
            }
            if b.len() > 8 && b.get(4..8) == Some(b"\xffSMB") {
                return Some(Proto::Smb);
            }
            if palisade_proto::http::looks_like_request(b) {
                let head = &b[..b.len().min(4096)];
                if contains_ci(head, b"authorization: ") {
                    return Some(Proto::Http);
                }
                return None;
            }
            if b.first() == Some(&0x10) && palisade_proto::mqtt::parse_connect(b).is_ok() {
                return Some(Proto::Mqtt);
            }
        } else {
            if starts_with_ci(b, b"NOTICE AUTH")
                || (b.first() == Some(&b':') && b.windows(7).any(|w| w == b" NOTICE"))
            {
                return Some(Proto::Irc);
            }
            if b.first() == Some(&0xff) && b.get(1).is_some_and(|c| (251..=254).contains(c)) {
                return Some(Proto::Telnet);
            }
        }
        match sp {
            23 | 2323 => Some(Proto::Telnet),
            21 => Some(Proto::Ftp),
            1883 => Some(Proto::Mqtt),
            _ => None,
        }
    }

    /// Feeds one TCP payload packet of a flow.
    pub fn tcp_payload(&mut self, det: &mut FlowDet, p: &TcpPayload<'_>) {
        if p.payload.is_empty() {
            return;
        }
        if det.0.is_none() && p.payload.starts_with(&[0x16, 0x03]) {
            self.tls(p);
            return;
        }
        if det.0.is_none() {
            let Some(proto) = self.classify(p) else {
                return;
            };
            if self.tracked >= self.cfg.max_tracked_flows {
                self.counters.not_followed_cap += 1;
                return;
            }
            self.tracked += 1;
            self.counters.followed += 1;
            det.0 = Some(Box::new(State {
                proto,
                t: TcpPayloadMeta {
                    client: p.client,
                    server: p.server,
                    client_port: p.client_port,
                    server_port: p.server_port,
                    client_mac: p.client_mac,
                    server_mac: p.server_mac,
                    first_ts: p.ts,
                },
                login: if proto == Proto::Ftp {
                    Login::WantUser
                } else {
                    Login::Idle
                },
                line: Vec::new(),
                user: None,
                pending: None,
                telnet_confirmed: false,
                insecure_reported: false,
                follow: [self.cfg.follow_packets; 2],
                verdict: None,
                irc: Irc::default(),
                mirai: Mirai::default(),
                attempts: 0,
                failures: 0,
            }));
        }
        let Some(st) = det.0.as_mut() else { return };
        let d = usize::from(!p.to_server);
        st.follow[d] = st.follow[d].saturating_sub(1);
        match st.proto {
            Proto::Telnet => self.telnet(st, p),
            Proto::Ftp => self.ftp(st, p),
            Proto::Http => self.http(st, p),
            Proto::Mqtt => self.mqtt(st, p),
            Proto::Irc => self.irc(st, p),
            Proto::MiraiC2 => self.mirai(st, p),
            Proto::Smb => self.smb(st, p),
        }
    }

    /// The flow ended: resolves pending logins and releases the state.
    pub fn flow_end(&mut self, det: FlowDet, ts: i64) {
        let Some(mut st) = det.0 else { return };
        self.tracked = self.tracked.saturating_sub(1);
        if st.proto == Proto::Irc
            && !st.irc.reported
            && st.irc.nick.is_some()
            && (st.irc.user || st.irc.channel.is_some())
            && is_local(&st.t.client)
        {
            st.irc.reported = true;
            st.verdict = Some(Kind::C2);
            self.c2(&mut st, "irc", ts);
        }
        if let Some(pend) = st.pending.take() {
            self.login(&mut st, pend, Outcome::Unknown, ts);
        }
    }

    /// A parsed DNS message seen by the worker (answers name C2 servers later).
    pub fn dns(&mut self, ts: i64, m: &palisade_proto::dns::DnsMessage<'_>) {
        if m.is_response {
            self.dns.answers(ts, m);
        }
    }

    /// A parsed DNS message with the packet it came in: answers are remembered (C2
    /// names) and the querier's names are checked for DGA and tunnelling.
    pub fn dns_packet(
        &mut self,
        ts: i64,
        d: &palisade_packet::Decoded<'_>,
        m: &palisade_proto::dns::DnsMessage<'_>,
    ) {
        self.dns(ts, m);
        let (src, dst) = match d.network {
            palisade_packet::Network::Ipv4(h) => (
                crate::net::addr_from_v4(h.src),
                crate::net::addr_from_v4(h.dst),
            ),
            palisade_packet::Network::Ipv6(h) => (h.src, h.dst),
            _ => return,
        };
        let p = crate::dns::DnsPacket {
            ts,
            src,
            dst,
            src_mac: d.src_mac,
            dst_mac: d.dst_mac,
            msg: m,
        };
        if let Some(f) = self.dns_det.packet(&self.cfg, &p) {
            self.agg.add(f);
        }
    }

    /// Copies of the findings so far and the DNS answers seen (live sensing).
    pub fn snapshot(&self) -> (Aggregator, crate::dnsmemo::DnsMemo) {
        let mut agg = self.agg.clone();
        for r in self.tls_seen.values() {
            r.add_to(&mut agg);
        }
        (agg, self.dns.clone())
    }

    /// The findings so far (aggregated; thresholds applied after merging) and the DNS
    /// answers seen.
    pub fn into_parts(mut self) -> (Aggregator, crate::dnsmemo::DnsMemo) {
        self.flush_tls();
        (self.agg, self.dns)
    }

    fn flush_tls(&mut self) {
        for (_, r) in self.tls_seen.drain() {
            r.add_to(&mut self.agg);
        }
    }

    // --- helpers ---------------------------------------------------------------------

    /// The local device a service-side alert is about: the server when it is local,
    /// else the client.
    fn service_device(t: &TcpPayloadMeta) -> Option<Mac> {
        if is_local(&t.server) {
            t.server_mac
        } else if is_local(&t.client) {
            t.client_mac
        } else {
            None
        }
    }

    fn flow_ev(t: &TcpPayloadMeta) -> serde_json::Value {
        json!({
            "proto": "tcp",
            "client": endpoint(&t.client, t.client_port),
            "server": endpoint(&t.server, t.server_port),
        })
    }

    fn insecure(&mut self, st: &mut State, service: &str, why: &str, ts: i64) {
        if st.insecure_reported {
            return;
        }
        st.insecure_reported = true;
        let t = st.t;
        let dev = Self::service_device(&t);
        if dev.is_none() {
            return;
        }
        let mut f = Finding::new(
            Kind::ProtoInsecure,
            format!("{service}|{}:{}", ip(&t.server), t.server_port),
            dev,
            ts,
        );
        f.src = Some(ip(&t.client));
        f.dst = Some(ip(&t.server));
        f.summary = format!(
            "{service} in use: {} ({why})",
            endpoint(&t.server, t.server_port)
        );
        f.evidence = json!({
            "service": service,
            "reason": why,
            "server": endpoint(&t.server, t.server_port),
            "example_flow": Self::flow_ev(&t),
        });
        f.lists.push(("clients", ip(&t.client).to_string()));
        self.agg.add(f);
    }

    /// One login attempt with its outcome: brute-force, default and cleartext findings.
    fn login(&mut self, st: &mut State, pend: Pending, outcome: Outcome, ts: i64) {
        self.counters.logins += 1;
        st.attempts = st.attempts.saturating_add(1);
        let t = st.t;
        let proto = st.proto.name();
        let masked = mask(&pend.pass);
        let user: String = pend.user.chars().take(64).collect();
        let default = default_list(&pend.user, &pend.pass);
        let cred = format!("{user}/{masked}");
        let server = endpoint(&t.server, t.server_port);
        let base_ev = || {
            json!({
                "protocol": proto,
                "username": user,
                "password_masked": masked,
                "password_length": pend.pass.chars().count(),
                "outcome": outcome.as_str(),
                "client": endpoint(&t.client, t.client_port),
                "server": server,
            })
        };
        // cred.cleartext: every credential seen in clear, per device/protocol/server.
        if let Some(dev) = Self::service_device(&t) {
            // Logins of a local client to remote servers aggregate per protocol.
            let key = if is_local(&t.server) {
                format!("{proto}|{}:{}", ip(&t.server), t.server_port)
            } else {
                format!("{proto}|remote-servers")
            };
            let mut f = Finding::new(Kind::Cleartext, key, Some(dev), pend.ts);
            f.lists.push(("servers", server.clone()));
            f.last_ns = ts;
            f.src = Some(ip(&t.client));
            f.dst = Some(ip(&t.server));
            f.summary = if is_local(&t.server) {
                format!("{proto} credentials sent in cleartext to {server} (user {user:?})")
            } else {
                format!(
                    "{} sends {proto} credentials in cleartext to remote servers (user {user:?})",
                    ip(&t.client)
                )
            };
            f.evidence = base_ev();
            f.lists.push(("usernames", user.clone()));
            f.lists.push(("clients", ip(&t.client).to_string()));
            self.agg.add(f);
        }
        // cred.default_login: a known default pair that was not refused.
        if let Some(list) = default
            && outcome != Outcome::Failure
            && let Some(dev) = Self::service_device(&t)
        {
            let mut f = Finding::new(
                Kind::DefaultLogin,
                format!("{proto}|{}:{}|{cred}", ip(&t.server), t.server_port),
                Some(dev),
                pend.ts,
            );
            f.last_ns = ts;
            f.src = Some(ip(&t.client));
            f.dst = Some(ip(&t.server));
            f.summary = format!(
                "{proto} login with default credential {cred} on {server} ({})",
                outcome.as_str()
            );
            let mut ev = base_ev();
            if let serde_json::Value::Object(o) = &mut ev {
                o.insert("default_list".into(), list.into());
                o.insert(
                    "context".into(),
                    if !is_local(&t.client) {
                        "login from a remote client"
                    } else if st.failures > 0 {
                        "login from a local client after failed attempts"
                    } else {
                        "login from a local client with no failed attempts (the device still accepts its factory default)"
                    }
                    .into(),
                );
                if let Some(c) = palisade_kb::default_credential(&pend.user, &pend.pass)
                    && !c.vendors.is_empty()
                {
                    o.insert("documented_for".into(), c.vendors.clone().into());
                }
            }
            f.evidence = ev;
            self.agg.add(f);
        }
        // botnet.bruteforce candidates: failures by client against server (inbound, the
        // victim's view) and by a local client against anyone (outbound, the attacker's).
        let fail = u64::from(outcome == Outcome::Failure);
        st.failures = st.failures.saturating_add(fail as u16);
        let succ = u64::from(outcome == Outcome::Success);
        let bf_window = pend.ts.div_euclid(self.cfg.bruteforce_window_ns());
        let window_s = self.cfg.bruteforce_window_s;
        let mk = |key: String, dev: Option<Mac>, summary: String| {
            let mut f = Finding::new(Kind::Bruteforce, key, dev, pend.ts);
            f.window = Some(bf_window);
            f.last_ns = ts;
            f.count = fail;
            f.src = Some(ip(&t.client));
            f.dst = Some(ip(&t.server));
            f.summary = summary;
            f.evidence = json!({
                "protocol": proto,
                "window_s": window_s,
                "first_attempt": {"username": user, "password_masked": masked, "outcome": outcome.as_str(),
                                   "flow": Self::flow_ev(&t)},
            });
            f.sums.push(("failures", fail));
            f.sums.push(("successes", succ));
            f.sums.push(("attempts", 1));
            f.lists.push(("credentials_tried", cred.clone()));
            f
        };
        if is_local(&t.server) {
            let mut f = mk(
                format!("in|{proto}|{}", ip(&t.client)),
                t.server_mac,
                format!(
                    "repeated {proto} logins against {server} from {}",
                    ip(&t.client)
                ),
            );
            f.lists.push(("ports", t.server_port.to_string()));
            self.agg.add(f);
        }
        if is_local(&t.client) {
            let mut f = mk(
                format!("out|{proto}"),
                t.client_mac,
                format!("{} tries {proto} logins on other hosts", ip(&t.client)),
            );
            f.lists.push(("targets", ip(&t.server).to_string()));
            self.agg.add(f);
        }
    }

    // --- telnet ---------------------------------------------------------------------------

    fn telnet(&mut self, st: &mut State, p: &TcpPayload<'_>) {
        let txt = palisade_proto::banner::telnet_text(p.payload);
        if !p.to_server {
            if !txt.negotiations.is_empty() {
                st.telnet_confirmed = true;
            }
            let low = lower_ascii(txt.text.as_bytes(), 2048);
            let prompt_user = ["login:", "username:", "user name:", "user:"]
                .iter()
                .any(|k| low.contains(k));
            let prompt_pass = low.contains("password:") || low.trim_end().ends_with("password");
            if prompt_user || prompt_pass {
                st.telnet_confirmed = true;
            }
            if st.telnet_confirmed && is_local(&st.t.server) {
                self.insecure(st, "telnet", "cleartext remote login service", p.ts);
            }
            if st.login == Login::AwaitResult
                && let Some(pend) = st.pending.take()
            {
                let failed = [
                    "incorrect",
                    "failed",
                    "invalid",
                    "denied",
                    "bad password",
                    "wrong",
                ]
                .iter()
                .any(|k| low.contains(k))
                    || prompt_user;
                let ok = !failed
                    && (low.contains('#')
                        || low.contains('$')
                        || low.contains('>')
                        || low.contains("busybox")
                        || low.contains("welcome")
                        || low.contains("last login")
                        || low.contains("shell"));
                if failed {
                    self.login(st, pend, Outcome::Failure, p.ts);
                    st.login = Login::WantUser;
                } else if ok {
                    self.login(st, pend, Outcome::Success, p.ts);
                    st.login = Login::Idle;
                } else {
                    st.pending = Some(pend); // echo or banner noise: keep waiting
                }
            }
            if st.login != Login::AwaitResult {
                if prompt_pass && st.user.is_some() {
                    st.login = Login::WantPass;
                } else if prompt_user {
                    st.login = Login::WantUser;
                    st.user = None;
                } else if prompt_pass {
                    st.login = Login::WantPass;
                }
            }
            return;
        }
        // client → server: collect lines
        for &b in txt.text.as_bytes() {
            if b == b'\r' || b == b'\n' {
                if st.line.is_empty() {
                    continue;
                }
                let line = String::from_utf8_lossy(&st.line).into_owned();
                st.line.clear();
                match st.login {
                    Login::WantUser => {
                        st.user = Some(line);
                    }
                    Login::WantPass => {
                        let user = st.user.take().unwrap_or_default();
                        st.pending = Some(Pending {
                            user,
                            pass: line,
                            ts: p.ts,
                        });
                        st.login = Login::AwaitResult;
                    }
                    Login::Idle | Login::AwaitResult => {
                        // Commands after a login: the login worked.
                        if let Some(pend) = st.pending.take() {
                            self.login(st, pend, Outcome::Success, p.ts);
                            st.login = Login::Idle;
                        }
                    }
                }
            } else if b == 0x08 || b == 0x7f {
                st.line.pop();
            } else if st.line.len() < self.cfg.max_line {
                st.line.push(b);
            }
        }
    }

    // --- TLS ---------------------------------------------------------------------------------

    /// `tls.weak`: judges a handshake record (stateless, see [`crate::tls`]).
    fn tls(&mut self, p: &TcpPayload<'_>) {
        use crate::sketch::{hash_addr, mix64};
        let local_server = is_local(&p.server);
        let found = if p.to_server {
            self.hello_memo.client_hello(p.payload)
        } else {
            crate::tls::server_flight(p.payload, local_server, p.ts.div_euclid(1_000_000_000))
        };
        for w in found {
            // The device at fault: the server for what the server chose (when it is a
            // local device), else the local client.
            let (dev, dev_addr) = if w.server_side && local_server {
                (p.server_mac, p.server)
            } else if is_local(&p.client) {
                (p.client_mac, p.client)
            } else {
                continue;
            };
            let dev = dev.filter(|m| m[0] & 1 == 0);
            // Repeats of a reported weakness only count.
            let id_hash = w.id.bytes().fold(0u64, |h, b| mix64(h ^ b as u64));
            let repeat_key = if w.server_side && local_server {
                mix64(id_hash ^ hash_addr(&p.server) ^ p.server_port as u64)
            } else {
                mix64(id_hash ^ hash_addr(&dev_addr).rotate_left(1))
            };
            if let Some(r) = self.tls_seen.get_mut(&repeat_key) {
                r.count += 1;
                r.last_ns = r.last_ns.max(p.ts);
                continue;
            }
            let server = endpoint(&p.server, p.server_port);
            let key = if w.server_side && local_server {
                format!("{}|{server}", w.id)
            } else {
                format!("{}|{}", w.id, ip(&dev_addr))
            };
            let mut f = Finding::new(Kind::TlsWeak, key, dev, p.ts);
            f.src = Some(ip(&p.client));
            f.dst = Some(ip(&p.server));
            let reason = w.reason();
            f.summary = format!("weak TLS between {} and {server}: {reason}", ip(&p.client),);
            let mut ev = w.evidence();
            if let serde_json::Value::Object(o) = &mut ev {
                o.insert("reason".into(), reason.into());
                o.insert("client".into(), endpoint(&p.client, p.client_port).into());
                o.insert("server".into(), server.clone().into());
            }
            // (No per-finding server list: repeats are only counted, so a list would
            // depend on how flows were sharded across workers.)
            f.evidence = ev;
            if self.tls_seen.len() >= self.cfg.max_alerts.max(1) {
                self.flush_tls();
            }
            self.tls_seen.insert(
                repeat_key,
                TlsRepeat {
                    key: f.key.clone(),
                    device: dev,
                    count: 0,
                    last_ns: p.ts,
                },
            );
            self.agg.add(f);
        }
    }

    // --- FTP -----------------------------------------------------------------------------

    fn ftp(&mut self, st: &mut State, p: &TcpPayload<'_>) {
        let b = p.payload;
        if !p.to_server {
            if let Some((code, _)) = palisade_proto::banner::ftp_reply(b) {
                if code == 220 && is_local(&st.t.server) {
                    self.insecure(st, "ftp", "cleartext file transfer with passwords", p.ts);
                }
                if let Some(pend) = st.pending.take() {
                    match code {
                        230 | 202 => self.login(st, pend, Outcome::Success, p.ts),
                        530 | 430 | 421 => self.login(st, pend, Outcome::Failure, p.ts),
                        _ => st.pending = Some(pend),
                    }
                }
            }
            return;
        }
        for line in b.split(|&c| c == b'\n').take(8) {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let line = &line[..line.len().min(self.cfg.max_line)];
            if starts_with_ci(line, b"USER ") {
                st.user = Some(String::from_utf8_lossy(&line[5..]).trim().to_string());
            } else if starts_with_ci(line, b"PASS ") {
                let user = st.user.take().unwrap_or_default();
                if let Some(prev) = st.pending.take() {
                    self.login(st, prev, Outcome::Unknown, p.ts);
                }
                st.pending = Some(Pending {
                    user,
                    pass: String::from_utf8_lossy(&line[5..]).to_string(),
                    ts: p.ts,
                });
            }
        }
    }

    // --- HTTP Basic -------------------------------------------------------------------------

    fn http(&mut self, st: &mut State, p: &TcpPayload<'_>) {
        if !p.to_server {
            if let Some(pend) = st.pending.take() {
                match palisade_proto::http::parse_response(p.payload) {
                    Ok(r) if r.status == 401 || r.status == 403 => {
                        self.login(st, pend, Outcome::Failure, p.ts)
                    }
                    Ok(r) if (200..400).contains(&r.status) => {
                        self.login(st, pend, Outcome::Success, p.ts)
                    }
                    _ => st.pending = Some(pend),
                }
            }
            return;
        }
        let Ok(req) = palisade_proto::http::parse_request(p.payload) else {
            return;
        };
        let Some(auth) = req.authorization() else {
            return;
        };
        if !starts_with_ci(auth, b"basic ") {
            return;
        }
        let Some(raw) = base64_decode(auth[6..].trim_ascii()) else {
            return;
        };
        let s = String::from_utf8_lossy(&raw);
        let (user, pass) = s.split_once(':').unwrap_or((&s, ""));
        if let Some(prev) = st.pending.take() {
            self.login(st, prev, Outcome::Unknown, p.ts);
        }
        st.pending = Some(Pending {
            user: user.chars().take(self.cfg.max_line).collect(),
            pass: pass.chars().take(self.cfg.max_line).collect(),
            ts: p.ts,
        });
    }

    // --- MQTT -------------------------------------------------------------------------------

    fn mqtt(&mut self, st: &mut State, p: &TcpPayload<'_>) {
        if !p.to_server {
            // CONNACK: 0x20, len 2, flags, return code
            if let Some(pend) = st.pending.take() {
                match p.payload {
                    [0x20, 0x02, _, 0, ..] | [0x20, 0x03, _, 0, ..] => {
                        self.login(st, pend, Outcome::Success, p.ts)
                    }
                    [0x20, 0x02, _, _, ..] | [0x20, _, _, _, ..] => {
                        self.login(st, pend, Outcome::Failure, p.ts)
                    }
                    _ => st.pending = Some(pend),
                }
            }
            return;
        }
        let Ok(c) = palisade_proto::mqtt::parse_connect(p.payload) else {
            return;
        };
        self.insecure(st, "mqtt", "MQTT without TLS", p.ts);
        if let Some(u) = c.username {
            let pass = c.password.unwrap_or_default();
            st.pending = Some(Pending {
                user: String::from_utf8_lossy(u)
                    .chars()
                    .take(self.cfg.max_line)
                    .collect(),
                pass: String::from_utf8_lossy(pass)
                    .chars()
                    .take(self.cfg.max_line)
                    .collect(),
                ts: p.ts,
            });
        }
    }

    // --- SMBv1 -------------------------------------------------------------------------------

    fn smb(&mut self, st: &mut State, p: &TcpPayload<'_>) {
        if p.to_server && p.payload.get(4..8) == Some(b"\xffSMB") {
            self.insecure(st, "smbv1", "SMB version 1 dialect negotiated", p.ts);
        }
    }

    // --- IRC C2 ------------------------------------------------------------------------------

    fn irc(&mut self, st: &mut State, p: &TcpPayload<'_>) {
        let b = &p.payload[..p.payload.len().min(4096)];
        for line in b.split(|&c| c == b'\n').take(32) {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            if p.to_server {
                if starts_with_ci(line, b"NICK ") {
                    st.irc.nick = Some(ascii(&line[5..], 40));
                } else if starts_with_ci(line, b"USER ") {
                    st.irc.user = true;
                } else if starts_with_ci(line, b"JOIN ") {
                    let ch = line[5..].split(|&c| c == b' ').next().unwrap_or(&[]);
                    st.irc.channel = Some(ascii(ch, 40));
                }
            } else {
                let (prefix, rest) = if line.first() == Some(&b':') {
                    match line.iter().position(|&c| c == b' ') {
                        Some(i) => (&line[1..i], &line[i + 1..]),
                        None => (&line[1..], &[][..]),
                    }
                } else {
                    (&[][..], line)
                };
                if starts_with_ci(rest, b"PING") {
                    st.irc.pings += 1;
                } else if starts_with_ci(rest, b"PRIVMSG ")
                    || starts_with_ci(rest, b"TOPIC ")
                    || rest.starts_with(b"332 ")
                {
                    if st.irc.commands.len() < 3 {
                        st.irc.commands.push(ascii(rest, 100));
                    }
                } else if st.irc.server_name.is_none()
                    && (starts_with_ci(rest, b"NOTICE") || rest.starts_with(b"001 "))
                    && !prefix.is_empty()
                {
                    st.irc.server_name = Some(ascii(prefix, 64));
                }
            }
        }
        let registered = st.irc.nick.is_some() && (st.irc.user || st.irc.channel.is_some());
        // Report once the bot joined a channel or got orders (else at the flow's end).
        let ready = st.irc.channel.is_some() || !st.irc.commands.is_empty();
        if registered && ready && !st.irc.reported && is_local(&st.t.client) {
            st.irc.reported = true;
            st.verdict = Some(Kind::C2);
            self.c2(st, "irc", p.ts);
        } else if st.irc.reported && !st.irc.commands.is_empty() {
            // Later commands enrich the evidence list of the same alert.
            let t = st.t;
            let mut f = Finding::new(
                Kind::C2,
                format!("irc|{}", endpoint(&t.server, t.server_port)),
                t.client_mac,
                p.ts,
            );
            f.count = 0;
            f.src = Some(ip(&t.client));
            f.dst = Some(ip(&t.server));
            f.evidence = serde_json::Value::Object(serde_json::Map::new());
            f.summary = String::new();
            for c in st.irc.commands.drain(..) {
                f.lists.push(("irc_messages", c));
            }
            f.first_ns = i64::MAX;
            f.last_ns = p.ts;
            self.agg.add(f);
        }
    }

    fn c2(&mut self, st: &mut State, protocol: &str, ts: i64) {
        let t = st.t;
        let server = endpoint(&t.server, t.server_port);
        let mut f = Finding::new(
            Kind::C2,
            format!("{protocol}|{server}"),
            t.client_mac,
            t.first_ts,
        );
        f.last_ns = ts;
        f.src = Some(ip(&t.client));
        f.dst = Some(ip(&t.server));
        let mut ev = json!({
            "protocol": protocol,
            "c2_server": server,
            "client": ip(&t.client).to_string(),
            "example_flow": Self::flow_ev(&t),
            "non_standard_port": if protocol == "irc" { !irc_standard_port(t.server_port) } else { t.server_port != 23 },
        });
        let o = ev.as_object_mut();
        match protocol {
            "irc" => {
                f.summary = format!(
                    "IRC botnet C2: {} joined {} as {} on {server}",
                    ip(&t.client),
                    st.irc.channel.as_deref().unwrap_or("(no channel yet)"),
                    st.irc.nick.as_deref().unwrap_or("?")
                );
                if let Some(o) = o {
                    o.insert("nick".into(), st.irc.nick.clone().into());
                    o.insert("channel".into(), st.irc.channel.clone().into());
                    o.insert("server_name".into(), st.irc.server_name.clone().into());
                    o.insert(
                        "bot_like_nick".into(),
                        st.irc
                            .nick
                            .as_deref()
                            .is_some_and(|n| n.starts_with('[') && n.contains('|'))
                            .into(),
                    );
                }
                for c in st.irc.commands.drain(..) {
                    f.lists.push(("irc_messages", c));
                }
            }
            _ => {
                f.summary = format!(
                    "Mirai binary C2: {} keeps a session with {server} (hello {}, {} keep-alives)",
                    ip(&t.client),
                    hex(&st.mirai.hello, 8),
                    st.mirai.keepalives
                );
                if let Some(o) = o {
                    o.insert("hello_hex".into(), hex(&st.mirai.hello, 40).into());
                    o.insert("keepalives".into(), st.mirai.keepalives.into());
                    o.insert(
                        "fingerprint".into(),
                        "bot sends 00 00 00 01 + id, then 2-byte 00 00 keep-alives; C2 sends length-prefixed attack commands".into(),
                    );
                }
                for c in st.mirai.commands.drain(..) {
                    f.lists.push(("attack_commands", c.to_string()));
                }
            }
        }
        f.evidence = ev;
        self.agg.add(f);
    }

    // --- Mirai binary C2 --------------------------------------------------------------------

    fn mirai(&mut self, st: &mut State, p: &TcpPayload<'_>) {
        let b = p.payload;
        if st.mirai.broken {
            return;
        }
        if p.to_server {
            if st.mirai.hello.is_empty() {
                st.mirai.hello = b[..b.len().min(40)].to_vec();
            } else if b == [0, 0] {
                st.mirai.keepalives += 1;
            } else if st.mirai.hello.len() == 4 && b.len() <= 33 && b[0] as usize == b.len() - 1 {
                // id length byte + id, sent separately
                st.mirai.hello.extend_from_slice(&b[..b.len().min(36)]);
            } else if b.len() > 2 {
                st.mirai.broken = true; // not Mirai's client side
                return;
            }
        } else if b == [0, 0] {
            // keep-alive echo
        } else if let Some(cmd) = parse_mirai_attack(b) {
            if st.mirai.commands.len() < 4 {
                st.mirai.commands.push(cmd);
            }
        } else {
            st.mirai.broken = true;
            return;
        }
        let confirmed = st.mirai.keepalives >= self.cfg.mirai_c2_min_keepalives
            || !st.mirai.commands.is_empty();
        if confirmed && is_local(&st.t.client) {
            if !st.mirai.reported {
                st.mirai.reported = true;
                st.verdict = Some(Kind::C2);
                self.c2(st, "mirai", p.ts);
            } else if !st.mirai.commands.is_empty() {
                let t = st.t;
                let mut f = Finding::new(
                    Kind::C2,
                    format!("mirai|{}", endpoint(&t.server, t.server_port)),
                    t.client_mac,
                    p.ts,
                );
                f.count = 0;
                f.first_ns = i64::MAX;
                f.last_ns = p.ts;
                f.evidence = serde_json::Value::Object(serde_json::Map::new());
                for c in st.mirai.commands.drain(..) {
                    f.lists.push(("attack_commands", c.to_string()));
                }
                self.agg.add(f);
            }
        }
    }
}

#[cfg(test)]
mod contains_ci_tests {
    use super::contains_ci;

    #[test]
    fn matches_the_windowed_search() {
        let n = b"authorization: ";
        let naive = |h: &[u8]| h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
        for h in [
            &b""[..],
            b"authorization:",
            b"Authorization: Basic x",
            b"GET / HTTP/1.1\r\nAUTHORIZATION: x\r\n",
            b"GET / HTTP/1.1\r\nProxy-Authorization: x",
            b"aaaaaaaaaaaaaaauthorization: ",
            b"GET /authorization HTTP/1.1",
            b"\xc1uthorization: ",
        ] {
            assert_eq!(contains_ci(h, n), naive(h), "{h:?}");
        }
    }
}
