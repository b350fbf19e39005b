//! poc247 node: configuration, directory, keys and TLS, the sled store, the sans-IO case
//! lifecycle and delivery engine, the QUIC transport, the control API, and the driver that
//! wires them.

pub mod api;
pub mod attachments;
pub mod clock;
pub mod config;
pub mod driver;
pub mod error;
pub mod eventlog;
pub mod export;
pub mod handles;
pub mod hook;
pub mod init;
pub mod keys;
pub mod metrics;
pub mod operator;
pub mod outgoing;
pub mod peers;
pub mod store;
pub mod timers;
pub mod upkeep;
pub mod wire;

pub use config::NodeConfig;
pub use driver::Node;
pub use error::NodeError;
pub use handles::{DirectoryHandle, Events, Identity};
pub use outgoing::Cases;
pub use outgoing::{NewRequest, SubmitError, Submitted};
pub use peers::directory::{Directory, LoadDirectory};
pub use wire::Wire;

// The sans-IO core, under the paths the node has always used.
pub use poc247_core::{
    audit, delivery, events, inbound, lifecycle, ratelimit, ready, stats, tracks,
};
