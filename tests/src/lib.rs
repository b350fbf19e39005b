//! Test harness for poc247: local networks of real nodes on loopback (real QUIC, real sled
//! files in temporary folders), nodes run as `poc247 run` processes that a test can SIGKILL and
//! restart, a raw peer that speaks the wire protocol by hand, and helpers to wait for events
//! instead of sleeping.

pub mod crashrun;
pub mod flow;
pub mod powercut;
pub mod procs;
pub mod proxy;

use anyhow::{bail, Context, Result};
use poc247_api::client::ControlClient;
use poc247_devnet::localnet::{LocalNetwork, Pki};
use poc247_node::events::{EventKind, NodeEvent};
use poc247_node::{LoadDirectory, NodeConfig};
use poc247_protocol::{
    Body, CaseRef, Envelope, Header, Language, MessageId, PartyId, Preservation, Urgency, UtcMs,
    PROTOCOL_VERSION,
};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::sync::broadcast;

/// A party id from a literal known to be valid.
pub fn party(s: &str) -> PartyId {
    // Literals in tests are valid ids; a typo fails the test here.
    PartyId::parse(s).unwrap_or_else(|e| panic!("{e}"))
}

/// A preservation request with every field of art. 29(2).
pub fn preservation() -> Preservation {
    Preservation {
        requesting_authority: "Parquet de Luxembourg, cabinet d'instruction".into(),
        offence: "computer fraud (art. 496 Code pénal)".into(),
        facts: "A phishing kit collected bank credentials of 300 residents.".into(),
        data: "Mailbox contents and access logs of kit-drop@example.fr".into(),
        relation_to_offence: "The kit mails the stolen credentials to this mailbox.".into(),
        custodian_or_location: "ExampleMail SAS, 10 rue de l'Exemple, Paris".into(),
        necessity: "The provider deletes logs after 7 days.".into(),
        mla_intent: true,
        ..Default::default()
    }
}

/// The JSON body of `POST /v1/requests` for a preservation request.
pub fn preservation_request(to: &str) -> Value {
    json!({
        "kind": "preservation",
        "to": to,
        "urgency": "urgent",
        "language": "fr",
        "fields": serde_json::to_value(preservation()).unwrap_or(Value::Null),
    })
}

/// The entry for `field` in an API error body's `fields` (null if it names no such field).
pub fn error_field(body: &Value, field: &str) -> Value {
    body["error"]["fields"]
        .as_array()
        .and_then(|l| l.iter().find(|e| e["field"] == field).cloned())
        .unwrap_or(Value::Null)
}

/// A network of real nodes under a temporary folder, removed when dropped.
pub struct Net {
    /// The network.
    pub net: LocalNetwork,
    /// Its folder.
    pub tmp: tempfile::TempDir,
}

impl Net {
    /// The checked-in LU/FR/CO network on fresh ports.
    pub async fn embedded() -> Result<Net> {
        let tmp = tempfile::tempdir()?;
        let net = LocalNetwork::start(&tmp.path().join("net"), &Pki::Embedded).await?;
        Ok(Net { net, tmp })
    }

    /// The checked-in LU/FR/CO network on fresh ports, written but not started (to start a
    /// node with a configuration of the test's own).
    pub fn embedded_prepared() -> Result<Net> {
        let tmp = tempfile::tempdir()?;
        let net = LocalNetwork::prepare(&tmp.path().join("net"), &Pki::Embedded)?;
        Ok(Net { net, tmp })
    }

    /// A fresh network of `parties`, written but not started.
    pub fn fresh_prepared(parties: &[&str]) -> Result<Net> {
        let tmp = tempfile::tempdir()?;
        let pki = Pki::Fresh(parties.iter().map(|p| party(p)).collect());
        let net = LocalNetwork::prepare(&tmp.path().join("net"), &pki)?;
        Ok(Net { net, tmp })
    }

