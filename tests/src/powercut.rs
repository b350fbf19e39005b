//! A disk that loses power: a FUSE file system, kept in this process's memory, that holds two
//! states of every file and folder, what was written and what was made durable, and throws the
//! first away on command. In the manner of Jepsen's LazyFS, with POSIX's strictest reading:
//!
//! - a file's bytes and length become durable at an `fsync`/`fdatasync` of that file (a
//!   `sync_file_range` reaches no file system: it never gets here, as on a real disk it never
//!   reaches the drive's cache);
//! - a name (created, renamed, removed) becomes durable at an `fsync` of its folder; a new
//!   folder's own names need its own `fsync`, and it exists after a cut only if its parent's
//!   name for it was synced.
//!
//! [`Disk::power_cut`] is the cut: from that moment every operation fails with `EIO` (nothing
//! more reaches the disk), the test kills the processes using it, and [`Disk::power_on`]
//! brings back what was durable at the cut, as a machine's next boot finds it. Files are served
//! with direct I/O and no attribute caching, so the kernel keeps no copy of its own that could
//! outlive a cut.

use fuser::{
    Config, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    KernelConfig, LockOwner, MountOption, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request,
    TimeOrNow, WriteFlags,
};
use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

/// No caching by the kernel: every lookup and attribute comes from here.
const TTL: Duration = Duration::ZERO;
/// Most dirty ranges a file keeps apart before they are merged into one (copying more than was
/// written is still exact: a byte not written since the last sync is the same in both states).
const MAX_RANGES: usize = 64;

/// What one file or folder holds, in both states.
enum Content {
    File {
        live: Vec<u8>,
        durable: Vec<u8>,
        /// Byte ranges written (or cut or grown) since the last sync.
        dirty: Vec<(u64, u64)>,
    },
    Dir {
        live: BTreeMap<OsString, u64>,
        durable: BTreeMap<OsString, u64>,
    },
}

struct Node {
    perm: u16,
    mtime: SystemTime,
    content: Content,
    /// Names for it in folders as they are now, and as they are durable.
    live_links: u32,
    durable_links: u32,
    /// Open handles.
    open: u32,
}

impl Node {
    fn kind(&self) -> FileType {
        match self.content {
            Content::File { .. } => FileType::RegularFile,
            Content::Dir { .. } => FileType::Directory,
        }
    }
}

/// What the disk counts, for a test's report.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DiskStats {
    /// `fsync`/`fdatasync` calls on files.
    pub file_syncs: u64,
    /// `fsync` calls on folders.
    pub dir_syncs: u64,
    /// Power cuts.
    pub cuts: u64,
    /// Bytes of file content that the cuts threw away, all cuts together (written and never
    /// synced, or a file's whole content where its name was never synced).
    pub lost_bytes: u64,
}

struct State {
    nodes: HashMap<u64, Node>,
    /// Never reused, so that the kernel never meets a number it knew as another file.
    next_ino: u64,
    powered: bool,
    /// Bytes the files may hold together, if limited: a write past it fails with `ENOSPC`,
    /// as on a full disk.
    capacity: Option<u64>,
    uid: u32,
    gid: u32,
    stats: DiskStats,
}

impl State {
    /// Whether files may grow by `more` bytes.
    fn room_for(&self, more: u64) -> Result<(), Errno> {
        let Some(cap) = self.capacity else {
            return Ok(());
        };
        let used: u64 = self
            .nodes
            .values()
            .map(|n| match &n.content {
                Content::File { live, .. } => live.len() as u64,
                Content::Dir { .. } => 0,
            })
            .sum();
        if used.saturating_add(more) > cap {
            Err(Errno::ENOSPC)
        } else {
            Ok(())
        }
    }

