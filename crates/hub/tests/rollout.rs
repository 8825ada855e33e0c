//! Rollouts through a running hub (plain HTTP on loopback): the rollout API sits behind the same
//! guard as the rest of the API (forced password change included), and the console's rollout
//! pages list rollouts and devices and steer them with CSRF-protected forms.

use std::path::PathBuf;

use palisade_hub::client::{Response, Trust, console_login, form_escape, request};
use palisade_hub::store::Role;
use palisade_hub::store::postgres::testing::{ClusterOptions, TestCluster};
use palisade_hub::{Hub, HubConfig};
use serde_json::{Value, json};

struct Running {
    base: String,
    dir: PathBuf,
    store: std::sync::Arc<dyn palisade_hub::store::Store>,
    _rt: tokio::runtime::Runtime,
    /// The PostgreSQL server of a hub over PostgreSQL (stopped after the hub).
    _pg: Option<TestCluster>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start(tag: &str) -> Running {
    start_on(tag, None)
}

/// The same tests on a hub over PostgreSQL (issue 13: `database_url`); skipped with a message
/// when PostgreSQL is absent, unless PALISADE_REQUIRE_ORACLES=1.
fn on_postgres(tag: &str, check: fn(Running)) {
    let Some(cluster) = TestCluster::start(ClusterOptions::default()) else {
        return;
    };
    let url = cluster.fresh_database(tag).unwrap();
    check(start_on(&format!("pg-{tag}"), Some((url, cluster))));
}

fn start_on(tag: &str, pg: Option<(String, TestCluster)>) -> Running {
    let (database_url, cluster) = pg.unzip();
    let dir = std::env::temp_dir().join(format!("palisade-rollout-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let hub = Hub::prepare(&HubConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.clone(),
        tls: false,
        database_url,
        ..HubConfig::default()
    })
    .unwrap();
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
        store,
        _rt: rt,
        _pg: cluster,
    }
}

