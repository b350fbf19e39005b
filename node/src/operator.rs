//! The operator's surface wired into the node: the state kept for `GET /v1/peers`,
//! certificate expiry and `GET /metrics`; the one task that follows the node's events for
//! them and looks at the certificates at start and once a day; and their routes on the
//! control API.

use crate::certs::{self, CertWatch};
use crate::events::{EventKind, NodeEvent};
use crate::handles::Ops;
use crate::metrics::Metrics;
use crate::outgoing::Cases;
use crate::peers::{self, PeerBook};
use crate::tls::TlsMaterial;
use poc247_protocol::{PartyId, UtcMs};
use tokio::sync::broadcast::{self, error::RecvError};

/// What the operator's surface keeps.
#[derive(Debug)]
pub struct Operator {
    /// Peers seen.
    pub peers: PeerBook,
    /// Certificates.
    pub certs: CertWatch,
    /// Counters.
    pub metrics: Metrics,
    /// Whether the hook works.
    pub hook: std::sync::Arc<crate::hook::HookHealth>,
    reload: tokio::sync::Mutex<()>,
}

impl Operator {
    /// The state of a node started at `now` with `material`.
    pub fn new(material: &TlsMaterial, now: UtcMs) -> Self {
        Operator {
            peers: PeerBook::new(now),
            certs: CertWatch::new(material),
            metrics: Metrics::default(),
            hook: Default::default(),
            reload: tokio::sync::Mutex::new(()),
        }
    }

    /// Held by a reload, so two never interleave.
    pub(crate) async fn reload_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.reload.lock().await
    }
}

/// A connection of `peer` was admitted: it is seen now, and its certificate is recorded.
pub fn admitted(ops: &Ops, cases: &Cases, peer: &PartyId, conn: &quinn::Connection) {
    ops.peers.seen(peer, cases.clocks.now());
    certs::peer_presented(ops, cases, peer, conn);
}

fn follow(ops: &Ops, cases: &Cases, ev: &NodeEvent) {
    ops.metrics.observe(&cases.store, ev);
    // A message or a receipt from a peer is a sighting too.
    if matches!(ev.kind, EventKind::Received | EventKind::Delivered { .. }) {
        if let Some(p) = &ev.peer {
            ops.peers.seen(p, ev.at);
        }
    }
}

/// Runs until the node stops: fails queued messages to parties the directory no longer lists
/// (it may have changed while the node was stopped), then counts events and looks at the
/// certificates at once and every day.
pub async fn run(
    ops: Ops,
    cases: Cases,
    cancel: tokio_util::sync::CancellationToken,
    mut events: broadcast::Receiver<NodeEvent>,
) {
    if let Err(e) = peers::fail_orphans(&cases).await {
        tracing::error!(error = %e, "cannot check the outbox against the directory");
    }
    let mut daily = tokio::time::interval(certs::CHECK_EVERY);
    daily.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = daily.tick() => {
                certs::check(&ops, &cases);
            }
            ev = events.recv() => match ev {
                Ok(ev) => follow(&ops, &cases, &ev),
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "the metrics fell behind the events");
                    ops.metrics.missed(n);
                }
                Err(RecvError::Closed) => return,
            },
        }
    }
}
