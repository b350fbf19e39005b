//! The fields of each message kind as data: for every [`MessageKind`], the fields of its body in
//! the order of docs/requests.md, each with the shape of its value, a one-line help and a value
//! name. The command line builds its flags from this table (`--emergency-facts` for
//! `emergency_facts`), so that adding a field to a kind is one change here; a unit test holds
//! the table to the kinds' structs.

use crate::body::MessageKind;
use crate::kinds::{AssistanceType, ConfirmationChannel, Measure, Outcome, RefusalGround};

/// The shape of a field's value, as the command line takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Free text.
    Text,
    /// A date, `YYYY-MM-DD`.
    Date,
    /// One of a closed set, by its wire name (the protocol's enum's `NAMES`).
    Choice(&'static [&'static str]),
    /// A switch: present is true; absent leaves the field unset (false).
    Switch,
    /// A boolean always said: `yes` or `no`.
    YesNo,
    /// A list of texts (the flag repeated).
    TextList,
    /// A whole number.
    Integer,
    /// Text that is refused whenever present: kept so that a message carrying it is named and
    /// refused (its flag is hidden).
    Refused,
    /// A structure (a table, a list of tables, files): not a single flag; the command line
    /// takes it in its own way (`--service-provider`, `--communication-…`, `--attach` …) or
    /// from a file.
    Structured,
    /// Set by the nodes, never by an officer.
    SetByNode,
}

impl Shape {
    /// Whether the field is one flag of its own.
    pub fn is_single_flag(self) -> bool {
        !matches!(self, Shape::Structured | Shape::SetByNode)
    }
}

/// One field of a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Its name, as docs/requests.md spells it.
    pub name: &'static str,
    /// The shape of its value.
    pub shape: Shape,
    /// One line of help.
    pub help: &'static str,
    /// The name of its value in help texts (`TEXT`, `YYYY-MM-DD` …; empty for a switch or a
    /// structure).
    pub value_name: &'static str,
}

/// The fields of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindFields {
    /// The kind.
    pub kind: MessageKind,
    /// A heading for its fields (`Preservation (BC art. 29(2))`).
    pub heading: &'static str,
    /// Its fields, in the order of docs/requests.md.
    pub fields: &'static [Field],
}

const fn text(name: &'static str, help: &'static str) -> Field {
    Field {
        name,
        shape: Shape::Text,
        help,
        value_name: "TEXT",
    }
}

const fn named(name: &'static str, value_name: &'static str, help: &'static str) -> Field {
    Field {
        name,
        shape: Shape::Text,
        help,
        value_name,
    }
}

const fn date(name: &'static str, help: &'static str) -> Field {
    Field {
        name,
        shape: Shape::Date,
        help,
        value_name: "YYYY-MM-DD",
    }
}

const fn switch(name: &'static str, help: &'static str) -> Field {
    Field {
        name,
        shape: Shape::Switch,
        help,
        value_name: "",
    }
}

const fn choice(
    name: &'static str,
    value_name: &'static str,
    values: &'static [&'static str],
    help: &'static str,
) -> Field {
    Field {
        name,
        shape: Shape::Choice(values),
        help,
        value_name,
    }
}

const fn structured(name: &'static str, help: &'static str) -> Field {
    Field {
        name,
        shape: Shape::Structured,
        help,
        value_name: "",
    }
}

/// The fields every request kind ends with (docs/requests.md "Requests").
const EMERGENCY_FACTS: Field = text(
    "emergency_facts",
    "Facts establishing the emergency (mandatory with --urgency emergency or in an emergency \
     case, and always for emergency-production).",
);
const RESPOND_BY: Field = date(
    "respond_by",
    "Suggested deadline for the answer (CARICOM MLA para. 29).",
);
const RESPOND_BY_REASON: Field = text("respond_by_reason", "Why that deadline.");
const ATTACHMENTS: Field = structured(
    "attachments",
    "Files sent on their own streams: --attach FILE (repeatable), or `attachments` in a file.",
);
const COMMUNICATION: Field = structured(
    "communication",
    "One communication (BC art. 1(d)): --communication-origin, -destination, -route, -date, \
     -time, -duration, -size, -type-of-service; or [communication] in a file.",
);

