//! The purge of a case, a message's content or one attachment (CIC 67-1(3)).

use super::*;

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
    let Some(files) = purge_unflushed(store, a, target, reason, actor, now)? else {
        return Ok(false);
    };
    store.commit().await?;
    delete_files(a, files)?;
    Ok(true)
}

/// Purges whole cases at the end of their retention period, as [`purge`] purges one, with one
/// flush for them all: each case in a transaction of its own, then the flush, then the
/// attachment files no longer linked. Returns the cases purged (those still stored); a case
/// whose purge fails is logged and left, the others purged still. An error: the flush failed.
pub async fn purge_cases(
    store: &Store,
    a: &Attachments,
    cases: &[CaseRef],
    reason: &str,
    actor: Actor,
    now: UtcMs,
) -> Result<Vec<CaseRef>> {
    let mut purged = Vec::new();
    let mut files = Vec::new();
    for c in cases {
        match purge_unflushed(store, a, PurgeTarget::Case(c), reason, actor.clone(), now) {
            Ok(Some(f)) => {
                purged.push(c.clone());
                files.extend(f);
            }
            Ok(None) => {}
            Err(e) => tracing::error!(case = %c, error = %e, "cannot purge a case"),
        }
        // Each case is a transaction on the caller's thread: let the other tasks run between.
        tokio::task::yield_now().await;
    }
    if !purged.is_empty() {
        store.commit().await?;
        if let Err(e) = delete_files(a, files) {
            tracing::error!(error = %e, "cannot delete the attachment files of purged cases");
        }
    }
    Ok(purged)
}

/// The attachment files of `files` that nothing links any more, deleted.
fn delete_files(a: &Attachments, mut files: Vec<[u8; 32]>) -> Result<()> {
    files.sort_unstable();
    files.dedup();
    let intakes = lock(&a.intakes);
    for sha in files {
        if a.delete_if_unneeded(&sha, &intakes, true)? {
            tracing::info!(sha256 = %sha256_hex(&sha), "purged attachment file deleted");
        }
    }
    Ok(())
}

/// [`purge`]'s writes, not flushed; the files to delete once they are (`None`: nothing to
/// purge).
fn purge_unflushed(
    store: &Store,
    a: &Attachments,
    target: PurgeTarget<'_>,
    reason: &str,
    actor: Actor,
    now: UtcMs,
) -> Result<Option<Vec<[u8; 32]>>> {
    let case_ref = match target {
        PurgeTarget::Case(c) | PurgeTarget::Message(c, _) | PurgeTarget::Attachment(c, _) => c,
    };
    let Some(case) = store.case(case_ref)? else {
        return Ok(None);
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
                return Ok(None);
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
                return Ok(None);
            }
            let shas = listing(id)?;
            if !store.purge_message(id, reason, actor, now)? {
                return Ok(None);
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
                return Ok(None);
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
    Ok(Some(files))
}
