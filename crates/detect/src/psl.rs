//! Registrable domains (eTLD+1) for `dns.dga` / `dns.tunnel`, by the Public Suffix List
//! algorithm (<https://github.com/publicsuffix/list/wiki/Format>): normal rules, `*.`
//! wildcards and `!` exceptions; the longest matching rule wins, an exception beats
//! everything, no match means the implicit `*` rule (the last label is the suffix).
//!
//! The list itself (MPL-2.0) is not compiled in: it is read at run time from
//! `public_suffix_list.dat` in the knowledge-pack directory (`--kb DIR` or the default
//! pack directories), else from Debian's `publicsuffix` package
//! (`/usr/share/publicsuffix/public_suffix_list.dat`). Without either, a small built-in
//! set of common multi-label suffixes (country second levels, a few hosting zones) is
//! used, so `example.co.uk` and `example.com.br` still group correctly.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// File name of the list inside a knowledge-pack directory.
pub const PSL_FILE: &str = "public_suffix_list.dat";
/// Where Debian's `publicsuffix` package installs it.
pub const DEBIAN_PSL: &str = "/usr/share/publicsuffix/public_suffix_list.dat";
/// Largest list file read (the real one is about 230 KB).
const MAX_PSL_BYTES: u64 = 8 << 20;

/// Multi-label public suffixes known without the list (ICANN second levels in wide use
/// and shared hosting zones where IoT clouds live).
const BUILTIN: &[&str] = &[
    "co.uk",
    "org.uk",
    "ac.uk",
    "gov.uk",
    "me.uk",
    "net.uk",
    "ltd.uk",
    "plc.uk",
    "com.au",
    "net.au",
    "org.au",
    "edu.au",
    "gov.au",
    "co.nz",
    "net.nz",
    "org.nz",
    "co.jp",
    "ne.jp",
    "or.jp",
    "ac.jp",
    "go.jp",
    "co.kr",
    "or.kr",
    "ne.kr",
    "com.cn",
    "net.cn",
    "org.cn",
    "gov.cn",
    "edu.cn",
    "com.hk",
    "com.tw",
    "org.tw",
    "net.tw",
    "com.sg",
    "com.my",
    "co.in",
    "net.in",
    "org.in",
    "co.id",
    "co.th",
    "in.th",
    "com.vn",
    "com.br",
    "net.br",
    "org.br",
    "gov.br",
    "com.ar",
    "com.mx",
    "com.co",
    "com.tr",
    "co.za",
    "org.za",
    "com.ua",
    "com.ru",
    "co.il",
    "org.il",
    "ac.il",
    "com.pl",
    "net.pl",
    "com.es",
    "co.at",
    "or.at",
    "com.eg",
    "com.sa",
    "com.pk",
    "com.ng",
    "co.ke",
    "com.ph",
    "github.io",
    "herokuapp.com",
    "blogspot.com",
    "appspot.com",
    "azurewebsites.net",
    "cloudfront.net",
    "duckdns.org",
    "no-ip.org",
    "ddns.net",
    "dyndns.org",
];

/// A parsed Public Suffix List.
#[derive(Debug, Clone, Default)]
pub struct SuffixList {
    rules: HashSet<String>,
    wildcards: HashSet<String>,
    exceptions: HashSet<String>,
    /// Where the rules came from (`builtin` or a file path), for evidence.
    pub source: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PslError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: larger than 8 MiB")]
    TooLarge { path: PathBuf },
    #[error("{path}: no rules")]
    Empty { path: PathBuf },
}

impl SuffixList {
    /// The built-in fallback set.
    pub fn builtin() -> Self {
        let mut l = SuffixList {
            source: "builtin".into(),
            ..Default::default()
        };
        for r in BUILTIN {
            l.rules.insert((*r).to_string());
        }
        l
    }

