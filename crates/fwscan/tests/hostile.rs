//! Hostile archives built here: path traversal, absolute names, escaping symlinks and
//! symlink loops, decompression bombs, entry and size floods, deep nesting, truncated and
//! corrupted file systems. Each must end in a clear error or a warning, within the limits.

use std::io::Write;
use std::time::Instant;

use palisade_fwscan::cpio::write_newc;
use palisade_fwscan::tar::write_ustar;
use palisade_fwscan::{Limits, ResolveError, ScanOptions, UnpackError, scan, unpack};
use palisade_risk::assess::Knowledge;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A gzip stream of `n` zero bytes, written in chunks (no `n`-byte buffer).
fn gzip_zeros(n: usize) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![0u8; 1 << 20];
    let mut left = n;
    while left > 0 {
        let k = left.min(chunk.len());
        e.write_all(&chunk[..k]).unwrap();
        left -= k;
    }
    e.finish().unwrap()
}

#[test]
fn traversal_and_absolute_names() {
    let tar = write_ustar(&[
        ("../../etc/passwd", b'0', "", b"evil:x:0:0::/:/bin/sh\n"),
        ("ok/../../escape", b'0', "", b"x"),
        ("/etc/shadow", b'0', "", b"root::1::::::\n"),
        ("etc/hostname", b'0', "", b"cam\n"),
    ]);
    let vfs = unpack(&tar, &Limits::default()).unwrap();
    let w: Vec<String> = vfs.warnings().iter().map(|w| w.message.clone()).collect();
    assert_eq!(
        w.iter().filter(|m| m.contains("path traversal")).count(),
        2,
        "{w:?}"
    );
    assert!(w.iter().any(|m| m.contains("absolute name")), "{w:?}");
    // Traversal members are dropped; the absolute one lives under the archive root.
    assert!(vfs.get("/etc/passwd").is_none());
    assert!(vfs.iter().all(|(p, _)| !p.contains("..")));
    assert_eq!(vfs.read("/etc/shadow"), Some(&b"root::1::::::\n"[..]));
    // Warnings name the layer and the member's byte offset.
    assert_eq!(vfs.warnings()[0].at, "<image>");
    assert_eq!(vfs.warnings()[0].offset, Some(0));

    let cpio = write_newc(&[
        ("../../../tmp/x", 0o100644, b"x"),
        ("etc/passwd", 0o100644, b"root::0:0::/:/bin/sh\n"),
    ]);
    let vfs = unpack(&cpio, &Limits::default()).unwrap();
    assert!(vfs.warnings()[0].message.contains("path traversal"));
    assert!(vfs.read("/etc/passwd").is_some());
}

#[test]
fn escaping_symlinks_and_loops() {
    let tar = write_ustar(&[
        ("etc/", b'5', "", b""),
        // Points at itself once confined: resolving must fail as a loop, not read the host.
        ("etc/passwd", b'2', "../../../../../../etc/passwd", b""),
        ("etc/shadow", b'2', "/etc/shadow2", b""),
        ("etc/shadow2", b'2', "shadow", b""),
        ("a", b'2', "b", b""),
        ("b", b'2', "c/../a", b""),
        ("c/", b'5', "", b""),
    ]);
    let vfs = unpack(&tar, &Limits::default()).unwrap();
    assert!(
        vfs.warnings()
            .iter()
            .any(|w| w.message.contains("points outside the image"))
    );
    for p in ["/etc/passwd", "/etc/shadow", "/a"] {
        assert!(
            matches!(vfs.resolve(p), Err(ResolveError::Loop { .. })),
            "{p}: {:?}",
            vfs.resolve(p)
        );
    }
    // The scan completes (accounts unreadable through the loops).
    let t = Instant::now();
    let r = scan(
        &tar,
        "loops.tar",
        &ScanOptions::default(),
        &Knowledge::embedded(),
        None,
    )
    .unwrap();
    assert!(r.accounts.is_empty());
    assert!(t.elapsed().as_secs() < 5);
}

