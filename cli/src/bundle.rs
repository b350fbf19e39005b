//! `export` (a case as one signed file, from the node) and `verify-bundle` (its offline check,
//! with no node): docs/bundle.md.

use crate::failure::Failure;
use crate::output::Outcome;
use poc247_node::export;
use poc247_protocol::CaseRef;
use serde_json::json;
use std::path::Path;

fn refuse_existing(path: &Path) -> Result<(), Failure> {
    if path.exists() {
        return Err(Failure::refused(
            "exists",
            format!("{} exists; not overwritten", path.display()),
        ));
    }
    Ok(())
}

/// `export`: downloads the bundle beside `out` under a temporary name, renames it into place,
/// and writes its HTML page alone to `html` if asked.
pub async fn export(
    socket: &Path,
    case: &CaseRef,
    out: &Path,
    html: Option<&Path>,
    files: bool,
) -> Result<Outcome, Failure> {
    refuse_existing(out)?;
    if let Some(h) = html {
        refuse_existing(h)?;
    }
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = out.with_file_name(format!(".{name}.{}.part", std::process::id()));
    let mode = if files { "files" } else { "hashes" };
    let got = poc247_api::client::ControlClient::new(socket)
        .download(&format!("/v1/cases/{case}/export?attachments={mode}"), &tmp)
        .await;
    let size = match got {
        Ok(Ok((_, size))) => size,
        Ok(Err(r)) => {
            let code =
                crate::failure::api_error(&r.body).map_or_else(|| "refused".to_owned(), |e| e.code);
            return Err(Failure::refused(&code, crate::api::describe(&r)));
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.into());
        }
    };
    let cleanup = |e: String| {
        let _ = std::fs::remove_file(&tmp);
        Failure::internal(e)
    };
    let bytes = std::fs::read(&tmp).map_err(|e| cleanup(format!("{}: {e}", tmp.display())))?;
    // The node's own bundle must pass the check a court's clerk will run.
    let checked = export::verify(&bytes).map_err(|m| cleanup(format!("the node's bundle: {m}")))?;
    if let Some(h) = html {
        let page = export::content(&bytes).map_err(cleanup)?.html;
        std::fs::write(h, page).map_err(|e| cleanup(format!("{}: {e}", h.display())))?;
    }
    std::fs::rename(&tmp, out).map_err(|e| cleanup(format!("{}: {e}", out.display())))?;
    let mut text = format!(
        "{} ({size} bytes): case {case}, {} messages, {} receipts, {} audit entries",
        out.display(),
        checked.messages + checked.purged_messages,
        checked.receipts,
        checked.audit_entries
    );
    if let Some(h) = html {
        text.push_str(&format!("; HTML page {}", h.display()));
    }
    Ok(Outcome {
        text,
        json: json!({ "case_ref": case, "out": out, "size": size, "html": html, "bundle": checked }),
    })
}

/// `verify-bundle`: every check of [`export::verify`]; exit 1 with the first thing wrong.
pub fn verify(file: &Path) -> Result<Outcome, Failure> {
    let invalid = |m: String| Failure::refused("bundle-invalid", m);
    let meta = std::fs::metadata(file)
        .map_err(|e| Failure::refused("not-found", format!("{}: {e}", file.display())))?;
    if meta.len() > export::MAX_BUNDLE_BYTES {
        return Err(invalid(format!(
            "{}: {} bytes, over the {} MiB a bundle may be",
            file.display(),
            meta.len(),
            export::MAX_BUNDLE_BYTES >> 20
        )));
    }
    let bytes = std::fs::read(file)
        .map_err(|e| Failure::refused("not-found", format!("{}: {e}", file.display())))?;
    let v = export::verify(&bytes)
        .map_err(|m| invalid(format!("{}: not sound: {m}", file.display())))?;
    let text = format!(
        "{}: sound\n  case {} exported by {} on {} (key {})\n  keys: {}\n  {} messages as \
         their senders signed them ({} purged), {} receipts as their receivers signed them\n  \
         attachments: {} included and matching their signed hashes, {} by hash only, {} \
         receipts for files\n  {} \
         audit entries of the case chained to {} checkpoints the node signed\n  HTML page: {}",
        file.display(),
        v.case_ref,
        v.exported_by,
        v.exported_at,
        v.node_key,
        v.directory,
        v.messages,
        v.purged_messages,
        v.receipts,
        v.attachments_included,
        v.attachments_by_hash,
        v.attachment_receipts,
        v.audit_entries,
        v.checkpoints,
        v.html
    );
    Ok(Outcome {
        text,
        json: json!(v),
    })
}
