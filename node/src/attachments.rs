//! Evidence attachments on the node: content-addressed files under `<data_dir>/attachments/`
//! (never inside sled values), their sled records (`attachments`, `attachment_outbox`,
//! `attachment_receipts`), the intake of local files, and both ends of an attachment stream
//! (see `poc247_protocol::attachment` for the tr exchange).
//!
//! The receiver appends to `<sha256>.<message id>.part` (one per message, so a peer resumes
//! only from its own bytes), has the disk write it every [`FSYNC_EVERY`] bytes and fsyncs it
//! at the end; a resumed transfer starts at the length of that file. Only a file whose SHA-256
//! matches is renamed to `<sha256>` and receipted, and only for the bytes this peer sent for
//! this message: a file the node holds already from elsewhere is sent again in full.
//!
//! File I/O and hashing run on one blocking thread per transfer, fed (or feeding) over a
//! bounded channel of [`BLOCK`]-sized blocks, so that the async tasks only move bytes between
//! QUIC and the channel: at most [`IN_FLIGHT`] blocks wait between the two, which bounds the
//! memory of a transfer. The receiver drops what it made durable from the page cache.

use crate::audit::{Actor, AuditRecord};
use crate::error::{NodeError, Result};
use crate::events::EventKind;
use crate::handles::{Dialer, Limits, Net, Tasks};
use crate::outgoing::Cases;
use crate::store::Store;
use crate::store::{DeliveryState, Direction};
use crate::transport::{self, FrameError};
use poc247_protocol::{
    codec, fingerprint, parse_sha256_hex, sha256_hex, AttachmentHello, AttachmentRef,
    AttachmentReply, Body, CaseRef, Envelope, MessageId, PartyId, Receipt, Rejection,
    RejectionCode, Reply, SignedEnvelope, SignedReceipt, UtcMs, ATTACHMENT_MAGIC,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Bytes read or written at once by the intake and the fetch endpoint.
pub const CHUNK: usize = 64 * 1024;
/// Bytes of a transfer passed at once between its blocking thread and its stream.
pub const BLOCK: usize = 256 << 10;
/// Blocks queued at most between the blocking thread of a transfer and its stream.
pub const IN_FLIGHT: usize = 16;
/// The receiver has the disk write its `.part` file every this many bytes.
pub const FSYNC_EVERY: u64 = 8 << 20;

/// What the node knows of one attachment file it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRecord {
    /// Size in bytes.
    pub size: u64,
    /// When the file was first stored here.
    pub stored_at: UtcMs,
    /// The messages that list it.
    pub message_ids: Vec<MessageId>,
}

/// An attachment still to send: the message listing it has to be delivered first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundAttachment {
    /// To whom.
    pub peer: PartyId,
    /// Its size.
    pub size: u64,
    /// Attempts made.
    pub attempts: u32,
    /// Not before.
    pub next_attempt: UtcMs,
}

/// The attachment files and trees of a node.
#[derive(Debug, Clone)]
pub struct Attachments {
    dir: PathBuf,
    records: sled::Tree,
    outbox: sled::Tree,
    receipts: sled::Tree,
    /// Attachment bytes written to peers' streams since the node started (for tests and the
    /// resume check: after a restart only the remainder should be sent).
    pub bytes_sent: Arc<AtomicU64>,
    kick: Arc<tokio::sync::Notify>,
    busy: Arc<std::sync::Mutex<std::collections::HashSet<[u8; 32]>>>,
    /// Purged attachments: (message id, sha256) → when (`attachment_purges`).
    purges: sled::Tree,
    /// Local copies made for submissions not yet linked to their messages, by hash.
    intakes: Arc<std::sync::Mutex<std::collections::HashMap<[u8; 32], usize>>>,
    /// Files uploaded through the control API and not yet listed by a submission, by hash.
    uploads: Arc<std::sync::Mutex<std::collections::HashMap<[u8; 32], Upload>>>,
}

/// How long an upload waits for the submission that lists it before it is deleted. A restart
/// deletes the uploads not listed yet too (the sweep at start).
pub const UPLOAD_KEEP_MS: u64 = 60 * 60 * 1000;

/// A file uploaded and not yet listed by a submission: each upload of the same bytes holds the
/// file once (in `intakes`), until a submission takes it over or it expires.
#[derive(Debug, Clone)]
struct Upload {
    size: u64,
    name: String,
    /// When the last upload of these bytes ended.
    at: UtcMs,
    holds: usize,
}

/// One inbound transfer of a file at a time: two streams never append to the same `.part`.
struct Busy {
    set: Arc<std::sync::Mutex<std::collections::HashSet<[u8; 32]>>>,
    sha: [u8; 32],
}

impl Busy {
    fn take(a: &Attachments, sha: [u8; 32]) -> Option<Busy> {
        let mut set = a.busy.lock().unwrap_or_else(|p| p.into_inner());
        set.insert(sha).then(|| Busy {
            set: a.busy.clone(),
            sha,
        })
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let mut set = self.set.lock().unwrap_or_else(|p| p.into_inner());
        set.remove(&self.sha);
    }
}

fn key(id: MessageId, sha: &[u8; 32]) -> Vec<u8> {
    let mut k = id.as_bytes().to_vec();
    k.extend_from_slice(sha);
    k
}

impl Attachments {
    /// Opens the folder and the trees.
    pub fn open(data_dir: &Path, store: &crate::store::Store) -> Result<Self> {
        let dir = data_dir.join("attachments");
        crate::durable::create_dir_all(&dir).map_err(|e| NodeError::io(&dir, e))?;
        let a = Attachments {
            dir,
            records: store.open_tree("attachments")?,
            outbox: store.open_tree("attachment_outbox")?,
            receipts: store.open_tree("attachment_receipts")?,
            bytes_sent: Arc::new(AtomicU64::new(0)),
            kick: Arc::new(tokio::sync::Notify::new()),
            busy: Arc::default(),
            purges: store.open_tree("attachment_purges")?,
            intakes: Arc::default(),
            uploads: Arc::default(),
        };
        a.sweep(store)?;
        Ok(a)
    }

    /// Where the complete file of `sha` lives.
    pub fn path(&self, sha: &[u8; 32]) -> PathBuf {
        self.dir.join(sha256_hex(sha))
    }

    /// The `.part` file of a transfer of `sha` for message `id`: one per message, so that a
    /// peer resumes only from bytes it sent itself, never from another peer's.
    fn part_path(&self, sha: &[u8; 32], id: MessageId) -> PathBuf {
        self.dir.join(format!("{}.{id}.part", sha256_hex(sha)))
    }

    /// Every `.part` file of `sha`, whatever its message.
    fn parts_of(&self, sha: &[u8; 32]) -> Vec<PathBuf> {
        let prefix = format!("{}.", sha256_hex(sha));
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".part"))
            })
            .map(|e| e.path())
            .collect()
    }

    /// The record of `sha`, if this node holds the file.
    pub fn record(&self, sha: &[u8; 32]) -> Result<Option<AttachmentRecord>> {
        match self.records.get(sha)? {
            Some(v) => Ok(Some(codec::decode(&v)?)),
            None => Ok(None),
        }
    }

    /// Records that `id` lists the file `sha` (held here); `false` if it was recorded already.
    fn link(&self, sha: &[u8; 32], size: u64, id: MessageId, now: UtcMs) -> Result<bool> {
        let mut rec = self.record(sha)?.unwrap_or(AttachmentRecord {
            size,
            stored_at: now,
            message_ids: Vec::new(),
        });
        let new = !rec.message_ids.contains(&id);
        if new {
            rec.message_ids.push(id);
        }
        self.records.insert(sha, codec::encode(&rec)?)?;
        Ok(new)
    }

    /// The receipt the peer gave for attachment `sha` of message `id`.
    pub fn receipt(&self, id: MessageId, sha: &[u8; 32]) -> Result<Option<SignedReceipt>> {
        match self.receipts.get(key(id, sha))? {
            Some(v) => Ok(Some(codec::decode(&v)?)),
            None => Ok(None),
        }
    }

    /// Attachments still to send (an entry of a purged attachment, put back by an attempt
    /// that was under way during the purge, is dropped here).
    pub fn pending(&self) -> Result<Vec<(MessageId, [u8; 32], OutboundAttachment)>> {
        let mut out = Vec::new();
        for kv in self.outbox.iter() {
            let (k, v) = kv?;
            let (Some(id), Some(sha)) = (
                k.get(..16)
                    .and_then(|b| <[u8; 16]>::try_from(b).ok())
                    .and_then(|b| MessageId::from_bytes(b).ok()),
                k.get(16..).and_then(|b| <[u8; 32]>::try_from(b).ok()),
            ) else {
                continue;
            };
            if self.purges.contains_key(&k)? {
                self.outbox.remove(&k)?;
                continue;
            }
            out.push((id, sha, codec::decode(&v)?));
        }
        Ok(out)
    }

    /// Where each file message `m` lists stands here, for a person: `delivered` (the peer's
    /// receipt is held), `sending`, `waiting` (for the message to go first), `refused` (the
    /// peer refused it for good) for a file sent; `received` or `receiving` for a file
    /// received; `stored` for a file of a recorded message; `purged`. In the order listed.
    pub fn transfers(&self, m: &crate::store::StoredMessage) -> Vec<serde_json::Value> {
        let listed = body_of(&m.envelope)
            .map(|b| listed(&b).to_vec())
            .unwrap_or_default();
        listed
            .iter()
            .filter_map(|f| {
                let sha = poc247_protocol::parse_sha256_hex(&f.sha256)?;
                let held = || {
                    self.record(&sha)
                        .ok()
                        .flatten()
                        .is_some_and(|r| r.message_ids.contains(&m.id))
                };
                let state = if self.purged_at(m.id, &sha).ok().flatten().is_some() {
                    "purged"
                } else if m.direction == Direction::Inbound {
                    if held() {
                        "received"
                    } else {
                        "receiving"
                    }
                } else if m.delivery == DeliveryState::Local {
                    "stored"
                } else if self.receipt(m.id, &sha).ok().flatten().is_some() {
                    "delivered"
                } else if self.outbox.contains_key(key(m.id, &sha)).unwrap_or(false) {
                    "sending"
                } else if m.delivery == DeliveryState::Queued {
                    "waiting"
                } else {
                    "refused"
                };
                Some(serde_json::json!({ "sha256": f.sha256, "state": state }))
            })
            .collect()
    }

    /// Wakes the sending task.
    pub fn kick(&self) {
        self.kick.notify_one();
    }
}

