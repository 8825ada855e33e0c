//! The REST API under `/api/v1`. [`ROUTES`] is the single source of truth for paths, methods and
//! the role each needs: the guard middleware enforces it and the OpenAPI document is built from it.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Extension, MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use palisade_store::{AlertQuery, DeviceQuery, DeviceSort, Role, StoreError, TriageState};

use crate::AppState;
use crate::auth::{self, Auth};

/// One API operation.
pub struct RouteSpec {
    pub method: &'static str,
    /// OpenAPI path relative to the server URL `/api/v1` (same syntax as axum's router).
    pub path: &'static str,
    /// Least role allowed; `None` = public.
    pub role: Option<Role>,
    pub op_id: &'static str,
    pub summary: &'static str,
    pub tag: &'static str,
}

macro_rules! r {
    ($m:literal, $p:literal, $role:expr, $op:literal, $tag:literal, $s:literal) => {
        RouteSpec {
            method: $m,
            path: $p,
            role: $role,
            op_id: $op,
            summary: $s,
            tag: $tag,
        }
    };
}

const V: Option<Role> = Some(Role::Viewer);
const AN: Option<Role> = Some(Role::Analyst);
const AD: Option<Role> = Some(Role::Admin);

pub const ROUTES: &[RouteSpec] = &[
    r!(
        "get",
        "/openapi.json",
        None,
        "getOpenapi",
        "meta",
        "This OpenAPI 3.1 document (public)"
    ),
    r!(
        "get",
        "/health",
        None,
        "getHealth",
        "meta",
        "Liveness (public; reveals nothing)"
    ),
    r!(
        "get",
        "/session",
        V,
        "getSession",
        "auth",
        "The caller's identity, role and CSRF token"
    ),
    r!(
        "get",
        "/stats",
        V,
        "getStats",
        "overview",
        "Counts by category, severity and state; top risky devices"
    ),
    r!(
        "get",
        "/metrics",
        V,
        "getMetrics",
        "meta",
        "Prometheus metrics"
    ),
    r!(
        "get",
        "/devices",
        V,
        "listDevices",
        "devices",
        "List devices (filter, sort, paginate)"
    ),
    r!(
        "get",
        "/devices/{mac}",
        V,
        "getDevice",
        "devices",
        "Device detail: evidence, risk, alerts, timeline"
    ),
    r!(
        "get",
        "/alerts",
        V,
        "listAlerts",
        "alerts",
        "List alerts (filter, paginate)"
    ),
    r!(
        "get",
        "/alerts/{id}",
        V,
        "getAlert",
        "alerts",
        "Alert detail with triage history"
    ),
    r!(
        "post",
        "/alerts/{id}/triage",
        AN,
        "triageAlert",
        "alerts",
        "Change an alert's triage state"
    ),
    r!(
        "get",
        "/stream/alerts",
        V,
        "streamAlerts",
        "alerts",
        "Server-Sent Events stream of new alerts"
    ),
    r!(
        "post",
        "/ingest",
        AN,
        "ingest",
        "ingest",
        "Ingest `palisade analyze --format ndjson` output (idempotent)"
    ),
    r!(
        "get",
        "/suppressions",
        V,
        "listSuppressions",
        "alerts",
        "Alert suppression rules (active ones unless include_expired=true)"
    ),
    r!(
        "post",
        "/suppressions",
        AN,
        "createSuppression",
        "alerts",
        "Add a suppression rule: new matching alerts are stored as `expected` until it expires"
    ),
    r!(
        "delete",
        "/suppressions/{id}",
        AN,
        "deleteSuppression",
        "alerts",
        "Delete a suppression rule"
    ),
    r!(
        "get",
        "/audit",
        AD,
        "listAudit",
        "admin",
        "Audit log of mutating actions"
    ),
    r!("get", "/users", AD, "listUsers", "admin", "List users"),
    r!("post", "/users", AD, "createUser", "admin", "Create a user"),
    r!(
        "get",
        "/tokens",
        AD,
        "listTokens",
        "admin",
        "List API tokens (never their secrets)"
    ),
    r!(
        "post",
        "/tokens",
        AD,
        "createToken",
        "admin",
        "Create an API token (the secret is shown once)"
    ),
    r!(
        "delete",
        "/tokens/{id}",
        AD,
        "revokeToken",
        "admin",
        "Revoke an API token"
    ),
];

