//! Content-free statistics (`GET /v1/stats`) on real nodes: counts by kind, role and state,
//! latencies, exercise cases left out (BC 35(3)), JSON and CSV.

use poc247_node::stats::CSV_HEADER;
use poc247_tests::*;
use serde_json::{json, Value};

fn message_id(done: &Value) -> String {
    done["message_id"].as_str().unwrap_or_default().to_owned()
}

/// Sum of the `count` of the `counts` rows of a JSON statistics answer.
fn counted(stats: &Value) -> u64 {
    stats["counts"]
        .as_array()
        .map(|rows| rows.iter().filter_map(|r| r["count"].as_u64()).sum())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_count_real_cases_only_and_name_no_content() -> anyhow::Result<()> {
    let net = Net::embedded().await?;
    let mut at_lu = net.events("LU")?;
    let one = net.submit("LU", &preservation_request("FR")).await?;
    let two = net.submit("LU", &preservation_request("FR")).await?;
    let mut drill = preservation_request("FR");
    drill["exercise"] = json!(true);
    let drill = net.submit("LU", &drill).await?;
    // Deliveries run in parallel: wait for all three, in whatever order.
    let mut left: Vec<String> = [&one, &two, &drill].map(message_id).to_vec();
    while !left.is_empty() {
        let ev = wait_for(&mut at_lu, 10, |e| {
            matches!(e.kind, poc247_node::events::EventKind::Delivered { .. })
        })
        .await?;
        left.retain(|id| Some(id.as_str()) != ev.message_id.map(|m| m.to_string()).as_deref());
    }
    // FR acknowledges the first request.
    let case = one["case_ref"].as_str().unwrap_or_default();
    let r = net
        .client("FR")?
        .post(
            &format!("/v1/cases/{case}/acknowledge"),
            &json!({ "fields": { "officer": "permanence OCLCTIC" } }),
        )
        .await?;
    assert_eq!(r.status.as_u16(), 201, "{}", r.body);
    wait_for(&mut at_lu, 10, |e| {
        e.kind == poc247_node::events::EventKind::Received
            && e.message_id.map(|m| m.to_string()).as_deref() == r.body["message_id"].as_str()
    })
    .await?;

    let lu = net.client("LU")?.get("/v1/stats").await?;
    assert_eq!(lu.status.as_u16(), 200, "{}", lu.body);
    let s = &lu.body;
    assert_eq!(s["cases"], 2, "{s}");
    assert_eq!(s["exercise_cases_left_out"], 1);
    assert_eq!(counted(s), 2);
    let states: Vec<(&str, &str, &str)> = s["counts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["kind"].as_str().unwrap_or_default(),
                r["role"].as_str().unwrap_or_default(),
                r["state"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("preservation", "requester", "acknowledged"),
            ("preservation", "requester", "delivered")
        ]
    );
    let ack = s["latency"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["measure"] == "acknowledgement" && l["urgency"] == "all")
        .cloned()
        .unwrap_or_default();
    assert_eq!(ack["count"], 1);
    assert!(ack["p50_s"].as_f64().is_some_and(|v| v >= 0.0));
    // Content-free: no party, case reference or text.
    let text = s.to_string();
    for needle in [case, "FR", "LU", preservation().facts.as_str()] {
        assert!(!text.contains(needle), "{needle:?} in {text}");
    }

    let fr = net.client("FR")?.get("/v1/stats").await?;
    assert_eq!(fr.body["cases"], 2);
    assert_eq!(fr.body["exercise_cases_left_out"], 1);
    assert!(fr.body["counts"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|r| r["role"] == "requested"));

    // CSV: one header, rows of equal width, the same numbers.
    let csv = net.client("LU")?.get_text("/v1/stats?format=csv").await?;
    assert_eq!(csv.status.as_u16(), 200);
    assert!(
        csv.content_type.starts_with("text/csv"),
        "{}",
        csv.content_type
    );
    let rows: Vec<Vec<&str>> = csv.text.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows[0].join(","), CSV_HEADER);
    assert!(
        rows.iter().all(|r| r.len() == rows[0].len()),
        "{}",
        csv.text
    );
    let cell = |section: &str| -> Vec<u64> {
        rows.iter()
            .filter(|r| r[0] == section)
            .filter_map(|r| r[6].parse().ok())
            .collect()
    };
    assert_eq!(cell("cases").iter().sum::<u64>(), 2);
    assert_eq!(cell("total"), [2]);
    assert_eq!(cell("exercise_left_out"), [1]);
    assert!(rows
        .iter()
        .any(|r| r[0] == "latency_acknowledgement" && r[5] == "all" && r[6] == "1"));

    // Periods.
    let later = net.client("LU")?.get("/v1/stats?since=2999-01-01").await?;
    assert_eq!(later.body["cases"], 0);
    assert_eq!(later.body["exercise_cases_left_out"], 0);
    let earlier = net.client("LU")?.get("/v1/stats?until=2000-01-01").await?;
    assert_eq!(earlier.body["cases"], 0);
    let all = net
        .client("LU")?
        .get("/v1/stats?since=2000-01-01T00:00:00Z&until=2999-12-31")
        .await?;
    assert_eq!(all.body["cases"], 2);
    for bad in [
        "/v1/stats?since=yesterday",
        "/v1/stats?until=soon",
        "/v1/stats?format=xml",
        "/v1/stats?peer=FR",
    ] {
        let r = net.client("LU")?.get(bad).await?;
        assert_eq!(r.status.as_u16(), 400, "{bad}: {}", r.body);
        assert_eq!(r.body["error"]["code"], "bad-request");
    }
    net.net.shutdown().await;
    Ok(())
}
