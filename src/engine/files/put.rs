//! [`put_tree`]: stage a directory tree as keys under a prefix.

use super::StatCache;
use crate::engine::chunk::{Blob, BlobWriter, WriteOptions};
use crate::engine::namespace::{check_key, dir_prefix, Entry, EntryKind, Namespace};
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
    /// Where the workspace keeps its stat cache (which value each file was stored as, with its device, inode, size,
    /// mtime and ctime then, sealed), so an unchanged file is not read again; `None` reads every file.
    pub stat_cache: Option<PathBuf>,
    /// Options for storing each value.
    pub write: WriteOptions,
    /// Where progress goes: phase `scan` (items found), then `read` (bytes of the files to read, with the files
    /// as items and each file's key as message).
    pub progress: ProgressSink,
}

/// What [`put_tree`] staged.
#[derive(Clone, Debug, Default)]
pub struct PutTreeOutcome {
    /// Keys staged with a new value (or new metadata), with their sizes, in key order.
    pub staged: Vec<(String, u64)>,
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
}

/// The entry for a file with metadata `meta` holding `blob`: kind, permission bits and mtime (with nanoseconds).
pub fn file_entry(blob: Blob, meta: &Metadata) -> Entry {
    let mut e = Entry::new(blob);
    if meta.file_type().is_symlink() {
        e.kind = EntryKind::Symlink;
        return e;
    }
    e.mode = Some(meta.mode() & 0o7777);
    if meta.mtime() >= 0 {
        e.mtime = Some(meta.mtime() as u64);
        e.mtime_nsec = meta.mtime_nsec().clamp(0, 999_999_999) as u32;
    }
    e
}

fn walk(
    dir: &Path,
    prefix: &str,
    exclude: &[PathBuf],
    out: &mut PutTreeOutcome,
    progress: &ProgressSink,
) -> Result<Vec<Item>> {
    progress.phase("scan", Unit::Items, None);
    let mut items = Vec::new();
    let walker = walkdir::WalkDir::new(dir).follow_links(false).min_depth(1);
    for e in walker.into_iter().filter_entry(|e| !exclude.iter().any(|x| e.path() == x)) {
        let e = e.map_err(|e| {
            let path = e.path().unwrap_or(dir).display().to_string();
            Error::io(format!("walking {path}"), e.into())
        })?;
        let ft = e.file_type();
        if ft.is_dir() {
            continue;
        }
        if !ft.is_file() && !ft.is_symlink() {
            out.special += 1;
            out.first_special.get_or_insert_with(|| e.path().to_path_buf());
            continue;
        }
        let rel = e.path().strip_prefix(dir).expect("the walk yields paths under its root");
        let rel = rel.to_str().ok_or_else(|| Error::Invalid(format!("{} is not valid UTF-8", rel.display())))?;
        let key = format!("{prefix}{rel}");
        check_key(&key)?;
        let meta = e.metadata().map_err(|err| Error::io(format!("reading {}", e.path().display()), err.into()))?;
        let link = if ft.is_symlink() {
            let t = std::fs::read_link(e.path())
                .map_err(|err| Error::io(format!("reading link {}", e.path().display()), err))?;
            Some(t.as_os_str().as_bytes().to_vec())
        } else {
            None
        };
        items.push(Item { key, path: e.path().to_path_buf(), meta, link });
        progress.inc(1);
    }
    items.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(items)
}

/// Files smaller than this are read in one piece.
const SMALL_FILE: u64 = 1 << 20;

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

