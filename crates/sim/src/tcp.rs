//! Hosts, the packet timeline, and a TCP connection model with consistent seq/ack numbers.

use crate::build::{self, Ip4, Tcp, TcpOpt, flags};
use crate::rng::Rng;

/// The TCP/IP stack family of a host: drives TTL, SYN options, windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Os {
    /// Linux (embedded or server): MSS, SACK, TS, WS 7.
    Linux,
    /// Windows 10: MSS, WS 8, SACK; no timestamps.
    Windows,
    /// lwIP on a microcontroller: MSS only, small window.
    Lwip,
}

/// An endpoint as seen on the LAN: `mac` is its own MAC for local hosts and the router's MAC
/// for anything on the internet (that is where its frames come from and go to).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Host {
    pub mac: [u8; 6],
    pub ip: [u8; 4],
    pub ttl: u8,
    pub os: Os,
}

/// All frames of the capture, with their timestamps (microseconds since the Unix epoch).
pub(crate) struct Timeline {
    pub recs: Vec<(u64, u64, Vec<u8>)>,
    seq: u64,
    pub end: u64,
}

impl Timeline {
    pub(crate) fn new(end: u64) -> Self {
        Timeline {
            recs: Vec::with_capacity(32_768),
            seq: 0,
            end,
        }
    }

    pub(crate) fn push(&mut self, t: u64, frame: Vec<u8>) {
        if t < self.end {
            self.recs.push((t, self.seq, frame));
            self.seq += 1;
        }
    }

    pub(crate) fn sort(&mut self) {
        self.recs.sort_by_key(|r| (r.0, r.1));
    }
}

struct Side {
    h: Host,
    port: u16,
    seq: u32,
    ts_base: u32,
    ip_id: u16,
    delay: u64,
}

/// One TCP connection between a client and a server, emitting frames into a [`Timeline`].
pub(crate) struct Conn {
    c: Side,
    s: Side,
    ts_ok: bool,
    ws_ok: bool,
    pub t: u64,
    rng: Rng,
    open: bool,
}

fn syn_options(
    os: Os,
    tsval: u32,
    tsecr: u32,
    peer: Option<(bool, bool)>,
) -> (Vec<u8>, bool, bool) {
    // returns (encoded options, offers timestamps, offers window scaling)
    let (want_ts, want_ws) = match (os, peer) {
        (Os::Linux, None) => (true, true),
        (Os::Linux, Some((ts, ws))) => (ts, ws),
        (Os::Windows, None) => (false, true),
        (Os::Windows, Some((_, ws))) => (false, ws),
        (Os::Lwip, _) => (false, false),
    };
    let mut o = vec![TcpOpt::Mss(1460)];
    match os {
        Os::Linux => {
            if want_ts {
                o.extend_from_slice(&[TcpOpt::SackPerm, TcpOpt::Ts(tsval, tsecr)]);
            } else {
                o.extend_from_slice(&[TcpOpt::Nop, TcpOpt::Nop, TcpOpt::SackPerm]);
            }
            if want_ws {
                o.extend_from_slice(&[TcpOpt::Nop, TcpOpt::Ws(7)]);
            }
        }
        Os::Windows => {
            if want_ws {
                o.extend_from_slice(&[TcpOpt::Nop, TcpOpt::Ws(8)]);
            }
            o.extend_from_slice(&[TcpOpt::Nop, TcpOpt::Nop, TcpOpt::SackPerm]);
        }
        Os::Lwip => {}
    }
    (build::tcp_options(&o), want_ts, want_ws)
}

fn syn_window(os: Os) -> u16 {
    match os {
        Os::Linux | Os::Windows => 64240,
        Os::Lwip => 5840,
    }
}

impl Conn {
    fn side(&self, client: bool) -> &Side {
        if client { &self.c } else { &self.s }
    }

    fn window(&self, client: bool) -> u16 {
        let os = self.side(client).h.os;
        match (os, self.ws_ok) {
            (Os::Linux, true) => 502,
            (Os::Windows, true) => 513,
            (Os::Lwip, _) => 5840,
            (_, false) => 64240,
        }
    }

