//! The network's signed directory versions: a Party's entry signed by that Party, a numbered
//! version signed by the registry, and the check a node makes before it takes one.
//!
//! A node takes a version only if the registry key pinned in its `node.toml` signed it, its
//! serial is above the one in force and it names the SHA-256 of the one in force, and every
//! entry is signed by its Party: with a key the version in force lists for that Party, or, for
//! a Party joining, the key its entry lists. So a registry that altered a Party's declarations
//! is caught, and no entry can be slipped in under a listed Party's name.
//!
//! Signing and checking are pure: the node reads and writes the files
//! (`poc247_node::peers::registry`), and the registry's tool holds its key.

use crate::directory::{decode_public_key, Directory, DirectoryFile, PartyEntryFile};
use base64::Engine as _;
use poc247_protocol::{
    codec, fingerprint, CodecError, Signature64, SigningKey, UtcMs, VerifyingKey,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The domain of a Party's signature on its entry.
pub const ENTRY_DOMAIN: &[u8] = b"poc247/v1/directory-entry\0";
/// The domain of the registry's signature on a version.
pub const VERSION_DOMAIN: &[u8] = b"poc247/v1/directory-version\0";
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

/// Why a directory version is refused. Nothing is changed by a refusal: the version in force
/// stays.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The file is over [`MAX_VERSION_BYTES`].
    #[error("the version is {size} bytes, over the limit of {MAX_VERSION_BYTES}")]
    Oversized {
        /// Its size.
        size: usize,
    },
    /// The file is not a directory version (JSON of a [`SignedVersion`]).
    #[error("not a directory version: {0}")]
    Malformed(String),
    /// Not signed by the registry key pinned here.
    #[error("version {serial} is not signed by the registry key pinned here ({pinned})")]
    WrongSigner {
        /// The version's serial.
        serial: u64,
        /// The pinned key's fingerprint.
        pinned: String,
    },
    /// Its serial is not above the one in force.
    #[error("version {serial} is not newer than version {in_force} in force")]
    NotNewer {
        /// The version's serial.
        serial: u64,
        /// The serial in force.
        in_force: u64,
    },
    /// It does not name the SHA-256 of the version in force as its previous one.
    #[error(
        "version {serial} does not follow version {in_force} in force (it names {named:?} as \
         previous, not {want})"
    )]
    BrokenChain {
        /// The version's serial.
        serial: u64,
        /// The serial in force.
        in_force: u64,
        /// The previous version it names.
        named: Option<String>,
        /// The SHA-256 of the version in force.
        want: String,
    },
    /// A Party has two entries.
    #[error("{party} has two entries")]
    TwoEntries {
        /// The Party, as written.
        party: String,
    },
    /// A signing key of a Party is not an ed25519 public key in base64.
    #[error("{party}'s signing key: {problem}")]
    BadKey {
        /// The Party, as written.
        party: String,
        /// What is wrong with the key.
        problem: String,
    },
    /// A Party's entry is not signed by a key of that Party: it is not as the Party signed it.
    #[error(
        "the entry of {party} is not signed by {} ({}): it is not as {party} signed it",
        if *.listed { "a key the version in force lists for it" } else { "a key it lists" },
        .keys.join(", ")
    )]
    EntryNotSigned {
        /// The Party, as written.
        party: String,
        /// Whether the version in force lists the Party (its keys are the ones that count).
        listed: bool,
        /// The fingerprints of the keys that would do.
        keys: Vec<String>,
    },
    /// The directory the version carries is refused (an entry's field, a Party listed twice).
    #[error("{0}")]
    Directory(String),
    /// A version or an entry could not be encoded to check its signature.
    #[error("{0}")]
    Encode(String),
}

impl From<Refused> for String {
    fn from(r: Refused) -> String {
        r.to_string()
    }
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
    pub fn sign(entry: PartyEntryFile, key: &SigningKey) -> Result<Self, CodecError> {
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
    pub fn read(bytes: &[u8]) -> Result<Self, Refused> {
        if bytes.len() > MAX_VERSION_BYTES {
            return Err(Refused::Oversized { size: bytes.len() });
        }
        serde_json::from_slice(bytes).map_err(|e| Refused::Malformed(e.to_string()))
    }

    /// [`SignedVersion::read`], its refusal as text.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        Self::read(bytes).map_err(String::from)
    }

    /// Its file's bytes (pretty JSON, one trailing newline).
    pub fn to_bytes(&self) -> Result<Vec<u8>, CodecError> {
        let mut v = serde_json::to_vec_pretty(self)
            .map_err(|e| CodecError::Encode(format!("a directory version: {e}")))?;
        v.push(b'\n');
        Ok(v)
    }

