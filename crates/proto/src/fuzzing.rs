//! Entry points for the cargo-fuzz targets in `fuzz/fuzz_targets/proto_*.rs`.
//! Each calls one parser (and the helpers that walk its result) and drops
//! the output; only panics, hangs and excessive allocation matter here.

pub fn dhcp(data: &[u8]) {
    if let Ok(d) = crate::dhcp::parse(data) {
        let _ = d.option_codes().count();
        if let Some(prl) = d.param_request_list {
            let _ = crate::dhcp::fingerprint_string(prl);
        }
    }
}

pub fn dns(data: &[u8]) {
    if let Ok(m) = crate::dns::parse(data) {
        for r in m.records() {
            if let crate::dns::RData::Txt(t) = &r.data {
                let _ = crate::dns::txt_pairs(t).count();
            }
        }
    }
}

pub fn ssdp(data: &[u8]) {
    if let Ok(s) = crate::ssdp::parse(data) {
        let _ = s.header("hue-bridgeid");
    }
}

pub fn http(data: &[u8]) {
    let _ = crate::http::looks_like_request(data);
    let _ = crate::http::parse_request(data);
    let _ = crate::http::parse_response(data);
}

pub fn tls(data: &[u8]) {
    if let Ok(ch) = crate::tls::parse_client_hello(data) {
        let _ = ch.ja3_hash();
        let _ = ch.ja4(crate::tls::Transport::Tcp);
    }
    if let Ok(sh) = crate::tls::parse_server_hello(data) {
        let _ = sh.ja3s_hash();
    }
    // certificate_subjects also reads each certificate's validity times.
    let _ = crate::tls::certificate_subjects(data);
    if let Some((&tag, rest)) = data.split_first() {
        let _ = crate::tls::der_time(tag, rest);
    }
}

pub fn ntp(data: &[u8]) {
    let _ = crate::ntp::parse(data);
}

pub fn mqtt(data: &[u8]) {
    let _ = crate::mqtt::parse_fixed_header(data);
    let _ = crate::mqtt::parse_connect(data);
}

pub fn coap(data: &[u8]) {
    if let Ok(c) = crate::coap::parse(data) {
        let _ = c.uri_path();
        let _ = c.content_format();
    }
}

pub fn lldp(data: &[u8]) {
    if let Ok(l) = crate::lldp::parse(data) {
        let _ = l.chassis_id.display(false);
    }
}

pub fn cdp(data: &[u8]) {
    let _ = crate::cdp::parse(data);
}

pub fn banner(data: &[u8]) {
    let _ = crate::banner::telnet_text(data);
    let _ = crate::banner::ftp_reply(data);
    let _ = crate::banner::ssh_banner(data);
}
