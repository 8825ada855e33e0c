//! HTTP/1.x transaction buffers (Suricata's http.* sticky buffers) from a stream.

use std::io::Read;

use palisade_proto::http;

use crate::parse::Buf;

/// One parsed message (request or response) with its buffers.
pub(crate) struct Tx {
    /// Buffers indexed by [`Buf::index`]; empty = absent.
    pub bufs: Vec<Option<Vec<u8>>>,
    /// Bytes the whole message occupies (head + body) when complete.
    pub consumed: Option<usize>,
}

impl Tx {
    fn new() -> Self {
        Tx {
            bufs: vec![None; Buf::ALL.len()],
            consumed: None,
        }
    }
    fn set(&mut self, b: Buf, v: Vec<u8>) {
        if let Some(slot) = self.bufs.get_mut(b.index()) {
            *slot = Some(v);
        }
    }
    pub fn get(&self, b: Buf) -> Option<&[u8]> {
        self.bufs.get(b.index()).and_then(|o| o.as_deref())
    }
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// libhtp-style normalization (IDS personality, simplified): %-decoding and `/./`, `//`
/// compaction in the path; the query is %-decoded.
pub(crate) fn normalize_uri(raw: &[u8]) -> Vec<u8> {
    // Absolute-form targets keep only the path for http.uri.
    let mut t = raw;
    if let Some(rest) = t
        .strip_prefix(b"http://")
        .or_else(|| t.strip_prefix(b"https://"))
    {
        t = match rest.iter().position(|&b| b == b'/') {
            Some(i) => &rest[i..],
            None => b"/",
        };
    }
    let mut out = Vec::with_capacity(t.len());
    let mut i = 0;
    while let Some(&c) = t.get(i) {
        if c == b'%'
            && let (Some(h), Some(l)) = (
                t.get(i + 1).and_then(|&x| hex(x)),
                t.get(i + 2).and_then(|&x| hex(x)),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(c);
        i += 1;
    }
    // Path compaction up to the query.
    let q = out.iter().position(|&b| b == b'?').unwrap_or(out.len());
    let (path, query) = out.split_at(q);
    let mut p: Vec<u8> = Vec::with_capacity(path.len());
    let mut segs: Vec<&[u8]> = Vec::new();
    let abs = path.first() == Some(&b'/');
    for s in path.split(|&b| b == b'/') {
        match s {
            b"." => {}
            b".." => {
                segs.pop();
            }
            _ => segs.push(s),
        }
    }
    if abs {
        // `split` yields a leading empty segment.
        for (k, s) in segs.iter().enumerate() {
            if k == 0 && s.is_empty() {
                continue;
            }
            p.push(b'/');
            p.extend_from_slice(s);
        }
        if p.is_empty() {
            p.push(b'/');
        }
        if path.ends_with(b"/.") || path.ends_with(b"/..") {
            p.push(b'/');
        }
    } else {
        p.extend_from_slice(path);
    }
    p.extend_from_slice(query);
    p
}

fn content_length(headers: &[(&[u8], &[u8])]) -> Option<usize> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(b"content-length"))
        .and_then(|(_, v)| std::str::from_utf8(v).ok()?.trim().parse().ok())
}

fn chunked(headers: &[(&[u8], &[u8])]) -> bool {
    headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case(b"transfer-encoding")
            && v.windows(7).any(|w| w.eq_ignore_ascii_case(b"chunked"))
    })
}

/// De-chunks as much as is present; returns (body, consumed bytes when the last chunk ended).
fn dechunk(b: &[u8], max: usize) -> (Vec<u8>, Option<usize>) {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let Some(nl) = b
            .get(i..)
            .and_then(|r| r.windows(2).position(|w| w == b"\r\n"))
        else {
            return (out, None);
        };
        let line = b.get(i..i + nl).unwrap_or(&[]);
        let hexpart = line.split(|&c| c == b';').next().unwrap_or(&[]);
        let Some(n) = std::str::from_utf8(hexpart)
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
        else {
            return (out, None);
        };
        i += nl + 2;
        if n == 0 {
            let end = b
                .get(i..)
                .and_then(|r| r.windows(2).position(|w| w == b"\r\n"));
            return (out, end.map(|e| i + e + 2));
        }
        let avail = b.len().saturating_sub(i).min(n);
        if out.len() < max {
            let take = avail.min(max - out.len());
            out.extend_from_slice(b.get(i..i + take).unwrap_or(&[]));
        }
        if avail < n {
            return (out, None);
        }
        i += n + 2;
    }
}

fn header_bufs(tx: &mut Tx, headers: &[(&[u8], &[u8])], head: &[u8], line_len: usize) {
    tx.set(Buf::HttpStart, head.to_vec());
    // Suricata has no header buffers for a message without headers: even a rule with only
    // negated contents (`content:!"Referer"`) does not match there.
    if headers.is_empty() {
        return;
    }
    let mut h = Vec::new();
    let mut names = b"\r\n".to_vec();
    for (n, v) in headers {
        h.extend_from_slice(n);
        h.extend_from_slice(b": ");
        h.extend_from_slice(v);
        h.extend_from_slice(b"\r\n");
        names.extend_from_slice(n);
        names.extend_from_slice(b"\r\n");
    }
    names.extend_from_slice(b"\r\n");
    tx.set(Buf::HttpHeader, h);
    tx.set(Buf::HttpHeaderNames, names);
    // Raw header: everything after the start line, with the terminating empty line.
    let raw = head.get(line_len..).unwrap_or(&[]);
    let raw = raw
        .strip_prefix(b"\r\n")
        .or_else(|| raw.strip_prefix(b"\n"))
        .unwrap_or(raw);
    tx.set(Buf::HttpRawHeader, raw.to_vec());
}

