//! A long outage loses nothing: a request queued while its peer is down for 8 hours (a moved
//! clock; a receiver refuses a message whose age is outside its ±15 min window) is signed
//! again with a fresh time when it goes, and delivered once the peer returns. Replay
//! protection holds meanwhile: a message id the receiver stored gets its stored receipt, and
//! an old frame it never stored is refused as stale.

use poc247_devnet::localnet::{LocalNetwork, Pki};
use poc247_node::clock::ManualClock;
use poc247_node::events::EventKind;
use poc247_protocol::{RejectionCode, Reply, SignedEnvelope};
use poc247_tests::*;
use std::sync::Arc;

const HOUR: u64 = 3_600_000;

/// The signed envelope of message `id` as LU's store holds it.
fn stored_envelope(net: &LocalNetwork, id: poc247_protocol::MessageId) -> anyhow::Result<Vec<u8>> {
    Ok(net
        .node(&party("LU"))
        .ok_or_else(|| anyhow::anyhow!("LU is not running"))?
        .store()
        .message(id)?
        .ok_or_else(|| anyhow::anyhow!("{id} is not stored at LU"))?
        .envelope)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_queued_through_an_8_hour_outage_is_delivered_when_the_peer_returns(
) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let clock = ManualClock::new(now());
    let mut net = LocalNetwork::prepare(&tmp.path().join("net"), &Pki::Embedded)?;
    net.set_clock(Arc::new(clock.clone()));
    for p in ["LU", "FR"] {
        let mut cfg = net.config(&party(p))?;
        cfg.delivery.initial_backoff_ms = 50;
        cfg.delivery.max_backoff_ms = 300;
        net.start_node_with(&party(p), cfg).await?;
    }
    let lu = poc247_api::client::ControlClient::new(net.config(&party("LU"))?.socket);

    // FR goes down; LU takes a request; eight hours pass.
    net.stop_node(&party("FR")).await;
    let done = lu.post("/v1/requests", &preservation_request("FR")).await?;
    anyhow::ensure!(done.status.as_u16() == 201, "{}", done.body);
    let id: poc247_protocol::MessageId = done.body["message_id"]
        .as_str()
        .unwrap_or_default()
        .parse()?;
    let first = stored_envelope(&net, id)?;
    let mut lu_events = net
        .node(&party("LU"))
        .ok_or_else(|| anyhow::anyhow!("LU"))?
        .events()
        .subscribe();
    clock.advance(8 * HOUR);

    // FR returns: the request is delivered, signed again with a fresh time.
    let mut cfg = net.config(&party("FR"))?;
    cfg.delivery.initial_backoff_ms = 50;
    net.start_node_with(&party("FR"), cfg).await?;
    // The manual clock moves on (a second every 50 ms), so that LU's retries come due.
    let ticking = {
        let clock = clock.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                clock.advance(1000);
            }
        })
    };
    wait_for(&mut lu_events, 20, |e| {
        e.message_id == Some(id)
            && matches!(
                e.kind,
                EventKind::Delivered { .. } | EventKind::DeliveryFailed { .. }
            )
    })
    .await
    .and_then(|e| match e.kind {
        EventKind::Delivered { .. } => Ok(()),
        other => anyhow::bail!("not delivered: {other:?}"),
    })?;
    ticking.abort();
    let sent = stored_envelope(&net, id)?;
    let header = SignedEnvelope::from_bytes(&sent)?.unverified_header()?;
    assert_eq!(header.id, id, "the same message");
    assert!(
        header.created_at.0 >= poc247_node::clock::Clock::now(&clock).0 - HOUR,
        "signed again with a fresh time"
    );
    let audit = lu.get("/v1/audit").await?;
    assert!(
        audit.body.to_string().contains("resigned:"),
        "LU's audit keeps that it signed again: {}",
        audit.body
    );

    // Replay protection holds: the first, old envelope of the stored id gets the stored
    // receipt; an old frame of an id FR never stored is refused as stale.
    let peer = RawPeer::connect(
        &net.config(&party("LU"))?,
        "FR",
        net.config(&party("FR"))?.listen,
    )
    .await?;
    let again = peer.send(&first).await?;
    assert!(matches!(again, Reply::Receipt(_)), "{again:?}");
    let key = signing_key(&net.config(&party("LU"))?)?;
    let old = envelope(
        "LU",
        "FR",
        poc247_protocol::UtcMs(poc247_node::clock::Clock::now(&clock).0 - 8 * HOUR),
        99,
    )
    .sign(&key)?
    .to_bytes()?;
    match peer.send(&old).await? {
        Reply::Rejection(r) => assert_eq!(r.code, RejectionCode::Stale, "{r:?}"),
        other => panic!("an old frame was taken: {other:?}"),
    }
    peer.close().await;
    net.shutdown().await;
    Ok(())
}

