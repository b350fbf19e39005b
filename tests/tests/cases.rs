//! Every request kind through to its decision, and the rules of the articles, end to end on
//! real nodes (real QUIC, real sled) through the control API. After each exchange both sides'
//! views of the case are compared.

use poc247_node::events::EventKind;
use poc247_tests::flow::*;
use poc247_tests::*;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preservation_acknowledged_questioned_executed_confirmed_art_29() -> anyhow::Result<()> {
    let mut f = Flow::embedded().await?;
    let case = f.preservation("FR", json!({})).await?;
    f.act(
        "FR",
        &case,
        "acknowledge",
        json!({ "officer": "permanence OCLCTIC" }),
    )
    .await?;
    let q = f
        .act(
            "FR",
            &case,
            "request-info",
            json!({ "questions": "Which period of logs?" }),
        )
        .await?;
    assert_eq!(f.agree("LU", "FR", &case).await?["state"], "info_requested");
    // Answer to an information request never made: refused (409), nothing sent.
    let (status, _) = f
        .try_act(
            "FR",
            &case,
            "provide-info",
            json!({ "fields": { "answers": "x" } }),
        )
        .await?;
    assert_eq!(
        status, 409,
        "the requested Party does not answer its own question"
    );
    f.act(
        "LU",
        &case,
        "provide-info",
        json!({ "answers": "2026-10-01 to date" }),
    )
    .await?;
    let _ = q;
    assert_eq!(f.agree("LU", "FR", &case).await?["state"], "info_provided");
    f.act("FR", &case, "decide", json!({ "outcome": "executed", "executed_on": "2026-11-23", "preserved_until": "2027-02-21", "legal_basis": "CIC 48-25" })).await?;
    let v = f.agree("LU", "FR", &case).await?;
    assert_eq!(v["outcome"], "executed");
    assert_eq!(v["preserved_until"], "2027-02-21");
    // A second decision is refused.
    let (status, body) = f.try_act("FR", &case, "decide", json!({ "fields": { "outcome": "executed", "executed_on": "2026-11-23", "preserved_until": "2027-02-21" } })).await?;
    assert_eq!(status, 409, "{body}");
    // FR requires a formal confirmation (art. 25(3)); it is given once.
    let confirm = json!({ "reference": "MLA-LU-2026-17", "channel": "central_authority", "sent_on": "2026-11-24" });
    f.act("LU", &case, "confirm", confirm.clone()).await?;
    assert!(f.agree("LU", "FR", &case).await?["confirmation"].is_string());
    let (status, _) = f
        .try_act("LU", &case, "confirm", json!({ "fields": confirm }))
        .await?;
    assert_eq!(status, 409);
    f.act(
        "FR",
        &case,
        "extend",
        json!({ "until": "2027-05-21", "reason": "order renewed" }),
    )
    .await?;
    assert_eq!(
        f.agree("LU", "FR", &case).await?["preserved_until"],
        "2027-05-21"
    );
    for side in ["LU", "FR"] {
        let (status, body) = f.try_act(side, &case, "close", json!({})).await?;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["state"], "closed");
    }
    let (status, _) = f
        .try_act(
            "FR",
            &case,
            "acknowledge",
            json!({ "fields": { "officer": "x" } }),
        )
        .await?;
    assert_eq!(status, 409, "nothing after closure");
    f.net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_fields_are_named_and_a_confirmation_nobody_requires_is_refused(
) -> anyhow::Result<()> {
    let mut f = Flow::embedded().await?;
    let done = f
        .request(
            "LU",
            "CO",
            "preservation",
            "urgent",
            "es",
            preservation_fields(),
        )
        .await?;
    let case = case_of(&done);
    let (status, body) = f
        .try_act(
            "CO",
            &case,
            "decide",
            json!({ "fields": { "outcome": "refused" } }),
        )
        .await?;
    assert_eq!(status, 422, "{body}");
    let names: Vec<&str> = body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["field"].as_str())
        .collect();
    assert!(
        names.contains(&"reasons") && names.contains(&"refusal_ground"),
        "{names:?}"
    );
    // CO requires no formal confirmation.
    let (status, body) = f
        .try_act(
            "LU",
            &case,
            "confirm",
            json!({ "fields": { "reference": "R1", "channel": "email", "sent_on": "2026-11-24" } }),
        )
        .await?;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("25(3)"));
    f.net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_insufficient_preservation_is_followed_by_proceed_then_execution_art_29_6(
) -> anyhow::Result<()> {
    let mut f = Flow::embedded().await?;
    let case = f.preservation("CO", json!({})).await?;
    f.act(
        "CO",
        &case,
        "preservation-insufficient",
        json!({ "explanation": "the provider keeps logs 24 hours only" }),
    )
    .await?;
    assert_eq!(
        f.agree("LU", "CO", &case).await?["state"],
        "awaiting_requester"
    );
    let (status, _) = f.try_act("CO", &case, "decide", json!({ "fields": { "outcome": "executed", "executed_on": "2026-11-23", "preserved_until": "2027-02-21" } })).await?;
    assert_eq!(status, 409, "the requester decides first");
    f.act(
        "LU",
        &case,
        "proceed",
        json!({ "note": "preserve what remains" }),
    )
    .await?;
    // CO's minimum is 90 days: a date earlier than execution + 90 days is refused before it
    // leaves (it could not be taken back), naming the field; nothing is sent.
    let (status, body) = f.try_act("CO", &case, "decide", json!({ "fields": { "outcome": "executed", "executed_on": "2026-11-23", "preserved_until": "2027-01-22" } })).await?;
    assert_eq!(status, 422, "{body}");
    assert!(
        error_field(&body, "preserved_until")
            .to_string()
            .contains("29(7)"),
        "{body}"
    );
    f.act("CO", &case, "decide", json!({ "outcome": "executed", "executed_on": "2026-11-23", "preserved_until": "2027-02-21" })).await?;
    assert_eq!(f.agree("LU", "CO", &case).await?["outcome"], "executed");
    f.net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preservation_followed_by_a_mutual_assistance_request_that_references_it_art_29_7(
) -> anyhow::Result<()> {
    let mut f = Flow::embedded().await?;
    let pres = f.preservation("CO", json!({})).await?;
    f.act("CO", &pres, "decide", json!({ "outcome": "executed", "executed_on": "2026-11-23", "preserved_until": "2027-02-21" })).await?;
    let mla = f
        .request(
            "LU",
            "CO",
            "mutual_assistance",
            "urgent",
            "en",
            mla_fields(json!({ "preservation_case": pres })),
        )
        .await?;
    let mla_case = case_of(&mla);
    for side in ["LU", "CO"] {
        let p = f.net.case(side, &pres).await?;
        assert_eq!(
            p["follow_up_mla"],
            mla_case.as_str(),
            "{side} shows the follow-up"
        );
        assert_eq!(
            f.net.case(side, &mla_case).await?["preservation_case"],
            pres.as_str()
        );
    }
    // Refusal with a ground and reasons (art. 27(4)).
    f.act("CO", &mla_case, "decide", json!({ "outcome": "refused", "reasons": "the offence is political", "refusal_ground": "political_offence" })).await?;
    assert_eq!(f.agree("LU", "CO", &mla_case).await?["outcome"], "refused");
    // A preservation_case that is not ours is refused before sending.
    let bad = json!({ "kind": "mutual_assistance", "to": "CO", "urgency": "urgent", "language": "en", "fields": mla_fields(json!({ "preservation_case": "CO-2026-000009" })) });
    let r = f.net.client("LU")?.post("/v1/requests", &bad).await?;
    assert_eq!(r.status.as_u16(), 422, "{}", r.body);
    f.net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postponement_then_execution_and_conditions_accepted_or_declined_art_27_5_and_28(
) -> anyhow::Result<()> {
    let mut f = Flow::embedded().await?;
    // Postponed (27(5)), later executed.
    let a = case_of(
        &f.request(
            "LU",
            "CO",
            "mutual_assistance",
            "urgent",
            "en",
            mla_fields(json!({})),
        )
        .await?,
    );
    f.act(
        "CO",
        &a,
        "decide",
        json!({ "outcome": "postponed", "reasons": "would prejudice a domestic investigation" }),
    )
    .await?;
    f.act(
        "CO",
        &a,
        "decide",
        json!({ "outcome": "executed", "executed_on": "2026-12-01" }),
    )
    .await?;
    assert_eq!(f.agree("LU", "CO", &a).await?["outcome"], "executed");

    // Conditions accepted, then executed.
    let b = case_of(
        &f.request(
            "LU",
            "CO",
            "mutual_assistance",
            "urgent",
            "en",
            mla_fields(json!({})),
        )
        .await?,
    );
    f.act(
        "CO",
        &b,
        "conditions",
        json!({ "confidential": true, "text": "use only in this investigation" }),
    )
    .await?;
    assert_eq!(
        f.agree("LU", "CO", &b).await?["state"],
        "conditions_proposed"
    );
    let (status, _) = f.try_act("CO", &b, "close", json!({})).await?;
    assert_eq!(
        status, 409,
        "conditions must be answered before the case closes"
    );
    f.act("LU", &b, "conditions-reply", json!({ "accepted": true }))
        .await?;
    f.act(
        "CO",
        &b,
        "decide",
        json!({ "outcome": "executed", "executed_on": "2026-12-01" }),
    )
    .await?;
    assert_eq!(f.agree("LU", "CO", &b).await?["outcome"], "executed");

    // Conditions declined: the requested Party decides whether to provide anyway.
    let c = case_of(
        &f.request(
            "LU",
            "CO",
            "mutual_assistance",
            "urgent",
            "en",
            mla_fields(json!({})),
        )
        .await?,
    );
    f.act(
        "CO",
        &c,
        "conditions",
        json!({ "confidential": true, "text": "no use in other proceedings" }),
    )
    .await?;
    f.act(
        "LU",
        &c,
        "conditions-reply",
        json!({ "accepted": false, "explanation": "the court may order disclosure" }),
    )
    .await?;
    f.act("CO", &c, "decide", json!({ "outcome": "partially_executed", "executed_on": "2026-12-01", "reasons": "only non-confidential parts" })).await?;
    assert_eq!(
        f.agree("LU", "CO", &c).await?["outcome"],
        "partially_executed"
    );
    f.net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emergency_production_and_assistance_through_to_their_decisions() -> anyhow::Result<()> {
    let mut f = Flow::embedded().await?;
    let ep = json!({
        "requesting_authority": "Parquet de Luxembourg",
        "requested_on": "2026-11-23",
        "convention_statement": true,
        "service_providers": [{ "name": "ExampleCloud", "address": "Bogotá" }],
        "offences": "kidnapping",
        "legal_provisions": "art. 442-1 Code pénal; 5 to 10 years",
        "emergency_facts": "a child is held; the kidnapper uses this account",
        "data_description": "login IP addresses of the account, last 48 hours",
        "subscriber_only": true
    });
    let body = json!({ "kind": "emergency_production", "to": "CO", "urgency": "emergency", "language": "en", "fields": ep });
    // CO does not execute subscriber-only requests (para. 3): refused unless overridden.
    let r = f.net.client("LU")?.post("/v1/requests", &body).await?;
    assert_eq!(r.status.as_u16(), 409, "{}", r.body);
    let mut body = body;
    body["subscriber_only_override"] = json!(true);
    // Overridden, it warns: sent once the warnings are confirmed.
    let r = f.net.client("LU")?.post("/v1/requests", &body).await?;
    assert_eq!(r.status.as_u16(), 409, "{}", r.body);
    assert_eq!(
        r.body["error"]["code"], "unconfirmed-warnings",
        "{}",
        r.body
    );
    body["confirm_warnings"] = json!(true);
    let done = f.net.submit("LU", &body).await?;
    let warnings = done["warnings"].to_string();
    assert!(
        warnings.contains("para. 3") && warnings.contains("para. 7"),
        "{warnings}"
    );
    let ep_case = case_of(&done);
    f.received("CO", done["message_id"].as_str().unwrap())
        .await?;
    f.act(
        "CO",
        &ep_case,
        "acknowledge",
        json!({ "officer": "Policía Nacional, 24/7" }),
    )
    .await?;
    f.act(
        "CO",
        &ep_case,
        "decide",
        json!({ "outcome": "executed", "executed_on": "2026-11-23" }),
    )
    .await?;
    f.act(
        "CO",
        &ep_case,
        "results",
        json!({ "summary": "IP addresses for the last 48 hours", "preliminary": true }),
    )
    .await?;
    assert_eq!(f.agree("LU", "CO", &ep_case).await?["outcome"], "executed");

    let assist = json!({ "requesting_authority": "Police grand-ducale", "assistance_type": "technical_advice", "question": "How does this ransomware encrypt?", "offence": "extortion" });
    let a = case_of(
        &f.request("LU", "FR", "assistance", "routine", "fr", assist)
            .await?,
    );
    f.act(
        "FR",
        &a,
        "results",
        json!({ "summary": "AES-256 with a per-host key; keys recoverable from memory" }),
    )
    .await?;
    f.act(
        "FR",
        &a,
        "decide",
        json!({ "outcome": "executed", "executed_on": "2026-11-23" }),
    )
    .await?;
    assert_eq!(f.agree("LU", "FR", &a).await?["outcome"], "executed");
    f.net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_assistance_is_refused_before_sending_to_a_party_that_does_not_accept_it_on_the_24_7_channel(
) -> anyhow::Result<()> {
    let f = Flow::embedded().await?;
    let body = json!({ "kind": "mutual_assistance", "to": "FR", "urgency": "urgent", "language": "fr", "fields": mla_fields(json!({})) });
    let r = f.net.client("LU")?.post("/v1/requests", &body).await?;
    assert_eq!(r.status.as_u16(), 409, "{}", r.body);
    assert!(r.error_message().contains("24/7 channel"), "{}", r.body);
    let lu = f.net.net.node(&party("LU")).unwrap().cases();
    assert!(
        lu.store().cases()?.is_empty(),
        "nothing stored, nothing sent"
    );
    assert!(lu.store().outbox()?.is_empty());
    f.net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spontaneous_information_offered_with_conditions_declined_then_sent_anyway_art_26_2(
) -> anyhow::Result<()> {
    let mut f = Flow::embedded().await?;
    let offer = json!({ "conditions": "keep confidential; use only to investigate the botnet", "relevance": "command server of a botnet in your territory" });
    let case = case_of(
        &f.request("LU", "FR", "information_offer", "urgent", "fr", offer)
            .await?,
    );
    let info = json!({ "information": "C2 at 198.51.100.4, active since 2026-11-01", "relevance": "botnet command server" });
    let (status, _) = f
        .try_act("LU", &case, "send-information", json!({ "fields": info }))
        .await?;
    assert_eq!(status, 409, "not before the conditions are answered");
    f.act(
        "FR",
        &case,
        "conditions-reply",
        json!({ "accepted": false, "explanation": "our courts may order disclosure" }),
    )
    .await?;
    assert_eq!(f.agree("LU", "FR", &case).await?["state"], "offer_declined");
    let sent = f.act("LU", &case, "send-information", info).await?;
    assert!(sent["warnings"].to_string().contains("26(2)"));
    assert_eq!(f.agree("LU", "FR", &case).await?["state"], "sent");

    // An alert to several Parties at once: one case each.
    let alert = json!({ "kind": "spontaneous_information", "to": ["FR", "CO"], "urgency": "urgent", "language": "en", "fields": { "information": "phishing wave impersonating banks", "relevance": "victims in your territory" } });
    let r = f.net.client("LU")?.post("/v1/requests", &alert).await?;
    assert_eq!(r.status.as_u16(), 201, "{}", r.body);
    let cases = r.body["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    assert_ne!(cases[0]["case_ref"], cases[1]["case_ref"]);
    f.net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_language_the_recipient_does_not_list_needs_an_override_that_is_recorded(
) -> anyhow::Result<()> {
    let f = Flow::embedded().await?;
    let mut body = json!({ "kind": "preservation", "to": "CO", "urgency": "urgent", "language": "fr", "fields": preservation_fields() });
    let r = f.net.client("LU")?.post("/v1/requests", &body).await?;
    assert_eq!(r.status.as_u16(), 409, "{}", r.body);
    assert!(r.error_message().contains("es, en"), "{}", r.body);
    body["language_override"] = json!(true);
    body["confirm_warnings"] = json!(true);
    let done = f.net.submit("LU", &body).await?;
    let case = f.net.case("LU", done["case_ref"].as_str().unwrap()).await?;
    assert_eq!(case["language_override"], true);
    f.net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_to_the_competent_authority_with_a_copy_to_the_own_central_authority_art_27_9(
) -> anyhow::Result<()> {
    let mut f = Flow::fresh(&["LU", "LU-CA", "CO", "CO-CA"]).await?;
    let done = f
        .request(
            "LU",
            "CO",
            "mutual_assistance",
            "urgent",
            "en",
            mla_fields(json!({})),
        )
        .await?;
    let case = case_of(&done);
    let at_lu = f.net.case("LU", &case).await?;
    let copy = at_lu["copy_case"].as_str().unwrap().to_owned();
    assert!(done["warnings"].to_string().contains("27(9)(a)"));
    // The copy reaches LU-CA, for the requested Party's central authority (27(9)(a)).
    let copy_at_lu = f.net.case("LU", &copy).await?;
    assert_eq!(copy_at_lu["requested"], "LU-CA");
    let lu_ca = f.net.net.node(&party("LU-CA")).unwrap().cases();
    let mut ev = f.events.remove("LU-CA").unwrap();
    wait_for(&mut ev, 10, |e| e.kind == EventKind::Received).await?;
    assert!(lu_ca.store().case(&copy.parse()?)?.is_some());
    // LU-CA relays it to CO-CA, where it is a copy of LU's case, for information: nothing is
    // owed on it, and it is not decided there.
    let mut at_co_ca = f.events.remove("CO-CA").unwrap();
    let got = wait_for(&mut at_co_ca, 10, |e| {
        e.kind == EventKind::Received && e.peer.as_ref().map(|p| p.as_str()) == Some("LU-CA")
    })
    .await?;
    let relayed = got.case_ref.unwrap().to_string();
    let v = f.net.case("CO-CA", &relayed).await?;
    assert_eq!(v["copy_of"], case.as_str(), "{v}");
    assert!(f.deadlines("CO-CA", &relayed).await?.is_empty());
    let (status, body) = f
        .try_act(
            "CO-CA",
            &relayed,
            "decide",
            json!({ "fields": { "outcome": "executed", "executed_on": "2026-11-23" } }),
        )
        .await?;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        f.net.case("LU-CA", &copy).await?["copy_case"],
        relayed.as_str(),
        "the relay is recorded, so it happens once"
    );

    // CO is not competent: it forwards to CO-CA and tells LU (27(9)(c)).
    let d = f
        .act(
            "CO",
            &case,
            "decide",
            json!({ "outcome": "forwarded", "forwarded_to": "CO-CA" }),
        )
        .await?;
    assert!(
        d["warnings"].to_string().contains("forwarded to CO-CA"),
        "{d}"
    );
    assert_eq!(f.agree("LU", "CO", &case).await?["outcome"], "forwarded");
    let got = wait_for(&mut at_co_ca, 10, |e| {
        e.kind == EventKind::Received && e.peer.as_ref().map(|p| p.as_str()) == Some("CO")
    })
    .await?;
    // The forward names the requester's case it comes from.
    let forwarded = f
        .net
        .case("CO-CA", &got.case_ref.unwrap().to_string())
        .await?;
    assert_eq!(
        forwarded["timeline"][0]["body"]["relayed"],
        json!({ "how": "forward", "case": case, "requester": "LU", "requested": "CO" }),
        "{forwarded}"
    );
    f.net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_came_by_phone_is_recorded_and_tracked_like_any_other() -> anyhow::Result<()>
{
    let f = Flow::embedded().await?;
    // CO accepts oral requests (CARICOM MLA para. 18).
    let rec = json!({ "record_external": { "channel": "phone", "from": "FR", "kind": "preservation", "urgency": "emergency", "language": "en", "summary": "preserve logs of account X", "oral": true } });
    let r = f.net.client("CO")?.post("/v1/cases", &rec).await?;
    assert_eq!(r.status.as_u16(), 201, "{}", r.body);
    let case = case_of(&r.body);
    let (status, body) = f
        .try_act(
            "CO",
            &case,
            "acknowledge",
            json!({ "fields": { "officer": "permanence" } }),
        )
        .await?;
    assert_eq!(status, 201, "{body}");
    let v = f.net.case("CO", &case).await?;
    assert_eq!(v["state"], "acknowledged");
    assert_eq!(v["recorded_external"]["oral"], true);
    assert_eq!(
        v["timeline"][0]["delivery"], "recorded",
        "recorded here, not sent"
    );
    let bad = json!({ "record_external": { "channel": "pigeon", "from": "CO", "kind": "preservation", "summary": "" } });
    let r = f.net.client("FR")?.post("/v1/cases", &bad).await?;
    assert_eq!(r.status.as_u16(), 422);
    f.net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_officer_purges_a_message_or_a_case_and_the_audit_keeps_only_that_it_happened_cic_67_1_3(
) -> anyhow::Result<()> {
    let mut f = Flow::embedded().await?;
    let done = f
        .request(
            "LU",
            "FR",
            "preservation",
            "urgent",
            "fr",
            preservation_fields(),
        )
        .await?;
    let case = case_of(&done);
    let id = done["message_id"].as_str().unwrap().to_owned();
    let (status, _) = f
        .try_act(
            "FR",
            &case,
            "purge",
            json!({ "fields": { "target": "message", "message_id": id } }),
        )
        .await?;
    assert_eq!(status, 422, "a reason is mandatory");
    let (status, body) = f
        .try_act(
            "FR",
            &case,
            "purge",
            json!({ "fields": { "target": "message", "message_id": id, "reason": "tracing gave no result" } }),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    let v = f.net.case("FR", &case).await?;
    assert_eq!(v["timeline"][0]["purged"], true);
    assert!(v["timeline"][0]["body"].is_null(), "the content is gone");
    assert!(!v.to_string().contains(&preservation().facts));
    let audit = f.net.client("FR")?.get("/v1/audit").await?.body;
    assert!(audit
        .to_string()
        .contains("purged_message:tracing gave no result"));
    assert!(!audit.to_string().contains(&preservation().facts));
    let (status, _) = f
        .try_act(
            "FR",
            &case,
            "purge",
            json!({ "fields": { "target": "case", "reason": "retention" } }),
        )
        .await?;
    assert_eq!(status, 200);
    let r = f
        .net
        .client("FR")?
        .get(&format!("/v1/cases/{case}"))
        .await?;
    // A purged case is said to be purged, when and why, not "not found" as a typo would be.
    assert_eq!(r.status.as_u16(), 410, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "purged", "{}", r.body);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("retention") && m.contains("purged on")),
        "{}",
        r.body
    );
    let typo = f.net.client("FR")?.get("/v1/cases/FR-2026-999999").await?;
    assert_eq!(typo.status.as_u16(), 404, "{}", typo.body);
    assert_eq!(
        f.net.client("FR")?.get("/v1/audit/verify").await?.body["broken"],
        Value::Null
    );
    f.net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urgent_requests_go_to_the_central_authority_a_party_declared_art_27_9_e(
) -> anyhow::Result<()> {
    let mut f = Flow::fresh(&["LU", "FR", "FR-CA"]).await?;
    let body = json!({ "kind": "mutual_assistance", "to": "FR", "urgency": "urgent", "language": "fr", "fields": mla_fields(json!({})), "confirm_warnings": true });
    let done = f.net.submit("LU", &body).await?;
    assert_eq!(done["to"], "FR-CA", "{done}");
    assert!(done["warnings"].to_string().contains("27(9)(e)"), "{done}");
    f.received("FR-CA", done["message_id"].as_str().unwrap())
        .await?;
    let at_ca = f
        .net
        .case("FR-CA", done["case_ref"].as_str().unwrap())
        .await?;
    assert_eq!(at_ca["kind"], "mutual_assistance");
    let fr = f.net.net.node(&party("FR")).unwrap().cases();
    assert!(
        fr.store().cases()?.is_empty(),
        "FR's 24/7 node is not asked"
    );
    f.net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_number_is_never_given_again_even_after_a_purge_and_a_restart() -> anyhow::Result<()>
{
    let mut net = Net::embedded().await?;
    let number = |case: &str| case.rsplit('-').next().unwrap_or_default().to_owned();
    let first = case_of(&net.submit("LU", &preservation_request("FR")).await?);
    let second = case_of(&net.submit("LU", &preservation_request("FR")).await?);
    assert_eq!(
        (number(&first), number(&second)),
        ("000001".into(), "000002".into())
    );
    // The newest case is purged: its number stays taken across a restart.
    let r = net
        .client("LU")?
        .post(
            &format!("/v1/cases/{second}/purge"),
            &json!({ "fields": { "reason": "entered by mistake", "target": "case" } }),
        )
        .await?;
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    net.net.stop_node(&party("LU")).await;
    net.net.start_node(&party("LU")).await?;
    let third = case_of(&net.submit("LU", &preservation_request("FR")).await?);
    assert_eq!(number(&third), "000003");
    net.net.shutdown().await;
    Ok(())
}

/// A type mistake never changes what is recorded: each member of the wrong type, or unknown,
/// is refused and named (the request, the action, the case recorded by hand, an upload's
/// name), and nothing is stored; a time given as Unix milliseconds is that time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_of_the_wrong_type_is_refused_and_named_never_read_as_something_else(
) -> anyhow::Result<()> {
    let f = Flow::embedded().await?;
    let fr = f.net.client("FR")?;
    let named = |body: &Value, member: &str| !error_field(body, member).is_null();
    let cases_before = fr.get("/v1/cases").await?.body["cases"]
        .as_array()
        .map_or(0, Vec::len);
    // A case recorded by hand: "true" is not true, and an unknown member is not ignored.
    let base = json!({ "channel": "phone", "from": "CO", "kind": "preservation",
        "urgency": "urgent", "language": "es", "summary": "preserve logs of account X" });
    for (member, value) in [
        ("exercise", json!("true")),
        ("oral", json!(1)),
        ("summary", json!(["x"])),
        ("recieved_at", json!("2026-12-01")),
    ] {
        let mut rec = base.clone();
        rec[member] = value;
        let r = fr
            .post("/v1/cases", &json!({ "record_external": rec }))
            .await?;
        assert_eq!(r.status.as_u16(), 400, "{member}: {}", r.body);
        assert!(named(&r.body, member), "{member} is named: {}", r.body);
    }
    let after = fr.get("/v1/cases").await?.body["cases"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(after, cases_before, "nothing recorded");
    // A time as Unix milliseconds is that time, not now.
    let mut rec = base.clone();
    rec["received_at"] = json!(1_796_000_000_000u64);
    let r = fr
        .post("/v1/cases", &json!({ "record_external": rec }))
        .await?;
    assert_eq!(r.status.as_u16(), 201, "{}", r.body);
    let shown = f.net.case("FR", &case_of(&r.body)).await?;
    assert_eq!(
        shown["recorded_external"]["received_at"], "2026-11-30T00:53:20Z",
        "{shown}"
    );
    // A request: a number for the urgency is named as of the wrong type, not as missing.
    let mut req = preservation_request("FR");
    req["urgency"] = json!(1);
    let r = f.net.client("LU")?.post("/v1/requests", &req).await?;
    assert_eq!(r.status.as_u16(), 422, "{}", r.body);
    let problem = error_field(&r.body, "urgency");
    assert!(
        problem["problem"]["invalid"]
            .as_str()
            .is_some_and(|p| p.contains("not a number")),
        "{}",
        r.body
    );
    // An action: "yes" is not true.
    let done = f.net.submit("LU", &preservation_request("FR")).await?;
    let case = case_of(&done);
    let (status, body) = f
        .try_act(
            "LU",
            &case,
            "withdraw",
            json!({ "fields": { "reason": "x" }, "language_override": "yes" }),
        )
        .await?;
    assert_eq!(status, 422, "{body}");
    assert!(named(&body, "language_override"), "{body}");
    // An upload's name that is not UTF-8 is refused, not stored mangled.
    let file = f.net.tmp.path().join("evidence.log");
    std::fs::write(&file, b"evidence")?;
    let r = fr.upload(&file, "ok.log", &mut |_| {}).await?;
    assert_eq!(r.status.as_u16(), 201, "{}", r.body);
    let raw = fr.post("/v1/uploads?name=%FF%FE.log", &json!({})).await?;
    assert_eq!(raw.status.as_u16(), 422, "{}", raw.body);
    f.net.net.shutdown().await;
    Ok(())
}

/// The other irreversible actions are exact too: a close given any member, and a withdrawal
/// with a misspelt or mistyped member, are refused with the member named, and the case stays
/// as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_or_a_withdrawal_with_a_misspelt_or_mistyped_member_changes_nothing(
) -> anyhow::Result<()> {
    let mut f = Flow::embedded().await?;
    let case = f.preservation("FR", json!({})).await?;
    for (action, body, status, member) in [
        (
            "close",
            json!({ "fields": { "reason": "done" } }),
            400,
            "reason",
        ),
        ("close", json!({ "fields": { "note": 5 } }), 400, "note"),
        (
            "withdraw",
            json!({ "fields": { "reasn": "x" } }),
            422,
            "reasn",
        ),
        (
            "withdraw",
            json!({ "fields": { "reason": 5 } }),
            422,
            "reason",
        ),
    ] {
        let (got, body) = f.try_act("LU", &case, action, body).await?;
        assert_eq!(got, status, "{action}: {body}");
        assert!(
            !error_field(&body, member).is_null(),
            "{action}: {member} is named: {body}"
        );
        let state = f.net.case("LU", &case).await?["state"].clone();
        assert!(
            state == "queued" || state == "delivered",
            "{action}: the case is still open: {state}"
        );
    }
    // A close with its note is made once the case is decided, and the audit keeps the note.
    f.act(
        "FR",
        &case,
        "acknowledge",
        json!({ "officer": "permanence" }),
    )
    .await?;
    f.act("FR", &case, "decide", json!({ "outcome": "executed", "executed_on": "2026-11-23", "preserved_until": "2027-02-21", "legal_basis": "CIC 48-25" })).await?;
    let (got, body) = f
        .try_act(
            "LU",
            &case,
            "close",
            json!({ "fields": { "note": "settled by phone" } }),
        )
        .await?;
    assert_eq!(got, 200, "{body}");
    let audit = f.net.client("LU")?.get("/v1/audit").await?;
    assert!(
        audit.body.to_string().contains("closed:settled by phone"),
        "{}",
        audit.body
    );
    f.net.net.shutdown().await;
    Ok(())
}

/// A case the requester closed still takes the evidence the requested Party sends after: FR's
/// results reach LU's closed case (delivered, not refused), kept in it with a warning, and
/// the case stays closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_sent_after_the_requester_closed_its_case_are_kept_not_refused(
) -> anyhow::Result<()> {
    let mut f = Flow::embedded().await?;
    let assist = json!({ "requesting_authority": "Police grand-ducale",
        "assistance_type": "technical_advice", "question": "What does this mailbox hold?",
        "offence": "fraud" });
    let done = f
        .request("LU", "FR", "assistance", "routine", "fr", assist)
        .await?;
    let case = case_of(&done);
    f.act(
        "FR",
        &case,
        "acknowledge",
        json!({ "officer": "permanence" }),
    )
    .await?;
    f.act(
        "FR",
        &case,
        "decide",
        json!({ "outcome": "executed", "executed_on": "2026-11-23" }),
    )
    .await?;
    let (status, body) = f
        .try_act(
            "LU",
            &case,
            "close",
            json!({ "fields": { "note": "answered by phone" } }),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    // FR's results arrive afterwards: delivered, kept.
    f.act(
        "FR",
        &case,
        "results",
        json!({ "summary": "the mailbox export" }),
    )
    .await?;
    let at_lu = f.net.case("LU", &case).await?;
    assert_eq!(at_lu["state"], "closed", "{at_lu}");
    let kinds: Vec<&str> = at_lu["timeline"]
        .as_array()
        .map(|t| t.iter().filter_map(|m| m["kind"].as_str()).collect())
        .unwrap_or_default();
    assert!(kinds.contains(&"results"), "{kinds:?}");
    assert!(
        at_lu["warnings"]
            .to_string()
            .contains("after this case was closed"),
        "{at_lu}"
    );
    f.net.net.shutdown().await;
    Ok(())
}

/// A filter value no case can have is refused and named with the accepted values and the
/// nearest one, instead of an empty list that looks like an empty inbox; a party code is
/// taken in any case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misspelt_filter_is_refused_with_a_did_you_mean_not_answered_with_no_cases(
) -> anyhow::Result<()> {
    let f = Flow::embedded().await?;
    let done = f.net.submit("LU", &preservation_request("FR")).await?;
    let case = case_of(&done);
    let lu = f.net.client("LU")?;
    for (query, member, hint) in [
        (
            "kind=preservaton",
            "kind",
            "did you mean \\\"preservation\\\"",
        ),
        ("state=new", "state", "is not one of"),
        ("urgency=urgnet", "urgency", "did you mean \\\"urgent\\\""),
        ("role=requestor", "role", "did you mean \\\"requester\\\""),
        ("peer=f", "peer", ""),
    ] {
        let r = lu.get(&format!("/v1/cases?{query}")).await?;
        assert_eq!(r.status.as_u16(), 400, "{query}: {}", r.body);
        let named = error_field(&r.body, member);
        assert!(named.to_string().contains(hint), "{query}: {}", r.body);
    }
    let r = lu.get("/v1/cases?peer=fr&kind=preservation").await?;
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    assert_eq!(r.body["cases"][0]["case_ref"], case.as_str(), "{}", r.body);
    f.net.net.shutdown().await;
    Ok(())
}
