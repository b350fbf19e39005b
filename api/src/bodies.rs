//! The request bodies of the control API as types: what the CLI writes and the node reads.
//! Each is read from the JSON by a function that names every member at fault, with the
//! messages docs/api.md documents, rather than by plain serde errors: an unknown member or a
//! member of the wrong type is a 400 ([`BodyError::Mistyped`]), a missing or unacceptable
//! value a 422 ([`BodyError::Invalid`]), a body that is not a JSON object a 400
//! ([`BodyError::Bad`]).
//!
//! - [`SendMode`]: `dry_run` and `confirm_warnings`, of a request or an action;
//! - [`NoteBody`]: `close` and `notified`, `{ "fields": { "note"? } }`;
//! - [`ResendBody`]: `resend`, `{ "fields": { "message_id" } }`;
//! - [`PurgeBody`]: `purge`, `{ "fields": { "target", "reason", … } }`;
//! - [`RecordBody`]: `POST /v1/cases`, `{ "record_external": { … } }`;
//! - [`DrillMove`]: `POST /v1/drill/advance`, `{ "days"?, "hours"? }`.

use poc247_protocol::{
    FieldError, Language, MessageId, MessageKind, PartyId, Problem, Urgency, UtcMs,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Why a body was refused, each member at fault named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// 400 `bad-request` without fields: the body is not JSON, not an object, or not the
    /// shape the endpoint takes.
    Bad(String),
    /// 400 `bad-request` naming each unknown member and each of the wrong type (and the
    /// value errors found with them).
    Mistyped(Vec<FieldError>),
    /// 422 `invalid-fields`: values missing or unacceptable.
    Invalid(Vec<FieldError>),
}

/// A JSON value's type, for an error.
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// `value` as a JSON object, or why not.
pub fn object(body: &[u8]) -> Result<Map<String, Value>, BodyError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| BodyError::Bad(format!("body is not JSON: {e}")))?;
    match v {
        Value::Object(map) => Ok(map),
        _ => Err(BodyError::Bad("body must be a JSON object".into())),
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn invalid(field: &str, why: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        problem: Problem::Invalid(why.into()),
    }
}

fn missing(field: &str) -> FieldError {
    FieldError {
        field: field.into(),
        problem: Problem::Missing,
    }
}

/// How a request or an action is carried out: `"dry_run": true` checks and stores nothing,
/// `"confirm_warnings": true` sends it despite its warnings. Absent: `false`; written only
/// when `true`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendMode {
    /// Check everything, store and send nothing.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dry_run: bool,
    /// Send it even though its checks gave warnings.
    #[serde(default, skip_serializing_if = "is_false")]
    pub confirm_warnings: bool,
}

impl SendMode {
    /// The members `dry_run` and `confirm_warnings` of a body (each `true` or `false`), and
    /// each of another type named (a 422 with the body's other faults).
    pub fn read(body: &Map<String, Value>) -> (SendMode, Vec<FieldError>) {
        let mut wrong = Vec::new();
        let mut flag = |k: &str| match body.get(k) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                wrong.push(invalid(
                    k,
                    format!("true or false, not {}", json_type(other)),
                ));
                false
            }
        };
        let dry_run = flag("dry_run");
        let confirm_warnings = flag("confirm_warnings");
        (
            SendMode {
                dry_run,
                confirm_warnings,
            },
            wrong,
        )
    }
}

/// The members of an action's `fields`, read by type: each unknown member, and each of the
/// wrong type, is kept to be answered as a 400 naming it, beside the value errors (a 422 when
/// they are all there is). Shared by the bodies whose members are read here rather than by
/// a message kind (purge, close, notified, resend, a drill's move).
pub struct Members<'a> {
    map: &'a Map<String, Value>,
    /// The unknown members and those of the wrong type.
    pub typing: Vec<FieldError>,
}

static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();

