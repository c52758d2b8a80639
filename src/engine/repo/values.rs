//! Values and what the repository holds: writing and reading blobs outside any index, flushing, and size and
//! cache statistics.

use super::Repository;
use crate::engine::chunk::{copy_range, Blob, BlobReader, BlobWriter, StreamReader, WriteOptions};
use crate::engine::crypto::Kind;
use crate::engine::object::parse_object_name;
use crate::engine::Result;
use std::io::{Read, Write};
use std::sync::atomic::Ordering::Relaxed;

/// What a repository stores (see [`Repository::stats`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepositoryStats {
    /// Objects (packs) in the repository.
    pub objects: u64,
    /// Bytes the objects occupy, padding included.
    pub repository_bytes: u64,
    /// Chunks listed in the packs' tables.
    pub chunks: u64,
    /// Sealed (compressed and encrypted) bytes of those chunks.
    pub stored_chunk_bytes: u64,
    /// Chunks and sealed bytes by kind: values' data chunks, index and chunk-list nodes, commits.
    pub data: KindStats,
    /// See [`RepositoryStats::data`].
    pub index: KindStats,
    /// See [`RepositoryStats::data`].
    pub commits: KindStats,
    /// Forwarding tables garbage collection wrote (`forward/`): how many, and their bytes.
    pub forward_tables: KindStats,
    /// Refs (branches, tags, the gc ref, the forget record; every generation a directory keeps): how many objects,
    /// and their bytes.
    pub refs: KindStats,
}

/// A count and a number of bytes (see [`RepositoryStats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KindStats {
    /// How many.
    pub count: u64,
    /// Their bytes.
    pub bytes: u64,
}

impl KindStats {
    fn add(&mut self, bytes: u64) {
        self.count += 1;
        self.bytes += bytes;
    }
}

/// What the cache tiers did since a repository was opened (see [`Repository::cache_stats`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Hot tier (decrypted chunks in memory) hits.
    pub hot_hits: u64,
    /// Hot tier misses.
    pub hot_misses: u64,
    /// Warm tier (sealed chunks on local disk) hits.
    pub warm_hits: u64,
    /// Warm tier misses.
    pub warm_misses: u64,
    /// Bytes the warm tier served.
    pub warm_bytes: u64,
    /// Bytes the warm tier holds on disk; `None` when there is no warm tier.
    pub warm_disk_bytes: Option<u64>,
    /// Chunk reads that went to the backend.
    pub cold_reads: u64,
    /// Bytes fetched from the backend for chunks.
    pub cold_bytes: u64,
}

/// What a repository wrote since it was opened (see [`Repository::write_stats`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Chunks sealed and stored.
    pub chunks_written: u64,
    /// Chunks found already stored (deduplicated), not written again.
    pub chunks_deduped: u64,
    /// Packs written.
    pub packs_written: u64,
    /// Bytes of packs written, padding included.
    pub pack_bytes_written: u64,
}

impl Repository {
    /// What this repository wrote of data and index since it was opened (packs only: refs are not counted).
    pub fn write_stats(&self) -> WriteStats {
        let s = &self.store().stats;
        WriteStats {
            chunks_written: s.chunks_written.load(Relaxed),
            chunks_deduped: s.chunks_deduped.load(Relaxed),
            packs_written: s.packs_written.load(Relaxed),
            pack_bytes_written: s.pack_bytes_written.load(Relaxed),
        }
    }

    /// The options new values are written with (chunking, compression and threads, from the
    /// [`StoreOptions`](crate::engine::object::StoreOptions) the repository was opened with).
    pub fn write_options(&self) -> WriteOptions {
        self.store().write_options()
    }

    /// A streaming writer for one value: write any number of bytes, then [`BlobWriter::finish`] returns the
    /// [`Blob`] to keep in a field. Chunks are deduplicated, compressed and encrypted on several threads.
    pub fn blob_writer(&self) -> BlobWriter {
        BlobWriter::new(self.store().clone(), self.write_options())
    }

    /// Store everything `input` yields as one value. `progress` is called with the bytes read so far.
    pub fn write_blob(&self, input: &mut dyn Read, progress: &mut dyn FnMut(u64)) -> Result<Blob> {
        let mut w = self.blob_writer();
        w.write_from(input, progress)?;
        w.finish()
    }

