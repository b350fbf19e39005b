//! An action on a case (`ack`, `decide`, `close` …) from a `--file` and flags (flags win),
//! checked with the protocol's validation before the node is asked; and the record of a
//! request that came outside the node (`record`).

use crate::args::actions::{
    ActionCommand, CaseArgs, CloseArgs, On, RespondArgs, ResultsExtras, TrafficExtras, CLOSE,
};
use crate::args::body::{BodyFlags, Extras};
use crate::args::RecordArgs;
use crate::failure::Failure;
use crate::fields::{self, invalid};
use crate::request::{communication, DEFAULT_LANGUAGE, DEFAULT_URGENCY};
use poc247_api::{
    ActionBody, ExternalRecord, NoteBody, NoteFields, ReceivedAt, RecordBody, SendMode,
};
use poc247_protocol::validate::{Report, MAX_LONG_TEXT};
use poc247_protocol::{CaseRef, FieldError, Language, MessageId, MessageKind, PartyId, Urgency};
use serde_json::{Map, Value};
use std::str::FromStr;

/// The header keys an action's file may hold beside the fields.
const HEADER_KEYS: [&str; 3] = ["in_reply_to", "language", "language_override"];

/// An action checked and ready for `POST /v1/cases/{case}/{action}`.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseAction {
    /// The case.
    pub case: CaseRef,
    /// The API's name of the action (`acknowledge`, `close` …).
    pub action: &'static str,
    /// The kind of message it sends (`None` for `close`).
    pub kind: Option<MessageKind>,
    /// The request body.
    pub body: Value,
}

impl CaseAction {
    /// `/v1/cases/{case}/{action}`.
    pub fn path(&self) -> String {
        format!("/v1/cases/{}/{}", self.case, self.action)
    }
}

impl Extras for ResultsExtras {
    fn fields(&self, fields: &mut Map<String, Value>) {
        if !self.traced.is_empty() {
            let list = self.traced.iter().map(|t| traced(t)).collect();
            fields.insert("communications".into(), Value::Array(list));
        }
    }
    fn attach(&self) -> &[std::path::PathBuf] {
        &self.files.attach
    }
}

/// `--traced "DAY|TIME|DURATION|PLACE"`: the parts given, by name (an empty part is left out;
/// validation names a communication with none).
fn traced(t: &str) -> Value {
    let mut m = Map::new();
    for (name, part) in ["date", "time", "duration", "place"]
        .iter()
        .zip(t.split('|'))
    {
        if !part.trim().is_empty() {
            m.insert((*name).to_owned(), Value::String(part.trim().to_owned()));
        }
    }
    Value::Object(m)
}

impl Extras for TrafficExtras {
    fn fields(&self, fields: &mut Map<String, Value>) {
        if let Some(c) = communication(&self.communication) {
            fields.insert("communications".into(), Value::Array(vec![c]));
        }
    }
    fn attach(&self) -> &[std::path::PathBuf] {
        &self.files.attach
    }
}

/// Builds and checks the action of a command. Reads `--file` if given.
pub fn build(cmd: &ActionCommand) -> Result<CaseAction, Failure> {
    use ActionCommand as C;
    match cmd {
        C::Ack(x) => typed(x),
        C::Ask(x) => typed(x),
        C::Answer(x) => typed(x),
        C::StatusRequest(x) => typed(x),
        C::StatusReport(x) => typed(x),
        C::Delay(x) => typed(x),
        C::ConfidentialityReply(x) => typed(x),
        C::Proceed(x) => typed(x),
        C::Decide(x) => typed(x),
        C::PreservationInsufficient(x) => typed(x),
        C::Conditions(x) => typed(x),
        C::ConditionsReply(x) => typed(x),
        C::UseExplanationRequest(x) => typed(x),
        C::UseExplanation(x) => typed(x),
        C::UseConsentRequest(x) => typed(x),
        C::UseConsent(x) => typed(x),
        C::DisclosureNotice(x) => typed(x),
        C::DiscloseTraffic(x) => typed(x),
        C::Results(x) => typed(x),
        C::Confirm(x) => typed(x),
        C::Extend(x) => typed(x),
        C::Release(x) => typed(x),
        C::Withdraw(x) => typed(x),
        C::SendInformation(x) => typed(x),
        C::Close(x) => close(x),
        C::Notified(x) => {
            let mut a = local_with(&x.case, x.note.clone().map(Value::String), "notified")?;
            add_confirm(
                &mut a.body,
                crate::args::ConfirmArgs {
                    yes: false,
                    dry_run: x.dry_run,
                },
            );
            Ok(a)
        }
        C::Respond(x) => respond(x),
    }
}

