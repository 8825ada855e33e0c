//! Batch ingest into PostgreSQL: one transaction a batch, a handful of array statements
//! (`unnest`) whatever the batch size, with the same results as the SQLite writer's line by
//! line processing (same duplicates, device timeline, `device.new` alerts, suppression,
//! alert merge rules and alert order).

use std::collections::{HashMap, HashSet};

use ::postgres::Transaction;
use serde_json::Value;

use super::parse::{Body, DeviceLine, Parsed};
use crate::{Suppression, TriageState};

/// An alert write (sensor alert or hub `device.new`), merged per id within the batch.
struct AlertWrite {
    id: String,
    month: i32,
    kind: String,
    severity: String,
    device: Option<String>,
    src: Option<String>,
    dst: Option<String>,
    first_seen: String,
    last_seen: String,
    count: i64,
    summary: String,
    mitre: String,
    evidence: String,
    state: &'static str,
    state_user: Option<String>,
    state_comment: Option<String>,
    state_at: Option<i64>,
}

/// The final device row of a batch (the last line's fields; first/last seen merged).
struct DeviceWrite<'a> {
    vendor: Option<String>,
    category: String,
    model: Option<String>,
    os: Option<String>,
    hostname: Option<String>,
    ips: String,
    risk: i64,
    confidence: f64,
    first_seen: String,
    last_seen: String,
    search: String,
    report: &'a str,
}

