//! [`BlobWriter`]: the `io::Write` sink that stores a byte stream of any length.
//!
//! Pipeline (bounded at every stage, so memory does not grow with input size):
//! ```text
//! write() --cut (FastCDC, cdc.rs)--> [jobs: bounded] --> N workers: id, dedup check, zstd, seal
//!        --> [results: bounded] --> assembler: reorder, dedup again, into the store's open data packs
//!            (best fit, shared by every writer; full packs are uploaded, bounded)
//! ```

use super::cdc::Cutter;
use super::{Blob, ChunkRef, ListBuilder};
use crate::engine::crypto::Kind;
use crate::engine::format::{DATA_CHUNK_AVG, DATA_CHUNK_MAX, DATA_CHUNK_MIN, INLINE_MAX};
use crate::engine::object::{ChunkPointer, SealedChunk, Store};
use crate::engine::{Error, Result};
use std::collections::BTreeMap;
use std::io::{self, Read as _};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Tunables of a [`BlobWriter`].
#[derive(Clone, Debug)]
pub struct WriteOptions {
    /// Worker threads for hashing, compression and encryption (default: the store's setting, all cores unless
    /// [`StoreOptions::threads`](crate::engine::object::StoreOptions::threads) says otherwise).
    pub threads: usize,
    /// Values up to this size are kept inline in the index.
    pub inline_max: usize,
}

impl Default for WriteOptions {
    fn default() -> Self {
        let threads = crate::engine::cores();
        Self { threads, inline_max: INLINE_MAX }
    }
}

enum Outcome {
    Known(ChunkPointer, u32),
    Sealed(SealedChunk, u32),
}

/// One chunk to process: a range of a shared input batch.
struct Job {
    seq: u64,
    batch: Arc<Vec<u8>>,
    start: usize,
    len: usize,
}

/// Input batches the workers are done with, for the next batches to be read into: a batch is 5 MiB, and a fresh
/// one is faulted in page by page as it is filled (about half the page faults of a put of the benchmark stream).
type SpareBatches = Arc<Mutex<Vec<Vec<u8>>>>;
/// Spare batches kept at most.
const SPARE_BATCHES: usize = 2;

struct Pipeline {
    jobs: Option<SyncSender<Job>>,
    spare: SpareBatches,
    workers: Vec<JoinHandle<()>>,
    assembler: Option<JoinHandle<Result<Blob>>>,
    seq: u64,
}

/// Stores a byte stream; [`BlobWriter::finish`] returns the [`Blob`] to keep in the index.
///
/// The chunks become durable when the repository is flushed (by the next commit, or
/// [`Repository::flush`](crate::engine::repo::Repository::flush)).
pub struct BlobWriter {
    store: Arc<Store>,
    opts: WriteOptions,
    buf: Vec<u8>,
    cutter: Cutter,
    pipeline: Option<Pipeline>,
    written: u64,
}

const BUF_HIGH: usize = DATA_CHUNK_MAX as usize;
/// How much [`BlobWriter::write_from`] reads at a time.
const READ_STEP: usize = 1 << 20;

impl BlobWriter {
    /// A writer into `store`.
    pub(crate) fn new(store: Arc<Store>, opts: WriteOptions) -> Self {
        let cutter = Cutter::new(store.keys().cdc_seed(), DATA_CHUNK_MIN, DATA_CHUNK_AVG, DATA_CHUNK_MAX);
        Self { store, opts, buf: Vec::new(), cutter, pipeline: None, written: 0 }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    fn pipeline(&mut self) -> &mut Pipeline {
        if self.pipeline.is_none() {
            self.pipeline = Some(start_pipeline(self.store.clone(), self.opts.threads.max(1)));
        }
        self.pipeline.as_mut().expect("just created")
    }

    /// Chunk boundaries in the buffer whose end is decided (all of them with `last`). The rest of the buffer
    /// must stay at the front of the next one: the cutter goes on with its scan there.
    fn cut_points(&mut self, last: bool) -> Vec<(usize, usize)> {
        self.cutter.cut(&self.buf, last)
    }

    /// Cut and send every chunk whose end is decided; with `last`, send everything. The buffer itself is handed
    /// to the workers (shared, no copy); only the undecided tail is copied into a fresh buffer.
    fn cut(&mut self, last: bool) -> Result<()> {
        let pending = self.cut_points(last);
        let consumed = pending.last().map(|(o, l)| o + l).unwrap_or(0);
        let spare = self.pipeline().spare.lock().expect("spare batches lock").pop();
        let mut next = spare.unwrap_or_else(|| Vec::with_capacity(BUF_HIGH + READ_STEP));
        next.clear();
        next.extend_from_slice(&self.buf[consumed..]);
        let batch: Arc<Vec<u8>> = Arc::new(std::mem::replace(&mut self.buf, next));
        for (off, len) in pending {
            self.send(Job { seq: 0, batch: batch.clone(), start: off, len })?;
        }
        Ok(())
    }

    /// Store everything `input` yields, reading straight into the chunking buffer (one copy fewer than
    /// [`io::Write`]). Returns the bytes read; `progress` is told the running total.
    pub fn write_from(&mut self, input: &mut dyn io::Read, progress: &mut dyn FnMut(u64)) -> Result<u64> {
        let mut total = 0u64;
        loop {
            if self.buf.capacity() < BUF_HIGH + READ_STEP {
                self.buf.reserve(BUF_HIGH + READ_STEP - self.buf.len());
            }
            let want = (BUF_HIGH + READ_STEP).saturating_sub(self.buf.len()).max(READ_STEP) as u64;
            let mut limited = <&mut dyn io::Read as io::Read>::take(&mut *input, want);
            let n = match limited.read_to_end(&mut self.buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io("reading input", e)),
            };
            total += n as u64;
            self.written += n as u64;
            progress(total);
            if self.buf.len() >= BUF_HIGH {
                self.cut(false)?;
            }
            if n == 0 {
                return Ok(total);
            }
        }
    }

