//! A local network of real nodes on loopback, for the demo, the tests and the benchmark: the
//! dev PKI written to a folder (the embedded one, or a fresh one), one UDP port per node, those
//! addresses written into `directory.toml`, and every node started. The directory is put in
//! force as a real network does: a development registry key beside the dev CA, each Party's
//! entry signed by its node's key, version 1 signed by that registry key and installed at
//! every node, whose `node.toml` pins it ([`publish_dev_version`]).
//!
//! Each port is held from the moment it is chosen until its node starts on it, so nothing else
//! on the machine can take it in between; ports are chosen below the kernel's ephemeral range,
//! where no `bind` to port 0 (of a QUIC client, of a test's proxy, of another program) lands,
//! so a node restarted on its port finds it free too.

use crate::devnet;
use poc247_node::clock::{Clock, SystemClock};
use poc247_node::config::NodeConfig;
use poc247_node::driver::Node;
use poc247_node::error::{NodeError, Result};
use poc247_node::peers::directory::{Directory, LoadDirectory};
use poc247_node::peers::registry::{SignedEntry, SignedVersion};
use poc247_protocol::PartyId;
use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the network's keys and certificates come from.
#[derive(Debug, Clone)]
pub enum Pki {
    /// The checked-in development network (LU, FR, CO).
    Embedded,
    /// A fresh development network for these parties.
    Fresh(Vec<PartyId>),
}

/// A running local network.
#[derive(Debug)]
pub struct LocalNetwork {
    dir: PathBuf,
    addrs: BTreeMap<PartyId, SocketAddr>,
    nodes: BTreeMap<PartyId, Node>,
    /// The bound sockets of the ports not yet handed to their node.
    held: BTreeMap<PartyId, UdpSocket>,
    clock: Arc<dyn Clock>,
}

pub use crate::devnet::{dev_registry_key, DEV_REGISTRY_KEY_FILE};

/// Puts the generated directory of the development network in `dir` in force as a real network
/// does: each Party's entry signed with its node's signing key, version 1 signed with the
/// development registry key ([`dev_registry_key`], which the generator pinned in each
/// `node.toml`), and the version installed at each node (its data folder),
/// checked exactly as `poc247 directory apply --offline` checks it. Returns the version.
pub fn publish_dev_version(dir: &Path) -> Result<SignedVersion> {
    let registry = dev_registry_key(dir)?;
    let path = dir.join("directory.toml");
    let file = Directory::load(&path)?.to_file();
    let refused = |message: String| NodeError::Directory {
        file: path.clone(),
        message,
    };
    let mut entries = Vec::new();
    let mut parties = Vec::new();
    for e in file.party {
        let party = PartyId::parse(&e.id).map_err(|m| refused(m.to_string()))?;
        let cfg = devnet::node_config(dir, &party)?;
        let key = poc247_node::keys::load_signing_key(&cfg.signing_key)?;
        entries.push(SignedEntry::sign(e, &key)?);
        parties.push(party);
    }
    let now = SystemClock.now();
    let version =
        poc247_node::peers::registry::publish(&registry, entries, None, now, DEV_NEXT_UPDATE_DAYS)?;
    for party in &parties {
        let cfg = devnet::node_config(dir, party)?;
        poc247_node::store::durable::create_dir_all(&cfg.data_dir)
            .map_err(|e| NodeError::io(&cfg.data_dir, e))?;
        let me = poc247_node::keys::load_signing_key(&cfg.signing_key)?.verifying_key();
        poc247_node::peers::install_version(&cfg, &registry.verifying_key(), &me, &version)
            .map_err(|m| refused(format!("{party}: {m}")))?;
    }
    Ok(version)
}

/// How long a development network's version stays current: as long as its certificates.
const DEV_NEXT_UPDATE_DAYS: u32 = 20 * 365;

/// The kernel's ephemeral port range, where a `bind` to port 0 picks its port.
fn ephemeral_range() -> Option<(u16, u16)> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut it = text.split_whitespace().map(|n| n.parse::<u16>().ok());
    Some((it.next()??, it.next()??))
}

/// Binds a loopback UDP port for a node: a random free one below the ephemeral range when
/// that range leaves room (at least 4,096 ports above 1,024), else one the OS picks.
fn bind_loopback() -> Result<UdpSocket> {
    use rand::Rng as _;
    if let Some((low, _)) = ephemeral_range().filter(|(low, _)| *low >= 1024 + 4096) {
        let mut rng = rand::thread_rng();
        for _ in 0..256 {
            let port = rng.gen_range(low / 2..low);
            if let Ok(s) = UdpSocket::bind(("127.0.0.1", port)) {
                return Ok(s);
            }
        }
    }
    UdpSocket::bind("127.0.0.1:0")
        .map_err(|e| NodeError::Transport(format!("bind 127.0.0.1:0: {e}")))
}

impl LocalNetwork {
    /// Writes the network under `dir` (which must be empty or absent) without starting it,
    /// its directory in force as a real network's ([`publish_dev_version`]): the development
    /// registry key pinned at every node and version 1 installed at each.
    pub fn prepare(dir: &Path, pki: &Pki) -> Result<LocalNetwork> {
        let net = LocalNetwork::write(dir, pki)?;
        publish_dev_version(dir)?;
        Ok(net)
    }

