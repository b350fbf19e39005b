//! The real `poc247` binary for the operator's commands: `init`, `peers`, `peers reload`,
//! SIGHUP to `run`, and the status summary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use poc247_node::LoadDirectory as _;
use poc247_tests::*;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt as _;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn init_creates_the_keys_prints_what_to_register_and_never_overwrites() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();
    let ran = poc247(&["init", "--party", "LU", "--data", d, "--json"]).await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let v = ran.json();
    assert_eq!(v["party"], "LU");
    assert_eq!(v["dns_name"], "lu.poc247");
    assert_eq!(v["spki_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(v["fingerprint"].as_str().unwrap().len(), 23);
    assert!(v["directory_entry"]
        .as_str()
        .unwrap()
        .contains(v["signing_key"].as_str().unwrap()));
    for key in ["signing.key", "tls.key"] {
        let mode = std::fs::metadata(data.join(key))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key}");
    }
    let csr = std::fs::read_to_string(data.join("tls.csr")).unwrap();
    assert!(
        csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----"),
        "{csr}"
    );

    // Again into the same folder: refused, the file named, nothing changed.
    let before = std::fs::read(data.join("signing.key")).unwrap();
    let ran = poc247(&["init", "--party", "LU", "--data", d]).await;
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(ran.stderr.contains("signing.key"), "{ran:?}");
    assert!(ran.stderr.contains("refusing to overwrite"), "{ran:?}");
    assert_eq!(std::fs::read(data.join("signing.key")).unwrap(), before);

    // The text names the files and what to submit.
    let other = tmp.path().join("other");
    let ran = poc247(&[
        "init",
        "--party",
        "FR-CA",
        "--data",
        other.to_str().unwrap(),
    ])
    .await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(ran.stdout.contains("fr-ca.poc247"), "{ran:?}");
    assert!(ran.stdout.contains("SPKI SHA-256"), "{ran:?}");
    assert!(ran.stdout.contains("[[party]]"), "{ran:?}");
    // A bad party is a usage error.
    let ran = poc247(&["init", "--party", "Luxembourg", "--data", d]).await;
    assert_eq!(ran.code, Some(2), "{ran:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_lists_and_a_bad_directory_is_refused_by_reload_with_exit_1() {
    let net = Net::embedded().await.unwrap();
    let lu = net.config("LU").unwrap().socket;
    let lu = lu.to_str().unwrap();
    let mut ev = net.events("LU").unwrap();
    let done = net.submit("LU", &preservation_request("FR")).await.unwrap();
    wait_delivered(&mut ev, done["message_id"].as_str().unwrap(), 10)
        .await
        .unwrap();

    let ran = poc247(&["--socket", lu, "peers", "--json"]).await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let v = ran.json();
    let parties: Vec<&str> = v["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["party"].as_str().unwrap())
        .collect();
    assert_eq!(parties, ["CO", "FR"], "{v}");
    let ran = poc247(&["--socket", lu, "peers"]).await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    // FR's row (its cells may wrap onto the next lines to fit 80 columns).
    let rows: Vec<&str> = ran
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("FR "))
        .take_while(|l| l.starts_with("FR ") || l.starts_with(' '))
        .collect();
    let fr_row = rows
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(fr_row.starts_with("FR yes"), "{ran:?}");
    assert!(fr_row.contains("days"), "{ran:?}");
    assert!(fr_row.contains("left"), "{ran:?}");

    // The status summarises traffic, latency and certificates.
    let ran = poc247(&["--socket", lu, "status"]).await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    for expected in [
        "traffic      out 1 queued, 1 delivered, 0 failed",
        "latency      1 delivered",
        "overdue      nothing",
        "certificates LU expires",
    ] {
        assert!(ran.stdout.contains(expected), "{expected}: {ran:?}");
    }

    let path = net.net.dir().join("directory.toml");
    let good = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        good.replacen("signing_key = \"", "signing_key = \"x", 1),
    )
    .unwrap();
    let ran = poc247(&["--socket", lu, "peers", "reload"]).await;
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(ran.stderr.contains("reload refused: directory"), "{ran:?}");
    assert!(ran.stderr.contains("line "), "{ran:?}");
    assert!(ran.stderr.contains("(CO): signing_key"), "{ran:?}");
    let ran = poc247(&["--socket", lu, "peers", "reload", "--json"]).await;
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert_eq!(ran.json()["error"]["code"], "invalid-directory");

    std::fs::write(&path, &good).unwrap();
    let ran = poc247(&["--socket", lu, "peers", "reload"]).await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(ran.stdout.contains("3 parties"), "{ran:?}");
    assert!(ran.stdout.contains("removed  none"), "{ran:?}");

    // Without a node: exit 3.
    let tmp = tempfile::tempdir().unwrap();
    let dead = tmp.path().join("none.sock");
    for cmd in [vec!["peers"], vec!["peers", "reload"]] {
        let mut args = vec!["--socket", dead.to_str().unwrap()];
        args.extend(cmd);
        assert_eq!(poc247(&args).await.code, Some(3), "{args:?}");
    }
    net.net.shutdown().await;
}

