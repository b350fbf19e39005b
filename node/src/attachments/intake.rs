//! Local files copied in for a submission, the files uploaded over the API, and the sweep of
//! what an interrupted intake left at start.

use super::*;

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

    pub(super) fn tomb_key(id: MessageId, sha: &[u8; 32]) -> Vec<u8> {
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
    pub(super) fn unlink(&self, sha: &[u8; 32], id: MessageId) -> Result<()> {
        if let Some(mut rec) = self.record(sha)? {
            rec.message_ids.retain(|m| *m != id);
            self.records.insert(sha, codec::encode(&rec)?)?;
        }
        Ok(())
    }

    /// Removes every entry of message `id` from the outbox, and from the receipts and the
    /// purge marks too when `all` (its case is purged: nothing of it stays).
    pub(super) fn forget_message(&self, id: MessageId, all: bool) -> Result<()> {
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
    pub(super) fn delete_if_unneeded(
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
            crate::store::durable::sync_dir(&self.dir).map_err(|e| NodeError::io(&self.dir, e))?;
        }
        Ok(deleted)
    }

    /// At start: removes the temporary files of intakes that never finished, drops the links
    /// to messages purged or gone, and settles the files no message is linked to (a crash
    /// between a copy, a transfer or a purge and its record): a file that a stored message
    /// lists, and was not purged from, is linked to it; any other is deleted.
    pub(super) fn sweep(&self, store: &crate::store::Store) -> Result<()> {
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
        // Every case, read one at a time.
        for case in store.each_case() {
            let case = case?;
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
    pub(super) fn hold_copy(&self, tmp: &Path, sha: &[u8; 32]) -> std::io::Result<()> {
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
        crate::store::durable::sync_dir(&self.dir)
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
