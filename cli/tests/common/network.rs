//! A network made with the CLI only, as docs/joining.md tells it, for the tests that form one
//! (`joining.rs`, `network.rs`): the CLI run with `--json` and its answer read, the registry's
//! and a Party's administrator's steps, nodes run as `poc247 run` processes and waited for.

use super::poc247;
use poc247_tests::procs::NodeProcess;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// Runs the CLI with `--json` and `args`; fails unless it exits 0; its answer.
pub async fn ok(args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let ran = poc247(&all).await;
    assert_eq!(ran.code, Some(0), "{args:?}: {ran:?}");
    ran.json()
}

/// A path as an argument.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A UDP port free on loopback now.
pub fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// Waits, polling every 100 ms, until `check` holds; fails after `secs` with `what`.
pub async fn wait_until<F: std::future::Future<Output = bool>>(
    what: &str,
    secs: u64,
    mut check: impl FnMut() -> F,
) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < deadline, "after {secs} s: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The arguments of the registry's `sign-csr` of `party`'s request `csr` (valid 365 days),
/// the certificate written to `out`.
pub fn sign_csr_args(registry: &Path, party: &str, csr: &Path, out: &Path) -> Vec<String> {
    [
        "registry",
        "sign-csr",
        s(csr),
        "--party",
        party,
        "--days",
        "365",
        "--registry",
        s(registry),
        "--out",
        s(out),
    ]
    .map(str::to_owned)
    .to_vec()
}

/// The arguments of the registry's `publish` of a version of `entries` (after `previous`, if
/// any), written to `out`.
pub fn publish_args(
    registry: &Path,
    previous: Option<&Path>,
    entries: &[&Path],
    out: &Path,
) -> Vec<String> {
    let mut args = vec!["registry", "publish", "--registry", s(registry)];
    if let Some(prev) = previous {
        args.extend(["--previous", s(prev)]);
    }
    for e in entries {
        args.extend(["--entry", s(e)]);
    }
    args.extend(["--out", s(out)]);
    args.into_iter().map(str::to_owned).collect()
}

/// `args` as the CLI takes them.
pub fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// `party`'s administrator's `init` in its folder `home`: keys, request and `node.toml`
/// (listening on loopback `port`, the registry's key `registry_key` pinned, its CA `ca_cert`
/// named).
pub async fn init_node(home: &Path, party: &str, port: u16, registry_key: &str, ca_cert: &Path) {
    let listen = format!("127.0.0.1:{port}");
    ok(&[
        "init",
        "--party",
        party,
        "--data",
        s(home),
        "--registry-key",
        registry_key,
        "--listen",
        &listen,
        "--ca-cert",
        s(ca_cert),
    ])
    .await;
}

/// What `party`'s administrator declares, in `home/declarations.toml`: its name, its address
/// on loopback `port`, English and French.
pub fn write_declarations(home: &Path, party: &str, port: u16) {
    std::fs::write(
        home.join("declarations.toml"),
        format!(
            "name = \"{party} — 24/7 point of contact\"\naddresses = [\"127.0.0.1:{port}\"]\n\
             languages = [\"en\", \"fr\"]\n"
        ),
    )
    .unwrap();
}

/// `directory entry` of the node at `config` with its `declarations.toml` in `home`, written
/// to `out`.
pub async fn directory_entry(config: &Path, home: &Path, out: &Path) {
    ok(&[
        "--config",
        s(config),
        "directory",
        "entry",
        "--declarations",
        s(&home.join("declarations.toml")),
        "--out",
        s(out),
    ])
    .await;
}

/// `directory apply --offline` of `version` at the node of `config`, before it starts.
pub async fn apply_offline(config: &Path, version: &Path) {
    ok(&[
        "--config",
        s(config),
        "directory",
        "apply",
        "--offline",
        s(version),
    ])
    .await;
}

/// A preservation request from the node at `config` to `to`, with `flags` (`--yes` …); its
/// case reference.
pub async fn send_preservation(config: &Path, to: &str, flags: &[&str]) -> String {
    let mut args = vec!["--config", s(config), "send", "preservation"];
    args.extend_from_slice(flags);
    args.extend([
        "--to",
        to,
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
    ]);
    let sent = ok(&args).await;
    sent["case_ref"].as_str().unwrap().to_owned()
}

/// Starts `poc247 run --config <config>` (logging at the binary's default level, appended to
/// `log`) and returns once its control socket answers; it is killed when dropped.
pub async fn run_node(config: &Path, log: &Path) -> NodeProcess {
    let bin = Path::new(env!("CARGO_BIN_EXE_poc247"));
    let mut node = NodeProcess::new(bin, config, log).unwrap();
    node.start(Some("info")).await.unwrap();
    node
}

/// Kills a node started by [`run_node`] (SIGKILL) and reaps it.
pub async fn kill_node(mut node: NodeProcess) {
    let _ = node.kill().await;
}
