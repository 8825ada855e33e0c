//! CPE 2.3 names: the formatted-string binding (`cpe:2.3:part:vendor:…`), its escaping
//! rules, and attribute comparison per CPE Name Matching (NISTIR 7696).
//!
//! Values are kept unescaped and lower-cased (CPE matching is case-insensitive). A value
//! with an unquoted `*` or `?` inside it is a [`Value::Pattern`]; a lone `*` is
//! [`Value::Any`] and a lone `-` is [`Value::Na`].

use std::fmt;

/// Number of attributes after `part` (vendor … other).
pub const ATTRS: usize = 10;

/// Index of each attribute in [`Cpe::attrs`].
pub mod attr {
    pub const VENDOR: usize = 0;
    pub const PRODUCT: usize = 1;
    pub const VERSION: usize = 2;
    pub const UPDATE: usize = 3;
    pub const EDITION: usize = 4;
    pub const LANGUAGE: usize = 5;
    pub const SW_EDITION: usize = 6;
    pub const TARGET_SW: usize = 7;
    pub const TARGET_HW: usize = 8;
    pub const OTHER: usize = 9;
}

/// One attribute value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Value {
    /// `*`: any value.
    #[default]
    Any,
    /// `-`: not applicable.
    Na,
    /// A literal (unescaped, lower-case).
    Literal(String),
    /// A value containing unquoted wildcards; `toks` is the unescaped pattern.
    Pattern(Vec<PatTok>),
}

/// One element of a wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PatTok {
    /// `*`: zero or more characters.
    Star,
    /// `?`: exactly one character.
    One,
    Char(char),
}

/// The part attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    Application,
    OperatingSystem,
    Hardware,
    Any,
}

impl Part {
    pub fn as_char(self) -> char {
        match self {
            Part::Application => 'a',
            Part::OperatingSystem => 'o',
            Part::Hardware => 'h',
            Part::Any => '*',
        }
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            Part::Application => 0,
            Part::OperatingSystem => 1,
            Part::Hardware => 2,
            Part::Any => 3,
        }
    }

    pub(crate) fn from_code(c: u8) -> Option<Part> {
        Some(match c {
            0 => Part::Application,
            1 => Part::OperatingSystem,
            2 => Part::Hardware,
            3 => Part::Any,
            _ => return None,
        })
    }
}

/// A parsed CPE 2.3 name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cpe {
    pub part: Part,
    /// vendor, product, version, update, edition, language, sw_edition, target_sw, target_hw, other.
    pub attrs: [Value; ATTRS],
}

/// Why a CPE string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CpeError {
    #[error("not a CPE 2.3 formatted string (must start with cpe:2.3:)")]
    Prefix,
    #[error("expected 13 colon-separated components, found {found}")]
    Components { found: usize },
    #[error("bad part {found:?} (expected a, o, h or *)")]
    Part { found: String },
    #[error("dangling escape at byte {offset}")]
    DanglingEscape { offset: usize },
    #[error("CPE string longer than {max} bytes")]
    TooLong { max: usize },
}

/// Longest CPE string accepted (NVD's longest are a few hundred bytes).
pub const MAX_CPE_LEN: usize = 2048;

impl Cpe {
    /// Parses a CPE 2.3 formatted string. Also accepts a CPE 2.2 URI (`cpe:/a:vendor:product:version`).
    pub fn parse(s: &str) -> Result<Cpe, CpeError> {
        if s.len() > MAX_CPE_LEN {
            return Err(CpeError::TooLong { max: MAX_CPE_LEN });
        }
        if let Some(rest) = s.strip_prefix("cpe:/") {
            return Ok(parse_uri(rest));
        }
        let rest = s.strip_prefix("cpe:2.3:").ok_or(CpeError::Prefix)?;
        let comps = split_unescaped(rest)?;
        if comps.len() != ATTRS + 1 {
            return Err(CpeError::Components {
                found: comps.len() + 2,
            });
        }
        let part = match comps[0] {
            "a" | "A" => Part::Application,
            "o" | "O" => Part::OperatingSystem,
            "h" | "H" => Part::Hardware,
            "*" => Part::Any,
            other => {
                return Err(CpeError::Part {
                    found: other.chars().take(16).collect(),
                });
            }
        };
        let mut attrs: [Value; ATTRS] = Default::default();
        for (slot, c) in attrs.iter_mut().zip(&comps[1..]) {
            *slot = Value::from_formatted(c);
        }
        Ok(Cpe { part, attrs })
    }

    /// A CPE with the given part, vendor, product and version and every other attribute ANY.
    pub fn new(part: Part, vendor: &str, product: &str, version: Option<&str>) -> Cpe {
        let mut attrs: [Value; ATTRS] = Default::default();
        attrs[attr::VENDOR] = Value::literal(vendor);
        attrs[attr::PRODUCT] = Value::literal(product);
        attrs[attr::VERSION] = match version {
            Some("-") => Value::Na,
            Some(v) => Value::literal(v),
            None => Value::Any,
        };
        Cpe { part, attrs }
    }

