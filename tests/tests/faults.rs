//! Network faults between two real nodes: a UDP fault proxy stands between LU and FR.
//! Timescale compressed 30×: the longest retry delay is 1 s instead of 30 s, and a 1 s
//! blackhole stands for the 30 s one.

use poc247_node::events::EventKind;
use poc247_node::{Directory, LoadDirectory};
use poc247_tests::proxy::FaultProxy;
use poc247_tests::*;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Starts LU with its own view of the directory, in which FR is reached through `via`.
async fn start_lu_via(net: &mut Net, via: std::net::SocketAddr) -> anyhow::Result<()> {
    let mut cfg = net.config("LU")?;
    let mut directory = Directory::load(&cfg.directory)?;
    directory.set_addresses(&party("FR"), vec![via.to_string()]);
    let path = net.tmp.path().join("lu-directory.toml");
    std::fs::write(&path, toml::to_string(&directory.to_file())?)?;
    cfg.directory = path;
    cfg.delivery.initial_backoff_ms = 50;
    cfg.delivery.max_backoff_ms = 1000;
    cfg.delivery.attempt_timeout_ms = 1000;
    net.net.start_node_with(&party("LU"), cfg).await?;
    Ok(())
}

async fn submit_many(net: &Net, n: usize) -> anyhow::Result<HashSet<String>> {
    let mut ids = HashSet::new();
    for _ in 0..n {
        let done = net.submit("LU", &preservation_request("FR")).await?;
        ids.insert(done["message_id"].as_str().unwrap().to_owned());
    }
    Ok(ids)
}

async fn wait_all_delivered(
    rx: &mut tokio::sync::broadcast::Receiver<poc247_node::events::NodeEvent>,
    mut ids: HashSet<String>,
    secs: u64,
) -> anyhow::Result<()> {
    while !ids.is_empty() {
        let ev = wait_for(rx, secs, |e| matches!(e.kind, EventKind::Delivered { .. })).await;
        let ev = ev.map_err(|e| anyhow::anyhow!("{e}; {} still undelivered", ids.len()))?;
        if let Some(id) = ev.message_id {
            ids.remove(&id.to_string());
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_and_a_blackhole_lose_nothing_and_the_queue_drains_after_it_lifts(
) -> anyhow::Result<()> {
    let mut net = Net::fresh_prepared(&["LU", "FR"])?;
    net.net.start_node(&party("FR")).await?;
    let proxy = FaultProxy::start(net.config("FR")?.listen, 2026).await?;
    proxy.faults.set_loss_percent(20.0);
    start_lu_via(&mut net, proxy.addr).await?;
    let mut events = net.events("LU")?;

    // 20 % loss each way: everything arrives.
    let first = submit_many(&net, 40).await?;
    wait_all_delivered(&mut events, first, 30).await?;
    assert!(
        proxy
            .faults
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0,
        "loss applied"
    );

    // A blackhole: requests are accepted and kept, none is delivered.
    proxy.faults.set_blackhole(true);
    let second = submit_many(&net, 40).await?;
    // The blackhole itself is the fault under test: it has to last.
    tokio::time::sleep(Duration::from_secs(1)).await;
    while let Ok(ev) = events.try_recv() {
        assert!(
            !matches!(ev.kind, EventKind::Delivered { .. }),
            "nothing crosses a blackhole"
        );
    }
    let lu = net.net.node(&party("LU")).unwrap().cases();
    assert_eq!(lu.store().outbox()?.len(), 40, "all kept in the outbox");

    proxy.faults.set_blackhole(false);
    proxy.faults.set_loss_percent(0.0);
    let lifted = Instant::now();
    wait_all_delivered(&mut events, second, 10).await?;
    let drain = lifted.elapsed();
    assert!(drain < Duration::from_secs(2), "queue drained in {drain:?}");

    let fr = net.net.node(&party("FR")).unwrap().cases();
    assert_eq!(
        fr.store().message_count(),
        80,
        "each message stored exactly once"
    );
    assert!(lu.store().outbox()?.is_empty());
    net.net.shutdown().await;
    Ok(())
}
