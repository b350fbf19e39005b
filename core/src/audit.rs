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

/// The domain separator of a key link's signature.
pub const KEY_LINK_DOMAIN: &[u8] = b"poc247/v1/signing-key-link\0";

/// One link of the node's own signing-key history: from audit position `from_seq` on, the
/// node signs with `new` (after `old`, if any). The link is signed by `new`, which the node
/// holds when it starts with it, so a rollover needs no old key (it may be lost), and nobody
/// without one of the node's keys can add a key: the chain must end at the key in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyLink {
    /// Its position in the history (0: the first key this store knew).
    pub index: u64,
    /// The key it follows.
    pub old: Option<[u8; 32]>,
    /// The key from here on.
    pub new: [u8; 32],
    /// The first audit position signed with `new` (checkpoints from one entry before it, the
    /// position signed at shutdown with the old key and again at start, are accepted with
    /// either).
    pub from_seq: u64,
    /// `new`'s signature over `KEY_LINK_DOMAIN || bincode((index, old, new, from_seq))`.
    pub signature: Signature64,
}

impl KeyLink {
    /// Links `key` after `old` from audit position `from_seq`.
    pub fn sign(
        index: u64,
        old: Option<[u8; 32]>,
        from_seq: u64,
        key: &SigningKey,
    ) -> Result<Self, codec::CodecError> {
        let new = key.verifying_key().to_bytes();
        let bytes = codec::encode(&(index, old, new, from_seq))?;
        Ok(KeyLink {
            index,
            old,
            new,
            from_seq,
            signature: poc247_protocol::signature::sign(key, KEY_LINK_DOMAIN, &bytes),
        })
    }

    fn signed(&self) -> bool {
        let Ok(key) = VerifyingKey::from_bytes(&self.new) else {
            return false;
        };
        codec::encode(&(self.index, self.old, self.new, self.from_seq))
            .map(|b| poc247_protocol::signature::verify(&key, KEY_LINK_DOMAIN, &b, &self.signature))
            .unwrap_or(false)
    }
}

/// The keys of a checked key history with the audit positions each may sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHistory(Vec<(VerifyingKey, u64, u64)>);

impl KeyHistory {
    /// Checks `links` (in index order): each signed by its key, each following the one
    /// before, the last being `current`. A store from before key histories has none: then
    /// `current` signs everything.
    pub fn check(links: &[KeyLink], current: &VerifyingKey) -> Result<KeyHistory, String> {
        if links.is_empty() {
            return Ok(KeyHistory(vec![(*current, 0, u64::MAX)]));
        }
        let mut out: Vec<(VerifyingKey, u64, u64)> = Vec::new();
        for (i, l) in links.iter().enumerate() {
            let prev = i.checked_sub(1).map(|p| links[p].new);
            if l.index != i as u64 || l.old != prev || !l.signed() {
                return Err(format!("link {i} of the signing-key history is not valid"));
            }
            let key = VerifyingKey::from_bytes(&l.new)
                .map_err(|_| format!("link {i} of the signing-key history holds no key"))?;
            if let Some(last) = out.last_mut() {
                last.2 = l.from_seq;
            }
            out.push((key, l.from_seq.saturating_sub(1), u64::MAX));
        }
        if out.last().map(|k| k.0) != Some(*current) {
            return Err("the node's signing key is not the last of its key history".into());
        }
        Ok(KeyHistory(out))
    }

    /// Whether `c` is signed by the key in force at its position.
    pub fn signed(&self, c: &Checkpoint) -> bool {
        self.0
            .iter()
            .any(|(k, from, to)| c.seq >= *from && c.seq <= *to && c.verify(k))
    }
}

/// The result of checking the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// Entries read.
    pub entries: u64,
    /// Checkpoints checked.
    pub checkpoints: u64,
    /// The first position where the chain is broken, and how.
    pub broken: Option<Break>,
}

/// Where and how the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Break {
    /// The position.
    pub seq: u64,
    /// What is wrong there.
    pub problem: String,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn checkpoint(seq: u64, key: &SigningKey) -> Checkpoint {
        Checkpoint::sign(seq, [7; 32], UtcMs(1), key).unwrap()
    }

    #[test]
    fn a_key_history_accepts_each_key_for_its_positions_and_no_key_added_by_another() {
        let (k0, k1, intruder) = (
            SigningKey::from_bytes(&[1; 32]),
            SigningKey::from_bytes(&[2; 32]),
            SigningKey::from_bytes(&[3; 32]),
        );
        let l0 = KeyLink::sign(0, None, 0, &k0).unwrap();
        let l1 = KeyLink::sign(1, Some(l0.new), 11, &k1).unwrap();
        let h = KeyHistory::check(&[l0.clone(), l1.clone()], &k1.verifying_key()).unwrap();
        assert!(
            h.signed(&checkpoint(10, &k0)),
            "the old key, at its positions"
        );
        assert!(
            h.signed(&checkpoint(20, &k1)),
            "the new key, from its link on"
        );
        assert!(
            !h.signed(&checkpoint(20, &k0)),
            "not the old key after the change"
        );
        assert!(!h.signed(&checkpoint(5, &k1)), "not the new key before it");
        // The history must end at the key in force.
        assert!(KeyHistory::check(std::slice::from_ref(&l0), &k1.verifying_key()).is_err());
        // A link the intruder signs for its own key cannot end at the node's key; a link it
        // forges for the node's key does not verify.
        let forged = KeyLink {
            old: Some(intruder.verifying_key().to_bytes()),
            ..l1.clone()
        };
        let mine = KeyLink::sign(0, None, 0, &intruder).unwrap();
        assert!(KeyHistory::check(&[mine, forged], &k1.verifying_key()).is_err());
        // No history (a store from before them): the key in force signs everything.
        assert!(KeyHistory::check(&[], &k0.verifying_key())
            .unwrap()
            .signed(&checkpoint(3, &k0)));
    }
}
