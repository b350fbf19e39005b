//! The node's upkeep, on one task: queued messages to Parties the directory no longer lists
//! failed at start, the events counted for `/metrics`, peers marked seen, and every
//! certificate looked at once a day (a warning event 30 days before one ends).

use crate::events::{EventKind, NodeEvent};
use crate::operator::Ops;
use crate::outgoing::Cases;
use crate::wire::certs;
use crate::wire::tls;
use poc247_api::Certificate;
use poc247_protocol::{PartyId, UtcMs};

use tokio::sync::broadcast::{self, error::RecvError};

/// Every certificate known at the node's `now`: its own first, then the peers' by party.
pub fn statuses(ops: &Ops, cases: &Cases) -> Vec<Certificate> {
    let now = cases.clocks.now();
    let mut all = Vec::new();
    if let Some(own) = ops.certs.own_not_after() {
        all.push(certs::status(cases.me.party().clone(), true, own, now));
    }
    let mut peers = ops.peers.certificates();
    peers.sort();
    for (party, not_after) in peers {
        all.push(certs::status(party, false, not_after, now));
    }
    all
}

/// Publishes `certificate_expiring` for one certificate (and logs it).
pub(crate) fn warn(cases: &Cases, s: &Certificate) {
    tracing::warn!(party = %s.party, days_left = s.days_left, not_after = %s.not_after, own = s.own, "certificate expires soon");
    cases.events.publish(
        EventKind::CertificateExpiring {
            party: s.party.clone(),
            days: s.days_left,
            not_after: UtcMs(s.not_after_ms),
        },
        None,
        None,
        None,
        (!s.own).then(|| s.party.clone()),
    );
}

/// Looks at every certificate and warns of those within 30 days of their end; returns them
/// all.
pub fn check(ops: &Ops, cases: &Cases) -> Vec<Certificate> {
    let all = statuses(ops, cases);
    for s in all.iter().filter(|s| s.warning) {
        warn(cases, s);
    }
    all
}

/// Records the certificate a peer presented on a new connection; warns at once when it is a
/// certificate not seen before and within 30 days of its end.
pub(crate) fn peer_presented(ops: &Ops, cases: &Cases, peer: &PartyId, conn: &quinn::Connection) {
    let Some(not_after) = tls::peer_certificate(conn)
        .and_then(|c| tls::not_after_ms(&c))
        .ok()
        .map(UtcMs)
    else {
        return;
    };
    if ops.peers.certificate(peer, not_after) {
        let s = certs::status(peer.clone(), false, not_after, cases.clocks.now());
        if s.warning {
            warn(cases, &s);
        }
    }
}

/// A connection of `peer` was admitted: it is seen now, and its certificate is recorded.
pub fn admitted(ops: &Ops, cases: &Cases, peer: &PartyId, conn: &quinn::Connection) {
    ops.peers.seen(peer, cases.clocks.now());
    peer_presented(ops, cases, peer, conn);
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

/// Publishes `directory_overdue` once for the version in force if its next update has passed
/// (`told`: the serial already told of).
fn directory_overdue(cases: &Cases, told: &mut Option<u64>) {
    let Ok(Some(v)) = crate::peers::registry::version_in_force(cases.me.cfg()) else {
        return;
    };
    let (serial, next_update) = (v.version.serial, UtcMs(v.version.next_update));
    if cases.clocks.now() <= next_update || *told == Some(serial) {
        return;
    }
    *told = Some(serial);
    tracing::warn!(serial, next_update = %next_update.rfc3339(), "the directory version in force is past its next update; serving with it");
    cases.events.publish(
        EventKind::DirectoryOverdue {
            serial,
            next_update,
        },
        None,
        None,
        None,
        None,
    );
}

/// Runs until the node stops: counts events, looks at the certificates at once and every
/// day, and at the directory version's next update at once and every hour.
pub async fn run(
    ops: Ops,
    cases: Cases,
    cancel: tokio_util::sync::CancellationToken,
    mut events: broadcast::Receiver<NodeEvent>,
) {
    let mut daily = tokio::time::interval(certs::CHECK_EVERY);
    daily.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut hourly = tokio::time::interval(std::time::Duration::from_secs(3600));
    hourly.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut overdue_told = None;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = daily.tick() => {
                check(&ops, &cases);
            }
            _ = hourly.tick() => directory_overdue(&cases, &mut overdue_told),
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
