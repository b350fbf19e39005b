//! A new request from a `--file` and flags (flags win), checked here with the protocol's own
//! validation before the node is asked, so that every missing or bad field is named at once.

use crate::args::{PreservationArgs, RequestArgs, SendCommand};
use crate::failure::Failure;
use poc247_node::NewRequest;
use poc247_protocol::{Body, Date, FieldError, Language, MessageKind, PartyId, Problem, Urgency};
use serde_json::{json, Map, Value};
use std::path::Path;

/// The keys of a request file that belong to the header, not to the body.
const HEADER_KEYS: [&str; 4] = ["to", "urgency", "language", "exercise"];

/// Urgency when neither a flag nor the file gives one.
pub const DEFAULT_URGENCY: Urgency = Urgency::Urgent;
/// Language when neither a flag nor the file gives one.
pub const DEFAULT_LANGUAGE: &str = "en";

/// A body of `kind` with every field empty: its JSON names the kind's fields.
fn empty_body(kind: MessageKind) -> Option<Body> {
    Body::from_json(kind, json!({})).ok()
}

/// The fields of a kind in the order of REQUESTS.md (the order of the protocol's structs).
pub fn field_order(kind: &str) -> Vec<String> {
    MessageKind::parse(kind)
        .and_then(empty_body)
        .and_then(|b| match b.to_json() {
            Value::Object(m) => Some(m.keys().cloned().collect()),
            _ => None,
        })
        .unwrap_or_default()
}

/// The body fields given by flags: only those present (booleans when set).
fn preservation_flags(a: &PreservationArgs) -> Map<String, Value> {
    let mut m = Map::new();
    let f = &a.fields;
    let texts = [
        ("requesting_authority", &f.requesting_authority),
        ("offence", &f.offence),
        ("facts", &f.facts),
        ("data", &f.data),
        ("relation_to_offence", &f.relation_to_offence),
        ("custodian_or_location", &f.custodian_or_location),
        ("necessity", &f.necessity),
    ];
    put_texts(&mut m, &texts);
    if f.mla_intent {
        m.insert("mla_intent".into(), Value::Bool(true));
    }
    let t = &a.traffic;
    if t.includes_traffic_data {
        m.insert("includes_traffic_data".into(), Value::Bool(true));
    }
    let mut c = Map::new();
    let comm = [
        ("origin", &t.communication_origin),
        ("destination", &t.communication_destination),
        ("route", &t.communication_route),
        ("date", &t.communication_date),
        ("time", &t.communication_time),
        ("duration", &t.communication_duration),
        ("size", &t.communication_size),
        ("type_of_service", &t.communication_type_of_service),
    ];
    put_texts(&mut c, &comm);
    if !c.is_empty() {
        m.insert("communication".into(), Value::Object(c));
    }
    m
}

/// The fields every request kind may carry, from flags.
fn common_flags(r: &RequestArgs, m: &mut Map<String, Value>) {
    put_texts(
        m,
        &[
            ("emergency_facts", &r.emergency_facts),
            ("respond_by", &r.respond_by),
            ("respond_by_reason", &r.respond_by_reason),
        ],
    );
}

fn put_texts(m: &mut Map<String, Value>, pairs: &[(&str, &Option<String>)]) {
    for (k, v) in pairs {
        if let Some(v) = v {
            m.insert((*k).to_owned(), Value::String(v.clone()));
        }
    }
}

/// Builds and checks the request of a `send` command. Reads `--file` if given.
pub fn build(cmd: &SendCommand) -> Result<NewRequest, Failure> {
    let (kind, common, mut flags) = match cmd {
        SendCommand::Preservation(a) => {
            (MessageKind::Preservation, &a.request, preservation_flags(a))
        }
    };
    common_flags(common, &mut flags);
    let file = match &common.file {
        Some(path) => read_file(path, kind)?,
        None => Map::new(),
    };
    assemble(kind, common, file, flags)
}

