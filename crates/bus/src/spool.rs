//! A bounded, append-only disk queue for events the bus has not acknowledged.
//!
//! Layout: `DIR/<segment number, 20 digits>.spool` files of records, one per line
//! (`subject TAB event id TAB publish ns TAB payload`), and `DIR/cursor` (`segment offset`: the
//! first record not yet acknowledged). Records are read back in the order they were appended;
//! fully acknowledged segments are deleted, and the cursor survives a restart. A torn last line
//! (a crash mid-write) is cut off when the spool is opened.
//!
//! When the spool would exceed its byte cap, [`FullPolicy`] decides: `Reject` refuses the new
//! event (the caller counts it as dropped), `DropOldest` deletes the oldest segment(s).

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::{BusError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FullPolicy {
    /// Keep what is queued and refuse new events (default: the oldest evidence is kept).
    #[default]
    Reject,
    /// Delete the oldest segment(s) to make room for new events.
    DropOldest,
}

#[derive(Debug, Clone)]
pub struct SpoolConfig {
    pub dir: PathBuf,
    pub max_bytes: u64,
    pub segment_bytes: u64,
    pub policy: FullPolicy,
}

impl SpoolConfig {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        SpoolConfig {
            dir: dir.into(),
            max_bytes: 256 << 20,
            segment_bytes: 8 << 20,
            policy: FullPolicy::Reject,
        }
    }
}

/// One queued event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub subject: String,
    pub id: String,
    pub published_ns: u64,
    pub payload: String,
}

/// A position in the spool: segment number and byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub seg: u64,
    pub off: u64,
}

pub struct Spool {
    cfg: SpoolConfig,
    /// Segments on disk, oldest first, with their lengths.
    segments: VecDeque<(u64, u64)>,
    writer: Option<BufWriter<File>>,
    cursor: Pos,
    pending: u64,
    dropped: u64,
    corrupt: u64,
}

fn seg_path(dir: &Path, seg: u64) -> PathBuf {
    dir.join(format!("{seg:020}.spool"))
}

