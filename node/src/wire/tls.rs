//! TLS and QUIC setup from the node's files: the network CA, the node's certificate and key,
//! mutual TLS 1.3 with the ring provider, and the mapping of a peer's certificate to its
//! [`PartyId`].

use crate::config::NodeConfig;
use crate::error::{NodeError, Result};
use crate::keys;
use poc247_protocol::ids::DNS_SUFFIX;
use poc247_protocol::{PartyId, ALPN};
use rustls::client::danger::ServerCertVerifier as _;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::RootCertStore;
use sha2::{Digest as _, Sha256};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

/// The subject Organization of the development CA. A CA whose subject carries it is accepted
/// only by a node configured with `dev = true`.
pub const DEV_CA_MARKER: &str = "poc247 development network - not for service";

/// How often an idle connection is kept alive.
const KEEP_ALIVE: Duration = Duration::from_secs(5);
/// Bytes a peer may send on one connection before this node has read them (QUIC flow
/// control). The node copies what it reads into its own buffers, so this alone does not bound
/// what a peer can make it hold: that is `[limits] max_buffered_bytes_per_peer` (frames being
/// read, all of a peer's streams together) and `max_connections_per_peer`.
const CONNECTION_RECEIVE_WINDOW: u32 = 16 << 20;
/// How long a connection may stay silent before it is closed.
const IDLE_TIMEOUT_MS: u32 = 30_000;

/// The node's TLS material, read and checked.
#[derive(Debug)]
pub struct TlsMaterial {
    /// The network CA certificate: the only trust anchor, for servers and clients alike.
    pub ca: CertificateDer<'static>,
    /// The node's certificate chain, its own certificate first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The node's TLS private key.
    pub key: PrivateKeyDer<'static>,
    /// The CA is the development CA (its subject carries [`DEV_CA_MARKER`]).
    pub ca_is_dev: bool,
}

impl Clone for TlsMaterial {
    fn clone(&self) -> Self {
        TlsMaterial {
            ca: self.ca.clone(),
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            ca_is_dev: self.ca_is_dev,
        }
    }
}

/// The crypto provider every configuration uses: ring, never the process default.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn key_error(path: &Path, message: impl Into<String>) -> NodeError {
    NodeError::Key {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn transport_error(what: &str, e: impl std::fmt::Display) -> NodeError {
    NodeError::Transport(format!("{what}: {e}"))
}

fn parse_cert<'a>(cert: &'a CertificateDer<'_>) -> Result<X509Certificate<'a>> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| NodeError::Transport(format!("certificate does not parse: {e}")))?;
    Ok(parsed)
}

fn roots(ca: &CertificateDer<'static>) -> Result<Arc<RootCertStore>> {
    let mut roots = RootCertStore::empty();
    roots
        .add(ca.clone())
        .map_err(|e| transport_error("network CA is not a usable trust anchor", e))?;
    Ok(Arc::new(roots))
}

/// Whether a certificate's subject Organization carries [`DEV_CA_MARKER`].
pub fn is_dev_ca(cert: &CertificateDer) -> Result<bool> {
    let parsed = parse_cert(cert)?;
    let dev = parsed
        .subject()
        .iter_organization()
        .filter_map(|o| o.as_str().ok())
        .any(|o| o.contains(DEV_CA_MARKER));
    Ok(dev)
}

