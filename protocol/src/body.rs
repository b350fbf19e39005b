//! The body of a message: [`MessageKind`], [`Body`] (one variant per kind of docs/requests.md),
//! the header's [`Urgency`], and the rules that need the case ([`Body::validate_in_case`]).
//! The typed struct of each kind lives in [`crate::kinds`].

use crate::attachment::AttachmentRef;
use crate::kinds::*;
use crate::validate::{FieldError, Problem, Report};
use serde::{Deserialize, Serialize};
use std::fmt;

/// How urgent a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// A significant and imminent risk to the life or safety of a person.
    Emergency,
    /// Evidence is about to vanish.
    Urgent,
    /// Neither.
    Routine,
}

impl Urgency {
    /// The name used on the wire, in JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Emergency => "emergency",
            Urgency::Urgent => "urgent",
            Urgency::Routine => "routine",
        }
    }
    /// Parses the name used in JSON and on the command line.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "emergency" => Some(Urgency::Emergency),
            "urgent" => Some(Urgency::Urgent),
            "routine" => Some(Urgency::Routine),
            _ => None,
        }
    }
}

impl fmt::Display for Urgency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Defines [`MessageKind`] and [`Body`] from one table, so that the two enums, their names
/// and their dispatch cannot drift apart. Each row: documentation, variant, struct, docs/requests.md
/// name, whether the kind opens a case, and whether it carries attachments (`yes`: its struct
/// has `attachments: Vec<AttachmentRef>`; a new kind must say).
/// The member a body's decoding failed on, named: the path to a member of the wrong type, or
/// the member serde did not know. `body` only when no member can be named.
fn field_error(e: serde_path_to_error::Error<serde_json::Error>) -> FieldError {
    let path = e.path().to_string();
    let inner = e.into_inner().to_string();
    let unknown = inner
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next())
        .map(str::to_owned);
    let field = match (unknown, path.as_str()) {
        (Some(name), "." | "") => name,
        (Some(name), p) if !p.ends_with(&name) => format!("{p}.{name}"),
        (None, "." | "") => "body".to_owned(),
        (_, p) => p.to_owned(),
    };
    // serde's own position ("at line 1 column 20") means nothing for a value.
    let problem = inner
        .split(" at line ")
        .next()
        .unwrap_or(inner.as_str())
        .to_owned();
    FieldError {
        field,
        problem: Problem::Invalid(problem),
    }
}

macro_rules! message_kinds {
    ($(
        $(#[$doc:meta])* $variant:ident($ty:ty) = $name:literal,
            request: $request:literal, attachments: $att:tt;
    )+) => {
        /// The kind of a message, by its docs/requests.md name.
        ///
        /// Stored and sent by variant index: new kinds are added at the end.
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[serde(rename_all = "snake_case")]
        pub enum MessageKind {
            $( $(#[$doc])* $variant, )+
        }

        impl MessageKind {
            /// Every kind, requests first, in wire order.
            pub const ALL: &'static [MessageKind] = &[$(MessageKind::$variant,)+];

            /// Its docs/requests.md name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( MessageKind::$variant => $name, )+
                }
            }

            /// Parses a docs/requests.md name.
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $( $name => Some(MessageKind::$variant), )+
                    _ => None,
                }
            }

            /// Whether this kind opens a case (docs/requests.md "Requests"); the others are
            /// responses inside one.
            pub fn is_request(self) -> bool {
                match self {
                    $( MessageKind::$variant => $request, )+
                }
            }

            /// Whether a message of this kind may list attachments (evidence files sent on
            /// their own streams).
            pub fn carries_attachments(self) -> bool {
                match self {
                    $( MessageKind::$variant => carries!($att), )+
                }
            }
        }

        /// The body of a message: one variant per kind. Encoded by variant index:
        /// [`Body::Preservation`] stays first and new kinds are added at the end, so that the
        /// encoding of the existing ones does not change.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Body {
            $( $(#[$doc])* $variant($ty), )+
        }

        impl Body {
            /// The kind of this body.
            pub fn kind(&self) -> MessageKind {
                match self {
                    $( Body::$variant(_) => MessageKind::$variant, )+
                }
            }

            /// Every missing or malformed field of this body, given the header's urgency.
            pub fn validate(&self, urgency: Urgency) -> Result<(), Vec<FieldError>> {
                match self {
                    $( Body::$variant(b) => b.validate(urgency), )+
                }
            }

            /// Builds a body of `kind` from its JSON fields. Missing fields become empty, so
            /// that [`Body::validate`] can name all of them; unknown fields are refused.
            pub fn from_json(
                kind: MessageKind,
                fields: serde_json::Value,
            ) -> Result<Body, FieldError> {
                Body::from_json_ref(kind, &fields)
            }

            /// [`Body::from_json`] without taking the fields.
            pub fn from_json_ref(
                kind: MessageKind,
                fields: &serde_json::Value,
            ) -> Result<Body, FieldError> {
                match kind {
                    $( MessageKind::$variant => {
                        serde_path_to_error::deserialize::<_, $ty>(fields)
                            .map(Body::$variant)
                            .map_err(field_error)
                    } )+
                }
            }

            /// The files this body lists, sent on their own streams (none for the kinds that
            /// carry no attachments).
            pub fn attachments(&self) -> &[AttachmentRef] {
                match self {
                    $( Body::$variant(_b) => listed!(_b, $att), )+
                }
            }

            /// The list of files of this body, to fill in; `None` for a kind that carries no
            /// attachments.
            pub fn attachments_mut(&mut self) -> Option<&mut Vec<AttachmentRef>> {
                match self {
                    $( Body::$variant(_b) => listed_mut!(_b, $att), )+
                }
            }

            /// The body's fields as JSON (without the kind).
            pub fn to_json(&self) -> serde_json::Value {
                let r = match self {
                    $( Body::$variant(b) => serde_json::to_value(b), )+
                };
                r.unwrap_or(serde_json::Value::Null)
            }
        }
    };
}

