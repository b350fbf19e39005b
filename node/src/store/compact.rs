//! Offline compaction of a store (`poc247 compact`). sled never gives file space back while it
//! runs: a segment of its log is freed only once its live data fell to half or less (the rest
//! rewritten elsewhere), freed segments are taken again for later writes before the file
//! grows, and the file is shortened only when the freed segments are at its end. A purge
//! spread over the store frees few segments, and the file keeps its length. Compaction copies every tree of a stopped node's store into a fresh
//! sled database beside it, checks the copy against the original entry by entry, and swaps it
//! in by renames.
//!
//! The folders, all in the node's `data_dir`: `sled` is the store, the only one a node opens;
//! `sled.compact` the copy being written; `sled.new` the copy once complete, durable and
//! checked; `sled.old` the former store while the copy takes its place. The steps:
//! 1. `sled.compact` written, flushed, every file and the folder `fsync`ed, opened again and
//!    compared with `sled`;
//! 2. renamed `sled.new` (the folder synced): from here the copy is whole;
//! 3. `sled` renamed `sled.old`;
//! 4. `sled.new` renamed `sled`;
//! 5. `sled.old` removed.
//!
//! A SIGKILL or a power cut at any point leaves `sled` whole (before 3 and after 4) or, between
//! 3 and 4, no `sled` and a whole `sled.new`: [`restore`], which [`crate::store::Store::open`]
//! runs before it opens `sled`, then renames `sled.new` to `sled`; it removes what is left of
//! the others once it holds `sled` open ([`clear`]). No node ever opens `sled.compact` or `sled.new` as they are
//! being written.

use super::durable::sync_dir;
use crate::error::NodeError;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The store's folder in the data directory.
pub const STORE: &str = "sled";
/// The copy being written.
pub const COPYING: &str = "sled.compact";
/// The copy, whole and checked, before it takes the store's place.
pub const COPIED: &str = "sled.new";
/// The former store while the copy takes its place.
pub const FORMER: &str = "sled.old";

/// Environment variable for tests of a crash during compaction: the name of a step
/// (`copying`, `copied`, `checked`, `whole`, `moved`, `swapped`); the compaction stops there for good,
/// after saying so on stderr (`compact: paused at <step>`), for the test to kill it.
pub const PAUSE_ENV: &str = "POC247_COMPACT_PAUSE";

/// Entries per batch written into the copy.
const BATCH: usize = 1_000;
/// Entries between flushes of the copy.
const FLUSH_EVERY: u64 = 50_000;
/// sled's cache for each of the two databases, bytes.
const CACHE: u64 = 64 << 20;

/// Why a compaction did not happen. Nothing stored was changed by any of them.
#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    /// The folder given does not exist.
    #[error("{0}: no such folder (the node's data_dir, which holds its store sled/)")]
    Missing(PathBuf),
    /// It is a file.
    #[error("{0}: is a file, not a folder (the node's data_dir, which holds its store sled/)")]
    NotAFolder(PathBuf),
    /// It holds no store.
    #[error("{0}: not a node's data folder: it holds no store (sled/ with its conf and db){1}")]
    NotAStore(PathBuf, String),
    /// A node (or another command) has the store open.
    #[error("{0}: the store is in use (sled's lock is held): stop the node that runs on it first")]
    InUse(PathBuf),
    /// The copy differs from the store (then it is removed and the store left as it was).
    #[error("{0}: the copy does not match the store ({1}); the store is unchanged")]
    CopyDiffers(PathBuf, String),
    /// Reading, writing or renaming failed.
    #[error(transparent)]
    Failed(#[from] NodeError),
}

impl From<sled::Error> for CompactError {
    fn from(e: sled::Error) -> Self {
        CompactError::Failed(e.into())
    }
}

/// What a compaction did.
#[derive(Debug, Clone, Serialize)]
pub struct Compaction {
    /// The data directory.
    pub data_dir: PathBuf,
    /// sled's `size_on_disk` of the store before, bytes.
    pub bytes_before: u64,
    /// sled's `size_on_disk` of the compacted store, bytes.
    pub bytes_after: u64,
    /// Trees copied.
    pub trees: usize,
    /// Entries copied (and compared).
    pub entries: u64,
    /// Their keys' and values' bytes: the live data, without sled's own structure.
    pub live_bytes: u64,
    /// Seconds the whole compaction took.
    pub secs: f64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> NodeError + '_ {
    move |e| NodeError::io(path, e)
}

