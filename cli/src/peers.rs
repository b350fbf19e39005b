//! `poc247 peers` (each peer's connection, last sighting, queue and certificate) and
//! `poc247 peers reload` (the directory and the node's certificate re-read and put in force).

use crate::api::Api;
use crate::failure::Failure;
use crate::human::Tone;
use crate::output::Outcome;
use crate::render::{clean, when};
use poc247_api::{Certificate, PeerList, Reloaded};
use poc247_protocol::PartyId;
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

/// A certificate's expiry in a few words (`-` for none).
pub fn certificate(c: Option<&Certificate>) -> String {
    let Some(c) = c else {
        return "-".to_owned();
    };
    let days = c.days_left;
    let mut s = if days < 0 {
        format!("EXPIRED {} days ago", -days)
    } else {
        format!("{days} days left")
    };
    if c.warning && days >= 0 {
        s = format!("WARNING {s}");
    }
    s
}

/// An answer that does not read as its type: said, not guessed at.
fn unreadable(what: &str, why: &str) -> String {
    format!(
        "the node's answer to {what} does not read as this poc247 expects ({}); --json shows it as is\n",
        clean(why)
    )
}

/// An instant given as RFC 3339 text, or `-`.
fn at(t: Option<&str>) -> String {
    t.map_or_else(|| "-".to_owned(), |t| when(&Value::String(t.to_owned())))
}

/// The table of `GET /v1/peers`.
pub fn table(body: &Value) -> String {
    match poc247_api::read::<PeerList>(body) {
        Ok(list) => table_of(&list),
        Err(e) => unreadable("peers", &e),
    }
}

fn table_of(body: &PeerList) -> String {
    let d = &body.directory;
    let mut out = format!(
        "directory {} ({} parties, loaded {})\n",
        clean(&d.file),
        d.parties,
        at(Some(&d.loaded_at)),
    );
    let peers = &body.peers;
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
        let name = if p.in_directory {
            p.name.as_deref().map_or_else(|| "-".to_owned(), clean)
        } else {
            "(no longer in the directory)".to_owned()
        };
        let cert = certificate(p.certificate.as_ref());
        let cert_tone = if cert.starts_with("EXPIRED") {
            Some(Tone::Overdue)
        } else if cert.starts_with("WARNING") {
            Some(Tone::Warning)
        } else {
            None
        };
        let connected = if p.connected { "yes" } else { "no" };
        rows.push(vec![
            (p.party.to_string(), None),
            (
                connected.to_owned(),
                (!p.connected).then_some(Tone::Warning),
            ),
            (at(p.last_seen.as_deref()), None),
            (p.queue_depth.to_string(), None),
            (at(p.oldest_undelivered.as_deref()), None),
            (cert, cert_tone),
            (name, None),
        ]);
    }
    out.push_str(&crate::human::table(&rows));
    // Why a peer could not be reached, as it said: a refused node's administrator sees it.
    for p in peers {
        if let Some(why) = &p.last_error {
            let _ = writeln!(out, "{}: not reached: {}", p.party, clean(why));
        }
    }
    crate::human::fit(&out)
}

/// What a reload did.
pub fn reloaded(body: &Value) -> String {
    match poc247_api::read::<Reloaded>(body) {
        Ok(r) => reloaded_of(&r),
        Err(e) => unreadable("the reload", &e),
    }
}

fn reloaded_of(body: &Reloaded) -> String {
    let list = |names: &[PartyId]| {
        if names.is_empty() {
            "none".to_owned()
        } else {
            names
                .iter()
                .map(PartyId::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let mut out = format!(
        "reloaded {}: {} parties\n  added    {}\n  removed  {}\n  changed  {}\n",
        clean(&body.directory),
        body.parties,
        list(&body.added),
        list(&body.removed),
        list(&body.changed),
    );
    let closed = body.connections_closed;
    if closed > 0 {
        let _ = writeln!(out, "  {closed} connection(s) closed");
    }
    for f in &body.failed {
        let _ = writeln!(
            out,
            "  FAILED {} ({} to {}): {}",
            f.case_ref,
            f.kind,
            f.peer,
            clean(&f.reason),
        );
    }
    for w in &body.warnings {
        let _ = writeln!(out, "  WARNING {}", clean(w));
    }
    if let Some(c) = &body.certificate {
        let _ = writeln!(
            out,
            "certificate of {} in force: expires {} ({})",
            c.party,
            at(Some(&c.not_after)),
            certificate(Some(c)),
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
                {"party": "FR", "name": "France", "in_directory": true,
                 "addresses": ["poc247.example.fr:47241"], "signing_key": "c6:4d",
                 "connected": true, "last_seen": "2026-05-01T14:05:00Z", "last_error": null,
                 "queue_depth": 0, "oldest_undelivered": null, "oldest_undelivered_age_s": null,
                 "certificate": {"party": "FR", "own": false,
                     "not_after": "2026-05-10T00:00:00Z", "not_after_ms": 1_778_371_200_000u64,
                     "days_left": 9, "warning": true}},
                {"party": "CO", "name": null, "in_directory": false, "addresses": [],
                 "signing_key": null, "connected": false, "last_seen": null,
                 "last_error": null, "queue_depth": 2,
                 "oldest_undelivered": "2026-05-01T13:00:00Z", "oldest_undelivered_age_s": 60,
                 "certificate": null}
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
        let empty = json!({"directory": {"file": "/d.toml", "loaded_at": "2026-05-01T14:03:07Z",
            "parties": 1}, "peers": []});
        assert!(table(&empty).ends_with("no peers\n"));
    }

    #[test]
    fn a_reload_names_what_changed_and_what_failed() {
        let body = json!({"directory": "/d.toml", "parties": 2, "added": [], "removed": ["CO"],
            "changed": ["FR"], "repinned": [], "connections_closed": 1,
            "failed": [{"message_id": "01a20668-c55a-763b-a2e5-3f55ee813141",
                "case_ref": "LU-2026-000002", "kind": "preservation", "peer": "CO",
                "reason": "unknown-party: CO was removed"}],
            "certificate": {"party": "LU", "own": true, "not_after": "2046-01-01T00:00:00Z",
                "not_after_ms": 2_398_291_200_000u64, "days_left": 7000, "warning": false},
            "warnings": []});
        let t = reloaded(&body);
        assert!(t.contains("removed  CO\n"), "{t}");
        assert!(t.contains("added    none\n"), "{t}");
        assert!(
            t.contains("FAILED LU-2026-000002 (preservation to CO)"),
            "{t}"
        );
        assert!(t.contains("7000 days left"), "{t}");
        let expired: Option<Certificate> = poc247_api::read(&json!({"party": "FR",
            "own": false, "not_after": "2026-04-29T00:00:00Z", "not_after_ms": 1_777_420_800_000u64,
            "days_left": -2, "warning": true}))
        .ok();
        assert_eq!(certificate(expired.as_ref()), "EXPIRED 2 days ago");
    }
}
