//! `tls.weak`: TLS handshakes that offer or select obsolete protocol versions (SSLv3,
//! TLS 1.0/1.1) or broken cipher suites (NULL, EXPORT, anonymous, RC4, DES, 3DES), and
//! self-signed certificates on local device services, read from the cleartext
//! ClientHello / ServerHello / Certificate messages (TLS ≤ 1.2 sends certificates in
//! clear; TLS 1.3 does not, so no certificate finding is possible there).
//!
//! Stateless: every handshake record is judged on its own, so no per-flow state is kept.
//! Certificates are only seen when the leaf certificate fits in the segment that carries
//! the Certificate message. A leaf whose validity period (notBefore..notAfter) does not
//! contain the packet time is reported as expired / not yet valid (packet time, never
//! the wall clock).

use palisade_proto::tls;

/// Weak cipher suite families by IANA code point.
pub fn weak_suite(code: u16) -> Option<&'static str> {
    Some(match code {
        0x0000..=0x0002
        | 0x002c..=0x002e
        | 0x003b
        | 0x00b0
        | 0x00b1
        | 0x00b4
        | 0x00b5
        | 0x00b8
        | 0x00b9
        | 0xc001
        | 0xc006
        | 0xc00b
        | 0xc010
        | 0xc015 => "NULL encryption",
        0x0003
        | 0x0006
        | 0x0008
        | 0x000b
        | 0x000e
        | 0x0011
        | 0x0014
        | 0x0017
        | 0x0019
        | 0x0026..=0x002a
        | 0x0060..=0x0065 => "EXPORT",
        0x0018
        | 0x001a
        | 0x001b
        | 0x0034
        | 0x003a
        | 0x006c
        | 0x006d
        | 0x00a6
        | 0x00a7
        | 0xc016..=0xc019 => "anonymous (no authentication)",
        0x0004 | 0x0005 | 0x0020 | 0x0024 | 0x002b | 0x008a | 0x008e | 0x0092 | 0xc002 | 0xc007
        | 0xc00c | 0xc011 | 0xc033 => "RC4",
        0x0009 | 0x000c | 0x000f | 0x0012 | 0x0015 | 0x001e | 0x0022 => "DES",
        0x000a | 0x000d | 0x0010 | 0x0013 | 0x0016 | 0x001f | 0x0023 | 0xc003 | 0xc008 | 0xc00d
        | 0xc012 => "3DES (Sweet32)",
        _ => return None,
    })
}

/// Suite families a client should never offer (offering 3DES/DES alongside modern suites
/// is common in older stacks and only matters when selected).
fn never_offer(family: &str) -> bool {
    matches!(
        family,
        "NULL encryption" | "EXPORT" | "anonymous (no authentication)" | "RC4"
    )
}

pub fn version_name(v: u16) -> &'static str {
    match v {
        0x0002 | 0x0200 => "SSLv2",
        0x0300 => "SSLv3",
        0x0301 => "TLS 1.0",
        0x0302 => "TLS 1.1",
        0x0303 => "TLS 1.2",
        0x0304 => "TLS 1.3",
        _ => "unknown",
    }
}

/// One weakness found in a handshake message. Cheap to build: the reason text and the
/// evidence are only formatted when a finding is reported ([`Weakness::reason`],
/// [`Weakness::evidence`]), since a device repeats the same handshake all day.
#[derive(Debug, Clone, PartialEq)]
pub struct Weakness {
    /// Stable short id (part of the aggregation key).
    pub id: &'static str,
    /// Whether the server side is at fault (version/suite selected, certificate).
    pub server_side: bool,
    detail: Detail,
}

#[derive(Debug, Clone, PartialEq)]
enum Detail {
    ClientMaxVersion {
        version: u16,
        sni: Option<String>,
    },
    ClientOffers {
        families: Vec<&'static str>,
        codes: Vec<u16>,
        offered: usize,
        sni: Option<String>,
    },
    ServerVersion {
        version: u16,
        suite: u16,
    },
    ServerSuite {
        version: u16,
        suite: u16,
        family: &'static str,
    },
    SelfSigned(tls::CertSummary),
    /// The leaf's validity period does not contain the packet time.
    Validity {
        leaf: tls::CertSummary,
        not_before: i64,
        not_after: i64,
        packet_time: i64,
    },
}

