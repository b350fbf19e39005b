#[cfg(feature = "zstd")]
use zstd::block::{compress, decompress};

use crate::*;

use super::{
    arr_to_u32, gc_blobs, pread_exact, iterator::segment_iter_from_headers,
    iterator::start_header_scan, pwrite_all, u32_to_arr,
    u64_to_arr, BasedBuf, DiskPtr, LogIter, LogKind, LogOffset, Lsn,
    MessageKind,
};
use super::prepared::ReadFile;

/// A snapshot of the state required to quickly restart
/// the `PageCache` and `SegmentAccountant`.
#[derive(Default)]
#[cfg_attr(test, derive(Clone))]
pub struct Snapshot {
    /// The last read message lsn
    pub stable_lsn: Option<Lsn>,
    /// The last read message lid
    pub active_segment: Option<LogOffset>,
    /// the mapping from pages to (lsn, lid), once decoded (see `encoded`)
    pub pt: Vec<PageState>,
    /// poc247 (PATCHED.md, item 16): the page states as read from the snapshot file and not
    /// decoded yet (then `pt` is empty). The opening's passes over the pages
    /// ([`Snapshot::for_each_page`]) decode them one at a time; the first change
    /// ([`Snapshot::apply`], a log replayed) decodes them into `pt` for good.
    pub(crate) encoded: Option<Encoded>,
    /// poc247 (PATCHED.md, item 18): the checksum and length of the snapshot file these page
    /// states are exactly the contents of (the one read, or the one written); `None` once a
    /// log replayed over them changed them, or where there is no file.
    pub(crate) file_digest: Option<(u32, u64)>,
    /// poc247 (PATCHED.md, item 18): the file whose page states were not read (then `pt` is
    /// empty and `encoded` `None`), because the opening file made of it was there. Anything
    /// that needs them reads them then ([`Snapshot::for_each_page`],
    /// [`Snapshot::load_unread`]), checked against `file_digest`.
    pub(crate) unread: Option<std::path::PathBuf>,
}

/// poc247: serialized page states (the snapshot file's bytes from `start` on).
#[derive(Clone)]
pub(crate) struct Encoded {
    bytes: Vec<u8>,
    start: usize,
}

impl Encoded {
    pub(crate) fn pages(&self) -> &[u8] {
        self.bytes.get(self.start..).unwrap_or(&[])
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Snapshot");
        d.field("stable_lsn", &self.stable_lsn)
            .field("active_segment", &self.active_segment)
            .field("pt", &self.pt);
        if let Some(encoded) = &self.encoded {
            d.field("encoded_bytes", &encoded.pages().len());
        }
        if let Some(unread) = &self.unread {
            d.field("unread", unread);
        }
        d.finish()
    }
}