    /// The SHA-256 of its file, hex: what the next version names as previous.
    pub fn sha256(&self) -> Result<String, CodecError> {
        Ok(hex::encode(Sha256::digest(self.to_bytes()?)))
    }
}

/// Signs the next version: `entries` as their Parties signed them, after `previous` (its serial
/// + 1 and its SHA-256), issued at `now`, due again in `next_update_days`.
pub fn publish(
    registry_key: &SigningKey,
    entries: Vec<SignedEntry>,
    previous: Option<&SignedVersion>,
    now: UtcMs,
    next_update_days: u32,
) -> Result<SignedVersion, CodecError> {
    let version = DirectoryVersion {
        serial: previous.map_or(1, |p| p.version.serial.saturating_add(1)),
        issued_at: now.0,
        next_update: now
            .0
            .saturating_add(u64::from(next_update_days).saturating_mul(86_400_000)),
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
) -> Result<Directory, Refused> {
    let serial = next.version.serial;
    check_registry_signature(next, registry_key)?;
    if let Some(old) = in_force {
        let in_force = old.version.serial;
        if serial <= in_force {
            return Err(Refused::NotNewer { serial, in_force });
        }
        let want = old.sha256().map_err(|e| Refused::Encode(e.to_string()))?;
        if next.version.previous_sha256.as_deref() != Some(want.as_str()) {
            return Err(Refused::BrokenChain {
                serial,
                in_force,
                named: next.version.previous_sha256.clone(),
                want,
            });
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for e in &next.version.entries {
        let id = &e.entry.id;
        if !seen.insert(id.clone()) {
            return Err(Refused::TwoEntries { party: id.clone() });
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
        let bad_key = |problem: String| Refused::BadKey {
            party: id.clone(),
            problem,
        };
        let mut keys = vec![decode_public_key(&source.signing_key).map_err(bad_key)?];
        for k in &source.signing_keys {
            keys.push(decode_public_key(&k.key).map_err(bad_key)?);
        }
        if !keys.iter().any(|k| e.signed_by(k)) {
            return Err(Refused::EntryNotSigned {
                party: id.clone(),
                listed: listed.is_some(),
                keys: keys.iter().map(fingerprint).collect(),
            });
        }
    }
    directory_of(next)
}

/// Whether `registry_key` signed `version`: the version as the registry published it, its
/// entries included (each Party's signature on its entry is checked, against the version
/// before, when the version is taken: [`check`]).
pub fn check_registry_signature(
    version: &SignedVersion,
    registry_key: &VerifyingKey,
) -> Result<(), Refused> {
    let bytes = codec::encode(&version.version).map_err(|e| Refused::Encode(e.to_string()))?;
    let signed = unb64(&version.signature).is_some_and(|s| {
        poc247_protocol::signature::verify(registry_key, VERSION_DOMAIN, &bytes, &s)
    });
    if !signed {
        return Err(Refused::WrongSigner {
            serial: version.version.serial,
            pinned: fingerprint(registry_key),
        });
    }
    Ok(())
}

/// The directory a version lists.
pub fn directory_of(version: &SignedVersion) -> Result<Directory, Refused> {
    Directory::from_file(DirectoryFile {
        party: version
            .version
            .entries
            .iter()
            .map(|e| e.entry.clone())
            .collect(),
    })
    .map_err(Refused::Directory)
}

/// Reads a version file and checks it ([`SignedVersion::read`], then [`check`]): the version
/// and the directory it carries, or why it is refused.
pub fn check_bytes(
    bytes: &[u8],
    registry_key: &VerifyingKey,
    in_force: Option<&SignedVersion>,
) -> Result<(SignedVersion, Directory), Refused> {
    let next = SignedVersion::read(bytes)?;
    let directory = check(&next, registry_key, in_force)?;
    Ok((next, directory))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::directory::encode_public_key;

    fn entry(id: &str, key: &SigningKey, lang: &str) -> SignedEntry {
        let e: PartyEntryFile = toml::from_str(&format!(
            "id = \"{id}\"\nname = \"{id}\"\naddresses = [\"127.0.0.1:1\"]\nsigning_key = \"{}\"\nlanguages = [\"{lang}\"]\n",
            encode_public_key(&key.verifying_key())
        ))
        .unwrap();
        SignedEntry::sign(e, key).unwrap()
    }

    /// `version` signed by `registry` as it is, whatever it says.
    fn signed(registry: &SigningKey, version: DirectoryVersion) -> SignedVersion {
        let bytes = codec::encode(&version).unwrap();
        let signature = b64(&poc247_protocol::signature::sign(
            registry,
            VERSION_DOMAIN,
            &bytes,
        ));
        SignedVersion { version, signature }
    }

    fn keys() -> (SigningKey, SigningKey, SigningKey, SigningKey) {
        (
            SigningKey::from_bytes(&[1; 32]),
            SigningKey::from_bytes(&[2; 32]),
            SigningKey::from_bytes(&[3; 32]),
            SigningKey::from_bytes(&[4; 32]),
        )
    }

    #[test]
    fn a_version_is_taken_only_signed_newer_chained_and_as_each_party_signed_its_entry() {
        let (registry, lu, fr, intruder) = keys();
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
            .to_string()
            .contains("not signed by the registry"));
        // Not newer; not chained to the version in force.
        assert!(check(&v1, &pinned, Some(&v2))
            .unwrap_err()
            .to_string()
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
            .to_string()
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
            .to_string()
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
        assert!(check(&v3, &pinned, Some(&v2))
            .unwrap_err()
            .to_string()
            .contains("LU"));
        // An oversized or malformed file.
        assert!(SignedVersion::parse(&vec![b' '; MAX_VERSION_BYTES + 1]).is_err());
        assert!(SignedVersion::parse(b"{}")
            .unwrap_err()
            .contains("not a directory version"));
    }

    #[test]
    fn a_chain_of_two_versions_is_taken_from_its_bytes() {
        let (registry, lu, fr, _) = keys();
        let pinned = registry.verifying_key();
        let v1 = publish(&registry, vec![entry("LU", &lu, "fr")], None, UtcMs(1), 30).unwrap();
        let (read, d1) = check_bytes(&v1.to_bytes().unwrap(), &pinned, None).unwrap();
        assert_eq!(read, v1);
        assert_eq!(d1.iter().count(), 1);
        let v2 = publish(
            &registry,
            vec![entry("LU", &lu, "fr"), entry("FR", &fr, "en")],
            Some(&v1),
            UtcMs(2),
            30,
        )
        .unwrap();
        assert_eq!(v2.version.serial, 2);
        assert_eq!(v2.version.previous_sha256, Some(v1.sha256().unwrap()));
        let (_, d2) = check_bytes(&v2.to_bytes().unwrap(), &pinned, Some(&v1)).unwrap();
        let ids: Vec<&str> = d2.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["FR", "LU"]);
    }

    #[test]
    fn a_version_not_signed_by_the_pinned_registry_key_is_refused() {
        let (registry, lu, _, intruder) = keys();
        let v1 = publish(&intruder, vec![entry("LU", &lu, "fr")], None, UtcMs(1), 30).unwrap();
        let err = check(&v1, &registry.verifying_key(), None).unwrap_err();
        assert_eq!(
            err,
            Refused::WrongSigner {
                serial: 1,
                pinned: fingerprint(&registry.verifying_key())
            }
        );
        // A signature that is not base64 of 64 bytes is no signature either.
        let mut garbled =
            publish(&registry, vec![entry("LU", &lu, "fr")], None, UtcMs(1), 30).unwrap();
        garbled.signature = "not base64!".into();
        assert!(matches!(
            check(&garbled, &registry.verifying_key(), None),
            Err(Refused::WrongSigner { .. })
        ));
    }

    #[test]
    fn a_version_whose_serial_is_not_above_the_one_in_force_is_refused() {
        let (registry, lu, _, _) = keys();
        let pinned = registry.verifying_key();
        let v1 = publish(&registry, vec![entry("LU", &lu, "fr")], None, UtcMs(1), 30).unwrap();
        let v2 = publish(
            &registry,
            v1.version.entries.clone(),
            Some(&v1),
            UtcMs(2),
            30,
        )
        .unwrap();
        assert_eq!(
            check(&v2, &pinned, Some(&v2)).unwrap_err(),
            Refused::NotNewer {
                serial: 2,
                in_force: 2
            }
        );
        assert_eq!(
            check(&v1, &pinned, Some(&v2)).unwrap_err(),
            Refused::NotNewer {
                serial: 1,
                in_force: 2
            }
        );
    }

    #[test]
    fn a_version_that_does_not_name_the_one_in_force_as_previous_is_refused() {
        let (registry, lu, _, _) = keys();
        let pinned = registry.verifying_key();
        let v1 = publish(&registry, vec![entry("LU", &lu, "fr")], None, UtcMs(1), 30).unwrap();
        let mut other = v1.clone();
        other.version.issued_at = 99;
        let v2 = publish(
            &registry,
            v1.version.entries.clone(),
            Some(&other),
            UtcMs(2),
            30,
        )
        .unwrap();
        match check(&v2, &pinned, Some(&v1)).unwrap_err() {
            Refused::BrokenChain {
                serial,
                in_force,
                named,
                want,
            } => {
                assert_eq!((serial, in_force), (2, 1));
                assert_eq!(named, Some(other.sha256().unwrap()));
                assert_eq!(want, v1.sha256().unwrap());
            }
            e => panic!("{e}"),
        }
        // A version that names no previous one does not follow one in force either.
        let first = signed(
            &registry,
            DirectoryVersion {
                serial: 2,
                previous_sha256: None,
                ..v1.version.clone()
            },
        );
        assert!(matches!(
            check(&first, &pinned, Some(&v1)),
            Err(Refused::BrokenChain { named: None, .. })
        ));
    }

    #[test]
    fn an_entry_its_party_did_not_sign_is_refused() {
        let (registry, lu, fr, intruder) = keys();
        let pinned = registry.verifying_key();
        // A Party joining signs with a key its entry lists.
        let mut forged = entry("FR", &fr, "fr");
        forged.signature = entry("FR", &intruder, "fr").signature;
        let v1 = publish(
            &registry,
            vec![entry("LU", &lu, "fr"), forged],
            None,
            UtcMs(1),
            30,
        )
        .unwrap();
        match check(&v1, &pinned, None).unwrap_err() {
            Refused::EntryNotSigned {
                party,
                listed,
                keys,
            } => {
                assert_eq!(party, "FR");
                assert!(!listed);
                assert_eq!(keys, [fingerprint(&fr.verifying_key())]);
            }
            e => panic!("{e}"),
        }
        // A listed Party's entry is signed with a key the version in force lists for it.
        let v1 = publish(&registry, vec![entry("LU", &lu, "fr")], None, UtcMs(1), 30).unwrap();
        let v2 = publish(
            &registry,
            vec![entry("LU", &intruder, "fr")],
            Some(&v1),
            UtcMs(2),
            30,
        )
        .unwrap();
        let err = check(&v2, &pinned, Some(&v1)).unwrap_err();
        assert!(
            matches!(&err, Refused::EntryNotSigned { party, listed: true, .. } if party == "LU"),
            "{err}"
        );
        assert!(err
            .to_string()
            .contains("a key the version in force lists for it"));
    }

    #[test]
    fn a_version_with_two_entries_for_a_party_or_a_bad_key_is_refused() {
        let (registry, lu, _, _) = keys();
        let pinned = registry.verifying_key();
        let twice = publish(
            &registry,
            vec![entry("LU", &lu, "fr"), entry("LU", &lu, "fr")],
            None,
            UtcMs(1),
            30,
        )
        .unwrap();
        assert_eq!(
            check(&twice, &pinned, None).unwrap_err(),
            Refused::TwoEntries { party: "LU".into() }
        );
        let mut e = entry("LU", &lu, "fr").entry;
        e.signing_key = "not-a-key".into();
        let bad = publish(
            &registry,
            vec![SignedEntry::sign(e, &lu).unwrap()],
            None,
            UtcMs(1),
            30,
        )
        .unwrap();
        let err = check(&bad, &pinned, None).unwrap_err();
        assert!(
            matches!(&err, Refused::BadKey { party, .. } if party == "LU"),
            "{err}"
        );
        assert!(err
            .to_string()
            .starts_with("LU's signing key: is not base64"));
        // Signed as it was written, but the directory it carries is refused (no addresses).
        let mut e = entry("LU", &lu, "fr").entry;
        e.addresses.clear();
        let empty = publish(
            &registry,
            vec![SignedEntry::sign(e, &lu).unwrap()],
            None,
            UtcMs(1),
            30,
        )
        .unwrap();
        assert_eq!(
            check(&empty, &pinned, None).unwrap_err(),
            Refused::Directory("party #1 (LU): no addresses".into())
        );
    }

    #[test]
    fn an_oversized_or_malformed_file_is_refused_with_what_is_wrong() {
        let (registry, _, _, _) = keys();
        let pinned = registry.verifying_key();
        let big = vec![b' '; MAX_VERSION_BYTES + 1];
        assert_eq!(
            check_bytes(&big, &pinned, None).unwrap_err(),
            Refused::Oversized {
                size: MAX_VERSION_BYTES + 1
            }
        );
        for bad in [
            &b"{}"[..],
            b"not json",
            b"",
            b"{\"version\": 1, \"signature\": \"\"}",
        ] {
            let err = check_bytes(bad, &pinned, None).unwrap_err();
            assert!(matches!(err, Refused::Malformed(_)), "{err}");
            assert!(
                err.to_string().starts_with("not a directory version: "),
                "{err}"
            );
        }
    }
}
