//! The command line as clap parses it. Nothing here does I/O: `settings` turns these values
//! into typed settings, and only then does any command touch a file or a socket.

use clap::{Args, Parser, Subcommand, ValueEnum};
use poc247_protocol::{CaseRef, PartyId, Urgency};
use std::path::PathBuf;

const EXIT_STATUS: &str = "\
Exit status:
  0  done
  1  the request was refused: by the node (invalid fields, conflict, not found) or by the
     local checks before the node was contacted; for `run`, the configuration, directory or
     keys were refused
  2  usage error (unknown flag, bad flag value)
  3  no node is listening on the control socket
  4  internal error (the node answered 5xx, or anything unexpected)

The control socket is the first of: --socket; the socket of the --config file;
$POC247_SOCKET; the socket of the $POC247_CONFIG file; ./data/control.sock.";

/// poc247 — the 24/7 point of contact's node (Budapest Convention art. 35).
#[derive(Debug, Parser)]
#[command(name = "poc247", version, after_help = EXIT_STATUS)]
pub struct Cli {
    /// Control socket of the node (default: see below; env POC247_SOCKET).
    #[arg(long, global = true, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// The node's node.toml: `run` starts it, other commands use its control socket
    /// (env POC247_CONFIG).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Machine output: one JSON document on stdout (the control API's JSON as is).
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a node in the foreground until Ctrl-C or SIGTERM (needs --config).
    #[command(after_help = "\
Exit status: 0 after a clean shutdown; 1 if the configuration, the directory or the keys
are refused; 4 if the node cannot start otherwise (address in use, storage locked).
Logs go to stderr; RUST_LOG filters them (default: info).")]
    Run(RunArgs),
    /// Generate a development network (dev CA, keys, node.toml per party, directory).
    DevNetwork(DevNetworkArgs),
    /// Send a request to another Party's point of contact.
    #[command(subcommand)]
    Send(Box<SendCommand>),
    /// Cases other Parties asked of us (role: requested).
    Inbox(CaseFilterArgs),
    /// Cases we asked of other Parties (role: requester).
    Outbox(CaseFilterArgs),
    /// One case with its timeline: every message, its delivery and its receipt.
    Show(ShowArgs),
    /// The node: party, uptime, counts, peers.
    Status,
    /// Start LU, FR and CO in this process, send a preservation request LU → FR, and show it
    /// delivered with a verified receipt and present in FR's inbox.
    Demo(DemoArgs),
}

/// `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
}

/// How `run` writes its logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Lines for people.
    Human,
    /// One JSON object per line.
    Json,
}

/// `dev-network`.
#[derive(Debug, Args)]
pub struct DevNetworkArgs {
    /// The parties, comma separated (LU,FR,CO; LU-CA for a central authority).
    #[arg(long, value_delimiter = ',', required = true, value_name = "PARTY,...")]
    pub parties: Vec<PartyId>,
    /// The folder to write (must be absent or empty).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// UDP port of the first party on 127.0.0.1; the next ones follow.
    #[arg(long, default_value_t = 47241, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub base_port: u16,
}

/// `send <kind>`: one variant per request kind.
#[derive(Debug, Subcommand)]
pub enum SendCommand {
    /// Expedited preservation of stored computer data (BC art. 29).
    Preservation(PreservationArgs),
}

/// What every request kind takes: the header, the file, and the fields every request may
/// carry (REQUESTS.md: `emergency_facts`, `respond_by`, `respond_by_reason`).
#[derive(Debug, Args)]
#[command(next_help_heading = "Request")]
pub struct RequestArgs {
    /// The requested Party (FR, LU-CA …).
    #[arg(long, value_name = "PARTY")]
    pub to: Option<String>,
    /// How urgent [default: urgent].
    #[arg(long, value_enum)]
    pub urgency: Option<UrgencyArg>,
    /// Language of the free text, ISO 639-1 [default: en].
    #[arg(long, value_name = "CODE")]
    pub language: Option<String>,
    /// Training traffic: the case is marked [EXERCISE] on both sides.
    #[arg(long)]
    pub exercise: bool,
    /// A TOML (or .json) file with `to`, `urgency`, `language`, `exercise` and the fields;
    /// flags override it.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Facts establishing the emergency (mandatory with --urgency emergency).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub emergency_facts: Option<String>,
    /// Suggested deadline for the answer (CARICOM MLA para. 29).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub respond_by: Option<String>,
    /// Why that deadline.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub respond_by_reason: Option<String>,
}

/// Urgency as given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UrgencyArg {
    /// Significant and imminent risk to the life or safety of a person.
    Emergency,
    /// Evidence is about to vanish.
    Urgent,
    /// Neither.
    Routine,
}

impl From<UrgencyArg> for Urgency {
    fn from(u: UrgencyArg) -> Urgency {
        match u {
            UrgencyArg::Emergency => Urgency::Emergency,
            UrgencyArg::Urgent => Urgency::Urgent,
            UrgencyArg::Routine => Urgency::Routine,
        }
    }
}

/// `send preservation`: the fields of BC art. 29(2) and 30(1).
#[derive(Debug, Args)]
pub struct PreservationArgs {
    /// Header, file and common fields.
    #[command(flatten)]
    pub request: RequestArgs,
    /// The fields of art. 29(2).
    #[command(flatten)]
    pub fields: PreservationFields,
    /// The communication of art. 30(1).
    #[command(flatten)]
    pub traffic: TrafficArgs,
}

/// The fields of BC art. 29(2).
#[derive(Debug, Args)]
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
    /// The communication's origin (address, number, account).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub communication_origin: Option<String>,
    /// Its destination.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub communication_destination: Option<String>,
    /// Its route.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub communication_route: Option<String>,
    /// Its date.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub communication_date: Option<String>,
    /// Its time, with time zone.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub communication_time: Option<String>,
    /// How long it lasted.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub communication_duration: Option<String>,
    /// Its size.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub communication_size: Option<String>,
    /// The type of underlying service.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub communication_type_of_service: Option<String>,
}

/// Filters of `inbox` and `outbox`.
#[derive(Debug, Args)]
pub struct CaseFilterArgs {
    /// Only cases in this state (queued, delivered, failed …).
    #[arg(long, value_name = "STATE")]
    pub state: Option<String>,
    /// Only cases of this kind (preservation …).
    #[arg(long, value_name = "KIND")]
    pub kind: Option<String>,
    /// Only cases with this Party.
    #[arg(long, value_name = "PARTY")]
    pub peer: Option<PartyId>,
    /// Only cases of this urgency.
    #[arg(long, value_enum)]
    pub urgency: Option<UrgencyArg>,
}

/// `show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The case reference (LU-2026-000001).
    #[arg(value_name = "CASE_REF")]
    pub case: CaseRef,
}

/// `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the network under DIR/net (default: a temporary folder, removed at the end).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
}