    fn attr(&self, ino: u64) -> Option<FileAttr> {
        let n = self.nodes.get(&ino)?;
        let (size, nlink) = match &n.content {
            Content::File { live, .. } => (live.len() as u64, n.live_links.max(1)),
            Content::Dir { .. } => (0, 2),
        };
        Some(FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: n.mtime,
            mtime: n.mtime,
            ctime: n.mtime,
            crtime: n.mtime,
            kind: n.kind(),
            perm: n.perm,
            nlink,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        })
    }

    fn dir(&self, ino: u64) -> Result<&BTreeMap<OsString, u64>, Errno> {
        match self.nodes.get(&ino).map(|n| &n.content) {
            Some(Content::Dir { live, .. }) => Ok(live),
            Some(_) => Err(Errno::ENOTDIR),
            None => Err(Errno::ENOENT),
        }
    }

    fn dir_mut(&mut self, ino: u64) -> Result<&mut BTreeMap<OsString, u64>, Errno> {
        match self.nodes.get_mut(&ino).map(|n| &mut n.content) {
            Some(Content::Dir { live, .. }) => Ok(live),
            Some(_) => Err(Errno::ENOTDIR),
            None => Err(Errno::ENOENT),
        }
    }

    /// Adds a new node named `name` in `parent`.
    fn add(
        &mut self,
        parent: u64,
        name: &OsStr,
        perm: u16,
        content: Content,
    ) -> Result<u64, Errno> {
        if self.dir(parent)?.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        self.nodes.insert(
            ino,
            Node {
                perm,
                mtime: SystemTime::now(),
                content,
                live_links: 1,
                durable_links: 0,
                open: 0,
            },
        );
        self.dir_mut(parent)?.insert(name.to_owned(), ino);
        Ok(ino)
    }

    /// Forgets a node that no name, durable or not, and no handle reaches any more.
    fn collect(&mut self, ino: u64) {
        if let Some(n) = self.nodes.get(&ino) {
            if n.live_links == 0 && n.durable_links == 0 && n.open == 0 && ino != 1 {
                self.nodes.remove(&ino);
            }
        }
    }

    fn unlink_live(&mut self, parent: u64, name: &OsStr, want_dir: bool) -> Result<(), Errno> {
        let ino = *self.dir(parent)?.get(name).ok_or(Errno::ENOENT)?;
        let node = self.nodes.get(&ino).ok_or(Errno::ENOENT)?;
        match (&node.content, want_dir) {
            (Content::Dir { live, .. }, true) if !live.is_empty() => return Err(Errno::ENOTEMPTY),
            (Content::Dir { .. }, false) => return Err(Errno::EISDIR),
            (Content::File { .. }, true) => return Err(Errno::ENOTDIR),
            _ => {}
        }
        self.dir_mut(parent)?.remove(name);
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.live_links = n.live_links.saturating_sub(1);
        }
        self.collect(ino);
        Ok(())
    }

    /// `fsync` of a file or a folder.
    fn sync(&mut self, ino: u64) -> Result<(), Errno> {
        let node = self.nodes.get_mut(&ino).ok_or(Errno::ENOENT)?;
        let (came, gone) = match &mut node.content {
            Content::File {
                live,
                durable,
                dirty,
            } => {
                self.stats.file_syncs += 1;
                durable.resize(live.len(), 0);
                for (lo, hi) in dirty.drain(..) {
                    let (lo, hi) = (lo as usize, (hi as usize).min(live.len()));
                    if lo < hi {
                        durable[lo..hi].copy_from_slice(&live[lo..hi]);
                    }
                }
                return Ok(());
            }
            Content::Dir { live, durable } => {
                self.stats.dir_syncs += 1;
                let gone: Vec<u64> = durable.values().copied().collect();
                let came: Vec<u64> = live.values().copied().collect();
                durable.clone_from(live);
                (came, gone)
            }
        };
        for ino in came {
            if let Some(n) = self.nodes.get_mut(&ino) {
                n.durable_links += 1;
            }
        }
        for ino in gone {
            if let Some(n) = self.nodes.get_mut(&ino) {
                n.durable_links = n.durable_links.saturating_sub(1);
            }
            self.collect(ino);
        }
        Ok(())
    }

    /// The boot after a cut: every node's durable state becomes its state, and what no durable
    /// name reaches from the root is gone.
    fn restore(&mut self) {
        let mut reachable = std::collections::HashSet::new();
        let mut stack = vec![1u64];
        while let Some(ino) = stack.pop() {
            if !reachable.insert(ino) {
                continue;
            }
            if let Some(Node {
                content: Content::Dir { durable, .. },
                ..
            }) = self.nodes.get(&ino)
            {
                stack.extend(durable.values().copied());
            }
        }
        let mut lost = 0u64;
        self.nodes.retain(|ino, n| {
            if !reachable.contains(ino) {
                if let Content::File { live, .. } = &n.content {
                    lost += live.len() as u64;
                }
            }
            reachable.contains(ino)
        });
        let mut links: HashMap<u64, u32> = HashMap::new();
        for n in self.nodes.values_mut() {
            n.open = 0;
            match &mut n.content {
                Content::File {
                    live,
                    durable,
                    dirty,
                } => {
                    lost += dirty
                        .iter()
                        .map(|(lo, hi)| hi.min(&(live.len() as u64)).saturating_sub(*lo))
                        .sum::<u64>();
                    live.clone_from(durable);
                    dirty.clear();
                }
                Content::Dir { live, durable } => {
                    live.clone_from(durable);
                    for ino in durable.values() {
                        *links.entry(*ino).or_insert(0) += 1;
                    }
                }
            }
        }
        for (ino, n) in self.nodes.iter_mut() {
            let l = links.get(ino).copied().unwrap_or(0);
            (n.live_links, n.durable_links) = (l, l);
        }
        self.stats.lost_bytes += lost;
    }
}

