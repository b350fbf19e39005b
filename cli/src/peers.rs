//! `poc247 peers` (each peer's connection, last sighting, queue and certificate) and
//! `poc247 peers reload` (the directory and the node's certificate re-read and put in force).

use crate::api::Api;
use crate::failure::Failure;
use crate::human::Tone;
use crate::output::Outcome;
use crate::render::{clean, when};
use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;

/// `peers`.
pub async fn list(socket: &Path) -> Result<Outcome, Failure> {
    let body = Api::new(socket).get("/v1/peers").await?;
    Ok(Outcome {
        text: table(&body),
        json: body,
    })
}

/// `peers reload`.
pub async fn reload(socket: &Path) -> Result<Outcome, Failure> {
    let body = match Api::new(socket)
        .post("/v1/peers/reload", &Value::Object(Default::default()))
        .await
    {
        Ok(b) => b,
        Err(Failure::Refused { body, .. }) => {
            return Err(Failure::Refused {
                message: format!(
                    "reload refused: {}",
                    crate::failure::api_error(&body)
                        .map(|e| e.message)
                        .unwrap_or_default()
                ),
                body,
            })
        }
        Err(e) => return Err(e),
    };
    Ok(Outcome {
        text: reloaded(&body),
        json: body,
    })
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => clean(s),
        Value::Null => "-".to_owned(),
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        other => clean(&other.to_string()),
    }
}

/// A certificate's expiry in a few words.
pub fn certificate(c: &Value) -> String {
    if c.is_null() {
        return "-".to_owned();
    }
    let days = c["days_left"].as_i64().unwrap_or_default();
    let mut s = if days < 0 {
        format!("EXPIRED {} days ago", -days)
    } else {
        format!("{days} days left")
    };
    if c["warning"] == Value::Bool(true) && days >= 0 {
        s = format!("WARNING {s}");
    }
    s
}

/// The table of `GET /v1/peers`.
pub fn table(body: &Value) -> String {
    let mut out = format!(
        "directory {} ({} parties, loaded {})\n",
        text(&body["directory"]["file"]),
        text(&body["directory"]["parties"]),
        when(&body["directory"]["loaded_at"]),
    );
    let empty = Vec::new();
    let peers = body["peers"].as_array().unwrap_or(&empty);
    if peers.is_empty() {
        out.push_str("no peers\n");
        return out;
    }
    let header = [
        "PEER",
        "CONNECTED",
        "LAST SEEN",
        "QUEUE",
        "OLDEST UNDELIVERED",
        "CERTIFICATE",
        "NAME",
    ];
    let mut rows: Vec<Vec<crate::human::Cell>> =
        vec![header.iter().map(|h| ((*h).to_owned(), None)).collect()];
    for p in peers {
        let mut name = text(&p["name"]);
        if p["in_directory"] == Value::Bool(false) {
            name = "(no longer in the directory)".to_owned();
        }
        let cert = certificate(&p["certificate"]);
        let cert_tone = if cert.starts_with("EXPIRED") {
            Some(Tone::Overdue)
        } else if cert.starts_with("WARNING") {
            Some(Tone::Warning)
        } else {
            None
        };
        let connected = p["connected"] == Value::Bool(true);
        rows.push(vec![
            (text(&p["party"]), None),
            (text(&p["connected"]), (!connected).then_some(Tone::Warning)),
            (when(&p["last_seen"]), None),
            (text(&p["queue_depth"]), None),
            (when(&p["oldest_undelivered"]), None),
            (cert, cert_tone),
            (name, None),
        ]);
    }
    out.push_str(&crate::human::table(&rows));
    // Why a peer could not be reached, as it said: a refused node's administrator sees it.
    for p in peers {
        if let Some(why) = p["last_error"].as_str() {
            let _ = writeln!(out, "{}: not reached: {}", text(&p["party"]), clean(why));
        }
    }
    crate::human::fit(&out)
}

