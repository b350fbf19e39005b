//! `poc247 init`: a new node's signing key, TLS key, certificate signing request and
//! configuration (the registry key pinned), and what comes next.

use crate::failure::Failure;
use crate::output::Outcome;
use crate::render::clean;
use poc247_node::init::{InitOptions, Registration};
use poc247_node::NodeError;
use std::fmt::Write as _;
use std::path::Path;

/// Creates the keys, the request and the configuration of a node.
pub fn run(opts: &InitOptions) -> Result<Outcome, Failure> {
    let r = poc247_node::init::init(opts).map_err(|e| match e {
        // A file already there (never overwritten), or a folder that cannot be written.
        NodeError::Key { .. } | NodeError::Io { .. } => {
            Failure::refused("init-refused", e.to_string())
        }
        other => Failure::internal(other.to_string()),
    })?;
    let json = serde_json::to_value(&r)
        .map_err(|e| Failure::internal(format!("cannot write JSON: {e}")))?;
    Ok(Outcome {
        text: text(&r, &opts.dir),
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

/// The text for a person: what was made, what to check, what comes next.
fn text(r: &Registration, dir: &Path) -> String {
    let show = |p: &Path| clean(&p.display().to_string());
    let file = |p: &Path| {
        p.file_name()
            .map(|n| clean(&n.to_string_lossy()))
            .unwrap_or_default()
    };
    let mut out = format!("created {}'s node in {}:\n", r.party, show(dir));
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
    let _ = writeln!(
        out,
        "  {:<12} the configuration, the registry key {} pinned",
        file(&r.config_file),
        r.registry_fingerprint
    );
    let _ = write!(
        out,
        "\nthis node's keys (its entry lists them; `directory entry` signs it):\n  \
         signing key   {}\n  fingerprint   {}\n  SPKI SHA-256  {}\n",
        r.signing_key, r.fingerprint, r.spki_sha256
    );
    let _ = write!(
        out,
        "\nnext (docs/joining.md):\n  \
         1. send {csr} to the network's registry; install the certificate it issues as\n     \
         {cert} and the network CA's certificate as {ca}\n  \
         2. write what {party} declares in declarations.toml, then\n     \
         poc247 --config {config} directory entry --declarations declarations.toml --out entry.json\n     \
         and send entry.json to the registry\n  \
         3. apply the version the registry publishes with it, before the first start:\n     \
         poc247 --config {config} directory apply --offline <version.json>\n  \
         4. poc247 run --config {config}\n",
        csr = file(&r.csr_file),
        cert = show(&r.tls_cert_file),
        ca = show(&r.ca_cert_file),
        party = r.party,
        config = show(&r.config_file),
    );
    out
}
