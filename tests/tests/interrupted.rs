//! Work that is cut short around a commit: an attempt whose time limit passes while its
//! receipt is being stored, and an API caller who hangs up while its submission is. In both,
//! what was stored is also announced and carried through, with no restart needed.

use poc247_node::events::EventKind;
use poc247_tests::*;
use std::time::Duration;

/// A receipt that takes longer to store than the attempt's time limit (a slow disk) is still
/// announced: the time limit is the peer's, and the `delivered` event comes with the stored
/// receipt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_stored_after_the_attempts_time_limit_is_still_announced() -> anyhow::Result<()> {
    let mut net = Net::fresh_prepared(&["LU", "FR"])?;
    net.net.start_node(&party("FR")).await?;
    let mut cfg = net.config("LU")?;
    cfg.delivery.attempt_timeout_ms = 300;
    cfg.delivery.initial_backoff_ms = 50;
    cfg.delivery.max_backoff_ms = 200;
    net.net.start_node_with(&party("LU"), cfg).await?;
    let lu = net.net.node(&party("LU")).unwrap().cases();
    // From the submission on, LU's next commits each take 400 ms between their transaction
    // and their flush: the settlement's among them, so it ends after the attempt's 300 ms.
    let slow = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s = slow.clone();
    lu.store().on_commit(move || {
        if s.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(400));
        }
    });
    let mut events = net.events("LU")?;
    slow.store(true, std::sync::atomic::Ordering::SeqCst);
    let done = net.submit("LU", &preservation_request("FR")).await?;
    let id = done["message_id"].as_str().unwrap().to_owned();
    wait_delivered(&mut events, &id, 10).await?;
    slow.store(false, std::sync::atomic::Ordering::SeqCst);
    // Stored once at FR, settled at LU.
    let fr = net.net.node(&party("FR")).unwrap().cases();
    assert_eq!(fr.store().message_count(), 1);
    assert!(lu.store().outbox()?.is_empty());
    net.net.shutdown().await;
    Ok(())
}

/// A caller that hangs up while its submission is being stored (an officer's Ctrl-C, a script
/// killed) does not strand it: once stored, the request is announced and sent as if the caller
/// had waited for its 201.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_whose_caller_hangs_up_during_its_commit_is_still_sent() -> anyhow::Result<()>
{
    use tokio::io::AsyncWriteExt;
    let mut net = Net::fresh_prepared(&["LU", "FR"])?;
    net.net.start_node(&party("FR")).await?;
    net.net.start_node(&party("LU")).await?;
    let lu = net.net.node(&party("LU")).unwrap().cases();
    // The next commit at LU says it started, then takes 300 ms (a slow disk).
    let (started_tx, started) = std::sync::mpsc::channel::<()>();
    let started_tx = std::sync::Mutex::new(Some(started_tx));
    lu.store().on_commit(move || {
        if let Some(tx) = started_tx.lock().unwrap().take() {
            let _ = tx.send(());
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    let mut events = net.events("LU")?;
    let body = serde_json::to_vec(&preservation_request("FR"))?;
    let head = format!(
        "POST /v1/requests HTTP/1.1\r\nhost: poc247\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    );
    let mut caller = tokio::net::UnixStream::connect(&net.config("LU")?.socket).await?;
    caller.write_all(head.as_bytes()).await?;
    caller.write_all(&body).await?;
    // The caller hangs up while the commit is under way.
    tokio::task::spawn_blocking(move || started.recv()).await??;
    drop(caller);
    let queued = wait_for(&mut events, 10, |e| matches!(e.kind, EventKind::Queued)).await?;
    let id = queued.message_id.map(|m| m.to_string()).unwrap_or_default();
    wait_delivered(&mut events, &id, 10).await?;
    assert!(lu.store().outbox()?.is_empty());
    net.net.shutdown().await;
    Ok(())
}
