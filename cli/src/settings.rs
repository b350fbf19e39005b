//! The command line resolved into typed settings before any command runs: the control socket
//! found, the configuration loaded, the request built and checked, the network's addresses
//! computed. Only files named on the command line are read here; no socket is touched.

use crate::action::{self, CaseAction};
use crate::args::{
    AuditCommand, BenchArgs, BenchCommand, CaseFilterArgs, Cli, Command, DirectoryCommand,
    DrillCommand, LogFormat, PeersCommand, PendingArgs, YesNo,
};
use crate::failure::Failure;
use crate::request::{self, Request};
use clap::CommandFactory;
use poc247_api::PurgeTarget;
use poc247_node::NodeConfig;
use poc247_protocol::{CaseRef, PartyId, Urgency};
use serde_json::Value;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// The socket when nothing else names one.
pub const DEFAULT_SOCKET: &str = "./data/control.sock";

/// What the environment says.
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// `POC247_SOCKET`.
    pub socket: Option<PathBuf>,
    /// `POC247_CONFIG`.
    pub config: Option<PathBuf>,
}

impl Env {
    /// The process's environment (empty values count as unset).
    pub fn from_process() -> Self {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Env {
            socket: var("POC247_SOCKET"),
            config: var("POC247_CONFIG"),
        }
    }
}

/// Everything a command needs, typed.
#[derive(Debug)]
pub struct Settings {
    /// Print one JSON document on stdout instead of text.
    pub json: bool,
    /// What to do.
    pub action: Action,
}

