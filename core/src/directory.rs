//! The network directory (`directory.toml`): every Party's node, keys and declarations, as the
//! Parties notify them, parsed and checked whole before it is used, and the directory in force
//! with its lookups. The node reads the file (`poc247_node::peers::directory`); everything
//! here works on text and values.

use base64::Engine as _;
use poc247_protocol::{
    Body, FieldError, Language, Outcome, PartyId, Problem, RefusalGround, UtcMs, VerifyingKey,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use crate::lifecycle::MlaBasis;

/// One Party's entry as written in `directory.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartyEntryFile {
    /// Party id (`LU`, `LU-CA`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// `host:port` addresses, tried in order.
    pub addresses: Vec<String>,
    /// ed25519 public key, base64.
    pub signing_key: String,
    /// Optional SHA-256 of the node certificate's SubjectPublicKeyInfo, hex.
    #[serde(default)]
    pub spki_sha256: Option<String>,
    /// When `signing_key` stops being valid (RFC 3339): a key being rolled out. Absent: no end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key_valid_until: Option<String>,
    /// Languages accepted (ISO 639-1).
    #[serde(default)]
    pub languages: Vec<String>,
    /// Its central authority's party id (`FR-CA`).
    #[serde(default)]
    pub central_authority: Option<String>,
    /// Minimum preservation, in days (60 under BC 29(7), 90 under the CARICOM draft).
    #[serde(default = "default_preservation_min_days")]
    pub preservation_min_days: u32,
    /// A domestic cap on a preservation order, in days (CIC 48-25: 90).
    #[serde(default)]
    pub legal_max_days: Option<u32>,
    /// A formal confirmation must follow an expedited request (BC 25(3)).
    #[serde(default)]
    pub formal_confirmation_required: bool,
    /// Within how many days of its start event (design).
    #[serde(default = "default_confirmation_days")]
    pub formal_confirmation_days: u32,
    /// Accepts mutual-assistance requests on the 24/7 channel (CARICOM emergency MLA para. 9).
    #[serde(default)]
    pub accepts_mla_via_247: bool,
    /// Urgent requests go to its central authority only (BC 27(9)(e)).
    #[serde(default)]
    pub urgent_requests_to_central_authority_only: bool,
    /// Accepts oral requests to be confirmed in writing (CARICOM MLA para. 18).
    #[serde(default)]
    pub accepts_oral: bool,
    /// Emergency production: withholds the data until an emergency MLA request (para. 2).
    #[serde(default)]
    pub withholds_until_emergency_mla: bool,
    /// Emergency production: does not execute subscriber-only requests (para. 3).
    #[serde(default)]
    pub no_subscriber_only: bool,
    /// Emergency production: the request must be submitted after execution (para. 7).
    #[serde(default)]
    pub confirmation_after_execution: bool,
    /// Made the BC 29(4) dual-criminality reservation.
    #[serde(default)]
    pub dual_criminality_reservation: bool,
    /// Per other Party: `treaty` or `convention` (default `convention`).
    #[serde(default)]
    pub mla_basis: BTreeMap<String, MlaBasis>,
    /// Further signing keys (base64), each with its window: a key rolled in beside
    /// `signing_key`, or one rolled out and kept a while (docs/joining.md "Rolling a key").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signing_keys: Vec<KeyWindowFile>,
    /// Further SPKI pins (SHA-256, hex), each with its window: a renewed TLS key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spki_pins: Vec<KeyWindowFile>,
}

/// A further key or pin of a Party and when it is valid (RFC 3339 times; absent: no bound).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyWindowFile {
    /// The key (base64) or the pin (hex).
    pub key: String,
    /// Valid from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<String>,
    /// Valid until.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
}

pub use crate::window::Window;

/// An RFC 3339 time of a key window.
fn window_time(what: &str, t: &Option<String>) -> Result<Option<UtcMs>, String> {
    let Some(t) = t else { return Ok(None) };
    let odt = time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("{what} {t:?} is not an RFC 3339 time: {e}"))?;
    let ms = u64::try_from(odt.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| format!("{what} {t:?} is before 1970"))?;
    Ok(Some(UtcMs(ms)))
}

