//! `docs/api.md` against a real node: every example marked `# runnable` is run with the real
//! `curl`, in the order of the page, and must exit 0 and print JSON (or Prometheus text); every
//! route of the control API must be documented, and every event type in `docs/events.md`
//! (with an example) and `docs/api.md`. And `deploy/poc247.service` keeps its restart policy
//! and hardening.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use poc247_tests::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One ```sh block of the page.
#[derive(Debug)]
struct Block {
    /// Its first line in the page.
    line: usize,
    /// The words after `# runnable` (`sets-case`, `text`, `error`); `None` if not runnable.
    markers: Option<Vec<String>>,
    script: String,
}

fn sh_blocks(doc: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut current: Option<Block> = None;
    for (i, line) in doc.lines().enumerate() {
        match current.as_mut() {
            None if line.trim_end() == "```sh" => {
                current = Some(Block {
                    line: i + 1,
                    markers: None,
                    script: String::new(),
                });
            }
            None => {}
            Some(_) if line.trim_end() == "```" => out.extend(current.take()),
            Some(b) => {
                if let Some(rest) = line.strip_prefix("# runnable") {
                    b.markers = Some(rest.split_whitespace().map(str::to_owned).collect());
                }
                b.script.push_str(line);
                b.script.push('\n');
            }
        }
    }
    out
}

/// Every `.route("path", get(…))` of the node's sources, as `GET path`.
fn routes() -> Vec<String> {
    let mut found = Vec::new();
    // Every file under node/src, folders included.
    let mut files = Vec::new();
    let mut dirs = vec![repo().join("node/src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().and_then(|e| e.to_str()) == Some("rs") {
                files.push(path);
            }
        }
    }
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        // `.route(` then the path, on the same line or the next (rustfmt breaks long ones).
        for (at, _) in text.match_indices(".route(") {
            let rest = text[at + 7..].trim_start();
            let Some(rest) = rest.strip_prefix('"') else {
                continue;
            };
            let end = rest.find('"').unwrap();
            let route = &rest[..end];
            let after =
                rest[end..].trim_start_matches(|c: char| c == '"' || c == ',' || c.is_whitespace());
            let method = after.split('(').next().unwrap().to_ascii_uppercase();
            let method = method.rsplit("::").next().unwrap().to_owned();
            found.push(format!("{method} {route}"));
        }
    }
    found.sort();
    found
}

