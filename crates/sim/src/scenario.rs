//! The simulated home/office: device table and benign behaviour of each device.

use crate::app::{self, Rr, TLS_ANDROID, TLS_CHROME, TLS_MBED, TLS_OPENSSL};
use crate::net::{self, Dev, MDNS_V4, Net, SSDP_V4, http_date, mcast_host, schedule};
use crate::tcp::{Conn, Host, Os};

/// Static description of one simulated device.
pub(crate) struct Spec {
    pub role: Role,
    pub mac: [u8; 6],
    pub ip: [u8; 4],
    pub os: Os,
    pub ttl: u8,
    pub hostname: &'static str,
    pub category: &'static str,
    pub vendor: &'static str,
    pub model: &'static str,
    /// Seconds after the capture start when the device joins (DHCP).
    pub join_s: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Router,
    Hue,
    Chromecast,
    Sonos,
    Camera,
    Printer,
    Kasa,
    Ecobee,
    Tv,
    Echo,
    Nas,
    Laptop,
    Shelly,
}

pub(crate) const SPECS: [Spec; 13] = [
    Spec {
        role: Role::Router,
        mac: [0x9c, 0x3d, 0xcf, 0x4a, 0x12, 0x01],
        ip: [192, 168, 1, 1],
        os: Os::Linux,
        ttl: 64,
        hostname: "routerlogin",
        category: "router",
        vendor: "NETGEAR",
        model: "Nighthawk RAX40",
        join_s: 0.0,
    },
    Spec {
        role: Role::Hue,
        mac: [0x00, 0x17, 0x88, 0x6b, 0x2a, 0xf4],
        ip: [192, 168, 1, 20],
        os: Os::Linux,
        ttl: 64,
        hostname: "Philips-hue",
        category: "hub",
        vendor: "Philips Lighting",
        model: "Hue Bridge v2 (BSB002)",
        join_s: 1.2,
    },
    Spec {
        role: Role::Chromecast,
        mac: [0xf4, 0xf5, 0xd8, 0x3e, 0x91, 0x0c],
        ip: [192, 168, 1, 21],
        os: Os::Linux,
        ttl: 64,
        hostname: "Chromecast",
        category: "media_player",
        vendor: "Google",
        model: "Chromecast",
        join_s: 4.0,
    },
    Spec {
        role: Role::Sonos,
        mac: [0x5c, 0xaa, 0xfd, 0x72, 0x4e, 0x18],
        ip: [192, 168, 1, 22],
        os: Os::Linux,
        ttl: 64,
        hostname: "SonosZP",
        category: "speaker",
        vendor: "Sonos",
        model: "Playbar (ZPS9)",
        join_s: 2.5,
    },
    Spec {
        role: Role::Camera,
        mac: [0xc0, 0x56, 0xe3, 0xa1, 0x7d, 0x42],
        ip: [192, 168, 1, 30],
        os: Os::Linux,
        ttl: 64,
        hostname: "DS-2CD2042WD-I",
        category: "camera",
        vendor: "Hikvision",
        model: "DS-2CD2042WD-I",
        join_s: 5.5,
    },
    Spec {
        role: Role::Printer,
        mac: [0x30, 0x05, 0x5c, 0x1a, 0x2b, 0x3c],
        ip: [192, 168, 1, 40],
        os: Os::Lwip,
        ttl: 255,
        hostname: "BRW30055C1A2B3C",
        category: "printer",
        vendor: "Brother",
        model: "HL-L2350DW",
        join_s: 7.0,
    },
    Spec {
        role: Role::Kasa,
        mac: [0x50, 0xc7, 0xbf, 0x5d, 0x80, 0xe7],
        ip: [192, 168, 1, 50],
        os: Os::Linux,
        ttl: 64,
        hostname: "HS110",
        category: "smart_plug",
        vendor: "TP-Link",
        model: "HS110(US)",
        join_s: 8.3,
    },
    Spec {
        role: Role::Ecobee,
        mac: [0x44, 0x61, 0x32, 0x9f, 0x06, 0xb3],
        ip: [192, 168, 1, 51],
        os: Os::Linux,
        ttl: 64,
        hostname: "ecobee3-lite",
        category: "thermostat",
        vendor: "ecobee",
        model: "ecobee3 lite",
        join_s: 9.1,
    },
    Spec {
        role: Role::Tv,
        mac: [0x8c, 0x77, 0x12, 0xc4, 0x33, 0x90],
        ip: [192, 168, 1, 60],
        os: Os::Linux,
        ttl: 64,
        hostname: "Samsung",
        category: "tv",
        vendor: "Samsung",
        model: "QN55Q60T (Tizen 5.5)",
        join_s: 11.0,
    },
    Spec {
        role: Role::Echo,
        mac: [0x44, 0x65, 0x0d, 0x8a, 0x5b, 0x21],
        ip: [192, 168, 1, 61],
        os: Os::Linux,
        ttl: 64,
        hostname: "amazon-5e2c9d41f",
        category: "voice_assistant",
        vendor: "Amazon",
        model: "Echo Dot (3rd Gen)",
        join_s: 12.4,
    },
    Spec {
        role: Role::Nas,
        mac: [0x00, 0x11, 0x32, 0x84, 0xc2, 0x5f],
        ip: [192, 168, 1, 70],
        os: Os::Linux,
        ttl: 64,
        hostname: "DiskStation",
        category: "nas",
        vendor: "Synology",
        model: "DS220+",
        join_s: 3.0,
    },
    Spec {
        role: Role::Laptop,
        mac: [0x3c, 0xa9, 0xf4, 0x26, 0xd1, 0x7a],
        ip: [192, 168, 1, 100],
        os: Os::Windows,
        ttl: 128,
        hostname: "DESKTOP-7H3K2LQ",
        category: "computer",
        vendor: "Intel",
        model: "Windows 10 laptop",
        join_s: 90.0,
    },
    Spec {
        role: Role::Shelly,
        mac: [0xe8, 0x68, 0xe7, 0xa1, 0xb2, 0xc3],
        ip: [192, 168, 1, 80],
        os: Os::Lwip,
        ttl: 255,
        hostname: "shellyht-A1B2C3",
        category: "sensor",
        vendor: "Shelly",
        model: "Shelly H&T (SHHT-1)",
        join_s: 15.0,
    },
];

pub(crate) fn spec(role: Role) -> &'static Spec {
    SPECS
        .iter()
        .find(|s| s.role == role)
        .expect("every role has a spec")
}

pub(crate) fn host(role: Role) -> Host {
    let s = spec(role);
    Host {
        mac: s.mac,
        ip: s.ip,
        ttl: s.ttl,
        os: s.os,
    }
}

