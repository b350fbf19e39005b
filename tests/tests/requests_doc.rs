//! `docs/requests.md` against the protocol: every message kind's wire name and every field name
//! its body knows, nested members included, is named in the page as a backquoted name, so that
//! a field added to the code cannot stay undocumented.

use poc247_protocol::{Body, MessageKind};
use serde_json::{json, Map, Value};
use std::path::Path;

fn requests_md() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/requests.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A member whose nested value no empty object can stand for (`relayed` has no default):
/// a valid sample, so that its own members are found.
fn sample(kind: MessageKind, field: &str) -> Option<Value> {
    match (kind, field) {
        (MessageKind::MutualAssistance, "relayed") => Some(json!({
            "how": "copy", "case": "LU-2026-000001", "requester": "LU", "requested": "FR"
        })),
        _ => None,
    }
}

/// The body of `kind` with only `field` set to `value`, as JSON, if the code takes it.
fn with_member(kind: MessageKind, field: &str, value: Value) -> Option<Value> {
    let body = Body::from_json(kind, json!({ field: value })).ok()?;
    body.to_json().get(field).cloned()
}

/// Every member name of `object` and, where a member is (or may be) an object or a list of
/// objects, of its members, as `(path, name)`. A member empty in `object` is probed: first
/// with the sample of [`sample`], then with `{}` and with `[{}]`; whichever the code takes
/// shows the nested members.
fn names(
    kind: MessageKind,
    prefix: &str,
    object: &Map<String, Value>,
    out: &mut Vec<(String, String)>,
) {
    for (name, value) in object {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        out.push((path.clone(), name.clone()));
        // Nested members are probed at the top of the body only; below, what is there is read.
        let value = if prefix.is_empty() {
            match value {
                Value::Null | Value::Array(_) if is_empty(value) => sample(kind, name)
                    .and_then(|v| with_member(kind, name, v))
                    .or_else(|| with_member(kind, name, json!({})))
                    .or_else(|| with_member(kind, name, json!([{}])))
                    .unwrap_or_else(|| value.clone()),
                _ => value.clone(),
            }
        } else {
            value.clone()
        };
        match &value {
            Value::Object(inner) => names(kind, &path, inner, out),
            Value::Array(items) => {
                for item in items {
                    if let Value::Object(inner) = item {
                        names(kind, &path, inner, out);
                    }
                }
            }
            _ => {}
        }
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// The fields of `kind`'s body, nested ones as `outer.inner`, with the bare name to look for.
fn fields_of(kind: MessageKind) -> Vec<(String, String)> {
    let body = Body::from_json(kind, json!({}))
        .unwrap_or_else(|e| panic!("{kind}: the empty body is refused: {e:?}"));
    let Value::Object(top) = body.to_json() else {
        panic!("{kind}: the body is not a JSON object");
    };
    let mut out = Vec::new();
    names(kind, "", &top, &mut out);
    out
}

#[test]
fn every_field_name_the_code_knows_is_in_docs_requests_md() {
    let doc = requests_md();
    let mut missing = Vec::new();
    for &kind in MessageKind::ALL {
        if !doc.contains(&format!("`{}`", kind.as_str())) {
            missing.push(format!("kind `{kind}` (its wire name)"));
        }
        for (path, name) in fields_of(kind) {
            if !doc.contains(&format!("`{name}`")) {
                missing.push(format!("field `{name}` ({kind}.{path})"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/requests.md does not name, as a backquoted name:\n  {}",
        missing.join("\n  ")
    );
}

/// The probing above finds what it should: the nested members the catalogue must describe.
#[test]
fn nested_members_are_found() {
    let has = |kind: MessageKind, path: &str| fields_of(kind).iter().any(|(p, _)| p == path);
    for (kind, path) in [
        (MessageKind::Preservation, "communication.type_of_service"),
        (MessageKind::Preservation, "attachments.sha256"),
        (MessageKind::EmergencyProduction, "service_providers.name"),
        (
            MessageKind::EmergencyProduction,
            "service_providers.address",
        ),
        (MessageKind::MutualAssistance, "relayed.how"),
        (MessageKind::MutualAssistance, "relayed.case"),
        (MessageKind::MutualAssistance, "relayed.requester"),
        (MessageKind::MutualAssistance, "relayed.requested"),
        (MessageKind::TrafficDataDisclosure, "communications.origin"),
        (MessageKind::Results, "communications.place"),
        (MessageKind::Results, "attachments.name"),
    ] {
        assert!(has(kind, path), "{kind}: {path} not found");
    }
}
