//! Public application-payload builders for detector tests: DNS queries and answers
//! (incl. NXDOMAIN), TLS hellos with chosen versions and cipher suites, legacy server
//! flights and (self-signed) certificates, NTP requests. Deterministic for a seed.

use crate::app;
use crate::rng::Rng;

/// A recursive DNS query with one question of type `qtype` (1 = A, 16 = TXT, 10 = NULL).
pub fn dns_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    app::dns_query(id, name, qtype)
}

/// A DNS response with A records for `name`.
pub fn dns_answer_a(id: u16, name: &str, ips: &[[u8; 4]]) -> Vec<u8> {
    app::dns_response_a(id, name, ips, 300)
}

/// A DNS response without answers carrying `rcode` (3 = NXDOMAIN).
pub fn dns_answer_empty(id: u16, name: &str, qtype: u16, rcode: u8) -> Vec<u8> {
    app::dns_response_empty(id, name, qtype, rcode)
}

/// A TLS ClientHello offering `ciphers`; `versions` fills the supported_versions
/// extension (empty: a legacy hello whose highest version is `legacy_version`).
pub fn tls_client_hello(
    seed: u64,
    legacy_version: u16,
    ciphers: &'static [u16],
    versions: &'static [u16],
    sni: &str,
) -> Vec<u8> {
    let profile = app::TlsProfile {
        ciphers,
        exts: if versions.is_empty() {
            &[0, 10, 11, 13]
        } else {
            &[0, 10, 11, 13, 43, 51]
        },
        groups: &[0x001d, 0x0017],
        sigalgs: &[0x0403, 0x0401],
        versions,
        point_formats: &[0],
        alpn: &[],
        grease: false,
        pad: false,
    };
    let (mut hello, _) = app::client_hello(&mut Rng::new(seed), &profile, sni);
    // The builder writes 0x0303 as the hello version; legacy clients send their own.
    if versions.is_empty() && hello.len() > 10 {
        hello[9..11].copy_from_slice(&legacy_version.to_be_bytes());
    }
    hello
}

/// A server flight (ServerHello [+ Certificate] + ServerHelloDone) selecting `version`
/// and `cipher`; with a certificate for `host` when given, self-signed or CA-issued.
pub fn tls_server_flight(
    seed: u64,
    version: u16,
    cipher: u16,
    cert: Option<(&str, bool)>,
    now_unix: u64,
) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let der = cert
        .map(|(host, self_signed)| app::certificate_from(&mut rng, host, now_unix, self_signed));
    app::server_hello_flight(&mut rng, version, cipher, der.as_deref())
}

/// An NTP client request (mode 3) for time `t_us` (microseconds since the Unix epoch).
pub fn ntp_request(t_us: u64) -> Vec<u8> {
    app::ntp_request(t_us)
}
