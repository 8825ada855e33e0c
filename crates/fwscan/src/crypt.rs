//! crypt(3) password hashes as found in `/etc/shadow` and `/etc/passwd`: parsing, and the
//! traditional DES, MD5 (`$1$`), SHA-256 (`$5$`) and SHA-512 (`$6$`) schemes, so that hashes
//! can be checked against lists of default passwords. Written from the published algorithm
//! descriptions (FIPS 46-3 for DES, Ulrich Drepper's "Unix crypt using SHA-256 and SHA-512",
//! Poul-Henning Kamp's md5crypt); tests check every scheme against `openssl passwd` and
//! Python's `crypt` module.

use md5::{Digest as _, Md5};
use sha2::{Sha256, Sha512};

const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Default and bounds for `rounds=` of the SHA schemes (Drepper's specification).
pub const SHA_ROUNDS_DEFAULT: u32 = 5000;
const SHA_ROUNDS_MIN: u32 = 1000;
const SHA_ROUNDS_MAX: u32 = 999_999_999;

/// What the password field of a shadow/passwd entry holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordField {
    /// Empty field: login without a password.
    Empty,
    /// `*`, `!`, `!!`, `x` or a `!`-prefixed (locked) hash: no password login.
    Locked,
    /// A hash this module can compute.
    Hash(CryptHash),
    /// A hash of a scheme not implemented here (bcrypt `$2b$`, yescrypt `$y$`, …).
    Unsupported { scheme: String },
    /// Something else (not a valid crypt string).
    Invalid,
}

/// A parsed crypt(3) hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptHash {
    pub scheme: Scheme,
    /// The salt as written (DES: 2 characters; MD5: ≤ 8; SHA: ≤ 16).
    pub salt: String,
    /// SHA schemes: `rounds=` (5000 when absent).
    pub rounds: u32,
    /// Whether `rounds=` was written (it then appears in the output).
    pub rounds_explicit: bool,
    /// The full hash string, for comparison.
    pub full: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Des,
    Md5,
    Sha256,
    Sha512,
}

impl Scheme {
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Des => "des",
            Scheme::Md5 => "md5",
            Scheme::Sha256 => "sha256",
            Scheme::Sha512 => "sha512",
        }
    }
}

fn is_b64(c: u8) -> bool {
    ITOA64.contains(&c)
}

/// Classifies a password field (never fails: unusual content is `Invalid`).
pub fn parse_password_field(field: &str) -> PasswordField {
    if field.is_empty() {
        return PasswordField::Empty;
    }
    if field.starts_with('!') || field.starts_with('*') || field == "x" {
        return PasswordField::Locked;
    }
    if let Some(rest) = field.strip_prefix('$') {
        let Some((id, after)) = rest.split_once('$') else {
            return PasswordField::Invalid;
        };
        let scheme = match id {
            "1" => Scheme::Md5,
            "5" => Scheme::Sha256,
            "6" => Scheme::Sha512,
            other => {
                return PasswordField::Unsupported {
                    scheme: format!("${}$", other.chars().take(8).collect::<String>()),
                };
            }
        };
        let (mut rounds, mut rounds_explicit, mut after) = (SHA_ROUNDS_DEFAULT, false, after);
        if scheme != Scheme::Md5
            && let Some(r) = after.strip_prefix("rounds=")
        {
            let Some((n, tail)) = r.split_once('$') else {
                return PasswordField::Invalid;
            };
            let Ok(n) = n.parse::<u64>() else {
                return PasswordField::Invalid;
            };
            rounds = n.clamp(u64::from(SHA_ROUNDS_MIN), u64::from(SHA_ROUNDS_MAX)) as u32;
            rounds_explicit = true;
            after = tail;
        }
        // The salt ends at the next `$` (the hash follows) or at the end of the string.
        let (salt, hash) = after.split_once('$').unwrap_or((after, ""));
        let max_salt = if scheme == Scheme::Md5 { 8 } else { 16 };
        let salt: String = salt.chars().take(max_salt).collect();
        let want = match scheme {
            Scheme::Md5 => 22,
            Scheme::Sha256 => 43,
            Scheme::Sha512 => 86,
            Scheme::Des => 11,
        };
        if hash.len() != want || !hash.bytes().all(is_b64) {
            return PasswordField::Invalid;
        }
        return PasswordField::Hash(CryptHash {
            scheme,
            salt,
            rounds,
            rounds_explicit,
            full: field.to_owned(),
        });
    }
    if field.len() == 13 && field.bytes().all(is_b64) {
        return PasswordField::Hash(CryptHash {
            scheme: Scheme::Des,
            salt: field[..2].to_owned(),
            rounds: 25,
            rounds_explicit: false,
            full: field.to_owned(),
        });
    }
    PasswordField::Invalid
}

