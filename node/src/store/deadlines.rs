//! The index of deadlines, in the `deadlines` tree: every deadline a case owes (what `pending`
//! lists and the timer fires), keyed by due time then case then label, written in the same
//! transaction as the change of the case that sets, moves or clears it. The timer task and
//! `pending` read it; nothing of it is held in memory, and a start reads no case.
//!
//! Keys:
//!
//! - `o` due case `\0` label: a deadline not fired yet (what the timer fires), soonest first;
//! - `f` due case `\0` label: a deadline fired and still owed (listed, counted as overdue);
//!   each with its [`Slot`] as value;
//! - `r` case: the case's role and its deadlines as indexed ([`Entry`]): what a change of the
//!   case replaces, without recomputing what the case was;
//! - `#c` role: how many cases this node holds in that role;
//! - `#u` party: how many deadlines not fired yet that Party owes;
//! - `#f` party `\0` track: how many fired deadlines of that track that Party owes.
//!
//! Due times are 8 bytes big-endian and a case reference holds no `\0`, so the keys' order is
//! the order of (due, case, label). The deadlines depend on the node's `[deadlines]` settings:
//! the settings the index was made with are kept in `meta`, and a store opened with others (or
//! written before the index) has it built again from every case, once, at opening.

use crate::error::{NodeError, Result};
use crate::lifecycle::{CaseRecord, Role};
use crate::tracks::{self, Deadline, Track, TrackSettings};
use poc247_protocol::{codec, CaseRef, MessageId, PartyId, UtcMs};
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use std::collections::HashMap;

/// The `meta` key holding the settings the index was built with (and its version).
pub(crate) const BUILT_WITH: &str = "deadline_index_v1";

type TxResult<T> = std::result::Result<T, ConflictableTransactionError<NodeError>>;

/// What the index keeps of a deadline besides its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// The track.
    pub track: Track,
    /// Who owes it.
    pub owed_by: PartyId,
    /// Whether it escalates.
    pub escalation: bool,
    /// Training traffic.
    pub exercise: bool,
}

/// One deadline as indexed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// When it is due.
    pub due: UtcMs,
    /// Its label, unique within the case.
    pub label: String,
    /// Whether it fired already.
    pub fired: bool,
    /// The rest.
    pub slot: Slot,
}

/// A case as indexed: its role and its deadlines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    role: Role,
    rows: Vec<Row>,
}

/// One deadline read from the index, with its case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indexed {
    /// The case.
    pub case_ref: CaseRef,
    /// The deadline.
    pub row: Row,
}

/// The counts the index keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Cases held as requester.
    pub requester: u64,
    /// Cases held as requested (the inbox).
    pub requested: u64,
    /// Deadlines not fired yet, by the Party owing them.
    pub unfired: HashMap<PartyId, u64>,
    /// Deadlines fired and still owed, by Party and track.
    pub fired: HashMap<(PartyId, Track), u64>,
}

fn enc<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    Ok(codec::encode(v)?)
}
fn dec<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T> {
    Ok(codec::decode(b)?)
}
fn abort(e: NodeError) -> ConflictableTransactionError<NodeError> {
    ConflictableTransactionError::Abort(e)
}

/// The key of a deadline.
pub(crate) fn row_key(fired: bool, due: UtcMs, case_ref: &CaseRef, label: &str) -> Vec<u8> {
    let c = case_ref.as_str().as_bytes();
    let mut k = Vec::with_capacity(1 + 8 + c.len() + 1 + label.len());
    k.push(if fired { b'f' } else { b'o' });
    k.extend_from_slice(&due.0.to_be_bytes());
    k.extend_from_slice(c);
    k.push(0);
    k.extend_from_slice(label.as_bytes());
    k
}

