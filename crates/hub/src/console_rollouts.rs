//! Console pages for staged firmware rollouts (issue 9): the rollouts with their wave, state and
//! result counts, each rollout's devices with the versions they report, and — for admins —
//! forms to start a rollout, widen or narrow its wave, pause, resume, abort or complete it.
//! A child module of the console, so it shares its session, CSRF and page helpers.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use palisade_store::rollout::{DeviceUpdate, Rollout, RolloutState, RolloutStore};
use palisade_store::{Role, StoreError};

use super::{page, page_user};
use crate::auth::{self, Auth};
use crate::{AppState, esc};

/// Merged into the console's router (its body limit and state apply).
pub(super) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/rollouts", get(list).post(create))
        .route("/rollouts/{id}", get(detail).post(change))
}

/// Devices shown on a rollout's page.
const DEVICE_PAGE: u32 = 500;

const STATES: [RolloutState; 4] = [
    RolloutState::Active,
    RolloutState::Paused,
    RolloutState::Aborted,
    RolloutState::Completed,
];

/// Runs `f` on the rollout store off the async runtime; `None` when the store has none.
async fn with_rollouts<T: Send + 'static>(
    st: &Arc<AppState>,
    f: impl FnOnce(&dyn RolloutStore) -> Result<T, StoreError> + Send + 'static,
) -> Option<Result<T, StoreError>> {
    let s = st.store.clone();
    tokio::task::spawn_blocking(move || s.rollouts().map(f))
        .await
        .ok()
        .flatten()
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

fn csrf_field(a: &Auth) -> String {
    format!(
        r#"<input type="hidden" name="csrf" value="{}">"#,
        esc(a.csrf.as_deref().unwrap_or(""))
    )
}

/// The wave and state forms of one rollout (admins only; nothing for a finished rollout).
fn controls(r: &Rollout, a: &Auth) -> String {
    if a.role < Role::Admin || !matches!(r.state, RolloutState::Active | RolloutState::Paused) {
        return String::new();
    }
    let mut s = format!(
        r#"<form method="post" action="/rollouts/{id}" class="rollout-percent">{c}<input name="percent" type="number" min="0" max="100" value="{p}" aria-label="wave percent"><button name="action" value="percent">Set wave</button></form>"#,
        id = r.id,
        c = csrf_field(a),
        p = r.percent,
    );
    s.push_str(&format!(
        r#"<form method="post" action="/rollouts/{id}" class="rollout-state">{c}"#,
        id = r.id,
        c = csrf_field(a)
    ));
    for to in STATES.into_iter().filter(|t| r.state.can_go_to(*t)) {
        let label = match to {
            RolloutState::Active => "Resume",
            RolloutState::Paused => "Pause",
            RolloutState::Aborted => "Abort",
            RolloutState::Completed => "Complete",
        };
        s.push_str(&format!(
            r#"<button name="state" value="{v}" data-state="{v}">{label}</button>"#,
            v = to.as_str()
        ));
    }
    s.push_str("</form>");
    s
}

fn rollout_row(r: &Rollout, a: &Auth) -> String {
    format!(
        r#"<tr data-rollout="{id}"><td><a href="/rollouts/{id}">#{id}</a></td><td class="mono">{t}</td><td>{p}%</td><td><span class="state state-{st}">{st}</span><div class="muted">{note}</div></td><td>{rep} reported, {ok} succeeded, {bad} failed</td><td class="muted">limit {rate:.0}% after {min}</td><td class="muted">{by}<br>{at}</td><td>{ctl}</td></tr>"#,
        id = r.id,
        t = esc(&r.target),
        p = r.percent,
        st = r.state.as_str(),
        note = esc(&r.note),
        rep = r.stats.reported,
        ok = r.stats.succeeded,
        bad = r.stats.failed,
        rate = r.max_failure_rate * 100.0,
        min = r.min_reports,
        by = esc(&r.created_by),
        at = when(r.created_at),
        ctl = controls(r, a),
    )
}

const ROLLOUT_HEAD: &str = "<table class=\"rollouts\"><thead><tr><th>Rollout</th><th>Target</th><th>Wave</th><th>State</th><th>Results</th><th>Pause rule</th><th>Started</th><th></th></tr></thead><tbody>";

fn device_table(rows: &[DeviceUpdate]) -> String {
    let mut s = String::from(
        "<table class=\"device-updates\"><thead><tr><th>Device</th><th>Result</th><th>Running</th><th>Security counter</th><th>Candidate</th><th>Detail</th><th>Reported</th></tr></thead><tbody>",
    );
    for d in rows {
        let opt = |v: &Option<String>| v.as_deref().map(esc).unwrap_or_else(|| "—".into());
        s.push_str(&format!(
            r#"<tr data-device="{dev}"><td class="mono">{dev}</td><td><span class="result result-{res}">{res}</span></td><td class="mono running">{run}</td><td>{sc}</td><td class="mono">{cand}</td><td>{det}</td><td class="muted">{at}</td></tr>"#,
            dev = esc(&d.device),
            res = esc(&d.result),
            run = opt(&d.running_version),
            sc = d
                .security_counter
                .map(|c| c.to_string())
                .unwrap_or_else(|| "—".into()),
            cand = opt(&d.candidate_version),
            det = esc(&d.detail),
            at = when(d.reported_at),
        ));
    }
    s.push_str("</tbody></table>");
    s
}

fn unavailable(a: &Auth) -> Response {
    (
        StatusCode::NOT_IMPLEMENTED,
        page(
            "Rollouts",
            a,
            "<p>This store does not support rollouts.</p>",
        ),
    )
        .into_response()
}

async fn list(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let a = match page_user(&st, &headers) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let all = with_rollouts(&st, |r| {
        Ok((r.list_rollouts()?, r.device_updates(None, DEVICE_PAGE, 0)?))
    })
    .await;
    let (rollouts, devices) = match all {
        None => return unavailable(&a),
        Some(Ok(x)) => x,
        Some(Err(_)) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let mut body = String::new();
    if a.role >= Role::Admin {
        body.push_str(&format!(
            r#"<section class="card"><h2>Start a rollout</h2><form method="post" action="/rollouts" class="rollout-new">{c}<label>TUF target <input name="target" required maxlength="128" pattern="[A-Za-z0-9._:@/+\-]{{1,128}}"></label><label>Wave % <input name="percent" type="number" min="0" max="100" value="10" required></label><label>Pause above failure rate % <input name="max_failure_rate" type="number" min="0" max="100" value="20"></label><label>after reports <input name="min_reports" type="number" min="0" value="5"></label><button>Start</button></form></section>"#,
            c = csrf_field(&a)
        ));
    }
    body.push_str(r#"<section class="card"><h2>Rollouts</h2>"#);
    if rollouts.is_empty() {
        body.push_str("<p class=\"muted\">No rollouts yet.</p>");
    } else {
        body.push_str(ROLLOUT_HEAD);
        for r in &rollouts {
            body.push_str(&rollout_row(r, &a));
        }
        body.push_str("</tbody></table>");
    }
    body.push_str(&format!(
        r#"</section><section class="card"><h2>Devices ({} reporting)</h2>{}</section>"#,
        devices.total,
        device_table(&devices.items)
    ));
    page("Rollouts", &a, &body)
}

async fn detail(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let a = match page_user(&st, &headers) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let Ok(id) = id.parse::<i64>() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let got = with_rollouts(&st, move |r| {
        let Some((ro, _)) = r.rollout(id)? else {
            return Ok(None);
        };
        Ok(Some((ro, r.device_updates(Some(id), DEVICE_PAGE, 0)?)))
    })
    .await;
    let (ro, devices) = match got {
        None => return unavailable(&a),
        Some(Ok(Some(x))) => x,
        Some(Ok(None)) => return StatusCode::NOT_FOUND.into_response(),
        Some(Err(_)) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let body = format!(
        r#"<p><a href="/rollouts">All rollouts</a></p><section class="card">{head}{row}</tbody></table></section><section class="card"><h2>Devices in this rollout ({n})</h2>{dev}</section>"#,
        head = ROLLOUT_HEAD,
        row = rollout_row(&ro, &a),
        n = devices.total,
        dev = device_table(&devices.items),
    );
    page(&format!("Rollout #{} · {}", ro.id, ro.target), &a, &body)
}

/// The logged-in admin behind a form post, or the response to send instead.
fn form_admin(st: &AppState, headers: &HeaderMap, csrf: &str) -> Result<Auth, Box<Response>> {
    let a = page_user(st, headers).map_err(|r| Box::new(r.into_response()))?;
    if !auth::csrf_ok(&a, &Method::POST, Some(csrf)) {
        return Err(Box::new(
            (StatusCode::FORBIDDEN, "bad CSRF token").into_response(),
        ));
    }
    if a.role < Role::Admin {
        return Err(Box::new(
            (
                StatusCode::FORBIDDEN,
                page(
                    "Forbidden",
                    &a,
                    "<p>Steering rollouts needs the admin role.</p>",
                ),
            )
                .into_response(),
        ));
    }
    Ok(a)
}

fn store_error(a: &Auth, e: Option<StoreError>) -> Response {
    match e {
        Some(StoreError::Conflict(m)) => (
            StatusCode::CONFLICT,
            page("Conflict", a, &format!("<p>{}</p>", esc(&m))),
        )
            .into_response(),
        Some(StoreError::Invalid(m)) => (
            StatusCode::BAD_REQUEST,
            page("Invalid", a, &format!("<p>{}</p>", esc(&m))),
        )
            .into_response(),
        Some(StoreError::NotFound) => StatusCode::NOT_FOUND.into_response(),
        None => unavailable(a),
        Some(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[derive(Deserialize)]
struct NewForm {
    csrf: String,
    target: String,
    percent: u8,
    /// Percent in the form; the store takes a fraction.
    #[serde(default)]
    max_failure_rate: Option<f64>,
    #[serde(default)]
    min_reports: Option<u32>,
}

async fn create(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(f): Form<NewForm>,
) -> Response {
    let a = match form_admin(&st, &headers, &f.csrf) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let rate = f.max_failure_rate.unwrap_or(20.0);
    if !crate::rollout::valid_id(&f.target) || f.percent > 100 || !(0.0..=100.0).contains(&rate) {
        return (
            StatusCode::BAD_REQUEST,
            page(
                "Invalid",
                &a,
                "<p>Target: 1-128 characters of [A-Za-z0-9._:@/+-]; percentages 0 to 100.</p>",
            ),
        )
            .into_response();
    }
    let actor = a.actor.clone();
    let min = f.min_reports.unwrap_or(5);
    let r = with_rollouts(&st, move |r| {
        r.create_rollout(&f.target, f.percent, rate / 100.0, min, &actor)
    })
    .await;
    match r {
        Some(Ok(ro)) => Redirect::to(&format!("/rollouts/{}", ro.id)).into_response(),
        Some(Err(e)) => store_error(&a, Some(e)),
        None => store_error(&a, None),
    }
}

#[derive(Deserialize)]
struct ChangeForm {
    csrf: String,
    #[serde(default)]
    percent: Option<u8>,
    #[serde(default)]
    state: Option<String>,
}

async fn change(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<ChangeForm>,
) -> Response {
    let a = match form_admin(&st, &headers, &f.csrf) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let Ok(id) = id.parse::<i64>() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let state = match f.state.as_deref().map(RolloutState::parse) {
        None => None,
        Some(Some(s)) => Some(s),
        Some(None) => return (StatusCode::BAD_REQUEST, "unknown state").into_response(),
    };
    if f.percent.is_some_and(|p| p > 100) || (state.is_none() && f.percent.is_none()) {
        return (StatusCode::BAD_REQUEST, "give a percent (0-100) or a state").into_response();
    }
    let actor = a.actor.clone();
    let r = with_rollouts(&st, move |r| r.update_rollout(id, f.percent, state, &actor)).await;
    match r {
        Some(Ok(_)) => Redirect::to(&format!("/rollouts/{id}")).into_response(),
        Some(Err(e)) => store_error(&a, Some(e)),
        None => store_error(&a, None),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_utc_civil() {
        assert_eq!(super::when(0), "1970-01-01 00:00");
        assert_eq!(super::when(951_782_400), "2000-02-29 00:00");
        assert_eq!(super::when(1_764_045_000), "2025-11-25 04:30");
    }
}