fn ipstr(ip: [u8; 4]) -> String {
    format!("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3])
}

fn machex(mac: [u8; 6], sep: &str, upper: bool) -> String {
    let v: Vec<String> = mac
        .iter()
        .map(|b| {
            if upper {
                format!("{b:02X}")
            } else {
                format!("{b:02x}")
            }
        })
        .collect();
    v.join(sep)
}

const PRL_UDHCPC: &[u8] = &[1, 3, 6, 12, 15, 28, 42];
const PRL_ANDROID: &[u8] = &[1, 3, 6, 15, 26, 28, 51, 58, 59, 43];
const PRL_WIN10: &[u8] = &[1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252];
const PRL_SYNOLOGY: &[u8] = &[1, 3, 6, 12, 15, 17, 23, 28, 29, 31, 33, 40, 41, 42, 44];
const PRL_BROTHER: &[u8] = &[1, 3, 6, 12, 15, 28, 42, 40, 44, 46];
const PRL_LWIP: &[u8] = &[1, 3, 28, 6, 15, 44, 46, 47, 31, 33, 121, 43];
const PRL_CONNMAN: &[u8] = &[1, 28, 2, 3, 15, 6, 12];

fn us(s: f64) -> u64 {
    (s * 1_000_000.0) as u64
}

/// Runs every benign device.
pub(crate) fn run(net: &mut Net) {
    for s in SPECS.iter() {
        let mut dev = Dev::new(host(s.role), net.rng.fork());
        let t0 = net.start + us(s.join_s) + dev.rng.range(0, 300_000);
        match s.role {
            Role::Router => router(net, &mut dev),
            Role::Hue => hue(net, &mut dev, t0),
            Role::Chromecast => chromecast(net, &mut dev, t0),
            Role::Sonos => sonos(net, &mut dev, t0),
            Role::Camera => camera(net, &mut dev, t0),
            Role::Printer => printer(net, &mut dev, t0),
            Role::Kasa => kasa(net, &mut dev, t0),
            Role::Ecobee => ecobee(net, &mut dev, t0),
            Role::Tv => tv(net, &mut dev, t0),
            Role::Echo => echo(net, &mut dev, t0),
            Role::Nas => nas(net, &mut dev, t0),
            Role::Laptop => laptop(net, &mut dev, t0),
            Role::Shelly => shelly(net, &mut dev, t0),
        }
    }
}

// ------------------------------------------------------------------ router

const ROUTER_UUID: &str = "uuid:824ff22b-8c7d-41c5-a131-44f534e12d41";

fn router_notify(net: &mut Net, t: u64) {
    let r = net.router;
    let loc = "http://192.168.1.1:5555/rootDesc.xml";
    let igd = "urn:schemas-upnp-org:device:InternetGatewayDevice:1";
    let wan = "urn:schemas-upnp-org:service:WANIPConnection:1";
    net.ssdp_notify(
        &r,
        t,
        1900,
        loc,
        "Linux/4.1.52, UPnP/1.0, MiniUPnPd/2.1",
        "01-NLS: 1\r\nBOOTID.UPNP.ORG: 1\r\nCONFIGID.UPNP.ORG: 1337\r\n",
        &[
            (
                "upnp:rootdevice",
                &format!("{ROUTER_UUID}::upnp:rootdevice"),
            ),
            (igd, &format!("{ROUTER_UUID}::{igd}")),
            (wan, &format!("{ROUTER_UUID}::{wan}")),
        ],
    );
}

fn router(net: &mut Net, dev: &mut Dev) {
    let start = net.start + 500_000;
    let end = net.end;
    for t in schedule(&mut dev.rng, start, end, 120_000_000, 10_000_000) {
        router_notify(net, t);
    }
    // ARP cache refresh for every device after it joined
    for s in SPECS.iter().filter(|s| s.role != Role::Router) {
        let h = host(s.role);
        let from = net.start + us(s.join_s) + 30_000_000;
        for t in schedule(&mut dev.rng, from, end, 300_000_000, 60_000_000) {
            let r = net.router;
            net.tl.push(t, crate::build::arp_request(r.mac, r.ip, h.ip));
            let tr = t + 400 + dev.rng.range(0, 3_000);
            net.tl
                .push(tr, crate::build::arp_reply(h.mac, h.ip, r.mac, r.ip));
        }
    }
}

// ------------------------------------------------------------------ Philips Hue bridge

fn hue_id(mac: [u8; 6]) -> String {
    format!(
        "{:02x}{:02x}{:02x}fffe{:02x}{:02x}{:02x}",
        mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]
    )
}

const HUE_SERVER: &str = "Linux/3.14.0 UPnP/1.0 IpBridge/1.26.0";

pub(crate) fn hue_ssdp_response(st: &str) -> String {
    let h = host(Role::Hue);
    format!(
        "HTTP/1.1 200 OK\r\nHOST: 239.255.255.250:1900\r\nEXT:\r\nCACHE-CONTROL: max-age=100\r\nLOCATION: http://{}:80/description.xml\r\nSERVER: {HUE_SERVER}\r\nhue-bridgeid: {}\r\nST: {st}\r\nUSN: uuid:2f402f80-da50-11e1-9b23-{}\r\n\r\n",
        ipstr(h.ip),
        hue_id(h.mac).to_uppercase(),
        machex(h.mac, "", false)
    )
}

fn hue_mdns(h: &Host) -> Vec<u8> {
    let id = hue_id(h.mac);
    let inst = format!(
        "Hue Bridge - {}._hue._tcp.local",
        &machex(h.mac, "", true)[6..]
    );
    let bid = format!("bridgeid={id}");
    app::mdns_response(
        &[Rr::Ptr("_hue._tcp.local", &inst)],
        &[
            Rr::Srv(&inst, 443, "Philips-hue.local"),
            Rr::Txt(&inst, &[&bid, "modelid=BSB002"]),
            Rr::A("Philips-hue.local", h.ip),
        ],
    )
}

fn hue(net: &mut Net, dev: &mut Dev, t0: u64) {
    let t = net.dhcp_join(dev, t0, "Philips-hue", None, PRL_UDHCPC);
    net.igmp_join(&dev.h, t + 100_000, &[MDNS_V4, SSDP_V4]);
    let m = hue_mdns(&dev.h);
    for k in 0..3 {
        net.mdns(&dev.h, t + 1_000_000 + k * 1_000_000, &m, false);
    }
    let h = dev.h;
    let loc = format!("http://{}:80/description.xml", ipstr(h.ip));
    let uuid = format!("uuid:2f402f80-da50-11e1-9b23-{}", machex(h.mac, "", false));
    let extra = format!("hue-bridgeid: {}\r\n", hue_id(h.mac).to_uppercase());
    let basic = "urn:schemas-upnp-org:device:basic:1";
    for tt in schedule(&mut dev.rng, t + 2_000_000, net.end, 60_000_000, 2_000_000) {
        net.ssdp_notify(
            &h,
            tt,
            1900,
            &loc,
            HUE_SERVER,
            &extra,
            &[
                ("upnp:rootdevice", &format!("{uuid}::upnp:rootdevice")),
                (&uuid, &uuid),
                (basic, &format!("{uuid}::{basic}")),
            ],
        );
    }
    let t1 = net.ntp(dev, t + 3_000_000, "time.meethue.com");
    // persistent cloud connection with periodic keepalives
    let (t2, ips) = net.dns(dev, t1 + 500_000, "ws.meethue.com");
    let srv = net.internet(ips[0]);
    let mut c = net.tls_open(dev, t2, srv, 443, &TLS_OPENSSL, "ws.meethue.com");
    net.tls_exchange(dev, &mut c, 420, 180);
    while c.t + 30_000_000 < net.end {
        c.idle(29_000_000 + dev.rng.range(0, 2_000_000));
        let n = 60 + dev.rng.range(0, 60) as usize;
        net.tls_exchange(dev, &mut c, n, 40);
    }
    for tt in schedule(
        &mut dev.rng,
        t + 40_000_000,
        net.end,
        240_000_000,
        30_000_000,
    ) {
        net.cloud_tls(dev, tt, &TLS_OPENSSL, "diag.meethue.com", &[(1_800, 300)]);
    }
}

