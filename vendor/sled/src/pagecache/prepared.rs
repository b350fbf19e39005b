//! poc247 (PATCHED.md, item 18): **the opening's work on a snapshot, done at a clean close.**
//!
//! An opening makes two things of the snapshot's page states, each in a pass that decodes
//! every page: the packed locations of the pages that can wait (`Unloaded::pack_all`) and the
//! segment accountant's first view of the log's segments (each segment's sequence number,
//! live bytes and set of pages, `segment::initial_segments`). Both are pure functions of the
//! snapshot, the segment size and the number of segments in the file. A clean close writes
//! them to `opening.<stable LSN>`, beside the snapshot it has just written (or found up to
//! date), in the form the opening keeps them; the next opening reads that file instead of
//! making them again, when it finds the same snapshot, unchanged by any log replayed over it
//! (its file's checksum and length, its coordinates), the same segment size and the same
//! number of segments. Anything else (no such file, another snapshot, a log replayed after a
//! crash, a checksum that does not hold, bytes that do not parse) leaves the opening to make
//! them as before: the file is a copy of what the opening would compute, never the only
//! place anything is kept. Builds with debug assertions (the tests) make them anyway and
//! check that the file holds exactly those bytes.

use std::{
    convert::TryFrom,
    fs::File,
    io::{Read, Write},
    path::{Path, PathBuf},
};

use super::{
    pagetable::{Packed, Unloaded},
    segment::{self, Recovered},
    Lsn, RunningConfig, Snapshot,
};
use crate::*;

const MAGIC: &[u8; 16] = b"poc247 opening 1";
const PREFIX: &str = "opening.";

/// What the opening reads instead of making it.
pub(crate) struct Prepared {
    pub(crate) packed: Packed,
    pub(crate) segments: Recovered,
}

/// What the file must have been made from.
#[derive(Debug, PartialEq)]
struct Key {
    segment_size: u64,
    file_segments: u64,
    stable_lsn: Option<Lsn>,
    active_segment: Option<LogOffset>,
    crc: u32,
    len: u64,
}

impl Key {
    /// The key of `snapshot` on this file; `None` if its pages are not a file's.
    fn of(config: &RunningConfig, snapshot: &Snapshot) -> Result<Option<Key>> {
        let Some((crc, len)) = snapshot.file_digest else {
            return Ok(None);
        };
        Ok(Some(Key {
            segment_size: config.segment_size as u64,
            file_segments: segment::file_segments(config)? as u64,
            stable_lsn: snapshot.stable_lsn,
            active_segment: snapshot.active_segment,
            crc,
            len,
        }))
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(MAGIC);
        put_u64(out, self.segment_size);
        put_u64(out, self.file_segments);
        put_option(out, self.stable_lsn.map(|lsn| lsn as u64));
        put_option(out, self.active_segment);
        put_u64(out, u64::from(self.crc));
        put_u64(out, self.len);
    }

    fn read(input: &mut Input) -> Option<Key> {
        let mut magic = [0; MAGIC.len()];
        input.bytes(&mut magic)?;
        if &magic != MAGIC {
            return None;
        }
        Some(Key {
            segment_size: input.u64()?,
            file_segments: input.u64()?,
            stable_lsn: input.option()?.map(|lsn| lsn as Lsn),
            active_segment: input.option()?,
            crc: u32::try_from(input.u64()?).ok()?,
            len: input.u64()?,
        })
    }
}

fn path(config: &RunningConfig, stable_lsn: Option<Lsn>) -> PathBuf {
    config.get_path().join(format!("{}{:016X}", PREFIX, stable_lsn.unwrap_or(0)))
}

/// The file's body made from `snapshot`: the packed pages, then the segments. `None` if they
/// do not all fit the form (a page id above `u32::MAX` in a segment's set).
fn make_body(config: &RunningConfig, snapshot: &Snapshot) -> Result<Option<Vec<u8>>> {
    let packed = Unloaded::pack_all(snapshot, config.segment_size)?;
    let mut out = Vec::new();
    packed.write(&mut out);
    if !segment::write_initial_segments(config, snapshot, &mut out)? {
        return Ok(None);
    }
    Ok(Some(out))
}

