//! `--yes` and `--dry-run` of the real `poc247` binary against real nodes: a request or an
//! action whose checks warn is not sent without `--yes` when nobody can be asked (exit 5, the
//! warnings on stderr), and a dry run shows what would be sent and stores nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use poc247_tests::*;
use serde_json::Value;

fn socket(net: &Net, p: &str) -> String {
    net.config(p).unwrap().socket.to_str().unwrap().to_owned()
}

/// `send preservation` to CO in French, which CO does not list: on the officer's override,
/// which warns.
fn overridden<'a>(sock: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "--socket",
        sock,
        "send",
        "preservation",
        "--to",
        "CO",
        "--language",
        "fr",
        "--language-override",
        "--requesting-authority",
        "Parquet de Luxembourg",
        "--offence",
        "computer fraud",
        "--facts",
        "phishing kit collecting bank credentials",
        "--data",
        "mailbox kit-drop@example.co",
        "--relation-to-offence",
        "receives the stolen credentials",
        "--custodian-or-location",
        "ExampleMail, Bogotá",
        "--necessity",
        "logs deleted after 7 days",
        "--mla-intent",
    ];
    a.extend_from_slice(extra);
    a
}

async fn cases_at(net: &Net, p: &str) -> Vec<Value> {
    let body = net.client(p).unwrap().get("/v1/cases").await.unwrap().body;
    body["cases"].as_array().cloned().unwrap_or_default()
}

async fn timeline_len(net: &Net, p: &str, case: &str) -> usize {
    net.case(p, case).await.unwrap()["timeline"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_warns_is_sent_only_with_yes_and_a_dry_run_stores_nothing() {
    let net = Net::embedded().await.unwrap();
    let lu = socket(&net, "LU");

    // Dry run: what would be sent, exit 0, nothing stored.
    let ran = poc247(&overridden(&lu, &["--dry-run"])).await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(
        ran.stdout.contains("dry run: nothing was sent or stored"),
        "{ran:?}"
    );
    assert!(
        ran.stdout
            .contains("would send preservation to CO in a new case"),
        "{ran:?}"
    );
    assert!(ran.stdout.contains("CO does not list"), "{ran:?}");
    assert!(
        ran.stdout.contains("\"offence\": \"computer fraud\""),
        "{ran:?}"
    );
    let ran = poc247(&overridden(&lu, &["--dry-run", "--json"])).await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let v = ran.json();
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["messages"][0]["to"], "CO");
    assert!(cases_at(&net, "LU").await.is_empty());

    // No terminal to ask on, no --yes: the warnings on stderr, exit 5, nothing stored.
    let ran = poc247(&overridden(&lu, &[])).await;
    assert_eq!(ran.code, Some(5), "{ran:?}");
    assert!(
        ran.stderr
            .contains("warning: sent in fr which CO does not list"),
        "{ran:?}"
    );
    assert!(ran.stderr.contains("add --yes"), "{ran:?}");
    assert!(cases_at(&net, "LU").await.is_empty());
    let ran = poc247(&overridden(&lu, &["--json"])).await;
    assert_eq!(ran.code, Some(5), "{ran:?}");
    assert_eq!(ran.json()["error"]["code"], "unconfirmed-warnings");
    assert!(cases_at(&net, "LU").await.is_empty());

    // With --yes: sent, the warning still shown.
    let ran = poc247(&overridden(&lu, &["--yes"])).await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(ran.stdout.contains("queued"), "{ran:?}");
    assert!(ran.stderr.contains("CO does not list"), "{ran:?}");
    let cases = cases_at(&net, "LU").await;
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0]["language_override"], true);
    net.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_takes_dry_run_and_yes() {
    let net = Net::embedded().await.unwrap();
    let mut fr_events = net.events("FR").unwrap();
    let done = net.submit("LU", &preservation_request("FR")).await.unwrap();
    let case = done["case_ref"].as_str().unwrap().to_owned();
    let id = done["message_id"].as_str().unwrap().to_owned();
    wait_for(&mut fr_events, 10, |e| {
        e.kind == poc247_node::events::EventKind::Received
            && e.message_id.map(|m| m.to_string()).as_deref() == Some(&id)
    })
    .await
    .unwrap();
    let fr = socket(&net, "FR");

    let ran = poc247(&[
        "--socket",
        &fr,
        "ack",
        &case,
        "--officer",
        "permanence",
        "--dry-run",
    ])
    .await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(
        ran.stdout
            .contains(&format!("would send acknowledgement to LU in {case}")),
        "{ran:?}"
    );
    assert!(ran.stdout.contains("case would be acknowledged"), "{ran:?}");
    assert_eq!(timeline_len(&net, "FR", &case).await, 1);

    // In Spanish, which LU does not list: exit 5 without --yes, sent with it.
    let spanish = [
        "--socket",
        &fr,
        "ack",
        &case,
        "--officer",
        "permanence",
        "--language",
        "es",
        "--language-override",
    ];
    let ran = poc247(&spanish).await;
    assert_eq!(ran.code, Some(5), "{ran:?}");
    assert!(ran.stderr.contains("LU does not list"), "{ran:?}");
    assert_eq!(timeline_len(&net, "FR", &case).await, 1);
    let mut yes = spanish.to_vec();
    yes.push("--yes");
    let ran = poc247(&yes).await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(ran.stdout.contains("sent acknowledgement"), "{ran:?}");
    assert_eq!(timeline_len(&net, "FR", &case).await, 2);
    net.net.shutdown().await;
}