/// Reads and checks the node's CA certificate, certificate chain and TLS key.
///
/// Refuses the development CA unless `cfg.dev` is true, a key file readable by group or
/// others, a key that does not match the certificate, a certificate without the SAN
/// `cfg.party.dns_name()`, and a certificate the CA did not issue (or that has expired).
pub fn load(cfg: &NodeConfig) -> Result<TlsMaterial> {
    let ca_path = &cfg.ca_cert;
    let mut cas = CertificateDer::pem_file_iter(ca_path)
        .map_err(|e| key_error(ca_path, format!("cannot read CA certificate: {e}")))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| key_error(ca_path, format!("CA certificate is not valid PEM: {e}")))?;
    let ca = match cas.len() {
        1 => cas.remove(0),
        0 => return Err(key_error(ca_path, "no certificate in the CA file")),
        n => {
            return Err(key_error(
                ca_path,
                format!("{n} certificates in the CA file; expected the network CA only"),
            ))
        }
    };
    let ca_is_dev = is_dev_ca(&ca).map_err(|e| key_error(ca_path, e.to_string()))?;
    if ca_is_dev && !cfg.dev {
        return Err(key_error(
            ca_path,
            "this is the development CA (its key is public); it is accepted only with \
             `dev = true` in node.toml, never in service",
        ));
    }

    let cert_path = &cfg.tls_cert;
    let chain = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| key_error(cert_path, format!("cannot read certificate: {e}")))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| key_error(cert_path, format!("certificate is not valid PEM: {e}")))?;
    let Some(end_entity) = chain.first() else {
        return Err(key_error(cert_path, "no certificate in the file"));
    };
    let expected = cfg.party.dns_name();
    let names = dns_names(end_entity).map_err(|e| key_error(cert_path, e.to_string()))?;
    if !names.iter().any(|n| n == &expected) {
        return Err(key_error(
            cert_path,
            format!(
                "certificate does not carry the name {expected} of party {} (it names: {})",
                cfg.party,
                if names.is_empty() {
                    "nothing".to_owned()
                } else {
                    names.join(", ")
                }
            ),
        ));
    }
    match party_of_certificate(end_entity) {
        Ok(p) if p == cfg.party => {}
        Ok(p) => {
            return Err(key_error(
                cert_path,
                format!("certificate names party {p}, not {}", cfg.party),
            ))
        }
        Err(e) => return Err(key_error(cert_path, e.to_string())),
    }

    let key_path = &cfg.tls_key;
    keys::check_private_mode(key_path)?;
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|e| key_error(key_path, format!("TLS key is not a PEM private key: {e}")))?;

    let provider = provider();
    rustls::sign::CertifiedKey::from_der(chain.clone(), key.clone_key(), &provider).map_err(
        |e| {
            key_error(
                key_path,
                format!("TLS key does not fit {}: {e}", cert_path.display()),
            )
        },
    )?;

    // The CA must have issued the certificate, for both roles the node plays.
    let roots = roots(&ca).map_err(|e| key_error(ca_path, e.to_string()))?;
    let now = UnixTime::now();
    let server_name = ServerName::try_from(expected.clone())
        .map_err(|e| key_error(cert_path, format!("bad name {expected}: {e}")))?;
    let server_verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        roots.clone(),
        provider.clone(),
    )
    .build()
    .map_err(|e| key_error(ca_path, format!("cannot build a verifier: {e}")))?;
    server_verifier
        .verify_server_cert(end_entity, &chain[1..], &server_name, &[], now)
        .map_err(|e| {
            key_error(
                cert_path,
                format!(
                    "certificate is not valid as a server certificate under {}: {e} \
                     (was it issued by that CA, and is it still valid?)",
                    ca_path.display()
                ),
            )
        })?;
    let client_verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(|e| key_error(ca_path, format!("cannot build a verifier: {e}")))?;
    client_verifier
        .verify_client_cert(end_entity, &chain[1..], now)
        .map_err(|e| {
            key_error(
                cert_path,
                format!(
                    "certificate is not valid as a client certificate under {}: {e} \
                     (was it issued by that CA, and is it still valid?)",
                    ca_path.display()
                ),
            )
        })?;

    Ok(TlsMaterial {
        ca,
        chain,
        key,
        ca_is_dev,
    })
}

/// The node's QUIC endpoint configuration. Its stateless-reset key and the key that marks its
/// connection IDs are derived from its TLS private key, so they are the same after a restart:
/// a peer whose connection this node lost in a crash then has its next packet answered with a
/// reset it can verify, and reconnects at once instead of waiting for an answer until a
/// timeout. (quinn draws both keys at random at each start by default; the new process then
/// drops the peer's packets as carrying unknown connection IDs, silently.)
pub fn endpoint_config(m: &TlsMaterial) -> quinn::EndpointConfig {
    use sha2::Digest;
    let derive = |label: &[u8]| -> [u8; 32] {
        let mut h = sha2::Sha256::new();
        h.update(label);
        h.update(m.key.secret_der());
        h.finalize().into()
    };
    let reset = derive(b"poc247/v1/quic-stateless-reset\0");
    let cid = derive(b"poc247/v1/quic-connection-id\0");
    let mut cid_key = [0u8; 8];
    cid_key.copy_from_slice(cid.get(..8).unwrap_or(&[0; 8]));
    let cid_key = u64::from_le_bytes(cid_key);
    let mut config = quinn::EndpointConfig::new(Arc::new(ring::hmac::Key::new(
        ring::hmac::HMAC_SHA256,
        &reset,
    )));
    config.cid_generator(move || {
        Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(cid_key))
    });
    config
}

fn transport_config(max_bidi: Option<u32>) -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    if let Some(n) = max_bidi {
        t.max_concurrent_bidi_streams(quinn::VarInt::from_u32(n));
    }
    t.max_concurrent_uni_streams(quinn::VarInt::from_u32(0));
    // What a peer may have in flight to this node on one connection, all streams together
    // (quinn's default is unbounded: 1.25 MB per stream times every stream allowed).
    t.receive_window(quinn::VarInt::from_u32(CONNECTION_RECEIVE_WINDOW));
    t.keep_alive_interval(Some(KEEP_ALIVE));
    t.max_idle_timeout(Some(quinn::IdleTimeout::from(quinn::VarInt::from_u32(
        IDLE_TIMEOUT_MS,
    ))));
    Arc::new(t)
}