/// At a clean close, after the snapshot: writes what the next opening would make of
/// `snapshot`, unless `found`, the opening file read beside the snapshot, is already of it
/// (a store opened and closed with nothing written in between). Written under a temporary
/// name, `fsync`ed and renamed, as a snapshot is; the files of other snapshots are removed.
pub(crate) fn write_at_close(
    config: &RunningConfig,
    snapshot: &Snapshot,
    found: Option<ReadFile>,
) -> Result<()> {
    let Some(key) = Key::of(config, snapshot)? else {
        return Ok(());
    };
    if found.map_or(false, |found| found.key == key) {
        return Ok(());
    }
    let path = path(config, key.stable_lsn);
    let Some(body) = make_body(config, snapshot)? else {
        debug!("no opening file: a page id does not fit");
        return Ok(());
    };
    let mut out = Vec::with_capacity(body.len() + 128);
    key.write(&mut out);
    put_u64(&mut out, body.len() as u64);
    out.extend_from_slice(&body);
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());

    let mut generating = path.clone().into_os_string();
    generating.push(".generating");
    let generating = PathBuf::from(generating);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&generating)?;
    f.write_all(&out)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&generating, &path)?;
    let dir = config.get_path();
    crate::config::sync_dir(&dir)?;

    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(PREFIX) && entry.path() != path {
            if let Err(e) = std::fs::remove_file(entry.path()) {
                warn!("failed to remove an old opening file: {}", e);
            }
        }
    }
    Ok(())
}

/// An opening file, read whole and checked, and what it says it was made of.
pub(crate) struct ReadFile {
    key: Key,
    prepared: Prepared,
}

/// The opening file beside the snapshot file `snapshot_path` (`snap.<LSN>`), if it parses
/// whole, its checksum holds, and it says it was made of a snapshot file with this checksum
/// and length, for this segment size. The opening then leaves the snapshot's page states
/// unread (`Snapshot::unread`), and [`read_at_opening`] checks the rest of what it was made
/// of once the log is replayed. It is read while the log's segment headers are.
pub(crate) fn read_beside(
    config: &RunningConfig,
    snapshot_path: &Path,
    crc: u32,
    len: u64,
) -> Option<ReadFile> {
    let lsn = snapshot_path.file_name()?.to_str()?.strip_prefix("snap.")?;
    let path = config.get_path().join(format!("{}{}", PREFIX, lsn));
    if !path.exists() {
        return None;
    }
    let Some((key, prepared)) = read_file(&path) else {
        warn!("the opening file does not hold; the opening makes it again");
        return None;
    };
    if key.crc != crc || key.len != len || key.segment_size != config.segment_size as u64 {
        debug!("the opening file is of another snapshot file: {:?}", key);
        return None;
    }
    Some(ReadFile { key, prepared })
}

/// At an opening, after the log is replayed over the snapshot: what the clean close before
/// made of this snapshot, if the opening file was read beside it ([`read_beside`]) and was
/// made of the snapshot as it stands now (nothing replayed over it, the same number of
/// segments). `None` otherwise, and the opening makes it.
pub(crate) fn read_at_opening(
    config: &RunningConfig,
    snapshot: &Snapshot,
    read: Option<ReadFile>,
) -> Option<Prepared> {
    let read = read?;
    let key = match Key::of(config, snapshot) {
        Ok(Some(key)) => key,
        _ => return None,
    };
    if read.key != key {
        debug!("the opening file is of another snapshot: {:?} against {:?}", read.key, key);
        return None;
    }
    let prepared = read.prepared;
    #[cfg(debug_assertions)]
    {
        let again = make_body(config, snapshot).expect("the snapshot decodes");
        let mut read = Vec::new();
        prepared.packed.write(&mut read);
        let _fits = prepared.segments.write(&mut read);
        assert!(
            again.as_ref() == Some(&read),
            "the opening file differs from what the opening makes of its snapshot"
        );
    }
    Some(prepared)
}

/// The key and the contents of an opening file, if it parses whole and its checksum holds.
/// Read in small pieces straight into what the opening keeps.
fn read_file(path: &Path) -> Option<(Key, Prepared)> {
    let mut input = Input::open(path)?;
    let key = Key::read(&mut input)?;
    let len = input.u64()?;
    if input.left() != len {
        return None;
    }
    let packed = Packed::read(&mut input, usize::try_from(key.segment_size).ok()?)?;
    // The tip's segment may be one past the file's end.
    let segments = Recovered::read(&mut input, key.file_segments.checked_add(1)?)?;
    if input.left() != 0 || !input.checksum_holds() {
        return None;
    }
    Some((key, Prepared { packed, segments }))
}

