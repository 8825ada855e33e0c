//! Zones and per-device policies over the real API (loopback HTTP): roles, validation of MUD
//! profiles, expiry, audit, and the exported gateway ruleset checked by `nft -c` (in a private
//! network namespace; skipped without root/nft unless PALISADE_REQUIRE_ORACLES=1).

use std::process::{Command, Stdio};

use palisade_hub::client::{Response, Trust, request};
use palisade_hub::store::Role;
use palisade_hub::store::postgres::testing::{ClusterOptions, TestCluster};
use palisade_hub::{Hub, HubConfig};
use serde_json::{Value, json};

struct Running {
    base: String,
    dir: std::path::PathBuf,
    _rt: tokio::runtime::Runtime,
    store: std::sync::Arc<dyn palisade_hub::store::Store>,
    /// The PostgreSQL server of a hub over PostgreSQL (stopped after the hub).
    _pg: Option<TestCluster>,
}

fn start() -> Running {
    start_on("lite", None)
}

/// The same test on a hub over PostgreSQL (issue 13: `database_url`); skipped with a message
/// when PostgreSQL is absent, unless PALISADE_REQUIRE_ORACLES=1.
fn start_on_postgres() -> Option<Running> {
    let cluster = TestCluster::start(ClusterOptions::default())?;
    let url = cluster.fresh_database("zones").unwrap();
    Some(start_on("pg", Some((url, cluster))))
}

