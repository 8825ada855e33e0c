//! Glue between the inventory and `palisade-risk`: a device's observations become the
//! product strings and services the risk engine assesses, together with its alerts.

use std::collections::BTreeSet;

use palisade_inventory::{DeviceState, Identity, Observation};
use palisade_risk::{
    AlertRef, Assessment, DeviceProfile, Knowledge, RiskContext, Signal, SignalKind,
};

use crate::AnalyzeOptions;
use crate::report::Alert;

/// mDNS TXT keys that carry a firmware or software version.
const TXT_VERSION_KEYS: &[&str] = &[
    "fw",
    "fwversion",
    "fw_version",
    "firmware",
    "sw",
    "swversion",
    "version",
    "vers",
    "srcvers",
    "osvers",
];

/// mDNS TXT keys that name the device's model.
const TXT_MODEL_KEYS: &[&str] = &[
    "model",
    "model_number",
    "modelnumber",
    "model_name",
    "modelname",
    "md",
    "mdl",
    "ty",
    "product",
];

/// The profile of one device: its identity, product strings, services and protocols.
pub(crate) fn profile(d: &DeviceState, id: &Identity) -> DeviceProfile {
    let mut signals: BTreeSet<Signal> = BTreeSet::new();
    for fact in d.facts() {
        match fact {
            Observation::HttpServer(s) => {
                signals.insert(Signal::new(SignalKind::HttpServer, s));
            }
            Observation::HttpUserAgent(s) => {
                signals.insert(Signal::new(SignalKind::HttpUserAgent, s));
            }
            Observation::SsdpAdvert { server, extra, .. } => {
                if let Some(s) = server {
                    signals.insert(Signal::new(SignalKind::SsdpServer, s));
                }
                for (k, v) in extra {
                    let k = k.to_ascii_lowercase();
                    if k.contains("model") || k.contains("firmware") || k.contains("version") {
                        signals.insert(Signal::new(
                            SignalKind::UpnpDescription,
                            format!("{k}: {v}"),
                        ));
                    }
                }
            }
            Observation::SsdpSearch {
                user_agent: Some(ua),
                ..
            } => {
                signals.insert(Signal::new(SignalKind::HttpUserAgent, ua));
            }
            Observation::Banner { protocol, text } => {
                let kind = match protocol {
                    "ssh" => SignalKind::SshBanner,
                    "ftp" => SignalKind::FtpBanner,
                    _ => SignalKind::TelnetBanner,
                };
                signals.insert(Signal::new(kind, text));
            }
            Observation::DhcpClient {
                vendor_class: Some(vc),
                ..
            } => {
                signals.insert(Signal::new(SignalKind::DhcpVendorClass, vc));
            }
            Observation::TlsCertificate {
                subject_cn,
                subject_o,
            } => {
                signals.insert(Signal::new(
                    SignalKind::TlsSubject,
                    format!(
                        "CN={} O={}",
                        subject_cn.unwrap_or_default(),
                        subject_o.unwrap_or_default()
                    ),
                ));
            }
            Observation::MqttClient { client_id, .. } => {
                signals.insert(Signal::new(SignalKind::MqttClientId, client_id));
            }
            Observation::CoapResource(p) => {
                signals.insert(Signal::new(SignalKind::Coap, p));
            }
            Observation::MdnsService { txt, .. } => {
                for (k, v) in txt {
                    let key = k.to_ascii_lowercase();
                    if TXT_VERSION_KEYS.contains(&key.as_str())
                        || TXT_MODEL_KEYS.contains(&key.as_str())
                    {
                        signals.insert(Signal::new(SignalKind::MdnsTxt, format!("{k}={v}")));
                    } else if v.is_empty() && k.chars().any(|c| c.is_ascii_whitespace()) {
                        // A bare TXT string ("IC-3115W Network Camera"), not a flag key.
                        signals.insert(Signal::new(SignalKind::MdnsTxt, k));
                    }
                }
            }
            Observation::Lldp {
                system_description: Some(desc),
                ..
            } => {
                signals.insert(Signal::new(SignalKind::Lldp, desc));
            }
            Observation::Cdp {
                software: Some(sw), ..
            } => {
                signals.insert(Signal::new(SignalKind::Lldp, sw));
            }
            _ => {}
        }
    }
    DeviceProfile {
        vendor: id.vendor.clone(),
        model: id.model.clone(),
        os: id.os.clone(),
        identity_confidence: id.confidence as f32,
        signals: signals.into_iter().collect(),
        services: d
            .services
            .iter()
            .map(|(p, n)| ((*p).to_string(), *n))
            .collect(),
        protocols: d.protocols.iter().map(|s| s.to_string()).collect(),
    }
}

