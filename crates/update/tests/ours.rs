//! Our repository + our client, and the attack fixtures built from our repository (shared with
//! the python-tuf client in interop.rs).

use std::path::Path;

use palisade_update::time::now;
use palisade_update::{Client, HttpFetcher, InitOptions, Repository, Role, TufError};
use serde_json::json;

use crate::common::{TempDir, copy_dir, serve};

pub const ATTACKS: [&str; 5] = ["rollback", "freeze", "mixmatch", "threshold", "oversized"];

/// Builds `good` and the attack variants from a Palisade repository under `out/`.
/// Returns the firmware bytes. Targets threshold is 2 (two keys) so `threshold` can drop one.
pub fn build_fixtures(out: &Path) -> Vec<u8> {
    let t = now();
    let repo_dir = out.join("work");
    let kek = out.join("kek");
    let opts = InitOptions {
        keys: [
            (Role::Root, 2),
            (Role::Targets, 2),
            (Role::Snapshot, 1),
            (Role::Timestamp, 1),
        ]
        .into_iter()
        .collect(),
        thresholds: [
            (Role::Root, 2),
            (Role::Targets, 2),
            (Role::Snapshot, 1),
            (Role::Timestamp, 1),
        ]
        .into_iter()
        .collect(),
        ..InitOptions::default()
    };
    let repo = Repository::init(&repo_dir, &kek, &opts, t).unwrap();
    let fw: Vec<u8> = (0..1800u32).map(|i| (i * 31 % 251) as u8).collect();
    repo.add_target(
        "fw.bin",
        &fw,
        json!({"hardware_id": "sim-1", "security_counter": 3}),
    )
    .unwrap();
    repo.publish(t).unwrap();
    let old_ts = std::fs::read(repo_dir.join("metadata/timestamp.json")).unwrap();
    repo.publish(t).unwrap();
    let good = out.join("good");
    copy_dir(&repo_dir, &good);

    let v = |name: &str| {
        let d = out.join(name);
        copy_dir(&good, &d);
        d
    };
    std::fs::write(v("rollback").join("metadata/timestamp.json"), &old_ts).unwrap();
    let d = v("freeze");
    Repository::open(&d, &kek)
        .unwrap()
        .expire(Role::Timestamp, t - 60, t)
        .unwrap();
    // A new release whose snapshot file is swapped for the previous (validly signed) one.
    let d = v("mixmatch");
    Repository::open(&d, &kek).unwrap().publish(t).unwrap();
    std::fs::copy(
        d.join("metadata/3.snapshot.json"),
        d.join("metadata/4.snapshot.json"),
    )
    .unwrap();
    let d = v("threshold");
    let kd = d.join("keys/targets");
    let first = std::fs::read_dir(&kd)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::remove_file(first).unwrap();
    Repository::open(&d, &kek).unwrap().publish(t).unwrap();
    let d = v("oversized");
    for e in std::fs::read_dir(d.join("targets")).unwrap() {
        let p = e.unwrap().path();
        let mut b = std::fs::read(&p).unwrap();
        b.push(0);
        std::fs::write(p, b).unwrap();
    }
    fw
}

fn ours_update(state: &Path, base: &str, variant: &str) -> Result<Vec<u8>, TufError> {
    let f = HttpFetcher::new(&format!("{base}/{variant}")).unwrap();
    let mut c = Client::open(state, f, now())?;
    c.refresh()?;
    c.download("fw.bin")
}

