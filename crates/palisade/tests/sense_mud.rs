//! `palisade sense` with MUD profiles and hub zones, for real, in network namespaces made here
//! (never any address outside them):
//!
//! ```text
//!   cam (10.0.3.2) --- (10.0.3.1) gw (nftables, sensor on the camera's port) (10.0.4.1) --- lan
//!                                                      10.0.4.2 cloud/server, 10.0.4.3 DNS + hub
//! ```
//!
//! 1. Live MUD checking and DNS-name sets: the camera's profile allows DNS and HTTPS to
//!    `cloud.palisade.test` only. `--mud-enforce` loads the compiled table; the camera's DNS answer
//!    fills the name's set (timeout = TTL), so HTTPS to the answered address passes; a telnet
//!    attempt raises a live `policy.violation` (the offending flow as evidence), and the responder
//!    quarantines the camera.
//! 2. Zones from the hub: moving the camera to the `quarantine` zone over the API makes the
//!    sensor's zone sync apply the hub's ruleset (one `nft -f` transaction): the camera is cut
//!    off; moving it back restores it; a quarantine with an expiry lifts itself; the hub's audit
//!    trail records each move.
//!
//! Skips with a message without root/ip/nft/python3, unless PALISADE_REQUIRE_ORACLES=1.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn have(what: &str, probe: &[&str]) -> bool {
    let ok = Command::new(probe[0])
        .args(&probe[1..])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("PALISADE_REQUIRE_ORACLES").as_deref() != Ok("1"),
            "{what} is required (PALISADE_REQUIRE_ORACLES=1): run as root with iproute2, nftables, python3"
        );
        eprintln!("SKIP: {what} unavailable ({})", probe.join(" "));
    }
    ok
}

fn tools_present() -> bool {
    [
        ("ip netns", &["ip", "netns", "list"][..]),
        ("nft", &["nft", "--version"][..]),
        ("ping", &["ping", "-V"][..]),
        ("python3", &["python3", "--version"][..]),
    ]
    .into_iter()
    .all(|(w, p)| have(w, p))
}