impl Spool {
    pub fn open(cfg: SpoolConfig) -> Result<Spool> {
        let dir = cfg.dir.clone();
        let io = |e: std::io::Error| BusError::Spool {
            path: dir.clone(),
            why: e.to_string(),
        };
        fs::create_dir_all(&dir).map_err(io)?;
        let mut segs: Vec<u64> = Vec::new();
        for ent in fs::read_dir(&dir).map_err(io)? {
            let name = ent.map_err(io)?.file_name();
            let name = name.to_string_lossy();
            if let Some(n) = name.strip_suffix(".spool").and_then(|n| n.parse().ok()) {
                segs.push(n);
            }
        }
        segs.sort_unstable();
        let cursor = match fs::read_to_string(dir.join("cursor")) {
            Ok(t) => parse_cursor(&t).ok_or_else(|| BusError::Spool {
                path: dir.join("cursor"),
                why: format!("unreadable cursor {:?}", t.trim()),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Pos {
                seg: segs.first().copied().unwrap_or(0),
                off: 0,
            },
            Err(e) => return Err(io(e)),
        };
        let mut segments = VecDeque::new();
        for &s in &segs {
            let p = seg_path(&dir, s);
            if s < cursor.seg {
                fs::remove_file(&p).map_err(io)?;
                continue;
            }
            segments.push_back((s, fs::metadata(&p).map_err(io)?.len()));
        }
        // Cut a torn final line.
        if let Some((s, len)) = segments.back_mut() {
            let p = seg_path(&dir, *s);
            let data = fs::read(&p).map_err(io)?;
            let keep = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) as u64;
            if keep < *len {
                OpenOptions::new()
                    .write(true)
                    .open(&p)
                    .and_then(|f| f.set_len(keep))
                    .map_err(io)?;
                tracing::warn!("spool {}: cut a torn record at byte {keep}", p.display());
                *len = keep;
            }
        }
        let mut sp = Spool {
            cfg,
            segments,
            writer: None,
            cursor,
            pending: 0,
            dropped: 0,
            corrupt: 0,
        };
        sp.pending = sp.count_lines_from(cursor)?;
        Ok(sp)
    }

    fn io_err(&self, e: std::io::Error) -> BusError {
        BusError::Spool {
            path: self.cfg.dir.clone(),
            why: e.to_string(),
        }
    }

    fn count_lines_from(&self, from: Pos) -> Result<u64> {
        let mut n = 0;
        for &(s, _) in &self.segments {
            if s < from.seg {
                continue;
            }
            let data = fs::read(seg_path(&self.cfg.dir, s)).map_err(|e| self.io_err(e))?;
            let start = if s == from.seg { from.off as usize } else { 0 };
            n += data
                .get(start..)
                .map_or(0, |d| d.iter().filter(|&&b| b == b'\n').count()) as u64;
        }
        Ok(n)
    }

    /// Records queued and not yet acknowledged.
    pub fn pending(&self) -> u64 {
        self.pending
    }

    pub fn is_empty(&self) -> bool {
        self.pending == 0
    }

    /// Bytes on disk.
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.1).sum()
    }

    /// Events refused or deleted because the spool was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Unreadable records skipped while reading.
    pub fn corrupt(&self) -> u64 {
        self.corrupt
    }

    pub fn dir(&self) -> &Path {
        &self.cfg.dir
    }

    /// Appends one record (buffered; [`Spool::flush`] hands it to the OS).
    pub fn append(&mut self, r: &Record) -> Result<()> {
        for (what, s) in [("subject", &r.subject), ("event id", &r.id)] {
            if s.contains(['\t', '\n', '\r']) {
                return Err(BusError::Invalid {
                    what,
                    why: format!("{s:?} contains a tab or line break"),
                });
            }
        }
        if r.payload.contains(['\n', '\r']) {
            return Err(BusError::Invalid {
                what: "event",
                why: "an NDJSON event must be one line".into(),
            });
        }
        let line = format!(
            "{}\t{}\t{}\t{}\n",
            r.subject, r.id, r.published_ns, r.payload
        );
        let len = line.len() as u64;
        while self.bytes() + len > self.cfg.max_bytes {
            match self.cfg.policy {
                FullPolicy::Reject => {
                    self.dropped += 1;
                    return Err(BusError::SpoolFull {
                        cap: self.cfg.max_bytes,
                    });
                }
                FullPolicy::DropOldest => {
                    if self.segments.len() <= 1 {
                        if self.segments.back().is_some_and(|s| s.1 > 0) {
                            self.rotate()?;
                        } else {
                            // A single record larger than the cap.
                            self.dropped += 1;
                            return Err(BusError::SpoolFull {
                                cap: self.cfg.max_bytes,
                            });
                        }
                    }
                    self.drop_oldest()?;
                }
            }
        }
        let need_rotate = match self.segments.back() {
            None => true,
            Some(&(_, l)) => l > 0 && l + len > self.cfg.segment_bytes,
        };
        if need_rotate || self.writer.is_none() {
            if need_rotate {
                self.rotate()?;
            } else {
                self.open_writer()?;
            }
        }
        let w = self.writer.as_mut().ok_or_else(|| BusError::Spool {
            path: self.cfg.dir.clone(),
            why: "no open segment".into(),
        })?;
        if let Err(e) = w.write_all(line.as_bytes()) {
            return Err(self.io_err(e));
        }
        if let Some(b) = self.segments.back_mut() {
            b.1 += len;
        }
        self.pending += 1;
        Ok(())
    }

    fn open_writer(&mut self) -> Result<()> {
        let Some(&(s, _)) = self.segments.back() else {
            return self.rotate();
        };
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(seg_path(&self.cfg.dir, s))
            .map_err(|e| self.io_err(e))?;
        self.writer = Some(BufWriter::with_capacity(64 << 10, f));
        Ok(())
    }

    fn rotate(&mut self) -> Result<()> {
        self.flush()?;
        let next = self.segments.back().map_or(self.cursor.seg, |s| s.0 + 1);
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(seg_path(&self.cfg.dir, next))
            .map_err(|e| self.io_err(e))?;
        self.writer = Some(BufWriter::with_capacity(64 << 10, f));
        self.segments.push_back((next, 0));
        if self.segments.len() == 1 {
            self.cursor = Pos { seg: next, off: 0 };
        }
        Ok(())
    }

    fn drop_oldest(&mut self) -> Result<()> {
        let Some((s, _)) = self.segments.pop_front() else {
            return Ok(());
        };
        let from = if s == self.cursor.seg {
            Pos {
                seg: s,
                off: self.cursor.off,
            }
        } else {
            Pos { seg: s, off: 0 }
        };
        let p = seg_path(&self.cfg.dir, s);
        let data = fs::read(&p).map_err(|e| self.io_err(e))?;
        let lost = data
            .get(from.off as usize..)
            .map_or(0, |d| d.iter().filter(|&&b| b == b'\n').count()) as u64;
        fs::remove_file(&p).map_err(|e| self.io_err(e))?;
        tracing::warn!("spool full: deleted {lost} queued events ({})", p.display());
        self.dropped += lost;
        self.pending = self.pending.saturating_sub(lost);
        let next = self.segments.front().map_or(s + 1, |f| f.0);
        self.cursor = Pos { seg: next, off: 0 };
        self.write_cursor()
    }

    pub fn flush(&mut self) -> Result<()> {
        if let Some(w) = self.writer.as_mut()
            && let Err(e) = w.flush()
        {
            return Err(self.io_err(e));
        }
        Ok(())
    }

    /// The first unacknowledged position.
    pub fn cursor(&self) -> Pos {
        self.cursor
    }

    /// Reads up to `max` records starting at `from`, each with the position after it.
    pub fn read(&mut self, from: Pos, max: usize) -> Result<Vec<(Record, Pos)>> {
        self.flush()?;
        let mut out = Vec::new();
        let mut pos = from;
        // Unreadable records before the first good one are passed over for good.
        let mut leading_corrupt: Option<(Pos, u64)> = None;
        let segs: Vec<(u64, u64)> = self.segments.iter().copied().collect();
        for (s, len) in segs {
            if s < pos.seg || out.len() >= max {
                continue;
            }
            if s > pos.seg {
                pos = Pos { seg: s, off: 0 };
            }
            if pos.off >= len {
                continue;
            }
            let mut f = File::open(seg_path(&self.cfg.dir, s)).map_err(|e| self.io_err(e))?;
            f.seek(SeekFrom::Start(pos.off))
                .map_err(|e| self.io_err(e))?;
            let mut rd = BufReader::with_capacity(256 << 10, f);
            let mut line = Vec::new();
            while out.len() < max && pos.off < len {
                line.clear();
                let n = rd
                    .read_until(b'\n', &mut line)
                    .map_err(|e| self.io_err(e))?;
                if n == 0 || line.last() != Some(&b'\n') {
                    break;
                }
                pos.off += n as u64;
                match std::str::from_utf8(&line).ok().and_then(parse_record) {
                    Some(r) => out.push((r, pos)),
                    None => {
                        self.corrupt += 1;
                        if out.is_empty() {
                            let k = leading_corrupt.map_or(0, |c| c.1);
                            leading_corrupt = Some((pos, k + 1));
                        }
                        tracing::warn!(
                            "spool segment {s}: skipping an unreadable record ending at byte {}",
                            pos.off
                        );
                    }
                }
            }
        }
        if let Some((p, k)) = leading_corrupt
            && from == self.cursor
        {
            self.commit(p, k)?;
        }
        Ok(out)
    }

    /// Marks everything before `upto` acknowledged (`records` of them since the cursor):
    /// deletes finished segments, and the whole spool once drained.
    pub fn commit(&mut self, upto: Pos, records: u64) -> Result<()> {
        if upto <= self.cursor {
            return Ok(());
        }
        self.pending = self.pending.saturating_sub(records);
        self.cursor = upto;
        while self.segments.len() > 1 && self.segments.front().is_some_and(|s| s.0 < upto.seg) {
            if let Some((s, _)) = self.segments.pop_front() {
                let _ = fs::remove_file(seg_path(&self.cfg.dir, s));
            }
        }
        let drained = self.segments.len() == 1
            && self
                .segments
                .back()
                .is_some_and(|&(s, l)| s == upto.seg && l == upto.off);
        if drained {
            self.writer = None;
            if let Some((s, _)) = self.segments.pop_front() {
                fs::remove_file(seg_path(&self.cfg.dir, s)).map_err(|e| self.io_err(e))?;
            }
            let _ = fs::remove_file(self.cfg.dir.join("cursor"));
            self.pending = 0;
            self.cursor = Pos {
                seg: upto.seg + 1,
                off: 0,
            };
            return Ok(());
        }
        self.write_cursor()
    }

    fn write_cursor(&self) -> Result<()> {
        let tmp = self.cfg.dir.join("cursor.tmp");
        fs::write(&tmp, format!("{} {}\n", self.cursor.seg, self.cursor.off))
            .and_then(|_| fs::rename(&tmp, self.cfg.dir.join("cursor")))
            .map_err(|e| self.io_err(e))
    }
}

