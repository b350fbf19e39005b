//! Six `poc247 run` processes on a network whose directory is a signed registry version, driven
//! with the CLI only, as docs/joining.md tells it (issue 19, item 7):
//!
//! 1. LU, FR, CO, DE and NL run on version 1. BE joins (`init`, `registry sign-csr`,
//!    `directory entry`, `registry publish`, `directory apply --offline` at BE and
//!    `directory apply` at LU alone); the other four take version 2 from their peers, and a
//!    request from BE is delivered to each of the five with its receipt verified.
//! 2. FR rolls its signing key and its TLS key (`init --rotate`, the certificate from the
//!    registry, a version listing the next keys, `peers reload`) while LU sends requests to
//!    it: every one is delivered with its receipt verified, none refused.
//! 3. CO is removed by a version: the requests LU queued for it fail with the reason, and CO,
//!    started again, is refused when it connects.
//! 4. NL is stopped through two versions and, started again, catches up from a peer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::network::*;
use poc247_tests::procs::NodeProcess;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Requests LU sends FR while FR rolls its keys, as the issue asks. The sender goes on until
/// the rollover is over, so more may go.
const ROLLOVER_REQUESTS: usize = 500;

/// The network: the registry's folder, each Party's folder and its node, the versions.
struct Network {
    dir: PathBuf,
    registry: PathBuf,
    registry_key: String,
    nodes: BTreeMap<&'static str, NodeProcess>,
    /// Each Party's latest signed entry.
    entries: BTreeMap<&'static str, PathBuf>,
    /// The last version published.
    last: Option<PathBuf>,
    serial: u64,
}

impl Network {
    fn home(&self, p: &str) -> PathBuf {
        self.dir.join(p.to_lowercase())
    }

    /// The registry's `sign-csr` of `p`'s request `csr`, the certificate written to `out`.
    async fn sign_csr(&self, p: &str, csr: &Path, out: &Path) {
        ok(&strs(&sign_csr_args(&self.registry, p, csr, out))).await;
    }

    fn config(&self, p: &str) -> PathBuf {
        self.home(p).join("node.toml")
    }

    /// `p`'s administrator: keys and node.toml, the certificate from the registry, its entry.
    async fn join(&mut self, p: &'static str) {
        let home = self.home(p);
        let port = free_port();
        init_node(
            &home,
            p,
            port,
            &self.registry_key,
            &self.registry.join("ca.pem"),
        )
        .await;
        self.sign_csr(p, &home.join("tls.csr"), &home.join("tls.pem"))
            .await;
        write_declarations(&home, p, port);
        self.entry(p).await;
    }

    /// `directory entry` for `p` (its next keys too, once made).
    async fn entry(&mut self, p: &'static str) {
        let home = self.home(p);
        let n = std::fs::read_dir(&home).unwrap().count();
        let entry = home.join(format!("entry-{n}.json"));
        directory_entry(&self.config(p), &home, &entry).await;
        self.entries.insert(p, entry);
    }

    /// `registry publish` of the next version with the entries of `parties`.
    async fn publish(&mut self, parties: &[&str]) -> PathBuf {
        self.serial += 1;
        let out = self.dir.join(format!("v{}.json", self.serial));
        let entries: Vec<&Path> = parties.iter().map(|p| self.entries[p].as_path()).collect();
        ok(&strs(&publish_args(
            &self.registry,
            self.last.as_deref(),
            &entries,
            &out,
        )))
        .await;
        self.last = Some(out.clone());
        out
    }

    /// `directory apply` at `p`'s running node.
    async fn apply(&self, p: &str, version: &Path) {
        ok(&[
            "--config",
            s(&self.config(p)),
            "directory",
            "apply",
            s(version),
        ])
        .await;
    }

    /// Applies `version` (serial `serial`) at each of `parties` that does not hold it yet, as
    /// docs/joining.md ("Not yet") tells an administrator to when a version offered after a
    /// TLS key change did not arrive; one that arrives meanwhile is refused as not newer, and
    /// that is fine.
    async fn start(&mut self, p: &'static str) {
        // Each start's log beside the node's files, for a failure's reader.
        let node = run_node(&self.config(p), &self.home(p).join("run.log")).await;
        self.nodes.insert(p, node);
    }

