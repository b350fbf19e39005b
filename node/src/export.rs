//! A case as one file (`poc247 export`, `GET /v1/cases/{case_ref}/export`) and its offline
//! check (`poc247 verify-bundle`), described in docs/bundle.md.
//!
//! A bundle is the pretty JSON of [`Content`], then the line
//! `poc247-bundle-signature <128 lowercase hex digits>` and a newline: the exporting node's
//! ed25519 signature over `BUNDLE_DOMAIN || the JSON's bytes`. The content carries every
//! message as its sender signed it, every receipt as its receiver signed it, the attachments
//! (or only their hashes), the case's audit entries with the entries that chain them to a
//! checkpoint the node signed, the node's key history, the keys of each Party and the signed
//! directory version in force, and an HTML page of the timeline that [`render_html`] rebuilds
//! from the rest: [`verify`] needs nothing but the file.

use crate::attachments::{self as att, Attachments};
use crate::audit::{self, Actor, AuditEntry, AuditRecord, Checkpoint, KeyHistory, KeyLink};
use crate::error::NodeError;
use crate::lifecycle::CaseRecord;
use crate::peers::directory::{decode_public_key, encode_public_key, Directory};
use crate::peers::registry::SignedVersion;
use crate::store::{DeliveryState, Direction, Store, StoredMessage};
use base64::Engine as _;
use poc247_protocol::{
    codec, fingerprint, sha256_hex, CaseRef, Envelope, MessageId, PartyId, Signature64,
    SignedEnvelope, SignedReceipt, SigningKey, UtcMs, VerifyingKey,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// The format named in every bundle.
pub const FORMAT: &str = "poc247-bundle/1";
/// The domain separator of a bundle's signature.
pub const BUNDLE_DOMAIN: &[u8] = b"poc247/v1/bundle\0";
/// The line that ends the content and carries the signature.
pub const SIGNATURE_LINE: &[u8] = b"\npoc247-bundle-signature ";
/// The largest bundle `verify-bundle` reads.
pub const MAX_BUNDLE_BYTES: u64 = 256 << 20;
/// The most attachment bytes a bundle carries (`attachments=files`); above, export the hashes.
pub const MAX_INCLUDED_BYTES: u64 = 64 << 20;
/// Audit entries read at once while looking for a case's.
const PAGE: usize = 10_000;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(s: &str, what: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| format!("{what} is not base64: {e}"))
}

/// What a bundle holds, before its signature.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Content {
    /// [`FORMAT`].
    pub format: String,
    /// The case.
    pub case_ref: String,
    /// The party of the exporting node.
    pub exported_by: String,
    /// When, RFC 3339 UTC.
    pub exported_at: String,
    /// Whether the attachments' bytes are included (`files`) or only their hashes (`hashes`).
    pub attachments_mode: String,
    /// The exporting node's signing key (base64, as the directory writes keys).
    pub node_key: String,
    /// The node's signing-key history, each link bincode then base64.
    pub key_history: Vec<String>,
    /// The keys of the Parties, and the directory version that names them.
    pub directory: DirectoryEvidence,
    /// The case as the node showed it when exported (`GET /v1/cases/{case_ref}` without its
    /// timeline).
    pub case: Value,
    /// Every message of the case, in the case's order.
    pub messages: Vec<MessageEvidence>,
    /// The case's attachments.
    pub attachments: Vec<AttachmentEvidence>,
    /// The case's audit entries and what chains them to signed checkpoints.
    pub audit: AuditEvidence,
    /// The printable page of the case, rebuilt from the rest by [`render_html`].
    pub html: String,
}

/// The keys a verifier checks signatures with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryEvidence {
    /// The signed directory version in force at the exporting node, if one was applied there.
    pub version: Option<SignedVersion>,
    /// The registry key the exporting node pins (base64), if any.
    pub registry_key: Option<String>,
    /// Each Party of the case: its key in the directory in force first, then every older key
    /// of it the node has seen.
    pub parties: Vec<PartyKeys>,
}

/// One Party's keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartyKeys {
    /// The party.
    pub party: String,
    /// Its name in the directory.
    pub name: String,
    /// Its keys (base64), the one in force first.
    pub keys: Vec<String>,
}

/// One message.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageEvidence {
    /// Its id.
    pub id: String,
    /// `inbound` or `outbound`, at the exporting node.
    pub direction: String,
    /// Its delivery at the exporting node (`queued`, `delivered`, `failed: …`, `received`,
    /// `recorded`).
    pub delivery: String,
    /// When the exporting node stored it, RFC 3339 UTC.
    pub stored_at: String,
    /// The signed envelope exactly as it travelled, base64; empty once purged.
    pub envelope: String,
    /// The receiver's signed receipt (bincode, base64), if any.
    pub receipt: Option<String>,
}

/// One attachment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentEvidence {
    /// The message that lists it.
    pub message_id: String,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// `included`, `hash-only`, `purged` or `not-held`.
    pub held: String,
    /// Its bytes, base64, when included.
    pub content: Option<String>,
    /// The receiver's signed receipt for the file (bincode, base64), held by its sender.
    pub receipt: Option<String>,
}

