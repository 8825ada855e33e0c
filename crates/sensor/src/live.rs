//! Live sensing: an AF_PACKET capture of one interface and a streaming form of the offline
//! pipeline ([`LiveSensor`]) that reports alerts while packets keep coming.
//!
//! Capture uses a plain `SOCK_RAW` packet socket through nix/socket2 (no `unsafe` here):
//! kernel receive timestamps (`SO_TIMESTAMPNS`, so detection runs on packet time as offline),
//! the kernel's drop counter (`SO_RXQ_OVFL`), an in-kernel classic BPF filter that keeps only
//! the chosen interface (plus an optional user program in `tcpdump -ddd` form), and a large
//! receive buffer.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use nix::sys::socket::{
    AddressFamily, ControlMessageOwned, LinkAddr, MsgFlags, SockFlag, SockProtocol, SockType,
    recvmsg, setsockopt, socket, sockopt,
};

use crate::engine::Engine;
use crate::report::{Alert, InputReport, Report, Summary, rfc3339};
use crate::{AnalyzeOptions, FlowSink, Workers};

/// Errors of live capture (what failed and on which interface).
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("interface {interface}: {what}: {source}")]
    Sys {
        interface: String,
        what: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error("interface {interface}: {message}")]
    Interface { interface: String, message: String },
    #[error("BPF program, {message}")]
    Bpf { message: String },
}

/// Capture settings.
#[derive(Debug, Clone)]
pub struct CaptureOptions {
    /// Receive buffer in bytes (`SO_RCVBUFFORCE` as root, else `SO_RCVBUF`).
    pub rcvbuf: usize,
    /// How long one [`LiveCapture::next_packet`] waits for a packet.
    pub poll: Duration,
    /// Optional classic BPF program (`tcpdump -ddd` output); packets it rejects are never
    /// copied to user space.
    pub bpf: Option<Vec<BpfInsn>>,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            rcvbuf: 64 << 20,
            poll: Duration::from_millis(20),
            bpf: None,
        }
    }
}

/// Capture counters. `kernel_drops` are packets the kernel dropped because the socket's
/// receive queue was full (the `SO_RXQ_OVFL` counter).
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct CaptureStats {
    pub packets: u64,
    pub bytes: u64,
    pub kernel_drops: u64,
    /// Frames longer than the read buffer (kept, truncated).
    pub truncated: u64,
    /// Frames of other interfaces that reached the socket before its filter was attached.
    pub other_interface: u64,
}

/// One captured frame.
#[derive(Debug)]
pub struct LivePacket<'a> {
    /// Kernel receive time, ns since the Unix epoch.
    pub ts_ns: i64,
    /// pcap link type (1 Ethernet, 101 raw IP).
    pub link_type: u32,
    pub data: &'a [u8],
    /// Length on the wire (may exceed `data.len()` when truncated).
    pub wire_len: u32,
}

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BpfInsn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// Parses a classic BPF program in the decimal form `tcpdump -ddd EXPR` prints (also the
/// form iptables' `xt_bpf` takes): the instruction count, then one `code jt jf k` per
/// instruction, separated by newlines or commas.
pub fn parse_bpf(text: &str) -> Result<Vec<BpfInsn>, LiveError> {
    let err = |message: String| LiveError::Bpf { message };
    let mut lines = text
        .split([',', '\n'])
        .map(str::trim)
        .enumerate()
        .filter(|(_, l)| !l.is_empty());
    let Some((_, count)) = lines.next() else {
        return Err(err("empty program".into()));
    };
    let count: usize = count
        .parse()
        .map_err(|_| err(format!("item 1: instruction count expected, got {count:?}")))?;
    if count == 0 || count > 4096 {
        return Err(err(format!(
            "item 1: {count} instructions (the kernel takes 1 to 4096)"
        )));
    }
    let mut prog = Vec::with_capacity(count);
    for (i, line) in lines {
        let f: Vec<&str> = line.split_whitespace().collect();
        let bad = || {
            err(format!(
                "item {}: `code jt jf k` expected, got {line:?}",
                i + 1
            ))
        };
        let [code, jt, jf, k] = f.as_slice() else {
            return Err(bad());
        };
        prog.push(BpfInsn {
            code: code.parse().map_err(|_| bad())?,
            jt: jt.parse().map_err(|_| bad())?,
            jf: jf.parse().map_err(|_| bad())?,
            k: k.parse().map_err(|_| bad())?,
        });
    }
    if prog.len() != count {
        return Err(err(format!(
            "the count says {count} instructions, {} follow",
            prog.len()
        )));
    }
    Ok(prog)
}

