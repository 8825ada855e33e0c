use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;

use crate::eve::{EveEvent, parse_line};
use crate::netflow::{Decoder, DecoderConfig};
use crate::record::FlowRecord;
use crate::zeek::parse_conn_log;

const EXP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

fn collect(
    d: &mut Decoder,
    dg: &[u8],
) -> (Result<crate::Datagram, crate::DecodeError>, Vec<FlowRecord>) {
    let mut out = Vec::new();
    let r = d.decode(EXP, dg, &mut |f| out.push(*f));
    (r, out)
}

/// A tiny big-endian writer for building test datagrams.
#[derive(Default)]
struct W(Vec<u8>);

impl W {
    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.0.extend_from_slice(v);
        self
    }
}

/// Wraps set bodies into a set with the right length field.
fn set(id: u16, body: &[u8]) -> Vec<u8> {
    let mut w = W::default();
    w.u16(id).u16((body.len() + 4) as u16).bytes(body);
    w.0
}

fn ipfix(seq: u32, odid: u32, export_s: u32, sets: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = sets.concat();
    let mut w = W::default();
    w.u16(10)
        .u16((16 + body.len()) as u16)
        .u32(export_s)
        .u32(seq)
        .u32(odid)
        .bytes(&body);
    w.0
}

fn v9(seq: u32, source_id: u32, uptime_ms: u32, secs: u32, sets: &[Vec<u8>]) -> Vec<u8> {
    let mut w = W::default();
    w.u16(9)
        .u16(sets.len() as u16)
        .u32(uptime_ms)
        .u32(secs)
        .u32(seq)
        .u32(source_id)
        .bytes(&sets.concat());
    w.0
}

#[allow(clippy::too_many_arguments)]
fn v5_record(
    w: &mut W,
    src: [u8; 4],
    dst: [u8; 4],
    pkts: u32,
    bytes: u32,
    first: u32,
    last: u32,
    sport: u16,
    dport: u16,
    flags: u8,
    proto: u8,
) {
    w.bytes(&src)
        .bytes(&dst)
        .u32(0)
        .u16(1)
        .u16(2)
        .u32(pkts)
        .u32(bytes)
        .u32(first)
        .u32(last)
        .u16(sport)
        .u16(dport)
        .u8(0)
        .u8(flags)
        .u8(proto)
        .u8(0)
        .u16(0)
        .u16(0)
        .u8(24)
        .u8(24)
        .u16(0);
}

#[test]
fn netflow_v5_records_and_times() {
    let mut w = W::default();
    // uptime 100000 ms at export 1_700_000_000.5 s
    w.u16(5)
        .u16(2)
        .u32(100_000)
        .u32(1_700_000_000)
        .u32(500_000_000)
        .u32(77)
        .u8(1)
        .u8(2)
        .u16(0);
    v5_record(
        &mut w,
        [10, 0, 0, 1],
        [8, 8, 8, 8],
        3,
        180,
        90_000,
        95_000,
        40000,
        53,
        0,
        17,
    );
    v5_record(
        &mut w,
        [10, 0, 0, 2],
        [1, 1, 1, 1],
        10,
        1000,
        99_000,
        100_000,
        1234,
        443,
        0x1b,
        6,
    );
    let mut d = Decoder::default();
    let (r, flows) = collect(&mut d, &w.0);
    let r = r.unwrap();
    assert_eq!(
        (r.version, r.flows, r.sequence, r.domain),
        (5, 2, 77, 0x0102)
    );
    assert_eq!(flows[0].src, IpAddr::from([10, 0, 0, 1]));
    assert_eq!(flows[0].dst_port, 53);
    assert_eq!(flows[0].proto, 17);
    assert_eq!(flows[0].bytes, 180);
    assert_eq!(flows[0].start_ns, 1_699_999_990_500_000_000);
    assert_eq!(flows[0].end_ns, 1_699_999_995_500_000_000);
    assert_eq!(flows[1].tcp_flags, 0x1b);
    assert_eq!((flows[1].input_if, flows[1].output_if), (1, 2));
    // Truncated: count says 2 but one record is missing.
    let (r, _) = collect(&mut d, &w.0[..24 + 48]);
    let e = r.unwrap_err();
    assert_eq!(e.offset, 72);
    assert!(e.message.contains("fewer than"), "{e}");
}