pub(crate) fn spec_for(method: &Method, path: &str) -> Option<&'static RouteSpec> {
    let m = method.as_str().to_ascii_lowercase();
    // All documented routes, so other modules' routers can use [`guard`] too.
    crate::openapi::ROUTES
        .iter()
        .find(|r| r.method == m && r.path == path)
}

/// Maximum ingest request body.
pub const MAX_INGEST_BODY: usize = 64 << 20;
/// Maximum body of every other API request (JSON objects of a few fields).
pub const MAX_API_BODY: usize = 64 << 10;
/// Longest accepted free-text query parameter.
const MAX_PARAM: usize = 256;

pub(crate) fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/openapi.json", get(openapi))
        .route("/health", get(health))
        .route("/session", get(session))
        .route("/stats", get(stats))
        .route("/metrics", get(metrics))
        .route("/devices", get(list_devices))
        .route("/devices/{mac}", get(get_device))
        .route("/alerts", get(list_alerts))
        .route("/alerts/{id}", get(get_alert))
        .route("/alerts/{id}/triage", post(triage))
        .route("/stream/alerts", get(stream_alerts))
        .route(
            "/ingest",
            post(ingest).layer(DefaultBodyLimit::max(MAX_INGEST_BODY)),
        )
        .route(
            "/suppressions",
            get(list_suppressions).post(create_suppression),
        )
        .route("/suppressions/{id}", delete(delete_suppression))
        .route("/audit", get(list_audit))
        .route("/users", get(list_users).post(create_user))
        .route("/tokens", get(list_tokens).post(create_token))
        .route("/tokens/{id}", delete(revoke_token))
        .route_layer(middleware::from_fn_with_state(state.clone(), guard))
        .layer(DefaultBodyLimit::max(MAX_API_BODY))
        .with_state(state.clone());
    Router::new()
        .nest("/api/v1", api)
        // Prometheus scrapers expect /metrics; same guard, same handler.
        .route(
            "/metrics",
            get(metrics).route_layer(middleware::from_fn_with_state(state.clone(), guard)),
        )
        .with_state(state)
}

/// Authenticates and authorises every API request against [`ROUTES`].
pub(crate) async fn guard(
    State(st): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    st.metrics.requests.fetch_add(1, Ordering::Relaxed);
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().trim_start_matches("/api/v1").to_owned())
        .unwrap_or_default();
    let Some(spec) = spec_for(req.method(), &path) else {
        // A documented path with an undocumented method (HEAD included) is 405.
        let allowed: Vec<String> = crate::openapi::ROUTES
            .iter()
            .filter(|r| r.path == path)
            .map(|r| r.method.to_ascii_uppercase())
            .collect();
        if allowed.is_empty() {
            return ApiError::NotFound.into_response();
        }
        let mut r = (
            StatusCode::METHOD_NOT_ALLOWED,
            Json(json!({ "error": "method not allowed" })),
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&allowed.join(", ")) {
            r.headers_mut().insert(header::ALLOW, v);
        }
        return r;
    };
    let Some(need) = spec.role else {
        return next.run(req).await;
    };
    let store = st.store.clone();
    let headers = req.headers().clone();
    let auth = tokio::task::spawn_blocking(move || auth::authenticate(store.as_ref(), &headers))
        .await
        .ok()
        .flatten();
    let Some(auth) = auth else {
        st.metrics.auth_failures.fetch_add(1, Ordering::Relaxed);
        return ApiError::Unauthenticated.into_response();
    };
    if auth.role < need {
        return ApiError::Forbidden(format!("requires role {}", need.as_str())).into_response();
    }
    let presented = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok());
    if !auth::csrf_ok(&auth, req.method(), presented) {
        return ApiError::Forbidden("missing or wrong X-CSRF-Token".into()).into_response();
    }
    if auth.must_change && spec.op_id != "getSession" {
        return ApiError::Forbidden(
            "change the one-time password first (console /password)".into(),
        )
        .into_response();
    }
    req.extensions_mut().insert(auth);
    next.run(req).await
}

