//! [`put_tree`]: stage a directory tree as keys under a prefix.

use super::StatCache;
use crate::engine::chunk::{Blob, BlobWriter, WriteOptions};
use crate::engine::namespace::{check_key, dir_key, dir_prefix, Entry, EntryKind, Namespace};
use crate::engine::object::Store;
use crate::engine::progress::{ProgressSink, Unit};
use crate::engine::repo::Repository;
use crate::engine::{Error, Result};
use std::fs::Metadata;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// How to stage a tree.
#[derive(Clone, Debug, Default)]
pub struct PutTreeOptions {
    /// Key prefix the tree goes under; a directory name (`web` and `web/` are the same), empty for the top.
    pub prefix: String,
    /// Also stage the removal of keys under the prefix that have no file in the directory (mirror the tree).
    pub delete: bool,
    /// Paths left out of the walk with everything under them (the workspace's own directory, say).
    pub exclude: Vec<PathBuf>,
    /// Which other paths to leave out (patterns, ignore files, size limits: the caller's rules), asked of every
    /// file, link and directory the walk finds; a directory left out takes everything under it along. With
    /// [`PutTreeOptions::delete`], a key whose path is left out is kept, not removed: only the walk's own tree is
    /// mirrored.
    pub leave_out: Option<PathFilter>,
    /// Do not descend into directories on other file systems than the tree's root (mount points are left out).
    pub one_file_system: bool,
    /// Where the workspace keeps its stat cache (which value each file was stored as, with its device, inode, size,
    /// mtime and ctime then, sealed), so an unchanged file is not read again; `None` reads every file.
    pub stat_cache: Option<PathBuf>,
    /// Options for storing each value.
    pub write: WriteOptions,
    /// Where progress goes: phase `scan` (items found), then `read` (bytes of the files to read, with the files
    /// as items and each file's key as message; for a tree of more than 10,000 items the totals grow as the walk
    /// proceeds).
    pub progress: ProgressSink,
    /// Spill the namespace's staged changes out of memory ([`VersionedMap::spill`](crate::fields::VersionedMap::spill))
    /// whenever at least this many are held; 0 never does.
    pub spill_at: usize,
    /// Only count the keys staged ([`PutTreeOutcome::staged_count`]), leaving [`PutTreeOutcome::staged`] empty,
    /// so that memory stays bounded however many files the tree holds.
    pub count_only: bool,
}

/// A rule saying which paths a walk leaves out: called with each path found (absolute) and whether it is a
/// directory; `true` leaves it out.
#[derive(Clone)]
pub struct PathFilter(std::sync::Arc<LeaveOut>);

/// The function a [`PathFilter`] holds.
type LeaveOut = dyn Fn(&Path, bool) -> bool + Send + Sync;

impl PathFilter {
    /// A filter leaving out the paths for which `f` returns `true`.
    pub fn new(f: impl Fn(&Path, bool) -> bool + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(f))
    }

    /// Whether `path` is left out.
    pub fn leaves_out(&self, path: &Path, is_dir: bool) -> bool {
        (self.0)(path, is_dir)
    }
}

impl std::fmt::Debug for PathFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PathFilter")
    }
}

/// Whether key `key` (under `prefix`) names a path of the tree at `dir` that `exclude` or `leave_out` leaves out,
/// itself or through one of its directories.
fn left_out(dir: &Path, prefix: &str, key: &str, exclude: &[PathBuf], leave_out: Option<&PathFilter>) -> bool {
    let Some(rel) = key.strip_prefix(prefix) else { return false };
    // A directory entry's key ends with `/`.
    let (rel, is_dir) = match rel.strip_suffix('/') {
        Some(r) => (r, true),
        None => (rel, false),
    };
    if rel.is_empty() {
        return false;
    }
    let path = dir.join(rel);
    if exclude.iter().any(|x| path.starts_with(x)) {
        return true;
    }
    let Some(f) = leave_out else { return false };
    if f.leaves_out(&path, is_dir) {
        return true;
    }
    let mut dirs: Vec<&Path> = path.ancestors().skip(1).take_while(|d| *d != dir && d.starts_with(dir)).collect();
    dirs.reverse();
    dirs.into_iter().any(|d| f.leaves_out(d, true))
}

