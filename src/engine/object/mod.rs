//! Packs and the chunk store.
//!
//! Chunks are compressed, sealed and appended to packs; a pack is padded with random bytes to one of a few size
//! classes ([`PACK_CLASSES`]) and written once under a random name. A [`ChunkPointer`] says where a chunk lives
//! (object, offset, length) and what it is (its keyed id), so reading never consults a global index: a ranged read
//! of exactly the sealed chunk suffices.
//!
//! Pack layout (all integers little-endian):
//! ```text
//! pack    = chunk* || table || padding || locator          (total length is a size class)
//! chunk   = seal(kind, chunk id, encoding || raw_len:u32 || body)
//! table   = seal(PackTable, object id, CBOR [[chunk id, kind, offset, len], ...])
//! locator = seal(PackLocator, object id, table_offset:u32 || table_len:u32)   (last LOCATOR_LEN bytes)
//! ```

mod index_file;
mod sorted_index;
mod store;

pub(crate) use store::{forward, Piece, Rebaser};
pub use store::{SealedChunk, Store, StoreOptions};

use crate::engine::crypto::{Keys, Kind, SEAL_PREFIX};
use crate::engine::format::{LOCATOR_LEN, MAX_PACK, SEAL_OVERHEAD};
use crate::engine::id::{ChunkId, ObjectId};
use crate::engine::{Error, Result};
use rand::RngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where a chunk lives and what it is: 72 bytes on storage.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ChunkPointer {
    /// The pack holding it.
    pub(crate) object: ObjectId,
    /// Offset of the sealed chunk in the pack.
    pub(crate) offset: u32,
    /// Length of the sealed chunk.
    pub(crate) len: u32,
    /// Keyed hash of the plaintext.
    pub(crate) id: ChunkId,
}

const POINTER_LEN: usize = 72;

impl ChunkPointer {
    /// The id of the commit stored in this chunk (meaningful for a pointer to a commit, as
    /// [`CommitInfo::ptr`](crate::engine::repo::CommitInfo::ptr) and a detached HEAD hold).
    pub fn commit_id(&self) -> crate::engine::id::CommitId {
        crate::engine::id::CommitId(self.id.0)
    }

    fn to_bytes(self) -> [u8; POINTER_LEN] {
        let mut b = [0u8; POINTER_LEN];
        b[..32].copy_from_slice(&self.object.0);
        b[32..36].copy_from_slice(&self.offset.to_le_bytes());
        b[36..40].copy_from_slice(&self.len.to_le_bytes());
        b[40..].copy_from_slice(&self.id.0);
        b
    }

    fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() != POINTER_LEN {
            return None;
        }
        Some(Self {
            object: ObjectId(b[..32].try_into().ok()?),
            offset: u32::from_le_bytes(b[32..36].try_into().ok()?),
            len: u32::from_le_bytes(b[36..40].try_into().ok()?),
            id: ChunkId(b[40..].try_into().ok()?),
        })
    }
}

impl Serialize for ChunkPointer {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.to_bytes())
    }
}

impl<'de> Deserialize<'de> for ChunkPointer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v: serde_bytes::ByteBuf = Deserialize::deserialize(d)?;
        Self::from_bytes(&v).ok_or_else(|| serde::de::Error::invalid_length(v.len(), &"a 72-byte chunk pointer"))
    }
}

/// Storage name of a pack.
pub fn object_name(id: &ObjectId) -> String {
    let h = id.to_hex();
    format!("objects/{}/{}", &h[..2], h)
}

/// Parse a pack's storage name back into its id.
pub fn parse_object_name(name: &str) -> Option<ObjectId> {
    let rest = name.strip_prefix("objects/")?;
    let (dir, file) = rest.split_once('/')?;
    let id = ObjectId::from_hex(file)?;
    (dir == &file[..2]).then_some(id)
}

/// One row of a pack's table of contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableEntry {
    /// Chunk id.
    pub id: ChunkId,
    /// What the chunk is ([`Kind`] as a byte).
    pub kind: u8,
    /// Offset in the pack.
    pub offset: u32,
    /// Sealed length.
    pub len: u32,
}

/// Bytes the table will need per entry, an upper bound used to decide when a pack is full.
const TABLE_ENTRY_MAX: usize = 64;

/// The longest sealed chunk that fits in an empty pack of the largest class.
pub(crate) const SEALED_CHUNK_MAX: usize = MAX_PACK - (TABLE_ENTRY_MAX + SEAL_OVERHEAD + 16 + LOCATOR_LEN);