    fn tsval(&self, client: bool, t: u64) -> u32 {
        self.side(client).ts_base.wrapping_add((t / 1000) as u32)
    }

    /// Emits one segment from one side with explicit seq/ack.
    #[allow(clippy::too_many_arguments)]
    fn raw(
        &mut self,
        tl: &mut Timeline,
        client: bool,
        fl: u8,
        seq: u32,
        ack: u32,
        payload: &[u8],
        t: u64,
    ) {
        let opts = if self.ts_ok {
            let other_t = t.saturating_sub(self.side(!client).delay);
            build::tcp_options(&[
                TcpOpt::Nop,
                TcpOpt::Nop,
                TcpOpt::Ts(self.tsval(client, t), self.tsval(!client, other_t)),
            ])
        } else {
            Vec::new()
        };
        let window = self.window(client);
        let (src, dst) = if client {
            (&self.c, &self.s)
        } else {
            (&self.s, &self.c)
        };
        let ip = Ip4 {
            src: src.h.ip,
            dst: dst.h.ip,
            ttl: src.h.ttl,
            id: src.ip_id,
            df: true,
            tos: 0,
        };
        let seg = Tcp {
            sport: src.port,
            dport: dst.port,
            seq,
            ack,
            flags: fl,
            window,
            options: &opts,
            payload,
        };
        let f = build::eth_ipv4_tcp(src.h.mac, dst.h.mac, &ip, &seg);
        tl.push(t, f);
        let s = if client { &mut self.c } else { &mut self.s };
        s.ip_id = s.ip_id.wrapping_add(1);
    }

    fn step(&mut self, client: bool) -> u64 {
        let d = self.side(client).delay;
        let jitter = self.rng.range(0, d / 8 + 20);
        self.t += d + jitter;
        self.t
    }