/// Call `f` with the key and the metadata of every file and symbolic link `put_tree` with `opts` would stage from
/// `dir` (after [`PutTreeOptions::exclude`], [`PutTreeOptions::leave_out`] and
/// [`PutTreeOptions::one_file_system`]), in key order, reading no file: what a dry run lists. Returns the number of
/// special files (sockets, FIFOs, devices) skipped.
pub fn walk_tree(
    dir: &Path,
    opts: &PutTreeOptions,
    f: &mut dyn FnMut(&str, &std::fs::Metadata) -> Result<()>,
) -> Result<usize> {
    let prefix = dir_prefix(&opts.prefix)?;
    let dir = std::fs::canonicalize(dir).map_err(|e| Error::io(format!("opening {}", dir.display()), e))?;
    let exclude: Vec<PathBuf> = opts.exclude.iter().filter_map(|p| std::fs::canonicalize(p).ok()).collect();
    let mut walk = Walk::new(&dir, &prefix, exclude, opts.leave_out.clone(), opts.one_file_system);
    let progress = ProgressSink::default();
    loop {
        let items = walk.take(4096, &progress)?;
        if items.is_empty() {
            return Ok(walk.special);
        }
        for item in items.iter().filter(|i| !i.dir) {
            f(&item.key, &item.meta)?;
        }
    }
}

/// What [`put_tree`] staged.
#[derive(Clone, Debug, Default)]
pub struct PutTreeOutcome {
    /// Keys staged with a new value (or new metadata), with their sizes, in key order (empty with
    /// [`PutTreeOptions::count_only`]); directory entries' keys end with `/`.
    pub staged: Vec<(String, u64)>,
    /// How many keys of files and links were staged with a new value (or new metadata).
    pub staged_count: usize,
    /// How many directory entries were staged (new, or with new metadata); they are in
    /// [`PutTreeOutcome::staged`] too, with size 0.
    pub dirs_staged: usize,
    /// Keys staged for removal (with [`PutTreeOptions::delete`]).
    pub removed: Vec<String>,
    /// Files and links whose entry was already exactly as stored (nothing staged for them).
    pub unchanged: usize,
    /// Files whose content was not read because the stat cache showed them unchanged.
    pub not_read: usize,
    /// Bytes read from files.
    pub bytes_read: u64,
    /// Sockets, FIFOs and device files skipped.
    pub special: usize,
    /// The first of them, in walk order.
    pub first_special: Option<PathBuf>,
}

/// A regular file or a symbolic link found by the walk.
struct Item {
    key: String,
    path: PathBuf,
    meta: Metadata,
    /// `Some(target)` for a symbolic link.
    link: Option<Vec<u8>>,
    /// A directory (its key ends with `/`; nothing to read).
    dir: bool,
}

/// The entry for a file with metadata `meta` holding `blob`: kind, permission bits (not for a symbolic link) and
/// mtime (with nanoseconds). For a directory, a directory entry (`blob` is ignored).
pub fn file_entry(blob: Blob, meta: &Metadata) -> Entry {
    let mut e = Entry::new(blob);
    if meta.is_dir() {
        e = Entry::dir();
        e.mode = Some(meta.mode() & 0o7777);
    } else if meta.file_type().is_symlink() {
        // A link's own permission bits mean nothing on Linux; its mtime is kept (and restored by `get -r`).
        e.kind = EntryKind::Symlink;
    } else {
        e.mode = Some(meta.mode() & 0o7777);
    }
    e.mtime = Some(meta.mtime());
    e.mtime_nsec = meta.mtime_nsec().clamp(0, 999_999_999) as u32;
    e
}

/// Whether the walk goes into an entry (not one of the excluded paths).
type Excluded = Box<dyn FnMut(&walkdir::DirEntry) -> bool + Send>;

