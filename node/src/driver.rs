//! The driver: the one place that wires the parts together and does I/O. It loads keys,
//! directory and store, runs the QUIC endpoint, the delivery engine, the committer and the
//! control API as tasks, and executes what the sans-IO cores decide, in the order
//! persist → flush → send/answer → notify.

use crate::clock::{Clock, SystemClock};
use crate::config::NodeConfig;
use crate::delivery::{Delivery, DeliveryPolicy, Outcome, Transmit};
use crate::directory::Directory;
use crate::error::{NodeError, Result};
use crate::events::{EventKind, NodeEvent};
use crate::store::{DeliveryState, Store, StoredMessage};
use crate::transport::{self, Connections, FrameError};
use crate::{control, keys, receiver, tls};
use poc247_protocol::{
    envelope_sha256, fingerprint, CaseRef, MessageId, MessageKind, PartyId, Reply, SigningKey,
    UtcMs,
};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What the delivery task is told.
#[derive(Debug)]
pub enum DeliveryCmd {
    /// A message was queued for `peer`.
    Enqueue(PartyId, MessageId),
    /// An attempt ended.
    Done(PartyId, MessageId, Outcome),
    /// `peer` was seen.
    PeerSeen(PartyId),
    /// Drop a message from the engine (its peer left the directory).
    Forget(PartyId, MessageId),
}

/// State shared by the node's tasks.
pub struct Shared {
    /// This node's party.
    pub party: PartyId,
    /// The configuration.
    pub cfg: NodeConfig,
    /// The signing key.
    pub signing: SigningKey,
    directory: RwLock<Arc<Directory>>,
    /// The store.
    pub store: Store,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The same clock on a drill node, to move it forward; `None` on a real node.
    pub drill: Option<Arc<crate::clock::DrillClock>>,
    events: broadcast::Sender<NodeEvent>,
    pub(crate) delivery: mpsc::Sender<DeliveryCmd>,
    endpoint: quinn::Endpoint,
    client_cfg: quinn::ClientConfig,
    /// Live connections.
    pub conns: Connections,
    /// When the node started.
    pub started_at: UtcMs,
    tracker: TaskTracker,
    cancel: CancellationToken,
    /// The durable event log; it numbers and orders the events.
    pub event_log: crate::eventlog::EventLog,
    /// Per-peer rate limits of inbound messages.
    pub limits: std::sync::Mutex<crate::ratelimit::PeerLimits>,
    /// Wakes the timer task (after a manual clock moved, in tests and drills).
    pub timer_kick: tokio::sync::Notify,
    /// Every case's deadlines and role, kept by the timer task for the metrics, the status and
    /// `GET /v1/pending`.
    pub deadline_board: std::sync::Mutex<crate::timers::Board>,
    /// Asks the timer task to bring the board up to date ([`crate::timers::catch_up`]).
    pub(crate) timer_catch_up: mpsc::UnboundedSender<crate::timers::CatchUp>,
    /// The operator's surface: peers seen, certificates, metrics, reloads.
    pub ops: crate::operator::Operator,
    /// Evidence attachments: files, records, outbox.
    pub attachments: crate::attachments::Attachments,
}

impl Shared {
    /// The QUIC client configuration for new connections (renewed by a reload).
    pub fn client_config(&self) -> quinn::ClientConfig {
        self.ops
            .certs
            .client_config()
            .unwrap_or_else(|| self.client_cfg.clone())
    }

    /// Puts a new directory in force (a reload checked it whole first).
    pub(crate) fn set_directory(&self, directory: Arc<Directory>) {
        note_peer_keys(&self.store, &directory, self.clock.now());
        match self.directory.write() {
            Ok(mut d) => *d = directory,
            Err(p) => *p.into_inner() = directory,
        }
    }

