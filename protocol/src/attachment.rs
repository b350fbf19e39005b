//! Evidence attachments: the [`AttachmentRef`] a signed body carries (SHA-256, size, name) and
//! the frames of an attachment stream.
//!
//! An attachment stream starts with the 4 bytes [`ATTACHMENT_MAGIC`] (an envelope stream starts
//! with a `u32` frame length; `ATT1` read as one would announce a frame over 1 GiB, which no
//! receiver accepts, so the two cannot be confused). Then: the sender writes an
//! [`AttachmentHello`] frame; the receiver answers an [`AttachmentReply`] frame (resume offset
//! or rejection); the sender writes the remaining bytes raw and finishes its side; the receiver
//! verifies the SHA-256 of the whole file and answers a [`Reply`](crate::Reply) frame: a
//! [`SignedReceipt`](crate::SignedReceipt) whose `message_id` is the envelope's and whose
//! `envelope_sha256` is the attachment's SHA-256, or a rejection.

use crate::codec::{self, CodecError};
use crate::ids::MessageId;
use crate::validate::{Problem, Report, MAX_SHORT_TEXT};
use crate::wire::Rejection;
use serde::{Deserialize, Serialize};

/// The first 4 bytes of an attachment stream.
pub const ATTACHMENT_MAGIC: [u8; 4] = *b"ATT1";

/// A file referenced by a signed body: it travels on its own stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttachmentRef {
    /// SHA-256 of the file, 64 lowercase hexadecimal digits.
    pub sha256: String,
    /// Size in bytes; more than 0.
    pub size: u64,
    /// The file's name, for people (never a path on the receiver).
    pub name: String,
}

/// Checks a list of attachments: each hash 64 hexadecimal digits, size above 0, a name; no
/// hash twice. Limits on sizes are the node's, not the protocol's.
pub(crate) fn check_attachments(r: &mut Report, list: &[AttachmentRef]) {
    for (i, a) in list.iter().enumerate() {
        let at = format!("attachments[{i}]");
        if parse_sha256_hex(&a.sha256).is_none() {
            r.push(
                &format!("{at}.sha256"),
                Problem::Invalid("must be a SHA-256 as 64 lowercase hexadecimal digits".into()),
            );
        }
        if a.size == 0 {
            r.push(
                &format!("{at}.size"),
                Problem::Invalid("must be more than 0".into()),
            );
        }
        r.text(&format!("{at}.name"), &a.name, MAX_SHORT_TEXT);
        if list[..i].iter().any(|b| b.sha256 == a.sha256) {
            r.push(
                &format!("{at}.sha256"),
                Problem::Invalid("the same file is attached twice".into()),
            );
        }
    }
}

/// The 32 bytes of a SHA-256 written as 64 lowercase hexadecimal digits.
pub fn parse_sha256_hex(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (digit(b[2 * i])? << 4) | digit(b[2 * i + 1])?;
    }
    Some(out)
}

/// 64 lowercase hexadecimal digits of a SHA-256.
pub fn sha256_hex(bytes: &[u8; 32]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(64);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

/// The sender's first frame on an attachment stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentHello {
    /// The message whose body lists the attachment.
    pub message_id: MessageId,
    /// The attachment's SHA-256.
    pub sha256: [u8; 32],
    /// Its size in bytes.
    pub size: u64,
}

/// The receiver's answer to an [`AttachmentHello`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttachmentReply {
    /// Send the bytes from `offset` on: the receiver already holds the ones before durably.
    Resume {
        /// Bytes already held.
        offset: u64,
    },
    /// Refused.
    Rejection(Rejection),
}

impl AttachmentHello {
    /// Encodes the hello.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CodecError> {
        codec::encode(self)
    }
    /// Decodes a hello.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CodecError> {
        codec::decode(bytes)
    }
}

impl AttachmentReply {
    /// Encodes the reply.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CodecError> {
        codec::encode(self)
    }
    /// Decodes a reply.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CodecError> {
        codec::decode(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::names;

    fn names_of(list: &[AttachmentRef]) -> Vec<String> {
        let mut r = Report::new();
        check_attachments(&mut r, list);
        names(r.finish())
    }

    #[test]
    fn attachments_name_their_hash_size_and_name_art_31() {
        let good = AttachmentRef {
            sha256: "0f".repeat(32),
            size: 5,
            name: "export.mbox".into(),
        };
        assert!(names_of(std::slice::from_ref(&good)).is_empty());
        let bad = AttachmentRef {
            sha256: "0F".repeat(32),
            size: 0,
            name: " ".into(),
        };
        assert_eq!(
            names_of(&[bad]),
            [
                "attachments[0].sha256",
                "attachments[0].size",
                "attachments[0].name"
            ]
        );
        assert_eq!(names_of(&[good.clone(), good]), ["attachments[1].sha256"]);
    }

    #[test]
    fn hex_round_trips_and_garbage_is_refused() {
        let b = [0xabu8; 32];
        assert_eq!(parse_sha256_hex(&sha256_hex(&b)), Some(b));
        assert_eq!(parse_sha256_hex("zz"), None);
        assert_eq!(parse_sha256_hex(&"g".repeat(64)), None);
        assert!(AttachmentHello::from_bytes(&[1, 2]).is_err());
        assert!(AttachmentReply::from_bytes(&[9]).is_err());
    }
}
