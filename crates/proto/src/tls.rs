//! TLS handshake metadata: ClientHello (JA3, JA4), ServerHello (JA3S) and
//! certificate subjects from TLS ≤ 1.2 Certificate messages.
//!
//! Fingerprints let the sensor tell an IoT SDK from a browser without
//! decrypting anything. JA4 follows the FoxIO specification (TLS client
//! fingerprint, BSD-3-Clause); JA3 follows Salesforce's definition.

use md5::{Digest as _, Md5};
use sha2::Sha256;

use crate::ProtoError;
use crate::dhcp::push_decimal;
use crate::hex_lower;
use crate::reader::Reader;

/// Transport the hello was seen on; the first character of JA4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Quic,
    Dtls,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello<'a> {
    pub record_version: u16,
    /// `legacy_version` of the handshake body.
    pub handshake_version: u16,
    pub session_id: &'a [u8],
    pub cipher_suites: Vec<u16>,
    pub compression_methods: &'a [u8],
    /// Extension types in wire order, GREASE included.
    pub extensions: Vec<u16>,
    pub sni: Option<&'a str>,
    pub alpn: Vec<&'a [u8]>,
    pub supported_versions: Vec<u16>,
    pub signature_algorithms: Vec<u16>,
    pub supported_groups: Vec<u16>,
    pub ec_point_formats: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello<'a> {
    pub record_version: u16,
    pub version: u16,
    pub session_id: &'a [u8],
    pub cipher_suite: u16,
    pub compression_method: u8,
    pub extensions: Vec<u16>,
    /// The version chosen through the supported_versions extension (TLS 1.3).
    pub selected_version: Option<u16>,
    pub alpn: Option<&'a [u8]>,
}

/// Identity fields of one certificate in a chain.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CertSummary {
    pub subject_cn: Option<String>,
    pub subject_o: Option<String>,
    pub issuer_cn: Option<String>,
    pub issuer_o: Option<String>,
    /// Issuer and subject names are byte-identical.
    pub self_signed: bool,
    /// Validity period (notBefore, notAfter) in seconds since the Unix epoch (UTC),
    /// when both times parse as DER UTCTime / GeneralizedTime.
    pub validity: Option<(i64, i64)>,
}

/// Whether a 16-bit value is a GREASE placeholder (RFC 8701).
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// Parses the first handshake record of a TCP payload as a ClientHello.
///
/// The hello must fit in the first record (it does for every client seen
/// in practice); a payload shorter than that record yields `Truncated` so
/// the caller can wait for the next segment.
pub fn parse_client_hello(tcp_payload: &[u8]) -> Result<ClientHello<'_>, ProtoError> {
    let (record_version, mut body) = first_handshake(tcp_payload, HS_CLIENT_HELLO)?;
    let handshake_version = body.u16()?;
    body.skip(32)?; // random
    let session_id = body.vec_u8()?;
    let cs_at = body.offset();
    let cs = body.vec_u16()?;
    if cs.len() % 2 != 0 {
        return Err(ProtoError::Malformed {
            offset: cs_at,
            what: "TLS cipher suite list has odd length",
        });
    }
    let cipher_suites = u16s(cs);
    let compression_methods = body.vec_u8()?;
    let mut ch = ClientHello {
        record_version,
        handshake_version,
        session_id,
        cipher_suites,
        compression_methods,
        extensions: Vec::new(),
        sni: None,
        alpn: Vec::new(),
        supported_versions: Vec::new(),
        signature_algorithms: Vec::new(),
        supported_groups: Vec::new(),
        ec_point_formats: Vec::new(),
    };
    if body.is_empty() {
        return Ok(ch); // extensions are optional before TLS 1.3
    }
    let ext_len = body.u16()?;
    let mut exts = body.sub(usize::from(ext_len))?;
    ch.extensions.reserve(24);
    while !exts.is_empty() {
        let ty = exts.u16()?;
        let data = exts.vec_u16()?;
        ch.extensions.push(ty);
        // Inner encodings that do not parse leave the field empty: the
        // extension list still fingerprints the client.
        let mut d = Reader::new(data);
        match ty {
            EXT_SNI => ch.sni = ch.sni.or_else(|| sni(&mut d)),
            EXT_SUPPORTED_GROUPS => ch.supported_groups = list16(d.vec_u16()),
            EXT_EC_POINT_FORMATS => {
                ch.ec_point_formats = d.vec_u8().map(<[u8]>::to_vec).unwrap_or_default()
            }
            EXT_SIGNATURE_ALGORITHMS => ch.signature_algorithms = list16(d.vec_u16()),
            EXT_ALPN => {
                if let Ok(list) = d.vec_u16() {
                    let mut l = Reader::new(list);
                    while let Ok(p) = l.vec_u8() {
                        ch.alpn.push(p);
                    }
                }
            }
            EXT_SUPPORTED_VERSIONS => ch.supported_versions = list16(d.vec_u8()),
            _ => {}
        }
    }
    Ok(ch)
}

