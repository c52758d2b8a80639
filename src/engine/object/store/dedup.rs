//! The dedup index: which chunks the repository holds and where, so a chunk stored before is never stored again.
//! Brought up to date from the packs' tables, and persisted between runs in the workspace's cache in three layers,
//! like a small log-structured merge tree: two sorted files of sealed blocks looked up in place
//! (`sorted_index.rs`) — the base, and a recent file of up to a sixteenth of its size — and an append-only journal
//! of packs added or removed since (`index_file.rs`). A journal of more than [`StoreOptions::index_merge_at`]
//! entries is merged into the recent file, and the recent file into the base once it has grown past a sixteenth of
//! it. A command's memory and time follow the journal (bounded) and what it writes, not the number of chunks the
//! repository holds; each entry is rewritten a bounded number of times per sixteenfold growth of the base.
//!
//! [`StoreOptions::index_merge_at`]: super::StoreOptions::index_merge_at

use super::Store;
use crate::engine::crypto::Keys;
use crate::engine::crypto::Kind;
use crate::engine::id::{ChunkId, ObjectId};
use crate::engine::object::sorted_index::{Row, SortedIndex, SortedWriter};
use crate::engine::object::{index_file, parse_object_name, read_table, ChunkPointer, TableEntry};
use crate::engine::{Error, Result};
use dashmap::{DashMap, DashSet};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

/// The sorted files of the index: the base, and the recent file merged into it from time to time.
#[derive(Default, Clone)]
struct Levels {
    recent: Option<Arc<SortedIndex>>,
    base: Option<Arc<SortedIndex>>,
}

impl Levels {
    fn files(&self) -> impl Iterator<Item = &Arc<SortedIndex>> {
        self.recent.iter().chain(self.base.iter())
    }
}

/// The dedup index: chunk id -> (kind, pointer), plus which packs it has seen.
#[derive(Default)]
pub struct ChunkIndex {
    /// Chunks of the journal's packs and of packs this process wrote (all of them, without a workspace cache).
    pub(super) chunks: DashMap<ChunkId, Slot>,
    /// The packs [`Slot`]s name, numbered in the order this process first met them.
    numbers: PackNumbers,
    /// Live packs the index covers: the sorted files', less those found gone, and the journal's and this process's.
    pub(super) packs: DashSet<ObjectId>,
    /// The sorted files the workspace has.
    levels: RwLock<Levels>,
}

/// Where a chunk held in memory is: its pack by number (see [`PackNumbers`]), 16 bytes where a [`ChunkPointer`]
/// takes 72. A command writing small chunks holds those of several packs of up to 160,000 chunks each, so this is
/// most of its memory.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Slot {
    pack: u32,
    offset: u32,
    len: u32,
    kind: u8,
}

/// Pack ids by number, for [`Slot`]s. Numbers are never reused or dropped within a process (a few bytes per pack).
#[derive(Default)]
struct PackNumbers {
    ids: RwLock<Vec<ObjectId>>,
    numbers: DashMap<ObjectId, u32>,
}

impl PackNumbers {
    fn number(&self, id: ObjectId) -> u32 {
        if let Some(n) = self.numbers.get(&id) {
            return *n;
        }
        *self.numbers.entry(id).or_insert_with(|| {
            let mut ids = self.ids.write().expect("pack numbers lock");
            ids.push(id);
            (ids.len() - 1) as u32
        })
    }

    fn id(&self, number: u32) -> ObjectId {
        self.ids.read().expect("pack numbers lock")[number as usize]
    }
}

impl ChunkIndex {
    fn add_pack(&self, id: ObjectId, entries: &[TableEntry]) {
        self.packs.insert(id);
        let pack = self.numbers.number(id);
        for e in entries {
            self.chunks.entry(e.id).or_insert(Slot { pack, offset: e.offset, len: e.len, kind: e.kind });
        }
    }

    fn slot(&self, kind: u8, ptr: &ChunkPointer) -> Slot {
        Slot { pack: self.numbers.number(ptr.object), offset: ptr.offset, len: ptr.len, kind }
    }

    fn pointer(&self, id: ChunkId, s: &Slot) -> ChunkPointer {
        ChunkPointer { object: self.numbers.id(s.pack), offset: s.offset, len: s.len, id }
    }

