//! The receiving side of the wire protocol: one frame in, one reply out. The checks are the
//! core's ([`crate::inbound`]), in the order of docs/design.md — decode, signer = TLS peer =
//! `from`, signature, known id, recipient, clock window, body — with the store read between
//! them; then the message is stored durably and only then answered with the signed receipt.

use crate::audit::Actor;
use crate::events::EventKind;
use crate::handles::Limits;
use crate::inbound;
use crate::lifecycle::{CaseRecord, Role, Step};
use crate::outgoing::context_for;
use crate::outgoing::Cases;
use crate::ready::Ready;
use crate::store::{CaseRefusal, DeliveryState, Direction, Inbound, InboundError, StoredMessage};
use poc247_protocol::{envelope_sha256, PartyId, Receipt, Rejection, RejectionCode, Reply};

fn reject(code: RejectionCode, reason: impl Into<String>) -> Reply {
    Reply::Rejection(Rejection::new(code, reason))
}

/// Handles one message frame received from `peer` (the party its TLS certificate names).
pub async fn handle_frame(cases: &Cases, limits: &Limits, peer: &PartyId, frame: &[u8]) -> Reply {
    // A store that failed a write may still hold in memory a message that never reached the
    // disk: answering a resend with its receipt would promise it. Refused until reopened.
    let reply = if cases.store.has_failed() {
        Reply::Rejection(poc247_protocol::Rejection::new(
            poc247_protocol::RejectionCode::StorageUnavailable,
            "the receiver's store failed a write; retry later",
        ))
    } else {
        check_and_store(cases, limits, peer, frame).await
    };
    if let Reply::Rejection(r) = &reply {
        tracing::warn!(peer = %peer, code = %r.code, "refused an inbound message");
        cases.events.publish(
            EventKind::Rejected {
                code: r.code.as_str().to_owned(),
            },
            None,
            None,
            None,
            Some(peer.clone()),
        );
    }
    reply
}

