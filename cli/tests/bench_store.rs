//! `poc247 bench store`: the tool runs end to end on a small store and reports every figure
//! (a test of the tool, not of any time).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

#[tokio::test]
async fn bench_store_fills_a_store_starts_its_node_and_reports_every_figure() {
    let ran = poc247(&[
        "bench",
        "store",
        "--cases",
        "200",
        "--submits",
        "200",
        "--rounds",
        "2",
        "--json",
    ])
    .await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let v = ran.json();
    let f = &v["fill"];
    assert_eq!(f["cases"], 200, "{v}");
    assert_eq!(f["requester_cases"], 100, "{v}");
    assert_eq!(f["requested_cases"], 100, "{v}");
    // Every case: its request; two in three acknowledged, one in three decided.
    assert_eq!(f["messages"], 200 + 133 + 66, "{v}");
    assert_eq!(f["closed"], 32, "{v}");
    assert!(f["audit_entries"].as_u64().unwrap() > 400, "{v}");
    let envelope = f["request_envelope_bytes"].as_u64().unwrap();
    assert!((1024..=2048).contains(&envelope), "{v}");
    assert!(f["disk_mib"].as_f64().unwrap() > 0.0, "{v}");
    assert!(f["close_s"].as_f64().unwrap() > 0.0, "{v}");
    for run in ["empty", "full"] {
        let n = &v[run];
        for key in [
            "ready_ms",
            "board_ms",
            "idle_rss_mib",
            "peak_rss_mib",
            "cpu_s",
            "stop_ms",
        ] {
            assert!(n[key].as_f64().unwrap() > 0.0, "{run}.{key}: {v}");
        }
        assert_eq!(n["submits"]["in_flight"], 64, "{v}");
        assert_eq!(n["submits"]["latency"]["samples"], 200, "{v}");
        assert!(n["submits"]["per_s"].as_f64().unwrap() > 0.0, "{v}");
    }
    assert_eq!(v["empty"]["cases"], 0, "{v}");
    assert_eq!(v["full"]["cases"], 200, "{v}");
    assert!(v["submit_ratio"].as_f64().unwrap() > 0.0, "{v}");
    // Two rounds in turn: the full store, started again, holds the first round's submits too;
    // each empty store is a fresh one. The ratio is of the medians (of two: their means).
    let rounds = v["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 2, "{v}");
    assert_eq!(rounds[0]["full"], v["full"], "{v}");
    assert_eq!(rounds[0]["empty"], v["empty"], "{v}");
    assert_eq!(rounds[1]["full"]["cases"], 400, "{v}");
    assert_eq!(rounds[1]["empty"]["cases"], 0, "{v}");
    let rate = |r: &serde_json::Value, side: &str| r[side]["submits"]["per_s"].as_f64().unwrap();
    for r in rounds {
        assert_eq!(r["full"]["submits"]["latency"]["samples"], 200, "{v}");
        assert_eq!(r["empty"]["submits"]["latency"]["samples"], 200, "{v}");
        let ratio = r["ratio"].as_f64().unwrap();
        assert!(
            (ratio - rate(r, "full") / rate(r, "empty")).abs() < 1e-9,
            "{v}"
        );
    }
    let full = (rate(&rounds[0], "full") + rate(&rounds[1], "full")) / 2.0;
    let empty = (rate(&rounds[0], "empty") + rate(&rounds[1], "empty")) / 2.0;
    assert!(
        (v["full_submits_median_per_s"].as_f64().unwrap() - full).abs() < 1e-6,
        "{v}"
    );
    assert!(
        (v["empty_submits_median_per_s"].as_f64().unwrap() - empty).abs() < 1e-6,
        "{v}"
    );
    assert!(
        (v["submit_ratio"].as_f64().unwrap() - full / empty).abs() < 1e-9,
        "{v}"
    );
    // Every call answered 200, none ran past the cap; the listings list what the store holds.
    let ops = v["operations"].as_array().unwrap();
    let names: Vec<&str> = ops.iter().map(|o| o["name"].as_str().unwrap()).collect();
    for want in [
        "status",
        "cases, first page",
        "inbox (role=requested)",
        "outbox (role=requester)",
        "role=requested&state=delivered",
        "pending, first 200",
        "pending, as the CLI asks (first page)",
        "show one case",
        "metrics",
        "audit verify",
    ] {
        assert!(names.contains(&want), "{want}: {v}");
    }
    for o in ops {
        assert_eq!(o["status"], 200, "{o}");
        assert_eq!(o["timed_out"], false, "{o}");
        assert!(o["first_ms"].as_f64().unwrap() > 0.0, "{o}");
        assert!(o["bytes"].as_u64().unwrap() > 0, "{o}");
    }
    let items = |name: &str| {
        ops.iter().find(|o| o["name"] == name).unwrap()["items"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(items("cases, first page"), 200, "{v}");
    assert_eq!(items("inbox (role=requested)"), 100, "{v}");
    // The cases FR asked of LU that were neither acknowledged nor decided (i odd, i % 3 == 0).
    assert_eq!(items("role=requested&state=delivered"), 33, "{v}");
    assert!(items("pending, first 200") > 0, "{v}");
    // The CLI's pending is a page now, not every deadline.
    assert_eq!(
        items("pending, as the CLI asks (first page)"),
        items("pending, first 200"),
        "{v}"
    );
    assert!(ran.stderr.contains("bench: "), "{ran:?}");

    // The table names the figures.
    let text = poc247(&[
        "bench",
        "store",
        "--cases",
        "20",
        "--submits",
        "64",
        "--rounds",
        "1",
    ])
    .await;
    assert_eq!(text.code, Some(0), "{text:?}");
    for want in [
        "idle RSS",
        "submits, 64 in flight",
        "audit verify",
        "/v1/pending",
        "round 1 of submits in turn",
        "medians over 1 round taken in turn",
    ] {
        assert!(text.stdout.contains(want), "{want}: {text:?}");
    }

    // A folder to keep that holds something is refused before anything runs.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x"), b"x").unwrap();
    let keep = dir.path().to_str().unwrap();
    let refused = poc247(&["bench", "store", "--cases", "5", "--keep", keep]).await;
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(refused.stderr.contains("--keep"), "{refused:?}");

    // No rounds, or more than twenty, is refused by name.
    for bad in ["0", "21", "x"] {
        let refused = poc247(&["bench", "store", "--cases", "5", "--rounds", bad]).await;
        assert_ne!(refused.code, Some(0), "{refused:?}");
        assert!(refused.stderr.contains("--rounds"), "{refused:?}");
    }
}
