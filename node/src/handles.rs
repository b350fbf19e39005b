//! The node's handles: small, clone-able parts of its state, each given only to the tasks and
//! API routes that use it (in the manner of mini-redis's `Handler`). Nothing holds all of
//! them but the node itself ([`crate::driver::Node`]) and the API's router state, from which
//! each route takes the handles it names (`State<Store>`, `State<Cases>` …).

use crate::clock::{Clock, DrillClock};
use crate::config::NodeConfig;
use crate::delivery::Outcome;
use crate::error::{NodeError, Result};
use crate::eventlog::EventLog;
use crate::events::{EventKind, NodeEvent};
use crate::peers::directory::Directory;

use crate::store::Store;
use crate::wire::transport::Connections;
use poc247_protocol::{CaseRef, MessageId, MessageKind, PartyId, SigningKey, UtcMs};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Who this node is: its Party, its configuration, its signing key, when it started.
#[derive(Clone)]
pub struct Identity(Arc<IdentityInner>);

struct IdentityInner {
    party: PartyId,
    cfg: NodeConfig,
    signing: RwLock<SigningKey>,
    started_at: UtcMs,
}

impl Identity {
    /// A node of `cfg.party` signing with `signing`, started at `started_at`.
    pub fn new(cfg: NodeConfig, signing: SigningKey, started_at: UtcMs) -> Self {
        Identity(Arc::new(IdentityInner {
            party: cfg.party.clone(),
            cfg,
            signing: RwLock::new(signing),
            started_at,
        }))
    }
    /// This node's Party.
    pub fn party(&self) -> &PartyId {
        &self.0.party
    }
    /// Its configuration.
    pub fn cfg(&self) -> &NodeConfig {
        &self.0.cfg
    }
    /// Its signing key now.
    pub fn signing(&self) -> SigningKey {
        self.0
            .signing
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
    /// Signs from now on with `key` (a rollover; the store records it first).
    pub(crate) fn set_signing(&self, key: SigningKey) {
        *self.0.signing.write().unwrap_or_else(|p| p.into_inner()) = key;
    }
    /// When it started.
    pub fn started_at(&self) -> UtcMs {
        self.0.started_at
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("party", &self.0.party)
            .finish_non_exhaustive()
    }
}

/// The directory in force; a reload or a new version replaces it whole.
#[derive(Clone, Debug)]
pub struct DirectoryHandle(Arc<RwLock<Arc<Directory>>>);

impl DirectoryHandle {
    /// A handle on `directory`.
    pub fn new(directory: Directory) -> Self {
        DirectoryHandle(Arc::new(RwLock::new(Arc::new(directory))))
    }
    /// The directory in force.
    pub fn get(&self) -> Arc<Directory> {
        self.0
            .read()
            .map(|d| d.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }
    /// Puts `directory` in force (checked whole before).
    pub(crate) fn set(&self, directory: Arc<Directory>) {
        match self.0.write() {
            Ok(mut d) => *d = directory,
            Err(p) => *p.into_inner() = directory,
        }
    }
}

/// The clock, and on a drill node the same clock to move forward.
#[derive(Clone, Debug)]
pub struct Clocks {
    clock: Arc<dyn Clock>,
    drill: Option<Arc<DrillClock>>,
}

impl Clocks {
    /// The clock `clock`, or `drill` (which wraps it) on a drill node.
    pub fn new(clock: Arc<dyn Clock>, drill: Option<Arc<DrillClock>>) -> Self {
        let clock = match &drill {
            Some(d) => d.clone() as Arc<dyn Clock>,
            None => clock,
        };
        Clocks { clock, drill }
    }
    /// Now.
    pub fn now(&self) -> UtcMs {
        self.clock.now()
    }
    /// The clock itself.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }
    /// The drill clock; `None` on a real node.
    pub fn drill(&self) -> Option<&Arc<DrillClock>> {
        self.drill.as_ref()
    }
}

/// The node's events: numbered and logged durably, then broadcast to the stream, the hook,
/// the metrics and the timer task. An event about a case carries the case's kind and urgency
/// (read from the store once per case, then remembered: neither changes).
#[derive(Clone)]
pub struct Events {
    tx: broadcast::Sender<NodeEvent>,
    log: Arc<EventLog>,
    clocks: Clocks,
    store: Store,
    facts: Arc<std::sync::Mutex<CaseFacts>>,
}

/// Each case's kind and urgency, as events need them; bounded.
type CaseFacts = std::collections::HashMap<CaseRef, (MessageKind, poc247_protocol::Urgency)>;

/// Cases whose kind and urgency are remembered at most; beyond, the memory starts again.
const MAX_CASE_FACTS: usize = 65_536;

impl Events {
    /// Events logged in `log`, dated by `clocks`, about the cases of `store`.
    pub fn new(log: EventLog, clocks: Clocks, store: Store) -> Self {
        let (tx, _) = broadcast::channel(4096);
        Events {
            tx,
            log: Arc::new(log),
            clocks,
            store,
            facts: Default::default(),
        }
    }

    /// Remembers a case's kind and urgency as it is opened, so that its events need no read.
    pub fn know(&self, case_ref: &CaseRef, kind: MessageKind, urgency: poc247_protocol::Urgency) {
        let mut facts = self.facts.lock().unwrap_or_else(|p| p.into_inner());
        if facts.len() >= MAX_CASE_FACTS {
            facts.clear();
        }
        facts.insert(case_ref.clone(), (kind, urgency));
    }

