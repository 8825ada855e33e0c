//! Learning a least-privilege MUD profile from a device's captured traffic.
//!
//! Remote ends are abstracted, in this order: broadcast/multicast groups stay as host prefixes;
//! addresses named by a DNS answer to the device become `ietf-acldns` names (never raw cloud IPs
//! when a name is known); local DNS/NTP/DHCP servers become `controller` URNs; local hosts with the
//! device's OUI become `same-manufacturer`; other local hosts become `local-networks`; only public
//! addresses that no DNS answer named stay as `/32` (`/128`) networks (counted in [`Learned::unnamed_public`]).
//! Ports keep the service side only, and TCP ACEs carry `direction-initiated`.

use std::collections::{BTreeMap, BTreeSet};

use std::net::IpAddr;
use std::path::Path;

use crate::model::{
    AccessListRefs, Ace, Aces, Acl, AclKey, AclRef, Acls, Actions, Direction, Empty, EthMatch,
    IcmpMatch, IpMatch, Matches, Mud, MudFile, MudMatch, Policy, PortMatch, TcpMatch, UdpMatch,
};
use crate::traffic::{Identities, Observation, is_group, is_local};
use crate::{PolicyError, fmt_mac};

/// Options for [`learn`].
#[derive(Debug, Clone, Default)]
pub struct LearnOptions {
    /// `mud-url`; defaults to `https://palisade.invalid/mud/<mac>.json`.
    pub mud_url: Option<String>,
    pub systeminfo: Option<String>,
    /// `last-update` timestamp (RFC 3339); defaults to the last packet's time.
    pub last_update: Option<String>,
    /// The device's manufacturer (e.g. the OUI registry organisation, or the inventory's
    /// identity); with [`PeerIdentity::vendor`] it decides `same-manufacturer` across OUIs.
    pub device_vendor: Option<String>,
    /// What is known of the device's local peers, by MAC.
    pub peers: BTreeMap<[u8; 6], PeerIdentity>,
    /// Manufacturer of a MAC when neither of the above names it (e.g. the OUI registry).
    pub vendor_lookup: Option<fn([u8; 6]) -> Option<String>>,
}

pub use crate::traffic::PeerIdentity;

/// A learned profile plus what the learner saw.
#[derive(Debug)]
pub struct Learned {
    pub mud: MudFile,
    pub observation: Observation,
    /// Public remote addresses without a DNS name (kept as host prefixes).
    pub unnamed_public: BTreeSet<IpAddr>,
}

