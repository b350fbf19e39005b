//! `send <kind>`: one subcommand per request kind of docs/requests.md, one flag per field of the
//! kind's struct. Every field flag is optional here: the missing ones are named together by
//! the protocol's validation before the node is asked.
//!
//! The field structs derive `Serialize` with the field names of docs/requests.md: what was given
//! on the command line becomes the body's JSON as is (unset flags are left out). Fields that
//! are not one flag each (`service_providers`, `communication`) are skipped there and built
//! by `request`.

use super::{closed, UrgencyArg};
use clap::{Args, Subcommand, ValueHint};
use poc247_protocol::{AssistanceType, Measure};
use serde::Serialize;
use std::path::PathBuf;

/// `send <kind>`: one variant per request kind.
#[derive(Debug, Subcommand)]
pub enum SendCommand {
    /// Expedited preservation of stored computer data (BC art. 29).
    Preservation(PreservationArgs),
    /// Expedited production of stored data in an emergency (CARICOM "emergency production").
    EmergencyProduction(EmergencyProductionArgs),
    /// An (emergency) mutual assistance request (BC arts. 25(3), 27, 31–34; CARICOM MLA
    /// para. 20).
    MutualAssistance(MutualAssistanceArgs),
    /// Immediate assistance from the 24/7 point of contact (BC art. 35(1)).
    Assistance(AssistanceArgs),
    /// Information sent without prior request (BC art. 26(1)); to several Parties at once as
    /// an alert (one case each).
    SpontaneousInformation(SpontaneousInformationArgs),
    /// An offer of spontaneous information under conditions, without the information
    /// (BC art. 26(2)); `send-information` sends it once the conditions are answered.
    InformationOffer(InformationOfferArgs),
}

/// What every request kind takes: the header, the file, and the fields every request may
/// carry (docs/requests.md: `emergency_facts`, `respond_by`, `respond_by_reason`).
#[derive(Debug, Args)]
#[command(next_help_heading = "Request")]
pub struct RequestArgs {
    /// The requested Party (FR, LU-CA …). spontaneous-information and information-offer take
    /// several: repeat the flag or separate them with commas (one case per Party).
    #[arg(long, value_name = "PARTY", value_delimiter = ',')]
    pub to: Vec<String>,
    /// How urgent [default: urgent].
    #[arg(long, value_enum)]
    pub urgency: Option<UrgencyArg>,
    /// Language of the free text, ISO 639-1 [default: en].
    #[arg(long, value_name = "CODE")]
    pub language: Option<String>,
    /// Send in that language even though the recipient's directory entry does not list it.
    #[arg(long)]
    pub language_override: bool,
    /// Training traffic: the case is marked [EXERCISE] on both sides.
    #[arg(long)]
    pub exercise: bool,
    /// Send it even if the node's checks give warnings, and `--dry-run`.
    #[command(flatten)]
    pub confirm: crate::args::ConfirmArgs,
    /// A TOML (or .json) file with `to`, `urgency`, `language`, `exercise`,
    /// `language_override`, `attachments` (files, relative to it; not for an information
    /// offer) and the body's fields, flat; flags override it, `--attach` adds to its files.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub file: Option<PathBuf>,
    /// Facts establishing the emergency (mandatory with --urgency emergency, and always for
    /// emergency-production).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub emergency_facts: Option<String>,
    /// Suggested deadline for the answer (CARICOM MLA para. 29).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub respond_by: Option<String>,
    /// Why that deadline.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub respond_by_reason: Option<String>,
}

/// Files sent with a request (every kind but the information offer, which carries the
/// conditions and not the information, BC 26(2)).
#[derive(Debug, Args)]
#[command(next_help_heading = "Request")]
pub struct AttachArgs {
    /// A file to attach (repeatable): hashed here (a progress bar on a terminal), then its
    /// absolute path and hash are sent to the node, which must be able to read it; the node
    /// checks the limits, copies it, checks the hash and sends it on its own stream.
    #[arg(long = "attach", value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub attach: Vec<PathBuf>,
}

/// `send preservation`: the fields of BC art. 29(2) and 30(1).
#[derive(Debug, Args)]
pub struct PreservationArgs {
    /// Header, file and common fields.
    #[command(flatten)]
    pub request: RequestArgs,
    /// Files to attach.
    #[command(flatten)]
    pub files: AttachArgs,
    /// The fields of art. 29(2).
    #[command(flatten)]
    pub fields: PreservationFields,
    /// The communication of art. 30(1).
    #[command(flatten)]
    pub traffic: TrafficArgs,
}

