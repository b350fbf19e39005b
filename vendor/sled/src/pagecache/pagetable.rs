//! A simple wait-free, grow-only pagetable, assumes a dense keyspace.
#![allow(unsafe_code)]

use std::{
    alloc::{alloc_zeroed, Layout},
    convert::TryFrom,
    mem::{align_of, size_of},
    sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release},
};

use crossbeam_epoch::{pin, Atomic, Guard, Owned, Shared};

use crate::{
    debug_delay,
    pagecache::{
        constants::{COUNTER_PID, MAX_PID_BITS, META_PID},
        CacheInfo, DiskPtr, LogOffset, Lsn, Page,
        PageState, PageView, Snapshot,
    },
    Measure, Result, Serialize, M,
};

use super::prepared::{put_u64, Input};

#[allow(unused)]
#[doc(hidden)]
pub const PAGETABLE_NODE_SZ: usize = size_of::<Node1>();

const NODE2_FAN_FACTOR: usize = 18;
const NODE1_FAN_OUT: usize = 1 << (MAX_PID_BITS - NODE2_FAN_FACTOR);
const NODE2_FAN_OUT: usize = 1 << NODE2_FAN_FACTOR;
const FAN_MASK: u64 = (NODE2_FAN_OUT - 1) as u64;

pub type PageId = u64;

struct Node1 {
    children: [Atomic<Node2>; NODE1_FAN_OUT],
}

struct Node2 {
    children: [Atomic<Page>; NODE2_FAN_OUT],
}

impl Node1 {
    fn new() -> Owned<Self> {
        let size = size_of::<Self>();
        let align = align_of::<Self>();

        unsafe {
            let layout = Layout::from_size_align_unchecked(size, align);

            #[allow(clippy::cast_ptr_alignment)]
            let ptr = alloc_zeroed(layout) as *mut Self;

            Owned::from_raw(ptr)
        }
    }
}

impl Node2 {
    fn new() -> Owned<Node2> {
        let size = size_of::<Self>();
        let align = align_of::<Self>();

        unsafe {
            let layout = Layout::from_size_align_unchecked(size, align);

            #[allow(clippy::cast_ptr_alignment)]
            let ptr = alloc_zeroed(layout) as *mut Self;

            Owned::from_raw(ptr)
        }
    }
}

impl Drop for Node1 {
    fn drop(&mut self) {
        drop_iter(self.children.iter());
    }
}

impl Drop for Node2 {
    fn drop(&mut self) {
        drop_iter(self.children.iter());
    }
}

fn drop_iter<T>(iter: core::slice::Iter<'_, Atomic<T>>) {
    let guard = pin();
    for child in iter {
        let shared_child = child.load(Relaxed, &guard);
        if shared_child.is_null() {
            // poc247: not dense any more (PATCHED.md, item 12): a page of the snapshot
            // that was never used has no entry, and the pages after it may.
            continue;
        }
        unsafe {
            drop(shared_child.into_owned());
        }
    }
}

/// poc247 (PATCHED.md, item 12): the pages of the snapshot the store was opened with,
/// packed, until each is first asked for. Loading every page of the snapshot into the table
/// at the start cost two allocations and about 140 bytes of memory a page for as long as
/// the store stays open, whether the page was ever used or not; a packed location is 8
/// bytes, and a page's entry is built from it (exactly as the start built it: no update in
/// memory, the same locations) the first time anything asks for the page. Only pages whose
/// every location is inline in the log and fits the packing are kept here; free pages, pages
/// with a part in a blob file, and the meta and counter pages are loaded at the start as
/// before.
///
/// A location is a log sequence number, the offset in the file and the size. The log writes
/// each of its segments whole into one segment of the file, so the sequence number and the
/// offset are the same distance into their segments (`iobuf.rs` asserts it at every write):
/// a location is kept as its file segment (24 bits), that distance (20 bits) and its size
/// (20 bits), and the sequence number at which the file segment starts is kept once a file
/// segment, in `segment_lsns`. A location that does not fit, or a file segment found with two
/// sequence numbers, leaves its page to be loaded at the start.
///
/// Where a page's locations are in `infos` is kept in about a byte a page (PATCHED.md, item
/// 14): how many it has (`counts`, 1 to 255; 0 for a page not kept here, as is one with more),
/// and, every [`BLOCK`] pages, where the block's first page starts (`blocks`). A page's start
/// is its block's plus the counts of the pages before it in the block.
#[derive(Default)]
pub(crate) struct Unloaded {
    /// How many locations each page has in `infos`, in the order of the pages.
    counts: Vec<u8>,
    /// `blocks[b]`: the index in `infos` of the first location of page `b * BLOCK`.
    blocks: Vec<u32>,
    infos: Vec<u64>,
    /// The log sequence number at which each file segment starts; `-1` where none is known.
    segment_lsns: Vec<Lsn>,
    /// log2 of the segment size; `None` packs nothing (a segment size not a power of two,
    /// or above what 20 bits can hold).
    segment_shift: Option<u32>,
}

