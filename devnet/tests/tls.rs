//! The node's TLS (`poc247_node::wire::tls`) over generated development networks: mutual TLS
//! maps each side to its party, a certificate of another CA or for another name is refused,
//! and loading the node's files refuses a dev CA without `dev = true`, a certificate the
//! network CA did not issue, a key that does not fit, another party's certificate and a key
//! readable by others.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use poc247_devnet::devnet;
use poc247_node::wire::tls::{
    client_config, is_dev_ca, load, not_after_ms, party_of_certificate, peer_party, server_config,
    spki_sha256, TlsMaterial,
};
use poc247_protocol::PartyId;
use quinn::rustls::pki_types::CertificateDer;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);

fn p(s: &str) -> PartyId {
    PartyId::parse(s).unwrap()
}

fn network(dir: &Path, name: &str, parties: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let list: Vec<_> = parties
        .iter()
        .enumerate()
        .map(|(i, s)| (p(s), SocketAddr::from(([127, 0, 0, 1], 40000 + i as u16))))
        .collect();
    devnet::generate(&out, &list).unwrap();
    out
}

fn material(net: &Path, party: &str) -> TlsMaterial {
    load(&devnet::node_config(net, &p(party)).unwrap()).unwrap()
}

fn server(m: &TlsMaterial) -> quinn::Endpoint {
    quinn::Endpoint::server(
        server_config(m, 16).unwrap(),
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .unwrap()
}

fn client(m: &TlsMaterial) -> quinn::Endpoint {
    let mut e = quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    e.set_default_client_config(client_config(m, 64).unwrap());
    e
}

/// Connects, opens a stream, writes, and reads the answer; any failure is an `Err`.
async fn exchange(
    client: &quinn::Endpoint,
    server: SocketAddr,
    name: &str,
) -> std::result::Result<(PartyId, Vec<u8>), String> {
    let conn = client
        .connect(server, name)
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    let peer = peer_party(&conn).map_err(|e| e.to_string())?;
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
    send.write_all(b"ping").await.map_err(|e| e.to_string())?;
    send.finish().map_err(|e| e.to_string())?;
    let answer = recv.read_to_end(64).await.map_err(|e| e.to_string())?;
    Ok((peer, answer))
}

/// Accepts one connection and answers one stream; returns the client's party.
async fn serve_one(server: quinn::Endpoint) -> std::result::Result<PartyId, String> {
    let incoming = server.accept().await.ok_or("endpoint closed")?;
    let conn = incoming.await.map_err(|e| e.to_string())?;
    let peer = peer_party(&conn).map_err(|e| e.to_string())?;
    let (mut send, mut recv) = conn.accept_bi().await.map_err(|e| e.to_string())?;
    let got = recv.read_to_end(64).await.map_err(|e| e.to_string())?;
    assert_eq!(got, b"ping");
    send.write_all(b"pong").await.map_err(|e| e.to_string())?;
    send.finish().map_err(|e| e.to_string())?;
    conn.closed().await;
    Ok(peer)
}

#[tokio::test]
async fn mutual_tls_handshake_maps_each_side_to_its_party() {
    let dir = tempfile::tempdir().unwrap();
    let net = network(dir.path(), "a", &["LU", "FR"]);
    let lu = server(&material(&net, "LU"));
    let addr = lu.local_addr().unwrap();
    let served = tokio::spawn(serve_one(lu));
    let fr = client(&material(&net, "FR"));
    let (peer, answer) = tokio::time::timeout(TIMEOUT, exchange(&fr, addr, "lu.poc247"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(peer, p("LU"));
    assert_eq!(answer, b"pong");
    fr.close(0u32.into(), b"done");
    let client_party = tokio::time::timeout(TIMEOUT, served)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(client_party, p("FR"));
}

#[tokio::test]
async fn client_certificate_from_another_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let net = network(dir.path(), "a", &["LU", "FR"]);
    let other = network(dir.path(), "b", &["FR"]);
    let lu = server(&material(&net, "LU"));
    let addr = lu.local_addr().unwrap();
    let served = tokio::spawn(serve_one(lu));
    // Trusts the right CA, but presents a certificate from the other network's CA.
    let rogue = TlsMaterial {
        ca: material(&net, "FR").ca,
        ..material(&other, "FR")
    };
    let fr = client(&rogue);
    let result = tokio::time::timeout(TIMEOUT, exchange(&fr, addr, "lu.poc247"))
        .await
        .unwrap();
    assert!(result.is_err(), "{result:?}");
    let server_side = tokio::time::timeout(TIMEOUT, served)
        .await
        .unwrap()
        .unwrap();
    assert!(server_side.is_err(), "{server_side:?}");
}

#[tokio::test]
async fn server_certificate_from_another_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let net = network(dir.path(), "a", &["LU", "FR"]);
    let other = network(dir.path(), "b", &["LU"]);
    let rogue_lu = server(&material(&other, "LU"));
    let addr = rogue_lu.local_addr().unwrap();
    let _served = tokio::spawn(serve_one(rogue_lu));
    let fr = client(&material(&net, "FR"));
    let result = tokio::time::timeout(TIMEOUT, exchange(&fr, addr, "lu.poc247"))
        .await
        .unwrap();
    let err = result.unwrap_err();
    assert!(
        err.contains("certificate") || err.contains("issuer"),
        "{err}"
    );
}

#[tokio::test]
async fn server_must_carry_the_name_the_client_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let net = network(dir.path(), "a", &["LU", "FR", "CO"]);
    let lu = server(&material(&net, "LU"));
    let addr = lu.local_addr().unwrap();
    let _served = tokio::spawn(serve_one(lu));
    let fr = client(&material(&net, "FR"));
    let result = tokio::time::timeout(TIMEOUT, exchange(&fr, addr, "co.poc247"))
        .await
        .unwrap();
    assert!(result.is_err(), "{result:?}");
}

