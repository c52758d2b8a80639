//! Storage strategies: how a keyed field stores its values.
//!
//! - [`Local`] keeps each value next to its key: inside the index tree's leaves for a
//!   [`VersionedMap`](super::VersionedMap), inside the one stream of a [`Map`](super::Map). One read brings keys
//!   and values together. Pick it for small values (up to a few hundred bytes) and for fields that are usually
//!   read whole.
//! - [`Sparse`] stores each value as a chunk of its own and keeps only a 72-byte pointer next to the key, so keys
//!   can be listed, counted and range-scanned without reading a single value, and a commit that leaves a value
//!   unchanged does not rewrite it (identical values deduplicate). Pick it for large values (kilobytes and up; a
//!   value over 4 MiB is stored as a blob of its own) that are read one at a time, and for maps that are scanned
//!   by key far more often than read in full.
//!
//! `make bench` (the `fields` benchmark) measures both on the same data; docs/library.md has the figures.
//!
//! A strategy is a type parameter of the field, or, in a derived index, the seed's attribute
//! `#[infini(strategy = "infini::fields::SparseField")]` on the field; either way the choice is fixed in the
//! schema:
//!
//! ```
//! use infini::fields::{Sparse, VersionedMap};
//! // Thumbnails are large and read one at a time: store them apart from the keys.
//! let thumbnails: VersionedMap<String, Vec<u8>, Sparse> = VersionedMap::default();
//! thumbnails.insert("cat.jpg".into(), vec![0xff; 10_000]);
//! ```

use super::Tracer;
use crate::engine::object::{ChunkPointer, Store};
use crate::engine::{Error, Result};
use std::sync::Arc;

/// How a keyed field stores a value's encoded bytes (see the [module docs](self)).
///
/// A program can write its own: `put` turns a value's encoding into what is kept beside its key, writing whatever
/// it needs through the [`Store`]'s object API; `get` reads it back; `trace` reports to garbage collection every
/// chunk and blob the stored form points at (the field itself reports the blobs inside the value).
/// `examples/custom_field.rs` holds one.
pub trait Strategy: Send + Sync + 'static {
    /// Short name, for documentation and error messages.
    const NAME: &'static str;
    /// The longest value encoding [`put`](Strategy::put) takes. A field stores a longer value as a blob of its own
    /// first and hands `put` the blob's reference instead (a few hundred bytes), so any value can be stored.
    const MAX_PUT: usize = usize::MAX;
    /// Turn a value's encoding into what is stored beside its key (writing chunks if needed).
    fn put(store: &Arc<Store>, value: &[u8]) -> Result<Vec<u8>>;
    /// The value's encoding back from what is stored beside its key.
    fn get(store: &Arc<Store>, stored: &[u8]) -> Result<Arc<Vec<u8>>>;
    /// Whether two stored forms hold the same value (without reading the values).
    fn same(a: &[u8], b: &[u8]) -> bool;
    /// Report every chunk or blob a stored form references ([`Tracer::chunk`], [`Tracer::blob`]); a pointer left
    /// out is deleted by garbage collection.
    fn trace(stored: &[u8], tracer: &mut Tracer<'_>) -> Result<()>;
}

/// Values beside their keys (the seed's `LocalField`): one stream holds both.
#[derive(Debug, Default, Clone, Copy)]
pub struct Local;

/// Values apart from their keys (the seed's `SparseField`): each value is a chunk; keys hold pointers.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sparse;

impl Strategy for Local {
    const NAME: &'static str = "local";
    fn put(_: &Arc<Store>, value: &[u8]) -> Result<Vec<u8>> {
        Ok(value.to_vec())
    }
    fn get(_: &Arc<Store>, stored: &[u8]) -> Result<Arc<Vec<u8>>> {
        Ok(Arc::new(stored.to_vec()))
    }
    fn same(a: &[u8], b: &[u8]) -> bool {
        a == b
    }
    fn trace(_: &[u8], _: &mut Tracer<'_>) -> Result<()> {
        Ok(())
    }
}

fn decode_pointer(stored: &[u8]) -> Result<ChunkPointer> {
    ciborium::from_reader(stored)
        .map_err(|e| Error::type_mismatch("a stored value", "a value of the sparse strategy (a chunk pointer)", e))
}

impl Strategy for Sparse {
    const NAME: &'static str = "sparse";
    const MAX_PUT: usize = Store::CHUNK_MAX;
    fn put(store: &Arc<Store>, value: &[u8]) -> Result<Vec<u8>> {
        if value.len() > Store::CHUNK_MAX {
            return Err(Error::Invalid(format!(
                "a sparse field's value is at most {} bytes encoded, not {} (store large data as a blob)",
                Store::CHUNK_MAX,
                value.len()
            )));
        }
        let ptr = store.put_chunk_bytes(value)?;
        let mut out = Vec::with_capacity(74);
        ciborium::into_writer(&ptr, &mut out).expect("CBOR encoding into memory cannot fail");
        Ok(out)
    }
    fn get(store: &Arc<Store>, stored: &[u8]) -> Result<Arc<Vec<u8>>> {
        store.get_chunk_bytes(&decode_pointer(stored)?)
    }
    fn same(a: &[u8], b: &[u8]) -> bool {
        // Equal chunk ids are equal plaintexts, wherever the two copies were packed.
        match (decode_pointer(a), decode_pointer(b)) {
            (Ok(x), Ok(y)) => x.id == y.id,
            _ => a == b,
        }
    }
    fn trace(stored: &[u8], tracer: &mut Tracer<'_>) -> Result<()> {
        tracer.chunk(&decode_pointer(stored)?)
    }
}