fn decode_pin(h: &str) -> Option<[u8; 32]> {
    hex::decode(h)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
}

fn default_preservation_min_days() -> u32 {
    60
}
fn default_confirmation_days() -> u32 {
    30
}

/// The file: a list of `[[party]]` tables.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryFile {
    /// The entries.
    #[serde(default)]
    pub party: Vec<PartyEntryFile>,
}

/// A checked directory entry.
#[derive(Debug, Clone)]
pub struct PartyEntry {
    /// Party id.
    pub id: PartyId,
    /// Display name.
    pub name: String,
    /// Addresses, as written (`host:port`).
    pub addresses: Vec<String>,
    /// Its signing key (the entry's `signing_key`).
    pub signing_key: VerifyingKey,
    /// Optional SPKI pin (the entry's `spki_sha256`).
    pub spki_sha256: Option<[u8; 32]>,
    /// Every signing key with its window, `signing_key` first.
    pub keys: Vec<Window<VerifyingKey>>,
    /// Every SPKI pin with its window, `spki_sha256` first; empty: no pin.
    pub pins: Vec<Window<[u8; 32]>>,
    /// Accepted languages.
    pub languages: Vec<Language>,
    /// Its central authority.
    pub central_authority: Option<PartyId>,
    /// The file's other declarations, as written.
    pub declarations: PartyEntryFile,
}

impl PartyEntry {
    /// Whether `key` is one of the Party's signing keys, valid at `at`.
    pub fn key_valid_at(&self, key: &VerifyingKey, at: UtcMs) -> bool {
        self.keys.iter().any(|w| &w.value == key && w.covers(at))
    }

    /// Whether the Party's certificate with SPKI hash `spki` is pinned at `at` (always, when
    /// the entry pins nothing).
    pub fn pinned_at(&self, spki: &[u8; 32], at: UtcMs) -> bool {
        self.pins.is_empty() || self.pins.iter().any(|w| &w.value == spki && w.covers(at))
    }

    /// Why a certificate with SPKI hash `presented` (hex) is not admitted for this Party at
    /// `now`: every pin listed, each with why it is out of its window, and the value
    /// presented, so that the two administrators see which side is out of date.
    pub fn unpinned_reason(&self, presented: &str, now: UtcMs) -> String {
        let pinned = self
            .pins
            .iter()
            .map(|w| match w.outside(now) {
                None => hex::encode(w.value),
                Some(why) => format!("{} ({why})", hex::encode(w.value)),
            })
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "certificate key not pinned: the directory pins spki_sha256 {pinned} for {}, the \
             certificate has {presented}",
            self.id
        )
    }
}

/// The checked directory.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    parties: BTreeMap<PartyId, PartyEntry>,
}