/// A file of a submission: an upload taken over (its reference known), or a path on this host
/// to copy in, with the SHA-256 the caller computed, if it sent one.
#[derive(Debug)]
pub enum Item {
    /// An upload, held for the submission.
    Held(AttachmentRef),
    /// A local file, opened ([`LocalFiles::open`]) but not read yet.
    Local(LocalFile),
}

/// A local file a caller named by path, opened after [`LocalFiles`] allowed it.
#[derive(Debug)]
pub struct LocalFile {
    /// The open file: what is read is what was checked, whatever the path names since.
    pub file: std::fs::File,
    /// The path as the caller gave it (for messages and the name it is listed under).
    pub path: PathBuf,
    /// Its size when opened.
    pub size: u64,
    /// Its SHA-256 as the caller computed it, if sent.
    pub sha256: Option<[u8; 32]>,
}

/// Where a local caller may have the node read a file by its path: only under the folders
/// of `[attachments] read_from`, and never under the node's data folder, the folders of its
/// keys, or the kernel's `/proc`, `/sys` and `/dev`, symbolic links resolved. The check is
/// made on the file once opened (its real path, as the kernel names the open descriptor), so
/// a link swapped in after the check reads nothing it should not.
#[derive(Debug, Clone)]
pub struct LocalFiles {
    read_from: Vec<PathBuf>,
    never: Vec<PathBuf>,
}

impl LocalFiles {
    /// The rules of `cfg`.
    pub fn new(cfg: &crate::NodeConfig) -> LocalFiles {
        let mut never = vec![
            cfg.data_dir.clone(),
            PathBuf::from("/proc"),
            PathBuf::from("/sys"),
            PathBuf::from("/dev"),
        ];
        for key in [&cfg.signing_key, &cfg.tls_key] {
            if let Some(dir) = key.parent() {
                never.push(dir.to_path_buf());
            }
        }
        LocalFiles {
            read_from: cfg.attachments.read_from.clone(),
            never,
        }
    }

    /// Opens `path` for reading if it may be attached, else says why not ([`IntakeError::Io`],
    /// a 422 naming the path). A path outside every `read_from` folder is refused before it
    /// is touched, so nothing tells whether it exists. Blocking.
    pub fn open(
        &self,
        path: &Path,
        sha256: Option<[u8; 32]>,
    ) -> std::result::Result<LocalFile, IntakeError> {
        let refuse = |why: String| IntakeError::Io(format!("{}: {why}", path.display()));
        if self.read_from.is_empty() {
            return Err(refuse(
                "this node reads no file by its path: attach it as an upload \
                 (POST /v1/uploads, what --attach does), or name its folder in \
                 [attachments] read_from"
                    .into(),
            ));
        }
        let allowed = |p: &Path| self.read_from.iter().any(|d| within(p, d));
        if !path.is_absolute() || !allowed(path) {
            return Err(refuse(format!(
                "not in a folder this node reads files from ([attachments] read_from: {})",
                self.listed()
            )));
        }
        // Non-blocking, so that a FIFO put there opens at once (and is refused below as not a
        // regular file) instead of holding a thread until someone writes to it; reads of a
        // regular file are not changed by it.
        let file = {
            use std::os::unix::fs::OpenOptionsExt as _;
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(path)
                .map_err(|e| refuse(e.to_string()))?
        };
        let real = real_path(&file, path).map_err(|e| refuse(e.to_string()))?;
        if self.never.iter().any(|d| within(&real, d)) {
            return Err(refuse(format!(
                "{} lies in this node's own data or key folders (or the kernel's): never \
                 attached",
                real.display()
            )));
        }
        if !allowed(&real) {
            return Err(refuse(format!(
                "it resolves to {}, outside the folders this node reads files from",
                real.display()
            )));
        }
        let meta = file.metadata().map_err(|e| refuse(e.to_string()))?;
        if !meta.is_file() {
            return Err(refuse("not a regular file".into()));
        }
        Ok(LocalFile {
            file,
            path: path.to_path_buf(),
            size: meta.len(),
            sha256,
        })
    }

    fn listed(&self) -> String {
        if self.read_from.is_empty() {
            return "none".into();
        }
        let v: Vec<String> = self
            .read_from
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        v.join(", ")
    }
}

/// Whether `path` is `dir` or below it, `dir` with its links resolved too.
fn within(path: &Path, dir: &Path) -> bool {
    if path.starts_with(dir) {
        return true;
    }
    std::fs::canonicalize(dir).is_ok_and(|d| path.starts_with(d))
}

/// The path the kernel gives the open `file` (its links resolved), or its canonical path where
/// `/proc` cannot tell.
fn real_path(file: &std::fs::File, path: &Path) -> std::io::Result<PathBuf> {
    use std::os::fd::AsRawFd as _;
    match std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())) {
        Ok(p) => Ok(p),
        Err(_) => std::fs::canonicalize(path),
    }
}

/// Why a local file cannot be attached.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// Over a configured limit.
    #[error("{0}")]
    Limit(String),
    /// Not readable, or the copy failed.
    #[error("{0}")]
    Io(String),
    /// This node's disk refused the copy (full, read-only): a 507, to try again later.
    #[error("{0}")]
    Disk(String),
}

/// The attachments listed by a body.
pub fn listed(body: &Body) -> &[AttachmentRef] {
    body.attachments()
}

/// The attachments of a body, to fill in (`None` for a kind that carries none).
pub fn listed_mut(body: &mut Body) -> Option<&mut Vec<AttachmentRef>> {
    body.attachments_mut()
}

/// Checks the sizes of a submission's files against the limits, given `already` bytes
/// attached in the case: the first file over a limit is named. Nothing is read or copied.
pub fn check_limits(
    items: &[Item],
    already: u64,
    limits: &crate::config::AttachmentSettings,
) -> std::result::Result<(), IntakeError> {
    let mut total = already;
    for item in items {
        let (label, size) = match item {
            Item::Held(r) => (r.name.clone(), r.size),
            Item::Local(f) => {
                if f.size == 0 {
                    return Err(IntakeError::Io(format!("{}: empty file", f.path.display())));
                }
                (f.path.display().to_string(), f.size)
            }
        };
        if size > limits.max_file_bytes {
            return Err(IntakeError::Limit(format!(
                "{label}: {size} bytes is over the limit of {} bytes per file",
                limits.max_file_bytes
            )));
        }
        total = total.saturating_add(size);
        if total > limits.max_case_bytes {
            return Err(IntakeError::Limit(format!(
                "{label}: the case's attachments would total {total} bytes, over the limit of {} \
                 bytes per case",
                limits.max_case_bytes
            )));
        }
    }
    Ok(())
}