/// A message refused for good can be sent again, with the reason it failed: FR's clock is an
/// hour off, so it refuses LU's request as stale (a disagreement of clocks, final); once FR's
/// clock is right, LU's officer resends it and it is delivered, and the case with it. A
/// message that did not fail, or a misspelt member, is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_request_is_sent_again_with_the_reason_it_failed() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let mut net = LocalNetwork::prepare(&tmp.path().join("net"), &Pki::Embedded)?;
    net.start_node(&party("LU")).await?;
    let fr_clock = ManualClock::new(poc247_protocol::UtcMs(now().0 + HOUR));
    net.set_clock(Arc::new(fr_clock.clone()));
    net.start_node(&party("FR")).await?;
    let lu = poc247_api::client::ControlClient::new(net.config(&party("LU"))?.socket);
    let lu_node = net
        .node(&party("LU"))
        .ok_or_else(|| anyhow::anyhow!("LU"))?;
    let mut events = lu_node.events().subscribe();
    let done = lu.post("/v1/requests", &preservation_request("FR")).await?;
    anyhow::ensure!(done.status.as_u16() == 201, "{}", done.body);
    let case = done.body["case_ref"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let id = done.body["message_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let failed = wait_for(&mut events, 20, |e| {
        matches!(e.kind, EventKind::DeliveryFailed { .. })
    })
    .await?;
    assert!(
        matches!(&failed.kind, EventKind::DeliveryFailed { reason } if reason.starts_with("stale")),
        "{failed:?}"
    );
    assert_eq!(
        lu.get(&format!("/v1/cases/{case}")).await?.body["state"],
        "failed"
    );

    // A misspelt member, or a message that did not fail, is refused.
    let path = format!("/v1/cases/{case}/resend");
    let r = lu
        .post(&path, &serde_json::json!({ "fields": { "mesage_id": id } }))
        .await?;
    assert_eq!(r.status.as_u16(), 400, "{}", r.body);

    // FR's clock is put right; the officer sends it again.
    fr_clock.set(now());
    let r = lu
        .post(
            &path,
            &serde_json::json!({ "fields": { "message_id": id } }),
        )
        .await?;
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    assert!(
        r.body["had_failed"]
            .as_str()
            .is_some_and(|w| w.starts_with("stale")),
        "{}",
        r.body
    );
    // The answer is poc247-api's `Resent`, member for member.
    let resent: poc247_api::Resent = serde_json::from_value(r.body.clone())?;
    assert_eq!(serde_json::to_string(&resent)?, r.body.to_string());
    assert_eq!(resent.message_id.to_string(), id);
    wait_for(&mut events, 20, |e| {
        matches!(e.kind, EventKind::Delivered { .. })
    })
    .await?;
    let shown = lu.get(&format!("/v1/cases/{case}")).await?.body;
    assert_eq!(shown["state"], "delivered", "{shown}");
    let again = lu
        .post(
            &path,
            &serde_json::json!({ "fields": { "message_id": id } }),
        )
        .await?;
    assert_eq!(again.status.as_u16(), 409, "{}", again.body);
    let audit = lu.get("/v1/audit").await?;
    assert!(
        audit.body.to_string().contains("resent:stale"),
        "{}",
        audit.body
    );
    net.shutdown().await;
    Ok(())
}

/// A follow-up queued while its request waits for a peer that is down (the requester withdraws
/// the request) goes only after the request: both arrive, in order, and neither fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_up_waits_for_its_request_and_both_arrive_in_order() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let mut net = LocalNetwork::prepare(&tmp.path().join("net"), &Pki::Embedded)?;
    for p in ["LU", "FR"] {
        let mut cfg = net.config(&party(p))?;
        cfg.delivery.initial_backoff_ms = 50;
        cfg.delivery.max_backoff_ms = 300;
        net.start_node_with(&party(p), cfg).await?;
    }
    net.stop_node(&party("FR")).await;
    let lu = poc247_api::client::ControlClient::new(net.config(&party("LU"))?.socket);
    let done = lu.post("/v1/requests", &preservation_request("FR")).await?;
    anyhow::ensure!(done.status.as_u16() == 201, "{}", done.body);
    let case = done.body["case_ref"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let w = lu
        .post(
            &format!("/v1/cases/{case}/withdraw"),
            &serde_json::json!({ "fields": { "reason": "no longer needed" } }),
        )
        .await?;
    anyhow::ensure!(w.status.as_u16() == 201, "{}", w.body);
    let mut lu_events = net
        .node(&party("LU"))
        .ok_or_else(|| anyhow::anyhow!("LU"))?
        .events()
        .subscribe();
    let mut cfg = net.config(&party("FR"))?;
    cfg.delivery.initial_backoff_ms = 50;
    net.start_node_with(&party("FR"), cfg).await?;
    let mut delivered = 0;
    while delivered < 2 {
        let e = wait_for(&mut lu_events, 20, |e| {
            matches!(
                e.kind,
                EventKind::Delivered { .. } | EventKind::DeliveryFailed { .. }
            )
        })
        .await?;
        anyhow::ensure!(
            matches!(e.kind, EventKind::Delivered { .. }),
            "refused: {e:?}"
        );
        delivered += 1;
    }
    let fr = poc247_api::client::ControlClient::new(net.config(&party("FR"))?.socket);
    let at_fr = fr.get(&format!("/v1/cases/{case}")).await?;
    assert_eq!(at_fr.body["state"], "withdrawn", "{}", at_fr.body);
    net.shutdown().await;
    Ok(())
}
