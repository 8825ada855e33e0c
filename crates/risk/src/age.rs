//! Firmware age from passive evidence: build dates that devices print in their own banners
//! (BusyBox `(2015-12-24 17:52:11 CST)`, `uname -v` style `Mon Mar 4 12:00:00 CST 2013`,
//! `Build 20151113`), and release dates of exactly identified component versions. The newest
//! date wins: firmware is never older than the newest thing inside it, so this errs towards
//! a younger (lower-risk) age.

use crate::assess::civil_date;
use crate::evidence::{CpeCandidate, Signal, SignalKind};

/// Release dates (UTC, `YYYY-MM-DD`) of exact component versions common in IoT firmware, from
/// the projects' release announcements. Only exact versions: a later patch release of a
/// series would be younger than the series' first release.
const RELEASES: &[(&str, &str, &str)] = &[
    ("busybox", "1.19.3", "2011-10-29"),
    ("busybox", "1.19.4", "2012-02-04"),
    ("busybox", "1.21.1", "2013-06-29"),
    ("busybox", "1.22.1", "2014-01-20"),
    ("lighttpd", "1.4.34", "2014-01-20"),
    ("lighttpd", "1.4.35", "2014-03-12"),
    ("linux_kernel", "2.6.21", "2007-04-26"),
    ("linux_kernel", "3.4", "2012-05-20"),
    ("linux_kernel", "3.10", "2013-06-30"),
    ("linux_kernel", "3.14", "2014-03-30"),
    ("linux_kernel", "3.14.0", "2014-03-30"),
    ("linux_kernel", "3.18", "2014-12-07"),
    ("linux_kernel", "4.4", "2016-01-10"),
    ("linux_kernel", "4.9", "2016-12-11"),
    ("linux_kernel", "4.14", "2017-11-12"),
    ("linux_kernel", "4.19", "2018-10-22"),
    ("linux_kernel", "5.4", "2019-11-24"),
    ("linux_kernel", "5.10", "2020-12-13"),
    ("linux_kernel", "5.15", "2021-10-31"),
    ("linux_kernel", "6.1", "2022-12-11"),
    ("linux_kernel", "6.6", "2023-10-29"),
];

/// A dated piece of firmware evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareDate {
    /// Unix seconds (midnight UTC of the date).
    pub at: i64,
    /// What the date comes from, e.g. `build date 2015-12-24 in telnet banner "BusyBox …"`.
    pub evidence: String,
    /// A build stamp the device printed (else a component's release date).
    pub build_stamp: bool,
}

/// The newest date in the evidence that is not after `now` (Unix seconds): a date after the
/// reference time is no build date.
pub fn firmware_date(
    signals: &[Signal],
    cpes: &[CpeCandidate],
    now: Option<i64>,
) -> Option<FirmwareDate> {
    let mut best: Option<FirmwareDate> = None;
    let mut consider = |at: i64, evidence: String, build_stamp: bool| {
        if now.is_some_and(|n| at > n) {
            return;
        }
        if best.as_ref().is_none_or(|b| at > b.at) {
            best = Some(FirmwareDate {
                at,
                evidence,
                build_stamp,
            });
        }
    };
    for s in signals {
        // A client's user agent names the software that talks, not the firmware's build.
        if s.kind == SignalKind::HttpUserAgent || s.text.len() > 1024 {
            continue;
        }
        if let Some(at) = dates_in(&s.text).into_iter().max() {
            consider(
                at,
                format!(
                    "build date {} in {} \"{}\"",
                    civil_date(at),
                    s.kind.label(),
                    clip(&s.text, 80)
                ),
                true,
            );
        }
    }
    for c in cpes {
        let (Some(product), Some(version)) = (
            c.parsed.product().as_literal(),
            c.parsed.version().as_literal(),
        ) else {
            continue;
        };
        if let Some((_, v, d)) = RELEASES
            .iter()
            .find(|(p, v, _)| *p == product && *v == version)
            && let Some(at) = parse_iso(d)
        {
            consider(
                at,
                format!(
                    "{product} {v} (released {d}) is its newest dated component, from {}",
                    c.evidence
                ),
                false,
            );
        }
    }
    best
}

