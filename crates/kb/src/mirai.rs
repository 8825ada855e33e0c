//! The 62 telnet credential pairs hard-coded in Mirai's scanner (`add_auth_entry`).
//!
//! Pack file `data/mirai-credentials.tsv` (format 1): after the header, one line per entry
//! in source order: `<username><TAB><password><TAB><weight>` (the password may be empty).

use std::sync::OnceLock;

use crate::format::{KbError, split_pack};

pub(crate) const PACK: &str = "mirai-credentials";
pub(crate) const FORMAT: u32 = 1;
pub(crate) const FILE: &str = "mirai-credentials.tsv";
pub(crate) const EMBEDDED: &str = include_str!("../data/mirai-credentials.tsv");

/// One Mirai dictionary entry. `weight` drives Mirai's random selection (sum 152).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: String,
    pub weight: u32,
}

/// The embedded list, in Mirai's source order (duplicates such as `guest:12345` kept).
pub fn mirai_credentials() -> &'static [Credential] {
    static T: OnceLock<Vec<Credential>> = OnceLock::new();
    T.get_or_init(|| {
        parse_mirai_credentials(EMBEDDED, "embedded:data/mirai-credentials.tsv")
            .expect("embedded Mirai pack is valid (checked by tests)")
    })
}

/// True when `(username, password)` is one of Mirai's pairs (exact, case-sensitive).
pub fn is_mirai_credential(username: &str, password: &str) -> bool {
    mirai_credentials()
        .iter()
        .any(|c| c.username == username && c.password == password)
}

/// Parses a Mirai credentials pack.
pub fn parse_mirai_credentials(text: &str, origin: &str) -> Result<Vec<Credential>, KbError> {
    let (header, lines) = split_pack(text, origin, PACK, FORMAT)?;
    let mut out = Vec::new();
    for (lineno, line) in lines {
        let f: Vec<&str> = line.split('\t').collect();
        let [user, pass, weight] = f[..] else {
            return Err(KbError::parse(
                origin,
                lineno,
                "expected username\\tpassword\\tweight",
            ));
        };
        let weight = weight
            .parse()
            .map_err(|_| KbError::parse(origin, lineno, format!("bad weight {weight:?}")))?;
        out.push(Credential {
            username: user.to_owned(),
            password: pass.to_owned(),
            weight,
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
    fn embedded_list() {
        let c = mirai_credentials();
        assert_eq!(c.len(), 62);
        assert_eq!(c.iter().map(|c| c.weight).sum::<u32>(), 152);
        assert_eq!(
            c[0],
            Credential {
                username: "root".into(),
                password: "xc3511".into(),
                weight: 10
            }
        );
        assert_eq!(c[26].username, "Administrator");
        assert_eq!(c[26].password, "meinsm");
        assert_eq!(c[30], c[31], "guest:12345 appears twice");
        assert!(is_mirai_credential("root", ""));
        assert!(is_mirai_credential("admin", "4321"));
        assert!(!is_mirai_credential("root", "hunter2"));
    }
}
