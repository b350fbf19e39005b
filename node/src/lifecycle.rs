//! The case lifecycle, sans-IO: a case record and the transitions messages cause, with `now`
//! as a parameter. Both sides of a case run the same machine, so their views agree.

use poc247_protocol::{CaseRef, Header, Language, MessageId, MessageKind, PartyId, Urgency, UtcMs};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which side of the case this node is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// This node's Party made the request.
    Requester,
    /// This node's Party was asked.
    Requested,
}

impl Role {
    /// Its name in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Requester => "requester",
            Role::Requested => "requested",
        }
    }
}

/// The state of a request, the same seen from either side (DESIGN.md "Case lifecycle").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseState {
    /// Stored at the requester, not yet receipted by the requested Party.
    Queued,
    /// Receipted by the requested Party's node.
    Delivered,
    /// The requested Party's node refused the message itself.
    Failed {
        /// The rejection code and reason.
        reason: String,
    },
}

impl CaseState {
    /// Its name in JSON and tables.
    pub fn name(&self) -> &'static str {
        match self {
            CaseState::Queued => "queued",
            CaseState::Delivered => "delivered",
            CaseState::Failed { .. } => "failed",
        }
    }
}

impl fmt::Display for CaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A case: the request that opened it and every message exchanged about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseRecord {
    /// Its reference.
    pub case_ref: CaseRef,
    /// The kind of the opening request.
    pub kind: MessageKind,
    /// This node's side.
    pub role: Role,
    /// The requesting Party.
    pub requester: PartyId,
    /// The requested Party.
    pub requested: PartyId,
    /// Urgency of the request.
    pub urgency: Urgency,
    /// Language of the request.
    pub language: Language,
    /// Training traffic.
    pub exercise: bool,
    /// When the request was created.
    pub opened_at: UtcMs,
    /// When the case last changed.
    pub updated_at: UtcMs,
    /// The current state.
    pub state: CaseState,
    /// Every message of the case, oldest first.
    pub messages: Vec<MessageId>,
}

/// What happened to a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// The requested Party's node receipted message `id`.
    Receipted {
        /// The message.
        id: MessageId,
    },
    /// The requested Party's node refused message `id` for good.
    Refused {
        /// The message.
        id: MessageId,
        /// Code and reason.
        reason: String,
    },
}

/// Why a transition is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    /// The message does not belong to this case.
    #[error("message {0} is not part of case {1}")]
    NotInCase(MessageId, CaseRef),
    /// The case is not in a state that allows it.
    #[error("case {case} is {state}: {what} is not allowed")]
    NotAllowed {
        /// The case.
        case: CaseRef,
        /// Its state.
        state: &'static str,
        /// What was attempted.
        what: &'static str,
    },
}

impl CaseRecord {
    /// Opens a case from its request, on either side: the requester when it queues the
    /// request, the requested Party when it stores the request it received (already delivered).
    pub fn open(header: &Header, kind: MessageKind, role: Role, now: UtcMs) -> Self {
        CaseRecord {
            case_ref: header.case_ref.clone(),
            kind,
            role,
            requester: header.from.clone(),
            requested: header.to.clone(),
            urgency: header.urgency,
            language: header.language.clone(),
            exercise: header.exercise,
            opened_at: header.created_at,
            updated_at: now,
            state: match role {
                Role::Requester => CaseState::Queued,
                Role::Requested => CaseState::Delivered,
            },
            messages: vec![header.id],
        }
    }

    /// The other Party of the case, seen from this node.
    pub fn peer(&self) -> &PartyId {
        match self.role {
            Role::Requester => &self.requested,
            Role::Requested => &self.requester,
        }
    }

    /// Applies a transition, or says why it is not allowed; the record is unchanged on error.
    pub fn apply(&mut self, t: &Transition, now: UtcMs) -> Result<(), LifecycleError> {
        let id = match t {
            Transition::Receipted { id } | Transition::Refused { id, .. } => *id,
        };
        if !self.messages.contains(&id) {
            return Err(LifecycleError::NotInCase(id, self.case_ref.clone()));
        }
        let opening = self.messages.first() == Some(&id);
        match (t, &self.state) {
            // A receipt for a later message does not move the request's state.
            (Transition::Receipted { .. }, _) if !opening => {}
            (Transition::Receipted { .. }, CaseState::Queued) => self.state = CaseState::Delivered,
            // A duplicate receipt (a retry that crossed the first) changes nothing.
            (Transition::Receipted { .. }, CaseState::Delivered) => {}
            (Transition::Refused { reason, .. }, CaseState::Queued) if opening => {
                self.state = CaseState::Failed {
                    reason: reason.clone(),
                }
            }
            (t, state) => {
                return Err(LifecycleError::NotAllowed {
                    case: self.case_ref.clone(),
                    state: state.name(),
                    what: match t {
                        Transition::Receipted { .. } => "a receipt",
                        Transition::Refused { .. } => "a refusal",
                    },
                })
            }
        }
        self.updated_at = now;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use poc247_protocol::PROTOCOL_VERSION;

    fn header() -> Header {
        let lu = PartyId::parse("LU").unwrap();
        Header {
            version: PROTOCOL_VERSION,
            id: MessageId::new(UtcMs(1)),
            from: lu.clone(),
            to: PartyId::parse("FR").unwrap(),
            created_at: UtcMs(1),
            case_ref: CaseRef::new(&lu, 2026, 1),
            in_reply_to: None,
            urgency: Urgency::Urgent,
            language: Language::parse("fr").unwrap(),
            exercise: false,
        }
    }

    #[test]
    fn both_sides_agree_once_the_request_is_receipted() {
        let h = header();
        let mut requester =
            CaseRecord::open(&h, MessageKind::Preservation, Role::Requester, UtcMs(1));
        let requested = CaseRecord::open(&h, MessageKind::Preservation, Role::Requested, UtcMs(2));
        assert_eq!(requester.state, CaseState::Queued);
        requester
            .apply(&Transition::Receipted { id: h.id }, UtcMs(3))
            .unwrap();
        assert_eq!(requester.state, requested.state);
        assert_eq!(requester.peer().as_str(), "FR");
        assert_eq!(requested.peer().as_str(), "LU");
        // A duplicate receipt is harmless.
        requester
            .apply(&Transition::Receipted { id: h.id }, UtcMs(4))
            .unwrap();
        assert_eq!(requester.state, CaseState::Delivered);
    }

    #[test]
    fn a_refused_request_fails_and_a_delivered_one_cannot_be_refused() {
        let h = header();
        let mut c = CaseRecord::open(&h, MessageKind::Preservation, Role::Requester, UtcMs(1));
        let other = MessageId::new(UtcMs(9));
        assert!(matches!(
            c.apply(&Transition::Receipted { id: other }, UtcMs(2)),
            Err(LifecycleError::NotInCase(..))
        ));
        let mut d = c.clone();
        c.apply(
            &Transition::Refused {
                id: h.id,
                reason: "bad-signature".into(),
            },
            UtcMs(2),
        )
        .unwrap();
        assert_eq!(c.state.name(), "failed");
        d.apply(&Transition::Receipted { id: h.id }, UtcMs(2))
            .unwrap();
        let before = d.clone();
        assert!(d
            .apply(
                &Transition::Refused {
                    id: h.id,
                    reason: "x".into()
                },
                UtcMs(3)
            )
            .is_err());
        assert_eq!(d, before);
    }
}
