//! `poc247 registry …` (the network's secretariat) and `poc247 directory entry|apply` (a
//! Party's administrator): the signed directory of `poc247_node::peers::registry`.

use crate::api::Api;
use crate::args::RegistryCommand;
use crate::failure::Failure;
use crate::output::Outcome;
use poc247_node::peers::directory::{encode_public_key, PartyEntryFile};
use poc247_node::peers::registry::{self, SignedEntry, SignedVersion};
use poc247_protocol::UtcMs;
use serde_json::{json, Value};
use std::path::Path;

fn refused(e: impl std::fmt::Display) -> Failure {
    Failure::refused("registry-refused", e.to_string())
}

/// Writes `bytes` to `path`, which must not exist yet.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let text = std::str::from_utf8(bytes).map_err(refused)?;
    poc247_node::store::durable::write_new(path, text).map_err(refused)
}

fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| refused(format!("{}: {e}", path.display())))
}

/// The registry's offline commands.
pub fn run(cmd: &RegistryCommand) -> Result<Outcome, Failure> {
    match cmd {
        RegistryCommand::Init { out } => {
            let r = registry::init(out).map_err(refused)?;
            let text = format!(
                "made the registry in {}: registry.key (0600), ca.key (0600), ca.pem\n\
                 registry key (pin it in every node.toml as registry_key):\n  {}\n\
                 fingerprint: {}\n",
                out.display(),
                r.registry_key,
                r.fingerprint
            );
            Ok(Outcome {
                text,
                json: serde_json::to_value(&r).map_err(refused)?,
            })
        }
        RegistryCommand::SignCsr {
            csr,
            party,
            days,
            registry: dir,
            out,
        } => {
            let pem = String::from_utf8(read(csr)?).map_err(refused)?;
            let cert = registry::sign_csr(dir, &pem, party, *days).map_err(refused)?;
            write_new(out, cert.as_bytes())?;
            Ok(Outcome {
                text: format!(
                    "issued {party}'s node certificate ({}, {days} days): {}\n",
                    party.dns_name(),
                    out.display()
                ),
                json: json!({ "party": party, "days": days, "certificate": out }),
            })
        }
        RegistryCommand::Publish {
            registry: dir,
            entries,
            previous,
            next_update_days,
            out,
        } => {
            let key = poc247_node::keys::load_signing_key(&dir.join(registry::REGISTRY_KEY_FILE))
                .map_err(refused)?;
            let mut signed = Vec::new();
            for path in entries {
                let e: SignedEntry = serde_json::from_slice(&read(path)?)
                    .map_err(|e| refused(format!("{}: not a signed entry: {e}", path.display())))?;
                signed.push(e);
            }
            let previous = match previous {
                Some(p) => Some(
                    SignedVersion::parse(&read(p)?)
                        .map_err(|m| refused(format!("{}: {m}", p.display())))?,
                ),
                None => None,
            };
            let now = UtcMs(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0)),
            );
            let v = registry::publish(&key, signed, previous.as_ref(), now, *next_update_days)
                .map_err(refused)?;
            // What a node will check, checked here first: the registry never publishes a
            // version its own nodes would refuse.
            registry::check(&v, &key.verifying_key(), previous.as_ref()).map_err(refused)?;
            write_new(out, &v.to_bytes().map_err(refused)?)?;
            Ok(Outcome {
                text: format!(
                    "published directory version {} ({} entries): {}\n",
                    v.version.serial,
                    v.version.entries.len(),
                    out.display()
                ),
                json: json!({ "serial": v.version.serial, "entries": v.version.entries.len(), "file": out }),
            })
        }
    }
}

/// `directory entry`: this node's entry from its keys and a declarations file, signed.
pub fn entry(config: &Path, declarations: &Path, out: &Path) -> Result<Outcome, Failure> {
    let cfg = poc247_node::config::NodeConfig::load(config).map_err(refused)?;
    let signing = poc247_node::keys::load_signing_key(&cfg.signing_key).map_err(refused)?;
    let spki = poc247_node::init::spki_of_key_file(&cfg.tls_key).map_err(refused)?;
    let text = String::from_utf8(read(declarations)?).map_err(refused)?;
    let mut table: toml::Table =
        toml::from_str(&text).map_err(|e| refused(format!("{}: {e}", declarations.display())))?;
    for k in ["id", "signing_key", "spki_sha256"] {
        if table.contains_key(k) {
            return Err(refused(format!(
                "{}: {k} comes from the node's own files, not the declarations",
                declarations.display()
            )));
        }
    }
    table.insert("id".into(), cfg.party.as_str().into());
    table.insert(
        "signing_key".into(),
        encode_public_key(&signing.verifying_key()).into(),
    );
    table.insert("spki_sha256".into(), spki.into());
    let mut e: PartyEntryFile = table
        .try_into()
        .map_err(|e| refused(format!("{}: {e}", declarations.display())))?;
    // A key rolled in (`init --rotate`) is listed beside the current one, valid from now.
    let now = poc247_node::peers::directory::now_rfc3339();
    let mut rolled = Vec::new();
    if let Some(next) = poc247_node::peers::rollover::next_signing_key(&cfg).map_err(refused)? {
        let key = encode_public_key(&next.verifying_key());
        if !e.signing_keys.iter().any(|k| k.key == key) {
            e.signing_keys
                .push(poc247_node::peers::directory::KeyWindowFile {
                    key,
                    valid_from: Some(now.clone()),
                    valid_until: None,
                });
            rolled.push("the next signing key");
        }
    }
    let (next_tls, _, _) = poc247_node::peers::rollover::next_tls_paths(&cfg);
    if next_tls.exists() {
        let key = poc247_node::init::spki_of_key_file(&next_tls).map_err(refused)?;
        if !e.spki_pins.iter().any(|k| k.key == key) {
            e.spki_pins
                .push(poc247_node::peers::directory::KeyWindowFile {
                    key,
                    valid_from: Some(now),
                    valid_until: None,
                });
            rolled.push("the next TLS key's pin");
        }
    }
    // Checked as a node will check it.
    poc247_node::peers::directory::Directory::from_file(
        poc247_node::peers::directory::DirectoryFile {
            party: vec![e.clone()],
        },
    )
    .map_err(refused)?;
    let signed = SignedEntry::sign(e, &signing).map_err(refused)?;
    let mut bytes = serde_json::to_vec_pretty(&signed).map_err(refused)?;
    bytes.push(b'\n');
    write_new(out, &bytes)?;
    Ok(Outcome {
        text: format!(
            "{}'s entry, signed with its node's key: {} (send it to the registry){}\n",
            cfg.party,
            out.display(),
            if rolled.is_empty() {
                String::new()
            } else {
                format!("; it lists {} beside the current one", rolled.join(" and "))
            }
        ),
        json: json!({ "party": cfg.party, "file": out }),
    })
}

