//! Browsing versions as a read-only file system: what `infini mount` serves, independent of FUSE.
//!
//! A [`Browser`] presents a repository as a tree of numbered nodes (inodes), the shape a FUSE driver needs:
//!
//! ```text
//! /                       Layout::All
//! ├── branches/NAME/…     each branch's head; looked up again after `refresh`, so new commits appear
//! ├── commits/ID/…        every commit reachable from a branch, by full id; short ids are symlinks to them
//! └── HEAD -> branches/NAME   (or commits/ID when detached)
//! ```
//!
//! or, with [`Layout::At`], one version's files at the top. Inside a version, keys map to paths the way `get -r`
//! maps them (see [`VersionView`]). Everything below a commit is immutable, so a node there is named by the
//! commit it belongs to and its path, and its attributes and listings may be cached as long as anyone likes; only
//! the entries naming branches and `HEAD` change, and their lookups are valid for `refresh`.
//!
//! Listings come from the index tree's prefix iteration and are cached per tree and directory, within a byte
//! budget. Reads open a [`BlobReader`] on the value and fetch only the chunks covering the requested bytes
//! (through the hot and warm tiers), so reading byte `n` of a huge value costs one chunk.
//!
//! ```no_run
//! use infini::browse::{Browser, BrowseOptions, Layout, ROOT_INO};
//! # fn demo(repo: std::sync::Arc<infini::Repository>) -> infini::Result<()> {
//! let b = Browser::new(repo, Layout::All { head: None }, BrowseOptions::default());
//! for e in b.readdir(ROOT_INO)? {
//!     println!("{}", e.name);
//! }
//! # Ok(()) }
//! ```

mod version;

pub use version::{DirEntry, FileMeta, Kind, VersionView, DIR_PERM};

use crate::engine::chunk::{BlobReader, StreamReader};
use crate::engine::id::ChunkId;
use crate::engine::object::ChunkPointer;
use crate::engine::repo::{CommitInfo, Repository};
use crate::engine::{Error, Result};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::io::{Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The top directory's inode.
pub const ROOT_INO: u64 = 1;
const BRANCHES_INO: u64 = 2;
const COMMITS_INO: u64 = 3;
const HEAD_INO: u64 = 4;
/// Inodes below this are reserved for the fixed nodes.
const FIRST_DYNAMIC: u64 = 16;
/// Length of the short commit ids shown in `commits/`.
pub const SHORT_ID: usize = 10;

/// What `HEAD` points at.
#[derive(Clone, Debug)]
pub enum HeadTarget {
    /// A branch (`HEAD -> branches/NAME`).
    Branch(String),
    /// A commit (`HEAD -> commits/ID`).
    Commit(ChunkPointer),
}

/// What the top directory shows.
#[derive(Clone, Debug)]
pub enum Layout {
    /// `branches/`, `commits/` and (if given) `HEAD`.
    All {
        /// Where `HEAD` points.
        head: Option<HeadTarget>,
    },
    /// One version's files.
    At(CommitInfo),
}

/// Tuning.
#[derive(Clone, Debug)]
pub struct BrowseOptions {
    /// How long a branch head (and the list of branches and commits) is trusted before it is read again.
    pub refresh: Duration,
    /// How long attributes and names inside a commit may be cached by the caller (they never change).
    pub immutable_ttl: Duration,
    /// Memory for cached directory listings, in bytes.
    pub listing_cache: usize,
}

impl Default for BrowseOptions {
    fn default() -> Self {
        Self { refresh: Duration::from_secs(1), immutable_ttl: Duration::from_secs(3600), listing_cache: 64 << 20 }
    }
}

/// Type of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// A symbolic link.
    Symlink,
}

/// Attributes of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr {
    /// Inode number.
    pub ino: u64,
    /// Type.
    pub kind: FileType,
    /// Length in bytes (a symlink's: its target's).
    pub size: u64,
    /// Permission bits.
    pub perm: u16,
    /// Modification time, seconds since the epoch (negative before 1970).
    pub mtime: i64,
    /// Nanoseconds past `mtime`'s second.
    pub mtime_nsec: u32,
    /// How long the caller may cache these attributes and the name that led to them.
    pub ttl: Duration,
}

/// A name in a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// Inode the name leads to (as [`Browser::lookup`] will report it).
    pub ino: u64,
    /// Type.
    pub kind: FileType,
    /// The name.
    pub name: String,
}

