//! `palisade eval detect`: joins Palisade's per-flow verdicts with labelled flows
//! (IoT-23 Zeek `conn.log.labeled`: 5-tuple + start time) and computes per-class TPR,
//! FPR, precision and the confusion table.
//!
//! A flow's verdict comes from the alerts, attributed back to flows:
//! * `C&C` — the flow goes from a device to a C2 endpoint (ip:port) named by a
//!   `botnet.c2` alert (this covers the failed reconnects of a bot, which carry no payload);
//! * `DDoS` — from a `ddos.participation` device to its target, or to a `ddos.target`
//!   victim, inside the alert's time range;
//! * `PartOfAHorizontalPortScan` — an unanswered connection attempt from a device with a
//!   `scan.horizontal` / `botnet.mirai.scan` alert inside its time range;
//! * `Attack` — between the two ends of a `botnet.bruteforce` alert;
//! * otherwise `Benign`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::net::IpAddr;

use crate::DetectError;
use crate::alert::{Alert, Kind};

/// One flow of Palisade's flow table, as the evaluation needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalFlow {
    pub proto: u8,
    pub orig: IpAddr,
    pub orig_port: u16,
    pub resp: IpAddr,
    pub resp_port: u16,
    pub first_ns: i64,
    pub last_ns: i64,
    /// The responder never answered (SYN only / no reply).
    pub unanswered: bool,
}

/// One labelled flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledFlow {
    pub ts_ns: i64,
    pub duration_ns: i64,
    pub proto: u8,
    pub orig: IpAddr,
    pub orig_port: u16,
    pub resp: IpAddr,
    pub resp_port: u16,
    pub class: String,
}

fn parse_ts(s: &str) -> Option<i64> {
    let (a, b) = s.split_once('.').unwrap_or((s, "0"));
    let secs: i64 = a.parse().ok()?;
    let mut frac = b.chars().take(9).collect::<String>();
    while frac.len() < 9 {
        frac.push('0');
    }
    Some(secs * 1_000_000_000 + frac.parse::<i64>().ok()?)
}

fn normalize_class(label: &str, detailed: &str) -> String {
    if detailed != "-" && !detailed.is_empty() {
        return detailed.to_string();
    }
    let l = label.to_ascii_lowercase();
    if l == "benign" {
        "Benign".into()
    } else if l == "malicious" {
        "Malicious".into()
    } else {
        label.to_string()
    }
}

/// Parses an IoT-23 `conn.log.labeled` (Zeek TSV; the last three columns may be separated
/// by runs of spaces).
pub fn parse_conn_log(text: &str, path: &str) -> Result<Vec<LabelledFlow>, DetectError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let err = |m: &str| DetectError::Parse {
            path: path.to_string(),
            line: i + 1,
            message: m.to_string(),
        };
        let f: Vec<&str> = line.splitn(21, '\t').collect();
        if f.len() < 21 {
            return Err(err("expected at least 21 tab-separated fields"));
        }
        let tail: Vec<&str> = f[20].split_whitespace().collect();
        let (label, detailed) = match tail.as_slice() {
            [.., l, d] => (*l, *d),
            _ => return Err(err("missing label columns")),
        };
        let proto = match f[6] {
            "tcp" => 6,
            "udp" => 17,
            "icmp" => 1,
            _ => 0,
        };
        let ts = parse_ts(f[0]).ok_or_else(|| err("bad ts"))?;
        let dur = if f[8] == "-" {
            0
        } else {
            parse_ts(f[8]).ok_or_else(|| err("bad duration"))?
        };
        out.push(LabelledFlow {
            ts_ns: ts,
            duration_ns: dur,
            proto,
            orig: f[2].parse().map_err(|_| err("bad orig_h"))?,
            orig_port: f[3].parse().map_err(|_| err("bad orig_p"))?,
            resp: f[4].parse().map_err(|_| err("bad resp_h"))?,
            resp_port: f[5].parse().map_err(|_| err("bad resp_p"))?,
            class: normalize_class(label, detailed),
        });
    }
    Ok(out)
}

/// Alert facts used to give flows a verdict.
#[derive(Debug, Default)]
struct Attribution {
    c2: BTreeSet<(IpAddr, IpAddr, u16)>,
    ddos_out: Vec<(IpAddr, IpAddr, i64, i64)>,
    ddos_in: Vec<(IpAddr, i64, i64)>,
    scan: Vec<(IpAddr, i64, i64)>,
    brute: BTreeSet<(IpAddr, IpAddr)>,
}

fn parse_rfc3339(s: &str) -> Option<i64> {
    // YYYY-MM-DDTHH:MM:SS.ffffffZ
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<i64>().ok());
    let (y, mo, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (h, mi, se) = (n(11..13)?, n(14..16)?, n(17..19)?);
    let frac = s
        .get(20..s.len().saturating_sub(1))
        .filter(|f| !f.is_empty())
        .and_then(|f| {
            let mut f = f.to_string();
            while f.len() < 9 {
                f.push('0');
            }
            f.parse::<i64>().ok()
        })
        .unwrap_or(0);
    // days from civil
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3600 + mi * 60 + se) * 1_000_000_000) + frac)
}

