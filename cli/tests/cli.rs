//! The real `poc247` binary against real nodes: the nodes run in this test process (real QUIC,
//! real sled files in temporary folders), the binary talks to their control sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use poc247_tests::*;
use serde_json::Value;
use std::path::Path;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

fn socket(net: &Net, p: &str) -> String {
    net.config(p).unwrap().socket.to_str().unwrap().to_owned()
}

/// Every field of art. 29(2), as flags.
const FIELDS: [&str; 15] = [
    "--requesting-authority",
    "Parquet de Luxembourg, cabinet d'instruction",
    "--offence",
    "computer fraud (art. 496 Code pénal)",
    "--facts",
    "A phishing kit collected bank credentials of 300 residents.",
    "--data",
    "Mailbox contents and access logs of kit-drop@example.net",
    "--relation-to-offence",
    "The kit mails the stolen credentials to this mailbox.",
    "--custodian-or-location",
    "ExampleMail SAS, 10 rue de l'Exemple, Paris",
    "--necessity",
    "The provider deletes logs after 7 days.",
    "--mla-intent",
];

/// `send <kind> --file FILE` on the node at `sock`.
async fn send_file(sock: &str, kind: &str, file: &Path) -> Ran {
    let file = file.to_str().unwrap();
    poc247(&["--socket", sock, "send", kind, "--file", file]).await
}

fn send_args<'a>(sock: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["--socket", sock, "send", "preservation", "--to", "FR"];
    a.extend_from_slice(&FIELDS);
    a.extend_from_slice(extra);
    a
}