/// What an inode stands for.
#[derive(Clone)]
enum Node {
    Root,
    Branches,
    Commits,
    Head,
    /// A short commit id in `commits/`: a symlink to the full id.
    Link {
        target: String,
    },
    /// A path in a version. `anchor` says where the version hangs (`b:NAME`, `c`, `at`), so the same commit under
    /// two names gets distinct directory inodes.
    Tree {
        anchor: Arc<str>,
        version: Arc<VersionView>,
        path: String,
        kind: Kind,
    },
}

struct Slot {
    node: Node,
    lookups: u64,
}

/// Branch heads as last read.
struct Refs {
    at: Instant,
    branches: Arc<Vec<(String, ChunkPointer)>>,
}

/// Every commit reachable from the heads it was built from, by full hex id.
struct CommitIndex {
    heads: Vec<ChunkPointer>,
    ids: Arc<BTreeMap<String, ChunkPointer>>,
}

/// Directory listings, first in first out within a byte budget.
#[derive(Default)]
struct Listings {
    map: HashMap<(Option<ChunkPointer>, String), Arc<Vec<DirEntry>>>,
    order: VecDeque<((Option<ChunkPointer>, String), usize)>,
    bytes: usize,
}

/// An open file: random reads through a [`BlobReader`]; once reads turn out sequential, a [`StreamReader`] fetches
/// the following chunks ahead, in parallel.
struct Handle {
    store: Arc<crate::engine::object::Store>,
    blob: crate::engine::chunk::Blob,
    random: BlobReader,
    stream: Option<StreamReader>,
    /// Where the last read ended.
    next: u64,
}

/// How far ahead of a stream a read may land and still be served from it (the bytes between are skipped).
const STREAM_SKIP: u64 = 8 << 20;

impl Handle {
    /// Up to `size` bytes at `offset` (fewer only at the end of the value).
    fn read_at_most(&mut self, offset: u64, size: usize) -> Result<Vec<u8>> {
        let len = self.random.size().saturating_sub(offset).min(size as u64) as usize;
        self.read(offset, len)
    }

    fn read(&mut self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        let sequential = offset == self.next && offset > 0;
        let many_chunks = match &self.blob {
            crate::engine::chunk::Blob::Inline(_) => false,
            crate::engine::chunk::Blob::Chunks(c) => c.len() > 1,
            crate::engine::chunk::Blob::Lists(_) => true,
        };
        if self.stream.is_none() && sequential && many_chunks {
            let threads = self.store.read_parallelism();
            self.stream =
                Some(StreamReader::new(self.store.clone(), self.blob.clone(), offset, self.blob.size(), threads));
        }
        let from_stream = match &self.stream {
            Some(s) => offset >= s.position() && offset - s.position() <= STREAM_SKIP,
            None => false,
        };
        let got = if from_stream {
            let s = self.stream.as_mut().expect("checked above");
            let skip = offset - s.position();
            std::io::copy(&mut s.by_ref().take(skip), &mut std::io::sink()).map_err(unwrap_io)?;
            read_full(s, &mut buf)?
        } else {
            // Far from the stream (a seek): drop it unless this read is a reordered earlier one.
            if self.stream.as_ref().is_some_and(|s| offset > s.position()) {
                self.stream = None;
            }
            self.random.seek(SeekFrom::Start(offset)).map_err(|e| Error::io("seeking", e))?;
            read_full(&mut self.random, &mut buf)?
        };
        buf.truncate(got);
        self.next = offset + got as u64;
        Ok(buf)
    }
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => return Err(unwrap_io(e)),
        }
    }
    Ok(got)
}

/// A read-only file-system view of a repository. Thread-safe: a FUSE driver may call it from many threads.
pub struct Browser {
    repo: Arc<Repository>,
    layout: Layout,
    opts: BrowseOptions,
    /// Time shown on the synthetic directories.
    started: i64,
    inodes: Mutex<HashMap<u64, Slot>>,
    listings: Mutex<Listings>,
    versions: Mutex<HashMap<ChunkId, Arc<VersionView>>>,
    refs: Mutex<Option<Refs>>,
    commit_index: Mutex<Option<CommitIndex>>,
    handles: Mutex<HashMap<u64, Arc<Mutex<Handle>>>>,
    next_fh: AtomicU64,
    /// Readers for [`Browser::read_inode`], by inode, least recently used first.
    inode_readers: Mutex<VecDeque<(u64, Arc<Mutex<Handle>>)>>,
}

