//! The command line as clap parses it. Nothing here does I/O: `settings` turns these values
//! into typed settings, and only then does any command touch a file or a socket.
//!
//! The flags of the requests (`send <kind>`) are in [`requests`], those of the actions on a
//! case (`ack`, `decide` …) in [`actions`]. A body field `offence` is the flag `--offence`:
//! the flag names are the field names of docs/requests.md with `-` for `_`.

pub mod actions;
pub mod body;
pub mod requests;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum, ValueHint};
use poc247_protocol::{CaseRef, MessageKind, PartyId, Urgency};
use std::ffi::OsStr;
use std::path::PathBuf;

pub use actions::ActionCommand;
pub use requests::SendCommand;

const EXIT_STATUS: &str = "\
Exit status:
  0  done
  1  the request was refused: by the node (invalid fields, conflict, not found) or by the
     local checks before the node was contacted; for `run`, the configuration, directory or
     keys were refused; for `audit verify`, the audit log is broken
  2  usage error (unknown flag, bad flag value)
  3  no node is listening on the control socket
  4  internal error (the node answered 5xx, or anything unexpected)
  5  not sent: the node's checks gave warnings to confirm (printed on stderr) and there was
     no terminal to ask on, or the answer was not y; nothing was stored. Check them, and add
     --yes to send anyway

The control socket is the first of: --socket; the socket of the --config file;
$POC247_SOCKET; the socket of the $POC247_CONFIG file; ./data/control.sock.";

/// What `send` and every action take: confirm the node's warnings, or only show what would
/// be sent.
#[derive(Debug, Args, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConfirmArgs {
    /// Send even if the node's checks give warnings (a language override, a copy to the
    /// central authority, information sent although its conditions were declined …). Without it, the warnings are
    /// shown and, on a terminal, confirmed with y; elsewhere nothing is sent (exit 5).
    #[arg(long, help_heading = "Confirmation")]
    pub yes: bool,
    /// Show what would be sent (checked by the node: routing, the case's state after, the
    /// warnings, the body) and send and store nothing.
    #[arg(long, help_heading = "Confirmation")]
    pub dry_run: bool,
}