fn mark(dirty: &mut Vec<(u64, u64)>, lo: u64, hi: u64) {
    if lo >= hi {
        return;
    }
    if let Some(last) = dirty.last_mut() {
        if lo <= last.1 && hi >= last.0 {
            *last = (last.0.min(lo), last.1.max(hi));
            return;
        }
    }
    dirty.push((lo, hi));
    if dirty.len() > MAX_RANGES {
        let lo = dirty.iter().map(|r| r.0).min().unwrap_or(0);
        let hi = dirty.iter().map(|r| r.1).max().unwrap_or(0);
        dirty.clear();
        dirty.push((lo, hi));
    }
}

/// The FUSE side of a [`Disk`].
struct PowerCutFs {
    state: Arc<Mutex<State>>,
}

impl PowerCutFs {
    /// The state, if the power is on.
    fn on(&self) -> Result<MutexGuard<'_, State>, Errno> {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.powered {
            Ok(s)
        } else {
            Err(Errno::EIO)
        }
    }

    fn entry(&self, reply: ReplyEntry, r: Result<FileAttr, Errno>) {
        match r {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn empty(reply: ReplyEmpty, r: Result<(), Errno>) {
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}

fn perm(mode: u32) -> u16 {
    (mode & 0o7777) as u16
}

impl Filesystem for PowerCutFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        let _ = config.set_max_write(1 << 20);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let r = self.on().and_then(|s| {
            let ino = *s.dir(parent.0)?.get(name).ok_or(Errno::ENOENT)?;
            s.attr(ino).ok_or(Errno::ENOENT)
        });
        self.entry(reply, r)
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.on().and_then(|s| s.attr(ino.0).ok_or(Errno::ENOENT)) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let r = self.on().and_then(|mut s| {
            let n = s.nodes.get_mut(&ino.0).ok_or(Errno::ENOENT)?;
            if let Some(mode) = mode {
                n.perm = perm(mode);
            }
            if let Some(size) = size {
                let grows = match &n.content {
                    Content::File { live, .. } => size.saturating_sub(live.len() as u64),
                    Content::Dir { .. } => 0,
                };
                s.room_for(grows)?;
                let n = s.nodes.get_mut(&ino.0).ok_or(Errno::ENOENT)?;
                let Content::File { live, dirty, .. } = &mut n.content else {
                    return Err(Errno::EISDIR);
                };
                let size = usize::try_from(size).map_err(|_| Errno::EFBIG)?;
                let old = live.len();
                live.resize(size, 0);
                mark(dirty, old.min(size) as u64, old.max(size) as u64);
                n.mtime = SystemTime::now();
            }
            s.attr(ino.0).ok_or(Errno::ENOENT)
        });
        match r {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let r = self.on().and_then(|mut s| {
            let content = Content::Dir {
                live: BTreeMap::new(),
                durable: BTreeMap::new(),
            };
            let ino = s.add(parent.0, name, perm(mode), content)?;
            s.attr(ino).ok_or(Errno::EIO)
        });
        self.entry(reply, r)
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        Self::empty(
            reply,
            self.on()
                .and_then(|mut s| s.unlink_live(parent.0, name, false)),
        )
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        Self::empty(
            reply,
            self.on()
                .and_then(|mut s| s.unlink_live(parent.0, name, true)),
        )
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let r = self.on().and_then(|mut s| {
            if flags.contains(RenameFlags::RENAME_EXCHANGE) {
                return Err(Errno::EINVAL);
            }
            let ino = *s.dir(parent.0)?.get(name).ok_or(Errno::ENOENT)?;
            if let Some(&target) = s.dir(newparent.0)?.get(newname) {
                if target == ino {
                    return Ok(());
                }
                if flags.contains(RenameFlags::RENAME_NOREPLACE) {
                    return Err(Errno::EEXIST);
                }
                let is_dir = matches!(
                    s.nodes.get(&target).map(|n| &n.content),
                    Some(Content::Dir { .. })
                );
                s.unlink_live(newparent.0, newname, is_dir)?;
            }
            s.dir_mut(parent.0)?.remove(name);
            s.dir_mut(newparent.0)?.insert(newname.to_owned(), ino);
            Ok(())
        });
        Self::empty(reply, r)
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let r = self.on().and_then(|mut s| {
            let n = s.nodes.get_mut(&ino.0).ok_or(Errno::ENOENT)?;
            n.open += 1;
            Ok(())
        });
        match r {
            Ok(()) => reply.opened(FileHandle(0), FopenFlags::FOPEN_DIRECT_IO),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let r = self.on().and_then(|mut s| {
            let content = Content::File {
                live: Vec::new(),
                durable: Vec::new(),
                dirty: Vec::new(),
            };
            let ino = s.add(parent.0, name, perm(mode), content)?;
            if let Some(n) = s.nodes.get_mut(&ino) {
                n.open += 1;
            }
            s.attr(ino).ok_or(Errno::EIO)
        });
        match r {
            Ok(attr) => reply.created(
                &TTL,
                &attr,
                Generation(0),
                FileHandle(0),
                FopenFlags::FOPEN_DIRECT_IO,
            ),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let s = match self.on() {
            Ok(s) => s,
            Err(e) => return reply.error(e),
        };
        match s.nodes.get(&ino.0).map(|n| &n.content) {
            Some(Content::File { live, .. }) => {
                let from = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(live.len());
                let to = from.saturating_add(size as usize).min(live.len());
                reply.data(&live[from..to]);
            }
            Some(Content::Dir { .. }) => reply.error(Errno::EISDIR),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let r = self.on().and_then(|mut s| {
            let grows = match s.nodes.get(&ino.0).map(|n| &n.content) {
                Some(Content::File { live, .. }) => {
                    (offset.saturating_add(data.len() as u64)).saturating_sub(live.len() as u64)
                }
                _ => 0,
            };
            s.room_for(grows)?;
            let n = s.nodes.get_mut(&ino.0).ok_or(Errno::ENOENT)?;
            let Content::File { live, dirty, .. } = &mut n.content else {
                return Err(Errno::EISDIR);
            };
            let from = usize::try_from(offset).map_err(|_| Errno::EFBIG)?;
            let to = from.checked_add(data.len()).ok_or(Errno::EFBIG)?;
            let old = live.len();
            if to > old {
                live.resize(to, 0);
            }
            live[from..to].copy_from_slice(data);
            mark(dirty, (from.min(old)) as u64, to as u64);
            n.mtime = SystemTime::now();
            Ok(data.len() as u32)
        });
        match r {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok()
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        // After a cut the handles of the killed processes are released with the power off:
        // they close without touching anything.
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.powered {
            if let Some(n) = s.nodes.get_mut(&ino.0) {
                n.open = n.open.saturating_sub(1);
            }
            s.collect(ino.0);
        }
        reply.ok()
    }

    fn fsync(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, _d: bool, reply: ReplyEmpty) {
        Self::empty(reply, self.on().and_then(|mut s| s.sync(ino.0)))
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.on().and_then(|s| s.dir(ino.0).map(|_| ())) {
            Ok(()) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let s = match self.on() {
            Ok(s) => s,
            Err(e) => return reply.error(e),
        };
        let entries = match s.dir(ino.0) {
            Ok(d) => d,
            Err(e) => return reply.error(e),
        };
        let dots = [
            (ino.0, FileType::Directory, OsString::from(".")),
            (ino.0, FileType::Directory, OsString::from("..")),
        ];
        let all = dots
            .into_iter()
            .chain(entries.iter().filter_map(|(name, i)| {
                let kind = s.nodes.get(i)?.kind();
                Some((*i, kind, name.clone()))
            }));
        for (i, (child, kind, name)) in all.enumerate().skip(offset as usize) {
            if reply.add(INodeNo(child), i as u64 + 1, kind, &name) {
                break;
            }
        }
        reply.ok()
    }

    fn fsyncdir(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, _d: bool, reply: ReplyEmpty) {
        Self::empty(reply, self.on().and_then(|mut s| s.sync(ino.0)))
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        // A large disk: 64 GiB in 4 KiB blocks, all free.
        let blocks = 16 << 20;
        reply.statfs(blocks, blocks, blocks, 1 << 20, 1 << 20, 4096, 255, 4096)
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        reply.ok()
    }
}

/// A mounted [`PowerCutFs`]: a folder whose files lose what was not synced at a power cut.
/// Unmounted when dropped.
pub struct Disk {
    state: Arc<Mutex<State>>,
    session: Option<fuser::BackgroundSession>,
    mountpoint: PathBuf,
}

impl Disk {
    /// Mounts an empty disk on `mountpoint` (an existing empty folder). Needs FUSE: root, or
    /// `fusermount3` for another user.
    pub fn mount(mountpoint: &Path) -> std::io::Result<Disk> {
        let meta = std::fs::metadata(mountpoint)?;
        let mut nodes = HashMap::new();
        nodes.insert(
            1,
            Node {
                perm: 0o755,
                mtime: SystemTime::now(),
                content: Content::Dir {
                    live: BTreeMap::new(),
                    durable: BTreeMap::new(),
                },
                live_links: 1,
                durable_links: 1,
                open: 0,
            },
        );
        let state = Arc::new(Mutex::new(State {
            nodes,
            next_ino: 2,
            powered: true,
            capacity: None,
            uid: meta.uid(),
            gid: meta.gid(),
            stats: DiskStats::default(),
        }));
        let fs = PowerCutFs {
            state: state.clone(),
        };
        let mut config = Config::default();
        config.mount_options = vec![
            MountOption::FSName("poc247-powercut".into()),
            MountOption::DefaultPermissions,
        ];
        let session = fuser::spawn_mount(fs, mountpoint, &config)?;
        Ok(Disk {
            state,
            session: Some(session),
            mountpoint: mountpoint.to_path_buf(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        &self.mountpoint
    }

    /// Makes everything written so far durable, as a disk prepared before a run would be.
    pub fn sync_everything(&self) {
        let mut s = self.lock();
        let inos: Vec<u64> = s.nodes.keys().copied().collect();
        for ino in inos {
            let _ = s.sync(ino);
        }
    }

    /// The power goes: from now on every operation fails with `EIO`. Kill the processes that
    /// use the disk, then [`Disk::power_on`].
    pub fn power_cut(&self) {
        let mut s = self.lock();
        s.powered = false;
        s.stats.cuts += 1;
    }

    /// The power comes back: every file and folder is as it was at its last sync, and what
    /// was never synced is gone.
    pub fn power_on(&self) -> DiskStats {
        let mut s = self.lock();
        s.restore();
        s.powered = true;
        s.stats
    }

    /// Fills the disk: from now on its files may hold `bytes` together at most (`None`: no
    /// limit), and a write past that fails with `ENOSPC`. Returns the bytes they hold now.
    pub fn set_capacity(&self, bytes: Option<u64>) -> u64 {
        let mut s = self.lock();
        s.capacity = bytes;
        s.nodes
            .values()
            .map(|n| match &n.content {
                Content::File { live, .. } => live.len() as u64,
                Content::Dir { .. } => 0,
            })
            .sum()
    }

    /// What the disk counted so far.
    pub fn stats(&self) -> DiskStats {
        self.lock().stats
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        self.lock().powered = true;
        if let Some(session) = self.session.take() {
            let _ = session.umount_and_join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn mounted() -> Option<(tempfile::TempDir, Disk)> {
        let tmp = tempfile::tempdir().ok()?;
        let mnt = tmp.path().join("disk");
        std::fs::create_dir(&mnt).ok()?;
        match Disk::mount(&mnt) {
            Ok(d) => Some((tmp, d)),
            Err(e) => panic!("cannot mount the power-cut disk (FUSE needed): {e}"),
        }
    }

    fn sync_dir(p: &Path) {
        std::fs::File::open(p).unwrap().sync_all().unwrap();
    }

    #[test]
    fn a_cut_keeps_exactly_what_was_synced() {
        let Some((_tmp, disk)) = mounted() else {
            return;
        };
        let root = disk.path().to_path_buf();
        // Synced file, synced name: kept, up to its last sync.
        let kept = root.join("kept");
        let mut f = std::fs::File::create(&kept).unwrap();
        f.write_all(b"durable").unwrap();
        f.sync_data().unwrap();
        sync_dir(&root);
        f.write_all(b" and lost").unwrap();
        // A rename not followed by the folder's sync: the old name comes back.
        // A folder whose parent was synced, holding a file whose name was not.
        std::fs::create_dir(root.join("sub")).unwrap();
        sync_dir(&root);
        let part = root.join("sub/a.part");
        std::fs::write(&part, b"whole").unwrap();
        std::fs::File::open(&part).unwrap().sync_all().unwrap();
        sync_dir(&root.join("sub"));
        std::fs::rename(&part, root.join("sub/a")).unwrap();
        std::fs::write(root.join("sub/x"), b"x").unwrap();
        // Synced bytes, name never synced: gone.
        let orphan = root.join("orphan");
        let mut g = std::fs::File::create(&orphan).unwrap();
        g.write_all(b"bytes").unwrap();
        g.sync_all().unwrap();
        drop((f, g));

        disk.power_cut();
        assert!(std::fs::read(&kept).is_err(), "the disk answers while cut");
        let stats = disk.power_on();
        assert_eq!(std::fs::read(&kept).unwrap(), b"durable");
        assert!(!orphan.exists());
        assert_eq!(std::fs::read(&part).unwrap(), b"whole");
        assert!(!root.join("sub/a").exists());
        assert!(root.join("sub").is_dir());
        assert!(!root.join("sub/x").exists());
        assert_eq!(stats.cuts, 1);
        assert!(stats.lost_bytes >= (b" and lost".len() + b"bytes".len()) as u64);
    }

    #[test]
    fn a_synced_rename_and_truncation_survive() {
        let Some((_tmp, disk)) = mounted() else {
            return;
        };
        let root = disk.path().to_path_buf();
        let p = root.join("f");
        std::fs::write(&p, vec![7u8; 100_000]).unwrap();
        let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        f.set_len(10).unwrap();
        f.sync_all().unwrap();
        std::fs::rename(&p, root.join("g")).unwrap();
        sync_dir(&root);
        disk.power_cut();
        disk.power_on();
        assert_eq!(std::fs::read(root.join("g")).unwrap(), vec![7u8; 10]);
        assert!(!p.exists());
    }
}
