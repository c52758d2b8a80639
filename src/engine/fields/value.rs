//! Values too large for the place a field keeps them: stored as a blob of their own, a reference in their place.
//!
//! A stored value is either the CBOR of the value (as always), or, when that encoding is longer than where the
//! field keeps it allows, `#6.1768842870(blob)`: the CBOR tag `0x696e6676` ("infv") around a [`Blob`] whose bytes
//! are the CBOR of the value. Readers tell the two apart by the tag, which no value's own encoding starts with
//! (serde never writes that tag), so values stored before keep their meaning.

use super::map::{decode_value, encode_value};
use super::Tracer;
use crate::engine::chunk::{Blob, BlobWriter, ChunkWalk};
use crate::engine::crypto::Kind;
use crate::engine::object::Store;
use crate::engine::{Error, Result};
use serde::{de::DeserializeOwned, Serialize};
use std::io::Write;
use std::sync::Arc;

/// The CBOR tag of a value stored as a blob.
pub(crate) const BIG_VALUE_TAG: u64 = 0x696e_6676;

/// How a tagged value starts: major type 6 with a 4-byte argument, then the tag.
const BIG_PREFIX: [u8; 5] = [0xda, 0x69, 0x6e, 0x66, 0x76];

type Tagged = ciborium::tag::Required<Blob, BIG_VALUE_TAG>;

/// The encoding of `v` as it is to be stored where at most `inline_max` bytes fit: the CBOR of the value, or a
/// reference to a blob holding it (written now).
pub(crate) fn encode_stored<V: Serialize>(store: &Arc<Store>, v: &V, inline_max: usize) -> Result<Vec<u8>> {
    let bytes = encode_value(v);
    if bytes.len() <= inline_max {
        return Ok(bytes);
    }
    let mut w = BlobWriter::new(store.clone(), store.write_options());
    w.write_all(&bytes).map_err(|e| Error::io("storing a large value", e))?;
    drop(bytes);
    let blob = w.finish()?;
    let mut out = Vec::new();
    ciborium::into_writer(&Tagged { 0: blob }, &mut out).expect("CBOR encoding into memory cannot fail");
    Ok(out)
}

/// The blob a stored value refers to, if it is stored as one.
pub(crate) fn big_value(b: &[u8]) -> Result<Option<Blob>> {
    if !b.starts_with(&BIG_PREFIX) {
        return Ok(None);
    }
    let t: Tagged = ciborium::from_reader(b).map_err(|e| Error::corrupt("a large value's reference", e))?;
    Ok(Some(t.0))
}

/// The value stored as `b` (its own encoding, or a blob's).
pub(crate) fn decode_stored<V: DeserializeOwned>(store: &Store, b: &[u8]) -> Result<V> {
    decode_value(&full_encoding(store, b)?)
}

/// The value's own encoding, whether stored as `b` itself or in the blob `b` refers to: what to decode, and what
/// to look through for blobs the value holds.
pub(crate) fn full_encoding<'b>(store: &Store, b: &'b [u8]) -> Result<std::borrow::Cow<'b, [u8]>> {
    Ok(match big_value(b)? {
        None => std::borrow::Cow::Borrowed(b),
        Some(blob) => std::borrow::Cow::Owned(read_all(store, &blob)?),
    })
}

/// Report the blob a stored value refers to, if any.
pub(crate) fn trace_stored(b: &[u8], tracer: &mut Tracer<'_>) -> Result<()> {
    match big_value(b)? {
        Some(blob) => tracer.blob(&blob),
        None => Ok(()),
    }
}

/// Trace a stored value: the blob it is stored as, if it is (its chunks are the value's), and every blob inside
/// the value's own encoding ([`Tracer::scan`]), read from that blob when it is one. Returns the value's own
/// encoding, for a field that also decodes what it traces.
pub(crate) fn trace_value<'b>(
    store: &Store,
    b: &'b [u8],
    tracer: &mut Tracer<'_>,
) -> Result<std::borrow::Cow<'b, [u8]>> {
    trace_stored(b, tracer)?;
    let full = full_encoding(store, b)?;
    tracer.scan(&full)?;
    Ok(full)
}

/// Whether two stored forms are the same large value (by content: the same bytes stored by two writers are
/// packed at different places), when both are large values; `None` otherwise.
pub(crate) fn same_big(a: &[u8], b: &[u8]) -> Option<bool> {
    match (big_value(a), big_value(b)) {
        (Ok(Some(x)), Ok(Some(y))) => Some(x.same_content(&y)),
        _ => None,
    }
}

/// Every byte of `blob`, read chunk by chunk without filling the chunk cache.
fn read_all(store: &Store, blob: &Blob) -> Result<Vec<u8>> {
    if let Blob::Inline(v) = blob {
        return Ok(v.clone());
    }
    let size = blob.size();
    // The size comes from authenticated data; still, reserve no more than one chunk list's worth up front.
    let mut out = Vec::with_capacity(size.min(64 << 20) as usize);
    for c in ChunkWalk::new(store, blob, 0, size) {
        let (_, cr) = c?;
        let data = store.get_chunk_streaming(Kind::Data, &cr.ptr)?;
        if data.len() != cr.len as usize {
            return Err(Error::integrity("chunk length differs from its reference"));
        }
        out.extend_from_slice(&data);
    }
    if out.len() as u64 != size {
        return Err(Error::integrity("a large value's chunk list is shorter than its size"));
    }
    Ok(out)
}