/// The values of a JA3 list, GREASE removed, widened for decimal output.
fn without_grease(values: &[u16]) -> impl Iterator<Item = u32> + '_ {
    values
        .iter()
        .copied()
        .filter(|v| !is_grease(*v))
        .map(u32::from)
}

impl ClientHello<'_> {
    /// `SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats`
    /// in decimal with GREASE values removed.
    pub fn ja3_string(&self) -> String {
        let mut s = String::with_capacity(256);
        push_decimal(&mut s, u32::from(self.handshake_version));
        s.push(',');
        push_dash_list(&mut s, without_grease(&self.cipher_suites));
        s.push(',');
        push_dash_list(&mut s, without_grease(&self.extensions));
        s.push(',');
        push_dash_list(&mut s, without_grease(&self.supported_groups));
        s.push(',');
        push_dash_list(&mut s, self.ec_point_formats.iter().copied().map(u32::from));
        s
    }

    /// MD5 of [`Self::ja3_string`], lowercase hex.
    pub fn ja3_hash(&self) -> String {
        hex_lower(&Md5::digest(self.ja3_string().as_bytes()))
    }

    /// The JA4 TLS client fingerprint, e.g. `t13d1516h2_8daaf6152771_02713d6af862`.
    pub fn ja4(&self, transport: Transport) -> String {
        let (a, ciphers, exts) = self.ja4_parts(transport);
        let mut out = a;
        out.push('_');
        out.push_str(&truncated_sha256(&ciphers));
        out.push('_');
        out.push_str(&truncated_sha256(&exts));
        out
    }

    /// `ja4_r`: the JA4 inputs before hashing (sorted lists), for debugging
    /// fingerprint mismatches.
    pub fn ja4_raw(&self, transport: Transport) -> String {
        let (a, ciphers, exts) = self.ja4_parts(transport);
        format!("{a}_{ciphers}_{exts}")
    }

    fn ja4_parts(&self, transport: Transport) -> (String, String, String) {
        let mut a = String::with_capacity(10);
        a.push(match transport {
            Transport::Tcp => 't',
            Transport::Quic => 'q',
            Transport::Dtls => 'd',
        });
        let version = self
            .supported_versions
            .iter()
            .copied()
            .filter(|v| !is_grease(*v))
            .max()
            .unwrap_or(self.handshake_version);
        a.push_str(match version {
            0x0304 => "13",
            0x0303 => "12",
            0x0302 => "11",
            0x0301 => "10",
            0x0300 => "s3",
            0x0002 => "s2",
            0xfeff => "d1",
            0xfefd => "d2",
            0xfefc => "d3",
            _ => "00",
        });
        a.push(if self.extensions.contains(&EXT_SNI) {
            'd'
        } else {
            'i'
        });

        let mut ciphers: Vec<u16> = self
            .cipher_suites
            .iter()
            .copied()
            .filter(|v| !is_grease(*v))
            .collect();
        let exts_all: Vec<u16> = self
            .extensions
            .iter()
            .copied()
            .filter(|v| !is_grease(*v))
            .collect();
        push_two_digits(&mut a, ciphers.len());
        push_two_digits(&mut a, exts_all.len());
        match self.alpn.first() {
            Some(p) if !p.is_empty() => {
                let (f, l) = (
                    p.first().copied().unwrap_or(b'0'),
                    p.last().copied().unwrap_or(b'0'),
                );
                if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() {
                    a.push(char::from(f));
                    a.push(char::from(l));
                } else {
                    let hf = hex_lower(&[f]);
                    let hl = hex_lower(&[l]);
                    a.push_str(hf.get(..1).unwrap_or("0"));
                    a.push_str(hl.get(1..).unwrap_or("0"));
                }
            }
            _ => a.push_str("00"),
        }

        ciphers.sort_unstable();
        let cipher_list = hex_list(&ciphers);
        let mut exts: Vec<u16> = exts_all
            .into_iter()
            .filter(|&e| e != EXT_SNI && e != EXT_ALPN)
            .collect();
        exts.sort_unstable();
        let mut ext_list = hex_list(&exts);
        let sigs: Vec<u16> = self
            .signature_algorithms
            .iter()
            .copied()
            .filter(|v| !is_grease(*v))
            .collect();
        if !sigs.is_empty() {
            ext_list.push('_');
            ext_list.push_str(&hex_list(&sigs));
        }
        (a, cipher_list, ext_list)
    }
}

