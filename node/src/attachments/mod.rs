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
use crate::ready::Ready;
use crate::store::Store;
use crate::store::{DeliveryState, Direction};
use crate::wire::transport::{self, FrameError};
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

mod intake;
mod purge;
mod transfer;

pub use intake::{Intake, Uploaded};
pub use purge::{case_lists, purge, purge_cases, PurgeTarget};
pub use transfer::{run_sender, serve_inbound};

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
        crate::store::durable::create_dir_all(&dir).map_err(|e| NodeError::io(&dir, e))?;
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
    pub fn transfers(
        &self,
        m: &crate::store::StoredMessage,
    ) -> Vec<poc247_api::AttachmentTransfer> {
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
                Some(poc247_api::AttachmentTransfer {
                    sha256: f.sha256.clone(),
                    state: state.to_owned(),
                })
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

fn refuse(code: RejectionCode, reason: impl Into<String>) -> Rejection {
    Rejection::new(code, reason)
}

/// The name of a copy being made at intake, before it is renamed to its SHA-256.
const INTAKE_PREFIX: &str = "intake-";

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
