//! The audit log's records: who did what to which case, chained by SHA-256 and checkpointed
//! with the node's signature. Entries hold ids and event names, never a request's text.

use poc247_protocol::{
    codec, CaseRef, MessageId, PartyId, Signature64, SigningKey, UtcMs, VerifyingKey,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The domain separator of checkpoint signatures.
pub const CHECKPOINT_DOMAIN: &[u8] = b"poc247/v1/audit-checkpoint\0";

/// A checkpoint is signed every this many entries (and at shutdown).
pub const CHECKPOINT_EVERY: u64 = 1000;

/// Who did something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// A local user, by the uid of the control-socket connection.
    Local {
        /// The uid, if the kernel told it.
        uid: Option<u32>,
    },
    /// A peer Party's node.
    Peer(PartyId),
    /// The node itself (timers, retries, shutdown).
    Node,
}

/// What is recorded of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// When.
    pub at: UtcMs,
    /// Who.
    pub actor: Actor,
    /// The event's name (`queued`, `received`, `delivered`, `case_read`, …).
    pub event: String,
    /// The case.
    pub case_ref: Option<CaseRef>,
    /// The message.
    pub message_id: Option<MessageId>,
}

/// One entry of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position, from 1.
    pub seq: u64,
    /// When.
    pub at: UtcMs,
    /// Who.
    pub actor: Actor,
    /// What.
    pub event: String,
    /// The case.
    pub case_ref: Option<CaseRef>,
    /// The message.
    pub message_id: Option<MessageId>,
    /// SHA-256 of the previous entry's encoding (zeros for the first).
    pub prev: [u8; 32],
}

impl AuditEntry {
    /// The entry following a head `(seq, hash)`.
    pub fn next(head: (u64, [u8; 32]), r: &AuditRecord) -> Self {
        AuditEntry {
            seq: head.0 + 1,
            at: r.at,
            actor: r.actor.clone(),
            event: r.event.clone(),
            case_ref: r.case_ref.clone(),
            message_id: r.message_id,
            prev: head.1,
        }
    }
}

/// SHA-256 of bytes.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// A signed statement of the chain's head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The head's position.
    pub seq: u64,
    /// The head's hash.
    pub head: [u8; 32],
    /// When it was signed.
    pub at: UtcMs,
    /// The node's signature over `CHECKPOINT_DOMAIN || bincode((seq, head, at))`.
    pub signature: Signature64,
}

impl Checkpoint {
    /// Signs a head.
    pub fn sign(
        seq: u64,
        head: [u8; 32],
        at: UtcMs,
        key: &SigningKey,
    ) -> Result<Self, codec::CodecError> {
        let bytes = codec::encode(&(seq, head, at))?;
        Ok(Checkpoint {
            seq,
            head,
            at,
            signature: poc247_protocol::signature::sign(key, CHECKPOINT_DOMAIN, &bytes),
        })
    }
    /// Checks the signature.
    pub fn verify(&self, key: &VerifyingKey) -> bool {
        codec::encode(&(self.seq, self.head, self.at))
            .map(|b| {
                poc247_protocol::signature::verify(key, CHECKPOINT_DOMAIN, &b, &self.signature)
            })
            .unwrap_or(false)
    }
}

/// The result of checking the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Entries read.
    pub entries: u64,
    /// Checkpoints checked.
    pub checkpoints: u64,
    /// The first position where the chain is broken, and how.
    pub broken: Option<Break>,
}

/// Where and how the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    /// The position.
    pub seq: u64,
    /// What is wrong there.
    pub problem: String,
}
