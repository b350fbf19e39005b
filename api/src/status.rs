//! `GET /v1/status`: the node at a glance, with its certificates and the figures of
//! `/metrics` shaped for a person.

use poc247_protocol::PartyId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The answer of `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// This node's Party.
    pub party: PartyId,
    /// The node's version.
    pub version: String,
    /// A development network's node (dev CA accepted).
    pub dev: bool,
    /// The QUIC address it listens on.
    pub listen: Option<String>,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// Seconds since.
    pub uptime_s: u64,
    /// Its signing key's fingerprint.
    pub signing_key: String,
    /// Messages stored.
    pub messages: usize,
    /// Cases stored.
    pub cases: usize,
    /// Cases waiting for this node's officers.
    pub inbox: usize,
    /// Messages waiting for delivery.
    pub outbox_queued: usize,
    /// `ok`, or `failed` from a write that failed at the disk until the store is reopened.
    pub store: String,
    /// The hook's health; `None` without a hook.
    pub hook: Option<HookHealth>,
    /// The signed directory version in force; `None` until one was applied here.
    pub directory_version: Option<DirectoryVersion>,
    /// A drill node's clock; `None` on a real node.
    pub drill: Option<DrillClock>,
    /// The directory's other Parties.
    pub peers: Vec<StatusPeer>,
    /// The node's own certificate and those its peers presented.
    pub certificates: Vec<Certificate>,
    /// The size limits of attached files.
    pub attachments: AttachmentLimits,
    /// The figures of `/metrics` since start.
    pub metrics: MetricsSummary,
}

/// The hook's health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookHealth {
    /// It gave up on an event and no run succeeded since.
    pub failing: bool,
    /// Since when (RFC 3339).
    pub failing_since: Option<String>,
    /// Why its last run failed.
    pub last_error: Option<String>,
    /// Events it gave up on since start.
    pub events_failed: u64,
}

/// The signed directory version in force, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DirectoryVersion {
    /// The version in force.
    InForce {
        /// Its serial.
        serial: u64,
        /// When the registry issued it (RFC 3339).
        issued_at: String,
        /// When the registry's next version is due (RFC 3339).
        next_update: String,
        /// That time has passed: the node keeps serving with this one.
        next_update_passed: bool,
    },
    /// The kept version could not be read.
    Unreadable {
        /// Why.
        error: String,
    },
}

/// A drill node's clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrillClock {
    /// How far ahead of the real clock.
    pub clock_offset_ms: u64,
    /// The node's time (RFC 3339).
    pub now: String,
}

/// One of the directory's other Parties.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusPeer {
    /// The Party.
    pub party: PartyId,
    /// Its point of contact's name.
    pub name: String,
    /// A connection is open.
    pub connected: bool,
}

/// One certificate's expiry (`status`, `peers`, a reload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    /// Whose certificate.
    pub party: PartyId,
    /// This node's own.
    pub own: bool,
    /// When it expires (RFC 3339).
    pub not_after: String,
    /// When it expires (Unix ms).
    pub not_after_ms: u64,
    /// Whole days left.
    pub days_left: i64,
    /// It expires within 30 days, or has expired.
    pub warning: bool,
}

/// The size limits of attached files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentLimits {
    /// One file.
    pub max_file_bytes: u64,
    /// All the files of a case.
    pub max_case_bytes: u64,
}

/// The figures of `/metrics` since start, shaped for a person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsSummary {
    /// Since when (RFC 3339).
    pub since: String,
    /// Outbound messages.
    pub messages_out: MessagesOut,
    /// Inbound messages.
    pub messages_in: MessagesIn,
    /// Queued → verified receipt stored.
    pub delivery_latency: Latency,
    /// The peers with messages waiting.
    pub queue: Vec<QueueDepth>,
    /// Deadlines due and not met, by track.
    pub overdue: BTreeMap<String, u64>,
    /// Peers connected.
    pub peers_connected: usize,
    /// Peers of the directory.
    pub peers: usize,
}

/// Outbound messages since start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagesOut {
    /// Queued.
    pub queued: u64,
    /// Delivered.
    pub delivered: u64,
    /// Failed.
    pub failed: u64,
}

/// Inbound messages since start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagesIn {
    /// Received.
    pub received: u64,
    /// Rejected.
    pub rejected: u64,
}

/// Delivery latency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Deliveries measured.
    pub count: u64,
    /// Their mean, in seconds.
    pub mean_s: Option<f64>,
    /// The histogram bound under which half fell (`None`: none yet, or above one hour).
    pub p50_le_s: Option<f64>,
    /// The bound under which 95 % fell.
    pub p95_le_s: Option<f64>,
}

/// One peer's queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueDepth {
    /// The peer.
    pub peer: PartyId,
    /// Messages waiting.
    pub depth: usize,
    /// The oldest one's queuing time (RFC 3339).
    pub oldest_undelivered: Option<String>,
}
