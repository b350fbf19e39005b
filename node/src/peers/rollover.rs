//! A node's own keys rolled over without downtime (docs/joining.md "Rolling a key").
//!
//! `poc247 init --rotate signing` writes a new signing key beside the current one
//! (`signing.next.key`), `--rotate tls` a new TLS key and its certificate request
//! (`tls.next.key`, `tls.next.csr`); neither touches the keys in use. `poc247 directory entry`
//! lists the new key (or pin) beside the current one, the registry publishes the entry, and
//! once a version listing it is in force here the node promotes it:
//!
//! - the signing key at once, at start or when the version arrives: the store records the
//!   change in its signed key history (so every receipt and checkpoint signed before stays
//!   verifiable) and the node signs with the new key from then on; the old key file is kept as
//!   `signing.<fingerprint>.key`;
//! - the TLS key with its renewed certificate (`tls.next.crt`, from `registry sign-csr`) at
//!   the next start or reload, once the directory pins the new key.
//!
//! Each promotion replaces files by rename: a stop at any moment leaves either the old key or
//! the new one in force, never neither.

use crate::config::NodeConfig;
use crate::error::{NodeError, Result};
use crate::keys;
use crate::peers::directory::{encode_public_key, Directory};
use poc247_protocol::{fingerprint, PartyId, SigningKey, UtcMs};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The next signing key, beside the current one.
pub const NEXT_SIGNING_KEY_FILE: &str = "signing.next.key";
/// The next TLS key.
pub const NEXT_TLS_KEY_FILE: &str = "tls.next.key";
/// The next TLS key's certificate request.
pub const NEXT_CSR_FILE: &str = "tls.next.csr";
/// The next TLS key's certificate, as the registry issued it.
pub const NEXT_CERT_FILE: &str = "tls.next.crt";

/// Where the next signing key of `cfg`'s node is kept: beside its signing key.
pub fn next_signing_path(cfg: &NodeConfig) -> PathBuf {
    cfg.signing_key.with_file_name(NEXT_SIGNING_KEY_FILE)
}

/// Where the next TLS key, its request and its certificate are kept: beside the TLS key.
pub fn next_tls_paths(cfg: &NodeConfig) -> (PathBuf, PathBuf, PathBuf) {
    (
        cfg.tls_key.with_file_name(NEXT_TLS_KEY_FILE),
        cfg.tls_key.with_file_name(NEXT_CSR_FILE),
        cfg.tls_key.with_file_name(NEXT_CERT_FILE),
    )
}

/// What `init --rotate` made.
#[derive(Debug, Clone, Serialize)]
pub struct Rotation {
    /// `signing` or `tls`.
    pub what: &'static str,
    /// The files written.
    pub files: Vec<PathBuf>,
    /// The new public signing key (base64) or SPKI pin (hex), as the entry lists it.
    pub key: String,
    /// The signing key's fingerprint (signing only).
    pub fingerprint: Option<String>,
}

fn refuse_existing(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Err(NodeError::Key {
            path: path.to_path_buf(),
            message: "a next key is already there, not yet promoted: list it in the directory \
                      entry (poc247 directory entry), or move it away to make another"
                .into(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(NodeError::io(path, e)),
    }
}

/// `init --rotate signing`: a new signing key beside the current one (mode 0600).
pub fn rotate_signing(cfg: &NodeConfig) -> Result<Rotation> {
    let path = next_signing_path(cfg);
    refuse_existing(&path)?;
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    keys::write_private(&path, keys::encode_signing_key(&key).as_bytes())?;
    Ok(Rotation {
        what: "signing",
        files: vec![path],
        key: encode_public_key(&key.verifying_key()),
        fingerprint: Some(fingerprint(&key.verifying_key())),
    })
}

/// `init --rotate tls`: a new TLS key and its certificate request beside the current ones.
pub fn rotate_tls(cfg: &NodeConfig) -> Result<Rotation> {
    let (key_path, csr_path, _) = next_tls_paths(cfg);
    refuse_existing(&key_path)?;
    refuse_existing(&csr_path)?;
    let (key_pem, csr_pem, spki) = crate::init::tls_key_and_request(&cfg.party)?;
    keys::write_private(&key_path, key_pem.as_bytes())?;
    crate::store::durable::write_new(&csr_path, &csr_pem)?;
    Ok(Rotation {
        what: "tls",
        files: vec![key_path, csr_path],
        key: spki,
        fingerprint: None,
    })
}

/// The next signing key, if one was made.
pub fn next_signing_key(cfg: &NodeConfig) -> Result<Option<SigningKey>> {
    let path = next_signing_path(cfg);
    if !path.exists() {
        return Ok(None);
    }
    keys::load_signing_key(&path).map(Some)
}

/// Whether `directory` lists `key` for `party`, valid at `now`.
pub fn listed(directory: &Directory, party: &PartyId, key: &SigningKey, now: UtcMs) -> bool {
    directory
        .get(party)
        .is_some_and(|e| e.key_valid_at(&key.verifying_key(), now))
}

/// Puts the next signing key in the place of the current one on disk, keeping the current one
/// as `signing.<fingerprint>.key`.
pub fn promote_signing(cfg: &NodeConfig) -> Result<()> {
    let current_path = &cfg.signing_key;
    let current = keys::load_signing_key(current_path)?;
    let retired = current_path.with_file_name(format!(
        "signing.{}.key",
        fingerprint(&current.verifying_key()).replace(':', "")
    ));
    if !retired.exists() {
        keys::write_private(&retired, keys::encode_signing_key(&current).as_bytes())?;
    }
    let next_path = next_signing_path(cfg);
    std::fs::rename(&next_path, current_path).map_err(|e| NodeError::io(current_path, e))?;
    crate::store::durable::sync_parent(current_path).map_err(|e| NodeError::io(current_path, e))?;
    Ok(())
}

/// Puts the next TLS key and its certificate in the place of the current ones when the
/// directory pins the next key for this node at `now`; the current ones are kept with a
/// `.old` suffix. Returns whether it did.
pub fn promote_tls(cfg: &NodeConfig, directory: &Directory, now: UtcMs) -> Result<bool> {
    let (key_path, _, cert_path) = next_tls_paths(cfg);
    if !key_path.exists() || !cert_path.exists() {
        return Ok(false);
    }
    let spki = crate::init::spki_of_key_file(&key_path)?;
    let pinned = directory.get(&cfg.party).is_some_and(|e| {
        e.pins
            .iter()
            .any(|w| hex::encode(w.value) == spki && w.covers(now))
    });
    if !pinned {
        return Ok(false);
    }
    for (next, current) in [(&cert_path, &cfg.tls_cert), (&key_path, &cfg.tls_key)] {
        let old = current.with_extension(
            current
                .extension()
                .map_or("old".to_owned(), |e| format!("{}.old", e.to_string_lossy())),
        );
        if current.exists() {
            std::fs::copy(current, &old).map_err(|e| NodeError::io(&old, e))?;
        }
        std::fs::rename(next, current).map_err(|e| NodeError::io(current, e))?;
        crate::store::durable::sync_parent(current).map_err(|e| NodeError::io(current, e))?;
    }
    Ok(true)
}