/// Stage every regular file and symbolic link under `dir` as `prefix` + its relative path (with `/`), in `ns`.
///
/// Entries that are already exactly as stored are not staged again. Files the stat cache knows unchanged are not
/// read. Files are read and stored on several threads; progress goes to [`PutTreeOptions::progress`]. The
/// values' chunks are durable once the repository is flushed.
pub fn put_tree(repo: &Repository, ns: &Namespace, dir: &Path, opts: &PutTreeOptions) -> Result<PutTreeOutcome> {
    let store = repo.store();
    let progress = &opts.progress;
    let prefix = dir_prefix(&opts.prefix)?;
    let dir = std::fs::canonicalize(dir).map_err(|e| Error::io(format!("opening {}", dir.display()), e))?;
    let start = SystemTime::now();
    let mut out = PutTreeOutcome::default();
    let exclude: Vec<PathBuf> = opts.exclude.iter().filter_map(|p| std::fs::canonicalize(p).ok()).collect();
    let items = walk(&dir, &prefix, &exclude, &mut out, progress)?;
    let mut cache = opts.stat_cache.as_ref().map(|p| StatCache::load(p, store.keys()));

    // What the namespace holds for each item, and keys under the prefix with no file (both in key order).
    let mut olds: Vec<Option<Entry>> = Vec::with_capacity(items.len());
    let mut existing = ns.iter_prefix(store, prefix.as_bytes()).peekable();
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
                    out.removed.push(k);
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
    for rest in existing {
        out.removed.push(rest?.0);
    }
    if !opts.delete {
        out.removed.clear();
    }

    // Values: the namespace's own where the stat cache shows the file unchanged, else read (in parallel).
    let mut blobs: Vec<Option<Blob>> = items
        .iter()
        .zip(&olds)
        .map(|(it, old)| match (cache.as_mut(), &it.link, old) {
            (Some(c), None, Some(old)) if old.kind == EntryKind::File => {
                c.unchanged(&it.path, &it.meta, &old.blob).then(|| old.blob.clone())
            }
            _ => None,
        })
        .collect();
    let hit: Vec<bool> = blobs.iter().map(Option::is_some).collect();
    out.not_read = hit.iter().filter(|&&h| h).count();
    let todo: Vec<usize> = (0..items.len()).filter(|&i| blobs[i].is_none()).collect();
    let to_read = todo.iter().filter(|&&i| items[i].link.is_none()).map(|&i| items[i].meta.len()).sum();
    progress.phase("read", Unit::Bytes, Some(to_read));
    progress.set_items(items.len() as u64);
    for _ in 0..out.not_read {
        progress.item_done();
    }
    let read = AtomicU64::new(0);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Blob)>> = Mutex::new(Vec::with_capacity(todo.len()));
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    let workers = opts.write.threads.clamp(1, 16).min(todo.len().max(1));
    // Small files each go to one worker that stores them on its own thread; a large file starts its own
    // pipeline with `opts.write.threads` workers.
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                if failure.lock().expect("failure lock").is_some() {
                    break;
                }
                let n = next.fetch_add(1, Ordering::Relaxed);
                let Some(&i) = todo.get(n) else { break };
                progress.message(|| items[i].key.clone());
                match store_item(store, &items[i], &opts.write, &read, progress) {
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
    for (i, b) in results.into_inner().expect("results lock") {
        blobs[i] = Some(b);
    }
    out.bytes_read = read.load(Ordering::Relaxed);

    // Stage what differs.
    for (((item, blob), old), from_cache) in items.iter().zip(blobs).zip(olds).zip(hit) {
        let entry = file_entry(blob.expect("every item has a value by now"), &item.meta);
        if let (Some(c), None, false) = (cache.as_mut(), &item.link, from_cache) {
            c.record(&item.path, &item.meta, &entry.blob, start);
        }
        if old.as_ref() == Some(&entry) {
            out.unchanged += 1;
            continue;
        }
        out.staged.push((item.key.clone(), entry.size()));
        ns.insert(item.key.clone(), entry);
    }
    for k in &out.removed {
        ns.remove(k);
    }
    if let Some(c) = cache.as_mut() {
        // Files of earlier walks of this directory that this walk did not confirm are forgotten.
        c.forget_unseen_under(&dir);
        c.save(store.keys())?;
    }
    Ok(out)
}
