//! The chunk store: seals chunks into packs, uploads packs in the background, reads chunks back by pointer
//! through the hot cache, and keeps the dedup index (chunk id -> pointer).

use super::{kind_from_u8, object_name, parse_object_name, read_table, ChunkPointer, PackBuilder, TableEntry};
use crate::engine::backend::Backend;
use crate::engine::cache::hot::HotCache;
use crate::engine::cache::warm::{WarmCache, WarmNotice};
use crate::engine::crypto::{Keys, Kind, SEAL_PREFIX};
use crate::engine::format::DEFAULT_ZSTD_LEVEL;
use crate::engine::id::{ChunkId, ObjectId};
use crate::engine::{Error, Result};
use dashmap::{DashMap, DashSet};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex};

const ENC_RAW: u8 = 0;
const ENC_ZSTD: u8 = 1;
const ENC_HEADER: usize = 5;

/// Tunables of a repository's chunk store: caches, compression, threads and uploads, given when a
/// [`Repository`](crate::engine::repo::Repository) is opened.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// zstd level for chunks (1..=22); 0 disables compression.
    pub zstd_level: i32,
    /// Concurrent pack uploads.
    pub uploaders: usize,
    /// Hot tier budget in bytes.
    pub mem_cache: usize,
    /// Where to persist the dedup index between runs (a workspace's cache), if anywhere.
    pub index_path: Option<PathBuf>,
    /// Warm tier: directory and byte budget, if any.
    pub warm: Option<(PathBuf, u64)>,
    /// Told once when a damaged warm-tier entry is discarded (and read again from the backend).
    pub warm_notice: Option<WarmNotice>,
    /// Worker threads for storing values (hashing, compression, encryption); default: all cores.
    pub threads: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            zstd_level: DEFAULT_ZSTD_LEVEL,
            uploaders: 2,
            mem_cache: 256 << 20,
            index_path: None,
            warm: None,
            warm_notice: None,
            threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
        }
    }
}

/// Counters of what a store did in this process.
#[derive(Default, Debug)]
pub struct StoreStats {
    /// Chunks sealed and stored.
    pub chunks_written: AtomicU64,
    /// Chunks found already stored (deduplicated).
    pub chunks_deduped: AtomicU64,
    /// Plaintext bytes of chunks stored.
    pub plain_bytes_written: AtomicU64,
    /// Sealed bytes of chunks stored (after compression).
    pub sealed_bytes_written: AtomicU64,
    /// Packs written.
    pub packs_written: AtomicU64,
    /// Bytes of packs written, padding included.
    pub pack_bytes_written: AtomicU64,
    /// Chunks read from the backend.
    pub chunks_fetched: AtomicU64,
    /// Bytes read from the backend for chunks.
    pub bytes_fetched: AtomicU64,
}

/// A chunk compressed and sealed, ready to be appended to a pack.
pub struct SealedChunk {
    /// What it is.
    pub kind: Kind,
    /// Its keyed id.
    pub id: ChunkId,
    /// Sealed bytes.
    pub sealed: Vec<u8>,
}

/// The dedup index: chunk id -> (kind, pointer), plus which packs it has seen.
#[derive(Default)]
pub struct ChunkIndex {
    chunks: DashMap<ChunkId, (u8, ChunkPointer)>,
    packs: DashSet<ObjectId>,
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
    pub fn lookup(&self, kind: Kind, id: &ChunkId) -> Option<ChunkPointer> {
        self.chunks.get(id).filter(|e| e.0 == kind as u8).map(|e| e.1)
    }

    /// Number of chunks known.
    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    /// No chunks known.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }
}

/// A finished pack on its way to the backend: id, bytes, table.
type UploadJob = (ObjectId, Arc<Vec<u8>>, Vec<TableEntry>);
/// Packs with their tables.
type PackTables = Vec<(ObjectId, Vec<TableEntry>)>;

struct Uploads {
    tx: Mutex<Option<SyncSender<UploadJob>>>,
    state: Mutex<UploadState>,
    done: Condvar,
}

#[derive(Default)]
struct UploadState {
    inflight: usize,
    error: Option<Error>,
}

