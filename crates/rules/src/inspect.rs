//! Content inspection of one buffer: Suricata's relative-match semantics with bounded
//! backtracking.

use crate::parse::{ByteOp, Cond, Content};

/// Work budget per buffer inspection (candidate positions tried), against hostile rules.
const BUDGET: u32 = 4096;
/// Occurrences of one content tried before giving up on backtracking.
const MAX_OCCURRENCES: u32 = 256;

/// Inspects `buf` with `conds`; on a match returns the byte span covered by positive matches.
pub fn inspect(conds: &[Cond], buf: &[u8]) -> Option<(usize, usize)> {
    let mut budget = BUDGET;
    step(conds, buf, 0, &mut budget, (usize::MAX, 0))
}

fn widen(span: (usize, usize), s: usize, e: usize) -> (usize, usize) {
    (span.0.min(s), span.1.max(e))
}

fn step(
    conds: &[Cond],
    buf: &[u8],
    prev_end: usize,
    budget: &mut u32,
    span: (usize, usize),
) -> Option<(usize, usize)> {
    let Some((first, rest)) = conds.split_first() else {
        return Some(span);
    };
    if *budget == 0 {
        return None;
    }
    *budget -= 1;
    let len = buf.len();
    match first {
        Cond::Content(c) => {
            let (lo, hi) = window(c, prev_end, len);
            if c.negated {
                let found = (lo < hi) && find(buf, lo, hi, c).is_some();
                return if found {
                    None
                } else {
                    step(rest, buf, prev_end, budget, span)
                };
            }
            let mut from = lo;
            let mut tries = 0;
            while from < hi {
                let s = find(buf, from, hi, c)?;
                let e = s + c.pattern.len();
                if !c.endswith || e == len {
                    if let Some(sp) = step(rest, buf, e, budget, widen(span, s, e)) {
                        return Some(sp);
                    }
                    // Only a relative successor can profit from another occurrence.
                    if !next_is_relative(rest) {
                        return None;
                    }
                }
                tries += 1;
                if tries >= MAX_OCCURRENCES || *budget == 0 {
                    return None;
                }
                from = s + 1;
            }
            None
        }
        Cond::Pcre(p) => {
            let base = if p.relative { prev_end.min(len) } else { 0 };
            let hay = buf.get(base..).unwrap_or(&[]);
            if p.negated {
                return if p.re.is_match(hay) {
                    None
                } else {
                    step(rest, buf, prev_end, budget, span)
                };
            }
            let mut tries = 0;
            for m in p.re.find_iter(hay) {
                let (s, mut e) = (base + m.start(), base + m.end());
                // A final `$` is zero-width in PCRE: the match ends before the newline.
                if let Some(g) = p.eol_group
                    && m.end() == hay.len()
                    && hay.last() == Some(&b'\n')
                    && p.re
                        .captures_at(hay, m.start())
                        .and_then(|c| c.get(g))
                        .is_some_and(|nl| nl.len() == 1)
                {
                    e -= 1;
                }
                if let Some(sp) = step(rest, buf, e, budget, widen(span, s, e)) {
                    return Some(sp);
                }
                tries += 1;
                if !next_is_relative(rest) || tries >= MAX_OCCURRENCES || *budget == 0 {
                    return None;
                }
            }
            None
        }
        Cond::Bsize(cmp) => {
            if cmp.test(len as u64) {
                step(rest, buf, prev_end, budget, span)
            } else {
                None
            }
        }
        Cond::Isdataat {
            n,
            relative,
            negated,
        } => {
            let at = if *relative { prev_end } else { 0 } + *n as usize;
            if (at < len) != *negated {
                step(rest, buf, prev_end, budget, span)
            } else {
                None
            }
        }
        Cond::ByteTest(t) => {
            let base = if t.relative { prev_end as i64 } else { 0 } + t.offset as i64;
            let v = read_uint(buf, base, t.nbytes, t.little)?;
            let ok = match t.op {
                ByteOp::Lt => v < t.value,
                ByteOp::Gt => v > t.value,
                ByteOp::Eq => v == t.value,
                ByteOp::Le => v <= t.value,
                ByteOp::Ge => v >= t.value,
                ByteOp::And => v & t.value != 0,
                ByteOp::Or => v ^ t.value != 0,
            };
            if ok != t.negated {
                step(rest, buf, prev_end, budget, span)
            } else {
                None
            }
        }
        Cond::ByteJump(j) => {
            let base = if j.relative { prev_end as i64 } else { 0 } + j.offset as i64;
            let v = read_uint(buf, base, j.nbytes, j.little)?;
            let from = if j.from_beginning {
                0
            } else {
                base + j.nbytes as i64
            };
            let to = from
                .checked_add((v as i64).checked_mul(j.multiplier as i64)?)?
                .checked_add(j.post_offset as i64)?;
            if to < 0 || to as u64 > len as u64 {
                return None;
            }
            step(rest, buf, to as usize, budget, span)
        }
    }
}

fn next_is_relative(rest: &[Cond]) -> bool {
    rest.iter().any(|c| match c {
        Cond::Content(c) => c.is_relative(),
        Cond::Pcre(p) => p.relative,
        Cond::Isdataat { relative, .. } => *relative,
        Cond::ByteTest(t) => t.relative,
        Cond::ByteJump(j) => j.relative,
        Cond::Bsize(_) => false,
    })
}

/// The search window `[lo, hi)` for the *start..end* of a content match.
fn window(c: &Content, prev_end: usize, len: usize) -> (usize, usize) {
    let plen = c.pattern.len() as i64;
    let (mut lo, mut hi): (i64, i64);
    if c.is_relative() {
        let d = c.distance.unwrap_or(0) as i64;
        lo = prev_end as i64 + d;
        hi = match c.within {
            Some(w) => prev_end as i64 + d + w as i64,
            None => len as i64,
        };
        if c.startswith {
            hi = lo + plen;
        }
    } else {
        lo = c.offset.unwrap_or(0) as i64;
        hi = match c.depth {
            Some(d) => lo + d as i64,
            None => len as i64,
        };
        if c.startswith {
            lo = 0;
            hi = plen;
        }
    }
    lo = lo.clamp(0, len as i64);
    hi = hi.clamp(lo, len as i64);
    (lo as usize, hi as usize)
}

/// First occurrence starting at or after `from` and ending at or before `hi`.
fn find(buf: &[u8], from: usize, hi: usize, c: &Content) -> Option<usize> {
    let p = &c.pattern;
    let hay = buf.get(from..hi)?;
    if p.len() > hay.len() {
        return None;
    }
    let first = p.first()?;
    for (i, w) in hay.windows(p.len()).enumerate() {
        let f = w.first()?;
        let hit = if c.nocase {
            f.eq_ignore_ascii_case(first) && w.eq_ignore_ascii_case(p)
        } else {
            f == first && w == p.as_slice()
        };
        if hit {
            return Some(from + i);
        }
    }
    None
}

fn read_uint(buf: &[u8], at: i64, n: u8, little: bool) -> Option<u64> {
    if at < 0 {
        return None;
    }
    let at = at as usize;
    let b = buf.get(at..at.checked_add(n as usize)?)?;
    let mut v = 0u64;
    if little {
        for x in b.iter().rev() {
            v = v << 8 | *x as u64;
        }
    } else {
        for x in b {
            v = v << 8 | *x as u64;
        }
    }
    Some(v)
}
