//! Values as streams of chunks.
//!
//! A value of any length is cut by content-defined chunking (FastCDC with a keyed gear table), each chunk is
//! deduplicated by its keyed id, compressed and sealed on all cores, and packed. What comes back is a [`Blob`]:
//! the value inline when it is small, else its list of chunks; a long list becomes a tree of list nodes (index
//! chunks), so finding the chunk that holds byte `n` of a huge value is `O(log n)` and memory stays bounded.
//!
//! [`BlobWriter`] is the `io::Write` sink; [`BlobReader`] reads back with `io::Read + io::Seek`, fetching only the
//! chunks it needs; [`copy_range`] streams a range out with parallel fetches.

mod cdc;
mod reader;
mod stream;
mod writer;

pub use reader::{copy_range, BlobReader};
pub use stream::StreamReader;
pub use writer::{BlobWriter, WriteOptions};

use crate::engine::crypto::Kind;
use crate::engine::object::{ChunkPointer, Store};
use crate::engine::{Error, Result};
use serde::{Deserialize, Serialize};

/// Entries per chunk-list node.
pub const LIST_FANOUT: usize = 1024;
/// At most this many entries are kept inline in a [`Blob`] before the list becomes a tree.
pub const LIST_INLINE_MAX: usize = 64;

/// One chunk of a value: its plaintext length and where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRef {
    /// Plaintext length.
    pub len: u32,
    /// Where the sealed chunk lives.
    pub ptr: ChunkPointer,
}

/// One subtree of a chunk list: its plaintext size and the node holding it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRef {
    /// Plaintext bytes covered.
    pub size: u64,
    /// The list node.
    pub ptr: ChunkPointer,
}

/// A node of a chunk-list tree, stored as an index chunk.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ListNode {
    /// Bottom level: chunks in order.
    Chunks(Vec<ChunkRef>),
    /// Upper levels: subtrees in order.
    Lists(Vec<ListRef>),
}

/// A stored value: the pointer a field value holds to bytes of any length.
///
/// Serialized into CBOR (every field's encoding) a blob is marked with the tag [`BLOB_TAG`], so that garbage
/// collection and `check` find every blob inside any stored value by scanning its encoding, whatever the value's
/// type and without any code of the program's (see [`Trace`](crate::engine::fields::Trace)). A blob decodes with or
/// without the tag (values written before the tag existed have none). Human-readable formats (JSON) carry no tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blob {
    /// Small values are kept in the index itself.
    Inline(Vec<u8>),
    /// The chunks in order.
    Chunks(Vec<ChunkRef>),
    /// The top of a chunk-list tree: subtrees in order.
    Lists(Vec<ListRef>),
}

/// The CBOR tag a [`Blob`] carries inside stored values (`"infb"` in ASCII; from the first-come-first-served
/// range of the IANA registry). Encoded as the five bytes `da 69 6e 66 62`.
pub const BLOB_TAG: u64 = 0x696e_6662;

