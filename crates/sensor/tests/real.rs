//! Golden tests of the whole pipeline on real third-party captures in `../shared/datasets`.
//! Each test skips (with a message) when the shared folder is absent, e.g. on a user's clone.

use std::path::{Path, PathBuf};

use palisade_kb::OuiTable;
use palisade_sensor::{AnalyzeOptions, DeviceReport, NullSink, Report, analyze};

fn shared() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!(
            "skipping: {} not found (real-capture tests need ../shared)",
            p.display()
        );
        None
    }
}

fn run(files: &[PathBuf], threads: usize) -> Report {
    let opts = AnalyzeOptions {
        threads,
        ..AnalyzeOptions::default()
    };
    let out = analyze(files, &opts, Box::new(NullSink), None);
    assert_eq!(out.unusable_inputs, 0, "{:?}", out.report.inputs);
    out.report
}

fn device<'a>(r: &'a Report, mac: &str) -> &'a DeviceReport {
    r.devices.iter().find(|d| d.mac == mac).unwrap_or_else(|| {
        panic!(
            "device {mac} missing; have {:?}",
            r.devices.iter().map(|d| &d.mac).collect::<Vec<_>>()
        )
    })
}

fn has_evidence(d: &DeviceReport, source: &str, needle: &str) -> bool {
    d.evidence
        .iter()
        .any(|e| e.source == source && e.detail.contains(needle))
}

fn category(d: &DeviceReport) -> String {
    serde_json::to_value(d.category)
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

fn pcaps_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    v.sort();
    v
}

/// Every IoT Sentinel device (31, in 27 types): its labelled MAC is in the inventory with the
/// vendor the IEEE registry gives for it.
#[test]
fn iot_sentinel_labelled_devices_and_vendors() {
    let Some(d) = shared() else { return };
    let root = d.join("iot-sentinel/captures");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert_eq!(dirs.len(), 31);
    for dir in dirs {
        let mac = std::fs::read_to_string(dir.join("_iotdevice-mac.txt"))
            .unwrap()
            .trim()
            .to_lowercase();
        let files = pcaps_in(&dir);
        let r = run(&files[..2.min(files.len())], 1);
        let dev = device(&r, &mac);
        let parsed = palisade_kb::parse_mac(&mac).unwrap();
        let expected = OuiTable::embedded().lookup(parsed).map(str::to_string);
        assert!(expected.is_some(), "{mac} has an IEEE assignment");
        assert_eq!(dev.vendor, expected, "{}", dir.display());
        assert!(dev.packets > 0);
        assert!(!dev.ips.is_empty(), "{mac} in {} has no IP", dir.display());
    }
}

/// IoT-23 honeypot 4-1: a real Philips Hue bridge over 22 hours.
#[test]
fn iot23_hue_bridge_is_a_philips_hub() {
    let Some(d) = shared() else { return };
    let files = pcaps_in(&d.join("iot23/CTU-Honeypot-Capture-4-1"));
    let r = run(&files, 1);
    let hue: Vec<&DeviceReport> = r
        .devices
        .iter()
        .filter(|d| {
            d.vendor
                .as_deref()
                .is_some_and(|v| v.starts_with("Philips"))
        })
        .collect();
    assert_eq!(hue.len(), 1);
    let hue = hue[0];
    assert_eq!(category(hue), "hub");
    assert!(hue.confidence >= 0.8, "{}", hue.confidence);
    assert!(
        hue.ips.contains(&"192.168.1.132".to_string()),
        "{:?}",
        hue.ips
    );
    assert!(has_evidence(hue, "ssdp", "IpBridge"));
    assert_eq!(r.summary.packets, 21_664);
    // The gateway carries the internet side; its forwarded sources are not its addresses.
    let routers: Vec<&DeviceReport> = r
        .devices
        .iter()
        .filter(|d| category(d) == "router")
        .collect();
    assert!(!routers.is_empty());
    for rt in routers {
        assert!(
            rt.ips
                .iter()
                .all(|ip| ip.starts_with("192.168.") || ip.starts_with("fe80")),
            "{:?}",
            rt.ips
        );
    }
}

/// Identical reports for any worker count on real traffic (several files in one run).
#[test]
fn real_captures_same_report_for_any_thread_count() {
    let Some(d) = shared() else { return };
    let mut files = pcaps_in(&d.join("iot23/CTU-Honeypot-Capture-4-1"));
    files.extend(
        pcaps_in(&d.join("iot-sentinel/captures/D-LinkCam"))
            .into_iter()
            .take(3),
    );
    files.extend(pcaps_in(&d.join("ddos-stopddos")));
    let norm = |mut r: Report| {
        r.summary.elapsed_s = 0.0;
        serde_json::to_value(r).unwrap()
    };
    let one = norm(run(&files, 1));
    assert_eq!(one, norm(run(&files, 2)));
    assert_eq!(one, norm(run(&files, 4)));
}

