//! The network's registry and its signed directory versions.
//!
//! The secretariat keeps the network's directory-signing key (ed25519) and CA
//! (`poc247 registry init`), issues each node its certificate from the node's signing request
//! (`registry sign-csr`, with exactly the profile nodes require) and publishes numbered directory
//! versions (`registry publish`). Each Party signs its own entry with its node's signing key
//! (`poc247 directory entry`); the registry publishes entries as they were signed. A node takes a
//! version (`poc247 directory apply`) only if the registry key pinned in its `node.toml` signed
//! it, its serial is above the one in force and it names the SHA-256 of the one in force, and
//! every entry is signed by its Party: with a key the version in force lists for that Party, or,
//! for a Party joining, the key its entry lists. So a registry that altered a Party's
//! declarations is caught, and no entry can be slipped in under a listed Party's name.

use crate::error::{NodeError, Result};
use crate::peers::directory::{encode_public_key, Directory, DirectoryFile, PartyEntryFile};
use base64::Engine as _;
use poc247_protocol::{codec, fingerprint, PartyId, Signature64, SigningKey, UtcMs, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The domain of a Party's signature on its entry.
pub const ENTRY_DOMAIN: &[u8] = b"poc247/v1/directory-entry\0";
/// The domain of the registry's signature on a version.
pub const VERSION_DOMAIN: &[u8] = b"poc247/v1/directory-version\0";
/// The registry's signing key, in its folder.
pub const REGISTRY_KEY_FILE: &str = "registry.key";
/// The network CA's private key, in the registry's folder.
pub const CA_KEY_FILE: &str = "ca.key";
/// The network CA's certificate, in the registry's folder (every node's `ca_cert`).
pub const CA_CERT_FILE: &str = "ca.pem";
/// The largest version file a node reads.
pub const MAX_VERSION_BYTES: usize = 8 << 20;

/// A Party's entry, signed by that Party's node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedEntry {
    /// The entry, as the Party wrote it.
    pub entry: PartyEntryFile,
    /// The Party's signature over `ENTRY_DOMAIN || bincode(entry)`, base64.
    pub signature: String,
}

/// One version of the network's directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryVersion {
    /// Only grows.
    pub serial: u64,
    /// When the registry signed it (Unix ms).
    pub issued_at: u64,
    /// When the next version is due (Unix ms): a node warns once it has passed.
    pub next_update: u64,
    /// SHA-256 of the previous version's file, hex; `None` for the first.
    pub previous_sha256: Option<String>,
    /// The entries, as their Parties signed them.
    pub entries: Vec<SignedEntry>,
}

/// A version with the registry's signature: what `registry publish` writes and `directory
/// apply` reads (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedVersion {
    /// The version.
    pub version: DirectoryVersion,
    /// The registry's signature over `VERSION_DOMAIN || bincode(version)`, base64.
    pub signature: String,
}

fn b64(sig: &Signature64) -> String {
    base64::engine::general_purpose::STANDARD.encode(sig.0)
}

fn unb64(s: &str) -> Option<Signature64> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    Some(Signature64(<[u8; 64]>::try_from(bytes).ok()?))
}

impl SignedEntry {
    /// Signs `entry` with its Party's node key.
    pub fn sign(entry: PartyEntryFile, key: &SigningKey) -> Result<Self> {
        let bytes = codec::encode(&entry)?;
        let signature = b64(&poc247_protocol::signature::sign(key, ENTRY_DOMAIN, &bytes));
        Ok(SignedEntry { entry, signature })
    }

    /// Whether `key` signed it.
    pub fn signed_by(&self, key: &VerifyingKey) -> bool {
        let (Ok(bytes), Some(sig)) = (codec::encode(&self.entry), unb64(&self.signature)) else {
            return false;
        };
        poc247_protocol::signature::verify(key, ENTRY_DOMAIN, &bytes, &sig)
    }
}