/// The audit entries.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEvidence {
    /// Entries (bincode, base64, exactly as chained), in runs: each run starts at an entry of
    /// the case and ends at a signed checkpoint; an entry of another case inside a run is
    /// there only to link.
    pub entries: Vec<String>,
    /// The checkpoints ending the runs (bincode, base64).
    pub checkpoints: Vec<String>,
}

/// Why an export was not made.
#[derive(Debug)]
pub enum ExportError {
    /// Refused as asked (attachments over [`MAX_INCLUDED_BYTES`]); nothing recorded.
    TooLarge(String),
    /// No such case, or the store failed.
    Node(NodeError),
}

impl From<NodeError> for ExportError {
    fn from(e: NodeError) -> Self {
        ExportError::Node(e)
    }
}

impl From<poc247_protocol::CodecError> for ExportError {
    fn from(e: poc247_protocol::CodecError) -> Self {
        ExportError::Node(e.into())
    }
}

/// What an export reads: the node's parts it needs, given explicitly.
pub struct Source<'a> {
    /// The store.
    pub store: &'a Store,
    /// The evidence files.
    pub attachments: &'a Attachments,
    /// The directory in force.
    pub directory: &'a Directory,
    /// The signed directory version in force, if any.
    pub version: Option<SignedVersion>,
    /// The registry key pinned, if any.
    pub registry_key: Option<VerifyingKey>,
    /// The node's party.
    pub party: &'a PartyId,
    /// The node's signing key.
    pub signing: &'a SigningKey,
}

/// The query of an export: nothing, or `attachments=hashes` (`false`) or `files` (`true`).
pub fn with_files(query: &BTreeMap<String, String>) -> Result<bool, String> {
    let mut with = false;
    for (k, v) in query {
        match (k.as_str(), v.as_str()) {
            ("attachments", "hashes") => with = false,
            ("attachments", "files") => with = true,
            ("attachments", v) => {
                return Err(format!(
                    "attachments: {v:?} is not one of hashes, files (the files' bytes, or only \
                     their SHA-256)"
                ))
            }
            (k, _) => {
                return Err(format!(
                    "unknown query parameter {k:?}: the only one is attachments=hashes|files"
                ))
            }
        }
    }
    Ok(with)
}