impl Weakness {
    pub fn reason(&self) -> String {
        match &self.detail {
            Detail::ClientMaxVersion { version, .. } => {
                format!("client offers at most {}", version_name(*version))
            }
            Detail::ClientOffers { families, .. } => {
                format!("client offers {} cipher suites", families.join("/"))
            }
            Detail::ServerVersion { version, .. } => {
                format!("server selected {}", version_name(*version))
            }
            Detail::ServerSuite { family, .. } => {
                format!("server selected a {family} cipher suite")
            }
            Detail::SelfSigned(_) => "device service presents a self-signed certificate".into(),
            Detail::Validity {
                not_before,
                not_after,
                packet_time,
                ..
            } => {
                if packet_time > not_after {
                    format!(
                        "device service presents an expired certificate (expired {} days before the handshake)",
                        packet_time.saturating_sub(*not_after) / 86_400
                    )
                } else {
                    format!(
                        "device service presents a certificate that is not yet valid (valid {} days after the handshake)",
                        not_before
                            .saturating_sub(*packet_time)
                            .saturating_add(86_399)
                            / 86_400
                    )
                }
            }
        }
    }

    pub fn evidence(&self) -> serde_json::Value {
        match &self.detail {
            Detail::ClientMaxVersion { version, sni } => serde_json::json!({
                "offered_max_version": version_name(*version),
                "sni": sni,
            }),
            Detail::ClientOffers {
                families,
                codes,
                offered,
                sni,
            } => serde_json::json!({
                "weak_families": families,
                "weak_suites_offered": codes.iter().map(|c| format!("0x{c:04x}")).collect::<Vec<_>>(),
                "suites_offered": offered,
                "sni": sni,
            }),
            Detail::ServerVersion { version, suite } => serde_json::json!({
                "selected_version": version_name(*version),
                "cipher_suite": format!("0x{suite:04x}"),
            }),
            Detail::ServerSuite {
                version,
                suite,
                family,
            } => serde_json::json!({
                "selected_version": version_name(*version),
                "cipher_suite": format!("0x{suite:04x}"),
                "suite_family": family,
            }),
            Detail::SelfSigned(leaf) => serde_json::json!({
                "subject_cn": leaf.subject_cn,
                "subject_o": leaf.subject_o,
                "issuer_cn": leaf.issuer_cn,
            }),
            Detail::Validity {
                leaf,
                not_before,
                not_after,
                packet_time,
            } => serde_json::json!({
                "subject_cn": leaf.subject_cn,
                "subject_o": leaf.subject_o,
                "issuer_cn": leaf.issuer_cn,
                "self_signed": leaf.self_signed,
                "not_before": rfc3339(*not_before),
                "not_after": rfc3339(*not_after),
                "handshake_time": rfc3339(*packet_time),
            }),
        }
    }
}

/// The hello version and the cipher-suite bytes (ClientHello) or the selected suite
/// (ServerHello) read straight from the first record, without parsing extensions: most
/// handshakes are modern, and this screen lets them skip the full parse.
fn screen(p: &[u8], client: bool) -> Option<(u16, &[u8])> {
    // record header (5) + handshake header (4) + version (2) + random (32)
    if p.len() < 44 || p.get(5) != Some(&(if client { 1 } else { 2 })) {
        return None;
    }
    let version = u16::from_be_bytes([p[9], p[10]]);
    let sid = *p.get(43)? as usize;
    let at = 44 + sid;
    if client {
        let n = u16::from_be_bytes([*p.get(at)?, *p.get(at + 1)?]) as usize;
        Some((version, p.get(at + 2..at + 2 + n)?))
    } else {
        Some((version, p.get(at..at + 2)?))
    }
}

/// Whether a hello can hold a weakness (an old version or a weak suite).
fn suspicious(p: &[u8], client: bool) -> bool {
    let Some((version, suites)) = screen(p, client) else {
        return true; // unusual layout: let the full parser decide
    };
    version < 0x0303
        || suites.chunks_exact(2).any(|c| {
            weak_suite(u16::from_be_bytes([c[0], c[1]])).is_some_and(|f| !client || never_offer(f))
        })
}

/// Entries of [`HelloMemo`] (direct-mapped).
const HELLO_MEMO: usize = 256;

/// A small direct-mapped cache of [`client_hello`] verdicts keyed by a hash of the hello
/// without its random and session id (the only parts that change between a device's
/// repeated handshakes; neither enters a verdict). Bounded: 256 entries.
#[derive(Debug, Clone, Default)]
pub struct HelloMemo {
    slots: Vec<Option<(u64, Vec<Weakness>)>>,
    pub hits: u64,
}

