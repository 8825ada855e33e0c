//! Golden tests on real captures from `<workspace>/../shared`.
//!
//! Expected values were read with `tshark -V` (Wireshark 4.0) or taken from
//! the suricata-verify expected output next to each capture. Each test skips
//! with a message when the shared directory is absent (e.g. a bare checkout).

use std::path::PathBuf;

use palisade_proto::{banner, cdp, coap, dhcp, dns, lldp, mqtt, ntp, ssdp, tls};

// ---- test-only capture reader ----

/// A decoded frame: enough of L2-L4 to hand payloads to the parsers.
#[derive(Debug, Default, Clone)]
struct Frame {
    ethertype: u16,
    /// Ethernet payload (after VLAN tags); for 802.3 frames the LLC payload.
    l2_payload: Vec<u8>,
    /// 6 = TCP, 17 = UDP, 0 = neither.
    ip_proto: u8,
    src_port: u16,
    dst_port: u16,
    payload: Vec<u8>,
}

fn shared() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("skipping golden test: {} not found", p.display());
        None
    }
}

/// Reads a capture under `shared/`; None (after a message) when absent.
fn capture(rel: &str) -> Option<Vec<Frame>> {
    let path = shared()?.join(rel);
    let Ok(bytes) = std::fs::read(&path) else {
        eprintln!("skipping golden test: cannot read {}", path.display());
        return None;
    };
    let raw = if bytes.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        read_pcapng(&bytes)
    } else {
        read_pcap(&bytes)
    };
    Some(raw.iter().map(|f| decode(f)).collect())
}

fn u16_at(b: &[u8], at: usize, le: bool) -> u16 {
    let a = [b[at], b[at + 1]];
    if le {
        u16::from_le_bytes(a)
    } else {
        u16::from_be_bytes(a)
    }
}

fn u32_at(b: &[u8], at: usize, le: bool) -> u32 {
    let a = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if le {
        u32::from_le_bytes(a)
    } else {
        u32::from_be_bytes(a)
    }
}

fn read_pcap(b: &[u8]) -> Vec<Vec<u8>> {
    let le = match b[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => panic!("not a pcap file"),
    };
    assert_eq!(u32_at(b, 20, le), 1, "only Ethernet captures are used");
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= b.len() {
        let incl = u32_at(b, at + 8, le) as usize;
        out.push(b[at + 16..at + 16 + incl].to_vec());
        at += 16 + incl;
    }
    out
}

fn read_pcapng(b: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut le = true;
    let mut at = 0;
    while at + 12 <= b.len() {
        if b[at..at + 4] == [0x0a, 0x0d, 0x0d, 0x0a] {
            le = b[at + 8..at + 12] == [0x4d, 0x3c, 0x2b, 0x1a];
        }
        let ty = u32_at(b, at, le);
        let len = u32_at(b, at + 4, le) as usize;
        match ty {
            // Interface Description: only Ethernet is expected.
            1 => assert_eq!(u16_at(b, at + 8, le), 1, "only Ethernet captures are used"),
            // Enhanced Packet.
            6 => {
                let cap = u32_at(b, at + 20, le) as usize;
                out.push(b[at + 28..at + 28 + cap].to_vec());
            }
            _ => {}
        }
        at += len;
    }
    out
}

