//! [`StatCache`]: which value each local file was stored as, and the stat data it had then.
//!
//! ```text
//! file  = magic "INFINI-STAT-CACHE-3\n" || block*
//! block = len:u32 || seal(Workspace, place = "stat-cache" || n:u64, CBOR [[path, stat, digest], ...])
//! ```
//!
//! Entries are sorted by path (bytes) across the whole file, `n` numbers the blocks from 0, and a block holds up to
//! about 64 KiB of entries. A walk reads the file along with the tree (the walk's order is the paths' order) and
//! writes the new file as it goes, so memory holds one block of each, however many files the tree has.

use crate::engine::chunk::Blob;
use crate::engine::crypto::{Keys, Kind};
use crate::engine::{Error, Result};
use sha2::{Digest as _, Sha256};
use std::collections::VecDeque;
use std::fs::Metadata;
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The file's first bytes (the format: another one is ignored, and the cache starts empty).
const MAGIC: &[u8] = b"INFINI-STAT-CACHE-3\n";
/// Associated data place of the sealed blocks (followed by the block number).
const PLACE: &[u8] = b"stat-cache";
/// Plaintext bytes after which a block is sealed.
const BLOCK: usize = 64 * 1024;
/// A block longer than this is damage (ends the cache).
const BLOCK_MAX: usize = 16 << 20;

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

/// One remembered file: path, stat data, digest of the value stored from it.
type Remembered = (serde_bytes::ByteBuf, Stat, serde_bytes::ByteArray<16>);

fn place(n: u64) -> Vec<u8> {
    let mut p = PLACE.to_vec();
    p.extend_from_slice(&n.to_le_bytes());
    p
}

/// The entries of a cache file, in path order, a block at a time. Damage (or the end) ends them.
struct Reader<'k> {
    file: Option<BufReader<std::fs::File>>,
    keys: &'k Keys,
    block: u64,
    buf: VecDeque<Remembered>,
}

impl Reader<'_> {
    fn open<'k>(path: &Path, keys: &'k Keys) -> Reader<'k> {
        // Only a regular file (its size is the bound of what is read), never a FIFO or device in its place.
        let mut file = crate::engine::local_file::open_regular(path).ok().map(BufReader::new);
        let mut magic = vec![0u8; MAGIC.len()];
        if file.as_mut().is_some_and(|f| f.read_exact(&mut magic).is_err() || magic != MAGIC) {
            file = None;
        }
        Reader { file, keys, block: 0, buf: VecDeque::new() }
    }

    fn read_block(&mut self) -> Option<Vec<Remembered>> {
        let f = self.file.as_mut()?;
        let mut len = [0u8; 4];
        f.read_exact(&mut len).ok()?;
        let len = u32::from_le_bytes(len) as usize;
        if len > BLOCK_MAX {
            return None;
        }
        let mut sealed = vec![0u8; len];
        f.read_exact(&mut sealed).ok()?;
        let plain = self.keys.open(Kind::Workspace, &place(self.block), &sealed).ok()?;
        self.block += 1;
        ciborium::from_reader(plain.as_slice()).ok()
    }

    fn peek(&mut self) -> Option<&Remembered> {
        while self.buf.is_empty() {
            match self.read_block() {
                Some(b) => self.buf.extend(b),
                None => {
                    self.file = None;
                    return None;
                }
            }
        }
        self.buf.front()
    }

    fn next(&mut self) -> Option<Remembered> {
        self.peek()?;
        self.buf.pop_front()
    }
}

/// Writes a cache file to a temporary file, in path order, a block at a time; renamed over the cache at the end.
struct Writer<'k> {
    tmp: PathBuf,
    file: BufWriter<std::fs::File>,
    keys: &'k Keys,
    block: u64,
    pending: Vec<Remembered>,
    pending_bytes: usize,
    last: Option<Vec<u8>>,
}

impl Writer<'_> {
    fn create<'k>(path: &Path, keys: &'k Keys) -> Result<Writer<'k>> {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let mut file = BufWriter::new(
            std::fs::File::create(&tmp).map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?,
        );
        file.write_all(MAGIC).map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
        Ok(Writer { tmp, file, keys, block: 0, pending: Vec::new(), pending_bytes: 0, last: None })
    }

    /// Add an entry; one not after the last one added is left out (the file stays sorted).
    fn push(&mut self, e: Remembered) -> Result<()> {
        if self.last.as_deref().is_some_and(|l| l >= e.0.as_slice()) {
            return Ok(());
        }
        self.last = Some(e.0.to_vec());
        self.pending_bytes += e.0.len() + 80;
        self.pending.push(e);
        if self.pending_bytes >= BLOCK {
            self.flush_block()?;
        }
        Ok(())
    }

    fn flush_block(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut plain = Vec::with_capacity(self.pending_bytes);
        ciborium::into_writer(&self.pending, &mut plain).expect("CBOR encoding into memory cannot fail");
        let sealed = self.keys.seal(Kind::Workspace, &place(self.block), &plain);
        self.block += 1;
        self.pending.clear();
        self.pending_bytes = 0;
        let tmp = &self.tmp;
        self.file
            .write_all(&(sealed.len() as u32).to_le_bytes())
            .and_then(|()| self.file.write_all(&sealed))
            .map_err(|e| Error::io(format!("writing {}", tmp.display()), e))
    }
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        // Left behind only when the walk failed (a finished writer has renamed it).
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// A workspace's memory of the files it stored: absolute path -> stat data and which value was stored from the
/// file (a digest of the value's encoding; the value itself is the entry already in the namespace).
///
/// Kept in one file of sealed blocks (the paths are as private as the staged changes), sorted by path. A walk of a
/// directory opens it ([`StatCache::load`]), asks about and records its files in path order, and
/// [`finish`](StatCache::finish)es: the new file keeps what it had outside the directory, and under it exactly the
/// files this walk confirmed or recorded. A missing, unreadable or foreign file is an empty cache: the cache only
/// saves reads, it is never needed.
pub struct StatCache<'k> {
    path: PathBuf,
    /// The walked directory with a `/` after it.
    dir: Vec<u8>,
    old: Reader<'k>,
    new: Option<Writer<'k>>,
}