/// The regular files, symbolic links and directories under a directory, in key order, read as the walk goes (one
/// directory's entries at a time): siblings are sorted by name, a directory's name with a `/` after it, which is
/// the order of the keys they become (a directory's key, `name/`, comes right before its contents'). With a
/// prefix, the walk starts with the top directory itself, as the prefix's directory entry.
struct Walk {
    dir: PathBuf,
    prefix: String,
    /// The top directory's entry is still to be yielded.
    top: bool,
    inner: walkdir::FilterEntry<walkdir::IntoIter, Excluded>,
    special: usize,
    first_special: Option<PathBuf>,
    last_key: Option<String>,
}

impl Walk {
    fn new(dir: &Path, prefix: &str, exclude: Vec<PathBuf>, leave_out: Option<PathFilter>, one_fs: bool) -> Self {
        // Siblings share their parent's path: comparing whole paths compares names, without taking them apart.
        fn sort_name(e: &walkdir::DirEntry) -> impl Iterator<Item = &u8> {
            let slash: &[u8] = if e.file_type().is_dir() { b"/" } else { b"" };
            e.path().as_os_str().as_bytes().iter().chain(slash)
        }
        let filter: Excluded = Box::new(move |e| {
            !exclude.iter().any(|x| e.path() == x)
                && !leave_out.as_ref().is_some_and(|f| f.leaves_out(e.path(), e.file_type().is_dir()))
        });
        let inner = walkdir::WalkDir::new(dir)
            .follow_links(false)
            .same_file_system(one_fs)
            .min_depth(1)
            .sort_by(|a, b| sort_name(a).cmp(sort_name(b)))
            .into_iter()
            .filter_entry(filter);
        Self {
            dir: dir.to_path_buf(),
            prefix: prefix.to_string(),
            top: !prefix.is_empty(),
            inner,
            special: 0,
            first_special: None,
            last_key: None,
        }
    }

    /// Up to `n` more items (fewer at the end of the walk).
    fn take(&mut self, n: usize, progress: &ProgressSink) -> Result<Vec<Item>> {
        let mut items = Vec::new();
        if std::mem::take(&mut self.top) {
            let meta = std::fs::metadata(&self.dir)
                .map_err(|err| Error::io(format!("reading {}", self.dir.display()), err))?;
            items.push(Item { key: self.prefix.clone(), path: self.dir.clone(), meta, link: None, dir: true });
        }
        while items.len() < n {
            let Some(e) = self.inner.next() else { break };
            let e = e.map_err(|e| {
                let path = e.path().unwrap_or(&self.dir).display().to_string();
                Error::io(format!("walking {path}"), e.into())
            })?;
            let ft = e.file_type();
            if !ft.is_dir() && !ft.is_file() && !ft.is_symlink() {
                self.special += 1;
                self.first_special.get_or_insert_with(|| e.path().to_path_buf());
                continue;
            }
            let rel = e.path().strip_prefix(&self.dir).expect("the walk yields paths under its root");
            let rel = rel.to_str().ok_or_else(|| Error::Invalid(format!("{} is not valid UTF-8", rel.display())))?;
            let key = format!("{}{rel}", self.prefix);
            check_key(&key)?;
            let meta = e.metadata().map_err(|err| Error::io(format!("reading {}", e.path().display()), err.into()))?;
            if ft.is_dir() {
                // Directories are not counted as items found: progress counts files.
                items.push(Item { key: dir_key(&key), path: e.into_path(), meta, link: None, dir: true });
                continue;
            }
            let link = if ft.is_symlink() {
                let t = std::fs::read_link(e.path())
                    .map_err(|err| Error::io(format!("reading link {}", e.path().display()), err))?;
                Some(t.as_os_str().as_bytes().to_vec())
            } else {
                None
            };
            items.push(Item { key, path: e.into_path(), meta, link, dir: false });
            progress.inc(1);
        }
        // Keys must come in order for the merge with the namespace: the walk's order gives it, this checks it.
        for item in &items {
            if self.last_key.as_ref().is_some_and(|k| *k >= item.key) {
                return Err(Error::Invalid(format!(
                    "the walk of {} is out of key order at {}",
                    self.dir.display(),
                    item.key
                )));
            }
            self.last_key = Some(item.key.clone());
        }
        Ok(items)
    }
}

