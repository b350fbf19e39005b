//! The requests that open a case (docs/requests.md "Requests"): preservation, emergency
//! production, mutual assistance, assistance, spontaneous information and its offer.
//!
//! Every request also carries `emergency_facts` (mandatory when the urgency is `emergency`,
//! New Zealand's definition), and the requester's suggested deadline `respond_by` with
//! `respond_by_reason` (CARICOM MLA para. 29), and every one but the information offer may
//! carry `attachments`: evidence files sent on their own streams (a log that shows the
//! offence, the screenshot of a threat). An information offer carries the conditions of the
//! information, not the information (BC 26(2)): its files go with the spontaneous information
//! sent once the conditions are accepted.

use super::{closed_set, request_common, required, Communication};
use crate::attachment::{check_attachments, AttachmentRef};
use crate::body::Urgency;
use crate::date::Date;
use crate::ids::{CaseRef, PartyId};
use crate::validate::{FieldError, Problem, Report, MAX_LONG_TEXT, MAX_SHORT_TEXT};
use serde::{Deserialize, Serialize};

/// Expedited preservation of stored computer data (BC art. 29; CARICOM "expedited
/// preservation"). Every field of art. 29(2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Preservation {
    /// The authority seeking the preservation (29(2)(a)).
    pub requesting_authority: String,
    /// The offence under investigation or proceedings (29(2)(b)).
    pub offence: String,
    /// A brief summary of the related facts (29(2)(b)).
    pub facts: String,
    /// The stored computer data to be preserved (29(2)(c)).
    pub data: String,
    /// How that data relates to the offence (29(2)(c)).
    pub relation_to_offence: String,
    /// Any available information identifying the custodian of the data or the location of the
    /// computer system (29(2)(d)).
    pub custodian_or_location: String,
    /// Why preservation is necessary (29(2)(e)).
    pub necessity: String,
    /// The Party intends to submit a request for mutual assistance (29(2)(f)); must be true.
    pub mla_intent: bool,
    /// The data include traffic data of a specified communication (opens art. 30 disclosure).
    pub includes_traffic_data: bool,
    /// Which communication, when `includes_traffic_data` (30(1), 1(d)).
    pub communication: Option<Communication>,
    /// Facts establishing the emergency; mandatory when the urgency is `emergency`.
    pub emergency_facts: Option<String>,
    /// The requester's suggested deadline (CARICOM MLA para. 29).
    pub respond_by: Option<Date>,
    /// Why that deadline.
    pub respond_by_reason: Option<String>,
    /// Files sent with the request on their own streams.
    pub attachments: Vec<AttachmentRef>,
}

impl Preservation {
    /// Every missing or malformed field at once.
    pub fn validate(&self, urgency: Urgency) -> Result<(), Vec<FieldError>> {
        let mut r = Report::new();
        r.text(
            "requesting_authority",
            &self.requesting_authority,
            MAX_SHORT_TEXT,
        );
        r.text("offence", &self.offence, MAX_SHORT_TEXT);
        r.text("facts", &self.facts, MAX_LONG_TEXT);
        r.text("data", &self.data, MAX_LONG_TEXT);
        r.text(
            "relation_to_offence",
            &self.relation_to_offence,
            MAX_LONG_TEXT,
        );
        r.text(
            "custodian_or_location",
            &self.custodian_or_location,
            MAX_LONG_TEXT,
        );
        r.text("necessity", &self.necessity, MAX_LONG_TEXT);
        r.must_be_true("mla_intent", self.mla_intent);
        match (&self.communication, self.includes_traffic_data) {
            (Some(c), _) => c.check("communication", &mut r),
            (None, true) => r.push("communication", Problem::Missing),
            (None, false) => {}
        }
        request_common(
            &mut r,
            urgency == Urgency::Emergency,
            self.emergency_facts.as_deref(),
            self.respond_by.is_some(),
            self.respond_by_reason.as_deref(),
        );
        check_attachments(&mut r, &self.attachments);
        r.finish()
    }
}

/// A service provider holding or controlling the data sought (CARICOM emergency production
/// para. 5(c)): both its name and its address are required.
///
/// A list of these rather than one free text, so that each provider can be checked to have
/// both, and the requested Party can address an order to each.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceProvider {
    /// Its name.
    pub name: String,
    /// Its address (postal, and any other known).
    pub address: String,
}

