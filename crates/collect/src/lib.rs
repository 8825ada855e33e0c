//! Flow and log inputs for Palisade: NetFlow v5, NetFlow v9 (RFC 3954), IPFIX (RFC 7011),
//! Zeek `conn.log` (TSV and JSON) and Suricata `eve.json`, all mapped onto one
//! [`FlowRecord`] (plus, for EVE, the event-specific part).
//!
//! Pure and panic-free: every decoder takes borrowed bytes or text and returns errors that
//! name the byte offset or line; the NetFlow/IPFIX template cache is bounded with LRU
//! eviction (see [`DecoderConfig`]).
#![forbid(unsafe_code)]

pub mod eve;
pub mod netflow;
pub mod record;
pub mod zeek;

pub use eve::{EveError, EveEvent, EveRecord, parse_eve};
pub use netflow::{Datagram, DecodeError, Decoder, DecoderConfig, DecoderStats};
pub use record::FlowRecord;
pub use zeek::{ZeekConn, ZeekError, ZeekReader, parse_conn_log};

/// Entry points for the fuzz targets (they must never panic).
pub mod fuzzing {
    use std::net::{IpAddr, Ipv4Addr};

    /// Feeds the input as a sequence of datagrams (split at 0xff 0xfe markers) through one
    /// decoder with a small cache, so template state carries from one datagram to the next.
    pub fn netflow(data: &[u8]) {
        let cfg = crate::DecoderConfig {
            max_templates: 8,
            max_templates_per_domain: 4,
            max_fields: 64,
            max_domains: 4,
        };
        let mut d = crate::Decoder::new(cfg);
        let exporter = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let mut n = 0u64;
        for dg in data.split(|&b| b == 0xfe) {
            let _ = d.decode(exporter, dg, &mut |r| n = n.wrapping_add(r.packets));
            assert!(d.templates() <= 8);
        }
    }

    pub fn zeek(data: &[u8]) {
        if let Ok(t) = std::str::from_utf8(data) {
            let _ = crate::parse_conn_log(t);
        }
    }

    pub fn eve(data: &[u8]) {
        if let Ok(t) = std::str::from_utf8(data) {
            let _ = crate::parse_eve(t);
        }
    }
}

#[cfg(test)]
mod tests;
