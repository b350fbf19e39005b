//! A new request (`send <kind>`) from a `--file` and flags (flags win), checked here with the
//! protocol's own validation before the node is asked, so that every missing or bad field is
//! named at once.

use crate::args::body::{BodyFlags, Extras};
use crate::args::requests::{
    CommunicationArgs, EmergencyProductionExtras, PreservationExtras, RequestArgs, SendArgs,
    SendCommand,
};
use crate::failure::Failure;
use crate::fields::{self, given, invalid};
use poc247_api::{Recipients, RequestBody, SendMode};
use poc247_protocol::{Body, FieldError, Language, MessageKind, PartyId, Problem, Urgency};
use serde_json::{json, Map, Value};

/// The keys of a request file that belong to the header, not to the body.
const HEADER_KEYS: [&str; 5] = ["to", "urgency", "language", "exercise", "language_override"];
/// A header key only `emergency_production` takes.
const SUBSCRIBER_ONLY_OVERRIDE: &str = "subscriber_only_override";

/// Urgency when neither a flag nor the file gives one.
pub const DEFAULT_URGENCY: Urgency = Urgency::Urgent;
/// Language when neither a flag nor the file gives one.
pub const DEFAULT_LANGUAGE: &str = "en";

/// A request checked and ready for `POST /v1/requests`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The requested Parties: one, or several for the kinds that may go to several at once.
    pub to: Vec<PartyId>,
    /// Urgency.
    pub urgency: Urgency,
    /// Language of the free text.
    pub language: Language,
    /// Training traffic.
    pub exercise: bool,
    /// Send in a language the recipient does not list.
    pub language_override: bool,
    /// Send a subscriber-only emergency production to a Party that declared it does not
    /// execute those.
    pub subscriber_only_override: bool,
    /// The body.
    pub body: Body,
    /// Files to attach (`--attach`), as given.
    pub attach: Vec<std::path::PathBuf>,
    /// `--yes`, `--dry-run`.
    pub confirm: crate::args::ConfirmArgs,
}

impl Request {
    /// The body of `POST /v1/requests`: `to` is a list only when there are several
    /// recipients, and the overrides are there only when set.
    pub fn to_json(&self) -> Value {
        let fields = match self.body.to_json() {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let body = RequestBody {
            kind: self.body.kind(),
            to: Recipients::of(&self.to),
            urgency: self.urgency,
            language: self.language.clone(),
            exercise: self.exercise,
            language_override: self.language_override,
            subscriber_only_override: self.subscriber_only_override,
            fields,
            attachments: Vec::new(),
            mode: SendMode::default(),
        };
        let mut v = serde_json::to_value(&body).unwrap_or(Value::Null);
        if !self.attach.is_empty() {
            v["attachments"] = crate::attach::paths_json(&self.attach);
        }
        crate::action::add_confirm(&mut v, self.confirm);
        v
    }
}

/// Whether a request of `kind` may go to several Parties at once (docs/requests.md
/// `spontaneous_information`: an alert, one case per recipient).
pub fn multi_recipient(kind: MessageKind) -> bool {
    matches!(
        kind,
        MessageKind::SpontaneousInformation | MessageKind::InformationOffer
    )
}

/// One communication from its flags (`None` when no flag was given).
pub fn communication(c: &CommunicationArgs) -> Option<Value> {
    let m = given(c);
    (!m.is_empty()).then_some(Value::Object(m))
}

/// `--service-provider "NAME|ADDRESS"`: split at the first `|`; without one, the address is
/// missing and validation says so (`service_providers[0].address: missing`).
pub fn service_provider(s: &str) -> Value {
    let (name, address) = s.split_once('|').unwrap_or((s, ""));
    json!({ "name": name.trim(), "address": address.trim() })
}

impl Extras for PreservationExtras {
    fn fields(&self, fields: &mut Map<String, Value>) {
        if let Some(c) = communication(&self.communication) {
            fields.insert("communication".into(), c);
        }
    }
    fn attach(&self) -> &[std::path::PathBuf] {
        &self.files.attach
    }
}

impl Extras for EmergencyProductionExtras {
    fn fields(&self, fields: &mut Map<String, Value>) {
        if !self.service_providers.is_empty() {
            let list = self
                .service_providers
                .iter()
                .map(|s| service_provider(s))
                .collect();
            fields.insert("service_providers".into(), Value::Array(list));
        }
    }
    fn attach(&self) -> &[std::path::PathBuf] {
        &self.files.attach
    }
    fn subscriber_only_override(&self) -> bool {
        self.subscriber_only_override
    }
}

/// What a `send` command gives: its kind, its header, the body fields its flags give, the
/// subscriber-only override and the files of `--attach`.
struct Given<'a> {
    kind: MessageKind,
    request: &'a RequestArgs,
    fields: Map<String, Value>,
    subscriber_only_override: bool,
    attach: &'a [std::path::PathBuf],
}

