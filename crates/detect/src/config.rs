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
    /// Default 4096 (about 2.4 KiB each, see `HostDetector::bytes_per_host`).
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
    /// by one local device against any servers (outbound). Default 5.
    pub bruteforce_min_failures: u32,
    /// Bytes of a telnet/FTP line kept while a login is followed. Default 128.
    pub max_line: usize,
    /// Payload packets per direction a flagged flow (C2, login) keeps being inspected
    /// beyond the sensor's usual first 8. Default 256.
    pub follow_packets: u16,

    // --- C2 -----------------------------------------------------------------------------
    /// Mirai binary C2: 2-byte keep-alives (00 00) needed after the 00 00 00 01 hello
    /// when no attack command was seen. Default 1.
    pub mirai_c2_min_keepalives: u32,

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
            max_line: 128,
            follow_packets: 256,
            mirai_c2_min_keepalives: 1,
            merge_gap_s: 600,
            evidence_list_max: 16,
        }
    }
}

impl DetectConfig {
    pub(crate) fn window_ns(&self) -> i64 {
        (self.window_s.max(1) as i64).saturating_mul(1_000_000_000)
    }
    pub(crate) fn merge_gap_ns(&self) -> i64 {
        (self.merge_gap_s as i64).saturating_mul(1_000_000_000)
    }
}