    /// Lets every node of the network attach files by their path from the test's folder
    /// (`[attachments] read_from`), as an administrator would name a folder of outgoing
    /// evidence. The folder holds the nodes' own keys and data too, which stay refused.
    pub fn read_files_from_tmp(&self) -> Result<()> {
        for p in self.net.parties() {
            let path = self
                .tmp
                .path()
                .join("net")
                .join(p.as_str().to_ascii_lowercase())
                .join("node.toml");
            let mut text = std::fs::read_to_string(&path)?;
            text.push_str(&format!(
                "\n[attachments]\nread_from = [{:?}]\n",
                self.tmp.path().display().to_string()
            ));
            std::fs::write(&path, text)?;
        }
        Ok(())
    }

    /// The control client of `p`'s node.
    pub fn client(&self, p: &str) -> Result<ControlClient> {
        Ok(ControlClient::new(self.net.config(&party(p))?.socket))
    }

    /// The configuration of `p`'s node.
    pub fn config(&self, p: &str) -> Result<NodeConfig> {
        Ok(self.net.config(&party(p))?)
    }

    /// Follows `p`'s events.
    pub fn events(&self, p: &str) -> Result<broadcast::Receiver<NodeEvent>> {
        Ok(self
            .net
            .node(&party(p))
            .context("node not running")?
            .events()
            .subscribe())
    }

    /// Submits a request through `p`'s control API; returns the 201 body.
    pub async fn submit(&self, p: &str, body: &Value) -> Result<Value> {
        let r = self.client(p)?.post("/v1/requests", body).await?;
        if r.status.as_u16() != 201 {
            bail!("POST /v1/requests: {} {}", r.status, r.body);
        }
        Ok(r.body)
    }

    /// `GET /v1/cases/{case}` on `p`'s node.
    pub async fn case(&self, p: &str, case: &str) -> Result<Value> {
        let r = self.client(p)?.get(&format!("/v1/cases/{case}")).await?;
        if r.status.as_u16() != 200 {
            bail!("GET case {case} on {p}: {} {}", r.status, r.body);
        }
        Ok(r.body)
    }
}

/// Waits (at most `secs` seconds) for an event matching `pred`.
pub async fn wait_for(
    rx: &mut broadcast::Receiver<NodeEvent>,
    secs: u64,
    mut pred: impl FnMut(&NodeEvent) -> bool,
) -> Result<NodeEvent> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) => bail!("no matching event within {secs} s"),
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
            Ok(Err(e)) => bail!("event channel: {e}"),
            Ok(Ok(ev)) if pred(&ev) => return Ok(ev),
            Ok(Ok(_)) => {}
        }
    }
}

/// Waits for the delivery of message `id`.
pub async fn wait_delivered(
    rx: &mut broadcast::Receiver<NodeEvent>,
    id: &str,
    secs: u64,
) -> Result<NodeEvent> {
    wait_for(rx, secs, |e| {
        matches!(e.kind, EventKind::Delivered { .. })
            && e.message_id.map(|m| m.to_string()).as_deref() == Some(id)
    })
    .await
}

/// A header for a hand-made message from `from` to `to`.
pub fn header(from: &str, to: &str, created_at: UtcMs, seq: u64) -> Header {
    Header {
        version: PROTOCOL_VERSION,
        id: MessageId::new(created_at),
        from: party(from),
        to: party(to),
        created_at,
        case_ref: CaseRef::new(&party(from), 2026, seq),
        in_reply_to: None,
        urgency: Urgency::Urgent,
        language: Language::parse("fr").unwrap_or_else(|e| panic!("{e}")),
        exercise: false,
    }
}

/// A hand-made preservation envelope.
pub fn envelope(from: &str, to: &str, created_at: UtcMs, seq: u64) -> Envelope {
    Envelope {
        header: header(from, to, created_at, seq),
        body: Body::Preservation(preservation()),
    }
}

/// Now, from the system clock.
pub fn now() -> UtcMs {
    poc247_node::clock::Clock::now(&poc247_node::clock::SystemClock)
}

