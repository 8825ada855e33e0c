//! Zones and per-device policies over the API (issue 8): list and edit zones, assign devices
//! (with an optional MUD profile, validated here, and an expiry), and export what a gateway
//! must enforce as one `nft -f` ruleset (the quarantine zone with its devices, and one compiled
//! MUD table per device of a policy zone). Paths and roles are in [`ROUTES`]; the main API guard
//! enforces them and the OpenAPI document lists them (via `openapi::ROUTES`).

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use palisade_store::zones::{Assignment, DeviceZone, Isolation, Zone, ZoneStore};
use palisade_store::{Role, Store, StoreError, now};

use crate::AppState;
use crate::api::{ApiError, ApiJson, RouteSpec};
use crate::auth::Auth;

type ApiResult<T> = Result<T, ApiError>;

const fn route(
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
        tag: "zones",
    }
}

/// The zone operations (paths relative to `/api/v1`).
pub const ROUTES: &[RouteSpec] = &[
    route(
        "get",
        "/zones",
        Role::Viewer,
        "listZones",
        "List zones with their device counts",
    ),
    route(
        "put",
        "/zones/{id}",
        Role::Admin,
        "putZone",
        "Create or update a zone",
    ),
    route(
        "delete",
        "/zones/{id}",
        Role::Admin,
        "deleteZone",
        "Delete a custom zone without devices",
    ),
    route(
        "get",
        "/zone-assignments",
        Role::Viewer,
        "listZoneAssignments",
        "Devices assigned to zones (unexpired)",
    ),
    route(
        "get",
        "/devices/{mac}/zone",
        Role::Viewer,
        "getDeviceZone",
        "A device's effective zone and policy",
    ),
    route(
        "put",
        "/devices/{mac}/zone",
        Role::Analyst,
        "setDeviceZone",
        "Assign a device to a zone (optional MUD profile, expiry)",
    ),
    route(
        "get",
        "/enforcement/nft",
        Role::Viewer,
        "exportNft",
        "The gateway ruleset for the current zones (nft -f)",
    ),
];

/// Largest per-device MUD profile accepted (the UNSW profiles are a few KiB).
const MAX_PROFILE: usize = 256 << 10;

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/v1/zones", get(list_zones))
        .route("/api/v1/zones/{id}", put(put_zone).delete(delete_zone))
        .route("/api/v1/zone-assignments", get(list_assignments))
        .route(
            "/api/v1/devices/{mac}/zone",
            get(get_device_zone).put(set_device_zone),
        )
        .route("/api/v1/enforcement/nft", get(export_nft))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::api::guard,
        ))
        .with_state(state)
}

/// Runs a zone-store call off the async runtime.
async fn with_zones<T: Send + 'static>(
    st: &Arc<AppState>,
    f: impl FnOnce(&dyn Store, &dyn ZoneStore) -> Result<T, ApiError> + Send + 'static,
) -> ApiResult<T> {
    let s = st.store.clone();
    tokio::task::spawn_blocking(move || {
        let z = s
            .zones()
            .ok_or_else(|| ApiError::BadRequest("this store has no zones".into()))?;
        f(s.as_ref(), z)
    })
    .await
    .map_err(|_| ApiError::Internal)?
}

fn store_err(e: StoreError) -> ApiError {
    ApiError::from(e)
}