fn v9_template(id: u16) -> Vec<u8> {
    let mut w = W::default();
    w.u16(id).u16(8);
    for (t, l) in [
        (8, 4),
        (12, 4),
        (7, 2),
        (11, 2),
        (4, 1),
        (2, 4),
        (1, 4),
        (22, 4),
    ] {
        w.u16(t).u16(l);
    }
    // flowEnd (21) last
    let mut v = w.0;
    v[2..4].copy_from_slice(&9u16.to_be_bytes());
    v.extend_from_slice(&21u16.to_be_bytes());
    v.extend_from_slice(&4u16.to_be_bytes());
    v
}

fn v9_data(n: u8) -> Vec<u8> {
    let mut w = W::default();
    for i in 0..n {
        w.bytes(&[10, 0, 0, i])
            .bytes(&[192, 168, 1, 1])
            .u16(1000 + u16::from(i))
            .u16(80)
            .u8(6)
            .u32(5)
            .u32(500)
            .u32(9_000)
            .u32(9_500);
    }
    // 3 bytes of padding
    w.bytes(&[0, 0, 0]);
    w.0
}

#[test]
fn netflow_v9_templates_data_and_missing_templates() {
    let mut d = Decoder::default();
    // Data before its template: counted, not fatal.
    let (r, flows) = collect(
        &mut d,
        &v9(1, 7, 10_000, 1_600_000_000, &[set(300, &v9_data(2))]),
    );
    assert_eq!(r.unwrap().flows, 0);
    assert!(flows.is_empty());
    assert_eq!(d.stats.missing_template_sets, 1);
    let dg = v9(
        2,
        7,
        10_000,
        1_600_000_000,
        &[set(0, &v9_template(300)), set(300, &v9_data(3))],
    );
    let (r, flows) = collect(&mut d, &dg);
    assert_eq!(r.unwrap().flows, 3);
    assert_eq!(flows.len(), 3);
    assert_eq!(flows[2].src, IpAddr::from([10, 0, 0, 2]));
    assert_eq!(flows[2].src_port, 1002);
    assert_eq!((flows[2].packets, flows[2].bytes), (5, 500));
    // uptime 10 s at export 1_600_000_000 s: flow start at uptime 9 s -> export - 1 s.
    assert_eq!(flows[0].start_ns, 1_599_999_999_000_000_000);
    assert_eq!(flows[0].end_ns, 1_599_999_999_500_000_000);
    // Templates are per source id: another source id does not see template 300.
    let (_, flows) = collect(
        &mut d,
        &v9(3, 8, 10_000, 1_600_000_000, &[set(300, &v9_data(1))]),
    );
    assert!(flows.is_empty());
    assert_eq!(d.stats.missing_template_sets, 2);
}

#[test]
fn netflow_v9_options_template_and_bad_template() {
    let mut d = Decoder::default();
    // Options template 400: scope System (1) len 4; option SAMPLING_INTERVAL (34) len 4.
    let mut t = W::default();
    t.u16(400).u16(4).u16(4).u16(1).u16(4).u16(34).u16(4);
    let mut data = W::default();
    data.u32(0).u32(100);
    let dg = v9(
        1,
        9,
        1000,
        1_600_000_000,
        &[set(1, &t.0), set(400, &data.0)],
    );
    let (r, flows) = collect(&mut d, &dg);
    assert_eq!(r.unwrap().flows, 0);
    assert!(flows.is_empty());
    assert_eq!(d.stats.options_records, 1);
    assert_eq!(d.sampling(EXP, 9, 9), Some(100));
    // Template id below 256.
    let mut bad = W::default();
    bad.u16(5).u16(1).u16(8).u16(4);
    let (r, _) = collect(&mut d, &v9(2, 9, 1000, 1, &[set(0, &bad.0)]));
    let e = r.unwrap_err();
    assert!(e.message.contains("below 256"), "{e}");
    assert_eq!(e.offset, 24);
    // A set length running past the datagram.
    let mut dg = v9(3, 9, 1000, 1, &[set(0, &v9_template(301))]);
    dg[22] = 0xff;
    let (r, _) = collect(&mut d, &dg);
    assert!(r.unwrap_err().message.contains("runs outside"));
}