/// A peer that speaks the wire protocol by hand, with the certificate of one party of a
/// network: to send frames a real node would never send.
pub struct RawPeer {
    /// The connection to the node under test.
    pub conn: quinn::Connection,
    endpoint: quinn::Endpoint,
}

impl RawPeer {
    /// Connects to `to`'s node at `addr` with the TLS identity of `as_cfg`'s node.
    pub async fn connect(
        as_cfg: &NodeConfig,
        to: &str,
        addr: std::net::SocketAddr,
    ) -> Result<RawPeer> {
        let material = poc247_node::wire::tls::load(as_cfg)?;
        let client = poc247_node::wire::tls::client_config(&material, 64)?;
        let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse()?)?;
        endpoint.set_default_client_config(client);
        let conn = endpoint.connect(addr, &party(to).dns_name())?.await?;
        Ok(RawPeer { conn, endpoint })
    }

    /// Sends `bytes` as one frame on a new stream and reads the reply.
    pub async fn send(&self, bytes: &[u8]) -> Result<poc247_protocol::Reply> {
        Ok(poc247_node::wire::transport::exchange(&self.conn, bytes, 1 << 20).await?)
    }

    /// Announces a frame of `len` bytes, sends only its first `sent` bytes, finishes the
    /// stream, and reads the reply.
    pub async fn send_partial(&self, len: u32, sent: &[u8]) -> Result<poc247_protocol::Reply> {
        let (mut send, mut recv) = self.conn.open_bi().await?;
        // The node may stop reading as soon as it has the length (a frame over the limit):
        // the rest of the write then fails, and its answer is still to be read.
        if send.write_all(&len.to_be_bytes()).await.is_ok() {
            let _ = send.write_all(sent).await;
        }
        let _ = send.finish();
        let bytes = poc247_node::wire::transport::read_frame(&mut recv, 1 << 20).await?;
        Ok(poc247_protocol::Reply::from_bytes(&bytes)?)
    }

    /// Closes the connection.
    pub async fn close(self) {
        self.conn.close(0u32.into(), b"done");
        self.endpoint.wait_idle().await;
    }
}

/// A fresh network of `parties`, every node started: each pins the network's development
/// registry key and holds its version 1 ([`poc247_devnet::localnet::publish_dev_version`]).
pub async fn registry_net(parties: &[&str]) -> Result<Net> {
    let mut net = Net::fresh_prepared(parties)?;
    for p in parties {
        net.net.start_node(&party(p)).await?;
    }
    Ok(net)
}

impl Net {
    /// The network's development registry key: what signs its directory versions.
    pub fn registry(&self) -> Result<poc247_protocol::SigningKey> {
        Ok(poc247_devnet::localnet::dev_registry_key(self.net.dir())?)
    }

    /// The signed directory version in force at `p`'s node.
    pub fn version_in_force(&self, p: &str) -> Result<poc247_node::peers::registry::SignedVersion> {
        poc247_node::peers::version_in_force(&self.config(p)?)
            .map_err(anyhow::Error::msg)?
            .with_context(|| format!("no directory version in force at {p}"))
    }

    /// The version after the one in force at `at`: each Party's entry as listed there, changed
    /// by `edit` and signed by its node, signed by the network's registry. Not applied.
    pub fn next_version(
        &self,
        at: &str,
        edit: impl Fn(&mut poc247_node::peers::directory::PartyEntryFile),
    ) -> Result<poc247_node::peers::registry::SignedVersion> {
        let previous = self.version_in_force(at)?;
        Ok(poc247_node::peers::registry::publish(
            &self.registry()?,
            signed_entries(self, edit)?,
            Some(&previous),
            now(),
            30,
        )?)
    }

