//! A Party changes its node's signing key: what was signed before stays verifiable, on both
//! sides (its receipts at the requester, its own audit checkpoints), and the exchange goes on.

use poc247_node::keys::encode_signing_key;
use poc247_node::peers::directory::{encode_public_key, Directory, LoadDirectory};
use poc247_protocol::SigningKey;
use poc247_tests::flow::*;
use poc247_tests::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_and_checkpoints_signed_before_a_key_change_stay_verified() -> anyhow::Result<()> {
    let mut f = Flow::fresh(&["LU", "FR"]).await?;
    let done = f.net.submit("LU", &preservation_request("FR")).await?;
    let id = done["message_id"].as_str().unwrap().to_owned();
    wait_delivered(f.events.get_mut("LU").unwrap(), &id, 10).await?;
    let case = case_of(&done);
    let before = f.net.case("LU", &case).await?;
    assert_eq!(
        before["timeline"][0]["receipt"]["verified"], true,
        "{before}"
    );

    // FR's administrator stops the node, gives it a new key, and the directory lists it.
    let fr = party("FR");
    let cfg = f.net.config("FR")?;
    f.net.net.stop_node(&fr).await;
    let new_key = SigningKey::from_bytes(&[42; 32]);
    std::fs::write(&cfg.signing_key, encode_signing_key(&new_key))?;
    let mut file = Directory::load(&cfg.directory)?.to_file();
    for e in file.party.iter_mut().filter(|e| e.id == "FR") {
        e.signing_key = encode_public_key(&new_key.verifying_key());
    }
    let lu_directory = f.net.config("LU")?.directory;
    for path in [&cfg.directory, &lu_directory] {
        std::fs::write(path, toml::to_string(&file)?)?;
    }
    f.net.net.start_node_with(&fr, cfg.clone()).await?;
    let r = f
        .net
        .client("LU")?
        .post("/v1/peers/reload", &json!({}))
        .await?;
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);

    // FR's earlier receipt is still shown verified at LU, with the key that signed it.
    let after = f.net.case("LU", &case).await?;
    assert_eq!(after["timeline"][0]["receipt"]["verified"], true, "{after}");
    assert_eq!(
        after["timeline"][0]["receipt"]["receiver_key"],
        before["timeline"][0]["receipt"]["receiver_key"]
    );
    // The exchange goes on with the new key.
    f.act(
        "FR",
        &case,
        "acknowledge",
        json!({ "officer": "permanence" }),
    )
    .await?;
    f.agree("LU", "FR", &case).await?;
    // FR's audit log verifies: checkpoints of the old key and, after one more restart, of
    // the new one; the change itself is in the log.
    f.net.net.stop_node(&fr).await;
    f.net.net.start_node_with(&fr, cfg).await?;
    let v = f.net.client("FR")?.get("/v1/audit/verify").await?;
    assert_eq!(v.status.as_u16(), 200, "{}", v.body);
    assert!(v.body["broken"].is_null(), "{}", v.body);
    assert!(v.body["checkpoints"].as_u64() >= Some(2), "{}", v.body);
    let log = f.net.client("FR")?.get_text("/v1/audit").await?;
    assert!(log.text.contains("signing_key_changed"), "{}", log.text);
    f.net.net.shutdown().await;
    Ok(())
}
