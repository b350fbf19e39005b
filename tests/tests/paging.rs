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
    let refused = |r: &poc247_node::client::ApiResponse| {
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
