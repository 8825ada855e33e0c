use proptest::prelude::*;

use super::*;

fn meta(ts_s: i64, src: u8, sp: u16, dst: u8, dp: u16, flags: u8) -> PacketMeta {
    PacketMeta {
        ts_ns: ts_s * 1_000_000_000,
        src: addr_from_v4([10, 0, 0, src]),
        dst: addr_from_v4([10, 0, 0, dst]),
        src_port: sp,
        dst_port: dp,
        proto: 6,
        vlan: 0,
        tcp_flags: flags,
        wire_len: 60,
        payload_len: 0,
    }
}

#[test]
fn both_directions_share_one_flow_and_handshake_is_tracked() {
    let mut t: FlowTable<u32> = FlowTable::new(FlowConfig::default());
    assert!(t.update(&meta(0, 1, 4000, 2, 80, 0x02)).is_new);
    let u = t.update(&meta(0, 2, 80, 1, 4000, 0x12));
    assert!(!u.is_new);
    assert_eq!(u.direction, Direction::ToInitiator);
    *u.state += 1;
    let u = t.update(&meta(0, 1, 4000, 2, 80, 0x10));
    assert_eq!(u.stats.state, TcpState::Established);
    assert_eq!(u.stats.packets, [2, 1]);
    assert_eq!(*u.state, 1);
    t.update(&meta(1, 1, 4000, 2, 80, 0x11));
    let u = t.update(&meta(1, 2, 80, 1, 4000, 0x11));
    assert_eq!(u.stats.state, TcpState::Closed);
    assert_eq!(t.len(), 1);
    t.expire(100_000_000_000);
    let fin = t.take_finished();
    assert_eq!(fin.len(), 1);
    assert_eq!(fin[0].0.reason, EndReason::Fin);
    assert_eq!(fin[0].1, Some(1));
}

#[test]
fn syn_ack_first_makes_the_receiver_the_initiator() {
    let mut t: FlowTable<()> = FlowTable::new(FlowConfig::default());
    let u = t.update(&meta(0, 2, 80, 1, 4000, 0x12));
    assert_eq!(u.direction, Direction::ToInitiator);
    assert_eq!(u.stats.responder_port, 80);
}

#[test]
fn idle_timeout_uses_packet_time() {
    let mut t: FlowTable<()> = FlowTable::new(FlowConfig {
        idle_timeout_ns: 60_000_000_000,
        ..FlowConfig::default()
    });
    t.update(&meta(0, 1, 1, 2, 2, 0x18));
    t.update(&meta(50, 3, 1, 2, 2, 0x18));
    t.expire(61_000_000_000);
    assert_eq!(t.len(), 1, "only the first flow is idle for > 60 s");
    assert_eq!(t.counters.idle_expired, 1);
    t.drain();
    assert!(t.is_empty());
    let f = t.take_finished();
    assert_eq!(f.len(), 2);
    assert_eq!(f[1].0.reason, EndReason::EndOfCapture);
}

#[test]
fn cap_evicts_oldest_idle_first() {
    let mut t: FlowTable<()> = FlowTable::new(FlowConfig {
        max_flows: 100,
        ..FlowConfig::default()
    });
    // A spoofed SYN flood: every packet is a new flow.
    for i in 0..10_000u32 {
        let mut m = meta(i as i64, 1, (i % 60000) as u16, 2, 80, 0x02);
        m.src = addr_from_v4(i.to_be_bytes());
        t.update(&m);
        assert!(t.len() <= 100);
    }
    assert_eq!(t.counters.evicted, 9_900);
    let f = t.take_finished();
    assert_eq!(f[0].0.stats.first_ts, 0, "the oldest flow went first");
    assert!(f.iter().all(|(r, _)| r.reason == EndReason::Evicted));
}

#[test]
fn touched_flows_survive_eviction() {
    let mut t: FlowTable<()> = FlowTable::new(FlowConfig {
        max_flows: 2,
        ..FlowConfig::default()
    });
    t.update(&meta(0, 1, 1, 2, 2, 0x18));
    t.update(&meta(1, 3, 1, 2, 2, 0x18));
    t.update(&meta(2, 1, 1, 2, 2, 0x18)); // touch the first flow
    t.update(&meta(3, 4, 1, 2, 2, 0x18)); // evicts 10.0.0.3
    let f = t.take_finished();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].0.stats.initiator, addr_from_v4([10, 0, 0, 3]));
}

#[test]
fn active_timeout_cuts_long_flows() {
    let mut t: FlowTable<()> = FlowTable::new(FlowConfig {
        active_timeout_ns: 10_000_000_000,
        ..FlowConfig::default()
    });
    for s in 0..25 {
        t.update(&meta(s, 1, 1, 2, 2, 0x18));
    }
    assert_eq!(t.counters.active_cut, 2);
    assert_eq!(t.len(), 1);
}

#[test]
fn port_reuse_after_close_starts_a_new_flow() {
    let mut t: FlowTable<()> = FlowTable::new(FlowConfig::default());
    t.update(&meta(0, 1, 4000, 2, 80, 0x02));
    t.update(&meta(0, 2, 80, 1, 4000, 0x14)); // RST-ACK
    assert!(t.update(&meta(1, 1, 4000, 2, 80, 0x02)).is_new);
    assert_eq!(t.counters.created, 2);
}

proptest! {
    #[test]
    fn table_never_exceeds_cap(pk in proptest::collection::vec((0u8..8, 0u16..4, 0u8..8, any::<u8>()), 1..300), cap in 1usize..16) {
        let mut t: FlowTable<()> = FlowTable::new(FlowConfig { max_flows: cap, idle_timeout_ns: 5_000_000_000, ..FlowConfig::default() });
        let mut created = 0u64;
        for (i, (a, p, b, f)) in pk.iter().enumerate() {
            let u = t.update(&meta(i as i64, *a, *p, *b, 80, *f));
            if u.is_new { created += 1; }
            prop_assert!(t.len() <= cap);
            t.expire(i as i64 * 1_000_000_000);
        }
        t.drain();
        prop_assert_eq!(t.take_finished().len() as u64, created);
    }
}
