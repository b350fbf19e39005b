//! The answers of the operator's and the feeds' endpoints, and of the actions that send no
//! message (`purge`, `resend`): `GET /v1/peers`, `POST /v1/peers/reload` and
//! `POST /v1/directory`, `GET /v1/stats`, `GET /v1/audit` and `GET /v1/audit/verify`,
//! `POST /v1/uploads`, `POST /v1/drill/advance`, and one event of `GET /v1/events`
//! ([`Event`], the core's own type). Members in the order docs/api.md shows them.

use crate::status::Certificate;
use poc247_core::audit::Actor;
use poc247_protocol::{CaseRef, MessageId, MessageKind, PartyId};
use serde::{Deserialize, Serialize};

pub use poc247_core::events::{EventKind, NodeEvent as Event};

/// `GET /v1/stats`: content-free statistics of a period (docs/events.md), the core's own
/// type: [`Stats`] with its period ([`StatsPeriod`]), its counts by kind, role, state and
/// outcome ([`StatsCount`]), its latency percentiles ([`StatsLatency`]) and its overdue
/// acknowledgements ([`StatsOverdue`]).
pub use poc247_core::stats::{
    CountRow as StatsCount, LatencyRow as StatsLatency, OverdueRow as StatsOverdue,
    PeriodView as StatsPeriod, Stats,
};

/// `GET /v1/audit/verify`: the hash chain and the signed checkpoints checked, the core's own
/// type ([`AuditVerification`]; where and how the chain is broken: [`AuditBreak`]).
pub use poc247_core::audit::{Break as AuditBreak, Verification as AuditVerification};

/// `GET /v1/peers`: the directory in force and every peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerList {
    /// The directory file in force.
    pub directory: DirectorySource,
    /// Every other party of the directory, and any party no longer in it still owed a
    /// queued message.
    pub peers: Vec<PeerView>,
}

/// The directory file in force, as `GET /v1/peers` names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectorySource {
    /// Its path.
    pub file: String,
    /// When it was put in force (RFC 3339).
    pub loaded_at: String,
    /// Parties it lists.
    pub parties: u64,
}

/// One peer of `GET /v1/peers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerView {
    /// The Party.
    pub party: PartyId,
    /// Its name in the directory (`null` once it left it).
    pub name: Option<String>,
    /// Whether the directory in force lists it.
    pub in_directory: bool,
    /// Its addresses in the directory.
    pub addresses: Vec<String>,
    /// Its signing key's fingerprint in the directory.
    pub signing_key: Option<String>,
    /// Whether a connection to it is open.
    pub connected: bool,
    /// When it was last seen (RFC 3339).
    pub last_seen: Option<String>,
    /// Why the last attempt to reach it failed, until it is seen again.
    #[serde(default)]
    pub last_error: Option<String>,
    /// Messages queued for it.
    pub queue_depth: u64,
    /// When the oldest of them was queued (RFC 3339).
    pub oldest_undelivered: Option<String>,
    /// How long ago, in seconds.
    pub oldest_undelivered_age_s: Option<u64>,
    /// The certificate it presented since start.
    pub certificate: Option<Certificate>,
}

/// `POST /v1/peers/reload` (and `POST /v1/directory`, with `serial`): what the reload did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reloaded {
    /// The directory file read.
    pub directory: String,
    /// Parties it lists.
    pub parties: u64,
    /// Parties that were not listed before.
    pub added: Vec<PartyId>,
    /// Parties no longer listed.
    pub removed: Vec<PartyId>,
    /// Parties whose entry changed.
    pub changed: Vec<PartyId>,
    /// Of those, the ones whose certificate pins changed.
    pub repinned: Vec<PartyId>,
    /// Connections closed.
    pub connections_closed: u64,
    /// Queued messages to removed parties, now failed.
    pub failed: Vec<FailedMessage>,
    /// This node's certificate as now in force.
    pub certificate: Option<Certificate>,
    /// What could not be done once the new directory was in force.
    pub warnings: Vec<String>,
    /// The signed directory version put in force (`POST /v1/directory` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<u64>,
}

/// A queued message marked failed because its peer left the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedMessage {
    /// The message.
    pub message_id: MessageId,
    /// Its case.
    pub case_ref: CaseRef,
    /// Its kind.
    pub kind: MessageKind,
    /// The party it was for.
    pub peer: PartyId,
    /// Why.
    pub reason: String,
}

/// `GET /v1/audit`: a page of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    /// The entries, in order.
    pub entries: Vec<AuditEntryView>,
    /// The cursor of the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// One entry of the audit log: who did what to which case or message, never the content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntryView {
    /// Its position.
    pub seq: u64,
    /// When (RFC 3339).
    pub at: String,
    /// Who: `{ "local": { "uid" } }`, `{ "peer": "FR" }` or `"node"`.
    pub actor: Actor,
    /// What (`queued:preservation`, `delivered`, `closed:<note>` …).
    pub event: String,
    /// The case, if any.
    pub case_ref: Option<CaseRef>,
    /// The message, if any.
    pub message_id: Option<MessageId>,
    /// The SHA-256 of the entry before, in hex.
    pub prev: String,
}

/// `POST /v1/uploads`: 201, the file held for one submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uploaded {
    /// Its SHA-256 (lowercase hex): what a submission lists as `{ "upload": … }`.
    pub upload: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its name.
    pub name: String,
    /// When it is deleted if no submission listed it (RFC 3339).
    pub keep_until: String,
}

/// `purge`: 200 `{ case_ref, purged: true }`, or for a dry run `{ case_ref, dry_run: true,
/// purged: false, would_purge, messages }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeAnswer {
    /// The case.
    pub case_ref: CaseRef,
    /// `true` for a dry run; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// Whether anything was erased.
    pub purged: bool,
    /// What the purge would erase (a dry run only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub would_purge: Option<String>,
    /// The messages whose content it would erase (a dry run only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<MessageId>>,
}

/// `resend`: 200, the message queued again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resent {
    /// The case.
    pub case_ref: CaseRef,
    /// The message.
    pub message_id: MessageId,
    /// `queued`.
    pub delivery: String,
    /// Why it had failed.
    pub had_failed: String,
}

/// `POST /v1/drill/advance`: 200, the drill clock moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrillMoved {
    /// The node's Party.
    pub party: PartyId,
    /// How far this call moved it.
    pub moved_ms: u64,
    /// How far ahead of the real clock it is now.
    pub clock_offset_ms: u64,
    /// The drill clock's time now (RFC 3339).
    pub now: String,
}