/// A network namespace removed on drop.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Option<Netns> {
        let name = format!("palm{tag}{}", std::process::id());
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
    fn py(&self, script: &str, args: &[&str]) -> Output {
        let mut a = vec!["python3", "-c", script];
        a.extend_from_slice(args);
        self.cmd(&a).output().expect("python3")
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

fn wait_until(path: &Path, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
    let t0 = Instant::now();
    while t0.elapsed() < timeout {
        if let Some(e) = events(path).into_iter().find(&pred) {
            return Some(e);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("palisade-sense-mud-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The three namespaces and the camera's MAC; `gw`'s camera-side interface is returned too.
struct Topo {
    cam: Netns,
    gw: Netns,
    lan: Netns,
    cam_if_gw: String,
    cam_mac: String,
}

fn topology(tag: &str) -> Option<Topo> {
    let (Some(cam), Some(gw), Some(lan)) = (
        Netns::new(&format!("{tag}c")),
        Netns::new(&format!("{tag}g")),
        Netns::new(&format!("{tag}l")),
    ) else {
        assert!(
            std::env::var("PALISADE_REQUIRE_ORACLES").as_deref() != Ok("1"),
            "cannot create namespaces"
        );
        eprintln!("SKIP: cannot create network namespaces (not root?)");
        return None;
    };
    let id = std::process::id() % 100_000;
    let [c0, c1, l0, l1] = ["c0", "c1", "l0", "l1"].map(|t| format!("m{tag}{t}{id}"));
    host(&format!(
        "ip link add {c0} netns {} type veth peer name {c1} netns {}",
        cam.0, gw.0
    ));
    host(&format!(
        "ip link add {l0} netns {} type veth peer name {l1} netns {}",
        gw.0, lan.0
    ));
    cam.sh(&format!("ip addr add 10.0.3.2/24 dev {c0}"));
    cam.sh(&format!("ip link set {c0} up"));
    cam.sh("ip link set lo up");
    cam.sh("ip route add default via 10.0.3.1");
    gw.sh(&format!("ip addr add 10.0.3.1/24 dev {c1}"));
    gw.sh(&format!("ip addr add 10.0.4.1/24 dev {l0}"));
    for i in [&c1, &l0, "lo"] {
        gw.sh(&format!("ip link set {i} up"));
    }
    gw.sh("sysctl -q -w net.ipv4.ip_forward=1");
    lan.sh(&format!("ip addr add 10.0.4.2/24 dev {l1}"));
    lan.sh(&format!("ip addr add 10.0.4.3/24 dev {l1}"));
    lan.sh(&format!("ip link set {l1} up"));
    lan.sh("ip link set lo up");
    lan.sh("ip route add default via 10.0.4.1");
    let t0 = Instant::now();
    while !cam.ping("10.0.4.2") {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "baseline connectivity"
        );
    }
    let cam_mac = {
        let o = cam.run(&format!("cat /sys/class/net/{c0}/address"));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    Some(Topo {
        cam,
        gw,
        lan,
        cam_if_gw: c1,
        cam_mac,
    })
}

/// DNS server: answers every A question with 10.0.4.2, TTL argv[1].
const DNS_SERVER: &str = r#"
import socket, struct, sys
ttl = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('10.0.4.3', 53))
while True:
    q, a = s.recvfrom(512)
    i = 12
    while q[i] != 0: i += 1 + q[i]
    qend = i + 5
    r = q[:2] + b'\x81\x80' + q[4:6] + b'\x00\x01\x00\x00\x00\x00' + q[12:qend]
    r += b'\xc0\x0c\x00\x01\x00\x01' + struct.pack('!IH', ttl, 4) + socket.inet_aton('10.0.4.2')
    s.sendto(r, a)
"#;

/// TCP listeners on 10.0.4.2 for the ports in argv (accept and close).
const TCP_SERVER: &str = r#"
import socket, sys, threading
def serve(p):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('10.0.4.2', p)); s.listen(16)
    while True:
        c, _ = s.accept(); c.close()
for p in sys.argv[1:]:
    threading.Thread(target=serve, args=(int(p),), daemon=True).start()
threading.Event().wait()
"#;

/// Resolves argv[1] at 10.0.4.3; prints the address.
const RESOLVE: &str = r#"
import socket, sys
name = sys.argv[1]
q = b'\x42\x42\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00' + b''.join(bytes([len(l)]) + l.encode() for l in name.split('.')) + b'\x00\x00\x01\x00\x01'
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
s.sendto(q, ('10.0.4.3', 53))
r, _ = s.recvfrom(512)
print(socket.inet_ntoa(r[-4:]))
"#;

/// Connects to argv[1]:argv[2] with a 1 s timeout; exit 0 when it connected.
const CONNECT: &str = r#"
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), 1).close()
except OSError:
    sys.exit(1)
"#;

fn connects(ns: &Netns, ip: &str, port: u16) -> bool {
    ns.py(CONNECT, &[ip, &port.to_string()]).status.success()
}

const PROFILE: &str = r#"{
  "ietf-mud:mud": {
    "mud-version": 1, "mud-url": "https://palisade.test/cam.json", "last-update": "2024-01-01T00:00:00Z",
    "is-supported": true, "systeminfo": "test camera",
    "from-device-policy": {"access-lists": {"access-list": [{"name": "from"}]}},
    "to-device-policy": {"access-lists": {"access-list": [{"name": "to"}]}}
  },
  "ietf-access-control-list:acls": {"acl": [
    {"name": "from", "type": "ipv4-acl-type", "aces": {"ace": [
      {"name": "dns", "matches": {"ipv4": {"protocol": 17}, "udp": {"destination-port": {"operator": "eq", "port": 53}}},
       "actions": {"forwarding": "accept"}},
      {"name": "cloud", "matches": {"ipv4": {"protocol": 6, "ietf-acldns:dst-dnsname": "cloud.palisade.test"},
       "tcp": {"destination-port": {"operator": "eq", "port": 443}}}, "actions": {"forwarding": "accept"}}]}},
    {"name": "to", "type": "ipv4-acl-type", "aces": {"ace": [
      {"name": "dns", "matches": {"ipv4": {"protocol": 17}, "udp": {"source-port": {"operator": "eq", "port": 53}}},
       "actions": {"forwarding": "accept"}},
      {"name": "cloud", "matches": {"ipv4": {"protocol": 6, "ietf-acldns:src-dnsname": "cloud.palisade.test"},
       "tcp": {"source-port": {"operator": "eq", "port": 443}}}, "actions": {"forwarding": "accept"}}]}}
  ]}
}"#;