#[test]
fn every_route_of_the_control_api_is_documented() {
    let doc = std::fs::read_to_string(repo().join("docs/api.md")).unwrap();
    let routes = routes();
    assert!(routes.len() >= 13, "{routes:?}");
    let missing: Vec<&String> = routes
        .iter()
        .filter(|r| !doc.contains(&format!("`{r}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/api.md does not document {missing:?}"
    );
}

/// One event of each type. The match below stops compiling when a type is added: add it to
/// the list too.
fn one_event_of_each_type() -> Vec<poc247_node::events::EventKind> {
    use poc247_node::events::EventKind::*;
    let fr = party("FR");
    let text = String::new;
    let all = vec![
        Queued,
        Delivered {
            receiver_key: text(),
        },
        DeliveryFailed { reason: text() },
        Received,
        Rejected { code: text() },
        PeerConnected,
        Closed,
        Recorded,
        Deadline {
            track: poc247_node::tracks::Track::Delivery,
            label: text(),
            due: poc247_protocol::UtcMs(0),
            owed_by: fr.clone(),
            escalation: false,
        },
        Purged,
        CertificateExpiring {
            party: fr,
            days: 0,
            not_after: poc247_protocol::UtcMs(0),
        },
        AttachmentReceived {
            sha256: text(),
            size: 0,
        },
        AttachmentDelivered {
            sha256: text(),
            size: 0,
            receiver_key: text(),
        },
        AttachmentFailed {
            sha256: text(),
            size: 0,
            reason: text(),
        },
        HookFailed {
            event_seq: 0,
            event_type: text(),
            runs: 0,
            reason: text(),
        },
        DirectoryRefused {
            serial: 0,
            reason: text(),
        },
        DirectoryOverdue {
            serial: 0,
            next_update: poc247_protocol::UtcMs(0),
        },
        Notified,
    ];
    for kind in &all {
        match kind {
            Queued | Delivered { .. } | DeliveryFailed { .. } | Received | Rejected { .. } => {}
            PeerConnected | Closed | Recorded | Deadline { .. } | Purged => {}
            CertificateExpiring { .. } => {}
            AttachmentReceived { .. } | AttachmentDelivered { .. } | AttachmentFailed { .. } => {}
            HookFailed { .. } | DirectoryRefused { .. } | DirectoryOverdue { .. } | Notified => {}
        }
    }
    all
}

#[test]
fn every_event_type_is_documented() {
    let events = std::fs::read_to_string(repo().join("docs/events.md")).unwrap();
    let api = std::fs::read_to_string(repo().join("docs/api.md")).unwrap();
    for kind in one_event_of_each_type() {
        let name = kind.name();
        assert!(
            events.contains(&format!("**`{name}`**")),
            "docs/events.md has no section for `{name}`"
        );
        assert!(
            events.contains(&format!("\"type\":\"{name}\"")),
            "docs/events.md has no example of `{name}`"
        );
        assert!(
            api.contains(&format!("`{name}`")),
            "docs/api.md does not list `{name}` among the event types"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runnable_curl_examples_of_the_api_page_work_against_a_real_node() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("note: curl is not installed; the examples of docs/api.md were not run");
        return;
    }
    let doc = std::fs::read_to_string(repo().join("docs/api.md")).unwrap();
    let runnable: Vec<Block> = sh_blocks(&doc)
        .into_iter()
        .filter(|b| b.markers.is_some())
        .collect();
    assert!(
        runnable.len() >= 15,
        "only {} runnable examples",
        runnable.len()
    );

    let net = Net::embedded().await.unwrap();
    let socket = net.config("LU").unwrap().socket;
    let mut case = String::from("LU-2026-999999");
    for block in &runnable {
        let markers = block.markers.clone().unwrap_or_default();
        let has = |m: &str| markers.iter().any(|x| x == m);
        assert!(
            block.script.contains("--unix-socket \"$SOCK\""),
            "line {}: a runnable example uses --unix-socket \"$SOCK\"",
            block.line
        );
        // The documented socket path, should a block spell it out, is this node's too.
        let script = block
            .script
            .replace("/var/lib/poc247/control.sock", socket.to_str().unwrap());
        let out = tokio::process::Command::new("sh")
            .arg("-ec")
            .arg(&script)
            .env("SOCK", &socket)
            .env("CASE", &case)
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "line {}: exit {:?}\n{script}\n{stdout}\n{stderr}",
            block.line,
            out.status.code()
        );
        if has("text") {
            assert!(
                stdout.lines().any(|l| l.starts_with("poc247_")),
                "line {}: {stdout}",
                block.line
            );
        } else {
            let values: Vec<Value> = serde_json::Deserializer::from_str(&stdout)
                .into_iter::<Value>()
                .collect::<Result<_, _>>()
                .unwrap_or_else(|e| panic!("line {}: not JSON ({e}): {stdout}", block.line));
            assert!(!values.is_empty(), "line {}: no body", block.line);
            for v in &values {
                assert_eq!(
                    v["error"].is_object(),
                    has("error"),
                    "line {}: {v}",
                    block.line
                );
            }
            if has("sets-case") {
                case = values[0]["case_ref"]
                    .as_str()
                    .unwrap_or_else(|| panic!("line {}: no case_ref: {stdout}", block.line))
                    .to_owned();
            }
        }
        // Let what the example queued be delivered before the next one builds on it.
        let lu = net.net.node(&party("LU")).unwrap().cases();
        for _ in 0..200 {
            if lu.store().outbox().unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    net.net.shutdown().await;
}

#[test]
fn the_systemd_unit_restarts_always_and_keeps_its_hardening() {
    let unit = std::fs::read_to_string(repo().join("deploy/poc247.service")).unwrap();
    let lines: Vec<&str> = unit.lines().map(str::trim).collect();
    for expected in [
        "[Service]",
        "User=poc247",
        "Restart=always",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/poc247",
        "PrivateTmp=yes",
        "ProtectHome=yes",
        "CapabilityBoundingSet=",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "MemoryDenyWriteExecute=yes",
        "LockPersonality=yes",
        "SystemCallFilter=@system-service",
        "[Install]",
    ] {
        assert!(
            lines.contains(&expected),
            "deploy/poc247.service lacks {expected}"
        );
    }
    let exec = lines
        .iter()
        .find(|l| l.starts_with("ExecStart="))
        .expect("an ExecStart");
    assert!(exec.contains(" run --config "), "{exec}");
    assert!(exec.contains("--log-format json"), "{exec}");
}