/// Exports `case_ref` as a signed bundle: audited `case_exported:<mode>` by `actor`, a
/// checkpoint signed at the head and flushed first, so the export itself is in the chain the
/// bundle proves. `summary` renders the case as `GET /v1/cases/{case_ref}` does.
pub async fn export(
    src: &Source<'_>,
    case_ref: &CaseRef,
    with_files: bool,
    actor: Actor,
    now: UtcMs,
    summary: impl Fn(&CaseRecord) -> Value,
) -> Result<Vec<u8>, ExportError> {
    let store = src.store;
    let Some(case) = store.case(case_ref)? else {
        if let Some((at, reason)) = store.purged_case(case_ref)? {
            return Err(NodeError::NotFound(format!(
                "case {case_ref} (purged on {}: {reason})",
                at.rfc3339()
            ))
            .into());
        }
        return Err(NodeError::NotFound(format!("case {case_ref}")).into());
    };
    let mut messages = Vec::new();
    for id in &case.messages {
        if let Some(m) = store.message(*id)? {
            messages.push(m);
        }
    }
    let attachments = attachment_evidence(src, &messages, with_files)?;
    let mode = if with_files { "files" } else { "hashes" };
    store.audit(&AuditRecord {
        at: now,
        actor,
        event: format!("case_exported:{mode}"),
        case_ref: Some(case_ref.clone()),
        message_id: None,
    })?;
    store.checkpoint(now)?;
    store.commit().await?;
    tracing::info!(case = %case_ref, mode, "case exported as a bundle");
    let mut parties: Vec<PartyId> = vec![src.party.clone()];
    for m in &messages {
        for p in [&m.from, &m.to] {
            if !parties.contains(p) {
                parties.push(p.clone());
            }
        }
    }
    let mut party_keys = Vec::new();
    for p in &parties {
        let entry = src.directory.get(p);
        let mut keys: Vec<String> = entry
            .map(|e| e.keys.iter().map(|w| encode_public_key(&w.value)).collect())
            .unwrap_or_default();
        let older = if p == src.party {
            store
                .key_links()?
                .iter()
                .filter_map(|l| VerifyingKey::from_bytes(&l.new).ok())
                .collect()
        } else {
            store.peer_keys(p)?
        };
        for k in older {
            let k = encode_public_key(&k);
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        party_keys.push(PartyKeys {
            party: p.to_string(),
            name: entry.map(|e| e.name.clone()).unwrap_or_default(),
            keys,
        });
    }
    let mut content = Content {
        format: FORMAT.into(),
        case_ref: case_ref.to_string(),
        exported_by: src.party.to_string(),
        exported_at: now.rfc3339(),
        attachments_mode: mode.into(),
        node_key: encode_public_key(&src.signing.verifying_key()),
        key_history: store
            .key_links()?
            .iter()
            .map(|l| codec::encode(l).map(|b| b64(&b)))
            .collect::<Result<_, _>>()?,
        directory: DirectoryEvidence {
            version: src.version.clone(),
            registry_key: src.registry_key.as_ref().map(encode_public_key),
            parties: party_keys,
        },
        case: summary(&case),
        messages: messages.iter().map(message_evidence).collect(),
        attachments,
        audit: audit_evidence(store, case_ref)?,
        html: String::new(),
    };
    content.html = render_html(&content);
    let mut out = serde_json::to_vec_pretty(&content)
        .map_err(|e| NodeError::Storage(format!("encoding a bundle: {e}")))?;
    let signature = poc247_protocol::signature::sign(src.signing, BUNDLE_DOMAIN, &out);
    out.extend_from_slice(SIGNATURE_LINE);
    out.extend_from_slice(hex::encode(signature.0).as_bytes());
    out.push(b'\n');
    Ok(out)
}

fn message_evidence(m: &StoredMessage) -> MessageEvidence {
    let (direction, delivery) = (
        match m.direction {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        },
        match &m.delivery {
            DeliveryState::Queued => "queued".to_owned(),
            DeliveryState::Delivered => "delivered".to_owned(),
            DeliveryState::Failed { reason } => format!("failed: {reason}"),
            DeliveryState::Received => "received".to_owned(),
            DeliveryState::Local => "recorded".to_owned(),
        },
    );
    MessageEvidence {
        id: m.id.to_string(),
        direction: direction.into(),
        delivery,
        stored_at: m.stored_at.rfc3339(),
        envelope: b64(&m.envelope),
        receipt: m
            .receipt
            .as_ref()
            .and_then(|r| codec::encode(r).ok())
            .map(|b| b64(&b)),
    }
}

fn attachment_evidence(
    src: &Source<'_>,
    messages: &[StoredMessage],
    with_files: bool,
) -> Result<Vec<AttachmentEvidence>, ExportError> {
    let mut out = Vec::new();
    let mut total = 0u64;
    for m in messages {
        let Some(body) = att::body_of(&m.envelope) else {
            continue;
        };
        for a in att::listed(&body) {
            let Some(hash) = poc247_protocol::parse_sha256_hex(&a.sha256) else {
                continue;
            };
            let held = if src.attachments.purged_at(m.id, &hash)?.is_some() {
                "purged"
            } else if src.attachments.record(&hash)?.is_none() {
                "not-held"
            } else if with_files {
                "included"
            } else {
                "hash-only"
            };
            let content = if held == "included" {
                total = total.saturating_add(a.size);
                if total > MAX_INCLUDED_BYTES {
                    return Err(ExportError::TooLarge(format!(
                        "the case's attachments are over {} MiB, the most a bundle carries: \
                         export their hashes (attachments=hashes) and hand the files over with \
                         `poc247 fetch`",
                        MAX_INCLUDED_BYTES >> 20
                    )));
                }
                let path = src.attachments.path(&hash);
                let bytes = std::fs::read(&path).map_err(|e| NodeError::io(&path, e))?;
                Some(b64(&bytes))
            } else {
                None
            };
            let receipt = src
                .attachments
                .receipt(m.id, &hash)?
                .map(|r| codec::encode(&r).map(|b| b64(&b)))
                .transpose()?;
            out.push(AttachmentEvidence {
                message_id: m.id.to_string(),
                sha256: a.sha256.clone(),
                held: held.into(),
                content,
                receipt,
            });
        }
    }
    Ok(out)
}

/// The case's entries, each with the entries after it up to the first checkpoint at or after
/// it, and those checkpoints.
fn audit_evidence(store: &Store, case_ref: &CaseRef) -> Result<AuditEvidence, NodeError> {
    let mut seqs = Vec::new();
    let mut from = 1;
    loop {
        let page = store.audit_entries(from, PAGE)?;
        let Some(last) = page.last().map(|e| e.seq) else {
            break;
        };
        seqs.extend(
            page.iter()
                .filter(|e| e.case_ref.as_ref() == Some(case_ref))
                .map(|e| e.seq),
        );
        from = last + 1;
    }
    let first = seqs.first().copied().unwrap_or(u64::MAX);
    let checkpoints = store.checkpoints_from(first)?;
    let (mut entries, mut ends) = (Vec::new(), Vec::new());
    let mut covered = 0u64;
    for s in seqs {
        if s <= covered {
            continue;
        }
        let Some(c) = checkpoints.iter().find(|c| c.seq >= s) else {
            return Err(NodeError::Storage(format!(
                "audit entry {s} has no signed checkpoint after it"
            )));
        };
        let run = store.audit_entries(s, usize::try_from(c.seq - s + 1).unwrap_or(usize::MAX))?;
        for e in &run {
            entries.push(b64(&codec::encode(e)?));
        }
        ends.push(b64(&codec::encode(c)?));
        covered = c.seq;
    }
    Ok(AuditEvidence {
        entries,
        checkpoints: ends,
    })
}

/// What [`verify`] found in a sound bundle.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    /// The case.
    pub case_ref: String,
    /// Who exported it, when, with which key (fingerprint).
    pub exported_by: String,
    /// When.
    pub exported_at: String,
    /// The exporting node's key fingerprint.
    pub node_key: String,
    /// Where the keys come from: the directory version and its registry, or the node's own
    /// directory.
    pub directory: String,
    /// Messages whose sender's signature verified.
    pub messages: usize,
    /// Messages purged (no content to check).
    pub purged_messages: usize,
    /// Receipts whose receiver's signature verified.
    pub receipts: usize,
    /// Attachments included whose bytes match their signed hash.
    pub attachments_included: usize,
    /// Attachments given by their hash only.
    pub attachments_by_hash: usize,
    /// Receipts for attachments whose receiver's signature verified.
    pub attachment_receipts: usize,
    /// Audit entries of the case, all chained to signed checkpoints.
    pub audit_entries: usize,
    /// Checkpoints verified with the node's key history.
    pub checkpoints: usize,
    /// The HTML page.
    pub html: String,
}