impl CryptHash {
    /// Recomputes the hash of `password` with this hash's scheme and salt.
    pub fn compute(&self, password: &[u8]) -> String {
        match self.scheme {
            Scheme::Des => des_crypt(password, self.salt.as_bytes()),
            Scheme::Md5 => md5_crypt(password, self.salt.as_bytes()),
            Scheme::Sha256 | Scheme::Sha512 => sha_crypt(
                self.scheme,
                password,
                self.salt.as_bytes(),
                self.rounds_explicit.then_some(self.rounds),
            ),
        }
    }

    /// True when `password` produces this hash.
    pub fn verify(&self, password: &[u8]) -> bool {
        // Constant time is not needed here: the scanner checks known lists offline.
        self.compute(password) == self.full
    }

    /// Relative cost of one check (≈ number of compression-function calls).
    pub fn cost(&self) -> u64 {
        match self.scheme {
            Scheme::Des => 25,
            Scheme::Md5 => 1000,
            Scheme::Sha256 | Scheme::Sha512 => u64::from(self.rounds),
        }
    }
}

fn to64(out: &mut String, mut v: u32, n: usize) {
    for _ in 0..n {
        out.push(ITOA64[(v & 0x3f) as usize] as char);
        v >>= 6;
    }
}

/// md5crypt (`$1$salt$hash`).
pub fn md5_crypt(pw: &[u8], salt: &[u8]) -> String {
    let salt = &salt[..salt.len().min(8)];
    let mut alt = Md5::new();
    alt.update(pw);
    alt.update(salt);
    alt.update(pw);
    let alt = alt.finalize();
    let mut ctx = Md5::new();
    ctx.update(pw);
    ctx.update(b"$1$");
    ctx.update(salt);
    let mut left = pw.len();
    while left > 0 {
        let n = left.min(16);
        ctx.update(&alt[..n]);
        left -= n;
    }
    let mut i = pw.len();
    while i > 0 {
        if i & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&pw[..pw.len().min(1)]);
        }
        i >>= 1;
    }
    let mut fin = ctx.finalize();
    for r in 0..1000 {
        let mut c = Md5::new();
        if r & 1 == 1 {
            c.update(pw);
        } else {
            c.update(fin);
        }
        if r % 3 != 0 {
            c.update(salt);
        }
        if r % 7 != 0 {
            c.update(pw);
        }
        if r & 1 == 1 {
            c.update(fin);
        } else {
            c.update(pw);
        }
        fin = c.finalize();
    }
    let f = |i: usize| u32::from(fin[i]);
    let mut out = format!("$1${}$", String::from_utf8_lossy(salt));
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        to64(&mut out, (f(a) << 16) | (f(b) << 8) | f(c), 4);
    }
    to64(&mut out, f(11), 2);
    out
}

fn digest(scheme: Scheme, parts: &[&[u8]]) -> Vec<u8> {
    if scheme == Scheme::Sha256 {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().to_vec()
    } else {
        let mut h = Sha512::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().to_vec()
    }
}

/// `len` bytes of `block` repeated.
fn repeat_to(block: &[u8], len: usize) -> Vec<u8> {
    block.iter().copied().cycle().take(len).collect()
}

/// SHA-crypt (`$5$` / `$6$`), Drepper's specification.
pub fn sha_crypt(scheme: Scheme, pw: &[u8], salt: &[u8], rounds: Option<u32>) -> String {
    let salt = &salt[..salt.len().min(16)];
    let n_rounds = rounds
        .unwrap_or(SHA_ROUNDS_DEFAULT)
        .clamp(SHA_ROUNDS_MIN, SHA_ROUNDS_MAX);
    let b = digest(scheme, &[pw, salt, pw]);
    let hl = b.len();
    let mut a_in: Vec<u8> = Vec::with_capacity(pw.len() * 3 + salt.len() + 128);
    a_in.extend_from_slice(pw);
    a_in.extend_from_slice(salt);
    a_in.extend_from_slice(&repeat_to(&b, pw.len()));
    let mut i = pw.len();
    while i > 0 {
        if i & 1 == 1 {
            a_in.extend_from_slice(&b);
        } else {
            a_in.extend_from_slice(pw);
        }
        i >>= 1;
    }
    let a = digest(scheme, &[&a_in]);
    let dp = digest(scheme, &[&pw.repeat(pw.len())]);
    let p_seq = repeat_to(&dp, pw.len());
    let first = a.first().copied().unwrap_or(0);
    let ds = digest(scheme, &[&salt.repeat(16 + usize::from(first))]);
    let s_seq = repeat_to(&ds, salt.len());
    let mut c = a;
    for r in 0..n_rounds {
        let mut parts: Vec<&[u8]> = Vec::with_capacity(4);
        let prev = c.clone();
        parts.push(if r & 1 == 1 { &p_seq } else { &prev });
        if r % 3 != 0 {
            parts.push(&s_seq);
        }
        if r % 7 != 0 {
            parts.push(&p_seq);
        }
        parts.push(if r & 1 == 1 { &prev } else { &p_seq });
        c = digest(scheme, &parts);
    }
    let id = if scheme == Scheme::Sha256 { 5 } else { 6 };
    let mut out = format!("${id}$");
    if rounds.is_some() {
        out.push_str(&format!("rounds={n_rounds}$"));
    }
    out.push_str(&String::from_utf8_lossy(salt));
    out.push('$');
    let g = |i: usize| u32::from(c[i]);
    if hl == 32 {
        let mut x = 0usize;
        for _ in 0..10 {
            let (p, q, s) = (x, (x + 10) % 30, (x + 20) % 30);
            to64(&mut out, (g(p) << 16) | (g(q) << 8) | g(s), 4);
            x = (x + 21) % 30;
        }
        to64(&mut out, (g(31) << 8) | g(30), 3);
    } else {
        let mut x = 0usize;
        for _ in 0..21 {
            let (p, q, s) = (x, (x + 21) % 63, (x + 42) % 63);
            to64(&mut out, (g(p) << 16) | (g(q) << 8) | g(s), 4);
            x = (x + 22) % 63;
        }
        to64(&mut out, g(63), 2);
    }
    out
}

