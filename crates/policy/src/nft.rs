//! Compilation of a MUD profile to an nftables ruleset (`nft -f`), and the quarantine zone.
//!
//! Layout (one `inet` table per device, replaced atomically on every load):
//!
//! * sets `device_mac` / `device_v4` / `device_v6` select the device (filled from options or later
//!   with `nft add element`);
//! * one set per DNS name (`dns_N_v4` / `dns_N_v6`, `flags timeout`), filled from resolved answers
//!   with the record TTL as element timeout; names that are not resolved yet stay empty;
//! * sets for the MUD abstractions: `local_v4/v6` (filled with private, link-local and multicast
//!   ranges), `ctl_N_*` per controller URN, `my_controller_*`, `same_mfr_*`, `mfg_N_*`, `model_N_*`;
//! * a `forward` base chain that jumps to `from_device` / `to_device`; each ends in a counted
//!   **drop** (default deny). `direction-initiated` becomes `ct direction original|reply`.
//!
//! The quarantine zone is a separate table `inet palisade_quarantine` whose sets survive reloads:
//! quarantined devices (`q_mac`, `q_v4`, `q_v6`, with timeouts for auto-expiry) may only reach DNS,
//! DHCP and the hub (`hub_v4` / `hub_v6`). A `bridge palisade_quarantine` table with the same sets
//! drops their traffic between bridge ports too (lateral movement inside the LAN).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use crate::model::{Ace, Direction, IpMatch, MudFile, PortMatch, PortOperator};
use crate::validate::ethertype;

/// Compile options.
#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    pub device_macs: Vec<[u8; 6]>,
    pub device_ips: Vec<IpAddr>,
    /// Resolved DNS names: name → (address, TTL seconds).
    pub resolved: BTreeMap<String, Vec<(IpAddr, u32)>>,
    /// Table name; defaults to `palisade_mud_<systeminfo or mud-url>`.
    pub table: Option<String>,
    /// Include the quarantine zone table (default on in the CLI).
    pub quarantine: bool,
    /// Hub addresses reachable from quarantine.
    pub hub_ips: Vec<IpAddr>,
}

/// Names of the sets a compiled ruleset expects to be filled (for the hub/responder).
#[derive(Debug, Default, Clone)]
pub struct SetIndex {
    /// DNS name → set base name (`dns_N`); add `_v4` / `_v6`.
    pub dns: BTreeMap<String, String>,
    /// Controller URN → set base name.
    pub controllers: BTreeMap<String, String>,
}

/// An identifier safe for nft (`[a-z0-9_]`, starting with a letter, at most `max` bytes).
pub fn ident(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    while out.contains("__") {
        out = out.replace("__", "_");
    }
    let mut out = out.trim_matches('_').to_string();
    if !out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out.insert_str(0, "p_");
    }
    out.truncate(max);
    out
}

/// The default table name for a profile.
pub fn table_name(m: &MudFile) -> String {
    let base = m
        .mud
        .systeminfo
        .as_deref()
        .filter(|s| !s.is_empty())
        .unwrap_or(&m.mud.mud_url);
    format!("palisade_mud_{}", ident(base, 40))
}

struct Ctx {
    index: SetIndex,
    mfg: BTreeMap<String, String>,
    model: BTreeMap<String, String>,
    uses_my_controller: bool,
    uses_same_mfr: bool,
}

impl Ctx {
    fn dns(&mut self, name: &str) -> String {
        let n = crate::traffic::norm_name(name);
        let k = self.index.dns.len();
        self.index
            .dns
            .entry(n)
            .or_insert_with(|| format!("dns_{k}"))
            .clone()
    }
    fn ctl(&mut self, urn: &str) -> String {
        let k = self.index.controllers.len();
        self.index
            .controllers
            .entry(urn.to_string())
            .or_insert_with(|| format!("ctl_{k}"))
            .clone()
    }
    fn mfg(&mut self, s: &str) -> String {
        let k = self.mfg.len();
        self.mfg
            .entry(s.to_string())
            .or_insert_with(|| format!("mfg_{k}"))
            .clone()
    }
    fn model(&mut self, s: &str) -> String {
        let k = self.model.len();
        self.model
            .entry(s.to_string())
            .or_insert_with(|| format!("model_{k}"))
            .clone()
    }
}

