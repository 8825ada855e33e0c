//! Semantic validation of a parsed MUD file. Every issue names the JSON path it is about.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::model::{Ace, Acl, AclKey, EthMatch, IpMatch, MudFile, PortMatch, PortOperator};

/// One validation problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// JSON path, e.g. `ietf-access-control-list:acls.acl[2].aces.ace[0].matches.tcp`.
    pub path: String,
    pub kind: IssueKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IssueKind {
    UnsupportedMudVersion(u8),
    MudUrlNotHttps,
    UnknownAclReference(String),
    DuplicateName(String),
    NoPolicy,
    BadForwarding(String),
    ProtocolMismatch {
        protocol: Option<u8>,
        l4: &'static str,
    },
    BothIpv4AndIpv6,
    AclTypeMismatch {
        acl_type: String,
        matches: &'static str,
    },
    BadPort,
    BadNetwork(String),
    BadDnsName(String),
    NameAndNetwork,
    BadMac(String),
    BadEthertype(String),
    DirectionOnNonTcp,
    /// Warning: an IPv4 address in an IPv6 network leaf (a MUDgee bug in one UNSW profile). The ACE
    /// can never match, so it is not compiled; the file is still usable.
    Ipv4InIpv6Network(String),
    /// Warning: `operator` together with `lower-port`/`upper-port` (MUDgee writes `"operator": "eq"`
    /// with a range); read as the range.
    OperatorWithRange,
}

impl Issue {
    /// Errors make [`crate::load`] fail; warnings do not.
    pub fn is_error(&self) -> bool {
        !matches!(
            self.kind,
            IssueKind::Ipv4InIpv6Network(_) | IssueKind::OperatorWithRange
        )
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.path)?;
        match &self.kind {
            IssueKind::UnsupportedMudVersion(v) => {
                write!(f, "mud-version {v} is not supported (only 1)")
            }
            IssueKind::MudUrlNotHttps => write!(f, "mud-url must be an https:// URL"),
            IssueKind::UnknownAclReference(n) => {
                write!(f, "refers to ACL {n:?}, which is not defined")
            }
            IssueKind::DuplicateName(n) => write!(f, "name {n:?} is used twice"),
            IssueKind::NoPolicy => write!(
                f,
                "neither from-device-policy nor to-device-policy is present"
            ),
            IssueKind::BadForwarding(s) => {
                write!(f, "forwarding {s:?} is not accept, drop or reject")
            }
            IssueKind::ProtocolMismatch { protocol, l4 } => match protocol {
                Some(p) => write!(f, "{l4} matches need protocol {}, found {p}", l4_proto(l4)),
                None => write!(
                    f,
                    "{l4} matches need an ipv4/ipv6 protocol of {}",
                    l4_proto(l4)
                ),
            },
            IssueKind::BothIpv4AndIpv6 => write!(f, "an ACE cannot match both ipv4 and ipv6"),
            IssueKind::AclTypeMismatch { acl_type, matches } => {
                write!(f, "ACL type {acl_type} cannot hold {matches} matches")
            }
            IssueKind::BadPort => write!(
                f,
                "a port match needs operator+port or lower-port<=upper-port, not a mix"
            ),
            IssueKind::BadNetwork(s) => write!(f, "{s:?} is not an address prefix of this family"),
            IssueKind::BadDnsName(s) => write!(f, "{s:?} is not a valid DNS name"),
            IssueKind::NameAndNetwork => {
                write!(
                    f,
                    "a DNS name and a network cannot both be given for the same side"
                )
            }
            IssueKind::BadMac(s) => write!(f, "{s:?} is not a MAC address"),
            IssueKind::BadEthertype(s) => write!(f, "{s} is not an ethertype"),
            IssueKind::DirectionOnNonTcp => write!(f, "direction-initiated applies to TCP only"),
            IssueKind::Ipv4InIpv6Network(s) => write!(
                f,
                "warning: IPv4 address {s:?} in an IPv6 network leaf; the ACE never matches and is not compiled"
            ),
            IssueKind::OperatorWithRange => {
                write!(
                    f,
                    "warning: operator given with lower-port/upper-port; read as the range"
                )
            }
        }
    }
}

fn l4_proto(l4: &str) -> u8 {
    match l4 {
        "tcp" => 6,
        "udp" => 17,
        _ => 1,
    }
}

