//! The peers: when each was last seen, the certificate it presented, and what waits for it
//! (`GET /v1/peers`); and the reload of the directory and of the node's own TLS material
//! without downtime (`POST /v1/peers/reload`, SIGHUP): both read and checked whole first, the
//! old ones kept on any error; then the new directory is put in force, the connections of
//! removed parties closed and their queued messages marked failed.

pub mod directory;
pub mod dirsync;
pub mod registry;
pub mod rollover;

use crate::audit::{Actor, AuditRecord};
use crate::error::NodeError;
use crate::events::EventKind;
use crate::handles::DeliveryCmd;
use crate::outgoing::Cases;
use crate::peers::directory::Directory;
use crate::ready::Ready;
use crate::store::DeliveryState;
use crate::wire::tls;
use crate::wire::Wire;
use poc247_protocol::{fingerprint, PartyId, UtcMs, VerifyingKey};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// How long a reload waits for a connection being made to a removed party.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Why a reload was refused; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The directory file cannot be read or is not acceptable.
    #[error("{0}")]
    Directory(String),
    /// The node's TLS material cannot be read or is not acceptable.
    #[error("{0}")]
    Certificate(String),
    /// Something else failed.
    #[error(transparent)]
    Node(#[from] NodeError),
}

/// How two directories differ, seen from one node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DirectoryDiff {
    /// Parties that were not listed before.
    pub added: Vec<PartyId>,
    /// Parties no longer listed.
    pub removed: Vec<PartyId>,
    /// Parties whose entry changed (key, pin, addresses or declarations).
    pub changed: Vec<PartyId>,
    /// Of those, the ones whose certificate pins changed (one added, dropped, or its window
    /// moved): their connections whose key is no longer pinned close.
    pub repinned: Vec<PartyId>,
}

/// The differences between the directory in force and a new one, leaving out `me`.
pub fn diff(old: &Directory, new: &Directory, me: &PartyId) -> DirectoryDiff {
    let mut d = DirectoryDiff::default();
    for e in old.iter().filter(|e| &e.id != me) {
        match new.get(&e.id) {
            None => d.removed.push(e.id.clone()),
            Some(n) => {
                let same = n.signing_key == e.signing_key
                    && n.spki_sha256 == e.spki_sha256
                    && n.addresses == e.addresses
                    && serde_json::to_value(&n.declarations).ok()
                        == serde_json::to_value(&e.declarations).ok();
                if !same {
                    d.changed.push(e.id.clone());
                }
                if n.spki_sha256 != e.spki_sha256 || n.pins != e.pins {
                    d.repinned.push(e.id.clone());
                }
            }
        }
    }
    d.added = new
        .iter()
        .filter(|e| &e.id != me && old.get(&e.id).is_none())
        .map(|e| e.id.clone())
        .collect();
    d
}

/// Checks directory text for this node: the whole file must parse and pass every check, and
/// still list this node's party with this node's signing key.
pub fn check_directory(
    text: &str,
    me: &PartyId,
    mine: &[VerifyingKey],
) -> std::result::Result<Directory, String> {
    check_own_entry(Directory::from_toml(text)?, me, mine)
}

/// The directory this node trusts, and the file it came from: the signed version in force, the
/// registry's signature (`registry_key` in node.toml) checked again, so an edited file is
/// refused. `directory.toml`, written from the version for reading, is never taken.
pub fn load_directory(
    cfg: &crate::config::NodeConfig,
) -> std::result::Result<(Directory, std::path::PathBuf), (std::path::PathBuf, String)> {
    let path = version_path(cfg);
    let registry_key = cfg.registry_key;
    let version = match version_in_force(cfg) {
        Ok(Some(v)) => v,
        Ok(None) => {
            return Err((
                path,
                "no signed directory version is installed: apply the registry's latest \
                 with `poc247 directory apply --offline FILE` before the first start"
                    .into(),
            ))
        }
        Err(m) => return Err((path, m)),
    };
    // The registry's signature, again: an edit of the file is refused. Each Party's signature
    // on its entry was checked, against the version before, when the version was taken.
    match crate::peers::registry::check_registry_signature(&version, &registry_key)
        .and_then(|()| crate::peers::registry::directory_of(&version))
    {
        Ok(directory) => Ok((directory, path)),
        Err(m) => Err((path, m.into())),
    }
}

