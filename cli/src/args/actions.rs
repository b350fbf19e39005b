//! The actions on a case (`ack`, `decide`, `confirm` …): one subcommand per action of the
//! control API, one flag per field of the message kind it sends (docs/requests.md "Responses").
//! Every field flag is optional here: the missing ones are named together by the protocol's
//! validation before the node is asked.
//!
//! As for requests, the field structs derive `Serialize` with docs/requests.md's field names.

use super::closed;
use super::requests::CommunicationArgs;
use clap::{Args, Subcommand, ValueHint};
use poc247_protocol::{Action, CaseRef, ConfirmationChannel, Outcome, RefusalGround, ACTIONS};
use serde::Serialize;
use std::path::PathBuf;

/// The action that closes a case locally, without a message.
pub const CLOSE: &str = "close";

/// The actions on a case.
#[derive(Debug, Subcommand)]
pub enum ActionCommand {
    /// Acknowledge a request: the officer on duty has taken it in charge (BC 35).
    #[command(name = "acknowledge", visible_alias = "ack")]
    Ack(On<AcknowledgementFields>),
    /// Ask the requester questions needed to execute (MLA para. 21).
    #[command(name = "request-info", visible_alias = "ask")]
    Ask(On<InfoRequestFields>),
    /// Answer the questions asked.
    #[command(name = "provide-info", visible_alias = "answer")]
    Answer(On<InfoProvidedFields>),
    /// Ask the requested Party where the case stands (MLA para. 29).
    #[command(name = "request-status", visible_alias = "status-request")]
    StatusRequest(On<StatusRequestFields>),
    /// Tell the requester where the case stands (MLA para. 29).
    #[command(name = "report-status", visible_alias = "status-report")]
    StatusReport(On<StatusReportFields>),
    /// Tell the requester of a reason that makes execution impossible or significantly
    /// delays it (BC 27(7)).
    #[command(name = "notify-delay", visible_alias = "delay")]
    Delay(On<DelayNoticeFields>),
    /// Say whether a confidential request can be kept confidential (BC 27(8)).
    ConfidentialityReply(On<ConfidentialityReplyFields>),
    /// Go on after preservation-insufficient (29(6)) or a confidentiality reply (27(8)).
    Proceed(On<ProceedFields>),
    /// Decide the request: executed, refused, postponed, forwarded … (BC 25(4), 27, 29(5)).
    Decide(On<DecisionFields>),
    /// Tell the requester preservation will not suffice or would harm the investigation
    /// (BC 29(6)).
    PreservationInsufficient(On<PreservationInsufficientFields>),
    /// Attach conditions to the assistance (BC 28(2)).
    Conditions(On<ConditionsFields>),
    /// Accept or decline conditions (BC 28(3), 26(2)).
    ConditionsReply(On<ConditionsReplyFields>),
    /// Ask how information was used (BC 28(4)).
    UseExplanationRequest(On<UseExplanationRequestFields>),
    /// Explain how information was used (BC 28(4)).
    UseExplanation(On<UseExplanationFields>),
    /// Ask consent to use information in other proceedings (MLA para. 24).
    UseConsentRequest(On<UseConsentRequestFields>),
    /// Give or refuse that consent (MLA para. 24).
    UseConsent(On<UseConsentFields>),
    /// Notify an exculpatory disclosure (MLA para. 24).
    DisclosureNotice(On<DisclosureNoticeFields>),
    /// Disclose preserved traffic data: the other provider and the path (BC 30(1)).
    DiscloseTraffic(On<TrafficDataDisclosureFields>),
    /// Send the results of execution, or a preliminary copy (BC 31; emergency MLA para. 6).
    Results(On<ResultsFields>),
    /// Record the formal request confirming this expedited one (BC 25(3); MLA 17–19).
    Confirm(On<FormalConfirmationFields>),
    /// Extend a preservation (design; BC 16(2)).
    Extend(On<PreservationExtensionFields>),
    /// Let the preserved data go (design).
    Release(On<PreservationReleaseFields>),
    /// Withdraw a request: the assistance is no longer needed (MLA para. 29).
    Withdraw(On<WithdrawalFields>),
    /// Send the information after its offer was answered (BC 26(2), step 2).
    SendInformation(On<SpontaneousInformationFields>),
    /// Close a case here (no message is sent).
    Close(CloseArgs),
    /// Record that the person concerned by a tracing was informed (CIC 67-1); settles the
    /// deadline to inform (no message is sent).
    Notified(CloseArgs),
    /// Any action, its fields from a file: `respond <case> decide --file decision.toml`.
    Respond(RespondArgs),
}

