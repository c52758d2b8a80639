//! The chunk store: seals chunks into packs, uploads packs in the background, reads chunks back by pointer
//! through the hot cache, and keeps the dedup index (chunk id -> pointer).
//!
//! One idea per file: the chunk encoding (`codec.rs`), the dedup index (`dedup.rs`), the background uploaders and
//! flushing (`upload.rs`), and the read path through the cache tiers (`read.rs`). This file holds the store itself,
//! its options, and sealing and placing single chunks.

mod ahead;
mod api;
mod codec;
mod dedup;
mod delta;
pub(crate) mod forward;
mod read;
mod spare;
mod upload;

pub use dedup::ChunkIndex;
pub(crate) use delta::Rebaser;
pub(crate) use read::Piece;

use super::PackBuilder;
use crate::engine::backend::Backend;
use crate::engine::cache::hot::HotCache;
use crate::engine::cache::warm::{WarmCache, WarmNotice};
use crate::engine::crypto::{Keys, Kind, SEAL_PREFIX};
use crate::engine::format::DEFAULT_ZSTD_LEVEL;
use crate::engine::id::{ChunkId, ObjectId};
use crate::engine::object::ChunkPointer;
use crate::engine::tree::NodeCache;
use crate::engine::{Error, Result};
use codec::encode_with_room;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use upload::{PackTables, Uploads};

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
    /// Entries the persisted index's journal holds before it is merged into the index's sorted file (when it also
    /// holds a sixteenth of the sorted file's entries). Lower means less memory per command and more merging.
    pub index_merge_at: usize,
    /// Warm tier: directory and byte budget, if any.
    pub warm: Option<(PathBuf, u64)>,
    /// Told once when a damaged warm-tier entry is discarded (and read again from the backend), and once when the
    /// dedup index's files (at `index_path`) cannot be written and the command goes on without them.
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
            index_merge_at: 1 << 16,
            warm: None,
            warm_notice: None,
            threads: crate::engine::cores(),
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
    /// Its keyed id.
    pub id: ChunkId,
    /// Sealed bytes.
    pub sealed: Vec<u8>,
}

/// Open data packs (each up to 16 MiB of memory); see [`Store::place_data`].
const OPEN_DATA_PACKS: usize = 2;
/// A data pack with less room than this is stored at once: few chunks are that small.
const NEARLY_FULL: usize = 32 << 10;

/// Decoded index nodes a store keeps: enough for the paths a listing or a merge revisits, and for a cold walk's
/// prefetch of 384 nodes at once to wait in one generation until used (at most about 32 MiB at the largest node
/// size, typically a few).
const NODE_CACHE_NODES: usize = 1024;

