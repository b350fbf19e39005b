//! Power loss with real processes: each node's data folder is on a disk that keeps only what
//! was synced (`poc247_tests::powercut`, in the manner of Jepsen's LazyFS). At seeded random
//! moments the disk of FR (the receiver), or of LU (the sender), loses power: it stops
//! answering, the process is SIGKILLed, and the disk comes back with what was durable at the
//! cut, as a machine's next boot would find it. Then the node starts again on it.
//!
//! After each run (`poc247_tests::crashrun`): every request whose receipt LU holds is at FR
//! exactly once, with that receipt; every request LU's API answered 201 is in LU's store; both
//! audit chains verify. A receipt, a 201 or "delivered" given before the data was on stable
//! storage fails these. 2,300 requests a run, 300 of them about 60 KiB, so that sled writes
//! pages to blob files of their own.
//!
//! FUSE is needed: these tests run as root (as CI does), or with `fusermount3`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use anyhow::{ensure, Context, Result};
use poc247_tests::crashrun::{
    attachment_delivered, audit_chains_verify, crash_test, fault, pair, Fault, Plan, Victims,
};
use poc247_tests::{preservation_request, sha256_file};
use serde_json::json;
use std::io::Read as _;
use std::path::Path;
use std::time::{Duration, Instant};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_poc247"))
}

/// 2,300 requests, 300 of them large, three power cuts at `victims`.
fn plan(victims: Victims) -> Plan {
    Plan {
        requests: 2_300,
        large: 3,
        large_of: 23,
        fault: Fault::PowerCut,
        victims,
        kills_each: 3,
        concurrency: 16,
        max_down_ms: 300,
        stall: Duration::from_secs(60),
        drain: Duration::from_secs(60),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_power_cut_at_the_receiver_loses_no_request_it_gave_a_receipt_for() -> Result<()> {
    crash_test(plan(Victims::Receiver), 0x1515_0001, bin()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_power_cut_at_the_sender_loses_no_request_it_accepted_or_saw_receipted() -> Result<()> {
    crash_test(plan(Victims::Sender), 0x1515_0002, bin()).await
}

const SIZE: u64 = 50 << 20;

/// A 50 MiB attachment LU → FR, with FR's power cut once in the middle of the transfer and
/// once just after LU verified FR's receipt for it: FR holds it byte for byte and serves it
/// from its case, and both audit chains verify.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipted_attachment_survives_power_cuts_during_and_after_its_transfer() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (mut lu, mut fr, disks) = pair(Fault::PowerCut, bin(), tmp.path())?;
    let (_lu_disk, fr_disk) = disks.as_ref().context("no disks")?;
    fr.start(None).await?;
    lu.start(None).await?;

    let file = tmp.path().join("evidence.img");
    std::io::copy(
        &mut std::fs::File::open("/dev/urandom")?.take(SIZE),
        &mut std::fs::File::create(&file)?,
    )?;
    let sha = sha256_file(&file)?;
    let up = lu
        .client()
        .upload(&file, "evidence.img", &mut |_| {})
        .await?;
    ensure!(
        up.status.as_u16() == 201,
        "upload: {} {}",
        up.status,
        up.body
    );
    let mut body = preservation_request("FR");
    body["attachments"] = json!([{ "upload": sha }]);
    let mut lu_events = lu.client().events().await?;
    let r = lu.client().post("/v1/requests", &body).await?;
    ensure!(r.status.as_u16() == 201, "submit: {} {}", r.status, r.body);
    let case = r.body["case_ref"].as_str().context("case_ref")?.to_owned();
    let id = r.body["message_id"]
        .as_str()
        .context("message_id")?
        .to_owned();

    // The cut in the middle: once FR's `.part` holds 20 MiB.
    let part = fr
        .config()
        .data_dir
        .join("attachments")
        .join(format!("{sha}.{id}.part"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::metadata(&part).map_or(0, |m| m.len()) < 20 << 20 {
        ensure!(
            Instant::now() < deadline,
            "the transfer never reached 20 MiB"
        );
        // A file another process writes gives no event: poll its size.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    fault(&mut fr, Some(fr_disk)).await?;
    fr.start(None).await?;

    // The cut just after LU verified FR's receipt.
    attachment_delivered(&mut lu_events, &sha, 120).await?;
    fault(&mut fr, Some(fr_disk)).await?;
    let lost = fr_disk.stats();
    fr.start(None).await?;

    let held = fr.config().data_dir.join("attachments").join(&sha);
    ensure!(
        sha256_file(&held).with_context(|| format!("FR does not hold {sha}"))? == sha,
        "FR's copy differs"
    );
    let out = tmp.path().join("fetched.img");
    let got = fr
        .client()
        .download(&format!("/v1/cases/{case}/attachments/{sha}"), &out)
        .await?;
    let (_, size) = got.map_err(|e| anyhow::anyhow!("FR does not serve it: {}", e.body))?;
    ensure!(
        size == SIZE && sha256_file(&out)? == sha,
        "FR served other bytes"
    );
    audit_chains_verify(&[&lu, &fr]).await?;
    eprintln!("attachment power cuts: FR's disk {lost:?}");
    lu.stop(Duration::from_secs(20)).await?;
    fr.stop(Duration::from_secs(20)).await?;
    Ok(())
}