impl<'a> Members<'a> {
    /// The members of `fields` (absent or null: none), of which `what` takes `known` only.
    pub fn of(fields: Option<&'a Value>, what: &str, known: &[&str]) -> Members<'a> {
        let empty = EMPTY.get_or_init(Map::new);
        let mut typing = Vec::new();
        let map = match fields {
            None | Some(Value::Null) => empty,
            Some(Value::Object(m)) => m,
            Some(other) => {
                typing.push(invalid(
                    "fields",
                    format!("an object, not {}", json_type(other)),
                ));
                empty
            }
        };
        for k in map.keys().filter(|k| !known.contains(&k.as_str())) {
            typing.push(invalid(
                k,
                format!("unknown member; {what} takes {}", known.join(", ")),
            ));
        }
        Members { map, typing }
    }

    /// As [`Members::of`] for the `fields` of an action body `body`, which may give nothing
    /// else (but `dry_run` and `confirm_warnings`, read by [`SendMode::read`]): another
    /// top-level member is named too.
    pub fn of_fields(body: &'a Map<String, Value>, what: &str, known: &[&str]) -> Members<'a> {
        let mut m = Members::of(body.get("fields"), what, known);
        for (k, v) in body {
            let mode = k == "dry_run" || k == "confirm_warnings";
            if k != "fields" && !mode && !v.is_null() {
                m.typing
                    .push(invalid(k, format!("{what} takes fields only")));
            }
        }
        m
    }

    /// A member as given (absent or null: `None`).
    pub fn get(&self, k: &str) -> Option<&'a Value> {
        self.map.get(k).filter(|v| !v.is_null())
    }

    /// A text member, if given.
    pub fn text(&mut self, k: &str) -> Option<&'a str> {
        match self.map.get(k) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(other) => {
                self.wrong_type(k, "a string", other);
                None
            }
        }
    }

    /// A boolean member, if given.
    pub fn flag(&mut self, k: &str) -> Option<bool> {
        match self.map.get(k) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => {
                self.wrong_type(k, "true or false", other);
                None
            }
        }
    }

    /// Names `k` as being of the wrong type: `expected`, not what it is.
    pub fn wrong_type(&mut self, k: &str, expected: &str, got: &Value) {
        self.typing
            .push(invalid(k, format!("{expected}, not {}", json_type(got))));
    }

    /// Done: a 400 naming every member of the wrong type or unknown, and `errors` with
    /// them; else a 422 naming `errors`, if any.
    pub fn finish(mut self, errors: Vec<FieldError>) -> Result<(), BodyError> {
        if !self.typing.is_empty() {
            self.typing.extend(errors);
            return Err(BodyError::Mistyped(self.typing));
        }
        if !errors.is_empty() {
            return Err(BodyError::Invalid(errors));
        }
        Ok(())
    }
}

/// `close` and `notified`: `{ "fields": { "note"? } }` (and `dry_run` for `close`), nothing
/// else.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteBody {
    /// The note.
    pub fields: NoteFields,
    /// `dry_run` (`close` only), `confirm_warnings`.
    #[serde(flatten)]
    pub mode: SendMode,
}

/// The fields of `close` and `notified`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteFields {
    /// Text for the audit entry (`closed:<note>`, `tracing_notice_given:<note>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl NoteFields {
    /// The `fields` of the action body `body` of `what` (`close`, `notified`): `note` only,
    /// and no other top-level member but the mode's.
    pub fn read(body: &Map<String, Value>, what: &str) -> Result<NoteFields, BodyError> {
        let mut m = Members::of_fields(body, what, &["note"]);
        let note = m.text("note").map(str::to_owned);
        m.finish(Vec::new())?;
        Ok(NoteFields { note })
    }
}

/// `resend`: `{ "fields": { "message_id" } }`, nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResendBody {
    /// The message to send again.
    pub fields: ResendFields,
}

/// The fields of `resend`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResendFields {
    /// A message of the case this node sent and the peer refused for good.
    pub message_id: MessageId,
}

impl ResendFields {
    /// The `fields` of the action body `body`: `message_id`, required.
    pub fn read(body: &Map<String, Value>) -> Result<ResendFields, BodyError> {
        let mut m = Members::of_fields(body, "resend", &["message_id"]);
        let problem = match m.text("message_id").map(str::parse::<MessageId>) {
            Some(Ok(id)) => Ok(id),
            Some(Err(e)) => Err(Problem::Invalid(e.to_string())),
            None => Err(Problem::Missing),
        };
        let errors = problem.as_ref().err().map(|p| FieldError {
            field: "message_id".into(),
            problem: p.clone(),
        });
        m.finish(errors.into_iter().collect())?;
        match problem {
            Ok(message_id) => Ok(ResendFields { message_id }),
            Err(_) => Err(BodyError::Invalid(Vec::new())),
        }
    }
}

/// What a purge erases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PurgeTarget {
    /// The case, every message and the files they alone list.
    Case,
    /// One message's content (`message_id`).
    Message,
    /// One attachment of the case (`attachment`).
    Attachment,
}

/// `purge`: `{ "fields": { … } }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeBody {
    /// The order.
    pub fields: PurgeFields,
}

/// A purge order: `target` and `reason` required, `message_id` with target `message`,
/// `attachment` with target `attachment`, `dry_run` to say what would go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeFields {
    /// What goes.
    pub target: PurgeTarget,
    /// Why (kept in the audit log).
    pub reason: String,
    /// The message whose content goes (target `message`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<MessageId>,
    /// The attachment that goes, its SHA-256 in 64 lowercase hex digits (target
    /// `attachment`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<String>,
    /// Say what would go, and erase nothing.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dry_run: bool,
}

/// The members a purge's `fields` take.
const PURGE_MEMBERS: [&str; 5] = ["target", "reason", "message_id", "attachment", "dry_run"];

