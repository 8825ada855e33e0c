use std::io::{Cursor, Write};

use proptest::prelude::*;

use super::*;

fn reader(bytes: Vec<u8>) -> Result<CaptureReader, CaptureError> {
    CaptureReader::new(Box::new(Cursor::new(bytes)))
}

/// (timestamp, link type, bytes, interface) of each packet read.
type Read = (i64, u32, Vec<u8>, u32);

fn collect(bytes: Vec<u8>) -> (Vec<Read>, Option<CaptureError>) {
    let mut r = reader(bytes).expect("header");
    let mut out = Vec::new();
    loop {
        match r.next_packet() {
            Ok(Some(p)) => out.push((p.ts_ns, p.link_type.0, p.data.to_vec(), p.interface)),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

/// Classic pcap in either byte order and timestamp resolution.
fn pcap(be: bool, ns: bool, link: u32, recs: &[(u32, u32, &[u8])]) -> Vec<u8> {
    let w32 = |v: &mut Vec<u8>, x: u32| {
        if be {
            v.extend_from_slice(&x.to_be_bytes())
        } else {
            v.extend_from_slice(&x.to_le_bytes())
        }
    };
    let w16 = |v: &mut Vec<u8>, x: u16| {
        if be {
            v.extend_from_slice(&x.to_be_bytes())
        } else {
            v.extend_from_slice(&x.to_le_bytes())
        }
    };
    let mut v = Vec::new();
    w32(&mut v, if ns { 0xa1b2_3c4d } else { 0xa1b2_c3d4 });
    w16(&mut v, 2);
    w16(&mut v, 4);
    w32(&mut v, 0);
    w32(&mut v, 0);
    w32(&mut v, 65535);
    w32(&mut v, link);
    for (s, f, d) in recs {
        w32(&mut v, *s);
        w32(&mut v, *f);
        w32(&mut v, d.len() as u32);
        w32(&mut v, d.len() as u32);
        v.extend_from_slice(d);
    }
    v
}

struct Ng {
    be: bool,
    out: Vec<u8>,
}

impl Ng {
    fn new(be: bool) -> Self {
        let mut ng = Ng {
            be,
            out: Vec::new(),
        };
        let mut body = Vec::new();
        ng.put32(&mut body, 0x1a2b_3c4d);
        ng.put16(&mut body, 1);
        ng.put16(&mut body, 0);
        body.extend_from_slice(&(-1i64).to_le_bytes());
        ng.block(0x0a0d_0d0a, &body);
        ng
    }
    fn put32(&self, v: &mut Vec<u8>, x: u32) {
        if self.be {
            v.extend_from_slice(&x.to_be_bytes())
        } else {
            v.extend_from_slice(&x.to_le_bytes())
        }
    }
    fn put16(&self, v: &mut Vec<u8>, x: u16) {
        if self.be {
            v.extend_from_slice(&x.to_be_bytes())
        } else {
            v.extend_from_slice(&x.to_le_bytes())
        }
    }
    fn block(&mut self, t: u32, body: &[u8]) {
        let mut body = body.to_vec();
        while !body.len().is_multiple_of(4) {
            body.push(0);
        }
        let len = body.len() as u32 + 12;
        let mut b = Vec::new();
        self.put32(&mut b, t);
        self.put32(&mut b, len);
        b.extend_from_slice(&body);
        self.put32(&mut b, len);
        self.out.extend_from_slice(&b);
    }
    fn idb(&mut self, link: u16, tsresol: Option<u8>) {
        let mut body = Vec::new();
        self.put16(&mut body, link);
        self.put16(&mut body, 0);
        self.put32(&mut body, 65535);
        if let Some(r) = tsresol {
            self.put16(&mut body, 9);
            self.put16(&mut body, 1);
            body.extend_from_slice(&[r, 0, 0, 0]);
            self.put16(&mut body, 0);
            self.put16(&mut body, 0);
        }
        self.block(1, &body);
    }
    fn epb(&mut self, iface: u32, ts: u64, data: &[u8]) {
        let mut body = Vec::new();
        self.put32(&mut body, iface);
        self.put32(&mut body, (ts >> 32) as u32);
        self.put32(&mut body, ts as u32);
        self.put32(&mut body, data.len() as u32);
        self.put32(&mut body, data.len() as u32);
        body.extend_from_slice(data);
        self.block(6, &body);
    }
    fn spb(&mut self, data: &[u8]) {
        let mut body = Vec::new();
        self.put32(&mut body, data.len() as u32);
        body.extend_from_slice(data);
        self.block(3, &body);
    }
}

#[test]
fn pcap_all_byte_orders_and_resolutions() {
    for be in [false, true] {
        for ns in [false, true] {
            let bytes = pcap(
                be,
                ns,
                1,
                &[(1_700_000_000, 123, b"abcdef"), (1_700_000_001, 7, b"xyz")],
            );
            let (pk, err) = collect(bytes);
            assert!(err.is_none(), "{err:?}");
            assert_eq!(pk.len(), 2);
            let mul = if ns { 1 } else { 1000 };
            assert_eq!(pk[0].0, 1_700_000_000 * 1_000_000_000 + 123 * mul);
            assert_eq!(pk[0].2, b"abcdef");
            assert_eq!(pk[1].2, b"xyz");
            assert_eq!(pk[1].1, 1);
        }
    }
}

#[test]
fn pcapng_interfaces_resolutions_and_unknown_blocks() {
    for be in [false, true] {
        let mut ng = Ng::new(be);
        ng.idb(1, None); // Ethernet, microseconds
        ng.idb(101, Some(9)); // raw IP, nanoseconds
        ng.block(0x0000_0bad, b"custom block we do not know");
        ng.epb(0, 1_700_000_000_000_000, b"eth-frame");
        ng.epb(1, 1_700_000_000_000_000_001, b"raw-ip");
        ng.spb(b"simple");
        let (pk, err) = collect(ng.out);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(pk.len(), 3);
        assert_eq!(
            pk[0],
            (1_700_000_000_000_000_000, 1, b"eth-frame".to_vec(), 0)
        );
        assert_eq!(
            pk[1],
            (1_700_000_000_000_000_001, 101, b"raw-ip".to_vec(), 1)
        );
        assert_eq!(pk[2].2, b"simple");
    }
}

#[test]
fn pcapng_binary_tsresol() {
    let mut ng = Ng::new(false);
    ng.idb(1, Some(0x80 | 10)); // 2^-10 s units
    ng.epb(0, 1024 * 5 + 512, b"x");
    let (pk, _) = collect(ng.out);
    assert_eq!(pk[0].0, 5_500_000_000);
}

#[test]
fn gzip_input_is_transparent() {
    let raw = pcap(false, false, 1, &[(1, 2, b"hello")]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).unwrap();
    let dir = std::env::temp_dir().join(format!("palisade-cap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("t.pcap.gz");
    std::fs::write(&path, gz.finish().unwrap()).unwrap();
    let mut r = open(&path).unwrap();
    let p = r.next_packet().unwrap().unwrap();
    assert_eq!(p.data, b"hello");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn writer_round_trips() {
    let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET, true).unwrap();
    w.write_packet(1_234_567_890_123_456_789, b"frame").unwrap();
    let (pk, err) = collect(w.into_inner());
    assert!(err.is_none());
    assert_eq!(pk[0].0, 1_234_567_890_123_456_789);
}

#[test]
fn malformed_empty_and_short_headers() {
    assert!(matches!(reader(vec![]), Err(CaptureError::Empty)));
    assert!(matches!(
        reader(vec![0xd4, 0xc3]),
        Err(CaptureError::Truncated { .. })
    ));
    let full = pcap(false, false, 1, &[]);
    assert!(matches!(
        reader(full[..20].to_vec()),
        Err(CaptureError::Truncated { offset: 0, .. })
    ));
    assert!(matches!(
        reader(b"GIF89a this is not a capture".to_vec()),
        Err(CaptureError::BadMagic { .. })
    ));
}

#[test]
fn malformed_truncated_record_keeps_earlier_packets() {
    let bytes = pcap(
        false,
        false,
        1,
        &[(1, 0, b"first"), (2, 0, b"second-record")],
    );
    let cut = bytes.len() - 4;
    let (pk, err) = collect(bytes[..cut].to_vec());
    assert_eq!(pk.len(), 1, "the complete first record survives");
    match err {
        Some(CaptureError::Truncated { offset, .. }) => assert_eq!(offset, 24 + 16 + 5),
        other => panic!("expected truncation, got {other:?}"),
    }
    // Truncated inside the record header.
    let (pk, err) = collect(bytes[..24 + 16 + 5 + 7].to_vec());
    assert_eq!(pk.len(), 1);
    assert!(matches!(err, Some(CaptureError::Truncated { .. })));
}

#[test]
fn malformed_absurd_record_length() {
    let mut bytes = pcap(false, false, 1, &[(1, 0, b"ok")]);
    bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
    bytes.extend_from_slice(&0x7fff_fff0u32.to_le_bytes());
    bytes.extend_from_slice(&0x7fff_fff0u32.to_le_bytes());
    let (pk, err) = collect(bytes);
    assert_eq!(pk.len(), 1);
    assert!(
        matches!(err, Some(CaptureError::AbsurdLength { offset, .. }) if offset == 24 + 18 + 8)
    );
}

#[test]
fn malformed_pcapng_block_lengths() {
    let mut ng = Ng::new(false);
    ng.idb(1, None);
    ng.epb(0, 5, b"good");
    let good_len = ng.out.len();
    ng.epb(0, 6, b"bad!");
    // Corrupt the second EPB's leading length (not a multiple of 4).
    let mut bytes = ng.out.clone();
    bytes[good_len + 4] = 0x13;
    let (pk, err) = collect(bytes);
    assert_eq!(pk.len(), 1);
    assert!(
        matches!(err, Some(CaptureError::CorruptBlock { offset, .. }) if offset == good_len as u64 + 4)
    );
    // Trailing length mismatch.
    let mut bytes = ng.out.clone();
    let last = bytes.len() - 4;
    bytes[last] ^= 0x04;
    let (pk, err) = collect(bytes);
    assert_eq!(pk.len(), 1);
    assert!(matches!(err, Some(CaptureError::CorruptBlock { .. })));
    // Absurdly long block.
    let mut bytes = ng.out.clone();
    bytes[good_len + 4..good_len + 8].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
    let (_, err) = collect(bytes);
    assert!(matches!(err, Some(CaptureError::AbsurdLength { .. })));
    // Packet for an interface that was never declared.
    let mut ng2 = Ng::new(false);
    ng2.epb(3, 1, b"orphan");
    let (pk, err) = collect(ng2.out);
    assert!(pk.is_empty());
    assert!(matches!(err, Some(CaptureError::CorruptBlock { .. })));
}

#[test]
fn errors_stop_the_file_and_stay_stopped() {
    let bytes = pcap(false, false, 1, &[(1, 0, b"x")]);
    let mut r = reader(bytes[..bytes.len() - 1].to_vec()).unwrap();
    assert!(r.next_packet().is_err());
    assert!(matches!(r.next_packet(), Ok(None)));
}

#[test]
fn large_input_streams_through_a_bounded_buffer() {
    // 40 MB of records: the reader must never hold more than its fixed buffer.
    let rec = [0x55u8; 1000];
    let recs: Vec<(u32, u32, &[u8])> = (0..40_000).map(|i| (i, 0, &rec[..])).collect();
    let bytes = pcap(false, false, 1, &recs);
    let mut r = reader(bytes).unwrap();
    let mut n = 0;
    while let Some(p) = r.next_packet().unwrap() {
        assert_eq!(p.data.len(), 1000);
        n += 1;
    }
    assert_eq!(n, 40_000);
    assert!(r.src.buf.len() <= READ_CHUNK + MAX_BLOCK);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn never_panics_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        fuzzing::read_all(&data);
    }

    #[test]
    fn never_panics_on_mutated_captures(flip in proptest::collection::vec((0usize..200, any::<u8>()), 1..8), cut in 0usize..200) {
        let mut ng = Ng::new(false);
        ng.idb(1, Some(9));
        ng.epb(0, 77, b"some frame bytes here");
        ng.spb(b"more");
        let mut bytes = ng.out;
        for (i, b) in flip { if let Some(x) = bytes.get_mut(i % 200) { *x = b; } }
        bytes.truncate(cut.max(1));
        fuzzing::read_all(&bytes);
        let mut p = pcap(true, true, 1, &[(1, 2, b"abc"), (3, 4, b"defg")]);
        if let Some(x) = p.get_mut(cut % 60) { *x ^= 0xff; }
        fuzzing::read_all(&p);
    }
}