// Classic BPF opcodes (linux/filter.h) for the interface filter.
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JMP_JEQ_K: u16 = 0x15;
const BPF_RET_K: u16 = 0x06;
/// `SKF_AD_OFF + SKF_AD_IFINDEX`: the ancillary load of the receiving interface index.
const SKF_AD_IFINDEX: u32 = 0xffff_f000 + 8;

/// The program the socket runs: drop other interfaces, then the user's program (its jumps
/// are relative, so prefixing keeps them valid), else accept everything.
fn socket_program(ifindex: u32, user: Option<&[BpfInsn]>) -> Vec<BpfInsn> {
    let mut p = vec![
        BpfInsn {
            code: BPF_LD_W_ABS,
            jt: 0,
            jf: 0,
            k: SKF_AD_IFINDEX,
        },
        BpfInsn {
            code: BPF_JMP_JEQ_K,
            jt: 1,
            jf: 0,
            k: ifindex,
        },
        BpfInsn {
            code: BPF_RET_K,
            jt: 0,
            jf: 0,
            k: 0,
        },
    ];
    match user {
        Some(u) => p.extend_from_slice(u),
        None => p.push(BpfInsn {
            code: BPF_RET_K,
            jt: 0,
            jf: 0,
            k: 0x0004_0000,
        }),
    }
    p
}

/// A live capture of one interface (in the caller's network namespace).
pub struct LiveCapture {
    fd: OwnedFd,
    interface: String,
    ifindex: u32,
    link_type: u32,
    buf: Vec<u8>,
    cmsg: Vec<u8>,
    pub stats: CaptureStats,
}

fn read_sys(interface: &str, attr: &str) -> Result<u32, LiveError> {
    let path = format!("/sys/class/net/{interface}/{attr}");
    let text = std::fs::read_to_string(&path).map_err(|e| LiveError::Interface {
        interface: interface.into(),
        message: format!("{path}: {e} (no such interface in this network namespace?)"),
    })?;
    text.trim().parse().map_err(|_| LiveError::Interface {
        interface: interface.into(),
        message: format!("{path}: unexpected content {:?}", text.trim()),
    })
}