/// The table: one row per kind, in the order of [`MessageKind::ALL`].
pub const FIELDS: &[KindFields] = &[
    KindFields {
        kind: MessageKind::Preservation,
        heading: "Preservation (BC art. 29(2), 30(1))",
        fields: &[
            text(
                "requesting_authority",
                "The authority seeking the preservation (29(2)(a)).",
            ),
            text(
                "offence",
                "The offence under investigation or proceedings (29(2)(b)).",
            ),
            text("facts", "A brief summary of the related facts (29(2)(b))."),
            text(
                "data",
                "The stored computer data to be preserved (29(2)(c)).",
            ),
            text(
                "relation_to_offence",
                "How that data relates to the offence (29(2)(c)).",
            ),
            text(
                "custodian_or_location",
                "The custodian of the data or the location of the computer system (29(2)(d)).",
            ),
            text("necessity", "Why preservation is necessary (29(2)(e))."),
            switch(
                "mla_intent",
                "We intend to submit a mutual assistance request for the data (29(2)(f); \
                 required).",
            ),
            switch(
                "includes_traffic_data",
                "The data include traffic data of a specified communication (art. 30).",
            ),
            COMMUNICATION,
            EMERGENCY_FACTS,
            RESPOND_BY,
            RESPOND_BY_REASON,
            ATTACHMENTS,
        ],
    },
    KindFields {
        kind: MessageKind::EmergencyProduction,
        heading: "Emergency production (CARICOM para. 5)",
        fields: &[
            text(
                "requesting_authority",
                "The competent authority seeking the data (5(a)).",
            ),
            date("requested_on", "The date the request was made (5(a))."),
            switch(
                "convention_statement",
                "We state that the request is issued under the Convention (5(b); required).",
            ),
            structured(
                "service_providers",
                "A service provider holding or controlling the data, as \"NAME|ADDRESS\" \
                 (5(c)): --service-provider, repeated for each; in a file [[service_providers]] \
                 with `name` and `address`.",
            ),
            text("offences", "The offence(s) under investigation (5(d))."),
            text(
                "legal_provisions",
                "The legal provisions and the applicable penalties (5(d)).",
            ),
            text(
                "data_description",
                "The data sought, described in detail (5(f)).",
            ),
            text(
                "special_instructions",
                "Special procedural instructions (5(g)).",
            ),
            text(
                "other_information",
                "Anything that may help obtain the disclosure (5(h)).",
            ),
            switch(
                "subscriber_only",
                "The request seeks subscriber information only (BC 18(3); para. 3).",
            ),
            EMERGENCY_FACTS,
            RESPOND_BY,
            RESPOND_BY_REASON,
            ATTACHMENTS,
        ],
    },
    KindFields {
        kind: MessageKind::MutualAssistance,
        heading: "Mutual assistance (CARICOM MLA para. 20)",
        fields: &[
            text(
                "requesting_authority",
                "The authority making the request (20(a)).",
            ),
            choice(
                "measure",
                "MEASURE",
                Measure::NAMES,
                "The measure sought (BC 31 stored data, 33 real-time traffic, 34 interception).",
            ),
            text(
                "investigation",
                "Subject and nature of the investigation, and the name and function of the \
                 authority conducting it (20(b)).",
            ),
            text("facts", "Summary of the relevant facts (20(c))."),
            text(
                "assistance_sought",
                "The assistance sought and any particular procedure to follow (20(d); BC 27(3)).",
            ),
            text(
                "persons",
                "Identity, address and nationality of any person concerned (20(e)).",
            ),
            text(
                "purpose",
                "The purpose of the evidence, information or action sought (20(f)).",
            ),
            Field {
                name: "coercive",
                shape: Shape::YesNo,
                help: "Whether the measure requires coercive action: yes or no, always said \
                       (BC 27(9)(d): a non-coercive request may go directly between competent \
                       authorities).",
                value_name: "yes|no",
            },
            switch(
                "data_volatile",
                "The data are particularly vulnerable to loss or modification (BC 31(3)).",
            ),
            switch(
                "confidential",
                "Keep the fact and subject of the request confidential (BC 27(8)).",
            ),
            named(
                "preservation_case",
                "CASE_REF",
                "The preservation case this request follows (BC 29(7): the data stay preserved \
                 until this request is decided).",
            ),
            EMERGENCY_FACTS,
            RESPOND_BY,
            RESPOND_BY_REASON,
            ATTACHMENTS,
            Field {
                name: "relayed",
                shape: Shape::SetByNode,
                help: "The copy of a request sent directly, or a request forwarded (BC 27(9)): \
                       set by the nodes.",
                value_name: "",
            },
        ],
    },
    KindFields {
        kind: MessageKind::Assistance,
        heading: "Assistance (BC art. 35(1))",
        fields: &[
            text("requesting_authority", "Who asks."),
            choice(
                "assistance_type",
                "ASSISTANCE_TYPE",
                AssistanceType::NAMES,
                "What kind of assistance (35(1)(a) technical advice; (c) evidence, legal \
                 information, locating suspects).",
            ),
            text("question", "What is asked, in plain words."),
            text("offence", "The offence concerned."),
            text("facts", "Related facts."),
            EMERGENCY_FACTS,
            RESPOND_BY,
            RESPOND_BY_REASON,
            ATTACHMENTS,
        ],
    },
    KindFields {
        kind: MessageKind::SpontaneousInformation,
        heading: "Spontaneous information (BC art. 26)",
        fields: &[
            text(
                "information",
                "The information obtained in our own investigation (26(1)).",
            ),
            text(
                "relevance",
                "Why it may help the receiver initiate or carry out investigations (26(1)).",
            ),
            Field {
                name: "conditions",
                shape: Shape::Refused,
                help: "Refused: conditions are agreed before the information is sent (26(2)); \
                       offer the information with them first with `send information-offer`.",
                value_name: "TEXT",
            },
            EMERGENCY_FACTS,
            RESPOND_BY,
            RESPOND_BY_REASON,
            ATTACHMENTS,
        ],
    },
    KindFields {
        kind: MessageKind::InformationOffer,
        heading: "Information offer (BC art. 26(2))",
        fields: &[
            text(
                "conditions",
                "The confidentiality or use conditions the information would be subject to.",
            ),
            text("relevance", "Why the information may help the receiver."),
            EMERGENCY_FACTS,
            RESPOND_BY,
            RESPOND_BY_REASON,
        ],
    },
    KindFields {
        kind: MessageKind::Acknowledgement,
        heading: "Acknowledgement (BC art. 35)",
        fields: &[
            text(
                "officer",
                "The officer on duty who takes the request in charge (name or role).",
            ),
            text("note", "A note for the requester."),
        ],
    },
    KindFields {
        kind: MessageKind::InfoRequest,
        heading: "Info request (MLA para. 21)",
        fields: &[text("questions", "What must be known to execute.")],
    },
    KindFields {
        kind: MessageKind::InfoProvided,
        heading: "Info provided",
        fields: &[text("answers", "The answers.")],
    },
    KindFields {
        kind: MessageKind::StatusRequest,
        heading: "Status request (MLA para. 29)",
        fields: &[text("question", "What in particular is asked.")],
    },
    KindFields {
        kind: MessageKind::StatusReport,
        heading: "Status report (MLA para. 29)",
        fields: &[
            text("status", "Where the case stands."),
            date("expected_by", "When an answer is expected."),
        ],
    },
    KindFields {
        kind: MessageKind::DelayNotice,
        heading: "Delay notice (BC art. 27(7))",
        fields: &[
            text(
                "reason",
                "The reason that makes execution impossible or delays it significantly.",
            ),
            date("expected_by", "When execution is now expected."),
        ],
    },
    KindFields {
        kind: MessageKind::ConfidentialityReply,
        heading: "Confidentiality reply (BC art. 27(8))",
        fields: &[
            switch(
                "can_comply",
                "The request can be kept confidential [default: it cannot].",
            ),
            text("explanation", "Why not (mandatory when it cannot)."),
        ],
    },
    KindFields {
        kind: MessageKind::Decision,
        heading: "Decision (BC art. 25(4), 27(4)–(7), 29(5), 30(2))",
        fields: &[
            choice("outcome", "OUTCOME", Outcome::NAMES, "The outcome."),
            text(
                "reasons",
                "The reasons (mandatory when refused, postponed or partially executed).",
            ),
            choice(
                "refusal_ground",
                "REFUSAL_GROUND",
                RefusalGround::NAMES,
                "The ground of a refusal (mandatory when refused).",
            ),
            named(
                "forwarded_to",
                "PARTY",
                "The authority the request was forwarded to (BC 27(9)(c); mandatory when \
                 forwarded).",
            ),
            date(
                "executed_on",
                "When it was executed (mandatory when executed or partially executed).",
            ),
            date(
                "preserved_until",
                "Until when the data are preserved (mandatory when a preservation is executed).",
            ),
            text("alternatives", "Other cooperation offered."),
            text(
                "legal_basis",
                "The legal basis of the order (e.g. CIC 48-25).",
            ),
            text("authorised_by", "Who authorised it (the magistrate)."),
            date("order_date", "The date of the order."),
        ],
    },
    KindFields {
        kind: MessageKind::PreservationInsufficient,
        heading: "Preservation insufficient (BC art. 29(6))",
        fields: &[text(
            "explanation",
            "Why preservation will not ensure the data's availability, or would harm the \
             investigation.",
        )],
    },
    KindFields {
        kind: MessageKind::Conditions,
        heading: "Conditions (BC art. 28(2))",
        fields: &[
            switch(
                "confidential",
                "The request and the information must be kept confidential.",
            ),
            text("use_limited_to", "The use the information is limited to."),
            text("text", "The conditions, in full."),
        ],
    },
    KindFields {
        kind: MessageKind::ConditionsReply,
        heading: "Conditions reply (BC art. 28(3), 26(2))",
        fields: &[
            switch(
                "accepted",
                "The conditions are accepted (then binding) [default: declined].",
            ),
            text(
                "explanation",
                "Why they are declined (mandatory when declined).",
            ),
        ],
    },
    KindFields {
        kind: MessageKind::UseExplanationRequest,
        heading: "Use explanation request (BC art. 28(4))",
        fields: &[text(
            "text",
            "What is asked about the use made of the information.",
        )],
    },
    KindFields {
        kind: MessageKind::UseExplanation,
        heading: "Use explanation (BC art. 28(4))",
        fields: &[text("text", "The use made of the information.")],
    },
    KindFields {
        kind: MessageKind::UseConsentRequest,
        heading: "Use consent request (MLA para. 24)",
        fields: &[text(
            "purpose",
            "The other proceedings the information would be used in.",
        )],
    },
    KindFields {
        kind: MessageKind::UseConsent,
        heading: "Use consent (MLA para. 24)",
        fields: &[
            switch("granted", "Consent is given [default: refused]."),
            text(
                "conditions",
                "Conditions of the consent, or why it is refused.",
            ),
        ],
    },
    KindFields {
        kind: MessageKind::DisclosureNotice,
        heading: "Disclosure notice (MLA para. 24)",
        fields: &[
            text(
                "text",
                "What is disclosed, to whom, and why it is exculpatory.",
            ),
            switch(
                "prior",
                "Notified before the disclosure [default: after, because prior notice was \
                 impossible].",
            ),
        ],
    },
    KindFields {
        kind: MessageKind::TrafficDataDisclosure,
        heading: "Traffic data disclosure (BC art. 30(1))",
        fields: &[
            text(
                "service_provider",
                "The other service provider involved in the transmission.",
            ),
            text("provider_state", "Its State."),
            text(
                "path",
                "The path through which the communication was transmitted.",
            ),
            structured(
                "communications",
                "The communications, at least one: the first by --communication-origin, \
                 -destination …; more in a file as [[communications]].",
            ),
            ATTACHMENTS,
        ],
    },
    KindFields {
        kind: MessageKind::Results,
        heading: "Results (BC art. 31; emergency MLA para. 6)",
        fields: &[
            text("summary", "What is provided."),
            switch(
                "preliminary",
                "A preliminary copy; the formal results follow.",
            ),
            text(
                "channel",
                "The other channel the results were sent by, if any.",
            ),
            named(
                "sent_sha256",
                "HEX",
                "SHA-256 of what was sent by that channel (mandatory with --channel).",
            ),
            ATTACHMENTS,
            structured(
                "communications",
                "Each communication traced (CIC 67-1): --traced \"DAY|TIME|DURATION|PLACE\" \
                 (repeatable), or [[communications]] in a file.",
            ),
        ],
    },
    KindFields {
        kind: MessageKind::FormalConfirmation,
        heading: "Formal confirmation (BC art. 25(3); MLA paras. 17–19)",
        fields: &[
            text("reference", "The number of the official request."),
            choice(
                "channel",
                "CHANNEL",
                ConfirmationChannel::NAMES,
                "How it was sent.",
            ),
            date("sent_on", "When it was sent."),
            named(
                "document_sha256",
                "HEX",
                "SHA-256 of the document sent, 64 hexadecimal digits.",
            ),
        ],
    },
    KindFields {
        kind: MessageKind::PreservationExtension,
        heading: "Preservation extension",
        fields: &[
            date("until", "The new end of the preservation."),
            text("reason", "Why."),
        ],
    },
    KindFields {
        kind: MessageKind::PreservationRelease,
        heading: "Preservation release",
        fields: &[text("reason", "Why the data may go.")],
    },
    KindFields {
        kind: MessageKind::Withdrawal,
        heading: "Withdrawal (MLA para. 29)",
        fields: &[text("reason", "Why the assistance is no longer needed.")],
    },
    KindFields {
        kind: MessageKind::Proceed,
        heading: "Proceed (BC art. 29(6), 27(8))",
        fields: &[text("note", "A note for the requested Party.")],
    },
];