fn typed<const K: usize, X: Extras + clap::Args>(on: &On<K, X>) -> Result<CaseAction, Failure> {
    let kind = BodyFlags::<K>::kind();
    let name = poc247_api::Action::sending(kind)
        .map(|a| a.name)
        .ok_or_else(|| Failure::internal(format!("no action sends {kind}")))?;
    let mut flags = on.fields.given.clone();
    on.extras.fields(&mut flags);
    let mut action = message(&on.case, name, kind, flags)?;
    // The files of `--attach` follow those of `--file`'s `attachments`.
    crate::attach::add_paths(&mut action.body, on.extras.attach());
    Ok(action)
}

/// "an acknowledgement", "a decision".
fn what(kind: MessageKind) -> String {
    let article = if kind.as_str().starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {kind}")
}

/// An action that sends a message of `kind`: the file and the flags, the header, the check.
fn message(
    c: &CaseArgs,
    action: &'static str,
    kind: MessageKind,
    flags: Map<String, Value>,
) -> Result<CaseAction, Failure> {
    let mut header = HEADER_KEYS.to_vec();
    if kind.carries_attachments() {
        header.push("attachments");
    }
    let (mut file, attach) = match &c.file {
        Some(path) => {
            let mut keys = fields::read_file(path, &header, Some(kind), &what(kind))?;
            let attach = crate::attach::from_file(&mut keys, path)?;
            (keys, attach)
        }
        None => (Map::new(), Vec::new()),
    };
    let mut errors = Vec::new();
    let file_reply = fields::take_text(&mut file, "in_reply_to", &mut errors);
    let file_language = fields::take_text(&mut file, "language", &mut errors);
    let file_override = fields::take_bool(&mut file, "language_override", &mut errors);
    let in_reply_to = c.in_reply_to.clone().or(file_reply).and_then(|id| {
        MessageId::from_str(id.trim())
            .map_err(|e| errors.push(invalid("in_reply_to", e.to_string())))
            .ok()
    });
    let language = c.language.clone().or(file_language).and_then(|l| {
        Language::parse(l.trim())
            .map_err(|e| errors.push(invalid("language", e.to_string())))
            .ok()
    });
    // Responses do not depend on the urgency; a spontaneous information sent in its case
    // is checked again by the node against the case's urgency (`emergency_facts`).
    let body = fields::check(kind, fields::merge(file, flags), Urgency::Routine)
        .map_err(|mut fs| errors.append(&mut fs))
        .ok();
    let (Some(body), true) = (body, errors.is_empty()) else {
        return Err(Failure::invalid_fields_of(&kind.to_string(), &errors));
    };
    let fields = match body.to_json() {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let action_body = ActionBody {
        fields,
        in_reply_to,
        language,
        language_override: c.language_override || file_override,
        attachments: Vec::new(),
        mode: SendMode::default(),
    };
    let mut v = serde_json::to_value(&action_body)
        .map_err(|e| Failure::internal(format!("cannot write the body's JSON: {e}")))?;
    crate::attach::add_paths(&mut v, &attach);
    add_confirm(&mut v, c.confirm);
    Ok(CaseAction {
        case: c.case.clone(),
        action,
        kind: Some(kind),
        body: v,
    })
}

/// `close`: local, no message; only a note.
fn close(c: &CloseArgs) -> Result<CaseAction, Failure> {
    let mut a = close_with(&c.case, c.note.clone().map(Value::String))?;
    add_confirm(
        &mut a.body,
        crate::args::ConfirmArgs {
            yes: false,
            dry_run: c.dry_run,
        },
    );
    Ok(a)
}

fn close_with(case: &CaseRef, note: Option<Value>) -> Result<CaseAction, Failure> {
    local_with(case, note, CLOSE)
}

/// `"dry_run": true` and `"confirm_warnings": true` in a body, as the flags ask.
pub fn add_confirm(v: &mut Value, c: crate::args::ConfirmArgs) {
    if c.dry_run {
        v["dry_run"] = Value::Bool(true);
    }
    if c.yes {
        v["confirm_warnings"] = Value::Bool(true);
    }
}

/// A local action (`close`, `notified`): no message, only a note for the record.
fn local_with(
    case: &CaseRef,
    note: Option<Value>,
    action: &'static str,
) -> Result<CaseAction, Failure> {
    let note = match note {
        None | Some(Value::Null) => None,
        Some(Value::String(n)) => {
            let mut r = Report::new();
            r.optional_text("note", Some(&n), MAX_LONG_TEXT);
            r.finish()
                .map_err(|fs| Failure::invalid_fields_of(action, &fs))?;
            Some(n)
        }
        Some(other) => {
            return Err(Failure::invalid_fields_of(
                action,
                &[invalid("note", format!("must be text, not {other}"))],
            ))
        }
    };
    let body = NoteBody {
        fields: NoteFields { note },
        mode: SendMode::default(),
    };
    Ok(CaseAction {
        case: case.clone(),
        action,
        kind: None,
        body: serde_json::to_value(&body)
            .map_err(|e| Failure::internal(format!("cannot write the body's JSON: {e}")))?,
    })
}

/// `respond <case> <action> --file`: any action, its fields from the file.
fn respond(r: &RespondArgs) -> Result<CaseAction, Failure> {
    if r.action == CLOSE {
        let mut file = match &r.case.file {
            Some(path) => fields::read_file(path, &["note"], None, "close")?,
            None => Map::new(),
        };
        let mut a = close_with(&r.case.case, file.remove("note"))?;
        add_confirm(&mut a.body, r.case.confirm);
        return Ok(a);
    }
    let Some((action, kind)) =
        poc247_protocol::Action::find(&r.action).and_then(|a| a.kind.map(|k| (a.name, k)))
    else {
        // The parser accepts only the actions that send a message, and `close`.
        return Err(Failure::internal(format!("unknown action {}", r.action)));
    };
    message(&r.case, action, kind, Map::new())
}

/// The body of `POST /v1/cases` for a request received outside the node, checked: every
/// missing or bad field named at once. `now` is the default of `received_at`.
pub fn record(r: &RecordArgs, now: time::OffsetDateTime) -> Result<Value, Failure> {
    let mut errors: Vec<FieldError> = Vec::new();
    let mut missing = |field: &str, v: &Option<String>| {
        if v.as_deref().is_none_or(|s| s.trim().is_empty()) {
            errors.push(FieldError {
                field: field.to_owned(),
                problem: poc247_protocol::Problem::Missing,
            });
        }
    };
    missing("channel", &r.channel);
    missing("from", &r.from);
    missing("kind", &r.kind);
    missing("summary", &r.summary);
    let from = r.from.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if let Some(Err(e)) = from.map(PartyId::parse) {
        errors.push(invalid("from", e.to_string()));
    }
    let mut report = Report::new();
    report.optional_text("summary", r.summary.as_deref(), MAX_LONG_TEXT);
    if let Err(mut fs) = report.finish() {
        errors.retain(|e| e.field != "summary");
        errors.append(&mut fs);
    }
    let rfc3339 = &time::format_description::well_known::Rfc3339;
    let received_at = match &r.received_at {
        None => now.format(rfc3339).ok(),
        Some(t) => match time::OffsetDateTime::parse(t.trim(), rfc3339) {
            Ok(at) => at.format(rfc3339).ok(),
            Err(_) => {
                errors.push(invalid(
                    "received_at",
                    format!("{t:?} is not RFC 3339 (2026-05-01T14:03:00+02:00)"),
                ));
                None
            }
        },
    };
    let language = r.language.as_deref().unwrap_or(DEFAULT_LANGUAGE).trim();
    if let Err(e) = Language::parse(language) {
        errors.push(invalid("language", e.to_string()));
    }
    if let Some(h) = &r.document_sha256 {
        if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            errors.push(invalid(
                "document_sha256",
                "must be a SHA-256 as 64 hexadecimal digits",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(Failure::invalid_fields_of("record", &errors));
    }
    let urgency = r.urgency.map_or(DEFAULT_URGENCY, Urgency::from);
    let kind = r.kind.as_deref().map(str::trim).and_then(|k| {
        MessageKind::parse(k)
            .ok_or_else(|| errors.push(invalid("kind", format!("{k:?} is not a message kind"))))
            .ok()
    });
    let (Some(from), Some(kind), Ok(language)) = (
        from.map(PartyId::parse).and_then(Result::ok),
        kind,
        Language::parse(language),
    ) else {
        return Err(Failure::invalid_fields_of("record", &errors));
    };
    let body = RecordBody {
        record_external: ExternalRecord {
            channel: r.channel.clone().unwrap_or_default(),
            received_at: received_at.map(ReceivedAt::Text),
            from,
            kind,
            urgency: Some(urgency),
            language: Some(language),
            summary: r.summary.clone().unwrap_or_default(),
            document_sha256: r.document_sha256.as_ref().map(|h| h.to_ascii_lowercase()),
            oral: r.oral,
            exercise: r.exercise,
        },
    };
    serde_json::to_value(&body)
        .map_err(|e| Failure::internal(format!("cannot write the record's JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command};
    use clap::{CommandFactory, Parser};
    use serde_json::json;

    fn act(args: &[&str]) -> Result<CaseAction, Failure> {
        let mut argv = vec!["poc247"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{e}"));
        let Command::Act(cmd) = cli.command else {
            panic!("not an action");
        };
        build(&cmd)
    }

    fn ok(r: Result<CaseAction, Failure>) -> CaseAction {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    fn refusal(r: Result<CaseAction, Failure>) -> String {
        match r {
            Err(f @ Failure::Refused { .. }) => f.to_string(),
            other => panic!("not refused: {other:?}"),
        }
    }

    const CASE: &str = "LU-2026-000001";
    const ID: &str = "0196b0a4-7c3e-7000-8000-000000000001";

    #[test]
    fn ack_builds_an_acknowledgement_with_its_header() {
        let a = ok(act(&[
            "ack",
            CASE,
            "--officer",
            "duty officer",
            "--note",
            "on it",
            "--in-reply-to",
            ID,
            "--language",
            "fr",
            "--language-override",
        ]));
        assert_eq!(a.path(), "/v1/cases/LU-2026-000001/acknowledge");
        assert_eq!(a.kind, Some(MessageKind::Acknowledgement));
        assert_eq!(a.body["fields"]["officer"], "duty officer");
        assert_eq!(a.body["fields"]["note"], "on it");
        assert_eq!(a.body["in_reply_to"], ID);
        assert_eq!(a.body["language"], "fr");
        assert_eq!(a.body["language_override"], true);
        let a = ok(act(&["ack", CASE, "--officer", "x"]));
        assert_eq!(a.body, json!({"fields": {"officer": "x", "note": null}}));
    }

    #[test]
    fn missing_fields_and_a_bad_header_are_all_named() {
        let msg = refusal(act(&[
            "ack",
            CASE,
            "--in-reply-to",
            "nope",
            "--language",
            "French",
        ]));
        assert!(msg.starts_with("acknowledgement refused: "), "{msg}");
        assert!(msg.contains("in_reply_to: "), "{msg}");
        assert!(msg.contains("language: "), "{msg}");
        assert!(msg.contains("officer: missing"), "{msg}");
    }

    #[test]
    fn every_action_names_its_missing_fields() {
        for (cmd, fields) in [
            ("ask", &["questions"][..]),
            ("answer", &["answers"]),
            ("status-report", &["status"]),
            ("delay", &["reason"]),
            ("confidentiality-reply", &["explanation"]),
            ("decide", &["outcome"]),
            ("preservation-insufficient", &["explanation"]),
            ("conditions", &["text"]),
            ("conditions-reply", &["explanation"]),
            ("use-explanation-request", &["text"]),
            ("use-explanation", &["text"]),
            ("use-consent-request", &["purpose"]),
            ("disclosure-notice", &["text"]),
            (
                "disclose-traffic",
                &[
                    "service_provider",
                    "provider_state",
                    "path",
                    "communications",
                ],
            ),
            ("results", &["summary"]),
            ("confirm", &["reference", "channel", "sent_on"]),
            ("extend", &["until", "reason"]),
            ("send-information", &["information", "relevance"]),
        ] {
            let msg = refusal(act(&[cmd, CASE]));
            let expected: Vec<String> = fields.iter().map(|f| format!("{f}: ")).collect();
            for f in &expected {
                assert!(msg.contains(f.as_str()), "{cmd}: {f} not in {msg}");
            }
        }
        for cmd in [
            "status-request",
            "proceed",
            "use-consent",
            "release",
            "withdraw",
            "close",
        ] {
            ok(act(&[cmd, CASE]));
        }
    }

    #[test]
    fn decide_names_what_its_outcome_needs() {
        let msg = refusal(act(&["decide", CASE, "--outcome", "refused"]));
        assert_eq!(
            msg,
            "decision refused: reasons: missing; refusal_ground: missing\n  (flags: --reasons, --refusal-ground)"
        );
        let a = ok(act(&[
            "decide",
            CASE,
            "--outcome",
            "executed",
            "--executed-on",
            "2026-11-24",
            "--preserved-until",
            "2027-01-23",
            "--legal-basis",
            "CIC 48-25",
            "--authorised-by",
            "juge d'instruction",
            "--order-date",
            "2026-11-24",
        ]));
        assert_eq!(a.body["fields"]["outcome"], "executed");
        assert_eq!(a.body["fields"]["preserved_until"], "2027-01-23");
        let msg = refusal(act(&[
            "decide",
            CASE,
            "--outcome",
            "forwarded",
            "--forwarded-to",
            "france",
            "--executed-on",
            "24/11/2026",
        ]));
        assert!(msg.contains("forwarded_to: "), "{msg}");
        assert!(msg.contains("executed_on: "), "{msg}");
        assert!(!msg.contains("forwarded_to: missing"), "{msg}");
    }

    #[test]
    fn confirm_extend_release_withdraw_close_build_their_bodies() {
        let a = ok(act(&[
            "confirm",
            CASE,
            "--reference",
            "CA-LU 2026/123",
            "--channel",
            "central-authority",
            "--sent-on",
            "2026-11-25",
            "--document-sha256",
            &"ab".repeat(32),
        ]));
        assert_eq!(a.kind, Some(MessageKind::FormalConfirmation));
        assert_eq!(a.body["fields"]["channel"], "central_authority");
        let msg = refusal(act(&[
            "confirm",
            CASE,
            "--reference",
            "r",
            "--channel",
            "fax",
            "--sent-on",
            "2026-11-25",
            "--document-sha256",
            "abc",
        ]));
        assert!(msg.contains("document_sha256: "), "{msg}");
        let a = ok(act(&[
            "extend",
            CASE,
            "--until",
            "2027-03-01",
            "--reason",
            "MLA pending",
        ]));
        assert_eq!(a.path(), "/v1/cases/LU-2026-000001/extend");
        let a = ok(act(&["release", CASE, "--reason", "done"]));
        assert_eq!(a.body["fields"]["reason"], "done");
        let a = ok(act(&["withdraw", CASE]));
        assert_eq!(a.kind, Some(MessageKind::Withdrawal));
        let a = ok(act(&["close", CASE, "--note", "settled"]));
        assert_eq!(a.path(), "/v1/cases/LU-2026-000001/close");
        assert_eq!(a.kind, None);
        assert_eq!(a.body, json!({"fields": {"note": "settled"}}));
        assert_eq!(ok(act(&["close", CASE])).body, json!({"fields": {}}));
    }

    #[test]
    fn disclose_traffic_takes_one_communication_by_flags_and_more_by_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("t.toml");
        std::fs::write(
            &path,
            "service_provider = \"Example Telecom\"\nprovider_state = \"BE\"\npath = \"A -> B\"\n\
             in_reply_to = \"0196b0a4-7c3e-7000-8000-000000000001\"\n\
             [[communications]]\norigin = \"203.0.113.7\"\n[[communications]]\norigin = \"x\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let p = path.display().to_string();
        let a = ok(act(&[
            "disclose-traffic",
            CASE,
            "--file",
            &p,
            "--communication-time",
            "14:03 CEST",
            "--path",
            "A -> C",
        ]));
        let f = &a.body["fields"];
        assert_eq!(f["path"], "A -> C");
        assert_eq!(f["communications"][0]["origin"], "203.0.113.7");
        assert_eq!(f["communications"][0]["time"], "14:03 CEST");
        assert_eq!(f["communications"][1]["origin"], "x");
        assert_eq!(a.body["in_reply_to"], ID);
        let a = ok(act(&[
            "disclose-traffic",
            CASE,
            "--service-provider",
            "T",
            "--provider-state",
            "BE",
            "--path",
            "p",
            "--communication-origin",
            "o",
        ]));
        let c = &a.body["fields"]["communications"];
        assert_eq!(c.as_array().map(Vec::len), Some(1), "{c}");
        assert_eq!(c[0]["origin"], "o");
    }

    #[test]
    fn results_name_each_communication_traced_cic_67_1() {
        let a = ok(act(&[
            "results",
            CASE,
            "--summary",
            "tracing of the account",
            "--traced",
            "2026-11-20|14:03:07Z|00:02:11|Luxembourg-Gare, cell 4711",
            "--traced",
            "2026-11-21||00:00:40|",
        ]));
        let c = &a.body["fields"]["communications"];
        assert_eq!(c[0]["place"], "Luxembourg-Gare, cell 4711", "{c}");
        assert_eq!(c[1]["date"], "2026-11-21", "{c}");
        assert!(c[1]["time"].is_null() && c[1]["place"].is_null(), "{c}");
        let msg = refusal(act(&["results", CASE, "--summary", "s", "--traced", "|||"]));
        assert!(msg.contains("communications[0]: missing"), "{msg}");
    }

    #[test]
    fn respond_takes_any_action_from_a_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("d.json");
        std::fs::write(
            &path,
            r#"{"outcome": "postponed", "reasons": "ongoing trial", "language": "fr"}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let p = path.display().to_string();
        let a = ok(act(&["respond", CASE, "decide", "--file", &p]));
        assert_eq!(a.path(), "/v1/cases/LU-2026-000001/decide");
        assert_eq!(a.body["fields"]["outcome"], "postponed");
        assert_eq!(a.body["language"], "fr");
        let msg = refusal(act(&["respond", CASE, "acknowledge", "--file", &p]));
        assert!(msg.contains("unknown keys `outcome`, `reasons`"), "{msg}");
        let msg = refusal(act(&["respond", CASE, "confirm"]));
        assert!(msg.contains("reference: missing"), "{msg}");
        let close = dir.path().join("c.toml");
        std::fs::write(&close, "note = \"done\"\n").unwrap_or_else(|e| panic!("{e}"));
        let c = close.display().to_string();
        let a = ok(act(&["respond", CASE, "close", "--file", &c]));
        assert_eq!(a.body, json!({"fields": {"note": "done"}}));
        assert!(Cli::try_parse_from(["poc247", "respond", CASE, "frobnicate"]).is_err());
    }

    #[test]
    fn record_names_every_missing_field_and_fills_the_defaults() {
        let parse = |args: &[&str]| {
            let mut argv = vec!["poc247", "record"];
            argv.extend_from_slice(args);
            match Cli::try_parse_from(argv).map(|c| c.command) {
                Ok(Command::Record(r)) => r,
                other => panic!("{other:?}"),
            }
        };
        let now = time::macros::datetime!(2026-05-01 12:00 UTC);
        let msg = match record(&parse(&["--from", "france"]), now) {
            Err(f) => f.to_string(),
            Ok(v) => panic!("{v}"),
        };
        assert!(
            msg.starts_with(
                "record refused: channel: missing; kind: missing; summary: missing; from: "
            ),
            "{msg}"
        );
        let v = record(
            &parse(&[
                "--channel",
                "interpol-i247",
                "--from",
                "FR",
                "--kind",
                "emergency-production",
                "--summary",
                "call from the FR duty officer",
                "--oral",
                "--document-sha256",
                &"AB".repeat(32),
            ]),
            now,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let r = &v["record_external"];
        assert_eq!(r["channel"], "interpol_i247");
        assert_eq!(r["kind"], "emergency_production");
        assert_eq!(r["received_at"], "2026-05-01T12:00:00Z");
        assert_eq!(r["urgency"], "urgent");
        assert_eq!(r["language"], "en");
        assert_eq!(r["oral"], true);
        assert_eq!(r["document_sha256"], "ab".repeat(32));
        assert!(r.get("exercise").is_none());
        let msg = match record(
            &parse(&[
                "--received-at",
                "yesterday",
                "--language",
                "French",
                "--document-sha256",
                "x",
            ]),
            now,
        ) {
            Err(f) => f.to_string(),
            Ok(v) => panic!("{v}"),
        };
        for f in [
            "received_at: ",
            "language: ",
            "document_sha256: ",
            "from: missing",
        ] {
            assert!(msg.contains(f), "{f} not in {msg}");
        }
    }

    /// The CLI's commands are the API's action names (`poc247 acknowledge` is
    /// `POST …/acknowledge`); the older short spellings stay as aliases and give the same.
    #[test]
    fn every_api_action_is_a_command_of_the_same_name() {
        let cli = Cli::command();
        for a in poc247_api::ACTIONS {
            let sub = cli.find_subcommand(a.name);
            assert_eq!(sub.map(|c| c.get_name()), Some(a.name), "{}", a.name);
            if let Some(short) = a.command {
                assert_eq!(
                    cli.find_subcommand(short).map(|c| c.get_name()),
                    Some(a.name),
                    "{short}"
                );
            }
            let (Some(kind), Some(short)) = (a.kind, a.command) else {
                continue;
            };
            let by_name = act(&[a.name, CASE]).map(|c| (c.action, c.kind));
            let by_alias = act(&[short, CASE]).map(|c| (c.action, c.kind));
            match (by_name, by_alias) {
                (Ok(x), Ok(y)) => {
                    assert_eq!(x, y, "{short}");
                    assert_eq!(x, (a.name, Some(kind)), "{short}");
                }
                (Err(x), Err(y)) => assert_eq!(x.to_string(), y.to_string()),
                (x, y) => panic!("{} and {short} differ: {x:?} {y:?}", a.name),
            }
        }
    }

    /// Every field of every response kind has its flag on its command.
    #[test]
    fn every_field_of_every_action_has_a_flag() {
        let cli = Cli::command();
        let header = [
            "file",
            "in-reply-to",
            "language",
            "language-override",
            "yes",
            "dry-run",
            "help",
        ];
        // The protocol's one list of actions: each that sends a message has its command.
        for a in poc247_protocol::ACTIONS {
            let Some(kind) = a.kind else { continue };
            let (action, cmd) = (a.name, a.command());
            let sub = cli
                .find_subcommand(cmd)
                .unwrap_or_else(|| panic!("no command for {action}"));
            let mut flags: Vec<String> = sub
                .get_arguments()
                .filter_map(|a| a.get_long())
                .filter(|l| !header.contains(l))
                .map(|l| match l {
                    l if l.starts_with("communication-") => "communications".to_owned(),
                    "traced" => "communications".to_owned(),
                    "attach" => "attachments".to_owned(),
                    l => l.replace('-', "_"),
                })
                .collect();
            flags.sort();
            flags.dedup();
            let mut fields = crate::fields::field_order(kind.as_str());
            fields.sort();
            assert_eq!(flags, fields, "{cmd}");
            // And the command builds that kind for that action.
            match act(&[cmd, CASE]) {
                Ok(a) => assert_eq!((a.action, a.kind), (action, Some(kind)), "{cmd}"),
                Err(f) => assert!(
                    f.to_string().starts_with(&format!("{kind} refused")),
                    "{cmd}"
                ),
            }
        }
    }
}
