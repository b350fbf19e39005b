//! Crash safety with real processes: LU and FR run as two `poc247 run`
//! processes; requests go in through LU's control API while LU (the sender) and FR (the
//! receiver) are SIGKILLed in turn at seeded random moments and restarted. Once LU's outbox
//! has drained and both nodes stopped cleanly, their sled stores are opened in this process
//! and checked: every request the API accepted is in FR's store exactly once, LU holds a
//! receipt for it that verifies against FR's key and is the one FR stored, nothing reached FR
//! that LU does not hold, each is audited once on each side, and both audit chains verify.
//!
//! The seed is printed; `POC247_CRASH_SEED=<n>` replays a schedule. The retry timescale is
//! compressed as in the fault tests (retries at most 1 s apart, an attempt abandoned after 2 s,
//! instead of 30 s and 10 s) so that the nodes recover from each kill in seconds.
#![allow(clippy::unwrap_used, clippy::expect_used)]
//!
//! The run and its checks are `poc247_tests::crashrun`'s, shared with the power-loss tests.

use anyhow::{ensure, Context, Result};
use poc247_tests::crashrun::{crash_test, wait_outbox_empty, Fault, Plan, Victims, DEFAULT_SEED};
use poc247_tests::preservation_request;
use poc247_tests::procs::NodeProcess;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a clean stop may take.
const STOP_LIMIT: Duration = Duration::from_secs(20);

/// The binary under test.
fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_poc247"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_receiver_and_sender_loses_nothing_and_stores_each_request_once() -> Result<()> {
    let plan = Plan {
        requests: 1_000,
        large: 0,
        large_of: 0,
        fault: Fault::Sigkill,
        victims: Victims::Both,
        kills_each: 3,
        concurrency: 16,
        max_down_ms: 300,
        stall: Duration::from_secs(30),
        drain: Duration::from_secs(30),
    };
    crash_test(plan, DEFAULT_SEED, bin()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak, about a minute: run with --ignored"]
async fn sigkill_soak_10000_requests_100_kills() -> Result<()> {
    let plan = Plan {
        requests: 10_000,
        large: 0,
        large_of: 0,
        fault: Fault::Sigkill,
        victims: Victims::Both,
        kills_each: 50,
        concurrency: 16,
        max_down_ms: 300,
        stall: Duration::from_secs(60),
        drain: Duration::from_secs(120),
    };
    crash_test(plan, DEFAULT_SEED ^ 0x1_0000, bin()).await
}

/// A receiver killed with SIGKILL and started again is reached again at once: the sender's
/// connection to the dead process is ended by the new process's stateless reset (its keys are
/// derived from the node's TLS key, so they survive the restart), not by a timeout. The wait is
/// half the reply timeout (`FRAME_READ_TIMEOUT`, 10 s) and the attempt timeout is set beyond
/// the QUIC idle timeout (30 s), so only the reset can deliver in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_killed_and_restarted_is_reached_again_at_once() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let extra = "\n[delivery]\nattempt_timeout_ms = 120000\n";
    let (mut lu, mut fr) = poc247_tests::procs::lu_fr_pair(bin(), tmp.path(), extra)?;
    fr.start(None).await?;
    lu.start(None).await?;
    let submit = |lu: &NodeProcess| {
        let client = lu.client();
        async move {
            let r = client
                .post("/v1/requests", &preservation_request("FR"))
                .await?;
            ensure!(r.status.as_u16() == 201, "submit: {} {}", r.status, r.body);
            Ok::<_, anyhow::Error>(())
        }
    };
    submit(&lu).await?;
    wait_outbox_empty(&lu.client(), Duration::from_secs(20)).await?;
    fr.kill().await?;
    fr.start(None).await?;
    let t = Instant::now();
    submit(&lu).await?;
    let half = poc247_node::wire::transport::FRAME_READ_TIMEOUT / 2;
    wait_outbox_empty(&lu.client(), half)
        .await
        .with_context(|| lu.log_tail(20))?;
    println!("delivered {:?} after the receiver's restart", t.elapsed());
    lu.stop(STOP_LIMIT).await?;
    fr.stop(STOP_LIMIT).await?;
    Ok(())
}
