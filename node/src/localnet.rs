//! A local network of real nodes on loopback, for the demo, the tests and the benchmark: the
//! dev PKI written to a folder (the embedded one, or a fresh one), one UDP port per node
//! chosen by the OS, those addresses written into `directory.toml`, and every node started.

use crate::clock::{Clock, SystemClock};
use crate::config::NodeConfig;
use crate::devnet;
use crate::directory::Directory;
use crate::driver::Node;
use crate::error::{NodeError, Result};
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
    clock: Arc<dyn Clock>,
}

fn bind_loopback() -> Result<UdpSocket> {
    UdpSocket::bind("127.0.0.1:0")
        .map_err(|e| NodeError::Transport(format!("bind 127.0.0.1:0: {e}")))
}

impl LocalNetwork {
    /// Writes the network under `dir` (which must be empty or absent) without starting it.
    pub fn prepare(dir: &Path, pki: &Pki) -> Result<LocalNetwork> {
        let mut sockets = BTreeMap::new();
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
                    sockets.insert(p, a);
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
        // A stopped node's port can stay held for a moment while quinn drains a connection
        // that was still handshaking; no event tells when it is free, so try again briefly.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let socket = loop {
            match UdpSocket::bind(cfg.listen) {
                Ok(s) => break s,
                Err(e)
                    if e.kind() == std::io::ErrorKind::AddrInUse
                        && std::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(e) => return Err(NodeError::Transport(format!("bind {}: {e}", cfg.listen))),
            }
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