    /// Serves new connections with a new certificate (a reload checked it first).
    pub(crate) fn set_server_config(&self, config: quinn::ServerConfig) {
        self.endpoint.set_server_config(Some(config));
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("party", &self.party)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// The directory in force.
    pub fn directory(&self) -> Arc<Directory> {
        self.directory
            .read()
            .map(|d| d.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Follows the node's events.
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    /// Publishes an event (and logs it, ids only).
    pub fn publish(
        &self,
        kind: EventKind,
        case_ref: Option<CaseRef>,
        message_id: Option<MessageId>,
        message_kind: Option<MessageKind>,
        peer: Option<PartyId>,
    ) {
        self.event_log.publish(&self.events, |seq| NodeEvent {
            seq,
            at: self.clock.now(),
            kind,
            case_ref,
            message_id,
            message_kind,
            peer,
        });
    }

    /// Makes the timer task look at the clock now (after a manual clock moved).
    pub fn check_timers(&self) {
        self.timer_kick.notify_one();
    }

    /// Follows the node's events from now on: the last sequence number given out, and every
    /// later event (a reader resuming from the log reads up to that number, then this).
    pub fn subscribe_at(&self) -> (u64, broadcast::Receiver<NodeEvent>) {
        self.event_log.subscribe(&self.events)
    }

    /// Runs a task the node waits for at shutdown.
    pub(crate) fn spawn<F>(&self, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(task);
    }

    /// Fires when the node begins to stop.
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// The local UDP address of the QUIC endpoint.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.endpoint
            .local_addr()
            .map_err(|e| NodeError::Transport(e.to_string()))
    }
}

/// A running node.
pub struct Node {
    shared: Arc<Shared>,
    committer: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("party", &self.shared.party)
            .finish_non_exhaustive()
    }
}

/// Remembers every Party's signing key of `directory`, so that receipts and messages they
/// signed stay verifiable after a key change. A failure is logged: it costs only a later
/// verification.
fn note_peer_keys(store: &Store, directory: &Directory, now: UtcMs) {
    for e in directory.iter() {
        if let Err(e) = store.note_peer_key(&e.id, &e.signing_key, now) {
            tracing::error!(error = %e, "cannot record a peer's signing key");
        }
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
        crate::durable::close_new_files_to_others();
        let directory = Directory::load(&cfg.directory)?;
        let signing = keys::load_signing_key(&cfg.signing_key)?;
        let me = directory.get(&cfg.party).ok_or_else(|| NodeError::Config {
            file: cfg.directory.clone(),
            message: format!("this node's party {} is not in the directory", cfg.party),
        })?;
        if me.signing_key != signing.verifying_key() {
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
        let clock: Arc<dyn Clock> = match &drill {
            Some(d) => d.clone(),
            None => clock,
        };
        note_peer_keys(&store, &directory, clock.now());
        let event_log = crate::eventlog::EventLog::open(&store, &cfg.events)?;
        let attachments = crate::attachments::Attachments::open(&cfg.data_dir, &store)?;
        let (events, _) = broadcast::channel(4096);
        let (delivery_tx, delivery_rx) = mpsc::channel(4096);
        let (timer_catch_up, catch_ups) = mpsc::unbounded_channel();
        let ops = crate::operator::Operator::new(&material, clock.now());
        let shared = Arc::new(Shared {
            party: cfg.party.clone(),
            signing,
            directory: RwLock::new(Arc::new(directory)),
            store,
            started_at: clock.now(),
            clock,
            drill,
            events,
            delivery: delivery_tx,
            endpoint,
            client_cfg,
            conns: Connections::default(),
            tracker: TaskTracker::new(),
            cancel: CancellationToken::new(),
            event_log,
            limits: std::sync::Mutex::new(crate::ratelimit::PeerLimits::default()),
            timer_kick: tokio::sync::Notify::new(),
            deadline_board: Default::default(),
            timer_catch_up,
            ops,
            attachments,
            cfg,
        });
        let listener = control::bind(&shared.cfg.socket)?;
        if let Some(hook) = shared.cfg.hook.clone() {
            let rx = shared.subscribe();
            let (party, cancel) = (shared.party.clone(), shared.cancel.clone());
            let (publisher, clock) = (Arc::downgrade(&shared), shared.clock.clone());
            let report = crate::hook::HookReport {
                health: shared.ops.hook.clone(),
                publish: Box::new(move |kind| {
                    if let Some(s) = publisher.upgrade() {
                        s.publish(kind, None, None, None, None);
                    }
                }),
                now: Box::new(move || clock.now()),
            };
            shared
                .tracker
                .spawn(crate::hook::run(hook, party, rx, cancel, report));
        }
        shared
            .tracker
            .spawn(run_delivery(shared.clone(), delivery_rx));
        shared.tracker.spawn(accept_peers(shared.clone()));
        shared
            .tracker
            .spawn(crate::attachments::run_sender(shared.clone()));
        shared
            .tracker
            .spawn(crate::timers::run(shared.clone(), catch_ups));
        shared
            .tracker
            .spawn(crate::operator::run(shared.clone(), shared.subscribe()));
        if shared.party.is_authority() {
            shared.tracker.spawn(crate::outgoing::run_relay(
                shared.clone(),
                shared.subscribe(),
            ));
        }
        shared.tracker.spawn(control::serve(
            shared.clone(),
            listener,
            shared.cancel.clone(),
        ));
        // A node back from a stop catches up with a version its peers took meanwhile.
        crate::dirsync::spread(&shared);
        tracing::info!(party = %shared.party, addr = ?shared.local_addr().ok(), "node started");
        Ok(Node { shared, committer })
    }

    /// The shared state (for the control API, the demo and tests).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stops accepting, closes connections, waits for every task, flushes and closes sled.
    pub async fn shutdown(self) {
        let Node { shared, committer } = self;
        shared.cancel.cancel();
        shared.conns.close_all();
        shared.endpoint.close(0u32.into(), b"shutdown");
        shared.tracker.close();
        shared.tracker.wait().await;
        if let Err(e) = shared.store.checkpoint(shared.clock.now()) {
            tracing::error!(error = %e, "cannot sign the audit checkpoint at shutdown");
        }
        let _ = shared.store.flush_blocking();
        let _ = std::fs::remove_file(&shared.cfg.socket);
        let party = shared.party.clone();
        // Connections closed while a peer was unreachable may never finish draining; peers that
        // miss the close learn it from their idle timeout.
        let _ = tokio::time::timeout(Duration::from_secs(1), shared.endpoint.wait_idle()).await;
        drop(shared);
        let _ = committer.await;
        tracing::info!(party = %party, "node stopped");
    }
}

/// Accepts peer connections: checks the certificate's party against the directory, then
/// serves its streams.
async fn accept_peers(shared: Arc<Shared>) {
    loop {
        let incoming = tokio::select! {
            _ = shared.cancel.cancelled() => return,
            i = shared.endpoint.accept() => match i { Some(i) => i, None => return },
        };
        let s = shared.clone();
        shared.tracker.spawn(async move {
            let conn = match incoming.await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "peer handshake failed");
                    return;
                }
            };
            if let Some(peer) = admit(&s, &conn) {
                let cap = s.cfg.limits.max_connections_per_peer as usize;
                if s.conns.live(&peer) >= cap {
                    tracing::warn!(peer = %peer, cap, "refused a connection over the peer's cap");
                    conn.close(4u32.into(), b"too many connections from this party");
                    return;
                }
                s.conns.offer(&peer, &conn).await;
                // The two nodes tell each other the directory version each holds.
                s.tracker.spawn(crate::dirsync::sync_with(
                    s.clone(),
                    peer.clone(),
                    conn.clone(),
                ));
                serve_connection(s, conn, peer).await;
            }
        });
    }
}

