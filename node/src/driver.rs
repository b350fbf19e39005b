//! The driver: the one place that wires the parts together and does I/O. It loads keys,
//! directory and store, runs the QUIC endpoint, the delivery engine, the committer and the
//! control API as tasks, and executes what the sans-IO cores decide, in the order
//! persist → flush → send/answer → notify.

use crate::clock::{Clock, SystemClock};
use crate::config::NodeConfig;
use crate::delivery::{Delivery, DeliveryPolicy, Outcome, Transmit};
use crate::error::{NodeError, Result};
use crate::events::EventKind;
use crate::handles::{
    Clocks, DeliveryCmd, Dialer, DirectoryHandle, Events, Identity, Net, Outbox, Tasks,
};
use crate::keys;
use crate::operator::Ops;
use crate::outgoing::Cases;
use crate::peers::directory::{Directory, LoadDirectory};
use crate::ready::Ready;
use crate::store::{DeliveryState, Store, StoredMessage};
use crate::timers::Deadlines;
use crate::wire::tls;
use crate::wire::transport::{self, FrameError};
use crate::wire::Wire;
use poc247_protocol::{envelope_sha256, fingerprint, MessageKind, Reply, UtcMs};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// A running node: the handles its tasks were given, kept to reach it from outside (the
/// `run` command, the demo, tests) and to stop it.
pub struct Node {
    wire: Wire,
    deadlines: Deadlines,
    committer: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("party", self.wire.cases.me.party())
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Starts a node on the address of its configuration, with the system clock.
    pub async fn start(cfg: NodeConfig) -> Result<Node> {
        Node::start_with(cfg, None, Arc::new(SystemClock)).await
    }