impl PurgeFields {
    /// Reads a purge's `fields`. An unknown member or one of the wrong type is a 400, a
    /// missing or unacceptable value a 422; either way every member at fault is named at once.
    pub fn read(fields: Option<&Value>) -> Result<PurgeFields, BodyError> {
        let mut m = Members::of(fields, "a purge", &PURGE_MEMBERS);
        let (target, reason, message, attachment) = (
            m.text("target"),
            m.text("reason"),
            m.text("message_id"),
            m.text("attachment"),
        );
        let dry_run = m.flag("dry_run").unwrap_or(false);
        let mut errors = Vec::new();
        let reason = reason.unwrap_or_default().to_owned();
        if reason.trim().is_empty() {
            errors.push(missing("reason"));
        }
        let target = match target {
            Some("case") => Some(PurgeTarget::Case),
            Some("message") => Some(PurgeTarget::Message),
            Some("attachment") => Some(PurgeTarget::Attachment),
            Some(_) => {
                errors.push(invalid("target", "case, message or attachment"));
                None
            }
            None => {
                errors.push(missing("target"));
                None
            }
        };
        let (wants_message, wants_attachment) = match target {
            Some(t) => (t == PurgeTarget::Message, t == PurgeTarget::Attachment),
            None => (message.is_some(), attachment.is_some()),
        };
        let message = match (wants_message, message) {
            (true, None) => {
                errors.push(missing("message_id"));
                None
            }
            (true, Some(m)) => match m.parse::<MessageId>() {
                Ok(id) => Some(id),
                Err(e) => {
                    errors.push(invalid("message_id", e.to_string()));
                    None
                }
            },
            (false, Some(_)) => {
                errors.push(invalid("message_id", "only with target message"));
                None
            }
            (false, None) => None,
        };
        let attachment = match (wants_attachment, attachment) {
            (true, None) => {
                errors.push(missing("attachment"));
                None
            }
            (true, Some(a)) => {
                if poc247_protocol::parse_sha256_hex(a).is_none() {
                    errors.push(invalid(
                        "attachment",
                        "a SHA-256 as 64 lowercase hexadecimal digits",
                    ));
                    None
                } else {
                    Some(a.to_owned())
                }
            }
            (false, Some(_)) => {
                errors.push(invalid("attachment", "only with target attachment"));
                None
            }
            (false, None) => None,
        };
        m.finish(errors)?;
        let Some(target) = target else {
            return Err(BodyError::Invalid(Vec::new()));
        };
        Ok(PurgeFields {
            target,
            reason,
            message_id: message,
            attachment,
            dry_run,
        })
    }
}

/// `POST /v1/cases`: a request that reached the point of contact outside the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordBody {
    /// The request as received.
    pub record_external: ExternalRecord,
}

/// When a recorded request was received: RFC 3339 text (or a date), or Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ReceivedAt {
    /// Unix milliseconds.
    Ms(u64),
    /// RFC 3339, or a date.
    Text(String),
}

/// A request received by phone, fax, e-mail or I-24/7, to record as a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalRecord {
    /// `phone`, `fax`, `email`, `interpol_i247`, `other`.
    pub channel: String,
    /// When it was received (default: now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<ReceivedAt>,
    /// The Party that asked.
    pub from: PartyId,
    /// The kind of request.
    pub kind: MessageKind,
    /// Its urgency (default `urgent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urgency: Option<Urgency>,
    /// Its language (default `en`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
    /// What it asks, in a few words.
    pub summary: String,
    /// The SHA-256 of the document received, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_sha256: Option<String>,
    /// An oral request, to be confirmed in writing.
    #[serde(default, skip_serializing_if = "is_false")]
    pub oral: bool,
    /// Training traffic.
    #[serde(default, skip_serializing_if = "is_false")]
    pub exercise: bool,
}

/// The members `record_external` takes.
const RECORD_MEMBERS: [&str; 10] = [
    "channel",
    "received_at",
    "from",
    "kind",
    "urgency",
    "language",
    "summary",
    "document_sha256",
    "oral",
    "exercise",
];