impl Running {
    fn user(&self, name: &str, role: Role, pw: &str, must_change: bool) {
        let u = self
            .store
            .create_user(name, role, &palisade_hub::hash_password(pw))
            .unwrap();
        if must_change {
            self.store
                .set_password(u.id, &u.password_hash, true)
                .unwrap();
        }
    }
    fn token(&self, name: &str, role: Role) -> String {
        let (t, hash) = palisade_hub::new_token();
        self.store.create_token(name, role, &hash, "test").unwrap();
        t
    }
    fn req(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        request(
            method,
            &format!("{}{path}", self.base),
            headers,
            body,
            &Trust::Any,
        )
        .unwrap()
    }
    /// (session cookie, CSRF token, must change password)
    fn login(&self, user: &str, pw: &str) -> (String, String, bool) {
        let (cookie, must) = console_login(&self.base, &Trust::Any, user, pw).unwrap();
        let s = self.req("GET", "/api/v1/session", &[("Cookie", &cookie)], b"");
        assert_eq!(s.status, 200, "{}", s.text());
        let v: Value = serde_json::from_slice(&s.body).unwrap();
        (cookie, v["csrf"].as_str().unwrap().to_owned(), must)
    }
    fn api(&self, method: &str, path: &str, token: &str, body: Value) -> (u16, Value) {
        let auth = format!("Bearer {token}");
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let r = self.req(
            method,
            &format!("/api/v1{path}"),
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
        );
        (
            r.status,
            serde_json::from_slice(&r.body).unwrap_or_default(),
        )
    }
    fn form(&self, path: &str, cookie: &str, fields: &[(&str, &str)]) -> Response {
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", form_escape(v)))
            .collect();
        self.req(
            "POST",
            path,
            &[
                ("Cookie", cookie),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            body.join("&").as_bytes(),
        )
    }
    fn page(&self, path: &str, cookie: &str) -> Response {
        self.req("GET", path, &[("Cookie", cookie)], b"")
    }
}

/// A user who still has to replace a one-time password gets nothing from the rollout API (the
/// shared guard), whether reading or, with a valid CSRF token, writing.
#[test]
fn forced_password_change_blocks_the_rollout_api() {
    forced_password_change(start("mustchange"));
}

#[test]
fn forced_password_change_blocks_the_rollout_api_over_postgres() {
    on_postgres("mustchange", forced_password_change);
}

fn forced_password_change(h: Running) {
    h.user("ops", Role::Admin, "first-password-123", true);
    let (cookie, csrf, must) = h.login("ops", "first-password-123");
    assert!(must);
    for (m, p, body) in [
        ("GET", "/api/v1/rollouts", ""),
        ("GET", "/api/v1/device-updates", ""),
        (
            "POST",
            "/api/v1/rollouts",
            r#"{"target":"fw.bin","percent":10}"#,
        ),
        ("POST", "/api/v1/rollouts/1", r#"{"state":"paused"}"#),
        (
            "POST",
            "/api/v1/rollout/assignment",
            r#"{"device":"d1","target":"fw.bin"}"#,
        ),
        (
            "POST",
            "/api/v1/rollout/reports",
            r#"{"device":"d1","target":"fw.bin","result":"updated"}"#,
        ),
    ] {
        let r = h.req(
            m,
            p,
            &[
                ("Cookie", &cookie),
                ("X-CSRF-Token", &csrf),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
        );
        assert_eq!(r.status, 403, "{m} {p}: {}", r.text());
        assert!(r.text().contains("one-time password"), "{m} {p}");
    }
    // Nothing was created behind the refusal; the console page sends the user to /password.
    let admin = h.token("admin", Role::Admin);
    let (st, list) = h.api("GET", "/rollouts", &admin, Value::Null);
    assert_eq!((st, list), (200, json!([])));
    let p = h.page("/rollouts", &cookie);
    assert_eq!(p.header("location"), Some("/password"));
    // The TUF repository mount refuses it too.
    let r = h.page("/updates/metadata/1.root.json", &cookie);
    assert_eq!(r.status, 403);
}

/// The console's rollout pages: list, stage, wave percentage, devices with their reported
/// versions, pause/resume/abort through CSRF-protected forms; viewers see but cannot steer.
#[test]
fn console_lists_and_steers_rollouts_with_csrf_forms() {
    console_rollouts(start("console"));
}

#[test]
fn console_lists_and_steers_rollouts_with_csrf_forms_over_postgres() {
    on_postgres("console", console_rollouts);
}

fn console_rollouts(h: Running) {
    h.user("boss", Role::Admin, "boss-password-1234", false);
    h.user("watcher", Role::Viewer, "watcher-password-1", false);
    let device_token = h.token("cam-fleet", Role::Analyst);
    let (cookie, csrf, must) = h.login("boss", "boss-password-1234");
    assert!(!must);

    let p = h.page("/rollouts", &cookie);
    assert_eq!(p.status, 200);
    let html = p.text();
    assert!(html.contains("No rollouts yet"), "{html}");
    assert!(html.contains(&format!(r#"name="csrf" value="{csrf}""#)));

    // Without (or with a wrong) CSRF token the form does nothing.
    let fields = [("target", "fw-cam.bin"), ("percent", "25")];
    let r = h.form("/rollouts", &cookie, &fields);
    assert!(r.status == 403 || r.status == 422, "{}", r.status);
    let r = h.form(
        "/rollouts",
        &cookie,
        &[
            ("csrf", "0000"),
            ("target", "fw-cam.bin"),
            ("percent", "25"),
        ],
    );
    assert_eq!(r.status, 403);
    assert_eq!(
        h.api("GET", "/rollouts", &device_token, Value::Null).1,
        json!([])
    );

    let r = h.form(
        "/rollouts",
        &cookie,
        &[
            ("csrf", &csrf),
            ("target", "fw-cam.bin"),
            ("percent", "100"),
            ("max_failure_rate", "50"),
            ("min_reports", "2"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    let loc = r.header("location").unwrap().to_owned();
    let (_, list) = h.api("GET", "/rollouts", &device_token, Value::Null);
    let id = list[0]["id"].as_i64().unwrap();
    assert_eq!(loc, format!("/rollouts/{id}"));
    assert_eq!(list[0]["percent"], 100);
    assert_eq!(list[0]["max_failure_rate"], 0.5);
    assert_eq!(list[0]["created_by"], "boss");
    // A second rollout of the same target while this one is open: 409 in the console too.
    let r = h.form(
        "/rollouts",
        &cookie,
        &[("csrf", &csrf), ("target", "fw-cam.bin"), ("percent", "5")],
    );
    assert_eq!(r.status, 409);

    // Devices (all in the 100 % wave) report through the API; the rollout page shows their
    // versions.
    for (dev, result, running) in [
        ("cam-1", "updated", "1.1.0+0"),
        ("cam-2", "refused-image", "1.0.0+0"),
    ] {
        let (st, v) = h.api(
            "POST",
            "/rollout/reports",
            &device_token,
            json!({"device": dev, "target": "fw-cam.bin", "result": result,
                   "running_version": running, "security_counter": 2, "detail": "test"}),
        );
        assert_eq!(st, 200, "{v}");
    }
    let p = h.page(&loc, &cookie);
    assert_eq!(p.status, 200);
    let html = p.text();
    assert!(html.contains("Devices in this rollout (2)"), "{html}");
    assert!(html.contains(r#"data-device="cam-1""#));
    assert!(html.contains("1.1.0+0") && html.contains("1.0.0+0"));
    assert!(html.contains("refused-image"));
    assert!(html.contains("2 reported, 1 succeeded, 1 failed"), "{html}");

    // Wave, then pause / resume / abort; a finished rollout has no controls left.
    let r = h.form(&loc, &cookie, &[("csrf", &csrf), ("percent", "60")]);
    assert_eq!(r.status, 303);
    let state_of = || h.api("GET", "/rollouts", &device_token, Value::Null).1[0].clone();
    assert_eq!(state_of()["percent"], 60);
    // The 1-of-2 failure rate equals the 50 % limit: the rollout is still active.
    assert_eq!(state_of()["state"], "active");
    for (to, want) in [
        ("paused", "paused"),
        ("active", "active"),
        ("aborted", "aborted"),
    ] {
        let r = h.form(&loc, &cookie, &[("csrf", &csrf), ("state", to)]);
        assert_eq!(r.status, 303, "{to}: {}", r.text());
        assert_eq!(state_of()["state"], want);
    }
    let r = h.form(&loc, &cookie, &[("csrf", &csrf), ("state", "active")]);
    assert_eq!(r.status, 409, "an aborted rollout is final");
    let html = h.page(&loc, &cookie).text();
    assert!(!html.contains(r#"data-state="paused""#), "no controls left");
    let r = h.form(&loc, &cookie, &[("csrf", &csrf), ("state", "sideways")]);
    assert_eq!(r.status, 400);

    // A viewer sees the rollouts and devices but gets no forms, and posting is refused.
    let (vcookie, vcsrf, _) = h.login("watcher", "watcher-password-1");
    let html = h.page("/rollouts", &vcookie).text();
    assert!(html.contains("fw-cam.bin") && html.contains("cam-2"));
    assert!(!html.contains("Start a rollout"));
    let r = h.form(
        "/rollouts",
        &vcookie,
        &[("csrf", &vcsrf), ("target", "other.bin"), ("percent", "5")],
    );
    assert_eq!(r.status, 403);
    // Anonymous: to the login page.
    assert_eq!(h.page("/rollouts", "").header("location"), Some("/login"));
}
