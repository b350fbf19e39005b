//! Cases: one case's summary (`GET /v1/cases`, and the head of `GET /v1/cases/{case}`), the
//! listing, and what a request or an action answers.

use poc247_core::lifecycle::{MlaBasis, Role};
use poc247_protocol::{CaseRef, Date, Language, MessageId, MessageKind, Outcome, PartyId, Urgency};
use serde::{Deserialize, Serialize};

/// A case without its messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseSummary {
    /// Its reference.
    pub case_ref: CaseRef,
    /// The kind of the request that opened it.
    pub kind: MessageKind,
    /// This node's side.
    pub role: Role,
    /// The requesting Party.
    pub requester: PartyId,
    /// The requested Party.
    pub requested: PartyId,
    /// The other Party.
    pub peer: PartyId,
    /// Its urgency.
    pub urgency: Urgency,
    /// Its language.
    pub language: Language,
    /// Training traffic.
    pub exercise: bool,
    /// Its state's name (`queued`, `acknowledged`, `decided` …).
    pub state: String,
    /// Why it failed, or what it waits for.
    pub failure_reason: Option<String>,
    /// The decision's outcome, once decided.
    pub outcome: Option<Outcome>,
    /// When it was opened (RFC 3339).
    pub opened_at: String,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
    /// How many messages it holds.
    pub messages: usize,
    /// When the requested Party acknowledged it.
    pub acknowledged_at: Option<String>,
    /// When it was decided.
    pub decided_at: Option<String>,
    /// For an executed preservation: until when the data are kept.
    pub preserved_until: Option<Date>,
    /// The preservation was released.
    pub released: bool,
    /// The formal confirmation's message (BC 25(3)).
    pub confirmation: Option<MessageId>,
    /// The requested Party requires a formal confirmation.
    pub confirmation_required: bool,
    /// Whether arts. 27–28 apply between the two Parties.
    pub mla_basis: MlaBasis,
    /// Questions asked and not yet answered.
    pub open_info_requests: Vec<MessageId>,
    /// Conditions awaiting the requester's reply.
    pub pending_conditions: Option<MessageId>,
    /// The mutual-assistance request following this preservation.
    pub follow_up_mla: Option<CaseRef>,
    /// The preservation this request follows.
    pub preservation_case: Option<CaseRef>,
    /// The copy sent to the own central authority (BC 27(9)(a)).
    pub copy_case: Option<CaseRef>,
    /// The case this one is a copy of.
    pub copy_of: Option<CaseRef>,
    /// Sent in a language the recipient does not list.
    pub language_override: bool,
    /// Warnings shown to the officers.
    pub warnings: Vec<String>,
    /// A request recorded from another channel.
    pub recorded_external: Option<ExternalRecordView>,
}

/// A request that came by another channel, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalRecordView {
    /// `phone`, `fax`, `email`, `interpol_i247`, `other`.
    pub channel: String,
    /// When it came (RFC 3339).
    pub received_at: String,
    /// What it asked, in a few words.
    pub summary: String,
    /// SHA-256 of the document received, hex.
    pub document_sha256: Option<String>,
    /// An oral request.
    pub oral: bool,
}

/// `GET /v1/cases`: a page of cases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseList {
    /// The cases of this page.
    pub cases: Vec<CaseSummary>,
    /// Where the next page starts, if there is one.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// A message stored and queued: the answer of `POST /v1/requests` (one per case) and of an
/// action that sends a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submitted {
    /// Its case.
    pub case_ref: CaseRef,
    /// Its message id.
    pub message_id: MessageId,
    /// Its kind.
    pub kind: MessageKind,
    /// To whom.
    pub to: PartyId,
    /// The case's state now.
    pub state: String,
    /// Warnings for the officer.
    pub warnings: Vec<String>,
}

/// `POST /v1/requests` to several Parties: one case each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmittedCases {
    /// Each case opened.
    pub cases: Vec<Submitted>,
}

/// What `close` and `notified` answer: the case and its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseAnswer {
    /// The case.
    pub case_ref: CaseRef,
    /// Its state now.
    pub state: String,
    /// `notified` only: the notice was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notified: Option<bool>,
}