// ------------------------------------------------------------------ Chromecast

const CC_ID: &str = "8f3a2c41d0b7e65a9c1f24d3b6e0a917";

pub(crate) fn chromecast_mdns(h: &Host) -> Vec<u8> {
    let inst = format!("Chromecast-{CC_ID}._googlecast._tcp.local");
    let target = "8f3a2c41-d0b7-e65a-9c1f-24d3b6e0a917.local";
    let id = format!("id={CC_ID}");
    app::mdns_response(
        &[Rr::Ptr("_googlecast._tcp.local", &inst)],
        &[
            Rr::Txt(
                &inst,
                &[
                    &id,
                    "cd=3E1F0A6B27C9D4E85F0A1B2C3D4E5F60",
                    "rm=",
                    "ve=05",
                    "md=Chromecast",
                    "ic=/setup/icon.png",
                    "fn=Living Room TV",
                    "ca=201221",
                    "st=0",
                    "bs=FA8FCA7B3E21",
                    "nf=1",
                    "rs=",
                ],
            ),
            Rr::Srv(&inst, 8009, target),
            Rr::A(target, h.ip),
            Rr::Aaaa(target, crate::build::link_local_v6(h.mac)),
        ],
    )
}

const CC_UA: &str = "Mozilla/5.0 (X11; Linux armv7l) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.5735.198 Safari/537.36 CrKey/1.56.500000 DeviceType/Chromecast";

fn chromecast(net: &mut Net, dev: &mut Dev, t0: u64) {
    let t = net.dhcp_join(dev, t0, "Chromecast", None, PRL_ANDROID);
    net.igmp_join(&dev.h, t + 50_000, &[MDNS_V4, SSDP_V4]);
    let m = chromecast_mdns(&dev.h);
    for tt in schedule(&mut dev.rng, t + 800_000, net.end, 120_000_000, 5_000_000) {
        net.mdns(&dev.h, tt, &m, true);
    }
    let t1 = net.ntp(dev, t + 1_500_000, "time.google.com");
    for tt in schedule(
        &mut dev.rng,
        t1 + 1_000_000,
        net.end,
        150_000_000,
        30_000_000,
    ) {
        let (ta, ips) = net.dns(dev, tt, "connectivitycheck.gstatic.com");
        let srv = net.internet(ips[0]);
        let req = format!(
            "GET /generate_204 HTTP/1.1\r\nHost: connectivitycheck.gstatic.com\r\nUser-Agent: {CC_UA}\r\nAccept-Encoding: gzip, deflate\r\nConnection: close\r\n\r\n"
        );
        let rsp = format!(
            "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nCross-Origin-Resource-Policy: cross-origin\r\nDate: {}\r\n\r\n",
            http_date(net.start_unix + (ta - net.start) / 1_000_000)
        );
        net.tcp_exchange(dev, ta, srv, 80, &[(req.as_bytes(), rsp.as_bytes())]);
        net.cloud_tls(
            dev,
            ta + 2_000_000,
            &TLS_CHROME,
            "clients3.google.com",
            &[(600, 1_400)],
        );
    }
    for tt in schedule(
        &mut dev.rng,
        t + 20_000_000,
        net.end,
        200_000_000,
        40_000_000,
    ) {
        net.cloud_tls(
            dev,
            tt,
            &TLS_CHROME,
            "www.googleapis.com",
            &[(900, 3_200), (700, 1_100)],
        );
    }
    net.cloud_tls(
        dev,
        t + 9_000_000,
        &TLS_CHROME,
        "tools.google.com",
        &[(1_100, 4_800)],
    );
}

// ------------------------------------------------------------------ Sonos

const SONOS_RINCON: &str = "RINCON_5CAAFD724E1801400";
const SONOS_HH: &str = "Sonos_k1Xw8VvP2sQ9mHtY4cRzLbN6uD";
pub(crate) const SONOS_SERVER: &str = "Linux UPnP/1.0 Sonos/70.3-35220 (ZPS9)";

fn sonos(net: &mut Net, dev: &mut Dev, t0: u64) {
    let t = net.dhcp_join(dev, t0, "SonosZP", None, PRL_UDHCPC);
    net.igmp_join(&dev.h, t + 70_000, &[MDNS_V4, SSDP_V4]);
    let h = dev.h;
    let inst = format!("{SONOS_RINCON}@Living Room._sonos._tcp.local");
    let target = format!("Sonos-{}.local", machex(h.mac, "", true));
    let info = format!("info=/api/v1/players/{SONOS_RINCON}/info");
    let hh = format!("hhid={SONOS_HH}");
    let m = app::mdns_response(
        &[Rr::Ptr("_sonos._tcp.local", &inst)],
        &[
            Rr::Srv(&inst, 1443, &target),
            Rr::Txt(
                &inst,
                &[&info, "vers=3", "protovers=1.38.1", "bootseq=42", &hh],
            ),
            Rr::A(&target, h.ip),
            Rr::Aaaa(&target, crate::build::link_local_v6(h.mac)),
        ],
    );
    for k in 0..2 {
        net.mdns(&h, t + 900_000 + k * 1_000_000, &m, true);
    }
    let loc = format!("http://{}:1400/xml/device_description.xml", ipstr(h.ip));
    let uuid = format!("uuid:{SONOS_RINCON}");
    let zp = "urn:schemas-upnp-org:device:ZonePlayer:1";
    let extra = format!(
        "X-RINCON-HOUSEHOLD: {SONOS_HH}\r\nX-RINCON-BOOTSEQ: 42\r\nBOOTID.UPNP.ORG: 42\r\nX-RINCON-WIFIMODE: 0\r\nX-RINCON-VARIANT: 1\r\nHOUSEHOLD.SMARTSPEAKER.AUDIO: {SONOS_HH}.jE1f1Dx2cB3aZ4yX5wV6\r\n"
    );
    for tt in schedule(&mut dev.rng, t + 1_500_000, net.end, 90_000_000, 5_000_000) {
        net.ssdp_notify(
            &h,
            tt,
            1900,
            &loc,
            SONOS_SERVER,
            &extra,
            &[
                ("upnp:rootdevice", &format!("{uuid}::upnp:rootdevice")),
                (&uuid, &uuid),
                (zp, &format!("{uuid}::{zp}")),
            ],
        );
    }
    let t1 = net.ntp(dev, t + 2_500_000, "sonos.pool.ntp.org");
    for tt in schedule(
        &mut dev.rng,
        t1 + 5_000_000,
        net.end,
        180_000_000,
        30_000_000,
    ) {
        net.cloud_tls(
            dev,
            tt,
            &TLS_OPENSSL,
            "msmetrics.ws.sonos.com",
            &[(2_300, 350)],
        );
    }
    net.cloud_tls(
        dev,
        t1 + 2_000_000,
        &TLS_OPENSSL,
        "api.ws.sonos.com",
        &[(700, 2_600)],
    );
}

