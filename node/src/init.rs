//! `poc247 init`: a new node's keys and its certificate signing request. Creates, in the data
//! folder, the ed25519 signing key and the TLS key (both mode 0600, never overwritten) and a
//! PKCS#10 request for the network CA naming `<party>.poc247`, and returns what the Party
//! submits to the network's registry: the public signing key as `directory.toml` writes it,
//! its fingerprint, and the SHA-256 of the TLS key's SubjectPublicKeyInfo (the SPKI pin).

use crate::error::{NodeError, Result};
use crate::keys;
use crate::peers::directory::encode_public_key;
use ed25519_dalek::SigningKey;
use poc247_protocol::{fingerprint, PartyId};
use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};

/// File name of the signing key in the data folder.
pub const SIGNING_KEY_FILE: &str = "signing.key";
/// File name of the TLS key in the data folder.
pub const TLS_KEY_FILE: &str = "tls.key";
/// File name of the certificate signing request in the data folder.
pub const CSR_FILE: &str = "tls.csr";

/// What `init` made, and what the Party submits to the registry.
#[derive(Debug, Clone, Serialize)]
pub struct Registration {
    /// The party.
    pub party: PartyId,
    /// The DNS name the CA must certify (`lu.poc247`).
    pub dns_name: String,
    /// The ed25519 signing key (mode 0600).
    pub signing_key_file: PathBuf,
    /// The TLS private key, ECDSA P-256, PKCS#8 PEM (mode 0600).
    pub tls_key_file: PathBuf,
    /// The certificate signing request for the network CA (PEM).
    pub csr_file: PathBuf,
    /// The ed25519 public key, base64, as `directory.toml` writes it (`signing_key = "…"`).
    pub signing_key: String,
    /// Its fingerprint (first 8 bytes of its SHA-256, as the node shows it).
    pub fingerprint: String,
    /// SHA-256 of the TLS key's SubjectPublicKeyInfo, hex (`spki_sha256 = "…"`).
    pub spki_sha256: String,
}

impl Registration {
    /// The `[[party]]` entry of `directory.toml` for this node, with what only the registry
    /// knows left as placeholders (name, addresses, declarations).
    pub fn directory_entry(&self) -> String {
        format!(
            "[[party]]\nid = \"{party}\"\nname = \"{party} — 24/7 point of contact\"\n\
             addresses = [\"<host>:<port>\"]\nsigning_key = \"{key}\"\nspki_sha256 = \"{spki}\"\n",
            party = self.party,
            key = self.signing_key,
            spki = self.spki_sha256,
        )
    }
}

