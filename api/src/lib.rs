//! The control API's bodies as Rust types, one definition for both ends: the node's routes
//! serialise their answers through them and the `poc247` command line reads the answers into
//! them. The JSON each gives is the one docs/api.md documents, member for member and in the
//! same order; a test against a live node (`tests/tests/api_doc.rs`) holds it.
//!
//! - [`error`]: the one error body, `{ "error": { "code", "message", "fields" } }`;
//! - [`cases`]: a case's summary, the case listing, the answers of an action;
//! - [`pending`]: `GET /v1/pending`;
//! - [`bodies`]: the request bodies (a purge, a close, a record, a drill's move …), each read
//!   by a function that names every member at fault;
//! - [`answers`]: peers and a reload, stats, the audit log, an upload, a purge, a resend, a
//!   drill's move, an event;
//! - [`status`]: `GET /v1/status`, with the certificates and the metrics summary;
//! - `client` (feature `client`): a client of the control socket, for the CLI, the bench and
//!   the tests; the only module that does I/O (tokio, hyper), and the node does not take it;
//! - [`ACTIONS`]: the one table of the actions on a case (`POST /v1/cases/{case}/{action}`),
//!   whose API names are the CLI's commands.
//!
//! Times are RFC 3339 text as on the wire. A listing's members are structs with named fields,
//! so that a member added later (a paging cursor) is one more field.

pub mod answers;
pub mod bodies;
pub mod cases;
#[cfg(feature = "client")]
pub mod client;
pub mod error;
pub mod pending;
pub mod status;

pub use answers::{
    AuditBreak, AuditEntryView, AuditPage, AuditVerification, DirectorySource, DrillMoved, Event,
    EventKind, FailedMessage, PeerList, PeerView, PurgeAnswer, Reloaded, Resent, Stats, StatsCount,
    StatsLatency, StatsOverdue, StatsPeriod, Uploaded,
};
pub use bodies::{
    ActionBody, AttachmentRef, BodyError, DrillMove, ExternalRecord, NoteBody, NoteFields,
    PurgeBody, PurgeFields, PurgeTarget, ReceivedAt, Recipients, RecordBody, RequestBody,
    ResendBody, ResendFields, SendMode,
};
pub use cases::{
    AttachmentTransfer, CaseAnswer, CaseList, CaseSummary, CaseView, Direction, DryRun,
    ExternalRecordView, MessageContent, MessageView, ReceiptView, Submitted, SubmittedCases,
    WouldSend,
};
pub use error::{ErrorBody, ErrorDetail};
pub use pending::{Alarm, Pending, PendingItem};
pub use poc247_core::lifecycle::{MlaBasis, Role};
pub use poc247_core::tracks::Track;
pub use poc247_protocol::{Action, ACTIONS};
pub use status::{
    AttachmentLimits, Certificate, DirectoryVersion, DrillClock, HookHealth, Latency, MessagesIn,
    MessagesOut, MetricsSummary, QueueDepth, Status, StatusPeer,
};

/// Reads an answer of the API into its type, or says which member did not read (`path:
/// what`), for a caller that must tell a person the node's answer was not understood.
pub fn read<T: serde::de::DeserializeOwned>(body: &serde_json::Value) -> Result<T, String> {
    T::deserialize(body).map_err(|e| e.to_string())
}
