//! Entry points for the cargo-fuzz targets in `/fuzz` (thin wrappers; not a stable API).

/// cpio newc parsing must never panic.
pub fn cpio(data: &[u8]) {
    let _ = crate::cpio::parse(data, 10_000);
}

/// tar parsing must never panic.
pub fn tar(data: &[u8]) {
    let _ = crate::tar::parse(data, 10_000);
}

/// Superblock parsing, then (when it validates) extraction under small limits.
pub fn squashfs(data: &[u8]) {
    if crate::squashfs::parse_superblock(data).is_ok() {
        let _ = crate::squashfs::extract(
            data,
            crate::squashfs::SqLimits {
                max_entries: 1000,
                max_bytes: 1 << 20,
            },
        );
    }
}

/// crypt(3) field parsing, and one hash computation when it parses (rounds capped so the
/// fuzzer does not time out on `rounds=999999999`).
pub fn crypt(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let (field, pw) = s.split_once('\n').unwrap_or((s, "pw"));
    if let crate::crypt::PasswordField::Hash(h) = crate::crypt::parse_password_field(field)
        && h.cost() <= 5000
    {
        let _ = h.verify(pw.as_bytes());
    }
}

/// The whole unpacker under small limits.
pub fn unpack(data: &[u8]) {
    let limits = crate::unpack::Limits {
        max_depth: 3,
        max_total_bytes: 4 << 20,
        max_entries: 2000,
        max_ratio: 50,
        ratio_floor: 1 << 20,
        max_carve: 4,
    };
    if let Ok(vfs) = crate::unpack::unpack(data, &limits) {
        let mut budget = 100_000;
        let _ = crate::accounts::scan(&vfs, "/", &mut budget);
        let _ = crate::components::from_binaries(&vfs);
    }
}
