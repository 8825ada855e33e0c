//! Console page for network zones (issue 8): the zones with their isolation and device counts,
//! the devices assigned to each, and — for analysts and admins — forms that move a device to
//! another zone (optionally with a reason and an expiry, e.g. a quarantine that lifts itself).
//! Viewers see the same page without the forms. Moves are audited like the API's
//! (`device.zone`), and a device keeps its MUD profile when it moves. A child module of the
//! console, so it shares its session, CSRF and page helpers.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use palisade_store::zones::{Assignment, DeviceZone, Zone, normalize_mac};
use palisade_store::{Role, StoreError, now};

use super::{page, page_user};
use crate::auth::{self, Auth};
use crate::{AppState, esc};

/// Merged into the console's router (its body limit and state apply).
pub(super) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/zones", get(list))
        .route("/zones/move", post(move_device))
}

/// Longest expiry the form accepts (30 days, in minutes).
const MAX_EXPIRY_MIN: u32 = 30 * 24 * 60;

fn csrf_field(a: &Auth) -> String {
    format!(
        r#"<input type="hidden" name="csrf" value="{}">"#,
        esc(a.csrf.as_deref().unwrap_or(""))
    )
}

fn zone_options(zones: &[Zone], selected: &str) -> String {
    zones
        .iter()
        .map(|z| {
            format!(
                r#"<option value="{n}"{s}>{n} ({i})</option>"#,
                n = esc(&z.name),
                i = z.isolation.as_str(),
                s = if z.name == selected { " selected" } else { "" }
            )
        })
        .collect()
}

/// The move form for one device (analysts and admins only).
fn move_form(a: &Auth, zones: &[Zone], mac: Option<&str>, current: &str) -> String {
    if a.role < Role::Analyst {
        return String::new();
    }
    let mac_field = match mac {
        Some(m) => format!(r#"<input type="hidden" name="mac" value="{}">"#, esc(m)),
        None => r#"<label>Device MAC <input name="mac" required maxlength="17" pattern="[0-9A-Fa-f]{2}([:\-][0-9A-Fa-f]{2}){5}" placeholder="aa:bb:cc:dd:ee:ff"></label>"#.to_string(),
    };
    format!(
        r#"<form method="post" action="/zones/move" class="zone-move">{c}{mac_field}<label>Zone <select name="zone" aria-label="zone">{o}</select></label><input name="reason" placeholder="reason" maxlength="1024" aria-label="reason"><input name="expires_min" type="number" min="1" max="{max}" placeholder="expires (min)" aria-label="expiry in minutes"><button>Move</button></form>"#,
        c = csrf_field(a),
        o = zone_options(zones, current),
        max = MAX_EXPIRY_MIN,
    )
}

fn when(t: i64) -> String {
    // Unix seconds as UTC "YYYY-MM-DD HH:MM" (civil-from-days, Howard Hinnant's algorithm).
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        secs / 3600,
        (secs % 3600) / 60
    )
}

fn device_row(d: &DeviceZone, a: &Auth, zones: &[Zone]) -> String {
    format!(
        r#"<tr data-device="{mac}"><td class="mono"><a href="/devices/{mac}">{mac}</a></td><td>{url}</td><td>{reason}</td><td class="muted">{exp}</td><td class="muted">{by}</td><td>{form}</td></tr>"#,
        mac = esc(&d.mac),
        url = d.mud_url.as_deref().map(esc).unwrap_or_else(|| "—".into()),
        reason = esc(&d.reason),
        exp = d
            .expires_at
            .map(|e| format!("until {}", when(e)))
            .unwrap_or_default(),
        by = d
            .set_by
            .as_deref()
            .map(|b| format!("{}, {}", esc(b), d.set_at.map(when).unwrap_or_default()))
            .unwrap_or_default(),
        form = move_form(a, zones, Some(&d.mac), &d.zone),
    )
}

fn unavailable(a: &Auth) -> Response {
    (
        StatusCode::NOT_IMPLEMENTED,
        page("Zones", a, "<p>This store does not support zones.</p>"),
    )
        .into_response()
}

