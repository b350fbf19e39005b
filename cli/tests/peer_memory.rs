//! What one peer can make a node hold (issue: a peer that sent only 4-byte length prefixes on
//! 4 connections × 256 streams took a node from 82 to 693 MiB, kept after the attack). FR runs
//! as a `poc247 run` process; CO, a party of the directory, opens more connections than FR
//! allows and on each as many streams as FR allows, each announcing a frame of the largest
//! size and sending nothing more, in three rounds; meanwhile LU's node delivers requests to FR.
//! FR's resident memory (`VmRSS`) may grow by at most [`BOUND_MIB`] — the peer's byte budget
//! (`[limits] max_buffered_bytes_per_peer`, 32 MiB) is already more than the attack can
//! use, as frames hold only what arrived — and every one of LU's requests is delivered.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use anyhow::{ensure, Context, Result};
use poc247_tests::crashrun::submit_and_deliver;
use poc247_tests::preservation_request;
use std::os::unix::fs::FileTypeExt as _;
use std::path::Path;
use std::time::Duration;

/// The most FR's resident memory may grow over the attack, MiB.
const BOUND_MIB: u64 = 48;

fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn length_prefixes_alone_make_a_node_hold_nothing_and_a_peer_is_capped_in_connections(
) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let bin = Path::new(env!("CARGO_BIN_EXE_poc247"));
    let (mut lu, mut fr) =
        poc247_tests::procs::network_of(bin, tmp.path(), &["LU", "FR", "CO"], |_| String::new())?;
    fr.start(None).await?;
    lu.start(None).await?;
    let pid = fr.pid().context("FR's pid")?;
    let co = poc247_node::NodeConfig::load(&tmp.path().join("net/co/node.toml"))?;
    let (cap, streams, max_frame) = {
        let l = &fr.config().limits;
        (
            l.max_connections_per_peer as usize,
            l.max_streams_per_connection as usize,
            l.max_frame_bytes,
        )
    };
    // Settle: one request through, then the baseline.
    submit_and_deliver(
        &lu.client(),
        &preservation_request("FR"),
        1,
        Duration::from_secs(20),
    )
    .await?;
    let before = rss_kib(pid)?;
    let mut peak = before;
    let mut held_open = 0;
    for round in 0..3 {
        let mut peers = Vec::new();
        let mut open = Vec::new();
        for _ in 0..cap + 2 {
            let peer = poc247_tests::RawPeer::connect(&co, "FR", fr.config().listen).await?;
            for _ in 0..streams {
                let Ok((mut send, recv)) = peer.conn.open_bi().await else {
                    break;
                };
                if send.write_all(&max_frame.to_be_bytes()).await.is_err() {
                    break;
                }
                open.push((send, recv));
            }
            peers.push(peer);
        }
        // LU is served meanwhile.
        submit_and_deliver(
            &lu.client(),
            &preservation_request("FR"),
            10,
            Duration::from_secs(30),
        )
        .await?;
        peak = peak.max(rss_kib(pid)?);
        held_open = held_open.max(
            peers
                .iter()
                .filter(|p| p.conn.close_reason().is_none())
                .count(),
        );
        eprintln!(
            "round {round}: {} streams announced {max_frame} bytes each on {} connections \
             ({} still open); FR's RSS {} MiB (before {} MiB)",
            open.len(),
            peers.len(),
            held_open,
            rss_kib(pid)? / 1024,
            before / 1024
        );
        drop(open);
        for p in peers {
            p.close().await;
        }
    }
    let grown = peak.saturating_sub(before) / 1024;
    eprintln!("FR's RSS grew by {grown} MiB at most (bound {BOUND_MIB} MiB)");
    ensure!(
        grown <= BOUND_MIB,
        "FR's RSS grew by {grown} MiB (from {} MiB), over the bound of {BOUND_MIB} MiB",
        before / 1024
    );
    ensure!(
        held_open <= cap,
        "CO kept {held_open} connections open, over the cap of {cap}"
    );
    lu.stop(Duration::from_secs(20)).await?;
    fr.stop(Duration::from_secs(20)).await?;
    Ok(())
}

