//! [`StatCache`]: which value each local file was stored as, and the stat data it had then.

use crate::engine::chunk::Blob;
use crate::engine::crypto::{Keys, Kind};
use crate::engine::{Error, Result};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Format of the cache file's plaintext; another version is ignored (the cache starts empty).
const VERSION: u32 = 2;
/// Associated data place of the sealed file.
const PLACE: &[u8] = b"stat-cache";

/// What is compared: device, inode, size, mtime (s, ns), ctime (s, ns).
type Stat = (u64, u64, u64, i64, i64, i64, i64);

fn stat_of(m: &Metadata) -> Stat {
    (m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec(), m.ctime(), m.ctime_nsec())
}

/// What identifies a stored value: SHA-256 of its content identity (inline bytes, or chunk ids and lengths),
/// truncated to 128 bits.
type Digest = [u8; 16];

fn digest(blob: &Blob) -> Digest {
    let mut h = Sha256::new();
    match blob {
        Blob::Inline(v) => {
            h.update(b"i");
            h.update(v);
        }
        Blob::Chunks(c) => {
            h.update(b"c");
            for c in c {
                h.update(c.len.to_le_bytes());
                h.update(c.ptr.id.0);
            }
        }
        Blob::Lists(l) => {
            h.update(b"l");
            for l in l {
                h.update(l.size.to_le_bytes());
                h.update(l.ptr.id.0);
            }
        }
    }
    h.finalize()[..16].try_into().expect("SHA-256 is 32 bytes")
}

/// A workspace's memory of the files it stored: absolute path -> stat data and which value was stored from the
/// file (a digest of the value's encoding; the value itself is the entry already in the namespace).
///
/// Kept in one sealed file (the paths are as private as the staged changes). A missing, unreadable or foreign
/// file is an empty cache: the cache only saves reads, it is never needed.
pub struct StatCache {
    path: PathBuf,
    /// Path -> stat data, digest, and whether this run has confirmed or recorded it.
    map: HashMap<Vec<u8>, (Stat, Digest, bool)>,
    /// Whether anything changed since loading.
    dirty: bool,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CacheFile {
    version: u32,
    entries: Vec<(serde_bytes::ByteBuf, Stat, serde_bytes::ByteArray<16>)>,
}

impl StatCache {
    /// Load the cache kept in `path` (empty if there is none or it does not open with `keys`).
    pub fn load(path: &Path, keys: &Keys) -> Self {
        let mut map = HashMap::new();
        if let Ok(sealed) = std::fs::read(path) {
            if let Ok(plain) = keys.open(Kind::Workspace, PLACE, &sealed) {
                if let Ok(f) = ciborium::from_reader::<CacheFile, _>(plain.as_slice()) {
                    if f.version == VERSION {
                        map =
                            f.entries.into_iter().map(|(p, s, d)| (p.into_vec(), (s, d.into_array(), false))).collect();
                    }
                }
            }
        }
        Self { path: path.to_path_buf(), map, dirty: false }
    }

    /// Whether the file at `path` still is what `blob` was stored from: its stat data are unchanged and `blob`
    /// (the entry the namespace holds for it) is the value stored from it then. A file found unchanged counts as
    /// seen by this run (see [`StatCache::forget_unseen_under`]).
    pub fn unchanged(&mut self, path: &Path, meta: &Metadata, blob: &Blob) -> bool {
        match self.map.get_mut(path.as_os_str().as_bytes()) {
            Some((stat, d, seen)) if *stat == stat_of(meta) && *d == digest(blob) => {
                *seen = true;
                true
            }
            _ => false,
        }
    }

    /// Remember that the file at `path`, with stat data `meta` taken at `seen`, was stored as `blob`. Files
    /// changed within [`RACY_WINDOW`](super::RACY_WINDOW) of `seen` are not remembered.
    pub fn record(&mut self, path: &Path, meta: &Metadata, blob: &Blob, seen: SystemTime) {
        let key = path.as_os_str().as_bytes();
        let limit = seen.checked_sub(super::RACY_WINDOW).and_then(|t| t.duration_since(UNIX_EPOCH).ok());
        let changed = |s: i64, ns: i64| match limit {
            Some(l) => (s, ns) >= (l.as_secs() as i64, l.subsec_nanos() as i64),
            None => true,
        };
        if changed(meta.mtime(), meta.mtime_nsec()) || changed(meta.ctime(), meta.ctime_nsec()) {
            self.dirty |= self.map.remove(key).is_some();
            return;
        }
        self.dirty = true;
        self.map.insert(key.to_vec(), (stat_of(meta), digest(blob), true));
    }

    /// Forget every file under `dir` this run has neither found unchanged nor recorded (files since removed,
    /// changed or unreadable).
    pub fn forget_unseen_under(&mut self, dir: &Path) {
        let mut d = dir.as_os_str().as_bytes().to_vec();
        if !d.ends_with(b"/") {
            d.push(b'/');
        }
        let before = self.map.len();
        self.map.retain(|p, (_, _, seen)| *seen || !p.starts_with(&d));
        self.dirty |= self.map.len() != before;
    }

    /// Write the cache back (sealed, replaced atomically) if anything changed.
    pub fn save(&self, keys: &Keys) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let f = CacheFile {
            version: VERSION,
            entries: self
                .map
                .iter()
                .map(|(p, (s, d, _))| (serde_bytes::ByteBuf::from(p.clone()), *s, serde_bytes::ByteArray::new(*d)))
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