/// Finishes what a compaction killed between its renames left in `data_dir`: with no `sled`,
/// the whole copy (`sled.new`) takes its place, or else the former store (`sled.old`) goes
/// back. Does nothing when `sled` is there. Run before the store is opened.
pub fn restore(data_dir: &Path) -> Result<(), NodeError> {
    let store = data_dir.join(STORE);
    if store.exists() {
        return Ok(());
    }
    let (copied, former) = (data_dir.join(COPIED), data_dir.join(FORMER));
    // The copy was whole and checked before the store was moved away.
    let back = if copied.is_dir() {
        copied
    } else if former.is_dir() {
        former
    } else {
        return Ok(());
    };
    std::fs::rename(&back, &store).map_err(io(&back))?;
    sync_dir(data_dir).map_err(io(data_dir))
}

/// Removes what an interrupted compaction left beside the store (`sled.compact`, `sled.new`,
/// `sled.old`). Only while the store is open here: its lock held, no compaction is running.
pub fn clear(data_dir: &Path) -> Result<(), NodeError> {
    let mut removed = false;
    for name in [COPYING, COPIED, FORMER] {
        let leftover = data_dir.join(name);
        if leftover.exists() {
            std::fs::remove_dir_all(&leftover).map_err(io(&leftover))?;
            removed = true;
        }
    }
    if removed {
        sync_dir(data_dir).map_err(io(data_dir))?;
    }
    Ok(())
}

/// Stops here for good if the tests asked for it ([`PAUSE_ENV`]).
fn pause(step: &str) {
    if std::env::var(PAUSE_ENV).is_ok_and(|s| s == step) {
        eprintln!("compact: paused at {step}");
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}

fn config(path: &Path) -> sled::Config {
    sled::Config::new()
        .path(path)
        .cache_capacity(CACHE)
        .flush_every_ms(None)
}

/// Opens a database this process has just closed (its lock may be released a moment later).
fn reopen(path: &Path) -> Result<sled::Db, CompactError> {
    Ok(super::open_when_released(&config(path), 100)?)
}

/// Closes a database: flushed, and its lock released once every handle is gone.
fn close(db: sled::Db) -> Result<(), CompactError> {
    db.flush()?;
    drop(db);
    Ok(())
}

/// `fsync` of every file in `dir` (and below), then of the folder.
fn sync_all(dir: &Path) -> Result<(), NodeError> {
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        if path.is_dir() {
            sync_all(&path)?;
        } else {
            std::fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(io(&path))?;
        }
    }
    sync_dir(dir).map_err(io(dir))
}

/// Checks that `data_dir` is a node's data folder holding a store; names what is wrong.
fn check_input(data_dir: &Path) -> Result<(), CompactError> {
    match std::fs::metadata(data_dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CompactError::Missing(data_dir.to_owned()))
        }
        Err(e) => return Err(NodeError::io(data_dir, e).into()),
        Ok(m) if !m.is_dir() => return Err(CompactError::NotAFolder(data_dir.to_owned())),
        Ok(_) => {}
    }
    let store = data_dir.join(STORE);
    let whole = |d: &Path| d.join("conf").is_file() && d.join("db").is_file();
    // A store whose compaction was interrupted between its renames is one too.
    if !whole(&store) && !whole(&data_dir.join(COPIED)) && !whole(&data_dir.join(FORMER)) {
        let hint = if whole(&data_dir.join("data").join(STORE)) {
            format!(
                " (its data/ folder, {}, holds one)",
                data_dir.join("data").display()
            )
        } else {
            String::new()
        };
        return Err(CompactError::NotAStore(data_dir.to_owned(), hint));
    }
    Ok(())
}

