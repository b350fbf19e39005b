//! The sled store: messages, cases, outbox and meta trees, every state change one transaction,
//! and the committer that shares one flush among all writers waiting for durability (group
//! commit). Nothing is promised to anyone before [`Store::commit`] returned.

use crate::error::{NodeError, Result};
use crate::lifecycle::{CaseRecord, Role, Transition};
use poc247_protocol::{codec, CaseRef, MessageId, MessageKind, PartyId, SignedReceipt, UtcMs};
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};
use std::path::Path;
use tokio::sync::{mpsc, oneshot};

/// The schema version written in `meta`.
pub const SCHEMA_VERSION: u32 = 1;

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Received from a peer.
    Inbound,
    /// Sent to a peer.
    Outbound,
}

/// Where an outbound message stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for a receipt.
    Queued,
    /// Receipted.
    Delivered,
    /// Refused by the peer for good.
    Failed {
        /// Code and reason.
        reason: String,
    },
    /// Received from a peer (inbound messages).
    Received,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMessage {
    /// Its id.
    pub id: MessageId,
    /// Its case.
    pub case_ref: CaseRef,
    /// Its kind.
    pub kind: MessageKind,
    /// Which way.
    pub direction: Direction,
    /// Sender.
    pub from: PartyId,
    /// Receiver.
    pub to: PartyId,
    /// When the sender created it.
    pub created_at: UtcMs,
    /// When this node stored it.
    pub stored_at: UtcMs,
    /// The encoded signed envelope, exactly as it travelled.
    pub envelope: Vec<u8>,
    /// The receipt: given (inbound) or received (outbound).
    pub receipt: Option<SignedReceipt>,
    /// Delivery state.
    pub delivery: DeliveryState,
}

/// An outbound message waiting for its receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// To whom.
    pub peer: PartyId,
    /// When it was queued.
    pub queued_at: UtcMs,
}

/// What storing an inbound message did.
#[derive(Debug, Clone)]
pub enum Inbound {
    /// Stored now; the receipt given is this one.
    Stored(SignedReceipt),
    /// Already stored: answer with the receipt given the first time.
    Duplicate(SignedReceipt),
}

/// Why an inbound message was not stored.
#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    /// The case reference is already used by another case.
    #[error("case {0} already exists")]
    CaseExists(CaseRef),
    /// A storage failure.
    #[error(transparent)]
    Node(#[from] NodeError),
}

/// The store.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    messages: sled::Tree,
    cases: sled::Tree,
    outbox: sled::Tree,
    meta: sled::Tree,
    committer: mpsc::Sender<oneshot::Sender<Result<(), String>>>,
    failing: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

fn enc<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    Ok(codec::encode(v)?)
}
fn dec<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T> {
    Ok(codec::decode(b)?)
}

/// Turns a sled transaction result into ours.
fn tx<T, E: Into<NodeError>>(r: std::result::Result<T, TransactionError<E>>) -> Result<T> {
    match r {
        Ok(v) => Ok(v),
        Err(TransactionError::Abort(e)) => Err(e.into()),
        Err(TransactionError::Storage(e)) => Err(e.into()),
    }
}

fn abort<E>(e: E) -> ConflictableTransactionError<E> {
    ConflictableTransactionError::Abort(e)
}

impl Store {
    /// Opens (or creates) the store under `dir` and starts its committer task (inside the
    /// current tokio runtime). The task ends, and sled closes, once every clone of the store is
    /// dropped: await the returned handle before the data directory is opened again.
    pub fn open(
        dir: &Path,
        settings: &crate::config::StoreSettings,
    ) -> Result<(Self, tokio::task::JoinHandle<()>)> {
        let cache_capacity = settings.cache_capacity_bytes;
        std::fs::create_dir_all(dir).map_err(|e| NodeError::io(dir, e))?;
        let db = sled::Config::new()
            .path(dir.join("sled"))
            .cache_capacity(cache_capacity)
            .flush_every_ms(None)
            .open()
            .map_err(|e| NodeError::Storage(format!("{}: {e}", dir.display())))?;
        let meta = db.open_tree("meta")?;
        match meta.get("schema")? {
            None => {
                meta.insert("schema", &SCHEMA_VERSION.to_be_bytes())?;
                db.flush()?;
            }
            Some(v) if v.as_ref() == SCHEMA_VERSION.to_be_bytes() => {}
            Some(v) => {
                return Err(NodeError::Storage(format!(
                    "{}: schema version {:?} is not {SCHEMA_VERSION}",
                    dir.display(),
                    v.as_ref()
                )))
            }
        }
        let (committer, rx) = mpsc::channel(4096);
        let handle = tokio::spawn(run_committer(db.clone(), rx, settings.group_commit));
        let store = Store {
            messages: db.open_tree("messages")?,
            cases: db.open_tree("cases")?,
            outbox: db.open_tree("outbox")?,
            meta,
            db,
            committer,
            failing: Default::default(),
        };
        Ok((store, handle))
    }