/// How many files [`Browser::read_inode`] keeps a reader open for.
const INODE_READERS: usize = 16;

fn hash_ino(anchor: &str, commit: &ChunkId, path: &str) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    anchor.hash(&mut h);
    commit.hash(&mut h);
    path.hash(&mut h);
    h.finish().max(FIRST_DYNAMIC)
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Attr {
    /// The modification time as a [`SystemTime`](std::time::SystemTime); the epoch on a platform whose
    /// `SystemTime` cannot hold it.
    pub fn modified(&self) -> std::time::SystemTime {
        crate::engine::namespace::system_time(self.mtime, self.mtime_nsec.min(999_999_999))
            .unwrap_or(std::time::UNIX_EPOCH)
    }
}

impl Browser {
    /// A browser over `repo` showing `layout`.
    pub fn new(repo: Arc<Repository>, layout: Layout, opts: BrowseOptions) -> Self {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Self {
            repo,
            layout,
            opts,
            started,
            inodes: Mutex::new(HashMap::new()),
            listings: Mutex::new(Listings::default()),
            versions: Mutex::new(HashMap::new()),
            refs: Mutex::new(None),
            commit_index: Mutex::new(None),
            handles: Mutex::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
            inode_readers: Mutex::new(VecDeque::new()),
        }
    }

    /// The repository browsed.
    pub fn repository(&self) -> &Arc<Repository> {
        &self.repo
    }

    fn version(&self, ptr: &ChunkPointer) -> Result<Arc<VersionView>> {
        if let Some(v) = self.versions.lock().expect("versions lock").get(&ptr.id) {
            return Ok(v.clone());
        }
        let c = self.repo.read_commit(ptr)?;
        let root = self.repo.state(&c)?.get(crate::engine::namespace::FIELD).map(|b| b.to_vec());
        let v = Arc::new(VersionView::new(self.repo.store().clone(), c, root.as_deref())?);
        let mut m = self.versions.lock().expect("versions lock");
        if m.len() >= 4096 {
            m.clear();
        }
        m.insert(ptr.id, v.clone());
        Ok(v)
    }

    fn branches(&self) -> Result<Arc<Vec<(String, ChunkPointer)>>> {
        let mut refs = self.refs.lock().expect("refs lock");
        if let Some(r) = refs.as_ref() {
            if r.at.elapsed() < self.opts.refresh {
                return Ok(r.branches.clone());
            }
        }
        let list: Vec<_> = self.repo.branches()?.into_iter().map(|b| (b.name, b.head)).collect();
        let list = Arc::new(list);
        *refs = Some(Refs { at: Instant::now(), branches: list.clone() });
        Ok(list)
    }

    fn branch(&self, name: &str) -> Result<Option<ChunkPointer>> {
        let list = self.branches()?;
        Ok(list.iter().find(|(n, _)| n == name).map(|(_, p)| *p))
    }

    fn commit_ids(&self) -> Result<Arc<BTreeMap<String, ChunkPointer>>> {
        let mut heads: Vec<ChunkPointer> = self.branches()?.iter().map(|(_, p)| *p).collect();
        if let Layout::All { head: Some(HeadTarget::Commit(p)) } = &self.layout {
            heads.push(*p);
        }
        let mut idx = self.commit_index.lock().expect("commit index lock");
        if let Some(i) = idx.as_ref() {
            if i.heads == heads {
                return Ok(i.ids.clone());
            }
        }
        // Walk the history once; a later call with new heads reuses what is known and walks only the new part.
        let mut ids: BTreeMap<String, ChunkPointer> = idx.as_ref().map(|i| (*i.ids).clone()).unwrap_or_default();
        let mut seen: HashSet<ChunkId> = ids.values().map(|p| p.id).collect();
        let mut queue: VecDeque<ChunkPointer> = heads.iter().copied().collect();
        // Forgotten commits (see `Repository::forget`) are walked through but not offered: their data may be gone.
        let forgotten = self.repo.forgotten()?;
        while let Some(p) = queue.pop_front() {
            if !seen.insert(p.id) {
                continue;
            }
            if heads.contains(&p) || !forgotten.contains(&p.commit_id()) {
                ids.insert(p.id.to_hex(), p);
            }
            queue.extend(self.repo.read_commit(&p)?.commit.parents.iter().copied());
        }
        let ids = Arc::new(ids);
        *idx = Some(CommitIndex { heads, ids: ids.clone() });
        Ok(ids)
    }

