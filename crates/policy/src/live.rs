//! Live policy checking: frames of monitored devices (each with its MUD profile) are added to a
//! per-device [`Observation`] as they arrive and checked with [`check_observation`], the same code
//! path as `palisade mud check`. New offending flow directions are aggregated into one
//! [`DeviceViolations`] per device (the `policy.violation` alert), reported again whenever it grows.
//!
//! DNS answers to a device for names its profile uses are turned into [`SetElement`]s for the
//! device's compiled nftables table (`dns_N_v4` / `dns_N_v6`, element timeout = TTL), so the
//! cloud addresses a device may reach follow DNS.
//!
//! Bounded: flows per device ([`LiveChecker::max_flows`], oldest by last packet evicted), DNS
//! names per device, reported flow directions per device and evidence per alert.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use serde::Serialize;

use crate::check::{Violation, check_observation};
use crate::model::MudFile;
use crate::nft::{CompileOptions, SetIndex, compile};
use crate::traffic::{FlowKey, Mac, Observation};

/// Offending flows kept as evidence in one alert.
pub const MAX_EVIDENCE: usize = 32;
/// Flow directions remembered as reported, per device (beyond it the memory is reset and
/// flows may be reported again, counted once more).
const MAX_REPORTED: usize = 16_384;
/// Remote addresses with DNS names remembered, per device.
const MAX_DNS: usize = 4096;
/// Shortest element timeout put into a DNS set (a TTL of 0 would expire at once).
const MIN_TTL: u32 = 5;

/// The aggregated `policy.violation` of one device.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceViolations {
    pub device: String,
    pub mud_url: String,
    /// Distinct offending flow directions so far.
    pub directions: u64,
    /// Packets of the offending directions when they were reported.
    pub packets: u64,
    pub first_ts_ns: i64,
    pub last_ts_ns: i64,
    /// Up to [`MAX_EVIDENCE`] offending flows (the first ones).
    pub flows: Vec<Violation>,
    /// The device's addresses seen so far.
    pub device_ips: Vec<IpAddr>,
}

/// One element to add to a compiled device table: `add element inet TABLE SET { IP timeout TTLs }`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SetElement {
    pub table: String,
    pub set: String,
    pub ip: IpAddr,
    pub ttl_s: u32,
}

impl SetElement {
    /// The nft command (one line of an `nft -f` transaction).
    pub fn nft_line(&self) -> String {
        format!(
            "add element inet {} {} {{ {} timeout {}s }}",
            self.table, self.set, self.ip, self.ttl_s
        )
    }
}

struct Device {
    mud: MudFile,
    obs: Observation,
    /// The compiled table and its DNS sets.
    table: String,
    sets: SetIndex,
    reported: HashSet<(FlowKey, bool)>,
    alert: Option<DeviceViolations>,
    dirty: bool,
    grew: bool,
}

/// Checks the traffic of monitored devices against their profiles as it arrives.
pub struct LiveChecker {
    devices: HashMap<Mac, Device>,
    /// Flows kept per device (default 4096); the least recently active are evicted beyond it.
    pub max_flows: usize,
}

/// The table name [`LiveChecker`] and the hub export use for a device's compiled profile.
pub fn device_table(mac: &Mac) -> String {
    format!("palisade_mud_{}", crate::fmt_mac(mac).replace(':', ""))
}

/// Compile options for a device's table (no quarantine zone; the device's MAC selects it).
pub fn device_compile_options(mac: &Mac, hub_ips: &[IpAddr]) -> CompileOptions {
    CompileOptions {
        device_macs: vec![*mac],
        table: Some(device_table(mac)),
        quarantine: false,
        hub_ips: hub_ips.to_vec(),
        ..Default::default()
    }
}

impl LiveChecker {
    /// A checker for devices (MAC, validated profile); a MAC given twice keeps the last profile.
    pub fn new(profiles: Vec<(Mac, MudFile)>) -> Self {
        let mut devices = HashMap::new();
        for (mac, mud) in profiles {
            let (_, sets) = compile(&mud, &device_compile_options(&mac, &[]));
            devices.insert(
                mac,
                Device {
                    mud,
                    obs: Observation {
                        device_mac: mac,
                        record_answers: true,
                        ..Default::default()
                    },
                    table: device_table(&mac),
                    sets,
                    reported: HashSet::new(),
                    alert: None,
                    dirty: false,
                    grew: false,
                },
            );
        }
        LiveChecker {
            devices,
            max_flows: 4096,
        }
    }

