//! [`StatCache`]: which value each local file was stored as, and the stat data it had then.

use crate::engine::chunk::Blob;
use crate::engine::crypto::{Keys, Kind};
use crate::engine::object::Store;
use crate::engine::{Error, Result};
use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Format of the cache file's plaintext; another version is ignored (the cache starts empty).
const VERSION: u32 = 1;
/// Associated data place of the sealed file.
const PLACE: &[u8] = b"stat-cache";

/// What is compared: device, inode, size, mtime (s, ns), ctime (s, ns).
type Stat = (u64, u64, u64, i64, i64, i64, i64);

fn stat_of(m: &Metadata) -> Stat {
    (m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec(), m.ctime(), m.ctime_nsec())
}

/// A workspace's memory of the files it stored: absolute path -> stat data and the value stored from the file.
///
/// Kept in one sealed file (the paths and chunk pointers are as private as the staged changes). A missing,
/// unreadable or foreign file is an empty cache: the cache only saves reads, it is never needed.
pub struct StatCache {
    path: PathBuf,
    map: HashMap<Vec<u8>, (Stat, Blob)>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CacheFile {
    version: u32,
    entries: Vec<(serde_bytes::ByteBuf, Stat, Blob)>,
}

impl StatCache {
    /// Load the cache kept in `path` (empty if there is none or it does not open with `keys`).
    pub fn load(path: &Path, keys: &Keys) -> Self {
        let mut map = HashMap::new();
        if let Ok(sealed) = std::fs::read(path) {
            if let Ok(plain) = keys.open(Kind::Workspace, PLACE, &sealed) {
                if let Ok(f) = ciborium::from_reader::<CacheFile, _>(plain.as_slice()) {
                    if f.version == VERSION {
                        map = f.entries.into_iter().map(|(p, s, b)| (p.into_vec(), (s, b))).collect();
                    }
                }
            }
        }
        Self { path: path.to_path_buf(), map }
    }

    /// The value stored from the file at `path` if its stat data are unchanged and every chunk it names is still
    /// known to the repository's dedup index.
    pub fn lookup(&self, store: &Store, path: &Path, meta: &Metadata) -> Option<&Blob> {
        let (stat, blob) = self.map.get(path.as_os_str().as_bytes())?;
        if *stat != stat_of(meta) || !known(store, blob) {
            return None;
        }
        Some(blob)
    }

    /// Forget every file under `dir` (before recording what a new walk of it found).
    pub fn forget_under(&mut self, dir: &Path) {
        let mut d = dir.as_os_str().as_bytes().to_vec();
        if !d.ends_with(b"/") {
            d.push(b'/');
        }
        self.map.retain(|p, _| !p.starts_with(&d));
    }

    /// Remember that the file at `path`, with stat data `meta` taken at `seen`, was stored as `blob`. Files
    /// changed within [`RACY_WINDOW`](super::RACY_WINDOW) of `seen` are not remembered.
    pub fn record(&mut self, path: &Path, meta: &Metadata, blob: &Blob, seen: SystemTime) {
        let limit = seen.checked_sub(super::RACY_WINDOW).and_then(|t| t.duration_since(UNIX_EPOCH).ok());
        let Some(limit) = limit else { return };
        let changed = |s: i64, ns: i64| (s, ns) >= (limit.as_secs() as i64, limit.subsec_nanos() as i64);
        if changed(meta.mtime(), meta.mtime_nsec()) || changed(meta.ctime(), meta.ctime_nsec()) {
            return;
        }
        self.map.insert(path.as_os_str().as_bytes().to_vec(), (stat_of(meta), blob.clone()));
    }

    /// Files remembered.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Write the cache back (sealed, replaced atomically).
    pub fn save(&self, keys: &Keys) -> Result<()> {
        let f = CacheFile {
            version: VERSION,
            entries: self
                .map
                .iter()
                .map(|(p, (s, b))| (serde_bytes::ByteBuf::from(p.clone()), *s, b.clone()))
                .collect(),
        };
        let mut plain = Vec::new();
        ciborium::into_writer(&f, &mut plain).expect("CBOR encoding into memory cannot fail");
        let sealed = keys.seal(Kind::Workspace, PLACE, &plain);
        let tmp = self.path.with_extension(format!("tmp{}", std::process::id()));
        let r = std::fs::write(&tmp, sealed).and_then(|()| std::fs::rename(&tmp, &self.path));
        if r.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        r.map_err(|e| Error::io(format!("writing {}", self.path.display()), e))
    }
}

/// Whether the chunks a value names are in the dedup index (not collected since they were written).
fn known(store: &Store, blob: &Blob) -> bool {
    match blob {
        Blob::Inline(_) => true,
        Blob::Chunks(c) => c.iter().all(|c| store.lookup(Kind::Data, &c.ptr.id).is_some()),
        Blob::Lists(l) => l.iter().all(|l| store.lookup(Kind::Index, &l.ptr.id).is_some()),
    }
}