#[test]
fn gzip_bomb_is_stopped_by_the_ratio_limit() {
    let bomb = gzip_zeros(64 << 20);
    assert!(bomb.len() < 200 << 10, "{}", bomb.len());
    let err = unpack(&bomb, &Limits::default()).unwrap_err();
    assert!(
        matches!(
            err,
            UnpackError::Limit {
                what: "expansion ratio",
                limit: 250,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "<image>: expansion ratio limit of 250 exceeded"
    );

    // Nested inside an archive it is skipped with a warning; the rest is scanned.
    let tar = write_ustar(&[
        ("firmware/part.gz", b'0', "", &bomb),
        ("etc/passwd", b'0', "", b"root::0:0::/root:/bin/sh\n"),
    ]);
    let r = scan(
        &tar,
        "t.tar",
        &ScanOptions::default(),
        &Knowledge::embedded(),
        None,
    )
    .unwrap();
    assert!(
        r.warnings
            .iter()
            .any(|w| w.at == "/firmware/part.gz" && w.message.contains("expansion ratio")),
        "{:?}",
        r.warnings
    );
    assert!(r.unpacked_bytes < 1 << 20);
    assert_eq!(r.default_credentials[0].scheme, "empty");
}

#[test]
fn total_size_and_entry_count_limits() {
    let big = vec![7u8; 3 << 20];
    let tar = write_ustar(&[("a", b'0', "", &big), ("b", b'0', "", &big)]);
    let limits = Limits {
        max_total_bytes: 4 << 20,
        ..Limits::default()
    };
    let err = unpack(&tar, &limits).unwrap_err();
    assert!(
        matches!(
            err,
            UnpackError::Limit {
                what: "total unpacked size",
                ..
            }
        ),
        "{err}"
    );

    let names: Vec<String> = (0..3000).map(|i| format!("f{i}")).collect();
    let members: Vec<(&str, u32, &[u8])> = names
        .iter()
        .map(|n| (n.as_str(), 0o100644, &b""[..]))
        .collect();
    let cpio = write_newc(&members);
    let limits = Limits {
        max_entries: 1000,
        ..Limits::default()
    };
    let err = unpack(&cpio, &limits).unwrap_err();
    assert!(
        matches!(
            err,
            UnpackError::Limit {
                what: "entry count",
                limit: 1000,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn nesting_depth_limit() {
    let mut data = write_ustar(&[("etc/passwd", b'0', "", b"root::0:0::/:/bin/sh\n")]);
    for _ in 0..10 {
        data = gzip(&data);
    }
    let err = unpack(&data, &Limits::default()).unwrap_err();
    assert!(
        matches!(
            err,
            UnpackError::Limit {
                what: "nesting depth",
                limit: 6,
                ..
            }
        ),
        "{err}"
    );
    let deep = Limits {
        max_depth: 12,
        ..Limits::default()
    };
    assert!(unpack(&data, &deep).unwrap().read("/etc/passwd").is_some());
}

#[test]
fn truncated_and_corrupted_inputs_give_errors() {
    let tar = write_ustar(&[("etc/passwd", b'0', "", &[b'x'; 2000])]);
    let err = unpack(&tar[..1100], &Limits::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "<image>: tar: truncated at byte 512 (member data)"
    );
    let cpio = write_newc(&[("etc/passwd", 0o100644, b"root::0:0::/:/bin/sh\n")]);
    let err = unpack(&cpio[..cpio.len() - 20], &Limits::default()).unwrap_err();
    assert!(err.to_string().contains("cpio: truncated at byte"), "{err}");
    let gz = gzip(&tar);
    let err = unpack(&gz[..gz.len() / 2], &Limits::default()).unwrap_err();
    assert!(
        matches!(err, UnpackError::Decompress { format: "gzip", .. }),
        "{err}"
    );
    assert!(matches!(
        unpack(b"just some text, no archive", &Limits::default()),
        Err(UnpackError::Unrecognised { .. })
    ));
}

/// Real squashfs images, cut short and with damaged tables.
#[test]
fn damaged_squashfs_images() {
    if !crate::common::have("mksquashfs", &["-version"]) {
        return;
    }
    let s = crate::common::Scratch::new("damaged");
    let root = s.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/passwd"), "root::0:0::/:/bin/sh\n").unwrap();
    let noise: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
        .collect();
    std::fs::write(root.join("blob"), &noise).unwrap();
    let out = s.path().join("fs.sqfs");
    crate::common::run(
        std::process::Command::new("mksquashfs")
            .arg(&root)
            .arg(&out)
            .args(["-comp", "gzip", "-noappend", "-quiet", "-no-progress"]),
    );
    let img = std::fs::read(&out).unwrap();
    assert!(
        unpack(&img, &Limits::default())
            .unwrap()
            .read("/etc/passwd")
            .is_some()
    );

    // Cut: the superblock's bytes_used points past the end.
    let err = unpack(&img[..img.len() / 2], &Limits::default()).unwrap_err();
    assert!(err.to_string().contains("squashfs"), "{err}");

    // Flipped bytes all over the tables: errors or warnings, never a panic.
    let mut errors = 0;
    for step in [97usize, 389, 1021, 4093] {
        let mut bad = img.clone();
        let start = bad.len().saturating_sub(4096).max(96);
        for i in (start..bad.len()).step_by(step) {
            bad[i] ^= 0x5a;
        }
        if unpack(&bad, &Limits::default()).is_err() {
            errors += 1;
        }
    }
    assert!(errors > 0);
}
