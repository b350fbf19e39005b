//! The actions on a case (`ack`, `decide`, `confirm` …): one subcommand per action of the
//! control API. The flags of the fields of the message kind it sends (docs/requests.md
//! "Responses") are built from the protocol's table of fields ([`super::body`]); those of the
//! structured fields (`--communication-…`, `--traced`) and `--attach` are declared here.
//! Every field flag is optional: the missing ones are named together by the protocol's
//! validation before the node is asked.

use super::body::BodyFlags;
use super::requests::{AttachArgs, CommunicationArgs, NoExtras};
use clap::{Args, Subcommand, ValueHint};
use poc247_protocol::{Action, CaseRef, MessageKind as K, ACTIONS};
use std::path::PathBuf;

/// The action that closes a case locally, without a message.
pub const CLOSE: &str = "close";

/// The actions on a case.
#[derive(Debug, Subcommand)]
pub enum ActionCommand {
    /// Acknowledge a request: the officer on duty has taken it in charge (BC 35).
    #[command(name = "acknowledge", visible_alias = "ack")]
    Ack(On<{ K::Acknowledgement as usize }>),
    /// Ask the requester questions needed to execute (MLA para. 21).
    #[command(name = "request-info", visible_alias = "ask")]
    Ask(On<{ K::InfoRequest as usize }>),
    /// Answer the questions asked.
    #[command(name = "provide-info", visible_alias = "answer")]
    Answer(On<{ K::InfoProvided as usize }>),
    /// Ask the requested Party where the case stands (MLA para. 29).
    #[command(name = "request-status", visible_alias = "status-request")]
    StatusRequest(On<{ K::StatusRequest as usize }>),
    /// Tell the requester where the case stands (MLA para. 29).
    #[command(name = "report-status", visible_alias = "status-report")]
    StatusReport(On<{ K::StatusReport as usize }>),
    /// Tell the requester of a reason that makes execution impossible or significantly
    /// delays it (BC 27(7)).
    #[command(name = "notify-delay", visible_alias = "delay")]
    Delay(On<{ K::DelayNotice as usize }>),
    /// Say whether a confidential request can be kept confidential (BC 27(8)).
    ConfidentialityReply(On<{ K::ConfidentialityReply as usize }>),
    /// Go on after preservation-insufficient (29(6)) or a confidentiality reply (27(8)).
    Proceed(On<{ K::Proceed as usize }>),
    /// Decide the request: executed, refused, postponed, forwarded … (BC 25(4), 27, 29(5)).
    Decide(On<{ K::Decision as usize }>),
    /// Tell the requester preservation will not suffice or would harm the investigation
    /// (BC 29(6)).
    PreservationInsufficient(On<{ K::PreservationInsufficient as usize }>),
    /// Attach conditions to the assistance (BC 28(2)).
    Conditions(On<{ K::Conditions as usize }>),
    /// Accept or decline conditions (BC 28(3), 26(2)).
    ConditionsReply(On<{ K::ConditionsReply as usize }>),
    /// Ask how information was used (BC 28(4)).
    UseExplanationRequest(On<{ K::UseExplanationRequest as usize }>),
    /// Explain how information was used (BC 28(4)).
    UseExplanation(On<{ K::UseExplanation as usize }>),
    /// Ask consent to use information in other proceedings (MLA para. 24).
    UseConsentRequest(On<{ K::UseConsentRequest as usize }>),
    /// Give or refuse that consent (MLA para. 24).
    UseConsent(On<{ K::UseConsent as usize }>),
    /// Notify an exculpatory disclosure (MLA para. 24).
    DisclosureNotice(On<{ K::DisclosureNotice as usize }>),
    /// Disclose preserved traffic data: the other provider and the path (BC 30(1)).
    DiscloseTraffic(On<{ K::TrafficDataDisclosure as usize }, TrafficExtras>),
    /// Send the results of execution, or a preliminary copy (BC 31; emergency MLA para. 6).
    Results(On<{ K::Results as usize }, ResultsExtras>),
    /// Record the formal request confirming this expedited one (BC 25(3); MLA 17–19).
    Confirm(On<{ K::FormalConfirmation as usize }>),
    /// Extend a preservation (design; BC 16(2)).
    Extend(On<{ K::PreservationExtension as usize }>),
    /// Let the preserved data go (design).
    Release(On<{ K::PreservationRelease as usize }>),
    /// Withdraw a request: the assistance is no longer needed (MLA para. 29).
    Withdraw(On<{ K::Withdrawal as usize }>),
    /// Send the information after its offer was answered (BC 26(2), step 2).
    SendInformation(On<{ K::SpontaneousInformation as usize }, AttachArgs>),
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

/// An action on a case: the case and the header, the fields of the kind `KIND` it sends (from
/// the protocol's table) and the flags of its structured fields `X`.
#[derive(Debug, Args)]
pub struct On<const KIND: usize, X: Args = NoExtras> {
    /// The case and the header.
    #[command(flatten)]
    pub case: CaseArgs,
    /// The message's fields, one flag each.
    #[command(flatten)]
    pub fields: BodyFlags<KIND>,
    /// The structured fields and the files.
    #[command(flatten)]
    pub extras: X,
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

/// `disclose-traffic`: one communication (the first of `communications`; list more in a
/// file as [[communications]]) and the files.
#[derive(Debug, Args)]
pub struct TrafficExtras {
    /// The first communication.
    #[command(flatten)]
    pub communication: CommunicationArgs,
    /// Files to attach.
    #[command(flatten)]
    pub files: AttachArgs,
}

/// `results`: the communications traced (CIC 67-1) and the files.
#[derive(Debug, Args)]
pub struct ResultsExtras {
    /// A communication traced, as "DAY|TIME|DURATION|PLACE" (repeatable; leave a part empty
    /// when unknown): CIC 67-1.
    #[arg(
        long = "traced",
        value_name = "DAY|TIME|DURATION|PLACE",
        allow_hyphen_values = true
    )]
    pub traced: Vec<String>,
    /// Files to attach.
    #[command(flatten)]
    pub files: AttachArgs,
}