// ------------------------------------------------------------------ Hikvision camera

pub(crate) const CAM_UDHCP: &str = "udhcp 1.19.3";

fn camera(net: &mut Net, dev: &mut Dev, t0: u64) {
    let t = net.dhcp_join(dev, t0, "DS-2CD2042WD-I", Some(CAM_UDHCP), PRL_UDHCPC);
    net.igmp_join(&dev.h, t + 60_000, &[SSDP_V4]);
    let h = dev.h;
    // Hikvision SADP-style UPnP presence
    let uuid = format!("uuid:8f9e7bc4-1dd2-11b2-b2c1-{}", machex(h.mac, "", false));
    let loc = format!("http://{}:49152/rootDesc.xml", ipstr(h.ip));
    for tt in schedule(
        &mut dev.rng,
        t + 2_000_000,
        net.end,
        150_000_000,
        10_000_000,
    ) {
        net.ssdp_notify(
            &h,
            tt,
            1900,
            &loc,
            "Linux/3.0.8, UPnP/1.0, Portable SDK for UPnP devices/1.6.18",
            "",
            &[
                ("upnp:rootdevice", &format!("{uuid}::upnp:rootdevice")),
                (
                    "urn:schemas-upnp-org:device:Basic:1",
                    &format!("{uuid}::urn:schemas-upnp-org:device:Basic:1"),
                ),
            ],
        );
    }
    // Hikvision's default NTP server
    net.ntp(dev, t + 4_000_000, "time.windows.com");
}

/// HTTP responses of the camera's web server.
pub(crate) fn camera_http(unix: u64, path: &str) -> String {
    if path == "/" {
        format!(
            "HTTP/1.1 302 Found\r\nLocation: /doc/page/login.asp?_{unix}\r\nDate: {}\r\nServer: Hikvision-Webs\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            http_date(unix)
        )
    } else {
        let body = "<!DOCTYPE html>\n<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\"/><title></title><script type=\"text/javascript\" src=\"../script/jquery/jquery-1.7.2.min.js\"></script><script type=\"text/javascript\" src=\"../script/login.js\"></script></head><body onload=\"init()\"><div id=\"login\"></div></body></html>\n";
        format!(
            "HTTP/1.1 200 OK\r\nDate: {}\r\nServer: Hikvision-Webs\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\nX-Frame-Options: SAMEORIGIN\r\n\r\n{body}",
            http_date(unix),
            body.len()
        )
    }
}

// ------------------------------------------------------------------ Brother printer

fn printer_mdns(h: &Host) -> Vec<u8> {
    let inst = "Brother HL-L2350DW series._ipp._tcp.local";
    let http = "Brother HL-L2350DW series._http._tcp.local";
    let target = "BRW30055C1A2B3C.local";
    let uuid = format!("UUID=e3248000-80ce-11db-8000-{}", machex(h.mac, "", false));
    app::mdns_response(
        &[
            Rr::Ptr("_ipp._tcp.local", inst),
            Rr::Ptr("_http._tcp.local", http),
        ],
        &[
            Rr::Srv(inst, 631, target),
            Rr::Txt(
                inst,
                &[
                    "txtvers=1",
                    "qtotal=1",
                    "pdl=application/octet-stream,image/urf,image/pwg-raster",
                    "rp=ipp/print",
                    "ty=Brother HL-L2350DW series",
                    "product=(Brother HL-L2350DW series)",
                    "adminurl=http://BRW30055C1A2B3C.local./net/net/airprint.html",
                    "priority=25",
                    "usb_MFG=Brother",
                    "usb_MDL=HL-L2350DW series",
                    "usb_CMD=PJL,PCL,PCLXL,URF",
                    "Color=F",
                    "Duplex=T",
                    &uuid,
                    "URF=W8,CP1,IS4-1,MT1-3-4-5-8,OB10,PQ4,RS300-600,V1.4,DM1",
                    "TLS=1.2",
                ],
            ),
            Rr::Srv(http, 80, target),
            Rr::Txt(http, &["path=/"]),
            Rr::A(target, h.ip),
        ],
    )
}

fn printer(net: &mut Net, dev: &mut Dev, t0: u64) {
    let t = net.dhcp_join(dev, t0, "BRW30055C1A2B3C", None, PRL_BROTHER);
    net.igmp_join(&dev.h, t + 80_000, &[MDNS_V4]);
    let m = printer_mdns(&dev.h);
    for k in 0..3 {
        net.mdns(&dev.h, t + 1_000_000 + k * (1_000_000 << k), &m, false);
    }
    net.ntp(dev, t + 6_000_000, "pool.ntp.org");
}

fn ipp_attr(out: &mut Vec<u8>, tag: u8, name: &str, value: &[u8]) {
    out.push(tag);
    out.extend_from_slice(&(name.len() as u16).to_be_bytes());
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
}

fn ipp_get_attributes() -> (Vec<u8>, Vec<u8>) {
    let mut q = vec![0x02, 0x00, 0x00, 0x0b, 0, 0, 0, 1, 0x01];
    ipp_attr(&mut q, 0x47, "attributes-charset", b"utf-8");
    ipp_attr(&mut q, 0x48, "attributes-natural-language", b"en-us");
    ipp_attr(
        &mut q,
        0x45,
        "printer-uri",
        b"ipp://BRW30055C1A2B3C.local:631/ipp/print",
    );
    ipp_attr(
        &mut q,
        0x44,
        "requested-attributes",
        b"printer-make-and-model",
    );
    q.push(0x03);
    let mut http = format!(
        "POST /ipp/print HTTP/1.1\r\nContent-Length: {}\r\nContent-Type: application/ipp\r\nHost: BRW30055C1A2B3C.local:631\r\nUser-Agent: Microsoft-Windows/10.0 IPP/1.0\r\n\r\n",
        q.len()
    )
    .into_bytes();
    http.extend_from_slice(&q);
    let mut r = vec![0x02, 0x00, 0x00, 0x00, 0, 0, 0, 1, 0x01];
    ipp_attr(&mut r, 0x47, "attributes-charset", b"utf-8");
    ipp_attr(&mut r, 0x48, "attributes-natural-language", b"en-us");
    r.push(0x04);
    ipp_attr(
        &mut r,
        0x41,
        "printer-make-and-model",
        b"Brother HL-L2350DW series",
    );
    ipp_attr(&mut r, 0x42, "printer-name", b"BRW30055C1A2B3C");
    ipp_attr(&mut r, 0x23, "printer-state", &[0, 0, 0, 3]);
    ipp_attr(&mut r, 0x41, "printer-firmware-string-version", b"1.72");
    r.push(0x03);
    let mut resp = format!(
        "HTTP/1.1 200 OK\r\nServer: debut/1.30\r\nContent-Type: application/ipp\r\nContent-Length: {}\r\n\r\n",
        r.len()
    )
    .into_bytes();
    resp.extend_from_slice(&r);
    (http, resp)
}