async fn check_and_store(cases: &Cases, rate: &Limits, peer: &PartyId, frame: &[u8]) -> Reply {
    use RejectionCode::*;
    let limits = &cases.me.cfg().limits;
    let allowed = rate.lock().map_or(true, |mut l| {
        l.allow(
            peer,
            limits.rate_per_peer_per_s,
            limits.burst_per_peer,
            cases.clocks.now(),
        )
    });
    if !allowed {
        return reject(
            RateLimited,
            format!(
                "more than {} messages/s from {peer}; retry later",
                limits.rate_per_peer_per_s
            ),
        );
    }
    let directory = cases.directory();
    let peer_keys = directory.get(peer).map(|e| e.keys.as_slice());
    let verified = match inbound::authenticate(frame, peer, peer_keys) {
        Ok(v) => v,
        Err(r) => return Reply::Rejection(r),
    };
    let header = verified.header();
    // A message already stored gets the receipt given the first time, whatever its age.
    match cases.store.message(header.id) {
        Ok(Some(stored)) => {
            if let Some(r) = stored.receipt {
                return durable(cases, r).await;
            }
        }
        Ok(None) => {}
        Err(e) => {
            tracing::error!(error = %e, "store read failed");
            return reject(
                StorageUnavailable,
                "the receiver cannot read its store; retry later",
            );
        }
    }
    let now = cases.clocks.now();
    let gate = inbound::Gate {
        me: cases.me.party(),
        now,
        clock_skew_secs: limits.clock_skew_secs,
        drill: cases.clocks.drill().is_some(),
    };
    if let Err(r) = inbound::admit(header, &gate) {
        return Reply::Rejection(r);
    }
    let body = verified.body();
    let kind = body.kind();
    let existing = match cases.store.case(&header.case_ref) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "store read failed");
            return reject(
                StorageUnavailable,
                "the receiver cannot read its store; retry later",
            );
        }
    };
    let opens = match inbound::check_body(&verified, existing.as_ref(), || {
        directory.check_decision(&header.from, body)
    }) {
        Ok(opens) => opens,
        Err(r) => return Reply::Rejection(r),
    };
    let receipt = match (Receipt {
        message_id: header.id,
        envelope_sha256: envelope_sha256(frame),
        receiver: cases.me.party().clone(),
        received_at: now,
    })
    .sign(&cases.me.signing())
    {
        Ok(r) => r,
        Err(e) => return reject(StorageUnavailable, format!("cannot sign a receipt: {e}")),
    };
    let msg = StoredMessage {
        id: header.id,
        case_ref: header.case_ref.clone(),
        kind,
        direction: Direction::Inbound,
        from: header.from.clone(),
        to: header.to.clone(),
        created_at: header.created_at,
        stored_at: now,
        envelope: frame.to_vec(),
        receipt: Some(receipt.clone()),
        delivery: DeliveryState::Received,
    };
    // A new request is stored in a batch with the others arriving now, and flushed with them.
    let mut ready = Ready::after_flush();
    let stored = if opens {
        let context = context_for(&directory, &header.from, cases.me.party(), body.kind());
        let mut case = CaseRecord::open(header, body, Role::Requested, context, now);
        // The same fact on both sides: written in a language this Party does not list.
        case.language_override = directory
            .get(cases.me.party())
            .is_some_and(|me| !me.languages.is_empty() && !me.languages.contains(&header.language));
        match cases.store.insert_inbound_durably(&msg, &case).await {
            Ok(Inbound::Duplicate(r)) => return Reply::Receipt(r),
            Ok(Inbound::Stored(_)) => {
                ready = Ready::flushed().opened(&case.case_ref, case.kind, case.urgency);
                Ok(())
            }
            Err(InboundError::CaseExists(c)) => {
                Err(format!("case {c} already exists with another request"))
            }
            Err(InboundError::Node(e)) => {
                tracing::error!(error = %e, "store write failed");
                return reject(
                    StorageUnavailable,
                    "the receiver cannot store now; retry later",
                );
            }
        }
    } else {
        let step = Step {
            id: header.id,
            from: &header.from,
            in_reply_to: header.in_reply_to,
            at: header.created_at,
            body,
        };
        match cases
            .store
            .insert_in_case(&msg, None, Actor::Peer(peer.clone()), |c| {
                c.apply_message(step, now)
            }) {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(CaseRefusal::Duplicate(Some(r)))) => return durable(cases, r).await,
            Ok(Err(CaseRefusal::Duplicate(None))) => Err("message id already used here".to_owned()),
            Ok(Err(CaseRefusal::NoCase(c))) => Err(format!("no case {c} here")),
            Ok(Err(CaseRefusal::Lifecycle(e))) => Err(e.to_string()),
            Err(e) => {
                tracing::error!(error = %e, "store write failed");
                return reject(
                    StorageUnavailable,
                    "the receiver cannot store now; retry later",
                );
            }
        }
    };
    if let Err(why) = stored {
        return reject(InvalidBody, why);
    }
    // Persist before you promise: the receipt leaves only once the write is on disk.
    let ready = ready.notice(
        EventKind::Received,
        Some(header.case_ref.clone()),
        Some(header.id),
        Some(kind),
        Some(peer.clone()),
    );
    if let Err(e) = cases.apply(ready).await {
        tracing::error!(error = %e, "flush failed");
        return reject(
            StorageUnavailable,
            "the receiver cannot flush now; retry later",
        );
    }
    tracing::info!(case = %header.case_ref, id = %header.id, kind = %kind, from = %peer, "stored and receipted");
    Reply::Receipt(receipt)
}

/// The stored receipt of a message seen before. A concurrent first delivery may not be flushed
/// yet, so this waits for the flush too before it answers.
async fn durable(cases: &Cases, receipt: poc247_protocol::SignedReceipt) -> Reply {
    match cases.apply(Ready::after_flush()).await {
        Ok(()) => Reply::Receipt(receipt),
        Err(_) => reject(
            RejectionCode::StorageUnavailable,
            "the receiver cannot flush now; retry later",
        ),
    }
}
