//! Evidence attachments end to end on real nodes (art. 31, 35(1)(c)): a file attached to
//! results arrives on its own stream, verified against its hash and fetchable with the same
//! bytes; an interrupted transfer resumes from the receiver's offset; tampered bytes are
//! refused and nothing is stored; a file over the limit is refused before anything is sent;
//! each outcome is an event on the node's stream. A request carries files too; a refused
//! submission leaves no copy behind; purging a case, a message or one attachment deletes the
//! files nothing else lists (CIC 67-1(3)).

use poc247_tests::*;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Writes `len` pseudo-random bytes (xorshift, seeded) to `path`.
fn random_file(path: &Path, len: usize, seed: u64) -> anyhow::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut x = seed | 1;
    let mut buf = vec![0u8; 1 << 16];
    let mut left = len;
    while left > 0 {
        for chunk in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let b = x.to_le_bytes();
            chunk.copy_from_slice(&b[..chunk.len()]);
        }
        let n = left.min(buf.len());
        f.write_all(&buf[..n])?;
        left -= n;
    }
    f.flush()?;
    Ok(())
}

/// A fresh LU/FR network whose nodes retry quickly; LU asks FR for assistance.
async fn assistance_case(max_file_bytes: Option<u64>) -> anyhow::Result<(Net, String)> {
    let mut net = Net::fresh_prepared(&["LU", "FR"])?;
    net.read_files_from_tmp()?;
    for p in ["LU", "FR"] {
        let mut cfg = net.config(p)?;
        cfg.delivery.initial_backoff_ms = 50;
        cfg.delivery.max_backoff_ms = 300;
        if let Some(m) = max_file_bytes {
            cfg.attachments.max_file_bytes = m;
        }
        net.net.start_node_with(&party(p), cfg).await?;
    }
    let mut fr = net.events("FR")?;
    let assist = json!({ "requesting_authority": "Police grand-ducale", "assistance_type": "technical_advice", "question": "What does this mailbox hold?", "offence": "fraud" });
    let body = json!({ "kind": "assistance", "to": "FR", "urgency": "routine", "language": "fr", "fields": assist });
    let done = net.submit("LU", &body).await?;
    let id = done["message_id"].as_str().unwrap_or_default().to_owned();
    wait_for(&mut fr, 10, |e| {
        e.message_id.map(|m| m.to_string()).as_deref() == Some(id.as_str())
    })
    .await?;
    let case = done["case_ref"].as_str().unwrap_or_default().to_owned();
    Ok((net, case))
}

/// FR posts results with `files` attached; returns (status, body).
async fn results_with(net: &Net, case: &str, files: &[&Path]) -> anyhow::Result<(u16, Value)> {
    let paths: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let body = json!({ "fields": { "summary": "mailbox export" }, "attachments": paths });
    let r = net
        .client("FR")?
        .post(&format!("/v1/cases/{case}/results"), &body)
        .await?;
    Ok((r.status.as_u16(), r.body))
}

/// Waits until FR holds LU's receipt for attachment `sha` of message `id`.
async fn receipted(net: &Net, id: &str, sha: &str, secs: u64) -> anyhow::Result<()> {
    receipted_by(net, "FR", id, sha, secs).await
}