    /// Pointer to a stored chunk of `kind` with id `id`, if known. The sorted files' entries count only while their
    /// pack is live.
    pub(crate) fn lookup(&self, keys: &Keys, kind: Kind, id: &ChunkId) -> Option<ChunkPointer> {
        if let Some(p) = self.chunks.get(id).filter(|e| e.kind == kind as u8).map(|e| self.pointer(*id, &e)) {
            return Some(p);
        }
        let levels = self.levels.read().expect("index lock");
        let found = levels.files().find_map(|f| {
            let (object, offset, len) = f.lookup(keys, kind as u8, id)?;
            self.packs.contains(&object).then_some(ChunkPointer { object, offset, len, id: *id })
        });
        found
    }
}

/// Where the base sorted file lies, beside the journal at `journal`.
fn sorted_path(journal: &Path) -> PathBuf {
    beside(journal, "sorted")
}

/// Where the recent sorted file lies, beside the journal at `journal`.
fn recent_path(journal: &Path) -> PathBuf {
    beside(journal, "recent")
}

fn beside(journal: &Path, ext: &str) -> PathBuf {
    let name = journal.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    journal.with_file_name(format!("{name}.{ext}"))
}

impl Store {
    /// Pointer to an already stored chunk of this kind and content, if the dedup index knows one.
    pub(crate) fn lookup(&self, kind: Kind, id: &ChunkId) -> Option<ChunkPointer> {
        self.index.lookup(&self.keys, kind, id)
    }

    /// Record a chunk just placed into a pack (so later identical chunks deduplicate against it).
    pub(crate) fn note_placed(&self, kind: Kind, ptr: ChunkPointer, sealed_len: usize) {
        let slot = self.index.slot(kind as u8, &ptr);
        self.index.chunks.entry(ptr.id).or_insert(slot);
        self.stats.chunks_written.fetch_add(1, Ordering::Relaxed);
        self.stats.sealed_bytes_written.fetch_add(sealed_len as u64, Ordering::Relaxed);
    }

    /// Bring the dedup index up to date with the repository: open the persisted index (the sorted file's pack list,
    /// fences and filter; the journal whole), list packs, and read the table of every pack not seen before. Packs
    /// that disappeared are forgotten.
    #[cfg(test)]
    pub(crate) fn sync_index(&self) -> Result<()> {
        self.sync_index_excluding(&HashSet::new())
    }