/// poc247 — the 24/7 point of contact's node (Budapest Convention art. 35).
#[derive(Debug, Parser)]
#[command(name = "poc247", version, after_help = EXIT_STATUS)]
pub struct Cli {
    /// Control socket of the node (default: see below; env POC247_SOCKET).
    #[arg(long, global = true, value_name = "PATH", value_hint = ValueHint::FilePath)]
    pub socket: Option<PathBuf>,
    /// The node's node.toml: `run` starts it, other commands use its control socket
    /// (env POC247_CONFIG).
    #[arg(long, global = true, value_name = "PATH", value_hint = ValueHint::FilePath)]
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
    /// Create a new node's signing key, TLS key, certificate signing request and node.toml
    /// (the network registry's key pinned), and print the next steps.
    #[command(after_help = "\
Writes into DIR (created with mode 0700 if absent):
  signing.key  the node's ed25519 signing key (mode 0600)
  tls.key      the node's TLS key, ECDSA P-256, PKCS#8 PEM (mode 0600)
  tls.csr      a certificate signing request for <party>.poc247: send it to the network CA
  node.toml    the configuration: the registry key pinned, these files, tls.pem and ca.pem
Then: the registry issues tls.pem; `directory entry` signs this node's entry; `directory
apply --offline` installs the version that lists it (docs/joining.md).
Exit status: 0 done; 1 a file is already there (nothing is overwritten); 2 a bad flag.")]
    Init(InitArgs),
    /// The peers: connection, last seen, queue, certificate; `peers reload` re-reads the
    /// directory and the node's certificate.
    Peers(PeersArgs),
    /// Send a request to another Party's point of contact (opens a case).
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
    /// Everything due or overdue across all cases, soonest first, with who owes it and the
    /// command that settles it.
    Pending(PendingArgs),
    /// Content-free statistics of the cases opened in a period (exercise traffic left out).
    Stats(StatsArgs),
    /// Erase a case, one message's content or one attachment, on an officer's order
    /// (CIC 67-1(3)); the audit log keeps that it happened and why.
    #[command(after_help = "\
Purging a case or a message deletes the attachment files they alone list (a file another
message still lists stays); --attachment deletes one file of the case, and fetching it then
answers that it was purged.
Exit status: 0 purged; 1 no reason, or no such case, message or attachment; 3 no node.")]
    Purge(PurgeArgs),
    /// Send again a message the peer refused for good, once the cause is fixed (a clock, a
    /// certificate); says why it had failed.
    #[command(after_help = "\
It is queued again (and signed again with a fresh time if it waited long); the case of a
failed request goes back to queued. The audit log records resent:<why it had failed>.
Exit status: 0 queued again; 1 no such message in the case, or it did not fail; 3 no node.")]
    Resend(ResendArgs),
    /// Answer or follow up in a case (`ack`, `decide`, `confirm` …).
    #[command(flatten)]
    Act(Box<ActionCommand>),
    /// Record a request that came by phone, fax, e-mail or INTERPOL I-24/7 as a case.
    Record(RecordArgs),
    /// Write an attachment of a case to a file, after checking its SHA-256.
    #[command(after_help = "\
The file is written beside --out under a temporary name and renamed into place only when its
hash matches; an existing --out is not overwritten. A download that runs for more than a
second shows a progress bar on stderr when it is a terminal (never with --json;
POC247_PROGRESS_DELAY_MS changes the second).
Exit status: 0 written; 1 unknown case or attachment, or a hash mismatch; 3 no node.")]
    Fetch(FetchArgs),
    /// Write a case as one signed file: its messages as signed, receipts, attachments (or
    /// their hashes), audit entries with their proof, and a printable HTML page.
    #[command(after_help = "\
The bundle is checked offline with `poc247 verify-bundle FILE`; its format is docs/bundle.md.
Exporting is recorded in the node's audit log. An existing --out (or --html) is not
overwritten.
Exit status: 0 written; 1 unknown case, or attachments too large to include; 3 no node.")]
    Export(ExportArgs),
    /// Check a bundle written by `export`, offline, without a node.
    #[command(after_help = "\
Checks the exporting node's signature over the whole file, its key history, the directory
version it names, every message's and receipt's signature, the attachments' hashes, the audit
entries' chain to signed checkpoints, and that the HTML page is the one the content gives.
Exit status: 0 sound; 1 the bundle is not sound (the reason is printed); 2 usage.")]
    VerifyBundle(VerifyBundleArgs),
    /// Follow the node's events as they happen, one line each, until Ctrl-C.
    #[command(after_help = "\
Each line: time (local, and how long ago)  type  case  message kind  peer, then any detail
of the event (its times, such as due=, the same way).
With --json: one JSON object per line, as the control API's event stream gives it.
When the node stops, watch says so on stderr and follows again once it is back, from the
event after the last one it printed.
Exit status: 0 when the reader goes away; 3 if no node is listening at the start.")]
    Watch,
    /// The duty officer's board: what is owed, soonest first, live; open and acknowledge a
    /// case with a key.
    #[command(after_help = "\
A full-screen view of GET /v1/pending, read again at every event of the node (and every 15 s):
emergencies in bold red, overdue items in red (no colour with NO_COLOR), the time each is due
in local time and how far from now. The header says when the board lost the node and when
it is back; it follows the events again from the last one it saw.
Keys: Up/Down (or j/k) move; Enter opens the case in a pane (its `show` view), PgUp/PgDn
scroll it, Esc closes it; a acknowledges the selected case (asks the officer's name, as
`poc247 ack --officer`); r reads again; q quits.
Exit status: 0 when the officer quits; 3 if no node is listening at the start.")]
    Board(BoardArgs),
    /// The audit log: check its hash chain and signed checkpoints, or export it.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Exercises on a drill node (`[drill] enabled = true`): move its clock forward.
    #[command(subcommand)]
    Drill(DrillCommand),
    /// Check a node's configuration without starting it: node.toml, the directory, the keys
    /// and the certificates, each named when it is wrong (needs --config).
    CheckConfig,
    /// Give a stopped node's unused store space back to the file system: copy its store into a
    /// fresh one beside it, check the copy entry by entry, and swap it in.
    #[command(after_help = "\
The store is the folder sled/ in the node's data_dir (--data-dir, or data_dir of the --config
file). The node must be stopped: a store in use is refused. The copy is written to
sled.compact beside it, flushed to the disk, opened again and compared with the store entry by
entry, renamed sled.new, and then takes the store's place by renames (the former store is
sled.old until it is removed). Killed at any point, the node's next start (or the next
compact) finds the store whole, the former or the compacted one, and removes what is left
of the other. It needs free space for a second copy of the live data.
Exit status: 0 compacted; 1 not a data folder with a store, or the store is in use (nothing
is changed); 4 a read, write or rename failed.")]
    Compact(CompactArgs),
    /// The network's registry (its secretariat): its keys and CA, node certificates, signed
    /// directory versions.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// This node's entry in the network's directory, and the signed versions it takes.
    #[command(subcommand)]
    Directory(DirectoryCommand),
    /// Measure latency and throughput of two nodes run as child processes on loopback.
    Bench(BenchArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = "\
Example: poc247 completions bash > /etc/bash_completion.d/poc247")]
    Completions(CompletionsArgs),
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

/// `compact`.
#[derive(Debug, Args)]
pub struct CompactArgs {
    /// The node's data folder (node.toml's data_dir, which holds sled/); default: the data_dir
    /// of the --config file.
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub data_dir: Option<PathBuf>,
}

/// `dev-network`.
#[derive(Debug, Args)]
pub struct DevNetworkArgs {
    /// The parties, comma separated (LU,FR,CO; LU-CA for a central authority).
    #[arg(long, value_delimiter = ',', required = true, value_name = "PARTY,...")]
    pub parties: Vec<PartyId>,
    /// The folder to write (must be absent or empty).
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub out: PathBuf,
    /// UDP port of the first party on 127.0.0.1; the next ones follow.
    #[arg(long, default_value_t = 47241, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub base_port: u16,
}

/// `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// This node's party (LU, or LU-CA for a central authority).
    #[arg(long, value_name = "PARTY", required_unless_present = "rotate")]
    pub party: Option<PartyId>,
    /// The node's folder: its keys, the request and node.toml go in it, its store in data/
    /// inside it (created mode 0700 if absent; no file in it is ever overwritten).
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath, required_unless_present = "rotate")]
    pub data: Option<PathBuf>,
    /// The network registry's key (base64, as `registry init` prints it), pinned in node.toml:
    /// the node takes its directory only from versions this key signed.
    #[arg(long, value_name = "KEY", value_parser = registry_key, required_unless_present = "rotate")]
    pub registry_key: Option<poc247_protocol::VerifyingKey>,
    /// The UDP address the node listens on for peers (its directory entry's address points here).
    #[arg(long, value_name = "ADDR", default_value = poc247_node::init::DEFAULT_LISTEN)]
    pub listen: std::net::SocketAddr,
    /// The network CA's certificate as node.toml names it (relative to the node's folder).
    #[arg(long, value_name = "FILE", default_value = "ca.pem", value_hint = ValueHint::FilePath)]
    pub ca_cert: PathBuf,
    /// A running node's next key, beside the current one, which stays in use: `signing` (a new
    /// signing key) or `tls` (a new TLS key and its certificate request). Needs --config. The
    /// node takes it once a directory version lists it (`directory entry` adds it).
    #[arg(long, value_enum, conflicts_with_all = ["party", "data", "registry_key"])]
    pub rotate: Option<RotateArg>,
}