/// Splits a bundle file into its content bytes and signature, strictly: one trailing
/// signature line of 128 lowercase hex digits.
fn split(file: &[u8]) -> Result<(&[u8], Signature64), String> {
    let body = file
        .strip_suffix(b"\n")
        .ok_or("the bundle does not end with its signature line")?;
    let at = body
        .windows(SIGNATURE_LINE.len())
        .rposition(|w| w == SIGNATURE_LINE)
        .ok_or("the bundle has no signature line (`poc247-bundle-signature …`)")?;
    let hexsig = &body[at + SIGNATURE_LINE.len()..];
    let lower = hexsig.len() == 128
        && hexsig
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c));
    if !lower {
        return Err("the signature line does not hold 128 lowercase hex digits".into());
    }
    let mut sig = [0u8; 64];
    hex::decode_to_slice(hexsig, &mut sig)
        .map_err(|e| format!("the signature line is not hex: {e}"))?;
    Ok((&body[..at], Signature64(sig)))
}

/// Reads a bundle's content without checking anything (to extract its HTML page once
/// [`verify`] passed).
pub fn content(file: &[u8]) -> Result<Content, String> {
    let (bytes, _) = split(file)?;
    serde_json::from_slice(bytes).map_err(|e| format!("the bundle's content is not valid: {e}"))
}

fn key(text: &str, what: &str) -> Result<VerifyingKey, String> {
    decode_public_key(text).map_err(|m| format!("{what}: {m}"))
}

