//! The fields of a message body from a `--file` and flags (flags win), checked with the
//! protocol's own validation before the node is asked, so that every missing or bad field is
//! named at once. Shared by `send <kind>` (requests) and the actions on a case.

use crate::failure::Failure;
use poc247_protocol::{Body, FieldError, MessageKind, Problem, Urgency};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::path::Path;

/// A body of `kind` with every field empty: its JSON names the kind's fields.
fn empty_body(kind: MessageKind) -> Option<Body> {
    Body::from_json(kind, json!({})).ok()
}

/// The fields of a kind in the order of docs/requests.md (the order of the protocol's structs).
pub fn field_order(kind: &str) -> Vec<String> {
    MessageKind::parse(kind)
        .and_then(empty_body)
        .and_then(|b| match b.to_json() {
            Value::Object(m) => Some(m.keys().cloned().collect()),
            _ => None,
        })
        .unwrap_or_default()
}

/// The fields given by flags: a flag struct serialized with docs/requests.md's names, without the
/// flags that were not given (`None`) and the switches that were not set (`false`: a switch
/// cannot say "no", so an unset one leaves the file's value alone).
pub fn given<T: Serialize>(flags: &T) -> Map<String, Value> {
    match serde_json::to_value(flags) {
        Ok(Value::Object(m)) => m
            .into_iter()
            .filter(|(_, v)| !matches!(v, Value::Null | Value::Bool(false)))
            .collect(),
        _ => Map::new(),
    }
}

/// An error on one field.
pub fn invalid(field: &str, why: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_owned(),
        problem: Problem::Invalid(why.into()),
    }
}

/// Reads a file of fields (TOML, or JSON when its name ends in `.json`) and refuses keys that
/// are neither `header` keys nor fields of `kind`, naming all of them. `what` names the
/// message for the error ("a preservation request").
pub fn read_file(
    path: &Path,
    header: &[&str],
    kind: Option<MessageKind>,
    what: &str,
) -> Result<Map<String, Value>, Failure> {
    let shown = path.display();
    let text = read_capped(path)
        .map_err(|e| Failure::refused("bad-file", format!("cannot read file {shown}: {e}")))?;
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let value = if is_json {
        serde_json::from_str::<Value>(&text)
            .map_err(|e| Failure::refused("bad-file", format!("file {shown}: {e}")))?
    } else {
        let table = toml::from_str::<toml::Table>(&text)
            .map_err(|e| Failure::refused("bad-file", format!("file {shown}: {e}")))?;
        toml_to_json(toml::Value::Table(table))
    };
    let Value::Object(map) = value else {
        return Err(Failure::refused(
            "bad-file",
            format!("file {shown}: expected a table of keys"),
        ));
    };
    let mut known: Vec<String> = header.iter().map(|k| (*k).to_owned()).collect();
    if let Some(k) = kind {
        known.extend(field_order(k.as_str()));
    }
    let unknown: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|k| !known.iter().any(|n| n == k))
        .collect();
    if !unknown.is_empty() {
        return Err(Failure::refused(
            "bad-file",
            format!(
                "file {shown}: unknown key{} {}; {what} takes {}",
                if unknown.len() > 1 { "s" } else { "" },
                unknown
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                known.join(", ")
            ),
        ));
    }
    Ok(map)
}

/// Largest file read: a message travels in one frame of 1 MiB at most.
const MAX_FILE_BYTES: u64 = 4 << 20;

/// Reads a text file of at most [`MAX_FILE_BYTES`].
fn read_capped(path: &Path) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {} MiB",
            MAX_FILE_BYTES >> 20
        )));
    }
    Ok(text)
}

/// TOML as JSON; a TOML date or time becomes its text (`respond_by = 2026-11-23` works).
fn toml_to_json(v: toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => json!(i),
        toml::Value::Float(f) => json!(f),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => {
            Value::Object(t.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect())
        }
    }
}