/// IPFIX template 256: src/dst v4, ports, proto, an enterprise field (PEN 9, 6 bytes),
/// a variable-length field (IE 82 interfaceName), reverse octets (PEN 29305, IE 1),
/// octetDeltaCount (8), packetDeltaCount (8), flowStart/EndMilliseconds.
fn ipfix_template() -> Vec<u8> {
    let mut w = W::default();
    w.u16(256).u16(11);
    w.u16(8)
        .u16(4)
        .u16(12)
        .u16(4)
        .u16(7)
        .u16(2)
        .u16(11)
        .u16(2)
        .u16(4)
        .u16(1);
    w.u16(0x8000 | 123).u16(6).u32(9);
    w.u16(82).u16(0xffff);
    w.u16(0x8000 | 1).u16(8).u32(29305);
    w.u16(1).u16(8).u16(2).u16(8);
    w.u16(152).u16(8);
    w.0
}

fn ipfix_record(w: &mut W, i: u8, name: &[u8]) {
    w.bytes(&[172, 16, 0, i])
        .bytes(&[8, 8, 4, 4])
        .u16(5000)
        .u16(53)
        .u8(17);
    w.bytes(&[0xde, 0xad, 0xbe, 0xef, 0, 0]);
    if name.len() < 255 {
        w.u8(name.len() as u8);
    } else {
        w.u8(255).u16(name.len() as u16);
    }
    w.bytes(name)
        .u64(4321)
        .u64(1234)
        .u64(7)
        .u64(1_700_000_000_250);
}

#[test]
fn ipfix_varlen_enterprise_and_reverse_fields() {
    let mut d = Decoder::default();
    let mut data = W::default();
    ipfix_record(&mut data, 1, b"eth0");
    ipfix_record(&mut data, 2, &[b'x'; 300]);
    let dg = ipfix(
        5,
        42,
        1_700_000_001,
        &[set(2, &ipfix_template()), set(256, &data.0)],
    );
    let (r, flows) = collect(&mut d, &dg);
    let r = r.unwrap();
    assert_eq!((r.version, r.flows, r.sequence, r.domain), (10, 2, 5, 42));
    assert_eq!(flows[1].src, IpAddr::from([172, 16, 0, 2]));
    assert_eq!(
        (flows[0].bytes, flows[0].packets, flows[0].rev_bytes),
        (1234, 7, 4321)
    );
    assert_eq!(flows[0].start_ns, 1_700_000_000_250_000_000);
    // No end time given: end = start.
    assert_eq!(flows[0].end_ns, flows[0].start_ns);
    // Truncating inside the second record's long varlen value is an error at that record.
    let cut = dg.len() - 100;
    let mut short = dg[..cut].to_vec();
    short[2..4].copy_from_slice(&(cut as u16).to_be_bytes());
    let set_len = (cut - 16 - (ipfix_template().len() + 4)) as u16;
    let so = 16 + ipfix_template().len() + 4;
    short[so + 2..so + 4].copy_from_slice(&set_len.to_be_bytes());
    let mut d2 = Decoder::default();
    let (r, flows) = collect(&mut d2, &short);
    let e = r.unwrap_err();
    assert!(e.message.contains("truncated"), "{e}");
    assert_eq!(flows.len(), 1, "the first record is kept");
}

