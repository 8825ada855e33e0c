//! DHCPv4 / BOOTP (RFC 2131, RFC 2132).
//!
//! DHCP is the richest passive source of device identity on a LAN: the
//! hostname, vendor class and parameter request list together fingerprint
//! the client's OS and DHCP stack, so the parser keeps all of them borrowed.

use crate::ProtoError;
use crate::reader::Reader;

/// A parsed DHCP message; option values borrow from the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dhcp<'a> {
    /// 1 = BOOTREQUEST, 2 = BOOTREPLY.
    pub op: u8,
    pub htype: u8,
    pub hlen: u8,
    pub hops: u8,
    pub xid: u32,
    pub secs: u16,
    pub flags: u16,
    pub ciaddr: [u8; 4],
    pub yiaddr: [u8; 4],
    pub siaddr: [u8; 4],
    pub giaddr: [u8; 4],
    /// First six bytes of `chaddr`; meaningful when `htype == 1 && hlen == 6`.
    pub client_mac: [u8; 6],
    /// `sname` up to its first NUL, unless option 52 reuses the field.
    pub server_name: Option<&'a [u8]>,
    /// `file` up to its first NUL, unless option 52 reuses the field.
    pub boot_file: Option<&'a [u8]>,
    /// Option 53.
    pub message_type: Option<u8>,
    /// Option 12.
    pub hostname: Option<&'a [u8]>,
    /// Option 60.
    pub vendor_class: Option<&'a [u8]>,
    /// Option 55, in wire order (the order is part of the fingerprint).
    pub param_request_list: Option<&'a [u8]>,
    /// Option 50.
    pub requested_ip: Option<[u8; 4]>,
    /// Option 54.
    pub server_id: Option<[u8; 4]>,
    /// Option 61 (type byte included).
    pub client_id: Option<&'a [u8]>,
    /// Option 15.
    pub domain_name: Option<&'a [u8]>,
    /// Option 3, first router only.
    pub router: Option<[u8; 4]>,
    /// Option 81, the name after the flags and RCODE bytes (wire or ASCII form
    /// according to the E flag in `fqdn_flags`).
    pub fqdn: Option<&'a [u8]>,
    pub fqdn_flags: Option<u8>,
    /// Option 57.
    pub max_message_size: Option<u16>,
    /// Option 52 value (1 = file, 2 = sname, 3 = both carry options).
    pub overload: Option<u8>,
    /// Option regions in RFC 2131 processing order: options, file, sname.
    regions: [&'a [u8]; 3],
}

/// Parses a DHCP message from a UDP payload (ports 67/68).
pub fn parse(udp_payload: &[u8]) -> Result<Dhcp<'_>, ProtoError> {
    let mut r = Reader::new(udp_payload);
    let op = r.u8()?;
    if op != 1 && op != 2 {
        return Err(ProtoError::NotThisProtocol);
    }
    let htype = r.u8()?;
    let hlen = r.u8()?;
    let hops = r.u8()?;
    let xid = r.u32()?;
    let secs = r.u16()?;
    let flags = r.u16()?;
    let ciaddr = r.array()?;
    let yiaddr = r.array()?;
    let siaddr = r.array()?;
    let giaddr = r.array()?;
    let chaddr: [u8; 16] = r.array()?;
    let sname = r.take(64)?;
    let file = r.take(128)?;
    let cookie_at = r.offset();
    let cookie = r.array::<4>()?;
    if cookie != MAGIC_COOKIE {
        return Err(ProtoError::Malformed {
            offset: cookie_at,
            what: "DHCP magic cookie",
        });
    }
    let options = r.rest();

    let mut client_mac = [0u8; 6];
    if let Some(m) = chaddr.first_chunk::<6>() {
        client_mac = *m;
    }

    let mut d = Dhcp {
        op,
        htype,
        hlen,
        hops,
        xid,
        secs,
        flags,
        ciaddr,
        yiaddr,
        siaddr,
        giaddr,
        client_mac,
        server_name: None,
        boot_file: None,
        message_type: None,
        hostname: None,
        vendor_class: None,
        param_request_list: None,
        requested_ip: None,
        server_id: None,
        client_id: None,
        domain_name: None,
        router: None,
        fqdn: None,
        fqdn_flags: None,
        max_message_size: None,
        overload: None,
        regions: [options, &[], &[]],
    };

    // The main options field must be terminated by End (255): a message
    // without it was cut short.
    walk(options, OPTIONS_OFFSET, true, &mut d)?;
    let overload = d.overload.unwrap_or(0);
    if overload & 1 != 0 {
        d.regions[1] = file;
        walk(file, FILE_OFFSET, false, &mut d)?;
    } else {
        d.boot_file = Some(until_nul(file));
    }
    if overload & 2 != 0 {
        d.regions[2] = sname;
        walk(sname, SNAME_OFFSET, false, &mut d)?;
    } else {
        d.server_name = Some(until_nul(sname));
    }
    Ok(d)
}

