//! Reading values back: [`BlobReader`] (`io::Read + io::Seek`, fetching only the chunks it needs) and
//! [`copy_range`] (parallel, ordered fetches for streaming a whole value or a range out).

use super::{Blob, ChunkRef, ChunkWalk};
use crate::engine::object::{Piece, Store};
use crate::engine::{Error, Result};
use std::collections::BTreeMap;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};

/// Random access to a stored value.
pub struct BlobReader {
    store: Arc<Store>,
    blob: Blob,
    size: u64,
    pos: u64,
    /// The chunk holding `pos` (its offset and bytes), once fetched.
    current: Option<(u64, Piece)>,
}

impl BlobReader {
    /// A reader positioned at the start of `blob`.
    pub(crate) fn new(store: Arc<Store>, blob: Blob) -> Self {
        let size = blob.size();
        Self { store, blob, size, pos: 0, current: None }
    }

    /// Length of the value.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn load(&mut self) -> Result<()> {
        if let Some((off, c)) = &self.current {
            if self.pos >= *off && self.pos < off + c.bytes().len() as u64 {
                return Ok(());
            }
        }
        let found = ChunkWalk::new(&self.store, &self.blob, self.pos, self.size).next();
        match found {
            Some(Ok((off, cr))) => {
                let data = fetch(&self.store, &cr)?;
                if let Some((_, done)) = self.current.replace((off, data)) {
                    self.store.recycle(done);
                }
                Ok(())
            }
            Some(Err(e)) => Err(e),
            None => Err(Error::integrity("value's chunk list ends before its size")),
        }
    }
}

fn fetch(store: &Store, cr: &ChunkRef) -> Result<Piece> {
    let data = store.get_piece(&cr.ptr)?;
    if data.bytes().len() != cr.len as usize {
        return Err(Error::integrity("chunk length differs from its reference"));
    }
    Ok(data)
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.size || buf.is_empty() {
            return Ok(0);
        }
        if let Blob::Inline(v) = &self.blob {
            let start = self.pos as usize;
            let n = buf.len().min(v.len() - start);
            buf[..n].copy_from_slice(&v[start..start + n]);
            self.pos += n as u64;
            return Ok(n);
        }
        self.load()?;
        let (off, chunk) = self.current.as_ref().expect("loaded above");
        let chunk = chunk.bytes();
        let start = (self.pos - off) as usize;
        let n = buf.len().min(chunk.len() - start);
        buf[..n].copy_from_slice(&chunk[start..start + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for BlobReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.size.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match target {
            Some(t) => {
                self.pos = t;
                Ok(t)
            }
            None => Err(io::Error::new(io::ErrorKind::InvalidInput, "seek before the start of the value")),
        }
    }
}

/// Chunks handed out to `threads` readers and not yet written out, at most: enough to keep jobs waiting for every
/// reader, few enough that a slow read holds back only that many chunks' buffers.
pub(super) fn window(threads: usize) -> usize {
    2 * threads + 8
}

/// Write bytes `[start, end)` of `blob` to `out`, fetching chunks on `threads` threads in a bounded window
/// and writing them in order (with one thread, on the caller's thread). Returns the bytes written.
pub fn copy_range(
    store: &Arc<Store>,
    blob: &Blob,
    start: u64,
    end: u64,
    threads: usize,
    out: &mut dyn Write,
) -> Result<u64> {
    let end = end.min(blob.size());
    if start >= end {
        return Ok(0);
    }
    if let Blob::Inline(v) = blob {
        out.write_all(&v[start as usize..end as usize]).map_err(|e| Error::io("writing output", e))?;
        return Ok(end - start);
    }
    if threads <= 1 {
        // One thread: fetch in order on the caller's thread (no workers to start for a small value).
        let mut written = 0u64;
        for item in ChunkWalk::new(store, blob, start, end) {
            let (off, cr) = item?;
            let data = fetch(store, &cr)?;
            let bytes = data.bytes();
            let a = start.saturating_sub(off) as usize;
            let b = ((end - off) as usize).min(bytes.len());
            out.write_all(&bytes[a..b]).map_err(|e| Error::io("writing output", e))?;
            written += (b - a) as u64;
            store.recycle(data);
        }
        if written != end - start {
            return Err(Error::integrity("value's chunk list is shorter than its size"));
        }
        return Ok(written);
    }
    // Jobs are only references, so many may wait: a worker that finishes takes the next one at once, rather than
    // waiting for the walker to be woken and scheduled on cores the workers keep busy (with one waiting job, a
    // streamed get of the benchmark stream left 10 % of 2 cores idle, and took about 3 % longer). What bounds the
    // chunks held at once, each with its buffers, is the window of tokens below.
    let (job_tx, job_rx) = sync_channel::<(u64, u64, ChunkRef)>(64);
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (res_tx, res_rx) = sync_channel::<(u64, Result<(u64, Piece)>)>(threads);
    // One token per chunk handed out and not yet written: while one read is slow (a request retried, a stalled
    // disk), the walker stops at `window` chunks ahead of it, rather than the chunks read after it piling up in
    // memory until it comes.
    let (token_tx, token_rx) = sync_channel::<()>(window(threads));
    std::thread::scope(|s| -> Result<u64> {
        for _ in 0..threads {
            let job_rx = job_rx.clone();
            let res_tx = res_tx.clone();
            s.spawn(move || loop {
                let job = job_rx.lock().map(|r| r.recv());
                let Ok(Ok((seq, off, cr))) = job else { break };
                let r = fetch(store, &cr).map(|d| (off, d));
                if res_tx.send((seq, r)).is_err() {
                    break;
                }
            });
        }
        // Only the workers may hold the job queue: when they stop (after an error, or because the output closed),
        // the queue closes and the producer stops too.
        drop(job_rx);
        drop(res_tx);
        let producer = s.spawn(move || -> Result<()> {
            for (seq, item) in ChunkWalk::new(store, blob, start, end).enumerate() {
                let (off, cr) = item?;
                if token_tx.send(()).is_err() || job_tx.send((seq as u64, off, cr)).is_err() {
                    break;
                }
            }
            Ok(())
        });
        let mut next = 0u64;
        let mut waiting = BTreeMap::new();
        let mut written = 0u64;
        let mut failure = None;
        for (seq, r) in res_rx.iter() {
            waiting.insert(seq, r);
            while let Some(r) = waiting.remove(&next) {
                next += 1;
                match r {
                    Ok((off, data)) => {
                        let bytes = data.bytes();
                        let a = start.saturating_sub(off) as usize;
                        let b = ((end - off) as usize).min(bytes.len());
                        if let Err(e) = out.write_all(&bytes[a..b]) {
                            failure = Some(Error::io("writing output", e));
                            break;
                        }
                        written += (b - a) as u64;
                        store.recycle(data);
                        // Its token: the walker may hand out one more.
                        let _ = token_rx.try_recv();
                    }
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            if failure.is_some() {
                break;
            }
        }
        // The walker may be waiting for a token, or to hand out a job: both fail once these are gone.
        drop(res_rx);
        drop(token_rx);
        let produced = producer.join().unwrap_or_else(|_| Err(Error::internal("chunk walker panicked")));
        if let Some(e) = failure {
            return Err(e);
        }
        produced?;
        if written != end - start {
            return Err(Error::integrity("value's chunk list is shorter than its size"));
        }
        Ok(written)
    })
}