// --- DES (FIPS 46-3) for the traditional crypt(3) ---

const IP: [u8; 64] = [
    58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4, 62, 54, 46, 38, 30, 22, 14, 6,
    64, 56, 48, 40, 32, 24, 16, 8, 57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3, 61,
    53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7,
];
const FP: [u8; 64] = [
    40, 8, 48, 16, 56, 24, 64, 32, 39, 7, 47, 15, 55, 23, 63, 31, 38, 6, 46, 14, 54, 22, 62, 30,
    37, 5, 45, 13, 53, 21, 61, 29, 36, 4, 44, 12, 52, 20, 60, 28, 35, 3, 43, 11, 51, 19, 59, 27,
    34, 2, 42, 10, 50, 18, 58, 26, 33, 1, 41, 9, 49, 17, 57, 25,
];
const E: [u8; 48] = [
    32, 1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9, 8, 9, 10, 11, 12, 13, 12, 13, 14, 15, 16, 17, 16, 17, 18,
    19, 20, 21, 20, 21, 22, 23, 24, 25, 24, 25, 26, 27, 28, 29, 28, 29, 30, 31, 32, 1,
];
const P: [u8; 32] = [
    16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10, 2, 8, 24, 14, 32, 27, 3, 9, 19,
    13, 30, 6, 22, 11, 4, 25,
];
const PC1: [u8; 56] = [
    57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, 10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60,
    52, 44, 36, 63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22, 14, 6, 61, 53, 45, 37, 29,
    21, 13, 5, 28, 20, 12, 4,
];
const PC2: [u8; 48] = [
    14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, 23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2, 41, 52,
    31, 37, 47, 55, 30, 40, 51, 45, 33, 48, 44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
];
const SHIFTS: [u32; 16] = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1];
const SBOX: [[u8; 64]; 8] = [
    [
        14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7, 0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12,
        11, 9, 5, 3, 8, 4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0, 15, 12, 8, 2, 4, 9,
        1, 7, 5, 11, 3, 14, 10, 0, 6, 13,
    ],
    [
        15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10, 3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1,
        10, 6, 9, 11, 5, 0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15, 13, 8, 10, 1, 3, 15,
        4, 2, 11, 6, 7, 12, 0, 5, 14, 9,
    ],
    [
        10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8, 13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5,
        14, 12, 11, 15, 1, 13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7, 1, 10, 13, 0, 6,
        9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12,
    ],
    [
        7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15, 13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2,
        12, 1, 10, 14, 9, 10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4, 3, 15, 0, 6, 10, 1,
        13, 8, 9, 4, 5, 11, 12, 7, 2, 14,
    ],
    [
        2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9, 14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15,
        10, 3, 9, 8, 6, 4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14, 11, 8, 12, 7, 1, 14,
        2, 13, 6, 15, 0, 9, 10, 4, 5, 3,
    ],
    [
        12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11, 10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13,
        14, 0, 11, 3, 8, 9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6, 4, 3, 2, 12, 9, 5,
        15, 10, 11, 14, 1, 7, 6, 0, 8, 13,
    ],
    [
        4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1, 13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5,
        12, 2, 15, 8, 6, 1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2, 6, 11, 13, 8, 1, 4,
        10, 7, 9, 5, 0, 15, 14, 2, 3, 12,
    ],
    [
        13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7, 1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6,
        11, 0, 14, 9, 2, 7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8, 2, 1, 14, 7, 4, 10,
        8, 13, 15, 12, 9, 0, 3, 5, 6, 11,
    ],
];

