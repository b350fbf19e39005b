//! Identifiers that cannot hold an invalid value: [`PartyId`], [`MessageId`], [`CaseRef`],
//! and the small value types of the header ([`UtcMs`], [`Language`]).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Not `^[A-Z]{2}(-[A-Z0-9]{1,10})?$`.
    #[error("party id {0:?} is not two capital letters with an optional suffix such as LU-CA")]
    Party(String),
    /// Not a UUID of version 7.
    #[error("message id {0:?} is not a UUIDv7")]
    Message(String),
    /// Not `<party>-<year>-<number of 6 or more digits>`.
    #[error("case reference {0:?} is not of the form LU-2026-000001")]
    Case(String),
    /// Not an ISO 639-1 code.
    #[error("language {0:?} is not a two-letter ISO 639-1 code")]
    Language(String),
    /// Not a host name `<party id in lower case>.poc247`.
    #[error("certificate name {0:?} is not <party>.poc247")]
    DnsName(String),
}

/// A Party (or one of its authorities): an ISO 3166-1 alpha-2 code with an optional suffix,
/// `LU`, `LU-CA`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PartyId(String);

/// The DNS suffix of every node certificate's subject alternative name.
pub const DNS_SUFFIX: &str = ".poc247";

impl PartyId {
    /// Parses and checks a party id.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let bad = || IdError::Party(s.to_owned());
        let bytes = s.as_bytes();
        if bytes.len() < 2 || !bytes[..2].iter().all(u8::is_ascii_uppercase) {
            return Err(bad());
        }
        match &bytes[2..] {
            [] => {}
            [b'-', rest @ ..]
                if (1..=10).contains(&rest.len())
                    && rest
                        .iter()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) => {}
            _ => return Err(bad()),
        }
        Ok(PartyId(s.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The DNS name its node certificate carries: `lu-ca.poc247`.
    pub fn dns_name(&self) -> String {
        format!("{}{DNS_SUFFIX}", self.0.to_ascii_lowercase())
    }

    /// The party a certificate name stands for; the inverse of [`PartyId::dns_name`].
    pub fn from_dns_name(name: &str) -> Result<Self, IdError> {
        let stem = name
            .strip_suffix(DNS_SUFFIX)
            .ok_or_else(|| IdError::DnsName(name.to_owned()))?;
        if stem.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(IdError::DnsName(name.to_owned()));
        }
        PartyId::parse(&stem.to_ascii_uppercase()).map_err(|_| IdError::DnsName(name.to_owned()))
    }

    /// Whether this is a second authority of a Party (`LU-CA`), not its 24/7 point of contact.
    pub fn is_authority(&self) -> bool {
        self.0.len() > 2
    }

    /// The Party itself: the id without its suffix (`LU` for `LU-CA`).
    pub fn state(&self) -> &str {
        &self.0[..2]
    }
}

impl TryFrom<String> for PartyId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        PartyId::parse(&s)
    }
}
impl From<PartyId> for String {
    fn from(p: PartyId) -> String {
        p.0
    }
}
impl FromStr for PartyId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        PartyId::parse(s)
    }
}
impl fmt::Display for PartyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for PartyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PartyId({})", self.0)
    }
}

/// A point in time: milliseconds since the Unix epoch, UTC.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Debug, Default,
)]
#[serde(transparent)]
pub struct UtcMs(pub u64);

impl UtcMs {
    /// This instant plus `ms` milliseconds (saturating).
    pub fn plus_ms(self, ms: u64) -> UtcMs {
        UtcMs(self.0.saturating_add(ms))
    }
    /// Milliseconds from `earlier` to `self`, 0 if `earlier` is later.
    pub fn since(self, earlier: UtcMs) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
    /// RFC 3339 text, for people and JSON.
    pub fn rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| format!("{}ms", self.0))
    }
}

/// A message id: a UUIDv7, so ids sort by creation time.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "Uuid", into = "Uuid")]
pub struct MessageId(Uuid);

impl MessageId {
    /// A new id for a message created at `now`.
    pub fn new(now: UtcMs) -> Self {
        let secs = now.0 / 1000;
        let nanos = u32::try_from((now.0 % 1000) * 1_000_000).unwrap_or(0);
        let ts = uuid::Timestamp::from_unix(uuid::NoContext, secs, nanos);
        MessageId(Uuid::new_v7(ts))
    }
    /// When the message was created, as its id says (the 48-bit Unix-ms prefix of a UUIDv7).
    pub fn created_at(&self) -> UtcMs {
        let b = self.0.as_bytes();
        UtcMs(
            b[..6]
                .iter()
                .fold(0u64, |acc, x| (acc << 8) | u64::from(*x)),
        )
    }
    /// The 16 bytes, big-endian: the key under which the message is stored.
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }
    /// Rebuilds an id from its 16 bytes.
    pub fn from_bytes(b: [u8; 16]) -> Result<Self, IdError> {
        MessageId::try_from(Uuid::from_bytes(b))
    }
}
impl TryFrom<Uuid> for MessageId {
    type Error = IdError;
    fn try_from(u: Uuid) -> Result<Self, IdError> {
        if u.get_version_num() == 7 {
            Ok(MessageId(u))
        } else {
            Err(IdError::Message(u.to_string()))
        }
    }
}
impl From<MessageId> for Uuid {
    fn from(m: MessageId) -> Uuid {
        m.0
    }
}
impl FromStr for MessageId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let u = Uuid::parse_str(s).map_err(|_| IdError::Message(s.to_owned()))?;
        MessageId::try_from(u)
    }
}
impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}
impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({})", self.0)
    }
}

