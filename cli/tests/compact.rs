//! `poc247 compact` on real stores: a LU/FR pair run as processes exchanges requests and LU
//! purges some of its cases; then, LU stopped, its store is compacted. Everything sled held
//! (every tree, key by key and byte by byte: cases, messages, envelopes, receipts, audit entries)
//! is there after it, the node starts on it and its audit chain verifies. A store in use is
//! refused, and so are a missing folder, a file and a folder that holds no store, each named,
//! with nothing changed. A compaction SIGKILLed at each of its steps (the test-only
//! `POC247_COMPACT_PAUSE` stops it there) leaves a store that opens whole.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use anyhow::{ensure, Context, Result};
use common::{bin, poc247};
use poc247_tests::crashrun::wait_outbox_empty;
use poc247_tests::procs::NodeProcess;
use poc247_tests::{copy_dir, preservation_request};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

const STOP_LIMIT: Duration = Duration::from_secs(20);

/// Every tree of the store in `data_dir`, as sled holds it.
type Dump = BTreeMap<Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>>;

/// Reads every tree of the sled database at `path` (no node running on it).
fn dump(path: &Path) -> Result<Dump> {
    let mut tries = 0;
    let db = loop {
        match sled::Config::new().path(path).open() {
            Ok(db) => break db,
            Err(e) if tries < 100 && e.to_string().contains("lock") => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(e).context(path.display().to_string()),
        }
    };
    let mut out = Dump::new();
    for name in db.tree_names() {
        let tree = db.open_tree(&name)?;
        let mut kvs = Vec::new();
        for kv in tree.iter() {
            let (k, v) = kv?;
            kvs.push((k.to_vec(), v.to_vec()));
        }
        out.insert(name.to_vec(), kvs);
    }
    Ok(out)
}

fn entries(d: &Dump) -> usize {
    d.values().map(Vec::len).sum()
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    n.sort();
    n
}

/// A LU/FR pair under `dir`: LU sent 24 requests, all delivered with receipts, and purged 8
/// of its cases; both stopped. Returns LU.
async fn fixture(dir: &Path) -> Result<(NodeProcess, NodeProcess)> {
    let (mut lu, mut fr) = poc247_tests::procs::lu_fr_pair(bin_path(), dir, "")?;
    fr.start(None).await?;
    lu.start(None).await?;
    let client = lu.client();
    let mut cases = Vec::new();
    for _ in 0..24 {
        let r = client
            .post("/v1/requests", &preservation_request("FR"))
            .await?;
        ensure!(r.status.as_u16() == 201, "submit: {} {}", r.status, r.body);
        cases.push(r.body["case_ref"].as_str().context("case_ref")?.to_owned());
    }
    wait_outbox_empty(&client, Duration::from_secs(30)).await?;
    for case in cases.iter().step_by(3) {
        let r = client
            .post(
                &format!("/v1/cases/{case}/purge"),
                &json!({ "fields": { "reason": "entered by mistake", "target": "case" } }),
            )
            .await?;
        ensure!(r.status.as_u16() == 200, "purge: {} {}", r.status, r.body);
    }
    lu.stop(STOP_LIMIT).await?;
    fr.stop(STOP_LIMIT).await?;
    Ok((lu, fr))
}