/// Runs `tmux` with `args`; its standard output.
fn tmux(args: &[&str]) -> String {
    let out = std::process::Command::new("tmux")
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The pane of tmux session `name` once it shows `text` (polled; a test fails after 20 s).
async fn pane_showing(name: &str, text: &str) -> String {
    for _ in 0..200 {
        let pane = tmux(&["capture-pane", "-p", "-t", name]);
        if pane.contains(text) {
            return pane;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "{text:?} never shown: {}",
        tmux(&["capture-pane", "-p", "-t", name])
    );
}

/// Kills the tmux session when the test ends, passed or not.
struct Session(String);

impl Drop for Session {
    fn drop(&mut self) {
        tmux(&["kill-session", "-t", &self.0]);
    }
}

/// Quotes `s` for the shell.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_the_officer_is_asked_and_y_sends_it_anything_else_does_not() {
    let net = Net::embedded().await.unwrap();
    let lu = socket(&net, "LU");
    let args: Vec<String> = overridden(&lu, &[]).iter().map(|a| quoted(a)).collect();
    let command = format!(
        "{} {}; echo \"exit=$?\"; sleep 60",
        env!("CARGO_BIN_EXE_poc247"),
        args.join(" ")
    );
    for (answer, code, cases) in [("n", 5, 0), ("y", 0, 1)] {
        let name = format!("poc247-confirm-{}-{answer}", std::process::id());
        let _session = Session(name.clone());
        tmux(&[
            "new-session",
            "-d",
            "-s",
            &name,
            "-x",
            "200",
            "-y",
            "50",
            "env",
            "-u",
            "POC247_SOCKET",
            "-u",
            "POC247_CONFIG",
            "sh",
            "-c",
            &command,
        ]);
        let pane = pane_showing(&name, "send anyway? [y/N]").await;
        assert!(
            pane.contains("warning: sent in fr which CO does not list"),
            "{pane}"
        );
        assert!(cases_at(&net, "LU").await.is_empty(), "nothing before y");
        tmux(&["send-keys", "-t", &name, answer, "Enter"]);
        let pane = pane_showing(&name, "exit=").await;
        assert!(pane.contains(&format!("exit={code}")), "{pane}");
        assert_eq!(cases_at(&net, "LU").await.len(), cases, "{pane}");
        if answer == "y" {
            assert!(pane.contains("queued"), "{pane}");
        } else {
            assert!(pane.contains("not sent"), "{pane}");
        }
    }
    net.net.shutdown().await;
}