/// Expedited production of stored data in an emergency (CARICOM "emergency production",
/// para. 5).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmergencyProduction {
    /// The competent authority seeking the data (5(a)).
    pub requesting_authority: String,
    /// The date the request was made (5(a)); mandatory.
    pub requested_on: Option<Date>,
    /// Statement that the request is issued under the Convention (5(b)); must be true.
    pub convention_statement: bool,
    /// Name and address of each service provider holding or controlling the data (5(c));
    /// at least one.
    pub service_providers: Vec<ServiceProvider>,
    /// The offence(s) under investigation (5(d)).
    pub offences: String,
    /// The legal provisions and applicable penalties (5(d)).
    pub legal_provisions: String,
    /// The data sought, described in detail (5(f)).
    pub data_description: String,
    /// Special procedural instructions (5(g)).
    pub special_instructions: Option<String>,
    /// Anything that may help obtain the disclosure (5(h)).
    pub other_information: Option<String>,
    /// The request seeks subscriber information only (BC 18(3); para. 3: a Party may declare
    /// it does not execute those).
    pub subscriber_only: bool,
    /// Facts showing there is an emergency and how the data relate to it (5(e)); always
    /// mandatory for this kind, whatever the urgency.
    pub emergency_facts: Option<String>,
    /// The requester's suggested deadline (CARICOM MLA para. 29).
    pub respond_by: Option<Date>,
    /// Why that deadline.
    pub respond_by_reason: Option<String>,
    /// Files sent with the request on their own streams.
    pub attachments: Vec<AttachmentRef>,
}

impl EmergencyProduction {
    /// Every missing or malformed field at once. `emergency_facts` is mandatory whatever the
    /// urgency (para. 5(e)).
    pub fn validate(&self, _urgency: Urgency) -> Result<(), Vec<FieldError>> {
        let mut r = Report::new();
        r.text(
            "requesting_authority",
            &self.requesting_authority,
            MAX_SHORT_TEXT,
        );
        required(&mut r, "requested_on", self.requested_on);
        r.must_be_true("convention_statement", self.convention_statement);
        if self.service_providers.is_empty() {
            r.push("service_providers", Problem::Missing);
        }
        for (i, p) in self.service_providers.iter().enumerate() {
            r.text(
                &format!("service_providers[{i}].name"),
                &p.name,
                MAX_SHORT_TEXT,
            );
            r.text(
                &format!("service_providers[{i}].address"),
                &p.address,
                MAX_SHORT_TEXT,
            );
        }
        r.text("offences", &self.offences, MAX_SHORT_TEXT);
        r.text("legal_provisions", &self.legal_provisions, MAX_LONG_TEXT);
        r.text("data_description", &self.data_description, MAX_LONG_TEXT);
        r.optional_text(
            "special_instructions",
            self.special_instructions.as_deref(),
            MAX_LONG_TEXT,
        );
        r.optional_text(
            "other_information",
            self.other_information.as_deref(),
            MAX_LONG_TEXT,
        );
        request_common(
            &mut r,
            true,
            self.emergency_facts.as_deref(),
            self.respond_by.is_some(),
            self.respond_by_reason.as_deref(),
        );
        check_attachments(&mut r, &self.attachments);
        r.finish()
    }
}

closed_set! {
    /// The measure a mutual-assistance request seeks (BC arts. 31–34).
    pub enum Measure {
        /// Accessing stored computer data: search, seizure, disclosure (BC 31).
        StoredDataAccess = "stored_data_access",
        /// Real-time collection of traffic data (BC 33).
        RealtimeTraffic = "realtime_traffic",
        /// Interception of content data (BC 34).
        Interception = "interception",
        /// Any other measure (BC 25(1)).
        Other = "other",
    }
}

