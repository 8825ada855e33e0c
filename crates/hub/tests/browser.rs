//! The console in a real browser: Debian's `chromium`, headless, driven by Playwright
//! (`playwright-core` from npm, see crates/hub/browser-tests/). The script logs in with the
//! one-time password, is made to choose a new one, sees the overview of the demo's devices
//! (the simulated home `palisade demo` analyses), opens the infected camera and acknowledges its
//! Mirai scan alert; this test then checks the change in the store. Screenshots land
//! in target/tmp/browser-artifacts (with PALISADE_UPDATE_SCREENSHOTS=1 the overview also
//! replaces docs/console-overview.png, the README's picture).
//!
//! Needs node, chromium and playwright-core (in $PALISADE_NPM_CACHE or
//! ~/.cache/palisade-npm, as .ci/run installs it); skips without them unless
//! PALISADE_REQUIRE_ORACLES=1.

use std::path::{Path, PathBuf};
use std::process::Command;

use palisade_hub::store::TriageState;
use palisade_hub::{Hub, HubConfig};

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

/// The demo's data, exactly as `palisade demo --serve` loads it: the simulated home (seed 7)
/// analysed by the sensor, as NDJSON device and alert events.
fn demo_ndjson() -> (String, palisade_sensor::Report) {
    let dir = std::env::temp_dir().join(format!("palisade-browser-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("demo.pcap");
    std::fs::write(
        &pcap,
        palisade_sim::generate(&palisade_sim::SimConfig::default()),
    )
    .unwrap();
    let o = palisade_sensor::analyze(
        std::slice::from_ref(&pcap),
        &palisade_sensor::AnalyzeOptions::default(),
        Box::new(palisade_sensor::NullSink),
        None,
    );
    let _ = std::fs::remove_dir_all(&dir);
    (o.report.device_and_alert_ndjson().unwrap(), o.report)
}

#[test]
fn console_login_overview_device_and_triage_in_chromium() {
    let (chromium, modules) = match find_tools() {
        Ok(t) => t,
        Err(why) if std::env::var("PALISADE_REQUIRE_ORACLES").as_deref() == Ok("1") => {
            panic!("browser test needs its tools (PALISADE_REQUIRE_ORACLES=1): {why}")
        }
        Err(why) => {
            eprintln!("skipping the browser test: {why}");
            return;
        }
    };
    let dir = std::env::temp_dir().join(format!("palisade-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let hub = Hub::prepare(&HubConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.clone(),
        ..HubConfig::default()
    })
    .unwrap();
    let one_time = hub.initial_admin_password.clone().unwrap();
    let store = hub.store();
    let (ndjson, report) = demo_ndjson();
    let o = store.ingest_ndjson(&ndjson).unwrap();
    assert!(o.rejected.is_empty(), "{:?}", o.rejected);
    // The infected device: the demo's Mirai-infected camera, and its scan alert.
    let scan = report
        .alerts
        .iter()
        .find(|a| a.kind == "botnet.mirai.scan")
        .expect("the demo has a Mirai scan");
    let mac = scan.device.clone().expect("the scan names its device");
    let alert_id = scan.id.clone();
    let devices = report.devices.len().to_string();
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
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser-tests/console.cjs");
    let out = Command::new("node")
        .arg(&script)
        .args([
            &format!("{scheme}://{addr}"),
            "admin",
            &one_time,
            "a-new-password-for-the-test",
            &mac,
            &alert_id,
            out_dir.to_str().unwrap(),
            &devices,
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
    eprintln!("browser: {stdout}");
    // What the browser did, seen from the store.
    let (alert, transitions) = store.alert(&alert_id).unwrap().unwrap();
    assert_eq!(alert.state, TriageState::Acknowledged);
    assert_eq!(alert.state_user.as_deref(), Some("admin"));
    assert_eq!(alert.state_comment.as_deref(), Some("isolating the camera"));
    assert_eq!(transitions.len(), 1);
    let admin = store.user_by_name("admin").unwrap().unwrap();
    assert!(
        !admin.must_change_password,
        "the one-time password was replaced"
    );
    for shot in [
        "console-overview.png",
        "console-device-after.png",
        "console-alerts.png",
    ] {
        let png = std::fs::read(out_dir.join(shot)).unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{shot}");
    }
    if std::env::var("PALISADE_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::copy(
            out_dir.join("console-overview.png"),
            docs.join("console-overview.png"),
        )
        .unwrap();
    }
    drop(rt);
    let _ = std::fs::remove_dir_all(&dir);
}