/// `directory` if it lists this node's party with one of its signing keys (`mine`).
pub fn check_own_entry(
    directory: Directory,
    me: &PartyId,
    mine: &[VerifyingKey],
) -> std::result::Result<Directory, String> {
    let Some(entry) = directory.get(me) else {
        return Err(format!("this node's party {me} is not in the directory"));
    };
    if !entry.keys.iter().any(|w| mine.contains(&w.value)) {
        let list = |k: &mut dyn Iterator<Item = &VerifyingKey>| {
            k.map(fingerprint).collect::<Vec<_>>().join(", ")
        };
        return Err(format!(
            "the directory lists for {me} the signing key {}, not this node's ({})",
            list(&mut entry.keys.iter().map(|w| &w.value)),
            list(&mut mine.iter())
        ));
    }
    Ok(directory)
}

/// This node's signing key and the next one, if one was made: the keys a directory may list
/// for it.
pub fn own_keys(cfg: &crate::config::NodeConfig, current: &VerifyingKey) -> Vec<VerifyingKey> {
    let mut keys = vec![*current];
    if let Ok(Some(next)) = crate::peers::rollover::next_signing_key(cfg) {
        keys.push(next.verifying_key());
    }
    keys
}

/// Takes the next signing key when `directory` lists it for this node at `now`: put in the key
/// file's place first (a restart from here on uses it, and the store records it as it opens),
/// then recorded in the store's key history, then used for every signature.
pub fn adopt_next_signing_key(
    cases: &Cases,
    directory: &Directory,
    now: UtcMs,
) -> Result<bool, NodeError> {
    let cfg = cases.me.cfg();
    let Some(next) = crate::peers::rollover::next_signing_key(cfg)? else {
        return Ok(false);
    };
    if !crate::peers::rollover::listed(directory, &cfg.party, &next, now) {
        return Ok(false);
    }
    crate::peers::rollover::promote_signing(cfg)?;
    cases.store.adopt_signing_key(next.clone())?;
    tracing::info!(key = %fingerprint(&next.verifying_key()), "the next signing key is in use (the directory lists it)");
    cases.me.set_signing(next);
    Ok(true)
}

/// An outbound message marked failed because its peer left the directory: the API's type.
pub use poc247_api::FailedMessage;

/// What a reload did: the API's answer to `POST /v1/peers/reload` and `POST /v1/directory`
/// (the latter with the serial it put in force).
pub use poc247_api::Reloaded;

/// Re-reads `directory.toml` and the node's TLS material, checks both whole, and puts them
/// in force; on an error in either nothing changes. `actor` is recorded in the audit log.
/// The operator's reload (`POST /v1/peers/reload`, SIGHUP): a next TLS key the directory pins
/// takes the current one's place.
pub async fn reload(wire: &Wire, actor: Actor) -> Result<Reloaded, ReloadError> {
    let one_at_a_time = wire.ops.reload_lock().await;
    reload_with(wire, actor, None, &one_at_a_time).await
}

/// The reload that puts a signed version just taken in force (from the operator or a peer),
/// by a caller that holds the reload lock already: it installed the version just before, and no
/// other reload may take the difference between the two in between (the report would then say
/// nothing changed). It keeps the TLS key in use even when the version pins the next one: the
/// peers that do not hold the version yet pin only the current key, and a node that changed
/// its certificate here would be refused by all of them, so could not pass them the very
/// version that pins it. The next TLS key is taken at the operator's reload (SIGHUP,
/// `peers reload`) or start, as docs/joining.md says.
pub(crate) async fn reload_for_version(
    wire: &Wire,
    actor: Actor,
    serial: u64,
    held: &tokio::sync::MutexGuard<'_, ()>,
) -> Result<Reloaded, ReloadError> {
    reload_with(wire, actor, Some(serial), held).await
}

