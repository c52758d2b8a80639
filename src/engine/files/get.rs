//! [`get_tree`]: write the keys under a prefix into a directory.

use crate::engine::chunk::{copy_range, Blob};
use crate::engine::namespace::{dir_prefix, Entry, EntryKind, Namespace};
use crate::engine::object::{ChunkPointer, Store};
use crate::engine::progress::{ProgressSink, Unit};
use crate::engine::repo::Repository;
use crate::engine::{Error, Result};
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

/// How to write a tree out.
#[derive(Clone, Debug)]
pub struct GetTreeOptions {
    /// Files written at the same time.
    pub threads: usize,
    /// Files at least this large are fetched with parallel chunk reads (smaller ones on their worker alone).
    pub parallel_from: u64,
    /// Where progress goes: phase `write`, bytes and files, both totals growing as keys are listed.
    pub progress: ProgressSink,
    /// Replace files and links already at the paths written (the default). Without it, a tree whose paths are
    /// taken by anything but directories is refused before anything is written ([`Error::AlreadyExists`] naming how
    /// many and the first).
    pub overwrite: bool,
    /// Which keys to write, asked with each key's path under the prefix (`sub/file`); `None` writes them all.
    pub select: Option<KeySelect>,
}

/// A rule saying which keys of a tree to write: called with a key's path under the prefix; `true` writes it.
#[derive(Clone)]
pub struct KeySelect(Arc<Selects>);

/// The function a [`KeySelect`] holds.
type Selects = dyn Fn(&str) -> bool + Send + Sync;

impl KeySelect {
    /// A rule selecting the keys for which `f` returns `true`.
    pub fn new(f: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// Whether the key at `rel` (its path under the prefix) is selected.
    pub fn selects(&self, rel: &str) -> bool {
        (self.0)(rel)
    }
}

impl std::fmt::Debug for KeySelect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeySelect")
    }
}

impl Default for GetTreeOptions {
    fn default() -> Self {
        let cores = crate::engine::cores();
        Self {
            threads: (2 * cores).clamp(2, 16),
            parallel_from: 16 << 20,
            progress: ProgressSink::none(),
            overwrite: true,
            select: None,
        }
    }
}

/// One file or link written by [`get_tree`].
#[derive(Clone, Debug)]
pub struct Written {
    /// The key.
    pub key: String,
    /// Bytes of its value.
    pub size: u64,
    /// Where it was written.
    pub path: PathBuf,
}

/// What [`get_tree`] wrote.
#[derive(Clone, Debug, Default)]
pub struct GetTreeOutcome {
    /// Every file and link, in key order.
    pub written: Vec<Written>,
    /// Directories restored from directory entries (created if missing, permission bits and mtime set).
    pub dirs: u64,
    /// Bytes of file content written.
    pub bytes: u64,
    /// Files whose stored modification time the file system could not hold (it kept the nearest it can: ext4,
    /// say, holds 1901 to 2446), and the first of them.
    pub mtime_not_held: (u64, Option<PathBuf>),
}

/// `rel` as a safe relative path (only normal components).
fn safe_relative(rel: &str) -> Option<PathBuf> {
    let p = Path::new(rel);
    let ok = !rel.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)));
    ok.then(|| p.to_path_buf())
}

/// Creates directories under a root, refusing to pass through anything that is not a real directory (a symbolic
/// link in particular), so nothing is ever written outside the root.
struct Dirs {
    root: PathBuf,
    known: HashSet<PathBuf>,
}

impl Dirs {
    /// Make `rel`'s directory (relative to the root) and every directory above it.
    fn ensure(&mut self, rel: &Path) -> Result<()> {
        if rel.as_os_str().is_empty() || self.known.contains(rel) {
            return Ok(());
        }
        if let Some(parent) = rel.parent() {
            self.ensure(parent)?;
        }
        let path = self.root.join(rel);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_dir() => {}
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Error::Invalid(format!(
                    "{} is a symbolic link; refusing to write through it",
                    path.display()
                )))
            }
            Ok(_) => return Err(Error::Invalid(format!("{} exists and is not a directory", path.display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => match fs::create_dir(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => {}
                Err(e) => return Err(Error::io(format!("creating {}", path.display()), e)),
            },
            Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
        }
        self.known.insert(rel.to_path_buf());
        Ok(())
    }
}

