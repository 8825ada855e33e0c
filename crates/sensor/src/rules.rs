//! Glue between the pipeline and `palisade-rules` (opt-in signature matching).

use palisade_detect::{Aggregator, Finding, Kind, Severity};
use palisade_flow::{Direction, FlowStats, PacketMeta, TcpState, addr_to_ip};
use palisade_packet::{Decoded, Transport};
use palisade_rules::{FlowRules, PacketInfo, Priority, RuleEngine, RuleEvent, RuleSet};

/// Hands one IP packet of a flow to the rule engine.
#[allow(clippy::too_many_arguments)]
pub(crate) fn packet(
    re: &mut RuleEngine,
    state: &mut Option<Box<FlowRules>>,
    (ts, ordinal): (i64, u64),
    d: &Decoded<'_>,
    meta: &PacketMeta,
    dir: Direction,
    stats: &FlowStats,
    device: Option<[u8; 6]>,
) {
    let (seq, icmp) = match d.transport {
        Transport::Tcp(t) => (t.seq, None),
        Transport::Icmp { icmp_type, code } => (0, Some((icmp_type, code))),
        Transport::Icmpv6 {
            icmp_type, code, ..
        } => (0, Some((icmp_type, code))),
        _ => (0, None),
    };
    let established = match meta.proto {
        6 => matches!(stats.state, TcpState::Established | TcpState::FinWait),
        _ => stats.packets[0] > 0 && stats.packets[1] > 0,
    };
    let (sport, dport) = if icmp.is_some() {
        (0, 0)
    } else {
        (meta.src_port, meta.dst_port)
    };
    re.packet(
        state,
        &PacketInfo {
            ts,
            ordinal,
            proto: meta.proto,
            src: meta.src,
            dst: meta.dst,
            sport,
            dport,
            to_server: dir == Direction::ToResponder,
            established,
            tcp_flags: meta.tcp_flags,
            tcp_seq: seq,
            icmp,
            payload: d.payload,
            device,
        },
    );
}

fn severity(p: Priority) -> Severity {
    match p {
        Priority::High => Severity::High,
        Priority::Medium => Severity::Medium,
        Priority::Low => Severity::Low,
        Priority::Info => Severity::Info,
    }
}

/// Printable evidence: ASCII kept, other bytes as `|xx|` (Suricata content notation).
pub fn printable(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b {
        if (0x20..0x7f).contains(&c) && c != b'|' {
            s.push(c as char);
        } else {
            s.push_str(&format!("|{c:02x}|"));
        }
    }
    s
}

/// Signature events (after thresholds) → aggregated `ids.signature` findings: one alert per
/// rule and peer pair, with the flows as a sample list.
pub(crate) fn findings(set: &RuleSet, events: &[RuleEvent], agg: &mut Aggregator) {
    for ev in events {
        let Some(lr) = set.rules.get(ev.rule as usize) else {
            continue;
        };
        let r = &lr.rule;
        let (src, dst) = (addr_to_ip(&ev.src), addr_to_ip(&ev.dst));
        let mut f = Finding::new(
            Kind::Signature,
            format!("sid:{} {src}->{dst}", r.sid),
            ev.device,
            ev.ts,
        );
        f.src = Some(src);
        f.dst = Some(dst);
        f.severity = Some(severity(lr.priority));
        f.summary = format!("[1:{}:{}] {}", r.sid, r.rev, r.msg);
        f.evidence = serde_json::json!({
            "sid": r.sid,
            "rev": r.rev,
            "msg": r.msg,
            "classtype": r.classtype,
            "buffer": ev.buffer,
            "matched": printable(&ev.matched),
            "flow": flow_text(ev),
        });
        f.lists.push(("flows", flow_text(ev)));
        agg.add(f);
    }
}

/// `proto src:port -> dst:port` of the alerting packet.
pub fn flow_text(ev: &RuleEvent) -> String {
    format!(
        "{} {}:{} -> {}:{}",
        ev.proto,
        addr_to_ip(&ev.src),
        ev.sport,
        addr_to_ip(&ev.dst),
        ev.dport
    )
}