async fn list_zones(State(st): State<Arc<AppState>>) -> ApiResult<Json<Vec<Zone>>> {
    Ok(Json(
        with_zones(&st, |_, z| z.list_zones(now()).map_err(store_err)).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ZoneBody {
    #[serde(default)]
    description: String,
    isolation: Isolation,
}

async fn put_zone(
    State(st): State<Arc<AppState>>,
    Extension(a): Extension<Auth>,
    Path(name): Path<String>,
    ApiJson(b): ApiJson<ZoneBody>,
) -> ApiResult<Json<Zone>> {
    Ok(Json(
        with_zones(&st, move |s, z| {
            let zone = z
                .put_zone(&name, &b.description, b.isolation, &a.actor, now())
                .map_err(store_err)?;
            s.audit(&a.actor, "zone.put", &name, b.isolation.as_str())
                .map_err(store_err)?;
            Ok(zone)
        })
        .await?,
    ))
}

async fn delete_zone(
    State(st): State<Arc<AppState>>,
    Extension(a): Extension<Auth>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    with_zones(&st, move |s, z| {
        z.delete_zone(&name).map_err(store_err)?;
        s.audit(&a.actor, "zone.delete", &name, "")
            .map_err(store_err)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignmentQuery {
    zone: Option<String>,
}

async fn list_assignments(
    State(st): State<Arc<AppState>>,
    q: Result<Query<AssignmentQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<DeviceZone>>> {
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    Ok(Json(
        with_zones(&st, move |_, z| {
            z.list_assignments(q.zone.as_deref(), now())
                .map_err(store_err)
        })
        .await?,
    ))
}

async fn get_device_zone(
    State(st): State<Arc<AppState>>,
    Path(mac): Path<String>,
) -> ApiResult<Json<DeviceZone>> {
    Ok(Json(
        with_zones(&st, move |_, z| {
            z.device_zone(&mac, now()).map_err(store_err)
        })
        .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceZoneBody {
    zone: String,
    #[serde(default)]
    reason: String,
    /// Seconds until the assignment lapses (e.g. a quarantine that lifts itself).
    expires_in_s: Option<u32>,
    /// The device's RFC 8520 MUD profile (enforced in zones of isolation `policy`).
    mud_profile: Option<Value>,
}

async fn set_device_zone(
    State(st): State<Arc<AppState>>,
    Extension(a): Extension<Auth>,
    Path(mac): Path<String>,
    ApiJson(b): ApiJson<DeviceZoneBody>,
) -> ApiResult<Json<DeviceZone>> {
    let (profile, mud_url) = match &b.mud_profile {
        None => (None, None),
        Some(v) => {
            let text = v.to_string();
            if text.len() > MAX_PROFILE {
                return Err(ApiError::BadRequest(format!(
                    "mud_profile larger than {MAX_PROFILE} bytes"
                )));
            }
            let m = palisade_policy::load(&text)
                .map_err(|e| ApiError::BadRequest(format!("mud_profile: {e}")))?;
            (Some(text), Some(m.mud.mud_url.clone()))
        }
    };
    Ok(Json(
        with_zones(&st, move |s, z| {
            let t = now();
            // Without a new profile the device keeps its own across moves (e.g. back from
            // quarantine to its policy zone).
            let (profile, mud_url) = match profile {
                Some(p) => (Some(p), mud_url),
                // A malformed MAC is left to the store's clear 400 below.
                None if palisade_store::zones::normalize_mac(&mac).is_none() => (None, None),
                None => {
                    let cur = z.device_zone(&mac, t).map_err(store_err)?;
                    (cur.profile, cur.mud_url)
                }
            };
            let asg = Assignment {
                zone: &b.zone,
                profile: profile.as_deref(),
                mud_url: mud_url.as_deref(),
                reason: &b.reason,
                expires_at: b.expires_in_s.map(|e| t + i64::from(e.max(1))),
            };
            let d = z
                .set_device_zone(&mac, &asg, &a.actor, t)
                .map_err(store_err)?;
            s.audit(
                &a.actor,
                "device.zone",
                &d.mac,
                &format!(
                    "zone {}{}{}",
                    d.zone,
                    d.expires_at
                        .map(|e| format!(" until {e}"))
                        .unwrap_or_default(),
                    if d.reason.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", d.reason)
                    }
                ),
            )
            .map_err(store_err)?;
            Ok(d)
        })
        .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NftQuery {
    /// Hub addresses reachable from quarantine, comma-separated.
    hub_ips: Option<String>,
}

/// The gateway's ruleset for the current zones: load with `nft -f` (one atomic transaction).
async fn export_nft(
    State(st): State<Arc<AppState>>,
    q: Result<Query<NftQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let mut hub_ips = Vec::new();
    for ip in q.hub_ips.as_deref().unwrap_or("").split(',') {
        let ip = ip.trim();
        if !ip.is_empty() {
            hub_ips.push(
                ip.parse::<IpAddr>()
                    .map_err(|_| ApiError::BadRequest(format!("hub_ips: bad address {ip:?}")))?,
            );
        }
    }
    let text = with_zones(&st, move |s, z| {
        let t = now();
        let zones = z.list_zones(t).map_err(store_err)?;
        let isolation_of = |name: &str| zones.iter().find(|z| z.name == name).map(|z| z.isolation);
        let mut out = palisade_policy::nft::quarantine_ruleset(&hub_ips);
        // The export is the whole state: devices moved out of quarantine leave the sets here,
        // in the same transaction that re-adds those still in it.
        for table in [
            palisade_policy::respond::QUARANTINE_TABLE,
            palisade_policy::nft::BRIDGE_QUARANTINE_TABLE,
        ] {
            for set in ["q_mac", "q_v4", "q_v6"] {
                out.push_str(&format!("flush set {table} {set}\n"));
            }
        }
        for d in z.list_assignments(None, t).map_err(store_err)? {
            let ips = device_ips(s, &d.mac);
            let mac = palisade_policy::parse_mac(&d.mac).ok();
            match isolation_of(&d.zone) {
                Some(Isolation::Quarantine) => {
                    let target = palisade_policy::respond::Target { mac, ips };
                    let ttl = d
                        .expires_at
                        .map(|e| std::time::Duration::from_secs((e - t).max(1) as u64));
                    out.push_str(&format!("# {} in zone {}\n", d.mac, d.zone));
                    out.push_str(&palisade_policy::respond::quarantine_script(&target, ttl));
                }
                Some(Isolation::Policy) => {
                    let Some(profile) = &d.profile else { continue };
                    let Ok(mud) = palisade_policy::load(profile) else {
                        continue;
                    };
                    let Some(mac) = mac else { continue };
                    // The same table name `palisade sense --mud-enforce` fills DNS sets in.
                    let mut opts = palisade_policy::live::device_compile_options(&mac, &hub_ips);
                    opts.device_ips = ips;
                    out.push_str(&format!(
                        "# {} in zone {} ({})\n",
                        d.mac, d.zone, mud.mud.mud_url
                    ));
                    out.push_str(&palisade_policy::nft::compile(&mud, &opts).0);
                }
                _ => {}
            }
        }
        Ok(out)
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// The device's addresses as last reported by a sensor.
fn device_ips(s: &dyn Store, mac: &str) -> Vec<IpAddr> {
    s.device(mac)
        .ok()
        .flatten()
        .map(|d| d.row.ips.iter().filter_map(|i| i.parse().ok()).collect())
        .unwrap_or_default()
}

/// OpenAPI details of one operation: (parameters, request body, (status, success response)).
type OperationDetail = (Vec<Value>, Option<Value>, (String, Value));

/// OpenAPI details of the zone operations.
pub(crate) fn operation_detail(op: &str) -> Option<OperationDetail> {
    let r = |n: &str| json!({ "$ref": format!("#/components/schemas/{n}") });
    let path = |n: &str, d: &str| json!({ "name": n, "in": "path", "required": true, "schema": { "type": "string" }, "description": d });
    let query = |n: &str, d: &str| json!({ "name": n, "in": "query", "required": false, "schema": { "type": "string" }, "description": d });
    let body =
        |s: Value| json!({ "required": true, "content": { "application/json": { "schema": s } } });
    let ok = |code: &str, d: &str, s: Value| {
        (
            code.to_owned(),
            json!({ "description": d, "content": { "application/json": { "schema": s } } }),
        )
    };
    Some(match op {
        "listZones" => (
            vec![],
            None,
            ok(
                "200",
                "Zones",
                json!({ "type": "array", "items": r("Zone") }),
            ),
        ),
        "putZone" => (
            vec![path("id", "Zone name (a-z, 0-9, '-', '_'; at most 32)")],
            Some(body(
                json!({ "type": "object", "required": ["isolation"], "additionalProperties": false, "properties": {
                "description": { "type": "string", "maxLength": 1024 }, "isolation": r("Isolation") } }),
            )),
            ok("200", "Created or updated", r("Zone")),
        ),
        "deleteZone" => (
            vec![path("id", "Zone name")],
            None,
            ("204".to_owned(), json!({ "description": "Deleted" })),
        ),
        "listZoneAssignments" => (
            vec![query("zone", "Only this zone")],
            None,
            ok(
                "200",
                "Unexpired assignments",
                json!({ "type": "array", "items": r("DeviceZone") }),
            ),
        ),
        "getDeviceZone" => (
            vec![path("mac", "Device MAC")],
            None,
            ok("200", "The device's effective zone", r("DeviceZone")),
        ),
        "setDeviceZone" => (
            vec![path("mac", "Device MAC")],
            Some(body(
                json!({ "type": "object", "required": ["zone"], "additionalProperties": false, "properties": {
                "zone": { "type": "string" }, "reason": { "type": "string", "maxLength": 1024 },
                "expires_in_s": { "type": "integer", "minimum": 1 },
                "mud_profile": { "type": "object", "description": "RFC 8520 MUD profile (validated); without it the device keeps its current profile" } } }),
            )),
            ok("200", "Assigned", r("DeviceZone")),
        ),
        "exportNft" => (
            vec![query(
                "hub_ips",
                "Hub addresses reachable from quarantine, comma-separated",
            )],
            None,
            (
                "200".to_owned(),
                json!({ "description": "nftables ruleset (nft -f)", "content": { "text/plain": { "schema": { "type": "string" } } } }),
            ),
        ),
        _ => return None,
    })
}

/// Schemas the zone operations refer to.
pub(crate) fn schemas() -> Value {
    let nullable = |t: &str| json!({ "type": [t, "null"] });
    json!({
        "Isolation": { "type": "string", "enum": ["quarantine", "policy", "open"],
            "description": "quarantine: only DNS, DHCP and the hub; policy: the device's MUD profile, default deny; open: unrestricted" },
        "Zone": { "type": "object", "required": ["name", "isolation", "builtin"], "properties": {
            "name": { "type": "string" }, "description": { "type": "string" },
            "isolation": { "$ref": "#/components/schemas/Isolation" }, "builtin": { "type": "boolean" },
            "devices": { "type": "integer" }, "updated_by": { "type": "string" }, "updated_at": { "type": "integer" } } },
        "DeviceZone": { "type": "object", "required": ["mac", "zone", "isolation", "assigned"], "properties": {
            "mac": { "type": "string" }, "zone": { "type": "string" },
            "isolation": { "$ref": "#/components/schemas/Isolation" },
            "profile": nullable("string"), "mud_url": nullable("string"), "reason": { "type": "string" },
            "expires_at": nullable("integer"), "assigned": { "type": "boolean" },
            "set_by": nullable("string"), "set_at": nullable("integer") } }
    })
}