fn bin_path() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_poc247"))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Starts LU on its store and checks it: its audit chain verifies, it lists the cases that
/// were not purged, and a new request is delivered.
async fn node_works(lu: &mut NodeProcess, fr: &mut NodeProcess, listed: usize) -> Result<()> {
    fr.start(None).await?;
    lu.start(None).await?;
    let c = lu.client();
    let v = c.get("/v1/audit/verify").await?;
    ensure!(
        v.status.as_u16() == 200
            && v.body["broken"].is_null()
            && v.body["entries"].as_u64() > Some(0),
        "audit verify: {} {}",
        v.status,
        v.body
    );
    let out = c.get("/v1/cases?role=requester&limit=100").await?;
    let n = out.body["cases"].as_array().map_or(0, Vec::len);
    ensure!(
        n == listed,
        "outbox lists {n} cases, not {listed}: {}",
        out.body
    );
    let r = c.post("/v1/requests", &preservation_request("FR")).await?;
    ensure!(r.status.as_u16() == 201, "submit: {} {}", r.status, r.body);
    wait_outbox_empty(&c, Duration::from_secs(30)).await?;
    lu.stop(STOP_LIMIT).await?;
    fr.stop(STOP_LIMIT).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_keeps_every_entry_and_the_node_starts_on_it() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (mut lu, mut fr) = fixture(tmp.path()).await?;
    let data = lu.config().data_dir.clone();
    let before = dump(&data.join("sled"))?;
    ensure!(entries(&before) > 100, "the fixture wrote little");

    let ran = poc247(&["compact", "--data-dir", s(&data), "--json"]).await;
    ensure!(ran.code == Some(0), "compact: {ran:?}");
    let report = ran.json();
    ensure!(
        report["entries"].as_u64() == Some(entries(&before) as u64),
        "{report}"
    );
    ensure!(report["bytes_after"].as_u64().unwrap_or(0) > 0, "{report}");
    // Nothing left beside the store.
    let left: Vec<String> = names(&data)
        .into_iter()
        .filter(|n| n.starts_with("sled."))
        .collect();
    ensure!(left.is_empty(), "left beside the store: {left:?}");
    let after = dump(&data.join("sled"))?;
    ensure!(
        before == after,
        "the compacted store differs from the store"
    );

    // The text for people names the sizes.
    let again = poc247(&["compact", "--data-dir", s(&data)]).await;
    ensure!(
        again.code == Some(0) && again.stdout.contains("MiB before"),
        "{again:?}"
    );
    node_works(&mut lu, &mut fr, 16).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_in_use_and_bad_folders_are_refused_and_nothing_changes() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (mut lu, mut fr) = fixture(tmp.path()).await?;
    let data = lu.config().data_dir.clone();

    // In use: LU runs on it.
    lu.start(None).await?;
    let before = names(&data);
    let ran = poc247(&["compact", "--data-dir", s(&data)]).await;
    ensure!(
        ran.code == Some(1) && ran.stderr.contains("in use") && ran.stderr.contains(s(&data)),
        "{ran:?}"
    );
    ensure!(
        names(&data) == before,
        "{:?} became {:?}",
        before,
        names(&data)
    );
    lu.stop(STOP_LIMIT).await?;

    // --config gives the data folder too.
    let config = lu.config().data_dir.parent().unwrap().join("node.toml");
    ensure!(config.is_file(), "{}", config.display());

    let missing = tmp.path().join("nowhere");
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"not a folder")?;
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty)?;
    // A node's folder whose store is in its data/ folder: the hint names it.
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join("data"))?;
    copy_dir(&data.join("sled"), &home.join("data").join("sled"))?;
    for (dir, says) in [
        (&missing, "no such folder"),
        (&file, "is a file, not a folder"),
        (&empty, "holds no store"),
        (&home, "data/ folder"),
    ] {
        let listing = names(tmp.path());
        let inside = names(dir);
        let ran = poc247(&["compact", "--data-dir", s(dir)]).await;
        ensure!(
            ran.code == Some(1) && ran.stderr.contains(s(dir)) && ran.stderr.contains(says),
            "{}: {ran:?}",
            dir.display()
        );
        ensure!(
            names(tmp.path()) == listing && names(dir) == inside,
            "{}",
            dir.display()
        );
    }
    ensure!(std::fs::read(&file)? == b"not a folder");

    // Without --data-dir, the data_dir of --config.
    let ran = poc247(&["compact", "--config", s(&config), "--json"]).await;
    ensure!(ran.code == Some(0), "{ran:?}");
    ensure!(
        ran.json()["data_dir"].as_str().map(PathBuf::from) == Some(data.clone()),
        "{}",
        ran.stdout
    );
    node_works(&mut lu, &mut fr, 16).await
}