impl<'a> Dhcp<'a> {
    /// Option codes in wire order across all option regions (pad and end
    /// excluded), for option-order fingerprints.
    pub fn option_codes(&self) -> impl Iterator<Item = u8> + '_ {
        self.options().map(|(code, _)| code)
    }

    /// Every option as `(code, value)`, in wire order across regions.
    pub fn options(&self) -> impl Iterator<Item = (u8, &'a [u8])> + '_ {
        self.regions.into_iter().flat_map(OptionIter::new)
    }

    /// The first occurrence of an option by code.
    pub fn option(&self, code: u8) -> Option<&'a [u8]> {
        self.options().find(|(c, _)| *c == code).map(|(_, v)| v)
    }
}

/// Renders a parameter request list as the "1,3,6,15" string used by
/// DHCP fingerprint databases.
pub fn fingerprint_string(prl: &[u8]) -> String {
    let mut s = String::with_capacity(prl.len() * 4);
    for (i, b) in prl.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        push_decimal(&mut s, u32::from(*b));
    }
    s
}

pub(crate) fn push_decimal(s: &mut String, v: u32) {
    use std::fmt::Write;
    let _ = write!(s, "{v}");
}

/// Lenient iterator over one option region; stops at End or on a malformed
/// option (the strict walk in [`parse`] has already reported those).
struct OptionIter<'a> {
    rest: &'a [u8],
}

impl<'a> OptionIter<'a> {
    fn new(rest: &'a [u8]) -> Self {
        Self { rest }
    }
}

impl<'a> Iterator for OptionIter<'a> {
    type Item = (u8, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (&code, rest) = self.rest.split_first()?;
            match code {
                OPT_PAD => self.rest = rest,
                OPT_END => {
                    self.rest = &[];
                    return None;
                }
                _ => {
                    let (&len, rest) = rest.split_first()?;
                    let Some((val, rest)) = rest.split_at_checked(usize::from(len)) else {
                        self.rest = &[];
                        return None;
                    };
                    self.rest = rest;
                    return Some((code, val));
                }
            }
        }
    }
}

