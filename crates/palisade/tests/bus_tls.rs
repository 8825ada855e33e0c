//! Issue 13: the bus over TLS with per-sensor users. nats-server runs with a certificate from
//! a test CA (made with openssl) and one user per sensor, each allowed to publish only on its
//! own subject `palisade.events.<site>.<sensor>`; the hub worker has its own user. A sensor
//! delivers on its subject; the same credentials on another sensor's subject, or a wrong
//! password, get nothing onto the bus (the events stay in the spool).

mod bus_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bus_support::*;
use palisade_store::{SqliteStore, Store};

fn openssl(dir: &Path, args: &[&str]) {
    let st = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("running openssl");
    assert!(st.status.success(), "openssl {args:?}: {st:?}");
}

fn have_openssl() -> bool {
    let ok = Command::new("openssl").arg("version").output().is_ok();
    if !ok {
        assert!(
            std::env::var("PALISADE_REQUIRE_ORACLES").as_deref() != Ok("1"),
            "openssl is required (PALISADE_REQUIRE_ORACLES=1) but not installed"
        );
        eprintln!("skipping: openssl not installed");
    }
    ok
}

#[test]
fn tls_and_per_sensor_users() {
    let Some(bin) = nats_server_bin() else { return };
    if !have_openssl() {
        return;
    }
    let dir = tmp("tls");
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=palisade test CA",
    ]);
    openssl(&dir, &ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(&dir, &csr);
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
    );
    let port = free_port();
    let conf = format!(
        r#"listen: "127.0.0.1:{port}"
jetstream {{ store_dir: "{js}" }}
tls {{ cert_file: "{d}/server.pem", key_file: "{d}/server.key", timeout: 5 }}
authorization {{
  users = [
    {{ user: "hub", password: "hub-secret" }}
    {{ user: "sensor1", password: "s1-secret",
       permissions: {{ publish: {{ allow: ["palisade.events.site1.sensor1"] }}, subscribe: {{ allow: ["_INBOX.>"] }} }} }}
    {{ user: "sensor2", password: "s2-secret",
       permissions: {{ publish: {{ allow: ["palisade.events.site1.sensor2"] }}, subscribe: {{ allow: ["_INBOX.>"] }} }} }}
  ]
}}
"#,
        js = dir.join("js").display(),
        d = dir.display()
    );
    let conf_path = dir.join("nats.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let _nats = Nats::start_on(bin, &dir, Some(conf_path), port);
    let url = format!("tls://127.0.0.1:{port}");
    let ca_pem = dir.join("ca.pem");
    let ca_arg = ca_pem.to_str().unwrap();
    let hub_dir = dir.join("hub");
    let _w = Worker::start(
        &url,
        "TLS",
        &hub_dir,
        &[
            "--nats-ca",
            ca_arg,
            "--nats-user",
            "hub",
            "--nats-password",
            "hub-secret",
        ],
    );
    std::thread::sleep(Duration::from_secs(1));
    let demo = dir.join("demo.pcap");
    std::fs::write(
        &demo,
        palisade_sim::generate(&palisade_sim::SimConfig::default()),
    )
    .unwrap();
    let sense =
        |sensor: &str, user: &str, pass: &str, spool: &str, timeout: &str| -> serde_json::Value {
            let out = palisade()
                .args([
                    "analyze",
                    "--nats",
                    &url,
                    "--nats-ca",
                    ca_arg,
                    "--site",
                    "site1",
                ])
                .args([
                    "--sensor",
                    sensor,
                    "--nats-user",
                    user,
                    "--publish-timeout",
                    timeout,
                ])
                .env("PALISADE_NATS_PASSWORD", pass)
                .arg("--spool")
                .arg(dir.join(spool))
                .arg(&demo)
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            serde_json::from_slice(&out.stdout).unwrap()
        };
    let ok = sense("sensor1", "sensor1", "s1-secret", "spool-ok", "30");
    let n = ok["acked"].as_u64().unwrap();
    assert!(n > 5, "{ok}");
    assert_eq!(ok["spool_pending"], 0, "{ok}");

    // sensor1's credentials on sensor2's subject: refused by the server, kept in the spool.
    let wrong_subject = sense("sensor2", "sensor1", "s1-secret", "spool-subject", "1");
    assert_eq!(wrong_subject["acked"], 0, "{wrong_subject}");
    assert_eq!(wrong_subject["spool_pending"], n, "{wrong_subject}");
    // A wrong password never connects.
    let wrong_pass = sense("sensor1", "sensor1", "not-the-password", "spool-pass", "1");
    assert_eq!(wrong_pass["acked"], 0, "{wrong_pass}");
    assert_eq!(wrong_pass["spool_pending"], n, "{wrong_pass}");

    let store = SqliteStore::open(&hub_dir.join("hub.db")).unwrap();
    wait_until(
        Duration::from_secs(30),
        "the hub worker to store the events",
        || store.event_count().unwrap() >= n,
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(store.event_count().unwrap(), n);
    let _ = std::fs::remove_dir_all(&dir);
}