/// Assesses one device with the alerts that name it.
pub(crate) fn assess(
    d: &DeviceState,
    id: &Identity,
    mac: &str,
    alerts: &[Alert],
    opts: &AnalyzeOptions,
) -> Assessment {
    let refs: Vec<AlertRef> = alerts
        .iter()
        .filter(|a| a.device.as_deref() == Some(mac))
        .map(|a| AlertRef {
            kind: a.kind.clone(),
            severity: a.severity.clone(),
            count: a.count,
        })
        .collect();
    let kb = Knowledge {
        index: opts.vulns.as_deref(),
        kev: opts
            .kev
            .as_deref()
            .unwrap_or_else(|| palisade_kb::kev_catalog()),
    };
    palisade_risk::assess_with(&profile(d, id), &refs, &kb, &context(d))
}

/// Exposure and firmware-age facts: services that routable peers reached, and the device's
/// last packet as the reference time (packet time, not the wall clock).
pub(crate) fn context(d: &DeviceState) -> RiskContext {
    RiskContext {
        external_services: d
            .external_services
            .iter()
            .map(|(p, n)| ((*p).to_string(), *n))
            .collect(),
        firmware_built: None,
        now: Some(d.last_seen.div_euclid(1_000_000_000)),
    }
}

#[cfg(test)]
mod tests {
    //! Golden CPE candidates on real captures whose banners name a product (skips
    //! without `../shared`).

    use std::path::{Path, PathBuf};

    use crate::{AnalyzeOptions, NullSink, analyze};

