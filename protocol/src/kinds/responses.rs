//! The responses exchanged inside a case (docs/requests.md "Responses"), other than the
//! [`Decision`](super::Decision): acknowledgement, questions and answers, status, delays,
//! conditions and consents, disclosures, results, formal confirmation, and the requester's
//! moves (extension, release, withdrawal, proceed).
//!
//! The urgency of the header does not change what these kinds require; their `validate` takes
//! it only so that every kind has the same signature.

use super::{closed_set, optional_sha256_hex, required, Communication};
use crate::attachment::{check_attachments, AttachmentRef};
use crate::body::Urgency;
use crate::date::Date;
use crate::validate::{FieldError, Problem, Report, MAX_LONG_TEXT, MAX_SHORT_TEXT};
use serde::{Deserialize, Serialize};

/// The person on duty has taken the request in charge (24/7 handling, BC 35; CARICOM
/// emergency MLA para. 5).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Acknowledgement {
    /// The officer's name or role; mandatory.
    pub officer: String,
    /// Anything the officer adds.
    pub note: Option<String>,
}

impl Acknowledgement {
    /// Every missing or malformed field at once.
    pub fn validate(&self, _urgency: Urgency) -> Result<(), Vec<FieldError>> {
        let mut r = Report::new();
        r.text("officer", &self.officer, MAX_SHORT_TEXT);
        r.optional_text("note", self.note.as_deref(), MAX_LONG_TEXT);
        r.finish()
    }
}

/// A request for additional information needed to execute (CARICOM emergency MLA para. 3;
/// MLA para. 21).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InfoRequest {
    /// What the requested Party needs to know; mandatory.
    pub questions: String,
}

impl InfoRequest {
    /// Every missing or malformed field at once.
    pub fn validate(&self, _urgency: Urgency) -> Result<(), Vec<FieldError>> {
        let mut r = Report::new();
        r.text("questions", &self.questions, MAX_LONG_TEXT);
        r.finish()
    }
}

/// The answers to an [`InfoRequest`] (CARICOM emergency MLA para. 3; MLA para. 21).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InfoProvided {
    /// The answers; mandatory.
    pub answers: String,
}

impl InfoProvided {
    /// Every missing or malformed field at once.
    pub fn validate(&self, _urgency: Urgency) -> Result<(), Vec<FieldError>> {
        let mut r = Report::new();
        r.text("answers", &self.answers, MAX_LONG_TEXT);
        r.finish()
    }
}

/// A request for the status of the case (CARICOM MLA para. 29).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatusRequest {
    /// A particular question; optional, since the message itself asks for the status.
    pub question: Option<String>,
}

impl StatusRequest {
    /// Every malformed field at once.
    pub fn validate(&self, _urgency: Urgency) -> Result<(), Vec<FieldError>> {
        let mut r = Report::new();
        r.optional_text("question", self.question.as_deref(), MAX_LONG_TEXT);
        r.finish()
    }
}

/// The status of the case, with the expected date of a decision (CARICOM MLA para. 29).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatusReport {
    /// Where the request stands; mandatory.
    pub status: String,
    /// When a decision or execution is expected.
    pub expected_by: Option<Date>,
}

impl StatusReport {
    /// Every missing or malformed field at once.
    pub fn validate(&self, _urgency: Urgency) -> Result<(), Vec<FieldError>> {
        let mut r = Report::new();
        r.text("status", &self.status, MAX_LONG_TEXT);
        r.finish()
    }
}

/// A reason that makes execution impossible or likely to delay it significantly (BC 27(7)).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DelayNotice {
    /// The reason; mandatory (27(7)).
    pub reason: String,
    /// When execution is now expected, if known.
    pub expected_by: Option<Date>,
}

impl DelayNotice {
    /// Every missing or malformed field at once.
    pub fn validate(&self, _urgency: Urgency) -> Result<(), Vec<FieldError>> {
        let mut r = Report::new();
        r.text("reason", &self.reason, MAX_LONG_TEXT);
        r.finish()
    }
}

/// Whether the requested Party can keep a confidential request confidential (BC 27(8);
/// CARICOM MLA para. 25); if not, the requester decides whether to go on (`proceed`) or
/// withdraw.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfidentialityReply {
    /// It can comply with the confidentiality required.
    pub can_comply: bool,
    /// Why not, or to what extent; mandatory when it cannot comply, so that the requester can
    /// decide.
    pub explanation: Option<String>,
}

