//! The signed envelope: [`Header`], [`Envelope`], [`SignedEnvelope`], and the
//! [`VerifiedEnvelope`] that only signature verification can produce.

use crate::body::{Body, Urgency};
use crate::codec::{self, CodecError};
use crate::ids::{CaseRef, Language, MessageId, PartyId, UtcMs};
use crate::signature::{self, Signature64};
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u16 = 1;

/// The domain separator of envelope signatures.
pub const ENVELOPE_DOMAIN: &[u8] = b"poc247/v1/envelope\0";

/// The header every message carries (docs/design.md "Wire protocol").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Protocol version.
    pub version: u16,
    /// Message id (UUIDv7).
    pub id: MessageId,
    /// Sending party.
    pub from: PartyId,
    /// Receiving party.
    pub to: PartyId,
    /// When the sender created it.
    pub created_at: UtcMs,
    /// The case the message belongs to.
    pub case_ref: CaseRef,
    /// The message it answers, if any.
    pub in_reply_to: Option<MessageId>,
    /// How urgent.
    pub urgency: Urgency,
    /// The language of its free text (ISO 639-1).
    pub language: Language,
    /// Training traffic (BC 35(3)).
    pub exercise: bool,
}

/// Header and body: what is signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The header.
    pub header: Header,
    /// The body.
    pub body: Body,
}

/// An envelope as it travels: the encoded envelope and an ed25519 signature over
/// `ENVELOPE_DOMAIN || payload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedEnvelope {
    /// `bincode(Envelope)`.
    #[serde(with = "crate::codec::bytes")]
    pub payload: Vec<u8>,
    /// The sender's signature.
    pub signature: Signature64,
}

/// Why an envelope was not accepted as authentic.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// The bytes do not decode.
    #[error("malformed envelope: {0}")]
    Malformed(#[from] CodecError),
    /// The signature does not verify against the sender's key.
    #[error("signature does not verify against the key of {0}")]
    BadSignature(PartyId),
}

impl Envelope {
    /// Encodes and signs the envelope.
    pub fn sign(&self, key: &SigningKey) -> Result<SignedEnvelope, CodecError> {
        let payload = codec::encode(self)?;
        let signature = signature::sign(key, ENVELOPE_DOMAIN, &payload);
        Ok(SignedEnvelope { payload, signature })
    }
}

impl SignedEnvelope {
    /// Decodes only the header, so the receiver can find the sender's key before it trusts
    /// anything. Nothing in it is authenticated yet.
    pub fn unverified_header(&self) -> Result<Header, CodecError> {
        codec::decode_prefix::<Header>(&self.payload).map(|(h, _)| h)
    }

    /// Verifies the signature (`verify_strict`) with the key of `signer`, then decodes the
    /// whole envelope. The only way to obtain a [`VerifiedEnvelope`].
    pub fn verify(
        &self,
        signer: &PartyId,
        key: &VerifyingKey,
    ) -> Result<VerifiedEnvelope, EnvelopeError> {
        if !signature::verify(key, ENVELOPE_DOMAIN, &self.payload, &self.signature) {
            return Err(EnvelopeError::BadSignature(signer.clone()));
        }
        let envelope: Envelope = codec::decode(&self.payload)?;
        Ok(VerifiedEnvelope {
            envelope,
            signed: self.clone(),
        })
    }

    /// The encoded form: what travels in a frame and what is stored.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CodecError> {
        codec::encode(self)
    }

    /// Decodes the encoded form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CodecError> {
        codec::decode(bytes)
    }
}

/// The SHA-256 of an encoded signed envelope, as a receipt names it.
pub fn envelope_sha256(encoded: &[u8]) -> [u8; 32] {
    Sha256::digest(encoded).into()
}

/// An envelope whose signature was verified against its sender's key.
#[derive(Debug, Clone)]
pub struct VerifiedEnvelope {
    envelope: Envelope,
    signed: SignedEnvelope,
}

impl VerifiedEnvelope {
    /// The verified envelope.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }
    /// The header.
    pub fn header(&self) -> &Header {
        &self.envelope.header
    }
    /// The body.
    pub fn body(&self) -> &Body {
        &self.envelope.body
    }
    /// The signed form it was verified from.
    pub fn signed(&self) -> &SignedEnvelope {
        &self.signed
    }
}