    /// Starts a node on an already bound UDP socket (tests bind port 0 first) and a clock.
    pub async fn start_with(
        cfg: NodeConfig,
        socket: Option<std::net::UdpSocket>,
        clock: Arc<dyn Clock>,
    ) -> Result<Node> {
        crate::store::durable::close_new_files_to_others();
        let directory = Directory::load(&cfg.directory)?;
        let mut signing = keys::load_signing_key(&cfg.signing_key)?;
        // A key rolled over while the node was stopped: the next one, once listed, is taken
        // before the store opens (which records it in its key history).
        let now = clock.now();
        if let Some(next) = crate::peers::rollover::next_signing_key(&cfg)? {
            if crate::peers::rollover::listed(&directory, &cfg.party, &next, now) {
                crate::peers::rollover::promote_signing(&cfg)?;
                tracing::info!(key = %fingerprint(&next.verifying_key()), "the next signing key is in use (the directory lists it)");
                signing = next;
            }
        }
        if crate::peers::rollover::promote_tls(&cfg, &directory, now)? {
            tracing::info!(
                "the next TLS key and its certificate are in use (the directory pins it)"
            );
        }
        let me = directory.get(&cfg.party).ok_or_else(|| NodeError::Config {
            file: cfg.directory.clone(),
            message: format!("this node's party {} is not in the directory", cfg.party),
        })?;
        if !me.keys.iter().any(|w| w.value == signing.verifying_key()) {
            return Err(NodeError::Key {
                path: cfg.signing_key.clone(),
                message: format!(
                    "this signing key ({}) is not the one the directory lists for {} ({})",
                    fingerprint(&signing.verifying_key()),
                    cfg.party,
                    fingerprint(&me.signing_key)
                ),
            });
        }
        let material = tls::load(&cfg)?;
        let server_cfg = tls::server_config(&material, cfg.limits.max_streams_per_connection)?;
        let client_cfg = tls::client_config(&material, cfg.limits.max_streams_per_connection)?;
        let socket = match socket {
            Some(s) => s,
            None => std::net::UdpSocket::bind(cfg.listen)
                .map_err(|e| NodeError::Transport(format!("bind {}: {e}", cfg.listen)))?,
        };
        transport::size_udp_buffers(&socket);
        let runtime = quinn::default_runtime()
            .ok_or_else(|| NodeError::Transport("no async runtime".into()))?;
        let endpoint = quinn::Endpoint::new(
            tls::endpoint_config(&material),
            Some(server_cfg),
            socket,
            runtime,
        )
        .map_err(|e| NodeError::Transport(e.to_string()))?;
        let (store, committer) = Store::open(&cfg.data_dir, &cfg.store, signing.clone())?;
        // A drill node's clock runs ahead by the offset last recorded, or the configured one
        // if larger: it never runs back across a restart.
        // A store whose clock was moved holds dates ahead of the world's: never real traffic.
        let drilled = store.drill_offset()?;
        let drill = if cfg.drill.enabled {
            let configured = u64::from(cfg.drill.clock_offset_days) * 86_400_000;
            let offset = drilled.unwrap_or(0).max(configured);
            Some(Arc::new(crate::clock::DrillClock::new(
                clock.clone(),
                offset,
            )))
        } else if drilled.is_some() {
            return Err(NodeError::Config {
                file: cfg.data_dir.clone(),
                message: "this store belongs to a drill node (its clock was moved forward): \
                          start it with [drill] enabled = true, or give the node a new data_dir"
                    .into(),
            });
        } else {
            None
        };
        let clocks = Clocks::new(clock, drill);
        crate::outgoing::note_peer_keys(&store, &directory, clocks.now());
        let events = Events::new(
            crate::eventlog::EventLog::open(&store, &cfg.events)?,
            clocks.clone(),
            store.clone(),
        );
        let attachments = crate::attachments::Attachments::open(&cfg.data_dir, &store)?;
        let (outbox, delivery_rx) = Outbox::new();
        let (deadlines, catch_ups) = Deadlines::new();
        let (dialer, dial_requests) = Dialer::new();
        let ops: Ops = Arc::new(crate::operator::Operator::new(&material, clocks.now()));
        let listener = crate::api::bind(&cfg.socket)?;
        let metrics_listener = match cfg.metrics_listen {
            None => None,
            Some(addr) => {
                let l = std::net::TcpListener::bind(addr)
                    .and_then(|l| l.set_nonblocking(true).map(|()| l))
                    .and_then(tokio::net::TcpListener::from_std)
                    .map_err(|e| NodeError::Config {
                        file: cfg.data_dir.clone(),
                        message: format!("[metrics] listen = {addr}: {e}"),
                    })?;
                Some(l)
            }
        };
        let hook = cfg.hook.clone();
        let me = Identity::new(cfg, signing, clocks.now());
        let cases = Cases {
            me: me.clone(),
            directory: DirectoryHandle::new(directory),
            store,
            clocks: clocks.clone(),
            events: events.clone(),
            outbox,
        };
        let tasks = Tasks::default();
        let wire = Wire {
            cases: cases.clone(),
            net: Net::new(endpoint, client_cfg),
            tasks: tasks.clone(),
            limits: Default::default(),
            ops: ops.clone(),
            attachments: attachments.clone(),
            dialer,
        };
        if let Some(hook) = hook {
            let rx = events.subscribe();
            let (party, cancel) = (me.party().clone(), tasks.cancel_token());
            let (publisher, now) = (events.clone(), clocks.clone());
            let report = crate::hook::HookReport {
                health: ops.hook.clone(),
                publish: Box::new(move |kind| publisher.publish(kind, None, None, None, None)),
                now: Box::new(move || now.now()),
            };
            tasks.spawn(crate::hook::run(hook, party, rx, cancel, report));
        }
        tasks.spawn(run_delivery(wire.clone(), delivery_rx));
        tasks.spawn(crate::wire::peering::accept_peers(wire.clone()));
        tasks.spawn(crate::attachments::run_sender(wire.transfers()));
        tasks.spawn(crate::wire::peering::run_dialer(
            wire.clone(),
            dial_requests,
        ));
        tasks.spawn(crate::peers::watch_pins(wire.clone()));
        tasks.spawn(crate::timers::run(
            crate::timers::Timers {
                cases: cases.clone(),
                deadlines: deadlines.clone(),
                attachments: attachments.clone(),
            },
            tasks.cancel_token(),
            catch_ups,
        ));
        // Queued messages to Parties the directory no longer lists (it may have changed while
        // the node was stopped) fail, with the reason.
        let orphans = cases.clone();
        tasks.spawn(async move {
            if let Err(e) = crate::peers::fail_orphans(&orphans).await {
                tracing::error!(error = %e, "cannot check the outbox against the directory");
            }
        });
        tasks.spawn(crate::upkeep::run(
            ops.clone(),
            cases.clone(),
            tasks.cancel_token(),
            events.subscribe(),
        ));
        if me.party().is_authority() {
            tasks.spawn(crate::outgoing::run_relay(
                cases.clone(),
                tasks.cancel_token(),
            ));
        }
        if let Some(l) = metrics_listener {
            tracing::info!(addr = %l.local_addr().map(|a| a.to_string()).unwrap_or_default(), "serving /metrics over TCP");
            tasks.spawn(crate::api::serve_metrics(
                crate::api::App {
                    wire: wire.clone(),
                    deadlines: deadlines.clone(),
                },
                l,
                tasks.cancel_token(),
            ));
        }
        tasks.spawn(crate::api::serve(
            crate::api::App {
                wire: wire.clone(),
                deadlines: deadlines.clone(),
            },
            listener,
            tasks.cancel_token(),
        ));
        // A node back from a stop catches up with a version its peers took meanwhile.
        crate::peers::dirsync::spread(&wire);
        tracing::info!(party = %me.party(), addr = %wire.net.local_addr().map(|a| a.to_string()).unwrap_or_default(), "node started");
        Ok(Node {
            wire,
            deadlines,
            committer,
        })
    }