/// Which key `init --rotate` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RotateArg {
    /// The ed25519 signing key.
    Signing,
    /// The TLS key (and its certificate request).
    Tls,
}

/// `peers`.
#[derive(Debug, Args)]
pub struct PeersArgs {
    /// Without a subcommand: the list.
    #[command(subcommand)]
    pub command: Option<PeersCommand>,
}

/// `peers reload`.
#[derive(Debug, Subcommand)]
pub enum PeersCommand {
    /// Re-read the signed directory version in force and the node's TLS certificate and key,
    /// check them whole and put them in force (as SIGHUP does); a bad file is refused with
    /// its reason and the old one stays.
    #[command(after_help = "\
Parties removed from the directory: their connections close and their queued messages are
marked failed. Key, pin and address changes apply to new messages and connections.
Exit status: 0 reloaded; 1 refused (the reason names the file, line and party).")]
    Reload,
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

/// Yes or no, for filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum YesNo {
    /// Only those.
    Yes,
    /// All but those.
    No,
}

/// Filters of `inbox` and `outbox`.
#[derive(Debug, Args)]
pub struct CaseFilterArgs {
    /// Only cases in this state (queued, delivered, failed …).
    #[arg(long, value_name = "STATE", value_parser = case_state)]
    pub state: Option<String>,
    /// Only cases of this kind (preservation …).
    #[arg(long, value_name = "KIND", value_parser = case_kind)]
    pub kind: Option<String>,
    /// Only cases with this Party (in any case: `fr` is FR).
    #[arg(long, value_name = "PARTY", value_parser = party_code)]
    pub peer: Option<PartyId>,
    /// Only cases of this urgency.
    #[arg(long, value_enum)]
    pub urgency: Option<UrgencyArg>,
    /// Only exercise cases (yes), or only real ones (no).
    #[arg(long, value_enum)]
    pub exercise: Option<YesNo>,
    /// Cases per page (default 200, at most 1,000).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub limit: Option<u64>,
    /// The page after the one that printed this cursor.
    #[arg(long, value_name = "CURSOR", conflicts_with = "all")]
    pub cursor: Option<String>,
    /// Every page, one after the other.
    #[arg(long)]
    pub all: bool,
}

