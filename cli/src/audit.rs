//! `poc247 audit verify` and `poc247 audit export`: the node's hash-chained audit log, checked
//! by the node (`GET /v1/audit/verify`) or exported as JSON lines (`GET /v1/audit`, page by
//! page).

use crate::api::Api;
use crate::failure::Failure;
use crate::output::{self, Outcome};
use poc247_api::{AuditPage, AuditVerification};
use serde_json::{json, Value};
use std::io::Write as _;
use std::path::Path;

/// Entries asked per page of the export.
const PAGE: usize = 10_000;

/// `audit verify`: exit 0 if the chain and every checkpoint verify; otherwise a refusal (exit
/// 1) naming the first broken position, with the node's answer as its JSON.
pub async fn verify(socket: &Path) -> Result<Outcome, Failure> {
    verdict(Api::new(socket).get("/v1/audit/verify").await?)
}

/// The answer of `GET /v1/audit/verify` as an outcome or a refusal.
fn verdict(body: Value) -> Result<Outcome, Failure> {
    let v = poc247_api::read::<AuditVerification>(&body).map_err(|e| {
        Failure::internal(format!(
            "the node's answer to audit verify does not read as this poc247 expects: {e}"
        ))
    })?;
    let (entries, checkpoints) = (v.entries, v.checkpoints);
    let Some(broken) = v.broken else {
        return Ok(Outcome {
            text: format!(
                "audit log intact: {entries} entries chained, {checkpoints} signed checkpoints \
                 verified\n"
            ),
            json: body,
        });
    };
    Err(Failure::Refused {
        message: format!(
            "audit log BROKEN at entry {}: {} ({entries} entries read, {checkpoints} \
             checkpoints verified)",
            broken.seq,
            crate::render::clean(&broken.problem)
        ),
        body,
    })
}

/// Where the export goes.
enum Sink {
    /// Standard output.
    Stdout,
    /// A temporary file beside the target, renamed onto it when complete.
    File(tempfile::NamedTempFile),
}

impl Sink {
    /// Writes one line: `false` when stdout's reader went away.
    fn line(&mut self, text: &str) -> Result<bool, Failure> {
        match self {
            Sink::Stdout => output::line(text),
            Sink::File(f) => writeln!(f, "{text}")
                .map(|()| true)
                .map_err(|e| Failure::internal(format!("cannot write the export: {e}"))),
        }
    }
}

/// `audit export`: every entry from position `from` (at or after `since`), one JSON object
/// per line, to stdout or to `out`. Returns what to print when the lines went to a file.
pub async fn export(
    socket: &Path,
    from: u64,
    since: Option<&str>,
    out: Option<&Path>,
) -> Result<Option<Outcome>, Failure> {
    let api = Api::new(socket);
    let mut sink = match out {
        None => Sink::Stdout,
        Some(path) => {
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            let tmp = tempfile::Builder::new()
                .prefix(".poc247-audit-")
                .tempfile_in(dir)
                .map_err(|e| {
                    Failure::refused(
                        "bad-file",
                        format!("cannot write in {}: {e}", dir.display()),
                    )
                })?;
            Sink::File(tmp)
        }
    };
    let since = since.map(|s| format!("&since={}", poc247_api::client::percent_encode(s)));
    let (mut next, mut count, mut first, mut last) = (from, 0u64, None, None);
    'pages: loop {
        let path = format!(
            "/v1/audit?from={next}&limit={PAGE}{}",
            since.as_deref().unwrap_or_default()
        );
        let body = api.get(&path).await?;
        let page = poc247_api::read::<AuditPage>(&body).map_err(|e| {
            Failure::internal(format!(
                "the node's answer to audit export does not read as this poc247 expects: {e}"
            ))
        })?;
        let entries = page.entries;
        for e in &entries {
            let line = serde_json::to_string(e)
                .map_err(|e| Failure::internal(format!("cannot write JSON: {e}")))?;
            if !sink.line(&line)? {
                break 'pages;
            }
            count += 1;
            let seq = Some(e.seq);
            first = first.or(seq);
            last = seq.or(last);
        }
        match last {
            Some(seq) if entries.len() >= PAGE && seq >= next => next = seq + 1,
            _ => break,
        }
    }
    let (Sink::File(tmp), Some(path)) = (sink, out) else {
        return Ok(None);
    };
    tmp.persist(path)
        .map_err(|e| Failure::internal(format!("cannot write {}: {}", path.display(), e.error)))?;
    let shown = path.display().to_string();
    let range = match (first, last) {
        (Some(a), Some(b)) => format!(" (positions {a}–{b})"),
        _ => String::new(),
    };
    Ok(Some(Outcome {
        text: format!(
            "exported {count} audit entr{}{range} to {}\n",
            if count == 1 { "y" } else { "ies" },
            crate::render::clean(&shown)
        ),
        json: json!({ "entries": count, "first": first, "last": last, "out": shown }),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_intact_log_passes_and_a_broken_one_names_its_first_position() {
        let ok = verdict(json!({"entries": 12, "checkpoints": 1, "broken": null}));
        let text = ok.map(|o| o.text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            text,
            "audit log intact: 12 entries chained, 1 signed checkpoints verified\n"
        );
        let v = json!({"entries": 12, "checkpoints": 0,
            "broken": {"seq": 7, "problem": "hash of entry 6 does not match"}});
        match verdict(v.clone()) {
            Err(f @ Failure::Refused { .. }) => {
                assert_eq!(
                    f.to_string(),
                    "audit log BROKEN at entry 7: hash of entry 6 does not match (12 entries \
                     read, 0 checkpoints verified)"
                );
                assert_eq!(f.json(), Some(v));
            }
            other => panic!("{other:?}"),
        }
    }
}
