use std::net::{IpAddr, Ipv4Addr};

use super::*;

const HUE: Mac = [0x00, 0x17, 0x88, 0x24, 0x76, 0xff];
const ROUTER: Mac = [0xb0, 0xc5, 0x54, 0x00, 0x00, 0x01];

fn ip(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn hue_bridge() -> DeviceState {
    let mut inv = Inventory::new(100);
    let d = inv.device(HUE, 10).unwrap();
    d.sent_frames = true;
    d.saw_ip(ip(192, 168, 1, 132), 10);
    d.observe(Observation::SsdpAdvert {
        server: Some("Linux/3.14.0 UPnP/1.0 IpBridge/1.26.0".into()),
        kind: Some("upnp:rootdevice".into()),
        usn: None,
        location: Some("http://192.168.1.132:80/description.xml".into()),
        extra: vec![("hue-bridgeid".into(), "001788FFFE2476FF".into())],
    });
    d.observe(Observation::DnsQuery("www2.meethue.com".into()));
    d.clone()
}

#[test]
fn hue_bridge_is_a_philips_hub_on_linux() {
    let id = identify(&hue_bridge());
    assert_eq!(id.category, Category::Hub);
    assert!(
        id.vendor
            .as_deref()
            .unwrap()
            .to_lowercase()
            .starts_with("philips")
    );
    assert_eq!(id.os.as_deref(), Some("Linux 3.14.0"));
    assert!(id.confidence > 0.8, "{}", id.confidence);
    assert!(id.evidence.iter().any(|e| e.source == "ssdp"));
}

#[test]
fn nothing_known_means_unknown() {
    let mut d = DeviceState::new([0x02, 0, 0, 0, 0, 1], 0);
    d.sent_frames = true;
    let id = identify(&d);
    assert_eq!(id.category, Category::Unknown);
    assert!(id.vendor.is_none());
    assert!(id.mac_randomized);
    assert!(id.confidence < 0.3);
}

#[test]
fn routers_are_recognised_and_do_not_own_remote_addresses() {
    let mut d = DeviceState::new(ROUTER, 0);
    d.sent_frames = true;
    d.saw_ip(ip(192, 168, 1, 1), 0);
    for i in 0..20 {
        d.saw_ip(ip(93, 184, 216, i), i as i64);
    }
    assert!(d.is_router());
    assert_eq!(d.reported_ips(), vec![ip(192, 168, 1, 1)]);
    assert!(d.public_ips.len() <= MAX_PUBLIC_SEEN);
    assert_eq!(identify(&d).category, Category::Router);
}

#[test]
fn windows_dhcp_vendor_class() {
    let mut d = DeviceState::new([0x3c, 0x52, 0x82, 1, 2, 3], 0);
    d.observe(Observation::DhcpClient {
        hostname: Some("DESKTOP-ABC123".into()),
        vendor_class: Some("MSFT 5.0".into()),
        param_list: Some("1,3,6,15,31,33,43,44,46,47,119,121,249,252".into()),
        requested_ip: None,
        message_type: Some(3),
    });
    let id = identify(&d);
    assert_eq!(id.category, Category::Computer);
    assert_eq!(id.os.as_deref(), Some("Windows"));
    assert!(d.hostnames.contains("DESKTOP-ABC123"));
}

#[test]
fn merge_is_order_independent() {
    let mk = |k: u8| {
        let mut d = DeviceState::new(HUE, k as i64);
        d.packets = k as u64;
        d.saw_ip(ip(10, 0, 0, k), k as i64);
        d.observe(Observation::DnsQuery(format!("q{k}.example")));
        d.observe(Observation::HttpUserAgent(format!("ua{k}")));
        d.observe(Observation::Service {
            proto: "tcp",
            port: 80 + k as u16,
        });
        d
    };
    let mut a = mk(1);
    a.merge(mk(2));
    a.merge(mk(3));
    let mut b = mk(3);
    b.merge(mk(1));
    b.merge(mk(2));
    assert_eq!(a.packets, 6);
    assert_eq!(a.first_seen, 1);
    assert_eq!(format!("{:?}", identify(&a)), format!("{:?}", identify(&b)));
    assert_eq!(a.reported_ips(), b.reported_ips());
    assert_eq!(a.facts, b.facts);
}

#[test]
fn per_device_sets_are_capped() {
    let mut d = DeviceState::new(HUE, 0);
    for i in 0..1000u32 {
        d.observe(Observation::DnsQuery(format!("n{i}.example")));
        d.observe(Observation::HttpUserAgent(format!("agent {i}")));
        d.observe(Observation::Hostname {
            name: format!("h{i}"),
            source: "mdns",
        });
        d.saw_ip(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)), 0);
    }
    assert_eq!(d.dns_queries.len(), MAX_DNS);
    assert_eq!(d.facts.len(), MAX_FACTS);
    assert_eq!(d.hostnames.len(), MAX_HOSTNAMES);
    assert_eq!(d.local_ips.len(), MAX_IPS);
    assert!(d.dropped_facts > 0);
}

