//! The signed receipt a receiver returns once it has stored a message durably. The sender
//! stores it: it proves delivery.

use crate::codec::{self, CodecError};
use crate::ids::{MessageId, PartyId, UtcMs};
use crate::signature::{self, Signature64};
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// The domain separator of receipt signatures.
pub const RECEIPT_DOMAIN: &[u8] = b"poc247/v1/receipt\0";

/// What the receiver attests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The message received.
    pub message_id: MessageId,
    /// SHA-256 of the encoded signed envelope received.
    pub envelope_sha256: [u8; 32],
    /// Who received it.
    pub receiver: PartyId,
    /// When it was stored.
    pub received_at: UtcMs,
}

/// A receipt and the receiver's signature over `RECEIPT_DOMAIN || bincode(receipt)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedReceipt {
    /// The receipt.
    pub receipt: Receipt,
    /// The receiver's signature.
    pub signature: Signature64,
}

/// Why a receipt does not prove delivery of the message it was expected for.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    /// The receipt does not encode.
    #[error("receipt does not encode: {0}")]
    Codec(#[from] CodecError),
    /// The signature does not verify against the receiver's key.
    #[error("receipt signature does not verify against the key of {0}")]
    BadSignature(PartyId),
    /// It names another message, another envelope or another receiver.
    #[error("receipt does not match the message sent: {0}")]
    Mismatch(&'static str),
}

impl Receipt {
    /// Signs the receipt.
    pub fn sign(self, key: &SigningKey) -> Result<SignedReceipt, CodecError> {
        let bytes = codec::encode(&self)?;
        let signature = signature::sign(key, RECEIPT_DOMAIN, &bytes);
        Ok(SignedReceipt {
            receipt: self,
            signature,
        })
    }
}

impl SignedReceipt {
    /// Checks that this receipt, signed by `receiver` with `key`, acknowledges the message
    /// `id` whose encoded envelope hashes to `sha256`.
    pub fn verify(
        &self,
        receiver: &PartyId,
        key: &VerifyingKey,
        id: MessageId,
        sha256: &[u8; 32],
    ) -> Result<(), ReceiptError> {
        let bytes = codec::encode(&self.receipt)?;
        if !signature::verify(key, RECEIPT_DOMAIN, &bytes, &self.signature) {
            return Err(ReceiptError::BadSignature(receiver.clone()));
        }
        let r = &self.receipt;
        if r.message_id != id {
            return Err(ReceiptError::Mismatch("message id"));
        }
        if &r.envelope_sha256 != sha256 {
            return Err(ReceiptError::Mismatch("envelope hash"));
        }
        if &r.receiver != receiver {
            return Err(ReceiptError::Mismatch("receiver"));
        }
        Ok(())
    }
}