fn given_by<const K: usize, X: Extras + clap::Args>(a: &SendArgs<K, X>) -> Given<'_> {
    let mut fields = a.fields.given.clone();
    a.extras.fields(&mut fields);
    Given {
        kind: BodyFlags::<K>::kind(),
        request: &a.request,
        fields,
        subscriber_only_override: a.extras.subscriber_only_override(),
        attach: a.extras.attach(),
    }
}

/// The flags of a `send` command.
fn flags(cmd: &SendCommand) -> Given<'_> {
    match cmd {
        SendCommand::Preservation(a) => given_by(a),
        SendCommand::EmergencyProduction(a) => given_by(a),
        SendCommand::MutualAssistance(a) => given_by(a),
        SendCommand::Assistance(a) => given_by(a),
        SendCommand::SpontaneousInformation(a) => given_by(a),
        SendCommand::InformationOffer(a) => given_by(a),
    }
}

/// "a preservation request", "an emergency_production request".
fn what(kind: MessageKind) -> String {
    let article = if kind.as_str().starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {kind} request")
}

/// Builds and checks the request of a `send` command. Reads `--file` if given.
pub fn build(cmd: &SendCommand) -> Result<Request, Failure> {
    let Given {
        kind,
        request: common,
        fields: flag_fields,
        subscriber_only_override: subscriber_override,
        attach: flag_attach,
    } = flags(cmd);
    let (file, mut attach) = match &common.file {
        Some(path) => {
            let mut header = HEADER_KEYS.to_vec();
            if kind == MessageKind::EmergencyProduction {
                header.push(SUBSCRIBER_ONLY_OVERRIDE);
            }
            if kind.carries_attachments() {
                header.push("attachments");
            }
            let mut keys = fields::read_file(path, &header, Some(kind), &what(kind))?;
            let attach = crate::attach::from_file(&mut keys, path)?;
            (keys, attach)
        }
        None => (Map::new(), Vec::new()),
    };
    let mut request = assemble(kind, common, subscriber_override, file, flag_fields)?;
    // The files of `--attach` follow those of the file's `attachments`.
    attach.extend_from_slice(flag_attach);
    request.attach = attach;
    Ok(request)
}

/// The recipients: the flags' if any, else the file's (text, or a list of texts).
fn recipients(
    kind: MessageKind,
    flags: &[String],
    file: Option<Value>,
    errors: &mut Vec<FieldError>,
) -> Option<Vec<PartyId>> {
    let given: Vec<String> = if !flags.is_empty() {
        flags.to_vec()
    } else {
        match file {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => vec![s],
            Some(Value::Array(a)) if a.iter().all(Value::is_string) => a
                .into_iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            Some(other) => {
                errors.push(invalid(
                    "to",
                    format!("must be a Party or a list of them, not {other}"),
                ));
                return None;
            }
        }
    };
    let given: Vec<&str> = given
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .collect();
    if given.is_empty() {
        errors.insert(
            0,
            FieldError {
                field: "to".into(),
                problem: Problem::Missing,
            },
        );
        return None;
    }
    if given.len() > 1 && !multi_recipient(kind) {
        errors.push(invalid(
            "to",
            format!(
                "{} goes to one Party; only spontaneous_information and information_offer go \
                 to several at once",
                what(kind)
            ),
        ));
        return None;
    }
    let mut to: Vec<PartyId> = Vec::new();
    let mut ok = true;
    for t in given {
        // Party codes in any case: `--to fr` is FR.
        match PartyId::parse(&t.to_ascii_uppercase()) {
            Ok(p) if to.contains(&p) => {
                errors.push(invalid("to", format!("{p} is named twice")));
                ok = false;
            }
            Ok(p) => to.push(p),
            Err(e) => {
                errors.push(invalid("to", e.to_string()));
                ok = false;
            }
        }
    }
    ok.then_some(to)
}

