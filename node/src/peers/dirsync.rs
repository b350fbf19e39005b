//! Signed directory versions travel between nodes, with no server online: on each connection
//! the two nodes tell each other the serial they hold, and the one behind fetches the newer
//! version over that connection; a node that took a new version (from its operator or a peer)
//! connects to every peer it lists, so a version spreads through the network at once. A version
//! from a peer is checked exactly as one an operator applies (`peers::install_version`); a
//! refused one changes nothing and is published as `directory_refused`, naming the peer.

use crate::audit::Actor;
use crate::events::EventKind;
use crate::peers::registry::{SignedVersion, MAX_VERSION_BYTES};
use crate::wire::transport;
use crate::wire::Wire;
use poc247_protocol::{PartyId, DIRECTORY_MAGIC};
use std::time::Duration;

/// How long one exchange may take.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// The serial of the version in force here (0 when none).
fn serial_here(wire: &Wire) -> u64 {
    crate::peers::version_in_force(wire.cases.me.cfg())
        .ok()
        .flatten()
        .map_or(0, |v| v.version.serial)
}

/// Tells `peer` our serial on `conn` and takes the newer version it holds, if any.
pub async fn sync_with(wire: Wire, peer: PartyId, conn: quinn::Connection) {
    let Some(registry_key) = wire.cases.me.cfg().registry_key else {
        return;
    };
    let mine = serial_here(&wire);
    let exchange = async {
        let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
        let mut hello = DIRECTORY_MAGIC.to_vec();
        hello.extend_from_slice(&mine.to_be_bytes());
        send.write_all(&hello).await.map_err(|e| e.to_string())?;
        let _ = send.finish();
        let max = u32::try_from(MAX_VERSION_BYTES).unwrap_or(u32::MAX);
        transport::read_frame(&mut recv, max)
            .await
            .map_err(|e| e.to_string())
    };
    let bytes = match tokio::time::timeout(EXCHANGE_TIMEOUT, exchange).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            tracing::debug!(peer = %peer, error = %e, "directory exchange did not complete");
            return;
        }
        Err(_) => {
            tracing::debug!(peer = %peer, "directory exchange timed out");
            return;
        }
    };
    if bytes.is_empty() {
        return;
    }
    let refused = |serial: u64, why: String| {
        tracing::warn!(peer = %peer, serial, reason = %why, "refused a directory version a peer offered");
        wire.cases.events.publish(
            EventKind::DirectoryRefused {
                serial,
                reason: format!("offered by {peer}: {why}"),
            },
            None,
            None,
            None,
            Some(peer.clone()),
        );
    };
    let next = match SignedVersion::parse(&bytes) {
        Ok(v) => v,
        Err(why) => return refused(0, why),
    };
    let serial = next.version.serial;
    let one_at_a_time = wire.ops.reload_lock().await;
    // Taken meanwhile from another peer: nothing to do.
    if serial <= serial_here(&wire) {
        return;
    }
    let installed = crate::peers::install_version(
        wire.cases.me.cfg(),
        &registry_key,
        &wire.cases.me.signing().verifying_key(),
        &next,
    );
    // Put in force under the same lock as the install.
    let reloaded = match installed {
        Ok(_) => {
            Ok(
                crate::peers::reload_for_version(&wire, Actor::Peer(peer.clone()), &one_at_a_time)
                    .await,
            )
        }
        Err(why) => Err(why),
    };
    drop(one_at_a_time);
    match reloaded {
        Ok(r) => match r {
            Ok(_) => {
                tracing::info!(peer = %peer, serial, "directory version taken from a peer");
                spread(&wire);
            }
            Err(e) => {
                tracing::error!(serial, error = %e, "a directory version taken from a peer could not be put in force")
            }
        },
        Err(why) => refused(serial, why),
    }
}

/// Answers a peer's directory stream: the version in force if it is newer than the peer's;
/// and when the peer's is newer, fetches it back on the same connection.
pub async fn serve(
    wire: &Wire,
    peer: &PartyId,
    conn: &quinn::Connection,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) {
    let mut theirs = [0u8; 8];
    let read = tokio::time::timeout(EXCHANGE_TIMEOUT, recv.read_exact(&mut theirs)).await;
    if !matches!(read, Ok(Ok(()))) {
        return;
    }
    let theirs = u64::from_be_bytes(theirs);
    let answer = match crate::peers::version_in_force(wire.cases.me.cfg()) {
        Ok(Some(v)) if v.version.serial > theirs => v.to_bytes().unwrap_or_default(),
        _ => Vec::new(),
    };
    if !answer.is_empty() {
        tracing::debug!(peer = %peer, theirs, "offering a newer directory version");
    }
    let _ = transport::write_frame(&mut send, &answer).await;
    if theirs > serial_here(wire) && wire.cases.me.cfg().registry_key.is_some() {
        wire.tasks
            .spawn(sync_with(wire.clone(), peer.clone(), conn.clone()));
    }
}

/// Connects to every peer the directory lists (each connection exchanges serials), so that a
/// version taken here reaches them at once.
pub fn spread(wire: &Wire) {
    if wire.cases.me.cfg().registry_key.is_none() {
        return;
    }
    let peers: Vec<PartyId> = wire
        .cases
        .directory()
        .iter()
        .map(|e| e.id.clone())
        .filter(|p| p != wire.cases.me.party())
        .collect();
    for peer in peers {
        let s = wire.clone();
        wire.tasks.spawn(async move {
            match s.dialer.connection(&peer).await {
                Ok(conn) => sync_with(s, peer, conn).await,
                Err(e) => tracing::debug!(peer = %peer, error = %e, "cannot reach a peer to offer a directory version"),
            }
        });
    }
}
