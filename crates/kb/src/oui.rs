//! IEEE MAC address block registry (MA-L /24, MA-M /28, MA-S /36) with longest-prefix lookup.
//!
//! Pack file `data/oui.tsv` (format 1): after the header, one line per distinct organisation
//! name, sorted by name (byte order):
//!
//! ```text
//! <prefix> <prefix> ...<TAB><organisation>
//! ```
//!
//! Prefixes are upper-case hex without separators, 6 (MA-L), 7 (MA-M) or 9 (MA-S) digits,
//! sorted ascending within the line. Grouping by organisation deduplicates the ~30.7k
//! names of the ~53.7k prefixes without needing an index column.

use std::sync::OnceLock;

use crate::format::{KbError, split_pack};

pub(crate) const PACK: &str = "oui";
pub(crate) const FORMAT: u32 = 1;
pub(crate) const FILE: &str = "oui.tsv";
pub(crate) const EMBEDDED: &str = include_str!("../data/oui.tsv");

/// The OUI registry: three sorted prefix tables and a vendor string arena.
#[derive(Debug, Clone)]
pub struct OuiTable {
    /// All vendor names concatenated.
    names: String,
    /// `(start, end)` byte offsets into `names`, one per vendor.
    spans: Vec<(u32, u32)>,
    /// `(prefix value, vendor index)`, sorted by prefix; 24-, 28- and 36-bit keys.
    ma_l: Vec<(u64, u32)>,
    ma_m: Vec<(u64, u32)>,
    ma_s: Vec<(u64, u32)>,
}

/// Size class of an assigned block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockSize {
    /// MA-L: 24-bit prefix.
    MaL,
    /// MA-M: 28-bit prefix.
    MaM,
    /// MA-S (and historic IAB): 36-bit prefix.
    MaS,
}

impl BlockSize {
    /// Prefix length in bits.
    pub const fn bits(self) -> u8 {
        match self {
            BlockSize::MaL => 24,
            BlockSize::MaM => 28,
            BlockSize::MaS => 36,
        }
    }
}

impl OuiTable {
    /// The table compiled into the binary, parsed on first use.
    pub fn embedded() -> &'static OuiTable {
        static TABLE: OnceLock<OuiTable> = OnceLock::new();
        TABLE.get_or_init(|| {
            OuiTable::parse(EMBEDDED, "embedded:data/oui.tsv")
                .expect("embedded OUI pack is valid (checked by tests)")
        })
    }

    /// Parses a pack in the format described in the module docs.
    pub fn parse(text: &str, origin: &str) -> Result<OuiTable, KbError> {
        let (header, lines) = split_pack(text, origin, PACK, FORMAT)?;
        let mut t = OuiTable {
            names: String::with_capacity(text.len() / 2),
            spans: Vec::with_capacity(32 * 1024),
            ma_l: Vec::with_capacity(header.records),
            ma_m: Vec::with_capacity(8 * 1024),
            ma_s: Vec::with_capacity(8 * 1024),
        };
        for (lineno, line) in lines {
            let (prefixes, name) = line
                .split_once('\t')
                .ok_or_else(|| KbError::parse(origin, lineno, "expected <prefixes>\\t<vendor>"))?;
            let idx = u32::try_from(t.spans.len()).expect("fewer than 2^32 vendors");
            let start = t.names.len() as u32;
            t.names.push_str(name);
            t.spans.push((start, t.names.len() as u32));
            for p in prefixes.split(' ') {
                let Some(v) = parse_hex_prefix(p) else {
                    return Err(KbError::parse(
                        origin,
                        lineno,
                        format!("bad prefix {p:?}: expected 6, 7 or 9 upper-case hex digits"),
                    ));
                };
                match p.len() {
                    6 => t.ma_l.push((v, idx)),
                    7 => t.ma_m.push((v, idx)),
                    _ => t.ma_s.push((v, idx)),
                }
            }
        }
        for table in [&mut t.ma_l, &mut t.ma_m, &mut t.ma_s] {
            table.sort_unstable_by_key(|&(k, _)| k);
            if let Some(w) = table.windows(2).find(|w| w[0].0 == w[1].0) {
                return Err(KbError::parse(
                    origin,
                    0,
                    format!("duplicate prefix value {:X}", w[0].0),
                ));
            }
        }
        if t.len() != header.records {
            return Err(KbError::parse(
                origin,
                1,
                format!("header says {} records, found {}", header.records, t.len()),
            ));
        }
        Ok(t)
    }

    /// Longest-prefix match: MA-S (36 bits), then MA-M (28), then MA-L (24).
    ///
    /// The registry is consulted as is: a locally administered (randomised) address usually
    /// resolves to `None`, but 18 historic MA-L blocks have the U/L bit set, so callers that
    /// want "no vendor for random MACs" should test [`is_locally_administered`] first.
    pub fn lookup(&self, mac: [u8; 6]) -> Option<&str> {
        self.lookup_block(mac).map(|(name, _)| name)
    }

    /// Like [`lookup`](Self::lookup), also returning which block size matched.
    pub fn lookup_block(&self, mac: [u8; 6]) -> Option<(&str, BlockSize)> {
        let v = mac.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        let probes = [
            (&self.ma_s, v >> 12, BlockSize::MaS),
            (&self.ma_m, v >> 20, BlockSize::MaM),
            (&self.ma_l, v >> 24, BlockSize::MaL),
        ];
        for (table, key, size) in probes {
            if let Ok(i) = table.binary_search_by_key(&key, |&(k, _)| k) {
                return Some((self.name(table[i].1), size));
            }
        }
        None
    }

    fn name(&self, idx: u32) -> &str {
        let (s, e) = self.spans[idx as usize];
        &self.names[s as usize..e as usize]
    }

    /// Number of prefixes (all block sizes).
    pub fn len(&self) -> usize {
        self.ma_l.len() + self.ma_m.len() + self.ma_s.len()
    }

    /// True when the table holds no prefixes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Prefix counts `(MA-L, MA-M, MA-S)`.
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.ma_l.len(), self.ma_m.len(), self.ma_s.len())
    }

    /// Number of distinct organisation names.
    pub fn vendor_count(&self) -> usize {
        self.spans.len()
    }
}