#[derive(Debug)]
pub(crate) enum ApiError {
    Unauthenticated,
    Forbidden(String),
    NotFound,
    BadRequest(String),
    Conflict(String),
    Internal,
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Conflict(m) => ApiError::Conflict(m),
            StoreError::Invalid(m) => ApiError::BadRequest(m),
            e => {
                tracing::error!("store: {e}");
                ApiError::Internal
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (code, msg) = match self {
            ApiError::Unauthenticated => {
                (StatusCode::UNAUTHORIZED, "authentication required".into())
            }
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, m),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not found".into()),
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, m),
            ApiError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal error".into()),
        };
        let mut r = (code, Json(json!({ "error": msg }))).into_response();
        if code == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"palisade\""),
            );
        }
        r
    }
}

type ApiResult<T> = Result<T, ApiError>;

fn bad_query(e: QueryRejection) -> ApiError {
    ApiError::BadRequest(e.body_text())
}

/// A JSON body rejection keeps its status (400, 413, 415, 422) with a JSON error body.
fn bad_json(e: JsonRejection) -> Response {
    (e.status(), Json(json!({ "error": e.body_text() }))).into_response()
}

/// `Json` whose rejections (400, 413, 415, 422) carry a JSON error body like every other error.
pub(crate) struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for ApiJson<T> {
    type Rejection = Response;
    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        Json::<T>::from_request(req, state)
            .await
            .map(|Json(v)| ApiJson(v))
            .map_err(bad_json)
    }
}

/// The largest offset SQLite takes (an i64), far past any real table.
const MAX_OFFSET: u64 = 1 << 40;

fn check_page(limit: Option<u32>, offset: Option<u64>) -> ApiResult<()> {
    if limit.is_some_and(|l| !(1..=1000).contains(&l)) {
        return Err(ApiError::BadRequest("limit: 1 to 1000".into()));
    }
    if offset.is_some_and(|o| o > MAX_OFFSET) {
        return Err(ApiError::BadRequest(format!(
            "offset: at most {MAX_OFFSET}"
        )));
    }
    Ok(())
}

fn check_len(name: &str, v: &Option<String>) -> ApiResult<()> {
    if v.as_ref().is_some_and(|v| v.len() > MAX_PARAM) {
        return Err(ApiError::BadRequest(format!(
            "{name}: at most {MAX_PARAM} bytes"
        )));
    }
    Ok(())
}

/// Runs a store call off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ApiError::Internal)?
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::document().to_string(),
    )
        .into_response()
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn session(Extension(a): Extension<Auth>) -> Json<serde_json::Value> {
    Json(json!({ "user": a.actor, "role": a.role, "csrf": a.csrf }))
}

async fn stats(State(st): State<Arc<AppState>>) -> ApiResult<Json<palisade_store::Stats>> {
    let s = st.store.clone();
    Ok(Json(blocking(move || Ok(s.stats()?)).await?))
}

async fn metrics(State(st): State<Arc<AppState>>) -> ApiResult<Response> {
    let s = st.store.clone();
    let stats = blocking(move || Ok(s.stats()?)).await?;
    let m = &st.metrics;
    let mut out = String::new();
    let mut line = |name: &str, kind: &str, help: &str, v: u64| {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"
        ));
    };
    line(
        "palisade_http_requests_total",
        "counter",
        "API requests.",
        m.requests.load(Ordering::Relaxed),
    );
    line(
        "palisade_auth_failures_total",
        "counter",
        "Requests refused for missing or bad credentials.",
        m.auth_failures.load(Ordering::Relaxed),
    );
    line(
        "palisade_ingest_events_total",
        "counter",
        "Events written by ingest.",
        m.ingest_events.load(Ordering::Relaxed),
    );
    line(
        "palisade_ingest_duplicates_total",
        "counter",
        "Events ignored as already stored.",
        m.ingest_duplicates.load(Ordering::Relaxed),
    );
    line(
        "palisade_ingest_batches_total",
        "counter",
        "Ingest requests.",
        m.ingest_batches.load(Ordering::Relaxed),
    );
    line(
        "palisade_devices",
        "gauge",
        "Devices stored.",
        stats.devices,
    );
    line("palisade_alerts", "gauge", "Alerts stored.", stats.alerts);
    line(
        "palisade_events",
        "gauge",
        "Event ids stored.",
        stats.events,
    );
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}

