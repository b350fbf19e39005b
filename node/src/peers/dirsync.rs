//! Signed directory versions travel between nodes, with no server online: on each connection
//! the two nodes tell each other the serial they hold, and the one behind fetches what it
//! lacks over that connection; a node that took a new version (from its operator or a peer)
//! offers it to every peer it lists, so a version spreads through the network at once. An
//! offer that does not complete (the peer is down, busy or refused the connection) is made
//! again, with a growing pause, until an exchange with that peer completes or the peer leaves
//! the directory.
//!
//! A node keeps the versions it took ([`KEPT_VERSIONS`] of them), so that a peer stopped
//! through several versions gets each one it missed, oldest first, and can check each against
//! the one before. A version from a peer is checked exactly as one an operator applies
//! (`peers::install_version`); a refused one changes nothing and is published as
//! `directory_refused`, naming the peer.

use crate::audit::Actor;
use crate::events::EventKind;
use crate::peers::registry::{SignedVersion, MAX_VERSION_BYTES};
use crate::wire::transport;
use crate::wire::Wire;
use poc247_protocol::{PartyId, DIRECTORY_MAGIC};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long one exchange may take.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);
/// The first pause before an offer that did not complete is made again; it doubles each time.
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// The longest pause between two offers to a peer that cannot be reached.
const LAST_RETRY: Duration = Duration::from_secs(60);
/// How many of the versions it took a node keeps to hand to a peer that missed them.
pub const KEPT_VERSIONS: usize = 64;
/// Most versions handed over in one exchange (a peer further behind takes the rest next time).
const MOST_PER_EXCHANGE: usize = KEPT_VERSIONS;

/// The serial of the version in force here (0 when none).
fn serial_here(wire: &Wire) -> u64 {
    crate::peers::version_in_force(wire.cases.me.cfg())
        .ok()
        .flatten()
        .map_or(0, |v| v.version.serial)
}

/// The peers an exchange of serials is owed to: each with when to try next and the pause
/// after that. Shared by the node's tasks; [`run_offers`] works through it.
#[derive(Clone, Debug, Default)]
pub struct Offers {
    owed: Arc<Mutex<HashMap<PartyId, Owed>>>,
    wake: Arc<tokio::sync::Notify>,
}

#[derive(Debug)]
struct Owed {
    at: Instant,
    pause: Duration,
    trying: bool,
    /// Owed again while being tried: the try under way may not carry what is owed now.
    again: bool,
}

impl Offers {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PartyId, Owed>> {
        self.owed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An exchange with `peer` is owed now (a newer version to offer or to fetch).
    fn owe(&self, peer: &PartyId) {
        let mut owed = self.lock();
        let e = owed.entry(peer.clone()).or_insert(Owed {
            at: Instant::now(),
            pause: FIRST_RETRY,
            trying: false,
            again: false,
        });
        e.at = Instant::now();
        e.pause = FIRST_RETRY;
        e.again = e.trying;
        self.wake.notify_one();
    }

    /// An exchange with `peer` on a connection made for something else did not complete: it
    /// is owed, after the first pause; one already owed keeps its schedule.
    fn retry(&self, peer: &PartyId) {
        self.lock().entry(peer.clone()).or_insert(Owed {
            at: Instant::now() + FIRST_RETRY,
            pause: FIRST_RETRY * 2,
            trying: false,
            again: false,
        });
    }

    /// The peers due now, marked as being tried.
    fn due(&self) -> Vec<PartyId> {
        let now = Instant::now();
        let mut owed = self.lock();
        owed.iter_mut()
            .filter(|(_, o)| !o.trying && o.at <= now)
            .map(|(p, o)| {
                o.trying = true;
                p.clone()
            })
            .collect()
    }

    /// The outcome of a try: a completed exchange settles what was owed; otherwise the next
    /// try waits, twice as long as the last pause (at most [`LAST_RETRY`]).
    fn tried(&self, peer: &PartyId, completed: bool) {
        let mut owed = self.lock();
        let Some(o) = owed.get_mut(peer) else { return };
        o.trying = false;
        if o.again {
            o.again = false;
            self.wake.notify_one();
        } else if completed {
            owed.remove(peer);
        } else {
            o.at = Instant::now() + o.pause;
            o.pause = (o.pause * 2).min(LAST_RETRY);
        }
    }

    /// Forgets the peers no longer in the directory.
    fn keep_only(&self, listed: impl Fn(&PartyId) -> bool) {
        self.lock().retain(|p, _| listed(p));
    }

