//! The walking skeleton end to end: real nodes on loopback, real QUIC, real sled files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use poc247_node::store::DeliveryState;
use poc247_protocol::{MessageId, Rejection, RejectionCode, Reply};
use poc247_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preservation_request_is_delivered_with_a_verified_receipt() -> anyhow::Result<()> {
    let net = Net::embedded().await?;
    let mut lu_events = net.events("LU")?;
    let done = net.submit("LU", &preservation_request("FR")).await?;
    assert_eq!(done["state"], "queued");
    let id = done["message_id"].as_str().unwrap_or_default().to_owned();
    let case = done["case_ref"].as_str().unwrap_or_default().to_owned();
    wait_delivered(&mut lu_events, &id, 10).await?;

    // The sender stored a receipt that verifies against FR's key.
    let at_lu = net.case("LU", &case).await?;
    assert_eq!(at_lu["state"], "delivered");
    let receipt = &at_lu["timeline"][0]["receipt"];
    assert_eq!(receipt["verified"], true, "{at_lu}");
    assert_eq!(receipt["receiver"], "FR");

    // The receiver holds the message, with the same text, in its inbox.
    let at_fr = net.case("FR", &case).await?;
    assert_eq!(at_fr["role"], "requested");
    assert_eq!(at_fr["state"], "delivered");
    assert_eq!(
        at_fr["timeline"][0]["body"]["custodian_or_location"],
        preservation().custodian_or_location
    );
    let fr = net.net.node(&party("FR")).unwrap();
    let stored = fr.store().message(id.parse::<MessageId>()?)?.unwrap();
    assert_eq!(stored.delivery, DeliveryState::Received);
    net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_message_survives_the_receiver_stopping_and_reopening() -> anyhow::Result<()> {
    let mut net = Net::embedded().await?;
    let mut lu_events = net.events("LU")?;
    let done = net.submit("LU", &preservation_request("FR")).await?;
    let id = done["message_id"].as_str().unwrap().to_owned();
    let case = done["case_ref"].as_str().unwrap().to_owned();
    wait_delivered(&mut lu_events, &id, 10).await?;

    net.net.stop_node(&party("FR")).await;
    assert!(
        net.client("FR")?.get("/v1/status").await.is_err(),
        "FR is down"
    );
    net.net.start_node(&party("FR")).await?;
    let at_fr = net.case("FR", &case).await?;
    assert_eq!(at_fr["timeline"][0]["id"], id.as_str());
    assert_eq!(at_fr["timeline"][0]["body"]["data"], preservation().data);
    net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undelivered_message_is_sent_after_the_sender_restarts_exactly_once(
) -> anyhow::Result<()> {
    let mut net = Net::fresh_prepared(&["LU", "FR"])?;
    net.net.start_node(&party("LU")).await?;
    // FR is down: the request is accepted, stored and queued, and stays queued.
    let done = net.submit("LU", &preservation_request("FR")).await?;
    let id: MessageId = done["message_id"].as_str().unwrap().parse()?;
    let case = done["case_ref"].as_str().unwrap().to_owned();
    assert_eq!(net.case("LU", &case).await?["state"], "queued");
    net.net.stop_node(&party("LU")).await;

    net.net.start_node(&party("FR")).await?;
    let mut fr_events = net.events("FR")?;
    net.net.start_node(&party("LU")).await?;
    let mut lu_events = net.events("LU")?;
    wait_delivered(&mut lu_events, &id.to_string(), 20).await?;
    assert_eq!(net.case("LU", &case).await?["state"], "delivered");

    let lu = net.net.node(&party("LU")).unwrap().cases();
    assert!(lu.store().outbox()?.is_empty(), "outbox drained");
    assert!(lu.store().message(id)?.unwrap().receipt.is_some());
    let fr = net.net.node(&party("FR")).unwrap().cases();
    assert_eq!(fr.store().message_count(), 1, "stored exactly once");
    let received = wait_for(&mut fr_events, 5, |e| {
        matches!(e.kind, poc247_node::events::EventKind::Received)
    })
    .await?;
    assert_eq!(received.message_id, Some(id));
    net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_control_client_reuses_its_connection_and_survives_a_node_restart() -> anyhow::Result<()>
{
    let mut net = Net::fresh_prepared(&["LU", "FR"])?;
    net.net.start_node(&party("LU")).await?;
    let client = net.client("LU")?;
    for _ in 0..3 {
        assert_eq!(client.get("/v1/status").await?.status.as_u16(), 200);
    }
    assert_eq!(
        client.idle_connections(),
        1,
        "sequential calls share one connection"
    );
    // The node restarts: the kept connection is dead; the next call opens a new one, and a
    // submission is stored exactly once.
    net.net.stop_node(&party("LU")).await;
    net.net.start_node(&party("LU")).await?;
    let r = client
        .post("/v1/requests", &preservation_request("FR"))
        .await?;
    assert_eq!(r.status.as_u16(), 201, "{}", r.body);
    let lu = net.net.node(&party("LU")).unwrap().cases();
    assert_eq!(lu.store().message_count(), 1);
    assert_eq!(client.idle_connections(), 1);
    net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_from_another_ca_is_refused() -> anyhow::Result<()> {
    let net = Net::embedded().await?;
    // A network of its own, with its own CA, whose LU tries to reach the real FR.
    let rogue = Net::fresh_prepared(&["LU"])?;
    let fr_addr = net.config("FR")?.listen;
    let before = net.net.node(&party("FR")).unwrap().store().message_count();
    let outcome = async {
        let peer = RawPeer::connect(&rogue.config("LU")?, "FR", fr_addr).await?;
        let key = signing_key(&rogue.config("LU")?)?;
        let frame = envelope("LU", "FR", now(), 1).sign(&key)?.to_bytes()?;
        peer.send(&frame).await
    }
    .await;
    assert!(
        outcome.is_err(),
        "the handshake or the stream must fail: {outcome:?}"
    );
    let after = net.net.node(&party("FR")).unwrap().store().message_count();
    assert_eq!(before, after, "nothing stored");
    net.net.shutdown().await;
    Ok(())
}

/// One raw LU peer connected to FR of the embedded network.
async fn raw_lu_to_fr(net: &Net) -> anyhow::Result<RawPeer> {
    RawPeer::connect(&net.config("LU")?, "FR", net.config("FR")?.listen).await
}

fn rejection(reply: Reply) -> Rejection {
    match reply {
        Reply::Rejection(r) => r,
        Reply::Receipt(r) => panic!(
            "expected a rejection, got a receipt for {}",
            r.receipt.message_id
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_signature_gets_bad_signature_and_nothing_is_stored() -> anyhow::Result<()> {
    let net = Net::embedded().await?;
    let peer = raw_lu_to_fr(&net).await?;
    let key = signing_key(&net.config("LU")?)?;
    let mut signed = envelope("LU", "FR", now(), 1).sign(&key)?;
    signed.signature.0[10] ^= 0x01;
    let r = rejection(peer.send(&signed.to_bytes()?).await?);
    assert_eq!(r.code, RejectionCode::BadSignature);

    // Signed by a key that is not LU's.
    let other = poc247_protocol::SigningKey::from_bytes(&[3; 32]);
    let forged = envelope("LU", "FR", now(), 2).sign(&other)?;
    let r = rejection(peer.send(&forged.to_bytes()?).await?);
    assert_eq!(r.code, RejectionCode::BadSignature);

    // Signed by LU but claiming to come from CO: the signer must be the TLS peer.
    let spoof = envelope("CO", "FR", now(), 3).sign(&key)?;
    let r = rejection(peer.send(&spoof.to_bytes()?).await?);
    assert_eq!(r.code, RejectionCode::BadSignature);

    let fr = net.net.node(&party("FR")).unwrap().cases();
    assert_eq!(fr.store().message_count(), 0, "nothing stored");
    assert!(fr.store().cases()?.is_empty());
    peer.close().await;
    net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_over_the_limit_gets_too_large_and_the_connection_stays_usable(
) -> anyhow::Result<()> {
    let net = Net::embedded().await?;
    let peer = raw_lu_to_fr(&net).await?;
    let r = rejection(peer.send_partial(2 << 20, &[0u8; 1024]).await?);
    assert_eq!(r.code, RejectionCode::TooLarge);

    // The same connection still carries a valid message.
    let key = signing_key(&net.config("LU")?)?;
    let good = envelope("LU", "FR", now(), 1).sign(&key)?;
    assert!(matches!(
        peer.send(&good.to_bytes()?).await?,
        Reply::Receipt(_)
    ));
    let fr = net.net.node(&party("FR")).unwrap().cases();
    assert_eq!(fr.store().message_count(), 1);
    peer.close().await;
    net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_frames_get_their_documented_codes_and_an_exact_replay_its_receipt(
) -> anyhow::Result<()> {
    let net = Net::embedded().await?;
    let peer = raw_lu_to_fr(&net).await?;
    let key = signing_key(&net.config("LU")?)?;

    for garbage in [&b""[..], &b"\x01\x02\x03"[..], &[0xFF; 64][..]] {
        let r = rejection(peer.send(garbage).await?);
        assert_eq!(r.code, RejectionCode::BadFrame, "{garbage:?}");
    }
    let truncated = envelope("LU", "FR", now(), 1).sign(&key)?.to_bytes()?;
    let r = rejection(peer.send(&truncated[..truncated.len() / 2]).await?);
    assert_eq!(r.code, RejectionCode::BadFrame);

    let to_co = envelope("LU", "CO", now(), 2).sign(&key)?;
    assert_eq!(
        rejection(peer.send(&to_co.to_bytes()?).await?).code,
        RejectionCode::WrongRecipient
    );

    let old = envelope("LU", "FR", poc247_protocol::UtcMs(now().0 - 3_600_000), 3).sign(&key)?;
    assert_eq!(
        rejection(peer.send(&old.to_bytes()?).await?).code,
        RejectionCode::Stale
    );

    let mut incomplete = envelope("LU", "FR", now(), 4);
    #[allow(irrefutable_let_patterns)] // more kinds come; this one is a preservation
    if let poc247_protocol::Body::Preservation(p) = &mut incomplete.body {
        p.offence.clear();
        p.mla_intent = false;
    }
    let r = rejection(peer.send(&incomplete.sign(&key)?.to_bytes()?).await?);
    assert_eq!(r.code, RejectionCode::InvalidBody);
    let names: Vec<&str> = r.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(names, ["offence", "mla_intent"]);

    let fr = net.net.node(&party("FR")).unwrap().cases();
    assert_eq!(
        fr.store().message_count(),
        0,
        "nothing stored by hostile frames"
    );

    // An exact replay gets the receipt given the first time; the message is stored once.
    let good = envelope("LU", "FR", now(), 5).sign(&key)?.to_bytes()?;
    let Reply::Receipt(first) = peer.send(&good).await? else {
        panic!("first delivery refused")
    };
    let Reply::Receipt(again) = peer.send(&good).await? else {
        panic!("replay refused")
    };
    assert_eq!(first, again);
    assert_eq!(fr.store().message_count(), 1);
    peer.close().await;
    net.net.shutdown().await;
    Ok(())
}
