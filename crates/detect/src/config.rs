//! Detector thresholds and table caps, with their documented defaults.
//!
//! Every number a detector compares against lives here (no magic numbers in the
//! detectors). All rates and windows are in *packet time* (capture timestamps).
//! The struct deserialises from JSON/TOML-like maps with `serde(default)`, so a config
//! file only names what it changes.

use serde::{Deserialize, Serialize};

/// All detector settings. `DetectConfig::default()` is what `palisade analyze` uses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectConfig {
    /// Master switch (false = sensor-only pipeline, no alerts).
    pub enabled: bool,
    /// Host-level counting window in seconds. Rules look at the last two windows
    /// (a sliding span of up to `2 * window_s`), so a burst that straddles a window
    /// boundary is still seen whole. Default 30 s.
    pub window_s: u64,
    /// Local hosts tracked by the host-level detector (fan-out, floods, scans). Beyond
    /// the cap the longest-idle hosts are evicted (their pending window evaluated first).
    /// Default 4096 (about 5 KiB each at most, see `HostDetector::bytes_per_host`).
    pub max_hosts: usize,
    /// A local address enters the host table only after this many packets in the
    /// current window (counted in a count-min sketch), so floods of spoofed local
    /// sources cannot churn the table. Default 4.
    pub admit_packets: u32,
    /// Width (counters per row) of the admission count-min sketch; 4 rows. Default 4096.
    pub cms_width: usize,
    /// Distinct aggregated alerts kept per detector instance before new ones are
    /// dropped (and counted in `alerts_dropped`). Default 4096.
    pub max_alerts: usize,
    /// Per-flow payload state (telnet/FTP/IRC/Mirai C2 followers) is only kept for
    /// this many flows per worker at a time. Default 16384.
    pub max_tracked_flows: usize,

    // --- Mirai / worm scanning -------------------------------------------------------
    /// `botnet.mirai.scan`: SYNs with sequence number == destination IPv4 address
    /// (Mirai's raw-socket scanner) needed in the span. Default 10 (a benign SYN matches
    /// with probability 2^-32).
    pub mirai_min_syns: u32,
    /// Generic telnet/SSH worm scanning: distinct destinations of SYNs to 22/23/2323
    /// in the span, with fewer than `scan_max_answer_ratio` answered. Default 20.
    pub worm_min_targets: u32,

    // --- Generic scans ---------------------------------------------------------------
    /// `scan.horizontal`: distinct destination hosts probed with SYNs in the span.
    /// Default 64.
    pub scan_h_min_hosts: u32,
    /// `scan.vertical`: distinct destination ports probed on the top destination.
    /// Default 100.
    pub scan_v_min_ports: u32,
    /// Scans only count when fewer than this fraction of probes got a SYN-ACK
    /// (browsers and busy clients complete their handshakes). Default 0.5.
    pub scan_max_answer_ratio: f64,

    // --- Floods (participation: a local device sends) ----------------------------------
    /// SYNs from one local device to its top destination in the span. Default 1000.
    pub flood_out_syn: u32,
    /// UDP packets from one local device to its top destination in the span, with
    /// destination ports spread over at least `flood_port_spread` ports. Default 2000.
    pub flood_out_udp: u32,
    /// UDP packets to one destination that count as a flood even on a single port
    /// (Mirai "udpplain"). Default 60000 (1000 pps sustained over a minute).
    pub flood_out_udp_plain: u32,
    /// Pure TCP ACK (or ACK+PSH with payload, random ports) packets to the top
    /// destination, with spread ports. Default 2000.
    pub flood_out_ack: u32,
    /// GRE packets to the top destination. Default 1000.
    pub flood_out_gre: u32,
    /// ICMP echo requests to the top destination. Default 2000.
    pub flood_out_icmp: u32,
    /// Distinct destination (or source) ports that make UDP/ACK traffic "random-port"
    /// flood traffic rather than one stream. Default 32.
    pub flood_port_spread: u32,

    // --- Floods (target: a local device receives) --------------------------------------
    /// SYNs received in the span ... Default 1000.
    pub target_syn: u32,
    /// ... from at least this many distinct sources (HyperLogLog estimate). Default 100.
    pub target_min_sources: u32,
    /// Unsolicited SYN-ACKs received (TCP reflection): SYN-ACKs minus 4x the SYNs the
    /// device sent, in the span. Default 30.
    pub target_synack: u32,
    /// UDP packets from amplifier source ports (DNS, NTP, SSDP, SNMP, CLDAP, Memcached,
    /// chargen, BACnet, ...) beyond 10x the requests the device sent to those ports.
    /// Default 500.
    pub target_amp_udp: u32,
    /// Distinct reflectors needed for an amplification alert. Default 50.
    pub target_amp_sources: u32,
    /// UDP packets received (any ports) from at least `target_min_sources` sources.
    /// Default 10000.
    pub target_udp: u32,
    /// ICMP packets received from at least `target_min_sources` sources. Default 5000.
    pub target_icmp: u32,
    /// RST or pure-ACK packets received from at least `target_min_sources` sources.
    /// Default 5000.
    pub target_ack_rst: u32,

    // --- Logins and credentials ---------------------------------------------------------
    /// `botnet.bruteforce`: failed logins by one client against one device (inbound) or
    /// by one local device against any servers (outbound), within two consecutive
    /// `bruteforce_window_s` windows of packet time. Default 5.
    pub bruteforce_min_failures: u32,
    /// Brute-force counting window in seconds of packet time. Default 300.
    pub bruteforce_window_s: u64,
    /// Bytes of a telnet/FTP line kept while a login is followed. Default 128.
    pub max_line: usize,
    /// Payload packets per direction a flagged flow (C2, login) keeps being inspected
    /// beyond the sensor's usual first 8. Default 256.
    pub follow_packets: u16,

    // --- C2 -----------------------------------------------------------------------------
    /// Mirai binary C2: 2-byte keep-alives (00 00) needed after the 00 00 00 01 hello
    /// when no attack command was seen. Default 1.
    pub mirai_c2_min_keepalives: u32,
    /// Beaconing (`botnet.c2`): connection starts (TCP: SYNs from new source ports; UDP:
    /// datagram bursts after at least 1 s of silence) from one local device to one remote
    /// endpoint needed to judge periodicity. Default 8.
    pub beacon_min_connections: u32,
    /// Largest jitter (standard deviation / mean of the intervals) of a beacon. Default 0.1.
    pub beacon_max_jitter: f64,
    /// Beacon period range in seconds (shorter is a burst, longer is too slow to see).
    /// Defaults 5 and 3600.
    pub beacon_min_period_s: u64,
    pub beacon_max_period_s: u64,
    /// Remote endpoints tracked per local device for beaconing, for TCP and for UDP each
    /// (least recently used replaced). Default 8.
    pub beacon_slots: usize,
    /// Remote addresses remembered for the "contacted by one local device only" (rare
    /// destination) test. Default 8192.
    pub beacon_max_destinations: usize,

    // --- Lateral movement / exfiltration ----------------------------------------------------
    /// Seconds of packet time after a device is first tracked during which its internal
    /// peers and its remote destinations are learnt as its baseline. Default 300.
    pub baseline_learn_s: u64,
    /// `lateral.movement`: distinct internal peers contacted on admin/remote-access ports
    /// (telnet, SSH, SMB, RDP, VNC, ...) outside the device's baseline, in the span.
    /// Default 3.
    pub lateral_min_peers: u32,
    /// `exfil.volume`: bytes sent to one remote destination in the span. Default 20 MB.
    pub exfil_min_bytes: u64,
    /// ... and at least this many times the device's learnt outbound bytes per span.
    /// Default 10.
    pub exfil_factor: f64,

    // --- DNS ------------------------------------------------------------------------------
    /// DNS counting window in seconds of packet time. Default 300.
    pub dns_window_s: u64,
    /// `dns.dga`: distinct random-looking names answered NXDOMAIN for one device within
    /// two consecutive windows. Default 10.
    pub dga_min_nxdomain: u32,
    /// `dns.tunnel`: tunnel-like queries (long or high-entropy labels, TXT/NULL) under one
    /// registered domain from one device within two consecutive windows. Default 30.
    pub tunnel_min_queries: u32,
    /// A query label at least this long is tunnel-like. Default 40.
    pub tunnel_min_label_len: usize,

    // --- Alert aggregation ----------------------------------------------------------------
    /// Host-level alerts of the same kind/device/vector merge when less than this many
    /// seconds apart. Default 600.
    pub merge_gap_s: u64,
    /// Peers, ports or samples listed in an alert's evidence. Default 16.
    pub evidence_list_max: usize,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            enabled: true,
            window_s: 30,
            max_hosts: 4096,
            admit_packets: 4,
            cms_width: 4096,
            max_alerts: 4096,
            max_tracked_flows: 16_384,
            mirai_min_syns: 10,
            worm_min_targets: 20,
            scan_h_min_hosts: 64,
            scan_v_min_ports: 100,
            scan_max_answer_ratio: 0.5,
            flood_out_syn: 1000,
            flood_out_udp: 2000,
            flood_out_udp_plain: 60_000,
            flood_out_ack: 2000,
            flood_out_gre: 1000,
            flood_out_icmp: 2000,
            flood_port_spread: 32,
            target_syn: 1000,
            target_min_sources: 100,
            target_synack: 30,
            target_amp_udp: 500,
            target_amp_sources: 50,
            target_udp: 10_000,
            target_icmp: 5000,
            target_ack_rst: 5000,
            bruteforce_min_failures: 5,
            bruteforce_window_s: 300,
            max_line: 128,
            follow_packets: 256,
            mirai_c2_min_keepalives: 1,
            beacon_min_connections: 8,
            beacon_max_jitter: 0.1,
            beacon_min_period_s: 5,
            beacon_max_period_s: 3600,
            beacon_slots: 8,
            beacon_max_destinations: 8192,
            baseline_learn_s: 300,
            lateral_min_peers: 3,
            exfil_min_bytes: 20_000_000,
            exfil_factor: 10.0,
            dns_window_s: 300,
            dga_min_nxdomain: 10,
            tunnel_min_queries: 30,
            tunnel_min_label_len: 40,
            merge_gap_s: 600,
            evidence_list_max: 16,
        }
    }
}