/// Copies a local file into `dir` under a temporary name while hashing it (bounded memory):
/// the temporary file, the SHA-256 and the size. A file that cannot be read is the caller's
/// problem ([`IntakeError::Io`], a 422); a copy this node cannot write is its disk's
/// ([`IntakeError::Disk`], a 507). Blocking.
fn copy_hashed(
    dir: &Path,
    mut src: std::fs::File,
    file: &Path,
) -> std::result::Result<(PathBuf, [u8; 32], u64), IntakeError> {
    use std::io::{Read, Write};
    let unreadable = |e: std::io::Error| IntakeError::Io(format!("{}: {e}", file.display()));
    let tmp = dir.join(format!("{INTAKE_PREFIX}{:016x}.tmp", rand::random::<u64>()));
    let unwritable = |e: std::io::Error| {
        IntakeError::Disk(format!(
            "{}: cannot copy into {}: {e}",
            file.display(),
            dir.display()
        ))
    };
    let result = (|| {
        let mut dst = std::fs::File::create(&tmp).map_err(unwritable)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; CHUNK];
        let mut size = 0u64;
        loop {
            let n = src.read(&mut buf).map_err(unreadable)?;
            if n == 0 {
                break;
            }
            let chunk = buf.get(..n).unwrap_or_default();
            hasher.update(chunk);
            dst.write_all(chunk).map_err(unwritable)?;
            size += n as u64;
        }
        dst.sync_all().map_err(unwritable)?;
        Ok((hasher.finalize().into(), size))
    })();
    match result {
        Ok((sha, size)) => Ok((tmp, sha, size)),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// The total size of the attachments of the messages of a case.
pub fn case_bytes(store: &Store, case: &crate::lifecycle::CaseRecord) -> Result<u64> {
    let mut total = 0u64;
    for id in &case.messages {
        if let Some(m) = store.message(*id)? {
            if let Some(body) = body_of(&m.envelope) {
                total = listed(&body)
                    .iter()
                    .fold(total, |t, a| t.saturating_add(a.size));
            }
        }
    }
    Ok(total)
}

/// The body of a stored envelope (its signature was checked when it was stored).
pub fn body_of(envelope: &[u8]) -> Option<Body> {
    let signed = SignedEnvelope::from_bytes(envelope).ok()?;
    codec::decode::<Envelope>(&signed.payload)
        .ok()
        .map(|e| e.body)
}

/// What the attachments' transfers use: the cases (to read messages and publish), the files,
/// the tasks, the connections (to reset a stalled one), the inbound rate limits and a way to
/// reach a peer.
#[derive(Clone, Debug)]
pub struct Transfers {
    pub(crate) cases: Cases,
    pub(crate) attachments: Attachments,
    pub(crate) tasks: Tasks,
    pub(crate) net: Net,
    pub(crate) limits: Limits,
    pub(crate) dialer: Dialer,
}

/// Before an outbound message with attachments is first sent, its attachments are queued (so
/// that they are queued before the message can be receipted).
pub fn queue_outbound(
    a: &Attachments,
    now: UtcMs,
    id: MessageId,
    peer: &PartyId,
    envelope: &[u8],
) -> Result<bool> {
    let Some(body) = body_of(envelope) else {
        return Ok(false);
    };
    let mut added = false;
    for r in listed(&body) {
        let Some(sha) = parse_sha256_hex(&r.sha256) else {
            continue;
        };
        let k = key(id, &sha);
        if a.outbox.contains_key(&k)?
            || a.receipts.contains_key(&k)?
            || a.purges.contains_key(&k)?
        {
            continue;
        }
        a.link(&sha, r.size, id, now)?;
        let entry = OutboundAttachment {
            peer: peer.clone(),
            size: r.size,
            attempts: 0,
            next_attempt: now,
        };
        a.outbox.insert(k, codec::encode(&entry)?)?;
        added = true;
    }
    Ok(added)
}

/// The sending task: sends each queued attachment whose message is delivered, one stream each,
/// retried with a backoff, resumed from the receiver's offset.
pub async fn run_sender(tr: Transfers) {
    let in_flight = Arc::new(std::sync::Mutex::new(
        std::collections::HashSet::<Vec<u8>>::new(),
    ));
    let cancel = tr.tasks.cancel_token();
    loop {
        // Uploads no submission listed within their hour go too.
        tr.attachments.expire_uploads(tr.cases.clocks.now());
        match tr.attachments.pending() {
            Ok(pending) => {
                let now = tr.cases.clocks.now();
                for (id, sha, entry) in pending {
                    if entry.next_attempt > now {
                        continue;
                    }
                    let k = key(id, &sha);
                    let fresh = in_flight
                        .lock()
                        .map(|mut s| s.insert(k.clone()))
                        .unwrap_or(false);
                    if !fresh {
                        continue;
                    }
                    let s = tr.clone();
                    let flights = in_flight.clone();
                    tr.tasks.spawn(async move {
                        settle(&s, id, sha, entry).await;
                        if let Ok(mut f) = flights.lock() {
                            f.remove(&k);
                        }
                        s.attachments.kick();
                    });
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read the attachment outbox"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tr.attachments.kick.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

/// How far one attempt got: where it resumed, and the bytes it wrote to the stream.
#[derive(Debug, Default)]
struct Progress {
    offset: Option<u64>,
    sent: u64,
}

/// How one attempt ended.
enum Sent {
    /// A verified receipt, and the fingerprint of the key that signed it.
    Receipt(SignedReceipt, String),
    Retry(String),
    Final(String),
    NotYet,
}

async fn settle(tr: &Transfers, id: MessageId, sha: [u8; 32], mut entry: OutboundAttachment) {
    let a = &tr.attachments;
    let k = key(id, &sha);
    let hex = sha256_hex(&sha);
    let cancel = tr.tasks.cancel_token();
    let mut progress = Progress::default();
    let outcome = tokio::select! {
        _ = cancel.cancelled() => Sent::Retry("node stopping".into()),
        o = send_one(tr, id, sha, &entry, &mut progress) => o,
    };
    if let Some(offset) = progress.offset {
        // One line per attempt that reached the bytes (the crash tests read it): where it
        // resumed and how many bytes it wrote to the stream.
        let result = match &outcome {
            Sent::Receipt(..) => "receipt",
            Sent::Final(_) => "refused",
            Sent::Retry(_) | Sent::NotYet => "retry",
        };
        tracing::info!(id = %id, sha256 = %hex, to = %entry.peer, offset, sent = progress.sent, result, "attachment attempt ended");
    }
    let now = tr.cases.clocks.now();
    let (done, event) = match outcome {
        Sent::NotYet => return,
        Sent::Receipt(r, receiver_key) => {
            let stored = codec::encode(&r)
                .map_err(NodeError::from)
                .and_then(|bytes| {
                    a.receipts.insert(&k, bytes)?;
                    a.outbox.remove(&k)?;
                    Ok(())
                });
            if let Err(e) = stored {
                tracing::error!(error = %e, "cannot store an attachment receipt");
                return;
            }
            tracing::info!(id = %id, sha256 = %hex, to = %entry.peer, "attachment delivered, receipt verified");
            let event = EventKind::AttachmentDelivered {
                sha256: hex.clone(),
                size: entry.size,
                receiver_key,
            };
            ("attachment_delivered", event)
        }
        Sent::Final(reason) => {
            tracing::warn!(id = %id, sha256 = %hex, to = %entry.peer, reason, "peer refused the attachment");
            if a.outbox.remove(&k).is_err() {
                return;
            }
            let event = EventKind::AttachmentFailed {
                sha256: hex.clone(),
                size: entry.size,
                reason,
            };
            ("attachment_failed", event)
        }
        Sent::Retry(reason) => {
            tracing::debug!(id = %id, sha256 = %hex, reason, "attachment will be retried");
            entry.attempts = entry.attempts.saturating_add(1);
            let backoff = tr
                .cases
                .me
                .cfg()
                .delivery
                .initial_backoff_ms
                .saturating_mul(1u64 << entry.attempts.min(16))
                .min(tr.cases.me.cfg().delivery.max_backoff_ms);
            entry.next_attempt = UtcMs(now.0.saturating_add(backoff));
            if let Ok(bytes) = codec::encode(&entry) {
                let _ = a.outbox.insert(&k, bytes);
            }
            return;
        }
    };
    let msg = tr.cases.store.message(id).ok().flatten();
    let case_ref = msg.as_ref().map(|m| m.case_ref.clone());
    let rec = AuditRecord {
        at: now,
        actor: Actor::Peer(entry.peer.clone()),
        event: format!("{done}:{hex}"),
        case_ref: case_ref.clone(),
        message_id: Some(id),
    };
    if let Err(e) = tr.cases.store.audit(&rec) {
        tracing::error!(error = %e, "cannot audit an attachment");
    }
    match tr.cases.store.commit().await {
        Ok(()) => tr.cases.events.publish(
            event,
            case_ref,
            Some(id),
            msg.map(|m| m.kind),
            Some(entry.peer.clone()),
        ),
        Err(e) => tracing::error!(error = %e, "cannot flush an attachment's outcome"),
    }
}

async fn send_one(
    tr: &Transfers,
    id: MessageId,
    sha: [u8; 32],
    entry: &OutboundAttachment,
    progress: &mut Progress,
) -> Sent {
    let msg = match tr.cases.store.message(id) {
        Ok(Some(m)) => m,
        Ok(None) => return Sent::Final("message no longer stored".into()),
        Err(e) => return Sent::Retry(e.to_string()),
    };
    match msg.delivery {
        DeliveryState::Delivered => {}
        DeliveryState::Queued => return Sent::NotYet,
        _ => return Sent::Final("its message was not delivered".into()),
    }
    let conn = match tr.dialer.connection(&entry.peer).await {
        Ok(c) => c,
        Err(e) => return Sent::Retry(e.to_string()),
    };
    let stream = |e: FrameError| Sent::Retry(e.to_string());
    let (mut send, mut recv) = match conn.open_bi().await {
        Ok(s) => s,
        Err(e) => return Sent::Retry(e.to_string()),
    };
    let hello = AttachmentHello {
        message_id: id,
        sha256: sha,
        size: entry.size,
    };
    let Ok(hello) = hello.to_bytes() else {
        return Sent::Final("cannot encode the hello".into());
    };
    if let Err(e) = send.write_all(&ATTACHMENT_MAGIC).await {
        return Sent::Retry(e.to_string());
    }
    if let Err(e) = transport::write_frame_open(&mut send, &hello).await {
        return stream(e);
    }
    let max = tr.cases.me.cfg().limits.max_frame_bytes;
    let answer = match transport::read_frame(&mut recv, max).await {
        Ok(b) => b,
        Err(e) => return stream(e),
    };
    let offset = match AttachmentReply::from_bytes(&answer) {
        Ok(AttachmentReply::Resume { offset }) if offset <= entry.size => offset,
        Ok(AttachmentReply::Resume { offset }) => {
            return Sent::Retry(format!("resume offset {offset} beyond the file"))
        }
        Ok(AttachmentReply::Rejection(r)) if r.code.is_retryable() => {
            return Sent::Retry(r.to_string())
        }
        Ok(AttachmentReply::Rejection(r)) => return Sent::Final(r.to_string()),
        Err(e) => return Sent::Retry(format!("answer: {e}")),
    };
    tracing::info!(id = %id, sha256 = %sha256_hex(&sha), offset, size = entry.size, "sending attachment");
    progress.offset = Some(offset);
    let (tx, mut blocks) = mpsc::channel(IN_FLIGHT);
    let path = tr.attachments.path(&sha);
    let len = entry.size - offset;
    tokio::task::spawn_blocking(move || read_blocks(&path, offset, len, &tx));
    // A stream that takes no block for this long is given up (the peer vanished without
    // closing the connection, or stopped reading); the next attempt resumes.
    let stall = Duration::from_millis(tr.cases.me.cfg().delivery.attempt_timeout_ms);
    while let Some(block) = blocks.recv().await {
        let block = match block {
            Ok(b) => b,
            Err(outcome) => return outcome,
        };
        let n = block.len() as u64;
        match tokio::time::timeout(stall, send.write_chunk(block)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Sent::Retry(e.to_string()),
            Err(_) => {
                tr.net.conns().reset(&entry.peer);
                return Sent::Retry(format!("the stream took no data for {stall:?}"));
            }
        }
        progress.sent += n;
        tr.attachments.bytes_sent.fetch_add(n, Ordering::Relaxed);
    }
    if progress.sent != len {
        return Sent::Retry("the file reader stopped early".into());
    }
    if let Err(e) = send.finish() {
        return Sent::Retry(e.to_string());
    }
    // The receiver hashes as it writes; its answer follows its last fsync and flush.
    let reply =
        match tokio::time::timeout(Duration::from_secs(120), read_reply(&mut recv, max)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return stream(e),
            Err(_) => return Sent::Retry("no answer after the last byte".into()),
        };
    match reply {
        Reply::Receipt(r) => {
            let directory = tr.cases.directory();
            let Some(peer) = directory.get(&entry.peer) else {
                return Sent::Retry(format!("{} left the directory", entry.peer));
            };
            match r.verify(&entry.peer, &peer.signing_key, id, &sha) {
                Ok(()) => Sent::Receipt(r, fingerprint(&peer.signing_key)),
                Err(e) => Sent::Retry(e.to_string()),
            }
        }
        Reply::Rejection(r) if r.code.is_retryable() => Sent::Retry(r.to_string()),
        Reply::Rejection(r) => Sent::Final(r.to_string()),
    }
}

async fn read_reply(
    recv: &mut quinn::RecvStream,
    max: u32,
) -> std::result::Result<Reply, FrameError> {
    let bytes = transport::read_frame(recv, max).await?;
    Reply::from_bytes(&bytes).map_err(|e| FrameError::Stream(format!("reply: {e}")))
}

/// The blocking end of an outbound transfer: reads `len` bytes of `path` from `offset` in
/// blocks into `tx`; a failure is sent as the attempt's outcome. Stops when `tx` is closed.
fn read_blocks(
    path: &Path,
    offset: u64,
    len: u64,
    tx: &mpsc::Sender<std::result::Result<bytes::Bytes, Sent>>,
) {
    use std::io::{Read, Seek};
    let fail = |outcome: Sent| {
        let _ = tx.blocking_send(Err(outcome));
    };
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return fail(Sent::Final(format!("{}: {e}", path.display()))),
    };
    if let Err(e) = file.seek(std::io::SeekFrom::Start(offset)) {
        return fail(Sent::Retry(e.to_string()));
    }
    let mut left = len;
    while left > 0 {
        let want = left.min(BLOCK as u64);
        // Read into capacity: a block about to be overwritten is not zeroed first.
        let mut block = Vec::with_capacity(BLOCK);
        match (&mut file).take(want).read_to_end(&mut block) {
            Ok(n) if n as u64 == want => {}
            Ok(_) => return fail(Sent::Final("local copy is shorter than recorded".into())),
            Err(e) => return fail(Sent::Retry(e.to_string())),
        }
        left -= want;
        if tx.blocking_send(Ok(bytes::Bytes::from(block))).is_err() {
            return;
        }
    }
}

fn refuse(code: RejectionCode, reason: impl Into<String>) -> Rejection {
    Rejection::new(code, reason)
}

/// Serves an attachment stream `peer` opened (its magic already read).
pub async fn serve_inbound(
    tr: &Transfers,
    peer: &PartyId,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) {
    let answer = match receive(tr, peer, &mut send, &mut recv).await {
        Ok(Some(reply)) => reply,
        Ok(None) => return,
        Err(r) => {
            tracing::warn!(peer = %peer, code = %r.code, reason = %r.reason, "refused an attachment");
            let _ = recv.stop(0u32.into());
            Reply::Rejection(r)
        }
    };
    match answer.to_bytes() {
        Ok(bytes) => {
            let _ = transport::write_frame(&mut send, &bytes).await;
        }
        Err(e) => tracing::error!(error = %e, "cannot encode a reply"),
    }
}

/// The hello checks, the resume answer, the bytes, the hash, the rename, the record, the
/// receipt. `Err` is a rejection to answer (before or after the bytes); `Ok(None)` means the
/// stream ended early (the `.part` file keeps what came).
async fn receive(
    tr: &Transfers,
    peer: &PartyId,
    send: &mut quinn::SendStream,
    recv: &mut quinn::RecvStream,
) -> std::result::Result<Option<Reply>, Rejection> {
    use RejectionCode::*;
    if tr.cases.store.has_failed() {
        return Err(refuse(
            StorageUnavailable,
            "the receiver's store failed a write; retry later",
        ));
    }
    let max = tr.cases.me.cfg().limits.max_frame_bytes;
    let hello = transport::read_frame(recv, max)
        .await
        .map_err(|e| refuse(BadFrame, e.to_string()))?;
    let hello =
        AttachmentHello::from_bytes(&hello).map_err(|e| refuse(BadFrame, format!("hello: {e}")))?;
    let limits = &tr.cases.me.cfg().limits;
    let allowed = tr.limits.lock().map_or(true, |mut l| {
        l.allow(
            peer,
            limits.rate_per_peer_per_s,
            limits.burst_per_peer,
            tr.cases.clocks.now(),
        )
    });
    if !allowed {
        return Err(refuse(RateLimited, "too many streams; retry later"));
    }
    let unavailable = |e: NodeError| {
        tracing::error!(error = %e, "attachment store failed");
        refuse(
            StorageUnavailable,
            "the receiver cannot store now; retry later",
        )
    };
    let msg = tr
        .cases
        .store
        .message(hello.message_id)
        .map_err(unavailable)?
        .filter(|m| m.direction == Direction::Inbound && &m.from == peer)
        .ok_or_else(|| {
            refuse(
                InvalidBody,
                format!("no message {} from {peer} here", hello.message_id),
            )
        })?;
    let hex = sha256_hex(&hello.sha256);
    let listed_here = body_of(&msg.envelope).is_some_and(|b| {
        listed(&b)
            .iter()
            .any(|a| a.sha256 == hex && a.size == hello.size)
    });
    if !listed_here {
        return Err(refuse(
            InvalidBody,
            format!(
                "message {} lists no attachment {hex} of {} bytes",
                msg.id, hello.size
            ),
        ));
    }
    if tr
        .attachments
        .purged_at(msg.id, &hello.sha256)
        .map_err(unavailable)?
        .is_some()
    {
        return Err(refuse(
            InvalidBody,
            format!("attachment {hex} of message {} was purged here", msg.id),
        ));
    }
    let cap = tr.cases.me.cfg().attachments.max_file_bytes;
    if hello.size > cap {
        return Err(refuse(
            TooLarge,
            format!(
                "{} bytes is over the limit of {cap} bytes per file",
                hello.size
            ),
        ));
    }
    let a = &tr.attachments;
    let io = |e: std::io::Error| unavailable(NodeError::Storage(e.to_string()));
    let now = tr.cases.clocks.now();
    let complete = a.path(&hello.sha256);
    // Held for this message: this peer sent the bytes for it before (its receipt was lost).
    // A file held for another message, or from another party, is not enough: a receipt says
    // this peer's bytes arrived, and the answer must not tell a peer what the node holds. So
    // the peer sends them all, as for a file never seen.
    let held = a
        .record(&hello.sha256)
        .map_err(unavailable)?
        .is_some_and(|r| r.message_ids.contains(&msg.id))
        && tokio::fs::metadata(&complete).await.is_ok();
    if !held {
        let Some(_busy) = Busy::take(a, hello.sha256) else {
            return Err(refuse(
                RateLimited,
                "a transfer of this file is under way; retry later",
            ));
        };
        let part = a.part_path(&hello.sha256, msg.id);
        let size = hello.size;
        let opened = {
            let part = part.clone();
            tokio::task::spawn_blocking(move || open_part(&part, size)).await
        };
        let (file, hasher, offset) = match opened {
            Ok(r) => r.map_err(io)?,
            Err(e) => return Err(io(std::io::Error::other(e))),
        };
        tracing::info!(peer = %peer, sha256 = %hex, offset, size = hello.size, "receiving attachment");
        let resume = AttachmentReply::Resume { offset }
            .to_bytes()
            .map_err(|e| refuse(StorageUnavailable, e.to_string()))?;
        if transport::write_frame_open(send, &resume).await.is_err() {
            return Ok(None);
        }
        let (tx, rx) = mpsc::channel(IN_FLIGHT);
        let (spare_tx, spare_rx) = mpsc::unbounded_channel();
        let writer = tokio::task::spawn_blocking(move || write_blocks(file, hasher, rx, &spare_tx));
        let ended = pump(recv, offset, size, tx, spare_rx).await;
        // The writer has every block the stream gave; it writes them and fsyncs.
        let written = match writer.await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e)),
        };
        let (have, hasher) = match (ended, written) {
            (Pumped::Interrupted, _) => return Ok(None),
            (Pumped::TooMany, _) => {
                let _ = tokio::fs::remove_file(&part).await;
                return Err(refuse(TooLarge, "more bytes than the size announced"));
            }
            (_, Err(e)) => return Err(io(e)),
            (Pumped::WriterGone, Ok(_)) => {
                return Err(io(std::io::Error::other("the writer stopped")))
            }
            (Pumped::Finished(have), Ok(hasher)) => (have, hasher),
        };
        if have < hello.size {
            return Err(refuse(
                BadFrame,
                format!("stream ended at {have} of {} bytes", hello.size),
            ));
        }
        let got: [u8; 32] = hasher.finalize().into();
        if got != hello.sha256 {
            let _ = tokio::fs::remove_file(&part).await;
            // With a resumed transfer the fault may be this side's (a `.part` damaged by a
            // power loss): the sender tries again from 0. From 0, the bytes are the sender's.
            let code = if offset > 0 {
                StorageUnavailable
            } else {
                InvalidBody
            };
            return Err(refuse(
                code,
                format!("the bytes received hash to {}, not {hex}", sha256_hex(&got)),
            ));
        }
        let dir = a.dir.clone();
        let renamed = tokio::task::spawn_blocking(move || {
            std::fs::rename(&part, &complete)?;
            crate::durable::sync_dir(&dir)?;
            Ok::<_, std::io::Error>(())
        })
        .await;
        match renamed {
            Ok(r) => r.map_err(io)?,
            Err(e) => return Err(io(std::io::Error::other(e))),
        }
    } else {
        // Received for this very message before (its receipt was lost): nothing to send.
        let resume = AttachmentReply::Resume { offset: hello.size }
            .to_bytes()
            .map_err(|e| refuse(StorageUnavailable, e.to_string()))?;
        if transport::write_frame_open(send, &resume).await.is_err() {
            return Ok(None);
        }
        let mut buf = [0u8; 16];
        match recv.read(&mut buf).await {
            Ok(None) => {}
            Ok(Some(_)) => return Err(refuse(TooLarge, "more bytes than the size announced")),
            Err(_) => return Ok(None),
        }
    }
    let linked = a
        .link(&hello.sha256, hello.size, msg.id, now)
        .map_err(unavailable)?;
    tr.cases
        .store
        .audit(&AuditRecord {
            at: now,
            actor: Actor::Peer(peer.clone()),
            event: format!("attachment_received:{hex}"),
            case_ref: Some(msg.case_ref.clone()),
            message_id: Some(msg.id),
        })
        .map_err(unavailable)?;
    tr.cases.store.commit().await.map_err(unavailable)?;
    let receipt = Receipt {
        message_id: msg.id,
        envelope_sha256: hello.sha256,
        receiver: tr.cases.me.party().clone(),
        received_at: now,
    }
    .sign(&tr.cases.me.signing())
    .map_err(|e| refuse(StorageUnavailable, format!("cannot sign a receipt: {e}")))?;
    tracing::info!(peer = %peer, id = %msg.id, sha256 = %hex, "attachment stored and receipted");
    // Once per message that lists the file: a receipt given again (the first was lost) is
    // no news.
    if linked {
        tr.cases.events.publish(
            EventKind::AttachmentReceived {
                sha256: hex,
                size: hello.size,
            },
            Some(msg.case_ref),
            Some(msg.id),
            Some(msg.kind),
            Some(peer.clone()),
        );
    }
    Ok(Some(Reply::Receipt(receipt)))
}

// ---- Intake, purge and the sweep at start ----

/// The name of a copy being made at intake, before it is renamed to its SHA-256.
const INTAKE_PREFIX: &str = "intake-";

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Local files copied in for one submission (`POST /v1/requests`, an action with
/// attachments). While it lives, no purge and no other intake deletes them; once the
/// submission is stored, [`Intake::keep`] links them to the messages that list them.
/// Dropped without `keep` (the submission was refused), each copy that nothing else needs
/// (no message linked to it, no other intake or transfer of the same bytes under way) is
/// deleted: files are content-addressed, so a copy may be the very file another message lists.
#[derive(Debug)]
pub struct Intake {
    attachments: Attachments,
    copied: Vec<([u8; 32], u64)>,
    kept: bool,
}

impl Attachments {
    /// A new intake, empty.
    pub fn intake(&self) -> Intake {
        Intake {
            attachments: self.clone(),
            copied: Vec::new(),
            kept: false,
        }
    }

    fn tomb_key(id: MessageId, sha: &[u8; 32]) -> Vec<u8> {
        key(id, sha)
    }

    /// When attachment `sha` of message `id` was purged here, if it was.
    pub fn purged_at(&self, id: MessageId, sha: &[u8; 32]) -> Result<Option<UtcMs>> {
        match self.purges.get(Self::tomb_key(id, sha))? {
            Some(v) => Ok(Some(codec::decode(&v)?)),
            None => Ok(None),
        }
    }

    /// Removes `id` from the messages the record of `sha` lists.
    fn unlink(&self, sha: &[u8; 32], id: MessageId) -> Result<()> {
        if let Some(mut rec) = self.record(sha)? {
            rec.message_ids.retain(|m| *m != id);
            self.records.insert(sha, codec::encode(&rec)?)?;
        }
        Ok(())
    }

    /// Removes every entry of message `id` from the outbox, and from the receipts and the
    /// purge marks too when `all` (its case is purged: nothing of it stays).
    fn forget_message(&self, id: MessageId, all: bool) -> Result<()> {
        let trees: &[&sled::Tree] = if all {
            &[&self.outbox, &self.receipts, &self.purges]
        } else {
            &[&self.outbox]
        };
        for tree in trees {
            for k in tree.scan_prefix(id.as_bytes()).keys() {
                tree.remove(k?)?;
            }
        }
        Ok(())
    }

    /// Deletes the file `sha` (and its `.part` when `part`) and its empty record if nothing
    /// needs it: no message linked to it, no intake holding it (`intakes` is the locked
    /// registry), no inbound transfer writing it. Whether a file was deleted.
    fn delete_if_unneeded(
        &self,
        sha: &[u8; 32],
        intakes: &std::collections::HashMap<[u8; 32], usize>,
        part: bool,
    ) -> Result<bool> {
        if intakes.get(sha).is_some_and(|n| *n > 0) || lock(&self.busy).contains(sha) {
            return Ok(false);
        }
        if let Some(rec) = self.record(sha)? {
            if !rec.message_ids.is_empty() {
                return Ok(false);
            }
            self.records.remove(sha)?;
        }
        let mut paths = vec![self.path(sha)];
        if part {
            paths.extend(self.parts_of(sha));
        }
        let mut deleted = false;
        for p in paths {
            match std::fs::remove_file(&p) {
                Ok(()) => deleted = true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(NodeError::io(&p, e)),
            }
        }
        if deleted {
            crate::durable::sync_dir(&self.dir).map_err(|e| NodeError::io(&self.dir, e))?;
        }
        Ok(deleted)
    }

    /// At start: removes the temporary files of intakes that never finished, drops the links
    /// to messages purged or gone, and settles the files no message is linked to (a crash
    /// between a copy, a transfer or a purge and its record): a file that a stored message
    /// lists, and was not purged from, is linked to it; any other is deleted.
    fn sweep(&self, store: &crate::store::Store) -> Result<()> {
        let dir_err = |e: std::io::Error| NodeError::io(&self.dir, e);
        let mut orphans = std::collections::HashMap::new();
        for entry in std::fs::read_dir(&self.dir).map_err(dir_err)? {
            let entry = entry.map_err(dir_err)?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                continue;
            };
            if name.starts_with(INTAKE_PREFIX) && name.ends_with(".tmp") {
                let _ = std::fs::remove_file(entry.path());
                continue;
            }
            let Some(sha) = parse_sha256_hex(name) else {
                continue;
            };
            if let Some(mut rec) = self.record(&sha)? {
                // Links to messages purged or gone meanwhile (a transfer that ended after
                // the purge of its message) are dropped.
                let before = rec.message_ids.len();
                let mut live = Vec::with_capacity(before);
                for id in rec.message_ids {
                    let kept = store.message(id)?.is_some_and(|m| !m.envelope.is_empty())
                        && self.purged_at(id, &sha)?.is_none();
                    if kept {
                        live.push(id);
                    }
                }
                rec.message_ids = live;
                if rec.message_ids.len() != before {
                    self.records.insert(sha, codec::encode(&rec)?)?;
                }
                if !rec.message_ids.is_empty() {
                    continue;
                }
            }
            let stored_at = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(UtcMs(0), |d| {
                    UtcMs(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                });
            orphans.insert(sha, stored_at);
        }
        if orphans.is_empty() {
            return Ok(());
        }
        let mut linked = std::collections::HashSet::new();
        for case in store.cases()? {
            for id in &case.messages {
                let Some(body) = store.message(*id)?.and_then(|m| body_of(&m.envelope)) else {
                    continue;
                };
                for r in listed(&body) {
                    let Some(sha) = parse_sha256_hex(&r.sha256) else {
                        continue;
                    };
                    let Some(at) = orphans.get(&sha) else {
                        continue;
                    };
                    if self.purged_at(*id, &sha)?.is_none() {
                        self.link(&sha, r.size, *id, *at)?;
                        linked.insert(sha);
                    }
                }
            }
        }
        let intakes = std::collections::HashMap::new();
        for sha in orphans.keys().filter(|s| !linked.contains(*s)) {
            if self.delete_if_unneeded(sha, &intakes, false)? {
                tracing::info!(sha256 = %sha256_hex(sha), "unreferenced attachment file deleted at start");
            }
        }
        Ok(())
    }
}

/// What an upload ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// Its SHA-256, lowercase hex: what a submission names it by.
    pub sha256: String,
    /// Its size.
    pub size: u64,
    /// Its name.
    pub name: String,
    /// Until when it waits for a submission to list it.
    pub keep_until: UtcMs,
}

impl Attachments {
    /// Stores the bytes of an upload through the control API: written under a temporary
    /// name while hashed (at most [`IN_FLIGHT`] pieces wait for the disk), fsynced, renamed to
    /// its SHA-256 and held for [`UPLOAD_KEEP_MS`] until a submission lists it (the sending
    /// task lets go of expired ones, [`Attachments::expire_uploads`]). More than
    /// `max` bytes, an empty body or one that breaks off leaves nothing behind.
    pub async fn upload<S, E>(
        &self,
        mut chunks: S,
        max: u64,
        name: String,
        now: UtcMs,
    ) -> std::result::Result<Uploaded, IntakeError>
    where
        S: futures_util::Stream<Item = std::result::Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        use futures_util::StreamExt;
        let tmp = self
            .dir
            .join(format!("{INTAKE_PREFIX}{:016x}.tmp", rand::random::<u64>()));
        let (tx, mut rx) = mpsc::channel::<bytes::Bytes>(IN_FLIGHT);
        let path = tmp.clone();
        let writer = tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut file = std::fs::File::create(&path)?;
            let mut hasher = Sha256::new();
            while let Some(piece) = rx.blocking_recv() {
                hasher.update(&piece);
                file.write_all(&piece)?;
            }
            file.sync_all()?;
            Ok::<[u8; 32], std::io::Error>(hasher.finalize().into())
        });
        let mut size = 0u64;
        let fed = loop {
            match chunks.next().await {
                None => break Ok(()),
                Some(Err(e)) => break Err(IntakeError::Io(format!("the upload broke off: {e}"))),
                Some(Ok(piece)) => {
                    size = size.saturating_add(piece.len() as u64);
                    if size > max {
                        break Err(IntakeError::Limit(format!(
                            "{name}: more than the limit of {max} bytes per file"
                        )));
                    }
                    if tx.send(piece).await.is_err() {
                        break Ok(()); // the writer failed: its error says why
                    }
                }
            }
        };
        drop(tx);
        let written = writer
            .await
            .map_err(|e| IntakeError::Disk(e.to_string()))
            .and_then(|r| r.map_err(|e| IntakeError::Disk(format!("{}: {e}", tmp.display()))));
        let sha = match (fed, written) {
            (Ok(()), Ok(_)) if size == 0 => Err(IntakeError::Io(format!("{name}: empty file"))),
            (Ok(()), Ok(sha)) => Ok(sha),
            (Err(e), _) | (Ok(()), Err(e)) => Err(e),
        };
        let sha = match sha {
            Ok(sha) => sha,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        self.hold_copy(&tmp, &sha)
            .map_err(|e| IntakeError::Disk(format!("{}: {e}", tmp.display())))?;
        {
            let mut uploads = lock(&self.uploads);
            let u = uploads.entry(sha).or_insert(Upload {
                size,
                name: name.clone(),
                at: now,
                holds: 0,
            });
            u.holds += 1;
            (u.name, u.at) = (name.clone(), now);
        }
        Ok(Uploaded {
            sha256: sha256_hex(&sha),
            size,
            name,
            keep_until: UtcMs(now.0.saturating_add(UPLOAD_KEEP_MS)),
        })
    }

    /// Renames a copy made under a temporary name to its SHA-256 and holds the file for an
    /// intake (in `intakes`), under that registry's lock, so that no cleanup deletes it in
    /// between; then syncs the folder. A failed rename removes the temporary file.
    fn hold_copy(&self, tmp: &Path, sha: &[u8; 32]) -> std::io::Result<()> {
        {
            let mut intakes = lock(&self.intakes);
            if let Err(e) = std::fs::rename(tmp, self.path(sha)) {
                let _ = std::fs::remove_file(tmp);
                return Err(e);
            }
            *intakes.entry(*sha).or_insert(0) += 1;
        }
        // The copy is listed by a message only after this: a folder that cannot be synced
        // leaves a copy no message lists, which the sweep at start removes.
        crate::durable::sync_dir(&self.dir)
    }

    /// Lets go of the uploads no submission listed within [`UPLOAD_KEEP_MS`]: each file that
    /// nothing else needs is deleted.
    pub fn expire_uploads(&self, now: UtcMs) {
        let mut intakes = lock(&self.intakes);
        let expired: Vec<([u8; 32], usize)> = {
            let mut uploads = lock(&self.uploads);
            let old: Vec<[u8; 32]> = uploads
                .iter()
                .filter(|(_, u)| now.0.saturating_sub(u.at.0) >= UPLOAD_KEEP_MS)
                .map(|(sha, _)| *sha)
                .collect();
            old.into_iter()
                .filter_map(|sha| uploads.remove(&sha).map(|u| (sha, u.holds)))
                .collect()
        };
        for (sha, holds) in expired {
            if let Some(n) = intakes.get_mut(&sha) {
                *n = n.saturating_sub(holds);
                if *n == 0 {
                    intakes.remove(&sha);
                }
            }
            match self.delete_if_unneeded(&sha, &intakes, false) {
                Ok(true) => {
                    tracing::info!(sha256 = %sha256_hex(&sha), "upload no submission listed deleted")
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "cannot delete an expired upload"),
            }
        }
    }
}

