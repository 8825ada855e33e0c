//! The OpenAPI 3.1 document, generated from [`crate::api::ROUTES`] so it cannot drift from the
//! router's paths, methods and role requirements.

use serde_json::{Map, Value, json};

pub use crate::api::RouteSpec;

/// Every documented API operation: the main API's routes, then the rollout and zone routes.
pub const ROUTES: [RouteSpec; ROUTE_COUNT] = all_routes();

const ROUTE_COUNT: usize =
    crate::api::ROUTES.len() + crate::rollout::ROUTES.len() + crate::zones::ROUTES.len();

const fn all_routes() -> [RouteSpec; ROUTE_COUNT] {
    const fn copy(r: &RouteSpec) -> RouteSpec {
        RouteSpec {
            method: r.method,
            path: r.path,
            role: r.role,
            op_id: r.op_id,
            summary: r.summary,
            tag: r.tag,
        }
    }
    let lists = [
        crate::api::ROUTES,
        crate::rollout::ROUTES,
        crate::zones::ROUTES,
    ];
    let mut out = [const { copy(&crate::api::ROUTES[0]) }; ROUTE_COUNT];
    let (mut i, mut l) = (0, 0);
    while l < lists.len() {
        let mut j = 0;
        while j < lists[l].len() {
            out[i] = copy(&lists[l][j]);
            i += 1;
            j += 1;
        }
        l += 1;
    }
    out
}

fn qp(name: &str, schema: Value, desc: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "schema": schema, "description": desc })
}

fn pp(name: &str, desc: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" }, "description": desc })
}