/// `yes` or `no` of the table's `attachments` column, as a bool.
macro_rules! carries {
    (yes) => {
        true
    };
    (no) => {
        false
    };
}

/// The attachments of a body whose kind's row says `yes` or `no`.
macro_rules! listed {
    ($b:ident, yes) => {
        &$b.attachments[..]
    };
    ($b:ident, no) => {
        &[]
    };
}

/// The list of attachments to fill in, of a body whose kind's row says `yes` or `no`.
macro_rules! listed_mut {
    ($b:ident, yes) => {
        Some(&mut $b.attachments)
    };
    ($b:ident, no) => {
        None
    };
}

message_kinds! {
    /// Expedited preservation of stored computer data (BC art. 29).
    Preservation(Preservation) = "preservation",
        request: true, attachments: yes;
    /// Expedited production of stored data in an emergency (CARICOM "emergency production").
    EmergencyProduction(EmergencyProduction) = "emergency_production",
        request: true, attachments: yes;
    /// (Emergency) mutual assistance (BC arts. 25(3), 27, 31, 33, 34; CARICOM MLA para. 20).
    MutualAssistance(MutualAssistance) = "mutual_assistance",
        request: true, attachments: yes;
    /// Immediate assistance from the 24/7 point of contact (BC art. 35(1)).
    Assistance(Assistance) = "assistance",
        request: true, attachments: yes;
    /// Information sent without prior request (BC art. 26(1)).
    SpontaneousInformation(SpontaneousInformation) = "spontaneous_information",
        request: true, attachments: yes;
    /// The offer of spontaneous information under conditions, before it is sent (BC 26(2)).
    InformationOffer(InformationOffer) = "information_offer",
        request: true, attachments: no;
    /// The officer on duty has taken the request in charge (BC 35).
    Acknowledgement(Acknowledgement) = "acknowledgement",
        request: false, attachments: no;
    /// Questions needed to execute (CARICOM emergency MLA para. 3; MLA para. 21).
    InfoRequest(InfoRequest) = "info_request",
        request: false, attachments: no;
    /// Answers to an `info_request`.
    InfoProvided(InfoProvided) = "info_provided",
        request: false, attachments: no;
    /// A request for the status of the case (CARICOM MLA para. 29).
    StatusRequest(StatusRequest) = "status_request",
        request: false, attachments: no;
    /// The status of the case (CARICOM MLA para. 29).
    StatusReport(StatusReport) = "status_report",
        request: false, attachments: no;
    /// A reason that makes execution impossible or significantly delays it (BC 27(7)).
    DelayNotice(DelayNotice) = "delay_notice",
        request: false, attachments: no;
    /// Whether a confidential request can be kept confidential (BC 27(8)).
    ConfidentialityReply(ConfidentialityReply) = "confidentiality_reply",
        request: false, attachments: no;
    /// The decision on the request (BC 25(4), 27(4)–(7), 29(5), 30(2)).
    Decision(Decision) = "decision",
        request: false, attachments: no;
    /// Preservation would not suffice or would harm the investigation (BC 29(6)).
    PreservationInsufficient(PreservationInsufficient) = "preservation_insufficient",
        request: false, attachments: no;
    /// Conditions attached to assistance (BC 28(2)).
    Conditions(Conditions) = "conditions",
        request: false, attachments: no;
    /// Conditions accepted or declined (BC 28(3), 26(2)).
    ConditionsReply(ConditionsReply) = "conditions_reply",
        request: false, attachments: no;
    /// A request to explain the use made of information (BC 28(4)).
    UseExplanationRequest(UseExplanationRequest) = "use_explanation_request",
        request: false, attachments: no;
    /// The explanation of that use (BC 28(4)).
    UseExplanation(UseExplanation) = "use_explanation",
        request: false, attachments: no;
    /// A request for consent to another use (CARICOM MLA para. 24).
    UseConsentRequest(UseConsentRequest) = "use_consent_request",
        request: false, attachments: no;
    /// Consent to another use given or refused (CARICOM MLA para. 24).
    UseConsent(UseConsent) = "use_consent",
        request: false, attachments: no;
    /// Notice of an exculpatory disclosure (CARICOM MLA para. 24).
    DisclosureNotice(DisclosureNotice) = "disclosure_notice",
        request: false, attachments: no;
    /// Expedited disclosure of preserved traffic data (BC 30(1)).
    TrafficDataDisclosure(TrafficDataDisclosure) = "traffic_data_disclosure",
        request: false, attachments: yes;
    /// The results of execution, or a preliminary copy (BC 31; emergency MLA para. 6).
    Results(Results) = "results",
        request: false, attachments: yes;
    /// The formal request confirming an expedited one (BC 25(3); MLA paras. 17–19).
    FormalConfirmation(FormalConfirmation) = "formal_confirmation",
        request: false, attachments: no;
    /// The preservation is extended (design; BC 16(2)).
    PreservationExtension(PreservationExtension) = "preservation_extension",
        request: false, attachments: no;
    /// The preserved data may be released (design).
    PreservationRelease(PreservationRelease) = "preservation_release",
        request: false, attachments: no;
    /// The assistance is no longer needed (CARICOM MLA para. 29).
    Withdrawal(Withdrawal) = "withdrawal",
        request: false, attachments: no;
    /// The requester goes on after BC 29(6) or 27(8).
    Proceed(Proceed) = "proceed",
        request: false, attachments: no;
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Fields a kind must carry explicitly: a yes-or-no whose absence would silently mean "no".
/// `mutual_assistance.coercive` decides whether the request may go directly between
/// competent authorities (BC 27(9)(d)), so the requester must say it (docs/requests.md: "yes").
fn explicit_flags(kind: MessageKind) -> &'static [&'static str] {
    match kind {
        MessageKind::MutualAssistance => &["coercive"],
        _ => &[],
    }
}