impl ConfidentialityReply {
    /// Every missing or malformed field at once.
    pub fn validate(&self, _urgency: Urgency) -> Result<(), Vec<FieldError>> {
        let mut r = Report::new();
        explained_unless(&mut r, self.can_comply, self.explanation.as_deref());
        r.finish()
    }
}

/// `explanation` is mandatory when `ok` is false, optional otherwise.
fn explained_unless(r: &mut Report, ok: bool, explanation: Option<&str>) {
    if ok {
        r.optional_text("explanation", explanation, MAX_LONG_TEXT);
    } else {
        r.text(
            "explanation",
            explanation.unwrap_or_default(),
            MAX_LONG_TEXT,
        );
    }
}

/// Preservation will not ensure the data's future availability, or would threaten the
/// confidentiality of, or otherwise prejudice, the investigation (BC 29(6)); the requester
/// decides whether to go on (`proceed`) or withdraw.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PreservationInsufficient {
    /// What the problem is; mandatory.
    pub explanation: String,
}

impl PreservationInsufficient {
    /// Every missing or malformed field at once.
    pub fn validate(&self, _urgency: Urgency) -> Result<(), Vec<FieldError>> {
        let mut r = Report::new();
        r.text("explanation", &self.explanation, MAX_LONG_TEXT);
        r.finish()
    }
}

/// Conditions the requested Party attaches to its assistance (BC 28(2)), answered with a
/// [`ConditionsReply`] (28(3)).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Conditions {
    /// Kept confidential, the request not being complied with otherwise (28(2)(a)).
    pub confidential: bool,
    /// Not used for investigations or proceedings other than these (28(2)(b)).
    pub use_limited_to: Option<String>,
    /// The conditions in full; mandatory.
    pub text: String,
}

impl Conditions {
    /// Every missing or malformed field at once.
    pub fn validate(&self, _urgency: Urgency) -> Result<(), Vec<FieldError>> {
        let mut r = Report::new();
        r.optional_text(
            "use_limited_to",
            self.use_limited_to.as_deref(),
            MAX_LONG_TEXT,
        );
        r.text("text", &self.text, MAX_LONG_TEXT);
        r.finish()
    }
}

/// The answer to [`Conditions`] or to an information offer (BC 28(3), 26(2)). Once it
/// accepts, the receiver is bound; a declined condition leaves the other Party to decide
/// whether to provide anyway.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConditionsReply {
    /// The conditions are accepted.
    pub accepted: bool,
    /// Why not, or which cannot be met; mandatory when not accepted (28(3)).
    pub explanation: Option<String>,
}

impl ConditionsReply {
    /// Every missing or malformed field at once.
    pub fn validate(&self, _urgency: Urgency) -> Result<(), Vec<FieldError>> {
        let mut r = Report::new();
        explained_unless(&mut r, self.accepted, self.explanation.as_deref());
        r.finish()
    }
}

/// A request to explain the use made of information supplied under a condition (BC 28(4)).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UseExplanationRequest {
    /// What is asked; mandatory.
    pub text: String,
}

impl UseExplanationRequest {
    /// Every missing or malformed field at once.
    pub fn validate(&self, _urgency: Urgency) -> Result<(), Vec<FieldError>> {
        let mut r = Report::new();
        r.text("text", &self.text, MAX_LONG_TEXT);
        r.finish()
    }
}

/// The explanation of the use made of the information (BC 28(4)).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UseExplanation {
    /// The explanation; mandatory.
    pub text: String,
}

impl UseExplanation {
    /// Every missing or malformed field at once.
    pub fn validate(&self, _urgency: Urgency) -> Result<(), Vec<FieldError>> {
        let mut r = Report::new();
        r.text("text", &self.text, MAX_LONG_TEXT);
        r.finish()
    }
}

/// A request for prior consent to use the information or evidence in other proceedings
/// (CARICOM MLA para. 24).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UseConsentRequest {
    /// The other use envisaged; mandatory.
    pub purpose: String,
}

impl UseConsentRequest {
    /// Every missing or malformed field at once.
    pub fn validate(&self, _urgency: Urgency) -> Result<(), Vec<FieldError>> {
        let mut r = Report::new();
        r.text("purpose", &self.purpose, MAX_LONG_TEXT);
        r.finish()
    }
}

/// The answer to a [`UseConsentRequest`] (CARICOM MLA para. 24).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UseConsent {
    /// Consent is given.
    pub granted: bool,
    /// Conditions of the consent, or why it is refused.
    pub conditions: Option<String>,
}