#[test]
fn ipfix_options_system_init_time_and_withdrawal() {
    let mut d = Decoder::default();
    // Options template 300: scope observationDomainId (149, 4), systemInitTimeMilliseconds (160, 8).
    let mut ot = W::default();
    ot.u16(300).u16(2).u16(1).u16(149).u16(4).u16(160).u16(8);
    let mut od = W::default();
    od.u32(1).u64(1_600_000_000_000);
    // Flow template 301 with sysuptime start/end (22, 21).
    let mut ft = W::default();
    ft.u16(301)
        .u16(4)
        .u16(8)
        .u16(4)
        .u16(12)
        .u16(4)
        .u16(22)
        .u16(4)
        .u16(21)
        .u16(4);
    let mut fd = W::default();
    fd.bytes(&[10, 1, 1, 1])
        .bytes(&[10, 1, 1, 2])
        .u32(2_000)
        .u32(3_500);
    let dg = ipfix(
        1,
        1,
        1_600_000_100,
        &[
            set(3, &ot.0),
            set(300, &od.0),
            set(2, &ft.0),
            set(301, &fd.0),
        ],
    );
    let (r, flows) = collect(&mut d, &dg);
    assert_eq!(r.unwrap().flows, 1);
    assert_eq!(d.stats.options_records, 1);
    assert_eq!(flows[0].start_ns, 1_600_000_002_000_000_000);
    assert_eq!(flows[0].end_ns, 1_600_000_003_500_000_000);
    // Withdrawal of 301 (field count 0), then its data is "missing template".
    let mut wd = W::default();
    wd.u16(301).u16(0);
    let (r, flows) = collect(
        &mut d,
        &ipfix(2, 1, 1_600_000_101, &[set(2, &wd.0), set(301, &fd.0)]),
    );
    assert_eq!(r.unwrap().flows, 0);
    assert!(flows.is_empty());
    assert_eq!(d.stats.templates_withdrawn, 1);
}

#[test]
fn template_flood_is_bounded() {
    let cfg = DecoderConfig {
        max_templates: 64,
        max_templates_per_domain: 16,
        ..DecoderConfig::default()
    };
    let mut d = Decoder::new(cfg);
    for domain in 0..10u32 {
        for id in 256..1256u16 {
            let mut t = W::default();
            t.u16(id).u16(1).u16(8).u16(4);
            let _ = collect(&mut d, &ipfix(0, domain, 0, &[set(2, &t.0)]));
            assert!(d.templates() <= 64);
        }
    }
    assert_eq!(d.templates(), 64);
    assert_eq!(d.stats.templates_added, 10_000);
    assert_eq!(d.stats.templates_evicted, 10_000 - 64);
    // The most recent templates survive.
    let mut data = W::default();
    data.bytes(&[1, 2, 3, 4]);
    let (r, _) = collect(&mut d, &ipfix(0, 9, 0, &[set(1255, &data.0)]));
    assert_eq!(r.unwrap().flows, 1);
}

#[test]
fn hostile_templates_are_refused() {
    let mut d = Decoder::default();
    // Zero-length fields only: would describe empty records.
    let mut t = W::default();
    t.u16(256).u16(1).u16(8).u16(0);
    let (r, _) = collect(&mut d, &ipfix(0, 0, 0, &[set(2, &t.0)]));
    assert!(r.unwrap_err().message.contains("empty records"));
    // Too many fields.
    let mut t = W::default();
    t.u16(257).u16(1000);
    let (r, _) = collect(&mut d, &ipfix(0, 0, 0, &[set(2, &t.0)]));
    assert!(r.unwrap_err().message.contains("limit"));
    // Field list longer than the set.
    let mut t = W::default();
    t.u16(258).u16(5).u16(8).u16(4);
    let (r, _) = collect(&mut d, &ipfix(0, 0, 0, &[set(2, &t.0)]));
    assert!(r.unwrap_err().message.contains("truncated"));
    // IPFIX length field larger than the datagram.
    let mut dg = ipfix(0, 0, 0, &[]);
    dg[3] = 200;
    let (r, _) = collect(&mut d, &dg);
    assert_eq!(r.unwrap_err().offset, 2);
    assert_eq!(d.templates(), 0);
    assert_eq!(d.stats.malformed, 4);
    let (r, _) = collect(&mut d, &[0, 7, 1, 2]);
    assert!(r.unwrap_err().message.contains("version 7"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decoder_never_panics(dgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..400), 1..6)) {
        let mut d = Decoder::new(DecoderConfig { max_templates: 4, max_templates_per_domain: 2, max_fields: 32, max_domains: 2 });
        for mut dg in dgs {
            // Steer the version field so all three decoders get exercised.
            if dg.len() >= 2 {
                let v = [5u16, 9, 10][dg[1] as usize % 3];
                dg[0..2].copy_from_slice(&v.to_be_bytes());
            }
            let _ = d.decode(EXP, &dg, &mut |_| {});
            prop_assert!(d.templates() <= 4);
        }
    }

    #[test]
    fn ipfix_round_trip(recs in proptest::collection::vec((any::<[u8; 4]>(), any::<[u8; 4]>(), any::<u16>(), any::<u16>(), any::<u8>(), any::<u64>(), any::<u32>(), proptest::collection::vec(any::<u8>(), 0..300)), 1..8)) {
        let mut data = W::default();
        for (s, dst, sp, dp, proto, bytes, pkts, name) in &recs {
            data.bytes(s).bytes(dst).u16(*sp).u16(*dp).u8(*proto).u64(*bytes).u32(*pkts);
            if name.len() < 255 { data.u8(name.len() as u8); } else { data.u8(255).u16(name.len() as u16); }
            data.bytes(name);
        }
        let mut t = W::default();
        t.u16(999).u16(8).u16(8).u16(4).u16(12).u16(4).u16(7).u16(2).u16(11).u16(2).u16(4).u16(1).u16(1).u16(8).u16(2).u16(4).u16(0x8000 | 82).u16(0xffff).u32(6876);
        let mut d = Decoder::default();
        let (r, flows) = collect(&mut d, &ipfix(1, 1, 1, &[set(2, &t.0), set(999, &data.0)]));
        prop_assert_eq!(r.unwrap().flows, recs.len());
        for (f, (s, dst, sp, dp, proto, bytes, pkts, _)) in flows.iter().zip(&recs) {
            prop_assert_eq!(f.src, IpAddr::from(*s));
            prop_assert_eq!(f.dst, IpAddr::from(*dst));
            prop_assert_eq!((f.src_port, f.dst_port, f.proto), (*sp, *dp, *proto));
            prop_assert_eq!((f.bytes, f.packets), (*bytes, u64::from(*pkts)));
        }
    }

    #[test]
    fn text_parsers_never_panic(s in "\\PC{0,400}", lines in proptest::collection::vec("[-a-z0-9.:\t{}\",# ]{0,80}", 0..12)) {
        let _ = parse_conn_log(&s);
        let _ = crate::parse_eve(&s);
        let joined = format!("#fields\tts\tid.orig_h\tid.orig_p\n{}", lines.join("\n"));
        let _ = parse_conn_log(&joined);
        let _ = crate::parse_eve(&lines.join("\n"));
    }
}

