//! The RFC 8520 MUD and RFC 8519 ACL YANG data model, as JSON (RFC 7951) with serde.
//!
//! Field names are the YANG JSON names. Unknown members are rejected (`deny_unknown_fields`):
//! silently ignoring a match condition would widen an ACL. Both the RFC key
//! `ietf-access-control-list:acls` and the draft-era `ietf-access-control-list:access-lists`
//! (used by MUDgee / the UNSW profiles) are accepted; serialisation writes back the key that was read.

use serde::de::{self, Deserializer};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

/// YANG `empty` leaf, encoded in JSON as `[null]` (RFC 7951 §6.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Empty;

impl Serialize for Empty {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(1))?;
        seq.serialize_element(&())?;
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Empty {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        match &v {
            serde_json::Value::Array(a) if a.len() == 1 && a[0].is_null() => Ok(Empty),
            _ => Err(de::Error::custom(
                "expected the YANG empty value [null]".to_string(),
            )),
        }
    }
}

/// Which top-level key held the ACLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AclKey {
    /// `ietf-access-control-list:acls` (RFC 8519 / RFC 8520).
    #[default]
    Acls,
    /// `ietf-access-control-list:access-lists` (draft era, MUDgee).
    AccessLists,
}

/// A whole MUD file.
#[derive(Debug, Clone, PartialEq)]
pub struct MudFile {
    pub mud: Mud,
    pub acls: Acls,
    pub acl_key: AclKey,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MudFileRepr {
    #[serde(rename = "ietf-mud:mud")]
    mud: Mud,
    #[serde(rename = "ietf-access-control-list:acls", default)]
    acls: Option<Acls>,
    #[serde(rename = "ietf-access-control-list:access-lists", default)]
    access_lists: Option<Acls>,
}

impl<'de> Deserialize<'de> for MudFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = MudFileRepr::deserialize(d)?;
        let (acls, acl_key) = match (r.acls, r.access_lists) {
            (Some(a), None) => (a, AclKey::Acls),
            (None, Some(a)) => (a, AclKey::AccessLists),
            (Some(_), Some(_)) => {
                return Err(de::Error::custom(
                    "both ietf-access-control-list:acls and ietf-access-control-list:access-lists are present",
                ));
            }
            (None, None) => (Acls::default(), AclKey::Acls),
        };
        Ok(MudFile {
            mud: r.mud,
            acls,
            acl_key,
        })
    }
}

impl Serialize for MudFile {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("ietf-mud:mud", &self.mud)?;
        let key = match self.acl_key {
            AclKey::Acls => "ietf-access-control-list:acls",
            AclKey::AccessLists => "ietf-access-control-list:access-lists",
        };
        m.serialize_entry(key, &self.acls)?;
        m.end()
    }
}

/// The `ietf-mud:mud` container (RFC 8520 §2.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Mud {
    pub mud_version: u8,
    pub mud_url: String,
    pub last_update: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mud_signature: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_validity: Option<u8>,
    pub is_supported: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systeminfo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfg_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware_rev: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_rev: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documentation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_device_policy: Option<Policy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_device_policy: Option<Policy>,
}

/// `from-device-policy` / `to-device-policy`: the ACL names that apply.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Policy {
    pub access_lists: AccessListRefs,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct AccessListRefs {
    #[serde(default)]
    pub access_list: Vec<AclRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclRef {
    pub name: String,
}

/// `acls` container.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acls {
    #[serde(default)]
    pub acl: Vec<Acl>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acl {
    pub name: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub acl_type: Option<String>,
    #[serde(default)]
    pub aces: Aces,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Aces {
    #[serde(default)]
    pub ace: Vec<Ace>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ace {
    pub name: String,
    #[serde(default)]
    pub matches: Matches,
    pub actions: Actions,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actions {
    /// `accept`, `drop` or `reject` (identity names, optionally module-prefixed).
    pub forwarding: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matches {
    #[serde(
        rename = "ietf-mud:mud",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub mud: Option<MudMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eth: Option<EthMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<IpMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<IpMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp: Option<UdpMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp: Option<IcmpMatch>,
}

/// RFC 8520 §5 MUD abstractions (`ietf-mud:mud` under `matches`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct MudMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_manufacturer: Option<Empty>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_networks: Option<Empty>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub my_controller: Option<Empty>,
}

/// `eth` matches (RFC 8519 §4.1, `ietf-packet-fields`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct EthMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_mac_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_mac_address_mask: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_mac_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_mac_address_mask: Option<String>,
    /// `ethertype` union: a number, a hex string such as `"0x0800"`, or an identity name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ethertype: Option<serde_json::Value>,
}

/// `ipv4` / `ipv6` matches, with the `ietf-acldns` augmentation (RFC 8520 §10).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct IpMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dscp: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecn: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_ipv4_network: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ipv4_network: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_ipv6_network: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ipv6_network: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_label: Option<u32>,
    #[serde(
        rename = "ietf-acldns:src-dnsname",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub src_dnsname: Option<String>,
    #[serde(
        rename = "ietf-acldns:dst-dnsname",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub dst_dnsname: Option<String>,
}

/// A port match: either `operator` + `port` or `lower-port` + `upper-port` (RFC 8519 `port-range-or-operator`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PortMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<PortOperator>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper_port: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PortOperator {
    Eq,
    Lte,
    Gte,
    Neq,
    /// Draft-era operator used with `lower-port`/`upper-port` (MUDgee).
    Range,
}

/// `ietf-mud:direction-initiated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    FromDevice,
    ToDevice,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct TcpMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledgement_number: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_port: Option<PortMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_port: Option<PortMatch>,
    #[serde(
        rename = "ietf-mud:direction-initiated",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub direction_initiated: Option<Direction>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct UdpMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_port: Option<PortMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_port: Option<PortMatch>,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct IcmpMatch {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u8>,
}

impl PortMatch {
    pub fn eq(port: u16) -> Self {
        PortMatch {
            operator: Some(PortOperator::Eq),
            port: Some(port),
            lower_port: None,
            upper_port: None,
        }
    }

    /// Whether `p` satisfies this (validated) match.
    pub fn matches(&self, p: u16) -> bool {
        match (self.operator, self.port, self.lower_port, self.upper_port) {
            (Some(op), Some(x), _, _) => match op {
                PortOperator::Eq => p == x,
                PortOperator::Lte => p <= x,
                PortOperator::Gte => p >= x,
                PortOperator::Neq => p != x,
                PortOperator::Range => false,
            },
            (_, None, Some(lo), Some(hi)) => lo <= p && p <= hi,
            _ => false,
        }
    }
}

impl Actions {
    /// The forwarding identity without a module prefix (`accept`, `drop`, `reject`).
    pub fn verdict(&self) -> &str {
        self.forwarding
            .rsplit_once(':')
            .map_or(self.forwarding.as_str(), |(_, v)| v)
    }
}

impl Mud {
    /// ACL names of the from-device policy.
    pub fn from_acl_names(&self) -> Vec<&str> {
        policy_names(self.from_device_policy.as_ref())
    }
    /// ACL names of the to-device policy.
    pub fn to_acl_names(&self) -> Vec<&str> {
        policy_names(self.to_device_policy.as_ref())
    }
}

fn policy_names(p: Option<&Policy>) -> Vec<&str> {
    p.map(|p| {
        p.access_lists
            .access_list
            .iter()
            .map(|r| r.name.as_str())
            .collect()
    })
    .unwrap_or_default()
}

impl Acls {
    pub fn get(&self, name: &str) -> Option<&Acl> {
        self.acl.iter().find(|a| a.name == name)
    }
}