    fn datasets() -> Option<PathBuf> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets");
        if p.is_dir() {
            Some(p)
        } else {
            eprintln!("skipping: {} not found", p.display());
            None
        }
    }

    fn subset_index() -> Option<std::sync::Arc<palisade_risk::VulnIndex>> {
        let f = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/kb/nvd-iot-subset/nvd-iot-subset.api2.json");
        let mut b = palisade_risk::IndexBuilder::new();
        palisade_risk::import_nvd_files(&[f], &mut b, &mut |_| {}).ok()?;
        let mut out = Vec::new();
        b.write_to(&mut out).ok()?;
        palisade_risk::VulnIndex::from_bytes(out)
            .ok()
            .map(std::sync::Arc::new)
    }

    /// (capture, device MAC, expected CPE candidates, expected CVEs with the subset index)
    const CASES: &[(&str, &str, &[&str], &[&str])] = &[
        (
            "iot-sentinel/captures/D-LinkHomeHub/Setup-C-1-STA.pcap",
            "1c:5f:2b:aa:fd:4e",
            &[
                "cpe:2.3:a:lighttpd:lighttpd:1.4.34:*:*:*:*:*:*:*",
                "cpe:2.3:a:busybox:busybox:1.21.1:*:*:*:*:*:*:*",
            ],
            &["CVE-2018-19052", "CVE-2016-2147"],
        ),
        (
            "iot-sentinel/captures/WeMoSwitch2/Setup-C-1-STA.pcap",
            "94:10:3e:34:0c:b5",
            &[
                "cpe:2.3:a:libupnp_project:libupnp:1.6.18:*:*:*:*:*:*:*",
                "cpe:2.3:o:linux:linux_kernel:2.6.21:*:*:*:*:*:*:*",
            ],
            &[],
        ),
        (
            "iot-sentinel/captures/HueBridge/Setup-C-1-STA.pcap",
            "00:17:88:24:76:ff",
            &["cpe:2.3:o:linux:linux_kernel:3.14.0:*:*:*:*:*:*:*"],
            &[],
        ),
        (
            "iot-sentinel/captures/D-LinkCam/Setup-C-1-STA.pcap",
            "b0:c5:54:25:5b:0e",
            &["cpe:2.3:a:busybox:busybox:1.22.1:*:*:*:*:*:*:*"],
            &["CVE-2016-2147", "CVE-2017-16544"],
        ),
    ];

    /// The demo's Mirai camera: telnet reached from the internet, BusyBox build stamp in
    /// its telnet banner. Every device carries reasons.
    #[test]
    fn demo_risk_has_exposure_and_firmware_age() {
        let dir = std::env::temp_dir().join(format!("palisade-risk-demo-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let pcap = dir.join("demo.pcap");
        std::fs::write(
            &pcap,
            palisade_sim::generate(&palisade_sim::SimConfig::default()),
        )
        .expect("write demo capture");
        let r = analyze(
            &[pcap],
            &AnalyzeOptions::default(),
            Box::new(NullSink),
            None,
        )
        .report;
        let _ = std::fs::remove_dir_all(&dir);
        assert!(r.devices.len() >= 5);
        for d in &r.devices {
            assert!(!d.risk.reasons.is_empty(), "{}: no reasons", d.mac);
        }
        let cam = r
            .devices
            .iter()
            .find(|d| d.mac == "c0:56:e3:a1:7d:42")
            .expect("demo camera");
        let has = |s: &str| cam.risk.reasons.iter().any(|r| r.contains(s));
        assert!(
            has("reachable from outside the local segment (tcp/23)"),
            "{:?}",
            cam.risk.reasons
        );
        assert!(
            has("firmware built 2015-12-24") && has("BusyBox v1.19.3"),
            "{:?}",
            cam.risk.reasons
        );
        // LAN-only services are not external: the Hue bridge answers on tcp/80 locally.
        let hue = r
            .devices
            .iter()
            .find(|d| d.mac == "00:17:88:6b:2a:f4")
            .expect("demo hue bridge");
        assert!(
            !hue.risk
                .reasons
                .iter()
                .any(|r| r.contains("outside the local segment")),
            "{:?}",
            hue.risk.reasons
        );
    }

    /// Real setup captures: LAN-only traffic (no routable peer reaches a device), firmware
    /// age from the components the devices announce, reasons on every device.
    #[test]
    fn real_captures_risk_context() {
        let Some(d) = datasets() else { return };
        let files: Vec<PathBuf> = ["WeMoSwitch2", "HueBridge", "D-LinkHomeHub"]
            .iter()
            .map(|x| d.join(format!("iot-sentinel/captures/{x}/Setup-C-1-STA.pcap")))
            .filter(|p| p.exists())
            .collect();
        if files.len() < 3 {
            eprintln!("skipping: IoT Sentinel captures not found");
            return;
        }
        let r = analyze(&files, &AnalyzeOptions::default(), Box::new(NullSink), None).report;
        for dev in &r.devices {
            assert!(!dev.risk.reasons.is_empty(), "{}: no reasons", dev.mac);
            assert!(
                !dev.risk
                    .reasons
                    .iter()
                    .any(|x| x.contains("outside the local segment")),
                "{}: {:?}",
                dev.mac,
                dev.risk.reasons
            );
        }
        let wemo = r
            .devices
            .iter()
            .find(|x| x.mac == "94:10:3e:34:0c:b5")
            .expect("WeMo switch");
        // Linux 2.6.21 (2007-04-26) in its SSDP SERVER, captured in 2016: 15 points.
        assert!(
            wemo.risk
                .reasons
                .iter()
                .any(|x| x.starts_with("+15 firmware software dated 2007-04-26")
                    && x.contains("linux_kernel 2.6.21")),
            "{:?}",
            wemo.risk.reasons
        );
    }

    #[test]
    fn golden_cpes_on_real_captures() {
        let Some(d) = datasets() else { return };
        let opts = AnalyzeOptions {
            vulns: subset_index(),
            ..AnalyzeOptions::default()
        };
        for (file, mac, cpes, cves) in CASES {
            let path = d.join(file);
            if !path.exists() {
                eprintln!("skipping {file}: not found");
                continue;
            }
            let r = analyze(&[path], &opts, Box::new(NullSink), None).report;
            let dev = r
                .devices
                .iter()
                .find(|x| x.mac == *mac)
                .unwrap_or_else(|| panic!("{file}: device {mac} missing"));
            let got: Vec<&str> = dev.cpes.iter().map(|c| c.cpe.as_str()).collect();
            for want in *cpes {
                assert!(got.contains(want), "{file}: {want} not in {got:?}");
            }
            let found: Vec<&str> = dev.vulnerabilities.iter().map(|v| v.cve.as_str()).collect();
            for want in *cves {
                assert!(found.contains(want), "{file}: {want} not in {found:?}");
            }
            assert_eq!(dev.checklist.len(), 5);
            // Every device carries a risk object; the list is sorted by it.
            assert!(
                r.devices
                    .windows(2)
                    .all(|w| w[0].risk.score >= w[1].risk.score)
            );
        }
    }
}