/// Compiles a (validated) profile. The output loads with `nft -f` and replaces the device's table atomically.
pub fn compile(m: &MudFile, opts: &CompileOptions) -> (String, SetIndex) {
    let table = opts
        .table
        .clone()
        .map(|t| ident(&t, 60))
        .unwrap_or_else(|| table_name(m));
    let mut ctx = Ctx {
        index: SetIndex::default(),
        mfg: BTreeMap::new(),
        model: BTreeMap::new(),
        uses_my_controller: false,
        uses_same_mfr: false,
    };
    let mut from_rules = Vec::new();
    let mut to_rules = Vec::new();
    for (names, from_device, out) in [
        (m.mud.from_acl_names(), true, &mut from_rules),
        (m.mud.to_acl_names(), false, &mut to_rules),
    ] {
        for n in names {
            let Some(acl) = m.acls.get(n) else { continue };
            out.push(format!("# acl {}", quote_comment(&acl.name)));
            for ace in &acl.aces.ace {
                out.extend(ace_rules(ace, from_device, &mut ctx));
            }
        }
    }

    let mut s = String::new();
    let _ = writeln!(s, "#!/usr/sbin/nft -f");
    let _ = writeln!(
        s,
        "# Palisade: compiled from MUD profile {}",
        quote_comment(&m.mud.mud_url)
    );
    if let Some(si) = &m.mud.systeminfo {
        let _ = writeln!(s, "# systeminfo: {}", quote_comment(si));
    }
    let _ = writeln!(
        s,
        "# Replaces table inet {table} atomically (declare, delete, define in one transaction)."
    );
    let _ = writeln!(s, "table inet {table}");
    let _ = writeln!(s, "delete table inet {table}");
    let _ = writeln!(s, "table inet {table} {{");
    set_decl(
        &mut s,
        "device_mac",
        "ether_addr",
        false,
        &opts
            .device_macs
            .iter()
            .map(crate::fmt_mac)
            .collect::<Vec<_>>(),
    );
    let v4: Vec<String> = opts
        .device_ips
        .iter()
        .filter(|a| a.is_ipv4())
        .map(|a| a.to_string())
        .collect();
    let v6: Vec<String> = opts
        .device_ips
        .iter()
        .filter(|a| a.is_ipv6())
        .map(|a| a.to_string())
        .collect();
    set_decl(&mut s, "device_v4", "ipv4_addr", false, &v4);
    set_decl(&mut s, "device_v6", "ipv6_addr", false, &v6);
    set_pair(
        &mut s,
        "local",
        true,
        &[
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "169.254.0.0/16",
            "224.0.0.0/4",
            "255.255.255.255",
        ],
        &["fc00::/7", "fe80::/10", "ff00::/8"],
    );
    for (name, base) in &ctx.index.dns {
        let _ = writeln!(
            s,
            "\t# DNS name {} (elements time out with the record TTL)",
            quote_comment(name)
        );
        let res = opts.resolved.get(name);
        let el = |v6: bool| -> Vec<String> {
            res.map(|r| {
                r.iter()
                    .filter(|(a, _)| a.is_ipv6() == v6)
                    .map(|(a, ttl)| format!("{a} timeout {}s", (*ttl).max(1)))
                    .collect()
            })
            .unwrap_or_default()
        };
        set_decl(&mut s, &format!("{base}_v4"), "ipv4_addr", true, &el(false));
        set_decl(&mut s, &format!("{base}_v6"), "ipv6_addr", true, &el(true));
    }
    for (urn, base) in &ctx.index.controllers {
        let _ = writeln!(
            s,
            "\t# controller {} (filled by the hub)",
            quote_comment(urn)
        );
        set_pair(&mut s, base, true, &[], &[]);
    }
    if ctx.uses_my_controller {
        set_pair(&mut s, "my_controller", true, &[], &[]);
    }
    if ctx.uses_same_mfr {
        set_pair(&mut s, "same_mfr", true, &[], &[]);
    }
    for (what, base) in ctx.mfg.iter().chain(ctx.model.iter()) {
        let _ = writeln!(
            s,
            "\t# devices of {} (filled by the hub)",
            quote_comment(what)
        );
        set_pair(&mut s, base, true, &[], &[]);
    }
    let _ = writeln!(s, "\tchain forward {{");
    let _ = writeln!(s, "\t\ttype filter hook forward priority 0; policy accept;");
    let _ = writeln!(s, "\t\tether saddr @device_mac jump from_device");
    let _ = writeln!(s, "\t\tip saddr @device_v4 jump from_device");
    let _ = writeln!(s, "\t\tip6 saddr @device_v6 jump from_device");
    let _ = writeln!(s, "\t\tip daddr @device_v4 jump to_device");
    let _ = writeln!(s, "\t\tip6 daddr @device_v6 jump to_device");
    let _ = writeln!(s, "\t}}");
    for (chain, rules) in [("from_device", &from_rules), ("to_device", &to_rules)] {
        let _ = writeln!(s, "\tchain {chain} {{");
        for r in rules.iter() {
            let _ = writeln!(s, "\t\t{r}");
        }
        let _ = writeln!(s, "\t\tcounter drop comment \"mud default deny\"");
        let _ = writeln!(s, "\t}}");
    }
    let _ = writeln!(s, "}}");
    if opts.quarantine {
        s.push_str(&quarantine_ruleset(&opts.hub_ips));
    }
    (s, ctx.index)
}