impl LiveCapture {
    /// Opens a capture of `interface` (needs CAP_NET_RAW).
    pub fn open(interface: &str, opts: &CaptureOptions) -> Result<LiveCapture, LiveError> {
        if interface.is_empty() || interface.contains('/') || interface.contains("..") {
            return Err(LiveError::Interface {
                interface: interface.into(),
                message: "not an interface name".into(),
            });
        }
        let ifindex = read_sys(interface, "ifindex")?;
        // ARPHRD_ETHER and loopback deliver Ethernet headers; ARPHRD_NONE (tun) raw IP.
        let link_type = match read_sys(interface, "type")? {
            1 | 772 => 1,
            65534 => 101,
            t => {
                return Err(LiveError::Interface {
                    interface: interface.into(),
                    message: format!(
                        "hardware type {t} is not supported (Ethernet, loopback, tun)"
                    ),
                });
            }
        };
        let sys = |what: &'static str| {
            let interface = interface.to_string();
            move |source| LiveError::Sys {
                interface,
                what,
                source,
            }
        };
        let fd = socket(
            AddressFamily::Packet,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::EthAll,
        )
        .map_err(sys("socket(AF_PACKET)"))?;
        let prog: Vec<socket2::SockFilter> = socket_program(ifindex, opts.bpf.as_deref())
            .iter()
            .map(|i| socket2::SockFilter::new(i.code, i.jt, i.jf, i.k))
            .collect();
        socket2::SockRef::from(&fd)
            .attach_filter(&prog)
            .map_err(|e| LiveError::Sys {
                interface: interface.into(),
                what: "attaching the BPF filter",
                source: nix::Error::from_raw(e.raw_os_error().unwrap_or(0)),
            })?;
        if setsockopt(&fd, sockopt::RcvBufForce, &opts.rcvbuf).is_err() {
            setsockopt(&fd, sockopt::RcvBuf, &opts.rcvbuf).map_err(sys("SO_RCVBUF"))?;
        }
        setsockopt(&fd, sockopt::ReceiveTimestampns, &true).map_err(sys("SO_TIMESTAMPNS"))?;
        setsockopt(&fd, sockopt::RxqOvfl, &1).map_err(sys("SO_RXQ_OVFL"))?;
        let poll = opts.poll.max(Duration::from_millis(1));
        setsockopt(
            &fd,
            sockopt::ReceiveTimeout,
            &nix::sys::time::TimeVal::new(poll.as_secs() as _, poll.subsec_micros() as _),
        )
        .map_err(sys("SO_RCVTIMEO"))?;
        Ok(LiveCapture {
            fd,
            interface: interface.into(),
            ifindex,
            link_type,
            buf: vec![0; 65_600],
            cmsg: vec![0; 256],
            stats: CaptureStats::default(),
        })
    }

    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The next frame, or `None` when none came within the poll interval.
    pub fn next_packet(&mut self) -> Result<Option<LivePacket<'_>>, LiveError> {
        loop {
            let mut iov = [IoSliceMut::new(&mut self.buf)];
            let r = recvmsg::<LinkAddr>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut self.cmsg),
                MsgFlags::MSG_TRUNC,
            );
            let msg = match r {
                Ok(m) => m,
                Err(nix::Error::EAGAIN | nix::Error::EINTR) => return Ok(None),
                Err(source) => {
                    return Err(LiveError::Sys {
                        interface: self.interface.clone(),
                        what: "recvmsg",
                        source,
                    });
                }
            };
            let wire = msg.bytes;
            if msg
                .address
                .as_ref()
                .is_some_and(|a| a.ifindex() != self.ifindex as usize)
            {
                self.stats.other_interface += 1;
                continue;
            }
            let mut ts_ns = None;
            if let Ok(cmsgs) = msg.cmsgs() {
                for c in cmsgs {
                    match c {
                        ControlMessageOwned::ScmTimestampns(t) => {
                            // time_t and c_long are i64 on 64-bit targets, not on 32-bit ones.
                            #[allow(clippy::unnecessary_cast)]
                            let ns = t.tv_sec() as i64 * 1_000_000_000 + t.tv_nsec() as i64;
                            ts_ns = Some(ns);
                        }
                        ControlMessageOwned::RxqOvfl(n) => self.stats.kernel_drops = n as u64,
                        _ => {}
                    }
                }
            }
            let ts_ns = ts_ns.unwrap_or_else(wall_clock_ns);
            let len = wire.min(self.buf.len());
            if wire > self.buf.len() {
                self.stats.truncated += 1;
            }
            self.stats.packets += 1;
            self.stats.bytes += wire as u64;
            return Ok(Some(LivePacket {
                ts_ns,
                link_type: self.link_type,
                data: &self.buf[..len],
                wire_len: wire.min(u32::MAX as usize) as u32,
            }));
        }
    }
}

/// Wall-clock time in ns since the epoch (the kernel's receive timestamps use the same clock).
pub fn wall_clock_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos().min(i64::MAX as u128) as i64)
        .unwrap_or(0)
}

/// The offline pipeline fed one packet at a time, with alerts available at any moment.
///
/// Single-threaded (the host detectors need packet order anyway); the anomaly stage is not
/// run live. Alerts come from a snapshot of the detectors ([`LiveSensor::new_alerts`]), so a
/// window still open counts, as it does at the end of an offline analysis.
pub struct LiveSensor {
    workers: Workers,
    opts: AnalyzeOptions,
    /// Alert id -> (severity, count) last reported.
    reported: std::collections::HashMap<String, (String, u64)>,
    packets_since_snapshot: u64,
    first_ts: Option<i64>,
    last_ts: Option<i64>,
    started: std::time::Instant,
}