/// Reads and writes chunks of one repository: seals them into packs, uploads packs, reads chunks back through the
/// cache tiers, and keeps the dedup index.
///
/// It is what [`Field`](crate::engine::fields::Field)'s and [`Strategy`](crate::engine::fields::Strategy)'s methods
/// are handed, and a [`Repository`](crate::engine::repo::Repository) owns one. Its public methods are the object API
/// for custom fields and strategies: write bytes or a stream and get a pointer ([`Blob`](crate::engine::chunk::Blob)
/// or [`ChunkPointer`]), read a pointer back whole, by range or streamed; the fields report those pointers to garbage
/// collection through a [`Tracer`](crate::engine::fields::Tracer).
pub struct Store {
    backend: Arc<dyn Backend>,
    keys: Arc<Keys>,
    opts: StoreOptions,
    index: Arc<ChunkIndex>,
    /// Packs finished but not yet durably stored (readable from here meanwhile).
    pending: Arc<Mutex<HashMap<ObjectId, Arc<super::PackBytes>>>>,
    /// Every pack this store has written (a write-only key's commit claims them: it cannot trace what it wrote).
    packs_written: Mutex<std::collections::BTreeSet<ObjectId>>,
    /// Open pack for index chunks (index nodes, commits).
    open_index: Mutex<PackBuilder>,
    /// Open packs for data chunks, of every writer in this process, filled best fit (see [`Store::place_data`]).
    open_data: Mutex<Vec<PackBuilder>>,
    /// Buffers of packs already stored, kept for the next packs (a few; see `upload.rs`).
    spare: Arc<Mutex<Vec<Vec<u8>>>>,
    /// Buffers chunks were read and decoded into, kept for the next reads (see `spare.rs`).
    read_spares: spare::Spares,
    uploads: Arc<Uploads>,
    hot: HotCache,
    /// Decoded index nodes (see [`NodeCache`]).
    nodes: NodeCache,
    warm: Option<Arc<WarmCache>>,
    /// Counters.
    pub(crate) stats: Arc<StoreStats>,
    /// New packs written by this process, to persist into the index file.
    written: Arc<Mutex<PackTables>>,
    /// Packs found gone from the repository, to persist into the index file.
    forgotten: Mutex<Vec<ObjectId>>,
    /// The index file as this process knows it (loaded by [`Store::sync_index`]).
    journal: Mutex<Option<super::index_file::Journal>>,
    /// Set once the dedup index's files could not be written: this process stops writing them.
    index_unwritable: std::sync::atomic::AtomicBool,
    /// Forwards of repacked packs read so far: old pack -> where its chunks moved.
    forwards: Mutex<HashMap<ObjectId, Arc<forward::PackForward>>>,
    /// Data chunks read ahead for reads to come (see `ahead.rs`).
    ahead: Mutex<ahead::ReadAhead>,
    /// The sealed bytes read with a commit from before it in its pack (see [`Store::get_commit_reading_behind`]).
    behind: Mutex<Option<read::Behind>>,
}

impl Store {
    /// A store over `backend` with `keys`.
    pub(crate) fn new(backend: Arc<dyn Backend>, keys: Arc<Keys>, opts: StoreOptions) -> Self {
        let hot = HotCache::new(opts.mem_cache);
        let warm =
            opts.warm.as_ref().map(|(d, b)| Arc::new(WarmCache::new(d, *b).with_notice(opts.warm_notice.clone())));
        Self {
            warm,
            backend,
            keys,
            opts,
            index: Arc::new(ChunkIndex::default()),
            pending: Arc::default(),
            packs_written: Mutex::default(),
            open_index: Mutex::new(PackBuilder::new()),
            open_data: Mutex::default(),
            spare: Arc::default(),
            read_spares: spare::Spares::default(),
            uploads: Arc::new(Uploads::new()),
            hot,
            nodes: NodeCache::new(NODE_CACHE_NODES),
            stats: Arc::default(),
            written: Arc::default(),
            forgotten: Mutex::default(),
            journal: Mutex::default(),
            forwards: Mutex::default(),
            ahead: Mutex::default(),
            behind: Mutex::default(),
            index_unwritable: Default::default(),
        }
    }

    /// How many chunk reads are worth running at once (more for remote backends, where latency dominates).
    pub(crate) fn read_parallelism(&self) -> usize {
        // Twice the cores, and at least eight: chunks of a local repository are read around the page cache (by
        // direct I/O), so each read waits on the disk, and more reads than cores keep the cores busy meanwhile. A
        // streamed get of the benchmark stream on 2 cores: 0.60-0.69 s with four, 0.55-0.60 s with eight (the
        // buffers they read and decode into are reused, see `spare.rs`; without that, eight cost as much in page
        // faults as they saved).
        let cores = crate::engine::cores();
        self.opts.uploaders.max(2 * cores).max(8)
    }

    /// Whether reads wait on a network (see [`Backend::is_remote`]).
    pub(crate) fn is_remote(&self) -> bool {
        self.backend.is_remote()
    }

    /// Options for writing values into this store (its thread count).
    pub(crate) fn write_options(&self) -> crate::engine::chunk::WriteOptions {
        crate::engine::chunk::WriteOptions { threads: self.opts.threads.max(1), ..Default::default() }
    }

    /// The repository keys.
    pub(crate) fn keys(&self) -> &Arc<Keys> {
        &self.keys
    }

    /// Decoded index nodes kept for reuse.
    pub(crate) fn nodes(&self) -> &NodeCache {
        &self.nodes
    }

    /// The hot tier.
    pub(crate) fn hot(&self) -> &HotCache {
        &self.hot
    }