/// What every action takes: the case, the file, and the header of the message it sends.
#[derive(Debug, Args)]
pub struct CaseArgs {
    /// The case (LU-2026-000001).
    #[arg(value_name = "CASE_REF", value_parser = crate::args::case_ref)]
    pub case: CaseRef,
    /// A TOML (or .json) file with the message's fields, flat, and optionally `in_reply_to`,
    /// `language`, `language_override` and (for results, traffic data and spontaneous
    /// information) `attachments`, a list of files relative to it; flags override it, `--attach` adds to its files.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath, help_heading = "Message")]
    pub file: Option<PathBuf>,
    /// The id of the message answered [default: the node picks the last one it answers].
    #[arg(long, value_name = "MESSAGE_ID", help_heading = "Message")]
    pub in_reply_to: Option<String>,
    /// Language of the free text, ISO 639-1 [default: the case's].
    #[arg(long, value_name = "CODE", help_heading = "Message")]
    pub language: Option<String>,
    /// Send in that language even though the recipient's directory entry does not list it.
    #[arg(long, help_heading = "Message")]
    pub language_override: bool,
    /// Send it even if the node's checks give warnings, and `--dry-run`.
    #[command(flatten)]
    pub confirm: crate::args::ConfirmArgs,
}

/// An action on a case: the case and the message's fields.
#[derive(Debug, Args)]
pub struct On<F: Args> {
    /// The case and the header.
    #[command(flatten)]
    pub case: CaseArgs,
    /// The message's fields.
    #[command(flatten)]
    pub fields: F,
}

/// `close`, `notified`.
#[derive(Debug, Args)]
pub struct CloseArgs {
    /// The case (LU-2026-000001).
    #[arg(value_name = "CASE_REF", value_parser = crate::args::case_ref)]
    pub case: CaseRef,
    /// Why, for the record.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub note: Option<String>,
    /// Show what it would do, validated, and change nothing (not for `notified`).
    #[arg(long)]
    pub dry_run: bool,
}

/// `respond`.
#[derive(Debug, Args)]
pub struct RespondArgs {
    /// The case and the header.
    #[command(flatten)]
    pub case: CaseArgs,
    /// The action, by its control API name or its command (`acknowledge` or `ack`).
    #[arg(value_name = "ACTION", value_parser = respond_action)]
    pub action: String,
}

/// An action `respond` performs: one that sends a message, or `close`; its API name.
fn respond_action(given: &str) -> Result<String, String> {
    match Action::find(given) {
        Some(a) if a.kind.is_some() || a.name == CLOSE => Ok(a.name.to_owned()),
        _ => {
            let names: Vec<&str> = ACTIONS
                .iter()
                .filter(|a| a.kind.is_some() || a.name == CLOSE)
                .map(|a| a.name)
                .collect();
            Err(format!("{given:?} is not one of {}", names.join(", ")))
        }
    }
}

/// `acknowledgement` (BC 35).
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Acknowledgement")]
pub struct AcknowledgementFields {
    /// The officer on duty who takes the request in charge (name or role).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub officer: Option<String>,
    /// A note for the requester.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub note: Option<String>,
}

/// `info_request` (MLA para. 21).
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Info request")]
pub struct InfoRequestFields {
    /// What must be known to execute.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub questions: Option<String>,
}

/// `info_provided`.
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Info provided")]
pub struct InfoProvidedFields {
    /// The answers.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub answers: Option<String>,
}

/// `status_request` (MLA para. 29).
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Status request")]
pub struct StatusRequestFields {
    /// What in particular is asked.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub question: Option<String>,
}

/// `status_report` (MLA para. 29).
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Status report")]
pub struct StatusReportFields {
    /// Where the case stands.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub status: Option<String>,
    /// When an answer is expected.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub expected_by: Option<String>,
}

