//! Files attached with `--attach`. Each file this process can read is uploaded to the node
//! through its control socket (`POST /v1/uploads`, a bar per file on a terminal) and listed as
//! `{ "upload", "name" }`: the node need not be able to read the officer's folders (under the
//! systemd unit of `deploy/` it cannot read `/tmp` or a home folder). A file this process
//! cannot read is sent by path, for the node to read or to say what is wrong with it.

use crate::api::Api;
use crate::failure::Failure;
use crate::progress::Progress;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The files as absolute paths, as the node needs them (they must not depend on this shell's
/// folder).
pub fn paths_json(files: &[PathBuf]) -> Value {
    let cwd = std::env::current_dir().unwrap_or_default();
    Value::Array(
        files
            .iter()
            .map(|f| Value::String(cwd.join(f).to_string_lossy().into_owned()))
            .collect(),
    )
}

/// Appends `files` to `body["attachments"]` as absolute paths (the list is made if missing).
pub fn add_paths(body: &mut Value, files: &[PathBuf]) {
    if files.is_empty() {
        return;
    }
    let Value::Array(new) = paths_json(files) else {
        return;
    };
    match body.get_mut("attachments").and_then(Value::as_array_mut) {
        Some(list) => list.extend(new),
        None => body["attachments"] = Value::Array(new),
    }
}

/// The `attachments` of a `--file` (TOML or JSON), taken out of its keys: a list of paths,
/// each relative to that file's folder unless absolute.
pub fn from_file(keys: &mut Map<String, Value>, file: &Path) -> Result<Vec<PathBuf>, Failure> {
    let Some(given) = keys.remove("attachments") else {
        return Ok(Vec::new());
    };
    let bad = || {
        Failure::refused(
            "bad-file",
            format!(
                "file {}: `attachments` is a list of file paths (relative to that file's folder)",
                file.display()
            ),
        )
    };
    let Value::Array(items) = given else {
        return Err(bad());
    };
    let base = file.parent().unwrap_or(Path::new(""));
    items
        .iter()
        .map(|i| {
            i.as_str()
                .filter(|p| !p.trim().is_empty())
                .map(|p| base.join(p))
                .ok_or_else(bad)
        })
        .collect()
}

/// Uploads each file of `body["attachments"]` that this process can open and replaces its
/// path by `{ "upload", "name" }` (a bar per file when `progress`). A file that cannot be
/// opened here stays a bare path. The files are checked
/// against the node's limits (`GET /v1/status`) before any is uploaded; the node's refusal
/// of an upload (an empty file, its disk full) is the command's failure too.
pub async fn upload_files(api: &Api, body: &mut Value, progress: bool) -> Result<(), Failure> {
    let Some(items) = body.get_mut("attachments").and_then(Value::as_array_mut) else {
        return Ok(());
    };
    // The files this process can open, with their sizes; checked against the node's limits
    // before any byte is uploaded (a node refusing an upload mid-way may close the
    // connection before its answer can be read).
    let mut files = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if let Some(path) = item.as_str().map(PathBuf::from) {
            if let Ok(len) = readable_len(&path) {
                files.push((i, path, len));
            }
        }
    }
    if files.is_empty() {
        return Ok(());
    }
    let limits = api.get("/v1/status").await?["attachments"].clone();
    let limit = |k: &str| limits[k].as_u64().unwrap_or(u64::MAX);
    let (per_file, per_case) = (limit("max_file_bytes"), limit("max_case_bytes"));
    let mut sum = 0u64;
    for (_, path, len) in &files {
        sum = sum.saturating_add(*len);
        let over = if *len > per_file {
            format!("{len} bytes is over the limit of {per_file} bytes per file")
        } else if sum > per_case {
            format!("the files total {sum} bytes, over the limit of {per_case} bytes per case")
        } else {
            continue;
        };
        return Err(Failure::refused(
            "invalid-fields",
            format!("request refused: attachments: {}: {over}", path.display()),
        ));
    }
    for (i, path, len) in files {
        let Some(item) = items.get_mut(i) else {
            continue;
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut bar = Progress::bytes(progress, len, &format!("uploading {name}"));
        let up = api.upload(&path, &name, &mut |sent| bar.set(sent)).await;
        bar.finish();
        let up = poc247_api::read::<poc247_api::Uploaded>(&up?).map_err(|e| {
            Failure::internal(format!(
                "the node's answer to an upload does not read as this poc247 expects: {e}"
            ))
        })?;
        let attached = poc247_api::AttachmentRef::Upload {
            upload: up.upload,
            name: Some(name),
        };
        *item = serde_json::to_value(&attached)
            .map_err(|e| Failure::internal(format!("cannot write the request's JSON: {e}")))?;
    }
    Ok(())
}

/// The size of a file this process can open for reading.
fn readable_len(path: &Path) -> std::io::Result<u64> {
    let f = std::fs::File::open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a file"));
    }
    Ok(meta.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_become_absolute() {
        let v = paths_json(&[PathBuf::from("a.log")]);
        let p = v[0].as_str().unwrap_or_default();
        assert!(Path::new(p).is_absolute() && p.ends_with("a.log"), "{p}");
    }
}