fn init_error(path: &Path, message: impl Into<String>) -> NodeError {
    NodeError::Key {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Creates the keys and the certificate signing request of `party`'s node in `dir` (created
/// if absent, mode 0700).
///
/// Refuses, before writing anything, when any of the three files is already there: an
/// existing key is never overwritten.
pub fn init(party: &PartyId, dir: &Path) -> Result<Registration> {
    let signing_path = dir.join(SIGNING_KEY_FILE);
    let tls_path = dir.join(TLS_KEY_FILE);
    let csr_path = dir.join(CSR_FILE);
    for path in [&signing_path, &tls_path, &csr_path] {
        match std::fs::symlink_metadata(path) {
            Ok(_) => {
                return Err(init_error(
                    path,
                    "a file is already there; refusing to overwrite a node's keys \
                     (move it away first if you really mean to make new ones)",
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(NodeError::io(path, e)),
        }
    }
    create_private_dir(dir)?;

    let dns_name = party.dns_name();
    let (tls_pem, csr_pem, spki) = tls_key_and_request(party)?;

    let signing = SigningKey::generate(&mut rand::rngs::OsRng);
    keys::write_private(&signing_path, keys::encode_signing_key(&signing).as_bytes())?;
    keys::write_private(&tls_path, tls_pem.as_bytes())?;
    crate::store::durable::write_new(&csr_path, &csr_pem)?;

    let verifying = signing.verifying_key();
    Ok(Registration {
        party: party.clone(),
        dns_name,
        signing_key_file: signing_path,
        tls_key_file: tls_path,
        csr_file: csr_path,
        signing_key: encode_public_key(&verifying),
        fingerprint: fingerprint(&verifying),
        spki_sha256: spki,
    })
}

/// A new TLS key of `party`'s node (ECDSA P-256, PKCS#8 PEM), its certificate signing request
/// for the network CA (PEM: `<party>.poc247`, server and client auth) and its SPKI pin (hex).
pub fn tls_key_and_request(party: &PartyId) -> Result<(String, String, String)> {
    let rc = |what: &str, e: rcgen::Error| NodeError::Key {
        path: PathBuf::from(party.dns_name()),
        message: format!("{what}: {e}"),
    };
    let tls_key =
        KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| rc("TLS key", e))?;
    let mut params = CertificateParams::new(vec![party.dns_name()]).map_err(|e| rc("name", e))?;
    params
        .distinguished_name
        .push(DnType::CommonName, party.as_str());
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let csr = params
        .serialize_request(&tls_key)
        .map_err(|e| rc("certificate signing request", e))?;
    let csr_pem = csr
        .pem()
        .map_err(|e| rc("certificate signing request", e))?;
    let spki = Sha256::digest(rcgen::PublicKeyData::subject_public_key_info(&tls_key));
    Ok((tls_key.serialize_pem(), csr_pem, hex::encode(spki)))
}

/// The SHA-256 of the SubjectPublicKeyInfo of the TLS key in `path` (PEM), hex: the pin a
/// directory entry lists.
pub fn spki_of_key_file(path: &Path) -> Result<String> {
    let pem = std::fs::read_to_string(path).map_err(|e| NodeError::io(path, e))?;
    let key =
        KeyPair::from_pem(&pem).map_err(|e| init_error(path, format!("not a PEM key: {e}")))?;
    Ok(hex::encode(Sha256::digest(
        rcgen::PublicKeyData::subject_public_key_info(&key),
    )))
}

/// Creates `dir` (and its parents) with mode 0700 if it does not exist.
fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| NodeError::io(dir, e))?;
    crate::store::durable::sync_parent(dir).map_err(|e| NodeError::io(dir, e))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wire::tls;
    use base64::Engine as _;
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateSigningRequestDer, PrivateKeyDer};
    use std::os::unix::fs::PermissionsExt as _;
    use x509_parser::prelude::FromDer as _;

    fn lu() -> PartyId {
        PartyId::parse("LU").unwrap()
    }

    #[test]
    fn init_writes_0600_keys_and_a_request_for_the_party_name() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let r = init(&lu(), &data).unwrap();
        assert_eq!(r.dns_name, "lu.poc247");
        for f in [&r.signing_key_file, &r.tls_key_file] {
            let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", f.display());
        }
        let dir_mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);

        // The signing key loads, and the public key printed is its own.
        let signing = keys::load_signing_key(&r.signing_key_file).unwrap();
        assert_eq!(r.signing_key, encode_public_key(&signing.verifying_key()));
        assert_eq!(r.fingerprint, fingerprint(&signing.verifying_key()));
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&r.signing_key)
            .unwrap();
        assert_eq!(raw.len(), 32);

        // The TLS key is PKCS#8 PEM that rustls reads.
        PrivateKeyDer::from_pem_file(&r.tls_key_file).unwrap();

        // The request names lu.poc247, carries the TLS key, and its SPKI hash is the pin.
        let csr = CertificateSigningRequestDer::from_pem_file(&r.csr_file).unwrap();
        let (_, parsed) =
            x509_parser::certification_request::X509CertificationRequest::from_der(csr.as_ref())
                .unwrap();
        let spki = Sha256::digest(parsed.certification_request_info.subject_pki.raw);
        assert_eq!(r.spki_sha256, hex::encode(spki));
        let names: Vec<String> = parsed
            .requested_extensions()
            .into_iter()
            .flatten()
            .filter_map(|e| match e {
                x509_parser::extensions::ParsedExtension::SubjectAlternativeName(san) => Some(
                    san.general_names
                        .iter()
                        .map(|g| g.to_string())
                        .collect::<Vec<_>>(),
                ),
                _ => None,
            })
            .flatten()
            .collect();
        assert!(names.iter().any(|n| n.contains("lu.poc247")), "{names:?}");

        // What goes into directory.toml parses as a directory once the addresses are filled.
        let entry = r
            .directory_entry()
            .replace("<host>:<port>", "lu.example.org:47241");
        let d = crate::peers::directory::Directory::from_toml(&entry).unwrap();
        let e = d.get(&lu()).unwrap();
        assert_eq!(e.signing_key, signing.verifying_key());
        assert_eq!(e.spki_sha256.map(hex::encode), Some(r.spki_sha256.clone()));
    }

    #[test]
    fn a_certificate_issued_for_the_request_carries_the_pinned_key() {
        let dir = tempfile::tempdir().unwrap();
        let r = init(&lu(), dir.path()).unwrap();
        // The CA signs a certificate for the requested key: its SPKI hash is the one printed.
        let key_pem = std::fs::read_to_string(&r.tls_key_file).unwrap();
        let key = KeyPair::from_pem(&key_pem).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let ca = rcgen::Issuer::new(CertificateParams::default(), ca_key);
        let params = CertificateParams::new(vec![r.dns_name.clone()]).unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        let spki = tls::spki_sha256(cert.der()).unwrap();
        assert_eq!(hex::encode(spki), r.spki_sha256);
        assert_eq!(tls::party_of_certificate(cert.der()).unwrap(), lu());
    }

    #[test]
    fn existing_keys_are_never_overwritten_and_the_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let first = init(&lu(), dir.path()).unwrap();
        let before = std::fs::read(&first.signing_key_file).unwrap();
        let err = init(&lu(), dir.path()).unwrap_err().to_string();
        assert!(err.contains("signing.key"), "{err}");
        assert!(err.contains("refusing to overwrite"), "{err}");
        assert_eq!(std::fs::read(&first.signing_key_file).unwrap(), before);

        // One file alone is enough to refuse, and nothing else is written.
        let other = tempfile::tempdir().unwrap();
        std::fs::write(other.path().join(CSR_FILE), "old").unwrap();
        let err = init(&lu(), other.path()).unwrap_err().to_string();
        assert!(err.contains("tls.csr"), "{err}");
        assert!(!other.path().join(SIGNING_KEY_FILE).exists());
        assert!(!other.path().join(TLS_KEY_FILE).exists());
    }
}
