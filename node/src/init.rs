//! `poc247 init`: a new node's keys, its certificate signing request and its configuration.
//! Creates, in the node's folder, the ed25519 signing key and the TLS key (both mode 0600), a
//! PKCS#10 request for the network CA naming `<party>.poc247`, and `node.toml` with the
//! network registry's key pinned (none of them ever overwritten), and returns what the Party's
//! administrator checks: the public signing key, its fingerprint, and the SHA-256 of the TLS
//! key's SubjectPublicKeyInfo (the SPKI pin), which `poc247 directory entry` later signs.

use crate::error::{NodeError, Result};
use crate::keys;
use crate::peers::directory::encode_public_key;
use ed25519_dalek::SigningKey;
use poc247_protocol::{fingerprint, PartyId};
use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// File name of the signing key in the data folder.
pub const SIGNING_KEY_FILE: &str = "signing.key";
/// File name of the TLS key in the data folder.
pub const TLS_KEY_FILE: &str = "tls.key";
/// File name of the certificate signing request in the data folder.
pub const CSR_FILE: &str = "tls.csr";
/// File name of the configuration `init` writes beside the keys.
pub const CONFIG_FILE: &str = "node.toml";
/// Where a node listens unless `init` is told otherwise (UDP, QUIC).
pub const DEFAULT_LISTEN: &str = "0.0.0.0:47241";

/// What `init` is asked to make.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The node's party.
    pub party: PartyId,
    /// The node's folder: keys, request and `node.toml`; the store goes in `data/` inside it.
    pub dir: PathBuf,
    /// The network registry's public key, pinned in `node.toml`.
    pub registry_key: ed25519_dalek::VerifyingKey,
    /// The UDP address the node listens on for peers.
    pub listen: SocketAddr,
    /// The network CA's certificate as `node.toml` names it (relative to the node's folder
    /// unless absolute; `ca.pem` by default).
    pub ca_cert: PathBuf,
}

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
    /// The node's configuration, the registry key pinned.
    pub config_file: PathBuf,
    /// The registry key pinned, its fingerprint.
    pub registry_fingerprint: String,
    /// The certificate `node.toml` expects from the network CA (`tls.pem` beside the key).
    pub tls_cert_file: PathBuf,
    /// The network CA's certificate `node.toml` names.
    pub ca_cert_file: PathBuf,
    /// The ed25519 public key, base64, as a directory entry lists it.
    pub signing_key: String,
    /// Its fingerprint (first 8 bytes of its SHA-256, as the node shows it).
    pub fingerprint: String,
    /// SHA-256 of the TLS key's SubjectPublicKeyInfo, hex (`spki_sha256 = "…"`).
    pub spki_sha256: String,
}

fn init_error(path: &Path, message: impl Into<String>) -> NodeError {
    NodeError::Key {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Creates the keys, the certificate signing request and the configuration of a node in
/// `opts.dir` (created if absent, mode 0700).
///
/// Refuses, before writing anything, when any of the four files is already there: an
/// existing key or configuration is never overwritten.
pub fn init(opts: &InitOptions) -> Result<Registration> {
    let party = &opts.party;
    let dir = opts.dir.as_path();
    let signing_path = dir.join(SIGNING_KEY_FILE);
    let tls_path = dir.join(TLS_KEY_FILE);
    let csr_path = dir.join(CSR_FILE);
    let config_path = dir.join(CONFIG_FILE);
    for path in [&signing_path, &tls_path, &csr_path, &config_path] {
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
    let Some(ca_cert) = opts.ca_cert.to_str() else {
        return Err(init_error(
            &opts.ca_cert,
            "the CA certificate's path is not UTF-8, so node.toml cannot name it",
        ));
    };
    let config = node_toml(opts, ca_cert)?;
    create_private_dir(dir)?;

    let dns_name = party.dns_name();
    let (tls_pem, csr_pem, spki) = tls_key_and_request(party)?;

    let signing = SigningKey::generate(&mut rand::rngs::OsRng);
    keys::write_private(&signing_path, keys::encode_signing_key(&signing).as_bytes())?;
    keys::write_private(&tls_path, tls_pem.as_bytes())?;
    crate::store::durable::write_new(&csr_path, &csr_pem)?;
    crate::store::durable::write_new(&config_path, &config)?;

    let verifying = signing.verifying_key();
    Ok(Registration {
        party: party.clone(),
        dns_name,
        signing_key_file: signing_path,
        tls_key_file: tls_path,
        csr_file: csr_path,
        config_file: config_path,
        registry_fingerprint: fingerprint(&opts.registry_key),
        tls_cert_file: dir.join(TLS_CERT_FILE),
        ca_cert_file: dir.join(&opts.ca_cert),
        signing_key: encode_public_key(&verifying),
        fingerprint: fingerprint(&verifying),
        spki_sha256: spki,
    })
}

/// File name of the node's certificate `node.toml` names, beside its key.
pub const TLS_CERT_FILE: &str = "tls.pem";

/// The settings every `node.toml` must give, as `init` and the development network write
/// them (paths relative to the file's folder); every other setting is left at its default
/// (docs/configuration.md).
#[derive(Debug, Clone, Serialize)]
pub struct RequiredSettings<'a> {
    /// `party`.
    pub party: &'a str,
    /// `dev`: a development node (written only when true).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dev: bool,
    /// `listen`.
    pub listen: SocketAddr,
    /// `data_dir`.
    pub data_dir: &'a str,
    /// `directory`: the copy of the directory in force, for reading.
    pub directory: &'a str,
    /// `ca_cert`.
    pub ca_cert: &'a str,
    /// `tls_cert`.
    pub tls_cert: &'a str,
    /// `tls_key`.
    pub tls_key: &'a str,
    /// `signing_key`.
    pub signing_key: &'a str,
    /// `registry_key`, base64.
    pub registry_key: &'a str,
}

impl RequiredSettings<'_> {
    /// The settings as TOML.
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| NodeError::Config {
            file: PathBuf::from(CONFIG_FILE),
            message: e.to_string(),
        })
    }
}

