#![no_main]
use palisade_kb::p0f::{IpFacts, SynSignature, TcpDatabase, TcpSignature};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // The first bytes choose the IP facts; the rest is a TCP segment.
    if let [v, ttl, olen, flags, rest @ ..] = data {
        let ip = IpFacts {
            version: if v & 1 == 0 { 4 } else { 6 },
            ttl: *ttl,
            options_len: *olen % 41,
            dont_fragment: flags & 1 != 0,
            id: u16::from(*flags),
            tos: *flags >> 1,
            reserved_flag: flags & 0x80 != 0,
            flow_label: u32::from(*flags),
        };
        if let Some(sig) = SynSignature::from_segment(ip, rest) {
            let text = sig.to_string();
            let back = TcpSignature::parse(&text, sig.response).expect("own form parses");
            assert!(back.matches(&sig).is_some() || back.ittl < sig.ttl);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = TcpDatabase::parse_p0f_fp(text);
    }
});
