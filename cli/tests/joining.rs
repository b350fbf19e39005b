//! A network formed from nothing with the CLI only, as docs/joining.md tells it: the registry
//! makes its key and CA; each Party makes its keys, has its certificate issued and signs its
//! entry; the registry publishes version 1; each Party applies it before its node's first
//! start. Then a request goes from LU to BE between two `poc247 run` processes, and a version
//! in which an entry was altered is refused by the registry's own check before it is written
//! (a node's refusal of one is in tests/tests/directory_versions.rs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use std::path::Path;

async fn ok(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let ran = poc247(&all).await;
    assert_eq!(ran.code, Some(0), "{args:?}: {ran:?}");
    ran.json()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

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
        let listen = format!("127.0.0.1:{port}");
        ok(&[
            "init",
            "--party",
            p,
            "--data",
            s(&home),
            "--registry-key",
            &registry_key,
            "--listen",
            &listen,
            "--ca-cert",
            s(&reg.join("ca.pem")),
        ])
        .await;
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
        ok(&[
            "registry",
            "sign-csr",
            s(&home.join("tls.csr")),
            "--party",
            p,
            "--days",
            "365",
            "--registry",
            s(&reg),
            "--out",
            s(&home.join("tls.pem")),
        ])
        .await;
        std::fs::write(
            home.join("declarations.toml"),
            format!(
                "name = \"{p} — 24/7 point of contact\"\naddresses = [\"127.0.0.1:{port}\"]\n\
                 languages = [\"en\", \"fr\"]\n"
            ),
        )
        .unwrap();
        let entry = home.join("entry.json");
        ok(&[
            "--config",
            s(&home.join("node.toml")),
            "directory",
            "entry",
            "--declarations",
            s(&home.join("declarations.toml")),
            "--out",
            s(&entry),
        ])
        .await;
        entries.push(entry);
    }
    let v1 = dir.join("v1.json");
    ok(&[
        "registry",
        "publish",
        "--registry",
        s(&reg),
        "--entry",
        s(&entries[0]),
        "--entry",
        s(&entries[1]),
        "--out",
        s(&v1),
    ])
    .await;
    let mut nodes = Vec::new();
    for p in ["lu", "be"] {
        let config = dir.join(p).join("node.toml");
        ok(&[
            "--config",
            s(&config),
            "directory",
            "apply",
            "--offline",
            s(&v1),
        ])
        .await;
        nodes.push(bin().args(["run", "--config", s(&config)]).spawn().unwrap());
    }
    let lu = dir.join("lu/node.toml");
    let be = dir.join("be/node.toml");
    wait_ready(&lu).await;
    wait_ready(&be).await;
    let sent = ok(&[
        "--config",
        s(&lu),
        "send",
        "preservation",
        "--to",
        "BE",
        "--language",
        "en",
        "--requesting-authority",
        "Parquet",
        "--offence",
        "fraud",
        "--facts",
        "phishing",
        "--data",
        "mailbox",
        "--relation-to-offence",
        "receives",
        "--custodian-or-location",
        "ExampleMail",
        "--necessity",
        "deleted in 7 days",
        "--mla-intent",
    ])
    .await;
    let case = sent["case_ref"].as_str().unwrap().to_owned();
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
    let published = poc247(&[
        "registry",
        "publish",
        "--registry",
        s(&reg),
        "--previous",
        s(&v1),
        "--entry",
        s(&entries[0]),
        "--entry",
        s(&forged_entry),
        "--out",
        s(&v2),
    ])
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
    for mut n in nodes {
        let _ = n.start_kill();
        let _ = n.wait().await;
    }
}

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap()
}

async fn wait_ready(config: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let ran = poc247(&["--config", s(config), "status", "--json"]).await;
        if ran.code == Some(0) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{ran:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
