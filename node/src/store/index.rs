//! The listings' indexes, in the `case_index` tree: one key per case and filter a listing asks
//! by most (`role` for the inbox and outbox, `state`, and role and state together),
//! `<filter>\0<value>\0<case reference>` with an empty value, changed in the same transaction
//! as the case. Each key is a write in every transaction that opens a case or changes its
//! state, on the path of every request: the other filters (`kind`, `peer`, `urgency`,
//! `exercise`) are checked on the cases a role's or a state's index gives, not indexed. A listing reads its index from the cursor on, in
//! case-reference order (the order of the `cases` tree), and reads from `cases` only the cases
//! its page shows: the first page of any listing costs its page, not a scan of every case.
//!
//! The index of opening times, `opened\0<opened_at, 8 bytes big-endian>\0<case reference>`
//! in the same tree, orders the cases by when they were opened: the statistics of a period
//! read the cases opened in it and no other. A case's opening time never changes, so its key
//! is written in the transaction that opens the case and removed in the one that purges it.

use crate::lifecycle::CaseRecord;
use poc247_protocol::UtcMs;
use sled::transaction::TransactionalTree;

/// The `meta` key saying the index is whole: written once the index of a store written before
/// it was built, at opening.
pub(crate) const INDEX_BUILT: &str = "case_index_v1";

/// The `meta` key saying the index of opening times is whole (a store written before it has
/// it built once, at opening).
pub(crate) const OPENED_BUILT: &str = "case_index_opened_v1";

/// The filter of the index of opening times.
const OPENED: &[u8] = b"opened\0";

/// The start of the keys of the cases opened at `t` (or later, in key order).
pub(crate) fn opened_from(t: UtcMs) -> Vec<u8> {
    let mut k = Vec::with_capacity(OPENED.len() + 8);
    k.extend_from_slice(OPENED);
    k.extend_from_slice(&t.0.to_be_bytes());
    k
}

/// The key of a case in the index of opening times.
pub(crate) fn opened_key(c: &CaseRecord) -> Vec<u8> {
    let mut k = opened_from(c.opened_at);
    k.push(0);
    k.extend_from_slice(c.case_ref.as_str().as_bytes());
    k
}

/// The keys of the cases opened in `[since, until)` (an open end unbounded): their range in
/// the index, empty when `since` is not before `until`.
pub(crate) fn opened_range(since: Option<UtcMs>, until: Option<UtcMs>) -> (Vec<u8>, Vec<u8>) {
    let lo = opened_from(since.unwrap_or(UtcMs(0)));
    let hi = match until {
        // Every key of a case opened at `until` or later sorts after this one.
        Some(u) => opened_from(u),
        None => b"opened\x01".to_vec(),
    };
    if lo < hi {
        (lo, hi)
    } else {
        (lo.clone(), lo)
    }
}

/// The case reference an index key of opening time ends with (`None`: not such a key).
pub(crate) fn opened_case_ref(k: &[u8]) -> Option<&[u8]> {
    k.strip_prefix(OPENED)?.get(9..)
}

/// The filters a listing may ask by, each with the value a case has for it.
pub(crate) fn fields(c: &CaseRecord) -> [(&'static str, String); 3] {
    [
        ("role", c.role.as_str().to_owned()),
        ("state", c.state.name().to_owned()),
        (
            "role_state",
            format!("{}\0{}", c.role.as_str(), c.state.name()),
        ),
    ]
}

/// The prefix of an index's keys for `value` of `filter` (the case reference follows).
pub(crate) fn prefix(filter: &str, value: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(filter.len() + value.len() + 2);
    k.extend_from_slice(filter.as_bytes());
    k.push(0);
    k.extend_from_slice(value.as_bytes());
    k.push(0);
    k
}

/// Every index key of a case.
pub(crate) fn keys(c: &CaseRecord) -> Vec<Vec<u8>> {
    fields(c)
        .iter()
        .map(|(f, v)| {
            let mut k = prefix(f, v);
            k.extend_from_slice(c.case_ref.as_str().as_bytes());
            k
        })
        .chain(std::iter::once(opened_key(c)))
        .collect()
}

/// Moves a case's index keys from what it was (`None`: new) to what it is (`None`: gone),
/// inside the transaction that changes the case; keys that stay are not written again.
pub(crate) fn change(
    it: &TransactionalTree,
    old: Option<&CaseRecord>,
    new: Option<&CaseRecord>,
) -> sled::transaction::ConflictableTransactionResult<(), crate::error::NodeError> {
    let old = old.map(keys).unwrap_or_default();
    let new = new.map(keys).unwrap_or_default();
    put_keys(it, &old, &new)
}

/// [`change`] with the keys already made.
pub(crate) fn put_keys(
    it: &TransactionalTree,
    old: &[Vec<u8>],
    new: &[Vec<u8>],
) -> sled::transaction::ConflictableTransactionResult<(), crate::error::NodeError> {
    for k in old {
        if !new.contains(k) {
            it.remove(k.as_slice())?;
        }
    }
    for k in new {
        if !old.contains(k) {
            it.insert(k.as_slice(), &[][..])?;
        }
    }
    Ok(())
}

/// Builds the index of every case in `cases` (a store written before it), in batches of
/// [`BUILD_BATCH`] cases: every key with `all`, else only the index of opening times (a store
/// written before that index alone). Writing a key the index holds already changes nothing,
/// so a build cut short is done again whole at the next opening.
pub(crate) fn build(cases: &sled::Tree, index: &sled::Tree, all: bool) -> crate::error::Result<()> {
    let mut batch = sled::Batch::default();
    let mut n = 0;
    for v in cases.iter().values() {
        let c: CaseRecord = poc247_protocol::codec::decode(&v?)?;
        if all {
            for k in keys(&c) {
                batch.insert(k, &[][..]);
            }
        } else {
            batch.insert(opened_key(&c), &[][..]);
        }
        n += 1;
        if n % BUILD_BATCH == 0 {
            index.apply_batch(std::mem::take(&mut batch))?;
        }
    }
    index.apply_batch(batch)?;
    Ok(())
}

/// How many cases' keys a build writes in one batch.
const BUILD_BATCH: usize = 10_000;

/// The first difference between the index and what a build from every case makes (`None`: it
/// is exact). Reads every case and key: for tests and checks, not for a node.
pub(crate) fn check(
    cases: &sled::Tree,
    index: &sled::Tree,
) -> crate::error::Result<Option<String>> {
    let mut want = std::collections::BTreeSet::new();
    for v in cases.iter().values() {
        let c: CaseRecord = poc247_protocol::codec::decode(&v?)?;
        want.extend(keys(&c));
    }
    let mut have = std::collections::BTreeSet::new();
    for k in index.iter().keys() {
        have.insert(k?.to_vec());
    }
    let show = |k: &Vec<u8>| String::from_utf8_lossy(k).replace('\0', "/");
    if let Some(k) = want.difference(&have).next() {
        return Ok(Some(format!("missing from the index: {}", show(k))));
    }
    if let Some(k) = have.difference(&want).next() {
        return Ok(Some(format!("in the index, of no case: {}", show(k))));
    }
    Ok(None)
}
