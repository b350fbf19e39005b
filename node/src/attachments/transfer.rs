//! Both ends of an attachment stream: the sending task (queued files, one stream each, resumed
//! from the receiver's offset) and the receiving side (hello checks, `.part` file, hash,
//! rename, record, receipt), with the blocking file I/O they hand blocks to.

use super::*;

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

pub(super) async fn settle(
    tr: &Transfers,
    id: MessageId,
    sha: [u8; 32],
    mut entry: OutboundAttachment,
) {
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
    let ready = Ready::after_flush().notice(
        event,
        case_ref,
        Some(id),
        msg.map(|m| m.kind),
        Some(entry.peer.clone()),
    );
    if let Err(e) = tr.cases.apply(ready).await {
        tracing::error!(error = %e, "cannot flush an attachment's outcome");
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

pub(super) async fn read_reply(
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
pub(super) async fn receive(
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
            crate::store::durable::sync_dir(&dir)?;
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
    // Once per message that lists the file: a receipt given again (the first was lost) is
    // no news.
    let mut ready = Ready::after_flush();
    if linked {
        ready = ready.notice(
            EventKind::AttachmentReceived {
                sha256: hex.clone(),
                size: hello.size,
            },
            Some(msg.case_ref.clone()),
            Some(msg.id),
            Some(msg.kind),
            Some(peer.clone()),
        );
    }
    let receipt = Receipt {
        message_id: msg.id,
        envelope_sha256: hello.sha256,
        receiver: tr.cases.me.party().clone(),
        received_at: now,
    }
    .sign(&tr.cases.me.signing())
    .map_err(|e| refuse(StorageUnavailable, format!("cannot sign a receipt: {e}")))?;
    tr.cases.apply(ready).await.map_err(unavailable)?;
    tracing::info!(peer = %peer, id = %msg.id, sha256 = %hex, "attachment stored and receipted");
    Ok(Some(Reply::Receipt(receipt)))
}

/// Opens (or creates) the `.part` file of a transfer of `size` bytes: its length is the offset
/// to resume from (a file longer than `size` is emptied), and the hash of what it holds.
/// Blocking.
pub(super) fn open_part(part: &Path, size: u64) -> std::io::Result<(std::fs::File, Sha256, u64)> {
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
pub(super) fn write_blocks(
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
pub(super) fn writeback(
    file: &std::fs::File,
    from: u64,
    to: u64,
    wait: bool,
) -> std::io::Result<()> {
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
pub(super) fn forget_cached(file: &std::fs::File, from: u64, to: u64) {
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
    pub(super) const MAX_BLOCKS: usize = IN_FLIGHT + 2;
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