    /// Parses the list's text format: one rule per line, `//` comments, blank lines,
    /// only the first whitespace-separated word counts. Rules are lower-cased; lines
    /// that are not usable rules are skipped.
    pub fn parse(text: &str, source: &str) -> Self {
        let mut l = SuffixList {
            source: source.to_string(),
            ..Default::default()
        };
        for line in text.lines() {
            let Some(rule) = line.split_whitespace().next() else {
                continue;
            };
            if rule.starts_with("//") {
                continue;
            }
            let rule = rule.trim_end_matches('.').to_ascii_lowercase();
            if let Some(r) = rule.strip_prefix('!') {
                if !r.is_empty() {
                    l.exceptions.insert(r.to_string());
                }
            } else if let Some(r) = rule.strip_prefix("*.") {
                if !r.is_empty() {
                    l.wildcards.insert(r.to_string());
                }
            } else if !rule.is_empty() && !rule.contains('*') {
                l.rules.insert(rule);
            }
        }
        l
    }

    /// Reads a list file (bounded size).
    pub fn load(path: &Path) -> Result<Self, PslError> {
        let io = |e| PslError::Io {
            path: path.to_path_buf(),
            source: e,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        if meta.len() > MAX_PSL_BYTES {
            return Err(PslError::TooLarge {
                path: path.to_path_buf(),
            });
        }
        let bytes = std::fs::read(path).map_err(io)?;
        let l = Self::parse(
            &String::from_utf8_lossy(&bytes),
            &path.display().to_string(),
        );
        if l.is_empty() {
            return Err(PslError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(l)
    }

    /// Rules known (normal + wildcard + exception).
    pub fn len(&self) -> usize {
        self.rules.len() + self.wildcards.len() + self.exceptions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of trailing labels of `name` (lower-case, no trailing dot) that form its
    /// public suffix.
    fn suffix_labels(&self, name: &str) -> usize {
        let labels = name.split('.').count();
        let mut best = 1; // the implicit "*" rule
        // Suffixes of `name` from one label up: byte offsets of label starts, right to left.
        let mut starts: Vec<usize> = name
            .match_indices('.')
            .map(|(i, _)| i + 1)
            .collect::<Vec<_>>();
        starts.insert(0, 0);
        for (k, &at) in starts.iter().rev().enumerate() {
            let n = k + 1; // labels in this suffix
            let suffix = &name[at..];
            if self.exceptions.contains(suffix) {
                return n - 1;
            }
            if self.rules.contains(suffix) {
                best = best.max(n);
            }
            // "*.parent" matches any one label in front of "parent".
            if n < labels && self.wildcards.contains(suffix) {
                best = best.max(n + 1);
            }
        }
        best
    }

    /// The registrable domain (public suffix plus one label) of `name`, or `name` itself
    /// when it is a public suffix or has a single label.
    pub fn registrable<'a>(&self, name: &'a str) -> &'a str {
        let labels = name.split('.').count();
        let keep = self.suffix_labels(name) + 1;
        if keep >= labels {
            return name;
        }
        // Byte offset where the last `keep` labels start.
        match name.rmatch_indices('.').nth(keep - 1) {
            Some((i, _)) => &name[i + 1..],
            None => name,
        }
    }
}

static ACTIVE: OnceLock<SuffixList> = OnceLock::new();

/// The list in use, loaded on first use: the knowledge-pack directory's
/// `public_suffix_list.dat`, else Debian's copy, else the built-in set. An unreadable
/// file is reported once (tracing is not a dependency here: stderr) and skipped.
pub fn active() -> &'static SuffixList {
    ACTIVE.get_or_init(|| {
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Some(p) = palisade_kb::runtime_packs() {
            candidates.push(p.dir.join(PSL_FILE));
        }
        candidates.push(PathBuf::from(DEBIAN_PSL));
        for c in candidates {
            if !c.is_file() {
                continue;
            }
            match SuffixList::load(&c) {
                Ok(l) => return l,
                Err(e) => eprintln!("warning: public suffix list skipped: {e}"),
            }
        }
        SuffixList::builtin()
    })
}

/// Installs a specific list (tests, callers with their own copy); false when a list
/// is already in use.
pub fn install(l: SuffixList) -> bool {
    ACTIVE.set(l).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SAMPLE: &str = "// comment\n\ncom\nuk\nco.uk\njp\n*.kawasaki.jp\n!city.kawasaki.jp\n*.ck\n!www.ck\ngithub.io\nnet  trailing words\n";

    #[test]
    fn psl_algorithm_on_the_reference_cases() {
        let l = SuffixList::parse(SAMPLE, "sample");
        assert_eq!(l.len(), 10);
        let r = |n| l.registrable(n);
        assert_eq!(r("com"), "com");
        assert_eq!(r("example.com"), "example.com");
        assert_eq!(r("a.b.example.com"), "example.com");
        assert_eq!(r("www.bbc.co.uk"), "bbc.co.uk");
        assert_eq!(r("co.uk"), "co.uk");
        assert_eq!(r("foo.github.io"), "foo.github.io");
        assert_eq!(r("x.foo.github.io"), "foo.github.io");
        // wildcard and exception (from the list's test vectors)
        assert_eq!(r("kawasaki.jp"), "kawasaki.jp");
        assert_eq!(r("c.kawasaki.jp"), "c.kawasaki.jp");
        assert_eq!(r("b.c.kawasaki.jp"), "b.c.kawasaki.jp");
        assert_eq!(r("a.b.c.kawasaki.jp"), "b.c.kawasaki.jp");
        assert_eq!(r("city.kawasaki.jp"), "city.kawasaki.jp");
        assert_eq!(r("www.city.kawasaki.jp"), "city.kawasaki.jp");
        assert_eq!(r("www.ck"), "www.ck");
        assert_eq!(r("www.www.ck"), "www.ck");
        assert_eq!(r("x.test.ck"), "x.test.ck");
        // no rule: the implicit "*"
        assert_eq!(r("a.b.example.zz"), "example.zz");
        assert_eq!(r("localhost"), "localhost");
        assert_eq!(r("a.net"), "a.net");
    }

    #[test]
    fn builtin_covers_common_second_levels() {
        let l = SuffixList::builtin();
        assert_eq!(l.registrable("api.example.com.br"), "example.com.br");
        assert_eq!(l.registrable("x.y.tplink.co.uk"), "tplink.co.uk");
        assert_eq!(l.registrable("abc.duckdns.org"), "abc.duckdns.org");
        assert_eq!(l.registrable("a.b.example.com"), "example.com");
    }

    /// The full list from Debian's `publicsuffix` package, when installed.
    #[test]
    fn full_list_when_installed() {
        let p = Path::new(DEBIAN_PSL);
        if !p.is_file() {
            assert!(
                std::env::var("PALISADE_REQUIRE_ORACLES").as_deref() != Ok("1"),
                "{DEBIAN_PSL} is required (apt-get install publicsuffix)"
            );
            eprintln!("skipping: {DEBIAN_PSL} not installed (Debian package publicsuffix)");
            return;
        }
        let l = SuffixList::load(p).expect("the Debian list loads");
        assert!(l.len() > 5000, "{}", l.len());
        // Test vectors from the list's own tests (tests/test_psl.txt).
        for (name, want) in [
            ("www.example.com", "example.com"),
            ("a.b.example.uk.com", "example.uk.com"),
            ("test.ac", "test.ac"),
            ("a.b.c.mm", "b.c.mm"),
            ("a.b.test.ck", "b.test.ck"),
            ("www.www.ck", "www.ck"),
            ("a.b.test.kyoto.jp", "test.kyoto.jp"),
            ("a.b.city.kobe.jp", "city.kobe.jp"),
            ("a.b.c.kobe.jp", "b.c.kobe.jp"),
            ("www.city.kobe.jp", "city.kobe.jp"),
            ("shishi.ide.kyoto.jp", "shishi.ide.kyoto.jp"),
            ("a.b.example.com.cn", "example.com.cn"),
            ("www.bbc.co.uk", "bbc.co.uk"),
        ] {
            assert_eq!(l.registrable(name), want, "{name}");
        }
        let missing = Path::new("/nonexistent/public_suffix_list.dat");
        let e = SuffixList::load(missing).expect_err("missing file is an error");
        assert!(
            e.to_string()
                .contains("/nonexistent/public_suffix_list.dat"),
            "{e}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn registrable_is_a_suffix_and_never_panics(
            list in "[a-z!*. \n/]{0,200}",
            name in "[a-z0-9.]{0,60}",
        ) {
            let l = SuffixList::parse(&list, "p");
            let r = l.registrable(&name);
            prop_assert!(name.ends_with(r));
            let b = SuffixList::builtin().registrable(&name);
            prop_assert!(name.ends_with(b));
        }
    }
}
