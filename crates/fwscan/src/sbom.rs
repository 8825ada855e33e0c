//! CycloneDX 1.5 JSON SBOM of a scan: the image as the metadata component (type
//! `firmware`, SHA-256), one component per identified software (with CPE, purl and where it
//! was found), and the matched vulnerabilities with the components they affect.

use serde_json::{Value, json};

use crate::scan::ScanReport;

/// An RFC 4122 version-4-shaped UUID derived from the image hash, so the same image gives
/// the same serial number.
fn uuid_from(hex: &str) -> String {
    let h: String = hex.chars().chain(std::iter::repeat('0')).take(32).collect();
    let variant = match h.as_bytes()[16] {
        b'0'..=b'3' => '8',
        b'4'..=b'7' => '9',
        b'8' | b'9' | b'a' | b'b' => 'a',
        _ => 'b',
    };
    format!(
        "{}-{}-4{}-{}{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        variant,
        &h[17..20],
        &h[20..32]
    )
}

/// The SBOM as a JSON value.
pub fn cyclonedx(r: &ScanReport) -> Value {
    let components: Vec<Value> = r
        .components
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut o = json!({
                "type": c.component.kind,
                "bom-ref": format!("component-{}", i + 1),
                "name": c.component.name,
            });
            if let Some(v) = &c.component.version {
                o["version"] = json!(v);
            }
            if let Some(cpe) = &c.cpe {
                o["cpe"] = json!(cpe);
            }
            if let Some(p) = &c.component.purl {
                o["purl"] = json!(p);
            }
            o["evidence"] = json!({
                "occurrences": c.component.paths.iter().map(|p| json!({"location": p})).collect::<Vec<_>>()
            });
            o["properties"] = json!([{"name": "palisade:evidence", "value": c.component.evidence}]);
            o
        })
        .collect();
    let vulnerabilities: Vec<Value> = r
        .vulnerabilities
        .iter()
        .map(|v| {
            let mut o = json!({
                "id": v.finding.cve,
                "source": {"name": "NVD", "url": format!("https://nvd.nist.gov/vuln/detail/{}", v.finding.cve)},
                "affects": v.components.iter().map(|i| json!({"ref": format!("component-{}", i + 1)})).collect::<Vec<_>>(),
                "properties": [
                    {"name": "palisade:kev", "value": v.finding.kev.to_string()},
                    {"name": "palisade:confidence", "value": format!("{:.3}", v.finding.confidence)},
                    {"name": "palisade:cpe", "value": v.finding.cpe},
                ],
            });
            if let Some(s) = v.finding.cvss {
                o["ratings"] = json!([{"source": {"name": "NVD"}, "score": s}]);
            }
            o
        })
        .chain(r.osv.iter().map(|v| {
            json!({
                "id": v.id,
                "source": {"name": "OSV", "url": format!("https://osv.dev/vulnerability/{}", v.id)},
                "affects": [{"ref": format!("component-{}", v.component + 1)}],
                "references": v.aliases.iter().map(|a| json!({"id": a, "source": {"name": "alias"}})).collect::<Vec<_>>(),
            })
        }))
        .collect();
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": format!("urn:uuid:{}", uuid_from(&r.image.sha256)),
        "version": 1,
        "metadata": {
            "tools": {"components": [{"type": "application", "name": "palisade", "version": env!("CARGO_PKG_VERSION")}]},
            "component": {
                "type": "firmware",
                "bom-ref": "image",
                "name": r.image.name,
                "hashes": [{"alg": "SHA-256", "content": r.image.sha256}],
            },
        },
        "components": components,
        "dependencies": [{
            "ref": "image",
            "dependsOn": (1..=r.components.len()).map(|i| format!("component-{i}")).collect::<Vec<_>>(),
        }],
        "vulnerabilities": vulnerabilities,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_shape() {
        let u = uuid_from("0123456789abcdef0123456789abcdef0123");
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
    }
}