    /// [`Store::sync_index`], leaving out packs in `excluded` (condemned by garbage collection) so that nothing new
    /// comes to depend on them.
    pub(crate) fn sync_index_excluding(&self, excluded: &HashSet<ObjectId>) -> Result<()> {
        if let Some(path) = &self.opts.index_path {
            // A damaged local cache is only a cache: what it lacks is rebuilt from the repository.
            let levels = Levels {
                recent: SortedIndex::open(&recent_path(path), &self.keys).map(Arc::new),
                base: SortedIndex::open(&sorted_path(path), &self.keys).map(Arc::new),
            };
            for p in levels.files().flat_map(|f| f.packs()) {
                self.index.packs.insert(*p);
            }
            *self.index.levels.write().expect("index lock") = levels;
            let mut journal = index_file::Journal::load(path, &self.keys);
            for id in &journal.removed {
                self.index.packs.remove(id);
            }
            for (id, entries) in journal.take_tables() {
                self.index.add_pack(id, &entries);
            }
            *self.journal.lock().expect("journal lock") = Some(journal);
        }
        let listed = self.backend.list("objects/")?;
        let present: HashSet<ObjectId> =
            listed.iter().filter_map(|o| parse_object_name(&o.name)).filter(|id| !excluded.contains(id)).collect();
        let known: Vec<ObjectId> = self.index.packs.iter().map(|p| *p).collect();
        let mut changed = false;
        let gone: HashSet<ObjectId> = {
            let pending = self.pending.lock().expect("pending lock");
            known.into_iter().filter(|id| !present.contains(id) && !pending.contains_key(id)).collect()
        };
        if !gone.is_empty() {
            for id in &gone {
                self.index.packs.remove(id);
            }
            self.forgotten.lock().expect("forgotten lock").extend(gone.iter().copied());
            let gone: HashSet<u32> = gone.iter().map(|id| self.index.numbers.number(*id)).collect();
            self.index.chunks.retain(|_, v| !gone.contains(&v.pack));
            changed = true;
        }
        for id in present {
            if !self.index.packs.contains(&id) {
                match read_table(&*self.backend, &self.keys, &id) {
                    Ok(entries) => {
                        self.index.add_pack(id, &entries);
                        self.written.lock().expect("written lock").push((id, entries));
                        changed = true;
                        // A workspace new to a large repository merges the tables it reads as it goes.
                        if self.holds_too_many() {
                            self.save_index()?;
                        }
                    }
                    // A damaged pack must not stop writes; `check` reports it.
                    Err(Error::Integrity { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if changed {
            self.save_index()?;
        }
        Ok(())
    }

    /// Whether the chunks held in memory are worth merging into the sorted file before the command ends: more than
    /// twice the journal's merge size, with the journal loaded.
    pub(super) fn holds_too_many(&self) -> bool {
        self.opts.index_path.is_some()
            && !self.index_unwritable.load(std::sync::atomic::Ordering::Relaxed)
            && self.index.chunks.len() > 2 * self.opts.index_merge_at.max(1)
            && self.journal.lock().expect("journal lock").is_some()
    }

    /// Persist what changed in the dedup index to the workspace cache (if configured): one record appended to its
    /// journal, so the cost follows the packs this process wrote or found gone, not the size of the index.
    ///
    /// The files are only a cache: when they cannot be written (a full disk, say), the command goes on without
    /// them. The packs it wrote are then unknown to the files, and the next command reads their tables from the
    /// repository; this process stops writing the files (and keeps its chunks in memory), and says so once
    /// through [`StoreOptions::warm_notice`](super::StoreOptions::warm_notice).
    pub(super) fn save_index(&self) -> Result<()> {
        use std::sync::atomic::Ordering;
        let Some(path) = &self.opts.index_path else {
            return Ok(());
        };
        if self.index_unwritable.load(Ordering::Relaxed) {
            // Nothing will write them: the packs' tables are not kept (their chunks are in the index already).
            self.written.lock().expect("written lock").clear();
            self.forgotten.lock().expect("forgotten lock").clear();
            return Ok(());
        }
        if let Err(e) = self.write_index(path) {
            if !self.index_unwritable.swap(true, Ordering::Relaxed) {
                if let Some(notice) = &self.opts.warm_notice {
                    (notice.0)(&format!(
                        "the dedup index cache {} could not be written ({}); this command goes on without it, \
                         and the next one reads what it wrote from the repository",
                        path.display(),
                        e.detail()
                    ));
                }
            }
        }
        Ok(())
    }

    fn write_index(&self, path: &Path) -> Result<()> {
        let added = std::mem::take(&mut *self.written.lock().expect("written lock"));
        let removed = std::mem::take(&mut *self.forgotten.lock().expect("forgotten lock"));
        if added.is_empty() && removed.is_empty() {
            return Ok(());
        }
        let mut journal = self.journal.lock().expect("journal lock");
        let loaded = journal.is_some();
        let j = journal.get_or_insert_with(Default::default);
        j.append(path, &self.keys, added, removed)?;
        // Merge only from a whole view of the index (after a sync): the sorted files, the journal and this process.
        if loaded && j.wants_merge(self.opts.index_merge_at as u64) {
            self.merge_index(path, j)?;
        }
        Ok(())
    }

    /// Merge the chunks in memory (of live, durably stored packs) into the recent sorted file, or, once that would
    /// hold more than a sixteenth of the base, the recent file and them into the base; then start the journal again
    /// empty. The files are read block by block, so memory follows the chunks in memory.
    ///
    /// Another process may append to the journal between this merge's view and the journal's reset (or write a
    /// sorted file this one replaces), and what it recorded is then lost: the packs it named are simply unknown to
    /// the index, and the next sync reads their tables from the repository again (a pack found gone is found gone
    /// again). So the index never points into a pack the listing lacks, whatever the interleaving.
    fn merge_index(&self, path: &Path, journal: &mut index_file::Journal) -> Result<()> {
        let levels = self.index.levels.read().expect("index lock").clone();
        // The chunks in memory as they are held there (48 bytes each), not as pointers (112).
        let live: Vec<bool> = {
            let ids = self.index.numbers.ids.read().expect("pack numbers lock");
            ids.iter().map(|id| self.index.packs.contains(id)).collect()
        };
        let mut mem: Vec<(ChunkId, Slot)> = self
            .index
            .chunks
            .iter()
            .filter(|e| live.get(e.value().pack as usize).copied().unwrap_or(false))
            .map(|e| (*e.key(), *e.value()))
            .collect();
        mem.sort_unstable_by_key(|(id, slot)| (*id, slot.kind));
        let entries = |f: &Option<Arc<SortedIndex>>| f.as_ref().map_or(0, |f| f.entries());
        let recent = mem.len() as u64 + entries(&levels.recent);
        let into_base = recent > (self.opts.index_merge_at as u64).max(entries(&levels.base) / 16);
        let mut sources: Vec<Box<dyn Iterator<Item = Result<Row>> + '_>> =
            vec![Box::new(mem.iter().map(|(id, s)| Ok((*id, s.kind, self.index.numbers.id(s.pack), s.offset, s.len))))];
        sources.extend(levels.recent.iter().map(|f| Box::new(f.rows(&self.keys)) as Box<_>));
        if into_base {
            sources.extend(levels.base.iter().map(|f| Box::new(f.rows(&self.keys)) as Box<_>));
        }
        let target = if into_base { sorted_path(path) } else { recent_path(path) };
        let capacity = recent + if into_base { entries(&levels.base) } else { 0 };
        let mut w = SortedWriter::create(&target, &self.keys, capacity as usize)?;
        if merge_rows(sources, &mut w, &|pack| self.index.packs.contains(pack)).is_err() {
            // A sorted file is damaged: drop the cache whole; the next sync rebuilds it from the repository.
            drop(w);
            for f in [sorted_path(path), recent_path(path)] {
                let _ = std::fs::remove_file(f);
            }
            *journal = index_file::Journal::rewrite(path, &self.keys, Vec::new())?;
            *self.index.levels.write().expect("index lock") = Levels::default();
            return Ok(());
        }
        let merged = Some(Arc::new(w.finish(&target)?));
        let new = if into_base {
            let _ = std::fs::remove_file(recent_path(path));
            Levels { recent: None, base: merged }
        } else {
            Levels { recent: merged, base: levels.base }
        };
        *journal = index_file::Journal::rewrite(path, &self.keys, Vec::new())?;
        *self.index.levels.write().expect("index lock") = new;
        // What the new file holds need not be kept in memory too.
        for (id, merged) in &mem {
            self.index.chunks.remove_if(id, |_, v| v == merged);
        }
        Ok(())
    }
}

/// Write the rows of `sources` (each in order of id and kind) to `w` in order, leaving out those of packs not
/// `live`. An error reading a source is returned (the writer then holds part of the rows).
fn merge_rows(
    mut sources: Vec<Box<dyn Iterator<Item = Result<Row>> + '_>>,
    w: &mut SortedWriter<'_>,
    live: &dyn Fn(&ObjectId) -> bool,
) -> Result<()> {
    let mut heads: Vec<Option<Row>> = Vec::with_capacity(sources.len());
    for s in &mut sources {
        heads.push(s.next().transpose()?);
    }
    loop {
        let Some(i) = (0..heads.len()).filter(|i| heads[*i].is_some()).min_by_key(|i| heads[*i].map(|r| (r.0, r.1)))
        else {
            return Ok(());
        };
        let (id, kind, pack, offset, len) = heads[i].expect("a head");
        heads[i] = sources[i].next().transpose()?;
        if live(&pack) {
            w.push(id, kind, pack, offset, len)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Store, StoreOptions};
    use super::*;
    use crate::engine::backend::memory::MemoryBackend;
    use crate::engine::backend::Backend;
    use crate::engine::crypto::MasterKey;
    use crate::engine::object::object_name;

    fn open(b: &Arc<MemoryBackend>, keys: &Arc<Keys>, journal: &Path) -> Store {
        open_merging_at(b, keys, journal, 10)
    }

    fn open_merging_at(b: &Arc<MemoryBackend>, keys: &Arc<Keys>, journal: &Path, merge_at: usize) -> Store {
        let opts =
            StoreOptions { index_path: Some(journal.to_path_buf()), index_merge_at: merge_at, ..Default::default() };
        let s = Store::new(b.clone(), keys.clone(), opts);
        s.sync_index().unwrap();
        s
    }

    /// A workspace cache directory, its journal's path, an empty repository and its keys.
    fn fixture() -> (tempfile::TempDir, PathBuf, Arc<MemoryBackend>, Arc<Keys>) {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("chunk-index");
        (dir, journal, Arc::new(MemoryBackend::new()), Arc::new(Keys::new(MasterKey::generate())))
    }

    #[test]
    fn chunks_merged_into_the_sorted_file_are_found_there_and_a_gone_pack_is_forgotten() {
        let (dir, journal, b, keys) = fixture();
        let value = |batch: u32, i: u32| format!("chunk {i} of batch {batch}").into_bytes();

        // Three commands' worth of chunks, a pack each: the journal is merged after each (10 entries at least,
        // and a sixteenth of the sorted file's).
        let s = open(&b, &keys, &journal);
        let mut ptrs = Vec::new();
        for batch in 0..3 {
            for i in 0..100 {
                ptrs.push(s.put_chunk(Kind::Data, &value(batch, i)).unwrap());
            }
            s.flush().unwrap();
            assert!(s.index.chunks.is_empty(), "merged chunks are not kept in memory too");
        }
        let sorted = SortedIndex::open(&sorted_path(&journal), &keys).unwrap();
        assert_eq!((sorted.entries(), sorted.packs().len()), (300, 3));
        assert_eq!(index_file::Journal::load(&journal, &keys).live_entries(), 0, "the journal starts again");
        drop(s);

        // A later command knows every chunk without holding one in memory, and stores none of them again.
        let s = open(&b, &keys, &journal);
        assert!(s.index.chunks.is_empty());
        for (n, p) in ptrs.iter().enumerate() {
            assert_eq!(s.lookup(Kind::Data, &p.id), Some(*p));
            assert_eq!(s.lookup(Kind::Index, &p.id), None, "another kind");
            assert_eq!(s.put_chunk(Kind::Data, &value(n as u32 / 100, n as u32 % 100)).unwrap(), *p);
        }
        s.flush().unwrap();
        assert_eq!(s.stats.chunks_written.load(Ordering::Relaxed), 0);
        assert_eq!(s.lookup(Kind::Data, &keys.chunk_id(b"never stored")), None);
        drop(s);

        // A workspace new to the repository reads every pack's table, merging them as it goes (more than twice
        // the merge size at a time), so it does not hold them all in memory either.
        let fresh = dir.path().join("fresh").join("chunk-index");
        std::fs::create_dir_all(fresh.parent().unwrap()).unwrap();
        let s = open(&b, &keys, &fresh);
        assert!(s.index.chunks.is_empty());
        assert_eq!(SortedIndex::open(&sorted_path(&fresh), &keys).unwrap().entries(), 300);
        assert!(ptrs.iter().all(|p| s.lookup(Kind::Data, &p.id) == Some(*p)));
        drop(s);

        // A pack deleted from the repository (gc): its chunks are no longer offered, in this command or the next,
        // and the next merge leaves them out of the file.
        let gone = ptrs[0].object;
        b.delete(&object_name(&gone)).unwrap();
        for _ in 0..2 {
            let s = open(&b, &keys, &journal);
            for p in &ptrs {
                assert_eq!(s.lookup(Kind::Data, &p.id).is_some(), p.object != gone);
            }
        }
        let s = open(&b, &keys, &journal);
        for i in 0..20 {
            s.put_chunk(Kind::Data, &value(9, i)).unwrap();
        }
        s.flush().unwrap();
        let sorted = SortedIndex::open(&sorted_path(&journal), &keys).unwrap();
        assert_eq!((sorted.entries(), sorted.packs().len()), (220, 3));
        assert!(!sorted.packs().contains(&gone));
    }

    #[test]
    fn small_merges_go_to_the_recent_file_until_it_holds_a_sixteenth_of_the_base() {
        let (_dir, journal, b, keys) = fixture();
        let files = |j: &Path| {
            let n = |p: PathBuf| SortedIndex::open(&p, &keys).map(|f| f.entries());
            (n(recent_path(j)), n(sorted_path(j)))
        };
        let mut ptrs = Vec::new();
        let put = |ptrs: &mut Vec<ChunkPointer>, batch: u32, n: u32| {
            let s = open(&b, &keys, &journal);
            for i in 0..n {
                ptrs.push(s.put_chunk(Kind::Data, format!("{batch}/{i}").as_bytes()).unwrap());
            }
            s.flush().unwrap();
        };
        put(&mut ptrs, 0, 800);
        assert_eq!(files(&journal), (None, Some(800)));
        // 20 entries: more than the journal may hold (10), not more than a sixteenth of the base (50).
        put(&mut ptrs, 1, 20);
        assert_eq!(files(&journal), (Some(20), Some(800)));
        put(&mut ptrs, 2, 20);
        assert_eq!(files(&journal), (Some(40), Some(800)));
        // A later command finds every chunk in one file or the other.
        let s = open(&b, &keys, &journal);
        assert!(s.index.chunks.is_empty());
        assert!(ptrs.iter().all(|p| s.lookup(Kind::Data, &p.id) == Some(*p)));
        drop(s);
        // 60 in the recent file and the journal: into the base, and the recent file is gone.
        put(&mut ptrs, 3, 20);
        assert_eq!(files(&journal), (None, Some(860)));
        let s = open(&b, &keys, &journal);
        assert!(ptrs.iter().all(|p| s.lookup(Kind::Data, &p.id) == Some(*p)));
    }

    #[test]
    fn a_damaged_sorted_file_costs_reads_of_the_repository_never_a_wrong_pointer() {
        let (_dir, journal, b, keys) = fixture();
        let s = open(&b, &keys, &journal);
        let ptrs: Vec<_> =
            (0..500).map(|i| s.put_chunk(Kind::Data, format!("value {i}").as_bytes()).unwrap()).collect();
        s.flush().unwrap();
        drop(s);
        let path = sorted_path(&journal);
        let good = std::fs::read(&path).unwrap();

        // A damaged block: its chunks are not offered (they would be stored again); the rest are, and right.
        let mut bad = good.clone();
        bad[200] ^= 0x40;
        std::fs::write(&path, &bad).unwrap();
        let s = open(&b, &keys, &journal);
        let found: Vec<_> = ptrs.iter().filter_map(|p| s.lookup(Kind::Data, &p.id).map(|q| (p, q))).collect();
        assert!(found.len() < ptrs.len() && found.len() >= ptrs.len() - 200, "{} found", found.len());
        assert!(found.iter().all(|(p, q)| *p == q));
        // The next merge (after more than a sixteenth of 500 new entries) finds the damage and drops the cache,
        // which the next sync rebuilds from the packs' tables.
        for i in 0..40 {
            s.put_chunk(Kind::Data, format!("more {i}").as_bytes()).unwrap();
        }
        s.flush().unwrap();
        assert!(!path.exists());
        drop(s);
        let s = open(&b, &keys, &journal);
        assert!(ptrs.iter().all(|p| s.lookup(Kind::Data, &p.id) == Some(*p)));

        // Garbage in place of the file: the same.
        std::fs::write(&path, vec![7u8; good.len()]).unwrap();
        let s = open(&b, &keys, &journal);
        assert!(ptrs.iter().all(|p| s.lookup(Kind::Data, &p.id) == Some(*p)));
    }

    #[test]
    fn a_merge_cut_short_before_the_journal_is_reset_leaves_each_chunk_once_and_every_pointer_right() {
        let (_dir, journal, b, keys) = fixture();
        let put = |ptrs: &mut Vec<ChunkPointer>, merge_at: usize, batch: u32, n: u32| {
            let s = open_merging_at(&b, &keys, &journal, merge_at);
            for i in 0..n {
                ptrs.push(s.put_chunk(Kind::Data, format!("{batch}/{i}").as_bytes()).unwrap());
            }
            s.flush().unwrap();
        };
        let recent = || SortedIndex::open(&recent_path(&journal), &keys).map(|f| f.entries());
        let mut ptrs = Vec::new();
        // A base of 1,600 entries, so merges of up to 100 go to the recent file.
        put(&mut ptrs, 10, 0, 1600);
        // 20 entries the journal keeps (no merge below 1,000); then one more, and a merge of the 21 into the recent
        // file, after which the journal starts again.
        put(&mut ptrs, 1000, 1, 20);
        let before_reset = std::fs::read(&journal).unwrap();
        put(&mut ptrs, 10, 2, 1);
        assert_eq!(recent(), Some(21));
        // The process dies between the merge's rename and the journal's reset: the journal still names the 20
        // entries the recent file holds too.
        std::fs::write(&journal, &before_reset).unwrap();
        let s = open(&b, &keys, &journal);
        assert_eq!(s.index.chunks.len(), 20, "the journal's entries, read again");
        assert!(ptrs.iter().all(|p| s.lookup(Kind::Data, &p.id) == Some(*p)));
        drop(s);
        // The next merge (those 20 again, and 15 new) holds each chunk once.
        put(&mut ptrs, 10, 3, 15);
        assert_eq!(recent(), Some(36));
        let s = open(&b, &keys, &journal);
        assert!(s.index.chunks.is_empty());
        assert_eq!(ptrs.len(), 1636);
        assert!(ptrs.iter().all(|p| s.lookup(Kind::Data, &p.id) == Some(*p)));
    }

    #[test]
    fn a_damaged_recent_file_costs_reads_of_the_repository_never_a_wrong_pointer() {
        let (_dir, journal, b, keys) = fixture();
        let mut ptrs = Vec::new();
        for (batch, n) in [(0, 800), (1, 40)] {
            let s = open(&b, &keys, &journal);
            for i in 0..n {
                ptrs.push(s.put_chunk(Kind::Data, format!("{batch}/{i}").as_bytes()).unwrap());
            }
            s.flush().unwrap();
        }
        let path = recent_path(&journal);
        assert_eq!(SortedIndex::open(&path, &keys).map(|f| f.entries()), Some(40));
        let mut bad = std::fs::read(&path).unwrap();
        bad[100] ^= 0x01;
        std::fs::write(&path, &bad).unwrap();
        // The base's chunks are found; the recent file's are not offered (or, if found, right).
        let s = open(&b, &keys, &journal);
        assert!(ptrs[..800].iter().all(|p| s.lookup(Kind::Data, &p.id) == Some(*p)));
        assert!(ptrs[800..].iter().all(|p| s.lookup(Kind::Data, &p.id).is_none_or(|q| q == *p)));
        assert!(ptrs[800..].iter().any(|p| s.lookup(Kind::Data, &p.id).is_none()));
        // The next merge into the recent file meets the damage and drops the cache; the next sync rebuilds it
        // from the packs' tables, and every chunk is found again.
        for i in 0..20 {
            s.put_chunk(Kind::Data, format!("2/{i}").as_bytes()).unwrap();
        }
        s.flush().unwrap();
        assert!(!path.exists() && !sorted_path(&journal).exists());
        drop(s);
        let s = open(&b, &keys, &journal);
        assert!(ptrs.iter().all(|p| s.lookup(Kind::Data, &p.id) == Some(*p)));
    }

    #[test]
    fn index_files_that_cannot_be_written_cost_reads_of_the_repository_never_the_command() {
        let (_dir, journal, b, keys) = fixture();
        let told = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let notice = {
            let told = told.clone();
            crate::engine::cache::warm::WarmNotice(Arc::new(move |m| told.lock().unwrap().push(m.to_string())))
        };
        let mut ptrs = Vec::new();
        let s = open(&b, &keys, &journal);
        for i in 0..30 {
            ptrs.push(s.put_chunk(Kind::Data, format!("0/{i}").as_bytes()).unwrap());
        }
        s.flush().unwrap();
        drop(s);
        // The journal's place taken by a directory: appending to it fails, as on a full disk.
        std::fs::remove_file(&journal).unwrap();
        std::fs::create_dir(&journal).unwrap();
        let opts = StoreOptions {
            index_path: Some(journal.clone()),
            index_merge_at: 10,
            warm_notice: Some(notice),
            ..Default::default()
        };
        let s = Store::new(b.clone(), keys.clone(), opts);
        s.sync_index().unwrap();
        for batch in 1..4 {
            for i in 0..30 {
                ptrs.push(s.put_chunk(Kind::Data, format!("{batch}/{i}").as_bytes()).unwrap());
            }
            s.flush().unwrap();
        }
        assert!(ptrs.iter().all(|p| s.lookup(Kind::Data, &p.id) == Some(*p)), "this process still finds them");
        assert!(s.written.lock().unwrap().is_empty(), "the tables of packs written since are not held for nothing");
        let told = told.lock().unwrap().clone();
        assert_eq!(told.len(), 1, "told once: {told:?}");
        assert!(told[0].contains("could not be written"), "{told:?}");
        drop(s);
        // With the cache's place free again, the next store reads the packs it lacks from the repository.
        std::fs::remove_dir(&journal).unwrap();
        let s = open(&b, &keys, &journal);
        assert!(ptrs.iter().all(|p| s.lookup(Kind::Data, &p.id) == Some(*p)));
    }
}