/// Checks a bundle offline: the node's signature over the whole content with the key the
/// bundle names, that key the last of the node's key history and the one the directory
/// version lists for it (when one is named, signed by the registry key named), every message
/// against its sender's keys, every receipt against its receiver's, every included
/// attachment against the hash its signed message lists, the audit entries chained to
/// checkpoints the node's key history signed, the export recorded among them, and the HTML
/// page rebuilt from the rest. The first thing wrong is the error.
pub fn verify(file: &[u8]) -> Result<Verified, String> {
    if file.len() as u64 > MAX_BUNDLE_BYTES {
        return Err(format!(
            "the file is {} bytes, over the {} MiB a bundle may be",
            file.len(),
            MAX_BUNDLE_BYTES >> 20
        ));
    }
    let (bytes, signature) = split(file)?;
    let c: Content = serde_json::from_slice(bytes)
        .map_err(|e| format!("the bundle's content is not valid: {e}"))?;
    if c.format != FORMAT {
        return Err(format!("format {:?} is not {FORMAT}", c.format));
    }
    let node_key = key(&c.node_key, "node_key")?;
    if !poc247_protocol::signature::verify(&node_key, BUNDLE_DOMAIN, bytes, &signature) {
        return Err(format!(
            "the bundle's signature does not verify with the exporting node's key {}: \
             the file was changed after it was exported",
            fingerprint(&node_key)
        ));
    }
    let case_ref = CaseRef::parse(&c.case_ref).map_err(|e| format!("case_ref: {e}"))?;
    let exporter = PartyId::parse(&c.exported_by).map_err(|e| format!("exported_by: {e}"))?;
    let mut links = Vec::new();
    for (i, l) in c.key_history.iter().enumerate() {
        let b = unb64(l, &format!("key_history[{i}]"))?;
        links.push(
            codec::decode::<KeyLink>(&b)
                .map_err(|e| format!("key_history[{i}] does not decode: {e}"))?,
        );
    }
    let history = KeyHistory::check(&links, &node_key)?;
    // The keys of each Party; the directory version, when named, must list them.
    let mut keys: BTreeMap<String, Vec<VerifyingKey>> = BTreeMap::new();
    for p in &c.directory.parties {
        let mut ks = Vec::new();
        for (i, k) in p.keys.iter().enumerate() {
            ks.push(key(k, &format!("the key {i} of {}", p.party))?);
        }
        keys.insert(p.party.clone(), ks);
    }
    let mine = keys.entry(exporter.to_string()).or_default();
    for l in &links {
        if let Ok(k) = VerifyingKey::from_bytes(&l.new) {
            if !mine.contains(&k) {
                mine.push(k);
            }
        }
    }
    let directory = match (&c.directory.version, &c.directory.registry_key) {
        (Some(v), Some(rk)) => {
            let rk = key(rk, "registry_key")?;
            let dir = crate::peers::registry::check(v, &rk, None)
                .map_err(|m| format!("the directory version: {m}"))?;
            for p in &c.directory.parties {
                let id = PartyId::parse(&p.party).map_err(|e| format!("{}: {e}", p.party))?;
                let listed: Option<Vec<VerifyingKey>> = dir
                    .get(&id)
                    .map(|e| e.keys.iter().map(|w| w.value).collect());
                let first = keys.get(&p.party).and_then(|k| k.first()).copied();
                if listed.is_some_and(|l| !first.is_some_and(|f| l.contains(&f))) {
                    return Err(format!(
                        "the key given for {} is not the one directory version {} lists",
                        p.party, v.version.serial
                    ));
                }
            }
            if !dir
                .get(&exporter)
                .is_some_and(|e| e.keys.iter().any(|w| w.value == node_key))
            {
                return Err(format!(
                    "directory version {} does not list the exporting node's key for {exporter}",
                    v.version.serial
                ));
            }
            format!(
                "directory version {} signed by the registry key {}",
                v.version.serial,
                fingerprint(&rk)
            )
        }
        (Some(_), None) => {
            return Err("the bundle names a directory version but no registry key".into())
        }
        (None, _) => "the exporting node's directory (no signed directory version was in \
                      force there)"
            .to_owned(),
    };
    let any = |party: &PartyId| keys.get(party.as_str()).cloned().unwrap_or_default();

    // Messages and receipts.
    let (mut checked, mut purged, mut receipts) = (0, 0, 0);
    let mut listed: BTreeMap<(String, String), (u64, PartyId)> = BTreeMap::new();
    let mut ids = BTreeSet::new();
    for (i, m) in c.messages.iter().enumerate() {
        let id =
            m.id.parse::<MessageId>()
                .map_err(|e| format!("message {i}: {e}"))?;
        ids.insert(id);
        let envelope = unb64(&m.envelope, &format!("message {id}'s envelope"))?;
        if envelope.is_empty() {
            purged += 1;
            continue;
        }
        let signed = SignedEnvelope::from_bytes(&envelope)
            .map_err(|e| format!("message {id}'s envelope does not decode: {e}"))?;
        let header = signed
            .unverified_header()
            .map_err(|e| format!("message {id}'s header does not decode: {e}"))?;
        let verified = any(&header.from)
            .iter()
            .find_map(|k| signed.verify(&header.from, k).ok())
            .ok_or_else(|| {
                format!(
                    "message {id} is not signed by a key of its sender {}",
                    header.from
                )
            })?;
        let h = &verified.envelope().header;
        if h.id != id || h.case_ref != case_ref {
            return Err(format!(
                "message {id}'s signed header names message {} of case {}",
                h.id, h.case_ref
            ));
        }
        checked += 1;
        for a in att::listed(&verified.envelope().body) {
            listed.insert((m.id.clone(), a.sha256.clone()), (a.size, h.to.clone()));
        }
        if let Some(r) = &m.receipt {
            let b = unb64(r, &format!("message {id}'s receipt"))?;
            let r: SignedReceipt = codec::decode(&b)
                .map_err(|e| format!("message {id}'s receipt does not decode: {e}"))?;
            let sha = poc247_protocol::envelope_sha256(&envelope);
            let ok = any(&h.to)
                .iter()
                .any(|k| r.verify(&h.to, k, id, &sha).is_ok());
            if !ok {
                return Err(format!(
                    "the receipt of message {id} is not {}'s signature over this envelope",
                    h.to
                ));
            }
            receipts += 1;
        }
    }

    // Attachments.
    let (mut included, mut by_hash, mut file_receipts) = (0, 0, 0);
    for a in &c.attachments {
        let Some((size, receiver)) = listed.get(&(a.message_id.clone(), a.sha256.clone())) else {
            return Err(format!(
                "attachment {} is not listed by the signed message {}",
                a.sha256, a.message_id
            ));
        };
        match (&a.content, a.held.as_str()) {
            (Some(b), "included") => {
                let bytes = unb64(b, &format!("attachment {}", a.sha256))?;
                let sha = sha256_hex(&audit::sha256(&bytes));
                if sha != a.sha256 || bytes.len() as u64 != *size {
                    return Err(format!(
                        "the bytes of attachment {} hash to {sha} ({} bytes): not the file \
                         its message lists",
                        a.sha256,
                        bytes.len()
                    ));
                }
                included += 1;
            }
            (None, "hash-only" | "purged" | "not-held") => by_hash += 1,
            _ => {
                return Err(format!(
                    "attachment {}: held and content disagree",
                    a.sha256
                ))
            }
        }
        if let Some(r) = &a.receipt {
            let what = format!("the receipt of attachment {}", a.sha256);
            let r: SignedReceipt = codec::decode(&unb64(r, &what)?)
                .map_err(|e| format!("{what} does not decode: {e}"))?;
            let (id, hash) = (
                a.message_id
                    .parse::<MessageId>()
                    .map_err(|e| format!("{what}: {e}"))?,
                poc247_protocol::parse_sha256_hex(&a.sha256)
                    .ok_or_else(|| format!("{what}: the hash is not 64 lowercase hex digits"))?,
            );
            if !any(receiver)
                .iter()
                .any(|k| r.verify(receiver, k, id, &hash).is_ok())
            {
                return Err(format!(
                    "{what} is not {receiver}'s signature over this file"
                ));
            }
            file_receipts += 1;
        }
    }

    // The audit entries, in runs ending at signed checkpoints.
    let mut checkpoints = Vec::new();
    for (i, b) in c.audit.checkpoints.iter().enumerate() {
        let cp: Checkpoint = codec::decode(&unb64(b, &format!("checkpoint {i}"))?)
            .map_err(|e| format!("checkpoint {i} does not decode: {e}"))?;
        if !history.signed(&cp) {
            return Err(format!(
                "the checkpoint at audit position {} is not signed by the node's key history",
                cp.seq
            ));
        }
        checkpoints.push(cp);
    }
    let mut ends = checkpoints.iter();
    let mut run: Option<(u64, [u8; 32])> = None;
    let (mut of_case, mut exported) = (0, false);
    for (i, b) in c.audit.entries.iter().enumerate() {
        let raw = unb64(b, &format!("audit entry {i}"))?;
        let e: AuditEntry =
            codec::decode(&raw).map_err(|e| format!("audit entry {i} does not decode: {e}"))?;
        match run {
            Some((seq, hash)) if seq.checked_add(1) != Some(e.seq) || e.prev != hash => {
                return Err(format!(
                    "audit entry {} does not follow entry {seq} in the chain",
                    e.seq
                ))
            }
            None if e.case_ref.as_ref() != Some(&case_ref) => {
                return Err(format!(
                    "audit entry {} starts a run but is not of case {case_ref}",
                    e.seq
                ))
            }
            _ => {}
        }
        if e.case_ref.as_ref() == Some(&case_ref) {
            of_case += 1;
            exported |= e.event.starts_with("case_exported:");
        }
        let hash = audit::sha256(&raw);
        run = Some((e.seq, hash));
        if let Some(cp) = checkpoints.iter().find(|cp| cp.seq == e.seq) {
            if ends.next().map(|n| n.seq) != Some(cp.seq) || cp.head != hash {
                return Err(format!(
                    "audit entries up to {} differ from the checkpoint the node signed there",
                    e.seq
                ));
            }
            run = None;
        }
    }
    if let Some((seq, _)) = run {
        return Err(format!(
            "audit entry {seq} is not chained to a signed checkpoint"
        ));
    }
    if ends.next().is_some() {
        return Err("a checkpoint of the bundle ends no run of audit entries".into());
    }
    if !exported {
        return Err("the bundle's audit entries do not record its export".into());
    }
    if render_html(&c) != c.html {
        return Err("the HTML page is not the one the bundle's content gives".into());
    }
    Ok(Verified {
        case_ref: case_ref.to_string(),
        exported_by: exporter.to_string(),
        exported_at: c.exported_at.clone(),
        node_key: fingerprint(&node_key),
        directory,
        messages: checked,
        purged_messages: purged,
        receipts,
        attachments_included: included,
        attachments_by_hash: by_hash,
        attachment_receipts: file_receipts,
        audit_entries: of_case,
        checkpoints: checkpoints.len(),
        html: "rebuilt from the content: identical".into(),
    })
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn text_of(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        Value::Array(a) if a.is_empty() => "—".into(),
        Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
            a.iter().map(text_of).collect::<Vec<_>>().join("; ")
        }
        other => other.to_string(),
    }
}

