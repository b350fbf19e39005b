//! A drill (BC 35(3)): two drill nodes rehearse a 60-day preservation in seconds on real
//! nodes, by moving their clocks forward together; a real node's clock never moves.

use poc247_node::events::EventKind;
use poc247_protocol::Date;
use poc247_tests::flow::*;
use poc247_tests::*;
use serde_json::json;

/// LU and FR as drill nodes.
async fn drill_network() -> anyhow::Result<Flow> {
    let mut net = Net::fresh_prepared(&["LU", "FR"])?;
    for p in ["LU", "FR"] {
        let mut cfg = net.config(p)?;
        cfg.drill.enabled = true;
        net.net.start_node_with(&party(p), cfg).await?;
    }
    Flow::with(net)
}

async fn advance(f: &Flow, at: &str, days: u64) -> anyhow::Result<(u16, serde_json::Value)> {
    let r = f
        .net
        .client(at)?
        .post("/v1/drill/advance", &json!({ "days": days }))
        .await?;
    Ok((r.status.as_u16(), r.body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_rehearses_a_60_day_preservation_in_seconds_and_a_real_node_clock_never_moves(
) -> anyhow::Result<()> {
    let mut f = drill_network().await?;
    // A drill node sends exercise traffic only.
    let real = preservation_request("FR");
    let r = f.net.client("LU")?.post("/v1/requests", &real).await?;
    assert_eq!(r.status.as_u16(), 422, "{}", r.body);
    assert!(error_field(&r.body, "exercise").is_object(), "{}", r.body);
    let mut exercise = real;
    exercise["exercise"] = json!(true);
    let done = f.net.submit("LU", &exercise).await?;
    f.received("FR", done["message_id"].as_str().unwrap())
        .await?;
    let case = case_of(&done);
    let today = Date::from_utc_ms(now().0);
    let until = today.plus_days(60);
    f.act(
        "FR",
        &case,
        "decide",
        json!({ "outcome": "executed", "executed_on": today.to_string(), "preserved_until": until.to_string() }),
    )
    .await?;
    f.agree("LU", "FR", &case).await?;
    // 47 days later, on both nodes: the 14-day reminder comes due at LU now.
    for p in ["LU", "FR"] {
        let (status, body) = advance(&f, p, 47).await?;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["clock_offset_ms"], 47 * 86_400_000u64, "{body}");
    }
    let events = f.events.get_mut("LU").unwrap();
    let due = wait_for(events, 10, |e| {
        matches!(&e.kind, EventKind::Deadline { label, .. } if label.starts_with("preservation_reminder_14d"))
    })
    .await?;
    assert_eq!(due.case_ref.map(|c| c.to_string()), Some(case.clone()));
    // The two nodes still talk: FR renews its order, LU has it.
    let renewed = until.plus_days(30).to_string();
    f.act(
        "FR",
        &case,
        "extend",
        json!({ "until": renewed, "reason": "order renewed" }),
    )
    .await?;
    assert_eq!(
        f.agree("LU", "FR", &case).await?["preserved_until"],
        renewed
    );
    // The move is audited and survives a restart.
    let export = f.net.client("LU")?.get_text("/v1/audit").await?;
    assert!(
        export.text.contains("drill_clock_advanced"),
        "{}",
        export.text
    );
    let mut cfg = f.net.config("LU")?;
    f.net.net.stop_node(&party("LU")).await;
    // Not as a real node: the store's dates run ahead of the world's.
    let refused = f.net.net.start_node_with(&party("LU"), cfg.clone()).await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().contains("drill")),
        "{:?}",
        refused.err()
    );
    cfg.drill.enabled = true;
    f.net.net.start_node_with(&party("LU"), cfg).await?;
    let status = f.net.client("LU")?.get("/v1/status").await?;
    assert_eq!(
        status.body["drill"]["clock_offset_ms"],
        47 * 86_400_000u64,
        "{}",
        status.body
    );
    // Bad moves are named; nothing moves.
    for bad in [json!({}), json!({ "days": -1 }), json!({ "weeks": 2 })] {
        let r = f.net.client("LU")?.post("/v1/drill/advance", &bad).await?;
        assert_eq!(r.status.as_u16(), 400, "{bad}: {}", r.body);
        assert!(
            r.body["error"]["fields"][0]["field"].is_string(),
            "{}",
            r.body
        );
    }
    f.net.net.shutdown().await;

    // A real node refuses, and its clock stays.
    let f = Flow::embedded().await?;
    let (status, body) = advance(&f, "LU", 1).await?;
    assert_eq!(status, 409, "{body}");
    let status = f.net.client("LU")?.get("/v1/status").await?;
    assert!(status.body["drill"].is_null(), "{}", status.body);
    f.net.net.shutdown().await;
    Ok(())
}
