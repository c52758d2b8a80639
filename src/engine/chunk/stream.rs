//! [`StreamReader`]: an `io::Read` over a range of a value that fetches the following chunks in the background,
//! in parallel, while the caller consumes the current one (for sequential readers that want `Read`, such as a tar
//! writer or a file read through a mount).

use super::{copy_range, Blob};
use crate::engine::object::Store;
use crate::engine::{Error, Result};
use std::io::{self, Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Pieces (about one chunk each) waiting between the fetching thread and the reader.
const QUEUE: usize = 2;

/// Sequential reads of `[start, end)` of a value, fetched ahead on `threads` threads. Memory is bounded by a few
/// chunks per thread. Dropping the reader stops the fetching.
pub struct StreamReader {
    rx: Option<Receiver<Result<Vec<u8>>>>,
    piece: Vec<u8>,
    at: usize,
    pos: u64,
    end: u64,
    worker: Option<JoinHandle<()>>,
}

struct Pipe(SyncSender<Result<Vec<u8>>>);

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.send(Ok(buf.to_vec())).map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl StreamReader {
    /// Start reading bytes `[start, end)` of `blob` (clipped to its size).
    pub(crate) fn new(store: Arc<Store>, blob: Blob, start: u64, end: u64, threads: usize) -> Self {
        let end = end.min(blob.size());
        let (tx, rx) = sync_channel(QUEUE);
        let worker = std::thread::spawn(move || {
            let mut pipe = Pipe(tx.clone());
            if let Err(e) = copy_range(&store, &blob, start, end, threads, &mut pipe) {
                // A closed pipe means the reader is gone; anything else is the reader's to see.
                let _ = tx.send(Err(e));
            }
        });
        Self { rx: Some(rx), piece: Vec::new(), at: 0, pos: start, end, worker: Some(worker) }
    }

    /// Offset of the next byte [`Read::read`] returns.
    pub fn position(&self) -> u64 {
        self.pos
    }
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.pos >= self.end {
            return Ok(0);
        }
        while self.at >= self.piece.len() {
            let Some(rx) = &self.rx else { return Ok(0) };
            match rx.recv() {
                Ok(Ok(p)) => {
                    self.piece = p;
                    self.at = 0;
                }
                Ok(Err(e)) => {
                    self.rx = None;
                    return Err(e.into());
                }
                Err(_) => {
                    self.rx = None;
                    return Err(Error::integrity("value ended before its size").into());
                }
            }
        }
        let n = buf.len().min(self.piece.len() - self.at);
        buf[..n].copy_from_slice(&self.piece[self.at..self.at + n]);
        self.at += n;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Drop for StreamReader {
    fn drop(&mut self) {
        // Closing the queue makes the fetcher's next write fail, which stops it.
        self.rx = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}
