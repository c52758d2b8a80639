//! [`VersionView`]: one committed version of the namespace seen as a tree of directories and files.
//!
//! Keys map to paths the way `get -r` maps them: `/` separates directories, and a key whose path would not be a
//! safe relative path (an empty, `.` or `..` component) is not shown. A name that is both a key and a directory
//! prefix (`a` and `a/b`) shows as the directory. A directory entry (`a/b/`, as `put -r` stores every directory)
//! makes its directory appear even when empty, and gives it its permission bits and mtime.
//!
//! A directory listing walks the index tree's prefix range and jumps over every subdirectory with one seek, so
//! listing a directory costs one root-to-leaf path per child, not one entry per key below it.

use crate::engine::fields::decode_root;
use crate::engine::namespace::{Entry, EntryKind};
use crate::engine::object::{ChunkPointer, Store};
use crate::engine::repo::CommitInfo;
use crate::engine::tree::{self, NodeStore};
use crate::engine::{Error, Result};
use std::sync::Arc;

/// What a path in a version is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A directory: a common prefix of keys.
    Dir,
    /// A stored value.
    File(Box<Entry>),
}

/// How an entry presents as a file: type, permission bits and modification time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileMeta {
    /// A symbolic link (its value is the target) rather than a regular file.
    pub symlink: bool,
    /// Permission bits (`0o644` for a file stored without them, `0o777` for a link).
    pub perm: u16,
    /// Modification time, seconds since the epoch (negative before 1970), if stored and valid.
    pub mtime: Option<i64>,
    /// Nanoseconds past `mtime`'s second.
    pub mtime_nsec: u32,
}

/// Permission bits of directories implied by keys, with no directory entry (what `get -r` creates).
pub const DIR_PERM: u16 = 0o755;

impl FileMeta {
    /// The presentation of a stored entry, the way `get -r` restores it.
    pub fn of(e: &Entry) -> Self {
        let symlink = e.kind == EntryKind::Symlink;
        let perm = if symlink { 0o777 } else { e.mode.map(|m| (m & 0o7777) as u16).unwrap_or(0o644) };
        let (mtime, mtime_nsec) = match e.mtime_parts() {
            Some((s, ns)) => (Some(s), ns),
            None => (None, 0),
        };
        Self { symlink, perm, mtime, mtime_nsec }
    }
}

/// One name in a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// The file name (one path component).
    pub name: String,
    /// Directory or value.
    pub kind: Kind,
}

impl DirEntry {
    /// Approximate memory held by this entry (for cache budgets).
    pub fn weight(&self) -> usize {
        let blob = match &self.kind {
            Kind::Dir => 0,
            Kind::File(e) => match &e.blob {
                crate::engine::chunk::Blob::Inline(v) => v.len(),
                crate::engine::chunk::Blob::Chunks(c) => c.len() * 80,
                crate::engine::chunk::Blob::Lists(l) => l.len() * 88,
            },
        };
        64 + self.name.len() + blob
    }
}

/// A read-only view of one commit's namespace.
#[derive(Clone)]
pub struct VersionView {
    store: Arc<Store>,
    commit: CommitInfo,
    root: Option<ChunkPointer>,
}

/// Whether `name` can be a path component.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".."
}

impl VersionView {
    /// The namespace of `commit`.
    pub(crate) fn new(store: Arc<Store>, commit: CommitInfo, root: Option<&[u8]>) -> Result<Self> {
        let root = decode_root(root)?;
        Ok(Self { store, commit, root })
    }

    /// The commit.
    pub fn commit(&self) -> &CommitInfo {
        &self.commit
    }

    /// The index tree the view reads (equal roots mean equal contents).
    pub fn tree_root(&self) -> Option<ChunkPointer> {
        self.root
    }

    /// The store values are read from.
    pub(crate) fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The names in directory `dir` (`""` for the top, else `a/b` without slashes at either end), sorted by name.
    /// An empty result for a directory that does not exist.
    pub fn list(&self, dir: &str) -> Result<Vec<DirEntry>> {
        let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
        let end = tree::prefix_end(prefix.as_bytes());
        let store: &dyn NodeStore = &*self.store;
        let mut out: Vec<DirEntry> = Vec::new();
        let mut start = prefix.as_bytes().to_vec();
        'seek: loop {
            let mut range = tree::range(store, self.root, Some(start.clone()), end.clone());
            for item in range.by_ref() {
                let (key, value) = item?;
                // A damaged index could hand back a key outside the range asked for: an error, never a panic.
                let Some(rest) = key.strip_prefix(prefix.as_bytes()) else {
                    return Err(Error::integrity("index tree: a key outside the range listed"));
                };
                match rest.iter().position(|&b| b == b'/') {
                    Some(i) => {
                        let name = &rest[..i];
                        if valid_name(name) {
                            let name = std::str::from_utf8(name)
                                .map_err(|_| Error::integrity("namespace key is not UTF-8"))?
                                .to_string();
                            out.push(DirEntry { name, kind: Kind::Dir });
                        }
                        // Skip everything below this subdirectory: continue after `prefix/name/`.
                        match tree::prefix_end(&key[..prefix.len() + i + 1]) {
                            Some(next) => {
                                start = next;
                                continue 'seek;
                            }
                            None => break 'seek,
                        }
                    }
                    None => {
                        if !valid_name(rest) {
                            continue;
                        }
                        let name = std::str::from_utf8(rest)
                            .map_err(|_| Error::integrity("namespace key is not UTF-8"))?
                            .to_string();
                        let entry: Entry = ciborium::from_reader(value.as_slice())
                            .map_err(|e| Error::corrupt(format!("namespace entry {name:?}"), e))?;
                        out.push(DirEntry { name, kind: Kind::File(Box::new(entry)) });
                    }
                }
            }
            break;
        }
        // A name that is a key and a directory prefix at once shows as the directory.
        out.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| (a.kind != Kind::Dir).cmp(&(b.kind != Kind::Dir))));
        out.dedup_by(|later, earlier| later.name == earlier.name);
        Ok(out)
    }

    /// The directory entry `put -r` stored for directory `dir` (`a/b`, its key `a/b/`): its permission bits and
    /// mtime. `None` for the top, and for a directory only implied by keys.
    pub fn dir_entry(&self, dir: &str) -> Result<Option<Entry>> {
        if dir.is_empty() {
            return Ok(None);
        }
        let key = format!("{dir}/");
        let store: &dyn NodeStore = &*self.store;
        let Some(value) = tree::get(store, self.root.as_ref(), key.as_bytes())? else { return Ok(None) };
        let entry: Entry = ciborium::from_reader(value.as_slice())
            .map_err(|e| Error::corrupt(format!("namespace entry {key:?}"), e))?;
        Ok(entry.is_dir().then_some(entry))
    }

    /// What `path` is (`""`: the top directory, always a directory). `None` if nothing is there.
    pub fn stat(&self, path: &str) -> Result<Option<Kind>> {
        if path.is_empty() {
            return Ok(Some(Kind::Dir));
        }
        let (dir, name) = match path.rsplit_once('/') {
            Some((d, n)) => (d, n),
            None => ("", path),
        };
        let list = self.list(dir)?;
        Ok(list.binary_search_by(|e| e.name.as_str().cmp(name)).ok().map(|i| list[i].kind.clone()))
    }
}
