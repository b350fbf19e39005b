//! Connections with peers: accepting and admitting them (the certificate's party in the
//! directory, its key pinned), dialling them, and serving the streams a peer opens — messages
//! to the receiver, attachments to their intake, directory versions to their exchange.

use crate::error::{NodeError, Result};
use crate::events::EventKind;
use crate::handles::{DeliveryCmd, DialRequest};
use crate::wire::transport::{self, FrameError};
pub use crate::wire::Wire;
use crate::wire::{receiver, tls};
use poc247_protocol::{PartyId, Reply};

/// Accepts peer connections: checks the certificate's party against the directory, then
/// serves its streams.
pub(crate) async fn accept_peers(wire: Wire) {
    let cancel = wire.tasks.cancel_token();
    loop {
        let incoming = tokio::select! {
            _ = cancel.cancelled() => return,
            i = wire.net.endpoint().accept() => match i { Some(i) => i, None => return },
        };
        let s = wire.clone();
        wire.tasks.spawn(async move {
            let conn = match incoming.await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "peer handshake failed");
                    return;
                }
            };
            if let Ok(peer) = admit(&s, &conn) {
                let cap = s.cases.me.cfg().limits.max_connections_per_peer as usize;
                if s.net.conns().live(&peer) >= cap {
                    tracing::warn!(peer = %peer, cap, "refused a connection over the peer's cap");
                    conn.close(4u32.into(), b"too many connections from this party");
                    return;
                }
                s.net.conns().offer(&peer, &conn).await;
                // The two nodes tell each other the directory version each holds.
                crate::peers::dirsync::exchange_on(&s, &peer, &conn);
                serve_connection(s, conn, peer).await;
            }
        });
    }
}

/// The party a new connection is from, if it is in the directory with its certificate's key
/// pinned; closes it otherwise and says why.
fn admit(wire: &Wire, conn: &quinn::Connection) -> Result<PartyId, String> {
    let peer = match tls::peer_party(conn) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "peer certificate names no party");
            conn.close(1u32.into(), b"certificate names no party");
            return Err(format!("certificate names no party: {e}"));
        }
    };
    let directory = wire.cases.directory();
    let Some(entry) = directory.get(&peer) else {
        tracing::warn!(peer = %peer, "refused a party not in the directory");
        conn.close(2u32.into(), b"unknown party");
        return Err(format!("{peer} is not in the directory"));
    };
    if !entry.pins.is_empty() {
        let presented = tls::peer_certificate(conn).and_then(|c| tls::spki_sha256(&c));
        let now = wire.cases.clocks.now();
        if !presented
            .as_ref()
            .is_ok_and(|spki| entry.pinned_at(spki, now))
        {
            let presented = presented.map_or_else(|e| e.to_string(), hex::encode);
            let why = entry.unpinned_reason(&presented, now);
            tracing::warn!(peer = %peer, reason = %why, "refused a certificate whose key is not pinned now");
            conn.close(3u32.into(), why.as_bytes());
            return Err(why);
        }
    }
    crate::upkeep::admitted(&wire.ops, &wire.cases, &peer, conn);
    tracing::info!(peer = %peer, "peer connected");
    wire.cases.events.publish(
        EventKind::PeerConnected,
        None,
        None,
        None,
        Some(peer.clone()),
    );
    wire.cases
        .outbox
        .try_send(DeliveryCmd::PeerSeen(peer.clone()));
    Ok(peer)
}

/// Serves the streams a peer opens on a connection, each on its own task.
pub(crate) async fn serve_connection(wire: Wire, conn: quinn::Connection, peer: PartyId) {
    let cancel = wire.tasks.cancel_token();
    loop {
        let (send, recv) = tokio::select! {
            _ = cancel.cancelled() => return,
            s = conn.accept_bi() => match s { Ok(s) => s, Err(_) => return },
        };
        let s = wire.clone();
        let p = peer.clone();
        let c = conn.clone();
        wire.tasks
            .spawn(async move { serve_stream(&s, &p, &c, send, recv).await });
    }
}