    fn send(&mut self, mut job: Job) -> Result<()> {
        let p = self.pipeline();
        job.seq = p.seq;
        p.seq += 1;
        let sent = p.jobs.as_ref().map(|tx| tx.send(job).is_ok()).unwrap_or(false);
        if !sent {
            // The assembler stopped early: its error says why.
            return Err(self.abort());
        }
        Ok(())
    }

    fn abort(&mut self) -> Error {
        match self.pipeline.take().map(join) {
            Some(Err(e)) => e,
            _ => Error::internal("stream pipeline stopped"),
        }
    }

    /// Store what remains and return the blob.
    pub fn finish(mut self) -> Result<Blob> {
        if self.pipeline.is_none() && self.buf.len() <= self.opts.inline_max {
            return Ok(Blob::Inline(std::mem::take(&mut self.buf)));
        }
        if self.pipeline.is_none() {
            // A small value: chunk and seal on this thread rather than starting workers.
            let mut list = ListBuilder::default();
            for (off, len) in self.cut_points(true) {
                let ptr = self.store.put_chunk(Kind::Data, &self.buf[off..off + len])?;
                list.push(&self.store, ChunkRef { len: len as u32, ptr })?;
            }
            return list.finish(&self.store);
        }
        if !self.buf.is_empty() {
            self.cut(true)?;
        }
        match self.pipeline.take() {
            Some(p) => join(p),
            None => Ok(Blob::Chunks(Vec::new())),
        }
    }
}

fn join(mut p: Pipeline) -> Result<Blob> {
    drop(p.jobs.take());
    for w in p.workers.drain(..) {
        let _ = w.join();
    }
    match p.assembler.take().map(|a| a.join()) {
        Some(Ok(r)) => r,
        _ => Err(Error::internal("stream assembler panicked")),
    }
}

impl io::Write for BlobWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        self.written += data.len() as u64;
        if self.buf.len() >= BUF_HIGH {
            self.cut(false)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if let Some(p) = self.pipeline.take() {
            let _ = join(p);
        }
    }
}

fn start_pipeline(store: Arc<Store>, threads: usize) -> Pipeline {
    // Short queues: every queued job keeps its input batch (up to 9 MiB) alive, and every queued result holds a
    // sealed chunk; the workers stay busy with one job waiting each.
    let (jobs_tx, jobs_rx) = sync_channel::<Job>(threads);
    let (res_tx, res_rx) = sync_channel::<(u64, Outcome)>(threads);
    let jobs_rx = Arc::new(Mutex::new(jobs_rx));
    let spare = SpareBatches::default();
    let workers = (0..threads)
        .map(|_| {
            let rx = jobs_rx.clone();
            let tx = res_tx.clone();
            let store = store.clone();
            let spare = spare.clone();
            std::thread::spawn(move || loop {
                let job = rx.lock().map(|r| r.recv());
                let Ok(Ok(Job { seq, batch, start, len })) = job else { break };
                let data = &batch[start..start + len];
                let len = len as u32;
                let id = store.keys().chunk_id(data);
                let out = match store.lookup(Kind::Data, &id) {
                    Some(p) => Outcome::Known(p, len),
                    None => Outcome::Sealed(store.seal_with_id(Kind::Data, id, data), len),
                };
                // The last job of a batch hands its buffer back for a later batch.
                if let Ok(buf) = Arc::try_unwrap(batch) {
                    let mut spare = spare.lock().expect("spare batches lock");
                    if spare.len() < SPARE_BATCHES && buf.capacity() <= 2 * (BUF_HIGH + READ_STEP) {
                        spare.push(buf);
                    }
                }
                if tx.send((seq, out)).is_err() {
                    break;
                }
            })
        })
        .collect();
    drop(res_tx);
    let assembler = std::thread::spawn(move || assemble(store, res_rx));
    Pipeline { jobs: Some(jobs_tx), spare, workers, assembler: Some(assembler), seq: 0 }
}

fn assemble(store: Arc<Store>, results: Receiver<(u64, Outcome)>) -> Result<Blob> {
    let mut next = 0u64;
    let mut waiting: BTreeMap<u64, Outcome> = BTreeMap::new();
    let mut list = ListBuilder::default();
    for (seq, out) in results {
        waiting.insert(seq, out);
        while let Some(out) = waiting.remove(&next) {
            next += 1;
            let cr = match out {
                Outcome::Known(ptr, len) => {
                    store.stats.chunks_deduped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    ChunkRef { len, ptr }
                }
                Outcome::Sealed(sc, len) => match store.lookup(Kind::Data, &sc.id) {
                    // An identical chunk earlier in this stream, sealed concurrently.
                    Some(ptr) => ChunkRef { len, ptr },
                    None => ChunkRef { len, ptr: store.place_data(sc.id, &sc.sealed)? },
                },
            };
            list.push(&store, cr)?;
        }
    }
    list.finish(&store)
}
