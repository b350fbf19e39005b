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
//! - `#c` role: how many cases this node holds in that role;
//! - `#u` party: how many deadlines not fired yet that Party owes;
//! - `#f` party `\0` track: how many fired deadlines of that track that Party owes.
//!
//! Due times are 8 bytes big-endian and a case reference holds no `\0`, so the keys' order is
//! the order of (due, case, label). The index keeps nothing per case besides its deadlines: a
//! change computes what the case owed from the case as it stood before the change (read in its
//! transaction) and what it owes after, and writes only the keys that differ (none, when its
//! deadlines stay); a change that opens a case has its keys made before its transaction.
//!
//! The deadlines depend on the node's `[deadlines]` settings:
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
pub(crate) const BUILT_WITH: &str = "deadline_index_v2";

/// The `meta` key of the index as builds before `v2` kept it (with an entry per case).
const BUILT_WITH_V1: &str = "deadline_index_v1";

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

/// Whether a follow-up request as it stands (`None`: none, or gone) is not decided yet: the
/// preservation it follows then owes other deadlines (BC 29(7)).
fn undecided(case: Option<&CaseRecord>) -> bool {
    case.is_some_and(|f| f.decided_at.is_none() && !f.state.is_terminal())
}

/// Whether preservation `p`'s follow-up request, as it stands (`f`), follows it and is not
/// decided yet: a case that took the reference of a follow-up gone (purged) follows nothing.
fn follows_undecided(f: Option<&CaseRecord>, p: &CaseRef) -> bool {
    undecided(f.filter(|f| f.preservation_case.as_ref() == Some(p)))
}

/// A case as indexed: its role and its deadlines. Not stored: what a change replaces is
/// computed again from the case as it stood before the change.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    role: Role,
    rows: Vec<Row>,
}

/// A deadline as written: its key, its value and the count it adds to.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Keyed {
    key: Vec<u8>,
    value: Vec<u8>,
    count: Vec<u8>,
}

/// The keys of `rows`; a label twice in a case is one key, the first row's (as [`expected`]).
fn keyed(case_ref: &CaseRef, rows: &[Row]) -> Result<Vec<Keyed>> {
    let mut out: Vec<Keyed> = Vec::with_capacity(rows.len());
    for r in rows {
        let key = row_key(r.fired, r.due, case_ref, &r.label);
        if out.iter().any(|k| k.key == key) {
            continue;
        }
        out.push(Keyed {
            key,
            value: enc(&r.slot)?,
            count: count_key(r)?,
        });
    }
    Ok(out)
}

/// A case's role and keys, as written.
type Written = Option<(Role, Vec<Keyed>)>;

fn written(case_ref: &CaseRef, entry: Option<Entry>) -> TxResult<Written> {
    match entry {
        Some(e) => Ok(Some((e.role, keyed(case_ref, &e.rows).map_err(abort)?))),
        None => Ok(None),
    }
}

/// A new case's entry, made before its transaction, off the committer (a change that opens a
/// case: [`prepare`]).
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    role: Role,
    keys: Vec<Keyed>,
    undecided: bool,
}

/// The entry of a new case `case` whose only outbox entries are `queued` (its change writes
/// them), made before its transaction; `None` when its deadlines depend on another case (a
/// preservation already followed), to be made inside it.
pub(crate) fn prepare(
    case: &CaseRecord,
    settings: &TrackSettings,
    queued: impl FnMut(MessageId) -> Option<(PartyId, UtcMs)>,
) -> Result<Option<Prepared>> {
    if case.follow_up_mla.is_some() {
        return Ok(None);
    }
    let all = deadlines_of(case, settings, false, queued);
    Ok(Some(Prepared {
        role: case.role,
        keys: keyed(&case.case_ref, &rows(all, &case.fired))?,
        undecided: undecided(Some(case)),
    }))
}

/// What a change of a case replaces in the index, taken inside its transaction before it
/// writes anything ([`Tx::before`]).
#[derive(Debug)]
pub(crate) struct Before {
    /// The case's entry (`None`: a new case).
    case: Option<Entry>,
    /// Whether the case, as a follow-up request, was undecided.
    undecided: bool,
    /// A new case's preservation and its entry then (a new follow-up request may change what
    /// that preservation follows).
    preservation: Option<(CaseRef, Option<Entry>)>,
}