/// The party a new connection is from, if it is in the directory; closes it otherwise.
fn admit(shared: &Shared, conn: &quinn::Connection) -> Option<PartyId> {
    let peer = match tls::peer_party(conn) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "peer certificate names no party");
            conn.close(1u32.into(), b"certificate names no party");
            return None;
        }
    };
    let directory = shared.directory();
    let Some(entry) = directory.get(&peer) else {
        tracing::warn!(peer = %peer, "refused a party not in the directory");
        conn.close(2u32.into(), b"unknown party");
        return None;
    };
    if let Some(pin) = entry.spki_sha256 {
        let presented = tls::peer_certificate(conn).and_then(|c| tls::spki_sha256(&c));
        if presented.as_ref().ok() != Some(&pin) {
            // Both values, so that the two administrators see which side is out of date.
            let presented = presented.map_or_else(|e| e.to_string(), hex::encode);
            tracing::warn!(
                peer = %peer,
                pinned = %hex::encode(pin),
                presented = %presented,
                "refused a certificate whose key is not the pinned one"
            );
            conn.close(
                3u32.into(),
                format!(
                    "certificate key not pinned: the directory pins spki_sha256 {} for {peer}, \
                     the certificate has {presented}",
                    hex::encode(pin)
                )
                .as_bytes(),
            );
            return None;
        }
    }
    crate::operator::admitted(shared, &peer, conn);
    tracing::info!(peer = %peer, "peer connected");
    shared.publish(
        EventKind::PeerConnected,
        None,
        None,
        None,
        Some(peer.clone()),
    );
    let _ = shared
        .delivery
        .try_send(DeliveryCmd::PeerSeen(peer.clone()));
    Some(peer)
}