/// A blob's encoding, tag aside (the same as the untagged enum older versions wrote).
#[derive(Serialize)]
#[serde(rename = "Blob")]
enum BlobRef<'a> {
    Inline(#[serde(with = "serde_bytes")] &'a [u8]),
    Chunks(&'a [ChunkRef]),
    Lists(&'a [ListRef]),
}

/// [`BlobRef`] to decode into.
#[derive(Deserialize)]
#[serde(rename = "Blob")]
enum BlobOwned {
    Inline(#[serde(with = "serde_bytes")] Vec<u8>),
    Chunks(Vec<ChunkRef>),
    Lists(Vec<ListRef>),
}

impl Serialize for Blob {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let r = match self {
            Blob::Inline(v) => BlobRef::Inline(v),
            Blob::Chunks(c) => BlobRef::Chunks(c),
            Blob::Lists(l) => BlobRef::Lists(l),
        };
        if s.is_human_readable() {
            r.serialize(s)
        } else {
            ciborium::tag::Required::<_, BLOB_TAG>(r).serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let owned = if d.is_human_readable() {
            BlobOwned::deserialize(d)?
        } else {
            // Tagged (since tags were introduced) or not (before).
            ciborium::tag::Captured::<BlobOwned>::deserialize(d)?.1
        };
        Ok(match owned {
            BlobOwned::Inline(v) => Blob::Inline(v),
            BlobOwned::Chunks(c) => Blob::Chunks(c),
            BlobOwned::Lists(l) => Blob::Lists(l),
        })
    }
}

/// Every [`Blob`] inside a value's CBOR encoding, found without knowing the value's type: blobs tagged with
/// [`BLOB_TAG`], and (for values written before the tag) maps of the one key `Chunks` or `Lists` whose value
/// decodes as a blob's chunk or list references. Inline blobs reach no chunk and are not reported.
pub(crate) fn scan_blobs(encoded: &[u8], f: &mut dyn FnMut(&Blob) -> Result<()>) -> Result<()> {
    if !may_hold_blob(encoded) {
        return Ok(());
    }
    let v: ciborium::Value =
        ciborium::from_reader(encoded).map_err(|e| Error::corrupt("a stored value (scanning it for blobs)", e))?;
    scan_value(&v, f)
}

/// Whether an encoding has any of the bytes a blob that reaches chunks begins with: the tag, or an untagged
/// blob's `Chunks` or `Lists` key (a cheap test that spares decoding most values).
pub(crate) fn may_hold_blob(encoded: &[u8]) -> bool {
    const MARKS: [&[u8]; 3] = [&[0xda, 0x69, 0x6e, 0x66, 0x62], b"\x66Chunks", b"\x65Lists"];
    MARKS.iter().any(|m| encoded.windows(m.len()).any(|w| w == *m))
}

/// [`scan_blobs`] of an already decoded value.
pub(crate) fn scan_value(v: &ciborium::Value, f: &mut dyn FnMut(&Blob) -> Result<()>) -> Result<()> {
    use ciborium::Value;
    match v {
        Value::Tag(BLOB_TAG, inner) => {
            let b: Blob = inner.deserialized().map_err(|e| Error::corrupt("a tagged blob", e))?;
            match b {
                Blob::Inline(_) => Ok(()),
                b => f(&b),
            }
        }
        Value::Tag(_, inner) => scan_value(inner, f),
        Value::Array(items) => items.iter().try_for_each(|i| scan_value(i, f)),
        Value::Map(entries) => {
            if let [(Value::Text(k), Value::Array(_))] = entries.as_slice() {
                if k == "Chunks" || k == "Lists" {
                    if let Ok(b) = v.deserialized::<Blob>() {
                        return f(&b);
                    }
                }
            }
            entries.iter().try_for_each(|(k, e)| {
                scan_value(k, f)?;
                scan_value(e, f)
            })
        }
        _ => Ok(()),
    }
}

impl Default for Blob {
    fn default() -> Self {
        Blob::Inline(Vec::new())
    }
}

impl Blob {
    /// Length of the value in bytes.
    pub fn size(&self) -> u64 {
        match self {
            Blob::Inline(v) => v.len() as u64,
            Blob::Chunks(c) => c.iter().fold(0u64, |n, c| n.saturating_add(u64::from(c.len))),
            // Sizes are as stored: a damaged list that claims more than 2^64 bytes in all saturates (reading it
            // fails) rather than overflowing.
            Blob::Lists(l) => l.iter().fold(0u64, |n, l| n.saturating_add(l.size)),
        }
    }

    /// An identity of the value's content, computed from what the blob records (no reads): equal ids mean equal
    /// bytes. Chunk ids are keyed hashes of their plaintext, so the same bytes stored twice have the same id; an
    /// inline value is hashed as it is. Meant for showing and comparing values, not as a storage name.
    pub fn content_id(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(self.size().to_le_bytes());
        match self {
            Blob::Inline(v) => {
                h.update(b"inline");
                h.update(v);
            }
            Blob::Chunks(c) => {
                h.update(b"chunks");
                c.iter().for_each(|c| h.update(c.ptr.id.0));
            }
            Blob::Lists(l) => {
                h.update(b"lists");
                l.iter().for_each(|l| h.update(l.ptr.id.0));
            }
        }
        h.finalize().into()
    }

    /// Whether two values hold the same bytes, judged by content identity: inline bytes, or chunk ids (keyed
    /// hashes of the plaintext) and lengths; nothing is read. Equal chunk lists stored as separate list nodes
    /// compare by the nodes' ids, so the same bytes stored twice as a list tree may compare unequal.
    pub fn same_content(&self, other: &Blob) -> bool {
        match (self, other) {
            (Blob::Inline(a), Blob::Inline(b)) => a == b,
            (Blob::Chunks(a), Blob::Chunks(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.len == y.len && x.ptr.id == y.ptr.id)
            }
            (Blob::Lists(a), Blob::Lists(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.size == y.size && x.ptr.id == y.ptr.id)
            }
            _ => false,
        }
    }

    /// Visit every chunk pointer the value uses: data chunks and list nodes (for `check` and `gc`).
    pub(crate) fn for_each_pointer(
        &self,
        store: &Store,
        f: &mut dyn FnMut(Kind, &ChunkPointer) -> Result<()>,
    ) -> Result<()> {
        match self {
            Blob::Inline(_) => Ok(()),
            Blob::Chunks(c) => c.iter().try_for_each(|c| f(Kind::Data, &c.ptr)),
            Blob::Lists(l) => l.iter().try_for_each(|l| walk_list(store, l, f)),
        }
    }
}

fn walk_list(store: &Store, l: &ListRef, f: &mut dyn FnMut(Kind, &ChunkPointer) -> Result<()>) -> Result<()> {
    f(Kind::Index, &l.ptr)?;
    match load_list(store, &l.ptr)? {
        ListNode::Chunks(c) => c.iter().try_for_each(|c| f(Kind::Data, &c.ptr)),
        ListNode::Lists(ls) => ls.iter().try_for_each(|l| walk_list(store, l, f)),
    }
}

/// Load and decode a chunk-list node.
pub(crate) fn load_list(store: &Store, ptr: &ChunkPointer) -> Result<ListNode> {
    let bytes = store.get_chunk(Kind::Index, ptr)?;
    ciborium::from_reader(bytes.as_slice()).map_err(|e| Error::corrupt("chunk-list node", e))
}

/// Builds a chunk list bottom-up, writing full nodes as it goes so memory stays bounded for any value size.
#[derive(Default)]
pub(crate) struct ListBuilder {
    chunks: Vec<ChunkRef>,
    /// levels[i]: pending subtrees of height i + 1.
    levels: Vec<Vec<ListRef>>,
}

impl ListBuilder {
    pub(crate) fn push(&mut self, store: &Store, c: ChunkRef) -> Result<()> {
        self.chunks.push(c);
        if self.chunks.len() == LIST_FANOUT {
            let node = ListNode::Chunks(std::mem::take(&mut self.chunks));
            let r = write_node(store, &node)?;
            self.push_level(store, 0, r)?;
        }
        Ok(())
    }

    fn push_level(&mut self, store: &Store, level: usize, r: ListRef) -> Result<()> {
        if self.levels.len() <= level {
            self.levels.push(Vec::new());
        }
        self.levels[level].push(r);
        if self.levels[level].len() == LIST_FANOUT {
            let node = ListNode::Lists(std::mem::take(&mut self.levels[level]));
            let up = write_node(store, &node)?;
            self.push_level(store, level + 1, up)?;
        }
        Ok(())
    }

    pub(crate) fn finish(mut self, store: &Store) -> Result<Blob> {
        if self.levels.is_empty() {
            if self.chunks.len() <= LIST_INLINE_MAX {
                // Kept in staged entries, maybe many: no room beyond the refs (a one-chunk value's vector had
                // room for four).
                self.chunks.shrink_to_fit();
                return Ok(Blob::Chunks(self.chunks));
            }
            let r = write_node(store, &ListNode::Chunks(std::mem::take(&mut self.chunks)))?;
            return Ok(Blob::Lists(vec![r]));
        }
        // Close every level bottom-up so that each level's leftovers join the level above.
        if !self.chunks.is_empty() {
            let r = write_node(store, &ListNode::Chunks(std::mem::take(&mut self.chunks)))?;
            self.levels[0].push(r);
        }
        let top = self.levels.len() - 1;
        for level in 0..top {
            let pending = std::mem::take(&mut self.levels[level]);
            if !pending.is_empty() {
                let r = write_node(store, &ListNode::Lists(pending))?;
                self.levels[level + 1].push(r);
            }
        }
        let mut top_refs = std::mem::take(&mut self.levels[top]);
        while top_refs.len() > LIST_INLINE_MAX {
            let mut next = Vec::new();
            for group in top_refs.chunks(LIST_FANOUT) {
                next.push(write_node(store, &ListNode::Lists(group.to_vec()))?);
            }
            top_refs = next;
        }
        Ok(Blob::Lists(top_refs))
    }
}

fn write_node(store: &Store, node: &ListNode) -> Result<ListRef> {
    let size = match node {
        ListNode::Chunks(c) => c.iter().map(|c| c.len as u64).sum(),
        ListNode::Lists(l) => l.iter().map(|l| l.size).sum(),
    };
    let mut bytes = Vec::new();
    ciborium::into_writer(node, &mut bytes).expect("CBOR encoding into memory cannot fail");
    Ok(ListRef { size, ptr: store.put_chunk(Kind::Index, &bytes)? })
}

/// Chunks of a blob covering `[start, end)`, in order, with the offset of each chunk's first byte.
/// Walks the list tree lazily, descending only into subtrees that overlap the range.
pub(crate) struct ChunkWalk<'a> {
    store: &'a Store,
    start: u64,
    end: u64,
    /// Stack of (entries, index of next entry, offset of that entry).
    stack: Vec<(ListNode, usize, u64)>,
}

impl<'a> ChunkWalk<'a> {
    pub(crate) fn new(store: &'a Store, blob: &Blob, start: u64, end: u64) -> Self {
        let root = match blob {
            Blob::Inline(_) => ListNode::Chunks(Vec::new()),
            Blob::Chunks(c) => ListNode::Chunks(c.clone()),
            Blob::Lists(l) => ListNode::Lists(l.clone()),
        };
        Self { store, start, end, stack: vec![(root, 0, 0)] }
    }
}

impl Iterator for ChunkWalk<'_> {
    type Item = Result<(u64, ChunkRef)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (node, idx, off) = self.stack.last_mut()?;
            if *off >= self.end {
                self.stack.clear();
                return None;
            }
            match node {
                ListNode::Chunks(c) => {
                    let Some(cr) = c.get(*idx).copied() else {
                        self.stack.pop();
                        continue;
                    };
                    *idx += 1;
                    let at = *off;
                    *off += cr.len as u64;
                    if at + cr.len as u64 > self.start || (cr.len == 0 && at >= self.start) {
                        return Some(Ok((at, cr)));
                    }
                }
                ListNode::Lists(l) => {
                    let Some(lr) = l.get(*idx).copied() else {
                        self.stack.pop();
                        continue;
                    };
                    *idx += 1;
                    let at = *off;
                    *off += lr.size;
                    if at + lr.size > self.start {
                        match load_list(self.store, &lr.ptr) {
                            Ok(n) => self.stack.push((n, 0, at)),
                            Err(e) => {
                                self.stack.clear();
                                return Some(Err(e));
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::backend::memory::MemoryBackend;
    use crate::engine::backend::Backend;
    use crate::engine::crypto::{Keys, MasterKey};
    use crate::engine::object::StoreOptions;
    use proptest::prelude::*;
    use rand::{Rng, RngCore, SeedableRng};
    use std::io::{Read, Seek, SeekFrom, Write};
    use std::sync::Arc;

    fn store() -> (Arc<MemoryBackend>, Arc<Store>) {
        let b = Arc::new(MemoryBackend::new());
        let s = Store::new(b.clone(), Arc::new(Keys::new(MasterKey::generate())), StoreOptions::default());
        (b, Arc::new(s))
    }

    /// Half random, half repetitive, so both compression paths and dedup are exercised.
    fn data(len: usize, seed: u64) -> Vec<u8> {
        let mut r = rand::rngs::StdRng::seed_from_u64(seed);
        let mut v = vec![0u8; len];
        r.fill_bytes(&mut v);
        for (i, b) in v.iter_mut().enumerate() {
            if (i / 100_000) % 2 == 1 {
                *b = (i % 13) as u8;
            }
        }
        v
    }

    fn put(store: &Arc<Store>, bytes: &[u8], piece: usize) -> Blob {
        let mut w = BlobWriter::new(store.clone(), store.write_options());
        for c in bytes.chunks(piece.max(1)) {
            w.write_all(c).unwrap();
        }
        w.finish().unwrap()
    }

    fn read_all(store: &Arc<Store>, blob: &Blob) -> Vec<u8> {
        let mut out = Vec::new();
        copy_range(store, blob, 0, u64::MAX, 3, &mut out).unwrap();
        let mut again = Vec::new();
        BlobReader::new(store.clone(), blob.clone()).read_to_end(&mut again).unwrap();
        assert_eq!(out, again);
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]
        #[test]
        fn stream_round_trip(len in prop_oneof![Just(0usize), Just(1), 0usize..5000, 0usize..12_000_000], piece in 1usize..3_000_000, seed: u64) {
            let (_, s) = store();
            let bytes = data(len, seed);
            let blob = put(&s, &bytes, piece);
            prop_assert_eq!(blob.size(), len as u64);
            s.flush().unwrap();
            prop_assert_eq!(read_all(&s, &blob), bytes.clone());
            // Seek to random places and read a little.
            let mut r = BlobReader::new(s.clone(), blob.clone());
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 1);
            for _ in 0..8 {
                if len == 0 { break; }
                let a = rng.gen_range(0..len);
                let n = rng.gen_range(0..=(len - a).min(3_000_000));
                r.seek(SeekFrom::Start(a as u64)).unwrap();
                let mut got = vec![0u8; n];
                r.read_exact(&mut got).unwrap();
                prop_assert_eq!(&got[..], &bytes[a..a + n]);
                let mut ranged = Vec::new();
                copy_range(&s, &blob, a as u64, (a + n) as u64, 2, &mut ranged).unwrap();
                prop_assert_eq!(&ranged[..], &bytes[a..a + n]);
            }
        }
    }

    #[test]
    fn values_spanning_several_objects_and_dedup() {
        let (b, s) = store();
        let bytes = data(40 << 20, 7);
        let blob = put(&s, &bytes, 1 << 20);
        s.flush().unwrap();
        let packs = b.list("objects/").unwrap();
        assert!(packs.len() >= 2, "40 MiB must span several packs, got {}", packs.len());
        assert_eq!(read_all(&s, &blob), bytes);
        // Storing it again adds no data packs: every chunk deduplicates.
        let before = s.stats.chunks_written.load(std::sync::atomic::Ordering::Relaxed);
        let again = put(&s, &bytes, 777_777);
        s.flush().unwrap();
        assert_eq!(again, blob);
        assert_eq!(s.stats.chunks_written.load(std::sync::atomic::Ordering::Relaxed), before);
        assert_eq!(b.list("objects/").unwrap().len(), packs.len());
    }

    /// The blob enum as it was derived before blobs were tagged.
    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    enum Untagged {
        Inline(#[serde(with = "serde_bytes")] Vec<u8>),
        Chunks(Vec<ChunkRef>),
        Lists(Vec<ListRef>),
    }

    #[test]
    fn blobs_are_tagged_in_cbor_and_decode_tagged_or_not() {
        let (_, s) = store();
        let ptr = s.put_chunk(Kind::Data, b"some bytes").unwrap();
        let blob = Blob::Chunks(vec![ChunkRef { len: 10, ptr }]);
        let mut tagged = Vec::new();
        ciborium::into_writer(&(7u8, "x", &blob), &mut tagged).unwrap();
        assert!(may_hold_blob(&tagged));
        assert!(tagged.windows(5).any(|w| w == [0xda, 0x69, 0x6e, 0x66, 0x62]), "{tagged:02x?}");
        // An older reader (the plain derived enum) skips the tag; a newer one reads values without it.
        let (_, _, old): (u8, String, Untagged) = ciborium::from_reader(tagged.as_slice()).unwrap();
        assert_eq!(old, Untagged::Chunks(vec![ChunkRef { len: 10, ptr }]));
        let mut untagged = Vec::new();
        ciborium::into_writer(&(7u8, "x", &old), &mut untagged).unwrap();
        let (_, _, back): (u8, String, Blob) = ciborium::from_reader(untagged.as_slice()).unwrap();
        assert_eq!(back, blob);
        // JSON carries no tag.
        let json = serde_json::to_string(&blob).unwrap();
        assert!(json.starts_with("{\"Chunks\""), "{json}");
        assert_eq!(serde_json::from_str::<Blob>(&json).unwrap(), blob);
        // The scan finds both forms, and nothing in a value without blobs.
        for bytes in [&tagged, &untagged] {
            let mut found = Vec::new();
            scan_blobs(bytes, &mut |b| {
                found.push(b.clone());
                Ok(())
            })
            .unwrap();
            assert_eq!(found, std::slice::from_ref(&blob));
        }
        let mut plain = Vec::new();
        ciborium::into_writer(&("Chunks", vec![1u8, 2], Blob::Inline(b"tiny".to_vec())), &mut plain).unwrap();
        scan_blobs(&plain, &mut |b| panic!("found {b:?}")).unwrap();
    }

    #[test]
    fn long_chunk_lists_become_trees() {
        let (_, s) = store();
        let mut lb = ListBuilder::default();
        let mut expect = Vec::new();
        let n = LIST_FANOUT * 3 + 17;
        for i in 0..n {
            let ptr = s.put_chunk(Kind::Data, format!("chunk {i}").as_bytes()).unwrap();
            let cr = ChunkRef { len: format!("chunk {i}").len() as u32, ptr };
            lb.push(&s, cr).unwrap();
            expect.push(cr);
        }
        let blob = lb.finish(&s).unwrap();
        assert!(matches!(blob, Blob::Lists(_)));
        let walked: Vec<ChunkRef> = ChunkWalk::new(&s, &blob, 0, u64::MAX).map(|r| r.unwrap().1).collect();
        assert_eq!(walked, expect);
        let whole: Vec<u8> = (0..n).flat_map(|i| format!("chunk {i}").into_bytes()).collect();
        assert_eq!(read_all(&s, &blob), whole);
        let mut r = BlobReader::new(s.clone(), blob);
        r.seek(SeekFrom::Start(whole.len() as u64 - 5)).unwrap();
        let mut tail = String::new();
        r.read_to_string(&mut tail).unwrap();
        assert_eq!(tail.as_bytes(), &whole[whole.len() - 5..]);
    }

    #[test]
    fn a_stalled_read_holds_back_the_reads_after_it_rather_than_their_chunks_in_memory() {
        use crate::engine::backend::faults::Faulty;
        let b = Arc::new(Faulty::new(MemoryBackend::new()));
        let keys = Arc::new(Keys::new(MasterKey::generate()));
        let s = Arc::new(Store::new(b.clone(), keys.clone(), StoreOptions::default()));
        let bytes = data(64 << 20, 9);
        let blob = put(&s, &bytes, 1 << 20);
        s.flush().unwrap();
        let chunks: Vec<ChunkRef> = ChunkWalk::new(&s, &blob, 0, u64::MAX).map(|c| c.unwrap().1).collect();
        let threads = 2;
        assert!(chunks.len() > reader::window(threads) + 8, "{} chunks", chunks.len());
        // A store that has nothing in memory reads every chunk from the backend; the first read stalls.
        let fresh = Arc::new(Store::new(b.clone(), keys, StoreOptions::default()));
        let first = &chunks[0].ptr;
        b.hold_range_read(&crate::engine::object::object_name(&first.object), first.offset.into());
        let before = b.range_reads();
        std::thread::scope(|sc| {
            let copy = sc.spawn(|| {
                let mut out = Vec::new();
                copy_range(&fresh, &blob, 0, u64::MAX, threads, &mut out).map(|_| out)
            });
            // Time for the readers to read every other chunk, if nothing stopped them.
            std::thread::sleep(std::time::Duration::from_millis(800));
            let started = b.range_reads() - before;
            b.release();
            assert_eq!(copy.join().unwrap().unwrap(), bytes);
            assert!(started >= threads as u64, "the readers went on past the stalled read: {started}");
            assert!(started as usize <= reader::window(threads), "{started} reads started behind a stalled one");
        });
    }

    #[test]
    fn tampered_chunks_are_integrity_errors() {
        let (b, s) = store();
        let bytes = data(3 << 20, 3);
        let blob = put(&s, &bytes, 1 << 16);
        s.flush().unwrap();
        let name = b.list("objects/").unwrap()[0].name.clone();
        let fresh = |s: &Arc<Store>| Arc::new(Store::new(b.clone(), s.keys().clone(), StoreOptions::default()));
        for flip in [0usize, 100, 50_000] {
            b.tamper(&name, |v| v[flip] ^= 0x40);
            let mut out = Vec::new();
            let e = copy_range(&fresh(&s), &blob, 0, u64::MAX, 2, &mut out).unwrap_err();
            assert!(matches!(e, Error::Integrity { .. }), "{e:?}");
            b.tamper(&name, |v| v[flip] ^= 0x40);
        }
        b.tamper(&name, |v| v.truncate(1000));
        let e = copy_range(&fresh(&s), &blob, 0, u64::MAX, 2, &mut Vec::new()).unwrap_err();
        assert!(matches!(e, Error::Integrity { .. }), "{e:?}");
    }
}
