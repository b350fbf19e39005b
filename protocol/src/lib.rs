//! poc247 wire protocol: identifiers, message kinds and their validation, the signed envelope
//! and receipt, frames and the one codec. Pure: no async runtime, no sockets, no files.

pub mod actions;
pub mod attachment;
pub mod body;
pub mod codec;
pub mod date;
pub mod envelope;
pub mod fields;
pub mod ids;
pub mod kinds;
pub mod receipt;
pub mod signature;
pub mod validate;
pub mod wire;

pub use actions::{Action, ACTIONS};
pub use attachment::{
    parse_sha256_hex, sha256_hex, AttachmentHello, AttachmentRef, AttachmentReply, ATTACHMENT_MAGIC,
};
pub use body::{Body, MessageKind, Urgency};
pub use codec::CodecError;
pub use date::Date;
pub use envelope::{
    envelope_sha256, Envelope, EnvelopeError, Header, SignedEnvelope, VerifiedEnvelope,
    ENVELOPE_DOMAIN, PROTOCOL_VERSION,
};
pub use ids::{CaseRef, IdError, Language, MessageId, PartyId, UtcMs};
pub use kinds::{
    Acknowledgement, Assistance, AssistanceType, Communication, Conditions, ConditionsReply,
    ConfidentialityReply, ConfirmationChannel, Decision, DelayNotice, DisclosureNotice,
    EmergencyProduction, FormalConfirmation, InfoProvided, InfoRequest, InformationOffer, Measure,
    MutualAssistance, Outcome, Preservation, PreservationExtension, PreservationInsufficient,
    PreservationRelease, Proceed, RefusalGround, RelayKind, Relayed, Results, ServiceProvider,
    SpontaneousInformation, StatusReport, StatusRequest, TracedCommunication,
    TrafficDataDisclosure, UseConsent, UseConsentRequest, UseExplanation, UseExplanationRequest,
    Withdrawal,
};
pub use receipt::{Receipt, ReceiptError, SignedReceipt, RECEIPT_DOMAIN};
pub use signature::{fingerprint, Signature64};
pub use validate::{FieldError, Problem};
pub use wire::{Rejection, RejectionCode, Reply, ALPN, DEFAULT_MAX_FRAME, DIRECTORY_MAGIC};

pub use ed25519_dalek::{SigningKey, VerifyingKey};
