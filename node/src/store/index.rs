//! The listings' indexes, in the `case_index` tree: one key per case and filter a listing asks
//! by most (`role` for the inbox and outbox, `state`, and role and state together),
//! `<filter>\0<value>\0<case reference>` with an empty value, changed in the same transaction
//! as the case. Each key is a write in every transaction that opens a case or changes its
//! state, on the path of every request: the other filters (`kind`, `peer`, `urgency`,
//! `exercise`) are checked on the cases a role's or a state's index gives, not indexed. A listing reads its index from the cursor on, in
//! case-reference order (the order of the `cases` tree), and reads from `cases` only the cases
//! its page shows: the first page of any listing costs its page, not a scan of every case.

use crate::lifecycle::CaseRecord;
use sled::transaction::TransactionalTree;

/// The `meta` key saying the index is whole: written once the index of a store written before
/// it was built, at opening.
pub(crate) const INDEX_BUILT: &str = "case_index_v1";

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

/// Builds the index of every case in `cases` (a store written before it), one batch.
pub(crate) fn build(cases: &sled::Tree, index: &sled::Tree) -> crate::error::Result<()> {
    let mut batch = sled::Batch::default();
    for v in cases.iter().values() {
        let c: CaseRecord = poc247_protocol::codec::decode(&v?)?;
        for k in keys(&c) {
            batch.insert(k, &[][..]);
        }
    }
    index.apply_batch(batch)?;
    Ok(())
}