impl Attribution {
    fn from_alerts(alerts: &[Alert]) -> Self {
        let mut a = Attribution::default();
        const SLACK: i64 = 2_000_000_000;
        for al in alerts {
            let src = al.src.as_deref().and_then(|s| s.parse::<IpAddr>().ok());
            let dst = al.dst.as_deref().and_then(|s| s.parse::<IpAddr>().ok());
            let first = parse_rfc3339(&al.first_seen).unwrap_or(i64::MIN / 2) - SLACK;
            let last = parse_rfc3339(&al.last_seen).unwrap_or(i64::MAX / 2) + SLACK;
            let k = al.kind.as_str();
            if k == Kind::C2.as_str() {
                let port = al
                    .evidence
                    .get("c2_server")
                    .and_then(|v| v.as_str())
                    .and_then(|s| s.rsplit_once(':'))
                    .and_then(|(_, p)| p.parse::<u16>().ok());
                if let (Some(s), Some(d), Some(p)) = (src, dst, port) {
                    a.c2.insert((s, d, p));
                }
            } else if k == Kind::DdosParticipation.as_str() {
                if let (Some(s), Some(d)) = (src, dst) {
                    a.ddos_out.push((s, d, first, last));
                }
            } else if k == Kind::DdosTarget.as_str() {
                if let Some(d) = dst {
                    a.ddos_in.push((d, first, last));
                }
            } else if k == Kind::ScanHorizontal.as_str() || k == Kind::MiraiScan.as_str() {
                if let Some(s) = src {
                    a.scan.push((s, first, last));
                }
            } else if k == Kind::Bruteforce.as_str()
                && let (Some(s), Some(d)) = (src, dst)
            {
                a.brute.insert((s, d));
            }
        }
        a
    }

    fn verdict(&self, f: &EvalFlow) -> &'static str {
        let t = f.first_ns;
        if self.c2.contains(&(f.orig, f.resp, f.resp_port))
            || self.c2.contains(&(f.resp, f.orig, f.orig_port))
        {
            return "C&C";
        }
        if self
            .ddos_out
            .iter()
            .any(|&(s, d, a, b)| f.orig == s && f.resp == d && t >= a && t <= b)
            || self
                .ddos_in
                .iter()
                .any(|&(v, a, b)| f.resp == v && t >= a && t <= b)
        {
            return "DDoS";
        }
        if f.unanswered
            && self
                .scan
                .iter()
                .any(|&(s, a, b)| f.orig == s && t >= a && t <= b)
        {
            return "PartOfAHorizontalPortScan";
        }
        if self.brute.contains(&(f.orig, f.resp)) {
            return "Attack";
        }
        "Benign"
    }
}

/// Per-class figures.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClassFigures {
    pub class: String,
    pub labelled: u64,
    pub predicted: u64,
    pub tp: u64,
    pub fp: u64,
    pub fn_: u64,
    pub tn: u64,
    pub tpr: Option<f64>,
    pub fpr: Option<f64>,
    pub precision: Option<f64>,
}

/// The evaluation result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EvalResult {
    pub labelled_flows: u64,
    /// Labelled flows found in the capture (joined to a Palisade flow).
    pub matched: u64,
    /// Labelled flows per class with no flow in the capture.
    pub not_in_capture: BTreeMap<String, u64>,
    pub palisade_flows: u64,
    pub classes: Vec<ClassFigures>,
    /// confusion[label][predicted] = count.
    pub confusion: BTreeMap<String, BTreeMap<String, u64>>,
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| ((a as f64 / b as f64) * 10_000.0).round() / 10_000.0)
}

