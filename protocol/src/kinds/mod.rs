//! One typed struct per message kind of docs/requests.md, with the field names used there, and
//! the validation of each kind's mandatory fields and rules.
//!
//! Conventions shared by every kind:
//! - every struct is `#[serde(default, deny_unknown_fields)]`: a missing JSON field becomes
//!   empty, so that validation names all of them at once; an unknown one is refused;
//! - a text field that is always mandatory is a `String` (empty = missing); a text field that
//!   is optional, or mandatory only under a rule, is an `Option<String>`;
//! - a mandatory closed set is an `Option<Enum>` (`None` = missing);
//! - no `flatten`, no internally tagged or untagged enums, no skipped fields: bincode is not
//!   self-describing, and every value must decode from the bytes alone.

pub mod decision;
pub mod requests;
pub mod responses;

pub use decision::{Decision, Outcome, RefusalGround};
pub use requests::{
    Assistance, AssistanceType, EmergencyProduction, InformationOffer, Measure, MutualAssistance,
    Preservation, RelayKind, Relayed, ServiceProvider, SpontaneousInformation,
};
pub use responses::{
    Acknowledgement, Conditions, ConditionsReply, ConfidentialityReply, ConfirmationChannel,
    DelayNotice, DisclosureNotice, FormalConfirmation, InfoProvided, InfoRequest,
    PreservationExtension, PreservationInsufficient, PreservationRelease, Proceed, Results,
    StatusReport, StatusRequest, TracedCommunication, TrafficDataDisclosure, UseConsent,
    UseConsentRequest, UseExplanation, UseExplanationRequest, Withdrawal,
};

use crate::validate::{Problem, Report, MAX_LONG_TEXT, MAX_SHORT_TEXT};
use serde::{Deserialize, Serialize};

/// Defines a closed set of values: a fieldless enum serialized in `snake_case`, with
/// `as_str`, `parse`, `ALL` and `Display`. The literal of each variant must be its
/// `snake_case` name (a unit test checks it against serde for every set).
macro_rules! closed_set {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
        )]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in wire order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The name of every value, in wire order (those of [`Self::ALL`]).
            pub const NAMES: &'static [&'static str] = &[$($text,)+];

            /// The name used on the wire, in JSON and on the command line.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }

            /// Parses the name used in JSON and on the command line.
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $( $text => Some($name::$variant), )+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use closed_set;

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

    /// At least one element must be known; each is a short text. Errors are named
    /// `<prefix>.<element>`, or `<prefix>` when nothing is known.
    pub(crate) fn check(&self, prefix: &str, report: &mut Report) {
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

/// The checks every request kind shares: `emergency_facts` when `emergency_facts_required`
/// (the urgency is `emergency`, or the kind always needs them), and the length of
/// `respond_by_reason` (CARICOM MLA para. 29).
pub(crate) fn request_common(
    r: &mut Report,
    emergency_facts_required: bool,
    emergency_facts: Option<&str>,
    respond_by_set: bool,
    respond_by_reason: Option<&str>,
) {
    if emergency_facts_required {
        r.text(
            "emergency_facts",
            emergency_facts.unwrap_or_default(),
            MAX_LONG_TEXT,
        );
    } else {
        r.optional_text("emergency_facts", emergency_facts, MAX_LONG_TEXT);
    }
    // A suggested deadline comes with its reason (CARICOM MLA para. 29).
    if respond_by_set {
        r.text(
            "respond_by_reason",
            respond_by_reason.unwrap_or_default(),
            MAX_SHORT_TEXT,
        );
    } else {
        r.optional_text("respond_by_reason", respond_by_reason, MAX_SHORT_TEXT);
    }
}

/// An optional SHA-256 given as text: when present, exactly 64 hexadecimal digits (either
/// case; compare hashes without regard to case).
pub(crate) fn optional_sha256_hex(r: &mut Report, field: &str, value: Option<&str>) {
    if let Some(v) = value {
        if v.len() != 64 || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
            r.push(
                field,
                Problem::Invalid("must be a SHA-256 as 64 hexadecimal digits".into()),
            );
        }
    }
}

/// A mandatory closed-set value: `None` is missing.
pub(crate) fn required<T>(r: &mut Report, field: &str, value: Option<T>) {
    if value.is_none() {
        r.push(field, Problem::Missing);
    }
}

/// Field names of a validation result, for tests.
#[cfg(test)]
pub(crate) fn names(result: Result<(), Vec<crate::validate::FieldError>>) -> Vec<String> {
    result
        .err()
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.field)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_must_be_64_hex_digits_when_present() {
        let ok = "ab".repeat(32);
        for (v, good) in [
            (None, true),
            (Some(ok.as_str()), true),
            (Some(&ok.to_uppercase()[..]), true),
            (Some(""), false),
            (Some(&ok[..63]), false),
            (Some(&format!("{}zz", &ok[..62])[..]), false),
        ] {
            let mut r = Report::new();
            optional_sha256_hex(&mut r, "h", v);
            assert_eq!(r.finish().is_ok(), good, "{v:?}");
        }
    }

    #[test]
    fn a_communication_must_name_at_least_one_element_art_1_d() {
        let mut r = Report::new();
        Communication::default().check("communications[0]", &mut r);
        assert_eq!(names(r.finish()), ["communications[0]"]);
        let mut r = Report::new();
        Communication {
            size: Some("x".repeat(MAX_SHORT_TEXT + 1)),
            ..Default::default()
        }
        .check("c", &mut r);
        assert_eq!(names(r.finish()), ["c.size"]);
    }
}
