//! python-tuf 7 interop, both directions, with every attack.

use std::process::Command;

use crate::common::{TempDir, copy_dir, py_client, python_tuf, script, serve};
use crate::ours::{ATTACKS, build_fixtures, run_our_client};

#[test]
fn python_tuf_client_against_our_repository() {
    let Some(_) = python_tuf() else { return };
    let d = TempDir::new("pyclient");
    let fw = build_fixtures(&d.0);
    let base = serve(d.0.clone());
    let st = TempDir::new("pystate");
    let good = st.path("good");
    let root = d.path("good/metadata/1.root.json");
    py_client(&good, &format!("{base}/good"), "fw.bin", Some(&root))
        .expect("python-tuf accepts our repository");
    let got = std::fs::read(good.join("downloads/fw.bin")).unwrap();
    assert_eq!(got, fw);
    for attack in ATTACKS {
        let s = st.path(attack);
        copy_dir(&good, &s);
        let _ = std::fs::remove_dir_all(s.join("downloads"));
        let err = py_client(&s, &format!("{base}/{attack}"), "fw.bin", None)
            .expect_err(&format!("python-tuf accepted {attack}"));
        eprintln!("python-tuf rejects {attack} (our repo): {}", err.trim());
    }
}

#[test]
fn our_client_against_python_tuf_repository() {
    let Some(_) = python_tuf() else { return };
    let d = TempDir::new("pyrepo");
    let o = Command::new("python3")
        .arg(script("mkrepo.py"))
        .arg(&d.0)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let fw = std::fs::read(d.path("fw.bin")).unwrap();
    let base = serve(d.0.clone());
    run_our_client(&d.0, &base, &fw);
    // Sanity: python-tuf itself agrees on its own fixtures.
    let st = TempDir::new("pyself");
    let root = d.path("good/metadata/1.root.json");
    py_client(
        &st.path("good"),
        &format!("{base}/good"),
        "fw.bin",
        Some(&root),
    )
    .unwrap();
}
