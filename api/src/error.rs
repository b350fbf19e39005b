//! The one error body of the control API (docs/api.md "Errors").

use poc247_protocol::FieldError;
use serde::{Deserialize, Serialize};

/// `{ "error": { … } }`: every error the API answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong: a code a script tests, a message a person reads, the fields at fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// `invalid-fields`, `not-found`, `conflict`, `unconfirmed-warnings` … (docs/api.md).
    pub code: String,
    /// For a person.
    #[serde(default)]
    pub message: String,
    /// Every field at fault, at once; empty for errors that are not about fields.
    #[serde(default)]
    pub fields: Vec<FieldError>,
    /// The warnings to confirm: only with `unconfirmed-warnings`, absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<String>>,
}

/// The code of the error whose warnings must be confirmed before anything is stored.
pub const UNCONFIRMED_WARNINGS: &str = "unconfirmed-warnings";

impl ErrorBody {
    /// An error body; `warnings` are given only for [`UNCONFIRMED_WARNINGS`].
    pub fn new(
        code: &str,
        message: impl Into<String>,
        fields: Vec<FieldError>,
        warnings: Vec<String>,
    ) -> Self {
        ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message: message.into(),
                fields,
                warnings: (code == UNCONFIRMED_WARNINGS).then_some(warnings),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poc247_protocol::Problem;

    #[test]
    fn the_body_is_the_documented_one() {
        let b = ErrorBody::new(
            "invalid-fields",
            "invalid request: offence: missing",
            vec![FieldError {
                field: "offence".into(),
                problem: Problem::Missing,
            }],
            vec!["ignored".into()],
        );
        assert_eq!(
            serde_json::to_string(&b).unwrap_or_default(),
            r#"{"error":{"code":"invalid-fields","message":"invalid request: offence: missing","fields":[{"field":"offence","problem":"missing"}]}}"#
        );
        let w = ErrorBody::new(UNCONFIRMED_WARNINGS, "m", vec![], vec!["w".into()]);
        assert_eq!(
            serde_json::to_string(&w).unwrap_or_default(),
            r#"{"error":{"code":"unconfirmed-warnings","message":"m","fields":[],"warnings":["w"]}}"#
        );
        let back: Result<ErrorBody, _> = serde_json::from_str(r#"{"error":{"code":"busy"}}"#);
        assert_eq!(back.ok().map(|b| b.error.code), Some("busy".to_owned()));
    }
}
