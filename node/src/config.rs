//! Node configuration (`node.toml`): read once, turned into typed values, paths resolved
//! against the file's own folder.

use crate::error::{NodeError, Result};
use poc247_protocol::{PartyId, DEFAULT_MAX_FRAME};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The configuration file as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// This node's party id.
    pub party: String,
    /// Accept the development CA (never in service).
    #[serde(default)]
    pub dev: bool,
    /// UDP address to listen on for peers.
    pub listen: SocketAddr,
    /// Data directory (sled, control socket).
    pub data_dir: PathBuf,
    /// Where the node writes, for reading, the directory of the signed version in force (never
    /// read back).
    pub directory: PathBuf,
    /// The network registry's public key (base64): the node takes its directory only from a
    /// version this key signed (`poc247 directory apply`). Required.
    #[serde(default)]
    pub registry_key: Option<String>,
    /// The network CA certificate (PEM).
    pub ca_cert: PathBuf,
    /// This node's TLS certificate (PEM).
    pub tls_cert: PathBuf,
    /// This node's TLS private key (PEM, PKCS#8), mode 0600.
    pub tls_key: PathBuf,
    /// This node's ed25519 signing key (base64 of the 32-byte seed), mode 0600.
    pub signing_key: PathBuf,
    /// Limits.
    #[serde(default)]
    pub limits: Limits,
    /// Storage settings.
    #[serde(default)]
    pub store: StoreSettings,
    /// Delivery settings.
    #[serde(default)]
    pub delivery: DeliverySettings,
    /// Control socket settings.
    #[serde(default)]
    pub control: ControlSettings,
    /// Deadlines: acknowledgement SLAs, reminders, retention.
    #[serde(default)]
    pub deadlines: crate::tracks::TrackSettings,
    /// The event log.
    #[serde(default)]
    pub events: EventSettings,
    /// The hook command run for each event.
    #[serde(default)]
    pub hook: Option<crate::hook::HookSettings>,
    /// `/metrics` over TCP, for a Prometheus server.
    #[serde(default)]
    pub metrics: MetricsSettings,
    /// Limits on evidence attachments.
    #[serde(default)]
    pub attachments: AttachmentSettings,
    /// A node for exercises only, whose clock may be moved forward.
    #[serde(default)]
    pub drill: DrillSettings,
}

/// `[drill]`: a node for exercises (BC 35(3): staff trained and equipped). A drill node sends
/// and takes exercise traffic only, and its clock can be moved forward (`poc247 drill
/// advance`), so that a Party rehearses a 60-day preservation in minutes on real nodes. The
/// nodes of one drill move their clocks together: a peer more than the clock-skew window
/// apart refuses their messages as stale.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DrillSettings {
    /// This node is a drill node (default false: a real node's clock is never moved).
    pub enabled: bool,
    /// Days the clock starts ahead of the system clock (default 0); the offset only grows.
    pub clock_offset_days: u32,
}

/// Limits on evidence attachments, sent and received.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttachmentSettings {
    /// Largest file, in bytes (default 2 GiB).
    pub max_file_bytes: u64,
    /// Largest total of the files attached in one case, in bytes (default 8 GiB).
    pub max_case_bytes: u64,
    /// Folders from which a local caller may attach a file by its path (default none: files
    /// reach the node only as uploads). Nothing under the node's data folder or the folders
    /// of its keys is read, wherever these point, symbolic links resolved.
    pub read_from: Vec<PathBuf>,
}
impl Default for AttachmentSettings {
    fn default() -> Self {
        AttachmentSettings {
            max_file_bytes: 2 << 30,
            max_case_bytes: 8 << 30,
            read_from: Vec::new(),
        }
    }
}