    /// The listing of directory `path` of `v`, cached.
    fn listing(&self, v: &VersionView, path: &str) -> Result<Arc<Vec<DirEntry>>> {
        let key = (v.tree_root(), path.to_string());
        if let Some(l) = self.listings.lock().expect("listing lock").map.get(&key) {
            return Ok(l.clone());
        }
        let list = Arc::new(v.list(path)?);
        let weight: usize = list.iter().map(DirEntry::weight).sum::<usize>() + 64 + path.len();
        let mut c = self.listings.lock().expect("listing lock");
        if weight <= self.opts.listing_cache && !c.map.contains_key(&key) {
            while c.bytes + weight > self.opts.listing_cache {
                let Some((old, w)) = c.order.pop_front() else { break };
                c.map.remove(&old);
                c.bytes -= w;
            }
            c.map.insert(key.clone(), list.clone());
            c.order.push_back((key, weight));
            c.bytes += weight;
        }
        Ok(list)
    }

    fn node(&self, ino: u64) -> Result<Node> {
        match ino {
            ROOT_INO => Ok(match &self.layout {
                Layout::All { .. } => Node::Root,
                Layout::At(c) => Node::Tree {
                    anchor: Arc::from("at"),
                    version: self.version(&c.ptr)?,
                    path: String::new(),
                    kind: Kind::Dir,
                },
            }),
            BRANCHES_INO | COMMITS_INO | HEAD_INO if matches!(self.layout, Layout::All { .. }) => Ok(match ino {
                BRANCHES_INO => Node::Branches,
                COMMITS_INO => Node::Commits,
                _ => Node::Head,
            }),
            _ => match self.inodes.lock().expect("inode lock").get(&ino) {
                Some(s) => Ok(s.node.clone()),
                None => Err(Error::not_found(format!("inode {ino}"))),
            },
        }
    }

    /// Record one more lookup of `node`; returns its inode.
    fn remember(&self, node: Node) -> u64 {
        let mut ino = match &node {
            Node::Root => return ROOT_INO,
            Node::Branches => return BRANCHES_INO,
            Node::Commits => return COMMITS_INO,
            Node::Head => return HEAD_INO,
            Node::Link { target } => hash_ino("l", &ChunkId::default(), target),
            Node::Tree { anchor, version, path, .. } => hash_ino(anchor, &version.commit().ptr.id, path),
        };
        let mut inodes = self.inodes.lock().expect("inode lock");
        loop {
            match inodes.get_mut(&ino) {
                None => {
                    inodes.insert(ino, Slot { node, lookups: 1 });
                    return ino;
                }
                Some(s) if same(&s.node, &node) => {
                    s.lookups += 1;
                    return ino;
                }
                // A hash collision: probe the next number.
                Some(_) => ino = ino.wrapping_add(1).max(FIRST_DYNAMIC),
            }
        }
    }

    /// The caller dropped `n` lookups of `ino` (FUSE `forget`); a node nobody holds is forgotten.
    pub fn forget(&self, ino: u64, n: u64) {
        let gone = {
            let mut inodes = self.inodes.lock().expect("inode lock");
            match inodes.get_mut(&ino) {
                Some(s) => {
                    s.lookups = s.lookups.saturating_sub(n);
                    s.lookups == 0 && inodes.remove(&ino).is_some()
                }
                None => false,
            }
        };
        if gone {
            self.inode_readers.lock().expect("reader list lock").retain(|(i, _)| *i != ino);
        }
    }

    /// Number of inodes currently remembered (for tests and diagnostics).
    pub fn remembered(&self) -> usize {
        self.inodes.lock().expect("inode lock").len()
    }

    fn short_ttl(&self) -> Duration {
        self.opts.refresh
    }