/// Create `path` as a new file, replacing a file or link already there (never following a link, never replacing
/// a directory).
fn create_fresh(path: &Path) -> Result<File> {
    let open = || OpenOptions::new().write(true).create_new(true).open(path);
    match open() {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            remove_non_dir(path)?;
            open().map_err(|e| Error::io(format!("creating {}", path.display()), e))
        }
        Err(e) => Err(Error::io(format!("creating {}", path.display()), e)),
    }
}

fn remove_non_dir(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_dir() => Err(Error::Invalid(format!("{} exists and is a directory", path.display()))),
        Ok(_) => fs::remove_file(path).map_err(|e| Error::io(format!("replacing {}", path.display()), e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
    }
}

fn write_link(entry: &Entry, path: &Path) -> Result<()> {
    let Blob::Inline(target) = &entry.blob else {
        return Err(Error::integrity(format!("symbolic link {} has a chunked target", path.display())));
    };
    let target = Path::new(std::ffi::OsStr::from_bytes(target));
    remove_non_dir(path)?;
    std::os::unix::fs::symlink(target, path).map_err(|e| Error::io(format!("creating link {}", path.display()), e))?;
    if let Some((secs, nsec)) = entry.mtime_parts() {
        set_link_mtime(path, secs, nsec)?;
    }
    Ok(())
}

/// Set a symbolic link's own mtime (not its target's), keeping the access time it has.
fn set_link_mtime(path: &Path, secs: i64, nsec: u32) -> Result<()> {
    let ctx = || format!("setting the mtime of link {}", path.display());
    let meta = fs::symlink_metadata(path).map_err(|e| Error::io(ctx(), e))?;
    let atime = filetime::FileTime::from_last_access_time(&meta);
    filetime::set_symlink_file_times(path, atime, filetime::FileTime::from_unix_time(secs, nsec))
        .map_err(|e| Error::io(ctx(), e))
}

/// Give directory `path` the permission bits and mtime of its entry (after everything inside it is written: a
/// write inside would change the mtime, and the bits may forbid writing).
fn set_dir_meta(entry: &Entry, path: &Path) -> Result<()> {
    let ctx = || format!("setting the mode and mtime of directory {}", path.display());
    if let Some(mode) = entry.mode {
        fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o7777)).map_err(|e| Error::io(ctx(), e))?;
    }
    if let Some((secs, nsec)) = entry.mtime_parts() {
        filetime::set_file_mtime(path, filetime::FileTime::from_unix_time(secs, nsec))
            .map_err(|e| Error::io(ctx(), e))?;
    }
    Ok(())
}

/// Write one file: content, then permission bits and mtime. Returns the bytes written and whether the file system
/// holds the stored mtime exactly.
fn write_file(store: &Arc<Store>, entry: &Entry, path: &Path, parallel: usize) -> Result<(u64, bool)> {
    let f = create_fresh(path)?;
    let ctx = || format!("writing {}", path.display());
    let size = entry.size();
    let n = match &entry.blob {
        Blob::Inline(v) => {
            (&f).write_all(v).map_err(|e| Error::io(ctx(), e))?;
            v.len() as u64
        }
        blob => {
            let mut w = io::BufWriter::with_capacity(256 << 10, &f);
            let n = copy_range(store, blob, 0, size, parallel, &mut w)?;
            w.flush().map_err(|e| Error::io(ctx(), e))?;
            n
        }
    };
    if let Some(mode) = entry.mode {
        f.set_permissions(fs::Permissions::from_mode(mode & 0o7777)).map_err(|e| Error::io(ctx(), e))?;
    }
    // A time this platform cannot represent, or stored invalid (which `check` reports), is left as written.
    let mut held = true;
    if let Some(t) = entry.modified() {
        f.set_times(fs::FileTimes::new().set_modified(t)).map_err(|e| Error::io(ctx(), e))?;
        // A file system clamps a time beyond its range to the nearest it holds, silently.
        held = f.metadata().ok().and_then(|m| m.modified().ok()).is_none_or(|got| got == t);
    }
    Ok((n, held))
}