/// The (due, case, label) of a deadline's key.
fn parse_key(k: &[u8]) -> Option<(UtcMs, CaseRef, String)> {
    let due = u64::from_be_bytes(k.get(1..9)?.try_into().ok()?);
    let rest = k.get(9..)?;
    let z = rest.iter().position(|b| *b == 0)?;
    let case = CaseRef::parse(std::str::from_utf8(&rest[..z]).ok()?).ok()?;
    let label = std::str::from_utf8(&rest[z + 1..]).ok()?.to_owned();
    Some((UtcMs(due), case, label))
}

fn entry_key(case_ref: &CaseRef) -> Vec<u8> {
    let mut k = b"r".to_vec();
    k.extend_from_slice(case_ref.as_str().as_bytes());
    k
}

fn cases_key(role: Role) -> Vec<u8> {
    let mut k = b"#c".to_vec();
    k.extend_from_slice(role.as_str().as_bytes());
    k
}

fn unfired_key(party: &PartyId) -> Vec<u8> {
    let mut k = b"#u".to_vec();
    k.extend_from_slice(party.as_str().as_bytes());
    k
}

fn fired_key(party: &PartyId, track: Track) -> Result<Vec<u8>> {
    let mut k = b"#f".to_vec();
    k.extend_from_slice(party.as_str().as_bytes());
    k.push(0);
    k.extend_from_slice(&enc(&track)?);
    Ok(k)
}

/// The count keys a row adds to.
fn count_key(row: &Row) -> Result<Vec<u8>> {
    if row.fired {
        fired_key(&row.slot.owed_by, row.slot.track)
    } else {
        Ok(unfired_key(&row.slot.owed_by))
    }
}

fn be(b: &[u8]) -> u64 {
    <[u8; 8]>::try_from(b).map_or(0, u64::from_be_bytes)
}

/// Every deadline of `case` as it stands, fired or not: the tracks' deadlines, and the
/// delivery alert of each of its messages still in the outbox (`queued`: the time each was
/// queued, if it is). `follow_up_undecided`: the mutual-assistance request that follows this
/// preservation is not decided yet.
pub fn deadlines_of(
    case: &CaseRecord,
    settings: &TrackSettings,
    follow_up_undecided: bool,
    mut queued: impl FnMut(MessageId) -> Option<(PartyId, UtcMs)>,
) -> Vec<Deadline> {
    let mut all = tracks::deadlines(case, settings, follow_up_undecided);
    for id in &case.messages {
        if let Some((peer, at)) = queued(*id) {
            all.push(tracks::delivery_alert(
                case,
                &peer,
                at,
                settings,
                &id.to_string(),
            ));
        }
    }
    all
}

/// The rows of `deadlines` for a case whose fired labels are `fired`.
fn rows(deadlines: Vec<Deadline>, fired: &[String]) -> Vec<Row> {
    deadlines
        .into_iter()
        .map(|d| Row {
            fired: fired.contains(&d.label),
            due: d.due,
            label: d.label,
            slot: Slot {
                track: d.track,
                owed_by: d.owed_by,
                escalation: d.escalation,
                exercise: d.exercise,
            },
        })
        .collect()
}

/// Whether `follow_up`'s case, read with `get`, is a request not decided yet.
fn undecided(case: Option<CaseRecord>) -> bool {
    case.is_some_and(|f| f.decided_at.is_none() && !f.state.is_terminal())
}

/// The trees a change of a case reads and writes to keep the index, inside its transaction.
pub(crate) struct Tx<'a> {
    /// `deadlines`.
    pub dt: &'a TransactionalTree,
    /// `cases`, as the transaction has written it so far.
    pub ct: &'a TransactionalTree,
    /// `outbox`, likewise.
    pub ot: &'a TransactionalTree,
    /// The node's `[deadlines]`.
    pub settings: &'a TrackSettings,
}

