//! The control API's types (`poc247-api`) are its JSON: what a real node answers reads
//! into the type the CLI uses, and that type written back is the same text, member for member
//! and in the same order — a member the types did not know would be dropped and fail here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use poc247_api::{
    AuditPage, AuditVerification, CaseList, CaseView, DryRun, ErrorBody, Event, PeerList, Pending,
    PurgeAnswer, Reloaded, Stats, Status, Submitted, Uploaded,
};
use poc247_tests::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// The first JSON example under `heading` in docs/api.md.
fn documented(heading: &str) -> Value {
    documented_nth(heading, 0)
}

/// The `n`th JSON example (from 0) under `heading` in docs/api.md.
fn documented_nth(heading: &str, n: usize) -> Value {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/api.md"),
    )
    .unwrap();
    let mut after = &doc[doc.find(heading).unwrap_or_else(|| panic!("no {heading}"))..];
    for _ in 0..n {
        after = &after[after.find("```json\n").unwrap() + 1..];
    }
    let start = after.find("```json\n").unwrap() + "```json\n".len();
    let block = &after[start..];
    serde_json::from_str(&block[..block.find("```").unwrap()])
        .unwrap_or_else(|e| panic!("{heading}: {e}"))
}

/// The members of `live` are those the example names: all of them, or (where the example
/// says `"…"`) at least those; and so on in the objects nested under the same names.
fn members_as_documented(what: &str, example: &Value, live: &Value) {
    let (Value::Object(ex), Value::Object(got)) = (example, live) else {
        return;
    };
    let named: Vec<&String> = ex.keys().filter(|k| *k != "…").collect();
    for k in &named {
        assert!(got.contains_key(*k), "{what}: no member {k:?} in {live}");
    }
    if !ex.contains_key("…") {
        let extra: Vec<&String> = got.keys().filter(|k| !ex.contains_key(*k)).collect();
        assert!(
            extra.is_empty(),
            "{what}: members not documented: {extra:?}"
        );
    }
    for k in named {
        let (e, g) = (&ex[k], &got[k]);
        match (e, g) {
            (Value::Array(ea), Value::Array(ga)) => {
                if let (Some(e0), Some(g0)) = (ea.first(), ga.first()) {
                    members_as_documented(&format!("{what}.{k}[0]"), e0, g0);
                }
            }
            _ => members_as_documented(&format!("{what}.{k}"), e, g),
        }
    }
}