/// Validates a parsed file; an empty list means valid.
pub fn validate(m: &MudFile) -> Vec<Issue> {
    let mut issues = Vec::new();
    let out = &mut issues;
    let root = "ietf-mud:mud";
    if m.mud.mud_version != 1 {
        push(
            out,
            format!("{root}.mud-version"),
            IssueKind::UnsupportedMudVersion(m.mud.mud_version),
        );
    }
    if !m.mud.mud_url.starts_with("https://") {
        push(out, format!("{root}.mud-url"), IssueKind::MudUrlNotHttps);
    }
    if m.mud.from_device_policy.is_none() && m.mud.to_device_policy.is_none() {
        push(out, root.to_string(), IssueKind::NoPolicy);
    }
    for (pol, names) in [
        ("from-device-policy", m.mud.from_acl_names()),
        ("to-device-policy", m.mud.to_acl_names()),
    ] {
        for (i, n) in names.iter().enumerate() {
            if m.acls.get(n).is_none() {
                push(
                    out,
                    format!("{root}.{pol}.access-lists.access-list[{i}].name"),
                    IssueKind::UnknownAclReference(n.to_string()),
                );
            }
        }
    }
    let key = match m.acl_key {
        AclKey::Acls => "ietf-access-control-list:acls",
        AclKey::AccessLists => "ietf-access-control-list:access-lists",
    };
    let mut acl_names = BTreeSet::new();
    for (ai, acl) in m.acls.acl.iter().enumerate() {
        let ap = format!("{key}.acl[{ai}]");
        if !acl_names.insert(acl.name.as_str()) {
            push(
                out,
                format!("{ap}.name"),
                IssueKind::DuplicateName(acl.name.clone()),
            );
        }
        let mut ace_names = BTreeSet::new();
        for (ei, ace) in acl.aces.ace.iter().enumerate() {
            let ep = format!("{ap}.aces.ace[{ei}]");
            if !ace_names.insert(ace.name.as_str()) {
                push(
                    out,
                    format!("{ep}.name"),
                    IssueKind::DuplicateName(ace.name.clone()),
                );
            }
            validate_ace(acl, ace, &ep, out);
        }
    }
    issues
}

fn push(out: &mut Vec<Issue>, path: String, kind: IssueKind) {
    out.push(Issue { path, kind });
}

fn validate_ace(acl: &Acl, ace: &Ace, ep: &str, out: &mut Vec<Issue>) {
    if !matches!(ace.actions.verdict(), "accept" | "drop" | "reject") {
        push(
            out,
            format!("{ep}.actions.forwarding"),
            IssueKind::BadForwarding(ace.actions.forwarding.clone()),
        );
    }
    let mt = &ace.matches;
    let mp = format!("{ep}.matches");
    if mt.ipv4.is_some() && mt.ipv6.is_some() {
        push(out, mp.clone(), IssueKind::BothIpv4AndIpv6);
    }
    let acl_type = acl
        .acl_type
        .as_deref()
        .map(|t| t.rsplit(':').next().unwrap_or(t));
    match acl_type {
        Some("ipv4-acl-type") if mt.ipv6.is_some() => push(
            out,
            format!("{mp}.ipv6"),
            IssueKind::AclTypeMismatch {
                acl_type: "ipv4-acl-type".into(),
                matches: "ipv6",
            },
        ),
        Some("ipv6-acl-type") if mt.ipv4.is_some() => push(
            out,
            format!("{mp}.ipv4"),
            IssueKind::AclTypeMismatch {
                acl_type: "ipv6-acl-type".into(),
                matches: "ipv4",
            },
        ),
        _ => {}
    }
    let ip = mt
        .ipv4
        .as_ref()
        .map(|i| (i, false))
        .or(mt.ipv6.as_ref().map(|i| (i, true)));
    let protocol = ip.and_then(|(i, _)| i.protocol);
    for (l4, present) in [
        ("tcp", mt.tcp.is_some()),
        ("udp", mt.udp.is_some()),
        ("icmp", mt.icmp.is_some()),
    ] {
        if !present {
            continue;
        }
        let want = l4_proto(l4);
        // ICMPv6 is protocol 58.
        let ok = match protocol {
            Some(p) => p == want || (l4 == "icmp" && p == 58),
            // A tcp/udp/icmp container implies the protocol.
            None => true,
        };
        if !ok {
            push(
                out,
                format!("{mp}.{l4}"),
                IssueKind::ProtocolMismatch { protocol, l4 },
            );
        }
    }
    if let Some((i, v6)) = ip {
        let fam = if v6 { "ipv6" } else { "ipv4" };
        validate_ip(i, v6, &format!("{mp}.{fam}"), out);
    }
    if let Some(t) = &mt.tcp {
        for (n, p) in [
            ("source-port", &t.source_port),
            ("destination-port", &t.destination_port),
        ] {
            if let Some(p) = p {
                port_check(p, format!("{mp}.tcp.{n}"), out);
            }
        }
    }
    if let Some(u) = &mt.udp {
        for (n, p) in [
            ("source-port", &u.source_port),
            ("destination-port", &u.destination_port),
        ] {
            if let Some(p) = p {
                port_check(p, format!("{mp}.udp.{n}"), out);
            }
        }
    }
    if let Some(e) = &mt.eth {
        validate_eth(e, &format!("{mp}.eth"), out);
    }
}