    /// The peers an exchange is still owed to (for the tests).
    pub fn owed(&self) -> Vec<PartyId> {
        let mut v: Vec<PartyId> = self.lock().keys().cloned().collect();
        v.sort();
        v
    }
}

/// Where the versions a node took are kept, one file each, named by serial.
fn kept_dir(cfg: &crate::config::NodeConfig) -> PathBuf {
    cfg.data_dir.join("directory-versions")
}

/// The file of the kept version `serial`.
fn kept_file(cfg: &crate::config::NodeConfig, serial: u64) -> PathBuf {
    kept_dir(cfg).join(format!("{serial:020}.json"))
}

/// Keeps a version just taken (durably, before it is put in force), and forgets the oldest
/// beyond [`KEPT_VERSIONS`].
pub fn keep(cfg: &crate::config::NodeConfig, serial: u64, bytes: &[u8]) -> std::io::Result<()> {
    let dir = kept_dir(cfg);
    crate::store::durable::create_dir_all(&dir)?;
    crate::store::durable::replace(&kept_file(cfg, serial), bytes)?;
    let serials = kept_serials(cfg);
    if serials.len() > KEPT_VERSIONS {
        for old in &serials[..serials.len() - KEPT_VERSIONS] {
            let _ = std::fs::remove_file(kept_file(cfg, *old));
        }
    }
    Ok(())
}

/// The serials of the versions kept here, in order (files of another name are not ours).
fn kept_serials(cfg: &crate::config::NodeConfig) -> Vec<u64> {
    let mut serials: Vec<u64> = std::fs::read_dir(kept_dir(cfg))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().into_string().ok()?;
                    let stem = name.strip_suffix(".json")?;
                    (stem.len() == 20).then(|| stem.parse().ok())?
                })
                .collect()
        })
        .unwrap_or_default();
    serials.sort_unstable();
    serials
}

/// The kept versions to hand a peer that holds `theirs` before the one in force (`newest`),
/// oldest first. None for a peer that holds no version: the one in force alone serves it.
fn kept_after(cfg: &crate::config::NodeConfig, theirs: u64, newest: u64) -> Vec<u64> {
    if theirs == 0 {
        return Vec::new();
    }
    let mut serials: Vec<u64> = kept_serials(cfg)
        .into_iter()
        .filter(|s| *s > theirs && *s < newest)
        .collect();
    let skip = serials.len().saturating_sub(MOST_PER_EXCHANGE - 1);
    serials.split_off(skip)
}

/// Tells `peer` our serial on `conn` and takes the newer versions it holds, if any, oldest
/// first. Returns whether the exchange completed (whatever was offered taken or refused).
pub async fn sync_with(wire: Wire, peer: PartyId, conn: quinn::Connection) -> bool {
    let registry_key = wire.cases.me.cfg().registry_key;
    let mine = serial_here(&wire);
    let hello = async {
        let (mut send, recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
        let mut hello = DIRECTORY_MAGIC.to_vec();
        hello.extend_from_slice(&mine.to_be_bytes());
        send.write_all(&hello).await.map_err(|e| e.to_string())?;
        let _ = send.finish();
        Ok::<_, String>(recv)
    };
    let mut recv = match tokio::time::timeout(EXCHANGE_TIMEOUT, hello).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            tracing::debug!(peer = %peer, error = %e, "directory exchange did not complete");
            return false;
        }
        Err(_) => {
            tracing::debug!(peer = %peer, "directory exchange timed out");
            return false;
        }
    };
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
    // One version at a time, oldest first, each taken before the next is read: what a peer
    // hands over costs at most one version's bytes here.
    let max = u32::try_from(MAX_VERSION_BYTES).unwrap_or(u32::MAX);
    let mut took = None;
    for read in 0..MOST_PER_EXCHANGE {
        let bytes = match tokio::time::timeout(
            EXCHANGE_TIMEOUT,
            transport::read_frame(&mut recv, max),
        )
        .await
        {
            Ok(Ok(b)) if b.is_empty() => break,
            Ok(Ok(b)) => b,
            // After the first, the stream's end (or anything that is not a frame) ends the list.
            _ if read > 0 => break,
            Ok(Err(e)) => {
                tracing::debug!(peer = %peer, error = %e, "directory exchange did not complete");
                return false;
            }
            Err(_) => {
                tracing::debug!(peer = %peer, "directory exchange timed out");
                return false;
            }
        };
        let next = match SignedVersion::parse(&bytes) {
            Ok(v) => v,
            Err(why) => {
                refused(0, why);
                break;
            }
        };
        let serial = next.version.serial;
        let one_at_a_time = wire.ops.reload_lock().await;
        // Taken meanwhile from another peer: nothing to do.
        if serial <= serial_here(&wire) {
            continue;
        }
        let installed = crate::peers::install_version(
            wire.cases.me.cfg(),
            &registry_key,
            &wire.cases.me.signing().verifying_key(),
            &next,
        );
        // Put in force under the same lock as the install.
        let reloaded = match installed {
            Ok(_) => Ok(crate::peers::reload_for_version(
                &wire,
                Actor::Peer(peer.clone()),
                serial,
                &one_at_a_time,
            )
            .await),
            Err(why) => Err(why),
        };
        drop(one_at_a_time);
        match reloaded {
            Ok(Ok(_)) => {
                tracing::info!(peer = %peer, serial, "directory version taken from a peer");
                took = Some(serial);
            }
            Ok(Err(e)) => {
                tracing::error!(serial, error = %e, "a directory version taken from a peer could not be put in force");
                break;
            }
            Err(why) => {
                refused(serial, why);
                break;
            }
        }
    }
    if took.is_some() {
        spread(&wire);
    }
    true
}