/// A party code in any case (`fr` is FR).
pub fn party_code(given: &str) -> Result<PartyId, String> {
    PartyId::parse(&given.trim().to_ascii_uppercase()).map_err(|e| e.to_string())
}

/// A case reference in any case (`lu-2026-000001` is `LU-2026-000001`).
pub fn case_ref(given: &str) -> Result<CaseRef, String> {
    CaseRef::parse(&given.trim().to_ascii_uppercase()).map_err(|e| e.to_string())
}

/// The registry key `init` pins: an ed25519 public key in base64, refused here (exit 2) with
/// what is wrong with it.
fn registry_key(given: &str) -> Result<poc247_protocol::VerifyingKey, String> {
    poc247_node::peers::directory::decode_public_key(given.trim())
}

/// A case state a filter may name: refused here with the accepted ones and a did-you-mean
/// (exit 2), so a typo never makes the inbox look empty.
fn case_state(given: &str) -> Result<String, String> {
    let names = poc247_node::lifecycle::CaseState::NAMES;
    let lower = given.trim().to_ascii_lowercase();
    if names.contains(&lower.as_str()) {
        Ok(lower)
    } else {
        Err(poc247_node::api::not_one_of(given, names))
    }
}

/// A request kind a filter may name (`preservation` or `emergency-production`), as
/// [`case_state`] checks a state.
fn case_kind(given: &str) -> Result<String, String> {
    let wire = given.trim().to_ascii_lowercase().replace('-', "_");
    match MessageKind::parse(&wire).filter(|k| k.is_request()) {
        Some(k) => Ok(k.as_str().to_owned()),
        None => {
            let kinds: Vec<&str> = MessageKind::ALL
                .iter()
                .filter(|k| k.is_request())
                .map(|k| k.as_str())
                .collect();
            Err(poc247_node::api::not_one_of(given, &kinds))
        }
    }
}

/// `board`.
#[derive(Debug, Args)]
pub struct BoardArgs {
    /// The officer's name offered when acknowledging (asked for each time otherwise).
    #[arg(long, value_name = "NAME")]
    pub officer: Option<String>,
}

