//! Accounts from `/etc/passwd` and `/etc/shadow`, and their password hashes checked against
//! the embedded default-credential lists (Mirai's dictionary and vendor defaults).

use serde::Serialize;

use crate::crypt::{PasswordField, parse_password_field};
use crate::vfs::{Vfs, join};

/// Most cost units (≈ hash compression calls) spent checking passwords per image, so a
/// shadow file full of `rounds=999999999` hashes cannot stall a scan.
pub const CHECK_BUDGET: u64 = 40_000_000;
/// Most accounts read per file.
const MAX_ACCOUNTS: usize = 4096;

/// One account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    pub user: String,
    pub uid: Option<u32>,
    pub shell: String,
    /// `empty` (no password), `locked`, `des`/`md5`/`sha256`/`sha512`, `unsupported:$x$`,
    /// `invalid`, or `unknown` (no hash found).
    pub password: String,
    /// File that held the password field.
    pub source: String,
}

/// A hash that matched a documented default password (or an empty password).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredentialFinding {
    pub user: String,
    pub password: String,
    /// `empty`, or the hash scheme that matched.
    pub scheme: String,
    pub file: String,
    /// Lists naming the pair: `mirai`, `defaultcreds-cheat-sheet`, `seclists-telnet`.
    pub lists: Vec<String>,
    /// Products the pair is documented for (from the default-credential list).
    pub vendors: String,
}

/// What the account scan found under one file-system root.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AccountReport {
    pub accounts: Vec<Account>,
    pub credentials: Vec<CredentialFinding>,
    /// Hashes not checked because the budget ran out or their scheme is unsupported.
    pub unchecked: Vec<String>,
}

fn lines(data: &[u8]) -> impl Iterator<Item = &str> {
    std::str::from_utf8(data)
        .unwrap_or("")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .take(MAX_ACCOUNTS)
}

/// Candidate passwords for `user`, with the lists that name each pair.
fn candidates(user: &str) -> Vec<(String, Vec<String>, String)> {
    let mut out: Vec<(String, Vec<String>, String)> = Vec::new();
    let mut add = |pw: &str, list: &str, vendors: &str| {
        if let Some(e) = out.iter_mut().find(|(p, _, _)| p == pw) {
            for l in list.split(',') {
                if !e.1.iter().any(|x| x == l) {
                    e.1.push(l.to_owned());
                }
            }
            if e.2.is_empty() {
                e.2 = vendors.to_owned();
            }
        } else {
            out.push((
                pw.to_owned(),
                list.split(',').map(str::to_owned).collect(),
                vendors.to_owned(),
            ));
        }
    };
    for c in palisade_kb::mirai_credentials() {
        if c.username == user {
            add(&c.password, "mirai", "");
        }
    }
    for c in palisade_kb::default_credentials() {
        if c.username == user {
            add(&c.password, &c.sources, &c.vendors);
        }
    }
    // Mirai's passwords for any account: firmware reuses them under other names.
    for c in palisade_kb::mirai_credentials() {
        if !out.iter().any(|(p, _, _)| *p == c.password) {
            out.push((
                c.password.clone(),
                vec!["mirai-password".to_owned()],
                String::new(),
            ));
        }
    }
    out
}

/// Reads the accounts under the root `root` (a mount point) and checks their hashes,
/// spending at most `budget` cost units (decremented).
pub fn scan(vfs: &Vfs, root: &str, budget: &mut u64) -> AccountReport {
    let mut rep = AccountReport::default();
    let passwd_path = join(root, &["etc", "passwd"]);
    let shadow_path = join(root, &["etc", "shadow"]);
    let passwd = vfs.read(&passwd_path);
    let shadow = vfs.read(&shadow_path);
    if passwd.is_none() && shadow.is_none() {
        return rep;
    }
    // user -> (field, file)
    let mut fields: Vec<(String, String, String)> = Vec::new();
    if let Some(s) = shadow {
        for l in lines(s) {
            let mut it = l.split(':');
            let (Some(u), Some(f)) = (it.next(), it.next()) else {
                continue;
            };
            fields.push((u.to_owned(), f.to_owned(), shadow_path.clone()));
        }
    }
    if let Some(p) = passwd {
        for l in lines(p) {
            let parts: Vec<&str> = l.split(':').collect();
            let Some(user) = parts.first() else { continue };
            let field = parts.get(1).copied().unwrap_or("");
            let (pw, src) = if field == "x" {
                match fields.iter().find(|(u, _, _)| u == user) {
                    Some((_, f, s)) => (f.clone(), s.clone()),
                    None => ("x".to_owned(), passwd_path.clone()),
                }
            } else {
                (field.to_owned(), passwd_path.clone())
            };
            rep.accounts.push(Account {
                user: (*user).to_owned(),
                uid: parts.get(2).and_then(|u| u.parse().ok()),
                shell: parts.get(6).copied().unwrap_or("").to_owned(),
                password: String::new(),
                source: src.clone(),
            });
            if let Some(a) = rep.accounts.last_mut() {
                a.password = pw;
            }
        }
    }
    // Shadow entries without a passwd line still count.
    for (u, f, s) in &fields {
        if !rep.accounts.iter().any(|a| a.user == *u) {
            rep.accounts.push(Account {
                user: u.clone(),
                uid: None,
                shell: String::new(),
                password: f.clone(),
                source: s.clone(),
            });
        }
    }
    for a in &mut rep.accounts {
        let field = std::mem::take(&mut a.password);
        a.password = match parse_password_field(&field) {
            PasswordField::Empty => {
                // An empty field means login without a password (unless the shell forbids it).
                if !a.shell.ends_with("nologin") && !a.shell.ends_with("false") {
                    rep.credentials.push(CredentialFinding {
                        user: a.user.clone(),
                        password: String::new(),
                        scheme: "empty".to_owned(),
                        file: a.source.clone(),
                        lists: vec!["empty-password".to_owned()],
                        vendors: String::new(),
                    });
                }
                "empty".to_owned()
            }
            PasswordField::Locked => {
                if field == "x" {
                    "unknown".to_owned()
                } else {
                    "locked".to_owned()
                }
            }
            PasswordField::Unsupported { scheme } => {
                rep.unchecked
                    .push(format!("{}: {scheme} hashes are not checked", a.user));
                format!("unsupported:{scheme}")
            }
            PasswordField::Invalid => "invalid".to_owned(),
            PasswordField::Hash(h) => {
                let mut found = None;
                for (pw, lists, vendors) in candidates(&a.user) {
                    if *budget < h.cost() {
                        rep.unchecked.push(format!(
                            "{}: check budget exhausted ({} hash)",
                            a.user,
                            h.scheme.name()
                        ));
                        break;
                    }
                    *budget -= h.cost();
                    if h.verify(pw.as_bytes()) {
                        found = Some((pw, lists, vendors));
                        break;
                    }
                }
                if let Some((pw, lists, vendors)) = found {
                    rep.credentials.push(CredentialFinding {
                        user: a.user.clone(),
                        password: pw,
                        scheme: h.scheme.name().to_owned(),
                        file: a.source.clone(),
                        lists,
                        vendors,
                    });
                }
                h.scheme.name().to_owned()
            }
        };
    }
    rep
}
