//! Real images: Debian's busybox-static and dropbear-bin binaries packed with mksquashfs,
//! GNU cpio and GNU tar; versions checked against what the binaries themselves print.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use palisade_fwscan::{ScanOptions, ScanReport, scan};
use palisade_risk::assess::Knowledge;

use crate::common::{Scratch, have, run, shared};

const BUSYBOX: &str = "/bin/busybox";
const DROPBEAR: &str = "/usr/sbin/dropbear";

fn tools() -> bool {
    let mut ok = have("mksquashfs", &["-version"]);
    ok &= have(BUSYBOX, &["true"]);
    ok &= have(DROPBEAR, &["-V"]) || Path::new(DROPBEAR).exists();
    ok &= have("openssl", &["version"]);
    ok
}

/// The version BusyBox prints about itself ("BusyBox v1.35.0 (Debian …) multi-call binary").
fn busybox_version() -> String {
    let out = Command::new(BUSYBOX).arg("--help").output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let v = text.split("BusyBox v").nth(1).expect("busybox banner");
    v.split([' ', '\n']).next().unwrap().to_owned()
}

/// The version Dropbear prints about itself ("Dropbear v2022.83").
fn dropbear_version() -> String {
    let out = Command::new(DROPBEAR).arg("-V").output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let v = text.split("Dropbear v").nth(1).expect("dropbear -V banner");
    v.split([' ', '\n']).next().unwrap().trim().to_owned()
}

/// A root file system: real binaries, BusyBox applet links, accounts whose root hash is
/// made by `openssl passwd -6` for Mirai's `xc3511`, boot scripts, a private key.
fn rootfs(dir: &Path) {
    for d in [
        "bin",
        "sbin",
        "usr/sbin",
        "etc/init.d",
        "etc/dropbear",
        "etc/ssl/private",
        "root",
        "boot",
    ] {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
    fs::copy(BUSYBOX, dir.join("bin/busybox")).unwrap();
    fs::copy(DROPBEAR, dir.join("usr/sbin/dropbear")).unwrap();
    symlink("busybox", dir.join("bin/sh")).unwrap();
    symlink("../../bin/busybox", dir.join("usr/sbin/telnetd")).unwrap();
    let root_hash = String::from_utf8(run(
        Command::new("openssl").args(["passwd", "-6", "-salt", "Fw5can", "xc3511"])
    ))
    .unwrap();
    let admin_hash = String::from_utf8(run(Command::new("openssl").args([
        "passwd",
        "-1",
        "-salt",
        "q1w2e3",
        "a-unique-password-nobody-lists",
    ])))
    .unwrap();
    fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nadmin:x:1000:1000::/home/admin:/bin/sh\nnobody:*:65534:65534::/:/bin/false\n",
    )
    .unwrap();
    fs::write(
        dir.join("etc/shadow"),
        format!(
            "root:{}:19000:0:99999:7:::\nadmin:{}:19000::::::\n",
            root_hash.trim(),
            admin_hash.trim()
        ),
    )
    .unwrap();
    fs::write(
        dir.join("etc/init.d/rcS"),
        "#!/bin/sh\nmount -a\n/usr/sbin/telnetd -l /bin/sh\n/usr/sbin/dropbear -R -p 22\n",
    )
    .unwrap();
    run(Command::new("openssl").args([
        "genpkey",
        "-algorithm",
        "ed25519",
        "-out",
        dir.join("etc/ssl/private/device.key").to_str().unwrap(),
    ]));
}