impl Tx<'_> {
    fn case(&self, case_ref: &CaseRef) -> TxResult<Option<CaseRecord>> {
        match self.ct.get(case_ref.as_str().as_bytes())? {
            // A record that does not decode owes nothing the index could say.
            Some(raw) => Ok(dec(&raw).ok()),
            None => Ok(None),
        }
    }

    fn rows(&self, case: &CaseRecord) -> TxResult<Vec<Row>> {
        let follow_up = match &case.follow_up_mla {
            Some(f) => undecided(self.case(f)?),
            None => false,
        };
        let mut queued = HashMap::new();
        for id in &case.messages {
            if let Some(raw) = self.ot.get(id.as_bytes())? {
                if let Ok(o) = dec::<crate::store::OutboxEntry>(&raw) {
                    queued.insert(*id, (o.peer, o.queued_at));
                }
            }
        }
        let all = deadlines_of(case, self.settings, follow_up, |id| queued.remove(&id));
        Ok(rows(all, &case.fired))
    }

    /// Puts case `case_ref` as it now stands (`case`; `None`: gone) in the index, and the
    /// preservation it follows (`preservation`), whose deadlines depend on it (BC 29(7)).
    /// Call it after the transaction's writes of the case and of its outbox entries.
    pub(crate) fn changed(
        &self,
        case_ref: &CaseRef,
        case: Option<&CaseRecord>,
        preservation: Option<&CaseRef>,
    ) -> TxResult<()> {
        let new = match case {
            Some(c) => Some(Entry {
                role: c.role,
                rows: self.rows(c)?,
            }),
            None => None,
        };
        put(self.dt, case_ref, new)?;
        if let Some(p) = preservation.filter(|p| *p != case_ref) {
            let pc = self.case(p)?;
            let new = match &pc {
                Some(c) => Some(Entry {
                    role: c.role,
                    rows: self.rows(c)?,
                }),
                None => None,
            };
            put(self.dt, p, new)?;
        }
        Ok(())
    }
}

/// Puts a case with `deadlines` (none fired; `None`: the case is gone) in the index `tree`, in
/// a transaction of its own: for the board's tests.
#[cfg(test)]
pub(crate) fn put_deadlines(
    tree: &sled::Tree,
    case_ref: &CaseRef,
    case: Option<(Role, Vec<Deadline>)>,
) -> Result<()> {
    let entry = case.map(|(role, d)| Entry {
        role,
        rows: rows(d, &[]),
    });
    tree.transaction(|dt| put(dt, case_ref, entry.clone()))
        .map_err(|e| match e {
            sled::transaction::TransactionError::Abort(e) => e,
            sled::transaction::TransactionError::Storage(e) => e.into(),
        })
}

/// Adds `delta` to the count under `key`.
fn count(dt: &TransactionalTree, key: Vec<u8>, delta: i64) -> TxResult<()> {
    let n = dt.get(&key)?.map_or(0, |b| be(&b));
    let n = n.saturating_add_signed(delta);
    if n == 0 {
        dt.remove(key)?;
    } else {
        dt.insert(key, &n.to_be_bytes())?;
    }
    Ok(())
}

/// Replaces a case's entry and rows in the index by `new` (`None`: the case is gone); rows that
/// stay are not written again.
fn put(dt: &TransactionalTree, case_ref: &CaseRef, new: Option<Entry>) -> TxResult<()> {
    let ek = entry_key(case_ref);
    let old: Option<Entry> = match dt.get(&ek)? {
        Some(raw) => Some(dec(&raw).map_err(abort)?),
        None => None,
    };
    if old == new {
        return Ok(());
    }
    let none = Vec::new();
    let (old_rows, new_rows) = (
        old.as_ref().map_or(&none, |e| &e.rows),
        new.as_ref().map_or(&none, |e| &e.rows),
    );
    for r in old_rows {
        if !new_rows.contains(r) {
            let k = row_key(r.fired, r.due, case_ref, &r.label);
            if dt.remove(k)?.is_some() {
                count(dt, count_key(r).map_err(abort)?, -1)?;
            }
        }
    }
    for r in new_rows {
        if !old_rows.contains(r) {
            let k = row_key(r.fired, r.due, case_ref, &r.label);
            let v = enc(&r.slot).map_err(abort)?;
            if dt.insert(k, v)?.is_none() {
                count(dt, count_key(r).map_err(abort)?, 1)?;
            }
        }
    }
    match (&old, &new) {
        (Some(o), None) => {
            dt.remove(ek)?;
            count(dt, cases_key(o.role), -1)?;
        }
        (None, Some(n)) => {
            dt.insert(ek, enc(n).map_err(abort)?)?;
            count(dt, cases_key(n.role), 1)?;
        }
        (Some(o), Some(n)) => {
            dt.insert(ek, enc(n).map_err(abort)?)?;
            if o.role != n.role {
                count(dt, cases_key(o.role), -1)?;
                count(dt, cases_key(n.role), 1)?;
            }
        }
        (None, None) => {}
    }
    Ok(())
}

