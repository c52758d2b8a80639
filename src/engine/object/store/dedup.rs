//! The dedup index: which chunks the repository holds and where, so a chunk stored before is never stored again.
//! Kept in memory, brought up to date from the packs' tables, and persisted between runs in the workspace's cache
//! (an append-only journal, `index_file.rs`).

use super::Store;
use crate::engine::crypto::Kind;
use crate::engine::id::{ChunkId, ObjectId};
use crate::engine::object::{index_file, parse_object_name, read_table, ChunkPointer, TableEntry};
use crate::engine::{Error, Result};
use dashmap::{DashMap, DashSet};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;

/// The dedup index: chunk id -> (kind, pointer), plus which packs it has seen.
#[derive(Default)]
pub struct ChunkIndex {
    pub(super) chunks: DashMap<ChunkId, (u8, ChunkPointer)>,
    pub(super) packs: DashSet<ObjectId>,
}

impl ChunkIndex {
    fn add_pack(&self, id: ObjectId, entries: &[TableEntry]) {
        self.packs.insert(id);
        for e in entries {
            let p = ChunkPointer { object: id, offset: e.offset, len: e.len, id: e.id };
            self.chunks.entry(e.id).or_insert((e.kind, p));
        }
    }

    /// Pointer to a stored chunk of `kind` with id `id`, if known.
    pub(crate) fn lookup(&self, kind: Kind, id: &ChunkId) -> Option<ChunkPointer> {
        self.chunks.get(id).filter(|e| e.0 == kind as u8).map(|e| e.1)
    }
}

impl Store {
    /// Pointer to an already stored chunk of this kind and content, if the dedup index knows one.
    pub(crate) fn lookup(&self, kind: Kind, id: &ChunkId) -> Option<ChunkPointer> {
        self.index.lookup(kind, id)
    }

    /// Record a chunk just placed into a pack (so later identical chunks deduplicate against it).
    pub(crate) fn note_placed(&self, kind: Kind, ptr: ChunkPointer, sealed_len: usize) {
        self.index.chunks.entry(ptr.id).or_insert((kind as u8, ptr));
        self.stats.chunks_written.fetch_add(1, Ordering::Relaxed);
        self.stats.sealed_bytes_written.fetch_add(sealed_len as u64, Ordering::Relaxed);
    }

    /// Bring the dedup index up to date with the repository: load the persisted index, list packs, and read the
    /// table of every pack not seen before. Packs that disappeared are forgotten.
    #[cfg(test)]
    pub(crate) fn sync_index(&self) -> Result<()> {
        self.sync_index_excluding(&HashSet::new())
    }

    /// [`Store::sync_index`], leaving out packs in `excluded` (condemned by garbage collection) so that nothing new
    /// comes to depend on them.
    pub(crate) fn sync_index_excluding(&self, excluded: &HashSet<ObjectId>) -> Result<()> {
        if let Some(path) = &self.opts.index_path {
            // A damaged local cache is only a cache: what it lacks is rebuilt from the repository.
            let mut journal = index_file::Journal::load(path, &self.keys);
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
            self.index.chunks.retain(|_, v| !gone.contains(&v.1.object));
            changed = true;
        }
        for id in present {
            if !self.index.packs.contains(&id) {
                match read_table(&*self.backend, &self.keys, &id) {
                    Ok(entries) => {
                        self.index.add_pack(id, &entries);
                        self.written.lock().expect("written lock").push((id, entries));
                        changed = true;
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

    /// Persist what changed in the dedup index to the workspace cache (if configured): one record appended to its
    /// journal, so the cost follows the packs this process wrote or found gone, not the size of the index.
    pub(super) fn save_index(&self) -> Result<()> {
        let Some(path) = &self.opts.index_path else {
            return Ok(());
        };
        let added = std::mem::take(&mut *self.written.lock().expect("written lock"));
        let removed = std::mem::take(&mut *self.forgotten.lock().expect("forgotten lock"));
        if added.is_empty() && removed.is_empty() {
            return Ok(());
        }
        let mut journal = self.journal.lock().expect("journal lock");
        let loaded = journal.is_some();
        let j = journal.get_or_insert_with(Default::default);
        j.append(path, &self.keys, added, removed)?;
        // Compact only with the whole index in memory (after a sync), from what this process knows.
        if loaded && j.wants_compaction() {
            let mut by_pack: HashMap<ObjectId, Vec<TableEntry>> = HashMap::new();
            for e in self.index.chunks.iter() {
                let (kind, p) = *e.value();
                by_pack.entry(p.object).or_default().push(TableEntry { id: p.id, kind, offset: p.offset, len: p.len });
            }
            by_pack.retain(|id, _| self.index.packs.contains(id));
            *j = index_file::Journal::rewrite(path, &self.keys, by_pack.into_iter().collect())?;
        }
        Ok(())
    }
}