/// Validates an SBOM against the CycloneDX 1.5 JSON schema with cyclonedx-python-lib.
fn validate_sbom(sbom: &serde_json::Value) {
    if !have("python3", &["-c", "import cyclonedx.validation.json"]) {
        return;
    }
    let script = r#"
import sys
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
err = JsonStrictValidator(SchemaVersion.V1_5).validate_str(sys.stdin.read())
if err is not None:
    sys.exit(f"invalid CycloneDX 1.5: {err}")
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(sbom.to_string().as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn mksquashfs(src: &Path, out: &Path, comp: &str) -> Vec<u8> {
    run(Command::new("mksquashfs").arg(src).arg(out).args([
        "-comp",
        comp,
        "-noappend",
        "-all-root",
        "-quiet",
        "-no-progress",
    ]));
    fs::read(out).unwrap()
}

fn check_report(r: &ScanReport, prefix: &str) {
    let comp = |name: &str| {
        r.components
            .iter()
            .find(|c| c.component.name == name && c.component.purl.is_none())
            .unwrap_or_else(|| panic!("{name} not found in {:#?}", r.components))
    };
    let bb = comp("busybox");
    assert_eq!(
        bb.component.version.as_deref(),
        Some(busybox_version().as_str())
    );
    assert!(
        bb.component.paths.contains(&format!("{prefix}bin/busybox")),
        "{:?}",
        bb.component.paths
    );
    assert_eq!(
        bb.cpe.as_deref(),
        Some(
            format!(
                "cpe:2.3:a:busybox:busybox:{}:*:*:*:*:*:*:*",
                busybox_version()
            )
            .as_str()
        )
    );
    let db = comp("dropbear");
    assert_eq!(
        db.component.version.as_deref(),
        Some(dropbear_version().as_str())
    );
    // The injected default credential, found by cracking the openssl-made hash.
    let c = r
        .default_credentials
        .iter()
        .find(|c| c.user == "root")
        .unwrap_or_else(|| panic!("root:xc3511 not reported: {:#?}", r.default_credentials));
    assert_eq!(c.password, "xc3511");
    assert_eq!(c.scheme, "sha512");
    assert!(c.lists.iter().any(|l| l == "mirai"), "{:?}", c.lists);
    assert_eq!(c.file, format!("{prefix}etc/shadow"));
    assert!(!r.default_credentials.iter().any(|c| c.user == "admin"));
    let admin = r.accounts.iter().find(|a| a.user == "admin").unwrap();
    assert_eq!(admin.password, "md5");
    // Boot services and daemons.
    for svc in ["telnetd", "dropbear"] {
        assert!(
            r.boot_services
                .iter()
                .any(|b| b.service == svc && b.file.ends_with("etc/init.d/rcS")),
            "{svc}: {:?}",
            r.boot_services
        );
    }
    assert!(r.daemons.iter().any(|d| d.name == "telnetd"));
    let k = r
        .keys
        .iter()
        .find(|k| k.path.ends_with("etc/ssl/private/device.key"))
        .expect("private key");
    assert!(k.private && !k.encrypted && k.kind == "PRIVATE KEY");
    // Score: default credential + key + telnet at boot at least.
    assert!(r.risk.score >= 60, "{:?}", r.risk);
    assert!(r.risk.reasons[0].contains("xc3511"), "{:?}", r.risk.reasons);
}

/// Every other compressor Debian's mksquashfs offers, decoded by our pure-Rust block
/// decoders (lzma-rust2, ruzstd, lz4_flex, our LZO1X), with the same findings as gzip/xz.
#[test]
fn squashfs_lzo_lz4_zstd_lzma_with_real_binaries() {
    if !tools() {
        return;
    }
    let s = Scratch::new("sq-comp");
    let root = s.path().join("root");
    rootfs(&root);
    for comp in ["lzo", "lz4", "zstd", "lzma"] {
        let img = mksquashfs(&root, &s.path().join(format!("fs-{comp}.sqfs")), comp);
        let sb = palisade_fwscan::squashfs::parse_superblock(&img).unwrap();
        assert_eq!(sb.compressor_name(), comp);
        let r = scan(
            &img,
            "fs.sqfs",
            &ScanOptions::default(),
            &Knowledge::embedded(),
            None,
        )
        .unwrap_or_else(|e| panic!("{comp}: {e}"));
        assert_eq!(r.layers[0].formats, ["squashfs"], "{comp}");
        assert!(r.warnings.is_empty(), "{comp}: {:?}", r.warnings);
        check_report(&r, "/");
    }
}

#[test]
fn squashfs_xz_and_gzip_with_real_binaries() {
    if !tools() {
        return;
    }
    let s = Scratch::new("sq");
    let root = s.path().join("root");
    rootfs(&root);
    for comp in ["xz", "gzip"] {
        let img = mksquashfs(&root, &s.path().join(format!("fs-{comp}.sqfs")), comp);
        let r = scan(
            &img,
            "fs.sqfs",
            &ScanOptions::default(),
            &Knowledge::embedded(),
            None,
        )
        .unwrap();
        assert_eq!(r.layers[0].formats, ["squashfs"]);
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        assert!(r.image.built.is_some());
        check_report(&r, "/");
        // The SBOM carries both components with their versions and CPEs.
        let sbom = palisade_fwscan::sbom::cyclonedx(&r);
        assert_eq!(sbom["specVersion"], "1.5");
        assert_eq!(sbom["metadata"]["component"]["type"], "firmware");
        let names: Vec<(&str, &str)> = sbom["components"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| Some((c["name"].as_str()?, c["version"].as_str()?)))
            .collect();
        assert!(
            names.contains(&("busybox", busybox_version().as_str())),
            "{names:?}"
        );
        assert!(
            names.contains(&("dropbear", dropbear_version().as_str())),
            "{names:?}"
        );
        validate_sbom(&sbom);
    }
}

#[test]
fn cpio_gzip_tar_and_nested_layers() {
    if !tools() || !have("cpio", &["--version"]) || !have("tar", &["--version"]) {
        return;
    }
    let s = Scratch::new("cpio");
    let root = s.path().join("root");
    rootfs(&root);
    // An initramfs (GNU cpio newc, gzip) …
    let list = run(Command::new("sh")
        .arg("-c")
        .arg(format!("cd {} && find . | sort", root.display())));
    let mut child = Command::new("cpio")
        .args(["-o", "-H", "newc", "--quiet"])
        .current_dir(&root)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&list).unwrap();
    }
    let cpio = child.wait_with_output().unwrap().stdout;
    let r = scan(
        &cpio,
        "initramfs.cpio",
        &ScanOptions::default(),
        &Knowledge::embedded(),
        None,
    )
    .unwrap();
    assert_eq!(r.layers[0].formats, ["cpio"]);
    check_report(&r, "/");

    // … a .tar.gz of a directory holding the squashfs image: three layers, nested.
    let outer = s.path().join("outer");
    fs::create_dir_all(&outer).unwrap();
    mksquashfs(&root, &outer.join("rootfs.sqfs"), "xz");
    fs::write(outer.join("README"), "vendor update package\n").unwrap();
    let tgz = s.path().join("update.tar.gz");
    run(Command::new("tar")
        .arg("czf")
        .arg(&tgz)
        .arg("-C")
        .arg(&outer)
        .arg("."));
    let r = scan(
        &fs::read(&tgz).unwrap(),
        "update.tar.gz",
        &ScanOptions::default(),
        &Knowledge::embedded(),
        None,
    )
    .unwrap();
    assert_eq!(r.layers[0].formats, ["gzip", "tar"]);
    assert!(
        r.layers
            .iter()
            .any(|m| m.at == "/rootfs.sqfs.extracted" && m.formats == ["squashfs"]),
        "{:?}",
        r.layers
    );
    check_report(&r, "/rootfs.sqfs.extracted/");
}