/// Parses a 6-, 7- or 9-digit upper-case hex prefix.
fn parse_hex_prefix(p: &str) -> Option<u64> {
    if !matches!(p.len(), 6 | 7 | 9) {
        return None;
    }
    p.bytes().try_fold(0u64, |acc, b| {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'A'..=b'F' => b - b'A' + 10,
            _ => return None,
        };
        Some((acc << 4) | u64::from(d))
    })
}

/// True when the U/L bit (0x02 of the first octet) is set: the address was not assigned
/// from an IEEE block (typically a randomised/private Wi-Fi MAC).
pub const fn is_locally_administered(mac: [u8; 6]) -> bool {
    mac[0] & 0x02 != 0
}

/// True when the I/G bit (0x01 of the first octet) is set: a group (multicast/broadcast)
/// address, never a device's own address.
pub const fn is_multicast(mac: [u8; 6]) -> bool {
    mac[0] & 0x01 != 0
}

/// Parses `aa:bb:cc:dd:ee:ff`, `aa-bb-cc-dd-ee-ff` or `aabbccddeeff` (any case).
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let hex: String = s
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.'))
        .collect();
    if hex.len() != 12 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut mac = [0u8; 6];
    for (i, byte) in mac.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(s: &str) -> [u8; 6] {
        parse_mac(s).unwrap()
    }

    #[test]
    fn known_vendors() {
        let t = OuiTable::embedded();
        assert_eq!(
            t.lookup(mac("00:17:88:01:02:03")),
            Some("Philips Lighting BV")
        );
        assert_eq!(
            t.lookup(mac("b0:c5:54:00:00:01")),
            Some("D-Link International")
        );
        assert_eq!(t.lookup(mac("00:62:6e:51:27:2e")), None, "unassigned OUI");
    }

    #[test]
    fn longest_prefix_ma_m_and_ma_s() {
        let t = OuiTable::embedded();
        // MA-M 0055DA0 inside MA-L 0055DA (IEEE Registration Authority).
        assert_eq!(
            t.lookup_block(mac("00:55:da:01:23:45")),
            Some(("Shinko Technos co.,ltd.", BlockSize::MaM))
        );
        assert_eq!(
            t.lookup_block(mac("00:55:da:5f:ff:ff")),
            Some(("Nanoleaf", BlockSize::MaM))
        );
        // MA-S 001BC5000 and 001BC5001 inside MA-L 001BC5.
        assert_eq!(
            t.lookup_block(mac("00:1b:c5:00:0a:bc")),
            Some(("Converging Systems Inc.", BlockSize::MaS))
        );
        assert_eq!(
            t.lookup(mac("00:1b:c5:00:1f:ff")),
            Some("OpenRB.com, Direct SIA")
        );
        // 001BC5018 is not assigned: falls back to the MA-L parent.
        assert_eq!(
            t.lookup_block(mac("00:1b:c5:01:80:00")),
            Some(("IEEE Registration Authority", BlockSize::MaL))
        );
    }

    #[test]
    fn mac_helpers() {
        assert!(is_locally_administered(mac("da:a1:19:00:00:01")));
        assert!(!is_locally_administered(mac("00:17:88:00:00:01")));
        assert!(is_multicast(mac("01:00:5e:00:00:fb")));
        assert!(is_multicast(mac("ff:ff:ff:ff:ff:ff")));
        assert!(!is_multicast(mac("00:17:88:00:00:01")));
        assert_eq!(parse_mac("0017.8801.0203"), Some([0, 0x17, 0x88, 1, 2, 3]));
        assert_eq!(parse_mac("00:17:88"), None);
        assert_eq!(parse_mac("zz:17:88:01:02:03"), None);
    }

    #[test]
    fn rejects_bad_pack() {
        let h =
            "#palisade-kb\tpack=oui\tformat=1\tsource=s\tsource_version=v\tlicence=l\trecords=1\n";
        assert!(OuiTable::parse(&format!("{h}00178\tX\n"), "t").is_err());
        assert!(OuiTable::parse(&format!("{h}00178G\tX\n"), "t").is_err());
        assert!(OuiTable::parse(&format!("{h}001788\n"), "t").is_err());
        assert!(OuiTable::parse(&format!("{h}001788 001788\tX\n"), "t").is_err());
        let t = OuiTable::parse(&format!("{h}001788\tX\n"), "t").unwrap();
        assert_eq!(t.lookup([0, 0x17, 0x88, 0, 0, 0]), Some("X"));
        let wrong = h.replace("format=1", "format=2");
        assert!(OuiTable::parse(&format!("{wrong}001788\tX\n"), "t").is_err());
    }
}