    async fn stop(&mut self, p: &str) {
        kill_node(self.nodes.remove(p).unwrap()).await;
    }

    async fn status(&self, p: &str) -> Value {
        ok(&["--config", s(&self.config(p)), "status"]).await
    }

    async fn serial_of(&self, p: &str) -> u64 {
        self.status(p).await["directory_version"]["serial"]
            .as_u64()
            .unwrap_or(0)
    }

    /// Waits until each of `parties` has version `serial` in force.
    async fn wait_serial(&self, parties: &[&str], serial: u64) {
        for p in parties {
            wait_until(&format!("{p} holds version {serial}"), 20, || async {
                self.serial_of(p).await == serial
            })
            .await;
        }
    }

    async fn show(&self, p: &str, case: &str) -> Value {
        ok(&["--config", s(&self.config(p)), "show", case]).await
    }

    /// Waits until `case`, sent from `p`, is delivered with its receipt verified.
    async fn wait_delivered(&self, p: &str, case: &str) {
        wait_until(&format!("{case} from {p} delivered"), 20, || async {
            let v = self.show(p, case).await;
            v["timeline"][0]["receipt"]["verified"] == true
        })
        .await;
    }
}

/// A preservation request from the node at `config` to `to`, its warnings confirmed; its case
/// reference.
async fn send(config: &Path, to: &str) -> String {
    send_preservation(config, to, &["--yes"]).await
}