/// The fields of `kind`, with their heading.
pub fn of(kind: MessageKind) -> &'static KindFields {
    // The table has one row per kind in the order of `MessageKind::ALL` (a test holds it);
    // the search is the fallback should that ever be broken, and the last row its own.
    match FIELDS.get(kind as usize) {
        Some(row) if row.kind == kind => row,
        _ => FIELDS.iter().find(|row| row.kind == kind).unwrap_or(&EMPTY),
    }
}

/// A row with no fields (for a kind the table would lack; a test says none does).
const EMPTY: KindFields = KindFields {
    kind: MessageKind::Proceed,
    heading: "",
    fields: &[],
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::Body;
    use serde_json::{json, Map, Value};

    /// The keys of a kind's body serialized, in order: its struct's fields.
    fn keys(kind: MessageKind) -> Vec<String> {
        match Body::from_json(kind, json!({})).map(|b| b.to_json()) {
            Ok(Value::Object(m)) => m.keys().cloned().collect(),
            other => panic!("{kind}: {other:?}"),
        }
    }

    #[test]
    fn the_table_names_every_field_of_every_kind_in_order() {
        assert_eq!(FIELDS.len(), MessageKind::ALL.len());
        for (row, kind) in FIELDS.iter().zip(MessageKind::ALL) {
            assert_eq!(row.kind, *kind, "row of {kind} out of order");
            let names: Vec<&str> = row.fields.iter().map(|f| f.name).collect();
            assert_eq!(names, keys(*kind), "{kind}");
            assert_eq!(of(*kind), row, "{kind}");
            assert!(!row.heading.is_empty(), "{kind}");
        }
    }

    #[test]
    fn every_field_has_help_and_every_single_flag_a_value_name() {
        for row in FIELDS {
            for f in row.fields {
                assert!(f.help.ends_with('.'), "{}.{}", row.kind, f.name);
                let needs_name = f.shape.is_single_flag() && f.shape != Shape::Switch;
                assert_eq!(
                    !f.value_name.is_empty(),
                    needs_name,
                    "{}.{}",
                    row.kind,
                    f.name
                );
            }
        }
    }

    /// A value of each field's shape is taken by the kind's struct: the shapes are the
    /// structs' types (a choice's every value, a date, a switch set, a yes/no).
    #[test]
    fn each_shape_is_what_the_struct_takes() {
        for row in FIELDS {
            for f in row.fields {
                let values: Vec<Value> = match f.shape {
                    Shape::Text | Shape::Refused => vec![json!("x")],
                    Shape::Date => vec![json!("2026-11-23")],
                    Shape::Choice(names) => names.iter().map(|n| json!(n)).collect(),
                    Shape::Switch | Shape::YesNo => vec![json!(true), json!(false)],
                    Shape::TextList => vec![json!(["x"])],
                    Shape::Integer => vec![json!(1)],
                    Shape::Structured | Shape::SetByNode => continue,
                };
                for v in values {
                    let mut m = Map::new();
                    // A value that is a party or a case names one.
                    let v = match f.value_name {
                        "PARTY" => json!("FR"),
                        "CASE_REF" => json!("LU-2026-000001"),
                        _ => v,
                    };
                    m.insert(f.name.to_owned(), v.clone());
                    let body = Body::from_json(row.kind, Value::Object(m));
                    assert!(body.is_ok(), "{}.{} = {v}: {body:?}", row.kind, f.name);
                }
            }
        }
        // The choices are the protocol's own sets.
        assert_eq!(Outcome::NAMES.len(), Outcome::ALL.len());
        for o in Outcome::ALL {
            assert!(Outcome::NAMES.contains(&o.as_str()));
        }
    }
}