impl RecordBody {
    /// Reads the body of `POST /v1/cases`; `parse_time` reads a `received_at` given as text
    /// (RFC 3339, a date) into Unix ms. Unknown members and members of the wrong type are
    /// refused, each named (a value misread here would be recorded as something else: a
    /// real case for an exercise); then each missing or bad value is named. The record read
    /// has its defaults filled in but `received_at` (absent: now, as the caller knows it).
    pub fn read(
        body: &[u8],
        parse_time: impl Fn(&str) -> Option<u64>,
    ) -> Result<(RecordBody, Option<UtcMs>), BodyError> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| BodyError::Bad(format!("body is not JSON: {e}")))?;
        let Some(Value::Object(r)) = v.get("record_external") else {
            return Err(BodyError::Bad(
                "expected { \"record_external\": { … } }".into(),
            ));
        };
        if let Some(k) = v
            .as_object()
            .and_then(|o| o.keys().find(|k| *k != "record_external"))
        {
            return Err(BodyError::Bad(format!(
                "unknown member {k:?}; expected record_external"
            )));
        }
        let mut typing = Vec::new();
        for (k, v) in r {
            let want = match k.as_str() {
                "oral" | "exercise" => v.is_boolean() || v.is_null(),
                "received_at" => v.is_string() || v.is_u64() || v.is_null(),
                k if RECORD_MEMBERS.contains(&k) => v.is_string() || v.is_null(),
                _ => {
                    typing.push(invalid(
                        k,
                        format!(
                            "unknown member; record_external takes {}",
                            RECORD_MEMBERS.join(", ")
                        ),
                    ));
                    continue;
                }
            };
            if !want {
                let expected = match k.as_str() {
                    "oral" | "exercise" => "true or false",
                    "received_at" => "a time (RFC 3339, a date) or Unix milliseconds",
                    _ => "a string",
                };
                typing.push(invalid(k, format!("{expected}, not {}", json_type(v))));
            }
        }
        if !typing.is_empty() {
            return Err(BodyError::Mistyped(typing));
        }
        let text = |k: &str| {
            r.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let mut errors = Vec::new();
        let mut need = |k: &str, ok: bool, why: &str| {
            if !ok {
                errors.push(FieldError {
                    field: k.into(),
                    problem: if text(k).is_empty() {
                        Problem::Missing
                    } else {
                        Problem::Invalid(why.into())
                    },
                });
            }
        };
        let from = PartyId::parse(&text("from")).ok();
        need("from", from.is_some(), "not a party id");
        let kind = MessageKind::parse(&text("kind"));
        need("kind", kind.is_some(), "not a message kind");
        let urgency = match text("urgency").as_str() {
            "" => Some(Urgency::Urgent),
            u => Urgency::parse(u),
        };
        need(
            "urgency",
            urgency.is_some(),
            "must be emergency, urgent or routine",
        );
        let language = match text("language").as_str() {
            "" => Language::parse("en").ok(),
            l => Language::parse(l).ok(),
        };
        need("language", language.is_some(), "not an ISO 639-1 code");
        let received_at = match (
            r.get("received_at").and_then(Value::as_u64),
            text("received_at").as_str(),
        ) {
            (Some(ms), _) => Some(Some(UtcMs(ms))),
            (None, "") => Some(None),
            (None, t) => parse_time(t).map(|ms| Some(UtcMs(ms))),
        };
        need(
            "received_at",
            received_at.is_some(),
            "not RFC 3339, a date or Unix ms",
        );
        if !errors.is_empty() {
            return Err(BodyError::Invalid(errors));
        }
        let (Some(from), Some(kind), Some(urgency), Some(language), Some(at)) =
            (from, kind, urgency, language, received_at)
        else {
            return Err(BodyError::Invalid(errors));
        };
        let record = ExternalRecord {
            channel: text("channel"),
            received_at: r.get("received_at").and_then(|v| match v {
                Value::Number(n) => n.as_u64().map(ReceivedAt::Ms),
                Value::String(s) => Some(ReceivedAt::Text(s.clone())),
                _ => None,
            }),
            from,
            kind,
            urgency: Some(urgency),
            language: Some(language),
            summary: text("summary"),
            document_sha256: r
                .get("document_sha256")
                .and_then(Value::as_str)
                .map(str::to_owned),
            oral: r.get("oral").and_then(Value::as_bool).unwrap_or(false),
            exercise: r.get("exercise").and_then(Value::as_bool).unwrap_or(false),
        };
        Ok((
            RecordBody {
                record_external: record,
            },
            at,
        ))
    }
}

/// `POST /v1/drill/advance`: how far a drill node's clock moves forward, in whole days and
/// hours (either or both, at least one above 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrillMove {
    /// Days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u64>,
    /// Hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<u64>,
}

/// Longest single move of a drill clock: ten years.
pub const DRILL_MAX_DAYS: u64 = 3_650;

impl DrillMove {
    /// Reads the body of `POST /v1/drill/advance`: each member a whole number up to ten
    /// years, and the move above 0.
    pub fn read(body: &[u8]) -> Result<DrillMove, BodyError> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| BodyError::Bad(format!("body is not JSON: {e}")))?;
        let Value::Object(map) = &v else {
            return Err(BodyError::Bad("body must be a JSON object".into()));
        };
        let mut m = Members::of(Some(&v), "a drill move", &["days", "hours"]);
        let mut errors = Vec::new();
        let mut amount = |k: &str, max: u64| match map.get(k) {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64() {
                Some(n) if n <= max => Some(n),
                _ => {
                    errors.push(invalid(
                        k,
                        format!("a whole number from 0 to {max} ({DRILL_MAX_DAYS} days), not {v}"),
                    ));
                    None
                }
            },
        };
        let (days, hours) = (
            amount("days", DRILL_MAX_DAYS),
            amount("hours", DRILL_MAX_DAYS * 24),
        );
        let d = DrillMove { days, hours };
        if errors.is_empty() && d.ms() == 0 {
            errors.push(invalid(
                "days",
                "say how far to move: days, hours or both, above 0",
            ));
        }
        m.typing.append(&mut errors);
        m.finish(Vec::new())?;
        Ok(d)
    }

    /// The move in milliseconds.
    pub fn ms(&self) -> u64 {
        self.days.unwrap_or(0) * 86_400_000 + self.hours.unwrap_or(0) * 3_600_000
    }
}

