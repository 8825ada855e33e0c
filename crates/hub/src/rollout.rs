//! Staged firmware rollouts (issue 9): operators release a TUF target to a percentage of the
//! fleet, device agents ask whether they are in the current wave and report what they run and
//! how the update went; a rollout pauses itself when its failure rate passes its limit. Every
//! route is authenticated and role-checked against [`ROUTES`] like the rest of the API.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::{DefaultBodyLimit, Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use palisade_store::Role;
use palisade_store::rollout::{RolloutState, RolloutStore, UpdateReport, in_wave};

use crate::AppState;
use crate::api::{ApiError, ApiJson, RouteSpec};
use crate::auth::{self, Auth};

const fn spec(
    method: &'static str,
    path: &'static str,
    role: Role,
    op_id: &'static str,
    summary: &'static str,
) -> RouteSpec {
    RouteSpec {
        method,
        path,
        role: Some(role),
        op_id,
        summary,
        tag: "updates",
    }
}

/// The rollout routes (paths relative to `/api/v1`), merged into the OpenAPI document.
pub const ROUTES: &[RouteSpec] = &[
    spec(
        "get",
        "/rollouts",
        Role::Viewer,
        "listRollouts",
        "Firmware rollouts with per-rollout result counts",
    ),
    spec(
        "post",
        "/rollouts",
        Role::Admin,
        "createRollout",
        "Start a staged rollout of a TUF target (percent, failure-rate limit)",
    ),
    spec(
        "post",
        "/rollouts/{id}",
        Role::Admin,
        "updateRollout",
        "Change a rollout's percentage or state (pause, resume, abort, complete)",
    ),
    spec(
        "post",
        "/rollout/assignment",
        Role::Analyst,
        "getRolloutAssignment",
        "Device agent: may this device install the target now? (body: device, target)",
    ),
    spec(
        "post",
        "/rollout/reports",
        Role::Analyst,
        "reportUpdate",
        "Device agent: report the running version and the update result",
    ),
    spec(
        "get",
        "/device-updates",
        Role::Viewer,
        "listDeviceUpdates",
        "Latest update status per device (`rollout=ID` for one rollout's devices)",
    ),
];

const P: &str = "/api/v1";

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(&format!("{P}/rollouts"), get(list).post(create))
        .route(&format!("{P}/rollouts/{{id}}"), post(update))
        .route(&format!("{P}/rollout/assignment"), post(assignment))
        .route(&format!("{P}/rollout/reports"), post(report))
        .route(&format!("{P}/device-updates"), get(device_updates))
        // The main API guard: authentication, role from [`ROUTES`], CSRF and the forced
        // password change, exactly as for every other route.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::api::guard,
        ))
        .layer(DefaultBodyLimit::max(crate::api::MAX_API_BODY))
        .with_state(state)
}

/// Runs `f` on the rollout store off the async runtime.
async fn with_rollouts<T: Send + 'static>(
    st: &Arc<AppState>,
    f: impl FnOnce(&dyn RolloutStore) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let s = st.store.clone();
    tokio::task::spawn_blocking(move || match s.rollouts() {
        Some(r) => f(r),
        None => Err(ApiError::BadRequest(
            "this store does not support rollouts".into(),
        )),
    })
    .await
    .map_err(|_| ApiError::Internal)?
}

pub(crate) fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:@/+-".contains(&b))
}