/// poc247 (PATCHED.md, items 15 and 16): what [`Unloaded::pack_all`] makes of a snapshot.
pub(crate) struct Packed {
    /// The pages that can wait.
    pub(crate) unloaded: Unloaded,
    /// The others, in order: the opening loads them.
    pub(crate) to_load: Vec<(PageId, PageState)>,
    /// How many pages the snapshot has.
    pub(crate) pages: PageId,
}

impl Packed {
    /// poc247 (PATCHED.md, item 18): in the opening file's form: the number of pages, the
    /// segment shift (255 for none), then `counts`, `blocks`, `infos`, `segment_lsns` (each
    /// its length, then its numbers, little-endian) and the pages to load (their number,
    /// then each page's id, the length of its state and its state as the snapshot encodes
    /// it).
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        let u = &self.unloaded;
        put_u64(out, self.pages);
        out.push(u.segment_shift.map_or(u8::MAX, |shift| shift as u8));
        put_u64(out, u.counts.len() as u64);
        out.extend_from_slice(&u.counts);
        put_u64(out, u.blocks.len() as u64);
        for block in &u.blocks {
            out.extend_from_slice(&block.to_le_bytes());
        }
        put_u64(out, u.infos.len() as u64);
        for info in &u.infos {
            out.extend_from_slice(&info.to_le_bytes());
        }
        put_u64(out, u.segment_lsns.len() as u64);
        for lsn in &u.segment_lsns {
            out.extend_from_slice(&lsn.to_le_bytes());
        }
        put_u64(out, self.to_load.len() as u64);
        for (pid, state) in &self.to_load {
            let bytes = state.serialize();
            put_u64(out, *pid);
            put_u64(out, bytes.len() as u64);
            out.extend_from_slice(&bytes);
        }
    }

    /// poc247 (PATCHED.md, item 18): what [`Packed::write`] wrote, if it holds together:
    /// the segment shift of `segment_size`, a count for every page, a block start every
    /// [`BLOCK`] pages, as many locations as the counts add up to, each in a file segment
    /// whose sequence number is known, the pages to load in order, below the number of pages
    /// and with no count.
    pub(crate) fn read(input: &mut Input, segment_size: usize) -> Option<Packed> {
        let pages = input.u64()?;
        let segment_shift = match input.u8()? {
            u8::MAX => None,
            shift => Some(u32::from(shift)),
        };
        if segment_shift != Unloaded::segment_shift(segment_size) {
            return None;
        }
        let len = input.len(1)?;
        let counts = input.vec(len)?;
        let len = input.len(4)?;
        let blocks = input.array(len, u32::from_le_bytes)?;
        let len = input.len(8)?;
        let infos = input.array(len, u64::from_le_bytes)?;
        let len = input.len(8)?;
        let segment_lsns = input.array(len, i64::from_le_bytes)?;
        if u64::try_from(counts.len()).ok()? != pages
            || blocks.len() != (counts.len() + BLOCK - 1) / BLOCK
        {
            return None;
        }
        let mut located = 0_usize;
        let mut unlocated = 0_usize;
        for (i, count) in counts.iter().enumerate() {
            if i % BLOCK == 0 && usize::try_from(*blocks.get(i / BLOCK)?).ok()? != located {
                return None;
            }
            located += usize::from(*count);
            unlocated += usize::from(*count == 0);
        }
        let known = |packed: &u64| {
            usize::try_from(packed >> (WITHIN_BITS + SIZE_BITS))
                .ok()
                .and_then(|segment| segment_lsns.get(segment))
                .map_or(false, |lsn| *lsn >= 0)
        };
        if located != infos.len() || !infos.iter().all(known) {
            return None;
        }
        let unloaded = Unloaded { counts, blocks, infos, segment_lsns, segment_shift };
        let len = input.len(16)?;
        let mut to_load = Vec::with_capacity(len);
        for _ in 0..len {
            let pid = input.u64()?;
            let size = input.len(1)?;
            let bytes = input.vec(size)?;
            let mut bytes = bytes.as_slice();
            let state = PageState::deserialize(&mut bytes).ok()?;
            let in_order = to_load.last().map_or(true, |(last, _)| *last < pid);
            if !bytes.is_empty() || !in_order || pid >= pages || unloaded.is_kept(pid) {
                return None;
            }
            to_load.push((pid, state));
        }
        if to_load.len() != unlocated {
            return None;
        }
        Some(Packed { unloaded, to_load, pages })
    }
}

