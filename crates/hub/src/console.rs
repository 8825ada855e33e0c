//! The web console: server-rendered HTML, a little hand-written JS (live alerts over SSE) and
//! SVG charts. Every page needs a session; forms carry the session's CSRF token.

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use palisade_store::crypto::sha256;
use palisade_store::{AlertQuery, AlertRow, DeviceQuery, DeviceRow, DeviceSort, Role, TriageState};

use crate::auth::{self, Auth};
use crate::{AppState, esc};

#[path = "console_rollouts.rs"]
mod rollouts;
#[path = "console_zones.rs"]
mod zones_page;

const CSS: &str = include_str!("../assets/app.css");
const JS: &str = include_str!("../assets/app.js");

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/login", get(login_page).post(login_submit))
        .route("/password", get(password_page).post(password_submit))
        .route("/logout", post(logout))
        .route("/", get(overview))
        .route("/devices", get(devices))
        .route("/devices/{mac}", get(device))
        .route("/alerts", get(alerts))
        .route("/alerts/{id}/triage", post(triage))
        .route(
            "/static/app.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css")], CSS) }),
        )
        .route(
            "/static/app.js",
            get(|| async { ([(header::CONTENT_TYPE, "text/javascript")], JS) }),
        )
        .merge(rollouts::router())
        .merge(zones_page::router())
        // Console forms are small; ingest goes through the API.
        .layer(DefaultBodyLimit::max(MAX_FORM_BODY))
        .with_state(state)
}

/// Largest console form body.
const MAX_FORM_BODY: usize = 16 * 1024;

fn user(st: &AppState, headers: &HeaderMap) -> Option<Auth> {
    auth::cookie(headers, auth::SESSION_COOKIE)?;
    auth::authenticate(st.store.as_ref(), headers).filter(|a| a.csrf.is_some())
}

/// The logged-in user of a console page, or the redirect to show instead (login, or the
/// forced password change).
fn page_user(st: &AppState, headers: &HeaderMap) -> Result<Auth, Redirect> {
    let a = user(st, headers).ok_or_else(|| Redirect::to("/login"))?;
    if a.must_change {
        return Err(Redirect::to("/password"));
    }
    Ok(a)
}

fn page(title: &str, a: &Auth, body: &str) -> Response {
    let csrf = esc(a.csrf.as_deref().unwrap_or(""));
    Html(format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{t} · Palisade</title><link rel="stylesheet" href="/static/app.css"><script src="/static/app.js" defer></script></head>
<body><header><a class="brand" href="/">Palisade</a><nav><a href="/">Overview</a><a href="/devices">Devices</a><a href="/alerts">Alerts <span id="live" class="badge"></span></a><a href="/zones">Zones</a><a href="/rollouts">Rollouts</a></nav>
<form method="post" action="/logout" class="logout"><input type="hidden" name="csrf" value="{csrf}"><span>{u} ({r})</span> <a href="/password">Password</a> <button>Log out</button></form></header>
<main><h1>{t}</h1>{body}</main></body></html>"#,
        t = esc(title),
        u = esc(&a.actor),
        r = a.role.as_str(),
    ))
    .into_response()
}

fn to_login() -> Response {
    Redirect::to("/login").into_response()
}

#[derive(Deserialize, Default)]
struct LoginQ {
    error: Option<String>,
}

async fn login_page(State(st): State<Arc<AppState>>, Query(q): Query<LoginQ>) -> Response {
    let token = auth::random_hex::<16>();
    let msg = match q.error.as_deref() {
        Some("limit") => "<p class=\"error\">Too many failed attempts; try again later.</p>",
        Some("csrf") => "<p class=\"error\">The login form expired; please try again.</p>",
        Some(_) => "<p class=\"error\">Wrong user name or password.</p>",
        None => "",
    };
    let html = Html(format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Log in · Palisade</title><link rel="stylesheet" href="/static/app.css"></head>
<body class="login"><form method="post" action="/login" class="card"><h1>Palisade</h1>{msg}
<label>User <input name="username" autocomplete="username" required autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<input type="hidden" name="csrf" value="{token}"><button type="submit">Log in</button></form></body></html>"#
    ));
    let cookie = format!(
        "{}={token}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600{}",
        auth::LOGIN_COOKIE,
        if st.secure_cookies { "; Secure" } else { "" }
    );
    ([(header::SET_COOKIE, cookie)], html).into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    csrf: String,
}