fn quote_comment(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

fn set_decl(s: &mut String, name: &str, ty: &str, flag: bool, elements: &[String]) {
    let _ = write!(s, "\tset {name} {{ type {ty};");
    if flag {
        // DNS sets hold resolved addresses that expire with the TTL; the others hold prefixes.
        let flags = if name.starts_with("dns_") {
            "timeout"
        } else {
            "interval"
        };
        let _ = write!(s, " flags {flags};");
    }
    if !elements.is_empty() {
        let _ = write!(s, " elements = {{ {} }};", elements.join(", "));
    }
    let _ = writeln!(s, " }}");
}

fn set_pair(s: &mut String, base: &str, interval: bool, v4: &[&str], v6: &[&str]) {
    let v4: Vec<String> = v4.iter().map(|x| x.to_string()).collect();
    let v6: Vec<String> = v6.iter().map(|x| x.to_string()).collect();
    set_decl(s, &format!("{base}_v4"), "ipv4_addr", interval, &v4);
    set_decl(s, &format!("{base}_v6"), "ipv6_addr", interval, &v6);
}

fn port_expr(l4: &str, which: &str, p: &PortMatch) -> Option<String> {
    Some(match (p.operator, p.port, p.lower_port, p.upper_port) {
        (Some(op), Some(x), _, _) => {
            let o = match op {
                PortOperator::Eq => "",
                PortOperator::Neq => "!= ",
                PortOperator::Lte => "<= ",
                PortOperator::Gte => ">= ",
                PortOperator::Range => return None,
            };
            format!("{l4} {which} {o}{x}")
        }
        (_, None, Some(lo), Some(hi)) if lo == hi => format!("{l4} {which} {lo}"),
        (_, None, Some(lo), Some(hi)) if lo < hi => format!("{l4} {which} {lo}-{hi}"),
        _ => return None,
    })
}

/// nft rules for one ACE; an ACE that cannot be expressed becomes a comment (never a wider rule).
fn ace_rules(ace: &Ace, from_device: bool, ctx: &mut Ctx) -> Vec<String> {
    let m = &ace.matches;
    let mut e: Vec<String> = Vec::new();
    let (ip, v6): (Option<&IpMatch>, bool) = match (&m.ipv4, &m.ipv6) {
        (Some(i), _) => (Some(i), false),
        (None, Some(i)) => (Some(i), true),
        _ => (None, false),
    };
    let fam = if v6 { "ip6" } else { "ip" };
    let sfx = if v6 { "v6" } else { "v4" };
    // The remote side is the destination of from-device traffic and the source of to-device traffic.
    let remote = if from_device { "daddr" } else { "saddr" };
    if ip.is_some() {
        e.push(format!("meta nfproto {}", if v6 { "ipv6" } else { "ipv4" }));
    }
    if let Some(eth) = &m.eth {
        if let Some(et) = eth.ethertype.as_ref().and_then(ethertype) {
            if et != 0x0800 && et != 0x86dd {
                // A non-IP ethertype never reaches the inet family; enforce it at the bridge.
                return vec![format!(
                    "# ace {}: ethertype 0x{et:04x} (non-IP) is enforced at the bridge layer",
                    quote_comment(&ace.name)
                )];
            }
            e.push(format!("ether type 0x{et:04x}"));
            if ip.is_none() {
                e.push(format!(
                    "meta nfproto {}",
                    if et == 0x86dd { "ipv6" } else { "ipv4" }
                ));
            }
        } else if ip.is_none() {
            return vec![format!(
                "# ace {}: ethernet-only match is enforced at the bridge layer",
                quote_comment(&ace.name)
            )];
        }
        if let Some(d) = &eth.destination_mac_address {
            e.push(format!("ether daddr {}", d.to_ascii_lowercase()));
        }
        if let Some(sm) = &eth.source_mac_address {
            e.push(format!("ether saddr {}", sm.to_ascii_lowercase()));
        }
    }
    if let Some(i) = ip {
        let proto = i.protocol.or(if m.tcp.is_some() {
            Some(6)
        } else if m.udp.is_some() {
            Some(17)
        } else {
            None
        });
        if let Some(p) = proto {
            e.push(format!("meta l4proto {p}"));
        }
        let nets = if v6 {
            [
                (&i.source_ipv6_network, "saddr"),
                (&i.destination_ipv6_network, "daddr"),
            ]
        } else {
            [
                (&i.source_ipv4_network, "saddr"),
                (&i.destination_ipv4_network, "daddr"),
            ]
        };
        for (n, dir) in nets {
            if let Some(n) = n {
                if crate::validate::parse_prefix(n, v6).is_none() {
                    return vec![format!(
                        "# ace {}: network {} never matches; not compiled",
                        quote_comment(&ace.name),
                        quote_comment(n)
                    )];
                }
                e.push(format!("{fam} {dir} {n}"));
            }
        }
        if let Some(n) = &i.dst_dnsname {
            let set = ctx.dns(n);
            e.push(format!("{fam} daddr @{set}_{sfx}"));
        }
        if let Some(n) = &i.src_dnsname {
            let set = ctx.dns(n);
            e.push(format!("{fam} saddr @{set}_{sfx}"));
        }
        if let Some(ttl) = i.ttl {
            e.push(format!(
                "{} {ttl}",
                if v6 { "ip6 hoplimit" } else { "ip ttl" }
            ));
        }
        if let Some(d) = i.dscp {
            e.push(format!("{fam} dscp {d}"));
        }
    }
    if let Some(mm) = &m.mud {
        if ip.is_none() {
            return vec![format!(
                "# ace {}: MUD abstraction without an IP match is not compiled",
                quote_comment(&ace.name)
            )];
        }
        if mm.local_networks.is_some() {
            e.push(format!("{fam} {remote} @local_{sfx}"));
        }
        if let Some(c) = &mm.controller {
            let set = ctx.ctl(c);
            e.push(format!("{fam} {remote} @{set}_{sfx}"));
        }
        if mm.my_controller.is_some() {
            ctx.uses_my_controller = true;
            e.push(format!("{fam} {remote} @my_controller_{sfx}"));
        }
        if mm.same_manufacturer.is_some() {
            ctx.uses_same_mfr = true;
            e.push(format!("{fam} {remote} @same_mfr_{sfx}"));
        }
        if let Some(x) = &mm.manufacturer {
            let set = ctx.mfg(x);
            e.push(format!("{fam} {remote} @{set}_{sfx}"));
        }
        if let Some(x) = &mm.model {
            let set = ctx.model(x);
            e.push(format!("{fam} {remote} @{set}_{sfx}"));
        }
    }
    let ports = [
        m.tcp
            .as_ref()
            .map(|t| ("tcp", t.source_port.as_ref(), t.destination_port.as_ref())),
        m.udp
            .as_ref()
            .map(|u| ("udp", u.source_port.as_ref(), u.destination_port.as_ref())),
    ];
    for (l4, sport, dport) in ports.into_iter().flatten() {
        for (which, pm) in [("sport", sport), ("dport", dport)] {
            let Some(pm) = pm else { continue };
            match port_expr(l4, which, pm) {
                Some(p) => e.push(p),
                // Never compile a wider rule than the ACE.
                None => {
                    return vec![format!(
                        "# ace {}: unsupported port match; not compiled",
                        quote_comment(&ace.name)
                    )];
                }
            }
        }
    }
    if let Some(t) = &m.tcp
        && let Some(d) = t.direction_initiated
    {
        // Packets of a connection the device opened are "original" when the device sends them.
        let original = (d == Direction::FromDevice) == from_device;
        e.push(format!(
            "ct direction {}",
            if original { "original" } else { "reply" }
        ));
    }
    if let Some(ic) = &m.icmp {
        let k = if v6 { "icmpv6" } else { "icmp" };
        if let Some(t) = ic.icmp_type {
            e.push(format!("{k} type {t}"));
        }
        if let Some(c) = ic.code {
            e.push(format!("{k} code {c}"));
        }
    }
    let verdict = match ace.actions.verdict() {
        "accept" => "accept",
        "reject" => "reject",
        _ => "drop",
    };
    e.push(format!(
        "counter {verdict} comment \"{}\"",
        ident(&ace.name, 120)
    ));
    vec![e.join(" ")]
}

/// The quarantine zone: idempotent (sets and their elements survive a reload; chains are rebuilt).
pub fn quarantine_ruleset(hub_ips: &[IpAddr]) -> String {
    let t = "inet palisade_quarantine";
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Palisade quarantine zone: quarantined devices reach only DNS, DHCP and the hub."
    );
    let _ = writeln!(
        s,
        "# Quarantine: nft add element {t} q_v4 {{ 192.0.2.10 timeout 1h }}; release: nft delete element ..."
    );
    let _ = writeln!(s, "table {t} {{");
    let _ = writeln!(s, "\tset q_mac {{ type ether_addr; flags timeout; }}");
    let _ = writeln!(s, "\tset q_v4 {{ type ipv4_addr; flags timeout; }}");
    let _ = writeln!(s, "\tset q_v6 {{ type ipv6_addr; flags timeout; }}");
    let _ = writeln!(s, "\tset hub_v4 {{ type ipv4_addr; flags interval; }}");
    let _ = writeln!(s, "\tset hub_v6 {{ type ipv6_addr; flags interval; }}");
    let _ = writeln!(s, "\tchain quarantined {{ }}");
    let _ = writeln!(
        s,
        "\tchain forward {{ type filter hook forward priority -10; policy accept; }}"
    );
    let _ = writeln!(
        s,
        "\tchain input {{ type filter hook input priority -10; policy accept; }}"
    );
    let _ = writeln!(s, "}}");
    let v4: Vec<String> = hub_ips
        .iter()
        .filter(|a| a.is_ipv4())
        .map(|a| a.to_string())
        .collect();
    let v6: Vec<String> = hub_ips
        .iter()
        .filter(|a| a.is_ipv6())
        .map(|a| a.to_string())
        .collect();
    if !v4.is_empty() {
        let _ = writeln!(s, "add element {t} hub_v4 {{ {} }}", v4.join(", "));
    }
    if !v6.is_empty() {
        let _ = writeln!(s, "add element {t} hub_v6 {{ {} }}", v6.join(", "));
    }
    for c in ["quarantined", "forward", "input"] {
        let _ = writeln!(s, "flush chain {t} {c}");
    }
    for r in [
        "meta l4proto { tcp, udp } th dport 53 accept",
        "meta nfproto ipv4 udp sport 68 udp dport 67 accept",
        "ip daddr @hub_v4 accept",
        "ip6 daddr @hub_v6 accept",
        "counter drop comment \"quarantine\"",
    ] {
        let _ = writeln!(s, "add rule {t} quarantined {r}");
    }
    for c in ["forward", "input"] {
        for r in [
            "ether saddr @q_mac jump quarantined",
            "ip saddr @q_v4 jump quarantined",
            "ip6 saddr @q_v6 jump quarantined",
        ] {
            let _ = writeln!(s, "add rule {t} {c} {r}");
        }
    }
    let _ = writeln!(
        s,
        "add rule {t} forward ip daddr @q_v4 ip saddr != @hub_v4 counter drop comment \"to quarantined\""
    );
    let _ = writeln!(
        s,
        "add rule {t} forward ip6 daddr @q_v6 ip6 saddr != @hub_v6 counter drop comment \"to quarantined\""
    );
    s.push_str(&bridge_quarantine(&v4, &v6));
    s
}