/// What the index holds for every case in `cases` (with `outbox`), given to `put` key by key,
/// one case at a time, then the counts.
fn expected(
    cases: &sled::Tree,
    outbox: &sled::Tree,
    settings: &TrackSettings,
    mut put: impl FnMut(Vec<u8>, Vec<u8>) -> Result<()>,
) -> Result<()> {
    let mut counts: HashMap<Vec<u8>, u64> = HashMap::new();
    for v in cases.iter().values() {
        let c: CaseRecord = dec(&v?)?;
        let follow_up = match &c.follow_up_mla {
            Some(f) => undecided(
                cases
                    .get(f.as_str().as_bytes())?
                    .and_then(|raw| dec(&raw).ok()),
            ),
            None => false,
        };
        let mut queued = HashMap::new();
        for id in &c.messages {
            if let Some(raw) = outbox.get(id.as_bytes())? {
                if let Ok(o) = dec::<crate::store::OutboxEntry>(&raw) {
                    queued.insert(*id, (o.peer, o.queued_at));
                }
            }
        }
        let all = deadlines_of(&c, settings, follow_up, |id| queued.remove(&id));
        let entry = Entry {
            role: c.role,
            rows: rows(all, &c.fired),
        };
        // A label twice in a case is one key, counted once, as a change of the case writes it.
        let mut seen = std::collections::HashSet::new();
        for r in &entry.rows {
            let k = row_key(r.fired, r.due, &c.case_ref, &r.label);
            if seen.insert(k.clone()) {
                put(k, enc(&r.slot)?)?;
                *counts.entry(count_key(r)?).or_default() += 1;
            }
        }
        *counts.entry(cases_key(c.role)).or_default() += 1;
        put(entry_key(&c.case_ref), enc(&entry)?)?;
    }
    for (k, n) in counts {
        put(k, n.to_be_bytes().to_vec())?;
    }
    Ok(())
}

/// Builds the index again from every case (a store written before it, or with other
/// settings): cleared, written in batches, then `meta` says with which settings. A stop in the
/// middle leaves `meta` without them, and the next opening builds it again.
pub(crate) fn build(db: &sled::Db, settings: &TrackSettings) -> Result<()> {
    let meta = db.open_tree("meta")?;
    let dt = db.open_tree("deadlines")?;
    meta.remove(BUILT_WITH)?;
    dt.clear()?;
    let mut batch = sled::Batch::default();
    let mut n = 0;
    expected(
        &db.open_tree("cases")?,
        &db.open_tree("outbox")?,
        settings,
        |k, v| {
            batch.insert(k, v);
            n += 1;
            if n % 20_000 == 0 {
                dt.apply_batch(std::mem::take(&mut batch))?;
            }
            Ok(())
        },
    )?;
    dt.apply_batch(batch)?;
    meta.insert(BUILT_WITH, enc(settings)?)?;
    db.flush()?;
    Ok(())
}

/// Whether the index was built with `settings` (a store written before it: no).
pub(crate) fn built_with(meta: &sled::Tree, settings: &TrackSettings) -> Result<bool> {
    Ok(meta.get(BUILT_WITH)?.as_deref() == Some(enc(settings)?.as_slice()))
}

