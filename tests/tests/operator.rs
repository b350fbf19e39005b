//! The operator's surface against real nodes: the directory reloaded without downtime,
//! certificate expiry warned and a renewal picked up, and `GET /metrics`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use poc247_node::events::EventKind;
use poc247_tests::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A preservation request in English (CO accepts es and en only).
fn request_en(to: &str) -> Value {
    let mut r = preservation_request(to);
    r["language"] = json!("en");
    r
}

fn peer<'a>(peers: &'a Value, p: &str) -> &'a Value {
    peers["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["party"] == p)
        .unwrap_or_else(|| panic!("{p} not in {peers}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_party_on_reload_fails_its_queued_message_and_closes_its_connection(
) -> anyhow::Result<()> {
    let mut net = Net::fresh_prepared(&["LU", "FR", "CO"])?;
    net.net.start_node(&party("LU")).await?;
    net.net.start_node(&party("FR")).await?;
    let lu = net.client("LU")?;
    let mut ev = net.events("LU")?;
    let to_fr = net.submit("LU", &preservation_request("FR")).await?;
    wait_delivered(&mut ev, to_fr["message_id"].as_str().unwrap(), 10).await?;
    // CO never started: its request waits in the outbox.
    let to_co = net.submit("LU", &request_en("CO")).await?;
    let co_case = to_co["case_ref"].as_str().unwrap().to_owned();
    let co_id = to_co["message_id"].as_str().unwrap().to_owned();

    let peers = lu.get("/v1/peers").await?.body;
    let fr = peer(&peers, "FR");
    assert_eq!(fr["connected"], true, "{peers}");
    assert!(fr["last_seen"].is_string(), "{peers}");
    assert_eq!(fr["queue_depth"], 0);
    assert!(fr["certificate"]["days_left"].as_i64().unwrap() > 7000);
    assert_eq!(fr["certificate"]["warning"], false);
    let co = peer(&peers, "CO");
    assert_eq!(co["connected"], false);
    assert_eq!(co["last_seen"], Value::Null);
    assert_eq!(co["queue_depth"], 1);
    assert!(co["oldest_undelivered"].is_string(), "{peers}");
    assert_eq!(peers["directory"]["parties"], 3);

    // FR and CO leave the directory: a version that lists LU alone, applied at LU.
    let only_lu: Vec<_> = signed_entries(&net, |_| {})?
        .into_iter()
        .filter(|e| e.entry.id == "LU")
        .collect();
    let next = poc247_node::peers::registry::publish(
        &net.registry()?,
        only_lu,
        Some(&net.version_in_force("LU")?),
        now(),
        30,
    )?;
    let r = lu.post("/v1/directory", &version_json(&next)?).await?;
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    assert_eq!(r.body["removed"], json!(["CO", "FR"]), "{}", r.body);
    assert_eq!(r.body["parties"], 1);
    assert!(
        r.body["connections_closed"].as_u64().unwrap() >= 1,
        "{}",
        r.body
    );
    let failed = r.body["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{}", r.body);
    assert_eq!(failed[0]["case_ref"], co_case.as_str());
    assert_eq!(failed[0]["peer"], "CO");

    let gone = wait_for(&mut ev, 5, |e| {
        matches!(e.kind, EventKind::DeliveryFailed { .. })
            && e.message_id.map(|m| m.to_string()) == Some(co_id.clone())
    })
    .await?;
    let EventKind::DeliveryFailed { reason } = gone.kind else {
        unreachable!()
    };
    assert!(
        reason.contains("CO was removed from the directory"),
        "{reason}"
    );
    let case = net.case("LU", &co_case).await?;
    assert_eq!(case["state"], "failed", "{case}");
    assert!(case["failure_reason"]
        .as_str()
        .unwrap()
        .contains("removed from the directory"));
    let node = net.net.node(&party("LU")).unwrap();
    assert!(node.store().outbox()?.is_empty(), "nothing left to deliver");
    assert!(
        !node.connections().connected().contains(&party("FR")),
        "FR's connection is closed"
    );
    assert_eq!(lu.get("/v1/peers").await?.body["peers"], json!([]));
    let audit = lu.get("/v1/audit").await?.body.to_string();
    assert!(audit.contains("directory_reloaded:+ -CO,FR ~"), "{audit}");
    // The removed party can no longer be written to.
    let r = lu.post("/v1/requests", &request_en("CO")).await?;
    assert_eq!(r.status.as_u16(), 422, "{}", r.body);
    net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_directory_version_is_refused_naming_what_is_wrong_and_the_old_one_stays_in_force(
) -> anyhow::Result<()> {
    let net = Net::embedded().await?;
    let lu = net.client("LU")?;
    let refused = |r: &poc247_api::client::ApiResponse, what: &str| {
        assert_eq!(r.status.as_u16(), 422, "{}", r.body);
        assert_eq!(r.body["error"]["code"], "version-refused", "{}", r.body);
        let message = r.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(what), "{what}: {message}");
        assert!(message.contains("unchanged"), "{message}");
    };

    // An entry refused (as its Party signed it): its party and field are named.
    let bad_entry = net.next_version("LU", |e| {
        if e.id == "FR" {
            e.signing_key = "not base64!".into();
        }
    })?;
    let r = lu.post("/v1/directory", &version_json(&bad_entry)?).await?;
    refused(&r, "FR");
    refused(&r, "signing_key");

    // A version without this node is refused too.
    let without_lu: Vec<_> = signed_entries(&net, |_| {})?
        .into_iter()
        .filter(|e| e.entry.id != "LU")
        .collect();
    let previous = net.version_in_force("LU")?;
    let next = poc247_node::peers::registry::publish(
        &net.registry()?,
        without_lu,
        Some(&previous),
        now(),
        30,
    )?;
    let r = lu.post("/v1/directory", &version_json(&next)?).await?;
    refused(&r, "this node's party LU is not in the directory");

    // The old directory is still in force: a request to FR is delivered.
    let mut ev = net.events("LU")?;
    let done = net.submit("LU", &preservation_request("FR")).await?;
    wait_delivered(&mut ev, done["message_id"].as_str().unwrap(), 10).await?;
    assert_eq!(
        lu.get("/v1/peers").await?.body["directory"]["parties"],
        3,
        "the three parties of the old directory"
    );
    assert_eq!(
        net.version_in_force("LU")?.version.serial,
        previous.version.serial
    );
    // And a good version is taken.
    let good = net.next_version("LU", |_| {})?;
    let r = lu.post("/v1/directory", &version_json(&good)?).await?;
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    assert_eq!(r.body["removed"], json!([]));
    assert_eq!(r.body["failed"], json!([]));
    net.net.shutdown().await;
    Ok(())
}

fn certificate<'a>(status: &'a Value, p: &str) -> Option<&'a Value> {
    status["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["party"] == p)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_expiring_within_30_days_is_warned_and_its_renewal_is_picked_up_on_reload(
) -> anyhow::Result<()> {
    let mut net = Net::fresh_prepared(&["LU", "FR", "CO"])?;
    let dir = net.net.dir().to_path_buf();
    poc247_devnet::devnet::reissue_certificate(&dir, &party("FR"), 10)?;
    net.net.start_node(&party("LU")).await?;
    // From before FR starts: LU warns when FR first connects.
    let mut lu_warnings = net.events("LU")?;
    net.net.start_node(&party("FR")).await?;
    let (lu, fr) = (net.client("LU")?, net.client("FR")?);

    // FR warns of its own certificate.
    let status = fr.get("/v1/status").await?.body;
    let own = certificate(&status, "FR").unwrap();
    assert_eq!(own["warning"], true, "{status}");
    assert!(
        (9..=10).contains(&own["days_left"].as_i64().unwrap()),
        "{own}"
    );
    let mut fr_events = net.events("FR")?;
    let r = fr.post("/v1/peers/reload", &json!({})).await?;
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    assert_eq!(r.body["certificate"]["warning"], true);
    let warned = wait_for(&mut fr_events, 5, |e| {
        matches!(&e.kind, EventKind::CertificateExpiring { party: p, .. } if p.as_str() == "FR")
    })
    .await?;
    let EventKind::CertificateExpiring { days, .. } = warned.kind else {
        unreachable!()
    };
    assert!((9..=10).contains(&days), "{days}");

    // LU sees FR's certificate when it connects, and warns of it.
    let mut lu_events = net.events("LU")?;
    let done = net.submit("LU", &preservation_request("FR")).await?;
    wait_delivered(&mut lu_events, done["message_id"].as_str().unwrap(), 10).await?;
    let status = lu.get("/v1/status").await?.body;
    assert_eq!(
        certificate(&status, "FR").unwrap()["warning"],
        true,
        "{status}"
    );
    assert_eq!(certificate(&status, "LU").unwrap()["warning"], false);
    wait_for(&mut lu_warnings, 5, |e| {
        matches!(&e.kind, EventKind::CertificateExpiring { party: p, .. } if p.as_str() == "FR")
            && e.peer == Some(party("FR"))
    })
    .await?;

    // FR queues a request for CO, which is down; then its certificate is renewed.
    let waiting = net.submit("FR", &request_en("CO")).await?;
    poc247_devnet::devnet::reissue_certificate(&dir, &party("FR"), 400)?;
    let r = fr.post("/v1/peers/reload", &json!({})).await?;
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    assert_eq!(r.body["certificate"]["warning"], false, "{}", r.body);
    assert!(r.body["certificate"]["days_left"].as_i64().unwrap() >= 399);
    let status = fr.get("/v1/status").await?.body;
    assert_eq!(certificate(&status, "FR").unwrap()["warning"], false);
    assert_eq!(status["outbox_queued"], 1, "the queued message is kept");

    // A new connection presents the renewed certificate.
    net.net
        .node(&party("LU"))
        .unwrap()
        .connections()
        .close_peer(&party("FR"), b"test", std::time::Duration::from_secs(1))
        .await;
    let again = net.submit("LU", &preservation_request("FR")).await?;
    wait_delivered(&mut lu_events, again["message_id"].as_str().unwrap(), 10).await?;
    let status = lu.get("/v1/status").await?.body;
    let seen = certificate(&status, "FR").unwrap();
    assert_eq!(seen["warning"], false, "{status}");
    assert!(seen["days_left"].as_i64().unwrap() >= 399, "{seen}");

    // CO comes up: FR's queued request is delivered. (An attempt begun before the reload may
    // still complete its handshake with the old certificate, which is valid too.)
    net.net.start_node(&party("CO")).await?;
    let mut fr_events = net.events("FR")?;
    net.submit("CO", &request_en("FR")).await?;
    wait_delivered(&mut fr_events, waiting["message_id"].as_str().unwrap(), 20).await?;
    assert_eq!(fr.get("/v1/status").await?.body["outbox_queued"], 0);
    net.net.shutdown().await;
    Ok(())
}

/// Parses the Prometheus text format: every line a comment (`# HELP`, `# TYPE`) or
/// `name{label="value",…} number`. Returns `name{labels}` → value.
fn parse_prometheus(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            assert!(
                rest.starts_with("HELP poc247_") || rest.starts_with("TYPE poc247_"),
                "{line}"
            );
            if let Some(t) = rest.strip_prefix("TYPE ") {
                let kind = t.split(' ').nth(1).unwrap();
                assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{line}"
        );
        if name_end < series.len() {
            let labels = &series[name_end..];
            assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
            for pair in labels[1..labels.len() - 1].split(',') {
                let (k, v) = pair.split_once('=').unwrap_or_else(|| panic!("{line}"));
                assert!(
                    k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{line}"
                );
                assert!(
                    v.starts_with('"') && v.ends_with('"') && v.len() >= 2,
                    "{line}"
                );
            }
        }
        let v: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
        out.insert(series.to_owned(), v);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_as_prometheus_text_and_count_a_delivered_request() -> anyhow::Result<()> {
    let net = Net::embedded().await?;
    let mut ev = net.events("LU")?;
    let done = net.submit("LU", &preservation_request("FR")).await?;
    wait_delivered(&mut ev, done["message_id"].as_str().unwrap(), 10).await?;
    // The counters follow the events on their own task: wait until it counted.
    let lu = net.client("LU")?;
    let mut m = BTreeMap::new();
    for _ in 0..50 {
        let r = lu.get_text("/metrics").await?;
        let (status, text) = (r.status, r.text);
        assert_eq!(status.as_u16(), 200);
        m = parse_prometheus(&text);
        // Both peers connected: each node offered its directory version to every peer at start.
        if m.get("poc247_delivery_latency_seconds_count") == Some(&1.0)
            && m.get("poc247_peers_connected") == Some(&2.0)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let get = |k: &str| {
        m.get(k)
            .copied()
            .unwrap_or_else(|| panic!("no {k} in {m:?}"))
    };
    assert_eq!(
        get("poc247_messages_out_total{kind=\"preservation\",result=\"queued\"}"),
        1.0
    );
    assert_eq!(
        get("poc247_messages_out_total{kind=\"preservation\",result=\"delivered\"}"),
        1.0
    );
    assert_eq!(get("poc247_delivery_latency_seconds_count"), 1.0);
    assert_eq!(
        get("poc247_delivery_latency_seconds_bucket{le=\"+Inf\"}"),
        1.0
    );
    assert!(get("poc247_delivery_latency_seconds_sum") < 10.0);
    assert_eq!(get("poc247_queue_depth{peer=\"FR\"}"), 0.0);
    assert_eq!(get("poc247_queue_depth{peer=\"CO\"}"), 0.0);
    assert_eq!(get("poc247_peers_connected"), 2.0);
    assert_eq!(get("poc247_peer_connected{peer=\"FR\"}"), 1.0);
    assert_eq!(get("poc247_peer_connected{peer=\"CO\"}"), 1.0);
    // The request is FR's to acknowledge: not overdue yet at LU.
    assert_eq!(get("poc247_overdue{track=\"acknowledgement\"}"), 0.0);
    assert!(get("poc247_certificate_days_left{party=\"LU\",own=\"true\"}") > 30.0);

    // FR counted it in.
    let fr = net.client("FR")?;
    let mut received = 0.0;
    for _ in 0..50 {
        let m = parse_prometheus(&fr.get_text("/metrics").await?.text);
        received = m
            .get("poc247_messages_in_total{kind=\"preservation\",result=\"received\"}")
            .copied()
            .unwrap_or(0.0);
        if received == 1.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(received, 1.0);

    // The status summarises the same figures.
    let status = lu.get("/v1/status").await?.body;
    let s = &status["metrics"];
    assert_eq!(s["messages_out"]["delivered"], 1, "{status}");
    assert_eq!(s["delivery_latency"]["count"], 1);
    assert_eq!(s["peers_connected"], 2);
    assert_eq!(s["overdue"]["acknowledgement"], 0);
    net.net.shutdown().await;
    Ok(())
}

/// `GET` `path` over plain HTTP/1.1 at `addr`: the status line and the body.
async fn http_get(addr: std::net::SocketAddr, path: &str) -> anyhow::Result<(String, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: prometheus\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut out = String::new();
    s.read_to_string(&mut out).await?;
    let status = out.lines().next().unwrap_or_default().to_owned();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    Ok((status, body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_over_tcp_for_prometheus_and_nothing_else_is() -> anyhow::Result<()> {
    let mut net = Net::fresh_prepared(&["LU", "FR"])?;
    let free = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    for p in ["LU", "FR"] {
        let mut cfg = net.config(p)?;
        if p == "LU" {
            cfg.metrics_listen = Some(free);
        }
        net.net.start_node_with(&party(p), cfg).await?;
    }
    let mut rx = net.events("LU")?;
    let done = net.submit("LU", &preservation_request("FR")).await?;
    wait_delivered(&mut rx, done["message_id"].as_str().unwrap(), 10).await?;
    // The same series as on the control socket. The node counts events on a task of its own,
    // so a series may appear between the two reads: read both again until they agree.
    let series = |text: &str| -> std::collections::BTreeSet<String> {
        text.lines()
            .filter(|l| l.starts_with("poc247_"))
            .map(|l| l.rsplit_once(' ').map_or(l, |(name, _)| name).to_owned())
            .collect()
    };
    let mut tries = 0;
    loop {
        let (status, body) = http_get(free, "/metrics").await?;
        assert!(status.contains("200"), "{status}");
        assert!(body.contains("poc247_messages_out_total"), "{body}");
        let (tcp, socket) = (series(&body), series(&lu_metrics(&net).await?));
        if tcp == socket {
            break;
        }
        tries += 1;
        assert!(
            tries < 20,
            "the same metrics as on the control socket: {:?}",
            tcp.symmetric_difference(&socket).collect::<Vec<_>>()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Nothing else of the API is reachable there.
    let (status, _) = http_get(free, "/v1/status").await?;
    assert!(status.contains("404"), "{status}");
    let (status, _) = http_get(free, "/v1/cases").await?;
    assert!(status.contains("404"), "{status}");
    net.net.shutdown().await;
    Ok(())
}

async fn lu_metrics(net: &Net) -> anyhow::Result<String> {
    Ok(net.client("LU")?.get_text("/metrics").await?.text)
}