#[test]
fn live_mud_violation_is_alerted_quarantined_and_dns_fills_the_name_sets() {
    if !tools_present() {
        return;
    }
    let Some(t) = topology("v") else { return };
    let dir = tmp("violation");
    let profiles = dir.join("profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    std::fs::write(
        profiles.join(format!("{}.json", t.cam_mac.replace(':', "-"))),
        PROFILE,
    )
    .unwrap();
    let _dns = Reap(
        t.lan
            .cmd(&["python3", "-c", DNS_SERVER, "120"])
            .spawn()
            .expect("dns server"),
    );
    let _tcp = Reap(
        t.lan
            .cmd(&["python3", "-c", TCP_SERVER, "443", "23"])
            .spawn()
            .expect("tcp server"),
    );
    let ev_path = dir.join("events.ndjson");
    let mut sense = t.gw.cmd(&[env!("CARGO_BIN_EXE_palisade"), "sense"]);
    sense
        .args(["--interface", &t.cam_if_gw, "--no-flows", "--respond"])
        .args(["--respond-severity", "none"])
        .args(["--respond-kind", "policy.violation", "--hub-ip", "10.0.4.3"])
        .arg("--mud")
        .arg(&profiles)
        .args(["--mud-enforce", "--quarantine-ttl", "600", "-o"])
        .arg(&ev_path)
        .stdout(Stdio::null());
    let _sensor = Reap(sense.spawn().expect("palisade sense"));
    let start = wait_until(&ev_path, Duration::from_secs(10), |e| e["type"] == "start")
        .expect("the sensor did not start");
    assert_eq!(start["mud_devices"], 1, "{start}");
    let table = format!("palisade_mud_{}", t.cam_mac.replace(':', ""));

    // The DNS answer fills dns_N_v4 with the TTL as timeout; HTTPS to it then passes.
    let o = t.cam.py(RESOLVE, &["cloud.palisade.test"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "10.0.4.2",
        "{o:?}"
    );
    let dns = wait_until(&ev_path, Duration::from_secs(5), |e| {
        e["type"] == "dns_sets"
    })
    .expect("a dns_sets event");
    assert!(dns.get("error").is_none(), "{dns}");
    assert_eq!(dns["elements"][0]["ip"], "10.0.4.2", "{dns}");
    assert_eq!(dns["elements"][0]["ttl_s"], 120, "{dns}");
    let set = dns["elements"][0]["set"].as_str().unwrap().to_string();
    let listed = t.gw.run(&format!("nft list set inet {table} {set}"));
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains("10.0.4.2") && listed.contains("expires"),
        "{listed}"
    );
    let ok = connects(&t.cam, "10.0.4.2", 443);
    assert!(
        ok,
        "HTTPS to the resolved cloud address is permitted: {}\n{:?}",
        String::from_utf8_lossy(&t.gw.run(&format!("nft list table inet {table}")).stdout),
        events(&ev_path)
    );
    // Everything so far is in the profile: no violation.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !events(&ev_path)
            .iter()
            .any(|e| e["kind"] == "policy.violation"),
        "permitted traffic raised a violation: {:?}",
        events(&ev_path)
    );

    // Telnet is not in the profile: the compiled table drops it, a live policy.violation names
    // the flow, and the responder quarantines the camera.
    assert!(
        !connects(&t.cam, "10.0.4.2", 23),
        "telnet passes the profile"
    );
    let alert = wait_until(&ev_path, Duration::from_secs(5), |e| {
        e["type"] == "alert" && e["kind"] == "policy.violation"
    })
    .expect("a live policy.violation");
    eprintln!("alert: {alert}");
    assert_eq!(alert["device"], t.cam_mac.as_str());
    assert_eq!(alert["src"], "10.0.3.2");
    let flows = alert["evidence"]["flows"]
        .as_array()
        .expect("evidence flows");
    assert!(
        flows
            .iter()
            .all(|f| f["remote_port"] == 23 && f["remote_ip"] == "10.0.4.2"),
        "only the telnet flow offends: {alert}"
    );
    assert_eq!(flows[0]["direction"], "from-device");
    let resp = wait_until(&ev_path, Duration::from_secs(5), |e| {
        e["type"] == "response"
    })
    .expect("a response");
    eprintln!("response: {resp}");
    assert_eq!(resp["kind"], "policy.violation");
    assert!(resp.get("error").is_none(), "nft failed: {resp}");
    let latency = resp["enforce_latency_ms"].as_f64().expect("latency figure");
    assert!(
        (0.0..=2000.0).contains(&latency),
        "first offending packet to rule active: {latency} ms (bar 2000 ms)"
    );
    let q = t.gw.run("nft list set inet palisade_quarantine q_v4");
    assert!(String::from_utf8_lossy(&q.stdout).contains("10.0.3.2"));
    assert!(
        !connects(&t.cam, "10.0.4.2", 443),
        "the quarantined camera still reaches its cloud"
    );
    // DNS stays open in quarantine (and in the profile).
    let o = t.cam.py(RESOLVE, &["cloud.palisade.test"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "10.0.4.2",
        "quarantined DNS: {o:?}"
    );

    // Released, the profile applies again: the cloud passes, an unresolved address does not.
    let o =
        t.gw.cmd(&[env!("CARGO_BIN_EXE_palisade"), "mud", "release"])
            .args(["--mac", &t.cam_mac, "--ip", "10.0.3.2"])
            .output()
            .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(connects(&t.cam, "10.0.4.2", 443), "released");
    assert!(
        !connects(&t.cam, "10.0.4.3", 443),
        "HTTPS to an address no DNS answer named passes the profile"
    );
    let grown = wait_until(&ev_path, Duration::from_secs(5), |e| {
        e["kind"] == "policy.violation" && e["evidence"]["directions"].as_u64() >= Some(2)
    })
    .expect("the aggregated alert grows with the new offending flow");
    assert_eq!(grown["id"], alert["id"], "one alert per device");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The hub, served from inside namespace `ns` on 127.0.0.1 (so a sensor there reaches it).
struct NsHub {
    base: String,
    store: std::sync::Arc<dyn palisade_hub::store::Store>,
    dir: PathBuf,
}

fn hub_in(ns: &Netns) -> NsHub {
    use nix::sched::{CloneFlags, setns};
    let dir = tmp("hub");
    let cfg = palisade_hub::HubConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.clone(),
        tls: false,
        ..palisade_hub::HubConfig::default()
    };
    let nsfile = format!("/run/netns/{}", ns.0);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // setns changes only this thread (and the runtime threads it starts).
        let f = std::fs::File::open(&nsfile).expect("netns file");
        setns(&f, CloneFlags::CLONE_NEWNET).expect("setns");
        let hub = palisade_hub::Hub::prepare(&cfg).expect("hub");
        let store = hub.store();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let (addr, fut) = hub.bind(std::future::pending()).await.expect("bind");
            tx.send((addr, store)).unwrap();
            fut.await
        })
        .ok();
    });
    let (addr, store) = rx.recv().expect("hub started");
    NsHub {
        base: format!("http://{addr}"),
        store,
        dir,
    }
}

