//! The warm tier: sealed chunk bytes on local disk under a hard byte budget, surviving between runs.
//!
//! Entries are the exact byte ranges chunk reads fetch (still encrypted and authenticated on use), one file each:
//! `<dir>/<i|d>/<object hex>-<offset>-<len>`. `i` holds index nodes and commits, `d` data. When the budget is
//! exceeded, data entries are evicted before index entries, least recently used (by modification time) first.
//!
//! The cache is only a copy: an entry that fails authentication when used (a damaged disk, an edited file) is
//! discarded with [`WarmCache::discard`] and read again from the repository; the first such event is reported
//! through the [`WarmNotice`] callback, if one was given.

use crate::engine::local_file;
use crate::engine::object::ChunkPointer;
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

struct Item {
    path: PathBuf,
    size: u64,
    used: SystemTime,
    index: bool,
}

/// Told (once per process) that a damaged warm-cache entry was discarded; the message names the entry.
#[derive(Clone)]
pub struct WarmNotice(pub Arc<dyn Fn(&str) + Send + Sync>);

impl std::fmt::Debug for WarmNotice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WarmNotice")
    }
}

/// A disk cache of sealed chunk bytes.
pub struct WarmCache {
    notice: Option<WarmNotice>,
    noticed: AtomicBool,
    /// Damaged entries discarded.
    pub discarded: AtomicU64,
    dir: PathBuf,
    budget: u64,
    /// Everything on disk, loaded at the first insert (reads need no scan).
    items: Mutex<Option<Vec<Item>>>,
    /// Reads served from disk.
    pub hits: AtomicU64,
    /// Reads that were not.
    pub misses: AtomicU64,
    /// Bytes served from disk.
    pub hit_bytes: AtomicU64,
}

impl WarmCache {
    /// A cache in `dir` holding at most `budget` bytes.
    pub fn new(dir: impl Into<PathBuf>, budget: u64) -> Self {
        Self {
            notice: None,
            noticed: AtomicBool::new(false),
            discarded: AtomicU64::new(0),
            dir: dir.into(),
            budget,
            items: Mutex::new(None),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            hit_bytes: AtomicU64::new(0),
        }
    }

    /// Report discarded entries to `notice` (the first one only).
    pub fn with_notice(mut self, notice: Option<WarmNotice>) -> Self {
        self.notice = notice;
        self
    }

    /// Throw away an entry whose bytes failed authentication; the caller reads the chunk from the repository.
    pub fn discard(&self, ptr: &ChunkPointer, index: bool) {
        let path = self.path(ptr, index);
        let _ = fs::remove_file(&path);
        if let Some(items) = self.items.lock().expect("warm cache lock").as_mut() {
            items.retain(|i| i.path != path);
        }
        self.discarded.fetch_add(1, Ordering::Relaxed);
        if let Some(n) = &self.notice {
            if !self.noticed.swap(true, Ordering::Relaxed) {
                (n.0)(&format!(
                    "damaged warm-cache entry {} discarded; reading it from the repository",
                    path.display()
                ));
            }
        }
    }

    fn path(&self, ptr: &ChunkPointer, index: bool) -> PathBuf {
        self.dir.join(if index { "i" } else { "d" }).join(format!("{}-{}-{}", ptr.object.to_hex(), ptr.offset, ptr.len))
    }

    /// Whether a chunk seems to be held (a file of its length is in its place); [`WarmCache::get`] says for sure.
    pub fn contains(&self, ptr: &ChunkPointer, index: bool) -> bool {
        fs::symlink_metadata(self.path(ptr, index)).is_ok_and(|m| m.is_file() && m.len() == u64::from(ptr.len))
    }