/// `delay_notice` (BC 27(7)).
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Delay notice")]
pub struct DelayNoticeFields {
    /// The reason that makes execution impossible or delays it significantly.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub reason: Option<String>,
    /// When execution is now expected.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub expected_by: Option<String>,
}

/// `confidentiality_reply` (BC 27(8)).
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Confidentiality reply")]
pub struct ConfidentialityReplyFields {
    /// The request can be kept confidential [default: it cannot].
    #[arg(long)]
    pub can_comply: bool,
    /// Why not (mandatory when it cannot).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub explanation: Option<String>,
}

/// `proceed` (BC 29(6), 27(8)).
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Proceed")]
pub struct ProceedFields {
    /// A note for the requested Party.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub note: Option<String>,
}

/// `decision` (BC 25(4), 27(4)–(7), 29(5), 30(2)).
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Decision")]
pub struct DecisionFields {
    /// The outcome.
    #[arg(long, value_parser = closed(|| Outcome::ALL.iter().map(|o| o.as_str()).collect()))]
    pub outcome: Option<String>,
    /// The reasons (mandatory when refused, postponed or partially executed).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub reasons: Option<String>,
    /// The ground of a refusal (mandatory when refused).
    #[arg(long, value_parser = closed(|| RefusalGround::ALL.iter().map(|g| g.as_str()).collect()))]
    pub refusal_ground: Option<String>,
    /// The authority the request was forwarded to (BC 27(9)(c); mandatory when forwarded).
    #[arg(long, value_name = "PARTY")]
    pub forwarded_to: Option<String>,
    /// When it was executed (mandatory when executed or partially executed).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub executed_on: Option<String>,
    /// Until when the data are preserved (mandatory when a preservation is executed).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub preserved_until: Option<String>,
    /// Other cooperation offered.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub alternatives: Option<String>,
    /// The legal basis of the order (e.g. CIC 48-25).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub legal_basis: Option<String>,
    /// Who authorised it (the magistrate).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub authorised_by: Option<String>,
    /// The date of the order.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub order_date: Option<String>,
}

/// `preservation_insufficient` (BC 29(6)).
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Preservation insufficient")]
pub struct PreservationInsufficientFields {
    /// Why preservation will not ensure the data's availability, or would harm the
    /// investigation.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub explanation: Option<String>,
}

/// `conditions` (BC 28(2)).
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Conditions")]
pub struct ConditionsFields {
    /// The request and the information must be kept confidential.
    #[arg(long)]
    pub confidential: bool,
    /// The use the information is limited to.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub use_limited_to: Option<String>,
    /// The conditions, in full.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub text: Option<String>,
}

/// `conditions_reply` (BC 28(3), 26(2)).
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Conditions reply")]
pub struct ConditionsReplyFields {
    /// The conditions are accepted (then binding) [default: declined].
    #[arg(long)]
    pub accepted: bool,
    /// Why they are declined (mandatory when declined).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub explanation: Option<String>,
}

/// `use_explanation_request` (BC 28(4)).
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Use explanation request")]
pub struct UseExplanationRequestFields {
    /// What is asked about the use made of the information.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub text: Option<String>,
}

/// `use_explanation` (BC 28(4)).
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Use explanation")]
pub struct UseExplanationFields {
    /// The use made of the information.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub text: Option<String>,
}

/// `use_consent_request` (MLA para. 24).
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Use consent request")]
pub struct UseConsentRequestFields {
    /// The other proceedings the information would be used in.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub purpose: Option<String>,
}

/// `use_consent` (MLA para. 24).
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Use consent")]
pub struct UseConsentFields {
    /// Consent is given [default: refused].
    #[arg(long)]
    pub granted: bool,
    /// Conditions of the consent.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub conditions: Option<String>,
}

/// `disclosure_notice` (MLA para. 24).
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Disclosure notice")]
pub struct DisclosureNoticeFields {
    /// What is disclosed, to whom, and why it is exculpatory.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub text: Option<String>,
    /// Notified before the disclosure [default: after, because prior notice was impossible].
    #[arg(long)]
    pub prior: bool,
}