/// Whether `error` is about `field` or something inside it (`service_providers[0].name`).
fn concerns(error: &FieldError, field: &str) -> bool {
    error
        .field
        .strip_prefix(field)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

impl Body {
    /// Builds a body of `kind` from its JSON fields and validates it at `urgency`: the body,
    /// or every field that is wrong at once. serde stops at the first bad value, so each field
    /// is tried alone to name all of them; the others are still validated, and a flag that
    /// must be given explicitly is reported missing.
    pub fn from_fields(
        kind: MessageKind,
        fields: serde_json::Map<String, serde_json::Value>,
        urgency: Urgency,
    ) -> Result<Body, Vec<FieldError>> {
        use serde_json::{Map, Value};
        let absent: Vec<FieldError> = explicit_flags(kind)
            .iter()
            .filter(|f| matches!(fields.get(**f), None | Some(Value::Null)))
            .map(|f| FieldError {
                field: (*f).to_owned(),
                problem: Problem::Missing,
            })
            .collect();
        let value = Value::Object(fields);
        let whole = match Body::from_json_ref(kind, &value) {
            Ok(body) => {
                let mut errors = body.validate(urgency).err().unwrap_or_default();
                errors.extend(absent);
                return if errors.is_empty() {
                    Ok(body)
                } else {
                    Err(errors)
                };
            }
            Err(e) => e,
        };
        let Value::Object(fields) = value else {
            return Err(vec![whole]);
        };
        let mut bad = Vec::new();
        let mut good = Map::new();
        for (k, v) in fields {
            let alone = Value::Object(Map::from_iter([(k.clone(), v.clone())]));
            match Body::from_json(kind, alone) {
                Ok(_) => {
                    good.insert(k, v);
                }
                Err(FieldError {
                    problem: Problem::Invalid(why),
                    ..
                }) => bad.push(FieldError {
                    field: k,
                    problem: Problem::Invalid(why),
                }),
                Err(e) => bad.push(FieldError {
                    field: k,
                    problem: Problem::Invalid(e.to_string()),
                }),
            }
        }
        if bad.is_empty() {
            return Err(vec![whole]);
        }
        bad.extend(absent);
        if let Ok(rest) = Body::from_json(kind, Value::Object(good)) {
            let others: Vec<FieldError> = rest
                .validate(urgency)
                .err()
                .unwrap_or_default()
                .into_iter()
                .filter(|e| !bad.iter().any(|b| concerns(e, &b.field)))
                .collect();
            bad.extend(others);
        }
        Err(bad)
    }
}

impl Body {
    /// [`Body::validate`], plus the rules that need the case this body belongs to:
    /// `case_kind` is the kind of the request that opened it, and `traffic_data` says whether
    /// that request concerns the disclosure of traffic data.
    ///
    /// - a `decision` that reports a `preservation` `executed` must carry `preserved_until`
    ///   (BC 29(7); docs/requests.md "preserved_until (mandatory when executed)");
    /// - a `decision` refusing where traffic data are concerned may rest only on
    ///   `political_offence` or `sovereignty_security_public_order` (BC 30(2));
    /// - `dual_criminality` is a ground only in a `preservation` case (the BC 29(4)
    ///   reservation).
    ///
    /// The other rules of the case lifecycle (which kind may follow which, by whom) are
    /// enforced by the node, not here. All problems are reported together.
    pub fn validate_in_case(
        &self,
        urgency: Urgency,
        case_kind: MessageKind,
        traffic_data: bool,
    ) -> Result<(), Vec<FieldError>> {
        let mut errors = self.validate(urgency).err().unwrap_or_default();
        if let Body::Decision(d) = self {
            let mut r = Report::new();
            d.check_in_case(case_kind, traffic_data, &mut r);
            errors.extend(r.finish().err().unwrap_or_default());
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(r: Result<(), Vec<FieldError>>) -> Vec<String> {
        crate::kinds::names(r)
    }

    /// The all-empty body of a kind, as the JSON `{}` gives it, must name every mandatory
    /// field at once (and the same as `Default`).
    macro_rules! empty_body_names {
        ($( $test:ident: $variant:ident, $urgency:ident => [$($field:literal),*]; )+) => {
            $(
                #[test]
                fn $test() {
                    let kind = MessageKind::$variant;
                    let body = Body::from_json(kind, json!({})).unwrap();
                    assert_eq!(body, Body::$variant(Default::default()));
                    let expected: &[&str] = &[$($field),*];
                    assert_eq!(names(body.validate(Urgency::$urgency)), expected, "{kind}");
                }
            )+
            /// Every kind has its test above.
            const TESTED: &[MessageKind] = &[$(MessageKind::$variant),+];
        };
    }

    empty_body_names! {
        empty_preservation_names_art_29_2: Preservation, Emergency => [
            "requesting_authority", "offence", "facts", "data", "relation_to_offence",
            "custodian_or_location", "necessity", "mla_intent", "emergency_facts"];
        empty_emergency_production_names_para_5: EmergencyProduction, Routine => [
            "requesting_authority", "requested_on", "convention_statement",
            "service_providers", "offences", "legal_provisions", "data_description",
            "emergency_facts"];
        empty_mutual_assistance_names_mla_para_20: MutualAssistance, Emergency => [
            "requesting_authority", "measure", "investigation", "facts", "assistance_sought",
            "purpose", "emergency_facts"];
        empty_assistance_names_art_35_1: Assistance, Emergency => [
            "requesting_authority", "assistance_type", "question", "offence",
            "emergency_facts"];
        empty_spontaneous_information_names_art_26_1: SpontaneousInformation, Emergency => [
            "information", "relevance", "emergency_facts"];
        empty_information_offer_names_art_26_2: InformationOffer, Emergency => [
            "conditions", "relevance", "emergency_facts"];
        empty_acknowledgement_names_the_officer_art_35: Acknowledgement, Emergency => [
            "officer"];
        empty_info_request_names_questions_mla_21: InfoRequest, Routine => ["questions"];
        empty_info_provided_names_answers_mla_21: InfoProvided, Routine => ["answers"];
        empty_status_request_is_complete_mla_29: StatusRequest, Routine => [];
        empty_status_report_names_status_mla_29: StatusReport, Routine => ["status"];
        empty_delay_notice_names_reason_art_27_7: DelayNotice, Routine => ["reason"];
        empty_confidentiality_reply_names_explanation_art_27_8: ConfidentialityReply, Routine
            => ["explanation"];
        empty_decision_names_outcome_art_27_7: Decision, Routine => ["outcome"];
        empty_preservation_insufficient_names_explanation_art_29_6: PreservationInsufficient,
            Routine => ["explanation"];
        empty_conditions_names_text_art_28_2: Conditions, Routine => ["text"];
        empty_conditions_reply_names_explanation_art_28_3: ConditionsReply, Routine
            => ["explanation"];
        empty_use_explanation_request_names_text_art_28_4: UseExplanationRequest, Routine
            => ["text"];
        empty_use_explanation_names_text_art_28_4: UseExplanation, Routine => ["text"];
        empty_use_consent_request_names_purpose_mla_24: UseConsentRequest, Routine
            => ["purpose"];
        empty_use_consent_is_complete_mla_24: UseConsent, Routine => [];
        empty_disclosure_notice_names_text_mla_24: DisclosureNotice, Routine => ["text"];
        empty_traffic_data_disclosure_names_art_30_1: TrafficDataDisclosure, Routine => [
            "service_provider", "provider_state", "path", "communications"];
        empty_results_names_summary_art_31: Results, Routine => ["summary"];
        empty_formal_confirmation_names_art_25_3: FormalConfirmation, Routine => [
            "reference", "channel", "sent_on"];
        empty_preservation_extension_names_until_and_reason: PreservationExtension, Routine
            => ["until", "reason"];
        empty_preservation_release_is_complete: PreservationRelease, Routine => [];
        empty_withdrawal_is_complete_mla_29: Withdrawal, Routine => [];
        empty_proceed_is_complete_art_29_6: Proceed, Routine => [];
    }

    #[test]
    fn every_kind_has_an_empty_body_test() {
        assert_eq!(TESTED, MessageKind::ALL);
    }

    /// A body of `kind` with its mandatory fields, valid at any urgency but `emergency`.
    fn complete(kind: MessageKind) -> Body {
        let text = |s: &str| s.to_owned();
        let ok = |v: serde_json::Value| Body::from_json(kind, v).unwrap();
        match kind {
            MessageKind::Preservation => Body::Preservation(Preservation {
                requesting_authority: text("Parquet de Luxembourg"),
                offence: text("fraud"),
                facts: text("phishing"),
                data: text("mailbox"),
                relation_to_offence: text("receives credentials"),
                custodian_or_location: text("ExampleMail SAS"),
                necessity: text("deleted after 7 days"),
                mla_intent: true,
                ..Default::default()
            }),
            MessageKind::EmergencyProduction => ok(json!({
                "requesting_authority": "SPJ", "requested_on": "2026-11-23",
                "convention_statement": true,
                "service_providers": [{"name": "ExampleMail", "address": "Paris"}],
                "offences": "kidnapping", "legal_provisions": "CP 368",
                "data_description": "login IPs", "emergency_facts": "child abducted"})),
            MessageKind::MutualAssistance => ok(json!({
                "requesting_authority": "Parquet", "measure": "stored_data_access",
                "investigation": "fraud, juge d'instruction", "facts": "phishing",
                "assistance_sought": "mailbox content", "purpose": "trial"})),
            MessageKind::Assistance => ok(json!({
                "requesting_authority": "SPJ", "assistance_type": "technical_advice",
                "question": "log format?", "offence": "illegal access"})),
            MessageKind::SpontaneousInformation => ok(json!({
                "information": "C2 at 198.51.100.1", "relevance": "in your territory"})),
            MessageKind::InformationOffer => ok(json!({
                "conditions": "confidential", "relevance": "victims in your territory"})),
            MessageKind::Acknowledgement => ok(json!({"officer": "duty officer"})),
            MessageKind::InfoRequest => ok(json!({"questions": "which account?"})),
            MessageKind::InfoProvided => ok(json!({"answers": "the second"})),
            MessageKind::StatusRequest => ok(json!({})),
            MessageKind::StatusReport => ok(json!({"status": "order requested"})),
            MessageKind::DelayNotice => ok(json!({"reason": "judge unavailable"})),
            MessageKind::ConfidentialityReply => ok(json!({"can_comply": true})),
            MessageKind::Decision => ok(json!({
                "outcome": "executed", "executed_on": "2026-11-24"})),
            MessageKind::PreservationInsufficient => ok(json!({"explanation": "tip-off"})),
            MessageKind::Conditions => ok(json!({"confidential": true, "text": "secret"})),
            MessageKind::ConditionsReply => ok(json!({"accepted": true})),
            MessageKind::UseExplanationRequest => ok(json!({"text": "what use?"})),
            MessageKind::UseExplanation => ok(json!({"text": "this trial only"})),
            MessageKind::UseConsentRequest => ok(json!({"purpose": "another trial"})),
            MessageKind::UseConsent => ok(json!({"granted": true})),
            MessageKind::DisclosureNotice => ok(json!({"text": "exculpatory", "prior": true})),
            MessageKind::TrafficDataDisclosure => ok(json!({
                "service_provider": "Example Telecom", "provider_state": "BE",
                "path": "A -> B", "communications": [{"origin": "203.0.113.7"}]})),
            MessageKind::Results => ok(json!({"summary": "export"})),
            MessageKind::FormalConfirmation => ok(json!({
                "reference": "2026/123", "channel": "email", "sent_on": "2026-11-25"})),
            MessageKind::PreservationExtension => ok(json!({
                "until": "2027-03-01", "reason": "MLA pending"})),
            MessageKind::PreservationRelease => ok(json!({})),
            MessageKind::Withdrawal => ok(json!({"reason": "no longer needed"})),
            MessageKind::Proceed => ok(json!({})),
        }
    }

    #[test]
    fn complete_bodies_validate_and_round_trip_through_json() {
        for &kind in MessageKind::ALL {
            let body = complete(kind);
            assert_eq!(body.kind(), kind);
            for u in [Urgency::Urgent, Urgency::Routine] {
                assert_eq!(body.validate(u), Ok(()), "{kind} {u}");
            }
            assert_eq!(
                Body::from_json(kind, body.to_json()).unwrap(),
                body,
                "{kind}"
            );
        }
    }

    #[test]
    fn every_request_in_an_emergency_needs_emergency_facts() {
        for &kind in MessageKind::ALL {
            let mut fields = complete(kind).to_json();
            if let Some(m) = fields.as_object_mut() {
                m.remove("emergency_facts");
            }
            let body = Body::from_json(kind, fields).unwrap();
            let errs = names(body.validate(Urgency::Emergency));
            if kind.is_request() {
                assert_eq!(errs, ["emergency_facts"], "{kind}");
            } else {
                assert!(errs.is_empty(), "{kind}: {errs:?}");
            }
        }
    }

    /// The table's `attachments` column agrees with the structs: a kind that says `yes` takes
    /// an `attachments` list in JSON and gives it back through [`Body::attachments`]; a kind
    /// that says `no` refuses the member. Any request may carry files but the information
    /// offer, which carries the conditions and not the information (BC 26(2)).
    #[test]
    fn the_kinds_that_carry_attachments_list_them_and_the_others_refuse_them() {
        let file = json!([{"sha256": "ab".repeat(32), "size": 7, "name": "log.txt"}]);
        let mut carrying = Vec::new();
        for &kind in MessageKind::ALL {
            let parsed = Body::from_json(kind, json!({ "attachments": file }));
            assert_eq!(parsed.is_ok(), kind.carries_attachments(), "{kind}");
            let mut empty = Body::from_json(kind, json!({})).unwrap();
            assert!(empty.attachments().is_empty(), "{kind}");
            assert_eq!(
                empty.attachments_mut().is_some(),
                kind.carries_attachments(),
                "{kind}"
            );
            if let Ok(mut body) = parsed {
                assert_eq!(body.attachments().len(), 1, "{kind}");
                assert_eq!(body.attachments()[0].name, "log.txt", "{kind}");
                body.attachments_mut().unwrap().clear();
                assert!(body.attachments().is_empty(), "{kind}");
                carrying.push(kind.as_str());
            }
        }
        assert_eq!(
            carrying,
            [
                "preservation",
                "emergency_production",
                "mutual_assistance",
                "assistance",
                "spontaneous_information",
                "traffic_data_disclosure",
                "results"
            ]
        );
    }

    #[test]
    fn attachments_of_a_request_are_validated_like_those_of_results() {
        for &kind in MessageKind::ALL.iter().filter(|k| k.carries_attachments()) {
            let mut body = complete(kind);
            let list = body.attachments_mut().unwrap();
            list.push(AttachmentRef {
                sha256: "AB".repeat(32),
                size: 0,
                name: String::new(),
            });
            assert_eq!(
                names(body.validate(Urgency::Routine)),
                [
                    "attachments[0].sha256",
                    "attachments[0].size",
                    "attachments[0].name"
                ],
                "{kind}"
            );
        }
    }

    #[test]
    fn kind_names_parse_back_and_are_the_serde_names() {
        assert_eq!(MessageKind::ALL.len(), 29);
        for &k in MessageKind::ALL {
            assert_eq!(MessageKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), json!(k.as_str()));
            assert_eq!(k.to_string(), k.as_str());
        }
        assert_eq!(MessageKind::parse("receipt"), None);
        let requests: Vec<&str> = MessageKind::ALL
            .iter()
            .filter(|k| k.is_request())
            .map(|k| k.as_str())
            .collect();
        assert_eq!(
            requests,
            [
                "preservation",
                "emergency_production",
                "mutual_assistance",
                "assistance",
                "spontaneous_information",
                "information_offer"
            ]
        );
    }

    #[test]
    fn closed_set_names_are_the_serde_names() {
        fn check<T: Copy + Serialize + fmt::Display + PartialEq + fmt::Debug>(
            all: &[T],
            as_str: fn(T) -> &'static str,
            parse: fn(&str) -> Option<T>,
        ) {
            for &v in all {
                assert_eq!(serde_json::to_value(v).unwrap(), json!(as_str(v)));
                assert_eq!(parse(as_str(v)), Some(v));
                assert_eq!(v.to_string(), as_str(v));
            }
        }
        check(Measure::ALL, Measure::as_str, Measure::parse);
        check(
            AssistanceType::ALL,
            AssistanceType::as_str,
            AssistanceType::parse,
        );
        check(Outcome::ALL, Outcome::as_str, Outcome::parse);
        check(
            RefusalGround::ALL,
            RefusalGround::as_str,
            RefusalGround::parse,
        );
        check(
            ConfirmationChannel::ALL,
            ConfirmationChannel::as_str,
            ConfirmationChannel::parse,
        );
    }

    #[test]
    fn preservation_stays_the_first_variant_on_the_wire() {
        assert_eq!(MessageKind::ALL[0], MessageKind::Preservation);
        assert_eq!(
            crate::codec::encode(&MessageKind::Preservation).unwrap(),
            [0]
        );
        let body = crate::codec::encode(&complete(MessageKind::Preservation)).unwrap();
        assert_eq!(body[0], 0);
        for (i, &k) in MessageKind::ALL.iter().enumerate() {
            let encoded = crate::codec::encode(&complete(k)).unwrap();
            assert_eq!(usize::from(encoded[0]), i, "{k}");
            assert_eq!(crate::codec::encode(&k).unwrap(), [encoded[0]], "{k}");
        }
    }

    #[test]
    fn json_fields_become_a_body_and_unknown_fields_are_refused() {
        let b = Body::from_json(MessageKind::Preservation, json!({"offence": "fraud"})).unwrap();
        assert_eq!(b.kind(), MessageKind::Preservation);
        assert!(b.validate(Urgency::Urgent).is_err());
        let err =
            Body::from_json(MessageKind::Preservation, json!({"ofence": "fraud"})).unwrap_err();
        assert!(matches!(err.problem, Problem::Invalid(ref m) if m.contains("ofence")));
    }

    #[test]
    fn an_information_offer_does_not_carry_the_information_art_26_2() {
        let err = Body::from_json(
            MessageKind::InformationOffer,
            json!({"conditions": "c", "relevance": "r", "information": "the secret"}),
        )
        .unwrap_err();
        assert_eq!(err.field, "information");
    }

    #[test]
    fn values_outside_a_closed_set_or_badly_typed_are_refused() {
        for (kind, fields) in [
            (MessageKind::MutualAssistance, json!({"measure": "wiretap"})),
            (
                MessageKind::Assistance,
                json!({"assistance_type": "advice"}),
            ),
            (MessageKind::Decision, json!({"outcome": "accepted"})),
            (MessageKind::Decision, json!({"forwarded_to": "france"})),
            (
                MessageKind::FormalConfirmation,
                json!({"channel": "pigeon"}),
            ),
            (
                MessageKind::FormalConfirmation,
                json!({"sent_on": "25/11/2026"}),
            ),
            (MessageKind::MutualAssistance, json!({"coercive": "yes"})),
            (
                MessageKind::MutualAssistance,
                json!({"preservation_case": "42"}),
            ),
        ] {
            let err = Body::from_json(kind, fields.clone()).unwrap_err();
            // The member at fault is named, not the body as a whole.
            let member = fields
                .as_object()
                .and_then(|o| o.keys().next())
                .cloned()
                .unwrap_or_default();
            assert_eq!(err.field, member, "{kind} {fields}");
        }
    }

    fn decision(fields: serde_json::Value) -> Body {
        Body::from_json(MessageKind::Decision, fields).unwrap()
    }

    #[test]
    fn validate_in_case_reports_body_and_case_problems_together() {
        let d = decision(json!({"outcome": "executed"}));
        assert_eq!(
            names(d.validate_in_case(Urgency::Urgent, MessageKind::Preservation, false)),
            ["executed_on", "preserved_until"]
        );
        let d = decision(json!({"outcome": "refused", "refusal_ground": "domestic_law"}));
        assert_eq!(
            names(d.validate_in_case(Urgency::Urgent, MessageKind::Preservation, true)),
            ["reasons", "refusal_ground"]
        );
        let ok = decision(json!({
            "outcome": "executed", "executed_on": "2026-11-24", "preserved_until": "2027-01-23"}));
        assert_eq!(
            ok.validate_in_case(Urgency::Urgent, MessageKind::Preservation, true),
            Ok(())
        );
    }

    #[test]
    fn validate_in_case_is_validate_for_other_kinds() {
        for &kind in MessageKind::ALL {
            if kind == MessageKind::Decision {
                continue;
            }
            let empty = Body::from_json(kind, json!({})).unwrap();
            for &case in MessageKind::ALL.iter().filter(|k| k.is_request()) {
                for traffic in [false, true] {
                    assert_eq!(
                        empty.validate_in_case(Urgency::Routine, case, traffic),
                        empty.validate(Urgency::Routine),
                        "{kind} in {case}"
                    );
                }
            }
        }
    }

    #[test]
    fn executed_preservation_decision_needs_preserved_until_art_29_7() {
        let d = decision(json!({"outcome": "executed", "executed_on": "2026-11-24"}));
        assert_eq!(
            names(d.validate_in_case(Urgency::Urgent, MessageKind::Preservation, false)),
            ["preserved_until"]
        );
        assert_eq!(
            d.validate_in_case(Urgency::Urgent, MessageKind::EmergencyProduction, false),
            Ok(())
        );
    }
}