    /// The warm tier, if configured.
    pub(crate) fn warm(&self) -> Option<&WarmCache> {
        self.warm.as_deref()
    }

    /// An empty pack to fill, in the buffer of a pack already stored if one is spare: a put of many packs reuses
    /// the same few buffers instead of mapping and faulting in 16 MiB per pack.
    pub(crate) fn new_pack(&self) -> PackBuilder {
        let buf = self.spare.lock().expect("spare lock").pop().unwrap_or_default();
        PackBuilder::with_buffer(buf)
    }

    /// Compress and seal a chunk whose keyed id is `id`. Pure and thread-safe: the stream writer calls this from
    /// many threads.
    pub(crate) fn seal_with_id(&self, kind: Kind, id: ChunkId, plain: &[u8]) -> SealedChunk {
        let buf = encode_with_room(self.opts.zstd_level, plain, SEAL_PREFIX);
        let sealed = self.keys.seal_buffer(kind, &id.0, buf);
        self.stats.plain_bytes_written.fetch_add(plain.len() as u64, Ordering::Relaxed);
        SealedChunk { id, sealed }
    }

    /// Store one chunk (an index node, a commit, a small value), deduplicated. It becomes durable at [`Store::flush`].
    pub(crate) fn put_chunk(&self, kind: Kind, plain: &[u8]) -> Result<ChunkPointer> {
        // A chunk no reader would accept (longer than any chunk decodes to) is refused, never stored: fields keep
        // their chunks below this, so reaching it is a bug or a schema storing too much in one piece.
        if plain.len() > crate::engine::format::MAX_CHUNK_PLAIN {
            return Err(Error::too_large("a chunk", plain.len(), crate::engine::format::MAX_CHUNK_PLAIN));
        }
        let id = self.keys.chunk_id(plain);
        if let Some(p) = self.lookup(kind, &id) {
            self.stats.chunks_deduped.fetch_add(1, Ordering::Relaxed);
            return Ok(p);
        }
        let sc = self.seal_with_id(kind, id, plain);
        if sc.sealed.len() > super::SEALED_CHUNK_MAX {
            return Err(Error::too_large("a sealed chunk", sc.sealed.len(), super::SEALED_CHUNK_MAX));
        }
        if kind == Kind::Data {
            return self.place_data(id, &sc.sealed);
        }
        let mut pack = self.open_index.lock().expect("pack lock");
        let full = !pack.fits(sc.sealed.len());
        if full {
            let full = std::mem::replace(&mut *pack, self.new_pack());
            self.upload(full)?;
        }
        let ptr = pack.push(kind, id, &sc.sealed);
        self.note_placed(kind, ptr, sc.sealed.len());
        drop(pack);
        if full {
            self.merge_if_too_many()?;
        }
        Ok(ptr)
    }