/// Reads and writes chunks of one repository.
pub struct Store {
    backend: Arc<dyn Backend>,
    keys: Arc<Keys>,
    opts: StoreOptions,
    index: Arc<ChunkIndex>,
    /// Packs finished but not yet durably stored (readable from here meanwhile).
    pending: Arc<Mutex<HashMap<ObjectId, Arc<Vec<u8>>>>>,
    /// Open packs for single chunks: index nodes/commits, and small data.
    open_index: Mutex<PackBuilder>,
    open_data: Mutex<PackBuilder>,
    uploads: Arc<Uploads>,
    hot: HotCache,
    warm: Option<WarmCache>,
    /// Counters.
    pub stats: Arc<StoreStats>,
    /// New packs written by this process, to persist into the index file.
    written: Arc<Mutex<PackTables>>,
    /// Packs found gone from the repository, to persist into the index file.
    forgotten: Mutex<Vec<ObjectId>>,
    /// The index file as this process knows it (loaded by [`Store::sync_index`]).
    journal: Mutex<Option<super::index_file::Journal>>,
}

thread_local! {
    static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

fn compress(level: i32, data: &[u8]) -> Option<Vec<u8>> {
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        if c.as_ref().map(|(l, _)| *l) != Some(level) {
            *c = Some((level, zstd::bulk::Compressor::new(level).ok()?));
        }
        let (_, comp) = c.as_mut()?;
        comp.compress(data).ok()
    })
}

fn decompress(data: &[u8], raw_len: usize) -> Option<Vec<u8>> {
    DECOMPRESSOR.with(|d| {
        let mut d = d.borrow_mut();
        if d.is_none() {
            *d = Some(zstd::bulk::Decompressor::new().ok()?);
        }
        d.as_mut()?.decompress(data, raw_len).ok()
    })
}