    fn attr_of(&self, ino: u64, node: &Node) -> Result<Attr> {
        let dir = |mtime, ttl| Attr { ino, kind: FileType::Dir, size: 0, perm: DIR_PERM, mtime, mtime_nsec: 0, ttl };
        Ok(match node {
            Node::Root | Node::Branches | Node::Commits => dir(self.started, self.short_ttl()),
            Node::Head => {
                let t = self.head_target()?.unwrap_or_default();
                Attr {
                    ino,
                    kind: FileType::Symlink,
                    size: t.len() as u64,
                    perm: 0o777,
                    mtime: self.started,
                    mtime_nsec: 0,
                    ttl: self.short_ttl(),
                }
            }
            Node::Link { target } => Attr {
                ino,
                kind: FileType::Symlink,
                size: target.len() as u64,
                perm: 0o777,
                mtime: self.started,
                mtime_nsec: 0,
                ttl: self.short_ttl(),
            },
            Node::Tree { version, kind, path, .. } => {
                let ctime = i64::try_from(version.commit().commit.time).unwrap_or(i64::MAX);
                match kind {
                    Kind::Dir => match version.dir_entry(path)? {
                        // A stored directory: its own mode and time.
                        Some(e) => {
                            let m = FileMeta::of(&e);
                            Attr {
                                perm: e.mode.map_or(DIR_PERM, |p| (p & 0o7777) as u16),
                                mtime: m.mtime.unwrap_or(ctime),
                                mtime_nsec: if m.mtime.is_some() { m.mtime_nsec } else { 0 },
                                ..dir(ctime, self.opts.immutable_ttl)
                            }
                        }
                        None => dir(ctime, self.opts.immutable_ttl),
                    },
                    Kind::File(e) => {
                        let m = FileMeta::of(e);
                        Attr {
                            ino,
                            kind: if m.symlink { FileType::Symlink } else { FileType::File },
                            size: e.size(),
                            perm: m.perm,
                            mtime: m.mtime.unwrap_or(ctime),
                            mtime_nsec: if m.mtime.is_some() { m.mtime_nsec } else { 0 },
                            ttl: self.opts.immutable_ttl,
                        }
                    }
                }
            }
        })
    }

    fn head_target(&self) -> Result<Option<String>> {
        Ok(match &self.layout {
            Layout::All { head: Some(HeadTarget::Branch(b)) } => Some(format!("branches/{b}")),
            Layout::All { head: Some(HeadTarget::Commit(p)) } => Some(format!("commits/{}", p.id.to_hex())),
            _ => None,
        })
    }

    /// Attributes of `ino`.
    pub fn getattr(&self, ino: u64) -> Result<Attr> {
        let node = self.node(ino)?;
        self.attr_of(ino, &node)
    }

    /// Look `name` up in directory `parent`: its attributes, or `None` if there is no such name. Each successful
    /// lookup is remembered until [`Browser::forget`] drops it.
    pub fn lookup(&self, parent: u64, name: &str) -> Result<Option<Attr>> {
        let parent_node = self.node(parent)?;
        // Names in the synthetic directories (branch heads, HEAD, commits) are valid only until the next refresh.
        let synthetic = matches!(parent_node, Node::Root | Node::Branches | Node::Commits);
        let node = match parent_node {
            Node::Root => match name {
                "branches" => Some(Node::Branches),
                "commits" => Some(Node::Commits),
                "HEAD" if self.head_target()?.is_some() => Some(Node::Head),
                _ => None,
            },
            Node::Branches => match self.branch(name)? {
                Some(p) => Some(Node::Tree {
                    anchor: Arc::from(format!("b:{name}")),
                    version: self.version(&p)?,
                    path: String::new(),
                    kind: Kind::Dir,
                }),
                None => None,
            },
            Node::Commits => self.lookup_commit(name)?,
            Node::Head | Node::Link { .. } => return Err(Error::Invalid("not a directory".into())),
            Node::Tree { anchor, version, path, kind } => {
                if kind != Kind::Dir {
                    return Err(Error::Invalid("not a directory".into()));
                }
                let list = self.listing(&version, &path)?;
                match list.binary_search_by(|e| e.name.as_str().cmp(name)) {
                    Ok(i) => Some(Node::Tree {
                        anchor,
                        version: version.clone(),
                        path: join(&path, name),
                        kind: list[i].kind.clone(),
                    }),
                    Err(_) => None,
                }
            }
        };
        let Some(node) = node else { return Ok(None) };
        let ino = self.remember(node.clone());
        let mut attr = self.attr_of(ino, &node)?;
        if synthetic {
            attr.ttl = attr.ttl.min(self.short_ttl());
        }
        Ok(Some(attr))
    }