/// Answers a peer's directory stream: the versions newer than the peer's, oldest first; and
/// when the peer's is newer, fetches it back on the same connection.
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
    let cfg = wire.cases.me.cfg();
    // One version read and written at a time, oldest first, the one in force last.
    match crate::peers::version_in_force(cfg) {
        Ok(Some(in_force)) if in_force.version.serial > theirs => {
            let kept = kept_after(cfg, theirs, in_force.version.serial);
            tracing::debug!(peer = %peer, theirs, count = kept.len() + 1, "offering newer directory versions");
            let mut written = true;
            for serial in kept {
                let Ok(bytes) = std::fs::read(kept_file(cfg, serial)) else {
                    continue;
                };
                if transport::write_frame(&mut send, &bytes).await.is_err() {
                    written = false;
                    break;
                }
            }
            if let (true, Ok(bytes)) = (written, in_force.to_bytes()) {
                let _ = transport::write_frame(&mut send, &bytes).await;
            }
        }
        _ => {
            let _ = transport::write_frame(&mut send, &[]).await;
        }
    }
    let _ = send.finish();
    if theirs > serial_here(wire) {
        exchange_on(wire, peer, conn);
    }
}

/// Exchanges serials with `peer` on `conn` on a task of its own (a new connection, or a peer
/// that holds a newer version); one that does not complete is owed and made again later.
pub fn exchange_on(wire: &Wire, peer: &PartyId, conn: &quinn::Connection) {
    let (w, p, c) = (wire.clone(), peer.clone(), conn.clone());
    wire.tasks.spawn(async move {
        if !sync_with(w.clone(), p.clone(), c).await {
            w.offers.retry(&p);
        }
    });
}

/// Offers the version in force to every peer the directory lists (each exchange tells the
/// peer our serial, and a peer behind fetches it), so that a version taken here reaches them
/// at once; an offer that does not complete is made again by [`run_offers`].
pub fn spread(wire: &Wire) {
    for entry in wire.cases.directory().iter() {
        if &entry.id != wire.cases.me.party() {
            wire.offers.owe(&entry.id);
        }
    }
}

/// Runs until the node stops: makes each exchange owed to a peer when it is due, each on a
/// task of its own.
pub(crate) async fn run_offers(wire: Wire) {
    let cancel = wire.tasks.cancel_token();
    loop {
        let directory = wire.cases.directory();
        wire.offers.keep_only(|p| directory.get(p).is_some());
        for peer in wire.offers.due() {
            let s = wire.clone();
            wire.tasks.spawn(async move {
                let completed = match s.dialer.connection(&peer).await {
                    Ok(conn) => sync_with(s.clone(), peer.clone(), conn).await,
                    Err(e) => {
                        tracing::debug!(peer = %peer, error = %e, "cannot reach a peer to offer a directory version");
                        false
                    }
                };
                s.offers.tried(&peer, completed);
            });
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = wire.offers.wake.notified() => {}
            _ = tokio::time::sleep(FIRST_RETRY / 2) => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_offer_that_did_not_complete_is_due_again_after_a_pause_that_doubles_up_to_a_minute() {
        let offers = Offers::default();
        let de = PartyId::parse("DE").unwrap();
        offers.owe(&de);
        assert_eq!(offers.due(), vec![de.clone()]);
        // Being tried: not due twice at once.
        assert!(offers.due().is_empty());
        offers.tried(&de, false);
        assert!(offers.due().is_empty(), "due again only after the pause");
        assert_eq!(offers.owed(), vec![de.clone()]);
        {
            let owed = offers.lock();
            let o = &owed[&de];
            assert!(o.at > Instant::now() + FIRST_RETRY / 2);
            assert_eq!(o.pause, FIRST_RETRY * 2);
        }
        for _ in 0..10 {
            offers.lock().get_mut(&de).unwrap().at = Instant::now();
            assert_eq!(offers.due(), vec![de.clone()]);
            offers.tried(&de, false);
        }
        assert_eq!(offers.lock()[&de].pause, LAST_RETRY);
        // Owed again (a newer version): tried at once, from the first pause.
        offers.owe(&de);
        assert_eq!(offers.lock()[&de].pause, FIRST_RETRY);
        assert_eq!(offers.due(), vec![de.clone()]);
        // Owed again while being tried: the try under way does not settle it.
        offers.owe(&de);
        offers.tried(&de, true);
        assert_eq!(offers.due(), vec![de.clone()]);
        offers.tried(&de, true);
        assert!(offers.owed().is_empty(), "a completed exchange settles it");
        // A failed exchange elsewhere: owed after the first pause, and an owed schedule kept.
        offers.retry(&de);
        assert!(offers.due().is_empty());
        offers.lock().get_mut(&de).unwrap().pause = LAST_RETRY;
        offers.retry(&de);
        assert_eq!(offers.lock()[&de].pause, LAST_RETRY);
        offers.keep_only(|p| p.as_str() != "DE");
        assert!(
            offers.owed().is_empty(),
            "a party out of the directory is owed nothing"
        );
    }
}