fn walk<'a>(
    region: &'a [u8],
    base: usize,
    need_end: bool,
    d: &mut Dhcp<'a>,
) -> Result<(), ProtoError> {
    let mut r = Reader::with_base(region, base);
    loop {
        if r.is_empty() {
            return if need_end {
                Err(r.truncated(1))
            } else {
                Ok(())
            };
        }
        let code = r.u8()?;
        match code {
            OPT_PAD => continue,
            OPT_END => return Ok(()),
            _ => {}
        }
        let len = r.u8()?;
        let at = r.offset();
        let v = r.take(usize::from(len))?;
        let ipv4 = |v: &[u8]| -> Result<[u8; 4], ProtoError> {
            v.first_chunk::<4>().copied().ok_or(ProtoError::Malformed {
                offset: at,
                what: "DHCP address option shorter than 4 bytes",
            })
        };
        match code {
            OPT_ROUTER => d.router = d.router.or(Some(ipv4(v)?)),
            OPT_HOSTNAME => d.hostname = d.hostname.or(Some(v)),
            OPT_DOMAIN_NAME => d.domain_name = d.domain_name.or(Some(v)),
            OPT_REQUESTED_IP => d.requested_ip = d.requested_ip.or(Some(ipv4(v)?)),
            // Overload is only meaningful in the main options field.
            OPT_OVERLOAD if base == OPTIONS_OFFSET => d.overload = v.first().copied(),
            OPT_MESSAGE_TYPE => d.message_type = d.message_type.or(v.first().copied()),
            OPT_SERVER_ID => d.server_id = d.server_id.or(Some(ipv4(v)?)),
            OPT_PRL => d.param_request_list = d.param_request_list.or(Some(v)),
            OPT_MAX_SIZE => {
                let mm = v.first_chunk::<2>().map(|b| u16::from_be_bytes(*b)).ok_or(
                    ProtoError::Malformed {
                        offset: at,
                        what: "DHCP max message size shorter than 2 bytes",
                    },
                )?;
                d.max_message_size = d.max_message_size.or(Some(mm));
            }
            OPT_VENDOR_CLASS => d.vendor_class = d.vendor_class.or(Some(v)),
            OPT_CLIENT_ID => d.client_id = d.client_id.or(Some(v)),
            OPT_FQDN => {
                if let [flags, _rcode1, _rcode2, name @ ..] = v {
                    d.fqdn_flags = d.fqdn_flags.or(Some(*flags));
                    d.fqdn = d.fqdn.or(Some(name));
                } else {
                    return Err(ProtoError::Malformed {
                        offset: at,
                        what: "DHCP FQDN option shorter than 3 bytes",
                    });
                }
            }
            _ => {}
        }
    }
}

fn until_nul(s: &[u8]) -> &[u8] {
    let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
    s.get(..end).unwrap_or(s)
}

const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
const SNAME_OFFSET: usize = 44;
const FILE_OFFSET: usize = 108;
const OPTIONS_OFFSET: usize = 240;