const IOT23_TSV: &str = "#separator \\x09
#set_separator\t,
#empty_field\t(empty)
#unset_field\t-
#path\tconn
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents   label   detailed-label
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]   string   string
1545404132.353979\tCnkuiE1ejnVWSFRkzg\t192.168.1.195\t48986\t185.244.25.235\t6667\ttcp\t-\t3.107733\t0\t0\tS0\t-\t-\t0\tS\t3\t180\t0\t0\t-   Malicious   C&C
1537522822.965530\tCJAF5z3MDFg4XVDXB\t0.0.0.0\t68\t255.255.255.255\t67\tudp\tdhcp\t-\t-\t-\tS0\t-\t-\t0\tD\t2\t656\t0\t0\t-   benign   -
1545403848.981338\tCDrkrSobGYxHhYfth\t192.168.1.195\t41040\t185.244.25.235\t80\ttcp\thttp\t1.477656\t149\t128252\tSF\t-\t-\t2896\tShADadttcfF\t94\t5525\t96\t139044\t-\tBenign\t-
1545403848.981338\tbroken\t192.168.1.195
#close\t2019-03-15-14-50-54
";

#[test]
fn zeek_tsv_with_iot23_quirks() {
    let (conns, errors) = parse_conn_log(IOT23_TSV);
    assert_eq!(conns.len(), 3);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, 11);
    let c = &conns[0];
    assert_eq!(c.flow.src, "192.168.1.195".parse::<IpAddr>().unwrap());
    assert_eq!((c.flow.dst_port, c.flow.proto), (6667, 6));
    assert_eq!(c.flow.start_ns, 1_545_404_132_353_979_000);
    assert_eq!(c.flow.end_ns - c.flow.start_ns, 3_107_733_000);
    assert_eq!((c.flow.packets, c.flow.bytes), (3, 180));
    assert_eq!(c.flow.tcp_flags, 0x02);
    assert_eq!(c.label.as_deref(), Some("Malicious"));
    assert_eq!(c.detailed_label.as_deref(), Some("C&C"));
    assert_eq!(c.conn_state.as_deref(), Some("S0"));
    assert_eq!(conns[1].detailed_label, None);
    assert_eq!(conns[1].service.as_deref(), Some("dhcp"));
    // Tab-separated labels (the other IoT-23 layout) also read.
    assert_eq!(conns[2].label.as_deref(), Some("Benign"));
    assert_eq!(
        (conns[2].flow.rev_packets, conns[2].flow.rev_bytes),
        (96, 139_044)
    );
}