/// `pending`.
#[derive(Debug, Args)]
pub struct PendingArgs {
    /// Only what this side owes: us, them (any other Party), or a Party's code.
    #[arg(long, value_name = "WHO", value_parser = owed_by)]
    pub owed_by: Option<String>,
    /// Only what is overdue.
    #[arg(long)]
    pub overdue: bool,
    /// At most this many, soonest first (the rest are counted; default 200).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: Option<u32>,
    /// Go on after the page that gave this cursor (printed under it).
    #[arg(long, value_name = "CURSOR", conflicts_with = "all")]
    pub cursor: Option<String>,
    /// Every page, each printed as it comes.
    #[arg(long)]
    pub all: bool,
}

/// `--owed-by`: us, them, or a Party's code.
fn owed_by(v: &str) -> Result<String, String> {
    match v {
        "us" | "them" => Ok(v.to_owned()),
        p => PartyId::parse(p)
            .map(|p| p.to_string())
            .map_err(|_| format!("{p:?} is neither us, them nor a Party's code")),
    }
}

/// `stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// First day or instant of the period (YYYY-MM-DD, RFC 3339 or Unix ms).
    #[arg(long)]
    pub since: Option<String>,
    /// Last day or instant of the period (a date includes that whole day).
    #[arg(long)]
    pub until: Option<String>,
    /// CSV on stdout instead of a table.
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,
}

/// `fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// The case reference.
    #[arg(value_name = "CASE_REF", value_parser = crate::args::case_ref)]
    pub case: CaseRef,
    /// The attachment's SHA-256 (64 lowercase hexadecimal digits).
    #[arg(value_name = "SHA256")]
    pub sha256: String,
    /// Where to write it.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub out: PathBuf,
}

/// `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The case reference.
    #[arg(value_name = "CASE_REF", value_parser = crate::args::case_ref)]
    pub case: CaseRef,
    /// Where to write the bundle.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub out: PathBuf,
    /// Also write the case's printable HTML page alone to this file.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub html: Option<PathBuf>,
    /// Put the attachments' bytes in the bundle (`files`, at most 64 MiB in all) or only
    /// their hashes (`hashes`).
    #[arg(long, value_name = "WHAT", default_value = "hashes", value_parser = ["hashes", "files"])]
    pub attachments: String,
}

/// `verify-bundle`.
#[derive(Debug, Args)]
pub struct VerifyBundleArgs {
    /// The bundle file.
    #[arg(value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub file: PathBuf,
}

/// `purge`.
#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// The case reference.
    #[arg(value_name = "CASE_REF", value_parser = crate::args::case_ref)]
    pub case: CaseRef,
    /// Erase only this message's content (its id); without it (or --attachment) the whole
    /// case goes.
    #[arg(long, value_name = "MESSAGE_ID")]
    pub message: Option<String>,
    /// Erase only this attachment of the case (its SHA-256): the node's copy is deleted
    /// unless a message of another case still lists the same file; the messages that list
    /// it stay.
    #[arg(long, value_name = "SHA256", conflicts_with = "message")]
    pub attachment: Option<String>,
    /// Why (kept in the audit log; no personal data).
    #[arg(long)]
    pub reason: Option<String>,
    /// Say what would be erased, and erase nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `resend`.
#[derive(Debug, Args)]
pub struct ResendArgs {
    /// The case reference.
    #[arg(value_name = "CASE_REF", value_parser = crate::args::case_ref)]
    pub case: CaseRef,
    /// The message that failed (its id, from `show`).
    #[arg(value_name = "MESSAGE_ID")]
    pub message: String,
}

/// `show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The case reference (LU-2026-000001).
    #[arg(value_name = "CASE_REF", value_parser = crate::args::case_ref)]
    pub case: CaseRef,
}

