//! Fleet update reports into one rollout (issues 9, 13): reports/s on SQLite and on
//! PostgreSQL, with 1 and 4 concurrent writers (PostgreSQL: API nodes, each a store
//! with its own pool; SQLite: threads sharing its one store).
//!
//!     cargo run --release -p palisade-store --example pg_rollout_bench -- [REPORTS] [nosync]
//!
//! PostgreSQL: `PALISADE_TEST_PG_URL`, else a throw-away local cluster with PostgreSQL's
//! durable defaults (see `palisade_store::postgres::testing`). Every report is one
//! transaction (the rollout row locked, device upsert, result upsert, stats recount); 1 in 20
//! reports fails, under the 50% limit, so the rollout stays active and every report counts.
//! The stored counts are checked afterwards.

use std::time::Instant;

use palisade_store::postgres::testing::{ClusterOptions, TestCluster};
use palisade_store::rollout::UpdateReport;
use palisade_store::{PgStore, SqliteStore, Store};

fn report(i: usize) -> UpdateReport {
    UpdateReport {
        device: format!("dev-{i:07}"),
        target: "fw.bin".into(),
        result: if i.is_multiple_of(20) {
            "reverted"
        } else {
            "updated"
        }
        .into(),
        running_version: Some("1.1.0".into()),
        security_counter: Some(3),
        candidate_version: Some("1.1.0".into()),
        candidate_sha256: None,
        detail: String::new(),
        at: None,
    }
}

/// Reports `n` devices through `nodes` (split evenly, concurrently); returns reports/s.
fn run(nodes: &[&dyn Store], n: usize) -> f64 {
    let r = nodes[0].rollouts().expect("rollouts");
    let ro = r
        .create_rollout("fw.bin", 100, 0.5, 10, "bench")
        .expect("create");
    let t = Instant::now();
    std::thread::scope(|s| {
        for (k, node) in nodes.iter().enumerate() {
            s.spawn(move || {
                let r = node.rollouts().expect("rollouts");
                for i in (k..n).step_by(nodes.len()) {
                    r.record_update(&report(i)).expect("report");
                }
            });
        }
    });
    let secs = t.elapsed().as_secs_f64();
    let (after, _) = r.rollout(ro.id).expect("read").expect("exists");
    assert_eq!(after.stats.reported, n as u64, "every report counted once");
    assert_eq!(after.stats.failed, n.div_ceil(20) as u64);
    n as f64 / secs
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    // `nosync` as the second argument: fsync and synchronous commit off (what the commit
    // latency costs).
    let durable = std::env::args().nth(2).as_deref() != Some("nosync");
    let Some(cluster) = TestCluster::start(ClusterOptions { durable }) else {
        return;
    };
    for writers in [1usize, 4] {
        let dir = std::env::temp_dir().join(format!(
            "palisade-rollout-bench-{}-{writers}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let path = dir.join("hub.db");
        // SQLite has one writer per file: the threads share one store.
        let lite = SqliteStore::open(&path).expect("sqlite");
        let lite_rate = run(&vec![&lite as &dyn Store; writers], n);
        drop(lite);
        let _ = std::fs::remove_dir_all(&dir);
        let url = cluster
            .fresh_database(&format!("rollbench{writers}"))
            .expect("database");
        let pg: Vec<PgStore> = (0..writers)
            .map(|_| PgStore::open(&format!("{url}?pool_max=2")).expect("postgres"))
            .collect();
        let nodes: Vec<&dyn Store> = pg.iter().map(|s| s as &dyn Store).collect();
        let pg_rate = run(&nodes, n);
        println!(
            "{n} reports, {writers} node(s): sqlite {lite_rate:.0}/s, postgres {pg_rate:.0}/s"
        );
    }
}
