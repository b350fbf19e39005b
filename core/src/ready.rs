//! What a decision asks of the node once its write is in the store, as one value, in the
//! manner of raft-rs's `Ready`: whether the write must still be flushed, the cases to remember,
//! the events to publish and the messages to hand to the delivery task.
//!
//! The rule it carries: nothing of a decision leaves the node — no event, no queued message,
//! no reply — before the write that records it is on disk. The node releases a `Ready` in one
//! place (`Cases::apply` in `poc247-node`), in this order: flush (unless the write shared a
//! group commit that flushed it already), then the events, then the queue; the caller sends
//! its reply (a receipt, a 201) only once that returned.

use crate::events::EventKind;
use poc247_protocol::{CaseRef, MessageId, MessageKind, PartyId, Urgency};

/// What must be done before anything of the decision leaves the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// The write is on disk already: it was flushed with others in a group commit.
    Flushed,
    /// The write is in the store but not yet on disk: flush it first.
    Flush,
}

/// An event to publish once the decision is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// What happened.
    pub kind: EventKind,
    /// The case, if any.
    pub case_ref: Option<CaseRef>,
    /// The message, if any.
    pub message_id: Option<MessageId>,
    /// The message's kind, if any.
    pub message_kind: Option<MessageKind>,
    /// The peer concerned, if any.
    pub peer: Option<PartyId>,
}

/// A decision's effects, released by the node in one order (see the module's doc).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a decision's effects are released only by the node's apply"]
pub struct Ready {
    /// Whether the write must still be flushed.
    pub durability: Durability,
    /// Cases the decision opened: their kind and urgency, which every later event about them
    /// carries.
    pub opened: Vec<(CaseRef, MessageKind, Urgency)>,
    /// Events to publish, in order.
    pub notices: Vec<Notice>,
    /// Messages to hand to the delivery task: (peer, message).
    pub send: Vec<(PartyId, MessageId)>,
}

impl Ready {
    /// The effects of a write that is in the store but not yet flushed.
    pub fn after_flush() -> Self {
        Self::new(Durability::Flush)
    }

    /// The effects of a write that a group commit has flushed already.
    pub fn flushed() -> Self {
        Self::new(Durability::Flushed)
    }

    fn new(durability: Durability) -> Self {
        Self {
            durability,
            opened: Vec::new(),
            notices: Vec::new(),
            send: Vec::new(),
        }
    }

    /// Remembers that the decision opened `case_ref`, of `kind` and `urgency`.
    pub fn opened(mut self, case_ref: &CaseRef, kind: MessageKind, urgency: Urgency) -> Self {
        self.opened.push((case_ref.clone(), kind, urgency));
        self
    }

    /// Publishes `kind` about a case, a message and a peer once the decision is durable.
    pub fn notice(
        mut self,
        kind: EventKind,
        case_ref: Option<CaseRef>,
        message_id: Option<MessageId>,
        message_kind: Option<MessageKind>,
        peer: Option<PartyId>,
    ) -> Self {
        self.notices.push(Notice {
            kind,
            case_ref,
            message_id,
            message_kind,
            peer,
        });
        self
    }

    /// Hands message `id` to the delivery task for `to` once the decision is durable.
    pub fn send(mut self, to: PartyId, id: MessageId) -> Self {
        self.send.push((to, id));
        self
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_ready_keeps_its_effects_in_the_order_they_were_decided() {
        let case = CaseRef::parse("LU-2026-000001").unwrap();
        let id = MessageId::new(poc247_protocol::UtcMs(1_000));
        let fr = PartyId::parse("FR").unwrap();
        let r = Ready::after_flush()
            .opened(&case, MessageKind::Preservation, Urgency::Urgent)
            .notice(
                EventKind::Queued,
                Some(case.clone()),
                Some(id),
                None,
                Some(fr.clone()),
            )
            .notice(EventKind::Closed, Some(case.clone()), None, None, None)
            .send(fr.clone(), id);
        assert_eq!(r.durability, Durability::Flush);
        assert_eq!(r.opened.len(), 1);
        assert_eq!(
            r.notices.iter().map(|n| n.kind.name()).collect::<Vec<_>>(),
            ["queued", "closed"]
        );
        assert_eq!(r.send, vec![(fr, id)]);
        assert_eq!(Ready::flushed().durability, Durability::Flushed);
    }
}