/// A timeline row: (mac, at, field, old, new).
type HistoryRow = (String, String, &'static str, Option<String>, Option<String>);

/// (ips, hostname, os, vendor): what the timeline tracks.
type Tracked = (String, Option<String>, Option<String>, Option<String>);

pub(crate) struct Batch<'a, 'r> {
    t: i64,
    rules: &'r [Suppression],
    alerts: Vec<AlertWrite>,
    alert_index: HashMap<String, usize>,
    history: Vec<HistoryRow>,
    devices: HashMap<String, DeviceWrite<'a>>,
}

/// Advisory lock key serialising device writes of batches that touch many devices.
const DEVICES_LOCK: i64 = 0x5041_4c49_5344_4556; // "PALISDEV"

impl<'a, 'r> Batch<'a, 'r> {
    pub(crate) fn new(t: i64, rules: &'r [Suppression]) -> Self {
        Batch {
            t,
            rules,
            alerts: Vec::new(),
            alert_index: HashMap::new(),
            history: Vec::new(),
            devices: HashMap::new(),
        }
    }

    /// Applies the lines whose event ids were new, in line order, then writes the result.
    pub(crate) fn write(
        mut self,
        tx: &mut Transaction<'_>,
        lines: &[&Parsed<'a>],
    ) -> Result<(), ::postgres::Error> {
        // Devices: serialise writers of the same MACs (timeline and first sight must see the
        // previous batch), then read their stored state once.
        let mut macs: Vec<&str> = lines
            .iter()
            .filter_map(|p| match &p.body {
                Body::Device { mac, .. } => Some(mac.as_str()),
                _ => None,
            })
            .collect();
        macs.sort_unstable();
        macs.dedup();
        let mut tracked: HashMap<String, Tracked> = HashMap::new();
        if !macs.is_empty() {
            if macs.len() > 64 {
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&DEVICES_LOCK])?;
            } else {
                tx.execute("SELECT pg_advisory_xact_lock_shared($1)", &[&DEVICES_LOCK])?;
                tx.execute(
                    "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtextextended(m, 0) AS k \
                     FROM unnest($1::text[]) m) s ORDER BY k",
                    &[&macs],
                )?;
            }
            for r in tx.query(
                "SELECT mac, ips, hostname, os, vendor FROM devices WHERE mac = ANY($1)",
                &[&macs],
            )? {
                tracked.insert(r.get(0), (r.get(1), r.get(2), r.get(3), r.get(4)));
            }
        }
        for p in lines {
            match &p.body {
                Body::Device { mac, d, line } => self.device(mac, d, line, &mut tracked),
                Body::Alert(a) => {
                    let mitre: Vec<&str> = a.mitre.iter().flatten().map(|m| m.as_ref()).collect();
                    let first_seen = a.first_seen.as_deref().unwrap_or("");
                    self.alert(AlertWrite {
                        id: p.subject.clone().unwrap_or_default(),
                        month: super::schema::month_key(Some(first_seen)),
                        kind: a.kind.as_deref().unwrap_or("unknown").to_owned(),
                        severity: a.severity.as_deref().unwrap_or("info").to_owned(),
                        device: a.device.as_deref().map(str::to_owned),
                        src: a.src.as_deref().map(str::to_owned),
                        dst: a.dst.as_deref().map(str::to_owned),
                        first_seen: first_seen.to_owned(),
                        last_seen: a.last_seen.as_deref().unwrap_or("").to_owned(),
                        count: a.count.unwrap_or(1),
                        summary: a.summary.as_deref().unwrap_or("").to_owned(),
                        mitre: serde_json::to_string(&mitre).unwrap_or_else(|_| "[]".into()),
                        evidence: a
                            .evidence
                            .as_ref()
                            .map(Value::to_string)
                            .unwrap_or_else(|| "null".into()),
                        state: TriageState::New.as_str(),
                        state_user: None,
                        state_comment: None,
                        state_at: None,
                    })
                }
                Body::Counted => {}
            }
        }
        self.flush(tx)
    }

    fn device(
        &mut self,
        mac: &str,
        d: &DeviceLine<'_>,
        line: &'a str,
        tracked: &mut HashMap<String, Tracked>,
    ) {
        let ips = d
            .ips
            .iter()
            .flatten()
            .map(|s| s.as_ref())
            .collect::<Vec<&str>>()
            .join(" ");
        let hostname = d.hostnames.iter().flatten().next().map(|h| h.to_string());
        let os = d.os.as_deref().map(str::to_owned);
        let vendor = d.vendor.as_deref().map(str::to_owned);
        let category = d.category.as_deref().unwrap_or("unknown");
        let last_seen = d.last_seen.as_deref().unwrap_or("");
        let first_seen = d.first_seen.as_deref().unwrap_or(last_seen);
        match tracked.get(mac) {
            None => {
                self.history.push((
                    mac.to_owned(),
                    first_seen.to_owned(),
                    "first_seen",
                    None,
                    Some(mac.to_owned()),
                ));
                let summary = format!(
                    "new device {mac} ({} {category}){}",
                    vendor.as_deref().unwrap_or("unknown vendor"),
                    if ips.is_empty() {
                        String::new()
                    } else {
                        format!(" at {ips}")
                    }
                );
                let evidence = serde_json::json!({
                    "ips": ips, "vendor": vendor, "category": category, "hostname": hostname,
                });
                self.alert(AlertWrite {
                    id: format!("device.new-{}", mac.replace(':', "")),
                    month: super::schema::month_key(Some(first_seen)),
                    kind: "device.new".into(),
                    severity: "info".into(),
                    device: Some(mac.to_owned()),
                    src: d.ips.iter().flatten().next().map(|s| s.to_string()),
                    dst: None,
                    first_seen: first_seen.to_owned(),
                    last_seen: first_seen.to_owned(),
                    count: 1,
                    summary,
                    mitre: "[]".into(),
                    evidence: evidence.to_string(),
                    state: TriageState::New.as_str(),
                    state_user: None,
                    state_comment: None,
                    state_at: None,
                });
            }
            Some((o_ips, o_host, o_os, o_vendor)) => {
                let changes = [
                    ("ips", Some(o_ips.as_str()), Some(ips.as_str())),
                    ("hostname", o_host.as_deref(), hostname.as_deref()),
                    ("os", o_os.as_deref(), os.as_deref()),
                    ("vendor", o_vendor.as_deref(), vendor.as_deref()),
                ];
                for (field, o, n) in changes {
                    if o != n {
                        self.history.push((
                            mac.to_owned(),
                            last_seen.to_owned(),
                            field,
                            o.map(str::to_owned),
                            n.map(str::to_owned),
                        ));
                    }
                }
            }
        }
        tracked.insert(
            mac.to_owned(),
            (ips.clone(), hostname.clone(), os.clone(), vendor.clone()),
        );
        let model = d.model.as_deref().map(str::to_owned);
        let search = format!(
            "{mac} {ips} {} {} {}",
            vendor.as_deref().unwrap_or(""),
            hostname.as_deref().unwrap_or(""),
            model.as_deref().unwrap_or("")
        )
        .to_lowercase();
        // SQLite stores the line's own first_seen (not the last_seen fallback) and merges MIN.
        let stored_first = d.first_seen.as_deref().unwrap_or("").to_owned();
        let w = DeviceWrite {
            vendor,
            category: category.to_owned(),
            model,
            os,
            hostname,
            ips,
            risk: d.risk.as_ref().and_then(|r| r.score).unwrap_or(0),
            confidence: d.confidence.unwrap_or(0.0),
            first_seen: stored_first,
            last_seen: last_seen.to_owned(),
            search,
            report: line,
        };
        match self.devices.get_mut(mac) {
            Some(prev) => {
                let first = std::cmp::min(&prev.first_seen, &w.first_seen).clone();
                let last = std::cmp::max(&prev.last_seen, &w.last_seen).clone();
                *prev = DeviceWrite {
                    first_seen: first,
                    last_seen: last,
                    ..w
                };
            }
            None => {
                self.devices.insert(mac.to_owned(), w);
            }
        }
    }

    fn alert(&mut self, mut a: AlertWrite) {
        if let Some(&i) = self.alert_index.get(&a.id) {
            // Same merge as the SQLite upsert: kind, device, src, dst and state stay.
            let prev = &mut self.alerts[i];
            prev.severity = a.severity;
            if a.first_seen < prev.first_seen {
                prev.first_seen = a.first_seen;
            }
            if a.last_seen > prev.last_seen {
                prev.last_seen = a.last_seen;
            }
            prev.count = prev.count.max(a.count);
            prev.summary = a.summary;
            prev.mitre = a.mitre;
            prev.evidence = a.evidence;
            return;
        }
        // A new alert matching a suppression rule is stored already triaged as expected.
        if let Some(r) = self
            .rules
            .iter()
            .find(|r| r.matches(&a.kind, a.device.as_deref()))
        {
            a.state = TriageState::Expected.as_str();
            a.state_user = Some(format!("suppression:{}", r.id));
            a.state_comment = Some(r.reason.clone());
            a.state_at = Some(self.t);
        }
        self.alert_index.insert(a.id.clone(), self.alerts.len());
        self.alerts.push(a);
    }

    fn flush(self, tx: &mut Transaction<'_>) -> Result<(), ::postgres::Error> {
        let t = self.t;
        if !self.history.is_empty() {
            let cols = columns5(&self.history);
            tx.execute(
                "INSERT INTO device_history (id, mac, at, field, old, new) \
                 SELECT nextval('device_history_id_seq'), m, a, f, o, n \
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) \
                 WITH ORDINALITY AS u(m, a, f, o, n, ord) ORDER BY ord",
                &[&cols.0, &cols.1, &cols.2, &cols.3, &cols.4],
            )?;
        }
        if !self.devices.is_empty() {
            let mut devs: Vec<(&String, &DeviceWrite<'_>)> = self.devices.iter().collect();
            // Rows in key order: concurrent batches lock them in the same order (no deadlock).
            devs.sort_unstable_by(|a, b| a.0.cmp(b.0));
            let mac: Vec<&str> = devs.iter().map(|d| d.0.as_str()).collect();
            let vendor: Vec<Option<&str>> = devs.iter().map(|d| d.1.vendor.as_deref()).collect();
            let category: Vec<&str> = devs.iter().map(|d| d.1.category.as_str()).collect();
            let model: Vec<Option<&str>> = devs.iter().map(|d| d.1.model.as_deref()).collect();
            let os: Vec<Option<&str>> = devs.iter().map(|d| d.1.os.as_deref()).collect();
            let hostname: Vec<Option<&str>> =
                devs.iter().map(|d| d.1.hostname.as_deref()).collect();
            let ips: Vec<&str> = devs.iter().map(|d| d.1.ips.as_str()).collect();
            let risk: Vec<i64> = devs.iter().map(|d| d.1.risk).collect();
            let confidence: Vec<f64> = devs.iter().map(|d| d.1.confidence).collect();
            let first: Vec<&str> = devs.iter().map(|d| d.1.first_seen.as_str()).collect();
            let last: Vec<&str> = devs.iter().map(|d| d.1.last_seen.as_str()).collect();
            let search: Vec<&str> = devs.iter().map(|d| d.1.search.as_str()).collect();
            let report: Vec<&str> = devs.iter().map(|d| d.1.report).collect();
            tx.execute(
                "INSERT INTO devices (mac, vendor, category, model, os, hostname, ips, risk, confidence, \
                 first_seen, last_seen, updated_at, search) \
                 SELECT m, v, c, mo, o, h, i, r, cf, fs, ls, $12, s FROM unnest($1::text[], $2::text[], \
                 $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int8[], $9::float8[], \
                 $10::text[], $11::text[], $13::text[]) AS u(m, v, c, mo, o, h, i, r, cf, fs, ls, s) \
                 ON CONFLICT (mac) DO UPDATE SET vendor = excluded.vendor, category = excluded.category, \
                 model = excluded.model, os = excluded.os, hostname = excluded.hostname, ips = excluded.ips, \
                 risk = excluded.risk, confidence = excluded.confidence, \
                 first_seen = LEAST(devices.first_seen, excluded.first_seen), \
                 last_seen = GREATEST(devices.last_seen, excluded.last_seen), \
                 updated_at = excluded.updated_at, search = excluded.search",
                &[
                    &mac,
                    &vendor,
                    &category,
                    &model,
                    &os,
                    &hostname,
                    &ips,
                    &risk,
                    &confidence,
                    &first,
                    &last,
                    &t,
                    &search,
                ],
            )?;
            tx.execute(
                "INSERT INTO device_reports (mac, data) SELECT * FROM unnest($1::text[], $2::text[]) \
                 ON CONFLICT (mac) DO UPDATE SET data = excluded.data",
                &[&mac, &report],
            )?;
        }
        if !self.alerts.is_empty() {
            self.write_alerts(tx)?;
        }
        Ok(())
    }

    fn write_alerts(&self, tx: &mut Transaction<'_>) -> Result<(), ::postgres::Error> {
        // `alert_ids` decides which alerts are new (atomically, across concurrent writers).
        let mut order: Vec<usize> = (0..self.alerts.len()).collect();
        order.sort_unstable_by(|&a, &b| self.alerts[a].id.cmp(&self.alerts[b].id));
        let ids: Vec<&str> = order.iter().map(|&i| self.alerts[i].id.as_str()).collect();
        let months: Vec<i32> = order.iter().map(|&i| self.alerts[i].month).collect();
        let new: HashSet<String> = tx
            .query(
                "INSERT INTO alert_ids (id, month) SELECT * FROM unnest($1::text[], $2::int4[]) \
                 ON CONFLICT (id) DO NOTHING RETURNING id",
                &[&ids, &months],
            )?
            .into_iter()
            .map(|r| r.get(0))
            .collect();
        // New alerts in order of first appearance (their `seq` order, as SQLite's rowid).
        let fresh: Vec<&AlertWrite> = self.alerts.iter().filter(|a| new.contains(&a.id)).collect();
        if !fresh.is_empty() {
            let c = AlertCols::of(&fresh);
            tx.execute(
                "INSERT INTO alerts (seq, id, month, kind, severity, device, src, dst, first_seen, last_seen, \
                 count, summary, mitre, evidence, state, state_user, state_comment, state_at, updated_at) \
                 SELECT nextval('alerts_seq'), id, month, kind, severity, device, src, dst, fs, ls, n, summary, \
                 mitre, evidence, state, su, sc, sa, $18 FROM unnest($1::text[], $2::int4[], $3::text[], \
                 $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::int8[], \
                 $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::int8[]) \
                 WITH ORDINALITY AS u(id, month, kind, severity, device, src, dst, fs, ls, n, summary, mitre, \
                 evidence, state, su, sc, sa, ord) ORDER BY ord",
                &[
                    &c.id, &c.month, &c.kind, &c.severity, &c.device, &c.src, &c.dst, &c.first,
                    &c.last, &c.count, &c.summary, &c.mitre, &c.evidence, &c.state, &c.su, &c.sc,
                    &c.sa, &self.t,
                ],
            )?;
        }
        let known: Vec<&AlertWrite> = order
            .iter()
            .map(|&i| &self.alerts[i])
            .filter(|a| !new.contains(&a.id))
            .collect();
        if !known.is_empty() {
            let c = AlertCols::of(&known);
            tx.execute(
                "UPDATE alerts a SET severity = u.severity, first_seen = LEAST(a.first_seen, u.fs), \
                 last_seen = GREATEST(a.last_seen, u.ls), count = GREATEST(a.count, u.n), \
                 summary = u.summary, mitre = u.mitre, evidence = u.evidence, updated_at = $7 \
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::text[], \
                 $8::text[], $9::text[]) AS u(id, severity, fs, ls, n, summary, mitre, evidence) \
                 JOIN alert_ids i ON i.id = u.id WHERE a.id = u.id AND a.month = i.month",
                &[
                    &c.id, &c.severity, &c.first, &c.last, &c.count, &c.summary, &self.t, &c.mitre,
                    &c.evidence,
                ],
            )?;
        }
        Ok(())
    }
}

type Cols5 = (
    Vec<String>,
    Vec<String>,
    Vec<&'static str>,
    Vec<Option<String>>,
    Vec<Option<String>>,
);

fn columns5(rows: &[HistoryRow]) -> Cols5 {
    let mut c: Cols5 = Default::default();
    for (a, b, f, o, n) in rows {
        c.0.push(a.clone());
        c.1.push(b.clone());
        c.2.push(f);
        c.3.push(o.clone());
        c.4.push(n.clone());
    }
    c
}

/// Alert writes as column arrays.
struct AlertCols<'x> {
    id: Vec<&'x str>,
    month: Vec<i32>,
    kind: Vec<&'x str>,
    severity: Vec<&'x str>,
    device: Vec<Option<&'x str>>,
    src: Vec<Option<&'x str>>,
    dst: Vec<Option<&'x str>>,
    first: Vec<&'x str>,
    last: Vec<&'x str>,
    count: Vec<i64>,
    summary: Vec<&'x str>,
    mitre: Vec<&'x str>,
    evidence: Vec<&'x str>,
    state: Vec<&'x str>,
    su: Vec<Option<&'x str>>,
    sc: Vec<Option<&'x str>>,
    sa: Vec<Option<i64>>,
}