/// An (emergency) mutual assistance request (BC arts. 25(3), 27, 31, 33, 34; CARICOM MLA
/// para. 20 and "emergency MLA").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MutualAssistance {
    /// The authority making the request (MLA 20(a)).
    pub requesting_authority: String,
    /// The measure sought (BC 31–34); mandatory.
    pub measure: Option<Measure>,
    /// Subject matter and nature of the investigation, prosecution or proceeding, and the name
    /// and function of the authority conducting it (MLA 20(b)).
    pub investigation: String,
    /// Summary of the relevant facts (MLA 20(c)).
    pub facts: String,
    /// The assistance sought and any particular procedure to follow (MLA 20(d); BC 27(3)).
    pub assistance_sought: String,
    /// Identity, address and nationality of any person concerned, where possible (MLA 20(e)).
    /// Free text: what is known varies too much per person for fixed fields.
    pub persons: Option<String>,
    /// The purpose for which the evidence, information or action is sought (MLA 20(f)).
    pub purpose: String,
    /// The measure requires coercive action (non-coercive requests may go directly between
    /// competent authorities, BC 27(9)(d)). Mandatory, but any value is an answer.
    pub coercive: bool,
    /// The data are particularly vulnerable to loss or modification (BC 31(3)).
    pub data_volatile: bool,
    /// Keep the fact and subject of the request confidential (BC 27(8); MLA 25).
    pub confidential: bool,
    /// The preservation case this request follows, which keeps the data preserved until this
    /// request is decided (BC 29(7)).
    pub preservation_case: Option<CaseRef>,
    /// Facts establishing the emergency and how the assistance relates to it; mandatory when
    /// the urgency is `emergency` (emergency MLA para. 1).
    pub emergency_facts: Option<String>,
    /// The requester's suggested deadline (CARICOM MLA para. 29).
    pub respond_by: Option<Date>,
    /// Why that deadline.
    pub respond_by_reason: Option<String>,
    /// Files sent with the request on their own streams.
    pub attachments: Vec<AttachmentRef>,
    /// Set by the nodes, never by an officer: this request is the copy of one sent directly
    /// (BC 27(9)(a)) or a request forwarded to the competent authority (27(9)(c)), with the
    /// requester's case it comes from.
    pub relayed: Option<Relayed>,
}

closed_set! {
    /// How a request was relayed between authorities (BC 27(9)).
    pub enum RelayKind {
        /// The copy of a request sent directly, for the requested Party's central authority,
        /// through the requester's own (27(9)(a)): for information, not to execute.
        Copy = "copy",
        /// Forwarded by an authority that is not competent to the one that is (27(9)(c)).
        Forward = "forward",
    }
}

/// Where a relayed request comes from (BC 27(9)(a), (c)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Relayed {
    /// A copy or a forward.
    pub how: RelayKind,
    /// The requester's case.
    pub case: CaseRef,
    /// The requesting Party.
    pub requester: PartyId,
    /// The Party the request was addressed to.
    pub requested: PartyId,
}

impl MutualAssistance {
    /// Every missing or malformed field at once.
    pub fn validate(&self, urgency: Urgency) -> Result<(), Vec<FieldError>> {
        let mut r = Report::new();
        r.text(
            "requesting_authority",
            &self.requesting_authority,
            MAX_SHORT_TEXT,
        );
        required(&mut r, "measure", self.measure);
        r.text("investigation", &self.investigation, MAX_LONG_TEXT);
        r.text("facts", &self.facts, MAX_LONG_TEXT);
        r.text("assistance_sought", &self.assistance_sought, MAX_LONG_TEXT);
        r.optional_text("persons", self.persons.as_deref(), MAX_LONG_TEXT);
        r.text("purpose", &self.purpose, MAX_LONG_TEXT);
        request_common(
            &mut r,
            urgency == Urgency::Emergency,
            self.emergency_facts.as_deref(),
            self.respond_by.is_some(),
            self.respond_by_reason.as_deref(),
        );
        check_attachments(&mut r, &self.attachments);
        r.finish()
    }
}

closed_set! {
    /// What a Party asks of another's 24/7 point of contact (BC 35(1)).
    pub enum AssistanceType {
        /// The provision of technical advice (35(1)(a)).
        TechnicalAdvice = "technical_advice",
        /// The collection of evidence (35(1)(c)).
        EvidenceCollection = "evidence_collection",
        /// The provision of legal information (35(1)(c)).
        LegalInformation = "legal_information",
        /// Locating suspects (35(1)(c)).
        SuspectLocation = "suspect_location",
    }
}

/// Immediate assistance from the 24/7 point of contact (BC art. 35(1); CARICOM "24/7
/// network"), for a criminal offence related to computer systems and data, or any offence
/// whose evidence is in electronic form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Assistance {
    /// Who asks.
    pub requesting_authority: String,
    /// What kind of assistance (35(1)); mandatory.
    pub assistance_type: Option<AssistanceType>,
    /// What is asked, in plain words.
    pub question: String,
    /// The offence concerned (35(1)).
    pub offence: String,
    /// Related facts.
    pub facts: Option<String>,
    /// Facts establishing the emergency; mandatory when the urgency is `emergency`.
    pub emergency_facts: Option<String>,
    /// The requester's suggested deadline (CARICOM MLA para. 29).
    pub respond_by: Option<Date>,
    /// Why that deadline.
    pub respond_by_reason: Option<String>,
    /// Files sent with the request on their own streams.
    pub attachments: Vec<AttachmentRef>,
}