/// Files smaller than this are read in one piece.
const SMALL_FILE: u64 = 1 << 20;
/// Workers reading a batch of small files, at least.
const SMALL_FILE_WORKERS: usize = 8;

/// Store one file's content (or a link's target).
fn store_item(
    store: &Arc<Store>,
    item: &Item,
    write: &WriteOptions,
    read: &AtomicU64,
    progress: &ProgressSink,
) -> Result<Blob> {
    if let Some(target) = &item.link {
        return Ok(Blob::Inline(target.clone()));
    }
    let mut w = BlobWriter::new(store.clone(), write.clone());
    if item.meta.len() < SMALL_FILE {
        // Small files are read whole (no streaming buffers to set up for them).
        let data = std::fs::read(&item.path).map_err(|e| Error::io(format!("reading {}", item.path.display()), e))?;
        read.fetch_add(data.len() as u64, Ordering::Relaxed);
        progress.inc(data.len() as u64);
        io::Write::write_all(&mut w, &data).map_err(|e| Error::io(format!("storing {}", item.path.display()), e))?;
        return w.finish();
    }
    let mut f =
        std::fs::File::open(&item.path).map_err(|e| Error::io(format!("opening {}", item.path.display()), e))?;
    let mut last = 0;
    w.write_from(&mut f, &mut |n| {
        read.fetch_add(n - last, Ordering::Relaxed);
        progress.inc(n - last);
        last = n;
    })?;
    w.finish()
}

/// Stage every regular file and symbolic link under `dir` as `prefix` + its relative path (with `/`), in `ns`, and
/// every directory as a directory entry (`prefix` + its relative path + `/`, with its permission bits and mtime);
/// with a prefix, `dir` itself is the prefix's directory entry (`web/`), so an empty tree is stored too.
///
/// Entries that are already exactly as stored are not staged again. Files the stat cache knows unchanged are not
/// read. Files are read and stored on several threads; progress goes to [`PutTreeOptions::progress`]. The
/// values' chunks are durable once the repository is flushed.
pub fn put_tree(repo: &Repository, ns: &Namespace, dir: &Path, opts: &PutTreeOptions) -> Result<PutTreeOutcome> {
    let progress = &opts.progress;
    let prefix = dir_prefix(&opts.prefix)?;
    let dir = std::fs::canonicalize(dir).map_err(|e| Error::io(format!("opening {}", dir.display()), e))?;
    let start = SystemTime::now();
    let mut out = PutTreeOutcome::default();
    let exclude: Vec<PathBuf> = opts.exclude.iter().filter_map(|p| std::fs::canonicalize(p).ok()).collect();
    progress.phase("scan", Unit::Items, None);
    let walk = Walk::new(&dir, &prefix, exclude, opts.leave_out.clone(), opts.one_file_system);
    // The walk runs one batch ahead on a thread of its own, while the batch before it is read and staged.
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<Item>>>(1);
        let walker = scope.spawn(move || {
            let mut walk = walk;
            // Items found count in the scan phase, which ends with the first batch.
            let mut sink = progress.clone();
            loop {
                let batch = walk.take(BATCH, &sink);
                sink = ProgressSink::none();
                let end = batch.as_ref().map_or(true, |b| b.len() < BATCH);
                if tx.send(batch).is_err() || end {
                    break;
                }
            }
            (walk.special, walk.first_special)
        });
        let r = stage_batches(repo, ns, &dir, &prefix, opts, start, &rx, &mut out);
        drop(rx);
        let (special, first_special) = walker.join().expect("the walk does not panic");
        out.special = special;
        out.first_special = first_special;
        r
    })?;
    Ok(out)
}

