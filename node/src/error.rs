//! The node's error type.

use poc247_protocol::{CodecError, FieldError, PartyId};
use std::path::{Path, PathBuf};

/// Everything that can go wrong inside a node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The configuration is not acceptable.
    #[error("configuration {file}: {message}")]
    Config {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The directory is not acceptable.
    #[error("directory {file}: {message}")]
    Directory {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A key or certificate is not acceptable.
    #[error("{path}: {message}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// TLS or QUIC could not be set up.
    #[error("transport: {0}")]
    Transport(String),
    /// sled failed.
    #[error("storage: {0}")]
    Storage(String),
    /// A stored record does not decode.
    #[error("stored record: {0}")]
    Codec(#[from] CodecError),
    /// A message is invalid; every field concerned is named.
    #[error("invalid message: {}", fields.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid {
        /// The fields.
        fields: Vec<FieldError>,
    },
    /// A party is not in the directory.
    #[error("party {0} is not in the directory")]
    UnknownParty(PartyId),
    /// What was asked is not there.
    #[error("{0} not found")]
    NotFound(String),
    /// The node is shutting down.
    #[error("the node is shutting down")]
    ShuttingDown,
}

impl NodeError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        NodeError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl From<sled::Error> for NodeError {
    fn from(e: sled::Error) -> Self {
        NodeError::Storage(e.to_string())
    }
}

/// The node's result type.
pub type Result<T, E = NodeError> = std::result::Result<T, E>;