/// The QUIC server configuration: TLS 1.3 only, a client certificate from the network CA
/// required, ALPN `poc247/1`, at most `max_streams` concurrent bidirectional streams per
/// connection and no unidirectional ones.
pub fn server_config(m: &TlsMaterial, max_streams: u32) -> Result<quinn::ServerConfig> {
    let provider = provider();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        roots(&m.ca)?,
        provider.clone(),
    )
    .build()
    .map_err(|e| transport_error("client verifier", e))?;
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| transport_error("TLS versions", e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(m.chain.clone(), m.key.clone_key())
        .map_err(|e| transport_error("server certificate", e))?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .map_err(|e| transport_error("QUIC server TLS", e))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(quic));
    config.transport_config(transport_config(Some(max_streams)));
    Ok(config)
}

/// The QUIC client configuration: TLS 1.3 only, the network CA as the only root, the node's
/// certificate as client certificate, ALPN `poc247/1`.
///
/// Connect with the server name `peer.dns_name()` (`fr.poc247`): the standard WebPKI check
/// then also checks the peer certificate's SAN.
pub fn client_config(m: &TlsMaterial, max_streams: u32) -> Result<quinn::ClientConfig> {
    let roots = roots(&m.ca)?;
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| transport_error("TLS versions", e))?
        .with_root_certificates(roots)
        .with_client_auth_cert(m.chain.clone(), m.key.clone_key())
        .map_err(|e| transport_error("client certificate", e))?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
        .map_err(|e| transport_error("QUIC client TLS", e))?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    config.transport_config(transport_config(Some(max_streams)));
    Ok(config)
}

/// The DNS names among a certificate's subject alternative names.
fn dns_names(cert: &CertificateDer) -> Result<Vec<String>> {
    let parsed = parse_cert(cert)?;
    let san = parsed
        .subject_alternative_name()
        .map_err(|e| NodeError::Transport(format!("certificate SAN does not parse: {e}")))?;
    Ok(san
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .filter_map(|g| match g {
                    GeneralName::DNSName(n) => Some((*n).to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default())
}

/// The party a certificate stands for: its single DNS SAN ending in `.poc247`.
pub fn party_of_certificate(cert: &CertificateDer) -> Result<PartyId> {
    let names: Vec<String> = dns_names(cert)?
        .into_iter()
        .filter(|n| n.ends_with(DNS_SUFFIX))
        .collect();
    match names.as_slice() {
        [one] => PartyId::from_dns_name(one)
            .map_err(|e| NodeError::Transport(format!("peer certificate: {e}"))),
        [] => Err(NodeError::Transport(format!(
            "peer certificate carries no <party>{DNS_SUFFIX} name"
        ))),
        several => Err(NodeError::Transport(format!(
            "peer certificate carries several {DNS_SUFFIX} names: {}",
            several.join(", ")
        ))),
    }
}

/// The party at the other end of an established connection, from its certificate.
pub fn peer_party(conn: &quinn::Connection) -> Result<PartyId> {
    party_of_certificate(&peer_certificate(conn)?)
}

/// The end-entity certificate the peer presented.
pub fn peer_certificate(conn: &quinn::Connection) -> Result<CertificateDer<'static>> {
    let identity = conn
        .peer_identity()
        .ok_or_else(|| NodeError::Transport("peer presented no certificate".into()))?;
    let chain = identity
        .downcast::<Vec<CertificateDer<'static>>>()
        .map_err(|_| NodeError::Transport("peer identity is not a certificate chain".into()))?;
    chain
        .first()
        .cloned()
        .ok_or_else(|| NodeError::Transport("peer presented an empty chain".into()))
}

/// SHA-256 of a certificate's SubjectPublicKeyInfo (DER), as the directory pins it.
pub fn spki_sha256(cert: &CertificateDer) -> Result<[u8; 32]> {
    let parsed = parse_cert(cert)?;
    Ok(Sha256::digest(parsed.public_key().raw).into())
}

/// When a certificate expires, in Unix milliseconds.
pub fn not_after_ms(cert: &CertificateDer) -> Result<u64> {
    let parsed = parse_cert(cert)?;
    let secs = parsed.validity().not_after.timestamp();
    u64::try_from(secs)
        .ok()
        .and_then(|s| s.checked_mul(1000))
        .ok_or_else(|| NodeError::Transport(format!("certificate expiry {secs} is out of range")))
}