fn clip(s: &str, n: usize) -> String {
    let mut out: String = s
        .chars()
        .take(n)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().count() > n {
        out.push('…');
    }
    out.trim().to_string()
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// Dates written in `text`: `YYYY-MM-DD` / `YYYY/MM/DD`, `Mon D[D] [HH:MM:SS [TZ]] YYYY`,
/// `D[D] Mon YYYY`, and `build YYYYMMDD` / `build YYMMDD`. Implausible dates are skipped.
pub fn dates_in(text: &str) -> Vec<i64> {
    let lower = text.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | ',' | '[' | ']' | '"'))
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        // ISO dates, possibly glued to a time ("2015-12-24t17:52").
        let head = w.get(..10).unwrap_or(w);
        if head.len() == 10 {
            let b = head.as_bytes();
            if (b[4] == b'-' && b[7] == b'-') || (b[4] == b'/' && b[7] == b'/') {
                let y = num(&head[..4]);
                let m = num(&head[5..7]);
                let d = num(&head[8..10]);
                if let (Some(y), Some(m), Some(d)) = (y, m, d)
                    && let Some(t) = days(y, m, d)
                {
                    out.push(t);
                }
            }
        }
        // "Mar 4 12:00:00 CST 2013", "Mar 4 2013".
        if let Some(m) = month(w)
            && let Some(d) = words.get(i + 1).and_then(|x| num(x))
        {
            let year = words
                .iter()
                .skip(i + 2)
                .take(3)
                .filter_map(|x| num(x))
                .find(|y| *y >= 1000);
            if let Some(y) = year
                && let Some(t) = days(y, m, d)
            {
                out.push(t);
            }
        }
        // "4 Mar 2013".
        if let Some(d) = num(w)
            && let Some(m) = words.get(i + 1).and_then(|x| month(x))
            && let Some(y) = words.get(i + 2).and_then(|x| num(x))
            && let Some(t) = days(y, m, d)
        {
            out.push(t);
        }
        // "Build 20151113", "build:151113", "b20151113".
        let compact = w
            .strip_prefix("build")
            .map(|r| r.trim_start_matches([':', '_', '-', '.']))
            .filter(|r| !r.is_empty())
            .or_else(|| {
                (*w == "build" || *w == "build:")
                    .then(|| words.get(i + 1).copied())
                    .flatten()
            });
        if let Some(c) = compact {
            let digits: &str = c
                .split(|ch: char| !ch.is_ascii_digit())
                .next()
                .unwrap_or("");
            let ymd = match digits.len() {
                8 => (num(&digits[..4]), num(&digits[4..6]), num(&digits[6..8])),
                6 => (
                    num(&digits[..2]).map(|y| y + 2000),
                    num(&digits[2..4]),
                    num(&digits[4..6]),
                ),
                _ => (None, None, None),
            };
            if let (Some(y), Some(m), Some(d)) = ymd
                && let Some(t) = days(y, m, d)
            {
                out.push(t);
            }
        }
    }
    out
}

fn num(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn month(w: &str) -> Option<u32> {
    let w = w.trim_end_matches('.');
    if w.len() < 3 || w.len() > 9 {
        return None;
    }
    let p = w.get(..3)?;
    let i = MONTHS.iter().position(|m| *m == p)?;
    // "march", "mar" – but not "market".
    let full = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ][i];
    (w.len() == 3 || full == w || (w.len() == 4 && p == "sep" && w == "sept"))
        .then_some(i as u32 + 1)
}

/// Unix seconds of a plausible firmware date (1995–2100), else None.
fn days(y: u32, m: u32, d: u32) -> Option<i64> {
    if !(1995..=2100).contains(&y) || !(1..=12).contains(&m) || d == 0 {
        return None;
    }
    let leap = (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    let dim = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ][m as usize - 1];
    if d > dim {
        return None;
    }
    // Howard Hinnant's days-from-civil.
    let (y, m, d) = (i64::from(y), i64::from(m), i64::from(d));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * 86_400)
}

/// Unix seconds of `YYYY-MM-DD`.
pub fn parse_iso(s: &str) -> Option<i64> {
    let mut it = s.split('-');
    let y = num(it.next()?)?;
    let m = num(it.next()?)?;
    let d = num(it.next()?)?;
    days(y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::candidates;

    fn iso(t: i64) -> String {
        civil_date(t)
    }

    #[test]
    fn dates_in_banners() {
        let cases: &[(&str, &[&str])] = &[
            (
                "BusyBox v1.19.3 (2015-12-24 17:52:11 CST) built-in shell (ash)",
                &["2015-12-24"],
            ),
            (
                "Linux version 2.6.21 (root@build) #1 Mon Mar 4 12:00:00 CST 2013",
                &["2013-03-04"],
            ),
            ("fw=1.0.8 Build 151113 Rel.71616", &["2015-11-13"]),
            ("Build:20200131", &["2020-01-31"]),
            ("released 29 Feb 2016", &["2016-02-29"]),
            ("2015/02/30 is no date", &[]),
            ("Linux/3.14.0 UPnP/1.0 IpBridge/1.26.0", &[]),
            ("udhcp 1.21.1--LSDK-10.2-00082-4", &[]),
            ("market 12 2015", &[]),
            ("build 99999999", &[]),
        ];
        for (text, want) in cases {
            let got: Vec<String> = dates_in(text).into_iter().map(iso).collect();
            assert_eq!(&got, want, "{text}");
        }
        assert_eq!(parse_iso("1995-01-01"), Some(788_918_400));
        assert_eq!(parse_iso("1970-01-01"), None);
        assert_eq!(parse_iso("2000-02-29"), Some(951_782_400));
    }

    #[test]
    fn newest_date_wins_and_future_dates_are_ignored() {
        let sigs = vec![
            Signal::new(
                SignalKind::TelnetBanner,
                "BusyBox v1.22.1 (2013-05-01 10:00:00 UTC) built-in shell",
            ),
            Signal::new(SignalKind::HttpServer, "lighttpd/1.4.35"),
        ];
        let c = candidates(&sigs, None, None, 0.0);
        let now = parse_iso("2020-01-01");
        let f = firmware_date(&sigs, &c, now).unwrap();
        // lighttpd 1.4.35 (2014-03-12) is newer than the build stamp and BusyBox 1.22.1.
        assert_eq!(iso(f.at), "2014-03-12", "{f:?}");
        assert!(f.evidence.contains("lighttpd 1.4.35"), "{f:?}");
        // With a reference time before all of them, nothing qualifies.
        assert!(firmware_date(&sigs, &c, parse_iso("2010-01-01")).is_none());
        let ua = [Signal::new(SignalKind::HttpUserAgent, "Agent (2019-01-01)")];
        assert!(firmware_date(&ua, &[], None).is_none());
    }

    proptest::proptest! {
        #[test]
        fn dates_in_never_panics(s in "\\PC{0,200}") {
            for t in dates_in(&s) {
                proptest::prop_assert!(t >= parse_iso("1995-01-01").unwrap_or(0));
            }
        }
    }
}
