//! The real `poc247` binary for the operator's commands: `init`, `peers`, `peers reload`,
//! SIGHUP to `run`, and the status summary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use poc247_tests::*;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt as _;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn init_creates_the_keys_and_node_toml_prints_what_comes_next_and_never_overwrites() {
    let tmp = tempfile::tempdir().unwrap();
    let registry = tmp.path().join("registry");
    let made = poc247(&[
        "registry",
        "init",
        "--out",
        registry.to_str().unwrap(),
        "--json",
    ])
    .await;
    assert_eq!(made.code, Some(0), "{made:?}");
    let made = made.json();
    let key = made["registry_key"].as_str().unwrap();
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();
    let ran = poc247(&[
        "init",
        "--party",
        "LU",
        "--data",
        d,
        "--registry-key",
        key,
        "--listen",
        "127.0.0.1:47299",
        "--json",
    ])
    .await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let v = ran.json();
    assert_eq!(v["party"], "LU");
    assert_eq!(v["dns_name"], "lu.poc247");
    assert_eq!(v["spki_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(v["fingerprint"].as_str().unwrap().len(), 23);
    assert_eq!(v["registry_fingerprint"], made["fingerprint"]);
    // node.toml pins the registry key and names the files init made; with the certificate
    // the registry issues and its CA's beside them, `check-config` reads it and the keys and
    // finds only the directory version missing, which joining applies next.
    let toml = std::fs::read_to_string(data.join("node.toml")).unwrap();
    assert!(
        toml.contains(&format!("registry_key = \"{key}\"")),
        "{toml}"
    );
    assert!(toml.contains("listen = \"127.0.0.1:47299\""), "{toml}");
    let issued = poc247(&[
        "registry",
        "sign-csr",
        data.join("tls.csr").to_str().unwrap(),
        "--party",
        "LU",
        "--registry",
        registry.to_str().unwrap(),
        "--out",
        data.join("tls.pem").to_str().unwrap(),
    ])
    .await;
    assert_eq!(issued.code, Some(0), "{issued:?}");
    std::fs::copy(registry.join("ca.pem"), data.join("ca.pem")).unwrap();
    let config = data.join("node.toml");
    let checked = poc247(&["--config", config.to_str().unwrap(), "check-config"]).await;
    assert_eq!(checked.code, Some(1), "{checked:?}");
    assert!(
        checked
            .stderr
            .contains("no signed directory version is installed"),
        "{checked:?}"
    );
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
    let toml_before = std::fs::read(data.join("node.toml")).unwrap();
    let ran = poc247(&["init", "--party", "LU", "--data", d, "--registry-key", key]).await;
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(ran.stderr.contains("signing.key"), "{ran:?}");
    assert!(ran.stderr.contains("refusing to overwrite"), "{ran:?}");
    assert_eq!(std::fs::read(data.join("signing.key")).unwrap(), before);
    assert_eq!(std::fs::read(data.join("node.toml")).unwrap(), toml_before);

    // The text names the files and what to submit.
    let other = tmp.path().join("other");
    let ran = poc247(&[
        "init",
        "--party",
        "FR-CA",
        "--data",
        other.to_str().unwrap(),
        "--registry-key",
        key,
    ])
    .await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(ran.stdout.contains("fr-ca.poc247"), "{ran:?}");
    assert!(ran.stdout.contains("SPKI SHA-256"), "{ran:?}");
    assert!(ran.stdout.contains("directory entry"), "{ran:?}");
    // Without --listen, the default address.
    let toml = std::fs::read_to_string(other.join("node.toml")).unwrap();
    assert!(toml.contains("listen = \"0.0.0.0:47241\""), "{toml}");
    // A bad party, a missing or malformed registry key: usage errors naming it, nothing made.
    let fresh = tmp.path().join("fresh");
    let f = fresh.to_str().unwrap();
    let ran = poc247(&[
        "init",
        "--party",
        "Luxembourg",
        "--data",
        f,
        "--registry-key",
        key,
    ])
    .await;
    assert_eq!(ran.code, Some(2), "{ran:?}");
    let ran = poc247(&["init", "--party", "LU", "--data", f]).await;
    assert_eq!(ran.code, Some(2), "{ran:?}");
    assert!(ran.stderr.contains("--registry-key"), "{ran:?}");
    let ran = poc247(&[
        "init",
        "--party",
        "LU",
        "--data",
        f,
        "--registry-key",
        "c2hvcnQ=",
    ])
    .await;
    assert_eq!(ran.code, Some(2), "{ran:?}");
    assert!(ran.stderr.contains("--registry-key"), "{ran:?}");
    assert!(!fresh.exists(), "nothing is made on a usage error");
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

    // A version whose entry for CO is broken (as CO signed it): refused, exit 1, the
    // directory in force unchanged.
    let bad = net
        .next_version("LU", |e| {
            if e.id == "CO" {
                e.signing_key = format!("x{}", e.signing_key);
            }
        })
        .unwrap();
    let file = net.tmp.path().join("bad-version.json");
    std::fs::write(&file, bad.to_bytes().unwrap()).unwrap();
    let file = file.to_str().unwrap();
    let ran = poc247(&["--socket", lu, "directory", "apply", file]).await;
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(ran.stderr.contains("CO"), "{ran:?}");
    assert!(ran.stderr.contains("signing_key"), "{ran:?}");
    assert!(ran.stderr.contains("unchanged"), "{ran:?}");
    let ran = poc247(&["--socket", lu, "directory", "apply", file, "--json"]).await;
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert_eq!(ran.json()["error"]["code"], "version-refused");

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

    // FR leaves the directory: a version without it, installed beside the running node (as
    // `directory apply --offline` writes it); SIGHUP puts it in force.
    let only_lu: Vec<_> = poc247_tests::signed_entries(&net, |_| {})
        .unwrap()
        .into_iter()
        .filter(|e| e.entry.id == "LU")
        .collect();
    let next = poc247_node::peers::registry::publish(
        &net.registry().unwrap(),
        only_lu,
        Some(&net.version_in_force("LU").unwrap()),
        poc247_tests::now(),
        30,
    )
    .unwrap();
    poc247_tests::install_version(&net, "LU", &next).unwrap();
    let path = poc247_node::peers::version_path(&net.config("LU").unwrap());
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

    // A file edited by hand (a later next-update): its registry signature fails; refused,
    // logged, the node goes on with the one in force.
    let mut edited: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edited["version"]["next_update"] = serde_json::json!(u64::MAX / 2);
    std::fs::write(&path, edited.to_string()).unwrap();
    hup(pid.clone()).await;
    loop {
        let line = lines.next_line().await.unwrap().expect("run ended early");
        if line.contains("reload refused") {
            assert!(line.contains("directory.version.json"), "{line}");
            assert!(line.contains("not signed by the registry key"), "{line}");
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