/// One command, resolved.
#[derive(Debug)]
pub enum Action {
    /// Run a node in the foreground.
    Run {
        /// Its configuration.
        config: Box<NodeConfig>,
        /// Log format.
        log: LogFormat,
    },
    /// Write a development network.
    DevNetwork {
        /// The folder.
        out: PathBuf,
        /// Each party and its address.
        nodes: Vec<(PartyId, SocketAddr)>,
    },
    /// Submit a request.
    Send {
        /// Control socket.
        socket: PathBuf,
        /// The request, checked.
        request: Box<Request>,
    },
    /// An action on a case.
    Act {
        /// Control socket.
        socket: PathBuf,
        /// The action, checked.
        action: Box<CaseAction>,
    },
    /// Record a request received outside the node.
    Record {
        /// Control socket.
        socket: PathBuf,
        /// The body of `POST /v1/cases`, checked.
        body: Value,
    },
    /// The duty officer's board.
    Board {
        /// Control socket.
        socket: PathBuf,
        /// The officer's name offered for acknowledgements.
        officer: Option<String>,
    },
    /// Follow the event stream.
    Watch {
        /// Control socket.
        socket: PathBuf,
    },
    /// Verify the audit log.
    AuditVerify {
        /// Control socket.
        socket: PathBuf,
    },
    /// Export the audit log.
    AuditExport {
        /// Control socket.
        socket: PathBuf,
        /// First position.
        from: u64,
        /// Only entries at or after this time (checked already).
        since: Option<String>,
        /// The file to write, or stdout.
        out: Option<PathBuf>,
    },
    /// The benchmark.
    Bench {
        /// The short run.
        quick: bool,
        /// The attachment benchmark of this many bytes instead.
        attachment: Option<u64>,
    },
    /// The store benchmark: cases, submits, rounds, the folder to keep.
    BenchStore {
        /// Cases.
        cases: usize,
        /// Submits.
        submits: usize,
        /// Rounds of submits in turn on the full and an empty store.
        rounds: usize,
        /// Keep here.
        keep: Option<PathBuf>,
    },
    /// A completion script.
    Completions {
        /// For this shell.
        shell: clap_complete::Shell,
    },
    /// List cases.
    Cases {
        /// Control socket.
        socket: PathBuf,
        /// Which side.
        mailbox: Mailbox,
        /// The API path with its query.
        path: String,
        /// Every page.
        all: bool,
    },
    /// Write an attachment to a file.
    Fetch {
        /// Control socket.
        socket: PathBuf,
        /// The case.
        case: CaseRef,
        /// Its SHA-256.
        sha256: [u8; 32],
        /// The output file.
        out: PathBuf,
    },
    /// A case as one signed file.
    Export {
        /// Control socket.
        socket: PathBuf,
        /// The case.
        case: CaseRef,
        /// The bundle file.
        out: PathBuf,
        /// The HTML page alone, too.
        html: Option<PathBuf>,
        /// Whether the attachments' bytes go in.
        files: bool,
    },
    /// Check a bundle offline.
    VerifyBundle {
        /// The bundle file.
        file: PathBuf,
    },
    /// One case.
    Show {
        /// Control socket.
        socket: PathBuf,
        /// The case.
        case: CaseRef,
    },
    /// The node's status.
    Status {
        /// Control socket.
        socket: PathBuf,
    },
    /// `pending --all`: every page, each printed as it comes.
    PendingAll {
        /// Control socket.
        socket: PathBuf,
        /// The first page's API path.
        path: String,
    },
    /// A read of the API shown by a renderer (`pending`, `stats`).
    Get {
        /// Control socket.
        socket: PathBuf,
        /// The API path.
        path: String,
        /// How people see it.
        render: fn(&Value) -> String,
    },
    /// Statistics as CSV.
    StatsCsv {
        /// Control socket.
        socket: PathBuf,
        /// The API path.
        path: String,
    },
    /// Compact a stopped node's store.
    Compact {
        /// The node's data_dir.
        data_dir: PathBuf,
    },
    /// Check a configuration.
    CheckConfig {
        /// The node's configuration.
        config: PathBuf,
    },
    /// The registry's offline commands.
    Registry(Box<crate::args::RegistryCommand>),
    /// Build this node's signed entry.
    DirectoryEntry {
        /// The node's configuration.
        config: PathBuf,
        /// The declarations file.
        declarations: PathBuf,
        /// Where to write.
        out: PathBuf,
    },
    /// Apply a signed version to a stopped node's files.
    DirectoryApplyOffline {
        /// The node's configuration.
        config: PathBuf,
        /// The version file.
        file: PathBuf,
    },
    /// Apply a signed version.
    DirectoryApply {
        /// Control socket.
        socket: PathBuf,
        /// The version file.
        file: PathBuf,
    },
    /// A drill clock's move.
    DrillAdvance {
        /// Control socket.
        socket: PathBuf,
        /// `{ "days"?, "hours"? }`.
        body: Value,
    },
    /// A resend.
    Resend {
        /// Control socket.
        socket: PathBuf,
        /// The case.
        case: CaseRef,
        /// `{ "fields": { "message_id" } }`.
        body: Value,
    },
    /// A purge.
    Purge {
        /// Control socket.
        socket: PathBuf,
        /// The case.
        case: CaseRef,
        /// `{ "fields": { "reason", "message_id"?, "attachment"? } }`.
        body: Value,
    },
    /// Create a node's keys, certificate request and configuration.
    Init(poc247_node::init::InitOptions),
    /// A node's next key beside the current one.
    Rotate {
        /// The node's configuration.
        config: PathBuf,
        /// Which key.
        rotate: crate::args::RotateArg,
    },
    /// List the peers.
    Peers {
        /// Control socket.
        socket: PathBuf,
    },
    /// Reload the directory and the node's certificate.
    PeersReload {
        /// Control socket.
        socket: PathBuf,
    },
    /// The in-process demo.
    Demo {
        /// Where to keep the network (a temporary folder if absent).
        data: Option<PathBuf>,
    },
}

/// Which cases a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mailbox {
    /// Asked of us: role `requested`.
    Inbox,
    /// Asked by us: role `requester`.
    Outbox,
}

impl Mailbox {
    /// The API's role name.
    pub fn role(self) -> &'static str {
        match self {
            Mailbox::Inbox => "requested",
            Mailbox::Outbox => "requester",
        }
    }
    /// Its name for people.
    pub fn name(self) -> &'static str {
        match self {
            Mailbox::Inbox => "inbox",
            Mailbox::Outbox => "outbox",
        }
    }
}

fn usage(kind: clap::error::ErrorKind, message: impl std::fmt::Display) -> Failure {
    Failure::Usage(Cli::command().error(kind, message))
}