impl Assistance {
    /// Every missing or malformed field at once.
    pub fn validate(&self, urgency: Urgency) -> Result<(), Vec<FieldError>> {
        let mut r = Report::new();
        r.text(
            "requesting_authority",
            &self.requesting_authority,
            MAX_SHORT_TEXT,
        );
        required(&mut r, "assistance_type", self.assistance_type);
        r.text("question", &self.question, MAX_LONG_TEXT);
        r.text("offence", &self.offence, MAX_SHORT_TEXT);
        r.optional_text("facts", self.facts.as_deref(), MAX_LONG_TEXT);
        request_common(
            &mut r,
            urgency == Urgency::Emergency,
            self.emergency_facts.as_deref(),
            self.respond_by.is_some(),
            self.respond_by_reason.as_deref(),
        );
        check_attachments(&mut r, &self.attachments);
        r.finish()
    }
}

/// Information sent without prior request (BC art. 26(1); CARICOM "spontaneous exchange");
/// step 2 when conditions were offered first with [`InformationOffer`] (26(2)).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpontaneousInformation {
    /// The information obtained in the sender's own investigation (26(1)).
    pub information: String,
    /// Why it may help the receiver initiate or carry out investigations (26(1)).
    pub relevance: String,
    /// Always empty: conditions are agreed before the information is sent, in an
    /// [`InformationOffer`] (26(2)). Kept so that a message carrying them is named and refused.
    pub conditions: Option<String>,
    /// Facts establishing the emergency; mandatory when the urgency is `emergency`.
    pub emergency_facts: Option<String>,
    /// The sender's suggested deadline (CARICOM MLA para. 29).
    pub respond_by: Option<Date>,
    /// Why that deadline.
    pub respond_by_reason: Option<String>,
    /// Files sent with the request on their own streams.
    pub attachments: Vec<AttachmentRef>,
}

impl SpontaneousInformation {
    /// Every missing or malformed field at once.
    pub fn validate(&self, urgency: Urgency) -> Result<(), Vec<FieldError>> {
        let mut r = Report::new();
        r.text("information", &self.information, MAX_LONG_TEXT);
        r.text("relevance", &self.relevance, MAX_LONG_TEXT);
        if self.conditions.is_some() {
            r.push(
                "conditions",
                Problem::Invalid(
                    "conditions are agreed before the information is sent (BC 26(2)): offer it \
                     with its conditions first (information_offer), then send the information \
                     once the receiver has answered"
                        .into(),
                ),
            );
        }
        request_common(
            &mut r,
            urgency == Urgency::Emergency,
            self.emergency_facts.as_deref(),
            self.respond_by.is_some(),
            self.respond_by_reason.as_deref(),
        );
        check_attachments(&mut r, &self.attachments);
        r.finish()
    }
}

/// Step 1 of a spontaneous information with conditions (BC art. 26(2)): the conditions and
/// why the information is relevant, but not the information, which follows only once the
/// receiver has answered with a `conditions_reply`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InformationOffer {
    /// The confidentiality or use conditions the information would be subject to (26(2)).
    pub conditions: String,
    /// Why the information may help the receiver (26(1)).
    pub relevance: String,
    /// Facts establishing the emergency; mandatory when the urgency is `emergency`.
    pub emergency_facts: Option<String>,
    /// The sender's suggested deadline (CARICOM MLA para. 29).
    pub respond_by: Option<Date>,
    /// Why that deadline.
    pub respond_by_reason: Option<String>,
}

