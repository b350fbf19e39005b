//! The event stream of the control API (`GET /v1/events`, server-sent events).

use poc247_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_shows_queued_then_delivered_with_ids_only() -> anyhow::Result<()> {
    let net = Net::embedded().await?;
    let mut stream = net.client("LU")?.events().await?;
    let done = net.submit("LU", &preservation_request("FR")).await?;
    let id = done["message_id"].as_str().unwrap().to_owned();
    let mut seen = Vec::new();
    let found = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Some(ev) = stream.next().await {
            let ev = ev?;
            if ev["message_id"] == id.as_str() {
                seen.push(ev["type"].as_str().unwrap_or_default().to_owned());
                if ev["type"] == "delivered" {
                    assert!(ev["receiver_key"].as_str().is_some_and(|k| k.len() == 23));
                    assert!(ev["seq"].as_u64().is_some());
                    // Events carry ids and kinds, never the request's text.
                    assert!(!ev.to_string().contains(&preservation().facts));
                    return Ok::<_, anyhow::Error>(());
                }
            }
        }
        anyhow::bail!("stream ended")
    })
    .await;
    found??;
    assert_eq!(seen, ["queued", "delivered"]);
    net.net.shutdown().await;
    Ok(())
}

/// The sequence number, type and message id of an event's JSON.
fn key(ev: &serde_json::Value) -> (u64, String, String) {
    (
        ev["seq"].as_u64().unwrap_or_default(),
        ev["type"].as_str().unwrap_or_default().to_owned(),
        ev["message_id"].as_str().unwrap_or_default().to_owned(),
    )
}

fn key_of(ev: &poc247_node::events::NodeEvent) -> (u64, String, String) {
    (
        ev.seq,
        ev.kind.name(),
        ev.message_id.map(|m| m.to_string()).unwrap_or_default(),
    )
}

fn message_id(done: &serde_json::Value) -> String {
    done["message_id"].as_str().unwrap_or_default().to_owned()
}

/// Reads the node's broadcast until every message of `ids` is delivered; returns every event
/// read with a number above `after`.
async fn until_delivered(
    rx: &mut tokio::sync::broadcast::Receiver<poc247_node::events::NodeEvent>,
    after: u64,
    ids: &[&str],
) -> anyhow::Result<Vec<(u64, String, String)>> {
    let mut left: std::collections::HashSet<String> = ids.iter().map(|s| s.to_string()).collect();
    let mut seen = Vec::new();
    while !left.is_empty() {
        let ev = wait_for(rx, 10, |_| true).await?;
        let k = key_of(&ev);
        if k.1 == "delivered" {
            left.remove(&k.2);
        }
        if k.0 > after {
            seen.push(k);
        }
    }
    Ok(seen)
}