    /// Place a sealed data chunk into one of the open data packs, best fit: into the fullest pack it fits in; when
    /// it fits in none, the fullest pack is stored and a new one opened. Every writer of the process (a stream's
    /// assembler, small values, the files of `put -r`) shares the same [`OPEN_DATA_PACKS`], so memory does not grow
    /// with the writers, and smaller chunks fill the room a large one could not use (a single open pack, closed at
    /// the first chunk that did not fit, padded about 6 % of the benchmark stream's repository).
    pub(crate) fn place_data(&self, id: ChunkId, sealed: &[u8]) -> Result<ChunkPointer> {
        let mut open = self.open_data.lock().expect("pack lock");
        let mut uploaded = false;
        let fullest_fitting = (0..open.len()).filter(|&i| open[i].fits(sealed.len())).min_by_key(|&i| open[i].room());
        let i = match fullest_fitting {
            Some(i) => i,
            None => {
                if open.len() >= OPEN_DATA_PACKS {
                    let fullest = (0..open.len()).min_by_key(|&i| open[i].room()).unwrap_or(0);
                    self.upload(open.swap_remove(fullest))?;
                    uploaded = true;
                }
                open.push(self.new_pack());
                open.len() - 1
            }
        };
        let ptr = open[i].push(Kind::Data, id, sealed);
        self.note_placed(Kind::Data, ptr, sealed.len());
        if open[i].room() < NEARLY_FULL {
            self.upload(open.swap_remove(i))?;
            uploaded = true;
        }
        // A pack is handed to the uploaders under the lock, so a reader always finds it open or pending; the
        // index's merge, which can take seconds, runs after.
        drop(open);
        if uploaded {
            self.merge_if_too_many()?;
        }
        Ok(ptr)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // Stop the upload workers; pending uploads were waited for by `flush` if the caller cared.
        self.uploads.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::backend::memory::MemoryBackend;
    use crate::engine::crypto::MasterKey;
    use crate::engine::Error;

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
    fn chunks_fill_the_room_a_larger_chunk_left_and_read_back() {
        use rand::{RngCore, SeedableRng};
        let (b, store) = store();
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let mut placed = Vec::new();
        // Incompressible chunks, so sealed sizes are about the plain sizes.
        for mib in [4.0, 4.0, 4.0, 3.0, 2.0, 0.75, 4.0, 4.0, 4.0, 3.0] {
            let mut plain = vec![0u8; (mib * 1048576.0) as usize];
            rng.fill_bytes(&mut plain);
            let id = store.keys().chunk_id(&plain);
            let sc = store.seal_with_id(Kind::Data, id, &plain);
            let ptr = store.place_data(sc.id, &sc.sealed).unwrap();
            placed.push((ptr, plain));
        }
        let pack_of = |i: usize| placed[i].0.object;
        // 15 MiB fill the first pack; 2 MiB do not fit there and open a second; 0.75 MiB fit both and go to the
        // fuller, the first (a single open pack would have closed the first with 1 MiB of padding).
        assert!((1..4).all(|i| pack_of(i) == pack_of(0)));
        assert_ne!(pack_of(4), pack_of(0));
        assert_eq!(pack_of(5), pack_of(0));
        // Three 4 MiB chunks fit only the second pack; 3 MiB then fit nowhere, so the fullest pack is closed.
        assert!((6..9).all(|i| pack_of(i) == pack_of(4)));
        assert_ne!(pack_of(9), pack_of(0));
        assert_ne!(pack_of(9), pack_of(4));
        // Chunks are readable while their packs are open, and after they are stored.
        for (ptr, plain) in &placed {
            assert_eq!(store.get_chunk_streaming(Kind::Data, ptr).unwrap().as_slice(), plain.as_slice());
        }
        store.flush().unwrap();
        assert_eq!(b.list("objects/").unwrap().len(), 3);
        let fresh = Store::new(b.clone(), store.keys().clone(), StoreOptions::default());
        for (ptr, plain) in &placed {
            assert_eq!(fresh.get_chunk(Kind::Data, ptr).unwrap().as_slice(), plain.as_slice());
        }
    }

    #[test]
    fn every_writer_shares_the_open_data_packs() {
        use crate::engine::chunk::BlobWriter;
        use std::io::Write;
        let (b, store) = store();
        let store = Arc::new(store);
        // Two streams (long enough to start their pipelines) and many small values at once: they fill the same
        // open packs, so what they store together, well under one pack, makes one pack, not one (padded to its
        // size class) per writer.
        std::thread::scope(|s| {
            for t in 0..2u64 {
                let store = store.clone();
                s.spawn(move || {
                    use rand::{RngCore, SeedableRng};
                    let mut data = vec![0u8; 5 << 20];
                    rand::rngs::StdRng::seed_from_u64(t).fill_bytes(&mut data);
                    let mut w = BlobWriter::new(store.clone(), store.write_options());
                    w.write_all(&data).unwrap();
                    assert!(matches!(w.finish().unwrap(), crate::engine::chunk::Blob::Chunks(c) if c.len() > 1));
                    for i in 0..50u32 {
                        store.put_chunk(Kind::Data, format!("small {t} {i}").repeat(100).as_bytes()).unwrap();
                    }
                });
            }
        });
        assert!(store.open_data.lock().unwrap().len() <= OPEN_DATA_PACKS);
        store.flush().unwrap();
        let packs = b.list("objects/").unwrap().len();
        assert_eq!(packs, 1);
    }
}
