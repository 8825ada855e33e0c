//! `palisade sense` for real, in network namespaces made here (never any address outside them):
//!
//! ```text
//!   cam  (10.0.1.2) --+
//!                     br0 (10.0.1.1) gw (nftables, sensor on br0) 10.0.2.1 --- lan (10.0.2.2 server, 10.0.2.3 hub)
//!   peer (10.0.1.3) --+
//! ```
//!
//! The camera runs a self-made Mirai-style telnet scan (TCP SYNs whose sequence number is the
//! destination address) against the LAN; the live sensor raises `botnet.mirai.scan`, its responder
//! quarantines the camera in gw's nftables (routed `inet` and bridged `bridge` tables), the
//! camera's packets are then dropped (to the LAN, the gateway and its bridge neighbour) while the
//! peer's pass, and `mud release` restores them. The alert-to-enforcement latency is measured (bar ≤ 2 s).
//!
//! Skips with a message without root/ip/nft/ping/python3, unless PALISADE_REQUIRE_ORACLES=1.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_palisade"))
}

fn have(what: &str, probe: &[&str]) -> bool {
    let ok = Command::new(probe[0])
        .args(&probe[1..])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("PALISADE_REQUIRE_ORACLES").as_deref() != Ok("1"),
            "{what} is required (PALISADE_REQUIRE_ORACLES=1): run as root with iproute2, nftables, iputils-ping, python3"
        );
        eprintln!("SKIP: {what} unavailable ({})", probe.join(" "));
    }
    ok
}