/// Fail if any key under `prefix` would be written where something other than a directory already is. Nothing
/// to look at (and no listing) when `dir` is missing or empty, as for a restore into a fresh directory.
fn refuse_taken_paths(
    store: &Arc<Store>,
    ns: &Namespace,
    prefix: &str,
    dir: &Path,
    select: Option<&KeySelect>,
) -> Result<()> {
    if !fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
        return Ok(());
    }
    let (mut taken, mut first) = (0u64, None);
    for item in ns.iter_prefix(store, prefix.as_bytes()) {
        let (key, _) = item?;
        if select.is_some_and(|s| !s.selects(key.strip_prefix(prefix).unwrap_or(&key))) {
            continue;
        }
        let Some(rel) = key.strip_prefix(prefix).map(|r| r.strip_suffix('/').unwrap_or(r)).and_then(safe_relative)
        else {
            continue;
        };
        let path = dir.join(rel);
        if fs::symlink_metadata(&path).is_ok_and(|m| !m.is_dir()) {
            taken += 1;
            first.get_or_insert(path);
        }
    }
    match first {
        None => Ok(()),
        Some(p) => Err(Error::AlreadyExists {
            what: format!(
                "{taken} file{} under {} (the first: {}); nothing was written",
                if taken == 1 { "" } else { "s" },
                dir.display(),
                p.display()
            ),
        }),
    }
}

/// Files in one batch read ahead.
const AHEAD_FILES: usize = 512;
/// Bytes of one batch read ahead.
const AHEAD_BYTES: u64 = 16 << 20;
/// Batches read ahead at once, each by its own thread: the walk of the index goes on while they are fetched, and
/// a batch's round trip overlaps the next one's. Their decoded chunks are held until written: at most this many
/// times [`AHEAD_BYTES`], within the read-ahead budget.
const AHEAD_FETCHERS: usize = 3;

/// A batch of small files, with their chunks to read ahead before they are handed to the writers.
type Batch = Vec<(Entry, PathBuf)>;

/// Small files waiting to be handed to the workers, whose chunks are fetched together first: on a remote backend a
/// read per file costs a round trip each, while the files of a batch mostly sit side by side in a few packs. The
/// first batch is small and each is twice the one before, up to [`AHEAD_FILES`] and [`AHEAD_BYTES`]: the first
/// files are written (and progress moves) one round trip after the start, and later batches make few requests.
/// Full batches go to [`AHEAD_FETCHERS`] threads, which fetch them and hand their files on.
struct Ahead {
    files: Batch,
    bytes: u64,
    /// This batch's limits.
    max_files: usize,
    max_bytes: u64,
}

impl Default for Ahead {
    fn default() -> Self {
        Self { files: Vec::new(), bytes: 0, max_files: AHEAD_FILES / 8, max_bytes: AHEAD_BYTES / 16 }
    }
}

impl Ahead {
    /// Add a file; a full batch goes to the fetchers. False once they (or the workers) have stopped.
    fn push(&mut self, batches: &SyncSender<Batch>, entry: Entry, path: PathBuf) -> bool {
        self.bytes += entry.size();
        self.files.push((entry, path));
        if self.files.len() >= self.max_files || self.bytes >= self.max_bytes {
            return self.flush(batches);
        }
        true
    }

    /// Hand the batch to the fetchers. False once they have stopped.
    fn flush(&mut self, batches: &SyncSender<Batch>) -> bool {
        if self.files.is_empty() {
            return true;
        }
        self.bytes = 0;
        self.max_files = (self.max_files * 2).min(AHEAD_FILES);
        self.max_bytes = (self.max_bytes * 2).min(AHEAD_BYTES);
        batches.send(std::mem::take(&mut self.files)).is_ok()
    }
}

/// A fetcher: read each batch's chunks ahead, then hand its files to the workers, until the walk is done (or the
/// workers have stopped).
fn fetch_batches(store: &Store, batches: &Mutex<Receiver<Batch>>, tx: SyncSender<(Entry, PathBuf)>) {
    loop {
        let batch = batches.lock().expect("batch queue lock").recv();
        let Ok(batch) = batch else { return };
        let ptrs: Vec<ChunkPointer> = batch
            .iter()
            .flat_map(|(e, _)| match &e.blob {
                Blob::Chunks(cs) => cs.iter().map(|c| c.ptr).collect(),
                _ => Vec::new(),
            })
            .collect();
        store.read_ahead(&ptrs);
        for job in batch {
            if tx.send(job).is_err() {
                return;
            }
        }
    }
}

