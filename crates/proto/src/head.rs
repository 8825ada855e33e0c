//! Line and header splitting shared by HTTP and SSDP (HTTPU).

use crate::trim_ows;

/// Headers kept per message; the rest are dropped and flagged.
pub const MAX_HEADERS: usize = 64;

/// One `name: value` header, both borrowed and trimmed.
pub type Header<'a> = (&'a [u8], &'a [u8]);

/// The result of splitting the header block of a message head.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Headers<'a> {
    pub(crate) headers: Vec<Header<'a>>,
    /// Offset just past the blank line, when the head ended in this input.
    pub(crate) body_offset: Option<usize>,
    pub(crate) capped: bool,
    /// Lines without a colon, skipped.
    pub(crate) bad_lines: usize,
}

/// Splits off one line ending in LF (CR optional). `None` when no LF.
pub(crate) fn line(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let nl = input.iter().position(|&b| b == b'\n')?;
    let (l, rest) = input.split_at_checked(nl)?;
    let l = l.strip_suffix(b"\r").unwrap_or(l);
    Some((l, rest.get(1..).unwrap_or(&[])))
}

/// Parses header lines starting at `start` (absolute offset `start` into
/// `input`). Only complete lines are used, so a head cut at a segment
/// boundary still yields the headers before the cut.
pub(crate) fn headers(input: &[u8], start: usize) -> Headers<'_> {
    let mut out = Headers {
        headers: Vec::with_capacity(12),
        ..Headers::default()
    };
    let mut rest = input.get(start..).unwrap_or(&[]);
    while let Some((l, after)) = line(rest) {
        rest = after;
        if l.is_empty() {
            out.body_offset = Some(input.len() - rest.len());
            break;
        }
        let Some(colon) = l.iter().position(|&b| b == b':') else {
            out.bad_lines += 1;
            continue;
        };
        let (name, value) = l.split_at(colon);
        let name = trim_ows(name);
        if name.is_empty() {
            out.bad_lines += 1;
            continue;
        }
        if out.headers.len() >= MAX_HEADERS {
            out.capped = true;
            continue;
        }
        out.headers
            .push((name, trim_ows(value.get(1..).unwrap_or(&[]))));
    }
    out
}

/// Case-insensitive lookup of the first header with this name.
pub(crate) fn find<'a>(headers: &[Header<'a>], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| *v)
}