/// poc247: two snapshots are equal when their coordinates and their page states are,
/// decoded or not (a snapshot that does not decode equals none).
impl PartialEq for Snapshot {
    fn eq(&self, other: &Snapshot) -> bool {
        if self.stable_lsn != other.stable_lsn
            || self.active_segment != other.active_segment
        {
            return false;
        }
        let decoded = |s: &Snapshot| s.encoded.is_none() && s.unread.is_none();
        if decoded(self) && decoded(other) {
            return self.pt == other.pt;
        }
        match (self.page_states(), other.page_states()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum PageState {
    /// Present signifies a page that has some data.
    ///
    /// It has two parts. The base and the fragments.
    /// `base` is separated to guarantee that it will
    /// always have at least one because it is
    /// correct by construction.
    /// The third element in each tuple is the on-log
    /// size for the corresponding write. If things
    /// are pretty large, they spill into the blobs
    /// directory, but still get a small pointer that
    /// gets written into the log. The sizes are used
    /// for the garbage collection statistics on
    /// segments. The lsn and the DiskPtr can be used
    /// for actually reading the item off the disk,
    /// and the size tells us how much storage it uses
    /// on the disk.
    Present {
        base: (Lsn, DiskPtr, u64),
        frags: Vec<(Lsn, DiskPtr, u64)>,
    },

    /// This is a free page.
    Free(Lsn, DiskPtr),
    Uninitialized,
}

impl PageState {
    fn push(&mut self, item: (Lsn, DiskPtr, u64)) {
        match *self {
            PageState::Present { base, ref mut frags } => {
                if frags.last().map_or(base.0, |f| f.0) < item.0 {
                    frags.push(item)
                } else {
                    debug!(
                        "skipping merging item {:?} into \
                        existing PageState::Present({:?})",
                        item, frags
                    );
                }
            }
            _ => panic!("pushed frags to {:?}", self),
        }
    }

    pub(crate) fn is_free(&self) -> bool {
        match *self {
            PageState::Free(_, _) => true,
            _ => false,
        }
    }

    #[cfg(feature = "testing")]
    fn offsets(&self) -> Vec<LogOffset> {
        match *self {
            PageState::Present { base, ref frags } => {
                let mut offsets = vec![base.1.lid()];
                for (_, ptr, _) in frags {
                    offsets.push(ptr.lid());
                }
                offsets
            }
            PageState::Free(_, ptr) => vec![ptr.lid()],
            PageState::Uninitialized => {
                panic!("called offsets on Uninitialized")
            }
        }
    }
}

impl Snapshot {
    /// poc247 (PATCHED.md, item 16): the snapshot of a file's bytes (its checksum and length
    /// already taken off): its coordinates decoded, its page states left as they are until a
    /// pass over them or a change needs them.
    pub(crate) fn from_encoded(bytes: Vec<u8>) -> Result<Snapshot> {
        let mut rest = bytes.as_slice();
        let (stable_lsn, active_segment) = Self::decode_coordinates(&mut rest)?;
        let start = bytes.len() - rest.len();
        let encoded =
            if rest.is_empty() { None } else { Some(Encoded { bytes, start }) };
        Ok(Snapshot {
            stable_lsn,
            active_segment,
            pt: vec![],
            encoded,
            file_digest: None,
            unread: None,
        })
    }

    /// poc247: the coordinates at the start of a snapshot file's bytes (the stable sequence
    /// number, the active segment); `buf` is left at the page states.
    fn decode_coordinates(
        buf: &mut &[u8],
    ) -> Result<(Option<Lsn>, Option<LogOffset>)> {
        Ok((Serialize::deserialize(buf)?, Serialize::deserialize(buf)?))
    }

    /// poc247 (PATCHED.md, item 16): calls `f` with every page's number and state, in order,
    /// decoding each from the file's bytes into the same value if they are not decoded yet
    /// (no page costs an allocation but its first fragments'); returns how many pages there
    /// are. A page state that does not decode is an error, as it was when the whole snapshot
    /// was decoded on reading.
    pub(crate) fn for_each_page(
        &self,
        mut f: impl FnMut(PageId, &PageState) -> Result<()>,
    ) -> Result<PageId> {
        if let Some(read) = self.read_unread()? {
            return read.for_each_page(f);
        }
        let encoded = if let Some(encoded) = &self.encoded {
            encoded
        } else {
            for (pid, state) in self.pt.iter().enumerate() {
                f(pid as PageId, state)?;
            }
            return Ok(self.pt.len() as PageId);
        };
        let mut buf = encoded.pages();
        let mut state = PageState::Uninitialized;
        let mut pid: PageId = 0;
        while !buf.is_empty() {
            PageState::deserialize_into(&mut buf, &mut state)?;
            f(pid, &state)?;
            pid += 1;
        }
        Ok(pid)
    }

    /// Every page state, decoded (a copy).
    pub(crate) fn page_states(&self) -> Result<Vec<PageState>> {
        let mut states = Vec::with_capacity(self.pt.len());
        let _ = self.for_each_page(|_, state| {
            states.push(state.clone());
            Ok(())
        })?;
        Ok(states)
    }

    /// poc247 (PATCHED.md, item 18): lets the page states go, once the opening has what it
    /// makes of them; only the coordinates are left.
    pub(crate) fn forget_pages(&mut self) {
        self.pt = vec![];
        self.encoded = None;
        self.file_digest = None;
        self.unread = None;
    }

    /// poc247 (PATCHED.md, item 18): the snapshot of the file whose page states were left
    /// unread, read whole now, if they were; the file must be the one the coordinates were
    /// read from (its checksum and length).
    fn read_unread(&self) -> Result<Option<Snapshot>> {
        let Some(path) = &self.unread else {
            return Ok(None);
        };
        let read = read_snapshot_file(path, false)?;
        if read.file_digest != self.file_digest
            || read.stable_lsn != self.stable_lsn
            || read.active_segment != self.active_segment
        {
            error!("the snapshot file changed since its coordinates were read");
            return Err(Error::corruption(None));
        }
        Ok(Some(read))
    }

    /// poc247 (PATCHED.md, item 18): reads the page states left unread, if they were.
    pub(crate) fn load_unread(&mut self) -> Result<()> {
        if let Some(read) = self.read_unread()? {
            self.pt = read.pt;
            self.encoded = read.encoded;
            self.unread = None;
        }
        Ok(())
    }

    /// poc247: decodes the page states into `pt`, if they are not yet.
    fn decode_pages(&mut self) -> Result<()> {
        self.load_unread()?;
        if self.encoded.is_some() {
            self.pt = self.page_states()?;
            self.encoded = None;
        }
        Ok(())
    }

    pub fn recovered_coords(
        &self,
        segment_size: usize,
    ) -> (Option<LogOffset>, Option<Lsn>) {
        if self.stable_lsn.is_none() {
            return (None, None);
        }

        let stable_lsn = self.stable_lsn.unwrap();

        if let Some(base_offset) = self.active_segment {
            let progress = stable_lsn % segment_size as Lsn;
            let offset = base_offset + LogOffset::try_from(progress).unwrap();

            (Some(offset), Some(stable_lsn))
        } else {
            let lsn_idx = stable_lsn / segment_size as Lsn
                + if stable_lsn % segment_size as Lsn == 0 { 0 } else { 1 };
            let next_lsn = lsn_idx * segment_size as Lsn;
            (None, Some(next_lsn))
        }
    }

    fn apply(
        &mut self,
        log_kind: LogKind,
        pid: PageId,
        lsn: Lsn,
        disk_ptr: DiskPtr,
        sz: u64,
    ) -> Result<()> {
        trace!(
            "trying to deserialize buf for pid {} ptr {} lsn {}",
            pid,
            disk_ptr,
            lsn
        );
        let _measure = Measure::new(&M.snapshot_apply);

        self.decode_pages()?;
        // poc247 (PATCHED.md, item 18): the pages are not the file's any more.
        self.file_digest = None;

        let pushed = if self.pt.len() <= usize::try_from(pid).unwrap() {
            self.pt.resize(
                usize::try_from(pid + 1).unwrap(),
                PageState::Uninitialized,
            );
            true
        } else {
            false
        };

        match log_kind {
            LogKind::Replace => {
                trace!(
                    "compact of pid {} at ptr {} lsn {}",
                    pid,
                    disk_ptr,
                    lsn,
                );

                let pid_usize = usize::try_from(pid).unwrap();

                self.pt[pid_usize] = PageState::Present {
                    base: (lsn, disk_ptr, sz),
                    frags: vec![],
                };
            }
            LogKind::Link => {
                // Because we rewrite pages over time, we may have relocated
                // a page's initial Compact to a later segment. We should skip
                // over pages here unless we've encountered a Compact for them.
                if let Some(lids @ PageState::Present { .. }) =
                    self.pt.get_mut(usize::try_from(pid).unwrap())
                {
                    trace!(
                        "append of pid {} at lid {} lsn {}",
                        pid,
                        disk_ptr,
                        lsn,
                    );

                    lids.push((lsn, disk_ptr, sz));
                } else {
                    trace!(
                        "skipping dangling append of pid {} at lid {} lsn {}",
                        pid,
                        disk_ptr,
                        lsn,
                    );
                    if pushed {
                        let old = self.pt.pop().unwrap();
                        if old != PageState::Uninitialized {
                            error!("expected previous page state to be uninitialized");
                            return Err(Error::corruption(None));
                        }
                    }
                }
            }
            LogKind::Free => {
                trace!("free of pid {} at ptr {} lsn {}", pid, disk_ptr, lsn);
                self.pt[usize::try_from(pid).unwrap()] =
                    PageState::Free(lsn, disk_ptr);
            }
            LogKind::Corrupted | LogKind::Skip => {
                error!(
                    "unexpected messagekind in snapshot application for pid {}: {:?}",
                    pid, log_kind
                );
                return Err(Error::corruption(None));
            }
        }

        Ok(())
    }
}

fn advance_snapshot(
    mut iter: LogIter,
    mut snapshot: Snapshot,
    config: &RunningConfig,
) -> Result<Snapshot> {
    let _measure = Measure::new(&M.advance_snapshot);

    trace!("building on top of old snapshot: {:?}", snapshot);

    let old_stable_lsn = snapshot.stable_lsn;

    while let Some((log_kind, pid, lsn, ptr, sz)) = iter.next() {
        trace!(
            "in advance_snapshot looking at item with pid {} lsn {} ptr {}",
            pid,
            lsn,
            ptr
        );

        if lsn < snapshot.stable_lsn.unwrap_or(-1) {
            // don't process already-processed Lsn's. stable_lsn is for the last
            // item ALREADY INCLUDED lsn in the snapshot.
            trace!(
                "continuing in advance_snapshot, lsn {} ptr {} stable_lsn {:?}",
                lsn,
                ptr,
                snapshot.stable_lsn
            );
            continue;
        }

        if lsn >= iter.max_lsn.unwrap() {
            error!("lsn {} >= iter max_lsn {}", lsn, iter.max_lsn.unwrap());
            return Err(Error::corruption(None));
        }

        snapshot.apply(log_kind, pid, lsn, ptr, sz)?;
    }

    // `snapshot.tip_lid` can be set based on 4 possibilities for the tip of the
    // log:
    // 1. an empty DB - tip set to None, causing a fresh segment to be
    //    allocated on initialization
    // 2. the recovered tip is at the end of a
    //    segment with less space left than would fit MAX_MSG_HEADER_LEN -
    //    tip set to None, causing a fresh segment to be allocated on
    //    initialization, as in #1 above
    // 3. the recovered tip is in the middle of a segment - both set to the end
    //    of the last valid message, causing the system to be initialized to
    //    that point without allocating a new segment
    // 4. the recovered tip is at the beginning of a new segment, but without
    //    any valid messages in it yet. treat as #3 above, but also take care
    //    in te SA initialization to properly initialize any segment tracking
    //    state despite not having any pages currently residing there.

    let no_recovery_progress = iter.cur_lsn.is_none()
        || iter.cur_lsn.unwrap() <= snapshot.stable_lsn.unwrap_or(0);
    let db_is_empty = no_recovery_progress && snapshot.stable_lsn.is_none();

    #[cfg(feature = "testing")]
    let mut shred_point = None;

    let mut snapshot = if db_is_empty {
        trace!("db is empty, returning default snapshot");
        if snapshot != Snapshot::default() {
            error!("expected snapshot to be Snapshot::default");
            return Err(Error::corruption(None));
        }
        snapshot
    } else if iter.cur_lsn.is_none() {
        trace!(
            "no recovery progress happened since the last snapshot \
            was generated, returning the previous one"
        );
        snapshot
    } else {
        let iterated_lsn = iter.cur_lsn.unwrap();

        let segment_progress: Lsn = iterated_lsn % (config.segment_size as Lsn);

        // progress should never be below the SEG_HEADER_LEN if the segment_base
        // is set. progress can only be 0 if we've maxed out the
        // previous segment, unsetting the iterator segment_base in the
        // process.
        let monotonic = segment_progress >= SEG_HEADER_LEN as Lsn
            || (segment_progress == 0 && iter.segment_base.is_none());
        if !monotonic {
            error!("expected segment progress {} to be above SEG_HEADER_LEN or == 0, cur_lsn: {}",
                segment_progress,
                iterated_lsn,
            );
            return Err(Error::corruption(None));
        }

        let (stable_lsn, active_segment) = if segment_progress
            + MAX_MSG_HEADER_LEN as Lsn
            >= config.segment_size as Lsn
        {
            let bumped =
                config.normalize(iterated_lsn) + config.segment_size as Lsn;
            trace!("bumping snapshot.stable_lsn to {}", bumped);
            (bumped, None)
        } else {
            if let Some(BasedBuf { offset, .. }) = iter.segment_base {
                // either situation 3 or situation 4. we need to zero the
                // tail of the segment after the recovered tip
                let shred_len = config.segment_size
                    - usize::try_from(segment_progress).unwrap()
                    - 1;
                let shred_zone = vec![MessageKind::Corrupted.into(); shred_len];
                let shred_base =
                    offset + LogOffset::try_from(segment_progress).unwrap();

                #[cfg(feature = "testing")]
                {
                    shred_point = Some(shred_base);
                }

                debug!(
                    "zeroing the end of the recovered segment at lsn {} between lids {} and {}",
                    config.normalize(iterated_lsn),
                    shred_base,
                    shred_base + shred_len as LogOffset
                );
                pwrite_all(&config.file, &shred_zone, shred_base)?;
                config.file.sync_all()?;
            }
            (iterated_lsn, iter.segment_base.map(|bb| bb.offset))
        };

        if stable_lsn < snapshot.stable_lsn.unwrap_or(0) {
            error!(
                "unexpected corruption encountered in storage snapshot file. \
                stable lsn {} should be >= snapshot.stable_lsn {}",
                stable_lsn,
                snapshot.stable_lsn.unwrap_or(0),
            );
            return Err(Error::corruption(None));
        }

        snapshot.stable_lsn = Some(stable_lsn);
        snapshot.active_segment = active_segment;

        snapshot
    };

    trace!("generated snapshot: {:?}", snapshot);

    if snapshot.stable_lsn < old_stable_lsn {
        error!("unexpected corruption encountered in storage snapshot file");
        return Err(Error::corruption(None));
    }

    if snapshot.stable_lsn > old_stable_lsn {
        // poc247 (PATCHED.md, item 18): the page states are written, so read.
        snapshot.load_unread()?;
        let digest = write_snapshot(config, &snapshot)?;
        snapshot.file_digest = Some(digest);
    }

    #[cfg(feature = "testing")]
    let reverse_segments = {
        use std::collections::{HashMap, HashSet};
        let shred_base = shred_point.unwrap_or(LogOffset::max_value());
        let mut reverse_segments = HashMap::new();
        for (pid, page) in snapshot.page_states()?.iter().enumerate() {
            let offsets = page.offsets();
            for offset in offsets {
                let segment = config.normalize(offset);
                if segment == config.normalize(shred_base) {
                    assert!(
                        offset < shred_base,
                        "we shredded the location for pid {}
                        with locations {:?}
                        by zeroing the file tip after lid {}",
                        pid,
                        page,
                        shred_base
                    );
                }
                let entry = reverse_segments
                    .entry(segment)
                    .or_insert_with(HashSet::new);
                entry.insert((pid, offset));
            }
        }
        reverse_segments
    };

    for (lsn, to_zero) in &iter.segments {
        debug!("zeroing torn segment at lsn {} lid {}", lsn, to_zero);

        #[cfg(feature = "testing")]
        {
            if let Some(pids) = reverse_segments.get(to_zero) {
                assert!(
                    pids.is_empty(),
                    "expected segment that we're zeroing at lid {} \
                    lsn {} \
                    to contain no pages, but it contained pids {:?}",
                    to_zero,
                    lsn,
                    pids
                );
            }
        }

        // NB we intentionally corrupt this header to prevent any segment
        // from being allocated which would duplicate its LSN, messing
        // up recovery in the future.
        io_fail!(config, "segment initial free zero");
        pwrite_all(
            &config.file,
            &*vec![MessageKind::Corrupted.into(); config.segment_size],
            *to_zero,
        )?;
        if !config.temporary {
            config.file.sync_all()?;
        }
    }

    // remove all blob files larger than our stable offset
    if let Some(stable_lsn) = snapshot.stable_lsn {
        gc_blobs(config, stable_lsn)?;
    }

    #[cfg(feature = "event_log")]
    config.event_log.recovered_lsn(snapshot.stable_lsn.unwrap_or(0));

    Ok(snapshot)
}

/// Read a `Snapshot` or generate a default, then advance it to
/// the tip of the data file, if present.
pub fn read_snapshot_or_default(config: &RunningConfig) -> Result<Snapshot> {
    read_snapshot_for_opening(config).map(|(snapshot, _)| snapshot)
}

/// poc247 (PATCHED.md, item 18): [`read_snapshot_or_default`], and the opening file beside
/// the snapshot, if there is one made of it (then the snapshot's page states are left
/// unread).
pub(crate) fn read_snapshot_for_opening(
    config: &RunningConfig,
) -> Result<(Snapshot, Option<ReadFile>)> {
    // NB we want to error out if the read snapshot was corrupted.
    // We only use a default Snapshot when there is no snapshot found.
    // poc247 (PATCHED.md, item 17): the log's segment headers are read while the snapshot is.
    let headers = start_header_scan(config)?;

    let (last_snap, opening_file) =
        read_snapshot(config)?.unwrap_or_else(|| (Snapshot::default(), None));

    let log_iter = segment_iter_from_headers(
        last_snap.stable_lsn.unwrap_or(0),
        headers,
        config,
    )?;

    let res = advance_snapshot(log_iter, last_snap, config)?;

    Ok((res, opening_file))
}

/// Read a `Snapshot` from disk.
/// Returns an error if the read snapshot was corrupted.
/// Returns `Ok(Some(snapshot))` if there was nothing written.
/// poc247 (PATCHED.md, item 18): with the opening file beside it, if one was made of it.
fn read_snapshot(
    config: &RunningConfig,
) -> Result<Option<(Snapshot, Option<ReadFile>)>> {
    let mut candidates = config.get_snapshot_files()?;
    if candidates.is_empty() {
        debug!("no previous snapshot found");
        return Ok(None);
    }

    candidates.sort();
    let path = candidates.pop().unwrap();

    // poc247 (PATCHED.md, item 18): where the clean close left the opening file of this
    // snapshot, the page states are read only if something needs them.
    if !config.use_compression {
        if let Some((snapshot, read)) = read_coordinates_only(config, &path) {
            return Ok(Some((snapshot, Some(read))));
        }
    }

    read_snapshot_file(&path, config.use_compression).map(|s| Some((s, None)))
}

/// poc247 (PATCHED.md, item 18): the snapshot in the file at `path`, its coordinates only
/// (its first bytes), if the opening file beside it holds and was made of this file (the
/// checksum at its end, its length): the page states are left unread (`Snapshot::unread`),
/// the opening uses the opening file instead. `None` otherwise (then the whole file is
/// read, as before).
fn read_coordinates_only(
    config: &RunningConfig,
    path: &std::path::Path,
) -> Option<(Snapshot, ReadFile)> {
    let f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    if len <= 12 {
        return None;
    }
    let mut crc = [0; 4];
    pread_exact(&f, &mut crc, len - 4).ok()?;
    let crc = arr_to_u32(&crc);
    let read = super::prepared::read_beside(config, path, crc, len)?;
    // Two numbers of at most 9 bytes each and their presence.
    let mut head = [0; 32];
    let head_len = usize::try_from((len - 12).min(head.len() as u64)).ok()?;
    pread_exact(&f, &mut head[..head_len], 0).ok()?;
    let (stable_lsn, active_segment) =
        Snapshot::decode_coordinates(&mut &head[..head_len]).ok()?;
    let snapshot = Snapshot {
        stable_lsn,
        active_segment,
        pt: vec![],
        encoded: None,
        file_digest: Some((crc, len)),
        unread: Some(path.to_path_buf()),
    };
    Some((snapshot, read))
}

/// The snapshot in the file at `path`, checked against the checksum at its end.
fn read_snapshot_file(
    path: &std::path::Path,
    compressed: bool,
) -> Result<Snapshot> {
    let mut f = std::fs::OpenOptions::new().read(true).open(path)?;
    // poc247 (PATCHED.md, item 16): the buffer sized to the file at once.
    let mut buf = Vec::with_capacity(
        f.metadata()
            .ok()
            .and_then(|m| usize::try_from(m.len()).ok())
            .unwrap_or(0),
    );
    let _read = f.read_to_end(&mut buf)?;
    let len = buf.len();
    if len <= 12 {
        warn!("empty/corrupt snapshot file found");
        return Err(Error::corruption(None));
    }

    let mut len_expected_bytes = [0; 8];
    len_expected_bytes.copy_from_slice(&buf[len - 12..len - 4]);

    let mut crc_expected_bytes = [0; 4];
    crc_expected_bytes.copy_from_slice(&buf[len - 4..]);

    let _ = buf.split_off(len - 12);
    let crc_expected: u32 = arr_to_u32(&crc_expected_bytes);

    let crc_actual = crc32(&buf);

    if crc_expected != crc_actual {
        warn!("corrupt snapshot file found, crc does not match expected");
        return Err(Error::corruption(None));
    }

    #[cfg(feature = "zstd")]
    let bytes = if compressed {
        use std::convert::TryInto;

        let len_expected: u64 =
            u64::from_le_bytes(len_expected_bytes.as_ref().try_into().unwrap());

        decompress(&*buf, usize::try_from(len_expected).unwrap()).unwrap()
    } else {
        buf
    };

    #[cfg(not(feature = "zstd"))]
    let bytes = {
        let _ = compressed;
        buf
    };

    // poc247 (PATCHED.md, item 16): the page states are decoded by the passes that read them.
    let mut snapshot = Snapshot::from_encoded(bytes)?;
    snapshot.file_digest = Some((crc_expected, len as u64));
    Ok(snapshot)
}

/// poc247 (PATCHED.md, item 18): returns the file's checksum and length.
fn write_snapshot(
    config: &RunningConfig,
    snapshot: &Snapshot,
) -> Result<(u32, u64)> {
    trace!("writing snapshot {:?}", snapshot);

    let raw_bytes = snapshot.serialize();
    let decompressed_len = raw_bytes.len();

    #[cfg(feature = "zstd")]
    let bytes = if config.use_compression {
        compress(&*raw_bytes, config.compression_factor).unwrap()
    } else {
        raw_bytes
    };

    #[cfg(not(feature = "zstd"))]
    let bytes = raw_bytes;

    let crc = crc32(&bytes);
    let file_len = bytes.len() as u64 + 12;
    let crc32: [u8; 4] = u32_to_arr(crc);
    let len_bytes: [u8; 8] = u64_to_arr(decompressed_len as u64);

    let path_1_suffix =
        format!("snap.{:016X}.generating", snapshot.stable_lsn.unwrap_or(0));

    let mut path_1 = config.get_path();
    path_1.push(path_1_suffix);

    let path_2_suffix =
        format!("snap.{:016X}", snapshot.stable_lsn.unwrap_or(0));

    let mut path_2 = config.get_path();
    path_2.push(path_2_suffix);

    let parent = path_1.parent().unwrap();
    std::fs::create_dir_all(parent)?;
    let mut f =
        std::fs::OpenOptions::new().write(true).create(true).open(&path_1)?;

    // write the snapshot bytes, followed by a crc64 checksum at the end
    io_fail!(config, "snap write");
    f.write_all(&*bytes)?;
    io_fail!(config, "snap write len");
    f.write_all(&len_bytes)?;
    io_fail!(config, "snap write crc");
    f.write_all(&crc32)?;
    io_fail!(config, "snap write post");
    f.sync_all()?;

    trace!("wrote snapshot to {}", path_1.to_string_lossy());

    io_fail!(config, "snap write mv");
    std::fs::rename(&path_1, &path_2)?;
    // poc247: the new snapshot's name must be durable before the old ones are removed.
    crate::config::sync_dir(parent)?;
    io_fail!(config, "snap write mv post");

    trace!("renamed snapshot to {}", path_2.to_string_lossy());

    // clean up any old snapshots
    let candidates = config.get_snapshot_files()?;
    for path in candidates {
        let path_str = path.file_name().unwrap().to_str().unwrap();
        if !path_2.to_string_lossy().ends_with(&*path_str) {
            debug!("removing old snapshot file {:?}", path);

            io_fail!(config, "snap write rm old");

            if let Err(e) = std::fs::remove_file(&path) {
                // TODO should this just be a try return?
                warn!(
                    "failed to remove old snapshot file, maybe snapshot race? {}",
                    e
                );
            }
        }
    }
    Ok((crc, file_len))
}
