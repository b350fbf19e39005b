//! Crash-resume of an evidence attachment with real processes: LU and FR run as two `poc247
//! run` processes; FR sends LU the results of a case with a 200 MiB file attached; LU, the
//! receiver, is SIGKILLed in the middle of the transfer (once its `.part` file holds 20 MiB)
//! and restarted. The file must arrive byte-identical, FR must verify LU's receipt (its
//! `attachment_delivered` event), and the bytes FR sends after the kill must be exactly those
//! LU did not hold.
//!
//! FR's bytes are counted from its log: each attempt that reached the bytes logs one line at
//! info level, `attachment attempt ended … offset=N sent=M result=…` (docs/attachments.md).
//! A SIGKILL keeps what the process had written to the `.part` file (the
//! kernel holds it); only a power loss can lose the bytes written since the last fsync (at most
//! 8 MiB), and those the receiver detects by the hash and asks again from 0. So here the
//! remainder is exact: the `.part` length after the kill.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use anyhow::{ensure, Context, Result};
use poc247_tests::crashrun::attachment_delivered;
use poc247_tests::{next_event, sha256_file};
use serde_json::json;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

const SIZE: u64 = 200 << 20;
/// LU is killed once its `.part` holds this much.
const KILL_AT: u64 = 20 << 20;

/// Appended to each `node.toml`: quick retries, and a stalled attempt given up after 2 s (a
/// receiver killed without closing its connection would otherwise hold it for the QUIC idle
/// timeout, 30 s).
const SETTINGS: &str = "
[delivery]
initial_backoff_ms = 50
max_backoff_ms = 1000
attempt_timeout_ms = 2000
";

/// One `attachment attempt ended` line of FR's log: (offset, sent, result).
fn attempts(log: &Path) -> Result<Vec<(u64, u64, String)>> {
    let text = std::fs::read_to_string(log)?;
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| l.contains("attachment attempt ended"))
    {
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name).map(|v| v.trim_matches('"').to_owned()))
                .with_context(|| format!("no {name} in {line:?}"))
        };
        out.push((
            field("offset=")?.parse()?,
            field("sent=")?.parse()?,
            field("result=")?,
        ));
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_killed_mid_transfer_resumes_and_is_sent_only_the_remainder() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let bin = Path::new(env!("CARGO_BIN_EXE_poc247"));
    let (mut lu, mut fr) = poc247_tests::procs::lu_fr_pair(bin, tmp.path(), SETTINGS)?;
    fr.start(Some("warn,poc247_node::attachments=info")).await?;
    lu.start(None).await?;

    // LU asks FR for assistance; FR answers with results and the file.
    let mut lu_events = lu.client().events().await?;
    let assist = json!({ "kind": "assistance", "to": "FR", "urgency": "routine", "language": "fr",
        "fields": { "requesting_authority": "Police grand-ducale", "assistance_type": "technical_advice",
            "question": "What does this mailbox hold?", "offence": "fraud" } });
    let done = lu.client().post("/v1/requests", &assist).await?;
    ensure!(done.status.as_u16() == 201, "{}", done.body);
    let case = done.body["case_ref"].as_str().unwrap().to_owned();
    let request = done.body["message_id"].clone();
    loop {
        let ev = next_event(&mut lu_events, 20).await?;
        if ev["type"] == "delivered" && ev["message_id"] == request {
            break;
        }
    }
    let file = tmp.path().join("disk.img");
    std::io::copy(
        &mut std::fs::File::open("/dev/urandom")?.take(SIZE),
        &mut std::fs::File::create(&file)?,
    )?;
    let sha = sha256_file(&file)?;
    let mut fr_events = fr.client().events().await?;
    let up = fr.client().upload(&file, "disk.img", &mut |_| {}).await?;
    ensure!(up.status.as_u16() == 201, "upload: {}", up.body);
    let body = json!({ "fields": { "summary": "disk image" }, "attachments": [{ "upload": sha }] });
    let r = fr
        .client()
        .post(&format!("/v1/cases/{case}/results"), &body)
        .await?;
    ensure!(r.status.as_u16() == 201, "{}", r.body);

    // LU dies in the middle of the transfer.
    let stored = lu.config().data_dir.join("attachments");
    let id = r.body["message_id"].as_str().context("message_id")?;
    let part = stored.join(format!("{sha}.{id}.part"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::metadata(&part).map_or(0, |m| m.len()) < KILL_AT {
        ensure!(
            Instant::now() < deadline,
            "the transfer never reached {KILL_AT} bytes"
        );
        // A file another process writes gives no event: poll its size.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    lu.kill().await?;
    let held = std::fs::metadata(&part)?.len();
    ensure!(
        (KILL_AT..SIZE).contains(&held),
        "LU held {held} of {SIZE} bytes when killed"
    );
    lu.start(None).await?;

    // FR finds LU again by itself, resumes, and verifies LU's receipt.
    let ev = attachment_delivered(&mut fr_events, &sha, 60).await?;
    assert_eq!(ev["size"], SIZE, "{ev}");
    assert_eq!(ev["case_ref"], case.as_str(), "{ev}");
    assert_eq!(ev["message_id"], r.body["message_id"], "{ev}");
    // Byte-identical, and no `.part` left.
    assert_eq!(sha256_file(&stored.join(&sha))?, sha);
    assert!(!part.exists());

    // The first attempt began at 0 and wrote at least what LU held; the attempts after the
    // kill sent exactly the rest, the first bytes of them from LU's offset.
    let tries = attempts(fr.log_path())?;
    eprintln!("LU held {held} of {SIZE} bytes when killed; FR's attempts (offset, sent, result): {tries:?}");
    let (first, later) = tries.split_first().context("no attempt logged")?;
    assert_eq!(first.0, 0, "{tries:?}");
    assert_eq!(first.2, "retry", "{tries:?}");
    assert!(first.1 >= held, "{tries:?}, LU held {held}");
    let resumed = later
        .iter()
        .find(|t| t.1 > 0)
        .context("no attempt after the kill")?;
    assert_eq!(resumed.0, held, "{tries:?}");
    let after: u64 = later.iter().map(|t| t.1).sum();
    assert_eq!(after, SIZE - held, "{tries:?}, LU held {held}");
    assert_eq!(
        later.last().map(|t| t.2.as_str()),
        Some("receipt"),
        "{tries:?}"
    );

    lu.stop(Duration::from_secs(20)).await?;
    fr.stop(Duration::from_secs(20)).await?;
    Ok(())
}