#[test]
fn squashfs_carved_out_of_a_raw_blob() {
    if !tools() {
        return;
    }
    let s = Scratch::new("blob");
    let root = s.path().join("root");
    rootfs(&root);
    let img = mksquashfs(&root, &s.path().join("fs.sqfs"), "xz");
    // A bootloader-like header and padding before, a trailer after.
    let mut blob: Vec<u8> = (0..0x2_0000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let off = blob.len();
    blob.extend_from_slice(&img);
    blob.extend_from_slice(&[0xff; 4096]);
    let r = scan(
        &blob,
        "flash.bin",
        &ScanOptions::default(),
        &Knowledge::embedded(),
        None,
    )
    .unwrap();
    let at = format!("/@0x{off:x}");
    assert!(
        r.layers
            .iter()
            .any(|m| m.at == at && m.offset == off as u64),
        "{:?}",
        r.layers
    );
    check_report(&r, &format!("{at}/"));
}

#[test]
fn busybox_cve_from_the_nvd_subset() {
    if !tools() {
        return;
    }
    let Some(sh) = shared() else { return };
    let feed = sh.join("kb/nvd-iot-subset/nvd-iot-subset.api2.json");
    let mut b = palisade_risk::IndexBuilder::new();
    palisade_risk::import_nvd_files(&[feed], &mut b, &mut |_| {}).unwrap();
    let mut bytes = Vec::new();
    b.write_to(&mut bytes).unwrap();
    let ix = palisade_risk::VulnIndex::from_bytes(bytes).unwrap();
    let kb = Knowledge {
        index: Some(&ix),
        kev: palisade_kb::kev_catalog(),
    };
    let s = Scratch::new("cve");
    let root = s.path().join("root");
    rootfs(&root);
    let img = mksquashfs(&root, &s.path().join("fs.sqfs"), "gzip");
    let r = scan(&img, "fs.sqfs", &ScanOptions::default(), &kb, None).unwrap();
    // CVE-2022-48174 (BusyBox ash, versions up to 1.36.1) applies to 1.35.0.
    let v = r
        .vulnerabilities
        .iter()
        .find(|v| v.finding.cve == "CVE-2022-48174")
        .unwrap_or_else(|| panic!("{:#?}", r.vulnerabilities));
    let bb = r
        .components
        .iter()
        .position(|c| c.component.name == "busybox")
        .unwrap();
    assert!(v.components.contains(&bb));
    assert!(
        r.risk.reasons.iter().any(|x| x.contains("CVE-2022-48174")),
        "{:?}",
        r.risk.reasons
    );
    let sbom = palisade_fwscan::sbom::cyclonedx(&r);
    assert!(
        sbom["vulnerabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == "CVE-2022-48174")
    );
    validate_sbom(&sbom);
}

#[test]
fn osv_match_from_a_dpkg_database() {
    let Some(sh) = shared() else { return };
    let text = fs::read_to_string(sh.join("kb/osv-samples/UBUNTU-CVE-2020-25681.json")).unwrap();
    let db = palisade_risk::osv::OsvDb::new(palisade_risk::osv::parse_osv_json(&text).unwrap());
    let status = |v: &str| {
        format!(
            "Package: dnsmasq\nStatus: install ok installed\nVersion: {v}\n\nPackage: other\nStatus: install ok installed\nVersion: 1.0\n"
        )
    };
    for (version, affected) in [("2.79-1", true), ("2.79-1ubuntu0.2", false)] {
        let tar = palisade_fwscan::tar::write_ustar(&[
            (
                "etc/os-release",
                b'0',
                "",
                b"ID=ubuntu\nVERSION_ID=\"18.04\"\n",
            ),
            ("var/lib/dpkg/status", b'0', "", status(version).as_bytes()),
        ]);
        let r = scan(
            &tar,
            "pkg.tar",
            &ScanOptions::default(),
            &Knowledge::embedded(),
            Some(&db),
        )
        .unwrap();
        let c = r
            .components
            .iter()
            .find(|c| c.component.name == "dnsmasq")
            .unwrap();
        assert_eq!(
            c.component.purl.as_deref(),
            Some(format!("pkg:deb/ubuntu/dnsmasq@{version}").as_str())
        );
        assert_eq!(c.component.ecosystem.as_deref(), Some("Ubuntu:18.04"));
        let hit = r.osv.iter().any(|o| o.id == "UBUNTU-CVE-2020-25681");
        assert_eq!(hit, affected, "{version}: {:?}", r.osv);
    }
}
