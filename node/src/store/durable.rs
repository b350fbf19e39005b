//! Making names durable. A file's `fsync` makes its bytes and length durable, but its name in
//! a folder (created, renamed or removed) is durable only once the folder itself is synced; a
//! power cut before that loses the name, and the file with it. Every place that creates a file
//! or folder on which a promise rests (a receipt, a 201, a key) goes through these.

use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::Path;

/// `fsync` of the folder `dir`: the names created, renamed or removed in it are durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// `fsync` of the folder that holds `path` (the current folder for a bare name).
pub fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => sync_dir(p),
        _ => sync_dir(Path::new(".")),
    }
}

/// Creates `path`, which must not exist yet (mode per umask), writes `text` to it, and makes
/// its bytes and its name durable.
pub fn write_new(path: &Path, text: &str) -> crate::error::Result<()> {
    use std::io::Write as _;
    let io = |e| crate::error::NodeError::io(path, e);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    sync_parent(path).map_err(io)
}

/// Replaces `path` with `bytes` as one step: written beside it (mode 0640 at most), synced,
/// renamed over it, and the rename made durable in its folder. A reader sees the old file or
/// the new, never half.
pub fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // A name of this writer's own: two processes replacing the same file never write into
    // each other's copy.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_file_name(format!(".{name}.{}.{n}.new", std::process::id()));
    // Never open to others, whatever the umask of the process writing it.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o640)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    sync_parent(path)
}

/// `create_dir_all`, with the name of every folder it creates made durable in its parent (mode
/// 0750 at most).
pub fn create_dir_all(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        if !parent.as_os_str().is_empty() {
            create_dir_all(parent)?;
        }
    }
    match std::fs::DirBuilder::new().mode(0o750).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => return Ok(()),
        Err(e) => return Err(e),
    }
    sync_parent(dir)
}

/// Closes what this process creates from now on to others (umask 027: files 0640 at most,
/// folders 0750), whatever umask the node was started under: sled's files, attachments and
/// uploads hold case data. Files the node makes private (keys) stay 0600.
pub fn close_new_files_to_others() {
    let _ = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o027));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_every_missing_folder_and_accepts_an_existing_one() -> std::io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let deep = tmp.path().join("a/b/c");
        create_dir_all(&deep)?;
        assert!(deep.is_dir());
        create_dir_all(&deep)?;
        std::fs::write(tmp.path().join("file"), b"x")?;
        assert!(create_dir_all(&tmp.path().join("file/sub")).is_err());
        sync_parent(&deep)?;
        Ok(())
    }
}