/// Most alerts remembered as reported; past it the oldest are forgotten (re-reported once).
const MAX_REPORTED: usize = 65_536;

impl LiveSensor {
    pub fn new(opts: &AnalyzeOptions, sink: Box<dyn FlowSink>) -> LiveSensor {
        let mut opts = opts.clone();
        opts.threads = 1;
        opts.anomaly = None;
        LiveSensor {
            workers: Workers::new(&opts, sink),
            opts,
            reported: std::collections::HashMap::new(),
            packets_since_snapshot: 0,
            first_ts: None,
            last_ts: None,
            started: std::time::Instant::now(),
        }
    }

    pub fn push(&mut self, ts: i64, link_type: u32, frame: &[u8], wire_len: u32) {
        self.first_ts.get_or_insert(ts);
        self.last_ts = Some(ts);
        self.packets_since_snapshot += 1;
        self.workers.push(ts, link_type, frame, wire_len);
    }

    fn engine(&self) -> Option<&Engine> {
        match &self.workers {
            Workers::Inline(e, _, _) => Some(e),
            Workers::Pool { .. } => None,
        }
    }

    /// Flow-table counters and the number of active flows (for metrics; `None` with
    /// worker threads, where the tables live on the workers).
    pub fn flow_counters(&self) -> Option<(palisade_flow::TableCounters, usize)> {
        self.engine().map(|e| (e.flows.counters, e.flows.len()))
    }

    /// All alerts as they stand now (what the report would list if the capture ended here).
    pub fn alerts_now(&self) -> Vec<Alert> {
        let Some(e) = self.engine() else {
            return Vec::new();
        };
        let cfg = &self.opts.engine.detect;
        let mut parts = Vec::new();
        let mut dns = None;
        if let Some(h) = &e.host {
            parts.push(h.snapshot());
        }
        if let Some(d) = &e.detector {
            let (agg, memo) = d.snapshot();
            parts.push(agg);
            dns = Some(memo);
        }
        if let (Some(set), Some(r)) = (&self.opts.rules, &e.rules) {
            let events = palisade_rules::apply_thresholds(set, r.events.clone());
            let mut agg = palisade_detect::Aggregator::new(cfg.max_alerts, cfg.evidence_list_max);
            crate::rules::findings(set, &events, &mut agg);
            parts.push(agg);
        }
        palisade_detect::finalize(cfg, parts, dns.as_ref(), rfc3339)
    }

    /// Alerts that are new, or whose severity or count changed, since the last call. Cheap
    /// when no packet arrived since then.
    pub fn new_alerts(&mut self) -> Vec<Alert> {
        if self.packets_since_snapshot == 0 {
            return Vec::new();
        }
        self.packets_since_snapshot = 0;
        let mut out = Vec::new();
        for a in self.alerts_now() {
            let now = (a.severity.clone(), a.count);
            if self.reported.get(&a.id) != Some(&now) {
                if self.reported.len() >= MAX_REPORTED {
                    self.reported.clear();
                }
                self.reported.insert(a.id.clone(), now);
                out.push(a);
            }
        }
        out
    }