/// Compacts the store in `data_dir` (a node's `data_dir`; its node stopped): see the module.
pub fn compact(data_dir: &Path) -> Result<Compaction, CompactError> {
    let t0 = Instant::now();
    check_input(data_dir)?;
    restore(data_dir)?;
    let store = data_dir.join(STORE);
    let copying = data_dir.join(COPYING);
    let src = match config(&store).open() {
        Ok(db) => db,
        Err(e) if super::is_lock_held(&e) => return Err(CompactError::InUse(data_dir.to_owned())),
        Err(e) => return Err(e.into()),
    };
    clear(data_dir)?;
    let bytes_before = src.size_on_disk()?;
    let names = src.tree_names();

    // 1. The copy, tree by tree, flushed as it goes.
    let dst = config(&copying).open()?;
    let mut entries = 0u64;
    let mut live_bytes = 0u64;
    let mut unflushed = 0u64;
    for name in &names {
        let (from, to) = (src.open_tree(name)?, dst.open_tree(name)?);
        let mut batch = sled::Batch::default();
        let mut in_batch = 0;
        for kv in from.iter() {
            let (k, v) = kv?;
            live_bytes += (k.len() + v.len()) as u64;
            batch.insert(k, v);
            in_batch += 1;
            if in_batch == BATCH {
                to.apply_batch(std::mem::take(&mut batch))?;
                unflushed += in_batch as u64;
                in_batch = 0;
                if unflushed >= FLUSH_EVERY {
                    dst.flush()?;
                    unflushed = 0;
                }
            }
        }
        to.apply_batch(batch)?;
        entries += from.len() as u64;
        pause("copying");
    }
    close(dst)?;
    sync_all(&copying)?;
    pause("copied");

    // The copy as a node would open it, compared with the store entry by entry.
    let dst = reopen(&copying)?;
    let differs = |why: String| CompactError::CopyDiffers(data_dir.to_owned(), why);
    let check = (|| {
        let mut copied_names = dst.tree_names();
        let mut names_sorted = names.clone();
        copied_names.sort();
        names_sorted.sort();
        if copied_names != names_sorted {
            return Err(differs("its trees are not the store's".into()));
        }
        let mut compared = 0u64;
        for name in &names {
            let (a, b) = (src.open_tree(name)?, dst.open_tree(name)?);
            let (mut ia, mut ib) = (a.iter(), b.iter());
            loop {
                match (ia.next().transpose()?, ib.next().transpose()?) {
                    (None, None) => break,
                    (Some(x), Some(y)) if x == y => compared += 1,
                    _ => {
                        let tree = String::from_utf8_lossy(name).into_owned();
                        return Err(differs(format!("tree {tree} differs")));
                    }
                }
            }
        }
        if compared != entries {
            return Err(differs(format!("{compared} entries, {entries} copied")));
        }
        Ok(dst.size_on_disk()?)
    })();
    close(dst)?;
    let bytes_after = match check {
        Ok(b) => b,
        Err(e) => {
            drop(src);
            let _ = std::fs::remove_dir_all(&copying);
            return Err(e);
        }
    };
    pause("checked");

    // 2. The copy is whole. The store is closed only now, so that no node wrote to it since
    //    it was copied; one started from here on opens the copy.
    let copied = data_dir.join(COPIED);
    std::fs::rename(&copying, &copied).map_err(io(&copying))?;
    sync_dir(data_dir).map_err(io(data_dir))?;
    pause("whole");
    close(src)?;
    let former = data_dir.join(FORMER);
    // 3. and 4.: the swap.
    rename_closed(&store, &former)?;
    sync_dir(data_dir).map_err(io(data_dir))?;
    pause("moved");
    std::fs::rename(&copied, &store).map_err(io(&copied))?;
    sync_dir(data_dir).map_err(io(data_dir))?;
    pause("swapped");
    // 5.
    std::fs::remove_dir_all(&former).map_err(io(&former))?;
    sync_dir(data_dir).map_err(io(data_dir))?;
    Ok(Compaction {
        data_dir: data_dir.to_owned(),
        bytes_before,
        bytes_after,
        trees: names.len(),
        entries,
        live_bytes,
        secs: t0.elapsed().as_secs_f64(),
    })
}

/// Renames the store once sled has let go of it: its lock is taken here first (sled's own
/// threads may hold it a moment after the last handle went), so that no node opened it since.
fn rename_closed(store: &Path, to: &Path) -> Result<(), CompactError> {
    let db_file = store.join("db");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&db_file)
        .map_err(io(&db_file))?;
    let mut tries = 0;
    loop {
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => break,
            Err(_) if tries < 100 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(_) => {
                return Err(CompactError::InUse(
                    store.parent().unwrap_or(store).to_owned(),
                ))
            }
        }
    }
    std::fs::rename(store, to).map_err(io(store))?;
    drop(file);
    Ok(())
}