/// The first difference between the index and what every case says it should hold, if any.
pub(crate) fn check(db: &sled::Db, settings: &TrackSettings) -> Result<Option<String>> {
    let mut want = std::collections::BTreeMap::new();
    expected(
        &db.open_tree("cases")?,
        &db.open_tree("outbox")?,
        settings,
        |k, v| {
            want.insert(k, v);
            Ok(())
        },
    )?;
    let dt = db.open_tree("deadlines")?;
    let mut have = std::collections::BTreeMap::new();
    for kv in dt.iter() {
        let (k, v) = kv?;
        have.insert(k.to_vec(), v.to_vec());
    }
    for (k, v) in &want {
        match have.get(k) {
            None => return Ok(Some(format!("missing {}", String::from_utf8_lossy(k)))),
            Some(h) if h != v => {
                return Ok(Some(format!("differs at {}", String::from_utf8_lossy(k))))
            }
            _ => {}
        }
    }
    for k in have.keys() {
        if !want.contains_key(k) {
            return Ok(Some(format!("extra {}", String::from_utf8_lossy(k))));
        }
    }
    Ok(None)
}

/// The index, read: what the timer task and `pending` ask of it. A clone of the store's tree
/// (it keeps the store open while it lives).
#[derive(Clone, Debug)]
pub struct DeadlineIndex(pub(crate) sled::Tree);

impl DeadlineIndex {
    /// The deadlines fired (`true`) or not after `after` (a (due, case, label); from the first
    /// with `None`), soonest first.
    pub fn rows(
        &self,
        fired: bool,
        after: Option<&(UtcMs, CaseRef, String)>,
    ) -> impl Iterator<Item = Result<Indexed>> + '_ {
        use std::ops::Bound;
        let p = if fired { b'f' } else { b'o' };
        let start = match after {
            Some((due, case, label)) => Bound::Excluded(row_key(fired, *due, case, label)),
            None => Bound::Included(vec![p]),
        };
        self.0
            .range::<Vec<u8>, _>((start, Bound::Excluded(vec![p + 1])))
            .map(move |kv| {
                let (k, v) = kv?;
                let (due, case_ref, label) = parse_key(&k)
                    .ok_or_else(|| NodeError::Storage("a deadline's key does not parse".into()))?;
                Ok(Indexed {
                    case_ref,
                    row: Row {
                        due,
                        label,
                        fired,
                        slot: dec(&v)?,
                    },
                })
            })
    }

    /// When the first deadline not fired yet is due.
    pub fn next_due(&self) -> Result<Option<UtcMs>> {
        match self.0.range::<&[u8], _>(&b"o"[..]..&b"p"[..]).next() {
            Some(kv) => {
                let (k, _) = kv?;
                Ok(parse_key(&k).map(|(due, _, _)| due))
            }
            None => Ok(None),
        }
    }

    /// The counts.
    pub fn counts(&self) -> Result<Counts> {
        let mut c = Counts::default();
        for kv in self.0.scan_prefix(b"#") {
            let (k, v) = kv?;
            let n = be(&v);
            let name = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            match k.get(..2) {
                Some(b"#c") => match &k[2..] {
                    b"requester" => c.requester = n,
                    b"requested" => c.requested = n,
                    _ => {}
                },
                Some(b"#u") => {
                    if let Ok(p) = PartyId::parse(&name(&k[2..])) {
                        c.unfired.insert(p, n);
                    }
                }
                Some(b"#f") => {
                    let rest = &k[2..];
                    if let Some(z) = rest.iter().position(|b| *b == 0) {
                        if let (Ok(p), Ok(t)) = (
                            PartyId::parse(&name(&rest[..z])),
                            dec::<Track>(&rest[z + 1..]),
                        ) {
                            c.fired.insert((p, t), n);
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(c)
    }
}
