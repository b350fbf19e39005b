//! Node events: every state change a person or a script may want to follow, published on an
//! in-process broadcast channel (the seam for the event stream, the hook and the audit log).
//! Events carry ids, kinds and outcomes, never a request's text.

use poc247_protocol::{CaseRef, MessageId, MessageKind, PartyId, UtcMs};
use serde::{Deserialize, Serialize};

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum EventKind {
    /// An outbound message was stored and queued.
    Queued,
    /// A verified receipt for an outbound message was stored.
    Delivered {
        /// Fingerprint of the key that signed the receipt.
        receiver_key: String,
    },
    /// The peer refused an outbound message for good.
    DeliveryFailed {
        /// Rejection code and reason.
        reason: String,
    },
    /// An inbound message was stored and receipted.
    Received,
    /// An inbound frame was refused.
    Rejected {
        /// The rejection code.
        code: String,
    },
    /// A peer connected (inbound or outbound).
    PeerConnected,
    /// An officer closed a case.
    Closed,
    /// An officer recorded a request that came by another channel.
    Recorded,
    /// A deadline fell due (each fires once).
    Deadline {
        /// The track (`acknowledgement`, `delivery`, `formal_confirmation`, `preservation`,
        /// `legal_cap`, `respond_by`, `retention`, `answer`).
        track: crate::tracks::Track,
        /// Which deadline of the track (`acknowledgement_overdue`, `preservation_reminder_14d_…`).
        label: String,
        /// When it was due.
        due: UtcMs,
        /// Who owes what is due.
        owed_by: PartyId,
        /// An unacknowledged request past its SLA: page someone.
        escalation: bool,
    },
    /// A case (or one message's content) was purged.
    Purged,
    /// An attachment a peer sent (listed by the message `message_id`) was verified against its
    /// SHA-256, stored, recorded and flushed, and its receipt signed.
    AttachmentReceived {
        /// The file's SHA-256, 64 lowercase hexadecimal digits.
        sha256: String,
        /// Its size in bytes.
        size: u64,
    },
    /// The peer's receipt for an attachment this node sent was verified and stored.
    AttachmentDelivered {
        /// The file's SHA-256.
        sha256: String,
        /// Its size in bytes.
        size: u64,
        /// Fingerprint of the key that signed the receipt.
        receiver_key: String,
    },
    /// The peer refused an attachment this node sent for good (not a transient failure, which
    /// is retried).
    AttachmentFailed {
        /// The file's SHA-256.
        sha256: String,
        /// Its size in bytes.
        size: u64,
        /// Why: the rejection code and the peer's reason, or this node's.
        reason: String,
    },
    /// A certificate, this node's or a peer's, expires within 30 days (or has expired): at
    /// start, on reload, once a day, and when a peer presents a new one.
    CertificateExpiring {
        /// Whose certificate.
        party: PartyId,
        /// Whole days left (negative once expired).
        days: i64,
        /// When it expires.
        not_after: UtcMs,
    },
    /// An officer recorded that the person concerned by a tracing was informed (CIC 67-1).
    Notified,
    /// A signed directory version was refused; the one in force stays.
    DirectoryRefused {
        /// Its serial (0 when it did not read).
        serial: u64,
        /// Why.
        reason: String,
    },
    /// The signed directory version in force is past its next update and no newer one reached
    /// this node: it keeps serving with this one. Once per version.
    DirectoryOverdue {
        /// The serial in force.
        serial: u64,
        /// When the registry said the next version would come.
        next_update: UtcMs,
    },
    /// The hook gave up on an event after its retries: the alarm path raises its own alarm.
    /// Never passed to the hook itself.
    HookFailed {
        /// The event the hook could not take (its `seq`).
        event_seq: u64,
        /// Its type.
        event_type: String,
        /// Runs tried.
        runs: u32,
        /// Why the last run failed: its exit status, the time-out, or why it could not start.
        reason: String,
    },
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeEvent {
    /// Sequence number (the SSE event id): increasing across restarts, never given twice;
    /// numbers may be skipped (see `docs/events.md`).
    pub seq: u64,
    /// When.
    pub at: UtcMs,
    /// What.
    #[serde(flatten)]
    pub kind: EventKind,
    /// The case, if any.
    pub case_ref: Option<CaseRef>,
    /// The message, if any.
    pub message_id: Option<MessageId>,
    /// The message kind, if any.
    pub message_kind: Option<MessageKind>,
    /// The peer concerned, if any.
    pub peer: Option<PartyId>,
    /// The kind of the case's request, for an event about a case: what a pager filters on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_kind: Option<MessageKind>,
    /// The urgency of the case, for an event about a case (`emergency`, `urgent`, `normal`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urgency: Option<poc247_protocol::Urgency>,
}

impl EventKind {
    /// Its `type` in JSON (`queued`, `delivery_failed`, …).
    pub fn name(&self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.get("type")?.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}
