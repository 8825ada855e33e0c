//! A tolerant version comparator for vendor and firmware version strings.
//!
//! Versions are split into numeric and alphabetic tokens at every separator (`.`, `_`, `-`,
//! `+`, `~`, space …) and at digit/letter boundaries: `1.0.1f` → `1 0 1 f`,
//! `1.05b01` → `1 5 b 1`, `1.0.7.2_1.1.93` → `1 0 7 2 1 1 93`. Tokens compare pairwise:
//! numbers numerically (any length), words case-insensitively, a word sorts before a number.
//! When one side runs out, the longer version is greater (`1.0.1` < `1.0.1f`, OpenSSL's
//! letter releases) unless its next token is a pre-release word (`alpha`, `beta`, `rc`,
//! `pre`, `dev`, `snapshot`), which sorts before the release (`2.0_beta3` < `2.0`).

use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok<'a> {
    Num(&'a str),
    Word(&'a str),
}

fn tokens(v: &str) -> impl Iterator<Item = Tok<'_>> {
    let b = v.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < b.len() && !b[i].is_ascii_alphanumeric() {
            i += 1;
        }
        if i >= b.len() {
            return None;
        }
        let start = i;
        let digit = b[i].is_ascii_digit();
        while i < b.len() && b[i].is_ascii_alphanumeric() && b[i].is_ascii_digit() == digit {
            i += 1;
        }
        let s = &v[start..i];
        Some(if digit {
            let t = s.trim_start_matches('0');
            Tok::Num(if t.is_empty() { "0" } else { t })
        } else {
            Tok::Word(s)
        })
    })
}

fn is_pre_release(t: Tok<'_>) -> bool {
    match t {
        Tok::Word(w) => ["alpha", "beta", "rc", "pre", "dev", "snapshot", "preview"]
            .iter()
            .any(|p| w.eq_ignore_ascii_case(p)),
        Tok::Num(_) => false,
    }
}

fn cmp_tok(a: Tok<'_>, b: Tok<'_>) -> Ordering {
    match (a, b) {
        (Tok::Num(x), Tok::Num(y)) => x.len().cmp(&y.len()).then_with(|| x.cmp(y)),
        (Tok::Word(x), Tok::Word(y)) => {
            let (pa, pb) = (is_pre_release(a), is_pre_release(b));
            if pa != pb {
                // "1.0rc1" < "1.0a"? A pre-release word sorts before any other word.
                return if pa {
                    Ordering::Less
                } else {
                    Ordering::Greater
                };
            }
            x.bytes()
                .map(|c| c.to_ascii_lowercase())
                .cmp(y.bytes().map(|c| c.to_ascii_lowercase()))
        }
        (Tok::Word(_), Tok::Num(_)) => Ordering::Less,
        (Tok::Num(_), Tok::Word(_)) => Ordering::Greater,
    }
}

/// Compares two version strings (see the module documentation).
pub fn compare(a: &str, b: &str) -> Ordering {
    let mut ta = tokens(a);
    let mut tb = tokens(b);
    loop {
        match (ta.next(), tb.next()) {
            (None, None) => return Ordering::Equal,
            (Some(x), None) => {
                return if is_pre_release(x) {
                    Ordering::Less
                } else {
                    Ordering::Greater
                };
            }
            (None, Some(y)) => {
                return if is_pre_release(y) {
                    Ordering::Greater
                } else {
                    Ordering::Less
                };
            }
            (Some(x), Some(y)) => match cmp_tok(x, y) {
                Ordering::Equal => {}
                o => return o,
            },
        }
    }
}

/// Normalises a version as seen in banners: strips a leading `v`/`V`, surrounding
/// punctuation and trailing build noise in parentheses; lower-cases. `v1.19.4` → `1.19.4`,
/// `2.0_beta3` stays `2.0_beta3`. Returns `None` when no digit remains.
pub fn normalize(v: &str) -> Option<String> {
    let v = v
        .trim()
        .trim_matches(|c: char| c == '(' || c == ')' || c == ',' || c == ';');
    let v = v.split(['(', ' ']).next().unwrap_or(v);
    let v = v
        .strip_prefix('v')
        .or_else(|| v.strip_prefix('V'))
        .unwrap_or(v);
    let v = v.trim_end_matches(['.', '-', '_']);
    if !v.bytes().next().is_some_and(|c| c.is_ascii_digit()) || v.len() > 64 {
        return None;
    }
    Some(v.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn ordering() {
        let cases = [
            ("1.0.1", "1.0.1f", Less),
            ("1.0.1f", "1.0.1g", Less),
            ("1.0.0", "1.0.1", Less),
            ("3.4.14b", "3.4.14", Greater),
            ("1.04b12", "1.05b01", Less),
            ("1.0.7.2_1.1.93", "1.0.9.88", Less),
            ("2016.73", "2016.74", Less),
            ("1.36.1", "1.37.0", Less),
            ("2.0_beta3", "2.0", Less),
            ("2.0rc1", "2.0", Less),
            ("1.4.35", "1.4.35", Equal),
            ("01.2", "1.2", Equal),
            ("10.0.0.50", "9.9", Greater),
            ("15.03.05.19", "15.03.05.20", Less),
            ("5.3.5", "5.3.6", Less),
            ("6.42", "6.42.1", Less),
            ("99999999999999999999", "100000000000000000000", Less),
        ];
        for (a, b, o) in cases {
            assert_eq!(compare(a, b), o, "{a} vs {b}");
            assert_eq!(compare(b, a), o.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn normalise() {
        assert_eq!(normalize("v1.19.4").as_deref(), Some("1.19.4"));
        assert_eq!(normalize("1.4.35").as_deref(), Some("1.4.35"));
        assert_eq!(normalize("2.0_beta3").as_deref(), Some("2.0_beta3"));
        assert_eq!(normalize("1.2.3 (Ubuntu)").as_deref(), Some("1.2.3"));
        assert_eq!(normalize("beta"), None);
    }
}
