//! Background uploads: finished packs go to a pool of uploader threads over a rendezvous channel (so at most one
//! pack per uploader is in flight); `flush` uploads the open packs and waits until everything is durable.

use super::Store;
use crate::engine::cache::warm::WarmCache;
use crate::engine::crypto::Kind;
use crate::engine::id::ObjectId;
use crate::engine::object::{object_name, ChunkPointer, PackBuilder, PackBytes, TableEntry};
use crate::engine::{Error, Result};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex};

/// A finished pack on its way to the backend: id, bytes, table.
pub(super) type UploadJob = (ObjectId, Arc<PackBytes>, Vec<TableEntry>);
/// Packs with their tables.
pub(super) type PackTables = Vec<(ObjectId, Vec<TableEntry>)>;

/// Buffers of stored packs kept for reuse while writing, so that a long write maps and faults in its pack memory
/// once: two open packs and two uploads cycle through about four buffers, and with one spare a put of the
/// benchmark stream still took 50,000–64,000 page faults, with three 24,000–28,000 (at the same peak RSS). Dropped
/// at [`Store::flush`], so a store at rest holds none.
pub(super) const SPARE_PACKS: usize = 3;

pub(super) struct Uploads {
    tx: Mutex<Option<SyncSender<UploadJob>>>,
    state: Mutex<UploadState>,
    done: Condvar,
}

#[derive(Default)]
pub(super) struct UploadState {
    inflight: usize,
    error: Option<Error>,
}

impl Uploads {
    pub(super) fn new() -> Self {
        Uploads { tx: Mutex::new(None), state: Mutex::default(), done: Condvar::new() }
    }

    /// Stop the upload workers (they finish the pack in hand).
    pub(super) fn stop(&self) {
        self.tx.lock().map(|mut t| t.take()).ok();
    }
}

/// Put the sealed index chunks (index nodes, commits) of stored pack `id` into the warm tier, as a read of each
/// would.
fn keep_index_chunks(warm: &WarmCache, id: &ObjectId, bytes: &PackBytes, table: &[TableEntry]) {
    let pack: &[u8] = AsRef::<[u8]>::as_ref(bytes);
    for e in table {
        if matches!(crate::engine::object::kind_from_u8(e.kind), Some(Kind::Data) | None) {
            continue;
        }
        let (at, len) = (e.offset as usize, e.len as usize);
        if let Some(sealed) = pack.get(at..at + len) {
            warm.insert(&ChunkPointer { object: *id, offset: e.offset, len: e.len, id: e.id }, true, sealed);
        }
    }
}

impl Store {
    /// Every pack this store has written so far.
    pub(crate) fn written_packs(&self) -> Vec<ObjectId> {
        self.packs_written.lock().expect("written lock").iter().copied().collect()
    }

    /// Finish a pack and hand it to the background uploaders. Blocks while too many uploads are in flight.
    pub(crate) fn upload(&self, pack: PackBuilder) -> Result<()> {
        if pack.is_empty() {
            return Ok(());
        }
        let (id, bytes, table) = pack.finish(&self.keys);
        let bytes = Arc::new(bytes);
        self.pending.lock().expect("pending lock").insert(id, bytes.clone());
        self.packs_written.lock().expect("written lock").insert(id);
        {
            let mut st = self.uploads.state.lock().expect("upload lock");
            if let Some(e) = st.error.take() {
                return Err(e);
            }
            st.inflight += 1;
        }
        let tx = self.sender();
        tx.send((id, bytes, table)).map_err(|_| Error::internal("pack upload workers stopped"))
    }

    /// A command that writes many chunks merges those of packs already stored into the index's sorted files as it
    /// goes, so its memory does not grow with them. Called with no pack lock held, so that other writers go on
    /// filling the open packs during a merge.
    pub(super) fn merge_if_too_many(&self) -> Result<()> {
        if self.holds_too_many() {
            self.backend.sync()?;
            self.save_index()?;
        }
        Ok(())
    }

    fn sender(&self) -> SyncSender<UploadJob> {
        let mut tx = self.uploads.tx.lock().expect("upload lock");
        if let Some(t) = tx.as_ref() {
            return t.clone();
        }
        let (t, rx) = sync_channel::<UploadJob>(0);
        let rx: Arc<Mutex<Receiver<_>>> = Arc::new(Mutex::new(rx));
        for _ in 0..self.opts.uploaders.max(1) {
            let rx = rx.clone();
            let backend = self.backend.clone();
            let uploads = self.uploads.clone();
            let pending = self.pending.clone();
            let stats = self.stats.clone();
            let written = self.written.clone();
            let index = self.index.clone();
            let spare = self.spare.clone();
            let warm = self.warm.clone();
            std::thread::spawn(move || loop {
                let job = rx.lock().expect("upload queue lock").recv();
                let Ok((id, bytes, table)) = job else { break };
                let r = backend.write_shared(&object_name(&id), bytes.clone() as _);
                let mut st = uploads.state.lock().expect("upload lock");
                match r {
                    Ok(()) => {
                        stats.packs_written.fetch_add(1, Ordering::Relaxed);
                        stats.pack_bytes_written.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                        index.packs.insert(id);
                        // Write-through: the index nodes and commits this process stored go into the warm tier, so
                        // that the next command here reads none of them from the repository.
                        if let Some(w) = &warm {
                            keep_index_chunks(w, &id, &bytes, &table);
                        }
                        written.lock().expect("written lock").push((id, table));
                        pending.lock().expect("pending lock").remove(&id);
                    }
                    Err(e) => {
                        if st.error.is_none() {
                            st.error = Some(e.into());
                        }
                    }
                }
                st.inflight -= 1;
                uploads.done.notify_all();
                drop(st);
                // Nothing else holds the bytes once they are stored (a reader may still, briefly): keep the buffer.
                if let Ok(pack) = Arc::try_unwrap(bytes) {
                    let mut spare = spare.lock().expect("spare lock");
                    if spare.len() < SPARE_PACKS {
                        spare.push(pack.into_buffer());
                    }
                }
            });
        }
        *tx = Some(t.clone());
        t
    }

    /// Upload the open packs and wait until every pack is durably stored. Call before publishing anything that
    /// points at the chunks (write ordering: data, index, commit, ref).
    pub(crate) fn flush(&self) -> Result<()> {
        let data = std::mem::take(&mut *self.open_data.lock().expect("pack lock"));
        for pack in data {
            self.upload(pack)?;
        }
        let index = std::mem::take(&mut *self.open_index.lock().expect("pack lock"));
        self.upload(index)?;
        self.wait_uploads()?;
        self.spare.lock().expect("spare lock").clear();
        self.backend.sync()?;
        self.save_index()
    }

    /// Wait for background uploads; report the first failure.
    pub(crate) fn wait_uploads(&self) -> Result<()> {
        let mut st = self.uploads.state.lock().expect("upload lock");
        while st.inflight > 0 {
            st = self.uploads.done.wait(st).expect("upload lock");
        }
        match st.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