    pub fn vendor(&self) -> &Value {
        &self.attrs[attr::VENDOR]
    }

    pub fn product(&self) -> &Value {
        &self.attrs[attr::PRODUCT]
    }

    pub fn version(&self) -> &Value {
        &self.attrs[attr::VERSION]
    }

    /// True when `self`, read as a source pattern (criteria), matches the target name on
    /// every attribute except, optionally, the version (NISTIR 7696 SUPERSET or EQUAL).
    pub fn matches(&self, target: &Cpe, skip_version: bool) -> bool {
        if self.part != Part::Any && self.part != target.part {
            return false;
        }
        self.attrs
            .iter()
            .zip(&target.attrs)
            .enumerate()
            .all(|(i, (s, t))| (skip_version && i == attr::VERSION) || s.matches(t))
    }
}

impl Value {
    /// A literal from plain (unescaped) text, lower-cased; `*` and `?` are taken literally.
    pub fn literal(s: &str) -> Value {
        Value::Literal(s.to_lowercase())
    }

    /// Parses one formatted-string component (escapes resolved).
    pub fn from_formatted(c: &str) -> Value {
        match c {
            "*" | "" => return Value::Any,
            "-" => return Value::Na,
            _ => {}
        }
        let mut toks = Vec::with_capacity(c.len());
        let mut wild = false;
        let mut chars = c.chars();
        while let Some(ch) = chars.next() {
            match ch {
                '\\' => {
                    if let Some(n) = chars.next() {
                        toks.push(PatTok::Char(n.to_ascii_lowercase()));
                    }
                }
                '*' => {
                    wild = true;
                    toks.push(PatTok::Star);
                }
                '?' => {
                    wild = true;
                    toks.push(PatTok::One);
                }
                _ => toks.push(PatTok::Char(ch.to_lowercase().next().unwrap_or(ch))),
            }
        }
        if wild {
            Value::Pattern(toks)
        } else {
            Value::Literal(
                toks.into_iter()
                    .map(|t| match t {
                        PatTok::Char(c) => c,
                        PatTok::Star => '*',
                        PatTok::One => '?',
                    })
                    .collect(),
            )
        }
    }

    /// The literal text, if this is a literal.
    pub fn as_literal(&self) -> Option<&str> {
        match self {
            Value::Literal(s) => Some(s),
            _ => None,
        }
    }

    /// Attribute comparison with `self` as source (criteria) and `t` as target:
    /// true for SUPERSET or EQUAL, false for SUBSET, DISJOINT or UNDEFINED.
    pub fn matches(&self, t: &Value) -> bool {
        match (self, t) {
            (Value::Any, _) => true,
            (Value::Na, Value::Na) => true,
            (Value::Na, _) => false,
            // A concrete source never covers ANY (SUBSET) nor NA (DISJOINT).
            (_, Value::Any) | (_, Value::Na) => false,
            (Value::Literal(a), Value::Literal(b)) => a == b,
            (Value::Pattern(p), Value::Literal(b)) => glob(p, &b.chars().collect::<Vec<_>>()),
            // Pattern vs pattern: only identical patterns are considered equal.
            (Value::Pattern(a), Value::Pattern(b)) => a == b,
            (Value::Literal(_), Value::Pattern(_)) => false,
        }
    }

    /// Formatted-string rendering (with escapes).
    pub fn to_formatted(&self) -> String {
        match self {
            Value::Any => "*".into(),
            Value::Na => "-".into(),
            Value::Literal(s) => escape(s),
            Value::Pattern(toks) => {
                let mut out = String::new();
                for t in toks {
                    match t {
                        PatTok::Star => out.push('*'),
                        PatTok::One => out.push('?'),
                        PatTok::Char(c) => push_escaped(&mut out, *c),
                    }
                }
                out
            }
        }
    }
}

fn push_escaped(out: &mut String, c: char) {
    if !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' || !c.is_ascii()) {
        out.push('\\');
    }
    out.push(c);
}

/// Escapes a plain value for the formatted-string binding.
pub fn escape(s: &str) -> String {
    if s == "-" {
        // A lone unescaped hyphen means NA.
        return "\\-".into();
    }
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        push_escaped(&mut out, c);
    }
    out
}

impl fmt::Display for Cpe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cpe:2.3:{}", self.part.as_char())?;
        for a in &self.attrs {
            write!(f, ":{}", a.to_formatted())?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Cpe {
    type Err = CpeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Cpe::parse(s)
    }
}