fn decoded(m: &MessageEvidence) -> Option<(Envelope, Vec<u8>)> {
    let bytes = unb64(&m.envelope, "").ok()?;
    let signed = SignedEnvelope::from_bytes(&bytes).ok()?;
    Some((codec::decode(&signed.payload).ok()?, bytes))
}

const STYLE: &str = "body{font-family:'DejaVu Sans',Arial,sans-serif;font-size:10.5pt;color:#111;\
margin:24px;max-width:1100px}h1{font-size:18pt;margin:0 0 4px}h2{font-size:13pt;margin:22px 0 6px;\
border-bottom:2px solid #333}p.sub{margin:0 0 12px;color:#333}table{border-collapse:collapse;\
width:100%;margin-bottom:8px}th,td{border:1px solid #888;padding:3px 6px;text-align:left;\
vertical-align:top}th{background:#e8e8e8}td.k{width:28%;color:#333}tr.msg td{background:#f4f4f4;\
font-weight:bold}dl{margin:0}dt{font-weight:bold;margin-top:3px}dd{margin:0 0 0 14px;\
white-space:pre-wrap;word-break:break-word}code{font-size:9pt;word-break:break-all}\
.note{font-size:9pt;color:#333}@page{size:A4;margin:14mm}@media print{body{margin:0;\
max-width:none}tr,dl{page-break-inside:avoid}h2{page-break-after:avoid}}";

