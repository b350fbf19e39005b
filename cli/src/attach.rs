//! Files attached with `--attach`. The node copies them itself (the API takes paths on the
//! node's host), so this process first reads each one to compute its SHA-256, with a progress
//! bar on a terminal, and sends `{ "path", "sha256" }`: the node refuses a copy whose hash
//! differs (the file changed in between), and the wait for the node's own copy shows as a
//! spinner. A file this process cannot read is sent by path only, for the node to read or
//! to say what is wrong with it.

use crate::failure::Failure;
use crate::progress::Progress;
use serde_json::{json, Value};
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

/// Replaces each path of `body["attachments"]` by `{ "path", "sha256" }` once the file is
/// hashed (a bar per file when `progress`); returns the bytes hashed. A file that cannot be
/// read here stays a bare path.
pub async fn hash_files(body: &mut Value, progress: bool) -> Result<u64, Failure> {
    let Some(items) = body.get_mut("attachments").and_then(Value::as_array_mut) else {
        return Ok(0);
    };
    let mut total = 0;
    for item in items.iter_mut() {
        let Some(path) = item.as_str().map(PathBuf::from) else {
            continue;
        };
        let hashed = tokio::task::spawn_blocking(move || {
            let r = sha256_of(&path, progress);
            (path, r)
        })
        .await
        .map_err(|e| Failure::internal(format!("hashing an attachment: {e}")))?;
        if let (path, Ok((sha, size))) = hashed {
            total += size;
            *item = json!({ "path": path, "sha256": sha });
        }
    }
    Ok(total)
}

/// The SHA-256 (lowercase hex) and size of a file, read in 1 MiB pieces under a bar.
fn sha256_of(path: &Path, progress: bool) -> std::io::Result<(String, u64)> {
    use sha2::Digest as _;
    use std::io::Read as _;
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut bar = Progress::bytes(progress, len, &format!("hashing {name}"));
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
        done += n as u64;
        bar.set(done);
    }
    bar.finish();
    Ok((poc247_protocol::sha256_hex(&hasher.finalize().into()), done))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn readable_files_get_their_hash_and_the_others_stay_paths() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("abc.txt");
        std::fs::write(&file, "abc").unwrap_or_else(|e| panic!("{e}"));
        let missing = dir.path().join("missing.txt");
        let mut body = json!({ "attachments": paths_json(&[file.clone(), missing.clone()]) });
        let bytes = hash_files(&mut body, false)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bytes, 3);
        assert_eq!(
            body["attachments"][0],
            json!({ "path": file, "sha256":
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" })
        );
        assert_eq!(body["attachments"][1], json!(missing));
    }

    #[test]
    fn relative_paths_become_absolute() {
        let v = paths_json(&[PathBuf::from("a.log")]);
        let p = v[0].as_str().unwrap_or_default();
        assert!(Path::new(p).is_absolute() && p.ends_with("a.log"), "{p}");
    }
}