/// The reload of both: `serial`, the signed version just installed, if that is what it puts
/// in force (then the TLS key in use stays, see [`reload_for_version`]).
async fn reload_with(
    wire: &Wire,
    actor: Actor,
    serial: Option<u64>,
    _held: &tokio::sync::MutexGuard<'_, ()>,
) -> Result<Reloaded, ReloadError> {
    let take_next_tls = serial.is_none();
    let cfg = wire.cases.me.cfg();
    let (directory, path) = load_directory(cfg).map_err(|(file, m)| {
        ReloadError::Directory(format!("directory {}: {m}", file.display()))
    })?;
    let path = &path;
    let directory = check_own_entry(
        directory,
        wire.cases.me.party(),
        &own_keys(cfg, &wire.cases.me.signing().verifying_key()),
    )
    .map_err(|m| ReloadError::Directory(format!("directory {}: {m}", path.display())))?;
    let certificate = |e: NodeError| ReloadError::Certificate(e.to_string());
    // A renewed TLS key the directory now pins takes the place of the current one.
    let now = wire.cases.clocks.now();
    if take_next_tls
        && crate::peers::rollover::promote_tls(cfg, &directory, now).map_err(certificate)?
    {
        tracing::info!("the next TLS key and its certificate are in use (the directory pins it)");
    }
    let material = tls::load(cfg).map_err(certificate)?;
    let streams = cfg.limits.max_streams_per_connection;
    let server = tls::server_config(&material, streams).map_err(certificate)?;
    let client = tls::client_config(&material, streams).map_err(certificate)?;

    // Everything is checked: put it in force.
    let old = wire.cases.directory();
    let changes = diff(&old, &directory, wire.cases.me.party());
    let parties = directory.iter().count();
    let mut warnings = Vec::new();
    // The next signing key, once the directory lists it for this node, signs from now on.
    if let Err(e) = adopt_next_signing_key(&wire.cases, &directory, now) {
        tracing::error!(error = %e, "cannot take the next signing key");
        warnings.push(format!("the next signing key is not in use: {e}"));
    }
    wire.cases.set_directory(Arc::new(directory));
    wire.net.set_server_config(server);
    wire.ops.certs.renew(&material, client);
    wire.ops.peers.set_loaded_at(now);

    let mut connections_closed = 0;
    for p in &changes.removed {
        connections_closed += wire
            .net
            .conns()
            .close_peer(p, b"directory reloaded: the party was removed", CLOSE_WAIT)
            .await;
    }
    // A connection whose certificate key the directory no longer pins closes; one whose key
    // is still pinned (a pin added beside it) goes on.
    connections_closed += close_unpinned(wire).await;
    for p in &changes.removed {
        wire.ops.peers.forget(p);
    }
    // A changed or new entry may make a waiting queue deliverable: try it now.
    for p in changes.added.iter().chain(&changes.changed) {
        wire.cases
            .outbox
            .send(DeliveryCmd::PeerSeen(p.clone()))
            .await;
    }
    let summary = format!(
        "directory_reloaded:+{} -{} ~{}",
        names(&changes.added),
        names(&changes.removed),
        names(&changes.changed)
    );
    // The new directory is in force from here: what fails now is reported, not refused.
    let audited = match wire.cases.store.audit(&AuditRecord {
        at: now,
        actor,
        event: summary,
        case_ref: None,
        message_id: None,
    }) {
        Ok(()) => wire.cases.apply(Ready::after_flush()).await,
        Err(e) => Err(e),
    };
    if let Err(e) = audited {
        tracing::error!(error = %e, "cannot write the reload to the audit log");
        warnings.push(format!("the reload is not in the audit log: {e}"));
    }
    let failed = match fail_orphans(&wire.cases).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "cannot mark the messages to removed parties failed");
            warnings.push(format!(
                "queued messages to removed parties are not marked failed yet ({e}); the next \
                 reload or start does it"
            ));
            Vec::new()
        }
    };
    tracing::info!(
        file = %path.display(),
        parties,
        added = %names(&changes.added),
        removed = %names(&changes.removed),
        changed = %names(&changes.changed),
        failed = failed.len(),
        "directory and certificate reloaded"
    );
    let own = crate::upkeep::check(&wire.ops, &wire.cases)
        .into_iter()
        .find(|s| s.own);
    let DirectoryDiff {
        added,
        removed,
        changed,
        repinned,
    } = changes;
    Ok(Reloaded {
        directory: path.display().to_string(),
        parties: parties as u64,
        added,
        removed,
        changed,
        repinned,
        connections_closed: connections_closed as u64,
        failed,
        certificate: own,
        warnings,
        serial,
    })
}

/// How often a node looks again at the pins of its live connections, for a pin whose window
/// ends between two reloads.
pub const PIN_CHECK_EVERY: Duration = Duration::from_secs(30);

/// Closes every live connection whose certificate's key the directory in force does not pin
/// now (a pin dropped, or its window ended), naming both values in the log and in the close
/// reason the peer sees; returns how many it closed. A new handshake with that key is refused
/// the same way (`wire::peering` `admit`).
pub async fn close_unpinned(wire: &Wire) -> usize {
    let directory = wire.cases.directory();
    let now = wire.cases.clocks.now();
    let mut closed = 0;
    for entry in directory.iter() {
        if &entry.id == wire.cases.me.party() || entry.pins.is_empty() {
            continue;
        }
        let peer = &entry.id;
        let n = wire.net.conns().close_where(peer, |conn| {
            let presented = tls::peer_certificate(conn).and_then(|c| tls::spki_sha256(&c));
            if presented
                .as_ref()
                .is_ok_and(|spki| entry.pinned_at(spki, now))
            {
                return None;
            }
            let presented = presented.map_or_else(|e| e.to_string(), hex::encode);
            let why = entry.unpinned_reason(&presented, now);
            tracing::warn!(peer = %peer, reason = %why, "closed a connection whose certificate key is no longer pinned");
            Some(why)
        }, CLOSE_WAIT).await;
        closed += n;
    }
    closed
}

