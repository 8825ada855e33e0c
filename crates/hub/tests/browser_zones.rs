//! The zones console page in a real browser (headless chromium driven by Playwright, like
//! browser.rs): an analyst moves a device into the quarantine zone and sees it there; a viewer
//! gets the page read-only. This test then checks the store (assignment, expiry, audit trail).
//!
//! Needs node, chromium and playwright-core (in $PALISADE_NPM_CACHE or ~/.cache/palisade-npm,
//! as .ci/run installs it); skips without them unless PALISADE_REQUIRE_ORACLES=1.

use std::path::{Path, PathBuf};
use std::process::Command;

use palisade_hub::store::Role;
use palisade_hub::{Hub, HubConfig, hash_password};

fn find_tools() -> Result<(PathBuf, PathBuf), String> {
    let chromium = std::env::var_os("PALISADE_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !chromium.is_file() {
        return Err(format!("no chromium at {}", chromium.display()));
    }
    let cache = std::env::var_os("PALISADE_NPM_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/palisade-npm")))
        .ok_or("no HOME")?;
    let modules = cache.join("node_modules");
    if !modules.join("playwright-core/package.json").is_file() {
        return Err(format!(
            "playwright-core not installed in {} (npm ci there with crates/hub/browser-tests/package*.json)",
            cache.display()
        ));
    }
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !node_ok {
        return Err("node not found".into());
    }
    Ok((chromium, modules))
}

#[test]
fn analyst_moves_a_device_into_quarantine_viewer_reads_only() {
    let (chromium, modules) = match find_tools() {
        Ok(t) => t,
        Err(why) if std::env::var("PALISADE_REQUIRE_ORACLES").as_deref() == Ok("1") => {
            panic!("browser test needs its tools (PALISADE_REQUIRE_ORACLES=1): {why}")
        }
        Err(why) => {
            eprintln!("skipping the zones browser test: {why}");
            return;
        }
    };
    let dir = std::env::temp_dir().join(format!("palisade-browser-zones-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let hub = Hub::prepare(&HubConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.clone(),
        ..HubConfig::default()
    })
    .unwrap();
    let store = hub.store();
    let password = "zones-browser-test-password";
    store
        .create_user("ana", Role::Analyst, &hash_password(password))
        .unwrap();
    store
        .create_user("vic", Role::Viewer, &hash_password(password))
        .unwrap();
    let mac = "02:00:5e:10:00:2a";
    let scheme = hub.scheme();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr = rt.block_on(async {
        let (addr, fut) = hub.bind(std::future::pending()).await.unwrap();
        tokio::spawn(fut);
        addr
    });
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-artifacts");
    std::fs::create_dir_all(&out_dir).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser-tests/zones.cjs");
    let out = Command::new("node")
        .arg(&script)
        .args([
            &format!("{scheme}://{addr}"),
            "ana",
            "vic",
            password,
            mac,
            out_dir.to_str().unwrap(),
        ])
        .env("NODE_PATH", &modules)
        .env("PALISADE_CHROMIUM", &chromium)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "browser script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // What the browser did, seen from the store.
    let zones = store.zones().expect("zone store");
    let d = zones.device_zone(mac, palisade_hub::store::now()).unwrap();
    assert_eq!(d.zone, "quarantine");
    assert_eq!(d.reason, "telnet scan from the camera");
    assert_eq!(d.set_by.as_deref(), Some("ana"));
    let left = d.expires_at.unwrap() - palisade_hub::store::now();
    assert!(
        (3500..=3600).contains(&left),
        "expiry in about an hour: {left}"
    );
    let audit = store.list_audit(50, 0).unwrap();
    let moves: Vec<_> = audit
        .items
        .iter()
        .filter(|a| a.action == "device.zone" && a.target == mac)
        .collect();
    assert_eq!(
        moves.len(),
        1,
        "one move (the viewer's and the forged one refused)"
    );
    assert_eq!(moves[0].actor, "ana");
    drop(rt);
    let _ = std::fs::remove_dir_all(&dir);
}