async fn serve_stream(
    wire: &Wire,
    peer: &PartyId,
    conn: &quinn::Connection,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) {
    let max = wire.cases.me.cfg().limits.max_frame_bytes;
    let frame = match transport::read_head(&mut recv).await {
        Ok(head) if head == poc247_protocol::ATTACHMENT_MAGIC => {
            return crate::attachments::serve_inbound(&wire.transfers(), peer, send, recv).await;
        }
        Ok(head) if head == poc247_protocol::DIRECTORY_MAGIC => {
            return crate::peers::dirsync::serve(wire, peer, conn, send, recv).await;
        }
        Ok(head) => {
            let budget = wire
                .net
                .conns()
                .budget(peer, wire.cases.me.cfg().limits.max_buffered_bytes_per_peer);
            transport::read_frame_within(&mut recv, head, max, Some(&budget)).await
        }
        Err(e) => Err(e),
    };
    let reply = match frame {
        Ok(frame) => receiver::handle_frame(&wire.cases, &wire.limits, peer, &frame).await,
        Err(FrameError::TooLarge { len, max }) => {
            let _ = recv.stop(0u32.into());
            tracing::warn!(peer = %peer, len, max, "refused a frame over the limit");
            wire.cases.events.publish(
                EventKind::Rejected {
                    code: "too-large".into(),
                },
                None,
                None,
                None,
                Some(peer.clone()),
            );
            Reply::Rejection(poc247_protocol::Rejection::new(
                poc247_protocol::RejectionCode::TooLarge,
                format!("frame of {len} bytes is over the limit of {max}"),
            ))
        }
        Err(e) => {
            tracing::debug!(peer = %peer, error = %e, "stream ended before a whole frame");
            Reply::Rejection(poc247_protocol::Rejection::new(
                poc247_protocol::RejectionCode::BadFrame,
                e.to_string(),
            ))
        }
    };
    match reply.to_bytes() {
        Ok(bytes) => {
            let _ = transport::write_frame(&mut send, &bytes).await;
        }
        Err(e) => tracing::error!(error = %e, "cannot encode a reply"),
    }
}

async fn connect(wire: &Wire, peer: &PartyId) -> Result<quinn::Connection> {
    let directory = wire.cases.directory();
    let entry = directory
        .get(peer)
        .ok_or_else(|| NodeError::UnknownParty(peer.clone()))?;
    let mut last = String::from("no address");
    for addr in &entry.addresses {
        let resolved = match tokio::net::lookup_host(addr.as_str()).await {
            Ok(mut a) => a.next(),
            Err(e) => {
                last = format!("{addr}: {e}");
                continue;
            }
        };
        let Some(sock) = resolved else { continue };
        let connecting =
            match wire
                .net
                .endpoint()
                .connect_with(wire.client_config(), sock, &peer.dns_name())
            {
                Ok(c) => c,
                Err(e) => {
                    last = format!("{addr}: {e}");
                    continue;
                }
            };
        match connecting.await {
            Ok(conn) => match admit(wire, &conn) {
                Ok(p) if &p == peer => return Ok(conn),
                Ok(p) => {
                    conn.close(2u32.into(), b"not the party dialled");
                    last = format!("{addr}: the certificate is {p}'s, not {peer}'s");
                }
                Err(why) => last = format!("{addr}: {why}"),
            },
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(NodeError::Transport(format!("cannot reach {peer}: {last}")))
}

/// The live connection to `peer`, or a new one (whose streams from the peer are served too).
pub(crate) async fn connection(wire: &Wire, peer: &PartyId) -> Result<quinn::Connection> {
    wire.net
        .conns()
        .get_or_connect(peer, || async {
            let c = match connect(wire, peer).await {
                Ok(c) => c,
                Err(e) => {
                    wire.ops.peers.unreachable(peer, &e.to_string());
                    return Err(e);
                }
            };
            // The connection is shared both ways: serve what the peer sends on it.
            let s = wire.clone();
            wire.tasks
                .spawn(serve_connection(s, c.clone(), peer.clone()));
            crate::peers::dirsync::exchange_on(wire, peer, &c);
            Ok(c)
        })
        .await
}

/// The connection task: answers each [`crate::handles::Dialer`] request with
/// [`connection`], on a task of its own, until the node stops.
pub(crate) async fn run_dialer(wire: Wire, mut requests: tokio::sync::mpsc::Receiver<DialRequest>) {
    let cancel = wire.tasks.cancel_token();
    loop {
        let (peer, answer) = tokio::select! {
            _ = cancel.cancelled() => return,
            r = requests.recv() => match r { Some(r) => r, None => return },
        };
        let w = wire.clone();
        wire.tasks.spawn(async move {
            let _ = answer.send(connection(&w, &peer).await);
        });
    }
}