async fn login_submit(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    // Login CSRF: the form's token must equal the cookie set with the form.
    let expected = auth::cookie(&headers, auth::LOGIN_COOKIE).unwrap_or("");
    if expected.is_empty() || !auth::constant_eq(expected.as_bytes(), f.csrf.as_bytes()) {
        return Redirect::to("/login?error=csrf").into_response();
    }
    if f.username.len() > 64 || f.password.len() > 1024 {
        return Redirect::to("/login?error=1").into_response();
    }
    let st2 = st.clone();
    let r = tokio::task::spawn_blocking(move || {
        let u = auth::login(st2.store.as_ref(), &st2.limiter, &f.username, &f.password)?;
        let s = auth::start_session(st2.store.as_ref(), &u, st2.session_ttl_s).ok_or(false)?;
        let _ = st2.store.audit(&u.name, "session.login", &u.name, "");
        Ok::<_, bool>((s, u.must_change_password))
    })
    .await;
    match r {
        Ok(Ok(((sid, _csrf), must_change))) => (
            StatusCode::SEE_OTHER,
            [
                (
                    header::SET_COOKIE,
                    auth::session_cookie(&sid, st.session_ttl_s, st.secure_cookies),
                ),
                (
                    header::LOCATION,
                    if must_change { "/password" } else { "/" }.to_owned(),
                ),
            ],
        )
            .into_response(),
        Ok(Err(true)) => Redirect::to("/login?error=limit").into_response(),
        _ => Redirect::to("/login?error=1").into_response(),
    }
}

#[derive(Deserialize, Default)]
struct PasswordQ {
    error: Option<String>,
}

async fn password_page(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<PasswordQ>,
) -> Response {
    let Some(a) = user(&st, &headers) else {
        return to_login();
    };
    let msg = match q.error.as_deref() {
        Some("current") => "<p class=\"error\">The current password is wrong.</p>",
        Some("weak") => {
            "<p class=\"error\">The new password needs 12 to 1024 characters and must differ from the current one.</p>"
        }
        Some("confirm") => "<p class=\"error\">The two new passwords differ.</p>",
        Some(_) => "<p class=\"error\">The password was not changed.</p>",
        None if a.must_change => {
            "<p>This is a one-time password: choose your own before you continue.</p>"
        }
        None => "",
    };
    let body = format!(
        r#"<form method="post" action="/password" class="card narrow">{msg}<input type="hidden" name="csrf" value="{c}">
<label>Current password <input name="current" type="password" autocomplete="current-password" required></label>
<label>New password <input name="new" type="password" autocomplete="new-password" minlength="12" maxlength="1024" required></label>
<label>New password again <input name="confirm" type="password" autocomplete="new-password" minlength="12" maxlength="1024" required></label>
<button type="submit">Change password</button></form>"#,
        c = esc(a.csrf.as_deref().unwrap_or("")),
    );
    page("Change password", &a, &body)
}

#[derive(Deserialize)]
struct PasswordForm {
    csrf: String,
    current: String,
    new: String,
    confirm: String,
}

async fn password_submit(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(f): Form<PasswordForm>,
) -> Response {
    let Some(a) = user(&st, &headers) else {
        return to_login();
    };
    if !auth::csrf_ok(&a, &axum::http::Method::POST, Some(&f.csrf)) {
        return (StatusCode::FORBIDDEN, "bad CSRF token").into_response();
    }
    let n = f.new.chars().count();
    if !(12..=1024).contains(&n) || f.new.len() > 1024 || f.new == f.current {
        return Redirect::to("/password?error=weak").into_response();
    }
    if f.new != f.confirm {
        return Redirect::to("/password?error=confirm").into_response();
    }
    let st2 = st.clone();
    let r = tokio::task::spawn_blocking(move || {
        let store = st2.store.as_ref();
        let u = store.user_by_name(&a.actor).ok().flatten().ok_or("user")?;
        if f.current.len() > 1024 || !auth::verify_password(&u.password_hash, &f.current) {
            return Err("current");
        }
        store
            .set_password(u.id, &auth::hash_password(&f.new), false)
            .map_err(|_| "store")?;
        let _ = store.audit(&u.name, "user.password", &u.name, "password changed");
        auth::start_session(store, &u, st2.session_ttl_s).ok_or("session")
    })
    .await;
    match r {
        Ok(Ok((sid, _))) => (
            StatusCode::SEE_OTHER,
            [
                (
                    header::SET_COOKIE,
                    auth::session_cookie(&sid, st.session_ttl_s, st.secure_cookies),
                ),
                (header::LOCATION, "/".to_owned()),
            ],
        )
            .into_response(),
        Ok(Err(why)) => Redirect::to(&format!("/password?error={why}")).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Some(a) = user(&st, &headers)
        && auth::csrf_ok(&a, &axum::http::Method::POST, Some(&f.csrf))
        && let Some(sid) = auth::cookie(&headers, auth::SESSION_COOKIE)
    {
        let _ = st.store.delete_session(&sha256(sid.as_bytes()));
    }
    (
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                format!(
                    "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
                    auth::SESSION_COOKIE
                ),
            ),
            (header::LOCATION, "/login".to_owned()),
        ],
    )
        .into_response()
}