impl InformationOffer {
    /// Every missing or malformed field at once.
    pub fn validate(&self, urgency: Urgency) -> Result<(), Vec<FieldError>> {
        let mut r = Report::new();
        r.text("conditions", &self.conditions, MAX_LONG_TEXT);
        r.text("relevance", &self.relevance, MAX_LONG_TEXT);
        request_common(
            &mut r,
            urgency == Urgency::Emergency,
            self.emergency_facts.as_deref(),
            self.respond_by.is_some(),
            self.respond_by_reason.as_deref(),
        );
        r.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::names;

    fn preservation() -> Preservation {
        Preservation {
            requesting_authority: "Parquet de Luxembourg".into(),
            offence: "fraud".into(),
            facts: "phishing campaign".into(),
            data: "mailbox".into(),
            relation_to_offence: "used to receive credentials".into(),
            custodian_or_location: "ExampleMail SAS, Paris".into(),
            necessity: "retention 7 days".into(),
            mla_intent: true,
            ..Default::default()
        }
    }

    fn emergency_production() -> EmergencyProduction {
        EmergencyProduction {
            requesting_authority: "Police Grand-Ducale, SPJ".into(),
            requested_on: Date::parse("2026-11-23").ok(),
            convention_statement: true,
            service_providers: vec![ServiceProvider {
                name: "ExampleMail SAS".into(),
                address: "1 rue de l'Exemple, Paris".into(),
            }],
            offences: "kidnapping".into(),
            legal_provisions: "Code pénal art. 368: 5 to 10 years".into(),
            data_description: "login IP addresses since 2026-11-20".into(),
            emergency_facts: Some("child abducted, ransom mail from this account".into()),
            ..Default::default()
        }
    }

    fn mutual_assistance() -> MutualAssistance {
        MutualAssistance {
            requesting_authority: "Parquet de Luxembourg".into(),
            measure: Some(Measure::StoredDataAccess),
            investigation: "fraud investigation by the investigating judge, Luxembourg".into(),
            facts: "phishing campaign".into(),
            assistance_sought: "production of the mailbox content".into(),
            purpose: "evidence at trial".into(),
            ..Default::default()
        }
    }

    #[test]
    fn preservation_names_every_missing_field_of_art_29_2() {
        let errs = Preservation::default()
            .validate(Urgency::Urgent)
            .unwrap_err();
        let names: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            names,
            [
                "requesting_authority",
                "offence",
                "facts",
                "data",
                "relation_to_offence",
                "custodian_or_location",
                "necessity",
                "mla_intent"
            ]
        );
        assert!(preservation().validate(Urgency::Urgent).is_ok());
    }

    #[test]
    fn mla_intent_must_be_true_art_29_2_f() {
        let p = Preservation {
            mla_intent: false,
            ..preservation()
        };
        let errs = p.validate(Urgency::Urgent).unwrap_err();
        assert_eq!(errs[0].field, "mla_intent");
        assert_eq!(errs[0].problem, Problem::MustBeTrue);
    }

    #[test]
    fn traffic_data_needs_the_communication_art_30_1() {
        let p = Preservation {
            includes_traffic_data: true,
            ..preservation()
        };
        assert_eq!(
            p.validate(Urgency::Urgent).unwrap_err()[0].field,
            "communication"
        );
        let p = Preservation {
            includes_traffic_data: true,
            communication: Some(Communication {
                origin: Some("203.0.113.7".into()),
                ..Default::default()
            }),
            ..preservation()
        };
        assert!(p.validate(Urgency::Urgent).is_ok());
    }

    #[test]
    fn emergency_needs_emergency_facts() {
        let errs = preservation().validate(Urgency::Emergency).unwrap_err();
        assert_eq!(errs[0].field, "emergency_facts");
        let p = Preservation {
            emergency_facts: Some("hostage held, location in mailbox".into()),
            ..preservation()
        };
        assert!(p.validate(Urgency::Emergency).is_ok());
    }

    #[test]
    fn free_text_has_a_length_limit() {
        let p = Preservation {
            offence: "x".repeat(MAX_SHORT_TEXT + 1),
            ..preservation()
        };
        let errs = p.validate(Urgency::Routine).unwrap_err();
        assert_eq!(
            errs[0].problem,
            Problem::TooLong {
                max: MAX_SHORT_TEXT
            }
        );
        let p = Preservation {
            respond_by_reason: Some("x".repeat(MAX_SHORT_TEXT + 1)),
            ..preservation()
        };
        assert_eq!(names(p.validate(Urgency::Routine)), ["respond_by_reason"]);
    }

    #[test]
    fn emergency_production_names_every_missing_field_of_para_5() {
        assert_eq!(
            names(EmergencyProduction::default().validate(Urgency::Emergency)),
            [
                "requesting_authority",
                "requested_on",
                "convention_statement",
                "service_providers",
                "offences",
                "legal_provisions",
                "data_description",
                "emergency_facts"
            ]
        );
        assert!(emergency_production().validate(Urgency::Emergency).is_ok());
    }

