//! The audit log: hash-chained, checkpointed, and `verify` finds every edit, deletion and
//! reordering made directly in the node's sled files.

use poc247_node::audit::{AuditEntry, Verification};
use poc247_node::config::StoreSettings;
use poc247_node::store::Store;
use poc247_protocol::codec;
use poc247_tests::*;
use std::path::{Path, PathBuf};

/// Tampers with the `audit` tree (and the `meta` tree, where the head is kept) of a copy of
/// the data folder, then verifies it.
async fn tamper_and_verify(
    data: &Path,
    work: PathBuf,
    key: &poc247_protocol::SigningKey,
    tamper: impl FnOnce(&sled::Tree, &sled::Tree) -> anyhow::Result<()>,
) -> anyhow::Result<Verification> {
    copy_dir(data, &work)?;
    {
        let db = sled::open(work.join("sled"))?;
        tamper(&db.open_tree("audit")?, &db.open_tree("meta")?)?;
        db.flush()?;
    }
    let (store, committer) = Store::open(&work, &StoreSettings::default(), key.clone())?;
    let v = store.verify_audit(&key.verifying_key())?;
    drop(store);
    committer.await?;
    Ok(v)
}

fn seq_key(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_every_edit_deletion_and_reordering() -> anyhow::Result<()> {
    let mut net = Net::embedded().await?;
    let mut events = net.events("LU")?;
    for _ in 0..3 {
        let done = net.submit("LU", &preservation_request("FR")).await?;
        wait_delivered(&mut events, done["message_id"].as_str().unwrap(), 10).await?;
        net.case("LU", done["case_ref"].as_str().unwrap()).await?;
    }
    let live = net.client("LU")?.get("/v1/audit/verify").await?;
    assert_eq!(
        live.body["broken"],
        serde_json::Value::Null,
        "{}",
        live.body
    );
    assert_eq!(
        live.body["entries"], 9,
        "queued, delivered and read, three times"
    );
    let export = net.client("LU")?.get("/v1/audit?from=2&limit=2").await?;
    let entries = export.body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["seq"], 2);
    assert_eq!(entries[0]["event"], "delivered");
    assert!(
        !export.body.to_string().contains(&preservation().facts),
        "no content"
    );

    let cfg = net.config("LU")?;
    let key = signing_key(&cfg)?;
    net.net.stop_node(&party("LU")).await; // signs a checkpoint of the head
    let data = cfg.data_dir.clone();
    let scratch = tempfile::tempdir()?;

    let clean = tamper_and_verify(&data, scratch.path().join("clean"), &key, |_, _| Ok(())).await?;
    assert_eq!(clean.broken, None);
    assert_eq!(clean.entries, 9);
    assert!(clean.checkpoints >= 1);

    // An edit: entry 4 now says another event.
    let v = tamper_and_verify(&data, scratch.path().join("edit"), &key, |t, _| {
        let mut e: AuditEntry = codec::decode(&t.get(seq_key(4))?.unwrap())?;
        e.event = "case_read".into();
        t.insert(seq_key(4), codec::encode(&e)?)?;
        Ok(())
    })
    .await?;
    let b = v.broken.expect("edit found");
    assert_eq!(b.seq, 4, "{}", b.problem);

    // A deletion.
    let v = tamper_and_verify(&data, scratch.path().join("delete"), &key, |t, _| {
        t.remove(seq_key(5))?;
        Ok(())
    })
    .await?;
    let b = v.broken.expect("deletion found");
    assert_eq!(b.seq, 5, "{}", b.problem);
    assert!(b.problem.contains("missing"));

    // A reordering: entries 2 and 3 swap places.
    let v = tamper_and_verify(&data, scratch.path().join("reorder"), &key, |t, _| {
        let two = t.get(seq_key(2))?.unwrap();
        let three = t.get(seq_key(3))?.unwrap();
        t.insert(seq_key(2), three)?;
        t.insert(seq_key(3), two)?;
        Ok(())
    })
    .await?;
    let b = v.broken.expect("reordering found");
    assert_eq!(b.seq, 2, "{}", b.problem);
    assert!(b.problem.contains("reordered"));

    // The last entry removed: only the head and the signed checkpoint can tell.
    let v = tamper_and_verify(&data, scratch.path().join("tail"), &key, |t, _| {
        t.remove(seq_key(9))?;
        Ok(())
    })
    .await?;
    assert!(v.broken.is_some(), "a removed tail is found");

    // A rewritten chain (every hash recomputed, and the head with it) still differs from
    // the signed checkpoint: only the checkpoint can tell.
    let v = tamper_and_verify(&data, scratch.path().join("rewrite"), &key, |t, meta| {
        let mut prev = [0u8; 32];
        for n in 1..=9u64 {
            let mut e: AuditEntry = codec::decode(&t.get(seq_key(n))?.unwrap())?;
            if n == 6 {
                e.event = "nothing_happened".into();
            }
            e.prev = prev;
            let bytes = codec::encode(&e)?;
            prev = poc247_node::audit::sha256(&bytes);
            t.insert(seq_key(n), bytes)?;
        }
        meta.insert("audit_head", codec::encode(&(9u64, prev))?)?;
        Ok(())
    })
    .await?;
    let b = v
        .broken
        .expect("a rewritten chain is found by its checkpoint");
    assert_eq!(b.seq, 9, "{}", b.problem);
    assert!(b.problem.contains("checkpoint"), "{}", b.problem);
    net.net.shutdown().await;
    Ok(())
}