#[derive(Deserialize)]
struct DeviceParams {
    q: Option<String>,
    category: Option<String>,
    min_risk: Option<u32>,
    sort: Option<DeviceSort>,
    order: Option<SortOrder>,
    limit: Option<u32>,
    offset: Option<u64>,
    after: Option<String>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum SortOrder {
    Asc,
    Desc,
}

/// Query parameters, with a malformed query answered as a JSON 400.
async fn list_devices(
    State(st): State<Arc<AppState>>,
    p: Result<Query<DeviceParams>, QueryRejection>,
) -> ApiResult<Json<palisade_store::Page<palisade_store::DeviceRow>>> {
    let Query(p) = p.map_err(bad_query)?;
    check_page(p.limit, p.offset)?;
    check_len("q", &p.q)?;
    check_len("category", &p.category)?;
    check_len("after", &p.after)?;
    if p.min_risk.is_some_and(|r| r > 100) {
        return Err(ApiError::BadRequest("min_risk: 0 to 100".into()));
    }
    let q = DeviceQuery {
        q: p.q,
        category: p.category,
        min_risk: p.min_risk,
        sort: p.sort.unwrap_or_default(),
        asc: p.order.map(|o| matches!(o, SortOrder::Asc)),
        limit: p.limit.unwrap_or(50),
        offset: p.offset.unwrap_or(0),
        after: p.after,
    };
    let s = st.store.clone();
    Ok(Json(blocking(move || Ok(s.list_devices(&q)?)).await?))
}

async fn get_device(
    State(st): State<Arc<AppState>>,
    Path(mac): Path<String>,
) -> ApiResult<Json<palisade_store::DeviceDetail>> {
    if mac.len() > MAX_PARAM {
        return Err(ApiError::NotFound);
    }
    let s = st.store.clone();
    let d = blocking(move || Ok(s.device(&mac)?)).await?;
    d.map(Json).ok_or(ApiError::NotFound)
}

#[derive(Deserialize)]
struct AlertParams {
    state: Option<TriageState>,
    severity: Option<String>,
    kind: Option<String>,
    device: Option<String>,
    limit: Option<u32>,
    offset: Option<u64>,
}

async fn list_alerts(
    State(st): State<Arc<AppState>>,
    p: Result<Query<AlertParams>, QueryRejection>,
) -> ApiResult<Json<palisade_store::Page<palisade_store::AlertRow>>> {
    let Query(p) = p.map_err(bad_query)?;
    check_page(p.limit, p.offset)?;
    check_len("severity", &p.severity)?;
    check_len("kind", &p.kind)?;
    check_len("device", &p.device)?;
    let q = AlertQuery {
        state: p.state,
        severity: p.severity,
        kind: p.kind,
        device: p.device,
        limit: p.limit.unwrap_or(50),
        offset: p.offset.unwrap_or(0),
    };
    let s = st.store.clone();
    Ok(Json(blocking(move || Ok(s.list_alerts(&q)?)).await?))
}

async fn get_alert(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    if id.len() > MAX_PARAM {
        return Err(ApiError::NotFound);
    }
    let s = st.store.clone();
    let (a, tr) = blocking(move || Ok(s.alert(&id)?))
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut v = serde_json::to_value(a).map_err(|_| ApiError::Internal)?;
    v["transitions"] = serde_json::to_value(tr).map_err(|_| ApiError::Internal)?;
    Ok(Json(v))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TriageBody {
    pub state: TriageState,
    #[serde(default)]
    pub comment: String,
}

async fn triage(
    State(st): State<Arc<AppState>>,
    Extension(a): Extension<Auth>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<TriageBody>,
) -> ApiResult<Json<palisade_store::AlertRow>> {
    if b.comment.len() > 4096 {
        return Err(ApiError::BadRequest(
            "comment longer than 4096 bytes".into(),
        ));
    }
    let s = st.store.clone();
    Ok(Json(
        blocking(move || Ok(s.triage(&id, b.state, &b.comment, &a.actor)?)).await?,
    ))
}

async fn ingest(
    State(st): State<Arc<AppState>>,
    Extension(a): Extension<Auth>,
    body: String,
) -> ApiResult<Json<palisade_store::IngestOutcome>> {
    let s = st.store.clone();
    let out = blocking(move || {
        let o = s.ingest_ndjson(&body)?;
        s.audit(
            &a.actor,
            "ingest",
            "events",
            &format!(
                "accepted {} duplicates {} ignored {} rejected {}",
                o.accepted,
                o.duplicates,
                o.ignored,
                o.rejected.len()
            ),
        )?;
        Ok(o)
    })
    .await?;
    let m = &st.metrics;
    m.ingest_batches.fetch_add(1, Ordering::Relaxed);
    m.ingest_events.fetch_add(out.accepted, Ordering::Relaxed);
    m.ingest_duplicates
        .fetch_add(out.duplicates, Ordering::Relaxed);
    if out.accepted > 0 {
        st.new_alerts.send_modify(|v| *v += 1);
    }
    Ok(Json(out))
}

async fn stream_alerts(
    State(st): State<Arc<AppState>>,
) -> ApiResult<Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>>> {
    let s = st.store.clone();
    let (_, start) = blocking(move || Ok(s.alerts_since(-1)?)).await?;
    let rx = st.new_alerts.subscribe();
    let init = (st.store.clone(), rx, start, VecDeque::new());
    let stream =
        futures_util::stream::unfold(init, |(store, mut rx, mut seq, mut buf)| async move {
            loop {
                if let Some(ev) = buf.pop_front() {
                    return Some((Ok(ev), (store, rx, seq, buf)));
                }
                // Wake on ingest, or poll every few seconds (another process may write the store).
                let _ = tokio::time::timeout(Duration::from_secs(5), rx.changed()).await;
                let s = store.clone();
                let Ok(Ok((rows, last))) =
                    tokio::task::spawn_blocking(move || s.alerts_since(seq)).await
                else {
                    continue;
                };
                seq = last;
                for a in rows {
                    if let Ok(data) = serde_json::to_string(&a) {
                        buf.push_back(Event::default().event("alert").id(a.id.clone()).data(data));
                    }
                }
            }
        });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

#[derive(Deserialize)]
struct PageParams {
    limit: Option<u32>,
    offset: Option<u64>,
}

async fn list_audit(
    State(st): State<Arc<AppState>>,
    p: Result<Query<PageParams>, QueryRejection>,
) -> ApiResult<Json<palisade_store::Page<palisade_store::AuditEntry>>> {
    let Query(p) = p.map_err(bad_query)?;
    check_page(p.limit, p.offset)?;
    let s = st.store.clone();
    Ok(Json(
        blocking(move || Ok(s.list_audit(p.limit.unwrap_or(100), p.offset.unwrap_or(0))?)).await?,
    ))
}

async fn list_users(State(st): State<Arc<AppState>>) -> ApiResult<Json<Vec<palisade_store::User>>> {
    let s = st.store.clone();
    Ok(Json(blocking(move || Ok(s.list_users()?)).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
    role: Role,
    password: String,
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
}

async fn create_user(
    State(st): State<Arc<AppState>>,
    Extension(a): Extension<Auth>,
    ApiJson(b): ApiJson<NewUser>,
) -> ApiResult<(StatusCode, Json<palisade_store::User>)> {
    if !valid_name(&b.name) {
        return Err(ApiError::BadRequest("name: 1-64 of [A-Za-z0-9-_.@]".into()));
    }
    if b.password.chars().count() < 12 || b.password.len() > 1024 {
        return Err(ApiError::BadRequest(
            "password: 12 to 1024 characters".into(),
        ));
    }
    let s = st.store.clone();
    let u = blocking(move || {
        let u = s.create_user(&b.name, b.role, &auth::hash_password(&b.password))?;
        s.audit(
            &a.actor,
            "user.create",
            &u.name,
            &format!("role {}", u.role.as_str()),
        )?;
        Ok(u)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(u)))
}

async fn list_tokens(
    State(st): State<Arc<AppState>>,
) -> ApiResult<Json<Vec<palisade_store::TokenInfo>>> {
    let s = st.store.clone();
    Ok(Json(blocking(move || Ok(s.list_tokens()?)).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    role: Role,
}

async fn create_token(
    State(st): State<Arc<AppState>>,
    Extension(a): Extension<Auth>,
    ApiJson(b): ApiJson<NewToken>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    if !valid_name(&b.name) {
        return Err(ApiError::BadRequest("name: 1-64 of [A-Za-z0-9-_.@]".into()));
    }
    let s = st.store.clone();
    let (secret, info) = blocking(move || {
        let (secret, hash) = auth::new_token();
        let info = s.create_token(&b.name, b.role, &hash, &a.actor)?;
        s.audit(
            &a.actor,
            "token.create",
            &info.name,
            &format!("id {} role {}", info.id, info.role.as_str()),
        )?;
        Ok((secret, info))
    })
    .await?;
    let mut v = serde_json::to_value(info).map_err(|_| ApiError::Internal)?;
    v["token"] = secret.into();
    Ok((StatusCode::CREATED, Json(v)))
}

async fn revoke_token(
    State(st): State<Arc<AppState>>,
    Extension(a): Extension<Auth>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: i64 = id.parse().map_err(|_| ApiError::NotFound)?;
    let s = st.store.clone();
    blocking(move || {
        s.revoke_token(id)?;
        s.audit(&a.actor, "token.revoke", &id.to_string(), "")?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct SuppressionParams {
    include_expired: Option<bool>,
}

async fn list_suppressions(
    State(st): State<Arc<AppState>>,
    p: Result<Query<SuppressionParams>, QueryRejection>,
) -> ApiResult<Json<Vec<palisade_store::Suppression>>> {
    let Query(p) = p.map_err(bad_query)?;
    let s = st.store.clone();
    let all = p.include_expired.unwrap_or(false);
    Ok(Json(blocking(move || Ok(s.list_suppressions(all)?)).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSuppression {
    kind: Option<String>,
    device: Option<String>,
    reason: String,
    /// Unix seconds; absent = until deleted.
    expires_at: Option<i64>,
}

async fn create_suppression(
    State(st): State<Arc<AppState>>,
    Extension(a): Extension<Auth>,
    ApiJson(b): ApiJson<NewSuppression>,
) -> ApiResult<(StatusCode, Json<palisade_store::Suppression>)> {
    let kind = b.kind.filter(|k| !k.is_empty());
    let device = b.device.filter(|d| !d.is_empty());
    if kind.is_none() && device.is_none() {
        return Err(ApiError::BadRequest("give kind, device or both".into()));
    }
    check_len("kind", &kind)?;
    check_len("device", &device)?;
    if b.reason.trim().is_empty() || b.reason.len() > 1024 {
        return Err(ApiError::BadRequest("reason: 1 to 1024 bytes".into()));
    }
    if b.expires_at.is_some_and(|e| e <= palisade_store::now()) {
        return Err(ApiError::BadRequest(
            "expires_at is not in the future".into(),
        ));
    }
    let s = st.store.clone();
    let rule = blocking(move || {
        let r = s.create_suppression(
            kind.as_deref(),
            device.as_deref(),
            b.reason.trim(),
            &a.actor,
            b.expires_at,
        )?;
        s.audit(
            &a.actor,
            "suppression.create",
            &r.id.to_string(),
            &format!(
                "kind {} device {} expires {}: {}",
                r.kind.as_deref().unwrap_or("*"),
                r.device.as_deref().unwrap_or("*"),
                r.expires_at
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| "never".into()),
                r.reason
            ),
        )?;
        Ok(r)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(rule)))
}

async fn delete_suppression(
    State(st): State<Arc<AppState>>,
    Extension(a): Extension<Auth>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: i64 = id.parse().map_err(|_| ApiError::NotFound)?;
    let s = st.store.clone();
    blocking(move || {
        s.delete_suppression(id)?;
        s.audit(&a.actor, "suppression.delete", &id.to_string(), "")?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