    fn lookup_commit(&self, name: &str) -> Result<Option<Node>> {
        if name.len() < 4 || name.len() > 64 || !is_hex(name) {
            return Ok(None);
        }
        let ids = self.commit_ids()?;
        if name.len() == 64 {
            return match ids.get(name) {
                Some(p) => Ok(Some(Node::Tree {
                    anchor: Arc::from("c"),
                    version: self.version(p)?,
                    path: String::new(),
                    kind: Kind::Dir,
                })),
                None => Ok(None),
            };
        }
        let mut matches = ids.range(name.to_string()..).take_while(|(k, _)| k.starts_with(name));
        match (matches.next(), matches.next()) {
            (Some((full, _)), None) => Ok(Some(Node::Link { target: full.clone() })),
            _ => Ok(None),
        }
    }

    /// Whether directory `ino`'s listing can never change (a directory of a version, not `branches/` or
    /// `commits/`), so a caller may cache it for as long as it likes.
    pub fn listing_is_fixed(&self, ino: u64) -> Result<bool> {
        Ok(matches!(self.node(ino)?, Node::Tree { .. }))
    }

    /// Look up every name of directory `ino` from the `skip`-th on, in order, handing each name with its
    /// attributes to `add` (its position in [`Browser::readdir`]'s list, the name, the attributes). Each name
    /// handed over counts as a [`Browser::lookup`]; `add` returns `true` when it took no more, and that last name
    /// is not counted.
    pub fn readdir_plus(&self, ino: u64, skip: usize, mut add: impl FnMut(usize, &str, &Attr) -> bool) -> Result<()> {
        let Node::Tree { anchor, version, path, kind: Kind::Dir } = self.node(ino)? else {
            // The synthetic directories are short: look each name up.
            for (i, l) in self.readdir(ino)?.iter().enumerate().skip(skip) {
                if let Some(a) = self.lookup(ino, &l.name)? {
                    if add(i, &l.name, &a) {
                        self.forget(a.ino, 1);
                        break;
                    }
                }
            }
            return Ok(());
        };
        for (i, e) in self.listing(&version, &path)?.iter().enumerate().skip(skip) {
            let node = Node::Tree {
                anchor: anchor.clone(),
                version: version.clone(),
                path: join(&path, &e.name),
                kind: e.kind.clone(),
            };
            let attr = self.attr_of(0, &node)?;
            let attr = Attr { ino: self.remember(node), ..attr };
            if add(i, &e.name, &attr) {
                self.forget(attr.ino, 1);
                break;
            }
        }
        Ok(())
    }

    /// The names in directory `ino` (without `.` and `..`), sorted.
    pub fn readdir(&self, ino: u64) -> Result<Vec<Listed>> {
        Ok(match self.node(ino)? {
            Node::Root => {
                let mut v = vec![
                    Listed { ino: BRANCHES_INO, kind: FileType::Dir, name: "branches".into() },
                    Listed { ino: COMMITS_INO, kind: FileType::Dir, name: "commits".into() },
                ];
                if self.head_target()?.is_some() {
                    v.insert(0, Listed { ino: HEAD_INO, kind: FileType::Symlink, name: "HEAD".into() });
                }
                v
            }
            Node::Branches => self
                .branches()?
                .iter()
                .map(|(name, p)| Listed {
                    ino: hash_ino(&format!("b:{name}"), &p.id, ""),
                    kind: FileType::Dir,
                    name: name.clone(),
                })
                .collect(),
            Node::Commits => {
                let ids = self.commit_ids()?;
                let mut v = Vec::with_capacity(ids.len() * 2);
                for (full, p) in ids.iter() {
                    v.push(Listed { ino: hash_ino("c", &p.id, ""), kind: FileType::Dir, name: full.clone() });
                    v.push(Listed {
                        ino: hash_ino("l", &ChunkId::default(), full),
                        kind: FileType::Symlink,
                        name: full[..SHORT_ID].to_string(),
                    });
                }
                v.sort_by(|a, b| a.name.cmp(&b.name));
                v
            }
            Node::Head | Node::Link { .. } => return Err(Error::Invalid("not a directory".into())),
            Node::Tree { anchor, version, path, kind } => {
                if kind != Kind::Dir {
                    return Err(Error::Invalid("not a directory".into()));
                }
                let id = version.commit().ptr.id;
                self.listing(&version, &path)?
                    .iter()
                    .map(|e| Listed {
                        ino: hash_ino(&anchor, &id, &join(&path, &e.name)),
                        kind: match &e.kind {
                            Kind::Dir => FileType::Dir,
                            Kind::File(f) if FileMeta::of(f).symlink => FileType::Symlink,
                            Kind::File(_) => FileType::File,
                        },
                        name: e.name.clone(),
                    })
                    .collect()
            }
        })
    }