#[test]
fn dev_ca_is_refused_without_dev_true() {
    let dir = tempfile::tempdir().unwrap();
    let net = network(dir.path(), "a", &["LU"]);
    let mut cfg = devnet::node_config(&net, &p("LU")).unwrap();
    assert!(load(&cfg).unwrap().ca_is_dev);
    cfg.dev = false;
    let err = load(&cfg).unwrap_err().to_string();
    assert!(err.contains("development CA"), "{err}");
    assert!(err.contains("dev = true"), "{err}");
    assert!(err.contains("ca.pem"), "{err}");
}

#[test]
fn load_refuses_a_certificate_the_network_ca_did_not_issue() {
    let dir = tempfile::tempdir().unwrap();
    let net = network(dir.path(), "a", &["LU"]);
    let other = network(dir.path(), "b", &["LU"]);
    let mut cfg = devnet::node_config(&net, &p("LU")).unwrap();
    cfg.tls_cert = other.join("lu/tls.pem");
    cfg.tls_key = other.join("lu/tls.key");
    let err = load(&cfg).unwrap_err().to_string();
    assert!(err.contains("b/lu/tls.pem"), "{err}");
    assert!(err.contains("not valid as a server certificate"), "{err}");
}

#[test]
fn load_refuses_a_key_that_does_not_fit_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let net = network(dir.path(), "a", &["LU"]);
    let other = network(dir.path(), "b", &["LU"]);
    let mut cfg = devnet::node_config(&net, &p("LU")).unwrap();
    cfg.tls_key = other.join("lu/tls.key");
    let err = load(&cfg).unwrap_err().to_string();
    assert!(err.contains("does not fit"), "{err}");
}

#[test]
fn load_refuses_a_certificate_of_another_party() {
    let dir = tempfile::tempdir().unwrap();
    let net = network(dir.path(), "a", &["LU", "FR"]);
    let mut cfg = devnet::node_config(&net, &p("LU")).unwrap();
    cfg.party = p("FR");
    let err = load(&cfg).unwrap_err().to_string();
    assert!(err.contains("fr.poc247"), "{err}");
    assert!(err.contains("lu.poc247"), "{err}");
}

#[test]
fn load_refuses_a_tls_key_readable_by_others() {
    let dir = tempfile::tempdir().unwrap();
    let net = network(dir.path(), "a", &["LU"]);
    let cfg = devnet::node_config(&net, &p("LU")).unwrap();
    std::fs::set_permissions(&cfg.tls_key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = load(&cfg).unwrap_err().to_string();
    assert!(err.contains("chmod 600"), "{err}");
}

#[test]
fn certificate_facts_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let net = network(dir.path(), "a", &["LU-CA"]);
    let m = material(&net, "LU-CA");
    assert_eq!(party_of_certificate(&m.chain[0]).unwrap(), p("LU-CA"));
    assert!(party_of_certificate(&m.ca).is_err());
    assert!(is_dev_ca(&m.ca).unwrap());
    assert!(!is_dev_ca(&m.chain[0]).unwrap());
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let year_ms = 365 * 24 * 3600 * 1000;
    let expiry = not_after_ms(&m.chain[0]).unwrap();
    assert!(expiry > now_ms + 19 * year_ms && expiry < now_ms + 21 * year_ms);
    assert_ne!(
        spki_sha256(&m.chain[0]).unwrap(),
        spki_sha256(&m.ca).unwrap()
    );
    let garbage = CertificateDer::from(vec![0x30, 0x03, 0x01, 0x01, 0xff]);
    assert!(spki_sha256(&garbage).is_err());
    assert!(not_after_ms(&garbage).is_err());
    assert!(party_of_certificate(&garbage).is_err());
}
