//! The rules of the texts that need both sides, on real nodes (real QUIC, real sled) through
//! the control API: each test is named after the rule it holds, and compares both sides' whole
//! view of the case (`Flow::agree`) after each step.

use poc247_tests::flow::*;
use poc247_tests::*;
use serde_json::{json, Value};

fn labels(deadlines: &[Value]) -> Vec<String> {
    deadlines
        .iter()
        .map(|d| d[1].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preservation_is_refused_for_dual_criminality_only_by_a_party_that_made_the_29_4_reservation(
) -> anyhow::Result<()> {
    let mut f = Flow::embedded().await?;
    let case = f.preservation("FR", json!({})).await?;
    // FR's directory entry does not declare the reservation.
    let refusal = json!({ "fields": { "outcome": "refused", "refusal_ground": "dual_criminality", "reasons": "not an offence here" } });
    let (status, body) = f.try_act("FR", &case, "decide", refusal).await?;
    assert_eq!(status, 422, "{body}");
    assert!(
        error_field(&body, "refusal_ground")
            .to_string()
            .contains("29(4)"),
        "{body}"
    );
    // Nor on domestic law (29(5) names two grounds only); the case is untouched on both sides.
    let refusal = json!({ "fields": { "outcome": "refused", "refusal_ground": "domestic_law", "reasons": "no power" } });
    let (status, body) = f.try_act("FR", &case, "decide", refusal).await?;
    assert_eq!(status, 422, "{body}");
    assert_eq!(f.agree("LU", "FR", &case).await?["state"], "delivered");
    f.net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_data_are_disclosed_only_in_executing_a_preservation_of_traffic_data_art_30_1(
) -> anyhow::Result<()> {
    let mut f = Flow::embedded().await?;
    let disclosure = json!({ "fields": { "service_provider": "Example Telecom SA", "provider_state": "BE", "path": "FR → BE", "communications": [{ "origin": "198.51.100.7", "date": "2026-11-20" }] } });
    // A preservation that does not concern traffic data.
    let plain = f.preservation("FR", json!({})).await?;
    let (status, body) = f
        .try_act("FR", &plain, "disclose-traffic", disclosure.clone())
        .await?;
    assert_eq!(status, 409, "{body}");
    assert!(body.to_string().contains("30(1)"), "{body}");
    // One that does, refused on a 29(5) ground: nothing is executed, nothing disclosed.
    let traffic = json!({ "includes_traffic_data": true, "communication": { "origin": "198.51.100.7", "destination": "203.0.113.9", "date": "2026-11-20", "time": "03:12Z" } });
    let refused = f.preservation("FR", traffic.clone()).await?;
    f.act(
        "FR",
        &refused,
        "decide",
        json!({ "outcome": "refused", "refusal_ground": "political_offence", "reasons": "political offence" }),
    )
    .await?;
    let (status, body) = f
        .try_act("FR", &refused, "disclose-traffic", disclosure.clone())
        .await?;
    assert_eq!(status, 409, "{body}");
    f.agree("LU", "FR", &refused).await?;
    // In executing one, it goes.
    let executed = f.preservation("FR", traffic).await?;
    f.act(
        "FR",
        &executed,
        "disclose-traffic",
        disclosure["fields"].clone(),
    )
    .await?;
    // The results name each communication traced by its day, time, duration and place
    // (CIC 67-1), the same on both sides.
    f.act(
        "FR",
        &executed,
        "results",
        json!({ "summary": "connections of the account", "communications": [{ "date": "2026-11-20", "time": "03:12Z", "duration": "00:02:11", "place": "Paris 13e, cell 4711" }] }),
    )
    .await?;
    let v = f.agree("LU", "FR", &executed).await?;
    assert_eq!(
        v["timeline"][2]["body"]["communications"][0]["place"],
        "Paris 13e, cell 4711"
    );
    f.net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_says_what_it_must_and_asks_for_what_can_be_met() -> anyhow::Result<()> {
    let f = Flow::embedded().await?;
    let lu = f.net.client("LU")?;
    // BC 27(9)(d): whether the measure is coercive decides the route; never assumed.
    let mut fields = mla_fields(json!({}));
    fields.as_object_mut().unwrap().remove("coercive");
    let body = json!({ "kind": "mutual_assistance", "to": "CO", "urgency": "urgent", "language": "en", "fields": fields });
    let r = lu.post("/v1/requests", &body).await?;
    assert_eq!(r.status.as_u16(), 422, "{}", r.body);
    assert_eq!(
        error_field(&r.body, "coercive")["problem"],
        "missing",
        "{}",
        r.body
    );
    // CARICOM MLA para. 29: a suggested deadline already past is refused, named.
    let past = json!({ "kind": "preservation", "to": "FR", "urgency": "urgent", "language": "fr", "fields": preservation_fields() });
    let mut past = past;
    past["fields"]["respond_by"] = json!("2020-01-01");
    past["fields"]["respond_by_reason"] = json!("the provider deletes logs");
    let r = lu.post("/v1/requests", &past).await?;
    assert_eq!(r.status.as_u16(), 422, "{}", r.body);
    assert!(
        error_field(&r.body, "respond_by")
            .to_string()
            .contains("past"),
        "{}",
        r.body
    );
    // BC 26(2): conditions are agreed before the information goes, never with it.
    let info = json!({ "kind": "spontaneous_information", "to": "FR", "urgency": "urgent", "language": "fr", "fields": { "information": "C2 at 198.51.100.4", "relevance": "botnet", "conditions": "confidential" } });
    let r = lu.post("/v1/requests", &info).await?;
    assert_eq!(r.status.as_u16(), 422, "{}", r.body);
    assert!(
        error_field(&r.body, "conditions")
            .to_string()
            .contains("information_offer"),
        "{}",
        r.body
    );
    let cases = lu.get("/v1/cases").await?;
    assert_eq!(cases.body["cases"], json!([]), "nothing was stored");
    f.net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_up_request_goes_to_the_party_that_preserved_the_data_art_29_1(
) -> anyhow::Result<()> {
    let mut f = Flow::embedded().await?;
    let at_co = f.preservation("CO", json!({})).await?;
    let body = json!({ "kind": "mutual_assistance", "to": "FR", "urgency": "urgent", "language": "fr", "fields": mla_fields(json!({ "preservation_case": at_co })) });
    let r = f.net.client("LU")?.post("/v1/requests", &body).await?;
    assert_eq!(r.status.as_u16(), 422, "{}", r.body);
    assert!(
        error_field(&r.body, "preservation_case")
            .to_string()
            .contains("CO"),
        "{}",
        r.body
    );
    let body = json!({ "kind": "mutual_assistance", "to": "CO", "urgency": "urgent", "language": "en", "fields": mla_fields(json!({ "preservation_case": at_co })) });
    let r = f.net.client("LU")?.post("/v1/requests", &body).await?;
    assert_eq!(r.status.as_u16(), 201, "{}", r.body);
    f.net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_formal_confirmation_follows_only_a_request_that_needs_one_art_25_3_and_para_7(
) -> anyhow::Result<()> {
    let mut f = Flow::embedded().await?;
    // FR requires a confirmation of requests (25(3)), not of a question for technical advice.
    let assist = json!({ "requesting_authority": "Police grand-ducale", "assistance_type": "technical_advice", "question": "How does this ransomware encrypt?", "offence": "extortion" });
    let a = case_of(
        &f.request("LU", "FR", "assistance", "routine", "fr", assist)
            .await?,
    );
    let v = f.agree("LU", "FR", &a).await?;
    assert_eq!(v["confirmation_required"], false);
    assert!(!labels(&f.deadlines("LU", &a).await?).contains(&"confirmation_overdue".into()));
    let confirm =
        json!({ "fields": { "reference": "X-1", "channel": "email", "sent_on": "2026-11-24" } });
    let (status, body) = f.try_act("LU", &a, "confirm", confirm.clone()).await?;
    assert_eq!(status, 409, "{body}");
    // Nor of information volunteered.
    let info = json!({ "information": "C2 at 198.51.100.4", "relevance": "botnet" });
    let s = case_of(
        &f.request("LU", "FR", "spontaneous_information", "urgent", "fr", info)
            .await?,
    );
    assert_eq!(
        f.agree("LU", "FR", &s).await?["confirmation_required"],
        false
    );
    // CO requires an emergency production to be submitted formally after execution (para.
    // 7): the track starts at the decision, on both sides, and `confirm` settles it.
    let ep = json!({ "requesting_authority": "Parquet de Luxembourg", "requested_on": "2026-11-23", "convention_statement": true, "service_providers": [{ "name": "ExampleCloud", "address": "Bogotá" }], "offences": "kidnapping", "legal_provisions": "art. 442-1 Code pénal", "emergency_facts": "a child is held", "data_description": "login IP addresses, last 48 hours" });
    let e = case_of(
        &f.request("LU", "CO", "emergency_production", "emergency", "en", ep)
            .await?,
    );
    let v = f.agree("LU", "CO", &e).await?;
    assert_eq!(v["confirmation_required"], true);
    assert!(!labels(&f.deadlines("LU", &e).await?).contains(&"confirmation_overdue".into()));
    f.act(
        "CO",
        &e,
        "decide",
        json!({ "outcome": "executed", "executed_on": "2026-11-23" }),
    )
    .await?;
    f.agree("LU", "CO", &e).await?;
    assert!(labels(&f.deadlines("LU", &e).await?).contains(&"confirmation_overdue".into()));
    f.act("LU", &e, "confirm", confirm["fields"].clone())
        .await?;
    f.agree("LU", "CO", &e).await?;
    assert!(!labels(&f.deadlines("CO", &e).await?).contains(&"confirmation_overdue".into()));
    f.net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oral_request_is_taken_only_where_accepted_and_its_written_confirmation_is_recorded_mla_para_18(
) -> anyhow::Result<()> {
    let f = Flow::embedded().await?;
    let call = |from: &str| json!({ "record_external": { "channel": "phone", "from": from, "kind": "preservation", "urgency": "emergency", "language": "en", "summary": "preserve logs of account X", "oral": true } });
    // FR did not declare that it accepts oral requests.
    let r = f.net.client("FR")?.post("/v1/cases", &call("CO")).await?;
    assert_eq!(r.status.as_u16(), 409, "{}", r.body);
    assert!(r.body.to_string().contains("accepts_oral"), "{}", r.body);
    // CO did: the written confirmation is due at once, and recorded when it comes.
    let r = f.net.client("CO")?.post("/v1/cases", &call("LU")).await?;
    assert_eq!(r.status.as_u16(), 201, "{}", r.body);
    let case = case_of(&r.body);
    assert!(labels(&f.deadlines("CO", &case).await?).contains(&"confirmation_overdue".into()));
    let written = json!({ "fields": { "reference": "LU-PARQUET-2026-88", "channel": "email", "sent_on": "2026-11-24" } });
    let (status, body) = f.try_act("CO", &case, "confirm", written).await?;
    assert_eq!(status, 201, "{body}");
    assert!(f.net.case("CO", &case).await?["confirmation"].is_string());
    assert!(!labels(&f.deadlines("CO", &case).await?).contains(&"confirmation_overdue".into()));
    // An oral request closed without its confirmation owes nothing more.
    let r = f.net.client("CO")?.post("/v1/cases", &call("LU")).await?;
    let other = case_of(&r.body);
    let (status, body) = f
        .try_act(
            "CO",
            &other,
            "close",
            json!({ "fields": { "note": "the caller withdrew it" } }),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    assert!(f.deadlines("CO", &other).await?.is_empty());
    f.net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_para_2_advice_names_a_route_that_takes_the_request_emergency_production_para_2(
) -> anyhow::Result<()> {
    let ep = json!({ "requesting_authority": "Parquet de Luxembourg", "requested_on": "2026-11-23", "convention_statement": true, "service_providers": [{ "name": "ExampleMail", "address": "Paris" }], "offences": "kidnapping", "legal_provisions": "art. 442-1 Code pénal", "emergency_facts": "a child is held", "data_description": "login IP addresses, last 48 hours" });
    let mla = json!({ "kind": "mutual_assistance", "to": "FR", "urgency": "emergency", "language": "fr", "fields": mla_fields(json!({ "emergency_facts": "a child is held" })), "confirm_warnings": true });
    // FR's central authority has a node: the advised command is taken, and goes there.
    let mut f = Flow::fresh(&["LU", "FR", "FR-CA"]).await?;
    let done = f
        .request(
            "LU",
            "FR",
            "emergency_production",
            "emergency",
            "fr",
            ep.clone(),
        )
        .await?;
    let advice = done["warnings"].to_string();
    assert!(
        advice.contains("para. 2") && advice.contains("FR-CA"),
        "{advice}"
    );
    let r = f.net.client("LU")?.post("/v1/requests", &mla).await?;
    assert_eq!(r.status.as_u16(), 201, "{}", r.body);
    assert_eq!(r.body["to"], "FR-CA", "{}", r.body);
    f.net.net.shutdown().await;
    // It has none: the advice does not send the officer to a command that is refused.
    let mut f = Flow::embedded().await?;
    let done = f
        .request("LU", "FR", "emergency_production", "emergency", "fr", ep)
        .await?;
    let advice = done["warnings"].to_string();
    assert!(
        advice.contains("para. 2") && !advice.contains("send mutual-assistance --to FR"),
        "{advice}"
    );
    let r = f.net.client("LU")?.post("/v1/requests", &mla).await?;
    assert_eq!(r.status.as_u16(), 409, "{}", r.body);
    f.net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sides_hold_the_same_language_override_in_reply_to_and_extension() -> anyhow::Result<()>
{
    let mut f = Flow::embedded().await?;
    // Written in German, which FR does not list (CARICOM MLA para. 18), on LU's override.
    let mut body = json!({ "kind": "preservation", "to": "FR", "urgency": "urgent", "language": "de", "fields": preservation_fields(), "language_override": true, "confirm_warnings": true });
    let done = f.net.submit("LU", &body).await?;
    f.received("FR", done["message_id"].as_str().unwrap())
        .await?;
    let case = case_of(&done);
    assert_eq!(f.agree("LU", "FR", &case).await?["language_override"], true);
    body["language"] = json!("fr");
    body["language_override"] = json!(false);
    let case = case_of(&f.net.submit("LU", &body).await?);
    let request_id = f.net.case("LU", &case).await?["timeline"][0]["id"].clone();
    f.received("FR", request_id.as_str().unwrap()).await?;
    assert_eq!(
        f.agree("LU", "FR", &case).await?["language_override"],
        false
    );
    // An answer names the message it answers when the officer names none.
    f.act(
        "FR",
        &case,
        "acknowledge",
        json!({ "officer": "permanence" }),
    )
    .await?;
    let q = f
        .act(
            "FR",
            &case,
            "request-info",
            json!({ "questions": "which period?" }),
        )
        .await?;
    f.act(
        "LU",
        &case,
        "provide-info",
        json!({ "answers": "since 2026-10-01" }),
    )
    .await?;
    let v = f.agree("LU", "FR", &case).await?;
    let replies: Vec<&Value> = v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["in_reply_to"])
        .collect();
    assert_eq!(
        replies[1], &request_id,
        "the acknowledgement answers the request"
    );
    assert_eq!(
        replies[3], &q["message_id"],
        "the answer answers the question"
    );
    // The requester asks for an extension; the data are kept longer once FR extends.
    f.act("FR", &case, "decide", json!({ "outcome": "executed", "executed_on": "2026-11-23", "preserved_until": "2027-02-21" })).await?;
    f.act(
        "LU",
        &case,
        "extend",
        json!({ "until": "2027-05-21", "reason": "the MLA request is being translated" }),
    )
    .await?;
    assert_eq!(
        f.agree("LU", "FR", &case).await?["preserved_until"],
        "2027-02-21"
    );
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
    f.net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_central_authority_forwards_to_its_own_party_never_back_to_itself_art_27_9_c_and_e(
) -> anyhow::Result<()> {
    let mut f = Flow::fresh(&["LU", "FR", "FR-CA"]).await?;
    // FR declared that urgent requests go to its central authority (27(9)(e)).
    let mla = json!({ "kind": "mutual_assistance", "to": "FR", "urgency": "urgent", "language": "fr", "fields": mla_fields(json!({})), "confirm_warnings": true });
    let done = f.net.submit("LU", &mla).await?;
    assert_eq!(done["to"], "FR-CA", "{done}");
    f.received("FR-CA", done["message_id"].as_str().unwrap())
        .await?;
    let case = case_of(&done);
    // FR-CA is not competent: FR is. The forward goes to FR, not back to FR-CA.
    f.act(
        "FR-CA",
        &case,
        "decide",
        json!({ "outcome": "forwarded", "forwarded_to": "FR" }),
    )
    .await?;
    let mut at_fr = f.events.remove("FR").unwrap();
    let got = wait_for(&mut at_fr, 10, |e| {
        e.kind == poc247_node::events::EventKind::Received
            && e.peer.as_ref().map(|p| p.as_str()) == Some("FR-CA")
    })
    .await?;
    let forwarded = got.case_ref.unwrap().to_string();
    let v = f.agree("FR-CA", "FR", &forwarded).await?;
    assert_eq!(v["timeline"][0]["body"]["relayed"]["case"], case.as_str());
    assert_eq!(f.agree("LU", "FR-CA", &case).await?["outcome"], "forwarded");
    let outbox = f
        .net
        .client("FR-CA")?
        .get("/v1/cases?role=requester")
        .await?;
    assert_eq!(
        outbox.body["cases"][0]["state"], "delivered",
        "{}",
        outbox.body
    );
    // A forward the node cannot make is refused before the requester is told of it.
    let done = f.net.submit("LU", &mla).await?;
    f.received("FR-CA", done["message_id"].as_str().unwrap())
        .await?;
    let other = case_of(&done);
    let (status, body) = f
        .try_act(
            "FR-CA",
            &other,
            "decide",
            json!({ "fields": { "outcome": "forwarded", "forwarded_to": "CO-CA" } }),
        )
        .await?;
    assert_eq!(status, 409, "{body}");
    assert!(body.to_string().contains("CO-CA"), "{body}");
    let v = f.agree("LU", "FR-CA", &other).await?;
    assert!(v["outcome"].is_null(), "{v}");
    f.net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_takes_the_cli_names_of_actions_and_names_the_valid_ones() -> anyhow::Result<()> {
    let mut f = Flow::embedded().await?;
    let case = f.preservation("FR", json!({})).await?;
    // `ack` is the CLI's name of `acknowledge`: the same action for the API.
    f.act("FR", &case, "ack", json!({ "officer": "permanence" }))
        .await?;
    assert_eq!(f.agree("LU", "FR", &case).await?["state"], "acknowledged");
    let (status, body) = f
        .try_act("FR", &case, "acknowledged", json!({ "fields": {} }))
        .await?;
    assert_eq!(status, 404, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("did you mean \"acknowledge\"") && message.contains("decide"),
        "{body}"
    );
    f.net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_asked_in_a_case_is_owed_by_the_other_side_until_answered_mla_para_21(
) -> anyhow::Result<()> {
    let mut f = Flow::embedded().await?;
    let case = f.preservation("FR", json!({})).await?;
    let q = f
        .act("FR", &case, "ask", json!({ "questions": "which period?" }))
        .await?;
    let owed = |v: &Value| -> Vec<String> {
        v["pending"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|d| d["case_ref"] == case.as_str())
                    .map(|d| d["label"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let at_lu = f
        .net
        .client("LU")?
        .get("/v1/pending?owed_by=us")
        .await?
        .body;
    let label = format!(
        "answer_overdue_{}",
        q["message_id"].as_str().unwrap_or_default()
    );
    assert!(owed(&at_lu).contains(&label), "{at_lu}");
    f.agree("LU", "FR", &case).await?;
    f.act(
        "LU",
        &case,
        "answer",
        json!({ "answers": "since 2026-10-01" }),
    )
    .await?;
    let at_lu = f
        .net
        .client("LU")?
        .get("/v1/pending?owed_by=us")
        .await?
        .body;
    assert!(!owed(&at_lu).contains(&label), "{at_lu}");
    f.agree("LU", "FR", &case).await?;
    f.net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tracing_executed_owes_its_order_end_and_the_notice_to_the_person_concerned_cic_67_1(
) -> anyhow::Result<()> {
    // FR's law: an order to trace lasts 30 days; the person is informed within 365 more.
    let mut net = Net::embedded_prepared()?;
    let mut cfg = net.config("FR")?;
    cfg.deadlines.tracing_order_days = Some(30);
    cfg.deadlines.tracing_notice_days = Some(365);
    net.net.start_node(&party("LU")).await?;
    net.net.start_node(&party("CO")).await?;
    net.net.start_node_with(&party("FR"), cfg).await?;
    let mut f = Flow::with(net)?;
    let traffic = json!({ "includes_traffic_data": true, "communication": { "origin": "198.51.100.7", "date": "2026-11-20" } });
    let case = f.preservation("FR", traffic).await?;
    // Not before it is executed.
    let (status, body) = f
        .try_act(
            "FR",
            &case,
            "notified",
            json!({ "fields": { "note": "letter" } }),
        )
        .await?;
    assert_eq!(status, 409, "{body}");
    f.act(
        "FR",
        &case,
        "decide",
        json!({ "outcome": "executed", "executed_on": "2026-11-23", "preserved_until": "2027-02-21" }),
    )
    .await?;
    let at_fr = f
        .net
        .client("FR")?
        .get("/v1/pending?owed_by=us")
        .await?
        .body;
    let labels: Vec<&str> = at_fr["pending"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["case_ref"] == case.as_str())
        .filter_map(|d| d["label"].as_str())
        .collect();
    assert!(labels.contains(&"tracing_order_end_2026-12-23"), "{at_fr}");
    assert!(labels.contains(&"tracing_notice_due"), "{at_fr}");
    let (status, body) = f
        .try_act(
            "FR",
            &case,
            "notified",
            json!({ "fields": { "note": "letter of 2027-01-10" } }),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    let at_fr = f
        .net
        .client("FR")?
        .get("/v1/pending?owed_by=us")
        .await?
        .body;
    assert!(!at_fr.to_string().contains("tracing_notice_due"), "{at_fr}");
    let audit = f.net.client("FR")?.get_text("/v1/audit").await?.text;
    assert!(
        audit.contains("tracing_notice_given:letter of 2027-01-10"),
        "{audit}"
    );
    // LU's law sets no such rule: nothing of it at LU.
    let at_lu = f.net.client("LU")?.get("/v1/pending").await?.body;
    assert!(!at_lu.to_string().contains("tracing"), "{at_lu}");
    f.net.net.shutdown().await;
    Ok(())
}

/// Each step: who acts, the action, its fields; both sides' whole views are compared after it.
async fn steps(
    f: &mut Flow,
    requester: &str,
    requested: &str,
    case: &str,
    script: &[(&str, &str, Value)],
) -> anyhow::Result<()> {
    for (who, action, fields) in script {
        let at = if *who == "requester" {
            requester
        } else {
            requested
        };
        f.act(at, case, action, fields.clone())
            .await
            .map_err(|e| anyhow::anyhow!("{action} by {who} in {case}: {e}"))?;
        f.agree(requester, requested, case)
            .await
            .map_err(|e| anyhow::anyhow!("after {action} by {who}: {e}"))?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_kind_through_its_answers_leaves_both_sides_with_the_same_case(
) -> anyhow::Result<()> {
    let mut f = Flow::embedded().await?;
    let ack = json!({ "officer": "permanence" });
    let executed = json!({ "outcome": "executed", "executed_on": "2026-11-23", "preserved_until": "2027-02-21" });
    // A preservation of traffic data at FR: every answer a preservation takes.
    let traffic = json!({ "includes_traffic_data": true, "communication": { "origin": "198.51.100.7", "date": "2026-11-20" } });
    let p = f.preservation("FR", traffic).await?;
    f.agree("LU", "FR", &p).await?;
    steps(&mut f, "LU", "FR", &p, &[
        ("requested", "ack", ack.clone()),
        ("requested", "ask", json!({ "questions": "which period?" })),
        ("requester", "answer", json!({ "answers": "since 2026-10-01" })),
        ("requester", "status-request", json!({ "question": "where does it stand?" })),
        ("requested", "status-report", json!({ "status": "order requested" })),
        ("requested", "delay", json!({ "reason": "the magistrate is away", "expected_by": "2026-11-25" })),
        ("requested", "preservation-insufficient", json!({ "explanation": "only 3 days of logs remain" })),
        ("requester", "proceed", json!({ "note": "preserve what remains" })),
        ("requested", "decide", executed.clone()),
        ("requested", "disclose-traffic", json!({ "service_provider": "Example Telecom SA", "provider_state": "BE", "path": "FR → BE", "communications": [{ "origin": "198.51.100.7" }] })),
        ("requester", "confirm", json!({ "reference": "MLA-LU-1", "channel": "central_authority", "sent_on": "2026-11-24" })),
        ("requester", "extend", json!({ "until": "2027-05-21", "reason": "the request is being translated" })),
        ("requested", "extend", json!({ "until": "2027-05-21", "reason": "order renewed" })),
        ("requester", "release", json!({ "reason": "no longer needed" })),
    ]).await?;
    // A mutual-assistance request at CO: conditions, confidentiality, use and results.
    let mla = mla_fields(json!({ "confidential": true }));
    let m = case_of(
        &f.request("LU", "CO", "mutual_assistance", "urgent", "en", mla)
            .await?,
    );
    steps(&mut f, "LU", "CO", &m, &[
        ("requested", "ack", ack.clone()),
        ("requested", "confidentiality-reply", json!({ "can_comply": false, "explanation": "our courts may order disclosure" })),
        ("requester", "proceed", json!({ "note": "go on" })),
        ("requested", "conditions", json!({ "confidential": true, "text": "use only for this investigation" })),
        ("requester", "conditions-reply", json!({ "accepted": true })),
        ("requested", "decide", json!({ "outcome": "executed", "executed_on": "2026-11-23" })),
        ("requested", "results", json!({ "summary": "mailbox contents", "communications": [{ "date": "2026-11-20", "place": "Bogotá" }] })),
        ("requested", "use-explanation-request", json!({ "text": "how were they used?" })),
        ("requester", "use-explanation", json!({ "text": "in the indictment" })),
        ("requester", "use-consent-request", json!({ "purpose": "a related fraud case" })),
        ("requested", "use-consent", json!({ "granted": true })),
        ("requested", "disclosure-notice", json!({ "text": "exculpatory element disclosed", "prior": true })),
    ]).await?;
    // An emergency production and a question for advice, to their decisions; a withdrawal.
    let ep = json!({ "requesting_authority": "Parquet", "requested_on": "2026-11-23", "convention_statement": true, "service_providers": [{ "name": "ExampleCloud", "address": "Bogotá" }], "offences": "kidnapping", "legal_provisions": "art. 442-1", "emergency_facts": "a child is held", "data_description": "login IP addresses" });
    let e = case_of(
        &f.request("LU", "CO", "emergency_production", "emergency", "en", ep)
            .await?,
    );
    steps(
        &mut f,
        "LU",
        "CO",
        &e,
        &[
            ("requested", "ack", ack.clone()),
            (
                "requested",
                "decide",
                json!({ "outcome": "executed", "executed_on": "2026-11-23" }),
            ),
            (
                "requested",
                "results",
                json!({ "summary": "IP addresses", "preliminary": true }),
            ),
            (
                "requester",
                "confirm",
                json!({ "reference": "EP-1", "channel": "email", "sent_on": "2026-11-24" }),
            ),
        ],
    )
    .await?;
    let assist = json!({ "requesting_authority": "Police", "assistance_type": "technical_advice", "question": "how does it encrypt?", "offence": "extortion" });
    let a = case_of(
        &f.request("LU", "FR", "assistance", "routine", "fr", assist)
            .await?,
    );
    steps(
        &mut f,
        "LU",
        "FR",
        &a,
        &[
            ("requested", "ack", ack.clone()),
            ("requested", "results", json!({ "summary": "AES-256" })),
            (
                "requested",
                "decide",
                json!({ "outcome": "executed", "executed_on": "2026-11-23" }),
            ),
        ],
    )
    .await?;
    let w = f.preservation("FR", json!({})).await?;
    steps(
        &mut f,
        "LU",
        "FR",
        &w,
        &[(
            "requester",
            "withdraw",
            json!({ "reason": "no longer needed" }),
        )],
    )
    .await?;
    // Spontaneous information, and an offer with its conditions, then the information.
    let info = json!({ "information": "C2 at 198.51.100.4", "relevance": "botnet" });
    let s = case_of(
        &f.request(
            "LU",
            "FR",
            "spontaneous_information",
            "urgent",
            "fr",
            info.clone(),
        )
        .await?,
    );
    steps(
        &mut f,
        "LU",
        "FR",
        &s,
        &[
            ("requested", "ack", ack.clone()),
            (
                "requested",
                "disclosure-notice",
                json!({ "text": "disclosed to the defence", "prior": true }),
            ),
        ],
    )
    .await?;
    let offer = json!({ "conditions": "confidential", "relevance": "botnet" });
    let o = case_of(
        &f.request("LU", "FR", "information_offer", "urgent", "fr", offer)
            .await?,
    );
    steps(
        &mut f,
        "LU",
        "FR",
        &o,
        &[
            ("requested", "conditions-reply", json!({ "accepted": true })),
            ("requester", "send-information", info),
        ],
    )
    .await?;
    f.net.net.shutdown().await;
    Ok(())
}
