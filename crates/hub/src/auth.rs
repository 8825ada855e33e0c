//! Authentication: argon2id passwords, API tokens (`pal_` + 32 random bytes, stored as SHA-256),
//! console sessions (HttpOnly SameSite=Strict cookie, hashed at rest, CSRF token), login limits.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::http::{HeaderMap, Method};

use palisade_store::crypto::{hex, random_bytes, sha256};
use palisade_store::{Role, Store, User};

/// Who is calling, and how.
#[derive(Debug, Clone)]
pub(crate) struct Auth {
    pub actor: String,
    pub role: Role,
    /// The session's CSRF token (cookie sessions only).
    pub csrf: Option<String>,
    /// A cookie session whose user must choose a new password before doing anything else.
    pub must_change: bool,
}

pub(crate) const SESSION_COOKIE: &str = "palisade_session";
/// Pre-session CSRF token of the login form (double-submit: cookie and hidden field).
pub(crate) const LOGIN_COOKIE: &str = "palisade_login";

/// An argon2id PHC string for `password` (random salt).
pub fn hash_password(password: &str) -> String {
    let salt_bytes: [u8; 16] = random_bytes().unwrap_or([0; 16]);
    let Ok(salt) = SaltString::encode_b64(&salt_bytes) else {
        return String::new(); // never verifies
    };
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
}

pub(crate) fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A new API token: (secret shown once, SHA-256 stored).
pub fn new_token() -> (String, [u8; 32]) {
    let b: [u8; 32] = random_bytes().unwrap_or_else(|_| std::process::abort());
    let t = format!("pal_{}", hex(&b));
    let h = sha256(t.as_bytes());
    (t, h)
}

pub(crate) fn random_password() -> String {
    const ALPHA: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let b: [u8; 20] = random_bytes().unwrap_or_else(|_| std::process::abort());
    b.iter()
        .map(|x| ALPHA[*x as usize % ALPHA.len()] as char)
        .collect()
}

pub(crate) fn random_hex<const N: usize>() -> String {
    hex(&random_bytes::<N>().unwrap_or_else(|_| std::process::abort()))
}

pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Authenticates a request by bearer token or session cookie. `None` when anonymous or invalid.
pub(crate) fn authenticate(store: &dyn Store, headers: &HeaderMap) -> Option<Auth> {
    if let Some(v) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let t = v.strip_prefix("Bearer ")?.trim();
        if !t.starts_with("pal_") || t.len() > 200 {
            return None;
        }
        let tok = store.token_by_hash(&sha256(t.as_bytes())).ok()??;
        return Some(Auth {
            actor: format!("token:{}", tok.name),
            role: tok.role,
            csrf: None,
            must_change: false,
        });
    }
    let sid = cookie(headers, SESSION_COOKIE)?;
    let s = store
        .session(&sha256(sid.as_bytes()), palisade_store::now())
        .ok()??;
    Some(Auth {
        must_change: s.user.must_change_password,
        actor: s.user.name,
        role: s.user.role,
        csrf: Some(s.csrf),
    })
}

/// Mutating requests made with a session cookie must carry the session's CSRF token.
pub(crate) fn csrf_ok(auth: &Auth, method: &Method, presented: Option<&str>) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    match &auth.csrf {
        None => true, // bearer tokens are not sent automatically by browsers
        Some(expected) => presented.is_some_and(|p| constant_eq(p.as_bytes(), expected.as_bytes())),
    }
}

pub(crate) fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Creates a session for `user`; returns (cookie value, csrf token).
pub(crate) fn start_session(
    store: &dyn Store,
    user: &User,
    ttl_s: i64,
) -> Option<(String, String)> {
    let sid = random_hex::<32>();
    let csrf = random_hex::<16>();
    store
        .create_session(
            &sha256(sid.as_bytes()),
            user.id,
            &csrf,
            palisade_store::now() + ttl_s,
        )
        .ok()?;
    Some((sid, csrf))
}

pub(crate) fn session_cookie(sid: &str, ttl_s: i64, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={sid}; Path=/; HttpOnly; SameSite=Strict; Max-Age={ttl_s}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Login rate limiting: at most `MAX_FAILURES` failed logins per user name per window.
#[derive(Default)]
pub(crate) struct LoginLimiter {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

const MAX_FAILURES: u32 = 10;
const WINDOW: Duration = Duration::from_secs(600);

impl LoginLimiter {
    pub(crate) fn blocked(&self, user: &str) -> bool {
        let m = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        m.get(user)
            .is_some_and(|(n, t)| *n >= MAX_FAILURES && t.elapsed() < WINDOW)
    }
    pub(crate) fn failed(&self, user: &str) {
        let mut m = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() > 10_000 {
            m.retain(|_, (_, t)| t.elapsed() < WINDOW);
        }
        let e = m.entry(user.to_owned()).or_insert((0, Instant::now()));
        if e.1.elapsed() >= WINDOW {
            *e = (0, Instant::now());
        }
        e.0 += 1;
    }
    pub(crate) fn succeeded(&self, user: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(user);
    }
}

/// Checks a user name and password (rate limited). `Err(true)` when blocked.
pub(crate) fn login(
    store: &dyn Store,
    limiter: &LoginLimiter,
    name: &str,
    password: &str,
) -> Result<User, bool> {
    if limiter.blocked(name) {
        return Err(true);
    }
    let user = store.user_by_name(name).ok().flatten();
    // Verify against a dummy hash for unknown users so timing does not reveal them.
    let ok = match &user {
        Some(u) => verify_password(&u.password_hash, password),
        None => {
            verify_password(DUMMY_HASH, password);
            false
        }
    };
    match (ok, user) {
        (true, Some(u)) => {
            limiter.succeeded(name);
            Ok(u)
        }
        _ => {
            limiter.failed(name);
            Err(false)
        }
    }
}

const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$8Nf8IoxqUTk3AgNNoW3P7fnw1lmbcQx7yMAXhrJ8Kqw";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_roundtrip() {
        let h = hash_password("hunter2");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "hunter2"));
        assert!(!verify_password(&h, "hunter3"));
        assert!(!verify_password("garbage", "x"));
    }

    #[test]
    fn limiter_blocks_after_failures() {
        let l = LoginLimiter::default();
        for _ in 0..MAX_FAILURES {
            assert!(!l.blocked("a"));
            l.failed("a");
        }
        assert!(l.blocked("a"));
        assert!(!l.blocked("b"));
    }

    #[test]
    fn csrf_rules() {
        let a = Auth {
            actor: "x".into(),
            role: Role::Admin,
            csrf: Some("abc".into()),
            must_change: false,
        };
        assert!(csrf_ok(&a, &Method::GET, None));
        assert!(!csrf_ok(&a, &Method::POST, None));
        assert!(!csrf_ok(&a, &Method::POST, Some("abd")));
        assert!(csrf_ok(&a, &Method::POST, Some("abc")));
    }
}