fn decode(f: &[u8]) -> Frame {
    let mut fr = Frame::default();
    if f.len() < 14 {
        return fr;
    }
    let mut et = u16::from_be_bytes([f[12], f[13]]);
    let mut off = 14;
    while (et == 0x8100 || et == 0x88a8) && f.len() >= off + 4 {
        et = u16::from_be_bytes([f[off + 2], f[off + 3]]);
        off += 4;
    }
    fr.ethertype = et;
    if et <= 1500 {
        // 802.3 length field: LLC/SNAP follows; keep it whole.
        let end = (off + usize::from(et)).min(f.len());
        fr.l2_payload = f[off..end].to_vec();
        return fr;
    }
    let l3 = &f[off..];
    fr.l2_payload = l3.to_vec();
    let (proto, l4) = match et {
        0x0800 if l3.len() >= 20 => {
            let ihl = usize::from(l3[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([l3[2], l3[3]])).min(l3.len());
            let frag = u16::from_be_bytes([l3[6], l3[7]]);
            if frag & 0x3fff != 0 {
                return fr; // fragments are not reassembled here
            }
            (l3[9], &l3[ihl..total])
        }
        0x86dd if l3.len() >= 40 => {
            let plen = usize::from(u16::from_be_bytes([l3[4], l3[5]]));
            (l3[6], &l3[40..(40 + plen).min(l3.len())])
        }
        _ => return fr,
    };
    match proto {
        17 if l4.len() >= 8 => {
            let ulen = usize::from(u16::from_be_bytes([l4[4], l4[5]])).clamp(8, l4.len());
            fr.ip_proto = 17;
            fr.src_port = u16::from_be_bytes([l4[0], l4[1]]);
            fr.dst_port = u16::from_be_bytes([l4[2], l4[3]]);
            fr.payload = l4[8..ulen].to_vec();
        }
        6 if l4.len() >= 20 => {
            let doff = usize::from(l4[12] >> 4) * 4;
            fr.ip_proto = 6;
            fr.src_port = u16::from_be_bytes([l4[0], l4[1]]);
            fr.dst_port = u16::from_be_bytes([l4[2], l4[3]]);
            fr.payload = l4[doff.min(l4.len())..].to_vec();
        }
        _ => {}
    }
    fr
}

/// Payload of 1-based frame `n` (tshark numbering).
fn payload(frames: &[Frame], n: usize) -> &[u8] {
    &frames[n - 1].payload
}

/// Concatenated TCP payloads sent from `port`, in capture order (the
/// captures used here have no retransmissions).
fn stream_from(frames: &[Frame], port: u16) -> Vec<u8> {
    frames
        .iter()
        .filter(|f| f.ip_proto == 6 && f.src_port == port)
        .flat_map(|f| f.payload.iter().copied())
        .collect()
}

const SV: &str = "kb/suricata-verify-subset/tests";
const PS: &str = "datasets/protocol-samples";

// ---- DHCP ----

#[test]
fn dhcp_discover_prl_and_client_id() {
    let Some(fr) = capture(&format!(
        "{PS}/zeek/dhcp_dhcp_discover_param_req_and_client_id.pcap"
    )) else {
        return;
    };
    let d = dhcp::parse(payload(&fr, 1)).unwrap();
    assert_eq!(d.op, 1);
    assert_eq!(d.xid, 0x3d11);
    assert_eq!(d.message_type, Some(1));
    assert_eq!(d.client_mac, [0x00, 0x0b, 0x82, 0x01, 0xfc, 0x42]);
    assert_eq!(d.hostname, Some(&b"test0000"[..]));
    assert_eq!(d.param_request_list, Some(&[1u8, 3, 6, 42][..]));
    assert_eq!(
        dhcp::fingerprint_string(d.param_request_list.unwrap()),
        "1,3,6,42"
    );
    assert_eq!(
        d.client_id,
        Some(&[1u8, 0x00, 0x0b, 0x82, 0x01, 0xfc, 0x42][..])
    );
    assert_eq!(d.requested_ip, Some([208, 67, 222, 222]));
    assert_eq!(
        d.option_codes().collect::<Vec<_>>(),
        vec![53, 61, 50, 55, 12]
    );
}

#[test]
fn dhcp_full_exchange() {
    let Some(fr) = capture(&format!("{PS}/zeek/dhcp_dhcp.pcap")) else {
        return;
    };
    let types: Vec<_> = fr
        .iter()
        .map(|f| dhcp::parse(&f.payload).unwrap().message_type.unwrap())
        .collect();
    assert_eq!(types, vec![1, 2, 3, 6, 3, 5, 4, 7, 8]);
    let discover = dhcp::parse(payload(&fr, 1)).unwrap();
    assert_eq!(discover.hostname, Some(&b"btest.is.cool"[..]));
    assert_eq!(discover.client_mac, [0x90, 0xb1, 0x1c, 0x99, 0x49, 0x29]);
    assert_eq!(discover.xid, 0x7c0);
    let offer = dhcp::parse(payload(&fr, 2)).unwrap();
    assert_eq!(offer.op, 2);
    assert_eq!(offer.vendor_class, Some(&b"ArubaAP"[..]));
    assert_eq!(offer.server_id, Some([128, 2, 6, 152]));
    assert_eq!(offer.router, Some([128, 2, 6, 1]));
    assert_eq!(offer.domain_name, Some(&b"cmu.edu"[..]));
    assert_eq!(offer.yiaddr, [128, 2, 6, 97]);
    assert_eq!(
        offer.option_codes().collect::<Vec<_>>(),
        vec![53, 54, 51, 1, 3, 6, 4, 67, 28, 42, 43, 60, 44, 46, 15]
    );
}

#[test]
fn dhcp_flood_and_inform_and_fuzz() {
    let Some(fr) = capture(&format!("{PS}/zeek/dhcp_dhcp_flood.pcap")) else {
        return;
    };
    assert_eq!(fr.len(), 500);
    assert!(fr.iter().all(|f| dhcp::parse(&f.payload).is_ok()));
    let inform = capture(&format!("{PS}/zeek/dhcp_dhcp_inform.pcap")).unwrap();
    let d = dhcp::parse(payload(&inform, 1)).unwrap();
    assert_eq!(d.message_type, Some(8));
    assert_eq!(d.param_request_list, Some(&[1u8][..]));
    // A deliberately malformed DHCP packet (pcapng): must not panic.
    let fz = capture(&format!("{PS}/ndpi/dhcp-fuzz.pcapng")).unwrap();
    let _ = dhcp::parse(payload(&fz, 1));
}

#[test]
fn dhcp_vendor_class_msft() {
    let Some(fr) = capture(&format!("{SV}/dhcp-eve-extended-option-60/input.pcap")) else {
        return;
    };
    let d = dhcp::parse(payload(&fr, 1)).unwrap();
    assert_eq!(d.xid, 3_759_982_360);
    assert_eq!(d.message_type, Some(3));
    assert_eq!(d.vendor_class, Some(&b"MSFT 5.0"[..]));
    assert_eq!(d.hostname, Some(&b"NicksMacBook"[..]));
    assert_eq!(
        dhcp::fingerprint_string(d.param_request_list.unwrap()),
        "1,15,3,6,44,46,47,31,33,121,249,43"
    );
    assert!(d.fqdn.is_some());
    assert_eq!(
        d.option_codes().collect::<Vec<_>>(),
        vec![53, 61, 50, 12, 81, 60, 55]
    );
}

#[test]
fn dhcp_option_overload() {
    let Some(fr) = capture(&format!("{SV}/dhcp-option-52-overload/input.pcap")) else {
        return;
    };
    // Frames 4 and 7 carry router/DNS inside sname (overload = 2).
    for n in [4, 7] {
        let d = dhcp::parse(payload(&fr, n)).unwrap();
        assert_eq!(d.overload, Some(2), "frame {n}");
        assert_eq!(d.router, Some([10, 100, 0, 2]), "frame {n}");
        assert_eq!(d.option(6), Some(&[10u8, 100, 0, 2][..]), "frame {n}");
        assert_eq!(d.server_name, None);
    }
    for n in [3, 8] {
        let d = dhcp::parse(payload(&fr, n)).unwrap();
        assert_eq!(d.overload, None);
        assert_eq!(d.router, Some([10, 100, 0, 1]), "frame {n}");
    }
    let both = capture(&format!("{SV}/dhcp-option-52-overload-both/input.pcap")).unwrap();
    let d = dhcp::parse(payload(&both, 1)).unwrap();
    assert_eq!(d.overload, Some(3));
    assert_eq!(d.xid, 2_888_761_343);
    assert_eq!(d.client_mac, [0x00, 0x00, 0x6c, 0x82, 0xdc, 0x4e]);
    assert_eq!(d.message_type, Some(1));
    assert_eq!(d.option(51), Some(&3600u32.to_be_bytes()[..]));
    // Option 56 appears in the main field, the file field and sname.
    assert_eq!(d.option_codes().filter(|&c| c == 56).count(), 3);
}

// ---- DNS / mDNS ----

#[test]
fn mdns_queries_and_responses() {
    let Some(fr) = capture(&format!("{PS}/zeek/dns_mdns.pcap")) else {
        return;
    };
    let q = dns::parse(payload(&fr, 2)).unwrap();
    assert!(!q.is_response);
    let names: Vec<_> = q.questions.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(names, vec!["_ipp._tcp.local", "_ipps._tcp.local"]);
    assert!(
        q.questions
            .iter()
            .all(|q| q.qtype == dns::TYPE_PTR && !q.unicast_response)
    );

    let r = dns::parse(payload(&fr, 4)).unwrap();
    assert!(r.is_response);
    assert_eq!(r.flags, 0x8400);
    assert_eq!(r.answers.len(), 6);
    assert_eq!(r.answers[0].name, "johanna-QEMU-Virtual-Machine.local");
    assert!(r.answers[0].cache_flush);
    assert_eq!(r.answers[0].class, 1);
    assert_eq!(
        r.answers[1].data,
        dns::RData::Ptr("johanna-QEMU-Virtual-Machine.local".into())
    );
    assert_eq!(r.answers[4].data, dns::RData::A([10, 0, 2, 7]));
    assert_eq!(r.answers[5].name, "7.2.0.10.in-addr.arpa");
    // Every mDNS packet in the capture parses.
    for f in fr.iter().filter(|f| f.dst_port == 5353) {
        dns::parse(&f.payload).unwrap();
    }
}

#[test]
fn mdns_txt_and_service_instances() {
    let Some(fr) = capture(&format!(
        "{SV}/ipv6-evasion/ipv6-malformed-fragments-9/frag-9.pcap"
    )) else {
        return;
    };
    let m = dns::parse(payload(&fr, 6)).unwrap();
    assert_eq!(
        m.answers[0].name,
        "John\u{2019}s iMac._device-info._tcp.local"
    );
    let dns::RData::Txt(txt) = &m.answers[0].data else {
        panic!("expected TXT, got {:?}", m.answers[0].data)
    };
    assert_eq!(txt, &vec![&b"model=iMac17,1"[..], b"osxvers=17"]);
    let pairs: Vec<_> = dns::txt_pairs(txt).collect();
    assert_eq!(
        pairs,
        vec![
            (&b"model"[..], &b"iMac17,1"[..]),
            (&b"osxvers"[..], &b"17"[..])
        ]
    );
    assert_eq!(m.answers[1].name, "_companion-link._tcp.local");
    assert_eq!(
        m.answers[1].data,
        dns::RData::Ptr("John\u{2019}s iMac._companion-link._tcp.local".into())
    );
    let q = dns::parse(payload(&fr, 11)).unwrap();
    let names: Vec<_> = q.questions.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(
        &names[..3],
        [
            "_apple-mobdev._tcp.local",
            "92e80812._sub._apple-mobdev2._tcp.local",
            "_apple-pairable._tcp.local"
        ]
    );
}

#[test]
fn dns_unicast_from_pcapng() {
    let Some(fr) = capture(&format!("{PS}/ndpi/alexa-app.pcapng")) else {
        return;
    };
    let m = dns::parse(payload(&fr, 29)).unwrap();
    assert_eq!(m.id, 0xcfc3);
    assert_eq!(m.questions[0].name, "mtalk.google.com");
    assert_eq!(
        m.answers[0].data,
        dns::RData::Cname("mobile-gtalk.l.google.com".into())
    );
    assert_eq!(m.answers[1].data, dns::RData::A([173, 194, 223, 188]));
    for f in fr
        .iter()
        .filter(|f| f.ip_proto == 17 && (f.src_port == 53 || f.dst_port == 53))
    {
        dns::parse(&f.payload).unwrap();
    }
}

// ---- SSDP ----

#[test]
fn ssdp_notify_miniupnpd() {
    let Some(fr) = capture(&format!("{SV}/sip-ssdp-pm/ssdp.pcap")) else {
        return;
    };
    let s = ssdp::parse(payload(&fr, 1)).unwrap();
    assert_eq!(s.kind, ssdp::SsdpKind::Notify);
    assert_eq!(
        s.server,
        Some(&b"UPnP/Tomato 1.28.7500 MIPSR2Toastman-RT K26 USB Ext UPnP/1.0 MiniUPnPd/1.6"[..])
    );
    assert_eq!(
        s.usn,
        Some(&b"uuid:04645c3d-e6b4-4eea-bd35-5c320c12969f::upnp:rootdevice"[..])
    );
    // The capture spells it "lOCATION".
    assert_eq!(
        s.location,
        Some(&b"http://192.168.1.1:7406/rootDesc.xml"[..])
    );
    assert_eq!(s.nt, Some(&b"upnp:rootdevice"[..]));
    assert_eq!(s.nts, Some(&b"ssdp:alive"[..]));
    assert_eq!(s.header("configid.upnp.org"), Some(&b"1337"[..]));
    assert_eq!(s.headers.len(), 11);
}

#[test]
fn ssdp_msearch() {
    let Some(fr) = capture(&format!("{PS}/ndpi/ssdp-m-search-ua.pcap")) else {
        return;
    };
    let s = ssdp::parse(payload(&fr, 1)).unwrap();
    assert_eq!(s.kind, ssdp::SsdpKind::MSearch);
    assert_eq!(s.st, Some(&b"urn:dial-multiscreen-org:service:dial:1"[..]));
    assert_eq!(
        s.user_agent,
        Some(&b"Google Chrome/99.0.4844.74 Mac OS X"[..])
    );
    assert_eq!(s.header("man"), Some(&b"\"ssdp:discover\""[..]));
    // Plex GDM uses a bare M-SEARCH on port 32412.
    let gdm = capture(&format!("{PS}/ndpi/ssdp-m-search.pcap")).unwrap();
    let s = ssdp::parse(payload(&gdm, 1)).unwrap();
    assert_eq!(s.kind, ssdp::SsdpKind::MSearch);
    assert!(s.headers.is_empty());
    // upnp.pcap is WS-Discovery (SOAP on 3702), not SSDP.
    let wsd = capture(&format!("{PS}/ndpi/upnp.pcap")).unwrap();
    assert_eq!(
        ssdp::parse(payload(&wsd, 2)),
        Err(palisade_proto::ProtoError::NotThisProtocol)
    );
}

// ---- TLS ----

#[test]
fn tls_ja4_suricata_verify_tls12() {
    let Some(fr) = capture(&format!("{SV}/ja4-tls/input.pcap")) else {
        return;
    };
    let ch = tls::parse_client_hello(payload(&fr, 4)).unwrap();
    assert_eq!(ch.sni, None);
    assert_eq!(ch.alpn.first(), Some(&&b"spdy/3.1"[..]));
    assert_eq!(
        ch.ja4(tls::Transport::Tcp),
        "t12i1810s1_27d4652c4487_06a4338d0495"
    );
    // Server flight: self-signed SELKS certificate (tshark).
    let certs = tls::certificate_subjects(payload(&fr, 6));
    assert_eq!(certs.len(), 1);
    assert_eq!(certs[0].subject_cn.as_deref(), Some("SELKS"));
    assert_eq!(certs[0].subject_o.as_deref(), Some("Stamus"));
    assert!(certs[0].self_signed);
    let sh = tls::parse_server_hello(payload(&fr, 6)).unwrap();
    assert_eq!(sh.version, 0x0303);
}

#[test]
fn tls_ja4_suricata_verify_tls13() {
    let Some(fr) = capture(&format!("{SV}/ja4-rules/input.pcap")) else {
        return;
    };
    let ch = tls::parse_client_hello(payload(&fr, 4)).unwrap();
    assert_eq!(
        ch.ja4(tls::Transport::Tcp),
        "t13d1516h2_8daaf6152771_e5627efa2ab1"
    );
    let sh = tls::parse_server_hello(payload(&fr, 6)).unwrap();
    assert_eq!(sh.selected_version, Some(0x0304));
}

#[test]
fn tls_ja3_and_certificates_example_org() {
    let Some(fr) = capture(&format!("{SV}/tls/tls-certs-alert/input.pcap")) else {
        return;
    };
    let ch = tls::parse_client_hello(payload(&fr, 4)).unwrap();
    assert_eq!(ch.sni, Some("example.com"));
    assert_eq!(ch.handshake_version, 0x0303);
    // detect-bidir-ja3/test.rules: ja3.string content "771,49196-49200".
    assert!(
        ch.ja3_string().starts_with("771,49196-49200"),
        "{}",
        ch.ja3_string()
    );
    assert_eq!(ch.ja3_hash().len(), 32);
    let server = stream_from(&fr, 443);
    let sh = tls::parse_server_hello(&server).unwrap();
    // detect-bidir-ja3/test.rules: ja3s.hash content.
    assert_eq!(sh.ja3s_hash(), "5d79edf64e03689ff559a54e9d9487bc");
    let certs = tls::certificate_subjects(&server);
    assert!(certs.len() >= 2, "{certs:?}");
    assert_eq!(certs[0].subject_cn.as_deref(), Some("www.example.org"));
    assert_eq!(
        certs[0].subject_o.as_deref(),
        Some("Internet Corporation for Assigned Names and Numbers")
    );
    assert_eq!(
        certs[0].issuer_cn.as_deref(),
        Some("DigiCert SHA2 Secure Server CA")
    );
    assert!(!certs[0].self_signed);
}

// ---- MQTT ----

#[test]
fn mqtt_connects() {
    let Some(fr) = capture(&format!("{PS}/suricata-verify/mqtt31-pub-userpass.pcap")) else {
        return;
    };
    let c = mqtt::parse_connect(payload(&fr, 4)).unwrap();
    assert_eq!(c.protocol_name, b"MQIsdp");
    assert_eq!(c.protocol_level, 3);
    assert_eq!(c.client_id, b"myvoiceismypassport");
    assert_eq!(c.username, Some(&b"user"[..]));
    assert_eq!(c.password, Some(&b"pass"[..]));
    assert_eq!(c.keep_alive, 60);

    let nd = capture(&format!("{PS}/ndpi/mqtt.pcap")).unwrap();
    let c = mqtt::parse_connect(payload(&nd, 2)).unwrap();
    assert_eq!((c.protocol_level, c.flags), (3, 0xc2));
    assert_eq!(c.client_id, b"cbaabcbabacbbbbbaaaaab");
    assert_eq!(c.username, Some(&b"02D5050223D3"[..]));
    assert_eq!(c.keep_alive, 20);
    let c = mqtt::parse_connect(payload(&nd, 9)).unwrap();
    assert_eq!(c.protocol_name, b"MQTT");
    assert_eq!(c.protocol_level, 4);
    assert_eq!(c.client_id, b"P47775ID170W2120");
    assert!(c.username.is_some() && c.password.is_some());
    let h = mqtt::parse_fixed_header(payload(&nd, 3)).unwrap();
    assert_eq!(h.packet_type, mqtt::MqttPacketType::Subscribe);

    let v5 = capture(&format!("{PS}/suricata-verify/mqtt5_pub_jpeg.pcap")).unwrap();
    let c = mqtt::parse_connect(payload(&v5, 4)).unwrap();
    assert_eq!(c.protocol_level, 5);
    assert_eq!(c.client_id, b"");
    assert_eq!(c.username, Some(&b"user"[..]));

    let zk = capture(&format!("{PS}/zeek/mqtt.pcap")).unwrap();
    let c = mqtt::parse_connect(payload(&zk, 1)).unwrap();
    assert_eq!(c.client_id, b"paho/34AAE54A75D839566E");
    assert_eq!(c.username, None);
    assert!(c.clean_session());
}

// ---- CoAP ----

#[test]
fn coap_requests_and_responses() {
    let Some(fr) = capture(&format!("{PS}/ndpi/coap_mqtt.pcap")) else {
        return;
    };
    let c = coap::parse(payload(&fr, 6)).unwrap();
    assert_eq!(c.msg_type, coap::CoapType::Confirmable);
    assert_eq!(c.code_string(), "0.01");
    assert_eq!(c.message_id, 59675);
    assert_eq!(c.token, &[0x07, 0x90]);
    assert_eq!(c.uri_path().as_deref(), Some("/separate"));
    let r = coap::parse(payload(&fr, 8)).unwrap();
    assert_eq!(r.code_string(), "2.05");
    assert_eq!(r.message_id, 22287);
    assert!(!r.payload.is_empty());
    let ack = coap::parse(payload(&fr, 7)).unwrap();
    assert_eq!(ack.msg_type, coap::CoapType::Acknowledgement);
    assert_eq!(ack.code, 0);
    let post = coap::parse(payload(&fr, 10)).unwrap();
    assert_eq!(post.code_string(), "0.02");
    assert_eq!(post.uri_path().as_deref(), Some("/storage"));
    let g = coap::parse(payload(&fr, 1)).unwrap();
    assert_eq!((g.code, g.message_id), (1, 1482));
    // All CoAP datagrams: no panics, and the vast majority parse.
    let coap_frames: Vec<_> = fr
        .iter()
        .filter(|f| f.ip_proto == 17 && (f.src_port == 5683 || f.dst_port == 5683))
        .collect();
    let ok = coap_frames
        .iter()
        .filter(|f| coap::parse(&f.payload).is_ok())
        .count();
    assert!(
        ok * 10 >= coap_frames.len() * 9,
        "{ok}/{}",
        coap_frames.len()
    );
}

// ---- L2 discovery ----

#[test]
fn lldp_smc_switch() {
    let Some(fr) = capture(&format!("{PS}/zeek/lldp.pcap")) else {
        return;
    };
    assert_eq!(fr[0].ethertype, 0x88cc);
    let l = lldp::parse(&fr[0].l2_payload).unwrap();
    assert_eq!(l.chassis_id.subtype, 4);
    assert_eq!(l.chassis_id.display(false), "00:22:2d:81:db:10");
    assert_eq!(l.port_id.subtype, 7);
    assert_eq!(l.port_id.display(true), "1");
    assert_eq!(l.ttl, 120);
    assert_eq!(l.port_description, Some(&b"Port #1"[..]));
    assert_eq!(l.system_name, Some(&b"SMCGS8P-Smart"[..]));
    assert_eq!(
        l.system_description,
        Some(&b"SMCGS8P-Smart - SMCGS8P-Smart v3.20"[..])
    );
    assert_eq!(l.capabilities, Some((lldp::CAP_BRIDGE, lldp::CAP_BRIDGE)));
    let m = l.management_address.unwrap();
    assert_eq!(m.ipv4(), Some([192, 168, 2, 10]));
    assert_eq!(m.interface_number, 1);
}

#[test]
fn cdp_cisco_1601() {
    let Some(fr) = capture(&format!("{PS}/zeek/cdp-v1.pcap")) else {
        return;
    };
    // LLC/SNAP: DSAP AA, SSAP AA, UI, OUI 00000c, PID 0x2000.
    let llc = &fr[0].l2_payload;
    assert_eq!(&llc[..8], &[0xaa, 0xaa, 0x03, 0x00, 0x00, 0x0c, 0x20, 0x00]);
    let c = cdp::parse(&llc[8..]).unwrap();
    assert_eq!(c.version, 1);
    assert_eq!(c.ttl, 180);
    assert_eq!(c.device_id, Some(&b"R1"[..]));
    assert_eq!(c.port_id, Some(&b"Ethernet0"[..]));
    assert_eq!(c.platform, Some(&b"cisco 1601"[..]));
    assert_eq!(c.capabilities, Some(cdp::CAP_ROUTER));
    assert!(
        c.software_version
            .unwrap()
            .starts_with(b"Cisco Internetwork Operating System Software")
    );
    assert_eq!(c.addresses.len(), 1);
    assert_eq!(c.addresses[0].ipv4(), Some([192, 168, 10, 1]));
}

// ---- NTP ----

#[test]
fn ntp_client_server() {
    let Some(fr) = capture(&format!("{PS}/zeek/ntp.pcap")) else {
        return;
    };
    let c = ntp::parse(payload(&fr, 1)).unwrap();
    assert_eq!(
        (c.version, c.mode, c.stratum, c.poll),
        (4, ntp::MODE_CLIENT, 0, 8)
    );
    let s = ntp::parse(payload(&fr, 2)).unwrap();
    assert_eq!((s.version, s.mode, s.stratum), (4, ntp::MODE_SERVER, 1));
    assert_eq!(&s.reference_id, b"GPSs");
    // 2016-10-15 12:47:36 UTC in NTP seconds.
    assert_eq!(s.transmit_timestamp >> 32, 3_685_524_456);
    let sv = capture(&format!("{SV}/ntp-keywords/input.pcap")).unwrap();
    let parsed: Vec<_> = sv
        .iter()
        .filter(|f| f.src_port == 123 || f.dst_port == 123)
        .map(|f| ntp::parse(&f.payload).unwrap())
        .collect();
    assert_eq!(parsed.len(), 4);
    assert_eq!(parsed.iter().filter(|n| n.version == 3).count(), 2);
    assert_eq!(parsed.iter().filter(|n| n.version == 4).count(), 2);
    assert_eq!(parsed.iter().filter(|n| n.mode == 3).count(), 2);
    assert_eq!(parsed.iter().filter(|n| n.stratum == 2).count(), 2);
}

// ---- banners ----

#[test]
fn telnet_openbsd_login() {
    let Some(fr) = capture(&format!("{PS}/ndpi/telnet.pcap")) else {
        return;
    };
    let server: Vec<u8> = fr
        .iter()
        .take(36)
        .filter(|f| f.ip_proto == 6 && f.src_port == 23)
        .flat_map(|f| f.payload.iter().copied())
        .collect();
    let t = banner::telnet_text(&server);
    assert!(
        t.text.contains("OpenBSD/i386 (oof) (ttyp2)"),
        "{:?}",
        t.text
    );
    assert!(t.text.ends_with("login: Password:"), "{:?}", t.text);
    assert_eq!(
        t.negotiations.first(),
        Some(&banner::Negotiation {
            command: banner::DO,
            option: 0x25
        })
    );
    assert!(t.negotiations.contains(&banner::Negotiation {
        command: banner::WILL,
        option: 3
    }));
    assert!(t.negotiations.contains(&banner::Negotiation {
        command: banner::SB,
        option: 0x22
    }));
}

#[test]
fn ssh_banners() {
    let Some(fr) = capture(&format!("{SV}/ssh-banner-only/input.pcap")) else {
        return;
    };
    let banners: Vec<_> = fr
        .iter()
        .filter_map(|f| banner::ssh_banner(&f.payload).map(str::to_owned))
        .collect();
    assert!(
        banners.iter().any(|b| b == "SSH-2.0-OpenSSH_7.4"),
        "{banners:?}"
    );
    assert!(
        banners
            .iter()
            .any(|b| b == "SSH-2.0-OpenSSH_for_Windows_7.7"),
        "{banners:?}"
    );
}