/// A network namespace removed on drop.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Option<Netns> {
        let name = format!("pals{tag}{}", std::process::id());
        Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success())
            .then_some(Netns(name))
    }
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0]).args(args);
        c
    }
    fn run(&self, cmd: &str) -> Output {
        let args: Vec<&str> = cmd.split_whitespace().collect();
        self.cmd(&args).output().expect("ip netns exec")
    }
    fn sh(&self, cmd: &str) {
        let o = self.run(cmd);
        assert!(
            o.status.success(),
            "{}: {cmd}: {}",
            self.0,
            String::from_utf8_lossy(&o.stderr)
        );
    }
    fn ping(&self, to: &str) -> bool {
        self.run(&format!("ping -c 1 -W 1 {to}")).status.success()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn host(cmd: &str) {
    let args: Vec<&str> = cmd.split_whitespace().collect();
    let o = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        o.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A veth pair `{tag}a{id}` in `a` (address `net.1/24`) and `{tag}b{id}` in `b` (`net.2/24`),
/// both up, with `a` able to ping `b`; returns the two interface names.
fn veth_pair(a: &Netns, b: &Netns, tag: &str, net: &str) -> (String, String) {
    let id = std::process::id() % 100_000;
    let (va, vb) = (format!("{tag}a{id}"), format!("{tag}b{id}"));
    host(&format!(
        "ip link add {va} netns {} type veth peer name {vb} netns {}",
        a.0, b.0
    ));
    a.sh(&format!("ip addr add {net}.1/24 dev {va}"));
    b.sh(&format!("ip addr add {net}.2/24 dev {vb}"));
    a.sh(&format!("ip link set {va} up"));
    b.sh(&format!("ip link set {vb} up"));
    let t0 = Instant::now();
    while !a.ping(&format!("{net}.2")) {
        assert!(t0.elapsed() < Duration::from_secs(10), "veth link");
    }
    (va, vb)
}

/// Kills (SIGTERM) and reaps a child on drop.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// Self-made Mirai-style scanner: TCP SYNs to port 23 (every tenth to 2323) with
/// seq == destination address, over a raw socket, `rate` per second for `secs` seconds.
const SCANNER: &str = r#"
import socket, struct, sys, time
src, net, rate, secs = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
def csum(b):
    if len(b) % 2: b += b'\0'
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff
end = time.time() + secs
i = 0
while time.time() < end:
    dst = '%s.%d' % (net, 2 + i % 200)
    dport = 2323 if i % 10 == 9 else 23
    seq = struct.unpack('!I', socket.inet_aton(dst))[0]
    hdr = struct.pack('!HHIIBBHHH', 40000 + i % 20000, dport, seq, 0, 5 << 4, 0x02, 14600, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!BBH', 0, 6, len(hdr))
    hdr = hdr[:16] + struct.pack('!H', csum(pseudo + hdr)) + hdr[18:]
    s.sendto(hdr, (dst, 0))
    i += 1
    time.sleep(1.0 / rate)
"#;

fn events(path: &Path) -> Vec<Value> {
    let Ok(f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    std::io::BufReader::new(f)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect()
}

fn wait_for(path: &Path, kind: &str, timeout: Duration) -> Option<Value> {
    let t0 = Instant::now();
    while t0.elapsed() < timeout {
        if let Some(e) = events(path).into_iter().find(|e| e["type"] == kind) {
            return Some(e);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("palisade-sense-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn live_mirai_scan_is_quarantined_within_the_latency_bar() {
    for (what, probe) in [
        ("ip netns", &["ip", "netns", "list"][..]),
        ("nft", &["nft", "--version"][..]),
        ("ping", &["ping", "-V"][..]),
        ("python3", &["python3", "--version"][..]),
    ] {
        if !have(what, probe) {
            return;
        }
    }
    let (Some(cam), Some(peer), Some(gw), Some(lan)) = (
        Netns::new("c"),
        Netns::new("p"),
        Netns::new("g"),
        Netns::new("l"),
    ) else {
        assert!(
            std::env::var("PALISADE_REQUIRE_ORACLES").as_deref() != Ok("1"),
            "cannot create namespaces"
        );
        eprintln!("SKIP: cannot create network namespaces (not root?)");
        return;
    };
    let id = std::process::id() % 100_000;
    let [c0, c1, p0, p1, l0, l1] =
        ["c0", "c1", "p0", "p1", "l0", "l1"].map(|t| format!("s{t}{id}"));
    host(&format!(
        "ip link add {c0} netns {} type veth peer name {c1} netns {}",
        cam.0, gw.0
    ));
    host(&format!(
        "ip link add {p0} netns {} type veth peer name {p1} netns {}",
        peer.0, gw.0
    ));
    host(&format!(
        "ip link add {l0} netns {} type veth peer name {l1} netns {}",
        gw.0, lan.0
    ));
    for (ns, ifn, addr) in [(&cam, &c0, "10.0.1.2/24"), (&peer, &p0, "10.0.1.3/24")] {
        ns.sh(&format!("ip addr add {addr} dev {ifn}"));
        ns.sh(&format!("ip link set {ifn} up"));
        ns.sh("ip link set lo up");
        ns.sh("ip route add default via 10.0.1.1");
    }
    gw.sh("ip link add br0 type bridge");
    gw.sh(&format!("ip link set {c1} master br0"));
    gw.sh(&format!("ip link set {p1} master br0"));
    gw.sh("ip addr add 10.0.1.1/24 dev br0");
    gw.sh(&format!("ip addr add 10.0.2.1/24 dev {l0}"));
    for i in ["br0", &c1, &p1, &l0, "lo"] {
        gw.sh(&format!("ip link set {i} up"));
    }
    gw.sh("sysctl -q -w net.ipv4.ip_forward=1");
    lan.sh(&format!("ip addr add 10.0.2.2/24 dev {l1}"));
    lan.sh(&format!("ip addr add 10.0.2.3/24 dev {l1}"));
    lan.sh(&format!("ip link set {l1} up"));
    lan.sh("ip route add default via 10.0.2.1");
    // The bridge forwards only after its ports leave the learning state.
    let t0 = Instant::now();
    while !(cam.ping("10.0.2.2") && peer.ping("10.0.2.2")) {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "baseline connectivity"
        );
    }
    let cam_mac = {
        let o = cam.run(&format!("cat /sys/class/net/{c0}/address"));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };

    let dir = tmp("quarantine");
    let ev_path = dir.join("events.ndjson");
    let mut sense = gw.cmd(&[env!("CARGO_BIN_EXE_palisade"), "sense"]);
    sense
        .args(["--interface", "br0", "--no-flows", "--respond"])
        .args([
            "--respond-kind",
            "botnet.mirai.scan",
            "--hub-ip",
            "10.0.2.3",
        ])
        .args(["--quarantine-ttl", "600", "--stats-interval", "1", "-o"])
        .arg(&ev_path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let sensor = Reap(sense.spawn().expect("palisade sense"));
    assert!(
        wait_for(&ev_path, "start", Duration::from_secs(10)).is_some(),
        "the sensor did not start"
    );
    // The zone is loaded and empty: nothing is quarantined yet (routed and bridged paths).
    assert!(cam.ping("10.0.2.2"), "not yet quarantined");
    assert!(cam.ping("10.0.1.3"), "lateral path before quarantine");

    let scanner = Reap(
        cam.cmd(&["python3", "-c", SCANNER, "10.0.1.2", "10.0.2", "200", "4"])
            .stdout(Stdio::null())
            .spawn()
            .expect("scanner"),
    );
    let resp = wait_for(&ev_path, "response", Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no response within 10 s; events: {:?}", events(&ev_path)));
    drop(scanner);
    eprintln!("response: {resp}");
    assert_eq!(resp["kind"], "botnet.mirai.scan");
    assert!(resp.get("error").is_none(), "nft failed: {resp}");
    assert_eq!(resp["device"], cam_mac.as_str());
    assert_eq!(resp["ips"][0], "10.0.1.2");
    let latency = resp["enforce_latency_ms"].as_f64().expect("latency figure");
    assert!(
        (0.0..=2000.0).contains(&latency),
        "first attack packet to rule active: {latency} ms (bar 2000 ms)"
    );
    let set = gw.run("nft list set inet palisade_quarantine q_v4");
    assert!(
        String::from_utf8_lossy(&set.stdout).contains("10.0.1.2"),
        "the camera is in the quarantine set"
    );

    // Enforcement: the camera is cut off (LAN server and gateway), the peer is not, the
    // hub stays reachable from quarantine.
    assert!(!cam.ping("10.0.2.2"), "quarantined camera reaches the LAN");
    assert!(
        !cam.ping("10.0.1.1"),
        "quarantined camera reaches the gateway"
    );
    assert!(peer.ping("10.0.2.2"), "the peer must still pass");
    assert!(
        cam.ping("10.0.2.3"),
        "the hub stays reachable from quarantine"
    );
    // Lateral movement inside the LAN (bridged, never routed) is cut too, both ways.
    assert!(
        !cam.ping("10.0.1.3"),
        "quarantined camera reaches its LAN neighbour"
    );
    assert!(
        !peer.ping("10.0.1.2"),
        "the neighbour reaches the quarantined camera"
    );

    // A clean stop writes the final stats (capture counters, no kernel drops at this rate).
    drop(sensor);
    let all = events(&ev_path);
    let fin = all
        .iter()
        .find(|e| e["type"] == "stats" && e["final"] == true)
        .unwrap_or_else(|| panic!("no final stats: {all:?}"));
    assert!(
        fin["capture"]["packets"].as_u64().unwrap_or(0) >= 10,
        "{fin}"
    );
    assert_eq!(fin["capture"]["kernel_drops"], 0, "{fin}");
    assert!(
        all.iter()
            .any(|e| e["type"] == "device" && e["mac"] == cam_mac.as_str()),
        "the camera is in the device events"
    );

    // Manual release restores the camera.
    let o = gw
        .cmd(&[env!("CARGO_BIN_EXE_palisade"), "mud", "release"])
        .args(["--mac", &cam_mac, "--ip", "10.0.1.2"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(cam.ping("10.0.2.2"), "release restores traffic");
    assert!(cam.ping("10.0.1.3"), "release restores the lateral path");
    assert!(peer.ping("10.0.2.2"));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = bin();
}

/// Sends `n` UDP datagrams of `payload` bytes to `dst` from inside namespace `ns`, paced at
/// `pps` per second (0: as fast as possible). Returns (sent, seconds taken).
fn blast(ns: &str, dst: &str, n: u64, pps: u64, payload: usize) -> (u64, f64) {
    use nix::sched::{CloneFlags, setns};
    let ns = format!("/run/netns/{ns}");
    let dst = dst.to_string();
    std::thread::spawn(move || {
        // setns changes only this thread's namespace; the socket is created inside it.
        let f = std::fs::File::open(&ns).expect("netns file");
        setns(&f, CloneFlags::CLONE_NEWNET).expect("setns");
        let s = std::net::UdpSocket::bind("0.0.0.0:0").expect("bind");
        s.connect(&dst).expect("connect");
        // sendmmsg: 64 datagrams per system call, so the generator is not the bottleneck.
        use nix::sys::socket::{ControlMessage, MsgFlags, MultiHeaders, SockaddrIn, sendmmsg};
        use std::os::fd::AsRawFd;
        const BATCH: usize = 64;
        let buf = vec![0x5au8; payload];
        let slices: Vec<[std::io::IoSlice<'_>; 1]> =
            (0..BATCH).map(|_| [std::io::IoSlice::new(&buf)]).collect();
        let addrs: Vec<Option<SockaddrIn>> = vec![None; BATCH];
        let mut headers = MultiHeaders::<SockaddrIn>::preallocate(BATCH, None);
        let no_cmsgs: &[ControlMessage<'_>] = &[];
        let t0 = Instant::now();
        let mut sent = 0u64;
        while sent < n {
            let want = (n - sent).min(BATCH as u64) as usize;
            if let Ok(r) = sendmmsg(
                s.as_raw_fd(),
                &mut headers,
                &slices[..want],
                &addrs[..want],
                no_cmsgs,
                MsgFlags::empty(),
            ) {
                sent += r.count() as u64;
            }
            if pps > 0 {
                let due = Duration::from_secs_f64(sent as f64 / pps as f64);
                if let Some(wait) = due.checked_sub(t0.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
        (sent, t0.elapsed().as_secs_f64())
    })
    .join()
    .expect("generator thread")
}

/// The faster generator: pre-built Ethernet/IPv4/UDP frames written straight to the veth with
/// an AF_PACKET socket (no UDP/IP stack; veth has no qdisc), 256 frames per `sendmmsg` call.
/// `dst_mac` is the receiver's. Returns (sent, seconds taken).
/// (`/sys/class/net` shows the namespace sysfs was mounted in, so the caller reads the
/// interface's MAC and index inside `ns`.)
fn blast_packet(
    ns: &str,
    (src_mac, ifindex): ([u8; 6], usize),
    dst_mac: [u8; 6],
    n: u64,
    pps: u64,
) -> (u64, f64) {
    use nix::sched::{CloneFlags, setns};
    use nix::sys::socket::{
        AddressFamily, ControlMessage, LinkAddr, MsgFlags, MultiHeaders, SockFlag, SockProtocol,
        SockType, recvfrom, sendmmsg, socket,
    };
    use std::os::fd::AsRawFd;
    let ns = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let f = std::fs::File::open(&ns).expect("netns file");
        setns(&f, CloneFlags::CLONE_NEWNET).expect("setns");
        // The link address of the interface, as the kernel reports it for a frame seen there
        // (nix builds a sockaddr_ll only from the kernel's): a tap, and one datagram out.
        let tap = socket(
            AddressFamily::Packet,
            SockType::Raw,
            SockFlag::empty(),
            SockProtocol::EthAll,
        )
        .expect("AF_PACKET tap");
        let probe = std::net::UdpSocket::bind("10.9.0.1:0").expect("probe socket");
        let mut to: Option<LinkAddr> = None;
        let mut buf = [0u8; 2048];
        for _ in 0..1000 {
            let _ = probe.send_to(b"probe", "10.9.0.2:9");
            if let Ok((_, Some(addr))) = recvfrom::<LinkAddr>(tap.as_raw_fd(), &mut buf)
                && addr.ifindex() == ifindex
            {
                to = Some(addr);
                break;
            }
        }
        drop(tap);
        let to = to.expect("the interface's link address");
        // 10.9.0.1:40000 -> 10.9.0.2:9, 18 bytes of payload (a 60-byte frame).
        let mut frame = Vec::with_capacity(60);
        frame.extend_from_slice(&dst_mac);
        frame.extend_from_slice(&src_mac);
        frame.extend_from_slice(&[0x08, 0x00]);
        let mut ip = [
            0x45u8, 0, 0, 46, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 9, 0, 1, 10, 9, 0, 2,
        ];
        let sum = ip
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum::<u32>();
        let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&[0x9c, 0x40, 0, 9, 0, 26, 0, 0]);
        frame.extend_from_slice(&[0x5a; 18]);
        // Protocol 0: this socket only sends.
        let tx = socket(
            AddressFamily::Packet,
            SockType::Raw,
            SockFlag::empty(),
            None,
        )
        .expect("AF_PACKET socket");
        const BATCH: usize = 256;
        let slices: Vec<[std::io::IoSlice<'_>; 1]> = (0..BATCH)
            .map(|_| [std::io::IoSlice::new(&frame)])
            .collect();
        let addrs: Vec<Option<LinkAddr>> = vec![Some(to); BATCH];
        let mut headers = MultiHeaders::<LinkAddr>::preallocate(BATCH, None);
        let no_cmsgs: &[ControlMessage<'_>] = &[];
        let t0 = Instant::now();
        let mut sent = 0u64;
        while sent < n {
            let want = (n - sent).min(BATCH as u64) as usize;
            if let Ok(r) = sendmmsg(
                tx.as_raw_fd(),
                &mut headers,
                &slices[..want],
                &addrs[..want],
                no_cmsgs,
                MsgFlags::empty(),
            ) {
                sent += r.count() as u64;
            }
            if pps > 0 {
                let due = Duration::from_secs_f64(sent as f64 / pps as f64);
                if let Some(wait) = due.checked_sub(t0.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
        (sent, t0.elapsed().as_secs_f64())
    })
    .join()
    .expect("generator thread")
}

/// Live capture throughput on a veth pair (`PALISADE_SENSE_PPS`, default 250000 packets/s;
/// `PALISADE_SENSE_PACKETS`, default 2000000; generator `PALISADE_SENSE_GEN` = `packet`
/// (default, AF_PACKET frames) or `udp`): every packet captured and no kernel drops.
/// A benchmark (needs a quiet machine), so not part of the default run.
#[test]
#[ignore = "benchmark: cargo test --release -p palisade --test sense -- --ignored"]
fn live_capture_sustains_the_rate_without_kernel_drops() {
    for (what, probe) in [
        ("ip netns", &["ip", "netns", "list"][..]),
        ("nft", &["nft", "--version"][..]),
    ] {
        if !have(what, probe) {
            return;
        }
    }
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (pps, n) = (
        env("PALISADE_SENSE_PPS", 250_000),
        env("PALISADE_SENSE_PACKETS", 2_000_000),
    );
    let (Some(a), Some(b)) = (Netns::new("ba"), Netns::new("bb")) else {
        eprintln!("SKIP: cannot create network namespaces (not root?)");
        return;
    };
    // The ping inside resolves the neighbour first, so every datagram leaves at once.
    let (va, vb) = veth_pair(&a, &b, "b", "10.9.0");
    // The receiver drops the datagrams before its IP stack (the packet socket sees them
    // first), so the generator's syscalls are not spent on port-unreachable handling.
    let o = b
        .cmd(&["nft", "-f", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .expect("stdin")
                .write_all(b"table ip sink { chain pre { type filter hook prerouting priority -300; policy drop; }; }\n")?;
            c.wait()
        });
    assert!(o.is_ok_and(|s| s.success()), "nft sink table");
    let dir = tmp("rate");
    let ev_path = dir.join("events.ndjson");
    let mut sense = b.cmd(&[env!("CARGO_BIN_EXE_palisade"), "sense"]);
    sense
        .args(["--interface", &vb, "--no-flows", "--stats-interval", "60"])
        .args(["--count", &n.to_string(), "--duration", "120", "-o"])
        .arg(&ev_path)
        .stdout(Stdio::null());
    let mut sensor = Reap(sense.spawn().expect("palisade sense"));
    assert!(wait_for(&ev_path, "start", Duration::from_secs(10)).is_some());
    // PALISADE_SENSE_GEN=udp: the UDP-socket generator (sendmmsg through the IP stack).
    let (sent, secs) = if std::env::var("PALISADE_SENSE_GEN").as_deref() == Ok("udp") {
        blast(&a.0, "10.9.0.2:9", n, pps, 18)
    } else {
        let read = |ns: &Netns, what: String| {
            String::from_utf8_lossy(&ns.run(&format!("cat /sys/class/net/{what}")).stdout)
                .trim()
                .to_string()
        };
        let mac = |text: String| -> [u8; 6] {
            let v: Vec<u8> = text
                .split(':')
                .map(|h| u8::from_str_radix(h, 16).expect("MAC hex"))
                .collect();
            v.try_into().expect("6-byte MAC")
        };
        let src = (
            mac(read(&a, format!("{va}/address"))),
            read(&a, format!("{va}/ifindex")).parse().expect("ifindex"),
        );
        let dst = mac(read(&b, format!("{vb}/address")));
        blast_packet(&a.0, src, dst, n, pps)
    };
    let _ = sensor.0.wait();
    let all = events(&ev_path);
    let fin = all
        .iter()
        .find(|e| e["type"] == "stats" && e["final"] == true)
        .unwrap_or_else(|| panic!("no final stats: {all:?}"))
        .clone();
    let got = fin["capture"]["packets"].as_u64().unwrap_or(0);
    let drops = fin["capture"]["kernel_drops"].as_u64().unwrap_or(u64::MAX);
    let dur = fin["summary"]["capture_duration_s"].as_f64().unwrap_or(0.0);
    let rate = got as f64 / dur.max(1e-9);
    let cpu = fin["cpu_s"].as_f64().unwrap_or(f64::NAN);
    eprintln!(
        "sent {sent} in {secs:.3} s ({:.0}/s); captured {got} over {dur:.3} s of packet time = {rate:.0} packets/s; kernel drops {drops}; sensor CPU {cpu:.3} s = {:.0} packets per CPU-second",
        sent as f64 / secs,
        got as f64 / cpu
    );
    assert_eq!(drops, 0, "kernel drops");
    assert!(got >= n, "captured {got} of {n}");
    // The bar is checked against what the generator managed to offer: on a small machine
    // the generator (sharing the cores with the kernel's veth path) is the limit.
    let offered = sent as f64 / secs;
    assert!(
        rate >= 200_000.0 || offered < 200_000.0,
        "offered {offered:.0}/s but sustained only {rate:.0} packets/s (bar 200000)"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--bpf` (a `tcpdump -ddd` program) runs in the kernel: only IPv4 TCP reaches the sensor.
#[test]
fn bpf_program_filters_in_the_kernel() {
    for (what, probe) in [
        ("ip netns", &["ip", "netns", "list"][..]),
        ("ping", &["ping", "-V"][..]),
        ("python3", &["python3", "--version"][..]),
    ] {
        if !have(what, probe) {
            return;
        }
    }
    let (Some(a), Some(b)) = (Netns::new("fa"), Netns::new("fb")) else {
        eprintln!("SKIP: cannot create network namespaces (not root?)");
        return;
    };
    let (_, vb) = veth_pair(&a, &b, "f", "10.9.1");
    // tcpdump -ddd 'ip and tcp' (Ethernet).
    let prog = "6,40 0 0 12,21 0 3 2048,48 0 0 23,21 0 1 6,6 0 0 262144,6 0 0 0";
    let dir = tmp("bpf");
    let ev_path = dir.join("events.ndjson");
    let mut sense = b.cmd(&[env!("CARGO_BIN_EXE_palisade"), "sense"]);
    sense
        .args(["--interface", &vb, "--bpf", prog, "-o"])
        .arg(&ev_path)
        .stdout(Stdio::null());
    let sensor = Reap(sense.spawn().expect("palisade sense"));
    assert!(wait_for(&ev_path, "start", Duration::from_secs(10)).is_some());
    // Not TCP: 100 UDP datagrams and two pings.
    blast(&a.0, "10.9.1.2:9", 100, 0, 18);
    assert!(a.ping("10.9.1.2") && a.ping("10.9.1.2"));
    // TCP: three refused connections (SYN, RST each).
    for _ in 0..3 {
        let _ = a
            .cmd(&[
                "python3",
                "-c",
                "import socket\ntry: socket.create_connection(('10.9.1.2', 7), 1)\nexcept OSError: pass",
            ])
            .output();
    }
    std::thread::sleep(Duration::from_millis(300));
    drop(sensor);
    let all = events(&ev_path);
    let fin = all
        .iter()
        .find(|e| e["type"] == "stats" && e["final"] == true)
        .unwrap_or_else(|| panic!("no final stats: {all:?}"));
    let got = fin["capture"]["packets"].as_u64().unwrap_or(0);
    assert_eq!(got, 6, "only the 3 SYNs and 3 RSTs pass the filter: {fin}");
    // A malformed program is a clear error naming the item.
    let o = bin()
        .args(["sense", "--interface", "lo", "--bpf", "2,6 0 0"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("BPF program") && err.contains("item 2"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `sense --nats`: live events go to a real nats-server (JetStream) and a `palisade worker`
/// stores them; the scanning camera and its `botnet.mirai.scan` alert arrive in the store.
/// Bus, worker and sensor all run inside the receiving namespace (the scanner's traffic never
/// leaves the namespaces).
#[test]
fn live_events_reach_the_store_through_nats() {
    for (what, probe) in [
        ("ip netns", &["ip", "netns", "list"][..]),
        ("ping", &["ping", "-V"][..]),
        ("python3", &["python3", "--version"][..]),
        ("nats-server", &["nats-server", "--version"][..]),
    ] {
        if !have(what, probe) {
            return;
        }
    }
    let (Some(a), Some(b)) = (Netns::new("na"), Netns::new("nb")) else {
        eprintln!("SKIP: cannot create network namespaces (not root?)");
        return;
    };
    let (va, vb) = veth_pair(&a, &b, "n", "10.9.7");
    b.sh("ip link set lo up");
    a.sh("ip route add default via 10.9.7.2");
    let cam_mac = {
        let o = a.run(&format!("cat /sys/class/net/{va}/address"));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let dir = tmp("nats");
    let url = "nats://127.0.0.1:14899";
    let nats = Reap(
        b.cmd(&[
            "nats-server",
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            "14899",
            "-sd",
        ])
        .arg(dir.join("js"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server"),
    );
    let hub_dir = dir.join("hub");
    let worker = Reap(
        b.cmd(&[env!("CARGO_BIN_EXE_palisade"), "worker", "--nats", url])
            .args(["--stream", "LIVE", "--durable", "hub", "--batch", "50"])
            .arg("--data-dir")
            .arg(&hub_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("palisade worker"),
    );
    // The worker creates the stream; give it (and the server) a moment.
    std::thread::sleep(Duration::from_secs(2));
    let ev_path = dir.join("events.ndjson");
    let sensor = Reap(
        b.cmd(&[env!("CARGO_BIN_EXE_palisade"), "sense", "--no-flows"])
            .args(["--interface", &vb, "--nats", url, "--site", "lab"])
            .args(["--sensor", "s1", "--spool"])
            .arg(dir.join("spool"))
            .arg("-o")
            .arg(&ev_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("palisade sense"),
    );
    assert!(
        wait_for(&ev_path, "start", Duration::from_secs(10)).is_some(),
        "the sensor did not start"
    );
    let scanner = Reap(
        a.cmd(&["python3", "-c", SCANNER, "10.9.7.1", "10.0.3", "200", "3"])
            .stdout(Stdio::null())
            .spawn()
            .expect("scanner"),
    );
    assert!(
        wait_for(&ev_path, "alert", Duration::from_secs(10)).is_some(),
        "no alert from the sensor: {:?}",
        events(&ev_path)
    );
    drop(scanner);
    drop(sensor); // SIGTERM: final device events, then the publisher flushes.
    let db = hub_dir.join("hub.db");
    let t0 = Instant::now();
    let (mut found_dev, mut found_alert) = (false, false);
    while t0.elapsed() < Duration::from_secs(20) && !(found_dev && found_alert) {
        std::thread::sleep(Duration::from_millis(300));
        let Ok(s) = palisade_store::SqliteStore::open(&db) else {
            continue;
        };
        use palisade_store::Store;
        found_dev = s.device(&cam_mac).ok().flatten().is_some();
        found_alert = s
            .list_alerts(&palisade_store::AlertQuery {
                limit: 100,
                ..Default::default()
            })
            .map(|p| {
                p.items
                    .iter()
                    .any(|x| x.kind == "botnet.mirai.scan" && x.device.as_deref() == Some(&cam_mac))
            })
            .unwrap_or(false);
    }
    drop(worker);
    drop(nats);
    assert!(found_dev, "the camera {cam_mac} is not in the store");
    assert!(found_alert, "the scan alert is not in the store");
    let _ = std::fs::remove_dir_all(&dir);
}
