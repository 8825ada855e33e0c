//! The console in a real browser: Debian's `chromium`, headless, driven by Playwright
//! (`playwright-core` from npm, see crates/hub/browser-tests/). The script logs in with the
//! one-time password, is made to choose a new one, sees the overview, opens the infected device
//! and acknowledges its alert; this test then checks the change in the store. Screenshots land
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

const MAC: &str = "aa:bb:cc:00:00:01";
const ALERT: &str = "botnet.mirai.scan-5f1c0a2e9b7d4c31";

fn fixture() -> String {
    let dev = |mac: &str,
               ip: &str,
               vendor: &str,
               host: &str,
               cat: &str,
               risk: u32,
               reasons: &str| {
        format!(
            r#"{{"type":"device","mac":"{mac}","ips":["{ip}"],"vendor":"{vendor}","hostnames":["{host}"],"category":"{cat}","model":null,"os":"Linux","confidence":0.82,"evidence":[{{"source":"dhcp","detail":"option 55 fingerprint 1,3,6,12,15,28,42","weight":0.6}},{{"source":"mdns","detail":"_{host}._tcp.local","weight":0.3}}],"services":["telnet/23","http/80"],"protocols":["dhcp","mdns","http"],"risk":{{"score":{risk},"reasons":[{reasons}]}},"first_seen":"2024-05-01T08:00:00Z","last_seen":"2024-05-01T11:40:00Z","packets":48211,"bytes":9120344}}"#
        )
    };
    let mut s = [
        dev(
            MAC,
            "192.168.1.23",
            "Hikvision",
            "porch-cam",
            "camera",
            92,
            r#""telnet open with a default login","Mirai-style scanning seen""#,
        ),
        dev(
            "aa:bb:cc:00:00:02",
            "192.168.1.40",
            "HP",
            "office-printer",
            "printer",
            35,
            r#""HTTP admin without TLS""#,
        ),
        dev(
            "aa:bb:cc:00:00:03",
            "192.168.1.51",
            "TP-Link",
            "kitchen-plug",
            "smart_plug",
            18,
            r#""cloud-managed""#,
        ),
        dev(
            "aa:bb:cc:00:00:04",
            "192.168.1.60",
            "Samsung",
            "living-tv",
            "tv",
            22,
            r#""UPnP exposed""#,
        ),
        dev(
            "aa:bb:cc:00:00:05",
            "192.168.1.77",
            "Google",
            "hall-speaker",
            "speaker",
            9,
            "",
        ),
    ]
    .join("\n");
    s.push('\n');
    s.push_str(&format!(
        r#"{{"type":"alert","id":"{ALERT}","kind":"botnet.mirai.scan","severity":"high","device":"{MAC}","src":"192.168.1.23","dst":null,"first_seen":"2024-05-01T09:12:00Z","last_seen":"2024-05-01T11:30:00Z","count":412,"summary":"telnet SYN scan of 389 hosts with sequence number = destination address","evidence":{{"ports":[23,2323],"targets":389}},"mitre":["T1046"]}}
{{"type":"alert","id":"cred.cleartext-01","kind":"cred.cleartext","severity":"medium","device":"aa:bb:cc:00:00:02","src":"192.168.1.40","dst":"192.168.1.10","first_seen":"2024-05-01T10:02:00Z","last_seen":"2024-05-01T10:05:00Z","count":2,"summary":"HTTP Basic credentials in cleartext","evidence":{{}},"mitre":["T1552"]}}
"#
    ));
    s
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
    let o = store.ingest_ndjson(&fixture()).unwrap();
    assert_eq!(o.accepted, 7, "{:?}", o.rejected);
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
            MAC,
            ALERT,
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
    eprintln!("browser: {stdout}");
    // What the browser did, seen from the store.
    let (alert, transitions) = store.alert(ALERT).unwrap().unwrap();
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