/// Parses the first handshake record of a payload as a ServerHello.
pub fn parse_server_hello(tcp_payload: &[u8]) -> Result<ServerHello<'_>, ProtoError> {
    let (record_version, mut body) = first_handshake(tcp_payload, HS_SERVER_HELLO)?;
    let version = body.u16()?;
    body.skip(32)?;
    let session_id = body.vec_u8()?;
    let cipher_suite = body.u16()?;
    let compression_method = body.u8()?;
    let mut sh = ServerHello {
        record_version,
        version,
        session_id,
        cipher_suite,
        compression_method,
        extensions: Vec::new(),
        selected_version: None,
        alpn: None,
    };
    if body.is_empty() {
        return Ok(sh);
    }
    let ext_len = body.u16()?;
    let mut exts = body.sub(usize::from(ext_len))?;
    while !exts.is_empty() {
        let ty = exts.u16()?;
        let data = exts.vec_u16()?;
        sh.extensions.push(ty);
        let mut d = Reader::new(data);
        match ty {
            EXT_SUPPORTED_VERSIONS => sh.selected_version = d.u16().ok(),
            EXT_ALPN => {
                sh.alpn = d.vec_u16().ok().and_then(|l| Reader::new(l).vec_u8().ok());
            }
            _ => {}
        }
    }
    Ok(sh)
}

impl ServerHello<'_> {
    /// `SSLVersion,Cipher,Extensions` in decimal.
    pub fn ja3s_string(&self) -> String {
        let mut s = String::with_capacity(64);
        push_decimal(&mut s, u32::from(self.version));
        s.push(',');
        push_decimal(&mut s, u32::from(self.cipher_suite));
        s.push(',');
        push_dash_list(
            &mut s,
            self.extensions
                .iter()
                .copied()
                .filter(|v| !is_grease(*v))
                .map(u32::from),
        );
        s
    }

    pub fn ja3s_hash(&self) -> String {
        hex_lower(&Md5::digest(self.ja3s_string().as_bytes()))
    }
}

/// Summaries of the certificates in any TLS ≤ 1.2 Certificate message found
/// in the handshake records of this payload. Handshake messages may share a
/// record with the ServerHello or span records, so record fragments are
/// joined before walking; parsing stops at the first non-handshake record.
/// Malformed or absent data yields fewer (or no) summaries, never an error.
pub fn certificate_subjects(tcp_payload: &[u8]) -> Vec<CertSummary> {
    let mut hs = Vec::new();
    let mut r = Reader::new(tcp_payload);
    while let (Ok(ct), Ok(_ver), Ok(frag)) = (r.u8(), r.u16(), r.vec_u16()) {
        if ct != CT_HANDSHAKE {
            break;
        }
        hs.extend_from_slice(frag);
    }
    let mut out = Vec::new();
    let mut m = Reader::new(&hs);
    while let (Ok(ty), Ok(len)) = (m.u8(), m.u24()) {
        let Ok(body) = m.take(len as usize) else {
            break;
        };
        if ty != HS_CERTIFICATE {
            continue;
        }
        let mut b = Reader::new(body);
        let Ok(list_len) = b.u24() else { break };
        let Ok(mut list) = b.sub(list_len as usize) else {
            break;
        };
        while out.len() < MAX_CERTS {
            let Ok(n) = list.u24() else { break };
            let Ok(der) = list.take(n as usize) else {
                break;
            };
            if let Some(c) = summarize_cert(der) {
                out.push(c);
            }
        }
    }
    out
}