/// The `node.toml` `init` writes: the required settings, the registry key pinned, the files
/// named as `init` made them (the certificate and the CA's as the administrator installs
/// them). `ca_cert` is UTF-8 (checked by [`init`]).
fn node_toml(opts: &InitOptions, ca_cert: &str) -> Result<String> {
    let registry_key = encode_public_key(&opts.registry_key);
    let settings = RequiredSettings {
        party: opts.party.as_str(),
        dev: false,
        listen: opts.listen,
        data_dir: "data",
        directory: "directory.toml",
        ca_cert,
        tls_cert: TLS_CERT_FILE,
        tls_key: TLS_KEY_FILE,
        signing_key: SIGNING_KEY_FILE,
        registry_key: &registry_key,
    };
    Ok(format!(
        "# The configuration of {}'s poc247 node, written by `poc247 init`. Paths are relative\n\
         # to this file's folder; `directory` is a copy of the directory in force, for reading;\n\
         # the node takes its directory only from versions `registry_key` signed.\n\
         # docs/configuration.md lists every other setting.\n{}",
        opts.party,
        settings.to_toml()?
    ))
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

    fn registry() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    fn opts(dir: &Path) -> InitOptions {
        InitOptions {
            party: lu(),
            dir: dir.to_path_buf(),
            registry_key: registry().verifying_key(),
            listen: "127.0.0.1:47241".parse().unwrap(),
            ca_cert: PathBuf::from("ca.pem"),
        }
    }

    #[test]
    fn init_writes_0600_keys_and_a_request_for_the_party_name() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let r = init(&opts(&data)).unwrap();
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

        // node.toml is a configuration the node reads: the registry key pinned, the files
        // named as init made them, the certificates where the administrator puts them.
        assert_eq!(r.config_file, data.join("node.toml"));
        std::fs::write(data.join("tls.pem"), "").unwrap();
        std::fs::write(data.join("ca.pem"), "").unwrap();
        let text = std::fs::read_to_string(&r.config_file).unwrap();
        let cfg = crate::config::NodeConfig::from_toml(&text, &data).unwrap();
        assert_eq!(cfg.party, lu());
        assert_eq!(cfg.registry_key, registry().verifying_key());
        assert_eq!(cfg.listen, "127.0.0.1:47241".parse().unwrap());
        assert_eq!(cfg.signing_key, r.signing_key_file);
        assert_eq!(cfg.tls_key, r.tls_key_file);
        assert_eq!(cfg.tls_cert, r.tls_cert_file);
        assert_eq!(cfg.ca_cert, r.ca_cert_file);
        assert_eq!(cfg.data_dir, data.join("data"));
        assert_eq!(
            r.registry_fingerprint,
            fingerprint(&registry().verifying_key())
        );
    }

    #[test]
    fn a_certificate_issued_for_the_request_carries_the_pinned_key() {
        let dir = tempfile::tempdir().unwrap();
        let r = init(&opts(dir.path())).unwrap();
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
        let first = init(&opts(dir.path())).unwrap();
        let before = std::fs::read(&first.signing_key_file).unwrap();
        let err = init(&opts(dir.path())).unwrap_err().to_string();
        assert!(err.contains("signing.key"), "{err}");
        assert!(err.contains("refusing to overwrite"), "{err}");
        assert_eq!(std::fs::read(&first.signing_key_file).unwrap(), before);

        // One file alone is enough to refuse, and nothing else is written.
        let other = tempfile::tempdir().unwrap();
        std::fs::write(other.path().join(CSR_FILE), "old").unwrap();
        let err = init(&opts(other.path())).unwrap_err().to_string();
        assert!(err.contains("tls.csr"), "{err}");
        assert!(!other.path().join(SIGNING_KEY_FILE).exists());
        assert!(!other.path().join(TLS_KEY_FILE).exists());
        assert!(!other.path().join(CONFIG_FILE).exists());

        // A configuration already there is never overwritten either, and no key is made.
        let third = tempfile::tempdir().unwrap();
        std::fs::write(third.path().join(CONFIG_FILE), "party = \"LU\"").unwrap();
        let err = init(&opts(third.path())).unwrap_err().to_string();
        assert!(err.contains("node.toml"), "{err}");
        assert!(!third.path().join(SIGNING_KEY_FILE).exists());
        assert_eq!(
            std::fs::read_to_string(third.path().join(CONFIG_FILE)).unwrap(),
            "party = \"LU\""
        );
    }
}