impl<'k> StatCache<'k> {
    /// Open the cache kept in `path` (empty if there is none or it does not open with `keys`) for a walk of `dir`
    /// (absolute, canonical). Fails only when the new file cannot be created.
    pub fn load(path: &Path, keys: &'k Keys, dir: &Path) -> Result<Self> {
        let mut d = dir.as_os_str().as_bytes().to_vec();
        if !d.ends_with(b"/") {
            d.push(b'/');
        }
        Ok(Self {
            path: path.to_path_buf(),
            dir: d,
            old: Reader::open(path, keys),
            new: Some(Writer::create(path, keys)?),
        })
    }

    /// Move along the old file up to `path`: entries before it are kept if outside the walked directory (files
    /// under it that the walk did not confirm are forgotten); `path`'s own entry is returned, consumed.
    fn advance_to(&mut self, path: &[u8]) -> Result<Option<Remembered>> {
        while let Some(e) = self.old.peek() {
            match e.0.as_slice().cmp(path) {
                std::cmp::Ordering::Less => {
                    let e = self.old.next().expect("peeked");
                    if !e.0.starts_with(&self.dir) {
                        self.writer().push(e)?;
                    }
                }
                std::cmp::Ordering::Equal => return Ok(self.old.next()),
                std::cmp::Ordering::Greater => break,
            }
        }
        Ok(None)
    }

    fn writer(&mut self) -> &mut Writer<'k> {
        self.new.as_mut().expect("the cache is written until finished")
    }

    /// Whether the file at `path` still is what `blob` was stored from: its stat data are unchanged and `blob`
    /// (the entry the namespace holds for it) is the value stored from it then. Files are asked about in path
    /// order; a file found unchanged is to be [`kept`](StatCache::keep).
    pub fn unchanged(&mut self, path: &Path, meta: &Metadata, blob: &Blob) -> Result<bool> {
        Ok(match self.advance_to(path.as_os_str().as_bytes())? {
            Some((_, stat, d)) => stat == stat_of(meta) && d.into_array() == digest(blob),
            None => false,
        })
    }

    /// Keep the file at `path`, found unchanged, as remembered.
    pub fn keep(&mut self, path: &Path, meta: &Metadata, blob: &Blob) -> Result<()> {
        let key = path.as_os_str().as_bytes();
        self.advance_to(key)?;
        let e = (serde_bytes::ByteBuf::from(key.to_vec()), stat_of(meta), serde_bytes::ByteArray::new(digest(blob)));
        self.writer().push(e)
    }

    /// Remember that the file at `path`, with stat data `meta` taken at `seen`, was stored as `blob` (in path order
    /// with the other files of the walk). Files changed within [`RACY_WINDOW`](super::RACY_WINDOW) of `seen` are
    /// not remembered.
    pub fn record(&mut self, path: &Path, meta: &Metadata, blob: &Blob, seen: SystemTime) -> Result<()> {
        let limit = seen.checked_sub(super::RACY_WINDOW).and_then(|t| t.duration_since(UNIX_EPOCH).ok());
        let changed = |s: i64, ns: i64| match limit {
            Some(l) => (s, ns) >= (l.as_secs() as i64, l.subsec_nanos() as i64),
            None => true,
        };
        if changed(meta.mtime(), meta.mtime_nsec()) || changed(meta.ctime(), meta.ctime_nsec()) {
            self.advance_to(path.as_os_str().as_bytes())?;
            return Ok(());
        }
        self.keep(path, meta, blob)
    }

    /// Write the new cache: what is left of the old one outside the walked directory is kept, and the file
    /// replaces the old one.
    pub fn finish(mut self) -> Result<()> {
        while let Some(e) = self.old.next() {
            if !e.0.starts_with(&self.dir) {
                self.writer().push(e)?;
            }
        }
        let mut w = self.new.take().expect("finished once");
        w.flush_block()?;
        let tmp = w.tmp.clone();
        w.file.flush().map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| Error::io(format!("writing {}", self.path.display()), e))?;
        Ok(())
    }
}