impl NsHub {
    fn token(&self, role: palisade_hub::store::Role) -> String {
        let secret = format!("pal_sense_zones_{}", std::process::id());
        let h = palisade_hub::store::crypto::sha256(secret.as_bytes());
        self.store
            .create_token("sense-zones", role, &h, "test")
            .unwrap();
        secret
    }
}

impl Drop for NsHub {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `ip netns exec` cannot run a function, so API calls go through a small client in `ns`.
fn api(ns: &Netns, base: &str, token: &str, method: &str, path: &str, body: &str) -> Value {
    const CLIENT: &str = r#"
import json, sys, urllib.request
base, token, method, path, body = sys.argv[1:6]
req = urllib.request.Request(base + '/api/v1' + path, data=body.encode() if body else None, method=method,
    headers={'Authorization': 'Bearer ' + token, 'Content-Type': 'application/json'})
with urllib.request.urlopen(req, timeout=5) as r:
    sys.stdout.write(r.read().decode())
"#;
    let o = ns.py(CLIENT, &[base, token, method, path, body]);
    assert!(
        o.status.success(),
        "{method} {path}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap_or(Value::Null)
}

fn syncs(path: &Path) -> Vec<Value> {
    events(path)
        .into_iter()
        .filter(|e| e["type"] == "zones_sync")
        .collect()
}

/// Waits for the sync after the `n`-th one; returns it and when it was seen.
fn next_sync(path: &Path, n: usize) -> (Value, Instant) {
    let t0 = Instant::now();
    loop {
        if let Some(e) = syncs(path).get(n) {
            return (e.clone(), Instant::now());
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "no zones_sync #{n}: {:?}",
            events(path)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn hub_zone_moves_are_enforced_by_the_gateway_and_audited() {
    if !tools_present() {
        return;
    }
    let Some(t) = topology("z") else { return };
    let hub = hub_in(&t.gw);
    let token = hub.token(palisade_hub::store::Role::Analyst);
    let dir = tmp("zones");
    let ev_path = dir.join("events.ndjson");
    let mut sense = t.gw.cmd(&[env!("CARGO_BIN_EXE_palisade"), "sense"]);
    sense
        .args(["--interface", &t.cam_if_gw, "--no-flows"])
        .args(["--hub", &hub.base, "--token", &token])
        .args(["--zones-sync", "0.1", "--hub-ip", "10.0.4.3", "-o"])
        .arg(&ev_path)
        .stdout(Stdio::null());
    let _sensor = Reap(sense.spawn().expect("palisade sense"));
    let (first, _) = next_sync(&ev_path, 0);
    assert!(first.get("error").is_none(), "{first}");
    assert_eq!(first["quarantine_elements"], 0, "{first}");
    assert!(
        t.cam.ping("10.0.4.2"),
        "the iot zone without a profile is open"
    );

    // Into quarantine over the API: the next sync applies it in one transaction.
    let mac = t.cam_mac.clone();
    let zone = |body: &str| {
        let t0 = Instant::now();
        let d = api(
            &t.gw,
            &hub.base,
            &token,
            "PUT",
            &format!("/devices/{mac}/zone"),
            body,
        );
        (d, t0)
    };
    let (d, t0) = zone(r#"{"zone":"quarantine","reason":"suspected compromise"}"#);
    assert_eq!(d["zone"], "quarantine", "{d}");
    let (q, seen) = next_sync(&ev_path, 1);
    assert!(q.get("error").is_none(), "{q}");
    assert_eq!(
        q["quarantine_elements"], 2,
        "MAC in the inet and bridge tables: {q}"
    );
    eprintln!(
        "API call to rule active: {:.0} ms (sync every 100 ms; nft {} ms)",
        (seen - t0).as_secs_f64() * 1e3,
        q["nft_ms"]
    );
    let set = t.gw.run("nft list set inet palisade_quarantine q_mac");
    assert!(String::from_utf8_lossy(&set.stdout).contains(&mac));
    assert!(
        !t.cam.ping("10.0.4.2"),
        "quarantined camera reaches the LAN"
    );
    assert!(
        t.cam.ping("10.0.4.3"),
        "the hub stays reachable from quarantine"
    );

    // Back to iot: the sync's transaction empties the quarantine sets.
    let (d, _) = zone(r#"{"zone":"iot"}"#);
    assert_eq!(d["zone"], "iot", "{d}");
    let (r, _) = next_sync(&ev_path, 2);
    assert!(r.get("error").is_none(), "{r}");
    assert_eq!(r["quarantine_elements"], 0, "{r}");
    assert!(t.cam.ping("10.0.4.2"), "moving back restores the camera");

    // A quarantine with an expiry lifts itself (element timeouts in the kernel).
    let (_, t0) = zone(r#"{"zone":"quarantine","expires_in_s":2}"#);
    let (q, _) = next_sync(&ev_path, 3);
    assert_eq!(q["quarantine_elements"], 2, "{q}");
    assert!(!t.cam.ping("10.0.4.2"), "expiring quarantine applied");
    while t0.elapsed() < Duration::from_millis(3200) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(t.cam.ping("10.0.4.2"), "the quarantine expired");

    // The hub's audit trail has each move.
    let audit = hub.store.list_audit(100, 0).unwrap();
    let moves: Vec<&str> = audit
        .items
        .iter()
        .filter(|a| a.action == "device.zone" && a.target == mac)
        .map(|a| a.detail.as_str())
        .collect();
    assert_eq!(moves.len(), 3, "{moves:?}");
    assert!(
        moves.iter().any(|d| d.contains("suspected compromise")),
        "{moves:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
