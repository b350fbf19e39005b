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