    /// A reader of a stored value with `io::Read + io::Seek`; a read fetches only the chunks it covers.
    pub fn blob_reader(&self, blob: Blob) -> BlobReader {
        BlobReader::new(self.store().clone(), blob)
    }

    /// Tell the repository which values are about to be read, in order (a walk writing many small values out): on a
    /// remote backend their chunks are fetched now, neighbours in one ranged request, and kept until their reads
    /// take them, instead of one round trip each. A value's chunks beyond the first list level (values of many
    /// megabytes) are left to their reads. Does nothing on a local backend. Nothing fails here: a chunk that cannot
    /// be read ahead is read, and its failure reported, by its own read.
    pub fn read_ahead<'a>(&self, blobs: impl IntoIterator<Item = &'a Blob>) {
        let ptrs: Vec<crate::engine::object::ChunkPointer> = blobs
            .into_iter()
            .flat_map(|b| match b {
                Blob::Chunks(cs) => cs.iter().map(|c| c.ptr).collect(),
                _ => Vec::new(),
            })
            .collect();
        self.store().read_ahead(&ptrs);
    }

    /// Forget every chunk read ahead ([`Repository::read_ahead`]) and not read yet (a walk that stopped early).
    pub fn clear_read_ahead(&self) {
        self.store().clear_read_ahead();
    }

    /// A sequential reader of bytes `[start, end)` of a value that fetches chunks ahead on several threads (for
    /// streaming a large value out).
    pub fn stream_reader(&self, blob: Blob, start: u64, end: u64) -> StreamReader {
        StreamReader::new(self.store().clone(), blob, start, end, self.store().read_parallelism())
    }

    /// Write bytes `[start, end)` of a value into `out` (clamped to its size), fetching chunks in parallel.
    /// Returns the number of bytes written.
    pub fn copy_range(&self, blob: &Blob, start: u64, end: u64, out: &mut dyn Write) -> Result<u64> {
        copy_range(self.store(), blob, start, end, self.store().read_parallelism(), out)
    }

    /// Make every value written so far durable (a commit does this too).
    pub fn flush(&self) -> Result<()> {
        self.store().flush()
    }

    /// Count the repository's objects and the chunks they hold (lists the objects and reads every pack's table).
    /// `progress` is called with the number of tables read and the number of objects.
    pub fn stats(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<RepositoryStats> {
        let objects = self.backend().list("objects/")?;
        let mut s = RepositoryStats {
            objects: objects.len() as u64,
            repository_bytes: objects.iter().map(|o| o.size).sum(),
            ..RepositoryStats::default()
        };
        for (i, o) in objects.iter().enumerate() {
            progress(i as u64 + 1, s.objects);
            if let Some(id) = parse_object_name(&o.name) {
                let t = self.store().pack_table(&id)?;
                s.chunks += t.len() as u64;
                s.stored_chunk_bytes += t.iter().map(|e| e.len as u64).sum::<u64>();
                for e in &t {
                    match crate::engine::object::kind_from_u8(e.kind) {
                        Some(Kind::Data) => s.data.add(e.len.into()),
                        Some(Kind::Commit) => s.commits.add(e.len.into()),
                        _ => s.index.add(e.len.into()),
                    }
                }
            }
        }
        for o in self.backend().list("forward/")? {
            s.forward_tables.add(o.size);
        }
        for o in self.backend().list("refs/")? {
            s.refs.add(o.size);
        }
        Ok(s)
    }

    /// What the cache tiers did since this repository was opened.
    pub fn cache_stats(&self) -> CacheStats {
        let store = self.store();
        let mut t = CacheStats {
            hot_hits: store.hot().hits.load(Relaxed),
            hot_misses: store.hot().misses.load(Relaxed),
            cold_reads: store.stats.chunks_fetched.load(Relaxed),
            cold_bytes: store.stats.bytes_fetched.load(Relaxed),
            ..CacheStats::default()
        };
        if let Some(w) = store.warm() {
            t.warm_hits = w.hits.load(Relaxed);
            t.warm_misses = w.misses.load(Relaxed);
            t.warm_bytes = w.hit_bytes.load(Relaxed);
            t.warm_disk_bytes = Some(w.disk_bytes());
        }
        t
    }
}
