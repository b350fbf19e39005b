//! Field validation: every check returns the complete list of what is wrong, by field name,
//! so that an officer or a peer learns all of it at once.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest free text accepted in a long field (facts, data descriptions): 32 KiB.
pub const MAX_LONG_TEXT: usize = 32 * 1024;
/// Longest free text accepted in a short field (names, authorities, references).
pub const MAX_SHORT_TEXT: usize = 1024;

/// What is wrong with one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// Mandatory and missing or empty.
    Missing,
    /// Must be `true` (a statement the texts require).
    MustBeTrue,
    /// Longer than allowed.
    TooLong {
        /// The limit in bytes.
        max: usize,
    },
    /// Present but not acceptable; the text says why.
    Invalid(String),
}

/// One field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The field name, as in docs/requests.md (`custodian_or_location`).
    pub field: String,
    /// What is wrong.
    pub problem: Problem,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            Problem::Missing => write!(f, "{}: missing", self.field),
            Problem::MustBeTrue => write!(f, "{}: must be true", self.field),
            Problem::TooLong { max } => write!(f, "{}: longer than {max} bytes", self.field),
            Problem::Invalid(why) => write!(f, "{}: {why}", self.field),
        }
    }
}

/// Collects the field errors of one message.
#[derive(Debug, Default)]
pub struct Report {
    errors: Vec<FieldError>,
}

impl Report {
    /// An empty report.
    pub fn new() -> Self {
        Self::default()
    }
    /// Records a problem with `field`.
    pub fn push(&mut self, field: &str, problem: Problem) {
        self.errors.push(FieldError {
            field: field.to_owned(),
            problem,
        });
    }
    /// A mandatory text field: present, not blank, not longer than `max`.
    pub fn text(&mut self, field: &str, value: &str, max: usize) {
        if value.trim().is_empty() {
            self.push(field, Problem::Missing);
        } else {
            self.len(field, value, max);
        }
    }
    /// An optional text field: not longer than `max`.
    pub fn optional_text(&mut self, field: &str, value: Option<&str>, max: usize) {
        if let Some(v) = value {
            self.len(field, v, max);
        }
    }
    fn len(&mut self, field: &str, value: &str, max: usize) {
        if value.len() > max {
            self.push(field, Problem::TooLong { max });
        }
    }
    /// A statement that must be made (`true`).
    pub fn must_be_true(&mut self, field: &str, value: bool) {
        if !value {
            self.push(field, Problem::MustBeTrue);
        }
    }
    /// Ends the report: `Ok` when nothing is wrong.
    pub fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}
