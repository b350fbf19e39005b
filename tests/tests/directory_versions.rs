//! Signed directory versions on real nodes: each Party signs its own entry, the registry signs
//! numbered versions, and a node takes one only if the pinned registry key signed it, it is
//! newer than and chained to the one in force, and every entry is as its Party signed it.

use poc247_node::events::EventKind;
use poc247_node::peers::directory::{Directory, LoadDirectory};
use poc247_node::peers::registry::{self, SignedEntry};
use poc247_protocol::{SigningKey, UtcMs};
use poc247_tests::*;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_takes_a_version_only_signed_newer_chained_and_as_each_party_signed_it(
) -> anyhow::Result<()> {
    // Every node holds the development network's version 1, signed by its registry.
    let net = registry_net(&["LU", "FR"]).await?;
    let registry = net.registry()?;
    let v0 = net.version_in_force("LU")?;
    let lu = net.client("LU")?;
    let now = UtcMs(now().0);
    let v1 = registry::publish(&registry, signed_entries(&net, |_| {})?, Some(&v0), now, 30)?;
    let r = lu.post("/v1/directory", &version_json(&v1)?).await?;
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    assert_eq!(r.body["serial"], 2);
    // FR takes it from LU over their connection.
    wait_serials(&net, &["FR"], 2).await?;
    let again = net
        .client("FR")?
        .post("/v1/directory", &version_json(&v1)?)
        .await?;
    assert_eq!(
        again.status.as_u16(),
        422,
        "already in force: {}",
        again.body
    );
    // FR changes a declaration, signs its entry, the registry publishes: LU takes it.
    let v2 = registry::publish(
        &registry,
        signed_entries(&net, |e| {
            if e.id == "FR" {
                e.languages = vec!["fr".into(), "en".into(), "de".into()];
            }
        })?,
        Some(&v1),
        now,
        30,
    )?;
    let r = lu.post("/v1/directory", &version_json(&v2)?).await?;
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    let body = json!({ "kind": "preservation", "to": "FR", "urgency": "urgent", "language": "de", "fields": preservation_fields_json() });
    assert_eq!(
        lu.post("/v1/requests", &body).await?.status.as_u16(),
        201,
        "FR now lists German"
    );

    let mut events = net.events("LU")?;
    let refused = |r: &poc247_api::client::ApiResponse, why: &str| {
        assert_eq!(r.status.as_u16(), 422, "{why}: {}", r.body);
        assert_eq!(
            r.body["error"]["code"], "version-refused",
            "{why}: {}",
            r.body
        );
    };
    // Signed by another key.
    let forged = registry::publish(
        &SigningKey::from_bytes(&[8; 32]),
        v2.version.entries.clone(),
        Some(&v2),
        now,
        30,
    )?;
    refused(
        &lu.post("/v1/directory", &version_json(&forged)?).await?,
        "another key",
    );
    // Not newer.
    refused(
        &lu.post("/v1/directory", &version_json(&v1)?).await?,
        "older",
    );
    // The registry altered LU's entry: LU's signature no longer holds.
    let mut altered = v2.version.entries.clone();
    for e in altered.iter_mut().filter(|e| e.entry.id == "LU") {
        e.entry.preservation_min_days = 30;
    }
    let altered = registry::publish(&registry, altered, Some(&v2), now, 30)?;
    let r = lu.post("/v1/directory", &version_json(&altered)?).await?;
    refused(&r, "altered");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("not as LU signed it"),
        "{}",
        r.body
    );
    // Malformed.
    refused(
        &lu.post("/v1/directory", &json!({ "serial": 3 })).await?,
        "malformed",
    );
    let e = wait_for(&mut events, 5, |e| {
        matches!(e.kind, EventKind::DirectoryRefused { .. })
    })
    .await?;
    assert!(
        matches!(e.kind, EventKind::DirectoryRefused { serial: 4, .. }),
        "{e:?}"
    );
    // The version in force is still v2, and the next chained one is taken.
    let v3 = registry::publish(&registry, v2.version.entries.clone(), Some(&v2), now, 30)?;
    let r = lu.post("/v1/directory", &version_json(&v3)?).await?;
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    assert_eq!(r.body["serial"], 4);
    // /metrics says which version is in force, and that its next update is not overdue.
    let metrics = net.client("LU")?.get_text("/metrics").await?.text;
    assert!(metrics.contains("poc247_directory_serial 4"), "{metrics}");
    assert!(
        metrics.contains("poc247_directory_next_update_passed 0"),
        "{metrics}"
    );
    net.net.shutdown().await;

    // A node of another network (another registry key pinned) takes none of this one's.
    let net = Net::embedded().await?;
    let r = net
        .client("LU")?
        .post("/v1/directory", &version_json(&v1)?)
        .await?;
    assert_eq!(r.status.as_u16(), 422, "{}", r.body);
    assert!(
        r.body
            .to_string()
            .contains("not signed by the registry key pinned here"),
        "{}",
        r.body
    );
    net.net.shutdown().await;
    Ok(())
}

