//! Webhook bodies, their HMAC-SHA256 signature and the retry schedule (the HTTP client is
//! in the binary).

use ring::hmac;

/// Header carrying the signature: `sha256=<hex of HMAC-SHA256(secret, body)>`.
pub const SIGNATURE_HEADER: &str = "X-Palisade-Signature";

/// Hex HMAC-SHA256 of the body.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let tag = hmac::sign(&key, body);
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The header value for a body.
pub fn signature_header(secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", sign(secret, body))
}

/// Constant-time check of a received `sha256=<hex>` header (for receivers and tests).
pub fn verify(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Some(tag) = decode_hex(hex) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    hmac::verify(&key, body, &tag).is_ok()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Exponential backoff: `base * 2^attempt`, capped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base_ms: u64,
    pub max_ms: u64,
    /// Attempts in all (the first try included); then the body goes to the dead-letter file.
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base_ms: 500,
            max_ms: 30_000,
            attempts: 5,
        }
    }
}

impl Backoff {
    /// Delay before retry number `retry` (1 = the first retry).
    pub fn delay_ms(&self, retry: u32) -> u64 {
        let exp = 1u64
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u64::MAX);
        self.base_ms.saturating_mul(exp).min(self.max_ms)
    }
}

/// The dead-letter record of a body that could not be delivered (one JSON line).
pub fn dead_letter(url: &str, attempts: u32, last_error: &str, body: &serde_json::Value) -> String {
    serde_json::json!({
        "url": url,
        "attempts": attempts,
        "last_error": last_error,
        "body": body,
    })
    .to_string()
}