    /// Makes every write and flush fail (`true`) or work again (`false`), as a full or
    /// read-only disk would: fault tests use it to check that nothing is half-written and
    /// that the node recovers by itself.
    pub fn inject_write_failure(&self, on: bool) {
        self.failing.store(on, std::sync::atomic::Ordering::SeqCst);
    }

    fn writable(&self) -> Result<()> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            Err(NodeError::Storage(
                "the disk refuses writes (injected fault)".into(),
            ))
        } else {
            Ok(())
        }
    }

    /// Waits until everything written before this call is on disk. Concurrent callers share
    /// one flush.
    pub async fn commit(&self) -> Result<()> {
        self.writable()?;
        let (tx, rx) = oneshot::channel();
        self.committer
            .send(tx)
            .await
            .map_err(|_| NodeError::ShuttingDown)?;
        rx.await
            .map_err(|_| NodeError::ShuttingDown)?
            .map_err(NodeError::Storage)
    }

    /// Flushes now, on this thread (shutdown).
    pub fn flush_blocking(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    /// The next case reference for `party` in `year`, from a counter in `meta`.
    pub fn next_case_ref(&self, party: &PartyId, year: u16) -> Result<CaseRef> {
        self.writable()?;
        let key = format!("case_seq/{year}");
        let next = self.meta.update_and_fetch(key.as_bytes(), |old| {
            let n = old
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map_or(0, u64::from_be_bytes);
            Some((n + 1).to_be_bytes().to_vec())
        })?;
        let n = next
            .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
            .map_or(1, u64::from_be_bytes);
        Ok(CaseRef::new(party, year, n))
    }

    /// Stores a new outbound request: its message, its case and its outbox entry, in one
    /// transaction. The caller commits before it says "queued".
    pub fn insert_outbound_request(
        &self,
        msg: &StoredMessage,
        case: &CaseRecord,
        peer: &PartyId,
    ) -> Result<()> {
        self.writable()?;
        let key = *msg.id.as_bytes();
        let m = enc(msg)?;
        let c = enc(case)?;
        let o = enc(&OutboxEntry {
            peer: peer.clone(),
            queued_at: msg.stored_at,
        })?;
        let ck = case.case_ref.as_str().as_bytes().to_vec();
        tx(
            (&self.messages, &self.cases, &self.outbox).transaction(|(mt, ct, ot)| {
                if ct.get(&ck)?.is_some() {
                    return Err(abort(NodeError::Storage(format!(
                        "case {} already exists",
                        case.case_ref
                    ))));
                }
                mt.insert(&key, m.as_slice())?;
                ct.insert(ck.as_slice(), c.as_slice())?;
                ot.insert(&key, o.as_slice())?;
                Ok(())
            }),
        )
    }

    /// Stores an inbound request and the receipt given for it, once: a message already stored
    /// is answered with its stored receipt and nothing changes.
    pub fn insert_inbound_request(
        &self,
        msg: &StoredMessage,
        case: &CaseRecord,
    ) -> std::result::Result<Inbound, InboundError> {
        self.writable()?;
        let key = *msg.id.as_bytes();
        let m = enc(msg)?;
        let c = enc(case)?;
        let ck = case.case_ref.as_str().as_bytes().to_vec();
        let r = (&self.messages, &self.cases).transaction(|(mt, ct)| {
            if let Some(existing) = mt.get(key)? {
                let old: StoredMessage = dec(&existing).map_err(abort)?;
                let receipt = old.receipt.ok_or_else(|| {
                    abort(NodeError::Storage(format!(
                        "message {} has no receipt",
                        old.id
                    )))
                })?;
                return Ok(Err(receipt));
            }
            if ct.get(&ck)?.is_some() {
                return Ok(Ok(false));
            }
            mt.insert(&key, m.as_slice())?;
            ct.insert(ck.as_slice(), c.as_slice())?;
            Ok(Ok(true))
        });
        match tx(r)? {
            Err(receipt) => Ok(Inbound::Duplicate(receipt)),
            Ok(false) => Err(InboundError::CaseExists(case.case_ref.clone())),
            Ok(true) => {
                msg.receipt.clone().map(Inbound::Stored).ok_or_else(|| {
                    NodeError::Storage("inbound message without receipt".into()).into()
                })
            }
        }
    }

    /// Records the outcome of delivering an outbound message: the receipt (or the final
    /// refusal) on the message, the transition on its case, and the outbox entry removed.
    pub fn settle_outbound(
        &self,
        id: MessageId,
        outcome: std::result::Result<SignedReceipt, String>,
        now: UtcMs,
    ) -> Result<CaseRecord> {
        self.writable()?;
        let key = *id.as_bytes();
        tx(
            (&self.messages, &self.cases, &self.outbox).transaction(|(mt, ct, ot)| {
                let raw = mt
                    .get(key)?
                    .ok_or_else(|| abort(NodeError::NotFound(format!("message {id}"))))?;
                let mut msg: StoredMessage = dec(&raw).map_err(abort)?;
                let ck = msg.case_ref.as_str().as_bytes().to_vec();
                let raw_case = ct
                    .get(&ck)?
                    .ok_or_else(|| abort(NodeError::NotFound(format!("case {}", msg.case_ref))))?;
                let mut case: CaseRecord = dec(&raw_case).map_err(abort)?;
                let transition = match &outcome {
                    Ok(receipt) => {
                        msg.receipt = Some(receipt.clone());
                        msg.delivery = DeliveryState::Delivered;
                        Transition::Receipted { id }
                    }
                    Err(reason) => {
                        msg.delivery = DeliveryState::Failed {
                            reason: reason.clone(),
                        };
                        Transition::Refused {
                            id,
                            reason: reason.clone(),
                        }
                    }
                };
                case.apply(&transition, now)
                    .map_err(|e| abort(NodeError::Storage(e.to_string())))?;
                mt.insert(&key, enc(&msg).map_err(abort)?)?;
                ct.insert(ck, enc(&case).map_err(abort)?)?;
                ot.remove(&key)?;
                Ok(case)
            }),
        )
    }

    /// Removes an outbound request whose flush failed, so that nothing the caller was told
    /// failed is sent later.
    pub fn remove_outbound_request(&self, id: MessageId, case_ref: &CaseRef) -> Result<()> {
        let key = *id.as_bytes();
        let ck = case_ref.as_str().as_bytes().to_vec();
        tx::<_, NodeError>((&self.messages, &self.cases, &self.outbox).transaction(
            |(mt, ct, ot)| {
                mt.remove(&key)?;
                ct.remove(ck.as_slice())?;
                ot.remove(&key)?;
                Ok(())
            },
        ))
    }

    /// A stored message.
    pub fn message(&self, id: MessageId) -> Result<Option<StoredMessage>> {
        self.messages
            .get(id.as_bytes())?
            .map(|b| dec(&b))
            .transpose()
    }

    /// A case.
    pub fn case(&self, case_ref: &CaseRef) -> Result<Option<CaseRecord>> {
        self.cases
            .get(case_ref.as_str().as_bytes())?
            .map(|b| dec(&b))
            .transpose()
    }

    /// Every case, in reference order.
    pub fn cases(&self) -> Result<Vec<CaseRecord>> {
        self.cases.iter().values().map(|v| dec(&v?)).collect()
    }

    /// Every outbox entry: what still waits for a receipt.
    pub fn outbox(&self) -> Result<Vec<(MessageId, OutboxEntry)>> {
        let mut out = Vec::new();
        for kv in self.outbox.iter() {
            let (k, v) = kv?;
            let key = <[u8; 16]>::try_from(k.as_ref())
                .map_err(|_| NodeError::Storage("outbox key is not a message id".into()))?;
            let id = MessageId::from_bytes(key)
                .map_err(|e| NodeError::Storage(format!("outbox key: {e}")))?;
            out.push((id, dec(&v)?));
        }
        Ok(out)
    }

    /// How many messages are stored.
    pub fn message_count(&self) -> usize {
        self.messages.len()
    }

    /// Cases where this node plays `role`.
    pub fn cases_with_role(&self, role: Role) -> Result<Vec<CaseRecord>> {
        Ok(self
            .cases()?
            .into_iter()
            .filter(|c| c.role == role)
            .collect())
    }
}

/// The committer: waits for a first writer, gathers every writer already waiting, flushes
/// once, and releases them all.
async fn run_committer(
    db: sled::Db,
    mut rx: mpsc::Receiver<oneshot::Sender<Result<(), String>>>,
    group: bool,
) {
    while let Some(first) = rx.recv().await {
        let mut waiters = vec![first];
        if group {
            while let Ok(w) = rx.try_recv() {
                waiters.push(w);
            }
        }
        let db2 = db.clone();
        let r = match tokio::task::spawn_blocking(move || db2.flush()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(format!("flush task failed: {e}")),
        };
        for w in waiters {
            let _ = w.send(r.clone());
        }
    }
}