pub(super) fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_option(out: &mut Vec<u8>, value: Option<u64>) {
    match value {
        None => out.push(0),
        Some(value) => {
            out.push(1);
            put_u64(out, value);
        }
    }
}

/// An opening file read from its start in pieces of 64 KiB, its checksum computed on the
/// way (the last 4 bytes are the checksum of all before them, and are not part of the
/// contents).
pub(super) struct Input {
    file: File,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    /// Contents not read from the file yet.
    unread: u64,
    hasher: crc32fast::Hasher,
}

impl Input {
    fn open(path: &Path) -> Option<Input> {
        let file = File::open(path).ok()?;
        let len = file.metadata().ok()?.len();
        Some(Input {
            file,
            buf: vec![0; 64 * 1024],
            pos: 0,
            end: 0,
            unread: len.checked_sub(4)?,
            hasher: crc32fast::Hasher::new(),
        })
    }

    /// Contents not taken yet.
    fn left(&self) -> u64 {
        self.unread + (self.end - self.pos) as u64
    }

    /// The next piece into `buf`, once it is all taken; `None` at the end of the contents.
    fn refill(&mut self) -> Option<()> {
        let want = usize::try_from(self.unread.min(self.buf.len() as u64)).ok()?;
        if want == 0 {
            return None;
        }
        self.file.read_exact(&mut self.buf[..want]).ok()?;
        self.hasher.update(&self.buf[..want]);
        self.unread -= want as u64;
        self.pos = 0;
        self.end = want;
        Some(())
    }

    /// Fills `out` with the next bytes.
    pub(super) fn bytes(&mut self, out: &mut [u8]) -> Option<()> {
        let mut done = 0;
        while done < out.len() {
            if self.pos == self.end {
                self.refill()?;
            }
            let n = (out.len() - done).min(self.end - self.pos);
            out[done..done + n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            done += n;
        }
        Some(())
    }

    pub(super) fn u8(&mut self) -> Option<u8> {
        let mut b = [0; 1];
        self.bytes(&mut b)?;
        Some(b[0])
    }

    pub(super) fn u64(&mut self) -> Option<u64> {
        let mut b = [0; 8];
        self.bytes(&mut b)?;
        Some(u64::from_le_bytes(b))
    }

    fn option(&mut self) -> Option<Option<u64>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.u64()?)),
            _ => None,
        }
    }

    /// A length: `count` items of `size` bytes must still be there, so that nothing is
    /// allocated for more than the file holds.
    pub(super) fn len(&mut self, size: u64) -> Option<usize> {
        let count = self.u64()?;
        if count.checked_mul(size)? > self.left() {
            return None;
        }
        usize::try_from(count).ok()
    }

    /// The next `count` bytes, in a vector of their own.
    pub(super) fn vec(&mut self, count: usize) -> Option<Vec<u8>> {
        if count as u64 > self.left() {
            return None;
        }
        let mut out = vec![0; count];
        self.bytes(&mut out)?;
        Some(out)
    }

    /// `count` little-endian numbers of `N` bytes, converted by `f`.
    pub(super) fn array<const N: usize, T>(
        &mut self,
        count: usize,
        f: impl Fn([u8; N]) -> T,
    ) -> Option<Vec<T>> {
        if (count as u64).checked_mul(N as u64)? > self.left() {
            return None;
        }
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            if self.pos == self.end {
                self.refill()?;
            }
            let whole = ((self.end - self.pos) / N).min(count - out.len());
            if whole == 0 {
                // A number across two pieces.
                let mut array = [0; N];
                self.bytes(&mut array)?;
                out.push(f(array));
                continue;
            }
            let bytes = &self.buf[self.pos..self.pos + whole * N];
            out.extend(bytes.chunks_exact(N).map(|chunk| {
                let mut array = [0; N];
                array.copy_from_slice(chunk);
                f(array)
            }));
            self.pos += whole * N;
        }
        Some(out)
    }

    /// Whether the last 4 bytes of the file are the checksum of the contents, once all
    /// are taken.
    fn checksum_holds(mut self) -> bool {
        let mut crc = [0; 4];
        if self.left() != 0 || self.file.read_exact(&mut crc).is_err() {
            return false;
        }
        self.hasher.finalize().to_le_bytes() == crc
    }
}