fn find_header<'a>(headers: &[(&'a [u8], &'a [u8])], name: &[u8]) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

/// Body of a message: (body so far, total consumed when complete).
fn body(
    headers: &[(&[u8], &[u8])],
    rest: &[u8],
    head_len: usize,
    is_response_without_length: bool,
    max: usize,
) -> (Vec<u8>, Option<usize>) {
    if chunked(headers) {
        let (b, c) = dechunk(rest, max);
        return (b, c.map(|c| head_len + c));
    }
    match content_length(headers) {
        Some(n) => {
            let have = rest.len().min(n);
            let b = rest.get(..have.min(max)).unwrap_or(&[]).to_vec();
            (b, (have == n).then_some(head_len + n))
        }
        None if is_response_without_length => (
            rest.get(..rest.len().min(max)).unwrap_or(&[]).to_vec(),
            None,
        ),
        None => (Vec::new(), Some(head_len)),
    }
}

/// Parses the request at the start of `s`; None until its head is complete.
pub(crate) fn request(s: &[u8], body_max: usize) -> Option<Tx> {
    let r = http::parse_request(s).ok()?;
    let head_len = r.body_offset?;
    let head = s.get(..head_len)?;
    let line_len = head.iter().position(|&b| b == b'\n').unwrap_or(0);
    let line = head.get(..line_len).unwrap_or(&[]);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut tx = Tx::new();
    tx.set(Buf::HttpMethod, r.method.to_vec());
    tx.set(Buf::HttpRawUri, r.target.to_vec());
    tx.set(Buf::HttpUri, normalize_uri(r.target));
    tx.set(Buf::HttpRequestLine, line.to_vec());
    header_bufs(&mut tx, &r.headers, head, line_len);
    if let Some(h) = find_header(&r.headers, b"host") {
        // http.host is normalized: lower case, no port.
        let h = match h.iter().rposition(|&b| b == b':') {
            Some(i)
                if h.get(i + 1..)
                    .is_some_and(|p| p.iter().all(u8::is_ascii_digit)) =>
            {
                &h[..i]
            }
            _ => h,
        };
        tx.set(Buf::HttpHost, h.to_ascii_lowercase());
    }
    if let Some(v) = find_header(&r.headers, b"user-agent") {
        tx.set(Buf::HttpUserAgent, v.to_vec());
    }
    if let Some(v) = find_header(&r.headers, b"referer") {
        tx.set(Buf::HttpReferer, v.to_vec());
    }
    if let Some(v) = find_header(&r.headers, b"cookie") {
        tx.set(Buf::HttpCookie, v.to_vec());
    }
    let (b, consumed) = body(
        &r.headers,
        s.get(head_len..).unwrap_or(&[]),
        head_len,
        false,
        body_max,
    );
    if !b.is_empty() {
        tx.set(Buf::HttpRequestBody, b);
    }
    tx.consumed = consumed;
    Some(tx)
}

/// Parses the response at the start of `s`; None until its head is complete.
pub(crate) fn response(s: &[u8], body_max: usize) -> Option<Tx> {
    let r = http::parse_response(s).ok()?;
    let head_len = r.body_offset?;
    let head = s.get(..head_len)?;
    let line_len = head.iter().position(|&b| b == b'\n').unwrap_or(0);
    let mut tx = Tx::new();
    tx.set(Buf::HttpStatCode, r.status.to_string().into_bytes());
    header_bufs(&mut tx, &r.headers, head, line_len);
    let no_body = r.status < 200 || r.status == 204 || r.status == 304;
    let (b, consumed) = if no_body {
        (Vec::new(), Some(head_len))
    } else {
        body(
            &r.headers,
            s.get(head_len..).unwrap_or(&[]),
            head_len,
            true,
            body_max,
        )
    };
    let b = decode_body(&r.headers, b, body_max);
    if !b.is_empty() {
        tx.set(Buf::HttpResponseBody, b);
    }
    tx.consumed = consumed;
    Some(tx)
}

/// A response body as `file.data` sees it: gzip/deflate `Content-Encoding` undone (as
/// libhtp does), at most `max` bytes produced whatever the input (decompression bombs stop
/// there). A body that does not decode, or decodes only in part (a capture that ends
/// mid-body), keeps what was decoded; nothing decoded keeps the raw bytes.
pub(crate) fn decode_body(headers: &[(&[u8], &[u8])], body: Vec<u8>, max: usize) -> Vec<u8> {
    let Some(enc) = find_header(headers, b"content-encoding") else {
        return body;
    };
    let enc = enc.trim_ascii().to_ascii_lowercase();
    let reader: Box<dyn Read + '_> = match &enc[..] {
        b"gzip" | b"x-gzip" => Box::new(flate2::read::GzDecoder::new(&body[..])),
        // "deflate" is zlib-wrapped per RFC 9110, raw deflate in practice too.
        b"deflate" if zlib_header(&body) => Box::new(flate2::read::ZlibDecoder::new(&body[..])),
        b"deflate" => Box::new(flate2::read::DeflateDecoder::new(&body[..])),
        _ => return body,
    };
    let mut out = Vec::new();
    let _ = reader.take(max as u64).read_to_end(&mut out);
    if out.is_empty() { body } else { out }
}

fn zlib_header(b: &[u8]) -> bool {
    match b {
        [cmf, flg, ..] => cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}