// ------------------------------------------------------------------ TP-Link Kasa HS110

pub(crate) fn kasa_sysinfo(h: &Host) -> String {
    format!(
        "{{\"system\":{{\"get_sysinfo\":{{\"sw_ver\":\"1.5.6 Build 191125 Rel.083657\",\"hw_ver\":\"2.0\",\"model\":\"HS110(US)\",\"deviceId\":\"8006A1B2C3D4E5F60718293A4B5C6D7E8F901234\",\"oemId\":\"FFF22CFF774A0B89F7624BFC6F50D5DE\",\"hwId\":\"044A516EE63C875F9458DA25C2CCC5A0\",\"rssi\":-52,\"latitude_i\":0,\"longitude_i\":0,\"alias\":\"Coffee Maker\",\"status\":\"new\",\"mic_type\":\"IOT.SMARTPLUGSWITCH\",\"feature\":\"TIM:ENE\",\"mac\":\"{}\",\"updating\":0,\"led_off\":0,\"relay_state\":1,\"on_time\":5381,\"icon_hash\":\"\",\"dev_name\":\"Smart Wi-Fi Plug With Energy Monitoring\",\"active_mode\":\"none\",\"next_action\":{{\"type\":-1}},\"err_code\":0}}}}}}",
        machex(h.mac, ":", true)
    )
}

fn kasa(net: &mut Net, dev: &mut Dev, t0: u64) {
    let t = net.dhcp_join(dev, t0, "HS110", Some("udhcp 1.19.4"), PRL_UDHCPC);
    let t1 = net.ntp(dev, t + 1_200_000, "pool.ntp.org");
    let (t2, ips) = net.dns(dev, t1 + 300_000, "devs.tplinkcloud.com");
    let srv = net.internet(ips[0]);
    let mut c = net.tls_open(dev, t2, srv, 50443, &TLS_MBED, "devs.tplinkcloud.com");
    net.tls_exchange(dev, &mut c, 640, 220);
    while c.t + 60_000_000 < net.end {
        c.idle(59_000_000 + dev.rng.range(0, 2_000_000));
        net.tls_exchange(dev, &mut c, 90, 90);
    }
}

// ------------------------------------------------------------------ ecobee

fn ecobee(net: &mut Net, dev: &mut Dev, t0: u64) {
    let t = net.dhcp_join(dev, t0, "ecobee3-lite", None, &[1, 3, 6, 15, 28, 42]);
    let t1 = net.ntp(dev, t + 800_000, "pool.ntp.org");
    for tt in schedule(
        &mut dev.rng,
        t1 + 2_000_000,
        net.end,
        75_000_000,
        15_000_000,
    ) {
        net.cloud_tls(dev, tt, &TLS_MBED, "api.ecobee.com", &[(1_150, 420)]);
    }
}

// ------------------------------------------------------------------ Samsung TV

pub(crate) const TV_SERVER: &str = "SHP, UPnP/1.0, Samsung UPnP SDK/1.0";
pub(crate) const TV_UUID: &str = "uuid:0ee6b281-00fa-1000-a1b2-8c7712c43390";
const TV_UA: &str = "Mozilla/5.0 (SMART-TV; LINUX; Tizen 5.5) AppleWebKit/537.36 (KHTML, like Gecko) 69.0.3497.106.1/5.5 TV Safari/537.36";

fn tv(net: &mut Net, dev: &mut Dev, t0: u64) {
    let t = net.dhcp_join(dev, t0, "Samsung", None, PRL_CONNMAN);
    net.igmp_join(&dev.h, t + 90_000, &[SSDP_V4, MDNS_V4]);
    let h = dev.h;
    let dial = "urn:dial-multiscreen-org:service:dial:1";
    let mr = "urn:schemas-upnp-org:device:MediaRenderer:1";
    let dmr_uuid = "uuid:1be5f4a6-27d3-4b12-8f2e-8c7712c43390";
    let sport = dev.eport();
    for tt in schedule(&mut dev.rng, t + 3_000_000, net.end, 60_000_000, 4_000_000) {
        net.ssdp_notify(
            &h,
            tt,
            sport,
            &format!("http://{}:7678/nservice/", ipstr(h.ip)),
            TV_SERVER,
            "",
            &[
                ("upnp:rootdevice", &format!("{TV_UUID}::upnp:rootdevice")),
                (dial, &format!("{TV_UUID}::{dial}")),
            ],
        );
        net.ssdp_notify(
            &h,
            tt + 5_000,
            sport,
            &format!("http://{}:9197/dmr", ipstr(h.ip)),
            TV_SERVER,
            "",
            &[(mr, &format!("{dmr_uuid}::{mr}"))],
        );
    }
    for tt in schedule(
        &mut dev.rng,
        t + 4_000_000,
        net.end,
        300_000_000,
        10_000_000,
    ) {
        let (ta, ips) = net.dns(dev, tt, "time.samsungcloudsolution.com");
        let srv = net.internet(ips[0]);
        let req = format!(
            "GET /openapi/timesync?client=TimeAgent/1.0 HTTP/1.1\r\nHost: time.samsungcloudsolution.com\r\nUser-Agent: {TV_UA}\r\nAccept: */*\r\n\r\n"
        );
        let now = net.start_unix + (ta - net.start) / 1_000_000;
        let body = format!("{now}000");
        let rsp = format!(
            "HTTP/1.1 200 OK\r\nDate: {}\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n{body}",
            http_date(now),
            body.len()
        );
        net.tcp_exchange(dev, ta, srv, 80, &[(req.as_bytes(), rsp.as_bytes())]);
    }
    net.cloud_tls(
        dev,
        t + 6_000_000,
        &TLS_OPENSSL,
        "osb.samsungqbe.com",
        &[(800, 5_400)],
    );
    for tt in schedule(
        &mut dev.rng,
        t + 30_000_000,
        net.end,
        60_000_000,
        10_000_000,
    ) {
        net.cloud_tls(
            dev,
            tt,
            &TLS_OPENSSL,
            "acr-us-prd.samsungcloud.tv",
            &[(1_400, 260)],
        );
    }
}

// ------------------------------------------------------------------ Amazon Echo

