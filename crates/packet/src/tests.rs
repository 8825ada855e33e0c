use proptest::prelude::*;

use super::*;

const A: Mac = [0x00, 0x17, 0x88, 0x01, 0x02, 0x03];
const B: Mac = [0xb0, 0xc5, 0x54, 0x0a, 0x0b, 0x0c];

fn eth(dst: Mac, src: Mac, vlans: &[u16], et: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    for (i, v) in vlans.iter().enumerate() {
        f.extend_from_slice(&(if i == 0 { 0x88a8u16 } else { 0x8100 }).to_be_bytes());
        f.extend_from_slice(&v.to_be_bytes());
    }
    if vlans.len() == 1 {
        f[12..14].copy_from_slice(&0x8100u16.to_be_bytes());
    }
    f.extend_from_slice(&et.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, id: u16, flags_off: u16, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0];
    let total = (20 + payload.len()) as u16;
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[4..6].copy_from_slice(&id.to_be_bytes());
    h[6..8].copy_from_slice(&flags_off.to_be_bytes());
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h.extend_from_slice(payload);
    h
}

fn tcp(sp: u16, dp: u16, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&sp.to_be_bytes());
    t.extend_from_slice(&dp.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    t.extend_from_slice(&[0x50, flags, 0x72, 0x10, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    t
}

fn udp(sp: u16, dp: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&sp.to_be_bytes());
    u.extend_from_slice(&dp.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

#[test]
fn ethernet_ipv4_tcp() {
    let f = eth(
        B,
        A,
        &[],
        0x0800,
        &ipv4(
            [192, 168, 1, 10],
            [8, 8, 8, 8],
            6,
            1,
            0x4000,
            &tcp(40000, 443, 0x0808_0808, tcpflags::SYN, b""),
        ),
    );
    let d = decode(link::ETHERNET, &f);
    assert_eq!(d.src_mac, Some(A));
    assert_eq!(d.dst_mac, Some(B));
    let Network::Ipv4(ip) = d.network else {
        panic!("not ipv4: {:?}", d.network)
    };
    assert_eq!(ip.src, [192, 168, 1, 10]);
    assert!(ip.dont_fragment);
    let Transport::Tcp(t) = d.transport else {
        panic!()
    };
    assert_eq!((t.src_port, t.dst_port, t.seq), (40000, 443, 0x0808_0808));
    assert_eq!(t.flags, tcpflags::SYN);
    assert!(d.anomalies.is_empty(), "{:?}", d.anomalies.names());
}

#[test]
fn ethernet_padding_is_ignored() {
    let mut f = eth(
        B,
        A,
        &[],
        0x0800,
        &ipv4([10, 0, 0, 1], [10, 0, 0, 2], 17, 1, 0, &udp(1, 2, b"hi")),
    );
    f.extend_from_slice(&[0u8; 16]); // Ethernet minimum-size padding
    let d = decode(link::ETHERNET, &f);
    assert_eq!(d.payload, b"hi");
    assert!(d.anomalies.is_empty());
}

#[test]
fn vlan_and_qinq() {
    let inner = ipv4(
        [10, 0, 0, 1],
        [10, 0, 0, 2],
        17,
        1,
        0,
        &udp(5353, 5353, b"x"),
    );
    let f = eth(B, A, &[100], 0x0800, &inner);
    let d = decode(link::ETHERNET, &f);
    assert_eq!(d.vlan, [100, 0]);
    assert_eq!(d.ports(), Some((5353, 5353)));
    let f = eth(B, A, &[7, 42], 0x0800, &inner);
    let d = decode(link::ETHERNET, &f);
    assert_eq!(d.vlan, [7, 42]);
    assert_eq!(d.payload, b"x");
}

#[test]
fn arp_request() {
    let mut a = vec![0, 1, 8, 0, 6, 4, 0, 1];
    a.extend_from_slice(&A);
    a.extend_from_slice(&[192, 168, 1, 5]);
    a.extend_from_slice(&[0; 6]);
    a.extend_from_slice(&[192, 168, 1, 1]);
    let f = eth([0xff; 6], A, &[], 0x0806, &a);
    let d = decode(link::ETHERNET, &f);
    let Network::Arp(arp) = d.network else {
        panic!()
    };
    assert_eq!(arp.op, 1);
    assert_eq!(arp.sender_ip, [192, 168, 1, 5]);
    assert_eq!(arp.target_ip, [192, 168, 1, 1]);
}

fn ipv6(next: u8, ext: &[u8], payload: &[u8], src: [u8; 16]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&((ext.len() + payload.len()) as u16).to_be_bytes());
    h.push(next);
    h.push(255);
    h.extend_from_slice(&src);
    let mut dst = [0u8; 16];
    dst[0] = 0xff;
    dst[1] = 0x02;
    dst[15] = 1;
    h.extend_from_slice(&dst);
    h.extend_from_slice(ext);
    h.extend_from_slice(payload);
    h
}

#[test]
fn ipv6_extension_headers_and_ndp() {
    // hop-by-hop (8 bytes) -> destination options (8 bytes) -> ICMPv6 neighbour advertisement
    let mut ext = vec![60, 0, 0, 0, 0, 0, 0, 0];
    ext.extend_from_slice(&[58, 0, 1, 4, 0, 0, 0, 0]);
    let mut na = vec![136, 0, 0, 0, 0x60, 0, 0, 0];
    let mut target = [0u8; 16];
    target[0] = 0xfe;
    target[1] = 0x80;
    target[15] = 9;
    na.extend_from_slice(&target);
    na.extend_from_slice(&[2, 1]);
    na.extend_from_slice(&A);
    let mut src = [0u8; 16];
    src[0] = 0xfe;
    src[1] = 0x80;
    let f = eth(B, A, &[], 0x86dd, &ipv6(0, &ext, &na, src));
    let d = decode(link::ETHERNET, &f);
    let Network::Ipv6(ip) = d.network else {
        panic!()
    };
    assert_eq!(ip.ext_headers, 2);
    assert_eq!(ip.proto, 58);
    let Transport::Icmpv6 { icmp_type, nd, .. } = d.transport else {
        panic!("{:?}", d.transport)
    };
    assert_eq!(icmp_type, 136);
    assert_eq!(nd.link_addr, Some(A));
    assert_eq!(nd.target, Some(target));
}

#[test]
fn ipv6_udp_over_raw_and_sll2_and_null() {
    let p = ipv6(17, &[], &udp(5353, 5353, b"mdns"), [0xfe; 16]);
    assert_eq!(decode(link::RAW, &p).payload, b"mdns");
    assert_eq!(decode(link::IPV6, &p).payload, b"mdns");
    let mut null = 30u32.to_le_bytes().to_vec();
    null.extend_from_slice(&p);
    assert_eq!(decode(link::NULL, &null).payload, b"mdns");
    let mut lo = 30u32.to_be_bytes().to_vec();
    lo.extend_from_slice(&p);
    assert_eq!(decode(link::LOOP, &lo).payload, b"mdns");
    // SLL2: protocol, reserved, ifindex, arphrd, pkttype, addrlen, addr[8]
    let mut sll2 = vec![0x86, 0xdd, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6];
    sll2.extend_from_slice(&A);
    sll2.extend_from_slice(&[0, 0]);
    sll2.extend_from_slice(&p);
    let d = decode(link::LINUX_SLL2, &sll2);
    assert_eq!(d.src_mac, Some(A));
    assert_eq!(d.payload, b"mdns");
    // SLL: pkttype, arphrd, addrlen, addr[8], protocol
    let mut sll = vec![0, 0, 0, 1, 0, 6];
    sll.extend_from_slice(&A);
    sll.extend_from_slice(&[0, 0, 0x86, 0xdd]);
    sll.extend_from_slice(&p);
    let d = decode(link::LINUX_SLL, &sll);
    assert_eq!(d.src_mac, Some(A));
    assert_eq!(d.ports(), Some((5353, 5353)));
}

#[test]
fn truncation_sets_flags_not_errors() {
    let f = eth(
        B,
        A,
        &[],
        0x0800,
        &ipv4(
            [1, 1, 1, 1],
            [2, 2, 2, 2],
            6,
            1,
            0,
            &tcp(1, 2, 3, 0x18, b"payload"),
        ),
    );
    for cut in 0..f.len() {
        let d = decode(link::ETHERNET, &f[..cut]);
        if cut < 14 {
            assert!(d.anomalies.has(Anomaly::TRUNCATED_L2));
        } else if cut < 34 {
            assert!(d.anomalies.has(Anomaly::TRUNCATED_L3), "cut {cut}");
        }
    }
}

#[test]
fn ipv4_fragments_reassemble() {
    let body = udp(1234, 53, &[7u8; 100]);
    let (a, b) = body.split_at(48);
    let f1 = ipv4([10, 0, 0, 1], [10, 0, 0, 2], 17, 99, 0x2000, a);
    let f2 = ipv4([10, 0, 0, 1], [10, 0, 0, 2], 17, 99, 48 / 8, b);
    let mut r = Reassembler::new(16, 1 << 20);
    // Out of order: the last fragment first.
    for (i, f) in [f2, f1].iter().enumerate() {
        let d = decode(link::RAW, f);
        assert_eq!(d.transport, Transport::Fragment);
        let Network::Ipv4(ip) = d.network else {
            panic!()
        };
        let out = r.push(i as i64, &ip, d.l3_payload);
        if i == 0 {
            assert!(out.is_none());
        } else {
            let whole = out.expect("complete");
            assert_eq!(whole, body);
            let mut d2 = d;
            decode_transport(17, &whole, &mut d2);
            assert_eq!(d2.ports(), Some((1234, 53)));
            assert_eq!(d2.payload.len(), 100);
        }
    }
    assert_eq!(r.in_flight(), 0);
    assert_eq!(r.stats.reassembled, 1);
}

#[test]
fn reassembly_table_is_bounded() {
    let mut r = Reassembler::new(8, 1 << 20);
    for id in 0..1000u16 {
        let f = ipv4([10, 0, 0, 1], [10, 0, 0, 2], 17, id, 0x2000, &[0u8; 64]);
        let d = decode(link::RAW, &f);
        let Network::Ipv4(ip) = d.network else {
            panic!()
        };
        r.push(id as i64, &ip, d.l3_payload);
        assert!(r.in_flight() <= 8);
    }
    assert_eq!(r.stats.evicted, 992);
    // Packet-time timeout drops what is left.
    r.expire(1_000_000_000_000);
    assert_eq!(r.in_flight(), 0);
}

#[test]
fn shard_hash_is_symmetric() {
    let ab = eth(
        B,
        A,
        &[],
        0x0800,
        &ipv4([1, 2, 3, 4], [5, 6, 7, 8], 6, 0, 0, &tcp(1, 2, 0, 2, b"")),
    );
    let ba = eth(
        A,
        B,
        &[],
        0x0800,
        &ipv4(
            [5, 6, 7, 8],
            [1, 2, 3, 4],
            6,
            0,
            0,
            &tcp(2, 1, 0, 0x12, b""),
        ),
    );
    assert_eq!(
        shard_hash(&decode(link::ETHERNET, &ab)),
        shard_hash(&decode(link::ETHERNET, &ba))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn never_panics_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        fuzzing::decode_all(&data);
    }

    #[test]
    fn never_panics_on_mutated_frames(i in 0usize..80, v in any::<u8>(), cut in 0usize..90) {
        let mut f = eth(B, A, &[5], 0x0800, &ipv4([1, 1, 1, 1], [2, 2, 2, 2], 6, 1, 0, &tcp(1, 2, 3, 0x18, b"payload")));
        if let Some(x) = f.get_mut(i) { *x = v; }
        f.truncate(cut);
        fuzzing::decode_all(&f);
        let _ = decode(link::ETHERNET, &f);
    }
}
