//! Message bodies: one typed struct per kind of REQUESTS.md, with the field names used there,
//! and the validation of each kind's mandatory fields and rules.

use crate::date::Date;
use crate::validate::{FieldError, Problem, Report, MAX_LONG_TEXT, MAX_SHORT_TEXT};
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

/// One communication whose traffic data are concerned (BC 1(d), 30(1)): as much as is known.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Communication {
    /// Where it came from (address, number, account).
    pub origin: Option<String>,
    /// Where it went.
    pub destination: Option<String>,
    /// The route it took.
    pub route: Option<String>,
    /// Its date.
    pub date: Option<String>,
    /// Its time, with time zone.
    pub time: Option<String>,
    /// How long it lasted.
    pub duration: Option<String>,
    /// Its size.
    pub size: Option<String>,
    /// The type of underlying service.
    pub type_of_service: Option<String>,
}

impl Communication {
    fn fields(&self) -> [(&'static str, Option<&str>); 8] {
        [
            ("origin", self.origin.as_deref()),
            ("destination", self.destination.as_deref()),
            ("route", self.route.as_deref()),
            ("date", self.date.as_deref()),
            ("time", self.time.as_deref()),
            ("duration", self.duration.as_deref()),
            ("size", self.size.as_deref()),
            ("type_of_service", self.type_of_service.as_deref()),
        ]
    }

    fn check(&self, prefix: &str, report: &mut Report) {
        let fields = self.fields();
        if fields
            .iter()
            .all(|(_, v)| v.is_none_or(|s| s.trim().is_empty()))
        {
            report.push(prefix, Problem::Missing);
        }
        for (name, value) in fields {
            report.optional_text(&format!("{prefix}.{name}"), value, MAX_SHORT_TEXT);
        }
    }
}

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
            urgency,
            self.emergency_facts.as_deref(),
            self.respond_by_reason.as_deref(),
        );
        r.finish()
    }
}

/// The checks every request kind shares: `emergency_facts` when the urgency is `emergency`,
/// and the length of `respond_by_reason`.
fn request_common(
    r: &mut Report,
    urgency: Urgency,
    emergency_facts: Option<&str>,
    respond_by_reason: Option<&str>,
) {
    if urgency == Urgency::Emergency {
        r.text(
            "emergency_facts",
            emergency_facts.unwrap_or_default(),
            MAX_LONG_TEXT,
        );
    } else {
        r.optional_text("emergency_facts", emergency_facts, MAX_LONG_TEXT);
    }
    r.optional_text("respond_by_reason", respond_by_reason, MAX_SHORT_TEXT);
}

/// The kind of a message, by its REQUESTS.md name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// [`Preservation`].
    Preservation,
}

impl MessageKind {
    /// Its REQUESTS.md name.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Preservation => "preservation",
        }
    }
    /// Parses a REQUESTS.md name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "preservation" => Some(MessageKind::Preservation),
            _ => None,
        }
    }
    /// Whether this kind opens a case.
    pub fn is_request(self) -> bool {
        matches!(self, MessageKind::Preservation)
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of a message: one variant per kind. New kinds are added at the end, so that the
/// encoding of the existing ones does not change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Body {
    /// Expedited preservation (BC art. 29).
    Preservation(Preservation),
}

impl Body {
    /// The kind of this body.
    pub fn kind(&self) -> MessageKind {
        match self {
            Body::Preservation(_) => MessageKind::Preservation,
        }
    }
    /// Every missing or malformed field of this body, given the header's urgency.
    pub fn validate(&self, urgency: Urgency) -> Result<(), Vec<FieldError>> {
        match self {
            Body::Preservation(p) => p.validate(urgency),
        }
    }
    /// Builds a body of `kind` from its JSON fields. Missing fields become empty, so that
    /// [`Body::validate`] can name all of them; unknown fields are refused.
    pub fn from_json(kind: MessageKind, fields: serde_json::Value) -> Result<Body, FieldError> {
        let shape = |e: serde_json::Error| FieldError {
            field: "body".to_owned(),
            problem: Problem::Invalid(e.to_string()),
        };
        match kind {
            MessageKind::Preservation => Ok(Body::Preservation(
                serde_json::from_value(fields).map_err(shape)?,
            )),
        }
    }
    /// The body's fields as JSON (without the kind).
    pub fn to_json(&self) -> serde_json::Value {
        let r = match self {
            Body::Preservation(p) => serde_json::to_value(p),
        };
        r.unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete() -> Preservation {
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
        assert!(complete().validate(Urgency::Urgent).is_ok());
    }

    #[test]
    fn mla_intent_must_be_true_art_29_2_f() {
        let p = Preservation {
            mla_intent: false,
            ..complete()
        };
        let errs = p.validate(Urgency::Urgent).unwrap_err();
        assert_eq!(errs[0].field, "mla_intent");
        assert_eq!(errs[0].problem, Problem::MustBeTrue);
    }

    #[test]
    fn traffic_data_needs_the_communication_art_30_1() {
        let p = Preservation {
            includes_traffic_data: true,
            ..complete()
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
            ..complete()
        };
        assert!(p.validate(Urgency::Urgent).is_ok());
    }

    #[test]
    fn emergency_needs_emergency_facts() {
        let errs = complete().validate(Urgency::Emergency).unwrap_err();
        assert_eq!(errs[0].field, "emergency_facts");
        let p = Preservation {
            emergency_facts: Some("hostage held, location in mailbox".into()),
            ..complete()
        };
        assert!(p.validate(Urgency::Emergency).is_ok());
    }

    #[test]
    fn free_text_has_a_length_limit() {
        let p = Preservation {
            offence: "x".repeat(MAX_SHORT_TEXT + 1),
            ..complete()
        };
        let errs = p.validate(Urgency::Routine).unwrap_err();
        assert_eq!(
            errs[0].problem,
            Problem::TooLong {
                max: MAX_SHORT_TEXT
            }
        );
    }

    #[test]
    fn json_fields_become_a_body_and_unknown_fields_are_refused() {
        let b = Body::from_json(
            MessageKind::Preservation,
            serde_json::json!({"offence": "fraud"}),
        )
        .unwrap();
        assert_eq!(b.kind(), MessageKind::Preservation);
        assert!(b.validate(Urgency::Urgent).is_err());
        let err = Body::from_json(
            MessageKind::Preservation,
            serde_json::json!({"ofence": "fraud"}),
        )
        .unwrap_err();
        assert!(matches!(err.problem, Problem::Invalid(ref m) if m.contains("ofence")));
    }
}