/// `directory apply`: the version to the node, which checks it and puts it in force.
pub async fn apply(socket: &Path, file: &Path) -> Result<Outcome, Failure> {
    let body: Value = serde_json::from_slice(&read(file)?)
        .map_err(|e| refused(format!("{}: not JSON: {e}", file.display())))?;
    let r = Api::new(socket).post("/v1/directory", &body).await?;
    Ok(Outcome {
        text: format!(
            "directory version {} in force ({} parties)\n",
            r["serial"], r["parties"]
        ),
        json: r,
    })
}

/// `directory apply --offline`: a stopped node's first (or next) version, checked as the node
/// checks it, written with its files.
pub fn apply_offline(config: &Path, file: &Path) -> Result<Outcome, Failure> {
    let cfg = poc247_node::config::NodeConfig::load(config).map_err(refused)?;
    let registry_key = cfg.registry_key;
    let signing = poc247_node::keys::load_signing_key(&cfg.signing_key).map_err(refused)?;
    let next = SignedVersion::parse(&read(file)?)
        .map_err(|m| refused(format!("{}: {m}", file.display())))?;
    poc247_node::store::durable::create_dir_all(&cfg.data_dir)
        .map_err(|e| refused(format!("{}: {e}", cfg.data_dir.display())))?;
    let serial =
        poc247_node::peers::install_version(&cfg, &registry_key, &signing.verifying_key(), &next)
            .map_err(refused)?;
    Ok(Outcome {
        text: format!(
            "directory version {serial} written for {} ({}); it is in force when the node starts\n",
            cfg.party,
            cfg.directory.display()
        ),
        json: json!({ "serial": serial, "directory": cfg.directory }),
    })
}

/// `check-config`: everything `poc247 run` reads before it serves, read and checked the same
/// way, without binding a port or opening the store; the first fault named.
pub fn check_config(config: &Path) -> Result<Outcome, Failure> {
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        Failure::refused("bad-config", format!("{what}: {e}"))
    };
    let cfg = poc247_node::config::NodeConfig::load(config)
        .map_err(|e| bad(&config.display().to_string(), &e))?;
    let signing = poc247_node::keys::load_signing_key(&cfg.signing_key)
        .map_err(|e| bad("signing_key", &e))?;
    // The directory as the node takes it: the signed version in force, the registry's
    // signature checked, this node listed with its key (directory.toml is only a copy).
    let (directory, file) = poc247_node::peers::load_directory(&cfg)
        .map_err(|(file, m)| bad(&file.display().to_string(), &m))?;
    let directory = poc247_node::peers::check_own_entry(
        directory,
        &cfg.party,
        &poc247_node::peers::own_keys(&cfg, &signing.verifying_key()),
    )
    .map_err(|e| bad(&file.display().to_string(), &e))?;
    poc247_node::wire::tls::load(&cfg).map_err(|e| bad("TLS", &e))?;
    let version =
        poc247_node::peers::version_in_force(&cfg).map_err(|e| bad("directory version", &e))?;
    let parties = directory.iter().count();
    let mut text = format!(
        "{}: ok\n  party       {}\n  listen      {}\n  data        {}\n  directory   {} ({parties} parties)\n  signing key {}\n",
        config.display(),
        cfg.party,
        cfg.listen,
        cfg.data_dir.display(),
        cfg.directory.display(),
        poc247_protocol::fingerprint(&signing.verifying_key()),
    );
    text.push_str(&format!(
        "  registry    {} pinned; version {}\n",
        poc247_protocol::fingerprint(&cfg.registry_key),
        version.as_ref().map_or("none applied yet".to_owned(), |v| v
            .version
            .serial
            .to_string())
    ));
    if cfg.dev {
        text.push_str("  DEVELOPMENT network: the dev CA is accepted — never in service\n");
    }
    if cfg.drill.enabled {
        text.push_str("  DRILL node: exercise traffic only; its clock may be moved\n");
    }
    Ok(Outcome {
        text,
        json: json!({
            "ok": true,
            "party": cfg.party,
            "listen": cfg.listen.to_string(),
            "data_dir": cfg.data_dir,
            "directory": cfg.directory,
            "parties": parties,
            "signing_key": poc247_protocol::fingerprint(&signing.verifying_key()),
            "registry_key": poc247_protocol::fingerprint(&cfg.registry_key),
            "directory_version": version.map(|v| v.version.serial),
            "dev": cfg.dev,
            "drill": cfg.drill.enabled,
        }),
    })
}
