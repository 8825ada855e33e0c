//! Reduces a device's state to the classifier's feature layout (`palisade_classify::features`).

use palisade_classify::features::{DeviceSummary, vectorize, words};

use crate::{DeviceState, Observation};

/// Registrable-looking suffix of a DNS name ("a.b.meethue.com" → "meethue.com").
fn domain_tail(name: &str) -> String {
    let labels: Vec<&str> = name.trim_end_matches('.').rsplit('.').take(2).collect();
    labels.into_iter().rev().collect::<Vec<_>>().join(".")
}

/// The plain-value summary the classifier sees.
pub fn summary(d: &DeviceState) -> DeviceSummary {
    let b = &d.behaviour;
    let mut tokens: Vec<String> = Vec::new();
    tokens.push(format!(
        "oui:{:02x}{:02x}{:02x}",
        d.mac[0], d.mac[1], d.mac[2]
    ));
    for h in &d.hostnames {
        tokens.extend(words(h).map(|w| format!("host:{w}")));
        // Unmasked too: product codes differ only in digits (HS100 vs HS110).
        tokens.push(format!("hostraw:{}", h.to_ascii_lowercase()));
    }
    for q in &d.dns_queries {
        tokens.push(format!("dns:{}", domain_tail(q)));
    }
    for (p, port) in &d.services {
        tokens.push(format!("svc:{p}/{port}"));
    }
    for f in d.facts() {
        match f {
            Observation::DhcpClient {
                vendor_class,
                param_list,
                ..
            } => {
                if let Some(p) = param_list {
                    tokens.push(format!("prl:{p}"));
                }
                if let Some(v) = vendor_class {
                    tokens.extend(words(&v).map(|w| format!("vc:{w}")));
                }
            }
            Observation::MdnsService { service_type, .. } => {
                tokens.push(format!("mdns:{service_type}"))
            }
            Observation::SsdpAdvert { server, kind, .. } => {
                if let Some(s) = server {
                    tokens.extend(words(&s).map(|w| format!("ssdp:{w}")));
                }
                if let Some(k) = kind {
                    tokens.push(format!("ssdpt:{k}"));
                }
            }
            Observation::SsdpSearch {
                user_agent: Some(ua),
                ..
            }
            | Observation::HttpUserAgent(ua) => {
                tokens.extend(words(&ua).map(|w| format!("ua:{w}")))
            }
            Observation::HttpServer(s) => tokens.extend(words(&s).map(|w| format!("srv:{w}"))),
            Observation::TlsClient { ja4, .. } => {
                tokens.push(format!(
                    "ja4a:{}",
                    ja4.split('_').next().unwrap_or_default()
                ));
                tokens.push(format!("ja4:{ja4}"));
            }
            Observation::TlsCertificate {
                subject_cn: Some(cn),
                ..
            } => tokens.extend(words(&cn).map(|w| format!("cert:{w}"))),
            Observation::MqttClient { client_id, .. } => {
                tokens.extend(words(&client_id).map(|w| format!("mqtt:{w}")))
            }
            Observation::CoapResource(p) => tokens.push(format!("coap:{p}")),
            Observation::Banner { text, .. } => {
                tokens.extend(words(&text).map(|w| format!("banner:{w}")))
            }
            _ => {}
        }
    }
    DeviceSummary {
        protocols: d.protocols.iter().map(|p| p.to_string()).collect(),
        tx_packets: b.tx_packets,
        tx_bytes: b.tx_bytes,
        tx_size_sq_sum: b.tx_size_sq_sum,
        tcp: b.tcp,
        udp: b.udp,
        icmp: b.icmp,
        to_local: b.to_local,
        to_remote: b.to_remote,
        distinct_dst_ips: b.dst_ips.estimate(),
        distinct_dst_ports: b.dst_ports.estimate(),
        port_classes: b.port_classes,
        max_ttl: b.max_ttl,
        services: d.services.len() as u64,
        tokens,
    }
}

/// The classifier's input vector for this device.
pub fn feature_vector(d: &DeviceState) -> Vec<f32> {
    vectorize(&summary(d))
}