fn preservation_fields_json() -> Value {
    serde_json::to_value(preservation()).unwrap_or(Value::Null)
}

/// The serial each of `parties` holds, as its status says (0 for none).
async fn serials(net: &Net, parties: &[&str]) -> anyhow::Result<Vec<u64>> {
    let mut out = Vec::new();
    for p in parties {
        let s = net.client(p)?.get("/v1/status").await?.body;
        out.push(s["directory_version"]["serial"].as_u64().unwrap_or(0));
    }
    Ok(out)
}

async fn wait_serials(
    net: &Net,
    parties: &[&str],
    serial: u64,
) -> anyhow::Result<std::time::Duration> {
    let start = std::time::Instant::now();
    loop {
        let got = serials(net, parties).await?;
        if got.iter().all(|s| *s == serial) {
            return Ok(start.elapsed());
        }
        anyhow::ensure!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "after 10 s the serials are {got:?}, not all {serial}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_spreads_to_every_node_a_stopped_one_catches_up_through_two_and_a_removed_party_is_out(
) -> anyhow::Result<()> {
    let parties = ["LU", "FR", "CO", "DE"];
    let mut net = registry_net(&parties).await?;
    let registry = net.registry()?;
    let v0 = net.version_in_force("LU")?;
    let now = UtcMs(now().0);
    let v1 = registry::publish(&registry, signed_entries(&net, |_| {})?, Some(&v0), now, 30)?;
    let r = net
        .client("LU")?
        .post("/v1/directory", &version_json(&v1)?)
        .await?;
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    let took = wait_serials(&net, &parties, 2).await?;
    eprintln!(
        "version 1 in force at all {} nodes in {took:?}",
        parties.len()
    );

    // DE is stopped while FR applies two versions; it catches up from a peer when it starts,
    // taking each version it missed in turn (the newest alone does not chain to DE's).
    net.net.stop_node(&party("DE")).await;
    let v1b = registry::publish(&registry, v1.version.entries.clone(), Some(&v1), now, 30)?;
    let v2 = registry::publish(&registry, v1b.version.entries.clone(), Some(&v1b), now, 30)?;
    for v in [&v1b, &v2] {
        let r = net
            .client("FR")?
            .post("/v1/directory", &version_json(v)?)
            .await?;
        assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    }
    wait_serials(&net, &["LU", "FR", "CO"], 4).await?;
    net.net.start_node(&party("DE")).await?;
    wait_serials(&net, &["DE"], 4).await?;

    // CO is removed: a request LU queued for it fails with the reason, at every node it is out.
    net.net.stop_node(&party("CO")).await;
    let mut to_co = preservation_request("CO");
    to_co["language"] = json!("en");
    let queued = net.submit("LU", &to_co).await?;
    let id = queued["message_id"].as_str().unwrap_or_default().to_owned();
    let mut lu_events = net.events("LU")?;
    let without_co: Vec<SignedEntry> = v2
        .version
        .entries
        .iter()
        .filter(|e| e.entry.id != "CO")
        .cloned()
        .collect();
    let v3 = registry::publish(&registry, without_co, Some(&v2), now, 30)?;
    let r = net
        .client("DE")?
        .post("/v1/directory", &version_json(&v3)?)
        .await?;
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    wait_serials(&net, &["LU", "FR", "DE"], 5).await?;
    let case = queued["case_ref"].as_str().unwrap_or_default().to_owned();
    let failed = wait_for(&mut lu_events, 10, |e| {
        e.message_id.map(|m| m.to_string()).as_deref() == Some(id.as_str())
            && matches!(e.kind, EventKind::DeliveryFailed { .. })
    })
    .await;
    let at_lu = net.case("LU", &case).await?;
    let status = net.client("LU")?.get("/v1/status").await?.body;
    let failed = failed.map_err(|e| anyhow::anyhow!("{e}: {at_lu}\n{status}"))?;
    assert!(
        matches!(&failed.kind, EventKind::DeliveryFailed { reason } if reason.contains("CO")),
        "{failed:?}"
    );
    net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_refused_for_its_pin_sees_why_in_its_peers_with_both_values() -> anyhow::Result<()> {
    let mut net = Net::embedded_prepared()?;
    // The version FR holds pins another key for LU's certificate (LU's entry, as LU signed it,
    // names a wrong pin); LU and CO start on the one before.
    let wrong_pin = net.next_version("FR", |e| {
        if e.id == "LU" {
            e.spki_sha256 = Some("ab".repeat(32));
        }
    })?;
    install_version(&net, "FR", &wrong_pin)?;
    net.net.start_node(&party("LU")).await?;
    net.net.start_node(&party("CO")).await?;
    net.net.start_node(&party("FR")).await?;
    net.submit("LU", &preservation_request("FR")).await?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let peers = net.client("LU")?.get("/v1/peers").await?.body;
        let fr_row = peers["peers"]
            .as_array()
            .and_then(|a| a.iter().find(|p| p["party"] == "FR").cloned())
            .unwrap_or(Value::Null);
        if let Some(why) = fr_row["last_error"].as_str() {
            assert!(why.contains(&"ab".repeat(32)), "{why}");
            assert!(why.contains("pinned") || why.contains("pins"), "{why}");
            break;
        }
        anyhow::ensure!(std::time::Instant::now() < deadline, "{peers}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    net.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_version_is_past_its_next_update_keeps_serving_and_says_so_once(
) -> anyhow::Result<()> {
    let mut net = Net::fresh_prepared(&["LU", "FR"])?;
    let registry = net.registry()?;
    let v0 = net.version_in_force("LU")?;
    // Issued 40 days ago with a next update after 30: ten days overdue.
    let issued = UtcMs(now().0 - 40 * 86_400_000);
    let v1 = registry::publish(
        &registry,
        signed_entries(&net, |_| {})?,
        Some(&v0),
        issued,
        30,
    )?;
    for p in ["LU", "FR"] {
        install_version(&net, p, &v1)?;
        net.net.start_node(&party(p)).await?;
    }
    // The event, from the log (it came at start).
    let mut stream = net.client("LU")?.events_after(0).await?;
    let overdue = loop {
        let ev = next_event(&mut stream, 10).await?;
        if ev["type"] == "directory_overdue" {
            break ev;
        }
    };
    assert_eq!(overdue["serial"], 2);
    assert!(overdue["next_update"].as_u64().unwrap() < now().0);
    let status = net.client("LU")?.get("/v1/status").await?.body;
    assert_eq!(
        status["directory_version"]["next_update_passed"], true,
        "{status}"
    );
    // The node keeps serving with it.
    let done = net.submit("LU", &preservation_request("FR")).await?;
    let mut rx = net.events("LU")?;
    wait_delivered(&mut rx, done["message_id"].as_str().unwrap(), 10).await?;
    net.net.shutdown().await;
    Ok(())
}

/// `p`'s row in `at`'s `GET /v1/peers`.
async fn peer_row(net: &Net, at: &str, p: &str) -> anyhow::Result<Value> {
    let peers = net.client(at)?.get("/v1/peers").await?.body;
    Ok(peers["peers"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["party"] == p).cloned())
        .unwrap_or(Value::Null))
}

/// Waits (at most 5 s) until `at`'s peers list says `p` is connected, or not.
async fn wait_connected(net: &Net, at: &str, p: &str, want: bool) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let row = peer_row(net, at, p).await?;
        if row["connected"] == want {
            return Ok(());
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "{p} at {at} is not connected={want}: {row}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_that_drops_a_pin_closes_the_connection_using_it_and_refuses_it_after(
) -> anyhow::Result<()> {
    let net = registry_net(&["LU", "FR"]).await?;
    let registry = net.registry()?;
    let v0 = net.version_in_force("LU")?;
    let lu = net.client("LU")?;
    let now = UtcMs(now().0);
    let fr_pin = Directory::load(&net.config("LU")?.directory)?
        .get(&party("FR"))
        .and_then(|e| e.spki_sha256)
        .map(|pin| pin.iter().map(|b| format!("{b:02x}")).collect::<String>())
        .ok_or_else(|| anyhow::anyhow!("FR's entry pins no key"))?;
    let other = "cd".repeat(32);
    let v1 = registry::publish(&registry, signed_entries(&net, |_| {})?, Some(&v0), now, 30)?;
    let r = lu.post("/v1/directory", &version_json(&v1)?).await?;
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    let mut rx = net.events("LU")?;
    let sent = net.submit("LU", &preservation_request("FR")).await?;
    wait_delivered(&mut rx, sent["message_id"].as_str().unwrap_or_default(), 10).await?;
    wait_connected(&net, "LU", "FR", true).await?;

    // A pin added beside FR's key: the connection using the key still pinned goes on.
    let add = |e: &mut poc247_node::peers::directory::PartyEntryFile| {
        if e.id == "FR" {
            e.spki_pins = vec![poc247_node::peers::directory::KeyWindowFile {
                key: other.clone(),
                valid_from: None,
                valid_until: None,
            }];
        }
    };
    let v2 = registry::publish(&registry, signed_entries(&net, add)?, Some(&v1), now, 30)?;
    // The connections made for the first request, both ways, are up: from here none is new.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    while rx.try_recv().is_ok() {}
    let r = lu.post("/v1/directory", &version_json(&v2)?).await?;
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    // No connection was closed: the key in use is still pinned.
    assert_eq!(r.body["connections_closed"], 0, "{}", r.body);
    wait_serials(&net, &["LU", "FR"], 3).await?;
    wait_connected(&net, "LU", "FR", true).await?;

    // FR's key in use is dropped, the other one kept: the live connection closes at once.
    let drop_in_use = |e: &mut poc247_node::peers::directory::PartyEntryFile| {
        if e.id == "FR" {
            e.spki_sha256 = Some(other.clone());
            e.spki_pins = Vec::new();
        }
    };
    let v3 = registry::publish(
        &registry,
        signed_entries(&net, drop_in_use)?,
        Some(&v2),
        now,
        30,
    )?;
    let r = lu.post("/v1/directory", &version_json(&v3)?).await?;
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    // Closed by the version's arrival, not by the look every 30 s at the windows.
    wait_connected(&net, "LU", "FR", false).await?;

    // A new handshake with that key is refused, naming both values, whichever side dials.
    let queued = net.submit("LU", &preservation_request("FR")).await?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let why = loop {
        let row = peer_row(&net, "LU", "FR").await?;
        if let Some(why) = row["last_error"].as_str() {
            break why.to_owned();
        }
        anyhow::ensure!(std::time::Instant::now() < deadline, "{row}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(
        why.contains(&other) && why.contains(&fr_pin),
        "the reason names the pin and the key presented: {why}"
    );
    wait_connected(&net, "LU", "FR", false).await?;
    let id = queued["message_id"].as_str().unwrap_or_default().to_owned();
    while let Ok(ev) = rx.try_recv() {
        assert!(
            !(matches!(ev.kind, EventKind::Delivered { .. })
                && ev.message_id.map(|m| m.to_string()) == Some(id.clone())),
            "delivered to a key no longer pinned: {ev:?}"
        );
    }
    net.net.shutdown().await;
    Ok(())
}

/// A version that changes no pin leaves every connection as it was: each node's reload looks
/// at its connections' pins and keeps the ones still pinned in use, so the version's spread
/// and the traffic after it make no new connection (one left out of its slot unclosed went on
/// living unseen, and each reload added another until the peer's cap refused them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_that_changes_no_pin_makes_no_new_connection() -> anyhow::Result<()> {
    let net = registry_net(&["LU", "FR"]).await?;
    let done = net.submit("LU", &preservation_request("FR")).await?;
    let mut rx = net.events("LU")?;
    wait_delivered(&mut rx, done["message_id"].as_str().unwrap_or_default(), 10).await?;
    let (mut at_lu, mut at_fr) = (net.events("LU")?, net.events("FR")?);
    for serial in [2, 3] {
        let next = net.next_version("LU", |_| {})?;
        let r = net
            .client("LU")?
            .post("/v1/directory", &version_json(&next)?)
            .await?;
        assert_eq!(r.status.as_u16(), 200, "{}", r.body);
        wait_serials(&net, &["LU", "FR"], serial).await?;
    }
    // Traffic both ways after the two reloads, over the connection made before them.
    for (from, to) in [("LU", "FR"), ("FR", "LU")] {
        let done = net.submit(from, &preservation_request(to)).await?;
        let mut rx = net.events(from)?;
        wait_delivered(&mut rx, done["message_id"].as_str().unwrap_or_default(), 10).await?;
    }
    for (at, rx) in [("LU", &mut at_lu), ("FR", &mut at_fr)] {
        while let Ok(e) = rx.try_recv() {
            assert!(
                !matches!(e.kind, EventKind::PeerConnected),
                "a new connection at {at} after a version that changed no pin: {e:?}"
            );
        }
    }
    net.net.shutdown().await;
    Ok(())
}