/// The fields of BC art. 29(2).
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Preservation (BC art. 29(2))")]
pub struct PreservationFields {
    /// The authority seeking the preservation (29(2)(a)).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub requesting_authority: Option<String>,
    /// The offence under investigation or proceedings (29(2)(b)).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub offence: Option<String>,
    /// A brief summary of the related facts (29(2)(b)).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub facts: Option<String>,
    /// The stored computer data to be preserved (29(2)(c)).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub data: Option<String>,
    /// How that data relates to the offence (29(2)(c)).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub relation_to_offence: Option<String>,
    /// The custodian of the data or the location of the computer system (29(2)(d)).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub custodian_or_location: Option<String>,
    /// Why preservation is necessary (29(2)(e)).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub necessity: Option<String>,
    /// We intend to submit a mutual assistance request for the data (29(2)(f); required).
    #[arg(long)]
    pub mla_intent: bool,
}

/// Traffic data of a specified communication (BC art. 30(1), 1(d)): as much as is known.
#[derive(Debug, Args)]
#[command(next_help_heading = "Traffic data (BC art. 30(1))")]
pub struct TrafficArgs {
    /// The data include traffic data of a specified communication (art. 30).
    #[arg(long)]
    pub includes_traffic_data: bool,
    /// The communication.
    #[command(flatten)]
    pub communication: CommunicationArgs,
}

/// One communication whose traffic data are concerned (BC art. 1(d)): as much as is known.
/// Serialized without the `communication_` prefix, as the protocol's `Communication`.
#[derive(Debug, Args, Serialize)]
pub struct CommunicationArgs {
    /// The communication's origin (address, number, account).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    #[serde(rename = "origin")]
    pub communication_origin: Option<String>,
    /// Its destination.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    #[serde(rename = "destination")]
    pub communication_destination: Option<String>,
    /// Its route.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    #[serde(rename = "route")]
    pub communication_route: Option<String>,
    /// Its date.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    #[serde(rename = "date")]
    pub communication_date: Option<String>,
    /// Its time, with time zone.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    #[serde(rename = "time")]
    pub communication_time: Option<String>,
    /// How long it lasted.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    #[serde(rename = "duration")]
    pub communication_duration: Option<String>,
    /// Its size.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    #[serde(rename = "size")]
    pub communication_size: Option<String>,
    /// The type of underlying service.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    #[serde(rename = "type_of_service")]
    pub communication_type_of_service: Option<String>,
}

/// `send emergency-production`: CARICOM "emergency production" para. 5.
#[derive(Debug, Args)]
pub struct EmergencyProductionArgs {
    /// Header, file and common fields.
    #[command(flatten)]
    pub request: RequestArgs,
    /// Files to attach.
    #[command(flatten)]
    pub files: AttachArgs,
    /// The fields of para. 5.
    #[command(flatten)]
    pub fields: EmergencyProductionFields,
    /// Send a subscriber-only request even though the recipient declared it does not execute
    /// those (para. 3).
    #[arg(long, help_heading = "Request")]
    pub subscriber_only_override: bool,
}

/// The fields of CARICOM emergency production para. 5.
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Emergency production (CARICOM para. 5)")]
pub struct EmergencyProductionFields {
    /// The competent authority seeking the data (5(a)).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub requesting_authority: Option<String>,
    /// The date the request was made (5(a)).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub requested_on: Option<String>,
    /// We state that the request is issued under the Convention (5(b); required).
    #[arg(long)]
    pub convention_statement: bool,
    /// A service provider holding or controlling the data, as "NAME|ADDRESS" (5(c)); repeat
    /// the flag for each. In a file: [[service_providers]] with `name` and `address`.
    #[arg(long = "service-provider", value_name = "NAME|ADDRESS")]
    #[serde(skip)]
    pub service_providers: Vec<String>,
    /// The offence(s) under investigation (5(d)).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub offences: Option<String>,
    /// The legal provisions and the applicable penalties (5(d)).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub legal_provisions: Option<String>,
    /// The data sought, described in detail (5(f)).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub data_description: Option<String>,
    /// Special procedural instructions (5(g)).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub special_instructions: Option<String>,
    /// Anything that may help obtain the disclosure (5(h)).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub other_information: Option<String>,
    /// The request seeks subscriber information only (BC 18(3); para. 3).
    #[arg(long)]
    pub subscriber_only: bool,
}

/// `send mutual-assistance`: CARICOM MLA para. 20; BC arts. 27, 31–34.
#[derive(Debug, Args)]
pub struct MutualAssistanceArgs {
    /// Header, file and common fields.
    #[command(flatten)]
    pub request: RequestArgs,
    /// Files to attach.
    #[command(flatten)]
    pub files: AttachArgs,
    /// The fields of MLA para. 20.
    #[command(flatten)]
    pub fields: MutualAssistanceFields,
}