fn first_handshake(p: &[u8], want: u8) -> Result<(u16, Reader<'_>), ProtoError> {
    let mut r = Reader::new(p);
    let ct = r.u8()?;
    if ct != CT_HANDSHAKE {
        return Err(ProtoError::NotThisProtocol);
    }
    let record_version = r.u16()?;
    if record_version >> 8 != 3 {
        return Err(ProtoError::NotThisProtocol);
    }
    let len = r.u16()?;
    let mut rec = r.sub(usize::from(len))?;
    let ty = rec.u8()?;
    if ty != want {
        return Err(ProtoError::NotThisProtocol);
    }
    let hlen = rec.u24()?;
    let body = rec.sub(hlen as usize)?;
    Ok((record_version, body))
}

fn sni<'a>(d: &mut Reader<'a>) -> Option<&'a str> {
    let list = d.vec_u16().ok()?;
    let mut l = Reader::new(list);
    while let Ok(ty) = l.u8() {
        let name = l.vec_u16().ok()?;
        if ty == 0 {
            return std::str::from_utf8(name).ok();
        }
    }
    None
}

fn u16s(b: &[u8]) -> Vec<u16> {
    b.chunks_exact(2)
        .map(|c| {
            u16::from_be_bytes([
                c.first().copied().unwrap_or(0),
                c.get(1).copied().unwrap_or(0),
            ])
        })
        .collect()
}

fn list16(b: Result<&[u8], ProtoError>) -> Vec<u16> {
    b.map(u16s).unwrap_or_default()
}

fn push_dash_list(s: &mut String, it: impl Iterator<Item = u32>) {
    for (i, v) in it.enumerate() {
        if i > 0 {
            s.push('-');
        }
        push_decimal(s, v);
    }
}

fn push_two_digits(s: &mut String, n: usize) {
    let n = n.min(99) as u8;
    s.push(char::from(b'0' + n / 10));
    s.push(char::from(b'0' + n % 10));
}

fn hex_list(v: &[u16]) -> String {
    let mut s = String::with_capacity(v.len() * 5);
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&hex_lower(&x.to_be_bytes()));
    }
    s
}

fn truncated_sha256(s: &str) -> String {
    if s.is_empty() {
        return "000000000000".to_owned();
    }
    let d = Sha256::digest(s.as_bytes());
    hex_lower(d.get(..6).unwrap_or(&[]))
}

// ---- minimal DER walker ----

/// One TLV: tag, content, and the whole encoding (for name comparison).
fn der_tlv<'a>(r: &mut Reader<'a>) -> Option<(u8, &'a [u8], &'a [u8])> {
    let start = r.peek_rest();
    let tag = r.u8().ok()?;
    if tag & 0x1f == 0x1f {
        return None; // multi-byte tags never occur in the fields we read
    }
    let first = r.u8().ok()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut l = 0usize;
        for b in r.take(n).ok()? {
            l = (l << 8) | usize::from(*b);
        }
        l
    };
    let header = start.len() - r.remaining();
    let content = r.take(len).ok()?;
    let whole = start.get(..header + len)?;
    Some((tag, content, whole))
}

fn summarize_cert(der: &[u8]) -> Option<CertSummary> {
    let (t, cert, _) = der_tlv(&mut Reader::new(der))?;
    if t != DER_SEQUENCE {
        return None;
    }
    let (t, tbs, _) = der_tlv(&mut Reader::new(cert))?;
    if t != DER_SEQUENCE {
        return None;
    }
    let mut f = Reader::new(tbs);
    let (mut t, _, _) = der_tlv(&mut f)?;
    if t == 0xa0 {
        t = der_tlv(&mut f)?.0; // explicit version, then serial
    }
    if t != DER_INTEGER {
        return None;
    }
    let _sig_alg = der_tlv(&mut f)?;
    let (_, issuer, issuer_raw) = der_tlv(&mut f)?;
    let (_, validity, _) = der_tlv(&mut f)?;
    let (_, subject, subject_raw) = der_tlv(&mut f)?;
    Some(CertSummary {
        validity: parse_validity(validity),
        subject_cn: name_attr(subject, &OID_CN),
        subject_o: name_attr(subject, &OID_O),
        issuer_cn: name_attr(issuer, &OID_CN),
        issuer_o: name_attr(issuer, &OID_O),
        self_signed: issuer_raw == subject_raw,
    })
}

/// Validity ::= SEQUENCE { notBefore Time, notAfter Time } (RFC 5280 §4.1.2.5).
fn parse_validity(v: &[u8]) -> Option<(i64, i64)> {
    let mut r = Reader::new(v);
    let (t1, a, _) = der_tlv(&mut r)?;
    let (t2, b, _) = der_tlv(&mut r)?;
    Some((der_time(t1, a)?, der_time(t2, b)?))
}