/// Resolves the command line.
pub fn resolve(cli: Cli, env: &Env) -> Result<Settings, Failure> {
    let Cli {
        socket,
        config,
        json,
        command,
    } = cli;
    let socket = || control_socket(socket.as_deref(), config.as_deref(), env);
    let action = match command {
        Command::Run(a) => {
            let Some(path) = config.clone().or_else(|| env.config.clone()) else {
                return Err(usage(
                    clap::error::ErrorKind::MissingRequiredArgument,
                    "`run` needs the node's configuration: --config <node.toml> (or POC247_CONFIG)",
                ));
            };
            Action::Run {
                config: Box::new(load_config(&path)?),
                log: a.log_format,
            }
        }
        Command::DevNetwork(a) => {
            let mut nodes = Vec::new();
            for (i, party) in a.parties.into_iter().enumerate() {
                let port = u16::try_from(usize::from(a.base_port) + i).map_err(|_| {
                    usage(
                        clap::error::ErrorKind::ValueValidation,
                        format!(
                            "--base-port {} leaves no port for party {party} (the ports run up from it)",
                            a.base_port
                        ),
                    )
                })?;
                nodes.push((party, SocketAddr::from((Ipv4Addr::LOCALHOST, port))));
            }
            Action::DevNetwork { out: a.out, nodes }
        }
        Command::Send(cmd) => {
            let request = Box::new(request::build(&cmd)?);
            Action::Send {
                socket: socket()?,
                request,
            }
        }
        Command::Inbox(f) => cases(Mailbox::Inbox, &f, socket()?),
        Command::Outbox(f) => cases(Mailbox::Outbox, &f, socket()?),
        Command::Fetch(a) => Action::Fetch {
            socket: socket()?,
            sha256: poc247_protocol::parse_sha256_hex(&a.sha256).ok_or_else(|| {
                Failure::refused(
                    "bad-request",
                    format!("{:?} is not a SHA-256 in 64 lowercase hex digits", a.sha256),
                )
            })?,
            case: a.case,
            out: a.out,
        },
        Command::Export(a) => Action::Export {
            socket: socket()?,
            case: a.case,
            out: a.out,
            html: a.html,
            files: a.attachments == "files",
        },
        Command::VerifyBundle(a) => Action::VerifyBundle { file: a.file },
        Command::Show(a) => Action::Show {
            socket: socket()?,
            case: a.case,
        },
        Command::Status => Action::Status { socket: socket()? },
        Command::Pending(a) if a.all => Action::PendingAll {
            socket: socket()?,
            path: pending_path(&a),
        },
        Command::Pending(a) => Action::Get {
            socket: socket()?,
            path: pending_path(&a),
            render: crate::render::pending,
        },
        Command::Stats(a) => {
            let mut q = Vec::new();
            for (k, v) in [("since", &a.since), ("until", &a.until)] {
                if let Some(v) = v {
                    if v.is_empty()
                        || !v
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-:.+".contains(&b))
                    {
                        return Err(Failure::refused(
                            "bad-request",
                            format!("--{k}: {v:?} is not a date or time"),
                        ));
                    }
                    q.push(format!("{k}={}", v.replace('+', "%2B")));
                }
            }
            if a.csv {
                q.push("format=csv".into());
            }
            let path = format!("/v1/stats?{}", q.join("&"));
            if a.csv {
                Action::StatsCsv {
                    socket: socket()?,
                    path,
                }
            } else {
                Action::Get {
                    socket: socket()?,
                    path,
                    render: crate::render::stats,
                }
            }
        }
        Command::Resend(a) => {
            let message_id = a
                .message
                .trim()
                .parse::<poc247_protocol::MessageId>()
                .map_err(|e| {
                    Failure::refused("invalid-fields", format!("resend refused: message_id: {e}"))
                })?;
            let body = poc247_api::ResendBody {
                fields: poc247_api::ResendFields { message_id },
            };
            Action::Resend {
                socket: socket()?,
                case: a.case.clone(),
                body: body_json(&body)?,
            }
        }
        Command::Purge(a) => {
            let reason = a.reason.clone().unwrap_or_default();
            if reason.trim().is_empty() {
                return Err(Failure::refused(
                    "invalid-fields",
                    "purge refused: reason: missing",
                ));
            }
            let target = match (&a.message, &a.attachment) {
                (Some(_), _) => PurgeTarget::Message,
                (None, Some(_)) => PurgeTarget::Attachment,
                (None, None) => PurgeTarget::Case,
            };
            let message_id =
                match &a.message {
                    None => None,
                    Some(m) => Some(m.trim().parse::<poc247_protocol::MessageId>().map_err(
                        |e| {
                            Failure::refused(
                                "invalid-fields",
                                format!("purge refused: message_id: {e}"),
                            )
                        },
                    )?),
                };
            if let Some(h) = &a.attachment {
                if poc247_protocol::parse_sha256_hex(h).is_none() {
                    return Err(Failure::refused(
                        "invalid-fields",
                        format!(
                            "purge refused: attachment: {h:?} is not a SHA-256 in 64 lowercase \
                             hex digits"
                        ),
                    ));
                }
            }
            let body = poc247_api::PurgeBody {
                fields: poc247_api::PurgeFields {
                    target,
                    reason,
                    message_id,
                    attachment: a.attachment.clone(),
                    dry_run: a.dry_run,
                },
            };
            Action::Purge {
                socket: socket()?,
                case: a.case.clone(),
                body: body_json(&body)?,
            }
        }
        Command::Act(cmd) => {
            let action = Box::new(action::build(&cmd)?);
            Action::Act {
                socket: socket()?,
                action,
            }
        }
        Command::Record(r) => {
            let body = action::record(&r, time::OffsetDateTime::now_utc())?;
            Action::Record {
                socket: socket()?,
                body,
            }
        }
        Command::Watch => Action::Watch { socket: socket()? },
        Command::Board(a) => Action::Board {
            socket: socket()?,
            officer: a.officer,
        },
        Command::CheckConfig => {
            let Some(config) = config.clone().or_else(|| env.config.clone()) else {
                return Err(usage(
                    clap::error::ErrorKind::MissingRequiredArgument,
                    "`check-config` needs the node's configuration: --config <node.toml> (or POC247_CONFIG)",
                ));
            };
            Action::CheckConfig { config }
        }
        Command::Compact(a) => {
            let data_dir = match (a.data_dir, config.clone().or_else(|| env.config.clone())) {
                (Some(d), _) => d,
                (None, Some(file)) => {
                    poc247_node::config::NodeConfig::load(&file)
                        .map_err(|e| {
                            Failure::refused("bad-config", format!("{}: {e}", file.display()))
                        })?
                        .data_dir
                }
                (None, None) => {
                    return Err(usage(
                        clap::error::ErrorKind::MissingRequiredArgument,
                        "`compact` needs the node's data folder: --data-dir <DIR>, or --config <node.toml> (or POC247_CONFIG)",
                    ))
                }
            };
            Action::Compact { data_dir }
        }
        Command::Registry(r) => Action::Registry(Box::new(r)),
        Command::Directory(DirectoryCommand::Entry { declarations, out }) => {
            let Some(config) = config.clone().or_else(|| env.config.clone()) else {
                return Err(Failure::refused(
                    "bad-config",
                    "directory entry needs the node's configuration: --config node.toml",
                ));
            };
            Action::DirectoryEntry {
                config,
                declarations,
                out,
            }
        }
        Command::Directory(DirectoryCommand::Apply {
            file,
            offline: false,
        }) => Action::DirectoryApply {
            socket: socket()?,
            file,
        },
        Command::Directory(DirectoryCommand::Apply {
            file,
            offline: true,
        }) => {
            let Some(config) = config.clone().or_else(|| env.config.clone()) else {
                return Err(Failure::refused(
                    "bad-config",
                    "directory apply --offline needs the node's configuration: --config node.toml",
                ));
            };
            Action::DirectoryApplyOffline { config, file }
        }
        Command::Drill(DrillCommand::Advance(a)) => Action::DrillAdvance {
            socket: socket()?,
            body: body_json(&poc247_api::DrillMove {
                days: a.days,
                hours: a.hours,
            })?,
        },
        Command::Audit(AuditCommand::Verify) => Action::AuditVerify { socket: socket()? },
        Command::Audit(AuditCommand::Export(a)) => Action::AuditExport {
            socket: socket()?,
            from: a.from.unwrap_or(1),
            since: a.since,
            out: a.out,
        },
        Command::Bench(BenchArgs {
            what:
                Some(BenchCommand::Store {
                    cases,
                    submits,
                    rounds,
                    keep,
                }),
            ..
        }) => Action::BenchStore {
            cases: usize::try_from(cases).unwrap_or(usize::MAX),
            submits: usize::try_from(submits).unwrap_or(usize::MAX),
            rounds: usize::try_from(rounds).unwrap_or(usize::MAX),
            keep,
        },
        Command::Bench(a) => Action::Bench {
            quick: a.quick,
            attachment: match &a.attachment {
                None => None,
                Some(s) => Some(poc247_bench::parse_size(s).ok_or_else(|| {
                    Failure::refused(
                        "bad-request",
                        format!("--attachment: {s:?} is not a size such as 1GiB or 64MiB"),
                    )
                })?),
            },
        },
        Command::Completions(a) => Action::Completions { shell: a.shell },
        Command::Demo(a) => Action::Demo { data: a.data },
        Command::Init(a) => {
            match (a.rotate, a.party, a.data, a.registry_key) {
                (Some(rotate), _, _, _) => {
                    let Some(config) = config.clone().or_else(|| env.config.clone()) else {
                        return Err(usage(
                        clap::error::ErrorKind::MissingRequiredArgument,
                        "`init --rotate` needs the node's configuration: --config <node.toml> (or POC247_CONFIG)",
                    ));
                    };
                    Action::Rotate { config, rotate }
                }
                (None, Some(party), Some(dir), Some(registry_key)) => {
                    Action::Init(poc247_node::init::InitOptions {
                        party,
                        dir,
                        registry_key,
                        listen: a.listen,
                        ca_cert: a.ca_cert,
                    })
                }
                _ => return Err(usage(
                    clap::error::ErrorKind::MissingRequiredArgument,
                    "`init` needs --party, --data and --registry-key (or --rotate signing|tls for a running node)",
                )),
            }
        }
        Command::Peers(a) => match a.command {
            None => Action::Peers { socket: socket()? },
            Some(PeersCommand::Reload) => Action::PeersReload { socket: socket()? },
        },
    };
    Ok(Settings { json, action })
}

