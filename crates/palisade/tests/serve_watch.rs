//! `palisade serve --watch DIR`: the hub with its sensor in-process. A capture written into the
//! folder (slowly, as a capture tool would) is analysed once complete and its devices and alerts
//! land in the hub's store; a restart does not analyse it again.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use palisade_hub::store::{SqliteStore, Store};

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("palisade-watch-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Starts the hub; returns it and a channel of its stderr lines.
fn serve(data: &PathBuf, watch: &PathBuf) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["serve", "--no-tls", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .arg("--watch")
        .arg(watch)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

fn wait_for(rx: &mpsc::Receiver<String>, needle: &str, secs: u64) -> Option<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(l) if l.contains(needle) => return Some(l),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

#[test]
fn watched_folder_captures_are_analysed_and_ingested_once() {
    let data = tmpdir("data");
    let watch = tmpdir("in");
    let pcap = palisade_sim::generate(&palisade_sim::SimConfig::default());
    let (mut hub, rx) = serve(&data, &watch);
    // Write the capture in pieces, with pauses longer than the poll interval: the sensor must
    // wait for it to be complete (a partial read would give fewer packets).
    let target = watch.join("home.pcap");
    let mut f = std::fs::File::create(&target).unwrap();
    let half = pcap.len() / 2;
    f.write_all(&pcap[..half]).unwrap();
    f.flush().unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    f.write_all(&pcap[half..]).unwrap();
    drop(f);
    let line = wait_for(&rx, "events ingested", 60);
    let _ = hub.kill();
    let _ = hub.wait();
    let line = line.expect("the watched capture was ingested");
    assert!(line.contains("home.pcap"), "{line}");
    assert!(line.contains(" 13 devices"), "{line}");

    // What the hub stored: the demo's Mirai-infected camera with its scan alert.
    let store = SqliteStore::open(&data.join("hub.db")).unwrap();
    let cam = store
        .device("c0:56:e3:a1:7d:42")
        .unwrap()
        .expect("camera stored");
    let kinds: Vec<&str> = cam.alerts.iter().map(|a| a.kind.as_str()).collect();
    assert!(kinds.contains(&"botnet.mirai.scan"), "{kinds:?}");

    // Restart: the ledger says the file is done; nothing is analysed again.
    let (mut hub, rx) = serve(&data, &watch);
    let again = wait_for(&rx, "events ingested", 6);
    let _ = hub.kill();
    let _ = hub.wait();
    assert!(again.is_none(), "re-analysed after restart: {again:?}");
    let _ = std::fs::remove_dir_all(&data);
    let _ = std::fs::remove_dir_all(&watch);
}