/// `traffic_data_disclosure` (BC 30(1)).
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Traffic data disclosure (BC art. 30(1))")]
pub struct TrafficDataDisclosureFields {
    /// The other service provider involved in the transmission.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub service_provider: Option<String>,
    /// Its State.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub provider_state: Option<String>,
    /// The path through which the communication was transmitted.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub path: Option<String>,
    /// One communication (the first of `communications`); list more in a file as
    /// [[communications]].
    #[command(flatten)]
    #[serde(skip)]
    pub communication: CommunicationArgs,
    /// A file to attach (repeatable): hashed here, then its absolute path and hash are sent to
    /// the node, which must be able to read it; it is copied, kept and sent on its own stream.
    #[arg(long = "attach", value_name = "FILE", value_hint = ValueHint::FilePath)]
    #[serde(skip)]
    pub attach: Vec<PathBuf>,
}

/// `results` (BC 31; emergency MLA para. 6).
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Results")]
pub struct ResultsFields {
    /// What is provided.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub summary: Option<String>,
    /// A preliminary copy; the formal results follow.
    #[arg(long)]
    pub preliminary: bool,
    /// The other channel the results were sent by, if any.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub channel: Option<String>,
    /// SHA-256 of what was sent by that channel (mandatory with --channel).
    #[arg(long, value_name = "HEX")]
    pub sent_sha256: Option<String>,
    /// A communication traced, as "DAY|TIME|DURATION|PLACE" (repeatable; leave a part empty
    /// when unknown): CIC 67-1.
    #[arg(
        long = "traced",
        value_name = "DAY|TIME|DURATION|PLACE",
        allow_hyphen_values = true
    )]
    #[serde(skip)]
    pub traced: Vec<String>,
    /// A file to attach (repeatable): hashed here, then its absolute path and hash are sent to
    /// the node, which must be able to read it; it is copied, kept and sent on its own stream.
    #[arg(long = "attach", value_name = "FILE", value_hint = ValueHint::FilePath)]
    #[serde(skip)]
    pub attach: Vec<PathBuf>,
}

/// `formal_confirmation` (BC 25(3); MLA paras. 17–19).
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Formal confirmation")]
pub struct FormalConfirmationFields {
    /// The number of the official request.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub reference: Option<String>,
    /// How it was sent.
    #[arg(long, value_parser = closed(|| ConfirmationChannel::ALL.iter().map(|c| c.as_str()).collect()))]
    pub channel: Option<String>,
    /// When it was sent.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub sent_on: Option<String>,
    /// SHA-256 of the document sent, 64 hexadecimal digits.
    #[arg(long, value_name = "HEX")]
    pub document_sha256: Option<String>,
}

/// `preservation_extension`.
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Preservation extension")]
pub struct PreservationExtensionFields {
    /// The new end of the preservation.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub until: Option<String>,
    /// Why.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub reason: Option<String>,
}

/// `preservation_release`.
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Preservation release")]
pub struct PreservationReleaseFields {
    /// Why the data may go.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub reason: Option<String>,
}

/// `withdrawal` (MLA para. 29).
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Withdrawal")]
pub struct WithdrawalFields {
    /// Why the assistance is no longer needed.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub reason: Option<String>,
}

/// `spontaneous_information` in the case of its offer (BC 26(2), step 2).
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Spontaneous information")]
pub struct SpontaneousInformationFields {
    /// The information.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub information: Option<String>,
    /// Why it may help the receiver.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub relevance: Option<String>,
    /// The conditions, as accepted.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub conditions: Option<String>,
    /// Facts establishing the emergency (mandatory when the case is an emergency).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub emergency_facts: Option<String>,
    /// Suggested deadline for an answer.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub respond_by: Option<String>,
    /// Why that deadline.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub respond_by_reason: Option<String>,
    /// A file to attach (repeatable): hashed here, then its absolute path and hash are sent to
    /// the node, which must be able to read it; it is copied, kept and sent on its own stream.
    #[arg(long = "attach", value_name = "FILE", value_hint = ValueHint::FilePath)]
    #[serde(skip)]
    pub attach: Vec<PathBuf>,
}