impl SignedVersion {
    /// Reads a version file (JSON), refusing one over [`MAX_VERSION_BYTES`].
    pub fn parse(bytes: &[u8]) -> std::result::Result<Self, String> {
        if bytes.len() > MAX_VERSION_BYTES {
            return Err(format!(
                "the version is {} bytes, over the limit of {MAX_VERSION_BYTES}",
                bytes.len()
            ));
        }
        serde_json::from_slice(bytes).map_err(|e| format!("not a directory version: {e}"))
    }

    /// Its file's bytes (pretty JSON, one trailing newline).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut v = serde_json::to_vec_pretty(self)
            .map_err(|e| NodeError::Storage(format!("encoding a directory version: {e}")))?;
        v.push(b'\n');
        Ok(v)
    }

    /// The SHA-256 of its file, hex: what the next version names as previous.
    pub fn sha256(&self) -> Result<String> {
        Ok(hex::encode(Sha256::digest(self.to_bytes()?)))
    }
}

/// What the registry keeps, made by [`init`].
#[derive(Debug, Clone, Serialize)]
pub struct RegistryInit {
    /// The registry's public key, base64: pinned in every node's `node.toml`.
    pub registry_key: String,
    /// Its fingerprint.
    pub fingerprint: String,
    /// The CA certificate every node trusts.
    pub ca_cert: std::path::PathBuf,
}

