#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let cats = std::collections::HashMap::new();
        let _ = palisade_kb::OuiTable::parse(text, "fuzz");
        let _ = palisade_kb::Discovery::parse(text, "fuzz", &cats);
        let _ = palisade_kb::parse_service_categories(text, "fuzz");
        let _ = palisade_kb::parse_mirai_credentials(text, "fuzz");
    }
});
