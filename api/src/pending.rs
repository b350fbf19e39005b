//! `GET /v1/pending`: every open obligation, soonest first, after the node's own alarms.

use poc247_core::tracks::Track;
use poc247_protocol::{CaseRef, PartyId};
use serde::{Deserialize, Serialize};

/// The answer of `GET /v1/pending`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The node's time (RFC 3339).
    pub now: String,
    /// What the node itself needs fixed, whatever the filters.
    pub alarms: Vec<Alarm>,
    /// How many items match, before the limit.
    pub total: usize,
    /// The items, soonest first.
    pub pending: Vec<PendingItem>,
    /// The cursor of the next page (`cursor=`), `null` on the last one.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// Something the node itself needs fixed (today: a hook that gave up on an event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alarm {
    /// `hook_failing`.
    pub alarm: String,
    /// Since when (RFC 3339).
    pub since: String,
    /// What is wrong, for a person.
    pub what: String,
    /// What settles it.
    pub settle: String,
}

/// One obligation of a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingItem {
    /// The case.
    pub case_ref: CaseRef,
    /// What the deadline is about.
    pub track: Track,
    /// Its label, unique within the case.
    pub label: String,
    /// When it is due (RFC 3339).
    pub due: String,
    /// When it is due (Unix ms).
    pub due_ms: u64,
    /// It is due already.
    pub overdue: bool,
    /// Who owes it.
    pub owed_by: PartyId,
    /// This node's Party owes it.
    pub owed_by_us: bool,
    /// What is owed, for a person.
    pub what: String,
    /// The command that settles it.
    pub settle: String,
    /// Overdue, it is an escalation.
    pub escalation: bool,
    /// Training traffic.
    pub exercise: bool,
}