/// The printable page of a bundle's case: self-contained (inline CSS, no script, nothing
/// fetched), times in UTC. A function of the content alone (its `html` member aside), so a
/// verifier rebuilds it and compares.
pub fn render_html(c: &Content) -> String {
    let mut h = String::new();
    let case = &c.case;
    let get = |k: &str| text_of(case.get(k).unwrap_or(&Value::Null));
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Case {cr} — poc247 bundle</title><style>{STYLE}</style></head><body>\n\
         <h1>Case {cr}</h1>\n<p class=\"sub\">{kind} · requested by {req} of {red} · state \
         <b>{state}</b> · urgency {urg}</p>\n",
        cr = esc(&c.case_ref),
        kind = esc(&get("kind")),
        req = esc(&get("requester")),
        red = esc(&get("requested")),
        state = esc(&get("state")),
        urg = esc(&get("urgency")),
    );
    h.push_str("<h2>The case</h2>\n<table>\n");
    if let Some(obj) = case.as_object() {
        for (k, v) in obj {
            let _ = writeln!(
                h,
                "<tr><td class=\"k\">{}</td><td>{}</td></tr>",
                esc(k),
                esc(&text_of(v))
            );
        }
    }
    h.push_str(
        "</table>\n<h2>Timeline (UTC)</h2>\n<table>\n<tr><th>#</th><th>Signed at</th>\
                <th>Kind</th><th>From → to</th><th>Delivery</th><th>Receipt</th></tr>\n",
    );
    for (i, m) in c.messages.iter().enumerate() {
        let receipt = m
            .receipt
            .as_ref()
            .and_then(|r| unb64(r, "").ok())
            .and_then(|b| codec::decode::<SignedReceipt>(&b).ok())
            .map(|r| {
                format!(
                    "signed by {} at {}",
                    r.receipt.receiver,
                    r.receipt.received_at.rfc3339()
                )
            })
            .unwrap_or_else(|| "none".into());
        match decoded(m) {
            Some((e, bytes)) => {
                let hd = &e.header;
                let _ = writeln!(
                    h,
                    "<tr class=\"msg\"><td>{}</td><td>{}</td><td>{}</td><td>{} → {}</td>\
                     <td>{}</td><td>{}</td></tr>",
                    i + 1,
                    esc(&hd.created_at.rfc3339()),
                    esc(e.body.kind().as_str()),
                    esc(hd.from.as_str()),
                    esc(hd.to.as_str()),
                    esc(&m.delivery),
                    esc(&receipt)
                );
                let _ = write!(
                    h,
                    "<tr><td></td><td colspan=\"5\"><p class=\"note\">message <code>{}</code> · \
                     urgency {} · language {}{}{} · envelope SHA-256 <code>{}</code></p><dl>",
                    esc(&m.id),
                    esc(&text_of(&json!(hd.urgency))),
                    esc(&text_of(&json!(hd.language))),
                    if hd.exercise { " · EXERCISE" } else { "" },
                    hd.in_reply_to
                        .map(|r| format!(" · in reply to <code>{r}</code>"))
                        .unwrap_or_default(),
                    sha256_hex(&poc247_protocol::envelope_sha256(&bytes)),
                );
                if let Some(obj) = e.body.to_json().as_object() {
                    // A field left empty says nothing: only those given are shown.
                    let given =
                        |v: &&Value| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty());
                    for (k, v) in obj.iter().filter(|(_, v)| given(v)) {
                        let _ = write!(
                            h,
                            "<dt>{}</dt><dd>{}</dd>",
                            esc(&k.replace('_', " ")),
                            esc(&text_of(v))
                        );
                    }
                }
                h.push_str("</dl></td></tr>\n");
            }
            None => {
                let _ = writeln!(
                    h,
                    "<tr class=\"msg\"><td>{}</td><td colspan=\"3\">message <code>{}</code>: \
                     content purged (stored {})</td><td>{}</td><td>{}</td></tr>",
                    i + 1,
                    esc(&m.id),
                    esc(&m.stored_at),
                    esc(&m.delivery),
                    esc(&receipt)
                );
            }
        }
    }
    h.push_str("</table>\n<h2>Attachments</h2>\n");
    if c.attachments.is_empty() {
        h.push_str("<p>None.</p>\n");
    } else {
        h.push_str(
            "<table><tr><th>Name</th><th>Bytes</th><th>SHA-256</th><th>Message</th>\
             <th>In this bundle</th><th>Receipt</th></tr>\n",
        );
        // Each file's name and size as its message's signed body lists them.
        let mut named = BTreeMap::new();
        for m in &c.messages {
            if let Some((e, _)) = decoded(m) {
                for a in att::listed(&e.body) {
                    named.insert((m.id.clone(), a.sha256.clone()), (a.name.clone(), a.size));
                }
            }
        }
        for a in &c.attachments {
            let receipt = a
                .receipt
                .as_ref()
                .and_then(|r| unb64(r, "").ok())
                .and_then(|b| codec::decode::<SignedReceipt>(&b).ok())
                .map(|r| {
                    format!(
                        "signed by {} at {}",
                        r.receipt.receiver,
                        r.receipt.received_at.rfc3339()
                    )
                })
                .unwrap_or_else(|| "—".into());
            let (name, size) = named
                .get(&(a.message_id.clone(), a.sha256.clone()))
                .map_or(("", 0), |(n, s)| (n.as_str(), *s));
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td>\
                 <td>{}</td><td>{}</td></tr>",
                esc(name),
                size,
                esc(&a.sha256),
                esc(&a.message_id),
                esc(&a.held),
                esc(&receipt)
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str(
        "<h2>Audit entries of the case</h2>\n<table><tr><th>#</th><th>At (UTC)</th>\
         <th>Actor</th><th>Event</th><th>Message</th></tr>\n",
    );
    for b in &c.audit.entries {
        let Some(e) = unb64(b, "")
            .ok()
            .and_then(|raw| codec::decode::<AuditEntry>(&raw).ok())
        else {
            continue;
        };
        if e.case_ref.as_ref().map(|r| r.as_str()) != Some(c.case_ref.as_str()) {
            continue;
        }
        let actor = match &e.actor {
            Actor::Local { uid: Some(u) } => format!("local uid {u}"),
            Actor::Local { uid: None } => "local".into(),
            Actor::Peer(p) => format!("peer {p}"),
            Actor::Node => "node".into(),
        };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            e.seq,
            esc(&e.at.rfc3339()),
            esc(&actor),
            esc(&e.event),
            e.message_id.map(|m| m.to_string()).unwrap_or_default()
        );
    }
    let version = c
        .directory
        .version
        .as_ref()
        .map(|v| format!("directory version {}", v.version.serial))
        .unwrap_or_else(|| "the exporting node's directory (no signed version)".into());
    let node_fp = decode_public_key(&c.node_key)
        .map(|k| fingerprint(&k))
        .unwrap_or_default();
    let _ = write!(
        h,
        "</table>\n<h2>This record</h2>\n<p>Exported by the node of {} on {} (UTC), signed with \
         its key <code>{}</code>; keys from {}. Every message above is as its sender signed \
         it, every receipt as its receiver signed it. The file this page came from is checked \
         with <code>poc247 verify-bundle FILE</code>, without a node.</p>\n</body></html>\n",
        esc(&c.exported_by),
        esc(&c.exported_at),
        esc(&node_fp),
        esc(&version)
    );
    h
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn signed(content: &[u8], key: &SigningKey) -> Vec<u8> {
        let sig = poc247_protocol::signature::sign(key, BUNDLE_DOMAIN, content);
        let mut out = content.to_vec();
        out.extend_from_slice(SIGNATURE_LINE);
        out.extend_from_slice(hex::encode(sig.0).as_bytes());
        out.push(b'\n');
        out
    }

    #[test]
    fn a_malformed_bundle_is_refused_with_a_reason_and_never_panics() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let good_sig = signed(b"{}", &key);
        let upper = {
            let s = String::from_utf8(good_sig.clone()).unwrap();
            let at = s.rfind(' ').unwrap();
            format!("{}{}", &s[..at], s[at..].to_uppercase()).into_bytes()
        };
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (Vec::new(), "does not end"),
            (b"\n".to_vec(), "no signature line"),
            (
                b"{}\npoc247-bundle-signature abc\n".to_vec(),
                "128 lowercase",
            ),
            (upper, "128 lowercase"),
            (good_sig, "not valid"),
            (signed(b"[1,2", &key), "not valid"),
            (signed(&vec![b'['; 10_000], &key), "not valid"),
        ];
        for (bytes, why) in cases {
            let e = verify(&bytes).unwrap_err();
            assert!(e.contains(why), "{e:?} for {why}");
            assert!(content(&bytes).is_err() || why == "not valid");
        }
    }

    #[test]
    fn a_bundle_missing_members_is_refused_as_content_whoever_signed_it() {
        let (node, other) = (
            SigningKey::from_bytes(&[5; 32]),
            SigningKey::from_bytes(&[6; 32]),
        );
        let c = json!({ "format": FORMAT, "node_key": encode_public_key(&node.verifying_key()) });
        // Members missing: refused as content before any signature is trusted.
        let e = verify(&signed(c.to_string().as_bytes(), &other)).unwrap_err();
        assert!(e.contains("not valid"), "{e}");
    }

    #[test]
    fn the_query_takes_hashes_or_files_only() {
        let q = |k: &str, v: &str| BTreeMap::from([(k.to_owned(), v.to_owned())]);
        assert_eq!(with_files(&BTreeMap::new()), Ok(false));
        assert_eq!(with_files(&q("attachments", "hashes")), Ok(false));
        assert_eq!(with_files(&q("attachments", "files")), Ok(true));
        assert!(with_files(&q("attachments", "all"))
            .unwrap_err()
            .contains("hashes, files"));
        assert!(with_files(&q("attachment", "files"))
            .unwrap_err()
            .contains("unknown"));
    }
}