fn r(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn page_of(item: &str) -> Value {
    json!({ "type": "object", "required": ["total", "limit", "offset", "items"], "properties": {
        "total": { "type": "integer", "minimum": 0 }, "limit": { "type": "integer" },
        "offset": { "type": "integer", "minimum": 0 }, "items": { "type": "array", "items": r(item) },
        "next": { "type": "string", "description": "Cursor of the next page (pass as `after`); device lists only" } } })
}

fn json_body(schema: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

fn ok(code: &str, desc: &str, ctype: &str, schema: Value) -> (String, Value) {
    (
        code.to_owned(),
        json!({ "description": desc, "content": { ctype: { "schema": schema } } }),
    )
}

/// Per-operation parameters, request body and success response.
fn operation_detail(op: &str) -> (Vec<Value>, Option<Value>, (String, Value)) {
    let paging = || {
        vec![
            qp(
                "limit",
                json!({ "type": "integer", "minimum": 1, "maximum": 1000 }),
                "Page size (default 50)",
            ),
            qp(
                "offset",
                json!({ "type": "integer", "minimum": 0, "maximum": 1u64 << 40 }),
                "Items to skip",
            ),
        ]
    };
    let j = "application/json";
    match op {
        "getOpenapi" => (
            vec![],
            None,
            ok("200", "OpenAPI document", j, json!({ "type": "object" })),
        ),
        "getHealth" => (
            vec![],
            None,
            ok(
                "200",
                "Alive",
                j,
                json!({ "type": "object", "properties": { "status": { "type": "string" } } }),
            ),
        ),
        "getSession" => (vec![], None, ok("200", "Caller", j, r("Session"))),
        "getStats" => (vec![], None, ok("200", "Statistics", j, r("Stats"))),
        "getMetrics" => (
            vec![],
            None,
            ok(
                "200",
                "Prometheus text format",
                "text/plain",
                json!({ "type": "string" }),
            ),
        ),
        "listDevices" => {
            let mut p = vec![
                qp(
                    "q",
                    json!({ "type": "string", "maxLength": 256 }),
                    "Substring of MAC, IP, vendor, hostname or model (case-insensitive)",
                ),
                qp(
                    "category",
                    json!({ "type": "string", "maxLength": 256 }),
                    "Device category",
                ),
                qp(
                    "min_risk",
                    json!({ "type": "integer", "minimum": 0, "maximum": 100 }),
                    "Minimum risk score",
                ),
                qp(
                    "after",
                    json!({ "type": "string", "maxLength": 1024 }),
                    "Keyset cursor: the `next` of the previous page (same filters and sort)",
                ),
                qp(
                    "sort",
                    json!({ "type": "string", "enum": ["risk", "last_seen", "mac", "vendor", "category"] }),
                    "Sort key (default risk)",
                ),
                qp(
                    "order",
                    json!({ "type": "string", "enum": ["asc", "desc"] }),
                    "Sort order",
                ),
            ];
            p.extend(paging());
            (
                p,
                None,
                ok("200", "A page of devices", j, page_of("DeviceRow")),
            )
        }
        "getDevice" => (
            vec![pp("mac", "Device MAC address")],
            None,
            ok("200", "Device", j, r("DeviceDetail")),
        ),
        "listAlerts" => {
            let mut p = vec![
                qp("state", r("TriageState"), "Triage state"),
                qp(
                    "severity",
                    json!({ "type": "string", "maxLength": 256 }),
                    "Severity",
                ),
                qp(
                    "kind",
                    json!({ "type": "string", "maxLength": 256 }),
                    "Alert kind",
                ),
                qp(
                    "device",
                    json!({ "type": "string", "maxLength": 256 }),
                    "Device MAC",
                ),
            ];
            p.extend(paging());
            (
                p,
                None,
                ok("200", "A page of alerts, newest first", j, page_of("Alert")),
            )
        }
        "getAlert" => (
            vec![pp("id", "Alert id")],
            None,
            ok("200", "Alert with transitions", j, r("Alert")),
        ),
        "triageAlert" => (
            vec![pp("id", "Alert id")],
            Some(json_body(
                json!({ "type": "object", "required": ["state"], "additionalProperties": false,
                "properties": { "state": r("TriageState"), "comment": { "type": "string", "maxLength": 4096 } } }),
            )),
            ok("200", "The alert after the change", j, r("Alert")),
        ),
        "streamAlerts" => (
            vec![],
            None,
            ok(
                "200",
                "`event: alert` per new alert (data: Alert JSON)",
                "text/event-stream",
                json!({ "type": "string" }),
            ),
        ),
        "ingest" => (
            vec![],
            Some(
                json!({ "required": true, "description": "One JSON event per line (`type`: device, alert, flow, stats); an optional `event_id` overrides the content-hash id",
                "content": { "application/x-ndjson": { "schema": { "type": "string" } }, "text/plain": { "schema": { "type": "string" } } } }),
            ),
            ok("200", "Ingest outcome", j, r("IngestOutcome")),
        ),
        "listAudit" => (
            paging(),
            None,
            ok(
                "200",
                "Audit entries, newest first",
                j,
                page_of("AuditEntry"),
            ),
        ),
        "listUsers" => (
            vec![],
            None,
            ok(
                "200",
                "Users",
                j,
                json!({ "type": "array", "items": r("User") }),
            ),
        ),
        "createUser" => (
            vec![],
            Some(json_body(
                json!({ "type": "object", "required": ["name", "role", "password"], "additionalProperties": false,
                "properties": { "name": { "type": "string", "pattern": "^[A-Za-z0-9._@-]{1,64}$" }, "role": r("Role"),
                    "password": { "type": "string", "minLength": 12, "maxLength": 1024 } } }),
            )),
            ok("201", "Created", j, r("User")),
        ),
        "listTokens" => (
            vec![],
            None,
            ok(
                "200",
                "Tokens",
                j,
                json!({ "type": "array", "items": r("Token") }),
            ),
        ),
        "createToken" => (
            vec![],
            Some(json_body(
                json!({ "type": "object", "required": ["name", "role"], "additionalProperties": false,
                "properties": { "name": { "type": "string", "pattern": "^[A-Za-z0-9._@-]{1,64}$" }, "role": r("Role") } }),
            )),
            ok("201", "Created; `token` is shown only here", j, r("Token")),
        ),
        "listSuppressions" => (
            vec![qp(
                "include_expired",
                json!({ "type": "boolean" }),
                "Include expired rules (default false)",
            )],
            None,
            ok(
                "200",
                "Rules, newest first",
                j,
                json!({ "type": "array", "items": r("Suppression") }),
            ),
        ),
        "createSuppression" => (
            vec![],
            Some(json_body(
                json!({ "type": "object", "required": ["reason"], "additionalProperties": false,
                "description": "At least one of kind and device",
                "properties": { "kind": { "type": ["string", "null"], "maxLength": 256 },
                    "device": { "type": ["string", "null"], "maxLength": 256 },
                    "reason": { "type": "string", "minLength": 1, "maxLength": 1024 },
                    "expires_at": { "type": ["integer", "null"], "description": "Unix seconds, in the future; absent = until deleted" } } }),
            )),
            ok("201", "Created", j, r("Suppression")),
        ),
        "deleteSuppression" => (
            vec![pp("id", "Rule id")],
            None,
            ("204".to_owned(), json!({ "description": "Deleted" })),
        ),
        "revokeToken" => (
            vec![pp("id", "Token id")],
            None,
            ("204".to_owned(), json!({ "description": "Revoked" })),
        ),
        _ => crate::rollout::operation_detail(op)
            .or_else(|| crate::zones::operation_detail(op))
            .unwrap_or_else(|| (vec![], None, ok("200", "OK", j, json!({})))),
    }
}

fn err(desc: &str) -> Value {
    json!({ "description": desc, "content": { "application/json": { "schema": r("Error") } } })
}

/// The document served at `/api/v1/openapi.json`.
pub fn document() -> Value {
    let mut paths = Map::new();
    for rt in &ROUTES {
        let (params, body, (code, success)) = operation_detail(rt.op_id);
        let mut responses = Map::new();
        responses.insert(code, success);
        let mut op = json!({
            "operationId": rt.op_id,
            "summary": rt.summary,
            "tags": [rt.tag],
            "parameters": params,
        });
        match rt.role {
            None => {
                op["security"] = json!([]);
            }
            Some(role) => {
                op["security"] = json!([{ "bearerAuth": [] }, { "cookieAuth": [] }]);
                op["x-palisade-role"] = json!(role.as_str());
                op["description"] = json!(format!("Requires role `{}` or higher.", role.as_str()));
                responses.insert("401".into(), err("Missing or invalid credentials"));
                responses.insert(
                    "403".into(),
                    err("Role too low, or CSRF token missing for a cookie session"),
                );
            }
        }
        if !params.is_empty() || body.is_some() {
            responses.insert(
                "400".into(),
                json!({ "description": "Invalid parameters or body" }),
            );
        }
        if rt.path.contains('{') {
            responses.insert("404".into(), err("Not found"));
        }
        if rt.op_id == "triageAlert" {
            responses.insert(
                "409".into(),
                err("Transition not allowed from the current state"),
            );
            responses.insert("415".into(), json!({ "description": "Body is not JSON" }));
            responses.insert(
                "422".into(),
                json!({ "description": "Body does not match the schema" }),
            );
        }
        if matches!(rt.op_id, "createUser" | "createToken" | "createSuppression") {
            responses.insert("409".into(), err("Already exists"));
            responses.insert("415".into(), json!({ "description": "Body is not JSON" }));
            responses.insert(
                "422".into(),
                json!({ "description": "Body does not match the schema" }),
            );
        }
        if matches!(rt.op_id, "createRollout" | "updateRollout") {
            responses.insert(
                "409".into(),
                err("Another rollout of the target is open, or the transition is not allowed"),
            );
        }
        if rt.op_id == "ingest" {
            responses.insert(
                "413".into(),
                json!({ "description": "Body larger than 64 MiB" }),
            );
        }
        if let Some(b) = body {
            if b.pointer("/content/application~1json").is_some() {
                // Every JSON body extractor answers these (missing content type, schema mismatch).
                responses
                    .entry("415")
                    .or_insert_with(|| json!({ "description": "Body is not JSON" }));
                responses
                    .entry("422")
                    .or_insert_with(|| json!({ "description": "Body does not match the schema" }));
            }
            if rt.op_id != "ingest" {
                responses.insert(
                    "413".into(),
                    json!({ "description": "Body larger than 64 KiB" }),
                );
            }
            op["requestBody"] = b;
        }
        op["responses"] = Value::Object(responses);
        let entry = paths
            .entry(rt.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[rt.method] = op;
    }
    let nullable_str = json!({ "type": ["string", "null"] });
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Palisade hub API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Devices, alerts and triage from Palisade sensors. Every operation except this document and /health requires a bearer API token (`Authorization: Bearer pal_...`) or a console session cookie; cookie sessions must send `X-CSRF-Token` on mutating requests. Roles: viewer < analyst < admin.",
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" }
        },
        "servers": [{ "url": "/api/v1" }],
        "security": [{ "bearerAuth": [] }, { "cookieAuth": [] }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": { "type": "http", "scheme": "bearer", "description": "API token scoped to a role" },
                "cookieAuth": { "type": "apiKey", "in": "cookie", "name": "palisade_session" }
            },
            "schemas": {
                "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "string" } } },
                "Role": { "type": "string", "enum": ["viewer", "analyst", "admin"] },
                "TriageState": { "type": "string", "enum": ["new", "acknowledged", "resolved", "false-positive", "expected"] },
                "Session": { "type": "object", "properties": { "user": { "type": "string" }, "role": r("Role"), "csrf": nullable_str } },
                "DeviceRow": { "type": "object", "required": ["mac", "category", "ips", "risk", "open_alerts"], "properties": {
                    "mac": { "type": "string" }, "vendor": nullable_str, "category": { "type": "string" }, "model": nullable_str,
                    "os": nullable_str, "hostname": nullable_str, "ips": { "type": "array", "items": { "type": "string" } },
                    "risk": { "type": "integer" }, "confidence": { "type": "number" }, "first_seen": { "type": "string" },
                    "last_seen": { "type": "string" }, "open_alerts": { "type": "integer" } } },
                "DeviceDetail": { "allOf": [r("DeviceRow"), { "type": "object", "properties": {
                    "report": { "type": "object", "description": "The device as last reported by the sensor (evidence, risk reasons, services)" },
                    "alerts": { "type": "array", "items": r("Alert") },
                    "timeline": { "type": "array", "items": { "type": "object", "properties": {
                        "at": { "type": "string" }, "field": { "type": "string" }, "old": nullable_str, "new": nullable_str } } } } }] },
                "Alert": { "type": "object", "required": ["id", "kind", "severity", "state"], "properties": {
                    "id": { "type": "string" }, "kind": { "type": "string" }, "severity": { "type": "string" },
                    "device": nullable_str, "src": nullable_str, "dst": nullable_str, "first_seen": { "type": "string" },
                    "last_seen": { "type": "string" }, "count": { "type": "integer" }, "summary": { "type": "string" },
                    "mitre": { "type": "array", "items": { "type": "string" } }, "evidence": {},
                    "state": r("TriageState"), "state_user": nullable_str, "state_comment": nullable_str,
                    "state_at": { "type": ["integer", "null"] },
                    "transitions": { "type": "array", "items": { "type": "object" } } } },
                "Stats": { "type": "object", "properties": {
                    "devices": { "type": "integer" }, "alerts": { "type": "integer" }, "events": { "type": "integer" },
                    "devices_by_category": { "type": "array" }, "alerts_by_severity": { "type": "array" },
                    "alerts_by_state": { "type": "array" }, "alert_timeline": { "type": "array" },
                    "top_risky": { "type": "array", "items": r("DeviceRow") } } },
                "IngestOutcome": { "type": "object", "required": ["accepted", "duplicates", "ignored", "rejected"], "properties": {
                    "accepted": { "type": "integer" }, "duplicates": { "type": "integer" }, "ignored": { "type": "integer" },
                    "rejected": { "type": "array", "description": "[line number, reason] pairs", "items": { "type": "array", "minItems": 2, "maxItems": 2, "items": { "type": ["integer", "string"] } } } } },
                "AuditEntry": { "type": "object", "properties": { "id": { "type": "integer" }, "at": { "type": "integer" },
                    "actor": { "type": "string" }, "action": { "type": "string" }, "target": { "type": "string" }, "detail": { "type": "string" } } },
                "Suppression": { "type": "object", "required": ["id", "reason"], "properties": {
                    "id": { "type": "integer" }, "kind": nullable_str, "device": nullable_str,
                    "reason": { "type": "string" }, "created_by": { "type": "string" },
                    "created_at": { "type": "integer" }, "expires_at": { "type": ["integer", "null"] } } },
                "User": { "type": "object", "properties": { "id": { "type": "integer" }, "name": { "type": "string" },
                    "role": r("Role"), "created_at": { "type": "integer" } } },
                "Token": { "type": "object", "properties": { "id": { "type": "integer" }, "name": { "type": "string" },
                    "role": r("Role"), "created_by": { "type": "string" }, "created_at": { "type": "integer" },
                    "revoked": { "type": "boolean" }, "token": { "type": "string", "description": "Only in the creation response" } } }
            }
        }
    });
    if let (Some(all), Value::Object(zone_schemas)) = (
        doc["components"]["schemas"].as_object_mut(),
        crate::zones::schemas(),
    ) {
        all.extend(zone_schemas);
    }
    doc
}