fn start_on(tag: &str, pg: Option<(String, TestCluster)>) -> Running {
    let (database_url, cluster) = pg.unzip();
    let dir = std::env::temp_dir().join(format!("palisade-hub-zones-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = HubConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.clone(),
        tls: false,
        database_url,
        ..HubConfig::default()
    };
    let hub = Hub::prepare(&cfg).unwrap();
    let store = hub.store();
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
    Running {
        base: format!("http://{addr}"),
        dir,
        _rt: rt,
        store,
        _pg: cluster,
    }
}

impl Running {
    /// A bearer token of `role`, stored the way the hub stores its tokens (SHA-256 of the secret).
    fn token(&self, name: &str, role: Role) -> String {
        let secret = format!("pal_zones_test_{name}_{}", std::process::id());
        let h = palisade_hub::store::crypto::sha256(secret.as_bytes());
        self.store.create_token(name, role, &h, "test").unwrap();
        secret
    }
    fn call(&self, method: &str, path: &str, token: &str, body: &str) -> Response {
        let auth = format!("Bearer {token}");
        request(
            method,
            &format!("{}/api/v1{path}", self.base),
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
            &Trust::Any,
        )
        .unwrap()
    }
    fn json(&self, method: &str, path: &str, token: &str, body: &str, want: u16) -> Value {
        let r = self.call(method, path, token, body);
        assert_eq!(r.status, want, "{method} {path}: {}", r.text());
        serde_json::from_slice(&r.body).unwrap_or(Value::Null)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const PROFILE: &str = r#"{
  "ietf-mud:mud": {
    "mud-version": 1, "mud-url": "https://example.com/cam.json", "last-update": "2024-01-01T00:00:00Z",
    "is-supported": true, "systeminfo": "cam",
    "from-device-policy": {"access-lists": {"access-list": [{"name": "from"}]}},
    "to-device-policy": {"access-lists": {"access-list": [{"name": "to"}]}}
  },
  "ietf-access-control-list:acls": {"acl": [
    {"name": "from", "type": "ipv4-acl-type", "aces": {"ace": [
      {"name": "ntp", "matches": {"ipv4": {"protocol": 17, "destination-ipv4-network": "10.0.2.2/32"},
        "udp": {"destination-port": {"operator": "eq", "port": 123}}}, "actions": {"forwarding": "accept"}}]}},
    {"name": "to", "type": "ipv4-acl-type", "aces": {"ace": [
      {"name": "ntp-reply", "matches": {"ipv4": {"protocol": 17, "source-ipv4-network": "10.0.2.2/32"},
        "udp": {"source-port": {"operator": "eq", "port": 123}}}, "actions": {"forwarding": "accept"}}]}}
  ]}
}"#;

#[test]
fn zones_are_editable_by_role_and_exported_as_an_nft_ruleset() {
    zones_scenario(start());
}

#[test]
fn zones_are_editable_by_role_and_exported_as_an_nft_ruleset_over_postgres() {
    if let Some(h) = start_on_postgres() {
        zones_scenario(h);
    }
}

fn zones_scenario(h: Running) {
    let admin = h.token("1", Role::Admin);
    let analyst = h.token("2", Role::Analyst);
    let viewer = h.token("3", Role::Viewer);

    // Built-in zones.
    let z = h.json("GET", "/zones", &viewer, "", 200);
    let names: Vec<&str> = z
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["iot", "quarantine", "trusted"]);
    // Unassigned device: the default zone.
    let d = h.json("GET", "/devices/aa:bb:cc:00:00:01/zone", &viewer, "", 200);
    assert_eq!(
        (d["zone"].as_str(), d["assigned"].as_bool()),
        (Some("iot"), Some(false))
    );

    // Roles: a viewer cannot assign, an analyst cannot edit zones.
    let q = json!({"zone": "quarantine", "reason": "botnet.mirai.scan", "expires_in_s": 600})
        .to_string();
    assert_eq!(
        h.call("PUT", "/devices/aa:bb:cc:00:00:01/zone", &viewer, &q)
            .status,
        403
    );
    assert_eq!(
        h.call("PUT", "/zones/cams", &analyst, r#"{"isolation":"policy"}"#)
            .status,
        403
    );
    let d = h.json("PUT", "/devices/AA:BB:CC:00:00:01/zone", &analyst, &q, 200);
    assert_eq!(d["zone"], "quarantine");
    assert_eq!(d["isolation"], "quarantine");
    assert!(d["expires_at"].as_i64().is_some());

    // Per-device MUD policy: validated (errors name the JSON path), then stored.
    let bad =
        json!({"zone": "iot", "mud_profile": {"ietf-mud:mud": {"mud-version": "one"}}}).to_string();
    let r = h.call("PUT", "/devices/aa:bb:cc:00:00:02/zone", &analyst, &bad);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("mud_profile") && r.text().contains("mud-version"),
        "{}",
        r.text()
    );
    let good = format!(r#"{{"zone": "iot", "mud_profile": {PROFILE}}}"#);
    let d = h.json(
        "PUT",
        "/devices/aa:bb:cc:00:00:02/zone",
        &analyst,
        &good,
        200,
    );
    assert_eq!(d["mud_url"], "https://example.com/cam.json");
    // Through quarantine and back, the device keeps its profile.
    for zone in ["quarantine", "iot"] {
        let d = h.json(
            "PUT",
            "/devices/aa:bb:cc:00:00:02/zone",
            &analyst,
            &format!(r#"{{"zone":"{zone}"}}"#),
            200,
        );
        assert_eq!(d["zone"], zone);
        assert_eq!(d["mud_url"], "https://example.com/cam.json", "{d}");
    }
    // Unknown zone, bad MAC, unknown field: 400/422.
    let r = h.call(
        "PUT",
        "/devices/aa:bb:cc:00:00:03/zone",
        &analyst,
        r#"{"zone":"nowhere"}"#,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = h.call("PUT", "/devices/nope/zone", &analyst, r#"{"zone":"iot"}"#);
    assert_eq!(r.status, 400, "{}", r.text());
    let r = h.call(
        "PUT",
        "/devices/aa:bb:cc:00:00:03/zone",
        &analyst,
        r#"{"zone":"iot","x":1}"#,
    );
    assert_eq!(r.status, 422, "{}", r.text());

    // Admin: custom zones; built-ins keep their isolation and stay.
    let z = h.json(
        "PUT",
        "/zones/cams",
        &admin,
        r#"{"description":"CCTV","isolation":"policy"}"#,
        200,
    );
    assert_eq!(
        (z["name"].as_str(), z["builtin"].as_bool()),
        (Some("cams"), Some(false))
    );
    assert_eq!(
        h.call(
            "PUT",
            "/zones/quarantine",
            &admin,
            r#"{"isolation":"open"}"#
        )
        .status,
        409
    );
    assert_eq!(h.call("DELETE", "/zones/iot", &admin, "").status, 409);
    assert_eq!(h.call("DELETE", "/zones/cams", &admin, "").status, 204);
    assert_eq!(h.call("DELETE", "/zones/cams", &admin, "").status, 404);

    let list = h.json("GET", "/zone-assignments?zone=quarantine", &viewer, "", 200);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    let audit = h.json("GET", "/audit", &admin, "", 200).to_string();
    assert!(
        audit.contains("device.zone") && audit.contains("zone.delete"),
        "{audit}"
    );

    // The OpenAPI document lists the zone operations and schemas.
    let doc = h.json("GET", "/openapi.json", "", "", 200);
    assert_eq!(
        doc["paths"]["/devices/{mac}/zone"]["put"]["x-palisade-role"],
        "analyst"
    );
    assert!(doc["components"]["schemas"]["DeviceZone"].is_object());

    // The gateway ruleset: quarantined MAC with its remaining time, the device's MUD table.
    let r = h.call("GET", "/enforcement/nft?hub_ips=10.0.2.3", &viewer, "");
    assert_eq!(r.status, 200, "{}", r.text());
    let rs = r.text();
    assert!(
        rs.contains("add element inet palisade_quarantine q_mac { aa:bb:cc:00:00:01 timeout"),
        "{rs}"
    );
    assert!(rs.contains("table inet palisade_mud_aabbcc000002"), "{rs}");
    assert!(
        rs.contains("add element inet palisade_quarantine hub_v4 { 10.0.2.3 }"),
        "{rs}"
    );
    assert_eq!(
        h.call("GET", "/enforcement/nft?hub_ips=nonsense", &viewer, "")
            .status,
        400
    );
    nft_accepts(&rs);
}

/// `nft -c -f` on the ruleset in a private network namespace.
fn nft_accepts(rs: &str) {
    // Unique per call: the SQLite and PostgreSQL variants run at the same time.
    static NS_SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let ns = format!(
        "palz{}-{}",
        std::process::id(),
        NS_SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    );
    let ok = Command::new("ip")
        .args(["netns", "add", &ns])
        .status()
        .is_ok_and(|s| s.success());
    let have_nft = Command::new("nft")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok || !have_nft {
        assert!(
            std::env::var("PALISADE_REQUIRE_ORACLES").as_deref() != Ok("1"),
            "nft and network namespaces are required (PALISADE_REQUIRE_ORACLES=1)"
        );
        eprintln!("SKIP: nft -c check (needs root, iproute2 and nftables)");
        if ok {
            let _ = Command::new("ip").args(["netns", "del", &ns]).status();
        }
        return;
    }
    let mut c = Command::new("ip")
        .args(["netns", "exec", &ns, "nft", "-c", "-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    c.stdin.take().unwrap().write_all(rs.as_bytes()).unwrap();
    let o = c.wait_with_output().unwrap();
    let _ = Command::new("ip").args(["netns", "del", &ns]).status();
    assert!(
        o.status.success(),
        "nft -c: {}\n{rs}",
        String::from_utf8_lossy(&o.stderr)
    );
}