fn echo(net: &mut Net, dev: &mut Dev, t0: u64) {
    let t = net.dhcp_join(
        dev,
        t0,
        "amazon-5e2c9d41f",
        Some("android-dhcp-9"),
        PRL_ANDROID,
    );
    net.igmp_join(&dev.h, t + 40_000, &[SSDP_V4, MDNS_V4]);
    let t1 = net.ntp(dev, t + 600_000, "ntp-g7g.amazon.com");
    // long-lived AVS downchannel, HTTP/2 PINGs every 5 minutes plus some requests
    let (t2, ips) = net.dns(dev, t1 + 200_000, "avs-alexa-na.amazon.com");
    let srv = net.internet(ips[0]);
    let mut c = net.tls_open(dev, t2, srv, 443, &TLS_ANDROID, "avs-alexa-na.amazon.com");
    net.tls_exchange(dev, &mut c, 1_300, 900);
    while c.t + 45_000_000 < net.end {
        c.idle(44_000_000 + dev.rng.range(0, 4_000_000));
        net.tls_exchange(dev, &mut c, 46, 46);
    }
    for tt in schedule(
        &mut dev.rng,
        t + 15_000_000,
        net.end,
        90_000_000,
        20_000_000,
    ) {
        net.cloud_tls(
            dev,
            tt,
            &TLS_ANDROID,
            "device-metrics-us.amazon.com",
            &[(2_600, 180)],
        );
    }
    net.cloud_tls(
        dev,
        t + 8_000_000,
        &TLS_ANDROID,
        "api.amazonalexa.com",
        &[(700, 3_900)],
    );
    // Echo discovers Hue bridges over SSDP, and reads the description once
    let hue = host(Role::Hue);
    let nas = host(Role::Nas);
    let sport = dev.eport();
    let st = "urn:schemas-upnp-org:device:basic:1";
    let mut first = true;
    for tt in schedule(
        &mut dev.rng,
        t + 20_000_000,
        net.end,
        120_000_000,
        10_000_000,
    ) {
        let msg = format!(
            "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 3\r\nST: {st}\r\n\r\n"
        );
        let m = mcast_host(SSDP_V4);
        net.udp_ttl(tt, &dev.h, &m, 4, sport, 1900, msg.as_bytes());
        let r = hue_ssdp_response(st);
        let tr = tt + 40_000 + dev.rng.range(0, 900_000);
        net.udp(tr, &hue, &dev.h, 1900, sport, r.as_bytes());
        let nr = format!(
            "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nEXT:\r\nLOCATION: http://{}:5000/ssdp/desc-DSM-eth0.xml\r\nSERVER: Synology/DSM/{}\r\nST: {st}\r\nUSN: {NAS_UUID}::{st}\r\n\r\n",
            ipstr(nas.ip),
            ipstr(nas.ip)
        );
        net.udp(
            tr + 200_000 + dev.rng.range(0, 900_000),
            &nas,
            &dev.h,
            1900,
            sport,
            nr.as_bytes(),
        );
        if first {
            first = false;
            let tq = net.arp(tr + 50_000, &dev.h, &hue);
            let req = format!(
                "GET /description.xml HTTP/1.1\r\nHost: {}:80\r\nConnection: close\r\nUser-Agent: Dalvik/2.1.0 (Linux; U; Android 9; AEOBC Build/PS7233)\r\n\r\n",
                ipstr(hue.ip)
            );
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<root xmlns=\"urn:schemas-upnp-org:device-1-0\">\n<specVersion><major>1</major><minor>0</minor></specVersion>\n<URLBase>http://{ip}:80/</URLBase>\n<device>\n<deviceType>urn:schemas-upnp-org:device:Basic:1</deviceType>\n<friendlyName>Philips hue ({ip})</friendlyName>\n<manufacturer>Signify</manufacturer>\n<manufacturerURL>http://www.philips-hue.com</manufacturerURL>\n<modelDescription>Philips hue Personal Wireless Lighting</modelDescription>\n<modelName>Philips hue bridge 2015</modelName>\n<modelNumber>BSB002</modelNumber>\n<modelURL>http://www.philips-hue.com</modelURL>\n<serialNumber>{sn}</serialNumber>\n<UDN>uuid:2f402f80-da50-11e1-9b23-{sn}</UDN>\n</device>\n</root>\n",
                ip = ipstr(hue.ip),
                sn = machex(hue.mac, "", false)
            );
            let rsp = format!(
                "HTTP/1.1 200 OK\r\nCache-Control: no-store, no-cache, must-revalidate, post-check=0, pre-check=0\r\nPragma: no-cache\r\nExpires: Mon, 1 Aug 2011 09:00:00 GMT\r\nConnection: close\r\nAccess-Control-Max-Age: 3600\r\nAccess-Control-Allow-Origin: *\r\nContent-type: text/xml\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            net.tcp_exchange(dev, tq, hue, 80, &[(req.as_bytes(), rsp.as_bytes())]);
        }
    }
}

// ------------------------------------------------------------------ Synology NAS

pub(crate) const NAS_UUID: &str = "uuid:73796E6F-6473-6D00-0000-00113284c25f";

fn nas_mdns(h: &Host) -> Vec<u8> {
    let target = "DiskStation.local";
    let mac = format!("mac_address={}", machex(h.mac, ":", false));
    app::mdns_response(
        &[
            Rr::Ptr("_smb._tcp.local", "DiskStation._smb._tcp.local"),
            Rr::Ptr(
                "_afpovertcp._tcp.local",
                "DiskStation._afpovertcp._tcp.local",
            ),
            Rr::Ptr("_http._tcp.local", "DiskStation._http._tcp.local"),
            Rr::Ptr(
                "_device-info._tcp.local",
                "DiskStation._device-info._tcp.local",
            ),
        ],
        &[
            Rr::Srv("DiskStation._smb._tcp.local", 445, target),
            Rr::Srv("DiskStation._afpovertcp._tcp.local", 548, target),
            Rr::Srv("DiskStation._http._tcp.local", 5000, target),
            Rr::Txt(
                "DiskStation._http._tcp.local",
                &[
                    "vendor=Synology",
                    "model=DS220+",
                    "serial=2150PBN123456",
                    "version_major=7",
                    "version_minor=2",
                    "version_build=64570",
                    "admin_port=5000",
                    "secure_admin_port=5001",
                    &mac,
                ],
            ),
            Rr::Txt("DiskStation._device-info._tcp.local", &["model=Xserve"]),
            Rr::A(target, h.ip),
        ],
    )
}

