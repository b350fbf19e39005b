//! Deadlines on real nodes with a manual clock: nothing sleeps, 60 days pass in milliseconds,
//! and a restart in the middle loses no timer and fires none twice.

use poc247_devnet::localnet::{LocalNetwork, Pki};
use poc247_node::clock::ManualClock;
use poc247_node::events::{EventKind, NodeEvent};
use poc247_protocol::{Date, UtcMs};
use poc247_tests::*;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::broadcast::Receiver;

const DAY: u64 = 86_400_000;

struct Clocked {
    net: LocalNetwork,
    clock: ManualClock,
    events: HashMap<&'static str, Receiver<NodeEvent>>,
    /// Every deadline fired: (node, label, when).
    fired: Vec<(&'static str, String, UtcMs)>,
    _tmp: tempfile::TempDir,
}

impl Clocked {
    fn subscribe(&mut self, p: &'static str) {
        let rx = self.net.node(&party(p)).unwrap().events().subscribe();
        self.events.insert(p, rx);
    }

    async fn restart(&mut self, p: &'static str) -> anyhow::Result<()> {
        self.drain(p);
        self.net.stop_node(&party(p)).await;
        self.net.start_node(&party(p)).await?;
        self.subscribe(p);
        Ok(())
    }

    fn drain(&mut self, p: &'static str) {
        let rx = self.events.get_mut(p).unwrap();
        while let Ok(ev) = rx.try_recv() {
            if let EventKind::Deadline { label, .. } = ev.kind {
                self.fired.push((p, label, ev.at));
            }
        }
    }