/// Runs `compact` on `data` until it says it paused at `step`, then SIGKILLs it.
async fn kill_at(data: &Path, step: &str) -> Result<()> {
    let mut child = bin()
        .args(["compact", "--data-dir", s(data)])
        .env("POC247_COMPACT_PAUSE", step)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let mut lines = tokio::io::BufReader::new(child.stderr.take().context("stderr")?).lines();
    let said = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(line) = lines.next_line().await? {
            if line.contains(&format!("paused at {step}")) {
                return Ok::<_, anyhow::Error>(true);
            }
        }
        Ok(false)
    })
    .await
    .context("compact did not reach the step")??;
    ensure!(said, "compact ended before {step}");
    child.kill().await?; // SIGKILL
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compaction_killed_at_any_step_leaves_a_store_that_opens_whole() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (mut lu, mut fr) = fixture(tmp.path()).await?;
    let data = lu.config().data_dir.clone();
    let pristine = tmp.path().join("pristine");
    copy_dir(&data, &pristine)?;
    // FR's too: the node started at one step sends it a request the others do not know.
    let fr_data = fr.config().data_dir.clone();
    let fr_pristine = tmp.path().join("fr-pristine");
    copy_dir(&fr_data, &fr_pristine)?;
    let before = dump(&data.join("sled"))?;
    for step in ["copying", "copied", "checked", "whole", "moved", "swapped"] {
        std::fs::remove_dir_all(&data)?;
        copy_dir(&pristine, &data)?;
        kill_at(&data, step).await?;
        let beside: Vec<String> = names(&data)
            .into_iter()
            .filter(|n| n.starts_with("sled"))
            .collect();
        // Killed between the renames, the store's folder is not there: the next opening
        // must put the copy in its place.
        let expect: &[&str] = match step {
            "copying" | "copied" | "checked" => &["sled", "sled.compact"],
            "whole" => &["sled", "sled.new"],
            "moved" => &["sled.new", "sled.old"],
            _ => &["sled", "sled.old"],
        };
        ensure!(beside == expect, "{step}: {beside:?}");
        if step == "moved" {
            // The node itself is the first to open it.
            node_works(&mut lu, &mut fr, 16).await.context(step)?;
            std::fs::remove_dir_all(&data)?;
            copy_dir(&pristine, &data)?;
            std::fs::remove_dir_all(&fr_data)?;
            copy_dir(&fr_pristine, &fr_data)?;
            kill_at(&data, step).await?;
        }
        // The store as a node opens it (the same opening), then as sled holds it.
        let key = poc247_node::keys::load_signing_key(&lu.config().signing_key)?;
        let (store, committer) =
            poc247_node::store::Store::open(&data, &lu.config().store, key.clone())?;
        let verified = store.verify_audit(&key.verifying_key())?;
        ensure!(verified.broken.is_none(), "{step}: {:?}", verified.broken);
        drop(store);
        committer.await?;
        let left: Vec<String> = names(&data)
            .into_iter()
            .filter(|n| n.starts_with("sled"))
            .collect();
        ensure!(left == ["sled"], "{step}: left {left:?}");
        let after = dump(&data.join("sled"))?;
        ensure!(
            entries(&after) == entries(&before) && after == before,
            "{step}: the store differs after the kill ({} entries, {} before)",
            entries(&after),
            entries(&before)
        );
        // And a compaction run to its end afterwards.
        let ran = poc247(&["compact", "--data-dir", s(&data)]).await;
        ensure!(ran.code == Some(0), "{step}: {ran:?}");
        ensure!(
            dump(&data.join("sled"))? == before,
            "{step}: after compaction"
        );
    }
    node_works(&mut lu, &mut fr, 16).await
}
