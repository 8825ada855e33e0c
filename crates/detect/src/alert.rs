//! The alert model (DESIGN.md §6) and deterministic aggregation.
//!
//! Detectors emit [`Finding`]s; an [`Aggregator`] folds them into one aggregated alert per
//! kind / device / key (the key names the peer set, vector or service). Folding is
//! commutative and associative — first/last seen are min/max, counts add, evidence comes
//! from the earliest finding (ties broken by content) and sample lists keep the smallest
//! values — so the alerts do not depend on how packets were sharded across workers.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::Serialize;

/// A MAC address.
pub type Mac = [u8; 6];

/// Alert kinds (stable ids, DESIGN.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    MiraiScan,
    Bruteforce,
    DefaultLogin,
    Cleartext,
    C2,
    DdosParticipation,
    DdosTarget,
    ScanHorizontal,
    ScanVertical,
    LateralMovement,
    ExfilVolume,
    DnsTunnel,
    DnsDga,
    ProtoInsecure,
    TlsWeak,
    /// A signature-rule match (`palisade-rules`); severity per rule.
    Signature,
    /// `anomaly.behaviour`: the behavioural anomaly detector (palisade-anomaly).
    AnomalyBehaviour,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::MiraiScan => "botnet.mirai.scan",
            Kind::Bruteforce => "botnet.bruteforce",
            Kind::DefaultLogin => "cred.default_login",
            Kind::Cleartext => "cred.cleartext",
            Kind::C2 => "botnet.c2",
            Kind::DdosParticipation => "ddos.participation",
            Kind::DdosTarget => "ddos.target",
            Kind::ScanHorizontal => "scan.horizontal",
            Kind::ScanVertical => "scan.vertical",
            Kind::LateralMovement => "lateral.movement",
            Kind::ExfilVolume => "exfil.volume",
            Kind::DnsTunnel => "dns.tunnel",
            Kind::DnsDga => "dns.dga",
            Kind::ProtoInsecure => "proto.insecure",
            Kind::TlsWeak => "tls.weak",
            Kind::Signature => "ids.signature",
            Kind::AnomalyBehaviour => "anomaly.behaviour",
        }
    }

    /// Default severity (DESIGN.md §6).
    pub fn severity(self) -> Severity {
        match self {
            Kind::MiraiScan | Kind::Bruteforce | Kind::DdosTarget | Kind::LateralMovement => {
                Severity::High
            }
            Kind::DefaultLogin | Kind::C2 | Kind::DdosParticipation => Severity::Critical,
            Kind::Cleartext
            | Kind::ScanHorizontal
            | Kind::ScanVertical
            | Kind::ExfilVolume
            | Kind::DnsTunnel
            | Kind::DnsDga => Severity::Medium,
            Kind::ProtoInsecure | Kind::TlsWeak => Severity::Low,
            Kind::Signature => Severity::Medium,
            Kind::AnomalyBehaviour => Severity::Medium,
        }
    }

    /// MITRE ATT&CK technique ids (Enterprise, plus ICS where the behaviour applies).
    pub fn mitre(self) -> &'static [&'static str] {
        match self {
            Kind::MiraiScan => &["T1046", "T1595.001"],
            Kind::Bruteforce => &["T1110.001", "T1110.003"],
            Kind::DefaultLogin => &["T1078.001", "T0812"],
            Kind::Cleartext => &["T1040", "T1552"],
            Kind::C2 => &["T1071", "T1571", "T0869"],
            Kind::DdosParticipation => &["T1498", "T1499"],
            Kind::DdosTarget => &["T1498", "T1499", "T0814"],
            Kind::ScanHorizontal | Kind::ScanVertical => &["T1046", "T0846"],
            Kind::LateralMovement => &["T1021", "T0886"],
            Kind::ExfilVolume => &["T1041", "T1048"],
            Kind::DnsTunnel => &["T1071.004", "T1048"],
            Kind::DnsDga => &["T1568.002"],
            Kind::ProtoInsecure => &["T1040", "T0885"],
            Kind::TlsWeak => &["T1557"],
            Kind::Signature => &[],
            Kind::AnomalyBehaviour => &[],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// One alert of the report (DESIGN.md §5/§6).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Alert {
    pub id: String,
    pub kind: String,
    pub severity: String,
    pub device: Option<String>,
    pub src: Option<String>,
    pub dst: Option<String>,
    pub first_seen: String,
    pub last_seen: String,
    pub count: u64,
    pub summary: String,
    pub evidence: serde_json::Value,
    pub mitre: Vec<String>,
}

/// One detection, before aggregation.
#[derive(Debug, Clone)]
pub struct Finding {
    pub kind: Kind,
    /// What else separates alerts of this kind and device (peer set, vector, service).
    pub key: String,
    pub device: Option<Mac>,
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub first_ns: i64,
    pub last_ns: i64,
    pub count: u64,
    pub summary: String,
    pub evidence: serde_json::Value,
    /// Named sample lists merged by union (the smallest values kept), e.g. peers, users.
    pub lists: Vec<(&'static str, String)>,
    /// Counters summed over findings (e.g. failures, packets).
    pub sums: Vec<(&'static str, u64)>,
    /// Severity when it differs from the kind's default (the alert takes the maximum).
    pub severity: Option<Severity>,
    /// Packet-time window index (timestamp / window length) this finding's `count`
    /// belongs to, for thresholds on counts per window ([`Aggregator::retain_windowed`]).
    pub window: Option<i64>,
}

impl Finding {
    pub fn new(kind: Kind, key: impl Into<String>, device: Option<Mac>, ts: i64) -> Self {
        Finding {
            kind,
            key: key.into(),
            device,
            src: None,
            dst: None,
            first_ns: ts,
            last_ns: ts,
            count: 1,
            summary: String::new(),
            evidence: serde_json::Value::Null,
            lists: Vec::new(),
            sums: Vec::new(),
            severity: None,
            window: None,
        }
    }
}

type AggKey = (Kind, Option<Mac>, String);

#[derive(Debug, Clone)]
struct Agg {
    first_ns: i64,
    last_ns: i64,
    count: u64,
    /// The earliest finding's summary/evidence/src/dst (ties: smaller evidence text).
    lead: (i64, String, String, Option<IpAddr>, Option<IpAddr>),
    lead_evidence: serde_json::Value,
    lists: BTreeMap<&'static str, BTreeSet<String>>,
    sums: BTreeMap<&'static str, u64>,
    severity: Severity,
    /// Count per packet-time window (the newest `MAX_WINDOWS` windows kept).
    windows: BTreeMap<i64, u64>,
}

/// Windows kept per aggregated alert. Dropping the *oldest* keys keeps the result
/// independent of merge order: a key among the newest N of the union is among the
/// newest N of every part that holds it, so its count is complete.
const MAX_WINDOWS: usize = 1024;

fn add_window(w: &mut BTreeMap<i64, u64>, k: i64, n: u64) {
    let e = w.entry(k).or_default();
    *e = e.saturating_add(n);
    while w.len() > MAX_WINDOWS {
        w.pop_first();
    }
}

/// Folds findings into aggregated alerts; bounded by `max_alerts` distinct keys.
#[derive(Debug, Clone)]
pub struct Aggregator {
    map: BTreeMap<AggKey, Agg>,
    max_alerts: usize,
    list_max: usize,
    /// Findings dropped because the table was full.
    pub dropped: u64,
}

impl Aggregator {
    pub fn new(max_alerts: usize, list_max: usize) -> Self {
        Aggregator {
            map: BTreeMap::new(),
            max_alerts: max_alerts.max(1),
            list_max: list_max.max(1),
            dropped: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn add(&mut self, f: Finding) {
        let key = (f.kind, f.device, f.key);
        let ev_text = f.evidence.to_string();
        if !self.map.contains_key(&key) && self.map.len() >= self.max_alerts {
            self.dropped += 1;
            return;
        }
        let list_max = self.list_max;
        let a = self.map.entry(key).or_insert_with(|| Agg {
            first_ns: f.first_ns,
            last_ns: f.last_ns,
            count: 0,
            lead: (i64::MAX, String::new(), String::new(), None, None),
            lead_evidence: serde_json::Value::Null,
            lists: BTreeMap::new(),
            sums: BTreeMap::new(),
            severity: Severity::Info,
            windows: BTreeMap::new(),
        });
        if let Some(w) = f.window {
            add_window(&mut a.windows, w, f.count);
        }
        a.severity = a.severity.max(f.severity.unwrap_or(f.kind.severity()));
        a.first_ns = a.first_ns.min(f.first_ns);
        a.last_ns = a.last_ns.max(f.last_ns);
        a.count = a.count.saturating_add(f.count);
        if (f.first_ns, &ev_text) < (a.lead.0, &a.lead.1) {
            a.lead = (f.first_ns, ev_text, f.summary, f.src, f.dst);
            a.lead_evidence = f.evidence;
        }
        for (name, v) in f.lists {
            let set = a.lists.entry(name).or_default();
            set.insert(v);
            if set.len() > list_max {
                set.pop_last();
            }
        }
        for (name, v) in f.sums {
            let s = a.sums.entry(name).or_default();
            *s = s.saturating_add(v);
        }
    }

    /// Folds another aggregator in (worker merge).
    pub fn merge(&mut self, other: Aggregator) {
        self.dropped += other.dropped;
        for (key, b) in other.map {
            if !self.map.contains_key(&key) && self.map.len() >= self.max_alerts {
                self.dropped += 1;
                continue;
            }
            let list_max = self.list_max;
            match self.map.get_mut(&key) {
                None => {
                    self.map.insert(key, b);
                }
                Some(a) => {
                    a.first_ns = a.first_ns.min(b.first_ns);
                    a.last_ns = a.last_ns.max(b.last_ns);
                    a.count = a.count.saturating_add(b.count);
                    a.severity = a.severity.max(b.severity);
                    if (b.lead.0, &b.lead.1) < (a.lead.0, &a.lead.1) {
                        a.lead = b.lead;
                        a.lead_evidence = b.lead_evidence;
                    }
                    // The smallest N of a union is the union of the smallest N of each
                    // part, truncated: independent of how findings were split.
                    for (name, set) in b.lists {
                        let mine = a.lists.entry(name).or_default();
                        mine.extend(set);
                        while mine.len() > list_max {
                            mine.pop_last();
                        }
                    }
                    for (name, v) in b.sums {
                        let s = a.sums.entry(name).or_default();
                        *s = s.saturating_add(v);
                    }
                    for (k, n) in b.windows {
                        add_window(&mut a.windows, k, n);
                    }
                }
            }
        }
    }

    /// Raises the severity of matching aggregated alerts to at least `to`.
    pub fn escalate(
        &mut self,
        mut matches: impl FnMut(Kind, Option<std::net::IpAddr>) -> bool,
        to: Severity,
    ) {
        for (k, a) in self.map.iter_mut() {
            if matches(k.0, a.lead.3) {
                a.severity = a.severity.max(to);
            }
        }
    }

    /// Source addresses of the aggregated alerts of `kind`.
    pub fn sources(&self, kind: Kind) -> BTreeSet<std::net::IpAddr> {
        self.map
            .iter()
            .filter(|(k, _)| k.0 == kind)
            .filter_map(|(_, a)| a.lead.3)
            .collect()
    }

    /// Keeps only the aggregated alerts for which `keep(kind, count, sums)` holds
    /// (thresholds that must be applied after merging, e.g. brute-force failures).
    pub fn retain(
        &mut self,
        mut keep: impl FnMut(Kind, u64, &BTreeMap<&'static str, u64>) -> bool,
    ) {
        self.map.retain(|k, a| keep(k.0, a.count, &a.sums));
    }

    /// Keeps the aggregated alerts of `kind` only when some two consecutive packet-time
    /// windows together hold at least `min` (a burst straddling a window boundary still
    /// counts whole); the peak is recorded in the evidence as `peak_name`. Alerts of
    /// `kind` without windowed findings are dropped.
    pub fn retain_windowed(&mut self, kind: Kind, min: u64, peak_name: &'static str) {
        self.map.retain(|k, a| {
            if k.0 != kind {
                return true;
            }
            let peak = a
                .windows
                .iter()
                .map(|(&w, &n)| n.saturating_add(a.windows.get(&(w + 1)).copied().unwrap_or(0)))
                .max()
                .unwrap_or(0);
            a.sums.insert(peak_name, peak);
            peak >= min.max(1)
        });
    }

    /// The aggregated alerts, sorted: severity (highest first), first seen, kind, id.
    pub fn into_alerts(self, rfc3339: impl Fn(i64) -> String) -> Vec<Alert> {
        let mut out: Vec<(Severity, i64, Alert)> = self
            .map
            .into_iter()
            .map(|((kind, device, key), a)| {
                let id = alert_id(kind, device, &key);
                let mut evidence = a.lead_evidence;
                if let serde_json::Value::Object(o) = &mut evidence {
                    for (name, set) in a.lists {
                        o.insert(
                            name.to_string(),
                            serde_json::Value::Array(
                                set.into_iter().map(serde_json::Value::String).collect(),
                            ),
                        );
                    }
                    for (name, v) in a.sums {
                        o.insert(name.to_string(), v.into());
                    }
                }
                let sev = a.severity;
                let alert = Alert {
                    id,
                    kind: kind.as_str().to_string(),
                    severity: sev.as_str().to_string(),
                    device: device.map(|m| format_mac(&m)),
                    src: a.lead.3.map(|i| i.to_string()),
                    dst: a.lead.4.map(|i| i.to_string()),
                    first_seen: rfc3339(a.first_ns),
                    last_seen: rfc3339(a.last_ns),
                    count: a.count,
                    summary: a.lead.2,
                    evidence,
                    mitre: kind.mitre().iter().map(|s| s.to_string()).collect(),
                };
                (sev, a.first_ns, alert)
            })
            .collect();
        out.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then(a.1.cmp(&b.1))
                .then_with(|| a.2.kind.cmp(&b.2.kind))
                .then_with(|| a.2.id.cmp(&b.2.id))
        });
        out.into_iter().map(|(_, _, a)| a).collect()
    }
}

/// Lower-case colon form.
pub fn format_mac(m: &Mac) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// A stable id from the aggregation key (FNV-1a 64).
fn alert_id(kind: Kind, device: Option<Mac>, key: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: &[u8]| {
        for &x in b {
            h = (h ^ x as u64).wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(kind.as_str().as_bytes());
    eat(&[0]);
    eat(&device.unwrap_or_default());
    eat(&[0]);
    eat(key.as_bytes());
    format!("{}-{h:016x}", kind.as_str())
}
