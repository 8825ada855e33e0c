//! DNS detectors: `dns.dga` (NXDOMAIN answers for random-looking names) and `dns.tunnel`
//! (queries carrying data: long or high-entropy labels, many unique subdomains of one
//! registered domain, TXT/NULL lookups with encoded names).
//!
//! Each worker sees the DNS of the device/resolver pairs it owns and emits one finding
//! per *distinct* suspicious name (bounded de-duplication set); the thresholds (names per
//! packet-time window) are applied in [`crate::finalize`] on the merged view, so the
//! result does not depend on the number of workers.

use palisade_proto::dns::DnsMessage;
use rustc_hash::FxHashSet;
use serde_json::json;

use crate::alert::{Finding, Kind, Mac};
use crate::config::DetectConfig;
use crate::net::{Addr, ip, is_group, is_local};
use crate::sketch::{hash_addr, mix64};

/// Names remembered for de-duplication before the set is cleared.
const DEDUP_CAP: usize = 65_536;
/// Longest name kept in evidence.
const NAME_MAX: usize = 100;

/// Per-worker DNS detector state.
#[derive(Debug, Default)]
pub struct DnsDetector {
    seen: FxHashSet<u64>,
}

/// One DNS message with the addresses it travelled between.
#[derive(Debug, Clone, Copy)]
pub struct DnsPacket<'m, 'a> {
    pub ts: i64,
    pub src: Addr,
    pub dst: Addr,
    pub src_mac: Option<Mac>,
    pub dst_mac: Option<Mac>,
    pub msg: &'m DnsMessage<'a>,
}

impl DnsDetector {
    /// Examines one DNS message; returns the findings it produces (at most one).
    pub fn packet(&mut self, cfg: &DetectConfig, p: &DnsPacket<'_, '_>) -> Option<Finding> {
        let m = p.msg;
        let q = m.questions.first()?;
        // Cheap exits first: only NXDOMAIN answers and long or TXT/NULL queries can match.
        if m.is_response && m.rcode != 3
            || !m.is_response
                && q.name.len() < cfg.tunnel_min_label_len.min(32)
                && !matches!(q.qtype, 10 | 16)
        {
            return None;
        }
        let name = q.name.trim_end_matches('.').to_ascii_lowercase();
        // The device is the querier: the source of a query, the destination of an answer.
        let (dev, dev_mac, resolver) = if m.is_response {
            (p.dst, p.dst_mac, p.src)
        } else {
            (p.src, p.src_mac, p.dst)
        };
        if !is_local(&dev) || is_group(&dev) || is_group(&resolver) || ignored_name(&name) {
            return None;
        }
        let dev_mac = dev_mac.filter(|m| m[0] & 1 == 0);
        let window = Some(p.ts.div_euclid(cfg.dns_window_ns()));
        let reg = registered_domain(&name);
        if m.is_response {
            if m.rcode != 3 {
                return None;
            }
            let score = dga_score(reg)?;
            if !self.first_time(&dev, &name, 1) {
                return None;
            }
            let shown: String = name.chars().take(NAME_MAX).collect();
            let mut f = Finding::new(Kind::DnsDga, "nxdomain", dev_mac, p.ts);
            f.window = window;
            f.src = Some(ip(&dev));
            f.dst = Some(ip(&resolver));
            f.summary = format!(
                "{} looks up algorithmically generated names answered NXDOMAIN (e.g. {shown})",
                ip(&dev)
            );
            f.evidence = json!({
                "resolver": ip(&resolver).to_string(),
                "first_name": shown,
                "label_entropy_bits": (score.entropy * 100.0).round() / 100.0,
                "label_length": score.len,
                "window_s": cfg.dns_window_s,
                "rule": "distinct NXDOMAIN names whose registered label is long, high-entropy and unpronounceable",
            });
            f.lists.push(("names_sample", shown));
            f.sums.push(("nxdomain_names", 1));
            return Some(f);
        }
        let reason = tunnel_reason(cfg, &name, reg, q.qtype)?;
        if !self.first_time(&dev, &name, q.qtype as u64) {
            return None;
        }
        let shown: String = name.chars().take(NAME_MAX).collect();
        let mut f = Finding::new(Kind::DnsTunnel, reg.to_string(), dev_mac, p.ts);
        f.window = window;
        f.src = Some(ip(&dev));
        f.dst = Some(ip(&resolver));
        f.summary = format!(
            "{} sends data-carrying DNS queries under {reg} ({reason})",
            ip(&dev)
        );
        f.evidence = json!({
            "registered_domain": reg,
            "suffix_list": crate::psl::active().source,
            "resolver": ip(&resolver).to_string(),
            "first_query": shown,
            "qtype": q.qtype,
            "reason": reason,
            "longest_label": name.split('.').map(str::len).max().unwrap_or(0),
            "window_s": cfg.dns_window_s,
        });
        f.lists.push(("queries_sample", shown));
        f.sums.push(("unique_queries", 1));
        f.sums.push((
            "subdomain_bytes",
            name.len().saturating_sub(reg.len()) as u64,
        ));
        Some(f)
    }

