//! Entry points for the cargo-fuzz targets in `fuzz/` (thin wrappers, rustls style).

use crate::cpe::Cpe;
use crate::index::{IndexBuilder, VulnIndex};

/// CPE 2.3 parsing: never panics; a parsed name re-parses to itself.
pub fn cpe(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = Cpe::parse(s) {
        let again = Cpe::parse(&c.to_string());
        assert_eq!(again.as_ref().ok(), Some(&c), "{s:?} -> {c}");
        let _ = c.matches(&c, false);
    }
    let _ = crate::version::compare(s, "1.0.1f");
    let _ = crate::version::normalize(s);
}

/// NVD JSON import and the index round trip: never panics.
pub fn nvd_json(data: &[u8]) {
    let mut b = IndexBuilder::new();
    let mut stats = crate::import::ImportStats::default();
    let counter = std::sync::atomic::AtomicU64::new(0);
    let r = crate::import::import_nvd_reader(
        data,
        std::path::Path::new("fuzz"),
        &mut b,
        &mut stats,
        &counter,
        &mut |_| {},
    );
    if r.is_ok() {
        let mut out = Vec::new();
        if b.write_to(&mut out).is_ok()
            && let Ok(ix) = VulnIndex::from_bytes(out)
        {
            for i in 0..ix.len() as u32 {
                let _ = ix.configurations(i);
            }
        }
    }
}

/// Index loading from arbitrary bytes: errors, never panics.
pub fn index_bytes(data: &[u8]) {
    let mut v = b"#palisade-kb\tpack=nvd-index\tformat=1\tsource=f\tsource_version=f\tlicence=f\trecords=1\nPVIX\x01\0\0\0".to_vec();
    v.extend_from_slice(data);
    if let Ok(ix) = VulnIndex::from_bytes(v) {
        let _ = ix.info(0);
        let _ = ix.configurations(0);
        let _ = ix.candidates("a", "b");
        let _ = ix.find("CVE-1");
    }
}

/// The block decompressors (first byte picks one): never panic, never exceed the limit.
pub fn decompress(data: &[u8]) {
    const LIMIT: u64 = 1 << 20;
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let out = match which % 5 {
        0 => crate::decompress::unlzo1x(rest, LIMIT),
        1 => crate::decompress::unlz4_block(rest, LIMIT),
        2 => crate::decompress::unzstd(rest, LIMIT),
        3 => crate::decompress::unxz(rest, LIMIT),
        _ => crate::decompress::unlzma(rest, LIMIT),
    };
    if let Ok(o) = out {
        assert!(o.len() as u64 <= LIMIT);
    }
}

/// Firmware dates in banner text: never panics.
pub fn firmware_dates(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let _ = crate::age::dates_in(&s);
}
