//! A case as one file: `poc247 export` at a real node, `poc247 verify-bundle` offline once the
//! nodes are stopped, any changed byte reported, and the page printed by headless Chromium.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use poc247_node::peers::directory::{Directory, LoadDirectory};
use poc247_node::{export, peers::registry};
use poc247_tests::flow::Flow;
use poc247_tests::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// A case between LU and FR: LU's preservation request with an attachment, FR's
/// acknowledgement and decision, every receipt in LU's hands. Returns the flow, the case and
/// the attached file's SHA-256.
async fn case_with_answers(registry: bool) -> (Flow, String, String) {
    let net = Net::fresh_prepared(&["LU", "FR"]).unwrap();
    net.read_files_from_tmp().unwrap();
    let mut net = net;
    for p in ["LU", "FR"] {
        let mut cfg = net.config(p).unwrap();
        cfg.delivery.initial_backoff_ms = 50;
        cfg.delivery.max_backoff_ms = 300;
        net.net.start_node_with(&party(p), cfg).await.unwrap();
    }
    if registry {
        // The registry's next version, each entry as its Party signed it, in force at LU.
        let registry = net.registry().unwrap();
        let previous = net.version_in_force("LU").unwrap();
        let file = Directory::load(&net.config("LU").unwrap().directory)
            .unwrap()
            .to_file();
        let entries = file
            .party
            .into_iter()
            .map(|e| {
                let key = signing_key(&net.config(&e.id).unwrap()).unwrap();
                registry::SignedEntry::sign(e, &key).unwrap()
            })
            .collect();
        let v1 = registry::publish(&registry, entries, Some(&previous), now(), 30).unwrap();
        let body: Value = serde_json::from_slice(&v1.to_bytes().unwrap()).unwrap();
        let r = net
            .client("LU")
            .unwrap()
            .post("/v1/directory", &body)
            .await
            .unwrap();
        assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    }
    let evidence = net.tmp.path().join("kit-headers.txt");
    std::fs::write(&evidence, b"Received: from kit.example (203.0.113.7)\n").unwrap();
    let sha = sha256_file(&evidence).unwrap();
    let mut f = Flow::with(net).unwrap();
    let mut fields = poc247_tests::flow::preservation_fields();
    fields["facts"] = json!("A phishing kit <b>collected</b> bank credentials & more.");
    let body = json!({ "kind": "preservation", "to": "FR", "urgency": "urgent", "language": "fr",
        "fields": fields, "attachments": [evidence.display().to_string()] });
    let done = f.net.submit("LU", &body).await.unwrap();
    let case = done["case_ref"].as_str().unwrap().to_owned();
    f.received("FR", done["message_id"].as_str().unwrap())
        .await
        .unwrap();
    f.act(
        "FR",
        &case,
        "ack",
        json!({ "officer": "permanence OCLCTIC" }),
    )
    .await
    .unwrap();
    f.act("FR", &case, "decide", json!({ "outcome": "executed", "executed_on": "2026-11-23", "preserved_until": "2027-02-21" }))
        .await
        .unwrap();
    // LU holds FR's receipt for its request, and gave its own for FR's two messages.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let v = f.net.case("LU", &case).await.unwrap();
        let timeline = v["timeline"].as_array().unwrap();
        if timeline.len() == 3 && timeline.iter().all(|m| m["receipt"]["verified"] == true) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "receipts: {v}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // And LU holds FR's receipt for the file.
    let id: poc247_protocol::MessageId = done["message_id"].as_str().unwrap().parse().unwrap();
    let hash = poc247_protocol::parse_sha256_hex(&sha).unwrap();
    loop {
        let lu = f.net.net.node(&party("LU")).unwrap().attachments();
        if lu.receipt(id, &hash).unwrap().is_some() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no receipt for the file"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    (f, case, sha)
}

fn socket(net: &Net, p: &str) -> String {
    net.config(p).unwrap().socket.to_str().unwrap().to_owned()
}

/// `export` at LU into the test's folder; returns the bundle's and the page's paths.
async fn exported(f: &Flow, case: &str, attachments: &str) -> (PathBuf, PathBuf) {
    let dir = f.net.tmp.path();
    let n = std::fs::read_dir(dir).unwrap().count();
    let (out, html) = (
        dir.join(format!("{case}-{attachments}-{n}.bundle")),
        dir.join(format!("{case}-{attachments}-{n}.html")),
    );
    let sock = socket(&f.net, "LU");
    let ran = poc247(&[
        "--socket",
        &sock,
        "export",
        &case.to_ascii_lowercase(),
        "--out",
        out.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
        "--attachments",
        attachments,
    ])
    .await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    (out, html)
}

async fn verify_bundle(file: &Path) -> Ran {
    poc247(&["verify-bundle", file.to_str().unwrap()]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exported_case_verifies_offline_and_any_changed_byte_is_reported() {
    let (mut f, case, sha) = case_with_answers(true).await;
    let (bundle, html) = exported(&f, &case, "files").await;
    let (by_hash, _) = exported(&f, &case, "hashes").await;

    // What cannot be exported is refused, and says why.
    let sock = socket(&f.net, "LU");
    let none = poc247(&[
        "--socket",
        &sock,
        "export",
        "LU-2026-000099",
        "--out",
        "/tmp/x",
    ])
    .await;
    assert_eq!(none.code, Some(1), "{none:?}");
    assert!(none.stderr.contains("LU-2026-000099"), "{none:?}");
    let lu = f.net.client("LU").unwrap();
    for q in ["attachments=all", "attachment=files"] {
        let r = lu
            .get(&format!("/v1/cases/{case}/export?{q}"))
            .await
            .unwrap();
        assert_eq!(r.status.as_u16(), 400, "{q}: {}", r.body);
    }

    // The export is an audit event of the case at LU.
    let audit = f
        .net
        .client("LU")
        .unwrap()
        .get("/v1/audit")
        .await
        .unwrap()
        .body;
    let exports = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["case_ref"] == case.as_str())
        .filter(|e| e["event"].as_str().unwrap().starts_with("case_exported:"))
        .count();
    assert_eq!(exports, 2, "{audit}");

    // What the bundle holds, read as a court's clerk would.
    let bytes = std::fs::read(&bundle).unwrap();
    let content = export::content(&bytes).unwrap();
    assert_eq!(content.case_ref, case);
    assert_eq!(content.messages.len(), 3);
    assert!(content.messages.iter().all(|m| m.receipt.is_some()));
    assert_eq!(content.attachments.len(), 1);
    assert_eq!(content.attachments[0].sha256, sha);
    assert_eq!(content.attachments[0].held, "included");
    assert!(content.attachments[0].receipt.is_some());
    assert_eq!(
        content.directory.version.as_ref().unwrap().version.serial,
        2
    );
    assert_eq!(std::fs::read_to_string(&html).unwrap(), content.html);
    for kind in ["preservation", "acknowledgement", "decision"] {
        assert!(content.html.contains(kind), "{kind} missing from the page");
    }
    // The request's text is escaped, never markup; nothing is fetched and nothing runs.
    assert!(content
        .html
        .contains("A phishing kit &lt;b&gt;collected&lt;/b&gt; bank credentials &amp; more."));
    for absent in ["<script", "http://", "https://", "src="] {
        assert!(!content.html.contains(absent), "{absent} in the page");
    }
    let hashes_only = export::content(&std::fs::read(&by_hash).unwrap()).unwrap();
    assert_eq!(hashes_only.attachments[0].held, "hash-only");
    assert!(hashes_only.attachments[0].content.is_none());

    // Offline: both nodes stopped.
    f.net.net.stop_node(&party("LU")).await;
    f.net.net.stop_node(&party("FR")).await;
    for b in [&bundle, &by_hash] {
        let ran = verify_bundle(b).await;
        assert_eq!(ran.code, Some(0), "{ran:?}");
        assert!(ran.stdout.contains("sound"), "{ran:?}");
        assert!(
            ran.stdout.contains("directory version 2 signed by"),
            "{ran:?}"
        );
    }
    let ran = poc247(&["--json", "verify-bundle", bundle.to_str().unwrap()]).await;
    let v: Value = ran.json();
    assert_eq!(v["messages"], 3, "{v}");
    assert_eq!(v["receipts"], 3, "{v}");
    assert_eq!(v["attachments_included"], 1, "{v}");
    assert_eq!(v["attachment_receipts"], 1, "{v}");
    assert!(v["audit_entries"].as_u64().unwrap() >= 6, "{v}");

    // Any byte changed: positions across the whole file, and some in each part.
    let find = |needle: &str| {
        let at = bytes
            .windows(needle.len())
            .position(|w| w == needle.as_bytes())
            .unwrap_or_else(|| panic!("{needle} not in the bundle"));
        at + needle.len() + 5
    };
    let mut positions: Vec<usize> = (0..60).map(|i| i * (bytes.len() - 1) / 59).collect();
    positions.extend([
        0,
        bytes.len() - 1,
        bytes.len() - 10,
        bytes.len() - 100,
        find("\"envelope\": \""),
        find("\"receipt\": \""),
        find("\"key_history\": [\n    \""),
        find("\"entries\": [\n      \""),
        find("\"checkpoints\": [\n      \""),
        find("\"content\": \""),
        find("<h1>"),
        find("Timeline"),
        find("poc247-bundle-signature "),
    ]);
    let tampered = f.net.tmp.path().join("tampered.bundle");
    for at in positions {
        let mut b = bytes.clone();
        b[at] ^= 0x01;
        std::fs::write(&tampered, &b).unwrap();
        let ran = verify_bundle(&tampered).await;
        assert_eq!(ran.code, Some(1), "byte {at} changed: {ran:?}");
        assert!(ran.stderr.contains("not sound"), "byte {at}: {ran:?}");
    }
    // A byte added or the last one removed.
    for b in [
        [bytes.as_slice(), b" "].concat(),
        bytes[..bytes.len() - 1].to_vec(),
    ] {
        std::fs::write(&tampered, &b).unwrap();
        assert_eq!(verify_bundle(&tampered).await.code, Some(1));
    }

    // Even the exporting node's key cannot make a changed content pass: a page that says
    // otherwise, a receipt of another message, or an audit entry left out, each re-signed.
    let key = signing_key(&f.net.config("LU").unwrap()).unwrap();
    let resign = |c: &export::Content| {
        let mut out = serde_json::to_vec_pretty(c).unwrap();
        let sig = poc247_protocol::signature::sign(&key, export::BUNDLE_DOMAIN, &out);
        out.extend_from_slice(export::SIGNATURE_LINE);
        out.extend_from_slice(hex_lower(&sig.0).as_bytes());
        out.push(b'\n');
        out
    };
    // The untouched content re-signed passes: the checks below fail for what changed.
    std::fs::write(&tampered, resign(&content)).unwrap();
    assert_eq!(verify_bundle(&tampered).await.code, Some(0));
    let mut page = content.clone();
    page.html = page.html.replace("executed", "refused");
    let mut receipt = content.clone();
    receipt.messages[1].receipt = content.messages[0].receipt.clone();
    let mut file = content.clone();
    file.attachments[0].receipt = content.messages[0].receipt.clone();
    let mut gap = content.clone();
    gap.audit.entries.remove(1);
    let mut fr_key = content.clone();
    let fr = fr_key
        .directory
        .parties
        .iter_mut()
        .find(|p| p.party == "FR")
        .unwrap();
    fr.keys.insert(0, content.node_key.clone());
    for (c, why) in [
        (page, "HTML page"),
        (receipt, "receipt"),
        (gap, "audit entry"),
        (fr_key, "directory version 2 lists"),
        (file, "receipt of attachment"),
    ] {
        std::fs::write(&tampered, resign(&c)).unwrap();
        let ran = verify_bundle(&tampered).await;
        assert_eq!(ran.code, Some(1), "{why}: {ran:?}");
        assert!(ran.stderr.contains(why), "{why}: {ran:?}");
    }
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_case_page_prints_to_pdf_and_a_screenshot_in_headless_chromium() {
    let chromium = Path::new("/usr/bin/chromium");
    assert!(
        chromium.exists(),
        "headless Chromium is needed: apt-get install -y chromium (.ci/run does)"
    );
    let (f, case, _) = case_with_answers(false).await;
    let (_, html) = exported(&f, &case, "hashes").await;
    let dir = f.net.tmp.path();
    let (pdf, png) = (dir.join("case.pdf"), dir.join("case.png"));
    if let Ok(keep) = std::env::var("POC247_KEEP_PAGE") {
        std::fs::copy(&html, Path::new(&keep).join("case.html")).unwrap();
    }
    let url = format!("file://{}", html.display());
    for out in [
        format!("--print-to-pdf={}", pdf.display()),
        format!("--screenshot={}", png.display()),
    ] {
        let profile = tempfile::tempdir().unwrap();
        let ran = tokio::time::timeout(
            std::time::Duration::from_secs(120),
            tokio::process::Command::new(chromium)
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--no-first-run",
                    "--window-size=1100,1400",
                    &format!("--user-data-dir={}", profile.path().display()),
                    &out,
                    &url,
                ])
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("chromium ended within 120 s")
        .unwrap();
        assert!(ran.status.success(), "{out}: {ran:?}");
    }
    let pdf_bytes = std::fs::read(&pdf).unwrap();
    assert!(pdf_bytes.starts_with(b"%PDF"), "not a PDF");
    assert!(pdf_bytes.len() > 1000, "an empty PDF");
    let png_bytes = std::fs::read(&png).unwrap();
    assert!(png_bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(png_bytes.len() > 5000, "an empty screenshot");
    if let Ok(keep) = std::env::var("POC247_KEEP_PAGE") {
        std::fs::copy(&png, Path::new(&keep).join("case.png")).unwrap();
        std::fs::copy(&pdf, Path::new(&keep).join("case.pdf")).unwrap();
    }

    // A message purged on an officer's order (CIC 67-1(3)): the bundle keeps that it was
    // there, its receipt and the purge in the audit entries, and still verifies.
    let v = f.net.case("LU", &case).await.unwrap();
    let ack = v["timeline"][1]["id"].as_str().unwrap().to_owned();
    let (status, body) = f
        .try_act("LU", &case, "purge", json!({ "fields": { "target": "message", "message_id": ack, "reason": "court order 12/2026" } }))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let (purged, _) = exported(&f, &case, "hashes").await;
    let ran = poc247(&["--json", "verify-bundle", purged.to_str().unwrap()]).await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert_eq!(ran.json()["purged_messages"], 1);
    let page = export::content(&std::fs::read(&purged).unwrap())
        .unwrap()
        .html;
    assert!(
        page.contains("content purged"),
        "the page says the message was purged"
    );
}