/// `record`: a request that reached the point of contact outside the node (docs/requests.md
/// "Cases begun outside the node"). Every field flag is optional here; the missing ones are
/// named together before the node is asked.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// How it came.
    #[arg(long, value_parser = closed(|| RECORD_CHANNELS.to_vec()))]
    pub channel: Option<String>,
    /// The requesting Party (FR, LU-CA …).
    #[arg(long, value_name = "PARTY")]
    pub from: Option<String>,
    /// What kind of request it is.
    #[arg(long, value_parser = closed(request_kinds))]
    pub kind: Option<String>,
    /// What was asked, in a few lines (the officer's note of the call, fax or e-mail).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub summary: Option<String>,
    /// When it was received, RFC 3339 (2026-05-01T14:03:00+02:00) [default: now].
    #[arg(long, value_name = "TIME")]
    pub received_at: Option<String>,
    /// How urgent [default: urgent].
    #[arg(long, value_enum)]
    pub urgency: Option<UrgencyArg>,
    /// Language of the request, ISO 639-1 [default: en].
    #[arg(long, value_name = "CODE")]
    pub language: Option<String>,
    /// SHA-256 of the document received (fax, e-mail), 64 hexadecimal digits.
    #[arg(long, value_name = "HEX")]
    pub document_sha256: Option<String>,
    /// The request was made orally: it must be confirmed in writing without delay (CARICOM
    /// MLA para. 18).
    #[arg(long)]
    pub oral: bool,
    /// Training traffic.
    #[arg(long)]
    pub exercise: bool,
}

/// The channels by which a request may come outside the node.
pub const RECORD_CHANNELS: [&str; 5] = ["phone", "fax", "email", "interpol_i247", "other"];

/// `audit`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain and check every signed checkpoint (exit 1 if broken).
    Verify,
    /// Export the entries as JSON lines, one object per entry (stdout, or --out).
    Export(AuditExportArgs),
}

/// `registry`.
#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Make the network's directory-signing key (ed25519) and CA in DIR (keys 0600, never
    /// overwritten); prints the registry key every node pins in its node.toml.
    Init {
        /// The registry's folder.
        #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
        out: PathBuf,
    },
    /// Issue a node's certificate from its signing request (`poc247 init` writes it), with
    /// exactly the profile nodes require; a request for another name or key type is refused.
    SignCsr {
        /// The request (PEM).
        #[arg(value_name = "CSR", value_hint = ValueHint::FilePath)]
        csr: PathBuf,
        /// The Party it is for.
        #[arg(long, value_name = "PARTY")]
        party: PartyId,
        /// Days of validity (1 to 825).
        #[arg(long, value_name = "N", default_value_t = 365)]
        days: u32,
        /// The registry's folder.
        #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
        registry: PathBuf,
        /// Where to write the certificate (PEM; never overwritten).
        #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
        out: PathBuf,
    },
    /// Sign the next directory version: the entries as their Parties signed them, after the
    /// previous version (serial + 1, its SHA-256).
    Publish {
        /// The registry's folder.
        #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
        registry: PathBuf,
        /// A signed entry (`poc247 directory entry` writes it); repeatable.
        #[arg(long = "entry", value_name = "FILE", required = true)]
        entries: Vec<PathBuf>,
        /// The version in force, which this one follows (none for the first).
        #[arg(long, value_name = "FILE")]
        previous: Option<PathBuf>,
        /// Days until the next version is due.
        #[arg(long, value_name = "N", default_value_t = 30)]
        next_update_days: u32,
        /// Where to write the version (JSON; never overwritten).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

/// `directory`.
#[derive(Debug, Subcommand)]
pub enum DirectoryCommand {
    /// Build and sign this node's entry: its keys from the node's files, everything else
    /// (name, addresses, languages, central authority, declarations) from a TOML file.
    Entry {
        /// The declarations: the fields of a directory entry but `id`, `signing_key` and
        /// `spki_sha256`.
        #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
        declarations: PathBuf,
        /// Where to write the signed entry (JSON; never overwritten).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Put a signed directory version in force at this node, once checked: signed by the
    /// pinned registry key, newer than and chained to the one in force, each entry signed by
    /// its Party.
    Apply {
        /// The version (JSON).
        #[arg(value_name = "FILE", value_hint = ValueHint::FilePath)]
        file: PathBuf,
        /// The node is not running (its first version, before its first start): check the
        /// version and write it with the node's files (needs --config).
        #[arg(long)]
        offline: bool,
    },
}

/// `drill`.
#[derive(Debug, Subcommand)]
pub enum DrillCommand {
    /// Move the drill node's clock forward, so that deadlines of days come due now. Move every
    /// node of the drill by the same amount: a peer more than the clock-skew window apart
    /// refuses their messages as stale.
    #[command(after_help = "\
Only a node whose node.toml says [drill] enabled = true accepts it; it takes and sends exercise
traffic only. The move is audited and survives a restart; the clock never runs back.
Exit status: 0 moved; 1 not a drill node; 3 no node.")]
    Advance(DrillAdvanceArgs),
}

/// `drill advance`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("by").required(true).multiple(true).args(["days", "hours"])))]
pub struct DrillAdvanceArgs {
    /// Days forward.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(0..=3650))]
    pub days: Option<u64>,
    /// Hours forward.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(0..=87600))]
    pub hours: Option<u64>,
}

/// `audit export`.
#[derive(Debug, Args)]
pub struct AuditExportArgs {
    /// Only entries at or after this time: RFC 3339, a date (YYYY-MM-DD, UTC) or Unix ms.
    #[arg(long, value_name = "TIME", value_parser = since)]
    pub since: Option<String>,
    /// From this position of the log on (the first entry is 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub from: Option<u64>,
    /// Write to this file (replaced when complete) instead of stdout; the summary is then
    /// printed (as JSON with --json).
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub out: Option<PathBuf>,
}

/// `bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A short run (100 latency samples, 1,000 requests per level, 2 s open loop).
    #[arg(long)]
    pub quick: bool,
    /// Instead: send one attachment of this size (`1GiB`, `64MiB`, `500MB`) between the two
    /// nodes and compare its rate with a raw QUIC stream; peak RSS growth of each node.
    #[arg(long, value_name = "SIZE", conflicts_with = "quick")]
    pub attachment: Option<String>,
    /// Instead: a store of many cases (`bench store --cases N`).
    #[command(subcommand)]
    pub what: Option<BenchCommand>,
}

/// `bench store`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Fill a node's store with N cases through the store's API, start it as a process and
    /// measure ready, idle RSS, the first page of each listing, pending, show, /metrics, audit
    /// verify and the submit rate against an empty store's (rounds taken in turn).
    Store {
        /// Cases written before the node starts.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        cases: u64,
        /// Requests submitted at 64 in flight on each store.
        #[arg(long, value_name = "N", default_value_t = 4000,
              value_parser = clap::value_parser!(u64).range(1..))]
        submits: u64,
        /// Rounds of submits taken in turn on the full store and on a fresh empty one; the
        /// ratio reported is of their medians.
        #[arg(long, value_name = "N", default_value_t = 3,
              value_parser = clap::value_parser!(u64).range(1..=20))]
        rounds: u64,
        /// Keep the networks and their data directories in this (empty or new) folder.
        #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
        keep: Option<PathBuf>,
    },
}