/// A DER UTCTime (tag 0x17, `YYMMDDHHMM[SS]Z`, years 50–99 are 19xx) or GeneralizedTime
/// (tag 0x18, `YYYYMMDDHHMMSS[.f]Z`) as seconds since the Unix epoch. Offsets other
/// than `Z` (not allowed in certificates, seen in old ones) are applied.
pub fn der_time(tag: u8, v: &[u8]) -> Option<i64> {
    let digits = |s: &[u8]| -> Option<i64> {
        if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(s.iter().fold(0i64, |n, &d| n * 10 + i64::from(d - b'0')))
    };
    let (year, rest) = match tag {
        0x17 => {
            let yy = digits(v.get(..2)?)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, v.get(2..)?)
        }
        0x18 => (digits(v.get(..4)?)?, v.get(4..)?),
        _ => return None,
    };
    let month = digits(rest.get(..2)?)?;
    let day = digits(rest.get(2..4)?)?;
    let hour = digits(rest.get(4..6)?)?;
    let minute = digits(rest.get(6..8)?)?;
    let mut tail = rest.get(8..)?;
    let mut second = 0;
    if tail.len() >= 2 && tail[0].is_ascii_digit() {
        second = digits(&tail[..2])?;
        tail = &tail[2..];
    }
    if let Some(t) = tail.strip_prefix(b".") {
        let n = t.iter().take_while(|c| c.is_ascii_digit()).count();
        tail = &t[n..];
    }
    let offset = match tail {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), hh0, hh1, mm0, mm1] => {
            let o = digits(&[*hh0, *hh1])? * 3600 + digits(&[*mm0, *mm1])? * 60;
            if *sign == b'+' { o } else { -o }
        }
        _ => return None,
    };
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // Days from the civil date (proleptic Gregorian), Howard Hinnant's algorithm.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// First value of an attribute in an X.501 Name (SEQUENCE OF SET OF
/// SEQUENCE { OID, value }).
fn name_attr(name: &[u8], oid: &[u8]) -> Option<String> {
    let mut rdns = Reader::new(name);
    for _ in 0..MAX_RDNS {
        let (_, set, _) = der_tlv(&mut rdns)?;
        let mut atvs = Reader::new(set);
        while let Some((_, atv, _)) = der_tlv(&mut atvs) {
            let mut a = Reader::new(atv);
            let (t, o, _) = der_tlv(&mut a)?;
            if t == DER_OID && o == oid {
                let (vt, v, _) = der_tlv(&mut a)?;
                return Some(der_string(vt, v));
            }
        }
    }
    None
}

fn der_string(tag: u8, v: &[u8]) -> String {
    match tag {
        // BMPString: UTF-16BE
        0x1e => char::decode_utf16(v.chunks_exact(2).map(|c| {
            u16::from_be_bytes([
                c.first().copied().unwrap_or(0),
                c.get(1).copied().unwrap_or(0),
            ])
        }))
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect(),
        // T61/Teletex: treat as Latin-1
        0x14 => v.iter().map(|&b| char::from(b)).collect(),
        _ => String::from_utf8_lossy(v).into_owned(),
    }
}

const CT_HANDSHAKE: u8 = 22;
const HS_CLIENT_HELLO: u8 = 1;
const HS_SERVER_HELLO: u8 = 2;
const HS_CERTIFICATE: u8 = 11;

pub const EXT_SNI: u16 = 0x0000;
pub const EXT_SUPPORTED_GROUPS: u16 = 0x000a;
pub const EXT_EC_POINT_FORMATS: u16 = 0x000b;
pub const EXT_SIGNATURE_ALGORITHMS: u16 = 0x000d;
pub const EXT_ALPN: u16 = 0x0010;
pub const EXT_SUPPORTED_VERSIONS: u16 = 0x002b;

