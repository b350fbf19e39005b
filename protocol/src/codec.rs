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

/// `#[serde(with = "codec::bytes")]` for a `Vec<u8>`: written as one byte string, which in
/// bincode is exactly the encoding of the byte sequence (a length, then the bytes), so stored
/// and signed bytes do not change; read in one copy instead of byte by byte.
pub mod bytes {
    use serde::{de, Deserializer, Serializer};

    /// Writes the bytes as one string.
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    /// Reads a byte string (or a sequence of bytes, from formats that write one).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_byte_buf(Bytes)
    }

    struct Bytes;

    impl<'de> de::Visitor<'de> for Bytes {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("bytes")
        }

        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }

        fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }

        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
            while let Some(b) = seq.next_element()? {
                out.push(b);
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Plain {
        before: u32,
        data: Vec<u8>,
        after: String,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct AsBytes {
        before: u32,
        #[serde(with = "bytes")]
        data: Vec<u8>,
        after: String,
    }

    #[test]
    fn bytes_encode_exactly_as_a_byte_sequence_and_read_back_either_way() {
        for len in [0usize, 1, 127, 128, 300, 70_000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let plain = Plain {
                before: 9,
                data: data.clone(),
                after: "end".into(),
            };
            let fast = AsBytes {
                before: 9,
                data,
                after: "end".into(),
            };
            let (a, b) = (encode(&plain).unwrap(), encode(&fast).unwrap());
            assert_eq!(a, b, "length {len}");
            assert_eq!(decode::<AsBytes>(&a).unwrap(), fast);
            assert_eq!(decode::<Plain>(&b).unwrap(), plain);
        }
    }
}
