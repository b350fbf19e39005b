//! `poc247 run`: a node in the foreground, logging to stderr, until Ctrl-C or SIGTERM; then a
//! clean shutdown (connections closed, tasks drained, sled flushed).

use crate::args::LogFormat;
use crate::failure::Failure;
use poc247_node::{Node, NodeConfig, NodeError};
use std::io::IsTerminal as _;
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::EnvFilter;

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
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Runs the node of `config` until Ctrl-C or SIGTERM; SIGHUP reloads the directory and the
/// node's certificate (as `poc247 peers reload` does).
pub async fn run(config: NodeConfig, log: LogFormat) -> anyhow::Result<()> {
    init_logging(log, "info");
    let socket = config.socket.clone();
    // Listen for the signals before starting, so that one arriving during start-up is seen.
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| Failure::internal(format!("cannot listen for SIGTERM: {e}")))?;
    let mut hup = signal(SignalKind::hangup())
        .map_err(|e| Failure::internal(format!("cannot listen for SIGHUP: {e}")))?;
    let node = Node::start(config).await.map_err(start_failure)?;
    tracing::info!(socket = %socket.display(), reload = "SIGHUP", "control API ready; Ctrl-C or SIGTERM stops the node");
    let why = loop {
        tokio::select! {
            r = tokio::signal::ctrl_c() => break match r {
                Ok(()) => "interrupt",
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for Ctrl-C; stopping");
                    "no signal handler"
                }
            },
            _ = term.recv() => break "SIGTERM",
            _ = hup.recv() => reload(&node).await,
        }
    };
    tracing::info!(signal = why, "stopping");
    node.shutdown().await;
    Ok(())
}

/// SIGHUP: the directory and the certificate re-read; a refusal is logged and changes nothing.
async fn reload(node: &Node) {
    tracing::info!("SIGHUP: reloading the directory and the certificate");
    match poc247_node::peers::reload(node.shared(), poc247_node::audit::Actor::Node).await {
        Ok(r) => tracing::info!(
            parties = r.parties,
            removed = r.diff.removed.len(),
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