fn nas(net: &mut Net, dev: &mut Dev, t0: u64) {
    let t = net.dhcp_join(dev, t0, "DiskStation", None, PRL_SYNOLOGY);
    net.igmp_join(&dev.h, t + 30_000, &[MDNS_V4, SSDP_V4]);
    let h = dev.h;
    let m = nas_mdns(&h);
    for tt in schedule(
        &mut dev.rng,
        t + 1_000_000,
        net.end,
        240_000_000,
        20_000_000,
    ) {
        net.mdns(&h, tt, &m, false);
    }
    let loc = format!("http://{}:5000/ssdp/desc-DSM-eth0.xml", ipstr(h.ip));
    let server = format!("Synology/DSM/{}", ipstr(h.ip));
    let basic = "urn:schemas-upnp-org:device:Basic:1";
    let sport = dev.eport();
    for tt in schedule(&mut dev.rng, t + 2_000_000, net.end, 90_000_000, 6_000_000) {
        net.ssdp_notify(
            &h,
            tt,
            sport,
            &loc,
            &server,
            "",
            &[
                ("upnp:rootdevice", &format!("{NAS_UUID}::upnp:rootdevice")),
                (NAS_UUID, NAS_UUID),
                (basic, &format!("{NAS_UUID}::{basic}")),
            ],
        );
    }
    let t1 = net.ntp(dev, t + 1_500_000, "time.google.com");
    net.cloud_tls(
        dev,
        t1 + 3_000_000,
        &TLS_OPENSSL,
        "update7.synology.com",
        &[(500, 6_800)],
    );
    for tt in schedule(
        &mut dev.rng,
        t1 + 10_000_000,
        net.end,
        150_000_000,
        20_000_000,
    ) {
        net.cloud_tls(
            dev,
            tt,
            &TLS_OPENSSL,
            "global.quickconnect.to",
            &[(900, 700)],
        );
    }
    // Surveillance Station polls the camera's RTSP stream description
    let cam = host(Role::Camera);
    let mut cseq = 2;
    for tt in schedule(
        &mut dev.rng,
        t1 + 25_000_000,
        net.end,
        120_000_000,
        5_000_000,
    ) {
        let ta = net.arp(tt, &h, &cam);
        let url = format!("rtsp://{}:554/Streaming/Channels/101", ipstr(cam.ip));
        let now = http_date(net.start_unix + (ta - net.start) / 1_000_000);
        let ua = "User-Agent: LIVE555 Streaming Media v2018.08.28";
        let o = format!("OPTIONS {url} RTSP/1.0\r\nCSeq: {cseq}\r\n{ua}\r\n\r\n");
        let or = format!(
            "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nPublic: OPTIONS, DESCRIBE, PLAY, PAUSE, SETUP, TEARDOWN, SET_PARAMETER, GET_PARAMETER\r\nDate:  {now}\r\n\r\n"
        );
        let d1 = format!(
            "DESCRIBE {url} RTSP/1.0\r\nCSeq: {}\r\n{ua}\r\nAccept: application/sdp\r\n\r\n",
            cseq + 1
        );
        let dr1 = format!(
            "RTSP/1.0 401 Unauthorized\r\nCSeq: {}\r\nWWW-Authenticate: Digest realm=\"IP Camera(C6214)\", nonce=\"{:032x}\", stale=\"FALSE\"\r\nDate:  {now}\r\n\r\n",
            cseq + 1,
            dev.rng.next_u64()
        );
        let d2 = format!(
            "DESCRIBE {url} RTSP/1.0\r\nCSeq: {}\r\nAuthorization: Digest username=\"surveillance\", realm=\"IP Camera(C6214)\", nonce=\"{:032x}\", uri=\"{url}\", response=\"{:032x}\"\r\n{ua}\r\nAccept: application/sdp\r\n\r\n",
            cseq + 2,
            dev.rng.next_u64(),
            dev.rng.next_u64()
        );
        let sdp = format!(
            "v=0\r\no=- 1109162014219182 1109162014219192 IN IP4 {ip}\r\ns=Media Presentation\r\ne=NONE\r\nb=AS:5050\r\nt=0 0\r\na=control:{url}/\r\nm=video 0 RTP/AVP 96\r\nc=IN IP4 0.0.0.0\r\nb=AS:5000\r\na=recvonly\r\na=x-dimensions:2688,1520\r\na=control:{url}/trackID=1\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 profile-level-id=420029; packetization-mode=1\r\n",
            ip = ipstr(cam.ip)
        );
        let dr2 = format!(
            "RTSP/1.0 200 OK\r\nCSeq: {}\r\nContent-Type: application/sdp\r\nContent-Base: {url}/\r\nContent-Length: {}\r\n\r\n{sdp}",
            cseq + 2,
            sdp.len()
        );
        cseq += 3;
        net.tcp_exchange(
            dev,
            ta,
            cam,
            554,
            &[
                (o.as_bytes(), or.as_bytes()),
                (d1.as_bytes(), dr1.as_bytes()),
                (d2.as_bytes(), dr2.as_bytes()),
            ],
        );
    }
}

// ------------------------------------------------------------------ Windows laptop

