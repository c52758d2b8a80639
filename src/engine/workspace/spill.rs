//! The staging store: where a workspace keeps the index-tree nodes of a large set of staged changes, so that
//! staging a million keys does not hold them in memory (see [`VersionedMap::spill`](crate::fields::VersionedMap::spill)).
//!
//! ```text
//! .infini/staging/<segment>   sealed nodes appended one after another: sealed(node) ...
//! ```
//!
//! A node's pointer names its segment (in the pointer's object id), offset and sealed length. Nodes are sealed with
//! the repository key, bound to their place (segment and offset). Segments are only appended to; a node written by
//! a process that died before the staged file named it is unreachable garbage and harmless. The directory is
//! removed when nothing is staged any more.

use crate::engine::crypto::{Keys, Kind};
use crate::engine::id::ObjectId;
use crate::engine::object::ChunkPointer;
use crate::engine::tree::{NodeCache, NodeStore};
use crate::engine::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A segment is closed at this size (pointer offsets are 32 bits).
const SEGMENT_MAX: u64 = 1 << 30;

/// Nodes of staged changes in a workspace directory.
pub struct SpillStore {
    dir: PathBuf,
    keys: Arc<Keys>,
    /// The segment being appended to: number, file, length.
    open: Mutex<Option<(u64, File, u64)>>,
    /// Segments opened for reading.
    readers: Mutex<std::collections::HashMap<u64, Arc<File>>>,
    /// Decoded nodes, so that reading along the staged changes does not open the same nodes again and again.
    nodes: NodeCache,
}

/// Decoded staged-change nodes kept per store (at most 16 KiB each encoded).
const NODE_CACHE: usize = 512;

fn io_err(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::io(what, e)
}

fn segment_id(n: u64) -> ObjectId {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&n.to_le_bytes());
    ObjectId(b)
}

fn segment_of(ptr: &ChunkPointer) -> Result<u64> {
    let b = &ptr.object.0;
    if b[8..].iter().any(|&x| x != 0) {
        return Err(Error::integrity("staged changes: a node pointer names no staging segment"));
    }
    Ok(u64::from_le_bytes(b[..8].try_into().expect("8 bytes")))
}

fn place(n: u64, offset: u64) -> [u8; 16] {
    let mut p = [0u8; 16];
    p[..8].copy_from_slice(&n.to_le_bytes());
    p[8..].copy_from_slice(&offset.to_le_bytes());
    p
}

impl SpillStore {
    /// The staging store in `dir` (created on the first write).
    pub fn new(dir: &Path, keys: Arc<Keys>) -> Self {
        Self {
            dir: dir.to_path_buf(),
            keys,
            open: Mutex::new(None),
            readers: Mutex::default(),
            nodes: NodeCache::new(NODE_CACHE),
        }
    }

    fn segment_path(&self, n: u64) -> PathBuf {
        self.dir.join(format!("{n:08}"))
    }

    /// Make everything written to the staging directory durable, by this or any other instance (before a staged
    /// file that points at it is saved).
    pub fn sync(&self) -> Result<()> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(format!("listing {}", self.dir.display()), e)),
        };
        for e in entries {
            let path = e.map_err(io_err(format!("listing {}", self.dir.display())))?.path();
            File::open(&path).and_then(|f| f.sync_data()).map_err(io_err(format!("syncing {}", path.display())))?;
        }
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(io_err(format!("syncing {}", self.dir.display())))
    }

    /// Remove every segment (nothing staged refers to them any more).
    pub fn clear(&self) -> Result<()> {
        *self.open.lock().expect("staging lock") = None;
        self.readers.lock().expect("staging lock").clear();
        match fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(format!("removing {}", self.dir.display()), e)),
        }
    }

    /// Open the segment to append to: the last one if it has room, else a new one.
    fn open_segment(&self) -> Result<(u64, File, u64)> {
        fs::create_dir_all(&self.dir).map_err(io_err(format!("creating {}", self.dir.display())))?;
        let mut last = None;
        for e in fs::read_dir(&self.dir).map_err(io_err(format!("listing {}", self.dir.display())))? {
            let e = e.map_err(io_err(format!("listing {}", self.dir.display())))?;
            if let Some(n) = e.file_name().to_str().and_then(|s| s.parse::<u64>().ok()) {
                last = last.max(Some(n));
            }
        }
        let mut n = last.unwrap_or(0);
        loop {
            let path = self.segment_path(n);
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .read(true)
                .open(&path)
                .map_err(io_err(format!("opening {}", path.display())))?;
            let len = f.metadata().map_err(io_err(format!("reading {}", path.display())))?.len();
            if len < SEGMENT_MAX {
                return Ok((n, f, len));
            }
            n += 1;
        }
    }

    fn reader(&self, n: u64) -> Result<Arc<File>> {
        let mut r = self.readers.lock().expect("staging lock");
        if let Some(f) = r.get(&n) {
            return Ok(f.clone());
        }
        let path = self.segment_path(n);
        let f = Arc::new(crate::engine::local_file::open_regular(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::integrity(format!("staged changes: {} is missing", path.display()))
            } else {
                Error::io(format!("opening {}", path.display()), e)
            }
        })?);
        r.insert(n, f.clone());
        Ok(f)
    }
}

impl NodeStore for SpillStore {
    fn put_node(&self, bytes: &[u8]) -> Result<ChunkPointer> {
        let mut open = self.open.lock().expect("staging lock");
        if open.as_ref().is_none_or(|(_, _, len)| *len >= SEGMENT_MAX) {
            if let Some((n, f, _)) = open.take() {
                f.sync_data().map_err(io_err(format!("syncing {}", self.segment_path(n).display())))?;
            }
            *open = Some(self.open_segment()?);
        }
        let (n, f, len) = open.as_mut().expect("just opened");
        let offset = *len;
        let sealed = self.keys.seal(Kind::Workspace, &place(*n, offset), bytes);
        f.write_all(&sealed).map_err(io_err(format!("writing {}", self.segment_path(*n).display())))?;
        *len += sealed.len() as u64;
        Ok(ChunkPointer {
            object: segment_id(*n),
            offset: offset as u32,
            len: sealed.len() as u32,
            id: self.keys.chunk_id(bytes),
        })
    }

    fn get_node(&self, ptr: &ChunkPointer) -> Result<Arc<Vec<u8>>> {
        let n = segment_of(ptr)?;
        let f = self.reader(n)?;
        let mut sealed = vec![0u8; ptr.len as usize];
        f.read_exact_at(&mut sealed, ptr.offset as u64).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Error::integrity(format!("staged changes: {} is truncated", self.segment_path(n).display()))
            } else {
                Error::io(format!("reading {}", self.segment_path(n).display()), e)
            }
        })?;
        let plain = self
            .keys
            .open(Kind::Workspace, &place(n, ptr.offset as u64), &sealed)
            .map_err(|_| Error::integrity("staged changes: a node does not authenticate"))?;
        Ok(Arc::new(plain))
    }

    fn node_cache(&self) -> Option<&NodeCache> {
        Some(&self.nodes)
    }
}
