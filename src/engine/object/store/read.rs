//! The read path: a chunk by pointer from the hot tier, the packs not yet uploaded, the warm tier, then a ranged
//! read of exactly the sealed bytes; authenticated and decoded before anyone sees it.

use super::codec::{decode_delta, decode_in, delta_base};
use super::Store;
use crate::engine::crypto::Kind;
use crate::engine::id::ObjectId;
use crate::engine::object::{object_name, read_table, ChunkPointer, TableEntry};
use crate::engine::{Error, Result};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// A chunk's plaintext, `buf[start..]`, as [`Store::get_piece`] hands it out.
pub(crate) struct Piece {
    pub(super) buf: Arc<Vec<u8>>,
    pub(super) start: usize,
}

impl Piece {
    /// The plaintext.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

/// Bytes [`Store::get_commit_reading_behind`] reads before a commit: index nodes are at most 16 KiB before
/// compression, a few KiB after, so this holds the root and the nodes written last (for a commit of a few changes,
/// all it wrote).
const BEHIND: u64 = 64 << 10;

/// A span of a pack read with a commit: its sealed bytes from `start` on.
pub(crate) struct Behind {
    object: ObjectId,
    start: u64,
    bytes: Arc<Vec<u8>>,
}

impl Behind {
    /// The sealed bytes of `ptr`, if this span holds them.
    fn sealed(&self, ptr: &ChunkPointer) -> Option<&[u8]> {
        let at = (ptr.object == self.object).then(|| (ptr.offset as u64).checked_sub(self.start)).flatten()?;
        self.bytes.get(at as usize..at as usize + ptr.len as usize)
    }
}

impl Store {
    /// Read a commit whose index is read next (the commit a view opens): from a remote backend, when the commit is
    /// in no cache, one ranged read brings [`BEHIND`] bytes of its pack from before it too. A commit is written
    /// after its index nodes, into the same pack, so they hold its index's root and the nodes written last; the
    /// walk that follows finds them there (see [`Store::read_ahead_nodes`]) instead of a round trip each. Otherwise
    /// (and whenever the span cannot be read: its pack moved, say) exactly [`Store::get_chunk`].
    pub(crate) fn get_commit_reading_behind(&self, ptr: &ChunkPointer) -> Result<Arc<Vec<u8>>> {
        let kind = Kind::Commit;
        self.refuse_write_only(kind)?;
        let cold = self.is_remote()
            && self.hot.get(&(kind as u8, ptr.id)).is_none()
            && !self.is_pending(&ptr.object)
            && !self.warm.as_ref().is_some_and(|w| w.contains(ptr, true));
        if cold {
            let start = (ptr.offset as u64).saturating_sub(BEHIND);
            let len = ptr.offset as u64 + ptr.len as u64 - start;
            if let Ok(bytes) = self.backend.read_range(&object_name(&ptr.object), start, len) {
                if bytes.len() as u64 == len {
                    self.stats.bytes_fetched.fetch_add(len, Ordering::Relaxed);
                    *self.behind.lock().expect("behind lock") =
                        Some(Behind { object: ptr.object, start, bytes: Arc::new(bytes) });
                }
            }
        }
        self.get_chunk(kind, ptr)
    }

    /// Whether the span read with a commit holds the chunk at `ptr`.
    pub(super) fn behind_holds(&self, ptr: &ChunkPointer) -> bool {
        self.behind.lock().expect("behind lock").as_ref().is_some_and(|b| b.sealed(ptr).is_some())
    }

    /// A write-only key reads no stored content: refused before the cache or the backend is asked.
    fn refuse_write_only(&self, kind: Kind) -> Result<()> {
        if self.keys.is_write_only() && matches!(kind, Kind::Data | Kind::Index | Kind::Commit) {
            return Err(crate::engine::Error::WriteOnly { what: "reading stored content".into() });
        }
        Ok(())
    }