/// Pages a block of [`Unloaded::blocks`].
const BLOCK: usize = 64;

const SEGMENT_BITS: u32 = 24;
const WITHIN_BITS: u32 = 20;
const SIZE_BITS: u32 = 20;

impl Unloaded {
    fn with_capacity(pages: usize, segment_size: usize) -> Self {
        Unloaded {
            counts: Vec::with_capacity(pages),
            blocks: Vec::with_capacity(pages / BLOCK + 1),
            infos: Vec::with_capacity(pages),
            segment_lsns: Vec::new(),
            segment_shift: Self::segment_shift(segment_size),
        }
    }

    /// log2 of `segment_size`, if it packs: a power of two that 20 bits can hold.
    fn segment_shift(segment_size: usize) -> Option<u32> {
        if segment_size.is_power_of_two() && segment_size.trailing_zeros() <= WITHIN_BITS {
            Some(segment_size.trailing_zeros())
        } else {
            None
        }
    }

    /// One location packed, if it fits and agrees with the segments seen so far; the file
    /// segment's sequence number is recorded.
    fn pack(&mut self, lsn: Lsn, offset: LogOffset, size: u64) -> Option<u64> {
        let shift = self.segment_shift?;
        let mask = (1_u64 << shift) - 1;
        let lsn = u64::try_from(lsn).ok()?;
        let within = offset & mask;
        if lsn & mask != within || size >= 1 << SIZE_BITS {
            return None;
        }
        let segment = offset >> shift;
        if segment >= 1 << SEGMENT_BITS {
            return None;
        }
        let segment_lsn = Lsn::try_from(lsn - within).ok()?;
        let slot = usize::try_from(segment).ok()?;
        if self.segment_lsns.len() <= slot {
            self.segment_lsns.resize(slot + 1, -1);
        }
        match self.segment_lsns[slot] {
            -1 => self.segment_lsns[slot] = segment_lsn,
            known if known != segment_lsn => return None,
            _ => {}
        }
        Some(
            (segment << (WITHIN_BITS + SIZE_BITS))
                | (within << SIZE_BITS)
                | size,
        )
    }

    /// The location `packed` stands for: (sequence number, offset, size).
    fn unpack(&self, packed: u64) -> Option<(Lsn, LogOffset, u64)> {
        let shift = self.segment_shift?;
        let segment = packed >> (WITHIN_BITS + SIZE_BITS);
        let within = (packed >> SIZE_BITS) & ((1 << WITHIN_BITS) - 1);
        let size = packed & ((1 << SIZE_BITS) - 1);
        let segment_lsn = *self.segment_lsns.get(usize::try_from(segment).ok()?)?;
        let within_lsn = Lsn::try_from(within).ok()?;
        Some((segment_lsn + within_lsn, (segment << shift) + within, size))
    }