async fn list(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let a = match page_user(&st, &headers) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let s = st.store.clone();
    let got = tokio::task::spawn_blocking(move || {
        s.zones().map(|z| {
            let t = now();
            Ok::<_, StoreError>((z.list_zones(t)?, z.list_assignments(None, t)?))
        })
    })
    .await
    .ok()
    .flatten();
    let (zones, assigned) = match got {
        None => return unavailable(&a),
        Some(Ok(x)) => x,
        Some(Err(_)) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let mut body = String::new();
    if a.role >= Role::Analyst {
        body.push_str(&format!(
            r#"<section class="card"><h2>Move a device</h2><p class="muted">Devices without an assignment are in the <b>{d}</b> zone. A quarantined device reaches only DNS, DHCP and the hub once a gateway applies the zones (<code>palisade sense --zones-sync</code>).</p>{f}</section>"#,
            d = palisade_store::zones::DEFAULT_ZONE,
            f = move_form(&a, &zones, None, "quarantine"),
        ));
    }
    for z in &zones {
        let devices: Vec<&DeviceZone> = assigned.iter().filter(|d| d.zone == z.name).collect();
        body.push_str(&format!(
            r#"<section class="card zone" data-zone="{n}"><h2>{n} <span class="badge isolation-{i}">{i}</span> <span class="muted count">{c} devices</span></h2><p class="muted">{desc}</p>"#,
            n = esc(&z.name),
            i = z.isolation.as_str(),
            c = z.devices,
            desc = esc(&z.description),
        ));
        if devices.is_empty() {
            body.push_str("<p class=\"muted\">No devices assigned.</p>");
        } else {
            body.push_str("<table class=\"zone-devices\"><thead><tr><th>Device</th><th>MUD profile</th><th>Reason</th><th>Expiry</th><th>Set by</th><th></th></tr></thead><tbody>");
            for d in devices {
                body.push_str(&device_row(d, &a, &zones));
            }
            body.push_str("</tbody></table>");
        }
        body.push_str("</section>");
    }
    page("Zones", &a, &body)
}

#[derive(Deserialize)]
struct MoveForm {
    csrf: String,
    mac: String,
    zone: String,
    #[serde(default)]
    reason: String,
    /// Minutes; empty = no expiry.
    #[serde(default)]
    expires_min: String,
}

fn bad(a: &Auth, status: StatusCode, msg: &str) -> Response {
    (
        status,
        page("Zones", a, &format!("<p class=\"error\">{}</p>", esc(msg))),
    )
        .into_response()
}

async fn move_device(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(f): Form<MoveForm>,
) -> Response {
    let a = match page_user(&st, &headers) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    if !auth::csrf_ok(&a, &Method::POST, Some(&f.csrf)) {
        return (StatusCode::FORBIDDEN, "bad CSRF token").into_response();
    }
    if a.role < Role::Analyst {
        return bad(
            &a,
            StatusCode::FORBIDDEN,
            "Moving devices between zones needs the analyst or admin role.",
        );
    }
    let Some(mac) = normalize_mac(f.mac.trim()) else {
        return bad(
            &a,
            StatusCode::BAD_REQUEST,
            "Device MAC: six hex pairs, e.g. aa:bb:cc:dd:ee:ff.",
        );
    };
    let expires_min = match f.expires_min.trim() {
        "" => None,
        m => match m.parse::<u32>() {
            Ok(v) if (1..=MAX_EXPIRY_MIN).contains(&v) => Some(v),
            _ => {
                return bad(
                    &a,
                    StatusCode::BAD_REQUEST,
                    &format!("Expiry: 1 to {MAX_EXPIRY_MIN} minutes, or empty."),
                );
            }
        },
    };
    let actor = a.actor.clone();
    let s = st.store.clone();
    let r = tokio::task::spawn_blocking(move || {
        let z = s.zones()?;
        let t = now();
        Some((|| {
            // The device keeps its MUD profile across moves (back to its policy zone).
            let cur = z.device_zone(&mac, t)?;
            let d = z.set_device_zone(
                &mac,
                &Assignment {
                    zone: &f.zone,
                    profile: cur.profile.as_deref(),
                    mud_url: cur.mud_url.as_deref(),
                    reason: &f.reason,
                    expires_at: expires_min.map(|m| t + i64::from(m) * 60),
                },
                &actor,
                t,
            )?;
            s.audit(
                &actor,
                "device.zone",
                &d.mac,
                &format!(
                    "zone {} (console){}{}",
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
            )?;
            Ok::<_, StoreError>(d)
        })())
    })
    .await
    .ok()
    .flatten();
    match r {
        None => unavailable(&a),
        Some(Ok(_)) => Redirect::to("/zones").into_response(),
        Some(Err(StoreError::Invalid(m))) => bad(&a, StatusCode::BAD_REQUEST, &m),
        Some(Err(StoreError::NotFound)) => StatusCode::NOT_FOUND.into_response(),
        Some(Err(_)) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_utc_civil() {
        assert_eq!(super::when(0), "1970-01-01 00:00");
        assert_eq!(super::when(1_764_045_000), "2025-11-25 04:30");
    }
}