    /// The kind and urgency of `case_ref`'s case, if it is stored.
    fn facts(&self, case_ref: &CaseRef) -> Option<(MessageKind, poc247_protocol::Urgency)> {
        let mut facts = self.facts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = facts.get(case_ref) {
            return Some(*f);
        }
        let case = self.store.case(case_ref).ok().flatten()?;
        if facts.len() >= MAX_CASE_FACTS {
            facts.clear();
        }
        facts.insert(case_ref.clone(), (case.kind, case.urgency));
        Some((case.kind, case.urgency))
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
        let facts = case_ref.as_ref().and_then(|c| self.facts(c));
        self.log.publish(&self.tx, |seq| NodeEvent {
            seq,
            at: self.clocks.now(),
            kind,
            case_ref,
            message_id,
            message_kind,
            peer,
            case_kind: facts.map(|f| f.0),
            urgency: facts.map(|f| f.1),
        });
    }
    /// Follows the events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.tx.subscribe()
    }
    /// Follows the events from now on: the last sequence number given out, and every later
    /// event (a reader resuming from the log reads up to that number, then this).
    pub fn subscribe_at(&self) -> (u64, broadcast::Receiver<NodeEvent>) {
        self.log.subscribe(&self.tx)
    }
    /// The durable log.
    pub fn log(&self) -> &EventLog {
        &self.log
    }
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").finish_non_exhaustive()
    }
}

/// The node's tasks: spawned on a tracker the node waits for at shutdown, and the token that
/// tells them to stop.
#[derive(Clone, Debug, Default)]
pub struct Tasks {
    tracker: TaskTracker,
    cancel: CancellationToken,
}

impl Tasks {
    /// Runs a task the node waits for at shutdown.
    pub fn spawn<F>(&self, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(task);
    }
    /// Fires when the node begins to stop.
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }
    /// Tells every task to stop, and waits for them.
    pub(crate) async fn stop(&self) {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

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

/// The delivery task's inbox: what was queued, what an attempt gave, which peer was seen.
#[derive(Clone, Debug)]
pub struct Outbox(mpsc::Sender<DeliveryCmd>);

impl Outbox {
    /// The handle, and the delivery task's end.
    pub fn new() -> (Self, mpsc::Receiver<DeliveryCmd>) {
        let (tx, rx) = mpsc::channel(4096);
        (Outbox(tx), rx)
    }
    /// Tells the delivery task (waits while it is busy).
    pub async fn send(&self, cmd: DeliveryCmd) {
        let _ = self.0.send(cmd).await;
    }
    /// Tells the delivery task if it has room now.
    pub fn try_send(&self, cmd: DeliveryCmd) {
        let _ = self.0.try_send(cmd);
    }
}

/// The QUIC endpoint, its client configuration and the live connections to peers.
#[derive(Clone, Debug)]
pub struct Net(Arc<NetInner>);

#[derive(Debug)]
struct NetInner {
    endpoint: quinn::Endpoint,
    client_cfg: quinn::ClientConfig,
    conns: Connections,
}

impl Net {
    /// The endpoint, and the client configuration it starts with.
    pub fn new(endpoint: quinn::Endpoint, client_cfg: quinn::ClientConfig) -> Self {
        Net(Arc::new(NetInner {
            endpoint,
            client_cfg,
            conns: Connections::default(),
        }))
    }
    /// The endpoint.
    pub fn endpoint(&self) -> &quinn::Endpoint {
        &self.0.endpoint
    }
    /// The live connections.
    pub fn conns(&self) -> &Connections {
        &self.0.conns
    }
    /// The client configuration the node started with (a reload may renew it: see
    /// [`crate::wire::certs::CertWatch::client_config`]).
    pub fn initial_client_config(&self) -> quinn::ClientConfig {
        self.0.client_cfg.clone()
    }
    /// Serves new connections with a new certificate (a reload checked it first).
    pub(crate) fn set_server_config(&self, config: quinn::ServerConfig) {
        self.0.endpoint.set_server_config(Some(config));
    }
    /// The local UDP address of the endpoint.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.0
            .endpoint
            .local_addr()
            .map_err(|e| NodeError::Transport(e.to_string()))
    }
}

/// Per-peer rate limits of inbound messages.
pub type Limits = Arc<std::sync::Mutex<crate::ratelimit::PeerLimits>>;

/// A request for a connection to a peer, answered with the connection or why there is none.
pub type DialRequest = (PartyId, oneshot::Sender<Result<quinn::Connection>>);

/// Asks the connection task for a connection to a peer: the live one, or a new one (whose
/// streams from the peer are then served too). What sends on its own streams — attachments,
/// directory versions — holds this rather than the code that makes connections.
#[derive(Clone, Debug)]
pub struct Dialer(mpsc::Sender<DialRequest>);

impl Dialer {
    /// The handle, and the connection task's end.
    pub fn new() -> (Self, mpsc::Receiver<DialRequest>) {
        let (tx, rx) = mpsc::channel(256);
        (Dialer(tx), rx)
    }
    /// The connection to `peer`.
    pub async fn connection(&self, peer: &PartyId) -> Result<quinn::Connection> {
        let (tx, rx) = oneshot::channel();
        self.0
            .send((peer.clone(), tx))
            .await
            .map_err(|_| NodeError::ShuttingDown)?;
        rx.await.map_err(|_| NodeError::ShuttingDown)?
    }
}