#[test]
fn zeek_json_lines() {
    let text = r#"{"ts":1545403816.962094,"uid":"CrDn63","id.orig_h":"192.168.1.195","id.orig_p":41040,"id.resp_h":"185.244.25.235","id.resp_p":80,"proto":"tcp","duration":3.139211,"orig_bytes":0,"resp_bytes":0,"conn_state":"S0","history":"S","orig_pkts":3,"orig_ip_bytes":180,"resp_pkts":0,"resp_ip_bytes":0,"orig_l2_addr":"b8:27:eb:00:11:22"}
{"ts":"2018-12-21T14:50:16.962094Z","id.orig_h":"fe80::1","id.orig_p":5353,"id.resp_h":"ff02::fb","id.resp_p":5353,"proto":"udp"}
{"ts":1, "id.orig_h":"nope"}
"#;
    let (conns, errors) = parse_conn_log(text);
    assert_eq!(conns.len(), 2);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, 3);
    assert_eq!(conns[0].flow.start_ns, 1_545_403_816_962_094_000);
    assert_eq!(
        conns[0].flow.end_ns,
        1_545_403_816_962_094_000 + 3_139_211_000
    );
    assert_eq!(
        conns[0].flow.src_mac,
        Some([0xb8, 0x27, 0xeb, 0, 0x11, 0x22])
    );
    assert_eq!(conns[1].flow.start_ns, 1_545_403_816_962_094_000);
    assert_eq!(conns[1].flow.proto, 17);
}

#[test]
fn zeek_csv_export() {
    // The IoT-23 CSV layout: `-` written as an empty cell; a quoted cell may hold commas.
    let text = "ts,uid,id.orig_h,id.orig_p,id.resp_h,id.resp_p,proto,service,duration,orig_bytes,resp_bytes,conn_state,local_orig,local_resp,missed_bytes,history,orig_pkts,orig_ip_bytes,resp_pkts,resp_ip_bytes,tunnel_parents,label,detailed-label
1547150790.793723,CGEJbl3R,192.168.1.199,59224,46.101.251.172,80,tcp,,3.081233,0,0,S0,,,0,S,3,180,0,0,,Malicious,C&C
1547157068.286878,C2,192.168.1.199,38897,86.136.151.56,80,udp,\"dns,http\",300.802367,1744830458,0,S0,,,0,D,1305034,1781371410,0,0,,Malicious,DDoS
1547150790.9,C3,192.168.1.199,1,10.0.0.1,2,tcp,,,,,S0,,,0,S,1,60,0,0,,Benign,
1547150790.9,C4,192.168.1.199,1,10.0.0.1
1547150790.9,C5,\"unterminated
";
    let (conns, errors) = parse_conn_log(text);
    assert_eq!(conns.len(), 3, "{errors:?}");
    assert_eq!(errors.len(), 2);
    assert_eq!((errors[0].line, errors[1].line), (5, 6));
    assert!(
        errors[1].message.contains("unterminated"),
        "{}",
        errors[1].message
    );
    let c = &conns[0];
    assert_eq!(c.flow.dst_port, 80);
    assert_eq!(c.flow.end_ns - c.flow.start_ns, 3_081_233_000);
    assert_eq!(
        (c.flow.packets, c.flow.bytes, c.flow.rev_packets),
        (3, 180, 0)
    );
    assert_eq!(c.detailed_label.as_deref(), Some("C&C"));
    assert_eq!(conns[1].service.as_deref(), Some("dns,http"));
    assert_eq!(conns[1].flow.packets, 1_305_034);
    assert_eq!(conns[2].detailed_label, None);
    assert_eq!(conns[2].flow.end_ns, conns[2].flow.start_ns);
}