/// The local surface (the control socket) against a careless or hostile member of its group:
/// a thousand connections that never finish their request's head (over the cap of 256 set
/// here) get the cap's 503 at once instead of a hang, each is closed after the header
/// timeout, errors axum makes itself come as the API's JSON, and the node's files are closed
/// to others although it was started under umask 022.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_socket_connections_are_capped_and_timed_out_and_files_are_not_world_readable(
) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let tmp = tempfile::tempdir()?;
    let bin = Path::new(env!("CARGO_BIN_EXE_poc247"));
    let extra = "\n[control]\nmax_connections = 256\n";
    let (mut lu, mut fr) = poc247_tests::procs::lu_fr_pair(bin, tmp.path(), extra)?;
    fr.start(None).await?;
    lu.start(None).await?;
    submit_and_deliver(
        &lu.client(),
        &preservation_request("FR"),
        1,
        Duration::from_secs(20),
    )
    .await?;

    // A thousand connections, each with half a request head.
    let socket = fr.config().socket.clone();
    let mut idle = Vec::new();
    let mut refused = 0;
    for _ in 0..1000 {
        let mut s = tokio::net::UnixStream::connect(&socket).await?;
        // Over the cap the node answers 503 and closes: the write may find it closed.
        if s.write_all(b"GET /v1/status HTTP/1.1\r\nhost: poc")
            .await
            .is_err()
        {
            refused += 1;
        }
        idle.push(s);
    }
    // The officer is still answered.
    // Over the cap the node answers 503 `busy` at once, which the client takes as a node that
    // cannot answer (the CLI's exit 3), instead of hanging.
    let status = fr.client().get("/v1/status").await;
    let busy = match &status {
        Ok(r) => {
            ensure!(r.status.is_success(), "{} {}", r.status, r.body);
            false
        }
        Err(poc247_api::client::ClientError::Unreachable { source, .. })
            if source.to_string().contains("connections at once") =>
        {
            true
        }
        Err(e) => anyhow::bail!("status while 1,000 connections idle: {e}"),
    };
    ensure!(busy, "1,000 connections are over the cap of 256");
    // After the header timeout the idle ones are closed and the socket serves again.
    tokio::time::sleep(poc247_node::api::HEADER_TIMEOUT + Duration::from_secs(2)).await;
    let mut closed = 0;
    for s in &mut idle {
        let mut buf = [0u8; 512];
        match tokio::time::timeout(Duration::from_millis(50), s.read(&mut buf)).await {
            Ok(Ok(_)) | Ok(Err(_)) => closed += 1,
            Err(_) => {}
        }
    }
    let r = fr.client().get("/v1/status").await?;
    ensure!(r.status.is_success(), "{} {}", r.status, r.body);
    eprintln!(
        "1,000 idle connections: status answered {} ; {refused} found closed while writing; \
         {closed} closed by the node after the header timeout",
        if busy { "503 busy (at the cap)" } else { "200" }
    );
    ensure!(
        closed == idle.len(),
        "only {closed} of {} closed",
        idle.len()
    );

    // Errors axum makes itself come in the API's JSON form too.
    let r = fr
        .client()
        .post("/v1/status", &serde_json::json!({}))
        .await?;
    ensure!(r.status.as_u16() == 405, "{} {}", r.status, r.body);
    ensure!(
        r.body["error"]["code"] == "method-not-allowed",
        "{}",
        r.body
    );
    // Just over the 2 MB limit: what the node leaves unread fits in the socket's buffer, so
    // the client finishes writing and reads the answer (a larger body would find the
    // connection closed under it).
    let big = serde_json::json!({ "kind": "preservation", "padding": "x".repeat(2_100_000) });
    let r = fr.client().post("/v1/requests", &big).await?;
    ensure!(r.status.as_u16() == 413, "{} {}", r.status, r.body);
    ensure!(r.body["error"]["code"] == "too-large", "{}", r.body);

    // What hyper answers itself (a request it cannot parse, a head too large) comes as JSON.
    for (raw, code, name) in [
        (b"HELLO THERE\r\n\r\n".to_vec(), "400", "bad-request"),
        (
            [
                b"GET /v1/status HTTP/1.1\r\nhost: poc247\r\nx-big: ".to_vec(),
                vec![b'a'; 1 << 20],
                b"\r\n\r\n".to_vec(),
            ]
            .concat(),
            "431",
            "headers-too-large",
        ),
    ] {
        let mut s = tokio::net::UnixStream::connect(&socket).await?;
        let _ = s.write_all(&raw).await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut answer)).await;
        let text = String::from_utf8_lossy(&answer);
        ensure!(text.starts_with(&format!("HTTP/1.1 {code}")), "{text}");
        ensure!(text.contains("application/json"), "{text}");
        ensure!(text.contains(&format!("\"code\":\"{name}\"")), "{text}");
    }

    // Nothing the node created is open to others.
    let mut open_to_others = Vec::new();
    let mut stack = vec![fr.config().data_dir.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir)? {
            let e = e?;
            let meta = e.metadata()?;
            if meta.file_type().is_socket() {
                continue;
            }
            if meta.permissions().mode() & 0o007 != 0 {
                open_to_others.push(e.path());
            }
            if meta.is_dir() {
                stack.push(e.path());
            }
        }
    }
    ensure!(
        open_to_others.is_empty(),
        "open to others: {open_to_others:?}"
    );
    lu.stop(Duration::from_secs(20)).await?;
    fr.stop(Duration::from_secs(20)).await?;
    Ok(())
}