fn bar_chart(data: &[(String, u64)], w: u32) -> String {
    let max = data.iter().map(|d| d.1).max().unwrap_or(1).max(1);
    let h = 22 * data.len() as u32 + 4;
    let mut s =
        format!(r#"<svg class="chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img">"#);
    for (i, (k, v)) in data.iter().enumerate() {
        let y = 22 * i as u32 + 2;
        let bw = ((w - 170) as u64 * v / max).max(1);
        s.push_str(&format!(
            r#"<text x="0" y="{ty}" class="lbl">{k}</text><rect x="120" y="{y}" width="{bw}" height="16" class="bar"/><text x="{tx}" y="{ty}">{v}</text>"#,
            ty = y + 13,
            k = esc(if k.is_empty() { "(none)" } else { k }),
            tx = 124 + bw,
        ));
    }
    s.push_str("</svg>");
    s
}

fn column_chart(data: &[(String, u64)], w: u32, h: u32) -> String {
    if data.is_empty() {
        return "<p class=\"muted\">No alerts yet.</p>".into();
    }
    let max = data.iter().map(|d| d.1).max().unwrap_or(1).max(1);
    let cw = (w / data.len() as u32).max(2);
    let mut s =
        format!(r#"<svg class="chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img">"#);
    for (i, (k, v)) in data.iter().enumerate() {
        let bh = ((h - 20) as u64 * v / max).max(1) as u32;
        s.push_str(&format!(
            r#"<rect x="{x}" y="{y}" width="{bw}" height="{bh}" class="bar"><title>{k}: {v}</title></rect>"#,
            x = i as u32 * cw,
            y = h - 16 - bh,
            bw = cw.saturating_sub(2).max(1),
            k = esc(k),
        ));
    }
    if let (Some(f), Some(l)) = (data.first(), data.last()) {
        s.push_str(&format!(
            r#"<text x="0" y="{h}" class="lbl">{}</text><text x="{w}" y="{h}" text-anchor="end" class="lbl">{}</text>"#,
            esc(&f.0),
            esc(&l.0)
        ));
    }
    s.push_str("</svg>");
    s
}

fn risk_class(r: u32) -> &'static str {
    match r {
        70.. => "risk-high",
        40..70 => "risk-med",
        _ => "risk-low",
    }
}

fn device_table(rows: &[DeviceRow]) -> String {
    let mut s = String::from(
        "<table><thead><tr><th>Device</th><th>IP</th><th>Vendor</th><th>Category</th><th>Model / OS</th><th>Risk</th><th>Open alerts</th><th>Last seen</th></tr></thead><tbody>",
    );
    for d in rows {
        s.push_str(&format!(
            r#"<tr><td><a href="/devices/{m}">{name}</a><div class="muted mono">{m}</div></td><td class="mono">{ip}</td><td>{v}</td><td>{c}</td><td>{mo}</td><td><span class="risk {rc}">{r}</span></td><td>{a}</td><td class="muted">{ls}</td></tr>"#,
            m = esc(&d.mac),
            name = esc(d.hostname.as_deref().unwrap_or(&d.mac)),
            ip = esc(&d.ips.join(", ")),
            v = esc(d.vendor.as_deref().unwrap_or("")),
            c = esc(&d.category),
            mo = esc(&[d.model.as_deref(), d.os.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" / ")),
            rc = risk_class(d.risk),
            r = d.risk,
            a = d.open_alerts,
            ls = esc(&d.last_seen),
        ));
    }
    s.push_str("</tbody></table>");
    s
}

fn triage_form(a: &AlertRow, auth: &Auth, back: &str) -> String {
    if auth.role < Role::Analyst {
        return String::new();
    }
    let next: Vec<TriageState> = TriageState::ALL
        .into_iter()
        .filter(|t| a.state.can_go_to(*t))
        .collect();
    if next.is_empty() {
        return String::new();
    }
    let mut s = format!(
        r#"<form method="post" action="/alerts/{id}/triage" class="triage"><input type="hidden" name="csrf" value="{c}"><input type="hidden" name="back" value="{b}"><input name="comment" placeholder="comment" maxlength="4096">"#,
        id = esc(&a.id),
        c = esc(auth.csrf.as_deref().unwrap_or("")),
        b = esc(back),
    );
    for t in next {
        s.push_str(&format!(
            r#"<button name="state" value="{v}" data-state="{v}">{label}</button>"#,
            v = t.as_str(),
            label = match t {
                TriageState::New => "Reopen",
                TriageState::Acknowledged => "Acknowledge",
                TriageState::Resolved => "Resolve",
                TriageState::FalsePositive => "False positive",
                TriageState::Expected => "Expected",
            }
        ));
    }
    s.push_str("</form>");
    s
}

fn alert_table(rows: &[AlertRow], auth: &Auth, back: &str) -> String {
    let mut s = String::from(
        "<table class=\"alerts\"><thead><tr><th>Severity</th><th>Alert</th><th>Device</th><th>Seen</th><th>Count</th><th>State</th><th>Triage</th></tr></thead><tbody>",
    );
    for a in rows {
        let dev = a
            .device
            .as_deref()
            .map(|d| format!(r#"<a href="/devices/{0}">{0}</a>"#, esc(d)))
            .unwrap_or_default();
        s.push_str(&format!(
            r#"<tr data-alert="{id}"><td><span class="sev sev-{sev}">{sev}</span></td><td><b>{k}</b><div>{sum}</div><div class="muted mono">{id}</div></td><td class="mono">{dev}</td><td class="muted">{fs}<br>{ls}</td><td>{n}</td><td><span class="state state-{st}">{st}</span>{by}</td><td>{form}</td></tr>"#,
            id = esc(&a.id),
            sev = esc(&a.severity),
            k = esc(&a.kind),
            sum = esc(&a.summary),
            fs = esc(&a.first_seen),
            ls = esc(&a.last_seen),
            n = a.count,
            st = a.state.as_str(),
            by = a.state_user.as_deref().map(|u| format!(
                "<div class=\"muted\">by {}{}</div>",
                esc(u),
                a.state_comment.as_deref().filter(|c| !c.is_empty()).map(|c| format!(": {}", esc(c))).unwrap_or_default()
            )).unwrap_or_default(),
            form = triage_form(a, auth, back),
        ));
    }
    s.push_str("</tbody></table>");
    s
}

async fn overview(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let a = match page_user(&st, &headers) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let s = st.store.clone();
    let Ok(Ok(stats)) = tokio::task::spawn_blocking(move || s.stats()).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let open: u64 = stats
        .alerts_by_state
        .iter()
        .filter(|(k, _)| k == "new" || k == "acknowledged")
        .map(|x| x.1)
        .sum();
    let body = format!(
        r#"<section class="tiles"><div class="tile"><b>{}</b>devices</div><div class="tile"><b>{}</b>alerts</div><div class="tile"><b>{open}</b>open alerts</div><div class="tile"><b>{}</b>events ingested</div></section>
<section class="grid"><div class="card"><h2>Devices by category</h2>{}</div><div class="card"><h2>Alerts by severity</h2>{}</div>
<div class="card wide"><h2>Alert timeline (first seen, per hour)</h2>{}</div></section>
<section class="card"><h2>Top risky devices</h2>{}</section>"#,
        stats.devices,
        stats.alerts,
        stats.events,
        bar_chart(&stats.devices_by_category, 420),
        bar_chart(&stats.alerts_by_severity, 420),
        column_chart(&stats.alert_timeline, 860, 120),
        device_table(&stats.top_risky),
    );
    page("Overview", &a, &body)
}

#[derive(Deserialize, Default)]
struct DevQ {
    q: Option<String>,
    category: Option<String>,
    sort: Option<DeviceSort>,
    page: Option<u64>,
}

async fn devices(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<DevQ>,
) -> Response {
    let a = match page_user(&st, &headers) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    const PER: u32 = 100;
    let pg = q.page.unwrap_or(0);
    let dq = DeviceQuery {
        q: q.q.clone(),
        category: q.category.clone().filter(|c| !c.is_empty()),
        sort: q.sort.unwrap_or_default(),
        limit: PER,
        offset: pg * PER as u64,
        ..Default::default()
    };
    let s = st.store.clone();
    let Ok(Ok(p)) = tokio::task::spawn_blocking(move || s.list_devices(&dq)).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let qs = esc(q.q.as_deref().unwrap_or(""));
    let cat = esc(q.category.as_deref().unwrap_or(""));
    let sorts = ["risk", "last_seen", "mac", "vendor", "category"]
        .iter()
        .map(|s| format!(r#"<a href="/devices?sort={s}&q={qs}&category={cat}">{s}</a>"#))
        .collect::<Vec<_>>()
        .join(" · ");
    let sort = q
        .sort
        .map(|s| {
            serde_json::to_value(s)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        })
        .unwrap_or_else(|| "risk".into());
    let mut nav = String::new();
    if pg > 0 {
        nav.push_str(&format!(
            r#"<a href="/devices?sort={sort}&q={qs}&category={cat}&page={}">← previous</a> "#,
            pg - 1
        ));
    }
    if (pg + 1) * (PER as u64) < p.total {
        nav.push_str(&format!(
            r#"<a href="/devices?sort={sort}&q={qs}&category={cat}&page={}">next →</a>"#,
            pg + 1
        ));
    }
    let body = format!(
        r#"<form class="filters" method="get"><input name="q" value="{qs}" placeholder="search MAC, IP, vendor, name"><input name="category" value="{cat}" placeholder="category"><input type="hidden" name="sort" value="{sort}"><button>Filter</button></form>
<p class="muted">{total} devices · sort by {sorts}</p>{t}<p>{nav}</p>"#,
        total = p.total,
        t = device_table(&p.items),
    );
    page("Devices", &a, &body)
}

async fn device(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(mac): Path<String>,
) -> Response {
    let a = match page_user(&st, &headers) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let s = st.store.clone();
    let d = match tokio::task::spawn_blocking(move || s.device(&mac)).await {
        Ok(Ok(Some(d))) => d,
        Ok(Ok(None)) => {
            return (
                StatusCode::NOT_FOUND,
                page("Not found", &a, "<p>No such device.</p>"),
            )
                .into_response();
        }
        _ => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let r = &d.report;
    let list = |k: &str| -> String {
        r.get(k)
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str())
                    .map(esc)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    let mut ev = String::from(
        "<table><thead><tr><th>Source</th><th>Evidence</th><th>Weight</th></tr></thead><tbody>",
    );
    for e in r
        .get("evidence")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
    {
        ev.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{:.2}</td></tr>",
            esc(e.get("source").and_then(|v| v.as_str()).unwrap_or("")),
            esc(e.get("detail").and_then(|v| v.as_str()).unwrap_or("")),
            e.get("weight").and_then(|v| v.as_f64()).unwrap_or(0.0)
        ));
    }
    ev.push_str("</tbody></table>");
    let reasons: String = r
        .pointer("/risk/reasons")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str())
        .map(|x| format!("<li>{}</li>", esc(x)))
        .collect();
    let mut tl = String::from("<ul class=\"timeline\">");
    for h in &d.timeline {
        tl.push_str(&format!(
            "<li><span class=\"muted\">{}</span> {}: {} → {}</li>",
            esc(&h.at),
            esc(&h.field),
            esc(h.old.as_deref().unwrap_or("—")),
            esc(h.new.as_deref().unwrap_or("—"))
        ));
    }
    tl.push_str("</ul>");
    let pk = r.get("packets").and_then(|v| v.as_u64()).unwrap_or(0);
    let by = r.get("bytes").and_then(|v| v.as_u64()).unwrap_or(0);
    let row = &d.row;
    let back = format!("/devices/{}", row.mac);
    let body = format!(
        r#"<section class="grid"><div class="card"><h2>Identity</h2><dl>
<dt>MAC</dt><dd class="mono">{mac}</dd><dt>IP</dt><dd class="mono">{ips}</dd><dt>Vendor</dt><dd>{v}</dd><dt>Category</dt><dd>{c}</dd>
<dt>Model</dt><dd>{mo}</dd><dt>OS</dt><dd>{os}</dd><dt>Hostnames</dt><dd>{hn}</dd><dt>Confidence</dt><dd>{conf:.0}%</dd>
<dt>Services</dt><dd>{svc}</dd><dt>Protocols</dt><dd>{proto}</dd><dt>Seen</dt><dd>{fs} – {ls}</dd></dl></div>
<div class="card"><h2>Risk <span class="risk {rc}">{risk}</span></h2><ul>{reasons}</ul><h2>Traffic</h2>{traffic}</div></section>
<section class="card"><h2>Alerts</h2>{alerts}</section>
{attest}<section class="card"><h2>Identification evidence</h2>{ev}</section>
<section class="card"><h2>Timeline</h2>{tl}</section>"#,
        attest = crate::attest::device_section(&st.data_dir, &row.mac),
        mac = esc(&row.mac),
        ips = esc(&row.ips.join(", ")),
        v = esc(row.vendor.as_deref().unwrap_or("unknown")),
        c = esc(&row.category),
        mo = esc(row.model.as_deref().unwrap_or("—")),
        os = esc(row.os.as_deref().unwrap_or("—")),
        hn = list("hostnames"),
        conf = row.confidence * 100.0,
        svc = list("services"),
        proto = list("protocols"),
        fs = esc(&row.first_seen),
        ls = esc(&row.last_seen),
        rc = risk_class(row.risk),
        risk = row.risk,
        traffic = bar_chart(
            &[("packets".into(), pk), ("bytes / 1000".into(), by / 1000)],
            420
        ),
        alerts = if d.alerts.is_empty() {
            "<p class=\"muted\">None.</p>".into()
        } else {
            alert_table(&d.alerts, &a, &back)
        },
    );
    page(row.hostname.as_deref().unwrap_or(&row.mac), &a, &body)
}

#[derive(Deserialize, Default)]
struct AlertQ {
    state: Option<String>,
}

async fn alerts(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<AlertQ>,
) -> Response {
    let a = match page_user(&st, &headers) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let state = q.state.as_deref().and_then(TriageState::parse);
    let aq = AlertQuery {
        state,
        limit: 500,
        ..Default::default()
    };
    let s = st.store.clone();
    let Ok(Ok(p)) = tokio::task::spawn_blocking(move || s.list_alerts(&aq)).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let tabs: String = std::iter::once(("all", None))
        .chain(TriageState::ALL.iter().map(|t| (t.as_str(), Some(*t))))
        .map(|(l, t)| {
            format!(
                r#"<a href="/alerts{q}" class="{c}">{l}</a>"#,
                q = t
                    .map(|t| format!("?state={}", t.as_str()))
                    .unwrap_or_default(),
                c = if t == state { "on" } else { "" }
            )
        })
        .collect();
    let back = format!(
        "/alerts{}",
        state
            .map(|t| format!("?state={}", t.as_str()))
            .unwrap_or_default()
    );
    let body = format!(
        r#"<nav class="tabs">{tabs}</nav><p class="muted">{} alerts</p>{}"#,
        p.total,
        alert_table(&p.items, &a, &back)
    );
    page("Alerts", &a, &body)
}

#[derive(Deserialize)]
struct TriageForm {
    csrf: String,
    state: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    back: String,
}

async fn triage(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<TriageForm>,
) -> Response {
    let a = match page_user(&st, &headers) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    if !auth::csrf_ok(&a, &axum::http::Method::POST, Some(&f.csrf)) {
        return (StatusCode::FORBIDDEN, "bad CSRF token").into_response();
    }
    if a.must_change {
        return Redirect::to("/password").into_response();
    }
    if a.role < Role::Analyst {
        return (
            StatusCode::FORBIDDEN,
            page("Forbidden", &a, "<p>Triage needs the analyst role.</p>"),
        )
            .into_response();
    }
    let Some(to) = TriageState::parse(&f.state) else {
        return (StatusCode::BAD_REQUEST, "unknown state").into_response();
    };
    let comment: String = f.comment.chars().take(4096).collect();
    let s = st.store.clone();
    let actor = a.actor.clone();
    let r = tokio::task::spawn_blocking(move || s.triage(&id, to, &comment, &actor)).await;
    match r {
        Ok(Ok(_)) => {
            let back = if f.back.starts_with('/') && !f.back.starts_with("//") {
                f.back
            } else {
                "/alerts".into()
            };
            Redirect::to(&back).into_response()
        }
        Ok(Err(palisade_store::StoreError::Conflict(m))) => (
            StatusCode::CONFLICT,
            page("Conflict", &a, &format!("<p>{}</p>", esc(&m))),
        )
            .into_response(),
        Ok(Err(palisade_store::StoreError::NotFound)) => StatusCode::NOT_FOUND.into_response(),
        _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
