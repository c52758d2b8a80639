//! A repository in a local directory: the embedded default.
//!
//! Objects are files, written to `tmp/` first, then hard-linked into place (a link fails if the name is taken, so
//! writes are create-only even between processes). Object files and their directories are durable once
//! [`Backend::sync`] returns, which writers call before a ref may point at them; refs are fsynced on every swap.
//! Each object file is fsynced in the background as soon as it is written, so that its write-back overlaps the
//! work that follows rather than all falling into `sync` at the end of a put (40 packs of 16 MiB took 0.3 s there).
//!
//! Large objects whose bytes sit at an aligned address (packs, see
//! [`PACK_ALIGN`](crate::engine::object::PACK_ALIGN)) are written with direct I/O on Linux: from the pack's buffer
//! straight to the disk, without first copying them into page-cache memory the kernel must find, fill and later
//! write back (for 640 MiB here: 0.18 s of system time against 2.2 s). A filesystem that refuses direct I/O is
//! written through the page cache from then on.
//!
//! A ref is a directory `refs/<name>/` of numbered generations. The current value is the highest generation.
//! Compare-and-swap from generation `g` hard-links a new file as `g + 1`: the link either creates that name or fails,
//! so of any writers racing from the same generation exactly one wins. No lock files are involved, so nothing can
//! be left stale by a killed process. Old generations are pruned by the winner.

use super::{BResult, Backend, BackendError, ObjectInfo, RefVersion, MAX_OBJECT_READ};
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};

/// A backend rooted at a local directory.
pub struct DirBackend {
    root: PathBuf,
    /// Objects written since the last [`Backend::sync`].
    unsynced: Mutex<Vec<PathBuf>>,
    /// Fsyncs object files in the background as they are written.
    early: EarlySync,
    /// Direct I/O not yet refused by this filesystem.
    direct: AtomicBool,
    /// Objects written by direct I/O.
    direct_writes: AtomicU64,
    /// Direct reads not yet refused by this filesystem.
    direct_reads: AtomicBool,
}

/// Ranges at least this long (a data chunk, typically) are read by direct I/O: packs are written around the page
/// cache, so a read through it would allocate and fill page-cache memory for bytes read once (after a put of the
/// benchmark stream, 1.38 s of system time for its get, against 0.2 s reading the same bytes directly). Smaller
/// reads (index nodes, tables, a mount's small files) go through the cache, where repeated reads find them.
const DIRECT_READ_MIN: u64 = 256 << 10;

/// Read `len` bytes at `offset` of `path` by direct I/O: the aligned span around them into an aligned buffer, then
/// the bytes asked for (fewer at the end of the file).
#[cfg(target_os = "linux")]
fn read_direct(path: &Path, offset: u64, len: usize, spare: Vec<u8>) -> io::Result<(Vec<u8>, usize)> {
    use std::os::unix::fs::{FileExt, OpenOptionsExt};
    refused_in_tests(path)?;
    let f = fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECT).open(path)?;
    let a = DIRECT_ALIGN as u64;
    let start = offset / a * a;
    let span = ((offset + len as u64).div_ceil(a) * a - start) as usize;
    let mut buf = spare;
    buf.resize(span + DIRECT_ALIGN, 0);
    let at = (DIRECT_ALIGN - buf.as_ptr() as usize % DIRECT_ALIGN) % DIRECT_ALIGN;
    let mut got = 0;
    while got < span {
        match f.read_at(&mut buf[at + got..at + span], start + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        // A short read that is not block-aligned is the end of the file.
        if !got.is_multiple_of(DIRECT_ALIGN) {
            break;
        }
    }
    // The bytes asked for are `buf[at + skip..]`: handed over where they are, not copied.
    let skip = (offset - start) as usize;
    let end = got.min(skip + len).max(skip);
    buf.truncate(at + end);
    Ok((buf, at + skip))
}

#[cfg(not(target_os = "linux"))]
fn read_direct(_: &Path, _: u64, _: usize, _: Vec<u8>) -> io::Result<(Vec<u8>, usize)> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Objects at least this large, at an address and of a length aligned to [`DIRECT_ALIGN`], are written by direct
/// I/O (smaller ones gain nothing from it).
const DIRECT_MIN: usize = 1 << 20;
/// The alignment direct I/O asks of a buffer, its length and the file offset on any disk (512 on most).
const DIRECT_ALIGN: usize = 4096;