    /// The target of symlink `ino`.
    pub fn readlink(&self, ino: u64) -> Result<Vec<u8>> {
        match self.node(ino)? {
            Node::Head => Ok(self.head_target()?.unwrap_or_default().into_bytes()),
            Node::Link { target } => Ok(target.into_bytes()),
            Node::Tree { version, kind: Kind::File(e), .. } if FileMeta::of(&e).symlink => {
                let mut r = BlobReader::new(version.store().clone(), e.blob.clone());
                let mut v = Vec::new();
                r.read_to_end(&mut v).map_err(unwrap_io)?;
                Ok(v)
            }
            _ => Err(Error::Invalid("not a symlink".into())),
        }
    }

    /// Open file `ino` for reading; returns a handle for [`Browser::read`]. The handle keeps reading the version
    /// it was opened in.
    pub fn open(&self, ino: u64) -> Result<u64> {
        let h = self.reader(ino)?;
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        self.handles.lock().expect("handle lock").insert(fh, Arc::new(Mutex::new(h)));
        Ok(fh)
    }

    fn reader(&self, ino: u64) -> Result<Handle> {
        match self.node(ino)? {
            Node::Tree { version, kind: Kind::File(e), .. } => {
                let store = version.store().clone();
                let random = BlobReader::new(store.clone(), e.blob.clone());
                Ok(Handle { store, blob: e.blob, random, stream: None, next: 0 })
            }
            Node::Tree { kind: Kind::Dir, .. } | Node::Root | Node::Branches | Node::Commits => {
                Err(Error::Invalid("is a directory".into()))
            }
            _ => Err(Error::Invalid("not a regular file".into())),
        }
    }

    /// Up to `size` bytes at `offset` of an open file (fewer only at the end of the value). Only the chunks
    /// covering the range are read.
    pub fn read(&self, fh: u64, offset: u64, size: usize) -> Result<Vec<u8>> {
        let r = self
            .handles
            .lock()
            .expect("handle lock")
            .get(&fh)
            .cloned()
            .ok_or_else(|| Error::Invalid(format!("no open file handle {fh}")))?;
        let mut h = r.lock().expect("reader lock");
        h.read_at_most(offset, size)
    }

    /// Like [`Browser::read`], for a caller that does not open files (a FUSE kernel told that `open` is not
    /// needed): reads file `ino` directly. Readers of the last few files read are kept, so sequential reads of a
    /// large file still stream ahead.
    pub fn read_inode(&self, ino: u64, offset: u64, size: usize) -> Result<Vec<u8>> {
        let r = {
            let mut readers = self.inode_readers.lock().expect("reader list lock");
            match readers.iter().position(|(i, _)| *i == ino) {
                Some(at) => {
                    let e = readers.remove(at).expect("position is in range");
                    let r = e.1.clone();
                    readers.push_back(e);
                    r
                }
                None => {
                    let r = Arc::new(Mutex::new(self.reader(ino)?));
                    readers.push_back((ino, r.clone()));
                    if readers.len() > INODE_READERS {
                        readers.pop_front();
                    }
                    r
                }
            }
        };
        let mut h = r.lock().expect("reader lock");
        h.read_at_most(offset, size)
    }

    /// Close a handle from [`Browser::open`].
    pub fn release(&self, fh: u64) {
        self.handles.lock().expect("handle lock").remove(&fh);
    }
}

/// An engine error that travelled through `io::Read`, back as itself.
fn unwrap_io(e: std::io::Error) -> Error {
    if e.get_ref().is_some_and(|i| i.is::<Error>()) {
        if let Ok(inner) = e.into_inner().expect("checked above").downcast::<Error>() {
            return *inner;
        }
        return Error::integrity("read failed");
    }
    Error::io("reading a value", e)
}

fn same(a: &Node, b: &Node) -> bool {
    match (a, b) {
        (Node::Link { target: x }, Node::Link { target: y }) => x == y,
        (
            Node::Tree { anchor: a1, version: v1, path: p1, .. },
            Node::Tree { anchor: a2, version: v2, path: p2, .. },
        ) => a1 == a2 && v1.commit().ptr.id == v2.commit().ptr.id && p1 == p2,
        _ => false,
    }
}