/// Runs until the node stops: every [`PIN_CHECK_EVERY`], closes the connections whose pin's
/// window has ended since the directory was put in force.
pub(crate) async fn watch_pins(wire: Wire) {
    let cancel = wire.tasks.cancel_token();
    let mut every = tokio::time::interval(PIN_CHECK_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = every.tick() => {
                close_unpinned(&wire).await;
            }
        }
    }
}

fn names(list: &[PartyId]) -> String {
    list.iter()
        .map(PartyId::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

/// Marks failed every queued message to a party the directory no longer lists, and takes it
/// out of the delivery engine (after a reload, and at start for a directory changed while the
/// node was stopped).
pub async fn fail_orphans(cases: &Cases) -> Result<Vec<FailedMessage>, NodeError> {
    let directory = cases.directory();
    let now = cases.clocks.now();
    let mut failed = Vec::new();
    for (id, entry) in cases.store.outbox()? {
        if directory.get(&entry.peer).is_some() {
            continue;
        }
        cases
            .outbox
            .send(DeliveryCmd::Forget(entry.peer.clone(), id))
            .await;
        let Some(msg) = cases.store.message(id)? else {
            continue;
        };
        if msg.delivery != DeliveryState::Queued {
            continue;
        }
        let reason = format!(
            "unknown-party: {} was removed from the directory before the message was delivered",
            entry.peer
        );
        if let Err(e) = cases.store.settle_outbound(id, Err(reason.clone()), now) {
            tracing::error!(id = %id, peer = %entry.peer, error = %e, "cannot mark a message to a removed party failed");
            continue;
        }
        failed.push(FailedMessage {
            message_id: id,
            case_ref: msg.case_ref,
            kind: msg.kind,
            peer: entry.peer,
            reason,
        });
    }
    if failed.is_empty() {
        return Ok(failed);
    }
    let mut ready = Ready::after_flush();
    for f in &failed {
        tracing::warn!(case = %f.case_ref, id = %f.message_id, to = %f.peer, "queued message failed: its party left the directory");
        ready = ready.notice(
            EventKind::DeliveryFailed {
                reason: f.reason.clone(),
            },
            Some(f.case_ref.clone()),
            Some(f.message_id),
            Some(f.kind),
            Some(f.peer.clone()),
        );
    }
    cases.apply(ready).await?;
    Ok(failed)
}

pub use crate::peers::registry::{version_in_force, version_path};

/// Checks `next` against `registry_key` and the version in force at the node of `cfg`
/// (whose party must be listed with `me`), then keeps it and writes the directory it carries
/// over `cfg.directory`, each file replaced in one step. Nothing is written on a refusal. A
/// running node puts it in force with a reload; a stopped one reads it at start.
pub fn install_version(
    cfg: &crate::config::NodeConfig,
    registry_key: &VerifyingKey,
    me: &VerifyingKey,
    next: &crate::peers::registry::SignedVersion,
) -> std::result::Result<u64, String> {
    let serial = next.version.serial;
    let in_force = version_in_force(cfg)?;
    let directory = crate::peers::registry::check(next, registry_key, in_force.as_ref())?;
    let text = format!(
        "# Written by poc247 from signed directory version {serial}, for reading: the node \
         takes its\n# directory from the signed version itself, so an edit here changes nothing. \
         Apply a newer version instead.\n{}",
        toml::to_string(&directory.to_file())
            .map_err(|e| format!("cannot write the directory: {e}"))?
    );
    check_directory(&text, &cfg.party, &own_keys(cfg, me))?;
    let bytes = next.to_bytes().map_err(|e| e.to_string())?;
    crate::peers::dirsync::keep(cfg, serial, &bytes)
        .map_err(|e| format!("{}: {e}", cfg.data_dir.display()))?;
    let path = version_path(cfg);
    crate::store::durable::replace(&path, &bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    crate::store::durable::replace(&cfg.directory, text.as_bytes())
        .map_err(|e| format!("{}: {e}", cfg.directory.display()))?;
    Ok(serial)
}
