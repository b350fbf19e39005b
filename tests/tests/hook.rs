//! The hook command (`[hook]`): a program run for each event with the event's JSON on its
//! stdin, on real nodes. A hook that hangs is killed at its timeout and never holds up
//! deliveries; a failing hook is run `retries` more times, no more.

use poc247_node::events::EventKind;
use poc247_node::hook::{HookConfig, HookSettings};
use poc247_tests::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Writes an executable shell script `name` into `dir`.
fn script(dir: &Path, name: &str, body: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n"))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(path)
}

/// Starts the embedded network, LU's node with the hook `settings`.
async fn start_with_hook(mut net: Net, settings: &HookSettings) -> anyhow::Result<Net> {
    let mut cfg = net.config("LU")?;
    let hook = HookConfig::from_settings(settings, net.tmp.path()).map_err(anyhow::Error::msg)?;
    cfg.hook = Some(hook);
    net.net.start_node_with(&party("LU"), cfg).await?;
    net.net.start_node(&party("FR")).await?;
    Ok(net)
}

/// The embedded network with LU's node running the shell script `body` as its hook (the
/// output file as its argument) and FR's node plain.
async fn net_with_hook(
    body: &str,
    tune: impl FnOnce(&mut HookSettings),
) -> anyhow::Result<(Net, PathBuf)> {
    let net = Net::embedded_prepared()?;
    let out = net.tmp.path().join("hook.out");
    let prog = script(net.tmp.path(), "hook.sh", body)?;
    let mut settings = HookSettings {
        command: vec![prog.display().to_string(), out.display().to_string()],
        ..HookSettings::default()
    };
    tune(&mut settings);
    Ok((start_with_hook(net, &settings).await?, out))
}

/// One of the example hooks of the repository.
fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/hooks")
        .join(name)
        .display()
        .to_string()
}