/// Stage the batches the walk sends on `rx` (see [`put_tree`]).
#[allow(clippy::too_many_arguments)]
fn stage_batches(
    repo: &Repository,
    ns: &Namespace,
    dir: &Path,
    prefix: &str,
    opts: &PutTreeOptions,
    start: SystemTime,
    rx: &std::sync::mpsc::Receiver<Result<Vec<Item>>>,
    out: &mut PutTreeOutcome,
) -> Result<()> {
    let store = repo.store();
    let progress = &opts.progress;
    let mut cache = match &opts.stat_cache {
        Some(p) => Some(StatCache::load(p, store.keys(), dir)?),
        None => None,
    };
    // What the namespace holds under the prefix, in key order, as it was before this walk staged anything. A
    // write-only key cannot read it: every file is staged (its chunks deduplicate against what is stored).
    type Existing<'a> = Box<dyn Iterator<Item = Result<(String, Entry)>> + 'a>;
    let existing: Existing<'_> = if repo.is_write_only() {
        Box::new(std::iter::empty())
    } else {
        Box::new(ns.iter_prefix(store, prefix.as_bytes()))
    };
    let mut existing = existing.peekable();
    let read = AtomicU64::new(0);
    let (mut total_bytes, mut total_items) = (0u64, 0u64);
    let mut first = true;
    // A batch of items at a time: memory follows the batch, not the tree.
    loop {
        let items = rx.recv().map_err(|_| Error::Invalid("the walk ended early".into()))??;
        let last = items.len() < BATCH;

        // What the namespace holds for each item, and keys under the prefix with no file (both in key order).
        let mut olds: Vec<Option<Entry>> = Vec::with_capacity(items.len());
        let mut removed = Vec::new();
        for item in &items {
            let mut old = None;
            while let Some(next) = existing.peek() {
                let next_key = match next {
                    Ok((k, _)) => k.as_str(),
                    Err(_) => return Err(existing.next().expect("peeked").expect_err("peeked an error")),
                };
                match next_key.cmp(item.key.as_str()) {
                    std::cmp::Ordering::Less => {
                        let (k, _) = existing.next().expect("peeked")?;
                        removed.push(k);
                    }
                    std::cmp::Ordering::Equal => {
                        old = Some(existing.next().expect("peeked")?.1);
                        break;
                    }
                    std::cmp::Ordering::Greater => break,
                }
            }
            olds.push(old);
        }
        if last {
            for rest in existing.by_ref() {
                removed.push(rest?.0);
            }
        }

        // Values: the namespace's own where the stat cache shows the file unchanged, else read (in parallel).
        let mut blobs: Vec<Option<Blob>> = Vec::with_capacity(items.len());
        for (it, old) in items.iter().zip(&olds) {
            blobs.push(match (cache.as_mut(), &it.link, old) {
                (Some(c), None, Some(old)) if old.kind == EntryKind::File && !it.dir => {
                    c.unchanged(&it.path, &it.meta, &old.blob)?.then(|| old.blob.clone())
                }
                _ => None,
            });
        }
        let hit: Vec<bool> = blobs.iter().map(Option::is_some).collect();
        let not_read = hit.iter().filter(|&&h| h).count();
        out.not_read += not_read;
        // A directory has nothing to read.
        for (b, it) in blobs.iter_mut().zip(&items) {
            if it.dir {
                *b = Some(Blob::Inline(Vec::new()));
            }
        }
        let todo: Vec<usize> = (0..items.len()).filter(|&i| blobs[i].is_none()).collect();
        let to_read: u64 = todo.iter().filter(|&&i| items[i].link.is_none()).map(|&i| items[i].meta.len()).sum();
        total_bytes += to_read;
        total_items += items.iter().filter(|i| !i.dir).count() as u64;
        if first {
            // The whole tree when it fits in one batch; else what is known so far, growing batch by batch.
            progress.phase("read", Unit::Bytes, Some(total_bytes));
            first = false;
        } else {
            progress.set_total(total_bytes);
        }
        progress.set_items(total_items);
        for _ in 0..not_read {
            progress.item_done();
        }
        for (i, b) in store_all(store, &items, &todo, opts, &read)? {
            blobs[i] = Some(b);
        }

        // Stage what differs.
        for (((item, blob), old), from_cache) in items.iter().zip(blobs).zip(olds).zip(hit) {
            let entry = file_entry(blob.expect("every item has a value by now"), &item.meta);
            match (cache.as_mut(), &item.link, from_cache) {
                _ if item.dir => {}
                (Some(c), None, false) => c.record(&item.path, &item.meta, &entry.blob, start)?,
                (Some(c), None, true) => c.keep(&item.path, &item.meta, &entry.blob)?,
                _ => {}
            }
            if old.as_ref() == Some(&entry) {
                if !item.dir {
                    out.unchanged += 1;
                }
                continue;
            }
            if item.dir {
                out.dirs_staged += 1;
            } else {
                out.staged_count += 1;
            }
            if !opts.count_only {
                out.staged.push((item.key.clone(), entry.size()));
            }
            ns.insert(item.key.clone(), entry);
        }
        if opts.delete {
            // A key whose path the rules leave out is not the walk's to judge: it stays.
            if !removed.is_empty() {
                let exclude: Vec<PathBuf> = opts.exclude.iter().filter_map(|p| std::fs::canonicalize(p).ok()).collect();
                removed.retain(|k| !left_out(dir, prefix, k, &exclude, opts.leave_out.as_ref()));
            }
            for k in &removed {
                ns.remove(k);
            }
            out.removed.extend(removed);
        }
        if opts.spill_at > 0 && ns.staged_in_memory() >= opts.spill_at {
            ns.spill()?;
        }
        if last {
            break;
        }
    }
    out.bytes_read = read.load(Ordering::Relaxed);
    if let Some(c) = cache {
        // Files of earlier walks of this directory that this walk did not confirm are forgotten.
        c.finish()?;
    }
    Ok(())
}