/// The quarantine zone at layer 2 (`bridge palisade_quarantine`): traffic between ports of a
/// bridge never reaches the `inet` forward hook, so lateral movement from a quarantined device
/// to its LAN neighbours is dropped here (only DHCP and the hub pass). Same set names as the
/// `inet` table; the responder fills both.
fn bridge_quarantine(hub_v4: &[String], hub_v6: &[String]) -> String {
    let t = BRIDGE_QUARANTINE_TABLE;
    let mut s = String::new();
    let _ = writeln!(s, "table {t} {{");
    let _ = writeln!(s, "\tset q_mac {{ type ether_addr; flags timeout; }}");
    let _ = writeln!(s, "\tset q_v4 {{ type ipv4_addr; flags timeout; }}");
    let _ = writeln!(s, "\tset q_v6 {{ type ipv6_addr; flags timeout; }}");
    let _ = writeln!(s, "\tset hub_v4 {{ type ipv4_addr; flags interval; }}");
    let _ = writeln!(s, "\tset hub_v6 {{ type ipv6_addr; flags interval; }}");
    let _ = writeln!(s, "\tchain quarantined {{ }}");
    let _ = writeln!(
        s,
        "\tchain forward {{ type filter hook forward priority -10; policy accept; }}"
    );
    let _ = writeln!(s, "}}");
    if !hub_v4.is_empty() {
        let _ = writeln!(s, "add element {t} hub_v4 {{ {} }}", hub_v4.join(", "));
    }
    if !hub_v6.is_empty() {
        let _ = writeln!(s, "add element {t} hub_v6 {{ {} }}", hub_v6.join(", "));
    }
    for c in ["quarantined", "forward"] {
        let _ = writeln!(s, "flush chain {t} {c}");
    }
    for r in [
        "ether type arp accept",
        "udp sport 68 udp dport 67 accept",
        "ip daddr @hub_v4 accept",
        "ip6 daddr @hub_v6 accept",
        "counter drop comment \"quarantine (lateral)\"",
    ] {
        let _ = writeln!(s, "add rule {t} quarantined {r}");
    }
    for r in [
        "ether saddr @q_mac jump quarantined",
        "ip saddr @q_v4 jump quarantined",
        "ip6 saddr @q_v6 jump quarantined",
        "ether daddr @q_mac ip saddr != @hub_v4 counter drop comment \"to quarantined\"",
        "ether daddr @q_mac ip6 saddr != @hub_v6 counter drop comment \"to quarantined\"",
    ] {
        let _ = writeln!(s, "add rule {t} forward {r}");
    }
    s
}

/// The layer-2 quarantine table (see [`quarantine_ruleset`]).
pub const BRIDGE_QUARANTINE_TABLE: &str = "bridge palisade_quarantine";
