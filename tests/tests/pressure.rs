//! Load a node must refuse gracefully: a peer over its rate, and a disk that refuses writes.

use poc247_node::events::EventKind;
use poc247_protocol::{RejectionCode, Reply};
use poc247_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_over_its_rate_gets_rate_limited_and_nothing_is_stored() -> anyhow::Result<()> {
    let mut net = Net::fresh_prepared(&["LU", "FR"])?;
    let mut cfg = net.config("FR")?;
    cfg.limits.rate_per_peer_per_s = 1;
    cfg.limits.burst_per_peer = 5;
    net.net.start_node_with(&party("FR"), cfg).await?;
    let peer = RawPeer::connect(&net.config("LU")?, "FR", net.config("FR")?.listen).await?;
    let key = signing_key(&net.config("LU")?)?;
    let (mut ok, mut limited) = (0, 0);
    for seq in 1..=10 {
        let frame = envelope("LU", "FR", now(), seq).sign(&key)?.to_bytes()?;
        match peer.send(&frame).await? {
            Reply::Receipt(_) => ok += 1,
            Reply::Rejection(r) => {
                assert_eq!(r.code, RejectionCode::RateLimited);
                assert!(r.code.is_retryable());
                limited += 1;
            }
        }
    }
    assert!((5..=6).contains(&ok), "the burst passes: {ok}");
    assert_eq!(ok + limited, 10);
    let fr = net.net.node(&party("FR")).unwrap().cases();
    assert_eq!(
        fr.store().message_count(),
        ok,
        "refused messages are not stored"
    );
    peer.close().await;
    net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_that_refuses_writes_gets_507_stores_nothing_and_recovers() -> anyhow::Result<()> {
    let net = Net::embedded().await?;
    let lu = net.net.node(&party("LU")).unwrap().cases();
    lu.store().inject_write_failure(true);
    let r = net
        .client("LU")?
        .post("/v1/requests", &preservation_request("FR"))
        .await?;
    assert_eq!(r.status.as_u16(), 507, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "storage-unavailable");
    assert!(r.error_message().contains("cannot store"), "{}", r.body);
    assert!(lu.store().cases()?.is_empty(), "nothing half-written");
    assert!(lu.store().outbox()?.is_empty());

    lu.store().inject_write_failure(false);
    let mut events = net.events("LU")?;
    let done = net.submit("LU", &preservation_request("FR")).await?;
    wait_delivered(&mut events, done["message_id"].as_str().unwrap(), 10).await?;
    net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_cannot_store_answers_storage_unavailable_and_the_sender_retries(
) -> anyhow::Result<()> {
    let net = Net::embedded().await?;
    let fr = net.net.node(&party("FR")).unwrap().cases();
    fr.store().inject_write_failure(true);
    let mut fr_events = net.events("FR")?;
    let mut lu_events = net.events("LU")?;
    let done = net.submit("LU", &preservation_request("FR")).await?;
    let id = done["message_id"].as_str().unwrap().to_owned();
    wait_for(&mut fr_events, 10, |e| {
        e.kind
            == EventKind::Rejected {
                code: "storage-unavailable".into(),
            }
    })
    .await?;
    assert_eq!(fr.store().message_count(), 0);

    // Space returns: the sender's next retry goes through, without anyone's help.
    fr.store().inject_write_failure(false);
    wait_delivered(&mut lu_events, &id, 15).await?;
    assert_eq!(fr.store().message_count(), 1);
    let case = done["case_ref"].as_str().unwrap();
    assert_eq!(net.case("LU", case).await?["state"], "delivered");
    net.net.shutdown().await;
    Ok(())
}