/// Runs our client through good → each attack against fixtures under `served`.
pub fn run_our_client(served: &Path, base: &str, fw: &[u8]) {
    let st = TempDir::new("ourclient");
    let good_state = st.path("good");
    Client::<HttpFetcher>::bootstrap(
        &good_state,
        &std::fs::read(served.join("good/metadata/1.root.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(ours_update(&good_state, base, "good").unwrap(), fw);
    for attack in ATTACKS {
        let s = st.path(attack);
        copy_dir(&good_state, &s);
        let e = match ours_update(&s, base, attack) {
            Ok(_) => panic!("palisade client accepted {attack}"),
            Err(e) => e,
        };
        let ok = match attack {
            "rollback" => matches!(e, TufError::Rollback { .. }),
            "freeze" => matches!(
                e,
                TufError::Expired {
                    role: "timestamp",
                    ..
                }
            ),
            "mixmatch" => matches!(
                e,
                TufError::VersionMismatch { .. }
                    | TufError::HashMismatch { .. }
                    | TufError::LengthMismatch { .. }
            ),
            "threshold" => matches!(
                e,
                TufError::Threshold {
                    role: "targets",
                    valid: 1,
                    threshold: 2
                }
            ),
            "oversized" => matches!(e, TufError::LengthMismatch { .. }),
            _ => false,
        };
        assert!(ok, "{attack}: unexpected error {e}");
        eprintln!("palisade client rejects {attack}: {e}");
    }
}

#[test]
fn our_client_against_our_repository() {
    let d = TempDir::new("ours");
    let fw = build_fixtures(&d.0);
    let base = serve(d.0.clone());
    run_our_client(&d.0, &base, &fw);
}

#[test]
fn key_rotation_and_root_chain() {
    let d = TempDir::new("rotate");
    let t = now();
    let kek = d.path("kek");
    let repo = Repository::init(d.path("repo"), &kek, &InitOptions::default(), t).unwrap();
    repo.add_target("a.bin", b"hello", serde_json::Value::Null)
        .unwrap();
    repo.publish(t).unwrap();
    let base = serve(d.0.clone());
    let st = d.path("client");
    Client::<HttpFetcher>::bootstrap(
        &st,
        &std::fs::read(d.path("repo/metadata/1.root.json")).unwrap(),
    )
    .unwrap();
    let f = || HttpFetcher::new(&format!("{base}/repo")).unwrap();
    let mut c = Client::open(&st, f(), t).unwrap();
    c.refresh().unwrap();
    for role in [Role::Timestamp, Role::Snapshot, Role::Targets, Role::Root] {
        repo.rotate_keys(role, t).unwrap();
    }
    let mut c = Client::open(&st, f(), t).unwrap();
    c.refresh().unwrap();
    assert_eq!(c.root_version(), 5);
    assert_eq!(c.download("a.bin").unwrap(), b"hello");
    // Keys are encrypted at rest: a wrong KEK cannot open them.
    std::fs::write(d.path("bad-kek"), format!("{}\n", "11".repeat(32))).unwrap();
    let bad = Repository::open(d.path("repo"), &d.path("bad-kek")).unwrap();
    assert!(matches!(bad.publish(t), Err(TufError::Crypto(_))));
    // Key files hold no plaintext key material.
    let any = std::fs::read_dir(d.path("repo/keys/targets"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let text = std::fs::read_to_string(any.path()).unwrap();
    assert!(text.contains("AES-256-GCM") && !text.contains("PRIVATE"));
}

#[test]
fn malformed_metadata_errors() {
    use palisade_update::metadata::Envelope;
    let e = Envelope::parse(b"{\"signed\": {}, \"signed\": {}}", "x.json", Role::Root).unwrap_err();
    assert!(e.to_string().contains("duplicate key"), "{e}");
    let e = Envelope::parse(
        b"{\"signatures\": [], \"signed\": {\"_type\": \"targets\"}}",
        "x.json",
        Role::Root,
    )
    .unwrap_err();
    assert!(matches!(e, TufError::WrongType { .. }), "{e}");
    let doc = br#"{"signatures": [], "signed": {"_type": "root", "spec_version": "1.0.31", "version": 1, "expires": "2030-01-01T00:00:00Z", "x": 1.5}}"#;
    let e = Envelope::parse(doc, "x.json", Role::Root).unwrap_err();
    assert!(e.to_string().contains("canonical"), "{e}");
    let e = Envelope::parse(b"{\"signatures\": [", "x.json", Role::Root).unwrap_err();
    assert!(e.to_string().contains("line 1"), "{e}");
}
