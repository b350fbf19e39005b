//! The inbound gate, sans-IO: what a node decides about a frame a peer sent, before and
//! between its reads of the store. The node's receiver runs the three stages in order and does
//! the I/O between them:
//!
//! 1. [`authenticate`]: the frame decodes, speaks this protocol version, is signed as the Party
//!    the connection's certificate names, with that Party's key in the directory.
//! 2. The node looks the message id up: a message stored before gets the receipt it got the
//!    first time, whatever its age. Otherwise [`admit`]: addressed to this node, exercise
//!    traffic only on a drill node, created within the clock window.
//! 3. The node reads the case the message names, then [`check_body`]: whether it opens a case,
//!    its fields (alone, or in its case), what the directory says of a decision, and that a
//!    case is opened only by the Party whose reference it bears.
//!
//! Each refusal is a [`Rejection`] with the code and reason the peer is told.

use crate::lifecycle::CaseRecord;
use crate::window::Window;
use poc247_protocol::{
    FieldError, Header, MessageKind, PartyId, Rejection, RejectionCode, SignedEnvelope, UtcMs,
    VerifiedEnvelope, VerifyingKey, PROTOCOL_VERSION,
};

fn reject(code: RejectionCode, reason: impl Into<String>) -> Rejection {
    Rejection::new(code, reason)
}

/// Stage 1: the frame is a signed envelope of this protocol version, signed as `peer` (the
/// Party the connection's certificate names) with one of `peer_keys`, the keys the directory
/// lists for it (`None`: `peer` is not in the directory), valid when the message was made: a
/// key past its window is refused for new messages, with that reason.
pub fn authenticate(
    frame: &[u8],
    peer: &PartyId,
    peer_keys: Option<&[Window<VerifyingKey>]>,
) -> Result<VerifiedEnvelope, Rejection> {
    use RejectionCode::*;
    let signed = SignedEnvelope::from_bytes(frame)
        .map_err(|e| reject(BadFrame, format!("not a signed envelope: {e}")))?;
    let header = signed
        .unverified_header()
        .map_err(|e| reject(BadFrame, format!("header does not decode: {e}")))?;
    if header.version != PROTOCOL_VERSION {
        return Err(reject(
            UnsupportedVersion,
            format!("version {} is not {PROTOCOL_VERSION}", header.version),
        ));
    }
    if &header.from != peer {
        return Err(reject(
            BadSignature,
            format!("signed as {} but the connection is {peer}", header.from),
        ));
    }
    let Some(keys) = peer_keys else {
        return Err(reject(
            UnknownParty,
            format!("{peer} is not in the directory"),
        ));
    };
    for w in keys {
        match signed.verify(peer, &w.value) {
            Ok(v) => {
                if let Some(why) = w.outside(header.created_at) {
                    return Err(reject(
                        BadSignature,
                        format!(
                            "signed with {peer}'s key {}, {why}: not taken for a message made \
                             at {}",
                            poc247_protocol::fingerprint(&w.value),
                            header.created_at.rfc3339()
                        ),
                    ));
                }
                return Ok(v);
            }
            Err(poc247_protocol::EnvelopeError::BadSignature(_)) => continue,
            Err(e) => return Err(reject(BadFrame, e.to_string())),
        }
    }
    Err(reject(
        BadSignature,
        format!("signature does not verify against any key of {peer}"),
    ))
}

/// Where a frame arrives: which Party this node is, its clock, the window it allows for a
/// message's age, and whether it is a drill node.
#[derive(Debug, Clone, Copy)]
pub struct Gate<'a> {
    /// This node's Party.
    pub me: &'a PartyId,
    /// Now, by this node's clock.
    pub now: UtcMs,
    /// How far a message's creation may be from `now`, either way, in seconds.
    pub clock_skew_secs: u64,
    /// A drill node takes exercise traffic only.
    pub drill: bool,
}

/// Stage 2, for a message not seen before: addressed to this node, exercise traffic on a
/// drill node, created within the clock window.
pub fn admit(header: &Header, gate: &Gate<'_>) -> Result<(), Rejection> {
    use RejectionCode::*;
    if &header.to != gate.me {
        return Err(reject(
            WrongRecipient,
            format!("addressed to {}, this node is {}", header.to, gate.me),
        ));
    }
    if gate.drill && !header.exercise {
        return Err(reject(
            InvalidBody,
            format!(
                "{} is a drill node: it takes exercise traffic only",
                gate.me
            ),
        ));
    }
    let skew = gate.clock_skew_secs.saturating_mul(1000);
    if header.created_at.0.abs_diff(gate.now.0) > skew {
        return Err(reject(
            Stale,
            format!(
                "created at {} is outside ±{} s of the receiver's clock ({})",
                header.created_at.rfc3339(),
                gate.clock_skew_secs,
                gate.now.rfc3339()
            ),
        ));
    }
    Ok(())
}

/// Stage 3, with `existing`, the case the message names if it is stored here: whether the
/// message opens a case (`true`), after checking its fields. A request opens a case, except
/// spontaneous information sent in the case of its offer. `decision_problems` says what the
/// directory's declarations make wrong in a message of an existing case (art. 29(4): dual
/// criminality only from a Party that made the reservation); it is asked only then.
pub fn check_body(
    verified: &VerifiedEnvelope,
    existing: Option<&CaseRecord>,
    decision_problems: impl FnOnce() -> Vec<FieldError>,
) -> Result<bool, Rejection> {
    let header = verified.header();
    let body = verified.body();
    let kind = body.kind();
    let opens =
        kind.is_request() && !(kind == MessageKind::SpontaneousInformation && existing.is_some());
    let fields = match existing {
        Some(c) if !opens => body
            .validate_in_case(header.urgency, c.kind, c.context.traffic_data)
            .and_then(|()| {
                let broken = decision_problems();
                if broken.is_empty() {
                    Ok(())
                } else {
                    Err(broken)
                }
            }),
        _ => body.validate(header.urgency),
    };
    if let Err(fields) = fields {
        return Err(Rejection {
            code: RejectionCode::InvalidBody,
            reason: "mandatory fields missing or malformed".into(),
            fields,
        });
    }
    if opens && header.case_ref.opener() != header.from {
        return Err(reject(
            RejectionCode::InvalidBody,
            format!("case {} was not opened by {}", header.case_ref, header.from),
        ));
    }
    Ok(opens)
}
