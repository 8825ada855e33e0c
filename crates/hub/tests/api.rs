//! API integration tests against a running hub over real loopback HTTP(S).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use palisade_hub::client::{
    Response, Trust, console_change_password, console_login, request, set_cookie_value,
};
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
    let base = format!("{scheme}://{addr}");
    // The printed password is one-time: the first login must choose a new one.
    let (cookie, must_change) = console_login(&base, &trust, "admin", &admin_pw).unwrap();
    assert!(must_change, "first login is sent to /password");
    let blocked = request(
        "GET",
        &format!("{base}/api/v1/devices"),
        &[("Cookie", &cookie)],
        b"",
        &trust,
    )
    .unwrap();
    assert_eq!(blocked.status, 403, "API refused before the change");
    let page = request(
        "GET",
        &format!("{base}/"),
        &[("Cookie", &cookie)],
        b"",
        &trust,
    )
    .unwrap();
    assert_eq!(page.header("location"), Some("/password"));
    let new_pw = format!("{admin_pw}-mine");
    console_change_password(&base, &trust, &cookie, &admin_pw, &new_pw).unwrap();
    let (_, must_change) = console_login(&base, &trust, "admin", &new_pw).unwrap();
    assert!(!must_change);
    assert!(
        console_login(&base, &trust, "admin", &admin_pw).is_err(),
        "old password dead"
    );
    Running {
        base,
        trust,
        admin_pw: new_pw,
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
        let (cookie, must_change) = console_login(&self.base, &self.trust, user, pw).unwrap();
        assert!(!must_change);
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
fn login_is_rate_limited_and_csrf_protected() {
    let h = start(false);
    let page = h.req("GET", "/login", &[], b"");
    let sc = page.header("set-cookie").unwrap().to_owned();
    assert!(
        sc.contains("HttpOnly") && sc.contains("SameSite=Strict"),
        "{sc}"
    );
    let tok = set_cookie_value(&page, "palisade_login").unwrap();
    assert!(page.text().contains(&tok), "the form carries the token");
    let cookie = format!("palisade_login={tok}");
    let post = |body: String, cookie: &str| {
        h.req(
            "POST",
            "/login",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Cookie", cookie),
            ],
            body.as_bytes(),
        )
    };
    // Login CSRF: right password, but no token / a token that is not the cookie's.
    let good = format!("username=admin&password={}", h.admin_pw);
    for (body, c) in [
        (good.clone(), cookie.as_str()),
        (format!("{good}&csrf={tok}"), ""),
        (format!("{good}&csrf=00{tok}"), cookie.as_str()),
    ] {
        let r = post(body, c);
        assert_eq!(r.header("location"), Some("/login?error=csrf"));
        assert!(set_cookie_value(&r, "palisade_session").is_none());
    }
    // start() already made one failed attempt (the old one-time password); the limit is 10.
    for _ in 0..9 {
        let r = post(format!("username=admin&password=nope&csrf={tok}"), &cookie);
        assert_eq!(r.header("location"), Some("/login?error=1"));
    }
    let r = post(format!("{good}&csrf={tok}"), &cookie);
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

#[test]
fn suppressions_limits_and_error_shapes() {
    let h = start(false);
    let (cookie, csrf) = h.login("admin", &h.admin_pw);
    let analyst = h.token(&cookie, &csrf, "analyst", Role::Analyst);
    let viewer = h.token(&cookie, &csrf, "viewer", Role::Viewer);
    // A rule for mirai.scan on this device, for an hour.
    let exp = palisade_hub::store::now() + 3600;
    let body = format!(
        r#"{{"kind":"mirai.scan","device":"aa:bb:cc:00:00:01","reason":"lab honeypot","expires_at":{exp}}}"#
    );
    assert_eq!(
        h.bearer("POST", "/api/v1/suppressions", &viewer, &body)
            .status,
        403
    );
    let r = h.bearer("POST", "/api/v1/suppressions", &analyst, &body);
    assert_eq!(r.status, 201, "{}", r.text());
    let rule: Value = serde_json::from_slice(&r.body).unwrap();
    for bad in [
        r#"{"reason":"no matcher"}"#.to_owned(),
        r#"{"kind":"x","reason":""}"#.to_owned(),
        r#"{"kind":"x","reason":"past","expires_at":1}"#.to_owned(),
    ] {
        let r = h.bearer("POST", "/api/v1/suppressions", &analyst, &bad);
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
    // Applied at ingest: the new alert arrives already triaged as expected.
    assert_eq!(
        h.bearer("POST", "/api/v1/ingest", &analyst, NDJSON).status,
        200
    );
    let a: Value =
        serde_json::from_slice(&h.bearer("GET", "/api/v1/alerts/A1", &viewer, "").body).unwrap();
    assert_eq!(a["state"], "expected");
    assert_eq!(a["state_user"], format!("suppression:{}", rule["id"]));
    // ... and the device's first sight raised device.new (not suppressed: other kind).
    let d: Value = serde_json::from_slice(
        &h.bearer("GET", "/api/v1/alerts?kind=device.new", &viewer, "")
            .body,
    )
    .unwrap();
    assert_eq!(d["total"], 1);
    assert_eq!(d["items"][0]["state"], "new");
    let list: Value =
        serde_json::from_slice(&h.bearer("GET", "/api/v1/suppressions", &viewer, "").body).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let del = format!("/api/v1/suppressions/{}", rule["id"]);
    assert_eq!(h.bearer("DELETE", &del, &analyst, "").status, 204);
    assert_eq!(h.bearer("DELETE", &del, &analyst, "").status, 404);

    // Parameter bounds are 400 with a JSON error, never 500.
    for q in [
        "/api/v1/devices?limit=0",
        "/api/v1/devices?limit=1001",
        "/api/v1/devices?min_risk=101",
        "/api/v1/devices?min_risk=99999999999",
        "/api/v1/devices?offset=18446744073709551615",
        "/api/v1/devices?sort=nope",
        "/api/v1/devices?after=zz",
        "/api/v1/alerts?state=nope",
        "/api/v1/audit?limit=0",
    ] {
        let r = h.bearer("GET", q, &analyst, "");
        let want = if q.starts_with("/api/v1/audit") {
            403
        } else {
            400
        };
        assert_eq!(r.status, want, "{q}: {}", r.text());
        if want == 400 {
            let v: Value = serde_json::from_slice(&r.body).unwrap();
            assert!(v["error"].is_string(), "{q}");
        }
    }
    let long = format!("/api/v1/devices?q={}", "a".repeat(300));
    assert_eq!(h.bearer("GET", &long, &analyst, "").status, 400);
    // Keyset pagination through the API.
    let p: Value =
        serde_json::from_slice(&h.bearer("GET", "/api/v1/devices?limit=1", &viewer, "").body)
            .unwrap();
    let next = p["next"].as_str().unwrap();
    let p2: Value = serde_json::from_slice(
        &h.bearer(
            "GET",
            &format!("/api/v1/devices?limit=1&after={next}"),
            &viewer,
            "",
        )
        .body,
    )
    .unwrap();
    assert_eq!(p2["items"].as_array().unwrap().len(), 0);
    // A documented path with an undocumented method: 405 with Allow.
    let r = h.bearer("PUT", "/api/v1/devices", &analyst, "");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET"));
    // Bodies over the API limit: 413; malformed JSON: a JSON error.
    let big = format!(r#"{{"state":"new","comment":"{}"}}"#, "x".repeat(100_000));
    assert_eq!(
        h.bearer("POST", "/api/v1/alerts/A1/triage", &analyst, &big)
            .status,
        413
    );
    let r = h.bearer("POST", "/api/v1/alerts/A1/triage", &analyst, "{");
    assert_eq!(r.status, 400);
    assert!(serde_json::from_slice::<Value>(&r.body).unwrap()["error"].is_string());
}
