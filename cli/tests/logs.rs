//! Logs carry ids, kinds and outcomes, never a request's text or personal data: two real
//! `poc247 run` processes log at the most verbose level while a request with recognisable
//! text goes end to end, and the logs are searched for that text.

use poc247_devnet::localnet::{LocalNetwork, Pki};
use poc247_tests::procs::NodeProcess;
use poc247_tests::*;
use serde_json::json;
use std::time::Duration;

/// Posts `body` as a new request at `node` and waits for its delivery; the 201 response.
async fn submit_delivered(
    node: &NodeProcess,
    body: &serde_json::Value,
) -> anyhow::Result<poc247_api::client::ApiResponse> {
    let mut events = node.client().events().await?;
    let done = node.client().post("/v1/requests", body).await?;
    assert_eq!(done.status.as_u16(), 201, "{}", done.body);
    let id = done.body["message_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(Ok(ev)) = events.next().await {
            if ev["type"] == "delivered" && ev["message_id"] == id.as_str() {
                return;
            }
        }
    })
    .await?;
    Ok(done)
}

/// FR and LU as `poc247 run <run_args>` processes logging at `rust_log` into `tmp`.
async fn fr_and_lu(
    tmp: &std::path::Path,
    run_args: &[&str],
    rust_log: &str,
) -> anyhow::Result<Vec<NodeProcess>> {
    let dir = tmp.join("net");
    let pki = Pki::Fresh(vec![party("LU"), party("FR")]);
    // Written, and its ports let go for the processes to bind.
    drop(LocalNetwork::prepare(&dir, &pki)?);
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_poc247"));
    let mut nodes = Vec::new();
    for p in ["fr", "lu"] {
        let mut n = NodeProcess::new(
            bin,
            &dir.join(p).join("node.toml"),
            &tmp.join(format!("{p}.log")),
        )?
        .with_run_args(run_args);
        n.start(Some(rust_log)).await?;
        nodes.push(n);
    }
    Ok(nodes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_text_or_personal_data_reaches_the_logs() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let mut nodes = fr_and_lu(tmp.path(), &[], "trace,sled=debug").await?;
    let (fr, lu) = (&nodes[0], &nodes[1]);
    // Text no log line should ever hold: names, an e-mail address, the facts.
    let secrets = [
        "Zebulon Quartermaine",
        "zq.secret@example.org",
        "SECRET-FACTS-7731",
        "Rue des Secrets 9",
    ];
    let mut fields = serde_json::to_value(preservation())?;
    fields["facts"] = json!(format!(
        "{} met {} at {}",
        secrets[0], secrets[1], secrets[2]
    ));
    fields["custodian_or_location"] = json!(secrets[3]);
    let body = json!({ "kind": "preservation", "to": "FR", "urgency": "urgent", "language": "fr", "fields": fields });
    let done = submit_delivered(lu, &body).await?;
    // Reading the case through the API must not log its content either.
    let case = done.body["case_ref"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let shown = fr.client().get(&format!("/v1/cases/{case}")).await?;
    assert!(
        shown.body.to_string().contains(secrets[2]),
        "the API does show the text"
    );
    for n in &mut nodes {
        n.stop(Duration::from_secs(20)).await?;
    }
    for n in &nodes {
        let log = std::fs::read_to_string(n.log_path())?;
        assert!(
            log.lines().count() > 20,
            "the log is verbose: {} lines",
            log.lines().count()
        );
        assert!(log.contains(&case), "logs carry the case reference");
        for s in secrets {
            assert!(!log.contains(s), "{} logged {s:?}", n.party());
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_plain_values_not_rust_debug_text() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let mut nodes = fr_and_lu(
        tmp.path(),
        &["--log-format", "json"],
        "poc247=debug,poc247_node=debug",
    )
    .await?;
    let lu = &nodes[1];
    submit_delivered(lu, &preservation_request("FR")).await?;
    for n in &mut nodes {
        n.stop(Duration::from_secs(20)).await?;
    }
    for n in &nodes {
        let log = std::fs::read_to_string(n.log_path())?;
        let mut lines = 0;
        for line in log.lines().filter(|l| l.starts_with('{')) {
            let v: serde_json::Value = serde_json::from_str(line)?;
            lines += 1;
            for (k, val) in v["fields"].as_object().into_iter().flatten() {
                let text = val.to_string();
                assert!(
                    !text.contains("Some(") && text != "\"None\"",
                    "{}: field {k} is Rust debug text: {line}",
                    n.party()
                );
            }
        }
        assert!(lines > 3, "{} logged {lines} JSON lines", n.party());
        assert!(log.contains("node started"), "{log}");
    }
    Ok(())
}

/// `poc247 run` in a terminal stops when the terminal closes (SIGHUP), instead of running on
/// with no one to stop it; detached, SIGHUP reloads (`tests/tests/operator.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreground_run_stops_when_its_terminal_closes() -> anyhow::Result<()> {
    if std::process::Command::new("tmux")
        .arg("-V")
        .output()
        .is_err()
    {
        panic!("tmux is needed (.ci/run installs it)");
    }
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("net");
    let pki = Pki::Fresh(vec![party("LU"), party("FR")]);
    drop(LocalNetwork::prepare(&dir, &pki)?);
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_poc247"));
    let config = dir.join("lu").join("node.toml");
    let socket = poc247_node::NodeConfig::load(&config)?.socket;
    let session = format!("poc247-hup-{}", std::process::id());
    let tmux = |args: &[&str]| {
        std::process::Command::new("tmux")
            .args(["-L", &session])
            .args(args)
            .status()
    };
    let cmd = format!(
        "{} --config {} run; echo exited $? > {}",
        bin.display(),
        config.display(),
        tmp.path().join("exit").display()
    );
    assert!(tmux(&["new-session", "-d", "-s", &session, &cmd])?.success());
    let client = poc247_api::client::ControlClient::new(socket.clone());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while client.get("/v1/status").await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the node did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The terminal closes: its processes get SIGHUP.
    let _ = tmux(&["kill-server"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while client.get("/v1/status").await.is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "the node runs on after its terminal closed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A clean stop removes the control socket as its last step.
    while socket.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the node did not finish its clean stop"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
