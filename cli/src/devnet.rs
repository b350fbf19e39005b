//! `poc247 dev-network`: writes a development network (dev CA, dev registry key, per party a
//! certificate, keys and `node.toml`, and the signed directory version in force at each node)
//! and says how to start it.

use crate::failure::Failure;
use crate::output::Outcome;
use crate::render::clean;
use poc247_devnet::devnet;
use poc247_node::NodeError;
use poc247_protocol::PartyId;
use serde_json::json;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;

/// Writes the network into `out`.
pub fn write(out: &Path, nodes: &[(PartyId, SocketAddr)]) -> Result<Outcome, Failure> {
    devnet::generate(out, nodes).map_err(|e| match e {
        // The generator's refusals (folder not empty, a party twice) name what to change.
        NodeError::Key { .. } => Failure::refused("bad-network", e.to_string()),
        other => Failure::internal(other.to_string()),
    })?;
    let version = poc247_devnet::localnet::publish_dev_version(out)
        .map_err(|e| Failure::internal(e.to_string()))?;
    let mut text = format!(
        "wrote a DEVELOPMENT network to {} (dev CA and dev registry: never use them in service)\n\
         \x20 ca.pem, ca.key    the network's dev CA\n\
         \x20 registry.key      the network's dev registry key, pinned in every node.toml\n\
         \x20 directory.toml    every party: addresses, signing key, certificate pin, declarations;\n\
         \x20                   each entry signed by its party, version {} signed by the dev\n\
         \x20                   registry and installed at every node (data/directory.version.json)\n",
        clean(&out.display().to_string()),
        version.version.serial
    );
    let mut list = Vec::new();
    let mut starts = String::new();
    for (party, addr) in nodes {
        let folder = party.as_str().to_ascii_lowercase();
        let config = out.join(&folder).join("node.toml");
        let socket = devnet::node_config(out, party)
            .map(|c| c.socket)
            .map_err(|e| Failure::internal(e.to_string()))?;
        let _ = writeln!(
            text,
            "  {:<17} {party} on {addr} (UDP): node.toml, tls.pem, tls.key, signing.key",
            format!("{folder}/")
        );
        let _ = writeln!(
            starts,
            "  poc247 run --config {}",
            clean(&config.display().to_string())
        );
        list.push(json!({
            "party": party,
            "listen": addr.to_string(),
            "config": config,
            "socket": socket,
        }));
    }
    let _ = write!(text, "\nstart each node in its own terminal:\n{starts}");
    if let Some((first, _)) = nodes.first() {
        let cfg = out
            .join(first.as_str().to_ascii_lowercase())
            .join("node.toml");
        let _ = writeln!(
            text,
            "\nthen ask a node, e.g.:\n  poc247 --config {} status",
            clean(&cfg.display().to_string())
        );
    }
    Ok(Outcome {
        text,
        json: json!({ "out": out, "nodes": list }),
    })
}