#[test]
fn iot23_csv_exports_read_whole() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/datasets/iot23/flows_csv");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("skipping: {} is absent", dir.display());
        return;
    };
    let mut files = 0;
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().and_then(|x| x.to_str()) != Some("csv") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        let rows = text.lines().count() - 1;
        let (conns, errors) = parse_conn_log(&text);
        assert!(errors.is_empty(), "{}: {:?}", p.display(), errors.first());
        assert_eq!(conns.len(), rows, "{}", p.display());
        assert!(conns.iter().all(|c| c.label.is_some()));
        files += 1;
    }
    assert!(
        files >= 6,
        "expected the six IoT-23 CSV exports, found {files}"
    );
}

#[test]
fn eve_event_types() {
    let alert = r#"{"timestamp":"2018-12-21T15:50:16.962094+0000","flow_id":1234,"event_type":"alert","src_ip":"192.168.1.195","src_port":48986,"dest_ip":"185.244.25.235","dest_port":6667,"proto":"TCP","ether":{"src_mac":"b8:27:eb:00:11:22","dest_mac":"00:11:22:33:44:55"},"alert":{"action":"allowed","gid":1,"signature_id":2027758,"rev":2,"signature":"ET TROJAN IRC C2","category":"A Network Trojan was detected","severity":1}}"#;
    let r = parse_line(alert, 1).unwrap().unwrap();
    assert_eq!(r.flow_id, Some(1234));
    assert_eq!(r.src_mac, Some([0xb8, 0x27, 0xeb, 0, 0x11, 0x22]));
    match &r.event {
        EveEvent::Alert {
            signature_id,
            severity,
            signature,
            ..
        } => {
            assert_eq!((*signature_id, *severity), (2_027_758, 1));
            assert!(signature.contains("IRC"));
        }
        e => panic!("{e:?}"),
    }
    let flow = r#"{"timestamp":"2018-12-21T15:50:20.000000+0000","event_type":"flow","src_ip":"10.0.0.1","src_port":1,"dest_ip":"10.0.0.2","dest_port":2,"proto":"UDP","flow":{"pkts_toserver":3,"pkts_toclient":2,"bytes_toserver":300,"bytes_toclient":200,"start":"2018-12-21T15:50:10.500000+0000","end":"2018-12-21T15:50:12.000000+0000","state":"established","reason":"timeout"}}"#;
    match parse_line(flow, 2).unwrap().unwrap().event {
        EveEvent::Flow { flow, state, .. } => {
            assert_eq!(
                (flow.packets, flow.rev_packets, flow.bytes, flow.rev_bytes),
                (3, 2, 300, 200)
            );
            assert_eq!(flow.end_ns - flow.start_ns, 1_500_000_000);
            assert_eq!(state.as_deref(), Some("established"));
        }
        e => panic!("{e:?}"),
    }
    let dns = r#"{"timestamp":"2018-12-21T15:50:20Z","event_type":"dns","src_ip":"8.8.8.8","dest_ip":"10.0.0.1","proto":"UDP","dns":{"version":2,"type":"answer","rrname":"cnc.example","rrtype":"A","rcode":"NOERROR","answers":[{"rrname":"cnc.example","rrtype":"A","ttl":60,"rdata":"185.244.25.235"}]}}"#;
    match parse_line(dns, 3).unwrap().unwrap().event {
        EveEvent::Dns {
            query,
            answers,
            rrname,
            ..
        } => {
            assert!(!query);
            assert_eq!(rrname.as_deref(), Some("cnc.example"));
            assert_eq!(answers[0].rdata, "185.244.25.235");
        }
        e => panic!("{e:?}"),
    }
    let tls = r#"{"timestamp":"2018-12-21T15:50:20Z","event_type":"tls","src_ip":"10.0.0.1","dest_ip":"1.1.1.1","proto":"TCP","tls":{"sni":"example.com","version":"TLS 1.2","ja3":{"hash":"abc"}}}"#;
    assert!(
        matches!(parse_line(tls, 4).unwrap().unwrap().event, EveEvent::Tls { ref sni, ref ja3, .. } if sni.as_deref() == Some("example.com") && ja3.as_deref() == Some("abc"))
    );
    let http = r#"{"timestamp":"2018-12-21T15:50:20Z","event_type":"http","src_ip":"10.0.0.1","dest_ip":"1.1.1.1","proto":"TCP","http":{"hostname":"h","url":"/x","http_user_agent":"Hue/1.0","status":200,"http_method":"GET"}}"#;
    assert!(
        matches!(parse_line(http, 5).unwrap().unwrap().event, EveEvent::Http { status: Some(200), ref user_agent, .. } if user_agent.as_deref() == Some("Hue/1.0"))
    );
    let dhcp = r#"{"timestamp":"2018-12-21T15:50:20Z","event_type":"dhcp","src_ip":"0.0.0.0","dest_ip":"255.255.255.255","proto":"UDP","dhcp":{"type":"request","client_mac":"b8:27:eb:00:11:22","assigned_ip":"0.0.0.0","hostname":"cam1","dhcp_type":"discover","params":["subnet_mask","router"]}}"#;
    match parse_line(dhcp, 6).unwrap().unwrap().event {
        EveEvent::Dhcp {
            client_mac,
            assigned_ip,
            hostname,
            dhcp_type,
            params,
            ..
        } => {
            assert_eq!(client_mac, Some([0xb8, 0x27, 0xeb, 0, 0x11, 0x22]));
            assert_eq!(assigned_ip, None);
            assert_eq!(hostname.as_deref(), Some("cam1"));
            assert_eq!(dhcp_type.as_deref(), Some("discover"));
            assert_eq!(params.len(), 2);
        }
        e => panic!("{e:?}"),
    }
    let e = parse_line(r#"{"event_type":"alert"}"#, 9).unwrap_err();
    assert_eq!(e.line, 9);
    assert!(parse_line("[1,2]", 10).is_err());
    assert!(
        matches!(parse_line(r#"{"timestamp":"2018-12-21T15:50:20Z","event_type":"stats"}"#, 11).unwrap().unwrap().event, EveEvent::Other(ref t) if t == "stats")
    );
}

#[test]
fn zeek_history_flags() {
    use crate::zeek::{history_flags, history_rev_flags};
    assert_eq!(history_flags("S"), 0x02);
    assert_eq!(history_rev_flags("S"), 0);
    assert_eq!(history_flags("ShADadFf"), 0x02 | 0x10 | 0x08 | 0x01);
    assert_eq!(history_rev_flags("ShADadFf"), 0x12 | 0x18 | 0x01);
    assert_eq!(history_rev_flags("Sr"), 0x04);
}

#[test]
fn sequence_gaps_are_counted() {
    let mut d = Decoder::default();
    let mut data = W::default();
    data.bytes(&[1, 2, 3, 4]);
    let mut t = W::default();
    t.u16(256).u16(1).u16(8).u16(4);
    // IPFIX sequence counts data records: 0 (+1 record) -> 1 expected; 3 means 2 lost.
    collect(&mut d, &ipfix(0, 1, 0, &[set(2, &t.0), set(256, &data.0)]))
        .0
        .unwrap();
    collect(&mut d, &ipfix(1, 1, 0, &[set(256, &data.0)]))
        .0
        .unwrap();
    assert_eq!(d.stats.sequence_lost, 0);
    collect(&mut d, &ipfix(4, 1, 0, &[set(256, &data.0)]))
        .0
        .unwrap();
    assert_eq!(d.stats.sequence_lost, 2);
    // v9 counts export packets.
    collect(&mut d, &v9(10, 1, 0, 0, &[])).0.unwrap();
    collect(&mut d, &v9(12, 1, 0, 0, &[])).0.unwrap();
    assert_eq!(d.stats.sequence_lost, 3);
}

/// Found by cargo-fuzz (collect_netflow): a v9 options template header running past its
/// set made the set walker subtract with overflow.
#[test]
fn fuzz_regression_options_header_past_set() {
    crate::fuzzing::netflow(&[
        254, 0, 9, 0, 0, 0, 0, 0, 0, 0, 9, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 9, 2, 0, 0, 0, 0,
        0, 0, 0, 4,
    ]);
    let mut d = Decoder::default();
    let mut dg = v9(1, 1, 0, 0, &[]);
    // Options flowset of length 8: template 300, scope length 0, option length beyond the set.
    dg.extend_from_slice(&[0, 1, 0, 8, 1, 44, 0, 0, 0, 0, 0, 0]);
    let _ = collect(&mut d, &dg);
    assert_eq!(d.templates(), 0);
}