/// Items walked and staged per batch.
const BATCH: usize = 10_000;

/// Store the values of `items[i]` for each `i` in `todo`, on several threads; returns `(i, value)` pairs.
fn store_all(
    store: &Arc<Store>,
    items: &[Item],
    todo: &[usize],
    opts: &PutTreeOptions,
    read: &AtomicU64,
) -> Result<Vec<(usize, Blob)>> {
    let progress = &opts.progress;
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Blob)>> = Mutex::new(Vec::with_capacity(todo.len()));
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    // Small files each go to one worker that stores them on its own thread; a large file starts its own
    // pipeline with `opts.write.threads` workers. Reading small files mostly waits on the disk, so a batch of only
    // small files gets more workers than cores (more reads in flight when they are not cached).
    let all_small = todo.iter().all(|&i| items[i].meta.len() < SMALL_FILE);
    let threads = if all_small { opts.write.threads.max(SMALL_FILE_WORKERS) } else { opts.write.threads };
    let workers = threads.clamp(1, 16).min(todo.len().max(1));
    // One large file at a time: its pipeline already keeps every core busy, and each holds input batches (5 MiB
    // each) and worker threads of its own, so two at once only added memory. (The packs are the store's, shared.)
    let large = Mutex::new(());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                if failure.lock().expect("failure lock").is_some() {
                    break;
                }
                let n = next.fetch_add(1, Ordering::Relaxed);
                let Some(&i) = todo.get(n) else { break };
                progress.message(|| items[i].key.clone());
                let _one = (items[i].meta.len() >= SMALL_FILE).then(|| large.lock().expect("large file lock"));
                match store_item(store, &items[i], &opts.write, read, progress) {
                    Ok(b) => results.lock().expect("results lock").push((i, b)),
                    Err(e) => {
                        failure.lock().expect("failure lock").get_or_insert(e);
                        break;
                    }
                }
                progress.item_done();
            });
        }
    });
    if let Some(e) = failure.into_inner().expect("failure lock") {
        return Err(e);
    }
    Ok(results.into_inner().expect("results lock"))
}
