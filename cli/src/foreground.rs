//! `poc247 run`: a node in the foreground, logging to stderr, until Ctrl-C or SIGTERM; then a
//! clean shutdown (connections closed, tasks drained, sled flushed).

use crate::args::LogFormat;
use crate::failure::Failure;
use poc247_node::{Node, NodeConfig, NodeError};
use std::io::IsTerminal as _;
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::EnvFilter;

/// Standard error that never fails: once the terminal it went to is closed, log lines are lost
/// instead of stopping the node (the logging library reports a failed write by a panic).
struct QuietStderr;

impl std::io::Write for QuietStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

/// Sends tracing to stderr, filtered by `RUST_LOG` (`default` when it is unset).
pub fn init_logging(format: LogFormat, default: &str) {
    let filter = match std::env::var("RUST_LOG") {
        Err(_) => EnvFilter::new(default),
        Ok(spec) => EnvFilter::try_new(&spec).unwrap_or_else(|e| {
            crate::output::stderr(&format!(
                "RUST_LOG={spec:?} is not a filter ({e}); using {default}"
            ));
            EnvFilter::new(default)
        }),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(|| QuietStderr);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Runs the node of `config` until Ctrl-C or SIGTERM; SIGHUP reloads the directory and the
/// node's certificate (as `poc247 peers reload` does), except on a terminal, where it is the
/// terminal closing and stops the node.
pub async fn run(config: NodeConfig, log: LogFormat) -> anyhow::Result<()> {
    init_logging(log, "info");
    let socket = config.socket.clone();
    // Listen for the signals before starting, so that one arriving during start-up is seen.
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| Failure::internal(format!("cannot listen for SIGTERM: {e}")))?;
    let mut hup = signal(SignalKind::hangup())
        .map_err(|e| Failure::internal(format!("cannot listen for SIGHUP: {e}")))?;
    let mut node = Node::start(config.clone()).await.map_err(start_failure)?;
    // On a terminal, SIGHUP is the terminal closing: the node stops with it rather than run on
    // with no one to stop it. Detached (systemd, nohup), SIGHUP reloads.
    let on_terminal = std::io::stdin().is_terminal();
    let reload_with = if on_terminal {
        "poc247 peers reload"
    } else {
        "SIGHUP"
    };
    tracing::info!(socket = %socket.display(), reload = reload_with, "control API ready; Ctrl-C or SIGTERM stops the node");
    let why = loop {
        let mut failed = node.store().failure();
        tokio::select! {
            r = tokio::signal::ctrl_c() => break match r {
                Ok(()) => "interrupt",
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for Ctrl-C; stopping");
                    "no signal handler"
                }
            },
            _ = term.recv() => break "SIGTERM",
            _ = hup.recv() => {
                if on_terminal {
                    break "SIGHUP: the terminal closed";
                }
                reload(&node).await
            }
            _ = failed.wait_for(|f| *f) => {
                // The store refuses everything meanwhile (507, `storage-unavailable`); once
                // the disk takes a write again, the node starts again on its folder, which
                // opens the store from what is on the disk.
                let stop = tokio::select! {
                    _ = wait_writable(&config.data_dir) => None,
                    r = tokio::signal::ctrl_c() => Some(if r.is_ok() { "interrupt" } else { "no signal handler" }),
                    _ = term.recv() => Some("SIGTERM"),
                };
                if let Some(why) = stop {
                    break why;
                }
                tracing::info!("the disk takes writes again: reopening the store");
                node.shutdown().await;
                node = start_again(&config).await;
                tracing::info!("store reopened; serving again");
            }
        }
    };
    tracing::info!(signal = why, "stopping");
    node.shutdown().await;
    Ok(())
}

/// How often a failed store's disk is tried.
const PROBE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Returns once a 1 MiB file can be written, synced and removed in `dir`.
async fn wait_writable(dir: &std::path::Path) {
    let probe = dir.join(".write-probe");
    loop {
        let p = probe.clone();
        let ok = tokio::task::spawn_blocking(move || {
            use std::io::Write as _;
            let written = std::fs::File::create(&p).and_then(|mut f| {
                f.write_all(&vec![0u8; 1 << 20])?;
                f.sync_all()
            });
            let _ = std::fs::remove_file(&p);
            written.is_ok()
        })
        .await
        .unwrap_or(false);
        if ok {
            return;
        }
        tokio::time::sleep(PROBE_EVERY).await;
    }
}

/// Starts the node of `config` again, trying every [`PROBE_EVERY`] until it starts.
async fn start_again(config: &NodeConfig) -> Node {
    loop {
        match Node::start(config.clone()).await {
            Ok(n) => return n,
            Err(e) => {
                tracing::error!(error = %e, "the node does not start again yet");
                tokio::time::sleep(PROBE_EVERY).await;
            }
        }
    }
}

/// SIGHUP: the directory and the certificate re-read; a refusal is logged and changes nothing.
async fn reload(node: &Node) {
    tracing::info!("SIGHUP: reloading the directory and the certificate");
    match poc247_node::peers::reload(node.wire(), poc247_node::audit::Actor::Node).await {
        Ok(r) => tracing::info!(
            parties = r.parties,
            removed = r.removed.len(),
            failed = r.failed.len(),
            "reloaded"
        ),
        Err(e) => {
            tracing::error!(error = %e, "reload refused; the directory and certificate in force are unchanged")
        }
    }
}

/// A node that did not start: its configuration, directory or keys refused (exit 1), or
/// anything else (exit 4).
fn start_failure(e: NodeError) -> Failure {
    let message = format!("the node did not start: {e}");
    match e {
        NodeError::Config { .. } | NodeError::Directory { .. } | NodeError::Key { .. } => {
            Failure::refused("bad-config", message)
        }
        _ => Failure::internal(message),
    }
}