/// `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the network under DIR/net (default: a temporary folder, removed at the end).
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub data: Option<PathBuf>,
}

/// A closed set of values given by their API names (`stored_data_access`); `-` may stand
/// for `_` (`stored-data-access`). Shells complete them and `--help` lists them.
#[derive(Clone)]
pub struct Closed(Vec<&'static str>);

impl Closed {
    /// The set of `values`.
    pub fn of(values: &[&'static str]) -> Closed {
        Closed(values.to_vec())
    }
}

/// The parser of a closed set.
pub fn closed(values: fn() -> Vec<&'static str>) -> Closed {
    Closed(values())
}

impl TypedValueParser for Closed {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<String, clap::Error> {
        let normal = value.to_string_lossy().replace('-', "_");
        PossibleValuesParser::new(self.0.iter().copied()).parse_ref(cmd, arg, OsStr::new(&normal))
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(self.0.iter().copied().map(PossibleValue::new)))
    }
}

/// The API names of the request kinds.
pub fn request_kinds() -> Vec<&'static str> {
    poc247_protocol::MessageKind::ALL
        .iter()
        .filter(|k| k.is_request())
        .map(|k| k.as_str())
        .collect()
}

/// `--since`: what the node's audit export takes.
fn since(s: &str) -> Result<String, String> {
    match poc247_node::api::parse_time(s) {
        Some(_) => Ok(s.to_owned()),
        None => Err("expected RFC 3339, a date YYYY-MM-DD, or Unix milliseconds".into()),
    }
}