/// A case reference, readable on the phone: `<requesting party>-<year>-<sequence>`,
/// such as `LU-2026-000001` or `LU-CA-2026-000017`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CaseRef(String);

impl CaseRef {
    /// The reference for the `seq`-th case opened by `party` in `year`.
    pub fn new(party: &PartyId, year: u16, seq: u64) -> Self {
        CaseRef(format!("{party}-{year:04}-{seq:06}"))
    }
    /// Parses and checks a case reference.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let bad = || IdError::Case(s.to_owned());
        let (rest, seq) = s.rsplit_once('-').ok_or_else(bad)?;
        let (party, year) = rest.rsplit_once('-').ok_or_else(bad)?;
        let digits = |t: &str, min: usize, max: usize| {
            (min..=max).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit())
        };
        if !digits(year, 4, 4) || !digits(seq, 6, 12) {
            return Err(bad());
        }
        PartyId::parse(party).map_err(|_| bad())?;
        Ok(CaseRef(s.to_owned()))
    }
    /// The reference as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The party that opened the case.
    pub fn opener(&self) -> PartyId {
        // The constructor checked the shape: everything before the last two `-` is a party id.
        let mut parts = self.0.rsplitn(3, '-');
        let party = parts.nth(2).unwrap_or_default();
        PartyId(party.to_owned())
    }
}
impl TryFrom<String> for CaseRef {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        CaseRef::parse(&s)
    }
}
impl From<CaseRef> for String {
    fn from(c: CaseRef) -> String {
        c.0
    }
}
impl FromStr for CaseRef {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        CaseRef::parse(s)
    }
}
impl fmt::Display for CaseRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for CaseRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CaseRef({})", self.0)
    }
}

/// An ISO 639-1 language code, two lower-case letters (`en`, `fr`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Language(String);

impl Language {
    /// Parses and checks a language code.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if s.len() == 2 && s.bytes().all(|b| b.is_ascii_lowercase()) {
            Ok(Language(s.to_owned()))
        } else {
            Err(IdError::Language(s.to_owned()))
        }
    }
    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for Language {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Language::parse(&s)
    }
}
impl From<Language> for String {
    fn from(l: Language) -> String {
        l.0
    }
}
impl FromStr for Language {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Language::parse(s)
    }
}
impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Language({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_id_tells_when_it_was_created() {
        let t = UtcMs(1_796_000_123_456);
        assert_eq!(MessageId::new(t).created_at(), t);
    }

    #[test]
    fn party_ids_follow_iso_3166_with_optional_suffix() {
        for ok in ["LU", "FR", "LU-CA", "CO-FISCALIA1"] {
            assert!(PartyId::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "L",
            "lu",
            "LUX",
            "LU-",
            "LU-ca",
            "LU-ABCDEFGHIJK",
            "LU_CA",
            "LU-CA-X",
        ] {
            assert!(PartyId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dns_names_map_back_to_party_ids() {
        let p = PartyId::parse("LU-CA").unwrap();
        assert_eq!(p.dns_name(), "lu-ca.poc247");
        assert_eq!(PartyId::from_dns_name("lu-ca.poc247").unwrap(), p);
        assert!(PartyId::from_dns_name("lu.example").is_err());
        assert!(PartyId::from_dns_name("LU.poc247").is_err());
        assert_eq!(p.state(), "LU");
    }

    #[test]
    fn case_refs_are_party_year_sequence() {
        let lu = PartyId::parse("LU-CA").unwrap();
        let c = CaseRef::new(&lu, 2026, 17);
        assert_eq!(c.as_str(), "LU-CA-2026-000017");
        assert_eq!(CaseRef::parse(c.as_str()).unwrap(), c);
        assert_eq!(c.opener(), lu);
        assert_eq!(
            CaseRef::parse("FR-2026-1234567").unwrap().opener().as_str(),
            "FR"
        );
        for bad in [
            "LU-2026-1",
            "LU-26-000001",
            "lu-2026-000001",
            "2026-000001",
            "LU2026000001",
        ] {
            assert!(CaseRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn message_ids_are_uuid_v7_and_sort_by_time() {
        let a = MessageId::new(UtcMs(1_700_000_000_000));
        let b = MessageId::new(UtcMs(1_700_000_000_001));
        assert!(a < b);
        assert_eq!(a.to_string().parse::<MessageId>().unwrap(), a);
        assert!("67e55044-10b1-426f-9247-bb680e5fe0c8"
            .parse::<MessageId>()
            .is_err());
    }
}
