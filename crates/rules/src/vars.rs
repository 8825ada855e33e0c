//! Address and port variables/groups (Suricata's `vars:` section).

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::parse::Unsupported;

const MAX_DEPTH: usize = 8;
const MAX_ITEMS: usize = 4096;

/// An IPv4/IPv6 network (IPv4 stored as v4-mapped IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: [u8; 16],
    pub prefix: u8,
}

impl Cidr {
    pub fn contains(&self, a: &[u8; 16]) -> bool {
        let full = (self.prefix / 8) as usize;
        if self.addr.get(..full) != a.get(..full) {
            return false;
        }
        let rem = self.prefix % 8;
        if rem == 0 {
            return true;
        }
        let mask = 0xffu8 << (8 - rem);
        match (self.addr.get(full), a.get(full)) {
            (Some(x), Some(y)) => x & mask == y & mask,
            _ => true,
        }
    }

    /// Every address of `other` is in `self`.
    pub fn covers(&self, other: &Cidr) -> bool {
        self.prefix <= other.prefix && self.contains(&other.addr)
    }

    fn parse(s: &str) -> Option<Cidr> {
        let (ip, pfx) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let ip: IpAddr = ip.parse().ok()?;
        let (addr, max, base) = match ip {
            IpAddr::V4(v) => (v.to_ipv6_mapped().octets(), 32u8, 96u8),
            IpAddr::V6(v) => (v.octets(), 128, 0),
        };
        let p = match pfx {
            Some(p) => {
                if let Ok(n) = p.parse::<u8>() {
                    n
                } else {
                    // Dotted netmask.
                    let m: std::net::Ipv4Addr = p.parse().ok()?;
                    u32::from(m).count_ones() as u8
                }
            }
            None => max,
        };
        if p > max {
            return None;
        }
        Some(Cidr {
            addr,
            prefix: base + p,
        })
    }
}

/// A set of addresses: `pos` (empty = any) minus `neg`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddrSet {
    pub pos: Vec<Cidr>,
    pub neg: Vec<Cidr>,
}

impl AddrSet {
    pub fn contains(&self, a: &[u8; 16]) -> bool {
        (self.pos.is_empty() || self.pos.iter().any(|c| c.contains(a)))
            && !self.neg.iter().any(|c| c.contains(a))
    }
    pub fn is_any(&self) -> bool {
        self.pos.is_empty() && self.neg.is_empty()
    }

    /// Provably every address of `self` is in `other` (false when unsure).
    pub fn within(&self, other: &AddrSet) -> bool {
        other.is_any()
            || (other.neg.is_empty()
                && !self.pos.is_empty()
                && self
                    .pos
                    .iter()
                    .all(|c| other.pos.iter().any(|o| o.covers(c))))
    }

    /// Provably no address is in both sets (false when unsure).
    pub fn disjoint(&self, other: &AddrSet) -> bool {
        other.neg.is_empty()
            && !other.pos.is_empty()
            && other.pos.iter().all(|o| {
                self.neg.iter().any(|n| n.covers(o))
                    || (!self.pos.is_empty()
                        && self.pos.iter().all(|p| !p.covers(o) && !o.covers(p)))
            })
    }
}

/// A set of ports: `pos` ranges (empty = any) minus `neg` ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortSet {
    pub pos: Vec<(u16, u16)>,
    pub neg: Vec<(u16, u16)>,
}

impl PortSet {
    pub fn contains(&self, p: u16) -> bool {
        (self.pos.is_empty() || self.pos.iter().any(|&(a, b)| a <= p && p <= b))
            && !self.neg.iter().any(|&(a, b)| a <= p && p <= b)
    }
}

/// Variables as in Suricata 7's default `suricata.yaml`.
#[derive(Debug, Clone)]
pub struct Vars {
    pub addr: BTreeMap<String, String>,
    pub port: BTreeMap<String, String>,
}

impl Default for Vars {
    fn default() -> Self {
        let a = [
            ("HOME_NET", "[192.168.0.0/16,10.0.0.0/8,172.16.0.0/12]"),
            ("EXTERNAL_NET", "!$HOME_NET"),
            ("HTTP_SERVERS", "$HOME_NET"),
            ("SMTP_SERVERS", "$HOME_NET"),
            ("SQL_SERVERS", "$HOME_NET"),
            ("DNS_SERVERS", "$HOME_NET"),
            ("TELNET_SERVERS", "$HOME_NET"),
            ("AIM_SERVERS", "$EXTERNAL_NET"),
            ("DC_SERVERS", "$HOME_NET"),
            ("DNP3_SERVER", "$HOME_NET"),
            ("DNP3_CLIENT", "$HOME_NET"),
            ("MODBUS_CLIENT", "$HOME_NET"),
            ("MODBUS_SERVER", "$HOME_NET"),
            ("ENIP_CLIENT", "$HOME_NET"),
            ("ENIP_SERVER", "$HOME_NET"),
        ];
        let p = [
            ("HTTP_PORTS", "80"),
            ("SHELLCODE_PORTS", "!80"),
            ("ORACLE_PORTS", "1521"),
            ("SSH_PORTS", "22"),
            ("DNP3_PORTS", "20000"),
            ("MODBUS_PORTS", "502"),
            ("FILE_DATA_PORTS", "[$HTTP_PORTS,110,143]"),
            ("FTP_PORTS", "21"),
            ("GENEVE_PORTS", "6081"),
            ("VXLAN_PORTS", "4789"),
            ("TEREDO_PORTS", "3544"),
        ];
        Vars {
            addr: a
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            port: p
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}

/// Splits a `[a,b,[c,d]]` group body on top-level commas.
fn split_group(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim());
    out
}

impl Vars {
    pub fn addr(&self, s: &str) -> Result<AddrSet, Unsupported> {
        let mut set = AddrSet::default();
        let mut any = false;
        self.addr_into(s.trim(), false, 0, &mut set, &mut any)?;
        if any && set.pos.is_empty() {
            set.pos.clear();
        }
        Ok(set)
    }