    /// Where the node's cases change: submit, respond, close … (for the demo and tests).
    pub fn cases(&self) -> &Cases {
        &self.wire.cases
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.wire.cases.store
    }

    /// The node's events.
    pub fn events(&self) -> &Events {
        &self.wire.cases.events
    }

    /// The evidence attachments.
    pub fn attachments(&self) -> &crate::attachments::Attachments {
        &self.wire.attachments
    }

    /// The network side, for a reload (`poc247 run` on SIGHUP).
    pub fn wire(&self) -> &Wire {
        &self.wire
    }

    /// The live connections to peers.
    pub fn connections(&self) -> &crate::wire::transport::Connections {
        self.wire.net.conns()
    }

    /// The local UDP address of the QUIC endpoint.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.wire.net.local_addr()
    }

    /// Makes the timer task look at the clock now (tests move a manual clock).
    #[cfg(feature = "test-hooks")]
    pub fn check_timers(&self) {
        self.deadlines.kick();
    }

    /// Stops accepting, closes connections, waits for every task, flushes and closes sled.
    pub async fn shutdown(self) {
        let Node {
            wire,
            deadlines,
            committer,
        } = self;
        wire.tasks.cancel_token().cancel();
        wire.net.conns().close_all();
        wire.net.endpoint().close(0u32.into(), b"shutdown");
        wire.tasks.stop().await;
        let store = wire.cases.store.clone();
        if let Err(e) = store.checkpoint(wire.cases.clocks.now()) {
            tracing::error!(error = %e, "cannot sign the audit checkpoint at shutdown");
        }
        let _ = store.flush_blocking();
        let _ = std::fs::remove_file(&wire.cases.me.cfg().socket);
        let party = wire.cases.me.party().clone();
        // Connections closed while a peer was unreachable may never finish draining; peers that
        // miss the close learn it from their idle timeout.
        let endpoint = wire.net.endpoint().clone();
        let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
        drop((wire, deadlines, store, endpoint));
        let _ = committer.await;
        tracing::info!(party = %party, "node stopped");
    }
}