    /// Ends the capture: the full report, as `analyze` would give for the same packets.
    pub fn finish(self, input: InputReport) -> Report {
        let (inventory, flow_counters, counters, reassembled, det) = self.workers.finish();
        let mut parts = det.parts;
        if let Some(set) = &self.opts.rules {
            let events = palisade_rules::apply_thresholds(set, det.rule_events);
            let cfg = &self.opts.engine.detect;
            let mut agg = palisade_detect::Aggregator::new(cfg.max_alerts, cfg.evidence_list_max);
            crate::rules::findings(set, &events, &mut agg);
            parts.push(agg);
        }
        let alerts =
            palisade_detect::finalize(&self.opts.engine.detect, parts, det.dns.as_ref(), rfc3339);
        let devices_evicted = inventory.evicted;
        let devices = crate::build_devices(inventory.into_devices(), &alerts, &self.opts);
        let duration = match (self.first_ts, self.last_ts) {
            (Some(f), Some(l)) => (l - f) as f64 / 1e9,
            _ => 0.0,
        };
        let summary = Summary {
            packets: counters.packets,
            bytes: counters.bytes,
            flows: flow_counters.created,
            devices: devices.len() as u64,
            alerts: alerts.len() as u64,
            capture_duration_s: (duration * 1e6).round() / 1e6,
            elapsed_s: (self.started.elapsed().as_secs_f64() * 1e6).round() / 1e6,
            flows_evicted: flow_counters.evicted,
            devices_evicted,
            malformed_packets: counters.malformed,
            fragments_reassembled: reassembled,
        };
        Report {
            palisade_version: env!("CARGO_PKG_VERSION").to_string(),
            inputs: vec![input],
            summary,
            devices,
            alerts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tcpdump_ddd_output() {
        // tcpdump -ddd tcp (Ethernet)
        let text = "6\n40 0 0 12\n21 0 3 2048\n48 0 0 23\n21 0 1 6\n6 0 0 262144\n6 0 0 0\n";
        let p = parse_bpf(text).unwrap();
        assert_eq!(p.len(), 6);
        assert_eq!(
            p[1],
            BpfInsn {
                code: 21,
                jt: 0,
                jf: 3,
                k: 2048
            }
        );
        // The iptables xt_bpf comma form gives the same program.
        let commas = "6,40 0 0 12,21 0 3 2048,48 0 0 23,21 0 1 6,6 0 0 262144,6 0 0 0";
        assert_eq!(parse_bpf(commas).unwrap(), p);
    }

    #[test]
    fn bad_bpf_programs_are_clear_errors() {
        for (text, needle) in [
            ("", "empty"),
            ("x", "instruction count"),
            ("0", "1 to 4096"),
            ("2\n6 0 0 0", "says 2"),
            ("1\n6 0 0", "item 2"),
            ("1\n6 0 300 0", "item 2"),
        ] {
            let e = parse_bpf(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }

    proptest::proptest! {
        #[test]
        fn bpf_text_round_trips(prog in proptest::collection::vec(
            (proptest::prelude::any::<u16>(), proptest::prelude::any::<u8>(),
             proptest::prelude::any::<u8>(), proptest::prelude::any::<u32>()), 1..64),
            commas in proptest::prelude::any::<bool>()) {
            let prog: Vec<BpfInsn> = prog
                .into_iter()
                .map(|(code, jt, jf, k)| BpfInsn { code, jt, jf, k })
                .collect();
            let sep = if commas { "," } else { "\n" };
            let mut text = prog.len().to_string();
            for i in &prog {
                text.push_str(&format!("{sep}{} {} {} {}", i.code, i.jt, i.jf, i.k));
            }
            proptest::prop_assert_eq!(parse_bpf(&text).unwrap(), prog);
        }

        #[test]
        fn bpf_parser_never_panics(text in "[0-9 ,\n-]{0,80}") {
            let _ = parse_bpf(&text);
        }
    }

    #[test]
    fn interface_filter_prefixes_the_user_program() {
        let user = [BpfInsn {
            code: BPF_RET_K,
            jt: 0,
            jf: 0,
            k: 96,
        }];
        let p = socket_program(7, Some(&user));
        assert_eq!(p.len(), 4);
        assert_eq!(p[1].k, 7);
        assert_eq!(p[3], user[0]);
        assert_eq!(socket_program(7, None).len(), 4);
    }

    #[test]
    fn unknown_interface_is_a_clear_error() {
        let e = LiveCapture::open("palisade-no-such-if0", &CaptureOptions::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("palisade-no-such-if0"), "{e}");
        let e = LiveCapture::open("../x", &CaptureOptions::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("not an interface name"), "{e}");
    }
}