/// Splits on `:` that are not escaped by a backslash.
fn split_unescaped(s: &str) -> Result<Vec<&str>, CpeError> {
    let mut out = Vec::with_capacity(11);
    let b = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                if i + 1 >= b.len() {
                    return Err(CpeError::DanglingEscape {
                        offset: i + "cpe:2.3:".len(),
                    });
                }
                i += 2;
                continue;
            }
            b':' => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(&s[start..]);
    Ok(out)
}

/// CPE 2.2 URI binding (after `cpe:/`): `part:vendor:product:version:update:edition:language`,
/// percent-encoded. Missing components are ANY; an empty one is ANY.
fn parse_uri(rest: &str) -> Cpe {
    let mut attrs: [Value; ATTRS] = Default::default();
    let mut comps = rest.split(':');
    let part = match comps.next() {
        Some("a") => Part::Application,
        Some("o") => Part::OperatingSystem,
        Some("h") => Part::Hardware,
        _ => Part::Any,
    };
    for (i, c) in comps.take(6).enumerate() {
        let dec = percent_decode(c);
        attrs[i] = match dec.as_str() {
            "" => Value::Any,
            "-" => Value::Na,
            d => Value::literal(d),
        };
    }
    Cpe { part, attrs }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Wildcard match of `p` against `t` (iterative, linear back-tracking on the last star).
fn glob(p: &[PatTok], t: &[char]) -> bool {
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(PatTok::Star) => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(PatTok::One) => {
                pi += 1;
                ti += 1;
            }
            Some(PatTok::Char(c)) if *c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi.min(p.len())..].iter().all(|t| *t == PatTok::Star)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_escape() {
        let c = Cpe::parse("cpe:2.3:o:hikvision:ds-2cd2026g2-iu\\/sl_firmware:-:*:*:*:*:*:*:*")
            .unwrap();
        assert_eq!(c.part, Part::OperatingSystem);
        assert_eq!(
            c.product().as_literal(),
            Some("ds-2cd2026g2-iu/sl_firmware")
        );
        assert_eq!(c.version(), &Value::Na);
        assert_eq!(
            c.to_string(),
            "cpe:2.3:o:hikvision:ds-2cd2026g2-iu\\/sl_firmware:-:*:*:*:*:*:*:*"
        );
        let c = Cpe::parse("cpe:2.3:h:hikvision:ds-2cd2412f-i\\(w\\):-:*:*:*:*:*:*:*").unwrap();
        assert_eq!(c.product().as_literal(), Some("ds-2cd2412f-i(w)"));
        let c = Cpe::parse("cpe:2.3:a:vendor:prod\\:uct:1.0:*:*:*:*:*:*:*").unwrap();
        assert_eq!(c.product().as_literal(), Some("prod:uct"));
        assert_eq!(Cpe::parse(&c.to_string()).unwrap(), c);
        let c = Cpe::parse("cpe:2.3:a:mitel:mivoice:1.1.2.5:*:*:*:*:lync:*:*").unwrap();
        assert_eq!(c.attrs[attr::TARGET_SW].as_literal(), Some("lync"));
    }

    #[test]
    fn errors() {
        assert_eq!(Cpe::parse("cpe:2.4:a"), Err(CpeError::Prefix));
        assert!(matches!(
            Cpe::parse("cpe:2.3:a:b:c"),
            Err(CpeError::Components { .. })
        ));
        assert!(matches!(
            Cpe::parse("cpe:2.3:x:a:b:c:d:e:f:g:h:i:j"),
            Err(CpeError::Part { .. })
        ));
        assert!(matches!(
            Cpe::parse("cpe:2.3:a:a:b:c:d:e:f:g:h:i:j:k\\"),
            Err(CpeError::DanglingEscape { .. })
        ));
    }

    #[test]
    fn attribute_relations() {
        let lit = Value::literal("1.0");
        assert!(Value::Any.matches(&lit));
        assert!(Value::Any.matches(&Value::Na));
        assert!(!lit.matches(&Value::Any));
        assert!(!Value::Na.matches(&lit));
        assert!(Value::Na.matches(&Value::Na));
        assert!(!lit.matches(&Value::Na));
        let p = Value::from_formatted("1.*");
        assert!(p.matches(&Value::literal("1.2.3")));
        assert!(!p.matches(&Value::literal("2.0")));
        let q = Value::from_formatted("?.0");
        assert!(q.matches(&Value::literal("1.0")));
        assert!(!q.matches(&Value::literal("10.0")));
        assert_eq!(Value::from_formatted("a\\*b"), Value::Literal("a*b".into()));
    }

    #[test]
    fn uri_binding() {
        let c = Cpe::parse("cpe:/a:busybox:busybox:1.24.2").unwrap();
        assert_eq!(
            c.to_string(),
            "cpe:2.3:a:busybox:busybox:1.24.2:*:*:*:*:*:*:*"
        );
        let c = Cpe::parse("cpe:/o:linux:linux_kernel:2.6%2e32").unwrap();
        assert_eq!(c.version().as_literal(), Some("2.6.32"));
    }
}