/// Pipeline-level golden facts on the protocol samples (nDPI, Zeek, Suricata-verify corpora),
/// checked against tshark's dissection of the same files.
#[test]
fn protocol_samples_golden_evidence() {
    let Some(d) = shared() else { return };
    let ps = d.join("protocol-samples");
    let one = |rel: &str| run(&[ps.join(rel)], 1);

    // CDP: platform and IOS (Zeek cdp-v1).
    let r = one("zeek/cdp-v1.pcap");
    let dev = device(&r, "00:e0:1e:d5:d5:15");
    assert_eq!(dev.model.as_deref(), Some("cisco 1601"));
    assert_eq!(dev.os.as_deref(), Some("Cisco IOS"));
    assert!(has_evidence(dev, "cdp", "device R1"));

    // LLDP system name (Zeek lldp).
    let r = one("zeek/lldp.pcap");
    assert!(has_evidence(
        device(&r, "00:22:2d:81:db:10"),
        "lldp",
        "SMCGS8P-Smart"
    ));

    // DHCP: client hostname; the server is the router.
    let r = one("zeek/dhcp_dhcp.pcap");
    assert!(
        device(&r, "90:b1:1c:99:49:29")
            .hostnames
            .contains(&"btest.is.cool".to_string())
    );
    assert_eq!(category(device(&r, "00:0c:29:40:0e:ef")), "router");

    // DHCP option 55 list and order, vendor class (Zeek discover with client id).
    let r = one("zeek/dhcp_dhcp_discover_param_req_and_client_id.pcap");
    assert!(
        device(&r, "00:0a:28:00:fa:41")
            .protocols
            .contains(&"dhcp".to_string())
    );

    // mDNS host name from A/AAAA answers; locally administered MAC flagged.
    let r = one("zeek/dns_mdns.pcap");
    let dev = device(&r, "8a:3c:d6:e1:4d:c4");
    assert!(
        dev.hostnames
            .contains(&"johanna-QEMU-Virtual-Machine".to_string())
    );
    assert!(dev.mac_randomized);
    assert!(dev.vendor.is_none());

    // MQTT CONNECT client id and protocol level (Zeek mqtt: MQTT 3.1).
    let r = one("zeek/mqtt.pcap");
    assert!(has_evidence(
        device(&r, "28:cf:e9:21:14:8f"),
        "mqtt",
        "\"paho/34AAE54A75D839566E\" (protocol level 3, username absent)"
    ));

    // MQTT 3.1.1 (nDPI coap_mqtt).
    let r = one("ndpi/coap_mqtt.pcap");
    assert!(has_evidence(
        device(&r, "08:00:27:00:44:72"),
        "mqtt",
        "\"Bus41\" (protocol level 4"
    ));

    // NTP clients.
    let r = one("zeek/ntp.pcap");
    assert!(
        device(&r, "04:15:52:05:1e:17")
            .protocols
            .contains(&"ntp".to_string())
    );

    // Telnet banner after IAC negotiation; the server offers tcp/23.
    let r = one("ndpi/telnet.pcap");
    let dev = device(&r, "00:00:c0:9f:a0:97");
    assert!(has_evidence(dev, "banner", "OpenBSD/i386 (oof)"));
    assert!(dev.services.contains(&"tcp/23".to_string()));

    // TLS ClientHello → JA4 (nDPI sonos); the Sonos OUI makes a speaker.
    let r = one("ndpi/sonos.pcapng");
    assert!(has_evidence(
        device(&r, "9c:58:3c:a7:ee:cc"),
        "tls",
        "t12d130700_88f5d26691c7_cdbdbcd6f742"
    ));
    assert_eq!(category(device(&r, "34:7e:5c:ff:a2:6e")), "speaker");

    // DHCP hostname + vendor class + DNS names (nDPI alexa-app); the DHCP server is a router.
    let r = one("ndpi/alexa-app.pcapng");
    let dev = device(&r, "78:f8:82:d3:fb:c2");
    assert!(
        dev.hostnames
            .contains(&"android-1c1335ec95a27318".to_string())
    );
    assert!(has_evidence(dev, "dhcp", "dhcpcd-5.5.6"));
    assert_eq!(category(device(&r, "00:c0:ca:91:a3:ef")), "router");

    // SSDP M-SEARCH user agent → OS (nDPI ssdp-m-search-ua).
    let r = one("ndpi/ssdp-m-search-ua.pcap");
    let dev = device(&r, "f0:2f:4b:09:93:bc");
    assert_eq!(dev.os.as_deref(), Some("macOS"));
    assert!(has_evidence(dev, "ssdp", "Google Chrome/99.0.4844.74"));
}