#[test]
fn device_table_is_capped_and_ignores_group_addresses() {
    let mut inv = Inventory::new(64);
    assert!(inv.device([0xff; 6], 0).is_none());
    assert!(inv.device([0x01, 0x00, 0x5e, 0, 0, 1], 0).is_none());
    for i in 0..10_000u32 {
        let b = i.to_be_bytes();
        inv.device([0x00, 0x11, b[0], b[1], b[2], b[3]], i as i64)
            .unwrap()
            .sent_frames = true;
        assert!(inv.len() <= 64);
    }
    assert!(inv.evicted >= 10_000 - 64);
    // The most recent devices survive.
    let devs = inv.into_devices();
    assert!(devs.iter().any(|d| d.mac == [0x00, 0x11, 0, 0, 0x27, 0x0f]));
}

#[test]
fn facts_round_trip_through_keys() {
    let obs = vec![
        Observation::MdnsService {
            service_type: "_hue._tcp".into(),
            instance: Some("Philips Hue - 2476FF".into()),
            txt: vec![
                ("bridgeid".into(), "001788fffe2476ff".into()),
                ("modelid".into(), "BSB002".into()),
            ],
        },
        Observation::TlsClient {
            sni: Some("a.example".into()),
            ja3: "abc".into(),
            ja4: "t13d".into(),
        },
        Observation::MqttClient {
            client_id: "c1".into(),
            protocol_level: 4,
            has_username: true,
        },
    ];
    for o in obs {
        let k = o.key().unwrap();
        assert_eq!(Observation::from_key(&k).unwrap().key().unwrap(), k);
    }
}

#[test]
fn distinct_counter_is_order_independent_and_close() {
    let mut a = Distinct::default();
    let mut b = Distinct::default();
    let mut c = Distinct::default();
    for i in 0..1000u64 {
        let h = (i ^ 0xdead_beef).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        if i % 2 == 0 {
            a.insert_hash(h)
        } else {
            b.insert_hash(h)
        }
        c.insert_hash(h);
    }
    let mut ab = a;
    ab.merge(&b);
    let mut ba = b;
    ba.merge(&a);
    assert_eq!(ab, ba);
    assert_eq!(ab, c);
    let e = c.estimate() as f64;
    assert!((e - 1000.0).abs() < 300.0, "{e}");
    let mut small = Distinct::default();
    for i in 0..5u64 {
        small.insert_hash(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (i << 7));
    }
    assert!((1..=8).contains(&small.estimate()), "{}", small.estimate());
}

#[test]
fn feature_vector_has_the_model_layout() {
    let d = hue_bridge();
    let v = feature_vector(&d);
    assert_eq!(v.len(), palisade_classify::features::N_FEATURES);
    let s = summary(&d);
    assert!(s.tokens.iter().any(|t| t == "dns:meethue.com"));
    assert!(s.tokens.iter().any(|t| t.starts_with("ssdp:ipbridge")));
}

#[test]
fn module_makers_are_recognised_by_their_registry_names() {
    use crate::identify::is_module_vendor;
    assert!(is_module_vendor("Espressif Inc."));
    assert!(is_module_vendor("Texas Instruments"));
    assert!(is_module_vendor("AzureWave Technology Inc."));
    assert!(!is_module_vendor("Philips Lighting BV"));
    assert!(!is_module_vendor("Belkin International Inc."));
}
