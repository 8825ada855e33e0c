//! Application-layer payload builders: DNS/mDNS, DHCP, NTP, TLS, MQTT, Kasa, X.509 (DER).

use crate::rng::Rng;

// ---------------------------------------------------------------- DNS / mDNS

pub(crate) const QTYPE_A: u16 = 1;
pub(crate) const QTYPE_PTR: u16 = 12;
pub(crate) const QTYPE_TXT: u16 = 16;
pub(crate) const QTYPE_AAAA: u16 = 28;
pub(crate) const QTYPE_SRV: u16 = 33;

pub(crate) fn dns_name(out: &mut Vec<u8>, name: &str) {
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() {
            continue;
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
}

fn dns_header(out: &mut Vec<u8>, id: u16, flags: u16, qd: u16, an: u16, ns: u16, ar: u16) {
    for v in [id, flags, qd, an, ns, ar] {
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// A recursive query (RD set) with one question.
pub(crate) fn dns_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    dns_header(&mut m, id, 0x0100, 1, 0, 0, 0);
    dns_name(&mut m, name);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m
}

/// A response with A records for the question, answer names compressed to the question (0xc00c).
pub(crate) fn dns_response_a(id: u16, name: &str, ips: &[[u8; 4]], ttl: u32) -> Vec<u8> {
    let mut m = Vec::with_capacity(64 + ips.len() * 16);
    dns_header(&mut m, id, 0x8180, 1, ips.len() as u16, 0, 0);
    dns_name(&mut m, name);
    m.extend_from_slice(&QTYPE_A.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    for ip in ips {
        m.extend_from_slice(&[0xc0, 0x0c]);
        m.extend_from_slice(&QTYPE_A.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        m.extend_from_slice(&ttl.to_be_bytes());
        m.extend_from_slice(&4u16.to_be_bytes());
        m.extend_from_slice(ip);
    }
    m
}

/// A response with no answers and the given rcode (3 = NXDOMAIN) for one question.
pub(crate) fn dns_response_empty(id: u16, name: &str, qtype: u16, rcode: u8) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    dns_header(&mut m, id, 0x8180 | u16::from(rcode & 0x0f), 1, 0, 0, 0);
    dns_name(&mut m, name);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m
}

/// A resource record for mDNS announcements.
pub(crate) enum Rr<'a> {
    Ptr(&'a str, &'a str),
    Srv(&'a str, u16, &'a str),
    Txt(&'a str, &'a [&'a str]),
    A(&'a str, [u8; 4]),
    Aaaa(&'a str, [u8; 16]),
}

fn rr(out: &mut Vec<u8>, r: &Rr<'_>) {
    let (name, ty, class, ttl, data) = match r {
        Rr::Ptr(n, target) => {
            let mut d = Vec::new();
            dns_name(&mut d, target);
            (*n, QTYPE_PTR, 0x0001u16, 4500u32, d)
        }
        Rr::Srv(n, port, target) => {
            let mut d = vec![0, 0, 0, 0];
            d.extend_from_slice(&port.to_be_bytes());
            dns_name(&mut d, target);
            (*n, QTYPE_SRV, 0x8001, 120, d)
        }
        Rr::Txt(n, entries) => {
            let mut d = Vec::new();
            for e in entries.iter() {
                let b = &e.as_bytes()[..e.len().min(255)];
                d.push(b.len() as u8);
                d.extend_from_slice(b);
            }
            if d.is_empty() {
                d.push(0);
            }
            (*n, QTYPE_TXT, 0x8001, 4500, d)
        }
        Rr::A(n, ip) => (*n, QTYPE_A, 0x8001, 120, ip.to_vec()),
        Rr::Aaaa(n, ip) => (*n, QTYPE_AAAA, 0x8001, 120, ip.to_vec()),
    };
    dns_name(out, name);
    out.extend_from_slice(&ty.to_be_bytes());
    out.extend_from_slice(&class.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    out.extend_from_slice(&data);
}

/// An unsolicited mDNS response (announcement): answers plus additional records.
pub(crate) fn mdns_response(answers: &[Rr<'_>], additional: &[Rr<'_>]) -> Vec<u8> {
    let mut m = Vec::with_capacity(512);
    dns_header(
        &mut m,
        0,
        0x8400,
        0,
        answers.len() as u16,
        0,
        additional.len() as u16,
    );
    for r in answers.iter().chain(additional) {
        rr(&mut m, r);
    }
    m
}

/// An mDNS query (id 0, no flags).
pub(crate) fn mdns_query(questions: &[(&str, u16)]) -> Vec<u8> {
    let mut m = Vec::with_capacity(128);
    dns_header(&mut m, 0, 0, questions.len() as u16, 0, 0, 0);
    for (n, t) in questions {
        dns_name(&mut m, n);
        m.extend_from_slice(&t.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
    }
    m
}

// ---------------------------------------------------------------- DHCP

pub(crate) const DHCPDISCOVER: u8 = 1;
pub(crate) const DHCPOFFER: u8 = 2;
pub(crate) const DHCPREQUEST: u8 = 3;
pub(crate) const DHCPACK: u8 = 5;

pub(crate) struct Dhcp {
    pub op: u8,
    pub xid: u32,
    pub secs: u16,
    pub broadcast: bool,
    pub ciaddr: [u8; 4],
    pub yiaddr: [u8; 4],
    pub siaddr: [u8; 4],
    pub chaddr: [u8; 6],
    pub options: Vec<(u8, Vec<u8>)>,
}

pub(crate) fn dhcp(m: &Dhcp) -> Vec<u8> {
    let mut b = Vec::with_capacity(548);
    b.push(m.op);
    b.push(1); // htype ethernet
    b.push(6);
    b.push(0); // hops
    b.extend_from_slice(&m.xid.to_be_bytes());
    b.extend_from_slice(&m.secs.to_be_bytes());
    b.extend_from_slice(&(if m.broadcast { 0x8000u16 } else { 0 }).to_be_bytes());
    b.extend_from_slice(&m.ciaddr);
    b.extend_from_slice(&m.yiaddr);
    b.extend_from_slice(&m.siaddr);
    b.extend_from_slice(&[0; 4]); // giaddr
    b.extend_from_slice(&m.chaddr);
    b.extend_from_slice(&[0; 10]);
    b.extend_from_slice(&[0; 64]); // sname
    b.extend_from_slice(&[0; 128]); // file
    b.extend_from_slice(&[0x63, 0x82, 0x53, 0x63]);
    for (code, val) in &m.options {
        b.push(*code);
        b.push(val.len() as u8);
        b.extend_from_slice(val);
    }
    b.push(255);
    if b.len() < 300 {
        b.resize(300, 0);
    }
    b
}

// ---------------------------------------------------------------- NTP

pub(crate) const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

fn ntp_ts(us: u64) -> [u8; 8] {
    let secs = us / 1_000_000 + NTP_UNIX_OFFSET;
    let frac = ((us % 1_000_000) << 32) / 1_000_000;
    let mut b = [0u8; 8];
    b[0..4].copy_from_slice(&(secs as u32).to_be_bytes());
    b[4..8].copy_from_slice(&(frac as u32).to_be_bytes());
    b
}

/// NTPv4 client request; only the transmit timestamp is set (SNTP style).
pub(crate) fn ntp_request(t_us: u64) -> Vec<u8> {
    let mut p = vec![0u8; 48];
    p[0] = 0x23; // LI 0, VN 4, mode 3
    p[2] = 0x06; // poll
    p[3] = 0xe9; // precision
    p[40..48].copy_from_slice(&ntp_ts(t_us));
    p
}

/// NTPv4 server reply (stratum 2).
pub(crate) fn ntp_reply(req: &[u8], t_rx_us: u64, refid: [u8; 4]) -> Vec<u8> {
    let mut p = vec![0u8; 48];
    p[0] = 0x24; // LI 0, VN 4, mode 4
    p[1] = 2;
    p[2] = req.get(2).copied().unwrap_or(6);
    p[3] = 0xe7;
    p[4..8].copy_from_slice(&[0, 0, 0x01, 0x2c]); // root delay
    p[8..12].copy_from_slice(&[0, 0, 0x00, 0x4a]); // root dispersion
    p[12..16].copy_from_slice(&refid);
    p[16..24].copy_from_slice(&ntp_ts(t_rx_us.saturating_sub(37_000_000)));
    p[24..32].copy_from_slice(&req[40..48]);
    p[32..40].copy_from_slice(&ntp_ts(t_rx_us));
    p[40..48].copy_from_slice(&ntp_ts(t_rx_us + 23));
    p
}

// ---------------------------------------------------------------- TLS

/// A TLS client fingerprint family.
pub(crate) struct TlsProfile {
    pub ciphers: &'static [u16],
    pub exts: &'static [u16],
    pub groups: &'static [u16],
    pub sigalgs: &'static [u16],
    pub versions: &'static [u16],
    pub point_formats: &'static [u8],
    pub alpn: &'static [&'static str],
    pub grease: bool,
    pub pad: bool,
}

impl TlsProfile {
    pub(crate) fn tls13(&self) -> bool {
        self.versions.contains(&0x0304)
    }
}

/// Chromium (Edge/Chrome on Windows, Chromecast): GREASE, padding, ALPS.
pub(crate) const TLS_CHROME: TlsProfile = TlsProfile {
    ciphers: &[
        0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014,
        0x009c, 0x009d, 0x002f, 0x0035,
    ],
    exts: &[
        0, 23, 0xff01, 10, 11, 35, 16, 5, 13, 18, 51, 45, 43, 27, 17513, 21,
    ],
    groups: &[0x001d, 0x0017, 0x0018],
    sigalgs: &[
        0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
    ],
    versions: &[0x0304, 0x0303],
    point_formats: &[0],
    alpn: &["h2", "http/1.1"],
    grease: true,
    pad: true,
};

/// OpenSSL 1.1.1 defaults (embedded Linux: Hue, Sonos, Synology, Hikvision, Tizen).
pub(crate) const TLS_OPENSSL: TlsProfile = TlsProfile {
    ciphers: &[
        0x1302, 0x1303, 0x1301, 0xc02c, 0xc030, 0x009f, 0xcca9, 0xcca8, 0xccaa, 0xc02b, 0xc02f,
        0x009e, 0xc024, 0xc028, 0x006b, 0xc023, 0xc027, 0x0067, 0xc00a, 0xc014, 0x0039, 0xc009,
        0xc013, 0x0033, 0x009d, 0x009c, 0x003d, 0x003c, 0x0035, 0x002f, 0x00ff,
    ],
    exts: &[0, 11, 10, 35, 16, 22, 23, 13, 43, 45, 51],
    groups: &[0x001d, 0x0017, 0x001e, 0x0019, 0x0018],
    sigalgs: &[
        0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0809, 0x080a, 0x080b, 0x0804, 0x0805, 0x0806,
        0x0401, 0x0501, 0x0601, 0x0303, 0x0203, 0x0301, 0x0201, 0x0302, 0x0202, 0x0402, 0x0502,
        0x0602,
    ],
    versions: &[0x0304, 0x0303, 0x0302, 0x0301],
    point_formats: &[0, 1, 2],
    alpn: &["http/1.1"],
    grease: false,
    pad: false,
};

/// Android / Fire OS system stack (Conscrypt/BoringSSL without GREASE): Echo.
pub(crate) const TLS_ANDROID: TlsProfile = TlsProfile {
    ciphers: &[
        0x1301, 0x1302, 0x1303, 0xc02b, 0xc02c, 0xcca9, 0xc02f, 0xc030, 0xcca8, 0xc009, 0xc00a,
        0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
    ],
    exts: &[0, 23, 0xff01, 10, 11, 35, 16, 5, 13, 51, 45, 43],
    groups: &[0x001d, 0x0017, 0x0018],
    sigalgs: &[
        0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601, 0x0201,
    ],
    versions: &[0x0304, 0x0303],
    point_formats: &[0],
    alpn: &["h2", "http/1.1"],
    grease: false,
    pad: false,
};

/// mbed TLS 2.x, TLS 1.2 only (Kasa plug, ecobee).
pub(crate) const TLS_MBED: TlsProfile = TlsProfile {
    ciphers: &[
        0xc02c, 0xc030, 0xc02b, 0xc02f, 0xc024, 0xc028, 0xc023, 0xc027, 0xc00a, 0xc014, 0xc009,
        0xc013, 0x009d, 0x009c, 0x003d, 0x003c, 0x0035, 0x002f, 0x00ff,
    ],
    exts: &[0, 13, 10, 11],
    groups: &[0x0017, 0x0018, 0x0019],
    sigalgs: &[
        0x0603, 0x0601, 0x0503, 0x0501, 0x0403, 0x0401, 0x0303, 0x0301,
    ],
    versions: &[],
    point_formats: &[0],
    alpn: &[],
    grease: false,
    pad: false,
};

fn grease(rng: &mut Rng) -> u16 {
    let n = (rng.u8() & 0x0f) as u16;
    (n << 12) | 0x0a00 | (n << 4) | 0x0a
}

fn u16s(v: &[u16]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_be_bytes()).collect()
}

fn with_len16(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

fn handshake(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut h = vec![ty];
    h.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    h.extend_from_slice(body);
    h
}

/// One TLS record.
pub(crate) fn tls_record(ct: u8, version: u16, body: &[u8]) -> Vec<u8> {
    let mut r = vec![ct];
    r.extend_from_slice(&version.to_be_bytes());
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

/// Opaque application data records totalling about `n` bytes of ciphertext.
pub(crate) fn tls_app_data(rng: &mut Rng, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 32);
    let mut left = n.max(1);
    while left > 0 {
        let chunk = left.min(16_384 + 256);
        out.extend_from_slice(&tls_record(23, 0x0303, &rng.bytes(chunk)));
        left -= chunk;
    }
    out
}

/// A ClientHello record (record version 0x0301 as real stacks send) and the session id used.
pub(crate) fn client_hello(rng: &mut Rng, p: &TlsProfile, sni: &str) -> (Vec<u8>, Vec<u8>) {
    let g = if p.grease { grease(rng) } else { 0 };
    let mut body = Vec::with_capacity(600);
    body.extend_from_slice(&0x0303u16.to_be_bytes());
    body.extend_from_slice(&rng.bytes(32));
    let sid = if p.tls13() { rng.bytes(32) } else { Vec::new() };
    body.push(sid.len() as u8);
    body.extend_from_slice(&sid);
    let mut ciphers = Vec::new();
    if p.grease {
        ciphers.push(g);
    }
    ciphers.extend_from_slice(p.ciphers);
    body.extend_from_slice(&with_len16(&u16s(&ciphers)));
    body.extend_from_slice(&[1, 0]);

    let mut exts: Vec<u8> = Vec::new();
    let push_ext = |exts: &mut Vec<u8>, ty: u16, data: &[u8]| {
        exts.extend_from_slice(&ty.to_be_bytes());
        exts.extend_from_slice(&with_len16(data));
    };
    if p.grease {
        push_ext(&mut exts, grease(rng), &[]);
    }
    for &ty in p.exts {
        match ty {
            0 => {
                let mut sn = vec![0u8];
                sn.extend_from_slice(&with_len16(sni.as_bytes()));
                push_ext(&mut exts, 0, &with_len16(&sn));
            }
            5 => push_ext(&mut exts, 5, &[1, 0, 0, 0, 0]),
            10 => {
                let mut gs = Vec::new();
                if p.grease {
                    gs.push(g);
                }
                gs.extend_from_slice(p.groups);
                push_ext(&mut exts, 10, &with_len16(&u16s(&gs)));
            }
            11 => {
                let mut d = vec![p.point_formats.len() as u8];
                d.extend_from_slice(p.point_formats);
                push_ext(&mut exts, 11, &d);
            }
            13 => push_ext(&mut exts, 13, &with_len16(&u16s(p.sigalgs))),
            16 | 17513 => {
                let mut l = Vec::new();
                for a in p.alpn {
                    l.push(a.len() as u8);
                    l.extend_from_slice(a.as_bytes());
                }
                if ty == 16 {
                    push_ext(&mut exts, 16, &with_len16(&l));
                } else {
                    // application_settings: list of supported ALPS protocols (h2)
                    push_ext(&mut exts, 17513, &with_len16(&[2, b'h', b'2']));
                }
            }
            18 | 22 | 23 | 35 => push_ext(&mut exts, ty, &[]),
            27 => push_ext(&mut exts, 27, &[2, 0, 2]),
            43 => {
                let mut vs = Vec::new();
                if p.grease {
                    vs.push(grease(rng));
                }
                vs.extend_from_slice(p.versions);
                let b = u16s(&vs);
                let mut d = vec![b.len() as u8];
                d.extend_from_slice(&b);
                push_ext(&mut exts, 43, &d);
            }
            45 => push_ext(&mut exts, 45, &[1, 1]),
            51 => {
                let mut ks = Vec::new();
                if p.grease {
                    ks.extend_from_slice(&g.to_be_bytes());
                    ks.extend_from_slice(&[0, 1, 0]);
                }
                ks.extend_from_slice(&0x001du16.to_be_bytes());
                ks.extend_from_slice(&32u16.to_be_bytes());
                ks.extend_from_slice(&rng.bytes(32));
                push_ext(&mut exts, 51, &with_len16(&ks));
            }
            0xff01 => push_ext(&mut exts, 0xff01, &[0]),
            21 if p.pad => {
                // BoringSSL pads ClientHellos whose length falls in (255, 512) up to 512.
                let len_so_far = 4 + body.len() + 2 + exts.len() + if p.grease { 5 } else { 0 };
                if len_so_far > 0xff && len_so_far < 0x200 {
                    let mut pad = 0x200 - len_so_far;
                    pad = if pad >= 5 { pad - 4 } else { 1 };
                    push_ext(&mut exts, 21, &vec![0u8; pad]);
                }
            }
            21 => {}
            _ => push_ext(&mut exts, ty, &[]),
        }
    }
    if p.grease {
        push_ext(&mut exts, grease(rng), &[0]);
    }
    body.extend_from_slice(&with_len16(&exts));
    (tls_record(22, 0x0301, &handshake(1, &body)), sid)
}

/// TLS 1.3 server flight: ServerHello, ChangeCipherSpec, encrypted handshake (~`enc` bytes).
pub(crate) fn server_flight_13(rng: &mut Rng, sid: &[u8], cipher: u16, enc: usize) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0x0303u16.to_be_bytes());
    b.extend_from_slice(&rng.bytes(32));
    b.push(sid.len() as u8);
    b.extend_from_slice(sid);
    b.extend_from_slice(&cipher.to_be_bytes());
    b.push(0);
    let mut e = Vec::new();
    e.extend_from_slice(&43u16.to_be_bytes());
    e.extend_from_slice(&[0, 2, 3, 4]);
    e.extend_from_slice(&51u16.to_be_bytes());
    e.extend_from_slice(&36u16.to_be_bytes());
    e.extend_from_slice(&0x001du16.to_be_bytes());
    e.extend_from_slice(&32u16.to_be_bytes());
    e.extend_from_slice(&rng.bytes(32));
    b.extend_from_slice(&with_len16(&e));
    let mut out = tls_record(22, 0x0303, &handshake(2, &b));
    out.extend_from_slice(&tls_record(20, 0x0303, &[1]));
    out.extend_from_slice(&tls_app_data(rng, enc));
    out
}

/// TLS 1.3 client second flight: ChangeCipherSpec + encrypted Finished.
pub(crate) fn client_finished_13(rng: &mut Rng) -> Vec<u8> {
    let mut out = tls_record(20, 0x0303, &[1]);
    out.extend_from_slice(&tls_record(23, 0x0303, &rng.bytes(53)));
    out
}

/// TLS 1.2 server flight: ServerHello, Certificate, ServerKeyExchange (ECDHE P-256), ServerHelloDone.
pub(crate) fn server_flight_12(rng: &mut Rng, cipher: u16, cert: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0x0303u16.to_be_bytes());
    b.extend_from_slice(&rng.bytes(32));
    b.push(32);
    b.extend_from_slice(&rng.bytes(32));
    b.extend_from_slice(&cipher.to_be_bytes());
    b.push(0);
    let e = [0xff, 0x01, 0, 1, 0, 0, 11, 0, 2, 1, 0, 0, 23, 0, 0];
    b.extend_from_slice(&with_len16(&e));
    let mut hs = handshake(2, &b);

    let mut certs = Vec::new();
    certs.extend_from_slice(&(cert.len() as u32).to_be_bytes()[1..]);
    certs.extend_from_slice(cert);
    let mut cm = Vec::new();
    cm.extend_from_slice(&(certs.len() as u32).to_be_bytes()[1..]);
    cm.extend_from_slice(&certs);
    hs.extend_from_slice(&handshake(11, &cm));

    let mut ske = vec![3, 0x00, 0x17, 65, 4];
    ske.extend_from_slice(&rng.bytes(64));
    ske.extend_from_slice(&0x0403u16.to_be_bytes());
    let sig = ecdsa_sig(rng);
    ske.extend_from_slice(&with_len16(&sig));
    hs.extend_from_slice(&handshake(12, &ske));
    hs.extend_from_slice(&handshake(14, &[]));
    tls_record(22, 0x0303, &hs)
}

/// A server flight with the given protocol version and cipher suite: ServerHello, then the
/// Certificate message when `cert` is given, then ServerHelloDone (legacy/weak servers).
pub(crate) fn server_hello_flight(
    rng: &mut Rng,
    version: u16,
    cipher: u16,
    cert: Option<&[u8]>,
) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&version.to_be_bytes());
    b.extend_from_slice(&rng.bytes(32));
    b.push(0);
    b.extend_from_slice(&cipher.to_be_bytes());
    b.push(0);
    let mut hs = handshake(2, &b);
    if let Some(cert) = cert {
        let mut certs = Vec::new();
        certs.extend_from_slice(&(cert.len() as u32).to_be_bytes()[1..]);
        certs.extend_from_slice(cert);
        let mut cm = Vec::new();
        cm.extend_from_slice(&(certs.len() as u32).to_be_bytes()[1..]);
        cm.extend_from_slice(&certs);
        hs.extend_from_slice(&handshake(11, &cm));
    }
    hs.extend_from_slice(&handshake(14, &[]));
    tls_record(22, version.min(0x0303), &hs)
}

/// TLS 1.2 client second flight: ClientKeyExchange, ChangeCipherSpec, encrypted Finished.
pub(crate) fn client_flight_12(rng: &mut Rng) -> Vec<u8> {
    let mut cke = vec![65, 4];
    cke.extend_from_slice(&rng.bytes(64));
    let mut out = tls_record(22, 0x0303, &handshake(16, &cke));
    out.extend_from_slice(&tls_record(20, 0x0303, &[1]));
    out.extend_from_slice(&tls_record(22, 0x0303, &rng.bytes(40)));
    out
}

/// TLS 1.2 server final flight: ChangeCipherSpec + encrypted Finished.
pub(crate) fn server_finished_12(rng: &mut Rng) -> Vec<u8> {
    let mut out = tls_record(20, 0x0303, &[1]);
    out.extend_from_slice(&tls_record(22, 0x0303, &rng.bytes(40)));
    out
}

// ---------------------------------------------------------------- X.509 (DER), well-formed but unsigned

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    let n = content.len();
    if n < 0x80 {
        v.push(n as u8);
    } else if n < 0x100 {
        v.extend_from_slice(&[0x81, n as u8]);
    } else {
        v.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
    }
    v.extend_from_slice(content);
    v
}

fn der_seq(parts: &[&[u8]]) -> Vec<u8> {
    der(0x30, &parts.concat())
}

fn der_uint(bytes: &[u8]) -> Vec<u8> {
    let mut b: Vec<u8> = bytes.iter().copied().skip_while(|&x| x == 0).collect();
    if b.is_empty() || b[0] & 0x80 != 0 {
        b.insert(0, 0);
    }
    der(0x02, &b)
}

fn ecdsa_sig(rng: &mut Rng) -> Vec<u8> {
    let r = der_uint(&rng.bytes(32));
    let s = der_uint(&rng.bytes(32));
    der_seq(&[&r, &s])
}

fn rdn(oid_last: u8, tag: u8, value: &str) -> Vec<u8> {
    let oid = der(0x06, &[0x55, 0x04, oid_last]);
    der(0x31, &der_seq(&[&oid, &der(tag, value.as_bytes())]))
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn utc_time(unix: u64) -> Vec<u8> {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let (y, m, d) = civil_from_days(days);
    let s = format!(
        "{:02}{:02}{:02}{:02}{:02}{:02}Z",
        y % 100,
        m,
        d,
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    );
    der(0x17, s.as_bytes())
}

/// A well-formed X.509 v3 certificate (ECDSA P-256 key, issuer Let's Encrypt E6, SAN = `host`).
/// The signature is random bytes: it parses, it does not verify.
pub(crate) fn certificate(rng: &mut Rng, host: &str, now_unix: u64) -> Vec<u8> {
    certificate_from(rng, host, now_unix, false)
}

/// A certificate for `host`, issued by Let's Encrypt E6 or, when `self_signed`, by itself
/// (issuer name == subject name, as device web servers generate them).
pub(crate) fn certificate_from(
    rng: &mut Rng,
    host: &str,
    now_unix: u64,
    self_signed: bool,
) -> Vec<u8> {
    let version = der(0xa0, &der_uint(&[2]));
    let serial = der_uint(&rng.bytes(18));
    let sig_alg = der_seq(&[&der(
        0x06,
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03],
    )]);
    let issuer = if self_signed {
        der_seq(&[&rdn(3, 0x0c, host)])
    } else {
        der_seq(&[
            &rdn(6, 0x13, "US"),
            &rdn(10, 0x13, "Let's Encrypt"),
            &rdn(3, 0x13, "E6"),
        ])
    };
    let nb = now_unix.saturating_sub(30 * 86_400 + rng.range(0, 86_400));
    let validity = der_seq(&[&utc_time(nb), &utc_time(nb + 90 * 86_400)]);
    let subject = der_seq(&[&rdn(3, 0x0c, host)]);
    let alg = der_seq(&[
        &der(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]),
        &der(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]),
    ]);
    let mut key = vec![0u8, 4];
    key.extend_from_slice(&rng.bytes(64));
    let spki = der_seq(&[&alg, &der(0x03, &key)]);
    let san_names = der_seq(&[&der(0x82, host.as_bytes())]);
    let san = der_seq(&[&der(0x06, &[0x55, 0x1d, 0x11]), &der(0x04, &san_names)]);
    let exts = der(0xa3, &der_seq(&[&san]));
    let tbs = der_seq(&[
        &version, &serial, &sig_alg, &issuer, &validity, &subject, &spki, &exts,
    ]);
    let mut sig = vec![0u8];
    sig.extend_from_slice(&ecdsa_sig(rng));
    der_seq(&[&tbs, &sig_alg, &der(0x03, &sig)])
}

