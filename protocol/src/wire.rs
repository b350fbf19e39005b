//! Frames on a QUIC stream: a `u32` big-endian length, then that many bytes. The sender writes
//! one [`SignedEnvelope`](crate::SignedEnvelope) frame; the receiver answers one [`Reply`].

use crate::codec::{self, CodecError};
use crate::receipt::SignedReceipt;
use crate::validate::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The ALPN protocol id of poc247 connections.
pub const ALPN: &[u8] = b"poc247/1";

/// Default largest frame a node reads: 1 MiB.
pub const DEFAULT_MAX_FRAME: u32 = 1 << 20;

/// The first 4 bytes of a directory stream: the opener's serial (8 bytes, big-endian) follows,
/// and the other node answers one frame — the signed directory version it holds if its serial
/// is higher, else an empty frame. Read as a frame length, `DIR1` would announce over 1 GiB,
/// which no receiver accepts, so it is never taken for an envelope stream.
pub const DIRECTORY_MAGIC: [u8; 4] = *b"DIR1";

/// The length prefix of a frame carrying `len` bytes.
pub fn frame_header(len: usize) -> Result<[u8; 4], CodecError> {
    u32::try_from(len)
        .map(u32::to_be_bytes)
        .map_err(|_| CodecError::Encode(format!("frame of {len} bytes")))
}

/// A frame: length prefix then bytes.
pub fn frame(bytes: &[u8]) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(bytes.len() + 4);
    out.extend_from_slice(&frame_header(bytes.len())?);
    out.extend_from_slice(bytes);
    Ok(out)
}

/// Why a message was refused (docs/design.md "Rejection codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RejectionCode {
    /// The frame does not decode.
    BadFrame,
    /// The frame is over the receiver's limit.
    TooLarge,
    /// The signature does not verify, or the signer is not the connected peer.
    BadSignature,
    /// The sender is not in the receiver's directory.
    UnknownParty,
    /// The message is addressed to another party.
    WrongRecipient,
    /// The timestamp is outside the receiver's clock-skew window.
    Stale,
    /// A mandatory field is missing or malformed; `fields` names them.
    InvalidBody,
    /// The protocol version is not spoken here.
    UnsupportedVersion,
    /// Too many messages from this peer; retry later.
    RateLimited,
    /// The receiver cannot store now; retry later.
    StorageUnavailable,
}

impl RejectionCode {
    /// Whether the sender should try again later.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            RejectionCode::RateLimited | RejectionCode::StorageUnavailable
        )
    }
    /// The documented name (`bad-signature`).
    pub fn as_str(self) -> &'static str {
        match self {
            RejectionCode::BadFrame => "bad-frame",
            RejectionCode::TooLarge => "too-large",
            RejectionCode::BadSignature => "bad-signature",
            RejectionCode::UnknownParty => "unknown-party",
            RejectionCode::WrongRecipient => "wrong-recipient",
            RejectionCode::Stale => "stale",
            RejectionCode::InvalidBody => "invalid-body",
            RejectionCode::UnsupportedVersion => "unsupported-version",
            RejectionCode::RateLimited => "rate-limited",
            RejectionCode::StorageUnavailable => "storage-unavailable",
        }
    }
}

impl fmt::Display for RejectionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refusal, with a reason for people and the fields concerned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// The code.
    pub code: RejectionCode,
    /// Why, in words (never the request's text).
    pub reason: String,
    /// For `invalid-body`: the fields missing or malformed.
    pub fields: Vec<FieldError>,
}

impl Rejection {
    /// A rejection without fields.
    pub fn new(code: RejectionCode, reason: impl Into<String>) -> Self {
        Rejection {
            code,
            reason: reason.into(),
            fields: Vec::new(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.reason)?;
        for field in &self.fields {
            write!(f, "; {field}")?;
        }
        Ok(())
    }
}

/// The receiver's one answer to a message frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// Stored durably; here is the signed receipt.
    Receipt(SignedReceipt),
    /// Refused.
    Rejection(Rejection),
}

impl Reply {
    /// Encodes the reply.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CodecError> {
        codec::encode(self)
    }
    /// Decodes a reply.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CodecError> {
        codec::decode(bytes)
    }
}
