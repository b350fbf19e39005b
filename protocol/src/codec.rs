//! The one codec: bincode 2 (standard configuration, serde) with a size limit. Every wire type
//! and every stored record goes through [`encode`] and [`decode`].

use serde::{de::DeserializeOwned, Serialize};

/// The largest value the codec will decode, whatever a length prefix claims.
pub const MAX_DECODE_BYTES: usize = 64 << 20;

/// A value that could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The bytes are not a valid encoding of the expected type.
    #[error("malformed bytes: {0}")]
    Decode(String),
    /// A value was decoded but bytes were left over.
    #[error("{0} unexpected bytes after the value")]
    Trailing(usize),
    /// The value could not be encoded.
    #[error("cannot encode: {0}")]
    Encode(String),
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_DECODE_BYTES>()
}

/// Encodes a value.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    bincode::serde::encode_to_vec(value, config()).map_err(|e| CodecError::Encode(e.to_string()))
}

/// Decodes a value that must use all of `bytes`.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (value, used) = decode_prefix(bytes)?;
    if used != bytes.len() {
        return Err(CodecError::Trailing(bytes.len() - used));
    }
    Ok(value)
}

/// Decodes a value from the start of `bytes`, returning it and how many bytes it used.
pub fn decode_prefix<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, usize), CodecError> {
    bincode::serde::decode_from_slice(bytes, config())
        .map_err(|e| CodecError::Decode(e.to_string()))
}