    /// Records the next page (the one numbered as many as were recorded before): packed if
    /// it `may_wait` and can be; otherwise with no location (a count of 0: the opening loads
    /// the page itself, [`Unloaded::is_kept`]).
    fn push(&mut self, state: &PageState, may_wait: bool) {
        let before = self.infos.len();
        if self.counts.len() % BLOCK == 0 {
            // Checked at every push that adds: the length fits.
            self.blocks.push(u32::try_from(before).unwrap_or(u32::MAX));
        }
        let packed_all = match state {
            PageState::Present { base, frags } if may_wait => {
                std::iter::once(base).chain(frags.iter()).all(|(lsn, ptr, size)| {
                    let packed = match ptr {
                        DiskPtr::Inline(offset) => self.pack(*lsn, *offset, *size),
                        DiskPtr::Blob(..) => None,
                    };
                    packed.map(|p| self.infos.push(p)).is_some()
                }) && u32::try_from(self.infos.len()).is_ok()
                    && self.infos.len() - before <= usize::from(u8::MAX)
            }
            _ => false,
        };
        if !packed_all {
            self.infos.truncate(before);
        }
        // At most 255, checked above.
        self.counts.push(u8::try_from(self.infos.len() - before).unwrap_or(0));
    }

    /// poc247 (PATCHED.md, item 15): every page of the snapshot's table that can wait
    /// packed, as `load_snapshot` packed them one by one (the meta and counter pages never):
    /// a pure function of the snapshot, so the opening runs it on a thread of its own
    /// while the log starts. `is_kept` then says which pages are left to load.
    ///
    /// poc247 (PATCHED.md, item 16): the pages are decoded one at a time as they are packed
    /// ([`Snapshot::for_each_page`]); those left to load come back decoded, in order, with
    /// how many pages the snapshot has.
    pub(crate) fn pack_all(
        snapshot: &Snapshot,
        segment_size: usize,
    ) -> Result<Packed> {
        // A guess (a page takes at least 5 bytes, most about 20), shrunk to fit at the end.
        let guess = snapshot
            .encoded
            .as_ref()
            .map_or(snapshot.pt.len(), |e| e.pages().len() / 16);
        let mut unloaded = Unloaded::with_capacity(guess, segment_size);
        let mut to_load = Vec::new();
        let pages = snapshot.for_each_page(|pid, state| {
            unloaded.push(state, pid != META_PID && pid != COUNTER_PID);
            if !unloaded.is_kept(pid) {
                to_load.push((pid, state.clone()));
            }
            Ok(())
        })?;
        unloaded.shrink();
        Ok(Packed { unloaded, to_load, pages })
    }

    /// Whether page `pid` is kept here, packed (and so not to be loaded at the start).
    pub(crate) fn is_kept(&self, pid: PageId) -> bool {
        usize::try_from(pid)
            .ok()
            .and_then(|i| self.counts.get(i))
            .map_or(false, |count| *count > 0)
    }

    /// Releases the spare capacity.
    fn shrink(&mut self) {
        self.counts.shrink_to_fit();
        self.blocks.shrink_to_fit();
        self.infos.shrink_to_fit();
        self.segment_lsns.shrink_to_fit();
    }

    /// The page `pid` as the start would have loaded it, if it is kept here.
    fn page(&self, pid: PageId) -> Option<Page> {
        let i = usize::try_from(pid).ok()?;
        let count = usize::from(*self.counts.get(i)?);
        if count == 0 {
            return None;
        }
        let block = i / BLOCK;
        let before: usize = self.counts[block * BLOCK..i].iter().map(|c| usize::from(*c)).sum();
        let start = usize::try_from(*self.blocks.get(block)?).ok()? + before;
        let infos = self.infos.get(start..start + count)?;
        let cache_infos = infos
            .iter()
            .map(|p| {
                let (lsn, offset, log_size) = self.unpack(*p)?;
                Some(CacheInfo {
                    ts: 0,
                    lsn,
                    pointer: DiskPtr::Inline(offset),
                    log_size,
                })
            })
            .collect::<Option<Vec<CacheInfo>>>()?;
        Some(Page { update: None, cache_infos })
    }
}

/// A simple lock-free radix tree.
pub struct PageTable {
    head: Atomic<Node1>,
    /// poc247: the snapshot's pages not loaded yet (item 12); set once, before any use.
    unloaded: Unloaded,
}

impl Default for PageTable {
    fn default() -> Self {
        let head = Node1::new();
        Self { head: Atomic::from(head), unloaded: Unloaded::default() }
    }
}