impl UseConsent {
    /// Every malformed field at once.
    pub fn validate(&self, _urgency: Urgency) -> Result<(), Vec<FieldError>> {
        let mut r = Report::new();
        r.optional_text("conditions", self.conditions.as_deref(), MAX_LONG_TEXT);
        r.finish()
    }
}

/// Notice that exculpatory information received will be (or, if prior notice was
/// impossible, was) disclosed (CARICOM MLA para. 24).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DisclosureNotice {
    /// What is disclosed, to whom and why; mandatory.
    pub text: String,
    /// Notified before the disclosure (false: without delay after it).
    pub prior: bool,
}

impl DisclosureNotice {
    /// Every missing or malformed field at once.
    pub fn validate(&self, _urgency: Urgency) -> Result<(), Vec<FieldError>> {
        let mut r = Report::new();
        r.text("text", &self.text, MAX_LONG_TEXT);
        r.finish()
    }
}

/// Expedited disclosure of preserved traffic data (BC 30(1)): enough to identify the other
/// service provider and the path through which each communication was transmitted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrafficDataDisclosure {
    /// The other service provider involved in the transmission; mandatory.
    pub service_provider: String,
    /// The State where that provider is; mandatory.
    pub provider_state: String,
    /// The path through which the communication was transmitted; mandatory.
    pub path: String,
    /// The traffic data, one entry per communication (BC 1(d)); at least one.
    pub communications: Vec<Communication>,
    /// Files sent with the disclosure on their own streams.
    pub attachments: Vec<AttachmentRef>,
}

impl TrafficDataDisclosure {
    /// Every missing or malformed field at once.
    pub fn validate(&self, _urgency: Urgency) -> Result<(), Vec<FieldError>> {
        let mut r = Report::new();
        r.text("service_provider", &self.service_provider, MAX_SHORT_TEXT);
        r.text("provider_state", &self.provider_state, MAX_SHORT_TEXT);
        r.text("path", &self.path, MAX_LONG_TEXT);
        if self.communications.is_empty() {
            r.push("communications", Problem::Missing);
        }
        for (i, c) in self.communications.iter().enumerate() {
            c.check(&format!("communications[{i}]"), &mut r);
        }
        check_attachments(&mut r, &self.attachments);
        r.finish()
    }
}

/// The results of execution, or a preliminary copy (BC 31, 35(1)(c); CARICOM emergency MLA
/// para. 6). Evidence files travel as attachments on their own streams.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Results {
    /// What the results are; mandatory.
    pub summary: String,
    /// A preliminary copy, the formal results following (emergency MLA para. 6).
    pub preliminary: bool,
    /// The other channel the results were sent by, if any (emergency MLA para. 6).
    pub channel: Option<String>,
    /// The SHA-256 (64 hexadecimal digits) of what was sent by that channel; mandatory when
    /// `channel` is given.
    pub sent_sha256: Option<String>,
    /// Evidence files sent with the results on their own streams (BC 31, 35(1)(c)).
    pub attachments: Vec<AttachmentRef>,
    /// Where traffic data are concerned, each communication traced: its day, time, duration
    /// and place, as far as known (CIC 67-1).
    pub communications: Vec<TracedCommunication>,
}

/// One communication a tracing found, as the results report it (CIC 67-1: "the day, time,
/// duration and place of each communication"); at least one element is known.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TracedCommunication {
    /// Its day.
    pub date: Option<String>,
    /// Its time, with time zone.
    pub time: Option<String>,
    /// How long it lasted.
    pub duration: Option<String>,
    /// Where it took place: the cell, the access point, the locality.
    pub place: Option<String>,
}

impl TracedCommunication {
    fn check(&self, prefix: &str, r: &mut Report) {
        let fields = [
            ("date", self.date.as_deref()),
            ("time", self.time.as_deref()),
            ("duration", self.duration.as_deref()),
            ("place", self.place.as_deref()),
        ];
        if fields
            .iter()
            .all(|(_, v)| v.is_none_or(|s| s.trim().is_empty()))
        {
            r.push(prefix, Problem::Missing);
        }
        for (name, value) in fields {
            r.optional_text(&format!("{prefix}.{name}"), value, MAX_SHORT_TEXT);
        }
    }
}

