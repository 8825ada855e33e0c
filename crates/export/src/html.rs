//! A self-contained HTML report (inline CSS, no scripts, no external resources).

use std::fmt::Write as _;

use crate::Findings;

/// HTML text escaping.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;width:100%;margin-bottom:2em}\
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top;font-size:14px}\
th{background:#f0f0f0}.critical{background:#f8d0d0}.high{background:#fde2c8}\
.medium{background:#fff3c4}.low{background:#e8f4e8}.info{background:#eef}";

pub fn report(f: &Findings, title: &str) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        esc(title),
        esc(title)
    );
    let s = &f.summary;
    let _ = writeln!(
        h,
        "<p>Palisade {} &middot; {} devices &middot; {} alerts &middot; {} flows &middot; {} packets</p>",
        esc(&f.palisade_version),
        f.devices.len(),
        f.alerts.len(),
        s["flows"].as_u64().unwrap_or(0),
        s["packets"].as_u64().unwrap_or(0)
    );
    let _ = writeln!(
        h,
        "<h2>Alerts</h2>\n<table><tr><th>Severity</th><th>Kind</th><th>Device</th><th>Source</th>\
         <th>Destination</th><th>First seen</th><th>Last seen</th><th>Count</th><th>Summary</th></tr>"
    );
    for a in &f.alerts {
        let sev = match a.severity.as_str() {
            s @ ("critical" | "high" | "medium" | "low" | "info") => s,
            _ => "info",
        };
        let _ = writeln!(
            h,
            "<tr class=\"{sev}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&a.severity),
            esc(&a.kind),
            esc(a.device.as_deref().unwrap_or("")),
            esc(a.src.as_deref().unwrap_or("")),
            esc(a.dst.as_deref().unwrap_or("")),
            esc(&a.first_seen),
            esc(&a.last_seen),
            a.count,
            esc(&a.summary)
        );
    }
    let _ = writeln!(
        h,
        "</table>\n<h2>Devices</h2>\n<table><tr><th>MAC</th><th>IPs</th><th>Vendor</th><th>Category</th>\
         <th>Model</th><th>OS</th><th>Risk</th><th>Services</th><th>Last seen</th></tr>"
    );
    for d in &f.devices {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&d.mac),
            esc(&d.ips.join(", ")),
            esc(d.vendor.as_deref().unwrap_or("")),
            esc(d.category.as_deref().unwrap_or("")),
            esc(d.model.as_deref().unwrap_or("")),
            esc(d.os.as_deref().unwrap_or("")),
            d.risk.score,
            esc(&d.services.join(", ")),
            esc(&d.last_seen)
        );
    }
    h.push_str("</table>\n</body></html>\n");
    h
}
