//! Nothing irreversible by accident: a request or an action whose checks gave warnings is not
//! stored until the caller confirms them (409 `unconfirmed-warnings` listing them), and a dry
//! run shows what would be sent without storing or sending anything.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use poc247_node::events::EventKind;
use poc247_tests::flow::*;
use poc247_tests::*;
use serde_json::{json, Value};

/// The cases at `p`.
async fn cases(f: &Flow, p: &str) -> anyhow::Result<Vec<Value>> {
    let r = f.net.client(p)?.get("/v1/cases").await?;
    Ok(r.body["cases"].as_array().cloned().unwrap_or_default())
}

/// The number of entries of `p`'s audit log.
async fn audit_entries(f: &Flow, p: &str) -> anyhow::Result<usize> {
    let r = f.net.client(p)?.get("/v1/audit").await?;
    Ok(r.body["entries"].as_array().map_or(0, Vec::len))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_routing_warns_is_stored_only_once_the_warnings_are_confirmed(
) -> anyhow::Result<()> {
    let mut f = Flow::embedded().await?;
    let mut lu_events = f.net.events("LU")?;
    let audit_before = audit_entries(&f, "LU").await?;
    // CO lists es and en: French goes only on an override, which warns.
    let mut body = json!({ "kind": "preservation", "to": "CO", "urgency": "urgent",
        "language": "fr", "language_override": true, "fields": preservation_fields() });
    let r = f.net.client("LU")?.post("/v1/requests", &body).await?;
    assert_eq!(r.status.as_u16(), 409, "{}", r.body);
    assert_eq!(
        r.body["error"]["code"], "unconfirmed-warnings",
        "{}",
        r.body
    );
    let warnings = r.body["error"]["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{}", r.body);
    assert!(
        warnings[0].as_str().unwrap().contains("CO does not list"),
        "{}",
        r.body
    );
    // Nothing stored: no case, no audit entry, nothing queued.
    assert!(cases(&f, "LU").await?.is_empty());
    assert_eq!(audit_entries(&f, "LU").await?, audit_before);
    let status = f.net.client("LU")?.get("/v1/status").await?.body;
    assert_eq!(status["messages"], 0, "{status}");
    assert_eq!(status["outbox_queued"], 0, "{status}");

    // Confirmed: 201 with the same warning, and CO has it.
    body["confirm_warnings"] = json!(true);
    let done = f.net.submit("LU", &body).await?;
    assert!(
        done["warnings"].to_string().contains("CO does not list"),
        "{done}"
    );
    // The refusal took no case number and published no event: the first event is this one.
    assert!(
        done["case_ref"].as_str().unwrap().ends_with("-000001"),
        "{done}"
    );
    let first = next_of(&mut lu_events).await?;
    assert_eq!(first.kind, EventKind::Queued);
    assert_eq!(
        first.message_id.map(|m| m.to_string()).as_deref(),
        done["message_id"].as_str()
    );
    f.received("CO", done["message_id"].as_str().unwrap())
        .await?;
    assert_eq!(cases(&f, "CO").await?.len(), 1);

    // A request without warnings needs no confirmation.
    let done = f.net.submit("LU", &preservation_request("FR")).await?;
    assert_eq!(done["warnings"], json!([]), "{done}");
    f.net.net.shutdown().await;
    Ok(())
}

/// The next event of the stream.
/// The next event but a peer connecting (each node connects to every peer at start, to offer
/// its directory version, whenever that lands).
async fn next_of(
    rx: &mut tokio::sync::broadcast::Receiver<poc247_node::events::NodeEvent>,
) -> anyhow::Result<poc247_node::events::NodeEvent> {
    wait_for(rx, 10, |e| e.kind != EventKind::PeerConnected).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_whose_check_warns_is_sent_only_once_confirmed() -> anyhow::Result<()> {
    let mut f = Flow::embedded().await?;
    let case = f.preservation("FR", json!({})).await?;
    let before = f.net.case("FR", &case).await?;
    // LU lists fr, de and en: an acknowledgement in Spanish warns.
    let ack = json!({ "fields": { "officer": "permanence" }, "language": "es",
                      "language_override": true });
    let (status, body) = f.try_act("FR", &case, "acknowledge", ack.clone()).await?;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "unconfirmed-warnings", "{body}");
    assert!(
        body["error"]["warnings"][0]
            .as_str()
            .unwrap()
            .contains("LU does not list"),
        "{body}"
    );
    assert_eq!(f.net.case("FR", &case).await?, before);

    let mut confirmed = ack;
    confirmed["confirm_warnings"] = json!(true);
    let (status, body) = f.try_act("FR", &case, "acknowledge", confirmed).await?;
    assert_eq!(status, 201, "{body}");
    f.received("LU", body["message_id"].as_str().unwrap())
        .await?;
    assert_eq!(f.agree("LU", "FR", &case).await?["state"], "acknowledged");
    f.net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_of_a_request_and_of_an_action_shows_the_message_and_stores_nothing(
) -> anyhow::Result<()> {
    let mut f = Flow::embedded().await?;
    let mut lu_events = f.net.events("LU")?;
    let mut fr_events = f.net.events("FR")?;
    // A request: what would be sent, with its warnings, and nothing stored.
    let mut body = json!({ "kind": "preservation", "to": "CO", "urgency": "urgent",
        "language": "fr", "language_override": true, "dry_run": true,
        "fields": preservation_fields() });
    let r = f.net.client("LU")?.post("/v1/requests", &body).await?;
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    assert_eq!(r.body["dry_run"], true);
    let m = &r.body["messages"][0];
    assert_eq!(m["kind"], "preservation", "{m}");
    assert_eq!(m["to"], "CO");
    assert_eq!(m["case_ref"], Value::Null);
    assert_eq!(m["state"], "queued");
    assert_eq!(m["body"]["offence"], preservation_fields()["offence"]);
    assert!(
        m["warnings"].to_string().contains("CO does not list"),
        "{m}"
    );
    assert!(cases(&f, "LU").await?.is_empty());
    // A dry run with a field missing is refused like the request itself.
    body["fields"].as_object_mut().unwrap().remove("offence");
    let r = f.net.client("LU")?.post("/v1/requests", &body).await?;
    assert_eq!(r.status.as_u16(), 422, "{}", r.body);
    assert_eq!(error_field(&r.body, "offence")["problem"], "missing");

    // An action: its message and the case's state after, and nothing stored or sent.
    let case = f.preservation("FR", json!({})).await?;
    let queued = next_of(&mut lu_events).await?;
    assert!(case.ends_with("-000001"), "no case number taken: {case}");
    let at_fr = f.net.case("FR", &case).await?;
    let at_lu = f.net.case("LU", &case).await?;
    let (status, body) = f
        .try_act(
            "FR",
            &case,
            "acknowledge",
            json!({ "fields": { "officer": "permanence" }, "dry_run": true }),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["dry_run"], true);
    let m = &body["messages"][0];
    assert_eq!(m["kind"], "acknowledgement", "{m}");
    assert_eq!(m["to"], "LU");
    assert_eq!(m["case_ref"], case.as_str());
    assert_eq!(m["state"], "acknowledged");
    assert_eq!(m["body"]["officer"], "permanence");
    assert_eq!(f.net.case("FR", &case).await?, at_fr);
    // A dry run the lifecycle refuses is refused as the action would be.
    let (status, body) = f
        .try_act(
            "FR",
            &case,
            "provide-info",
            json!({ "fields": { "answers": "x" }, "dry_run": true }),
        )
        .await?;
    assert_eq!(status, 409, "{body}");
    // The peer got nothing: the next message LU receives is the real acknowledgement.
    let sent = f
        .act(
            "FR",
            &case,
            "acknowledge",
            json!({ "officer": "permanence" }),
        )
        .await?;
    let received = {
        let mut found = None;
        wait_for(&mut lu_events, 10, |e| {
            if e.kind == EventKind::Received {
                found = e.message_id;
                return true;
            }
            false
        })
        .await?;
        found
    };
    assert_eq!(
        received.map(|m| m.to_string()).as_deref(),
        sent["message_id"].as_str()
    );
    assert_eq!(queued.kind, EventKind::Queued);
    let lu_now = f.net.case("LU", &case).await?;
    assert_eq!(
        lu_now["timeline"].as_array().unwrap().len(),
        at_lu["timeline"].as_array().unwrap().len() + 1
    );
    // FR published nothing for the dry runs: the first message it queued is the real one.
    let mut queued_at_fr = None;
    wait_for(&mut fr_events, 10, |e| {
        if e.kind == EventKind::Queued {
            queued_at_fr = e.message_id;
            return true;
        }
        false
    })
    .await?;
    assert_eq!(
        queued_at_fr.map(|m| m.to_string()).as_deref(),
        sent["message_id"].as_str()
    );
    // A dry run of close is checked by the close's own rule, and changes nothing either.
    let (status, body) = f
        .try_act("FR", &case, "close", json!({ "dry_run": true }))
        .await?;
    assert_eq!(status, 409, "{body}");
    assert!(body.to_string().contains("can be closed"), "{body}");
    f.act(
        "FR",
        &case,
        "decide",
        json!({ "outcome": "executed", "executed_on": "2026-11-23", "preserved_until": "2027-02-21" }),
    )
    .await?;
    let (status, body) = f
        .try_act("FR", &case, "close", json!({ "dry_run": true }))
        .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["dry_run"], true);
    assert_eq!(body["state"], "closed");
    assert_eq!(f.net.case("FR", &case).await?["state"], "decided");
    f.net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_and_confirm_warnings_of_the_wrong_type_are_named_and_nothing_is_stored(
) -> anyhow::Result<()> {
    let f = Flow::embedded().await?;
    for (member, value) in [("dry_run", json!("yes")), ("confirm_warnings", json!(1))] {
        let mut body = preservation_request("FR");
        body[member] = value;
        let r = f.net.client("LU")?.post("/v1/requests", &body).await?;
        assert_eq!(r.status.as_u16(), 422, "{}", r.body);
        assert_eq!(error_field(&r.body, member)["field"], member, "{}", r.body);
        // Named with the request's other faults, at once.
        body["fields"]["mla_intent"] = json!("yes");
        let r = f.net.client("LU")?.post("/v1/requests", &body).await?;
        assert_eq!(r.status.as_u16(), 422, "{}", r.body);
        assert_eq!(error_field(&r.body, member)["field"], member, "{}", r.body);
        assert_eq!(
            error_field(&r.body, "mla_intent")["field"],
            "mla_intent",
            "{}",
            r.body
        );
    }
    assert!(cases(&f, "LU").await?.is_empty());
    let done = f.net.submit("LU", &preservation_request("FR")).await?;
    let case = done["case_ref"].as_str().unwrap();
    let (status, body) = f
        .try_act(
            "LU",
            case,
            "withdraw",
            json!({ "fields": { "reason": "x" }, "dry_run": "no", "in_reply_to": 7 }),
        )
        .await?;
    assert_eq!(status, 422, "{body}");
    assert_eq!(error_field(&body, "dry_run")["field"], "dry_run", "{body}");
    assert_eq!(
        error_field(&body, "in_reply_to")["field"],
        "in_reply_to",
        "{body}"
    );
    let (status, body) = f
        .try_act("LU", case, "close", json!({ "confirm_warnings": "yes" }))
        .await?;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        error_field(&body, "confirm_warnings")["field"],
        "confirm_warnings",
        "{body}"
    );
    assert_eq!(
        f.net.case("LU", case).await?["timeline"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    f.net.net.shutdown().await;
    Ok(())
}