/// Permutes the `in_bits`-wide value `x` by a 1-based, MSB-first table.
fn permute(x: u64, in_bits: u32, table: &[u8]) -> u64 {
    table.iter().fold(0u64, |acc, &pos| {
        (acc << 1) | ((x >> (in_bits - u32::from(pos))) & 1)
    })
}

fn subkeys(key: u64) -> [u64; 16] {
    let cd = permute(key, 64, &PC1);
    let (mut c, mut d) = ((cd >> 28) & 0x0fff_ffff, cd & 0x0fff_ffff);
    let mut out = [0u64; 16];
    for (k, &s) in out.iter_mut().zip(SHIFTS.iter()) {
        c = ((c << s) | (c >> (28 - s))) & 0x0fff_ffff;
        d = ((d << s) | (d >> (28 - s))) & 0x0fff_ffff;
        *k = permute((c << 28) | d, 56, &PC2);
    }
    out
}

fn feistel(r: u32, k: u64, e: &[u8; 48]) -> u32 {
    let x = permute(u64::from(r), 32, e) ^ k;
    let mut s_out = 0u64;
    for (i, sbox) in SBOX.iter().enumerate() {
        let six = ((x >> (42 - 6 * i)) & 0x3f) as usize;
        let row = ((six >> 4) & 2) | (six & 1);
        let col = (six >> 1) & 0xf;
        s_out = (s_out << 4) | u64::from(sbox[row * 16 + col]);
    }
    permute(s_out, 32, &P) as u32
}

fn des_encrypt(block: u64, keys: &[u64; 16], e: &[u8; 48]) -> u64 {
    let ip = permute(block, 64, &IP);
    let (mut l, mut r) = ((ip >> 32) as u32, ip as u32);
    for k in keys {
        let next = l ^ feistel(r, *k, e);
        l = r;
        r = next;
    }
    permute((u64::from(r) << 32) | u64::from(l), 64, &FP)
}

/// One DES block encryption (exposed for the FIPS test vector).
pub fn des_encrypt_block(key: u64, block: u64) -> u64 {
    des_encrypt(block, &subkeys(key), &E)
}

fn a64_to_i(c: u8) -> u32 {
    ITOA64.iter().position(|&x| x == c).unwrap_or(0) as u32
}

/// Traditional DES crypt(3): 2 salt characters + 11 hash characters.
pub fn des_crypt(pw: &[u8], salt: &[u8]) -> String {
    let s0 = salt.first().copied().unwrap_or(b'.');
    let s1 = salt.get(1).copied().unwrap_or(b'.');
    let salt_bits = a64_to_i(s0) | (a64_to_i(s1) << 6);
    // The salt swaps expansion outputs k and k+24 for each set bit k.
    let mut e = E;
    for k in 0..12 {
        if salt_bits & (1 << k) != 0 {
            e.swap(k, k + 24);
        }
    }
    let mut key = 0u64;
    for i in 0..8 {
        key = (key << 8) | u64::from(pw.get(i).copied().unwrap_or(0) << 1);
    }
    let keys = subkeys(key);
    let mut block = 0u64;
    for _ in 0..25 {
        block = des_encrypt(block, &keys, &e);
    }
    let mut out = String::with_capacity(13);
    out.push(s0 as char);
    out.push(s1 as char);
    // 64 bits + 2 zero bits, six at a time, MSB first.
    let wide = u128::from(block) << 2;
    for i in 0..11 {
        let v = (wide >> (60 - 6 * i)) & 0x3f;
        out.push(ITOA64[v as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn des_fips_vector() {
        // The classic worked example (key 133457799BBCDFF1).
        assert_eq!(
            des_encrypt_block(0x1334_5779_9BBC_DFF1, 0x0123_4567_89AB_CDEF),
            0x85E8_1354_0F0A_B405
        );
    }

    #[test]
    fn classifies_fields() {
        assert_eq!(parse_password_field(""), PasswordField::Empty);
        assert_eq!(parse_password_field("!"), PasswordField::Locked);
        assert_eq!(parse_password_field("*"), PasswordField::Locked);
        assert!(matches!(
            parse_password_field("$y$j9T$abc$def"),
            PasswordField::Unsupported { .. }
        ));
        assert_eq!(parse_password_field("$1$abc"), PasswordField::Invalid);
        assert!(matches!(
            parse_password_field("abgOeLfPimXQo"),
            PasswordField::Hash(CryptHash {
                scheme: Scheme::Des,
                ..
            })
        ));
    }
}