/// One file to attach to a request or a message (docs/api.md "Attachments").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttachmentRef {
    /// An absolute path on the node's host, read by the node from `[attachments] read_from`.
    Path(String),
    /// A file uploaded first (`POST /v1/uploads`).
    Upload {
        /// Its SHA-256, as the upload answered.
        upload: String,
        /// The name to list it under, if not the one it was uploaded with.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// An absolute path on the node's host, with the SHA-256 it must have.
    Hashed {
        /// The path.
        path: String,
        /// Its SHA-256, checked against the copy.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
    },
}

/// A file's name as a message lists it: 1 to 255 bytes, no `/`, no control character.
pub fn file_name(name: Option<&str>) -> Result<String, String> {
    let name = name.unwrap_or_default();
    if name.is_empty() || name.len() > 255 {
        return Err("name: the file's name, 1 to 255 bytes, is required".into());
    }
    if name.contains('/') || name.chars().any(char::is_control) || name == "." || name == ".." {
        return Err(format!(
            "name: {name:?} is not a file name (no '/' and no control characters)"
        ));
    }
    Ok(name.to_owned())
}

impl AttachmentRef {
    /// Reads `"attachments": ["/abs/path", {"path": "/abs/path", "sha256": "…"},
    /// {"upload": "…", "name": "…"}, …]`: each path absolute, each SHA-256 64 lowercase hex
    /// digits, each name a file name; the first fault named.
    pub fn read_list(given: Option<&Value>) -> Result<Vec<AttachmentRef>, FieldError> {
        let bad = |why: &str| invalid("attachments", why);
        let items = match given {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(a)) => a,
            Some(_) => return Err(bad("a list of files: absolute paths or uploads")),
        };
        let absolute = |p: &str| {
            p.starts_with('/')
                .then(|| p.to_owned())
                .ok_or_else(|| bad("each file is an absolute path on the node's host"))
        };
        let sha = |h: &Value, what: &str| {
            h.as_str()
                .filter(|h| poc247_protocol::parse_sha256_hex(h).is_some())
                .map(str::to_owned)
                .ok_or_else(|| {
                    bad(&format!(
                        "{what}: 64 lowercase hexadecimal digits, a SHA-256"
                    ))
                })
        };
        items
            .iter()
            .map(|v| match v {
                Value::String(p) => Ok(AttachmentRef::Path(absolute(p)?)),
                Value::Object(o) if o.keys().all(|k| k == "upload" || k == "name") => {
                    let upload = sha(o.get("upload").unwrap_or(&Value::Null), "upload")?;
                    let name = match o.get("name") {
                        None | Some(Value::Null) => None,
                        Some(n) => Some(file_name(n.as_str()).map_err(|m| bad(&m))?),
                    };
                    Ok(AttachmentRef::Upload { upload, name })
                }
                Value::Object(o) if o.keys().all(|k| k == "path" || k == "sha256") => {
                    let path =
                        absolute(o.get("path").and_then(Value::as_str).unwrap_or_default())?;
                    let sha256 = match o.get("sha256") {
                        None | Some(Value::Null) => None,
                        Some(h) => Some(sha(h, "sha256")?),
                    };
                    Ok(AttachmentRef::Hashed { path, sha256 })
                }
                _ => Err(bad(
                    "each file is an absolute path, { \"path\", \"sha256\" } or { \"upload\", \"name\" }",
                )),
            })
            .collect()
    }
}

/// The party or parties a request goes to: one (`"FR"`) or a list (one case each).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Recipients {
    /// One Party.
    One(PartyId),
    /// Several, one case each.
    Several(Vec<PartyId>),
}

impl Recipients {
    /// `to` as written: one Party as such, several as a list.
    pub fn of(to: &[PartyId]) -> Recipients {
        match to {
            [one] => Recipients::One(one.clone()),
            many => Recipients::Several(many.to_vec()),
        }
    }

    /// The Parties.
    pub fn parties(&self) -> Vec<PartyId> {
        match self {
            Recipients::One(p) => vec![p.clone()],
            Recipients::Several(list) => list.clone(),
        }
    }
}

