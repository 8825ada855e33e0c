#![forbid(unsafe_code)]
//! Palisade vulnerability knowledge and risk scoring.
//!
//! * [`cpe`]: CPE 2.3 formatted strings (escaping) and attribute matching (NISTIR 7696).
//! * [`version`]: a tolerant comparator for vendor/firmware versions.
//! * [`nvd`]: NVD CVE JSON 2.0 records and applicability (AND/OR nodes, version ranges,
//!   running-on platforms).
//! * [`index`] + [`import`]: the compact on-disk index and the streaming NVD importer.
//!
//! See `README.md` in this crate for the risk formula.

pub mod cpe;
pub mod decompress;
pub mod import;
pub mod index;
pub mod lzo;
pub mod nvd;
pub mod osv;
pub mod version;

pub use cpe::{Cpe, CpeError, Part, Value};
pub use import::{ImportError, ImportStats, import_nvd_files};
pub use index::{IndexBuilder, IndexError, IndexMatch, VulnIndex};
pub use nvd::{Config, CpeMatch, CveRecord, Cvss, parse_cve_json};

pub mod age;
pub mod assess;
pub mod etsi;
pub mod evidence;

pub use assess::{
    AlertRef, Assessment, ChecklistItem, DeviceProfile, Knowledge, MatchKind, RiskContext,
    VulnFinding, assess, assess_with,
};
pub use evidence::{CpeCandidate, Signal, SignalKind, candidates};

#[doc(hidden)]
pub mod fuzzing;