async fn list(State(st): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let v = with_rollouts(&st, |r| Ok(r.list_rollouts()?)).await?;
    Ok(Json(json!(v)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRollout {
    target: String,
    percent: u8,
    #[serde(default = "default_rate")]
    max_failure_rate: f64,
    #[serde(default = "default_min")]
    min_reports: u32,
}

fn default_rate() -> f64 {
    0.2
}
fn default_min() -> u32 {
    5
}

async fn create(
    State(st): State<Arc<AppState>>,
    Extension(a): Extension<Auth>,
    ApiJson(b): ApiJson<NewRollout>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if !valid_id(&b.target) {
        return Err(ApiError::BadRequest(
            "target: 1-128 characters of [A-Za-z0-9._:@/+-]".into(),
        ));
    }
    let r = with_rollouts(&st, move |r| {
        Ok(r.create_rollout(
            &b.target,
            b.percent,
            b.max_failure_rate,
            b.min_reports,
            &a.actor,
        )?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!(r))))
}

fn parse_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RolloutChange {
    percent: Option<u8>,
    state: Option<RolloutState>,
}

async fn update(
    State(st): State<Arc<AppState>>,
    Extension(a): Extension<Auth>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<RolloutChange>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let r = with_rollouts(&st, move |r| {
        Ok(r.update_rollout(id, b.percent, b.state, &a.actor)?)
    })
    .await?;
    Ok(Json(json!(r)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignmentQuery {
    device: String,
    target: String,
}

async fn assignment(
    State(st): State<Arc<AppState>>,
    ApiJson(q): ApiJson<AssignmentQuery>,
) -> Result<Json<Value>, ApiError> {
    if !valid_id(&q.device) || !valid_id(&q.target) {
        return Err(ApiError::BadRequest(
            "device and target: 1-128 characters of [A-Za-z0-9._:@/+-]".into(),
        ));
    }
    let target = q.target.clone();
    let current = with_rollouts(&st, move |r| Ok(r.current_rollout(&target)?)).await?;
    let v = match current {
        None => json!({ "install": false, "rollout": null,
            "reason": format!("no rollout of {}", q.target) }),
        Some(r) => {
            let (install, reason) = match r.state {
                RolloutState::Active if in_wave(r.id, &q.device, r.percent) => (
                    true,
                    format!("in the {}% wave of rollout {}", r.percent, r.id),
                ),
                RolloutState::Active => (
                    false,
                    format!("not in the {}% wave of rollout {}", r.percent, r.id),
                ),
                RolloutState::Paused => (false, format!("rollout {} is paused: {}", r.id, r.note)),
                RolloutState::Aborted => (false, format!("rollout {} was aborted", r.id)),
                RolloutState::Completed => (true, format!("rollout {} is complete", r.id)),
            };
            json!({ "install": install, "rollout": r.id, "percent": r.percent,
                "state": r.state, "reason": reason })
        }
    };
    Ok(Json(v))
}

async fn report(
    State(st): State<Arc<AppState>>,
    ApiJson(b): ApiJson<UpdateReport>,
) -> Result<Json<Value>, ApiError> {
    b.validate()?;
    let r = with_rollouts(&st, move |r| Ok(r.record_update(&b)?)).await?;
    Ok(Json(json!({ "recorded": true, "rollout": r })))
}

#[derive(Deserialize)]
struct PageQuery {
    rollout: Option<i64>,
    limit: Option<u32>,
    offset: Option<u64>,
}

async fn device_updates(
    State(st): State<Arc<AppState>>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let p = with_rollouts(&st, move |r| {
        Ok(r.device_updates(q.rollout, q.limit.unwrap_or(50), q.offset.unwrap_or(0))?)
    })
    .await?;
    Ok(Json(json!(p)))
}

/// OpenAPI parameters, request body and success response of the rollout operations.
/// Parameters, request body and (status, success response) of one OpenAPI operation.
type OperationDetail = (Vec<Value>, Option<Value>, (String, Value));

pub(crate) fn operation_detail(op: &str) -> Option<OperationDetail> {
    let id_str = json!({ "type": "string", "pattern": "^[A-Za-z0-9._:@/+-]{1,128}$" });
    let body = |schema: Value| json!({ "required": true, "content": { "application/json": { "schema": schema } } });
    let ok = |code: &str, desc: &str, schema: Value| {
        (
            code.to_owned(),
            json!({ "description": desc, "content": { "application/json": { "schema": schema } } }),
        )
    };
    let rollout = json!({ "type": "object", "required": ["id", "target", "percent", "state", "stats"], "properties": {
        "id": { "type": "integer" }, "target": { "type": "string" },
        "percent": { "type": "integer", "minimum": 0, "maximum": 100 },
        "state": { "type": "string", "enum": ["active", "paused", "aborted", "completed"] },
        "max_failure_rate": { "type": "number" }, "min_reports": { "type": "integer" },
        "note": { "type": "string" }, "created_by": { "type": "string" },
        "created_at": { "type": "integer" }, "updated_at": { "type": "integer" },
        "stats": { "type": "object", "properties": { "reported": { "type": "integer" },
            "succeeded": { "type": "integer" }, "failed": { "type": "integer" } } } } });
    let device_update = json!({ "type": "object", "properties": {
        "device": { "type": "string" }, "target": { "type": "string" }, "result": { "type": "string" },
        "running_version": { "type": ["string", "null"] }, "security_counter": { "type": ["integer", "null"] },
        "candidate_version": { "type": ["string", "null"] }, "detail": { "type": "string" },
        "rollout_id": { "type": ["integer", "null"] }, "reported_at": { "type": "integer" } } });
    let q = |name: &str, schema: Value, desc: &str| json!({ "name": name, "in": "query", "required": false, "schema": schema, "description": desc });
    Some(match op {
        "listRollouts" => (
            vec![],
            None,
            ok(
                "200",
                "Rollouts, newest first",
                json!({ "type": "array", "items": rollout }),
            ),
        ),
        "createRollout" => (
            vec![],
            Some(body(
                json!({ "type": "object", "required": ["target", "percent"], "additionalProperties": false,
                "properties": { "target": id_str, "percent": { "type": "integer", "minimum": 0, "maximum": 100 },
                    "max_failure_rate": { "type": "number", "minimum": 0, "maximum": 1, "default": 0.2 },
                    "min_reports": { "type": "integer", "minimum": 0, "default": 5 } } }),
            )),
            ok(
                "201",
                "Created (409 while another rollout of the target is open)",
                rollout,
            ),
        ),
        "updateRollout" => (
            vec![
                json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string" }, "description": "Rollout id" }),
            ],
            Some(body(
                json!({ "type": "object", "additionalProperties": false, "properties": {
                "percent": { "type": "integer", "minimum": 0, "maximum": 100 },
                "state": { "type": "string", "enum": ["active", "paused", "aborted", "completed"] } } }),
            )),
            ok(
                "200",
                "Updated (409 for a transition that is not allowed)",
                rollout,
            ),
        ),
        "getRolloutAssignment" => (
            vec![],
            Some(body(
                json!({ "type": "object", "required": ["device", "target"], "additionalProperties": false,
                "properties": { "device": id_str, "target": id_str } }),
            )),
            ok(
                "200",
                "Whether to install now, and why",
                json!({ "type": "object", "required": ["install", "reason"],
                "properties": { "install": { "type": "boolean" }, "rollout": { "type": ["integer", "null"] },
                    "reason": { "type": "string" } } }),
            ),
        ),
        "reportUpdate" => (
            vec![],
            Some(body(
                json!({ "type": "object", "required": ["device", "target", "result"], "properties": {
                "device": id_str, "target": id_str,
                "result": { "type": "string", "enum": palisade_store::rollout::RESULTS },
                "running_version": { "type": ["string", "null"] }, "security_counter": { "type": ["integer", "null"] },
                "candidate_version": { "type": ["string", "null"] }, "candidate_sha256": { "type": ["string", "null"] },
                "detail": { "type": "string", "maxLength": 2048 }, "at": { "type": ["integer", "null"] } } }),
            )),
            ok(
                "200",
                "Recorded; the rollout after counting it",
                json!({ "type": "object" }),
            ),
        ),
        "listDeviceUpdates" => (
            vec![
                q(
                    "rollout",
                    json!({ "type": "integer" }),
                    "Only devices that reported in this rollout",
                ),
                q(
                    "limit",
                    json!({ "type": "integer", "minimum": 1, "maximum": 1000 }),
                    "Page size (default 50)",
                ),
                q(
                    "offset",
                    json!({ "type": "integer", "minimum": 0 }),
                    "Items to skip",
                ),
            ],
            None,
            ok(
                "200",
                "A page of device update statuses",
                json!({ "type": "object", "properties": {
                "total": { "type": "integer" }, "items": { "type": "array", "items": device_update } } }),
            ),
        ),
        _ => return None,
    })
}

/// Largest repository file the hub serves (firmware images are a few MiB).
const MAX_UPDATE_FILE: u64 = 256 << 20;

/// The TUF repository in DATA_DIR/updates, mounted read-only at `/updates/`.
struct Updates {
    app: Arc<AppState>,
    root: PathBuf,
}

/// `GET /updates/metadata/...` and `/updates/targets/...`: the TUF repository that
/// `palisade update init|add-target|publish --repo DATA_DIR/updates` maintains, served to
/// authenticated devices. Devices present a bearer API token (any role; the agent's token is
/// analyst so it can also report). Client-certificate authentication belongs to the mTLS
/// gateway (issue 10), which can mount this same router.
pub(crate) fn updates_router(state: Arc<AppState>, root: PathBuf) -> Router {
    Router::new()
        .route("/updates/{*path}", get(serve_update))
        .with_state(Arc::new(Updates { app: state, root }))
}

/// `metadata/NAME` or `targets/A/B...`: plain segments only, so no path leaves the repository.
fn repo_path(path: &str) -> Option<PathBuf> {
    let mut segs = path.split('/');
    let top = segs.next()?;
    if top != "metadata" && top != "targets" {
        return None;
    }
    let mut out = PathBuf::from(top);
    let mut n = 0;
    for s in segs {
        let ok = !s.is_empty()
            && s.len() <= 255
            && !s.starts_with('.')
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-+@=".contains(&b));
        if !ok {
            return None;
        }
        out.push(s);
        n += 1;
    }
    (n > 0 && path.len() <= 1024).then_some(out)
}

async fn serve_update(
    State(u): State<Arc<Updates>>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    let st = &u.app;
    st.metrics.requests.fetch_add(1, Ordering::Relaxed);
    let store = st.store.clone();
    let auth = tokio::task::spawn_blocking(move || auth::authenticate(store.as_ref(), &headers))
        .await
        .ok()
        .flatten();
    let Some(auth) = auth else {
        st.metrics.auth_failures.fetch_add(1, Ordering::Relaxed);
        return ApiError::Unauthenticated.into_response();
    };
    if auth.must_change {
        return ApiError::Forbidden(
            "change the one-time password first (console /password)".into(),
        )
        .into_response();
    }
    repo_file(u.root.clone(), path).await
}

/// One file of the TUF repository under `root`, for a caller that has already authenticated
/// the device (the bearer-token mount above; the mTLS gateway of issue 10 can call it after its
/// client-certificate check).
pub(crate) async fn repo_file(root: PathBuf, path: String) -> Response {
    let Some(rel) = repo_path(&path) else {
        return ApiError::NotFound.into_response();
    };
    let file = root.join(&rel);
    // symlink_metadata: a link planted in the repository is not followed.
    let read = tokio::task::spawn_blocking(move || match std::fs::symlink_metadata(&file) {
        Ok(m) if m.is_file() && m.len() <= MAX_UPDATE_FILE => std::fs::read(&file).ok(),
        Ok(m) if m.is_file() => {
            tracing::warn!("{}: larger than {MAX_UPDATE_FILE} bytes", file.display());
            None
        }
        _ => None,
    })
    .await;
    let Ok(Some(body)) = read else {
        return ApiError::NotFound.into_response();
    };
    let ctype = if path.ends_with(".json") {
        "application/json"
    } else {
        "application/octet-stream"
    };
    // Metadata changes in place (timestamp.json every publish): never cache it.
    let cache = if rel.starts_with("metadata") {
        "no-store"
    } else {
        "private, max-age=300"
    };
    (
        [
            (header::CONTENT_TYPE, ctype),
            (header::CACHE_CONTROL, cache),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::repo_path;

    #[test]
    fn repository_paths_stay_inside() {
        assert!(repo_path("metadata/1.root.json").is_some());
        assert!(repo_path("targets/0a1b.fw-cam.bin").is_some());
        assert!(repo_path("targets/dir/x.bin").is_some());
        for bad in [
            "metadata",
            "metadata/",
            "metadata/../kek",
            "targets/./x",
            "targets/.hidden",
            "keys/root.pem",
            "../hub.db",
            "metadata//x",
            "targets/a%2f..",
            "metadata/a\\b",
        ] {
            assert!(repo_path(bad).is_none(), "{bad}");
        }
    }
}