/// `POST /v1/requests`: a request to another Party's point of contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestBody {
    /// The kind of request.
    pub kind: MessageKind,
    /// The requested Party or Parties.
    pub to: Recipients,
    /// Its urgency.
    pub urgency: Urgency,
    /// The language of its free text.
    pub language: Language,
    /// Training traffic.
    #[serde(default)]
    pub exercise: bool,
    /// Send in a language the peer does not list.
    #[serde(default, skip_serializing_if = "is_false")]
    pub language_override: bool,
    /// Send a subscriber-only emergency production to a Party that declared it does not
    /// execute those.
    #[serde(default, skip_serializing_if = "is_false")]
    pub subscriber_only_override: bool,
    /// The request's fields (docs/requests.md), checked by the protocol against its kind.
    pub fields: Map<String, Value>,
    /// Files to send with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentRef>,
    /// `dry_run`, `confirm_warnings`.
    #[serde(flatten)]
    pub mode: SendMode,
}

/// The members `POST /v1/requests` takes.
const REQUEST_MEMBERS: [&str; 11] = [
    "kind",
    "to",
    "urgency",
    "language",
    "exercise",
    "language_override",
    "subscriber_only_override",
    "fields",
    "attachments",
    "confirm_warnings",
    "dry_run",
];

impl RequestBody {
    /// Reads the body of `POST /v1/requests` with its fields checked by the protocol
    /// (`Body::from_fields`): the request and its body. Every problem with the envelope's
    /// members and the body's fields is named at once (a 422); an unknown member is a 400.
    pub fn read(body: &[u8]) -> Result<(RequestBody, poc247_protocol::Body), BodyError> {
        let map = object(body)?;
        if let Some(k) = map.keys().find(|k| !REQUEST_MEMBERS.contains(&k.as_str())) {
            return Err(BodyError::Bad(format!(
                "unknown member {k:?}; expected {}",
                REQUEST_MEMBERS.join(", ")
            )));
        }
        let text = |k: &str| map.get(k).and_then(Value::as_str).unwrap_or_default();
        // A member given with the wrong type is named as such, not as missing.
        let absent = |k: &str| match map.get(k) {
            Some(v) if !v.is_null() && !v.is_string() => {
                Problem::Invalid(format!("a string, not {}", json_type(v)))
            }
            _ => Problem::Missing,
        };
        let mut errors = Vec::new();
        let mut field = |name: &str, problem: Problem| {
            errors.push(FieldError {
                field: name.to_owned(),
                problem,
            })
        };
        let kind = match text("kind") {
            "" => {
                field("kind", absent("kind"));
                None
            }
            k => MessageKind::parse(k)
                .filter(|k| k.is_request())
                .or_else(|| {
                    field(
                        "kind",
                        Problem::Invalid(format!("{k:?} is not a request kind")),
                    );
                    None
                }),
        };
        let to: Option<Recipients> = match map.get("to") {
            None | Some(Value::Null) => {
                field("to", Problem::Missing);
                None
            }
            Some(Value::String(t)) if t.is_empty() => {
                field("to", Problem::Missing);
                None
            }
            // Party codes in any case: `fr` is FR.
            Some(Value::String(t)) => PartyId::parse(&t.to_ascii_uppercase())
                .map(Recipients::One)
                .map_err(|e| field("to", Problem::Invalid(e.to_string())))
                .ok(),
            Some(Value::Array(items)) => {
                let parsed: Result<Vec<PartyId>, String> = items
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .ok_or_else(|| "party ids are strings".to_owned())
                            .and_then(|t| {
                                PartyId::parse(&t.to_ascii_uppercase()).map_err(|e| e.to_string())
                            })
                    })
                    .collect();
                match parsed {
                    Ok(list) if !list.is_empty() => Some(Recipients::Several(list)),
                    Ok(_) => {
                        field("to", Problem::Missing);
                        None
                    }
                    Err(e) => {
                        field("to", Problem::Invalid(e));
                        None
                    }
                }
            }
            Some(_) => {
                field(
                    "to",
                    Problem::Invalid("a party id or a list of them".into()),
                );
                None
            }
        };
        let urgency = match text("urgency") {
            "" => {
                field("urgency", absent("urgency"));
                None
            }
            u => Urgency::parse(u).or_else(|| {
                field(
                    "urgency",
                    Problem::Invalid("must be emergency, urgent or routine".into()),
                );
                None
            }),
        };
        let language = match text("language") {
            "" => {
                field("language", absent("language"));
                None
            }
            l => Language::parse(l)
                .map_err(|e| field("language", Problem::Invalid(e.to_string())))
                .ok(),
        };
        let mut flag = |name: &str| match map.get(name) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                field(name, Problem::Invalid("must be true or false".into()));
                false
            }
        };
        let exercise = flag("exercise");
        let confirm_warnings = flag("confirm_warnings");
        let dry_run = flag("dry_run");
        let language_override = flag("language_override");
        let subscriber_only_override = flag("subscriber_only_override");
        let fields = match map.get("fields") {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        };
        let body = match (kind, map.get("fields")) {
            (Some(_), Some(v)) if !matches!(v, Value::Object(_) | Value::Null) => {
                field(
                    "fields",
                    Problem::Invalid(format!("an object, not {}", json_type(v))),
                );
                None
            }
            // Without an urgency, the rules that depend on it cannot be checked: the rest can.
            (Some(k), _) => poc247_protocol::Body::from_fields(
                k,
                fields.clone(),
                urgency.unwrap_or(Urgency::Routine),
            )
            .map_err(|mut fs| errors.append(&mut fs))
            .ok(),
            (None, _) => None,
        };
        let attachments = AttachmentRef::read_list(map.get("attachments"))
            .map_err(|e| errors.push(e))
            .unwrap_or_default();
        match (kind, to, urgency, language, body) {
            (Some(kind), Some(to), Some(urgency), Some(language), Some(body))
                if errors.is_empty() =>
            {
                Ok((
                    RequestBody {
                        kind,
                        to,
                        urgency,
                        language,
                        exercise,
                        language_override,
                        subscriber_only_override,
                        fields,
                        attachments,
                        mode: SendMode {
                            dry_run,
                            confirm_warnings,
                        },
                    },
                    body,
                ))
            }
            _ => Err(BodyError::Invalid(errors)),
        }
    }
}