/// Caps on what peers may send.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest frame read from a peer, in bytes.
    pub max_frame_bytes: u32,
    /// Accepted clock skew of a message's `created_at`, in seconds.
    pub clock_skew_secs: u64,
    /// Concurrent inbound streams per connection.
    pub max_streams_per_connection: u32,
    /// Messages a peer may send per second, sustained.
    pub rate_per_peer_per_s: u32,
    /// Messages a peer may send at once above the sustained rate.
    pub burst_per_peer: u32,
    /// Live connections one peer may hold with this node; one more is closed at once.
    pub max_connections_per_peer: u32,
    /// Bytes of frames one peer may have the node read at once, all its streams and
    /// connections together (at least `max_frame_bytes`); its other streams wait unread.
    pub max_buffered_bytes_per_peer: u32,
}
impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: DEFAULT_MAX_FRAME,
            clock_skew_secs: 15 * 60,
            max_streams_per_connection: 256,
            rate_per_peer_per_s: 2_000,
            burst_per_peer: 4_000,
            max_connections_per_peer: 4,
            max_buffered_bytes_per_peer: 32 << 20,
        }
    }
}

/// sled settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// sled's page cache, in bytes (sled's own default is 1 GiB).
    pub cache_capacity_bytes: u64,
    /// Writers waiting for durability share one flush (group commit). Off, each waits for a
    /// flush of its own: only for measuring the difference.
    pub group_commit: bool,
}
impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            cache_capacity_bytes: 8 << 20,
            group_commit: true,
        }
    }
}

pub use poc247_core::delivery::DeliverySettings;

/// `[metrics]`: `/metrics` over TCP as well as on the control socket, for a Prometheus server
/// that cannot reach a Unix socket. Only `GET /metrics` is served there, nothing else of the
/// API; bind it to loopback or an administration network.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// The TCP address (`127.0.0.1:9247`); none: the control socket only.
    pub listen: Option<SocketAddr>,
}

/// Control socket settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlSettings {
    /// Socket path; default `<data_dir>/control.sock`.
    pub socket: Option<PathBuf>,
    /// Connections served at once; default half the process's file descriptors, between 64
    /// and 4,096 ([`max_connections`]).
    pub max_connections: Option<usize>,
}

/// The configuration, checked and with absolute paths.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// This node's party.
    pub party: PartyId,
    /// Accept the development CA.
    pub dev: bool,
    /// UDP listen address.
    pub listen: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Directory file.
    pub directory: PathBuf,
    /// The registry's key pinned here, if any.
    pub registry_key: poc247_protocol::VerifyingKey,
    /// CA certificate.
    pub ca_cert: PathBuf,
    /// TLS certificate.
    pub tls_cert: PathBuf,
    /// TLS key.
    pub tls_key: PathBuf,
    /// Signing key.
    pub signing_key: PathBuf,
    /// Control socket.
    pub socket: PathBuf,
    /// Control-socket connections served at once.
    pub max_connections: usize,
    /// Limits.
    pub limits: Limits,
    /// Storage.
    pub store: StoreSettings,
    /// Delivery.
    pub delivery: DeliverySettings,
    /// Deadlines.
    pub deadlines: crate::tracks::TrackSettings,
    /// The event log.
    pub events: EventSettings,
    /// The hook command, if any.
    pub hook: Option<crate::hook::HookConfig>,
    /// Where `/metrics` is also served over TCP, if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    /// Attachment limits.
    pub attachments: AttachmentSettings,
    /// Drill mode.
    pub drill: DrillSettings,
}