impl Results {
    /// Every missing or malformed field at once.
    pub fn validate(&self, _urgency: Urgency) -> Result<(), Vec<FieldError>> {
        let mut r = Report::new();
        r.text("summary", &self.summary, MAX_LONG_TEXT);
        r.optional_text("channel", self.channel.as_deref(), MAX_SHORT_TEXT);
        let by_other_channel = self
            .channel
            .as_deref()
            .is_some_and(|c| !c.trim().is_empty());
        if by_other_channel && self.sent_sha256.is_none() {
            r.push("sent_sha256", Problem::Missing);
        }
        optional_sha256_hex(&mut r, "sent_sha256", self.sent_sha256.as_deref());
        check_attachments(&mut r, &self.attachments);
        for (i, c) in self.communications.iter().enumerate() {
            c.check(&format!("communications[{i}]"), &mut r);
        }
        r.finish()
    }
}

closed_set! {
    /// The channel by which the formal request was sent (BC 25(3) names fax and e-mail;
    /// Colombia names INTERPOL I-24/7).
    pub enum ConfirmationChannel {
        /// Through the central authorities (BC 27(2)).
        CentralAuthority = "central_authority",
        /// Through diplomatic channels.
        Diplomatic = "diplomatic",
        /// Through INTERPOL I-24/7 (BC 27(9)(b)).
        InterpolI247 = "interpol_i247",
        /// By e-mail (BC 25(3)).
        Email = "email",
        /// By fax (BC 25(3)).
        Fax = "fax",
        /// Any other channel.
        Other = "other",
    }
}

/// The official request confirming one sent by expedited means (BC 25(3); CARICOM MLA
/// paras. 17–19; emergency production para. 7).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FormalConfirmation {
    /// The number of the official request; mandatory.
    pub reference: String,
    /// How it was sent; mandatory.
    pub channel: Option<ConfirmationChannel>,
    /// When it was sent; mandatory.
    pub sent_on: Option<Date>,
    /// The SHA-256 (64 hexadecimal digits) of the document sent.
    pub document_sha256: Option<String>,
}

impl FormalConfirmation {
    /// Every missing or malformed field at once.
    pub fn validate(&self, _urgency: Urgency) -> Result<(), Vec<FieldError>> {
        let mut r = Report::new();
        r.text("reference", &self.reference, MAX_SHORT_TEXT);
        required(&mut r, "channel", self.channel);
        required(&mut r, "sent_on", self.sent_on);
        optional_sha256_hex(&mut r, "document_sha256", self.document_sha256.as_deref());
        r.finish()
    }
}

/// The preservation is extended (a design choice: domestic orders are renewed, BC 16(2)).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PreservationExtension {
    /// The new end of the preservation; mandatory.
    pub until: Option<Date>,
    /// Why it is extended (such as the follow-up request still pending); mandatory.
    pub reason: String,
}

impl PreservationExtension {
    /// Every missing or malformed field at once.
    pub fn validate(&self, _urgency: Urgency) -> Result<(), Vec<FieldError>> {
        let mut r = Report::new();
        required(&mut r, "until", self.until);
        r.text("reason", &self.reason, MAX_LONG_TEXT);
        r.finish()
    }
}

/// The preserved data are no longer needed and may be released (design).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PreservationRelease {
    /// Why.
    pub reason: Option<String>,
}

impl PreservationRelease {
    /// Every malformed field at once.
    pub fn validate(&self, _urgency: Urgency) -> Result<(), Vec<FieldError>> {
        let mut r = Report::new();
        r.optional_text("reason", self.reason.as_deref(), MAX_LONG_TEXT);
        r.finish()
    }
}

/// The assistance sought is no longer needed (CARICOM MLA para. 29).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Withdrawal {
    /// Why.
    pub reason: Option<String>,
}

impl Withdrawal {
    /// Every malformed field at once.
    pub fn validate(&self, _urgency: Urgency) -> Result<(), Vec<FieldError>> {
        let mut r = Report::new();
        r.optional_text("reason", self.reason.as_deref(), MAX_LONG_TEXT);
        r.finish()
    }
}

/// The requester goes on after a `preservation_insufficient` (BC 29(6)) or a
/// `confidentiality_reply` that cannot comply (BC 27(8)).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Proceed {
    /// Anything the requester adds.
    pub note: Option<String>,
}

