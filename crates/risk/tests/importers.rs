//! NVD importer inputs: shapes, compression, malformed JSON; KEV join.

use std::io::Write;

use palisade_risk::{Cpe, ImportError, IndexBuilder, VulnIndex, import_nvd_files};

use crate::cpe_vectors::shared;

fn tmp(name: &str, data: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("palisade-risk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

#[test]
fn malformed_json_is_a_clear_error() {
    let p = tmp(
        "bad.json",
        b"{\"vulnerabilities\": [{\"cve\": {\"id\": \"CVE-1\",\n \"configurations\": [}]}",
    );
    let err = import_nvd_files(&[p], &mut IndexBuilder::new(), &mut |_| {}).unwrap_err();
    match &err {
        ImportError::Json { line, .. } => assert_eq!(*line, 2, "{err}"),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("bad.json:2:"), "{err}");
    let p = tmp("empty.json", b"{\"resultsPerPage\": 0}");
    let err = import_nvd_files(&[p], &mut IndexBuilder::new(), &mut |_| {}).unwrap_err();
    assert!(matches!(err, ImportError::Format { .. }), "{err}");
    let p = tmp(
        "wrong.json",
        b"{\"vulnerabilities\": [{\"cve\": {\"configurations\": 3}}]}",
    );
    assert!(import_nvd_files(&[p], &mut IndexBuilder::new(), &mut |_| {}).is_err());
}

#[test]
fn shapes_and_compression() {
    let Some(s) = shared() else { return };
    let one = std::fs::read(s.join("kb/nvd-iot-subset/cves/CVE-2014-0160.json")).unwrap();
    let feed = std::fs::read(s.join("kb/nvd-iot-subset/nvd-iot-subset.api2.json")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&feed).unwrap();
    let gz = gz.finish().unwrap();
    let mut xz = lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::default()).unwrap();
    xz.write_all(&feed).unwrap();
    let xz = xz.finish().unwrap();
    // fkie-cad CVE-all shape: bare cve objects under cve_items.
    let v: serde_json::Value = serde_json::from_slice(&feed).unwrap();
    let items: Vec<&serde_json::Value> = v["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| &x["cve"])
        .collect();
    let fkie =
        serde_json::to_vec(&serde_json::json!({"timestamp": "x", "cve_items": items})).unwrap();
    let arr = serde_json::to_vec(&v["vulnerabilities"]).unwrap();
    for (name, data, n) in [
        ("one.json", one.clone(), 1),
        ("feed.json.gz", gz, 29),
        ("feed.json.xz", xz, 29),
        ("fkie.json", fkie, 29),
        ("array.json", arr, 29),
    ] {
        let mut b = IndexBuilder::new();
        let mut last = 0;
        let stats = import_nvd_files(&[tmp(name, &data)], &mut b, &mut |p| last = p).unwrap();
        assert_eq!(stats.records, n, "{name}");
        assert_eq!(
            last,
            data.len() as u64,
            "{name}: progress reaches the file size"
        );
    }
    // The same CVE twice: deduplicated.
    let mut b = IndexBuilder::new();
    import_nvd_files(
        &[tmp("a.json", &one), tmp("b.json", &one)],
        &mut b,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!((b.len(), b.replaced), (1, 1));
}

#[test]
fn index_file_round_trip_and_kev() {
    let Some(ix) = crate::cpe_vectors::subset_index() else {
        return;
    };
    assert_eq!(ix.len(), 29);
    let i = ix.find("CVE-2014-0160").unwrap();
    let info = ix.info(i).unwrap();
    assert_eq!(info.cvss.map(|c| c.score), Some(7.5));
    assert!(palisade_kb::kev_catalog().get(info.id).is_some());
    let p = std::env::temp_dir().join(format!("palisade-risk-{}.idx", std::process::id()));
    let mut b = IndexBuilder::new();
    let s = shared().unwrap();
    import_nvd_files(
        &[s.join("kb/nvd-iot-subset/nvd-iot-subset.api2.json")],
        &mut b,
        &mut |_| {},
    )
    .unwrap();
    b.write_file(&p).unwrap();
    let t = std::time::Instant::now();
    let loaded = VulnIndex::load(&p).unwrap();
    eprintln!("subset index loaded in {:?}", t.elapsed());
    let inv = vec![(
        Cpe::parse("cpe:2.3:a:openssl:openssl:1.0.1f:*:*:*:*:*:*:*").unwrap(),
        1.0,
    )];
    assert_eq!(loaded.matches(&inv).len(), 1);
    std::fs::remove_file(&p).ok();
}