impl NodeConfig {
    /// Reads and checks a `node.toml`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| NodeError::io(path, e))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_toml(&text, base).map_err(|e| match e {
            NodeError::Config { message, .. } => NodeError::Config {
                file: path.to_path_buf(),
                message,
            },
            other => other,
        })
    }

    /// Parses configuration text; relative paths are taken from `base`.
    pub fn from_toml(text: &str, base: &Path) -> Result<Self> {
        let bad = |message: String| NodeError::Config {
            file: PathBuf::from("node.toml"),
            message,
        };
        let file: ConfigFile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        Self::from_file(file, base).map_err(bad)
    }

    /// Checks a parsed file.
    pub fn from_file(f: ConfigFile, base: &Path) -> std::result::Result<Self, String> {
        let party = PartyId::parse(&f.party).map_err(|e| format!("party: {e}"))?;
        let abs = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        if f.delivery.max_backoff_ms > 30_000 || f.delivery.max_backoff_ms == 0 {
            return Err("delivery.max_backoff_ms must be between 1 and 30000".into());
        }
        if f.delivery.max_in_flight_per_peer == 0 {
            return Err("delivery.max_in_flight_per_peer must be at least 1".into());
        }
        if f.limits.rate_per_peer_per_s == 0 || f.limits.burst_per_peer == 0 {
            return Err(
                "limits.rate_per_peer_per_s and limits.burst_per_peer must be at least 1".into(),
            );
        }
        if f.limits.max_frame_bytes < 1024 {
            return Err("limits.max_frame_bytes must be at least 1024".into());
        }
        if f.control.max_connections == Some(0) {
            return Err("control.max_connections must be at least 1".into());
        }
        if f.limits.max_connections_per_peer == 0 {
            return Err("limits.max_connections_per_peer must be at least 1".into());
        }
        if f.limits.max_buffered_bytes_per_peer < f.limits.max_frame_bytes {
            return Err(format!(
                "limits.max_buffered_bytes_per_peer ({}) must be at least limits.max_frame_bytes \
                 ({}): a frame of the largest size could never be read",
                f.limits.max_buffered_bytes_per_peer, f.limits.max_frame_bytes
            ));
        }
        if f.events.keep == 0 {
            return Err("events.keep must be at least 1".into());
        }
        let hook = match &f.hook {
            Some(h) => Some(crate::hook::HookConfig::from_settings(h, base)?),
            None => None,
        };
        let data_dir = abs(&f.data_dir);
        let socket = f
            .control
            .socket
            .as_deref()
            .map(abs)
            .unwrap_or_else(|| data_dir.join("control.sock"));
        let registry_key = match f.registry_key.as_deref() {
            Some(k) => crate::peers::directory::decode_public_key(k)
                .map_err(|m| format!("registry_key {m}"))?,
            None => {
                return Err(
                    "registry_key is missing: a node trusts its peers only through the \
                            directory versions its network's registry signs; pin the registry's \
                            public key here (`poc247 registry init` prints it; docs/joining.md)"
                        .into(),
                )
            }
        };
        Ok(NodeConfig {
            party,
            dev: f.dev,
            listen: f.listen,
            directory: abs(&f.directory),
            registry_key,
            ca_cert: abs(&f.ca_cert),
            tls_cert: abs(&f.tls_cert),
            tls_key: abs(&f.tls_key),
            signing_key: abs(&f.signing_key),
            data_dir,
            socket,
            max_connections: f.control.max_connections.unwrap_or_else(max_connections),
            limits: f.limits,
            store: f.store,
            delivery: f.delivery,
            deadlines: f.deadlines,
            events: f.events,
            hook,
            metrics_listen: f.metrics.listen,
            attachments: f.attachments,
            drill: f.drill,
        })
    }
}

/// `[events]` in `node.toml`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventSettings {
    /// How many of the last events are kept for readers that resume.
    pub keep: u64,
}

impl Default for EventSettings {
    fn default() -> Self {
        EventSettings { keep: 100_000 }
    }
}

/// Most control-socket connections served at once: half the process's file descriptors (its
/// soft `RLIMIT_NOFILE`), between 64 and 4,096; one more is answered 503 `busy` and closed,
/// so that a flood of idle connections cannot take the descriptors sled, QUIC and the
/// attachments need.
pub fn max_connections() -> usize {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(4096);
    usize::try_from(soft / 2).unwrap_or(4096).clamp(64, 4096)
}