/// Suricata-verify cases: JA4 from its expected EVE output, DHCP option 60, SSDP SERVER.
#[test]
fn suricata_verify_golden_evidence() {
    let Some(d) = shared() else { return };
    let sv = d.join("../kb/suricata-verify-subset/tests");
    let r = run(&[sv.join("ja4-tls/input.pcap")], 1);
    assert!(has_evidence(
        device(&r, "0a:00:27:00:00:00"),
        "tls",
        "t12i1810s1_27d4652c4487_06a4338d0495"
    ));
    assert!(has_evidence(
        device(&r, "08:00:27:0b:cf:a3"),
        "tls",
        "CN=SELKS O=Stamus"
    ));
    let r = run(&[sv.join("dhcp-eve-extended-option-60/input.pcap")], 1);
    let dev = device(&r, "28:cf:da:dc:8d:76");
    assert!(has_evidence(dev, "dhcp", "MSFT 5.0"));
    assert!(has_evidence(
        dev,
        "dhcp",
        "1,15,3,6,44,46,47,31,33,121,249,43"
    ));
    assert!(dev.hostnames.contains(&"NicksMacBook".to_string()));
    let r = run(&[sv.join("sip-ssdp-pm/ssdp.pcap")], 1);
    assert!(has_evidence(
        device(&r, "e0:91:f5:73:8c:c2"),
        "ssdp",
        "MiniUPnPd/1.6"
    ));
}

/// The DDoS captures are attack-only: spoofed floods must not create unbounded devices or IPs.
#[test]
fn spoofed_floods_stay_bounded() {
    let Some(d) = shared() else { return };
    let r = run(&[d.join("ddos-stopddos/pkt.TCP.synflood.spoofed.pcap")], 1);
    assert!(r.summary.flows > 1000, "{}", r.summary.flows);
    for dev in &r.devices {
        assert!(dev.ips.len() <= palisade_inventory::MAX_IPS + palisade_inventory::MAX_PUBLIC_SEEN);
    }
}

/// Identification golden test: every IoT Sentinel device (31 units, 27 types) gets the
/// category of its type, and nothing is confidently wrong.
#[test]
fn iot_sentinel_categories() {
    let Some(d) = shared() else { return };
    let expected: &[(&str, &str)] = &[
        ("Aria", "appliance"),
        ("D-LinkCam", "camera"),
        ("D-LinkDayCam", "camera"),
        ("D-LinkDoorSensor", "hub"),
        ("D-LinkHomeHub", "hub"),
        ("D-LinkSensor", "sensor"),
        ("D-LinkSiren", "sensor"),
        ("D-LinkSwitch", "smart_plug"),
        ("D-LinkWaterSensor", "sensor"),
        ("EdimaxCam1", "camera"),
        ("EdimaxCam2", "camera"),
        ("EdimaxPlug1101W", "smart_plug"),
        ("EdimaxPlug2101W", "smart_plug"),
        ("EdnetCam1", "camera"),
        ("EdnetCam2", "camera"),
        ("EdnetGateway", "hub"),
        ("HomeMaticPlug", "smart_plug"),
        ("HueBridge", "hub"),
        ("HueSwitch", "hub"),
        ("Lightify", "hub"),
        ("MAXGateway", "hub"),
        ("SmarterCoffee", "appliance"),
        ("TP-LinkPlugHS100", "smart_plug"),
        ("TP-LinkPlugHS110", "smart_plug"),
        ("WeMoInsightSwitch", "smart_plug"),
        ("WeMoInsightSwitch2", "smart_plug"),
        ("WeMoLink", "hub"),
        ("WeMoSwitch", "smart_plug"),
        ("WeMoSwitch2", "smart_plug"),
        ("Withings", "appliance"),
        ("iKettle2", "appliance"),
    ];
    let mut right = 0;
    for (dir, cat) in expected {
        let dir = d.join("iot-sentinel/captures").join(dir);
        let mac = std::fs::read_to_string(dir.join("_iotdevice-mac.txt"))
            .unwrap()
            .trim()
            .to_lowercase();
        let files = pcaps_in(&dir);
        let r = run(&files[..1], 1);
        let dev = device(&r, &mac);
        let got = category(dev);
        if got == *cat {
            right += 1;
        } else {
            assert!(
                got == "unknown" || dev.confidence < 0.8,
                "{}: confidently wrong: {got} ({}) instead of {cat}",
                dir.display(),
                dev.confidence
            );
        }
    }
    assert!(right >= 29, "{right}/31 categories right");
}

/// Identification of the simulated home (not training data): every device's category
/// matches the simulator's ground truth.
#[test]
fn simulated_home_matches_ground_truth() {
    let cfg = palisade_sim::SimConfig::default();
    let dir = std::env::temp_dir().join(format!("palisade-sim-gt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("sim.pcap");
    std::fs::write(&p, palisade_sim::generate(&cfg)).unwrap();
    let r = run(std::slice::from_ref(&p), 1);
    let truth = palisade_sim::ground_truth(&cfg);
    assert!(truth.len() >= 10);
    for t in &truth {
        let mac = t
            .mac
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        let dev = device(&r, &mac);
        assert_eq!(
            category(dev),
            t.category,
            "{mac} ({} {})",
            t.vendor,
            t.model
        );
        let ip = format!("{}.{}.{}.{}", t.ip[0], t.ip[1], t.ip[2], t.ip[3]);
        assert!(dev.ips.contains(&ip), "{mac}: {:?}", dev.ips);
    }
    let _ = std::fs::remove_dir_all(dir);
}
