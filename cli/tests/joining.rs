//! A network formed from nothing with the CLI only, as docs/joining.md tells it: the registry
//! makes its key and CA; each Party makes its keys, has its certificate issued and signs its
//! entry; the registry publishes version 1; each Party applies it before its node's first
//! start. Then a request goes from LU to BE between two `poc247 run` processes, and a version
//! in which an entry was altered is refused by the registry's own check before it is written
//! (a node's refusal of one is in tests/tests/directory_versions.rs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::network::*;
use common::poc247;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_forms_with_the_cli_only_and_a_request_is_delivered() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let reg = dir.join("registry");
    let made = ok(&["registry", "init", "--out", s(&reg)]).await;
    let registry_key = made["registry_key"].as_str().unwrap().to_owned();
    let ports = [free_port(), free_port()];
    let mut entries = Vec::new();
    for (p, port) in ["LU", "BE"].iter().zip(ports) {
        let home = dir.join(p.to_lowercase());
        // The node's keys, request and node.toml (the registry key pinned, its CA named).
        init_node(&home, p, port, &registry_key, &reg.join("ca.pem")).await;
        // A request for another Party's name is refused.
        let wrong = poc247(&[
            "registry",
            "sign-csr",
            s(&home.join("tls.csr")),
            "--party",
            "FR",
            "--registry",
            s(&reg),
            "--out",
            s(&home.join("wrong.pem")),
        ])
        .await;
        assert_eq!(wrong.code, Some(1), "{wrong:?}");
        ok(&strs(&sign_csr_args(
            &reg,
            p,
            &home.join("tls.csr"),
            &home.join("tls.pem"),
        )))
        .await;
        write_declarations(&home, p, port);
        let entry = home.join("entry.json");
        directory_entry(&home.join("node.toml"), &home, &entry).await;
        entries.push(entry);
    }
    let v1 = dir.join("v1.json");
    ok(&strs(&publish_args(
        &reg,
        None,
        &[&entries[0], &entries[1]],
        &v1,
    )))
    .await;
    let mut nodes = Vec::new();
    for p in ["lu", "be"] {
        let config = dir.join(p).join("node.toml");
        apply_offline(&config, &v1).await;
        nodes.push(run_node(&config, &dir.join(p).join("run.log")).await);
    }
    let lu = dir.join("lu/node.toml");
    let case = send_preservation(&lu, "BE", &[]).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let v = ok(&["--config", s(&lu), "show", &case]).await;
        if v["timeline"][0]["receipt"]["verified"] == true {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not delivered: {v}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The registry alters BE's entry in version 2: LU's node refuses it.
    let mut altered: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&entries[1]).unwrap()).unwrap();
    altered["entry"]["languages"] = serde_json::json!(["de"]);
    let forged_entry = dir.join("forged-entry.json");
    std::fs::write(&forged_entry, altered.to_string()).unwrap();
    let v2 = dir.join("v2.json");
    let published = poc247(&strs(&publish_args(
        &reg,
        Some(&v1),
        &[&entries[0], &forged_entry],
        &v2,
    )))
    .await;
    assert_eq!(
        published.code,
        Some(1),
        "the registry's own check: {published:?}"
    );
    assert!(
        published.stderr.contains("not as BE signed it"),
        "{published:?}"
    );
    for n in nodes {
        kill_node(n).await;
    }
}
