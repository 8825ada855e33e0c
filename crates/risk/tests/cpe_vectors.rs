//! The 41 inventory → CVE cases of `shared/kb/nvd-iot-subset`, through both the JSON
//! records directly and the on-disk index.

use std::path::PathBuf;

use palisade_risk::{Cpe, IndexBuilder, VulnIndex, import_nvd_files};

pub fn shared() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    if p.join("kb/nvd-iot-subset").is_dir() {
        Some(p)
    } else {
        eprintln!("skipping: {} not found", p.display());
        None
    }
}

pub fn subset_index() -> Option<VulnIndex> {
    let s = shared()?;
    let mut b = IndexBuilder::new();
    let stats = import_nvd_files(
        &[s.join("kb/nvd-iot-subset/nvd-iot-subset.api2.json")],
        &mut b,
        &mut |_| {},
    )
    .expect("import");
    assert_eq!(stats.records, 29);
    assert_eq!(stats.bad_cpes, 0);
    let mut out = Vec::new();
    b.write_to(&mut out).unwrap();
    Some(VulnIndex::from_bytes(out).unwrap())
}

#[test]
fn all_41_cases() {
    let Some(s) = shared() else { return };
    let text =
        std::fs::read_to_string(s.join("kb/nvd-iot-subset/matching-test-vectors.json")).unwrap();
    let cases: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = cases.as_array().unwrap();
    assert_eq!(cases.len(), 41);
    // Records straight from the per-CVE JSON files.
    let mut records = Vec::new();
    for e in std::fs::read_dir(s.join("kb/nvd-iot-subset/cves")).unwrap() {
        let t = std::fs::read_to_string(e.unwrap().path()).unwrap();
        records.push(palisade_risk::parse_cve_json(&t).unwrap());
    }
    assert_eq!(records.len(), 29);
    let index = subset_index().unwrap();
    let mut failures = Vec::new();
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let inv: Vec<(Cpe, f32)> = c["cpes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| (Cpe::parse(x.as_str().unwrap()).unwrap(), 1.0))
            .collect();
        let mut expected: Vec<&str> = c["expected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap())
            .collect();
        expected.sort();
        let refs: Vec<(&Cpe, f32)> = inv.iter().map(|(c, w)| (c, *w)).collect();
        let mut direct: Vec<&str> = records
            .iter()
            .filter(|r| r.applies(&refs).is_some())
            .map(|r| r.id.as_str())
            .collect();
        direct.sort();
        let via_index: Vec<String> = index
            .matches(&inv)
            .iter()
            .map(|m| index.info(m.cve).unwrap().id.to_string())
            .collect();
        if direct != expected || via_index != expected {
            failures.push(format!(
                "{name}: expected {expected:?}, direct {direct:?}, index {via_index:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("41/41 CPE matching cases pass");
}