#[tokio::test]
async fn sighup_reloads_the_directory_of_a_running_node() {
    let mut net = Net::fresh_prepared(&["LU", "FR"]).unwrap();
    net.net.release_ports();
    let config = net.net.dir().join("lu").join("node.toml");
    let config = config.to_str().unwrap();
    let mut child = bin()
        .args(["run", "--config", config, "--log-format", "json"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    loop {
        let line = lines.next_line().await.unwrap().expect("run ended early");
        let v: Value = serde_json::from_str(&line).unwrap();
        if v["fields"]["message"] == "control API ready; Ctrl-C or SIGTERM stops the node" {
            break;
        }
    }
    let parties = || async {
        let ran = poc247(&["--config", config, "peers", "--json"]).await;
        assert_eq!(ran.code, Some(0), "{ran:?}");
        ran.json()["directory"]["parties"].as_u64().unwrap()
    };
    assert_eq!(parties().await, 2);

    // FR leaves the directory; SIGHUP puts it in force.
    let path = net.net.dir().join("directory.toml");
    let mut file = poc247_node::Directory::load(&path).unwrap().to_file();
    file.party.retain(|e| e.id == "LU");
    std::fs::write(&path, toml::to_string(&file).unwrap()).unwrap();
    let pid = child.id().unwrap().to_string();
    let hup = |pid: String| async move {
        let sent = Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .await
            .unwrap();
        assert!(sent.success());
    };
    hup(pid.clone()).await;
    loop {
        let line = lines.next_line().await.unwrap().expect("run ended early");
        if line.contains("\"reloaded\"") {
            break;
        }
        assert!(!line.contains("reload refused"), "{line}");
    }
    assert_eq!(parties().await, 1);

    // A bad file: refused, logged, the node goes on with the one in force.
    std::fs::write(&path, "[[party]\n").unwrap();
    hup(pid.clone()).await;
    loop {
        let line = lines.next_line().await.unwrap().expect("run ended early");
        if line.contains("reload refused") {
            assert!(line.contains("line 1, column"), "{line}");
            break;
        }
    }
    assert_eq!(parties().await, 1);

    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    while lines.next_line().await.unwrap().is_some() {}
    assert_eq!(child.wait().await.unwrap().code(), Some(0));
}

#[tokio::test]
async fn check_config_reads_everything_run_reads_and_names_the_first_fault() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("net");
    let o = out.to_str().unwrap();
    let ran = poc247(&["dev-network", "--parties", "LU,FR", "--out", o]).await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let lu = out.join("lu/node.toml");
    let l = lu.to_str().unwrap();
    let ran = poc247(&["--config", l, "check-config", "--json"]).await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let v = ran.json();
    assert_eq!(v["party"], "LU");
    assert_eq!(v["parties"], 2);
    // FR's signing key in LU's place: the directory does not list it for LU.
    std::fs::copy(out.join("fr/signing.key"), out.join("lu/signing.key")).unwrap();
    let ran = poc247(&["--config", l, "check-config"]).await;
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(ran.stderr.contains("signing key"), "{ran:?}");
    // A misspelt setting is named with its line.
    let text = std::fs::read_to_string(&lu).unwrap();
    std::fs::write(&lu, format!("{text}\nclock_skew = 5\n")).unwrap();
    let ran = poc247(&["--config", l, "check-config"]).await;
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(ran.stderr.contains("clock_skew"), "{ran:?}");
    // Without --config it is a usage error.
    let ran = poc247(&["check-config"]).await;
    assert_eq!(ran.code, Some(2), "{ran:?}");
}