/// Why a detector configuration file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// (The I/O error is part of the message, not a chained source, so it is printed
    /// once.)
    #[error("{path}: cannot read: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("{path}: line {line}, column {column}: {message}")]
    Syntax {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: `{field}` {message}")]
    Invalid {
        path: String,
        field: &'static str,
        message: String,
    },
}

impl DetectConfig {
    /// Reads a JSON object naming the settings to change (unknown keys are errors).
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Io {
            path: name.clone(),
            error,
        })?;
        Self::from_json(&text, &name)
    }

    /// Parses and validates a JSON config text; `origin` names it in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let cfg: DetectConfig = serde_json::from_str(text).map_err(|e| {
            let (line, column) = (e.line(), e.column());
            let text = e.to_string();
            let suffix = format!(" at line {line} column {column}");
            ConfigError::Syntax {
                path: origin.to_string(),
                line,
                column,
                message: text.strip_suffix(&suffix).unwrap_or(&text).to_string(),
            }
        })?;
        cfg.validate()
            .map_err(|(field, message)| ConfigError::Invalid {
                path: origin.to_string(),
                field,
                message,
            })?;
        Ok(cfg)
    }

    /// Checks the ranges the detectors rely on.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let positive: [(&'static str, u64); 14] = [
            ("window_s", self.window_s),
            ("max_hosts", self.max_hosts as u64),
            ("admit_packets", self.admit_packets as u64),
            ("cms_width", self.cms_width as u64),
            ("max_alerts", self.max_alerts as u64),
            ("max_tracked_flows", self.max_tracked_flows as u64),
            (
                "bruteforce_min_failures",
                self.bruteforce_min_failures as u64,
            ),
            ("bruteforce_window_s", self.bruteforce_window_s),
            ("max_line", self.max_line as u64),
            ("beacon_min_connections", self.beacon_min_connections as u64),
            ("beacon_slots", self.beacon_slots as u64),
            (
                "beacon_max_destinations",
                self.beacon_max_destinations as u64,
            ),
            ("dns_window_s", self.dns_window_s),
            ("evidence_list_max", self.evidence_list_max as u64),
        ];
        for (field, v) in positive {
            if v == 0 {
                return Err((field, "must be at least 1".into()));
            }
        }
        let caps: [(&'static str, u64, u64); 5] = [
            ("max_hosts", self.max_hosts as u64, 1 << 22),
            ("cms_width", self.cms_width as u64, 1 << 20),
            ("max_tracked_flows", self.max_tracked_flows as u64, 1 << 24),
            ("beacon_slots", self.beacon_slots as u64, 64),
            (
                "beacon_max_destinations",
                self.beacon_max_destinations as u64,
                1 << 22,
            ),
        ];
        for (field, v, max) in caps {
            if v > max {
                return Err((field, format!("is {v}, above the supported maximum {max}")));
            }
        }
        if !(self.scan_max_answer_ratio > 0.0 && self.scan_max_answer_ratio <= 1.0) {
            return Err(("scan_max_answer_ratio", "must be in (0, 1]".into()));
        }
        if !(self.beacon_max_jitter > 0.0 && self.beacon_max_jitter < 1.0) {
            return Err(("beacon_max_jitter", "must be in (0, 1)".into()));
        }
        if !(self.exfil_factor.is_finite() && self.exfil_factor >= 1.0) {
            return Err(("exfil_factor", "must be a number of at least 1".into()));
        }
        if self.beacon_min_period_s > self.beacon_max_period_s {
            return Err((
                "beacon_min_period_s",
                "must not exceed beacon_max_period_s".into(),
            ));
        }
        Ok(())
    }

    pub(crate) fn bruteforce_window_ns(&self) -> i64 {
        (self.bruteforce_window_s.max(1) as i64).saturating_mul(1_000_000_000)
    }
    pub(crate) fn dns_window_ns(&self) -> i64 {
        (self.dns_window_s.max(1) as i64).saturating_mul(1_000_000_000)
    }
    pub(crate) fn window_ns(&self) -> i64 {
        (self.window_s.max(1) as i64).saturating_mul(1_000_000_000)
    }
    pub(crate) fn merge_gap_ns(&self) -> i64 {
        (self.merge_gap_s as i64).saturating_mul(1_000_000_000)
    }
}
