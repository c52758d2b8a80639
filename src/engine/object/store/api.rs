//! The public object API: what a custom field or strategy stores and reads through the [`Store`] it is handed.
//!
//! Two kinds of pointer come back:
//! - a [`Blob`], for bytes of any length: written whole ([`Store::write`]) or streamed ([`Store::blob_writer`]),
//!   cut into content-defined chunks, deduplicated, compressed and encrypted; read back whole ([`Store::read`]), by
//!   range ([`Store::read_range`]) or streamed with `io::Read + io::Seek` ([`Store::blob_reader`]);
//! - a [`ChunkPointer`], for one chunk of at most [`Store::CHUNK_MAX`] bytes stored as it is (no chunking):
//!   [`Store::put_chunk_bytes`] and [`Store::get_chunk_bytes`], for a field's own nodes or segments.
//!
//! Nothing written is durable before the commit that references it (the commit flushes the store), and garbage
//! collection keeps exactly what a commit's fields report: a field reports its pointers to the
//! [`Tracer`](crate::engine::fields::Tracer) in [`Field::trace`](crate::engine::fields::Field::trace)
//! ([`Tracer::chunk`](crate::engine::fields::Tracer::chunk) for a chunk, [`Tracer::blob`](crate::engine::fields::Tracer::blob)
//! for a blob, [`Tracer::scan`](crate::engine::fields::Tracer::scan) for every blob inside an encoded value).
//! `examples/custom_field.rs` is a field and a strategy written with this API alone.

use super::Store;
use crate::engine::chunk::{copy_range, Blob, BlobReader, BlobWriter};
use crate::engine::crypto::Kind;
use crate::engine::format::DATA_CHUNK_MAX;
use crate::engine::object::ChunkPointer;
use crate::engine::{Error, Result};
use std::io::Write;
use std::sync::Arc;

impl Store {
    /// The largest chunk [`Store::put_chunk_bytes`] stores (4 MiB); a blob has no such limit.
    pub const CHUNK_MAX: usize = DATA_CHUNK_MAX as usize;

    /// Store `bytes` as a [`Blob`] (any length; a small value is kept inline in the blob itself).
    pub fn write(self: &Arc<Self>, bytes: &[u8]) -> Result<Blob> {
        let mut w = self.blob_writer();
        w.write_all(bytes).map_err(|e| Error::io("writing a blob", e))?;
        w.finish()
    }

    /// A streaming writer: write any number of bytes, then [`BlobWriter::finish`] returns the [`Blob`]. Memory
    /// stays bounded whatever the length.
    pub fn blob_writer(self: &Arc<Self>) -> BlobWriter {
        BlobWriter::new(self.clone(), self.write_options())
    }

    /// A blob's bytes, whole.
    pub fn read(self: &Arc<Self>, blob: &Blob) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(usize::try_from(blob.size()).unwrap_or(0).min(64 << 20));
        self.read_range(blob, 0, u64::MAX, &mut out)?;
        Ok(out)
    }

    /// Bytes `[start, end)` of a blob (clamped to its size) into `out`, fetching only the chunks that cover them,
    /// several at once. Returns the number of bytes written.
    pub fn read_range(self: &Arc<Self>, blob: &Blob, start: u64, end: u64, out: &mut dyn Write) -> Result<u64> {
        copy_range(self, blob, start, end, self.read_parallelism(), out)
    }

    /// A reader of a blob with `io::Read + io::Seek`; a read fetches only the chunks it covers.
    pub fn blob_reader(self: &Arc<Self>, blob: Blob) -> BlobReader {
        BlobReader::new(self.clone(), blob)
    }

    /// Store one chunk of at most [`Store::CHUNK_MAX`] bytes as it is, deduplicated (the same bytes stored twice
    /// give the same pointer), and return where it is.
    pub fn put_chunk_bytes(&self, bytes: &[u8]) -> Result<ChunkPointer> {
        if bytes.len() > Self::CHUNK_MAX {
            return Err(Error::Invalid(format!(
                "a chunk is at most {} bytes, not {} (store larger data as a blob)",
                Self::CHUNK_MAX,
                bytes.len()
            )));
        }
        self.put_chunk(Kind::Data, bytes)
    }

    /// A chunk stored by [`Store::put_chunk_bytes`], authenticated. An integrity error when it does not
    /// authenticate or is missing.
    pub fn get_chunk_bytes(&self, ptr: &ChunkPointer) -> Result<Arc<Vec<u8>>> {
        self.get_chunk(Kind::Data, ptr)
    }
}
