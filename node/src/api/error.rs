//! The API's errors, in one shape: `{ "error": { "code", "message", "fields" } }`
//! (`poc247_api::ErrorBody`); and the
//! parsing every route shares (times, "did you mean").

use crate::error::NodeError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use poc247_api::ErrorBody;
use poc247_protocol::FieldError;

/// Who is calling: the peer credentials of the socket connection.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    /// The caller's uid.
    pub uid: Option<u32>,
}

/// An API error.
#[derive(Debug)]
pub struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    message: String,
    fields: Vec<FieldError>,
    /// The warnings a caller must confirm (`unconfirmed-warnings`).
    warnings: Vec<String>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            fields: Vec::new(),
            warnings: Vec::new(),
        }
    }
    /// 409 `unconfirmed-warnings`: the checks gave `warnings`; nothing was stored.
    pub(crate) fn unconfirmed(warnings: Vec<String>) -> Self {
        ApiError {
            status: StatusCode::CONFLICT,
            code: "unconfirmed-warnings",
            message: format!(
                "not sent, nothing stored: confirm the warnings (\"confirm_warnings\": true) to send it: {}",
                warnings.join("; ")
            ),
            fields: Vec::new(),
            warnings,
        }
    }
    /// An error with its status and code, for the routes of other modules.
    pub(crate) fn with_code(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self::new(status, code, message)
    }
    pub(crate) fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", message)
    }
    /// A body whose members are unknown or of the wrong type: 400, each named.
    pub(crate) fn mistyped(fields: Vec<FieldError>) -> Self {
        Self::naming(StatusCode::BAD_REQUEST, "bad-request", "malformed", fields)
    }
    pub(crate) fn invalid(fields: Vec<FieldError>) -> Self {
        Self::naming(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-fields",
            "invalid",
            fields,
        )
    }
    /// An error about `fields`, each named in its message.
    pub(crate) fn naming(
        status: StatusCode,
        code: &'static str,
        what: &str,
        fields: Vec<FieldError>,
    ) -> Self {
        let names: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
        ApiError {
            status,
            code,
            message: format!("{what} request: {}", names.join("; ")),
            fields,
            warnings: Vec::new(),
        }
    }
}

impl From<poc247_api::BodyError> for ApiError {
    fn from(e: poc247_api::BodyError) -> Self {
        match e {
            poc247_api::BodyError::Bad(m) => ApiError::bad(m),
            poc247_api::BodyError::Mistyped(fields) => ApiError::mistyped(fields),
            poc247_api::BodyError::Invalid(fields) => ApiError::invalid(fields),
        }
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        match e {
            NodeError::NotFound(what) => Self::new(
                StatusCode::NOT_FOUND,
                "not-found",
                format!("{what} not found"),
            ),
            NodeError::ShuttingDown => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting-down",
                e.to_string(),
            ),
            NodeError::Storage(_) | NodeError::Io { .. } => Self::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "storage-unavailable",
                format!("the node cannot store now: {e}"),
            ),
            other => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                other.to_string(),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody::new(self.code, self.message, self.fields, self.warnings);
        (self.status, Json(body)).into_response()
    }
}

pub type ApiResult<T> = std::result::Result<T, ApiError>;

/// Parses RFC 3339, a date (`YYYY-MM-DD`, its first millisecond UTC) or Unix milliseconds.
pub fn parse_time(t: &str) -> Option<u64> {
    if let Ok(ms) = t.parse::<u64>() {
        return Some(ms);
    }
    if let Ok(d) = poc247_protocol::Date::parse(t) {
        return Some(d.start_utc_ms());
    }
    let odt =
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()?;
    u64::try_from(odt.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Says that `given` is none of `accepted`, naming the nearest one when it is close enough
/// to be a typo of it (the API's filters and actions, and the CLI's flags, say it alike).
pub fn not_one_of(given: &str, accepted: &[&str]) -> String {
    let nearest = accepted
        .iter()
        .map(|a| (edit_distance(given, a), *a))
        .min()
        .filter(|(d, a)| *d <= 2.max(a.len() / 4));
    let hint = match nearest {
        Some((_, a)) => format!(" (did you mean {a:?}?)"),
        None => String::new(),
    };
    format!("{given:?} is not one of {}{hint}", accepted.join(", "))
}

/// The Levenshtein distance between two short strings.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row.first().copied().unwrap_or(0);
        if let Some(first) = row.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let (Some(&above), Some(&left)) = (row.get(j + 1), row.get(j)) else {
                continue;
            };
            let cost = usize::from(ca != *cb);
            let next = (above + 1).min(left + 1).min(prev + cost);
            prev = above;
            if let Some(cell) = row.get_mut(j + 1) {
                *cell = next;
            }
        }
    }
    row.last().copied().unwrap_or(0)
}
