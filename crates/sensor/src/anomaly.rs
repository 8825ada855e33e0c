//! Opt-in behavioural anomaly stage (`analyze --anomaly MODEL`): a trained
//! [`palisade_anomaly::Detector`] sees every packet in order on the reading thread and turns
//! packets scored above its calibrated threshold into `anomaly.behaviour` findings. When the
//! option is off this module is never reached (the pipeline only checks for `None`).

use std::net::IpAddr;

use std::collections::HashMap;

use palisade_anomaly::{Detector, Model, PacketView};
use palisade_detect::{Aggregator, Finding, Kind};

/// Alerted packets of one device within this many nanoseconds fold into one finding.
const WINDOW_NS: i64 = 60_000_000_000;
/// Devices with an open finding at once.
const MAX_OPEN: usize = 4_096;

pub(crate) struct Stage {
    det: Detector,
    open: HashMap<u128, Finding>,
    agg: Aggregator,
}

impl Stage {
    pub(crate) fn new(model: &Model, cfg: &palisade_detect::DetectConfig) -> Self {
        Stage {
            det: Detector::from_model(model.clone()),
            open: HashMap::new(),
            agg: Aggregator::new(cfg.max_alerts, cfg.evidence_list_max),
        }
    }

    pub(crate) fn packet(&mut self, ts: i64, d: &palisade_packet::Decoded<'_>, wire: u32) {
        let v = PacketView::from_decoded(ts, d, wire);
        let Some(s) = self.det.process(&v) else {
            return;
        };
        if s.score.is_nan() || s.score <= 1.0 {
            return;
        }
        if let Some(f) = self.open.get_mut(&s.device) {
            if ts - f.first_ns < WINDOW_NS {
                f.count += 1;
                f.last_ns = f.last_ns.max(ts);
                return;
            }
            if let Some(f) = self.open.remove(&s.device) {
                self.agg.add(f);
            }
        }
        if self.open.len() >= MAX_OPEN {
            return;
        }
        let reasons = self.det.explain(s.device, 3);
        let (mac, ip) = if v.local == 1 {
            (d.dst_mac, d.dst_ip())
        } else {
            (d.src_mac, d.src_ip())
        };
        let who = ip
            .map(|i: IpAddr| i.to_string())
            .unwrap_or_else(|| "device".into());
        let lead = reasons.first().map(|r| r.text.clone()).unwrap_or_default();
        let mut f = Finding::new(Kind::AnomalyBehaviour, format!("anomaly:{who}"), mac, ts);
        f.src = d.src_ip();
        f.dst = d.dst_ip();
        f.summary = if s.known_device {
            format!(
                "behaviour of {who} left its baseline (score {:.1}): {lead}",
                s.score
            )
        } else {
            format!(
                "{who} has no baseline (first seen after training), score {:.1}: {lead}",
                s.score
            )
        };
        f.evidence = serde_json::json!({
            "score": s.score,
            "threshold": 1.0,
            "known_device": s.known_device,
            "top_behaviours": reasons.iter().map(|r| serde_json::json!({
                "behaviour": r.group,
                "error_ratio": r.error_ratio,
                "text": r.text,
            })).collect::<Vec<_>>(),
        });
        self.open.insert(s.device, f);
    }

    pub(crate) fn finish(mut self) -> Aggregator {
        let mut open: Vec<(u128, Finding)> = self.open.drain().collect();
        open.sort_by_key(|x| x.0);
        for (_, f) in open {
            self.agg.add(f);
        }
        self.agg
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use palisade_anomaly::{Config, Detector, Model, PacketView};

    use crate::{AnalyzeOptions, NullSink, analyze};

    /// A model trained on one simulated capture; analysing it again with `--anomaly` must work
    /// single- and multi-threaded with the same alerts, and without the option there are none.
    #[test]
    fn opt_in_anomaly_stage_adds_behaviour_alerts() {
        let path =
            std::env::temp_dir().join(format!("palisade-anomaly-{}.pcap", std::process::id()));
        palisade_sim::write_pcap(&palisade_sim::SimConfig::default(), &path).unwrap();
        let mut r = palisade_capture::open(&path).unwrap();
        let mut views = Vec::new();
        while let Some(p) = r.next_packet().unwrap() {
            let d = palisade_packet::decode(p.link_type.0, p.data);
            views.push(PacketView::from_decoded(p.ts_ns, &d, p.orig_len));
        }
        // Train on the first half only: the second half holds the simulated attack story.
        let n = (views.len() / 2) as u64;
        let mut det = Detector::new(Config::for_training_packets(n));
        for v in &views[..n as usize] {
            det.process(v);
        }
        let model = Arc::new(det.model().unwrap());
        let files = [PathBuf::from(&path)];
        let kinds = |threads: usize, m: Option<Arc<Model>>| {
            let opts = AnalyzeOptions {
                threads,
                anomaly: m,
                ..AnalyzeOptions::default()
            };
            let rep = analyze(&files, &opts, Box::new(NullSink), None).report;
            rep.alerts
                .iter()
                .filter(|a| a.kind == "anomaly.behaviour")
                .map(|a| (a.key_text(), a.count))
                .collect::<Vec<_>>()
        };
        let off = kinds(1, None);
        let one = kinds(1, Some(model.clone()));
        let two = kinds(2, Some(model));
        let _ = std::fs::remove_file(&path);
        assert!(off.is_empty());
        assert!(!one.is_empty(), "no anomaly alerts");
        assert_eq!(one, two);
    }

    trait KeyText {
        fn key_text(&self) -> String;
    }

    impl KeyText for palisade_detect::Alert {
        fn key_text(&self) -> String {
            format!("{:?} {}", self.device, self.summary)
        }
    }
}