const OPT_PAD: u8 = 0;
const OPT_ROUTER: u8 = 3;
const OPT_HOSTNAME: u8 = 12;
const OPT_DOMAIN_NAME: u8 = 15;
const OPT_REQUESTED_IP: u8 = 50;
const OPT_OVERLOAD: u8 = 52;
const OPT_MESSAGE_TYPE: u8 = 53;
const OPT_SERVER_ID: u8 = 54;
const OPT_PRL: u8 = 55;
const OPT_MAX_SIZE: u8 = 57;
const OPT_VENDOR_CLASS: u8 = 60;
const OPT_CLIENT_ID: u8 = 61;
const OPT_FQDN: u8 = 81;
const OPT_END: u8 = 255;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A DHCPDISCOVER with the fixed BOOTP part built programmatically and
    /// an annotated option block.
    fn discover(options: &[u8], file: Option<&[u8]>, sname: Option<&[u8]>) -> Vec<u8> {
        let mut p = vec![
            0x01, 0x01, 0x06, 0x00, // op=request htype=eth hlen=6 hops=0
            0xde, 0xad, 0xbe, 0xef, // xid
            0x00, 0x03, 0x80, 0x00, // secs=3 flags=broadcast
        ];
        p.extend_from_slice(&[0, 0, 0, 0]); // ciaddr
        p.extend_from_slice(&[0, 0, 0, 0]); // yiaddr
        p.extend_from_slice(&[0, 0, 0, 0]); // siaddr
        p.extend_from_slice(&[0, 0, 0, 0]); // giaddr
        let mut chaddr = [0u8; 16];
        chaddr[..6].copy_from_slice(&[0x00, 0x11, 0x22, 0x33, 0x44, 0x55]);
        p.extend_from_slice(&chaddr);
        let mut sname_f = [0u8; 64];
        if let Some(s) = sname {
            sname_f[..s.len()].copy_from_slice(s);
        }
        p.extend_from_slice(&sname_f);
        let mut file_f = [0u8; 128];
        if let Some(f) = file {
            file_f[..f.len()].copy_from_slice(f);
        }
        p.extend_from_slice(&file_f);
        p.extend_from_slice(&MAGIC_COOKIE);
        p.extend_from_slice(options);
        p
    }

    const OPTS: &[u8] = &[
        53, 1, 1, // message type = DISCOVER
        61, 7, 1, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, // client id
        50, 4, 192, 168, 1, 50, // requested ip
        12, 4, b'c', b'a', b'm', b'1', // hostname "cam1"
        60, 8, b'M', b'S', b'F', b'T', b' ', b'5', b'.', b'0', // vendor class
        55, 4, 1, 3, 6, 15, // PRL
        57, 2, 0x05, 0xdc, // max size 1500
        81, 6, 0x00, 0, 0, b'c', b'a', b'm', // fqdn "cam"
        0, 0,   // pad
        255, // end
    ];

    #[test]
    fn parses_discover() {
        let p = discover(OPTS, None, Some(b"srv"));
        let d = parse(&p).unwrap();
        assert_eq!(d.op, 1);
        assert_eq!(d.xid, 0xdeadbeef);
        assert_eq!(d.client_mac, [0x00, 0x11, 0x22, 0x33, 0x44, 0x55]);
        assert_eq!(d.message_type, Some(1));
        assert_eq!(d.hostname, Some(&b"cam1"[..]));
        assert_eq!(d.vendor_class, Some(&b"MSFT 5.0"[..]));
        assert_eq!(d.param_request_list, Some(&[1u8, 3, 6, 15][..]));
        assert_eq!(d.requested_ip, Some([192, 168, 1, 50]));
        assert_eq!(d.max_message_size, Some(1500));
        assert_eq!(d.fqdn, Some(&b"cam"[..]));
        assert_eq!(d.client_id.map(<[u8]>::len), Some(7));
        assert_eq!(d.server_name, Some(&b"srv"[..]));
        assert_eq!(d.boot_file, Some(&b""[..]));
        assert_eq!(
            d.option_codes().collect::<Vec<_>>(),
            vec![53, 61, 50, 12, 60, 55, 57, 81]
        );
        assert_eq!(
            fingerprint_string(d.param_request_list.unwrap()),
            "1,3,6,15"
        );
        assert_eq!(fingerprint_string(&[]), "");
    }

    #[test]
    fn honours_overload() {
        let opts = [
            53, 1, 3, // REQUEST
            52, 1, 3, // overload: file and sname
            255,
        ];
        let file = [12, 3, b'a', b'b', b'c', 255];
        let sname = [60, 2, b'v', b'c', 255];
        let p = discover(&opts, Some(&file), Some(&sname));
        let d = parse(&p).unwrap();
        assert_eq!(d.overload, Some(3));
        assert_eq!(d.hostname, Some(&b"abc"[..]));
        assert_eq!(d.vendor_class, Some(&b"vc"[..]));
        assert_eq!(d.server_name, None);
        assert_eq!(d.boot_file, None);
        assert_eq!(d.option_codes().collect::<Vec<_>>(), vec![53, 52, 12, 60]);
    }

    #[test]
    fn truncation_at_every_length_is_an_error() {
        let p = discover(OPTS, None, None);
        for n in 0..p.len() {
            assert!(parse(&p[..n]).is_err(), "len {n}");
        }
    }

    #[test]
    fn hostile_inputs() {
        // Option length runs past the end.
        assert!(matches!(
            parse(&discover(&[12, 200, b'x'], None, None)),
            Err(ProtoError::Truncated { .. })
        ));
        // Short address option.
        assert!(matches!(
            parse(&discover(&[54, 2, 1, 2, 255], None, None)),
            Err(ProtoError::Malformed { .. })
        ));
        // Wrong cookie.
        let mut p = discover(OPTS, None, None);
        p[236] = 0;
        assert!(matches!(
            parse(&p),
            Err(ProtoError::Malformed { offset: 236, .. })
        ));
        // Not BOOTP at all.
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\n"),
            Err(ProtoError::NotThisProtocol)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(384))]
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse(&data);
        }

        #[test]
        fn never_panics_with_valid_header(opts in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(d) = parse(&discover(&opts, None, None)) {
                let _ = d.option_codes().count();
            }
        }
    }
}