// ---------------------------------------------------------------- MQTT 3.1.1

fn mqtt_len(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            break;
        }
    }
}

fn mqtt_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

pub(crate) struct MqttConnect<'a> {
    pub client_id: &'a str,
    pub username: &'a str,
    pub password: &'a str,
    pub will: Option<(&'a str, &'a str)>,
    pub keepalive: u16,
}

pub(crate) fn mqtt_connect(c: &MqttConnect<'_>) -> Vec<u8> {
    let mut vh = Vec::new();
    mqtt_str(&mut vh, b"MQTT");
    vh.push(4);
    let mut fl = 0x80 | 0x40 | 0x02;
    if c.will.is_some() {
        fl |= 0x04 | 0x20;
    }
    vh.push(fl);
    vh.extend_from_slice(&c.keepalive.to_be_bytes());
    mqtt_str(&mut vh, c.client_id.as_bytes());
    if let Some((t, m)) = c.will {
        mqtt_str(&mut vh, t.as_bytes());
        mqtt_str(&mut vh, m.as_bytes());
    }
    mqtt_str(&mut vh, c.username.as_bytes());
    mqtt_str(&mut vh, c.password.as_bytes());
    let mut p = vec![0x10];
    mqtt_len(&mut p, vh.len());
    p.extend_from_slice(&vh);
    p
}