    /// The cached bytes of a chunk, if present and of the right length. Only a regular file is read, never more
    /// than the chunk's length (see [`crate::engine::local_file`]); anything else in its place (a FIFO, a symbolic
    /// link, a file of another length) is removed and the read is a miss.
    pub fn get(&self, ptr: &ChunkPointer, index: bool) -> Option<Vec<u8>> {
        let path = self.path(ptr, index);
        match local_file::read_bounded(&path, u64::from(ptr.len)) {
            Ok(b) if b.len() == ptr.len as usize => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                self.hit_bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
                // Mark as recently used; best effort (and never through a link or into a FIFO).
                if let Ok(f) = fs::File::options()
                    .write(true)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
                    .open(&path)
                {
                    let _ = f.set_modified(SystemTime::now());
                }
                Some(b)
            }
            Ok(_) => {
                let _ = fs::remove_file(&path);
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
            Err(e) => {
                if e.kind() == std::io::ErrorKind::InvalidData {
                    let _ = fs::remove_file(&path);
                }
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    fn scan(dir: &Path) -> Vec<Item> {
        let mut items = Vec::new();
        for (sub, index) in [("i", true), ("d", false)] {
            let Ok(entries) = fs::read_dir(dir.join(sub)) else { continue };
            for e in entries.flatten() {
                let Ok(m) = e.metadata() else { continue };
                if m.is_file() {
                    let used = m.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                    items.push(Item { path: e.path(), size: m.len(), used, index });
                }
            }
        }
        items
    }

    /// Cache a chunk's sealed bytes, evicting others to stay within the budget. Failures are ignored: a cache
    /// that cannot be written is only slower.
    pub fn insert(&self, ptr: &ChunkPointer, index: bool, bytes: &[u8]) {
        let size = bytes.len() as u64;
        if size > self.budget {
            return;
        }
        if self.path(ptr, index).exists() {
            return;
        }
        let mut guard = self.items.lock().expect("warm cache lock");
        let items = guard.get_or_insert_with(|| Self::scan(&self.dir));
        let mut total: u64 = items.iter().map(|i| i.size).sum();
        if total + size > self.budget {
            // Data before index, oldest first.
            items.sort_by_key(|i| (i.index, i.used));
            let mut keep = Vec::with_capacity(items.len());
            for it in items.drain(..) {
                if total + size > self.budget && fs::remove_file(&it.path).is_ok() {
                    total -= it.size;
                } else {
                    keep.push(it);
                }
            }
            *items = keep;
            if total + size > self.budget {
                return;
            }
        }
        let path = self.path(ptr, index);
        let Some(parent) = path.parent() else { return };
        if fs::create_dir_all(parent).is_err() {
            return;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let ok = fs::File::create(&tmp).and_then(|mut f| f.write_all(bytes)).and_then(|_| fs::rename(&tmp, &path));
        if ok.is_ok() {
            items.push(Item { path, size, used: SystemTime::now(), index });
        } else {
            let _ = fs::remove_file(&tmp);
        }
    }

    /// Bytes currently on disk (scans the directory).
    pub fn disk_bytes(&self) -> u64 {
        Self::scan(&self.dir).iter().map(|i| i.size).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::id::{ChunkId, ObjectId};

    fn ptr(i: u32, len: u32) -> ChunkPointer {
        ChunkPointer { object: ObjectId([i as u8; 32]), offset: i, len, id: ChunkId([0; 32]) }
    }

    #[test]
    fn budget_holds_and_index_is_preferred() {
        let d = tempfile::tempdir().unwrap();
        let c = WarmCache::new(d.path(), 10_000);
        c.insert(&ptr(1, 3000), true, &[1; 3000]);
        c.insert(&ptr(2, 3000), true, &[2; 3000]);
        for i in 10..30 {
            c.insert(&ptr(i, 1500), false, &[3; 1500]);
            assert!(c.disk_bytes() <= 10_000, "budget exceeded: {}", c.disk_bytes());
        }
        assert_eq!(c.get(&ptr(1, 3000), true).unwrap(), vec![1; 3000]);
        assert_eq!(c.get(&ptr(2, 3000), true).unwrap(), vec![2; 3000]);
        assert!(c.get(&ptr(10, 1500), false).is_none());
        assert!(c.get(&ptr(29, 1500), false).is_some());
        // Too large for the budget: not cached.
        c.insert(&ptr(99, 20_000), false, &vec![0; 20_000]);
        assert!(c.get(&ptr(99, 20_000), false).is_none());
        // A discarded entry is gone, and the notice comes once.
        let said = Arc::new(AtomicU64::new(0));
        let s2 = said.clone();
        let c = c.with_notice(Some(WarmNotice(Arc::new(move |_| {
            s2.fetch_add(1, Ordering::Relaxed);
        }))));
        c.discard(&ptr(1, 3000), true);
        c.discard(&ptr(2, 3000), true);
        assert!(c.get(&ptr(1, 3000), true).is_none());
        assert_eq!(said.load(Ordering::Relaxed), 1);
        assert_eq!(c.discarded.load(Ordering::Relaxed), 2);
        // A fresh instance sees what is on disk and still keeps the budget.
        let c2 = WarmCache::new(d.path(), 10_000);
        for i in 40..60 {
            c2.insert(&ptr(i, 2000), true, &[4; 2000]);
        }
        assert!(c2.disk_bytes() <= 10_000);
    }
}
