//! Private key files: created mode 0600 and never overwritten, refused when group or others
//! can read them, and the node's ed25519 signing key (base64 of its 32-byte seed).

use crate::error::{NodeError, Result};
use base64::Engine as _;
use ed25519_dalek::SigningKey;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

fn key_error(path: &Path, message: impl Into<String>) -> NodeError {
    NodeError::Key {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Creates `path` with mode 0600 and writes `bytes` to it, then syncs it.
///
/// Refuses to overwrite a file that already exists.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                key_error(
                    path,
                    "a file is already there; refusing to overwrite a private key",
                )
            } else {
                NodeError::io(path, e)
            }
        })?;
    // The umask cannot widen 0600, but a narrower umask is kept as is; make the mode exact.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(|e| NodeError::io(path, e))?;
    file.write_all(bytes).map_err(|e| NodeError::io(path, e))?;
    file.sync_all().map_err(|e| NodeError::io(path, e))?;
    crate::store::durable::sync_parent(path).map_err(|e| NodeError::io(path, e))
}

/// Refuses a private key file that group or others may read, write or execute.
pub fn check_private_mode(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| NodeError::io(path, e))?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(key_error(
            path,
            format!(
                "private key is readable by group or others (mode {mode:04o}); run chmod 600 {}",
                path.display()
            ),
        ));
    }
    Ok(())
}

/// Reads the node's ed25519 signing key: base64 (standard alphabet) of its 32-byte seed.
///
/// The file's mode is checked first. Blank lines and lines starting with `#` are ignored.
pub fn load_signing_key(path: &Path) -> Result<SigningKey> {
    check_private_mode(path)?;
    let text = std::fs::read_to_string(path).map_err(|e| NodeError::io(path, e))?;
    let body: String = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    if body.is_empty() {
        return Err(key_error(path, "signing key file holds no key"));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .map_err(|e| key_error(path, format!("signing key is not base64: {e}")))?;
    let seed: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
        key_error(
            path,
            format!(
                "signing key is {} bytes; an ed25519 seed is 32 bytes",
                bytes.len()
            ),
        )
    })?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Encodes a signing key as [`load_signing_key`] reads it: base64 of the seed and a newline.
pub fn encode_signing_key(key: &SigningKey) -> String {
    let mut s = base64::engine::general_purpose::STANDARD.encode(key.to_bytes());
    s.push('\n');
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn new_key() -> SigningKey {
        SigningKey::generate(&mut rand::rngs::OsRng)
    }

    #[test]
    fn signing_key_round_trips_through_a_0600_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing.key");
        let key = new_key();
        write_private(&path, encode_signing_key(&key).as_bytes()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = load_signing_key(&path).unwrap();
        assert_eq!(back.to_bytes(), key.to_bytes());
    }

    #[test]
    fn comment_lines_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing.key");
        let key = new_key();
        let text = format!("# a comment\n\n{}", encode_signing_key(&key));
        write_private(&path, text.as_bytes()).unwrap();
        assert_eq!(load_signing_key(&path).unwrap().to_bytes(), key.to_bytes());
    }

    #[test]
    fn key_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing.key");
        write_private(&path, encode_signing_key(&new_key()).as_bytes()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_signing_key(&path).unwrap_err().to_string();
        assert!(err.contains("mode 0644"), "{err}");
        assert!(err.contains("chmod 600"), "{err}");
        assert!(err.contains("signing.key"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(check_private_mode(&path).is_err());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(check_private_mode(&path).is_ok());
    }

    #[test]
    fn existing_file_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing.key");
        write_private(&path, b"first").unwrap();
        let err = write_private(&path, b"second").unwrap_err().to_string();
        assert!(err.contains("signing.key"), "{err}");
        assert!(err.contains("refusing to overwrite"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
    }

    #[test]
    fn garbage_and_wrong_length_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.key");
        write_private(&garbage, b"not base64 at all!!\n").unwrap();
        let err = load_signing_key(&garbage).unwrap_err().to_string();
        assert!(err.contains("not base64"), "{err}");

        let short = dir.path().join("short.key");
        let text = base64::engine::general_purpose::STANDARD.encode([7u8; 16]);
        write_private(&short, text.as_bytes()).unwrap();
        let err = load_signing_key(&short).unwrap_err().to_string();
        assert!(err.contains("16 bytes"), "{err}");

        let empty = dir.path().join("empty.key");
        write_private(&empty, b"\n").unwrap();
        assert!(load_signing_key(&empty).is_err());

        let missing = dir.path().join("missing.key");
        assert!(load_signing_key(&missing).is_err());
    }
}