/// `GET /v1/pending` with the filters asked for (the node checks them).
fn pending_path(a: &PendingArgs) -> String {
    let filters = [
        ("owed_by", a.owed_by.clone()),
        ("overdue", a.overdue.then(|| "true".to_owned())),
        ("limit", a.limit.map(|l| l.to_string())),
        ("cursor", a.cursor.clone()),
    ];
    let query: Vec<String> = filters
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={}", poc247_api::client::percent_encode(&v))))
        .collect();
    if query.is_empty() {
        "/v1/pending".to_owned()
    } else {
        format!("/v1/pending?{}", query.join("&"))
    }
}

fn cases(mailbox: Mailbox, f: &CaseFilterArgs, socket: PathBuf) -> Action {
    let mut query = vec![("role", mailbox.role().to_owned())];
    let filters = [
        ("state", f.state.clone()),
        ("kind", f.kind.clone()),
        ("peer", f.peer.as_ref().map(PartyId::to_string)),
        ("urgency", f.urgency.map(|u| Urgency::from(u).to_string())),
        (
            "exercise",
            f.exercise.map(|e| (e == YesNo::Yes).to_string()),
        ),
        ("limit", f.limit.map(|l| l.to_string())),
        ("cursor", f.cursor.clone()),
    ];
    query.extend(filters.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
    let query: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{k}={}", poc247_api::client::percent_encode(v)))
        .collect();
    Action::Cases {
        socket,
        mailbox,
        path: format!("/v1/cases?{}", query.join("&")),
        all: f.all,
    }
}

/// The control socket: `--socket`, else `--config`'s, else `$POC247_SOCKET`, else
/// `$POC247_CONFIG`'s, else `./data/control.sock`. Flags win over the environment.
pub fn control_socket(
    socket: Option<&Path>,
    config: Option<&Path>,
    env: &Env,
) -> Result<PathBuf, Failure> {
    if let Some(s) = socket {
        return Ok(s.to_path_buf());
    }
    if let Some(c) = config {
        return Ok(load_config(c)?.socket);
    }
    if let Some(s) = &env.socket {
        return Ok(s.clone());
    }
    if let Some(c) = &env.config {
        return Ok(load_config(c)?.socket);
    }
    Ok(PathBuf::from(DEFAULT_SOCKET))
}

fn load_config(path: &Path) -> Result<NodeConfig, Failure> {
    NodeConfig::load(path).map_err(|e| Failure::refused("bad-config", e.to_string()))
}

/// A request body of the API as the JSON the node reads.
fn body_json<T: serde::Serialize>(body: &T) -> Result<Value, Failure> {
    serde_json::to_value(body)
        .map_err(|e| Failure::internal(format!("cannot write the request's JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> Cli {
        match Cli::try_parse_from(args) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn flags_win_over_the_environment_for_the_socket() {
        let env = Env {
            socket: Some("/env.sock".into()),
            config: None,
        };
        let s = control_socket(Some(Path::new("/flag.sock")), None, &env).ok();
        assert_eq!(s, Some(PathBuf::from("/flag.sock")));
        let s = control_socket(None, None, &env).ok();
        assert_eq!(s, Some(PathBuf::from("/env.sock")));
        let s = control_socket(None, None, &Env::default()).ok();
        assert_eq!(s, Some(PathBuf::from(DEFAULT_SOCKET)));
    }

    #[test]
    fn a_missing_config_file_is_refused() {
        let r = control_socket(None, Some(Path::new("/no/such/node.toml")), &Env::default());
        assert!(matches!(r, Err(Failure::Refused { .. })), "{r:?}");
    }

    #[test]
    fn filters_become_an_encoded_query() {
        let cli = parse(&[
            "poc247",
            "--socket",
            "/s",
            "inbox",
            "--state",
            "Info_Requested",
            "--kind",
            "emergency-production",
            "--peer",
            "FR",
            "--urgency",
            "emergency",
            "--exercise",
            "no",
        ]);
        let s = resolve(cli, &Env::default());
        let Ok(Settings {
            action: Action::Cases { path, mailbox, .. },
            ..
        }) = s
        else {
            panic!("{s:?}");
        };
        assert_eq!(mailbox, Mailbox::Inbox);
        assert_eq!(
            path,
            "/v1/cases?role=requested&state=info_requested&kind=emergency_production&peer=FR&urgency=emergency&exercise=false"
        );
    }

    #[test]
    fn case_references_and_party_codes_are_taken_in_any_case() {
        let cli = parse(&["poc247", "--socket", "/s", "show", "lu-2026-000001"]);
        let Command::Show(a) = &cli.command else {
            panic!("not show");
        };
        assert_eq!(a.case.as_str(), "LU-2026-000001");
        let cli = parse(&["poc247", "--socket", "/s", "inbox", "--peer", "fr"]);
        let Ok(Settings {
            action: Action::Cases { path, .. },
            ..
        }) = resolve(cli, &Env::default())
        else {
            panic!("not cases");
        };
        assert!(path.contains("peer=FR"), "{path}");
    }

    #[test]
    fn run_without_a_configuration_is_a_usage_error() {
        let s = resolve(parse(&["poc247", "run"]), &Env::default());
        assert!(matches!(s, Err(Failure::Usage(_))), "{s:?}");
    }

    #[test]
    fn dev_network_ports_count_up_and_must_fit() {
        let s = resolve(
            parse(&[
                "poc247",
                "dev-network",
                "--parties",
                "LU,FR",
                "--out",
                "x",
                "--base-port",
                "100",
            ]),
            &Env::default(),
        );
        let Ok(Settings {
            action: Action::DevNetwork { nodes, .. },
            ..
        }) = s
        else {
            panic!("{s:?}");
        };
        assert_eq!(nodes[1].1, SocketAddr::from(([127, 0, 0, 1], 101)));
        let s = resolve(
            parse(&[
                "poc247",
                "dev-network",
                "--parties",
                "LU,FR",
                "--out",
                "x",
                "--base-port",
                "65535",
            ]),
            &Env::default(),
        );
        assert!(matches!(s, Err(Failure::Usage(_))), "{s:?}");
    }
}