fn reg_error(path: &Path, message: impl Into<String>) -> NodeError {
    NodeError::Key {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Makes the network's directory-signing key and CA in `out` (created 0700; keys 0600, never
/// overwritten).
pub fn init(out: &Path) -> Result<RegistryInit> {
    for f in [REGISTRY_KEY_FILE, CA_KEY_FILE, CA_CERT_FILE] {
        let p = out.join(f);
        if std::fs::symlink_metadata(&p).is_ok() {
            return Err(reg_error(
                &p,
                "a file is already there; refusing to overwrite the registry's keys",
            ));
        }
    }
    crate::store::durable::create_dir_all(out).map_err(|e| NodeError::io(out, e))?;
    let rc = |what: &str, e: rcgen::Error| reg_error(out, format!("{what}: {e}"));
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| rc("CA key", e))?;
    let now = time::OffsetDateTime::now_utc();
    let params = crate::devnet::ca_params(
        "poc247 network CA",
        now - time::Duration::days(1),
        now + time::Duration::days(3650),
    );
    let ca = params.self_signed(&ca_key).map_err(|e| rc("CA", e))?;
    let signing = SigningKey::generate(&mut rand::rngs::OsRng);
    crate::keys::write_private(
        &out.join(REGISTRY_KEY_FILE),
        crate::keys::encode_signing_key(&signing).as_bytes(),
    )?;
    crate::keys::write_private(&out.join(CA_KEY_FILE), ca_key.serialize_pem().as_bytes())?;
    crate::store::durable::write_new(&out.join(CA_CERT_FILE), &ca.pem())?;
    Ok(RegistryInit {
        registry_key: encode_public_key(&signing.verifying_key()),
        fingerprint: fingerprint(&signing.verifying_key()),
        ca_cert: out.join(CA_CERT_FILE),
    })
}

/// Issues `party`'s node certificate from its signing request, valid `days`, with exactly the
/// profile nodes require (SAN `<party>.poc247`, server and client authentication). A request
/// that names another name, several, or a key other than ECDSA P-256 is refused.
pub fn sign_csr(registry: &Path, csr_pem: &str, party: &PartyId, days: u32) -> Result<String> {
    let bad = |m: String| reg_error(registry, m);
    if !(1..=825).contains(&days) {
        return Err(bad(format!("--days {days}: from 1 to 825")));
    }
    let csr = rcgen::CertificateSigningRequestParams::from_pem(csr_pem)
        .map_err(|e| bad(format!("not a certificate signing request: {e}")))?;
    let want = party.dns_name();
    let names: Vec<String> = csr
        .params
        .subject_alt_names
        .iter()
        .map(|n| match n {
            rcgen::SanType::DnsName(d) => d.to_string(),
            other => format!("{other:?}"),
        })
        .collect();
    if names != [want.clone()] {
        return Err(bad(format!(
            "the request names {names:?}; a certificate for {party} names only {want:?}"
        )));
    }
    if csr.public_key.algorithm() != &rcgen::PKCS_ECDSA_P256_SHA256 {
        return Err(bad(
            "the request's key is not ECDSA P-256, the key type nodes use".into(),
        ));
    }
    let ca_key_pem = std::fs::read_to_string(registry.join(CA_KEY_FILE))
        .map_err(|e| NodeError::io(&registry.join(CA_KEY_FILE), e))?;
    let ca_key = rcgen::KeyPair::from_pem(&ca_key_pem)
        .map_err(|e| bad(format!("the CA key does not read: {e}")))?;
    let ca_pem = std::fs::read_to_string(registry.join(CA_CERT_FILE))
        .map_err(|e| NodeError::io(&registry.join(CA_CERT_FILE), e))?;
    let issuer = rcgen::Issuer::from_ca_cert_pem(&ca_pem, ca_key)
        .map_err(|e| bad(format!("the CA certificate does not read: {e}")))?;
    let now = time::OffsetDateTime::now_utc();
    let params = crate::devnet::node_params(
        party,
        now - time::Duration::days(1),
        now + time::Duration::days(i64::from(days)),
    )
    .map_err(|e| bad(format!("certificate profile: {e}")))?;
    let cert = params
        .signed_by(&csr.public_key, &issuer)
        .map_err(|e| bad(format!("issuing: {e}")))?;
    Ok(cert.pem())
}

/// Signs the next version: `entries` as their Parties signed them, after `previous` (its serial
/// + 1 and its SHA-256), due again in `next_update_days`.
pub fn publish(
    registry_key: &SigningKey,
    entries: Vec<SignedEntry>,
    previous: Option<&SignedVersion>,
    now: UtcMs,
    next_update_days: u32,
) -> Result<SignedVersion> {
    let version = DirectoryVersion {
        serial: previous.map_or(1, |p| p.version.serial + 1),
        issued_at: now.0,
        next_update: now.0 + u64::from(next_update_days) * 86_400_000,
        previous_sha256: previous.map(SignedVersion::sha256).transpose()?,
        entries,
    };
    let bytes = codec::encode(&version)?;
    let signature = b64(&poc247_protocol::signature::sign(
        registry_key,
        VERSION_DOMAIN,
        &bytes,
    ));
    Ok(SignedVersion { version, signature })
}

/// Checks `next` against the registry's key and the version in force; the directory it
/// carries, or why it is refused. Nothing is changed either way.
pub fn check(
    next: &SignedVersion,
    registry_key: &VerifyingKey,
    in_force: Option<&SignedVersion>,
) -> std::result::Result<Directory, String> {
    check_registry_signature(next, registry_key)?;
    if let Some(old) = in_force {
        if next.version.serial <= old.version.serial {
            return Err(format!(
                "version {} is not newer than version {} in force",
                next.version.serial, old.version.serial
            ));
        }
        let want = old.sha256().map_err(|e| e.to_string())?;
        if next.version.previous_sha256.as_deref() != Some(want.as_str()) {
            return Err(format!(
                "version {} does not follow version {} in force (it names {:?} as previous, \
                 not {want})",
                next.version.serial, old.version.serial, next.version.previous_sha256
            ));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for e in &next.version.entries {
        let id = &e.entry.id;
        if !seen.insert(id.clone()) {
            return Err(format!("{id} has two entries"));
        }
        // A listed Party's entry is signed with a key the version in force lists for it (any
        // of them: a Party rolling its key signs with the old one or the new one); a Party
        // joining signs with a key its entry lists.
        let listed = in_force.and_then(|old| {
            old.version
                .entries
                .iter()
                .find(|o| &o.entry.id == id)
                .map(|o| &o.entry)
        });
        let source = listed.unwrap_or(&e.entry);
        let mut keys = vec![
            crate::peers::directory::decode_public_key(&source.signing_key)
                .map_err(|m| format!("{id}'s signing key: {m}"))?,
        ];
        for k in &source.signing_keys {
            keys.push(
                crate::peers::directory::decode_public_key(&k.key)
                    .map_err(|m| format!("{id}'s signing key: {m}"))?,
            );
        }
        if !keys.iter().any(|k| e.signed_by(k)) {
            return Err(format!(
                "the entry of {id} is not signed by {} ({}): it is not as {id} signed it",
                if listed.is_some() {
                    "a key the version in force lists for it"
                } else {
                    "a key it lists"
                },
                keys.iter().map(fingerprint).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    directory_of(next)
}

/// Whether `registry_key` signed `version`: the version as the registry published it, its
/// entries included (each Party's signature on its entry was checked when it was taken).
pub fn check_registry_signature(
    version: &SignedVersion,
    registry_key: &VerifyingKey,
) -> std::result::Result<(), String> {
    let bytes = codec::encode(&version.version).map_err(|e| e.to_string())?;
    let signed = unb64(&version.signature).is_some_and(|s| {
        poc247_protocol::signature::verify(registry_key, VERSION_DOMAIN, &bytes, &s)
    });
    if !signed {
        return Err(format!(
            "version {} is not signed by the registry key pinned here ({})",
            version.version.serial,
            fingerprint(registry_key)
        ));
    }
    Ok(())
}

/// The directory a version lists.
pub fn directory_of(version: &SignedVersion) -> std::result::Result<Directory, String> {
    Directory::from_file(DirectoryFile {
        party: version
            .version
            .entries
            .iter()
            .map(|e| e.entry.clone())
            .collect(),
    })
}

/// Where the signed directory version in force is kept: beside the store.
pub fn version_path(cfg: &crate::config::NodeConfig) -> std::path::PathBuf {
    cfg.data_dir.join("directory.version.json")
}

/// The signed version in force, if one was ever applied here.
pub fn version_in_force(
    cfg: &crate::config::NodeConfig,
) -> std::result::Result<Option<SignedVersion>, String> {
    let path = version_path(cfg);
    match std::fs::read(&path) {
        Ok(b) => SignedVersion::parse(&b)
            .map(Some)
            .map_err(|m| format!("{}: {m}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn entry(id: &str, key: &SigningKey, lang: &str) -> SignedEntry {
        let e: PartyEntryFile = toml::from_str(&format!(
            "id = \"{id}\"\nname = \"{id}\"\naddresses = [\"127.0.0.1:1\"]\nsigning_key = \"{}\"\nlanguages = [\"{lang}\"]\n",
            encode_public_key(&key.verifying_key())
        ))
        .unwrap();
        SignedEntry::sign(e, key).unwrap()
    }

    #[test]
    fn the_registry_issues_the_node_profile_and_refuses_a_request_for_another_name() {
        let dir = tempfile::tempdir().unwrap();
        let reg = dir.path().join("registry");
        let made = init(&reg).unwrap();
        assert_eq!(made.fingerprint.len(), 23, "{made:?}");
        for f in [REGISTRY_KEY_FILE, CA_KEY_FILE] {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(reg.join(f)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
        assert!(init(&reg).is_err(), "never overwritten");
        let lu = PartyId::parse("LU").unwrap();
        let node = dir.path().join("lu");
        let r = crate::init::init(&lu, &node).unwrap();
        let csr = std::fs::read_to_string(&r.csr_file).unwrap();
        let pem = sign_csr(&reg, &csr, &lu, 365).unwrap();
        let der = rustls::pki_types::CertificateDer::from(pem_der(&pem));
        assert_eq!(crate::wire::tls::party_of_certificate(&der).unwrap(), lu);
        assert_eq!(
            hex::encode(crate::wire::tls::spki_sha256(&der).unwrap()),
            r.spki_sha256
        );
        // LU's request is not FR's; nor is a validity of ten years.
        let fr = PartyId::parse("FR").unwrap();
        let err = sign_csr(&reg, &csr, &fr, 365).unwrap_err().to_string();
        assert!(err.contains("fr.poc247"), "{err}");
        assert!(sign_csr(&reg, &csr, &lu, 3650).is_err());
        assert!(sign_csr(&reg, "not a request", &lu, 30).is_err());
    }

    fn pem_der(pem: &str) -> Vec<u8> {
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap()
    }

    #[test]
    fn a_version_is_taken_only_signed_newer_chained_and_as_each_party_signed_its_entry() {
        let registry = SigningKey::from_bytes(&[1; 32]);
        let (lu, fr, intruder) = (
            SigningKey::from_bytes(&[2; 32]),
            SigningKey::from_bytes(&[3; 32]),
            SigningKey::from_bytes(&[4; 32]),
        );
        let pinned = registry.verifying_key();
        let v1 = publish(&registry, vec![entry("LU", &lu, "fr")], None, UtcMs(1), 30).unwrap();
        assert!(check(&v1, &pinned, None).is_ok());
        let v2 = publish(
            &registry,
            vec![entry("LU", &lu, "fr"), entry("FR", &fr, "fr")],
            Some(&v1),
            UtcMs(2),
            30,
        )
        .unwrap();
        let d = check(&v2, &pinned, Some(&v1)).unwrap();
        assert_eq!(d.iter().count(), 2);
        // Not signed by the pinned key.
        let other = publish(
            &intruder,
            v2.version.entries.clone(),
            Some(&v1),
            UtcMs(2),
            30,
        )
        .unwrap();
        assert!(check(&other, &pinned, Some(&v1))
            .unwrap_err()
            .contains("not signed by the registry"));
        // Not newer; not chained to the version in force.
        assert!(check(&v1, &pinned, Some(&v2))
            .unwrap_err()
            .contains("not newer"));
        let mut elsewhere = v1.clone();
        elsewhere.version.issued_at = 99;
        let fork = publish(
            &registry,
            v2.version.entries.clone(),
            Some(&elsewhere),
            UtcMs(3),
            30,
        )
        .map(|mut f| {
            f.version.serial = 3;
            f
        })
        .unwrap();
        let fork = publish(
            &registry,
            fork.version.entries.clone(),
            Some(&SignedVersion {
                version: DirectoryVersion {
                    serial: 2,
                    ..elsewhere.version.clone()
                },
                ..elsewhere.clone()
            }),
            UtcMs(3),
            30,
        )
        .unwrap();
        assert!(check(&fork, &pinned, Some(&v2))
            .unwrap_err()
            .contains("does not follow"));
        // The registry alters LU's declarations: LU's signature no longer holds.
        let mut altered = entry("LU", &lu, "fr");
        altered.entry.languages = vec!["en".into()];
        let v3 = publish(
            &registry,
            vec![altered, entry("FR", &fr, "fr")],
            Some(&v2),
            UtcMs(4),
            30,
        )
        .unwrap();
        assert!(check(&v3, &pinned, Some(&v2))
            .unwrap_err()
            .contains("not as LU signed it"));
        // Nor can an intruder re-key LU with an entry signed by its own key.
        let taken = entry("LU", &intruder, "fr");
        let v3 = publish(
            &registry,
            vec![taken, entry("FR", &fr, "fr")],
            Some(&v2),
            UtcMs(4),
            30,
        )
        .unwrap();
        assert!(check(&v3, &pinned, Some(&v2)).unwrap_err().contains("LU"));
        // An oversized or malformed file.
        assert!(SignedVersion::parse(&vec![b' '; MAX_VERSION_BYTES + 1]).is_err());
        assert!(SignedVersion::parse(b"{}")
            .unwrap_err()
            .contains("not a directory version"));
    }
}