    /// Writes the network's files under `dir`: keys, certificates, `node.toml`s and the
    /// directory its version is made from.
    fn write(dir: &Path, pki: &Pki) -> Result<LocalNetwork> {
        let mut sockets = BTreeMap::new();
        let mut held = BTreeMap::new();
        match pki {
            Pki::Fresh(parties) => {
                let mut list = Vec::new();
                for p in parties {
                    let s = bind_loopback()?;
                    let a = s
                        .local_addr()
                        .map_err(|e| NodeError::Transport(e.to_string()))?;
                    list.push((p.clone(), a));
                    sockets.insert(p.clone(), a);
                    held.insert(p.clone(), s);
                }
                devnet::generate(dir, &list)?;
            }
            Pki::Embedded => {
                devnet::write_embedded(dir)?;
                let path = dir.join("directory.toml");
                let mut directory = Directory::load(&path)?;
                let parties: Vec<PartyId> = directory.iter().map(|e| e.id.clone()).collect();
                for p in parties {
                    let s = bind_loopback()?;
                    let a = s
                        .local_addr()
                        .map_err(|e| NodeError::Transport(e.to_string()))?;
                    directory.set_addresses(&p, vec![a.to_string()]);
                    sockets.insert(p.clone(), a);
                    held.insert(p, s);
                }
                let text =
                    toml::to_string(&directory.to_file()).map_err(|e| NodeError::Directory {
                        file: path.clone(),
                        message: e.to_string(),
                    })?;
                std::fs::write(&path, format!("{}{text}", devnet::DEV_HEADER))
                    .map_err(|e| NodeError::io(&path, e))?;
            }
        }
        Ok(LocalNetwork {
            dir: dir.to_path_buf(),
            addrs: sockets,
            nodes: BTreeMap::new(),
            held,
            clock: Arc::new(SystemClock),
        })
    }

    /// Writes the network under `dir` and starts every node.
    pub async fn start(dir: &Path, pki: &Pki) -> Result<LocalNetwork> {
        let mut net = LocalNetwork::prepare(dir, pki)?;
        for p in net.parties() {
            net.start_node(&p).await?;
        }
        Ok(net)
    }

    /// Lets go of the ports not yet handed to a node, for nodes run as processes of their own
    /// (`poc247 run` binds its port itself).
    pub fn release_ports(&mut self) {
        self.held.clear();
    }

    /// Uses `clock` for nodes started from now on.
    pub fn set_clock(&mut self, clock: Arc<dyn Clock>) {
        self.clock = clock;
    }

    /// The parties of the network.
    pub fn parties(&self) -> Vec<PartyId> {
        self.addrs.keys().cloned().collect()
    }

    /// The folder holding the network.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The configuration of `party`'s node.
    pub fn config(&self, party: &PartyId) -> Result<NodeConfig> {
        let mut cfg = devnet::node_config(&self.dir, party)?;
        if let Some(a) = self.addrs.get(party) {
            cfg.listen = *a;
        }
        Ok(cfg)
    }

    /// Starts (or restarts) `party`'s node on its port.
    pub async fn start_node(&mut self, party: &PartyId) -> Result<()> {
        let cfg = self.config(party)?;
        self.start_node_with(party, cfg).await
    }

    /// Starts `party`'s node with a configuration of the caller's (a test's own directory
    /// view or delivery settings); it listens on `cfg.listen`.
    pub async fn start_node_with(&mut self, party: &PartyId, cfg: NodeConfig) -> Result<()> {
        if self.nodes.contains_key(party) {
            return Ok(());
        }
        let held = self
            .held
            .remove(party)
            .filter(|s| s.local_addr().ok() == Some(cfg.listen));
        // A stopped node's port can stay held while quinn drains a connection that was still
        // handshaking (its close waits out three probe timeouts, which back off on a loaded
        // machine); no event tells when it is free, so try again for up to 30 s.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let socket = match held {
            Some(s) => s,
            None => loop {
                match UdpSocket::bind(cfg.listen) {
                    Ok(s) => break s,
                    Err(e)
                        if e.kind() == std::io::ErrorKind::AddrInUse
                            && std::time::Instant::now() < deadline =>
                    {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                    Err(e) => {
                        return Err(NodeError::Transport(format!("bind {}: {e}", cfg.listen)))
                    }
                }
            },
        };
        let node = Node::start_with(cfg, Some(socket), self.clock.clone()).await?;
        self.nodes.insert(party.clone(), node);
        Ok(())
    }

    /// Stops `party`'s node cleanly (its data stays).
    pub async fn stop_node(&mut self, party: &PartyId) {
        if let Some(n) = self.nodes.remove(party) {
            n.shutdown().await;
        }
    }

    /// The running node of `party`.
    pub fn node(&self, party: &PartyId) -> Option<&Node> {
        self.nodes.get(party)
    }

    /// Stops every node.
    pub async fn shutdown(mut self) {
        let parties: Vec<PartyId> = self.nodes.keys().cloned().collect();
        for p in parties {
            self.stop_node(&p).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_is_held_from_its_choice_until_it_is_let_go_and_lies_below_the_ephemeral_range() {
        let tmp = tempfile::tempdir().unwrap();
        let lu = PartyId::parse("LU").unwrap();
        let mut net = LocalNetwork::prepare(tmp.path(), &Pki::Fresh(vec![lu.clone()])).unwrap();
        let addr = net.config(&lu).unwrap().listen;
        let taken = UdpSocket::bind(addr).unwrap_err();
        assert_eq!(taken.kind(), std::io::ErrorKind::AddrInUse, "{taken}");
        if let Some((low, _)) = ephemeral_range().filter(|(low, _)| *low >= 1024 + 4096) {
            assert!(addr.port() < low, "{addr} is in the ephemeral range");
        }
        net.release_ports();
        UdpSocket::bind(addr).unwrap();
    }
}
