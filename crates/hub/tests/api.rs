//! API integration tests against a running hub over real loopback HTTP(S).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use palisade_hub::client::{Response, Trust, request};
use palisade_hub::store::Role;
use palisade_hub::{Hub, HubConfig};
use serde_json::Value;

struct Running {
    base: String,
    trust: Trust,
    admin_pw: String,
    dir: PathBuf,
    _rt: tokio::runtime::Runtime,
    hub_store: std::sync::Arc<dyn palisade_hub::store::Store>,
}

static N: AtomicU32 = AtomicU32::new(0);

fn start(tls: bool) -> Running {
    let dir = std::env::temp_dir().join(format!(
        "palisade-hub-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = HubConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.clone(),
        tls,
        ..HubConfig::default()
    };
    let hub = Hub::prepare(&cfg).unwrap();
    let admin_pw = hub.initial_admin_password.clone().unwrap();
    let trust = match &hub.cert_path {
        Some(p) => palisade_hub::client::pinned_from_pem(&std::fs::read(p).unwrap()).unwrap(),
        None => Trust::Any,
    };
    let scheme = hub.scheme();
    let hub_store = hub.store();
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
        base: format!("{scheme}://{addr}"),
        trust,
        admin_pw,
        dir,
        _rt: rt,
        hub_store,
    }
}