/// `body` reads as `T` and `T` writes back the same JSON text.
fn round_trips<T: DeserializeOwned + Serialize>(what: &str, body: &Value) -> T {
    let typed: T = serde_json::from_value(body.clone())
        .unwrap_or_else(|e| panic!("{what}: does not read: {e}\n{body}"));
    let again = serde_json::to_string(&typed).unwrap();
    assert_eq!(again, body.to_string(), "{what}: written back differently");
    typed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_node_answers_reads_into_the_shared_types_and_back_unchanged() -> anyhow::Result<()>
{
    let net = Net::embedded().await?;
    let mut rx = net.events("FR")?;
    let mut dry = preservation_request("FR");
    dry["dry_run"] = Value::Bool(true);
    let would = net.client("LU")?.post("/v1/requests", &dry).await?;
    assert_eq!(would.status.as_u16(), 200, "{}", would.body);
    let d: DryRun = round_trips("dry run", &would.body);
    assert_eq!(d.messages.len(), 1);
    members_as_documented(
        "dry run",
        &documented_nth("## Warnings and dry runs", 1),
        &would.body,
    );
    let done = net.submit("LU", &preservation_request("FR")).await?;
    let _: Submitted = round_trips("request", &done);
    members_as_documented("request", &documented("### `POST /v1/requests`"), &done);
    let case = done["case_ref"].as_str().unwrap_or_default().to_owned();
    wait_for(&mut rx, 10, |e| {
        e.kind == poc247_node::events::EventKind::Received
    })
    .await?;
    for p in ["LU", "FR"] {
        let c = net.client(p)?;
        let status = c.get("/v1/status").await?.body;
        let s: Status = round_trips(&format!("{p} status"), &status);
        members_as_documented("status", &documented("### `GET /v1/status`"), &status);
        assert_eq!(s.party.as_str(), p);
        let list = c.get("/v1/cases").await?.body;
        let l: CaseList = round_trips(&format!("{p} cases"), &list);
        members_as_documented("cases", &documented("### `GET /v1/cases`"), &list);
        assert_eq!(l.cases.len(), 1, "{list}");
        assert_eq!(l.cases[0].case_ref.as_str(), case);
        let view = net.case(p, &case).await?;
        let v: CaseView = round_trips(&format!("{p} case"), &view);
        members_as_documented("case", &documented("### `GET /v1/cases/{case_ref}`"), &view);
        assert_eq!(v.timeline.len(), 1, "{view}");
        let content = v.timeline[0]
            .content
            .as_ref()
            .expect("the message's content");
        assert!(
            content.body_of(v.case.kind).is_some(),
            "the body reads as the protocol's: {view}"
        );
        let pending = c.get("/v1/pending").await?.body;
        let pd: Pending = round_trips(&format!("{p} pending"), &pending);
        members_as_documented("pending", &documented("### `GET /v1/pending`"), &pending);
        assert!(!pd.pending.is_empty(), "{pending}");
        let missing = c.get("/v1/cases/LU-2026-999999").await?;
        assert_eq!(missing.status.as_u16(), 404);
        let e: ErrorBody = round_trips(&format!("{p} error"), &missing.body);
        members_as_documented("error", &documented("## Errors"), &missing.body);
        assert_eq!(e.error.code, "not-found");
    }
    Ok(())
}

/// The answers of the operator's routes, the feeds, an upload and a purge: each read from a
/// live node into its type and written back the same, and (where docs/api.md shows one)
/// with the members of the documented example.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operators_and_the_feeds_answers_read_into_their_types_and_back_unchanged(
) -> anyhow::Result<()> {
    let net = Net::embedded().await?;
    let lu = net.client("LU")?;
    let mut events = lu.events().await?;
    let done = net.submit("LU", &preservation_request("FR")).await?;
    let case = done["case_ref"].as_str().unwrap_or_default().to_owned();
    // Every event of the stream, as the node wrote it, until the request was delivered.
    let (mut queued, mut delivered) = (false, false);
    while !delivered {
        let ev = next_event(&mut events, 10).await?;
        let e: Event = round_trips("event", &ev);
        let about_the_request = e.kind == poc247_api::EventKind::Queued
            || matches!(e.kind, poc247_api::EventKind::Delivered { .. });
        queued |= e.kind == poc247_api::EventKind::Queued;
        delivered = matches!(e.kind, poc247_api::EventKind::Delivered { .. });
        if about_the_request {
            assert_eq!(
                e.case_ref.map(|c| c.to_string()),
                Some(case.clone()),
                "{ev}"
            );
        }
    }
    assert!(queued, "queued came before delivered");

    let peers = lu.get("/v1/peers").await?.body;
    let pl: PeerList = round_trips("peers", &peers);
    members_as_documented("peers", &documented("### `GET /v1/peers`"), &peers);
    assert!(
        pl.peers
            .iter()
            .any(|p| p.party.as_str() == "FR" && p.connected),
        "{peers}"
    );
    assert_eq!(pl.directory.parties as usize, pl.peers.len() + 1, "{peers}");

    let reload = lu.post("/v1/peers/reload", &serde_json::json!({})).await?;
    assert_eq!(reload.status.as_u16(), 200, "{}", reload.body);
    let r: Reloaded = round_trips("reload", &reload.body);
    members_as_documented(
        "reload",
        &documented("### `POST /v1/peers/reload`"),
        &reload.body,
    );
    assert!(
        r.removed.is_empty() && r.serial.is_none(),
        "{}",
        reload.body
    );

    let stats = lu.get("/v1/stats").await?.body;
    let st: Stats = round_trips("stats", &stats);
    assert_eq!(st.cases, 1, "{stats}");

    let audit = lu.get("/v1/audit?limit=2").await?.body;
    let a: AuditPage = round_trips("audit", &audit);
    members_as_documented("audit", &documented("### `GET /v1/audit`"), &audit);
    assert_eq!(a.entries.len(), 2, "{audit}");
    assert!(a.next_cursor.is_some(), "{audit}");
    let verify = lu.get("/v1/audit/verify").await?.body;
    let v: AuditVerification = round_trips("audit verify", &verify);
    members_as_documented(
        "audit verify",
        &documented("### `GET /v1/audit/verify`"),
        &verify,
    );
    assert!(v.broken.is_none() && v.entries >= 2, "{verify}");

    let file = tempfile::NamedTempFile::new()?;
    let line = b"2026-05-01T14:03:07Z sshd: accepted password\n";
    std::fs::write(file.path(), line)?;
    let up = lu.upload(file.path(), "auth.log", &mut |_| {}).await?;
    assert_eq!(up.status.as_u16(), 201, "{}", up.body);
    let u: Uploaded = round_trips("upload", &up.body);
    members_as_documented("upload", &documented("### `POST /v1/uploads`"), &up.body);
    assert_eq!((u.name.as_str(), u.size), ("auth.log", line.len() as u64));

    let purge = |dry_run: bool| {
        serde_json::json!({ "fields": { "target": "case", "reason": "sent by mistake",
            "dry_run": dry_run } })
    };
    let path = format!("/v1/cases/{case}/purge");
    let would = lu.post(&path, &purge(true)).await?;
    assert_eq!(would.status.as_u16(), 200, "{}", would.body);
    let w: PurgeAnswer = round_trips("purge dry run", &would.body);
    assert_eq!((w.dry_run, w.purged), (Some(true), false), "{}", would.body);
    assert_eq!(w.messages.map(|m| m.len()), Some(1), "{}", would.body);
    let gone = lu.post(&path, &purge(false)).await?;
    assert_eq!(gone.status.as_u16(), 200, "{}", gone.body);
    let g: PurgeAnswer = round_trips("purge", &gone.body);
    members_as_documented(
        "purge",
        &documented_nth("### `POST /v1/cases`\n", 3),
        &gone.body,
    );
    assert!(g.purged && g.dry_run.is_none(), "{}", gone.body);
    Ok(())
}