/// `POST /v1/cases/{case_ref}/{action}` for an action that sends a message: its fields and
/// how it answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionBody {
    /// The message's fields (docs/requests.md), checked by the protocol against its kind.
    #[serde(default)]
    pub fields: Map<String, Value>,
    /// The message answered; without it the node names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<MessageId>,
    /// The language of its free text (default: the case's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
    /// Send in a language the peer does not list.
    #[serde(default, skip_serializing_if = "is_false")]
    pub language_override: bool,
    /// Files to send with it (`results`, `disclose-traffic`, `send-information`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentRef>,
    /// `dry_run`, `confirm_warnings`.
    #[serde(flatten)]
    pub mode: SendMode,
}

/// The members an action's body takes.
const ACTION_MEMBERS: [&str; 7] = [
    "fields",
    "in_reply_to",
    "language",
    "language_override",
    "attachments",
    "confirm_warnings",
    "dry_run",
];

impl ActionBody {
    /// The members of an action's body (an empty body is `{}`), each one the API knows: a
    /// 400 naming an unknown one.
    pub fn members(body: &[u8]) -> Result<Map<String, Value>, BodyError> {
        let map = if body.is_empty() {
            Map::new()
        } else {
            object(body)?
        };
        if let Some(k) = map.keys().find(|k| !ACTION_MEMBERS.contains(&k.as_str())) {
            return Err(BodyError::Bad(format!(
                "unknown member {k:?}; expected {}",
                ACTION_MEMBERS.join(", ")
            )));
        }
        Ok(map)
    }

