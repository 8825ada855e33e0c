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
        // The same text as a Public Suffix List and as a name under it.
        let list = palisade_detect::psl::SuffixList::parse(text, "fuzz");
        let _ = list.registrable(text.lines().last().unwrap_or(""));
    }
    let _ = palisade_detect::tls::client_hello(data);
    // Certificate validity is judged at the packet time: ordinary and extreme times.
    for t in [
        1_700_000_000,
        i64::MIN / 1_000_000_000,
        i64::MAX / 1_000_000_000,
    ] {
        for w in palisade_detect::tls::server_flight(data, true, t) {
            let _ = (w.reason(), w.evidence());
        }
    }
    let mut memo = palisade_detect::tls::HelloMemo::default();
    let _ = memo.client_hello(data);
    let _ = memo.client_hello(data);
});