async fn lu_cases(net: &Net) -> Value {
    net.client("LU")
        .unwrap()
        .get("/v1/cases")
        .await
        .unwrap()
        .body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_preservation_with_every_flag_reaches_fr_inbox() {
    let net = Net::embedded().await.unwrap();
    let mut lu_events = net.events("LU").unwrap();
    let lu = socket(&net, "LU");
    let extra = [
        "--urgency",
        "emergency",
        "--emergency-facts",
        "A child is being groomed through this mailbox.",
        "--language",
        "fr",
        "--exercise",
        "--includes-traffic-data",
        "--communication-origin",
        "203.0.113.7",
        "--communication-destination",
        "kit-drop@example.net",
        "--communication-date",
        "2026-05-02",
        "--communication-time",
        "14:03 CEST",
        "--communication-type-of-service",
        "e-mail (SMTP)",
        "--respond-by",
        "2036-12-01",
        "--respond-by-reason",
        "logs are deleted after 7 days",
        "--json",
    ];
    let ran = poc247(&send_args(&lu, &extra)).await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let done = ran.json();
    assert_eq!(done["state"], "queued");
    let id = done["message_id"].as_str().unwrap();
    let case = done["case_ref"].as_str().unwrap();
    wait_delivered(&mut lu_events, id, 10).await.unwrap();

    let fr = socket(&net, "FR");
    let ran = poc247(&["--socket", &fr, "inbox", "--json"]).await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let inbox = ran.json();
    let listed = &inbox["cases"][0];
    assert_eq!(listed["case_ref"], case, "{inbox}");
    assert_eq!(listed["urgency"], "emergency");
    assert_eq!(listed["exercise"], true);

    let at_fr = net.case("FR", case).await.unwrap();
    let body = &at_fr["timeline"][0]["body"];
    assert_eq!(body["communication"]["type_of_service"], "e-mail (SMTP)");
    assert_eq!(body["respond_by"], "2036-12-01");
    assert_eq!(at_fr["timeline"][0]["language"], "fr");

    // The human table of the inbox, and its filters.
    let ran = poc247(&["--socket", &fr, "inbox", "--urgency", "emergency"]).await;
    assert!(
        ran.stdout.contains(case) && ran.stdout.contains("[EXERCISE]"),
        "{ran:?}"
    );
    assert!(ran.stdout.contains("EMERGENCY"), "{ran:?}");
    let ran = poc247(&["--socket", &fr, "inbox", "--peer", "CO", "--json"]).await;
    assert_eq!(ran.json()["cases"], serde_json::json!([]), "{ran:?}");
    let ran = poc247(&["--socket", &lu, "outbox", "--state", "delivered"]).await;
    assert!(ran.stdout.contains("1 case in the outbox"), "{ran:?}");
    net.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_fields_are_refused_before_the_node_is_asked() {
    let net = Net::embedded().await.unwrap();
    let lu = socket(&net, "LU");
    let without_offence: Vec<&str> = FIELDS
        .iter()
        .copied()
        .filter(|a| *a != "--mla-intent")
        .filter(|a| *a != "--offence" && *a != "computer fraud (art. 496 Code pénal)")
        .collect();
    let mut args = vec![
        "--socket",
        lu.as_str(),
        "send",
        "preservation",
        "--to",
        "FR",
    ];
    args.extend(&without_offence);
    let ran = poc247(&args).await;
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(ran.stderr.contains("offence: missing"), "{ran:?}");
    assert!(ran.stderr.contains("mla_intent: must be true"), "{ran:?}");
    assert!(!ran.stderr.contains("requesting_authority"), "{ran:?}");
    assert_eq!(lu_cases(&net).await["cases"], serde_json::json!([]));

    // The local checks come first: the same refusal with no node at all.
    let tmp = tempfile::tempdir().unwrap();
    let nowhere = tmp.path().join("nothing.sock");
    args[1] = nowhere.to_str().unwrap();
    args.push("--json");
    let ran = poc247(&args).await;
    assert_eq!(ran.code, Some(1), "{ran:?}");
    let fields: Vec<String> = ran.json()["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fields, ["offence", "mla_intent"]);

    // What only the node knows is refused by the node, with exit 1 too.
    let mut to_unknown = send_args(&lu, &[]);
    to_unknown[5] = "DE";
    let ran = poc247(&to_unknown).await;
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(
        ran.stderr
            .contains("request refused: to: DE is not in the directory"),
        "{ran:?}"
    );
    assert_eq!(lu_cases(&net).await["cases"], serde_json::json!([]));
    net.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_file_is_sent_and_unknown_keys_are_named() {
    let net = Net::embedded().await.unwrap();
    let mut lu_events = net.events("LU").unwrap();
    let lu = socket(&net, "LU");
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("request.toml");
    std::fs::write(
        &file,
        r#"
to = "FR"
urgency = "routine"
language = "fr"
requesting_authority = "Parquet de Luxembourg"
offence = "escroquerie"
facts = "Une campagne d'hameçonnage."
data = "Journaux de connexion de kit-drop@example.net"
relation_to_offence = "La boîte reçoit les identifiants volés."
custodian_or_location = "ExampleMail SAS, Paris"
necessity = "Journaux effacés après 7 jours."
mla_intent = true
respond_by = 2036-12-01
respond_by_reason = "audience le 2 décembre 2036"
"#,
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let ran = poc247(&[
        "--socket",
        &lu,
        "send",
        "preservation",
        "--file",
        f,
        "--urgency",
        "urgent",
    ])
    .await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(ran.stdout.starts_with("queued LU-"), "{ran:?}");
    assert!(ran.stdout.trim_end().ends_with("to FR"), "{ran:?}");
    let id = ran
        .stdout
        .split("(message ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap()
        .to_owned();
    let delivered = wait_delivered(&mut lu_events, &id, 10).await.unwrap();
    let case = delivered.case_ref.unwrap().to_string();
    let at_fr = net.case("FR", &case).await.unwrap();
    assert_eq!(at_fr["urgency"], "urgent", "the flag overrides the file");
    assert_eq!(at_fr["timeline"][0]["body"]["offence"], "escroquerie");
    assert_eq!(at_fr["timeline"][0]["body"]["respond_by"], "2036-12-01");

    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "to = \"FR\"\noffense = \"typo\"\n").unwrap();
    let ran = send_file(&lu, "preservation", &bad).await;
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(ran.stderr.contains("unknown key `offense`"), "{ran:?}");
    assert_eq!(lu_cases(&net).await["cases"].as_array().unwrap().len(), 1);
    net.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_gives_the_timeline_with_the_verified_receipt() {
    let net = Net::embedded().await.unwrap();
    let mut lu_events = net.events("LU").unwrap();
    let done = net.submit("LU", &preservation_request("FR")).await.unwrap();
    let id = done["message_id"].as_str().unwrap();
    let case = done["case_ref"].as_str().unwrap();
    wait_delivered(&mut lu_events, id, 10).await.unwrap();
    let lu = socket(&net, "LU");

    let ran = poc247(&["--socket", &lu, "show", case, "--json"]).await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let v = ran.json();
    assert_eq!(v["case_ref"], case);
    assert_eq!(v["timeline"][0]["receipt"]["verified"], true);
    assert!(ran.stdout.contains("verified"));

    let ran = poc247(&["--socket", &lu, "show", case]).await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(ran.stdout.contains(&format!("case      {case}")), "{ran:?}");
    // The text fits the width (80 without a terminal): compare it with its lines joined.
    let flat = ran.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("verified ✓, FR key "), "{ran:?}");
    assert!(
        flat.contains("→ sent LU → FR preservation DELIVERED"),
        "{ran:?}"
    );
    assert!(
        flat.contains(&format!(
            "custodian_or_location: {}",
            preservation().custodian_or_location
        )),
        "{ran:?}"
    );

    // FR sees the same case from the other side.
    let fr = socket(&net, "FR");
    let ran = poc247(&["--socket", &fr, "show", case]).await;
    assert!(
        ran.stdout.contains("role      requested (LU asked us)"),
        "{ran:?}"
    );
    assert!(ran.stdout.contains("← received"), "{ran:?}");

    let ran = poc247(&["--socket", &lu, "show", "LU-2026-999999"]).await;
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(ran.stderr.contains("no case LU-2026-999999"), "{ran:?}");

    let ran = poc247(&["--socket", &lu, "status", "--json"]).await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert_eq!(ran.json()["party"], "LU");
    let ran = poc247(&["--socket", &lu, "status"]).await;
    assert!(ran.stdout.contains("node         LU"), "{ran:?}");
    assert!(ran.stdout.contains("FR  connected"), "{ran:?}");
    net.net.shutdown().await;
}

#[tokio::test]
async fn every_command_without_a_node_exits_3() {
    let tmp = tempfile::tempdir().unwrap();
    let absent = tmp.path().join("absent.sock");
    // A socket file left behind by a node that is gone: connecting is refused.
    let stale = tmp.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    for sock in [&absent, &stale] {
        let s = sock.to_str().unwrap();
        let mut commands: Vec<Vec<&str>> = vec![
            vec!["status"],
            vec!["inbox"],
            vec!["outbox", "--json"],
            vec!["show", "LU-2026-000001"],
            vec!["watch"],
            vec!["watch", "--json"],
            vec!["audit", "verify"],
            vec!["audit", "export", "--since", "2026-01-01"],
        ];
        commands.push(send_args(s, &[])[2..].to_vec());
        for cmd in commands {
            let mut args = vec!["--socket", s];
            args.extend(&cmd);
            let ran = poc247(&args).await;
            assert_eq!(ran.code, Some(3), "{cmd:?}: {ran:?}");
            let expected =
                format!("poc247: no node is listening on {s} (is `poc247 run` started?)");
            assert!(ran.stderr.contains(&expected), "{cmd:?}: {ran:?}");
        }
    }
    // The socket of a --config file.
    let net = Net::fresh_prepared(&["LU"]).unwrap();
    let config = net.net.dir().join("lu").join("node.toml");
    let ran = poc247(&["--config", config.to_str().unwrap(), "status"]).await;
    assert_eq!(ran.code, Some(3), "{ran:?}");
    assert!(
        ran.stderr
            .contains(net.config("LU").unwrap().socket.to_str().unwrap()),
        "{ran:?}"
    );
}

#[tokio::test]
async fn usage_errors_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let s = tmp.path().join("x.sock");
    let s = s.to_str().unwrap();
    for args in [
        send_args(s, &["--urgency", "soon"]),
        vec!["--socket", s, "inbox", "--urgency", "soon"],
        vec!["--socket", s, "show", "not-a-case"],
        vec!["send"],
        vec!["run"],
        vec!["dev-network", "--parties", "LU,lux", "--out", s],
        vec!["frobnicate"],
    ] {
        let ran = poc247(&args).await;
        assert_eq!(ran.code, Some(2), "{args:?}: {ran:?}");
    }
    let ran = poc247(&send_args(s, &["--urgency", "soon"])).await;
    assert!(ran.stderr.contains("invalid value 'soon'"), "{ran:?}");
}

#[tokio::test]
async fn demo_delivers_and_shows_the_case_in_fr_inbox() {
    let ran = poc247(&["demo"]).await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(ran.stdout.contains("queued     LU-"), "{ran:?}");
    assert!(
        ran.stdout
            .contains("delivered  (receipt verified, signed by FR key "),
        "{ran:?}"
    );
    assert!(
        ran.stdout.contains("present in FR's inbox as LU-"),
        "{ran:?}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().to_str().unwrap();
    let ran = poc247(&["demo", "--data", data, "--json"]).await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let v = ran.json();
    assert_eq!(
        v["at_requester"]["timeline"][0]["receipt"]["verified"],
        true
    );
    assert_eq!(v["fr_inbox"]["cases"][0]["case_ref"], v["case_ref"]);
    assert!(Path::new(data).join("net/fr/data").is_dir());
    // A second demo in the same folder does not overwrite it.
    let ran = poc247(&["demo", "--data", data]).await;
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(ran.stderr.contains("exists already"), "{ran:?}");
}

#[tokio::test]
async fn dev_network_writes_configs_that_run_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("net");
    let o = out.to_str().unwrap();
    let ran = poc247(&[
        "dev-network",
        "--parties",
        "LU,FR,LU-CA",
        "--out",
        o,
        "--json",
    ])
    .await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let v = ran.json();
    assert_eq!(v["nodes"][2]["party"], "LU-CA");
    assert_eq!(v["nodes"][2]["listen"], "127.0.0.1:47243");
    // Each node pins the development registry key and holds version 1, signed by it, with
    // every Party's entry as that Party's key signed it.
    let dev_registry = poc247_devnet::localnet::dev_registry_key(&out).unwrap();
    for p in ["lu", "fr", "lu-ca"] {
        let cfg = poc247_node::NodeConfig::load(&out.join(p).join("node.toml")).unwrap();
        assert_eq!(cfg.registry_key, dev_registry.verifying_key(), "{p}");
        let v = poc247_node::peers::version_in_force(&cfg).unwrap().unwrap();
        assert_eq!(v.version.serial, 1);
        let directory =
            poc247_node::peers::registry::check(&v, &dev_registry.verifying_key(), None).unwrap();
        assert_eq!(directory.iter().count(), 3);
    }
    let key = std::fs::read_to_string(out.join("registry.key")).unwrap();
    assert!(key.starts_with("# DEVELOPMENT ONLY"), "{key}");
    // Not twice into the same folder.
    let ran = poc247(&["dev-network", "--parties", "LU", "--out", o]).await;
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(ran.stderr.contains("not empty"), "{ran:?}");
}

#[tokio::test]
async fn run_serves_the_control_api_until_sigterm() {
    let mut net = Net::fresh_prepared(&["LU", "FR"]).unwrap();
    net.net.release_ports();
    let config = net.net.dir().join("lu").join("node.toml");
    let config = config.to_str().unwrap();
    let mut child = bin()
        .args(["run", "--config", config, "--log-format", "json"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    // Ready when it says so: no sleeping, no polling.
    loop {
        let line = lines.next_line().await.unwrap().expect("run ended early");
        let v: Value = serde_json::from_str(&line).unwrap();
        if v["fields"]["message"] == "control API ready; Ctrl-C or SIGTERM stops the node" {
            break;
        }
    }
    let ran = poc247(&["--config", config, "status", "--json"]).await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert_eq!(ran.json()["party"], "LU");

    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let mut rest = String::new();
    while let Some(l) = lines.next_line().await.unwrap() {
        rest.push_str(&l);
        rest.push('\n');
    }
    let status = child.wait().await.unwrap();
    assert_eq!(status.code(), Some(0), "{rest}");
    assert!(rest.contains("node stopped"), "{rest}");
    assert!(!net.config("LU").unwrap().socket.exists());

    // A configuration that does not load is refused.
    let bad = net.tmp.path().join("bad.toml");
    std::fs::write(&bad, "party = \"LU\"\n").unwrap();
    let ran = poc247(&["run", "--config", bad.to_str().unwrap()]).await;
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(ran.stderr.contains("bad.toml"), "{ran:?}");
}

/// A socket path where no node listens.
fn dead_socket(tmp: &tempfile::TempDir) -> String {
    tmp.path().join("nothing.sock").to_str().unwrap().to_owned()
}

/// The names of the fields of a `--json` refusal.
fn refused_fields(ran: &Ran) -> Vec<String> {
    ran.json()["error"]["fields"]
        .as_array()
        .unwrap_or_else(|| panic!("no fields: {ran:?}"))
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_send_kind_names_its_missing_fields_without_a_node() {
    let tmp = tempfile::tempdir().unwrap();
    let s = dead_socket(&tmp);
    for (kind, fields) in [
        (
            "preservation",
            &[
                "to",
                "requesting_authority",
                "offence",
                "facts",
                "data",
                "relation_to_offence",
                "custodian_or_location",
                "necessity",
                "mla_intent",
            ][..],
        ),
        (
            "emergency-production",
            &[
                "to",
                "requesting_authority",
                "requested_on",
                "convention_statement",
                "service_providers",
                "offences",
                "legal_provisions",
                "data_description",
                "emergency_facts",
            ],
        ),
        (
            "mutual-assistance",
            &[
                "to",
                "requesting_authority",
                "measure",
                "investigation",
                "facts",
                "assistance_sought",
                "purpose",
                "coercive",
            ],
        ),
        (
            "assistance",
            &[
                "to",
                "requesting_authority",
                "assistance_type",
                "question",
                "offence",
            ],
        ),
        (
            "spontaneous-information",
            &["to", "information", "relevance"],
        ),
        ("information-offer", &["to", "conditions", "relevance"]),
    ] {
        let ran = poc247(&["--socket", &s, "send", kind, "--json"]).await;
        assert_eq!(ran.code, Some(1), "{kind}: {ran:?}");
        assert_eq!(refused_fields(&ran), fields, "{kind}");
        let ran = poc247(&["--socket", &s, "send", kind]).await;
        assert_eq!(ran.code, Some(1), "{kind}: {ran:?}");
        for f in fields {
            assert!(
                ran.stderr.contains(&format!("{f}: ")),
                "{kind} {f}: {ran:?}"
            );
        }
    }
    // An emergency needs its facts whatever the kind.
    let ran = poc247(&[
        "--socket",
        &s,
        "send",
        "assistance",
        "--to",
        "FR",
        "--requesting-authority",
        "SPJ",
        "--assistance-type",
        "suspect-location",
        "--question",
        "where is the server?",
        "--offence",
        "ransomware",
        "--urgency",
        "emergency",
        "--json",
    ])
    .await;
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert_eq!(refused_fields(&ran), ["emergency_facts"]);
}

#[tokio::test]
async fn every_action_names_its_missing_fields_without_a_node() {
    let tmp = tempfile::tempdir().unwrap();
    let s = dead_socket(&tmp);
    let case = "LU-2026-000001";
    for (cmd, fields) in [
        ("ack", &["officer"][..]),
        ("ask", &["questions"]),
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
        let ran = poc247(&["--socket", &s, cmd, case, "--json"]).await;
        assert_eq!(ran.code, Some(1), "{cmd}: {ran:?}");
        assert_eq!(refused_fields(&ran), fields, "{cmd}");
        assert!(ran.stderr.contains(" refused: "), "{cmd}: {ran:?}");
    }
    // What decide needs depends on the outcome; bad values are named too.
    let ran = poc247(&[
        "--socket",
        &s,
        "decide",
        case,
        "--outcome",
        "refused",
        "--executed-on",
        "24/11/2026",
        "--in-reply-to",
        "not-an-id",
        "--json",
    ])
    .await;
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert_eq!(
        refused_fields(&ran),
        ["in_reply_to", "executed_on", "reasons", "refusal_ground"]
    );
    let ran = poc247(&["--socket", &s, "record", "--oral", "--json"]).await;
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert_eq!(refused_fields(&ran), ["channel", "from", "kind", "summary"]);
    // Actions with nothing mandatory pass the local checks: then only the node is missing.
    for cmd in [
        vec!["status-request", case],
        vec!["proceed", case],
        vec!["use-consent", case, "--granted"],
        vec!["release", case],
        vec!["withdraw", case, "--reason", "no longer needed"],
        vec!["close", case, "--note", "settled"],
        vec!["respond", case, "request-status"],
        vec!["ack", case, "--officer", "duty officer"],
        vec![
            "record",
            "--channel",
            "phone",
            "--from",
            "FR",
            "--kind",
            "preservation",
            "--summary",
            "FR duty officer called about a mailbox",
        ],
    ] {
        let mut args = vec!["--socket", s.as_str()];
        args.extend(&cmd);
        let ran = poc247(&args).await;
        assert_eq!(ran.code, Some(3), "{cmd:?}: {ran:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_request_kinds_reach_fr_inbox() {
    let net = Net::embedded().await.unwrap();
    let mut lu_events = net.events("LU").unwrap();
    let lu = socket(&net, "LU");
    for (kind, args) in [
        (
            "assistance",
            vec![
                "--requesting-authority",
                "Police Grand-Ducale, SPJ cybercrime",
                "--assistance-type",
                "technical_advice",
                "--question",
                "How do we read the access logs your providers keep?",
                "--offence",
                "illegal access (art. 509-1 Code pénal)",
                "--facts",
                "-- a line that starts with dashes",
            ],
        ),
        (
            "spontaneous-information",
            vec![
                "--information",
                "A C2 server at 198.51.100.1 controls bots in your territory.",
                "--relevance",
                "It may help you find the victims.",
                "--urgency",
                "routine",
            ],
        ),
    ] {
        let mut argv = vec!["--socket", lu.as_str(), "send", kind, "--to", "FR"];
        argv.extend(&args);
        argv.push("--json");
        let ran = poc247(&argv).await;
        assert_eq!(ran.code, Some(0), "{kind}: {ran:?}");
        let done = ran.json();
        let id = done["message_id"].as_str().unwrap();
        let case = done["case_ref"].as_str().unwrap();
        wait_delivered(&mut lu_events, id, 10).await.unwrap();
        let at_fr = net.case("FR", case).await.unwrap();
        assert_eq!(at_fr["kind"], kind.replace('-', "_"), "{at_fr}");
        let body = &at_fr["timeline"][0]["body"];
        assert_eq!(
            body[args[0].trim_start_matches("--").replace('-', "_")],
            args[1]
        );
    }
    let ran = poc247(&["--socket", &lu, "outbox", "--kind", "assistance"]).await;
    assert!(ran.stdout.contains("1 case in the outbox"), "{ran:?}");
    net.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_prints_the_events_of_a_request_sent_meanwhile() {
    let net = Net::embedded().await.unwrap();
    let lu = socket(&net, "LU");
    let mut child = bin()
        .args(["--socket", &lu, "watch", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    // Ready when it says so: the node has subscribed the stream.
    let ready = tokio::time::timeout_at(deadline, err.next_line())
        .await
        .expect("watch said nothing")
        .unwrap()
        .expect("watch ended early");
    assert!(ready.contains("following the events of"), "{ready}");

    let done = net.submit("LU", &preservation_request("FR")).await.unwrap();
    let id = done["message_id"].as_str().unwrap().to_owned();
    let case = done["case_ref"].as_str().unwrap().to_owned();
    let mut seen = Vec::new();
    while !seen.contains(&"delivered".to_owned()) {
        let line = tokio::time::timeout_at(deadline, out.next_line())
            .await
            .unwrap_or_else(|_| panic!("no delivered event; saw {seen:?}"))
            .unwrap()
            .expect("watch ended early");
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if v["message_id"] == id.as_str() {
            assert_eq!(v["case_ref"], case.as_str(), "{v}");
            assert_eq!(v["message_kind"], "preservation", "{v}");
            assert_eq!(v["peer"], "FR", "{v}");
            seen.push(v["type"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(seen[0], "queued", "{seen:?}");

    // The node stops: watch says so, waits, and follows again once it is back, resuming
    // after the last event it printed.
    let mut net = net;
    net.net.stop_node(&party("LU")).await;
    let said = tokio::time::timeout_at(deadline, err.next_line())
        .await
        .expect("watch said nothing when the node stopped")
        .unwrap()
        .expect("watch ended with the node");
    assert!(said.contains("reconnecting"), "{said}");
    net.net.start_node(&party("LU")).await.unwrap();
    let done = net.submit("LU", &preservation_request("FR")).await.unwrap();
    let id = done["message_id"].as_str().unwrap().to_owned();
    loop {
        let line = tokio::time::timeout_at(deadline, out.next_line())
            .await
            .expect("no event after the node came back")
            .unwrap()
            .expect("watch ended early");
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if v["message_id"] == id.as_str() {
            break;
        }
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
    net.net.shutdown().await;

    let ran = poc247(&["--socket", &lu, "watch"]).await;
    assert_eq!(ran.code, Some(3), "{ran:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verifies_and_exports_json_lines() {
    let net = Net::embedded().await.unwrap();
    let mut lu_events = net.events("LU").unwrap();
    let lu = socket(&net, "LU");
    let done = net.submit("LU", &preservation_request("FR")).await.unwrap();
    wait_delivered(&mut lu_events, done["message_id"].as_str().unwrap(), 10)
        .await
        .unwrap();

    let ran = poc247(&["--socket", &lu, "audit", "verify"]).await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(ran.stdout.starts_with("audit log intact: "), "{ran:?}");
    let ran = poc247(&["--socket", &lu, "audit", "verify", "--json"]).await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let v = ran.json();
    assert_eq!(v["broken"], Value::Null);
    let entries = v["entries"].as_u64().unwrap();
    assert!(entries >= 2, "{v}");

    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("audit.jsonl");
    let f = file.to_str().unwrap();
    let ran = poc247(&["--socket", &lu, "audit", "export", "--out", f]).await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(ran.stdout.starts_with("exported "), "{ran:?}");
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(lines.len() as u64 >= entries, "{text}");
    for (i, e) in lines.iter().enumerate() {
        assert_eq!(e["seq"].as_u64(), Some(i as u64 + 1), "{e}");
        assert!(e["event"].is_string(), "{e}");
    }
    assert!(
        lines.iter().any(|e| e["case_ref"] == done["case_ref"]),
        "{text}"
    );
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "no temporary file left"
    );

    // To stdout, from a position, since a time.
    let ran = poc247(&["--socket", &lu, "audit", "export", "--from", "2"]).await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let first: Value = serde_json::from_str(ran.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(first["seq"], 2);
    let ran = poc247(&["--socket", &lu, "audit", "export", "--since", "2999-01-01"]).await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert_eq!(ran.stdout, "", "{ran:?}");
    let ran = poc247(&["--socket", &lu, "audit", "export", "--since", "yesterday"]).await;
    assert_eq!(ran.code, Some(2), "{ran:?}");
    net.net.shutdown().await;
}

#[tokio::test]
async fn completions_and_usage_errors_of_the_new_commands() {
    let ran = poc247(&["completions", "bash"]).await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(ran.stdout.contains("poc247"), "{ran:?}");
    assert!(ran.stdout.contains("emergency-production"), "{ran:?}");
    for shell in ["zsh", "fish"] {
        assert_eq!(poc247(&["completions", shell]).await.code, Some(0));
    }
    let tmp = tempfile::tempdir().unwrap();
    let s = dead_socket(&tmp);
    for args in [
        vec!["completions", "tcsh"],
        vec!["--socket", &s, "respond", "LU-2026-000001", "frobnicate"],
        vec![
            "--socket",
            &s,
            "decide",
            "LU-2026-000001",
            "--outcome",
            "maybe",
        ],
        vec!["--socket", &s, "ack", "not-a-case", "--officer", "x"],
        vec!["--socket", &s, "record", "--channel", "pigeon"],
        vec!["--socket", &s, "inbox", "--exercise", "maybe"],
        // A misspelt filter never makes the inbox look empty.
        vec!["--socket", &s, "inbox", "--kind", "preservaton"],
        vec!["--socket", &s, "outbox", "--state", "new"],
        vec!["--socket", &s, "audit"],
        vec![
            "--socket",
            &s,
            "send",
            "mutual-assistance",
            "--measure",
            "wiretap",
        ],
    ] {
        let ran = poc247(&args).await;
        assert_eq!(ran.code, Some(2), "{args:?}: {ran:?}");
    }
}

#[tokio::test]
async fn bench_quick_reports_json() {
    let ran = poc247(&["bench", "--quick", "--json"]).await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let v = ran.json();
    assert_eq!(v["single"]["samples"], 100, "{v}");
    assert_eq!(v["levels"].as_array().map(Vec::len), Some(5), "{v}");
    assert!(v["total_delivered"].as_u64().unwrap() >= 100, "{v}");
    // The floor: each part measured, and the sum is what it says.
    let f = &v["floor"];
    for key in [
        "quic_exchanges_per_s",
        "quic_cpu_us",
        "http_posts_per_s",
        "http_cpu_us",
    ] {
        assert!(f[key].as_f64().unwrap() > 0.0, "{key}: {v}");
    }
    let c = &v["ceiling"];
    let sum = 2.0 * c["sign_2k_us"].as_f64().unwrap()
        + 2.0 * c["verify_strict_2k_us"].as_f64().unwrap()
        + 3.0 * f["state_change_us"].as_f64().unwrap()
        + f["quic_cpu_us"].as_f64().unwrap()
        + f["http_cpu_us"].as_f64().unwrap();
    assert!(
        (f["per_request_us"].as_f64().unwrap() - sum).abs() < 1e-6,
        "{v}"
    );
    assert!(ran.stderr.contains("bench: "), "{ran:?}");
}

/// The officer's case commands against real nodes: ack, decide, confirm, pending, stats,
/// close and purge, each with its exit code and output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_officer_works_a_case_from_the_command_line() {
    let net = Net::embedded().await.unwrap();
    let (lu, fr) = (socket(&net, "LU"), socket(&net, "FR"));
    let mut lu_events = net.events("LU").unwrap();
    let mut fr_events = net.events("FR").unwrap();
    let sent = poc247(&send_args(&lu, &["--language", "fr", "--json"])).await;
    assert_eq!(sent.code, Some(0), "{sent:?}");
    let case = sent.json()["case_ref"].as_str().unwrap().to_owned();
    let id = sent.json()["message_id"].as_str().unwrap().to_owned();
    wait_delivered(&mut lu_events, &id, 10).await.unwrap();

    // FR owes an acknowledgement: `pending` says so and names the command.
    let pending = poc247(&["--socket", &fr, "pending"]).await;
    assert_eq!(pending.code, Some(0), "{pending:?}");
    assert!(
        pending.stdout.contains(&case) && pending.stdout.contains("poc247 ack"),
        "{pending:?}"
    );
    // Filtered: FR owes the acknowledgement, LU the formal confirmation; one at a time.
    let ours = poc247(&["--socket", &fr, "pending", "--owed-by", "us", "--json"]).await;
    assert_eq!(ours.code, Some(0), "{ours:?}");
    let owed: Vec<_> = ours.json()["pending"].as_array().unwrap().clone();
    assert!(!owed.is_empty(), "{ours:?}");
    assert!(owed.iter().all(|i| i["owed_by"] == "FR"), "{ours:?}");
    let first = poc247(&[
        "--socket",
        &fr,
        "pending",
        "--owed-by",
        "LU",
        "--limit",
        "1",
    ])
    .await;
    assert_eq!(first.code, Some(0), "{first:?}");
    assert_eq!(first.stdout.matches("owed by LU").count(), 1, "{first:?}");
    let overdue = poc247(&["--socket", &fr, "pending", "--overdue"]).await;
    assert_eq!(overdue.stdout, "nothing pending\n", "{overdue:?}");
    let bad = poc247(&["--socket", &fr, "pending", "--owed-by", "nobody"]).await;
    assert_eq!(bad.code, Some(2), "{bad:?}");
    assert!(bad.stderr.contains("--owed-by"), "{bad:?}");
    let zero = poc247(&["--socket", &fr, "pending", "--limit", "0"]).await;
    assert_eq!(zero.code, Some(2), "{zero:?}");

    let ack = poc247(&[
        "--socket",
        &fr,
        "ack",
        &case,
        "--officer",
        "permanence OCLCTIC",
    ])
    .await;
    assert_eq!(ack.code, Some(0), "{ack:?}");
    assert!(ack.stdout.contains("acknowledged"), "{ack:?}");
    // A second acknowledgement is refused by the lifecycle: exit 1 with the reason.
    let again = poc247(&["--socket", &fr, "ack", &case, "--officer", "x"]).await;
    assert_eq!(again.code, Some(1), "{again:?}");
    assert!(again.stderr.contains("acknowledged already"), "{again:?}");

    let decide = poc247(&[
        "--socket",
        &fr,
        "--json",
        "decide",
        &case,
        "--outcome",
        "executed",
        "--executed-on",
        "2026-11-23",
        "--preserved-until",
        "2027-02-21",
    ])
    .await;
    assert_eq!(decide.code, Some(0), "{decide:?}");
    let mid = decide.json()["message_id"].as_str().unwrap().to_owned();
    wait_for(&mut lu_events, 10, |e| {
        e.message_id.map(|m| m.to_string()) == Some(mid.clone())
    })
    .await
    .unwrap();
    let confirm = poc247(&[
        "--socket",
        &lu,
        "confirm",
        &case,
        "--reference",
        "MLA-LU-17",
        "--channel",
        "central-authority",
        "--sent-on",
        "2026-11-24",
    ])
    .await;
    assert_eq!(confirm.code, Some(0), "{confirm:?}");
    let cid = confirm
        .stdout
        .split("(message ")
        .nth(1)
        .unwrap_or_default()
        .split(')')
        .next()
        .unwrap_or_default()
        .to_owned();
    wait_for(&mut fr_events, 10, |e| {
        e.message_id.map(|m| m.to_string()) == Some(cid.clone())
    })
    .await
    .unwrap();

    let stats = poc247(&["--socket", &fr, "stats", "--csv"]).await;
    assert_eq!(stats.code, Some(0), "{stats:?}");
    assert!(
        stats.stdout.lines().count() >= 2 && stats.stdout.contains("preservation"),
        "{stats:?}"
    );

    let close = poc247(&["--socket", &fr, "close", &case]).await;
    assert_eq!(close.code, Some(0), "{close:?}");
    let show = poc247(&["--socket", &fr, "--json", "show", &case]).await;
    assert_eq!(show.json()["state"], "closed");
    let purge = poc247(&["--socket", &fr, "purge", &case]).await;
    assert_eq!(purge.code, Some(1), "a reason is required: {purge:?}");
    let purge = poc247(&[
        "--socket",
        &fr,
        "purge",
        &case,
        "--reason",
        "retention over",
    ])
    .await;
    assert_eq!(purge.code, Some(0), "{purge:?}");
    let gone = poc247(&["--socket", &fr, "show", &case]).await;
    assert_eq!(gone.code, Some(1), "{gone:?}");
    net.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_with_attach_arrive_and_fetch_rechecks_the_hash_art_31() {
    let net = Net::embedded().await.unwrap();
    let (lu, fr) = (socket(&net, "LU"), socket(&net, "FR"));
    let mut lu_events = net.events("LU").unwrap();
    let assist = serde_json::json!({ "kind": "assistance", "to": "FR", "urgency": "routine", "language": "fr", "fields": { "requesting_authority": "Police grand-ducale", "assistance_type": "technical_advice", "question": "What does this log show?", "offence": "fraud" } });
    let done = net.submit("LU", &assist).await.unwrap();
    let case = done["case_ref"].as_str().unwrap().to_owned();
    wait_delivered(&mut lu_events, done["message_id"].as_str().unwrap(), 10)
        .await
        .unwrap();
    // A relative --attach is read from the CLI's folder and uploaded.
    let dir = net.tmp.path();
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(dir.join("access.log"), &bytes).unwrap();
    let mut cmd = bin();
    cmd.current_dir(dir).args([
        "--socket",
        &fr,
        "--json",
        "results",
        &case,
        "--summary",
        "access log of the account",
        "--attach",
        "access.log",
    ]);
    let out = cmd.output().await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let view = net.case("FR", &case).await.unwrap().to_string();
    let sha = view
        .split("\"sha256\":\"")
        .nth(1)
        .map(|s| s[..64].to_owned())
        .unwrap_or_else(|| panic!("{view}"));
    // Once LU holds it, `fetch` writes it.
    let target = dir.join("out.log");
    let t = target.to_str().unwrap();
    let mut fetched = None;
    for _ in 0..200 {
        let ran = poc247(&["--socket", &lu, "fetch", &case, &sha, "--out", t]).await;
        if ran.code == Some(0) {
            fetched = Some(ran);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let ran = fetched.expect("fetched within 10 s");
    assert!(ran.stdout.contains(&sha), "{ran:?}");
    assert_eq!(std::fs::read(&target).unwrap(), bytes);
    // An existing file is not overwritten; an unknown attachment is refused (exit 1).
    let again = poc247(&["--socket", &lu, "fetch", &case, &sha, "--out", t]).await;
    assert_eq!(again.code, Some(1), "{again:?}");
    let other = "0f".repeat(32);
    let t2 = dir.join("none").to_str().unwrap().to_owned();
    let none = poc247(&["--socket", &lu, "fetch", &case, &other, "--out", &t2]).await;
    assert_eq!(none.code, Some(1), "{none:?}");
    assert!(!dir.join("none").exists());
    net.net.shutdown().await;
}

#[tokio::test]
async fn bench_attachment_reports_its_rate_against_raw_quic() {
    let ran = poc247(&["bench", "--attachment", "8MiB", "--json"]).await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let r = ran.json();
    assert_eq!(r["bytes"], 8 << 20);
    assert!(r["mb_per_s"].as_f64().unwrap() > 0.0, "{r}");
    assert!(r["raw_quic_mb_per_s"].as_f64().unwrap() > 0.0, "{r}");
    let bad = poc247(&["bench", "--attachment", "lots"]).await;
    assert_eq!(bad.code, Some(1), "{bad:?}");
}

/// Waits until `sender` holds the peer's receipt for attachment `sha` of message `id`.
async fn attachment_receipted(net: &Net, sender: &str, id: &str, sha: &str) {
    let id: poc247_protocol::MessageId = id.parse().unwrap();
    let hash = poc247_protocol::parse_sha256_hex(sha).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let node = net.net.node(&party(sender)).unwrap();
        if node.attachments().receipt(id, &hash).unwrap().is_some() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no receipt for {sha} within 15 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The first attachment `p`'s view of `case` lists: its SHA-256 and name.
async fn first_attachment(net: &Net, p: &str, case: &str) -> (String, String) {
    let view = net.case(p, case).await.unwrap();
    let a = &view["timeline"][0]["body"]["attachments"][0];
    let text = |k: &str| {
        a[k].as_str()
            .unwrap_or_else(|| panic!("no {k}: {view}"))
            .to_owned()
    };
    (text("sha256"), text("name"))
}

/// Whether stderr shows any trace of a progress bar or spinner.
fn drew_progress(stderr: &str) -> bool {
    stderr.contains('\r')
        || stderr.contains('\u{1b}')
        || stderr.contains("uploading")
        || stderr.contains("the node copies")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_with_attach_arrives_and_the_receiver_fetches_the_same_bytes_then_purges_it() {
    let net = Net::embedded().await.unwrap();
    let (lu, fr) = (socket(&net, "LU"), socket(&net, "FR"));
    let dir = net.tmp.path();
    let bytes: Vec<u8> = (0..400_000u32).map(|i| (i * 13 % 251) as u8).collect();
    std::fs::write(dir.join("headers.eml"), &bytes).unwrap();
    // A relative --attach; no progress drawn when stderr is not a terminal, even at once.
    let mut cmd = bin();
    cmd.current_dir(dir)
        .env("POC247_PROGRESS_DELAY_MS", "0")
        .args(send_args(&lu, &["--attach", "headers.eml", "--json"]));
    let out = cmd.output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(!drew_progress(&stderr), "{stderr:?}");
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    let case = done["case_ref"].as_str().unwrap().to_owned();
    let id = done["message_id"].as_str().unwrap().to_owned();
    let (sha, name) = first_attachment(&net, "LU", &case).await;
    assert_eq!(name, "headers.eml");
    attachment_receipted(&net, "LU", &id, &sha).await;
    // The signed request lists it at FR, and `fetch` writes the same bytes.
    assert_eq!(
        first_attachment(&net, "FR", &case).await,
        (sha.clone(), name)
    );
    let target = dir.join("fetched.eml");
    let t = target.to_str().unwrap();
    let mut cmd = bin();
    cmd.env("POC247_PROGRESS_DELAY_MS", "0")
        .args(["--socket", &fr, "fetch", &case, &sha, "--out", t]);
    let out = cmd.output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(!drew_progress(&stderr), "{stderr:?}");
    assert_eq!(std::fs::read(&target).unwrap(), bytes);
    // FR purges that one attachment: its copy is gone and fetching says why.
    let held = net
        .config("FR")
        .unwrap()
        .data_dir
        .join("attachments")
        .join(&sha);
    assert!(held.is_file());
    let purge = poc247(&[
        "--socket",
        &fr,
        "purge",
        &case,
        "--attachment",
        &sha,
        "--reason",
        "headers of a person not targeted",
    ])
    .await;
    assert_eq!(purge.code, Some(0), "{purge:?}");
    assert!(purge.stdout.contains("purged attachment"), "{purge:?}");
    assert!(!held.exists());
    let t2 = dir.join("again.eml").to_str().unwrap().to_owned();
    let gone = poc247(&["--socket", &fr, "fetch", &case, &sha, "--out", &t2]).await;
    assert_eq!(gone.code, Some(1), "{gone:?}");
    assert!(gone.stderr.contains("purged"), "{gone:?}");
    let bad = poc247(&[
        "--socket",
        &fr,
        "purge",
        &case,
        "--attachment",
        "xyz",
        "--reason",
        "r",
    ])
    .await;
    assert_eq!(bad.code, Some(1), "{bad:?}");
    // An information offer takes no files (art. 26(2)): a usage error.
    let offer = poc247(&[
        "--socket",
        &lu,
        "send",
        "information-offer",
        "--attach",
        "headers.eml",
    ])
    .await;
    assert_eq!(offer.code, Some(2), "{offer:?}");
    net.net.shutdown().await;
}

/// Runs the binary with `args` under a pseudo-terminal (`script`): what the terminal showed.
async fn on_a_terminal(args: &[&str]) -> (Option<i32>, String) {
    let quote = |a: &str| format!("'{}'", a.replace('\'', "'\\''"));
    let line: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_poc247"))
        .chain(args.iter().copied())
        .map(quote)
        .collect();
    let out = Command::new("script")
        .args(["-qefc", &line.join(" "), "/dev/null"])
        .env_remove("POC247_SOCKET")
        .env_remove("POC247_CONFIG")
        .env_remove("RUST_LOG")
        .env("POC247_PROGRESS_DELAY_MS", "0")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_shows_on_a_terminal_for_attach_and_fetch() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("note: `script` is not installed; progress on a terminal was not checked");
        return;
    }
    let net = Net::embedded().await.unwrap();
    let (lu, fr) = (socket(&net, "LU"), socket(&net, "FR"));
    let file = net.tmp.path().join("disk-image.bin");
    let bytes: Vec<u8> = (0..(3u32 << 20)).map(|i| (i * 7 % 253) as u8).collect();
    std::fs::write(&file, &bytes).unwrap();
    let path = file.to_str().unwrap();
    let (code, shown) = on_a_terminal(&send_args(&lu, &["--attach", path])).await;
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("uploading disk-image.bin"), "{shown:?}");
    let case = lu_cases(&net).await["cases"][0]["case_ref"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(shown.contains(&case), "{shown:?}");
    let view = net.case("LU", &case).await.unwrap();
    let id = view["timeline"][0]["id"].as_str().unwrap().to_owned();
    let (sha, _) = first_attachment(&net, "LU", &case).await;
    attachment_receipted(&net, "LU", &id, &sha).await;
    let out = net.tmp.path().join("copy.bin");
    let (code, shown) = on_a_terminal(&[
        "--socket",
        &fr,
        "fetch",
        &case,
        &sha,
        "--out",
        out.to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("copy.bin ["), "{shown:?}");
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    // With --json nothing is drawn, terminal or not.
    let again = net.tmp.path().join("again.bin");
    let (code, shown) = on_a_terminal(&[
        "--socket",
        &fr,
        "--json",
        "fetch",
        &case,
        &sha,
        "--out",
        again.to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, Some(0), "{shown}");
    assert!(!shown.contains("again.bin ["), "{shown:?}");
    net.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attached_file_over_the_limit_is_refused_before_its_bytes_are_read() {
    let net = Net::embedded().await.unwrap();
    let lu = socket(&net, "LU");
    // One byte over the default 2 GiB per file, sparse: refused against the limit the node
    // states in its status, before a byte is uploaded; the request is never sent.
    let file = net.tmp.path().join("disk.img");
    let f = std::fs::File::create(&file).unwrap();
    f.set_len((2u64 << 30) + 1).unwrap();
    let ran = poc247(&send_args(&lu, &["--attach", file.to_str().unwrap()])).await;
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(
        ran.stderr.contains("disk.img") && ran.stderr.contains("is over the limit"),
        "{ran:?}"
    );
    assert_eq!(lu_cases(&net).await["cases"], serde_json::json!([]));
    let held: Vec<_> = std::fs::read_dir(net.config("LU").unwrap().data_dir.join("attachments"))
        .unwrap()
        .collect();
    assert!(held.is_empty(), "{held:?}");
    net.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_file_names_attachments_beside_it_and_attach_adds_to_them() {
    let net = Net::embedded().await.unwrap();
    let lu = socket(&net, "LU");
    let dir = net.tmp.path().join("case-files");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("headers.eml"), "Received: from 203.0.113.7\n").unwrap();
    std::fs::write(
        net.tmp.path().join("extra.log"),
        "login 2026-11-20T03:12Z\n",
    )
    .unwrap();
    let file = dir.join("request.toml");
    std::fs::write(
        &file,
        r#"to = "FR"
requesting_authority = "Parquet de Luxembourg"
offence = "escroquerie"
facts = "Phishing kit."
data = "Logs of kit-drop@example.fr"
relation_to_offence = "The kit mails the credentials there."
custodian_or_location = "ExampleMail SAS"
necessity = "Logs go after 7 days."
mla_intent = true
attachments = ["headers.eml"]
"#,
    )
    .unwrap();
    // Run from another folder: the file's paths are relative to the file.
    let extra = net.tmp.path().join("extra.log");
    let mut cmd = bin();
    cmd.current_dir(std::env::temp_dir()).args([
        "--socket",
        &lu,
        "send",
        "preservation",
        "--file",
        file.to_str().unwrap(),
        "--attach",
        extra.to_str().unwrap(),
    ]);
    let out = cmd.output().await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let case = lu_cases(&net).await["cases"][0]["case_ref"]
        .as_str()
        .unwrap()
        .to_owned();
    let view = net.case("LU", &case).await.unwrap();
    let names: Vec<&str> = view["timeline"][0]["body"]["attachments"]
        .as_array()
        .unwrap_or_else(|| panic!("{view}"))
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(names, ["headers.eml", "extra.log"], "{view}");
    // Not a list of paths: refused, naming the key; nothing sent.
    std::fs::write(&file, "to = \"FR\"\nattachments = \"headers.eml\"\n").unwrap();
    let ran = send_file(&lu, "preservation", &file).await;
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(
        ran.stderr.contains("`attachments` is a list of file paths"),
        "{ran:?}"
    );
    // An information offer carries no files (art. 26(2)): the key is unknown there.
    std::fs::write(&file, "to = \"FR\"\nattachments = [\"headers.eml\"]\n").unwrap();
    let ran = send_file(&lu, "information-offer", &file).await;
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(ran.stderr.contains("unknown key `attachments`"), "{ran:?}");
    assert_eq!(lu_cases(&net).await["cases"].as_array().unwrap().len(), 1);
    net.net.shutdown().await;
}

/// `pending` prints its first page and how to go on; `--cursor` goes on, `--all` prints every
/// page (and `--json` with it, one document), and a cursor the node did not give is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_prints_a_page_says_how_to_go_on_and_all_prints_every_page() {
    let net = Net::embedded().await.unwrap();
    let (lu, fr) = (socket(&net, "LU"), socket(&net, "FR"));
    let mut lu_events = net.events("LU").unwrap();
    for _ in 0..3 {
        let sent = poc247(&send_args(&lu, &["--language", "fr", "--json"])).await;
        assert_eq!(sent.code, Some(0), "{sent:?}");
        let id = sent.json()["message_id"].as_str().unwrap().to_owned();
        wait_delivered(&mut lu_events, &id, 10).await.unwrap();
    }
    let whole = poc247(&["--socket", &fr, "pending", "--json"]).await;
    assert_eq!(whole.code, Some(0), "{whole:?}");
    let items = whole.json()["pending"].as_array().unwrap().clone();
    assert!(items.len() >= 3, "{whole:?}");
    assert_eq!(whole.json()["total"], items.len());

    let first = poc247(&["--socket", &fr, "pending", "--limit", "1"]).await;
    assert_eq!(first.code, Some(0), "{first:?}");
    assert_eq!(first.stdout.matches("owed by").count(), 1, "{first:?}");
    let cursor = first
        .stdout
        .split("\nCURSOR ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .unwrap_or_else(|| panic!("no cursor said: {first:?}"))
        .to_owned();
    assert!(first.stdout.contains("(or --all)"), "{first:?}");
    let second = poc247(&[
        "--socket", &fr, "pending", "--limit", "1", "--cursor", &cursor, "--json",
    ])
    .await;
    assert_eq!(second.code, Some(0), "{second:?}");
    assert_eq!(second.json()["pending"][0], items[1], "{second:?}");

    let all = poc247(&[
        "--socket", &fr, "pending", "--limit", "1", "--all", "--json",
    ])
    .await;
    assert_eq!(all.code, Some(0), "{all:?}");
    assert_eq!(all.json()["pending"].as_array().unwrap(), &items, "{all:?}");
    let text = poc247(&["--socket", &fr, "pending", "--limit", "1", "--all"]).await;
    assert_eq!(text.code, Some(0), "{text:?}");
    assert_eq!(
        text.stdout.matches("owed by").count(),
        items.len(),
        "{text:?}"
    );
    assert!(!text.stdout.contains("CURSOR"), "{text:?}");

    let forged = poc247(&[
        "--socket",
        &fr,
        "pending",
        "--cursor",
        "6869.000000000000000000000000",
    ])
    .await;
    // `inbox --all` the same way: every page, in order, as one page of all gives them.
    let inbox = poc247(&["--socket", &fr, "inbox", "--json"]).await;
    let cases = inbox.json()["cases"].as_array().unwrap().clone();
    assert_eq!(cases.len(), 3, "{inbox:?}");
    let all = poc247(&["--socket", &fr, "inbox", "--limit", "1", "--all", "--json"]).await;
    assert_eq!(all.code, Some(0), "{all:?}");
    assert_eq!(all.json()["cases"].as_array().unwrap(), &cases, "{all:?}");
    let text = poc247(&["--socket", &fr, "inbox", "--limit", "1", "--all"]).await;
    assert_eq!(text.code, Some(0), "{text:?}");
    for c in &cases {
        let case = c["case_ref"].as_str().unwrap();
        assert_eq!(text.stdout.matches(case).count(), 1, "{case}: {text:?}");
    }
    assert!(!text.stdout.contains("--cursor"), "{text:?}");

    // As `inbox --cursor`: the node's 400 `bad-request`, naming the cursor.
    assert_eq!(forged.code, Some(4), "{forged:?}");
    assert!(forged.stderr.contains("cursor: not a cursor"), "{forged:?}");
    net.net.shutdown().await;
}