impl Proceed {
    /// Every malformed field at once.
    pub fn validate(&self, _urgency: Urgency) -> Result<(), Vec<FieldError>> {
        let mut r = Report::new();
        r.optional_text("note", self.note.as_deref(), MAX_LONG_TEXT);
        r.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::names;

    const U: Urgency = Urgency::Routine;

    #[test]
    fn a_confidentiality_reply_that_cannot_comply_explains_art_27_8() {
        assert_eq!(
            names(ConfidentialityReply::default().validate(U)),
            ["explanation"]
        );
        let ok = ConfidentialityReply {
            can_comply: true,
            explanation: None,
        };
        assert!(ok.validate(U).is_ok());
        let cannot = ConfidentialityReply {
            can_comply: false,
            explanation: Some("the provider must be told of the order".into()),
        };
        assert!(cannot.validate(U).is_ok());
    }

    #[test]
    fn declined_conditions_are_explained_art_28_3() {
        assert_eq!(
            names(ConditionsReply::default().validate(U)),
            ["explanation"]
        );
        let accepted = ConditionsReply {
            accepted: true,
            explanation: None,
        };
        assert!(accepted.validate(U).is_ok());
    }

    #[test]
    fn conditions_state_their_text_art_28_2() {
        assert_eq!(names(Conditions::default().validate(U)), ["text"]);
        let c = Conditions {
            confidential: true,
            use_limited_to: Some("case LU-2026-000001".into()),
            text: "confidential; use limited to this case".into(),
        };
        assert!(c.validate(U).is_ok());
    }

    #[test]
    fn traffic_data_disclosure_identifies_provider_and_path_art_30_1() {
        assert_eq!(
            names(TrafficDataDisclosure::default().validate(U)),
            [
                "service_provider",
                "provider_state",
                "path",
                "communications"
            ]
        );
        let t = TrafficDataDisclosure {
            service_provider: "Example Telecom".into(),
            provider_state: "BE".into(),
            path: "ExampleMail -> Example Telecom".into(),
            communications: vec![
                Communication {
                    origin: Some("203.0.113.7".into()),
                    ..Default::default()
                },
                Communication::default(),
            ],
            attachments: Vec::new(),
        };
        assert_eq!(names(t.validate(U)), ["communications[1]"]);
        let t = TrafficDataDisclosure {
            communications: t.communications[..1].to_vec(),
            ..t
        };
        assert!(t.validate(U).is_ok());
    }

    #[test]
    fn results_name_each_communication_traced_by_its_day_time_duration_and_place_cic_67_1() {
        let r = Results {
            summary: "tracing of the account's connections".into(),
            communications: vec![
                TracedCommunication {
                    date: Some("2026-11-20".into()),
                    time: Some("14:03:07Z".into()),
                    duration: Some("00:02:11".into()),
                    place: Some("Luxembourg-Gare, cell 4711".into()),
                },
                TracedCommunication::default(),
            ],
            ..Results::default()
        };
        assert_eq!(names(r.validate(U)), ["communications[1]"]);
    }

    #[test]
    fn results_sent_by_another_channel_carry_its_hash_emergency_mla_para_6() {
        assert_eq!(names(Results::default().validate(U)), ["summary"]);
        let r = Results {
            summary: "mailbox export".into(),
            preliminary: true,
            channel: Some("encrypted e-mail".into()),
            sent_sha256: None,
            attachments: Vec::new(),
            communications: Vec::new(),
        };
        assert_eq!(names(r.validate(U)), ["sent_sha256"]);
        let bad = Results {
            sent_sha256: Some("abc".into()),
            ..r.clone()
        };
        assert_eq!(names(bad.validate(U)), ["sent_sha256"]);
        let good = Results {
            sent_sha256: Some("0f".repeat(32)),
            ..r
        };
        assert!(good.validate(U).is_ok());
    }

    #[test]
    fn formal_confirmation_names_reference_channel_and_date_art_25_3() {
        assert_eq!(
            names(FormalConfirmation::default().validate(U)),
            ["reference", "channel", "sent_on"]
        );
        let f = FormalConfirmation {
            reference: "CA-LU 2026/123".into(),
            channel: Some(ConfirmationChannel::CentralAuthority),
            sent_on: Date::parse("2026-11-25").ok(),
            document_sha256: Some("not hex".into()),
        };
        assert_eq!(names(f.validate(U)), ["document_sha256"]);
        let f = FormalConfirmation {
            document_sha256: Some("A1".repeat(32)),
            ..f
        };
        assert!(f.validate(U).is_ok());
        assert_eq!(ConfirmationChannel::ALL.len(), 6);
        assert_eq!(
            ConfirmationChannel::parse("interpol_i247"),
            Some(ConfirmationChannel::InterpolI247)
        );
    }

    #[test]
    fn preservation_extension_gives_the_new_end_and_why_art_16_2() {
        assert_eq!(
            names(PreservationExtension::default().validate(U)),
            ["until", "reason"]
        );
    }
}