fn parse_cursor(t: &str) -> Option<Pos> {
    let mut it = t.split_whitespace();
    let seg = it.next()?.parse().ok()?;
    let off = it.next()?.parse().ok()?;
    Some(Pos { seg, off })
}

fn parse_record(line: &str) -> Option<Record> {
    let line = line.strip_suffix('\n')?;
    let mut it = line.splitn(4, '\t');
    let subject = it.next()?.to_owned();
    let id = it.next()?.to_owned();
    let published_ns = it.next()?.parse().ok()?;
    let payload = it.next()?.to_owned();
    Some(Record {
        subject,
        id,
        published_ns,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: u64) -> Record {
        Record {
            subject: "palisade.events.s.a".into(),
            id: format!("id-{i}"),
            published_ns: i,
            payload: format!(
                "{{\"type\":\"alert\",\"n\":{i},\"pad\":\"{}\"}}",
                "x".repeat(40)
            ),
        }
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("palisade-spool-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn fifo_across_segments_and_restart() {
        let dir = tmp("fifo");
        let mut cfg = SpoolConfig::new(&dir);
        cfg.segment_bytes = 500;
        let mut sp = Spool::open(cfg.clone()).unwrap();
        for i in 0..50 {
            sp.append(&rec(i)).unwrap();
        }
        assert_eq!(sp.pending(), 50);
        let got = sp.read(sp.cursor(), 20).unwrap();
        assert_eq!(got.len(), 20);
        assert!(
            got.iter()
                .enumerate()
                .all(|(i, (r, _))| r.id == format!("id-{i}"))
        );
        sp.commit(got[19].1, 20).unwrap();
        sp.flush().unwrap();
        drop(sp);
        // Restart: the 30 unacknowledged records come back, in order.
        let mut sp = Spool::open(cfg.clone()).unwrap();
        assert_eq!(sp.pending(), 30);
        sp.append(&rec(50)).unwrap();
        let got = sp.read(sp.cursor(), 1000).unwrap();
        let ids: Vec<u64> = got.iter().map(|(r, _)| r.published_ns).collect();
        assert_eq!(ids, (20..51).collect::<Vec<_>>());
        let end = got.last().unwrap().1;
        sp.commit(end, 31).unwrap();
        assert!(sp.is_empty());
        assert_eq!(sp.bytes(), 0);
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            0,
            "a drained spool leaves no files"
        );
        // Usable again after draining.
        sp.append(&rec(99)).unwrap();
        let got = sp.read(sp.cursor(), 10).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, rec(99));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn cap_policies() {
        let dir = tmp("cap");
        let mut cfg = SpoolConfig::new(&dir);
        cfg.segment_bytes = 400;
        cfg.max_bytes = 1000;
        let mut sp = Spool::open(cfg.clone()).unwrap();
        let mut ok = 0;
        for i in 0..100 {
            if sp.append(&rec(i)).is_ok() {
                ok += 1;
            }
        }
        assert!(ok > 5 && ok < 20, "{ok}");
        assert_eq!(sp.dropped(), 100 - ok);
        assert!(sp.bytes() <= 1000);
        // Reject keeps the oldest.
        let got = sp.read(sp.cursor(), 1000).unwrap();
        assert_eq!(got[0].0.id, "id-0");
        fs::remove_dir_all(&dir).unwrap();

        cfg.policy = FullPolicy::DropOldest;
        let mut sp = Spool::open(cfg).unwrap();
        for i in 0..100 {
            sp.append(&rec(i)).unwrap();
        }
        assert!(sp.bytes() <= 1000);
        let got = sp.read(sp.cursor(), 1000).unwrap();
        assert_eq!(got.last().unwrap().0.id, "id-99", "the newest are kept");
        assert_eq!(sp.dropped() + got.len() as u64, 100);
        assert_eq!(sp.pending(), got.len() as u64);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn torn_tail_is_cut() {
        let dir = tmp("torn");
        let cfg = SpoolConfig::new(&dir);
        let mut sp = Spool::open(cfg.clone()).unwrap();
        sp.append(&rec(1)).unwrap();
        sp.flush().unwrap();
        drop(sp);
        let seg = fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(b"palisade.events.s.a\tid-2\t2\t{\"ty").unwrap();
        drop(f);
        let mut sp = Spool::open(cfg).unwrap();
        assert_eq!(sp.pending(), 1);
        sp.append(&rec(3)).unwrap();
        let got = sp.read(sp.cursor(), 10).unwrap();
        let ids: Vec<&str> = got.iter().map(|(r, _)| r.id.as_str()).collect();
        assert_eq!(ids, ["id-1", "id-3"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unreadable_records_are_skipped_and_drained() {
        let dir = tmp("corrupt");
        let cfg = SpoolConfig::new(&dir);
        let mut sp = Spool::open(cfg.clone()).unwrap();
        sp.append(&rec(1)).unwrap();
        sp.flush().unwrap();
        drop(sp);
        let seg = fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(b"\xff\xfe not a record\n").unwrap();
        drop(f);
        let mut sp = Spool::open(cfg).unwrap();
        assert_eq!(sp.pending(), 2);
        let got = sp.read(sp.cursor(), 10).unwrap();
        assert_eq!(got.len(), 1);
        sp.commit(got[0].1, 1).unwrap();
        // Only the unreadable record is left: reading passes over it and the spool drains.
        assert!(sp.read(sp.cursor(), 10).unwrap().is_empty());
        assert!(sp.is_empty());
        assert_eq!(sp.corrupt(), 2);
        fs::remove_dir_all(&dir).unwrap();
    }
}
