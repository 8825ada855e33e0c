//! Checking captured traffic of one device against its MUD profile.
//!
//! Each flow direction that carried packets is evaluated against the from-device or to-device ACLs
//! (first matching ACE wins, no match = deny, as RFC 8519 specifies). Denied directions become
//! [`Violation`]s (`policy.violation`), with the offending flow.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;

use serde::Serialize;

use crate::model::MudFile;
use crate::traffic::{Observation, View, acls_permit, eth_permitted};
use crate::{PolicyError, fmt_mac};

/// The alert kind id of a violation (DESIGN.md §6 naming).
pub const KIND: &str = "policy.violation";

/// One flow direction the profile does not permit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// `from-device` or `to-device`.
    pub direction: &'static str,
    /// IP protocol number, or 0 for non-IP frames.
    pub protocol: u8,
    pub device_ip: Option<IpAddr>,
    pub device_port: u16,
    pub remote_ip: Option<IpAddr>,
    pub remote_port: u16,
    /// Names DNS answers gave for the remote address.
    pub remote_names: Vec<String>,
    /// Ethertype for non-IP frames.
    pub ethertype: Option<u16>,
    pub packets: u64,
    pub bytes: u64,
    pub first_ts_ns: i64,
    pub last_ts_ns: i64,
    pub device_initiated: Option<bool>,
}

/// The result of a check.
#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub device: String,
    pub mud_url: String,
    pub flows_checked: usize,
    pub directions_checked: usize,
    pub directions_permitted: usize,
    pub violations: Vec<Violation>,
}

/// Checks captures against a profile for the device with `device_mac`.
pub fn check<P: AsRef<Path>>(
    mud: &MudFile,
    paths: &[P],
    device_mac: [u8; 6],
) -> Result<CheckReport, PolicyError> {
    check_with(mud, paths, device_mac, crate::Identities::default())
}

/// [`check`] with what is known of the device's and its peers' manufacturers and models
/// (`same-manufacturer`, `manufacturer`, `model` are decided by it, as learning does).
pub fn check_with<P: AsRef<Path>>(
    mud: &MudFile,
    paths: &[P],
    device_mac: [u8; 6],
    ids: crate::Identities,
) -> Result<CheckReport, PolicyError> {
    let mut obs = Observation::from_captures(paths, device_mac)?;
    obs.ids = ids;
    Ok(check_observation(mud, &obs))
}

/// Checks an observation against a profile.
pub fn check_observation(mud: &MudFile, obs: &Observation) -> CheckReport {
    let from = mud.mud.from_acl_names();
    let to = mud.mud.to_acl_names();
    let mut violations = Vec::new();
    let mut checked = 0;
    let mut permitted = 0;
    for (k, f) in &obs.flows {
        let names = obs.dns.get(&k.remote_ip);
        for (from_device, pkts) in [(true, f.pkts_from_device), (false, f.pkts_to_device)] {
            if pkts == 0 {
                continue;
            }
            checked += 1;
            let v = View {
                from_device,
                key: k,
                stats: f,
                remote_names: names,
                device_mac: obs.device_mac,
                ids: &obs.ids,
                mud_url: &mud.mud.mud_url,
            };
            let ok = acls_permit(mud, if from_device { &from } else { &to }, &v).is_some();
            if ok {
                permitted += 1;
                continue;
            }
            violations.push(Violation {
                direction: if from_device {
                    "from-device"
                } else {
                    "to-device"
                },
                protocol: k.proto,
                device_ip: Some(k.device_ip),
                device_port: k.device_port,
                remote_ip: Some(k.remote_ip),
                remote_port: k.remote_port,
                remote_names: names
                    .map(|n| n.iter().cloned().collect())
                    .unwrap_or_default(),
                ethertype: None,
                packets: pkts,
                bytes: f.bytes,
                first_ts_ns: f.first_ts_ns,
                last_ts_ns: f.last_ts_ns,
                device_initiated: f.device_initiated,
            });
        }
    }
    for (&(from_device, et, dst), &n) in &obs.eth {
        checked += 1;
        let ok = eth_permitted(mud, if from_device { &from } else { &to }, et, dst);
        if ok {
            permitted += 1;
            continue;
        }
        violations.push(Violation {
            direction: if from_device {
                "from-device"
            } else {
                "to-device"
            },
            protocol: 0,
            device_ip: None,
            device_port: 0,
            remote_ip: None,
            remote_port: 0,
            remote_names: Vec::new(),
            ethertype: Some(et),
            packets: n,
            bytes: 0,
            first_ts_ns: 0,
            last_ts_ns: 0,
            device_initiated: None,
        });
    }
    CheckReport {
        device: fmt_mac(&obs.device_mac),
        mud_url: mud.mud.mud_url.clone(),
        flows_checked: obs.flows.len(),
        directions_checked: checked,
        directions_permitted: permitted,
        violations,
    }
}

impl Violation {
    /// One line for humans: `from-device udp 192.168.1.5:5353 -> 224.0.0.251:5353 (names) 12 pkts`.
    pub fn describe(&self) -> String {
        let proto = match self.protocol {
            0 => format!("ethertype 0x{:04x}", self.ethertype.unwrap_or(0)),
            1 => "icmp".into(),
            6 => "tcp".into(),
            17 => "udp".into(),
            58 => "icmpv6".into(),
            p => format!("proto {p}"),
        };
        let ep = |ip: Option<IpAddr>, port: u16| match ip {
            Some(IpAddr::V6(a)) => format!("[{a}]:{port}"),
            Some(a) => format!("{a}:{port}"),
            None => "-".into(),
        };
        let (d, r) = (
            ep(self.device_ip, self.device_port),
            ep(self.remote_ip, self.remote_port),
        );
        let (s, t) = if self.direction == "from-device" {
            (d, r)
        } else {
            (r, d)
        };
        let names: BTreeSet<&str> = self.remote_names.iter().map(String::as_str).collect();
        let names = if names.is_empty() {
            String::new()
        } else {
            format!(" ({})", names.into_iter().collect::<Vec<_>>().join(", "))
        };
        format!(
            "{} {proto} {s} -> {t}{names}: {} packets",
            self.direction, self.packets
        )
    }
}