/// The request bodies as the CLI writes them through the shared types are what a live node
/// takes: a request, an action that sends a message, a close, a record and a purge, each
/// read back into its type by the node's own reader; a member of the wrong type is named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_bodies_written_through_the_shared_types_are_taken_by_a_live_node(
) -> anyhow::Result<()> {
    use poc247_api::{
        ActionBody, NoteBody, NoteFields, PurgeBody, PurgeFields, PurgeTarget, Recipients,
        RecordBody, RequestBody, SendMode,
    };
    use poc247_protocol::{Language, MessageKind, Urgency};
    let net = Net::embedded().await?;
    let Value::Object(fields) = serde_json::to_value(preservation())? else {
        anyhow::bail!("the fields are an object");
    };
    let request = RequestBody {
        kind: MessageKind::Preservation,
        to: Recipients::One(party("FR")),
        urgency: Urgency::Urgent,
        language: Language::parse("fr")?,
        exercise: false,
        language_override: false,
        subscriber_only_override: false,
        fields,
        attachments: Vec::new(),
        mode: SendMode::default(),
    };
    let text = serde_json::to_string(&request)?;
    let (again, _) = RequestBody::read(text.as_bytes()).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    assert_eq!(again, request);
    let done = net.submit("LU", &serde_json::to_value(&request)?).await?;
    let s: Submitted = round_trips("request", &done);
    let case = s.case_ref.to_string();
    let mut rx = net.events("FR")?;
    wait_for(&mut rx, 10, |e| {
        e.kind == poc247_node::events::EventKind::Received
    })
    .await
    .ok();

    // FR acknowledges, through an action's body.
    let Value::Object(ack) = serde_json::json!({ "officer": "duty officer" }) else {
        anyhow::bail!("an object");
    };
    let ack = ActionBody {
        fields: ack,
        ..Default::default()
    };
    let fr = net.client("FR")?;
    let r = fr
        .post(
            &format!("/v1/cases/{case}/acknowledge"),
            &serde_json::to_value(&ack)?,
        )
        .await?;
    assert_eq!(r.status.as_u16(), 201, "{}", r.body);
    let acked: Submitted = round_trips("acknowledgement", &r.body);
    assert_eq!(acked.state, "acknowledged");

    // LU records a request that came by fax; its close of the acknowledged case reads and
    // is refused by the lifecycle alone (409, not 400); then it purges the case.
    let record: RecordBody = serde_json::from_value(serde_json::json!({ "record_external": {
        "channel": "fax", "from": "FR", "kind": "preservation", "summary": "by fax" } }))?;
    let lu = net.client("LU")?;
    let r = lu
        .post("/v1/cases", &serde_json::to_value(&record)?)
        .await?;
    assert_eq!(r.status.as_u16(), 201, "{}", r.body);
    let close = NoteBody {
        fields: NoteFields {
            note: Some("settled".into()),
        },
        mode: SendMode::default(),
    };
    let r = lu
        .post(
            &format!("/v1/cases/{case}/close"),
            &serde_json::to_value(&close)?,
        )
        .await?;
    assert_eq!(r.status.as_u16(), 409, "{}", r.body);
    let e: ErrorBody = round_trips("close refused", &r.body);
    assert_eq!(e.error.code, "conflict");
    let purge = PurgeBody {
        fields: PurgeFields {
            target: PurgeTarget::Case,
            reason: "sent by mistake".into(),
            message_id: None,
            attachment: None,
            dry_run: false,
        },
    };
    let r = lu
        .post(
            &format!("/v1/cases/{case}/purge"),
            &serde_json::to_value(&purge)?,
        )
        .await?;
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);

    // A member of the wrong type is named, as the reader names it.
    let mut wrong = serde_json::to_value(&close)?;
    wrong["fields"]["note"] = Value::Bool(true);
    let r = lu.post(&format!("/v1/cases/{case}/close"), &wrong).await?;
    assert_eq!(r.status.as_u16(), 400, "{}", r.body);
    assert_eq!(
        error_field(&r.body, "note")["problem"]["invalid"],
        "a string, not a boolean"
    );
    Ok(())
}

/// A drill node's answer to a move of its clock reads into `DrillMoved` and back unchanged,
/// with the members docs/api.md names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_move_reads_into_its_type_and_back_unchanged() -> anyhow::Result<()> {
    let mut net = Net::fresh_prepared(&["LU", "FR"])?;
    let mut cfg = net.config("LU")?;
    cfg.drill.enabled = true;
    net.net.start_node_with(&party("LU"), cfg).await?;
    let body = poc247_api::DrillMove {
        days: Some(2),
        hours: Some(3),
    };
    let r = net
        .client("LU")?
        .post("/v1/drill/advance", &serde_json::to_value(body)?)
        .await?;
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    let moved: poc247_api::DrillMoved = round_trips("drill move", &r.body);
    assert_eq!(moved.moved_ms, body.ms());
    assert_eq!(moved.clock_offset_ms, 2 * 86_400_000 + 3 * 3_600_000);
    assert_eq!(moved.party.as_str(), "LU");
    Ok(())
}
