#![no_main]

// `palisade analyze --detect-config FILE`: arbitrary bytes must give a config or an error,
// never a panic; the DNS/TLS judges run on the same bytes as handshake/query names.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(cfg) = palisade_detect::DetectConfig::from_json(text, "fuzz") {
            let _ = cfg.validate();
        }
        let reg = palisade_detect::dns::registered_domain(text);
        let _ = palisade_detect::dns::dga_score(reg);
    }
    let _ = palisade_detect::tls::client_hello(data);
    let _ = palisade_detect::tls::server_flight(data, true);
});