impl PageTable {
    /// # Panics
    ///
    /// will panic if the item is not null already,
    /// which represents a serious failure to
    /// properly handle lifecycles of pages in the
    /// using system.
    pub(crate) fn insert<'g>(
        &self,
        pid: PageId,
        item: Page,
        guard: &'g Guard,
    ) -> PageView<'g> {
        debug_delay();
        let tip = self.traverse(pid, guard);

        let shared = Owned::new(item).into_shared(guard);
        let old = tip.swap(shared, Release, guard);
        assert!(old.is_null());

        PageView { read: shared, entry: tip }
    }

    /// poc247: the snapshot's pages to load on first use (item 12). Only before the table
    /// is shared: at the start, which holds it mutably.
    pub(crate) fn set_unloaded(&mut self, unloaded: Unloaded) {
        self.unloaded = unloaded;
    }

    /// Try to get a value from the tree.
    pub(crate) fn get<'g>(
        &self,
        pid: PageId,
        guard: &'g Guard,
    ) -> Option<PageView<'g>> {
        let _measure = Measure::new(&M.get_pagetable);
        debug_delay();
        let tip = self.traverse(pid, guard);

        debug_delay();
        let res = tip.load(Acquire, guard);
        if res.is_null() {
            // poc247 (item 12): a page of the snapshot not used since the start gets its
            // entry now. An entry, once there, is only ever replaced by another, never
            // emptied, so an empty one here can only be such a page or one never allocated.
            // Two threads may build it at once: one installs its copy, the other drops its
            // own (built from the same packed locations) and takes the one installed.
            let page = self.unloaded.page(pid)?;
            debug_delay();
            match tip.compare_and_set(
                Shared::null(),
                Owned::new(page),
                AcqRel,
                guard,
            ) {
                Ok(read) => Some(PageView { read, entry: tip }),
                Err(lost) => {
                    drop(lost.new);
                    Some(PageView { read: lost.current, entry: tip })
                }
            }
        } else {
            let page_view = PageView { read: res, entry: tip };

            Some(page_view)
        }
    }

    fn traverse<'g>(&self, k: PageId, guard: &'g Guard) -> &'g Atomic<Page> {
        let (l1k, l2k) = split_fanout(k);

        debug_delay();
        let head = self.head.load(Acquire, guard);

        debug_delay();
        let l1 = unsafe { &head.deref().children };

        debug_delay();
        let mut l2_ptr = l1[l1k].load(Acquire, guard);

        if l2_ptr.is_null() {
            let next_child = Node2::new();

            debug_delay();
            let ret = l1[l1k].compare_and_set(
                Shared::null(),
                next_child,
                Release,
                guard,
            );

            l2_ptr = match ret {
                Ok(next_child) => next_child,
                Err(returned) => {
                    drop(returned.new);
                    returned.current
                }
            };
        }

        debug_delay();
        let l2 = unsafe { &l2_ptr.deref().children };

        &l2[l2k]
    }
}

#[inline]
fn split_fanout(id: PageId) -> (usize, usize) {
    // right shift 32 on 32-bit pointer systems panics
    #[cfg(target_pointer_width = "64")]
    assert!(
        id <= 1 << MAX_PID_BITS,
        "trying to access key of {}, which is \
         higher than 2 ^ {}",
        id,
        MAX_PID_BITS,
    );

    let left = id >> NODE2_FAN_FACTOR;
    let right = id & FAN_MASK;

    (safe_usize(left), safe_usize(right))
}

#[inline]
fn safe_usize(value: PageId) -> usize {
    usize::try_from(value).unwrap()
}

impl Drop for PageTable {
    fn drop(&mut self) {
        let guard = pin();
        let head = self.head.load(Relaxed, &guard);
        unsafe {
            drop(head.into_owned());
        }
    }
}

#[test]
fn test_split_fanout() {
    assert_eq!(
        split_fanout(0b11_1111_1111_1111_1111),
        (0, 0b11_1111_1111_1111_1111)
    );
    assert_eq!(
        split_fanout(0b111_1111_1111_1111_1111),
        (0b1, 0b11_1111_1111_1111_1111)
    );
}
