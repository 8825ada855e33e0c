//! Credential helpers: masking (a captured password never appears in clear), the
//! known-default lists, and Base64 for HTTP Basic.

/// Masks a password for alerts and logs: the first and last character with asterisks
/// between, keeping the length ("xc3511" → "x****1"); passwords of 1 to 3 characters are
/// all asterisks; the empty password is "(empty)".
pub fn mask(password: &str) -> String {
    let chars: Vec<char> = password.chars().collect();
    match chars.len() {
        0 => "(empty)".to_string(),
        1..=3 => "*".repeat(chars.len()),
        n => {
            let mut s = String::with_capacity(n);
            s.push(chars[0]);
            s.push_str(&"*".repeat(n - 2));
            s.push(chars[n - 1]);
            s
        }
    }
}

/// The known-default list that contains `(user, password)`, if any: Mirai's 62 pairs
/// first, then the embedded vendor default lists.
pub fn default_list(user: &str, password: &str) -> Option<&'static str> {
    if palisade_kb::is_mirai_credential(user, password) {
        return Some("mirai-credentials (Mirai scanner.c, 62 pairs)");
    }
    palisade_kb::default_credential_source(user, password)
}

/// Standard Base64 decoding (padding optional); None on any invalid character.
pub fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &c in s {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => return None,
        } as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_never_shows_the_middle() {
        assert_eq!(mask("xc3511"), "x****1");
        assert_eq!(mask("admin"), "a***n");
        assert_eq!(mask("abc"), "***");
        assert_eq!(mask(""), "(empty)");
        assert_eq!(mask("pässwörd").chars().count(), 8);
    }

    #[test]
    fn defaults() {
        assert!(default_list("root", "xc3511").unwrap().starts_with("mirai"));
        assert!(default_list("root", "").is_some());
        assert!(default_list("alice", "correct horse battery staple").is_none());
    }

    #[test]
    fn base64() {
        assert_eq!(base64_decode(b"YWRtaW46YWRtaW4=").unwrap(), b"admin:admin");
        assert_eq!(base64_decode(b"cm9vdDp4YzM1MTE").unwrap(), b"root:xc3511");
        assert!(base64_decode(b"a b").is_none());
    }
}