fn direct_eligible(data: &[u8]) -> bool {
    data.len() >= DIRECT_MIN
        && data.len().is_multiple_of(DIRECT_ALIGN)
        && (data.as_ptr() as usize).is_multiple_of(DIRECT_ALIGN)
}

/// Create `path` and write `data` to it by direct I/O.
#[cfg(target_os = "linux")]
/// Create `dest`'s directory if it is missing, and make its entry durable in the directory above. A delete may
/// remove the directory at any moment once it is empty (see `delete`), even between `mkdir` finding it there and a
/// look at it: that is tried again.
fn make_parent(dest: &Path) -> io::Result<()> {
    let Some(parent) = dest.parent() else { return Ok(()) };
    for _ in 0..16 {
        if parent.is_dir() {
            return Ok(());
        }
        match fs::create_dir_all(parent) {
            Ok(()) => {
                if let Some(gp) = parent.parent() {
                    sync_dir(gp)?;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    // Removed again every time: the write's link reports it.
    Ok(())
}

fn write_direct(path: &Path, data: &[u8]) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new().write(true).create_new(true).custom_flags(libc::O_DIRECT).open(path)?;
    refused_in_tests(path)?;
    f.write_all(data)?;
    Ok(f)
}

/// Tests stand in a filesystem that refuses direct I/O (as ramfs does, and tmpfs before Linux 6.6) by a directory
/// of this name on the path: direct opens for reading and direct writes fail there with `EINVAL`.
#[cfg(test)]
const REFUSES_DIRECT: &str = "refuses-direct-io";

#[cfg(target_os = "linux")]
fn refused_in_tests(path: &Path) -> io::Result<()> {
    #[cfg(test)]
    if path.components().any(|c| c.as_os_str() == REFUSES_DIRECT) {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let _ = path;
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn write_direct(_: &Path, _: &[u8]) -> io::Result<File> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Whether a direct write failed because the filesystem (or the alignment) does not allow it, rather than for a
/// reason a buffered write would meet too.
fn direct_refused(e: &io::Error) -> bool {
    #[cfg(target_os = "linux")]
    if e.raw_os_error() == Some(libc::EINVAL) {
        return true;
    }
    e.kind() == io::ErrorKind::Unsupported
}

/// A thread that fsyncs each object file as soon as it is written. [`Backend::sync`] waits for it, skips the files
/// it made durable and fsyncs the rest (any it failed on) itself, so durability never depends on it.
#[derive(Default)]
struct EarlySync {
    tx: Mutex<Option<mpsc::Sender<PathBuf>>>,
    state: Arc<(Mutex<EarlyState>, Condvar)>,
}

#[derive(Default)]
struct EarlyState {
    /// Sent to the thread and not yet handled.
    queued: usize,
    /// Made durable since the last `sync`.
    done: std::collections::HashSet<PathBuf>,
}

impl EarlySync {
    fn send(&self, path: PathBuf) {
        let mut tx = self.tx.lock().expect("early sync lock");
        if tx.is_none() {
            let (t, rx) = mpsc::channel::<PathBuf>();
            let state = self.state.clone();
            let spawned = std::thread::Builder::new().name("infini-fsync".into()).spawn(move || {
                for p in rx {
                    let ok = File::open(&p).and_then(|f| f.sync_all()).is_ok();
                    let (lock, cv) = &*state;
                    let mut st = lock.lock().expect("early sync lock");
                    if ok {
                        st.done.insert(p);
                    }
                    st.queued -= 1;
                    cv.notify_all();
                }
            });
            if spawned.is_err() {
                return; // `sync` fsyncs the file itself.
            }
            *tx = Some(t);
        }
        let (lock, _) = &*self.state;
        lock.lock().expect("early sync lock").queued += 1;
        if tx.as_ref().is_some_and(|t| t.send(path).is_err()) {
            lock.lock().expect("early sync lock").queued -= 1;
        }
    }

    /// Wait for the thread to handle everything sent; returns the files it made durable.
    fn drain(&self) -> std::collections::HashSet<PathBuf> {
        let (lock, cv) = &*self.state;
        let mut st = lock.lock().expect("early sync lock");
        while st.queued > 0 {
            st = cv.wait(st).expect("early sync lock");
        }
        std::mem::take(&mut st.done)
    }
}

const GEN_WIDTH: usize = 20;

/// Generations kept behind the newest: one, for a reader that listed the ref just before it moved (a reader that
/// finds its generation gone lists again). Every generation is a whole ref (4 KiB, or the gc ref's size class), so
/// each one more kept is that much more storage per ref. A stalled writer that links a pruned generation is caught
/// by the check after linking (its predecessor is gone too), whatever the distance.
const PRUNE_DISTANCE: u64 = 1;

impl DirBackend {
    /// Open (or prepare) a directory backend at `root`. The directory is created if missing.
    pub fn new(root: impl Into<PathBuf>) -> BResult<Self> {
        let root = root.into();
        let b = Self {
            root,
            unsynced: Default::default(),
            early: EarlySync::default(),
            direct: AtomicBool::new(true),
            direct_writes: AtomicU64::new(0),
            direct_reads: AtomicBool::new(true),
        };
        for d in ["tmp", "refs", "objects", "keys"] {
            fs::create_dir_all(b.root.join(d)).map_err(|e| b.err("init", d, e))?;
        }
        b.remove_stale_temps();
        Ok(b)
    }

    /// Remove temporary files a killed writer left behind (older than an hour, so no live write is touched).
    fn remove_stale_temps(&self) {
        let Ok(entries) = fs::read_dir(self.root.join("tmp")) else { return };
        let cutoff = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for e in entries.flatten() {
            let old = e.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < cutoff);
            if old {
                let _ = fs::remove_file(e.path());
            }
        }
    }

    /// The directory this backend stores into.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// `len` bytes at `offset` of object `name`, through the page cache.
    fn read_buffered(&self, name: &str, offset: u64, len: u64) -> BResult<Vec<u8>> {
        let r = (|| {
            let mut f = File::open(self.path(name))?;
            f.seek(SeekFrom::Start(offset))?;
            let mut buf = Vec::with_capacity(len.min(MAX_OBJECT_READ) as usize);
            f.take(len).read_to_end(&mut buf)?;
            Ok(buf)
        })();
        r.map_err(|e| self.err("read", name, e))
    }

    fn err(&self, op: &'static str, name: &str, e: io::Error) -> BackendError {
        if e.kind() == io::ErrorKind::NotFound {
            return BackendError::NotFound { name: name.to_string() };
        }
        let message = match e.raw_os_error() {
            Some(28) => "no space left on device".to_string(),
            _ => e.to_string(),
        };
        let transient = matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::TimedOut);
        let backend = self.root.display().to_string();
        if transient {
            BackendError::Transient { backend, op, name: name.to_string(), message }
        } else {
            BackendError::Permanent { backend, op, name: name.to_string(), message }
        }
    }

    /// Write `data` to a fresh temporary file (fsynced with `sync`); returns its path.
    fn write_temp(&self, data: &[u8], sync: bool) -> io::Result<PathBuf> {
        let tmp = self.root.join("tmp").join(format!("{}.tmp", hex::encode(rand::random::<[u8; 16]>())));
        let r = self.write_file(&tmp, data).and_then(|f| if sync { f.sync_all() } else { Ok(()) });
        if let Err(e) = r {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        Ok(tmp)
    }

    /// Create `path` holding `data`: by direct I/O where the bytes allow it and the filesystem takes it.
    fn write_file(&self, path: &Path, data: &[u8]) -> io::Result<File> {
        if direct_eligible(data) && self.direct.load(Ordering::Relaxed) {
            match write_direct(path, data) {
                Ok(f) => {
                    self.direct_writes.fetch_add(1, Ordering::Relaxed);
                    return Ok(f);
                }
                Err(e) if direct_refused(&e) => {
                    self.direct.store(false, Ordering::Relaxed);
                    let _ = fs::remove_file(path);
                }
                Err(e) => return Err(e),
            }
        }
        let mut f = fs::OpenOptions::new().write(true).create_new(true).open(path)?;
        f.write_all(data)?;
        Ok(f)
    }

    /// Link `tmp` to `dest` (failing if it exists), remove `tmp`, fsync the directory if `sync`.
    fn link_into_place(&self, tmp: &Path, dest: &Path, sync: bool) -> io::Result<()> {
        let r = fs::hard_link(tmp, dest);
        let _ = fs::remove_file(tmp);
        r?;
        if let (Some(parent), true) = (dest.parent(), sync) {
            sync_dir(parent)?;
        }
        Ok(())
    }

    fn generations(&self, name: &str) -> io::Result<Vec<u64>> {
        let dir = self.path(&format!("refs/{name}"));
        let mut gens = Vec::new();
        for e in fs::read_dir(dir)? {
            let e = e?;
            if let Some(g) = e.file_name().to_str().and_then(|s| s.parse::<u64>().ok()) {
                gens.push(g);
            }
        }
        gens.sort_unstable();
        Ok(gens)
    }

    fn gen_path(&self, name: &str, gen: u64) -> PathBuf {
        self.path(&format!("refs/{name}/{gen:0width$}", width = GEN_WIDTH))
    }

    fn current_gen(&self, name: &str) -> BResult<Option<u64>> {
        match self.generations(name) {
            Ok(g) => Ok(g.last().copied()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err("read ref", name, e)),
        }
    }
}

/// Read a whole file of at most [`MAX_OBJECT_READ`] bytes; a larger one is refused before anything is allocated.
fn read_capped(path: &Path) -> io::Result<Vec<u8>> {
    let f = File::open(path)?;
    let size = f.metadata()?.len();
    if size > MAX_OBJECT_READ {
        return Err(io::Error::other(format!("{size} bytes is larger than any object the format has")));
    }
    let mut buf = Vec::with_capacity(size as usize);
    f.take(MAX_OBJECT_READ + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_OBJECT_READ {
        return Err(io::Error::other("object grew beyond any size the format has while being read"));
    }
    Ok(buf)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn check_name(name: &str) -> BResult<()> {
    let ok = !name.is_empty()
        && !name.starts_with('/')
        && name.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(BackendError::Permanent {
            backend: "dir".into(),
            op: "name",
            name: name.into(),
            message: "invalid object name".into(),
        })
    }
}

impl Backend for DirBackend {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn read(&self, name: &str) -> BResult<Vec<u8>> {
        check_name(name)?;
        read_capped(&self.path(name)).map_err(|e| self.err("read", name, e))
    }

    fn read_range(&self, name: &str, offset: u64, len: u64) -> BResult<Vec<u8>> {
        let (mut buf, start) = self.read_range_in(name, offset, len, Vec::new())?;
        if start > 0 {
            buf.drain(..start);
        }
        Ok(buf)
    }

    fn read_range_in(&self, name: &str, offset: u64, len: u64, spare: Vec<u8>) -> BResult<(Vec<u8>, usize)> {
        check_name(name)?;
        if (DIRECT_READ_MIN..=MAX_OBJECT_READ).contains(&len) && self.direct_reads.load(Ordering::Relaxed) {
            match read_direct(&self.path(name), offset, len as usize, spare) {
                Ok(b) => return Ok(b),
                Err(e) if direct_refused(&e) => self.direct_reads.store(false, Ordering::Relaxed),
                Err(e) => return Err(self.err("read", name, e)),
            }
        }
        self.read_buffered(name, offset, len).map(|b| (b, 0))
    }

    fn read_tail(&self, name: &str, len: u64) -> BResult<Vec<u8>> {
        check_name(name)?;
        let r = (|| {
            let mut f = File::open(self.path(name))?;
            let size = f.metadata()?.len();
            f.seek(SeekFrom::Start(size.saturating_sub(len)))?;
            let mut buf = Vec::new();
            f.read_to_end(&mut buf)?;
            Ok(buf)
        })();
        r.map_err(|e| self.err("read", name, e))
    }

    fn write(&self, name: &str, data: &[u8]) -> BResult<()> {
        check_name(name)?;
        let dest = self.path(name);
        let r = (|| -> io::Result<()> {
            make_parent(&dest)?;
            let tmp = self.write_temp(data, false)?;
            // A delete may remove the object's directory once it is empty (see `delete`), between its creation
            // above and the link: create it again and link again.
            let mut linked = fs::hard_link(&tmp, &dest);
            for _ in 0..16 {
                match &linked {
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        make_parent(&dest)?;
                        linked = fs::hard_link(&tmp, &dest);
                    }
                    _ => break,
                }
            }
            let _ = fs::remove_file(&tmp);
            linked?;
            self.unsynced.lock().expect("unsynced lock").push(dest.clone());
            self.early.send(dest.clone());
            Ok(())
        })();
        r.map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                BackendError::AlreadyExists { name: name.into() }
            } else {
                self.err("write", name, e)
            }
        })
    }

    fn list(&self, prefix: &str) -> BResult<Vec<ObjectInfo>> {
        // Walk the deepest directory named entirely by the prefix, then filter.
        let dir_part = match prefix.rfind('/') {
            Some(i) => &prefix[..i],
            None => "",
        };
        let start = if dir_part.is_empty() { self.root.clone() } else { self.path(dir_part) };
        let mut out = Vec::new();
        let mut stack = vec![start];
        while let Some(d) = stack.pop() {
            let entries = match fs::read_dir(&d) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(self.err("list", prefix, e)),
            };
            for e in entries {
                let e = e.map_err(|e| self.err("list", prefix, e))?;
                let path = e.path();
                let rel = match path.strip_prefix(&self.root).ok().and_then(|p| p.to_str()) {
                    Some(r) => r.to_string(),
                    None => continue,
                };
                if rel == "tmp" || rel == "refs" {
                    continue;
                }
                let ft = e.file_type().map_err(|e| self.err("list", prefix, e))?;
                if ft.is_dir() {
                    if prefix.starts_with(&format!("{rel}/")) || rel.starts_with(prefix) {
                        stack.push(path);
                    }
                } else if rel.starts_with(prefix) {
                    let meta = e.metadata().map_err(|e| self.err("list", prefix, e))?;
                    let modified = meta
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map(|d| d.as_secs());
                    out.push(ObjectInfo { name: rel, size: meta.len(), modified });
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn delete(&self, name: &str) -> BResult<()> {
        check_name(name)?;
        match fs::remove_file(self.path(name)) {
            Ok(()) => {
                // An object's fan-out directory (`objects/ab/`) goes once its last object has: a repository whose
                // packs garbage collection merged would otherwise keep up to 256 empty directories of a block each.
                // Best effort: a directory another object is in is not removed, and a write racing this one makes
                // it again.
                if name.matches('/').count() >= 2 {
                    if let Some(parent) = self.path(name).parent() {
                        let _ = fs::remove_dir(parent);
                    }
                }
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.err("delete", name, e)),
        }
    }

    fn read_ref(&self, name: &str) -> BResult<Option<(Vec<u8>, RefVersion)>> {
        check_name(name)?;
        // A generation may be pruned between listing and reading; list again then.
        for _ in 0..16 {
            let Some(g) = self.current_gen(name)? else {
                return Ok(None);
            };
            match read_capped(&self.gen_path(name, g)) {
                Ok(d) => return Ok(Some((d, RefVersion(g.to_string())))),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(self.err("read ref", name, e)),
            }
        }
        Err(BackendError::Transient {
            backend: self.describe(),
            op: "read ref",
            name: name.into(),
            message: "ref keeps changing while being read".into(),
        })
    }

    fn swap_ref(&self, name: &str, expected: Option<&RefVersion>, data: &[u8]) -> BResult<RefVersion> {
        check_name(name)?;
        let lost = || BackendError::PreconditionFailed { name: name.into() };
        let current = self.current_gen(name)?;
        let next = match (current, expected) {
            // Racing creators must all aim at the same name, so a new ref starts at generation 1.
            (None, None) => 1,
            (Some(c), Some(e)) if e.0.parse::<u64>().ok() == Some(c) => {
                c.checked_add(1).ok_or_else(|| BackendError::Permanent {
                    backend: self.describe(),
                    op: "swap ref",
                    name: name.into(),
                    message: format!("ref generation {c} cannot be incremented (counter exhausted or planted)"),
                })?
            }
            _ => return Err(lost()),
        };
        let dir = self.path(&format!("refs/{name}"));
        let r = (|| {
            if !dir.exists() {
                fs::create_dir_all(&dir)?;
                sync_dir(&self.root.join("refs"))?;
            }
            let tmp = self.write_temp(data, true)?;
            // Check again right before linking: the temporary write (with its fsync) can take long enough for
            // other writers to move the ref on.
            if self.current_gen(name).ok().flatten() != current {
                let _ = fs::remove_file(&tmp);
                return Err(io::Error::from(io::ErrorKind::AlreadyExists));
            }
            self.link_into_place(&tmp, &self.gen_path(name, next), true)
        })();
        match r {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(lost()),
            Err(e) => return Err(self.err("swap ref", name, e)),
        }
        // A writer that stalled between reading the current generation and linking can find its `next` pruned
        // away after others went further, link it, and be invisible (a higher generation exists). Generations are
        // pruned only far behind the newest, so then `next - 1` is gone as well: that is a lost race, never a win.
        let gens = self.generations(name).map_err(|e| self.err("swap ref", name, e))?;
        if gens.last().is_some_and(|&g| g > next) && next > 1 && !gens.contains(&(next - 1)) {
            let _ = fs::remove_file(self.gen_path(name, next));
            return Err(lost());
        }
        // Prune generations far older than the one we replaced; a reader may still be reading recent ones.
        for g in gens.into_iter().filter(|&g| g.saturating_add(PRUNE_DISTANCE) < next) {
            let _ = fs::remove_file(self.gen_path(name, g));
        }
        Ok(RefVersion(next.to_string()))
    }

    fn delete_ref(&self, name: &str) -> BResult<()> {
        check_name(name)?;
        match fs::remove_dir_all(self.path(&format!("refs/{name}"))) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.err("delete ref", name, e)),
        }
    }

    fn sync(&self) -> BResult<()> {
        let paths = std::mem::take(&mut *self.unsynced.lock().expect("unsynced lock"));
        let done = self.early.drain();
        let mut dirs = std::collections::BTreeSet::new();
        for p in &paths {
            if done.contains(p) {
                if !p.exists() {
                    continue; // deleted since, as below
                }
            } else {
                match File::open(p).and_then(|f| f.sync_all()) {
                    // Written and deleted since (gc's clock probe): nothing to make durable.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    r => r.map_err(|e| self.err("sync", &p.display().to_string(), e))?,
                }
            }
            if let Some(d) = p.parent() {
                dirs.insert(d.to_path_buf());
            }
        }
        for d in dirs {
            match sync_dir(&d) {
                // Emptied and removed since (see `delete`): nothing in it to make durable.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                r => r.map_err(|e| self.err("sync", &d.display().to_string(), e))?,
            }
        }
        Ok(())
    }

    fn list_refs(&self) -> BResult<Vec<String>> {
        let mut out = Vec::new();
        let entries = fs::read_dir(self.root.join("refs")).map_err(|e| self.err("list refs", "refs", e))?;
        for e in entries {
            let e = e.map_err(|e| self.err("list refs", "refs", e))?;
            if let Some(n) = e.file_name().to_str() {
                out.push(n.to_string());
            }
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn conformance() {
        let dir = tempfile::tempdir().unwrap();
        super::super::conformance::run_all(Arc::new(DirBackend::new(dir.path().join("repo")).unwrap()));
    }

    #[test]
    fn aligned_large_objects_go_by_direct_io_and_every_object_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let b = DirBackend::new(dir.path().join("repo")).unwrap();
        let mut buf = vec![0u8; 3 * DIRECT_MIN + 2 * DIRECT_ALIGN];
        rand::Rng::fill(&mut rand::thread_rng(), &mut buf[..]);
        let at = (DIRECT_ALIGN - buf.as_ptr() as usize % DIRECT_ALIGN) % DIRECT_ALIGN;
        let aligned = &buf[at..at + 2 * DIRECT_MIN];
        let cases: [(&str, &[u8]); 4] = [
            ("aligned", aligned),
            ("misaligned start", &buf[at + 1..at + 1 + DIRECT_MIN]),
            ("odd length", &buf[at..at + DIRECT_MIN + 100]),
            ("small", &buf[at..at + DIRECT_ALIGN]),
        ];
        for (i, (what, data)) in cases.iter().enumerate() {
            let name = format!("objects/0{i}/{}", hex::encode([i as u8; 32]));
            b.write(&name, data).unwrap();
            assert_eq!(&b.read(&name).unwrap()[..], *data, "{what}");
            assert!(matches!(b.write(&name, data), Err(BackendError::AlreadyExists { .. })), "{what}");
        }
        b.sync().unwrap();
        // Only the aligned object qualifies (written twice: stored, then refused by name); a filesystem that
        // refuses direct I/O has it written as the others.
        let direct = b.direct_writes.load(Ordering::Relaxed);
        assert!(direct == 2 || (direct == 0 && !b.direct.load(Ordering::Relaxed)), "{direct} direct writes");
        assert!(fs::read_dir(b.root.join("tmp")).unwrap().next().is_none(), "no temporary file is left");
    }

    #[test]
    fn long_ranges_read_by_direct_io_are_the_bytes_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let b = DirBackend::new(dir.path().join("repo")).unwrap();
        let mut data = vec![0u8; 3 * DIRECT_MIN + 1234];
        rand::Rng::fill(&mut rand::thread_rng(), &mut data[..]);
        let name = format!("objects/01/{}", hex::encode([1u8; 32]));
        b.write(&name, &data).unwrap();
        let n = data.len() as u64;
        let k = DIRECT_READ_MIN;
        let ranges =
            [(0, k), (1, k), (4095, k + 3), (4096, 2 * k), (n - k, k), (n - k + 7, k), (n - 10, k), (n + 5, k)];
        for (offset, len) in ranges {
            let want = &data[(offset as usize).min(data.len())..((offset + len) as usize).min(data.len())];
            assert_eq!(b.read_range(&name, offset, len).unwrap(), want, "{offset} + {len}");
            let (buf, start) = b.read_range_in(&name, offset, len, vec![5; 2 * k as usize]).unwrap();
            assert_eq!(&buf[start..], want, "in place: {offset} + {len}");
        }
        assert!(b.read_range("objects/01/missing", 0, k).unwrap_err().is_not_found());
        // An object written by direct I/O reads back the same way: where the filesystem takes direct writes, it
        // takes direct reads too (they were not given up on).
        let mut buf = vec![0u8; DIRECT_MIN + DIRECT_ALIGN];
        let at = (DIRECT_ALIGN - buf.as_ptr() as usize % DIRECT_ALIGN) % DIRECT_ALIGN;
        buf[at..at + DIRECT_MIN].copy_from_slice(&data[..DIRECT_MIN]);
        let aligned = format!("objects/02/{}", hex::encode([2u8; 32]));
        b.write(&aligned, &buf[at..at + DIRECT_MIN]).unwrap();
        assert_eq!(b.read_range(&aligned, 5, k).unwrap(), &data[5..5 + k as usize]);
        if b.direct_writes.load(Ordering::Relaxed) > 0 {
            assert!(b.direct_reads.load(Ordering::Relaxed), "direct reads given up where direct writes work");
        }
    }

    #[test]
    fn a_filesystem_that_refuses_direct_io_gets_buffered_writes_and_reads_of_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let b = DirBackend::new(dir.path().join(REFUSES_DIRECT).join("repo")).unwrap();
        // An object eligible for a direct write (aligned, a multiple of the block), and a long range of it.
        let mut buf = vec![0u8; 2 * DIRECT_MIN + DIRECT_ALIGN];
        let at = (DIRECT_ALIGN - buf.as_ptr() as usize % DIRECT_ALIGN) % DIRECT_ALIGN;
        rand::Rng::fill(&mut rand::thread_rng(), &mut buf[at..at + 2 * DIRECT_MIN]);
        let data = &buf[at..at + 2 * DIRECT_MIN];
        assert!(direct_eligible(data));
        let name = format!("objects/03/{}", hex::encode([3u8; 32]));
        b.write(&name, data).unwrap();
        // The refused direct write left no file behind it: the object is written whole, once.
        assert!(!b.direct.load(Ordering::Relaxed), "direct writes given up");
        assert_eq!(b.direct_writes.load(Ordering::Relaxed), 0);
        assert!(fs::read_dir(b.root.join("tmp")).unwrap().next().is_none(), "no temporary file is left");
        assert_eq!(&b.read(&name).unwrap()[..], data);
        let k = DIRECT_READ_MIN;
        for (offset, len) in [(7, k), (4096, 2 * k), (DIRECT_MIN as u64 - 3, k + 5)] {
            let want = &data[offset as usize..(offset + len) as usize];
            let (got, start) = b.read_range_in(&name, offset, len, vec![9; 3]).unwrap();
            assert_eq!(&got[start..], want, "{offset} + {len}");
            assert!(!b.direct_reads.load(Ordering::Relaxed), "direct reads given up");
        }
        // Later writes go straight to the buffered path.
        let second = format!("objects/04/{}", hex::encode([4u8; 32]));
        b.write(&second, data).unwrap();
        assert_eq!(&b.read_range(&second, 5, k).unwrap()[..], &data[5..5 + k as usize]);
        b.sync().unwrap();
    }

    #[test]
    fn objects_are_fsynced_early_and_sync_covers_every_write() {
        let dir = tempfile::tempdir().unwrap();
        let b = DirBackend::new(dir.path().join("repo")).unwrap();
        for i in 0..20u8 {
            b.write(&format!("objects/{i:02x}/{}", hex::encode([i; 32])), &[i; 4096]).unwrap();
        }
        let done = b.early.drain();
        assert_eq!(done.len(), 20, "every object written is fsynced in the background");
        assert_eq!(b.early.state.0.lock().unwrap().queued, 0);
        // As sync finds them, plus a file deleted after it was written (gc's clock probe), before or after the
        // background thread reached it: neither fails the sync.
        b.early.state.0.lock().unwrap().done = done;
        let probe = format!("objects/ff/{}", hex::encode([0xff; 32]));
        b.write(&probe, b"probe").unwrap();
        fs::remove_file(b.path(&probe)).unwrap();
        b.sync().unwrap();
        assert!(b.unsynced.lock().unwrap().is_empty());
        assert!(b.early.state.0.lock().unwrap().done.is_empty());
    }

    #[test]
    fn stale_temporary_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        DirBackend::new(dir.path()).unwrap();
        let stale = dir.path().join("tmp").join("dead.tmp");
        let fresh = dir.path().join("tmp").join("live.tmp");
        fs::write(&stale, b"x").unwrap();
        fs::write(&fresh, b"x").unwrap();
        let f = File::options().write(true).open(&stale).unwrap();
        f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(7200)).unwrap();
        DirBackend::new(dir.path()).unwrap();
        assert!(!stale.exists());
        assert!(fresh.exists());
    }

    #[test]
    fn a_ref_keeps_its_newest_generation_and_the_one_before() {
        let dir = tempfile::tempdir().unwrap();
        let b = DirBackend::new(dir.path()).unwrap();
        let mut v = b.swap_ref("r", None, b"0").unwrap();
        for i in 1..10u8 {
            v = b.swap_ref("r", Some(&v), &[b'0' + i]).unwrap();
        }
        assert_eq!(b.generations("r").unwrap(), vec![9, 10], "each older generation is a whole ref's bytes kept");
        assert_eq!(b.read_ref("r").unwrap().unwrap().0, b"9");
    }

    #[test]
    fn generation_overflow_is_an_error_not_a_wrap() {
        let dir = tempfile::tempdir().unwrap();
        let b = DirBackend::new(dir.path()).unwrap();
        b.swap_ref("r", None, b"one").unwrap();
        // A ref already at the last generation cannot move; it must not wrap to a lower, invisible one.
        let top = RefVersion(u64::MAX.to_string());
        fs::write(b.gen_path("r", u64::MAX), b"planted").unwrap();
        assert!(matches!(b.swap_ref("r", Some(&top), b"two"), Err(BackendError::Permanent { .. })));
        assert_eq!(b.read_ref("r").unwrap().unwrap().0, b"planted");
    }

    #[test]
    fn an_emptied_fan_out_directory_goes_and_comes_back_with_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let b = DirBackend::new(dir.path().join("repo")).unwrap();
        b.write("objects/ab/ab01", b"one").unwrap();
        b.write("objects/ab/ab02", b"two").unwrap();
        b.delete("objects/ab/ab01").unwrap();
        assert!(dir.path().join("repo/objects/ab").is_dir(), "removed while an object was still in it");
        b.delete("objects/ab/ab02").unwrap();
        assert!(!dir.path().join("repo/objects/ab").exists(), "an empty fan-out directory was left behind");
        assert!(dir.path().join("repo/objects").is_dir(), "a top-level directory was removed");
        b.write("objects/ab/ab03", b"three").unwrap();
        assert_eq!(b.read("objects/ab/ab03").unwrap(), b"three");
    }

    #[test]
    fn writes_racing_deletes_in_one_fan_out_directory_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let b = Arc::new(DirBackend::new(dir.path().join("repo")).unwrap());
        std::thread::scope(|s| {
            for t in 0..4 {
                let b = b.clone();
                s.spawn(move || {
                    for i in 0..2000 {
                        let name = format!("objects/cd/cd{t}-{i}");
                        b.write(&name, b"x").unwrap();
                        assert_eq!(b.read(&name).unwrap(), b"x", "{name}");
                        b.delete(&name).unwrap();
                    }
                });
            }
        });
        b.sync().unwrap();
    }

    #[test]
    fn rejects_path_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let b = DirBackend::new(dir.path()).unwrap();
        assert!(b.write("../escape", b"x").is_err());
        assert!(b.read("objects/../../etc/passwd").is_err());
    }
}