/// Joins labelled flows with Palisade's flows (same protocol and endpoints, either
/// orientation, overlapping in time with `tolerance_ns` slack) and scores the verdicts.
pub fn evaluate(
    flows: &[EvalFlow],
    alerts: &[Alert],
    labels: &[LabelledFlow],
    tolerance_ns: i64,
) -> EvalResult {
    let attr = Attribution::from_alerts(alerts);
    type Key = (u8, IpAddr, u16, IpAddr, u16);
    let mut idx: HashMap<Key, Vec<usize>> = HashMap::new();
    for (i, f) in flows.iter().enumerate() {
        idx.entry((f.proto, f.orig, f.orig_port, f.resp, f.resp_port))
            .or_default()
            .push(i);
    }
    let mut confusion: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut not_in: BTreeMap<String, u64> = BTreeMap::new();
    let mut matched = 0u64;
    for l in labels {
        let keys = [
            (l.proto, l.orig, l.orig_port, l.resp, l.resp_port),
            (l.proto, l.resp, l.resp_port, l.orig, l.orig_port),
        ];
        let (a, b) = (
            l.ts_ns - tolerance_ns,
            l.ts_ns + l.duration_ns + tolerance_ns,
        );
        let best = keys
            .iter()
            .filter_map(|k| idx.get(k))
            .flatten()
            .map(|&i| &flows[i])
            .filter(|f| f.first_ns <= b && f.last_ns >= a)
            .min_by_key(|f| ((f.first_ns - l.ts_ns).abs(), f.first_ns));
        match best {
            Some(f) => {
                matched += 1;
                let v = attr.verdict(f);
                *confusion
                    .entry(l.class.clone())
                    .or_default()
                    .entry(v.to_string())
                    .or_default() += 1;
            }
            None => *not_in.entry(l.class.clone()).or_default() += 1,
        }
    }
    let mut classes: BTreeSet<String> = confusion.keys().cloned().collect();
    for row in confusion.values() {
        classes.extend(row.keys().cloned());
    }
    let total = matched;
    let figures = classes
        .iter()
        .map(|c| {
            let labelled: u64 = confusion.get(c).map(|r| r.values().sum()).unwrap_or(0);
            let predicted: u64 = confusion.values().filter_map(|r| r.get(c)).sum();
            let tp = confusion
                .get(c)
                .and_then(|r| r.get(c))
                .copied()
                .unwrap_or(0);
            let fp = predicted - tp;
            let fn_ = labelled - tp;
            let tn = total - tp - fp - fn_;
            ClassFigures {
                class: c.clone(),
                labelled,
                predicted,
                tp,
                fp,
                fn_,
                tn,
                tpr: ratio(tp, tp + fn_),
                fpr: ratio(fp, fp + tn),
                precision: ratio(tp, tp + fp),
            }
        })
        .collect();
    EvalResult {
        labelled_flows: labels.len() as u64,
        matched,
        not_in_capture: not_in,
        palisade_flows: flows.len() as u64,
        classes: figures,
        confusion,
    }
}

impl EvalResult {
    /// Human-readable figures and confusion table.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let f = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.4}"));
        let _ = writeln!(
            s,
            "labelled flows: {}   joined to capture flows: {}   palisade flows: {}",
            self.labelled_flows, self.matched, self.palisade_flows
        );
        if !self.not_in_capture.is_empty() {
            let parts: Vec<String> = self
                .not_in_capture
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let _ = writeln!(s, "labelled flows not in the capture: {}", parts.join(", "));
        }
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "{:<28} {:>8} {:>9} {:>8} {:>8} {:>8} {:>9}",
            "class", "labelled", "predicted", "TPR", "FPR", "prec", "TP/FP/FN"
        );
        for c in &self.classes {
            let _ = writeln!(
                s,
                "{:<28} {:>8} {:>9} {:>8} {:>8} {:>8} {}/{}/{}",
                c.class,
                c.labelled,
                c.predicted,
                f(c.tpr),
                f(c.fpr),
                f(c.precision),
                c.tp,
                c.fp,
                c.fn_
            );
        }
        let cols: Vec<&String> = self.classes.iter().map(|c| &c.class).collect();
        let _ = writeln!(s);
        let _ = write!(s, "{:<28}", "confusion (label \\ predicted)");
        for c in &cols {
            let _ = write!(s, " {:>12}", trunc(c, 12));
        }
        let _ = writeln!(s);
        for r in &cols {
            let _ = write!(s, "{:<28}", trunc(r, 28));
            for c in &cols {
                let n = self
                    .confusion
                    .get(*r)
                    .and_then(|x| x.get(*c))
                    .copied()
                    .unwrap_or(0);
                let _ = write!(s, " {n:>12}");
            }
            let _ = writeln!(s);
        }
        s
    }
}

fn trunc(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_iot23_quirks() {
        let text = "#fields\tts\tuid\n1545403816.962094\tC1\t192.168.1.195\t41040\t185.244.25.235\t6667\ttcp\t-\t3.139211\t0\t0\tS0\t-\t-\t0\tS\t3\t180\t0\t0\t(empty)   Malicious   C&C\n1540469302.538640\tC2\t192.168.1.132\t32894\t216.239.35.4\t123\tudp\t-\t0.114184\t48\t48\tSF\t-\t-\t0\tDd\t1\t76\t1\t76\t(empty)   benign   -\n";
        let l = parse_conn_log(text, "x").unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].class, "C&C");
        assert_eq!(l[0].ts_ns, 1_545_403_816_962_094_000);
        assert_eq!(l[0].duration_ns, 3_139_211_000);
        assert_eq!(l[1].class, "Benign");
        assert_eq!(l[1].proto, 17);
        assert!(parse_conn_log("1\t2\n", "x").is_err());
    }

    #[test]
    fn rfc3339_round_trip() {
        assert_eq!(
            parse_rfc3339("2018-10-25T14:06:32.123456Z"),
            Some(1_540_476_392_123_456_000)
        );
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00.000000Z"), Some(0));
        assert_eq!(parse_rfc3339("junk"), None);
    }
}