impl Running {
    fn req(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        request(
            method,
            &format!("{}{path}", self.base),
            headers,
            body,
            &self.trust,
        )
        .unwrap()
    }
    fn bearer(&self, method: &str, path: &str, token: &str, body: &str) -> Response {
        let auth = format!("Bearer {token}");
        self.req(
            method,
            path,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
        )
    }
    /// Logs in through the console form; returns (cookie header, csrf).
    fn login(&self, user: &str, pw: &str) -> (String, String) {
        let body = format!("username={user}&password={pw}");
        let r = self.req(
            "POST",
            "/login",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        );
        assert_eq!(r.status, 303, "{}", r.text());
        let sc = r.header("set-cookie").expect("session cookie").to_owned();
        assert!(
            sc.contains("HttpOnly") && sc.contains("SameSite=Strict"),
            "{sc}"
        );
        let cookie = sc.split(';').next().unwrap().to_owned();
        let s = self.req("GET", "/api/v1/session", &[("Cookie", &cookie)], b"");
        assert_eq!(s.status, 200);
        let v: Value = serde_json::from_slice(&s.body).unwrap();
        (cookie, v["csrf"].as_str().unwrap().to_owned())
    }
    fn token(&self, cookie: &str, csrf: &str, name: &str, role: Role) -> String {
        let body = format!(r#"{{"name":"{name}","role":"{}"}}"#, role.as_str());
        let r = self.req(
            "POST",
            "/api/v1/tokens",
            &[
                ("Cookie", cookie),
                ("X-CSRF-Token", csrf),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        v["token"].as_str().unwrap().to_owned()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn fill(path: &str) -> String {
    path.replace("{mac}", "aa:bb:cc:00:00:01")
        .replace("{id}", "A1")
}

const NDJSON: &str = r#"{"type":"device","mac":"aa:bb:cc:00:00:01","ips":["10.0.0.5"],"vendor":"Acme","hostnames":["cam"],"category":"camera","confidence":0.9,"evidence":[{"source":"dhcp","detail":"opt55","weight":1.0}],"risk":{"score":80,"reasons":["telnet open"]},"first_seen":"2024-01-01T00:00:00.000000Z","last_seen":"2024-01-01T01:00:00.000000Z"}
{"type":"alert","id":"A1","kind":"mirai.scan","severity":"high","device":"aa:bb:cc:00:00:01","src":"10.0.0.5","dst":null,"first_seen":"2024-01-01T00:10:00.000000Z","last_seen":"2024-01-01T00:20:00.000000Z","count":3,"summary":"telnet scan","evidence":{},"mitre":["T1046"]}
"#;

/// Every route in the OpenAPI document: anonymous → 401, a too-low role → 403, the right role
/// reaches the handler (and the document lists exactly the router's API routes).
#[test]
fn every_documented_route_enforces_auth_and_roles() {
    let h = start(true);
    let doc = h.req("GET", "/api/v1/openapi.json", &[], b"");
    assert_eq!(doc.status, 200);
    let doc: Value = serde_json::from_slice(&doc.body).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let (cookie, csrf) = h.login("admin", &h.admin_pw);
    let admin = h.token(&cookie, &csrf, "t-admin", Role::Admin);
    let analyst = h.token(&cookie, &csrf, "t-analyst", Role::Analyst);
    let viewer = h.token(&cookie, &csrf, "t-viewer", Role::Viewer);
    h.bearer("POST", "/api/v1/ingest", &admin, NDJSON);

    let mut n = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            n += 1;
            let url = format!("/api/v1{}", fill(path));
            let m = method.to_uppercase();
            let public = op["security"].as_array().is_some_and(Vec::is_empty);
            let anon = h.req(&m, &url, &[], b"");
            if public {
                assert_eq!(anon.status, 200, "{m} {path} public");
                continue;
            }
            assert_eq!(anon.status, 401, "{m} {path} anonymous");
            let bad = h.bearer(
                &m,
                &url,
                "pal_0000000000000000000000000000000000000000000000000000000000000000",
                "",
            );
            assert_eq!(bad.status, 401, "{m} {path} wrong token");
            let role = op["x-palisade-role"].as_str().unwrap();
            let below = match role {
                "admin" => Some(&analyst),
                "analyst" => Some(&viewer),
                _ => None,
            };
            if let Some(t) = below {
                assert_eq!(
                    h.bearer(&m, &url, t, "").status,
                    403,
                    "{m} {path} role below {role}"
                );
            }
            if m == "GET" && !path.contains("stream") {
                let ok = h.bearer(&m, &url, &admin, "");
                assert_eq!(ok.status, 200, "{m} {path} as admin: {}", ok.text());
            }
        }
    }
    assert_eq!(n, palisade_hub::openapi::ROUTES.len());
    // /metrics at the root is guarded too.
    assert_eq!(h.req("GET", "/metrics", &[], b"").status, 401);
    assert_eq!(h.bearer("GET", "/metrics", &viewer, "").status, 200);
    // Cookie sessions need the CSRF token for mutations.
    let r = h.req(
        "POST",
        "/api/v1/alerts/A1/triage",
        &[("Cookie", &cookie), ("Content-Type", "application/json")],
        br#"{"state":"acknowledged"}"#,
    );
    assert_eq!(r.status, 403);
}

#[test]
fn ingest_triage_audit_over_plain_http() {
    let h = start(false);
    let (cookie, csrf) = h.login("admin", &h.admin_pw);
    let analyst = h.token(&cookie, &csrf, "sensor", Role::Analyst);
    let r = h.bearer("POST", "/api/v1/ingest", &analyst, NDJSON);
    assert_eq!(r.status, 200, "{}", r.text());
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["accepted"], 2);
    let v: Value =
        serde_json::from_slice(&h.bearer("POST", "/api/v1/ingest", &analyst, NDJSON).body).unwrap();
    assert_eq!(
        (v["accepted"].as_u64(), v["duplicates"].as_u64()),
        (Some(0), Some(2))
    );

    let d: Value = serde_json::from_slice(
        &h.bearer("GET", "/api/v1/devices?sort=risk&limit=5", &analyst, "")
            .body,
    )
    .unwrap();
    assert_eq!(d["total"], 1);
    let dev: Value = serde_json::from_slice(
        &h.bearer("GET", "/api/v1/devices/aa:bb:cc:00:00:01", &analyst, "")
            .body,
    )
    .unwrap();
    assert_eq!(dev["report"]["evidence"][0]["source"], "dhcp");
    assert_eq!(dev["alerts"][0]["id"], "A1");

    let bad = h.bearer(
        "POST",
        "/api/v1/alerts/A1/triage",
        &analyst,
        r#"{"state":"resolved"}"#,
    );
    assert_eq!(bad.status, 409);
    let ok = h.bearer(
        "POST",
        "/api/v1/alerts/A1/triage",
        &analyst,
        r#"{"state":"acknowledged","comment":"on it"}"#,
    );
    assert_eq!(ok.status, 200, "{}", ok.text());
    let a: Value = serde_json::from_slice(&ok.body).unwrap();
    assert_eq!(a["state"], "acknowledged");
    assert_eq!(a["state_user"], "token:sensor");
    // Console triage with the form + CSRF token.
    let r = h.req(
        "POST",
        "/alerts/A1/triage",
        &[
            ("Cookie", &cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        format!("csrf={csrf}&state=resolved&comment=fixed&back=/alerts").as_bytes(),
    );
    assert_eq!(r.status, 303, "{}", r.text());
    let r = h.req(
        "POST",
        "/alerts/A1/triage",
        &[
            ("Cookie", &cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        b"csrf=wrong&state=new",
    );
    assert_eq!(r.status, 403);
    let audit: Value = serde_json::from_slice(&h.bearer_admin_audit(&cookie).body).unwrap();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for want in [
        "alert.triage",
        "ingest",
        "token.create",
        "session.login",
        "user.create",
    ] {
        assert!(actions.contains(&want), "{want} missing from {actions:?}");
    }
    // Console pages render for a session and redirect without one.
    for p in ["/", "/devices", "/devices/aa:bb:cc:00:00:01", "/alerts"] {
        let r = h.req("GET", p, &[("Cookie", &cookie)], b"");
        assert_eq!(r.status, 200, "{p}");
        assert!(r.text().contains("Palisade"));
        assert_eq!(h.req("GET", p, &[], b"").status, 303, "{p} anonymous");
    }
    // Nothing secret in responses: tokens list has no secrets, users list has no hashes.
    let t = h
        .req("GET", "/api/v1/tokens", &[("Cookie", &cookie)], b"")
        .text();
    assert!(!t.contains("pal_") && !t.contains("hash"));
    let u = h
        .req("GET", "/api/v1/users", &[("Cookie", &cookie)], b"")
        .text();
    assert!(!u.contains("argon2"));
    assert_eq!(h.hub_store.event_count().unwrap(), 2);
}

#[test]
fn login_is_rate_limited() {
    let h = start(false);
    for _ in 0..10 {
        let r = h.req(
            "POST",
            "/login",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"username=admin&password=nope",
        );
        assert_eq!(r.header("location"), Some("/login?error=1"));
    }
    let body = format!("username=admin&password={}", h.admin_pw);
    let r = h.req(
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    );
    assert_eq!(r.header("location"), Some("/login?error=limit"));
}

trait AuditExt {
    fn bearer_admin_audit(&self, cookie: &str) -> Response;
}
impl AuditExt for Running {
    fn bearer_admin_audit(&self, cookie: &str) -> Response {
        self.req("GET", "/api/v1/audit?limit=100", &[("Cookie", cookie)], b"")
    }
}