impl HelloMemo {
    /// [`client_hello`], answered from the cache for a hello seen before.
    pub fn client_hello(&mut self, payload: &[u8]) -> Vec<Weakness> {
        if !suspicious(payload, true) {
            return Vec::new();
        }
        let Some(key) = hello_key(payload) else {
            return client_hello(payload);
        };
        if self.slots.is_empty() {
            self.slots = vec![None; HELLO_MEMO];
        }
        let at = (key as usize) % HELLO_MEMO;
        if let Some(Some((k, v))) = self.slots.get(at)
            && *k == key
        {
            self.hits += 1;
            return v.clone();
        }
        let v = client_hello(payload);
        if let Some(s) = self.slots.get_mut(at) {
            *s = Some((key, v.clone()));
        }
        v
    }
}

/// Hash of a ClientHello payload minus random (bytes 11..43) and session id, with its
/// length. None when the layout is too short to hold them.
fn hello_key(p: &[u8]) -> Option<u64> {
    use std::hash::Hasher;
    let sid = *p.get(43)? as usize;
    let rest = p.get(44 + sid..)?;
    let mut h = rustc_hash::FxHasher::default();
    h.write(p.get(..11)?);
    h.write_u8(sid as u8);
    h.write(rest);
    h.write_usize(p.len());
    Some(h.finish())
}

/// Judges a client→server payload that starts a TLS handshake.
pub fn client_hello(payload: &[u8]) -> Vec<Weakness> {
    if !suspicious(payload, true) {
        return Vec::new();
    }
    let Ok(ch) = tls::parse_client_hello(payload) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let max_version = ch
        .supported_versions
        .iter()
        .copied()
        .filter(|v| !tls::is_grease(*v))
        .max()
        .unwrap_or(ch.handshake_version);
    let mut families: Vec<&'static str> = Vec::new();
    let mut codes: Vec<u16> = Vec::new();
    for &c in &ch.cipher_suites {
        if let Some(f) = weak_suite(c).filter(|f| never_offer(f)) {
            if !families.contains(&f) {
                families.push(f);
            }
            if codes.len() < 8 {
                codes.push(c);
            }
        }
    }
    if max_version >= 0x0303 && families.is_empty() {
        return out;
    }
    let sni = ch.sni.map(|s| s.chars().take(100).collect::<String>());
    if max_version < 0x0303 {
        out.push(Weakness {
            id: "client-max-version",
            server_side: false,
            detail: Detail::ClientMaxVersion {
                version: max_version,
                sni: sni.clone(),
            },
        });
    }
    if !families.is_empty() {
        out.push(Weakness {
            id: "client-offers-weak-suites",
            server_side: false,
            detail: Detail::ClientOffers {
                families,
                codes,
                offered: ch.cipher_suites.len(),
                sni,
            },
        });
    }
    out
}

/// Seconds since the epoch as RFC 3339 UTC (`2016-03-01T12:00:00Z`).
fn rfc3339(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // civil_from_days (Howard Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// Judges a server→client payload that starts with a TLS handshake record.
/// `local_server`: the server is a local device (certificate findings apply);
/// `packet_s`: the packet's capture time (seconds since the epoch), against which the
/// certificate's validity period is checked (never the wall clock, so a replayed capture
/// gives the same answer).
pub fn server_flight(payload: &[u8], local_server: bool, packet_s: i64) -> Vec<Weakness> {
    let mut out = Vec::new();
    if suspicious(payload, false)
        && let Ok(sh) = tls::parse_server_hello(payload)
    {
        let v = sh.selected_version.unwrap_or(sh.version);
        if v < 0x0303 {
            out.push(Weakness {
                id: "server-selected-version",
                server_side: true,
                detail: Detail::ServerVersion {
                    version: v,
                    suite: sh.cipher_suite,
                },
            });
        }
        if let Some(family) = weak_suite(sh.cipher_suite) {
            out.push(Weakness {
                id: "server-selected-suite",
                server_side: true,
                detail: Detail::ServerSuite {
                    version: v,
                    suite: sh.cipher_suite,
                    family,
                },
            });
        }
    }
    if local_server && let Some(leaf) = tls::certificate_subjects(payload).into_iter().next() {
        if let Some((not_before, not_after)) = leaf.validity
            && (packet_s > not_after || packet_s < not_before)
        {
            out.push(Weakness {
                id: if packet_s > not_after {
                    "expired-certificate"
                } else {
                    "certificate-not-yet-valid"
                },
                server_side: true,
                detail: Detail::Validity {
                    leaf: leaf.clone(),
                    not_before,
                    not_after,
                    packet_time: packet_s,
                },
            });
        }
        if leaf.self_signed {
            out.push(Weakness {
                id: "self-signed-certificate",
                server_side: true,
                detail: Detail::SelfSigned(leaf),
            });
        }
    }
    out
}