fn laptop(net: &mut Net, dev: &mut Dev, t0: u64) {
    let t = net.dhcp_join(dev, t0, "DESKTOP-7H3K2LQ", Some("MSFT 5.0"), PRL_WIN10);
    net.igmp_join(&dev.h, t + 20_000, &[MDNS_V4, SSDP_V4]);
    let h = dev.h;
    // Network Connectivity Status Indicator
    let (ta, ips) = net.dns(dev, t + 300_000, "www.msftconnecttest.com");
    let srv = net.internet(ips[0]);
    let req = "GET /connecttest.txt HTTP/1.1\r\nConnection: Close\r\nUser-Agent: Microsoft NCSI\r\nHost: www.msftconnecttest.com\r\n\r\n";
    let rsp = "HTTP/1.1 200 OK\r\nContent-Length: 22\r\nContent-Type: text/plain\r\nCache-Control: max-age=30,must-revalidate\r\n\r\nMicrosoft Connect Test";
    let tb = net.tcp_exchange(dev, ta, srv, 80, &[(req.as_bytes(), rsp.as_bytes())]);
    net.cloud_tls(
        dev,
        tb + 400_000,
        &TLS_CHROME,
        "login.live.com",
        &[(2_100, 7_300)],
    );
    net.cloud_tls(
        dev,
        tb + 1_900_000,
        &TLS_CHROME,
        "settings-win.data.microsoft.com",
        &[(1_500, 2_900)],
    );
    // browsing
    let sites = [
        "www.bing.com",
        "outlook.office365.com",
        "github.com",
        "www.google.com",
        "edge.microsoft.com",
        "docs.github.com",
    ];
    for tt in schedule(
        &mut dev.rng,
        t + 12_000_000,
        net.end,
        25_000_000,
        25_000_000,
    ) {
        let site = *dev.rng.pick(&sites);
        let n = 1 + dev.rng.range(0, 4) as usize;
        let ex: Vec<(usize, usize)> = (0..n)
            .map(|_| {
                (
                    400 + dev.rng.range(0, 900) as usize,
                    1_000 + dev.rng.range(0, 24_000) as usize,
                )
            })
            .collect();
        net.cloud_tls(dev, tt, &TLS_CHROME, site, &ex);
    }
    // Chrome looks for cast targets: mDNS and DIAL over SSDP
    let cc = host(Role::Chromecast);
    let tvh = host(Role::Tv);
    let sport = dev.eport();
    for tt in schedule(
        &mut dev.rng,
        t + 5_000_000,
        net.end,
        120_000_000,
        10_000_000,
    ) {
        let q = app::mdns_query(&[("_googlecast._tcp.local", app::QTYPE_PTR)]);
        net.mdns(&h, tt, &q, false);
        net.mdns(
            &cc,
            tt + 3_000 + dev.rng.range(0, 80_000),
            &chromecast_mdns(&cc),
            true,
        );
        let st = "urn:dial-multiscreen-org:service:dial:1";
        let ms = format!(
            "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: {st}\r\nUSER-AGENT: Microsoft Edge/119.0.2151.97 Windows\r\n\r\n"
        );
        let m = mcast_host(SSDP_V4);
        net.udp_ttl(tt + 1_000, &h, &m, 4, sport, 1900, ms.as_bytes());
        let now = http_date(net.start_unix + (tt - net.start) / 1_000_000);
        let r = format!(
            "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nDATE: {now}\r\nEXT:\r\nLOCATION: http://{}:7678/nservice/\r\nSERVER: {TV_SERVER}\r\nST: {st}\r\nUSN: {TV_UUID}::{st}\r\nCONTENT-LENGTH: 0\r\n\r\n",
            ipstr(tvh.ip)
        );
        net.udp(
            tt + 30_000 + dev.rng.range(0, 600_000),
            &tvh,
            &h,
            1900,
            sport,
            r.as_bytes(),
        );
    }
    // printer discovery and a Get-Printer-Attributes
    let pr = host(Role::Printer);
    let q = app::mdns_query(&[("_ipp._tcp.local", app::QTYPE_PTR)]);
    net.mdns(&h, t + 40_000_000, &q, false);
    net.mdns(&pr, t + 40_050_000, &printer_mdns(&pr), false);
    let tp = net.arp(t + 41_000_000, &h, &pr);
    let (rq, rs) = ipp_get_attributes();
    net.tcp_exchange(dev, tp, pr, 631, &[(&rq, &rs)]);
    // the camera's web UI
    let cam = host(Role::Camera);
    let tc = net.arp(t + 70_000_000, &h, &cam);
    let unix = net.start_unix + (tc - net.start) / 1_000_000;
    let ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36 Edg/119.0.2151.97";
    let g1 = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nConnection: keep-alive\r\nUpgrade-Insecure-Requests: 1\r\nUser-Agent: {ua}\r\nAccept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Encoding: gzip, deflate\r\nAccept-Language: en-US,en;q=0.9\r\n\r\n",
        ipstr(cam.ip)
    );
    let g2 = g1.replacen("GET / ", &format!("GET /doc/page/login.asp?_{unix} "), 1);
    let r1 = camera_http(unix, "/");
    let r2 = camera_http(unix, "/doc/page/login.asp");
    net.tcp_exchange(
        dev,
        tc,
        cam,
        80,
        &[
            (g1.as_bytes(), r1.as_bytes()),
            (g2.as_bytes(), r2.as_bytes()),
        ],
    );
    // Kasa app discovery broadcast (UDP 9999) and an energy-meter poll over TCP 9999
    let kasa_h = host(Role::Kasa);
    let bc = net::bcast_host();
    let kport = dev.eport();
    for tt in schedule(&mut dev.rng, t + 8_000_000, net.end, 60_000_000, 3_000_000) {
        let q = app::kasa_encrypt(b"{\"system\":{\"get_sysinfo\":{}}}");
        net.udp(tt, &h, &bc, kport, 9999, &q);
        let r = app::kasa_encrypt(kasa_sysinfo(&kasa_h).as_bytes());
        net.udp(
            tt + 8_000 + dev.rng.range(0, 40_000),
            &kasa_h,
            &h,
            9999,
            kport,
            &r,
        );
    }
    let tk = net.arp(t + 50_000_000, &h, &kasa_h);
    let frame = |s: &str| {
        let e = app::kasa_encrypt(s.as_bytes());
        let mut v = (e.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(&e);
        v
    };
    let q = frame("{\"emeter\":{\"get_realtime\":{}}}");
    let r = frame(
        "{\"emeter\":{\"get_realtime\":{\"voltage_mv\":121314,\"current_ma\":7402,\"power_mw\":893210,\"total_wh\":15327,\"err_code\":0}}}",
    );
    net.tcp_exchange(dev, tk, kasa_h, 9999, &[(&q, &r)]);
}

// ------------------------------------------------------------------ Shelly H&T (MQTT)

pub(crate) const SHELLY_MQTT_USER: &str = "shelly";
pub(crate) const SHELLY_MQTT_PASS: &str = "Gr33nhouse!2026";

fn shelly(net: &mut Net, dev: &mut Dev, t0: u64) {
    let t = net.dhcp_join(dev, t0, "shellyht-A1B2C3", None, PRL_LWIP);
    let nas = host(Role::Nas);
    let id = "shellyht-A1B2C3";
    let mut temp = 2130i64;
    for tt in schedule(&mut dev.rng, t + 500_000, net.end, 120_000_000, 3_000_000) {
        // woke from deep sleep: empty ARP cache
        let ta = net.arp(tt, &dev.h, &nas);
        let d_c = 1_500 + dev.rng.range(0, 6_000);
        let d_s = net.lan_delay();
        let port = dev.eport();
        let mut c = Conn::open(
            &mut net.tl,
            &mut dev.rng,
            dev.h,
            port,
            nas,
            1883,
            ta,
            d_c,
            d_s,
        );
        let conn = app::mqtt_connect(&app::MqttConnect {
            client_id: id,
            username: SHELLY_MQTT_USER,
            password: SHELLY_MQTT_PASS,
            will: Some(("shellies/shellyht-A1B2C3/online", "false")),
            keepalive: 60,
        });
        c.send(&mut net.tl, true, &conn);
        c.send(&mut net.tl, false, &[0x20, 0x02, 0x00, 0x00]);
        temp += dev.rng.range(0, 21) as i64 - 10;
        let hum = 480 + dev.rng.range(0, 30);
        let mut msgs = vec![
            app::mqtt_publish("shellies/shellyht-A1B2C3/online", b"true", true),
            app::mqtt_publish(
                "shellies/shellyht-A1B2C3/sensor/temperature",
                format!("{}.{:02}", temp / 100, temp % 100).as_bytes(),
                false,
            ),
            app::mqtt_publish(
                "shellies/shellyht-A1B2C3/sensor/humidity",
                format!("{}.{}", hum / 10, hum % 10).as_bytes(),
                false,
            ),
            app::mqtt_publish("shellies/shellyht-A1B2C3/sensor/battery", b"87", false),
        ];
        msgs.push(app::mqtt_publish(
            "shellies/announce",
            format!("{{\"id\":\"{id}\",\"model\":\"SHHT-1\",\"mac\":\"E868E7A1B2C3\",\"ip\":\"{}\",\"new_fw\":false,\"fw_ver\":\"20230913-112531/v1.14.0-gcb84623\"}}", ipstr(dev.h.ip)).as_bytes(),
            false,
        ));
        for m in &msgs {
            c.send(&mut net.tl, true, m);
        }
        c.ack(&mut net.tl, false);
        c.send(&mut net.tl, true, &[0xe0, 0x00]);
        c.close(&mut net.tl, true);
    }
}