/// `p`'s outbox cases with `peer`, every page.
async fn outbox(net: &Network, p: &str, peer: &str) -> Vec<Value> {
    let v = ok(&[
        "--config",
        s(&net.config(p)),
        "outbox",
        "--all",
        "--peer",
        peer,
    ])
    .await;
    v["cases"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_nodes_a_party_joins_one_rolls_its_keys_one_is_removed_one_catches_up() {
    let began = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let registry = dir.join("registry");
    let made = ok(&["registry", "init", "--out", s(&registry)]).await;
    let mut net = Network {
        dir,
        registry,
        registry_key: made["registry_key"].as_str().unwrap().to_owned(),
        nodes: BTreeMap::new(),
        entries: BTreeMap::new(),
        last: None,
        serial: 0,
    };
    let five = ["LU", "FR", "CO", "DE", "NL"];
    for p in five {
        net.join(p).await;
    }
    let v1 = net.publish(&five).await;
    for p in five {
        apply_offline(&net.config(p), &v1).await;
        net.start(p).await;
    }
    eprintln!("five nodes on version 1: {:?}", began.elapsed());

    // 1. BE joins; version 2 is applied at BE before its start and at LU alone.
    net.join("BE").await;
    let six = ["LU", "FR", "CO", "DE", "NL", "BE"];
    let v2 = net.publish(&six).await;
    apply_offline(&net.config("BE"), &v2).await;
    net.apply("LU", &v2).await;
    net.start("BE").await;
    // The other four take it from their peers.
    net.wait_serial(&["FR", "CO", "DE", "NL"], 2).await;
    let mut from_be = Vec::new();
    for p in five {
        from_be.push((send(&net.config("BE"), p).await, p));
    }
    for (case, p) in &from_be {
        net.wait_delivered("BE", case).await;
        let at = net.show("BE", case).await;
        assert_eq!(at["timeline"][0]["receipt"]["receiver"], *p, "{at}");
    }
    eprintln!("BE joined, delivered to the five: {:?}", began.elapsed());

    // 2. FR rolls its signing key and its TLS key while LU sends it requests.
    let fr_home = net.home("FR");
    let fr = net.config("FR");
    let lu = net.config("LU");
    let old_key = net.status("FR").await["signing_key"].clone();
    let rolled = Arc::new(AtomicBool::new(false));
    let sender = {
        let rolled = rolled.clone();
        let lu = lu.clone();
        tokio::spawn(async move {
            let mut cases = Vec::new();
            while cases.len() < ROLLOVER_REQUESTS || !rolled.load(Ordering::SeqCst) {
                cases.push(send(&lu, "FR").await);
            }
            cases
        })
    };
    ok(&["--config", s(&fr), "init", "--rotate", "signing"]).await;
    ok(&["--config", s(&fr), "init", "--rotate", "tls"]).await;
    net.sign_csr(
        "FR",
        &fr_home.join("tls.next.csr"),
        &fr_home.join("tls.next.crt"),
    )
    .await;
    net.entry("FR").await;
    let v3 = net.publish(&six).await;
    net.apply("FR", &v3).await;
    wait_until("FR signs with its next key", 20, || async {
        net.status("FR").await["signing_key"] != old_key
    })
    .await;
    ok(&["--config", s(&fr), "peers", "reload"]).await;
    assert!(
        !fr_home.join("tls.next.key").exists(),
        "the next TLS key is in use after the reload"
    );
    rolled.store(true, Ordering::SeqCst);
    let cases = sender.await.unwrap();
    net.wait_serial(&["LU", "CO", "DE", "NL", "BE"], 3).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let outbox_fr = loop {
        let all = outbox(&net, "LU", "FR").await;
        let failed: Vec<&Value> = all.iter().filter(|c| c["state"] == "failed").collect();
        assert!(failed.is_empty(), "refused: {failed:?}");
        if all.iter().filter(|c| c["state"] == "delivered").count() == cases.len() {
            break all;
        }
        assert!(Instant::now() < deadline, "not all delivered to FR");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(outbox_fr.len(), cases.len());
    // Receipts verified: the first (signed with FR's old key) and the last (its new one).
    let new_key = net.status("FR").await["signing_key"].clone();
    for case in [cases.first().unwrap(), cases.last().unwrap()] {
        let v = net.show("LU", case).await;
        assert_eq!(v["timeline"][0]["receipt"]["verified"], true, "{v}");
    }
    eprintln!(
        "FR rolled its keys ({old_key} → {new_key}) under {} requests, all delivered: {:?}",
        cases.len(),
        began.elapsed()
    );

    // 3. CO is removed while LU has requests queued for it.
    net.stop("CO").await;
    let to_co = [send(&lu, "CO").await, send(&lu, "CO").await];
    let without_co = ["LU", "FR", "DE", "NL", "BE"];
    //    Applied at DE alone; the others take it from their peers.
    let v4 = net.publish(&without_co).await;
    net.apply("DE", &v4).await;
    net.wait_serial(&without_co, 4).await;
    for case in &to_co {
        wait_until(&format!("{case} to CO failed"), 20, || async {
            net.show("LU", case).await["state"] == "failed"
        })
        .await;
        let v = net.show("LU", case).await;
        let why = v["failure_reason"].as_str().unwrap_or_default();
        assert!(
            why.contains("CO was removed from the directory"),
            "the reason: {v}"
        );
        assert_eq!(v["timeline"][0]["delivery"], "failed", "{v}");
    }
    // CO, started again on the version it held, is refused when it connects.
    net.start("CO").await;
    let co = net.config("CO");
    let from_co = send(&co, "LU").await;
    wait_until("CO sees its connection to LU refused", 20, || async {
        let peers = ok(&["--config", s(&co), "peers"]).await;
        peers["peers"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r["party"] == "LU").cloned())
            .is_some_and(|row| row["last_error"].is_string())
    })
    .await;
    let at_co = net.show("CO", &from_co).await;
    assert!(at_co["timeline"][0]["receipt"].is_null(), "{at_co}");
    assert_eq!(net.serial_of("CO").await, 3, "CO learns no version after");
    net.stop("CO").await;
    eprintln!("CO removed: {:?}", began.elapsed());

    // 4. NL is stopped through two versions, applied at LU, and catches up from a peer when
    //    it starts: its peers hand it each version it missed, oldest first.
    net.stop("NL").await;
    for serial in [5, 6] {
        let v = net.publish(&without_co).await;
        net.apply("LU", &v).await;
        net.wait_serial(&["LU", "FR", "DE", "BE"], serial).await;
    }
    net.start("NL").await;
    net.wait_serial(&["NL"], 6).await;
    let newest = net.status("LU").await["directory_version"].clone();
    assert_eq!(net.status("NL").await["directory_version"], newest);
    eprintln!("NL caught up: {:?}", began.elapsed());

    for p in ["LU", "FR", "DE", "NL", "BE"] {
        net.stop(p).await;
    }
}