/// `GET /v1/cases/{case}`: the case with every message, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseView {
    /// The case.
    #[serde(flatten)]
    pub case: CaseSummary,
    /// Its messages, oldest first.
    pub timeline: Vec<MessageView>,
}

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Received from the peer.
    Inbound,
    /// Sent (or recorded) here.
    Outbound,
}

/// One message of a case's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageView {
    /// Its id.
    pub id: MessageId,
    /// Its kind.
    pub kind: MessageKind,
    /// Which way it went.
    pub direction: Direction,
    /// From whom.
    pub from: PartyId,
    /// To whom.
    pub to: PartyId,
    /// When its sender made it (RFC 3339).
    pub created_at: String,
    /// When this node stored it (RFC 3339).
    pub stored_at: String,
    /// `queued`, `delivered`, `received`, `failed`, `recorded`.
    pub delivery: String,
    /// Why its delivery failed.
    pub failure_reason: Option<String>,
    /// Its content was purged on an officer's order.
    pub purged: bool,
    /// The receiver's signed receipt, once stored.
    pub receipt: Option<ReceiptView>,
    /// Its header and body; absent once purged.
    #[serde(flatten)]
    pub content: Option<MessageContent>,
    /// The state of each file it lists.
    #[serde(default)]
    pub attachment_transfers: Vec<AttachmentTransfer>,
}

/// A message's header and body, as its envelope says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageContent {
    /// The body's fields (docs/requests.md): the protocol's `Body` of the message's kind, as
    /// JSON; `Body::from_json` reads it.
    pub body: serde_json::Map<String, serde_json::Value>,
    /// Training traffic.
    pub exercise: bool,
    /// The message it answers.
    pub in_reply_to: Option<MessageId>,
    /// Its language.
    pub language: Language,
    /// Its urgency.
    pub urgency: Urgency,
}

impl MessageContent {
    /// The body as the protocol's type, checked against `kind`.
    pub fn body_of(&self, kind: MessageKind) -> Option<poc247_protocol::Body> {
        poc247_protocol::Body::from_json(kind, serde_json::Value::Object(self.body.clone())).ok()
    }
}

/// A receipt as the case shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptView {
    /// Who signed it.
    pub receiver: PartyId,
    /// When the receiver stored the message (RFC 3339).
    pub received_at: String,
    /// The SHA-256 of the envelope it acknowledges, hex.
    pub envelope_sha256: String,
    /// The fingerprint of the key that signed it.
    pub receiver_key: Option<String>,
    /// Its signature checks with a key of the receiver.
    pub verified: bool,
}

/// The state of one file a message lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentTransfer {
    /// The file's SHA-256, hex.
    pub sha256: String,
    /// `received`, `receiving`, `stored`, `delivered`, `sending`, `waiting`, `refused`, `purged`.
    pub state: String,
}

/// A dry run's answer: what would be sent, checked, with nothing stored (`POST /v1/requests`,
/// an action, `close`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DryRun {
    /// The case, for an action on one (`close`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_ref: Option<CaseRef>,
    /// Always `true`.
    pub dry_run: bool,
    /// The case's state once done, for `close`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Every warning of every message.
    pub warnings: Vec<String>,
    /// Each message it would send.
    pub messages: Vec<WouldSend>,
}

/// A message as it would be sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WouldSend {
    /// Its case (`None` for a new request: a reference is given when it is stored).
    pub case_ref: Option<CaseRef>,
    /// Its kind.
    pub kind: MessageKind,
    /// From whom.
    pub from: PartyId,
    /// To whom.
    pub to: PartyId,
    /// Its urgency.
    pub urgency: Urgency,
    /// Its language.
    pub language: Language,
    /// Training traffic.
    pub exercise: bool,
    /// The message it answers.
    pub in_reply_to: Option<MessageId>,
    /// The case's state once it is sent.
    pub state: String,
    /// Only recorded here (a case recorded from another channel), not sent.
    pub recorded_only: bool,
    /// Warnings for the officer.
    pub warnings: Vec<String>,
    /// The body as the peer would receive it: the protocol's `Body` of `kind`, as JSON.
    pub body: serde_json::Value,
}