    /// Monitored devices.
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// The compiled ruleset of every monitored device (one `nft -f` transaction replacing their
    /// tables), for enforcement next to the checking.
    pub fn rulesets(&self, hub_ips: &[IpAddr]) -> String {
        let mut macs: Vec<&Mac> = self.devices.keys().collect();
        macs.sort();
        let mut out = String::new();
        for mac in macs {
            let d = &self.devices[mac];
            out.push_str(&compile(&d.mud, &device_compile_options(mac, hub_ips)).0);
        }
        out
    }

    /// The compiled tables of the monitored devices.
    pub fn tables(&self) -> Vec<String> {
        let mut t: Vec<String> = self.devices.values().map(|d| d.table.clone()).collect();
        t.sort();
        t
    }

    /// Adds one captured frame (Ethernet link type; other link types carry no device MAC).
    pub fn push(&mut self, ts_ns: i64, link_type: u32, frame: &[u8]) {
        if link_type != 1 || frame.len() < 14 || self.devices.is_empty() {
            return;
        }
        let mut dst = [0u8; 6];
        let mut src = [0u8; 6];
        dst.copy_from_slice(&frame[0..6]);
        src.copy_from_slice(&frame[6..12]);
        for mac in [src, dst] {
            if let Some(d) = self.devices.get_mut(&mac) {
                d.obs.packets_seen += 1;
                d.obs.add_frame(ts_ns, link_type, frame);
                d.dirty = true;
                if d.obs.flows.len() > self.max_flows {
                    evict_flows(&mut d.obs, self.max_flows);
                }
                if d.obs.dns.len() > MAX_DNS {
                    // Names are re-learnt from the next answers.
                    d.obs.dns.clear();
                }
            }
            if src == dst {
                break;
            }
        }
    }

    /// Checks the devices that saw traffic since the last call; returns the alerts that grew.
    pub fn poll(&mut self) -> Vec<DeviceViolations> {
        let mut out = Vec::new();
        for (mac, d) in self.devices.iter_mut() {
            if !d.dirty {
                continue;
            }
            d.dirty = false;
            let report = check_observation(&d.mud, &d.obs);
            for v in report.violations {
                if link_scope_icmpv6(&v) {
                    continue;
                }
                let Some(key) = violation_key(&v) else {
                    continue;
                };
                if d.reported.contains(&key) {
                    continue;
                }
                if d.reported.len() >= MAX_REPORTED {
                    d.reported.clear();
                }
                d.reported.insert(key);
                let a = d.alert.get_or_insert_with(|| DeviceViolations {
                    device: crate::fmt_mac(mac),
                    mud_url: d.mud.mud.mud_url.clone(),
                    directions: 0,
                    packets: 0,
                    first_ts_ns: v.first_ts_ns,
                    last_ts_ns: v.last_ts_ns,
                    flows: Vec::new(),
                    device_ips: Vec::new(),
                });
                a.directions += 1;
                a.packets += v.packets;
                a.first_ts_ns = a.first_ts_ns.min(v.first_ts_ns);
                a.last_ts_ns = a.last_ts_ns.max(v.last_ts_ns);
                if a.flows.len() < MAX_EVIDENCE {
                    a.flows.push(v);
                }
                d.grew = true;
            }
            if d.grew
                && let Some(a) = &mut d.alert
            {
                d.grew = false;
                a.device_ips = d.obs.device_ips.iter().copied().collect();
                out.push(a.clone());
            }
        }
        out.sort_by(|a, b| a.device.cmp(&b.device));
        out
    }

    /// DNS answers seen since the last call for names the devices' profiles use, as set elements
    /// (deduplicated; the longest TTL of an address wins).
    pub fn dns_elements(&mut self) -> Vec<SetElement> {
        let mut best: BTreeMap<(String, String, IpAddr), u32> = BTreeMap::new();
        for d in self.devices.values_mut() {
            for ans in d.obs.answers.drain(..) {
                for name in &ans.names {
                    let Some(base) = d.sets.dns.get(name) else {
                        continue;
                    };
                    let fam = if ans.ip.is_ipv4() { "v4" } else { "v6" };
                    let e = best
                        .entry((d.table.clone(), format!("{base}_{fam}"), ans.ip))
                        .or_insert(0);
                    *e = (*e).max(ans.ttl.max(MIN_TTL));
                }
            }
        }
        best.into_iter()
            .map(|((table, set, ip), ttl_s)| SetElement {
                table,
                set,
                ip,
                ttl_s,
            })
            .collect()
    }
}