/// Takes a header key of a file that must be text.
pub fn take_text(
    file: &mut Map<String, Value>,
    key: &str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match file.remove(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => {
            errors.push(invalid(key, format!("must be text, not {other}")));
            None
        }
    }
}

/// Takes a header key of a file that must be `true` or `false` (absent: false).
pub fn take_bool(file: &mut Map<String, Value>, key: &str, errors: &mut Vec<FieldError>) -> bool {
    match file.remove(key) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(other) => {
            errors.push(invalid(key, format!("must be true or false, not {other}")));
            false
        }
    }
}

/// The file's fields with the flags' over them, field by field; inside a nested table
/// (`communication`) too, and into the first element of a list of tables
/// (`communications`: the flags describe one communication).
pub fn merge(mut file: Map<String, Value>, flags: Map<String, Value>) -> Map<String, Value> {
    for (k, v) in flags {
        match (file.get_mut(&k), v) {
            (Some(Value::Object(into)), Value::Object(from)) => into.extend(from),
            (Some(Value::Array(into)), Value::Array(mut from))
                if k == "communications" && from.len() == 1 =>
            {
                match (into.first_mut(), from.pop()) {
                    (Some(Value::Object(first)), Some(Value::Object(one))) => first.extend(one),
                    (_, Some(one)) => into.insert(0, one),
                    (_, None) => {}
                }
            }
            (_, v) => {
                file.insert(k, v);
            }
        }
    }
    file
}

/// Builds a body of `kind` from its fields and validates it at `urgency`: the body, or every
/// field that is wrong (the protocol's [`Body::from_fields`], shared with the node's API).
pub fn check(
    kind: MessageKind,
    fields: Map<String, Value>,
    urgency: Urgency,
) -> Result<Body, Vec<FieldError>> {
    Body::from_fields(kind, fields, urgency)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_order_follows_requests_md_for_every_kind() {
        let order = field_order("preservation");
        assert_eq!(
            &order[..8],
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
        for kind in MessageKind::ALL {
            assert!(!field_order(kind.as_str()).is_empty(), "{kind}");
        }
        assert!(field_order("no_such_kind").is_empty());
    }

    #[test]
    fn flags_merge_over_the_file_field_by_field() {
        let file = json!({"a": 1, "communication": {"origin": "x", "date": "d"},
            "communications": [{"origin": "o1"}, {"origin": "o2"}], "service_providers": [1, 2]});
        let flags = json!({"a": 2, "communication": {"origin": "y"},
            "communications": [{"time": "t"}], "service_providers": [3]});
        let (Value::Object(file), Value::Object(flags)) = (file, flags) else {
            panic!("objects");
        };
        let m = Value::Object(merge(file, flags));
        assert_eq!(m["a"], 2);
        assert_eq!(m["communication"], json!({"origin": "y", "date": "d"}));
        assert_eq!(
            m["communications"],
            json!([{"origin": "o1", "time": "t"}, {"origin": "o2"}])
        );
        assert_eq!(m["service_providers"], json!([3]));
    }

    #[test]
    fn every_bad_value_is_named_and_the_rest_still_validated() {
        let Value::Object(fields) = json!({"outcome": "refused", "executed_on": "2026-13-01",
            "forwarded_to": "france"})
        else {
            panic!("object");
        };
        let errs = check(MessageKind::Decision, fields, Urgency::Routine).err();
        let names: Vec<String> = errs
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            names,
            ["executed_on", "forwarded_to", "reasons", "refusal_ground"]
        );
    }

    #[test]
    fn unset_flags_are_not_given() {
        #[derive(Serialize)]
        struct F {
            a: Option<String>,
            b: bool,
            c: bool,
            d: Option<String>,
        }
        let m = given(&F {
            a: None,
            b: false,
            c: true,
            d: Some(String::new()),
        });
        assert_eq!(Value::Object(m), json!({"c": true, "d": ""}));
    }
}
