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
//!
//! The versions, their signing and that check are the core's (`poc247_core::dirversion`),
//! re-exported here; this module holds what touches files: the registry's keys and CA, a
//! node's certificate issued from its request, and the version in force kept beside the store.

use crate::error::{NodeError, Result};
use crate::peers::directory::encode_public_key;
use poc247_protocol::{fingerprint, PartyId, SigningKey};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose,
};
use serde::Serialize;
use std::path::Path;

pub use poc247_core::dirversion::{
    check, check_bytes, check_registry_signature, directory_of, publish, DirectoryVersion, Refused,
    SignedEntry, SignedVersion, ENTRY_DOMAIN, MAX_VERSION_BYTES, VERSION_DOMAIN,
};

/// The registry's signing key, in its folder.
pub const REGISTRY_KEY_FILE: &str = "registry.key";
/// The network CA's private key, in the registry's folder.
pub const CA_KEY_FILE: &str = "ca.key";
/// The network CA's certificate, in the registry's folder (every node's `ca_cert`).
pub const CA_CERT_FILE: &str = "ca.pem";

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
    let params = ca_params(
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
    let params = node_params(
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

/// A network CA's certificate parameters: a CA for node certificates only (path length 0), the
/// registry's ([`init`]) and a development network's.
pub fn ca_params(
    name: &str,
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
) -> CertificateParams {
    let mut ca_params = CertificateParams::default();
    ca_params.distinguished_name.push(DnType::CommonName, name);
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.not_before = not_before;
    ca_params.not_after = not_after;
    ca_params
}

/// A node certificate's parameters: SAN `<party>.poc247`, server and client auth, as
/// [`sign_csr`] issues it and a development network's CA does.
pub fn node_params(
    party: &PartyId,
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
) -> std::result::Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(vec![party.dns_name()])?;
    params
        .distinguished_name
        .push(DnType::CommonName, party.as_str());
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    params.not_before = not_before;
    params.not_after = not_after;
    Ok(params)
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
        let r = crate::init::init(&crate::init::InitOptions {
            party: lu.clone(),
            dir: node,
            registry_key: crate::peers::directory::decode_public_key(&made.registry_key).unwrap(),
            listen: "127.0.0.1:47241".parse().unwrap(),
            ca_cert: "ca.pem".into(),
        })
        .unwrap();
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
        use base64::Engine as _;
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap()
    }
}