impl<'x> AlertCols<'x> {
    fn of(rows: &[&'x AlertWrite]) -> Self {
        AlertCols {
            id: rows.iter().map(|a| a.id.as_str()).collect(),
            month: rows.iter().map(|a| a.month).collect(),
            kind: rows.iter().map(|a| a.kind.as_str()).collect(),
            severity: rows.iter().map(|a| a.severity.as_str()).collect(),
            device: rows.iter().map(|a| a.device.as_deref()).collect(),
            src: rows.iter().map(|a| a.src.as_deref()).collect(),
            dst: rows.iter().map(|a| a.dst.as_deref()).collect(),
            first: rows.iter().map(|a| a.first_seen.as_str()).collect(),
            last: rows.iter().map(|a| a.last_seen.as_str()).collect(),
            count: rows.iter().map(|a| a.count).collect(),
            summary: rows.iter().map(|a| a.summary.as_str()).collect(),
            mitre: rows.iter().map(|a| a.mitre.as_str()).collect(),
            evidence: rows.iter().map(|a| a.evidence.as_str()).collect(),
            state: rows.iter().map(|a| a.state).collect(),
            su: rows.iter().map(|a| a.state_user.as_deref()).collect(),
            sc: rows.iter().map(|a| a.state_comment.as_deref()).collect(),
            sa: rows.iter().map(|a| a.state_at).collect(),
        }
    }
}
