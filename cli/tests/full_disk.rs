//! A full disk, and its recovery without a restart of the process. FR runs as a `poc247 run`
//! process with its data on a disk of the test's (`poc247_tests::powercut`) that is filled
//! while LU sends requests large enough that sled must write new files: FR's writes fail with
//! `ENOSPC` and sled fails every write after (it keeps its error until the database is
//! opened again). FR must refuse cleanly meanwhile — `storage-unavailable` to LU, 507 to its
//! officers for every listing, so that no case that never reached the disk is shown — and,
//! once space returns, reopen its store by itself, in the same process, and take LU's
//! retries: every request then at FR exactly once, both audit chains intact.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use anyhow::{ensure, Context, Result};
use poc247_tests::crashrun::{
    audit_chains_verify, large_preservation_request, pair, submit_and_deliver, wait_outbox_empty,
    Fault,
};
use std::path::Path;
use std::time::{Duration, Instant};

/// Polls `what` until it holds (at most `limit`): a process gives no event for its store.
async fn until(limit: Duration, what: &str, mut f: impl AsyncFnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + limit;
    while !f().await {
        ensure!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_refused_cleanly_and_the_store_reopens_by_itself_when_space_returns(
) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let bin = Path::new(env!("CARGO_BIN_EXE_poc247"));
    let (mut lu, mut fr, disks) = pair(Fault::PowerCut, bin, tmp.path())?;
    let (_, fr_disk) = disks.as_ref().context("no disks")?;
    fr.start(None).await?;
    lu.start(None).await?;
    let (lu_api, fr_api) = (lu.client(), fr.client());
    let large = large_preservation_request("FR");
    submit_and_deliver(&lu_api, &large, 5, Duration::from_secs(30)).await?;
    let pid = fr.pid().context("FR's pid")?;

    // The disk is full: what the files hold now is all they may hold.
    let used = fr_disk.set_capacity(Some(0));
    fr_disk.set_capacity(Some(used));
    for _ in 0..5 {
        let r = lu_api.post("/v1/requests", &large).await?;
        ensure!(r.status.as_u16() == 201, "{}", r.body);
    }
    until(Duration::from_secs(30), "FR's store failed", async || {
        fr_api
            .get("/v1/status")
            .await
            .is_ok_and(|r| r.body["store"] == "failed")
    })
    .await?;
    // Nothing is shown while the store may hold what never reached the disk.
    let listing = fr_api.get("/v1/cases").await?;
    ensure!(
        listing.status.as_u16() == 507,
        "a listing from a failed store: {} {}",
        listing.status,
        listing.body
    );
    let queued = lu_api.get("/v1/status").await?.body["outbox_queued"].clone();
    ensure!(queued != 0, "LU still holds what FR refused: {queued}");

    // Space returns; FR reopens its store by itself, in the same process.
    fr_disk.set_capacity(None);
    wait_outbox_empty(&lu_api, Duration::from_secs(60))
        .await
        .with_context(|| {
            let log = std::fs::read_to_string(fr.log_path()).unwrap_or_default();
            let lines: Vec<&str> = log.lines().filter(|l| !l.contains("refused")).collect();
            lines[lines.len().saturating_sub(60)..].join("\n")
        })?;
    ensure!(fr.pid() == Some(pid), "FR's process was restarted");
    let status = fr_api.get("/v1/status").await?;
    ensure!(status.body["store"] == "ok", "{}", status.body);
    let cases = fr_api.get("/v1/cases").await?;
    ensure!(cases.status.is_success(), "{} {}", cases.status, cases.body);
    let listed = cases.body["cases"].as_array().map_or(0, Vec::len);
    ensure!(
        listed == 10,
        "FR lists {listed} cases, not 10: {}",
        cases.body
    );
    audit_chains_verify(&[&lu, &fr]).await?;
    lu.stop(Duration::from_secs(20)).await?;
    fr.stop(Duration::from_secs(20)).await?;
    Ok(())
}