fn port_check(p: &PortMatch, path: String, out: &mut Vec<Issue>) {
    let kind = match (p.operator, p.port, p.lower_port, p.upper_port) {
        (Some(PortOperator::Range), None, Some(lo), Some(hi)) if lo <= hi => return,
        (Some(PortOperator::Range), ..) => IssueKind::BadPort,
        (Some(_), Some(_), None, None) => return,
        (None, None, Some(lo), Some(hi)) if lo <= hi => return,
        (Some(_), None, Some(lo), Some(hi)) if lo <= hi => IssueKind::OperatorWithRange,
        _ => IssueKind::BadPort,
    };
    out.push(Issue { path, kind });
}

fn validate_ip(i: &IpMatch, v6: bool, p: &str, out: &mut Vec<Issue>) {
    let nets = [
        (
            "destination-ipv4-network",
            &i.destination_ipv4_network,
            false,
        ),
        ("source-ipv4-network", &i.source_ipv4_network, false),
        (
            "destination-ipv6-network",
            &i.destination_ipv6_network,
            true,
        ),
        ("source-ipv6-network", &i.source_ipv6_network, true),
    ];
    for (n, v, fam6) in nets {
        if let Some(s) = v {
            if fam6 && v6 && parse_prefix(s, false).is_some() {
                push(
                    out,
                    format!("{p}.{n}"),
                    IssueKind::Ipv4InIpv6Network(s.clone()),
                );
            } else if fam6 != v6 || parse_prefix(s, fam6).is_none() {
                out.push(Issue {
                    path: format!("{p}.{n}"),
                    kind: IssueKind::BadNetwork(s.clone()),
                });
            }
        }
    }
    for (n, v) in [
        ("ietf-acldns:src-dnsname", &i.src_dnsname),
        ("ietf-acldns:dst-dnsname", &i.dst_dnsname),
    ] {
        if let Some(s) = v
            && !dns_name_ok(s)
        {
            out.push(Issue {
                path: format!("{p}.{n}"),
                kind: IssueKind::BadDnsName(s.clone()),
            });
        }
    }
    let dst_net = i.destination_ipv4_network.is_some() || i.destination_ipv6_network.is_some();
    let src_net = i.source_ipv4_network.is_some() || i.source_ipv6_network.is_some();
    if (dst_net && i.dst_dnsname.is_some()) || (src_net && i.src_dnsname.is_some()) {
        out.push(Issue {
            path: p.to_string(),
            kind: IssueKind::NameAndNetwork,
        });
    }
}

fn validate_eth(e: &EthMatch, p: &str, out: &mut Vec<Issue>) {
    for (n, v) in [
        ("destination-mac-address", &e.destination_mac_address),
        (
            "destination-mac-address-mask",
            &e.destination_mac_address_mask,
        ),
        ("source-mac-address", &e.source_mac_address),
        ("source-mac-address-mask", &e.source_mac_address_mask),
    ] {
        if let Some(s) = v
            && crate::parse_mac(s).is_err()
        {
            out.push(Issue {
                path: format!("{p}.{n}"),
                kind: IssueKind::BadMac(s.clone()),
            });
        }
    }
    if let Some(t) = &e.ethertype
        && ethertype(t).is_none()
    {
        out.push(Issue {
            path: format!("{p}.ethertype"),
            kind: IssueKind::BadEthertype(t.to_string()),
        });
    }
}

/// The numeric value of an `ethertype` leaf (number, `0x..` hex string, decimal string, or identity name).
pub(crate) fn ethertype(v: &serde_json::Value) -> Option<u16> {
    match v {
        serde_json::Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        serde_json::Value::String(s) => {
            let s = s.trim();
            if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                u16::from_str_radix(h, 16).ok()
            } else if let Ok(n) = s.parse::<u16>() {
                Some(n)
            } else {
                match s.rsplit(':').next().unwrap_or(s) {
                    "ipv4" => Some(0x0800),
                    "arp" => Some(0x0806),
                    "ipv6" => Some(0x86dd),
                    "eapol" => Some(0x888e),
                    "lldp" => Some(0x88cc),
                    _ => None,
                }
            }
        }
        _ => None,
    }
}

/// Parses `addr/len` (a bare address means a host prefix).
pub(crate) fn parse_prefix(s: &str, v6: bool) -> Option<(std::net::IpAddr, u8)> {
    let (a, l) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    if v6 {
        let a: Ipv6Addr = a.parse().ok()?;
        let l: u8 = match l {
            Some(l) => l.parse().ok()?,
            None => 128,
        };
        (l <= 128).then_some((a.into(), l))
    } else {
        let a: Ipv4Addr = a.parse().ok()?;
        let l: u8 = match l {
            Some(l) => l.parse().ok()?,
            None => 32,
        };
        (l <= 32).then_some((a.into(), l))
    }
}

/// RFC 1123 host name (with an optional trailing dot); underscores are tolerated (seen in the wild).
pub(crate) fn dns_name_ok(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}
