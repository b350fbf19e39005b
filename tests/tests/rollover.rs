//! A Party rolls its signing key and its TLS key over while requests flow, through signed
//! directory versions, on real nodes: none is lost or refused, the new keys take over once a
//! version lists them, what the old key signed stays verifiable, and once a version ends the
//! old key's window a message signed with it is refused with that reason.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use poc247_node::peers::directory::KeyWindowFile;
use poc247_node::peers::registry;
use poc247_node::peers::rollover;
use poc247_protocol::{fingerprint, RejectionCode, Reply, UtcMs};
use poc247_tests::*;
use std::time::Duration;

async fn wait_until<F: std::future::Future<Output = anyhow::Result<bool>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> anyhow::Result<()> {
    let start = std::time::Instant::now();
    while !check().await? {
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(15),
            "after 15 s: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

async fn serial(net: &Net, p: &str) -> anyhow::Result<u64> {
    let s = net.client(p)?.get("/v1/status").await?.body;
    Ok(s["directory_version"]["serial"].as_u64().unwrap_or(0))
}

/// LU sends `n` preservation requests to FR; their message ids.
async fn send(net: &Net, n: usize) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    for _ in 0..n {
        let r = net.submit("LU", &preservation_request("FR")).await?;
        ids.push(r["message_id"].as_str().unwrap().to_owned());
    }
    Ok(ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_party_rolls_its_signing_and_tls_keys_while_requests_flow_and_none_is_lost(
) -> anyhow::Result<()> {
    let net = registry_net(&["LU", "FR"]).await?;
    let registry = net.registry()?;
    let v0 = net.version_in_force("LU")?;
    let lu = net.client("LU")?;
    let fr = net.client("FR")?;
    let t0 = UtcMs(now().0);
    let v1 = registry::publish(&registry, signed_entries(&net, |_| {})?, Some(&v0), t0, 30)?;
    assert_eq!(
        lu.post("/v1/directory", &version_json(&v1)?)
            .await?
            .status
            .as_u16(),
        200
    );
    wait_until("FR holds version 1", || async {
        Ok(serial(&net, "FR").await? == 2)
    })
    .await?;
    let mut ids = send(&net, 40).await?;

    // FR makes its next keys beside the current ones; nothing changes yet.
    let fr_cfg = net.config("FR")?;
    let old_key = signing_key(&fr_cfg)?;
    let next_signing = rollover::rotate_signing(&fr_cfg)?;
    let next_tls = rollover::rotate_tls(&fr_cfg)?;
    let again = rollover::rotate_signing(&fr_cfg).unwrap_err();
    assert!(again.to_string().contains("already there"), "{again}");
    let (_, csr_path, cert_path) = rollover::next_tls_paths(&fr_cfg);
    let cert = registry::sign_csr(
        net.net.dir(),
        &std::fs::read_to_string(&csr_path)?,
        &party("FR"),
        30,
    )?;
    std::fs::write(&cert_path, cert)?;
    ids.extend(send(&net, 40).await?);
    let status = fr.get("/v1/status").await?.body;
    assert_eq!(status["signing_key"], fingerprint(&old_key.verifying_key()));

    // FR's entry lists both keys and both pins (as `directory entry` does), signed with its
    // key in use; once the version is in force, FR signs with the new key.
    let v2 = registry::publish(
        &registry,
        signed_entries(&net, |e| {
            if e.id == "FR" {
                e.signing_keys.push(KeyWindowFile {
                    key: next_signing.key.clone(),
                    valid_from: None,
                    valid_until: None,
                });
                e.spki_pins.push(KeyWindowFile {
                    key: next_tls.key.clone(),
                    valid_from: None,
                    valid_until: None,
                });
            }
        })?,
        Some(&v1),
        t0,
        30,
    )?;
    let sending = {
        let lu_net = &net;
        async move { send(lu_net, 40).await }
    };
    let v2_json = version_json(&v2)?;
    let (applied, more) = tokio::join!(lu.post("/v1/directory", &v2_json), sending);
    assert_eq!(applied?.status.as_u16(), 200);
    ids.extend(more?);
    let new_fp = next_signing.fingerprint.clone().unwrap();
    wait_until("FR signs with its new key", || async {
        Ok(fr.get("/v1/status").await?.body["signing_key"] == new_fp.as_str())
    })
    .await?;
    assert!(
        !rollover::next_signing_path(&fr_cfg).exists(),
        "promoted in its place"
    );
    assert_eq!(
        fingerprint(&signing_key(&fr_cfg)?.verifying_key()),
        new_fp,
        "the key file is the new key"
    );

    // FR takes its renewed certificate on reload; LU's new connections see the new key.
    let reload = fr.post("/v1/peers/reload", &serde_json::json!({})).await?;
    assert_eq!(reload.status.as_u16(), 200, "{}", reload.body);
    assert_eq!(
        poc247_node::init::spki_of_key_file(&fr_cfg.tls_key)?,
        next_tls.key,
        "the next TLS key is in use"
    );
    net.net
        .node(&party("LU"))
        .unwrap()
        .connections()
        .close_peer(&party("FR"), b"test", Duration::from_secs(1))
        .await;
    ids.extend(send(&net, 40).await?);
    // Every request is delivered, its receipt verified, none refused.
    wait_until("every request delivered", || async {
        let store = net.net.node(&party("LU")).unwrap().store();
        for id in &ids {
            let m = store.message(id.parse()?)?.unwrap();
            anyhow::ensure!(
                !matches!(m.delivery, poc247_node::store::DeliveryState::Failed { .. }),
                "{id} refused: {:?}",
                m.delivery
            );
            if m.delivery != poc247_node::store::DeliveryState::Delivered {
                return Ok(false);
            }
        }
        Ok(true)
    })
    .await?;
    assert_eq!(ids.len(), 160);

    // An acknowledgement FR signs with its new key reaches LU.
    let case = lu.get("/v1/cases?role=requester&limit=1").await?.body["cases"][0]["case_ref"]
        .as_str()
        .unwrap()
        .to_owned();
    let ack = fr
        .post(
            &format!("/v1/cases/{case}/acknowledge"),
            &serde_json::json!({ "fields": { "officer": "duty officer" } }),
        )
        .await?;
    assert_eq!(ack.status.as_u16(), 201, "{}", ack.body);
    wait_until("LU has FR's acknowledgement", || async {
        Ok(lu.get(&format!("/v1/cases/{case}")).await?.body["state"] == "acknowledged")
    })
    .await?;

    // The next version ends the old key's window and drops the old pin.
    let ended = UtcMs(now().0 - 1000).rfc3339();
    let old_b64 = poc247_node::peers::directory::encode_public_key(&old_key.verifying_key());
    let v3 = registry::publish(
        &registry,
        signed_entries(&net, |e| {
            if e.id == "FR" {
                e.signing_key = next_signing.key.clone();
                e.signing_keys = vec![KeyWindowFile {
                    key: old_b64.clone(),
                    valid_from: None,
                    valid_until: Some(ended.clone()),
                }];
                e.spki_sha256 = Some(next_tls.key.clone());
                e.spki_pins.clear();
            }
        })?,
        Some(&v2),
        t0,
        30,
    )?;
    assert_eq!(
        lu.post("/v1/directory", &version_json(&v3)?)
            .await?
            .status
            .as_u16(),
        200
    );
    wait_until("FR holds version 3", || async {
        Ok(serial(&net, "FR").await? == 4)
    })
    .await?;

    // What FR's old key signed stays verifiable at LU: the first request's receipt.
    let first = lu.get(&format!("/v1/cases/{case}")).await?.body;
    let receipt = &first["timeline"][0]["receipt"];
    assert_eq!(receipt["verified"], true, "{first}");
    // FR's audit chain verifies across the change of key.
    let audit = fr.get("/v1/audit/verify").await?.body;
    assert!(audit["broken"].is_null(), "{audit}");
    assert!(audit["entries"].as_u64().unwrap() > 0, "{audit}");

    // A message FR's old key signs now is refused, naming the window.
    let retired =
        poc247_node::keys::load_signing_key(&fr_cfg.signing_key.with_file_name(format!(
            "signing.{}.key",
            fingerprint(&old_key.verifying_key()).replace(':', "")
        )))?;
    assert_eq!(
        retired.verifying_key(),
        old_key.verifying_key(),
        "the old key is kept"
    );
    let lu_addr = net.net.node(&party("LU")).unwrap().local_addr()?;
    let raw = RawPeer::connect(&fr_cfg, "LU", lu_addr).await?;
    let frame = envelope("FR", "LU", UtcMs(now().0), 900)
        .sign(&retired)?
        .to_bytes()?;
    match raw.send(&frame).await? {
        Reply::Rejection(r) => {
            assert_eq!(r.code, RejectionCode::BadSignature);
            assert!(r.reason.contains("valid until"), "{}", r.reason);
        }
        other => panic!("an old key's message was taken: {other:?}"),
    }
    raw.close().await;
    net.net.shutdown().await;
    Ok(())
}