    /// True the first time (device, name, tag) is seen (bounded; cleared when full).
    fn first_time(&mut self, dev: &Addr, name: &str, tag: u64) -> bool {
        let mut h = hash_addr(dev) ^ mix64(tag);
        for chunk in name.as_bytes().chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            h = mix64(h ^ u64::from_le_bytes(b));
        }
        if self.seen.len() >= DEDUP_CAP {
            self.seen.clear();
        }
        self.seen.insert(h)
    }
}

/// Local and infrastructure names no detector judges (mDNS, reverse lookups, service
/// discovery, search-domain suffixes).
fn ignored_name(name: &str) -> bool {
    !name.contains('.')
        || name.contains('_')
        || [
            ".local",
            ".arpa",
            ".lan",
            ".home",
            ".localdomain",
            ".internal",
            ".home.arpa",
            ".corp",
        ]
        .iter()
        .any(|s| name.ends_with(s))
}

/// The registered domain (eTLD+1) by the Public Suffix List in use
/// ([`crate::psl::active`]: the knowledge-pack or Debian copy of the full list, else a
/// built-in set of common multi-label suffixes). `name`: lower case, no trailing dot.
pub fn registered_domain(name: &str) -> &str {
    crate::psl::active().registrable(name)
}

/// Shannon entropy in bits per character.
pub fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    for &b in s.as_bytes() {
        counts[b as usize] += 1;
    }
    let n = s.len().max(1) as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

#[derive(Debug, Clone, Copy)]
pub struct DgaScore {
    pub len: usize,
    pub entropy: f64,
}

/// Whether the registered label of `reg` looks machine-generated: long, high-entropy and
/// hard to pronounce (few vowels or long consonant runs) or mixing many digits in.
pub fn dga_score(reg: &str) -> Option<DgaScore> {
    let label = reg.split('.').next()?;
    let len = label.len();
    if len < 8 || label.contains('-') {
        return None;
    }
    // Near the maximum entropy for the label's length (random draws repeat a few letters).
    let e = entropy(label);
    if e < 0.7 * (len.min(26) as f64).log2() {
        return None;
    }
    let vowels = label.bytes().filter(|b| b"aeiouy".contains(b)).count();
    let digits = label.bytes().filter(u8::is_ascii_digit).count();
    let mut run = 0usize;
    let mut max_run = 0usize;
    for b in label.bytes() {
        if b.is_ascii_alphabetic() && !b"aeiouy".contains(&b) {
            run += 1;
            max_run = max_run.max(run);
        } else {
            run = 0;
        }
    }
    let vowel_ratio = vowels as f64 / len as f64;
    let random = vowel_ratio < 0.25 || max_run >= 5 || (digits >= 3 && digits * 2 < len);
    random.then_some(DgaScore { len, entropy: e })
}

/// Why a query looks like DNS tunnelling, if it does.
fn tunnel_reason(cfg: &DetectConfig, name: &str, reg: &str, qtype: u16) -> Option<&'static str> {
    let sub = name.strip_suffix(reg)?.trim_end_matches('.');
    if sub.is_empty() {
        return None;
    }
    let longest = sub.split('.').map(str::len).max().unwrap_or(0);
    if longest >= cfg.tunnel_min_label_len {
        return Some("long label");
    }
    let compact: String = sub.chars().filter(|&c| c != '.').collect();
    if compact.len() >= 32 && entropy(&compact) >= 4.0 {
        return Some("high-entropy subdomain");
    }
    if matches!(qtype, 10 | 16) && compact.len() >= 16 && entropy(&compact) >= 3.5 {
        return Some(if qtype == 10 {
            "NULL query with an encoded subdomain"
        } else {
            "TXT query with an encoded subdomain"
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_domains_and_scores() {
        assert_eq!(registered_domain("a.b.example.com"), "example.com");
        assert_eq!(registered_domain("example.com"), "example.com");
        assert_eq!(registered_domain("www.bbc.co.uk"), "bbc.co.uk");
        assert_eq!(registered_domain("x.y.t.co"), "t.co");
        for benign in [
            "google.com",
            "facebook.com",
            "meethue.com",
            "amazonaws.com",
            "philips-hue.com",
            "tplinkcloud.com",
            "xiaomi.com",
            "googleapis.com",
            "samsungcloudsolution.com",
        ] {
            assert!(dga_score(benign).is_none(), "{benign}");
        }
        for dga in [
            "xjwqkzpvtrmbn.com",
            "qxgkwzrtbvhpl.net",
            "a8f3k2q9z7w1.org",
            "vcbxzqrtyplkjh.info",
        ] {
            assert!(dga_score(dga).is_some(), "{dga}");
        }
    }
}
