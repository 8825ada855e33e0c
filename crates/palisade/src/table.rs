//! Human-readable report that fits an 80-column terminal.

use std::io::Write;

use palisade_sensor::Report;

fn fit(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n <= w {
        format!("{s:<w$}")
    } else {
        let mut t: String = s.chars().take(w.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// A compact vendor name for a narrow column: "Hangzhou Hikvision Digital Technology Co.,Ltd."
/// becomes "Hikvision".
fn short_vendor(v: &str) -> String {
    const DROP: &[&str] = &[
        "hangzhou",
        "shenzhen",
        "beijing",
        "guangdong",
        "zhejiang",
        "shanghai",
        "co",
        "co.",
        "ltd",
        "ltd.",
        "inc",
        "inc.",
        "corp",
        "corp.",
        "corporation",
        "corporate",
        "company",
        "technologies",
        "technology",
        "tech",
        "electronics",
        "international",
        "industries",
        "incorporated",
        "limited",
        "llc",
        "bv",
        "b.v.",
        "gmbh",
        "ag",
        "sa",
        "digital",
        "communications",
        "co.,ltd",
        "co.,ltd.",
        "lighting",
    ];
    let words: Vec<&str> = v
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty() && !DROP.contains(&w.to_ascii_lowercase().as_str()))
        .collect();
    let s = words.join(" ");
    if s.is_empty() { v.to_string() } else { s }
}

fn model_os(model: Option<&str>, os: Option<&str>) -> String {
    match (model, os) {
        (Some(m), Some(o)) => format!("{m} / {o}"),
        (Some(m), None) => m.to_string(),
        (None, Some(o)) => o.to_string(),
        (None, None) => "-".to_string(),
    }
}

pub fn write(w: &mut dyn Write, r: &Report) -> std::io::Result<()> {
    let s = &r.summary;
    writeln!(
        w,
        "Palisade {} — {} packets, {} flows, {} devices, {} alerts in {:.1} s of traffic",
        r.palisade_version, s.packets, s.flows, s.devices, s.alerts, s.capture_duration_s
    )?;
    for i in &r.inputs {
        for warn in &i.warnings {
            writeln!(w, "! {}: offset {}: {}", i.path, warn.offset, warn.message)?;
        }
    }
    writeln!(w)?;
    writeln!(
        w,
        "{} {} {} {} {} {} CONF",
        fit("IP", 15),
        fit("MAC", 17),
        fit("RSK", 3),
        fit("VENDOR", 10),
        fit("CATEGORY", 11),
        fit("MODEL / OS", 14),
    )?;
    for d in &r.devices {
        let ip = d.ips.first().map(String::as_str).unwrap_or("-");
        let cat = serde_json::to_value(d.category)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        writeln!(
            w,
            "{} {} {:>3} {} {} {} {:.2}",
            fit(ip, 15),
            d.mac,
            d.risk.score,
            fit(
                &d.vendor
                    .as_deref()
                    .map(short_vendor)
                    .unwrap_or_else(|| "-".into()),
                10
            ),
            fit(&cat, 11),
            fit(&model_os(d.model.as_deref(), d.os.as_deref()), 14),
            d.confidence
        )?;
    }
    if !r.alerts.is_empty() {
        writeln!(w)?;
        writeln!(w, "ALERTS")?;
        for a in &r.alerts {
            writeln!(
                w,
                "{} {} {}",
                fit(&a.severity, 8),
                fit(&a.kind, 20),
                fit(&a.summary, 49)
            )?;
        }
    }
    Ok(())
}