/// Learns a profile for `device_mac` from captures.
pub fn learn<P: AsRef<Path>>(
    paths: &[P],
    device_mac: [u8; 6],
    opts: &LearnOptions,
) -> Result<Learned, PolicyError> {
    let obs = Observation::from_captures(paths, device_mac)?;
    Ok(learn_from(obs, opts))
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fam {
    V4,
    V6,
}

/// Learns from an already collected observation.
pub fn learn_from(mut obs: Observation, opts: &LearnOptions) -> Learned {
    obs.ids = Identities {
        device_vendor: opts.device_vendor.clone(),
        peers: opts.peers.clone(),
        vendor_lookup: opts.vendor_lookup,
    };
    let mac = fmt_mac(&obs.device_mac);
    let tag = mac.replace(':', "");
    let mut from: [Vec<Ace>; 2] = [Vec::new(), Vec::new()];
    let mut to: [Vec<Ace>; 2] = [Vec::new(), Vec::new()];
    let mut seen: BTreeSet<(bool, String)> = BTreeSet::new();
    let mut unnamed_public = BTreeSet::new();
    let mut last_ts = 0i64;
    for (k, f) in &obs.flows {
        last_ts = last_ts.max(f.last_ts_ns);
        let fam = if k.remote_ip.is_ipv6() {
            Fam::V6
        } else {
            Fam::V4
        };
        let v6 = fam == Fam::V6;
        let device_client = f.device_initiated.unwrap_or(true);
        // Remote abstraction.
        let mut remote_ip = IpMatch {
            protocol: Some(k.proto),
            ..Default::default()
        };
        let mut mud_m: Option<MudMatch> = None;
        let names = obs.dns.get(&k.remote_ip);
        let svc_port = if device_client {
            k.remote_port
        } else {
            k.device_port
        };
        let host = |ip: IpAddr| {
            if v6 {
                format!("{ip}/128")
            } else {
                format!("{ip}/32")
            }
        };
        let mut net: Option<String> = None;
        let mut name: Option<String> = None;
        if is_group(k.remote_ip) {
            net = Some(host(k.remote_ip));
        } else if let Some(n) = names.and_then(|n| n.iter().next()) {
            name = Some(n.clone());
        } else if is_local(k.remote_ip) {
            let ctl = match (k.proto, svc_port) {
                (17 | 6, 53) => Some("urn:ietf:params:mud:dns"),
                (17, 123) => Some("urn:ietf:params:mud:ntp"),
                (17, 67 | 68) => Some("urn:ietf:params:mud:gateway"),
                _ => None,
            };
            // The peer's MAC: its frames to the device, or the device's frames to it (a
            // local host is on the same link).
            let peer_mac = f
                .remote_mac
                .or(f.dst_mac_from_device)
                .filter(|m| m[0] & 1 == 0);
            let own_url = opts.mud_url.as_deref();
            let same_mfr =
                peer_mac.is_some_and(|p| obs.ids.same_manufacturer(obs.device_mac, p, own_url));
            let model = peer_mac.and_then(|p| obs.ids.model(p)).map(str::to_string);
            let manufacturer = peer_mac.and_then(|p| obs.ids.manufacturer(p));
            mud_m = Some(match ctl {
                Some(c) => MudMatch {
                    controller: Some(c.to_string()),
                    ..Default::default()
                },
                None if same_mfr => MudMatch {
                    same_manufacturer: Some(Empty),
                    ..Default::default()
                },
                // A peer with a MUD URL of its own: exactly that model.
                None if model.is_some() => MudMatch {
                    model,
                    ..Default::default()
                },
                None if manufacturer.is_some() => MudMatch {
                    manufacturer,
                    ..Default::default()
                },
                None => MudMatch {
                    local_networks: Some(Empty),
                    ..Default::default()
                },
            });
        } else {
            unnamed_public.insert(k.remote_ip);
            net = Some(host(k.remote_ip));
        }
        for from_device in [true, false] {
            let mut ip = remote_ip.clone();
            let remote_is_dst = from_device;
            match (&net, remote_is_dst, v6) {
                (Some(n), true, false) => ip.destination_ipv4_network = Some(n.clone()),
                (Some(n), false, false) => ip.source_ipv4_network = Some(n.clone()),
                (Some(n), true, true) => ip.destination_ipv6_network = Some(n.clone()),
                (Some(n), false, true) => ip.source_ipv6_network = Some(n.clone()),
                (None, ..) => {}
            }
            if let Some(n) = &name {
                if remote_is_dst {
                    ip.dst_dnsname = Some(n.clone());
                } else {
                    ip.src_dnsname = Some(n.clone());
                }
            }
            // The service port is on the remote side when the device is the client.
            let svc_on_dst = device_client == from_device;
            let (sp, dp) = if svc_on_dst {
                (None, Some(PortMatch::eq(svc_port)))
            } else {
                (Some(PortMatch::eq(svc_port)), None)
            };
            let mut m = Matches {
                mud: mud_m.clone(),
                ..Default::default()
            };
            match k.proto {
                6 => {
                    m.tcp = Some(TcpMatch {
                        source_port: sp,
                        destination_port: dp,
                        direction_initiated: Some(if device_client {
                            Direction::FromDevice
                        } else {
                            Direction::ToDevice
                        }),
                        ..Default::default()
                    })
                }
                17 => {
                    m.udp = Some(UdpMatch {
                        source_port: sp,
                        destination_port: dp,
                        ..Default::default()
                    })
                }
                1 | 58 => m.icmp = Some(IcmpMatch::default()),
                _ => {}
            }
            if v6 {
                m.ipv6 = Some(ip);
            } else {
                m.ipv4 = Some(ip);
            }
            let canon = serde_json::to_string(&m).unwrap_or_default();
            if !seen.insert((from_device, canon)) {
                continue;
            }
            let list = if from_device {
                &mut from[v6 as usize]
            } else {
                &mut to[v6 as usize]
            };
            list.push(Ace {
                name: String::new(),
                matches: m,
                actions: Actions {
                    forwarding: "accept".into(),
                    logging: None,
                },
            });
        }
        let _ = &mut remote_ip;
    }
    // Non-IP frames from the device (EAPOL, LLDP, ...).
    let mut eth_aces = Vec::new();
    for (from_device, et, dst) in obs.eth.keys() {
        if !from_device {
            continue;
        }
        let dst_is_group = dst[0] & 1 == 1;
        let m = Matches {
            eth: Some(EthMatch {
                ethertype: Some(serde_json::Value::String(format!("0x{et:04x}"))),
                destination_mac_address: dst_is_group.then(|| fmt_mac(dst)),
                ..Default::default()
            }),
            ..Default::default()
        };
        let canon = serde_json::to_string(&m).unwrap_or_default();
        if seen.insert((true, canon)) {
            eth_aces.push(Ace {
                name: String::new(),
                matches: m,
                actions: Actions {
                    forwarding: "accept".into(),
                    logging: None,
                },
            });
        }
    }
    let mut acls = Vec::new();
    let mut from_refs = Vec::new();
    let mut to_refs = Vec::new();
    let mut push_acl = |name: String, ty: &str, aces: Vec<Ace>, refs: &mut Vec<AclRef>| {
        if aces.is_empty() {
            return;
        }
        let aces = aces
            .into_iter()
            .enumerate()
            .map(|(i, mut a)| {
                a.name = format!("{name}-{i}");
                a
            })
            .collect();
        refs.push(AclRef { name: name.clone() });
        acls.push(Acl {
            name,
            acl_type: Some(ty.into()),
            aces: Aces { ace: aces },
        });
    };
    let [f4, f6] = from;
    let [t4, t6] = to;
    push_acl(
        format!("from-ipv4-{tag}"),
        "ipv4-acl-type",
        f4,
        &mut from_refs,
    );
    push_acl(
        format!("from-ipv6-{tag}"),
        "ipv6-acl-type",
        f6,
        &mut from_refs,
    );
    push_acl(
        format!("from-ethernet-{tag}"),
        "ethernet-acl-type",
        eth_aces,
        &mut from_refs,
    );
    push_acl(format!("to-ipv4-{tag}"), "ipv4-acl-type", t4, &mut to_refs);
    push_acl(format!("to-ipv6-{tag}"), "ipv6-acl-type", t6, &mut to_refs);
    let mud = MudFile {
        mud: Mud {
            mud_version: 1,
            mud_url: opts
                .mud_url
                .clone()
                .unwrap_or_else(|| format!("https://palisade.invalid/mud/{tag}.json")),
            last_update: opts.last_update.clone().unwrap_or_else(|| rfc3339(last_ts)),
            mud_signature: None,
            cache_validity: Some(48),
            is_supported: true,
            systeminfo: Some(
                opts.systeminfo
                    .clone()
                    .unwrap_or_else(|| format!("learned by palisade from {mac}")),
            ),
            mfg_name: None,
            model_name: None,
            firmware_rev: None,
            software_rev: None,
            documentation: None,
            extensions: None,
            from_device_policy: Some(Policy {
                access_lists: AccessListRefs {
                    access_list: from_refs,
                },
            }),
            to_device_policy: Some(Policy {
                access_lists: AccessListRefs {
                    access_list: to_refs,
                },
            }),
        },
        acls: Acls { acl: acls },
        acl_key: AclKey::Acls,
    };
    Learned {
        mud,
        observation: obs,
        unnamed_public,
    }
}

/// Nanoseconds since the epoch as an RFC 3339 UTC timestamp.
pub(crate) fn rfc3339(ts_ns: i64) -> String {
    let secs = ts_ns.div_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (H. Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::check_observation;

    const DEV: [u8; 6] = [0x00, 0x17, 0x88, 0, 0, 1];

    /// An Ethernet/IPv4/UDP frame.
    fn udp(src: [u8; 6], dst: [u8; 6], sip: [u8; 4], dip: [u8; 4], sp: u16, dp: u16) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&dst);
        f.extend_from_slice(&src);
        f.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 32, 0, 0, 0x40, 0, 64, 17, 0, 0]);
        f.extend_from_slice(&sip);
        f.extend_from_slice(&dip);
        f.extend_from_slice(&sp.to_be_bytes());
        f.extend_from_slice(&dp.to_be_bytes());
        f.extend_from_slice(&[0, 12, 0, 0, 1, 2, 3, 4]);
        f
    }

    fn vendors(m: [u8; 6]) -> Option<String> {
        match m[..3] {
            [0x00, 0x17, 0x88] => Some("Philips Lighting BV".into()),
            [0xec, 0xb5, 0xfa] => Some("PHILIPS LIGHTING B.V.".into()),
            [0x50, 0xc7, 0xbf] => Some("TP-LINK TECHNOLOGIES CO.,LTD.".into()),
            _ => None,
        }
    }

    #[test]
    fn local_peers_become_manufacturer_and_model_abstractions() {
        let same_oui = [0x00, 0x17, 0x88, 0, 0, 2];
        let same_vendor_other_oui = [0xec, 0xb5, 0xfa, 0, 0, 3];
        let tplink_with_url = [0x50, 0xc7, 0xbf, 0, 0, 4];
        let known_mfr = [0x02, 0x11, 0x22, 0, 0, 5];
        let stranger = [0x02, 0x33, 0x44, 0, 0, 6];
        let peers = [
            (same_oui, 2u8),
            (same_vendor_other_oui, 3),
            (tplink_with_url, 4),
            (known_mfr, 5),
            (stranger, 6),
        ];
        let mut obs = Observation {
            device_mac: DEV,
            ..Default::default()
        };
        for (i, (mac, host)) in peers.iter().enumerate() {
            let peer_ip = [192, 168, 1, *host];
            let port = 9000 + i as u16;
            obs.add_frame(
                1,
                1,
                &udp(DEV, *mac, [192, 168, 1, 10], peer_ip, 40000, port),
            );
            obs.add_frame(
                2,
                1,
                &udp(*mac, DEV, peer_ip, [192, 168, 1, 10], port, 40000),
            );
        }
        let mut opts = LearnOptions {
            mud_url: Some("https://www.meethue.com/bridge.json".into()),
            vendor_lookup: Some(vendors),
            ..Default::default()
        };
        opts.peers.insert(
            tplink_with_url,
            PeerIdentity {
                mud_url: Some("https://tplink.example/hs110.json".into()),
                ..Default::default()
            },
        );
        opts.peers.insert(
            known_mfr,
            PeerIdentity {
                manufacturer: Some("sonos.example".into()),
                ..Default::default()
            },
        );
        let l = learn_from(obs, &opts);
        let text = crate::to_json(&l.mud);
        let from = l
            .mud
            .acls
            .acl
            .iter()
            .find(|a| a.name.starts_with("from-ipv4"))
            .expect("from ACL");
        let by_port = |p: u16| {
            from.aces
                .ace
                .iter()
                .find(|a| {
                    a.matches
                        .udp
                        .as_ref()
                        .and_then(|u| u.destination_port.as_ref())
                        .is_some_and(|d| d.matches(p))
                })
                .and_then(|a| a.matches.mud.clone())
                .unwrap_or_else(|| panic!("no ACE for port {p}: {text}"))
        };
        assert!(by_port(9000).same_manufacturer.is_some(), "same OUI");
        assert!(
            by_port(9001).same_manufacturer.is_some(),
            "same vendor under another OUI"
        );
        assert_eq!(
            by_port(9002).model.as_deref(),
            Some("https://tplink.example/hs110.json")
        );
        assert_eq!(by_port(9003).manufacturer.as_deref(), Some("sonos.example"));
        assert!(by_port(9004).local_networks.is_some(), "unknown peer");
        assert!(!text.contains("192.168.1."), "no raw local IPs: {text}");
        // The profile validates and permits exactly the traffic it was learnt from.
        assert!(crate::validate(&l.mud).iter().all(|i| !i.is_error()));
        let r = check_observation(&l.mud, &l.observation);
        assert!(r.violations.is_empty(), "{:?}", r.violations);
        // A different model on the same address is not permitted by the `model` ACE.
        let mut other = Observation {
            device_mac: DEV,
            ids: l.observation.ids.clone(),
            ..Default::default()
        };
        let imposter = [0x50, 0xc7, 0xbf, 0, 0, 9];
        other.add_frame(
            3,
            1,
            &udp(
                DEV,
                imposter,
                [192, 168, 1, 10],
                [192, 168, 1, 4],
                40000,
                9002,
            ),
        );
        let r = check_observation(&l.mud, &other);
        assert_eq!(r.violations.len(), 1, "{:?}", r.violations);
    }

    #[test]
    fn vendor_names_compare_loosely() {
        assert!(crate::traffic::same_vendor(
            "Signify Netherlands B.V.",
            "SIGNIFY NETHERLANDS BV"
        ));
        assert!(!crate::traffic::same_vendor("TP-LINK", "Philips"));
        assert!(!crate::traffic::same_vendor("", ""));
        assert_eq!(
            crate::traffic::url_authority("https://u@example.com:443/a.json"),
            Some("example.com:443")
        );
    }
}