/// Serves the streams a peer opens on a connection, each on its own task.
async fn serve_connection(shared: Arc<Shared>, conn: quinn::Connection, peer: PartyId) {
    loop {
        let (send, recv) = tokio::select! {
            _ = shared.cancel.cancelled() => return,
            s = conn.accept_bi() => match s { Ok(s) => s, Err(_) => return },
        };
        let s = shared.clone();
        let p = peer.clone();
        let c = conn.clone();
        shared
            .tracker
            .spawn(async move { serve_stream(&s, &p, &c, send, recv).await });
    }
}

async fn serve_stream(
    shared: &Arc<Shared>,
    peer: &PartyId,
    conn: &quinn::Connection,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) {
    let max = shared.cfg.limits.max_frame_bytes;
    let frame = match transport::read_head(&mut recv).await {
        Ok(head) if head == poc247_protocol::ATTACHMENT_MAGIC => {
            return crate::attachments::serve_inbound(shared, peer, send, recv).await;
        }
        Ok(head) if head == poc247_protocol::DIRECTORY_MAGIC => {
            return crate::dirsync::serve(shared, peer, conn, send, recv).await;
        }
        Ok(head) => {
            let budget = shared
                .conns
                .budget(peer, shared.cfg.limits.max_buffered_bytes_per_peer);
            transport::read_frame_within(&mut recv, head, max, Some(&budget)).await
        }
        Err(e) => Err(e),
    };
    let reply = match frame {
        Ok(frame) => receiver::handle_frame(shared, peer, &frame).await,
        Err(FrameError::TooLarge { len, max }) => {
            let _ = recv.stop(0u32.into());
            tracing::warn!(peer = %peer, len, max, "refused a frame over the limit");
            shared.publish(
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

/// The delivery task: owns the sans-IO engine, starts the attempts it asks for, and feeds it
/// their outcomes and the peers seen.
async fn run_delivery(shared: Arc<Shared>, mut rx: mpsc::Receiver<DeliveryCmd>) {
    let mut engine = Delivery::new(DeliveryPolicy::from(&shared.cfg.delivery), rand::random());
    match shared.store.outbox() {
        Ok(entries) => {
            let now = shared.clock.now();
            for (id, e) in entries {
                engine.enqueue(e.peer, id, now);
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot read the outbox"),
    }
    loop {
        let now = shared.clock.now();
        while let Some(t) = engine.poll_transmit(now) {
            let s = shared.clone();
            shared.tracker.spawn(async move {
                let outcome = attempt(&s, &t).await;
                if let Outcome::Retry { reason } = &outcome {
                    tracing::debug!(peer = %t.peer, id = %t.id, attempt = t.attempt, reason, "delivery will be retried");
                }
                let _ = s.delivery.send(DeliveryCmd::Done(t.peer, t.id, outcome)).await;
            });
        }
        let wait = engine
            .poll_timeout()
            .map(|due| Duration::from_millis(due.since(shared.clock.now())));
        tokio::select! {
            _ = shared.cancel.cancelled() => return,
            cmd = rx.recv() => match cmd {
                None => return,
                Some(DeliveryCmd::Enqueue(peer, id)) => engine.enqueue(peer, id, shared.clock.now()),
                Some(DeliveryCmd::Done(peer, id, o)) => { engine.on_outcome(&peer, id, &o, shared.clock.now()); }
                Some(DeliveryCmd::PeerSeen(peer)) => engine.on_peer_seen(&peer, shared.clock.now()),
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
async fn attempt(shared: &Arc<Shared>, t: &Transmit) -> Outcome {
    let limit = Duration::from_millis(shared.cfg.delivery.attempt_timeout_ms);
    let answered = tokio::select! {
        // At shutdown an attempt is dropped; its outbox entry is still on disk.
        _ = shared.cancel.cancelled() => return Outcome::Retry { reason: "node stopping".into() },
        r = tokio::time::timeout(limit, ask_peer(shared, t)) => match r {
            Ok(a) => a,
            Err(_) => {
                shared.conns.reset(&t.peer);
                return Outcome::Retry {
                    reason: "attempt timed out".into(),
                };
            }
        },
    };
    match answered {
        Ok((msg, reply)) => settle(shared, t, msg, reply).await,
        Err(outcome) => outcome,
    }
}

async fn connect(shared: &Shared, peer: &PartyId) -> Result<quinn::Connection> {
    let directory = shared.directory();
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
            match shared
                .endpoint
                .connect_with(shared.client_config(), sock, &peer.dns_name())
            {
                Ok(c) => c,
                Err(e) => {
                    last = format!("{addr}: {e}");
                    continue;
                }
            };
        match connecting.await {
            Ok(conn) => {
                if admit(shared, &conn).as_ref() != Some(peer) {
                    last = format!("{addr}: certificate is not {peer}'s");
                    continue;
                }
                return Ok(conn);
            }
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(NodeError::Transport(format!("cannot reach {peer}: {last}")))
}

/// The live connection to `peer`, or a new one (whose streams from the peer are served too).
pub(crate) async fn connection(shared: &Arc<Shared>, peer: &PartyId) -> Result<quinn::Connection> {
    shared
        .conns
        .get_or_connect(peer, || async {
            let c = match connect(shared, peer).await {
                Ok(c) => c,
                Err(e) => {
                    shared.ops.peers.unreachable(peer, &e.to_string());
                    return Err(e);
                }
            };
            // The connection is shared both ways: serve what the peer sends on it.
            let s = shared.clone();
            shared
                .tracker
                .spawn(serve_connection(s, c.clone(), peer.clone()));
            shared.tracker.spawn(crate::dirsync::sync_with(
                shared.clone(),
                peer.clone(),
                c.clone(),
            ));
            Ok(c)
        })
        .await
}

/// The peer's part of an attempt: the message sent and the peer's answer, or how the attempt
/// ended without one.
async fn ask_peer(
    shared: &Arc<Shared>,
    t: &Transmit,
) -> std::result::Result<(StoredMessage, Reply), Outcome> {
    let retry = |reason: String| Err(Outcome::Retry { reason });
    let msg = match shared.store.message(t.id) {
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
        let opening = match shared.store.case(&msg.case_ref) {
            Ok(c) => c.and_then(|c| c.messages.first().copied()),
            Err(e) => return retry(e.to_string()),
        };
        if let Some(first) = opening.filter(|first| *first != t.id) {
            match shared.store.message(first) {
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
    let msg = match refresh_if_old(shared, msg, shared.cfg.limits.clock_skew_secs * 500).await {
        Ok(m) => m,
        Err(e) => return retry(e.to_string()),
    };
    // Attachments are queued durably before the message can be receipted.
    match crate::attachments::queue_outbound(shared, t.id, &t.peer, &msg.envelope) {
        Ok(false) => {}
        Ok(true) => {
            if let Err(e) = shared.store.commit().await {
                return retry(e.to_string());
            }
        }
        Err(e) => return retry(e.to_string()),
    }
    let conn = match connection(shared, &t.peer).await {
        Ok(c) => c,
        Err(e) => return retry(e.to_string()),
    };
    let reply =
        match transport::exchange(&conn, &msg.envelope, shared.cfg.limits.max_frame_bytes).await {
            Ok(r) => r,
            Err(e) => {
                // No answer in time: the connection is most likely dead (the peer restarted
                // and lost it). The next attempt makes a fresh handshake instead of waiting
                // on it again until its idle timeout.
                if matches!(e, FrameError::Timeout) {
                    shared.conns.reset(&t.peer);
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
                shared.ops.peers.unreachable(&t.peer, &why);
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
    shared: &Shared,
    mut msg: StoredMessage,
    older_than_ms: u64,
) -> Result<StoredMessage> {
    let now = shared.clock.now();
    // The envelope is never older than the message (signing again only makes it younger):
    // a message young enough needs no decoding, which keeps this off a delivery's cost.
    if now.0.saturating_sub(msg.created_at.0) <= older_than_ms || age_ms(&msg, now) <= older_than_ms
    {
        return Ok(msg);
    }
    let signed = poc247_protocol::SignedEnvelope::from_bytes(&msg.envelope)?;
    let mut envelope = signed
        .verify(&shared.party, &shared.signing.verifying_key())
        .map_err(|e| NodeError::Storage(format!("stored envelope of {}: {e}", msg.id)))?
        .envelope()
        .clone();
    let was = envelope.header.created_at;
    envelope.header.created_at = now;
    let bytes = envelope.sign(&shared.signing)?.to_bytes()?;
    let rec = crate::audit::AuditRecord {
        at: now,
        actor: crate::audit::Actor::Node,
        event: format!("resigned:{}", was.rfc3339()),
        case_ref: Some(msg.case_ref.clone()),
        message_id: Some(msg.id),
    };
    shared
        .store
        .replace_envelope(msg.id, bytes.clone(), &rec)
        .await?;
    tracing::info!(id = %msg.id, to = %msg.to, created = %was.rfc3339(), "signed again with a fresh time after a long wait");
    msg.envelope = bytes;
    Ok(msg)
}

/// Stores and announces the peer's answer to `msg`: a verified receipt, or a refusal for good.
async fn settle(shared: &Arc<Shared>, t: &Transmit, msg: StoredMessage, reply: Reply) -> Outcome {
    let retry = |reason: String| Outcome::Retry { reason };
    let now = shared.clock.now();
    match reply {
        Reply::Receipt(r) => {
            let directory = shared.directory();
            let Some(entry) = directory.get(&t.peer) else {
                return retry(format!("{} left the directory", t.peer));
            };
            // The peer's key now, or one it had: a receipt it stored before changing its key
            // and gives again for a message seen before still verifies.
            let sha = envelope_sha256(&msg.envelope);
            let current = r.verify(&t.peer, &entry.signing_key, t.id, &sha).is_ok();
            // The history is read only when the key in force did not sign it.
            let signer = if current {
                Some(entry.signing_key)
            } else {
                shared
                    .store
                    .peer_keys(&t.peer)
                    .unwrap_or_default()
                    .into_iter()
                    .find(|k| r.verify(&t.peer, k, t.id, &sha).is_ok())
            };
            let Some(signer) = signer else {
                let e = r.verify(&t.peer, &entry.signing_key, t.id, &sha).err();
                tracing::warn!(peer = %t.peer, id = %t.id, error = ?e, "receipt does not verify");
                return retry(
                    e.map_or_else(|| "receipt does not verify".into(), |e| e.to_string()),
                );
            };
            if let Err(e) = shared.store.settle_durably(t.id, Ok(r), now).await {
                return retry(e.to_string());
            }
            tracing::info!(case = %msg.case_ref, id = %t.id, to = %t.peer, attempt = t.attempt, "delivered, receipt verified");
            shared.attachments.kick();
            shared.publish(
                EventKind::Delivered {
                    receiver_key: fingerprint(&signer),
                },
                Some(msg.case_ref),
                Some(t.id),
                Some(msg.kind),
                Some(t.peer.clone()),
            );
            Outcome::Delivered
        }
        Reply::Rejection(rej) if rej.code.is_retryable() => retry(rej.to_string()),
        // Refused for its age although it is more than a minute old here: the peer keeps a
        // narrower window than this node's. Signed again now and sent again; a refusal of a
        // message just signed is a disagreement of clocks, and final.
        Reply::Rejection(rej)
            if rej.code == poc247_protocol::RejectionCode::Stale && age_ms(&msg, now) > 60_000 =>
        {
            match refresh_if_old(shared, msg, 0).await {
                Ok(_) => retry(format!("{rej}; signed again with a fresh time")),
                Err(e) => retry(e.to_string()),
            }
        }
        Reply::Rejection(rej) => {
            let reason = rej.to_string();
            if let Err(e) = shared
                .store
                .settle_durably(t.id, Err(reason.clone()), now)
                .await
            {
                return retry(e.to_string());
            }
            tracing::warn!(case = %msg.case_ref, id = %t.id, to = %t.peer, code = %rej.code, "peer refused the message");
            shared.publish(
                EventKind::DeliveryFailed {
                    reason: reason.clone(),
                },
                Some(msg.case_ref),
                Some(t.id),
                Some(msg.kind),
                Some(t.peer.clone()),
            );
            Outcome::Final { reason }
        }
    }
}