/// Puts the file and the flags together (flags win, field by field, also inside
/// `communication`) and checks the result.
fn assemble(
    kind: MessageKind,
    flags: &RequestArgs,
    subscriber_override: bool,
    mut file: Map<String, Value>,
    flag_fields: Map<String, Value>,
) -> Result<Request, Failure> {
    let mut errors = Vec::new();
    let file_to = file.remove("to");
    let file_urgency = fields::take_text(&mut file, "urgency", &mut errors);
    let file_language = fields::take_text(&mut file, "language", &mut errors);
    let file_exercise = fields::take_bool(&mut file, "exercise", &mut errors);
    let file_language_override = fields::take_bool(&mut file, "language_override", &mut errors);
    let file_subscriber_override =
        fields::take_bool(&mut file, SUBSCRIBER_ONLY_OVERRIDE, &mut errors);

    let to = recipients(kind, &flags.to, file_to, &mut errors);
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

    let all = fields::merge(file, flag_fields);
    let body = match urgency {
        Some(u) => fields::check(kind, all, u)
            .map_err(|mut fs| errors.append(&mut fs))
            .ok(),
        // Without an urgency, the rules that depend on it cannot be checked: the rest can.
        None => fields::check(kind, all, Urgency::Routine)
            .map_err(|mut fs| errors.append(&mut fs))
            .ok(),
    };
    match (to, urgency, language, body) {
        (Some(to), Some(urgency), Some(language), Some(body)) if errors.is_empty() => Ok(Request {
            to,
            urgency,
            language,
            exercise: flags.exercise || file_exercise,
            language_override: flags.language_override || file_language_override,
            subscriber_only_override: subscriber_override || file_subscriber_override,
            body,
            attach: Vec::new(),
            confirm: flags.confirm,
        }),
        _ => Err(Failure::invalid_fields(&errors)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command};
    use clap::{CommandFactory, Parser};

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

    fn send_kind(kind: &str, args: &[&str]) -> Result<Request, Failure> {
        let mut argv = vec!["poc247", "send", kind];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{e}"));
        let Command::Send(cmd) = cli.command else {
            panic!("not send");
        };
        build(&cmd)
    }

    fn send(args: &[&str]) -> Result<Request, Failure> {
        send_kind("preservation", args)
    }

    fn ok(r: Result<Request, Failure>) -> Request {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    fn refusal(r: Result<Request, Failure>) -> String {
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
    fn every_flag_makes_a_complete_request_with_the_defaults() {
        let r = ok(send(&ALL));
        assert_eq!(r.to[0].as_str(), "FR");
        assert_eq!(r.urgency, Urgency::Urgent);
        assert_eq!(r.language.as_str(), "en");
        assert!(!r.exercise);
        let j = r.to_json();
        assert_eq!(j["kind"], "preservation");
        assert_eq!(j["to"], "FR");
        assert_eq!(j["fields"]["offence"], "fraud");
        assert_eq!(j["fields"]["mla_intent"], true);
        assert!(j.get("language_override").is_none(), "{j}");
        assert!(j.get("subscriber_only_override").is_none(), "{j}");
        assert!(j.get("confirm_warnings").is_none(), "{j}");
        assert!(j.get("dry_run").is_none(), "{j}");
    }

    #[test]
    fn yes_and_dry_run_become_confirm_warnings_and_dry_run() {
        let mut args = ALL.to_vec();
        args.extend_from_slice(&["--yes", "--dry-run"]);
        let j = ok(send(&args)).to_json();
        assert_eq!(j["confirm_warnings"], true, "{j}");
        assert_eq!(j["dry_run"], true, "{j}");
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
        // `fr` would be FR: a code that is no party's.
        args[1] = "f1";
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
        let r = ok(send(&args));
        assert_eq!(
            r.to_json()["fields"]["communication"]["origin"],
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
language_override = true
requesting_authority = "Parquet"
offence = "fraude"
facts = "hameçonnage"
data = "boîte aux lettres"
relation_to_offence = "reçoit les identifiants"
custodian_or_location = "ExampleMail SAS"
necessity = "journaux effacés après 7 jours"
mla_intent = true
respond_by = 2026-11-23
respond_by_reason = "audience le 24 novembre"
[communication]
origin = "203.0.113.7"
"#,
        );
        let r = ok(send(&[
            "--file",
            &path,
            "--offence",
            "escroquerie",
            "--communication-date",
            "2026-05-02",
        ]));
        assert_eq!(r.urgency, Urgency::Routine);
        assert_eq!(r.language.as_str(), "fr");
        assert!(r.exercise);
        assert!(r.language_override);
        let j = r.to_json();
        assert_eq!(j["language_override"], true);
        assert_eq!(j["fields"]["offence"], "escroquerie");
        assert_eq!(j["fields"]["facts"], "hameçonnage");
        assert_eq!(j["fields"]["respond_by"], "2026-11-23");
        assert_eq!(j["fields"]["communication"]["origin"], "203.0.113.7");
        assert_eq!(j["fields"]["communication"]["date"], "2026-05-02");
        let r = ok(send(&[
            "--file",
            &path,
            "--urgency",
            "urgent",
            "--language",
            "de",
        ]));
        assert_eq!(r.urgency, Urgency::Urgent);
        assert_eq!(r.language.as_str(), "de");
    }

    #[test]
    fn unknown_keys_in_a_file_are_all_named() {
        let (_d, path) = file("req.toml", "to = \"FR\"\ncolour = \"red\"\nsize = 3\n");
        let msg = refusal(send(&["--file", &path]));
        assert!(msg.contains("unknown keys `colour`, `size`"), "{msg}");
        assert!(msg.contains("a preservation request takes to, "), "{msg}");
        // The subscriber-only override belongs to emergency production only.
        let (_d, path) = file("req.toml", "subscriber_only_override = true\n");
        let msg = refusal(send(&["--file", &path]));
        assert!(
            msg.contains("unknown key `subscriber_only_override`"),
            "{msg}"
        );
        let msg = refusal(send_kind("emergency-production", &["--file", &path]));
        assert!(!msg.contains("unknown key"), "{msg}");
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
        assert!(msg.contains("facts: missing"), "{msg}");
    }

    #[test]
    fn an_unreadable_or_malformed_file_is_refused() {
        let msg = refusal(send(&["--file", "/no/such/request.toml"]));
        assert!(msg.contains("cannot read file"), "{msg}");
        let (_d, path) = file("req.toml", "to = \n");
        let msg = refusal(send(&["--file", &path]));
        assert!(msg.contains("file "), "{msg}");
        let (_d2, path) = file("req.json", "[1, 2]");
        let msg = refusal(send(&["--file", &path]));
        assert!(msg.contains("expected a table"), "{msg}");
    }

    #[test]
    fn emergency_production_takes_service_providers_and_the_override() {
        let r = ok(send_kind(
            "emergency-production",
            &[
                "--to",
                "FR",
                "--requesting-authority",
                "Police Grand-Ducale, SPJ",
                "--requested-on",
                "2026-11-23",
                "--convention-statement",
                "--service-provider",
                "ExampleMail SAS | 10 rue de l'Exemple, Paris",
                "--service-provider",
                "Example Telecom|1 Example Street, Brussels",
                "--offences",
                "kidnapping",
                "--legal-provisions",
                "Code pénal art. 368: 5 to 10 years",
                "--data-description",
                "login IP addresses since 2026-11-20",
                "--emergency-facts",
                "child abducted, ransom mail from this account",
                "--subscriber-only",
                "--subscriber-only-override",
                "--urgency",
                "emergency",
            ],
        ));
        let j = r.to_json();
        assert_eq!(j["kind"], "emergency_production");
        assert_eq!(j["subscriber_only_override"], true);
        assert_eq!(j["fields"]["subscriber_only"], true);
        assert_eq!(
            j["fields"]["service_providers"],
            json!([
                {"name": "ExampleMail SAS", "address": "10 rue de l'Exemple, Paris"},
                {"name": "Example Telecom", "address": "1 Example Street, Brussels"}
            ])
        );
        let msg = refusal(send_kind(
            "emergency-production",
            &["--service-provider", "ExampleMail SAS"],
        ));
        for f in [
            "to: missing",
            "requesting_authority: missing",
            "requested_on: missing",
            "convention_statement: must be true",
            "service_providers[0].address: missing",
            "offences: missing",
            "legal_provisions: missing",
            "data_description: missing",
            "emergency_facts: missing",
        ] {
            assert!(msg.contains(f), "{f} not in {msg}");
        }
    }

    #[test]
    fn mutual_assistance_takes_its_closed_sets_and_links() {
        let r = ok(send_kind(
            "mutual-assistance",
            &[
                "--to",
                "FR-CA",
                "--requesting-authority",
                "Parquet de Luxembourg",
                "--measure",
                "stored-data-access",
                "--investigation",
                "fraud, juge d'instruction",
                "--facts",
                "phishing",
                "--assistance-sought",
                "mailbox content",
                "--purpose",
                "trial",
                "--coercive",
                "yes",
                "--data-volatile",
                "--confidential",
                "--preservation-case",
                "LU-2026-000001",
                "--persons",
                "Jane Doe",
            ],
        ));
        let f = &r.to_json()["fields"];
        assert_eq!(f["measure"], "stored_data_access");
        assert_eq!(f["coercive"], true);
        assert_eq!(f["preservation_case"], "LU-2026-000001");
        let msg = refusal(send_kind(
            "mutual-assistance",
            &["--preservation-case", "42", "--urgency", "emergency"],
        ));
        for f in [
            "preservation_case: ",
            "requesting_authority: missing",
            "measure: missing",
            "investigation: missing",
            "facts: missing",
            "assistance_sought: missing",
            "purpose: missing",
            "emergency_facts: missing",
        ] {
            assert!(msg.contains(f), "{f} not in {msg}");
        }
    }

    #[test]
    fn assistance_names_its_fields() {
        let msg = refusal(send_kind("assistance", &["--to", "FR"]));
        assert_eq!(
            msg,
            "request refused: requesting_authority: missing; assistance_type: missing; \
             question: missing; offence: missing\n  \
             (flags: --requesting-authority, --assistance-type, --question, --offence)"
        );
        let r = ok(send_kind(
            "assistance",
            &[
                "--to",
                "FR",
                "--requesting-authority",
                "SPJ",
                "--assistance-type",
                "technical_advice",
                "--question",
                "log format?",
                "--offence",
                "illegal access",
                "--facts",
                "x",
            ],
        ));
        assert_eq!(r.to_json()["fields"]["assistance_type"], "technical_advice");
    }

    #[test]
    fn spontaneous_information_goes_to_several_parties_as_a_list() {
        let args = [
            "--to",
            "FR,CO",
            "--to",
            "DE",
            "--information",
            "C2 at 198.51.100.1",
            "--relevance",
            "victims in your territory",
        ];
        let r = ok(send_kind("spontaneous-information", &args));
        assert_eq!(r.to_json()["to"], json!(["FR", "CO", "DE"]));
        let msg = refusal(send_kind("spontaneous-information", &["--to", "FR,FR"]));
        assert!(msg.contains("to: FR is named twice"), "{msg}");
        assert!(msg.contains("information: missing"), "{msg}");
        assert!(msg.contains("relevance: missing"), "{msg}");
        let mut pres = ALL.to_vec();
        pres[1] = "FR,CO";
        let msg = refusal(send(&pres));
        assert!(msg.contains("goes to one Party"), "{msg}");
        let (_d, path) = file(
            "offer.toml",
            "to = [\"FR\", \"CO\"]\nconditions = \"confidential\"\nrelevance = \"r\"\n",
        );
        let r = ok(send_kind("information-offer", &["--file", &path]));
        assert_eq!(r.to.len(), 2);
        assert_eq!(r.to_json()["fields"]["conditions"], "confidential");
        let msg = refusal(send_kind("information-offer", &["--to", "FR"]));
        assert_eq!(
            msg,
            "request refused: conditions: missing; relevance: missing\n  \
             (flags: --conditions, --relevance)"
        );
    }

    /// Every field of every request kind has its flag (`--field-name`); nested ones as
    /// documented: `--service-provider`, `--communication-*`.
    #[test]
    fn every_field_of_every_request_kind_has_a_flag() {
        let cli = Cli::command();
        let send = cli
            .find_subcommand("send")
            .unwrap_or_else(|| panic!("send"));
        let header = [
            "to",
            "urgency",
            "language",
            "language-override",
            "exercise",
            "file",
            "subscriber-only-override",
            "yes",
            "dry-run",
            "help",
        ];
        for kind in MessageKind::ALL.iter().filter(|k| k.is_request()) {
            let name = kind.as_str().replace('_', "-");
            let sub = send
                .find_subcommand(&name)
                .unwrap_or_else(|| panic!("no send {name}"));
            let mut flags: Vec<String> = sub
                .get_arguments()
                .filter_map(|a| a.get_long())
                .filter(|l| !header.contains(l))
                .map(|l| match l {
                    "service-provider" => "service_providers".to_owned(),
                    "attach" => "attachments".to_owned(),
                    l if l.starts_with("communication-") => "communication".to_owned(),
                    l => l.replace('-', "_"),
                })
                .collect();
            flags.sort();
            flags.dedup();
            let mut fields = crate::fields::field_order(kind.as_str());
            // Set by the nodes for a copy or a forward (art. 27(9)), never by an officer.
            fields.retain(|f| f != "relayed");
            fields.sort();
            assert_eq!(flags, fields, "{kind}");
        }
    }
}