pub(crate) fn mqtt_publish(topic: &str, payload: &[u8], retain: bool) -> Vec<u8> {
    let mut vh = Vec::new();
    mqtt_str(&mut vh, topic.as_bytes());
    vh.extend_from_slice(payload);
    let mut p = vec![if retain { 0x31 } else { 0x30 }];
    mqtt_len(&mut p, vh.len());
    p.extend_from_slice(&vh);
    p
}

// ---------------------------------------------------------------- TP-Link Kasa (XOR autokey, key 171)

pub(crate) fn kasa_encrypt(plain: &[u8]) -> Vec<u8> {
    let mut key = 171u8;
    plain
        .iter()
        .map(|&b| {
            key ^= b;
            key
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        // 2026-11-01 is day 20758.
        assert_eq!(civil_from_days(20_758), (2026, 11, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn client_hello_structure() {
        let mut rng = Rng::new(5);
        for p in [&TLS_CHROME, &TLS_OPENSSL, &TLS_ANDROID, &TLS_MBED] {
            let (ch, _) = client_hello(&mut rng, p, "ws.meethue.com");
            assert_eq!(ch[0], 22);
            let rec_len = u16::from_be_bytes([ch[3], ch[4]]) as usize;
            assert_eq!(rec_len + 5, ch.len());
            assert_eq!(ch[5], 1);
            let hs_len = u32::from_be_bytes([0, ch[6], ch[7], ch[8]]) as usize;
            assert_eq!(hs_len + 4, rec_len);
            // walk to the extensions and check their lengths add up
            let b = &ch[9..];
            let mut i = 2 + 32;
            i += 1 + b[i] as usize;
            i += 2 + u16::from_be_bytes([b[i], b[i + 1]]) as usize;
            i += 1 + b[i] as usize;
            let ext_len = u16::from_be_bytes([b[i], b[i + 1]]) as usize;
            i += 2;
            assert_eq!(i + ext_len, b.len());
            let mut saw_sni = false;
            while i < b.len() {
                let ty = u16::from_be_bytes([b[i], b[i + 1]]);
                let l = u16::from_be_bytes([b[i + 2], b[i + 3]]) as usize;
                if ty == 0 {
                    assert!(b[i + 4..i + 4 + l].ends_with(b"ws.meethue.com"));
                    saw_sni = true;
                }
                i += 4 + l;
            }
            assert_eq!(i, b.len());
            assert!(saw_sni);
            if p.pad {
                assert_eq!(hs_len + 4, 512);
            }
        }
    }

    #[test]
    fn certificate_is_der() {
        let mut rng = Rng::new(1);
        let c = certificate(&mut rng, "devs.tplinkcloud.com", 1_793_527_200);
        assert_eq!(c[0], 0x30);
        assert_eq!(c[1], 0x82);
        let l = u16::from_be_bytes([c[2], c[3]]) as usize;
        assert_eq!(l + 4, c.len());
    }

    #[test]
    fn kasa_roundtrip() {
        let e = kasa_encrypt(b"{\"system\":{\"get_sysinfo\":{}}}");
        assert_eq!(&e[..4], &[0xd0, 0xf2, 0x81, 0xf8]);
    }
}