    /// Read a chunk by pointer: hot cache, packs not yet stored, then a ranged read of exactly the sealed bytes.
    pub(crate) fn get_chunk(&self, kind: Kind, ptr: &ChunkPointer) -> Result<Arc<Vec<u8>>> {
        self.refuse_write_only(kind)?;
        if let Some(v) = self.hot.get(&(kind as u8, ptr.id)) {
            return Ok(v);
        }
        let plain = Arc::new(self.read_chunk(kind, ptr)?);
        self.hot.insert((kind as u8, ptr.id), plain.clone());
        Ok(plain)
    }

    /// A data chunk for streaming a value out: served from the hot tier if there, and not added to it (so
    /// streaming a large value does not flush the cache or grow memory), and not copied to the front of the buffer
    /// it was read into. Hand it back with [`Store::recycle`] once its bytes have been used.
    pub(crate) fn get_piece(&self, ptr: &ChunkPointer) -> Result<Piece> {
        self.refuse_write_only(Kind::Data)?;
        if let Some(v) = self.hot.get(&(Kind::Data as u8, ptr.id)) {
            return Ok(Piece { buf: v, start: 0 });
        }
        if let Some(p) = self.take_ahead(&ptr.id) {
            return Ok(p);
        }
        let (buf, start) = self.read_chunk_in(Kind::Data, ptr)?;
        Ok(Piece { buf: Arc::new(buf), start })
    }

    /// Hand back a [`Piece`] whose bytes have been used: its buffer is kept for the next reads, unless someone
    /// else (the hot tier) still holds it.
    pub(crate) fn recycle(&self, piece: Piece) {
        if let Ok(v) = Arc::try_unwrap(piece.buf) {
            self.read_spares.give(v);
        }
    }

    /// Like [`Store::get_chunk`], but a bulk read: served from the hot tier if there, and not added to it, so
    /// streaming a large value does not flush the cache or grow memory.
    pub(crate) fn get_chunk_streaming(&self, kind: Kind, ptr: &ChunkPointer) -> Result<Arc<Vec<u8>>> {
        self.refuse_write_only(kind)?;
        if let Some(v) = self.hot.get(&(kind as u8, ptr.id)) {
            return Ok(v);
        }
        self.read_chunk(kind, ptr).map(Arc::new)
    }

    /// Whether pack `id` was written by this store and is still in memory (being built or uploaded).
    pub(crate) fn is_pending(&self, id: &ObjectId) -> bool {
        self.pending.lock().expect("pending lock").contains_key(id)
            || self.open_index.lock().expect("pack lock").id() == *id
            || self.open_data.lock().expect("pack lock").iter().any(|p| p.id() == *id)
    }

    pub(super) fn read_chunk(&self, kind: Kind, ptr: &ChunkPointer) -> Result<Vec<u8>> {
        let (mut buf, start) = self.read_chunk_in(kind, ptr)?;
        buf.drain(..start);
        Ok(buf)
    }

    /// The plaintext of a chunk as `buf[start..]`: a chunk stored uncompressed is left where it was read.
    fn read_chunk_in(&self, kind: Kind, ptr: &ChunkPointer) -> Result<(Vec<u8>, usize)> {
        self.read_chunk_in_as(kind, ptr, true)
    }