/// Reads a request file (TOML, or JSON when its name ends in `.json`) and refuses keys that
/// are neither header keys nor fields of `kind`, naming all of them.
pub fn read_file(path: &Path, kind: MessageKind) -> Result<Map<String, Value>, Failure> {
    let shown = path.display();
    let text = read_capped(path).map_err(|e| {
        Failure::refused("bad-file", format!("cannot read request file {shown}: {e}"))
    })?;
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let value = if is_json {
        serde_json::from_str::<Value>(&text)
            .map_err(|e| Failure::refused("bad-file", format!("request file {shown}: {e}")))?
    } else {
        let table = toml::from_str::<toml::Table>(&text)
            .map_err(|e| Failure::refused("bad-file", format!("request file {shown}: {e}")))?;
        toml_to_json(toml::Value::Table(table))
    };
    let Value::Object(map) = value else {
        return Err(Failure::refused(
            "bad-file",
            format!("request file {shown}: expected a table of keys"),
        ));
    };
    let known = known_keys(kind);
    let unknown: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|k| !known.iter().any(|n| n == k))
        .collect();
    if !unknown.is_empty() {
        return Err(Failure::refused(
            "bad-file",
            format!(
                "request file {shown}: unknown key{} {}; a {kind} request takes {}",
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

/// Largest request file read: a request travels in one frame of 1 MiB at most.
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

/// Header keys and the fields of `kind`.
fn known_keys(kind: MessageKind) -> Vec<String> {
    let mut keys: Vec<String> = HEADER_KEYS.iter().map(|k| (*k).to_owned()).collect();
    keys.extend(field_order(kind.as_str()));
    keys
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

fn invalid(field: &str, why: String) -> FieldError {
    FieldError {
        field: field.to_owned(),
        problem: Problem::Invalid(why),
    }
}

/// A header value of the file: text or absent.
fn file_text(
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

/// serde stops at the first bad value without naming it: try each field alone to name every
/// one of them.
fn name_bad_fields(
    kind: MessageKind,
    fields: Map<String, Value>,
    whole: FieldError,
) -> Vec<FieldError> {
    let named: Vec<FieldError> = fields
        .into_iter()
        .filter_map(|(k, v)| {
            let alone = Value::Object(Map::from_iter([(k.clone(), v)]));
            match Body::from_json(kind, alone) {
                Ok(_) => None,
                Err(FieldError {
                    problem: Problem::Invalid(why),
                    ..
                }) => Some(invalid(&k, why)),
                Err(e) => Some(invalid(&k, e.to_string())),
            }
        })
        .collect();
    if named.is_empty() {
        vec![whole]
    } else {
        named
    }
}

/// Puts the file and the flags together (flags win, field by field, also inside
/// `communication`) and checks the result.
fn assemble(
    kind: MessageKind,
    flags: &RequestArgs,
    mut file: Map<String, Value>,
    flag_fields: Map<String, Value>,
) -> Result<NewRequest, Failure> {
    let mut errors = Vec::new();
    let file_to = file_text(&mut file, "to", &mut errors);
    let file_urgency = file_text(&mut file, "urgency", &mut errors);
    let file_language = file_text(&mut file, "language", &mut errors);
    let file_exercise = match file.remove("exercise") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(other) => {
            errors.push(invalid(
                "exercise",
                format!("must be true or false, not {other}"),
            ));
            false
        }
    };

    let to = match flags.to.clone().or(file_to) {
        None => {
            errors.insert(
                0,
                FieldError {
                    field: "to".into(),
                    problem: Problem::Missing,
                },
            );
            None
        }
        Some(t) => PartyId::parse(t.trim())
            .map_err(|e| errors.push(invalid("to", e.to_string())))
            .ok(),
    };
    let urgency = match (flags.urgency, file_urgency) {
        (Some(u), _) => Some(Urgency::from(u)),
        (None, Some(u)) => Urgency::parse(u.trim()).or_else(|| {
            errors.push(invalid(
                "urgency",
                format!("{u:?} is not emergency, urgent or routine"),
            ));
            None
        }),
        (None, None) => Some(DEFAULT_URGENCY),
    };
    let language = flags
        .language
        .clone()
        .or(file_language)
        .unwrap_or_else(|| DEFAULT_LANGUAGE.to_owned());
    let language = Language::parse(language.trim())
        .map_err(|e| errors.push(invalid("language", e.to_string())))
        .ok();
    let exercise = flags.exercise || file_exercise;

    let mut fields = file;
    for (k, v) in flag_fields {
        match (fields.get_mut(&k), v) {
            (Some(Value::Object(into)), Value::Object(from)) => into.extend(from),
            (_, v) => {
                fields.insert(k, v);
            }
        }
    }
    // A malformed date would stop the body's decoding at once: name it and go on without it.
    if let Some(v) = fields.get("respond_by") {
        let ok = match v {
            Value::Null => true,
            Value::String(s) => Date::parse(s).is_ok(),
            _ => false,
        };
        if !ok {
            errors.push(invalid(
                "respond_by",
                format!("{v} is not a date of the form YYYY-MM-DD"),
            ));
            fields.remove("respond_by");
        }
    }
    let body = match Body::from_json(kind, Value::Object(fields.clone())) {
        Ok(b) => Some(b),
        Err(e) => {
            errors.append(&mut name_bad_fields(kind, fields, e));
            None
        }
    };
    if let (Some(b), Some(u)) = (&body, urgency) {
        if let Err(mut fs) = b.validate(u) {
            errors.append(&mut fs);
        }
    }
    match (to, urgency, language, body) {
        (Some(to), Some(urgency), Some(language), Some(body)) if errors.is_empty() => {
            Ok(NewRequest {
                to: vec![to],
                urgency,
                language,
                exercise,
                language_override: false,
                subscriber_only_override: false,
                body,
            })
        }
        _ => Err(Failure::invalid_fields(&errors)),
    }
}

/// The body of `POST /v1/requests` (see `poc247_node::control::parse_new_request`).
pub fn to_json(r: &NewRequest) -> Value {
    json!({
        "kind": r.body.kind(),
        "to": match r.to.as_slice() {
            [one] => json!(one),
            several => json!(several),
        },
        "urgency": r.urgency,
        "language": r.language,
        "exercise": r.exercise,
        "fields": r.body.to_json(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command};
    use clap::Parser;

    const ALL: [&str; 17] = [
        "--to",
        "FR",
        "--requesting-authority",
        "Parquet de Luxembourg",
        "--offence",
        "fraud",
        "--facts",
        "phishing",
        "--data",
        "mailbox",
        "--relation-to-offence",
        "receives the credentials",
        "--custodian-or-location",
        "ExampleMail SAS",
        "--necessity",
        "logs deleted after 7 days",
        "--mla-intent",
    ];

    fn send(args: &[&str]) -> Result<NewRequest, Failure> {
        let mut argv = vec!["poc247", "send", "preservation"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{e}"));
        let Command::Send(cmd) = cli.command else {
            panic!("not send");
        };
        build(&cmd)
    }

    fn refusal(r: Result<NewRequest, Failure>) -> String {
        match r {
            Err(f @ Failure::Refused { .. }) => f.to_string(),
            other => panic!("not refused: {other:?}"),
        }
    }

    fn file(name: &str, text: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        let p = path.display().to_string();
        (dir, p)
    }

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
    fn every_flag_makes_a_complete_request_with_the_defaults() {
        let r = send(&ALL).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.to[0].as_str(), "FR");
        assert_eq!(r.urgency, Urgency::Urgent);
        assert_eq!(r.language.as_str(), "en");
        assert!(!r.exercise);
        let j = to_json(&r);
        assert_eq!(j["kind"], "preservation");
        assert_eq!(j["fields"]["offence"], "fraud");
        assert_eq!(j["fields"]["mla_intent"], true);
    }

    #[test]
    fn every_missing_field_of_art_29_2_is_named_at_once() {
        let msg = refusal(send(&[]));
        for f in [
            "to: missing",
            "requesting_authority: missing",
            "offence: missing",
            "necessity: missing",
            "mla_intent: must be true",
        ] {
            assert!(msg.contains(f), "{f} not in {msg}");
        }
    }

    #[test]
    fn an_emergency_needs_its_facts_and_a_bad_date_is_named() {
        let mut args = ALL.to_vec();
        args[1] = "fr";
        args.extend(["--urgency", "emergency", "--respond-by", "2026-13-01"]);
        let msg = refusal(send(&args));
        assert!(msg.contains("emergency_facts: missing"), "{msg}");
        assert!(msg.contains("respond_by: "), "{msg}");
        assert!(msg.contains("to: "), "{msg}");
    }

    #[test]
    fn traffic_data_needs_a_communication() {
        let mut args = ALL.to_vec();
        args.push("--includes-traffic-data");
        let msg = refusal(send(&args));
        assert!(msg.contains("communication: missing"), "{msg}");
        args.extend(["--communication-origin", "203.0.113.7"]);
        let r = send(&args).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            to_json(&r)["fields"]["communication"]["origin"],
            "203.0.113.7"
        );
    }

    #[test]
    fn a_toml_file_gives_header_and_fields_and_flags_override_it() {
        let (_d, path) = file(
            "req.toml",
            r#"
to = "FR"
urgency = "routine"
language = "fr"
exercise = true
requesting_authority = "Parquet"
offence = "fraude"
facts = "hameçonnage"
data = "boîte aux lettres"
relation_to_offence = "reçoit les identifiants"
custodian_or_location = "ExampleMail SAS"
necessity = "journaux effacés après 7 jours"
mla_intent = true
respond_by = 2026-11-23
[communication]
origin = "203.0.113.7"
"#,
        );
        let r = send(&[
            "--file",
            &path,
            "--offence",
            "escroquerie",
            "--communication-date",
            "2026-05-02",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.urgency, Urgency::Routine);
        assert_eq!(r.language.as_str(), "fr");
        assert!(r.exercise);
        let j = to_json(&r);
        assert_eq!(j["fields"]["offence"], "escroquerie");
        assert_eq!(j["fields"]["facts"], "hameçonnage");
        assert_eq!(j["fields"]["respond_by"], "2026-11-23");
        assert_eq!(j["fields"]["communication"]["origin"], "203.0.113.7");
        assert_eq!(j["fields"]["communication"]["date"], "2026-05-02");
        let r = send(&["--file", &path, "--urgency", "urgent", "--language", "de"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.urgency, Urgency::Urgent);
        assert_eq!(r.language.as_str(), "de");
    }

    #[test]
    fn unknown_keys_in_a_file_are_all_named() {
        let (_d, path) = file("req.toml", "to = \"FR\"\ncolour = \"red\"\nsize = 3\n");
        let msg = refusal(send(&["--file", &path]));
        assert!(msg.contains("unknown keys `colour`, `size`"), "{msg}");
    }

    #[test]
    fn a_json_file_works_and_wrong_types_are_named_by_field() {
        let (_d, path) = file(
            "req.json",
            r#"{"to": "FR", "urgency": "soon", "offence": 5, "mla_intent": "yes"}"#,
        );
        let msg = refusal(send(&["--file", &path]));
        assert!(msg.contains("urgency: \"soon\" is not"), "{msg}");
        assert!(msg.contains("offence: invalid type"), "{msg}");
        assert!(msg.contains("mla_intent: invalid type"), "{msg}");
    }

    #[test]
    fn an_unreadable_or_malformed_file_is_refused() {
        let msg = refusal(send(&["--file", "/no/such/request.toml"]));
        assert!(msg.contains("cannot read request file"), "{msg}");
        let (_d, path) = file("req.toml", "to = \n");
        let msg = refusal(send(&["--file", &path]));
        assert!(msg.contains("request file"), "{msg}");
        let (_d2, path) = file("req.json", "[1, 2]");
        let msg = refusal(send(&["--file", &path]));
        assert!(msg.contains("expected a table"), "{msg}");
    }
}