/// Decode a chunk's kind byte.
pub fn kind_from_u8(k: u8) -> Option<Kind> {
    Some(match k {
        1 => Kind::Data,
        2 => Kind::Index,
        3 => Kind::Commit,
        _ => return None,
    })
}

/// Packs are laid out in memory from an address aligned to this, and their sizes (the size classes) are multiples
/// of it, so that a local repository can hand them to the disk by direct I/O without a copy through the page cache.
pub const PACK_ALIGN: usize = 4096;

/// A pack being filled in memory.
pub struct PackBuilder {
    id: ObjectId,
    /// The pack's bytes are `buf[start..]`; `start` puts them at an address aligned to [`PACK_ALIGN`].
    buf: Vec<u8>,
    start: usize,
    table: Vec<TableEntry>,
}

/// A finished pack's bytes, in the buffer it was built in (see [`PACK_ALIGN`]); the buffer can be reused for the
/// next pack once the pack is stored.
pub struct PackBytes {
    buf: Vec<u8>,
    start: usize,
}

impl PackBytes {
    /// The buffer, to build another pack in.
    pub fn into_buffer(self) -> Vec<u8> {
        self.buf
    }
}

impl std::ops::Deref for PackBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

impl AsRef<[u8]> for PackBytes {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl Default for PackBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl PackBuilder {
    /// An empty pack with a fresh random name.
    pub fn new() -> Self {
        Self::with_buffer(Vec::new())
    }

    /// An empty pack with a fresh random name, filled into `buf` (emptied first; a buffer of an earlier pack, so
    /// that its memory is reused rather than mapped and faulted in again).
    pub fn with_buffer(mut buf: Vec<u8>) -> Self {
        buf.clear();
        buf.reserve_exact(MAX_PACK + PACK_ALIGN);
        // The buffer never grows past its capacity while a pack of any size class is built, so the start stays
        // aligned; were it ever to move, the pack would only lose the direct write, not any byte.
        let start = (PACK_ALIGN - buf.as_ptr() as usize % PACK_ALIGN) % PACK_ALIGN;
        buf.resize(start, 0);
        Self { id: ObjectId::random(), buf, start, table: Vec::new() }
    }

    /// Bytes of the pack so far.
    fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// This pack's id.
    pub fn id(&self) -> ObjectId {
        self.id
    }

    /// No chunks yet.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    fn finished_len(&self, extra_chunk: usize, extra_entries: usize) -> usize {
        self.len()
            + extra_chunk
            + (self.table.len() + extra_entries) * TABLE_ENTRY_MAX
            + SEAL_OVERHEAD
            + 16
            + LOCATOR_LEN
    }

    /// Bytes a pack of `bytes` sealed chunk bytes in `entries` chunks needs at most before padding.
    pub fn estimate(bytes: usize, entries: usize) -> usize {
        bytes + entries * TABLE_ENTRY_MAX + SEAL_OVERHEAD + 16 + LOCATOR_LEN
    }

    /// Whether a sealed chunk of `len` bytes still fits in size class `cap` (always, in an empty pack: a chunk fits
    /// in the largest class).
    pub fn fits_within(&self, len: usize, cap: usize) -> bool {
        self.is_empty() || self.finished_len(len, 1) <= cap.min(MAX_PACK)
    }

    /// Whether a sealed chunk of `len` bytes still fits in the largest class.
    pub fn fits(&self, len: usize) -> bool {
        self.finished_len(len, 1) <= MAX_PACK
    }

    /// The largest sealed chunk that still fits.
    pub fn room(&self) -> usize {
        MAX_PACK.saturating_sub(self.finished_len(0, 1))
    }

    /// Append a sealed chunk; returns where it landed.
    pub fn push(&mut self, kind: Kind, id: ChunkId, sealed: &[u8]) -> ChunkPointer {
        let offset = self.len() as u32;
        self.buf.extend_from_slice(sealed);
        let len = sealed.len() as u32;
        self.table.push(TableEntry { id, kind: kind as u8, offset, len });
        ChunkPointer { object: self.id, offset, len, id }
    }

    /// The bytes of a chunk already pushed (to read back before the pack is stored).
    pub fn slice(&self, offset: u32, len: u32) -> Option<&[u8]> {
        let at = self.start + offset as usize;
        self.buf.get(at..at.checked_add(len as usize)?)
    }

