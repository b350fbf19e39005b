//! `poc247 init`: a new node's signing key, TLS key and certificate signing request, and what
//! the Party submits to the network's registry.

use crate::failure::Failure;
use crate::output::Outcome;
use crate::render::clean;
use poc247_node::init::Registration;
use poc247_node::NodeError;
use poc247_protocol::PartyId;
use std::fmt::Write as _;
use std::path::Path;

/// Creates the keys and the request of `party`'s node in `data`.
pub fn run(party: &PartyId, data: &Path) -> Result<Outcome, Failure> {
    let r = poc247_node::init::init(party, data).map_err(|e| match e {
        // A key already there (never overwritten), or a folder that cannot be written.
        NodeError::Key { .. } | NodeError::Io { .. } => {
            Failure::refused("init-refused", e.to_string())
        }
        other => Failure::internal(other.to_string()),
    })?;
    let mut json = serde_json::to_value(&r)
        .map_err(|e| Failure::internal(format!("cannot write JSON: {e}")))?;
    json["directory_entry"] = r.directory_entry().into();
    Ok(Outcome {
        text: text(&r, data),
        json,
    })
}

/// `init --rotate signing|tls`: the node's next key beside the current one.
pub fn rotate(config: &Path, what: crate::args::RotateArg) -> Result<Outcome, Failure> {
    let cfg = poc247_node::config::NodeConfig::load(config)
        .map_err(|e| Failure::refused("bad-config", e.to_string()))?;
    let made = match what {
        crate::args::RotateArg::Signing => poc247_node::peers::rollover::rotate_signing(&cfg),
        crate::args::RotateArg::Tls => poc247_node::peers::rollover::rotate_tls(&cfg),
    }
    .map_err(|e| match e {
        NodeError::Key { .. } | NodeError::Io { .. } => {
            Failure::refused("init-refused", e.to_string())
        }
        other => Failure::internal(other.to_string()),
    })?;
    let json = serde_json::to_value(&made)
        .map_err(|e| Failure::internal(format!("cannot write JSON: {e}")))?;
    let mut text = format!(
        "made {}'s next {} key beside the current one:\n",
        cfg.party, made.what
    );
    for f in &made.files {
        let _ = writeln!(text, "  {}", clean(&f.display().to_string()));
    }
    let next = if made.what == "signing" {
        format!(
            "the node goes on signing with its current key. Next: `poc247 directory entry` lists\n\
             the new key ({}) beside it; once the registry publishes that entry and the version\n\
             is in force here, the node signs with the new key (the old one stays verifiable).\n",
            made.fingerprint.clone().unwrap_or_default()
        )
    } else {
        format!(
            "the node goes on with its current TLS key. Next: have the registry sign tls.next.csr\n\
             (`poc247 registry sign-csr`) into tls.next.crt beside it, and `poc247 directory entry`\n\
             lists the new pin ({}) beside the current one; once that version is in force, the\n\
             next reload or start takes the new key and certificate.\n",
            made.key
        )
    };
    text.push_str(&next);
    Ok(Outcome { text, json })
}

/// The text for a person.
fn text(r: &Registration, data: &Path) -> String {
    let file = |p: &Path| {
        p.file_name()
            .map(|n| clean(&n.to_string_lossy()))
            .unwrap_or_default()
    };
    let mut out = format!(
        "created the keys of {}'s node in {}:\n",
        r.party,
        clean(&data.display().to_string())
    );
    let _ = writeln!(
        out,
        "  {:<12} the ed25519 signing key (mode 0600)",
        file(&r.signing_key_file)
    );
    let _ = writeln!(
        out,
        "  {:<12} the TLS key, ECDSA P-256 (mode 0600)",
        file(&r.tls_key_file)
    );
    let _ = writeln!(
        out,
        "  {:<12} a certificate signing request for {}",
        file(&r.csr_file),
        r.dns_name
    );
    let _ = write!(
        out,
        "\nsubmit to the network's registry:\n  party         {}\n  signing key   {}\n  \
         fingerprint   {}\n  SPKI SHA-256  {}\n",
        r.party, r.signing_key, r.fingerprint, r.spki_sha256
    );
    let _ = write!(
        out,
        "\nits entry in directory.toml (the registry completes name, addresses and \
         declarations):\n"
    );
    for line in r.directory_entry().lines() {
        let _ = writeln!(out, "  {line}");
    }
    let _ = write!(
        out,
        "\nnext:\n  1. send {csr} to the network CA; install the certificate it returns as \
         tls.pem, and the CA's own certificate as ca.pem\n  2. write node.toml: party = \"{party}\", \
         listen, data_dir, directory, ca_cert, tls_cert = \"tls.pem\", tls_key = \"{tls}\", \
         signing_key = \"{signing}\"\n  3. poc247 run --config node.toml\n",
        csr = file(&r.csr_file),
        party = r.party,
        tls = file(&r.tls_key_file),
        signing = file(&r.signing_key_file),
    );
    out
}