/// `encoding || raw_len:u32 || body`, compressed when that saves space, after `room` zero bytes.
fn encode_with_room(level: i32, plain: &[u8], room: usize) -> Vec<u8> {
    let compressed = if level > 0 && plain.len() > 64 { compress(level, plain) } else { None };
    let (enc, body) = match &compressed {
        Some(c) if c.len() < plain.len() => (ENC_ZSTD, c.as_slice()),
        _ => (ENC_RAW, plain),
    };
    let mut out = Vec::with_capacity(room + ENC_HEADER + body.len() + 16);
    out.resize(room, 0);
    out.push(enc);
    out.extend_from_slice(&(plain.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
fn encode(level: i32, plain: &[u8]) -> Vec<u8> {
    encode_with_room(level, plain, 0)
}

fn decode(payload: &[u8]) -> Option<Vec<u8>> {
    if payload.len() < ENC_HEADER {
        return None;
    }
    let raw_len = u32::from_le_bytes(payload[1..5].try_into().ok()?) as usize;
    if raw_len > crate::engine::format::MAX_CHUNK_PLAIN {
        return None;
    }
    let body = &payload[ENC_HEADER..];
    let out = match payload[0] {
        ENC_RAW => body.to_vec(),
        ENC_ZSTD => decompress(body, raw_len)?,
        _ => return None,
    };
    (out.len() == raw_len).then_some(out)
}

impl Store {
    /// A store over `backend` with `keys`.
    pub fn new(backend: Arc<dyn Backend>, keys: Arc<Keys>, opts: StoreOptions) -> Self {
        let hot = HotCache::new(opts.mem_cache);
        let warm = opts.warm.as_ref().map(|(d, b)| WarmCache::new(d, *b).with_notice(opts.warm_notice.clone()));
        Self {
            warm,
            backend,
            keys,
            opts,
            index: Arc::new(ChunkIndex::default()),
            pending: Arc::default(),
            open_index: Mutex::new(PackBuilder::new()),
            open_data: Mutex::new(PackBuilder::new()),
            uploads: Arc::new(Uploads { tx: Mutex::new(None), state: Mutex::default(), done: Condvar::new() }),
            hot,
            stats: Arc::default(),
            written: Arc::default(),
            forgotten: Mutex::default(),
            journal: Mutex::default(),
        }
    }

    /// How many chunk reads are worth running at once (more for remote backends, where latency dominates).
    pub fn read_parallelism(&self) -> usize {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        self.opts.uploaders.max(cores).max(2)
    }

    /// Options for writing values into this store (its thread count).
    pub fn write_options(&self) -> crate::engine::chunk::WriteOptions {
        crate::engine::chunk::WriteOptions { threads: self.opts.threads.max(1), ..Default::default() }
    }

    /// The backend underneath.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// The repository keys.
    pub fn keys(&self) -> &Arc<Keys> {
        &self.keys
    }

    /// The hot tier.
    pub fn hot(&self) -> &HotCache {
        &self.hot
    }

    /// The warm tier, if configured.
    pub fn warm(&self) -> Option<&WarmCache> {
        self.warm.as_ref()
    }

    /// The dedup index.
    pub fn index(&self) -> &ChunkIndex {
        &self.index
    }

    /// Compress and seal a chunk. Pure and thread-safe: the stream writer calls this from many threads.
    pub fn seal_chunk(&self, kind: Kind, plain: &[u8]) -> SealedChunk {
        let id = self.keys.chunk_id(plain);
        self.seal_with_id(kind, id, plain)
    }

    /// [`Store::seal_chunk`] with the id already computed.
    pub fn seal_with_id(&self, kind: Kind, id: ChunkId, plain: &[u8]) -> SealedChunk {
        let buf = encode_with_room(self.opts.zstd_level, plain, SEAL_PREFIX);
        let sealed = self.keys.seal_buffer(kind, &id.0, buf);
        self.stats.plain_bytes_written.fetch_add(plain.len() as u64, Ordering::Relaxed);
        SealedChunk { kind, id, sealed }
    }

    /// Pointer to an already stored chunk of this kind and content, if the dedup index knows one.
    pub fn lookup(&self, kind: Kind, id: &ChunkId) -> Option<ChunkPointer> {
        self.index.lookup(kind, id)
    }

    /// Record a chunk just placed into a pack (so later identical chunks deduplicate against it).
    pub fn note_placed(&self, kind: Kind, ptr: ChunkPointer, sealed_len: usize) {
        self.index.chunks.entry(ptr.id).or_insert((kind as u8, ptr));
        self.stats.chunks_written.fetch_add(1, Ordering::Relaxed);
        self.stats.sealed_bytes_written.fetch_add(sealed_len as u64, Ordering::Relaxed);
    }

    /// Store one chunk (an index node, a commit, a small value), deduplicated. It becomes durable at [`Store::flush`].
    pub fn put_chunk(&self, kind: Kind, plain: &[u8]) -> Result<ChunkPointer> {
        let id = self.keys.chunk_id(plain);
        if let Some(p) = self.lookup(kind, &id) {
            self.stats.chunks_deduped.fetch_add(1, Ordering::Relaxed);
            return Ok(p);
        }
        let sc = self.seal_with_id(kind, id, plain);
        let slot = if kind == Kind::Data { &self.open_data } else { &self.open_index };
        let mut pack = slot.lock().expect("pack lock");
        if !pack.fits(sc.sealed.len()) {
            let full = std::mem::take(&mut *pack);
            self.upload(full)?;
        }
        let ptr = pack.push(kind, id, &sc.sealed);
        self.note_placed(kind, ptr, sc.sealed.len());
        Ok(ptr)
    }

    /// Finish a pack and hand it to the background uploaders. Blocks while too many uploads are in flight.
    pub fn upload(&self, pack: PackBuilder) -> Result<()> {
        if pack.is_empty() {
            return Ok(());
        }
        let (id, bytes, table) = pack.finish(&self.keys);
        let bytes = Arc::new(bytes);
        self.pending.lock().expect("pending lock").insert(id, bytes.clone());
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
            std::thread::spawn(move || loop {
                let job = rx.lock().expect("upload queue lock").recv();
                let Ok((id, bytes, table)) = job else { break };
                let r = backend.write_shared(&object_name(&id), bytes.clone());
                let mut st = uploads.state.lock().expect("upload lock");
                match r {
                    Ok(()) => {
                        stats.packs_written.fetch_add(1, Ordering::Relaxed);
                        stats.pack_bytes_written.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                        index.packs.insert(id);
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
            });
        }
        *tx = Some(t.clone());
        t
    }

    /// Upload the open packs and wait until every pack is durably stored. Call before publishing anything that
    /// points at the chunks (write ordering: data, index, commit, ref).
    pub fn flush(&self) -> Result<()> {
        for slot in [&self.open_data, &self.open_index] {
            let full = std::mem::take(&mut *slot.lock().expect("pack lock"));
            self.upload(full)?;
        }
        self.wait_uploads()?;
        self.backend.sync()?;
        self.save_index()
    }

    /// Wait for background uploads; report the first failure.
    pub fn wait_uploads(&self) -> Result<()> {
        let mut st = self.uploads.state.lock().expect("upload lock");
        while st.inflight > 0 {
            st = self.uploads.done.wait(st).expect("upload lock");
        }
        match st.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Whether pack `id` was written by this store and is still in memory (being built or uploaded).
    pub fn is_pending(&self, id: &ObjectId) -> bool {
        self.pending.lock().expect("pending lock").contains_key(id)
            || [&self.open_data, &self.open_index].iter().any(|s| s.lock().expect("pack lock").id() == *id)
    }

    /// Read a chunk by pointer: hot cache, packs not yet stored, then a ranged read of exactly the sealed bytes.
    pub fn get_chunk(&self, kind: Kind, ptr: &ChunkPointer) -> Result<Arc<Vec<u8>>> {
        if let Some(v) = self.hot.get(&(kind as u8, ptr.id)) {
            return Ok(v);
        }
        let plain = Arc::new(self.read_chunk(kind, ptr)?);
        self.hot.insert((kind as u8, ptr.id), plain.clone());
        Ok(plain)
    }

    /// Like [`Store::get_chunk`], but a bulk read: served from the hot tier if there, and not added to it, so
    /// streaming a large value does not flush the cache or grow memory.
    pub fn get_chunk_streaming(&self, kind: Kind, ptr: &ChunkPointer) -> Result<Arc<Vec<u8>>> {
        if let Some(v) = self.hot.get(&(kind as u8, ptr.id)) {
            return Ok(v);
        }
        self.read_chunk(kind, ptr).map(Arc::new)
    }

    fn read_chunk(&self, kind: Kind, ptr: &ChunkPointer) -> Result<Vec<u8>> {
        let (mut sealed, from_warm) = self.fetch_sealed(kind, ptr, true)?;
        let name = object_name(&ptr.object);
        let mut opened = self.keys.open(kind, &ptr.id.0, &sealed);
        if opened.is_err() && from_warm {
            // The warm tier is only a copy: drop the damaged entry and read the repository's bytes.
            if let Some(w) = &self.warm {
                w.discard(ptr, kind != Kind::Data);
            }
            sealed = self.fetch_sealed(kind, ptr, false)?.0;
            opened = self.keys.open(kind, &ptr.id.0, &sealed);
        }
        let payload = opened.map_err(|_| {
            Error::integrity(format!("chunk at {name}+{} does not authenticate (corrupt or tampered)", ptr.offset))
        })?;
        // Only authenticated bytes enter the warm tier (inserting what is already there is a no-op).
        if let Some(w) = &self.warm {
            w.insert(ptr, kind != Kind::Data, &sealed);
        }
        decode(&payload).ok_or_else(|| Error::integrity(format!("chunk at {name}+{} does not decode", ptr.offset)))
    }

    /// The sealed bytes of a chunk, and whether they came from the warm tier (consulted only with `use_warm`).
    fn fetch_sealed(&self, kind: Kind, ptr: &ChunkPointer, use_warm: bool) -> Result<(Vec<u8>, bool)> {
        for slot in [&self.open_data, &self.open_index] {
            let pack = slot.lock().expect("pack lock");
            if pack.id() == ptr.object {
                if let Some(s) = pack.slice(ptr.offset, ptr.len) {
                    return Ok((s.to_vec(), false));
                }
            }
        }
        if let Some(bytes) = self.pending.lock().expect("pending lock").get(&ptr.object) {
            let s = ptr.offset as usize;
            if let Some(b) = bytes.get(s..s + ptr.len as usize) {
                return Ok((b.to_vec(), false));
            }
        }
        let index = kind != Kind::Data;
        if let Some(b) = self.warm.as_ref().filter(|_| use_warm).and_then(|w| w.get(ptr, index)) {
            return Ok((b, true));
        }
        let name = object_name(&ptr.object);
        let sealed = self.backend.read_range(&name, ptr.offset as u64, ptr.len as u64).map_err(|e| {
            if e.is_not_found() {
                Error::integrity(format!("object {name} is missing"))
            } else {
                e.into()
            }
        })?;
        self.stats.chunks_fetched.fetch_add(1, Ordering::Relaxed);
        self.stats.bytes_fetched.fetch_add(sealed.len() as u64, Ordering::Relaxed);
        if sealed.len() != ptr.len as usize {
            return Err(Error::integrity(format!("object {name} is truncated")));
        }
        Ok((sealed, false))
    }

    /// Bring the dedup index up to date with the repository: load the persisted index, list packs, and read the
    /// table of every pack not seen before. Packs that disappeared are forgotten.
    pub fn sync_index(&self) -> Result<()> {
        self.sync_index_excluding(&std::collections::HashSet::new())
    }

    /// [`Store::sync_index`], leaving out packs in `excluded` (condemned by garbage collection) so that nothing new
    /// comes to depend on them.
    pub fn sync_index_excluding(&self, excluded: &std::collections::HashSet<ObjectId>) -> Result<()> {
        if let Some(path) = &self.opts.index_path {
            // A damaged local cache is only a cache: what it lacks is rebuilt from the repository.
            let journal = super::index_file::Journal::load(path, &self.keys);
            for (id, entries) in &journal.packs {
                self.index.add_pack(*id, entries);
            }
            *self.journal.lock().expect("journal lock") = Some(journal);
        }
        let listed = self.backend.list("objects/")?;
        let present: std::collections::HashSet<ObjectId> =
            listed.iter().filter_map(|o| parse_object_name(&o.name)).filter(|id| !excluded.contains(id)).collect();
        let known: Vec<ObjectId> = self.index.packs.iter().map(|p| *p).collect();
        let mut changed = false;
        let gone: std::collections::HashSet<ObjectId> = {
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
    fn save_index(&self) -> Result<()> {
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
            *j = super::index_file::Journal::rewrite(path, &self.keys, by_pack.into_iter().collect())?;
        }
        Ok(())
    }

    /// Every chunk of a pack as listed by its table (for `check`).
    pub fn pack_table(&self, id: &ObjectId) -> Result<Vec<TableEntry>> {
        read_table(&*self.backend, &self.keys, id)
    }

    /// Decode a table entry's kind.
    pub fn entry_kind(e: &TableEntry) -> Option<Kind> {
        kind_from_u8(e.kind)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // Stop the upload workers; pending uploads were waited for by `flush` if the caller cared.
        self.uploads.tx.lock().map(|mut t| t.take()).ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::backend::memory::MemoryBackend;
    use crate::engine::crypto::MasterKey;

    fn store() -> (Arc<MemoryBackend>, Store) {
        let b = Arc::new(MemoryBackend::new());
        let s = Store::new(b.clone(), Arc::new(Keys::new(MasterKey::generate())), StoreOptions::default());
        (b, s)
    }

    #[test]
    fn put_get_dedup_and_flush() {
        let (b, s) = store();
        let p1 = s.put_chunk(Kind::Index, b"node one").unwrap();
        let p2 = s.put_chunk(Kind::Index, b"node one").unwrap();
        assert_eq!(p1, p2);
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 7) as u8).collect();
        let p3 = s.put_chunk(Kind::Data, &big).unwrap();
        assert_eq!(&**s.get_chunk(Kind::Index, &p1).unwrap(), b"node one");
        s.flush().unwrap();
        assert_eq!(b.list("objects/").unwrap().len(), 2);
        let fresh = Store::new(b.clone(), s.keys().clone(), StoreOptions::default());
        assert_eq!(&**fresh.get_chunk(Kind::Data, &p3).unwrap(), &big);
        assert!(matches!(fresh.get_chunk(Kind::Index, &p3), Err(Error::Integrity { .. })));
        fresh.sync_index().unwrap();
        assert_eq!(fresh.lookup(Kind::Data, &p3.id), Some(p3));
    }

    #[test]
    fn encode_round_trip() {
        for data in [vec![], vec![1u8], vec![0u8; 100_000], (0..5000u32).map(|i| i as u8).collect()] {
            assert_eq!(decode(&encode(3, &data)).unwrap(), data);
            assert_eq!(decode(&encode(0, &data)).unwrap(), data);
        }
        assert!(decode(&[9, 0, 0, 0, 0]).is_none());
    }
}