    /// Moves the clock to `t`, wakes both timer tasks, and waits for `label` at each of `at`.
    async fn advance(&mut self, t: UtcMs, expect: &str, at: &[&'static str]) -> anyhow::Result<()> {
        self.clock.set(t);
        for p in ["LU", "FR"] {
            self.net.node(&party(p)).unwrap().check_timers();
        }
        for p in at {
            let rx = self.events.get_mut(p).unwrap();
            let ev = wait_for(rx, 10, |e| matches!(&e.kind, EventKind::Deadline { label, .. } if label.starts_with(expect))).await?;
            if let EventKind::Deadline { label, .. } = ev.kind {
                self.fired.push((p, label, ev.at));
            }
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_60_day_preservation_wait_survives_restarts_and_fires_each_deadline_once(
) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let day0 = Date::from_utc_ms(now().0).start_utc_ms();
    let at = |days: u64, hours: u64| UtcMs(day0 + days * DAY + hours * 3_600_000);
    let clock = ManualClock::new(at(0, 1));
    let mut net = LocalNetwork::prepare(&tmp.path().join("net"), &Pki::Embedded)?;
    net.set_clock(Arc::new(clock.clone()));
    for p in ["LU", "FR"] {
        net.start_node(&party(p)).await?;
    }
    let mut c = Clocked {
        net,
        clock,
        events: HashMap::new(),
        fired: Vec::new(),
        _tmp: tmp,
    };
    c.subscribe("LU");
    c.subscribe("FR");
    let lu = poc247_api::client::ControlClient::new(c.net.config(&party("LU"))?.socket);
    let fr = poc247_api::client::ControlClient::new(c.net.config(&party("FR"))?.socket);

    let done = lu
        .post("/v1/requests", &preservation_request("FR"))
        .await?
        .body;
    let case = done["case_ref"].as_str().unwrap().to_owned();
    let id = done["message_id"].as_str().unwrap().to_owned();
    wait_for(c.events.get_mut("FR").unwrap(), 10, |e| {
        e.kind == EventKind::Received && e.message_id.map(|m| m.to_string()) == Some(id.clone())
    })
    .await?;

    // Urgent: an officer acknowledges within 60 minutes, or it escalates — once.
    c.advance(
        at(0, 2).plus_ms(60_000),
        "acknowledgement_overdue",
        &["FR", "LU"],
    )
    .await?;
    // The metrics and the status count it from the timer task's board, not from the store.
    for (client, inbox) in [(&fr, 1), (&lu, 0)] {
        let metrics = client.get_text("/metrics").await?.text;
        for line in [
            "poc247_overdue{track=\"acknowledgement\"} 1",
            "poc247_cases 1",
        ] {
            assert!(
                metrics.lines().any(|l| l == line),
                "no `{line}` in\n{metrics}"
            );
        }
        let status = client.get("/v1/status").await?.body;
        assert_eq!(status["cases"], 1, "{status}");
        assert_eq!(status["inbox"], inbox, "{status}");
        assert_eq!(
            status["metrics"]["overdue"]["acknowledgement"], 1,
            "{status}"
        );
    }
    let until = Date::from_utc_ms(at(60, 0).0).to_string();
    let decided = fr
        .post(&format!("/v1/cases/{case}/decide"), &json!({ "fields": { "outcome": "executed", "executed_on": Date::from_utc_ms(at(0, 0).0).to_string(), "preserved_until": until } }))
        .await?;
    assert_eq!(decided.status.as_u16(), 201, "{}", decided.body);
    let mid = decided.body["message_id"].as_str().unwrap().to_owned();
    wait_for(c.events.get_mut("LU").unwrap(), 10, |e| {
        e.kind == EventKind::Received && e.message_id.map(|m| m.to_string()) == Some(mid.clone())
    })
    .await?;

    // Day 46: the 14-day reminder, on both sides. Then both nodes restart.
    c.advance(at(46, 12), "preservation_reminder_14d", &["FR", "LU"])
        .await?;
    c.restart("FR").await?;
    c.restart("LU").await?;
    c.advance(at(57, 12), "preservation_reminder_3d", &["FR", "LU"])
        .await?;
    c.restart("FR").await?;
    // Day 59 passes without an end; day 60 ends it.
    c.advance(at(60, 0), "preservation_ended", &["FR", "LU"])
        .await?;
    c.restart("LU").await?;
    c.clock.set(at(61, 0));
    for p in ["LU", "FR"] {
        c.net.node(&party(p)).unwrap().check_timers();
    }
    // A last round trip proves both timer tasks looked at day 61 before we count.
    let pending = fr.get("/v1/pending").await?.body;
    let _ = lu.get("/v1/pending").await?;
    c.drain("LU");
    c.drain("FR");

    let mut count: HashMap<(&str, String), usize> = HashMap::new();
    for (p, label, when) in &c.fired {
        *count.entry((*p, label.clone())).or_default() += 1;
        if label.starts_with("preservation_ended") {
            assert!(
                *when >= at(60, 0),
                "the end fired at {when:?}, before day 60"
            );
        }
    }
    for ((p, label), n) in &count {
        assert_eq!(*n, 1, "{label} fired {n} times at {p}");
    }
    for label in [
        "acknowledgement_overdue",
        "preservation_reminder_14d",
        "preservation_reminder_3d",
        "preservation_ended",
    ] {
        for p in ["LU", "FR"] {
            assert!(
                count.keys().any(|(q, l)| *q == p && l.starts_with(label)),
                "{label} never fired at {p}"
            );
        }
    }
    // `pending` still shows what is owed: FR requires a formal confirmation from LU.
    let items = pending["pending"].as_array().unwrap();
    assert!(
        items
            .iter()
            .any(|i| i["track"] == "formal_confirmation" && i["owed_by"] == "LU"),
        "{pending}"
    );
    c.net.shutdown().await;
    Ok(())
}

/// `GET /v1/pending` reads the timer task's board once the task has taken in every change made
/// before the request: a case received or acknowledged a moment before shows at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_shows_a_change_made_the_moment_before() -> anyhow::Result<()> {
    let net = Net::embedded().await?;
    let mut fr_events = net.events("FR")?;
    let sent = net.submit("LU", &preservation_request("FR")).await?;
    let case = sent["case_ref"].as_str().unwrap().to_owned();
    wait_for(&mut fr_events, 10, |e| e.kind == EventKind::Received).await?;
    let fr = net.client("FR")?;
    let owed = |v: &serde_json::Value| {
        v["pending"].as_array().unwrap().iter().any(|i| {
            i["case_ref"] == case.as_str()
                && i["track"] == "acknowledgement"
                && i["owed_by"] == "FR"
        })
    };
    let before = fr.get("/v1/pending").await?.body;
    assert!(owed(&before), "{before}");
    let acked = fr
        .post(
            &format!("/v1/cases/{case}/acknowledge"),
            &json!({ "fields": { "officer": "duty officer" } }),
        )
        .await?;
    assert!(acked.status.is_success(), "{}", acked.body);
    let after = fr.get("/v1/pending").await?.body;
    assert!(!owed(&after), "{after}");
    net.net.shutdown().await;
    Ok(())
}

/// `GET /v1/pending` filtered: by who owes (us, them, a Party), by overdue or not, cut at a
/// limit with the total counted; a bad filter is refused with its name, and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_filters_by_who_owes_and_overdue_and_cuts_at_a_limit() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let t0 = UtcMs(Date::from_utc_ms(now().0).start_utc_ms() + 3_600_000);
    let clock = ManualClock::new(t0);
    let mut net = LocalNetwork::prepare(&tmp.path().join("net"), &Pki::Embedded)?;
    net.set_clock(Arc::new(clock.clone()));
    for p in ["LU", "FR"] {
        net.start_node(&party(p)).await?;
    }
    let mut fr_events = net.node(&party("FR")).unwrap().events().subscribe();
    let lu = poc247_api::client::ControlClient::new(net.config(&party("LU"))?.socket);
    let fr = poc247_api::client::ControlClient::new(net.config(&party("FR"))?.socket);
    for _ in 0..2 {
        let id = lu
            .post("/v1/requests", &preservation_request("FR"))
            .await?
            .body["message_id"]
            .as_str()
            .unwrap()
            .to_owned();
        wait_for(&mut fr_events, 10, |e| {
            e.kind == EventKind::Received && e.message_id.map(|m| m.to_string()) == Some(id.clone())
        })
        .await?;
    }
    let get = |q: &'static str| {
        let fr = fr.clone();
        async move {
            let r = fr.get(&format!("/v1/pending{q}")).await?;
            anyhow::Ok((r.status.as_u16(), r.body))
        }
    };
    let items = |v: &serde_json::Value| v["pending"].as_array().unwrap().clone();
    let (_, all) = get("").await?;
    let every = items(&all);
    assert_eq!(all["total"], every.len(), "{all}");
    // FR owes each acknowledgement; LU owes each formal confirmation FR requires.
    let (_, ours) = get("?owed_by=us").await?;
    let (_, theirs) = get("?owed_by=them").await?;
    let (_, lus) = get("?owed_by=LU").await?;
    assert!(items(&ours).len() >= 2, "{ours}");
    assert!(items(&ours).iter().all(|i| i["owed_by"] == "FR"), "{ours}");
    assert!(items(&theirs).len() >= 2, "{theirs}");
    assert!(
        items(&theirs).iter().all(|i| i["owed_by"] != "FR"),
        "{theirs}"
    );
    assert_eq!(items(&lus), items(&theirs));
    assert_eq!(items(&ours).len() + items(&theirs).len(), every.len());
    // Nothing is overdue yet; past the acknowledgement's hour, the acknowledgements are.
    let (_, overdue) = get("?overdue=true").await?;
    assert!(items(&overdue).is_empty(), "{overdue}");
    clock.set(t0.plus_ms(2 * 3_600_000));
    let (_, overdue) = get("?overdue=true&owed_by=us").await?;
    let late = items(&overdue);
    assert_eq!(late.len(), 2, "{overdue}");
    assert!(late
        .iter()
        .all(|i| i["overdue"] == true && i["track"] == "acknowledgement"));
    let (_, not_yet) = get("?overdue=false").await?;
    assert_eq!(items(&not_yet).len(), every.len() - 2, "{not_yet}");
    assert!(items(&not_yet).iter().all(|i| i["overdue"] == false));
    // A limit keeps the soonest and counts the rest.
    let (_, first) = get("?limit=1").await?;
    assert_eq!(items(&first).len(), 1, "{first}");
    assert_eq!(first["total"], every.len());
    assert_eq!(items(&first)[0]["label"], every[0]["label"]);
    assert_eq!(items(&first)[0]["case_ref"], every[0]["case_ref"]);
    // Bad filters: 400, naming what is wrong.
    for (q, names) in [
        ("?owed_by=nobody", "owed_by"),
        ("?overdue=soon", "overdue"),
        ("?limit=0", "limit"),
        ("?limit=-3", "limit"),
        ("?owner=us", "owner"),
    ] {
        let (status, body) = get(q).await?;
        assert_eq!(status, 400, "{q}: {body}");
        assert_eq!(body["error"]["code"], "bad-request", "{q}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(names), "{q}: {message}");
    }
    let (_, again) = get("").await?;
    assert_eq!(again["total"], all["total"]);
    net.shutdown().await;
    Ok(())
}

/// Retention at scale, untimed: more closed cases than the timer task fires in one page reach
/// the end of their retention period at the same moment. The node purges every one of them, a
/// page at a time; none is left due or stored, each is said to be purged, and the audit chain
/// verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_closed_case_past_its_retention_is_purged_a_page_at_a_time() -> anyhow::Result<()> {
    // Over two of the timer task's pages of 64.
    const CASES: usize = 150;
    let tmp = tempfile::tempdir()?;
    let day0 = Date::from_utc_ms(now().0).start_utc_ms();
    let clock = ManualClock::new(UtcMs(day0 + 3_600_000));
    let mut net = LocalNetwork::prepare(&tmp.path().join("net"), &Pki::Embedded)?;
    net.set_clock(Arc::new(clock.clone()));
    let mut cfg = net.config(&party("LU"))?;
    cfg.deadlines.retention_days = Some(30);
    net.start_node_with(&party("LU"), cfg).await?;
    net.start_node(&party("FR")).await?;
    let lu = poc247_api::client::ControlClient::new(net.config(&party("LU"))?.socket);
    let mut events = net.node(&party("LU")).unwrap().events().subscribe();
    let info = json!({ "kind": "spontaneous_information", "to": "FR", "urgency": "urgent",
                       "language": "fr", "confirm_warnings": true,
                       "fields": { "information": "C2 at 198.51.100.4", "relevance": "botnet" } });
    let mut cases = Vec::new();
    let mut waiting = std::collections::HashSet::new();
    for _ in 0..CASES {
        let r = lu.post("/v1/requests", &info).await?;
        anyhow::ensure!(r.status.as_u16() == 201, "{} {}", r.status, r.body);
        cases.push(r.body["case_ref"].as_str().unwrap_or_default().to_owned());
        waiting.insert(r.body["message_id"].as_str().unwrap_or_default().to_owned());
    }
    while !waiting.is_empty() {
        let ev = wait_for(&mut events, 30, |e| {
            matches!(e.kind, EventKind::Delivered { .. })
        })
        .await?;
        if let Some(id) = ev.message_id {
            waiting.remove(&id.to_string());
        }
    }
    for c in &cases {
        let r = lu.post(&format!("/v1/cases/{c}/close"), &json!({})).await?;
        anyhow::ensure!(
            r.status.as_u16() == 200,
            "close {c}: {} {}",
            r.status,
            r.body
        );
    }
    // A day past the retention period of every case.
    clock.set(UtcMs(day0 + 31 * DAY + 3_600_000));
    net.node(&party("LU")).unwrap().check_timers();
    let mut left: std::collections::HashSet<String> = cases.iter().cloned().collect();
    while !left.is_empty() {
        let ev = wait_for(&mut events, 60, |e| e.kind == EventKind::Purged).await?;
        if let Some(c) = ev.case_ref {
            left.remove(c.as_str());
        }
    }
    let metrics = lu.get_text("/metrics").await?.text;
    assert!(
        metrics
            .lines()
            .any(|l| l == "poc247_overdue{track=\"retention\"} 0"),
        "{metrics}"
    );
    assert!(metrics.lines().any(|l| l == "poc247_cases 0"), "{metrics}");
    let pending = lu.get("/v1/pending").await?.body;
    assert_eq!(
        pending["pending"].as_array().map(Vec::len),
        Some(0),
        "{pending}"
    );
    for c in &cases {
        let r = lu.get(&format!("/v1/cases/{c}")).await?;
        assert_eq!(r.status.as_u16(), 410, "{c}: {}", r.body);
    }
    let verify = lu.get("/v1/audit/verify").await?.body;
    assert_eq!(verify["broken"], serde_json::Value::Null, "{verify}");
    let audit = lu.get("/v1/audit?limit=10000").await?.body.to_string();
    assert_eq!(
        audit.matches("purged:retention").count(),
        CASES,
        "one audit entry per case purged"
    );
    net.shutdown().await;
    Ok(())
}