fn message_id(done: &serde_json::Value) -> String {
    done["message_id"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hook_gets_each_event_of_its_types_as_json_on_stdin() -> anyhow::Result<()> {
    let (net, out) = net_with_hook("cat >> \"$1\"", |s| {
        s.types = Some(vec!["queued".into(), "delivered".into()]);
    })
    .await?;
    let mut rx = net.events("LU")?;
    let id = message_id(&net.submit("LU", &preservation_request("FR")).await?);
    wait_delivered(&mut rx, &id, 10).await?;
    let lines = wait_file(&out, 10, |lines| {
        lines
            .iter()
            .any(|l| l.contains("\"delivered\"") && l.contains(&id))
    })
    .await?;
    let events: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l))
        .collect::<Result<_, _>>()?;
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types, ["queued", "delivered"], "only the types asked for");
    for e in &events {
        assert_eq!(e["message_id"], id.as_str());
        assert!(e["seq"].as_u64().is_some() && e["at"].as_u64().is_some());
        assert_eq!(e["message_kind"], "preservation");
        assert!(!e.to_string().contains(&preservation().facts), "ids only");
    }
    assert!(events[0]["seq"].as_u64() < events[1]["seq"].as_u64());
    net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_hook_does_not_hold_up_deliveries_and_is_killed_at_shutdown() -> anyhow::Result<()>
{
    let (mut net, out) = net_with_hook(
        "echo \"$POC247_EVENT_TYPE $$\" >> \"$1\"; exec sleep 60",
        |s| {
            s.timeout_ms = 60_000;
            s.retries = 0;
            s.types = Some(vec!["queued".into()]);
        },
    )
    .await?;
    let mut rx = net.events("LU")?;
    let a = message_id(&net.submit("LU", &preservation_request("FR")).await?);
    let lines = wait_file(&out, 10, |l| !l.is_empty()).await?;
    let pid = lines[0].split(' ').nth(1).unwrap_or_default().to_owned();
    // The hook hangs on the first event; the node goes on.
    wait_delivered(&mut rx, &a, 10).await?;
    let b = message_id(&net.submit("LU", &preservation_request("FR")).await?);
    wait_delivered(&mut rx, &b, 10).await?;
    let lines = std::fs::read_to_string(&out)?;
    assert_eq!(lines.lines().count(), 1, "still on its first run: {lines}");
    assert!(Path::new(&format!("/proc/{pid}")).exists());

    let started = Instant::now();
    net.net.stop_node(&party("LU")).await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "shutdown did not wait for the hook's timeout"
    );
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "the hook was killed"
    );
    net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_past_its_timeout_is_killed_and_tried_again() -> anyhow::Result<()> {
    let (net, out) = net_with_hook(
        "echo \"$POC247_EVENT_SEQ $$\" >> \"$1\"; exec sleep 60",
        |s| {
            s.timeout_ms = 300;
            s.retries = 1;
            s.backoff_ms = 10;
            s.types = Some(vec!["queued".into()]);
        },
    )
    .await?;
    let mut rx = net.events("LU")?;
    let a = message_id(&net.submit("LU", &preservation_request("FR")).await?);
    let lines = wait_file(&out, 10, |l| l.len() >= 2).await?;
    let runs: Vec<(&str, &str)> = lines.iter().filter_map(|l| l.split_once(' ')).collect();
    assert_eq!(runs[0].0, runs[1].0, "the same event, tried again");
    assert!(
        !Path::new(&format!("/proc/{}", runs[0].1)).exists(),
        "the first run was killed before the second began"
    );
    // Deliveries went on meanwhile; the next event is passed once this one is given up.
    wait_delivered(&mut rx, &a, 10).await?;
    let b = message_id(&net.submit("LU", &preservation_request("FR")).await?);
    wait_delivered(&mut rx, &b, 10).await?;
    let lines = wait_file(&out, 10, |l| l.len() >= 4).await?;
    assert_ne!(lines[2].split(' ').next(), Some(runs[0].0));
    net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_hook_is_run_again_retries_times_then_given_up() -> anyhow::Result<()> {
    let (net, out) = net_with_hook("echo \"$POC247_EVENT_SEQ\" >> \"$1\"; exit 1", |s| {
        s.retries = 2;
        s.backoff_ms = 10;
        s.types = Some(vec!["delivered".into()]);
    })
    .await?;
    let mut rx = net.events("LU")?;
    let a = message_id(&net.submit("LU", &preservation_request("FR")).await?);
    let first = wait_delivered(&mut rx, &a, 10).await?.seq.to_string();
    let b = message_id(&net.submit("LU", &preservation_request("FR")).await?);
    let second = wait_delivered(&mut rx, &b, 10).await?.seq.to_string();
    // One event at a time: once the second event's runs are there, the first's are over.
    let lines = wait_file(&out, 10, |l| {
        l.iter().filter(|s| **s == second).count() == 3
    })
    .await?;
    let expected: Vec<String> = [&first; 3]
        .into_iter()
        .chain([&second; 3])
        .cloned()
        .collect();
    assert_eq!(lines, expected, "1 run + 2 retries per event, in order");
    net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_that_gives_up_raises_an_alarm_in_events_status_pending_and_metrics(
) -> anyhow::Result<()> {
    // The pager fails while the file `down` exists.
    let (net, out) = net_with_hook("[ ! -e \"$1.down\" ] || exit 7; echo ok >> \"$1\"", |s| {
        s.retries = 1;
        s.backoff_ms = 10;
        s.types = Some(vec!["delivered".into()]);
    })
    .await?;
    let down = PathBuf::from(format!("{}.down", out.display()));
    std::fs::write(&down, "")?;
    let mut rx = net.events("LU")?;
    let lu = net.client("LU")?;
    net.submit("LU", &preservation_request("FR")).await?;
    let alarm = wait_for(&mut rx, 10, |e| {
        matches!(&e.kind, EventKind::HookFailed { event_type, runs: 2, reason, .. }
            if event_type == "delivered" && reason.contains('7'))
    })
    .await?;
    assert!(alarm.case_ref.is_none());
    let status = lu.get("/v1/status").await?.body;
    assert_eq!(status["hook"]["failing"], true, "{status}");
    let pending = lu.get("/v1/pending").await?.body;
    assert_eq!(pending["alarms"][0]["alarm"], "hook_failing", "{pending}");
    let metrics = lu.get_text("/metrics").await?.text;
    assert!(metrics.contains("poc247_hook_failing 1"), "{metrics}");
    assert!(
        metrics.contains("poc247_hook_events_failed_total 1"),
        "{metrics}"
    );
    // Fixed: the next event it takes clears the alarm.
    std::fs::remove_file(&down)?;
    net.submit("LU", &preservation_request("FR")).await?;
    wait_file(&out, 10, |l| l.len() == 1).await?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let status = lu.get("/v1/status").await?.body;
        if status["hook"]["failing"] == false {
            break;
        }
        anyhow::ensure!(std::time::Instant::now() < deadline, "{status}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let pending = lu.get("/v1/pending").await?.body;
    assert_eq!(pending["alarms"], serde_json::json!([]), "{pending}");
    net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_page_to_file_hook_writes_a_line_per_event() -> anyhow::Result<()> {
    let net = Net::embedded_prepared()?;
    let out = net.tmp.path().join("pages.log");
    let settings = HookSettings {
        command: vec![example("page-to-file.sh"), out.display().to_string()],
        types: Some(vec!["queued".into(), "delivered".into()]),
        ..HookSettings::default()
    };
    let net = start_with_hook(net, &settings).await?;
    let mut rx = net.events("LU")?;
    let done = net.submit("LU", &preservation_request("FR")).await?;
    wait_delivered(&mut rx, &message_id(&done), 10).await?;
    let lines = wait_file(&out, 10, |l| l.len() >= 2).await?;
    let case = done["case_ref"].as_str().unwrap_or_default();
    for (line, kind) in lines.iter().zip(["queued", "delivered"]) {
        let cells: Vec<&str> = line.split(' ').collect();
        assert_eq!(cells.len(), 4, "{line}");
        assert!(cells[0].ends_with('Z') && cells[0].contains('T'), "{line}");
        assert_eq!(&cells[1..3], [kind, case]);
        assert!(cells[3].starts_with("seq="));
    }
    net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_page_by_mail_hook_hands_a_mail_to_sendmail_and_fails_with_it(
) -> anyhow::Result<()> {
    let net = Net::embedded_prepared()?;
    // The host's sendmail, played by a script that keeps what it is given.
    let inbox = net.tmp.path().join("mail");
    let sendmail = script(
        net.tmp.path(),
        "sendmail",
        &format!(
            "[ ! -e \"{0}.down\" ] || exit 75; echo \"args: $*\" >> \"{0}\"; cat >> \"{0}\"",
            inbox.display()
        ),
    )?;
    std::env::set_var("POC247_SENDMAIL", &sendmail);
    let settings = HookSettings {
        command: vec![example("page-by-mail.sh"), "duty@example.org".into()],
        types: Some(vec!["delivered".into()]),
        retries: 0,
        ..HookSettings::default()
    };
    let net = start_with_hook(net, &settings).await?;
    let mut rx = net.events("LU")?;
    let done = net.submit("LU", &preservation_request("FR")).await?;
    wait_delivered(&mut rx, &message_id(&done), 10).await?;
    let case = done["case_ref"].as_str().unwrap_or_default().to_owned();
    let lines = wait_file(&inbox, 10, |l| l.iter().any(|x| x.starts_with("Details:"))).await?;
    let mail = lines.join("\n");
    assert!(mail.contains("args: -i -t"), "{mail}");
    assert!(mail.contains("To: duty@example.org"), "{mail}");
    assert!(
        mail.contains(&format!("Subject: [poc247 LU] delivered {case}")),
        "{mail}"
    );
    assert!(
        mail.contains("preservation urgent"),
        "the case's kind and urgency: {mail}"
    );
    assert!(!mail.contains("phishing"), "no request text: {mail}");
    // An emergency says so first in the subject.
    let mut emergency = preservation_request("FR");
    emergency["urgency"] = "emergency".into();
    emergency["fields"]["emergency_facts"] = "a child is missing".into();
    let done = net.submit("LU", &emergency).await?;
    wait_delivered(&mut rx, &message_id(&done), 10).await?;
    let case = done["case_ref"].as_str().unwrap_or_default().to_owned();
    let subject = format!("Subject: EMERGENCY [poc247 LU] delivered {case}");
    let lines = wait_file(&inbox, 10, |l| l.iter().any(|x| x == &subject)).await?;
    assert!(
        !lines.join("\n").contains("a child is missing"),
        "no request text"
    );
    // A sendmail that fails makes the run fail: the node raises its own alarm.
    std::fs::write(format!("{}.down", inbox.display()), "")?;
    net.submit("LU", &preservation_request("FR")).await?;
    wait_for(
        &mut rx,
        10,
        |e| matches!(&e.kind, EventKind::HookFailed { reason, .. } if reason.contains("75")),
    )
    .await?;
    net.net.shutdown().await;
    Ok(())
}

/// The shipped unit lets the node write where the shipped hooks write: every path the examples
/// name in their `[hook]` lines is under a folder the unit makes writable.
#[test]
fn the_example_hooks_write_where_the_shipped_unit_lets_the_node_write() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let unit = std::fs::read_to_string(repo.join("deploy/poc247.service")).unwrap();
    let mut writable: Vec<String> = Vec::new();
    for line in unit.lines() {
        if let Some(v) = line.strip_prefix("ReadWritePaths=") {
            writable.extend(v.split_whitespace().map(str::to_owned));
        }
        if let Some(v) = line.strip_prefix("LogsDirectory=") {
            writable.extend(v.split_whitespace().map(|d| format!("/var/log/{d}")));
        }
        if let Some(v) = line.strip_prefix("StateDirectory=") {
            writable.extend(v.split_whitespace().map(|d| format!("/var/lib/{d}")));
        }
    }
    assert!(
        unit.contains("ProtectSystem=strict"),
        "the unit is read-only but for these"
    );
    for entry in std::fs::read_dir(repo.join("examples/hooks")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines().filter(|l| l.contains("command = [")) {
            for arg in line.split('"').filter(|a| a.starts_with("/var/")) {
                assert!(
                    writable.iter().any(|w| arg.starts_with(w.as_str())),
                    "{}: {arg} is not writable under the unit ({writable:?})",
                    path.display()
                );
            }
        }
    }
}

/// A one-request-per-connection HTTP server that hands over each request's headers and body.
async fn http_sink() -> anyhow::Result<(
    std::net::SocketAddr,
    tokio::sync::mpsc::Receiver<(String, String)>,
)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head, body) = loop {
                let Ok(n) = sock.read(&mut chunk).await else {
                    break None;
                };
                if n == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).into_owned();
                let Some((head, body)) = text.split_once("\r\n\r\n") else {
                    continue;
                };
                let len = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().to_owned())
                    })
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                if body.len() >= len {
                    break Some((head.to_owned(), body.to_owned()));
                }
            }
            .unzip();
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .await;
            if let (Some(h), Some(b)) = (head, body) {
                let _ = tx.send((h, b)).await;
            }
        }
    });
    Ok((addr, rx))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_page_to_url_hook_posts_the_event_json() -> anyhow::Result<()> {
    let (addr, mut posted) = http_sink().await?;
    let net = Net::embedded_prepared()?;
    let settings = HookSettings {
        command: vec![example("page-to-url.sh"), format!("http://{addr}/page")],
        types: Some(vec!["delivered".into()]),
        ..HookSettings::default()
    };
    let net = start_with_hook(net, &settings).await?;
    let mut rx = net.events("LU")?;
    let id = message_id(&net.submit("LU", &preservation_request("FR")).await?);
    wait_delivered(&mut rx, &id, 10).await?;
    let (head, body) = tokio::time::timeout(Duration::from_secs(10), posted.recv())
        .await?
        .ok_or_else(|| anyhow::anyhow!("the sink stopped"))?;
    assert!(head.starts_with("POST /page "), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("x-poc247-event: delivered"),
        "{head}"
    );
    let ev: serde_json::Value = serde_json::from_str(body.trim())?;
    assert_eq!(ev["type"], "delivered");
    assert_eq!(ev["message_id"], id.as_str());
    net.net.shutdown().await;
    Ok(())
}