/// Reads an SSE stream until message `id` is delivered; returns every event read.
async fn stream_until_delivered(
    stream: &mut poc247_api::client::EventStream,
    id: &str,
) -> anyhow::Result<Vec<(u64, String, String)>> {
    let mut seen = Vec::new();
    loop {
        let k = key(&next_event(stream, 10).await?);
        let done = k.1 == "delivered" && k.2 == id;
        seen.push(k);
        if done {
            return Ok(seen);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_resuming_from_last_event_id_gets_exactly_the_missed_events_then_live_ones(
) -> anyhow::Result<()> {
    let net = Net::embedded().await?;
    let mut rx = net.events("LU")?;
    let client = net.client("LU")?;
    let mut stream = client.events().await?;
    let a = message_id(&net.submit("LU", &preservation_request("FR")).await?);
    let first = stream_until_delivered(&mut stream, &a).await?;
    let last = first.last().map(|k| k.0).unwrap_or_default();
    drop(stream);

    // While no reader is connected.
    let b = message_id(&net.submit("LU", &preservation_request("FR")).await?);
    let c = message_id(&net.submit("LU", &preservation_request("FR")).await?);
    let missed = until_delivered(&mut rx, last, &[&a, &b, &c]).await?;
    assert!(missed.iter().any(|k| k.1 == "queued" && k.2 == b));
    assert!(missed.iter().any(|k| k.1 == "delivered" && k.2 == c));

    let mut stream = client.events_after(last).await?;
    let mut replayed = Vec::new();
    for _ in 0..missed.len() {
        replayed.push(key(&next_event(&mut stream, 10).await?));
    }
    assert_eq!(replayed, missed, "exactly the missed events, in order");

    // Then live, without gap or repeat.
    let d = message_id(&net.submit("LU", &preservation_request("FR")).await?);
    let live = stream_until_delivered(&mut stream, &d).await?;
    let expected = until_delivered(&mut rx, 0, &[&d]).await?;
    assert_eq!(live, expected);
    let seqs: Vec<u64> = replayed.iter().chain(&live).map(|k| k.0).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "no gap, no repeat: {seqs:?}"
    );
    assert_eq!(seqs.first(), Some(&(last + 1)));
    net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_survive_a_restart_and_a_reader_resumes_from_an_old_id() -> anyhow::Result<()> {
    let mut net = Net::embedded().await?;
    let mut rx = net.events("LU")?;
    let a = message_id(&net.submit("LU", &preservation_request("FR")).await?);
    let before = until_delivered(&mut rx, 0, &[&a]).await?;
    let queued = before
        .iter()
        .find(|k| k.1 == "queued" && k.2 == a)
        .map(|k| k.0)
        .unwrap_or_default();
    let old_last = before.last().map(|k| k.0).unwrap_or_default();

    net.net.stop_node(&party("LU")).await;
    net.net.start_node(&party("LU")).await?;

    let mut stream = net.client("LU")?.events_after(queued - 1).await?;
    let replayed = stream_until_delivered(&mut stream, &a).await?;
    let expected: Vec<_> = before.iter().filter(|k| k.0 >= queued).cloned().collect();
    assert_eq!(replayed, expected, "the stored events, as they were");

    let b = message_id(&net.submit("LU", &preservation_request("FR")).await?);
    let after = stream_until_delivered(&mut stream, &b).await?;
    assert!(after.iter().any(|k| k.1 == "queued" && k.2 == b));
    assert!(
        after.iter().all(|k| k.0 > old_last),
        "numbers go on after the restart: {after:?} after {old_last}"
    );
    assert!(after.windows(2).all(|w| w[1].0 > w[0].0));
    net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_resume_point_is_refused() -> anyhow::Result<()> {
    let net = Net::embedded().await?;
    let r = net.client("LU")?.get("/v1/events?after=soon").await?;
    assert_eq!(r.status.as_u16(), 400);
    assert_eq!(r.body["error"]["code"], "bad-request");
    net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_about_a_case_carries_its_kind_and_urgency_so_a_pager_can_single_out_an_emergency(
) -> anyhow::Result<()> {
    let net = Net::embedded().await?;
    let mut fr_stream = net.client("FR")?.events().await?;
    let mut lu_stream = net.client("LU")?.events().await?;
    let mut body = preservation_request("FR");
    body["urgency"] = "emergency".into();
    body["fields"]["emergency_facts"] = "a child is missing; the account is the only lead".into();
    let done = net.submit("LU", &body).await?;
    let id = done["message_id"].as_str().unwrap().to_owned();
    for (stream, wanted) in [(&mut lu_stream, "queued"), (&mut fr_stream, "received")] {
        let ev = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            while let Some(ev) = stream.next().await {
                let ev = ev?;
                if ev["message_id"] == id.as_str() && ev["type"] == wanted {
                    return Ok::<_, anyhow::Error>(ev);
                }
            }
            anyhow::bail!("stream ended")
        })
        .await??;
        assert_eq!(ev["urgency"], "emergency", "{ev}");
        assert_eq!(ev["case_kind"], "preservation", "{ev}");
    }
    // An event about no case carries neither: FR's peer_connected, from its log.
    let mut replay = net.client("FR")?.events_after(0).await?;
    let connected = loop {
        let ev = next_event(&mut replay, 10).await?;
        if ev["type"] == "peer_connected" {
            break ev;
        }
    };
    assert!(connected.get("urgency").is_none(), "{connected}");
    assert!(connected.get("case_kind").is_none(), "{connected}");
    net.net.shutdown().await;
    Ok(())
}