    /// Three-way handshake. `d_c`/`d_s`: how long after the peer's packet each side's packet
    /// is seen at the capture point (small on the LAN side, the WAN RTT on the far side).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn open(
        tl: &mut Timeline,
        rng: &mut Rng,
        c: Host,
        cport: u16,
        s: Host,
        sport: u16,
        t: u64,
        d_c: u64,
        d_s: u64,
    ) -> Conn {
        let mut conn = Conn::new(rng, c, cport, s, sport, t, d_c, d_s);
        conn.handshake(tl);
        conn
    }

    #[allow(clippy::too_many_arguments)]
    fn new(
        rng: &mut Rng,
        c: Host,
        cport: u16,
        s: Host,
        sport: u16,
        t: u64,
        d_c: u64,
        d_s: u64,
    ) -> Conn {
        let mut r = rng.fork();
        let c = Side {
            h: c,
            port: cport,
            seq: r.u32(),
            ts_base: r.u32(),
            ip_id: r.u16(),
            delay: d_c,
        };
        let s = Side {
            h: s,
            port: sport,
            seq: r.u32(),
            ts_base: r.u32(),
            ip_id: r.u16(),
            delay: d_s,
        };
        Conn {
            c,
            s,
            ts_ok: false,
            ws_ok: false,
            t,
            rng: r,
            open: false,
        }
    }

    fn syn(&mut self, tl: &mut Timeline) -> (bool, bool) {
        let (opts, ts, ws) = syn_options(self.c.h.os, self.tsval(true, self.t), 0, None);
        let ip = Ip4 {
            src: self.c.h.ip,
            dst: self.s.h.ip,
            ttl: self.c.h.ttl,
            id: self.c.ip_id,
            df: true,
            tos: 0,
        };
        let seg = Tcp {
            sport: self.c.port,
            dport: self.s.port,
            seq: self.c.seq,
            ack: 0,
            flags: flags::SYN,
            window: syn_window(self.c.h.os),
            options: &opts,
            payload: &[],
        };
        tl.push(
            self.t,
            build::eth_ipv4_tcp(self.c.h.mac, self.s.h.mac, &ip, &seg),
        );
        self.c.ip_id = self.c.ip_id.wrapping_add(1);
        self.c.seq = self.c.seq.wrapping_add(1);
        (ts, ws)
    }

    fn handshake(&mut self, tl: &mut Timeline) {
        let (cts, cws) = self.syn(tl);
        let t = self.step(false);
        let (opts, sts, sws) = syn_options(
            self.s.h.os,
            self.tsval(false, t),
            self.tsval(true, t.saturating_sub(self.s.delay)),
            Some((cts, cws)),
        );
        let ip = Ip4 {
            src: self.s.h.ip,
            dst: self.c.h.ip,
            ttl: self.s.h.ttl,
            id: 0,
            df: true,
            tos: 0,
        };
        let seg = Tcp {
            sport: self.s.port,
            dport: self.c.port,
            seq: self.s.seq,
            ack: self.c.seq,
            flags: flags::SYN | flags::ACK,
            window: if self.s.h.os == Os::Linux {
                65160
            } else {
                syn_window(self.s.h.os)
            },
            options: &opts,
            payload: &[],
        };
        tl.push(
            t,
            build::eth_ipv4_tcp(self.s.h.mac, self.c.h.mac, &ip, &seg),
        );
        self.s.seq = self.s.seq.wrapping_add(1);
        self.ts_ok = cts && sts;
        self.ws_ok = cws && sws;
        self.open = true;
        self.ack(tl, true);
    }

    /// Pure ACK of everything received so far, from one side.
    pub(crate) fn ack(&mut self, tl: &mut Timeline, client: bool) {
        let t = self.step(client);
        let (seq, ack) = self.seq_ack(client);
        self.raw(tl, client, flags::ACK, seq, ack, &[], t);
    }

    fn seq_ack(&self, client: bool) -> (u32, u32) {
        if client {
            (self.c.seq, self.s.seq)
        } else {
            (self.s.seq, self.c.seq)
        }
    }

    fn mss(&self) -> usize {
        if self.ts_ok { 1448 } else { 1460 }
    }

    /// Sends `data` from one side in MSS-sized segments (PSH on the last); the receiver
    /// ACKs every second full segment. The final ACK is left to the caller (piggyback or [`Conn::ack`]).
    pub(crate) fn send(&mut self, tl: &mut Timeline, client: bool, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let mss = self.mss();
        let chunks: Vec<&[u8]> = data.chunks(mss).collect();
        let n = chunks.len();
        let mut t = self.step(client);
        let mut latest = t;
        let rdelay = self.side(!client).delay;
        for (i, ch) in chunks.iter().enumerate() {
            let last = i + 1 == n;
            let fl = flags::ACK | if last { flags::PSH } else { 0 };
            let (seq, ack) = self.seq_ack(client);
            self.raw(tl, client, fl, seq, ack, ch, t);
            let s = if client { &mut self.c } else { &mut self.s };
            s.seq = s.seq.wrapping_add(ch.len() as u32);
            if i % 2 == 1 && !last {
                let ta = t + rdelay + self.rng.range(0, 200);
                let (rs, ra) = self.seq_ack(!client);
                self.raw(tl, !client, flags::ACK, rs, ra, &[], ta);
                latest = latest.max(ta);
            }
            latest = latest.max(t);
            t += 12 + self.rng.range(0, 60) + (ch.len() as u64) / 16;
        }
        self.t = latest;
    }

    /// `send` followed by the receiver's pure ACK.
    pub(crate) fn send_acked(&mut self, tl: &mut Timeline, client: bool, data: &[u8]) {
        self.send(tl, client, data);
        self.ack(tl, !client);
    }

    /// Lets time pass (application think time, keepalive interval).
    pub(crate) fn idle(&mut self, us: u64) {
        self.t += us;
    }

    /// Orderly close initiated by one side: FIN/ACK, FIN/ACK, ACK.
    pub(crate) fn close(&mut self, tl: &mut Timeline, client: bool) {
        if !self.open {
            return;
        }
        for (who, fin) in [(client, true), (!client, true), (client, false)] {
            let t = self.step(who);
            let (seq, ack) = self.seq_ack(who);
            let fl = flags::ACK | if fin { flags::FIN } else { 0 };
            self.raw(tl, who, fl, seq, ack, &[], t);
            if fin {
                let s = if who { &mut self.c } else { &mut self.s };
                s.seq = s.seq.wrapping_add(1);
            }
        }
        self.open = false;
    }
}