/// The delivery task: owns the sans-IO engine, starts the attempts it asks for, and feeds it
/// their outcomes and the peers seen.
async fn run_delivery(wire: Wire, mut rx: mpsc::Receiver<DeliveryCmd>) {
    let mut engine = Delivery::new(
        DeliveryPolicy::from(&wire.cases.me.cfg().delivery),
        rand::random(),
    );
    match wire.cases.store.outbox() {
        Ok(entries) => {
            let now = wire.cases.clocks.now();
            for (id, e) in entries {
                engine.enqueue(e.peer, id, now);
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot read the outbox"),
    }
    let cancel = wire.tasks.cancel_token();
    loop {
        let now = wire.cases.clocks.now();
        while let Some(t) = engine.poll_transmit(now) {
            let s = wire.clone();
            wire.tasks.spawn(async move {
                let outcome = attempt(&s, &t).await;
                if let Outcome::Retry { reason } = &outcome {
                    tracing::debug!(peer = %t.peer, id = %t.id, attempt = t.attempt, reason, "delivery will be retried");
                }
                s.cases.outbox.send(DeliveryCmd::Done(t.peer, t.id, outcome)).await;
            });
        }
        let wait = engine
            .poll_timeout()
            .map(|due| Duration::from_millis(due.since(wire.cases.clocks.now())));
        tokio::select! {
            _ = cancel.cancelled() => return,
            cmd = rx.recv() => match cmd {
                None => return,
                Some(DeliveryCmd::Enqueue(peer, id)) => engine.enqueue(peer, id, wire.cases.clocks.now()),
                Some(DeliveryCmd::Done(peer, id, o)) => { engine.on_outcome(&peer, id, &o, wire.cases.clocks.now()); }
                Some(DeliveryCmd::PeerSeen(peer)) => engine.on_peer_seen(&peer, wire.cases.clocks.now()),
                Some(DeliveryCmd::Forget(peer, id)) => engine.remove(&peer, id),
            },
            _ = sleep_opt(wait) => {}
        }
    }
}

async fn sleep_opt(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// One delivery attempt. Its time limit bounds the peer's part (the connection and the
/// exchange), not what follows an answer: a receipt or a refusal in hand is stored and
/// announced whatever the time, so that an answer stored late is never left unannounced (a
/// later attempt finds the message settled and has nothing to announce).
async fn attempt(wire: &Wire, t: &Transmit) -> Outcome {
    let cancel = wire.tasks.cancel_token();
    let limit = Duration::from_millis(wire.cases.me.cfg().delivery.attempt_timeout_ms);
    let answered = tokio::select! {
        // At shutdown an attempt is dropped; its outbox entry is still on disk.
        _ = cancel.cancelled() => return Outcome::Retry { reason: "node stopping".into() },
        r = tokio::time::timeout(limit, ask_peer(wire, t)) => match r {
            Ok(a) => a,
            Err(_) => {
                wire.net.conns().reset(&t.peer);
                return Outcome::Retry {
                    reason: "attempt timed out".into(),
                };
            }
        },
    };
    match answered {
        Ok((msg, reply)) => settle(wire, t, msg, reply).await,
        Err(outcome) => outcome,
    }
}

/// The peer's part of an attempt: the message sent and the peer's answer, or how the attempt
/// ended without one.
async fn ask_peer(
    wire: &Wire,
    t: &Transmit,
) -> std::result::Result<(StoredMessage, Reply), Outcome> {
    let retry = |reason: String| Err(Outcome::Retry { reason });
    let msg = match wire.cases.store.message(t.id) {
        Ok(Some(m)) => m,
        Ok(None) => {
            return Err(Outcome::Final {
                reason: "message no longer stored".into(),
            })
        }
        Err(e) => return retry(e.to_string()),
    };
    if msg.delivery != DeliveryState::Queued {
        return Err(Outcome::Delivered);
    }
    // A follow-up waits for its case's request to be receipted: sent first, it would reach a
    // peer that has no case yet.
    if !msg.kind.is_request() || msg.kind == MessageKind::SpontaneousInformation {
        let opening = match wire.cases.store.case(&msg.case_ref) {
            Ok(c) => c.and_then(|c| c.messages.first().copied()),
            Err(e) => return retry(e.to_string()),
        };
        if let Some(first) = opening.filter(|first| *first != t.id) {
            match wire.cases.store.message(first) {
                Ok(Some(m)) if m.delivery == DeliveryState::Queued => {
                    return retry(format!(
                        "waiting for the request of {} to be delivered first",
                        msg.case_ref
                    ));
                }
                Ok(_) => {}
                Err(e) => return retry(e.to_string()),
            }
        }
    }
    // Queued longer than half a receiver's window for a message's age (its peer was down, or
    // this node was): signed again with a fresh time before it goes, so that an outage of
    // any length loses nothing.
    let msg =
        match refresh_if_old(wire, msg, wire.cases.me.cfg().limits.clock_skew_secs * 500).await {
            Ok(m) => m,
            Err(e) => return retry(e.to_string()),
        };
    // Attachments are queued durably before the message can be receipted.
    match crate::attachments::queue_outbound(
        &wire.attachments,
        wire.cases.clocks.now(),
        t.id,
        &t.peer,
        &msg.envelope,
    ) {
        Ok(false) => {}
        Ok(true) => {
            if let Err(e) = wire.cases.apply(Ready::after_flush()).await {
                return retry(e.to_string());
            }
        }
        Err(e) => return retry(e.to_string()),
    }
    let conn = match crate::wire::peering::connection(wire, &t.peer).await {
        Ok(c) => c,
        Err(e) => return retry(e.to_string()),
    };
    let reply = match transport::exchange(
        &conn,
        &msg.envelope,
        wire.cases.me.cfg().limits.max_frame_bytes,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            // No answer in time: the connection is most likely dead (the peer restarted
            // and lost it). The next attempt makes a fresh handshake instead of waiting
            // on it again until its idle timeout.
            if matches!(e, FrameError::Timeout) {
                wire.net.conns().reset(&t.peer);
            }
            // A peer that refused this node says why as it closes: kept for `peers`.
            let why = match conn.close_reason() {
                Some(quinn::ConnectionError::ApplicationClosed(c)) => {
                    format!(
                        "{} closed the connection: {}",
                        t.peer,
                        String::from_utf8_lossy(&c.reason)
                    )
                }
                Some(other) => other.to_string(),
                None => e.to_string(),
            };
            wire.ops.peers.unreachable(&t.peer, &why);
            return retry(e.to_string());
        }
    };
    Ok((msg, reply))
}

/// How old `msg`'s signed envelope is at `now`, in ms (0 if it cannot be read).
fn age_ms(msg: &StoredMessage, now: UtcMs) -> u64 {
    poc247_protocol::SignedEnvelope::from_bytes(&msg.envelope)
        .and_then(|s| s.unverified_header())
        .map_or(0, |h| now.0.saturating_sub(h.created_at.0))
}

/// Signs `msg`'s envelope again with the current time if it is older than `older_than_ms`,
/// and stores the new one in its place (audited `resigned`); the message as it now stands.
async fn refresh_if_old(
    wire: &Wire,
    mut msg: StoredMessage,
    older_than_ms: u64,
) -> Result<StoredMessage> {
    let now = wire.cases.clocks.now();
    // The envelope is never older than the message (signing again only makes it younger):
    // a message young enough needs no decoding, which keeps this off a delivery's cost.
    if now.0.saturating_sub(msg.created_at.0) <= older_than_ms || age_ms(&msg, now) <= older_than_ms
    {
        return Ok(msg);
    }
    // This node's own envelope from its own store: it may be signed with a key rolled over
    // since, so it is read, not verified, and signed again with the key in use.
    let signed = poc247_protocol::SignedEnvelope::from_bytes(&msg.envelope)?;
    let mut envelope: poc247_protocol::Envelope =
        poc247_protocol::codec::decode(&signed.payload)
            .map_err(|e| NodeError::Storage(format!("stored envelope of {}: {e}", msg.id)))?;
    let was = envelope.header.created_at;
    envelope.header.created_at = now;
    let bytes = envelope.sign(&wire.cases.me.signing())?.to_bytes()?;
    let rec = crate::audit::AuditRecord {
        at: now,
        actor: crate::audit::Actor::Node,
        event: format!("resigned:{}", was.rfc3339()),
        case_ref: Some(msg.case_ref.clone()),
        message_id: Some(msg.id),
    };
    wire.cases
        .store
        .replace_envelope(msg.id, bytes.clone(), &rec)
        .await?;
    tracing::info!(id = %msg.id, to = %msg.to, created = %was.rfc3339(), "signed again with a fresh time after a long wait");
    msg.envelope = bytes;
    Ok(msg)
}

/// Stores and announces the peer's answer to `msg`: a verified receipt, or a refusal for good.
async fn settle(wire: &Wire, t: &Transmit, msg: StoredMessage, reply: Reply) -> Outcome {
    let retry = |reason: String| Outcome::Retry { reason };
    let now = wire.cases.clocks.now();
    match reply {
        Reply::Receipt(r) => {
            let directory = wire.cases.directory();
            let Some(entry) = directory.get(&t.peer) else {
                return retry(format!("{} left the directory", t.peer));
            };
            let sha = envelope_sha256(&msg.envelope);
            // One of the keys the directory lists for it, or one it had: a receipt it stored
            // before changing its key and gives again for a message seen before still verifies.
            // The history is read only when no listed key signed it.
            let listed = entry
                .keys
                .iter()
                .map(|w| w.value)
                .find(|k| r.verify(&t.peer, k, t.id, &sha).is_ok());
            let signer = listed.or_else(|| {
                wire.cases
                    .store
                    .peer_keys(&t.peer)
                    .unwrap_or_default()
                    .into_iter()
                    .find(|k| r.verify(&t.peer, k, t.id, &sha).is_ok())
            });
            let Some(signer) = signer else {
                let e = r.verify(&t.peer, &entry.signing_key, t.id, &sha).err();
                tracing::warn!(peer = %t.peer, id = %t.id, error = %e.as_ref().map(|e| e.to_string()).unwrap_or_default(), "receipt does not verify");
                return retry(
                    e.map_or_else(|| "receipt does not verify".into(), |e| e.to_string()),
                );
            };
            if let Err(e) = wire.cases.store.settle_durably(t.id, Ok(r), now).await {
                return retry(e.to_string());
            }
            tracing::info!(case = %msg.case_ref, id = %t.id, to = %t.peer, attempt = t.attempt, "delivered, receipt verified");
            let ready = Ready::flushed().notice(
                EventKind::Delivered {
                    receiver_key: fingerprint(&signer),
                },
                Some(msg.case_ref),
                Some(t.id),
                Some(msg.kind),
                Some(t.peer.clone()),
            );
            if let Err(e) = wire.cases.apply(ready).await {
                return retry(e.to_string());
            }
            // Its attachments wait for the delivery: wake their sender.
            wire.attachments.kick();
            Outcome::Delivered
        }
        Reply::Rejection(rej) if rej.code.is_retryable() => retry(rej.to_string()),
        // Refused for its age although it is more than a minute old here: the peer keeps a
        // narrower window than this node's. Signed again now and sent again; a refusal of a
        // message just signed is a disagreement of clocks, and final.
        Reply::Rejection(rej)
            if rej.code == poc247_protocol::RejectionCode::Stale && age_ms(&msg, now) > 60_000 =>
        {
            match refresh_if_old(wire, msg, 0).await {
                Ok(_) => retry(format!("{rej}; signed again with a fresh time")),
                Err(e) => retry(e.to_string()),
            }
        }
        Reply::Rejection(rej) => {
            let reason = rej.to_string();
            if let Err(e) = wire
                .cases
                .store
                .settle_durably(t.id, Err(reason.clone()), now)
                .await
            {
                return retry(e.to_string());
            }
            tracing::warn!(case = %msg.case_ref, id = %t.id, to = %t.peer, code = %rej.code, "peer refused the message");
            let ready = Ready::flushed().notice(
                EventKind::DeliveryFailed {
                    reason: reason.clone(),
                },
                Some(msg.case_ref),
                Some(t.id),
                Some(msg.kind),
                Some(t.peer.clone()),
            );
            if let Err(e) = wire.cases.apply(ready).await {
                return retry(e.to_string());
            }
            Outcome::Final { reason }
        }
    }
}