    #[test]
    fn convention_statement_must_be_true_para_5_b() {
        let e = EmergencyProduction {
            convention_statement: false,
            ..emergency_production()
        };
        let errs = e.validate(Urgency::Emergency).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "convention_statement");
        assert_eq!(errs[0].problem, Problem::MustBeTrue);
    }

    #[test]
    fn emergency_production_always_needs_emergency_facts_para_5_e() {
        for urgency in [Urgency::Emergency, Urgency::Urgent, Urgency::Routine] {
            let e = EmergencyProduction {
                emergency_facts: None,
                ..emergency_production()
            };
            assert_eq!(names(e.validate(urgency)), ["emergency_facts"], "{urgency}");
            let e = EmergencyProduction {
                emergency_facts: Some("  ".into()),
                ..emergency_production()
            };
            assert_eq!(names(e.validate(urgency)), ["emergency_facts"], "{urgency}");
        }
    }

    #[test]
    fn each_service_provider_has_a_name_and_an_address_para_5_c() {
        let e = EmergencyProduction {
            service_providers: vec![
                ServiceProvider {
                    name: "ExampleMail SAS".into(),
                    address: String::new(),
                },
                ServiceProvider::default(),
            ],
            ..emergency_production()
        };
        assert_eq!(
            names(e.validate(Urgency::Emergency)),
            [
                "service_providers[0].address",
                "service_providers[1].name",
                "service_providers[1].address"
            ]
        );
    }

    #[test]
    fn mutual_assistance_names_every_missing_field_of_mla_para_20() {
        assert_eq!(
            names(MutualAssistance::default().validate(Urgency::Routine)),
            [
                "requesting_authority",
                "measure",
                "investigation",
                "facts",
                "assistance_sought",
                "purpose"
            ]
        );
        assert!(mutual_assistance().validate(Urgency::Routine).is_ok());
    }

    #[test]
    fn emergency_mutual_assistance_needs_emergency_facts_emergency_mla_para_1() {
        assert_eq!(
            names(mutual_assistance().validate(Urgency::Emergency)),
            ["emergency_facts"]
        );
        let m = MutualAssistance {
            emergency_facts: Some("threat to kill posted from the account".into()),
            ..mutual_assistance()
        };
        assert!(m.validate(Urgency::Emergency).is_ok());
    }

    #[test]
    fn coercive_persons_and_preservation_case_are_free_art_27_9_d_and_29_7() {
        for coercive in [false, true] {
            let m = MutualAssistance {
                coercive,
                persons: Some("Jane Doe, 1 Main St, Kingston, Jamaican".into()),
                preservation_case: CaseRef::parse("LU-2026-000001").ok(),
                data_volatile: true,
                confidential: true,
                ..mutual_assistance()
            };
            assert!(m.validate(Urgency::Urgent).is_ok());
        }
    }

    #[test]
    fn closed_sets_of_requests_match_their_wire_names() {
        assert_eq!(Measure::ALL.len(), 4);
        assert_eq!(AssistanceType::ALL.len(), 4);
        assert_eq!(Measure::parse("interception"), Some(Measure::Interception));
        assert_eq!(Measure::parse("wiretap"), None);
        assert_eq!(
            AssistanceType::parse("suspect_location"),
            Some(AssistanceType::SuspectLocation)
        );
    }

    #[test]
    fn assistance_names_every_missing_field_art_35_1() {
        assert_eq!(
            names(Assistance::default().validate(Urgency::Routine)),
            [
                "requesting_authority",
                "assistance_type",
                "question",
                "offence"
            ]
        );
        let a = Assistance {
            requesting_authority: "SPJ cybercrime".into(),
            assistance_type: Some(AssistanceType::TechnicalAdvice),
            question: "how to read this log format".into(),
            offence: "illegal access".into(),
            ..Default::default()
        };
        assert!(a.validate(Urgency::Routine).is_ok());
    }

    #[test]
    fn spontaneous_information_needs_information_and_relevance_art_26_1() {
        assert_eq!(
            names(SpontaneousInformation::default().validate(Urgency::Routine)),
            ["information", "relevance"]
        );
        let s = SpontaneousInformation {
            information: "C2 server at 198.51.100.1".into(),
            relevance: "hosted in your territory".into(),
            ..Default::default()
        };
        assert!(s.validate(Urgency::Routine).is_ok());
    }

    #[test]
    fn information_offer_carries_conditions_and_relevance_art_26_2() {
        assert_eq!(
            names(InformationOffer::default().validate(Urgency::Routine)),
            ["conditions", "relevance"]
        );
        let o = InformationOffer {
            conditions: "confidential until arrests".into(),
            relevance: "victims in your territory".into(),
            ..Default::default()
        };
        assert!(o.validate(Urgency::Routine).is_ok());
    }
}