/// Write every key under `prefix` (a directory name: `web` and `web/` are the same) into `dir`, as the relative
/// path after the prefix. Files get their permission bits and mtime back; directory entries become directories (an
/// empty one included) whose permission bits and mtime are set after their contents are written, deepest first (a
/// directory entry left out by [`GetTreeOptions::select`] still dates the directory when a selected key is written
/// in it; the prefix's own entry dates `dir` only when this call creates it); symbolic links are recreated as links
/// (with their stored target, which is never followed: nothing is written through a link, and a directory on the
/// way that is a link is refused). Existing files are replaced unless [`GetTreeOptions::overwrite`] is off.
///
/// Files are written by a bounded pool of workers; small values are fetched on the worker alone, large ones with
/// parallel chunk reads. Files are not fsynced (as `cp` and `tar`); call `sync` if the tree must survive a crash
/// of the machine right away. A key that does not map to a safe relative path is refused before anything is
/// written for it. [`Error::NotFound`] when no key has the prefix.
pub fn get_tree(
    repo: &Repository,
    ns: &Namespace,
    prefix: &str,
    dir: &Path,
    opts: &GetTreeOptions,
) -> Result<GetTreeOutcome> {
    let store = repo.store();
    let progress = &opts.progress;
    progress.phase("write", Unit::Bytes, Some(0));
    let (mut listed_bytes, mut listed) = (0u64, 0u64);
    let prefix = dir_prefix(prefix)?;
    if !opts.overwrite {
        refuse_taken_paths(store, ns, &prefix, dir, opts.select.as_ref())?;
    }
    let mut dirs = Dirs { root: dir.to_path_buf(), known: HashSet::new() };
    let mut out = GetTreeOutcome::default();
    let threads = opts.threads.max(1);
    // Half a lone value's parallel reads for each large file: the files are written side by side already, and
    // reads in flight (each with its buffers) are threads × this.
    let parallel = (store.read_parallelism() / 2).max(2);
    // On a remote backend, small files' chunks are read ahead a batch at a time (see `Ahead`), by fetchers between
    // the walk and the workers; the workers' queue holds a batch, so the fetchers fetch while the workers write.
    let mut ahead = store.is_remote().then(Ahead::default);
    let (tx, rx) = sync_channel::<(Entry, PathBuf)>(if ahead.is_some() { AHEAD_FILES } else { threads * 4 });
    let rx = Mutex::new(rx);
    let (batch_tx, batch_rx) = sync_channel::<Batch>(1);
    let batch_rx = Mutex::new(batch_rx);
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    let bytes = std::sync::atomic::AtomicU64::new(0);
    let not_held: Mutex<(u64, Option<PathBuf>)> = Mutex::new((0, None));
    let mut ensured_root = false;
    // The top directory takes the prefix's own directory entry only when this restore creates it.
    let top_is_new = fs::symlink_metadata(dir).is_err();
    // Directory entries whose metadata is set once their contents are written: the selected ones, and those the
    // selection left out (applied only if a selected key created the directory). Key order.
    let mut dir_metas: Vec<(String, Entry, PathBuf)> = Vec::new();
    let mut unselected_dirs: Vec<(String, Entry, PathBuf)> = Vec::new();
    let mut top_entry: Option<Entry> = None;
    let dispatched = std::thread::scope(|s| -> Result<()> {
        for _ in 0..threads {
            s.spawn(|| loop {
                let job = rx.lock().expect("job queue lock").recv();
                let Ok((entry, path)) = job else { break };
                if failure.lock().expect("failure lock").is_some() {
                    continue; // drain the queue so the dispatcher never blocks
                }
                let par = if entry.size() >= opts.parallel_from { parallel } else { 1 };
                match write_file(store, &entry, &path, par) {
                    Ok((n, held)) => {
                        if !held {
                            let mut nh = not_held.lock().expect("not held lock");
                            nh.0 += 1;
                            nh.1.get_or_insert(path);
                        }
                        bytes.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                        progress.inc(n);
                        progress.item_done();
                    }
                    Err(e) => {
                        failure.lock().expect("failure lock").get_or_insert(e);
                    }
                }
            });
        }
        if ahead.is_some() {
            for _ in 0..AHEAD_FETCHERS {
                let tx = tx.clone();
                let batch_rx = &batch_rx;
                s.spawn(move || fetch_batches(store, batch_rx, tx));
            }
        }
        let r = (|| -> Result<()> {
            for item in ns.iter_prefix(store, prefix.as_bytes()) {
                if failure.lock().expect("failure lock").is_some() {
                    break;
                }
                let (key, entry) = item?;
                if entry.is_dir() && key == prefix {
                    top_entry = Some(entry);
                    continue;
                }
                let selected =
                    opts.select.as_ref().is_none_or(|s| s.selects(key.strip_prefix(prefix.as_str()).unwrap_or(&key)));
                if !selected && !entry.is_dir() {
                    continue;
                }
                let unsafe_key =
                    || Error::Invalid(format!("key {key:?} does not map to a safe path under {}", dir.display()));
                if entry.is_dir() {
                    let rel = key
                        .strip_prefix(prefix.as_str())
                        .and_then(|r| r.strip_suffix('/'))
                        .and_then(safe_relative)
                        .ok_or_else(unsafe_key)?;
                    if !selected {
                        unselected_dirs.push((key, entry, rel));
                        continue;
                    }
                    if !ensured_root {
                        fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
                        ensured_root = true;
                    }
                    dirs.ensure(&rel)?;
                    dir_metas.push((key, entry, rel));
                    continue;
                }
                let rel = key.strip_prefix(prefix.as_str()).and_then(safe_relative).ok_or_else(unsafe_key)?;
                if !ensured_root {
                    fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
                    ensured_root = true;
                }
                dirs.ensure(rel.parent().unwrap_or(Path::new("")))?;
                let path = dir.join(&rel);
                listed += 1;
                listed_bytes = listed_bytes.saturating_add(entry.size());
                progress.set_items(listed);
                progress.set_total(listed_bytes);
                progress.message(|| key.clone());
                out.written.push(Written { key, size: entry.size(), path: path.clone() });
                match entry.kind {
                    EntryKind::Symlink => {
                        write_link(&entry, &path)?;
                        progress.inc(entry.size());
                        progress.item_done();
                    }
                    EntryKind::File => match &mut ahead {
                        Some(a) if entry.size() < opts.parallel_from => {
                            if !a.push(&batch_tx, entry, path) {
                                break;
                            }
                        }
                        _ => {
                            if tx.send((entry, path)).is_err() {
                                break;
                            }
                        }
                    },
                    // Directories were handled above.
                    EntryKind::Dir => {}
                }
            }
            if let Some(a) = &mut ahead {
                a.flush(&batch_tx);
            }
            Ok(())
        })();
        drop(batch_tx);
        drop(tx);
        r
    });
    if ahead.is_some() {
        store.clear_read_ahead();
    }
    if let Some(e) = failure.into_inner().expect("failure lock") {
        return Err(e);
    }
    dispatched?;
    // Deepest first: in reverse key order, a directory comes after everything inside it.
    dir_metas.extend(unselected_dirs.into_iter().filter(|(_, _, rel)| dirs.known.contains(rel)));
    dir_metas.sort_by(|a, b| b.0.cmp(&a.0));
    for (_, entry, rel) in &dir_metas {
        set_dir_meta(entry, &dir.join(rel))?;
    }
    out.dirs = dir_metas.len() as u64;
    if out.written.is_empty() && dir_metas.is_empty() {
        if top_entry.is_none() || opts.select.is_some() {
            return Err(Error::not_found(format!("no keys under prefix {prefix:?}")));
        }
        // An empty directory, stored as the prefix's own entry.
        fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    }
    if let Some(top) = top_entry.filter(|_| top_is_new && dir.is_dir()) {
        set_dir_meta(&top, dir)?;
        out.dirs += 1;
    }
    out.bytes = bytes.into_inner();
    out.mtime_not_held = not_held.into_inner().expect("not held lock");
    Ok(out)
}