impl Intake {
    /// Takes over upload `sha` (held by [`Attachments::upload`]) for this submission, listed
    /// as `name` (or the name it was uploaded with).
    pub fn adopt(
        &mut self,
        sha: &[u8; 32],
        name: Option<String>,
    ) -> std::result::Result<AttachmentRef, IntakeError> {
        let mut uploads = lock(&self.attachments.uploads);
        let Some(u) = uploads.get_mut(sha) else {
            return Err(IntakeError::Io(format!(
                "no upload {} is waiting here: upload the file again (an upload waits {} \
                 minutes for its submission, and not across a restart of the node)",
                sha256_hex(sha),
                UPLOAD_KEEP_MS / 60_000
            )));
        };
        // The upload's hold on the file in `intakes` passes to this intake.
        let r = AttachmentRef {
            sha256: sha256_hex(sha),
            size: u.size,
            name: name.unwrap_or_else(|| u.name.clone()),
        };
        u.holds -= 1;
        if u.holds == 0 {
            uploads.remove(sha);
        }
        self.copied.push((*sha, r.size));
        Ok(r)
    }

    /// Copies `file` in, hashed. The copy is registered under its hash before it is renamed
    /// into place, so that a cleanup running meanwhile leaves it alone. Blocking: call from
    /// `spawn_blocking`.
    pub fn copy_blocking(
        &mut self,
        local: LocalFile,
    ) -> std::result::Result<AttachmentRef, IntakeError> {
        let a = &self.attachments;
        let file = local.path.as_path();
        let (tmp, sha, size) = copy_hashed(&a.dir, local.file, file)?;
        a.hold_copy(&tmp, &sha)
            .map_err(|e| IntakeError::Disk(format!("{}: {e}", file.display())))?;
        self.copied.push((sha, size));
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| sha256_hex(&sha));
        Ok(AttachmentRef {
            sha256: sha256_hex(&sha),
            size,
            name,
        })
    }

    /// The submission is stored: links every copied file to each of `ids`, the messages that
    /// list it. From here on the copies are never deleted by this intake, even if a link
    /// cannot be written (the next start links them from the stored messages).
    pub fn keep(mut self, ids: &[MessageId], now: UtcMs) -> Result<()> {
        self.kept = true;
        for (sha, size) in &self.copied {
            for id in ids {
                self.attachments.link(sha, *size, *id, now)?;
            }
        }
        Ok(())
    }
}

