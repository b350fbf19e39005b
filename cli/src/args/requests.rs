//! `send <kind>`: one subcommand per request kind of docs/requests.md. The header flags
//! (`--to`, `--urgency`, `--file` …) are declared here; the flags of the body's fields are
//! built from the protocol's table of fields ([`super::body`]), and those of the fields that
//! are structures (`--communication-…`, `--service-provider`, `--attach`) are declared here
//! as the kind's extras. Every field flag is optional: the missing ones are named together by
//! the protocol's validation before the node is asked.

use super::body::{BodyFlags, Extras};
use super::UrgencyArg;
use clap::{Args, Subcommand, ValueHint};
use poc247_protocol::MessageKind as K;
use serde::Serialize;
use std::path::PathBuf;

/// `send <kind>`: one variant per request kind.
#[derive(Debug, Subcommand)]
pub enum SendCommand {
    /// Expedited preservation of stored computer data (BC art. 29).
    Preservation(SendArgs<{ K::Preservation as usize }, PreservationExtras>),
    /// Expedited production of stored data in an emergency (CARICOM "emergency production").
    EmergencyProduction(SendArgs<{ K::EmergencyProduction as usize }, EmergencyProductionExtras>),
    /// An (emergency) mutual assistance request (BC arts. 25(3), 27, 31–34; CARICOM MLA
    /// para. 20).
    MutualAssistance(SendArgs<{ K::MutualAssistance as usize }, AttachArgs>),
    /// Immediate assistance from the 24/7 point of contact (BC art. 35(1)).
    Assistance(SendArgs<{ K::Assistance as usize }, AttachArgs>),
    /// Information sent without prior request (BC art. 26(1)); to several Parties at once as
    /// an alert (one case each).
    SpontaneousInformation(SendArgs<{ K::SpontaneousInformation as usize }, AttachArgs>),
    /// An offer of spontaneous information under conditions, without the information
    /// (BC art. 26(2)); `send-information` sends it once the conditions are answered.
    InformationOffer(SendArgs<{ K::InformationOffer as usize }, NoExtras>),
}

/// `send <kind>`: the header, the fields of the kind `KIND` (from the protocol's table) and the
/// flags of its structured fields `X`.
#[derive(Debug, Args)]
pub struct SendArgs<const KIND: usize, X: Args> {
    /// Header and file.
    #[command(flatten)]
    pub request: RequestArgs,
    /// The body's fields, one flag each.
    #[command(flatten)]
    pub fields: BodyFlags<KIND>,
    /// The structured fields and the files.
    #[command(flatten)]
    pub extras: X,
}

/// What every request kind takes: the header and the file.
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
}

/// Files sent with a message (every request kind but the information offer, which carries the
/// conditions and not the information, BC 26(2); results, traffic data, spontaneous
/// information).
#[derive(Debug, Args)]
#[command(next_help_heading = "Files")]
pub struct AttachArgs {
    /// A file to attach (repeatable): hashed here (a progress bar on a terminal), then its
    /// absolute path and hash are sent to the node, which must be able to read it; the node
    /// checks the limits, copies it, checks the hash and sends it on its own stream.
    #[arg(long = "attach", value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub attach: Vec<PathBuf>,
}

/// No structured field, no files (`send information-offer`).
#[derive(Debug, Args)]
pub struct NoExtras {}

/// `send preservation`: the files and the communication of art. 30(1).
#[derive(Debug, Args)]
pub struct PreservationExtras {
    /// Files to attach.
    #[command(flatten)]
    pub files: AttachArgs,
    /// The communication whose traffic data are concerned (`includes_traffic_data`).
    #[command(flatten)]
    pub communication: CommunicationArgs,
}

/// `send emergency-production`: the files, the service providers (para. 5(c)) and the
/// subscriber-only override.
#[derive(Debug, Args)]
pub struct EmergencyProductionExtras {
    /// Files to attach.
    #[command(flatten)]
    pub files: AttachArgs,
    /// A service provider holding or controlling the data, as "NAME|ADDRESS" (5(c)); repeat
    /// the flag for each. In a file: [[service_providers]] with `name` and `address`.
    #[arg(
        long = "service-provider",
        value_name = "NAME|ADDRESS",
        help_heading = "Service providers (CARICOM para. 5(c))"
    )]
    pub service_providers: Vec<String>,
    /// Send a subscriber-only request even though the recipient declared it does not execute
    /// those (para. 3).
    #[arg(long, help_heading = "Request")]
    pub subscriber_only_override: bool,
}

/// One communication whose traffic data are concerned (BC art. 1(d)): as much as is known.
/// Serialized without the `communication_` prefix, as the protocol's `Communication`.
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Communication (BC art. 1(d))")]
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

impl Extras for NoExtras {}

impl Extras for AttachArgs {
    fn attach(&self) -> &[PathBuf] {
        &self.attach
    }
}