    /// Seal the table, pad to the smallest size class that fits, append the locator.
    pub fn finish(mut self, keys: &Keys) -> (ObjectId, PackBytes, Vec<TableEntry>) {
        // The table is encoded and sealed in the pack's buffer, after the chunks (a pack of small chunks has a
        // table of several MiB: no copies of it).
        let table_offset = self.len() as u32;
        let at = self.buf.len();
        self.buf.resize(at + SEAL_PREFIX, 0);
        ciborium::into_writer(&self.table, &mut self.buf).expect("CBOR encoding into memory cannot fail");
        keys.seal_tail(Kind::PackTable, &self.id.0, &mut self.buf, at);
        let table_len = self.buf.len() - at;
        let needed = self.len() + LOCATOR_LEN;
        let class = crate::engine::format::pack_class(needed);
        let pad = class - needed;
        let at = self.buf.len();
        self.buf.resize(at + pad, 0);
        fill_padding(keys, &self.id, &mut self.buf[at..]);
        let mut loc = [0u8; 8];
        loc[..4].copy_from_slice(&table_offset.to_le_bytes());
        loc[4..].copy_from_slice(&(table_len as u32).to_le_bytes());
        self.buf.extend_from_slice(&keys.seal(Kind::PackLocator, &self.id.0, &loc));
        debug_assert_eq!(self.len(), class);
        (self.id, PackBytes { buf: self.buf, start: self.start }, self.table)
    }
}

/// Fill `out` with the pack's padding stream (ChaCha20 keyed by [`Keys::padding_seed`]).
fn fill_padding(keys: &Keys, id: &ObjectId, out: &mut [u8]) {
    use rand::SeedableRng;
    rand_chacha::ChaCha20Rng::from_seed(keys.padding_seed(&id.0)).fill_bytes(out);
}

/// Verify every byte of a whole pack: locator, table, that the chunks tile the space before the table, that every
/// chunk authenticates as the kind and id its table entry says, and that the padding is the expected stream.
pub fn verify_pack(keys: &Keys, id: &ObjectId, bytes: &[u8]) -> Result<Vec<TableEntry>> {
    let name = object_name(id);
    let bad = |what: &str| Error::integrity(format!("pack {name}: {what}"));
    if !crate::engine::format::is_size_class(bytes.len() as u64) || bytes.len() < LOCATOR_LEN {
        return Err(bad("size is not a size class (truncated or extended)"));
    }
    let loc_at = bytes.len() - LOCATOR_LEN;
    let loc =
        keys.open(Kind::PackLocator, &id.0, &bytes[loc_at..]).map_err(|_| bad("locator does not authenticate"))?;
    if loc.len() != 8 {
        return Err(bad("locator is malformed"));
    }
    let off = u32::from_le_bytes(loc[..4].try_into().expect("8-byte locator")) as usize;
    let len = u32::from_le_bytes(loc[4..8].try_into().expect("8-byte locator")) as usize;
    let table_end = off.checked_add(len).filter(|&e| e <= loc_at).ok_or_else(|| bad("table out of bounds"))?;
    let plain =
        keys.open(Kind::PackTable, &id.0, &bytes[off..table_end]).map_err(|_| bad("table does not authenticate"))?;
    let table: Vec<TableEntry> = ciborium::from_reader(plain.as_slice()).map_err(|_| bad("table does not decode"))?;
    let mut at = 0usize;
    for e in &table {
        let kind = kind_from_u8(e.kind).ok_or_else(|| bad("unknown chunk kind"))?;
        if e.offset as usize != at {
            return Err(bad("chunks do not tile the pack"));
        }
        let end = at + e.len as usize;
        let sealed = bytes.get(at..end).filter(|_| end <= off).ok_or_else(|| bad("chunk out of bounds"))?;
        keys.open(kind, &e.id.0, sealed).map_err(|_| bad(&format!("chunk at offset {at} does not authenticate")))?;
        at = end;
    }
    if at != off {
        return Err(bad("unaccounted bytes before the table"));
    }
    let mut pad = vec![0u8; loc_at - table_end];
    fill_padding(keys, id, &mut pad);
    if pad != bytes[table_end..loc_at] {
        return Err(bad("padding was modified"));
    }
    Ok(table)
}

