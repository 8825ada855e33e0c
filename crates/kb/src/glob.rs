//! `fnmatch`-style glob matching as used by Home Assistant's discovery matchers.
//!
//! Supported: `*` (any run, including empty), `?` (one character), `[abc]`, `[a-z]`,
//! `[!abc]` (negation); everything else, including `(`, `|` and `\`, is literal
//! (Python's `fnmatch` has no escape character either). A `[` without a closing `]`
//! is a literal `[`.

/// Matches `text` against the glob `pattern`. With `case_insensitive`, both sides are
/// compared after Unicode simple lower-casing.
pub fn glob_match(pattern: &str, text: &str, case_insensitive: bool) -> bool {
    let fold = |c: char| {
        if case_insensitive {
            c.to_lowercase().next().unwrap_or(c)
        } else {
            c
        }
    };
    let p: Vec<char> = pattern.chars().map(fold).collect();
    let t: Vec<char> = text.chars().map(fold).collect();

    let (mut pi, mut ti) = (0usize, 0usize);
    // Backtracking point for the most recent '*': (pattern index after '*', text index).
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        let step = if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi + 1, ti));
                    pi += 1;
                    continue;
                }
                '?' => Some(pi + 1),
                '[' => match class_match(&p, pi, t[ti]) {
                    Some((true, next)) => Some(next),
                    Some((false, _)) => None,
                    None => (t[ti] == '[').then_some(pi + 1),
                },
                c => (c == t[ti]).then_some(pi + 1),
            }
        } else {
            None
        };
        match step {
            Some(next) => {
                pi = next;
                ti += 1;
            }
            None => match star {
                Some((sp, st)) => {
                    pi = sp;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Evaluates the character class starting at `p[start] == '['` against `c`.
/// Returns `(matched, index after ']')`, or `None` when the class is not closed.
fn class_match(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = p.get(i) == Some(&'!');
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let lo = *p.get(i)?;
        if lo == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&hi| hi != ']') {
            let hi = p[i + 2];
            if lo <= c && c <= hi {
                matched = true;
            }
            i += 3;
        } else {
            if lo == c {
                matched = true;
            }
            i += 1;
        }
    }
}

/// True when the pattern contains glob metacharacters.
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

#[cfg(test)]
mod tests {
    use super::glob_match as g;

    #[test]
    fn basics() {
        assert!(g("esp*", "esp-1234", false));
        assert!(g("*", "", false));
        assert!(g("", "", false));
        assert!(!g("", "a", false));
        assert!(g("a?c", "abc", false));
        assert!(!g("a?c", "ac", false));
        assert!(g("*zigate*", "my-zigate-gw", false));
        assert!(g("k[lps]*", "kp115", false));
        assert!(!g("k[lps]*", "kx115", false));
        assert!(g("[!a]x", "bx", false));
        assert!(!g("[!a]x", "ax", false));
        assert!(g("my[45]50*", "my450abc", false));
        assert!(g("gs[0-9][0-9]", "gs42", false));
        assert!(!g("gs[0-9][0-9]", "gs4x", false));
        assert!(g("a*b*c", "aXXbYYc", false));
        assert!(!g("a*b*c", "aXXbYY", false));
        assert!(g("[ab", "[ab", false), "unclosed class is literal");
        assert!(
            g("(bosch|neff)-*", "(bosch|neff)-x", false),
            "parentheses are literal"
        );
        assert!(!g("(bosch|neff)-*", "bosch-x", false));
    }

    #[test]
    fn case_folding() {
        assert!(g("FC0FE7*", "fc0fe7123456", true));
        assert!(g("shelly*", "ShellyPlug-S-ABC", true));
        assert!(!g("shelly*", "ShellyPlug-S-ABC", false));
        assert!(g("[A-F]x", "cX", true));
    }
}
