//! The feature layout shared by training, evaluation and the sensor.
//!
//! Numeric behaviour (protocol mix, packet sizes, fan-out, port classes, TTL family) plus
//! hashed presence of identifying tokens (host-name words, queried domains, DHCP parameter
//! list, vendor class, SSDP/HTTP product tokens, mDNS service types, JA4, OUI). Hashing keeps
//! the vector fixed-size whatever the vocabulary.

/// Bumped whenever the layout below changes; models record the spec they were trained with.
pub const FEATURE_SPEC: u32 = 1;

/// Application protocols whose presence is a feature, in this order.
pub const PROTOCOLS: &[&str] = &[
    "arp", "dhcp", "dns", "mdns", "ssdp", "http", "tls", "ntp", "mqtt", "coap", "telnet", "ftp",
    "ssh", "lldp", "cdp", "eapol",
];

/// Buckets for hashed tokens.
pub const TOKEN_BUCKETS: usize = 128;

/// Numeric features before the token buckets.
pub const NUMERIC: usize = 16;

pub const N_FEATURES: usize = PROTOCOLS.len() + NUMERIC + TOKEN_BUCKETS;

/// What the inventory knows about a device, reduced to plain values.
#[derive(Debug, Clone, Default)]
pub struct DeviceSummary {
    pub protocols: Vec<String>,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_size_sq_sum: f64,
    pub tcp: u64,
    pub udp: u64,
    pub icmp: u64,
    pub to_local: u64,
    pub to_remote: u64,
    pub distinct_dst_ips: u64,
    pub distinct_dst_ports: u64,
    /// Destination ports: well-known (<1024), registered (<49152), dynamic.
    pub port_classes: [u64; 3],
    pub max_ttl: u8,
    pub services: u64,
    pub tokens: Vec<String>,
}

fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Splits free text into lower-case tokens worth hashing (words of 3+ letters; digits
/// replaced by `#` so unit serials do not fragment the vocabulary).
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_ascii_alphanumeric() && c != '-')
        .filter(|w| w.len() >= 3)
        .map(|w| {
            w.to_ascii_lowercase()
                .chars()
                .map(|c| if c.is_ascii_digit() { '#' } else { c })
                .collect()
        })
}

/// The feature vector (length [`N_FEATURES`]).
pub fn vectorize(s: &DeviceSummary) -> Vec<f32> {
    let mut v = Vec::with_capacity(N_FEATURES);
    for p in PROTOCOLS {
        v.push(s.protocols.iter().any(|x| x == p) as u8 as f32);
    }
    let n = s.tx_packets.max(1) as f64;
    let mean = s.tx_bytes as f64 / n;
    let var = (s.tx_size_sq_sum / n - mean * mean).max(0.0);
    let ip = (s.tcp + s.udp + s.icmp).max(1) as f64;
    let dst = (s.to_local + s.to_remote).max(1) as f64;
    let ports = s.port_classes.iter().sum::<u64>().max(1) as f64;
    let ttl_family = match s.max_ttl {
        0 => 0.0,
        1..=64 => 1.0,
        65..=128 => 2.0,
        _ => 3.0,
    };
    let numeric = [
        (s.tx_packets as f64).ln_1p(),
        (s.tx_bytes as f64).ln_1p(),
        mean,
        var.sqrt(),
        s.tcp as f64 / ip,
        s.udp as f64 / ip,
        s.icmp as f64 / ip,
        s.to_local as f64 / dst,
        (s.distinct_dst_ips as f64).ln_1p(),
        (s.distinct_dst_ports as f64).ln_1p(),
        s.port_classes[0] as f64 / ports,
        s.port_classes[1] as f64 / ports,
        s.port_classes[2] as f64 / ports,
        ttl_family,
        s.services as f64,
        s.protocols.len() as f64,
    ];
    debug_assert_eq!(numeric.len(), NUMERIC);
    v.extend(numeric.iter().map(|x| *x as f32));
    let mut buckets = vec![0f32; TOKEN_BUCKETS];
    let mut seen = std::collections::BTreeSet::new();
    for t in &s.tokens {
        if seen.insert(t.as_str()) {
            buckets[(fnv(t) % TOKEN_BUCKETS as u64) as usize] += 1.0;
        }
    }
    v.extend(buckets);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_fixed_and_tokens_hash_stably() {
        let mut s = DeviceSummary {
            protocols: vec!["dhcp".into(), "tls".into()],
            tx_packets: 10,
            tx_bytes: 1000,
            tx_size_sq_sum: 100_000.0,
            tokens: vec!["host:dcs-###l".into(), "host:dcs-###l".into()],
            ..Default::default()
        };
        let v = vectorize(&s);
        assert_eq!(v.len(), N_FEATURES);
        assert_eq!(v[1], 1.0);
        assert_eq!(v[PROTOCOLS.len() + 2], 100.0);
        assert_eq!(
            v[PROTOCOLS.len() + NUMERIC..].iter().sum::<f32>(),
            1.0,
            "duplicates count once"
        );
        s.tokens.push("dns:mydlink.com".into());
        assert_eq!(
            vectorize(&s)[PROTOCOLS.len() + NUMERIC..]
                .iter()
                .sum::<f32>(),
            2.0
        );
        let w: Vec<String> = words("DCS-935L v1.2 (EU)").collect();
        assert_eq!(w, vec!["dcs-###l".to_string()]);
    }
}