    /// [`Store::read_chunk_in`]; a delta (an index node gc stored against another node of its pack) only with
    /// `delta_ok`: a delta's base is always a whole node, so a base is read with it false.
    fn read_chunk_in_as(&self, kind: Kind, ptr: &ChunkPointer, delta_ok: bool) -> Result<(Vec<u8>, usize)> {
        self.refuse_write_only(kind)?;
        let mut use_warm = true;
        loop {
            // The sealed bytes are `buf[at..]` (a direct read hands over its aligned buffer rather than a copy),
            // from the place `place` the forwards led to.
            let (mut buf, at, from_warm, place) = self.fetch_sealed(kind, ptr, use_warm)?;
            // The chunk is decrypted where it was read; the warm tier, if any, keeps a copy of the sealed bytes.
            let kept = (self.warm.is_some() && !from_warm).then(|| buf[at..].to_vec());
            let name = object_name(&place.object);
            let decoded = match self.keys.open_in_place(kind, &ptr.id.0, &mut buf[at..]) {
                Err(_) => Err(Error::integrity(format!(
                    "chunk at {name}+{} does not authenticate (corrupt or tampered)",
                    place.offset
                ))),
                Ok(plain) => self.decode_payload(kind, &place, buf, at + plain.start..at + plain.end, delta_ok),
            };
            match decoded {
                // The warm tier is only a copy: drop a damaged entry (or a delta whose base has since gone from
                // under it) and read the repository's bytes.
                Err(Error::Integrity { .. }) if from_warm => {
                    if let Some(w) = &self.warm {
                        w.discard(&place, kind != Kind::Data);
                    }
                    use_warm = false;
                }
                Err(e) => return Err(e),
                Ok((buf, start, was_delta)) => {
                    // Only authenticated bytes enter the warm tier (inserting what is already there is a no-op). A
                    // delta names its base by its place in the delta's pack, so it is kept under the place it was
                    // read from (a read through a forward finds it there once it has followed the forward).
                    if let (Some(w), Some(kept)) = (&self.warm, &kept) {
                        w.insert(if was_delta { &place } else { ptr }, kind != Kind::Data, kept);
                    }
                    return Ok((buf, start));
                }
            }
        }
    }

    /// The plaintext of the authenticated payload `buf[range]` of the chunk read at `place` (as `buf[start..]`),
    /// and whether it was a delta: decoded, or for a delta decoded against its base, read from the same pack.
    pub(super) fn decode_payload(
        &self,
        kind: Kind,
        place: &ChunkPointer,
        buf: Vec<u8>,
        range: std::ops::Range<usize>,
        delta_ok: bool,
    ) -> Result<(Vec<u8>, usize, bool)> {
        let name = object_name(&place.object);
        let bad = |what: &str| Error::integrity(format!("chunk at {name}+{} {what}", place.offset));
        match delta_base(&buf[range.clone()]) {
            Err(()) => Err(bad("does not decode")),
            Ok(None) => {
                let (buf, start) = decode_in(buf, range, &self.read_spares).ok_or_else(|| bad("does not decode"))?;
                Ok((buf, start, false))
            }
            Ok(Some(_)) if !delta_ok || kind != Kind::Index => {
                Err(bad("is stored as a difference where only a whole index node may be"))
            }
            Ok(Some(base)) => {
                let base = self.base_plain(&base.at(place.object))?;
                let plain = decode_delta(&buf[range], &base).ok_or_else(|| bad("does not decode against its base"))?;
                self.read_spares.give(buf);
                Ok((plain, 0, true))
            }
        }
    }

    /// The plaintext of a delta's base `ptr` (a whole index node): from the hot tier, or read and kept there.
    pub(super) fn base_plain(&self, ptr: &ChunkPointer) -> Result<Arc<Vec<u8>>> {
        if let Some(v) = self.hot.get(&(Kind::Index as u8, ptr.id)) {
            return Ok(v);
        }
        let (mut buf, start) = self.read_chunk_in_as(Kind::Index, ptr, false)?;
        buf.drain(..start);
        let plain = Arc::new(buf);
        self.hot.insert((Kind::Index as u8, ptr.id), plain.clone());
        Ok(plain)
    }

    /// The sealed bytes of a chunk, as `buf[at..]` of the buffer returned with `at`, whether they came from
    /// the warm tier (consulted only with `use_warm`), and where they were read. A chunk whose pack is gone is read where garbage collection
    /// moved it, if it did (see `forward.rs`).
    fn fetch_sealed(
        &self,
        kind: Kind,
        ptr: &ChunkPointer,
        use_warm: bool,
    ) -> Result<(Vec<u8>, usize, bool, ChunkPointer)> {
        let mut at = *ptr;
        for _ in 0..super::forward::MAX_HOPS {
            // A chunk known to have moved is read where it is now, without first asking for the old pack.
            if let Some(to) = self.forwarded_cached(&at).filter(|to| to.id == ptr.id) {
                at = to;
                continue;
            }
            if let Some((buf, start, from_warm)) = self.fetch_sealed_at(kind, &at, use_warm)? {
                return Ok((buf, start, from_warm, at));
            }
            match self.forwarded(&at)? {
                Some(to) if to.id == ptr.id => at = to,
                _ => return Err(Error::integrity(format!("object {} is missing", object_name(&at.object)))),
            }
        }
        Err(Error::integrity(format!("chunk {} is forwarded in a loop from {}", ptr.id, object_name(&ptr.object))))
    }