    /// Changes Parties' declarations as `edit` does and publishes the next version at `at`'s
    /// node (through its control API, as `poc247 directory apply` does); the node's answer.
    pub async fn publish(
        &self,
        at: &str,
        edit: impl Fn(&mut poc247_node::peers::directory::PartyEntryFile),
    ) -> Result<Value> {
        let next = self.next_version(at, edit)?;
        let r = self
            .client(at)?
            .post("/v1/directory", &version_json(&next)?)
            .await?;
        if r.status.as_u16() != 200 {
            bail!("POST /v1/directory at {at}: {} {}", r.status, r.body);
        }
        Ok(r.body)
    }
}

/// Each Party's entry as `net`'s directory lists it now, changed by `edit`, signed with the key
/// its node uses: what each Party sends the registry.
pub fn signed_entries(
    net: &Net,
    edit: impl Fn(&mut poc247_node::peers::directory::PartyEntryFile),
) -> Result<Vec<poc247_node::peers::registry::SignedEntry>> {
    let file = poc247_node::Directory::load(&net.config("LU")?.directory)?.to_file();
    let mut out = Vec::new();
    for mut e in file.party {
        edit(&mut e);
        let key = signing_key(&net.config(&e.id)?)?;
        out.push(poc247_node::peers::registry::SignedEntry::sign(e, &key)?);
    }
    Ok(out)
}

/// A signed directory version as `POST /v1/directory` takes it.
/// Installs `version` at `p`'s node while it is stopped (as `poc247 directory apply --offline`
/// does): checked against the registry key and the version in force there.
pub fn install_version(
    net: &Net,
    p: &str,
    version: &poc247_node::peers::registry::SignedVersion,
) -> Result<()> {
    let cfg = net.config(p)?;
    let me = signing_key(&cfg)?.verifying_key();
    std::fs::create_dir_all(&cfg.data_dir)?;
    poc247_node::peers::install_version(&cfg, &net.registry()?.verifying_key(), &me, version)
        .map_err(anyhow::Error::msg)?;
    Ok(())
}

pub fn version_json(v: &poc247_node::peers::registry::SignedVersion) -> Result<Value> {
    Ok(serde_json::from_slice(&v.to_bytes()?)?)
}

/// The signing key of `p`'s node in a network.
pub fn signing_key(cfg: &NodeConfig) -> Result<poc247_protocol::SigningKey> {
    Ok(poc247_node::keys::load_signing_key(&cfg.signing_key)?)
}

/// The next event of an SSE stream (at most `secs` seconds).
pub async fn next_event(stream: &mut poc247_api::client::EventStream, secs: u64) -> Result<Value> {
    match tokio::time::timeout(Duration::from_secs(secs), stream.next()).await {
        Err(_) => bail!("no event within {secs} s"),
        Ok(None) => bail!("the event stream ended"),
        Ok(Some(ev)) => Ok(ev?),
    }
}

/// The SHA-256 of the file at `path`, as 64 lowercase hexadecimal digits (read in pieces).
pub fn sha256_file(path: &std::path::Path) -> Result<String> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let mut f = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    std::io::copy(&mut f, &mut h)?;
    Ok(poc247_protocol::sha256_hex(&h.finalize().into()))
}

/// Waits (at most `secs` seconds) until the lines of the file at `path` satisfy `pred`;
/// returns them. A file that does not exist yet has no lines.
pub async fn wait_file(
    path: &std::path::Path,
    secs: u64,
    mut pred: impl FnMut(&[String]) -> bool,
) -> Result<Vec<String>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let lines: Vec<String> = std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        if pred(&lines) {
            return Ok(lines);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "{}: condition not met within {secs} s; lines: {lines:?}",
                path.display()
            );
        }
        // The file is written by another process: there is no event to wait on.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Copies a stopped node's data folder (or any folder) into `to`, recursively; a node's
/// control socket, which cannot be copied and which a copy never needs, is left out.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let dest = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &dest)?;
        } else if e.file_name() != "control.sock" {
            std::fs::copy(e.path(), &dest)?;
        }
    }
    Ok(())
}