/// Read a stored pack's table of contents: the locator from the tail, then the table.
pub fn read_table(
    backend: &dyn crate::engine::backend::Backend,
    keys: &Keys,
    id: &ObjectId,
) -> Result<Vec<TableEntry>> {
    let name = object_name(id);
    let tail = backend.read_tail(&name, LOCATOR_LEN as u64)?;
    let loc = keys
        .open(Kind::PackLocator, &id.0, &tail)
        .map_err(|_| Error::integrity(format!("pack {name}: locator does not authenticate")))?;
    if loc.len() != 8 {
        return Err(Error::integrity(format!("pack {name}: locator is malformed")));
    }
    let off = u32::from_le_bytes(loc[..4].try_into().expect("8-byte locator"));
    let len = u32::from_le_bytes(loc[4..8].try_into().expect("8-byte locator"));
    // A table lies inside its pack: never read (or allocate) more than the largest size class.
    if u64::from(off) + u64::from(len) > crate::engine::format::MAX_PACK as u64 {
        return Err(Error::integrity(format!("pack {name}: table out of bounds")));
    }
    let sealed = backend.read_range(&name, off as u64, len as u64)?;
    let plain = keys
        .open(Kind::PackTable, &id.0, &sealed)
        .map_err(|_| Error::integrity(format!("pack {name}: table does not authenticate")))?;
    ciborium::from_reader(plain.as_slice()).map_err(|e| Error::corrupt(format!("pack {name}: table"), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::backend::{memory::MemoryBackend, Backend};
    use crate::engine::crypto::MasterKey;
    use proptest::prelude::*;

    #[test]
    fn pointer_round_trip() {
        let p = ChunkPointer { object: ObjectId([1; 32]), offset: 7, len: 99, id: ChunkId([2; 32]) };
        let mut v = Vec::new();
        ciborium::into_writer(&p, &mut v).unwrap();
        assert!(v.len() <= POINTER_LEN + 2);
        let q: ChunkPointer = ciborium::from_reader(v.as_slice()).unwrap();
        assert_eq!(p, q);
        assert_eq!(parse_object_name(&object_name(&p.object)), Some(p.object));
    }

    #[test]
    fn a_pack_built_in_the_buffer_of_another_is_aligned_and_reads_back() {
        let keys = Keys::new(MasterKey::generate());
        let mut buffer = Vec::new();
        for round in 0..3u8 {
            let mut pb = PackBuilder::with_buffer(buffer);
            let mut placed = Vec::new();
            for i in 0..4u8 {
                let plain = vec![round ^ i; 100_000 + i as usize];
                let id = keys.chunk_id(&plain);
                let sealed = keys.seal(Kind::Data, &id.0, &plain);
                let ptr = pb.push(Kind::Data, id, &sealed);
                assert_eq!(pb.slice(ptr.offset, ptr.len), Some(&sealed[..]));
                placed.push((ptr, plain));
            }
            let (oid, bytes, table) = pb.finish(&keys);
            assert_eq!(bytes.as_ptr() as usize % PACK_ALIGN, 0, "round {round}");
            assert_eq!(verify_pack(&keys, &oid, &bytes).unwrap(), table);
            for (ptr, plain) in placed {
                let sealed = &bytes[ptr.offset as usize..][..ptr.len as usize];
                assert_eq!(keys.open(Kind::Data, &ptr.id.0, sealed).unwrap(), plain);
            }
            buffer = bytes.into_buffer();
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn pack_round_trip(sizes in proptest::collection::vec(0usize..200_000, 0..12)) {
            let keys = Keys::new(MasterKey::generate());
            let mut pb = PackBuilder::new();
            let mut expect = Vec::new();
            for (i, s) in sizes.iter().enumerate() {
                let plain = vec![i as u8; *s];
                let id = keys.chunk_id(&plain);
                let sealed = keys.seal(Kind::Data, &id.0, &plain);
                if !pb.fits(sealed.len()) { break; }
                let ptr = pb.push(Kind::Data, id, &sealed);
                expect.push((ptr, plain));
            }
            let (oid, bytes, table) = pb.finish(&keys);
            prop_assert!(crate::engine::format::is_size_class(bytes.len() as u64));
            prop_assert_eq!(bytes.as_ptr() as usize % PACK_ALIGN, 0, "a pack starts at an aligned address");
            prop_assert_eq!(bytes.len() % PACK_ALIGN, 0);
            let b = MemoryBackend::new();
            b.write(&object_name(&oid), &bytes).unwrap();
            let read = read_table(&b, &keys, &oid).unwrap();
            prop_assert_eq!(&read, &table);
            for (ptr, plain) in expect {
                let sealed = b.read_range(&object_name(&oid), ptr.offset as u64, ptr.len as u64).unwrap();
                prop_assert_eq!(keys.open(Kind::Data, &ptr.id.0, &sealed).unwrap(), plain);
            }
        }
    }
}
