//! The walking skeleton end to end: real nodes on loopback, real QUIC, real sled files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use poc247_node::store::DeliveryState;
use poc247_protocol::MessageId;
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
    let stored = fr
        .shared()
        .store
        .message(id.parse::<MessageId>()?)?
        .unwrap();
    assert_eq!(stored.delivery, DeliveryState::Received);
    net.net.shutdown().await;
    Ok(())
}