impl Directory {
    /// Parses and checks directory text.
    ///
    /// A syntax error names its line and column; an entry refused names its party and the line
    /// of its `[[party]]` table.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let file: DirectoryFile = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
        Self::from_file(file).map_err(|m| with_party_line(text, m))
    }

    /// Checks a parsed directory.
    pub fn from_file(file: DirectoryFile) -> Result<Self, String> {
        let mut parties = BTreeMap::new();
        for (i, e) in file.party.into_iter().enumerate() {
            let at = |m: String| format!("party #{} ({}): {m}", i + 1, e.id);
            let id = PartyId::parse(&e.id).map_err(|err| at(err.to_string()))?;
            let signing_key =
                decode_public_key(&e.signing_key).map_err(|m| at(format!("signing_key {m}")))?;
            let spki_sha256 = match &e.spki_sha256 {
                None => None,
                Some(h) => Some(
                    decode_pin(h).ok_or_else(|| at("spki_sha256 is not 32 bytes of hex".into()))?,
                ),
            };
            let mut keys = vec![Window {
                value: signing_key,
                from: None,
                until: window_time("signing_key_valid_until", &e.signing_key_valid_until)
                    .map_err(at)?,
            }];
            for (n, k) in e.signing_keys.iter().enumerate() {
                let what = |f: &str| format!("signing_keys[{n}].{f}");
                let value =
                    decode_public_key(&k.key).map_err(|m| at(format!("{} {m}", what("key"))))?;
                if keys.iter().any(|w| w.value == value) {
                    return Err(at(format!("{} is listed twice", what("key"))));
                }
                keys.push(Window {
                    value,
                    from: window_time(&what("valid_from"), &k.valid_from).map_err(at)?,
                    until: window_time(&what("valid_until"), &k.valid_until).map_err(at)?,
                });
            }
            let mut pins: Vec<Window<[u8; 32]>> = spki_sha256
                .map(|value| Window {
                    value,
                    from: None,
                    until: None,
                })
                .into_iter()
                .collect();
            for (n, k) in e.spki_pins.iter().enumerate() {
                let what = |f: &str| format!("spki_pins[{n}].{f}");
                let value = decode_pin(&k.key)
                    .ok_or_else(|| at(format!("{} is not 32 bytes of hex", what("key"))))?;
                pins.push(Window {
                    value,
                    from: window_time(&what("valid_from"), &k.valid_from).map_err(at)?,
                    until: window_time(&what("valid_until"), &k.valid_until).map_err(at)?,
                });
            }
            let languages = e
                .languages
                .iter()
                .map(|l| Language::parse(l).map_err(|err| at(err.to_string())))
                .collect::<Result<Vec<_>, _>>()?;
            let central_authority = e
                .central_authority
                .as_deref()
                .map(|c| PartyId::parse(c).map_err(|err| at(format!("central_authority: {err}"))))
                .transpose()?;
            for k in e.mla_basis.keys() {
                PartyId::parse(k).map_err(|err| at(format!("mla_basis: {err}")))?;
            }
            if e.addresses.is_empty() {
                return Err(at("no addresses".into()));
            }
            if e.preservation_min_days == 0 {
                return Err(at("preservation_min_days must be at least 1".into()));
            }
            let entry = PartyEntry {
                id: id.clone(),
                name: e.name.clone(),
                addresses: e.addresses.clone(),
                signing_key,
                spki_sha256,
                keys,
                pins,
                languages,
                central_authority,
                declarations: e,
            };
            if parties.insert(id.clone(), entry).is_some() {
                return Err(format!("party {id} is listed twice"));
            }
        }
        Ok(Directory { parties })
    }

    /// The entry of `party`.
    pub fn get(&self, party: &PartyId) -> Option<&PartyEntry> {
        self.parties.get(party)
    }

    /// What the declarations of `decider` forbid in its `decision`: a refusal for dual
    /// criminality only from a Party that made the BC 29(4) reservation. Checked where the
    /// decision is made and again where it arrives, so both sides hold the same rule.
    pub fn check_decision(&self, decider: &PartyId, body: &Body) -> Vec<FieldError> {
        let Body::Decision(d) = body else {
            return Vec::new();
        };
        let reserved = self
            .get(decider)
            .is_some_and(|e| e.declarations.dual_criminality_reservation);
        if d.outcome == Some(Outcome::Refused)
            && d.refusal_ground == Some(RefusalGround::DualCriminality)
            && !reserved
        {
            return vec![FieldError {
                field: "refusal_ground".into(),
                problem: Problem::Invalid(format!(
                    "{decider} did not make the dual-criminality reservation of BC 29(4) \
                     (its directory entry declares dual_criminality_reservation = false): a \
                     preservation is refused only as a political offence or on sovereignty, \
                     security or ordre public (BC 29(5))"
                )),
            }];
        }
        Vec::new()
    }

    /// Every entry, ordered by id.
    pub fn iter(&self) -> impl Iterator<Item = &PartyEntry> {
        self.parties.values()
    }

    /// The file form, for writing back.
    pub fn to_file(&self) -> DirectoryFile {
        DirectoryFile {
            party: self
                .parties
                .values()
                .map(|e| e.declarations.clone())
                .collect(),
        }
    }

    /// Replaces the addresses of `party` (used by the demo and tests after binding port 0).
    pub fn set_addresses(&mut self, party: &PartyId, addresses: Vec<String>) {
        if let Some(e) = self.parties.get_mut(party) {
            e.declarations.addresses = addresses.clone();
            e.addresses = addresses;
        }
    }
}