fn violation_key(v: &Violation) -> Option<(FlowKey, bool)> {
    Some((
        FlowKey {
            proto: v.protocol,
            device_ip: v.device_ip?,
            device_port: v.device_port,
            remote_ip: v.remote_ip?,
            remote_port: v.remote_port,
        },
        v.direction == "from-device",
    ))
}

/// Neighbour discovery, duplicate address detection and MLD (ICMPv6 to or from link-scope
/// addresses) never cross the gateway, so no firewall could enforce a profile on them: every
/// IPv6 host sends them at link-up, and alerting on them would only be noise.
fn link_scope_icmpv6(v: &Violation) -> bool {
    let link = |ip: Option<IpAddr>| match ip {
        Some(IpAddr::V6(a)) => {
            let s0 = a.segments()[0];
            a.is_unspecified() || (s0 & 0xffc0) == 0xfe80 || (s0 & 0xff0f) == 0xff02
        }
        _ => false,
    };
    v.protocol == 58 && (link(v.remote_ip) || link(v.device_ip))
}

/// Evicts the least recently active flows down to three quarters of `max`.
fn evict_flows(obs: &mut Observation, max: usize) {
    let keep = max * 3 / 4;
    let mut by_age: Vec<(i64, FlowKey)> =
        obs.flows.iter().map(|(k, f)| (f.last_ts_ns, *k)).collect();
    by_age.sort_unstable();
    let drop = by_age.len().saturating_sub(keep);
    for (_, k) in by_age.into_iter().take(drop) {
        obs.flows.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV: Mac = [0x02, 0, 0, 0, 0, 0x0a];
    const GW: Mac = [0x02, 0, 0, 0, 0, 0x01];

    fn profile() -> MudFile {
        crate::load(
            r#"{"ietf-mud:mud":{"mud-version":1,"mud-url":"https://example.com/cam.json",
            "last-update":"2024-01-01T00:00:00+00:00","cache-validity":48,"is-supported":true,
            "systeminfo":"cam","from-device-policy":{"access-lists":{"access-list":[{"name":"from"}]}},
            "to-device-policy":{"access-lists":{"access-list":[{"name":"to"}]}}},
            "ietf-access-control-list:acls":{"acl":[
             {"name":"from","type":"ipv4-acl-type","aces":{"ace":[
               {"name":"dns","matches":{"ipv4":{"protocol":17},"udp":{"destination-port":{"operator":"eq","port":53}}},"actions":{"forwarding":"accept"}},
               {"name":"cloud","matches":{"ipv4":{"protocol":6,"ietf-acldns:dst-dnsname":"cloud.example.com"},"tcp":{"destination-port":{"operator":"eq","port":443}}},"actions":{"forwarding":"accept"}}]}},
             {"name":"to","type":"ipv4-acl-type","aces":{"ace":[
               {"name":"dns","matches":{"ipv4":{"protocol":17},"udp":{"source-port":{"operator":"eq","port":53}}},"actions":{"forwarding":"accept"}},
               {"name":"cloud","matches":{"ipv4":{"protocol":6,"ietf-acldns:src-dnsname":"cloud.example.com"},"tcp":{"source-port":{"operator":"eq","port":443}}},"actions":{"forwarding":"accept"}}]}}]}}"#,
        )
        .expect("profile")
    }

    fn frame(src: Mac, dst: Mac, sip: [u8; 4], dip: [u8; 4], proto: u8, l4: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&dst);
        f.extend_from_slice(&src);
        f.extend_from_slice(&[0x08, 0x00]);
        let total = (20 + l4.len()) as u16;
        f.extend_from_slice(&[
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0x40,
            0,
            64,
            proto,
            0,
            0,
        ]);
        f.extend_from_slice(&sip);
        f.extend_from_slice(&dip);
        f.extend_from_slice(l4);
        f
    }

    fn syn(sport: u16, dport: u16) -> Vec<u8> {
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&sport.to_be_bytes());
        t[2..4].copy_from_slice(&dport.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = 0x02;
        t
    }

    fn dns_answer(name: &str, ip: [u8; 4], ttl: u32) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        for l in name.split('.') {
            m.push(l.len() as u8);
            m.extend_from_slice(l.as_bytes());
        }
        m.extend_from_slice(&[0, 0, 1, 0, 1]);
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        m.extend_from_slice(&ttl.to_be_bytes());
        m.extend_from_slice(&[0, 4]);
        m.extend_from_slice(&ip);
        let mut u = Vec::new();
        u.extend_from_slice(&53u16.to_be_bytes());
        u.extend_from_slice(&40000u16.to_be_bytes());
        u.extend_from_slice(&((8 + m.len()) as u16).to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        u.extend_from_slice(&m);
        u
    }

    #[test]
    fn violations_are_reported_once_and_aggregated() {
        let mut c = LiveChecker::new(vec![(DEV, profile())]);
        let dev_ip = [10, 0, 1, 2];
        // The DNS answer names the cloud address: a connection to it is permitted.
        c.push(
            1,
            1,
            &frame(
                GW,
                DEV,
                [10, 0, 1, 1],
                dev_ip,
                17,
                &dns_answer("cloud.example.com", [198, 51, 100, 7], 300),
            ),
        );
        c.push(
            2,
            1,
            &frame(DEV, GW, dev_ip, [198, 51, 100, 7], 6, &syn(40001, 443)),
        );
        assert!(c.poll().is_empty(), "permitted traffic raises nothing");
        let els = c.dns_elements();
        assert_eq!(els.len(), 1, "{els:?}");
        assert_eq!(els[0].table, "palisade_mud_02000000000a");
        assert_eq!(els[0].ttl_s, 300);
        assert_eq!(
            els[0].nft_line(),
            format!(
                "add element inet palisade_mud_02000000000a {} {{ 198.51.100.7 timeout 300s }}",
                els[0].set
            )
        );
        assert!(c.dns_elements().is_empty(), "drained");
        // Telnet to a LAN host and 443 to an unnamed address are not.
        c.push(
            3,
            1,
            &frame(DEV, GW, dev_ip, [10, 0, 2, 2], 6, &syn(40002, 23)),
        );
        c.push(
            4,
            1,
            &frame(DEV, GW, dev_ip, [203, 0, 113, 9], 6, &syn(40003, 443)),
        );
        let a = c.poll();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].device, "02:00:00:00:00:0a");
        assert_eq!(a[0].directions, 2);
        assert_eq!(a[0].flows.len(), 2);
        assert!(a[0].flows.iter().any(|v| v.remote_port == 23));
        assert_eq!(a[0].device_ips, vec![IpAddr::from(dev_ip)]);
        // The same flows again: nothing new. A new one: the alert grows.
        c.push(
            5,
            1,
            &frame(DEV, GW, dev_ip, [10, 0, 2, 2], 6, &syn(40002, 23)),
        );
        assert!(c.poll().is_empty());
        c.push(
            6,
            1,
            &frame(DEV, GW, dev_ip, [10, 0, 2, 3], 6, &syn(40004, 23)),
        );
        let a = c.poll();
        assert_eq!(a[0].directions, 3);
        // Other devices' traffic is not looked at.
        c.push(
            7,
            1,
            &frame(
                GW,
                [2, 0, 0, 0, 0, 0x77],
                [10, 0, 1, 1],
                [10, 0, 1, 9],
                6,
                &syn(1, 23),
            ),
        );
        assert!(c.poll().is_empty());
    }

    #[test]
    fn flow_table_is_bounded() {
        let mut c = LiveChecker::new(vec![(DEV, profile())]);
        c.max_flows = 100;
        for i in 0..1000u16 {
            c.push(
                i64::from(i),
                1,
                &frame(
                    DEV,
                    GW,
                    [10, 0, 1, 2],
                    [10, 0, 2, 2],
                    6,
                    &syn(10000 + i, 23),
                ),
            );
            assert!(c.devices[&DEV].obs.flows.len() <= 100);
        }
        let a = c.poll();
        assert!(a[0].flows.len() <= MAX_EVIDENCE);
        // Short frames and other link types are ignored without panicking.
        c.push(0, 1, &[1, 2, 3]);
        c.push(0, 113, &[0u8; 64]);
    }
}