impl Drop for Intake {
    fn drop(&mut self) {
        let a = &self.attachments;
        let mut intakes = lock(&a.intakes);
        for (sha, _) in &self.copied {
            if let Some(n) = intakes.get_mut(sha) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    intakes.remove(sha);
                }
            }
        }
        if self.kept {
            return;
        }
        for (sha, _) in &self.copied {
            match a.delete_if_unneeded(sha, &intakes, false) {
                Ok(true) => {
                    tracing::info!(sha256 = %sha256_hex(sha), "copy of a refused submission deleted")
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "cannot delete the copy of a refused submission")
                }
            }
        }
    }
}

/// What a purge covers (CIC 67-1(3)).
#[derive(Debug, Clone, Copy)]
pub enum PurgeTarget<'a> {
    /// A whole case.
    Case(&'a CaseRef),
    /// The content of one message of a case.
    Message(&'a CaseRef, MessageId),
    /// One attachment of a case: the file, for every message of the case that lists it.
    Attachment(&'a CaseRef, [u8; 32]),
}

/// Whether a message of `case` lists the attachment `sha` (what a purge of it would find).
pub fn case_lists(
    store: &Store,
    case: &crate::lifecycle::CaseRecord,
    sha: &[u8; 32],
) -> Result<bool> {
    for id in &case.messages {
        let Some(m) = store.message(*id)? else {
            continue;
        };
        if body_of(&m.envelope).is_some_and(|b| {
            listed(&b)
                .iter()
                .any(|r| parse_sha256_hex(&r.sha256).as_ref() == Some(sha))
        }) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Purges `target` on an officer's order or at the end of the retention period, with the
/// attachment files it concerns: the messages purged (or, for one attachment, the messages of
/// the case that list it) are unlinked from each file's record, their entries leave the
/// attachment outbox, and a file (with any `.part`) is deleted once no other message is
/// linked to it. A purged attachment of a message still stored is marked, so that fetching it
/// answers that it was purged and a peer's new attempt to send it is refused. The audit log
/// keeps that it happened and why, never what. Flushed before it returns; the files go last,
/// once the store no longer links them. `Ok(false)`: no such case, message of the case, or
/// attachment listed by the case.
pub async fn purge(
    store: &Store,
    a: &Attachments,
    target: PurgeTarget<'_>,
    reason: &str,
    actor: Actor,
    now: UtcMs,
) -> Result<bool> {
    let case_ref = match target {
        PurgeTarget::Case(c) | PurgeTarget::Message(c, _) | PurgeTarget::Attachment(c, _) => c,
    };
    let Some(case) = store.case(case_ref)? else {
        return Ok(false);
    };
    let listing = |id: MessageId| -> Result<Vec<[u8; 32]>> {
        Ok(store
            .message(id)?
            .and_then(|m| body_of(&m.envelope))
            .map(|b| {
                listed(&b)
                    .iter()
                    .filter_map(|r| parse_sha256_hex(&r.sha256))
                    .collect()
            })
            .unwrap_or_default())
    };
    let mut files = Vec::new();
    match target {
        PurgeTarget::Case(_) => {
            let mut pairs = Vec::new();
            for id in &case.messages {
                pairs.extend(listing(*id)?.into_iter().map(|sha| (*id, sha)));
            }
            if !store.purge_case(case_ref, reason, actor, now)? {
                return Ok(false);
            }
            for id in &case.messages {
                a.forget_message(*id, true)?;
            }
            for (id, sha) in pairs {
                a.unlink(&sha, id)?;
                files.push(sha);
            }
        }
        PurgeTarget::Message(_, id) => {
            let in_case = store.message(id)?.is_some_and(|m| &m.case_ref == case_ref);
            if !in_case {
                return Ok(false);
            }
            let shas = listing(id)?;
            if !store.purge_message(id, reason, actor, now)? {
                return Ok(false);
            }
            a.forget_message(id, false)?;
            for sha in shas {
                a.purges
                    .insert(Attachments::tomb_key(id, &sha), codec::encode(&now)?)?;
                a.unlink(&sha, id)?;
                files.push(sha);
            }
        }
        PurgeTarget::Attachment(_, sha) => {
            let mut ids = Vec::new();
            for id in &case.messages {
                if listing(*id)?.contains(&sha) {
                    ids.push(*id);
                }
            }
            let [first, ..] = ids[..] else {
                return Ok(false);
            };
            store.audit(&AuditRecord {
                at: now,
                actor,
                event: format!(
                    "purged_attachment:{}:{}",
                    sha256_hex(&sha),
                    crate::store::short(reason)
                ),
                case_ref: Some(case_ref.clone()),
                message_id: (ids.len() == 1).then_some(first),
            })?;
            for id in ids {
                a.outbox.remove(key(id, &sha))?;
                a.purges
                    .insert(Attachments::tomb_key(id, &sha), codec::encode(&now)?)?;
                a.unlink(&sha, id)?;
            }
            files.push(sha);
        }
    }
    store.commit().await?;
    files.sort_unstable();
    files.dedup();
    let intakes = lock(&a.intakes);
    for sha in files {
        if a.delete_if_unneeded(&sha, &intakes, true)? {
            tracing::info!(case = %case_ref, sha256 = %sha256_hex(&sha), "purged attachment file deleted");
        }
    }
    Ok(true)
}

/// Opens (or creates) the `.part` file of a transfer of `size` bytes: its length is the offset
/// to resume from (a file longer than `size` is emptied), and the hash of what it holds.
/// Blocking.
fn open_part(part: &Path, size: u64) -> std::io::Result<(std::fs::File, Sha256, u64)> {
    use std::io::{Read, Seek};
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(part)?;
    let mut offset = file.metadata()?.len();
    if offset > size {
        file.set_len(0)?;
        offset = 0;
    }
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; BLOCK];
    let mut left = offset;
    while left > 0 {
        let want = usize::try_from(left.min(BLOCK as u64)).unwrap_or(BLOCK);
        let slot = buf.get_mut(..want).unwrap_or_default();
        let n = file.read(slot)?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
        left -= n as u64;
    }
    file.seek(std::io::SeekFrom::Start(offset))?;
    Ok((file, hasher, offset))
}

/// The blocking end of an inbound transfer: appends each block of `blocks` to `file` and
/// hashes it, a piece at a time while the piece is in the CPU's cache, and hands the block
/// back on `spare`. Every [`FSYNC_EVERY`] bytes it starts the disk writing that range and
/// waits for the range before it (written meanwhile, so the wait is short), then drops that
/// range from the page cache: the file is written once and read rarely, and a large one would
/// otherwise push out what the node reads often. When `blocks` is closed (a finished or
/// interrupted stream alike) it fsyncs the file.
fn write_blocks(
    mut file: std::fs::File,
    mut hasher: Sha256,
    mut blocks: mpsc::Receiver<Vec<u8>>,
    spare: &mpsc::UnboundedSender<Vec<u8>>,
) -> std::io::Result<Sha256> {
    use std::io::{Seek, Write};
    let mut written = file.stream_position()?;
    // Writing back: [on_disk, started) is being written, [started, written) is not yet.
    let (mut on_disk, mut started) = (written, written);
    while let Some(block) = blocks.blocking_recv() {
        block.chunks(CHUNK).try_for_each(|piece| {
            hasher.update(piece);
            file.write_all(piece)
        })?;
        written += block.len() as u64;
        if written - started >= FSYNC_EVERY {
            writeback(&file, on_disk, started, true)?;
            forget_cached(&file, on_disk, started);
            writeback(&file, started, written, false)?;
            (on_disk, started) = (started, written);
        }
        let _ = spare.send(block);
    }
    file.sync_data()?;
    forget_cached(&file, on_disk, written);
    Ok(hasher)
}

/// Has the kernel write `file`'s dirty pages in `[from, to)` to the disk: only starts it, or
/// (`wait`) also waits for it to end. This keeps the fsync at the end of the transfer short and
/// the page cache small; it makes nothing durable that the end's fsync would not (the file's
/// length and the disk's own cache wait for that fsync). A crash of the node loses nothing
/// written either way, and what a power loss loses is caught by the final hash check.
#[allow(unsafe_code)] // one FFI call, libc::sync_file_range, which has no safe binding
fn writeback(file: &std::fs::File, from: u64, to: u64, wait: bool) -> std::io::Result<()> {
    if to <= from {
        return Ok(());
    }
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let flags = if wait {
            libc::SYNC_FILE_RANGE_WAIT_BEFORE
                | libc::SYNC_FILE_RANGE_WRITE
                | libc::SYNC_FILE_RANGE_WAIT_AFTER
        } else {
            libc::SYNC_FILE_RANGE_WRITE
        };
        let (Ok(off), Ok(len)) = (i64::try_from(from), i64::try_from(to - from)) else {
            return Ok(());
        };
        // SAFETY: sync_file_range takes a descriptor that `file` keeps open for the call and
        // plain integers; it touches no memory of this process.
        let r = unsafe { libc::sync_file_range(file.as_raw_fd(), off, len, flags) };
        if r != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    #[cfg(not(target_os = "linux"))]
    if wait {
        file.sync_data()?;
    }
    Ok(())
}

/// Drops `file`'s pages in `[from, to)` from the page cache, once they are on the disk: a
/// hint, so a failure is ignored.
fn forget_cached(file: &std::fs::File, from: u64, to: u64) {
    #[cfg(target_os = "linux")]
    if let Some(len) = std::num::NonZeroU64::new(to.saturating_sub(from)) {
        let _ = rustix::fs::fadvise(file, from, Some(len), rustix::fs::Advice::DontNeed);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, from, to);
}

/// How the bytes of an inbound stream ended.
enum Pumped {
    /// The sender finished the stream: this many bytes are held in all (offset included).
    Finished(u64),
    /// The stream failed (the peer or the connection went away).
    Interrupted,
    /// More bytes than announced.
    TooMany,
    /// The writer stopped taking blocks (it failed; its error says why).
    WriterGone,
}

/// Moves the stream's bytes into blocks of [`BLOCK`] bytes for the writer: at most
/// [`IN_FLIGHT`] queued, plus the one being filled and the one being written; written blocks
/// come back on `spare`. Closing `tx` (on return) tells the writer to finish.
async fn pump(
    recv: &mut quinn::RecvStream,
    offset: u64,
    size: u64,
    tx: mpsc::Sender<Vec<u8>>,
    mut spare: mpsc::UnboundedReceiver<Vec<u8>>,
) -> Pumped {
    const MAX_BLOCKS: usize = IN_FLIGHT + 2;
    let mut have = offset;
    let mut made = 1;
    // A block keeps its length of BLOCK from one use to the next, so it is zeroed only once;
    // `read` takes every chunk the stream holds at once, up to the room left.
    let mut block = vec![0u8; BLOCK];
    let mut filled = 0;
    loop {
        let end = match recv.read(block.get_mut(filled..).unwrap_or_default()).await {
            Ok(Some(n)) => {
                have += n as u64;
                if have > size {
                    return Pumped::TooMany;
                }
                filled += n;
                None
            }
            Ok(None) => Some(Pumped::Finished(have)),
            Err(_) => Some(Pumped::Interrupted),
        };
        if filled < BLOCK && end.is_none() {
            continue;
        }
        if filled > 0 {
            block.truncate(filled);
            if tx.send(std::mem::take(&mut block)).await.is_err() {
                return Pumped::WriterGone;
            }
        }
        if let Some(end) = end {
            return end;
        }
        block = match spare.try_recv() {
            Ok(b) => b,
            Err(_) if made < MAX_BLOCKS => {
                made += 1;
                Vec::new()
            }
            Err(_) => match spare.recv().await {
                Some(b) => b,
                None => return Pumped::WriterGone,
            },
        };
        block.resize(BLOCK, 0);
        filled = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poc247_protocol::SigningKey;

    type Piece = std::result::Result<bytes::Bytes, String>;

    fn pieces(parts: &[&'static [u8]], then_fail: bool) -> impl futures_util::Stream<Item = Piece> {
        let mut items: Vec<Piece> = parts
            .iter()
            .map(|p| Ok(bytes::Bytes::from_static(p)))
            .collect();
        if then_fail {
            items.push(Err("connection reset".into()));
        }
        futures_util::stream::iter(items)
    }

    #[test]
    fn a_local_path_is_read_only_from_the_folders_named_and_never_from_the_nodes_own() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let data = out.join("data");
        std::fs::create_dir_all(data.join("sled")).unwrap();
        std::fs::write(out.join("evidence.log"), b"evidence").unwrap();
        std::fs::write(data.join("sled/db"), b"the store").unwrap();
        std::fs::write(tmp.path().join("elsewhere.log"), b"not named").unwrap();
        let link_in = out.join("innocent.log");
        std::os::unix::fs::symlink(data.join("sled/db"), &link_in).unwrap();
        let link_out = out.join("outside.log");
        std::os::unix::fs::symlink(tmp.path().join("elsewhere.log"), &link_out).unwrap();
        let rules = LocalFiles {
            read_from: vec![out.clone()],
            never: vec![data.clone(), PathBuf::from("/proc")],
        };
        let f = rules.open(&out.join("evidence.log"), None).unwrap();
        assert_eq!(f.size, 8);
        let refused = |p: &Path, says: &str| {
            let e = rules.open(p, None).unwrap_err().to_string();
            assert!(e.starts_with(&p.display().to_string()), "{e}");
            assert!(e.contains(says), "{p:?}: {e}");
        };
        refused(&data.join("sled/db"), "own data or key folders");
        refused(&link_in, "own data or key folders");
        refused(&link_out, "outside the folders");
        refused(&tmp.path().join("elsewhere.log"), "not in a folder");
        refused(Path::new("/proc/self/environ"), "not in a folder");
        refused(Path::new("evidence.log"), "not in a folder");
        refused(&out.join("missing.log"), "No such file");
        refused(&out, "not a regular file");
        let fifo = out.join("pipe.log");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        refused(&fifo, "not a regular file");
        let none = LocalFiles {
            read_from: Vec::new(),
            never: Vec::new(),
        };
        let e = none.open(&out.join("evidence.log"), None).unwrap_err();
        assert!(e.to_string().contains("POST /v1/uploads"), "{e}");
    }

    fn folder(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir.join("attachments"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_file_the_node_cannot_read_is_the_callers_and_a_copy_it_cannot_write_its_disks() {
        let dir = tempfile::tempdir().unwrap();
        let into = dir.path().join("attachments");
        std::fs::create_dir(&into).unwrap();
        let file = dir.path().join("auth.log");
        std::fs::write(&file, b"evidence").unwrap();
        // Read: a folder (a path that is not there is refused when opened: LocalFiles).
        let bad = dir.path().to_path_buf();
        let opened = std::fs::File::open(&bad).unwrap();
        let e = copy_hashed(&into, opened, &bad).unwrap_err();
        assert!(matches!(e, IntakeError::Io(_)), "{bad:?}: {e:?}");
        let open = || std::fs::File::open(&file).unwrap();
        // Written: a destination that cannot take the copy (a file stands where its folder
        // should be, so nothing can be created in it).
        let blocked = dir.path().join("blocked");
        std::fs::write(&blocked, b"").unwrap();
        let e = copy_hashed(&blocked, open(), &file).unwrap_err();
        assert!(
            matches!(e, IntakeError::Disk(ref m) if m.contains("auth.log")),
            "{e:?}"
        );
        // And a good copy leaves one temporary file with the content.
        let (tmp, _, size) = copy_hashed(&into, open(), &file).unwrap();
        assert_eq!(
            (std::fs::read(&tmp).unwrap(), size),
            (b"evidence".to_vec(), 8)
        );
        assert_eq!(std::fs::read_dir(&into).unwrap().count(), 1);
    }

    #[tokio::test]
    async fn an_upload_over_the_limit_empty_or_broken_off_leaves_nothing_and_one_is_taken_once() {
        let dir = tempfile::tempdir().unwrap();
        let settings = crate::config::StoreSettings::default();
        let (store, _committer) =
            crate::store::Store::open(dir.path(), &settings, SigningKey::from_bytes(&[7; 32]))
                .unwrap();
        let a = Attachments::open(dir.path(), &store).unwrap();
        let now = UtcMs(1_790_000_000_000);
        // No Content-Length to go by: the limit is counted on the bytes as they come.
        let e = a
            .upload(
                pieces(&[b"0123456789", b"0123456789"], false),
                15,
                "x.log".into(),
                now,
            )
            .await
            .unwrap_err();
        assert!(matches!(e, IntakeError::Limit(_)), "{e}");
        let e = a
            .upload(pieces(&[b"0123"], true), 15, "x.log".into(), now)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("broke off"), "{e}");
        let e = a
            .upload(pieces(&[], false), 15, "x.log".into(), now)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
        assert!(folder(dir.path()).is_empty(), "{:?}", folder(dir.path()));
        // A good one: held under its hash, taken by one intake, refused to the next.
        let up = a
            .upload(pieces(&[b"abc"], false), 15, "abc.txt".into(), now)
            .await
            .unwrap();
        let sha = parse_sha256_hex(&up.sha256).unwrap();
        assert_eq!(
            up.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(folder(dir.path()), vec![up.sha256.clone()]);
        let mut first = a.intake();
        let r = first.adopt(&sha, None).unwrap();
        assert_eq!((r.name.as_str(), r.size), ("abc.txt", 3));
        let mut second = a.intake();
        assert!(second.adopt(&sha, None).is_err());
        // The submission was refused: its intake lets the file go.
        drop(first);
        assert!(folder(dir.path()).is_empty());
    }
}