/// The case as it now stands after a change, for [`Tx::changed`].
pub(crate) enum After<'a> {
    /// As a record (`None`: gone).
    Record(Option<&'a CaseRecord>),
    /// A new case's entry made before the transaction.
    Prepared(&'a Prepared),
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

    /// The entry of `case` as the transaction now stands; `follow`: the undecidedness of its
    /// follow-up request if it is that case, instead of reading it.
    fn entry(&self, case: &CaseRecord, follow: Option<(&CaseRef, bool)>) -> TxResult<Entry> {
        let follow_up = match (&case.follow_up_mla, follow) {
            (Some(f), Some((c, u))) if f == c => u,
            (Some(f), _) => follows_undecided(self.case(f)?.as_ref(), &case.case_ref),
            (None, _) => false,
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
        Ok(Entry {
            role: case.role,
            rows: rows(all, &case.fired),
        })
    }

    fn entry_of(&self, case_ref: &CaseRef) -> TxResult<Option<Entry>> {
        match self.case(case_ref)? {
            Some(c) => Ok(Some(self.entry(&c, None)?)),
            None => Ok(None),
        }
    }

    /// What a change of case `case_ref` replaces: call it inside the change's transaction
    /// before anything is written, with the case as it stands (`old`, already read; `None`: a
    /// new case) and the preservation it follows (`preservation`).
    pub(crate) fn before(
        &self,
        case_ref: &CaseRef,
        old: Option<&CaseRecord>,
        preservation: Option<&CaseRef>,
    ) -> TxResult<Before> {
        let case = match old {
            Some(c) => Some(self.entry(c, None)?),
            None => None,
        };
        // A new follow-up request may be noted on its preservation in the same transaction
        // (what it follows changes): that preservation's entry now. For a case that exists,
        // the preservation's entry changes only with whether the case is decided, and is
        // computed from the preservation, which the change does not write.
        let preservation = match (old, preservation.filter(|p| *p != case_ref)) {
            (None, Some(p)) => Some((p.clone(), self.entry_of(p)?)),
            _ => None,
        };
        Ok(Before {
            case,
            undecided: undecided(old),
            preservation,
        })
    }

    /// Puts case `case_ref` as it now stands (`after`) in the index, and the preservation it
    /// follows (`preservation`), whose deadlines depend on it (BC 29(7)): only the keys that
    /// differ from `before` are written. Call it after the transaction's writes of the case
    /// and of its outbox entries.
    pub(crate) fn changed(
        &self,
        before: Before,
        case_ref: &CaseRef,
        after: After<'_>,
        preservation: Option<&CaseRef>,
    ) -> TxResult<()> {
        let now_undecided = match &after {
            After::Record(c) => {
                let new = match c {
                    Some(c) => Some(self.entry(c, None)?),
                    None => None,
                };
                if before.case != new {
                    put(
                        self.dt,
                        written(case_ref, before.case)?,
                        written(case_ref, new)?,
                    )?;
                }
                undecided(*c)
            }
            After::Prepared(p) => {
                let new = Some((p.role, p.keys.clone()));
                put(self.dt, written(case_ref, before.case)?, new)?;
                p.undecided
            }
        };
        if let Some((p, old)) = before.preservation {
            let new = self.entry_of(&p)?;
            if old != new {
                put(self.dt, written(&p, old)?, written(&p, new)?)?;
            }
        } else if let Some(p) = preservation.filter(|p| *p != case_ref) {
            if now_undecided != before.undecided {
                if let Some(pc) = self.case(p)? {
                    if pc.follow_up_mla.as_ref() == Some(case_ref) {
                        let old = self.entry(&pc, Some((case_ref, before.undecided)))?;
                        let new = self.entry(&pc, Some((case_ref, now_undecided)))?;
                        if old != new {
                            put(self.dt, written(p, Some(old))?, written(p, Some(new))?)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Puts case `case_ref` as it stands in the index again, whatever the index holds of it
    /// (a repair): `seen`, its keys read from the index before the transaction (sled's
    /// transactions read no range), and whichever keys it owes now, are taken as they stand in
    /// the transaction. The count of cases is left as it is.
    pub(crate) fn repair(&self, seen: &[Vec<u8>], case_ref: &CaseRef) -> TxResult<()> {
        let new = self.entry_of(case_ref)?;
        let role = new.as_ref().map_or(Role::Requester, |e| e.role);
        let new = written(case_ref, new)?.map_or_else(Vec::new, |(_, k)| k);
        let mut old = Vec::new();
        for key in seen.iter().chain(new.iter().map(|n| &n.key)) {
            if old.iter().any(|o: &Keyed| o.key == *key) {
                continue;
            }
            if let Some(value) = self.dt.get(key)? {
                let fired = key.first() == Some(&b'f');
                old.push(keyed_as_held(key, &value, fired).map_err(abort)?);
            }
        }
        put(self.dt, Some((role, old)), Some((role, new)))
    }
}

/// A key as the index holds it, with the count it adds to.
fn keyed_as_held(key: &[u8], value: &[u8], fired: bool) -> Result<Keyed> {
    let slot: Slot = dec(value)?;
    let count = if fired {
        fired_key(&slot.owed_by, slot.track)?
    } else {
        unfired_key(&slot.owed_by)
    };
    Ok(Keyed {
        key: key.to_vec(),
        value: value.to_vec(),
        count,
    })
}

/// The keys of case `case_ref` in the index `tree` (a scan of every deadline, outside any
/// transaction: for repairs and tests).
pub(crate) fn keys_of(tree: &sled::Tree, case_ref: &CaseRef) -> Result<Vec<Vec<u8>>> {
    Ok(indexed(tree, case_ref)?
        .into_iter()
        .map(|k| k.key)
        .collect())
}

/// The keys `tree` holds for case `case_ref` (a scan of every deadline: for repairs and tests).
fn indexed(tree: &sled::Tree, case_ref: &CaseRef) -> Result<Vec<Keyed>> {
    let mut out = Vec::new();
    for kv in tree.range::<&[u8], _>(&b"f"[..]..&b"p"[..]) {
        let (k, v) = kv?;
        let Some((_, c, _)) = parse_key(&k) else {
            continue;
        };
        if c != *case_ref {
            continue;
        }
        out.push(keyed_as_held(&k, &v, k.first() == Some(&b'f'))?);
    }
    Ok(out)
}

/// Puts a case with `deadlines` (none fired; `None`: the case is gone) in the index `tree`, in
/// a transaction of its own, replacing what the index holds of it, the case having been held
/// in role `was` (`None`: not held): for the board's tests.
#[cfg(test)]
pub(crate) fn put_deadlines(
    tree: &sled::Tree,
    case_ref: &CaseRef,
    was: Option<Role>,
    case: Option<(Role, Vec<Deadline>)>,
) -> Result<()> {
    let old = match was {
        Some(r) => Some((r, indexed(tree, case_ref)?)),
        None => None,
    };
    let new = match case {
        Some((role, d)) => Some((role, keyed(case_ref, &rows(d, &[]))?)),
        None => None,
    };
    tree.transaction(|dt| put(dt, old.clone(), new.clone()))
        .map_err(|e| match e {
            sled::transaction::TransactionError::Abort(e) => e,
            sled::transaction::TransactionError::Storage(e) => e.into(),
        })
}

/// Adds `delta` to the count under `key`.
fn count(dt: &TransactionalTree, key: &[u8], delta: i64) -> TxResult<()> {
    let n = dt.get(key)?.map_or(0, |b| be(&b));
    let n = n.saturating_add_signed(delta);
    if n == 0 {
        dt.remove(key)?;
    } else {
        dt.insert(key, &n.to_be_bytes())?;
    }
    Ok(())
}

/// Replaces a case's keys in the index, `old` (as the index holds them; `None`: the case was
/// not held), by `new` (`None`: the case is gone): only the keys that differ are written, and
/// the counts they change.
fn put(dt: &TransactionalTree, old: Written, new: Written) -> TxResult<()> {
    let none = Vec::new();
    let (old_keys, new_keys) = (
        old.as_ref().map_or(&none, |(_, k)| k),
        new.as_ref().map_or(&none, |(_, k)| k),
    );
    for o in old_keys {
        if !new_keys.iter().any(|n| n.key == o.key) {
            dt.remove(o.key.as_slice())?;
            count(dt, &o.count, -1)?;
        }
    }
    for n in new_keys {
        match old_keys.iter().find(|o| o.key == n.key) {
            None => {
                dt.insert(n.key.as_slice(), n.value.as_slice())?;
                count(dt, &n.count, 1)?;
            }
            Some(o) if o.value != n.value => {
                dt.insert(n.key.as_slice(), n.value.as_slice())?;
                if o.count != n.count {
                    count(dt, &o.count, -1)?;
                    count(dt, &n.count, 1)?;
                }
            }
            Some(_) => {}
        }
    }
    match (old.map(|o| o.0), new.map(|n| n.0)) {
        (Some(o), Some(n)) if o != n => {
            count(dt, &cases_key(o), -1)?;
            count(dt, &cases_key(n), 1)?;
        }
        (Some(o), None) => count(dt, &cases_key(o), -1)?,
        (None, Some(n)) => count(dt, &cases_key(n), 1)?,
        _ => {}
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
            Some(f) => follows_undecided(
                cases
                    .get(f.as_str().as_bytes())?
                    .and_then(|raw| dec(&raw).ok())
                    .as_ref(),
                &c.case_ref,
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
        // A label twice in a case is one key, counted once, as a change of the case writes it.
        for k in keyed(&c.case_ref, &rows(all, &c.fired))? {
            put(k.key, k.value)?;
            *counts.entry(k.count).or_default() += 1;
        }
        *counts.entry(cases_key(c.role)).or_default() += 1;
    }
    for (k, n) in counts {
        put(k, n.to_be_bytes().to_vec())?;
    }
    Ok(())
}

/// Builds the index again from every case (a store written before it, or with other
/// settings): cleared, written in batches, then `meta` says with which settings. A stop in the
/// middle leaves `meta` without them, and the next opening builds it again. Returns the
/// number of entries written.
pub(crate) fn build(db: &sled::Db, settings: &TrackSettings) -> Result<u64> {
    let meta = db.open_tree("meta")?;
    let dt = db.open_tree("deadlines")?;
    meta.remove(BUILT_WITH)?;
    meta.remove(BUILT_WITH_V1)?;
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
    Ok(n)
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
