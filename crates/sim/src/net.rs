//! Shared helpers: devices, UDP/DNS/DHCP/ARP/NTP/TLS/HTTP exchanges on the simulated LAN.

use crate::app::{self, TlsProfile};
use crate::build::{self, Ip4};
use crate::rng::Rng;
use crate::tcp::{Conn, Host, Os, Timeline};

pub(crate) const GW_IP: [u8; 4] = [192, 168, 1, 1];
pub(crate) const BCAST_IP: [u8; 4] = [255, 255, 255, 255];
pub(crate) const MDNS_V4: [u8; 4] = [224, 0, 0, 251];
pub(crate) const SSDP_V4: [u8; 4] = [239, 255, 255, 250];
pub(crate) const MDNS_V6: [u8; 16] = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfb];

/// A simulated local device at run time.
pub(crate) struct Dev {
    pub h: Host,
    pub rng: Rng,
    port: u16,
}

impl Dev {
    pub(crate) fn new(h: Host, mut rng: Rng) -> Dev {
        let (lo, hi) = eport_range(h.os);
        let port = rng.range(u64::from(lo), u64::from(hi)) as u16;
        Dev { h, rng, port }
    }

    /// Next ephemeral port (sequential with small random steps, as stacks allocate them).
    pub(crate) fn eport(&mut self) -> u16 {
        let (lo, hi) = eport_range(self.h.os);
        let step = self.rng.range(1, 7) as u16;
        self.port = if self.port >= hi - step {
            lo
        } else {
            self.port + step
        };
        self.port
    }
}

fn eport_range(os: Os) -> (u16, u16) {
    match os {
        Os::Linux => (32768, 60999),
        Os::Windows | Os::Lwip => (49152, 65535),
    }
}

/// The LAN context: timeline, router, time bounds.
pub(crate) struct Net {
    pub tl: Timeline,
    pub router: Host,
    pub start: u64,
    pub end: u64,
    pub start_unix: u64,
    pub rng: Rng,
    arp_pairs: Vec<([u8; 4], [u8; 4], u64)>,
}

pub(crate) fn mcast_host(group: [u8; 4]) -> Host {
    Host {
        mac: build::mcast_mac_v4(group),
        ip: group,
        ttl: 255,
        os: Os::Linux,
    }
}

pub(crate) fn bcast_host() -> Host {
    Host {
        mac: build::BROADCAST_MAC,
        ip: BCAST_IP,
        ttl: 64,
        os: Os::Linux,
    }
}

fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Deterministic, plausible public addresses for a cloud name (in the provider's usual ranges).
pub(crate) fn cloud_ips(name: &str) -> Vec<[u8; 4]> {
    let h = fnv(name);
    let b = |i: u32| ((h >> (8 * i)) & 0xff) as u8;
    let prefixes: &[[u8; 2]] = if name.ends_with("google.com")
        || name.ends_with("googleapis.com")
        || name.ends_with("gstatic.com")
    {
        &[[142, 250], [172, 217], [216, 58]]
    } else if name.ends_with("microsoft.com")
        || name.ends_with("msftconnecttest.com")
        || name.ends_with("live.com")
        || name.ends_with("bing.com")
        || name.ends_with("windows.com")
        || name.ends_with("office365.com")
    {
        &[[13, 107], [20, 190], [40, 126]]
    } else if name.ends_with("amazon.com") || name.ends_with("amazonalexa.com") {
        &[[52, 94], [54, 239], [52, 46]]
    } else if name.ends_with("github.com") {
        &[[140, 82]]
    } else if name.ends_with("pool.ntp.org") {
        &[[162, 159], [45, 79], [129, 250]]
    } else {
        // most IoT clouds sit on AWS
        &[[3, 120], [18, 196], [35, 156], [52, 28], [54, 93]]
    };
    let n = 1 + (h % 2) as usize;
    (0..n)
        .map(|i| {
            let p = prefixes[(h as usize + i) % prefixes.len()];
            [p[0], p[1], b(2 + i as u32), 1 + b(4 + i as u32) % 254]
        })
        .collect()
}

impl Net {
    pub(crate) fn new(start: u64, end: u64, start_unix: u64, router: Host, rng: Rng) -> Net {
        Net {
            tl: Timeline::new(end),
            router,
            start,
            end,
            start_unix,
            rng,
            arp_pairs: Vec::new(),
        }
    }

    /// A server on the internet: frames come through the router's MAC; TTL after some hops.
    pub(crate) fn internet(&self, ip: [u8; 4]) -> Host {
        let hops = 6 + (fnv(&format!("{ip:?}")) % 12) as u8;
        let init = if ip[0] == 13 || ip[0] == 20 || ip[0] == 40 {
            128
        } else {
            64
        };
        Host {
            mac: self.router.mac,
            ip,
            ttl: init - hops,
            os: Os::Linux,
        }
    }

    pub(crate) fn udp(
        &mut self,
        t: u64,
        from: &Host,
        to: &Host,
        sport: u16,
        dport: u16,
        payload: &[u8],
    ) {
        self.udp_ttl(t, from, to, from.ttl, sport, dport, payload);
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn udp_ttl(
        &mut self,
        t: u64,
        from: &Host,
        to: &Host,
        ttl: u8,
        sport: u16,
        dport: u16,
        payload: &[u8],
    ) {
        let ip = Ip4 {
            src: from.ip,
            dst: to.ip,
            ttl,
            id: self.rng.u16(),
            df: from.os == Os::Linux && to.ip[0] < 224 && to.ip != BCAST_IP,
            tos: 0,
        };
        let f = build::eth_ipv4_udp(from.mac, to.mac, &ip, sport, dport, payload);
        self.tl.push(t, f);
    }

    /// ARP request from `a` for `b` and `b`'s reply, unless this pair resolved recently.
    pub(crate) fn arp(&mut self, t: u64, a: &Host, b: &Host) -> u64 {
        if let Some(p) = self
            .arp_pairs
            .iter_mut()
            .find(|p| p.0 == a.ip && p.1 == b.ip)
        {
            if t >= p.2 && t - p.2 < 240_000_000 {
                return t;
            }
            p.2 = t;
        } else {
            self.arp_pairs.push((a.ip, b.ip, t));
        }
        self.tl.push(t, build::arp_request(a.mac, a.ip, b.ip));
        let tr = t + 300 + self.rng.range(0, 2_000);
        self.tl.push(tr, build::arp_reply(b.mac, b.ip, a.mac, a.ip));
        tr + 100
    }

    /// A DNS A lookup through the router; returns (time of answer, addresses).
    pub(crate) fn dns(&mut self, dev: &mut Dev, t: u64, name: &str) -> (u64, Vec<[u8; 4]>) {
        let ips = cloud_ips(name);
        let id = dev.rng.u16();
        let sport = dev.eport();
        let q = app::dns_query(id, name, app::QTYPE_A);
        let router = self.router;
        self.udp(t, &dev.h, &router, sport, 53, &q);
        let tr = t + 800 + self.rng.range(0, 25_000);
        let ttl = 60 + (fnv(name) % 240) as u32;
        let r = app::dns_response_a(id, name, &ips, ttl);
        self.udp(tr, &router, &dev.h, 53, sport, &r);
        (tr + 200, ips)
    }

    /// An SNTP exchange with a server on the internet.
    pub(crate) fn ntp(&mut self, dev: &mut Dev, t: u64, server: &str) -> u64 {
        let (t, ips) = self.dns(dev, t, server);
        let srv = self.internet(ips[0]);
        let sport = if dev.h.os == Os::Lwip {
            dev.eport()
        } else {
            123
        };
        let req = app::ntp_request(self.start_unix * 1_000_000 + (t - self.start));
        self.udp(t, &dev.h, &srv, sport, 123, &req);
        let tr = t + 15_000 + self.rng.range(0, 30_000);
        let rep = app::ntp_reply(
            &req,
            self.start_unix * 1_000_000 + (tr - self.start) - 8_000,
            [17, 253, 4, 125],
        );
        self.udp(tr, &srv, &dev.h, 123, sport, &rep);
        tr
    }

    /// WAN round-trip delay in microseconds for a server.
    pub(crate) fn wan_rtt(&mut self) -> u64 {
        12_000 + self.rng.range(0, 40_000)
    }

    pub(crate) fn lan_delay(&mut self) -> u64 {
        250 + self.rng.range(0, 1_500)
    }

    /// A TLS session to `server`: handshake, `exchanges` (request size, response size) with `think`
    /// microseconds between them, then close_notify and FIN. Returns the end time.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn tls(
        &mut self,
        dev: &mut Dev,
        t: u64,
        server: Host,
        port: u16,
        p: &TlsProfile,
        sni: &str,
        exchanges: &[(usize, usize)],
        think: u64,
    ) -> u64 {
        let mut c = self.tls_open(dev, t, server, port, p, sni);
        for (i, &(rq, rs)) in exchanges.iter().enumerate() {
            if i > 0 {
                c.idle(think);
            }
            self.tls_exchange(dev, &mut c, rq, rs);
        }
        c.idle(self.rng.range(50_000, 2_000_000));
        let alert = app::tls_record(21, 0x0303, &dev.rng.bytes(if p.tls13() { 19 } else { 26 }));
        c.send(&mut self.tl, true, &alert);
        c.close(&mut self.tl, true);
        c.t
    }

    /// DNS lookup + TLS session, the usual way a device reaches its cloud.
    pub(crate) fn cloud_tls(
        &mut self,
        dev: &mut Dev,
        t: u64,
        p: &TlsProfile,
        sni: &str,
        exchanges: &[(usize, usize)],
    ) -> u64 {
        let (t, ips) = self.dns(dev, t, sni);
        let srv = self.internet(ips[0]);
        let think = self.rng.range(100_000, 3_000_000);
        self.tls(dev, t + 300, srv, 443, p, sni, exchanges, think)
    }

    pub(crate) fn tls_open(
        &mut self,
        dev: &mut Dev,
        t: u64,
        server: Host,
        port: u16,
        p: &TlsProfile,
        sni: &str,
    ) -> Conn {
        let local = server.mac != self.router.mac;
        let d_s = if local {
            self.lan_delay()
        } else {
            self.wan_rtt()
        };
        let d_c = self.lan_delay() / 2;
        let cport = dev.eport();
        let mut c = Conn::open(
            &mut self.tl,
            &mut dev.rng,
            dev.h,
            cport,
            server,
            port,
            t,
            d_c,
            d_s,
        );
        let (ch, sid) = app::client_hello(&mut dev.rng, p, sni);
        c.send(&mut self.tl, true, &ch);
        if p.tls13() {
            let cipher = if p.ciphers[0] == 0x1302 {
                0x1302
            } else {
                0x1301
            };
            let enc = 2_400 + self.rng.range(0, 2_600) as usize;
            let fl = app::server_flight_13(&mut self.rng, &sid, cipher, enc);
            c.send(&mut self.tl, false, &fl);
            let fin = app::client_finished_13(&mut dev.rng);
            c.send(&mut self.tl, true, &fin);
        } else {
            let cert = app::certificate(&mut self.rng, sni, self.start_unix);
            let fl = app::server_flight_12(&mut self.rng, 0xc02f, &cert);
            c.send(&mut self.tl, false, &fl);
            let cf = app::client_flight_12(&mut dev.rng);
            c.send(&mut self.tl, true, &cf);
            let sf = app::server_finished_12(&mut self.rng);
            c.send(&mut self.tl, false, &sf);
        }
        c
    }

    pub(crate) fn tls_exchange(&mut self, dev: &mut Dev, c: &mut Conn, rq: usize, rs: usize) {
        let a = app::tls_app_data(&mut dev.rng, rq);
        c.send(&mut self.tl, true, &a);
        let b = app::tls_app_data(&mut self.rng, rs);
        c.send(&mut self.tl, false, &b);
        c.ack(&mut self.tl, true);
    }

    /// A plain request/response over a fresh TCP connection (HTTP, IPP, RTSP...), closed by the client.
    pub(crate) fn tcp_exchange(
        &mut self,
        dev: &mut Dev,
        t: u64,
        server: Host,
        port: u16,
        reqs: &[(&[u8], &[u8])],
    ) -> u64 {
        let local = server.mac != self.router.mac;
        let d_s = if local {
            self.lan_delay()
        } else {
            self.wan_rtt()
        };
        let d_c = self.lan_delay() / 2;
        let cport = dev.eport();
        let mut c = Conn::open(
            &mut self.tl,
            &mut dev.rng,
            dev.h,
            cport,
            server,
            port,
            t,
            d_c,
            d_s,
        );
        for (rq, rs) in reqs {
            c.send(&mut self.tl, true, rq);
            c.send(&mut self.tl, false, rs);
            c.ack(&mut self.tl, true);
        }
        c.close(&mut self.tl, true);
        c.t
    }

    /// DHCP DISCOVER/OFFER/REQUEST/ACK, ARP probe + announcement, ARP for the gateway.
    pub(crate) fn dhcp_join(
        &mut self,
        dev: &mut Dev,
        t: u64,
        hostname: &str,
        vendor_class: Option<&str>,
        prl: &[u8],
    ) -> u64 {
        let xid = dev.rng.u32();
        let mac = dev.h.mac;
        let windows = dev.h.os == Os::Windows;
        let mut client_id = vec![1u8];
        client_id.extend_from_slice(&mac);
        let mut common: Vec<(u8, Vec<u8>)> = Vec::new();
        if windows || dev.h.os == Os::Lwip {
            common.push((61, client_id.clone()));
        } else {
            common.push((57, 576u16.to_be_bytes().to_vec()));
        }
        let mut disc = vec![(53, vec![app::DHCPDISCOVER])];
        disc.extend(common.iter().cloned());
        disc.push((12, hostname.as_bytes().to_vec()));
        if let Some(vc) = vendor_class {
            disc.push((60, vc.as_bytes().to_vec()));
        }
        disc.push((55, prl.to_vec()));
        let src = Host {
            mac,
            ip: [0; 4],
            ttl: dev.h.ttl,
            os: Os::Lwip,
        };
        let bc = bcast_host();
        let msg = |op: u8, yi: [u8; 4], opts: Vec<(u8, Vec<u8>)>, secs: u16| {
            app::dhcp(&app::Dhcp {
                op,
                xid,
                secs,
                broadcast: false,
                ciaddr: [0; 4],
                yiaddr: yi,
                siaddr: if op == 2 { GW_IP } else { [0; 4] },
                chaddr: mac,
                options: opts,
            })
        };
        self.udp(t, &src, &bc, 68, 67, &msg(1, [0; 4], disc, 0));
        let router = self.router;
        let server_opts = |kind: u8| -> Vec<(u8, Vec<u8>)> {
            vec![
                (53, vec![kind]),
                (54, GW_IP.to_vec()),
                (51, 86_400u32.to_be_bytes().to_vec()),
                (58, 43_200u32.to_be_bytes().to_vec()),
                (59, 75_600u32.to_be_bytes().to_vec()),
                (1, vec![255, 255, 255, 0]),
                (28, vec![192, 168, 1, 255]),
                (3, GW_IP.to_vec()),
                (6, GW_IP.to_vec()),
                (15, b"home".to_vec()),
            ]
        };
        let yi = dev.h.ip;
        let dst = Host {
            mac,
            ip: yi,
            ttl: 64,
            os: Os::Linux,
        };
        let t1 = t + 2_000 + self.rng.range(0, 8_000);
        self.udp(
            t1,
            &router,
            &dst,
            67,
            68,
            &msg(2, yi, server_opts(app::DHCPOFFER), 0),
        );
        let mut req = vec![(53, vec![app::DHCPREQUEST])];
        req.extend(common.iter().cloned());
        req.push((50, yi.to_vec()));
        req.push((54, GW_IP.to_vec()));
        req.push((12, hostname.as_bytes().to_vec()));
        if windows {
            let mut fqdn = vec![0u8, 0, 0];
            fqdn.extend_from_slice(hostname.as_bytes());
            req.push((81, fqdn));
        }
        if let Some(vc) = vendor_class {
            req.push((60, vc.as_bytes().to_vec()));
        }
        req.push((55, prl.to_vec()));
        let t2 = t1 + 1_000 + self.rng.range(0, 20_000);
        self.udp(t2, &src, &bc, 68, 67, &msg(1, [0; 4], req, 0));
        let t3 = t2 + 1_000 + self.rng.range(0, 5_000);
        self.udp(
            t3,
            &router,
            &dst,
            67,
            68,
            &msg(2, yi, server_opts(app::DHCPACK), 0),
        );
        // RFC 5227 probe and announcement
        let t4 = t3 + 50_000 + self.rng.range(0, 200_000);
        self.tl.push(t4, build::arp_probe(mac, yi));
        let t5 = t4 + 1_000_000 + self.rng.range(0, 500_000);
        self.tl.push(t5, build::arp_announce(mac, yi));
        let h = dev.h;
        self.arp(t5 + 20_000, &h, &router)
    }

    /// IGMPv2 membership reports (Linux sends each twice).
    pub(crate) fn igmp_join(&mut self, dev: &Host, t: u64, groups: &[[u8; 4]]) {
        for (i, g) in groups.iter().enumerate() {
            let id = self.rng.u16();
            let tt = t + i as u64 * 3_000;
            self.tl
                .push(tt, build::igmpv2_report(dev.mac, dev.ip, *g, id));
            self.tl.push(
                tt + 900_000,
                build::igmpv2_report(dev.mac, dev.ip, *g, id.wrapping_add(1)),
            );
        }
    }

    /// mDNS announcement over IPv4 (and IPv6 link-local when `v6`).
    pub(crate) fn mdns(&mut self, dev: &Host, t: u64, payload: &[u8], v6: bool) {
        let m = mcast_host(MDNS_V4);
        self.udp_ttl(t, dev, &m, 255, 5353, 5353, payload);
        if v6 {
            let f = build::eth_ipv6_udp(
                dev.mac,
                build::mcast_mac_v6(MDNS_V6),
                build::link_local_v6(dev.mac),
                MDNS_V6,
                255,
                5353,
                5353,
                payload,
            );
            self.tl.push(t + 150, f);
        }
    }

    /// SSDP NOTIFY ssdp:alive, one per NT, sent to 239.255.255.250:1900 with TTL 4 (UPnP default).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn ssdp_notify(
        &mut self,
        dev: &Host,
        t: u64,
        sport: u16,
        location: &str,
        server: &str,
        extra: &str,
        nts: &[(&str, &str)],
    ) {
        let m = mcast_host(SSDP_V4);
        for (i, (nt, usn)) in nts.iter().enumerate() {
            let msg = format!(
                "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=1800\r\nLOCATION: {location}\r\nNT: {nt}\r\nNTS: ssdp:alive\r\nSERVER: {server}\r\n{extra}USN: {usn}\r\n\r\n"
            );
            self.udp_ttl(
                t + i as u64 * 1_200,
                dev,
                &m,
                4,
                sport,
                1900,
                msg.as_bytes(),
            );
        }
    }
}

/// Times from `from` to `to`, every `period` plus up to `jitter` microseconds.
pub(crate) fn schedule(rng: &mut Rng, from: u64, to: u64, period: u64, jitter: u64) -> Vec<u64> {
    let mut v = Vec::new();
    let mut t = from;
    while t < to {
        v.push(t);
        t += period + rng.range(0, jitter.max(1));
    }
    v
}

/// RFC 7231 IMF-fixdate.
pub(crate) fn http_date(unix: u64) -> String {
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MO: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix / 86_400;
    let (y, m, d) = app::civil_from_days(days as i64);
    let s = unix % 86_400;
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        WD[(days % 7) as usize],
        d,
        MO[(m - 1) as usize],
        y,
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}