/// What a reload did.
pub fn reloaded(body: &Value) -> String {
    let list = |k: &str| {
        let names: Vec<String> = body[k]
            .as_array()
            .map(|a| a.iter().map(text).collect())
            .unwrap_or_default();
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    };
    let mut out = format!(
        "reloaded {}: {} parties\n  added    {}\n  removed  {}\n  changed  {}\n",
        text(&body["directory"]),
        text(&body["parties"]),
        list("added"),
        list("removed"),
        list("changed"),
    );
    let closed = body["connections_closed"].as_u64().unwrap_or(0);
    if closed > 0 {
        let _ = writeln!(out, "  {closed} connection(s) closed");
    }
    for f in body["failed"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "  FAILED {} ({} to {}): {}",
            text(&f["case_ref"]),
            text(&f["kind"]),
            text(&f["peer"]),
            text(&f["reason"]),
        );
    }
    for w in body["warnings"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "  WARNING {}", text(w));
    }
    let c = &body["certificate"];
    if !c.is_null() {
        let _ = writeln!(
            out,
            "certificate of {} in force: expires {} ({})",
            text(&c["party"]),
            when(&c["not_after"]),
            certificate(c),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_table_shows_queues_and_certificate_warnings() {
        let body = json!({
            "directory": {"file": "/etc/poc247/directory.toml", "parties": 3,
                "loaded_at": "2026-05-01T14:03:07Z"},
            "peers": [
                {"party": "FR", "name": "France", "in_directory": true, "connected": true,
                 "last_seen": "2026-05-01T14:05:00Z", "queue_depth": 0,
                 "oldest_undelivered": null,
                 "certificate": {"days_left": 9, "warning": true}},
                {"party": "CO", "name": null, "in_directory": false, "connected": false,
                 "last_seen": null, "queue_depth": 2,
                 "oldest_undelivered": "2026-05-01T13:00:00Z", "certificate": null}
            ]
        });
        let t = table(&body);
        assert!(
            t.starts_with("directory /etc/poc247/directory.toml (3 parties"),
            "{t}"
        );
        assert!(t.lines().all(|l| l.chars().count() <= 80), "{t}");
        // Cells wrap within their columns: every word is there, in its column.
        let col = |row: &str, (at, end): (usize, usize)| -> String {
            let mut cells = Vec::new();
            let mut inside = false;
            for l in t.lines() {
                inside = (inside && l.starts_with(' ')) || l.starts_with(row);
                if inside {
                    let cell: String = l.chars().skip(at).take(end - at).collect();
                    cells.push(cell.trim().to_owned());
                }
            }
            cells.join(" ").trim().to_owned()
        };
        let header = t.lines().find(|l| l.starts_with("PEER")).unwrap_or("");
        let at = |h: &str, next: &str| {
            (
                header.find(h).unwrap_or(0),
                header.find(next).unwrap_or(usize::MAX),
            )
        };
        assert_eq!(
            col("FR ", at("CERTIFICATE", "NAME")),
            "WARNING 9 days left",
            "{t}"
        );
        assert_eq!(
            col("CO ", at("NAME", "\n")),
            "(no longer in the directory)",
            "{t}"
        );
        let oldest = when(&json!("2026-05-01T13:00:00Z"));
        assert_eq!(col("CO ", at("OLDEST", "CERTIFICATE")), oldest, "{t}");
        let empty = json!({"directory": {}, "peers": []});
        assert!(table(&empty).ends_with("no peers\n"));
    }

    #[test]
    fn a_reload_names_what_changed_and_what_failed() {
        let body = json!({"directory": "/d.toml", "parties": 2, "added": [], "removed": ["CO"],
            "changed": ["FR"], "connections_closed": 1,
            "failed": [{"case_ref": "LU-2026-000002", "kind": "preservation", "peer": "CO",
                "reason": "unknown-party: CO was removed"}],
            "certificate": {"party": "LU", "not_after": "2046-01-01T00:00:00Z",
                "days_left": 7000, "warning": false}});
        let t = reloaded(&body);
        assert!(t.contains("removed  CO\n"), "{t}");
        assert!(t.contains("added    none\n"), "{t}");
        assert!(
            t.contains("FAILED LU-2026-000002 (preservation to CO)"),
            "{t}"
        );
        assert!(t.contains("7000 days left"), "{t}");
        assert_eq!(
            certificate(&json!({"days_left": -2, "warning": true})),
            "EXPIRED 2 days ago"
        );
    }
}
