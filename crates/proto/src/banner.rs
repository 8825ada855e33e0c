//! Plain-text service banners: Telnet, FTP and SSH.
//!
//! The first bytes a server sends usually name its firmware ("BusyBox",
//! "Dropbear", vendor login prompts), which is often the best model hint.

use std::borrow::Cow;

/// Telnet command bytes (RFC 854).
pub const IAC: u8 = 255;
pub const DONT: u8 = 254;
pub const DO: u8 = 253;
pub const WONT: u8 = 252;
pub const WILL: u8 = 251;
pub const SB: u8 = 250;
pub const SE: u8 = 240;

/// One option negotiation seen in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiation {
    /// DO, DONT, WILL, WONT or SB.
    pub command: u8,
    pub option: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelnetText<'a> {
    /// Printable text with negotiation removed; borrowed when the payload
    /// needed no change.
    pub text: Cow<'a, str>,
    pub negotiations: Vec<Negotiation>,
}

/// Separates Telnet option negotiation from the printable text. Control
/// characters other than CR, LF and TAB are dropped.
pub fn telnet_text(payload: &[u8]) -> TelnetText<'_> {
    if !payload.contains(&IAC)
        && payload.iter().all(|&b| is_kept(b) && b < 0x80)
        && let Ok(s) = std::str::from_utf8(payload)
    {
        return TelnetText {
            text: Cow::Borrowed(s),
            negotiations: Vec::new(),
        };
    }
    let mut text = Vec::with_capacity(payload.len());
    let mut negotiations = Vec::new();
    let mut i = payload.iter().copied().peekable();
    while let Some(b) = i.next() {
        if b != IAC {
            if is_kept(b) {
                text.push(b);
            }
            continue;
        }
        match i.next() {
            Some(IAC) => text.push(IAC),
            Some(cmd @ (DO | DONT | WILL | WONT)) => {
                if let Some(option) = i.next() {
                    negotiations.push(Negotiation {
                        command: cmd,
                        option,
                    });
                }
            }
            Some(SB) => {
                if let Some(option) = i.next() {
                    negotiations.push(Negotiation {
                        command: SB,
                        option,
                    });
                }
                // Skip to IAC SE (or the end of the payload).
                while let Some(x) = i.next() {
                    if x == IAC && i.next_if_eq(&SE).is_some() {
                        break;
                    }
                }
            }
            _ => {} // other two-byte commands (NOP, GA, ...)
        }
    }
    TelnetText {
        text: Cow::Owned(String::from_utf8_lossy(&text).into_owned()),
        negotiations,
    }
}

fn is_kept(b: u8) -> bool {
    b >= 0x20 && b != 0x7f || b == b'\r' || b == b'\n' || b == b'\t'
}

/// The code and text of the first FTP reply line ("220 ProFTPD Server").
pub fn ftp_reply(payload: &[u8]) -> Option<(u16, &str)> {
    let line = first_line(payload)?;
    let [a, b, c, sep, rest @ ..] = line else {
        let code = crate::ssdp::parse_status(line)?;
        return (100..600).contains(&code).then_some((code, ""));
    };
    if *sep != b' ' && *sep != b'-' {
        return None;
    }
    let code = crate::ssdp::parse_status(&[*a, *b, *c])?;
    if !(100..600).contains(&code) {
        return None;
    }
    Some((code, std::str::from_utf8(rest).ok()?.trim_end()))
}

/// The SSH identification string ("SSH-2.0-dropbear_2019.78"), which may be
/// preceded by other lines (RFC 4253 §4.2).
pub fn ssh_banner(payload: &[u8]) -> Option<&str> {
    let mut rest = payload;
    for _ in 0..MAX_PRE_BANNER_LINES {
        let end = rest.iter().position(|&b| b == b'\n');
        let (line, next) = match end {
            Some(e) => (rest.get(..e)?, rest.get(e + 1..)?),
            None => (rest, &[][..]),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.starts_with(b"SSH-") && line.len() <= 255 {
            let s = std::str::from_utf8(line).ok()?;
            // protoversion and softwareversion must both be present.
            let mut parts = s.splitn(3, '-');
            let (_, proto, soft) = (parts.next(), parts.next()?, parts.next()?);
            return (!proto.is_empty() && !soft.is_empty()).then_some(s);
        }
        end?;
        rest = next;
    }
    None
}

fn first_line(p: &[u8]) -> Option<&[u8]> {
    let end = p.iter().position(|&b| b == b'\n')?;
    let l = p.get(..end)?;
    Some(l.strip_suffix(b"\r").unwrap_or(l))
}

const MAX_PRE_BANNER_LINES: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn strips_telnet_negotiation() {
        #[rustfmt::skip]
        let p = [
            IAC, DO, 24,             // DO TERMINAL-TYPE
            IAC, WILL, 1,            // WILL ECHO
            IAC, SB, 31, 0, 80, 0, 24, IAC, SE, // NAWS subnegotiation
            b'l', b'o', b'g', b'i', b'n', b':', b' ',
            IAC, IAC,                // escaped 255 (dropped as invalid UTF-8 -> U+FFFD)
            0x07,                    // BEL, dropped
        ];
        let t = telnet_text(&p);
        assert_eq!(t.text, "login: \u{fffd}");
        assert_eq!(
            t.negotiations,
            vec![
                Negotiation {
                    command: DO,
                    option: 24
                },
                Negotiation {
                    command: WILL,
                    option: 1
                },
                Negotiation {
                    command: SB,
                    option: 31
                },
            ]
        );
        let plain = telnet_text(b"BusyBox v1.19 login: ");
        assert!(matches!(plain.text, Cow::Borrowed("BusyBox v1.19 login: ")));
        // Truncated negotiation at every length: no panic.
        for n in 0..p.len() {
            let _ = telnet_text(&p[..n]);
        }
        assert_eq!(telnet_text(&[IAC]).text, "");
        assert_eq!(telnet_text(&[IAC, SB]).negotiations, vec![]);
    }

    #[test]
    fn ftp_and_ssh() {
        assert_eq!(
            ftp_reply(b"220 (vsFTPd 3.0.3)\r\n"),
            Some((220, "(vsFTPd 3.0.3)"))
        );
        assert_eq!(
            ftp_reply(b"220-Welcome\r\n220 ok\r\n"),
            Some((220, "Welcome"))
        );
        assert_eq!(ftp_reply(b"220\r\n"), Some((220, "")));
        assert_eq!(ftp_reply(b"220 no newline"), None);
        assert_eq!(ftp_reply(b"SSH-2.0-x\r\n"), None);
        assert_eq!(ftp_reply(b"999 nope\r\n"), None);
        assert_eq!(
            ssh_banner(b"SSH-2.0-dropbear_2019.78\r\n"),
            Some("SSH-2.0-dropbear_2019.78")
        );
        assert_eq!(
            ssh_banner(b"hello\r\nSSH-1.99-OpenSSH_3.9p1\n"),
            Some("SSH-1.99-OpenSSH_3.9p1")
        );
        assert_eq!(ssh_banner(b"SSH-2.0-"), None);
        assert_eq!(ssh_banner(b"220 ftp\r\n"), None);
        assert_eq!(ssh_banner(b""), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(384))]
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = telnet_text(&data);
            let _ = ftp_reply(&data);
            let _ = ssh_banner(&data);
        }
    }
}