/// Waits until `sender` holds the peer's receipt for attachment `sha` of message `id`.
async fn receipted_by(
    net: &Net,
    sender: &str,
    id: &str,
    sha: &str,
    secs: u64,
) -> anyhow::Result<()> {
    let id: poc247_protocol::MessageId = id.parse()?;
    let hash = poc247_protocol::parse_sha256_hex(sha).ok_or_else(|| anyhow::anyhow!("hash"))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let node = net
            .net
            .node(&party(sender))
            .ok_or_else(|| anyhow::anyhow!("{sender} not running"))?;
        if node.attachments().receipt(id, &hash)?.is_some() {
            return Ok(());
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "no attachment receipt within {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn attachments_dir(net: &Net, p: &str) -> anyhow::Result<PathBuf> {
    Ok(net.config(p)?.data_dir.join("attachments"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn evidence_attached_to_results_arrives_verified_and_fetchable_art_31() -> anyhow::Result<()>
{
    let (net, case) = assistance_case(None).await?;
    let file = net.tmp.path().join("export.mbox");
    random_file(&file, 5 << 20, 31)?;
    let sha = sha256_file(&file)?;
    let (status, done) = results_with(&net, &case, &[&file]).await?;
    assert_eq!(status, 201, "{done}");
    let id = done["message_id"].as_str().unwrap_or_default().to_owned();
    receipted(&net, &id, &sha, 15).await?;
    // The signed body lists it, on both sides.
    let view = net.case("LU", &case).await?;
    let listed = view.to_string();
    assert!(
        listed.contains(&sha) && listed.contains("export.mbox"),
        "{view}"
    );
    // LU holds it content-addressed, and gives the same bytes back.
    assert!(attachments_dir(&net, "LU")?.join(&sha).is_file());
    let out = net.tmp.path().join("fetched");
    let got = net
        .client("LU")?
        .download(&format!("/v1/cases/{case}/attachments/{sha}"), &out)
        .await?
        .map_err(|r| anyhow::anyhow!("{} {}", r.status, r.body))?;
    assert_eq!(poc247_protocol::sha256_hex(&got.0), sha);
    assert_eq!(got.1, 5 << 20);
    assert_eq!(std::fs::read(&out)?, std::fs::read(&file)?);
    // An attachment the case does not list is not served.
    let other = "0f".repeat(32);
    let r = net
        .client("LU")?
        .download(&format!("/v1/cases/{case}/attachments/{other}"), &out)
        .await?;
    assert_eq!(r.err().map(|r| r.status.as_u16()), Some(404));
    net.net.shutdown().await;
    Ok(())
}

/// Reads an SSE stream until an event of type `kind` comes; returns it.
async fn sse_until(
    stream: &mut poc247_api::client::EventStream,
    kind: &str,
    secs: u64,
) -> anyhow::Result<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let ev = next_event(stream, left.as_secs().max(1)).await?;
        if ev["type"] == kind {
            return Ok(ev);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn attachment_received_and_delivered_are_events_with_hash_and_size_only() -> anyhow::Result<()>
{
    let (net, case) = assistance_case(None).await?;
    let mut lu_events = net.client("LU")?.events().await?;
    let mut fr_events = net.client("FR")?.events().await?;
    let file = net.tmp.path().join("secret-name-of-the-suspect.mbox");
    random_file(&file, 1 << 20, 35)?;
    let sha = sha256_file(&file)?;
    let (status, done) = results_with(&net, &case, &[&file]).await?;
    assert_eq!(status, 201, "{done}");
    let id = done["message_id"].as_str().unwrap_or_default().to_owned();
    // The receiver: after the file is verified, stored, flushed and its receipt signed.
    let got = sse_until(&mut lu_events, "attachment_received", 15).await?;
    assert_eq!(got["sha256"], sha.as_str(), "{got}");
    assert_eq!(got["size"], 1 << 20, "{got}");
    assert_eq!(got["message_id"], id.as_str(), "{got}");
    assert_eq!(got["case_ref"], case.as_str(), "{got}");
    assert_eq!(got["message_kind"], "results", "{got}");
    assert_eq!(got["peer"], "FR", "{got}");
    assert!(
        attachments_dir(&net, "LU")?.join(&sha).is_file(),
        "published before the file was in place"
    );
    // The sender: the message's own `delivered` first, then the attachment's.
    let delivered = sse_until(&mut fr_events, "delivered", 15).await?;
    assert_eq!(delivered["message_id"], id.as_str(), "{delivered}");
    let sent = sse_until(&mut fr_events, "attachment_delivered", 15).await?;
    assert_eq!(sent["sha256"], sha.as_str(), "{sent}");
    assert_eq!(sent["size"], 1 << 20, "{sent}");
    assert_eq!(sent["message_id"], id.as_str(), "{sent}");
    assert_eq!(sent["case_ref"], case.as_str(), "{sent}");
    assert_eq!(sent["message_kind"], "results", "{sent}");
    assert_eq!(sent["peer"], "LU", "{sent}");
    assert_eq!(
        sent["receiver_key"].as_str().map(str::len),
        Some(23),
        "{sent}"
    );
    let hash = poc247_protocol::parse_sha256_hex(&sha).ok_or_else(|| anyhow::anyhow!("hash"))?;
    let fr = net
        .net
        .node(&party("FR"))
        .ok_or_else(|| anyhow::anyhow!("FR"))?;
    assert!(
        fr.attachments().receipt(id.parse()?, &hash)?.is_some(),
        "published before the receipt was stored"
    );
    // Ids, hashes and sizes: never the file's name.
    for ev in [&got, &sent] {
        assert!(!ev.to_string().contains("suspect"), "{ev}");
    }
    // Both are in the durable log: a reader resuming before them gets them again.
    let seq = got["seq"].as_u64().unwrap_or_default();
    let mut again = net.client("LU")?.events_after(seq - 1).await?;
    assert_eq!(next_event(&mut again, 5).await?, got);
    let seq = sent["seq"].as_u64().unwrap_or_default();
    let mut again = net.client("FR")?.events_after(seq - 1).await?;
    assert_eq!(next_event(&mut again, 5).await?, sent);
    net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_interrupted_transfer_resumes_from_the_receivers_offset() -> anyhow::Result<()> {
    const SIZE: u64 = 200 << 20;
    let (mut net, case) = assistance_case(None).await?;
    let file = net.tmp.path().join("disk.img");
    random_file(&file, SIZE as usize, 2001)?;
    let sha = sha256_file(&file)?;
    let (status, done) = results_with(&net, &case, &[&file]).await?;
    // The node has its own copy: the original can go.
    std::fs::remove_file(&file)?;
    assert_eq!(status, 201, "{done}");
    let id = done["message_id"].as_str().unwrap_or_default().to_owned();
    let part = attachments_dir(&net, "LU")?.join(format!("{sha}.{id}.part"));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0) < SIZE / 5 {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "transfer never started"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // The receiver goes away in the middle of the transfer.
    net.net.stop_node(&party("LU")).await;
    let held = std::fs::metadata(&part)?.len();
    assert!(held > 0 && held < SIZE, "{held}");
    let counter = net
        .net
        .node(&party("FR"))
        .ok_or_else(|| anyhow::anyhow!("FR"))?
        .attachments()
        .bytes_sent
        .clone();
    let sent = || counter.load(Ordering::Relaxed);
    let before = sent();
    net.net.start_node(&party("LU")).await?;
    receipted(&net, &id, &sha, 30).await?;
    let after_restart = sent() - before;
    assert_eq!(
        after_restart,
        SIZE - held,
        "only the remainder is sent again (held {held} of {SIZE})"
    );
    assert!(!part.exists());
    let stored = attachments_dir(&net, "LU")?.join(&sha);
    assert_eq!(sha256_file(&stored)?, sha);
    net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tampered_attachment_is_refused_and_nothing_is_stored() -> anyhow::Result<()> {
    let (mut net, case) = assistance_case(None).await?;
    let mut fr_events = net.client("FR")?.events().await?;
    let file = net.tmp.path().join("log.txt");
    random_file(&file, 1 << 20, 7)?;
    let sha = sha256_file(&file)?;
    // LU is away while FR queues the results; FR's copy is then altered (same size).
    net.net.stop_node(&party("LU")).await;
    let (status, done) = results_with(&net, &case, &[&file]).await?;
    assert_eq!(status, 201, "{done}");
    let id: poc247_protocol::MessageId = done["message_id"].as_str().unwrap_or_default().parse()?;
    let copy = attachments_dir(&net, "FR")?.join(&sha);
    let mut bytes = std::fs::read(&copy)?;
    bytes[1000] ^= 0xff;
    std::fs::write(&copy, &bytes)?;
    net.net.start_node(&party("LU")).await?;
    // The message is delivered; its attachment is refused for good.
    let hash = poc247_protocol::parse_sha256_hex(&sha).ok_or_else(|| anyhow::anyhow!("hash"))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let fr = net
            .net
            .node(&party("FR"))
            .ok_or_else(|| anyhow::anyhow!("FR"))?;
        let a = &fr.attachments();
        let settled =
            fr.store().message(id)?.is_some_and(|m| m.receipt.is_some()) && a.pending()?.is_empty();
        if settled {
            assert!(a.receipt(id, &hash)?.is_none());
            break;
        }
        anyhow::ensure!(std::time::Instant::now() < deadline, "never settled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // FR's officers are told, with LU's reason.
    let failed = sse_until(&mut fr_events, "attachment_failed", 15).await?;
    assert_eq!(failed["sha256"], sha.as_str(), "{failed}");
    assert_eq!(failed["size"], 1 << 20, "{failed}");
    assert_eq!(failed["message_id"], id.to_string(), "{failed}");
    assert_eq!(failed["peer"], "LU", "{failed}");
    let reason = failed["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("invalid-body") && reason.contains("hash to"),
        "{failed}"
    );
    let dir = attachments_dir(&net, "LU")?;
    assert!(!dir.join(&sha).exists());
    assert!(!dir.join(format!("{sha}.{id}.part")).exists());
    let lu = net
        .net
        .node(&party("LU"))
        .ok_or_else(|| anyhow::anyhow!("LU"))?;
    assert!(lu.attachments().record(&hash)?.is_none());
    net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_attachment_over_the_limit_is_refused_before_anything_is_sent() -> anyhow::Result<()> {
    let (net, case) = assistance_case(Some(1 << 20)).await?;
    let small = net.tmp.path().join("small.txt");
    let big = net.tmp.path().join("big.img");
    random_file(&small, 1000, 1)?;
    random_file(&big, 2 << 20, 2)?;
    let (status, body) = results_with(&net, &case, &[&small, &big]).await?;
    assert_eq!(status, 422, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("big.img"), "{message}");
    // Nothing was copied, queued or sent.
    let copied = std::fs::read_dir(attachments_dir(&net, "FR")?)?.count();
    assert_eq!(copied, 0);
    let view = net.case("FR", &case).await?;
    assert_eq!(view["messages"], 1, "{view}");
    // A message kind without attachments refuses them too.
    let r = net
        .client("FR")?
        .post(
            &format!("/v1/cases/{case}/acknowledge"),
            &json!({ "fields": { "officer": "OCLCTIC" }, "attachments": [small.display().to_string()] }),
        )
        .await?;
    assert_eq!(r.status.as_u16(), 422, "{}", r.body);
    net.net.shutdown().await;
    Ok(())
}

/// The entries of `p`'s audit log, as one text.
async fn audit_text(net: &Net, p: &str) -> anyhow::Result<String> {
    Ok(net.client(p)?.get("/v1/audit").await?.body.to_string())
}

/// The names in `p`'s attachment folder, sorted.
fn held(net: &Net, p: &str) -> anyhow::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(attachments_dir(net, p)?)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    names.sort();
    Ok(names)
}

/// `p` fetches attachment `sha` of `case` into a fresh file: the status, and the bytes or
/// the error body.
async fn fetch(
    net: &Net,
    p: &str,
    case: &str,
    sha: &str,
) -> anyhow::Result<(u16, Result<Vec<u8>, Value>)> {
    let out = net.tmp.path().join(format!("fetch-{}", rand_suffix()));
    let got = net
        .client(p)?
        .download(&format!("/v1/cases/{case}/attachments/{sha}"), &out)
        .await?;
    Ok(match got {
        Ok(_) => (200, Ok(std::fs::read(&out)?)),
        Err(r) => (r.status.as_u16(), Err(r.body)),
    })
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::AtomicU64;
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// `p` purges in `case` with `fields`; the status and body.
async fn purge(net: &Net, p: &str, case: &str, fields: Value) -> anyhow::Result<(u16, Value)> {
    let r = net
        .client(p)?
        .post(
            &format!("/v1/cases/{case}/purge"),
            &json!({ "fields": fields }),
        )
        .await?;
    Ok((r.status.as_u16(), r.body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_carries_evidence_files_but_an_information_offer_does_not_art_26_2(
) -> anyhow::Result<()> {
    let (net, _) = assistance_case(None).await?;
    let file = net.tmp.path().join("firewall.log");
    random_file(&file, 700_000, 35)?;
    let sha = sha256_file(&file)?;
    let assist = json!({ "requesting_authority": "Police grand-ducale", "assistance_type": "technical_advice", "question": "Which host does this log show?", "offence": "illegal access" });
    // The hash the sender computed is checked against the node's own copy.
    let body = json!({ "kind": "assistance", "to": "FR", "urgency": "urgent", "language": "fr",
        "fields": assist, "attachments": [{ "path": file.display().to_string(), "sha256": sha }] });
    let done = net.submit("LU", &body).await?;
    let case = done["case_ref"].as_str().unwrap_or_default().to_owned();
    let id = done["message_id"].as_str().unwrap_or_default().to_owned();
    receipted_by(&net, "LU", &id, &sha, 15).await?;
    let at_fr = net.case("FR", &case).await?;
    let listed = &at_fr["timeline"][0]["body"]["attachments"][0];
    assert_eq!(listed["sha256"], sha.as_str(), "{at_fr}");
    assert_eq!(listed["name"], "firewall.log");
    let (status, bytes) = fetch(&net, "FR", &case, &sha).await?;
    assert_eq!(status, 200);
    assert_eq!(bytes.ok(), Some(std::fs::read(&file)?));

    // A hash that is not the file's: refused, and no copy stays.
    let before = held(&net, "LU")?;
    let other = net.tmp.path().join("other.log");
    random_file(&other, 1000, 36)?;
    let wrong = json!({ "kind": "assistance", "to": "FR", "urgency": "urgent", "language": "fr",
        "fields": assist, "attachments": [{ "path": other.display().to_string(), "sha256": sha }] });
    let r = net.client("LU")?.post("/v1/requests", &wrong).await?;
    assert_eq!(r.status.as_u16(), 422, "{}", r.body);
    let message = r.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("other.log") && message.contains("changed"),
        "{message}"
    );
    assert_eq!(held(&net, "LU")?, before);

    // An information offer carries the conditions, not the information.
    let offer = json!({ "kind": "information_offer", "to": "FR", "urgency": "routine",
        "language": "fr", "fields": { "conditions": "confidential", "relevance": "victims" },
        "attachments": [other.display().to_string()] });
    let r = net.client("LU")?.post("/v1/requests", &offer).await?;
    assert_eq!(r.status.as_u16(), 422, "{}", r.body);
    let message = r.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("26(2)"), "{message}");
    assert_eq!(held(&net, "LU")?, before);
    net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_submission_leaves_no_copy_but_spares_a_file_another_message_lists(
) -> anyhow::Result<()> {
    let (net, case) = assistance_case(None).await?;
    let dir = net.tmp.path();
    let (twice, only, shared) = (
        dir.join("twice.log"),
        dir.join("only.log"),
        dir.join("shared.log"),
    );
    random_file(&twice, 300_000, 41)?;
    random_file(&only, 300_000, 42)?;
    random_file(&shared, 300_000, 43)?;
    let assist = json!({ "requesting_authority": "Police grand-ducale", "assistance_type": "evidence_collection", "question": "Please secure these logs' sources.", "offence": "fraud" });
    // 422 after the intake: the same file twice.
    let path = twice.display().to_string();
    let body = json!({ "kind": "assistance", "to": "FR", "urgency": "urgent", "language": "fr",
        "fields": assist, "attachments": [path, path] });
    let r = net.client("LU")?.post("/v1/requests", &body).await?;
    assert_eq!(r.status.as_u16(), 422, "{}", r.body);
    assert!(
        r.body.to_string().contains("attachments[1].sha256"),
        "{}",
        r.body
    );
    assert_eq!(held(&net, "LU")?, Vec::<String>::new());
    // 409 after the intake: the requester may not send results.
    let results =
        json!({ "fields": { "summary": "x" }, "attachments": [only.display().to_string()] });
    let r = net
        .client("LU")?
        .post(&format!("/v1/cases/{case}/results"), &results)
        .await?;
    assert_eq!(r.status.as_u16(), 409, "{}", r.body);
    assert_eq!(held(&net, "LU")?, Vec::<String>::new());
    // A refused submission of a file a stored request lists leaves that file alone.
    let sha = sha256_file(&shared)?;
    let body = json!({ "kind": "assistance", "to": "FR", "urgency": "urgent", "language": "fr",
        "fields": assist, "attachments": [shared.display().to_string()] });
    let mut lu = net.events("LU")?;
    let done = net.submit("LU", &body).await?;
    let id = done["message_id"].as_str().unwrap_or_default().to_owned();
    wait_delivered(&mut lu, &id, 10).await?;
    let again =
        json!({ "fields": { "summary": "x" }, "attachments": [shared.display().to_string()] });
    let new_case = done["case_ref"].as_str().unwrap_or_default();
    let r = net
        .client("LU")?
        .post(&format!("/v1/cases/{new_case}/results"), &again)
        .await?;
    assert_eq!(r.status.as_u16(), 409, "{}", r.body);
    assert_eq!(held(&net, "LU")?, vec![sha.clone()]);
    receipted_by(&net, "LU", &id, &sha, 15).await?;
    assert_eq!(sha256_file(&attachments_dir(&net, "FR")?.join(&sha))?, sha);
    net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn purging_a_message_spares_a_file_another_case_lists_and_purging_that_case_deletes_it_cic_67_1_3(
) -> anyhow::Result<()> {
    let (net, first) = assistance_case(None).await?;
    let mut fr = net.events("FR")?;
    let assist = json!({ "requesting_authority": "Police grand-ducale", "assistance_type": "technical_advice", "question": "And this mailbox?", "offence": "fraud" });
    let done = net
        .submit("LU", &json!({ "kind": "assistance", "to": "FR", "urgency": "routine", "language": "fr", "fields": assist }))
        .await?;
    let second = done["case_ref"].as_str().unwrap_or_default().to_owned();
    let id = done["message_id"].as_str().unwrap_or_default().to_owned();
    wait_for(&mut fr, 10, |e| {
        e.message_id.map(|m| m.to_string()).as_deref() == Some(id.as_str())
    })
    .await?;
    // The same file goes with the results of both cases.
    let file = net.tmp.path().join("jean-dupont-mailbox.mbox");
    random_file(&file, 1 << 20, 67)?;
    let sha = sha256_file(&file)?;
    let mut ids = Vec::new();
    for case in [&first, &second] {
        let (status, done) = results_with(&net, case, &[&file]).await?;
        assert_eq!(status, 201, "{done}");
        ids.push(done["message_id"].as_str().unwrap_or_default().to_owned());
    }
    for id in &ids {
        receipted(&net, id, &sha, 15).await?;
    }
    // LU purges the results of the first case: the file stays for the second.
    let (status, body) = purge(
        &net,
        "LU",
        &first,
        json!({ "target": "message", "message_id": ids[0], "reason": "person not targeted" }),
    )
    .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(held(&net, "LU")?, vec![sha.clone()]);
    let (status, err) = fetch(&net, "LU", &first, &sha).await?;
    assert_eq!(status, 410, "{err:?}");
    let err = err.err().unwrap_or_default();
    assert_eq!(err["error"]["code"], "purged", "{err}");
    let (status, bytes) = fetch(&net, "LU", &second, &sha).await?;
    assert_eq!(status, 200);
    assert_eq!(bytes.ok(), Some(std::fs::read(&file)?));
    // Purging the second case deletes it.
    let (status, body) = purge(
        &net,
        "LU",
        &second,
        json!({ "target": "case", "reason": "retention" }),
    )
    .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(held(&net, "LU")?, Vec::<String>::new());
    let (status, _) = fetch(&net, "LU", &second, &sha).await?;
    assert_eq!(status, 404);
    // The audit keeps that it happened and why, never the file's name.
    let audit = audit_text(&net, "LU").await?;
    assert!(
        audit.contains("purged_message:person not targeted"),
        "{audit}"
    );
    assert!(audit.contains("purged:retention"), "{audit}");
    assert!(!audit.contains("jean-dupont"), "{audit}");
    let verify = net.client("LU")?.get("/v1/audit/verify").await?.body;
    assert_eq!(verify["broken"], Value::Null, "{verify}");
    // FR, the sender, still holds its copy for its own cases.
    assert_eq!(held(&net, "FR")?, vec![sha.clone()]);
    net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_attachment_is_purged_the_others_stay_and_a_queued_one_is_never_sent_cic_67_1_3(
) -> anyhow::Result<()> {
    let (mut net, case) = assistance_case(None).await?;
    let (keep, drop) = (
        net.tmp.path().join("keep.log"),
        net.tmp.path().join("drop.log"),
    );
    random_file(&keep, 200_000, 1)?;
    random_file(&drop, 200_000, 2)?;
    let (keep_sha, drop_sha) = (sha256_file(&keep)?, sha256_file(&drop)?);
    // LU is away: FR's results wait in its queue with both files.
    net.net.stop_node(&party("LU")).await;
    let (status, done) = results_with(&net, &case, &[&keep, &drop]).await?;
    assert_eq!(status, 201, "{done}");
    let id = done["message_id"].as_str().unwrap_or_default().to_owned();
    let (status, body) = purge(
        &net,
        "FR",
        &case,
        json!({ "target": "attachment", "attachment": drop_sha, "reason": "third party's data" }),
    )
    .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(held(&net, "FR")?, vec![keep_sha.clone()]);
    let (status, err) = fetch(&net, "FR", &case, &drop_sha).await?;
    assert_eq!(status, 410, "{err:?}");
    let (status, _) = fetch(&net, "FR", &case, &keep_sha).await?;
    assert_eq!(status, 200);
    let audit = audit_text(&net, "FR").await?;
    assert!(
        audit.contains(&format!("purged_attachment:{drop_sha}:third party's data")),
        "{audit}"
    );
    // A second attachment purge of an unknown file, or with a message too, is refused.
    let (status, _) = purge(
        &net,
        "FR",
        &case,
        json!({ "target": "attachment", "attachment": "0f".repeat(32), "reason": "x" }),
    )
    .await?;
    assert_eq!(status, 404);
    let (status, _) = purge(
        &net,
        "FR",
        &case,
        json!({ "target": "attachment", "attachment": keep_sha, "message_id": id, "reason": "x" }),
    )
    .await?;
    assert_eq!(status, 422);
    // LU comes back: the kept file arrives, the purged one never leaves FR.
    net.net.start_node(&party("LU")).await?;
    receipted(&net, &id, &keep_sha, 15).await?;
    let fr = net
        .net
        .node(&party("FR"))
        .ok_or_else(|| anyhow::anyhow!("FR"))?;
    assert!(fr.attachments().pending()?.is_empty());
    assert_eq!(held(&net, "LU")?, vec![keep_sha.clone()]);
    let (status, _) = fetch(&net, "LU", &case, &drop_sha).await?;
    assert_eq!(status, 404);
    net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_removes_copies_nothing_lists_and_keeps_the_listed_ones() -> anyhow::Result<()> {
    let (mut net, case) = assistance_case(None).await?;
    let file = net.tmp.path().join("kept.log");
    random_file(&file, 100_000, 5)?;
    let sha = sha256_file(&file)?;
    let (status, done) = results_with(&net, &case, &[&file]).await?;
    assert_eq!(status, 201, "{done}");
    let id = done["message_id"].as_str().unwrap_or_default().to_owned();
    receipted(&net, &id, &sha, 15).await?;
    // What a crash in the middle of an intake, or between a copy and its record, leaves.
    net.net.stop_node(&party("FR")).await;
    let dir = attachments_dir(&net, "FR")?;
    std::fs::write(dir.join("intake-00000000000000ff.tmp"), b"half a copy")?;
    std::fs::write(dir.join("ab".repeat(32)), b"a copy of a refused submission")?;
    net.net.start_node(&party("FR")).await?;
    assert_eq!(held(&net, "FR")?, vec![sha.clone()]);
    let (status, bytes) = fetch(&net, "FR", &case, &sha).await?;
    assert_eq!(status, 200);
    assert_eq!(bytes.ok(), Some(std::fs::read(&file)?));
    net.net.shutdown().await;
    Ok(())
}

/// Uploads `file` to `p`'s node as `name`; returns (status, body).
async fn upload(net: &Net, p: &str, file: &Path, name: &str) -> anyhow::Result<(u16, Value)> {
    let r = net.client(p)?.upload(file, name, &mut |_| {}).await?;
    Ok((r.status.as_u16(), r.body))
}

/// Writes `bytes` to the control socket at `socket` and reads the answer until the node closes
/// the connection or a whole JSON body came.
async fn raw_exchange(socket: &Path, bytes: &[u8]) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::UnixStream::connect(socket).await?;
    s.write_all(bytes).await?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await??;
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        if n == 0 || text.trim_end().ends_with('}') {
            return Ok(text.into_owned());
        }
    }
}

/// The files in `p`'s attachments folder, by name.
fn folder(net: &Net, p: &str) -> anyhow::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(attachments_dir(net, p)?)?
        .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
        .collect::<anyhow::Result<_>>()?;
    names.sort();
    Ok(names)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_file_uploaded_through_the_socket_is_listed_by_its_hash_and_arrives_verified(
) -> anyhow::Result<()> {
    let (net, case) = assistance_case(Some(1 << 20)).await?;
    let file = net.tmp.path().join("export.mbox");
    random_file(&file, 700_000, 7)?;
    let sha = sha256_file(&file)?;
    let (status, up) = upload(&net, "FR", &file, "mailbox export.mbox").await?;
    assert_eq!(status, 201, "{up}");
    assert_eq!(up["upload"], sha.as_str(), "{up}");
    assert_eq!(up["size"], 700_000, "{up}");
    assert!(up["keep_until"].is_string(), "{up}");
    assert_eq!(folder(&net, "FR")?, vec![sha.clone()]);
    // A Content-Length over the per-file limit is refused before a byte of the body is
    // sent (the request's head alone gets the answer), and nothing of it stays.
    let head = format!(
        "POST /v1/uploads?name=big.img HTTP/1.1\r\nhost: poc247\r\ncontent-length: {}\r\n\r\n",
        2 << 20
    );
    let answer = raw_exchange(&net.config("FR")?.socket, head.as_bytes()).await?;
    assert!(answer.starts_with("HTTP/1.1 422"), "{answer}");
    assert!(
        answer.contains("big.img") && answer.contains("over the limit of 1048576 bytes"),
        "{answer}"
    );
    // A name that is no file name is refused too.
    let (status, body) = upload(&net, "FR", &file, "../etc/passwd").await?;
    assert_eq!(status, 422, "{body}");
    assert_eq!(folder(&net, "FR")?, vec![sha.clone()]);
    // The results list the upload under the name given; it arrives verified at LU.
    let body = json!({ "fields": { "summary": "mailbox export" },
        "attachments": [{ "upload": sha, "name": "mailbox.mbox" }] });
    let r = net
        .client("FR")?
        .post(&format!("/v1/cases/{case}/results"), &body)
        .await?;
    assert_eq!(r.status.as_u16(), 201, "{}", r.body);
    let id = r.body["message_id"].as_str().unwrap_or_default().to_owned();
    receipted(&net, &id, &sha, 15).await?;
    let view = net.case("LU", &case).await?.to_string();
    assert!(
        view.contains(&sha) && view.contains("mailbox.mbox"),
        "{view}"
    );
    assert_eq!(
        std::fs::read(attachments_dir(&net, "LU")?.join(&sha))?,
        std::fs::read(&file)?
    );
    // An upload serves one submission: listed again, or never uploaded, it is refused.
    for missing in [sha.clone(), "0f".repeat(32)] {
        let body =
            json!({ "fields": { "summary": "again" }, "attachments": [{ "upload": missing }] });
        let r = net
            .client("FR")?
            .post(&format!("/v1/cases/{case}/results"), &body)
            .await?;
        assert_eq!(r.status.as_u16(), 422, "{}", r.body);
        assert!(
            r.body.to_string().contains("upload the file again"),
            "{}",
            r.body
        );
    }
    // An upload no submission lists is deleted once its hour is over; the listed file stays.
    let other = net.tmp.path().join("notes.txt");
    random_file(&other, 1000, 9)?;
    let (status, up) = upload(&net, "FR", &other, "notes.txt").await?;
    assert_eq!(status, 201, "{up}");
    assert_eq!(folder(&net, "FR")?.len(), 2);
    let shared = net
        .net
        .node(&party("FR"))
        .ok_or_else(|| anyhow::anyhow!("FR not running"))?
        .attachments();
    let later = poc247_protocol::UtcMs(now().0 + poc247_node::attachments::UPLOAD_KEEP_MS + 1000);
    shared.expire_uploads(later);
    assert_eq!(folder(&net, "FR")?, vec![sha.clone()]);
    net.net.shutdown().await;
    Ok(())
}

/// A member of the socket's group cannot make the node read its own secrets: a path to the
/// node's signing or TLS key, its sled files, the kernel's `/proc`, or a link to any of them
/// placed in the folder `[attachments] read_from` names (which here holds the nodes' own
/// folders too), is refused with a 422 naming the path, and nothing is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_path_reaches_the_nodes_keys_data_or_proc_even_through_a_link() -> anyhow::Result<()> {
    let (net, case) = assistance_case(None).await?;
    let fr = net.config("FR")?;
    let tmp = net.tmp.path();
    let targets = [
        fr.signing_key.clone(),
        fr.tls_key.clone(),
        fr.data_dir.join("sled").join("db"),
        fr.data_dir.join("sled").join("conf"),
        std::path::PathBuf::from("/proc/self/environ"),
        std::path::PathBuf::from("/etc/hostname"),
    ];
    for (i, target) in targets.iter().enumerate() {
        let link = tmp.join(format!("innocent-{i}.log"));
        std::os::unix::fs::symlink(target, &link)?;
        for path in [target.clone(), link] {
            let (status, body) = results_with(&net, &case, &[&path]).await?;
            assert_eq!(status, 422, "{}: {body}", path.display());
            assert!(
                body.to_string().contains(&path.display().to_string()),
                "the refusal names {}: {body}",
                path.display()
            );
        }
    }
    let fetched = net.client("FR")?.get(&format!("/v1/cases/{case}")).await?;
    assert!(
        !fetched.body.to_string().contains("\"results\""),
        "nothing was sent: {}",
        fetched.body
    );
    Ok(())
}

/// A purge erases only what it names: a misspelt member, a member of the wrong type or a
/// missing target refuses the whole order (400 or 422 naming each member at fault) and the
/// case, its messages and its files stay; `dry_run` says what would go and erases nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_purge_with_a_typo_or_a_wrong_type_erases_nothing_cic_67_1_3() -> anyhow::Result<()> {
    let (net, case) = assistance_case(None).await?;
    let file = net.tmp.path().join("third-party.log");
    random_file(&file, 100_000, 7)?;
    let sha = poc247_tests::sha256_file(&file)?;
    let (status, body) = results_with(&net, &case, &[&file]).await?;
    assert_eq!(status, 201, "{body}");
    let id = body["message_id"].as_str().unwrap_or_default().to_owned();
    let orders = [
        // A misspelt member: the old API purged the whole case.
        (
            json!({ "target": "message", "mesage_id": id, "reason": "x" }),
            400,
            "mesage_id",
        ),
        (
            json!({ "target": "message", "message_id": 5, "reason": "x" }),
            400,
            "message_id",
        ),
        (
            json!({ "target": "attachment", "attachment": 5, "reason": "x" }),
            400,
            "attachment",
        ),
        (
            json!({ "target": "attachment", "atachment": sha, "reason": "x" }),
            400,
            "atachment",
        ),
        (
            json!({ "target": "case", "reason": "x", "dry_run": "yes" }),
            400,
            "dry_run",
        ),
        (json!({ "message_id": id, "reason": "x" }), 422, "target"),
        (
            json!({ "target": "everything", "reason": "x" }),
            422,
            "target",
        ),
        (
            json!({ "target": "case", "message_id": id, "reason": "x" }),
            422,
            "message_id",
        ),
        (
            json!({ "target": "message", "reason": "x" }),
            422,
            "message_id",
        ),
        (json!({ "target": "case" }), 422, "reason"),
    ];
    for (fields, want, names) in &orders {
        for p in ["FR", "LU"] {
            let (status, body) = purge(&net, p, &case, fields.clone()).await?;
            assert_eq!(status, *want, "{p} {fields}: {body}");
            assert!(
                !error_field(&body, names).is_null(),
                "{p} {fields}: the answer names {names}: {body}"
            );
        }
    }
    // Two faults at once are named together.
    let (status, body) = purge(&net, "FR", &case, json!({ "mesage_id": id, "reason": 1 })).await?;
    assert_eq!(status, 400, "{body}");
    let named: Vec<&str> = body["error"]["fields"]
        .as_array()
        .map(|f| f.iter().filter_map(|f| f["field"].as_str()).collect())
        .unwrap_or_default();
    for f in ["mesage_id", "reason", "target"] {
        assert!(named.contains(&f), "{f} not named: {body}");
    }
    // A dry run names what would go and erases nothing.
    let (status, body) = purge(
        &net,
        "FR",
        &case,
        json!({ "target": "case", "reason": "retention", "dry_run": true }),
    )
    .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["dry_run"], true, "{body}");
    assert_eq!(body["purged"], false, "{body}");
    assert_eq!(body["messages"].as_array().map(Vec::len), Some(2), "{body}");
    // Everything is still there.
    let shown = net.client("FR")?.get(&format!("/v1/cases/{case}")).await?;
    assert_eq!(shown.status.as_u16(), 200, "{}", shown.body);
    let out = net.tmp.path().join("fetched.log");
    let got = net
        .client("FR")?
        .download(&format!("/v1/cases/{case}/attachments/{sha}"), &out)
        .await?;
    assert!(got.is_ok(), "the file is still served");
    Ok(())
}

/// A peer cannot claim a file it never had: CO lists in a signed request, by hash and size, a
/// file FR already holds from LU, and opens its stream. FR answers as for a file it never saw
/// (resume from 0, nothing about what it holds), and a stream that then sends no byte gets
/// no receipt; CO's message is not linked to the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_peer_that_lists_a_file_it_never_sent_is_told_nothing_and_gets_no_receipt(
) -> anyhow::Result<()> {
    use poc247_protocol::{AttachmentHello, AttachmentRef, AttachmentReply, ATTACHMENT_MAGIC};
    let mut net = Net::fresh_prepared(&["LU", "FR", "CO"])?;
    net.read_files_from_tmp()?;
    for p in ["LU", "FR"] {
        net.net.start_node(&party(p)).await?;
    }
    let file = net.tmp.path().join("mailbox.mbox");
    random_file(&file, 300_000, 99)?;
    let sha = sha256_file(&file)?;
    let mut lu_events = net.events("LU")?;
    let mut body = poc247_tests::preservation_request("FR");
    body["attachments"] = json!([file.display().to_string()]);
    net.submit("LU", &body).await?;
    wait_for(&mut lu_events, 20, |e| {
        matches!(
            e.kind,
            poc247_node::events::EventKind::AttachmentDelivered { .. }
        )
    })
    .await?;

    // CO's signed request lists the same file, which it does not have.
    let co = net.config("CO")?;
    let key = poc247_tests::signing_key(&co)?;
    let mut env = poc247_tests::envelope("CO", "FR", poc247_tests::now(), 1);
    let size = std::fs::metadata(&file)?.len();
    if let Some(list) = env.body.attachments_mut() {
        list.push(AttachmentRef {
            sha256: sha.clone(),
            size,
            name: "claimed.mbox".into(),
        });
    }
    let peer = poc247_tests::RawPeer::connect(&co, "FR", net.config("FR")?.listen).await?;
    let reply = peer.send(&env.sign(&key)?.to_bytes()?).await?;
    anyhow::ensure!(
        matches!(reply, poc247_protocol::Reply::Receipt(_)),
        "FR stores CO's request: {reply:?}"
    );
    let hello = AttachmentHello {
        message_id: env.header.id,
        sha256: poc247_protocol::parse_sha256_hex(&sha).unwrap_or_default(),
        size,
    };
    let (mut send, mut recv) = peer.conn.open_bi().await?;
    send.write_all(&ATTACHMENT_MAGIC).await?;
    poc247_node::wire::transport::write_frame_open(&mut send, &hello.to_bytes()?).await?;
    let answer = poc247_node::wire::transport::read_frame(&mut recv, 1 << 20).await?;
    let answer = AttachmentReply::from_bytes(&answer)?;
    assert_eq!(
        answer,
        AttachmentReply::Resume { offset: 0 },
        "FR must ask for every byte, as for a file it never saw"
    );
    // CO has no bytes to send: it ends the stream. No receipt comes.
    let _ = send.finish();
    let rest = tokio::time::timeout(Duration::from_secs(5), async {
        poc247_node::wire::transport::read_frame(&mut recv, 1 << 20).await
    })
    .await;
    if let Ok(Ok(bytes)) = rest {
        let reply = poc247_protocol::Reply::from_bytes(&bytes)?;
        assert!(
            !matches!(reply, poc247_protocol::Reply::Receipt(_)),
            "a receipt for bytes never sent: {reply:?}"
        );
    }
    let fr = net
        .net
        .node(&party("FR"))
        .ok_or_else(|| anyhow::anyhow!("FR"))?;
    let hash = poc247_protocol::parse_sha256_hex(&sha).unwrap_or_default();
    let record = fr.attachments().record(&hash)?;
    assert!(
        record.is_some_and(|r| !r.message_ids.contains(&env.header.id)),
        "CO's message is not linked to the file"
    );
    Ok(())
}