/// Line and column (both from 1) of a byte offset in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// A TOML error as one line: `line 3, column 7: <what>` when toml knows where.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let what = e.message().trim().replace('\n', "; ");
    match e.span() {
        Some(span) => {
            let (line, col) = line_col(text, span.start);
            format!("line {line}, column {col}: {what}")
        }
        None => what,
    }
}

/// Prefixes an entry's refusal (`party #2 (FR): …`) with the line of that entry's
/// `[[party]]` table.
fn with_party_line(text: &str, message: String) -> String {
    let n: Option<usize> = message
        .strip_prefix("party #")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok());
    let line = n.and_then(|n| {
        text.lines()
            .enumerate()
            .filter(|(_, l)| l.trim_start().starts_with("[[party]]"))
            .nth(n.checked_sub(1)?)
            .map(|(i, _)| i + 1)
    });
    match line {
        Some(line) => format!("line {line}: {message}"),
        None => message,
    }
}

/// Decodes an ed25519 public key as the directory writes it (base64 of 32 bytes); the error
/// says what is wrong with it (`is not base64: …`).
pub fn decode_public_key(text: &str) -> Result<VerifyingKey, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|err| format!("is not base64: {err}"))?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| "is not 32 bytes".to_owned())?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "is not an ed25519 public key".to_owned())
}

/// Encodes an ed25519 public key as the directory writes it.
pub fn encode_public_key(key: &VerifyingKey) -> String {
    base64::engine::general_purpose::STANDARD.encode(key.as_bytes())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const KEY: &str = "cNVUclZ3LylE4YD7hzySOy4tkYaYYAUrBJc5kROcmBE=";

    fn entry(id: &str, key: &str) -> String {
        format!(
            "[[party]]\nid = \"{id}\"\nname = \"{id}\"\naddresses = [\"127.0.0.1:1\"]\n\
             signing_key = \"{key}\"\n\n"
        )
    }

    #[test]
    fn dual_criminality_is_a_ground_only_for_a_party_with_the_29_4_reservation() {
        let text = format!(
            "{}dual_criminality_reservation = true\n\n{}",
            entry("LU", KEY),
            entry("FR", KEY)
        );
        let d = Directory::from_toml(&text).unwrap();
        let refusal = Body::Decision(poc247_protocol::Decision {
            outcome: Some(Outcome::Refused),
            refusal_ground: Some(RefusalGround::DualCriminality),
            reasons: Some("not an offence here".into()),
            ..Default::default()
        });
        let lu = PartyId::parse("LU").unwrap();
        let fr = PartyId::parse("FR").unwrap();
        assert!(d.check_decision(&lu, &refusal).is_empty());
        let broken = d.check_decision(&fr, &refusal);
        assert_eq!(broken.len(), 1);
        assert_eq!(broken[0].field, "refusal_ground");
    }

    #[test]
    fn a_syntax_error_names_its_line_and_column() {
        let text = format!("{}[[party]]\nid = \"FR\nname = 1\n", entry("LU", KEY));
        let err = Directory::from_toml(&text).unwrap_err();
        assert!(err.starts_with("line 8, column "), "{err}");
        assert!(!err.contains('\n'), "{err}");
        let err = Directory::from_toml("[[party]]\nid = 7\n").unwrap_err();
        assert!(err.starts_with("line 2, column 6: "), "{err}");
    }

    #[test]
    fn a_refused_entry_names_its_party_and_the_line_of_its_table() {
        let text = format!("# header\n{}{}", entry("LU", KEY), entry("FR", "not-a-key"));
        let err = Directory::from_toml(&text).unwrap_err();
        assert!(
            err.starts_with("line 8: party #2 (FR): signing_key is not base64"),
            "{err}"
        );
        let twice = format!("{}{}", entry("LU", KEY), entry("LU", KEY));
        let err = Directory::from_toml(&twice).unwrap_err();
        assert_eq!(err, "party LU is listed twice");
        assert_eq!(
            Directory::from_toml(&entry("LU", KEY))
                .unwrap()
                .iter()
                .count(),
            1
        );
    }
}
