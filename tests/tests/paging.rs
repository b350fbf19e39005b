//! Listings are paged: an opaque cursor per page, the order kept, and a cursor this node did
//! not give for these filters refused, never answered with a wrong page.

use poc247_tests::*;
use serde_json::Value;

fn refs(v: &Value) -> Vec<String> {
    v["cases"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| c["case_ref"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cases_come_page_by_page_in_order_and_a_foreign_or_forged_cursor_is_refused(
) -> anyhow::Result<()> {
    let net = Net::embedded().await?;
    let mut rx = net.events("FR")?;
    let mut sent = Vec::new();
    for _ in 0..7 {
        let done = net.submit("LU", &preservation_request("FR")).await?;
        sent.push(done["case_ref"].as_str().unwrap_or_default().to_owned());
    }
    for _ in 0..7 {
        wait_for(&mut rx, 10, |e| {
            e.kind == poc247_node::events::EventKind::Received
        })
        .await?;
    }
    let fr = net.client("FR")?;
    let mut all = Vec::new();
    let mut path = "/v1/cases?role=requested&limit=3".to_owned();
    let mut pages = 0;
    loop {
        let r = fr.get(&path).await?;
        assert_eq!(r.status.as_u16(), 200, "{}", r.body);
        let page = refs(&r.body);
        assert!(page.len() <= 3, "{}", r.body);
        all.extend(page);
        pages += 1;
        match r.body["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/cases?role=requested&limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(all, sent, "every case once, in order");

    let first = fr.get("/v1/cases?role=requested&limit=3").await?.body;
    let cursor = first["next_cursor"].as_str().unwrap_or_default().to_owned();
    let refused = |r: &poc247_api::client::ApiResponse| {
        assert_eq!(r.status.as_u16(), 400, "{}", r.body);
        assert_eq!(
            error_field(&r.body, "cursor")["field"],
            "cursor",
            "{}",
            r.body
        );
    };
    // The same cursor with other filters, a forged one, and LU's cursor at FR.
    refused(
        &fr.get(&format!(
            "/v1/cases?role=requested&kind=preservation&limit=3&cursor={cursor}"
        ))
        .await?,
    );
    let forged = format!("{}.{}", hex_of("LU-2026-000004"), "00".repeat(12));
    refused(
        &fr.get(&format!("/v1/cases?role=requested&limit=3&cursor={forged}"))
            .await?,
    );
    let lu_first = net
        .client("LU")?
        .get("/v1/cases?role=requester&limit=3")
        .await?
        .body;
    let lu_cursor = lu_first["next_cursor"].as_str().unwrap_or_default();
    refused(
        &fr.get(&format!(
            "/v1/cases?role=requester&limit=3&cursor={lu_cursor}"
        ))
        .await?,
    );
    let r = fr.get("/v1/cases?limit=0").await?;
    assert_eq!(r.status.as_u16(), 400, "{}", r.body);
    net.net.shutdown().await;
    Ok(())
}

fn hex_of(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Every listing of `filters` read page by page (2 a page), against the whole list of cases
/// filtered here: what the listing's index gives must be what the cases say.
async fn agrees(
    c: &poc247_api::client::ControlClient,
    all: &[Value],
    filters: &str,
) -> anyhow::Result<usize> {
    let want: Vec<String> = all
        .iter()
        .filter(|case| {
            filters.split('&').all(|f| {
                let (k, v) = f.split_once('=').unwrap_or((f, ""));
                match k {
                    "exercise" => case[k] == (v == "yes" || v == "true"),
                    _ => case[k] == v,
                }
            })
        })
        .map(|c| c["case_ref"].as_str().unwrap_or_default().to_owned())
        .collect();
    let mut got = Vec::new();
    let mut path = format!("/v1/cases?{filters}&limit=2");
    for _ in 0..100 {
        let r = c.get(&path).await?;
        assert_eq!(r.status.as_u16(), 200, "{filters}: {}", r.body);
        got.extend(refs(&r.body));
        match r.body["next_cursor"].as_str() {
            Some(cur) => path = format!("/v1/cases?{filters}&limit=2&cursor={cur}"),
            None => break,
        }
    }
    assert_eq!(got, want, "{filters}");
    Ok(got.len())
}

/// The filters the CLI's inbox and outbox and the board ask by, alone and together.
const FILTERS: &[&str] = &[
    "role=requested",
    "role=requester",
    "role=requested&state=acknowledged",
    "role=requested&state=closed",
    "role=requested&state=delivered",
    "state=acknowledged",
    "state=closed",
    "kind=preservation",
    "kind=mutual_assistance",
    "peer=LU",
    "role=requested&peer=LU&kind=preservation",
    "urgency=urgent",
    "role=requested&urgency=urgent",
    "exercise=no",
    "exercise=yes",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_filtered_listing_reads_its_index_which_follows_every_change_and_is_built_for_an_older_store(
) -> anyhow::Result<()> {
    let mut net = Net::embedded().await?;
    let mut rx = net.events("FR")?;
    let mut sent = Vec::new();
    for _ in 0..6 {
        let done = net.submit("LU", &preservation_request("FR")).await?;
        sent.push(done["case_ref"].as_str().unwrap_or_default().to_owned());
    }
    for _ in 0..6 {
        wait_for(&mut rx, 10, |e| {
            e.kind == poc247_node::events::EventKind::Received
        })
        .await?;
    }
    let fr = net.client("FR")?;
    // Two acknowledged, one of them closed: the case moves between the indexes' keys.
    for case in &sent[..2] {
        let r = fr
            .post(
                &format!("/v1/cases/{case}/ack"),
                &serde_json::json!({ "fields": { "officer": "permanence" } }),
            )
            .await?;
        assert!(r.status.is_success(), "{}", r.body);
    }
    for (action, body) in [
        (
            "decide",
            serde_json::json!({ "fields": { "outcome": "refused", "refusal_ground": "political_offence", "reasons": "the offence is political" } }),
        ),
        ("close", serde_json::json!({})),
    ] {
        let r = fr
            .post(&format!("/v1/cases/{}/{action}", sent[1]), &body)
            .await?;
        assert!(r.status.is_success(), "{action}: {}", r.body);
    }

    let check = |c: poc247_api::client::ControlClient| async move {
        let all = c.get("/v1/cases?limit=1000").await?.body["cases"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(all.len(), 6);
        let mut counts = Vec::new();
        for f in FILTERS {
            counts.push(agrees(&c, &all, f).await?);
        }
        anyhow::Ok(counts)
    };
    let counts = check(fr.clone()).await?;
    assert_eq!(&counts[..7], &[6, 0, 1, 1, 4, 1, 1], "{counts:?}");

    // As a build before the indexes left the store: no index, and nothing saying it is built.
    let data = net.config("FR")?.data_dir;
    net.net.stop_node(&party("FR")).await;
    {
        let db = sled::open(data.join("sled"))?;
        assert!(db.drop_tree("case_index")?, "the index was kept in sled");
        db.open_tree("meta")?.remove("case_index_v1")?;
        db.flush()?;
    }
    net.net.start_node(&party("FR")).await?;
    let again = check(net.client("FR")?).await?;
    assert_eq!(
        again, counts,
        "the index built at opening lists what it did"
    );
    net.net.shutdown().await;
    Ok(())
}

/// Every page of `path` (a listing of `key` items), each asked with the cursor the one before
/// gave: the items in order, and how many pages.
async fn every_page(
    c: &poc247_api::client::ControlClient,
    path: &str,
    key: &str,
) -> anyhow::Result<(Vec<Value>, usize)> {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut next = path.to_owned();
    loop {
        let r = c.get(&next).await?;
        assert_eq!(r.status.as_u16(), 200, "{next}: {}", r.body);
        items.extend(r.body[key].as_array().cloned().unwrap_or_default());
        pages += 1;
        anyhow::ensure!(pages < 100, "{path}: no end after 100 pages");
        match r.body["next_cursor"].as_str() {
            Some(cur) => next = format!("{path}&cursor={cur}"),
            None => return Ok((items, pages)),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_and_the_audit_export_come_page_by_page_and_a_foreign_or_forged_cursor_is_refused(
) -> anyhow::Result<()> {
    let net = Net::embedded().await?;
    let mut rx = net.events("FR")?;
    let mut at_lu = net.events("LU")?;
    for _ in 0..5 {
        net.submit("LU", &preservation_request("FR")).await?;
    }
    for _ in 0..5 {
        wait_for(&mut rx, 10, |e| {
            e.kind == poc247_node::events::EventKind::Received
        })
        .await?;
    }
    // Each receipt recorded at LU too: its audit log no longer grows.
    for _ in 0..5 {
        wait_for(&mut at_lu, 10, |e| {
            matches!(e.kind, poc247_node::events::EventKind::Delivered { .. })
        })
        .await?;
    }
    let (lu, fr) = (net.client("LU")?, net.client("FR")?);
    let refused = |r: &poc247_api::client::ApiResponse| {
        assert_eq!(r.status.as_u16(), 400, "{}", r.body);
        assert_eq!(
            error_field(&r.body, "cursor")["field"],
            "cursor",
            "{}",
            r.body
        );
    };

    // What FR owes (an acknowledgement per request), two a page, soonest first.
    let whole = fr.get("/v1/pending?limit=1000").await?.body;
    assert_eq!(whole["next_cursor"], Value::Null);
    let all = whole["pending"].as_array().cloned().unwrap_or_default();
    assert!(all.len() >= 5, "{whole}");
    let (paged, pages) = every_page(&fr, "/v1/pending?limit=2", "pending").await?;
    assert_eq!(paged, all, "every item once, in order");
    assert_eq!(pages, all.len().div_ceil(2));
    let first = fr.get("/v1/pending?limit=2").await?.body;
    assert_eq!(first["total"], all.len(), "total counts every page");
    let cursor = first["next_cursor"].as_str().unwrap_or_default().to_owned();
    refused(
        &fr.get(&format!("/v1/pending?limit=2&owed_by=us&cursor={cursor}"))
            .await?,
    );
    refused(
        &lu.get(&format!("/v1/pending?limit=2&cursor={cursor}"))
            .await?,
    );
    let forged = format!("{}.{}", hex_of("0\0LU-2026-000001\0x"), "00".repeat(12));
    refused(
        &fr.get(&format!("/v1/pending?limit=2&cursor={forged}"))
            .await?,
    );

    // LU's audit log, three entries a page, against one page of all.
    let whole = lu.get("/v1/audit?limit=100000").await?.body;
    assert_eq!(whole["next_cursor"], Value::Null);
    let all = whole["entries"].as_array().cloned().unwrap_or_default();
    assert!(all.len() >= 5, "{whole}");
    let (paged, _) = every_page(&lu, "/v1/audit?limit=3", "entries").await?;
    assert_eq!(paged, all, "every entry once, in order");
    let first = lu.get("/v1/audit?limit=3").await?.body;
    let cursor = first["next_cursor"].as_str().unwrap_or_default().to_owned();
    refused(
        &fr.get(&format!("/v1/audit?limit=3&cursor={cursor}"))
            .await?,
    );
    refused(
        &lu.get(&format!(
            "/v1/audit?limit=3&since=2026-01-01&cursor={cursor}"
        ))
        .await?,
    );
    let forged = format!("{}.{}", hex_of("2"), "00".repeat(12));
    refused(
        &lu.get(&format!("/v1/audit?limit=3&cursor={forged}"))
            .await?,
    );
    let r = lu.get(&format!("/v1/audit?from=2&cursor={cursor}")).await?;
    assert_eq!(r.status.as_u16(), 400, "{}", r.body);
    net.net.shutdown().await;
    Ok(())
}