    /// Reads the body `map` of an action that sends a message of `kind`, with its fields
    /// checked by the protocol, after the mode's own faults `errors`: every fault of the
    /// members and the fields named at once (a 422), then those of the attachments.
    pub fn read(
        map: &Map<String, Value>,
        kind: MessageKind,
        mut errors: Vec<FieldError>,
    ) -> Result<(ActionBody, poc247_protocol::Body), BodyError> {
        let (mode, _) = SendMode::read(map);
        let in_reply_to = match map.get("in_reply_to") {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) => t
                .parse()
                .map_err(|e: poc247_protocol::IdError| {
                    errors.push(invalid("in_reply_to", e.to_string()))
                })
                .ok(),
            Some(_) => {
                errors.push(invalid("in_reply_to", "a message id"));
                None
            }
        };
        let language = match map.get("language").and_then(Value::as_str) {
            None => None,
            Some(l) => Language::parse(l)
                .map_err(|e| errors.push(invalid("language", e.to_string())))
                .ok(),
        };
        let language_override = match map.get("language_override") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                errors.push(invalid(
                    "language_override",
                    format!("true or false, not {}", json_type(other)),
                ));
                false
            }
        };
        let fields = match map.get("fields") {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        };
        let body = match map.get("fields") {
            None | Some(Value::Null) | Some(Value::Object(_)) => {
                poc247_protocol::Body::from_fields(kind, fields.clone(), Urgency::Routine)
            }
            Some(other) => Err(vec![invalid(
                "fields",
                format!("an object, not {}", json_type(other)),
            )]),
        }
        .map_err(|mut fs| errors.append(&mut fs));
        if !errors.is_empty() {
            return Err(BodyError::Invalid(errors));
        }
        let Ok(body) = body else {
            return Err(BodyError::Invalid(errors));
        };
        let attachments = AttachmentRef::read_list(map.get("attachments"))
            .map_err(|e| BodyError::Invalid(vec![e]))?;
        Ok((
            ActionBody {
                fields,
                in_reply_to,
                language,
                language_override,
                attachments,
                mode,
            },
            body,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields_of(e: &BodyError) -> Vec<String> {
        match e {
            BodyError::Mistyped(f) | BodyError::Invalid(f) => {
                f.iter().map(|f| f.field.clone()).collect()
            }
            BodyError::Bad(m) => vec![m.clone()],
        }
    }

    #[test]
    fn a_request_reads_into_its_type_and_writes_back_the_same() {
        let text = r#"{"kind":"preservation","to":"FR","urgency":"urgent","language":"fr","exercise":false,"fields":{"requesting_authority":"Parquet de Luxembourg","offence":"computer fraud","facts":"A phishing kit collected bank credentials.","data":"Mailbox kit-drop@example.fr","relation_to_offence":"It receives the credentials.","custodian_or_location":"ExampleMail SAS, Paris","necessity":"Logs deleted after 7 days.","mla_intent":true},"attachments":[{"upload":"5d1fcf3f29a9a7b0e7cd1e4ba3a0b8e2a3c1f0b2ad34c0c1f8a3b2e4d5c6c9e0","name":"auth.log"}],"dry_run":true}"#;
        let (req, body) = RequestBody::read(text.as_bytes()).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(body.kind(), MessageKind::Preservation);
        assert!(req.mode.dry_run && !req.mode.confirm_warnings);
        assert_eq!(serde_json::to_string(&req).unwrap_or_default(), text);
    }

    #[test]
    fn every_member_at_fault_of_a_request_is_named_at_once() {
        let e =
            RequestBody::read(br#"{"kind": 5, "to": [], "dry_run": "yes", "fields": {}}"#).err();
        let named = e.as_ref().map(fields_of).unwrap_or_default();
        for f in ["kind", "to", "urgency", "language", "dry_run"] {
            assert!(named.iter().any(|n| n == f), "{f} not in {named:?}");
        }
        let unknown = RequestBody::read(br#"{"kindd": "preservation"}"#).err();
        assert!(
            matches!(&unknown, Some(BodyError::Bad(m)) if m.contains("\"kindd\"")),
            "{unknown:?}"
        );
        assert!(matches!(RequestBody::read(b"[]"), Err(BodyError::Bad(_))));
    }

    #[test]
    fn a_purge_names_unknown_and_mistyped_members_and_missing_values() {
        let order = serde_json::json!({"target": "case", "reason": "recorded by mistake"});
        let p = PurgeFields::read(Some(&order)).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((p.target, p.dry_run), (PurgeTarget::Case, false));
        assert_eq!(serde_json::to_value(&p).ok(), Some(order));
        let e = PurgeFields::read(Some(&serde_json::json!({"target": 1, "why": "x"}))).err();
        assert!(matches!(e, Some(BodyError::Mistyped(_))), "{e:?}");
        assert_eq!(
            e.as_ref().map(fields_of).unwrap_or_default(),
            ["why", "target", "reason", "target"]
        );
        let e = PurgeFields::read(Some(&serde_json::json!({"target": "message"}))).err();
        assert!(matches!(e, Some(BodyError::Invalid(_))), "{e:?}");
        assert_eq!(
            e.as_ref().map(fields_of).unwrap_or_default(),
            ["reason", "message_id"]
        );
    }

    #[test]
    fn a_record_a_note_a_resend_and_a_drill_move_read_as_documented() {
        let body =
            br#"{ "record_external": { "channel": "fax", "from": "FR", "kind": "preservation",
            "urgency": "urgent", "language": "fr", "summary": "Preserve the logs" } }"#;
        let (r, at) = RecordBody::read(body, |_| None).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(r.record_external.kind, MessageKind::Preservation);
        assert_eq!(at, None);
        let bad = RecordBody::read(br#"{"record_external": {"oral": "yes"}}"#, |_| None).err();
        assert_eq!(bad.as_ref().map(fields_of).unwrap_or_default(), ["oral"]);
        let close: Map<String, Value> =
            serde_json::from_str(r#"{"fields": {"note": "done"}, "in_reply_to": "x"}"#)
                .unwrap_or_default();
        let e = NoteFields::read(&close, "close").err();
        assert_eq!(
            e.as_ref().map(fields_of).unwrap_or_default(),
            ["in_reply_to"]
        );
        let resend: Map<String, Value> =
            serde_json::from_str(r#"{"fields": {}}"#).unwrap_or_default();
        let e = ResendFields::read(&resend).err();
        assert!(matches!(e, Some(BodyError::Invalid(_))), "{e:?}");
        let d = DrillMove::read(br#"{"days": 47}"#).unwrap_or_default();
        assert_eq!(d.ms(), 47 * 86_400_000);
        assert_eq!(
            DrillMove::read(br#"{"hours": 0}"#)
                .err()
                .as_ref()
                .map(fields_of)
                .unwrap_or_default(),
            ["days"]
        );
        let members = ActionBody::members(br#"{"field": {}}"#).err();
        assert!(matches!(members, Some(BodyError::Bad(_))), "{members:?}");
    }
}