const MAX_CERTS: usize = 16;
const MAX_RDNS: usize = 32;
const DER_INTEGER: u8 = 0x02;
const DER_OID: u8 = 0x06;
const DER_SEQUENCE: u8 = 0x30;
const OID_CN: [u8; 3] = [0x55, 0x04, 0x03];
const OID_O: [u8; 3] = [0x55, 0x04, 0x0a];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Builds a ClientHello record from parts.
    fn client_hello(version: u16, ciphers: &[u16], exts: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&version.to_be_bytes());
        body.extend_from_slice(&[0x11; 32]); // random
        body.push(0); // empty session id
        body.extend_from_slice(&((ciphers.len() * 2) as u16).to_be_bytes());
        for c in ciphers {
            body.extend_from_slice(&c.to_be_bytes());
        }
        body.extend_from_slice(&[1, 0]); // compression: null
        let mut e = Vec::new();
        for (t, d) in exts {
            e.extend_from_slice(&t.to_be_bytes());
            e.extend_from_slice(&(d.len() as u16).to_be_bytes());
            e.extend_from_slice(d);
        }
        body.extend_from_slice(&(e.len() as u16).to_be_bytes());
        body.extend_from_slice(&e);
        let mut hs = vec![HS_CLIENT_HELLO];
        hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&body);
        let mut rec = vec![CT_HANDSHAKE, 3, 1];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }

    fn sample() -> Vec<u8> {
        #[rustfmt::skip]
        let exts = vec![
            (0x1a1a, vec![]), // GREASE
            (EXT_SNI, vec![0, 14, 0, 0, 11, b'e', b'x', b'a', b'm', b'p', b'l', b'e', b'.', b'c', b'o', b'm']),
            (EXT_SUPPORTED_GROUPS, vec![0, 6, 0x2a, 0x2a, 0x00, 0x1d, 0x00, 0x17]),
            (EXT_EC_POINT_FORMATS, vec![1, 0]),
            (EXT_SIGNATURE_ALGORITHMS, vec![0, 4, 0x04, 0x03, 0x08, 0x04]),
            (EXT_ALPN, vec![0, 12, 2, b'h', b'2', 8, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1']),
            (EXT_SUPPORTED_VERSIONS, vec![4, 0x3a, 0x3a, 0x03, 0x04]),
        ];
        client_hello(0x0303, &[0x0a0a, 0x1301, 0xc02b], &exts)
    }

    #[test]
    fn parses_client_hello_and_fingerprints() {
        let p = sample();
        let ch = parse_client_hello(&p).unwrap();
        assert_eq!(ch.record_version, 0x0301);
        assert_eq!(ch.handshake_version, 0x0303);
        assert_eq!(ch.cipher_suites, vec![0x0a0a, 0x1301, 0xc02b]);
        assert_eq!(ch.sni, Some("example.com"));
        assert_eq!(ch.alpn, vec![&b"h2"[..], b"http/1.1"]);
        assert_eq!(ch.supported_versions, vec![0x3a3a, 0x0304]);
        assert_eq!(ch.supported_groups, vec![0x2a2a, 0x1d, 0x17]);
        assert_eq!(ch.ec_point_formats, vec![0]);
        assert_eq!(ch.signature_algorithms, vec![0x0403, 0x0804]);
        assert_eq!(ch.ja3_string(), "771,4865-49195,0-10-11-13-16-43,29-23,0");
        assert_eq!(ch.ja3_hash().len(), 32);
        assert_eq!(
            ch.ja4_raw(Transport::Tcp),
            "t13d0206h2_1301,c02b_000a,000b,000d,002b_0403,0804"
        );
        let ja4 = ch.ja4(Transport::Tcp);
        assert!(ja4.starts_with("t13d0206h2_"), "{ja4}");
        assert_eq!(ja4.len(), 36);
        assert!(ch.ja4(Transport::Quic).starts_with('q'));
    }

    #[test]
    fn ja4_edge_cases() {
        // No extensions at all, SSLv3-era hello: i, 00 ALPN, empty hashes.
        let p = client_hello(0x0300, &[], &[]);
        let ch = parse_client_hello(&p).unwrap();
        assert_eq!(
            ch.ja4(Transport::Tcp),
            "ts3i000000_000000000000_000000000000"
        );
        // Non-alphanumeric ALPN uses hex first/last characters.
        let p = client_hello(0x0303, &[0x002f], &[(EXT_ALPN, vec![0, 3, 2, 0xab, 0xcd])]);
        let ch = parse_client_hello(&p).unwrap();
        assert!(ch.ja4(Transport::Tcp).starts_with("t12i0101ad_"));
        assert!(is_grease(0xfafa) && !is_grease(0x0a1a) && !is_grease(0x1301));
    }

    #[test]
    fn truncation_at_every_length_is_an_error() {
        let p = sample();
        for n in 0..p.len() {
            assert!(parse_client_hello(&p[..n]).is_err(), "len {n}");
        }
    }

    #[test]
    fn hostile_inputs() {
        assert_eq!(
            parse_client_hello(b"GET / HTTP/1.1"),
            Err(ProtoError::NotThisProtocol)
        );
        // Extension length runs past the block.
        let mut p = client_hello(0x0303, &[0x1301], &[(0x0017, vec![])]);
        let n = p.len();
        p[n - 1] = 0xff;
        assert!(parse_client_hello(&p).is_err());
        // Odd cipher list.
        let mut p = client_hello(0x0303, &[0x1301], &[]);
        p[9 + 2 + 32 + 1 + 1] = 3;
        assert!(parse_client_hello(&p).is_err());
        assert!(certificate_subjects(&[0x16, 3, 3, 0xff, 0xff, 0x0b]).is_empty());
    }

    /// DER helpers for a tiny synthetic certificate.
    fn der(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        if content.len() < 128 {
            v.push(content.len() as u8);
        } else {
            v.push(0x82);
            v.extend_from_slice(&(content.len() as u16).to_be_bytes());
        }
        v.extend_from_slice(content);
        v
    }

    fn name(cn: &str, o: &str) -> Vec<u8> {
        let atv = |oid: &[u8], s: &str| {
            der(
                0x31,
                &der(0x30, &[der(0x06, oid), der(0x0c, s.as_bytes())].concat()),
            )
        };
        der(0x30, &[atv(&OID_O, o), atv(&OID_CN, cn)].concat())
    }

    fn cert(issuer: &[u8], subject: &[u8]) -> Vec<u8> {
        cert_valid(issuer, subject, b"200101000000Z", b"20491231235959Z")
    }

    fn cert_valid(issuer: &[u8], subject: &[u8], from: &[u8], until: &[u8]) -> Vec<u8> {
        let time = |t: &[u8]| der(if t.len() == 13 { 0x17 } else { 0x18 }, t);
        let tbs = [
            der(0xa0, &der(0x02, &[2])),
            der(0x02, &[1, 2, 3]),
            der(0x30, &der(0x06, &[0x2a, 0x86, 0x48])),
            issuer.to_vec(),
            der(0x30, &[time(from), time(until)].concat()),
            subject.to_vec(),
            der(0x30, &[0; 200]), // spki placeholder, forces long-form length
        ]
        .concat();
        der(
            0x30,
            &[der(0x30, &tbs), der(0x30, &[]), der(0x03, &[0])].concat(),
        )
    }

    #[test]
    fn certificate_subjects_walks_chain() {
        let leaf = cert(
            &name("Hue CA", "Signify"),
            &name("001788fffe100491", "Philips Hue"),
        );
        let root = cert(&name("Hue CA", "Signify"), &name("Hue CA", "Signify"));
        let mut list = Vec::new();
        for c in [&leaf, &root] {
            list.extend_from_slice(&(c.len() as u32).to_be_bytes()[1..]);
            list.extend_from_slice(c);
        }
        let mut body = (list.len() as u32).to_be_bytes()[1..].to_vec();
        body.extend_from_slice(&list);
        // A ServerHelloDone-like message first, then the Certificate, split
        // over two records.
        let mut hs = vec![14, 0, 0, 0, HS_CERTIFICATE];
        hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&body);
        let (a, b) = hs.split_at(100);
        let mut p = Vec::new();
        for frag in [a, b] {
            p.extend_from_slice(&[CT_HANDSHAKE, 3, 3]);
            p.extend_from_slice(&(frag.len() as u16).to_be_bytes());
            p.extend_from_slice(frag);
        }
        let certs = certificate_subjects(&p);
        assert_eq!(certs.len(), 2);
        assert_eq!(certs[0].subject_cn.as_deref(), Some("001788fffe100491"));
        assert_eq!(certs[0].subject_o.as_deref(), Some("Philips Hue"));
        assert_eq!(certs[0].issuer_cn.as_deref(), Some("Hue CA"));
        assert!(!certs[0].self_signed);
        assert!(certs[1].self_signed);
        assert_eq!(certs[0].validity, Some((1_577_836_800, 2_524_607_999)));
        // Truncated payloads give fewer certificates, never a panic.
        for n in 0..p.len() {
            assert!(certificate_subjects(&p[..n]).len() < 2);
        }
    }

    #[test]
    fn der_times_match_the_calendar() {
        // Oracle: `date -u -d 2020-01-01T00:00:00Z +%s` and friends.
        assert_eq!(der_time(0x17, b"200101000000Z"), Some(1_577_836_800));
        assert_eq!(der_time(0x17, b"700101000000Z"), Some(0));
        assert_eq!(der_time(0x17, b"491231235959Z"), Some(2_524_607_999));
        assert_eq!(der_time(0x18, b"20491231235959Z"), Some(2_524_607_999));
        assert_eq!(der_time(0x18, b"20240229120000Z"), Some(1_709_208_000));
        assert_eq!(der_time(0x18, b"19691231235959Z"), Some(-1));
        assert_eq!(der_time(0x18, b"99991231235959Z"), Some(253_402_300_799));
        assert_eq!(der_time(0x17, b"2001010000Z"), Some(1_577_836_800));
        assert_eq!(der_time(0x17, b"200101000000+0100"), Some(1_577_833_200));
        assert_eq!(der_time(0x18, b"20200101000000.123Z"), Some(1_577_836_800));
        for bad in [
            &b""[..],
            b"2001010000",
            b"201301000000Z",
            b"200132000000Z",
            b"200101250000Z",
            b"20010100000aZ",
            b"200101000000Q",
            b"-00101000000Z",
        ] {
            assert_eq!(der_time(0x17, bad), None, "{bad:?}");
        }
        assert_eq!(der_time(0x04, b"200101000000Z"), None);
    }

    #[test]
    fn certificate_validity_is_read() {
        let c = cert_valid(
            &name("cam", "Acme"),
            &name("cam", "Acme"),
            b"150101000000Z",
            b"160101000000Z",
        );
        let s = summarize_cert(&c).expect("parses");
        assert!(s.self_signed);
        assert_eq!(s.validity, Some((1_420_070_400, 1_451_606_400)));
        // An unparseable time leaves the identity fields and drops the validity.
        let c = cert_valid(
            &name("cam", "Acme"),
            &name("x", "y"),
            b"1501",
            b"160101000000Z",
        );
        let s = summarize_cert(&c).expect("parses");
        assert_eq!(s.validity, None);
        assert_eq!(s.subject_cn.as_deref(), Some("x"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn der_time_never_panics_and_round_trips(
            tag in prop_oneof![Just(0x17u8), Just(0x18u8), any::<u8>()],
            raw in proptest::collection::vec(any::<u8>(), 0..24),
            y in 1950i64..2050, mo in 1i64..=12, d in 1i64..=28, h in 0i64..24, mi in 0i64..60, se in 0i64..60,
        ) {
            let _ = der_time(tag, &raw);
            let g = format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{se:02}Z");
            let u = format!("{:02}{mo:02}{d:02}{h:02}{mi:02}{se:02}Z", y % 100);
            let a = der_time(0x18, g.as_bytes());
            prop_assert!(a.is_some());
            prop_assert_eq!(a, der_time(0x17, u.as_bytes()));
            // One second later in the calendar is one second later in epoch time.
            if se < 59 {
                let g2 = format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{:02}Z", se + 1);
                prop_assert_eq!(der_time(0x18, g2.as_bytes()).map(|t| t - 1), a);
            }
        }

        #[test]
        fn certificate_with_any_validity_bytes_never_panics(
            v in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut c = cert(&name("a", "b"), &name("a", "b"));
            // splice random bytes in as the validity content
            let tbs = [
                der(0xa0, &der(0x02, &[2])),
                der(0x02, &[1]),
                der(0x30, &[]),
                name("a", "b"),
                der(0x30, &v),
                name("a", "b"),
            ].concat();
            c.clear();
            c.extend(der(0x30, &der(0x30, &tbs)));
            let _ = summarize_cert(&c);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(ch) = parse_client_hello(&data) {
                let _ = ch.ja4(Transport::Tcp);
                let _ = ch.ja3_hash();
            }
            let _ = parse_server_hello(&data);
            let _ = certificate_subjects(&data);
        }

        #[test]
        fn never_panics_with_valid_record_header(body in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut p = vec![CT_HANDSHAKE, 3, 3];
            p.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
            p.push(HS_CLIENT_HELLO);
            p.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
            p.extend_from_slice(&body);
            if let Ok(ch) = parse_client_hello(&p) {
                let _ = ch.ja4(Transport::Tcp);
                let _ = ch.ja3_string();
            }
            p[5] = HS_CERTIFICATE;
            let _ = certificate_subjects(&p);
        }
    }
}