    /// [`Store::fetch_sealed`] at exactly `ptr`; `None` when its pack is missing.
    fn fetch_sealed_at(
        &self,
        kind: Kind,
        ptr: &ChunkPointer,
        use_warm: bool,
    ) -> Result<Option<(Vec<u8>, usize, bool)>> {
        let open_slice = |pack: &super::PackBuilder| {
            (pack.id() == ptr.object).then(|| pack.slice(ptr.offset, ptr.len).map(<[u8]>::to_vec)).flatten()
        };
        if let Some(s) = open_slice(&self.open_index.lock().expect("pack lock")) {
            return Ok(Some((s, 0, false)));
        }
        if let Some(s) = self.open_data.lock().expect("pack lock").iter().find_map(open_slice) {
            return Ok(Some((s, 0, false)));
        }
        if let Some(bytes) = self.pending.lock().expect("pending lock").get(&ptr.object) {
            let s = ptr.offset as usize;
            if let Some(b) = bytes.get(s..s + ptr.len as usize) {
                return Ok(Some((b.to_vec(), 0, false)));
            }
        }
        let behind = self.behind.lock().expect("behind lock").as_ref().and_then(|b| b.sealed(ptr).map(<[u8]>::to_vec));
        if let Some(b) = behind {
            return Ok(Some((b, 0, false)));
        }
        let index = kind != Kind::Data;
        if let Some(b) = self.warm.as_ref().filter(|_| use_warm).and_then(|w| w.get(ptr, index)) {
            return Ok(Some((b, 0, true)));
        }
        let name = object_name(&ptr.object);
        // Room for the bytes and a direct read's alignment around them (a block each side, and one to align).
        let spare = self.read_spares.take_any(ptr.len as usize + (3 << 12));
        let (buf, at) = match self.backend.read_range_in(&name, ptr.offset as u64, ptr.len as u64, spare) {
            Ok(s) => s,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let got = buf.len().saturating_sub(at);
        self.stats.chunks_fetched.fetch_add(1, Ordering::Relaxed);
        self.stats.bytes_fetched.fetch_add(got as u64, Ordering::Relaxed);
        if got != ptr.len as usize {
            return Err(Error::integrity(format!("object {name} is truncated")));
        }
        Ok(Some((buf, at, false)))
    }

    /// Every chunk of a pack as listed by its table (for `check`).
    pub(crate) fn pack_table(&self, id: &ObjectId) -> Result<Vec<TableEntry>> {
        read_table(&*self.backend, &self.keys, id)
    }

    /// Decode a table entry's kind.
    #[cfg(test)]
    pub(crate) fn entry_kind(e: &TableEntry) -> Option<Kind> {
        crate::engine::object::kind_from_u8(e.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::id::ChunkId;

    /// A span read with a commit serves exactly the chunks that lie wholly inside it, of its own pack.
    #[test]
    fn a_span_read_with_a_commit_holds_only_what_lies_wholly_inside_it() {
        let behind = Behind { object: ObjectId([1; 32]), start: 1000, bytes: Arc::new((0..=255).collect()) };
        let at = |object: u8, offset: u32, len: u32| {
            behind.sealed(&ChunkPointer { object: ObjectId([object; 32]), offset, len, id: ChunkId([0; 32]) })
        };
        assert_eq!(at(1, 1000, 3), Some(&[0u8, 1, 2][..]));
        assert_eq!(at(1, 1250, 6), Some(&[250u8, 251, 252, 253, 254, 255][..]));
        assert_eq!(at(1, 999, 3), None, "begins before the span");
        assert_eq!(at(1, 1250, 7), None, "ends after it");
        assert_eq!(at(1, 1256, 1), None, "past its end");
        assert_eq!(at(2, 1000, 3), None, "another pack");
    }
}
