//! Vendor default credentials from permissively licensed lists (for `cred.default_login`).
//!
//! Pack file `data/default-credentials.tsv` (format 1): after the header, one line per
//! distinct pair sorted by (username, password):
//! `<username><TAB><password (may be empty)><TAB><sources><TAB><vendors>` where `sources`
//! is a comma list of `defaultcreds-cheat-sheet` and `seclists-telnet`, and `vendors`
//! names up to three products/vendors the pair is documented for (`; `-separated).
//!
//! Sources (both MIT): ihebski/DefaultCreds-cheat-sheet and SecLists
//! `telnet-betterdefaultpasslist.txt`. The changeme list (GPL-3.0) is deliberately not
//! embedded.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::format::{KbError, split_pack};

pub(crate) const PACK: &str = "default-credentials";
pub(crate) const FORMAT: u32 = 1;
pub(crate) const FILE: &str = "default-credentials.tsv";
pub(crate) const EMBEDDED: &str = include_str!("../data/default-credentials.tsv");

/// One documented default pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultCredential {
    pub username: String,
    pub password: String,
    /// Comma list of the lists that contain the pair.
    pub sources: String,
    /// Up to three products/vendors (`; `-separated); empty for the telnet list.
    pub vendors: String,
}

struct Table {
    rows: Vec<DefaultCredential>,
    by_pair: HashMap<(String, String), usize>,
}

fn table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| {
        let rows = parse_default_credentials(EMBEDDED, "embedded:data/default-credentials.tsv")
            .expect("embedded default-credentials pack is valid (checked by tests)");
        let by_pair = rows
            .iter()
            .enumerate()
            .map(|(i, r)| ((r.username.clone(), r.password.clone()), i))
            .collect();
        Table { rows, by_pair }
    })
}

/// The embedded list.
pub fn default_credentials() -> &'static [DefaultCredential] {
    &table().rows
}

/// The documented default pair equal to `(username, password)` (exact match).
pub fn default_credential(username: &str, password: &str) -> Option<&'static DefaultCredential> {
    let t = table();
    t.by_pair
        .get(&(username.to_owned(), password.to_owned()))
        .and_then(|&i| t.rows.get(i))
}

/// Which embedded default list(s) contain the pair, e.g. `"defaultcreds-cheat-sheet"`.
pub fn default_credential_source(username: &str, password: &str) -> Option<&'static str> {
    default_credential(username, password).map(|c| c.sources.as_str())
}

/// Parses a default-credentials pack.
pub fn parse_default_credentials(
    text: &str,
    origin: &str,
) -> Result<Vec<DefaultCredential>, KbError> {
    let (header, lines) = split_pack(text, origin, PACK, FORMAT)?;
    let mut out = Vec::new();
    for (lineno, line) in lines {
        let f: Vec<&str> = line.split('\t').collect();
        let [user, pass, sources, vendors] = f[..] else {
            return Err(KbError::parse(
                origin,
                lineno,
                "expected username\\tpassword\\tsources\\tvendors",
            ));
        };
        if sources.is_empty() {
            return Err(KbError::parse(origin, lineno, "empty sources"));
        }
        out.push(DefaultCredential {
            username: user.to_owned(),
            password: pass.to_owned(),
            sources: sources.to_owned(),
            vendors: vendors.to_owned(),
        });
    }
    if out.len() != header.records {
        return Err(KbError::parse(
            origin,
            1,
            format!(
                "header says {} records, found {}",
                header.records,
                out.len()
            ),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_list_loads_and_matches_exactly() {
        let rows = default_credentials();
        assert!(rows.len() > 2000, "{}", rows.len());
        let c = default_credential("admin", "admin").expect("admin/admin is a documented default");
        assert!(c.sources.contains("defaultcreds-cheat-sheet"));
        assert!(default_credential("Admin", "admin").is_none_or(|c| c.username == "Admin"));
        assert!(default_credential("nobody-here", "x").is_none());
        // sorted, no duplicates
        for w in rows.windows(2) {
            assert!(
                (&w[0].username, &w[0].password) < (&w[1].username, &w[1].password),
                "{w:?}"
            );
        }
    }
}