/// The fields of CARICOM MLA para. 20.
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Mutual assistance (CARICOM MLA para. 20)")]
pub struct MutualAssistanceFields {
    /// The authority making the request (20(a)).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub requesting_authority: Option<String>,
    /// The measure sought (BC 31 stored data, 33 real-time traffic, 34 interception).
    #[arg(long, value_parser = closed(|| Measure::ALL.iter().map(|m| m.as_str()).collect()))]
    pub measure: Option<String>,
    /// Subject and nature of the investigation, and the name and function of the authority
    /// conducting it (20(b)).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub investigation: Option<String>,
    /// Summary of the relevant facts (20(c)).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub facts: Option<String>,
    /// The assistance sought and any particular procedure to follow (20(d); BC 27(3)).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub assistance_sought: Option<String>,
    /// Identity, address and nationality of any person concerned (20(e)).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub persons: Option<String>,
    /// The purpose of the evidence, information or action sought (20(f)).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub purpose: Option<String>,
    /// Whether the measure requires coercive action: yes or no, always said (BC 27(9)(d):
    /// a non-coercive request may go directly between competent authorities).
    #[arg(long, value_name = "yes|no", value_parser = clap::builder::BoolishValueParser::new())]
    pub coercive: Option<bool>,
    /// The data are particularly vulnerable to loss or modification (BC 31(3)).
    #[arg(long)]
    pub data_volatile: bool,
    /// Keep the fact and subject of the request confidential (BC 27(8)).
    #[arg(long)]
    pub confidential: bool,
    /// The preservation case this request follows (BC 29(7): the data stay preserved until
    /// this request is decided).
    #[arg(long, value_name = "CASE_REF")]
    pub preservation_case: Option<String>,
}

/// `send assistance`: BC art. 35(1).
#[derive(Debug, Args)]
pub struct AssistanceArgs {
    /// Header, file and common fields.
    #[command(flatten)]
    pub request: RequestArgs,
    /// Files to attach.
    #[command(flatten)]
    pub files: AttachArgs,
    /// The fields of the request.
    #[command(flatten)]
    pub fields: AssistanceFields,
}

/// The fields of an assistance request (BC 35(1)).
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Assistance (BC art. 35(1))")]
pub struct AssistanceFields {
    /// Who asks.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub requesting_authority: Option<String>,
    /// What kind of assistance (35(1)(a) technical advice; (c) evidence, legal information,
    /// locating suspects).
    #[arg(long, value_parser = closed(|| AssistanceType::ALL.iter().map(|t| t.as_str()).collect()))]
    pub assistance_type: Option<String>,
    /// What is asked, in plain words.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub question: Option<String>,
    /// The offence concerned.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub offence: Option<String>,
    /// Related facts.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub facts: Option<String>,
}

/// `send spontaneous-information`: BC art. 26(1).
#[derive(Debug, Args)]
pub struct SpontaneousInformationArgs {
    /// Header, file and common fields.
    #[command(flatten)]
    pub request: RequestArgs,
    /// Files to attach.
    #[command(flatten)]
    pub files: AttachArgs,
    /// The fields of art. 26.
    #[command(flatten)]
    pub fields: SpontaneousInformationFields,
}

/// The fields of a spontaneous information (BC 26).
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Spontaneous information (BC art. 26)")]
pub struct SpontaneousInformationFields {
    /// The information obtained in our own investigation (26(1)).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub information: Option<String>,
    /// Why it may help the receiver initiate or carry out investigations (26(1)).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub relevance: Option<String>,
    /// Refused: conditions are agreed before the information is sent (26(2)); offer the
    /// information with them first with `send information-offer`.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true, hide = true)]
    pub conditions: Option<String>,
}

/// `send information-offer`: BC art. 26(2), step 1.
#[derive(Debug, Args)]
pub struct InformationOfferArgs {
    /// Header, file and common fields.
    #[command(flatten)]
    pub request: RequestArgs,
    /// The fields of the offer.
    #[command(flatten)]
    pub fields: InformationOfferFields,
}

/// The fields of an information offer (BC 26(2)): the conditions, not the information.
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Information offer (BC art. 26(2))")]
pub struct InformationOfferFields {
    /// The confidentiality or use conditions the information would be subject to.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub conditions: Option<String>,
    /// Why the information may help the receiver.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub relevance: Option<String>,
}
