//! What the officer reads is readable on any terminal: it fits the width (the terminal's,
//! `COLUMNS`, else 80), has colour only on a terminal and never with `NO_COLOR`, shows times
//! as local time and how far from now (never raw milliseconds), and `stats` is a table.
//! The real binary against real nodes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use poc247_tests::*;
use tokio::io::{AsyncBufReadExt, BufReader};

fn socket(net: &Net, p: &str) -> String {
    net.config(p).unwrap().socket.to_str().unwrap().to_owned()
}

/// Runs the binary with `args` and `env` set (stdout a pipe).
async fn with_env(env: &[(&str, &str)], args: &[&str]) -> Ran {
    let mut c = bin();
    c.env_remove("NO_COLOR").env_remove("COLUMNS");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.args(args).output().await.unwrap();
    Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs the binary under a pseudo-terminal of `columns` columns (`script`): what it showed.
async fn on_a_terminal(env: &[(&str, &str)], columns: u16, args: &[&str]) -> String {
    let quote = |a: &str| format!("'{}'", a.replace('\'', "'\\''"));
    let line: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_poc247"))
        .chain(args.iter().copied())
        .map(quote)
        .collect();
    let mut c = tokio::process::Command::new("script");
    c.args([
        "-qefc",
        &format!("stty cols {columns} rows 50; {}", line.join(" ")),
        "/dev/null",
    ])
    .env_remove("POC247_SOCKET")
    .env_remove("POC247_CONFIG")
    .env_remove("NO_COLOR")
    .env_remove("COLUMNS")
    .stdin(std::process::Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().await.unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The longest run of digits in `s`, SHA-256 hashes (64 hex digits) and message ids (UUIDs,
/// whose last group of 12 hex digits is now and then all decimal) left out.
fn longest_number(s: &str) -> usize {
    let is_uuid = |w: &str| {
        let groups: Vec<&str> = w.split('-').collect();
        groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
            && groups
                .iter()
                .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
    };
    s.split_whitespace()
        .filter(|w| !(w.len() >= 64 && w.chars().take(64).all(|c| c.is_ascii_hexdigit())))
        .filter(|w| !is_uuid(w))
        .flat_map(|w| w.split(|c: char| !c.is_ascii_digit()))
        .map(str::len)
        .max()
        .unwrap_or(0)
}

fn widest(s: &str) -> usize {
    s.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_show_pending_and_stats_fit_the_width_and_colour_only_a_terminal() {
    let net = Net::embedded().await.unwrap();
    let mut lu_events = net.events("LU").unwrap();
    let lu = socket(&net, "LU");
    let fr = socket(&net, "FR");
    let tmp = tempfile::tempdir().unwrap();
    let evidence = tmp.path().join("phishing-kit-access-log-2026-11.txt");
    std::fs::write(&evidence, b"203.0.113.7 - - [01/Nov/2026] GET /kit\n").unwrap();
    // An emergency exercise request with a file: the widest row and show there are.
    let mut request = preservation_request("FR");
    request["urgency"] = "emergency".into();
    request["exercise"] = true.into();
    request["fields"]["emergency_facts"] = "a child is held; the kidnapper uses it".into();
    let done = net.submit("LU", &request).await.unwrap();
    wait_delivered(&mut lu_events, done["message_id"].as_str().unwrap(), 20)
        .await
        .unwrap();
    let case = done["case_ref"].as_str().unwrap().to_owned();
    let ev = evidence.to_str().unwrap();
    let sent = poc247(&[
        "--socket",
        &fr,
        "ack",
        &case,
        "--officer",
        "night duty officer of the permanence",
    ])
    .await;
    assert_eq!(sent.code, Some(0), "{sent:?}");
    let sent = poc247(&[
        "--socket",
        &lu,
        "send",
        "assistance",
        "--to",
        "FR",
        "--language",
        "fr",
        "--requesting-authority",
        "Police grand-ducale, Service de police judiciaire, section nouvelles technologies",
        "--assistance-type",
        "technical_advice",
        "--offence",
        "illegal access",
        "--question",
        "Which of your hosts does this log line show?",
        "--attach",
        ev,
    ])
    .await;
    assert_eq!(sent.code, Some(0), "{sent:?}");
    let with_file = sent
        .stdout
        .split_whitespace()
        .find(|w| w.starts_with("LU-"))
        .unwrap()
        .to_owned();

    let commands: Vec<Vec<&str>> = vec![
        vec!["inbox"],
        vec!["outbox"],
        vec!["show", &case],
        vec!["show", &with_file],
        vec!["pending"],
        vec!["stats"],
        vec!["status"],
        vec!["peers"],
    ];
    for cmd in &commands {
        let at_fr = cmd[0] != "outbox";
        let sock = if at_fr { fr.as_str() } else { lu.as_str() };
        let mut args = vec!["--socket", sock];
        args.extend_from_slice(cmd);
        // Piped, with COLUMNS: no line wider, no escape, no raw milliseconds.
        for columns in ["80", "60"] {
            let ran = with_env(&[("COLUMNS", columns)], &args).await;
            assert_eq!(ran.code, Some(0), "{cmd:?}: {ran:?}");
            let width: usize = columns.parse().unwrap();
            assert!(
                widest(&ran.stdout) <= width,
                "{cmd:?} is wider than {columns}:\n{}",
                ran.stdout
            );
            assert!(!ran.stdout.contains('\u{1b}'), "{cmd:?}: {}", ran.stdout);
            assert!(
                longest_number(&ran.stdout) < 12,
                "{cmd:?} prints a raw time:\n{}",
                ran.stdout
            );
        }
        // Without COLUMNS and without a terminal: 80.
        let ran = with_env(&[], &args).await;
        assert!(widest(&ran.stdout) <= 80, "{cmd:?}:\n{}", ran.stdout);
    }

    // The inbox at 80 columns still says everything: the case, EMERGENCY, the exercise mark,
    // when it was opened in local time and how long ago.
    let inbox = with_env(&[("COLUMNS", "80")], &["--socket", &fr, "inbox"]).await;
    for part in [case.as_str(), "EMERGENCY", "[EXERCISE]", " ago)", "(now)"] {
        let found = inbox.stdout.contains(part)
            || (part == " ago)" && inbox.stdout.contains("(now)"))
            || (part == "(now)" && inbox.stdout.contains(" ago)"));
        assert!(found, "{part}: {}", inbox.stdout);
    }

    // show lists the attachments as a table, with where each transfer stands: received at
    // FR, delivered (FR's receipt held) at LU, once the file has crossed.
    for (sock, state) in [(&fr, "received"), (&lu, "delivered")] {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let v = poc247(&["--socket", sock, "show", &with_file, "--json"])
                .await
                .json();
            let got = v["timeline"][0]["attachment_transfers"][0]["state"].clone();
            if got == state {
                break;
            }
            assert!(std::time::Instant::now() < end, "never {state}: {v}");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        let show = with_env(
            &[("COLUMNS", "200")],
            &["--socket", sock, "show", &with_file],
        )
        .await;
        let row = show.stdout.lines().find(|l| l.contains("phishing-kit"));
        assert!(row.is_some_and(|r| r.contains(state)), "{}", show.stdout);
    }
    let show = with_env(
        &[("COLUMNS", "200")],
        &["--socket", &fr, "show", &with_file],
    )
    .await;
    let header = show
        .stdout
        .lines()
        .find(|l| l.contains("NAME"))
        .unwrap_or("");
    assert!(
        header.contains("SIZE") && header.contains("TRANSFER") && header.contains("SHA-256"),
        "{}",
        show.stdout
    );
    let sha = sha256_file(&evidence).unwrap();
    let row = show
        .stdout
        .lines()
        .find(|l| l.contains(&sha))
        .unwrap_or_else(|| panic!("no row for the file: {}", show.stdout));
    assert!(row.contains("phishing-kit-access-log-2026-11.txt"), "{row}");
    assert!(row.contains("39 B"), "{row}");

    // stats is a table of counts, not JSON.
    let stats = with_env(&[], &["--socket", &fr, "stats"]).await;
    assert!(!stats.stdout.contains('{'), "{}", stats.stdout);
    let head = stats
        .stdout
        .lines()
        .find(|l| l.starts_with("KIND"))
        .unwrap();
    for col in ["ROLE", "STATE", "OUTCOME", "CASES"] {
        assert!(head.contains(col), "{}", stats.stdout);
    }
    assert!(
        stats
            .stdout
            .lines()
            .any(|l| l.starts_with("assistance") && l.contains("requested")),
        "{}",
        stats.stdout
    );

    // On a terminal: colour for the emergency, the terminal's width; NO_COLOR takes it away,
    // and so does --json.
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok()
    {
        let args = ["--socket", fr.as_str(), "inbox"];
        let shown = on_a_terminal(&[], 70, &args).await;
        assert!(shown.contains("\u{1b}[1;31mEMERGENCY"), "{shown:?}");
        let plain = shown.replace("\u{1b}[1;31m", "").replace("\u{1b}[0m", "");
        assert!(widest(&plain) <= 70, "{plain}");
        let shown = on_a_terminal(&[("NO_COLOR", "1")], 70, &args).await;
        assert!(!shown.contains('\u{1b}'), "{shown:?}");
        assert!(shown.contains("EMERGENCY"), "{shown:?}");
        let shown = on_a_terminal(&[], 70, &["--socket", fr.as_str(), "inbox", "--json"]).await;
        assert!(!shown.contains('\u{1b}'), "{shown:?}");
        assert!(shown.contains("\"opened_at\""), "{shown:?}");
    }
    net.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_prints_local_times_and_how_long_ago_never_milliseconds() {
    let net = Net::embedded().await.unwrap();
    let lu = socket(&net, "LU");
    let mut child = bin()
        .args(["--socket", &lu, "watch"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let ready = tokio::time::timeout_at(deadline, err.next_line())
        .await
        .expect("watch said nothing")
        .unwrap()
        .expect("watch ended early");
    assert!(ready.contains("following the events of"), "{ready}");
    let done = net.submit("LU", &preservation_request("FR")).await.unwrap();
    let case = done["case_ref"].as_str().unwrap().to_owned();
    let mut lines = Vec::new();
    while !lines.iter().any(|l: &String| l.contains("delivered")) {
        let line = tokio::time::timeout_at(deadline, out.next_line())
            .await
            .unwrap_or_else(|_| panic!("no delivered event; saw {lines:?}"))
            .unwrap()
            .expect("watch ended early");
        lines.push(line);
    }
    for line in lines.iter().filter(|l| l.contains(&case)) {
        assert!(longest_number(line) < 12, "a raw time: {line}");
        // `YYYY-MM-DD HH:MM (now)`: local time, and how far from now.
        let (date, rest) = line.split_once(' ').unwrap();
        assert_eq!(date.len(), 10, "{line}");
        assert_eq!(date.matches('-').count(), 2, "{line}");
        assert!(rest.get(5..).unwrap_or("").starts_with(" (now)"), "{line}");
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
    net.net.shutdown().await;
}