    fn addr_into(
        &self,
        s: &str,
        neg: bool,
        depth: usize,
        out: &mut AddrSet,
        any: &mut bool,
    ) -> Result<(), Unsupported> {
        if depth > MAX_DEPTH || out.pos.len() + out.neg.len() > MAX_ITEMS {
            return Err(Unsupported {
                key: "bound:address-group".into(),
                detail: "address group nested too deep or too large".into(),
            });
        }
        if let Some(rest) = s.strip_prefix('!') {
            return self.addr_into(rest.trim(), !neg, depth + 1, out, any);
        }
        if let Some(inner) = s.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
            for item in split_group(inner) {
                self.addr_into(item, neg, depth + 1, out, any)?;
            }
            return Ok(());
        }
        if s == "any" {
            if neg {
                return Err(Unsupported {
                    key: "address:!any".into(),
                    detail: "negated 'any' matches nothing".into(),
                });
            }
            *any = true;
            return Ok(());
        }
        if let Some(name) = s.strip_prefix('$') {
            let Some(v) = self.addr.get(name) else {
                return Err(Unsupported {
                    key: format!("var:${name}"),
                    detail: format!("address variable ${name} is not defined"),
                });
            };
            let mut sub = AddrSet::default();
            let mut sub_any = false;
            self.addr_into(v, false, depth + 1, &mut sub, &mut sub_any)?;
            return merge_addr(out, sub, neg, any);
        }
        let c = Cidr::parse(s).ok_or_else(|| Unsupported {
            key: "syntax".into(),
            detail: format!("bad address {s:?}"),
        })?;
        if neg {
            out.neg.push(c);
        } else {
            out.pos.push(c);
        }
        Ok(())
    }

    pub fn port(&self, s: &str) -> Result<PortSet, Unsupported> {
        let mut set = PortSet::default();
        self.port_into(s.trim(), false, 0, &mut set)?;
        Ok(set)
    }

    fn port_into(
        &self,
        s: &str,
        neg: bool,
        depth: usize,
        out: &mut PortSet,
    ) -> Result<(), Unsupported> {
        if depth > MAX_DEPTH || out.pos.len() + out.neg.len() > MAX_ITEMS {
            return Err(Unsupported {
                key: "bound:port-group".into(),
                detail: "port group nested too deep or too large".into(),
            });
        }
        if let Some(rest) = s.strip_prefix('!') {
            return self.port_into(rest.trim(), !neg, depth + 1, out);
        }
        if let Some(inner) = s.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
            for item in split_group(inner) {
                self.port_into(item, neg, depth + 1, out)?;
            }
            return Ok(());
        }
        if s == "any" {
            if neg {
                return Err(Unsupported {
                    key: "port:!any".into(),
                    detail: "negated 'any' matches nothing".into(),
                });
            }
            return Ok(());
        }
        if let Some(name) = s.strip_prefix('$') {
            let Some(v) = self.port.get(name) else {
                return Err(Unsupported {
                    key: format!("var:${name}"),
                    detail: format!("port variable ${name} is not defined"),
                });
            };
            let v = v.clone();
            let mut sub = PortSet::default();
            self.port_into(&v, false, depth + 1, &mut sub)?;
            if neg {
                if !sub.neg.is_empty() {
                    return Err(Unsupported {
                        key: "port:double-negation".into(),
                        detail: "negation of a group with negations".into(),
                    });
                }
                out.neg.extend(sub.pos);
            } else {
                out.pos.extend(sub.pos);
                out.neg.extend(sub.neg);
            }
            return Ok(());
        }
        let bad = || Unsupported {
            key: "syntax".into(),
            detail: format!("bad port {s:?}"),
        };
        let range = match s.split_once(':') {
            Some((a, b)) => {
                let a = if a.is_empty() {
                    0
                } else {
                    a.parse().map_err(|_| bad())?
                };
                let b = if b.is_empty() {
                    65535
                } else {
                    b.parse().map_err(|_| bad())?
                };
                (a, b)
            }
            None => {
                let p = s.parse().map_err(|_| bad())?;
                (p, p)
            }
        };
        if neg {
            out.neg.push(range);
        } else {
            out.pos.push(range);
        }
        Ok(())
    }
}

fn merge_addr(
    out: &mut AddrSet,
    sub: AddrSet,
    neg: bool,
    any: &mut bool,
) -> Result<(), Unsupported> {
    if neg {
        if !sub.neg.is_empty() {
            return Err(Unsupported {
                key: "address:double-negation".into(),
                detail: "negation of a group with negations".into(),
            });
        }
        if sub.pos.is_empty() {
            return Err(Unsupported {
                key: "address:!any".into(),
                detail: "negated 'any' matches nothing".into(),
            });
        }
        out.neg.extend(sub.pos);
    } else {
        if sub.pos.is_empty() {
            *any = true;
        }
        out.pos.extend(sub.pos);
        out.neg.extend(sub.neg);
    }
    Ok(())
}
